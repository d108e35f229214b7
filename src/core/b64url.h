/* SPDX-License-Identifier: ISC */
/*
 * core/b64url: base64url without padding (RFC 4648 §5, as RFC 7515 §2 uses it), strict and
 * by table, for PUBLIC data only: JWS parts, key ids, jtis (authz/jws.c) and SIP digest
 * nonces (sip/digest.c). One table look-up a character instead of libsodium's
 * constant-time arithmetic (~60 instructions a character; a refresh grant's ~1,100
 * characters were ~8 % of the event loop's instructions, a nonce's decode ~3,400 per
 * REGISTER). Secrets (refresh tokens, client secrets) keep libsodium's constant-time
 * encoders: the time of a table look-up depends on the data.
 *
 * Strict decoding: '=', '+', '/', whitespace or any byte outside the URL-safe alphabet, a
 * length of 1 mod 4, and non-zero bits past the last whole byte are refused, so each value
 * has exactly one encoding (a token hashed for a cache cannot have twins). Unit test
 * test_authz_jws compares both directions with libsodium's.
 *
 * Pure functions; the caller owns every buffer. Thread-safe.
 */
#ifndef TG_B64URL_H
#define TG_B64URL_H
#include <stddef.h>

/* Characters of the encoding of n bytes (no padding, no NUL). */
#define TG_B64URL_LEN(n) (((n)*4 + 2) / 3)

/* Writes the encoding of in[0..n) and a NUL into out (cap bytes): the encoding's length,
 * or -1 when it and the NUL do not fit. */
long tg_b64url_encode(const unsigned char *in, size_t n, char *out, size_t cap);

/* The value (0-63) of character c in the URL-safe alphabet, -1 outside it. */
int tg_b64url_value(unsigned char c);

/* Decodes in[0..n) into out (cap bytes): the decoded length, or -1 for anything but the
 * canonical encoding (above) or when it does not fit. */
long tg_b64url_decode(const char *in, size_t n, unsigned char *out, size_t cap);

#endif
