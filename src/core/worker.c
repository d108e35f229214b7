/* SPDX-License-Identifier: ISC */
#include "core/worker.h"
#include "core/loop.h"
#include "core/util.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>

struct job {
	struct job *next;
	worker_fn run, done;
	void *arg;
	struct loop *home;
};

struct workers {
	pthread_mutex_t mu;
	uint64_t rejected; /* submits refused with -EAGAIN (queue full), under mu */
	pthread_cond_t cv;
	struct job *head, **tail;
	size_t queued, running, max_queue;
	int stopping, n, nice;
	int niced; /* threads that have applied nice, under mu: the start waits for all */
	pthread_t *threads;
};

static void *worker_main(void *arg)
{
	struct workers *w = arg;
	tg_thread_name("worker");
	if (w->nice) {
		tg_thread_nice(w->nice); /* on failure the thread runs at the caller's value */
		pthread_mutex_lock(&w->mu);
		w->niced++;
		pthread_cond_broadcast(&w->cv);
		pthread_mutex_unlock(&w->mu);
	}
	for (;;) {
		pthread_mutex_lock(&w->mu);
		while (!w->head && !w->stopping)
			pthread_cond_wait(&w->cv, &w->mu);
		struct job *j = w->head;
		if (!j) {
			pthread_mutex_unlock(&w->mu);
			return NULL;
		}
		w->head = j->next;
		if (!w->head)
			w->tail = &w->head;
		w->queued--;
		w->running++;
		pthread_mutex_unlock(&w->mu);

		j->run(j->arg);
		if (j->done && (!j->home || loop_post(j->home, j->done, j->arg) != 0))
			j->done(j->arg); /* no home, or it is gone: finish here */
		free(j);

		pthread_mutex_lock(&w->mu);
		w->running--;
		pthread_mutex_unlock(&w->mu);
	}
}

struct workers *workers_start(int nthreads, size_t max_queue)
{
	return workers_start_nice(nthreads, max_queue, 0);
}

struct workers *workers_start_nice(int nthreads, size_t max_queue, int nice)
{
	struct workers *w = calloc(1, sizeof *w);
	if (!w)
		return NULL;
	w->nice = nice;
	pthread_mutex_init(&w->mu, NULL);
	pthread_cond_init(&w->cv, NULL);
	w->tail = &w->head;
	w->max_queue = max_queue;
	w->threads = calloc((size_t)nthreads, sizeof *w->threads);
	if (!w->threads) {
		free(w);
		return NULL;
	}
	for (int i = 0; i < nthreads; i++) {
		if (pthread_create(&w->threads[i], NULL, worker_main, w) != 0)
			break;
		w->n++;
	}
	if (w->n == 0) {
		free(w->threads);
		free(w);
		return NULL;
	}
	/* Every thread at its priority before the pool is handed out: whoever looks (the
	 * daemon's readiness, a test reading /proc) sees the pool as configured, not a thread
	 * that has not run yet. */
	pthread_mutex_lock(&w->mu);
	while (w->nice && w->niced < w->n)
		pthread_cond_wait(&w->cv, &w->mu);
	pthread_mutex_unlock(&w->mu);
	return w;
}

int workers_submit(struct workers *w, worker_fn run, worker_fn done, void *arg, struct loop *home)
{
	struct job *j = malloc(sizeof *j);
	if (!j)
		return -ENOMEM;
	j->next = NULL;
	j->run = run;
	j->done = done;
	j->arg = arg;
	j->home = home;
	pthread_mutex_lock(&w->mu);
	int rc = w->stopping ? -ESHUTDOWN : w->queued >= w->max_queue ? -EAGAIN : 0;
	if (rc == 0) {
		*w->tail = j;
		w->tail = &j->next;
		w->queued++;
		pthread_cond_signal(&w->cv);
	}
	if (rc == -EAGAIN)
		w->rejected++;
	pthread_mutex_unlock(&w->mu);
	if (rc != 0)
		free(j);
	return rc;
}

size_t workers_pending(struct workers *w)
{
	pthread_mutex_lock(&w->mu);
	size_t n = w->queued + w->running;
	pthread_mutex_unlock(&w->mu);
	return n;
}

uint64_t workers_rejected(struct workers *w)
{
	pthread_mutex_lock(&w->mu);
	uint64_t n = w->rejected;
	pthread_mutex_unlock(&w->mu);
	return n;
}

int workers_size(const struct workers *w)
{
	return w->n;
}

void workers_stop(struct workers *w)
{
	if (!w)
		return;
	pthread_mutex_lock(&w->mu);
	w->stopping = 1;
	pthread_cond_broadcast(&w->cv);
	pthread_mutex_unlock(&w->mu);
	for (int i = 0; i < w->n; i++)
		pthread_join(w->threads[i], NULL);
	pthread_mutex_destroy(&w->mu);
	pthread_cond_destroy(&w->cv);
	free(w->threads);
	free(w);
}
