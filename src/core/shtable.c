/* SPDX-License-Identifier: ISC */
#include "core/shtable.h"

#include <pthread.h>
#include <sodium.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#define SHARDS_DEFAULT 64
#define SHARDS_MAX 1024
#define BUCKETS_DEFAULT 8
#define BUCKETS_MAX (1u << 24) /* slots per shard: 256 MiB of slots is enough */

/* A slot of a shard's array: a node and its hash side by side, so that a probe compares
 * hashes in the array and reads only a node whose hash is the key's (issue 22: walking
 * chains, each step a node in another cache line, was ~28 % of shtable_find's samples
 * under load). n NULL: empty (a probe stops); TOMB: a removed entry (a probe goes on). */
struct slot {
	uint64_t hash;
	struct shtable_node *n;
};

static struct shtable_node tomb_node;
#define TOMB (&tomb_node)

/* Two cache lines: what a lookup reads (the slots' place, the spill chain, the hint) in
 * the first, the mutex in the second; shtable_hash starts loading both (issue 22: under
 * load a shard that shared lines with its neighbours and split its fields over two was a
 * miss in the mutex's lock and another in the lookup). Aligned: no two shards share one. */
struct shtable_shard {
	/* b's address with log2(nb) in its low 6 bits (b is 64-byte aligned): read without the
	 * lock to prefetch a key's slot before taking it (shtable_hash). Written under the
	 * lock when b changes; a stale value only prefetches a line not needed. */
	_Alignas(64) atomic_uintptr_t hint;
	struct slot *b;
	uint32_t nb;                /* slots, a power of two */
	uint32_t used;              /* slots not empty: entries and tombstones */
	struct shtable_node *spill; /* entries that found no slot (growth failed), chained */
	uint32_t n;                 /* entries, spilled ones included */
	int no_locks;               /* the table's */
	struct shtable *t;
	_Alignas(64) pthread_mutex_t mu;
};

struct shtable {
	unsigned char hkey[crypto_shorthash_KEYBYTES];
	unsigned nshards;
	int no_locks;
	void (*free_entry)(struct shtable_node *n);
	atomic_size_t count;
	struct shtable_shard *shard;
};

static int pow2(unsigned v)
{
	return v && !(v & (v - 1));
}

static void set_hint(struct shtable_shard *s)
{
	unsigned lg = 0;
	while ((1u << lg) < s->nb)
		lg++;
	atomic_store_explicit(&s->hint, (uintptr_t)s->b | lg, memory_order_relaxed);
}

/* The bytes of nb slots: a multiple of 64 (aligned_alloc's size for 64-byte lines). */
static size_t slots_bytes(size_t nb)
{
	size_t n = nb * sizeof(struct slot);
	return n < 64 ? 64 : n;
}

struct shtable *shtable_new(const struct shtable_opts *o)
{
	unsigned ns = o->shards ? o->shards : SHARDS_DEFAULT;
	unsigned nb = o->buckets ? o->buckets : BUCKETS_DEFAULT;
	if (!pow2(ns) || ns > SHARDS_MAX || !pow2(nb) || nb > BUCKETS_MAX)
		return NULL;
	struct shtable *t = calloc(1, sizeof *t);
	if (!t || !(t->shard = aligned_alloc(64, ns * sizeof *t->shard))) {
		free(t);
		return NULL;
	}
	memset(t->shard, 0, ns * sizeof *t->shard);
	randombytes_buf(t->hkey, sizeof t->hkey);
	t->nshards = ns;
	t->no_locks = o->no_locks;
	t->free_entry = o->free_entry;
	atomic_init(&t->count, 0);
	for (unsigned i = 0; i < ns; i++) {
		struct shtable_shard *s = &t->shard[i];
		s->t = t;
		s->no_locks = t->no_locks;
		s->nb = nb;
		if (!(s->b = aligned_alloc(64, slots_bytes(nb)))) {
			for (unsigned k = 0; k < i; k++)
				free(t->shard[k].b);
			free(t->shard);
			free(t);
			return NULL;
		}
		memset(s->b, 0, slots_bytes(nb));
		set_hint(s);
		if (!t->no_locks)
			pthread_mutex_init(&s->mu, NULL);
	}
	return t;
}

void shtable_free(struct shtable *t)
{
	if (!t)
		return;
	for (unsigned i = 0; i < t->nshards; i++) {
		struct shtable_shard *s = &t->shard[i];
		for (uint32_t k = 0; k < s->nb; k++)
			if (s->b[k].n && s->b[k].n != TOMB && t->free_entry)
				t->free_entry(s->b[k].n);
		while (s->spill) {
			struct shtable_node *n = s->spill;
			s->spill = n->next;
			if (t->free_entry)
				t->free_entry(n);
		}
		free(s->b);
		if (!t->no_locks)
			pthread_mutex_destroy(&s->mu);
	}
	sodium_memzero(t->hkey, sizeof t->hkey);
	free(t->shard);
	free(t);
}

