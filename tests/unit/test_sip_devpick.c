/* SPDX-License-Identifier: ISC */
/* Picking the device of a REGISTER on a shared line (sip/devpick.h): every outcome, the
 * user check of a named device (digest user, owner, association), the fallback to a
 * line's only device, and the name table. */
#include "sip/devpick.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <cmocka.h>

static const char *const desk_users[] = {"assistant"};

/* Line 1001 on a desk phone (owner jdoe, digest user jdoe-sip, one associated user) and
 * on jdoe's softphone (owner jdoe, no digest user: the owner's credentials). */
static const struct sip_devpick_dev shared[] = {
    {"CSFJDOE", "jdoe", "", NULL, 0},
    {"SEP001122334455", "jdoe", "jdoe-sip", desk_users, 1},
};

static enum sip_devpick_outcome pick(const struct sip_devpick_dev *devs, size_t n,
                                     const char *devicename, const char *user, int *index)
{
	struct sip_devpick_in in = {devicename, 0, user, devs, n};
	return sip_devpick(&in, index);
}

static void test_named(void **state)
{
	(void)state;
	int k = 7;
	/* The owner's softphone, named by the owner. */
	assert_int_equal(pick(shared, 2, "CSFJDOE", "jdoe", &k), SIP_DEVPICK_NAMED);
	assert_int_equal(k, 0);
	/* The desk phone: by its digest user, its owner and its associated user. */
	assert_int_equal(pick(shared, 2, "SEP001122334455", "jdoe-sip", &k), SIP_DEVPICK_NAMED);
	assert_int_equal(k, 1);
	assert_int_equal(pick(shared, 2, "SEP001122334455", "jdoe", &k), SIP_DEVPICK_NAMED);
	assert_int_equal(k, 1);
	assert_int_equal(pick(shared, 2, "SEP001122334455", "assistant", &k), SIP_DEVPICK_NAMED);
	assert_int_equal(k, 1);
	/* A line on one device, named: picked by name too. */
	assert_int_equal(pick(shared, 1, "CSFJDOE", "jdoe", &k), SIP_DEVPICK_NAMED);
	assert_int_equal(k, 0);
	assert_true(sip_devpick_ok(SIP_DEVPICK_NAMED));
}

static void test_named_refused(void **state)
{
	(void)state;
	int k = 7;
	/* Another user (the desk phone's associated user is not the softphone's). */
	assert_int_equal(pick(shared, 2, "CSFJDOE", "mallory", &k), SIP_DEVPICK_USER_MISMATCH);
	assert_int_equal(k, -1);
	assert_int_equal(pick(shared, 2, "CSFJDOE", "assistant", &k), SIP_DEVPICK_USER_MISMATCH);
	assert_int_equal(pick(shared, 2, "CSFJDOE", "jdoe-sip", &k), SIP_DEVPICK_USER_MISMATCH);
	/* No user, an empty one: never "anyone". */
	assert_int_equal(pick(shared, 2, "CSFJDOE", "", &k), SIP_DEVPICK_USER_MISMATCH);
	assert_int_equal(pick(shared, 2, "CSFJDOE", NULL, &k), SIP_DEVPICK_USER_MISMATCH);
	/* A device without owner or users: nobody may name it. */
	static const struct sip_devpick_dev orphan[] = {{"SEPORPHAN", "", "", NULL, 0}};
	assert_int_equal(pick(orphan, 1, "SEPORPHAN", "jdoe", &k), SIP_DEVPICK_USER_MISMATCH);
	/* A device that does not carry the line (or does not exist), even when the line is on
	 * one device only: the name the endpoint gave is not overridden. */
	assert_int_equal(pick(shared, 2, "CSFOTHER", "jdoe", &k), SIP_DEVPICK_NOT_ON_LINE);
	assert_int_equal(k, -1);
	assert_int_equal(pick(shared, 1, "SEP001122334455", "jdoe", &k), SIP_DEVPICK_NOT_ON_LINE);
	/* Exact names: case matters as stored. */
	assert_int_equal(pick(shared, 2, "csfjdoe", "jdoe", &k), SIP_DEVPICK_NOT_ON_LINE);
	assert_false(sip_devpick_ok(SIP_DEVPICK_NOT_ON_LINE));
	assert_false(sip_devpick_ok(SIP_DEVPICK_USER_MISMATCH));
}

