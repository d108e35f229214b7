/* SPDX-License-Identifier: ISC */
#include "sip/location.h"
#include "sip/refreshfile.h"
#include "sip/spool.h"
#include "core/log.h"
#include "core/metrics.h"
#include "core/shtable.h"
#include "core/util.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define SHARDS 64
#define BATCH 512
#define FLUSH_MS 50
#define QUEUE_MAX 100000
#define REPLAY_CHUNK 256 /* spooled changes replayed per transaction, at least */
/* Ops the writer keeps for reuse once written (~1.8 KB each): an op is taken from them
 * under the queue's lock that links it, so a refresh costs no malloc on its thread and no
 * free on the writer (issue 22: ~380 instructions a change, and a free crossing arenas). */
#define SPARE_MAX 1024
/* The store's own expiry scan (every row of the node: schema v19 has no index on
 * expires; ~5.5M instructions at 10,000 rows) runs at the first sweep and then this
 * often, for rows that are not in memory (expired before a start, or dropped); a binding
 * the sweep expires in memory is deleted by its key. */
#define SCAN_EVERY_S 300

struct ldev {
	struct shtable_node node;
	int n, cap;
	struct store_registration *b;
	/* Per binding, the number of the change that queued it as new (0: loaded from the
	 * store). Until that change is committed, a REGISTER of the same contact is not a
	 * refresh: its first answer may have been a 500, and the phone sends it again. */
	uint64_t *added;
	/* Per binding, its refresh file slot (refreshfile.h's handle; 0: none). */
	uint32_t *slot;
	char name[STORE_ID_MAX + 1];
};

/* OP_REFRESH: a stored binding with only its Call-ID, CSeq and expiry changed (the
 * write-behind refresh): a narrower statement than the upsert (issue 22).
 * OP_CHANGE: a stored binding with other columns changed too (a new source: a phone
 * that reconnected), write-behind like a refresh: every column but key and node.
 * OP_EXPIRE: the store's scan of the node's expired rows (b.expires: now);
 * OP_EXPIRE_ONE: one binding the sweep expired in memory (b.expires: now), by its key.
 * OP_STATE: the device (b.device) went in service (b.expires 1) or out (0): told to the
 * other cluster nodes in the same transaction (store_devstate_announce), so they hear of
 * it once the binding change is durable. */
enum op_kind { OP_PUT, OP_REFRESH, OP_CHANGE, OP_DELETE, OP_EXPIRE, OP_EXPIRE_ONE, OP_STATE };

struct op {
	struct op *next;
	enum op_kind kind;
	uint64_t seq;                /* commitq.h: 1, 2, 3 ... in queue order */
	int64_t made_ms;             /* epoch ms when it was queued: the row's changedms */
	struct store_registration b; /* OP_DELETE: device + contact; OP_EXPIRE: expires */
};

/* What an op is made of, given to enqueue, which makes the op under the queue's lock.
 * b: the binding (OP_PUT, OP_REFRESH, OP_CHANGE, OP_DELETE; OP_EXPIRE_ONE its key), NULL
 * for OP_EXPIRE and OP_STATE; name: OP_STATE's device; v: OP_EXPIRE and OP_EXPIRE_ONE's
 * time, OP_STATE's state (1 in service, 0 out). */
struct opdesc {
	enum op_kind kind;
	const struct store_registration *b;
	const char *name;
	int64_t v;
};

struct sip_loc {
	store_t *st;
	char node[STORE_ID_MAX + 1]; /* the bindings' owner in the store; "" = every row */
	size_t node_len;
	struct shtable *devs; /* struct ldev by device name */
	/* Per shard: no binding in it expires before this. Lowered (due_lower) by whoever
	 * writes a binding, under the shard's lock; the sweep skips a shard not due, and
	 * resets it to what it kept. Lock-free reads: a skipped shard whose mark is being
	 * lowered holds only bindings that expire after this sweep. */
	_Atomic int64_t due[SHARDS];
	int64_t next_scan; /* the next sweep that queues OP_EXPIRE (sip_loc_expire's thread) */

	/* the write-behind queue */
	pthread_mutex_t qmu;
	pthread_cond_t qcv, donecv;
	struct op *head, **tail;
	long queued;
	struct op *spare; /* written ops kept for reuse (SPARE_MAX) */
	long nspare;
	uint64_t enqueued, written; /* sequence numbers of changes */
	uint64_t want;              /* the last change a held answer waits for */
	int stopping, failing, urgent;
	long dropped;
	long interval_ms; /* sip.commit_interval_ms */
	pthread_t writer;
	int writer_started;
	/* What sip_loc_state and sip_loc_committed report (under qmu), and who is told. */
	struct sip_commit_point point;
	_Atomic uint64_t written_hint; /* point.written, for sip_loc_change without qmu */
	void (*on_commit)(void *arg);
	void *on_commit_arg;
	struct sip_loc_stats stats;
	/* The outage spool (spool.h; NULL: none), writer thread only; spooling: the last
	 * batch went there; refusing: the store is unavailable and the spool cannot take
	 * more, so new bindings get 503 at once (sip_loc_refusing). */
	struct sip_spool *spool;
	int spooling, drain_failed;
	long replayed; /* changes replayed since the spool was last empty */
	_Atomic int refusing;
	/* The refresh file (refreshfile.h; NULL: refreshes are UPDATEs): a refresh is stored
	 * into its binding's slot by the thread that edits the binding, under its shard's
	 * lock, and queues nothing. */
	struct sip_rf *rf;
	int rf_sync_due; /* the writer msyncs the file after its next commit */
	/* The last time loc_now_ms gave: changes and refreshes are stamped with it, never
	 * decreasing (a step back of the wall clock would make a later refresh older). */
	_Atomic int64_t last_ms;
};

/* The wall clock in epoch ms, never less than the last value it gave (any thread). */
static int64_t loc_now_ms(struct sip_loc *l)
{
	int64_t now = tg_now_ms();
	int64_t cur = atomic_load_explicit(&l->last_ms, memory_order_relaxed);
	while (now > cur && !atomic_compare_exchange_weak_explicit(
	                        &l->last_ms, &cur, now, memory_order_relaxed, memory_order_relaxed))
		;
	return now > cur ? now : cur;
}

/* Batch sizes, in changes (the histogram type counts "seconds": here one unit is one
 * change, so the _sum is the changes committed). */
static const double batch_bounds[] = {1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024, 4096};

/* *s into *d, each string by its used length: a binding is ~1,800 bytes, of which a
 * refresh uses ~250, and a cached refresh copied three whole ones (into the edit, into
 * the op, back into the table: 28 cache lines each where ~10 are used; memmove was 2.1 %
 * of the CPU under load; issue 22). The bytes after each string's NUL are not copied.
 * Each copy is bounded by its field (tg_strlcpy): the strings end within their fields
 * today (register.c's edit writes them with tg_strlcpy, the store's rows are copied with
 * their lengths checked, put_id cuts at STORE_ID_MAX), and the bound keeps a write from
 * ever running past the destination field; it costs ~90 instructions a binding more than an
 * unbounded strcpy. */
