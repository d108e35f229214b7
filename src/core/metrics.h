/* SPDX-License-Identifier: ISC */
/*
 * metrics: the Prometheus text exposition format (version 0.0.4, the format every
 * Prometheus-compatible scraper reads) and a latency histogram type.
 *
 * Pull model, as Prometheus client libraries' "collectors": the subsystems keep their own
 * counters (relaxed atomics, no lock, no registry on the hot path) and expose a getter;
 * a render walks the collectors (admin/metrics.c) and writes every family with the
 * functions below. Nothing is kept between renders, so a subsystem that stops simply
 * stops being written.
 *
 * Names follow the Prometheus conventions: a `telgate_` prefix, snake_case, `_total` on
 * counters, base units in the name (`_seconds`, `_bytes`). Label values are escaped here
 * (backslash, double quote, line feed), so any string may be passed.
 *
 * Threads: a struct metrics_out belongs to the thread writing it. A histogram may be
 * observed from any number of threads at once and read from any thread (atomics; a
 * reader may see an observation's bucket before its sum: harmless for a scrape).
 *
 * Ownership: the caller owns the struct metrics_out and frees its buffer with
 * metrics_out_free (or takes it: buf is malloc'ed).
 */
#ifndef TG_METRICS_H
#define TG_METRICS_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

enum metrics_type { METRICS_COUNTER = 0, METRICS_GAUGE, METRICS_HISTOGRAM };

/* A growing text buffer. After an allocation failure every write is dropped and failed
 * is set: the render reports it instead of serving half a page. */
struct metrics_out {
	char *buf; /* NUL-terminated */
	size_t len, cap;
	int failed;
};

/* The HELP and TYPE lines of a family; its samples follow. name is a metric name
 * ([a-zA-Z_:][a-zA-Z0-9_:]*, not checked: callers pass literals). help is one line. */
void metrics_family(struct metrics_out *o, const char *name, enum metrics_type type,
                    const char *help);

/* One sample line of the family last begun: "name{k="v",...} value". The variadic part
 * is label name, label value string pairs, ended by NULL (no labels: just NULL). */
void metrics_sample_u(struct metrics_out *o, const char *name, uint64_t v, ...)
    __attribute__((sentinel));
void metrics_sample_i(struct metrics_out *o, const char *name, int64_t v, ...)
    __attribute__((sentinel));
/* A double, written so that it reads back exactly (the shorter of %.15g and %.17g that
 * does; +Inf, -Inf, NaN as Prometheus spells them). */
void metrics_sample_d(struct metrics_out *o, const char *name, double v, ...)
    __attribute__((sentinel));

void metrics_out_free(struct metrics_out *o);

/* --- histograms ------------------------------------------------------------------------ */

#define METRICS_BUCKETS_MAX 16

/* A latency histogram: counts of observations at or below each upper bound (seconds),
 * their sum and count. Prometheus buckets are cumulative; they are stored per bucket
 * here and summed when written. */
struct metrics_histogram {
	const double *bounds; /* upper bounds in seconds, increasing; the +Inf bucket is implied */
	size_t nbounds;       /* at most METRICS_BUCKETS_MAX */
	_Atomic uint64_t counts[METRICS_BUCKETS_MAX + 1]; /* [nbounds]: above the last bound */
	_Atomic uint64_t sum_ns;                          /* nanoseconds */
	_Atomic uint64_t count;
};

/* Bounds for store transactions and other millisecond-scale work: 0.5 ms .. 5 s. */
extern const double metrics_latency_bounds[];
extern const size_t metrics_latency_nbounds;

/* Sets up h with bounds (not copied: static storage); counts start at zero. Returns 0,
 * or -1 when nbounds is 0 or above METRICS_BUCKETS_MAX. */
int metrics_histogram_init(struct metrics_histogram *h, const double *bounds, size_t nbounds);
/* Counts one observation of ns nanoseconds. Lock-free; any thread. */
void metrics_histogram_observe_ns(struct metrics_histogram *h, uint64_t ns);
/* Writes the family (HELP, TYPE histogram, the _bucket{le=...} lines, _sum in seconds and
 * _count) for a histogram without labels. */
void metrics_histogram_write(struct metrics_out *o, const char *name, const char *help,
                             const struct metrics_histogram *h);

/* A monotonic clock in nanoseconds, for durations to observe. */
uint64_t metrics_now_ns(void);

#endif
