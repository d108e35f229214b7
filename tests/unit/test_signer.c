/* SPDX-License-Identifier: ISC */
/* ca/signer: the local signer's policy (templates asking for a CA, certificate signing or a
 * validity beyond the CA's are refused; issuer and AKI set; the signature verifies against
 * the CA), CRLs, RSA PKCS#1 signatures over bytes verified with the trust-list certificate,
 * and the same answers through the signer process (ca/signer_proc.h) and the remote client:
 * a killed signer fails requests with -EAGAIN, a full queue answers -EBUSY. */
#include "ca/ca_bootstrap.h"
#include "ca/signer.h"
#include "testutil.h"

#include <errno.h>
#include <openssl/evp.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <cmocka.h>

static char dir[64], pki[96];
static struct signer *local;
static EVP_PKEY *subject_key;

static int setup(void **state)
{
	(void)state;
	tu_mkdtemp(dir, sizeof dir, "tgsigner");
	snprintf(pki, sizeof pki, "%s/pki", dir);
	struct ca_bootstrap_result r;
	char err[256];
	int created = 0;
	if (ca_bootstrap(pki, "node1", "", 90, &r, err, sizeof err) != 0 ||
	    ca_bootstrap_signers(pki, "node1", &created, err, sizeof err) != 0 || created != 3)
		return -1;
	local = signer_local_new(pki, err, sizeof err);
	subject_key = EVP_EC_gen("P-256");
	return local && subject_key ? 0 : -1;
}

static int teardown(void **state)
{
	(void)state;
	signer_free(local);
	EVP_PKEY_free(subject_key);
	tu_rmtree(dir);
	return 0;
}

static X509 *d2i_cert(const unsigned char *der, size_t len)
{
	const unsigned char *p = der;
	X509 *x = d2i_X509(NULL, &p, (long)len);
	assert_non_null(x);
	return x;
}

static X509 *ca_cert(struct signer *s, enum signer_key k)
{
	unsigned char *der;
	size_t len;
	assert_int_equal(signer_certificate(s, k, &der, &len), 0);
	X509 *x = d2i_cert(der, len);
	free(der);
	return x;
}

static void ext(X509 *x, int nid, const char *value)
{
	X509V3_CTX ctx;
	X509V3_set_ctx_nodb(&ctx);
	X509V3_set_ctx(&ctx, NULL, x, NULL, NULL, 0);
	X509_EXTENSION *e = X509V3_EXT_conf_nid(NULL, &ctx, nid, value);
	assert_non_null(e);
	X509_add_ext(x, e, -1);
	X509_EXTENSION_free(e);
}

/* A client-certificate template, signed with a throwaway key: bc/ku override its
 * basicConstraints and keyUsage, days its lifetime. */
static size_t template(unsigned char **der, const char *cn, const char *bc, const char *ku,
                       long days)
{
	X509 *x = X509_new();
	X509_set_version(x, X509_VERSION_3);
	ASN1_INTEGER_set(X509_get_serialNumber(x), 0x1234567);
	X509_NAME_add_entry_by_txt(X509_get_subject_name(x), "CN", MBSTRING_UTF8,
	                           (const unsigned char *)cn, -1, -1, 0);
	X509_set_issuer_name(x, X509_get_subject_name(x));
	X509_gmtime_adj(X509_getm_notBefore(x), 0);
	X509_gmtime_adj(X509_getm_notAfter(x), days * 86400L);
	X509_set_pubkey(x, subject_key);
	ext(x, NID_basic_constraints, bc);
	ext(x, NID_key_usage, ku);
	ext(x, NID_ext_key_usage, "clientAuth");
	assert_true(X509_sign(x, subject_key, EVP_sha256()) > 0);
	*der = NULL;
	int n = i2d_X509(x, der);
	X509_free(x);
	assert_true(n > 0);
	return (size_t)n;
}

