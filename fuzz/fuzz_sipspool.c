/* SPDX-License-Identifier: ISC */
/* Fuzzes the registrar's outage spool reader (sip/spool.h): any bytes are read without a
 * fault; what it reads re-encodes to exactly the bytes it came from, and the valid prefix
 * parses to the same records again. */
#include "sip/spool.h"

#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

struct check {
	const uint8_t *buf;
	size_t off; /* where the next record starts */
};

static int reencode(void *ud, const struct sip_spool_rec *r)
{
	struct check *c = ud;
	uint8_t out[SIP_SPOOL_REC_MAX + 8];
	size_t n = sip_spool_encode(r, out, sizeof out);
	if (!n || memcmp(out, c->buf + c->off, n) != 0)
		__builtin_trap();
	c->off += n;
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size > 65536)
		return 0;
	struct check c = {data, SIP_SPOOL_MAGIC_LEN};
	size_t valid, again;
	long n = sip_spool_parse(data, size, reencode, &c, &valid);
	if (n < 0)
		return 0;
	if (valid != c.off || valid > size)
		__builtin_trap();
	if (sip_spool_parse(data, valid, NULL, NULL, &again) != n || again != valid)
		__builtin_trap();
	return 0;
}
