/* SPDX-License-Identifier: ISC */
/* Fuzzes the SIP Bearer credentials parser (RFC 8898 / RFC 6750 and Jabber's form). */
#include "sip/bearer.h"

#include <stddef.h>
#include <stdint.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size > 8192)
		return 0;
	char v[8193];
	memcpy(v, data, size);
	v[size] = '\0';
	struct sip_bearer_creds c;
	char err[128];
	err[0] = '\0';
	if (sip_bearer_parse(v, &c, err, sizeof err) == 0) {
		/* The token lies inside the value, is non-empty, bounded, and has no quote,
		 * comma, space or NUL in it. */
		if (!c.len || c.len > SIP_BEARER_TOKEN_MAX || c.token < v ||
		    c.token + c.len > v + size)
			__builtin_trap();
		for (size_t i = 0; i < c.len; i++)
			if (c.token[i] == '"' || c.token[i] == ',' || c.token[i] == ' ' ||
			    c.token[i] == '\0')
				__builtin_trap();
	} else if (!err[0]) {
		__builtin_trap();
	}
	return 0;
}
