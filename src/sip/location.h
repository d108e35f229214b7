/* SPDX-License-Identifier: ISC */
/*
 * location: the registrar's bindings (RFC 3261 §10 location service) held in memory and
 * written to the store behind the requests that change them.
 *
 * A REGISTER edits its device's bindings under one of 64 shard locks (devices live in a
 * core/shtable; expiry and listing hold one shard at a time); no store write happens on
 * its path. Each edit is queued, numbered (commitq.h), for a writer thread that applies
 * every queued change to the store in one transaction (group commit), so SQLite's write
 * lock is never waited for on an event loop and one commit carries many bindings.
 *
 * Two kinds of change (docs/sip.md, Location): a new binding or a removal gets a ticket
 * (sip_loc_change) and its 200 waits until sip_loc_state says the ticket is durable; the
 * writer commits such changes as soon as it is idle, after letting a batch gather for at
 * most sip_loc_set_commit_interval ms, and calls the sip_loc_on_commit listener after
 * every commit. A refresh of a binding the store has (same contact) is write-behind: it
 * is committed with the next batch, or after 50 ms, or at 512 waiting; a crash loses at
 * most the last ~50 ms of refreshes, which only shortens the expiry the store keeps.
 * With the refresh file (sip_loc_open's refresh_path, SQLite) a refresh is not queued:
 * it is stored into the binding's slot of the file (refreshfile.h) on the caller's
 * thread, under the shard lock, before sip_loc_change returns.
 * The queued changes are made in ops the writer keeps for reuse once written (at most
 * 1,024, ~1.9 MB): no allocation per change on the request's thread, none freed per
 * change on the writer's (issue 22).
 * sip_loc_free writes what is still queued (a clean stop keeps every binding). If the
 * store refuses a batch, the writer logs it once, keeps the batch and retries every
 * second (at most 100,000 queued changes; beyond that the oldest are dropped, counted in
 * the log, and their tickets are lost).
 *
 * sip_loc_new loads the bindings that have not expired from the store (sip_loc_open: this
 * node's).
 *
 * Threads: every function but sip_loc_free may be called from any thread; sip_loc_free
 * only once no other thread calls in (it folds the refresh file). Ownership: the
 * store must outlive the table; the binding arrays handed to callbacks are valid for the
 * call only.
 */
#ifndef TG_SIP_LOCATION_H
#define TG_SIP_LOCATION_H

#include "core/metrics.h"
#include "sip/commitq.h"
#include "store/store.h"

#include <stdint.h>

#define SIP_LOC_MAX 32 /* bindings per device */
/* The default gathering (ms) of a batch that a held answer waits for. */
#define SIP_LOC_COMMIT_INTERVAL_MS 2

struct sip_loc;

struct sip_loc *sip_loc_new(store_t *st, int64_t now, char *err, size_t errlen);
/* The same for one node of a cluster (issue 21, docs/cluster.md): the bindings it writes
 * carry node (a phone that registers through this node takes its binding over from
 * another), it loads only its own (and those without a node) and expires only those.
 * node "" is sip_loc_new: every row. A device's first binding and its last one's going
 * (removal or expiry) are told to the other nodes (store_devstate_announce) in the
 * transaction that writes the change.
 * With the outage spool (spool.h) at spool_path, capped at spool_max bytes: what the
 * file holds (a crash's leftovers) is replayed into the store before the bindings are
 * loaded; while the store is unavailable, the writer spools the batches it cannot commit
 * and counts them durable (device-state announcements are not spooled: the other nodes
 * re-read the store when their listening session is back). Fails (err) when the file
 * cannot be opened or replayed. spool_path NULL: no spool.
 * With the refresh file (refreshfile.h) at refresh_path (SQLite: the store's rows are
 * this process's alone): a refresh is recorded in the file, not UPDATEd into its row;
 * what the file holds (a crash's leftovers) is folded into the rows before they are
 * loaded, and again at sip_loc_free; the store's scan of expired rows keeps those the
 * file says were refreshed. Fails (err) when the fold fails; a file that cannot be
 * opened is logged (sip_location_refresh_file_unavailable) and refreshes are UPDATEs.
 * refresh_path NULL: no file (PostgreSQL: the other nodes read the rows). */
struct sip_loc *sip_loc_open(store_t *st, const char *node, int64_t now, const char *spool_path,
                             int64_t spool_max, const char *refresh_path, char *err, size_t errlen);
