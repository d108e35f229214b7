/* SPDX-License-Identifier: ISC */
/* The client certificate of a CTI login (cti/cert.c) with certificates telgate's CA
 * really issued (ca_fixture.h): what cti_cert_read takes from them, and cti_cert_judge
 * against their row in issuedcertificate — valid, revoked, expired, not yet valid, not
 * listed, another CA's. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <cmocka.h>

#include "ca_fixture.h"
#include "cti/cert.h"
#include "tls/servercert.h"

/* The certificate of serial as the store keeps it. */
static X509 *stored(struct fx *f, const char *serial)
{
	char pem[8192];
	assert_int_equal(store_issuedcert_pem(f->st.st, serial, pem, sizeof pem), STORE_OK);
	BIO *b = BIO_new_mem_buf(pem, -1);
	X509 *x = PEM_read_bio_X509(b, NULL, NULL, NULL);
	BIO_free(b);
	assert_non_null(x);
	return x;
}

static enum cti_cert_state judge(struct fx *f, const struct cti_cert *c, int64_t now)
{
	struct store_issuedcert row;
	int rc = store_issuedcert_get(f->st.st, c->serial, &row);
	return cti_cert_judge(c, rc, &row, now);
}

static void test_read_and_judge(void **state)
{
	struct fx *f = *state;
	char serial[33];
	tu_issue(f, "wwhite", "1234", "", 30, 0, serial);
	X509 *x = stored(f, serial);
	struct cti_cert c;
	cti_cert_read(x, f->ca, &c);
	assert_true(c.present);
	assert_true(c.ours);
	assert_string_equal(c.cn, "wwhite");
	assert_string_equal(c.serial, serial);
	struct store_issuedcert row;
	assert_int_equal(store_issuedcert_get(f->st.st, serial, &row), STORE_OK);
	assert_string_equal(c.sha256, row.sha256);
	assert_int_equal(c.notafter, row.notafter);
	int64_t now = time(NULL);
	assert_int_equal(judge(f, &c, now), CTI_CERT_VALID);
	/* Outside its validity, by the certificate's own times. */
	assert_int_equal(judge(f, &c, c.notafter + 1), CTI_CERT_EXPIRED);
	assert_int_equal(judge(f, &c, c.notbefore - 1), CTI_CERT_NOT_YET_VALID);
	/* Revoked in the table: revoked, expired or not. */
	assert_int_equal(store_issuedcert_revoke(f->st.st, serial, "keyCompromise", now), STORE_OK);
	assert_int_equal(judge(f, &c, now), CTI_CERT_REVOKED);
	assert_int_equal(judge(f, &c, c.notafter + 1), CTI_CERT_REVOKED);
	/* A store that fails, a row that is not there, a row of another certificate. */
	assert_int_equal(cti_cert_judge(&c, STORE_ERROR, &row, now), CTI_CERT_STORE_ERROR);
	assert_int_equal(cti_cert_judge(&c, STORE_NOTFOUND, &row, now), CTI_CERT_UNLISTED);
	row.status = STORE_CERT_VALID;
	row.sha256[0] = row.sha256[0] == 'A' ? 'B' : 'A';
	assert_int_equal(cti_cert_judge(&c, STORE_OK, &row, now), CTI_CERT_UNLISTED);
	/* Without the CA, nothing is ours. */
	cti_cert_read(x, NULL, &c);
	assert_true(c.present);
	assert_false(c.ours);
	assert_string_equal(c.serial, "");
	assert_int_equal(cti_cert_judge(&c, STORE_OK, &row, now), CTI_CERT_FOREIGN);
	X509_free(x);
	/* No certificate. */
	cti_cert_read(NULL, f->ca, &c);
	assert_false(c.present);
	assert_int_equal(cti_cert_judge(&c, STORE_NOTFOUND, &row, now), CTI_CERT_NONE);
	assert_string_equal(cti_cert_state_name(CTI_CERT_REVOKED), "revoked");
}

/* A one-day certificate is expired two days later (the CA cannot issue in the past). */
static void test_expired(void **state)
{
	struct fx *f = *state;
	char serial[33];
	tu_issue(f, "app1", "", "", 1, 0, serial);
	X509 *x = stored(f, serial);
	struct cti_cert c;
	cti_cert_read(x, f->ca, &c);
	assert_true(c.ours);
	assert_int_equal(judge(f, &c, time(NULL)), CTI_CERT_VALID);
	assert_int_equal(judge(f, &c, time(NULL) + 2 * 86400), CTI_CERT_EXPIRED);
	X509_free(x);
}

/* A certificate from another CA (self-signed here) with the same CN is not ours, even
 * when a row happened to carry its serial. */
static void test_foreign(void **state)
{
	struct fx *f = *state;
	EVP_PKEY *k = EVP_EC_gen("P-256");
	X509 *x = X509_new();
	X509_set_version(x, 2);
	ASN1_INTEGER_set(X509_get_serialNumber(x), 7);
	X509_NAME_add_entry_by_txt(X509_get_subject_name(x), "CN", MBSTRING_ASC,
	                           (const unsigned char *)"wwhite", -1, -1, 0);
	X509_set_issuer_name(x, X509_get_subject_name(x));
	X509_gmtime_adj(X509_getm_notBefore(x), -60);
	X509_gmtime_adj(X509_getm_notAfter(x), 3600);
	X509_set_pubkey(x, k);
	assert_true(X509_sign(x, k, EVP_sha256()) > 0);
	struct cti_cert c;
	cti_cert_read(x, f->ca, &c);
	assert_true(c.present);
	assert_false(c.ours);
	assert_string_equal(c.cn, "wwhite");
	assert_int_equal(judge(f, &c, time(NULL)), CTI_CERT_FOREIGN);
	X509_free(x);
	EVP_PKEY_free(k);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_read_and_judge, fx_setup, fx_teardown),
	    cmocka_unit_test_setup_teardown(test_expired, fx_setup, fx_teardown),
	    cmocka_unit_test_setup_teardown(test_foreign, fx_setup, fx_teardown),
	};
	return cmocka_run_group_tests(tests, tu_ca_group_setup, tu_ca_group_teardown);
}
