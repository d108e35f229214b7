/* SPDX-License-Identifier: ISC */
/* The issued-certificates table and the CRL number (store/issuedcert.c), and the schema 10
 * migration that creates them. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "store_fixture.h"

static struct store_issuedcert cert(const char *serial, const char *user, int64_t notbefore)
{
	struct store_issuedcert c;
	memset(&c, 0, sizeof c);
	snprintf(c.serial, sizeof c.serial, "%s", serial);
	snprintf(c.subject, sizeof c.subject, "CN=%s", user);
	snprintf(c.userid, sizeof c.userid, "%s", user);
	snprintf(c.instanceid, sizeof c.instanceid, "%s-1", user);
	snprintf(c.profile, sizeof c.profile, "CAPF-%s", user);
	c.notbefore = notbefore;
	c.notafter = notbefore + 730 * 86400;
	snprintf(c.sha256, sizeof c.sha256, "AB:CD");
	return c;
}

#define S1 "0123456789ABCDEF0123456789ABCDEF"
#define S2 "7FFFFFFFFFFFFFFFFFFFFFFFFFFFFFFF"
#define S3 "00000000000000000000000000000001"

struct serials {
	char got[512];
	int calls, stop_after;
};

static int serial_of(void *ud, const struct store_issuedcert *c)
{
	struct serials *l = ud;
	tu_append(l->got, sizeof l->got, c->serial + 28); /* the last four digits */
	tu_append(l->got, sizeof l->got, c->status == STORE_CERT_REVOKED ? "R;" : ";");
	return ++l->calls == l->stop_after;
}

static void test_issuedcert(void **state)
{
	struct tu_store *f = *state;
	struct store_issuedcert a = cert(S1, "wwhite", 1700000200),
	                        b = cert(S2, "jpinkman", 1700000100),
	                        c = cert(S3, "wwhite", 1700000100), out;
	assert_int_equal(store_issuedcert_add(f->st, &a, "-----BEGIN CERTIFICATE-----\nA\n"),
	                 STORE_OK);
	assert_int_equal(store_issuedcert_add(f->st, &b, "PEM B"), STORE_OK);
	assert_int_equal(store_issuedcert_add(f->st, &c, "PEM C"), STORE_OK);

	assert_int_equal(store_issuedcert_get(f->st, S1, &out), STORE_OK);
	assert_string_equal(out.subject, "CN=wwhite");
	assert_string_equal(out.userid, "wwhite");
	assert_string_equal(out.instanceid, "wwhite-1");
	assert_string_equal(out.profile, "CAPF-wwhite");
	assert_int_equal(out.notbefore, 1700000200);
	assert_int_equal(out.notafter, 1700000200 + 730 * 86400);
	assert_int_equal(out.status, STORE_CERT_VALID);
	assert_int_equal(out.revoked_at, 0);
	assert_string_equal(out.revocation_reason, "");
	assert_string_equal(out.sha256, "AB:CD");
	char pem[64];
	assert_int_equal(store_issuedcert_pem(f->st, S1, pem, sizeof pem), STORE_OK);
	assert_string_equal(pem, "-----BEGIN CERTIFICATE-----\nA\n");
	assert_int_equal(store_issuedcert_pem(f->st, S1, pem, 8), STORE_TOOBIG);
	assert_int_equal(store_issuedcert_pem(f->st, S1 "0", pem, sizeof pem), STORE_NOTFOUND);
	assert_string_equal(pem, "");
	assert_int_equal(store_issuedcert_get(f->st, "00", &out), STORE_NOTFOUND);
	assert_string_equal(out.serial, "");

	/* A serial is unique: the issuer retries with a new one on STORE_CONSTRAINT. */
	struct store_issuedcert dup = cert(S1, "other", 1);
	assert_int_equal(store_issuedcert_add(f->st, &dup, "PEM"), STORE_CONSTRAINT);
	/* One spelling only: lower case, short or non-hex serials are refused. */
	dup = cert("0123456789abcdef0123456789abcdef", "other", 1);
	assert_int_equal(store_issuedcert_add(f->st, &dup, "PEM"), STORE_CONSTRAINT);
	dup = cert("0123", "other", 1);
	assert_int_equal(store_issuedcert_add(f->st, &dup, "PEM"), STORE_CONSTRAINT);
	dup = cert("0123456789ABCDEF0123456789ABCDEX", "other", 1);
	assert_int_equal(store_issuedcert_add(f->st, &dup, "PEM"), STORE_CONSTRAINT);
	dup = cert(S1, "", 1);
	snprintf(dup.serial, sizeof dup.serial, "%s", "11111111111111111111111111111111");
	assert_int_equal(store_issuedcert_add(f->st, &dup, "PEM"), STORE_CONSTRAINT);
	dup = cert("11111111111111111111111111111111", "other", 1);
	assert_int_equal(store_issuedcert_add(f->st, &dup, ""), STORE_CONSTRAINT);

	/* Oldest first, then by serial; one user's only. */
	struct serials l = {"", 0, 0};
	assert_int_equal(store_issuedcerts(f->st, NULL, serial_of, &l), STORE_OK);
	assert_string_equal(l.got, "0001;FFFF;CDEF;");
	l = (struct serials){"", 0, 0};
	assert_int_equal(store_issuedcerts(f->st, "wwhite", serial_of, &l), STORE_OK);
	assert_string_equal(l.got, "0001;CDEF;");
	l = (struct serials){"", 0, 1};
	assert_int_equal(store_issuedcerts(f->st, NULL, serial_of, &l), STORE_OK);
	assert_string_equal(l.got, "0001;");
	l = (struct serials){"", 0, 0};
	assert_int_equal(store_issuedcerts(f->st, "nobody", serial_of, &l), STORE_OK);
	assert_int_equal(l.calls, 0);
}

