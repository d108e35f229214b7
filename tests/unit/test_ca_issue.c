/* SPDX-License-Identifier: ISC */
/* Client certificates (ca/ca_issue.c) from CSRs that ca/ca_csr.c checked: what the
 * template holds whatever the CSR asks, serials, the validity clamp, the record in the
 * issued-certificates table, and what happens when the signer is away. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <cmocka.h>

#include <errno.h>
#include <openssl/x509v3.h>

#include "ca/ca_bootstrap.h"
#include "ca/ca_csr.h"
#include "ca/ca_issue.h"
#include "tls/servercert.h"
#include "core/log.h"
#include "ca_fixture.h"

/* A CSR for key k that asks for what a hostile client would: another CN, CA:TRUE, more
 * EKUs, a DNS SAN. DER into *der (OPENSSL_free). */
static int hostile_csr(EVP_PKEY *k, unsigned char **der)
{
	X509_REQ *r = X509_REQ_new();
	X509_NAME_add_entry_by_txt(X509_REQ_get_subject_name(r), "CN", MBSTRING_ASC,
	                           (const unsigned char *)"admin", -1, -1, 0);
	X509_NAME_add_entry_by_txt(X509_REQ_get_subject_name(r), "O", MBSTRING_ASC,
	                           (const unsigned char *)"Evil", -1, -1, 0);
	X509_REQ_set_pubkey(r, k);
	STACK_OF(X509_EXTENSION) *exts = sk_X509_EXTENSION_new_null();
	sk_X509_EXTENSION_push(
	    exts, X509V3_EXT_conf_nid(NULL, NULL, NID_basic_constraints, "critical,CA:TRUE"));
	sk_X509_EXTENSION_push(exts, X509V3_EXT_conf_nid(NULL, NULL, NID_ext_key_usage,
	                                                 "serverAuth,clientAuth,codeSigning"));
	sk_X509_EXTENSION_push(exts,
	                       X509V3_EXT_conf_nid(NULL, NULL, NID_subject_alt_name,
	                                           "DNS:evil.example,URI:urn:telgate:instance:1"));
	sk_X509_EXTENSION_push(
	    exts, X509V3_EXT_conf_nid(NULL, NULL, NID_key_usage, "keyCertSign,cRLSign"));
	X509_REQ_add_extensions(r, exts);
	sk_X509_EXTENSION_pop_free(exts, X509_EXTENSION_free);
	X509_REQ_sign(r, k, EVP_sha256());
	*der = NULL;
	int n = i2d_X509_REQ(r, der);
	X509_REQ_free(r);
	return n;
}

static X509 *parse(const unsigned char *der, size_t len)
{
	const unsigned char *p = der;
	X509 *x = d2i_X509(NULL, &p, (long)len);
	assert_non_null(x);
	return x;
}

