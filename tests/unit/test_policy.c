/* SPDX-License-Identifier: ISC */
/* The credential policy as pure functions: every rule driven with chosen times. */
#include "dir/policy.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <cmocka.h>

#define T0 1800000000LL /* an arbitrary "now" */
#define MIN 60
#define DAY 86400

static struct store_user user(void)
{
	struct store_user u;
	memset(&u, 0, sizeof u);
	snprintf(u.userid, sizeof u.userid, "jpinkman");
	u.status = STORE_USER_ACTIVE;
	return u;
}

static struct store_credpolicy policy(int threshold, int reset_min, int lock_min, int admin)
{
	struct store_credpolicy p;
	memset(&p, 0, sizeof p);
	snprintf(p.name, sizeof p.name, "p");
	p.failedlogonthreshold = threshold;
	p.resetfailedlogonsafter = reset_min;
	p.lockoutduration = lock_min;
	p.adminmustunlock = admin;
	return p;
}

/* One attempt at time now: precheck, then (if allowed) the outcome. */
static enum dir_status attempt(struct store_user *u, struct store_credstate *cs,
                               const struct store_credpolicy *p, int64_t now, int right)
{
	int changed, warn;
	enum dir_status pre = dir_policy_precheck(u, cs, p, now, &changed);
	if (pre != DIR_OK)
		return pre;
	return dir_policy_apply(cs, p, now, right, &warn);
}

static void test_threshold_lockout_and_expiry_of_lockout(void **state)
{
	(void)state;
	struct store_user u = user();
	struct store_credstate cs = {0};
	struct store_credpolicy p = policy(3, 0, 30, 0);
	assert_int_equal(attempt(&u, &cs, &p, T0, 0), DIR_BAD_CREDENTIAL);
	assert_int_equal(attempt(&u, &cs, &p, T0 + 1, 0), DIR_BAD_CREDENTIAL);
	assert_int_equal(cs.timehackedlockout, 0);
	assert_int_equal(attempt(&u, &cs, &p, T0 + 2, 0), DIR_BAD_CREDENTIAL);
	assert_int_equal(cs.hackcount, 3);
	assert_int_equal(cs.timehackedlockout, T0 + 2);
	/* Locked: the right password is refused, and the failure count does not move. */
	assert_int_equal(attempt(&u, &cs, &p, T0 + 3, 1), DIR_HACKED_LOCKED);
	assert_int_equal(attempt(&u, &cs, &p, T0 + 2 + 30 * MIN - 1, 1), DIR_HACKED_LOCKED);
	assert_int_equal(cs.hackcount, 3);
	assert_int_equal(dir_policy_lockout_ends(&cs, &p), T0 + 2 + 30 * MIN);
	/* The duration ran out: the right password works and clears everything. */
	assert_int_equal(attempt(&u, &cs, &p, T0 + 2 + 30 * MIN, 1), DIR_OK);
	assert_int_equal(cs.hackcount, 0);
	assert_int_equal(cs.timehackedlockout, 0);
	assert_int_equal(cs.lastsuccessfullogin, T0 + 2 + 30 * MIN);
}

static void test_lockout_then_wrong_password_starts_counting_again(void **state)
{
	(void)state;
	struct store_user u = user();
	struct store_credstate cs = {0};
	struct store_credpolicy p = policy(2, 0, 10, 0);
	attempt(&u, &cs, &p, T0, 0);
	attempt(&u, &cs, &p, T0, 0);
	assert_int_equal(attempt(&u, &cs, &p, T0 + 10 * MIN, 0), DIR_BAD_CREDENTIAL);
	assert_int_equal(cs.hackcount, 1);
	assert_int_equal(cs.timehackedlockout, 0);
}

static void test_admin_must_unlock(void **state)
{
	(void)state;
	struct store_user u = user();
	struct store_credstate cs = {0};
	struct store_credpolicy p = policy(1, 0, 1, 1);
	assert_int_equal(attempt(&u, &cs, &p, T0, 0), DIR_BAD_CREDENTIAL);
	assert_int_equal(dir_policy_lockout_ends(&cs, &p), -1);
	assert_int_equal(attempt(&u, &cs, &p, T0 + 365 * DAY, 1), DIR_HACKED_LOCKED);
	dir_policy_unlock(&cs);
	assert_int_equal(attempt(&u, &cs, &p, T0 + 365 * DAY, 1), DIR_OK);
}

