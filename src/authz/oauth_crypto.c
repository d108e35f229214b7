/* SPDX-License-Identifier: ISC */
#include "authz/oauth_crypto.h"

#include "ca/capf.h"

#include <ctype.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <pthread.h>
#include <sodium.h>
#include <stdio.h>
#include <string.h>

/* SHA-256 through OpenSSL, fetched once: its implementation uses the CPU's SHA extensions
 * where there are some, a few hundred instructions a block against libsodium's portable
 * ~3,000 (four of these hashes per refresh grant were ~15 % of the event loop's
 * instructions: docs/oauth.md). NULL when it cannot be fetched: libsodium then. */
static EVP_MD *sha256_md;
static pthread_once_t sha256_once = PTHREAD_ONCE_INIT;

static void sha256_fetch(void)
{
	sha256_md = EVP_MD_fetch(NULL, "SHA256", NULL);
}

static const EVP_MD *sha256(void)
{
	pthread_once(&sha256_once, sha256_fetch);
	return sha256_md;
}

#define SHA256_BLOCK 64

/* One SHA-256 over up to four pieces (len 0: none) into out; 0, or -1 (OpenSSL failed). */
static int sha256_parts(const void *const *p, const size_t *len, int n,
                        unsigned char out[crypto_hash_sha256_BYTES])
{
	const EVP_MD *md = sha256();
	EVP_MD_CTX *c = md ? EVP_MD_CTX_new() : NULL;
	int ok = c && EVP_DigestInit_ex2(c, md, NULL) == 1;
	for (int i = 0; ok && i < n; i++)
		ok = len[i] == 0 || EVP_DigestUpdate(c, p[i], len[i]) == 1;
	ok = ok && EVP_DigestFinal_ex(c, out, NULL) == 1;
	EVP_MD_CTX_free(c);
	return ok ? 0 : -1;
}

/* HMAC-SHA-256 over a label and two NUL-separated values: the label keeps each use of the
 * key apart from the others. RFC 2104 over sha256_parts (keys here are 32 bytes: a key
 * longer than a block is hashed first, as the RFC says); libsodium's HMAC when OpenSSL
 * fails, the same function (unit test_oauth compares them). */
static void hmac3(const unsigned char *key, size_t keylen, const char *label, const char *a,
                  const char *b, size_t blen, unsigned char mac[crypto_auth_hmacsha256_BYTES])
{
	unsigned char k[SHA256_BLOCK] = {0}, ipad[SHA256_BLOCK], opad[SHA256_BLOCK];
	unsigned char inner[crypto_hash_sha256_BYTES];
	int rc = 0;
	if (keylen > SHA256_BLOCK) {
		const void *kp[] = {key};
		rc = sha256_parts(kp, &keylen, 1, k);
	} else {
		memcpy(k, key, keylen);
	}
	for (int i = 0; i < SHA256_BLOCK; i++) {
		ipad[i] = k[i] ^ 0x36;
		opad[i] = k[i] ^ 0x5c;
	}
	const void *ip[] = {ipad, label, a, b};
	const size_t il[] = {SHA256_BLOCK, strlen(label) + 1, strlen(a) + 1, blen};
	const void *op[] = {opad, inner};
	const size_t ol[] = {SHA256_BLOCK, sizeof inner};
	if (rc != 0 || sha256_parts(ip, il, 4, inner) != 0 || sha256_parts(op, ol, 2, mac) != 0) {
		crypto_auth_hmacsha256_state h;
		crypto_auth_hmacsha256_init(&h, key, keylen);
		crypto_auth_hmacsha256_update(&h, (const unsigned char *)label, strlen(label) + 1);
		crypto_auth_hmacsha256_update(&h, (const unsigned char *)a, strlen(a) + 1);
		crypto_auth_hmacsha256_update(&h, (const unsigned char *)b, blen);
		crypto_auth_hmacsha256_final(&h, mac);
		sodium_memzero(&h, sizeof h);
	}
	OPENSSL_cleanse(k, sizeof k);
	OPENSSL_cleanse(ipad, sizeof ipad);
	OPENSSL_cleanse(opad, sizeof opad);
	OPENSSL_cleanse(inner, sizeof inner);
}

static void b64url(const unsigned char *bin, size_t len, char *out, size_t cap)
{
	sodium_bin2base64(out, cap, bin, len, sodium_base64_VARIANT_URLSAFE_NO_PADDING);
}

int oauth_key_load(const char *pki_dir, unsigned char key[OAUTH_KEY_BYTES], char *err,
                   size_t errlen)
{
	unsigned char base[CAPF_KEY_BYTES];
	if (capf_key_load(pki_dir, base, err, errlen) != 0)
		return -1;
	hmac3(base, sizeof base, "telgate oauth server key v1", "", "", 0, key);
	sodium_memzero(base, sizeof base);
	return 0;
}

void oauth_random_token(char out[OAUTH_TOKEN_LEN + 1])
{
	unsigned char r[32];
	randombytes_buf(r, sizeof r);
	b64url(r, sizeof r, out, OAUTH_TOKEN_LEN + 1);
	sodium_memzero(r, sizeof r);
}

void oauth_token_hash(const char *token, size_t len, char hex[OAUTH_HASH_HEX + 1])
{
	unsigned char h[crypto_hash_sha256_BYTES];
	const void *p[] = {token};
	if (sha256_parts(p, &len, 1, h) != 0)
		crypto_hash_sha256(h, (const unsigned char *)token, len);
	sodium_bin2hex(hex, OAUTH_HASH_HEX + 1, h, sizeof h);
}

