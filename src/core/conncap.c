/* SPDX-License-Identifier: ISC */
#include "core/conncap.h"
#include "core/util.h"

#include <netinet/in.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define BUCKETS 4096

struct src {
	uint8_t key[17]; /* family byte + 16 address bytes (IPv4 in the first 4) */
	int n;
	struct src *next;
};

struct conncap {
	pthread_mutex_t mu;
	int max_total, max_per_source, total;
	struct src *b[BUCKETS];
};

struct conncap *conncap_new(int max_total, int max_per_source)
{
	struct conncap *c = calloc(1, sizeof *c);
	if (!c)
		return NULL;
	pthread_mutex_init(&c->mu, NULL);
	c->max_total = max_total;
	c->max_per_source = max_per_source;
	return c;
}

void conncap_free(struct conncap *c)
{
	if (!c)
		return;
	for (int i = 0; i < BUCKETS; i++)
		while (c->b[i]) {
			struct src *s = c->b[i];
			c->b[i] = s->next;
			free(s);
		}
	pthread_mutex_destroy(&c->mu);
	free(c);
}

static void key_of(const struct sockaddr *sa, uint8_t key[17])
{
	memset(key, 0, 17);
	key[0] = (uint8_t)sa->sa_family;
	if (sa->sa_family == AF_INET)
		memcpy(key + 1, &((const struct sockaddr_in *)(const void *)sa)->sin_addr, 4);
	else if (sa->sa_family == AF_INET6)
		memcpy(key + 1, &((const struct sockaddr_in6 *)(const void *)sa)->sin6_addr, 16);
}

static unsigned hash(const uint8_t key[17])
{
	return tg_fnv1a(key, 17) % BUCKETS;
}

enum conncap_rc conncap_acquire(struct conncap *c, const struct sockaddr *sa)
{
	uint8_t key[17];
	key_of(sa, key);
	unsigned h = hash(key);
	enum conncap_rc rc = CONNCAP_OK;
	pthread_mutex_lock(&c->mu);
	struct src *s = c->b[h];
	while (s && memcmp(s->key, key, sizeof key) != 0)
		s = s->next;
	if (c->total >= c->max_total) {
		rc = CONNCAP_NODE_FULL;
	} else if (s && s->n >= c->max_per_source) {
		rc = CONNCAP_SOURCE_FULL;
	} else if (!s && !(s = calloc(1, sizeof *s))) {
		rc = CONNCAP_NODE_FULL; /* out of memory: refuse rather than count wrongly */
	} else {
		if (s->n == 0) { /* new: s->n is 0 only for a node just allocated */
			memcpy(s->key, key, sizeof key);
			s->next = c->b[h];
			c->b[h] = s;
		}
		s->n++;
		c->total++;
	}
	pthread_mutex_unlock(&c->mu);
	return rc;
}

void conncap_release(struct conncap *c, const struct sockaddr *sa)
{
	uint8_t key[17];
	key_of(sa, key);
	unsigned h = hash(key);
	pthread_mutex_lock(&c->mu);
	for (struct src **pp = &c->b[h]; *pp; pp = &(*pp)->next) {
		struct src *s = *pp;
		if (memcmp(s->key, key, sizeof key) != 0)
			continue;
		c->total--;
		if (--s->n == 0) {
			*pp = s->next;
			free(s);
		}
		break;
	}
	pthread_mutex_unlock(&c->mu);
}

int conncap_total(struct conncap *c)
{
	pthread_mutex_lock(&c->mu);
	int n = c->total;
	pthread_mutex_unlock(&c->mu);
	return n;
}
