/* SPDX-License-Identifier: ISC */
#include "core/b64url.h"

#include <stdint.h>

static const char b64url_chars[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

long tg_b64url_encode(const unsigned char *in, size_t n, char *out, size_t cap)
{
	size_t need = TG_B64URL_LEN(n);
	if (need + 1 > cap)
		return -1;
	size_t o = 0, i = 0;
	for (; i + 3 <= n; i += 3) {
		uint32_t v = (uint32_t)in[i] << 16 | (uint32_t)in[i + 1] << 8 | in[i + 2];
		out[o++] = b64url_chars[v >> 18];
		out[o++] = b64url_chars[(v >> 12) & 63];
		out[o++] = b64url_chars[(v >> 6) & 63];
		out[o++] = b64url_chars[v & 63];
	}
	if (n - i == 1) {
		out[o++] = b64url_chars[in[i] >> 2];
		out[o++] = b64url_chars[(in[i] & 3) << 4];
	} else if (n - i == 2) {
		uint32_t v = (uint32_t)in[i] << 8 | in[i + 1];
		out[o++] = b64url_chars[v >> 10];
		out[o++] = b64url_chars[(v >> 4) & 63];
		out[o++] = b64url_chars[(v & 15) << 2];
	}
	out[o] = '\0';
	return (long)need;
}

/* Each byte's value plus one (0: outside the alphabet), so one look-up both checks and
 * decodes a character. */
#define V(c, v) [c] = (v) + 1
static const unsigned char b64url_val[256] = {
    V('A', 0),  V('B', 1),  V('C', 2),  V('D', 3),  V('E', 4),  V('F', 5),  V('G', 6),  V('H', 7),
    V('I', 8),  V('J', 9),  V('K', 10), V('L', 11), V('M', 12), V('N', 13), V('O', 14), V('P', 15),
    V('Q', 16), V('R', 17), V('S', 18), V('T', 19), V('U', 20), V('V', 21), V('W', 22), V('X', 23),
    V('Y', 24), V('Z', 25), V('a', 26), V('b', 27), V('c', 28), V('d', 29), V('e', 30), V('f', 31),
    V('g', 32), V('h', 33), V('i', 34), V('j', 35), V('k', 36), V('l', 37), V('m', 38), V('n', 39),
    V('o', 40), V('p', 41), V('q', 42), V('r', 43), V('s', 44), V('t', 45), V('u', 46), V('v', 47),
    V('w', 48), V('x', 49), V('y', 50), V('z', 51), V('0', 52), V('1', 53), V('2', 54), V('3', 55),
    V('4', 56), V('5', 57), V('6', 58), V('7', 59), V('8', 60), V('9', 61), V('-', 62), V('_', 63),
};
#undef V

int tg_b64url_value(unsigned char c)
{
	return (int)b64url_val[c] - 1;
}

/* Four characters at a time: one look-up a character and one test of the four values'
 * OR (issue 22: a 43-character nonce cost ~1,080 instructions with a branch per
 * character). */
long tg_b64url_decode(const char *in, size_t n, unsigned char *out, size_t cap)
{
	if (n % 4 == 1)
		return -1;
	size_t len = n / 4 * 3 + (n % 4 ? n % 4 - 1 : 0);
	if (len > cap)
		return -1;
	const unsigned char *u = (const unsigned char *)in;
	size_t i = 0, o = 0;
	for (; i + 4 <= n; i += 4, o += 3) {
		/* value + 1 - 1 wraps to all ones for a byte outside the alphabet */
		unsigned a = b64url_val[u[i]] - 1u, b = b64url_val[u[i + 1]] - 1u,
		         c = b64url_val[u[i + 2]] - 1u, d = b64url_val[u[i + 3]] - 1u;
		if ((a | b | c | d) > 63u)
			return -1;
		uint32_t v = a << 18 | b << 12 | c << 6 | d;
		out[o] = (unsigned char)(v >> 16);
		out[o + 1] = (unsigned char)(v >> 8);
		out[o + 2] = (unsigned char)v;
	}
	size_t rest = n - i; /* 0, 2 or 3 */
	if (rest) {
		uint32_t v = 0;
		for (size_t k = 0; k < rest; k++) {
			unsigned x = b64url_val[u[i + k]];
			if (!x)
				return -1;
			v = v << 6 | (x - 1);
		}
		/* 2 characters: 12 bits, 1 byte and 4 spare; 3: 18 bits, 2 bytes and 2 spare */
		unsigned spare = rest == 2 ? 4 : 2;
		if (v & ((1u << spare) - 1))
			return -1; /* bits past the last byte must be zero */
		v >>= spare;
		if (rest == 3)
			out[o++] = (unsigned char)(v >> 8);
		out[o++] = (unsigned char)v;
	}
	return (long)o;
}
