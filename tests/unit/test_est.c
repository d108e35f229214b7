/* SPDX-License-Identifier: ISC */
/* EST (ca/est_wire.h, ca/est_enrol.h): the bodies read back with OpenSSL, and enrolments
 * decided against a real store and the real local signer: the CSR checks table, the
 * credentials, the profile's end, the signer's absence and full queue, an enrolment a
 * crash interrupted, operation delete,
 * re-enrolment and superseded certificates, serverkeygen. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "ca/ca_crl.h"
#include "ca/capf.h"
#include "ca/est_enrol.h"
#include "ca/est_wire.h"
#include "ca_fixture.h"

#include <errno.h>
#include <openssl/pkcs7.h>
#include <openssl/x509v3.h>
#include <string.h>

#define NOW 1900000000 /* inside the test CA's validity (made at the real now) */

/* --- the wire ---------------------------------------------------------------------------- */

static void test_base64(void **state)
{
	(void)state;
	const unsigned char in[] = "\x00\xff\x10telgate EST";
	for (size_t n = 0; n < sizeof in; n++) {
		char *b = NULL;
		size_t blen = 0;
		assert_int_equal(est_base64_encode(in, n, &b, &blen), 0);
		assert_int_equal(blen, (n + 2) / 3 * 4);
		assert_null(strpbrk(b, "\r\n")); /* RFC 8951: no line breaks */
		unsigned char *out = NULL;
		size_t olen = 0;
		assert_int_equal(est_base64_decode(b, blen, 64, &out, &olen), 0);
		assert_int_equal(olen, n);
		assert_memory_equal(out, in, n);
		free(out);
		free(b);
	}
	unsigned char *out = NULL;
	size_t olen = 0;
	/* Whitespace anywhere, padding or none. */
	const char *ws = " dGVs\r\nZ2F0\nZQ== \n";
	assert_int_equal(est_base64_decode(ws, strlen(ws), 64, &out, &olen), 0);
	assert_int_equal(olen, 7);
	assert_memory_equal(out, "telgate", 7);
	free(out);
	assert_int_equal(est_base64_decode("dGVsZ2F0ZQ", 10, 64, &out, &olen), 0);
	assert_int_equal(olen, 7);
	free(out);
	/* Refused: outside the alphabet, padding in the middle, a length no encoding has,
	 * too long for max. */
	assert_int_equal(est_base64_decode("dGV*", 4, 64, &out, &olen), -EINVAL);
	assert_null(out);
	assert_int_equal(est_base64_decode("dG==ZQ==", 8, 64, &out, &olen), -EINVAL);
	assert_int_equal(est_base64_decode("dGVsZ", 5, 64, &out, &olen), -EINVAL);
	assert_int_equal(est_base64_decode("dGVsZ2F0ZQ===", 13, 64, &out, &olen), -EINVAL);
	/* Non-zero unused bits in the last group ("ZR" for "ZQ"): no encoder writes them. */
	assert_int_equal(est_base64_decode("dGVsZ2F0ZR==", 12, 64, &out, &olen), -EINVAL);
	assert_int_equal(est_base64_decode("dGVsZ2F0ZQ==", 12, 6, &out, &olen), -E2BIG);
	assert_int_equal(est_base64_decode("", 0, 6, &out, &olen), 0);
	assert_int_equal(olen, 0);
	free(out);
}

static X509 *read_cert(const char *path)
{
	FILE *f = fopen(path, "r");
	assert_non_null(f);
	X509 *x = PEM_read_X509(f, NULL, NULL, NULL);
	fclose(f);
	assert_non_null(x);
	return x;
}

/* A certs-only answer read back with OpenSSL: the same certificates, in order. */
static void test_certs_only(void **state)
{
	(void)state;
	char path[256];
	snprintf(path, sizeof path, "%s/ca.crt", tu_ca.pki);
	X509 *certs[2] = {read_cert(path), NULL};
	snprintf(path, sizeof path, "%s/trustlist.crt", tu_ca.pki);
	certs[1] = read_cert(path);
	unsigned char *der = NULL;
	size_t len = 0;
	assert_int_equal(est_certs_only(certs, 2, &der, &len), 0);
	char *b64 = NULL;
	size_t blen = 0;
	assert_int_equal(est_base64_encode(der, len, &b64, &blen), 0);
	unsigned char *back = NULL;
	size_t backlen = 0;
	assert_int_equal(est_base64_decode(b64, blen, 65536, &back, &backlen), 0);
	const unsigned char *p = back;
	PKCS7 *p7 = d2i_PKCS7(NULL, &p, (long)backlen);
	assert_non_null(p7);
	assert_true(PKCS7_type_is_signed(p7));
	assert_null(p7->d.sign->contents->d.data); /* no eContent: degenerate */
	assert_int_equal(sk_PKCS7_SIGNER_INFO_num(p7->d.sign->signer_info), 0);
	STACK_OF(X509) *got = p7->d.sign->cert;
	assert_int_equal(sk_X509_num(got), 2);
	for (int i = 0; i < 2; i++)
		assert_int_equal(X509_cmp(sk_X509_value(got, i), certs[i]), 0);
	PKCS7_free(p7);
	free(back);
	free(b64);
	OPENSSL_free(der);
	X509_free(certs[0]);
	X509_free(certs[1]);
}

