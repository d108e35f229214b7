/* SPDX-License-Identifier: ISC */
#include "xsi/hub.h"

#include "core/http.h"
#include "core/log.h"
#include "core/loop.h"
#include "core/shtable.h"
#include "core/util.h"
#include "xsi/body.h"
#include "xsi/doc.h"

#include <errno.h>
#include <pthread.h>
#include <sodium.h>
#include <stdlib.h>
#include <string.h>
#include <sys/queue.h>
#include <time.h>

#define DOC_MAX 8192 /* bytes of one document: names are at most 128 bytes, a contact 512 */

static const char *const packages[XSI_PKGS] = {"Device State", "Registration"};

int xsi_package_parse(const char *name)
{
	for (int i = 0; i < XSI_PKGS; i++)
		if (strcmp(name, packages[i]) == 0)
			return i;
	return -1;
}

const char *xsi_package_name(enum xsi_package p)
{
	return (unsigned)p < XSI_PKGS ? packages[p] : "?";
}

/* One document waiting for a channel's loop. */
struct out {
	TAILQ_ENTRY(out) link;
	int64_t queued_us; /* when it was queued (tg_mono_us): the write delay's start */
	size_t len;
	char data[];
};
TAILQ_HEAD(out_list, out);

struct set;

struct chan {
	struct shtable_node node; /* by id */
	TAILQ_ENTRY(chan) set_link, all_link;
	char id[XSI_HEX_ID + 1];
	struct xsi_hub *hub;
	struct set *set; /* NULL once terminated or aborted: no more events */
	struct http_request *req;
	struct loop *loop;
	int priority, weight;
	int64_t expires_ms, seen_ms;
	int64_t beat_ms; /* its next ChannelHeartBeat: each channel has its own phase */
	int refs;        /* the hub's table (until ended) + posts in flight */
	int posted;      /* a flush is queued on the loop */
	int ended;       /* the answer was ended (loop only) */
	int terminate;   /* send ChannelTerminated, then end */
	char reason[160];
	struct out_list out;
	size_t out_bytes;
};
TAILQ_HEAD(chan_list, chan);

struct ev {
	struct shtable_node node; /* by id */
	TAILQ_ENTRY(ev) link;     /* the set's queue, oldest first */
	struct set *set;
	char id[XSI_HEX_ID + 1];
	char sub[XSI_HEX_ID + 1];
	char user[129], target[129], app[XSI_ID_MAX + 1];
	uint64_t seq;
	int64_t sent_ms; /* 0: never sent */
	char last_chan[XSI_HEX_ID + 1];
	char *data; /* the eventData element */
};
TAILQ_HEAD(ev_list, ev);

struct sub {
	struct shtable_node node; /* by id */
	TAILQ_ENTRY(sub) all_link, set_link;
	char id[XSI_HEX_ID + 1];
	struct set *set;
	char target[129];
	int is_group;
	enum xsi_package package;
	char app[XSI_ID_MAX + 1];
	int64_t expires_ms;
	uint64_t seq;
	struct xsi_target *t;
	size_t nt;
};
TAILQ_HEAD(sub_list, sub);

struct set {
	struct shtable_node node; /* by identity "\n" channelSetId */
	char key[256 + 1 + XSI_ID_MAX + 1];
	char identity[256];
	char id[XSI_ID_MAX + 1];
	struct chan_list chans;
	struct sub_list subs;
	struct ev_list queue;
	int nqueued;
	unsigned rr; /* the redelivery's channel turn */
};

/* The index from a device to the subscriptions that target it, so that a change looks
 * at its own subscribers only (10,000 subscriptions, 5,000 changes a second). */
struct devref {
	struct sub *u;
	size_t i; /* u->t[i] */
};
struct dev {
	struct shtable_node node; /* by name */
	struct devref *v;
	size_t n, cap;
	char name[];
};

struct xsi_hub {
	struct xsi_hub_options o;
	pthread_mutex_t mu;
	struct shtable *chans, *sets, *subs, *evs, *devs;
	struct chan_list all_chans; /* every channel not yet freed */
	struct sub_list all_subs;
	int nchans; /* live (in a set) */
	/* No subscription expires, no event is due for redelivery before these (lower
	 * bounds, monotonic ms): the tick skips those walks until then. */
	int64_t sub_due_ms, redeliver_due_ms;
	struct xsi_hub_stats st;
};

/* --- tables (under h->mu; the tables have no locks of their own) -------------------- */

static struct shtable_node *tfind(struct shtable *t, const char *key)
{
	struct shtable_at at;
	shtable_lock_str(t, key, &at);
	struct shtable_node *n = shtable_find(&at);
	shtable_unlock(&at);
	return n;
}

static void tadd(struct shtable *t, struct shtable_node *n, const char *key)
{
	struct shtable_at at;
	shtable_lock_str(t, key, &at);
	shtable_insert(&at, n, key, strlen(key));
	shtable_unlock(&at);
}

static void tdel(struct shtable *t, struct shtable_node *n, const char *key)
{
	struct shtable_at at;
	shtable_lock_str(t, key, &at);
	shtable_remove(&at, n);
	shtable_unlock(&at);
}

