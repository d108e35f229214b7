/* SPDX-License-Identifier: ISC */
/* core/devstate: the device-state bus — changes only, retained state, order per device,
 * unsubscribe, bad names, publishers on several threads. */
#include "core/devstate.h"

#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

struct seen {
	pthread_mutex_t mu;
	int n;
	char last[DEVSTATE_NAME_MAX + 1];
	int last_in;
	int ins, outs;
};

static void on_change(void *arg, const char *device, int in_service)
{
	struct seen *s = arg;
	pthread_mutex_lock(&s->mu);
	s->n++;
	snprintf(s->last, sizeof s->last, "%s", device);
	s->last_in = in_service;
	if (in_service)
		s->ins++;
	else
		s->outs++;
	pthread_mutex_unlock(&s->mu);
}

static void test_changes_only(void **state)
{
	(void)state;
	struct devstate *b = devstate_new();
	assert_non_null(b);
	struct seen a = {.mu = PTHREAD_MUTEX_INITIALIZER}, c = {.mu = PTHREAD_MUTEX_INITIALIZER};
	assert_int_equal(devstate_subscribe(b, on_change, &a), 0);
	assert_int_equal(devstate_subscribe(b, on_change, &c), 0);
	assert_int_equal(devstate_get(b, "SEP001"), 0);
	assert_int_equal(devstate_publish(b, "SEP001", 1), 1);
	assert_int_equal(devstate_publish(b, "SEP001", 7), 0); /* already in service */
	assert_int_equal(devstate_get(b, "SEP001"), 1);
	assert_int_equal(a.n, 1);
	assert_int_equal(c.n, 1);
	assert_string_equal(a.last, "SEP001");
	assert_int_equal(a.last_in, 1);
	assert_int_equal(devstate_publish(b, "SEP002", 0), 0); /* unknown: out already */
	assert_int_equal(devstate_in_service(b), 1);
	assert_int_equal(devstate_publish(b, "SEP001", 0), 1);
	assert_int_equal(devstate_get(b, "SEP001"), 0);
	assert_int_equal(a.n, 2);
	assert_int_equal(a.last_in, 0);
	assert_int_equal(devstate_changes(b), 2);
	assert_int_equal(devstate_in_service(b), 0);
	/* After unsubscribe nothing more arrives. */
	devstate_unsubscribe(b, on_change, &a);
	assert_int_equal(devstate_publish(b, "SEP003", 1), 1);
	assert_int_equal(a.n, 2);
	assert_int_equal(c.n, 3);
	devstate_unsubscribe(b, on_change, &c);
	devstate_free(b);
}

static void test_bad_names_and_full(void **state)
{
	(void)state;
	struct devstate *b = devstate_new();
	char longname[DEVSTATE_NAME_MAX + 2];
	memset(longname, 'A', sizeof longname - 1);
	longname[sizeof longname - 1] = '\0';
	assert_int_equal(devstate_publish(b, "", 1), -1);
	assert_int_equal(devstate_publish(b, longname, 1), -1);
	longname[DEVSTATE_NAME_MAX] = '\0'; /* exactly the maximum */
	assert_int_equal(devstate_publish(b, longname, 1), 1);
	assert_int_equal(devstate_get(b, longname), 1);
	struct seen s = {.mu = PTHREAD_MUTEX_INITIALIZER};
	for (int i = 0; i < DEVSTATE_SUBSCRIBERS; i++)
		assert_int_equal(devstate_subscribe(b, on_change, &s), 0);
	assert_int_equal(devstate_subscribe(b, on_change, &s), -1);
	for (int i = 0; i < DEVSTATE_SUBSCRIBERS; i++)
		devstate_unsubscribe(b, on_change, &s);
	devstate_free(b); /* frees the device still in service */
}

#define THREADS 4
#define DEVICES 500
#define ROUNDS 20

struct worker_arg {
	struct devstate *b;
	int t;
};

static void *flap(void *p)
{
	struct worker_arg *w = p;
	char name[32];
	for (int r = 0; r < ROUNDS; r++)
		for (int d = 0; d < DEVICES; d++) {
			snprintf(name, sizeof name, "T%dDEV%d", w->t, d);
			devstate_publish(w->b, name, r % 2 == 0);
		}
	return NULL;
}

/* Publishers on several threads: every change is delivered once and the retained state
 * is the last one published. */
static void test_threads(void **state)
{
	(void)state;
	struct devstate *b = devstate_new();
	struct seen s = {.mu = PTHREAD_MUTEX_INITIALIZER};
	devstate_subscribe(b, on_change, &s);
	pthread_t t[THREADS];
	struct worker_arg a[THREADS];
	for (int i = 0; i < THREADS; i++) {
		a[i] = (struct worker_arg){b, i};
		pthread_create(&t[i], NULL, flap, &a[i]);
	}
	for (int i = 0; i < THREADS; i++)
		pthread_join(t[i], NULL);
	assert_int_equal(s.n, THREADS * DEVICES * ROUNDS);
	assert_int_equal(s.ins, s.outs); /* ROUNDS is even: every device ends out of service */
	assert_int_equal(devstate_changes(b), (uint64_t)s.n);
	assert_int_equal(devstate_in_service(b), 0);
	devstate_unsubscribe(b, on_change, &s);
	devstate_free(b);
}

struct names_seen {
	int n;
	char v[4][16];
};

static void seen_name(void *ud, const char *device)
{
	struct names_seen *x = ud;
	if (x->n < 4)
		snprintf(x->v[x->n], sizeof x->v[0], "%s", device);
	x->n++;
}

/* devstate_each: the devices in service now (a cluster's resync walks them). */
static void test_each(void **state)
{
	(void)state;
	struct devstate *b = devstate_new();
	assert_non_null(b);
	assert_int_equal(devstate_publish(b, "SEPA", 1), 1);
	assert_int_equal(devstate_publish(b, "SEPB", 1), 1);
	assert_int_equal(devstate_publish(b, "SEPA", 0), 1);
	struct names_seen x = {0};
	assert_int_equal(devstate_each(b, seen_name, &x), 0);
	assert_int_equal(x.n, 1);
	assert_string_equal(x.v[0], "SEPB");
	devstate_free(b);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_changes_only),
	    cmocka_unit_test(test_each),
	    cmocka_unit_test(test_bad_names_and_full),
	    cmocka_unit_test(test_threads),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