static uint64_t hash_of(const struct shtable *t, const void *key, size_t len)
{
	unsigned char h[crypto_shorthash_BYTES];
	crypto_shorthash(h, key, len, t->hkey);
	uint64_t v;
	memcpy(&v, h, sizeof v);
	return v;
}

/* Shards take the high half of the hash, slots the low bits: independent choices. */
static struct shtable_shard *shard_of(struct shtable *t, uint64_t h)
{
	return &t->shard[(h >> 32) & (t->nshards - 1)];
}

/* Starts loading the cache line of the hash's first slot. The slot array is read through
 * the shard's hint without the lock: a rebuild meanwhile makes this fetch a line that is
 * not needed (or freed: a prefetch never faults), never a wrong lookup. */
static void prefetch_slot(const struct shtable_shard *s, uint64_t h)
{
	uintptr_t hint =
	    atomic_load_explicit(&((struct shtable_shard *)s)->hint, memory_order_relaxed);
	uintptr_t mask = ((uintptr_t)1 << (hint & 63)) - 1;
	__builtin_prefetch(
	    (const void *)((hint & ~(uintptr_t)63) + ((uintptr_t)h & mask) * sizeof(struct slot)));
}

void shtable_hash_given(struct shtable *t, uint64_t hash, const void *key, size_t len,
                        struct shtable_at *at)
{
	at->hash = hash;
	at->key = key;
	at->keylen = len;
	at->s = shard_of(t, hash);
	if (!t->no_locks)
		__builtin_prefetch(&at->s->mu, 1);
	prefetch_slot(at->s, hash);
}

void shtable_hash(struct shtable *t, const void *key, size_t len, struct shtable_at *at)
{
	shtable_hash_given(t, hash_of(t, key, len), key, len, at);
}

void shtable_lock_at(struct shtable_at *at)
{
	if (!at->s->no_locks)
		pthread_mutex_lock(&at->s->mu);
}

void shtable_lock(struct shtable *t, const void *key, size_t len, struct shtable_at *at)
{
	shtable_hash(t, key, len, at);
	shtable_lock_at(at);
}

void shtable_lock_str(struct shtable *t, const char *key, struct shtable_at *at)
{
	shtable_lock(t, key, strlen(key), at);
}

void shtable_unlock(struct shtable_at *at)
{
	if (!at->s->no_locks)
		pthread_mutex_unlock(&at->s->mu);
}

static int same_key(const struct shtable_node *n, const struct shtable_at *at)
{
	return n->keylen == at->keylen && memcmp(n->key, at->key, at->keylen) == 0;
}

/* Linear probing from the hash's slot; a probe ends at an empty slot (the shard always
 * keeps one: see put). */
struct shtable_node *shtable_find(const struct shtable_at *at)
{
	const struct shtable_shard *s = at->s;
	uint32_t mask = s->nb - 1;
	for (uint32_t i = (uint32_t)at->hash & mask;; i = (i + 1) & mask) {
		const struct slot *sl = &s->b[i];
		if (!sl->n)
			break;
		if (sl->hash == at->hash && sl->n != TOMB && same_key(sl->n, at))
			return sl->n;
	}
	for (struct shtable_node *n = s->spill; n; n = n->next)
		if (n->hash == at->hash && same_key(n, at))
			return n;
	return NULL;
}

/* Puts n in the first free slot (empty or tombstone) of its probe, in b (nb slots).
 * Returns 0 when that would leave no empty slot (n is not put). */
static int put(struct slot *b, uint32_t nb, uint32_t *used, struct shtable_node *n)
{
	uint32_t mask = nb - 1, i = (uint32_t)n->hash & mask;
	while (b[i].n && b[i].n != TOMB)
		i = (i + 1) & mask;
	if (!b[i].n && *used + 1 >= nb)
		return 0;
	*used += !b[i].n;
	b[i].hash = n->hash;
	b[i].n = n;
	return 1;
}

/* Rebuilds the shard's slots without tombstones, twice as many when the entries fill a
 * quarter or more (so the load stays at most a half); the spill chain moves in. On
 * allocation failure the shard stays as it is (and spills when full). */
static void rehash(struct shtable_shard *s, size_t live)
{
	uint32_t nb = live * 4 >= s->nb && s->nb < BUCKETS_MAX ? s->nb * 2 : s->nb;
	struct slot *b = aligned_alloc(64, slots_bytes(nb));
	if (!b)
		return;
	memset(b, 0, slots_bytes(nb));
	uint32_t used = 0;
	struct shtable_node *spill = NULL;
	for (uint32_t k = 0; k < s->nb; k++) {
		struct shtable_node *n = s->b[k].n;
		if (n && n != TOMB && !put(b, nb, &used, n)) { /* only at BUCKETS_MAX */
			n->next = spill;
			spill = n;
		}
	}
	while (s->spill) {
		struct shtable_node *n = s->spill;
		s->spill = n->next;
		if (!put(b, nb, &used, n)) {
			n->next = spill;
			spill = n;
		}
	}
	free(s->b);
	s->b = b;
	s->nb = nb;
	s->used = used;
	s->spill = spill;
	set_hint(s);
}

