/* SPDX-License-Identifier: ISC */
/* Enrolment profiles in the store (store/capfprofile.c): the rows, expiry computed on
 * read, single use under concurrency, the lock after consecutive failures, rearm, the
 * secret column hidden from ad-hoc SQL, and the schema 9 migration. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "store_fixture.h"

#define NOW 1700000000

static void add_user(store_t *st, const char *id)
{
	struct store_user u;
	memset(&u, 0, sizeof u);
	snprintf(u.userid, sizeof u.userid, "%s", id);
	u.status = STORE_USER_ACTIVE;
	snprintf(u.credentialpolicy, sizeof u.credentialpolicy, "Default Credential Policy");
	assert_int_equal(store_user_put(st, &u), STORE_OK);
}

static struct store_capfprofile profile(const char *id, const char *user)
{
	struct store_capfprofile p;
	memset(&p, 0, sizeof p);
	snprintf(p.instanceid, sizeof p.instanceid, "%s", id);
	snprintf(p.userid, sizeof p.userid, "%s", user);
	snprintf(p.authmode, sizeof p.authmode, "string");
	snprintf(p.secretkind, sizeof p.secretkind, "hmac");
	snprintf(p.secrethash, sizeof p.secrethash, "%064d", 7);
	snprintf(p.keytype, sizeof p.keytype, "ec-p256");
	snprintf(p.operation, sizeof p.operation, "install");
	p.created = NOW;
	p.expires = NOW + 86400;
	return p;
}

static int setup(void **state)
{
	tu_store_setup(state);
	struct tu_store *f = *state;
	add_user(f->st, "jpinkman");
	add_user(f->st, "wwhite");
	return 0;
}

static int each(void *ud, const struct store_capfprofile *r)
{
	char *got = ud;
	tu_append(got, 256, r->instanceid);
	tu_append(got, 256, "=");
	tu_append(got, 256, r->userid);
	tu_append(got, 256, ";");
	return 0;
}

static int status_of(void *ud, const struct store_capfprofile *r)
{
	snprintf(ud, 32, "%s", r->status);
	return 0;
}

static void test_add_get_list_delete(void **state)
{
	struct tu_store *f = *state;
	struct store_capfprofile p = profile("1234", "jpinkman"), out;
	assert_int_equal(store_capf_add(f->st, &p), STORE_OK);
	/* The instance id is the key. */
	assert_int_equal(store_capf_add(f->st, &p), STORE_CONSTRAINT);
	/* A user that does not exist. */
	p = profile("99", "nobody");
	assert_int_equal(store_capf_add(f->st, &p), STORE_CONSTRAINT);
	/* Values the table does not allow. */
	p = profile("98", "wwhite");
	snprintf(p.keytype, sizeof p.keytype, "dsa-1024");
	assert_int_equal(store_capf_add(f->st, &p), STORE_CONSTRAINT);
	p = profile("98", "wwhite");
	snprintf(p.authmode, sizeof p.authmode, "none"); /* none with a secret */
	assert_int_equal(store_capf_add(f->st, &p), STORE_CONSTRAINT);
	p = profile("98", "wwhite");
	p.secrethash[0] = '\0'; /* string without a secret */
	assert_int_equal(store_capf_add(f->st, &p), STORE_CONSTRAINT);
	p = profile("A-2", "wwhite");
	snprintf(p.authmode, sizeof p.authmode, "none");
	p.secretkind[0] = p.secrethash[0] = '\0';
	snprintf(p.operation, sizeof p.operation, "delete");
	snprintf(p.keytype, sizeof p.keytype, "rsa-3072");
	assert_int_equal(store_capf_add(f->st, &p), STORE_OK);

	assert_int_equal(store_capf_get(f->st, "1234", NOW, &out), STORE_OK);
	assert_string_equal(out.userid, "jpinkman");
	assert_string_equal(out.authmode, "string");
	assert_string_equal(out.secretkind, "hmac");
	assert_int_equal(strlen(out.secrethash), 64);
	assert_string_equal(out.keytype, "ec-p256");
	assert_string_equal(out.operation, "install");
	assert_string_equal(out.status, "pending");
	assert_string_equal(out.serial, "");
	assert_int_equal(out.failures, 0);
	assert_int_equal(out.used, 0);
	assert_int_equal(out.created, NOW);
	assert_int_equal(out.expires, NOW + 86400);
	assert_int_equal(store_capf_get(f->st, "A-2", NOW, &out), STORE_OK);
	assert_string_equal(out.authmode, "none");
	assert_string_equal(out.operation, "delete");
	assert_string_equal(out.keytype, "rsa-3072");
	assert_int_equal(store_capf_get(f->st, "nope", NOW, &out), STORE_NOTFOUND);
	assert_string_equal(out.instanceid, "");

	char got[256] = "";
	assert_int_equal(store_capf_list(f->st, NULL, NOW, each, got), STORE_OK);
	assert_string_equal(got, "1234=jpinkman;A-2=wwhite;");
	got[0] = '\0';
	assert_int_equal(store_capf_list(f->st, "wwhite", NOW, each, got), STORE_OK);
	assert_string_equal(got, "A-2=wwhite;");
	got[0] = '\0';
	assert_int_equal(store_capf_list(f->st, "nobody", NOW, each, got), STORE_OK);
	assert_string_equal(got, "");

	assert_int_equal(store_capf_delete(f->st, "A-2"), STORE_OK);
	assert_int_equal(store_capf_delete(f->st, "A-2"), STORE_NOTFOUND);
	/* Deleting the user deletes the profiles. */
	struct store_val v[] = {SV_S("jpinkman")};
	assert_int_equal(
	    store_exec(f->st, "DELETE FROM enduser WHERE userid = $1", v, 1, NULL, NULL, NULL),
	    STORE_OK);
	assert_int_equal(store_capf_get(f->st, "1234", NOW, &out), STORE_NOTFOUND);
}

