/* SPDX-License-Identifier: ISC */
/* Fuzzes the OAuth endpoints' input (authz/oauth_form.h): the input as a form body, and as
 * an Authorization header value for Basic client authentication. What is accepted must
 * hold what the endpoints rely on: no repeated or empty parameter name, every value UTF-8
 * without NUL and within its bound; a Basic id that is non-empty UTF-8. */
#include "authz/oauth_form.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size > 65536)
		return 0;
	struct http_form f;
	const char *why = NULL;
	if (oauth_form_parse((const char *)data, size, &f, &why) == 0) {
		for (size_t i = 0; i < f.n; i++) {
			const struct http_form_field *x = &f.fields[i];
			if (!x->name[0] || x->value_len > OAUTH_VALUE_MAX ||
			    strlen(x->value) != x->value_len || !oauth_utf8_ok(x->value, x->value_len))
				abort();
			for (size_t k = 0; k < i; k++)
				if (strcmp(f.fields[k].name, x->name) == 0)
					abort();
		}
		http_form_free(&f);
	} else if (!why || f.n || f.mem) {
		abort();
	}
	char *h = malloc(size + 1);
	if (!h)
		return 0;
	memcpy(h, data, size);
	h[size] = '\0';
	char id[OAUTH_CLIENT_ID_MAX + 1], secret[OAUTH_SECRET_MAX + 1];
	size_t n = 0;
	if (oauth_basic_parse(h, id, secret, &n) == 0 &&
	    (!id[0] || !oauth_utf8_ok(id, strlen(id)) || n > OAUTH_SECRET_MAX))
		abort();
	free(h);
	return 0;
}
