/* SPDX-License-Identifier: ISC */
#include "xsi/server.h"

#include "core/config.h"
#include "core/conncap.h"
#include "core/devstate.h"
#include "core/http.h"
#include "core/log.h"
#include "core/loop.h"
#include "core/ports.h"
#include "core/util.h"
#include "core/worker.h"
#include "tls/level.h"
#include "tls/tlsctx.h"
#include "tls/trust.h"
#include "xsi/body.h"
#include "xsi/doc.h"
#include "xsi/hub.h"
#include "xsi/reply.h"

#include <errno.h>
#include <event2/event.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/queue.h>

#define P_EVENTS "/com.broadsoft.xsi-events/v2.0/"
#define P_ASYNC "/com.broadsoft.async/com.broadsoft.xsi-events/v2.0/"
#define TARGETS_MAX 4096 /* (user, device) pairs of one subscription */

struct iface {
	LIST_ENTRY(iface) link;
	struct xsi_server *s;
	char address[64];
	int port;
	char levels[TLS_LEVELS][TLS_LEVEL_MAX];
	struct tlsctx *tls;
	struct http_server *srv;
	struct http_listeners *lis; /* NULL once closed (srv stays until the end: a worker
	                               job may still answer one of its requests) */
	struct conncap *caps;
	struct http_route *routes; /* the server's table, args = this interface */
	struct stream_stats stats;
	struct http_stats hstats;
};
LIST_HEAD(iface_list, iface);

struct xsi_server {
	struct xsi_server_options o;
	struct tg_config cfg;
	struct xsi_hub *hub;
	pthread_mutex_t mu; /* the interface list */
	struct iface_list ifaces;
	struct event *tick_ev, *sweep_ev;
	_Atomic int sweeping;
	uint64_t swept_gen; /* store_generation at the last complete sweep (sweep job only) */
	/* store_generation when the interface table was last applied (the reload job writes
	 * it, the tick reads it: atomic) and whether that job runs. */
	_Atomic uint64_t ifaces_gen;
	_Atomic int reloading;
	_Atomic int stopping;
	struct http_route routes[12];
	size_t nroutes;
};

/* --- answers ------------------------------------------------------------------------ */

static void reply(struct http_request *req, enum xsi_outcome oc, const char *detail)
{
	const struct xsi_reply *r = xsi_reply_of(oc);
	char doc[1024], text[600];
	snprintf(text, sizeof text, "%s%s%s", r->summary, detail ? ": " : "", detail ? detail : "");
	struct tg_sbuf b = {doc, sizeof doc, 0, 0};
	xsi_doc_error(&b, r->status, text);
	if (r->status >= 400)
		log_ev(r->status >= 500 ? LOG_LVL_ERROR : LOG_LVL_NOTICE, http_cid(req),
		       "xsi_refused", LOG_S("method", http_method(req)),
		       LOG_S("path", http_path(req)), LOG_I("status", r->status),
		       LOG_S("reason", text), LOG_S("peer", http_peer(req)));
	http_reply(req, r->status, "application/xml; charset=UTF-8", doc,
	           tg_sbuf_len(&b) > 0 ? (size_t)tg_sbuf_len(&b) : 0);
}

/* The identity of the request's client certificate, or NULL after answering 403. */
static const char *authorise(struct iface *f, struct http_request *req)
{
	const struct http_client_cert *c = http_client_cert(req);
	if (!c || !c->cn[0]) {
		reply(req, XSI_NO_CERTIFICATE, NULL);
		return NULL;
	}
	if (!tls_trust_allows(f->levels, c->cn)) {
		reply(req, XSI_NOT_AN_IDENTITY, c->cn);
		return NULL;
	}
	return c->cn;
}

/* The request's body as an Xsi document of type want (0: none needed). */
static int body(struct http_request *req, enum xsi_body_type want, struct xsi_body *b)
{
	size_t len;
	const char *x = http_body(req, &len);
	char err[256];
	memset(b, 0, sizeof *b);
	b->expires = -1;
	if (!len && !want)
		return 0;
	if (xsi_body_parse(x, len, b, err, sizeof err) != 0) {
		reply(req, XSI_BAD_BODY, err);
		return -1;
	}
	if (want && b->type != want) {
		reply(req, XSI_BAD_BODY, "not the document this request takes");
		return -1;
	}
	return 0;
}