static void test_template_ignores_the_csr(void **state)
{
	struct fx *f = *state;
	EVP_PKEY *k = EVP_EC_gen("P-256");
	unsigned char *csr = NULL;
	int n = hostile_csr(k, &csr);
	assert_true(n > 0);
	EVP_PKEY *pub = NULL;
	assert_int_equal(ca_csr_check(csr, (size_t)n, CA_KEY_EC_P256, &pub), CA_CSR_OK);
	assert_non_null(pub);

	struct ca_client_request req = {.pubkey = pub,
	                                .userid = "wwhite",
	                                .instanceid = "1234",
	                                .profile = "CAPF-wwhite",
	                                .days = CA_CLIENT_DAYS_DEFAULT};
	struct ca_issued out;
	char err[256] = "";
	time_t t0 = time(NULL);
	assert_int_equal(ca_issue_client(f->signer, f->st.st, &req, &out, err, sizeof err), 0);
	X509 *x = parse(out.der, out.der_len);

	/* Subject: CN = the user id, nothing else. */
	X509_NAME *subj = X509_get_subject_name(x);
	assert_int_equal(X509_NAME_entry_count(subj), 1);
	char cn[80];
	assert_int_equal(X509_NAME_get_text_by_NID(subj, NID_commonName, cn, sizeof cn), 6);
	assert_string_equal(cn, "wwhite");
	assert_int_equal(X509_NAME_cmp(X509_get_issuer_name(x), X509_get_subject_name(f->ca)), 0);
	/* Not a CA, critically; digitalSignature only; clientAuth only. */
	int crit = -1;
	BASIC_CONSTRAINTS *bc = X509_get_ext_d2i(x, NID_basic_constraints, &crit, NULL);
	assert_non_null(bc);
	assert_false(bc->ca);
	assert_int_equal(crit, 1);
	BASIC_CONSTRAINTS_free(bc);
	assert_int_equal(X509_check_ca(x), 0);
	assert_int_equal(X509_get_key_usage(x), KU_DIGITAL_SIGNATURE);
	assert_int_equal(X509_get_extended_key_usage(x), XKU_SSL_CLIENT);
	EXTENDED_KEY_USAGE *eku = X509_get_ext_d2i(x, NID_ext_key_usage, &crit, NULL);
	assert_int_equal(sk_ASN1_OBJECT_num(eku), 1);
	assert_int_equal(OBJ_obj2nid(sk_ASN1_OBJECT_value(eku, 0)), NID_client_auth);
	sk_ASN1_OBJECT_pop_free(eku, ASN1_OBJECT_free);
	/* One SAN: the instance id's URN; none of the CSR's. */
	GENERAL_NAMES *san = X509_get_ext_d2i(x, NID_subject_alt_name, &crit, NULL);
	assert_int_equal(sk_GENERAL_NAME_num(san), 1);
	GENERAL_NAME *gn = sk_GENERAL_NAME_value(san, 0);
	assert_int_equal(gn->type, GEN_URI);
	assert_string_equal((const char *)ASN1_STRING_get0_data(gn->d.uniformResourceIdentifier),
	                    "urn:telgate:instance:1234");
	GENERAL_NAMES_free(san);
	/* Key identifiers: ours (SKI) and the CA's (AKI). */
	assert_non_null(X509_get0_subject_key_id(x));
	assert_non_null(X509_get0_authority_key_id(x));
	assert_int_equal(
	    ASN1_OCTET_STRING_cmp(X509_get0_authority_key_id(x), X509_get0_subject_key_id(f->ca)),
	    0);
	assert_int_equal(X509_get_ext_count(x), 6);
	/* The key is the CSR's. */
	assert_int_equal(EVP_PKEY_eq(X509_get0_pubkey(x), k), 1);

	/* Serial: positive, at most 128 bits, as the table spells it. */
	BIGNUM *bn = ASN1_INTEGER_to_BN(X509_get0_serialNumber(x), NULL);
	assert_false(BN_is_negative(bn));
	assert_false(BN_is_zero(bn));
	assert_true(BN_num_bits(bn) <= 127);
	BN_free(bn);
	char hex[33];
	assert_int_equal(ca_serial_hex(X509_get0_serialNumber(x), hex), 0);
	assert_string_equal(hex, out.serial);
	assert_int_equal(strlen(out.serial), 32);

	/* Validity: 5 minutes back, the configured lifetime forward. */
	int64_t nb = tu_asn1_epoch(X509_get0_notBefore(x)),
	        na = tu_asn1_epoch(X509_get0_notAfter(x));
	assert_true(nb >= (int64_t)t0 - 300 - 2 && nb <= (int64_t)time(NULL) - 300);
	assert_int_equal(na - nb, 730LL * 86400 + 300);
	assert_int_equal(out.notbefore, nb);
	assert_int_equal(out.notafter, na);

	/* It verifies as a TLS client certificate under the CA. */
	X509_STORE *xs = X509_STORE_new();
	X509_STORE_add_cert(xs, f->ca);
	X509_STORE_CTX *ctx = X509_STORE_CTX_new();
	X509_STORE_CTX_init(ctx, xs, x, NULL);
	X509_STORE_CTX_set_purpose(ctx, X509_PURPOSE_SSL_CLIENT);
	assert_int_equal(X509_verify_cert(ctx), 1);
	X509_STORE_CTX_cleanup(ctx);
	X509_STORE_CTX_init(ctx, xs, x, NULL);
	X509_STORE_CTX_set_purpose(ctx, X509_PURPOSE_SSL_SERVER);
	assert_int_equal(X509_verify_cert(ctx), 0); /* not a server certificate */
	X509_STORE_CTX_free(ctx);
	X509_STORE_free(xs);

	/* Recorded before it was returned, with the same bytes. */
	struct store_issuedcert row;
	assert_int_equal(store_issuedcert_get(f->st.st, out.serial, &row), STORE_OK);
	assert_string_equal(row.subject, "CN=wwhite");
	assert_string_equal(row.userid, "wwhite");
	assert_string_equal(row.instanceid, "1234");
	assert_string_equal(row.profile, "CAPF-wwhite");
	assert_int_equal(row.notbefore, nb);
	assert_int_equal(row.notafter, na);
	assert_int_equal(row.status, STORE_CERT_VALID);
	assert_string_equal(row.sha256, out.sha256);
	assert_int_equal(strlen(row.sha256), 95);
	static char pem[8192];
	assert_int_equal(store_issuedcert_pem(f->st.st, out.serial, pem, sizeof pem), STORE_OK);
	assert_string_equal(pem, out.pem);
	BIO *b = BIO_new_mem_buf(pem, -1);
	X509 *y = PEM_read_bio_X509(b, NULL, NULL, NULL);
	BIO_free(b);
	assert_int_equal(X509_cmp(x, y), 0);
	X509_free(y);

	X509_free(x);
	ca_issued_free(&out);
	EVP_PKEY_free(pub);
	EVP_PKEY_free(k);
	OPENSSL_free(csr);
}