static void test_revoke_and_crlnumber(void **state)
{
	struct tu_store *f = *state;
	struct store_issuedcert a = cert(S1, "wwhite", 1000), b = cert(S2, "jpinkman", 2000),
	                        c = cert(S3, "wwhite", 3000), out;
	a.notafter = 5000; /* expired long before the CRL below */
	assert_int_equal(store_issuedcert_add(f->st, &a, "A"), STORE_OK);
	assert_int_equal(store_issuedcert_add(f->st, &b, "B"), STORE_OK);
	assert_int_equal(store_issuedcert_add(f->st, &c, "C"), STORE_OK);

	int64_t n = -1;
	assert_int_equal(store_crlnumber_get(f->st, &n), STORE_OK);
	assert_int_equal(n, 0);

	/* The revocation and the new CRL number in one transaction. */
	assert_int_equal(store_begin(f->st), STORE_OK);
	assert_int_equal(store_issuedcert_revoke(f->st, S2, "keyCompromise", 1700000000), STORE_OK);
	assert_int_equal(store_crlnumber_next(f->st, &n), STORE_OK);
	assert_int_equal(n, 1);
	assert_int_equal(store_commit(f->st), STORE_OK);
	assert_int_equal(store_issuedcert_get(f->st, S2, &out), STORE_OK);
	assert_int_equal(out.status, STORE_CERT_REVOKED);
	assert_int_equal(out.revoked_at, 1700000000);
	assert_string_equal(out.revocation_reason, "keyCompromise");
	assert_string_equal(store_cert_status_name(out.status), "revoked");
	assert_string_equal(store_cert_status_name(STORE_CERT_VALID), "valid");

	/* A rolled-back revocation leaves both unchanged. */
	assert_int_equal(store_begin(f->st), STORE_OK);
	assert_int_equal(store_issuedcert_revoke(f->st, S3, "superseded", 1700000001), STORE_OK);
	assert_int_equal(store_crlnumber_next(f->st, &n), STORE_OK);
	assert_int_equal(n, 2);
	assert_int_equal(store_rollback(f->st), STORE_OK);
	assert_int_equal(store_issuedcert_get(f->st, S3, &out), STORE_OK);
	assert_int_equal(out.status, STORE_CERT_VALID);
	assert_int_equal(store_crlnumber_get(f->st, &n), STORE_OK);
	assert_int_equal(n, 1);

	/* A new CRL number alone is no account change: the registrar's and the token caches,
	 * keyed by store_generation, stay warm (a CRL published each hour made them cold). */
	uint64_t gen = store_generation(f->st);
	assert_int_equal(store_crlnumber_next(f->st, &n), STORE_OK);
	assert_int_equal(n, 2);
	assert_int_equal(store_crlnumber_floor(f->st, 5, &n), STORE_OK);
	assert_int_equal(n, 5);
	assert_true(store_generation(f->st) == gen);

	/* The first revocation stands; an unknown serial is not found; a reason is needed. */
	assert_int_equal(store_issuedcert_revoke(f->st, S2, "superseded", 1700000002),
	                 STORE_CONSTRAINT);
	assert_non_null(strstr(store_last_error(), "already revoked (keyCompromise)"));
	assert_int_equal(store_issuedcert_get(f->st, S2, &out), STORE_OK);
	assert_string_equal(out.revocation_reason, "keyCompromise");
	assert_int_equal(out.revoked_at, 1700000000);
	assert_int_equal(
	    store_issuedcert_revoke(f->st, "FFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFF", "superseded", 1),
	    STORE_NOTFOUND);
	assert_int_equal(store_issuedcert_revoke(f->st, S3, "", 1), STORE_CONSTRAINT);
	assert_int_equal(store_issuedcert_revoke(f->st, S1, "cessationOfOperation", 1700000003),
	                 STORE_OK);

	/* The CRL's rows: revoked and not expired before `since`. */
	struct serials l = {"", 0, 0};
	assert_int_equal(store_issuedcerts_revoked(f->st, 0, serial_of, &l), STORE_OK);
	assert_string_equal(l.got, "CDEFR;FFFFR;");
	l = (struct serials){"", 0, 0};
	assert_int_equal(store_issuedcerts_revoked(f->st, 5001, serial_of, &l), STORE_OK);
	assert_string_equal(l.got, "FFFFR;");

	/* The schema refuses a revoked row without a reason, for writers that bypass the API. */
	struct store_val p[] = {SV_S(S3)};
	assert_int_equal(
	    store_exec(f->st, "UPDATE issuedcertificate SET status = 'revoked' WHERE serial = $1",
	               p, 1, NULL, NULL, NULL),
	    STORE_CONSTRAINT);
	assert_int_equal(store_exec(f->st,
	                            "UPDATE issuedcertificate SET status = 'gone', "
	                            "revocation_reason = 'x' WHERE serial = $1",
	                            p, 1, NULL, NULL, NULL),
	                 STORE_CONSTRAINT);
	assert_int_equal(store_exec(f->st, "INSERT INTO crlnumber (id, number) VALUES (2, 0)", NULL,
	                            0, NULL, NULL, NULL),
	                 STORE_CONSTRAINT);
}