/* The path's part after prefix, up to the next '/' (into out); the rest in *rest. */
static int segment(const char *path, const char *prefix, char *out, size_t cap, const char **rest)
{
	size_t pl = strlen(prefix);
	if (strncmp(path, prefix, pl) != 0)
		return -1;
	const char *p = path + pl, *e = strchr(p, '/');
	size_t n = e ? (size_t)(e - p) : strlen(p);
	if (!n || n >= cap)
		return -1;
	if (http_percent_decode(p, n, 0, out, cap) < 1)
		return -1;
	*rest = p + n;
	return 0;
}

static void answer_errno(struct http_request *req, int rc)
{
	reply(req, rc == -ENOENT ? XSI_NOT_FOUND : rc == -ENOSPC ? XSI_LIMIT : XSI_INTERNAL, NULL);
}

static void ok(struct http_request *req)
{
	reply(req, XSI_OK, NULL);
}

/* --- channels ----------------------------------------------------------------------- */

static void on_channel_open(struct http_request *req, void *arg)
{
	struct iface *f = arg;
	struct xsi_body b;
	const char *who = authorise(f, req);
	if (!who || body(req, XSI_BODY_CHANNEL, &b) != 0)
		return;
	if (!b.channel_set_id[0]) {
		reply(req, XSI_BAD_BODY, "Channel needs a channelSetId");
		return;
	}
	char id[XSI_HEX_ID + 1];
	int rc = xsi_hub_channel_open(f->s->hub, who, &b, req, id);
	if (rc != 0)
		answer_errno(req, rc);
}

/* PUT .../channel/{id}[/heartbeat] and DELETE .../channel/{id}. */
static void on_channel(struct http_request *req, void *arg)
{
	struct iface *f = arg;
	const char *who = authorise(f, req), *rest;
	char id[XSI_HEX_ID + 8];
	struct xsi_body b;
	if (!who)
		return;
	const char *path = http_path(req);
	if (segment(path, P_EVENTS "channel/", id, sizeof id, &rest) != 0 &&
	    segment(path, P_ASYNC "channel/", id, sizeof id, &rest) != 0) {
		reply(req, XSI_NOT_FOUND, NULL);
		return;
	}
	int rc;
	if (strcmp(http_method(req), "DELETE") == 0 && !*rest)
		rc = xsi_hub_channel_delete(f->s->hub, who, id);
	else if (strcmp(rest, "/heartbeat") == 0)
		rc = xsi_hub_channel_heartbeat(f->s->hub, who, id);
	else if (!*rest && body(req, 0, &b) == 0)
		rc = xsi_hub_channel_refresh(f->s->hub, who, id, b.expires);
	else if (!*rest)
		return; /* body() answered */
	else
		rc = -ENOENT;
	if (rc)
		answer_errno(req, rc);
	else
		ok(req);
}

static void on_event_response(struct http_request *req, void *arg)
{
	struct iface *f = arg;
	struct xsi_body b;
	const char *who = authorise(f, req);
	if (!who || body(req, XSI_BODY_EVENT_RESPONSE, &b) != 0)
		return;
	int rc = xsi_hub_ack(f->s->hub, who, b.event_id);
	if (rc)
		answer_errno(req, rc);
	else
		ok(req);
}

/* --- subscriptions ------------------------------------------------------------------ */

/* Resolving a target to (user, device) pairs, on a worker. */
struct resolve {
	store_t *store;
	struct xsi_target *t;
	size_t n, cap;
	const char *user; /* while listing one user's devices */
	int truncated;
};

static int add_device(void *ud, const char *device)
{
	struct resolve *r = ud;
	if (r->n >= TARGETS_MAX) {
		r->truncated = 1;
		return 1;
	}
	if (r->n == r->cap) {
		/* Grown as needed: most subscribers have a device or two, and the sweep
		 * resolves every subscription again every sweep_s. */
		size_t cap = r->cap ? r->cap * 2 : 4;
		struct xsi_target *t = realloc(r->t, cap * sizeof *t);
		if (!t) {
			r->truncated = 1;
			return 1;
		}
		r->t = t;
		r->cap = cap;
	}
	tg_strlcpy(r->t[r->n].user, r->user, sizeof r->t[r->n].user);
	tg_strlcpy(r->t[r->n].device, device, sizeof r->t[r->n].device);
	r->n++;
	return 0;
}

