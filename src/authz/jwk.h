/* SPDX-License-Identifier: ISC */
/*
 * authz/jwk: public token keys as JSON Web Keys (RFC 7517 §4, RFC 7518 §6: EC P-256 "x"/"y",
 * RSA "n"/"e"; RFC 8037: OKP Ed25519 "x") and their RFC 7638 thumbprints, which are the
 * keys' ids ("kid") everywhere: in the token header, the JWKS, the store (oauthkey) and the
 * signer's file names (pki.dir/tokens/<kid>.key). A thumbprint is the SHA-256 of the key's
 * required members in lexicographic order without whitespace, base64url: 43 characters of
 * [A-Za-z0-9_-], so a kid that is not one (with "../", quotes or SQL) is refused unread.
 *
 * Pure functions, any thread. Ownership: *out JSON objects are the caller's (json_decref).
 * Errors: -EINVAL (a key of another type or curve), -ENOMEM.
 */
#ifndef TG_AUTHZ_JWK_H
#define TG_AUTHZ_JWK_H

#include "authz/jws.h"

#include <jansson.h>
#include <openssl/evp.h>

#define AUTHZ_KID_LEN 43 /* base64url of 32 bytes */

/* The RFC 7638 thumbprint of a public (or private) key into kid (NUL-terminated). */
int authz_jwk_thumbprint(EVP_PKEY *k, char kid[AUTHZ_KID_LEN + 1]);
/* 1 when s (n bytes) has the shape of a thumbprint: AUTHZ_KID_LEN base64url characters. */
int authz_kid_ok(const char *s, size_t n);
/* The public JWK of k with "kid", "alg" (a) and "use": "sig". */
int authz_jwk_of_key(EVP_PKEY *k, enum jws_alg a, const char *kid, json_t **out);

/* SubjectPublicKeyInfo DER <-> EVP_PKEY (the store and the signer's answer carry SPKI). */
EVP_PKEY *authz_spki_parse(const unsigned char *der, size_t n);
int authz_spki_encode(EVP_PKEY *k, unsigned char **der, size_t *n); /* malloc'ed */

#endif
