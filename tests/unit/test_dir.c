/* SPDX-License-Identifier: ISC */
/* The directory front (dir.h) with local users on a real SQLite store: results, policy
 * through the asynchronous path with an injected clock, atomic failure counting under
 * concurrency, and the callback's thread. LDAP is tested against slapd in
 * tests/system/test_ldap.py. */
#include "core/config.h"
#include "core/loop.h"
#include "dir/dir.h"
#include "dir/policy.h"
#include "dir/ldap_conn.h"
#include "dir/passwd.h"
#include "store/store.h"

#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <cmocka.h>

#include "testutil.h"

static _Atomic int64_t fake_now = 1800000000LL;
static int64_t fake_clock(void *ud)
{
	(void)ud;
	return atomic_load_explicit(&fake_now, memory_order_relaxed);
}

struct fx {
	char dir[64];
	store_t *st;
	struct dir *d;
	struct tg_config cfg;
};

static void add_user(store_t *st, const char *id, const char *pw, const char *policy,
                     enum store_directory dirtype, const char *group)
{
	struct store_user u;
	memset(&u, 0, sizeof u);
	snprintf(u.userid, sizeof u.userid, "%s", id);
	u.directory = dirtype;
	u.status = STORE_USER_ACTIVE;
	snprintf(u.credentialpolicy, sizeof u.credentialpolicy, "%s", policy);
	struct dir_passwd_params pp = {.t = 1, .m_kib = 1024};
	if (pw)
		assert_int_equal(dir_passwd_hash(&pp, pw, strlen(pw), u.passwordhash), 0);
	assert_int_equal(store_user_put(st, &u), STORE_OK);
	if (group) {
		const char *g[] = {group, "Standard CTI Enabled"};
		assert_int_equal(store_user_set_groups(st, id, g, 2), STORE_OK);
	}
}

static int setup(void **state)
{
	static struct fx f;
	memset(&f, 0, sizeof f);
	tu_mkdtemp(f.dir, sizeof f.dir, "tgdir");
	char path[128], err[256];
	snprintf(path, sizeof path, "%s/t.db", f.dir);
	struct store_options so = {.backend = "sqlite", .path = path, .busy_timeout_ms = 5000};
	assert_int_equal(store_open(&so, &f.st, err, sizeof err), STORE_OK);
	struct store_credpolicy p;
	memset(&p, 0, sizeof p);
	snprintf(p.name, sizeof p.name, "Three");
	p.failedlogonthreshold = 3;
	p.lockoutduration = 30;
	p.minlength = 8;
	assert_int_equal(store_credpolicy_put(f.st, &p), STORE_OK);
	snprintf(p.name, sizeof p.name, "Lenient");
	p.failedlogonthreshold = 0;
	assert_int_equal(store_credpolicy_put(f.st, &p), STORE_OK);
	add_user(f.st, "jpinkman", "Cap-n-Cook-1", "Three", STORE_DIR_LOCAL,
	         "Standard CTI Allow Call Recording");
	add_user(f.st, "many", "Many-Pass-1", "Lenient", STORE_DIR_LOCAL, NULL);
	add_user(f.st, "wwhite", NULL, "Three", STORE_DIR_LDAP, NULL);
	config_defaults(&f.cfg);
	f.cfg.password.argon2_t = 1;
	f.cfg.password.argon2_m_kib = 1024;
	f.cfg.dir.workers = 2;
	f.cfg.dir.failure_delay_ms = 0;
	struct dir_options o = {.store = f.st, .cfg = &f.cfg, .clock = fake_clock};
	f.d = dir_start(&o, err, sizeof err);
	assert_non_null(f.d);
	*state = &f;
	return 0;
}

static int teardown(void **state)
{
	struct fx *f = *state;
	dir_stop(f->d);
	store_close(f->st);
	tu_rmtree(f->dir);
	return 0;
}

static enum dir_status login(struct fx *f, const char *u, const char *pw, unsigned *perms)
{
	char detail[256];
	return dir_authenticate_wait(f->d, u, pw, strlen(pw), "test", perms, detail, sizeof detail);
}