static int add_user(void *ud, const char *user)
{
	struct resolve *r = ud;
	char copy[STORE_ID_MAX + 1];
	tg_strlcpy(copy, user, sizeof copy);
	r->user = copy;
	int rc = store_devices_for_user(r->store, copy, 0, TARGETS_MAX, add_device, r);
	r->user = NULL;
	return rc < 0 || r->truncated;
}

/* The subscriber's (user, device) pairs. STORE_OK, STORE_NOTFOUND when the user or group
 * does not exist, or a store error. */
static int resolve(struct resolve *r, const char *target, int is_group)
{
	if (is_group) {
		int rc = store_group_exists(r->store, target);
		if (rc != 1)
			return rc == 0 ? STORE_NOTFOUND : rc;
		return store_group_users(r->store, target, add_user, r);
	}
	struct store_user u;
	int rc = store_user_get(r->store, target, &u);
	if (rc != STORE_OK)
		return rc;
	return add_user(r, target) ? STORE_ERROR : STORE_OK;
}

/* Is target in identity's scope? */
struct scope {
	store_t *store;
	const char *target;
	int is_group, allowed;
};

struct membership {
	const char *group;
	int found;
};

static int user_in_group(void *ud, const char *group)
{
	struct membership *m = ud;
	m->found |= strcmp(group, m->group) == 0;
	return m->found;
}

static int scope_row(void *ud, const char *identity, const char *scope)
{
	(void)identity;
	struct scope *c = ud;
	struct membership m = {scope, 0};
	if (strcmp(scope, "all") == 0 || (c->is_group && strcmp(scope, c->target) == 0))
		c->allowed = 1;
	else if (!c->is_group &&
	         store_user_groups(c->store, c->target, user_in_group, &m) == STORE_OK && m.found)
		c->allowed = 1;
	return c->allowed;
}

struct sub_job {
	struct iface *f;
	struct http_request *req;
	char identity[HTTP_CERT_NAME_MAX + 1];
	char target[STORE_ID_MAX + 1];
	int is_group;
	struct xsi_body b;
	enum xsi_package package;
	enum xsi_outcome oc;
	struct resolve r;
};

static void sub_run(void *arg)
{
	struct sub_job *j = arg;
	struct scope c = {j->f->s->o.store, j->target, j->is_group, 0};
	j->r.store = j->f->s->o.store;
	int rc = resolve(&j->r, j->target, j->is_group);
	if (rc == STORE_NOTFOUND) {
		j->oc = XSI_NO_SUBSCRIBER;
		return;
	}
	if (rc == STORE_OK)
		rc = store_ctiscopes(j->f->s->o.store, j->identity, scope_row, &c);
	j->oc = rc != STORE_OK ? XSI_INTERNAL : !c.allowed ? XSI_OUT_OF_SCOPE : XSI_OK;
}

static void sub_done(void *arg)
{
	struct sub_job *j = arg;
	char id[XSI_HEX_ID + 1];
	if (j->oc == XSI_OK) {
		const struct xsi_sub_request sr = {.identity = j->identity,
		                                   .set_id = j->b.channel_set_id,
		                                   .application_id = j->b.application_id,
		                                   .target = j->target,
		                                   .is_group = j->is_group,
		                                   .package = j->package,
		                                   .expires_s = j->b.expires};
		int rc = xsi_hub_sub_add(j->f->s->hub, &sr, j->r.t, j->r.n, id);
		if (rc != 0) {
			answer_errno(j->req, rc);
		} else {
			char doc[512];
			struct tg_sbuf b = {doc, sizeof doc, 0, 0};
			xsi_doc_subscription(
			    &b, id,
			    j->b.expires >= 0 ? j->b.expires : j->f->s->cfg.xsi.expires_default_s);
			http_reply(j->req, 200, "application/xml; charset=UTF-8", doc,
			           (size_t)tg_sbuf_len(&b));
		}
	} else {
		if (j->oc == XSI_OUT_OF_SCOPE)
			log_ev(LOG_LVL_WARNING, http_cid(j->req), "xsi_subscription_out_of_scope",
			       LOG_S("identity", j->identity),
			       LOG_S(j->is_group ? "group" : "user", j->target));
		reply(j->req, j->oc, j->target);
	}
	free(j->r.t);
	free(j);
}

