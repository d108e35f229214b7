/* SPDX-License-Identifier: ISC */
/* The keyed failure counters (core/ratelimit.h): the limit within a window, the window's
 * restart, keys apart, max 0, the once-a-window gate, and a slot taken over by another
 * key. */
#include "core/ratelimit.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <cmocka.h>

static void test_limit_and_window(void **state)
{
	(void)state;
	struct tg_ratelimit *rl = tg_ratelimit_new(64, 60, 3);
	assert_non_null(rl);
	int64_t t = 1000;
	assert_int_equal(tg_ratelimit_check(rl, "192.0.2.1", t, 0), 0); /* a look counts nothing */
	assert_int_equal(tg_ratelimit_check(rl, "192.0.2.1", t, 1), 0);
	assert_int_equal(tg_ratelimit_check(rl, "192.0.2.1", t + 1, 1), 0);
	assert_int_equal(tg_ratelimit_check(rl, "192.0.2.1", t + 2, 1), 1); /* the third */
	assert_int_equal(tg_ratelimit_check(rl, "192.0.2.1", t + 59, 0), 1);
	/* another key is not affected */
	assert_int_equal(tg_ratelimit_check(rl, "192.0.2.2", t + 3, 0), 0);
	/* the window (from the first check) is over: the count restarts */
	assert_int_equal(tg_ratelimit_check(rl, "192.0.2.1", t + 60, 0), 0);
	assert_int_equal(tg_ratelimit_check(rl, "192.0.2.1", t + 61, 1), 0);
	tg_ratelimit_free(rl);
}

static void test_no_limit(void **state)
{
	(void)state;
	struct tg_ratelimit *rl = tg_ratelimit_new(8, 60, 0);
	assert_non_null(rl);
	for (int i = 0; i < 100; i++)
		assert_int_equal(tg_ratelimit_check(rl, "k", 5, 1), 0);
	/* the gate works without a limit */
	assert_int_equal(tg_ratelimit_due(rl, "k", 5), 1);
	tg_ratelimit_free(rl);
	assert_null(tg_ratelimit_new(0, 60, 1));
	assert_null(tg_ratelimit_new(8, 0, 1));
	tg_ratelimit_free(NULL);
}

static void test_due(void **state)
{
	(void)state;
	/* The slots' hash key is random, so "a" and "b" share one of the 64 slots once in 64
	 * runs (then "b" takes it over, as test_slot_taken_over shows): a limiter where they
	 * do not is made first, seen from "a" still being remembered after "b". */
	struct tg_ratelimit *rl = NULL;
	for (int tries = 0; tries < 64; tries++) {
		rl = tg_ratelimit_new(64, 60, 5);
		assert_non_null(rl);
		assert_int_equal(tg_ratelimit_due(rl, "a", 0), 1); /* the first, even at time 0 */
		assert_int_equal(tg_ratelimit_due(rl, "b", 0), 1); /* another key: its own first */
		if (tg_ratelimit_due(rl, "a", 0) == 0)
			break;
		tg_ratelimit_free(rl);
		rl = NULL;
	}
	assert_non_null(rl);
	assert_int_equal(tg_ratelimit_due(rl, "a", 30), 0);
	assert_int_equal(tg_ratelimit_due(rl, "b", 30), 0);
	assert_int_equal(tg_ratelimit_due(rl, "a", 59), 0);
	assert_int_equal(tg_ratelimit_due(rl, "a", 60), 1);
	assert_int_equal(tg_ratelimit_due(rl, "a", 61), 0);
	tg_ratelimit_free(rl);
}

/* One slot: each new key takes it over with fresh counts (the newest wins). */
static void test_slot_taken_over(void **state)
{
	(void)state;
	struct tg_ratelimit *rl = tg_ratelimit_new(1, 60, 2);
	assert_int_equal(tg_ratelimit_check(rl, "a", 10, 1), 0);
	assert_int_equal(tg_ratelimit_check(rl, "a", 10, 1), 1);
	assert_int_equal(tg_ratelimit_check(rl, "b", 11, 1), 0);
	assert_int_equal(tg_ratelimit_check(rl, "a", 12, 0), 0); /* its count went with the slot */
	/* many keys in few slots: counts stay per key while each keeps its slot */
	/* 65536 slots: more than ten keys sharing slots (the limit below) would happen in
	 * about one run of 1e10; with 4096 it did in one of 1,500. */
	struct tg_ratelimit *big = tg_ratelimit_new(65536, 60, 2);
	char k[32];
	for (int i = 0; i < 100; i++) {
		snprintf(k, sizeof k, "10.0.0.%d", i);
		assert_int_equal(tg_ratelimit_check(big, k, 1, 1), 0);
	}
	int over = 0;
	for (int i = 0; i < 100; i++) {
		snprintf(k, sizeof k, "10.0.0.%d", i);
		over += tg_ratelimit_check(big, k, 2, 1);
	}
	assert_true(over >= 90); /* a few may have shared a slot (random hash key) */
	tg_ratelimit_free(big);
	tg_ratelimit_free(rl);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_limit_and_window),
	    cmocka_unit_test(test_no_limit),
	    cmocka_unit_test(test_due),
	    cmocka_unit_test(test_slot_taken_over),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