/* A set still linked when the hub goes (xsi_hub_free), with its queue. */
static void set_free_entry(struct shtable_node *n)
{
	struct set *s = SHTABLE_ENTRY(n, struct set, node);
	struct ev *e;
	while ((e = TAILQ_FIRST(&s->queue))) {
		TAILQ_REMOVE(&s->queue, e, link);
		free(e->data);
		free(e);
	}
	free(s);
}

static void dev_free(struct shtable_node *n)
{
	struct dev *d = SHTABLE_ENTRY(n, struct dev, node);
	free(d->v);
	free(d);
}

/* Indexes u's targets (under h->mu). A target that cannot be indexed (out of memory)
 * gets no events: logged. */
static void index_add(struct xsi_hub *h, struct sub *u)
{
	for (size_t i = 0; i < u->nt; i++) {
		const char *name = u->t[i].device;
		struct shtable_node *n = tfind(h->devs, name);
		struct dev *d = n ? SHTABLE_ENTRY(n, struct dev, node) : NULL;
		if (!d && (d = calloc(1, sizeof *d + strlen(name) + 1))) {
			memcpy(d->name, name, strlen(name) + 1);
			tadd(h->devs, &d->node, d->name);
		}
		if (d && d->n == d->cap) {
			size_t cap = d->cap ? d->cap * 2 : 4;
			struct devref *v = realloc(d->v, cap * sizeof *v);
			if (v) {
				d->v = v;
				d->cap = cap;
			}
		}
		if (!d || d->n == d->cap) {
			log_ev(LOG_LVL_ERROR, NULL, "xsi_index_failed", LOG_S("device", name),
			       LOG_S("subscription", u->id));
			continue;
		}
		d->v[d->n++] = (struct devref){u, i};
	}
}

static void index_del(struct xsi_hub *h, struct sub *u)
{
	for (size_t i = 0; i < u->nt; i++) {
		struct shtable_node *n = tfind(h->devs, u->t[i].device);
		struct dev *d = n ? SHTABLE_ENTRY(n, struct dev, node) : NULL;
		for (size_t k = 0; d && k < d->n;)
			if (d->v[k].u == u)
				d->v[k] = d->v[--d->n];
			else
				k++;
		if (d && !d->n) {
			tdel(h->devs, &d->node, d->name);
			dev_free(&d->node);
		}
	}
}

static void new_id(char out[XSI_HEX_ID + 1])
{
	unsigned char r[XSI_HEX_ID / 2];
	randombytes_buf(r, sizeof r);
	sodium_bin2hex(out, XSI_HEX_ID + 1, r, sizeof r);
}

struct xsi_hub *xsi_hub_new(const struct xsi_hub_options *o)
{
	struct xsi_hub *h = calloc(1, sizeof *h);
	if (!h)
		return NULL;
	h->o = *o;
	const struct shtable_opts so = {.shards = 1, .buckets = 1024, .no_locks = 1};
	h->chans = shtable_new(&so);
	h->sets = shtable_new(&(struct shtable_opts){
	    .shards = 1, .buckets = 1024, .no_locks = 1, .free_entry = set_free_entry});
	h->subs = shtable_new(&so);
	h->evs = shtable_new(&so);
	h->devs = shtable_new(&(struct shtable_opts){
	    .shards = 1, .buckets = 1024, .no_locks = 1, .free_entry = dev_free});
	TAILQ_INIT(&h->all_chans);
	TAILQ_INIT(&h->all_subs);
	if (!h->chans || !h->sets || !h->subs || !h->evs || pthread_mutex_init(&h->mu, NULL) != 0) {
		shtable_free(h->chans);
		shtable_free(h->sets);
		shtable_free(h->subs);
		shtable_free(h->evs);
		free(h);
		return NULL;
	}
	return h;
}

static void out_clear(struct chan *c)
{
	struct out *m;
	while ((m = TAILQ_FIRST(&c->out))) {
		TAILQ_REMOVE(&c->out, m, link);
		free(m);
	}
	c->out_bytes = 0;
}

static void ev_free(struct ev *e)
{
	free(e->data);
	free(e);
}

/* --- sets --------------------------------------------------------------------------- */

static void set_key(char *out, size_t cap, const char *identity, const char *id)
{
	struct tg_sbuf b = {out, cap, 0, 0};
	tg_sbuf_put(&b, identity);
	tg_sbuf_put(&b, "\n");
	tg_sbuf_put(&b, id);
}

static struct set *set_get(struct xsi_hub *h, const char *identity, const char *id, int make)
{
	char key[sizeof((struct set *)0)->key];
	set_key(key, sizeof key, identity, id);
	struct shtable_node *n = tfind(h->sets, key);
	if (n || !make)
		return n ? SHTABLE_ENTRY(n, struct set, node) : NULL;
	struct set *s = calloc(1, sizeof *s);
	if (!s)
		return NULL;
	memcpy(s->key, key, sizeof key);
	tg_strlcpy(s->identity, identity, sizeof s->identity);
	tg_strlcpy(s->id, id, sizeof s->id);
	TAILQ_INIT(&s->chans);
	TAILQ_INIT(&s->subs);
	TAILQ_INIT(&s->queue);
	tadd(h->sets, &s->node, s->key);
	h->st.sets++;
	return s;
}

