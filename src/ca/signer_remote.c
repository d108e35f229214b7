/* SPDX-License-Identifier: ISC */
/*
 * The remote signer: the engine's end of the socketpair to the signer process. Requests are
 * multiplexed by id over the one socket: a sender holds the write mutex for its records.
 * Answers are read by the threads that wait for them (leader/follower): one waiter at a time,
 * the leader, reads the socket and hands each answer to the thread waiting for its id (a
 * condition variable per request); when its own answer comes it steps down and wakes a
 * follower to lead. A worker waiting alone thus reads its own answer: two wake-ups per
 * request (the signer's, the worker's) instead of three with a dedicated reader thread
 * (measured: bench/README.md est_enrol). One socket rather than a pool of connections
 * because the signer is one thread serving in order (a pool would add no parallelism), and
 * because the monitor keeps the other end of this one socket to hand it to a restarted
 * signer.
 *
 * The socket is read only while someone leads, so a watcher thread leads when the handle
 * has been idle for IDLE_MS (no request started, none in flight): a signer that restarts
 * while nobody signs is still noticed at once. A request that finds the watcher leading
 * asks it to step down through an eventfd (one extra wake-up, after an idle period only);
 * under load the watcher wakes once per IDLE_MS and goes back to sleep.
 *
 * Whoever leads also takes the signer's hello: a new signer means the old one died with
 * whatever it had been asked, so every request in flight fails with -EAGAIN (never a
 * half-issued certificate: an answer that comes after that is dropped), and the
 * SignerRestarted alarm is raised here, in the process whose `telgate show alarms` the
 * administrator reads.
 */
#include "ca/signer_core.h"
#include "ca/signer_wire.h"
#include "core/alarm.h"
#include "core/log.h"

#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/queue.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#define DEFAULT_QUEUE 256
#define DEFAULT_TIMEOUT_MS 10000
#define IDLE_MS 1000

struct pending {
	uint32_t id;
	int done, status;
	int sent;              /* send_request's result (0: on the wire) */
	int blocked;           /* its thread sleeps on cv (await_answer), not leading */
	struct timespec until; /* the answer's deadline */
	unsigned char *out;
	size_t outlen;
	pthread_cond_t cv;
	LIST_ENTRY(pending) link;
};

enum lead { LEAD_NONE, LEAD_CALLER, LEAD_WATCHER };

struct signer_remote {
	struct signer base; /* first */
	int fd;
	int wakefd; /* eventfd: a request asks the watcher to stop leading */
	pthread_t watcher;
	pthread_cond_t watcher_cv; /* the watcher's idle wait; free() wakes it */
	pthread_mutex_t wmu;       /* one sender's records at a time */
	pthread_mutex_t mu;        /* everything below */
	LIST_HEAD(, pending) waiting;
	enum lead leader;
	int evict;      /* the watcher was asked to step down (wakefd written) */
	uint64_t calls; /* requests started: the watcher's idle test */
	uint32_t next_id;
	unsigned in_flight, queue_max, timeout_ms;
	int closed, stopping;
	struct signer_hello hello;
	int hello_seen;
	uint64_t served, failed;
	char cid[LOG_CID_SIZE];
	/* The leader's alone (no lock: one leader at a time): a message may span leaders. */
	struct signer_rx rx;
	unsigned char rec[SIGNER_RECORD_MAX + 1]; /* +1: a longer datagram is seen as too long */
};

/* Under r->mu: every waiter gets status (the signer died or the handle closes). */
static void fail_all(struct signer_remote *r, int status)
{
	struct pending *p;
	while ((p = LIST_FIRST(&r->waiting))) {
		LIST_REMOVE(p, link);
		p->done = 1;
		p->status = status;
		pthread_cond_signal(&p->cv);
	}
}

/* Under r->mu, when nobody leads: a waiter takes over the socket. Only a request whose
 * thread sleeps on it: one thread may have several in flight (signer_sign_tokens_start
 * sends a batch, then waits for each in turn), and a signal to one it is not waiting on
 * yet would wake nobody; the batch would then wait for its first answer, unread, until
 * some other request led or the deadline passed (seen after an idle period, when the
 * watcher led and stepped down for a batch). */
static void promote(struct signer_remote *r)
{
	if (r->leader != LEAD_NONE)
		return;
	struct pending *p;
	LIST_FOREACH(p, &r->waiting, link)
	if (p->blocked) {
		pthread_cond_signal(&p->cv);
		return;
	}
}