/* A store written by schema 8 (users, devices, nodes) opened by this telgated: schema 10
 * adds an empty issued-certificates table and the CRL number 0, and keeps every row. */
static void test_migration_v8_to_v10(void **state)
{
	struct tu_store *f = *state;
	store_close(f->st);
	f->st = NULL;
	static const char *const rows[] = {
	    "INSERT INTO enduser (userid, passwordhash) VALUES ('wwhite', '')",
	    "INSERT INTO processnode (name, address) VALUES ('cucm-a', '192.0.2.1')",
	};
	tu_store_write_old(f->path, 8, rows, 2);

	tu_store_open(f, 0);
	int v = 0;
	assert_int_equal(store_schema_version(f->st, &v), STORE_OK);
	assert_int_equal(v, store_schema_latest());
	assert_true(v >= 10);
	struct store_user u;
	assert_int_equal(store_user_get(f->st, "wwhite", &u), STORE_OK);
	struct store_processnode n;
	assert_int_equal(store_processnode_get(f->st, "cucm-a", &n), STORE_OK);
	assert_string_equal(n.address, "192.0.2.1");
	struct serials l = {"", 0, 0};
	assert_int_equal(store_issuedcerts(f->st, NULL, serial_of, &l), STORE_OK);
	assert_int_equal(l.calls, 0);
	int64_t num = -1;
	assert_int_equal(store_crlnumber_get(f->st, &num), STORE_OK);
	assert_int_equal(num, 0);
	struct store_issuedcert c = cert(S1, "wwhite", 1);
	assert_int_equal(store_issuedcert_add(f->st, &c, "PEM"), STORE_OK);
	char ierr[256];
	assert_int_equal(store_integrity_check(f->st, ierr, sizeof ierr), 0);
	/* Opening again does not run the migration twice (the number stays). */
	assert_int_equal(store_crlnumber_next(f->st, &num), STORE_OK);
	store_close(f->st);
	tu_store_open(f, 0);
	assert_int_equal(store_crlnumber_get(f->st, &num), STORE_OK);
	assert_int_equal(num, 1);
	assert_int_equal(store_issuedcert_get(f->st, S1, &c), STORE_OK);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_issuedcert, tu_store_setup, tu_store_teardown),
	    cmocka_unit_test_setup_teardown(test_revoke_and_crlnumber, tu_store_setup,
	                                    tu_store_teardown),
	    cmocka_unit_test_setup_teardown(test_migration_v8_to_v10, tu_store_setup,
	                                    tu_store_teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
