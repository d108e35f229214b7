/* SPDX-License-Identifier: ISC */
/*
 * admin_http: the admin HTTP listener (default 127.0.0.1:9464, the port Prometheus
 * exporters commonly take; [admin] http_address / http_port, off when the port is 0). It
 * serves, on the HTTP layer (core/http.h) with that layer's caps, timeouts and access log:
 *   GET /metrics  the Prometheus text exposition (admin/metrics.h), rendered on a worker;
 *                 503 when the worker queue is full;
 *   GET /healthz  200 {"status":"ok",...} when the store and every loop answer, else 503
 *                 {"status":"unavailable","store":"<why>","loops":"<why>"} (admin/health.h).
 * Plain HTTP, loopback by default: the page holds counts, never a secret, but it is an
 * administrative surface and the default keeps it off the network. At most
 * ADMIN_HTTP_MAX_CONNECTIONS connections.
 *
 * Threads: one listener per loop (SO_REUSEPORT), started and stopped with loop_run_all
 * from the main thread. Ownership: the admin context, loops, workers and store are the
 * daemon's and outlive the listener.
 */
#ifndef TG_ADMIN_HTTP_H
#define TG_ADMIN_HTTP_H

#include "admin/admin.h"

#include <stddef.h>

#define ADMIN_HTTP_MAX_CONNECTIONS 64

struct admin_http;
struct loop_group;
struct workers;

/* Starts listening on address:port (the caller checked port != 0). Returns NULL with err
 * set when the port cannot be bound or a thread cannot start. */
struct admin_http *admin_http_start(struct admin_ctx *a, struct loop_group *loops,
                                    struct workers *workers, const char *address, int port,
                                    char *err, size_t errlen);
/* Closes the listeners and their connections, then stops the health thread. NULL is a
 * no-op. Before the worker pool and loops stop. */
void admin_http_stop(struct admin_http *h);

#endif
