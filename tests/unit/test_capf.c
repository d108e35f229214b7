/* SPDX-License-Identifier: ISC */
/* Enrolment strings (ca/capf.c) and the enrolment decision (ca/capf_auth.c): the
 * duration parser, the checks on ids and chosen strings, generated strings, the capf key
 * file, HMAC and argon2id verification, and capf_authenticate against a real store:
 * single use (also under two threads), expiry, the lock after ten failures with its
 * alarm, rearm, and the per-source throttle. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "ca/capf.h"
#include "ca/capf_auth.h"
#include "core/alarm.h"
#include "store_fixture.h"

#include <sys/stat.h>

#define NOW 1700000000

/* Cheap argon2id for tests: libsodium's minimum. */
static const struct dir_passwd_params weak = {.t = 1, .m_kib = 8};

static void test_duration(void **state)
{
	(void)state;
	static const struct {
		const char *in;
		int64_t s;
	} ok[] = {{"30m", 1800}, {"24h", 86400}, {"7d", 604800},
	          {"45s", 45},   {"90", 90},     {"365d", 365 * 86400}};
	for (size_t i = 0; i < sizeof ok / sizeof ok[0]; i++) {
		int64_t s = -1;
		assert_int_equal(capf_duration_parse(ok[i].in, &s), 0);
		assert_int_equal(s, ok[i].s);
	}
	static const char *const bad[] = {"",
	                                  "0",
	                                  "0h",
	                                  "h",
	                                  "-1h",
	                                  "1w",
	                                  "1hh",
	                                  "1 h",
	                                  "366d",
	                                  "1.5h",
	                                  "99999999999999999999d",
	                                  "8761h"};
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		int64_t s = -1;
		assert_int_equal(capf_duration_parse(bad[i], &s), -1);
		assert_int_equal(s, -1);
	}
}

static void test_checks(void **state)
{
	(void)state;
	assert_null(capf_instanceid_check("1234"));
	assert_null(capf_instanceid_check("cti-app_1.A"));
	assert_non_null(capf_instanceid_check(""));
	assert_non_null(capf_instanceid_check("a:b")); /* the HTTP Basic separator */
	assert_non_null(capf_instanceid_check("a b"));
	char longid[STORE_CAPF_ID_MAX + 2];
	memset(longid, '7', sizeof longid - 1);
	longid[sizeof longid - 1] = '\0';
	assert_non_null(capf_instanceid_check(longid));
	longid[STORE_CAPF_ID_MAX] = '\0';
	assert_null(capf_instanceid_check(longid));

	/* The minimum length: 12 by default, configurable down to 4, never below. */
	assert_non_null(capf_string_check("12345678901", 11, 12));
	assert_null(capf_string_check("123456789012", 12, 12));
	assert_null(capf_string_check("1234", 4, 4));
	assert_non_null(capf_string_check("123", 3, 4));
	assert_non_null(capf_string_check("123", 3, 1)); /* a minimum below the floor */
	assert_non_null(capf_string_check("1234 5678", 9, 4));
	assert_non_null(capf_string_check("1234\x01", 5, 4));
	char big[CAPF_STRING_MAX + 1];
	memset(big, 'x', sizeof big);
	assert_non_null(capf_string_check(big, sizeof big, 4));
	assert_null(capf_string_check(big, CAPF_STRING_MAX, 4));
	/* The reason never quotes the string. */
	assert_null(strstr(capf_string_check("s3cr", 4, 12), "s3cr"));

	assert_true(capf_keytype_valid("ec-p256") && capf_keytype_valid("rsa-3072"));
	assert_false(capf_keytype_valid("rsa-1024"));
	assert_true(capf_operation_valid("install") && capf_operation_valid("delete"));
	assert_false(capf_operation_valid("upgrade"));
	assert_true(capf_authmode_valid("string") && capf_authmode_valid("none"));
	assert_false(capf_authmode_valid("certificate"));
}

