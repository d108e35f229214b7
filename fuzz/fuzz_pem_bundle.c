/* SPDX-License-Identifier: ISC */
/* Fuzzes the PEM bundle splitter (trust-anchor uploads) and what is shown of each
 * certificate it returns. */
#include "tls/anchor.h"
#include "tls/pem.h"

#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <time.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct tls_pem_certs c;
	char err[256];
	err[0] = '\0';
	int r = tls_pem_split((const char *)data, size, &c, err, sizeof err);
	if (r != 0) {
		/* Refused: nothing returned, and a message that is plain printable ASCII (it may
		 * name a sanitised label, never other file bytes). */
		if (r != -1 || c.n || c.v || !err[0])
			__builtin_trap();
		for (const char *p = err; *p; p++)
			if (*p < 0x20 || *p > 0x7e)
				__builtin_trap();
		return 0;
	}
	if (c.n < 1 || c.n > TLS_PEM_CERTS_MAX)
		__builtin_trap();
	for (size_t i = 0; i < c.n; i++) {
		struct tls_anchor_info info;
		char alias[TLS_ALIAS_MAX + 1];
		if (!c.v[i] || tls_pem_alias("fuzz", i, alias, sizeof alias) != 0)
			__builtin_trap();
		if (tls_anchor_describe(c.v[i], &info) == 0 &&
		    (strlen(info.owner) >= sizeof info.owner || strlen(info.sha256) != 95))
			__builtin_trap();
		(void)tls_anchor_reason(tls_anchor_check(c.v[i], (time_t)1800000000));
		const char *names[] = {"fuzz.example.com"};
		(void)tls_identity_matches(c.v[i], names, 1);
	}
	tls_pem_certs_free(&c);
	return 0;
}
