/* SPDX-License-Identifier: ISC */
#include "ca/signer_core.h"

#include <errno.h>
#include <limits.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *const key_files[SIGNER_NKEYS] = {
    [SIGNER_KEY_CA] = "ca",
    [SIGNER_KEY_TRUSTLIST] = "trustlist",
    [SIGNER_KEY_RECOVERY] = "recovery",
    [SIGNER_KEY_TOKEN] = "token",
};

const char *signer_key_file(enum signer_key k)
{
	return (int)k > 0 && (int)k < SIGNER_NKEYS ? key_files[k] : NULL;
}

static int load_one(struct signer_keys *ks, enum signer_key k, const char *dir, char *err,
                    size_t errlen)
{
	char kpath[4200], cpath[4200];
	snprintf(kpath, sizeof kpath, "%s/%s.key", dir, key_files[k]);
	snprintf(cpath, sizeof cpath, "%s/%s.crt", dir, key_files[k]);
	FILE *kf = fopen(kpath, "re");
	FILE *cf = fopen(cpath, "re");
	if (kf) {
		ks->key[k] = PEM_read_PrivateKey(kf, NULL, NULL, NULL);
		fclose(kf);
	}
	if (cf) {
		ks->cert[k] = PEM_read_X509(cf, NULL, NULL, NULL);
		fclose(cf);
	}
	if (!ks->key[k] || !ks->cert[k]) {
		snprintf(err, errlen, "cannot read %s or %s", kpath, cpath);
		return -1;
	}
	if (X509_check_private_key(ks->cert[k], ks->key[k]) != 1) {
		snprintf(err, errlen, "%s does not match %s", kpath, cpath);
		return -1;
	}
	int n = i2d_X509(ks->cert[k], NULL);
	ks->der[k] = n > 0 ? malloc((size_t)n) : NULL;
	unsigned char *p = ks->der[k];
	if (!p || i2d_X509(ks->cert[k], &p) != n) {
		snprintf(err, errlen, "cannot encode %s", cpath);
		return -1;
	}
	ks->derlen[k] = (size_t)n;
	return 0;
}

int signer_keys_load(struct signer_keys *ks, const char *pki_dir, char *err, size_t errlen)
{
	memset(ks, 0, sizeof *ks);
	for (int k = 1; k < SIGNER_NKEYS; k++)
		if (k != SIGNER_KEY_TOKEN &&
		    load_one(ks, (enum signer_key)k, pki_dir, err, errlen) != 0)
			goto fail;
	/* The token keys: a directory of them, not one file with a certificate. */
	if (signer_tokens_open(&ks->tokens, pki_dir, err, errlen) != 0)
		goto fail;
	/* Built once: parsing "keyid:always" per certificate cost more than the check. */
	X509V3_CTX ctx;
	X509V3_set_ctx(&ctx, ks->cert[SIGNER_KEY_CA], NULL, NULL, NULL, 0);
	ks->ca_aki = X509V3_EXT_conf_nid(NULL, &ctx, NID_authority_key_identifier, "keyid:always");
	if (!ks->ca_aki) {
		snprintf(err, errlen, "the CA certificate has no subject key identifier");
		goto fail;
	}
	ERR_clear_error();
	return 0;
fail:
	signer_keys_free(ks);
	ERR_clear_error();
	return -1;
}

void signer_keys_free(struct signer_keys *ks)
{
	for (int k = 0; k < SIGNER_NKEYS; k++) {
		EVP_PKEY_free(ks->key[k]); /* OpenSSL clears private key material on free */
		X509_free(ks->cert[k]);
		free(ks->der[k]);
	}
	X509_EXTENSION_free(ks->ca_aki);
	signer_tokens_free(ks->tokens);
	memset(ks, 0, sizeof *ks);
}

/* Copies an OpenSSL encoding into a malloc'ed buffer (callers free() what they get). */
#define ENCODE(i2d, obj, out, outlen)                                                              \
	do {                                                                                       \
		int n_ = i2d((obj), NULL);                                                         \
		unsigned char *b_ = n_ > 0 ? malloc((size_t)n_) : NULL, *p_ = b_;                  \
		if (!b_ || i2d((obj), &p_) != n_) {                                                \
			free(b_);                                                                  \
			rc = -ENOMEM;                                                              \
		} else {                                                                           \
			*(out) = b_;                                                               \
			*(outlen) = (size_t)n_;                                                    \
			rc = 0;                                                                    \
		}                                                                                  \
	} while (0)

/* Replaces any authority key identifier of a CRL with the CA's (from its subject key
 * identifier); signer_cert.c does the same for certificates. */
static int set_aki(const struct signer_keys *ks, X509_CRL *crl)
{
	int i;
	while ((i = X509_CRL_get_ext_by_NID(crl, NID_authority_key_identifier, -1)) >= 0)
		X509_EXTENSION_free(X509_CRL_delete_ext(crl, i));
	return X509_CRL_add_ext(crl, ks->ca_aki, -1) ? 0 : -EIO;
}

