/* SPDX-License-Identifier: ISC */
/* The refresh grants' group commit (oauth_int.h), as the registrar's location writer
 * (sip/commitq.h): rotations queue while one transaction commits, and the next takes them
 * all, so N grants cost one BEGIN/COMMIT and one write of the log instead of N that wait
 * for each other's write lock. Each is answered only after its commit: durable before the
 * answer. The signing happened on the worker before, so a worker never waits for a
 * commit and the signer has as many requests in flight as there are workers. */
#include "authz/oauth_int.h"

#include <pthread.h>
#include <sched.h>
#include <stdlib.h>

/* The most rotations in one transaction (bounds the stack array and the time the write
 * lock is held: ~10 us each). */
#define BATCH_MAX 128

struct oauth_commit {
	struct oauth *o;
	pthread_t thread;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	STAILQ_HEAD(, oauth_job) q;
	int stopping;
};

static void commit_batch(struct oauth_commit *c, struct oauth_job **jobs, size_t n)
{
	store_t *st = c->o->o.store;
	int rc = store_begin(st);
	for (size_t i = 0; rc == STORE_OK && i < n; i++)
		rc = oauth_refresh_rotate(jobs[i]);
	if (rc == STORE_OK)
		rc = store_commit(st);
	else
		store_rollback(st);
	for (size_t i = 0; i < n; i++) {
		if (rc != STORE_OK) {
			/* Nothing of the batch was written. */
			jobs[i]->rot.rc = rc;
			jobs[i]->rot.why = NULL;
		}
		oauth_refresh_committed(jobs[i]);
		oauth_job_finish(jobs[i]);
	}
}

static void *committer(void *arg)
{
	struct oauth_commit *c = arg;
	struct oauth_job *jobs[BATCH_MAX];
	pthread_mutex_lock(&c->mu);
	for (;;) {
		while (STAILQ_EMPTY(&c->q) && !c->stopping)
			pthread_cond_wait(&c->cv, &c->mu);
		if (STAILQ_EMPTY(&c->q))
			break;
		/* Let the workers that are signing queue theirs too: one transaction for more. */
		pthread_mutex_unlock(&c->mu);
		sched_yield();
		pthread_mutex_lock(&c->mu);
		size_t n = 0;
		struct oauth_job *j;
		while (n < BATCH_MAX && (j = STAILQ_FIRST(&c->q))) {
			STAILQ_REMOVE_HEAD(&c->q, commit_link);
			jobs[n++] = j;
		}
		pthread_mutex_unlock(&c->mu);
		commit_batch(c, jobs, n);
		pthread_mutex_lock(&c->mu);
	}
	pthread_mutex_unlock(&c->mu);
	return NULL;
}

struct oauth_commit *oauth_commit_start(struct oauth *o)
{
	struct oauth_commit *c = calloc(1, sizeof *c);
	if (!c)
		return NULL;
	c->o = o;
	STAILQ_INIT(&c->q);
	pthread_mutex_init(&c->mu, NULL);
	pthread_cond_init(&c->cv, NULL);
	if (pthread_create(&c->thread, NULL, committer, c) != 0) {
		pthread_cond_destroy(&c->cv);
		pthread_mutex_destroy(&c->mu);
		free(c);
		return NULL;
	}
	return c;
}

void oauth_commit_stop(struct oauth_commit *c)
{
	if (!c)
		return;
	pthread_mutex_lock(&c->mu);
	c->stopping = 1;
	pthread_cond_signal(&c->cv);
	pthread_mutex_unlock(&c->mu);
	pthread_join(c->thread, NULL);
	pthread_cond_destroy(&c->cv);
	pthread_mutex_destroy(&c->mu);
	free(c);
}

int oauth_commit_submit(struct oauth_commit *c, struct oauth_job *j)
{
	pthread_mutex_lock(&c->mu);
	int ok = !c->stopping;
	if (ok) {
		int was_empty = STAILQ_EMPTY(&c->q);
		STAILQ_INSERT_TAIL(&c->q, j, commit_link);
		/* A committer busy with a batch takes the queue when it is done: no wake-up. */
		if (was_empty)
			pthread_cond_signal(&c->cv);
	}
	pthread_mutex_unlock(&c->mu);
	return ok ? 0 : -1;
}
