/* SPDX-License-Identifier: ISC */
#include "core/conncap.h"
#include "core/shtable.h"

#include <netinet/in.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define KEYLEN 17 /* family byte + 16 address bytes (IPv4 in the first 4) */

struct src {
	struct shtable_node node;
	uint8_t key[KEYLEN];
	int n;
};

struct conncap {
	struct shtable *srcs;
	int max_total, max_per_source;
	atomic_int total;
};

static void src_free(struct shtable_node *n)
{
	free(SHTABLE_ENTRY(n, struct src, node));
}

struct conncap *conncap_new(int max_total, int max_per_source)
{
	struct conncap *c = calloc(1, sizeof *c);
	if (!c || !(c->srcs = shtable_new(&(struct shtable_opts){.free_entry = src_free}))) {
		free(c);
		return NULL;
	}
	c->max_total = max_total;
	c->max_per_source = max_per_source;
	atomic_init(&c->total, 0);
	return c;
}

void conncap_free(struct conncap *c)
{
	if (!c)
		return;
	shtable_free(c->srcs);
	free(c);
}

static void key_of(const struct sockaddr *sa, uint8_t key[KEYLEN])
{
	memset(key, 0, KEYLEN);
	key[0] = (uint8_t)sa->sa_family;
	if (sa->sa_family == AF_INET)
		memcpy(key + 1, &((const struct sockaddr_in *)(const void *)sa)->sin_addr, 4);
	else if (sa->sa_family == AF_INET6)
		memcpy(key + 1, &((const struct sockaddr_in6 *)(const void *)sa)->sin6_addr, 16);
}

/* Counts one more connection on the node unless it is full. The per-source count is
 * guarded by the source's shard; the node count is shared by every shard, so it is
 * reserved with a compare-and-swap that never passes max_total. */
static int take_total(struct conncap *c)
{
	int cur = atomic_load(&c->total);
	do {
		if (cur >= c->max_total)
			return 0;
	} while (!atomic_compare_exchange_weak(&c->total, &cur, cur + 1));
	return 1;
}

enum conncap_rc conncap_acquire(struct conncap *c, const struct sockaddr *sa)
{
	uint8_t key[KEYLEN];
	key_of(sa, key);
	enum conncap_rc rc = CONNCAP_OK;
	struct shtable_at at;
	shtable_lock(c->srcs, key, sizeof key, &at);
	struct shtable_node *n = shtable_find(&at);
	struct src *s = n ? SHTABLE_ENTRY(n, struct src, node) : NULL;
	if (atomic_load(&c->total) >= c->max_total) {
		rc = CONNCAP_NODE_FULL;
	} else if (s && s->n >= c->max_per_source) {
		rc = CONNCAP_SOURCE_FULL;
	} else if (!take_total(c)) {
		rc = CONNCAP_NODE_FULL; /* another source took the last place meanwhile */
	} else if (!s && !(s = calloc(1, sizeof *s))) {
		atomic_fetch_sub(&c->total, 1);
		rc = CONNCAP_NODE_FULL; /* out of memory: refuse rather than count wrongly */
	} else {
		if (s->n == 0) { /* new: s->n is 0 only for a source just allocated */
			memcpy(s->key, key, sizeof key);
			shtable_insert(&at, &s->node, s->key, sizeof s->key);
		}
		s->n++;
	}
	shtable_unlock(&at);
	return rc;
}

void conncap_release(struct conncap *c, const struct sockaddr *sa)
{
	uint8_t key[KEYLEN];
	key_of(sa, key);
	struct shtable_at at;
	shtable_lock(c->srcs, key, sizeof key, &at);
	struct shtable_node *n = shtable_find(&at);
	struct src *s = n ? SHTABLE_ENTRY(n, struct src, node) : NULL;
	if (s) {
		atomic_fetch_sub(&c->total, 1);
		if (--s->n == 0)
			shtable_remove(&at, n);
		else
			s = NULL;
	}
	shtable_unlock(&at);
	free(s);
}

int conncap_total(struct conncap *c)
{
	return atomic_load(&c->total);
}
