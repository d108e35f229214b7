/* SPDX-License-Identifier: ISC */
#include "authz/jws.h"

#include <errno.h>
#include <openssl/core_names.h>
#include <openssl/ecdsa.h>
#include <openssl/err.h>
#include <openssl/rsa.h>
#include <openssl/sha.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

static const char *const alg_names[] = {
    [JWS_ES256] = "ES256",
    [JWS_RS256] = "RS256",
    [JWS_EDDSA] = "EdDSA",
};

const char *jws_alg_name(enum jws_alg a)
{
	return a >= JWS_ES256 && a <= JWS_EDDSA ? alg_names[a] : "?";
}

enum jws_alg jws_alg_parse(const char *name)
{
	for (int a = JWS_ES256; name && a <= JWS_EDDSA; a++)
		if (strcmp(name, alg_names[a]) == 0)
			return (enum jws_alg)a;
	return JWS_ALG_UNKNOWN;
}

enum jws_alg jws_alg_of_key(EVP_PKEY *k)
{
	if (!k)
		return JWS_ALG_UNKNOWN;
	switch (EVP_PKEY_get_base_id(k)) {
	case EVP_PKEY_EC: {
		char group[32];
		size_t n = 0;
		if (EVP_PKEY_get_utf8_string_param(k, OSSL_PKEY_PARAM_GROUP_NAME, group,
		                                   sizeof group, &n) != 1)
			return JWS_ALG_UNKNOWN;
		return strcmp(group, "prime256v1") == 0 || strcmp(group, "P-256") == 0
		           ? JWS_ES256
		           : JWS_ALG_UNKNOWN;
	}
	case EVP_PKEY_RSA:
		/* RFC 7518 §3.3: 2048 bits or more. */
		return EVP_PKEY_get_bits(k) >= 2048 && EVP_PKEY_get_bits(k) <= 4096
		           ? JWS_RS256
		           : JWS_ALG_UNKNOWN;
	case EVP_PKEY_ED25519:
		return JWS_EDDSA;
	default:
		return JWS_ALG_UNKNOWN;
	}
}

long jws_at_header_b64(enum jws_alg alg, const char *kid, char *out, size_t cap)
{
	const char *name = jws_alg_name(alg);
	size_t kl = strlen(kid);
	if (!name || kl == 0 || kl > 64)
		return -1;
	for (size_t i = 0; i < kl; i++)
		if (tg_b64url_value((unsigned char)kid[i]) < 0)
			return -1; /* nothing to escape in what follows */
	char h[128];
	int n =
	    snprintf(h, sizeof h, "{\"alg\":\"%s\",\"typ\":\"at+jwt\",\"kid\":\"%s\"}", name, kid);
	if (n < 0 || (size_t)n >= sizeof h)
		return -1;
	return tg_b64url_encode((const unsigned char *)h, (size_t)n, out, cap);
}

/* --- compact serialisation -------------------------------------------------------------- */

json_t *jws_json_part(const char *p, size_t n, size_t max)
{
	if (n == 0 || n > max)
		return NULL;
	size_t cap = n / 4 * 3 + 3;
	unsigned char *buf = malloc(cap);
	if (!buf)
		return NULL;
	long len = tg_b64url_decode(p, n, buf, cap);
	json_t *j = NULL;
	if (len > 0) {
		json_error_t e;
		j = json_loadb((const char *)buf, (size_t)len, JSON_REJECT_DUPLICATES, &e);
		if (j && !json_is_object(j)) {
			json_decref(j);
			j = NULL;
		}
	}
	free(buf);
	return j;
}

int jws_parse(const char *tok, size_t len, size_t max, struct jws_parts *out)
{
	memset(out, 0, sizeof *out);
	if (len > max)
		return -EMSGSIZE;
	const char *d1 = memchr(tok, '.', len);
	const char *d2 = d1 ? memchr(d1 + 1, '.', len - (size_t)(d1 + 1 - tok)) : NULL;
	if (!d1 || !d2 || memchr(d2 + 1, '.', len - (size_t)(d2 + 1 - tok)))
		return -EINVAL;
	size_t hlen = (size_t)(d1 - tok), plen = (size_t)(d2 - d1 - 1);
	size_t slen = len - (size_t)(d2 + 1 - tok);
	if (slen > JWS_B64_LEN(JWS_SIG_MAX))
		return -EINVAL;
	long s = tg_b64url_decode(d2 + 1, slen, out->sig, sizeof out->sig);
	if (s < 0)
		return -EINVAL;
	out->siglen = (size_t)s;
	out->header = jws_json_part(tok, hlen, max);
	out->payload = out->header ? jws_json_part(d1 + 1, plen, max) : NULL;
	if (!out->payload) {
		jws_parts_free(out);
		return -EINVAL;
	}
	out->signing_input = tok;
	out->signing_input_len = (size_t)(d2 - tok);
	return 0;
}

