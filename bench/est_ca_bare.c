/* SPDX-License-Identifier: ISC */
/* The EST CA step with OpenSSL alone (est_ca_bare.h): no telgate header, no telgate call. */
#include "est_ca_bare.h"

#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/pkcs7.h>
#include <openssl/rand.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct bare_ca {
	X509 *cert;
	EVP_PKEY *key;
};

struct bare_ca *bare_ca_new(const char *cert_pem, const char *key_pem)
{
	struct bare_ca *ca = calloc(1, sizeof *ca);
	FILE *f = fopen(cert_pem, "r");
	if (ca && f)
		ca->cert = PEM_read_X509(f, NULL, NULL, NULL);
	if (f)
		fclose(f);
	f = fopen(key_pem, "r");
	if (ca && f)
		ca->key = PEM_read_PrivateKey(f, NULL, NULL, NULL);
	if (f)
		fclose(f);
	if (ca && (!ca->cert || !ca->key)) {
		bare_ca_free(ca);
		return NULL;
	}
	return ca;
}

void bare_ca_free(struct bare_ca *ca)
{
	if (!ca)
		return;
	X509_free(ca->cert);
	EVP_PKEY_free(ca->key);
	free(ca);
}

static int add_ext(X509 *x, X509V3_CTX *ctx, int nid, const char *value)
{
	X509_EXTENSION *e = X509V3_EXT_conf_nid(NULL, ctx, nid, value);
	int ok = e && X509_add_ext(x, e, -1);
	X509_EXTENSION_free(e);
	return ok;
}

long bare_ca_issue(struct bare_ca *ca, const unsigned char *csr, size_t len, const char *cn,
                   const char *instanceid)
{
	const unsigned char *p = csr;
	X509_REQ *req = d2i_X509_REQ(NULL, &p, (long)len);
	EVP_PKEY *pub = req ? X509_REQ_get0_pubkey(req) : NULL;
	X509 *x = NULL;
	PKCS7 *p7 = NULL;
	unsigned char serial[16], *der = NULL, *b64 = NULL;
	long out = -1;
	if (!pub || X509_REQ_verify(req, pub) != 1)
		goto done;
	x = X509_new();
	RAND_bytes(serial, sizeof serial);
	serial[0] &= 0x7f;
	BIGNUM *bn = BN_bin2bn(serial, sizeof serial, NULL);
	ASN1_INTEGER *sn = BN_to_ASN1_INTEGER(bn, NULL);
	BN_free(bn);
	char san[128];
	snprintf(san, sizeof san, "URI:urn:telgate:instance:%s", instanceid);
	X509V3_CTX ctx;
	X509V3_set_ctx(&ctx, ca->cert, x, NULL, NULL, 0);
	int ok = X509_set_version(x, X509_VERSION_3) && X509_set_serialNumber(x, sn) &&
	         X509_gmtime_adj(X509_getm_notBefore(x), -300) &&
	         X509_gmtime_adj(X509_getm_notAfter(x), 730L * 86400) && X509_set_pubkey(x, pub) &&
	         X509_NAME_add_entry_by_txt(X509_get_subject_name(x), "CN", MBSTRING_UTF8,
	                                    (const unsigned char *)cn, -1, -1, 0) &&
	         X509_set_issuer_name(x, X509_get_subject_name(ca->cert)) &&
	         add_ext(x, &ctx, NID_basic_constraints, "critical,CA:FALSE") &&
	         add_ext(x, &ctx, NID_key_usage, "critical,digitalSignature") &&
	         add_ext(x, &ctx, NID_ext_key_usage, "clientAuth") &&
	         add_ext(x, &ctx, NID_subject_key_identifier, "hash") &&
	         add_ext(x, &ctx, NID_authority_key_identifier, "keyid") &&
	         add_ext(x, &ctx, NID_subject_alt_name, san) &&
	         X509_sign(x, ca->key, EVP_sha256()) > 0;
	ASN1_INTEGER_free(sn);
	if (!ok)
		goto done;
	/* certs-only: a degenerate SignedData without eContent, the certificate in it */
	p7 = PKCS7_new();
	if (!p7 || !PKCS7_set_type(p7, NID_pkcs7_signed) || !PKCS7_content_new(p7, NID_pkcs7_data))
		goto done;
	ASN1_OCTET_STRING_free(p7->d.sign->contents->d.data);
	p7->d.sign->contents->d.data = NULL;
	if (PKCS7_add_certificate(p7, x) != 1)
		goto done;
	int n = i2d_PKCS7(p7, &der);
	if (n <= 0)
		goto done;
	b64 = malloc((size_t)(n + 2) / 3 * 4 + 1);
	if (b64)
		out = EVP_EncodeBlock(b64, der, n);
done:
	free(b64);
	OPENSSL_free(der);
	PKCS7_free(p7);
	X509_free(x);
	X509_REQ_free(req);
	return out;
}

int bare_make_csrs(int n, const char *cn, unsigned char **der, size_t *len)
{
	for (int i = 0; i < n; i++) {
		EVP_PKEY *k = EVP_EC_gen("P-256");
		X509_REQ *r = X509_REQ_new();
		der[i] = NULL;
		int ok =
		    k && r && X509_REQ_set_version(r, 0) &&
		    X509_NAME_add_entry_by_txt(X509_REQ_get_subject_name(r), "CN", MBSTRING_UTF8,
		                               (const unsigned char *)cn, -1, -1, 0) &&
		    X509_REQ_set_pubkey(r, k) && X509_REQ_sign(r, k, EVP_sha256()) > 0;
		int l = ok ? i2d_X509_REQ(r, &der[i]) : -1;
		X509_REQ_free(r);
		EVP_PKEY_free(k);
		if (l <= 0)
			return -1;
		len[i] = (size_t)l;
	}
	return 0;
}