static void test_admin_lock(void **state)
{
	(void)state;
	struct store_user u = user();
	struct store_credstate cs = {0};
	struct store_credpolicy p = policy(0, 0, 0, 0);
	cs.timelockedout = T0;
	assert_int_equal(attempt(&u, &cs, &p, T0 + 100 * DAY, 1), DIR_LOCKED);
	dir_policy_unlock(&cs);
	assert_int_equal(attempt(&u, &cs, &p, T0 + 100 * DAY, 1), DIR_OK);
}

static void test_reset_failed_logons_after(void **state)
{
	(void)state;
	struct store_user u = user();
	struct store_credstate cs = {0};
	struct store_credpolicy p = policy(3, 15, 30, 0);
	attempt(&u, &cs, &p, T0, 0);
	attempt(&u, &cs, &p, T0 + 1, 0);
	assert_int_equal(cs.hackcount, 2);
	/* 15 minutes after the last failure the count starts from zero. */
	assert_int_equal(attempt(&u, &cs, &p, T0 + 1 + 15 * MIN, 0), DIR_BAD_CREDENTIAL);
	assert_int_equal(cs.hackcount, 1);
	assert_int_equal(cs.timehackedlockout, 0);
	/* Within the window it keeps counting. */
	attempt(&u, &cs, &p, T0 + 2 + 15 * MIN, 0);
	attempt(&u, &cs, &p, T0 + 3 + 15 * MIN, 0);
	assert_int_equal(cs.hackcount, 3);
	assert_int_not_equal(cs.timehackedlockout, 0);
}

static void test_no_threshold_never_locks(void **state)
{
	(void)state;
	struct store_user u = user();
	struct store_credstate cs = {0};
	struct store_credpolicy p = policy(0, 0, 30, 0);
	for (int i = 0; i < 100; i++)
		assert_int_equal(attempt(&u, &cs, &p, T0 + i, 0), DIR_BAD_CREDENTIAL);
	assert_int_equal(attempt(&u, &cs, &p, T0 + 100, 1), DIR_OK);
}

static void test_expiry_and_warning(void **state)
{
	(void)state;
	struct store_user u = user();
	struct store_credstate cs = {0};
	struct store_credpolicy p = policy(0, 0, 0, 0);
	p.expiresafterdays = 90;
	p.expirywarningdays = 10;
	cs.timechanged = T0;
	int changed, warn;
	assert_int_equal(dir_policy_apply(&cs, &p, T0 + 79 * DAY, 1, &warn), DIR_OK);
	assert_int_equal(warn, -1);
	assert_int_equal(dir_policy_apply(&cs, &p, T0 + 85 * DAY, 1, &warn), DIR_OK);
	assert_int_equal(warn, 5);
	assert_int_equal(dir_policy_precheck(&u, &cs, &p, T0 + 90 * DAY, &changed), DIR_OK);
	assert_int_equal(dir_policy_apply(&cs, &p, T0 + 90 * DAY, 1, &warn), DIR_EXPIRED);
	/* A wrong password on an expired credential is still a wrong password. */
	assert_int_equal(dir_policy_apply(&cs, &p, T0 + 91 * DAY, 0, &warn), DIR_BAD_CREDENTIAL);
	cs.doesnotexpire = 1;
	assert_int_equal(dir_policy_apply(&cs, &p, T0 + 1000 * DAY, 1, &warn), DIR_OK);
	assert_int_equal(dir_policy_expires_at(&cs, &p), 0);
}

static void test_inactive(void **state)
{
	(void)state;
	struct store_user u = user();
	struct store_credstate cs = {0};
	struct store_credpolicy p = policy(0, 0, 0, 0);
	int changed;
	u.status = STORE_USER_INACTIVE;
	assert_int_equal(dir_policy_precheck(&u, &cs, &p, T0, &changed), DIR_INACTIVE);
	u.status = STORE_USER_ACTIVE;
	cs.inactive = 1;
	assert_int_equal(dir_policy_precheck(&u, &cs, &p, T0, &changed), DIR_INACTIVE);
	cs.inactive = 0;
	/* Inactive days allowed: counted from the last login (or the credential change). */
	p.inactivedaysallowed = 30;
	cs.timechanged = T0;
	assert_int_equal(dir_policy_precheck(&u, &cs, &p, T0 + 29 * DAY, &changed), DIR_OK);
	assert_int_equal(dir_policy_precheck(&u, &cs, &p, T0 + 30 * DAY, &changed), DIR_INACTIVE);
	cs.lastsuccessfullogin = T0 + 20 * DAY;
	assert_int_equal(dir_policy_precheck(&u, &cs, &p, T0 + 30 * DAY, &changed), DIR_OK);
	assert_int_equal(dir_policy_precheck(&u, &cs, &p, T0 + 50 * DAY, &changed), DIR_INACTIVE);
}

