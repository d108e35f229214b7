/* SPDX-License-Identifier: ISC */
/*
 * The remote signer: the engine's end of the socketpair to the signer process. Requests are
 * multiplexed by id over the one socket: a sender holds the write mutex for its records, a
 * reader thread hands each answer to the thread waiting for its id (a condition variable
 * per request). One socket rather than a pool of connections because the signer is one
 * thread serving in order (a pool would add no parallelism), and because the monitor keeps
 * the other end of this one socket to hand it to a restarted signer. The reader also takes
 * the signer's hello: a new signer means the old one died with whatever it had been asked,
 * so every request in flight fails with -EAGAIN (never a half-issued certificate: an answer
 * that comes after that is dropped), and the SignerRestarted alarm is raised here, in the
 * process whose `telgate show alarms` the administrator reads.
 */
#include "ca/signer_core.h"
#include "ca/signer_wire.h"
#include "core/alarm.h"
#include "core/log.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/queue.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#define DEFAULT_QUEUE 256
#define DEFAULT_TIMEOUT_MS 10000

struct pending {
	uint32_t id;
	int done, status;
	unsigned char *out;
	size_t outlen;
	pthread_cond_t cv;
	LIST_ENTRY(pending) link;
};

struct signer_remote {
	struct signer base; /* first */
	int fd;
	pthread_t reader;
	pthread_mutex_t wmu; /* one sender's records at a time */
	pthread_mutex_t mu;  /* everything below */
	LIST_HEAD(, pending) waiting;
	uint32_t next_id;
	unsigned in_flight, queue_max, timeout_ms;
	int closed;
	struct signer_hello hello;
	int hello_seen;
	uint64_t served, failed;
	char cid[LOG_CID_SIZE];
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

static void *reader_main(void *arg)
{
	struct signer_remote *r = arg;
	struct signer_rx rx = {0};
	unsigned dropped = 0;
	for (;;) {
		int rc = signer_wire_recv(r->fd, &rx, &dropped);
		if (rc <= 0)
			break;
		struct signer_resp resp;
		if (signer_resp_decode(rx.buf, rx.have, &resp) != 0) {
			log_ev(LOG_LVL_ERROR, r->cid, "signer_bad_answer", LOG_U("bytes", rx.have));
			continue;
		}
		if (resp.id == 0)
			on_hello(r, &resp);
		else
			on_answer(r, &resp);
	}
	signer_rx_free(&rx);
	pthread_mutex_lock(&r->mu);
	r->closed = 1;
	fail_all(r, -EAGAIN);
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

static int remote_call(struct signer *s, const struct signer_req *rq0, unsigned char **out,
                       size_t *outlen)
{
	struct signer_remote *r = (struct signer_remote *)s;
	struct signer_req rq = *rq0;
	struct pending p = {0};
	pthread_condattr_t ca;
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&p.cv, &ca);
	pthread_condattr_destroy(&ca);

	pthread_mutex_lock(&r->mu);
	int rc = r->closed ? -EAGAIN : r->in_flight >= r->queue_max ? -EBUSY : 0;
	if (rc == 0) {
		if (++r->next_id == 0) /* id 0 is the hello */
			r->next_id = 1;
		p.id = rq.id = r->next_id;
		LIST_INSERT_HEAD(&r->waiting, &p, link);
		r->in_flight++;
	}
	pthread_mutex_unlock(&r->mu);
	if (rc == 0 && (rc = send_request(r, &rq)) != 0)
		rc = rc == -EINVAL || rc == -ENOMEM ? rc : -EAGAIN;

	struct timespec until;
	clock_gettime(CLOCK_MONOTONIC, &until);
	until.tv_sec += r->timeout_ms / 1000;
	until.tv_nsec += (long)(r->timeout_ms % 1000) * 1000000L;
	if (until.tv_nsec >= 1000000000L) {
		until.tv_sec++;
		until.tv_nsec -= 1000000000L;
	}
	pthread_mutex_lock(&r->mu);
	if (p.id) {
		while (rc == 0 && !p.done)
			if (pthread_cond_timedwait(&p.cv, &r->mu, &until) == ETIMEDOUT && !p.done)
				rc = -EAGAIN;
		if (!p.done) /* timed out or never sent: its answer, if any, is dropped */
			LIST_REMOVE(&p, link);
		else if (rc == 0)
			rc = p.status;
		r->in_flight--;
		r->served += p.done;
	}
	if (rc == -EAGAIN || rc == -EBUSY)
		r->failed++;
	pthread_mutex_unlock(&r->mu);
	pthread_cond_destroy(&p.cv);
	if (rc == 0) {
		*out = p.out;
		*outlen = p.outlen;
	} else {
		free(p.out);
	}
	return rc;
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
	/* SHUT_RD ends the reader (recv returns 0) without telling the signer anything: it
	 * sees its end close when this process closes the socket. */
	shutdown(r->fd, SHUT_RD);
	pthread_join(r->reader, NULL);
	close(r->fd);
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

static const struct signer_ops remote_ops = {remote_call, remote_stats, remote_free};

struct signer *signer_remote_new(int fd, char *err, size_t errlen)
{
	struct signer_remote *r = calloc(1, sizeof *r);
	if (!r) {
		close(fd);
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	signer_base_init(&r->base, &remote_ops);
	r->fd = fd;
	r->queue_max = DEFAULT_QUEUE;
	r->timeout_ms = DEFAULT_TIMEOUT_MS;
	LIST_INIT(&r->waiting);
	send_timeout(fd, r->timeout_ms);
	log_cid_new(r->cid);
	pthread_mutex_init(&r->mu, NULL);
	pthread_mutex_init(&r->wmu, NULL);
	if (pthread_create(&r->reader, NULL, reader_main, r) != 0) {
		snprintf(err, errlen, "cannot start the signer client's thread");
		pthread_mutex_destroy(&r->mu);
		pthread_mutex_destroy(&r->wmu);
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
