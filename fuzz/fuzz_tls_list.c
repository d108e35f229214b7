/* SPDX-License-Identifier: ISC */
/* Fuzzes the administrator's cipher-suite and protocol list parsers (src/tls/suites.h), the
 * error messages they give and the OpenSSL strings built from what they accept. */
#include "tls/suites.h"

#include <stddef.h>
#include <stdint.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_error(const struct tls_list_error *e)
{
	char msg[512];
	if (e->code == TLS_LIST_OK || e->item < 0 || strlen(e->text) >= sizeof e->text)
		__builtin_trap();
	if (tls_list_error_format(e, msg, sizeof msg) <= 0)
		__builtin_trap();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size > TLS_LIST_TEXT_MAX + 16)
		return 0;
	char text[TLS_LIST_TEXT_MAX + 17];
	memcpy(text, data, size);
	text[size] = '\0';

	struct tls_suite_list l;
	struct tls_list_error e;
	if (tls_suites_parse(text, &l, &e) == 0) {
		if (l.n == 0 || l.n > TLS_SUITES_MAX)
			__builtin_trap();
		for (size_t i = 0; i < l.n; i++) {
			if (tls_iana_by_code(l.s[i]->code) != l.s[i])
				__builtin_trap();
			for (size_t k = 0; k < i; k++)
				if (l.s[k] == l.s[i])
					__builtin_trap();
		}
		struct tls_openssl_strings o;
		int used = tls_suites_build(&l, &o);
		if (used < 0 || (size_t)used + o.nskipped != l.n)
			__builtin_trap();
	} else {
		check_error(&e);
	}

	unsigned mask;
	if (tls_protocols_parse(text, &mask, &e) == 0) {
		if (mask == 0 || (mask & ~(TLS_PROTO_TLS12 | TLS_PROTO_TLS13)) != 0)
			__builtin_trap();
	} else {
		check_error(&e);
	}
	return 0;
}