/* The certs-only answer written around a certificate's DER is OpenSSL's, byte for byte. */
static void test_certs_only_der(void **state)
{
	(void)state;
	char path[256];
	const char *names[] = {"ca.crt", "trustlist.crt"}; /* a short and a long certificate */
	for (int i = 0; i < 2; i++) {
		snprintf(path, sizeof path, "%s/%s", tu_ca.pki, names[i]);
		X509 *x = read_cert(path);
		unsigned char *cder = NULL, *want = NULL, *got = NULL;
		int clen = i2d_X509(x, &cder);
		size_t wlen = 0, glen = 0;
		assert_true(clen > 0);
		assert_int_equal(est_certs_only(&x, 1, &want, &wlen), 0);
		assert_int_equal(est_certs_only_der(cder, (size_t)clen, &got, &glen), 0);
		assert_int_equal(glen, wlen);
		assert_memory_equal(got, want, wlen);
		free(got);
		OPENSSL_free(want);
		OPENSSL_free(cder);
		X509_free(x);
	}
	unsigned char *der;
	size_t len;
	assert_int_equal(est_certs_only_der(NULL, 0, &der, &len), -EINVAL);
}

static void test_csrattrs(void **state)
{
	(void)state;
	/* SEQUENCE { ecdsa-with-SHA256, SEQUENCE { id-ecPublicKey, SET { prime256v1 } } } */
	static const unsigned char p256[] = {0x30, 0x21, 0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d,
	                                     0x04, 0x03, 0x02, 0x30, 0x15, 0x06, 0x07, 0x2a, 0x86,
	                                     0x48, 0xce, 0x3d, 0x02, 0x01, 0x31, 0x0a, 0x06, 0x08,
	                                     0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07};
	unsigned char *der = NULL;
	size_t len = 0;
	assert_int_equal(est_csrattrs(CA_KEY_EC_P256, &der, &len), 0);
	assert_int_equal(len, sizeof p256);
	assert_memory_equal(der, p256, len);
	free(der);
	for (int t = CA_KEY_EC_P384; t <= CA_KEY_RSA_3072; t++) {
		assert_int_equal(est_csrattrs((enum ca_key_type)t, &der, &len), 0);
		const unsigned char *p = der;
		ASN1_TYPE *a = d2i_ASN1_TYPE(NULL, &p, (long)len); /* well-formed DER */
		assert_non_null(a);
		assert_int_equal(ASN1_TYPE_get(a), V_ASN1_SEQUENCE);
		assert_ptr_equal(p, der + len);
		ASN1_TYPE_free(a);
		free(der);
	}
}

static void test_basic(void **state)
{
	(void)state;
	char user[65], pass[129];
	size_t plen = 0;
	/* "1234:se:cret" */
	assert_int_equal(
	    est_basic_parse("Basic MTIzNDpzZTpjcmV0", user, sizeof user, pass, sizeof pass, &plen),
	    0);
	assert_string_equal(user, "1234");
	assert_string_equal(pass, "se:cret");
	assert_int_equal(plen, 7);
	assert_int_equal(est_basic_parse("basic   MTIzNDpzZTpjcmV0", user, sizeof user, pass,
	                                 sizeof pass, &plen),
	                 0);
	assert_int_equal(est_basic_parse("Bearer abc", user, sizeof user, pass, sizeof pass, &plen),
	                 -ENOENT);
	assert_int_equal(est_basic_parse("Basic", user, sizeof user, pass, sizeof pass, &plen),
	                 -ENOENT);
	/* no colon; not base64; a NUL inside ("a\0:b") */
	assert_int_equal(
	    est_basic_parse("Basic MTIzNA==", user, sizeof user, pass, sizeof pass, &plen),
	    -EINVAL);
	assert_int_equal(est_basic_parse("Basic ***", user, sizeof user, pass, sizeof pass, &plen),
	                 -EINVAL);
	assert_int_equal(
	    est_basic_parse("Basic YQA6Yg==", user, sizeof user, pass, sizeof pass, &plen),
	    -EINVAL);
	/* a user too long for the buffer */
	assert_int_equal(
	    est_basic_parse("Basic MTIzNDpzZTpjcmV0", user, 4, pass, sizeof pass, &plen), -EINVAL);
}