static void reg_copy(struct store_registration *d, const struct store_registration *s)
{
	tg_strlcpy(d->device, s->device, sizeof d->device);
	tg_strlcpy(d->aor, s->aor, sizeof d->aor);
	tg_strlcpy(d->contact, s->contact, sizeof d->contact);
	tg_strlcpy(d->callid, s->callid, sizeof d->callid);
	tg_strlcpy(d->transport, s->transport, sizeof d->transport);
	tg_strlcpy(d->source, s->source, sizeof d->source);
	tg_strlcpy(d->sipinstance, s->sipinstance, sizeof d->sipinstance);
	tg_strlcpy(d->node, s->node, sizeof d->node);
	d->cseq = s->cseq;
	d->expires = s->expires;
	d->regid = s->regid;
}

/* Starts loading the cache lines of a binding that reg_copy and the store's statements
 * touch: the start of each string (short ones: one line each) and the numbers. An op is
 * filled on a loop's core and read on the writer's: each of these lines is a cross-core
 * miss on first touch (under load the writer's strlen of op strings was ~16 % of its
 * samples; issue 22, round 10). Issued one op ahead, they overlap the store's work on the
 * op before. A prefetch never faults (b may be any address); ~8 instructions. The same
 * for writing on the loop (the next spare op, last read on the writer's core) measured
 * worse under load (enqueue's samples doubled) and is not done. */
static void reg_prefetch(const struct store_registration *b)
{
	__builtin_prefetch(b->device);
	__builtin_prefetch(b->aor);
	__builtin_prefetch(b->contact);
	__builtin_prefetch(b->callid);
	__builtin_prefetch(&b->cseq);
	__builtin_prefetch(b->source);
	__builtin_prefetch(b->sipinstance);
	__builtin_prefetch(b->node);
}

static struct ldev *find(const struct shtable_at *at)
{
	struct shtable_node *n = shtable_find(at);
	return n ? SHTABLE_ENTRY(n, struct ldev, node) : NULL;
}

/* --- the writer --------------------------------------------------------------------- */

static struct ldev *find(const struct shtable_at *at);

/* Whether the table holds (device, contact) with an expiry after now. */
static int held_live(struct sip_loc *l, const char *device, const char *contact, int64_t now)
{
	struct shtable_at at;
	shtable_lock_str(l->devs, device, &at);
	struct ldev *d = find(&at);
	int live = 0;
	for (int i = 0; d && i < d->n; i++)
		if (strcmp(d->b[i].contact, contact) == 0) {
			live = d->b[i].expires > now;
			break;
		}
	shtable_unlock(&at);
	return live;
}

/* The keys of the store's expired rows that the table does not hold alive. */
struct scan {
	struct sip_loc *l;
	int64_t now;
	struct scan_key {
		char device[STORE_ID_MAX + 1];
		char contact[sizeof((struct store_registration *)0)->contact];
	} * v;
	int n, cap, bad;
};

static int scan_row(void *ud, const char *device, const char *contact)
{
	struct scan *sc = ud;
	if (held_live(sc->l, device, contact, sc->now))
		return 0;
	if (sc->n == sc->cap) {
		int nc = sc->cap ? 2 * sc->cap : 64;
		void *p = realloc(sc->v, (size_t)nc * sizeof *sc->v);
		if (!p) {
			sc->bad = 1;
			return 1;
		}
		sc->v = p;
		sc->cap = nc;
	}
	tg_strlcpy(sc->v[sc->n].device, device, sizeof sc->v[0].device);
	tg_strlcpy(sc->v[sc->n].contact, contact, sizeof sc->v[0].contact);
	sc->n++;
	return 0;
}

/* OP_EXPIRE with the refresh file: the rows whose recorded expiry passed are read first,
 * and those whose bindings the table holds alive are kept (refreshed in the file since
 * their last put or change; the fold at the next start or stop brings their rows up to
 * date); the others are deleted by key. In service almost every row's recorded expiry
 * passes (phones refresh at half their expiry), so the scan reads them all every
 * SCAN_EVERY_S (~10,000 lookups at 10,000 bindings) and writes only the dead ones. */
static int expire_scan(struct sip_loc *l, const struct op *o)
{
	struct scan sc = {.l = l, .now = o->b.expires};
	int rc = store_registrations_expired(l->st, o->b.node, sc.now, scan_row, &sc);
	/* Out of memory (sc.bad): the rows collected go now, the rest at the next scan. */
	for (int i = 0; i < sc.n && rc == STORE_OK; i++)
		rc = store_registration_expire_one(l->st, o->b.node, sc.v[i].device,
		                                   sc.v[i].contact, sc.now);
	free(sc.v);
	l->rf_sync_due = 1; /* msync'd after the commit: not inside the transaction */
	return rc;
}

static int apply_op(struct sip_loc *l, const struct op *o)
{
	store_t *st = l->st;
	int n, rc;
	/* With the refresh file, a row is stamped with the time its change was queued, so
	 * that a refresh stored into the file after that compares as newer at the fold
	 * (refreshfile.h). Without it (PostgreSQL), with the time it is written, as the
	 * spool's replay and the other nodes' takeovers compare it. */
	int64_t at = l->rf ? o->made_ms : tg_now_ms();
	switch (o->kind) {
	case OP_PUT:
		return store_registration_put_made(st, &o->b, at);
	case OP_REFRESH:
		rc = store_registration_refresh_made(st, &o->b, at);
		return rc == STORE_NOTFOUND ? store_registration_put_made(st, &o->b, at) : rc;
	case OP_CHANGE:
		rc = store_registration_rewrite_made(st, &o->b, at);
		return rc == STORE_NOTFOUND ? store_registration_put_made(st, &o->b, at) : rc;
	case OP_DELETE:
		rc = store_registration_delete(st, o->b.device, o->b.contact);
		return rc == STORE_NOTFOUND ? STORE_OK : rc;
	case OP_EXPIRE:
		return l->rf ? expire_scan(l, o)
		             : store_registrations_expire(st, o->b.node, o->b.expires, &n);
	case OP_EXPIRE_ONE:
		return store_registration_expire_one(st, o->b.node, o->b.device, o->b.contact,
		                                     o->b.expires);
	case OP_STATE:
		return STORE_OK; /* write_batch announces them together */
	}
	return STORE_ERROR;
}

static void free_ops(struct op *o)
{
	while (o) {
		struct op *next = o->next;
		free(o);
		o = next;
	}
}

/* The batch's device-state changes, for the other nodes, in the batch's transaction. */
static int announce_states(store_t *st, const struct op *batch)
{
	struct store_devstate v[64];
	int n = 0, rc = STORE_OK;
	for (const struct op *o = batch; o && rc == STORE_OK; o = o->next) {
		if (o->kind != OP_STATE)
			continue;
		v[n++] = (struct store_devstate){o->b.device, (int)o->b.expires};
		if (n == (int)(sizeof v / sizeof v[0])) {
			rc = store_devstate_announce(st, v, n);
			n = 0;
		}
	}
	return rc == STORE_OK && n ? store_devstate_announce(st, v, n) : rc;
}

