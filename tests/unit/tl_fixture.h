/* SPDX-License-Identifier: ISC */
/*
 * tl_fixture: keys and certificates made on the spot for the trust-list tests and the
 * list generator (tests/tl_gen.c): an ECDSA CA, RSA trust-list and recovery signers, an
 * ECDSA server certificate, and a signature with a key as the signer process would make
 * it. Test code: aborts on any failure.
 */
#ifndef TG_TL_FIXTURE_H
#define TG_TL_FIXTURE_H

#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct tlf_cert {
	EVP_PKEY *key;
	X509 *x;
	unsigned char *der;
	size_t len;
};

static inline EVP_PKEY *tlf_rsa(unsigned bits)
{
	EVP_PKEY *k = EVP_RSA_gen(bits);
	if (!k)
		abort();
	return k;
}

static inline EVP_PKEY *tlf_ec(void)
{
	EVP_PKEY *k = EVP_EC_gen("P-256");
	if (!k)
		abort();
	return k;
}

/* A certificate for key with CN cn and serial, signed by issuer (NULL: self-signed). */
static inline void tlf_make(struct tlf_cert *c, EVP_PKEY *key, const char *cn, long serial,
                            const struct tlf_cert *issuer)
{
	c->key = key;
	c->x = X509_new();
	X509_set_version(c->x, 2);
	ASN1_INTEGER_set(X509_get_serialNumber(c->x), serial);
	X509_gmtime_adj(X509_getm_notBefore(c->x), -60);
	X509_gmtime_adj(X509_getm_notAfter(c->x), 86400L * 365);
	X509_NAME *n = X509_get_subject_name(c->x);
	X509_NAME_add_entry_by_txt(n, "O", MBSTRING_UTF8, (const unsigned char *)"telgate test", -1,
	                           -1, 0);
	X509_NAME_add_entry_by_txt(n, "CN", MBSTRING_UTF8, (const unsigned char *)cn, -1, -1, 0);
	X509_set_issuer_name(c->x, issuer ? X509_get_subject_name(issuer->x) : n);
	X509_set_pubkey(c->x, key);
	if (!issuer) {
		X509V3_CTX ctx;
		X509V3_set_ctx(&ctx, c->x, c->x, NULL, NULL, 0);
		X509_EXTENSION *e =
		    X509V3_EXT_conf_nid(NULL, &ctx, NID_basic_constraints, "critical,CA:TRUE");
		X509_add_ext(c->x, e, -1);
		X509_EXTENSION_free(e);
	}
	if (X509_sign(c->x, issuer ? issuer->key : key, EVP_sha256()) <= 0)
		abort();
	c->der = NULL;
	int n2 = i2d_X509(c->x, &c->der);
	if (n2 <= 0)
		abort();
	c->len = (size_t)n2;
}

static inline void tlf_free(struct tlf_cert *c)
{
	EVP_PKEY_free(c->key);
	X509_free(c->x);
	OPENSSL_free(c->der);
	memset(c, 0, sizeof *c);
}

/* An RSA PKCS#1 v1.5 signature over data with digest md ("SHA512", ...): malloc'ed. */
static inline unsigned char *tlf_sign(EVP_PKEY *k, const char *md, const unsigned char *data,
                                      size_t len, size_t *siglen)
{
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();
	if (!ctx || EVP_DigestSignInit_ex(ctx, NULL, md, NULL, NULL, k, NULL) != 1 ||
	    EVP_DigestSign(ctx, NULL, siglen, data, len) != 1)
		abort();
	unsigned char *sig = malloc(*siglen);
	if (!sig || EVP_DigestSign(ctx, sig, siglen, data, len) != 1)
		abort();
	EVP_MD_CTX_free(ctx);
	return sig;
}

/* Writes c's certificate as PEM to path. */
static inline void tlf_write_pem(const struct tlf_cert *c, const char *path)
{
	FILE *f = fopen(path, "w");
	if (!f || PEM_write_X509(f, c->x) != 1)
		abort();
	fclose(f);
}

#endif