static void test_answers(void **state)
{
	(void)state;
	for (int o = 0; o < EST_OUTCOMES; o++) {
		const struct est_answer *a = est_answer_of((enum est_outcome)o);
		assert_true(a->status >= 200 && a->status < 600);
		assert_non_null(a->text);
		assert_string_not_equal(est_outcome_name((enum est_outcome)o), "?");
	}
	assert_int_equal(est_answer_of(EST_AUTH)->status, 401);
	assert_int_equal(est_answer_of(EST_AUTH)->www_authenticate, 1);
	assert_int_equal(est_answer_of(EST_BUSY)->status, 202);
	assert_true(est_answer_of(EST_BUSY)->retry_after_s > 0);
	assert_int_equal(est_answer_of(EST_UNAVAILABLE)->status, 503);
	assert_true(est_answer_of(EST_UNAVAILABLE)->retry_after_s > 0);
	assert_int_equal(est_answer_of(EST_BAD_CSR)->status, 400);
}

/* --- enrolments ----------------------------------------------------------------------------- */

static const struct dir_passwd_params weak = {.t = 1, .m_kib = 8};

struct efx {
	struct fx *f;
	unsigned char key[CAPF_KEY_BYTES];
	char secret[CAPF_GENERATED_LEN + 1];
	struct capf_guard *guard;
	struct est_ctx ctx;
};

static int efx_setup(void **state)
{
	fx_setup(state);
	struct efx *e = calloc(1, sizeof *e);
	e->f = *state;
	struct store_user u;
	memset(&u, 0, sizeof u);
	snprintf(u.userid, sizeof u.userid, "wwhite");
	u.status = STORE_USER_ACTIVE;
	snprintf(u.credentialpolicy, sizeof u.credentialpolicy, "Default Credential Policy");
	assert_int_equal(store_user_put(e->f->st.st, &u), STORE_OK);
	char err[256];
	assert_int_equal(capf_key_load(e->f->st.dir, e->key, err, sizeof err), 0);
	capf_generate(e->secret);
	e->guard = capf_guard_new(0);
	e->ctx = (struct est_ctx){.store = e->f->st.st,
	                          .signer = e->f->signer,
	                          .capf_key = e->key,
	                          .guard = e->guard,
	                          .crl = {.dir = e->f->pki, .days = 7},
	                          .client_days = 30,
	                          .ca = e->f->ca,
	                          .grace_s = 0};
	*state = e;
	return 0;
}

static int efx_teardown(void **state)
{
	struct efx *e = *state;
	capf_guard_free(e->guard);
	void *f = e->f;
	free(e);
	return fx_teardown(&f);
}

static void add_profile(struct efx *e, const char *id, const char *keytype, const char *op)
{
	struct capf_secret sec;
	assert_int_equal(capf_secret_make(e->key, &weak, id, e->secret, strlen(e->secret), 1, &sec),
	                 0);
	struct store_capfprofile p;
	memset(&p, 0, sizeof p);
	snprintf(p.instanceid, sizeof p.instanceid, "%s", id);
	snprintf(p.userid, sizeof p.userid, "wwhite");
	snprintf(p.authmode, sizeof p.authmode, "string");
	snprintf(p.secretkind, sizeof p.secretkind, "%s", sec.kind);
	snprintf(p.secrethash, sizeof p.secrethash, "%s", sec.hash);
	snprintf(p.keytype, sizeof p.keytype, "%s", keytype);
	snprintf(p.operation, sizeof p.operation, "%s", op);
	p.created = NOW - 10;
	p.expires = NOW + 86400;
	assert_int_equal(store_capf_add(e->f->st.st, &p), STORE_OK);
}

/* A CSR (DER) for key with subject CN=cn and, when ext is set, the extensions a hostile
 * client asks for: CA:TRUE, serverAuth + codeSigning, a DNS SAN. bad_sig flips a bit of
 * the signature. */
