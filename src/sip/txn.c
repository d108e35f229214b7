/* SPDX-License-Identifier: ISC */
#include "sip/txn.h"
#include "core/util.h"
#include "core/shtable.h"

#include <sodium.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/queue.h>

/* The transactions live in the shared sharded table, and each shard keeps its entries in
 * a FIFO by the time they were stored (guarded by the shard's lock), so that expiry is a
 * look at the head: every store drops what is older than the lifetime, and what exceeds
 * the shard's share of the memory bound, from the head. Replacing an entry (the answer
 * after "being decided") moves it to the tail with the new time, so the FIFO stays in
 * time order. This replaced a fixed array of 16,384 slots in which a newer transaction
 * took over an older one's slot: at 2,500 registrations a second a retransmission 0.5-2 s
 * later often found its slot taken, was judged again and refused as a nonce replay. */
#define SHARDS 64
#define SHARD_BYTES_MAX (SIP_TXN_BYTES_MAX / SHARDS)

struct ent {
	struct shtable_node node;
	TAILQ_ENTRY(ent) fifo; /* in its shard's list, oldest first */
	uint64_t key;
	int64_t at; /* ms, monotonic */
	int len;
	int cap; /* bytes of resp: at least ENT_ROOM, so that one entry serves any answer */
	char resp[];
};

/* An entry's room for its answer at the least: a REGISTER's 401 or 200 (~500-700 bytes)
 * fits, so an expired entry is reused for the next answer and a "being decided" entry
 * takes its answer in place (issue 22: a malloc and a free per stored answer, ~210
 * instructions a registration). The memory bound counts the room, not the answer. */
#define ENT_ROOM 768

TAILQ_HEAD(ent_list, ent);

/* Entries of ENT_ROOM kept per shard for the next answers when a store found more expired
 * ones than it needed (stores and expiries of a shard do not come in pairs): up to
 * SPARES_MAX, ~6.7 KB a shard, outside the bound's count. */
#define SPARES_MAX 8

struct shard {
	struct ent_list fifo;
	size_t bytes;
	struct ent_list spares; /* linked by fifo, not in the table */
	int nspares;
};

struct sip_txn {
	unsigned char hkey[crypto_shorthash_KEYBYTES];
	uint64_t mix; /* secret, XORed into a key before the table's mix (lock_key) */
	struct shtable *tab;
	struct shard shard[SHARDS]; /* shard[i] is guarded by the table's shard i lock */
	_Atomic uint64_t repeated, absorbed, evicted_early, entries, bytes;
};

static size_t ent_size(const struct ent *e)
{
	return sizeof *e + (size_t)e->cap;
}

static void ent_free(struct shtable_node *n)
{
	free(SHTABLE_ENTRY(n, struct ent, node));
}

struct sip_txn *sip_txn_new(void)
{
	struct sip_txn *t = calloc(1, sizeof *t);
	if (!t || !(t->tab = shtable_new(&(struct shtable_opts){
	                .shards = SHARDS, .buckets = 1024, .free_entry = ent_free}))) {
		free(t);
		return NULL;
	}
	randombytes_buf(t->hkey, sizeof t->hkey);
	randombytes_buf(&t->mix, sizeof t->mix);
	for (int i = 0; i < SHARDS; i++) {
		TAILQ_INIT(&t->shard[i].fifo);
		TAILQ_INIT(&t->shard[i].spares);
	}
	return t;
}

void sip_txn_free(struct sip_txn *t)
{
	if (!t)
		return;
	shtable_free(t->tab);
	for (int i = 0; i < SHARDS; i++) {
		struct ent *e;
		while ((e = TAILQ_FIRST(&t->shard[i].spares))) {
			TAILQ_REMOVE(&t->shard[i].spares, e, fifo);
			free(e);
		}
	}
	free(t);
}

uint64_t sip_txn_key(const struct sip_txn *t, const struct sip_req *q, const char *source)
{
	/* RFC 3261 §17.2.3 with the magic cookie: the branch names the transaction; without
	 * it (RFC 2543) a retransmission is the same bytes, so the credentials stand in. NUL
	 * separators: no two different tuples give the same bytes. */
	const char *br = sip_req_branch(q);
	const char *id = strncasecmp(br, "z9hG4bK", 7) == 0 ? br : q->auth;
	char buf[64 + sizeof q->callid + 24 + sizeof q->auth + 4], num[24];
	const char *cseq = tg_utoa_end(num + sizeof num, q->cseq);
	/* what snprintf("%s%c%s%c%lu%c%s") wrote, without its format parsing (a tenth of
	 * the fast path's formatting, callgrind): source NUL callid NUL cseq NUL id */
	const struct {
		const char *p;
		size_t n;
	} part[] = {{source, strlen(source) + 1},
	            {q->callid, strlen(q->callid) + 1},
	            {cseq, (size_t)(num + sizeof num - cseq)},
	            {"", 1},
	            {id, strlen(id)}};
	size_t n = 0;
	for (size_t i = 0; i < sizeof part / sizeof part[0]; i++) {
		size_t l = part[i].n < sizeof buf - 1 - n ? part[i].n : sizeof buf - 1 - n;
		memcpy(buf + n, part[i].p, l);
		n += l;
	}
	unsigned char h[crypto_shorthash_BYTES];
	crypto_shorthash(h, (const unsigned char *)buf, (unsigned long long)n, t->hkey);
	uint64_t k;
	memcpy(&k, h, sizeof k);
	return k;
}