static void test_must_change(void **state)
{
	(void)state;
	struct store_user u = user();
	struct store_credstate cs = {0};
	struct store_credpolicy p = policy(3, 0, 30, 0);
	cs.mustchange = 1;
	cs.hackcount = 2;
	int warn;
	/* The right password: its own result, and the failures are forgiven. */
	assert_int_equal(attempt(&u, &cs, &p, T0, 1), DIR_MUST_CHANGE);
	assert_int_equal(cs.hackcount, 0);
	assert_int_equal(cs.lastsuccessfullogin, 0);
	/* A wrong one says nothing about must-change. */
	assert_int_equal(dir_policy_apply(&cs, &p, T0, 0, &warn), DIR_BAD_CREDENTIAL);
}

/* The Default Digest Credential Policy (schema v5): throttle from 10, lock at 100. */
static struct store_credpolicy digest_policy(void)
{
	struct store_credpolicy p = policy(100, 0, 0, 1);
	p.throttleafterfailures = 10;
	p.throttlemaxseconds = 300;
	return p;
}

/* Throttle steps: 1 s after the 10th failure, doubling, capped at 300 s; attempts inside
 * an interval are refused unchecked and not counted, whatever the password. */
static void test_digest_throttle_steps(void **state)
{
	(void)state;
	struct store_user u = user();
	struct store_credstate cs = {0};
	struct store_credpolicy p = digest_policy();
	int64_t t = T0;
	for (int i = 1; i <= 9; i++)
		assert_int_equal(attempt(&u, &cs, &p, t, 0), DIR_BAD_CREDENTIAL);
	assert_int_equal(dir_policy_throttle_ends(&cs, &p), 0);           /* 9: not yet */
	assert_int_equal(attempt(&u, &cs, &p, t, 0), DIR_BAD_CREDENTIAL); /* the 10th */
	static const int64_t steps[] = {1, 2, 4, 8, 16, 32, 64, 128, 256, 300, 300, 300};
	for (size_t i = 0; i < sizeof steps / sizeof steps[0]; i++) {
		int64_t last = t;
		/* Whole seconds: one more, so that the full interval always passes. */
		assert_int_equal(dir_policy_throttle_ends(&cs, &p), last + steps[i] + 1);
		/* Inside the interval: refused unchecked, even the right password, uncounted. */
		int before = cs.hackcount;
		assert_int_equal(attempt(&u, &cs, &p, last + steps[i], 1), DIR_THROTTLED);
		assert_int_equal(cs.hackcount, before);
		assert_int_equal(cs.lastfailedlogin, last);
		/* At its end: checked again; a wrong one counts and doubles the interval. */
		t = last + steps[i] + 1;
		assert_int_equal(attempt(&u, &cs, &p, t, 0), DIR_BAD_CREDENTIAL);
		assert_int_equal(cs.hackcount, before + 1);
	}
	assert_int_equal(cs.timehackedlockout, 0); /* 22 failures: throttled, never locked */
}

/* The 100th consecutive failure locks the digest credential until an administrator
 * unlocks it; unlocking clears the count and the throttle. */
static void test_digest_lock_at_100(void **state)
{
	(void)state;
	struct store_user u = user();
	struct store_credstate cs = {0};
	struct store_credpolicy p = digest_policy();
	int64_t t = T0;
	for (int i = 1; i <= 100; i++) {
		int64_t ends = dir_policy_throttle_ends(&cs, &p);
		if (ends > t)
			t = ends;
		assert_int_equal(attempt(&u, &cs, &p, t, 0), DIR_BAD_CREDENTIAL);
		assert_int_equal(cs.timehackedlockout, i < 100 ? 0 : t);
	}
	assert_int_equal(dir_policy_lockout_ends(&cs, &p), -1);
	assert_int_equal(attempt(&u, &cs, &p, t + 365 * DAY, 1), DIR_HACKED_LOCKED);
	assert_int_equal(cs.hackcount, 100);
	dir_policy_unlock(&cs);
	assert_int_equal(dir_policy_throttle_ends(&cs, &p), 0);
	assert_int_equal(attempt(&u, &cs, &p, t + 365 * DAY, 1), DIR_OK);
}

