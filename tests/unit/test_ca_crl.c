/* SPDX-License-Identifier: ISC */
/* Revocation and the CRL (ca/ca_crl.c), read back with OpenSSL: signed by the CA, version 2,
 * numbered upwards, each revoked serial with its date and reason; refusals that change
 * nothing; the periodic reissue; the file-service provider of telgate.crl. */
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

#include "ca/ca_crl.h"
#include "ca/ca_issue.h"
#include "ca_fixture.h"
#include "core/log.h"
#include "core/util.h"

#define NOW 1800000000LL /* within the CA's ten years */
#define DAY 86400LL

/* The CRL on disk, verified against the CA; fails the test when it does not verify. */
static X509_CRL *read_crl(struct fx *f)
{
	char path[256], *data;
	size_t len;
	snprintf(path, sizeof path, "%s/crl.der", f->pki);
	assert_int_equal(tg_read_file(path, 1 << 20, &data, &len), 0);
	const unsigned char *p = (const unsigned char *)data;
	X509_CRL *crl = d2i_X509_CRL(NULL, &p, (long)len);
	assert_non_null(crl);
	assert_ptr_equal(p, (const unsigned char *)data + len);
	assert_int_equal(X509_CRL_verify(crl, X509_get0_pubkey(f->ca)), 1);
	/* The PEM beside it is the same CRL. */
	snprintf(path, sizeof path, "%s/crl.pem", f->pki);
	FILE *fp = fopen(path, "r");
	assert_non_null(fp);
	X509_CRL *pem = PEM_read_X509_CRL(fp, NULL, NULL, NULL);
	fclose(fp);
	assert_non_null(pem);
	assert_int_equal(X509_CRL_cmp(crl, pem), 0);
	unsigned char *der2 = NULL;
	int n2 = i2d_X509_CRL(pem, &der2);
	assert_int_equal(n2, (int)len);
	assert_memory_equal(der2, data, len);
	OPENSSL_free(der2);
	X509_CRL_free(pem);
	free(data);
	return crl;
}

static int64_t crl_number(X509_CRL *crl)
{
	ASN1_INTEGER *n = X509_CRL_get_ext_d2i(crl, NID_crl_number, NULL, NULL);
	assert_non_null(n);
	int64_t v = -1;
	assert_int_equal(ASN1_INTEGER_get_int64(&v, n), 1);
	ASN1_INTEGER_free(n);
	return v;
}

/* The entry for serial (hex), or NULL. */
static X509_REVOKED *entry(X509_CRL *crl, const char *serial)
{
	STACK_OF(X509_REVOKED) *rev = X509_CRL_get_REVOKED(crl);
	for (int i = 0; i < sk_X509_REVOKED_num(rev); i++) {
		X509_REVOKED *r = sk_X509_REVOKED_value(rev, i);
		char hex[33];
		assert_int_equal(ca_serial_hex(X509_REVOKED_get0_serialNumber(r), hex), 0);
		if (strcmp(hex, serial) == 0)
			return r;
	}
	return NULL;
}

/* The entry's reason code, -1 when it has none. */
static long reason_of(X509_REVOKED *r)
{
	int crit = 0;
	ASN1_ENUMERATED *e = X509_REVOKED_get_ext_d2i(r, NID_crl_reason, &crit, NULL);
	if (!e)
		return -1;
	assert_int_equal(crit, 0);
	long v = ASN1_ENUMERATED_get(e);
	ASN1_ENUMERATED_free(e);
	return v;
}