/* Locks *key's shard. The key is already SipHash under t->hkey (sip_txn_key), so the
 * table's hash need not be SipHash again (issue 22: two SipHashes a UDP request, ~600
 * instructions a registration): it is the key through splitmix64's finalizer (a
 * bijection: distinct keys keep distinct hashes) after an XOR with a secret word, which
 * spreads keys that are not uniform (the unit tests' counters) over the shards as well. */
static void lock_key(struct sip_txn *t, const uint64_t *key, struct shtable_at *at)
{
	uint64_t z = *key ^ t->mix;
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9u;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebu;
	shtable_hash_given(t->tab, z ^ (z >> 31), key, sizeof *key, at);
	shtable_lock_at(at);
}

/* Takes e out of the table and its shard's list (the caller frees or reuses it). */
static void detach_ent(struct sip_txn *t, struct shtable_at *at, struct shard *sh, struct ent *e)
{
	shtable_remove(at, &e->node);
	TAILQ_REMOVE(&sh->fifo, e, fifo);
	sh->bytes -= ent_size(e);
	atomic_fetch_sub_explicit(&t->entries, 1, memory_order_relaxed);
	atomic_fetch_sub_explicit(&t->bytes, ent_size(e), memory_order_relaxed);
}

int sip_txn_lookup(struct sip_txn *t, uint64_t key, int64_t now_ms, char *out, size_t cap)
{
	struct shtable_at at;
	lock_key(t, &key, &at);
	struct shtable_node *n = shtable_find(&at);
	struct ent *e = n ? SHTABLE_ENTRY(n, struct ent, node) : NULL;
	int len = -1;
	if (e && now_ms - e->at <= SIP_TXN_LIFETIME_MS && (size_t)e->len <= cap) {
		if (e->len)
			memcpy(out, e->resp, (size_t)e->len);
		len = e->len;
	}
	shtable_unlock(&at);
	if (len >= 0)
		atomic_fetch_add_explicit(len ? &t->repeated : &t->absorbed, 1,
		                          memory_order_relaxed);
	return len;
}

/* An entry no longer in the table: kept as a spare when it has the usual room and the
 * shard has fewer than SPARES_MAX, else freed. */
static void spare_put(struct shard *sh, struct ent *e)
{
	if (e->cap == ENT_ROOM && sh->nspares < SPARES_MAX) {
		TAILQ_INSERT_HEAD(&sh->spares, e, fifo);
		sh->nspares++;
	} else {
		free(e);
	}
}

void sip_txn_store(struct sip_txn *t, uint64_t key, int64_t now_ms, const char *resp, int len)
{
	if (len < 0)
		return;
	struct shtable_at at;
	lock_key(t, &key, &at);
	struct shard *sh = &t->shard[shtable_shard_index(&at)];
	struct shtable_node *old = shtable_find(&at);
	struct ent *e = old ? SHTABLE_ENTRY(old, struct ent, node) : NULL;
	if (e) { /* the same transaction's answer after "being decided", or a new one */
		detach_ent(t, &at, sh, e);
		if (e->cap < len) {
			spare_put(sh, e);
			e = NULL;
		}
	}
	/* The head is the oldest: the expired ones go, the first with room enough is reused
	 * for this answer, the others kept as spares (up to SPARES_MAX) or freed. */
	struct ent *h;
	while ((h = TAILQ_FIRST(&sh->fifo)) && now_ms - h->at > SIP_TXN_LIFETIME_MS) {
		/* h's key is in this shard: at locates the shard, the node is h's */
		detach_ent(t, &at, sh, h);
		if (!e && h->cap >= len)
			e = h;
		else
			spare_put(sh, h);
	}
	if (!e && len <= ENT_ROOM && (e = TAILQ_FIRST(&sh->spares))) {
		TAILQ_REMOVE(&sh->spares, e, fifo);
		sh->nspares--;
	}
	if (!e) {
		int cap = len > ENT_ROOM ? len : ENT_ROOM;
		if (!(e = malloc(sizeof *e + (size_t)cap))) {
			shtable_unlock(&at);
			return;
		}
		e->cap = cap;
	}
	e->key = key;
	e->at = now_ms;
	e->len = len;
	if (len > 0)
		memcpy(e->resp, resp, (size_t)len);
	shtable_insert(&at, &e->node, &e->key, sizeof e->key);
	TAILQ_INSERT_TAIL(&sh->fifo, e, fifo);
	sh->bytes += ent_size(e);
	atomic_fetch_add_explicit(&t->entries, 1, memory_order_relaxed);
	atomic_fetch_add_explicit(&t->bytes, ent_size(e), memory_order_relaxed);
	/* While the shard is over its share of the bound, live ones go too (never the one
	 * just stored). */
	while ((h = TAILQ_FIRST(&sh->fifo)) && h != e && sh->bytes > SHARD_BYTES_MAX) {
		atomic_fetch_add_explicit(&t->evicted_early, 1, memory_order_relaxed);
		detach_ent(t, &at, sh, h);
		spare_put(sh, h);
	}
	shtable_unlock(&at);
}

void sip_txn_stats(struct sip_txn *t, struct sip_txn_stats *out)
{
	out->repeated = atomic_load_explicit(&t->repeated, memory_order_relaxed);
	out->absorbed = atomic_load_explicit(&t->absorbed, memory_order_relaxed);
	out->evicted_early = atomic_load_explicit(&t->evicted_early, memory_order_relaxed);
	out->entries = atomic_load_explicit(&t->entries, memory_order_relaxed);
	out->bytes = atomic_load_explicit(&t->bytes, memory_order_relaxed);
}
