/* SPDX-License-Identifier: ISC */
/* The refresh grants' group commit (oauth_int.h), as the registrar's location writer
 * (sip/commitq.h): rotations queue while one transaction commits, and the next takes them
 * all, so N grants cost one BEGIN/COMMIT and one write of the log instead of N that wait
 * for each other's write lock. Each is answered only after its commit: durable before the
 * answer. The access tokens are signed here too, a batch's together: the worker only
 * prepares them (authz_token_prepare), this thread sends every signing request of the batch
 * at once, writes the rotations while the signer process signs, then collects the
 * signatures and commits: one wake-up of the signer and of this thread per batch instead of
 * a worker's round trip per grant. A rotation whose token could not be signed is not
 * committed (the batch's transaction is redone without it). */
#include "authz/oauth_int.h"

#include "core/util.h"

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

/* BEGIN and the rotations of the jobs (those with signed[i] when signed is not NULL).
 * STORE_OK with the transaction open, else the error (the caller rolls back). */
static int rotate_all(store_t *st, struct oauth_job **jobs, size_t n, const int *signed_ok)
{
	int rc = store_begin(st);
	for (size_t i = 0; rc == STORE_OK && i < n; i++)
		if (!signed_ok || signed_ok[i])
			rc = oauth_refresh_rotate(jobs[i]);
	return rc;
}

static void commit_batch(struct oauth_commit *c, struct oauth_job **jobs, size_t n)
{
	store_t *st = c->o->o.store;
	struct authz_unsigned *u[BATCH_MAX];
	int signed_ok[BATCH_MAX];
	for (size_t i = 0; i < n; i++) {
		u[i] = &jobs[i]->rot.tok;
		/* Before BEGIN: what the transaction reads is at least this new (oauth_int.h). */
		jobs[i]->rot.gen = store_generation(st);
		jobs[i]->rot.user_gen = store_user_generation(st, jobs[i]->rot.userid);
	}
	/* The signer signs the batch while this thread writes its rotations. */
	authz_tokens_sign_start(c->o->o.authz, u, n);
	int rc = rotate_all(st, jobs, n, NULL);
	authz_tokens_sign_finish(c->o->o.authz, u, n);
	size_t unsigned_n = 0;
	for (size_t i = 0; i < n; i++) {
		signed_ok[i] = oauth_refresh_signed(jobs[i]) == 0;
		unsigned_n += !signed_ok[i];
	}
	if (unsigned_n && rc == STORE_OK) {
		/* No rotation without its token: again without the unsigned ones. */
		store_rollback(st);
		rc = rotate_all(st, jobs, n, signed_ok);
	}
	if (rc == STORE_OK)
		rc = store_commit(st);
	else
		store_rollback(st);
	/* The batch's log lines in one write, after its answers are on their way. */
	log_thread_hold(1);
	for (size_t i = 0; i < n; i++) {
		if (signed_ok[i]) {
			if (rc != STORE_OK) {
				/* Nothing of the batch was written. */
				jobs[i]->rot.rc = rc;
				jobs[i]->rot.why = NULL;
			}
			oauth_refresh_committed(jobs[i]);
		}
		oauth_job_finish(jobs[i]);
	}
	log_thread_hold(0);
}

static void *committer(void *arg)
{
	struct oauth_commit *c = arg;
	struct oauth_job *jobs[BATCH_MAX];
	tg_thread_name("oauth-commit"); /* its CPU apart in top -H and bench/oauth_cpu.py */
	pthread_mutex_lock(&c->mu);
	for (;;) {
		while (STAILQ_EMPTY(&c->q) && !c->stopping)
			pthread_cond_wait(&c->cv, &c->mu);
		if (STAILQ_EMPTY(&c->q))
			break;
		/* Let the workers that are preparing queue theirs too: one batch for more. */
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
	log_thread_buffer(0); /* the hold's buffer */
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