static void test_revoke_and_crl(void **state)
{
	struct fx *f = *state;
	struct ca_crl_cfg cfg = {f->pki, 7};
	char a[33], b[33], c[33], err[300];
	tu_issue(f, "wwhite", "1", "", 730, NOW - DAY, a);
	tu_issue(f, "jpinkman", "1", "", 730, NOW - DAY, b);
	tu_issue(f, "skyler", "1", "", 730, NOW - DAY, c);

	/* Lower case with colons is the same serial. */
	char typed[64];
	snprintf(typed, sizeof typed, "%.2s:%s", b, b + 2);
	for (char *p = typed; *p; p++)
		*p = (char)(*p >= 'A' && *p <= 'F' ? *p - 'A' + 'a' : *p);
	assert_int_equal(ca_revoke(f->st.st, f->signer, &cfg, typed, "keyCompromise", NOW, "cid1",
	                           err, sizeof err),
	                 0);
	X509_CRL *crl = read_crl(f);
	assert_int_equal(X509_CRL_get_version(crl), X509_CRL_VERSION_2);
	assert_int_equal(X509_NAME_cmp(X509_CRL_get_issuer(crl), X509_get_subject_name(f->ca)), 0);
	assert_int_equal(crl_number(crl), 1);
	assert_int_equal(tu_asn1_epoch(X509_CRL_get0_lastUpdate(crl)), NOW);
	assert_int_equal(tu_asn1_epoch(X509_CRL_get0_nextUpdate(crl)), NOW + 7 * DAY);
	/* The AKI names the CA's key (RFC 5280 §5.2.1). */
	AUTHORITY_KEYID *akid = X509_CRL_get_ext_d2i(crl, NID_authority_key_identifier, NULL, NULL);
	assert_non_null(akid);
	assert_int_equal(ASN1_OCTET_STRING_cmp(akid->keyid, X509_get0_subject_key_id(f->ca)), 0);
	AUTHORITY_KEYID_free(akid);
	assert_int_equal(sk_X509_REVOKED_num(X509_CRL_get_REVOKED(crl)), 1);
	X509_REVOKED *r = entry(crl, b);
	assert_non_null(r);
	assert_int_equal(tu_asn1_epoch(X509_REVOKED_get0_revocationDate(r)), NOW);
	assert_int_equal(reason_of(r), CRL_REASON_KEY_COMPROMISE);
	X509_CRL_free(crl);
	struct store_issuedcert row;
	assert_int_equal(store_issuedcert_get(f->st.st, b, &row), STORE_OK);
	assert_int_equal(row.status, STORE_CERT_REVOKED);
	assert_string_equal(row.revocation_reason, "keyCompromise");
	assert_int_equal(row.revoked_at, NOW);

	/* A second revocation: the number grows, both are listed; "unspecified" has no
	 * reasonCode (§5.3.1). */
	assert_int_equal(
	    ca_revoke(f->st.st, f->signer, &cfg, a, "unspecified", NOW + 60, NULL, err, sizeof err),
	    0);
	crl = read_crl(f);
	assert_int_equal(crl_number(crl), 2);
	assert_int_equal(sk_X509_REVOKED_num(X509_CRL_get_REVOKED(crl)), 2);
	assert_int_equal(reason_of(entry(crl, a)), -1);
	assert_int_equal(reason_of(entry(crl, b)), CRL_REASON_KEY_COMPROMISE);
	assert_null(entry(crl, c));
	X509_CRL_free(crl);

	/* Every name the command takes maps to its RFC 5280 code. */
	assert_int_equal(ca_crl_reason_parse("superseded"), CRL_REASON_SUPERSEDED);
	assert_int_equal(ca_crl_reason_parse("cessationOfOperation"),
	                 CRL_REASON_CESSATION_OF_OPERATION);
	assert_int_equal(ca_crl_reason_parse("privilegeWithdrawn"), CRL_REASON_PRIVILEGE_WITHDRAWN);
	assert_int_equal(ca_crl_reason_parse("certificateHold"), CRL_REASON_CERTIFICATE_HOLD);
	assert_int_equal(ca_revoke(f->st.st, f->signer, &cfg, c, "affiliationChanged", NOW + 120,
	                           NULL, err, sizeof err),
	                 0);
	crl = read_crl(f);
	assert_int_equal(crl_number(crl), 3);
	assert_int_equal(reason_of(entry(crl, c)), CRL_REASON_AFFILIATION_CHANGED);
	X509_CRL_free(crl);
}

