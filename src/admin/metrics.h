/* SPDX-License-Identifier: ISC */
/*
 * admin/metrics: the page `GET /metrics` serves on the admin listener and `telgate show
 * metrics` prints: every subsystem's counters in the Prometheus text format
 * (core/metrics.h), read through each subsystem's own getter. The list of families and
 * what each means is docs/metrics.md.
 *
 * Threads: a worker thread (it walks the registrations and CTI sessions, which take
 * those modules' locks; never a loop thread). The context is the daemon's admin context.
 */
#ifndef TG_ADMIN_METRICS_H
#define TG_ADMIN_METRICS_H

#include "admin/admin.h"
#include "core/metrics.h"

/* Writes the whole page into o (the caller frees it with metrics_out_free). Returns 0,
 * or -1 when out of memory (o->failed; the page must not be served). */
int admin_metrics_render(struct admin_ctx *a, struct metrics_out *o);

#endif
