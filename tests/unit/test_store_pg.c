/* SPDX-License-Identifier: ISC */
/* The PostgreSQL backend without a server: the connection string as logged (never its
 * password), the conninfo file's mode check, and an unreachable server as a clear error
 * at open. Against a real server: tests/system/pg.py (CTest label pg). */
#include "ca/ca_bootstrap.h"
#include "ca/ca_issue.h"
#include "ca/signer.h"
#include "dir/dir.h"
#include "store/store.h"
#include "store/store_backend.h"
#include "store/store_oauth.h"

#include <dirent.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <openssl/evp.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>
#include <cmocka.h>

static void test_redacted_keywords(void **state)
{
	(void)state;
	char out[512];
	store_pg_conninfo_redacted("host=db.example port=5432 dbname=telgate user=tg "
	                           "password=s3cret-pw sslmode=verify-full "
	                           "sslrootcert=/etc/telgate/pg-ca.pem",
	                           out, sizeof out);
	assert_null(strstr(out, "s3cret-pw"));
	assert_non_null(strstr(out, "password=(redacted)"));
	assert_non_null(strstr(out, "host=db.example"));
	assert_non_null(strstr(out, "sslmode=verify-full"));
	assert_non_null(strstr(out, "sslrootcert=/etc/telgate/pg-ca.pem"));
}

static void test_redacted_uri(void **state)
{
	(void)state;
	char out[512];
	store_pg_conninfo_redacted("postgresql://tg:s3cret-pw@db.example:5433/telgate", out,
	                           sizeof out);
	assert_null(strstr(out, "s3cret-pw"));
	assert_non_null(strstr(out, "user=tg"));
	assert_non_null(strstr(out, "port=5433"));
	/* Garbage is not echoed either (it may hold the password). */
	store_pg_conninfo_redacted("host='unterminated password=s3cret-pw", out, sizeof out);
	assert_null(strstr(out, "s3cret-pw"));
}

static void write_file(const char *path, const char *text, mode_t mode)
{
	FILE *f = fopen(path, "w");
	assert_non_null(f);
	fputs(text, f);
	fclose(f);
	assert_int_equal(chmod(path, mode), 0);
}

static void test_conninfo_file(void **state)
{
	(void)state;
	char dir[] = "/tmp/tgpgXXXXXX", path[64], err[512];
	assert_non_null(mkdtemp(dir));
	snprintf(path, sizeof path, "%s/conninfo", dir);
	/* Port 1 on loopback: refused at once, nothing listens there. */
	write_file(path, "host=127.0.0.1 port=1 connect_timeout=2 user=tg password=s3cret-pw\n",
	           0644);
	struct store_options o = {.backend = "postgres", .conninfo_file = path};
	store_t *st = NULL;
	assert_int_not_equal(store_open(&o, &st, err, sizeof err), STORE_OK);
	assert_non_null(strstr(err, "chmod 600"));
	assert_null(strstr(err, "s3cret-pw"));
	assert_int_equal(chmod(path, 0400), 0);
	assert_int_not_equal(store_open(&o, &st, err, sizeof err), STORE_OK);
	assert_non_null(strstr(err, "PostgreSQL unavailable"));
	assert_null(strstr(err, "s3cret-pw"));
	/* A failed open is final (telgated exits): no retry is promised. */
	assert_null(strstr(err, "next attempt"));
	/* Neither or both of conninfo and conninfo_file. */
	struct store_options none = {.backend = "postgres"};
	assert_int_not_equal(store_open(&none, &st, err, sizeof err), STORE_OK);
	assert_non_null(strstr(err, "conninfo"));
	unlink(path);
	rmdir(dir);
}

/* --- against a real server: tests/system/pg.py --unit sets the database ------------- */

#define RACERS 2
#define CODES 40
#define FAILURES 30 /* per racer */

static const char *pg_conninfo(void)
{
	const char *c = getenv("TELGATE_TEST_PG_CONNINFO");
	return c && *c ? c : NULL;
}

