/* SPDX-License-Identifier: ISC */
#include "store/store.h"
#include "store/store_backend.h"

#include <pthread.h>
#include <stdint.h>
#include <setjmp.h>
#include <sqlite3.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/stat.h>
#include <cmocka.h>

#include "store_fixture.h"

static void reopen(struct tu_store *f)
{
	store_close(f->st);
	tu_store_open(f, 0);
}

static struct store_user user(const char *id)
{
	struct store_user u;
	memset(&u, 0, sizeof u);
	snprintf(u.userid, sizeof u.userid, "%s", id);
	snprintf(u.firstname, sizeof u.firstname, "First");
	u.directory = STORE_DIR_LOCAL;
	u.status = STORE_USER_ACTIVE;
	return u;
}

static void test_migrations(void **state)
{
	struct tu_store *f = *state;
	int v = 0;
	assert_int_equal(store_schema_version(f->st, &v), STORE_OK);
	assert_int_equal(v, store_schema_latest());
	char val[16];
	/* Known parameters are seeded with their defaults. */
	assert_int_equal(store_param_get(f->st, "ClusterSIPOAuthMode", val, sizeof val), STORE_OK);
	assert_string_equal(val, "0");
	assert_int_equal(store_param_set(f->st, "ClusterSIPOAuthMode", "1", "Enterprise"),
	                 STORE_OK);
	reopen(f); /* migrations are idempotent, and seeding keeps set values */
	assert_int_equal(store_schema_version(f->st, &v), STORE_OK);
	assert_int_equal(v, store_schema_latest());
	assert_int_equal(store_param_get(f->st, "ClusterSIPOAuthMode", val, sizeof val), STORE_OK);
	assert_string_equal(val, "1");
	/* The built-in CTI groups exist. */
	assert_int_equal(store_group_exists(f->st, "Standard CTI Enabled"), 1);
	assert_int_equal(store_group_exists(f->st, "No Such Group"), 0);
}

static void test_newer_schema_refused(void **state)
{
	struct tu_store *f = *state;
	store_close(f->st);
	f->st = NULL;
	sqlite3 *db;
	assert_int_equal(sqlite3_open(f->path, &db), SQLITE_OK);
	assert_int_equal(
	    sqlite3_exec(db, "INSERT INTO schema_version VALUES (999, 0)", NULL, NULL, NULL),
	    SQLITE_OK);
	sqlite3_close(db);
	struct store_options o = {.backend = "sqlite", .path = f->path, .busy_timeout_ms = 5000};
	char err[256];
	assert_int_not_equal(store_open(&o, &f->st, err, sizeof err), STORE_OK);
	assert_non_null(strstr(err, "newer"));
	/* Put it back so teardown can close a store. */
	sqlite3_open(f->path, &db);
	sqlite3_exec(db, "DELETE FROM schema_version WHERE version = 999", NULL, NULL, NULL);
	sqlite3_close(db);
	assert_int_equal(store_open(&o, &f->st, err, sizeof err), STORE_OK);
}
/* An offline check (telgated --kek-status) opens with no_migrate: an older store is
 * refused and left as it was; a normal open then upgrades it. */
static void test_offline_open_does_not_migrate(void **state)
{
	struct tu_store *f = *state;
	store_close(f->st);
	f->st = NULL;
	tu_store_write_old(f->path, 18, NULL, 0);
	struct store_options o = {
	    .backend = "sqlite", .path = f->path, .busy_timeout_ms = 5000, .no_migrate = 1};
	char err[512];
	assert_int_not_equal(store_open(&o, &f->st, err, sizeof err), STORE_OK);
	assert_null(f->st);
	assert_non_null(strstr(err, "version 18 is older"));
	sqlite3 *db;
	sqlite3_stmt *q;
	assert_int_equal(sqlite3_open(f->path, &db), SQLITE_OK);
	assert_int_equal(
	    sqlite3_prepare_v2(db, "SELECT max(version) FROM schema_version", -1, &q, NULL),
	    SQLITE_OK);
	assert_int_equal(sqlite3_step(q), SQLITE_ROW);
	assert_int_equal(sqlite3_column_int(q, 0), 18);
	sqlite3_finalize(q);
	sqlite3_close(db);
	o.no_migrate = 0;
	assert_int_equal(store_open(&o, &f->st, err, sizeof err), STORE_OK);
	int v = 0;
	assert_int_equal(store_schema_version(f->st, &v), STORE_OK);
	assert_int_equal(v, store_schema_latest());
	/* At the latest schema an offline open is allowed. */
	store_close(f->st);
	o.no_migrate = 1;
	assert_int_equal(store_open(&o, &f->st, err, sizeof err), STORE_OK);
}

static int reg_last(void *ud, const struct store_registration *r);

static int count_device(void *ud, const struct store_device *d)
{
	(void)d;
	++*(int *)ud;
	return 0;
}

/* A store written by schema v13 (deviceline.line the key: one device per line) opened by
 * this telgated: v14 keeps every line of every device and from then on a line may be on
 * several devices, once on each. */
static void test_migration_v13_to_v14(void **state)
{
	struct tu_store *f = *state;
	store_close(f->st);
	f->st = NULL;
	static const char *const rows[] = {
	    "INSERT INTO device (name) VALUES ('SEPDESK'), ('CSFSOFT')",
	    "INSERT INTO deviceline (line, devicename) VALUES ('1001', 'SEPDESK'), "
	    "('1002', 'SEPDESK'), ('2001', 'CSFSOFT')",
	};
	tu_store_write_old(f->path, 13, rows, sizeof rows / sizeof rows[0]);
	reopen(f);
	int v = 0;
	assert_int_equal(store_schema_version(f->st, &v), STORE_OK);
	assert_int_equal(v, store_schema_latest());
	struct store_device d;
	assert_int_equal(store_device_by_line(f->st, "1001", &d), STORE_OK);
	assert_string_equal(d.name, "SEPDESK");
	assert_int_equal(store_device_by_line(f->st, "1002", &d), STORE_OK);
	assert_string_equal(d.name, "SEPDESK");
	assert_int_equal(store_device_by_line(f->st, "2001", &d), STORE_OK);
	assert_string_equal(d.name, "CSFSOFT");
	/* Now shared: 1001 on the softphone too. */
	const char *const soft[] = {"2001", "1001"};
	assert_int_equal(store_device_lines_set(f->st, "CSFSOFT", soft, 2), STORE_OK);
	int n = 0;
	assert_int_equal(store_line_devices(f->st, "1001", count_device, &n), STORE_OK);
	assert_int_equal(n, 2);
	assert_int_equal(store_device_by_line(f->st, "1001", &d), STORE_CONSTRAINT);
	/* Once per device: the same line twice is refused (and the device keeps none of the
	 * new list: the caller's transaction rolls back). */
	const char *const twice[] = {"3001", "3001"};
	assert_int_equal(store_device_lines_set(f->st, "SEPDESK", twice, 2), STORE_CONSTRAINT);
}

