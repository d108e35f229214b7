/* SPDX-License-Identifier: ISC */
#include "core/loop.h"
#include "core/log.h"
#include "core/util.h"

#include <errno.h>
#include <event2/event.h>
#include <event2/thread.h>
#include <fcntl.h>
#include <netdb.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

struct post {
	struct post *next;
	loop_fn fn;
	void *arg;
};

struct loop {
	char name[32];
	struct event_base *base;
	struct event *wake;
	pthread_mutex_t mu;
	struct post *head, **tail;
	int stopping;
};

struct loop_group {
	int n;
	struct loop **loops;
	pthread_t *threads;
};

int loop_threads_init(void)
{
	return evthread_use_pthreads();
}

static void run_posts(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	struct loop *l = arg;
	pthread_mutex_lock(&l->mu);
	struct post *p = l->head;
	l->head = NULL;
	l->tail = &l->head;
	int stop = l->stopping;
	pthread_mutex_unlock(&l->mu);
	while (p) {
		struct post *next = p->next;
		p->fn(p->arg);
		free(p);
		p = next;
	}
	if (stop)
		event_base_loopexit(l->base, NULL);
}

struct loop *loop_new(const char *name)
{
	struct loop *l = calloc(1, sizeof *l);
	if (!l)
		return NULL;
	tg_strlcpy(l->name, name, sizeof l->name);
	pthread_mutex_init(&l->mu, NULL);
	l->tail = &l->head;
	/* libevent's default timers: its clock is CLOCK_MONOTONIC_COARSE (a 4 ms tick) and
	 * epoll's timeout is in whole milliseconds, so a timer fires within about a tick of
	 * its time, early or late (loop_coarse_tick_ms()). Its precise timers
	 * (EVENT_BASE_FLAG_PRECISE_TIMER) make epoll wait on a timerfd that libevent sets
	 * with timerfd_settime() before every epoll_wait(), whatever the timers did: a system
	 * call per wake-up of every loop (1.4 of the 12 a 4 KiB TFTP transfer took) for the
	 * benefit of one timer, the registrar's answer hold, whose lateness by an amount
	 * that depended on when it was armed leaked the decision time. That one has a
	 * timerfd of its own (core/ptimer.h), set only when an answer is held; the others
	 * (retransmissions, idle timeouts, the directory's 250 ms failure floor, which adds
	 * a tick so as never to be early) do not need better than a few milliseconds. */
	l->base = event_base_new();
	if (!l->base) {
		free(l);
		return NULL;
	}
	l->wake = event_new(l->base, -1, 0, run_posts, l);
	if (!l->wake) {
		event_base_free(l->base);
		free(l);
		return NULL;
	}
	return l;
}

static void on_log_flush(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	(void)arg;
	log_thread_flush();
}

int loop_run(struct loop *l)
{
	/* With buffered logging ([log] buffer_ms) the loop's lines wait in a buffer of this
	 * thread's, written at least every buffer_ms. */
	struct event *flush = NULL;
	int ms = log_buffering();
	if (ms > 0) {
		log_thread_buffer(1);
		flush = event_new(l->base, -1, EV_PERSIST, on_log_flush, NULL);
		struct timeval tv = {ms / 1000, (ms % 1000) * 1000};
		if (flush)
			event_add(flush, &tv);
	}
	/* The wake event is activated by other threads; a persistent dummy timer is not
	 * needed because EVLOOP_NO_EXIT_ON_EMPTY keeps an idle loop running. */
	int rc = event_base_loop(l->base, EVLOOP_NO_EXIT_ON_EMPTY) < 0 ? -1 : 0;
	if (flush)
		event_free(flush);
	if (ms > 0)
		log_thread_buffer(0);
	return rc;
}

void loop_stop(struct loop *l)
{
	pthread_mutex_lock(&l->mu);
	l->stopping = 1;
	pthread_mutex_unlock(&l->mu);
	event_active(l->wake, EV_READ, 0);
}

void loop_free(struct loop *l)
{
	if (!l)
		return;
	struct post *p = l->head;
	while (p) {
		struct post *next = p->next;
		free(p);
		p = next;
	}
	event_free(l->wake);
	event_base_free(l->base);
	pthread_mutex_destroy(&l->mu);
	free(l);
}

struct event_base *loop_base(struct loop *l)
{
	return l->base;
}

const char *loop_name(const struct loop *l)
{
	return l->name;
}

int loop_post(struct loop *l, loop_fn fn, void *arg)
{
	struct post *p = malloc(sizeof *p);
	if (!p)
		return -1;
	p->next = NULL;
	p->fn = fn;
	p->arg = arg;
	pthread_mutex_lock(&l->mu);
	if (l->stopping) {
		pthread_mutex_unlock(&l->mu);
		free(p);
		return -1;
	}
	*l->tail = p;
	l->tail = &p->next;
	pthread_mutex_unlock(&l->mu);
	event_active(l->wake, EV_READ, 0);
	return 0;
}

