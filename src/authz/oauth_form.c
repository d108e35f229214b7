/* SPDX-License-Identifier: ISC */
#include "authz/oauth_form.h"

#include <errno.h>
#include <sodium.h>
#include <string.h>

int oauth_utf8_ok(const char *s, size_t len)
{
	const unsigned char *p = (const unsigned char *)s;
	for (size_t i = 0; i < len;) {
		unsigned c = p[i];
		size_t n;
		unsigned min;
		if (c < 0x80) {
			i++;
			continue;
		} else if ((c & 0xE0) == 0xC0) {
			n = 1, min = 0x80, c &= 0x1F;
		} else if ((c & 0xF0) == 0xE0) {
			n = 2, min = 0x800, c &= 0x0F;
		} else if ((c & 0xF8) == 0xF0) {
			n = 3, min = 0x10000, c &= 0x07;
		} else {
			return 0;
		}
		if (len - i <= n)
			return 0;
		for (size_t k = 1; k <= n; k++) {
			if ((p[i + k] & 0xC0) != 0x80)
				return 0;
			c = c << 6 | (p[i + k] & 0x3F);
		}
		if (c < min || c > 0x10FFFF || (c >= 0xD800 && c <= 0xDFFF))
			return 0;
		i += n + 1;
	}
	return 1;
}

int oauth_form_parse(const char *body, size_t len, struct http_form *f, const char **why)
{
	memset(f, 0, sizeof *f);
	*why = NULL;
	if (len > OAUTH_FORM_MAX) {
		*why = "the request body is too large";
		return -E2BIG;
	}
	int rc = http_form_parse(body, len, OAUTH_FORM_FIELDS, f);
	if (rc == -E2BIG) {
		*why = "too many parameters";
		return rc;
	}
	if (rc != 0) {
		*why = "the body is not application/x-www-form-urlencoded";
		return rc;
	}
	for (size_t i = 0; i < f->n; i++) {
		const struct http_form_field *x = &f->fields[i];
		if (!x->name[0])
			*why = "a parameter without a name";
		else if (x->value_len > OAUTH_VALUE_MAX)
			*why = "a parameter is too long";
		else if (!oauth_utf8_ok(x->name, strlen(x->name)) ||
		         !oauth_utf8_ok(x->value, x->value_len))
			*why = "a parameter is not UTF-8";
		else
			for (size_t k = 0; k < i && !*why; k++)
				if (strcmp(f->fields[k].name, x->name) == 0)
					*why = "a parameter is repeated";
		if (*why) {
			int e = x->value_len > OAUTH_VALUE_MAX ? -E2BIG : -EINVAL;
			http_form_free(f);
			return e;
		}
	}
	return 0;
}

int oauth_basic_parse(const char *header, char id[OAUTH_CLIENT_ID_MAX + 1],
                      char secret[OAUTH_SECRET_MAX + 1], size_t *secret_len)
{
	id[0] = secret[0] = '\0';
	*secret_len = 0;
	/* The scheme is case-insensitive (RFC 9110 §11.1); one space after it. */
	if (strncasecmp(header, "Basic ", 6) != 0)
		return strchr(header, ' ') || header[0] ? -ENOENT : -EINVAL;
	const char *b = header + 6;
	size_t blen = strlen(b);
	/* Base64 of "id:secret", both escaped (at most 3 bytes each per character). */
	enum { RAW_MAX = 3 * (OAUTH_CLIENT_ID_MAX + OAUTH_SECRET_MAX) + 1 };
	unsigned char raw[RAW_MAX + 1];
	size_t rlen = 0;
	if (blen == 0 || blen > (RAW_MAX + 2) / 3 * 4 ||
	    sodium_base642bin(raw, RAW_MAX, b, blen, NULL, &rlen, NULL,
	                      sodium_base64_VARIANT_ORIGINAL) != 0)
		return -EINVAL;
	const unsigned char *colon = memchr(raw, ':', rlen);
	int rc = -EINVAL;
	if (colon && colon > raw) {
		size_t il = (size_t)(colon - raw), sl = rlen - il - 1;
		long a = http_percent_decode((const char *)raw, il, 1, id, OAUTH_CLIENT_ID_MAX + 1);
		long s = http_percent_decode((const char *)colon + 1, sl, 1, secret,
		                             OAUTH_SECRET_MAX + 1);
		if (a > 0 && s >= 0 && oauth_utf8_ok(id, (size_t)a)) {
			*secret_len = (size_t)s;
			rc = 0;
		}
	}
	sodium_memzero(raw, sizeof raw);
	if (rc != 0) {
		sodium_memzero(secret, OAUTH_SECRET_MAX + 1);
		id[0] = '\0';
	}
	return rc;
}