static void on_hello(struct signer_remote *r, const struct signer_resp *resp)
{
	struct signer_hello h;
	if (resp->status != 0 || signer_hello_decode(resp->payload, resp->len, &h) != 0)
		return;
	pthread_mutex_lock(&r->mu);
	int restarted = r->hello_seen ? h.pid != r->hello.pid : h.restarts > 0;
	unsigned lost = r->in_flight;
	r->hello = h;
	r->hello_seen = 1;
	if (restarted)
		fail_all(r, -EAGAIN);
	pthread_mutex_unlock(&r->mu);
	if (restarted)
		alarm_ev("SignerRestarted", ALARM_ERROR, r->cid, LOG_U("pid", h.pid),
		         LOG_U("restarts", h.restarts), LOG_U("requests_failed", lost));
}

static void on_answer(struct signer_remote *r, const struct signer_resp *resp)
{
	pthread_mutex_lock(&r->mu);
	struct pending *p;
	LIST_FOREACH(p, &r->waiting, link)
	if (p->id == resp->id)
		break;
	if (p) {
		LIST_REMOVE(p, link);
		p->done = 1;
		p->status = resp->status;
		if (resp->status == 0) {
			p->out = malloc(resp->len ? resp->len : 1);
			if (p->out) {
				memcpy(p->out, resp->payload, resp->len);
				p->outlen = resp->len;
			} else {
				p->status = -ENOMEM;
			}
		}
		pthread_cond_signal(&p->cv);
	}
	pthread_mutex_unlock(&r->mu);
}

static void dispatch(struct signer_remote *r)
{
	struct signer_resp resp;
	if (signer_resp_decode(r->rx.buf, r->rx.have, &resp) != 0)
		log_ev(LOG_LVL_ERROR, r->cid, "signer_bad_answer", LOG_U("bytes", r->rx.have));
	else if (resp.id == 0)
		on_hello(r, &resp);
	else
		on_answer(r, &resp);
}

/* Milliseconds from now to until (rounded up; 0 when it has passed). */
static int ms_until(const struct timespec *until)
{
	struct timespec now;
	clock_gettime(CLOCK_MONOTONIC, &now);
	long long ns =
	    (long long)(until->tv_sec - now.tv_sec) * 1000000000LL + (until->tv_nsec - now.tv_nsec);
	return ns <= 0 ? 0 : ns >= 3600000000000LL ? 3600000 : (int)((ns + 999999) / 1000000);
}

/* The leader's turn, without r->mu: reads records until a message is handled (1), until
 * passes or the watcher (watch) is asked to step down (0), or the socket ends (-1: the
 * handle is closed and every waiter failed with -EAGAIN). until NULL: no deadline. */
static int lead(struct signer_remote *r, const struct timespec *until, int watch)
{
	struct pollfd pfd[2] = {{.fd = r->fd, .events = POLLIN},
	                        {.fd = r->wakefd, .events = POLLIN}};
	/* A caller reads before it sleeps: a batch's answers (signer_sign_tokens_finish) are
	 * mostly there already, and a poll per answer would double the system calls. */
	int try_first = !watch;
	for (;;) {
		if (!try_first) {
			int n = poll(pfd, watch ? 2 : 1, until ? ms_until(until) : -1);
			if (n < 0 && errno == EINTR)
				continue;
			if (n <= 0 || (watch && pfd[1].revents)) /* n < 0: the caller tries later */
				return 0;
		}
		try_first = 0;
		ssize_t got = recv(r->fd, r->rec, sizeof r->rec, MSG_DONTWAIT);
		if (got < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR))
			continue;
		if (got <= 0) { /* EOF (the engine's shutdown) or a socket error */
			pthread_mutex_lock(&r->mu);
			r->closed = 1;
			fail_all(r, -EAGAIN);
			pthread_mutex_unlock(&r->mu);
			return -1;
		}
		/* A malformed record is skipped (signer_rx_feed resynchronises on a first one). */
		if (signer_rx_feed(&r->rx, r->rec, (size_t)got) == 1) {
			dispatch(r);
			return 1;
		}
	}
}

