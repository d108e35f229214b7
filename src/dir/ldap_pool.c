/* SPDX-License-Identifier: ISC */
#include "dir/ldap_pool.h"
#include "core/counter.h"
#include "core/log.h"
#include "core/loop.h"
#include "core/util.h"
#include "core/worker.h"

#include <errno.h>
#include <event2/event.h>
#include <event2/util.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/queue.h>

#define SEARCH_INFLIGHT_MAX 32
#define SWEEP_MS 100

enum role { R_SEARCH = 0, R_BIND = 1 };
enum cstate { C_IDLE = 0, C_CONNECTING, C_READY };
enum sstate { S_UP = 0, S_DOWN, S_PROBING };
enum stage { ST_SEARCH = 0, ST_BIND };

struct conn;

struct lreq {
	TAILQ_ENTRY(lreq) link; /* in the queue or the in-flight list */
	int inflight;
	enum stage stage;
	int server;        /* server of the current attempt */
	uint32_t tried;    /* servers that failed this request */
	struct conn *conn; /* while in flight */
	int msgid;
	int entries;
	int64_t deadline_ms, queue_deadline_ms;
	char cid[LOG_CID_SIZE];
	char filter[DIR_LDAP_FILTER_MAX];
	char dn[1024];
	char *pw; /* secret, pwlen bytes, wiped and freed once the bind is sent */
	size_t pwlen;
	dir_ldap_cb cb;
	void *ud;
};
TAILQ_HEAD(lreq_list, lreq);

struct conn {
	struct dir_ldap_pool *p;
	int server, idx;
	enum role role;
	enum cstate st;
	LDAP *ld;
	struct event *ev;
	int inflight;
	uint64_t gen; /* bumped when the connection closes: stale connect results are dropped */
	struct lreq *ops[SEARCH_INFLIGHT_MAX];
};

struct server {
	enum sstate st;
	int64_t down_until_ms;
	struct conn *conns; /* pool_size search, then pool_size bind */
};

struct dir_ldap_pool {
	struct loop *loop;
	struct workers *workers;
	struct dir_ldap_config cfg;
	struct server srv[DIR_LDAP_MAX_SERVERS];
	struct lreq_list queue, flying;
	struct event *sweep;
	int closing;
	int connecting; /* connect jobs in the worker pool */
	struct {
		tg_counter connects, connect_failures, searches, user_binds, timeouts, failovers;
	} stats;
};

struct connect_job {
	struct dir_ldap_pool *p;
	struct conn *c;
	uint64_t gen;
	LDAP *ld;
	int rc;
	char err[256];
	int64_t ms;
};

static void pump(struct dir_ldap_pool *p);

void dir_ldap_pool_stats(const struct dir_ldap_pool *p, struct dir_ldap_stats *o)
{
	o->connects = tg_counter_get(&p->stats.connects);
	o->connect_failures = tg_counter_get(&p->stats.connect_failures);
	o->searches = tg_counter_get(&p->stats.searches);
	o->user_binds = tg_counter_get(&p->stats.user_binds);
	o->timeouts = tg_counter_get(&p->stats.timeouts);
	o->failovers = tg_counter_get(&p->stats.failovers);
}

static void wipe_pw(struct lreq *r)
{
	if (r->pw) {
		sodium_memzero(r->pw, r->pwlen);
		free(r->pw);
		r->pw = NULL;
		r->pwlen = 0;
	}
}

static void finish(struct dir_ldap_pool *p, struct lreq *r, enum dir_ldap_rc rc)
{
	if (r->inflight)
		TAILQ_REMOVE(&p->flying, r, link);
	else
		TAILQ_REMOVE(&p->queue, r, link);
	wipe_pw(r);
	r->cb(r->ud, rc, rc == DIR_LDAP_OK || rc == DIR_LDAP_BAD_CREDENTIAL ? r->dn : "");
	free(r);
}