static void check_issued(struct signer *s)
{
	unsigned char *t, *out;
	size_t tlen = template(&t, "alice", "critical,CA:FALSE", "critical,digitalSignature", 730),
	       olen;
	assert_int_equal(signer_sign_cert(s, t, tlen, &out, &olen), 0);
	X509 *x = d2i_cert(out, olen), *ca = ca_cert(s, SIGNER_KEY_CA);
	assert_int_equal(X509_NAME_cmp(X509_get_issuer_name(x), X509_get_subject_name(ca)), 0);
	assert_int_equal(X509_verify(x, X509_get0_pubkey(ca)), 1);
	const ASN1_OCTET_STRING *aki = X509_get0_authority_key_id(x);
	const ASN1_OCTET_STRING *ski = X509_get0_subject_key_id(ca);
	assert_non_null(aki);
	assert_int_equal(ASN1_OCTET_STRING_cmp(aki, ski), 0);
	/* Chains to the CA as a client certificate. */
	X509_STORE *st = X509_STORE_new();
	X509_STORE_add_cert(st, ca);
	X509_STORE_CTX *ctx = X509_STORE_CTX_new();
	X509_STORE_CTX_init(ctx, st, x, NULL);
	X509_STORE_CTX_set_purpose(ctx, X509_PURPOSE_SSL_CLIENT);
	assert_int_equal(X509_verify_cert(ctx), 1);
	X509_STORE_CTX_free(ctx);
	X509_STORE_free(st);
	X509_free(x);
	X509_free(ca);
	OPENSSL_free(t);
	free(out);
}

static void test_local_issues(void **state)
{
	(void)state;
	check_issued(local);
}

static void expect_refused(struct signer *s, const char *bc, const char *ku, long days)
{
	unsigned char *t, *out = NULL;
	size_t tlen = template(&t, "mallory", bc, ku, days), olen = 0;
	assert_int_equal(signer_sign_cert(s, t, tlen, &out, &olen), -EINVAL);
	assert_null(out);
	OPENSSL_free(t);
}

static void check_policy(struct signer *s)
{
	expect_refused(s, "critical,CA:TRUE", "critical,digitalSignature", 30);
	expect_refused(s, "CA:TRUE,pathlen:0", "digitalSignature", 30);
	expect_refused(s, "critical,CA:FALSE", "critical,keyCertSign", 30);
	expect_refused(s, "critical,CA:FALSE", "digitalSignature,cRLSign", 30);
	expect_refused(s, "critical,CA:FALSE", "digitalSignature", 3650 * 3); /* beyond the CA */
	/* Garbage, a truncated template, trailing bytes. */
	unsigned char *t, *out;
	size_t tlen = template(&t, "alice", "critical,CA:FALSE", "digitalSignature", 30), olen;
	assert_int_equal(signer_sign_cert(s, t, tlen - 1, &out, &olen), -EINVAL);
	unsigned char *longer = malloc(tlen + 1);
	memcpy(longer, t, tlen);
	longer[tlen] = 0;
	assert_int_equal(signer_sign_cert(s, longer, tlen + 1, &out, &olen), -EINVAL);
	assert_int_equal(signer_sign_cert(s, (const unsigned char *)"junk", 4, &out, &olen),
	                 -EINVAL);
	free(longer);
	OPENSSL_free(t);
	/* The CA key never signs bytes: they could be a TBSCertificate. */
	assert_int_equal(signer_sign_bytes(s, SIGNER_KEY_CA, "SHA256", (const unsigned char *)"x",
	                                   1, &out, &olen),
	                 -EINVAL);
	assert_int_equal(signer_sign_bytes(s, SIGNER_KEY_TRUSTLIST, "MD5",
	                                   (const unsigned char *)"x", 1, &out, &olen),
	                 -EINVAL);
	assert_int_equal(signer_certificate(s, (enum signer_key)9, &out, &olen), -ENOENT);
}

static void test_local_policy(void **state)
{
	(void)state;
	check_policy(local);
}

static void check_bytes(struct signer *s, enum signer_key k, const char *digest)
{
	static const unsigned char data[] = "a trust list, or any bytes";
	unsigned char *sig;
	size_t siglen;
	assert_int_equal(signer_sign_bytes(s, k, digest, data, sizeof data, &sig, &siglen), 0);
	assert_int_equal(siglen, 384); /* RSA 3072 */
	X509 *x = ca_cert(s, k);
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();
	assert_int_equal(EVP_DigestVerifyInit(ctx, NULL, EVP_get_digestbyname(digest), NULL,
	                                      X509_get0_pubkey(x)),
	                 1);
	assert_int_equal(EVP_DigestVerify(ctx, sig, siglen, data, sizeof data), 1);
	EVP_MD_CTX_free(ctx);
	X509_free(x);
	free(sig);
}