static void test_local_results(void **state)
{
	struct fx *f = *state;
	unsigned perms = 0;
	struct dir_stats s0, s1;
	dir_stats(f->d, &s0);
	assert_int_equal(login(f, "jpinkman", "Cap-n-Cook-1", &perms), DIR_OK);
	assert_int_equal(perms, DIR_CTI_ENABLED | DIR_CTI_CALL_RECORD);
	assert_int_equal(login(f, "jpinkman", "Cap-n-Cook-2", &perms), DIR_BAD_CREDENTIAL);
	assert_int_equal(perms, 0);
	assert_int_equal(login(f, "jpinkman", "", NULL), DIR_BAD_CREDENTIAL);
	/* Unknown users cost a password check too (against a dummy hash). */
	assert_int_equal(login(f, "nobody", "Cap-n-Cook-1", NULL), DIR_UNKNOWN_USER);
	/* An LDAP user with no LDAP server configured. */
	assert_int_equal(login(f, "wwhite", "x-password", NULL), DIR_UNAVAILABLE);
	dir_stats(f->d, &s1);
	assert_int_equal(s1.attempts - s0.attempts, 5);
	assert_int_equal(s1.successes - s0.successes, 1);
	assert_int_equal(s1.password_checks - s0.password_checks, 3);
	struct store_credstate cs;
	assert_int_equal(store_credstate_get(f->st, "jpinkman", STORE_CRED_PASSWORD, &cs),
	                 STORE_OK);
	assert_int_equal(cs.hackcount, 2); /* the wrong and the empty password */
	assert_int_equal(cs.lastsuccessfullogin, fake_now);
}

static void test_overlong_input_never_truncated(void **state)
{
	struct fx *f = *state;
	/* A user id whose first 128 bytes name a real user is not that user. */
	char prefix_user[STORE_ID_MAX + 41];
	memset(prefix_user, 'y', sizeof prefix_user - 1);
	prefix_user[sizeof prefix_user - 1] = '\0';
	memcpy(prefix_user, "many", 4);
	char stored[STORE_ID_MAX + 1];
	memcpy(stored, prefix_user, STORE_ID_MAX);
	stored[STORE_ID_MAX] = '\0';
	add_user(f->st, stored, "Many-Pass-1", "Lenient", STORE_DIR_LOCAL, NULL);
	assert_int_equal(login(f, stored, "Many-Pass-1", NULL), DIR_OK);
	assert_int_equal(login(f, prefix_user, "Many-Pass-1", NULL), DIR_UNKNOWN_USER);
	/* A password whose first DIR_CREDENTIAL_MAX bytes are right is still wrong. */
	char pw[DIR_CREDENTIAL_MAX + 20];
	memset(pw, 'p', sizeof pw - 1);
	pw[sizeof pw - 1] = '\0';
	char right[DIR_CREDENTIAL_MAX + 1];
	memcpy(right, pw, DIR_CREDENTIAL_MAX);
	right[DIR_CREDENTIAL_MAX] = '\0';
	add_user(f->st, "longpw", right, "Lenient", STORE_DIR_LOCAL, NULL);
	assert_int_equal(login(f, "longpw", right, NULL), DIR_OK);
	assert_int_equal(login(f, "longpw", pw, NULL), DIR_BAD_CREDENTIAL);
}

static void test_lockout_through_the_directory(void **state)
{
	struct fx *f = *state;
	for (int i = 0; i < 3; i++)
		assert_int_equal(login(f, "jpinkman", "wrong-password", NULL), DIR_BAD_CREDENTIAL);
	struct dir_stats s0, s1;
	dir_stats(f->d, &s0);
	assert_int_equal(login(f, "jpinkman", "Cap-n-Cook-1", NULL), DIR_HACKED_LOCKED);
	dir_stats(f->d, &s1);
	assert_int_equal(s1.password_checks, s0.password_checks); /* refused unchecked */
	atomic_fetch_add_explicit(&fake_now, 29 * 60, memory_order_relaxed);
	assert_int_equal(login(f, "jpinkman", "Cap-n-Cook-1", NULL), DIR_HACKED_LOCKED);
	atomic_fetch_add_explicit(&fake_now, 60, memory_order_relaxed);
	assert_int_equal(login(f, "jpinkman", "Cap-n-Cook-1", NULL), DIR_OK);
	struct store_credstate cs;
	assert_int_equal(store_credstate_get(f->st, "jpinkman", STORE_CRED_PASSWORD, &cs),
	                 STORE_OK);
	assert_int_equal(cs.hackcount, 0);
	assert_int_equal(cs.timehackedlockout, 0);
}