/* One text column of a query on the database file at path ("" when no row). */
static void sql_text(const char *path, const char *sql, char *out, size_t cap)
{
	sqlite3 *db;
	sqlite3_stmt *q;
	assert_int_equal(sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
	assert_int_equal(sqlite3_prepare_v2(db, sql, -1, &q, NULL), SQLITE_OK);
	out[0] = '\0';
	if (sqlite3_step(q) == SQLITE_ROW && sqlite3_column_text(q, 0))
		snprintf(out, cap, "%s", (const char *)sqlite3_column_text(q, 0));
	sqlite3_finalize(q);
	sqlite3_close(db);
}

static int reg_count(void *ud, const struct store_registration *r)
{
	(void)r;
	++*(int *)ud;
	return 0;
}

/* A store written by schema v18 with bindings in it (one of node A's, one of before
 * schema 16: processnode '') opened by this telgated: v19 keeps every binding and every
 * column, the table has no rowid and no index holding expires any more, and a refresh
 * (a row found by its key and rewritten, no index entry moved) moves the stored expiry
 * of the node's own row only: another node's or a '' row is STORE_NOTFOUND, for the
 * caller's put to take over. */
static void test_migration_v18_to_v19(void **state)
{
	struct tu_store *f = *state;
	store_close(f->st);
	f->st = NULL;
	static const char *const rows[] = {
	    "INSERT INTO device (name) VALUES ('SEPA'), ('SEPOLD')",
	    "INSERT INTO registration (devicename, contact, aor, callid, cseq, expires, transport, "
	    "source, sipinstance, regid, processnode, changedms) VALUES "
	    "('SEPA', '<sip:1001@10.0.0.1:5060>', 'sip:1001@telgate', 'call-a', 7, 4000000000, "
	    "'TLS', '10.0.0.1:40000', '<urn:uuid:a>', 1, 'nodeA', 1234), "
	    "('SEPA', '<sip:1001@10.0.0.2:5060>', 'sip:1001@telgate', 'call-a2', 8, 4000000001, "
	    "'TCP', '10.0.0.2:40000', '', -1, 'nodeA', 1235), "
	    "('SEPOLD', '<sip:2001@10.0.0.3:5060>', 'sip:2001@telgate', 'call-old', 3, 4000000002,"
	    " 'UDP', '10.0.0.3:5060', '', -1, '', 0)",
	};
	tu_store_write_old(f->path, 18, rows, sizeof rows / sizeof rows[0]);
	char txt[512];
	sql_text(f->path,
	         "SELECT group_concat(name) FROM sqlite_master WHERE type = 'index' AND "
	         "tbl_name = 'registration' AND sql IS NOT NULL",
	         txt, sizeof txt);
	assert_string_equal(txt, "registration_expires,registration_node");

	reopen(f);
	int v = 0;
	assert_int_equal(store_schema_version(f->st, &v), STORE_OK);
	assert_int_equal(v, store_schema_latest());
	char err[256];
	assert_int_equal(store_integrity_check(f->st, err, sizeof err), 0);
	/* Every binding, every column. */
	struct store_registration r;
	memset(&r, 0, sizeof r);
	int n = 0;
	assert_int_equal(store_registrations(f->st, NULL, reg_count, &n), STORE_OK);
	assert_int_equal(n, 3);
	assert_int_equal(store_registrations(f->st, "SEPOLD", reg_last, &r), STORE_OK);
	assert_string_equal(r.contact, "<sip:2001@10.0.0.3:5060>");
	assert_string_equal(r.callid, "call-old");
	assert_int_equal(r.expires, 4000000002);
	assert_string_equal(r.node, "");
	assert_int_equal(store_registrations(f->st, "SEPA", reg_last, &r), STORE_OK);
	assert_string_equal(r.contact, "<sip:1001@10.0.0.2:5060>"); /* the later contact */
	assert_string_equal(r.aor, "sip:1001@telgate");
	assert_string_equal(r.callid, "call-a2");
	assert_int_equal(r.cseq, 8);
	assert_int_equal(r.expires, 4000000001);
	assert_string_equal(r.transport, "TCP");
	assert_string_equal(r.source, "10.0.0.2:40000");
	assert_int_equal(r.regid, -1);
	assert_string_equal(r.node, "nodeA");
	sql_text(f->path,
	         "SELECT changedms FROM registration WHERE devicename = 'SEPA' AND "
	         "contact = '<sip:1001@10.0.0.1:5060>'",
	         txt, sizeof txt);
	assert_string_equal(txt, "1234");
	/* The shape: no rowid, one index (processnode only). */
	sql_text(f->path, "SELECT sql FROM sqlite_master WHERE name = 'registration'", txt,
	         sizeof txt);
	assert_non_null(strstr(txt, "WITHOUT ROWID"));
	sql_text(f->path,
	         "SELECT group_concat(name) FROM sqlite_master WHERE type = 'index' AND "
	         "tbl_name = 'registration' AND sql IS NOT NULL",
	         txt, sizeof txt);
	assert_string_equal(txt, "registration_node");
	sql_text(f->path, "SELECT group_concat(name) FROM pragma_index_info('registration_node')",
	         txt, sizeof txt);
	assert_string_equal(txt, "processnode");
	/* A refresh of node A's row moves its expiry, Call-ID and CSeq, nothing else. */
	r.expires = 4100000000;
	r.cseq = 9;
	snprintf(r.callid, sizeof r.callid, "call-a2-refreshed");
	snprintf(r.source, sizeof r.source, "ignored by a refresh");
	assert_int_equal(store_registration_refresh(f->st, &r), STORE_OK);
	struct store_registration back;
	memset(&back, 0, sizeof back);
	assert_int_equal(store_registrations(f->st, "SEPA", reg_last, &back), STORE_OK);
	assert_int_equal(back.expires, 4100000000);
	assert_int_equal(back.cseq, 9);
	assert_string_equal(back.callid, "call-a2-refreshed");
	assert_string_equal(back.source, "10.0.0.2:40000");
	assert_string_equal(back.node, "nodeA");
	/* A rewrite (the phone reconnected) moves every column but the key and the node. */
	snprintf(r.source, sizeof r.source, "10.0.0.2:40001");
	snprintf(r.transport, sizeof r.transport, "TLS");
	r.cseq = 10;
	assert_int_equal(store_registration_rewrite(f->st, &r), STORE_OK);
	assert_int_equal(store_registrations(f->st, "SEPA", reg_last, &back), STORE_OK);
	assert_string_equal(back.source, "10.0.0.2:40001");
	assert_string_equal(back.transport, "TLS");
	assert_int_equal(back.cseq, 10);
	assert_string_equal(back.node, "nodeA");
	/* Not node B's to refresh or rewrite: untouched; B's put takes it over. */
	snprintf(r.node, sizeof r.node, "nodeB");
	r.expires = 4200000000;
	assert_int_equal(store_registration_refresh(f->st, &r), STORE_NOTFOUND);
	assert_int_equal(store_registration_rewrite(f->st, &r), STORE_NOTFOUND);
	assert_int_equal(store_registrations(f->st, "SEPA", reg_last, &back), STORE_OK);
	assert_int_equal(back.expires, 4100000000);
	/* A row of before schema 16 is not node A's yet: its put takes it. */
	struct store_registration old;
	memset(&old, 0, sizeof old);
	assert_int_equal(store_registrations(f->st, "SEPOLD", reg_last, &old), STORE_OK);
	snprintf(old.node, sizeof old.node, "nodeA");
	old.expires = 4300000000;
	assert_int_equal(store_registration_refresh(f->st, &old), STORE_NOTFOUND);
	assert_int_equal(store_registration_put(f->st, &old), STORE_OK);
	assert_int_equal(store_registration_refresh(f->st, &old), STORE_OK);
	assert_int_equal(store_registrations(f->st, "SEPOLD", reg_last, &back), STORE_OK);
	assert_string_equal(back.node, "nodeA");
	assert_int_equal(back.expires, 4300000000);
	/* The sweep of node A's rows still finds them by expiry. */
	n = 0;
	assert_int_equal(store_registrations_expire(f->st, "nodeA", 4200000000, &n), STORE_OK);
	assert_int_equal(n, 2); /* SEPA's first contact (4000000000) and second (4100000000) */
	n = 0;
	assert_int_equal(store_registrations(f->st, NULL, reg_count, &n), STORE_OK);
	assert_int_equal(n, 1);
}

/* A store written by schema v4 (one credentialdynamic row per user) with rows in it,
 * opened by this telgated: v5 splits the state per credential type without losing any. */
static void test_migration_v4_to_v5(void **state)
{
	struct tu_store *f = *state;
	store_close(f->st);
	f->st = NULL;
	static const char *const rows[] = {
	    "INSERT INTO credentialpolicy (name, failedlogonthreshold) VALUES ('Strict', 2)",
	    "INSERT INTO enduser (userid, passwordhash, credentialpolicy) VALUES "
	    "('locked', 'h1', 'Strict'), ('counted', 'h2', 'Default Credential Policy'), "
	    "('norow', '', 'Default Credential Policy')",
	    /* An administrator lock, a threshold lockout and must-change on one user; a
	     * failure count on another; none at all for the third. */
	    "INSERT INTO credentialdynamic (userid, hackcount, timelockedout, timehackedlockout, "
	    "lastsuccessfullogin, lastfailedlogin, timechanged, mustchange, inactive, "
	    "doesnotexpire) VALUES ('locked', 2, 1000, 2000, 3000, 4000, 5000, 1, 0, 1), "
	    "('counted', 1, 0, 0, 6000, 7000, 8000, 0, 1, 0)",
	    "INSERT INTO device (name) VALUES ('SEPKEEP')",
	    "INSERT INTO registration (devicename, contact, aor, callid, cseq, expires, transport, "
	    "source, sipinstance, regid) VALUES ('SEPKEEP', 'sip:k@h', 'sip:1@t', 'c', 1, "
	    "9999999999, 'UDP', '127.0.0.1:5060', '<urn:uuid:1>', 1)",
	};
	tu_store_write_old(f->path, 4, rows, sizeof rows / sizeof rows[0]);

	reopen(f);
	int v = 0;
	assert_int_equal(store_schema_version(f->st, &v), STORE_OK);
	assert_int_equal(v, store_schema_latest());
	/* The password rows are the old rows, unchanged. */
	struct store_credstate cs;
	assert_int_equal(store_credstate_get(f->st, "locked", STORE_CRED_PASSWORD, &cs), STORE_OK);
	assert_int_equal(cs.hackcount, 2);
	assert_int_equal(cs.timelockedout, 1000);
	assert_int_equal(cs.timehackedlockout, 2000);
	assert_int_equal(cs.lastsuccessfullogin, 3000);
	assert_int_equal(cs.lastfailedlogin, 4000);
	assert_int_equal(cs.timechanged, 5000);
	assert_int_equal(cs.mustchange, 1);
	assert_int_equal(cs.doesnotexpire, 1);
	assert_string_equal(cs.credentialpolicy, "");
	/* The digest rows keep the administrator lock, inactivity and times, not the shared
	 * failure count or threshold lockout (see schema.c v5). */
	assert_int_equal(store_credstate_get(f->st, "locked", STORE_CRED_DIGEST, &cs), STORE_OK);
	assert_int_equal(cs.hackcount, 0);
	assert_int_equal(cs.timelockedout, 1000);
	assert_int_equal(cs.timehackedlockout, 0);
	assert_int_equal(cs.lastsuccessfullogin, 3000);
	assert_int_equal(cs.mustchange, 0);
	assert_int_equal(store_credstate_get(f->st, "counted", STORE_CRED_PASSWORD, &cs), STORE_OK);
	assert_int_equal(cs.hackcount, 1);
	assert_int_equal(cs.inactive, 1);
	assert_int_equal(cs.lastfailedlogin, 7000);
	assert_int_equal(store_credstate_get(f->st, "counted", STORE_CRED_DIGEST, &cs), STORE_OK);
	assert_int_equal(cs.inactive, 1);
	assert_int_equal(cs.hackcount, 0);
	/* A user who had no row gets both, clean. */
	assert_int_equal(store_credstate_get(f->st, "norow", STORE_CRED_PASSWORD, &cs), STORE_OK);
	assert_int_equal(store_credstate_get(f->st, "norow", STORE_CRED_DIGEST, &cs), STORE_OK);
	assert_int_equal(cs.hackcount + cs.timelockedout, 0);
	/* Policies: the user's own for the password, the type's default for the digest. */
	struct store_user u;
	struct store_credpolicy pol;
	assert_int_equal(store_user_get(f->st, "locked", &u), STORE_OK);
	assert_int_equal(store_credstate_get(f->st, "locked", STORE_CRED_DIGEST, &cs), STORE_OK);
	assert_int_equal(store_credpolicy_effective(f->st, &u, STORE_CRED_PASSWORD, &cs, &pol),
	                 STORE_OK);
	assert_string_equal(pol.name, "Strict");
	assert_int_equal(pol.failedlogonthreshold, 2);
	assert_int_equal(pol.throttleafterfailures, 0); /* old policies do not throttle */
	assert_int_equal(pol.throttlemaxseconds, 300);
	assert_int_equal(store_credpolicy_effective(f->st, &u, STORE_CRED_DIGEST, &cs, &pol),
	                 STORE_OK);
	assert_string_equal(pol.name, "Default Digest Credential Policy");
	assert_int_equal(pol.failedlogonthreshold, 100);
	assert_int_equal(pol.adminmustunlock, 1);
	assert_int_equal(pol.throttleafterfailures, 10);
	assert_int_equal(pol.throttlemaxseconds, 300);
	/* v4's columns and rows survive too. */
	struct store_registration reg;
	memset(&reg, 0, sizeof reg);
	assert_int_equal(store_registrations(f->st, "SEPKEEP", reg_last, &reg), STORE_OK);
	assert_string_equal(reg.sipinstance, "<urn:uuid:1>");
	assert_int_equal(reg.regid, 1);
	char err[256];
	assert_int_equal(store_integrity_check(f->st, err, sizeof err), 0);
}

/* Each credential type has its own row and its own policy. */
static void test_credential_types(void **state)
{
	struct tu_store *f = *state;
	struct store_user u = user("typed");
	assert_int_equal(store_user_put(f->st, &u), STORE_OK);
	struct store_credstate cs = {.hackcount = 7}, got;
	assert_int_equal(store_credstate_put(f->st, "typed", STORE_CRED_DIGEST, &cs), STORE_OK);
	assert_int_equal(store_credstate_get(f->st, "typed", STORE_CRED_PASSWORD, &got), STORE_OK);
	assert_int_equal(got.hackcount, 0);
	assert_int_equal(store_credstate_get(f->st, "typed", STORE_CRED_DIGEST, &got), STORE_OK);
	assert_int_equal(got.hackcount, 7);
	assert_int_equal(store_credstate_get(f->st, "nobody", STORE_CRED_DIGEST, &got),
	                 STORE_NOTFOUND);
	/* A policy of its own for the digest credential. */
	struct store_credpolicy p = {.failedlogonthreshold = 5,
	                             .throttleafterfailures = 2,
	                             .throttlemaxseconds = 9},
	                        g;
	snprintf(p.name, sizeof p.name, "Phones");
	assert_int_equal(store_credpolicy_put(f->st, &p), STORE_OK);
	snprintf(cs.credentialpolicy, sizeof cs.credentialpolicy, "Phones");
	assert_int_equal(store_credstate_put(f->st, "typed", STORE_CRED_DIGEST, &cs), STORE_OK);
	assert_int_equal(store_credstate_get(f->st, "typed", STORE_CRED_DIGEST, &got), STORE_OK);
	assert_int_equal(store_credpolicy_effective(f->st, &u, STORE_CRED_DIGEST, &got, &g),
	                 STORE_OK);
	assert_string_equal(g.name, "Phones");
	assert_int_equal(g.throttleafterfailures, 2);
	assert_int_equal(g.throttlemaxseconds, 9);
	/* A credential naming a policy that does not exist: not found, never a fallback. */
	snprintf(cs.credentialpolicy, sizeof cs.credentialpolicy, "Gone");
	assert_int_equal(store_credpolicy_effective(f->st, &u, STORE_CRED_DIGEST, &cs, &g),
	                 STORE_NOTFOUND);
	enum store_credtype t;
	assert_int_equal(store_credtype_parse("digest", &t), 0);
	assert_int_equal(t, STORE_CRED_DIGEST);
	assert_int_equal(store_credtype_parse("pin", &t), -1);
	assert_string_equal(store_credtype_name(STORE_CRED_PASSWORD), "password");
}

static void test_unopenable(void **state)
{
	(void)state;
	store_t *st;
	char err[256];
	struct store_options o = {
	    .backend = "sqlite", .path = "/nonexistent/dir/t.db", .busy_timeout_ms = 100};
	assert_int_not_equal(store_open(&o, &st, err, sizeof err), STORE_OK);
	assert_non_null(strstr(err, "cannot open"));
	struct store_options p = {.backend = "oracle", .path = "/tmp/x", .busy_timeout_ms = 100};
	assert_int_not_equal(store_open(&p, &st, err, sizeof err), STORE_OK);
	assert_non_null(strstr(err, "unknown store backend"));
}

static int collect(void *ud, const char *name)
{
	char *out = ud;
	size_t l = strlen(out);
	snprintf(out + l, 256 - l, "%s;", name);
	return 0;
}

static int reg_last(void *ud, const struct store_registration *r)
{
	*(struct store_registration *)ud = *r;
	return 0;
}

static void test_entities(void **state)
{
	struct tu_store *f = *state;
	struct store_user u = user("wwhite"), g;
	snprintf(u.passwordhash, sizeof u.passwordhash, "$argon2id$v=19$m=8,t=1,p=1$x$y");
	assert_int_equal(store_user_put(f->st, &u), STORE_OK);
	assert_int_equal(store_user_get(f->st, "wwhite", &g), STORE_OK);
	assert_string_equal(g.firstname, "First");
	assert_string_equal(g.credentialpolicy, "Default Credential Policy");
	assert_int_equal(g.status, STORE_USER_ACTIVE);
	assert_int_equal(store_user_get(f->st, "nobody", &g), STORE_NOTFOUND);
	/* Upsert replaces. */
	u.directory = STORE_DIR_LDAP;
	assert_int_equal(store_user_put(f->st, &u), STORE_OK);
	assert_int_equal(store_user_get(f->st, "wwhite", &g), STORE_OK);
	assert_int_equal(g.directory, STORE_DIR_LDAP);
	/* The CTI authentication type (schema v11): 'password' for a new user; set on its
	 * own, and kept by an upsert that does not name it (a re-import). */
	assert_int_equal(g.ctiauthtype, STORE_CTIAUTH_PASSWORD);
	assert_int_equal(store_user_set_ctiauthtype(f->st, "wwhite", STORE_CTIAUTH_CERTIFICATE),
	                 STORE_OK);
	assert_int_equal(store_user_put(f->st, &u), STORE_OK);
	assert_int_equal(store_user_get(f->st, "wwhite", &g), STORE_OK);
	assert_int_equal(g.ctiauthtype, STORE_CTIAUTH_CERTIFICATE);
	assert_int_equal(store_user_set_ctiauthtype(f->st, "nobody", STORE_CTIAUTH_CERTIFICATE),
	                 STORE_NOTFOUND);
	enum store_ctiauthtype at;
	assert_int_equal(store_ctiauthtype_parse("certificate", &at), 0);
	assert_int_equal(at, STORE_CTIAUTH_CERTIFICATE);
	assert_int_equal(store_ctiauthtype_parse("Certificate", &at), -1);
	assert_string_equal(store_ctiauthtype_name(STORE_CTIAUTH_PASSWORD), "password");
	/* A user with a missing policy violates a constraint. */
	struct store_user bad = user("x");
	snprintf(bad.credentialpolicy, sizeof bad.credentialpolicy, "Missing");
	assert_int_equal(store_user_put(f->st, &bad), STORE_CONSTRAINT);

	const char *groups[] = {"Standard CTI Enabled", "Standard CTI Secure Connection"};
	assert_int_equal(store_user_set_groups(f->st, "wwhite", groups, 2), STORE_OK);
	char list[256] = "";
	assert_int_equal(store_user_groups(f->st, "wwhite", collect, list), STORE_OK);
	assert_string_equal(list, "Standard CTI Enabled;Standard CTI Secure Connection;");
	const char *nogroup[] = {"Nope"};
	assert_int_equal(store_user_set_groups(f->st, "wwhite", nogroup, 1), STORE_CONSTRAINT);

	struct store_credstate cs = {.hackcount = 2, .timelockedout = 100, .mustchange = 1}, cg;
	assert_int_equal(store_credstate_put(f->st, "wwhite", STORE_CRED_PASSWORD, &cs), STORE_OK);
	assert_int_equal(store_credstate_get(f->st, "wwhite", STORE_CRED_PASSWORD, &cg), STORE_OK);
	assert_int_equal(cg.hackcount, 2);
	assert_int_equal(cg.timelockedout, 100);
	assert_int_equal(cg.mustchange, 1);

	struct store_credpolicy p = {.failedlogonthreshold = 5, .lockoutduration = 10}, pg;
	snprintf(p.name, sizeof p.name, "Strict");
	assert_int_equal(store_credpolicy_put(f->st, &p), STORE_OK);
	assert_int_equal(store_credpolicy_get(f->st, "Strict", &pg), STORE_OK);
	assert_int_equal(pg.failedlogonthreshold, 5);
	assert_int_equal(store_credpolicy_get(f->st, "Default Credential Policy", &pg), STORE_OK);
	assert_int_equal(pg.failedlogonthreshold, 3);
	p.minlength = -1;
	assert_int_equal(store_credpolicy_put(f->st, &p), STORE_CONSTRAINT);

	struct store_device d, dg;
	memset(&d, 0, sizeof d);
	snprintf(d.name, sizeof d.name, "SEP001794625DE5");
	snprintf(d.owneruserid, sizeof d.owneruserid, "wwhite");
	snprintf(d.mac, sizeof d.mac, "001794625DE5");
	assert_int_equal(store_device_put(f->st, &d), STORE_OK);
	assert_int_equal(store_device_get(f->st, "SEP001794625DE5", &dg), STORE_OK);
	assert_string_equal(dg.protocol, "SIP");
	assert_string_equal(dg.owneruserid, "wwhite");
	snprintf(d.owneruserid, sizeof d.owneruserid, "ghost");
	assert_int_equal(store_device_put(f->st, &d), STORE_CONSTRAINT);

	assert_int_equal(store_assoc_put(f->st, "wwhite", "SEP001794625DE5"), STORE_OK);
	assert_int_equal(store_assoc_put(f->st, "wwhite", "SEP001794625DE5"), STORE_OK);
	list[0] = '\0';
	assert_int_equal(store_device_users(f->st, "SEP001794625DE5", collect, list), STORE_OK);
	assert_string_equal(list, "wwhite;");
	assert_int_equal(store_assoc_put(f->st, "wwhite", "SEPNONE"), STORE_CONSTRAINT);
	assert_int_equal(store_assoc_delete(f->st, "wwhite", "SEP001794625DE5"), STORE_OK);
	assert_int_equal(store_assoc_delete(f->st, "wwhite", "SEP001794625DE5"), STORE_NOTFOUND);

	struct store_registration r;
	memset(&r, 0, sizeof r);
	snprintf(r.device, sizeof r.device, "SEP001794625DE5");
	snprintf(r.contact, sizeof r.contact, "<sip:wwhite@127.0.0.1:5060>");
	snprintf(r.transport, sizeof r.transport, "udp");
	r.expires = 1000;
	assert_int_equal(store_registration_put(f->st, &r), STORE_OK);
	snprintf(r.contact, sizeof r.contact, "<sip:wwhite@127.0.0.2:5060>");
	snprintf(r.sipinstance, sizeof r.sipinstance, "<urn:uuid:00000000-0000-1000-8000-0001>");
	r.regid = 2;
	r.expires = 3000;
	assert_int_equal(store_registration_put(f->st, &r), STORE_OK);
	struct store_registration back;
	memset(&back, 0, sizeof back);
	assert_int_equal(store_registrations(f->st, "SEP001794625DE5", reg_last, &back), STORE_OK);
	assert_string_equal(back.sipinstance, r.sipinstance); /* the later contact sorts last */
	assert_int_equal(back.regid, 2);
	/* A refresh moves Call-ID, CSeq and expiry only; a missing binding is not made. */
	snprintf(r.callid, sizeof r.callid, "refresh-1");
	r.cseq = 9;
	r.expires = 3500;
	snprintf(r.sipinstance, sizeof r.sipinstance, "ignored by a refresh");
	assert_int_equal(store_registration_refresh(f->st, &r), STORE_OK);
	memset(&back, 0, sizeof back);
	assert_int_equal(store_registrations(f->st, "SEP001794625DE5", reg_last, &back), STORE_OK);
	assert_string_equal(back.callid, "refresh-1");
	assert_int_equal(back.cseq, 9);
	assert_int_equal(back.expires, 3500);
	assert_string_equal(back.sipinstance, "<urn:uuid:00000000-0000-1000-8000-0001>");
	snprintf(r.contact, sizeof r.contact, "<sip:wwhite@127.0.0.3:5060>");
	assert_int_equal(store_registration_refresh(f->st, &r), STORE_NOTFOUND);
	snprintf(r.contact, sizeof r.contact, "<sip:wwhite@127.0.0.2:5060>");
	int n = 0;
	assert_int_equal(store_registrations_expire(f->st, "", 2000, &n), STORE_OK);
	assert_int_equal(n, 1);
	struct store_counts c;
	assert_int_equal(store_counts(f->st, &c), STORE_OK);
	assert_int_equal(c.users, 1);
	assert_int_equal(c.devices, 1);
	assert_int_equal(c.registrations, 1);
}

static int edge_collect(void *ud, const struct store_edge *e)
{
	char *out = ud;
	size_t used = strlen(out);
	snprintf(out + used, 256 - used, "%s(%s);", e->identity, e->addedby);
	return 0;
}

static void test_edges_and_authorization_parameter(void **state)
{
	struct tu_store *f = *state;
	struct store_edge e = {"expressway-c1.example.net", "admin", 1800000000};
	assert_int_equal(store_edge_add(f->st, &e), STORE_OK);
	assert_int_equal(store_edge_add(f->st, &e), STORE_CONSTRAINT); /* listed once */
	struct store_edge e2 = {"expressway-c2.example.net", "admin", 1800000001};
	assert_int_equal(store_edge_add(f->st, &e2), STORE_OK);
	char list[256] = "";
	assert_int_equal(store_edges(f->st, edge_collect, list), STORE_OK);
	assert_string_equal(list,
	                    "expressway-c1.example.net(admin);expressway-c2.example.net(admin);");
	assert_int_equal(store_edge_remove(f->st, "expressway-c1.example.net"), STORE_OK);
	assert_int_equal(store_edge_remove(f->st, "expressway-c1.example.net"), STORE_NOTFOUND);
	list[0] = '\0';
	assert_int_equal(store_edges(f->st, edge_collect, list), STORE_OK);
	assert_string_equal(list, "expressway-c2.example.net(admin);");
	/* Seed 003's service parameter exists, on by default. */
	char val[16];
	assert_int_equal(
	    store_param_get(f->st, "SIPRegistrationAuthorizationEnabled", val, sizeof val),
	    STORE_OK);
	assert_string_equal(val, "1");
}

static int tls_collect(void *ud, const char *level, const char *name, const char *value)
{
	char *out = ud;
	size_t len = strlen(out);
	snprintf(out + len, 512 - len, "%s|%s|%s;", level, name, value);
	return 0;
}

static void test_tls_settings(void **state)
{
	struct tu_store *f = *state;
	char list[512] = "";
	assert_int_equal(store_tls_settings(f->st, tls_collect, list), STORE_OK);
	assert_string_equal(list, "");
	assert_int_equal(store_tls_setting_put(f->st, "system", "protocols", "TLSv1.2,TLSv1.3", 1),
	                 STORE_OK);
	assert_int_equal(store_tls_setting_put(f->st, "kind=cti-tls", "ciphers-tls12",
	                                       "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256", 2),
	                 STORE_OK);
	/* A second put replaces the value. */
	assert_int_equal(store_tls_setting_put(f->st, "system", "protocols", "TLSv1.3", 3),
	                 STORE_OK);
	assert_int_equal(store_tls_settings(f->st, tls_collect, list), STORE_OK);
	assert_string_equal(list,
	                    "kind=cti-tls|ciphers-tls12|TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256;"
	                    "system|protocols|TLSv1.3;");
	assert_int_equal(store_tls_setting_delete(f->st, "system", "protocols"), STORE_OK);
	assert_int_equal(store_tls_setting_delete(f->st, "system", "protocols"), STORE_NOTFOUND);
	list[0] = '\0';
	assert_int_equal(store_tls_settings(f->st, tls_collect, list), STORE_OK);
	assert_string_equal(list,
	                    "kind=cti-tls|ciphers-tls12|TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256;");
}

static int anchor_collect(void *ud, const struct store_anchor *a)
{
	char *out = ud;
	size_t len = strlen(out);
	snprintf(out + len, 512 - len, "%s|%s|%s|%s|%s|%lld|%s;", a->level, a->alias, a->pem,
	         a->subject, a->issuer, (long long)a->notafter, a->sha256);
	return 0;
}

static int identity_collect(void *ud, const char *level, const char *name)
{
	char *out = ud;
	size_t len = strlen(out);
	snprintf(out + len, 512 - len, "%s|%s;", level, name);
	return 0;
}

static void test_trust_anchors_and_identities(void **state)
{
	struct tu_store *f = *state;
	char list[512] = "";
	assert_int_equal(store_anchors(f->st, NULL, anchor_collect, list), STORE_OK);
	assert_string_equal(list, "");
	struct store_anchor a = {"kind=cti-tls", "root",     "PEM1", "CN=Root",
	                         "CN=Root",      2000000000, "AA:BB"};
	assert_int_equal(store_anchor_put(f->st, &a), STORE_OK);
	struct store_anchor b = {"interface=cti-tls@0.0.0.0:2749",
	                         "sub",
	                         "PEM2",
	                         "CN=Sub",
	                         "CN=Root",
	                         2000000001,
	                         "CC:DD"};
	assert_int_equal(store_anchor_put(f->st, &b), STORE_OK);
	/* A second put of the same level and alias replaces the certificate. */
	a.pem = "PEM3";
	a.sha256 = "EE:FF";
	assert_int_equal(store_anchor_put(f->st, &a), STORE_OK);
	assert_int_equal(store_anchors(f->st, NULL, anchor_collect, list), STORE_OK);
	assert_string_equal(list, "interface=cti-tls@0.0.0.0:2749|sub|PEM2|CN=Sub|CN=Root|"
	                          "2000000001|CC:DD;kind=cti-tls|root|PEM3|CN=Root|CN=Root|"
	                          "2000000000|EE:FF;");
	list[0] = '\0';
	assert_int_equal(store_anchors(f->st, "kind=cti-tls", anchor_collect, list), STORE_OK);
	assert_string_equal(list, "kind=cti-tls|root|PEM3|CN=Root|CN=Root|2000000000|EE:FF;");
	assert_int_equal(store_anchor_delete(f->st, "kind=cti-tls", "root"), STORE_OK);
	assert_int_equal(store_anchor_delete(f->st, "kind=cti-tls", "root"), STORE_NOTFOUND);
	assert_int_equal(store_anchor_delete(f->st, "kind=sip-edge", "sub"), STORE_NOTFOUND);
	list[0] = '\0';
	assert_int_equal(store_anchors(f->st, "kind=cti-tls", anchor_collect, list), STORE_OK);
	assert_string_equal(list, "");

	assert_int_equal(store_identity_add(f->st, "kind=cti-tls", "bwcticlient.webex.com"),
	                 STORE_OK);
	assert_int_equal(store_identity_add(f->st, "kind=cti-tls", "bwcticlient.webex.com"),
	                 STORE_CONSTRAINT);
	assert_int_equal(store_identity_add(f->st, "kind=sip-edge", "edge.example.net"), STORE_OK);
	list[0] = '\0';
	assert_int_equal(store_identities(f->st, NULL, identity_collect, list), STORE_OK);
	assert_string_equal(list,
	                    "kind=cti-tls|bwcticlient.webex.com;kind=sip-edge|edge.example.net;");
	list[0] = '\0';
	assert_int_equal(store_identities(f->st, "kind=sip-edge", identity_collect, list),
	                 STORE_OK);
	assert_string_equal(list, "kind=sip-edge|edge.example.net;");
	assert_int_equal(store_identity_delete(f->st, "kind=sip-edge", "edge.example.net"),
	                 STORE_OK);
	assert_int_equal(store_identity_delete(f->st, "kind=sip-edge", "edge.example.net"),
	                 STORE_NOTFOUND);
}

static void test_transactions(void **state)
{
	struct tu_store *f = *state;
	struct store_user u = user("txuser"), g;
	assert_int_equal(store_begin(f->st), STORE_OK);
	assert_int_equal(store_begin(f->st), STORE_ERROR); /* no nesting */
	assert_int_equal(store_user_put(f->st, &u), STORE_OK);
	assert_int_equal(store_rollback(f->st), STORE_OK);
	assert_int_equal(store_user_get(f->st, "txuser", &g), STORE_NOTFOUND);
	assert_int_equal(store_begin(f->st), STORE_OK);
	assert_int_equal(store_user_put(f->st, &u), STORE_OK);
	assert_int_equal(store_commit(f->st), STORE_OK);
	assert_int_equal(store_user_get(f->st, "txuser", &g), STORE_OK);
	assert_int_equal(store_commit(f->st), STORE_ERROR);
}

static void *put_user_thread(void *arg)
{
	struct tu_store *f = arg;
	struct store_user u = user("rduser");
	return (void *)(intptr_t)store_user_put(f->st, &u);
}

/* store_read_begin: the reads until store_read_end see one state, whatever another
 * connection commits meanwhile; it nests with nothing. */
static void test_read_transaction(void **state)
{
	struct tu_store *f = *state;
	struct store_user g;
	assert_int_equal(store_read_end(f->st), STORE_OK); /* none open: nothing to do */
	assert_int_equal(store_read_begin(f->st), STORE_OK);
	assert_int_equal(store_read_begin(f->st), STORE_ERROR);
	assert_int_equal(store_begin(f->st), STORE_ERROR);
	assert_int_equal(store_user_get(f->st, "rduser", &g), STORE_NOTFOUND);
	pthread_t t;
	void *rc = NULL;
	assert_int_equal(pthread_create(&t, NULL, put_user_thread, f), 0);
	assert_int_equal(pthread_join(t, &rc), 0);
	assert_int_equal((int)(intptr_t)rc, STORE_OK);
	assert_int_equal(store_user_get(f->st, "rduser", &g), STORE_NOTFOUND);
	assert_int_equal(store_read_end(f->st), STORE_OK);
	assert_int_equal(store_user_get(f->st, "rduser", &g), STORE_OK);
	/* and a write transaction may follow */
	assert_int_equal(store_begin(f->st), STORE_OK);
	assert_int_equal(store_commit(f->st), STORE_OK);
}

/* The generations the registrar's account cache relies on: a copy loaded before a
 * commit must be seen as stale after it, and refreshes (registrations, other users'
 * credential state) must not make every copy stale. */
static void test_generations(void **state)
{
	struct tu_store *f = *state;
	struct store_user u = user("genuser");
	uint64_t g = store_generation(f->st), ug = store_user_generation(f->st, "genuser");
	assert_int_equal(store_user_put(f->st, &u), STORE_OK);
	assert_true(store_generation(f->st) > g);
	g = store_generation(f->st);

	/* Reads change nothing. */
	struct store_user got;
	assert_int_equal(store_user_get(f->st, "genuser", &got), STORE_OK);
	assert_true(store_generation(f->st) == g);

	/* In a transaction: bumped when it ends, not before (a reader that loaded the old
	 * rows meanwhile is made stale by the bump at commit). */
	assert_int_equal(store_begin(f->st), STORE_OK);
	assert_int_equal(store_param_set(f->st, "GenParam", "1", "test"), STORE_OK);
	assert_true(store_generation(f->st) == g);
	assert_int_equal(store_commit(f->st), STORE_OK);
	assert_true(store_generation(f->st) > g);
	g = store_generation(f->st);

	/* Credential state: this user's slot only. */
	ug = store_user_generation(f->st, "genuser");
	struct store_credstate cs;
	assert_int_equal(store_credstate_get(f->st, "genuser", STORE_CRED_PASSWORD, &cs), STORE_OK);
	cs.hackcount = 1;
	assert_int_equal(store_credstate_put(f->st, "genuser", STORE_CRED_PASSWORD, &cs), STORE_OK);
	assert_true(store_user_generation(f->st, "genuser") > ug);
	assert_true(store_generation(f->st) == g);
	ug = store_user_generation(f->st, "genuser");
	store_user_generation_prefetch(f->st, "genuser"); /* a load only: changes nothing */
	assert_true(store_user_generation(f->st, "genuser") == ug);
	assert_int_equal(store_begin(f->st), STORE_OK);
	cs.hackcount = 2;
	assert_int_equal(store_credstate_put(f->st, "genuser", STORE_CRED_PASSWORD, &cs), STORE_OK);
	assert_true(store_user_generation(f->st, "genuser") == ug);
	assert_int_equal(store_rollback(f->st), STORE_OK);
	assert_true(store_user_generation(f->st, "genuser") > ug);

	/* Registrations are the registrar's own: no bump. */
	struct store_device d;
	memset(&d, 0, sizeof d);
	snprintf(d.name, sizeof d.name, "SEPGEN");
	snprintf(d.protocol, sizeof d.protocol, "SIP");
	assert_int_equal(store_device_put(f->st, &d), STORE_OK);
	g = store_generation(f->st);
	ug = store_user_generation(f->st, "genuser");
	struct store_registration reg;
	memset(&reg, 0, sizeof reg);
	snprintf(reg.device, sizeof reg.device, "SEPGEN");
	snprintf(reg.contact, sizeof reg.contact, "sip:1@127.0.0.1");
	reg.expires = 100;
	assert_int_equal(store_registration_put(f->st, &reg), STORE_OK);
	assert_int_equal(store_registration_delete(f->st, "SEPGEN", reg.contact), STORE_OK);
	int n;
	assert_int_equal(store_registrations_expire(f->st, "", 50, &n), STORE_OK);
	assert_true(store_generation(f->st) == g);
	assert_true(store_user_generation(f->st, "genuser") == ug);
}

struct rows {
	int n;
	char first[256];
};

static int row_fn(void *ud, int ncols, const char *const *names, const char *const *vals)
{
	(void)names;
	struct rows *r = ud;
	if (r->n++ == 0)
		snprintf(r->first, sizeof r->first, "%s", ncols && vals[0] ? vals[0] : "NULL");
	return 0;
}

/* Records the passwordhash column's value of the first row ("NULL" for NULL). */
static int secret_col_fn(void *ud, int ncols, const char *const *names, const char *const *vals)
{
	struct rows *r = ud;
	for (int i = 0; i < ncols; i++)
		if (r->n == 0 && strcmp(names[i], "passwordhash") == 0)
			snprintf(r->first, sizeof r->first, "%s", vals[i] ? vals[i] : "NULL");
	r->n++;
	return 0;
}

static void test_readonly_query(void **state)
{
	struct tu_store *f = *state;
	struct store_user u = user("wwhite");
	snprintf(u.passwordhash, sizeof u.passwordhash, "$argon2id$secret");
	assert_int_equal(store_user_put(f->st, &u), STORE_OK);
	char err[256];
	int trunc;
	struct rows r = {0};
	assert_int_equal(store_query_readonly(f->st,
	                                      "  -- comment\n select paramvalue from processconfig "
	                                      "where paramname='ClusterSIPOAuthMode';",
	                                      100, 1000, row_fn, &r, &trunc, err, sizeof err),
	                 STORE_OK);
	assert_int_equal(r.n, 1);
	assert_string_equal(r.first, "0");
	/* Secrets read as NULL through *; named anywhere (a column, a WHERE: no boolean
	 * oracle) they are refused with the column and the reason, as on PostgreSQL. */
	memset(&r, 0, sizeof r);
	assert_int_equal(store_query_readonly(f->st, "select passwordhash is null, * from enduser",
	                                      100, 1000, row_fn, &r, &trunc, err, sizeof err),
	                 STORE_REFUSED);
	memset(&r, 0, sizeof r);
	assert_int_equal(store_query_readonly(f->st, "select * from enduser", 100, 1000,
	                                      secret_col_fn, &r, &trunc, err, sizeof err),
	                 STORE_OK);
	assert_int_equal(r.n, 1);
	assert_string_equal(r.first, "NULL");
	static const char *const named[] = {
	    "select passwordhash from enduser",
	    "select userid from enduser where passwordhash like '$argon%'",
	    "select userid from enduser where length(PasswordHash) > 0",
	};
	for (size_t i = 0; i < sizeof named / sizeof named[0]; i++) {
		memset(&r, 0, sizeof r);
		assert_int_equal(store_query_readonly(f->st, named[i], 100, 1000, row_fn, &r,
		                                      &trunc, err, sizeof err),
		                 STORE_REFUSED);
		assert_int_equal(r.n, 0);
		assert_non_null(strstr(err, "refused: enduser.passwordhash is a secret column ("));
		assert_non_null(strstr(err, "may not name it"));
	}
	memset(&r, 0, sizeof r);
	assert_int_equal(store_query_readonly(f->st, "with x(n) as (select 1) select n from x", 100,
	                                      1000, row_fn, &r, &trunc, err, sizeof err),
	                 STORE_OK);
	assert_string_equal(r.first, "1");

	/* Each refusal says in words what was refused: never SQLite's action codes (so no
	 * digit: none of these statements names anything with one). */
	static const struct {
		const char *sql, *want;
	} refused[] = {
	    {"delete from enduser", "refused: writing to table enduser (DELETE)"},
	    {"DELETE FROM enduser WHERE 1", "refused: writing to table enduser (DELETE)"},
	    {"insert into dirgroup(name) values ('x')",
	     "refused: writing to table dirgroup (INSERT)"},
	    {"update enduser set firstname = 'x'", "refused: writing to table enduser (UPDATE)"},
	    {"drop table enduser", "refused: changing the schema (DROP)"},
	    {"pragma writable_schema = 1",
	     "refused: changing or reading a setting: writable_schema (PRAGMA)"},
	    {"attach database '/tmp/x.db' as x", "refused: opening another database"},
	    {"select 1; delete from enduser", "refused: only a single SELECT statement"},
	    {"select 1; select 2", "refused: only a single SELECT statement"},
	    {"with x as (select 1) delete from enduser",
	     "refused: writing to table enduser (DELETE)"},
	    {"select load_extension('/tmp/evil.so')", "refused: loading code with load_extension"},
	    {"vacuum", "refused: only a single SELECT statement"},
	    {"create table t(a)", "refused: changing the schema (CREATE or ALTER)"},
	    {"begin", "refused: controlling transactions (BEGIN, COMMIT or ROLLBACK)"},
	    {"delete from nosuchtable", "refused: only a single SELECT statement"},
	    {"", "refused: only a single SELECT statement"},
	    {"   ", "refused: only a single SELECT statement"},
	};
	for (size_t i = 0; i < sizeof refused / sizeof refused[0]; i++) {
		memset(&r, 0, sizeof r);
		int rc = store_query_readonly(f->st, refused[i].sql, 100, 1000, row_fn, &r, &trunc,
		                              err, sizeof err);
		if (rc != STORE_REFUSED || strncmp(err, refused[i].want, strlen(refused[i].want)) ||
		    strpbrk(err, "0123456789"))
			fail_msg("'%s': rc=%d err='%s' want '%s'", refused[i].sql, rc, err,
			         refused[i].want);
	}
	struct store_user g;
	assert_int_equal(store_user_get(f->st, "wwhite", &g), STORE_OK);
	/* A syntax error is an error, not a refusal. */
	assert_int_equal(store_query_readonly(f->st, "select from where", 100, 1000, row_fn, &r,
	                                      &trunc, err, sizeof err),
	                 STORE_ERROR);
	assert_non_null(strstr(err, "SQL error"));
	/* Runaway queries stop at the deadline; big results stop at max_rows. */
	assert_int_not_equal(store_query_readonly(f->st,
	                                          "with recursive c(x) as (select 1 union all "
	                                          "select x + 1 from c) select count(*) from c",
	                                          100, 200, row_fn, &r, &trunc, err, sizeof err),
	                     STORE_OK);
	assert_non_null(strstr(err, "stopped"));
	memset(&r, 0, sizeof r);
	assert_int_equal(store_query_readonly(f->st,
	                                      "with recursive c(x) as (select 1 union all select x "
	                                      "+ 1 from c limit 50) select x from c",
	                                      10, 1000, row_fn, &r, &trunc, err, sizeof err),
	                 STORE_OK);
	assert_int_equal(r.n, 10);
	assert_int_equal(trunc, 1);
	assert_int_not_equal(store_query_readonly(f->st, "select randomblob(100000000)", 10, 1000,
	                                          row_fn, &r, &trunc, err, sizeof err),
	                     STORE_OK);
}

struct th {
	store_t *st;
	int id;
	int failures;
};

static void *writer(void *arg)
{
	struct th *t = arg;
	for (int i = 0; i < 100; i++) {
		char id[32];
		snprintf(id, sizeof id, "t%d-u%d", t->id, i);
		struct store_user u = user(id);
		if (store_user_put(t->st, &u) != STORE_OK)
			t->failures++;
	}
	return NULL;
}

static void test_threads(void **state)
{
	struct tu_store *f = *state;
	pthread_t thr[4];
	struct th t[4];
	for (int i = 0; i < 4; i++) {
		t[i] = (struct th){f->st, i, 0};
		pthread_create(&thr[i], NULL, writer, &t[i]);
	}
	for (int i = 0; i < 4; i++) {
		pthread_join(thr[i], NULL);
		assert_int_equal(t[i].failures, 0);
	}
	struct store_counts c;
	assert_int_equal(store_counts(f->st, &c), STORE_OK);
	assert_int_equal(c.users, 400);
	char err[256];
	assert_int_equal(store_integrity_check(f->st, err, sizeof err), STORE_OK);
}

/* store_backup_to while four threads write: the copy opens as a store of the latest
 * schema, passes the integrity check, holds every user committed before it began and no
 * -wal file beside it; the store is not disturbed. */
static void test_backup_to(void **state)
{
	struct tu_store *f = *state;
	struct store_user u = user("before");
	assert_int_equal(store_user_put(f->st, &u), STORE_OK);
	pthread_t thr[4];
	struct th t[4];
	for (int i = 0; i < 4; i++) {
		t[i] = (struct th){f->st, i, 0};
		pthread_create(&thr[i], NULL, writer, &t[i]);
	}
	char copy[sizeof f->path], err[256];
	snprintf(copy, sizeof copy, "%s/copy.db", f->dir);
	int rc = store_backup_to(f->st, copy, err, sizeof err);
	for (int i = 0; i < 4; i++) {
		pthread_join(thr[i], NULL);
		assert_int_equal(t[i].failures, 0);
	}
	if (rc != STORE_OK)
		fail_msg("backup: %s", err);
	struct stat sb;
	assert_int_equal(stat(copy, &sb), 0);
	assert_int_equal(sb.st_mode & 0777, 0600);
	char wal[sizeof copy + 8];
	snprintf(wal, sizeof wal, "%s-wal", copy);
	assert_int_not_equal(access(wal, F_OK), 0);
	struct tu_store c = {0};
	snprintf(c.path, sizeof c.path, "%s", copy);
	tu_store_open(&c, 0);
	int ver = 0;
	assert_int_equal(store_schema_version(c.st, &ver), STORE_OK);
	assert_int_equal(ver, store_schema_latest());
	struct store_user g;
	assert_int_equal(store_user_get(c.st, "before", &g), STORE_OK);
	assert_int_equal(store_integrity_check(c.st, err, sizeof err), STORE_OK);
	struct store_counts n;
	assert_int_equal(store_counts(c.st, &n), STORE_OK);
	assert_true(n.users >= 1 && n.users <= 401);
	store_close(c.st);
	assert_int_equal(store_counts(f->st, &n), STORE_OK);
	assert_int_equal(n.users, 401);
	/* Into a directory that does not exist: an error, no crash. */
	snprintf(copy, sizeof copy, "%s/missing/copy.db", f->dir);
	assert_int_equal(store_backup_to(f->st, copy, err, sizeof err), STORE_ERROR);
	assert_non_null(strstr(err, "cannot copy the store"));
}

/* A failure counted in one statement: the count grows, restarts after reset_before, a
 * lockout starts at the threshold and one that ran out starts afresh. */
static void test_credstate_fail(void **state)
{
	struct tu_store *f = *state;
	struct store_user u = user("guess");
	assert_int_equal(store_user_put(f->st, &u), STORE_OK);
	struct store_credstate cs;
	uint64_t g = store_user_generation(f->st, "guess");
	for (int i = 1; i <= 2; i++) {
		assert_int_equal(store_credstate_fail(f->st, "guess", STORE_CRED_DIGEST, 1000 + i,
		                                      -1, -1, 3, &cs),
		                 STORE_OK);
		assert_int_equal(cs.hackcount, i);
		assert_int_equal(cs.lastfailedlogin, 1000 + i);
		assert_int_equal(cs.timehackedlockout, 0);
	}
	assert_true(store_user_generation(f->st, "guess") > g);
	/* The last failure (1002) is old by reset_before 1002: the count restarts. */
	assert_int_equal(
	    store_credstate_fail(f->st, "guess", STORE_CRED_DIGEST, 1100, -1, 1002, 3, &cs),
	    STORE_OK);
	assert_int_equal(cs.hackcount, 1);
	for (int i = 2; i <= 4; i++)
		assert_int_equal(store_credstate_fail(f->st, "guess", STORE_CRED_DIGEST, 1100 + i,
		                                      -1, -1, 3, &cs),
		                 STORE_OK);
	/* Locked at the third (1103), not moved by the fourth. */
	assert_int_equal(cs.hackcount, 4);
	assert_int_equal(cs.timehackedlockout, 1103);
	/* The lockout ran out (unlock_before 1103): afresh, then this failure counts one. */
	assert_int_equal(
	    store_credstate_fail(f->st, "guess", STORE_CRED_DIGEST, 2000, 1103, -1, 3, &cs),
	    STORE_OK);
	assert_int_equal(cs.hackcount, 1);
	assert_int_equal(cs.timehackedlockout, 0);
	/* The password's state is its own. */
	assert_int_equal(store_credstate_get(f->st, "guess", STORE_CRED_PASSWORD, &cs), STORE_OK);
	assert_int_equal(cs.hackcount, 0);
	assert_int_equal(
	    store_credstate_fail(f->st, "nobody", STORE_CRED_DIGEST, 1, -1, -1, 3, &cs),
	    STORE_NOTFOUND);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_migrations, tu_store_setup, tu_store_teardown),
	    cmocka_unit_test_setup_teardown(test_newer_schema_refused, tu_store_setup,
	                                    tu_store_teardown),
	    cmocka_unit_test_setup_teardown(test_offline_open_does_not_migrate, tu_store_setup,
	                                    tu_store_teardown),
	    cmocka_unit_test(test_unopenable),
	    cmocka_unit_test_setup_teardown(test_migration_v13_to_v14, tu_store_setup,
	                                    tu_store_teardown),
	    cmocka_unit_test_setup_teardown(test_migration_v18_to_v19, tu_store_setup,
	                                    tu_store_teardown),
	    cmocka_unit_test_setup_teardown(test_migration_v4_to_v5, tu_store_setup,
	                                    tu_store_teardown),
	    cmocka_unit_test_setup_teardown(test_credential_types, tu_store_setup,
	                                    tu_store_teardown),
	    cmocka_unit_test_setup_teardown(test_entities, tu_store_setup, tu_store_teardown),
	    cmocka_unit_test_setup_teardown(test_transactions, tu_store_setup, tu_store_teardown),
	    cmocka_unit_test_setup_teardown(test_read_transaction, tu_store_setup,
	                                    tu_store_teardown),
	    cmocka_unit_test_setup_teardown(test_generations, tu_store_setup, tu_store_teardown),
	    cmocka_unit_test_setup_teardown(test_edges_and_authorization_parameter, tu_store_setup,
	                                    tu_store_teardown),
	    cmocka_unit_test_setup_teardown(test_readonly_query, tu_store_setup, tu_store_teardown),
	    cmocka_unit_test_setup_teardown(test_tls_settings, tu_store_setup, tu_store_teardown),
	    cmocka_unit_test_setup_teardown(test_trust_anchors_and_identities, tu_store_setup,
	                                    tu_store_teardown),
	    cmocka_unit_test_setup_teardown(test_threads, tu_store_setup, tu_store_teardown),
	    cmocka_unit_test_setup_teardown(test_credstate_fail, tu_store_setup, tu_store_teardown),
	    cmocka_unit_test_setup_teardown(test_backup_to, tu_store_setup, tu_store_teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