static void test_generate(void **state)
{
	(void)state;
	char a[CAPF_GENERATED_LEN + 1], b[CAPF_GENERATED_LEN + 1];
	capf_generate(a);
	capf_generate(b);
	assert_int_equal(strlen(a), CAPF_GENERATED_LEN);
	/* 26 base32 characters: 130 bits, at least the 128 asked for. */
	assert_true(CAPF_GENERATED_LEN * 5 >= 128);
	assert_int_equal(strspn(a, "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567"), CAPF_GENERATED_LEN);
	assert_string_not_equal(a, b);
}

static void test_key_file(void **state)
{
	(void)state;
	char dir[64], path[128], err[256];
	tu_mkdtemp(dir, sizeof dir, "tgcapf");
	unsigned char k1[CAPF_KEY_BYTES], k2[CAPF_KEY_BYTES];
	assert_int_equal(capf_key_load(dir, k1, err, sizeof err), 0);
	snprintf(path, sizeof path, "%s/capf.key", dir);
	struct stat sb;
	assert_int_equal(stat(path, &sb), 0);
	assert_int_equal(sb.st_mode & 0777, 0600);
	assert_int_equal(sb.st_size, CAPF_KEY_BYTES);
	/* Made once: the second load reads the same key. */
	assert_int_equal(capf_key_load(dir, k2, err, sizeof err), 0);
	assert_memory_equal(k1, k2, sizeof k1);
	/* A file of another size is refused, not replaced. */
	FILE *f = fopen(path, "w");
	fputs("short", f);
	fclose(f);
	assert_int_equal(capf_key_load(dir, k2, err, sizeof err), -1);
	assert_non_null(strstr(err, "not 32 bytes"));
	assert_int_equal(capf_key_load("/nonexistent/dir", k2, err, sizeof err), -1);
	tu_rmtree(dir);
}

static struct store_capfprofile with_secret(const char *id, const struct capf_secret *s)
{
	struct store_capfprofile p;
	memset(&p, 0, sizeof p);
	snprintf(p.instanceid, sizeof p.instanceid, "%s", id);
	snprintf(p.userid, sizeof p.userid, "wwhite");
	snprintf(p.authmode, sizeof p.authmode, "%s", s ? "string" : "none");
	if (s) {
		snprintf(p.secretkind, sizeof p.secretkind, "%s", s->kind);
		snprintf(p.secrethash, sizeof p.secrethash, "%s", s->hash);
	}
	snprintf(p.keytype, sizeof p.keytype, "ec-p256");
	snprintf(p.operation, sizeof p.operation, "install");
	snprintf(p.status, sizeof p.status, "pending");
	p.created = NOW;
	p.expires = NOW + 86400;
	return p;
}

static void test_verify_hmac(void **state)
{
	(void)state;
	unsigned char key[CAPF_KEY_BYTES], other[CAPF_KEY_BYTES];
	memset(key, 0x42, sizeof key);
	memset(other, 0x43, sizeof other);
	char s[CAPF_GENERATED_LEN + 1];
	capf_generate(s);
	struct capf_secret sec;
	assert_int_equal(capf_secret_make(key, &weak, "1234", s, strlen(s), 1, &sec), 0);
	assert_string_equal(sec.kind, "hmac");
	assert_int_equal(strlen(sec.hash), 64);
	assert_null(strstr(sec.hash, s)); /* a hash, not the string */
	struct store_capfprofile p = with_secret("1234", &sec);
	assert_int_equal(capf_verify(key, &p, s, strlen(s)), CAPF_MATCH);
	/* One character off, one missing, one more, another key: no match. */
	char t[CAPF_GENERATED_LEN + 2];
	snprintf(t, sizeof t, "%s", s);
	t[CAPF_GENERATED_LEN - 1] = t[CAPF_GENERATED_LEN - 1] == 'A' ? 'B' : 'A';
	assert_int_equal(capf_verify(key, &p, t, strlen(t)), CAPF_NO_MATCH);
	assert_int_equal(capf_verify(key, &p, s, strlen(s) - 1), CAPF_NO_MATCH);
	snprintf(t, sizeof t, "%sA", s);
	assert_int_equal(capf_verify(key, &p, t, strlen(t)), CAPF_NO_MATCH);
	assert_int_equal(capf_verify(other, &p, s, strlen(s)), CAPF_NO_MATCH);
	/* The hash is bound to its instance id: copied to another profile it fails. */
	struct store_capfprofile q = with_secret("1235", &sec);
	assert_int_equal(capf_verify(key, &q, s, strlen(s)), CAPF_NO_MATCH);
	/* A damaged hash or an unknown kind never matches. */
	q = p;
	q.secrethash[10] = 'z';
	assert_int_equal(capf_verify(key, &q, s, strlen(s)), CAPF_NO_MATCH);
	q = p;
	q.secrethash[63] = '\0';
	assert_int_equal(capf_verify(key, &q, s, strlen(s)), CAPF_NO_MATCH);
	q = p;
	snprintf(q.secretkind, sizeof q.secretkind, "plain");
	assert_int_equal(capf_verify(key, &q, s, strlen(s)), CAPF_NO_MATCH);
	/* Authentication mode none asks for nothing. */
	q = with_secret("9", NULL);
	assert_int_equal(capf_verify(key, &q, "", 0), CAPF_MATCH);
}

