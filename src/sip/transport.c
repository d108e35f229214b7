/* SPDX-License-Identifier: ISC */
#include "sip/transport.h"
#include "core/counter.h"
#include "core/log.h"
#include "core/loop.h"
#include "core/ptimer.h"
#include "core/stream.h"
#include "core/util.h"
#include "core/worker.h"
#include "sip/commitq.h"
#include "sip/edge.h"
#include "sip/location.h"
#include "sip/msg.h"
#include "sip/register.h"
#include "sip/txn.h"
#include "core/udp.h"

#include <event2/event.h>
#include <openssl/ssl.h>
#include <sodium.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#define OUT_MAX 8192

/* Output queued for a SIP stream peer beyond which it is a slow consumer and is cut off
 * (stream.h). Beyond the kernel's socket buffer: 32 of the largest answers (OUT_MAX) or
 * ~500 ordinary ones, which an edge relaying a burst of re-registrations for many phones
 * can have in flight; a peer that sends and never reads costs at most this much, so
 * sip.max_connections_per_source connections from one address hold ~125 MiB at the
 * default 500. */
#define SIP_WRITE_LIMIT (256 * 1024)

/* Held answers per loop beyond which a failure is answered at once: 65,536 x ~0.5 KB. At
 * the default 5 ms that takes 13 million failures a second on one loop. */
#define HELD_MAX 65536

/* 200s per loop waiting for their change to be committed beyond which a new binding or
 * removal is answered 503 at once: ~1 KB each. At the default commit_timeout_ms (2 s) a
 * loop fills it only above 8,000 such REGISTERs a second with the store stalled. */
#define PEND_MAX 16384

/* Jobs a loop keeps for its next requests instead of freeing them: a job is ~35 KB, and a
 * malloc/free of that size per request was a fifth of the fast path's instructions
 * (callgrind: the allocator consolidating its free chunks). Requests decided on the loop
 * need one; the rest cover jobs coming back from workers. */
#define JOB_SPARES 8

/* Datagrams read with one recvmmsg (core/udp.h: at most UDP_BATCH_MAX). */
#define UDP_BATCH 16
#define OUT_BUF 65536 /* the answers of one UDP batch (tloop.out_buf) */

struct tloop;
struct job;

/* One SIP stream listener of a loop; its streams' context (stream_ctx). */
struct slis {
	struct tloop *tl;
	enum sip_conn_kind kind;
	struct stream_listener *l;
};

/* What SIP keeps per stream connection (stream_user). */
struct sconn {
	char edge[SIP_EDGE_ID_MAX + 1]; /* the allow-listed identity of an edge connection */
};

struct tloop {
	struct sip_transport *t;
	struct loop *loop;
	int udp_fd;
	struct event *udp_ev;
	char *udp_bufs; /* UDP_BATCH receive buffers of SIP_MSG_MAX + 1 bytes */
	/* The answers decided while one recvmmsg batch is handled (on_udp), sent with one
	 * sendmmsg after it: copied into out_buf (OUT_BUF bytes) as they are decided. */
	int batching;
	struct udp_out out[UDP_BATCH];
	unsigned nout;
	size_t out_used;
	char *out_buf;
	struct job *spare[JOB_SPARES]; /* freed jobs kept for reuse (job_new, job_free) */
	int nspare;
	struct slis lis[SIP_CONN_KINDS];
	/* 403s held until their time (sip.failure_delay_ms), ordered by it, and the timer
	 * that sends them; stopped: closed, nothing is held any more. */
	struct held *held, *held_tail;
	int nheld;
	struct ptimer *hold_timer; /* precise (core/ptimer.h): its lateness would be seen */
	int stopped;
	/* 200s waiting until their change is in the store (struct pend), by arrival, and
	 * the timer of the earliest's deadline (sip.commit_timeout_ms). npend mirrors
	 * pend.n for the writer's listener and the metrics; kicked: a release is posted. */
	struct sip_commitq pend;
	struct event *pend_ev;
	_Atomic int npend, kicked;
	/* Requests by method and answers by class (sip_registrar_stats): written by this
	 * loop alone (own_inc), read by any thread (summed by sip_transport_stats). */
	tg_counter requests_register, requests_options, requests_other;
	tg_counter responses[7];
	/* 500s for held 200s since the last sip_location_commit_late line (one a second) */
	long late, dropped;
	int64_t late_logged_us;
	/* 503s for 200s that could not wait, since the last sip_location_behind line */
	long refused;
	int64_t refused_logged_us;
	/* The last datagram source's address and its "address:port" (a phone sends its
	 * REGISTER twice, and a batch often holds one source more than once): the text is
	 * made once per new source (issue 22: tg_sockaddr_str was ~200 instructions a
	 * request). src_len 0: none yet. */
	struct sockaddr_storage src;
	socklen_t src_len;
	char src_str[sizeof((struct sip_reg_req *)0)->source];
	size_t src_str_len;
};

struct sip_transport {
	const struct tg_config *cfg;
	struct sip_reg *reg;
	struct sip_loc *loc;
	struct workers *workers;
	struct sip_edges *edges;
	struct conncap *caps;
	struct tlsctx *tls[SIP_CONN_KINDS];
	struct stream_stats
	    stats[SIP_CONN_KINDS]; /* "sip-tcp", "sip-tls", "sip-edge", "sip-oauth" */
	uint8_t tag_key[16];       /* keys the To tags (sip_req_to_tag) */
	struct sip_txn *txn;       /* answers to UDP retransmissions */
	int nloops;
	struct tloop *loops; /* one per loop */
	/* sip_registrar_stats (and each loop's own, struct tloop) */
	tg_counter throttled;
	tg_counter store_busy; /* 200s that could not wait for the store: 503 */
};

