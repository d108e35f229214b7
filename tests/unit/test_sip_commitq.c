/* SPDX-License-Identifier: ISC */
/* The pure parts of "200 only once durable": ticket states, the writer's gathering and
 * the bounded FIFO of held answers (sip/commitq.h). */
#include "sip/commitq.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

static enum sip_commit_state at(const struct sip_loc_ticket *t, uint64_t written,
                                uint64_t lost_from, uint64_t lost_upto)
{
	struct sip_commit_point p = {written, lost_from, lost_upto};
	return sip_commit_state(t, &p);
}

static void test_state(void **state)
{
	(void)state;
	struct sip_loc_ticket none = {0, 0}, t = {5, 7};
	/* nothing to wait for: durable at once, whatever was lost */
	assert_int_equal(at(&none, 0, 0, 0), SIP_COMMIT_DURABLE);
	assert_int_equal(at(&none, 0, 0, 100), SIP_COMMIT_DURABLE);
	assert_int_equal(at(&t, 0, 0, 0), SIP_COMMIT_PENDING);
	assert_int_equal(at(&t, 6, 0, 0), SIP_COMMIT_PENDING); /* partly written */
	assert_int_equal(at(&t, 7, 0, 0), SIP_COMMIT_DURABLE);
	assert_int_equal(at(&t, 70, 0, 4), SIP_COMMIT_DURABLE); /* a loss before it */
	/* its changes dropped: lost, even when later numbers were written since */
	assert_int_equal(at(&t, 70, 4, 5), SIP_COMMIT_LOST); /* the first */
	assert_int_equal(at(&t, 70, 6, 9), SIP_COMMIT_LOST); /* the last */
	assert_int_equal(at(&t, 3, 2, 6), SIP_COMMIT_LOST);  /* before anything was written */
	/* a range dropped after it was committed does not take it back */
	assert_int_equal(at(&t, 90, 7, 40), SIP_COMMIT_DURABLE);
	assert_int_equal(at(&t, 90, 8, 40), SIP_COMMIT_DURABLE);
}

static void test_gather(void **state)
{
	(void)state;
	assert_int_equal(sip_commit_gather_ms(10, 0, 2, 50, 512), 50); /* write-behind */
	assert_int_equal(sip_commit_gather_ms(10, 1, 2, 50, 512), 2);  /* someone waits */
	assert_int_equal(sip_commit_gather_ms(10, 1, 0, 50, 512), 0);  /* commit when idle */
	assert_int_equal(sip_commit_gather_ms(512, 0, 2, 50, 512), 0); /* a full batch */
	assert_int_equal(sip_commit_gather_ms(900, 1, 5, 50, 512), 0);
}