/* Moves a request back to the front of the queue to try the next server. */
static void requeue(struct dir_ldap_pool *p, struct lreq *r, int failed_server)
{
	if (r->inflight) {
		TAILQ_REMOVE(&p->flying, r, link);
		r->inflight = 0;
	} else {
		TAILQ_REMOVE(&p->queue, r, link);
	}
	r->tried |= 1u << failed_server;
	r->conn = NULL;
	r->stage = ST_SEARCH;
	r->entries = 0;
	r->dn[0] = '\0';
	tg_counter_inc(&p->stats.failovers);
	TAILQ_INSERT_HEAD(&p->queue, r, link);
}

static void conn_close(struct conn *c)
{
	if (c->ev) {
		event_free(c->ev);
		c->ev = NULL;
	}
	if (c->ld) {
		ldap_unbind_ext(c->ld, NULL, NULL);
		c->ld = NULL;
	}
	c->st = C_IDLE;
	c->inflight = 0;
	c->gen++;
	memset(c->ops, 0, sizeof c->ops);
}

/* A server failed (connect refused or timed out, a connection broke, an operation timed
 * out): it is suspect as a whole, so every connection to it closes, its requests move on
 * to the next server, and it is probed again after the back-off. */
static void server_down(struct dir_ldap_pool *p, int s, const char *why)
{
	struct server *sv = &p->srv[s];
	for (int k = 0; k < p->cfg.pool_size * 2; k++) {
		struct conn *c = &sv->conns[k];
		for (int i = 0; i < SEARCH_INFLIGHT_MAX; i++) {
			struct lreq *r = c->ops[i];
			if (!r)
				continue;
			c->ops[i] = NULL;
			log_ev(LOG_LVL_WARNING, r->cid, "ldap_failover",
			       LOG_S("server", p->cfg.uri[s]), LOG_S("reason", why));
			requeue(p, r, s);
		}
		conn_close(c);
	}
	if (sv->st != S_DOWN) {
		log_ev(LOG_LVL_WARNING, NULL, "ldap_server_down", LOG_S("server", p->cfg.uri[s]),
		       LOG_S("reason", why), LOG_I("retry_s", p->cfg.retry_s));
	}
	sv->st = S_DOWN;
	sv->down_until_ms = tg_mono_ms() + (int64_t)p->cfg.retry_s * 1000;
}

static void conn_fail(struct conn *c, const char *why)
{
	server_down(c->p, c->server, why);
}

static void op_attach(struct conn *c, struct lreq *r)
{
	for (int i = 0; i < SEARCH_INFLIGHT_MAX; i++)
		if (!c->ops[i]) {
			c->ops[i] = r;
			break;
		}
	c->inflight++;
	r->conn = c;
}

static struct lreq *op_detach(struct conn *c, int msgid)
{
	for (int i = 0; i < SEARCH_INFLIGHT_MAX; i++) {
		struct lreq *r = c->ops[i];
		if (r && r->msgid == msgid) {
			c->ops[i] = NULL;
			c->inflight--;
			r->conn = NULL;
			return r;
		}
	}
	return NULL;
}

static struct lreq *op_find(struct conn *c, int msgid)
{
	for (int i = 0; i < SEARCH_INFLIGHT_MAX; i++)
		if (c->ops[i] && c->ops[i]->msgid == msgid)
			return c->ops[i];
	return NULL;
}

static void on_search_done(struct dir_ldap_pool *p, struct conn *c, struct lreq *r,
                           LDAPMessage *msg)
{
	int err = LDAP_OTHER;
	char *diag = NULL;
	int rc = ldap_parse_result(c->ld, msg, &err, NULL, &diag, NULL, NULL, 0);
	if (rc != LDAP_SUCCESS)
		err = rc;
	log_ev(LOG_LVL_INFO, r->cid, "ldap_search_result", LOG_S("server", p->cfg.uri[c->server]),
	       LOG_S("result", ldap_err2string(err)), LOG_I("entries", r->entries),
	       LOG_S("diagnostic", diag && *diag ? diag : NULL));
	ldap_memfree(diag);
	if (err == LDAP_SUCCESS || err == LDAP_SIZELIMIT_EXCEEDED) {
		if (r->entries == 1 && err == LDAP_SUCCESS) {
			log_ev(LOG_LVL_INFO, r->cid, "ldap_user_found", LOG_S("dn", r->dn));
			r->stage = ST_BIND;
			r->server = c->server;
			TAILQ_REMOVE(&p->flying, r, link);
			r->inflight = 0;
			TAILQ_INSERT_HEAD(&p->queue, r, link);
			return;
		}
		finish(p, r, r->entries == 0 ? DIR_LDAP_NOT_FOUND : DIR_LDAP_AMBIGUOUS);
		return;
	}
	if (err == LDAP_NO_SUCH_OBJECT) {
		/* The base does not exist there: configuration, not an outage. */
		finish(p, r, DIR_LDAP_NOT_FOUND);
		return;
	}
	requeue(p, r, c->server);
}

