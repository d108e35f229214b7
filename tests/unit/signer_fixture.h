/* SPDX-License-Identifier: ISC */
/* A test-only signer (the interface of src/ca/signer.h) over the CA key of a PKI directory
 * that ca_bootstrap made, for the CA's unit tests until the real signer (signer_local_new)
 * is on main: the same refusals the header documents (CA:TRUE, keyCertSign/cRLSign, a
 * validity beyond the CA's), issuer and AKI set from the CA. tu_signer_fail makes every
 * request fail with that error (e.g. -EAGAIN: the signer is not running), tu_signer_fail_crl
 * only CRLs. Include in one
 * test file only (it defines the signer's functions). */
#ifndef TG_SIGNER_FIXTURE_H
#define TG_SIGNER_FIXTURE_H

#include "ca/signer.h"

#include <errno.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct signer {
	EVP_PKEY *key;
	X509 *ca;
};

static int tu_signer_fail;       /* nonzero: every request returns it */
static int tu_signer_fail_crl;   /* nonzero: CRL signing returns it */
static int tu_signer_certs_made; /* certificates signed */

struct signer *signer_local_new(const char *pki_dir, char *err, size_t errlen)
{
	char path[512];
	struct signer *s = calloc(1, sizeof *s);
	snprintf(path, sizeof path, "%s/ca.key", pki_dir);
	FILE *f = fopen(path, "r");
	if (f) {
		s->key = PEM_read_PrivateKey(f, NULL, NULL, NULL);
		fclose(f);
	}
	snprintf(path, sizeof path, "%s/ca.crt", pki_dir);
	f = fopen(path, "r");
	if (f) {
		s->ca = PEM_read_X509(f, NULL, NULL, NULL);
		fclose(f);
	}
	if (!s->key || !s->ca) {
		snprintf(err, errlen, "cannot read the CA in %s", pki_dir);
		signer_free(s);
		return NULL;
	}
	return s;
}

struct signer *signer_remote_new(int fd, char *err, size_t errlen)
{
	(void)fd;
	snprintf(err, errlen, "not in the test signer");
	return NULL;
}

void signer_free(struct signer *s)
{
	if (!s)
		return;
	EVP_PKEY_free(s->key);
	X509_free(s->ca);
	free(s);
}

static int tu_signer_out(int len, unsigned char *der, unsigned char **out, size_t *outlen)
{
	if (len <= 0 || !der)
		return -EIO;
	*out = malloc((size_t)len);
	memcpy(*out, der, (size_t)len);
	*outlen = (size_t)len;
	OPENSSL_free(der);
	return 0;
}

int signer_certificate(struct signer *s, enum signer_key k, unsigned char **der, size_t *len)
{
	if (tu_signer_fail)
		return tu_signer_fail;
	if (k != SIGNER_KEY_CA)
		return -ENOENT;
	unsigned char *d = NULL;
	int n = i2d_X509(s->ca, &d);
	return tu_signer_out(n, d, der, len);
}

int signer_sign_cert(struct signer *s, const unsigned char *tmpl, size_t len, unsigned char **out,
                     size_t *outlen)
{
	if (tu_signer_fail)
		return tu_signer_fail;
	const unsigned char *p = tmpl;
	X509 *x = d2i_X509(NULL, &p, (long)len);
	if (!x)
		return -EINVAL;
	int rc = -EINVAL;
	BASIC_CONSTRAINTS *bc = X509_get_ext_d2i(x, NID_basic_constraints, NULL, NULL);
	int is_ca = bc && bc->ca;
	BASIC_CONSTRAINTS_free(bc);
	uint32_t ku = X509_get_key_usage(x);
	if (is_ca || (ku != UINT32_MAX && (ku & (KU_KEY_CERT_SIGN | KU_CRL_SIGN))) ||
	    ASN1_TIME_compare(X509_get0_notAfter(x), X509_get0_notAfter(s->ca)) > 0)
		goto out;
	X509V3_CTX ctx;
	X509V3_set_ctx(&ctx, s->ca, x, NULL, NULL, 0);
	X509_EXTENSION *aki =
	    X509V3_EXT_conf_nid(NULL, &ctx, NID_authority_key_identifier, "keyid:always");
	if (X509_set_issuer_name(x, X509_get_subject_name(s->ca)) && aki &&
	    X509_add_ext(x, aki, -1) && X509_sign(x, s->key, EVP_sha256()) > 0) {
		unsigned char *d = NULL;
		int n = i2d_X509(x, &d);
		rc = tu_signer_out(n, d, out, outlen);
		tu_signer_certs_made += rc == 0;
	}
	X509_EXTENSION_free(aki);
out:
	X509_free(x);
	return rc;
}

int signer_sign_crl(struct signer *s, const unsigned char *tmpl, size_t len, unsigned char **out,
                    size_t *outlen)
{
	if (tu_signer_fail || tu_signer_fail_crl)
		return tu_signer_fail ? tu_signer_fail : tu_signer_fail_crl;
	const unsigned char *p = tmpl;
	X509_CRL *c = d2i_X509_CRL(NULL, &p, (long)len);
	if (!c)
		return -EINVAL;
	int rc = -EIO;
	if (X509_CRL_set_issuer_name(c, X509_get_subject_name(s->ca)) &&
	    X509_CRL_sign(c, s->key, EVP_sha256()) > 0) {
		unsigned char *d = NULL;
		int n = i2d_X509_CRL(c, &d);
		rc = tu_signer_out(n, d, out, outlen);
	}
	X509_CRL_free(c);
	return rc;
}

int signer_sign_bytes(struct signer *s, enum signer_key k, const char *digest,
                      const unsigned char *data, size_t len, unsigned char **sig, size_t *siglen)
{
	(void)s, (void)k, (void)digest, (void)data, (void)len, (void)sig, (void)siglen;
	return -ENOENT;
}

#endif