static void test_fifo(void **state)
{
	(void)state;
	struct sip_commitq q;
	sip_commitq_init(&q, 3);
	struct sip_commitq_node n[4] = {
	    {.t = {1, 1}, .deadline_us = 100},
	    {.t = {2, 3}, .deadline_us = 110},
	    {.t = {4, 4}, .deadline_us = 120},
	    {.t = {5, 5}, .deadline_us = 130},
	};
	enum sip_commit_state st = SIP_COMMIT_PENDING;
	struct sip_commit_point none = {0, 0, 0}, w2 = {2, 0, 0}, lost4 = {0, 3, 4}, w5 = {5, 3, 4},
	                        w10 = {10, 0, 0};
	assert_int_equal(sip_commitq_next_deadline(&q), -1);
	assert_null(sip_commitq_pop_ready(&q, &w10, 0, &st));
	for (int i = 0; i < 3; i++)
		assert_int_equal(sip_commitq_push(&q, &n[i]), 0);
	assert_int_equal(sip_commitq_push(&q, &n[3]), -1); /* bounded */
	assert_int_equal(q.n, 3);
	assert_int_equal(sip_commitq_next_deadline(&q), 100);
	/* nothing committed, no deadline passed: everyone waits */
	assert_null(sip_commitq_pop_ready(&q, &none, 50, &st));
	/* the head committed: it goes; the next is half written and waits */
	assert_ptr_equal(sip_commitq_pop_ready(&q, &w2, 50, &st), &n[0]);
	assert_int_equal(st, SIP_COMMIT_DURABLE);
	assert_null(sip_commitq_pop_ready(&q, &w2, 50, &st));
	/* past its deadline: expired (a 500) */
	assert_ptr_equal(sip_commitq_pop_ready(&q, &w2, 110, &st), &n[1]);
	assert_int_equal(st, SIP_COMMIT_EXPIRED);
	/* room again */
	assert_int_equal(sip_commitq_push(&q, &n[3]), 0);
	/* dropped from the store's queue: lost, before its deadline */
	assert_ptr_equal(sip_commitq_pop_ready(&q, &lost4, 0, &st), &n[2]);
	assert_int_equal(st, SIP_COMMIT_LOST);
	/* committed wins over a passed deadline */
	assert_ptr_equal(sip_commitq_pop_ready(&q, &w5, 1000, &st), &n[3]);
	assert_int_equal(st, SIP_COMMIT_DURABLE);
	assert_int_equal(q.n, 0);
	assert_null(sip_commitq_pop(&q));
	/* FIFO after emptying: the tail was reset */
	assert_int_equal(sip_commitq_push(&q, &n[1]), 0);
	assert_int_equal(sip_commitq_push(&q, &n[0]), 0);
	assert_ptr_equal(sip_commitq_pop(&q), &n[1]);
	assert_ptr_equal(sip_commitq_pop(&q), &n[0]);
	assert_null(sip_commitq_pop(&q));
}

/* The head decides: a later node whose change is written waits behind it (arrival order). */
static void test_head_first(void **state)
{
	(void)state;
	struct sip_commitq q;
	sip_commitq_init(&q, 8);
	struct sip_commitq_node a = {.t = {9, 9}, .deadline_us = 100},
	                        b = {.t = {3, 3}, .deadline_us = 101};
	sip_commitq_push(&q, &a);
	sip_commitq_push(&q, &b);
	enum sip_commit_state st;
	struct sip_commit_point w5 = {5, 0, 0}, w9 = {9, 0, 0};
	assert_null(sip_commitq_pop_ready(&q, &w5, 0, &st));
	assert_ptr_equal(sip_commitq_pop_ready(&q, &w9, 0, &st), &a);
	assert_ptr_equal(sip_commitq_pop_ready(&q, &w9, 0, &st), &b);
}

/* Admission: behind once the oldest held answer has used half its wait (2,000 us here). */
static void test_behind(void **state)
{
	(void)state;
	struct sip_commitq q;
	sip_commitq_init(&q, 8);
	assert_int_equal(sip_commitq_behind(&q, 5000, 2000), 0); /* nothing held */
	struct sip_commitq_node a = {.t = {1, 1}, .deadline_us = 3000},
	                        b = {.t = {2, 2}, .deadline_us = 3900};
	sip_commitq_push(&q, &a); /* pushed at 1,000 */
	sip_commitq_push(&q, &b);
	assert_int_equal(sip_commitq_behind(&q, 1000, 2000), 0);
	assert_int_equal(sip_commitq_behind(&q, 1999, 2000), 0);
	assert_int_equal(sip_commitq_behind(&q, 2000, 2000), 1); /* half of it waited */
	assert_int_equal(sip_commitq_behind(&q, 9000, 2000), 1);
	assert_ptr_equal(sip_commitq_pop(&q), &a); /* the head decides */
	assert_int_equal(sip_commitq_behind(&q, 2000, 2000), 0);
	assert_int_equal(sip_commitq_behind(&q, 2900, 2000), 1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_state),  cmocka_unit_test(test_gather),
	    cmocka_unit_test(test_fifo),   cmocka_unit_test(test_head_first),
	    cmocka_unit_test(test_behind),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