/* One transaction for the batch. Returns STORE_OK or the store's error (nothing of it is
 * in the store). */
static int write_batch(struct sip_loc *l, const struct op *batch)
{
	store_t *st = l->st;
	int rc = store_begin(st);
	for (const struct op *o = batch; o && rc == STORE_OK; o = o->next) {
		if (o->next)
			reg_prefetch(&o->next->b); /* read by the next apply_op */
		if ((rc = apply_op(l, o)) != STORE_OK)
			store_rollback(st);
	}
	if (rc == STORE_OK && (rc = announce_states(st, batch)) != STORE_OK)
		store_rollback(st);
	return rc == STORE_OK ? store_commit(st) : rc;
}

/* The batch as one durable group in the spool. 0, or -1 (why says why). */
static int spool_batch(struct sip_spool *sp, const struct op *batch, const char **why)
{
	/* A refresh or change carries the whole binding: spooled as a put (replay has no
	 * cheaper form). The batch's expiries by key become one scan at its last one's time
	 * (replayed rarely: no scan per binding). */
	static const enum sip_spool_kind kinds[] = {
	    [OP_PUT] = SIP_SPOOL_PUT,       [OP_REFRESH] = SIP_SPOOL_PUT,
	    [OP_CHANGE] = SIP_SPOOL_PUT,    [OP_DELETE] = SIP_SPOOL_DELETE,
	    [OP_EXPIRE] = SIP_SPOOL_EXPIRE, [OP_EXPIRE_ONE] = SIP_SPOOL_EXPIRE};
	struct sip_spool_rec r = {.at_ms = tg_now_ms()};
	const struct op *last_one = NULL;
	for (const struct op *o = batch; o; o = o->next)
		if (o->kind == OP_EXPIRE_ONE)
			last_one = o;
	for (const struct op *o = batch; o; o = o->next) {
		/* No device state in the spool: the other nodes lost their listening session in
		 * the same outage and re-read every device from the store when it is back. */
		if (o->kind == OP_STATE || (o->kind == OP_EXPIRE_ONE && o != last_one))
			continue;
		r.kind = kinds[o->kind];
		r.b = o->b;
		if (sip_spool_add(sp, &r) != 0)
			break; /* the flush says so */
	}
	return sip_spool_flush(sp, why);
}

/* The batch into the spool (the store is unavailable, or the spool holds changes the
 * store lacks: this batch goes behind them). STORE_OK, or STORE_UNAVAILABLE when the
 * spool refuses it (then new bindings get 503: sip_loc_refusing). */
static int spool_or_refuse(struct sip_loc *l, const struct op *batch)
{
	const char *why;
	if (spool_batch(l->spool, batch, &why) != 0) {
		if (!atomic_exchange(&l->refusing, 1))
			log_ev(LOG_LVL_ERROR, NULL, "sip_location_spool_refused",
			       LOG_S("error", why),
			       LOG_S("answer", "503 Retry-After: 5 to new bindings and removals"));
		return STORE_UNAVAILABLE;
	}
	if (!l->spooling)
		log_ev(LOG_LVL_WARNING, NULL, "sip_location_spooling",
		       LOG_S("error", store_last_error()),
		       LOG_S("action",
		             "binding changes go to the local spool until the store is back"));
	l->spooling = 1;
	atomic_store(&l->refusing, 0);
	return STORE_OK;
}

/* Replays the next max changes of the spool into the store. 0, or -1 when the store
 * refused them (they stay). */
static int drain(struct sip_loc *l, long max)
{
	long n = 0;
	if (sip_spool_replay(l->spool, l->st, l->node, max, &n) != STORE_OK)
		return -1;
	l->replayed += n;
	if (sip_spool_pending(l->spool) == 0 && l->replayed) {
		log_ev(LOG_LVL_NOTICE, NULL, "sip_location_replayed", LOG_I("changes", l->replayed),
		       LOG_S("reason", "the store is back: the spool is in it"));
		l->replayed = 0;
		l->spooling = 0;
	}
	return 0;
}

/* Makes the batch of nb changes durable: committed to the store, or, while the store is
 * unavailable or the spool still holds changes it lacks, appended to the spool behind
 * them (the store sees every change in order); then a chunk of the spool bigger than the
 * batch is replayed, so that it drains under any load while each answer waits for one
 * fdatasync, not for the whole replay. Returns STORE_OK, or the store's error when
 * neither took the batch. Writer thread. */
static int persist(struct sip_loc *l, const struct op *batch, long nb)
{
	int rc;
	if (l->spool && sip_spool_pending(l->spool) > 0) {
		rc = spool_or_refuse(l, batch);
		drain(l, 2 * nb + REPLAY_CHUNK);
		return rc;
	}
	if ((rc = write_batch(l, batch)) == STORE_OK) {
		atomic_store(&l->refusing, 0);
		/* The refresh file's pages on disk too, at each scan (SCAN_EVERY_S), as SQLite's
		 * WAL is at its checkpoints: a power cut loses at most the refreshes since (the
		 * kernel writes dirty pages back after ~30 s anyway). */
		if (l->rf_sync_due) {
			l->rf_sync_due = 0;
			if (sip_rf_sync(l->rf) != 0)
				log_ev(LOG_LVL_WARNING, NULL,
				       "sip_location_refresh_file_sync_failed",
				       LOG_S("error", strerror(errno)));
		}
		return rc;
	}
	if (rc != STORE_UNAVAILABLE || !l->spool) {
		atomic_store(&l->refusing, rc == STORE_UNAVAILABLE);
		return rc;
	}
	return spool_or_refuse(l, batch);
}

static void deadline_in(struct timespec *ts, long ms)
{
	clock_gettime(CLOCK_REALTIME, ts);
	ts->tv_nsec += (ms % 1000) * 1000000L;
	ts->tv_sec += ms / 1000 + ts->tv_nsec / 1000000000L;
	ts->tv_nsec %= 1000000000L;
}

/* Tells the listener (the transport) that written or lost moved. Under qmu, so that
 * sip_loc_on_commit(l, NULL, NULL) returns only once no call is running. */
static void notify(struct sip_loc *l)
{
	if (l->on_commit)
		l->on_commit(l->on_commit_arg);
}

/* Lets a batch gather (under qmu): FLUSH_MS for write-behind changes, interval_ms once a
 * held answer waits for one (a durable change arriving mid-wait shortens the wait), none
 * when the batch is big, someone syncs or the table stops. */