static unsigned char *make_csr(EVP_PKEY *key, const char *cn, int ext, int bad_sig, size_t *len)
{
	X509_REQ *r = X509_REQ_new();
	X509_NAME *n = X509_NAME_new();
	X509_NAME_add_entry_by_txt(n, "CN", MBSTRING_ASC, (const unsigned char *)cn, -1, -1, 0);
	X509_REQ_set_subject_name(r, n);
	X509_NAME_free(n);
	X509_REQ_set_pubkey(r, key);
	if (ext) {
		STACK_OF(X509_EXTENSION) *exts = sk_X509_EXTENSION_new_null();
		sk_X509_EXTENSION_push(exts, X509V3_EXT_conf_nid(NULL, NULL, NID_basic_constraints,
		                                                 "critical,CA:TRUE"));
		sk_X509_EXTENSION_push(exts, X509V3_EXT_conf_nid(NULL, NULL, NID_ext_key_usage,
		                                                 "serverAuth,codeSigning"));
		sk_X509_EXTENSION_push(exts, X509V3_EXT_conf_nid(NULL, NULL, NID_subject_alt_name,
		                                                 "DNS:evil.example"));
		X509_REQ_add_extensions(r, exts);
		sk_X509_EXTENSION_pop_free(exts, X509_EXTENSION_free);
	}
	assert_true(X509_REQ_sign(r, key, EVP_sha256()) > 0);
	unsigned char *der = NULL;
	int l = i2d_X509_REQ(r, &der);
	assert_true(l > 0);
	X509_REQ_free(r);
	if (bad_sig)
		der[l - 3] ^= 0x01; /* inside the signature's last INTEGER */
	*len = (size_t)l;
	return der;
}

static struct est_req basic_req(struct efx *e, enum est_op op, const char *id, const char *s,
                                const unsigned char *csr, size_t len)
{
	(void)e;
	return (struct est_req){.op = op,
	                        .basic = 1,
	                        .instanceid = id,
	                        .secret = s,
	                        .secret_len = strlen(s),
	                        .csr = csr,
	                        .csr_len = len,
	                        .source = "192.0.2.1",
	                        .cid = "test-cid",
	                        .now = NOW};
}

static X509 *issued_x509(const struct est_result *r)
{
	const unsigned char *p = r->cert.der;
	X509 *x = d2i_X509(NULL, &p, (long)r->cert.der_len);
	assert_non_null(x);
	return x;
}

static void profile_is(struct efx *e, const char *id, const char *status, int used)
{
	struct store_capfprofile p;
	assert_int_equal(store_capf_get(e->f->st.st, id, NOW, &p), STORE_OK);
	assert_string_equal(p.status, status);
	assert_int_equal(p.used, used);
}

/* The CSR checks table (docs/enrolment.md "EST"): refused before or after the string is
 * used, or ignored. */
