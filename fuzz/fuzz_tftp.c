/* SPDX-License-Identifier: ISC */
/* Fuzzes the TFTP request parser, the option negotiation on what it parsed (IPv4 and
 * IPv6 limits), the OACK built from the grant, and the transfer-socket packet parser. */
#include "provision/tftp_proto.h"

#include <stddef.h>
#include <stdint.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size > 70000)
		return 0;
	struct tftp_packet p;
	if (tftp_parse_packet(data, size, &p) == 0 && p.op == TFTP_ERROR && !p.msg)
		__builtin_trap();
	struct tftp_request rq;
	struct tftp_verdict v;
	if (tftp_parse_request(data, size, &rq, &v) != 0) {
		if (v.code >= 0 && !v.msg)
			__builtin_trap();
		return 0;
	}
	if (size > TFTP_REQUEST_MAX || rq.nopt > TFTP_OPTIONS_MAX || !rq.filename_len ||
	    (const uint8_t *)rq.filename + rq.filename_len >= data + size)
		__builtin_trap();
	static const struct tftp_limits lims[] = {{1500, 0, 64}, {576, 1, 1}, {65535, 0, 100000}};
	for (size_t i = 0; i < sizeof lims / sizeof lims[0]; i++) {
		struct tftp_grant g;
		if (tftp_negotiate(&rq, &lims[i], size * 1000, &g, &v) != 0) {
			if (v.code != TFTP_E_OPTNEG || !v.msg)
				__builtin_trap();
			continue;
		}
		if (g.blksize < TFTP_BLKSIZE_MIN ||
		    g.blksize > tftp_blksize_cap(lims[i].mtu, lims[i].ipv6) || g.windowsize < 1 ||
		    g.windowsize > TFTP_WINDOWSIZE_MAX || g.windowsize > lims[i].max_windowsize ||
		    g.timeout_s > 255)
			__builtin_trap();
		unsigned char oack[TFTP_OACK_MAX];
		if (g.acked && tftp_build_oack(oack, sizeof oack, &g) == 0)
			__builtin_trap();
	}
	return 0;
}
