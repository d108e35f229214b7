/* SPDX-License-Identifier: ISC */
#include "sip/txn.h"

#include <pthread.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Not a core/shtable, on purpose: this is a bounded, lossy slot array. Each key has one
 * slot and a newer transaction simply takes it over, so memory is fixed (SIP_TXN_SLOTS)
 * whatever a flood of REGISTERs does, nothing ever needs a sweep for the 32 s expiry (an
 * old slot is just not answered from), and a lookup is one compare. A chained table
 * would keep every transaction until a sweep removed it and grow with the flood. The
 * keys are already SipHash under a secret, so peers cannot aim at one slot. */
#define SHARDS 64

struct slot {
	uint64_t key;
	int64_t at;
	char *resp;
	int len;
};

struct sip_txn {
	unsigned char hkey[crypto_shorthash_KEYBYTES];
	pthread_mutex_t shard[SHARDS];
	struct slot slot[SIP_TXN_SLOTS];
};

struct sip_txn *sip_txn_new(void)
{
	struct sip_txn *t = calloc(1, sizeof *t);
	if (!t)
		return NULL;
	randombytes_buf(t->hkey, sizeof t->hkey);
	for (int i = 0; i < SHARDS; i++)
		pthread_mutex_init(&t->shard[i], NULL);
	return t;
}

void sip_txn_free(struct sip_txn *t)
{
	if (!t)
		return;
	for (int i = 0; i < SIP_TXN_SLOTS; i++)
		free(t->slot[i].resp);
	for (int i = 0; i < SHARDS; i++)
		pthread_mutex_destroy(&t->shard[i]);
	free(t);
}

uint64_t sip_txn_key(const struct sip_txn *t, const struct sip_req *q, const char *source)
{
	/* NUL separators: no two different tuples give the same bytes. */
	char buf[64 + sizeof q->callid + 24 + sizeof q->auth + 4];
	int n = snprintf(buf, sizeof buf, "%s%c%s%c%lu%c%s", source, 0, q->callid, 0, q->cseq, 0,
	                 q->auth);
	if (n < 0)
		n = 0;
	if ((size_t)n >= sizeof buf)
		n = (int)sizeof buf - 1;
	unsigned char h[crypto_shorthash_BYTES];
	crypto_shorthash(h, (const unsigned char *)buf, (unsigned long long)n, t->hkey);
	uint64_t k;
	memcpy(&k, h, sizeof k);
	return k ? k : 1; /* 0 marks an empty slot */
}

int sip_txn_lookup(struct sip_txn *t, uint64_t key, int64_t now, char *out, size_t cap)
{
	size_t i = key % SIP_TXN_SLOTS;
	pthread_mutex_t *mu = &t->shard[i % SHARDS];
	int n = -1;
	pthread_mutex_lock(mu);
	struct slot *s = &t->slot[i];
	if (s->key == key && now - s->at <= SIP_TXN_LIFETIME_S && (size_t)s->len <= cap) {
		if (s->len)
			memcpy(out, s->resp, (size_t)s->len);
		n = s->len;
	}
	pthread_mutex_unlock(mu);
	return n;
}

void sip_txn_store(struct sip_txn *t, uint64_t key, int64_t now, const char *resp, int len)
{
	if (len < 0)
		return;
	char *copy = NULL;
	if (len > 0) {
		if (!(copy = malloc((size_t)len)))
			return;
		memcpy(copy, resp, (size_t)len);
	}
	size_t i = key % SIP_TXN_SLOTS;
	pthread_mutex_t *mu = &t->shard[i % SHARDS];
	pthread_mutex_lock(mu);
	struct slot *s = &t->slot[i];
	char *old = s->resp;
	s->key = key;
	s->at = now;
	s->resp = copy;
	s->len = len;
	pthread_mutex_unlock(mu);
	free(old);
}