void jws_parts_free(struct jws_parts *p)
{
	json_decref(p->header);
	json_decref(p->payload);
	p->header = p->payload = NULL;
}

char *jws_b64_json(const json_t *obj)
{
	char *txt = json_dumps(obj, JSON_COMPACT | JSON_PRESERVE_ORDER);
	if (!txt)
		return NULL;
	size_t n = strlen(txt), cap = JWS_B64_LEN(n) + 1;
	char *out = malloc(cap);
	if (out && tg_b64url_encode((const unsigned char *)txt, n, out, cap) < 0) {
		free(out);
		out = NULL;
	}
	free(txt);
	return out;
}

/* --- ECDSA P-256 r||s <-> DER ----------------------------------------------------------- */

/* The order n of P-256 (SEC 2 §2.4.2), big-endian. */
static const unsigned char p256_n[32] = {
    0xFF, 0xFF, 0xFF, 0xFF, 0x00, 0x00, 0x00, 0x00, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF,
    0xBC, 0xE6, 0xFA, 0xAD, 0xA7, 0x17, 0x9E, 0x84, 0xF3, 0xB9, 0xCA, 0xC2, 0xFC, 0x63, 0x25, 0x51};

/* 1 when 0 < x < n. */
static int scalar_ok(const unsigned char x[32])
{
	static const unsigned char zero[32];
	return memcmp(x, zero, 32) != 0 && memcmp(x, p256_n, 32) < 0;
}

/* One INTEGER of an ECDSA-Sig-Value (RFC 3279 §2.2.3, DER): the scalar's 32 big-endian
 * bytes without leading zeros, with a 0x00 first when the high bit would read as a sign. */
static size_t der_integer(const unsigned char x[32], unsigned char *out)
{
	size_t i = 0;
	while (i < 31 && x[i] == 0)
		i++;
	size_t n = 32 - i, pad = x[i] & 0x80 ? 1 : 0;
	out[0] = 0x02;
	out[1] = (unsigned char)(n + pad);
	out[2] = 0;
	memcpy(out + 2 + pad, x + i, n);
	return 2 + pad + n;
}

int jws_ecdsa_raw_to_der(const unsigned char raw[JWS_ES256_SIG_LEN], unsigned char *der, size_t cap,
                         size_t *derlen)
{
	/* By hand rather than through ECDSA_SIG and two BIGNUMs: the same bytes as
	 * i2d_ECDSA_SIG (tests/unit/test_authz_jws.c) at ~3 % of a cold verification less. At
	 * most 2 + 2 * 35 = 72 bytes, so the lengths fit one byte (short form). */
	unsigned char buf[72];
	if (!scalar_ok(raw) || !scalar_ok(raw + 32))
		return -EINVAL;
	size_t n = der_integer(raw, buf + 2);
	n += der_integer(raw + 32, buf + 2 + n);
	if (n + 2 > cap)
		return -EINVAL;
	buf[0] = 0x30;
	buf[1] = (unsigned char)n;
	memcpy(der, buf, n + 2);
	*derlen = n + 2;
	return 0;
}

int jws_ecdsa_der_to_raw(const unsigned char *der, size_t n, unsigned char raw[JWS_ES256_SIG_LEN])
{
	const unsigned char *p = der;
	ECDSA_SIG *sig = d2i_ECDSA_SIG(NULL, &p, (long)n);
	int rc = -EINVAL;
	if (sig && p == der + n) {
		const BIGNUM *r, *s;
		ECDSA_SIG_get0(sig, &r, &s);
		if (BN_bn2binpad(r, raw, 32) == 32 && BN_bn2binpad(s, raw + 32, 32) == 32)
			rc = 0;
	}
	ECDSA_SIG_free(sig);
	ERR_clear_error();
	return rc;
}

/* --- signatures ------------------------------------------------------------------------- */

/* ES256 contexts: EVP_DigestVerifyInit and EVP_DigestSignInit make a context and fetch the
 * provider's implementations by name on every call (~4 % of a cold verification,
 * callgrind: bench/README.md oauth_verify; more of a signature in the signer process, which
 * signs every access token), where `openssl speed` initialises one context and works on
 * it. Each thread keeps one for the last key it verified with and one for the last key it
 * signed with; a context holds a reference to its key, so the pointer cannot come to name
 * another key while it is kept. Freed when the thread exits. */
struct pkey_ctxs {
	EVP_PKEY *k[2];
	EVP_PKEY_CTX *ctx[2]; /* [0] verify, [1] sign */
};

static pthread_key_t ctxs_key;
static pthread_once_t ctxs_once = PTHREAD_ONCE_INIT;
static int ctxs_key_ok;