/* Where an answer goes, and what sending it takes: a stream (a reference is held when
 * ref is set: a worker's or a held answer's), or a UDP address and the local address the
 * request came to; the retransmission key under which it is stored (0: not stored). */
struct dest {
	struct stream *s;
	int ref;
	struct sockaddr_storage to; /* UDP */
	socklen_t tolen;
	struct sockaddr_storage local; /* UDP: IP_PKTINFO */
	int has_local;
	uint64_t txn;
};

/* A held answer: only what sending it needs (a job is ~35 KB, this is ~0.5 KB), so that
 * a flood of failures costs little memory while held. */
struct held {
	struct held *prev, *next;
	struct tloop *tl;
	struct dest d;
	int64_t hold_until;
	int outlen;
	char out[];
};

struct job {
	struct sip_transport *t;
	struct tloop *tl;
	struct dest d;
	int64_t t0_us;          /* tg_mono_us() when the request arrived */
	int64_t hold_until;     /* tg_mono_us() before which the answer is not sent; 0 = none */
	enum sip_reg_outcome o; /* what out answers */
	char to_tag[17];        /* of every response to this request (RFC 3261 §19.3) */
	int outlen;
	/* job_new zeroes everything above, and x but its request and detail */
	struct sip_reg_req x;
	char out[OUT_MAX];
};

/* A job for a request of loop tl (a spare one when the loop has one) with every field
 * read before it is written cleared. Not calloc: most of a job's ~30 KB is the parsed
 * request (sip_req_parse clears it), the answer and its detail lines (written before they
 * are read), and zeroing them was a sixth of the loop's instructions per REGISTER
 * (callgrind). Loop thread. */
static struct job *job_new(struct tloop *tl)
{
	struct job *j = tl->nspare ? tl->spare[--tl->nspare] : malloc(sizeof *j);
	if (!j)
		return NULL;
	memset(j, 0, offsetof(struct job, x));
	size_t from = offsetof(struct sip_reg_req, transport),
	       to = offsetof(struct sip_reg_req, detail);
	memset((char *)&j->x + from, 0, to - from);
	j->x.detail[0] = '\0';
	return j;
}

/* Kept as a spare of its loop, or freed. On the loop thread of j->tl (j->tl set). */
static void job_free(struct job *j)
{
	sip_req_free(&j->x.req);
	struct tloop *tl = j->tl;
	if (tl && tl->nspare < JOB_SPARES && !tl->stopped)
		tl->spare[tl->nspare++] = j;
	else
		free(j);
}

/* --- counters ------------------------------------------------------------------------ */

/* A counter that only the calling loop's thread writes: a relaxed load and store, no
 * locked read-modify-write (tg_counter_inc's lock-prefixed add waits for the core's
 * stores to drain: four a registration showed in the loop's profile, issue 22). Readers
 * on other threads still see whole values (the counter stays atomic). */
static void own_inc(tg_counter *c)
{
	atomic_store_explicit(c, atomic_load_explicit(c, memory_order_relaxed) + 1,
	                      memory_order_relaxed);
}

static void count_request(struct tloop *tl, const struct sip_req *q)
{
	own_inc(SIP_METHOD_IS(q, "REGISTER")  ? &tl->requests_register
	        : SIP_METHOD_IS(q, "OPTIONS") ? &tl->requests_options
	                                      : &tl->requests_other);
}

/* By the status line's first digit ("SIP/2.0 4xx"). */
static void count_response(struct tloop *tl, const char *buf, int len)
{
	if (len > 8 && buf[8] >= '1' && buf[8] <= '6')
		own_inc(&tl->responses[buf[8] - '0']);
}

void sip_transport_stats(struct sip_transport *t, struct sip_registrar_stats *out)
{
	memset(out, 0, sizeof *out);
	for (int l = 0; l < t->nloops; l++) {
		const struct tloop *tl = &t->loops[l];
		out->requests_register += tg_counter_get(&tl->requests_register);
		out->requests_options += tg_counter_get(&tl->requests_options);
		out->requests_other += tg_counter_get(&tl->requests_other);
		for (int i = 1; i <= 6; i++)
			out->responses[i] += tg_counter_get(&tl->responses[i]);
	}
	out->throttled = tg_counter_get(&t->throttled);
	out->store_busy = tg_counter_get(&t->store_busy);
	for (int i = 0; i < t->nloops; i++)
		out->held_for_store += (uint64_t)atomic_load(&t->loops[i].npend);
	struct sip_txn_stats ts;
	sip_txn_stats(t->txn, &ts);
	out->retrans_repeated = ts.repeated;
	out->retrans_absorbed = ts.absorbed;
	out->txn_evicted_early = ts.evicted_early;
	out->txn_entries = ts.entries;
	out->txn_bytes = ts.bytes;
}

/* --- sending ------------------------------------------------------------------------- */

/* Sends the answers gathered during a UDP batch. */
static void udp_flush(struct tloop *tl)
{
	if (tl->nout)
		(void)udp_send_batch(tl->udp_fd, tl->out, tl->nout);
	tl->nout = 0;
	tl->out_used = 0;
}

/* Writes an answer: on the stream (RFC 3261 §18.2.2: a stream answers on the same
 * connection; a closed one drops it), or over UDP from the address the request came to. */
