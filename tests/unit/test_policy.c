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
	    cmocka_unit_test(test_cti_permissions),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