/* Bindings holding a slot of the refresh file (0 without one): they were refreshed since
 * their last put or change, or are between refreshes; a removal or expiry frees it. */
long sip_loc_refresh_slots(struct sip_loc *l);
/* Writes what is queued, stops the writer and frees the table. */
void sip_loc_free(struct sip_loc *l);

/* The edit of one device's bindings: b[0..*n) are its live bindings (expired ones already
 * dropped); the function may change, add (up to cap) and remove entries and returns 0 to
 * keep the result, nonzero to leave the bindings as they were (that value is returned by
 * sip_loc_update). Runs under the device's shard lock: no blocking calls. */
typedef int (*sip_loc_edit_fn)(void *ud, struct store_registration *b, int *n, int cap);

/* Applies fn to the device's bindings at time now and queues what changed for the store.
 * *before gets how many live bindings there were, after (may be NULL; SIP_LOC_MAX
 * entries) and *nafter what there are now. fn works in after when it is given (no copy
 * out): after a refusal or -1, after holds fn's unkept result. Returns 0, fn's refusal,
 * or -1 (no memory; the bindings are as they were, nothing is queued). */
int sip_loc_update(struct sip_loc *l, const char *device, int64_t now, sip_loc_edit_fn fn, void *ud,
                   int *before, struct store_registration *after, int *nafter);

/* sip_loc_update, and *t (not NULL) the ticket of the changes that must be durable
 * before the request is answered 200: {0, 0} when there are none (a refresh, a refusal, a
 * query). */
int sip_loc_change(struct sip_loc *l, const char *device, int64_t now, sip_loc_edit_fn fn, void *ud,
                   int *before, struct store_registration *after, int *nafter,
                   struct sip_loc_ticket *t);

/* Whether t's changes are committed (commitq.h). Any thread (sip_loc_committed). */
enum sip_commit_state sip_loc_state(struct sip_loc *l, const struct sip_loc_ticket *t);

/* 1 when the store is unavailable and the spool cannot take more (full, unwritable, or
 * none): a new binding or removal is then answered 503 at once rather than held. Any
 * thread. */
int sip_loc_refusing(struct sip_loc *l);

/* What the writer has committed and dropped (commitq.h), for sip_commitq_pop_ready. Any
 * thread: takes the queue's lock, which is never held across a store call. */
void sip_loc_committed(struct sip_loc *l, struct sip_commit_point *p);

/* How long (ms, >= 0) the writer lets a batch that someone waits for gather; 0: commit as
 * soon as the writer is idle (what arrives during a commit makes the next batch). */
void sip_loc_set_commit_interval(struct sip_loc *l, long ms);

/* fn(arg) runs on the writer thread after each commit and when queued changes are
 * dropped: keep it short and non-blocking (post to a loop). NULL stops the calls; when
 * this returns, no call is running. */
void sip_loc_on_commit(struct sip_loc *l, void (*fn)(void *arg), void *arg);

/* The writer's commits: latency from begin (the wait for the write lock included) to
 * commit, and size in changes. Any thread reads them (atomics). */
struct sip_loc_stats {
	struct metrics_histogram commit_latency; /* seconds */
	struct metrics_histogram batch_changes;  /* changes per commit (one unit = one) */
};
const struct sip_loc_stats *sip_loc_stats(struct sip_loc *l);

/* Drops the bindings that expired at or before now; calls gone(ud, device) for each
 * device left with none. The store learns it behind: each dropped binding's row is
 * deleted by its key, and the first call and then one every 300 s (now, epoch s) also
 * queue the store's scan of the node's expired rows (rows memory does not hold). One
 * thread calls it (the registrar's sweep timer). */
void sip_loc_expire(struct sip_loc *l, int64_t now, void (*gone)(void *ud, const char *device),
                    void *ud);

/* Calls fn for every live binding (of one device, or of all when device is NULL), ordered
 * by device and contact; fn returns nonzero to stop. Returns -1 when out of memory. */
int sip_loc_list(struct sip_loc *l, const char *device, int64_t now,
                 int (*fn)(void *ud, const struct store_registration *b), void *ud);

/* Devices with at least one live binding, and bindings in all. */
void sip_loc_counts(struct sip_loc *l, int64_t now, long *devices, long *bindings);

/* Blocks until every change queued so far is in the store (or the store refused it). */
void sip_loc_sync(struct sip_loc *l);

#endif