static void queue_clear(struct xsi_hub *h, struct set *s)
{
	struct ev *e;
	while ((e = TAILQ_FIRST(&s->queue))) {
		TAILQ_REMOVE(&s->queue, e, link);
		tdel(h->evs, &e->node, e->id);
		ev_free(e);
		h->st.dropped++;
	}
	s->nqueued = 0;
}

/* A set with neither channels nor subscriptions goes, with its queue. */
static void set_maybe_free(struct xsi_hub *h, struct set *s)
{
	if (!TAILQ_EMPTY(&s->chans) || !TAILQ_EMPTY(&s->subs))
		return;
	queue_clear(h, s);
	tdel(h->sets, &s->node, s->key);
	h->st.sets--;
	free(s);
}

/* --- channel output ----------------------------------------------------------------- */

/* The calling thread's CPU time, microseconds: what the tick costs, whatever the
 * machine's load (its wall-clock hold of the lock includes being preempted). */
static int64_t thread_cpu_us(void)
{
	struct timespec t;
	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t);
	return (int64_t)t.tv_sec * 1000000 + t.tv_nsec / 1000;
}

/* Counts a delay in the stats' buckets (< 1, 5, 20, 100 ms, more). */
static void delay_count(uint64_t b[XSI_DELAY_BUCKETS], int64_t us)
{
	static const int64_t top_us[XSI_DELAY_BUCKETS - 1] = {1000, 5000, 20000, 100000};
	int i = 0;
	while (i < XSI_DELAY_BUCKETS - 1 && us >= top_us[i])
		i++;
	b[i]++;
}

static void chan_unref(struct xsi_hub *h, struct chan *c)
{
	if (--c->refs > 0)
		return;
	TAILQ_REMOVE(&h->all_chans, c, all_link);
	out_clear(c);
	free(c);
}

/* On the channel's loop: writes what waits, and the end when it is to end. */
static void chan_flush(void *arg)
{
	struct chan *c = arg;
	struct xsi_hub *h = c->hub;
	pthread_mutex_lock(&h->mu);
	struct out_list todo = TAILQ_HEAD_INITIALIZER(todo);
	TAILQ_CONCAT(&todo, &c->out, link);
	c->out_bytes = 0;
	c->posted = 0;
	int end = c->terminate && !c->ended;
	if (end)
		c->ended = 1;
	pthread_mutex_unlock(&h->mu);
	struct out *m;
	int gone = 0;
	int64_t oldest_us = 0;
	while ((m = TAILQ_FIRST(&todo))) {
		TAILQ_REMOVE(&todo, m, link);
		if (!oldest_us)
			oldest_us = m->queued_us;
		/* A stream that failed (-EPIPE: on_abort follows) takes nothing more. */
		if (!gone && (!c->ended || end))
			gone = http_stream_chunk(c->req, m->data, m->len) != 0;
		free(m);
	}
	if (end)
		http_stream_end(c->req);
	pthread_mutex_lock(&h->mu);
	if (oldest_us)
		delay_count(h->st.write_delay, tg_mono_us() - oldest_us);
	chan_unref(h, c);
	pthread_mutex_unlock(&h->mu);
}

/* Queues a document for c (under h->mu). Returns 0, or -1 when c takes no more. */
static int chan_send(struct xsi_hub *h, struct chan *c, const char *doc, size_t len)
{
	(void)h;
	if (c->terminate || c->ended)
		return -1;
	if (c->out_bytes + len > XSI_OUT_MAX) {
		/* Its loop has not kept up: end it rather than queue more. */
		c->terminate = 1;
		tg_strlcpy(c->reason, "output queue full", sizeof c->reason);
		return -1;
	}
	struct out *m = malloc(sizeof *m + len);
	if (!m)
		return -1;
	memcpy(m->data, doc, len);
	m->len = len;
	m->queued_us = tg_mono_us();
	TAILQ_INSERT_TAIL(&c->out, m, link);
	c->out_bytes += len;
	if (!c->posted) {
		c->refs++;
		c->posted = 1;
		if (loop_post(c->loop, chan_flush, c) != 0) {
			c->refs--;
			c->posted = 0;
			return -1;
		}
	}
	return 0;
}

/* Takes c out of its set and has its loop send ChannelTerminated and end the answer
 * (under h->mu). */
