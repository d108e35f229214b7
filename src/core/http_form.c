/* SPDX-License-Identifier: ISC */
#include "core/http_int.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

static int hexval(unsigned char ch)
{
	if (ch >= '0' && ch <= '9')
		return ch - '0';
	if (ch >= 'a' && ch <= 'f')
		return ch - 'a' + 10;
	if (ch >= 'A' && ch <= 'F')
		return ch - 'A' + 10;
	return -1;
}

long http_percent_decode(const char *in, size_t len, int plus, char *out, size_t cap)
{
	size_t o = 0;
	if (cap == 0)
		return -1;
	for (size_t i = 0; i < len; i++) {
		unsigned char ch = (unsigned char)in[i];
		if (ch == '%') {
			if (len - i < 3)
				return -1;
			int hi = hexval((unsigned char)in[i + 1]),
			    lo = hexval((unsigned char)in[i + 2]);
			if (hi < 0 || lo < 0)
				return -1;
			ch = (unsigned char)(hi << 4 | lo);
			i += 2;
		} else if (ch == '+' && plus) {
			ch = ' ';
		}
		if (ch == '\0' || o + 1 >= cap)
			return -1;
		out[o++] = (char)ch;
	}
	out[o] = '\0';
	return (long)o;
}

int http_form_parse(const char *s, size_t len, size_t max_fields, struct http_form *f)
{
	memset(f, 0, sizeof *f);
	size_t n = 0;
	for (size_t i = 0; i < len;) {
		const char *amp = memchr(s + i, '&', len - i);
		size_t end = amp ? (size_t)(amp - s) : len;
		n += end > i;
		i = end + 1;
	}
	if (n > max_fields)
		return -E2BIG;
	if (n == 0)
		return 0;
	/* The fields, then every decoded string (never longer than its source) with its
	 * NUL: one allocation. */
	size_t strbytes = len + 2 * n;
	char *mem = malloc(n * sizeof(struct http_form_field) + strbytes);
	if (!mem)
		return -ENOMEM;
	struct http_form_field *fields = (struct http_form_field *)(void *)mem;
	char *str = mem + n * sizeof(struct http_form_field);
	size_t used = 0, k = 0;
	for (size_t i = 0; i < len;) {
		const char *amp = memchr(s + i, '&', len - i);
		size_t end = amp ? (size_t)(amp - s) : len;
		if (end > i) {
			const char *eq = memchr(s + i, '=', end - i);
			size_t nend = eq ? (size_t)(eq - s) : end;
			size_t vstart = eq ? nend + 1 : end;
			long nl =
			    http_percent_decode(s + i, nend - i, 1, str + used, strbytes - used);
			if (nl < 0)
				goto bad;
			fields[k].name = str + used;
			used += (size_t)nl + 1;
			long vl = http_percent_decode(s + vstart, end - vstart, 1, str + used,
			                              strbytes - used);
			if (vl < 0)
				goto bad;
			fields[k].value = str + used;
			fields[k].value_len = (size_t)vl;
			used += (size_t)vl + 1;
			k++;
		}
		i = end + 1;
	}
	f->fields = fields;
	f->n = k;
	f->mem = mem;
	return 0;
bad:
	free(mem);
	return -EINVAL;
}

const char *http_form_get(const struct http_form *f, const char *name)
{
	for (size_t i = 0; i < f->n; i++)
		if (strcmp(f->fields[i].name, name) == 0)
			return f->fields[i].value;
	return NULL;
}

size_t http_form_count(const struct http_form *f, const char *name)
{
	size_t n = 0;
	for (size_t i = 0; i < f->n; i++)
		n += strcmp(f->fields[i].name, name) == 0;
	return n;
}

void http_form_free(struct http_form *f)
{
	free(f->mem);
	memset(f, 0, sizeof *f);
}