static void send_answer(struct tloop *tl, const struct dest *d, const char *buf, int len)
{
	if (len <= 0)
		return;
	count_response(tl, buf, len);
	if (d->s) {
		(void)stream_write(d->s, buf, (size_t)len);
		return;
	}
	if (tl->batching && tl->out_buf) {
		if (tl->nout == UDP_BATCH || tl->out_used + (size_t)len > OUT_BUF)
			udp_flush(tl);
		if ((size_t)len <= OUT_BUF) {
			struct udp_out *o = &tl->out[tl->nout++];
			memcpy(tl->out_buf + tl->out_used, buf, (size_t)len);
			*o = (struct udp_out){.buf = tl->out_buf + tl->out_used,
			                      .len = (size_t)len,
			                      .to = d->to,
			                      .tolen = d->tolen,
			                      .local = d->local,
			                      .has_local = d->has_local};
			tl->out_used += (size_t)len;
			return;
		}
	}
	(void)udp_send(tl->udp_fd, buf, (size_t)len, (const struct sockaddr *)&d->to, d->tolen,
	               d->has_local ? &d->local : NULL);
}

/* Sends an answer, stores it for retransmissions, drops the stream reference d held.
 * Loop thread. The one way a decided answer leaves (jobs and held answers alike). */
static void deliver(struct tloop *tl, struct dest *d, const char *buf, int len)
{
	if (d->txn)
		sip_txn_store(tl->t->txn, d->txn, tg_mono_ms(), buf, len);
	send_answer(tl, d, buf, len);
	if (d->s && d->ref)
		stream_unref(d->s);
}

/* --- held answers (sip.failure_delay_ms) --------------------------------------------- */

static void held_send(struct held *h)
{
	deliver(h->tl, &h->d, h->out, h->outlen);
	free(h);
}

static struct held *held_pop(struct tloop *tl)
{
	struct held *h = tl->held;
	tl->held = h->next;
	if (tl->held)
		tl->held->prev = NULL;
	else
		tl->held_tail = NULL;
	tl->nheld--;
	return h;
}

static void hold_arm(struct tloop *tl)
{
	ptimer_at(tl->hold_timer, tl->held->hold_until);
}

/* Sends the held answers whose time has come. */
static void on_hold(void *arg)
{
	struct tloop *tl = arg;
	int64_t now = tg_mono_us();
	while (tl->held && tl->held->hold_until <= now)
		held_send(held_pop(tl));
	if (tl->held)
		hold_arm(tl);
}

/* Puts j's answer on the loop's hold list, ordered by its time, that is by arrival
 * (workers finish in another order, and an answer queued behind a later-decided one
 * would leave late by an amount that carries the decision times), and frees j. 0, or -1
 * (j kept) when the list is full or memory is short. */
static int hold(struct tloop *tl, struct job *j)
{
	if (tl->nheld >= HELD_MAX)
		return -1;
	int n = j->outlen > 0 ? j->outlen : 0;
	struct held *h = malloc(sizeof *h + (size_t)n);
	if (!h)
		return -1;
	memset(h, 0, sizeof *h);
	h->tl = tl;
	h->d = j->d; /* the job's reference on the stream moves to h */
	h->hold_until = j->hold_until;
	h->outlen = n;
	memcpy(h->out, j->out, (size_t)n);
	struct held *after = tl->held_tail; /* usually the tail: walk back from it */
	while (after && after->hold_until > h->hold_until)
		after = after->prev;
	h->prev = after;
	h->next = after ? after->next : tl->held;
	if (h->next)
		h->next->prev = h;
	else
		tl->held_tail = h;
	if (after)
		after->next = h;
	else
		tl->held = h;
	tl->nheld++;
	if (tl->held == h) /* a new earliest time: (re)arm */
		hold_arm(tl);
	job_free(j);
	return 0;
}

/* --- 200s held until their change is in the store ------------------------------------ */

/* A 200 that waits for its ticket (location.h), with the 500 that goes instead if the
 * store does not take the change within sip.commit_timeout_ms: ~1 KB, so that the job
 * (~35 KB) is freed while it waits. */
struct pend {
	struct sip_commitq_node node; /* first: the queue links it */
	struct dest d;
	int oklen, errlen;
	char out[]; /* the 200, then the 500 */
};

static void pend_arm(struct tloop *tl, int64_t now)
{
	int64_t at = sip_commitq_next_deadline(&tl->pend);
	if (at < 0)
		return;
	int64_t wait = at > now ? at - now : 0;
	struct timeval tv = {(time_t)(wait / 1000000), (suseconds_t)(wait % 1000000)};
	evtimer_add(tl->pend_ev, &tv);
}

static void pend_send(struct tloop *tl, struct pend *p, int ok)
{
	atomic_fetch_sub(&tl->npend, 1);
	if (ok)
		deliver(tl, &p->d, p->out, p->oklen);
	else
		deliver(tl, &p->d, p->out + p->oklen, p->errlen);
	free(p);
}

/* Sends the held 200s whose change is committed, and 500s for those whose time ran out
 * or whose change was dropped (the store refused too long). Loop thread. */
static void release(struct tloop *tl)
{
	struct sip_commit_point cp;
	sip_loc_committed(tl->t->loc, &cp);
	int64_t now = tg_mono_us();
	enum sip_commit_state st;
	struct sip_commitq_node *n;
	while ((n = sip_commitq_pop_ready(&tl->pend, &cp, now, &st))) {
		tl->late += st == SIP_COMMIT_EXPIRED;
		tl->dropped += st == SIP_COMMIT_LOST;
		pend_send(tl, (struct pend *)n, st == SIP_COMMIT_DURABLE);
	}
	/* A stalled store expires answers at the request rate: one line a second at most. */
	if ((tl->late || tl->dropped) && now - tl->late_logged_us >= 1000000) {
		log_ev(LOG_LVL_WARNING, NULL, "sip_location_commit_late",
		       LOG_I("timed_out", tl->late), LOG_I("dropped", tl->dropped),
		       LOG_S("answer", "500 Retry-After: 5"),
		       LOG_S("reason", "the store did not commit the bindings in time"));
		tl->late = tl->dropped = 0;
		tl->late_logged_us = now;
	}
	pend_arm(tl, now);
}