static void test_no_instance_and_rsa(void **state)
{
	struct fx *f = *state;
	EVP_PKEY *k = EVP_RSA_gen(2048);
	struct ca_client_request req = {.pubkey = k, .userid = "jpinkman", .days = 30, .ca = f->ca};
	struct ca_issued out;
	char err[256];
	assert_int_equal(ca_issue_client(f->signer, f->st.st, &req, &out, err, sizeof err), 0);
	X509 *x = parse(out.der, out.der_len);
	assert_null(X509_get_ext_d2i(x, NID_subject_alt_name, NULL, NULL));
	assert_int_equal(X509_get_key_usage(x), KU_DIGITAL_SIGNATURE);
	assert_int_equal(out.notafter - out.notbefore, 30LL * 86400 + 300);
	struct store_issuedcert row;
	assert_int_equal(store_issuedcert_get(f->st.st, out.serial, &row), STORE_OK);
	assert_string_equal(row.instanceid, "");
	assert_string_equal(row.profile, "");
	X509_free(x);
	ca_issued_free(&out);
	EVP_PKEY_free(k);
}

static int count_rows(void *ud, const struct store_issuedcert *c);

/* The engine checks the signer's answer from its DER (serial and key, without decoding
 * it): another certificate, or one cut short, is refused and nothing is recorded. */
static void test_signer_answer_checked(void **state)
{
	struct fx *f = *state;
	EVP_PKEY *k = EVP_EC_gen("P-256");
	struct ca_client_request req = {.pubkey = k, .userid = "jpinkman", .days = 30, .ca = f->ca};
	struct ca_issued out;
	char err[256];
	for (int swap = 1; swap <= 2; swap++) {
		tu_signer_swap = swap;
		assert_int_equal(ca_issue_client(f->signer, f->st.st, &req, &out, err, sizeof err),
		                 -EIO);
		assert_non_null(strstr(err, "not the template's"));
		assert_null(out.der);
	}
	int n = 0;
	assert_int_equal(store_issuedcerts(f->st.st, NULL, count_rows, &n), STORE_OK);
	assert_int_equal(n, 0);
	/* The real answer: recorded with the fingerprint of what the client receives. */
	tu_signer_swap = 0;
	assert_int_equal(ca_issue_client(f->signer, f->st.st, &req, &out, err, sizeof err), 0);
	X509 *x = parse(out.der, out.der_len);
	char fp[100];
	tls_cert_sha256(x, fp, sizeof fp);
	struct store_issuedcert row;
	assert_int_equal(store_issuedcert_get(f->st.st, out.serial, &row), STORE_OK);
	assert_string_equal(row.sha256, fp);
	assert_string_equal(out.sha256, fp);
	assert_string_equal(row.subject, "CN=jpinkman");
	char pem[4096];
	assert_int_equal(store_issuedcert_pem(f->st.st, out.serial, pem, sizeof pem), STORE_OK);
	BIO *b = BIO_new_mem_buf(pem, -1);
	X509 *back = PEM_read_bio_X509(b, NULL, NULL, NULL);
	assert_non_null(back);
	assert_int_equal(X509_cmp(back, x), 0);
	BIO_free(b);
	X509_free(back);
	X509_free(x);
	ca_issued_free(&out);
	EVP_PKEY_free(k);
}