static void ctxs_free(void *p)
{
	struct pkey_ctxs *v = p;
	EVP_PKEY_CTX_free(v->ctx[0]);
	EVP_PKEY_CTX_free(v->ctx[1]);
	free(v);
}

static void ctxs_key_init(void)
{
	ctxs_key_ok = pthread_key_create(&ctxs_key, ctxs_free) == 0;
}

/* This thread's ES256 context for k: verifying (sign 0) or signing (sign 1), NULL when
 * none could be made. */
static EVP_PKEY_CTX *es256_ctx(EVP_PKEY *k, int sign)
{
	pthread_once(&ctxs_once, ctxs_key_init);
	if (!ctxs_key_ok)
		return NULL;
	struct pkey_ctxs *v = pthread_getspecific(ctxs_key);
	if (!v) {
		if (!(v = calloc(1, sizeof *v)) || pthread_setspecific(ctxs_key, v) != 0) {
			free(v);
			return NULL;
		}
	}
	if (v->k[sign] == k)
		return v->ctx[sign];
	EVP_PKEY_CTX_free(v->ctx[sign]);
	v->k[sign] = NULL;
	EVP_PKEY_CTX *c = v->ctx[sign] = EVP_PKEY_CTX_new_from_pkey(NULL, k, NULL);
	if (!c || (sign ? EVP_PKEY_sign_init(c) : EVP_PKEY_verify_init(c)) != 1 ||
	    EVP_PKEY_CTX_set_signature_md(c, EVP_sha256()) != 1) {
		EVP_PKEY_CTX_free(c);
		v->ctx[sign] = NULL;
		return NULL;
	}
	v->k[sign] = k;
	return c;
}

int jws_verify(EVP_PKEY *k, enum jws_alg a, const unsigned char *input, size_t n,
               const unsigned char *sig, size_t siglen)
{
	if (a == JWS_ALG_UNKNOWN || jws_alg_of_key(k) != a)
		return 0;
	unsigned char der[80];
	if (a == JWS_ES256) {
		/* The r||s form only: a DER signature in a JWS is malformed (RFC 7518 §3.4). */
		if (siglen != JWS_ES256_SIG_LEN ||
		    jws_ecdsa_raw_to_der(sig, der, sizeof der, &siglen))
			return 0;
		sig = der;
	} else if (a == JWS_EDDSA && siglen != 64) {
		return 0;
	} else if (a == JWS_RS256 && siglen != (size_t)EVP_PKEY_get_size(k)) {
		return 0;
	}
	if (a == JWS_ES256) {
		/* The hash here, the signature check on a context made once per thread and key. */
		unsigned char h[SHA256_DIGEST_LENGTH];
		EVP_PKEY_CTX *pc = es256_ctx(k, 0);
		/* OpenSSL's one-shot SHA-256 (its CPU-specific code): a third of libsodium's
		 * portable one's instructions on a token. */
		int ok =
		    pc && SHA256(input, n, h) && EVP_PKEY_verify(pc, sig, siglen, h, sizeof h) == 1;
		ERR_clear_error();
		return ok;
	}
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();
	int ok =
	    ctx &&
	    EVP_DigestVerifyInit(ctx, NULL, a == JWS_EDDSA ? NULL : EVP_sha256(), NULL, k) == 1 &&
	    EVP_DigestVerify(ctx, sig, siglen, input, n) == 1;
	EVP_MD_CTX_free(ctx);
	ERR_clear_error();
	return ok;
}

int jws_sign(EVP_PKEY *k, enum jws_alg a, const unsigned char *input, size_t n, unsigned char *sig,
             size_t cap, size_t *siglen)
{
	if (a == JWS_ALG_UNKNOWN || jws_alg_of_key(k) != a || cap < JWS_SIG_MAX)
		return -EINVAL;
	int rc = -EIO;
	if (a == JWS_ES256) {
		unsigned char der[80];
		size_t len = sizeof der;
		/* The hash here, the signature on a context made once per thread and key. */
		unsigned char h[SHA256_DIGEST_LENGTH];
		EVP_PKEY_CTX *pc = es256_ctx(k, 1);
		if (pc && SHA256(input, n, h) && EVP_PKEY_sign(pc, der, &len, h, sizeof h) == 1 &&
		    jws_ecdsa_der_to_raw(der, len, sig) == 0) {
			*siglen = JWS_ES256_SIG_LEN;
			rc = 0;
		}
		ERR_clear_error();
		return rc;
	}
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();
	size_t len = cap;
	if (ctx &&
	    EVP_DigestSignInit(ctx, NULL, a == JWS_EDDSA ? NULL : EVP_sha256(), NULL, k) == 1 &&
	    EVP_DigestSign(ctx, sig, &len, input, n) == 1) {
		*siglen = len;
		rc = 0;
	}
	EVP_MD_CTX_free(ctx);
	ERR_clear_error();
	return rc;
}