static void gather(struct sip_loc *l)
{
	struct timespec ts;
	long armed = -1;
	while (!l->stopping && !l->urgent) {
		long ms = sip_commit_gather_ms(l->queued, l->want > l->written, l->interval_ms,
		                               FLUSH_MS, BATCH);
		if (ms == 0)
			return;
		if (armed < 0 || ms < armed) {
			deadline_in(&ts, ms);
			armed = ms;
		}
		if (pthread_cond_timedwait(&l->qcv, &l->qmu, &ts) == ETIMEDOUT)
			return;
	}
}

/* While the spool holds changes the store lacks and nothing else is queued, replays
 * them chunk by chunk (under qmu, released around the store), waiting a second after a
 * chunk the store refused. Returns 0 when there is nothing to replay. */
static int replay_idle(struct sip_loc *l)
{
	if (!l->spool || sip_spool_pending(l->spool) <= 0)
		return 0;
	if (l->drain_failed) {
		struct timespec ts;
		deadline_in(&ts, 1000);
		if (pthread_cond_timedwait(&l->qcv, &l->qmu, &ts) != ETIMEDOUT || l->head ||
		    l->stopping)
			return 1;
	}
	pthread_mutex_unlock(&l->qmu);
	int rc = drain(l, REPLAY_CHUNK);
	pthread_mutex_lock(&l->qmu);
	l->drain_failed = rc != 0;
	if (rc == 0)
		atomic_store(&l->refusing, 0);
	return 1;
}

static void *writer_main(void *arg)
{
	struct sip_loc *l = arg;
	pthread_mutex_lock(&l->qmu);
	for (;;) {
		while (!l->head && !l->stopping)
			if (!replay_idle(l))
				pthread_cond_wait(&l->qcv, &l->qmu);
		if (!l->head)
			break; /* stopping, nothing left */
		gather(l);
		struct op *batch = l->head, **batch_tail = l->tail;
		uint64_t upto = l->enqueued;
		long nb = l->queued;
		l->head = NULL;
		l->tail = &l->head;
		l->queued = 0;
		l->urgent = 0;
		pthread_mutex_unlock(&l->qmu);

		uint64_t t0 = metrics_now_ns();
		int rc = persist(l, batch, nb);
		uint64_t took = metrics_now_ns() - t0;

		pthread_mutex_lock(&l->qmu);
		if (rc == STORE_OK) {
			if (l->nspare + nb <= SPARE_MAX) { /* kept for the next changes */
				*batch_tail = l->spare;
				l->spare = batch;
				l->nspare += nb;
			} else
				free_ops(batch);
			if (l->failing)
				log_ev(LOG_LVL_NOTICE, NULL, "sip_location_persisted",
				       LOG_S("reason", "the store accepts bindings again"));
			l->failing = 0;
			l->written = upto;
			l->point.written = upto;
			atomic_store_explicit(&l->written_hint, upto, memory_order_release);
			metrics_histogram_observe_ns(&l->stats.commit_latency, took);
			metrics_histogram_observe_ns(&l->stats.batch_changes,
			                             (uint64_t)nb * 1000000000u);
			notify(l);
		} else {
			if (!l->failing)
				log_ev(LOG_LVL_ERROR, NULL, "sip_location_persist_failed",
				       LOG_S("error", store_last_error()),
				       LOG_S("action", "kept in memory, retried every second"));
			l->failing = 1;
			/* Put the batch back in front; drop the oldest beyond the cap. */
			struct op *last = batch;
			while (last->next)
				last = last->next;
			last->next = l->head;
			if (!l->head)
				l->tail = &last->next;
			l->head = batch;
			l->queued += nb;
			uint64_t lost = 0, from = l->written;
			while (l->queued > QUEUE_MAX && l->head) {
				struct op *o = l->head;
				l->head = o->next;
				if (!l->head)
					l->tail = &l->head;
				lost = o->seq;
				free(o);
				l->queued--;
				l->dropped++;
			}
			if (lost) { /* held answers waiting for these get 500 */
				if (l->point.lost_upto <= from) /* a new range (since a commit) */
					l->point.lost_from = from;
				l->point.lost_upto = lost;
				notify(l);
			}
			pthread_cond_broadcast(&l->donecv); /* sync() gives up while failing */
			if (l->stopping)
				break; /* one last try was made */
			struct timespec ts;
			deadline_in(&ts, 1000);
			pthread_cond_timedwait(&l->qcv, &l->qmu, &ts);
			continue;
		}
		pthread_cond_broadcast(&l->donecv);
	}
	if (l->head) {
		log_ev(LOG_LVL_ERROR, NULL, "sip_location_lost",
		       LOG_I("changes", l->queued + l->dropped),
		       LOG_S("reason", "the store refused them at shutdown"));
		free_ops(l->head);
		l->head = NULL;
		l->tail = &l->head;
	}
	pthread_cond_broadcast(&l->donecv);
	pthread_mutex_unlock(&l->qmu);
	return NULL;
}

/* The op v describes, into o (every field but next and seq). */
static void op_fill(const struct sip_loc *l, struct op *o, const struct opdesc *v)
{
	o->kind = v->kind;
	switch (v->kind) {
	case OP_PUT:
	case OP_REFRESH:
	case OP_CHANGE:
	case OP_DELETE:
		reg_copy(&o->b, v->b);
		return;
	case OP_EXPIRE_ONE: /* the key, the node, expires the sweep's now */
	case OP_EXPIRE:     /* the node, expires the scan's now */
	case OP_STATE:      /* the device, expires the state */
		break;
	}
	memset(&o->b, 0, sizeof o->b);
	if (v->kind == OP_EXPIRE_ONE) {
		tg_strlcpy(o->b.device, v->b->device, sizeof o->b.device);
		tg_strlcpy(o->b.contact, v->b->contact, sizeof o->b.contact);
	}
	if (v->kind == OP_STATE)
		tg_strlcpy(o->b.device, v->name, sizeof o->b.device);
	else
		memcpy(o->b.node, l->node, l->node_len + 1);
	o->b.expires = v->v;
}

/* Makes the n ops v describes (from the spare ones, else malloc) and appends them to the
 * queue, numbering them, in one hold of the queue's lock; durable: an answer will wait
 * for them (t, when not NULL, gets their numbers). Returns the first op's number (the
 * k-th has first + k), or 0 when n is 0 or out of memory (then nothing is queued). */
