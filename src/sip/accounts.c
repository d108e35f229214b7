/* SPDX-License-Identifier: ISC */
#include "sip/accounts.h"
#include "core/shtable.h"

#include <sodium.h>
#include <stddef.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/queue.h>

#define SHARDS 64

/* The key: line, NUL, device name (neither holds a NUL, so no two pairs share a key). */
#define KEY_MAX (2 * (STORE_ID_MAX + 1))

/* The node and the key first: a lookup compares the key in the node's cache line and
 * touches the rest only for the entry it finds (issue 22). */
struct entry {
	struct shtable_node node;
	char key[KEY_MAX];
	int used;               /* read or written since the sweep last passed it (see put) */
	TAILQ_ENTRY(entry) lru; /* in its shard's list, oldest first */
	struct sip_account acc;
};

/* The key of (line, devname) into key; its length (both are cut to their fields). */
static size_t key_of(const char *line, const char *devname, char key[KEY_MAX])
{
	size_t l = strnlen(line, STORE_ID_MAX), d = strnlen(devname, STORE_ID_MAX);
	memcpy(key, line, l);
	key[l] = '\0';
	memcpy(key + l + 1, devname, d);
	return l + 1 + d;
}

TAILQ_HEAD(lru_list, entry);

struct sip_accounts {
	uint64_t id; /* tells caches apart in prefetched (never reused) */
	struct shtable *lines;
	struct lru_list lru[SHARDS]; /* lru[i] is guarded by shard i's lock */
};

static void entry_free(struct shtable_node *n)
{
	struct entry *e = SHTABLE_ENTRY(n, struct entry, node);
	sodium_memzero(e, sizeof *e);
	free(e);
}

static atomic_uint_fast64_t next_id = 1;

/* The key of this thread's last sip_accounts_prefetch, its cache and its hash, for the
 * sip_accounts_get that follows: the key is hashed once per request (issue 22). Used once
 * (id 0 after). */
static _Thread_local struct {
	uint64_t id;
	uint64_t hash;
	size_t len;
	char key[KEY_MAX];
} prefetched;

struct sip_accounts *sip_accounts_new(void)
{
	struct sip_accounts *a = calloc(1, sizeof *a);
	if (!a || !(a->lines = shtable_new(
	                &(struct shtable_opts){.shards = SHARDS, .free_entry = entry_free}))) {
		free(a);
		return NULL;
	}
	a->id = atomic_fetch_add(&next_id, 1);
	for (int i = 0; i < SHARDS; i++)
		TAILQ_INIT(&a->lru[i]);
	return a;
}

void sip_accounts_free(struct sip_accounts *a)
{
	if (!a)
		return;
	shtable_free(a->lines);
	free(a);
}

/* The entry for at's line, marked used; NULL if none. A hit writes the entry's own mark
 * (only when it is not set), never its list neighbours: moving it to the list's tail
 * would dirty two more entries' lines on every refresh (issue 22). */
static struct entry *touch(struct shtable_at *at)
{
	struct shtable_node *n = shtable_find(at);
	if (!n)
		return NULL;
	struct entry *e = SHTABLE_ENTRY(n, struct entry, node);
	if (!e->used)
		e->used = 1;
	return e;
}

/* The entry to evict from list l (not empty): the oldest one not used since the sweep
 * last passed it (the second chance, or CLOCK, approximation of least recently used).
 * Used entries met on the way lose their mark and go to the tail; at most one pass. */
static struct entry *victim(struct lru_list *l)
{
	struct entry *e = TAILQ_FIRST(l);
	for (struct entry *last = TAILQ_LAST(l, lru_list); e->used && e != last;
	     e = TAILQ_FIRST(l)) {
		e->used = 0;
		TAILQ_REMOVE(l, e, lru);
		TAILQ_INSERT_TAIL(l, e, lru);
	}
	return e;
}

void sip_accounts_prefetch(struct sip_accounts *a, const char *line, const char *devname)
{
	struct shtable_at at;
	prefetched.len = key_of(line, devname, prefetched.key);
	shtable_hash(a->lines, prefetched.key, prefetched.len, &at);
	prefetched.hash = at.hash;
	prefetched.id = a->id;
}

int sip_accounts_get(struct sip_accounts *a, const char *line, const char *devname,
                     struct sip_account *out)
{
	char key[KEY_MAX];
	size_t len = key_of(line, devname, key);
	struct shtable_at at;
	if (prefetched.id == a->id && prefetched.len == len &&
	    memcmp(prefetched.key, key, len) == 0)
		shtable_hash_given(a->lines, prefetched.hash, key, len, &at);
	else
		shtable_hash(a->lines, key, len, &at);
	prefetched.id = 0;
	shtable_lock_at(&at);
	struct entry *e = touch(&at);
	if (e)
		memcpy(out, &e->acc, offsetof(struct sip_account, line));
	shtable_unlock(&at);
	if (!e)
		return 0;
	/* line and devname: the key's two parts (key_of cut them as the entry's were) */
	size_t l = strlen(key);
	memcpy(out->line, key, l + 1);
	memcpy(out->devname, key + l + 1, len - l - 1);
	out->devname[len - l - 1] = '\0';
	return 1;
}

void sip_accounts_put(struct sip_accounts *a, const struct sip_account *acc)
{
	char key[KEY_MAX];
	size_t len = key_of(acc->line, acc->devname, key);
	struct shtable_at at;
	shtable_lock(a->lines, key, len, &at);
	struct entry *e = touch(&at);
	if (e) {
		sodium_memzero(&e->acc, sizeof e->acc);
		e->acc = *acc; /* same key: the node's key (e->key) keeps its bytes */
		shtable_unlock(&at);
		return;
	}
	struct lru_list *l = &a->lru[shtable_shard_index(&at)];
	/* Full: the oldest unused line of this shard makes room (it reloads when next seen).
	 * Shards are locked one at a time, so the victim comes from the new line's. */
	if (shtable_count(a->lines) >= SIP_ACCOUNTS_MAX && !TAILQ_EMPTY(l)) {
		struct entry *old = victim(l);
		TAILQ_REMOVE(l, old, lru);
		shtable_remove(&at, &old->node);
		entry_free(&old->node);
	}
	e = shtable_count(a->lines) < SIP_ACCOUNTS_MAX ? malloc(sizeof *e) : NULL;
	if (e) {
		e->acc = *acc;
		e->used = 0;
		memcpy(e->key, key, len);
		shtable_insert(&at, &e->node, e->key, len);
		TAILQ_INSERT_TAIL(l, e, lru);
	}
	shtable_unlock(&at);
}

size_t sip_accounts_size(struct sip_accounts *a)
{
	return shtable_count(a->lines);
}
