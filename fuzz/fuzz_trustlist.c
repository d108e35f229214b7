/* SPDX-License-Identifier: ISC */
/* Fuzzes the client's trust-list reader (ca/trustlist.h): parse, find the signer, check
 * the signature with the certificate found in the list, decide against an older list.
 * The first half of the input is also taken as the held list, so both roles are hostile. */
#include "ca/trustlist.h"

#include <stddef.h>
#include <stdint.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct tl_list l, prev;
	struct tl_header h;
	if (tl_parse_header(data, size, &h) == 0 && (h.length > size || h.sig_off >= h.length))
		__builtin_trap();
	struct tl_trust t = {0};
	if (tl_parse(data, size / 2, &prev) == 0) {
		if (prev.n == 0 || prev.n > TL_RECORDS_MAX)
			__builtin_trap();
		t.prev = &prev;
	}
	size_t at = 0;
	enum tl_verdict v = tl_verify(data, size, &t, &l, &at);
	if (v == TL_OK && (at >= l.n || l.rec[at].role != TL_ROLE_SAST))
		__builtin_trap();
	(void)tl_verdict_str(v);
	return 0;
}