static void test_unnamed(void **state)
{
	(void)state;
	int k = 7;
	/* One device: the fallback, whoever the user is (the authentication checks it). */
	assert_int_equal(pick(shared, 1, NULL, "anyone", &k), SIP_DEVPICK_ONLY);
	assert_int_equal(k, 0);
	assert_int_equal(pick(shared + 1, 1, "", "jdoe-sip", &k), SIP_DEVPICK_ONLY);
	assert_int_equal(k, 0);
	assert_true(sip_devpick_ok(SIP_DEVPICK_ONLY));
	/* Several devices, none named: ambiguous, never a guess (not even for the owner). */
	assert_int_equal(pick(shared, 2, NULL, "jdoe", &k), SIP_DEVPICK_AMBIGUOUS);
	assert_int_equal(k, -1);
	assert_int_equal(pick(shared, 2, "", "jdoe-sip", &k), SIP_DEVPICK_AMBIGUOUS);
	/* No device at all. */
	assert_int_equal(pick(shared, 0, NULL, "jdoe", &k), SIP_DEVPICK_UNKNOWN_LINE);
	assert_int_equal(pick(shared, 0, "CSFJDOE", "jdoe", &k), SIP_DEVPICK_UNKNOWN_LINE);
	assert_int_equal(k, -1);
	assert_false(sip_devpick_ok(SIP_DEVPICK_AMBIGUOUS));
	assert_false(sip_devpick_ok(SIP_DEVPICK_UNKNOWN_LINE));
}

static void test_conflict(void **state)
{
	(void)state;
	int k = 7;
	/* Contacts naming two devices: refused before anything else. */
	struct sip_devpick_in in = {"CSFJDOE", 1, "jdoe", shared, 2};
	assert_int_equal(sip_devpick(&in, &k), SIP_DEVPICK_CONFLICT);
	assert_int_equal(k, -1);
	in.ndevs = 1;
	assert_int_equal(sip_devpick(&in, &k), SIP_DEVPICK_CONFLICT);
	assert_false(sip_devpick_ok(SIP_DEVPICK_CONFLICT));
}

static void test_find_and_names(void **state)
{
	(void)state;
	assert_int_equal(sip_devpick_find(shared, 2, "SEP001122334455"), 1);
	assert_int_equal(sip_devpick_find(shared, 2, "CSFJDOE"), 0);
	assert_int_equal(sip_devpick_find(shared, 2, "X"), -1);
	assert_int_equal(sip_devpick_find(shared, 2, ""), -1);
	assert_int_equal(sip_devpick_find(shared, 2, NULL), -1);
	/* Every outcome has its own trace name. */
	for (int i = 0; i < SIP_DEVPICK_OUTCOMES; i++) {
		assert_string_not_equal(sip_devpick_name((enum sip_devpick_outcome)i), "unknown");
		for (int j = 0; j < i; j++)
			assert_string_not_equal(sip_devpick_name((enum sip_devpick_outcome)i),
			                        sip_devpick_name((enum sip_devpick_outcome)j));
	}
	assert_string_equal(sip_devpick_name(SIP_DEVPICK_AMBIGUOUS), "ambiguous");
	assert_string_equal(sip_devpick_name(SIP_DEVPICK_OUTCOMES), "unknown");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_named),          cmocka_unit_test(test_named_refused),
	    cmocka_unit_test(test_unnamed),        cmocka_unit_test(test_conflict),
	    cmocka_unit_test(test_find_and_names),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
