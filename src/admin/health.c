/* SPDX-License-Identifier: ISC */
#include "admin/health.h"

#include "core/loop.h"
#include "core/util.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

struct ask {
	struct ask *next;
	struct loop *home;
	void (*done)(void *arg, const struct health_result *r);
	void *arg;
	/* the result, filled by the check thread before the post */
	struct health_result r;
	char store[256], loops[256];
};

struct health {
	store_t *store;
	struct loop_group *loops;
	pthread_t thread;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	struct ask *asks; /* waiting for the next check, under mu */
	int stopping;
};

/* One round of loop pings. Shared by the check thread and every loop it posts to, so it
 * lives until the last of them lets go (a stuck loop may answer long after the check
 * gave up on it). */
struct ping {
	pthread_mutex_t mu;
	pthread_cond_t cv;
	int n;
	unsigned char *answered; /* [n] */
	_Atomic int refs;
};

static void ping_unref(struct ping *p)
{
	if (atomic_fetch_sub(&p->refs, 1) == 1) {
		pthread_mutex_destroy(&p->mu);
		pthread_cond_destroy(&p->cv);
		free(p->answered);
		free(p);
	}
}

struct ping_arg {
	struct ping *p;
	int i;
};

static void on_ping(void *arg)
{
	struct ping_arg *a = arg;
	pthread_mutex_lock(&a->p->mu);
	a->p->answered[a->i] = 1;
	pthread_cond_signal(&a->p->cv);
	pthread_mutex_unlock(&a->p->mu);
	ping_unref(a->p);
	free(a);
}

/* Posts to every loop and waits for all of them, at most HEALTH_LOOP_TIMEOUT_MS. Writes
 * "ok" or the loops that did not answer into out; returns 1 when all answered. */
static int check_loops(struct loop_group *g, char *out, size_t cap)
{
	int n = loop_group_size(g);
	struct ping *p = calloc(1, sizeof *p);
	if (!p || !(p->answered = calloc((size_t)n, 1))) {
		free(p);
		snprintf(out, cap, "out of memory");
		return 0;
	}
	pthread_mutex_init(&p->mu, NULL);
	pthread_condattr_t ca;
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&p->cv, &ca);
	pthread_condattr_destroy(&ca);
	p->n = n;
	atomic_init(&p->refs, 1);
	for (int i = 0; i < n; i++) {
		struct ping_arg *a = malloc(sizeof *a);
		if (!a)
			continue; /* counted as not answering */
		*a = (struct ping_arg){p, i};
		atomic_fetch_add(&p->refs, 1);
		if (loop_post(loop_group_get(g, i), on_ping, a) != 0) {
			atomic_fetch_sub(&p->refs, 1);
			free(a);
		}
	}
	struct timespec until;
	clock_gettime(CLOCK_MONOTONIC, &until);
	until.tv_sec += HEALTH_LOOP_TIMEOUT_MS / 1000;
	until.tv_nsec += (long)(HEALTH_LOOP_TIMEOUT_MS % 1000) * 1000000L;
	if (until.tv_nsec >= 1000000000L) {
		until.tv_sec++;
		until.tv_nsec -= 1000000000L;
	}
	pthread_mutex_lock(&p->mu);
	int missing;
	for (;;) {
		missing = 0;
		for (int i = 0; i < n; i++)
			missing += !p->answered[i];
		if (missing == 0 || pthread_cond_timedwait(&p->cv, &p->mu, &until) == ETIMEDOUT)
			break;
	}
	if (missing == 0) {
		snprintf(out, cap, "ok");
	} else {
		size_t len = 0;
		for (int i = 0; i < n && len < cap; i++)
			if (!p->answered[i])
				len += (size_t)snprintf(out + len, cap - len, "%sloop-%d",
				                        len ? ", " : "", i);
		if (len < cap)
			snprintf(out + len, cap - len, " did not answer within %d ms",
			         HEALTH_LOOP_TIMEOUT_MS);
	}
	pthread_mutex_unlock(&p->mu);
	ping_unref(p);
	return missing == 0;
}

static int check_store(store_t *st, char *out, size_t cap)
{
	int rc = store_probe_write(st, HEALTH_STORE_TIMEOUT_MS);
	if (rc == STORE_OK) {
		snprintf(out, cap, "ok");
		return 1;
	}
	if (rc == STORE_BUSY)
		snprintf(out, cap, "write lock not obtained within %d ms: %s",
		         HEALTH_STORE_TIMEOUT_MS, store_last_error());
	else
		snprintf(out, cap, "%s", store_last_error());
	return 0;
}

static void deliver(void *arg)
{
	struct ask *a = arg;
	a->r.store = a->store;
	a->r.loops = a->loops;
	a->done(a->arg, &a->r);
	free(a);
}

static void *run(void *arg)
{
	struct health *h = arg;
	for (;;) {
		pthread_mutex_lock(&h->mu);
		while (!h->asks && !h->stopping)
			pthread_cond_wait(&h->cv, &h->mu);
		struct ask *batch = h->asks;
		h->asks = NULL;
		int stopping = h->stopping;
		pthread_mutex_unlock(&h->mu);
		if (stopping) {
			while (batch) {
				struct ask *next = batch->next;
				free(batch);
				batch = next;
			}
			return NULL;
		}
		char store[256], loops[256];
		int64_t t0 = tg_now_ms();
		int ok = check_store(h->store, store, sizeof store);
		ok &= check_loops(h->loops, loops, sizeof loops);
		long long took = (long long)(tg_now_ms() - t0);
		while (batch) {
			struct ask *next = batch->next;
			batch->r.ok = ok;
			batch->r.check_ms = took;
			tg_strlcpy(batch->store, store, sizeof batch->store);
			tg_strlcpy(batch->loops, loops, sizeof batch->loops);
			if (loop_post(batch->home, deliver, batch) != 0)
				free(batch); /* the loop is stopping: nobody to answer */
			batch = next;
		}
	}
}

struct health *health_start(store_t *store, struct loop_group *loops, char *err, size_t errlen)
{
	struct health *h = calloc(1, sizeof *h);
	if (!h) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	h->store = store;
	h->loops = loops;
	pthread_mutex_init(&h->mu, NULL);
	pthread_cond_init(&h->cv, NULL);
	int rc = pthread_create(&h->thread, NULL, run, h);
	if (rc != 0) {
		snprintf(err, errlen, "cannot start the health thread: %s", strerror(rc));
		pthread_mutex_destroy(&h->mu);
		pthread_cond_destroy(&h->cv);
		free(h);
		return NULL;
	}
	return h;
}

void health_stop(struct health *h)
{
	if (!h)
		return;
	pthread_mutex_lock(&h->mu);
	h->stopping = 1;
	pthread_cond_signal(&h->cv);
	pthread_mutex_unlock(&h->mu);
	pthread_join(h->thread, NULL);
	pthread_mutex_destroy(&h->mu);
	pthread_cond_destroy(&h->cv);
	free(h);
}

int health_check(struct health *h, struct loop *home,
                 void (*done)(void *arg, const struct health_result *r), void *arg)
{
	struct ask *a = calloc(1, sizeof *a);
	if (!a)
		return -1;
	a->home = home;
	a->done = done;
	a->arg = arg;
	pthread_mutex_lock(&h->mu);
	int stopping = h->stopping;
	if (!stopping) {
		a->next = h->asks;
		h->asks = a;
		pthread_cond_signal(&h->cv);
	}
	pthread_mutex_unlock(&h->mu);
	if (stopping) {
		free(a);
		return -1;
	}
	return 0;
}