static void on_pend_timer(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	release(arg);
}

/* Posted by on_commit: the writer committed something. */
static void on_kick(void *arg)
{
	struct tloop *tl = arg;
	atomic_store(&tl->kicked, 0); /* before reading written: a later commit posts again */
	if (!tl->stopped)
		release(tl);
}

/* The location writer's listener (its thread): wakes the loops that hold answers, one
 * post per loop at a time. */
static void on_commit(void *arg)
{
	struct sip_transport *t = arg;
	for (int i = 0; i < t->nloops; i++) {
		struct tloop *tl = &t->loops[i];
		if (atomic_load(&tl->npend) > 0 && !atomic_exchange(&tl->kicked, 1) &&
		    loop_post(tl->loop, on_kick, tl) != 0)
			atomic_store(&tl->kicked, 0);
	}
}

/* j's 200 (j->out) held until its change is committed (docs/sip.md, Location); j is
 * freed. 0, or -1 (j kept) when the store is behind (sip_commitq_behind) or unavailable
 * with the spool refusing (sip_loc_refusing), the loop holds PEND_MAX answers, is
 * stopping, or memory is short. Loop thread. */
static int park(struct tloop *tl, struct job *j)
{
	struct sip_transport *t = tl->t;
	int64_t wait_us = (int64_t)t->cfg->sip.commit_timeout_ms * 1000;
	if (tl->stopped || !tl->pend_ev || j->outlen <= 0 ||
	    sip_commitq_behind(&tl->pend, tg_mono_us(), wait_us) || sip_loc_refusing(t->loc))
		return -1;
	char err[OUT_MAX];
	int errlen =
	    sip_reg_answer(t->reg, &j->x, SIP_REG_SERVER_ERROR, j->to_tag, err, sizeof err);
	if (errlen < 0)
		errlen = 0;
	struct pend *p = malloc(sizeof *p + (size_t)j->outlen + (size_t)errlen);
	if (!p)
		return -1;
	p->node.t = j->x.durable;
	p->node.deadline_us = tg_mono_us() + wait_us;
	if (sip_commitq_push(&tl->pend, &p->node) != 0) {
		free(p);
		return -1;
	}
	p->d = j->d;
	if (p->d.s && !p->d.ref) { /* the answer keeps the stream until it is sent */
		stream_ref(p->d.s);
		p->d.ref = 1;
	}
	if (p->d.txn) /* a retransmission meanwhile is absorbed */
		sip_txn_store(t->txn, p->d.txn, tg_mono_ms(), NULL, 0);
	p->oklen = j->outlen;
	p->errlen = errlen;
	memcpy(p->out, j->out, (size_t)j->outlen);
	memcpy(p->out + j->outlen, err, (size_t)errlen);
	atomic_fetch_add(&tl->npend, 1); /* before release reads written: see on_commit */
	job_free(j);
	release(tl); /* committed already, or the deadline timer armed */
	return 0;
}

/* --- deciding ------------------------------------------------------------------------ */

/* j's answer for outcome o into j->out (none for NO_ANSWER), and its hold time when the
 * reply table holds it. */
static void answer(struct job *j, enum sip_reg_outcome o)
{
	struct sip_transport *t = j->t;
	const struct sip_reg_reply *row = sip_reg_reply(o);
	if (o == SIP_REG_THROTTLED)
		tg_counter_inc(&t->throttled);
	j->o = o;
	j->outlen = row && row->code
	                ? sip_reg_answer(t->reg, &j->x, o, j->to_tag, j->out, sizeof j->out)
	                : 0;
	if (row && row->held && t->cfg->sip.failure_delay_ms > 0)
		j->hold_until = j->t0_us + (int64_t)t->cfg->sip.failure_delay_ms * 1000;
}

/* 1 when j's answer waits for the store (j is gone); else 0 with j->out what to send
 * now: the answer as decided, or 503 (Retry-After) when it cannot wait (the change stays
 * queued: a 503 promises nothing either way). */
static int wait_for_store(struct job *j)
{
	if (j->o != SIP_REG_OK || !j->x.durable.last)
		return 0;
	struct tloop *tl = j->tl;
	if (park(tl, j) == 0)
		return 1;
	answer(j, SIP_REG_BUSY);
	tg_counter_inc(&tl->t->store_busy);
	tl->refused++;
	int64_t now = tg_mono_us(); /* at the refusal rate: one line a second at most */
	if (now - tl->refused_logged_us >= 1000000) {
		log_ev(LOG_LVL_WARNING, NULL, "sip_location_behind", LOG_I("refused", tl->refused),
		       LOG_I("held", tl->pend.n), LOG_S("answer", "503 Retry-After: 5"),
		       LOG_S("reason", "the store is behind: held answers waited half of "
		                       "sip.commit_timeout_ms, too many are held, or the store "
		                       "is unavailable and the spool refuses"));
		tl->refused = 0;
		tl->refused_logged_us = now;
	}
	return 0;
}

/* The store path, on a worker. */
static void reg_run(void *arg)
{
	struct job *j = arg;
	answer(j, sip_reg_decide(j->t->reg, &j->x));
}

