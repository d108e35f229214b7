/* SPDX-License-Identifier: ISC */
/*
 * health: the check behind `GET /healthz`. Healthy means the store's write lock can be
 * taken within HEALTH_STORE_TIMEOUT_MS (a REGISTER that changes a binding, a login that
 * records a failure needs it) and every event loop runs a posted function within
 * HEALTH_LOOP_TIMEOUT_MS (a loop stuck in a callback serves nobody).
 *
 * The check runs on its own thread, so a store that blocks never holds up a loop or the
 * worker pool; requests that arrive while a check runs share its result (a scraper
 * hammering /healthz costs one check at a time). The answer comes back on the loop the
 * request came from.
 *
 * Ownership: health_start keeps store and loops (owned by the daemon; they outlive the
 * health thread). A result's strings are valid during the done callback only.
 */
#ifndef TG_ADMIN_HEALTH_H
#define TG_ADMIN_HEALTH_H

#include "store/store.h"

#include <stddef.h>

struct loop;
struct loop_group;
struct health;

#define HEALTH_STORE_TIMEOUT_MS 1000
#define HEALTH_LOOP_TIMEOUT_MS 1000

struct health_result {
	int ok;             /* 1: healthy */
	const char *store;  /* "ok", or why not ("write lock not obtained within 1000 ms: ...") */
	const char *loops;  /* "ok", or which loops did not answer ("loop-1 did not answer ...") */
	long long check_ms; /* how long the check took, ms */
};

/* Starts the check thread. Returns NULL with err set when the thread cannot start. */
struct health *health_start(store_t *store, struct loop_group *loops, char *err, size_t errlen);
/* Stops and joins the thread; checks asked for and not run are dropped (their done is
 * not called). NULL is a no-op. Call after the listeners that ask are gone. */
void health_stop(struct health *h);

/* Asks for a check; done(arg, result) runs later on home (loop_post). Returns 0, or -1
 * when out of memory or stopping (done will not run). Any thread. */
int health_check(struct health *h, struct loop *home,
                 void (*done)(void *arg, const struct health_result *r), void *arg);

#endif