static void test_refusals_change_nothing(void **state)
{
	struct fx *f = *state;
	struct ca_crl_cfg cfg = {f->pki, 7};
	char a[33], err[300];
	tu_issue(f, "wwhite", "1", "", 730, NOW - DAY, a);
	const struct {
		const char *serial, *reason;
		int rc;
		const char *why;
	} bad[] = {
	    {a, "removeFromCRL", -EINVAL, "not a reason"},
	    {a, "aACompromise", -EINVAL, "not a reason"},
	    {a, "KeyCompromise", -EINVAL, "keyCompromise, cACompromise"},
	    {a, "", -EINVAL, "not a reason"},
	    {"xyz", "superseded", -EINVAL, "not a serial"},
	    {"", "superseded", -EINVAL, "not a serial"},
	    {"0123456789ABCDEF0123456789ABCDEF0", "superseded", -EINVAL, "not a serial"},
	    {"1234", "superseded", -ENOENT, "no certificate with serial 0000"},
	};
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		assert_int_equal(ca_revoke(f->st.st, f->signer, &cfg, bad[i].serial, bad[i].reason,
		                           NOW, NULL, err, sizeof err),
		                 bad[i].rc);
		assert_non_null(strstr(err, bad[i].why));
	}
	/* No signer (NULL, or not running): refused before anything changes. */
	assert_int_equal(
	    ca_revoke(f->st.st, NULL, &cfg, a, "superseded", NOW, NULL, err, sizeof err), -EAGAIN);
	assert_non_null(strstr(err, "the signer is not running"));
	tu_signer_fail = -EAGAIN;
	assert_int_equal(
	    ca_revoke(f->st.st, f->signer, &cfg, a, "superseded", NOW, NULL, err, sizeof err),
	    -EAGAIN);
	assert_non_null(strstr(err, "the signer is not running: nothing was revoked"));
	tu_signer_fail = 0;
	struct store_issuedcert row;
	assert_int_equal(store_issuedcert_get(f->st.st, a, &row), STORE_OK);
	assert_int_equal(row.status, STORE_CERT_VALID);
	int64_t n = -1;
	assert_int_equal(store_crlnumber_get(f->st.st, &n), STORE_OK);
	assert_int_equal(n, 0);
	char path[256];
	snprintf(path, sizeof path, "%s/crl.der", f->pki);
	assert_int_equal(access(path, F_OK), -1);

	/* Revoked once; the second time is refused and the first reason stands. */
	assert_int_equal(
	    ca_revoke(f->st.st, f->signer, &cfg, a, "superseded", NOW, NULL, err, sizeof err), 0);
	assert_int_equal(ca_revoke(f->st.st, f->signer, &cfg, a, "keyCompromise", NOW + 1, NULL,
	                           err, sizeof err),
	                 -EALREADY);
	assert_non_null(strstr(err, "already revoked (superseded)"));
	X509_CRL *crl = read_crl(f);
	assert_int_equal(crl_number(crl), 1);
	assert_int_equal(reason_of(entry(crl, a)), CRL_REASON_SUPERSEDED);
	X509_CRL_free(crl);
}

/* The signer fails between the revocation and the CRL: the revocation stands, the caller
 * is told, and the refresh writes the CRL later. */
