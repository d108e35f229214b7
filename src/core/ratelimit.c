/* SPDX-License-Identifier: ISC */
#include "core/ratelimit.h"
#include "core/util.h"

#include <pthread.h>
#include <sodium.h>
#include <stdlib.h>
#include <string.h>

struct slot {
	char key[TG_RATELIMIT_KEY_MAX];
	int64_t start;  /* when the current window began */
	int fails;      /* failures in it */
	int64_t due_at; /* when tg_ratelimit_due last said 1 */
	int due_seen;   /* tg_ratelimit_due said 1 at least once for this key */
};

struct tg_ratelimit {
	pthread_mutex_t mu;
	size_t nslots;
	int window_s, max;
	uint8_t hkey[crypto_shorthash_KEYBYTES];
	struct slot *slots;
};

struct tg_ratelimit *tg_ratelimit_new(size_t slots, int window_s, int max)
{
	if (!slots || window_s <= 0 || max < 0)
		return NULL;
	struct tg_ratelimit *rl = calloc(1, sizeof *rl);
	if (!rl)
		return NULL;
	if (!(rl->slots = calloc(slots, sizeof *rl->slots))) {
		free(rl);
		return NULL;
	}
	pthread_mutex_init(&rl->mu, NULL);
	rl->nslots = slots;
	rl->window_s = window_s;
	rl->max = max;
	randombytes_buf(rl->hkey, sizeof rl->hkey);
	return rl;
}

void tg_ratelimit_free(struct tg_ratelimit *rl)
{
	if (!rl)
		return;
	pthread_mutex_destroy(&rl->mu);
	sodium_memzero(rl->hkey, sizeof rl->hkey);
	free(rl->slots);
	free(rl);
}

/* The key's slot, taken over (counts reset) when another key held it. Under mu. */
static struct slot *slot_of(struct tg_ratelimit *rl, const char *key)
{
	char k[TG_RATELIMIT_KEY_MAX];
	tg_strlcpy(k, key, sizeof k);
	uint8_t h[crypto_shorthash_BYTES];
	crypto_shorthash(h, (const unsigned char *)k, strlen(k), rl->hkey);
	uint64_t v;
	memcpy(&v, h, sizeof v);
	struct slot *s = &rl->slots[v % rl->nslots];
	if (strcmp(s->key, k) != 0) {
		memset(s, 0, sizeof *s);
		memcpy(s->key, k, sizeof s->key);
	}
	return s;
}

int tg_ratelimit_check(struct tg_ratelimit *rl, const char *key, int64_t now_s, int failed)
{
	if (!rl->max)
		return 0;
	pthread_mutex_lock(&rl->mu);
	struct slot *s = slot_of(rl, key);
	if (now_s - s->start >= rl->window_s) {
		s->start = now_s;
		s->fails = 0;
	}
	if (failed)
		s->fails++;
	int over = s->fails >= rl->max;
	pthread_mutex_unlock(&rl->mu);
	return over;
}

int tg_ratelimit_due(struct tg_ratelimit *rl, const char *key, int64_t now_s)
{
	pthread_mutex_lock(&rl->mu);
	struct slot *s = slot_of(rl, key);
	int due = !s->due_seen || now_s - s->due_at >= rl->window_s;
	if (due) {
		s->due_at = now_s;
		s->due_seen = 1;
	}
	pthread_mutex_unlock(&rl->mu);
	return due;
}
