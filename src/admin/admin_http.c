/* SPDX-License-Identifier: ISC */
#include "admin/admin_http.h"

#include "admin/health.h"
#include "admin/metrics.h"
#include "core/conncap.h"
#include "core/http.h"
#include "core/log.h"
#include "core/loop.h"
#include "core/ports.h"
#include "core/worker.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

struct admin_http {
	struct admin_ctx *admin;
	struct loop_group *loops;
	struct workers *workers;
	struct health *health;
	struct http_server *srv;
	struct conncap *caps;
	struct stream_stats stats;
	struct http_stats http_stats;
	struct http_route routes[2]; /* the routes carry h as their argument */
	struct http_listeners *lis;
};

/* --- /metrics: rendered on a worker, answered on the request's loop --------------------- */

struct render_job {
	struct admin_http *h;
	struct http_request *req;
	struct metrics_out out;
	int rc;
};

static void render_run(void *arg)
{
	struct render_job *j = arg;
	j->rc = admin_metrics_render(j->h->admin, &j->out);
}

static void render_done(void *arg)
{
	struct render_job *j = arg;
	if (j->rc == 0)
		http_reply(j->req, 200, "text/plain; version=0.0.4; charset=utf-8", j->out.buf,
		           j->out.len);
	else
		http_reply_status(j->req, 500);
	metrics_out_free(&j->out);
	free(j);
}

static void on_metrics(struct http_request *req, void *arg)
{
	struct admin_http *h = arg;
	struct render_job *j = calloc(1, sizeof *j);
	if (!j) {
		http_reply_status(req, 503);
		return;
	}
	j->h = h;
	j->req = req;
	struct stream *s = http_stream(req);
	http_hold(req);
	if (workers_submit(h->workers, render_run, render_done, j, stream_loop(s)) != 0) {
		free(j);
		http_add_header(req, "Retry-After", "1");
		http_reply_status(req, 503);
	}
}

/* --- /healthz --------------------------------------------------------------------------- */

static void health_done(void *arg, const struct health_result *r)
{
	struct http_request *req = arg;
	json_t *body =
	    json_pack("{s:s,s:s,s:s,s:I}", "status", r->ok ? "ok" : "unavailable", "store",
	              r->store, "loops", r->loops, "check_ms", (json_int_t)r->check_ms);
	if (!r->ok)
		log_ev(LOG_LVL_WARNING, http_cid(req), "health_unavailable",
		       LOG_S("store", r->store), LOG_S("loops", r->loops));
	if (body)
		http_reply_json(req, r->ok ? 200 : 503, body);
	else
		http_reply_status(req, 500);
	json_decref(body);
}

static void on_healthz(struct http_request *req, void *arg)
{
	struct admin_http *h = arg;
	http_add_header(req, "Cache-Control", "no-store");
	http_hold(req);
	if (health_check(h->health, stream_loop(http_stream(req)), health_done, req) != 0)
		http_reply_status(req, 503);
}

/* --- start and stop --------------------------------------------------------------------- */

static void admin_http_free(struct admin_http *h)
{
	http_listeners_free(h->lis);
	health_stop(h->health);
	http_server_free(h->srv);
	conncap_free(h->caps);
	free(h);
}

struct admin_http *admin_http_start(struct admin_ctx *a, struct loop_group *loops,
                                    struct workers *workers, const char *address, int port,
                                    char *err, size_t errlen)
{
	struct admin_http *h = calloc(1, sizeof *h);
	if (!h) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	h->admin = a;
	h->loops = loops;
	h->workers = workers;
	h->routes[0] = (struct http_route){"GET", "/metrics", HTTP_EXACT, on_metrics, h};
	h->routes[1] = (struct http_route){"GET", "/healthz", HTTP_EXACT, on_healthz, h};
	struct http_server_options so = {
	    .name = "admin-http",
	    .routes = h->routes,
	    .nroutes = 2,
	    .access_log = 1,
	    .stats = &h->http_stats,
	};
	h->srv = http_server_new(&so, err, errlen);
	/* No per-source cap beyond the node's: scrapers and probes all come from one place. */
	h->caps = conncap_new(ADMIN_HTTP_MAX_CONNECTIONS, ADMIN_HTTP_MAX_CONNECTIONS);
	h->health = h->srv && h->caps ? health_start(a->store, loops, err, errlen) : NULL;
	if (!h->health) {
		if (h->srv && !h->caps)
			snprintf(err, errlen, "out of memory");
		admin_http_free(h);
		return NULL;
	}
	struct stream_listener_options o = {
	    .name = "admin-http",
	    .kind = STREAM_TCP,
	    .caps = h->caps,
	    .node_cap_setting = "the admin listener's 64 connections",
	    .stats = &h->stats,
	    .write_limit = 4 * 1024 * 1024,
	    .first_message_timeout_s = 10,
	    .idle_timeout_s = 60,
	};
	h->lis = http_listen_all(loops, address, port, h->srv, &o, err, errlen);
	if (!h->lis) {
		admin_http_free(h);
		return NULL;
	}
	ports_name("tcp", (unsigned)port, NULL, "admin-http");
	return h;
}

void admin_http_stop(struct admin_http *h)
{
	if (h)
		admin_http_free(h);
}