/* The worker decided, back on the loop: answer now, or hold a failure until its time. A
 * retransmission meanwhile is absorbed (the answer is stored when sent), so it cannot
 * fetch the answer early. */
static void reg_done(void *arg)
{
	struct job *j = arg;
	struct tloop *tl = j->tl;
	if (wait_for_store(j))
		return;
	int64_t now = j->hold_until ? tg_mono_us() : 0;
	if (j->hold_until > now && !tl->stopped && tl->hold_timer && hold(tl, j) == 0)
		return;
	deliver(tl, &j->d, j->out, j->outlen);
	job_free(j);
}

/* A UDP REGISTER seen before (RFC 3261 §17.2.2): 1 with the earlier
 * answer in j->out (outlen 0 while that is still being decided), else 0 with j's
 * retransmission key set. */
static int retransmitted(struct job *j)
{
	struct sip_transport *t = j->t;
	uint64_t k = sip_txn_key(t->txn, &j->x.req, j->x.source);
	int n = sip_txn_lookup(t->txn, k, tg_mono_ms(), j->out, sizeof j->out);
	if (n < 0) {
		j->d.txn = k;
		return 0;
	}
	j->outlen = n;
	log_ev(LOG_LVL_DEBUG, j->x.req.callid, "sip_retransmission", LOG_S("source", j->x.source),
	       LOG_S("answer", n ? "repeated" : "absorbed (being decided or held)"));
	return 1;
}

/* The request in j->x answered (j->out) or handed to a worker (then 1: the job is the
 * worker's). The steps of register.h in order; only a REGISTER with credentials gets
 * past sip_reg_route, and only one no loop step could decide goes to a worker. */
static int dispatch(struct job *j)
{
	struct sip_transport *t = j->t;
	enum sip_reg_outcome o = sip_reg_route(&j->x);
	/* A challenge is kept too: its nonce is new each time, and a client whose 401 came
	 * late (overload) took the first one and would see the second, for its
	 * retransmission, as an unexpected answer (SIPp fails the call). */
	if ((o == SIP_REG_CONTINUE || o == SIP_REG_CHALLENGE) && !j->d.s && retransmitted(j))
		return 0; /* j->out holds the earlier answer (none while it is being decided) */
	if (o == SIP_REG_CONTINUE)
		o = sip_reg_precheck(t->reg, &j->x, tg_now_s());
	if (o == SIP_REG_CONTINUE)
		o = sip_reg_fast(t->reg, &j->x);
	if (o == SIP_REG_CONTINUE) {
		if (j->d.txn) /* being decided: a retransmission meanwhile is absorbed */
			sip_txn_store(t->txn, j->d.txn, tg_mono_ms(), NULL, 0);
		/* The worker's job holds the stream until its answer is sent (deliver): a
		 * closed one drops the answer, its memory stays till then. */
		if (j->d.s) {
			stream_ref(j->d.s);
			j->d.ref = 1;
		}
		if (workers_submit(t->workers, reg_run, reg_done, j, j->tl->loop) == 0)
			return 1;
		if (j->d.s)
			stream_unref(j->d.s);
		j->d.ref = 0;
		o = SIP_REG_BUSY;
	}
	answer(j, o);
	return wait_for_store(j);
}

/* An edge connection's identity, found once from its certificate, and checked against
 * the allow-list on every request (an edge removed with `telgate edge remove` is cut off
 * at its next request, unanswered). Returns 0, or -1 with the stream closing. */
static int edge_check(struct sip_transport *t, struct stream *s, struct sconn *c)
{
	static const char kick[] = "edge identity no longer allow-listed";
	if (!c->edge[0]) {
		SSL *ssl = stream_ssl(s);
		X509 *cert = ssl ? SSL_get1_peer_certificate(ssl) : NULL;
		char seen[512] = "";
		int ok = cert && sip_edge_cert_identity(t->edges, cert, c->edge, sizeof c->edge,
		                                        seen, sizeof seen);
		X509_free(cert);
		if (!ok) {
			c->edge[0] = '\0';
			stream_close(s, kick);
			return -1;
		}
		log_ev(LOG_LVL_INFO, NULL, "sip_edge_connected", LOG_S("peer", stream_peer(s)),
		       LOG_S("identity", c->edge));
		return 0;
	}
	if (!sip_edges_allowed(t->edges, c->edge)) {
		log_ev(LOG_LVL_WARNING, NULL, "sip_edge_removed", LOG_S("peer", stream_peer(s)),
		       LOG_S("identity", c->edge), LOG_S("action", "connection closed"));
		stream_close(s, kick);
		return -1;
	}
	return 0;
}

/* from's "address:port" into out (sizeof tl->src_str bytes), from tl's last one when
 * the address is the same bytes. */
static void source_str(struct tloop *tl, const struct sockaddr *from, socklen_t fromlen, char *out)
{
	if (!tl->src_len || fromlen != tl->src_len || memcmp(from, &tl->src, fromlen) != 0) {
		tg_sockaddr_str(from, tl->src_str, sizeof tl->src_str);
		tl->src_str_len = strlen(tl->src_str);
		tl->src_len = fromlen <= sizeof tl->src ? fromlen : 0; /* 0: never a hit */
		if (tl->src_len)
			memcpy(&tl->src, from, fromlen);
	}
	memcpy(out, tl->src_str, tl->src_str_len + 1);
}

/* One request, from a datagram (from: its source) or a stream (s), answered here or
 * handed to a worker. */