/* POST .../user/{userid} or .../{enterprise|serviceprovider}/{id}/group/{group}. */
static void on_subscribe(struct http_request *req, void *arg)
{
	struct iface *f = arg;
	const char *who = authorise(f, req), *rest, *path = http_path(req);
	if (!who)
		return;
	struct sub_job *j = calloc(1, sizeof *j);
	if (!j) {
		reply(req, XSI_INTERNAL, NULL);
		return;
	}
	char org[STORE_ID_MAX + 1];
	int bad = 1;
	if (segment(path, P_EVENTS "user/", j->target, sizeof j->target, &rest) == 0)
		bad = *rest != 0;
	else if (segment(path, P_EVENTS "enterprise/", org, sizeof org, &rest) == 0 ||
	         segment(path, P_EVENTS "serviceprovider/", org, sizeof org, &rest) == 0) {
		char group_path[STORE_ID_MAX + 16];
		tg_strlcpy(group_path, rest, sizeof group_path);
		j->is_group = 1;
		bad = segment(group_path, "/group/", j->target, sizeof j->target, &rest) != 0 ||
		      *rest != 0;
	}
	if (bad) {
		free(j);
		reply(req, XSI_NOT_FOUND, NULL);
		return;
	}
	if (body(req, XSI_BODY_SUBSCRIPTION, &j->b) != 0) {
		free(j);
		return;
	}
	int pkg = xsi_package_parse(j->b.event);
	const char *missing = !j->b.channel_set_id[0] ? "Subscription needs a channelSetId"
	                      : pkg < 0 ? "event is not a package of this server: \"Device "
	                                  "State\" or \"Registration\""
	                                : NULL;
	if (missing) {
		free(j);
		reply(req, XSI_BAD_BODY, missing);
		return;
	}
	j->package = (enum xsi_package)pkg;
	j->f = f;
	j->req = req;
	tg_strlcpy(j->identity, who, sizeof j->identity);
	http_hold(req);
	if (workers_submit(f->s->o.workers, sub_run, sub_done, j, stream_loop(http_stream(req))) !=
	    0) {
		free(j);
		reply(req, XSI_BUSY, NULL);
	}
}

/* PUT/DELETE .../subscription/{id}. */
static void on_subscription(struct http_request *req, void *arg)
{
	struct iface *f = arg;
	const char *who = authorise(f, req), *rest;
	char id[XSI_HEX_ID + 8];
	struct xsi_body b;
	if (!who)
		return;
	if (segment(http_path(req), P_EVENTS "subscription/", id, sizeof id, &rest) != 0 || *rest) {
		reply(req, XSI_NOT_FOUND, NULL);
		return;
	}
	int rc;
	if (strcmp(http_method(req), "DELETE") == 0)
		rc = xsi_hub_sub_delete(f->s->hub, who, id);
	else if (body(req, 0, &b) == 0)
		rc = xsi_hub_sub_refresh(f->s->hub, who, id, b.expires);
	else
		return;
	if (rc)
		answer_errno(req, rc);
	else
		ok(req);
}

/* --- the lifecycle sweep and the timers --------------------------------------------- */

struct sweep_item {
	char id[XSI_HEX_ID + 1];
	char target[STORE_ID_MAX + 1];
	int is_group;
};
struct sweep {
	struct sweep_item *v;
	size_t n, cap;
};

/* v (capacity *cap items of size bytes, n used) with room for one more: v itself, or v
 * moved to an allocation twice as large (first items when empty, *cap updated); NULL when
 * memory runs out (v is kept). */
static void *grow(void *v, size_t *cap, size_t n, size_t size, size_t first)
{
	if (n < *cap)
		return v;
	size_t c = *cap ? *cap * 2 : first;
	void *p = realloc(v, c * size);
	if (p)
		*cap = c;
	return p;
}

