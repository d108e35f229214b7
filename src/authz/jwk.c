/* SPDX-License-Identifier: ISC */
#include "authz/jwk.h"

#include <errno.h>
#include <openssl/core_names.h>
#include <openssl/err.h>
#include <openssl/x509.h>
#include <stdlib.h>
#include <string.h>

/* A BIGNUM parameter as base64url of its unsigned big-endian bytes (pad: fixed width, as
 * RFC 7518 §6.2.1.2 wants for EC coordinates; 0: minimal, as §6.3.1.1 wants for n and e). */
static json_t *b64_bn(EVP_PKEY *k, const char *param, int pad)
{
	BIGNUM *bn = NULL;
	json_t *j = NULL;
	if (EVP_PKEY_get_bn_param(k, param, &bn) == 1) {
		int len = pad ? pad : BN_num_bytes(bn);
		unsigned char *buf = malloc((size_t)len + 1);
		size_t cap = JWS_B64_LEN((size_t)len) + 1;
		char *txt = malloc(cap);
		if (buf && txt && BN_bn2binpad(bn, buf, len) == len &&
		    tg_b64url_encode(buf, (size_t)len, txt, cap) >= 0)
			j = json_string(txt);
		free(buf);
		free(txt);
	}
	BN_free(bn);
	return j;
}

static json_t *b64_raw_pub(EVP_PKEY *k)
{
	unsigned char pub[32];
	size_t n = sizeof pub;
	char txt[JWS_B64_LEN(32) + 1];
	if (EVP_PKEY_get_raw_public_key(k, pub, &n) != 1 || n != 32 ||
	    tg_b64url_encode(pub, n, txt, sizeof txt) < 0)
		return NULL;
	return json_string(txt);
}

/* The required members of k's JWK (RFC 7638 §3.2), in lexicographic order. */
static json_t *required_members(EVP_PKEY *k)
{
	json_t *o = json_object();
	if (!o)
		return NULL;
	int ok = 0;
	switch (jws_alg_of_key(k)) {
	case JWS_ES256:
		ok = !json_object_set_new(o, "crv", json_string("P-256")) &&
		     !json_object_set_new(o, "kty", json_string("EC")) &&
		     !json_object_set_new(o, "x", b64_bn(k, OSSL_PKEY_PARAM_EC_PUB_X, 32)) &&
		     !json_object_set_new(o, "y", b64_bn(k, OSSL_PKEY_PARAM_EC_PUB_Y, 32));
		break;
	case JWS_RS256:
		ok = !json_object_set_new(o, "e", b64_bn(k, OSSL_PKEY_PARAM_RSA_E, 0)) &&
		     !json_object_set_new(o, "kty", json_string("RSA")) &&
		     !json_object_set_new(o, "n", b64_bn(k, OSSL_PKEY_PARAM_RSA_N, 0));
		break;
	case JWS_EDDSA:
		ok = !json_object_set_new(o, "crv", json_string("Ed25519")) &&
		     !json_object_set_new(o, "kty", json_string("OKP")) &&
		     !json_object_set_new(o, "x", b64_raw_pub(k));
		break;
	default:
		break;
	}
	ERR_clear_error();
	if (!ok) {
		json_decref(o);
		return NULL;
	}
	return o;
}

int authz_jwk_thumbprint(EVP_PKEY *k, char kid[AUTHZ_KID_LEN + 1])
{
	json_t *o = required_members(k);
	if (!o)
		return -EINVAL;
	/* JSON_SORT_KEYS + compact: RFC 7638 §3.3's form (the values are plain ASCII). */
	char *txt = json_dumps(o, JSON_COMPACT | JSON_SORT_KEYS);
	json_decref(o);
	if (!txt)
		return -ENOMEM;
	unsigned char md[32];
	int rc = EVP_Digest(txt, strlen(txt), md, NULL, EVP_sha256(), NULL) == 1 &&
	                 tg_b64url_encode(md, sizeof md, kid, AUTHZ_KID_LEN + 1) == AUTHZ_KID_LEN
	             ? 0
	             : -ENOMEM;
	free(txt);
	return rc;
}

int authz_kid_ok(const char *s, size_t n)
{
	if (n != AUTHZ_KID_LEN)
		return 0;
	for (size_t i = 0; i < n; i++) {
		char c = s[i];
		if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
		      c == '-' || c == '_'))
			return 0;
	}
	return 1;
}

int authz_jwk_of_key(EVP_PKEY *k, enum jws_alg a, const char *kid, json_t **out)
{
	*out = NULL;
	if (jws_alg_of_key(k) != a)
		return -EINVAL;
	json_t *o = required_members(k);
	if (!o)
		return -EINVAL;
	if (json_object_set_new(o, "kid", json_string(kid)) ||
	    json_object_set_new(o, "alg", json_string(jws_alg_name(a))) ||
	    json_object_set_new(o, "use", json_string("sig"))) {
		json_decref(o);
		return -ENOMEM;
	}
	*out = o;
	return 0;
}

EVP_PKEY *authz_spki_parse(const unsigned char *der, size_t n)
{
	const unsigned char *p = der;
	EVP_PKEY *k = d2i_PUBKEY(NULL, &p, (long)n);
	if (k && p != der + n) {
		EVP_PKEY_free(k);
		k = NULL;
	}
	ERR_clear_error();
	return k;
}

int authz_spki_encode(EVP_PKEY *k, unsigned char **der, size_t *n)
{
	int len = i2d_PUBKEY(k, NULL);
	unsigned char *buf = len > 0 ? malloc((size_t)len) : NULL, *p = buf;
	if (!buf || i2d_PUBKEY(k, &p) != len) {
		free(buf);
		ERR_clear_error();
		return -ENOMEM;
	}
	*der = buf;
	*n = (size_t)len;
	return 0;
}