static void test_csr_table(void **state)
{
	struct efx *e = *state;
	EVP_PKEY *p256 = EVP_EC_gen("P-256"), *p384 = EVP_EC_gen("P-384");
	EVP_PKEY *p521 = EVP_EC_gen("P-521");
	add_profile(e, "1", "ec-p256", "install");
	add_profile(e, "2", "ec-p256", "install");
	size_t len;
	struct est_result r;

	/* Garbage and a broken signature: 400 before the credentials; the string stays. */
	unsigned char junk[] = {0x30, 0x03, 0x02, 0x01, 0x01};
	struct est_req q = basic_req(e, EST_OP_ENROLL, "1", e->secret, junk, sizeof junk);
	est_enrol(&e->ctx, &q, &r);
	assert_int_equal(r.outcome, EST_BAD_CSR);
	est_result_free(&r);
	unsigned char *bad = make_csr(p256, "wwhite", 0, 1, &len);
	q = basic_req(e, EST_OP_ENROLL, "1", e->secret, bad, len);
	est_enrol(&e->ctx, &q, &r);
	assert_int_equal(r.outcome, EST_BAD_CSR);
	assert_non_null(strstr(r.reason, "signature"));
	est_result_free(&r);
	OPENSSL_free(bad);
	/* A key the CA never issues for (P-521): 400, string kept. */
	unsigned char *c521 = make_csr(p521, "wwhite", 0, 0, &len);
	q = basic_req(e, EST_OP_ENROLL, "1", e->secret, c521, len);
	est_enrol(&e->ctx, &q, &r);
	assert_int_equal(r.outcome, EST_BAD_CSR);
	est_result_free(&r);
	OPENSSL_free(c521);
	profile_is(e, "1", "pending", 0);

	/* An allowed key that is not the profile's: 400 and the profile failed. */
	unsigned char *c384 = make_csr(p384, "wwhite", 0, 0, &len);
	q = basic_req(e, EST_OP_ENROLL, "1", e->secret, c384, len);
	est_enrol(&e->ctx, &q, &r);
	assert_int_equal(r.outcome, EST_BAD_CSR);
	assert_non_null(strstr(r.reason, "ec-p384"));
	est_result_free(&r);
	OPENSSL_free(c384);
	profile_is(e, "1", "failed", 1);
	/* The whole reason, its last word included (a 120-byte buffer once cut "rsa-2048"). */
	add_profile(e, "3", "ec-p256", "install");
	EVP_PKEY *rsa = EVP_RSA_gen(2048);
	unsigned char *crsa = make_csr(rsa, "wwhite", 0, 0, &len);
	q = basic_req(e, EST_OP_ENROLL, "3", e->secret, crsa, len);
	est_enrol(&e->ctx, &q, &r);
	assert_int_equal(r.outcome, EST_BAD_CSR);
	const char *tail = "the profile asks for ec-p256, the request has rsa-2048";
	assert_true(strlen(r.reason) > strlen(tail));
	assert_string_equal(r.reason + strlen(r.reason) - strlen(tail), tail);
	est_result_free(&r);
	OPENSSL_free(crsa);
	EVP_PKEY_free(rsa);
	profile_is(e, "1", "failed", 1);

	/* Another CN, CA:TRUE, more EKUs, a SAN: ignored, the certificate is the profile's. */
	unsigned char *evil = make_csr(p256, "root", 1, 0, &len);
	q = basic_req(e, EST_OP_ENROLL, "2", e->secret, evil, len);
	est_enrol(&e->ctx, &q, &r);
	assert_int_equal(r.outcome, EST_ISSUED);
	X509 *x = issued_x509(&r);
	char cn[64];
	X509_NAME_get_text_by_NID(X509_get_subject_name(x), NID_commonName, cn, sizeof cn);
	assert_string_equal(cn, "wwhite");
	assert_int_equal(X509_check_ca(x), 0);
	assert_int_equal(X509_get_extended_key_usage(x), XKU_SSL_CLIENT);
	GENERAL_NAMES *sans = X509_get_ext_d2i(x, NID_subject_alt_name, NULL, NULL);
	assert_int_equal(sk_GENERAL_NAME_num(sans), 1);
	assert_int_equal(sk_GENERAL_NAME_value(sans, 0)->type, GEN_URI);
	GENERAL_NAMES_free(sans);
	assert_int_equal(EVP_PKEY_eq(X509_get0_pubkey(x), p256), 1);
	X509_free(x);
	profile_is(e, "2", "success", 1);
	struct store_capfprofile p;
	assert_int_equal(store_capf_get(e->f->st.st, "2", NOW, &p), STORE_OK);
	assert_string_equal(p.serial, r.cert.serial);
	struct store_issuedcert row;
	assert_int_equal(store_issuedcert_get(e->f->st.st, r.cert.serial, &row), STORE_OK);
	assert_string_equal(row.instanceid, "2");
	est_result_free(&r);

	/* The same string again: used up, 401 as for any other refusal. */
	q = basic_req(e, EST_OP_ENROLL, "2", e->secret, evil, len);
	est_enrol(&e->ctx, &q, &r);
	assert_int_equal(r.outcome, EST_AUTH);
	assert_string_equal(r.reason, "");
	est_result_free(&r);
	OPENSSL_free(evil);
	EVP_PKEY_free(p256);
	EVP_PKEY_free(p384);
	EVP_PKEY_free(p521);
}

static void test_credentials(void **state)
{
	struct efx *e = *state;
	EVP_PKEY *k = EVP_EC_gen("P-256");
	size_t len;
	unsigned char *csr = make_csr(k, "x", 0, 0, &len);
	add_profile(e, "7", "ec-p256", "install");
	struct est_result r;
	/* unknown id, wrong string, no credentials at all: the same outcome */
	struct est_req q = basic_req(e, EST_OP_ENROLL, "8", e->secret, csr, len);
	est_enrol(&e->ctx, &q, &r);
	assert_int_equal(r.outcome, EST_AUTH);
	est_result_free(&r);
	q = basic_req(e, EST_OP_ENROLL, "7", "WRONGWRONGWRONGWRONGWRONGW", csr, len);
	est_enrol(&e->ctx, &q, &r);
	assert_int_equal(r.outcome, EST_AUTH);
	est_result_free(&r);
	q.basic = 0;
	est_enrol(&e->ctx, &q, &r);
	assert_int_equal(r.outcome, EST_AUTH);
	est_result_free(&r);
	/* simplereenroll without a certificate */
	q = basic_req(e, EST_OP_REENROLL, "7", e->secret, csr, len);
	est_enrol(&e->ctx, &q, &r);
	assert_int_equal(r.outcome, EST_CERT_REFUSED);
	est_result_free(&r);
	profile_is(e, "7", "pending", 0);
	OPENSSL_free(csr);
	EVP_PKEY_free(k);
}