static int sign_crl(const struct signer_keys *ks, const unsigned char *p, size_t len,
                    unsigned char **out, size_t *outlen)
{
	X509 *ca = ks->cert[SIGNER_KEY_CA];
	if (!ca)
		return -ENOENT;
	if (len == 0 || len > SIGNER_DATA_MAX)
		return -EINVAL;
	const unsigned char *q = p;
	X509_CRL *c = d2i_X509_CRL(NULL, &q, (long)len);
	int rc = -EINVAL;
	if (!c || q != p + len)
		goto out;
	const ASN1_TIME *lu = X509_CRL_get0_lastUpdate(c), *nu = X509_CRL_get0_nextUpdate(c);
	if (!lu || !nu || ASN1_TIME_compare(lu, nu) >= 0)
		goto out;
	rc = -EIO;
	if (!X509_CRL_set_version(c, X509_CRL_VERSION_2) ||
	    !X509_CRL_set_issuer_name(c, X509_get_subject_name(ca)) || set_aki(ks, c) != 0 ||
	    !X509_CRL_sign(c, ks->key[SIGNER_KEY_CA], EVP_sha256()))
		goto out;
	ENCODE(i2d_X509_CRL, c, out, outlen);
out:
	X509_CRL_free(c);
	ERR_clear_error();
	return rc;
}

static const EVP_MD *digest_for(EVP_PKEY *key, const char *name)
{
	if (EVP_PKEY_get_base_id(key) == EVP_PKEY_RSA) {
		if (strcmp(name, "SHA512") == 0)
			return EVP_sha512();
		if (strcmp(name, "SHA1") == 0) /* the older trust-list format's only digest */
			return EVP_sha1();
	}
	return strcmp(name, "SHA256") == 0 ? EVP_sha256() : NULL;
}

static int sign_bytes(const struct signer_keys *ks, enum signer_key k, const char *digest,
                      const unsigned char *data, size_t len, unsigned char **sig, size_t *siglen)
{
	if (k == SIGNER_KEY_CA || k == SIGNER_KEY_TOKEN || len > SIGNER_DATA_MAX)
		return -EINVAL;
	EVP_PKEY *key = ks->key[k];
	if (!key)
		return -ENOENT;
	const EVP_MD *md = digest_for(key, digest);
	if (!md)
		return -EINVAL;
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();
	size_t n = 0;
	unsigned char *buf = NULL;
	int rc = -EIO;
	if (ctx && EVP_DigestSignInit(ctx, NULL, md, NULL, key) == 1 &&
	    EVP_DigestSign(ctx, NULL, &n, data, len) == 1 && (buf = malloc(n ? n : 1)) &&
	    EVP_DigestSign(ctx, buf, &n, data, len) == 1) {
		*sig = buf;
		*siglen = n;
		buf = NULL;
		rc = 0;
	}
	free(buf);
	EVP_MD_CTX_free(ctx);
	ERR_clear_error();
	return rc;
}

static int certificate(const struct signer_keys *ks, enum signer_key k, unsigned char **out,
                       size_t *outlen)
{
	if (!ks->der[k])
		return -ENOENT;
	*out = malloc(ks->derlen[k]);
	if (!*out)
		return -ENOMEM;
	memcpy(*out, ks->der[k], ks->derlen[k]);
	*outlen = ks->derlen[k];
	return 0;
}

int signer_core_handle(const struct signer_keys *ks, const struct signer_req *rq,
                       unsigned char **out, size_t *outlen)
{
	*out = NULL;
	*outlen = 0;
	if (rq->key == 0 || rq->key >= SIGNER_NKEYS)
		return -ENOENT;
	enum signer_key k = (enum signer_key)rq->key;
	switch (rq->op) {
	case SIGNER_OP_CERTIFICATE:
		return certificate(ks, k, out, outlen);
	case SIGNER_OP_SIGN_CERT:
		return k == SIGNER_KEY_CA ? signer_cert_sign(ks, rq->payload, rq->len, out, outlen)
		                          : -EINVAL;
	case SIGNER_OP_SIGN_CRL:
		return k == SIGNER_KEY_CA ? sign_crl(ks, rq->payload, rq->len, out, outlen)
		                          : -EINVAL;
	case SIGNER_OP_SIGN_BYTES:
		return sign_bytes(ks, k, rq->digest, rq->payload, rq->len, out, outlen);
	case SIGNER_OP_TOKEN_KEYGEN:
		return k == SIGNER_KEY_TOKEN
		           ? signer_tokens_keygen(ks->tokens, rq->payload, rq->len, out, outlen)
		           : -EINVAL;
	case SIGNER_OP_SIGN_TOKEN:
		return k == SIGNER_KEY_TOKEN
		           ? signer_tokens_sign(ks->tokens, rq->payload, rq->len, out, outlen)
		           : -EINVAL;
	default:
		return -EINVAL;
	}
}