static void chan_terminate(struct xsi_hub *h, struct chan *c, const char *reason)
{
	if (!c->set)
		return;
	struct set *s = c->set;
	char doc[1024];
	struct tg_sbuf b = {doc, sizeof doc, 0, 0};
	xsi_doc_channel_terminated(&b, c->id, reason);
	if (tg_sbuf_len(&b) > 0)
		chan_send(h, c, doc, (size_t)tg_sbuf_len(&b));
	c->terminate = 1;
	if (!c->reason[0])
		tg_strlcpy(c->reason, reason, sizeof c->reason);
	if (!c->posted && loop_post(c->loop, chan_flush, c) == 0) {
		c->refs++;
		c->posted = 1;
	}
	TAILQ_REMOVE(&s->chans, c, set_link);
	tdel(h->chans, &c->node, c->id);
	c->set = NULL;
	h->nchans--;
	h->st.terminated_channels++;
	log_ev(LOG_LVL_NOTICE, NULL, "xsi_channel_terminated", LOG_S("channel", c->id),
	       LOG_S("identity", s->identity), LOG_S("channel_set", s->id),
	       LOG_S("reason", c->reason));
	chan_unref(h, c); /* the table's reference */
	set_maybe_free(h, s);
}

/* The connection ended under a channel (on its loop): the answer must still end. */
static void chan_aborted(struct http_request *req, void *arg)
{
	struct chan *c = arg;
	struct xsi_hub *h = c->hub;
	pthread_mutex_lock(&h->mu);
	struct set *s = c->set;
	int end = !c->ended;
	c->ended = 1;
	if (s) {
		TAILQ_REMOVE(&s->chans, c, set_link);
		tdel(h->chans, &c->node, c->id);
		c->set = NULL;
		h->nchans--;
		log_ev(LOG_LVL_INFO, NULL, "xsi_channel_closed", LOG_S("channel", c->id),
		       LOG_S("identity", s->identity), LOG_S("reason", "connection closed"));
		set_maybe_free(h, s);
	}
	pthread_mutex_unlock(&h->mu);
	if (end)
		http_stream_end(req);
	pthread_mutex_lock(&h->mu);
	if (s)
		chan_unref(h, c);
	pthread_mutex_unlock(&h->mu);
}

/* --- delivery ----------------------------------------------------------------------- */

/* The live channel of s to send on: the lowest priority value; with avoid, another one
 * when there is one. NULL when s has none. */
static struct chan *pick(struct set *s, const char *avoid)
{
	struct chan *best = NULL, *c;
	TAILQ_FOREACH(c, &s->chans, set_link)
	{
		if (c->terminate)
			continue;
		if (avoid && avoid[0] && strcmp(c->id, avoid) == 0 && TAILQ_NEXT(c, set_link))
			continue;
		if (!best || c->priority < best->priority)
			best = c;
	}
	if (!best && avoid) /* only the one to avoid is live */
		best = pick(s, NULL);
	return best;
}

static void ev_send(struct xsi_hub *h, struct ev *e, struct chan *c, int64_t now_ms)
{
	char doc[DOC_MAX];
	struct tg_sbuf b = {doc, sizeof doc, 0, 0};
	const struct xsi_doc_event d = {e->id, e->user,   e->app,  e->sub,
	                                c->id, e->target, e->data, e->seq};
	xsi_doc_event(&b, &d);
	if (tg_sbuf_len(&b) <= 0 || chan_send(h, c, doc, (size_t)tg_sbuf_len(&b)) != 0) {
		h->redeliver_due_ms = 0; /* the next tick tries again */
		return;
	}
	if (e->sent_ms)
		h->st.redelivered++;
	else
		h->st.sent++;
	e->sent_ms = now_ms ? now_ms : 1;
	int64_t due = e->sent_ms + (int64_t)h->o.redeliver_s * 1000;
	if (due < h->redeliver_due_ms)
		h->redeliver_due_ms = due;
	tg_strlcpy(e->last_chan, c->id, sizeof e->last_chan);
}

/* Queues an event of sub (under h->mu), sends it when the set has a channel. */
static void ev_add(struct xsi_hub *h, struct sub *u, const char *user, const char *target,
                   const char *data)
{
	struct set *s = u->set;
	if (s->nqueued >= h->o.queue_max) {
		int n = s->nqueued;
		struct chan *c;
		while ((c = TAILQ_FIRST(&s->chans)))
			chan_terminate(h, c, "event queue full: too many unacknowledged events");
		log_ev(LOG_LVL_WARNING, NULL, "xsi_queue_full", LOG_S("identity", s->identity),
		       LOG_S("channel_set", s->id), LOG_I("dropped", n));
		queue_clear(h, s);
	}
	struct ev *e = calloc(1, sizeof *e);
	if (!e || !(e->data = strdup(data))) {
		free(e);
		return;
	}
	e->set = s;
	new_id(e->id);
	tg_strlcpy(e->sub, u->id, sizeof e->sub);
	tg_strlcpy(e->user, user, sizeof e->user);
	tg_strlcpy(e->target, target, sizeof e->target);
	tg_strlcpy(e->app, u->app, sizeof e->app);
	e->seq = ++u->seq;
	TAILQ_INSERT_TAIL(&s->queue, e, link);
	tadd(h->evs, &e->node, e->id);
	s->nqueued++;
	h->st.events++;
	struct chan *c = pick(s, NULL);
	if (c)
		ev_send(h, e, c, tg_mono_ms());
}

