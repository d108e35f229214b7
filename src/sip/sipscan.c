/* SPDX-License-Identifier: ISC */
#include "sip/sipscan.h"

#include <stdint.h>
#include <string.h>

/* A byte the scan stops at (sipscan.h), counted as such by the SIMD tests below. */
static int stop_byte(unsigned char c)
{
	return (c < 0x20 && c != '\t') || c >= 0x7f || c == '\\';
}

/* The scalar end of both versions: byte by byte from p. */
static const char *tail(const char *p, const char *e, unsigned *quotes)
{
	for (; p < e && !stop_byte((unsigned char)*p); p++)
		*quotes += *p == '"';
	return p;
}

#ifdef __SSE2__
#include <emmintrin.h>

const char sip_scan_impl[] = "sse2";

const char *sip_scan_line(const char *p, const char *e, unsigned *odd)
{
	const __m128i space = _mm_set1_epi8(0x20), tab = _mm_set1_epi8('\t'),
	              del = _mm_set1_epi8(0x7f), bslash = _mm_set1_epi8('\\'),
	              quote = _mm_set1_epi8('"');
	/* the quote masks XORed together: their parity is the count's */
	unsigned acc = 0;
	for (; e - p >= 16; p += 16) {
		__m128i b = _mm_loadu_si128((const __m128i *)(const void *)p);
		/* signed: below 0x20 holds the controls and every byte from 0x80 */
		__m128i stop = _mm_andnot_si128(_mm_cmpeq_epi8(b, tab), _mm_cmplt_epi8(b, space));
		stop = _mm_or_si128(
		    stop, _mm_or_si128(_mm_cmpeq_epi8(b, del), _mm_cmpeq_epi8(b, bslash)));
		unsigned m = (unsigned)_mm_movemask_epi8(stop),
		         q = (unsigned)_mm_movemask_epi8(_mm_cmpeq_epi8(b, quote));
		if (m) {
			unsigned k = (unsigned)__builtin_ctz(m);
			acc ^= q & ((1u << k) - 1);
			*odd = acc ? (unsigned)__builtin_parity(acc) : 0; /* most lines: none */
			return p + k;
		}
		acc ^= q;
	}
	unsigned quotes = 0;
	p = tail(p, e, &quotes);
	*odd = ((acc ? (unsigned)__builtin_parity(acc) : 0) ^ quotes) & 1;
	return p;
}

#else

const char sip_scan_impl[] = "swar";

/* SWAR over 8 bytes (loaded by memcpy: no alignment needed). maybe_stop: Hacker's
 * Delight's "has a byte less than n" and "has a zero byte" tests for a control character
 * (a tab too), '\\', DEL or a non-ASCII byte; it may flag a word wrongly but never misses
 * one, and a flagged word is looked at byte by byte. The quotes are counted exactly:
 * 0x80 in each byte that is '"'. */
#define ONES 0x0101010101010101ULL
#define HIGHS 0x8080808080808080ULL
#define LOWS 0x7f7f7f7f7f7f7f7fULL
static int maybe_stop(uint64_t w)
{
	uint64_t b = w ^ (ONES * '\\'), del = w ^ (ONES * 0x7f);
	return ((((w - ONES * 0x20) & ~w) | ((b - ONES) & ~b) | ((del - ONES) & ~del) | w) &
	        HIGHS) != 0;
}

static unsigned word_quotes(uint64_t w)
{
	uint64_t q = w ^ (ONES * '"');
	uint64_t z = ~(((q & LOWS) + LOWS) | q | LOWS);
	/* z has 0x80 in the quotes' bytes only: moved to 0x01 and summed into the top byte
	 * by one multiply (at most 8: no carry between bytes) */
	return (unsigned)(((z >> 7) * ONES) >> 56);
}

const char *sip_scan_line(const char *p, const char *e, unsigned *odd)
{
	unsigned quotes = 0;
	for (; e - p >= 8; p += 8) {
		uint64_t w;
		memcpy(&w, p, 8);
		if (!maybe_stop(w)) {
			quotes += word_quotes(w);
			continue;
		}
		const char *s = tail(p, p + 8, &quotes); /* counts the word's quotes */
		if (s < p + 8) {
			*odd = quotes & 1;
			return s;
		}
	}
	p = tail(p, e, &quotes);
	*odd = quotes & 1;
	return p;
}

#endif
