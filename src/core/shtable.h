/* SPDX-License-Identifier: ISC */
/*
 * shtable: the one sharded hash table of the daemon (issue 14), for the maps every
 * subsystem keeps by name or address: the registrar's bindings by device, its account
 * cache by line, connection counts by source address. N shards (a power of two, default
 * 64) each with its own mutex and its own array of slots, so two threads contend only when
 * their keys fall in the same shard, and a sweep (expiry, listing) holds one shard at a
 * time, never the whole table.
 *
 * Open addressing with linear probing (issue 22): a slot holds an entry's node and its
 * hash side by side, so a lookup compares hashes within the array (usually one cache
 * line) and reads only the node whose hash is the key's. Separate chaining, as until
 * round 8, read every node ahead of the match in its chain, each in another cache line:
 * under load ~28 % of shtable_find's samples. A removed entry leaves a tombstone (or an
 * empty slot when the next one is empty), so sweeps can remove as they go.
 *
 * Keys are bytes (a string is its bytes without the NUL). They are hashed with SipHash-2-4
 * (libsodium crypto_shorthash) under a key drawn at random for each table: the keys are
 * chosen by remote peers (device names, AOR users, source addresses), and with an
 * unkeyed hash such as FNV-1a a peer can compute thousands of keys that share one slot
 * and turn every lookup into a probe over all of them under its shard's lock. With a secret
 * per-table key it cannot know which keys collide. The cost: ~175 instructions per hash
 * of a key up to 24 bytes, 100-150 more than FNV-1a (bench/shtable_callgrind.sh). A caller
 * whose key is itself such a hash under its own secret gives it (shtable_hash_given).
 *
 * Entries are intrusive: the caller's struct embeds a struct shtable_node whose key
 * points into the same struct (the table never copies or allocates keys or entries).
 * Growth: when entries and tombstones would fill more than half of a shard's slots, the
 * shard rebuilds them under its own lock only: twice as many when the entries fill a
 * quarter or more (the load stays between a quarter and a half), else as many without
 * the tombstones; it never shrinks. If the new array cannot be allocated the shard keeps
 * its slots, and once only one is left empty (a probe's end) new entries go to a chain
 * of their own (looked up after the slots) until a rebuild succeeds.
 *
 * Ownership: the caller allocates entries and links them with shtable_insert. An entry
 * unlinked with shtable_remove is the caller's again. The table frees entries only with
 * the opts.free_entry it was given: in shtable_free and for a sweep callback's
 * SHTABLE_REMOVE (with no free_entry, a sweep only unlinks).
 *
 * Threads: shtable_new and shtable_free on one thread with no other user; every other
 * function from any thread. Between shtable_lock and shtable_unlock the caller holds the
 * key's shard: find, insert and remove are valid only there, and a pointer to an entry
 * found is valid only until shtable_unlock (another thread may remove it after). No
 * blocking calls while a shard is held, and never two shards of one table at once. With
 * opts.no_locks the shards take no mutex: the caller uses the table from one thread or
 * under its own lock.
 */
#ifndef TG_SHTABLE_H
#define TG_SHTABLE_H

#include <stddef.h>
#include <stdint.h>

/* Embedded in the caller's entry; key and keylen are set by shtable_insert. Put the key
 * bytes near it: a hit reads the node and the key (one cache line when they share it). */
struct shtable_node {
	struct shtable_node *next; /* only while spilled (see Growth) */
	uint64_t hash;
	const void *key; /* points into the entry itself */
	size_t keylen;
};

/* The entry that embeds node n as its member m. */
#define SHTABLE_ENTRY(n, type, m) ((type *)(void *)((char *)(n)-offsetof(type, m)))

struct shtable_opts {
	unsigned shards;  /* a power of two, 1..1024; 0 = 64 */
	unsigned buckets; /* initial slots per shard, a power of two; 0 = 8 */
	int no_locks;     /* 1: no mutexes (one thread, or the caller's own lock) */
	void (*free_entry)(struct shtable_node *n); /* NULL: the table never frees */
};