static void test_expiry(void **state)
{
	struct tu_store *f = *state;
	struct store_capfprofile p = profile("1", "wwhite"), out;
	p.expires = NOW + 60;
	assert_int_equal(store_capf_add(f->st, &p), STORE_OK);
	assert_int_equal(store_capf_get(f->st, "1", NOW + 59, &out), STORE_OK);
	assert_string_equal(out.status, "pending");
	/* At expires it is over: computed on read, nothing stored. */
	assert_int_equal(store_capf_get(f->st, "1", NOW + 60, &out), STORE_OK);
	assert_string_equal(out.status, "expired");
	assert_int_equal(store_capf_consume(f->st, "1", p.secrethash, NOW + 60, &out),
	                 STORE_NOTFOUND);
	char got[32] = "";
	assert_int_equal(store_capf_list(f->st, NULL, NOW + 61, status_of, got), STORE_OK);
	assert_string_equal(got, "expired");
	/* A consumed or locked profile keeps its status past expiry. */
	assert_int_equal(store_capf_consume(f->st, "1", p.secrethash, NOW + 59, &out), STORE_OK);
	assert_int_equal(store_capf_succeeded(f->st, "1", "0A1B"), STORE_OK);
	assert_int_equal(store_capf_get(f->st, "1", NOW + 3600, &out), STORE_OK);
	assert_string_equal(out.status, "success");
	/* Rearm gives a new expiry. */
	assert_int_equal(store_capf_rearm(f->st, "1", "hmac", p.secrethash, NOW + 7200), STORE_OK);
	assert_int_equal(store_capf_get(f->st, "1", NOW + 3600, &out), STORE_OK);
	assert_string_equal(out.status, "pending");
	assert_int_equal(store_capf_consume(f->st, "1", p.secrethash, NOW + 3600, &out), STORE_OK);
}