/* A lifetime beyond the CA's notAfter ends with the CA. */
static void test_validity_clamp(void **state)
{
	struct fx *f = *state;
	EVP_PKEY *k = EVP_EC_gen("P-256");
	struct ca_client_request req = {.pubkey = k, .userid = "u", .days = 3650};
	struct ca_issued out;
	char err[256];
	assert_int_equal(ca_issue_client(f->signer, f->st.st, &req, &out, err, sizeof err), 0);
	X509 *x = parse(out.der, out.der_len);
	assert_int_equal(ASN1_TIME_compare(X509_get0_notAfter(x), X509_get0_notAfter(f->ca)), 0);
	assert_int_equal(out.notafter, tu_asn1_epoch(X509_get0_notAfter(f->ca)));
	X509_free(x);
	ca_issued_free(&out);
	/* A clock past the CA's end: nothing is issued. */
	req.now = tu_asn1_epoch(X509_get0_notAfter(f->ca)) + 1;
	assert_int_equal(ca_issue_client(f->signer, f->st.st, &req, &out, err, sizeof err), -EIO);
	assert_non_null(strstr(err, "expired"));
	assert_null(out.der);
	/* Nor before its start; within 5 minutes of it, notBefore is the CA's own. */
	int64_t ca_nb = tu_asn1_epoch(X509_get0_notBefore(f->ca));
	req.now = ca_nb - 1;
	assert_int_equal(ca_issue_client(f->signer, f->st.st, &req, &out, err, sizeof err), -EIO);
	assert_non_null(strstr(err, "not valid yet"));
	req.now = ca_nb + 10;
	req.days = 1;
	assert_int_equal(ca_issue_client(f->signer, f->st.st, &req, &out, err, sizeof err), 0);
	assert_int_equal(out.notbefore, ca_nb);
	assert_int_equal(out.notafter, ca_nb + 10 + 86400);
	ca_issued_free(&out);
	EVP_PKEY_free(k);
}

static int count_rows(void *ud, const struct store_issuedcert *c)
{
	(void)c;
	(*(int *)ud)++;
	return 0;
}

static int cmp_serial(const void *a, const void *b)
{
	return strcmp(a, b);
}

/* Many issuances: every serial different, every certificate recorded. */
static void test_serials_unique(void **state)
{
	struct fx *f = *state;
	enum { N = 300 };
	static char serials[N][33];
	EVP_PKEY *k = EVP_EC_gen("P-256");
	struct ca_client_request req = {.pubkey = k, .userid = "bulk", .days = 1, .ca = f->ca};
	for (int i = 0; i < N; i++) {
		struct ca_issued out;
		char err[256];
		assert_int_equal(ca_issue_client(f->signer, f->st.st, &req, &out, err, sizeof err),
		                 0);
		memcpy(serials[i], out.serial, 33);
		ca_issued_free(&out);
	}
	qsort(serials, N, sizeof serials[0], cmp_serial);
	for (int i = 1; i < N; i++)
		assert_string_not_equal(serials[i - 1], serials[i]);
	int rows = 0;
	assert_int_equal(store_issuedcerts(f->st.st, "bulk", count_rows, &rows), STORE_OK);
	assert_int_equal(rows, N);
	EVP_PKEY_free(k);
}

/* Refused before anything is signed; a signer that is away fails cleanly, nothing recorded. */
static void test_refusals(void **state)
{
	struct fx *f = *state;
	EVP_PKEY *k = EVP_EC_gen("P-256");
	struct ca_issued out;
	char err[256];
	const struct {
		struct ca_client_request req;
		const char *why;
	} bad[] = {
	    {{.pubkey = NULL, .userid = "u", .days = 1}, "public key"},
	    {{.pubkey = k, .userid = "", .days = 1}, "user id"},
	    {{.pubkey = k, .userid = NULL, .days = 1}, "user id"},
	    {{.pubkey = k,
	      .userid = "u1234567890123456789012345678901234567890123456789012345678901234",
	      .days = 1},
	     "user id"},
	    {{.pubkey = k, .userid = "a\nb", .days = 1}, "user id"},
	    {{.pubkey = k, .userid = "u", .instanceid = "1,URI:x", .days = 1}, "instance id"},
	    {{.pubkey = k, .userid = "u", .instanceid = "a/b", .days = 1}, "instance id"},
	    {{.pubkey = k, .userid = "u", .days = 0}, "lifetime"},
	    {{.pubkey = k, .userid = "u", .days = 3651}, "lifetime"},
	};
	struct signer_stats before, after;
	signer_stats(f->signer, &before);
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		assert_int_equal(
		    ca_issue_client(f->signer, f->st.st, &bad[i].req, &out, err, sizeof err),
		    -EINVAL);
		assert_non_null(strstr(err, bad[i].why));
	}
	signer_stats(f->signer, &after);
	assert_int_equal(after.served, before.served); /* the signer was never asked */
	/* 64 bytes of user id and of instance id are fine. */
	struct ca_client_request edge = {
	    .pubkey = k,
	    .userid = "u123456789012345678901234567890123456789012345678901234567890123",
	    .instanceid = "i123456789012345678901234567890123456789012345678901234567890_.-",
	    .days = 1};
	assert_int_equal(ca_issue_client(f->signer, f->st.st, &edge, &out, err, sizeof err), 0);
	ca_issued_free(&out);

	struct ca_client_request req = {.pubkey = k, .userid = "away", .days = 1};
	assert_int_equal(ca_issue_client(NULL, f->st.st, &req, &out, err, sizeof err), -EAGAIN);
	assert_string_equal(err, "the signer is not running");
	tu_signer_fail = -EAGAIN;
	assert_int_equal(ca_issue_client(f->signer, f->st.st, &req, &out, err, sizeof err),
	                 -EAGAIN);
	req.ca = f->ca; /* with the CA certificate given, the signing itself fails */
	assert_int_equal(ca_issue_client(f->signer, f->st.st, &req, &out, err, sizeof err),
	                 -EAGAIN);
	tu_signer_fail = -EBUSY;
	assert_int_equal(ca_issue_client(f->signer, f->st.st, &req, &out, err, sizeof err), -EBUSY);
	assert_null(out.der);
	assert_null(out.pem);
	tu_signer_fail = 0;
	int rows = 0;
	assert_int_equal(store_issuedcerts(f->st.st, "away", count_rows, &rows), STORE_OK);
	assert_int_equal(rows, 0);
	EVP_PKEY_free(k);
}