static void handle(struct tloop *tl, struct stream *s, const struct sockaddr *from,
                   socklen_t fromlen, const struct sockaddr_storage *local, const char *buf,
                   size_t len)
{
	struct sip_transport *t = tl->t;
	struct job *j = job_new(tl);
	if (!j)
		return;
	struct sip_reg_req *x = &j->x;
	j->t = t;
	j->tl = tl;
	j->d.s = s;
	j->t0_us = tg_mono_us();
	if (from) {
		memcpy(&j->d.to, from, fromlen);
		j->d.tolen = fromlen;
		source_str(tl, from, fromlen, x->source);
		if (local) {
			j->d.local = *local;
			j->d.has_local = 1;
		}
	} else {
		const struct slis *sl = stream_ctx(s);
		struct sconn *c = stream_user(s);
		tg_strlcpy(x->source, stream_peer(s), sizeof x->source);
		if (sl->kind == SIP_CONN_EDGE && edge_check(t, s, c) != 0) {
			job_free(j);
			return;
		}
		if (c->edge[0]) /* job_new cleared it */
			tg_strlcpy(x->edge, c->edge, sizeof x->edge);
		x->oauth_port = sl->kind == SIP_CONN_OAUTH;
		from = stream_peer_addr(s, NULL); /* for Via received/rport */
	}
	/* "TCP", "TLS" or "UDP" and its NUL: one 4-byte copy */
	_Static_assert(sizeof x->transport >= 4, "a transport name and its NUL");
	memcpy(x->transport, s ? (stream_kind(s) == STREAM_TCP ? "TCP" : "TLS") : "UDP", 4);
	int status;
	char reason[128]; /* a string: its first byte cleared, not its 128 (issue 22) */
	reason[0] = '\0';
	int rc = sip_req_parse(buf, len, &x->req, &status, reason, sizeof reason);
	if (x->req.m || x->req.fast) {
		sip_req_to_tag(&x->req, t->tag_key, j->to_tag);
		if (sip_req_received(&x->req, from, t->cfg->sip.force_rport) != 0 && rc == 0) {
			rc = -1;
			status = 500;
			snprintf(reason, sizeof reason, "Server Internal Error");
		}
		if (!s && x->req.reply_to_len) { /* where sip_req_received said */
			memcpy(&j->d.to, &x->req.reply_to, sizeof j->d.to);
			j->d.tolen = x->req.reply_to_len;
		}
	}
	count_request(tl, &x->req);
	if (rc != 0) {
		log_ev(LOG_LVL_NOTICE, x->req.callid[0] ? x->req.callid : NULL, "sip_malformed",
		       LOG_S("source", x->source), LOG_S("transport", x->transport),
		       LOG_S("reason", reason), LOG_S("answer", status ? "400-class" : "dropped"));
		if (status)
			j->outlen = x->req.m ? sip_response(&x->req, status, reason, j->to_tag,
			                                    NULL, j->out, sizeof j->out)
			                     : sip_response_raw(buf, len, status, reason, j->out,
			                                        sizeof j->out);
	} else if (dispatch(j)) {
		return; /* a worker has it */
	}
	deliver(tl, &j->d, j->out, j->outlen);
	job_free(j);
}

/* --- UDP ----------------------------------------------------------------------------- */

/* Up to 4 batches of UDP_BATCH datagrams per wake-up (one recvmmsg each: a batch
 * shorter than asked means the socket is empty, without a read that says so), then back
 * to the loop so that streams and timers get their turn. */
static void on_udp(evutil_socket_t fd, short what, void *arg)
{
	(void)what;
	struct tloop *tl = arg;
	struct udp_msg m[UDP_BATCH];
	/* A wake-up's datagrams see one time (util.h): one clock reading, not 3-4 each. */
	tg_clock_hold();
	for (int b = 0; b < 4; b++) {
		for (int i = 0; i < UDP_BATCH; i++) {
			m[i].buf = tl->udp_bufs + (size_t)i * (SIP_MSG_MAX + 1);
			m[i].cap = SIP_MSG_MAX + 1;
		}
		int got = udp_recv_batch(fd, m, UDP_BATCH);
		tl->batching = 1;
		for (int i = 0; i < got; i++) {
			size_t n = m[i].len;
			if (n == 0 || n > SIP_MSG_MAX) /* cut: too large for us */
				continue;
			if (n < 4 && (m[i].buf[0] == '\r' || m[i].buf[0] == '\n'))
				continue; /* keep-alive CRLF */
			handle(tl, NULL, (struct sockaddr *)&m[i].from, m[i].fromlen,
			       m[i].has_local ? &m[i].local : NULL, m[i].buf, n);
		}
		tl->batching = 0;
		udp_flush(tl);
		if (got < UDP_BATCH)
			break;
	}
	tg_clock_release();
}

/* --- streams ------------------------------------------------------------------------- */

/* Whether the 14 bytes at p are "Content-Length" in any case: two 8-byte words (bytes
 * 0-7 and 6-13), 0x20 ORed into the letters' bytes only, against the lower-case name.
 * x | 0x20 is a lower-case letter only for that letter and its upper case, and '-' is
 * compared as it is: exact, as strncasecmp, without a call (four lines of a request
 * start with 'C': issue 22). */
static int is_content_length(const char *p)
{
	uint64_t a, b, name_a, name_b, fold_a, fold_b;
	memcpy(&a, p, 8);
	memcpy(&b, p + 6, 8);
	memcpy(&name_a, "content-", 8);
	memcpy(&name_b, "t-length", 8);
	memcpy(&fold_a, "\x20\x20\x20\x20\x20\x20\x20\x00", 8);
	memcpy(&fold_b, "\x20\x00\x20\x20\x20\x20\x20\x20", 8);
	return ((a | fold_a) == name_a) & ((b | fold_b) == name_b);
}