/* Credential types are independent (issue 13): digest failures recorded through
 * dir_policy_record (as the registrar does) never touch the password, so the CTI login
 * keeps working while the digest credential is locked; a password lockout leaves the
 * digest usable; an administrator's user lock (every credential) stops both. */
static void test_credential_types_independent(void **state)
{
	struct fx *f = *state;
	int64_t now = fake_clock(NULL);
	struct store_user u;
	struct store_credstate cs;
	struct store_credpolicy pol;
	/* Default Digest Credential Policy: 100 failures lock it (admin unlock). */
	for (int i = 0; i < 100; i++)
		assert_int_equal(
		    dir_policy_record(f->st, "jpinkman", STORE_CRED_DIGEST, 0, now + i, "t"),
		    DIR_BAD_CREDENTIAL);
	assert_int_equal(dir_credential_load(f->st, "jpinkman", STORE_CRED_DIGEST, &u, &cs, &pol),
	                 STORE_OK);
	assert_string_equal(pol.name, "Default Digest Credential Policy");
	assert_int_equal(cs.hackcount, 100);
	assert_int_not_equal(cs.timehackedlockout, 0);
	int changed;
	assert_int_equal(dir_policy_precheck(&u, &cs, &pol, now + 86400, &changed),
	                 DIR_HACKED_LOCKED);
	/* The password: untouched, and the CTI login works. */
	assert_int_equal(store_credstate_get(f->st, "jpinkman", STORE_CRED_PASSWORD, &cs),
	                 STORE_OK);
	assert_int_equal(cs.hackcount, 0);
	assert_int_equal(login(f, "jpinkman", "Cap-n-Cook-1", NULL), DIR_OK);
	/* A password lockout (policy "Three") leaves the digest as it was. */
	for (int i = 0; i < 3; i++)
		assert_int_equal(login(f, "many", "wrong-password", NULL), DIR_BAD_CREDENTIAL);
	assert_int_equal(dir_policy_record(f->st, "many", STORE_CRED_DIGEST, 1, now, "t"), DIR_OK);
	assert_int_equal(store_credstate_get(f->st, "many", STORE_CRED_DIGEST, &cs), STORE_OK);
	assert_int_equal(cs.hackcount, 0);
	assert_int_equal(cs.lastsuccessfullogin, now);
	/* Unknown users are not recorded anywhere. */
	assert_int_equal(dir_policy_record(f->st, "nobody", STORE_CRED_DIGEST, 0, now, "t"),
	                 DIR_UNKNOWN_USER);
}

struct counter {
	pthread_mutex_t mu;
	pthread_cond_t cv;
	int left, bad;
};

static void count_cb(void *ud, const struct dir_result *r)
{
	struct counter *c = ud;
	pthread_mutex_lock(&c->mu);
	if (r->status != DIR_BAD_CREDENTIAL)
		c->bad++;
	if (--c->left == 0)
		pthread_cond_signal(&c->cv);
	pthread_mutex_unlock(&c->mu);
}

static void test_concurrent_failures_all_counted(void **state)
{
	struct fx *f = *state;
	enum { N = 40 };
	struct counter c = {PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, N, 0};
	for (int i = 0; i < N; i++)
		assert_int_equal(
		    dir_authenticate(f->d, "many", "nope-nope", 9, "t", NULL, count_cb, &c), 0);
	pthread_mutex_lock(&c.mu);
	while (c.left)
		pthread_cond_wait(&c.cv, &c.mu);
	pthread_mutex_unlock(&c.mu);
	assert_int_equal(c.bad, 0);
	struct store_credstate cs;
	assert_int_equal(store_credstate_get(f->st, "many", STORE_CRED_PASSWORD, &cs), STORE_OK);
	assert_int_equal(cs.hackcount, N);
}

struct home_check {
	struct loop *home;
	pthread_t home_thread, cb_thread;
	atomic_int done;
};

static void record_home(void *arg)
{
	struct home_check *h = arg;
	h->home_thread = pthread_self();
}

static void home_cb(void *ud, const struct dir_result *r)
{
	struct home_check *h = ud;
	assert_int_equal(r->status, DIR_OK);
	h->cb_thread = pthread_self();
	atomic_store_explicit(&h->done, 1, memory_order_release);
}