static void sweep_collect(void *ud, const char *id, const char *target, int is_group)
{
	struct sweep *w = ud;
	struct sweep_item *v = grow(w->v, &w->cap, w->n, sizeof *v, 64);
	if (!v)
		return;
	w->v = v;
	struct sweep_item *it = &w->v[w->n++];
	tg_strlcpy(it->id, id, sizeof it->id);
	tg_strlcpy(it->target, target, sizeof it->target);
	it->is_group = is_group;
}

static void sweep_run(void *arg)
{
	struct xsi_server *s = arg;
	struct sweep w = {NULL, 0, 0};
	/* Users, groups, devices and associations change only with a store write: without
	 * one since the last sweep, nothing to re-read (10,000 subscriptions are 20,000
	 * queries). New subscriptions were resolved when made. */
	uint64_t gen = store_generation(s->o.store);
	if (gen == s->swept_gen && s->swept_gen)
		return;
	xsi_hub_sub_list(s->hub, sweep_collect, &w);
	for (size_t i = 0; i < w.n && !s->stopping; i++) {
		struct resolve r = {.store = s->o.store};
		int rc = resolve(&r, w.v[i].target, w.v[i].is_group);
		if (rc == STORE_NOTFOUND)
			xsi_hub_sub_terminate(s->hub, w.v[i].id,
			                      w.v[i].is_group ? "the group was deprovisioned"
			                                      : "the subscriber was deprovisioned");
		else if (rc == STORE_OK)
			xsi_hub_sub_retarget(s->hub, w.v[i].id, r.t, r.n);
		free(r.t);
	}
	free(w.v);
	if (!s->stopping)
		s->swept_gen = gen;
}

static void sweep_done(void *arg)
{
	struct xsi_server *s = arg;
	s->sweeping = 0;
}

void xsi_server_sweep(struct xsi_server *s)
{
	int idle = 0;
	if (!s || !atomic_compare_exchange_strong(&s->sweeping, &idle, 1))
		return;
	if (workers_submit(s->o.workers, sweep_run, sweep_done, s, NULL) != 0)
		s->sweeping = 0;
}

static void on_sweep(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	xsi_server_sweep(arg);
}

static void ifaces_reload(struct xsi_server *s);

static void on_tick(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	struct xsi_server *s = arg;
	xsi_hub_tick(s->hub, tg_mono_ms());
	ifaces_reload(s);
}

static void on_device_state(void *arg, const char *device, int in_service, const char *contact)
{
	struct xsi_server *s = arg;
	xsi_hub_device_state(s->hub, device, in_service, contact);
}

/* --- interfaces --------------------------------------------------------------------- */

static struct iface *find(struct xsi_server *s, const char *address, int port)
{
	struct iface *f;
	LIST_FOREACH(f, &s->ifaces, link)
	if (f->lis && f->port == port && strcmp(f->address, address) == 0)
		return f;
	return NULL;
}

int xsi_server_listening(struct xsi_server *s, const char *address, int port)
{
	pthread_mutex_lock(&s->mu);
	int on = find(s, address, port) != NULL;
	pthread_mutex_unlock(&s->mu);
	return on;
}

static void iface_free(struct iface *f)
{
	http_listeners_free(f->lis);
	http_server_free(f->srv);
	tlsctx_free(f->tls);
	conncap_free(f->caps);
	free(f->routes);
	free(f);
}