/* A success resets the count, and with it the throttle. */
static void test_digest_reset_on_success(void **state)
{
	(void)state;
	struct store_user u = user();
	struct store_credstate cs = {0};
	struct store_credpolicy p = digest_policy();
	for (int i = 0; i < 12; i++) {
		int64_t ends = dir_policy_throttle_ends(&cs, &p);
		assert_int_equal(attempt(&u, &cs, &p, ends > T0 ? ends : T0, 0),
		                 DIR_BAD_CREDENTIAL);
	}
	int64_t ends = dir_policy_throttle_ends(&cs, &p);
	assert_true(ends > T0);
	assert_int_equal(attempt(&u, &cs, &p, ends, 1), DIR_OK);
	assert_int_equal(cs.hackcount, 0);
	assert_int_equal(dir_policy_throttle_ends(&cs, &p), 0);
	assert_int_equal(attempt(&u, &cs, &p, ends, 0), DIR_BAD_CREDENTIAL); /* 1: no throttle */
	assert_int_equal(attempt(&u, &cs, &p, ends, 1), DIR_OK);
}

/* The password's default policy does not throttle (throttleafterfailures 0), and a reset
 * time shorter than the throttle interval ends the throttle with the count. */
static void test_throttle_off_and_reset_window(void **state)
{
	(void)state;
	struct store_user u = user();
	struct store_credstate cs = {0};
	struct store_credpolicy p = policy(0, 30, 30, 0);
	for (int i = 0; i < 50; i++)
		assert_int_equal(attempt(&u, &cs, &p, T0, 0), DIR_BAD_CREDENTIAL);
	assert_int_equal(dir_policy_throttle_ends(&cs, &p), 0);
	struct store_credpolicy q = policy(0, 1, 0, 0);
	q.throttleafterfailures = 1;
	q.throttlemaxseconds = 300;
	cs.hackcount = 40;
	cs.lastfailedlogin = T0;
	assert_int_equal(dir_policy_throttle_ends(&cs, &q), T0 + 1 * MIN);
	assert_int_equal(attempt(&u, &cs, &q, T0 + MIN - 1, 1), DIR_THROTTLED);
	assert_int_equal(attempt(&u, &cs, &q, T0 + MIN, 0), DIR_BAD_CREDENTIAL);
	assert_int_equal(cs.hackcount, 1); /* the reset time had passed: counting restarted */
	assert_string_equal(dir_status_name(DIR_THROTTLED), "throttled");
}

static void test_cti_permissions(void **state)
{
	(void)state;
	assert_int_equal(dir_cti_perm_of_group("Standard CTI Enabled"), DIR_CTI_ENABLED);
	assert_int_equal(dir_cti_perm_of_group("Standard CTI Allow Control of All Devices"),
	                 DIR_CTI_ALL_DEVICES);
	assert_int_equal(dir_cti_perm_of_group("Standard CTI Allow Reception of SRTP Key Material"),
	                 DIR_CTI_SRTP_KEYS);
	assert_int_equal(dir_cti_perm_of_group("standard cti enabled"), 0);
	assert_int_equal(dir_cti_perm_of_group("Demo Operators"), 0);
	char buf[256];
	dir_cti_perm_format(DIR_CTI_ENABLED | DIR_CTI_SECURE | DIR_CTI_CALL_RECORD, buf,
	                    sizeof buf);
	assert_string_equal(buf, "enabled,secure-connection,call-recording");
	dir_cti_perm_format(0, buf, sizeof buf);
	assert_string_equal(buf, "none");
	dir_cti_perm_format(DIR_CTI_ENABLED | DIR_CTI_SECURE, buf, 10);
	assert_true(strlen(buf) < 10);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_threshold_lockout_and_expiry_of_lockout),
	    cmocka_unit_test(test_lockout_then_wrong_password_starts_counting_again),
	    cmocka_unit_test(test_admin_must_unlock),
	    cmocka_unit_test(test_admin_lock),
	    cmocka_unit_test(test_reset_failed_logons_after),
	    cmocka_unit_test(test_no_threshold_never_locks),
	    cmocka_unit_test(test_expiry_and_warning),
	    cmocka_unit_test(test_inactive),
	    cmocka_unit_test(test_must_change),
	    cmocka_unit_test(test_digest_throttle_steps),
	    cmocka_unit_test(test_digest_lock_at_100),
	    cmocka_unit_test(test_digest_reset_on_success),
	    cmocka_unit_test(test_throttle_off_and_reset_window),
	    cmocka_unit_test(test_cti_permissions),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
