/* SPDX-License-Identifier: ISC */
/*
 * oauth_crypto: the secrets of the OAuth server (issue 18), none of which is stored in
 * clear: client secrets (machine-made, 256 random bits, kept as HMAC-SHA-256 under the
 * server key: RFC 6749 §2.3.1 secrets are high-entropy, so a slow hash would buy nothing
 * and cap throughput), authorization codes, device codes and refresh tokens (256 random
 * bits, kept as SHA-256), a refresh token's successor (HMAC of the used token under the
 * server key, so a retry within the grace window gets the same one again without the
 * store keeping it), PKCE S256 (RFC 7636 §4.6), RFC 8628 user codes and the login page's
 * CSRF token (HMAC of a cookie value). Pure functions (libsodium; SHA-256 through OpenSSL,
 * which uses the CPU's SHA extensions), any thread.
 *
 * The server key is derived from the node's CAPF key file ([pki] dir/capf.key, made on
 * first use) with its own label, so the OAuth values never collide with CAPF's.
 */
#ifndef TG_AUTHZ_OAUTH_CRYPTO_H
#define TG_AUTHZ_OAUTH_CRYPTO_H

#include <stddef.h>

#define OAUTH_KEY_BYTES 32
#define OAUTH_TOKEN_LEN 43    /* base64url of 256 bits, no padding */
#define OAUTH_HASH_HEX 64     /* hex SHA-256 / HMAC-SHA-256 */
#define OAUTH_USER_CODE_LEN 9 /* "WDJB-MJHT" */

/* The server key (see above): 0, or -1 with err set (the key file cannot be read or
 * made). */
int oauth_key_load(const char *pki_dir, unsigned char key[OAUTH_KEY_BYTES], char *err,
                   size_t errlen);

/* 256 random bits, base64url: client secrets, codes, refresh tokens, family ids. */
void oauth_random_token(char out[OAUTH_TOKEN_LEN + 1]);
/* SHA-256 of an opaque token, hex (what the store keeps of codes and tokens). */
void oauth_token_hash(const char *token, size_t len, char hex[OAUTH_HASH_HEX + 1]);
/* HMAC-SHA-256 of a client's secret, bound to its id, hex. */
void oauth_secret_hash(const unsigned char key[OAUTH_KEY_BYTES], const char *clientid,
                       const char *secret, size_t len, char hex[OAUTH_HASH_HEX + 1]);
/* 1 when secret is the client's (stored the hex of oauth_secret_hash); constant time in
 * the secret. */
int oauth_secret_verify(const unsigned char key[OAUTH_KEY_BYTES], const char *clientid,
                        const char *secret, size_t len, const char *stored_hex);
/* The refresh token that replaces a used one: always the same for the same used token. */
void oauth_refresh_successor(const unsigned char key[OAUTH_KEY_BYTES], const char *used, size_t len,
                             char out[OAUTH_TOKEN_LEN + 1]);

/* The jti of the access token issued beside a refresh token (tokenhash: its
 * oauth_token_hash): 128 bits of an HMAC under the server key, base64url (22 characters),
 * so that revoking a family can name the access tokens its tokens came with without the
 * store keeping their jtis (oauth_family_revoke). A retry within the grace window returns
 * the same refresh token, so its access token has the same jti: one grant, revoked
 * together. */
#define OAUTH_JTI_LEN 22
void oauth_access_jti(const unsigned char key[OAUTH_KEY_BYTES], const char *tokenhash,
                      char out[OAUTH_JTI_LEN + 1]);

/* RFC 7636 §4.1: 43..128 characters of [A-Za-z0-9-._~]. */
int oauth_pkce_verifier_ok(const char *v, size_t len);
/* RFC 7636 §4.2: a S256 challenge is 43 base64url characters. */
int oauth_pkce_challenge_ok(const char *c);
/* 1 when BASE64URL(SHA256(verifier)) == challenge (constant time). */
int oauth_pkce_s256_matches(const char *verifier, size_t len, const char *challenge);

/* An RFC 8628 §6.1 user code: 8 characters of BCDFGHJKLMNPQRSTVWXZ (no vowels, so no
 * words) as XXXX-XXXX. */
void oauth_user_code(char out[OAUTH_USER_CODE_LEN + 1]);
/* Canonical form of what a user typed: upper case, '-' and spaces dropped, re-grouped.
 * 0, or -1 when it cannot be a user code. */
int oauth_user_code_normalise(const char *in, char out[OAUTH_USER_CODE_LEN + 1]);

/* The CSRF token for a login form: HMAC of the form's cookie value. */
void oauth_csrf_token(const unsigned char key[OAUTH_KEY_BYTES], const char *cookie,
                      char out[OAUTH_TOKEN_LEN + 1]);
/* 1 when token is the CSRF token of cookie (constant time). */
int oauth_csrf_ok(const unsigned char key[OAUTH_KEY_BYTES], const char *cookie, const char *token);

#endif