static uint64_t enqueue(struct sip_loc *l, const struct opdesc *v, int n, int durable,
                        struct sip_loc_ticket *t)
{
	if (n <= 0)
		return 0;
	/* Only the refresh file's fold compares it (apply_op): no shared clock line touched
	 * per change without one. */
	int64_t made_ms = l->rf ? loc_now_ms(l) : 0;
	pthread_mutex_lock(&l->qmu);
	uint64_t from = l->enqueued + 1;
	struct op *first = NULL, **tail = &first;
	for (int i = 0; i < n; i++) {
		struct op *o = l->spare;
		if (o) {
			l->spare = o->next;
			l->nspare--;
		} else if (!(o = malloc(sizeof *o))) { /* give back what was taken */
			*tail = l->spare;
			l->spare = first;
			l->nspare += i;
			pthread_mutex_unlock(&l->qmu);
			return 0;
		}
		op_fill(l, o, &v[i]);
		o->seq = from + (uint64_t)i;
		o->made_ms = made_ms;
		*tail = o;
		tail = &o->next;
	}
	*tail = NULL;
	l->enqueued += (uint64_t)n;
	*l->tail = first;
	l->tail = tail;
	l->queued += n;
	/* Wake the writer when it may be idle (first change), a batch is full, or the first
	 * change someone waits for arrives while it lets write-behind changes gather. */
	int wake = l->queued == n || (l->queued >= BATCH && l->queued - n < BATCH) ||
	           (durable && l->want <= l->written);
	if (durable) {
		l->want = l->enqueued;
		if (t)
			*t = (struct sip_loc_ticket){from, l->enqueued};
	}
	if (wake)
		pthread_cond_signal(&l->qcv);
	pthread_mutex_unlock(&l->qmu);
	return from;
}

void sip_loc_sync(struct sip_loc *l)
{
	pthread_mutex_lock(&l->qmu);
	uint64_t target = l->enqueued;
	l->urgent = 1;
	pthread_cond_signal(&l->qcv);
	while (l->written < target && !l->failing && l->writer_started)
		pthread_cond_wait(&l->donecv, &l->qmu);
	pthread_mutex_unlock(&l->qmu);
}

/* --- the table ---------------------------------------------------------------------- */

/* Room for n bindings (every array). 0, or -1 when out of memory (nothing changed). */
static int dev_reserve(struct ldev *d, int n)
{
	if (n <= d->cap)
		return 0;
	void *p = realloc(d->b, (size_t)n * sizeof *d->b);
	if (!p)
		return -1;
	d->b = p;
	if (!(p = realloc(d->added, (size_t)n * sizeof *d->added)))
		return -1; /* d->b is larger than cap: harmless */
	d->added = p;
	if (!(p = realloc(d->slot, (size_t)n * sizeof *d->slot)))
		return -1;
	d->slot = p;
	d->cap = n;
	return 0;
}

/* The shard's mark down to t (never up: several writers and the sweep race here). */
static void due_lower(struct sip_loc *l, unsigned shard, int64_t t)
{
	int64_t cur = atomic_load_explicit(&l->due[shard], memory_order_relaxed);
	while (t < cur && !atomic_compare_exchange_weak_explicit(
	                      &l->due[shard], &cur, t, memory_order_relaxed, memory_order_relaxed))
		;
}

static int put_binding(struct ldev *d, const struct store_registration *b)
{
	if (d->n == d->cap) {
		int nc = d->cap ? d->cap * 2 : 1;
		if (nc > SIP_LOC_MAX || dev_reserve(d, nc) != 0)
			return -1;
	}
	d->added[d->n] = 0; /* loaded from the store */
	d->slot[d->n] = 0;
	d->b[d->n++] = *b;
	return 0;
}

static void dev_free(struct ldev *d)
{
	free(d->b);
	free(d->added);
	free(d->slot);
	free(d);
}

static void dev_free_node(struct shtable_node *n)
{
	dev_free(SHTABLE_ENTRY(n, struct ldev, node));
}

struct loader {
	struct sip_loc *l;
	int64_t now;
	int bad;
};

static int load_row(void *ud, const struct store_registration *b)
{
	struct loader *ld = ud;
	if (b->expires <= ld->now)
		return 0;
	/* Another node's (it holds the connection): not ours to serve or expire. */
	if (ld->l->node[0] && b->node[0] && strcmp(b->node, ld->l->node) != 0)
		return 0;
	struct shtable_at at;
	shtable_lock_str(ld->l->devs, b->device, &at);
	struct ldev *d = find(&at);
	if (!d && (d = calloc(1, sizeof *d))) {
		tg_strlcpy(d->name, b->device, sizeof d->name);
		shtable_insert(&at, &d->node, d->name, strlen(d->name));
	}
	int bad = !d || (put_binding(d, b) != 0 && d->n < SIP_LOC_MAX);
	due_lower(ld->l, shtable_shard_index(&at), b->expires);
	shtable_unlock(&at);
	ld->bad |= bad;
	return bad;
}

struct sip_loc *sip_loc_new(store_t *st, int64_t now, char *err, size_t errlen)
{
	return sip_loc_open(st, "", now, NULL, 0, NULL, err, errlen);
}

struct fold {
	struct sip_loc *l;
	long n;
};

static int fold_one(void *ud, const struct sip_rf_rec *r)
{
	struct fold *fo = ud;
	fo->n++;
	return store_registration_refresh_at(fo->l->st, fo->l->node, r->device, r->contact,
	                                     r->callid, r->cseq, r->expires,
	                                     r->changedms) != STORE_OK;
}

/* Folds every refresh the file holds into its row, in one transaction (an UPDATE each,
 * applied over older rows only), then empties the file. STORE_OK, or the store's error
 * (the file is kept for the next fold). at: "start" or "stop", for the log. ~10,000
 * refreshes take ~50 ms on SQLite. */
static int rf_fold(struct sip_loc *l, const char *at)
{
	uint64_t t0 = metrics_now_ns();
	struct fold fo = {l, 0};
	long torn = 0;
	int rc = store_begin(l->st);
	if (rc == STORE_OK) {
		if (sip_rf_each(l->rf, fold_one, &fo, &torn) != 0) {
			rc = STORE_ERROR;
			store_rollback(l->st);
		} else
			rc = store_commit(l->st);
	}
	if (rc != STORE_OK)
		return rc;
	if (sip_rf_reset(l->rf) != 0) {
		/* Its slots are in the rows already; refreshes become UPDATEs from here. */
		log_ev(LOG_LVL_WARNING, NULL, "sip_location_refresh_file_reset_failed",
		       LOG_S("error", strerror(errno)),
		       LOG_S("effect", "refreshes are written to the store as UPDATEs"));
		sip_rf_close(l->rf);
		l->rf = NULL;
	}
	if (fo.n || torn)
		/* At start: what a crash left (a clean stop leaves nothing), worth a notice. */
		log_ev(strcmp(at, "start") ? LOG_LVL_INFO : LOG_LVL_NOTICE, NULL,
		       "sip_location_refreshes_folded", LOG_S("at", at), LOG_I("refreshes", fo.n),
		       LOG_I("torn", torn), LOG_I("ms", (long)((metrics_now_ns() - t0) / 1000000)));
	return STORE_OK;
}