static void on_bind_done(struct dir_ldap_pool *p, struct conn *c, struct lreq *r, LDAPMessage *msg)
{
	int err = LDAP_OTHER;
	char *diag = NULL;
	int rc = ldap_parse_result(c->ld, msg, &err, NULL, &diag, NULL, NULL, 0);
	if (rc != LDAP_SUCCESS)
		err = rc;
	log_ev(err == LDAP_SUCCESS ? LOG_LVL_INFO : LOG_LVL_NOTICE, r->cid, "ldap_user_bind",
	       LOG_S("server", p->cfg.uri[c->server]), LOG_S("dn", r->dn),
	       LOG_S("result", ldap_err2string(err)),
	       LOG_S("diagnostic", diag && *diag ? diag : NULL));
	ldap_memfree(diag);
	switch (err) {
	case LDAP_SUCCESS:
		finish(p, r, DIR_LDAP_OK);
		return;
	case LDAP_INVALID_CREDENTIALS:
	case LDAP_INAPPROPRIATE_AUTH:
	case LDAP_UNWILLING_TO_PERFORM:
	case LDAP_CONSTRAINT_VIOLATION:
		finish(p, r, DIR_LDAP_BAD_CREDENTIAL);
		return;
	default:
		/* busy, unavailable, other: the next server may answer. */
		requeue(p, r, c->server);
	}
}

static void on_readable(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	struct conn *c = arg;
	struct dir_ldap_pool *p = c->p;
	for (;;) {
		struct timeval zero = {0, 0};
		LDAPMessage *msg = NULL;
		int t = ldap_result(c->ld, LDAP_RES_ANY, LDAP_MSG_ONE, &zero, &msg);
		if (t == 0)
			break;
		if (t < 0) {
			int err = LDAP_SERVER_DOWN;
			ldap_get_option(c->ld, LDAP_OPT_RESULT_CODE, &err);
			conn_fail(c, ldap_err2string(err));
			break;
		}
		int msgid = ldap_msgid(msg);
		struct lreq *r = op_find(c, msgid);
		if (!r) { /* abandoned or unsolicited (e.g. notice of disconnection) */
			ldap_msgfree(msg);
			if (msgid == 0) {
				conn_fail(c, "notice of disconnection");
				break;
			}
			continue;
		}
		switch (t) {
		case LDAP_RES_SEARCH_ENTRY:
			if (++r->entries == 1) {
				char *dn = ldap_get_dn(c->ld, msg);
				tg_strlcpy(r->dn, dn ? dn : "", sizeof r->dn);
				ldap_memfree(dn);
			}
			break;
		case LDAP_RES_SEARCH_REFERENCE:
			break; /* referrals are off: references are not followed */
		case LDAP_RES_SEARCH_RESULT:
			op_detach(c, msgid);
			on_search_done(p, c, r, msg);
			break;
		case LDAP_RES_BIND:
			op_detach(c, msgid);
			on_bind_done(p, c, r, msg);
			break;
		default:
			op_detach(c, msgid);
			requeue(p, r, c->server);
		}
		ldap_msgfree(msg);
	}
	pump(p);
}

static void connect_run(void *arg)
{
	struct connect_job *j = arg;
	int64_t t0 = tg_mono_ms();
	j->ld = dir_ldap_open(&j->p->cfg, j->c->server, j->c->role == R_SEARCH, &j->rc, j->err,
	                      sizeof j->err);
	j->ms = tg_mono_ms() - t0;
}