static store_t *pg_open(void)
{
	struct store_options o = {.backend = "postgres", .conninfo = pg_conninfo()};
	store_t *st = NULL;
	char err[512];
	if (store_open(&o, &st, err, sizeof err) != STORE_OK)
		fail_msg("store_open: %s", err);
	return st;
}

/* The store, with an active local user userid in it. */
static store_t *pg_open_with_user(const char *userid)
{
	store_t *st = pg_open();
	struct store_user u;
	memset(&u, 0, sizeof u);
	snprintf(u.userid, sizeof u.userid, "%s", userid);
	u.status = STORE_USER_ACTIVE;
	assert_int_equal(store_user_put(st, &u), STORE_OK);
	return st;
}

/* The threads of this process (/proc/self/task). */
static int thread_count(void)
{
	DIR *d = opendir("/proc/self/task");
	assert_non_null(d);
	int n = 0;
	for (struct dirent *e; (e = readdir(d));)
		n += e->d_name[0] != '.';
	closedir(d);
	return n;
}

/* Runs fn in RACERS processes at once, each on a store (connection) of its own, and
 * returns what each wrote to its pipe (one int per item). Forks: the caller must have no
 * store open, so that no other thread runs at the fork (an open store's LISTEN thread
 * connecting inside libpq holds GSSAPI's mutex at times, and a child forked then waits
 * on it forever: CI hung so once). */
static void race(void (*fn)(store_t *st, int out), int *counts, int n)
{
	assert_int_equal(thread_count(), 1);
	int fds[RACERS][2];
	pid_t pids[RACERS];
	for (int r = 0; r < RACERS; r++) {
		assert_int_equal(pipe(fds[r]), 0);
		pids[r] = fork();
		assert_true(pids[r] >= 0);
		if (pids[r] == 0) {
			close(fds[r][0]);
			store_t *st = pg_open();
			fn(st, fds[r][1]);
			store_close(st);
			_exit(0); /* the parent's connection is not this process's to close */
		}
		close(fds[r][1]);
	}
	memset(counts, 0, n * sizeof *counts);
	for (int r = 0; r < RACERS; r++) {
		int v[CODES];
		ssize_t got = read(fds[r][0], v, n * sizeof *v);
		assert_int_equal(got, (ssize_t)(n * sizeof *v));
		for (int i = 0; i < n; i++)
			counts[i] += v[i];
		close(fds[r][0]);
		int status;
		assert_int_equal(waitpid(pids[r], &status, 0), pids[r]);
		assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	}
}

static void consume_all(store_t *st, int out)
{
	int won[CODES];
	for (int i = 0; i < CODES; i++) {
		char hash[32];
		snprintf(hash, sizeof hash, "race-code-%d", i);
		struct store_oauthcode c;
		int used = 0;
		int rc = store_oauthcode_consume(st, hash, 1000, &c, &used);
		won[i] = rc == STORE_OK;
		if (rc != STORE_OK && (rc != STORE_NOTFOUND || !used))
			won[i] = 100; /* neither won nor lost to the other: an error */
	}
	if (write(out, won, sizeof won) != (ssize_t)sizeof won)
		_exit(1);
}

/* One OAuth code raced from two processes (two connections): each code is consumed by
 * exactly one, the other sees it used (store_oauthcode_consume's conditional UPDATE ..
 * RETURNING; PostgreSQL re-checks the WHERE after the row lock). */
