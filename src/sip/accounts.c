/* SPDX-License-Identifier: ISC */
#include "sip/accounts.h"
#include "core/util.h"

#include <pthread.h>
#include <sodium.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#define BUCKETS SIP_ACCOUNTS_MAX
#define SHARDS 64

struct entry {
	struct entry *next;
	struct sip_account acc;
};

struct sip_accounts {
	pthread_mutex_t shard[SHARDS];
	struct entry *bucket[BUCKETS];
	atomic_size_t n;
};

static unsigned hash_of(const char *s)
{
	return tg_fnv1a_str(s) % BUCKETS;
}

static void entry_free(struct entry *e)
{
	sodium_memzero(e, sizeof *e);
	free(e);
}

struct sip_accounts *sip_accounts_new(void)
{
	struct sip_accounts *a = calloc(1, sizeof *a);
	if (!a)
		return NULL;
	for (int i = 0; i < SHARDS; i++)
		pthread_mutex_init(&a->shard[i], NULL);
	return a;
}

void sip_accounts_free(struct sip_accounts *a)
{
	if (!a)
		return;
	for (int i = 0; i < BUCKETS; i++)
		while (a->bucket[i]) {
			struct entry *e = a->bucket[i];
			a->bucket[i] = e->next;
			entry_free(e);
		}
	for (int i = 0; i < SHARDS; i++)
		pthread_mutex_destroy(&a->shard[i]);
	free(a);
}

int sip_accounts_get(struct sip_accounts *a, const char *line, struct sip_account *out)
{
	unsigned h = hash_of(line);
	pthread_mutex_t *mu = &a->shard[h % SHARDS];
	int found = 0;
	pthread_mutex_lock(mu);
	for (struct entry *e = a->bucket[h]; e; e = e->next)
		if (strcmp(e->acc.line, line) == 0) {
			*out = e->acc;
			found = 1;
			break;
		}
	pthread_mutex_unlock(mu);
	return found;
}

void sip_accounts_put(struct sip_accounts *a, const struct sip_account *acc)
{
	unsigned h = hash_of(acc->line);
	pthread_mutex_t *mu = &a->shard[h % SHARDS];
	pthread_mutex_lock(mu);
	for (struct entry *e = a->bucket[h]; e; e = e->next)
		if (strcmp(e->acc.line, acc->line) == 0) {
			sodium_memzero(&e->acc, sizeof e->acc);
			e->acc = *acc;
			pthread_mutex_unlock(mu);
			return;
		}
	if (atomic_load(&a->n) >= SIP_ACCOUNTS_MAX) {
		/* Full: the lines sharing this bucket make room (they reload when next seen). */
		while (a->bucket[h]) {
			struct entry *e = a->bucket[h];
			a->bucket[h] = e->next;
			entry_free(e);
			atomic_fetch_sub(&a->n, 1);
		}
	}
	struct entry *e = atomic_load(&a->n) < SIP_ACCOUNTS_MAX ? malloc(sizeof *e) : NULL;
	if (e) {
		e->acc = *acc;
		e->next = a->bucket[h];
		a->bucket[h] = e;
		atomic_fetch_add(&a->n, 1);
	}
	pthread_mutex_unlock(mu);
}

size_t sip_accounts_size(struct sip_accounts *a)
{
	return atomic_load(&a->n);
}
