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
#define BUCKETS_MAX (1u << 24) /* per shard: 128 MiB of bucket heads is enough */

/* 64 bytes on glibc/x86-64: one cache line per shard, so shards do not share lines. */
struct shtable_shard {
	pthread_mutex_t mu;
	struct shtable_node **b;
	size_t nb; /* a power of two */
	size_t n;
	struct shtable *t;
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

struct shtable *shtable_new(const struct shtable_opts *o)
{
	unsigned ns = o->shards ? o->shards : SHARDS_DEFAULT;
	unsigned nb = o->buckets ? o->buckets : BUCKETS_DEFAULT;
	if (!pow2(ns) || ns > SHARDS_MAX || !pow2(nb) || nb > BUCKETS_MAX)
		return NULL;
	struct shtable *t = calloc(1, sizeof *t);
	if (!t || !(t->shard = calloc(ns, sizeof *t->shard))) {
		free(t);
		return NULL;
	}
	randombytes_buf(t->hkey, sizeof t->hkey);
	t->nshards = ns;
	t->no_locks = o->no_locks;
	t->free_entry = o->free_entry;
	atomic_init(&t->count, 0);
	for (unsigned i = 0; i < ns; i++) {
		struct shtable_shard *s = &t->shard[i];
		s->t = t;
		s->nb = nb;
		if (!(s->b = calloc(nb, sizeof *s->b))) {
			for (unsigned k = 0; k < i; k++)
				free(t->shard[k].b);
			free(t->shard);
			free(t);
			return NULL;
		}
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
		for (size_t k = 0; k < s->nb; k++)
			while (s->b[k]) {
				struct shtable_node *n = s->b[k];
				s->b[k] = n->next;
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

/* Shards take the high half of the hash, buckets the low bits: independent choices. */
static struct shtable_shard *shard_of(struct shtable *t, uint64_t h)
{
	return &t->shard[(h >> 32) & (t->nshards - 1)];
}

static struct shtable_node **bucket_of(const struct shtable_shard *s, uint64_t h)
{
	return &s->b[h & (s->nb - 1)];
}

void shtable_lock(struct shtable *t, const void *key, size_t len, struct shtable_at *at)
{
	at->hash = hash_of(t, key, len);
	at->key = key;
	at->keylen = len;
	at->s = shard_of(t, at->hash);
	if (!t->no_locks)
		pthread_mutex_lock(&at->s->mu);
}

void shtable_lock_str(struct shtable *t, const char *key, struct shtable_at *at)
{
	shtable_lock(t, key, strlen(key), at);
}

void shtable_unlock(struct shtable_at *at)
{
	if (!at->s->t->no_locks)
		pthread_mutex_unlock(&at->s->mu);
}

static int same_key(const struct shtable_node *n, const struct shtable_at *at)
{
	return n->hash == at->hash && n->keylen == at->keylen &&
	       memcmp(n->key, at->key, at->keylen) == 0;
}

struct shtable_node *shtable_find(const struct shtable_at *at)
{
	for (struct shtable_node *n = *bucket_of(at->s, at->hash); n; n = n->next)
		if (same_key(n, at))
			return n;
	return NULL;
}

/* Doubles the shard's buckets; on failure the shard stays as it is (longer chains). */
static void grow(struct shtable_shard *s)
{
	if (s->nb >= BUCKETS_MAX)
		return;
	size_t nb = s->nb * 2;
	struct shtable_node **b = calloc(nb, sizeof *b);
	if (!b)
		return;
	for (size_t k = 0; k < s->nb; k++)
		while (s->b[k]) {
			struct shtable_node *n = s->b[k];
			s->b[k] = n->next;
			n->next = b[n->hash & (nb - 1)];
			b[n->hash & (nb - 1)] = n;
		}
	free(s->b);
	s->b = b;
	s->nb = nb;
}

void shtable_insert(struct shtable_at *at, struct shtable_node *n, const void *key, size_t len)
{
	struct shtable_shard *s = at->s;
	if (s->n >= s->nb)
		grow(s);
	n->hash = at->hash;
	n->key = key;
	n->keylen = len;
	struct shtable_node **b = bucket_of(s, at->hash);
	n->next = *b;
	*b = n;
	s->n++;
	atomic_fetch_add_explicit(&s->t->count, 1, memory_order_relaxed);
}

static void unlinked(struct shtable_shard *s)
{
	s->n--;
	atomic_fetch_sub_explicit(&s->t->count, 1, memory_order_relaxed);
}

void shtable_remove(struct shtable_at *at, struct shtable_node *n)
{
	for (struct shtable_node **pp = bucket_of(at->s, n->hash); *pp; pp = &(*pp)->next)
		if (*pp == n) {
			*pp = n->next;
			n->next = NULL;
			unlinked(at->s);
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

int shtable_sweep_shard(struct shtable *t, unsigned i, shtable_fn fn, void *ud)
{
	struct shtable_shard *s = &t->shard[i];
	int stopped = 0;
	if (!t->no_locks)
		pthread_mutex_lock(&s->mu);
	for (size_t k = 0; k < s->nb && !stopped; k++) {
		struct shtable_node **pp = &s->b[k];
		while (*pp && !stopped) {
			struct shtable_node *n = *pp;
			int r = fn(ud, n);
			stopped = (r & SHTABLE_STOP) != 0;
			if (!(r & SHTABLE_REMOVE)) {
				pp = &n->next;
				continue;
			}
			*pp = n->next;
			unlinked(s);
			if (t->free_entry)
				t->free_entry(n);
		}
	}
	if (!t->no_locks)
		pthread_mutex_unlock(&s->mu);
	return stopped;
}

int shtable_sweep(struct shtable *t, shtable_fn fn, void *ud)
{
	for (unsigned i = 0; i < t->nshards; i++)
		if (shtable_sweep_shard(t, i, fn, ud))
			return 1;
	return 0;
}