static void connect_done(void *arg)
{
	struct connect_job *j = arg;
	struct dir_ldap_pool *p = j->p;
	struct conn *c = j->c;
	p->connecting--;
	if (p->closing || c->gen != j->gen) {
		if (j->ld)
			ldap_unbind_ext(j->ld, NULL, NULL);
		free(j);
		return;
	}
	const char *role = c->role == R_SEARCH ? "search" : "bind";
	struct server *sv = &p->srv[c->server];
	int fd = -1;
	if (j->ld && ldap_get_option(j->ld, LDAP_OPT_DESC, &fd) == LDAP_OPT_SUCCESS && fd >= 0) {
		evutil_make_socket_nonblocking(fd);
		c->ld = j->ld;
		c->ev = event_new(loop_base(p->loop), fd, EV_READ | EV_PERSIST, on_readable, c);
		if (c->ev && event_add(c->ev, NULL) == 0) {
			c->st = C_READY;
			tg_counter_inc(&p->stats.connects);
			log_ev(LOG_LVL_INFO, NULL, "ldap_connect",
			       LOG_S("server", p->cfg.uri[c->server]), LOG_S("role", role),
			       LOG_S("result", "success"),
			       LOG_S("service_bind", c->role == R_SEARCH && p->cfg.bind_dn[0]
			                                 ? p->cfg.bind_dn
			                                 : NULL),
			       LOG_I("ms", j->ms));
			if (sv->st != S_UP)
				log_ev(LOG_LVL_NOTICE, NULL, "ldap_server_up",
				       LOG_S("server", p->cfg.uri[c->server]));
			sv->st = S_UP;
			free(j);
			pump(p);
			return;
		}
		conn_close(c);
		j->ld = NULL; /* closed with the connection */
		snprintf(j->err, sizeof j->err, "event registration failed");
	}
	if (j->ld)
		ldap_unbind_ext(j->ld, NULL, NULL);
	c->st = C_IDLE;
	tg_counter_inc(&p->stats.connect_failures);
	log_ev(LOG_LVL_WARNING, NULL, "ldap_connect", LOG_S("server", p->cfg.uri[c->server]),
	       LOG_S("role", role), LOG_S("result", "failure"), LOG_S("error", j->err),
	       LOG_I("ms", j->ms));
	server_down(p, c->server, j->err);
	free(j);
	pump(p);
}

static int start_connect(struct dir_ldap_pool *p, struct conn *c)
{
	struct connect_job *j = calloc(1, sizeof *j);
	if (!j)
		return -1;
	j->p = p;
	j->c = c;
	j->gen = c->gen;
	c->st = C_CONNECTING;
	if (workers_submit(p->workers, connect_run, connect_done, j, p->loop) != 0) {
		c->st = C_IDLE;
		free(j);
		return -1;
	}
	p->connecting++;
	return 0;
}

static int pick_server(struct dir_ldap_pool *p, struct lreq *r)
{
	if (r->stage == ST_BIND)
		return (r->tried & (1u << r->server)) || p->srv[r->server].st != S_UP ? -1
		                                                                      : r->server;
	for (int s = 0; s < p->cfg.nservers; s++)
		if (!(r->tried & (1u << s)) && p->srv[s].st == S_UP)
			return s;
	return -1;
}

/* Sends the request's next operation on c. Returns 0, or -1 if the connection broke. */
static int dispatch(struct dir_ldap_pool *p, struct conn *c, struct lreq *r)
{
	int rc, msgid = -1;
	struct timeval tv = {p->cfg.timeout_ms / 1000, (p->cfg.timeout_ms % 1000) * 1000};
	if (r->stage == ST_SEARCH) {
		static char *const attrs[] = {LDAP_NO_ATTRS, NULL};
		log_ev(LOG_LVL_INFO, r->cid, "ldap_search", LOG_S("server", p->cfg.uri[c->server]),
		       LOG_S("base", p->cfg.base), LOG_S("filter", r->filter));
		rc = ldap_search_ext(c->ld, p->cfg.base, LDAP_SCOPE_SUBTREE, r->filter,
		                     (char **)(uintptr_t)attrs, 0, NULL, NULL, &tv, 2, &msgid);
		tg_counter_inc(&p->stats.searches);
	} else {
		log_ev(LOG_LVL_INFO, r->cid, "ldap_user_bind_start",
		       LOG_S("server", p->cfg.uri[c->server]), LOG_S("dn", r->dn),
		       LOG_U("credential_length", r->pwlen));
		rc = dir_ldap_simple_bind_async(c->ld, r->dn, r->pw, r->pwlen, &msgid);
		if (rc == LDAP_SUCCESS)
			tg_counter_inc(&p->stats.user_binds);
	}
	if (rc != LDAP_SUCCESS) {
		conn_fail(c, ldap_err2string(rc));
		return -1;
	}
	r->msgid = msgid;
	TAILQ_REMOVE(&p->queue, r, link);
	r->inflight = 1;
	r->server = c->server;
	r->deadline_ms = tg_mono_ms() + p->cfg.timeout_ms;
	TAILQ_INSERT_TAIL(&p->flying, r, link);
	op_attach(c, r);
	return 0;
}