void xsi_hub_device_state(struct xsi_hub *h, const char *device, int in_service,
                          const char *contact)
{
	char data[2048];
	pthread_mutex_lock(&h->mu);
	struct shtable_node *n = tfind(h->devs, device);
	struct dev *d = n ? SHTABLE_ENTRY(n, struct dev, node) : NULL;
	for (size_t k = 0; d && k < d->n; k++) {
		struct sub *u = d->v[k].u;
		const char *user = u->t[d->v[k].i].user;
		struct tg_sbuf b = {data, sizeof data, 0, 0};
		if (u->package == XSI_PKG_DEVICE_STATE)
			xsi_doc_device_state(&b, device, in_service, contact);
		else
			xsi_doc_registration(&b, device, in_service, contact);
		if (tg_sbuf_len(&b) > 0)
			ev_add(h, u, user, user, data);
	}
	pthread_mutex_unlock(&h->mu);
}

/* --- channels ----------------------------------------------------------------------- */

static struct chan *chan_of(struct xsi_hub *h, const char *identity, const char *id)
{
	struct shtable_node *n = tfind(h->chans, id);
	struct chan *c = n ? SHTABLE_ENTRY(n, struct chan, node) : NULL;
	return c && c->set && strcmp(c->set->identity, identity) == 0 ? c : NULL;
}

/* A channel's first heartbeat: a period after it opened, less up to a quarter of it at
 * random, so that channels opened together (a reconnecting client) do not beat in the
 * same tick ever after: 10,000 heartbeats in one tick held the hub's lock and filled
 * the loops' queues for tens of milliseconds, and events waited behind them. */
static int64_t first_beat(const struct xsi_hub *h, int64_t now)
{
	int64_t period = (int64_t)h->o.heartbeat_s * 1000;
	uint32_t jitter = (uint32_t)(period / 4);
	return now + period - (jitter ? (int64_t)randombytes_uniform(jitter + 1) : 0);
}

int xsi_hub_channel_open(struct xsi_hub *h, const char *identity, const struct xsi_body *b,
                         struct http_request *req, char *id)
{
	struct chan *c = calloc(1, sizeof *c);
	if (!c)
		return -ENOMEM;
	pthread_mutex_lock(&h->mu);
	struct set *s =
	    h->nchans < h->o.channels_max ? set_get(h, identity, b->channel_set_id, 1) : NULL;
	if (!s) {
		int full = h->nchans >= h->o.channels_max;
		pthread_mutex_unlock(&h->mu);
		free(c);
		return full ? -ENOSPC : -ENOMEM;
	}
	int64_t now = tg_mono_ms();
	int expires = b->expires >= 0 ? b->expires : h->o.expires_default_s;
	new_id(c->id);
	c->hub = h;
	c->set = s;
	c->req = req;
	c->loop = stream_loop(http_stream(req));
	c->priority = b->priority;
	c->weight = b->weight;
	c->expires_ms = now + (int64_t)expires * 1000;
	c->seen_ms = now;
	c->beat_ms = first_beat(h, now);
	c->refs = 1;
	TAILQ_INIT(&c->out);
	TAILQ_INSERT_TAIL(&s->chans, c, set_link);
	TAILQ_INSERT_TAIL(&h->all_chans, c, all_link);
	tadd(h->chans, &c->node, c->id);
	h->nchans++;
	memcpy(id, c->id, XSI_HEX_ID + 1);
	char doc[1024];
	struct tg_sbuf d = {doc, sizeof doc, 0, 0};
	xsi_doc_channel(&d, c->id, s->id, c->priority, c->weight, expires);
	/* The stream starts here, on the loop, before any event can be posted to it. */
	if (http_stream_begin(req, 200, "application/xml; charset=UTF-8") == 0)
		http_stream_chunk(req, doc, (size_t)tg_sbuf_len(&d));
	http_on_abort(req, chan_aborted, c);
	/* What the set's subscriptions have not had acknowledged (a reconnect). */
	struct ev *e;
	TAILQ_FOREACH(e, &s->queue, link)
	ev_send(h, e, c, now);
	log_ev(LOG_LVL_NOTICE, NULL, "xsi_channel_opened", LOG_S("channel", c->id),
	       LOG_S("identity", identity), LOG_S("channel_set", s->id), LOG_I("expires", expires),
	       LOG_I("redelivered", s->nqueued));
	pthread_mutex_unlock(&h->mu);
	return 0;
}

int xsi_hub_channel_refresh(struct xsi_hub *h, const char *identity, const char *id, int expires_s)
{
	pthread_mutex_lock(&h->mu);
	struct chan *c = chan_of(h, identity, id);
	if (c) {
		int64_t now = tg_mono_ms();
		int e = expires_s >= 0 ? expires_s : h->o.expires_default_s;
		c->expires_ms = now + (int64_t)e * 1000;
		c->seen_ms = now;
	}
	pthread_mutex_unlock(&h->mu);
	return c ? 0 : -ENOENT;
}

int xsi_hub_channel_heartbeat(struct xsi_hub *h, const char *identity, const char *id)
{
	pthread_mutex_lock(&h->mu);
	struct chan *c = chan_of(h, identity, id);
	if (c)
		c->seen_ms = tg_mono_ms();
	pthread_mutex_unlock(&h->mu);
	return c ? 0 : -ENOENT;
}