void oauth_secret_hash(const unsigned char key[OAUTH_KEY_BYTES], const char *clientid,
                       const char *secret, size_t len, char hex[OAUTH_HASH_HEX + 1])
{
	unsigned char mac[crypto_auth_hmacsha256_BYTES];
	hmac3(key, OAUTH_KEY_BYTES, "telgate oauth client secret v1", clientid, secret, len, mac);
	sodium_bin2hex(hex, OAUTH_HASH_HEX + 1, mac, sizeof mac);
}

int oauth_secret_verify(const unsigned char key[OAUTH_KEY_BYTES], const char *clientid,
                        const char *secret, size_t len, const char *stored_hex)
{
	char hex[OAUTH_HASH_HEX + 1];
	oauth_secret_hash(key, clientid, secret, len, hex);
	return strlen(stored_hex) == OAUTH_HASH_HEX &&
	       sodium_memcmp(hex, stored_hex, OAUTH_HASH_HEX) == 0;
}

void oauth_refresh_successor(const unsigned char key[OAUTH_KEY_BYTES], const char *used, size_t len,
                             char out[OAUTH_TOKEN_LEN + 1])
{
	unsigned char mac[crypto_auth_hmacsha256_BYTES];
	hmac3(key, OAUTH_KEY_BYTES, "telgate oauth refresh successor v1", "", used, len, mac);
	b64url(mac, sizeof mac, out, OAUTH_TOKEN_LEN + 1);
	sodium_memzero(mac, sizeof mac);
}

void oauth_access_jti(const unsigned char key[OAUTH_KEY_BYTES], const char *tokenhash,
                      char out[OAUTH_JTI_LEN + 1])
{
	unsigned char mac[crypto_auth_hmacsha256_BYTES];
	hmac3(key, OAUTH_KEY_BYTES, "telgate oauth access jti v1", "", tokenhash, strlen(tokenhash),
	      mac);
	b64url(mac, 16, out, OAUTH_JTI_LEN + 1);
}

static int unreserved(unsigned char c)
{
	return isalnum(c) || c == '-' || c == '.' || c == '_' || c == '~';
}

int oauth_pkce_verifier_ok(const char *v, size_t len)
{
	if (len < 43 || len > 128)
		return 0;
	for (size_t i = 0; i < len; i++)
		if (!unreserved((unsigned char)v[i]))
			return 0;
	return 1;
}

int oauth_pkce_challenge_ok(const char *c)
{
	if (strlen(c) != OAUTH_TOKEN_LEN)
		return 0;
	for (const char *p = c; *p; p++)
		if (!isalnum((unsigned char)*p) && *p != '-' && *p != '_')
			return 0;
	return 1;
}

int oauth_pkce_s256_matches(const char *verifier, size_t len, const char *challenge)
{
	if (!oauth_pkce_verifier_ok(verifier, len) || !oauth_pkce_challenge_ok(challenge))
		return 0;
	unsigned char h[crypto_hash_sha256_BYTES];
	char mine[OAUTH_TOKEN_LEN + 1];
	crypto_hash_sha256(h, (const unsigned char *)verifier, len);
	b64url(h, sizeof h, mine, sizeof mine);
	return sodium_memcmp(mine, challenge, OAUTH_TOKEN_LEN) == 0;
}

static const char user_code_alphabet[] = "BCDFGHJKLMNPQRSTVWXZ";

void oauth_user_code(char out[OAUTH_USER_CODE_LEN + 1])
{
	for (int i = 0, o = 0; i < 8; i++) {
		if (i == 4)
			out[o++] = '-';
		out[o++] = user_code_alphabet[randombytes_uniform(sizeof user_code_alphabet - 1)];
	}
	out[OAUTH_USER_CODE_LEN] = '\0';
}

int oauth_user_code_normalise(const char *in, char out[OAUTH_USER_CODE_LEN + 1])
{
	int n = 0;
	for (const char *p = in; *p; p++) {
		if (*p == '-' || *p == ' ')
			continue;
		char c = (char)toupper((unsigned char)*p);
		if (!strchr(user_code_alphabet, c) || c == '\0' || n == 8)
			return -1;
		out[n < 4 ? n : n + 1] = c;
		n++;
	}
	if (n != 8)
		return -1;
	out[4] = '-';
	out[OAUTH_USER_CODE_LEN] = '\0';
	return 0;
}

void oauth_csrf_token(const unsigned char key[OAUTH_KEY_BYTES], const char *cookie,
                      char out[OAUTH_TOKEN_LEN + 1])
{
	unsigned char mac[crypto_auth_hmacsha256_BYTES];
	hmac3(key, OAUTH_KEY_BYTES, "telgate oauth login csrf v1", "", cookie, strlen(cookie), mac);
	b64url(mac, sizeof mac, out, OAUTH_TOKEN_LEN + 1);
}

int oauth_csrf_ok(const unsigned char key[OAUTH_KEY_BYTES], const char *cookie, const char *token)
{
	char want[OAUTH_TOKEN_LEN + 1];
	if (!cookie || !token || strlen(cookie) != OAUTH_TOKEN_LEN ||
	    strlen(token) != OAUTH_TOKEN_LEN)
		return 0;
	oauth_csrf_token(key, cookie, want);
	return sodium_memcmp(want, token, OAUTH_TOKEN_LEN) == 0;
}