static int csr_der(EVP_PKEY *k, unsigned char **der)
{
	X509_REQ *r = X509_REQ_new();
	X509_REQ_set_pubkey(r, k);
	X509_REQ_sign(r, k, EVP_PKEY_get_base_id(k) == EVP_PKEY_ED25519 ? NULL : EVP_sha256());
	*der = NULL;
	int n = i2d_X509_REQ(r, der);
	X509_REQ_free(r);
	return n;
}

static void test_csr_check(void **state)
{
	(void)state;
	struct {
		EVP_PKEY *k;
		enum ca_key_type type;
	} keys[] = {
	    {EVP_EC_gen("P-256"), CA_KEY_EC_P256},
	    {EVP_EC_gen("P-384"), CA_KEY_EC_P384},
	    {EVP_RSA_gen(2048), CA_KEY_RSA_2048},
	    {EVP_RSA_gen(3072), CA_KEY_RSA_3072},
	    {EVP_RSA_gen(1024), CA_KEY_ANY},   /* too small */
	    {EVP_EC_gen("P-521"), CA_KEY_ANY}, /* not a profile's */
	    {EVP_PKEY_Q_keygen(NULL, NULL, "ED25519"), CA_KEY_ANY},
	};
	for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++) {
		assert_non_null(keys[i].k);
		assert_int_equal(ca_key_type_of(keys[i].k), keys[i].type);
		unsigned char *der = NULL;
		int n = csr_der(keys[i].k, &der);
		assert_true(n > 0);
		EVP_PKEY *pub = (EVP_PKEY *)1;
		if (keys[i].type == CA_KEY_ANY) {
			assert_int_equal(ca_csr_check(der, (size_t)n, CA_KEY_ANY, &pub),
			                 CA_CSR_KEY_TYPE);
			assert_null(pub);
		} else {
			assert_int_equal(ca_csr_check(der, (size_t)n, CA_KEY_ANY, &pub), CA_CSR_OK);
			assert_int_equal(EVP_PKEY_eq(pub, keys[i].k), 1);
			EVP_PKEY_free(pub);
			assert_int_equal(ca_csr_check(der, (size_t)n, keys[i].type, NULL),
			                 CA_CSR_OK);
			enum ca_key_type other =
			    keys[i].type == CA_KEY_EC_P256 ? CA_KEY_RSA_2048 : CA_KEY_EC_P256;
			assert_int_equal(ca_csr_check(der, (size_t)n, other, &pub),
			                 CA_CSR_KEY_MISMATCH);
			assert_null(pub);
			/* A signature that does not verify: no proof of possession. */
			der[n - 1] ^= 0x01;
			assert_int_equal(ca_csr_check(der, (size_t)n, CA_KEY_ANY, &pub),
			                 CA_CSR_SIGNATURE);
			assert_null(pub);
			der[n - 1] ^= 0x01;
			/* Malformed: cut, trailing bytes, empty. */
			assert_int_equal(ca_csr_check(der, (size_t)n - 1, CA_KEY_ANY, NULL),
			                 CA_CSR_MALFORMED);
			unsigned char *longer = malloc((size_t)n + 1);
			memcpy(longer, der, (size_t)n);
			longer[n] = 0;
			assert_int_equal(ca_csr_check(longer, (size_t)n + 1, CA_KEY_ANY, NULL),
			                 CA_CSR_MALFORMED);
			free(longer);
		}
		OPENSSL_free(der);
		EVP_PKEY_free(keys[i].k);
	}
	assert_int_equal(ca_csr_check((const unsigned char *)"", 0, CA_KEY_ANY, NULL),
	                 CA_CSR_MALFORMED);
	assert_int_equal(
	    ca_csr_check((const unsigned char *)"\x30\x03\x02\x01\x01", 5, CA_KEY_ANY, NULL),
	    CA_CSR_MALFORMED);
	/* The names of the profile's key types, both ways. */
	for (int t = 0; t < CA_KEY_TYPES; t++) {
		enum ca_key_type back;
		assert_int_equal(ca_key_type_parse(ca_key_type_name((enum ca_key_type)t), &back),
		                 0);
		assert_int_equal(back, t);
	}
	enum ca_key_type back;
	assert_int_equal(ca_key_type_parse("rsa-4096", &back), -1);
	assert_string_equal(ca_key_type_name(CA_KEY_EC_P384), "ec-p384");
	assert_non_null(strstr(ca_csr_result_text(CA_CSR_SIGNATURE), "proof of possession"));
}