static void test_consume_once(void **state)
{
	struct tu_store *f = *state;
	struct store_capfprofile p = profile("1", "wwhite"), out;
	assert_int_equal(store_capf_add(f->st, &p), STORE_OK);
	/* Not the secret that was verified (re-armed in between): nothing consumed. */
	assert_int_equal(store_capf_consume(f->st, "1", "other", NOW, &out), STORE_NOTFOUND);
	assert_int_equal(store_capf_consume(f->st, "1", p.secrethash, NOW, &out), STORE_OK);
	assert_string_equal(out.instanceid, "1");
	assert_string_equal(out.userid, "wwhite");
	assert_int_equal(out.used, 1);
	assert_string_equal(out.status, "pending");
	/* Used: never again, whatever the time. */
	assert_int_equal(store_capf_consume(f->st, "1", p.secrethash, NOW, &out), STORE_NOTFOUND);
	assert_int_equal(store_capf_consume(f->st, "2", p.secrethash, NOW, &out), STORE_NOTFOUND);
	/* The enrolment ends: success with the serial, once. */
	assert_int_equal(store_capf_succeeded(f->st, "1", "7F3A9C"), STORE_OK);
	assert_int_equal(store_capf_get(f->st, "1", NOW, &out), STORE_OK);
	assert_string_equal(out.status, "success");
	assert_string_equal(out.serial, "7F3A9C");
	assert_int_equal(store_capf_succeeded(f->st, "1", "7F3A9D"), STORE_NOTFOUND);
	assert_int_equal(store_capf_failed(f->st, "1", "late"), STORE_NOTFOUND);

	/* A profile not consumed cannot be marked done. */
	p = profile("2", "wwhite");
	assert_int_equal(store_capf_add(f->st, &p), STORE_OK);
	assert_int_equal(store_capf_succeeded(f->st, "2", "01"), STORE_NOTFOUND);
	assert_int_equal(store_capf_consume(f->st, "2", p.secrethash, NOW, &out), STORE_OK);
	assert_int_equal(store_capf_failed(f->st, "2", "CSR key type does not match"), STORE_OK);
	assert_int_equal(store_capf_get(f->st, "2", NOW, &out), STORE_OK);
	assert_string_equal(out.status, "failed");
	assert_string_equal(out.reason, "CSR key type does not match");
	assert_string_equal(out.serial, "");
}

static void released_id(void *ud, const char *id)
{
	strncat(ud, id, 31 - strlen(ud));
}

/* Consumed and never ended (a crash in the middle): put back, same secret and expiry;
 * success, failed, locked and unused profiles untouched. */
static void test_release_interrupted(void **state)
{
	struct tu_store *f = *state;
	struct store_capfprofile p, out;
	const char *ids[] = {"a", "b", "c", "d", "e"};
	for (size_t i = 0; i < 5; i++) {
		p = profile(ids[i], "wwhite");
		assert_int_equal(store_capf_add(f->st, &p), STORE_OK);
	}
	for (size_t i = 0; i < 4; i++)
		assert_int_equal(store_capf_consume(f->st, ids[i], p.secrethash, NOW, &out),
		                 STORE_OK);
	assert_int_equal(store_capf_succeeded(f->st, "b", "01"), STORE_OK);
	assert_int_equal(store_capf_failed(f->st, "c", "bad CSR"), STORE_OK);
	int n = -1, locked = 0;
	for (int i = 0; i < 10; i++)
		assert_int_equal(store_capf_auth_failed(f->st, "e", 10, &n, &locked), STORE_OK);
	assert_int_equal(locked, 1);
	char got[32] = "";
	assert_int_equal(store_capf_release_interrupted(f->st, released_id, got, &n), STORE_OK);
	assert_int_equal(n, 2);
	assert_int_equal(strlen(got), 2); /* a and d, in no particular order */
	assert_non_null(strchr(got, 'a'));
	assert_non_null(strchr(got, 'd'));
	const char *status[] = {"pending", "success", "failed", "pending", "locked"};
	const int used[] = {0, 1, 1, 0, 0};
	for (size_t i = 0; i < 5; i++) {
		assert_int_equal(store_capf_get(f->st, ids[i], NOW, &out), STORE_OK);
		assert_string_equal(out.status, status[i]);
		assert_int_equal(out.used, used[i]);
		assert_int_equal(out.expires, p.expires);
		assert_string_equal(out.secrethash, p.secrethash);
	}
	assert_int_equal(store_capf_consume(f->st, "a", p.secrethash, NOW, &out), STORE_OK);
	assert_int_equal(store_capf_release_interrupted(f->st, NULL, NULL, &n), STORE_OK);
	assert_int_equal(n, 1);
	assert_int_equal(store_capf_release_interrupted(f->st, NULL, NULL, &n), STORE_OK);
	assert_int_equal(n, 0);
}