/* The Content-Length (compact form "l" too) of the header line at p, which ends at e (its
 * '\n' included): its value, -1 when the line is another header, -2 when the value is
 * bad (empty, signed, not a number): the framing is lost. */
static long content_length(const char *p, const char *e)
{
	size_t skip = 0;
	if ((p[0] == 'C' || p[0] == 'c') && e - p > 14 && is_content_length(p))
		skip = 14;
	else if ((p[0] == 'l' || p[0] == 'L') && e - p > 1 && (p[1] == ':' || p[1] == ' '))
		skip = 1;
	if (!skip)
		return -1;
	/* Digits only, bounded by the line: strtol would skip the CRLFs after an empty value
	 * and read the next line or the body. */
	p += skip;
	while (p < e && (*p == ' ' || *p == '\t'))
		p++;
	if (p >= e || *p != ':')
		return -1;
	p++;
	while (p < e && (*p == ' ' || *p == '\t'))
		p++;
	long v = 0;
	const char *d = p;
	while (p < e && *p >= '0' && *p <= '9' && v <= SIP_MSG_MAX)
		v = v * 10 + (*p++ - '0');
	while (p < e && (*p == ' ' || *p == '\t'))
		p++;
	if (p == d || p >= e || (*p != '\r' && *p != '\n'))
		return -2;
	return v;
}

/* Cuts the next SIP message off a stream: the header section and the body its
 * Content-Length gives (none: no body; the first Content-Length line counts). One pass
 * from line end to line end (memchr, vectorised: a byte loop was ~10,000 instructions
 * per registration on TCP and TLS, and a second pass for the Content-Length ~600 more:
 * issue 22). A Content-Length that cannot be trusted leaves no way to find the next
 * message: 400 if one can be formed, and the stream closes after it. A header section
 * longer than SIP_MSG_MAX never completes: the layer closes the stream. */
static long sip_frame(struct stream *s, const unsigned char *buf, size_t len)
{
	const char *h = (const char *)buf;
	size_t hlen = 0;
	long cl = -1;
	for (size_t i = 0; i < len;) {
		const char *nl = memchr(h + i, '\n', len - i);
		if (!nl)
			break;
		size_t e = (size_t)(nl - h);
		if (e >= 3 && h[e - 1] == '\r' && h[e - 2] == '\n' && h[e - 3] == '\r') {
			hlen = e + 1;
			break;
		}
		if (i > 0 && cl == -1) /* a header line (not the request line) */
			cl = content_length(h + i, nl + 1);
		i = e + 1;
	}
	if (!hlen)
		return STREAM_FRAME_MORE;
	if (cl == -2 || cl > SIP_MSG_MAX || hlen + (size_t)(cl < 0 ? 0 : cl) > SIP_MSG_MAX) {
		char out[OUT_MAX];
		int n = sip_response_raw(h, hlen, 400, "Bad Content-Length", out, sizeof out);
		const struct slis *sl = stream_ctx(s);
		struct dest d = {.s = s};
		send_answer(sl->tl, &d, out, n);
		return STREAM_FRAME_BROKEN;
	}
	size_t total = hlen + (size_t)(cl < 0 ? 0 : cl);
	return total <= len ? (long)total : STREAM_FRAME_MORE;
}

static void on_stream_frame(struct stream *s, const unsigned char *frame, size_t len)
{
	const struct slis *sl = stream_ctx(s);
	handle(sl->tl, s, NULL, 0, NULL, (const char *)frame, len);
}

static const struct stream_ops sip_stream_ops = {
    .frame = sip_frame,
    .on_frame = on_stream_frame,
};

/* --- a loop's sockets ---------------------------------------------------------------- */

void sip_transport_open(struct sip_transport *t, int i, int udp_fd, const int fds[SIP_CONN_KINDS])
{
	struct tloop *tl = &t->loops[i];
	struct event_base *base = loop_base(tl->loop);
	tl->hold_timer = ptimer_new(base, on_hold, tl);     /* NULL: failures are not held */
	tl->pend_ev = evtimer_new(base, on_pend_timer, tl); /* NULL: 503 for what must wait */
	tl->udp_fd = udp_fd;
	if (udp_fd >= 0 && (!(tl->udp_bufs = malloc((size_t)UDP_BATCH * (SIP_MSG_MAX + 1))) ||
	                    !(tl->out_buf = malloc(OUT_BUF)))) {
		log_ev(LOG_LVL_ERROR, NULL, "sip_listen_failed", LOG_S("listener", "sip-udp"),
		       LOG_S("error", "out of memory"));
		close(udp_fd);
		tl->udp_fd = udp_fd = -1;
	}
	if (udp_fd >= 0) {
		tl->udp_ev = event_new(base, udp_fd, EV_READ | EV_PERSIST, on_udp, tl);
		event_add(tl->udp_ev, NULL);
	}
	for (int k = 0; k < SIP_CONN_KINDS; k++) {
		tl->lis[k] = (struct slis){.tl = tl, .kind = (enum sip_conn_kind)k};
		if (fds[k] >= 0)
			(void)sip_transport_listen(t, i, (enum sip_conn_kind)k, fds[k]);
	}
}

static const char *const conn_names[SIP_CONN_KINDS] = {"sip-tcp", "sip-tls", "sip-edge",
                                                       "sip-oauth"};