/* The signer not running, or its queue full: the client may retry with the same string. */
static void test_signer_failures(void **state)
{
	struct efx *e = *state;
	EVP_PKEY *k = EVP_EC_gen("P-256");
	size_t len;
	unsigned char *csr = make_csr(k, "x", 0, 0, &len);
	add_profile(e, "9", "ec-p256", "install");
	struct est_result r;
	struct est_req q = basic_req(e, EST_OP_ENROLL, "9", e->secret, csr, len);
	tu_signer_fail = -EAGAIN;
	est_enrol(&e->ctx, &q, &r);
	assert_int_equal(r.outcome, EST_UNAVAILABLE);
	est_result_free(&r);
	profile_is(e, "9", "pending", 0);
	tu_signer_fail = -EBUSY;
	est_enrol(&e->ctx, &q, &r);
	assert_int_equal(r.outcome, EST_BUSY);
	est_result_free(&r);
	profile_is(e, "9", "pending", 0);
	tu_signer_fail = 0;
	est_enrol(&e->ctx, &q, &r);
	assert_int_equal(r.outcome, EST_ISSUED);
	est_result_free(&r);
	profile_is(e, "9", "success", 1);
	OPENSSL_free(csr);
	EVP_PKEY_free(k);
}

static int count_valid(void *ud, const struct store_issuedcert *c)
{
	if (c->status == STORE_CERT_VALID)
		(*(int *)ud)++;
	return 0;
}

/* Re-enrolment with the certificate; the old one superseded (at once with grace 0, by
 * the sweep otherwise); a revoked certificate refused; operation delete. */
static void test_reenroll_and_delete(void **state)
{
	struct efx *e = *state;
	EVP_PKEY *k1 = EVP_EC_gen("P-256"), *k2 = EVP_EC_gen("P-256");
	size_t l1, l2;
	unsigned char *c1 = make_csr(k1, "x", 0, 0, &l1), *c2 = make_csr(k2, "x", 0, 0, &l2);
	add_profile(e, "42", "ec-p256", "install");
	struct est_result r1, r2, r3;
	struct est_req q = basic_req(e, EST_OP_ENROLL, "42", e->secret, c1, l1);
	est_enrol(&e->ctx, &q, &r1);
	assert_int_equal(r1.outcome, EST_ISSUED);
	X509 *old = issued_x509(&r1);

	/* grace 60 s: the old one stays valid until the sweep runs after the grace */
	e->ctx.grace_s = 60;
	q = (struct est_req){.op = EST_OP_REENROLL,
	                     .client_cert = old,
	                     .csr = c2,
	                     .csr_len = l2,
	                     .source = "192.0.2.1",
	                     .cid = "t",
	                     .now = NOW + 10};
	est_enrol(&e->ctx, &q, &r2);
	assert_int_equal(r2.outcome, EST_ISSUED);
	assert_string_equal(r2.user, "wwhite");
	assert_string_equal(r2.instanceid, "42");
	int valid = 0;
	store_issuedcerts(e->f->st.st, "wwhite", count_valid, &valid);
	assert_int_equal(valid, 2);
	char err[256];
	assert_int_equal(est_supersede_sweep(e->f->st.st, e->f->signer, &e->ctx.crl, 60, NOW + 69,
	                                     "t", err, sizeof err),
	                 0);
	assert_int_equal(est_supersede_sweep(e->f->st.st, e->f->signer, &e->ctx.crl, 60, NOW + 70,
	                                     "t", err, sizeof err),
	                 1);
	struct store_issuedcert row;
	assert_int_equal(store_issuedcert_get(e->f->st.st, r1.cert.serial, &row), STORE_OK);
	assert_int_equal(row.status, STORE_CERT_REVOKED);
	assert_string_equal(row.revocation_reason, "superseded");

	/* the revoked one cannot re-enrol */
	est_enrol(&e->ctx, &q, &r3);
	assert_int_equal(r3.outcome, EST_CERT_REFUSED);
	assert_non_null(strstr(r3.reason, "revoked"));
	est_result_free(&r3);

	/* grace 0: re-enrolling with the second revokes it at once */
	e->ctx.grace_s = 0;
	X509 *second = issued_x509(&r2);
	q.client_cert = second;
	q.csr = c1;
	q.csr_len = l1;
	est_enrol(&e->ctx, &q, &r3);
	assert_int_equal(r3.outcome, EST_ISSUED);
	assert_int_equal(store_issuedcert_get(e->f->st.st, r2.cert.serial, &row), STORE_OK);
	assert_int_equal(row.status, STORE_CERT_REVOKED);

	/* operation delete: the instance's valid certificate revoked, none issued */
	add_profile(e, "43", "ec-p256", "delete");
	assert_int_equal(store_capf_delete(e->f->st.st, "42"), STORE_OK);
	struct est_result r4;
	q = basic_req(e, EST_OP_ENROLL, "43", e->secret, c1, l1);
	est_enrol(&e->ctx, &q, &r4);
	assert_int_equal(r4.outcome, EST_REVOKED); /* no certificate of instance 43 */
	assert_int_equal(r4.revoked, 0);
	profile_is(e, "43", "success", 1);
	est_result_free(&r4);

	X509_free(old);
	X509_free(second);
	est_result_free(&r1);
	est_result_free(&r2);
	est_result_free(&r3);
	OPENSSL_free(c1);
	OPENSSL_free(c2);
	EVP_PKEY_free(k1);
	EVP_PKEY_free(k2);
}