struct sip_loc *sip_loc_open(store_t *st, const char *node, int64_t now, const char *spool_path,
                             int64_t spool_max, const char *refresh_path, char *err, size_t errlen)
{
	struct sip_loc *l = calloc(1, sizeof *l);
	if (!l) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	l->st = st;
	tg_strlcpy(l->node, node, sizeof l->node);
	l->node_len = strlen(l->node);
	pthread_mutex_init(&l->qmu, NULL);
	pthread_cond_init(&l->qcv, NULL);
	pthread_cond_init(&l->donecv, NULL);
	l->tail = &l->head;
	l->interval_ms = SIP_LOC_COMMIT_INTERVAL_MS;
	metrics_histogram_init(&l->stats.commit_latency, metrics_latency_bounds,
	                       metrics_latency_nbounds);
	metrics_histogram_init(&l->stats.batch_changes, batch_bounds,
	                       sizeof batch_bounds / sizeof batch_bounds[0]);
	l->devs =
	    shtable_new(&(struct shtable_opts){.shards = SHARDS, .free_entry = dev_free_node});
	if (!l->devs) {
		snprintf(err, errlen, "out of memory");
		sip_loc_free(l);
		return NULL;
	}
	if (spool_path && !(l->spool = sip_spool_open(spool_path, spool_max, err, errlen))) {
		sip_loc_free(l);
		return NULL;
	}
	/* What the last run left: into the store before the bindings are loaded from it. */
	while (l->spool && sip_spool_pending(l->spool) > 0)
		if (drain(l, 16 * REPLAY_CHUNK) != 0) {
			snprintf(err, errlen, "replaying the spool %s: %s", spool_path,
			         store_last_error());
			sip_loc_free(l);
			return NULL;
		}
	/* Refreshes a crash left in the refresh file: into their rows before they are loaded. */
	if (refresh_path) {
		char why[256];
		if (!(l->rf = sip_rf_open(refresh_path, why, sizeof why)))
			log_ev(LOG_LVL_WARNING, NULL, "sip_location_refresh_file_unavailable",
			       LOG_S("error", why),
			       LOG_S("effect", "refreshes are written to the store as UPDATEs"));
		else if (rf_fold(l, "start") != STORE_OK) {
			snprintf(err, errlen, "folding the refresh file %s: %s", refresh_path,
			         store_last_error());
			sip_loc_free(l);
			return NULL;
		}
	}
	struct loader ld = {l, now, 0};
	if (store_registrations(st, NULL, load_row, &ld) != STORE_OK || ld.bad) {
		snprintf(err, errlen, "loading registrations: %s",
		         ld.bad ? "out of memory" : store_last_error());
		sip_loc_free(l);
		return NULL;
	}
	if (pthread_create(&l->writer, NULL, writer_main, l) != 0) {
		snprintf(err, errlen, "cannot start the location writer thread");
		sip_loc_free(l);
		return NULL;
	}
	l->writer_started = 1;
	return l;
}

long sip_loc_refresh_slots(struct sip_loc *l)
{
	return l->rf ? sip_rf_count(l->rf) : 0;
}

void sip_loc_free(struct sip_loc *l)
{
	if (!l)
		return;
	if (l->writer_started) {
		pthread_mutex_lock(&l->qmu);
		l->stopping = 1;
		pthread_cond_signal(&l->qcv);
		pthread_mutex_unlock(&l->qmu);
		pthread_join(l->writer, NULL);
	}
	/* A clean stop leaves the rows whole (a backup or another reader of the file sees
	 * every refresh) and the refresh file empty. */
	if (l->rf && l->writer_started && rf_fold(l, "stop") != STORE_OK)
		log_ev(LOG_LVL_ERROR, NULL, "sip_location_refresh_fold_failed",
		       LOG_S("error", store_last_error()),
		       LOG_S("effect",
		             "the refreshes stay in the file and are folded at the next start"));
	sip_rf_close(l->rf);
	free_ops(l->head);
	free_ops(l->spare);
	sip_spool_close(l->spool);
	shtable_free(l->devs);
	pthread_mutex_destroy(&l->qmu);
	pthread_cond_destroy(&l->qcv);
	pthread_cond_destroy(&l->donecv);
	free(l);
}

static int index_of(const struct store_registration *b, int n, const char *contact)
{
	for (int i = 0; i < n; i++)
		if (strcmp(b[i].contact, contact) == 0)
			return i;
	return -1;
}

static const struct store_registration *by_contact(const struct store_registration *b, int n,
                                                   const char *contact)
{
	int i = index_of(b, n, contact);
	return i < 0 ? NULL : &b[i];
}

/* The same binding but for what a refresh changes (Call-ID, CSeq, expiry). */
static int same_but_refresh(const struct store_registration *a, const struct store_registration *b)
{
	return !strcmp(a->aor, b->aor) && !strcmp(a->transport, b->transport) &&
	       !strcmp(a->source, b->source) && !strcmp(a->sipinstance, b->sipinstance) &&
	       a->regid == b->regid;
}

static int same(const struct store_registration *a, const struct store_registration *b)
{
	return a->cseq == b->cseq && a->expires == b->expires && !strcmp(a->callid, b->callid) &&
	       same_but_refresh(a, b);
}

int sip_loc_update(struct sip_loc *l, const char *device, int64_t now, sip_loc_edit_fn fn, void *ud,
                   int *before, struct store_registration *after, int *nafter)
{
	return sip_loc_change(l, device, now, fn, ud, before, after, nafter, NULL);
}

/* s (at most len bytes of it) into dst, NUL-terminated: a binding's device or node. */
static void put_id(char *dst, const char *s, size_t len)
{
	memcpy(dst, s, len);
	dst[len] = '\0';
}