int xsi_hub_channel_delete(struct xsi_hub *h, const char *identity, const char *id)
{
	pthread_mutex_lock(&h->mu);
	struct chan *c = chan_of(h, identity, id);
	if (c)
		chan_terminate(h, c, "deleted by the client");
	pthread_mutex_unlock(&h->mu);
	return c ? 0 : -ENOENT;
}

int xsi_hub_ack(struct xsi_hub *h, const char *identity, const char *event_id)
{
	pthread_mutex_lock(&h->mu);
	struct shtable_node *n = tfind(h->evs, event_id);
	struct ev *e = n ? SHTABLE_ENTRY(n, struct ev, node) : NULL;
	if (e && strcmp(e->set->identity, identity) != 0)
		e = NULL;
	if (e) {
		struct set *s = e->set;
		TAILQ_REMOVE(&s->queue, e, link);
		tdel(h->evs, &e->node, e->id);
		s->nqueued--;
		h->st.acked++;
		/* An acknowledgement is a sign of life of the set's channels. */
		struct chan *c;
		int64_t now = tg_mono_ms();
		TAILQ_FOREACH(c, &s->chans, set_link)
		c->seen_ms = now;
		ev_free(e);
	}
	pthread_mutex_unlock(&h->mu);
	return e ? 0 : -ENOENT;
}

/* --- subscriptions ------------------------------------------------------------------ */

static struct sub *sub_of(struct xsi_hub *h, const char *identity, const char *id)
{
	struct shtable_node *n = tfind(h->subs, id);
	struct sub *u = n ? SHTABLE_ENTRY(n, struct sub, node) : NULL;
	return u && (!identity || strcmp(u->set->identity, identity) == 0) ? u : NULL;
}

static int targets_copy(struct sub *u, const struct xsi_target *t, size_t n)
{
	struct xsi_target *c = n ? malloc(n * sizeof *c) : NULL;
	if (n && !c)
		return -ENOMEM;
	if (n)
		memcpy(c, t, n * sizeof *c);
	free(u->t);
	u->t = c;
	u->nt = n;
	return 0;
}

int xsi_hub_sub_add(struct xsi_hub *h, const struct xsi_sub_request *r, const struct xsi_target *t,
                    size_t n, char *id)
{
	struct sub *u = calloc(1, sizeof *u);
	if (!u || targets_copy(u, t, n) != 0) {
		free(u);
		return -ENOMEM;
	}
	pthread_mutex_lock(&h->mu);
	int full = (int)h->st.subscriptions >= h->o.subscriptions_max;
	struct set *s = full ? NULL : set_get(h, r->identity, r->set_id, 1);
	if (!s) {
		pthread_mutex_unlock(&h->mu);
		free(u->t);
		free(u);
		return full ? -ENOSPC : -ENOMEM;
	}
	int expires = r->expires_s >= 0 ? r->expires_s : h->o.expires_default_s;
	new_id(u->id);
	u->set = s;
	tg_strlcpy(u->target, r->target, sizeof u->target);
	u->is_group = r->is_group;
	u->package = r->package;
	tg_strlcpy(u->app, r->application_id ? r->application_id : "", sizeof u->app);
	u->expires_ms = tg_mono_ms() + (int64_t)expires * 1000;
	if (u->expires_ms < h->sub_due_ms)
		h->sub_due_ms = u->expires_ms;
	TAILQ_INSERT_TAIL(&s->subs, u, set_link);
	TAILQ_INSERT_TAIL(&h->all_subs, u, all_link);
	tadd(h->subs, &u->node, u->id);
	index_add(h, u);
	h->st.subscriptions++;
	memcpy(id, u->id, XSI_HEX_ID + 1);
	/* Accepted either way (a channel may open later, and gets what waits), but a set with
	 * no channel on this node is what a cloud client sees when its channel is on another
	 * node of a cluster (docs/cti-events.md, Limits): said at warning, with the count. */
	int channels = 0;
	const struct chan *c;
	TAILQ_FOREACH(c, &s->chans, set_link)
	{
		if (!c->terminate)
			channels++;
	}
	log_ev(channels ? LOG_LVL_NOTICE : LOG_LVL_WARNING, NULL, "xsi_subscribed",
	       LOG_S("subscription", u->id), LOG_S("identity", r->identity),
	       LOG_S("channel_set", s->id), LOG_S(r->is_group ? "group" : "user", r->target),
	       LOG_S("package", xsi_package_name(r->package)), LOG_U("devices", n),
	       LOG_I("expires", expires), LOG_I("channels", channels),
	       LOG_S("note", channels ? NULL
	                              : "no channel of this set on this node: its events wait "
	                                "here for one (is the client's channel on another node?)"));
	pthread_mutex_unlock(&h->mu);
	return 0;
}