/* A crash after the string was consumed (the engine killed, the power): before the
 * certificate was recorded (60), or after (61, its certificate never sent). The next start
 * puts both back; the same strings enrol once more; 61's unsent certificate is superseded
 * by the new one. Ended and unused profiles are left alone. */
static void test_interrupted_enrolment(void **state)
{
	struct efx *e = *state;
	EVP_PKEY *k = EVP_EC_gen("P-256");
	size_t len;
	unsigned char *csr = make_csr(k, "x", 0, 0, &len);
	const char *ids[] = {"60", "61", "62", "63"};
	for (size_t i = 0; i < 4; i++)
		add_profile(e, ids[i], "ec-p256", "install");
	struct est_result r;
	struct est_req q = basic_req(e, EST_OP_ENROLL, "62", e->secret, csr, len);
	est_enrol(&e->ctx, &q, &r);
	assert_int_equal(r.outcome, EST_ISSUED);
	est_result_free(&r);
	struct store_capfprofile p;
	for (size_t i = 0; i < 2; i++) {
		const struct capf_auth_req ar = {.instanceid = ids[i],
		                                 .secret = e->secret,
		                                 .secret_len = strlen(e->secret),
		                                 .source = "192.0.2.1",
		                                 .now = NOW,
		                                 .cid = "t"};
		assert_int_equal(capf_authenticate(e->f->st.st, e->key, e->guard, &ar, &p),
		                 CAPF_AUTH_OK);
	}
	char unsent[33];
	tu_issue(e->f, "wwhite", "61", "61", 30, NOW - 100, unsent);
	/* The crash: the strings are used up, no client has a certificate. */
	q = basic_req(e, EST_OP_ENROLL, "60", e->secret, csr, len);
	est_enrol(&e->ctx, &q, &r);
	assert_int_equal(r.outcome, EST_AUTH);
	est_result_free(&r);
	profile_is(e, "60", "pending", 1);

	/* The next start. */
	assert_int_equal(est_release_interrupted(e->f->st.st, "t"), 2);
	profile_is(e, "60", "pending", 0);
	profile_is(e, "61", "pending", 0);
	profile_is(e, "62", "success", 1);
	profile_is(e, "63", "pending", 0);
	assert_int_equal(est_release_interrupted(e->f->st.st, "t"), 0);
	for (size_t i = 0; i < 2; i++) {
		q = basic_req(e, EST_OP_ENROLL, ids[i], e->secret, csr, len);
		est_enrol(&e->ctx, &q, &r);
		assert_int_equal(r.outcome, EST_ISSUED);
		est_result_free(&r);
		profile_is(e, ids[i], "success", 1);
		est_enrol(&e->ctx, &q, &r); /* still single use */
		assert_int_equal(r.outcome, EST_AUTH);
		est_result_free(&r);
	}
	char err[256];
	assert_int_equal(est_supersede_sweep(e->f->st.st, e->f->signer, &e->ctx.crl, 0, NOW, "t",
	                                     err, sizeof err),
	                 1);
	struct store_issuedcert row;
	assert_int_equal(store_issuedcert_get(e->f->st.st, unsent, &row), STORE_OK);
	assert_int_equal(row.status, STORE_CERT_REVOKED);
	assert_string_equal(row.revocation_reason, "superseded");
	OPENSSL_free(csr);
	EVP_PKEY_free(k);
}