/* Two threads, each with its own connection, consume the same profiles at once: for
 * every profile exactly one wins, the other finds it used. */
#define RACE_PROFILES 40
struct racer {
	store_t *st;
	pthread_barrier_t *go;
	int won[RACE_PROFILES];
	int errors;
};

static void *race(void *arg)
{
	struct racer *r = arg;
	char hash[65];
	snprintf(hash, sizeof hash, "%064d", 7);
	for (int i = 0; i < RACE_PROFILES; i++) {
		char id[16];
		snprintf(id, sizeof id, "race-%d", i);
		struct store_capfprofile out;
		pthread_barrier_wait(r->go);
		int rc = store_capf_consume(r->st, id, hash, NOW, &out);
		if (rc == STORE_OK)
			r->won[i] = 1;
		else if (rc != STORE_NOTFOUND)
			r->errors++;
	}
	return NULL;
}

static void test_consume_race(void **state)
{
	struct tu_store *f = *state;
	for (int i = 0; i < RACE_PROFILES; i++) {
		char id[16];
		snprintf(id, sizeof id, "race-%d", i);
		struct store_capfprofile p = profile(id, "wwhite");
		assert_int_equal(store_capf_add(f->st, &p), STORE_OK);
	}
	pthread_barrier_t go;
	struct racer a = {.st = f->st, .go = &go}, b = {.st = f->st, .go = &go};
	tu_run_pair(race, &a, &b, &go);
	assert_int_equal(a.errors, 0);
	assert_int_equal(b.errors, 0);
	for (int i = 0; i < RACE_PROFILES; i++)
		assert_int_equal(a.won[i] + b.won[i], 1);
}

static void test_lock_after_failures(void **state)
{
	struct tu_store *f = *state;
	struct store_capfprofile p = profile("1", "wwhite"), out;
	assert_int_equal(store_capf_add(f->st, &p), STORE_OK);
	int n = 0, locked = 0;
	for (int i = 1; i <= 9; i++) {
		assert_int_equal(store_capf_auth_failed(f->st, "1", 10, &n, &locked), STORE_OK);
		assert_int_equal(n, i);
		assert_int_equal(locked, 0);
	}
	assert_int_equal(store_capf_get(f->st, "1", NOW, &out), STORE_OK);
	assert_string_equal(out.status, "pending");
	assert_int_equal(out.failures, 9);
	/* The tenth locks it, and says so once. */
	assert_int_equal(store_capf_auth_failed(f->st, "1", 10, &n, &locked), STORE_OK);
	assert_int_equal(n, 10);
	assert_int_equal(locked, 1);
	assert_int_equal(store_capf_auth_failed(f->st, "1", 10, &n, &locked), STORE_NOTFOUND);
	assert_int_equal(locked, 0);
	assert_int_equal(store_capf_get(f->st, "1", NOW, &out), STORE_OK);
	assert_string_equal(out.status, "locked");
	assert_int_equal(out.failures, 10);
	/* Locked: even the right secret is not consumed. */
	assert_int_equal(store_capf_consume(f->st, "1", p.secrethash, NOW, &out), STORE_NOTFOUND);

	/* Rearm unlocks, with a new secret and expiry; the old secret is no longer it. */
	char hash[65];
	snprintf(hash, sizeof hash, "%064d", 8);
	assert_int_equal(store_capf_rearm(f->st, "1", "hmac", hash, NOW + 100), STORE_OK);
	assert_int_equal(store_capf_get(f->st, "1", NOW, &out), STORE_OK);
	assert_string_equal(out.status, "pending");
	assert_int_equal(out.failures, 0);
	assert_int_equal(out.used, 0);
	assert_int_equal(out.expires, NOW + 100);
	assert_string_equal(out.secrethash, hash);
	assert_int_equal(store_capf_consume(f->st, "1", p.secrethash, NOW, &out), STORE_NOTFOUND);
	/* A success resets the consecutive count. */
	assert_int_equal(store_capf_auth_failed(f->st, "1", 10, &n, &locked), STORE_OK);
	assert_int_equal(n, 1);
	assert_int_equal(store_capf_consume(f->st, "1", hash, NOW, &out), STORE_OK);
	assert_int_equal(out.failures, 0);
	/* Rearm: a secret that does not suit the mode is refused; a missing profile too. */
	assert_int_equal(store_capf_rearm(f->st, "1", "", "", NOW + 100), STORE_CONSTRAINT);
	assert_int_equal(store_capf_rearm(f->st, "2", "hmac", hash, NOW + 100), STORE_NOTFOUND);
	/* Another profile's failures are its own. */
	p = profile("2", "wwhite");
	assert_int_equal(store_capf_add(f->st, &p), STORE_OK);
	assert_int_equal(store_capf_auth_failed(f->st, "2", 10, &n, &locked), STORE_OK);
	assert_int_equal(n, 1);
}