int xsi_hub_sub_refresh(struct xsi_hub *h, const char *identity, const char *id, int expires_s)
{
	pthread_mutex_lock(&h->mu);
	struct sub *u = sub_of(h, identity, id);
	if (u) {
		u->expires_ms =
		    tg_mono_ms() +
		    (int64_t)(expires_s >= 0 ? expires_s : h->o.expires_default_s) * 1000;
		if (u->expires_ms < h->sub_due_ms)
			h->sub_due_ms = u->expires_ms;
	}
	pthread_mutex_unlock(&h->mu);
	return u ? 0 : -ENOENT;
}

/* Unlinks and frees u (under h->mu); with reason, a SubscriptionTerminatedEvent first. */
static void sub_end(struct xsi_hub *h, struct sub *u, const char *reason)
{
	struct set *s = u->set;
	if (reason) {
		char data[512];
		struct tg_sbuf b = {data, sizeof data, 0, 0};
		xsi_doc_subscription_terminated(&b, reason);
		if (tg_sbuf_len(&b) > 0)
			ev_add(h, u, u->target, u->target, data);
		h->st.terminated_subscriptions++;
	}
	log_ev(LOG_LVL_NOTICE, NULL, "xsi_subscription_ended", LOG_S("subscription", u->id),
	       LOG_S("identity", s->identity), LOG_S(u->is_group ? "group" : "user", u->target),
	       LOG_S("reason", reason ? reason : "deleted by the client"));
	index_del(h, u);
	TAILQ_REMOVE(&s->subs, u, set_link);
	TAILQ_REMOVE(&h->all_subs, u, all_link);
	tdel(h->subs, &u->node, u->id);
	h->st.subscriptions--;
	free(u->t);
	free(u);
	set_maybe_free(h, s);
}

int xsi_hub_sub_delete(struct xsi_hub *h, const char *identity, const char *id)
{
	pthread_mutex_lock(&h->mu);
	struct sub *u = sub_of(h, identity, id);
	if (u)
		sub_end(h, u, NULL);
	pthread_mutex_unlock(&h->mu);
	return u ? 0 : -ENOENT;
}

int xsi_hub_sub_list(struct xsi_hub *h,
                     void (*fn)(void *ud, const char *id, const char *target, int is_group),
                     void *ud)
{
	pthread_mutex_lock(&h->mu);
	int n = 0;
	struct sub *u;
	TAILQ_FOREACH(u, &h->all_subs, all_link)
	{
		fn(ud, u->id, u->target, u->is_group);
		n++;
	}
	pthread_mutex_unlock(&h->mu);
	return n;
}

int xsi_hub_sub_retarget(struct xsi_hub *h, const char *id, const struct xsi_target *t, size_t n)
{
	pthread_mutex_lock(&h->mu);
	struct sub *u = sub_of(h, NULL, id);
	int rc = -ENOENT;
	if (u) {
		index_del(h, u);
		rc = targets_copy(u, t, n);
		index_add(h, u); /* the new targets, or the old ones when the copy failed */
	}
	pthread_mutex_unlock(&h->mu);
	return rc;
}

int xsi_hub_sub_terminate(struct xsi_hub *h, const char *id, const char *reason)
{
	pthread_mutex_lock(&h->mu);
	struct sub *u = sub_of(h, NULL, id);
	if (u)
		sub_end(h, u, reason);
	pthread_mutex_unlock(&h->mu);
	return u ? 0 : -ENOENT;
}

/* --- time --------------------------------------------------------------------------- */

/* Records how long the tick held the lock since t0_us (under h->mu). */
static void hold_count(struct xsi_hub *h, int64_t t0_us)
{
	int64_t took_us = tg_mono_us() - t0_us;
	if ((uint64_t)took_us > h->st.tick_max_us)
		h->st.tick_max_us = (uint64_t)took_us;
}

/* One channel's expiry, client timeout and heartbeat (under h->mu). */
static void tick_channel(struct xsi_hub *h, struct chan *c, int64_t now, const char *beat,
                         size_t beat_len)
{
	int64_t period = (int64_t)h->o.heartbeat_s * 1000;
	if (now >= c->expires_ms)
		chan_terminate(h, c, "expired");
	else if (h->o.client_timeout_s && now - c->seen_ms >= (int64_t)h->o.client_timeout_s * 1000)
		chan_terminate(h, c, "no heartbeat from the client");
	else if (now >= c->beat_ms) {
		chan_send(h, c, beat, beat_len);
		/* Its own phase, kept: the tick is late by up to a second, not the beat. */
		c->beat_ms += period;
		if (c->beat_ms <= now)
			c->beat_ms = now + period;
	}
	if (c->terminate && c->set) /* chan_send found its output full */
		chan_terminate(h, c, c->reason);
}

/* Every channel, TICK_BATCH at a time: the lock is let go between batches, so that
 * device-state changes and flushes are not held up by a walk of 10,000 channels (it
 * held the lock for tens of milliseconds on a busy machine). The next channel is held
 * by a reference meanwhile: a channel stays in all_chans until its last reference
 * goes. Called and returns with h->mu held. */
