/* SPDX-License-Identifier: ISC */
/* The client's trust-list checks (lib/tgtrust.h): first use with a pin, later the list
 * held, a list signed by the recovery key accepted, a tampered and an older list refused,
 * an unreadable held list, pins as written, and the CA store for EST. */
#include "tgtrust.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "tl_fixture.h"

static struct tlf_cert ca, signer, recovery, est;

static int setup(void **state)
{
	(void)state;
	tlf_make(&ca, tlf_ec(), "telgate CA", 1, NULL);
	tlf_make(&signer, tlf_rsa(2048), "telgate trust list", 0x51, NULL);
	tlf_make(&recovery, tlf_rsa(2048), "telgate recovery", 0x52, NULL);
	tlf_make(&est, tlf_ec(), "est.example.net", 0x53, &ca);
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	tlf_free(&ca);
	tlf_free(&signer);
	tlf_free(&recovery);
	tlf_free(&est);
	return 0;
}

/* A CTL as telgate serves it to CTI clients, sequence seq, signed by by. */
static unsigned char *ctl(const struct tlf_cert *by, uint32_t seq, size_t *len)
{
	const struct tl_entry e[] = {
	    {TL_ROLE_SAST, signer.der, signer.len, NULL},
	    {TL_ROLE_SAST, recovery.der, recovery.len, NULL},
	    {TL_ROLE_CAPF, ca.der, ca.len, NULL},
	};
	struct tl_tbs t;
	assert_int_equal(tl_build(e, 3, by->der, by->len, TL_HASH_SHA512, seq, "CTLFile.tlv", &t),
	                 0);
	size_t siglen;
	unsigned char *sig = tlf_sign(by->key, "SHA512", t.data, t.len, &siglen), *out;
	assert_int_equal(tl_assemble(&t, sig, siglen, &out, len), 0);
	free(sig);
	tl_tbs_free(&t);
	return out;
}

static void sha256(const struct tlf_cert *c, unsigned char pin[32])
{
	assert_int_equal(EVP_Digest(c->der, c->len, pin, NULL, EVP_sha256(), NULL), 1);
}

static enum tl_verdict check(const unsigned char *buf, size_t len, const unsigned char *prev,
                             size_t prevlen, const unsigned char *pin, char *err)
{
	struct tl_list *l = malloc(sizeof *l);
	assert_non_null(l);
	enum tl_verdict v = tgtrust_verify(buf, len, prev, prevlen, pin, l, NULL, err, 256);
	free(l);
	return v;
}

static void test_first_use_needs_the_pin(void **state)
{
	(void)state;
	size_t len;
	unsigned char *f = ctl(&signer, 1000, &len), pin[32], other[32];
	char err[256];
	sha256(&signer, pin);
	sha256(&ca, other);
	assert_int_equal(check(f, len, NULL, 0, NULL, err), TL_UNTRUSTED);
	assert_non_null(strstr(err, "--pin"));
	assert_int_equal(check(f, len, NULL, 0, other, err), TL_UNTRUSTED);
	assert_non_null(strstr(err, "fingerprint is not the pinned one"));
	assert_int_equal(check(f, len, NULL, 0, pin, err), TL_OK);
	assert_string_equal(err, "");
	free(f);
}

static void test_later_the_list_held(void **state)
{
	(void)state;
	size_t l1, l2, l0;
	unsigned char *held = ctl(&signer, 1000, &l1);
	unsigned char *byrec = ctl(&recovery, 1001, &l2);
	unsigned char *older = ctl(&signer, 999, &l0);
	char err[256];
	/* the same list again, and a newer one signed by the recovery key (a SAST of it) */
	assert_int_equal(check(held, l1, held, l1, NULL, err), TL_OK);
	assert_int_equal(check(byrec, l2, held, l1, NULL, err), TL_OK);
	/* older than the one held: refused, even with the right pin */
	unsigned char pin[32];
	sha256(&signer, pin);
	assert_int_equal(check(older, l0, held, l1, pin, err), TL_OLDER);
	assert_non_null(strstr(err, "older"));
	assert_int_equal(check(held, l1, byrec, l2, NULL, err), TL_OLDER);
	free(held);
	free(byrec);
	free(older);
}

