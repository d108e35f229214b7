/* SPDX-License-Identifier: ISC */
/*
 * The process-wide list of listener counters the metrics read: a listener's stats are
 * listed from its first stream_listen to the free of its last listener (one protocol's
 * listeners on every loop share one struct stream_stats, so it is counted by
 * reference). A mutex: attaches happen at start/stop, reads once per scrape.
 */
#include "core/stream.h"

#include <pthread.h>
#include <string.h>

#define STATS_MAX 32

struct reg_ent {
	const char *name; /* the listener options' name: static storage */
	const struct stream_stats *stats;
	int refs;
};
static struct reg_ent reg[STATS_MAX];
static pthread_mutex_t reg_mu = PTHREAD_MUTEX_INITIALIZER;

void stream_stats_attach(const char *name, const struct stream_stats *stats)
{
	if (!stats)
		return;
	pthread_mutex_lock(&reg_mu);
	int free_slot = -1;
	for (int i = 0; i < STATS_MAX; i++) {
		if (reg[i].stats == stats) {
			reg[i].refs++;
			pthread_mutex_unlock(&reg_mu);
			return;
		}
		if (!reg[i].stats && free_slot < 0)
			free_slot = i;
	}
	/* Full: the listener works, it is only not in the metrics (32 kinds is far more
	 * than telgated has). */
	if (free_slot >= 0)
		reg[free_slot] = (struct reg_ent){.name = name, .stats = stats, .refs = 1};
	pthread_mutex_unlock(&reg_mu);
}

void stream_stats_detach(const struct stream_stats *stats)
{
	if (!stats)
		return;
	pthread_mutex_lock(&reg_mu);
	for (int i = 0; i < STATS_MAX; i++)
		if (reg[i].stats == stats && --reg[i].refs == 0)
			memset(&reg[i], 0, sizeof reg[i]);
	pthread_mutex_unlock(&reg_mu);
}

void stream_stats_foreach(void (*fn)(void *arg, const char *listener,
                                     const struct stream_stats *stats),
                          void *arg)
{
	pthread_mutex_lock(&reg_mu);
	for (int i = 0; i < STATS_MAX; i++)
		if (reg[i].stats)
			fn(arg, reg[i].name, reg[i].stats);
	pthread_mutex_unlock(&reg_mu);
}