static void test_pg_one_time_code_race(void **state)
{
	(void)state;
	if (!pg_conninfo())
		skip();
	store_t *st = pg_open_with_user("racer");
	struct store_oauthclient cl;
	memset(&cl, 0, sizeof cl);
	snprintf(cl.clientid, sizeof cl.clientid, "raceapp");
	snprintf(cl.redirecturis, sizeof cl.redirecturis, "https://app.example/cb");
	snprintf(cl.granttypes, sizeof cl.granttypes, "authorization_code");
	cl.audiences = 1;
	assert_int_equal(store_oauthclient_add(st, &cl), STORE_OK);
	for (int i = 0; i < CODES; i++) {
		struct store_oauthcode c;
		memset(&c, 0, sizeof c);
		snprintf(c.codehash, sizeof c.codehash, "race-code-%d", i);
		snprintf(c.clientid, sizeof c.clientid, "raceapp");
		snprintf(c.userid, sizeof c.userid, "racer");
		snprintf(c.redirecturi, sizeof c.redirecturi, "https://app.example/cb");
		snprintf(c.challenge, sizeof c.challenge, "x");
		c.expires = 2000;
		assert_int_equal(store_oauthcode_add(st, &c), STORE_OK);
	}
	store_close(st); /* race forks: no other thread then */
	int wins[CODES];
	race(consume_all, wins, CODES);
	for (int i = 0; i < CODES; i++)
		if (wins[i] != 1)
			fail_msg("code %d consumed %d times (100+: an error)", i, wins[i]);
}

static void fail_logins(store_t *st, int out)
{
	int bad[1] = {0};
	for (int i = 0; i < FAILURES; i++)
		if (dir_policy_record(st, "hacked", STORE_CRED_DIGEST, 0, 1000, NULL) !=
		    DIR_BAD_CREDENTIAL)
			bad[0]++;
	if (write(out, bad, sizeof bad) != (ssize_t)sizeof bad)
		_exit(1);
}

/* Failed digests counted from two processes add up exactly: 2 x 30 failures under the
 * digest policy (locks at 100) leave a hack count of 60. */
static void test_pg_failure_counts_add_up(void **state)
{
	(void)state;
	if (!pg_conninfo())
		skip();
	store_close(pg_open_with_user("hacked")); /* race forks: no other thread then */
	int errors[1];
	race(fail_logins, errors, 1);
	assert_int_equal(errors[0], 0);
	store_t *st = pg_open();
	struct store_credstate cs;
	assert_int_equal(store_credstate_get(st, "hacked", STORE_CRED_DIGEST, &cs), STORE_OK);
	assert_int_equal(cs.hackcount, RACERS * FAILURES);
	store_close(st);
}

static void serial_of(int i, char out[STORE_SERIAL_HEX + 1])
{
	snprintf(out, STORE_SERIAL_HEX + 1, "7A5E%028X", (unsigned)i);
}

static void add_serials(store_t *st, int out)
{
	int won[CODES];
	for (int i = 0; i < CODES; i++) {
		struct store_issuedcert c;
		memset(&c, 0, sizeof c);
		serial_of(i, c.serial);
		snprintf(c.userid, sizeof c.userid, "racer");
		snprintf(c.subject, sizeof c.subject, "CN=racer");
		int rc = store_issuedcert_add(st, &c, "-----BEGIN CERTIFICATE-----");
		won[i] = rc == STORE_OK ? 1 : rc == STORE_CONSTRAINT ? 0 : 100;
	}
	if (write(out, won, sizeof won) != (ssize_t)sizeof won)
		_exit(1);
}

/* One serial recorded from two processes (two nodes) at once: exactly one INSERT wins, the
 * other gets STORE_CONSTRAINT — what ca_issue_client relies on to drop a certificate whose
 * serial is taken before anyone sees it and try another (issue 21). */
static void test_pg_serial_race(void **state)
{
	(void)state;
	if (!pg_conninfo())
		skip();
	int wins[CODES];
	race(add_serials, wins, CODES);
	for (int i = 0; i < CODES; i++)
		if (wins[i] != 1)
			fail_msg("serial %d recorded %d times (100+: an error)", i, wins[i]);
}

#define ISSUES 15 /* per racer */
static char pki_dir[] = "/tmp/tgpgpkiXXXXXX";