int xsi_server_open(struct xsi_server *s, const char *address, int port, char *err, size_t errlen)
{
	pthread_mutex_lock(&s->mu);
	if (s->stopping) { /* a reload job late: xsi_server_stop has the list */
		pthread_mutex_unlock(&s->mu);
		snprintf(err, errlen, "the CTI event service is stopping");
		return -1;
	}
	if (find(s, address, port)) {
		pthread_mutex_unlock(&s->mu);
		return -EEXIST;
	}
	struct iface *f = calloc(1, sizeof *f);
	if (!f) {
		pthread_mutex_unlock(&s->mu);
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	f->s = s;
	tg_strlcpy(f->address, address, sizeof f->address);
	f->port = port;
	struct tls_listener_id id = {XSI_KIND, f->address, port};
	tls_levels_of(&id, f->levels);
	char name[96];
	snprintf(name, sizeof name, XSI_KIND "@%s:%d", address, port);
	const struct tlsctx_options to = {.name = name,
	                                  .cert = s->o.server_cert,
	                                  .key = s->o.server_key,
	                                  .policy_require = 1,
	                                  .kind = XSI_KIND,
	                                  .address = f->address,
	                                  .port = port};
	const struct http_server_options so = {
	    .name = XSI_KIND,
	    .routes = s->routes,
	    .nroutes = s->nroutes,
	    .max_header_bytes = 8192,
	    .max_body_bytes = 4 * XSI_BODY_MAX, /* beyond XSI_BODY_MAX: 400, further: 413 */
	    .access_log = 1,
	    .stats = &f->hstats};
	int cap = s->cfg.xsi.channels_max + 1024;
	if (!(f->tls = tlsctx_new(&to, err, errlen)) || !(f->caps = conncap_new(cap, cap)))
		goto fail;
	/* Each interface has its own routes table: the handlers' arg is the interface. */
	struct http_route *routes = malloc(s->nroutes * sizeof *routes);
	if (!routes)
		goto fail;
	for (size_t i = 0; i < s->nroutes; i++) {
		routes[i] = s->routes[i];
		routes[i].arg = f;
	}
	struct http_server_options so2 = so;
	so2.routes = routes;
	f->srv = http_server_new(&so2, err, errlen);
	if (!f->srv) {
		free(routes);
		goto fail;
	}
	f->routes = routes; /* the server uses the table in place */
	const struct stream_listener_options lo = {
	    .name = XSI_KIND,
	    .kind = STREAM_TLS,
	    .tls = f->tls,
	    .caps = f->caps,
	    .node_cap_setting = "cti_interface.channels_max",
	    .stats = &f->stats,
	    .write_limit = (size_t)s->cfg.xsi.write_limit,
	    .first_message_timeout_s = 10,
	    .idle_timeout_s = 120,
	};
	if (!(f->lis = http_listen_all(s->o.loops, address, port, f->srv, &lo, err, errlen))) {
		http_server_free(f->srv);
		f->srv = NULL;
		goto fail;
	}
	LIST_INSERT_HEAD(&s->ifaces, f, link);
	pthread_mutex_unlock(&s->mu);
	ports_name("tcp", (unsigned)port, NULL, XSI_KIND);
	log_ev(LOG_LVL_NOTICE, NULL, "xsi_interface_opened", LOG_S("address", address),
	       LOG_I("port", port));
	return 0;
fail:
	pthread_mutex_unlock(&s->mu);
	iface_free(f);
	return -1;
}

int xsi_server_close(struct xsi_server *s, const char *address, int port)
{
	pthread_mutex_lock(&s->mu);
	struct iface *f = find(s, address, port);
	struct http_listeners *lis = f ? f->lis : NULL;
	struct tlsctx *tls = f ? f->tls : NULL;
	struct conncap *caps = f ? f->caps : NULL;
	if (f)
		f->lis = NULL, f->tls = NULL, f->caps = NULL;
	pthread_mutex_unlock(&s->mu);
	if (!f)
		return -ENOENT;
	/* Its connections close: their channels end (on_abort), their subscriptions stay
	 * with their channel sets (another interface may serve the set). The HTTP server
	 * stays until xsi_server_free: a worker job may still answer one of its requests. */
	http_listeners_free(lis);
	tlsctx_free(tls);
	conncap_free(caps);
	log_ev(LOG_LVL_NOTICE, NULL, "xsi_interface_closed", LOG_S("address", address),
	       LOG_I("port", port));
	return 0;
}

/* Opens a stored interface (at start and on a reload); a failure is logged and skipped:
 * the others still serve. */
static int open_stored(void *ud, const struct store_ctiinterface *c)
{
	struct xsi_server *s = ud;
	char err[512] = "";
	int rc = xsi_server_open(s, c->address, c->port, err, sizeof err);
	if (rc < 0 && rc != -EEXIST && !s->stopping)
		log_ev(LOG_LVL_ERROR, NULL, "xsi_interface_failed", LOG_S("address", c->address),
		       LOG_I("port", c->port), LOG_S("error", err));
	return 0;
}

/* --- the interface table, applied at runtime ---------------------------------------- */

/* An interface added or deleted through another node of a cluster reaches this one as a
 * store generation (the other node's NOTIFY, docs/cluster.md), as every table's changes
 * do; the tick then has a worker read the table again (one small SELECT, at most once a
 * second and only after a write) and open and close listeners to match it. A change made
 * through this node is applied by its command at once: the reload finds nothing to do. */

struct iface_key {
	char address[64];
	int port;
};
struct iface_keys {
	struct iface_key *v;
	size_t n, cap;
};

static int iface_keys_add(struct iface_keys *k, const char *address, int port)
{
	struct iface_key *v = grow(k->v, &k->cap, k->n, sizeof *v, 16);
	if (!v)
		return -1;
	k->v = v;
	tg_strlcpy(k->v[k->n].address, address, sizeof k->v[k->n].address);
	k->v[k->n++].port = port;
	return 0;
}

static int iface_keys_has(const struct iface_keys *k, const char *address, int port)
{
	for (size_t i = 0; i < k->n; i++)
		if (k->v[i].port == port && strcmp(k->v[i].address, address) == 0)
			return 1;
	return 0;
}

static int stored_key(void *ud, const struct store_ctiinterface *c)
{
	return iface_keys_add(ud, c->address, c->port) != 0; /* out of memory: stop */
}

static void ifaces_run(void *arg)
{
	struct xsi_server *s = arg;
	uint64_t gen = store_generation(s->o.store); /* before the read: a later write re-runs */
	struct iface_keys stored = {NULL, 0, 0}, gone = {NULL, 0, 0};
	if (store_ctiinterfaces(s->o.store, stored_key, &stored) != STORE_OK) {
		free(stored.v); /* the store is unavailable: the next tick tries again */
		return;
	}
	pthread_mutex_lock(&s->mu);
	struct iface *f;
	LIST_FOREACH(f, &s->ifaces, link)
	if (f->lis && !iface_keys_has(&stored, f->address, f->port))
		iface_keys_add(&gone, f->address, f->port);
	pthread_mutex_unlock(&s->mu);
	for (size_t i = 0; i < gone.n && !s->stopping; i++)
		xsi_server_close(s, gone.v[i].address, gone.v[i].port);
	for (size_t i = 0; i < stored.n && !s->stopping; i++) {
		struct store_ctiinterface c = {.port = stored.v[i].port};
		tg_strlcpy(c.address, stored.v[i].address, sizeof c.address);
		if (!xsi_server_listening(s, c.address, c.port))
			open_stored(s, &c);
	}
	free(stored.v);
	free(gone.v);
	s->ifaces_gen = gen;
}

static void ifaces_done(void *arg)
{
	struct xsi_server *s = arg;
	s->reloading = 0;
}

/* On the main loop's tick: a reload job when the store changed since the last one. */
static void ifaces_reload(struct xsi_server *s)
{
	int idle = 0;
	if (s->stopping || store_generation(s->o.store) == s->ifaces_gen ||
	    !atomic_compare_exchange_strong(&s->reloading, &idle, 1))
		return;
	if (workers_submit(s->o.workers, ifaces_run, ifaces_done, s, NULL) != 0)
		s->reloading = 0;
}

struct xsi_hub *xsi_server_hub(struct xsi_server *s)
{
	return s->hub;
}

struct xsi_server *xsi_server_start(const struct xsi_server_options *o, char *err, size_t errlen)
{
	struct xsi_server *s = calloc(1, sizeof *s);
	if (!s) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	s->o = *o;
	s->cfg = *o->cfg;
	s->o.cfg = &s->cfg;
	pthread_mutex_init(&s->mu, NULL);
	LIST_INIT(&s->ifaces);
	const struct tg_config *c = &s->cfg;
	const struct xsi_hub_options ho = {.heartbeat_s = c->xsi.heartbeat_s,
	                                   .client_timeout_s = c->xsi.client_timeout_s,
	                                   .redeliver_s = c->xsi.redeliver_s,
	                                   .queue_max = c->xsi.queue_max,
	                                   .channels_max = c->xsi.channels_max,
	                                   .subscriptions_max = c->xsi.subscriptions_max,
	                                   .expires_default_s = c->xsi.expires_default_s};
	const struct http_route routes[] = {
	    {"POST", P_ASYNC "channel", HTTP_EXACT, on_channel_open, NULL},
	    {"POST", P_EVENTS "channel", HTTP_EXACT, on_channel_open, NULL},
	    {"POST", P_EVENTS "channel/eventresponse", HTTP_EXACT, on_event_response, NULL},
	    {"PUT", P_EVENTS "channel/", HTTP_PREFIX, on_channel, NULL},
	    {"DELETE", P_EVENTS "channel/", HTTP_PREFIX, on_channel, NULL},
	    {"PUT", P_ASYNC "channel/", HTTP_PREFIX, on_channel, NULL},
	    {"DELETE", P_ASYNC "channel/", HTTP_PREFIX, on_channel, NULL},
	    {"POST", P_EVENTS "user/", HTTP_PREFIX, on_subscribe, NULL},
	    {"POST", P_EVENTS "enterprise/", HTTP_PREFIX, on_subscribe, NULL},
	    {"POST", P_EVENTS "serviceprovider/", HTTP_PREFIX, on_subscribe, NULL},
	    {"PUT", P_EVENTS "subscription/", HTTP_PREFIX, on_subscription, NULL},
	    {"DELETE", P_EVENTS "subscription/", HTTP_PREFIX, on_subscription, NULL},
	};
	memcpy(s->routes, routes, sizeof routes);
	s->nroutes = sizeof routes / sizeof routes[0];
	if (!(s->hub = xsi_hub_new(&ho)) ||
	    devstate_subscribe_contact(o->devstate, on_device_state, s) != 0) {
		snprintf(err, errlen, "out of memory");
		xsi_hub_free(s->hub);
		pthread_mutex_destroy(&s->mu);
		free(s);
		return NULL;
	}
	struct event_base *base = loop_base(o->main);
	s->tick_ev = event_new(base, -1, EV_PERSIST, on_tick, s);
	s->sweep_ev = event_new(base, -1, EV_PERSIST, on_sweep, s);
	if (s->tick_ev)
		event_add(s->tick_ev, &(struct timeval){1, 0});
	if (s->sweep_ev)
		event_add(s->sweep_ev, &(struct timeval){c->xsi.sweep_s, 0});
	s->ifaces_gen = store_generation(o->store); /* before the read, as ifaces_run */
	if (store_ctiinterfaces(o->store, open_stored, s) != STORE_OK) {
		snprintf(err, errlen, "cannot read the CTI interfaces: %s", store_last_error());
		xsi_server_stop(s);
		xsi_server_free(s);
		return NULL;
	}
	return s;
}

static void barrier(struct loop *l, int i, void *arg)
{
	(void)l;
	(void)i;
	(void)arg;
}

void xsi_server_stop(struct xsi_server *s)
{
	if (!s)
		return;
	s->stopping = 1;
	if (s->tick_ev)
		event_free(s->tick_ev);
	if (s->sweep_ev)
		event_free(s->sweep_ev);
	s->tick_ev = s->sweep_ev = NULL;
	devstate_unsubscribe_contact(s->o.devstate, on_device_state, s);
	xsi_hub_close_all(s->hub, "the server is stopping");
	/* Each loop runs what was posted before this (the ChannelTerminated flushes) before
	 * its connections close. */
	loop_run_all(s->o.loops, barrier, NULL);
	/* After this lock no interface is added (xsi_server_open sees stopping); one a reload
	 * job closes at the same time is taken under the lock, by it or here. */
	pthread_mutex_lock(&s->mu);
	pthread_mutex_unlock(&s->mu);
	struct iface *f;
	LIST_FOREACH(f, &s->ifaces, link)
	{
		pthread_mutex_lock(&s->mu);
		struct http_listeners *lis = f->lis;
		f->lis = NULL;
		pthread_mutex_unlock(&s->mu);
		http_listeners_free(lis);
	}
}

void xsi_server_free(struct xsi_server *s)
{
	if (!s)
		return;
	struct iface *f;
	while ((f = LIST_FIRST(&s->ifaces))) {
		LIST_REMOVE(f, link);
		iface_free(f);
	}
	xsi_hub_free(s->hub);
	pthread_mutex_destroy(&s->mu);
	free(s);
}
