/* SPDX-License-Identifier: ISC */
/*
 * authz/jws: JSON Web Signature in compact serialisation (RFC 7515 §7.1), strictly, for the
 * access tokens of authz/token.h. Pure functions; the crypto is OpenSSL's EVP, never a
 * primitive of our own.
 *
 * Parsing (jws_parse) refuses anything a strict reader should: other than exactly three
 * parts; base64url with padding ('='), the standard alphabet's '+' or '/', a length that
 * cannot be base64 (len % 4 == 1) or non-zero trailing bits (each value has one encoding,
 * so a token hashed for the verified cache cannot have twins); a header or payload that is
 * not one JSON object, or that has a duplicate member (jansson's JSON_REJECT_DUPLICATES:
 * two "alg" or two "sub" would let two readers see two tokens); anything over
 * AUTHZ_TOKEN_MAX bytes.
 *
 * Algorithms (RFC 7518): ES256 (ECDSA P-256 with SHA-256; the signature is r||s, 64 bytes,
 * §3.4), RS256 (RSASSA-PKCS1-v1_5 with SHA-256, §3.3), EdDSA (Ed25519, RFC 8037). No
 * "none", no HS*: jws_alg_parse knows these three names only.
 *
 * Threads: any. Ownership: jws_parse's header and payload belong to the struct (free with
 * jws_parts_free); its signing input points into the caller's token. Errors: -EINVAL
 * (malformed), -EMSGSIZE (too large), -ENOMEM.
 */
#ifndef TG_AUTHZ_JWS_H
#define TG_AUTHZ_JWS_H

#include "core/b64url.h"
#include <jansson.h>
#include <openssl/evp.h>
#include <stddef.h>

enum jws_alg {
	JWS_ALG_UNKNOWN = 0,
	JWS_ES256 = 1,
	JWS_RS256 = 2,
	JWS_EDDSA = 3,
};
/* "ES256", "RS256", "EdDSA"; "?" otherwise. */
const char *jws_alg_name(enum jws_alg a);
/* The algorithm a name gives (exact, case-sensitive as RFC 7515 §4.1.1 says), or
 * JWS_ALG_UNKNOWN for "none", "HS256" and everything else. */
enum jws_alg jws_alg_parse(const char *name);
/* The algorithm a key has (EC P-256: ES256, RSA of at least 2048 bits: RS256, Ed25519:
 * EdDSA), or JWS_ALG_UNKNOWN. */
enum jws_alg jws_alg_of_key(EVP_PKEY *k);

/* base64url without padding (RFC 7515 §2): core/b64url.h (strict, as described above). */
#define JWS_B64_LEN(n) TG_B64URL_LEN(n)

/* The protected header of an access token (RFC 9068 §2.1: {"alg":..,"typ":"at+jwt",
 * "kid":..}) for key kid of algorithm alg, base64url into out (cap bytes with the NUL): its
 * length, or -1 (does not fit, kid not base64url, an unknown alg). The one spelling: the
 * engine makes tokens with it (authz_token_prepare) and the signer knows them by it. */
#define JWS_AT_HEADER_B64_MAX 160
long jws_at_header_b64(enum jws_alg alg, const char *kid, char *out, size_t cap);

/* The largest signature (RSA 4096: 512 bytes). */
#define JWS_SIG_MAX 512

struct jws_parts {
	const char *signing_input; /* "header.payload", in the caller's token */
	size_t signing_input_len;
	json_t *header, *payload; /* objects */
	unsigned char sig[JWS_SIG_MAX];
	size_t siglen; /* 0: the third part was empty */
};
/* Splits and decodes a compact JWS (len bytes, need not be NUL-terminated). 0, or -EINVAL /
 * -EMSGSIZE (max: the largest token accepted, e.g. AUTHZ_TOKEN_MAX). */
int jws_parse(const char *tok, size_t len, size_t max, struct jws_parts *out);
void jws_parts_free(struct jws_parts *p);

/* One base64url part (n bytes, at most max) decoded as a JSON object, duplicate members
 * refused: the object (the caller's), or NULL. */
json_t *jws_json_part(const char *p, size_t n, size_t max);

/* The compact serialisation of an object as a JWS part (base64url of its JSON, members in
 * the order given, no whitespace): malloc'ed NUL-terminated text, NULL on failure. */
char *jws_b64_json(const json_t *obj);

/* ECDSA P-256 signatures between JWS's r||s (64 bytes) and DER (what OpenSSL makes and
 * reads). raw_to_der refuses r or s of zero or at least the group order n (RFC 7518 §3.4,
 * and the "psychic signature" class of bugs: r = s = 0 must never reach a verifier): -EINVAL.
 * der_to_raw: 0 or -EINVAL. */
#define JWS_ES256_SIG_LEN 64
int jws_ecdsa_raw_to_der(const unsigned char raw[JWS_ES256_SIG_LEN], unsigned char *der, size_t cap,
                         size_t *derlen);
int jws_ecdsa_der_to_raw(const unsigned char *der, size_t n, unsigned char raw[JWS_ES256_SIG_LEN]);

/* Verifies sig over input with key k under algorithm a (which the caller pinned to the
 * key). Returns 1 when it verifies, 0 otherwise (a malformed signature included). */
int jws_verify(EVP_PKEY *k, enum jws_alg a, const unsigned char *input, size_t n,
               const unsigned char *sig, size_t siglen);

/* Signs input with the private key k under a: the JWS signature (r||s for ES256) in sig (cap
 * bytes, at least JWS_SIG_MAX). 0 with *siglen, or -EINVAL / -EIO. For the signer process
 * and tests: the network engine holds no private token key. */
int jws_sign(EVP_PKEY *k, enum jws_alg a, const unsigned char *input, size_t n, unsigned char *sig,
             size_t cap, size_t *siglen);

#endif