/* Finds a ready connection with room, or starts opening one. NULL: wait. */
static struct conn *get_conn(struct dir_ldap_pool *p, int s, enum role role)
{
	struct conn *base = p->srv[s].conns + (role == R_SEARCH ? 0 : p->cfg.pool_size);
	int cap = role == R_SEARCH ? SEARCH_INFLIGHT_MAX : 1;
	struct conn *best = NULL, *idle = NULL;
	int connecting = 0;
	for (int i = 0; i < p->cfg.pool_size; i++) {
		struct conn *c = &base[i];
		if (c->st == C_READY && c->inflight < cap &&
		    (!best || c->inflight < best->inflight))
			best = c;
		else if (c->st == C_IDLE && !idle)
			idle = c;
		else if (c->st == C_CONNECTING)
			connecting++;
	}
	/* Grow while every ready connection is busy (a search connection counts as busy
	 * once it carries a few operations, so load spreads over the pool). */
	if (idle && !connecting && (!best || (role == R_SEARCH && best->inflight >= 4)))
		start_connect(p, idle);
	return best;
}

static void pump(struct dir_ldap_pool *p)
{
	if (p->closing)
		return;
	struct lreq *r = TAILQ_FIRST(&p->queue), *next;
	for (; r; r = next) {
		next = TAILQ_NEXT(r, link);
		int s = pick_server(p, r);
		if (s < 0) {
			log_ev(LOG_LVL_WARNING, r->cid, "ldap_unavailable",
			       LOG_S("reason", "every configured server failed or is down"));
			finish(p, r, DIR_LDAP_UNAVAILABLE);
			continue;
		}
		struct conn *c = get_conn(p, s, r->stage == ST_SEARCH ? R_SEARCH : R_BIND);
		if (c && dispatch(p, c, r) != 0) {
			/* The connection broke and requests were requeued: start over. */
			next = TAILQ_FIRST(&p->queue);
		}
	}
}

static void on_sweep(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	struct dir_ldap_pool *p = arg;
	int64_t now = tg_mono_ms();
	struct lreq *r, *next;
	for (r = TAILQ_FIRST(&p->flying); r; r = next) {
		next = TAILQ_NEXT(r, link);
		if (now < r->deadline_ms)
			continue;
		struct conn *c = r->conn;
		tg_counter_inc(&p->stats.timeouts);
		log_ev(LOG_LVL_WARNING, r->cid, "ldap_timeout",
		       LOG_S("server", p->cfg.uri[c->server]),
		       LOG_S("operation", r->stage == ST_SEARCH ? "search" : "bind"));
		conn_fail(c, "operation timed out");
		next = TAILQ_FIRST(&p->flying); /* conn_fail moved several */
	}
	for (r = TAILQ_FIRST(&p->queue); r; r = next) {
		next = TAILQ_NEXT(r, link);
		if (now >= r->queue_deadline_ms) {
			log_ev(LOG_LVL_WARNING, r->cid, "ldap_unavailable",
			       LOG_S("reason", "no connection within the timeout"));
			finish(p, r, DIR_LDAP_UNAVAILABLE);
		}
	}
	/* Probe servers whose back-off ran out; they rejoin when a connection succeeds. */
	for (int s = 0; s < p->cfg.nservers; s++) {
		struct server *sv = &p->srv[s];
		if (sv->st == S_DOWN && now >= sv->down_until_ms && sv->conns[0].st == C_IDLE) {
			sv->st = S_PROBING;
			if (start_connect(p, &sv->conns[0]) != 0)
				server_down(p, s, "probe not started");
		} else if (sv->st == S_PROBING && sv->conns[0].st == C_IDLE) {
			server_down(p, s, "probe failed");
		}
	}
	pump(p);
}