static int sql_row(void *ud, int ncols, const char *const *names, const char *const *vals)
{
	(void)names;
	char *got = ud;
	for (int i = 0; i < ncols; i++) {
		tu_append(got, 256, vals[i] ? vals[i] : "NULL");
		tu_append(got, 256, ";");
	}
	return 0;
}

static void test_secret_hidden_from_sql(void **state)
{
	struct tu_store *f = *state;
	struct store_capfprofile p = profile("1", "wwhite");
	assert_int_equal(store_capf_add(f->st, &p), STORE_OK);
	char got[256] = "", err[256];
	int truncated = 0;
	/* Named, the column is refused (the table named with it: oauthclient has one too). */
	assert_int_equal(store_query_readonly(f->st,
	                                      "SELECT instanceid, secretkind, secrethash FROM "
	                                      "capfprofile",
	                                      10, 1000, sql_row, got, &truncated, err, sizeof err),
	                 STORE_REFUSED);
	assert_string_equal(got, "");
	assert_non_null(strstr(err, "capfprofile.secrethash is a secret column"));
	/* Through *, it reads as NULL. */
	assert_int_equal(
	    store_query_readonly(f->st, "SELECT instanceid, secretkind, c.* FROM capfprofile c", 10,
	                         1000, sql_row, got, &truncated, err, sizeof err),
	    STORE_OK);
	assert_non_null(strstr(got, "1;hmac;1;"));
	assert_non_null(strstr(got, ";hmac;NULL;"));
	assert_null(strstr(got, p.secrethash));
}

static void test_migration_v8_to_v9(void **state)
{
	struct tu_store *f = *state;
	store_close(f->st);
	f->st = NULL;
	static const char *const rows[] = {"INSERT INTO enduser (userid) VALUES ('jpinkman')"};
	tu_store_write_old(f->path, 8, rows, 1);
	tu_store_open(f, 0);
	int v = 0;
	assert_int_equal(store_schema_version(f->st, &v), STORE_OK);
	assert_int_equal(v, store_schema_latest());
	assert_true(v >= 9);
	struct store_capfprofile p = profile("5", "jpinkman"), out;
	assert_int_equal(store_capf_add(f->st, &p), STORE_OK);
	assert_int_equal(store_capf_get(f->st, "5", NOW, &out), STORE_OK);
	assert_string_equal(out.status, "pending");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_add_get_list_delete, setup, tu_store_teardown),
	    cmocka_unit_test_setup_teardown(test_expiry, setup, tu_store_teardown),
	    cmocka_unit_test_setup_teardown(test_consume_once, setup, tu_store_teardown),
	    cmocka_unit_test_setup_teardown(test_consume_race, setup, tu_store_teardown),
	    cmocka_unit_test_setup_teardown(test_release_interrupted, setup, tu_store_teardown),
	    cmocka_unit_test_setup_teardown(test_lock_after_failures, setup, tu_store_teardown),
	    cmocka_unit_test_setup_teardown(test_secret_hidden_from_sql, setup, tu_store_teardown),
	    cmocka_unit_test_setup_teardown(test_migration_v8_to_v9, setup, tu_store_teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