struct shtable;
struct shtable_shard;

/* Returns NULL when out of memory or when opts are out of range. */
struct shtable *shtable_new(const struct shtable_opts *opts);
/* Frees every entry still linked (with free_entry, when given) and the table. */
void shtable_free(struct shtable *t);

/* A key located in its shard: filled by shtable_lock, used until shtable_unlock. */
struct shtable_at {
	struct shtable_shard *s;
	uint64_t hash;
	const void *key;
	size_t keylen;
};

/* Hashes key (len bytes; the bytes must stay valid until unlock) and locks its shard:
 * shtable_hash, then shtable_lock_at. */
void shtable_lock(struct shtable *t, const void *key, size_t len, struct shtable_at *at);
/* The two halves of shtable_lock, for a caller with other work to do between them (issue
 * 22: a lookup's first cache miss is the slot's line; under load the registrar's tables
 * do not stay in the CPU's caches). shtable_hash fills at with the key's hash and shard
 * and starts loading the key's slot line, taking no lock (any thread); shtable_lock_at
 * locks at's shard, after which at is used as shtable_lock leaves it. */
void shtable_hash(struct shtable *t, const void *key, size_t len, struct shtable_at *at);
void shtable_lock_at(struct shtable_at *at);
/* shtable_hash for a caller that has hashed the key itself: hash must be a keyed hash of
 * the key's bytes (SipHash under a secret key drawn by the caller, as the table's own),
 * the same one for the same bytes on every call, so that peers cannot choose keys that
 * collide (sip/txn.c: its key is such a hash, hashing it again cost two SipHashes a
 * request). */
void shtable_hash_given(struct shtable *t, uint64_t hash, const void *key, size_t len,
                        struct shtable_at *at);
/* The same for a NUL-terminated string (its bytes without the NUL). */
void shtable_lock_str(struct shtable *t, const char *key, struct shtable_at *at);
void shtable_unlock(struct shtable_at *at);

/* The entry with at's key, or NULL. */
struct shtable_node *shtable_find(const struct shtable_at *at);
/* Links n under at's key. key/len must hold the same bytes as at's key and live in the
 * entry (n->key points at them). The caller has checked with shtable_find that the key is
 * absent: the table keeps no duplicate check. */
void shtable_insert(struct shtable_at *at, struct shtable_node *n, const void *key, size_t len);
/* Unlinks n (linked in at's shard); the entry is the caller's again. */
void shtable_remove(struct shtable_at *at, struct shtable_node *n);
/* The index of at's shard (0 <= i < shtable_shards): for a caller that keeps its own
 * per-shard state (e.g. an LRU list of a bounded cache) guarded by the shard's lock. */
unsigned shtable_shard_index(const struct shtable_at *at);

/* Entries linked now, all shards (read without a lock: exact only when nobody writes). */
size_t shtable_count(const struct shtable *t);
/* The number of shards, for sweeps shard by shard. */
unsigned shtable_shards(const struct shtable *t);

/* What a sweep callback returns: bits. */
enum {
	SHTABLE_NEXT = 0,
	SHTABLE_REMOVE = 1, /* unlink this entry (and free it with free_entry, when given) */
	SHTABLE_STOP = 2,   /* end the sweep after this entry */
};
typedef int (*shtable_fn)(void *ud, struct shtable_node *n);
/* Calls fn for every entry of shard i (0 <= i < shtable_shards) with that shard locked,
 * in no particular order. fn may change its entry but its key, and returns SHTABLE_*
 * bits; it must not call other functions of this table (the shard is held), and frees
 * nothing itself: return SHTABLE_REMOVE. Returns 1 when fn stopped the sweep, else 0. */
int shtable_sweep_shard(struct shtable *t, unsigned i, shtable_fn fn, void *ud);
/* shtable_sweep_shard over every shard in turn (one lock held at a time). */
int shtable_sweep(struct shtable *t, shtable_fn fn, void *ud);

#endif