/* Leads while the handle is idle: no request for IDLE_MS and none in flight. */
static void *watcher_main(void *arg)
{
	struct signer_remote *r = arg;
	pthread_mutex_lock(&r->mu);
	int idle = 1; /* at start: the first hello comes before any request */
	while (!r->stopping) {
		if (idle && !r->closed && r->leader == LEAD_NONE && r->in_flight == 0) {
			r->leader = LEAD_WATCHER;
			pthread_mutex_unlock(&r->mu);
			int rc = lead(r, NULL, 1);
			pthread_mutex_lock(&r->mu);
			r->leader = LEAD_NONE;
			if (r->evict) { /* the count is consumed here, under the lock it was set */
				uint64_t v;
				if (read(r->wakefd, &v, sizeof v) < 0)
					v = 0;
				r->evict = 0;
				idle = 0;
			}
			idle = idle && rc == 1;
			promote(r);
			continue;
		}
		uint64_t seen = r->calls;
		struct timespec until;
		clock_gettime(CLOCK_MONOTONIC, &until);
		until.tv_sec += IDLE_MS / 1000;
		until.tv_nsec += (long)(IDLE_MS % 1000) * 1000000L;
		if (until.tv_nsec >= 1000000000L) {
			until.tv_sec++;
			until.tv_nsec -= 1000000000L;
		}
		pthread_cond_timedwait(&r->watcher_cv, &r->mu, &until);
		idle = r->calls == seen;
	}
	pthread_mutex_unlock(&r->mu);
	return NULL;
}

static int send_request(struct signer_remote *r, const struct signer_req *rq)
{
	size_t n = signer_req_size(rq);
	unsigned char *buf = n ? malloc(n) : NULL;
	if (!buf)
		return n ? -ENOMEM : -EINVAL;
	long w = signer_req_encode(rq, buf, n);
	int rc = (int)w;
	if (w > 0) {
		pthread_mutex_lock(&r->wmu);
		rc = signer_wire_send(r->fd, buf, (size_t)w);
		pthread_mutex_unlock(&r->wmu);
	}
	free(buf);
	return rc;
}

/* Under r->mu: waits for p's answer until until, leading when nobody does. Returns 0 (p
 * done) or -EAGAIN (timed out). */
static int await_answer(struct signer_remote *r, struct pending *p, const struct timespec *until)
{
	while (!p->done) {
		if (r->leader == LEAD_NONE) {
			r->leader = LEAD_CALLER;
			pthread_mutex_unlock(&r->mu);
			int got = lead(r, until, 0);
			pthread_mutex_lock(&r->mu);
			r->leader = LEAD_NONE;
			if (got == 0 && !p->done)
				return -EAGAIN;
			continue;
		}
		if (r->leader == LEAD_WATCHER && !r->evict) {
			uint64_t one = 1;
			r->evict = write(r->wakefd, &one, sizeof one) == (ssize_t)sizeof one;
		}
		p->blocked = 1;
		int rc = pthread_cond_timedwait(&p->cv, &r->mu, until);
		p->blocked = 0;
		if (rc == ETIMEDOUT && !p->done)
			return -EAGAIN;
	}
	return 0;
}

/* Registers and sends one request (rc: 0, or why it was not sent) without waiting: the
 * caller goes on, and remote_wait collects the answer (signer_sign_tokens_start). */
static int remote_send(struct signer *s, const struct signer_req *rq0, void **ticket)
{
	struct signer_remote *r = (struct signer_remote *)s;
	struct signer_req rq = *rq0;
	struct pending *p = calloc(1, sizeof *p);
	*ticket = NULL;
	if (!p)
		return -ENOMEM;
	pthread_condattr_t ca;
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&p->cv, &ca);
	pthread_condattr_destroy(&ca);

	pthread_mutex_lock(&r->mu);
	int rc = r->closed ? -EAGAIN : r->in_flight >= r->queue_max ? -EBUSY : 0;
	if (rc == 0) {
		if (++r->next_id == 0) /* id 0 is the hello */
			r->next_id = 1;
		p->id = rq.id = r->next_id;
		LIST_INSERT_HEAD(&r->waiting, p, link);
		r->in_flight++;
		r->calls++;
	}
	pthread_mutex_unlock(&r->mu);
	if (rc == 0 && (rc = send_request(r, &rq)) != 0)
		rc = rc == -EINVAL || rc == -ENOMEM ? rc : -EAGAIN;
	p->sent = rc;
	clock_gettime(CLOCK_MONOTONIC, &p->until);
	p->until.tv_sec += r->timeout_ms / 1000;
	p->until.tv_nsec += (long)(r->timeout_ms % 1000) * 1000000L;
	if (p->until.tv_nsec >= 1000000000L) {
		p->until.tv_sec++;
		p->until.tv_nsec -= 1000000000L;
	}
	*ticket = p;
	return 0;
}