static void test_verify_argon2id(void **state)
{
	(void)state;
	struct capf_secret sec;
	assert_int_equal(capf_secret_make(NULL, &weak, "77", "12345", 5, 0, &sec), 0);
	assert_string_equal(sec.kind, "argon2id");
	assert_true(dir_passwd_is_hash(sec.hash));
	struct store_capfprofile p = with_secret("77", &sec);
	unsigned char key[CAPF_KEY_BYTES] = {0};
	assert_int_equal(capf_verify(key, &p, "12345", 5), CAPF_MATCH);
	assert_int_equal(capf_verify(key, &p, "12346", 5), CAPF_NO_MATCH);
	assert_int_equal(capf_verify(key, &p, "1234", 4), CAPF_NO_MATCH);
	/* Bad parameters: refused, not a weak hash. */
	struct dir_passwd_params none = {.t = 0, .m_kib = 0};
	assert_int_equal(capf_secret_make(NULL, &none, "77", "12345", 5, 0, &sec), -1);
}

/* --- capf_authenticate against a store ---------------------------------------------- */

struct fx {
	struct tu_store s;
	unsigned char key[CAPF_KEY_BYTES];
	char secret[CAPF_GENERATED_LEN + 1];
	struct capf_secret sec;
};

static int fx_setup(void **state)
{
	struct fx *f = calloc(1, sizeof *f);
	tu_mkdtemp(f->s.dir, sizeof f->s.dir, "tgcapf");
	snprintf(f->s.path, sizeof f->s.path, "%s/t.db", f->s.dir);
	tu_store_open(&f->s, 0);
	struct store_user u;
	memset(&u, 0, sizeof u);
	snprintf(u.userid, sizeof u.userid, "wwhite");
	u.status = STORE_USER_ACTIVE;
	snprintf(u.credentialpolicy, sizeof u.credentialpolicy, "Default Credential Policy");
	assert_int_equal(store_user_put(f->s.st, &u), STORE_OK);
	char err[256];
	assert_int_equal(capf_key_load(f->s.dir, f->key, err, sizeof err), 0);
	capf_generate(f->secret);
	*state = f;
	return 0;
}

static int fx_teardown(void **state)
{
	struct fx *f = *state;
	store_close(f->s.st);
	tu_rmtree(f->s.dir);
	free(f);
	return 0;
}

/* Adds profile id with f's generated string (its HMAC) expiring at expires. */
static void fx_add(struct fx *f, const char *id, int64_t expires)
{
	assert_int_equal(
	    capf_secret_make(f->key, &weak, id, f->secret, strlen(f->secret), 1, &f->sec), 0);
	struct store_capfprofile p = with_secret(id, &f->sec);
	p.expires = expires;
	assert_int_equal(store_capf_add(f->s.st, &p), STORE_OK);
}

static enum capf_auth fx_auth(struct fx *f, struct capf_guard *g, const char *id, const char *s,
                              const char *source, int64_t now, struct store_capfprofile *out)
{
	struct capf_auth_req r = {id, s, strlen(s), source, now, "test-cid"};
	return capf_authenticate(f->s.st, f->key, g, &r, out);
}