static void test_callback_runs_on_home_loop(void **state)
{
	struct fx *f = *state;
	struct loop_group *g = loop_group_start(1);
	assert_non_null(g);
	struct home_check h = {.home = loop_group_get(g, 0)};
	assert_int_equal(loop_post(h.home, record_home, &h), 0);
	assert_int_equal(
	    dir_authenticate(f->d, "many", "Many-Pass-1", 11, "t", h.home, home_cb, &h), 0);
	for (int i = 0; i < 1000 && !atomic_load_explicit(&h.done, memory_order_acquire); i++)
		usleep(10000);
	assert_true(h.done);
	assert_true(pthread_equal(h.home_thread, h.cb_thread));
	loop_group_stop(g);
}

static void test_ldap_config_and_filter(void **state)
{
	struct fx *f = *state;
	char path[128], err[512];
	snprintf(path, sizeof path, "%s/pw", f->dir);
	FILE *pf = fopen(path, "w");
	assert_non_null(pf);
	fputs("svc-Secret\n", pf);
	fclose(pf);
	struct tg_config cfg;
	config_defaults(&cfg);
	snprintf(cfg.ldap.servers, sizeof cfg.ldap.servers,
	         "ldaps://dc1:3269 ldap://127.0.0.1:389");
	snprintf(cfg.ldap.base, sizeof cfg.ldap.base, "dc=x");
	snprintf(cfg.ldap.bind_dn, sizeof cfg.ldap.bind_dn, "cn=svc");
	snprintf(cfg.ldap.bind_password_file, sizeof cfg.ldap.bind_password_file, "%s", path);
	struct dir_ldap_config lc;
	/* A service password others can read is refused, and the message says why. */
	chmod(path, 0644);
	assert_int_equal(dir_ldap_config_load(&cfg, &lc, err, sizeof err), -1);
	assert_non_null(strstr(err, "chmod 600"));
	assert_null(strstr(err, "svc-Secret"));
	chmod(path, 0600);
	assert_int_equal(dir_ldap_config_load(&cfg, &lc, err, sizeof err), 0);
	assert_int_equal(lc.nservers, 2);
	assert_int_equal(lc.bind_pw_len, 10); /* the newline is not part of it */
	assert_string_equal(lc.filter, DIR_LDAP_FILTER_OPENLDAP);
	dir_ldap_config_clear(&lc);
	assert_int_equal(lc.bind_pw[0], 0);
	/* Plain LDAP to another host would carry passwords in clear. */
	snprintf(cfg.ldap.servers, sizeof cfg.ldap.servers, "ldap://dc1.example.net");
	assert_int_equal(dir_ldap_config_load(&cfg, &lc, err, sizeof err), -1);
	assert_non_null(strstr(err, "starttls"));
	cfg.ldap.starttls = 1;
	assert_int_equal(dir_ldap_config_load(&cfg, &lc, err, sizeof err), 0);
	dir_ldap_config_clear(&lc);

	char out[256];
	assert_int_equal(dir_ldap_filter("(uid=%u)", "a*b()\\c", out, sizeof out), 0);
	assert_string_equal(out, "(uid=a\\2Ab\\28\\29\\5Cc)");
	assert_int_equal(dir_ldap_filter("(|(uid=%u)(cn=100%%))", "x", out, sizeof out), 0);
	assert_string_equal(out, "(|(uid=x)(cn=100%))");
	assert_int_equal(dir_ldap_filter("(uid=%u)", "waytoolongforthis", out, 12), -1);
	assert_string_equal(out, "");
	/* An empty user id (fuzz_ldapfilter's "ad\n"): an empty value, no NULL memcpy. */
	assert_int_equal(dir_ldap_filter("ad%u", "", out, sizeof out), 0);
	assert_string_equal(out, "ad");
}

int main(void)
{
	if (loop_threads_init() != 0 || dir_passwd_init() != 0)
		return 1;
	char err[64];
	log_configure(LOG_LVL_WARNING, LOG_FMT_KV, "stderr", err, sizeof err);
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_local_results, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_lockout_through_the_directory, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_overlong_input_never_truncated, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_concurrent_failures_all_counted, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_callback_runs_on_home_loop, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_credential_types_independent, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_ldap_config_and_filter, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