/* Waits for a sent request's answer (until its deadline) and frees it. */
static int remote_wait(struct signer *s, void *ticket, unsigned char **out, size_t *outlen)
{
	struct signer_remote *r = (struct signer_remote *)s;
	struct pending *p = ticket;
	int rc = p->sent;
	pthread_mutex_lock(&r->mu);
	if (p->id) {
		if (rc == 0)
			rc = await_answer(r, p, &p->until);
		if (!p->done) /* timed out or never sent: its answer, if any, is dropped */
			LIST_REMOVE(p, link);
		else if (rc == 0)
			rc = p->status;
		r->in_flight--;
		r->served += p->done;
		promote(r); /* if this thread led, the next waiter reads */
	}
	if (rc == -EAGAIN || rc == -EBUSY)
		r->failed++;
	pthread_mutex_unlock(&r->mu);
	pthread_cond_destroy(&p->cv);
	if (rc == 0) {
		*out = p->out;
		*outlen = p->outlen;
	} else {
		free(p->out);
	}
	free(p);
	return rc;
}

static int remote_call(struct signer *s, const struct signer_req *rq, unsigned char **out,
                       size_t *outlen)
{
	void *ticket;
	int rc = remote_send(s, rq, &ticket);
	return rc != 0 ? rc : remote_wait(s, ticket, out, outlen);
}

static void remote_stats(struct signer *s, struct signer_stats *st)
{
	struct signer_remote *r = (struct signer_remote *)s;
	pthread_mutex_lock(&r->mu);
	st->remote = 1;
	st->pid = r->hello_seen ? (long)r->hello.pid : 0;
	st->restarts = r->hello.restarts;
	st->seccomp = (r->hello.flags & SIGNER_HELLO_SECCOMP) != 0;
	st->served = r->served;
	st->failed = r->failed;
	st->in_flight = r->in_flight;
	st->queue_max = r->queue_max;
	pthread_mutex_unlock(&r->mu);
}

/* Requests still waiting get -EAGAIN; the caller makes sure none starts after this. */
static void remote_free(struct signer *s)
{
	struct signer_remote *r = (struct signer_remote *)s;
	/* SHUT_RD ends whoever leads (poll sees the end, recv returns 0) without telling the
	 * signer anything: it sees its end close when this process closes the socket. */
	shutdown(r->fd, SHUT_RD);
	pthread_mutex_lock(&r->mu);
	r->stopping = 1;
	pthread_cond_signal(&r->watcher_cv);
	pthread_mutex_unlock(&r->mu);
	pthread_join(r->watcher, NULL);
	close(r->fd);
	close(r->wakefd);
	signer_rx_free(&r->rx);
	pthread_cond_destroy(&r->watcher_cv);
	pthread_mutex_destroy(&r->mu);
	pthread_mutex_destroy(&r->wmu);
	free(r);
}

/* While no signer runs, the socket's buffer fills and a send would block: it gives up after
 * the answer's timeout (-EAGAIN) instead of holding the write mutex. */
static void send_timeout(int fd, unsigned ms)
{
	struct timeval tv = {.tv_sec = ms / 1000, .tv_usec = (long)(ms % 1000) * 1000};
	setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
}

static const struct signer_ops remote_ops = {remote_call, remote_send, remote_wait, remote_stats,
                                             remote_free};

struct signer *signer_remote_new(int fd, char *err, size_t errlen)
{
	struct signer_remote *r = calloc(1, sizeof *r);
	int wakefd = r ? eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK) : -1;
	if (wakefd < 0) {
		free(r);
		close(fd);
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	signer_base_init(&r->base, &remote_ops);
	r->fd = fd;
	r->wakefd = wakefd;
	r->queue_max = DEFAULT_QUEUE;
	r->timeout_ms = DEFAULT_TIMEOUT_MS;
	LIST_INIT(&r->waiting);
	send_timeout(fd, r->timeout_ms);
	log_cid_new(r->cid);
	pthread_condattr_t ca;
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&r->watcher_cv, &ca);
	pthread_condattr_destroy(&ca);
	pthread_mutex_init(&r->mu, NULL);
	pthread_mutex_init(&r->wmu, NULL);
	if (pthread_create(&r->watcher, NULL, watcher_main, r) != 0) {
		snprintf(err, errlen, "cannot start the signer client's thread");
		pthread_cond_destroy(&r->watcher_cv);
		pthread_mutex_destroy(&r->mu);
		pthread_mutex_destroy(&r->wmu);
		close(wakefd);
		close(fd);
		free(r);
		return NULL;
	}
	return &r->base;
}

void signer_remote_configure(struct signer *s, unsigned queue_max, unsigned timeout_ms)
{
	if (!s || s->ops != &remote_ops)
		return;
	struct signer_remote *r = (struct signer_remote *)s;
	pthread_mutex_lock(&r->mu);
	r->queue_max = queue_max ? queue_max : DEFAULT_QUEUE;
	r->timeout_ms = timeout_ms ? timeout_ms : DEFAULT_TIMEOUT_MS;
	send_timeout(r->fd, r->timeout_ms);
	pthread_mutex_unlock(&r->mu);
}
