/* SPDX-License-Identifier: ISC */
/* JSON text by hand (jsonw.h). */
#include "core/jsonw.h"

#include <string.h>

/* Length of the valid UTF-8 sequence at p (of at most n bytes) whose lead byte is >= 0x80,
 * or 0 when it is not one (overlong forms, surrogates and code points above U+10FFFF are
 * not, RFC 3629 §4). */
static size_t utf8_len(const unsigned char *p, size_t n)
{
	unsigned c = p[0];
	size_t len = c >= 0xc2 && c <= 0xdf   ? 2
	             : c >= 0xe0 && c <= 0xef ? 3
	             : c >= 0xf0 && c <= 0xf4 ? 4
	                                      : 0;
	if (!len || len > n)
		return 0;
	for (size_t i = 1; i < len; i++)
		if ((p[i] & 0xc0) != 0x80)
			return 0;
	if ((c == 0xe0 && p[1] < 0xa0) || (c == 0xed && p[1] > 0x9f) ||
	    (c == 0xf0 && p[1] < 0x90) || (c == 0xf4 && p[1] > 0x8f))
		return 0;
	return len;
}

void jsonw_strn(struct tg_sbuf *b, const char *s, size_t n)
{
	static const char hex[] = "0123456789abcdef";
	const unsigned char *p = (const unsigned char *)s;
	tg_sbuf_putn(b, "\"", 1);
	size_t run = 0; /* the start of the bytes not written yet */
	for (size_t i = 0; i < n;) {
		unsigned c = p[i];
		if (c >= 0x80) {
			size_t l = utf8_len(p + i, n - i);
			if (!l) {
				b->bad = 1;
				return;
			}
			i += l;
			continue;
		}
		if (c >= 0x20 && c != '"' && c != '\\') {
			i++;
			continue;
		}
		tg_sbuf_putn(b, s + run, i - run);
		char esc[6] = {'\\', (char)c, 0, 0, 0, 0};
		size_t el = 2;
		if (c < 0x20) {
			memcpy(esc, "\\u00", 4);
			esc[4] = hex[c >> 4];
			esc[5] = hex[c & 15];
			el = 6;
		}
		tg_sbuf_putn(b, esc, el);
		run = ++i;
	}
	tg_sbuf_putn(b, s + run, n - run);
	tg_sbuf_putn(b, "\"", 1);
}

void jsonw_str(struct tg_sbuf *b, const char *s)
{
	jsonw_strn(b, s, strlen(s));
}

static void member_name(struct tg_sbuf *b, const char *name)
{
	tg_sbuf_putn(b, ",\"", 2);
	tg_sbuf_put(b, name);
	tg_sbuf_putn(b, "\":", 2);
}

void jsonw_member_str(struct tg_sbuf *b, const char *name, const char *value)
{
	member_name(b, name);
	jsonw_str(b, value);
}

void jsonw_member_int(struct tg_sbuf *b, const char *name, int64_t v)
{
	char d[24], *end = d + sizeof d;
	char *p = tg_utoa_end(end, v < 0 ? 0ULL - (unsigned long long)v : (unsigned long long)v);
	if (v < 0)
		*--p = '-';
	member_name(b, name);
	tg_sbuf_putn(b, p, (size_t)(end - p));
}