struct dir_ldap_pool *dir_ldap_pool_new(struct loop *l, struct workers *w,
                                        const struct dir_ldap_config *c)
{
	struct dir_ldap_pool *p = calloc(1, sizeof *p);
	if (!p)
		return NULL;
	p->loop = l;
	p->workers = w;
	p->cfg = *c;
	TAILQ_INIT(&p->queue);
	TAILQ_INIT(&p->flying);
	for (int s = 0; s < c->nservers; s++) {
		p->srv[s].conns = calloc((size_t)c->pool_size * 2, sizeof(struct conn));
		if (!p->srv[s].conns) {
			dir_ldap_pool_free(p);
			return NULL;
		}
		for (int i = 0; i < c->pool_size * 2; i++) {
			struct conn *cn = &p->srv[s].conns[i];
			cn->p = p;
			cn->server = s;
			cn->idx = i;
			cn->role = i < c->pool_size ? R_SEARCH : R_BIND;
		}
	}
	p->sweep = event_new(loop_base(l), -1, EV_PERSIST, on_sweep, p);
	struct timeval tv = {0, SWEEP_MS * 1000};
	if (!p->sweep || event_add(p->sweep, &tv) != 0) {
		dir_ldap_pool_free(p);
		return NULL;
	}
	return p;
}

void dir_ldap_pool_shutdown(struct dir_ldap_pool *p)
{
	p->closing = 1;
	struct lreq *r;
	while ((r = TAILQ_FIRST(&p->flying)))
		finish(p, r, DIR_LDAP_UNAVAILABLE);
	while ((r = TAILQ_FIRST(&p->queue)))
		finish(p, r, DIR_LDAP_UNAVAILABLE);
	for (int s = 0; s < p->cfg.nservers; s++)
		for (int i = 0; p->srv[s].conns && i < p->cfg.pool_size * 2; i++)
			conn_close(&p->srv[s].conns[i]);
	if (p->sweep)
		event_del(p->sweep);
}

void dir_ldap_pool_free(struct dir_ldap_pool *p)
{
	if (!p)
		return;
	for (int s = 0; s < p->cfg.nservers; s++) {
		for (int i = 0; p->srv[s].conns && i < p->cfg.pool_size * 2; i++)
			conn_close(&p->srv[s].conns[i]);
		free(p->srv[s].conns);
	}
	if (p->sweep)
		event_free(p->sweep);
	dir_ldap_config_clear(&p->cfg);
	free(p);
}

void dir_ldap_pool_auth(struct dir_ldap_pool *p, const char *cid, const char *user, const char *pw,
                        size_t pwlen, dir_ldap_cb cb, void *ud)
{
	struct lreq *r = calloc(1, sizeof *r);
	if (!r || p->closing || !p->cfg.nservers || !pwlen) {
		free(r);
		cb(ud, DIR_LDAP_UNAVAILABLE, "");
		return;
	}
	r->cb = cb;
	r->ud = ud;
	tg_strlcpy(r->cid, cid ? cid : "-", sizeof r->cid);
	if (dir_ldap_filter(p->cfg.filter, user, r->filter, sizeof r->filter) != 0 ||
	    !(r->pw = malloc(pwlen))) {
		free(r);
		cb(ud, DIR_LDAP_UNAVAILABLE, "");
		return;
	}
	memcpy(r->pw, pw, pwlen);
	r->pwlen = pwlen;
	int64_t now = tg_mono_ms();
	r->queue_deadline_ms =
	    now + p->cfg.timeout_ms + (int64_t)p->cfg.connect_timeout_ms * p->cfg.nservers;
	TAILQ_INSERT_TAIL(&p->queue, r, link);
	pump(p);
}