static void test_auth_single_use(void **state)
{
	struct fx *f = *state;
	struct store_capfprofile out;
	fx_add(f, "1234", NOW + 600);
	assert_int_equal(fx_auth(f, NULL, "1234", f->secret, "192.0.2.1", NOW, &out), CAPF_AUTH_OK);
	assert_string_equal(out.userid, "wwhite");
	assert_int_equal(out.used, 1);
	/* The same string again: used, whoever presents it. */
	assert_int_equal(fx_auth(f, NULL, "1234", f->secret, "192.0.2.1", NOW, &out),
	                 CAPF_AUTH_USED);
	assert_string_equal(out.instanceid, "");
	assert_int_equal(store_capf_succeeded(f->s.st, "1234", "0A"), STORE_OK);
	assert_int_equal(fx_auth(f, NULL, "1234", f->secret, "192.0.2.2", NOW, &out),
	                 CAPF_AUTH_USED);
	assert_int_equal(fx_auth(f, NULL, "nope", f->secret, "192.0.2.2", NOW, &out),
	                 CAPF_AUTH_UNKNOWN);
	/* Expired: refused before the string is looked at. */
	fx_add(f, "exp", NOW + 60);
	assert_int_equal(fx_auth(f, NULL, "exp", f->secret, "192.0.2.2", NOW + 60, &out),
	                 CAPF_AUTH_EXPIRED);
	assert_int_equal(fx_auth(f, NULL, "exp", f->secret, "192.0.2.2", NOW + 59, &out),
	                 CAPF_AUTH_OK);
	assert_string_equal(capf_auth_name(CAPF_AUTH_WRONG), "wrong_string");
}

static int alarm_named(const char *name, const char *field)
{
	static struct alarm_rec recs[ALARM_HISTORY];
	size_t n = alarm_history(recs, ALARM_HISTORY);
	int found = 0;
	for (size_t i = 0; i < n; i++)
		if (strcmp(recs[i].name, name) == 0 && strstr(recs[i].fields, field))
			found++;
	return found;
}

static void test_auth_lock_and_rearm(void **state)
{
	struct fx *f = *state;
	struct store_capfprofile out;
	fx_add(f, "4321", NOW + 600);
	int before = alarm_named("CapfProfileLocked", "InstanceID=4321");
	for (int i = 1; i < CAPF_LOCK_FAILURES; i++) {
		char src[32];
		snprintf(src, sizeof src, "198.51.100.%d", i); /* many sources: no throttle */
		assert_int_equal(fx_auth(f, NULL, "4321", "WRONGWRONGWRONG", src, NOW, &out),
		                 CAPF_AUTH_WRONG);
	}
	assert_int_equal(alarm_named("CapfProfileLocked", "InstanceID=4321"), before);
	assert_int_equal(fx_auth(f, NULL, "4321", "WRONGWRONGWRONG", "203.0.113.9", NOW, &out),
	                 CAPF_AUTH_LOCKED);
	assert_int_equal(alarm_named("CapfProfileLocked", "InstanceID=4321"), before + 1);
	/* Locked: the right string does not help, and no second alarm. */
	assert_int_equal(fx_auth(f, NULL, "4321", f->secret, "192.0.2.1", NOW, &out),
	                 CAPF_AUTH_LOCKED);
	assert_int_equal(alarm_named("CapfProfileLocked", "InstanceID=4321"), before + 1);
	/* Rearm with a new string: the old one is gone, the new one works. */
	char fresh[CAPF_GENERATED_LEN + 1], old[CAPF_GENERATED_LEN + 1];
	memcpy(old, f->secret, sizeof old);
	capf_generate(fresh);
	struct capf_secret s;
	assert_int_equal(capf_secret_make(f->key, &weak, "4321", fresh, strlen(fresh), 1, &s), 0);
	assert_int_equal(store_capf_rearm(f->s.st, "4321", s.kind, s.hash, NOW + 600), STORE_OK);
	assert_int_equal(fx_auth(f, NULL, "4321", old, "192.0.2.1", NOW, &out), CAPF_AUTH_WRONG);
	assert_int_equal(fx_auth(f, NULL, "4321", fresh, "192.0.2.1", NOW, &out), CAPF_AUTH_OK);
}