#define TICK_BATCH 256
static void tick_channels(struct xsi_hub *h, int64_t now, int64_t *t0_us)
{
	char beat[256];
	struct tg_sbuf b = {beat, sizeof beat, 0, 0};
	xsi_doc_heartbeat(&b);
	struct chan *c = TAILQ_FIRST(&h->all_chans), *cn;
	int n = 0;
	while (c) {
		cn = TAILQ_NEXT(c, all_link);
		if (c->set)
			tick_channel(h, c, now, beat, (size_t)tg_sbuf_len(&b));
		c = cn;
		if (!c || ++n % TICK_BATCH)
			continue;
		c->refs++;
		hold_count(h, *t0_us);
		pthread_mutex_unlock(&h->mu);
		pthread_mutex_lock(&h->mu);
		*t0_us = tg_mono_us();
		if (c->refs == 1) { /* it was freed meanwhile but for this reference */
			cn = TAILQ_NEXT(c, all_link);
			chan_unref(h, c);
			c = cn;
		} else {
			c->refs--;
		}
	}
}

/* Redelivery: an event sent redeliver_s ago and not acknowledged goes again, on another
 * channel of its set when there is one. Only when one can be due (redeliver_due_ms): a
 * walk of every set's queue each second cost as much as the rest of the tick. */
static void tick_redeliver(struct xsi_hub *h, int64_t now)
{
	if (now < h->redeliver_due_ms)
		return;
	int64_t late = (int64_t)h->o.redeliver_s * 1000, due = INT64_MAX;
	struct chan *c;
	TAILQ_FOREACH(c, &h->all_chans, all_link)
	{
		struct set *s = c->set;
		if (!s || TAILQ_FIRST(&s->chans) != c) /* each set once: at its first channel */
			continue;
		struct ev *e;
		TAILQ_FOREACH(e, &s->queue, link)
		{
			if (!e->sent_ms || now - e->sent_ms >= late) {
				struct chan *to = pick(s, e->last_chan);
				if (to)
					ev_send(h, e, to, now);
			}
			/* Not sent (no channel took it): looked at again next tick. */
			int64_t at = e->sent_ms ? e->sent_ms + late : now;
			if (at < due)
				due = at;
		}
	}
	/* Sets without a channel are not in it: opening a channel sends their queue
	 * (ev_send lowers redeliver_due_ms then). */
	h->redeliver_due_ms = due;
}

void xsi_hub_tick(struct xsi_hub *h, int64_t now)
{
	int64_t cpu0_us = thread_cpu_us();
	pthread_mutex_lock(&h->mu);
	int64_t t0_us = tg_mono_us(); /* how long the lock is held at a stretch */
	tick_channels(h, now, &t0_us);
	/* Subscriptions expire rarely (an hour): walked only when one can have. */
	if (now >= h->sub_due_ms) {
		int64_t due = INT64_MAX;
		struct sub *u, *un;
		for (u = TAILQ_FIRST(&h->all_subs); u && ((un = TAILQ_NEXT(u, all_link)), 1);
		     u = un)
			if (now >= u->expires_ms)
				sub_end(h, u, "expired");
			else if (u->expires_ms < due)
				due = u->expires_ms;
		h->sub_due_ms = due;
	}
	tick_redeliver(h, now);
	hold_count(h, t0_us);
	int64_t cpu_us = thread_cpu_us() - cpu0_us;
	if ((uint64_t)cpu_us > h->st.tick_cpu_max_us)
		h->st.tick_cpu_max_us = (uint64_t)cpu_us;
	h->st.tick_cpu_us += (uint64_t)cpu_us;
	pthread_mutex_unlock(&h->mu);
}

void xsi_hub_close_all(struct xsi_hub *h, const char *reason)
{
	pthread_mutex_lock(&h->mu);
	struct chan *c, *cn;
	for (c = TAILQ_FIRST(&h->all_chans); c && ((cn = TAILQ_NEXT(c, all_link)), 1); c = cn)
		if (c->set)
			chan_terminate(h, c, reason);
	pthread_mutex_unlock(&h->mu);
}

void xsi_hub_stats(struct xsi_hub *h, struct xsi_hub_stats *out)
{
	pthread_mutex_lock(&h->mu);
	*out = h->st;
	out->channels = (uint64_t)h->nchans;
	out->queued = shtable_count(h->evs);
	pthread_mutex_unlock(&h->mu);
}

void xsi_hub_free(struct xsi_hub *h)
{
	if (!h)
		return;
	/* The tables first: freeing one walks its linked entries, which must still exist.
	 * The sets go last of them, with their queued events (set_free_entry). */
	shtable_free(h->chans);
	shtable_free(h->subs);
	shtable_free(h->evs);
	shtable_free(h->devs);
	shtable_free(h->sets);
	struct chan *c;
	while ((c = TAILQ_FIRST(&h->all_chans))) {
		TAILQ_REMOVE(&h->all_chans, c, all_link);
		out_clear(c);
		free(c);
	}
	struct sub *u;
	while ((u = TAILQ_FIRST(&h->all_subs))) {
		TAILQ_REMOVE(&h->all_subs, u, all_link);
		free(u->t);
		free(u);
	}
	pthread_mutex_destroy(&h->mu);
	free(h);
}