static void issue_some(store_t *st, int out)
{
	char err[300];
	struct signer *s = signer_local_new(pki_dir, err, sizeof err);
	EVP_PKEY *k = EVP_EC_gen("P-256");
	int bad[1] = {!s || !k};
	for (int i = 0; i < ISSUES && !bad[0]; i++) {
		struct ca_client_request rq = {.pubkey = k, .userid = "racer", .days = 30};
		struct ca_issued is;
		if (ca_issue_client(s, st, &rq, &is, err, sizeof err) != 0)
			bad[0]++;
		ca_issued_free(&is);
	}
	EVP_PKEY_free(k);
	signer_free(s);
	if (write(out, bad, sizeof bad) != (ssize_t)sizeof bad)
		_exit(1);
}

static int count_cert(void *ud, const struct store_issuedcert *c)
{
	(void)c;
	(*(int *)ud)++;
	return 0;
}

/* Two processes (two nodes, one CA) issue at once: every certificate gets a serial of its
 * own, each recorded before it is handed out, and none is lost. */
static void test_pg_issue_race(void **state)
{
	(void)state;
	if (!pg_conninfo())
		skip();
	char err[300];
	struct ca_bootstrap_result res;
	int created;
	assert_non_null(mkdtemp(pki_dir));
	if (ca_bootstrap(pki_dir, "pg-test", "", 90, &res, err, sizeof err) != 0 ||
	    ca_bootstrap_signers(pki_dir, "pg-test", &created, err, sizeof err) != 0)
		fail_msg("pki: %s", err);
	int bad[1];
	race(issue_some, bad, 1);
	assert_int_equal(bad[0], 0);
	store_t *st = pg_open();
	int n = 0;
	assert_int_equal(store_issuedcerts(st, "racer", count_cert, &n), STORE_OK);
	/* test_pg_serial_race's CODES rows are racer's too. */
	assert_int_equal(n, CODES + RACERS * ISSUES);
	store_close(st);
	char cmd[300];
	snprintf(cmd, sizeof cmd, "rm -rf %s", pki_dir);
	assert_int_equal(system(cmd), 0);
}

/* A statement on st outside any transaction (CREATE DATABASE refuses one). */
static void pg_admin(store_t *st, const char *sql)
{
	if (store_exec_nogen(st, sql, NULL, 0, NULL, NULL, NULL) != STORE_OK)
		fail_msg("%s: %s", sql, store_last_error());
}

/* A stopping process is not promised a next attempt: with its database refusing
 * connections, the store's error says "next attempt in N ms" while it runs and "telgated
 * is stopping" once store_stopping() was called. */
static void test_pg_stopping_promises_no_retry(void **state)
{
	(void)state;
	if (!pg_conninfo())
		skip();
	store_t *admin = pg_open();
	pg_admin(admin, "DROP DATABASE IF EXISTS tgstopping");
	pg_admin(admin, "CREATE DATABASE tgstopping");
	char conninfo[1024], err[512];
	snprintf(conninfo, sizeof conninfo, "%s dbname=tgstopping", pg_conninfo());
	struct store_options o = {.backend = "postgres", .conninfo = conninfo};
	store_t *st = NULL;
	if (store_open(&o, &st, err, sizeof err) != STORE_OK)
		fail_msg("store_open: %s", err);
	/* The database goes away under st: its sessions ended, no new one allowed. */
	pg_admin(admin, "ALTER DATABASE tgstopping ALLOW_CONNECTIONS false");
	pg_admin(admin, "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
	                "WHERE datname = 'tgstopping'");
	struct store_user u;
	/* The first call finds its session gone, the second cannot make one (a backoff
	 * starts), the third is inside the backoff; pg_terminate_backend only signals, so a
	 * few more in case a session was not gone yet. */
	int rc;
	for (int i = 0; i < 50; i++) {
		rc = store_user_get(st, "nobody", &u);
		if (rc == STORE_UNAVAILABLE && strstr(store_last_error(), "next attempt in"))
			break;
		usleep(20 * 1000);
	}
	assert_int_equal(rc, STORE_UNAVAILABLE);
	assert_non_null(strstr(store_last_error(), "PostgreSQL unavailable (next attempt in "));
	store_stopping(st);
	assert_int_equal(store_user_get(st, "nobody", &u), STORE_UNAVAILABLE);
	assert_non_null(
	    strstr(store_last_error(), "PostgreSQL unavailable (telgated is stopping)"));
	assert_null(strstr(store_last_error(), "next attempt"));
	store_close(st);
	pg_admin(admin, "ALTER DATABASE tgstopping ALLOW_CONNECTIONS true");
	pg_admin(admin, "DROP DATABASE tgstopping WITH (FORCE)");
	store_close(admin);
}