int sip_transport_listen(struct sip_transport *t, int i, enum sip_conn_kind k, int fd)
{
	struct tloop *tl = &t->loops[i];
	const char *const *names = conn_names;
	tl->lis[k] = (struct slis){.tl = tl, .kind = k};
	{
		struct stream_listener_options o = {
		    .name = names[k],
		    .kind = k == SIP_CONN_TCP ? STREAM_TCP : STREAM_TLS,
		    .tls = t->tls[k],
		    .caps = t->caps,
		    .node_cap_setting = "sip.max_connections",
		    .source_cap_setting = "sip.max_connections_per_source",
		    .stats = &t->stats[k],
		    .ops = &sip_stream_ops,
		    .ctx = &tl->lis[k],
		    .user_size = sizeof(struct sconn),
		    .max_frame = SIP_MSG_MAX,
		    .write_limit = SIP_WRITE_LIMIT,
		    .first_message_timeout_s = t->cfg->sip.first_message_timeout_s,
		    .idle_timeout_s = t->cfg->sip.idle_timeout_s,
		    .crlf_keepalive = 1, /* RFC 5626 §3.5.1: CRLFCRLF gets a CRLF pong */
		    .hold_clock = 1,     /* a read's requests: one clock reading */
		};
		char err[256];
		if (!(tl->lis[k].l = stream_listen(tl->loop, fd, &o, err, sizeof err))) {
			log_ev(LOG_LVL_ERROR, NULL, "sip_listen_failed",
			       LOG_S("listener", names[k]), LOG_S("error", err));
			return -1;
		}
	}
	return 0;
}

int sip_transport_listen_more(struct sip_transport *t, int i, enum sip_conn_kind k, int fd)
{
	struct stream_listener *l = t->loops[i].lis[k].l;
	char err[256] = "the listener is not open";
	if (!l)
		close(fd);
	if (!l || stream_listener_add(l, fd, err, sizeof err) != 0) {
		log_ev(LOG_LVL_ERROR, NULL, "sip_listen_failed", LOG_S("listener", conn_names[k]),
		       LOG_S("error", err));
		return -1;
	}
	return 0;
}

void sip_transport_unlisten(struct sip_transport *t, int i, enum sip_conn_kind k)
{
	struct tloop *tl = &t->loops[i];
	stream_listener_free(tl->lis[k].l);
	tl->lis[k].l = NULL;
}

void sip_transport_set_tls(struct sip_transport *t, enum sip_conn_kind k, struct tlsctx *tls)
{
	t->tls[k] = tls;
}

void sip_transport_close(struct sip_transport *t, int i)
{
	struct tloop *tl = &t->loops[i];
	/* Held answers go now, while the sockets are open; later ones are not held. */
	tl->stopped = 1;
	while (tl->held)
		held_send(held_pop(tl));
	/* 200s whose change is committed go; the others get their 500 (the change stays
	 * queued: sip_loc_free writes it, but nobody was told 200). */
	struct sip_commitq_node *n;
	while ((n = sip_commitq_pop(&tl->pend)))
		pend_send(tl, (struct pend *)n, sip_loc_state(t->loc, &n->t) == SIP_COMMIT_DURABLE);
	if (tl->pend_ev) {
		event_free(tl->pend_ev);
		tl->pend_ev = NULL;
	}
	ptimer_free(tl->hold_timer);
	tl->hold_timer = NULL;
	if (tl->udp_ev) {
		event_free(tl->udp_ev);
		tl->udp_ev = NULL;
	}
	if (tl->udp_fd >= 0) {
		close(tl->udp_fd);
		tl->udp_fd = -1;
	}
	free(tl->udp_bufs);
	tl->udp_bufs = NULL;
	free(tl->out_buf);
	tl->out_buf = NULL;
	while (tl->nspare) /* jobs freed from now on are not kept (stopped) */
		free(tl->spare[--tl->nspare]);
	for (int k = 0; k < SIP_CONN_KINDS; k++) { /* closes every stream ("server stopping") */
		stream_listener_free(tl->lis[k].l);
		tl->lis[k].l = NULL;
	}
}

struct sip_transport *sip_transport_new(const struct sip_transport_options *o)
{
	struct sip_transport *t = calloc(1, sizeof *t);
	if (!t)
		return NULL;
	t->cfg = o->cfg;
	t->reg = o->reg;
	t->loc = o->loc;
	t->workers = o->workers;
	t->edges = o->edges;
	t->caps = o->caps;
	t->tls[SIP_CONN_TLS] = o->tls;
	t->tls[SIP_CONN_EDGE] = o->edge_tls;
	randombytes_buf(t->tag_key, sizeof t->tag_key);
	t->nloops = loop_group_size(o->loops);
	t->txn = sip_txn_new();
	t->loops = calloc((size_t)t->nloops, sizeof *t->loops);
	if (!t->txn || !t->loops) {
		sip_transport_free(t);
		return NULL;
	}
	for (int i = 0; i < t->nloops; i++) {
		t->loops[i].t = t;
		t->loops[i].loop = loop_group_get(o->loops, i);
		t->loops[i].udp_fd = -1;
		sip_commitq_init(&t->loops[i].pend, PEND_MAX);
	}
	if (t->loc)
		sip_loc_on_commit(t->loc, on_commit, t);
	return t;
}

void sip_transport_free(struct sip_transport *t)
{
	if (!t)
		return;
	if (t->loc) /* no listener call runs once this returns */
		sip_loc_on_commit(t->loc, NULL, NULL);
	sip_txn_free(t->txn);
	sodium_memzero(t->tag_key, sizeof t->tag_key);
	free(t->loops);
	free(t);
}