int sip_loc_change(struct sip_loc *l, const char *device, int64_t now, sip_loc_edit_fn fn, void *ud,
                   int *before, struct store_registration *after, int *nafter,
                   struct sip_loc_ticket *t)
{
	if (t)
		*t = (struct sip_loc_ticket){0, 0};
	/* The edit works in the caller's array when there is one (no copy out after). */
	struct store_registration own[SIP_LOC_MAX], *work = after ? after : own;
	size_t dlen = strnlen(device, STORE_ID_MAX);
	struct shtable_at at;
	shtable_lock_str(l->devs, device, &at);
	struct ldev *d = find(&at);
	int n = 0;
	for (int i = 0; d && i < d->n; i++)
		if (d->b[i].expires > now)
			reg_copy(&work[n++], &d->b[i]);
	*before = n;
	int rc = fn(ud, work, &n, SIP_LOC_MAX);
	if (rc != 0) {
		shtable_unlock(&at);
		return rc;
	}
	for (int i = 0; i < n; i++) {
		put_id(work[i].device, device, dlen);
		put_id(work[i].node, l->node, l->node_len);
	}
	/* What the store must learn: bindings gone (expired ones included) and new or changed. */
	struct opdesc ops[2 * SIP_LOC_MAX + 1];
	int nops = 0, durable = 0;
	/* A binding that goes or a contact that is new must be in the store before the 200;
	 * a refresh of a binding the store has (same contact, new expiry, Call-ID or CSeq)
	 * stays write-behind: losing it only leaves the earlier expiry in the store. A
	 * contact whose addition is not committed yet is new again (its PUT is queued anew,
	 * and this answer waits for it). */
	uint64_t committed = atomic_load_explicit(&l->written_hint, memory_order_acquire);
	long pos[SIP_LOC_MAX];      /* work[i]'s PUT among the ops when it is new, else -1 */
	uint64_t kept[SIP_LOC_MAX]; /* work[i]'s added when it is not */
	/* What the table's d->b[i] lacks of work[i] when it holds the same binding: SAME
	 * nothing, REFRESHED the Call-ID, CSeq and expiry; else (WHOLE) all of it. A cached
	 * refresh copied all eight strings back (issue 22, round 10). */
	enum { WHOLE, REFRESHED, SAME } lacks[SIP_LOC_MAX];
	/* work[i]'s refresh file slot (0: none), taken here (took) for its first refresh,
	 * and what becomes of it: a refresh is written into it instead of queued; a put or
	 * change makes it invalid (the row it goes to is newer). */
	uint32_t slot[SIP_LOC_MAX];
	enum { SLOT_KEEP, SLOT_WRITE, SLOT_VOID } slotdo[SIP_LOC_MAX];
	unsigned char took[SIP_LOC_MAX];
	for (int i = 0; d && i < d->n; i++)
		if (!by_contact(work, n, d->b[i].contact)) {
			ops[nops++] = (struct opdesc){OP_DELETE, &d->b[i], NULL, 0};
			durable |= d->b[i].expires > now; /* an expired one is the sweep's */
		}
	for (int i = 0; i < n; i++) {
		int oi = d ? index_of(d->b, d->n, work[i].contact) : -1;
		const struct store_registration *old = oi >= 0 ? &d->b[oi] : NULL;
		int fresh = !old || old->expires <= now || d->added[oi] > committed;
		pos[i] = fresh ? nops : -1;
		kept[i] = old ? d->added[oi] : 0;
		int unchanged = !fresh && same(old, &work[i]);
		int refresh = !fresh && !unchanged && same_but_refresh(old, &work[i]);
		slot[i] = old ? d->slot[oi] : 0;
		took[i] = 0;
		int fits = refresh && l->rf &&
		           strnlen(work[i].callid, sizeof work[i].callid) <= SIP_RF_CALLID_MAX;
		if (fits && !slot[i])
			took[i] = (slot[i] = sip_rf_take(l->rf, device, work[i].contact)) != 0;
		int in_file = fits && slot[i];
		slotdo[i] = in_file ? SLOT_WRITE : !unchanged && slot[i] ? SLOT_VOID : SLOT_KEEP;
		if (!unchanged && !in_file)
			ops[nops++] = (struct opdesc){fresh     ? OP_PUT
			                              : refresh ? OP_REFRESH
			                                        : OP_CHANGE,
			                              &work[i], NULL, 0};
		durable |= fresh;
		/* The same place and owner: d->b[i] is old (the device and contact match). */
		lacks[i] = oi != i || !(unchanged || refresh) || strcmp(old->node, work[i].node)
		               ? WHOLE
		           : unchanged ? SAME
		                       : REFRESHED;
	}
	/* The device's state for the other nodes, as register.c publishes it here. */
	if ((*before == 0) != (n == 0))
		ops[nops++] = (struct opdesc){OP_STATE, NULL, device, n > 0};
	int created = 0, bad = 0;
	if (n > 0 && !d) {
		if (!(d = calloc(1, sizeof *d)))
			bad = 1;
		else {
			put_id(d->name, device, dlen);
			shtable_insert(&at, &d->node, d->name, dlen);
			created = 1;
		}
	}
	/* Slots whose rows are about to be written whole are voided before the change is
	 * queued: once it is, the writer may commit it at any moment, and a slot still valid
	 * then would be folded over the newer row after a crash. */
	for (int i = 0; i < n; i++)
		if (slotdo[i] == SLOT_VOID)
			sip_rf_invalidate(l->rf, slot[i]);
	/* Queued while the shard is held, so the store sees this device's edits in order;
	 * before the table changes, so that no memory leaves it as it was. */
	uint64_t from = 0;
	if (!bad && ((n > 0 && dev_reserve(d, n) != 0) ||
	             (nops && !(from = enqueue(l, ops, nops, durable, t)))))
		bad = 1;
	if (bad) {
		for (int i = 0; i < n; i++)
			if (took[i])
				sip_rf_drop(l->rf, slot[i]);
		if (created) {
			shtable_remove(&at, &d->node);
			dev_free(d);
		}
		shtable_unlock(&at);
		return -1;
	}
	/* The refresh file: slots of bindings gone freed, refreshes stored (their Call-IDs'
	 * lengths checked above: the write cannot fail). */
	for (int i = 0; d && i < d->n; i++)
		if (d->slot[i] && !by_contact(work, n, d->b[i].contact))
			sip_rf_drop(l->rf, d->slot[i]);
	int64_t now_ms = 0;
	for (int i = 0; i < n; i++)
		if (slotdo[i] == SLOT_WRITE) {
			if (!now_ms)
				now_ms = loc_now_ms(l);
			(void)sip_rf_write(l->rf, slot[i], work[i].callid, work[i].cseq,
			                   work[i].expires, now_ms);
		}
	if (n == 0) {
		if (d) {
			shtable_remove(&at, &d->node);
			dev_free(d);
		}
	} else {
		for (int i = 0; i < n; i++)
			if (lacks[i] == WHOLE)
				reg_copy(&d->b[i], &work[i]);
			else if (lacks[i] == REFRESHED) {
				tg_strlcpy(d->b[i].callid, work[i].callid, sizeof d->b[i].callid);
				d->b[i].cseq = work[i].cseq;
				d->b[i].expires = work[i].expires;
			}
		d->n = n;
		int64_t first_due = work[0].expires;
		for (int i = 1; i < n; i++)
			if (work[i].expires < first_due)
				first_due = work[i].expires;
		due_lower(l, shtable_shard_index(&at), first_due);
		for (int i = 0; i < n; i++) {
			d->added[i] = pos[i] >= 0 ? from + (uint64_t)pos[i] : kept[i];
			d->slot[i] = slot[i];
		}
	}
	shtable_unlock(&at);
	if (nafter)
		*nafter = n;
	return 0;
}

/* One shard's expiry: drops expired bindings, removes the devices left with none and
 * keeps their names, so that gone() runs after the shard's lock is released. */
struct expiry {
	struct sip_loc *l;
	int64_t now;
	int64_t next; /* the earliest expiry kept in the shard */
	char (*names)[STORE_ID_MAX + 1];
	int nn, cap;
};

