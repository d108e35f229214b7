/* SPDX-License-Identifier: ISC */
/*
 * commitq: the pure parts of "a new binding or a removal is answered 200 only once it is
 * in the store" (docs/sip.md, Location) — the ticket a change gets, what a ticket's state
 * is given what the writer has committed, how long the writer lets a batch gather, and a
 * bounded FIFO of answers that wait for their ticket. No locks, no threads, no clock: the
 * location writer (location.c) and the transport (transport.c) own the state and call
 * these with it.
 *
 * Sequence numbers: the location table numbers every change it queues for the store 1, 2,
 * 3, ... in queue order. The writer commits a prefix of the queue at a time and publishes
 * the last number committed (written); while the store refuses, the queue is capped and
 * its oldest changes are dropped: the numbers (lost_from, lost_upto] (the latest range
 * dropped, all after what was written then) are never committed, though written later
 * passes them. A ticket is the range [first, last] of the changes one REGISTER queued.
 *
 * Threads: a struct sip_commitq belongs to one thread (a loop); the functions on tickets
 * are pure. Ownership: the queue links the caller's nodes (embed a struct
 * sip_commitq_node); it never allocates or frees.
 */
#ifndef TG_SIP_COMMITQ_H
#define TG_SIP_COMMITQ_H

#include <stdint.h>

/* The changes one edit queued; {0, 0}: nothing that must be durable before the answer. */
struct sip_loc_ticket {
	uint64_t first, last;
};

enum sip_commit_state {
	SIP_COMMIT_PENDING, /* not committed yet */
	SIP_COMMIT_DURABLE, /* every change of the ticket is committed (or there is none) */
	SIP_COMMIT_LOST,    /* at least one change was dropped from the capped queue */
	SIP_COMMIT_EXPIRED  /* sip_commitq_pop_ready only: waited past its deadline */
};

/* What the writer has published (see above); {0, 0, 0} at the start. */
struct sip_commit_point {
	uint64_t written;              /* every change numbered up to this is committed ... */
	uint64_t lost_from, lost_upto; /* ... but those in (lost_from, lost_upto] */
};

/* The state of t at point p. Pure. */
enum sip_commit_state sip_commit_state(const struct sip_loc_ticket *t,
                                       const struct sip_commit_point *p);

/* How long (ms) the writer lets a batch gather before it commits: 0 = now. queued: changes
 * waiting; durable: someone waits for one of them (its answer is held); interval_ms: the
 * gathering allowed then (sip.commit_interval_ms); flush_ms: the write-behind gathering
 * otherwise; batch_max: a batch this big is committed at once. Pure. */
long sip_commit_gather_ms(long queued, int durable, long interval_ms, long flush_ms,
                          long batch_max);

struct sip_commitq_node {
	struct sip_commitq_node *next;
	struct sip_loc_ticket t;
	int64_t deadline_us; /* a monotonic time (tg_mono_us); pushed in increasing order */
};

struct sip_commitq {
	struct sip_commitq_node *head, **tail;
	int n, max; /* max: the bound given to init */
};

void sip_commitq_init(struct sip_commitq *q, int max);
/* Appends n. Returns 0, or -1 when the queue holds max nodes already (n not linked). */
int sip_commitq_push(struct sip_commitq *q, struct sip_commitq_node *n);
/* Unlinks and returns the head when it is ready to be answered, with *st why: DURABLE,
 * LOST, or EXPIRED (deadline at or before now_us); NULL when the queue is empty or its
 * head still waits. Only the head is looked at: nodes are answered in arrival order, so
 * one whose changes are committed may wait behind an earlier one (by one commit at most,
 * since every commit takes everything queued before it). */
struct sip_commitq_node *sip_commitq_pop_ready(struct sip_commitq *q,
                                               const struct sip_commit_point *p, int64_t now_us,
                                               enum sip_commit_state *st);
/* Unlinks and returns the head whatever its state (NULL when empty): shutting down. */
struct sip_commitq_node *sip_commitq_pop(struct sip_commitq *q);
/* The head's deadline, or -1 when the queue is empty. */
int64_t sip_commitq_next_deadline(const struct sip_commitq *q);
/* Admission (docs/sip.md, Location): 1 when the store is behind, that is when the oldest
 * answer in q has waited half its time or more (its deadline is at most wait_us / 2 away,
 * wait_us being the whole wait a node is pushed with: sip.commit_timeout_ms); else 0. A
 * new binding or removal is then answered 503 with Retry-After at once rather than held
 * to a likely 500: the phone's retransmissions (every 0.5-4 s) would only add load. */
int sip_commitq_behind(const struct sip_commitq *q, int64_t now_us, int64_t wait_us);

#endif