/* The first column of the first row a statement returns, as text ("" when none). */
struct pg_first {
	char v[512];
};

static int pg_first_col(void *ud, int ncols, const char *const *names, const char *const *vals)
{
	(void)names;
	struct pg_first *f = ud;
	if (!f->v[0] && ncols > 0 && vals[0])
		snprintf(f->v, sizeof f->v, "%s", vals[0]);
	return 0;
}

static const char *pg_text(store_t *st, const char *sql, struct pg_first *f)
{
	f->v[0] = '\0';
	if (store_exec_nogen(st, sql, NULL, 0, pg_first_col, f, NULL) != STORE_OK)
		fail_msg("%s: %s", sql, store_last_error());
	return f->v;
}

static int pg_reg_last(void *ud, const struct store_registration *r)
{
	*(struct store_registration *)ud = *r;
	return 0;
}

/* A PostgreSQL store as schema v18 left it, with bindings, opened by this telgated:
 * v19 keeps every binding, leaves one index on registration (processnode), and a
 * refresh is a HOT update (no indexed column changes: no index entry written). v18's
 * shape is made by undoing v19 on a new database (v19 touched only indexes and the
 * table's fillfactor there). */
static void test_pg_migration_v18_to_v19(void **state)
{
	(void)state;
	if (!pg_conninfo())
		skip();
	store_t *admin = pg_open();
	pg_admin(admin, "DROP DATABASE IF EXISTS tgv19");
	pg_admin(admin, "CREATE DATABASE tgv19");
	char conninfo[1024], err[512];
	snprintf(conninfo, sizeof conninfo, "%s dbname=tgv19", pg_conninfo());
	struct store_options o = {.backend = "postgres", .conninfo = conninfo};
	store_t *st = NULL;
	if (store_open(&o, &st, err, sizeof err) != STORE_OK)
		fail_msg("store_open: %s", err);
	pg_admin(st, "DROP INDEX registration_node");
	pg_admin(st, "CREATE INDEX registration_expires ON registration (expires)");
	pg_admin(st, "CREATE INDEX registration_node ON registration (processnode, expires)");
	pg_admin(st, "ALTER TABLE registration RESET (fillfactor)");
	pg_admin(st, "DELETE FROM schema_version WHERE version >= 19");
	pg_admin(st, "INSERT INTO device (name) VALUES ('SEPA'), ('SEPOLD')");
	pg_admin(st, "INSERT INTO registration (devicename, contact, aor, callid, cseq, expires, "
	             "transport, source, sipinstance, regid, processnode, changedms) VALUES "
	             "('SEPA', '<sip:1001@10.0.0.1:5060>', 'sip:1001@telgate', 'call-a', 7, "
	             "4000000000, 'TLS', '10.0.0.1:40000', '<urn:uuid:a>', 1, 'nodeA', 1234), "
	             "('SEPOLD', '<sip:2001@10.0.0.3:5060>', 'sip:2001@telgate', 'call-old', 3, "
	             "4000000002, 'UDP', '10.0.0.3:5060', '', -1, '', 0)");
	store_close(st);

	st = NULL;
	if (store_open(&o, &st, err, sizeof err) != STORE_OK)
		fail_msg("store_open: %s", err);
	int v = 0;
	assert_int_equal(store_schema_version(st, &v), STORE_OK);
	assert_int_equal(v, store_schema_latest());
	assert_int_equal(store_integrity_check(st, err, sizeof err), 0);
	struct pg_first f;
	assert_string_equal(pg_text(st,
	                            "SELECT string_agg(indexdef, '; ' ORDER BY indexname) FROM "
	                            "pg_indexes WHERE tablename = 'registration' AND indexname "
	                            "<> 'registration_pkey'",
	                            &f),
	                    "CREATE INDEX registration_node ON public.registration USING btree "
	                    "(processnode)");
	assert_string_equal(pg_text(st,
	                            "SELECT array_to_string(reloptions, ',') FROM pg_class WHERE "
	                            "relname = 'registration'",
	                            &f),
	                    "fillfactor=80");
	struct store_registration r;
	memset(&r, 0, sizeof r);
	assert_int_equal(store_registrations(st, "SEPOLD", pg_reg_last, &r), STORE_OK);
	assert_string_equal(r.callid, "call-old");
	assert_int_equal(r.expires, 4000000002);
	assert_string_equal(r.node, "");
	memset(&r, 0, sizeof r);
	assert_int_equal(store_registrations(st, "SEPA", pg_reg_last, &r), STORE_OK);
	assert_string_equal(r.contact, "<sip:1001@10.0.0.1:5060>");
	assert_string_equal(r.callid, "call-a");
	assert_int_equal(r.cseq, 7);
	assert_int_equal(r.expires, 4000000000);
	assert_string_equal(r.transport, "TLS");
	assert_string_equal(r.source, "10.0.0.1:40000");
	assert_string_equal(r.sipinstance, "<urn:uuid:a>");
	assert_int_equal(r.regid, 1);
	assert_string_equal(r.node, "nodeA");
	/* A refresh in a transaction whose own statistics count it: a HOT update. */
	r.expires = 4100000000;
	r.cseq = 8;
	assert_int_equal(store_begin(st), STORE_OK);
	assert_int_equal(store_registration_refresh(st, &r), STORE_OK);
	assert_string_equal(pg_text(st,
	                            "SELECT n_tup_upd || ',' || n_tup_hot_upd FROM "
	                            "pg_stat_xact_user_tables WHERE relname = 'registration'",
	                            &f),
	                    "1,1");
	assert_int_equal(store_commit(st), STORE_OK);
	memset(&r, 0, sizeof r);
	assert_int_equal(store_registrations(st, "SEPA", pg_reg_last, &r), STORE_OK);
	assert_int_equal(r.expires, 4100000000);
	assert_int_equal(r.cseq, 8);
	/* Not node B's to refresh; node A's sweep finds its row by expiry. */
	snprintf(r.node, sizeof r.node, "nodeB");
	assert_int_equal(store_registration_refresh(st, &r), STORE_NOTFOUND);
	int n = 0;
	assert_int_equal(store_registrations_expire(st, "nodeA", 4100000000, &n), STORE_OK);
	assert_int_equal(n, 2); /* SEPA's (4100000000) and the '' row (4000000002) */
	store_close(st);
	pg_admin(admin, "DROP DATABASE tgv19 WITH (FORCE)");
	store_close(admin);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_redacted_keywords),
	    cmocka_unit_test(test_redacted_uri),
	    cmocka_unit_test(test_conninfo_file),
	    cmocka_unit_test(test_pg_one_time_code_race),
	    cmocka_unit_test(test_pg_failure_counts_add_up),
	    cmocka_unit_test(test_pg_serial_race),
	    cmocka_unit_test(test_pg_issue_race),
	    cmocka_unit_test(test_pg_stopping_promises_no_retry),
	    cmocka_unit_test(test_pg_migration_v18_to_v19),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