static int expire_dev(void *ud, struct shtable_node *node)
{
	struct expiry *x = ud;
	struct ldev *d = SHTABLE_ENTRY(node, struct ldev, node);
	/* The expired bindings' rows go by key, queued under the shard's lock (a REGISTER
	 * of the same contact right after is written after it), before the bindings are
	 * dropped (the ops are made from them). Out of memory: the next scan (SCAN_EVERY_S)
	 * deletes the row. */
	struct opdesc ops[SIP_LOC_MAX + 1];
	int n = 0, k = 0;
	for (int i = 0; i < d->n; i++) /* d->n <= SIP_LOC_MAX */
		if (d->b[i].expires <= x->now)
			ops[n++] = (struct opdesc){OP_EXPIRE_ONE, &d->b[i], NULL, x->now};
		else
			k++;
	/* Out of service for the other nodes (none left): queued under the shard's lock, so
	 * that a REGISTER of the device right after is told after it. Without memory the
	 * others keep it in service until their next resync. */
	if (!k)
		ops[n++] = (struct opdesc){OP_STATE, NULL, d->name, 0};
	enqueue(x->l, ops, n, 0, NULL);
	k = 0;
	for (int i = 0; i < d->n; i++)
		if (d->b[i].expires > x->now) {
			if (d->b[i].expires < x->next)
				x->next = d->b[i].expires;
			d->added[k] = d->added[i];
			d->slot[k] = d->slot[i];
			d->b[k++] = d->b[i];
		} else if (d->slot[i])
			sip_rf_drop(x->l->rf, d->slot[i]);
	d->n = k;
	if (k)
		return SHTABLE_NEXT;
	if (x->nn == x->cap) {
		int nc = x->cap ? x->cap * 2 : 16;
		void *p = realloc(x->names, (size_t)nc * sizeof *x->names);
		if (p) {
			x->names = p;
			x->cap = nc;
		}
	}
	if (x->nn < x->cap)
		tg_strlcpy(x->names[x->nn++], d->name, sizeof x->names[0]);
	return SHTABLE_REMOVE; /* freed by the table (dev_free) */
}

void sip_loc_expire(struct sip_loc *l, int64_t now, void (*gone)(void *ud, const char *device),
                    void *ud)
{
	struct expiry x = {.l = l, .now = now};
	_Static_assert(SHARDS > 0, "a mark per shard");
	for (unsigned s = 0; s < shtable_shards(l->devs) && s < SHARDS; s++) {
		/* Only what is due (issue 22: the sweep visited every binding each second). The
		 * mark is reset before the sweep takes the shard, so a binding written meanwhile
		 * lowers the new mark (or is seen by the sweep). */
		if (atomic_load_explicit(&l->due[s], memory_order_relaxed) > now)
			continue;
		atomic_store_explicit(&l->due[s], INT64_MAX, memory_order_relaxed);
		x.nn = 0;
		x.next = INT64_MAX;
		shtable_sweep_shard(l->devs, s, expire_dev, &x);
		due_lower(l, s, x.next);
		for (int i = 0; i < x.nn; i++)
			gone(ud, x.names[i]);
	}
	free(x.names);
	if (now >= l->next_scan) {
		l->next_scan = now + SCAN_EVERY_S;
		/* Out of memory: the scan SCAN_EVERY_S later. */
		struct opdesc scan = {OP_EXPIRE, NULL, NULL, now};
		enqueue(l, &scan, 1, 0, NULL);
	}
}

struct blist {
	struct store_registration *v;
	size_t n, cap;
};

static int grab(struct blist *bl, const struct ldev *d, int64_t now)
{
	for (int i = 0; i < d->n; i++) {
		if (d->b[i].expires <= now)
			continue;
		if (bl->n == bl->cap) {
			size_t nc = bl->cap ? bl->cap * 2 : 64;
			void *p = realloc(bl->v, nc * sizeof *bl->v);
			if (!p)
				return -1;
			bl->v = p;
			bl->cap = nc;
		}
		bl->v[bl->n++] = d->b[i];
	}
	return 0;
}

static int by_name(const void *a, const void *b)
{
	const struct store_registration *x = a, *y = b;
	int c = strcmp(x->device, y->device);
	return c ? c : strcmp(x->contact, y->contact);
}

struct grabber {
	struct blist bl;
	int64_t now;
	int bad;
};

static int grab_dev(void *ud, struct shtable_node *node)
{
	struct grabber *g = ud;
	g->bad = grab(&g->bl, SHTABLE_ENTRY(node, struct ldev, node), g->now) != 0;
	return g->bad ? SHTABLE_STOP : SHTABLE_NEXT;
}

int sip_loc_list(struct sip_loc *l, const char *device, int64_t now,
                 int (*fn)(void *ud, const struct store_registration *b), void *ud)
{
	struct grabber g = {.now = now};
	if (device) {
		struct shtable_at at;
		shtable_lock_str(l->devs, device, &at);
		struct ldev *d = find(&at);
		g.bad = d && grab(&g.bl, d, now) != 0;
		shtable_unlock(&at);
	} else {
		shtable_sweep(l->devs, grab_dev, &g); /* one shard held at a time */
	}
	if (g.bad) {
		free(g.bl.v);
		return -1;
	}
	if (g.bl.n)
		qsort(g.bl.v, g.bl.n, sizeof *g.bl.v, by_name);
	for (size_t i = 0; i < g.bl.n; i++)
		if (fn(ud, &g.bl.v[i]))
			break;
	free(g.bl.v);
	return 0;
}

struct counts {
	int64_t now;
	long devices, bindings;
};

static int count_dev(void *ud, struct shtable_node *node)
{
	struct counts *c = ud;
	const struct ldev *d = SHTABLE_ENTRY(node, struct ldev, node);
	int live = 0;
	for (int i = 0; i < d->n; i++)
		live += d->b[i].expires > c->now;
	c->devices += live > 0;
	c->bindings += live;
	return SHTABLE_NEXT;
}

void sip_loc_counts(struct sip_loc *l, int64_t now, long *devices, long *bindings)
{
	struct counts c = {.now = now};
	shtable_sweep(l->devs, count_dev, &c);
	*devices = c.devices;
	*bindings = c.bindings;
}

int sip_loc_refusing(struct sip_loc *l)
{
	return atomic_load(&l->refusing);
}

enum sip_commit_state sip_loc_state(struct sip_loc *l, const struct sip_loc_ticket *t)
{
	struct sip_commit_point p;
	sip_loc_committed(l, &p);
	return sip_commit_state(t, &p);
}

void sip_loc_committed(struct sip_loc *l, struct sip_commit_point *p)
{
	pthread_mutex_lock(&l->qmu); /* never held across a store call */
	*p = l->point;
	pthread_mutex_unlock(&l->qmu);
}

void sip_loc_set_commit_interval(struct sip_loc *l, long ms)
{
	pthread_mutex_lock(&l->qmu);
	l->interval_ms = ms < 0 ? 0 : ms;
	pthread_mutex_unlock(&l->qmu);
}

void sip_loc_on_commit(struct sip_loc *l, void (*fn)(void *arg), void *arg)
{
	pthread_mutex_lock(&l->qmu);
	l->on_commit = fn;
	l->on_commit_arg = arg;
	pthread_mutex_unlock(&l->qmu);
}

const struct sip_loc_stats *sip_loc_stats(struct sip_loc *l)
{
	return &l->stats;
}