static void test_auth_throttle(void **state)
{
	struct fx *f = *state;
	struct store_capfprofile out;
	fx_add(f, "1", NOW + 600);
	struct capf_guard *g = capf_guard_new(3);
	assert_non_null(g);
	/* Three wrong ids from one source; the fourth attempt is not even checked, right
	 * string or not, while another source still gets through. */
	for (int i = 0; i < 3; i++)
		assert_int_equal(fx_auth(f, g, "guess", "x", "192.0.2.66", NOW, &out),
		                 CAPF_AUTH_UNKNOWN);
	assert_int_equal(fx_auth(f, g, "1", f->secret, "192.0.2.66", NOW, &out),
	                 CAPF_AUTH_THROTTLED);
	struct store_capfprofile p;
	assert_int_equal(store_capf_get(f->s.st, "1", NOW, &p), STORE_OK);
	assert_int_equal(p.used, 0);
	assert_int_equal(fx_auth(f, g, "1", f->secret, "192.0.2.67", NOW, &out), CAPF_AUTH_OK);
	/* A minute later the source may try again. */
	fx_add(f, "2", NOW + 600);
	assert_int_equal(fx_auth(f, g, "2", f->secret, "192.0.2.66", NOW + 61, &out), CAPF_AUTH_OK);
	capf_guard_free(g);
	/* No limit: 0. */
	g = capf_guard_new(0);
	for (int i = 0; i < 50; i++)
		assert_int_equal(fx_auth(f, g, "guess", "x", "192.0.2.66", NOW, &out),
		                 CAPF_AUTH_UNKNOWN);
	capf_guard_free(g);
}

#define RACE_ROUNDS 20
struct racer {
	struct fx *f;
	pthread_barrier_t *go;
	int ok[RACE_ROUNDS], other[RACE_ROUNDS];
};

static void *race(void *arg)
{
	struct racer *r = arg;
	for (int i = 0; i < RACE_ROUNDS; i++) {
		char id[16];
		snprintf(id, sizeof id, "r%d", i);
		struct store_capfprofile out;
		pthread_barrier_wait(r->go);
		struct capf_auth_req q = {id,          r->f->secret, strlen(r->f->secret),
		                          "192.0.2.1", NOW,          "race"};
		enum capf_auth a = capf_authenticate(r->f->s.st, r->f->key, NULL, &q, &out);
		r->ok[i] = a == CAPF_AUTH_OK;
		r->other[i] = a != CAPF_AUTH_OK && a != CAPF_AUTH_USED;
	}
	return NULL;
}

/* Two enrolments with the right string at once: exactly one consumes the profile. */
static void test_auth_race(void **state)
{
	struct fx *f = *state;
	for (int i = 0; i < RACE_ROUNDS; i++) {
		char id[16];
		snprintf(id, sizeof id, "r%d", i);
		fx_add(f, id, NOW + 600);
	}
	pthread_barrier_t go;
	struct racer a = {.f = f, .go = &go}, b = {.f = f, .go = &go};
	tu_run_pair(race, &a, &b, &go);
	for (int i = 0; i < RACE_ROUNDS; i++) {
		assert_int_equal(a.ok[i] + b.ok[i], 1);
		assert_int_equal(a.other[i] + b.other[i], 0);
	}
}

int main(void)
{
	if (dir_passwd_init() != 0)
		return 1;
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_duration),
	    cmocka_unit_test(test_checks),
	    cmocka_unit_test(test_generate),
	    cmocka_unit_test(test_key_file),
	    cmocka_unit_test(test_verify_hmac),
	    cmocka_unit_test(test_verify_argon2id),
	    cmocka_unit_test_setup_teardown(test_auth_single_use, fx_setup, fx_teardown),
	    cmocka_unit_test_setup_teardown(test_auth_lock_and_rearm, fx_setup, fx_teardown),
	    cmocka_unit_test_setup_teardown(test_auth_throttle, fx_setup, fx_teardown),
	    cmocka_unit_test_setup_teardown(test_auth_race, fx_setup, fx_teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