static void test_tampered_refused(void **state)
{
	(void)state;
	size_t len;
	unsigned char *f = ctl(&signer, 1000, &len), pin[32];
	char err[256];
	sha256(&signer, pin);
	/* A byte of the CA record's certificate (the last bytes of the file) changed: the
	 * signature covers it. */
	f[len - 40] ^= 0x01;
	assert_int_equal(check(f, len, NULL, 0, pin, err), TL_BAD_SIGNATURE);
	assert_non_null(strstr(err, "refused"));
	/* cut short */
	f[len - 40] ^= 0x01;
	assert_int_not_equal(check(f, len - 10, NULL, 0, pin, err), TL_OK);
	free(f);
}

static void test_unreadable_held_list(void **state)
{
	(void)state;
	size_t len;
	unsigned char *f = ctl(&signer, 1000, &len), pin[32];
	char err[256];
	sha256(&signer, pin);
	const unsigned char junk[] = "not a trust list";
	assert_int_equal(check(f, len, junk, sizeof junk, pin, err), TL_BAD_FORMAT);
	assert_non_null(strstr(err, "unreadable"));
	free(f);
}

static void test_pin_forms(void **state)
{
	(void)state;
	unsigned char pin[32];
	const char *hex = "00112233445566778899aabbccddeeff00112233445566778899AABBCCDDEEFF";
	char buf[200];
	snprintf(buf, sizeof buf, "sha256:%s", hex);
	assert_int_equal(tgtrust_parse_pin(buf, pin), 0);
	assert_int_equal(pin[0], 0x00);
	assert_int_equal(pin[31], 0xff);
	assert_int_equal(tgtrust_parse_pin(hex, pin), 0);
	assert_int_equal(tgtrust_parse_pin("SHA256:00:11:22:33:44:55:66:77:88:99:aa:bb:cc:dd:ee:"
	                                   "ff:00:11:22:33:44:55:66:77:88:99:aa:bb:cc:dd:ee:ff",
	                                   pin),
	                 0);
	assert_int_equal(pin[10], 0xaa);
	assert_int_equal(tgtrust_parse_pin("sha256:0011", pin), -1); /* short */
	assert_int_equal(tgtrust_parse_pin("sha256:zz11", pin), -1); /* not hex */
	assert_int_equal(tgtrust_parse_pin("sha256:0", pin), -1);    /* odd */
	snprintf(buf, sizeof buf, "sha256:%s00", hex);
	assert_int_equal(tgtrust_parse_pin(buf, pin), -1); /* long */
}

static void test_ca_store_checks_the_est_server(void **state)
{
	(void)state;
	size_t len;
	unsigned char *f = ctl(&signer, 1000, &len);
	struct tl_list *l = malloc(sizeof *l);
	assert_int_equal(tl_parse(f, len, l), 0);
	char err[256];
	int n;
	X509_STORE *st = tgtrust_ca_store(l, &n, err, sizeof err);
	assert_non_null(st);
	assert_int_equal(n, 1);
	X509_STORE_CTX *ctx = X509_STORE_CTX_new();
	assert_int_equal(X509_STORE_CTX_init(ctx, st, est.x, NULL), 1);
	assert_int_equal(X509_verify_cert(ctx), 1);
	/* the signer is not a CA the EST server could chain to */
	X509_STORE_CTX_cleanup(ctx);
	assert_int_equal(X509_STORE_CTX_init(ctx, st, signer.x, NULL), 1);
	assert_int_not_equal(X509_verify_cert(ctx), 1);
	X509_STORE_CTX_free(ctx);
	X509_STORE_free(st);
	char *pem = tgtrust_ca_pem(l);
	assert_non_null(pem);
	assert_non_null(strstr(pem, "-----BEGIN CERTIFICATE-----"));
	/* one certificate: the CA */
	assert_null(strstr(pem + 1, "-----BEGIN CERTIFICATE-----"));
	free(pem);
	/* a list without a CAPF record gives no store */
	l->rec[2].role = TL_ROLE_CCM;
	assert_null(tgtrust_ca_store(l, &n, err, sizeof err));
	assert_non_null(strstr(err, "CAPF"));
	free(l);
	free(f);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_first_use_needs_the_pin),
	    cmocka_unit_test(test_later_the_list_held),
	    cmocka_unit_test(test_tampered_refused),
	    cmocka_unit_test(test_unreadable_held_list),
	    cmocka_unit_test(test_pin_forms),
	    cmocka_unit_test(test_ca_store_checks_the_est_server),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
