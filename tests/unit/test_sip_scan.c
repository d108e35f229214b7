/* SPDX-License-Identifier: ISC */
/* The fast parse's line scan (sip/sipscan.h) against a byte-by-byte reading of its
 * contract: every byte value at every position of the first blocks and words, the
 * 8/16-byte boundaries, quotes on either side of the stop, and pseudo-random lines. Built
 * twice: as is (SSE2 on x86-64) and with __SSE2__ undefined (the SWAR version), each
 * checking which version it runs. Each input sits at the end of its own allocation, so
 * an ASan build sees any read past e. */
#include "sip/sipscan.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#ifndef SCAN_EXPECT
#ifdef __SSE2__
#define SCAN_EXPECT "sse2"
#else
#define SCAN_EXPECT "swar"
#endif
#endif

/* The contract, byte by byte. */
static const char *reference(const char *p, const char *e, unsigned *odd)
{
	unsigned q = 0;
	for (; p < e; p++) {
		unsigned char c = (unsigned char)*p;
		if ((c < 0x20 && c != '\t') || c >= 0x7f || c == '\\')
			break;
		q += c == '"';
	}
	*odd = q & 1;
	return p;
}

/* Scans the n bytes of s, copied to the end of an allocation of exactly n bytes, from
 * every start offset up to 3, and compares with the reference. */
static void check(const char *s, size_t n)
{
	char *b = malloc(n ? n : 1);
	assert_non_null(b);
	memcpy(b, s, n);
	for (size_t from = 0; from <= n && from < 4; from++) {
		unsigned oa = 7, ob = 7;
		const char *a = sip_scan_line(b + from, b + n, &oa),
		           *r = reference(b + from, b + n, &ob);
		if (a != r || oa != ob)
			fail_msg("length %zu from %zu: stop %td odd %u, expected %td odd %u", n,
			         from, a - b, oa, r - b, ob);
	}
	free(b);
}

static void test_impl(void **state)
{
	(void)state;
	assert_string_equal(sip_scan_impl, SCAN_EXPECT);
}

/* Every byte value at every position of lines up to 40 bytes (the blocks' and words'
 * edges: 7/8/9, 15/16/17, 31/32/33), with and without a quote before it. */
static void test_every_byte_everywhere(void **state)
{
	(void)state;
	char line[48];
	for (size_t n = 0; n <= 40; n++)
		for (size_t at = 0; at < n; at++)
			for (int c = 0; c < 256; c++)
				for (int quoted = 0; quoted < 2; quoted++) {
					memset(line, 'a', n);
					if (quoted && at > 0)
						line[at / 2] = '"';
					line[at] = (char)c;
					check(line, n);
				}
}

/* Quotes only, in every count and place over the boundaries, then a CRLF or not. */
static void test_quotes(void **state)
{
	(void)state;
	char line[40];
	for (size_t n = 0; n <= 36; n++)
		for (unsigned mask = 0; mask < 64; mask++) {
			memset(line, 'x', n);
			for (size_t i = 0; i < 6; i++)
				if ((mask >> i & 1) && i * 6 + mask % 5 < n)
					line[i * 6 + mask % 5] = '"';
			check(line, n);
			if (n >= 2) {
				line[n - 2] = '\r';
				line[n - 1] = '\n';
				check(line, n);
			}
		}
}

/* Lines made of what header lines hold, with a rare stop byte: 200,000 of them. */
static void test_random(void **state)
{
	(void)state;
	static const char common[] = "abcXYZ019 \t\";:<>@=,.-_~/";
	static const unsigned char rare[] = {'\r', '\n', 0, 1, 0x1f, 0x7f, '\\', 0x80, 0xc3, 0xff};
	uint32_t x = 2463534242u;
	char line[200];
	for (int k = 0; k < 200000; k++) {
		x ^= x << 13, x ^= x >> 17, x ^= x << 5;
		size_t n = x % sizeof line;
		for (size_t i = 0; i < n; i++) {
			x ^= x << 13, x ^= x >> 17, x ^= x << 5;
			line[i] =
			    x % 97 ? common[x % (sizeof common - 1)] : (char)rare[x % sizeof rare];
		}
		check(line, n);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_impl),
	    cmocka_unit_test(test_every_byte_everywhere),
	    cmocka_unit_test(test_quotes),
	    cmocka_unit_test(test_random),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