static void test_local_bytes(void **state)
{
	(void)state;
	check_bytes(local, SIGNER_KEY_TRUSTLIST, "SHA512");
	check_bytes(local, SIGNER_KEY_TRUSTLIST, "SHA1");
	check_bytes(local, SIGNER_KEY_RECOVERY, "SHA256");
	/* The trust-list signer is issued by the CA; the recovery signer by itself. */
	X509 *ca = ca_cert(local, SIGNER_KEY_CA), *tl = ca_cert(local, SIGNER_KEY_TRUSTLIST),
	     *rec = ca_cert(local, SIGNER_KEY_RECOVERY);
	assert_int_equal(X509_verify(tl, X509_get0_pubkey(ca)), 1);
	assert_int_equal(X509_verify(rec, X509_get0_pubkey(rec)), 1);
	assert_int_equal(EVP_PKEY_get_bits(X509_get0_pubkey(tl)), 3072);
	X509_free(ca);
	X509_free(tl);
	X509_free(rec);
	unsigned char *out;
	size_t olen;
	assert_int_equal(signer_certificate(local, SIGNER_KEY_TOKEN, &out, &olen), -ENOENT);
}

static void check_crl(struct signer *s)
{
	X509_CRL *c = X509_CRL_new();
	ASN1_TIME *now = ASN1_TIME_set(NULL, time(NULL)),
	          *next = ASN1_TIME_set(NULL, time(NULL) + 86400);
	X509_CRL_set1_lastUpdate(c, now);
	X509_CRL_set1_nextUpdate(c, next);
	X509_REVOKED *r = X509_REVOKED_new();
	ASN1_INTEGER *sn = ASN1_INTEGER_new();
	ASN1_INTEGER_set(sn, 42);
	X509_REVOKED_set_serialNumber(r, sn);
	X509_REVOKED_set_revocationDate(r, now);
	X509_CRL_add0_revoked(c, r);
	X509_CRL_sign(c, subject_key, EVP_sha256());
	unsigned char *der = NULL, *out;
	size_t olen;
	int n = i2d_X509_CRL(c, &der);
	assert_int_equal(signer_sign_crl(s, der, (size_t)n, &out, &olen), 0);
	const unsigned char *p = out;
	X509_CRL *got = d2i_X509_CRL(NULL, &p, (long)olen);
	X509 *ca = ca_cert(s, SIGNER_KEY_CA);
	assert_non_null(got);
	assert_int_equal(X509_CRL_verify(got, X509_get0_pubkey(ca)), 1);
	assert_int_equal(X509_NAME_cmp(X509_CRL_get_issuer(got), X509_get_subject_name(ca)), 0);
	assert_int_equal(sk_X509_REVOKED_num(X509_CRL_get_REVOKED(got)), 1);
	/* nextUpdate before lastUpdate: refused. */
	X509_CRL_set1_nextUpdate(c, now);
	X509_CRL_set1_lastUpdate(c, next);
	OPENSSL_free(der);
	der = NULL;
	n = i2d_X509_CRL(c, &der);
	free(out);
	assert_int_equal(signer_sign_crl(s, der, (size_t)n, &out, &olen), -EINVAL);
	OPENSSL_free(der);
	ASN1_INTEGER_free(sn);
	ASN1_TIME_free(now);
	ASN1_TIME_free(next);
	X509_CRL_free(c);
	X509_CRL_free(got);
	X509_free(ca);
}

static void test_local_crl(void **state)
{
	(void)state;
	check_crl(local);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_local_issues), cmocka_unit_test(test_local_policy),
	    cmocka_unit_test(test_local_bytes), cmocka_unit_test(test_local_crl)};
	return cmocka_run_group_tests(tests, setup, teardown);
}