static void *thread_main(void *arg)
{
	tg_thread_name(loop_name(arg));
	loop_run(arg);
	return NULL;
}

struct loop_group *loop_group_start(int n)
{
	struct loop_group *g = calloc(1, sizeof *g);
	if (!g)
		return NULL;
	g->loops = calloc((size_t)n, sizeof *g->loops);
	g->threads = calloc((size_t)n, sizeof *g->threads);
	if (!g->loops || !g->threads)
		goto fail;
	for (int i = 0; i < n; i++) {
		char name[32];
		snprintf(name, sizeof name, "loop-%d", i);
		g->loops[i] = loop_new(name);
		if (!g->loops[i])
			goto fail;
		if (pthread_create(&g->threads[i], NULL, thread_main, g->loops[i]) != 0) {
			loop_free(g->loops[i]);
			g->loops[i] = NULL;
			goto fail;
		}
		g->n = i + 1;
	}
	return g;
fail:
	loop_group_stop(g);
	return NULL;
}

int loop_group_size(const struct loop_group *g)
{
	return g->n;
}

struct loop *loop_group_get(struct loop_group *g, int i)
{
	return g->loops[i % g->n];
}

struct run_all {
	void (*fn)(struct loop *l, int i, void *arg);
	void *arg;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	int done;
};

struct run_one {
	struct run_all *all;
	struct loop *loop;
	int i;
};

static void run_one(void *arg)
{
	struct run_one *o = arg;
	struct run_all *a = o->all;
	a->fn(o->loop, o->i, a->arg);
	pthread_mutex_lock(&a->mu);
	a->done++;
	pthread_cond_signal(&a->cv);
	pthread_mutex_unlock(&a->mu);
}

int loop_run_all(struct loop_group *g, void (*fn)(struct loop *l, int i, void *arg), void *arg)
{
	struct run_all a = {.fn = fn, .arg = arg};
	struct run_one *ones = calloc((size_t)g->n, sizeof *ones);
	if (!ones)
		return 0;
	pthread_mutex_init(&a.mu, NULL);
	pthread_cond_init(&a.cv, NULL);
	int posted = 0;
	for (int i = 0; i < g->n; i++) {
		ones[i] = (struct run_one){&a, g->loops[i], i};
		if (loop_post(g->loops[i], run_one, &ones[i]) == 0)
			posted++;
	}
	pthread_mutex_lock(&a.mu);
	while (a.done < posted)
		pthread_cond_wait(&a.cv, &a.mu);
	pthread_mutex_unlock(&a.mu);
	pthread_mutex_destroy(&a.mu);
	pthread_cond_destroy(&a.cv);
	free(ones);
	return posted;
}

void loop_group_stop(struct loop_group *g)
{
	if (!g)
		return;
	for (int i = 0; i < g->n; i++)
		loop_stop(g->loops[i]);
	for (int i = 0; i < g->n; i++) {
		pthread_join(g->threads[i], NULL);
		loop_free(g->loops[i]);
	}
	free(g->loops);
	free(g->threads);
	free(g);
}

int loop_coarse_tick_ms(void)
{
	struct timespec r;
	if (clock_getres(CLOCK_MONOTONIC_COARSE, &r) != 0)
		return 10; /* HZ=100, the coarsest Linux tick */
	return (int)(r.tv_sec * 1000 + (r.tv_nsec + 999999) / 1000000);
}

int loop_ncores(void)
{
	long n = sysconf(_SC_NPROCESSORS_ONLN);
	return n > 0 ? (int)n : 1;
}

int loop_bind_reuseport(const char *addr, uint16_t port, int type)
{
	struct addrinfo hints = {0}, *res;
	char ps[8];
	snprintf(ps, sizeof ps, "%u", port);
	hints.ai_socktype = type;
	hints.ai_flags = AI_PASSIVE | AI_NUMERICHOST | AI_NUMERICSERV;
	int rc = getaddrinfo(addr, ps, &hints, &res);
	if (rc != 0)
		return -EINVAL;
	int fd = socket(res->ai_family, type | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		rc = -errno;
		freeaddrinfo(res);
		return rc;
	}
	int one = 1;
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
	if (setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof one) != 0 ||
	    bind(fd, res->ai_addr, res->ai_addrlen) != 0 ||
	    (type == SOCK_STREAM && listen(fd, 1024) != 0)) {
		rc = -errno;
		close(fd);
		freeaddrinfo(res);
		return rc;
	}
	freeaddrinfo(res);
	return fd;
}
