/* SPDX-License-Identifier: ISC */
/* The location writer's write-behind refresh against the SQLite store (issue 22, eighth
 * round): N bindings (default 10,000; one device each, contacts and sources as SIPp's),
 * then ROUNDS transactions of BATCH refreshes each (store_begin, BATCH x
 * store_registration_refresh of bindings picked at random, store_commit), as
 * sip/location.c's writer_main does under load, on a thread of its own (its own
 * connection and statement cache, as the writer's: the opening thread's cache is full of
 * the migrations' statements). Prints nanoseconds per refresh; for
 * instruction counts run it under callgrind with --toggle-collect=refresh_rounds (the
 * measured part only, commits included):
 *   valgrind --tool=callgrind --toggle-collect=refresh_rounds \
 *     build/bench/bench/bench_store_refresh /tmp/sr 20 512
 * then Ir / (ROUNDS x BATCH). MODE "rewrite" (fifth argument) makes each a rewrite
 * instead, with a new source (a phone that reconnected: OP_CHANGE). Benchmarks only: not
 * installed. */
#include "core/util.h"
#include "store/store.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static double now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1e9 + (double)ts.tv_nsec;
}

static void binding(struct store_registration *r, int i)
{
	memset(r, 0, sizeof *r);
	snprintf(r->device, sizeof r->device, "SEPCGC%05d", i);
	snprintf(r->contact, sizeof r->contact, "<sip:c%05d@127.0.0.1:%d;transport=tcp>", i,
	         20000 + i);
	snprintf(r->aor, sizeof r->aor, "sip:c%05d@127.0.0.1", i);
	snprintf(r->callid, sizeof r->callid, "1-%d@127.0.0.1", 4000 + i);
	r->cseq = 2;
	r->expires = tg_now_s() + 3600;
	snprintf(r->transport, sizeof r->transport, "TCP");
	snprintf(r->source, sizeof r->source, "127.0.0.1:%d", 20000 + i);
	r->regid = -1;
}

/* The measured part: rounds transactions of batch refreshes. 0, or -1 on a store error. */
__attribute__((noinline)) static int refresh_rounds(store_t *st, struct store_registration *b,
                                                    int n, int rounds, int batch, int rewrite)
{
	unsigned x = 1;
	long k = 0;
	for (int r = 0; r < rounds; r++) {
		if (store_begin(st) != STORE_OK)
			return -1;
		for (int i = 0; i < batch; i++, k++) {
			x = x * 1103515245u + 12345u;
			struct store_registration *o = &b[(x >> 8) % (unsigned)n];
			snprintf(o->callid, sizeof o->callid, "%ld-4242@127.0.0.1", 100000 + k);
			o->expires++;
			if (rewrite)
				snprintf(o->source, sizeof o->source, "127.0.0.1:%ld",
				         30000 + k % 30000);
			if ((rewrite ? store_registration_rewrite(st, o)
			             : store_registration_refresh(st, o)) != STORE_OK) {
				store_rollback(st);
				return -1;
			}
		}
		if (store_commit(st) != STORE_OK)
			return -1;
	}
	return 0;
}

struct run {
	store_t *st;
	int n, rounds, batch, rewrite, rc;
};

static void *run_main(void *arg)
{
	struct run *a = arg;
	a->rc = 1;
	struct store_registration *b = calloc((size_t)a->n, sizeof *b);
	if (!b)
		return NULL;
	int rc = store_begin(a->st);
	for (int i = 0; i < a->n && rc == STORE_OK; i++) {
		struct store_device d;
		memset(&d, 0, sizeof d);
		binding(&b[i], i);
		snprintf(d.name, sizeof d.name, "%s", b[i].device);
		snprintf(d.protocol, sizeof d.protocol, "SIP");
		if ((rc = store_device_put(a->st, &d)) == STORE_OK)
			rc = store_registration_put(a->st, &b[i]);
	}
	if (rc != STORE_OK || store_commit(a->st) != STORE_OK) {
		fprintf(stderr, "setup: %s\n", store_last_error());
		free(b);
		return NULL;
	}
	double t0 = now_ns();
	if (refresh_rounds(a->st, b, a->n, a->rounds, a->batch, a->rewrite) != 0)
		fprintf(stderr, "refresh: %s\n", store_last_error());
	else {
		printf("%d bindings, %d x %d refreshes: %.0f ns/refresh\n", a->n, a->rounds,
		       a->batch, (now_ns() - t0) / ((double)a->rounds * a->batch));
		a->rc = 0;
	}
	free(b);
	return NULL;
}

int main(int argc, char **argv)
{
	if (argc < 2) {
		fprintf(stderr, "usage: %s DIR [ROUNDS [BATCH [N [rewrite]]]]\n", argv[0]);
		return 2;
	}
	struct run a = {NULL,
	                argc > 4 ? atoi(argv[4]) : 10000,
	                argc > 2 ? atoi(argv[2]) : 20,
	                argc > 3 ? atoi(argv[3]) : 512,
	                argc > 5 && strcmp(argv[5], "rewrite") == 0,
	                1};
	if (a.rounds < 1 || a.batch < 1 || a.n < 1)
		return 2;
	char path[512], err[256];
	snprintf(path, sizeof path, "%s/store.db", argv[1]);
	unlink(path);
	struct store_options o = {.path = path, .busy_timeout_ms = 5000};
	if (store_open(&o, &a.st, err, sizeof err) != STORE_OK) {
		fprintf(stderr, "%s\n", err);
		return 1;
	}
	pthread_t t;
	if (pthread_create(&t, NULL, run_main, &a) != 0)
		return 1;
	pthread_join(t, NULL);
	store_close(a.st);
	unlink(path);
	return a.rc;
}