static void test_stale_crl_is_refreshed(void **state)
{
	struct fx *f = *state;
	struct ca_crl_cfg cfg = {f->pki, 7};
	char a[33], b[33], err[300];
	tu_issue(f, "wwhite", "1", "", 730, NOW - DAY, a);
	tu_issue(f, "jpinkman", "1", "", 730, NOW - DAY, b);
	assert_int_equal(
	    ca_revoke(f->st.st, f->signer, &cfg, a, "superseded", NOW, NULL, err, sizeof err), 0);
	tu_signer_fail_crl = -EIO;
	assert_int_equal(
	    ca_revoke(f->st.st, f->signer, &cfg, b, "keyCompromise", NOW, NULL, err, sizeof err),
	    CA_REVOKED_CRL_STALE);
	assert_non_null(strstr(err, "is revoked, but the CRL could not be reissued"));
	struct store_issuedcert row;
	assert_int_equal(store_issuedcert_get(f->st.st, b, &row), STORE_OK);
	assert_int_equal(row.status, STORE_CERT_REVOKED);
	X509_CRL *crl = read_crl(f);
	assert_null(entry(crl, b)); /* the old CRL is still there, whole */
	X509_CRL_free(crl);
	/* The refresh sees the CRL behind the store; while the signer fails it says so. */
	assert_int_equal(ca_crl_refresh(f->st.st, f->signer, &cfg, NOW + 10, NULL, err, sizeof err),
	                 -EIO);
	assert_int_equal(ca_crl_refresh(f->st.st, NULL, &cfg, NOW + 10, NULL, err, sizeof err),
	                 -EAGAIN);
	tu_signer_fail_crl = 0;
	assert_int_equal(ca_crl_refresh(f->st.st, f->signer, &cfg, NOW + 10, NULL, err, sizeof err),
	                 1);
	crl = read_crl(f);
	assert_non_null(entry(crl, b));
	assert_non_null(entry(crl, a));
	int64_t n = 0;
	assert_int_equal(store_crlnumber_get(f->st.st, &n), STORE_OK);
	assert_int_equal(crl_number(crl), n);
	assert_true(n >= 3);
	X509_CRL_free(crl);
}

static void test_refresh_half_life(void **state)
{
	struct fx *f = *state;
	struct ca_crl_cfg cfg = {f->pki, 4};
	char old[33], cur[33], err[300];
	/* A certificate that expires soon after being revoked stays on the CRL for one CRL
	 * lifetime after its end (RFC 5280 §3.3: until it was on a CRL issued after it). */
	tu_issue(f, "short", "1", "", 2, NOW - DAY, old);
	tu_issue(f, "long", "1", "", 730, NOW - DAY, cur);

	/* No CRL yet: the first refresh writes one, the next finds nothing to do. */
	assert_int_equal(ca_crl_refresh(f->st.st, f->signer, &cfg, NOW, NULL, err, sizeof err), 1);
	X509_CRL *crl = read_crl(f);
	assert_int_equal(crl_number(crl), 1);
	assert_null(X509_CRL_get_REVOKED(crl)); /* absent when empty (RFC 5280 §5.1.2.6) */
	X509_CRL_free(crl);
	assert_int_equal(ca_crl_refresh(f->st.st, f->signer, &cfg, NOW, NULL, err, sizeof err), 0);
	assert_int_equal(ca_revoke(f->st.st, f->signer, &cfg, old, "cessationOfOperation", NOW,
	                           NULL, err, sizeof err),
	                 0);
	assert_int_equal(
	    ca_revoke(f->st.st, f->signer, &cfg, cur, "keyCompromise", NOW, NULL, err, sizeof err),
	    0);
	/* Half of the 4 days: not yet at 2 days less a second, due at 2 days. */
	assert_int_equal(
	    ca_crl_refresh(f->st.st, f->signer, &cfg, NOW + 2 * DAY - 1, NULL, err, sizeof err), 0);
	assert_int_equal(
	    ca_crl_refresh(f->st.st, f->signer, &cfg, NOW + 2 * DAY, NULL, err, sizeof err), 1);
	crl = read_crl(f);
	assert_int_equal(crl_number(crl), 4);
	assert_int_equal(tu_asn1_epoch(X509_CRL_get0_lastUpdate(crl)), NOW + 2 * DAY);
	assert_int_equal(tu_asn1_epoch(X509_CRL_get0_nextUpdate(crl)), NOW + 6 * DAY);
	assert_non_null(entry(crl, old)); /* expired at NOW + 1 day, after the CRL of NOW */
	X509_CRL_free(crl);
	/* Expired three days ago: still listed. */
	assert_int_equal(
	    ca_crl_refresh(f->st.st, f->signer, &cfg, NOW + 4 * DAY + 2, NULL, err, sizeof err), 1);
	crl = read_crl(f);
	assert_int_equal(crl_number(crl), 5);
	assert_non_null(entry(crl, old));
	X509_CRL_free(crl);
	/* Expired more than a CRL lifetime ago (and so on the CRLs of NOW + 2 and 4 days):
	 * no longer listed; the other stays. */
	assert_int_equal(
	    ca_crl_refresh(f->st.st, f->signer, &cfg, NOW + 6 * DAY + 3, NULL, err, sizeof err), 1);
	crl = read_crl(f);
	assert_int_equal(crl_number(crl), 6);
	assert_null(entry(crl, old));
	assert_non_null(entry(crl, cur));
	X509_CRL_free(crl);

	/* A CRL file that cannot be read is replaced. */
	char path[256];
	snprintf(path, sizeof path, "%s/crl.der", f->pki);
	assert_int_equal(tg_write_file_atomic(path, "junk", 4, 0644), 0);
	assert_int_equal(
	    ca_crl_refresh(f->st.st, f->signer, &cfg, NOW + 6 * DAY + 4, NULL, err, sizeof err), 1);
	crl = read_crl(f);
	assert_int_equal(crl_number(crl), 7);
	X509_CRL_free(crl);
}