static void test_serial_spelling(void **state)
{
	(void)state;
	char out[33];
	assert_int_equal(ca_serial_normalize("0123456789abcdef0123456789ABCDEF", out), 0);
	assert_string_equal(out, "0123456789ABCDEF0123456789ABCDEF");
	assert_int_equal(ca_serial_normalize("1a:2B:3c", out), 0);
	assert_string_equal(out, "000000000000000000000000001A2B3C");
	assert_int_equal(ca_serial_normalize("", out), -1);
	assert_int_equal(ca_serial_normalize("::", out), -1);
	assert_int_equal(ca_serial_normalize("12g4", out), -1);
	assert_int_equal(ca_serial_normalize("0123456789ABCDEF0123456789ABCDEF0", out), -1);
	assert_string_equal(out, "");

	ASN1_INTEGER *ai = ASN1_INTEGER_new();
	ASN1_INTEGER_set_int64(ai, 0x1A2B3C);
	assert_int_equal(ca_serial_hex(ai, out), 0);
	assert_string_equal(out, "000000000000000000000000001A2B3C");
	ASN1_INTEGER_set_int64(ai, -5);
	assert_int_equal(ca_serial_hex(ai, out), -1);
	BIGNUM *bn = BN_new();
	BN_set_bit(bn, 128); /* 129 bits: not one of ours */
	BN_to_ASN1_INTEGER(bn, ai);
	assert_int_equal(ca_serial_hex(ai, out), -1);
	BN_free(bn);
	ASN1_INTEGER_free(ai);

	assert_true(ca_instance_id_valid("1234"));
	assert_true(ca_instance_id_valid("cti-app_1.2"));
	assert_false(ca_instance_id_valid(""));
	assert_false(ca_instance_id_valid(NULL));
	assert_false(ca_instance_id_valid("a b"));
	assert_false(ca_instance_id_valid("a:b"));
	assert_false(ca_instance_id_valid("é"));
}

int main(void)
{
	char err[128];
	log_configure(LOG_LVL_WARNING, LOG_FMT_KV, "stderr", err, sizeof err); /* 300 issuances */
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_template_ignores_the_csr, fx_setup, fx_teardown),
	    cmocka_unit_test_setup_teardown(test_no_instance_and_rsa, fx_setup, fx_teardown),
	    cmocka_unit_test_setup_teardown(test_validity_clamp, fx_setup, fx_teardown),
	    cmocka_unit_test_setup_teardown(test_signer_answer_checked, fx_setup, fx_teardown),
	    cmocka_unit_test_setup_teardown(test_serials_unique, fx_setup, fx_teardown),
	    cmocka_unit_test_setup_teardown(test_refusals, fx_setup, fx_teardown),
	    cmocka_unit_test(test_csr_check),
	    cmocka_unit_test(test_serial_spelling),
	};
	return cmocka_run_group_tests(tests, tu_ca_group_setup, tu_ca_group_teardown);
}