void shtable_insert(struct shtable_at *at, struct shtable_node *n, const void *key, size_t len)
{
	struct shtable_shard *s = at->s;
	n->hash = at->hash;
	n->key = key;
	n->keylen = len;
	n->next = NULL;
	if ((s->used + 1) * 2 > s->nb)
		rehash(s, s->n + 1);
	if (!put(s->b, s->nb, &s->used, n)) {
		n->next = s->spill;
		s->spill = n;
	}
	s->n++;
	atomic_fetch_add_explicit(&s->t->count, 1, memory_order_relaxed);
}

static void unlinked(struct shtable_shard *s)
{
	s->n--;
	atomic_fetch_sub_explicit(&s->t->count, 1, memory_order_relaxed);
}

/* Empties slot i: a tombstone, or empty when the next slot is (then so are the
 * tombstones right before it: no probe goes through them any more). */
static void vacate(struct shtable_shard *s, uint32_t i)
{
	uint32_t mask = s->nb - 1;
	if (s->b[(i + 1) & mask].n) {
		s->b[i].n = TOMB;
		return;
	}
	do {
		s->b[i].n = NULL;
		s->used--;
		i = (i - 1) & mask;
	} while (s->b[i].n == TOMB);
}

void shtable_remove(struct shtable_at *at, struct shtable_node *n)
{
	struct shtable_shard *s = at->s;
	uint32_t mask = s->nb - 1;
	for (uint32_t i = (uint32_t)n->hash & mask; s->b[i].n; i = (i + 1) & mask)
		if (s->b[i].n == n) {
			vacate(s, i);
			unlinked(s);
			return;
		}
	for (struct shtable_node **pp = &s->spill; *pp; pp = &(*pp)->next)
		if (*pp == n) {
			*pp = n->next;
			n->next = NULL;
			unlinked(s);
			return;
		}
}

unsigned shtable_shard_index(const struct shtable_at *at)
{
	return (unsigned)(at->s - at->s->t->shard);
}

size_t shtable_count(const struct shtable *t)
{
	return atomic_load_explicit(&((struct shtable *)t)->count, memory_order_relaxed);
}

unsigned shtable_shards(const struct shtable *t)
{
	return t->nshards;
}

/* fn on n; unlinks (with unlink) and frees n when fn says so. Returns fn's bits. */
static int visit(struct shtable_shard *s, shtable_fn fn, void *ud, struct shtable_node *n,
                 void (*unlink)(struct shtable_shard *s, void *where), void *where)
{
	int r = fn(ud, n);
	if (r & SHTABLE_REMOVE) {
		unlink(s, where);
		unlinked(s);
		if (s->t->free_entry)
			s->t->free_entry(n);
	}
	return r;
}

static void unlink_slot(struct shtable_shard *s, void *where)
{
	vacate(s, (uint32_t)((struct slot *)where - s->b));
}

static void unlink_spilled(struct shtable_shard *s, void *where)
{
	(void)s;
	struct shtable_node **pp = where;
	*pp = (*pp)->next;
}

int shtable_sweep_shard(struct shtable *t, unsigned i, shtable_fn fn, void *ud)
{
	struct shtable_shard *s = &t->shard[i];
	int r = 0;
	if (!t->no_locks)
		pthread_mutex_lock(&s->mu);
	/* A slot vacated here never moves another entry: each entry is visited once. */
	for (uint32_t k = 0; k < s->nb && !(r & SHTABLE_STOP); k++)
		if (s->b[k].n && s->b[k].n != TOMB)
			r = visit(s, fn, ud, s->b[k].n, unlink_slot, &s->b[k]);
	struct shtable_node **pp = &s->spill;
	while (*pp && !(r & SHTABLE_STOP)) {
		struct shtable_node *n = *pp;
		r = visit(s, fn, ud, n, unlink_spilled, pp);
		if (!(r & SHTABLE_REMOVE))
			pp = &n->next;
	}
	if (!t->no_locks)
		pthread_mutex_unlock(&s->mu);
	return (r & SHTABLE_STOP) != 0;
}

int shtable_sweep(struct shtable *t, shtable_fn fn, void *ud)
{
	for (unsigned i = 0; i < t->nshards; i++)
		if (shtable_sweep_shard(t, i, fn, ud))
			return 1;
	return 0;
}