static void test_files_provider(void **state)
{
	struct fx *f = *state;
	struct ca_crl_cfg cfg = {f->pki, 7};
	char a[33], err[300];
	struct files_provider p;
	assert_int_equal(ca_crl_files_provider(f->pki, &p), 0);
	assert_string_equal(p.name, "crl");
	struct files_blob *b = NULL;
	/* Before the first CRL: not found, as any missing file. */
	assert_int_equal(p.lookup(p.arg, CA_CRL_NAME, &b), -ENOENT);
	assert_int_equal(ca_crl_refresh(f->st.st, f->signer, &cfg, NOW, NULL, err, sizeof err), 1);
	assert_int_equal(p.lookup(p.arg, "CA.crl", &b), -ENOENT);
	assert_int_equal(p.lookup(p.arg, "crl.der", &b), -ENOENT);
	assert_int_equal(p.lookup(p.arg, "telgate.crl", &b), 0);
	assert_string_equal(b->ctype, "application/pkix-crl");
	const unsigned char *q = b->data;
	X509_CRL *crl = d2i_X509_CRL(NULL, &q, (long)b->len);
	assert_non_null(crl);
	assert_int_equal(crl_number(crl), 1);
	X509_CRL_free(crl);
	/* Unchanged file: the same blob. */
	struct files_blob *b2 = NULL;
	assert_int_equal(p.lookup(p.arg, "telgate.crl", &b2), 0);
	assert_ptr_equal(b, b2);
	files_blob_unref(b2);
	/* A revocation: the next request gets the new CRL, the old blob lives on for whoever
	 * is still sending it. */
	tu_issue(f, "wwhite", "1", "", 730, NOW - DAY, a);
	assert_int_equal(
	    ca_revoke(f->st.st, f->signer, &cfg, a, "superseded", NOW + 1, NULL, err, sizeof err),
	    0);
	assert_int_equal(p.lookup(p.arg, "telgate.crl", &b2), 0);
	assert_ptr_not_equal(b, b2);
	assert_string_not_equal(b->etag, b2->etag);
	q = b2->data;
	crl = d2i_X509_CRL(NULL, &q, (long)b2->len);
	assert_int_equal(crl_number(crl), 2);
	assert_non_null(entry(crl, a));
	X509_CRL_free(crl);
	files_blob_unref(b);
	files_blob_unref(b2);
	p.free(p.arg);
}

int main(void)
{
	char err[128];
	log_configure(LOG_LVL_WARNING, LOG_FMT_KV, "stderr", err, sizeof err);
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_revoke_and_crl, fx_setup, fx_teardown),
	    cmocka_unit_test_setup_teardown(test_refusals_change_nothing, fx_setup, fx_teardown),
	    cmocka_unit_test_setup_teardown(test_stale_crl_is_refreshed, fx_setup, fx_teardown),
	    cmocka_unit_test_setup_teardown(test_refresh_half_life, fx_setup, fx_teardown),
	    cmocka_unit_test_setup_teardown(test_files_provider, fx_setup, fx_teardown),
	};
	return cmocka_run_group_tests(tests, tu_ca_group_setup, tu_ca_group_teardown);
}
