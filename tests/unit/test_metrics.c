/* SPDX-License-Identifier: ISC */
/* core/metrics: the Prometheus text exposition (escaping, numbers, histograms) and the
 * counters behind it (alarm counts, the stream listeners' list). */
#include "core/alarm.h"
#include "core/metrics.h"
#include "core/stream.h"

#include <math.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

static void test_family_and_escaping(void **state)
{
	(void)state;
	struct metrics_out o = {0};
	metrics_family(&o, "telgate_x_total", METRICS_COUNTER, "Help with \\ and\na line feed.");
	metrics_sample_u(&o, "telgate_x_total", 42, "listener", "a\"b\\c\nd", "k", "v",
	                 (char *)NULL);
	metrics_sample_u(&o, "telgate_x_total", 7, (char *)NULL);
	assert_false(o.failed);
	assert_string_equal(o.buf, "# HELP telgate_x_total Help with \\\\ and\\na line feed.\n"
	                           "# TYPE telgate_x_total counter\n"
	                           "telgate_x_total{listener=\"a\\\"b\\\\c\\nd\",k=\"v\"} 42\n"
	                           "telgate_x_total 7\n");
	metrics_out_free(&o);
	assert_null(o.buf);
}

static void test_numbers(void **state)
{
	(void)state;
	struct metrics_out o = {0};
	metrics_sample_i(&o, "a", -5, (char *)NULL);
	metrics_sample_d(&o, "b", 0.1, (char *)NULL);
	metrics_sample_d(&o, "c", INFINITY, (char *)NULL);
	metrics_sample_d(&o, "d", -INFINITY, (char *)NULL);
	metrics_sample_d(&o, "e", NAN, (char *)NULL);
	metrics_sample_u(&o, "f", UINT64_MAX, (char *)NULL);
	metrics_sample_d(&o, "g", 1.0 / 3.0, (char *)NULL);
	assert_string_equal(o.buf, "a -5\nb 0.1\nc +Inf\nd -Inf\ne NaN\nf 18446744073709551615\n"
	                           "g 0.33333333333333331\n");
	/* Every double reads back as itself. */
	assert_true(strtod(strstr(o.buf, "g ") + 2, NULL) == 1.0 / 3.0);
	metrics_out_free(&o);
}

static void test_histogram(void **state)
{
	(void)state;
	static const double bounds[] = {0.001, 0.01, 0.1};
	struct metrics_histogram h;
	assert_int_equal(metrics_histogram_init(&h, bounds, 0), -1);
	assert_int_equal(metrics_histogram_init(&h, bounds, METRICS_BUCKETS_MAX + 1), -1);
	assert_int_equal(metrics_histogram_init(&h, bounds, 3), 0);
	metrics_histogram_observe_ns(&h, 500000);     /* 0.5 ms */
	metrics_histogram_observe_ns(&h, 1000000);    /* 1 ms: on the bound, le="0.001" */
	metrics_histogram_observe_ns(&h, 50000000);   /* 50 ms */
	metrics_histogram_observe_ns(&h, 2000000000); /* 2 s: only +Inf */
	struct metrics_out o = {0};
	metrics_histogram_write(&o, "t_seconds", "T.", &h);
	assert_string_equal(o.buf, "# HELP t_seconds T.\n# TYPE t_seconds histogram\n"
	                           "t_seconds_bucket{le=\"0.001\"} 2\n"
	                           "t_seconds_bucket{le=\"0.01\"} 2\n"
	                           "t_seconds_bucket{le=\"0.1\"} 3\n"
	                           "t_seconds_bucket{le=\"+Inf\"} 4\n"
	                           "t_seconds_sum 2.0515\n"
	                           "t_seconds_count 4\n");
	metrics_out_free(&o);
}

#define THREADS 4
#define PER_THREAD 100000

static void *observe_many(void *arg)
{
	for (int i = 0; i < PER_THREAD; i++)
		metrics_histogram_observe_ns(arg, (uint64_t)(i % 3) * 1000000u);
	return NULL;
}

static void test_histogram_threads(void **state)
{
	(void)state;
	struct metrics_histogram h;
	metrics_histogram_init(&h, metrics_latency_bounds, metrics_latency_nbounds);
	pthread_t t[THREADS];
	for (int i = 0; i < THREADS; i++)
		pthread_create(&t[i], NULL, observe_many, &h);
	for (int i = 0; i < THREADS; i++)
		pthread_join(t[i], NULL);
	assert_int_equal(atomic_load(&h.count), THREADS * PER_THREAD);
	uint64_t sum = 0;
	for (size_t i = 0; i <= h.nbounds; i++)
		sum += atomic_load(&h.counts[i]);
	assert_int_equal(sum, THREADS * PER_THREAD);
}

static void test_alarm_counts(void **state)
{
	(void)state;
	struct alarm_count c[ALARM_COUNTS_MAX];
	size_t n0 = alarm_counts(c, ALARM_COUNTS_MAX);
	alarm_raise("MetricsTestAlarm", ALARM_NOTICE, "cid", "k", "v", (char *)NULL);
	alarm_raise("MetricsTestAlarm", ALARM_NOTICE, "cid", (char *)NULL);
	alarm_raise("MetricsTestAlarm", ALARM_ERROR, "cid", (char *)NULL);
	size_t n = alarm_counts(c, ALARM_COUNTS_MAX);
	assert_int_equal(n, n0 + 2);
	assert_string_equal(c[n0].name, "MetricsTestAlarm");
	assert_int_equal(c[n0].severity, ALARM_NOTICE);
	assert_int_equal(c[n0].raised, 2);
	assert_int_equal(c[n0 + 1].severity, ALARM_ERROR);
	assert_int_equal(c[n0 + 1].raised, 1);
	/* Past ALARM_COUNTS_MAX names, the last row counts the rest as "other". */
	char name[32];
	for (int i = 0; i < ALARM_COUNTS_MAX + 5; i++) {
		snprintf(name, sizeof name, "Many%d", i);
		alarm_raise(name, ALARM_NOTICE, "cid", (char *)NULL);
	}
	n = alarm_counts(c, ALARM_COUNTS_MAX);
	assert_int_equal(n, ALARM_COUNTS_MAX);
	assert_string_equal(c[ALARM_COUNTS_MAX - 1].name, "other");
}

static void count_listed(void *arg, const char *listener, const struct stream_stats *st)
{
	(void)st;
	if (strcmp(listener, "test-listener") == 0)
		(*(int *)arg)++;
}

static void test_stream_stats_list(void **state)
{
	(void)state;
	struct stream_stats a = {0};
	int seen = 0;
	stream_stats_attach("test-listener", &a);
	stream_stats_attach("test-listener", &a); /* a second loop's listener: listed once */
	stream_stats_foreach(count_listed, &seen);
	assert_int_equal(seen, 1);
	stream_stats_detach(&a);
	seen = 0;
	stream_stats_foreach(count_listed, &seen);
	assert_int_equal(seen, 1); /* one listener is left */
	stream_stats_detach(&a);
	seen = 0;
	stream_stats_foreach(count_listed, &seen);
	assert_int_equal(seen, 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_family_and_escaping), cmocka_unit_test(test_numbers),
	    cmocka_unit_test(test_histogram),           cmocka_unit_test(test_histogram_threads),
	    cmocka_unit_test(test_alarm_counts),        cmocka_unit_test(test_stream_stats_list),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
