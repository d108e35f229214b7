/* SPDX-License-Identifier: ISC */
#include "core/metrics.h"

#include <inttypes.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

const double metrics_latency_bounds[] = {0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05,
                                         0.1,    0.25,  0.5,    1,     2.5,  5};
const size_t metrics_latency_nbounds = sizeof metrics_latency_bounds / sizeof(double);

static void put(struct metrics_out *o, const char *s, size_t n)
{
	if (o->failed)
		return;
	if (o->len + n + 1 > o->cap) {
		size_t cap = o->cap ? o->cap : 4096;
		while (o->len + n + 1 > cap)
			cap *= 2;
		char *b = realloc(o->buf, cap);
		if (!b) {
			o->failed = 1;
			return;
		}
		o->buf = b;
		o->cap = cap;
	}
	memcpy(o->buf + o->len, s, n);
	o->len += n;
	o->buf[o->len] = '\0';
}

static void puts_(struct metrics_out *o, const char *s)
{
	put(o, s, strlen(s));
}

/* Label values: backslash, double quote and line feed are escaped (exposition format
 * 0.0.4); HELP text escapes backslash and line feed only. */
static void put_escaped(struct metrics_out *o, const char *s, int quote)
{
	for (const char *p = s; *p; p++) {
		if (*p == '\\')
			puts_(o, "\\\\");
		else if (*p == '\n')
			puts_(o, "\\n");
		else if (quote && *p == '"')
			puts_(o, "\\\"");
		else
			put(o, p, 1);
	}
}

void metrics_family(struct metrics_out *o, const char *name, enum metrics_type type,
                    const char *help)
{
	static const char *const types[] = {"counter", "gauge", "histogram"};
	puts_(o, "# HELP ");
	puts_(o, name);
	puts_(o, " ");
	put_escaped(o, help, 0);
	puts_(o, "\n# TYPE ");
	puts_(o, name);
	puts_(o, " ");
	puts_(o, types[type]);
	puts_(o, "\n");
}

static void sample_head(struct metrics_out *o, const char *name, va_list ap)
{
	puts_(o, name);
	const char *k = va_arg(ap, const char *);
	if (!k)
		return;
	puts_(o, "{");
	for (int first = 1; k; k = va_arg(ap, const char *), first = 0) {
		const char *v = va_arg(ap, const char *);
		if (!first)
			puts_(o, ",");
		puts_(o, k);
		puts_(o, "=\"");
		put_escaped(o, v ? v : "", 1);
		puts_(o, "\"");
	}
	puts_(o, "}");
}

/* The sample line: the name, the labels from ap, the number already formatted. */
static void sample(struct metrics_out *o, const char *name, va_list ap, const char *num)
{
	sample_head(o, name, ap);
	puts_(o, " ");
	puts_(o, num);
	puts_(o, "\n");
}

void metrics_sample_u(struct metrics_out *o, const char *name, uint64_t v, ...)
{
	char num[32];
	snprintf(num, sizeof num, "%" PRIu64, v);
	va_list ap;
	va_start(ap, v);
	sample(o, name, ap, num);
	va_end(ap);
}

void metrics_sample_i(struct metrics_out *o, const char *name, int64_t v, ...)
{
	char num[32];
	snprintf(num, sizeof num, "%" PRId64, v);
	va_list ap;
	va_start(ap, v);
	sample(o, name, ap, num);
	va_end(ap);
}

void metrics_sample_d(struct metrics_out *o, const char *name, double v, ...)
{
	char num[40];
	if (isnan(v))
		snprintf(num, sizeof num, "NaN");
	else if (isinf(v))
		snprintf(num, sizeof num, "%s", v > 0 ? "+Inf" : "-Inf");
	else if (snprintf(num, sizeof num, "%.15g", v) > 0 && strtod(num, NULL) != v)
		snprintf(num, sizeof num, "%.17g", v); /* the shorter form did not read back as v */
	va_list ap;
	va_start(ap, v);
	sample(o, name, ap, num);
	va_end(ap);
}

void metrics_out_free(struct metrics_out *o)
{
	free(o->buf);
	memset(o, 0, sizeof *o);
}

int metrics_histogram_init(struct metrics_histogram *h, const double *bounds, size_t nbounds)
{
	if (nbounds == 0 || nbounds > METRICS_BUCKETS_MAX)
		return -1;
	memset(h, 0, sizeof *h);
	h->bounds = bounds;
	h->nbounds = nbounds;
	return 0;
}

void metrics_histogram_observe_ns(struct metrics_histogram *h, uint64_t ns)
{
	double s = (double)ns / 1e9;
	size_t i = 0;
	while (i < h->nbounds && s > h->bounds[i])
		i++;
	atomic_fetch_add_explicit(&h->counts[i], 1, memory_order_relaxed);
	atomic_fetch_add_explicit(&h->sum_ns, ns, memory_order_relaxed);
	atomic_fetch_add_explicit(&h->count, 1, memory_order_relaxed);
}

void metrics_histogram_write(struct metrics_out *o, const char *name, const char *help,
                             const struct metrics_histogram *h)
{
	metrics_family(o, name, METRICS_HISTOGRAM, help);
	size_t n = strlen(name);
	char bucket[128], sum[128], count[128];
	if (n + sizeof "_bucket" > sizeof bucket) {
		o->failed = 1;
		return;
	}
	snprintf(bucket, sizeof bucket, "%s_bucket", name);
	snprintf(sum, sizeof sum, "%s_sum", name);
	snprintf(count, sizeof count, "%s_count", name);
	/* Read the buckets first and derive the count from them, so the +Inf bucket always
	 * equals _count in one page (Prometheus requires it) whatever observers do meanwhile. */
	uint64_t cum = 0;
	for (size_t i = 0; i <= h->nbounds; i++) {
		cum += atomic_load_explicit(&h->counts[i], memory_order_relaxed);
		char le[40];
		if (i == h->nbounds)
			snprintf(le, sizeof le, "+Inf");
		else
			snprintf(le, sizeof le, "%g", h->bounds[i]);
		metrics_sample_u(o, bucket, cum, "le", le, (char *)NULL);
	}
	uint64_t ns = atomic_load_explicit(&h->sum_ns, memory_order_relaxed);
	metrics_sample_d(o, sum, (double)ns / 1e9, (char *)NULL);
	metrics_sample_u(o, count, cum, (char *)NULL);
}

uint64_t metrics_now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}