static void test_delete_revokes(void **state)
{
	struct efx *e = *state;
	char serial[33];
	tu_issue(e->f, "wwhite", "77", "77", 30, NOW, serial);
	add_profile(e, "77", "ec-p256", "delete");
	EVP_PKEY *k = EVP_EC_gen("P-256");
	size_t len;
	unsigned char *csr = make_csr(k, "x", 0, 0, &len);
	struct est_result r;
	struct est_req q = basic_req(e, EST_OP_ENROLL, "77", e->secret, csr, len);
	est_enrol(&e->ctx, &q, &r);
	assert_int_equal(r.outcome, EST_REVOKED);
	assert_int_equal(r.revoked, 1);
	struct store_issuedcert row;
	assert_int_equal(store_issuedcert_get(e->f->st.st, serial, &row), STORE_OK);
	assert_int_equal(row.status, STORE_CERT_REVOKED);
	assert_string_equal(row.revocation_reason, "cessationOfOperation");
	struct store_capfprofile p;
	assert_int_equal(store_capf_get(e->f->st.st, "77", NOW, &p), STORE_OK);
	assert_string_equal(p.status, "success");
	assert_string_equal(p.serial, serial);
	est_result_free(&r);
	OPENSSL_free(csr);
	EVP_PKEY_free(k);
}

/* serverkeygen: telgate's key (the profile's type) and its certificate; the multipart body. */
static void test_serverkeygen(void **state)
{
	struct efx *e = *state;
	add_profile(e, "5", "ec-p384", "install");
	EVP_PKEY *any = EVP_EC_gen("P-256"); /* RFC 7030 §4.4.1: the CSR's key is not used */
	size_t len;
	unsigned char *csr = make_csr(any, "x", 0, 0, &len);
	struct est_result r;
	struct est_req q = basic_req(e, EST_OP_SERVERKEYGEN, "5", e->secret, csr, len);
	est_enrol(&e->ctx, &q, &r);
	assert_int_equal(r.outcome, EST_ISSUED);
	assert_non_null(r.key);
	const unsigned char *p = r.key;
	PKCS8_PRIV_KEY_INFO *p8 = d2i_PKCS8_PRIV_KEY_INFO(NULL, &p, (long)r.key_len);
	assert_non_null(p8);
	EVP_PKEY *k = EVP_PKCS82PKEY(p8);
	PKCS8_PRIV_KEY_INFO_free(p8);
	assert_int_equal(ca_key_type_of(k), CA_KEY_EC_P384);
	X509 *x = issued_x509(&r);
	assert_int_equal(X509_check_private_key(x, k), 1);
	char *body = NULL;
	size_t blen = 0;
	assert_int_equal(
	    est_serverkeygen_body(r.key, r.key_len, r.cert.der, r.cert.der_len, &body, &blen), 0);
	assert_non_null(strstr(body, "Content-Type: application/pkcs8\r\n"));
	assert_non_null(strstr(body, "Content-Type: " EST_CT_CERTS "\r\n"));
	assert_non_null(strstr(body, "\r\n--" EST_BOUNDARY "--\r\n"));
	free(body);
	X509_free(x);
	EVP_PKEY_free(k);
	est_result_free(&r);
	OPENSSL_free(csr);
	EVP_PKEY_free(any);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_base64),
	    cmocka_unit_test(test_certs_only),
	    cmocka_unit_test(test_certs_only_der),
	    cmocka_unit_test(test_csrattrs),
	    cmocka_unit_test(test_basic),
	    cmocka_unit_test(test_answers),
	    cmocka_unit_test_setup_teardown(test_csr_table, efx_setup, efx_teardown),
	    cmocka_unit_test_setup_teardown(test_credentials, efx_setup, efx_teardown),
	    cmocka_unit_test_setup_teardown(test_signer_failures, efx_setup, efx_teardown),
	    cmocka_unit_test_setup_teardown(test_reenroll_and_delete, efx_setup, efx_teardown),
	    cmocka_unit_test_setup_teardown(test_interrupted_enrolment, efx_setup, efx_teardown),
	    cmocka_unit_test_setup_teardown(test_delete_revokes, efx_setup, efx_teardown),
	    cmocka_unit_test_setup_teardown(test_serverkeygen, efx_setup, efx_teardown),
	};
	return cmocka_run_group_tests(tests, tu_ca_group_setup, tu_ca_group_teardown);
}
