/* SPDX-License-Identifier: ISC */
#include "core/stream.h"
#include "core/conncap.h"
#include "core/counter.h"
#include "core/log.h"
#include "core/loop.h"
#include "tls/tlsctx.h"
#include "core/util.h"

#include <errno.h>
#include <limits.h>
#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/bufferevent_ssl.h>
#include <event2/event.h>
#include <event2/listener.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/err.h>
#include <stdalign.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/queue.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

/* How long accepting pauses when descriptors run out: long enough not to spin (10 tries
 * a second), short enough that a freed descriptor is used soon. */
#define FD_PAUSE_MS 100

/* The lingering close after a last answer (RFC 9112 §9.6): the write side is shut and
 * what the peer still sends is read and dropped, for at most LINGER_S seconds and
 * LINGER_MAX_BYTES bytes, so that data arriving after our close does not make the kernel
 * answer with a reset that destroys the answer before the peer reads it (a client still
 * sending the body of a request refused early with a 413 is the common case). Bounded per
 * listener by LINGER_MAX sockets; beyond it a socket is closed at once as before. Apache's
 * and nginx's lingering close do the same. */
#define LINGER_S 2
#define LINGER_MAX_BYTES (1024 * 1024)
#define LINGER_MAX 256

enum sstate {
	S_OPEN = 0, /* reading and writing */
	S_FLUSHING, /* stream_close_after_flush: input discarded, waiting for the output */
	S_CLOSED,   /* socket gone; memory stays while referenced */
};

struct stream {
	TAILQ_ENTRY(stream) link;
	struct stream_listener *l; /* NULL once the listener is freed */
	const struct stream_ops *ops;
	struct stream_stats *stats;
	void *ctx;
	const char *name;
	enum stream_kind kind;
	struct loop *loop;
	struct bufferevent *bev;
	struct event *defer_ev; /* deferred close / resume, from the loop's next turn */
	struct event *flush_ev; /* stream_close_after_flush's bound */
	struct event *first_ev; /* the first-message deadline */
	struct event *idle_ev;  /* the idle timeout, checked against last_read_us */
	int64_t last_read_us;   /* the loop's cached clock at the last read */
	struct sockaddr_storage sa;
	socklen_t salen;
	int fd;
	enum sstate state;
	int refs;  /* jobs holding the memory */
	int in_cb; /* callbacks of this stream on the stack */
	int close_pending, resume_pending, defer_armed;
	int opened, capped, paused, spoke;
	int linger;     /* the close follows a last answer: linger (see LINGER_S) */
	size_t in_seen; /* input bytes already counted in bytes_in */
	size_t need;    /* stream_need: frame() waits for this many input bytes */
	int idle_timeout_s;
	size_t max_frame, write_limit;
	int crlf_keepalive;
	char peer[64];
	char why[160];
	alignas(max_align_t) unsigned char user[];
};

TAILQ_HEAD(stream_list, stream);

/* A socket in its lingering close: no stream any more, only the descriptor. */
struct lingering {
	TAILQ_ENTRY(lingering) link;
	struct stream_listener *l;
	struct event *ev;
	int fd;
	size_t bytes;
};
TAILQ_HEAD(lingering_list, lingering);

struct stream_listener {
	struct stream_listener_options o;
	struct loop *loop;
	/* One per listen address (stream_listener_add); nlev 0 once accepting stopped. */
	struct evconnlistener *lev[STREAM_ADDR_MAX];
	int nlev;
	struct event *resume_ev; /* EMFILE pause */
	struct stream_list streams;
	size_t count;
	struct lingering_list lingering;
	size_t nlingering;
	int64_t refused_logged, fd_logged;
};

/* --- close and free ------------------------------------------------------------------ */

static void stream_free(struct stream *s)
{
	if (s->defer_ev)
		event_free(s->defer_ev);
	if (s->flush_ev)
		event_free(s->flush_ev);
	if (s->first_ev)
		event_free(s->first_ev);
	if (s->idle_ev)
		event_free(s->idle_ev);
	free(s);
}

/* Reads what the peer sent and nobody will read, so that the close is a FIN and not a
 * reset (a reset can destroy our last answer or TLS alert before the peer reads it). */
static void drain_socket(int fd)
{
	char sink[4096];
	for (int i = 0; fd >= 0 && i < 16; i++)
		if (recv(fd, sink, sizeof sink, MSG_DONTWAIT) <= 0)
			break;
}

static void linger_end(struct lingering *g)
{
	TAILQ_REMOVE(&g->l->lingering, g, link);
	g->l->nlingering--;
	event_free(g->ev);
	close(g->fd);
	free(g);
}

static void on_linger(evutil_socket_t fd, short what, void *arg)
{
	struct lingering *g = arg;
	char sink[16384];
	if (what & EV_READ) {
		for (;;) {
			ssize_t n = recv(fd, sink, sizeof sink, MSG_DONTWAIT);
			if (n > 0) {
				g->bytes += (size_t)n;
				if (g->bytes < LINGER_MAX_BYTES)
					continue;
			} else if (n < 0 &&
			           (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)) {
				return; /* all read for now: wait for more, the peer's FIN or the
				           bound */
			}
			break; /* the peer's FIN, an error or enough bytes */
		}
	}
	linger_end(g);
}

/* Takes over fd (a duplicate of the stream's socket) for its lingering close. Returns 0,
 * or -1 when the listener lingers on too many sockets already (the caller closes). */
static int linger_start(struct stream_listener *l, int fd)
{
	if (!l || !l->nlev || l->nlingering >= LINGER_MAX)
		return -1;
	struct lingering *g = calloc(1, sizeof *g);
	if (!g)
		return -1;
	g->ev = event_new(loop_base(l->loop), fd, EV_READ | EV_PERSIST, on_linger, g);
	struct timeval tv = {LINGER_S, 0};
	if (!g->ev || shutdown(fd, SHUT_WR) != 0 || event_add(g->ev, &tv) != 0) {
		if (g->ev)
			event_free(g->ev);
		free(g);
		return -1;
	}
	g->l = l;
	g->fd = fd;
	TAILQ_INSERT_TAIL(&l->lingering, g, link);
	l->nlingering++;
	return 0;
}

static void do_close(struct stream *s, const char *why)
{
	if (s->state == S_CLOSED)
		return;
	s->state = S_CLOSED;
	s->close_pending = 0;
	if (why != s->why)
		tg_strlcpy(s->why, why, sizeof s->why);
	if (s->opened && s->ops->on_close) {
		s->in_cb++;
		s->ops->on_close(s, s->why);
		s->in_cb--;
	}
	if (s->bev) {
		SSL *ssl = bufferevent_openssl_get_ssl(s->bev);
		/* An orderly TLS close: close_notify before the FIN (RFC 8446 §6.1), one try,
		 * never waiting for the peer's. Not after a failed handshake or a fatal
		 * alert (OpenSSL refuses it then anyway). */
		if (ssl && SSL_is_init_finished(ssl))
			(void)SSL_shutdown(ssl);
		ERR_clear_error();
		/* After a last answer, the socket lingers under a descriptor of its own: the
		 * bufferevent closes the stream's. Otherwise what already arrived is read. */
		int lfd = s->linger && s->kind != STREAM_UNIX ? dup(s->fd) : -1;
		if (lfd < 0)
			drain_socket(s->fd);
		bufferevent_free(s->bev); /* closes the socket (and frees the SSL) */
		s->bev = NULL;
		if (lfd >= 0 && linger_start(s->l, lfd) != 0) {
			drain_socket(lfd);
			close(lfd);
		}
	}
	if (s->flush_ev)
		event_del(s->flush_ev);
	if (s->first_ev)
		event_del(s->first_ev);
	if (s->idle_ev)
		event_del(s->idle_ev);
	/* Nothing deferred is left to do on a closed stream (and a loop that stopped would
	 * never run it, keeping the memory forever). */
	if (s->defer_armed) {
		event_del(s->defer_ev);
		s->defer_armed = 0;
	}
	if (s->capped && s->l && s->l->o.caps)
		conncap_release(s->l->o.caps, (struct sockaddr *)&s->sa);
	s->capped = 0;
	if (s->stats)
		atomic_fetch_sub_explicit(&s->stats->open, 1, memory_order_relaxed);
	if (s->l) {
		TAILQ_REMOVE(&s->l->streams, s, link);
		s->l->count--;
		s->l = NULL;
	}
	log_ev(LOG_LVL_DEBUG, NULL, "stream_closed", LOG_S("listener", s->name),
	       LOG_S("peer", s->peer), LOG_S("reason", s->why));
}

/* Ends a callback of s: applies a close asked for meanwhile, frees what nobody holds.
 * Returns 1 when s is gone. */
static int cb_exit(struct stream *s)
{
	if (--s->in_cb > 0)
		return 0;
	if (s->close_pending && s->state != S_CLOSED)
		do_close(s, s->why);
	if (s->state == S_CLOSED && s->refs == 0 && !s->defer_armed) {
		stream_free(s);
		return 1;
	}
	return 0;
}

static void arm_defer(struct stream *s)
{
	if (s->defer_armed || !s->defer_ev)
		return;
	s->defer_armed = 1;
	event_active(s->defer_ev, EV_TIMEOUT, 0);
}

void stream_close(struct stream *s, const char *why)
{
	if (s->state == S_CLOSED || s->close_pending)
		return;
	if (s->in_cb) {
		s->close_pending = 1;
		if (why != s->why) /* on_write passes s->why: no overlapping copy */
			tg_strlcpy(s->why, why, sizeof s->why);
		return;
	}
	s->in_cb++;
	do_close(s, why);
	cb_exit(s);
}

/* Closes from the loop's next turn: for closes decided by someone walking their own
 * lists (a device-state fan-out writing to many streams). */
static void close_soon(struct stream *s, const char *why)
{
	if (s->state == S_CLOSED || s->close_pending)
		return;
	s->close_pending = 1;
	tg_strlcpy(s->why, why, sizeof s->why);
	if (!s->in_cb)
		arm_defer(s);
}

int stream_closing(const struct stream *s)
{
	return s->state != S_OPEN || s->close_pending;
}

void stream_ref(struct stream *s)
{
	s->refs++;
}

void stream_unref(struct stream *s)
{
	if (--s->refs == 0 && s->state == S_CLOSED && !s->in_cb && !s->defer_armed)
		stream_free(s);
}

/* --- writing ------------------------------------------------------------------------- */

/* The answers to one read, gathered while its frames are handed over (deliver) and
 * written together after the last: one sendmsg on TCP, one SSL_write and so one TLS
 * record on TLS, instead of one each (issue 22: SIPp and phones send several requests
 * per read under load). Per thread: one stream is delivering at a time. */
#define CORK_MAX 16384 /* a TLS record's payload */
static _Thread_local struct {
	const struct stream *owner;
	size_t len;
	char buf[CORK_MAX];
} cork;

size_t stream_pending(const struct stream *s)
{
	return (s->bev ? evbuffer_get_length(bufferevent_get_output(s->bev)) : 0) +
	       (cork.owner == s ? cork.len : 0);
}

static int after_write(struct stream *s, size_t len)
{
	if (s->stats)
		tg_counter_add(&s->stats->bytes_out, len);
	if (s->write_limit && stream_pending(s) > s->write_limit) {
		if (s->stats)
			tg_counter_add(&s->stats->slow_consumers, 1);
		log_ev(LOG_LVL_WARNING, NULL, "stream_slow_consumer", LOG_S("listener", s->name),
		       LOG_S("peer", s->peer), LOG_U("queued_bytes", stream_pending(s)));
		close_soon(s, "peer does not read what it is sent");
		return -1;
	}
	return 0;
}

/* Open and no close asked for: after stream_close_after_flush the stream is closing, and
 * what is written then is dropped (stream.h), or a writer could keep the flush going. */
static int writable(const struct stream *s)
{
	return s->state == S_OPEN && !s->close_pending && s->bev;
}

/* TLS with nothing queued: the message goes to OpenSSL (and the socket) at once, as one
 * SSL_write and one record. Through the bufferevent, every message made libevent add the
 * write event (epoll_ctl), write from its callback and delete the event again
 * (epoll_ctl): two system calls and a deferred callback on top of the write, for each
 * event of a cloud CTI channel (one small message each). Only once the handshake is done
 * and while OpenSSL has no write of its own waiting (SSL_want is SSL_WRITING when an
 * SSL_read or SSL_write of the bufferevent's stopped on a full socket). On WANT_WRITE
 * OpenSSL keeps the records it made and must be called again with the same bytes: the
 * caller queues them whole, and the bufferevent's SSL_write of them is that retry (a
 * moved buffer is allowed). A failure leaves the bytes queued too: the bufferevent meets
 * it and reports it as for any other write. Returns how many bytes went. */
static size_t tls_write_now(struct stream *s, const void *buf, size_t len)
{
	SSL *ssl = bufferevent_openssl_get_ssl(s->bev);
	if (!ssl || !len || len > INT_MAX || !SSL_is_init_finished(ssl) ||
	    SSL_want(ssl) == SSL_WRITING)
		return 0;
	SSL_set_mode(ssl, SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
	int r = SSL_write(ssl, buf, (int)len);
	if (r > 0)
		return (size_t)r;
	/* Not this thread's next connection's error: the bufferevent's retry reports it. */
	ERR_clear_error();
	return 0;
}

/* Plain TCP with nothing queued: the bytes go to the socket at once, and only what the
 * kernel did not take is queued. Queuing everything made libevent enable the write
 * event (epoll_ctl), wait for writability (another epoll_wait) and disable it again
 * (epoll_ctl): three system calls per answer on top of the write, which on a
 * keep-alive connection doubled the cost of a small request. TLS: tls_write_now, for
 * one piece (two would be two records). Any error (the peer reset) leaves the bytes
 * queued: the bufferevent's own write then meets it and reports it as for any other
 * write. Returns how many bytes of the n in iov were sent. */
static size_t write_now(struct stream *s, struct iovec *iov, int n)
{
	if (evbuffer_get_length(bufferevent_get_output(s->bev)) != 0)
		return 0;
	if (s->kind == STREAM_TLS)
		return n == 1 ? tls_write_now(s, iov[0].iov_base, iov[0].iov_len) : 0;
	struct msghdr m = {.msg_iov = iov, .msg_iovlen = (size_t)n};
	ssize_t w;
	do
		w = sendmsg(s->fd, &m, MSG_NOSIGNAL | MSG_DONTWAIT);
	while (w < 0 && errno == EINTR);
	return w > 0 ? (size_t)w : 0;
}

/* Sends or queues len bytes (no state check); direct: the socket may be written at once. */
static int write_out(struct stream *s, const void *buf, size_t len, int direct)
{
	struct iovec v = {(void *)buf, len};
	size_t sent = len && direct ? write_now(s, &v, 1) : 0;
	struct evbuffer *out = bufferevent_get_output(s->bev);
	/* TLS: the message in one chain of the buffer, so that bufferevent_openssl writes it
	 * with one SSL_write, one record (a message across two chains took two). */
	if (len > sent && ((s->kind == STREAM_TLS && evbuffer_expand(out, len - sent) != 0) ||
	                   evbuffer_add(out, (const char *)buf + sent, len - sent) != 0))
		return -1;
	return 0;
}

/* Writes what the cork holds for s. What was written before a close was asked for still
 * goes: queued for the flush (S_FLUSHING, whose end is seen by on_write), or sent
 * before the close that cb_exit will do. When the kernel took it all at once, on_drain
 * is told here: the bufferevent never held it, so its write callback will not run, and
 * a user that waited for the drain because stream_pending counted the cork (cti/conn.c
 * closes after its last answers) would wait for ever. */
static void cork_flush(struct stream *s)
{
	if (cork.owner != s)
		return;
	size_t len = cork.len;
	cork.len = 0;
	if (len && s->bev) {
		int direct = s->state == S_OPEN;
		if (write_out(s, cork.buf, len, direct) == 0 && after_write(s, len) == 0 &&
		    direct && s->ops->on_drain && s->bev &&
		    evbuffer_get_length(bufferevent_get_output(s->bev)) == 0)
			s->ops->on_drain(s);
	}
}

int stream_write(struct stream *s, const void *buf, size_t len)
{
	if (!writable(s))
		return -1;
	if (cork.owner == s) {
		if (cork.len + len > CORK_MAX)
			cork_flush(s);
		if (len <= CORK_MAX) {
			memcpy(cork.buf + cork.len, buf, len);
			cork.len += len;
			return 0;
		}
	}
	if (write_out(s, buf, len, 1) != 0)
		return -1;
	return after_write(s, len);
}

int stream_write2(struct stream *s, const void *a, size_t alen, const void *b, size_t blen)
{
	if (!writable(s))
		return -1;
	if (cork.owner == s) {
		if (cork.len + alen + blen > CORK_MAX)
			cork_flush(s);
		if (alen + blen <= CORK_MAX) {
			memcpy(cork.buf + cork.len, a, alen);
			memcpy(cork.buf + cork.len + alen, b, blen);
			cork.len += alen + blen;
			return 0;
		}
	}
	struct evbuffer *out = bufferevent_get_output(s->bev);
	struct iovec iov[2] = {{(void *)a, alen}, {(void *)b, blen}};
	size_t sent = write_now(s, iov, blen ? 2 : 1);
	if (sent) {
		/* the rest, from where the kernel stopped */
		size_t from_a = sent < alen ? sent : alen, from_b = sent - from_a;
		if ((alen > from_a &&
		     evbuffer_add(out, (const char *)a + from_a, alen - from_a) != 0) ||
		    (blen > from_b &&
		     evbuffer_add(out, (const char *)b + from_b, blen - from_b) != 0))
			return -1;
		return after_write(s, alen + blen);
	}
	struct evbuffer_iovec v;
	/* One contiguous piece, so that TLS sends it as one record. */
	if (evbuffer_reserve_space(out, alen + blen, &v, 1) == 1 && v.iov_len >= alen + blen) {
		memcpy(v.iov_base, a, alen);
		memcpy((char *)v.iov_base + alen, b, blen);
		v.iov_len = alen + blen;
		if (evbuffer_commit_space(out, &v, 1) != 0)
			return -1;
	} else if (evbuffer_add(out, a, alen) != 0 || evbuffer_add(out, b, blen) != 0) {
		return -1;
	}
	return after_write(s, alen + blen);
}

/* --- reading ------------------------------------------------------------------------- */

/* RFC 5626 §3.5.1: a CRLFCRLF ping gets a CRLF pong; lone CRLFs between messages are
 * skipped. Returns 1 to look at the input again, 0 to wait for more. */
static int keepalive(struct stream *s, struct evbuffer *in)
{
	size_t avail = evbuffer_get_length(in);
	unsigned char b[4];
	size_t n = avail < 4 ? avail : 4;
	evbuffer_copyout(in, b, n);
	size_t crlf = 0;
	while (crlf < n && (b[crlf] == '\r' || b[crlf] == '\n'))
		crlf++;
	if (crlf == 0)
		return -1; /* not a keep-alive */
	if (crlf == 4 && memcmp(b, "\r\n\r\n", 4) == 0) {
		evbuffer_drain(in, 4);
		(void)stream_write(s, "\r\n", 2);
		return 1;
	}
	if (crlf < n) { /* newlines before a message */
		evbuffer_drain(in, crlf);
		return 1;
	}
	if (n == 4) { /* four line ends that are not a ping: noise */
		evbuffer_drain(in, 4);
		return 1;
	}
	return 0; /* maybe the start of a ping */
}

/* The loop's clock as of this iteration (no system call: libevent caches it). */
static int64_t cached_us(const struct stream *s)
{
	struct timeval tv;
	if (event_base_gettimeofday_cached(loop_base(s->loop), &tv) != 0)
		return tg_mono_us();
	return (int64_t)tv.tv_sec * 1000000 + tv.tv_usec;
}

/* The idle timeout is one timer armed once and moved only when it fires: a read just
 * notes the time. bufferevent's read timeout re-armed a timer at every read: two heap
 * updates per request on a keep-alive connection (and, while the loops used libevent's
 * precise timers, a timerfd_settime() system call each). */
static void arm_idle(struct stream *s, int64_t after_us)
{
	struct timeval tv = {(time_t)(after_us / 1000000), (suseconds_t)(after_us % 1000000)};
	evtimer_add(s->idle_ev, &tv);
}

/* Hands over the complete frames in the input, in order, while the stream is open and
 * not paused. Runs inside a callback (in_cb > 0). */
static void deliver_frames(struct stream *s)
{
	while (s->state == S_OPEN && !s->close_pending && !s->paused && s->bev) {
		struct evbuffer *in = bufferevent_get_input(s->bev);
		if (s->crlf_keepalive && evbuffer_get_length(in)) {
			int k = keepalive(s, in);
			if (k == 1)
				continue;
			if (k == 0)
				break;
		}
		size_t avail = evbuffer_get_length(in);
		if (!avail || avail < s->need)
			break;
		size_t take = avail < s->max_frame ? avail : s->max_frame;
		const unsigned char *buf = evbuffer_pullup(in, (ev_ssize_t)take);
		if (!buf) {
			stream_close(s, "out of memory");
			break;
		}
		s->need = 0;
		long r = s->ops->frame(s, buf, take);
		if (r == STREAM_FRAME_MORE) {
			if (take >= s->max_frame || s->need > s->max_frame)
				stream_close(s, "frame too large");
			break;
		}
		if (r < 0 || (size_t)r > take) {
			stream_close_after_flush(s, "framing error", 10);
			break;
		}
		if (!s->spoke) {
			/* A complete frame: from now on the idle timeout applies. */
			s->spoke = 1;
			event_del(s->first_ev);
			if (s->idle_timeout_s > 0)
				arm_idle(s, (int64_t)s->idle_timeout_s * 1000000);
		}
		s->ops->on_frame(s, buf, (size_t)r);
		if (s->bev)
			evbuffer_drain(bufferevent_get_input(s->bev), (size_t)r);
	}
}

/* deliver_frames with the answers corked (see cork), unless a delivery on this thread is
 * already corking (a frame's handler that made another stream deliver). */
static void deliver(struct stream *s)
{
	if (cork.owner) {
		deliver_frames(s);
		return;
	}
	cork.owner = s;
	cork.len = 0;
	deliver_frames(s);
	cork_flush(s);
	cork.owner = NULL;
}

static void count_in(struct stream *s)
{
	if (!s->bev)
		return;
	size_t now = evbuffer_get_length(bufferevent_get_input(s->bev));
	if (s->stats && now > s->in_seen)
		tg_counter_add(&s->stats->bytes_in, now - s->in_seen);
	s->in_seen = now;
}

static void on_read(struct bufferevent *bev, void *arg)
{
	struct stream *s = arg;
	s->in_cb++;
	s->last_read_us = cached_us(s);
	count_in(s);
	if (s->state == S_FLUSHING) {
		evbuffer_drain(bufferevent_get_input(bev),
		               evbuffer_get_length(bufferevent_get_input(bev)));
	} else {
		deliver(s);
	}
	if (s->bev)
		s->in_seen = evbuffer_get_length(bufferevent_get_input(s->bev));
	cb_exit(s);
}

static void on_write(struct bufferevent *bev, void *arg)
{
	(void)bev;
	struct stream *s = arg;
	s->in_cb++;
	/* bufferevent_openssl delivers this callback deferred: by the time it runs, more may
	 * have been queued. Only an empty queue is drained. */
	if (s->state == S_FLUSHING && stream_pending(s) == 0)
		stream_close(s, s->why);
	else if (s->state == S_OPEN && s->ops->on_drain)
		s->ops->on_drain(s);
	cb_exit(s);
}

/* A peer that closed the TCP connection without a TLS close_notify (many clients do).
 * OpenSSL 3 reports it as an error (SSL_R_UNEXPECTED_EOF_WHILE_READING, also before the
 * handshake); libevent 2.1 knows only OpenSSL 1.1's form (SSL_ERROR_SYSCALL, no error
 * queued) as a dirty shutdown, so allow_dirty_shutdown does not cover it. */
static int tls_peer_left(unsigned long e)
{
#ifdef SSL_R_UNEXPECTED_EOF_WHILE_READING
	return ERR_GET_LIB(e) == ERR_LIB_SSL &&
	       ERR_GET_REASON(e) == SSL_R_UNEXPECTED_EOF_WHILE_READING;
#else
	(void)e;
	return 0;
#endif
}

/* A TLS failure: counted by reason, logged with OpenSSL's text (err). */
static void count_tls_failure(struct stream *s, enum stream_tls_fail r, const char *err)
{
	if (s->stats) {
		tg_counter_add(&s->stats->tls_failed, 1);
		tg_counter_add(&s->stats->tls_failed_by[r], 1);
	}
	log_ev(LOG_LVL_INFO, NULL, "stream_tls_failed", LOG_S("listener", s->name),
	       LOG_S("peer", s->peer), LOG_S("reason", stream_tls_fail_name(r)),
	       LOG_S("error", err));
}

static void on_event(struct bufferevent *bev, short what, void *arg)
{
	(void)bev;
	struct stream *s = arg;
	if (what & BEV_EVENT_CONNECTED)
		return;
	s->in_cb++;
	if (what & BEV_EVENT_TIMEOUT) {
		if (s->stats)
			tg_counter_add(&s->stats->timeouts, 1);
		stream_close(s, "idle");
	} else if (what & BEV_EVENT_ERROR) {
		unsigned long e = bufferevent_get_openssl_error(s->bev);
		char msg[160] = "connection error";
		if (e && tls_peer_left(e)) {
			tg_strlcpy(msg, "peer closed the connection", sizeof msg);
		} else if (e) {
			ERR_error_string_n(e, msg, sizeof msg);
			SSL *ssl = bufferevent_openssl_get_ssl(s->bev);
			count_tls_failure(s,
			                  stream_tls_fail_classify(
			                      e, ssl ? SSL_get_verify_result(ssl) : X509_V_OK),
			                  msg);
		}
		stream_close(s, msg);
	} else {
		stream_close(s, "peer closed the connection");
	}
	cb_exit(s);
}

static void on_defer(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	struct stream *s = arg;
	s->defer_armed = 0;
	s->in_cb++;
	if (s->resume_pending && !s->close_pending && s->state == S_OPEN) {
		s->resume_pending = 0;
		deliver(s);
		/* deliver drained the input: what is left is what on_read counted already. */
		if (s->bev)
			s->in_seen = evbuffer_get_length(bufferevent_get_input(s->bev));
	}
	cb_exit(s);
}

/* A timer of the stream ran out: counted, then the close with why. */
static void timed_out(struct stream *s, const char *why)
{
	s->in_cb++;
	if (s->stats)
		tg_counter_add(&s->stats->timeouts, 1);
	stream_close(s, why);
	cb_exit(s);
}

/* The idle timer: closes a stream that has read nothing for idle_timeout_s, else waits
 * for the rest of the period since its last read. A paused stream is not reading (it
 * waits for its own jobs): it gets a new period, as a disabled read timeout would. */
static void on_idle_timer(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	struct stream *s = arg;
	int64_t idle = (int64_t)s->idle_timeout_s * 1000000, now = cached_us(s);
	if (s->state != S_OPEN || s->close_pending)
		return;
	if (s->paused) {
		arm_idle(s, idle);
		return;
	}
	if (now - s->last_read_us < idle) {
		arm_idle(s, idle - (now - s->last_read_us));
		return;
	}
	timed_out(s, "idle");
}

/* The first-message deadline passed without a complete frame. */
static void on_first_timeout(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	struct stream *s = arg;
	SSL *ssl = s->bev ? bufferevent_openssl_get_ssl(s->bev) : NULL;
	/* Still in the handshake: a TLS failure too (and a timeout, as any other). */
	if (ssl && !SSL_is_init_finished(ssl))
		count_tls_failure(s, STREAM_TLS_FAIL_HANDSHAKE_TIMEOUT, "no TLS handshake in time");
	timed_out(s, "no request in time");
}

static void on_flush_timeout(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	timed_out(arg, "peer did not read the last answers in time");
}

void stream_close_after_flush(struct stream *s, const char *why, int timeout_s)
{
	if (s->state != S_OPEN || s->close_pending)
		return;
	s->state = S_FLUSHING;
	s->linger = 1;
	tg_strlcpy(s->why, why, sizeof s->why);
	if (!s->bev || stream_pending(s) == 0) {
		s->state = S_OPEN;
		stream_close(s, why);
		return;
	}
	event_del(s->idle_ev);
	event_del(s->first_ev); /* the flush timeout bounds what is left */
	bufferevent_enable(s->bev, EV_READ | EV_WRITE);
	struct timeval tv = {timeout_s > 0 ? timeout_s : 10, 0};
	if (s->flush_ev)
		event_add(s->flush_ev, &tv);
}

void stream_need(struct stream *s, size_t bytes)
{
	s->need = bytes;
}

void stream_pause(struct stream *s)
{
	s->paused = 1;
	/* Not reading either: what the peer sends meanwhile waits in the kernel. */
	if (s->bev && s->state == S_OPEN)
		bufferevent_disable(s->bev, EV_READ);
}

void stream_resume(struct stream *s)
{
	if (!s->paused)
		return;
	s->paused = 0;
	if (!s->bev || s->state != S_OPEN)
		return;
	bufferevent_enable(s->bev, EV_READ);
	s->last_read_us = cached_us(s); /* a new idle period from here */
	s->resume_pending = 1;
	arm_defer(s);
}

/* --- accessors ----------------------------------------------------------------------- */

void *stream_user(struct stream *s)
{
	return s->user;
}

void *stream_ctx(const struct stream *s)
{
	return s->ctx;
}

const char *stream_peer(const struct stream *s)
{
	return s->peer;
}

const struct sockaddr *stream_peer_addr(const struct stream *s, socklen_t *len)
{
	if (len)
		*len = s->salen;
	return (const struct sockaddr *)&s->sa;
}

enum stream_kind stream_kind(const struct stream *s)
{
	return s->kind;
}

const char *stream_listener_name(const struct stream *s)
{
	return s->name;
}

struct loop *stream_loop(const struct stream *s)
{
	return s->loop;
}

SSL *stream_ssl(const struct stream *s)
{
	return s->bev && s->kind == STREAM_TLS ? bufferevent_openssl_get_ssl(s->bev) : NULL;
}

int stream_fd(const struct stream *s)
{
	return s->fd;
}

/* --- accepting ----------------------------------------------------------------------- */

static void on_accept(struct evconnlistener *lev, evutil_socket_t fd, struct sockaddr *sa,
                      int salen, void *arg)
{
	(void)lev;
	struct stream_listener *l = arg;
	const struct stream_listener_options *o = &l->o;
	char peer[64] = "local";
	if (o->kind != STREAM_UNIX)
		tg_sockaddr_str(sa, peer, sizeof peer);
	if (o->caps) {
		enum conncap_rc cap = conncap_acquire(o->caps, sa);
		if (cap != CONNCAP_OK) {
			/* Refused before any TLS work; logged at most once a second. */
			if (o->stats)
				tg_counter_add(&o->stats->refused_cap, 1);
			int64_t now = tg_now_s();
			if (now != l->refused_logged) {
				l->refused_logged = now;
				const char *setting = cap == CONNCAP_NODE_FULL
				                          ? o->node_cap_setting
				                          : o->source_cap_setting;
				char why[96];
				if (setting)
					snprintf(why, sizeof why, "%s reached", setting);
				else
					snprintf(why, sizeof why, "%s connection cap reached",
					         cap == CONNCAP_NODE_FULL ? "node" : "per-source");
				log_ev(LOG_LVL_WARNING, NULL, "stream_refused",
				       LOG_S("listener", o->name), LOG_S("peer", peer),
				       LOG_S("reason", why));
			}
			close(fd);
			return;
		}
	}
	struct stream *s = calloc(1, sizeof *s + o->user_size);
	if (!s) {
		if (o->caps)
			conncap_release(o->caps, sa);
		close(fd);
		return;
	}
	s->capped = o->caps != NULL;
	s->l = l;
	s->ops = o->ops;
	s->stats = o->stats;
	s->ctx = o->ctx;
	s->name = o->name;
	s->kind = o->kind;
	s->loop = l->loop;
	s->fd = fd;
	s->idle_timeout_s = o->idle_timeout_s;
	s->max_frame = o->max_frame;
	s->write_limit = o->write_limit;
	s->crlf_keepalive = o->crlf_keepalive;
	s->salen = (socklen_t)((size_t)salen < sizeof s->sa ? (size_t)salen : sizeof s->sa);
	memcpy(&s->sa, sa, s->salen);
	tg_strlcpy(s->peer, peer, sizeof s->peer);
	if (o->kind != STREAM_UNIX) {
		/* Answers go out at once: without it the first answer on a new TLS connection
		 * waited ~45 ms for Nagle and the peer's delayed ACK. */
		int one = 1;
		(void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
	}
	struct event_base *base = loop_base(l->loop);
	if (o->kind == STREAM_TLS) {
		SSL *ssl = o->tls ? tlsctx_ssl_new(o->tls) : NULL;
		s->bev = ssl ? bufferevent_openssl_socket_new(
		                   base, fd, ssl, BUFFEREVENT_SSL_ACCEPTING, BEV_OPT_CLOSE_ON_FREE)
		             : NULL;
		if (s->bev)
			bufferevent_openssl_set_allow_dirty_shutdown(s->bev, 1);
		else if (ssl)
			SSL_free(ssl);
	} else {
		s->bev = bufferevent_socket_new(base, fd, BEV_OPT_CLOSE_ON_FREE);
	}
	s->defer_ev = event_new(base, -1, 0, on_defer, s);
	s->flush_ev = evtimer_new(base, on_flush_timeout, s);
	s->first_ev = evtimer_new(base, on_first_timeout, s);
	s->idle_ev = evtimer_new(base, on_idle_timer, s);
	if (!s->bev || !s->defer_ev || !s->flush_ev || !s->first_ev || !s->idle_ev) {
		if (!s->bev)
			close(fd);
		else
			bufferevent_free(s->bev);
		if (o->caps)
			conncap_release(o->caps, sa);
		stream_free(s);
		return;
	}
	TAILQ_INSERT_TAIL(&l->streams, s, link);
	l->count++;
	if (o->stats) {
		tg_counter_add(&o->stats->accepted, 1);
		atomic_fetch_add_explicit(&o->stats->open, 1, memory_order_relaxed);
	}
	s->in_cb++;
	s->opened = 1;
	if (s->ops->on_open && s->ops->on_open(s) != 0) {
		s->opened = 0; /* refused: no on_close */
		stream_close(s, "refused by the protocol");
	}
	if (s->state == S_OPEN && !s->close_pending) {
		/* Until its first complete frame a connection gets only a short time (this
		 * covers the TLS handshake too): idle sockets cannot pile up. A deadline, not
		 * the bufferevent's read timeout, which every read restarts: a peer sending a
		 * byte at a time, or keep-alives only, would stay for ever. */
		if (o->first_message_timeout_s > 0) {
			struct timeval tv = {o->first_message_timeout_s, 0};
			evtimer_add(s->first_ev, &tv);
		}
		/* The input never holds more than one largest frame: the rest waits in the
		 * kernel (and in the peer). Not for TLS: libevent 2.1 stops taking decrypted
		 * bytes out of OpenSSL at the mark and, when the input drains, waits for the
		 * socket to be readable again, so frames that came in the same record as the
		 * ones read stayed in OpenSSL until the peer sent more. A TLS stream's input is
		 * bounded by one largest frame plus a record (16 KiB) instead. */
		if (o->kind != STREAM_TLS)
			bufferevent_setwatermark(s->bev, EV_READ, 0, o->max_frame);
		bufferevent_setcb(s->bev, on_read, on_write, on_event, s);
		bufferevent_enable(s->bev, s->paused ? EV_WRITE : EV_READ | EV_WRITE);
	}
	cb_exit(s);
}

static void on_resume(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	struct stream_listener *l = arg;
	for (int i = 0; i < l->nlev; i++)
		evconnlistener_enable(l->lev[i]);
}

static void on_accept_error(struct evconnlistener *lev, void *arg)
{
	(void)lev;
	struct stream_listener *l = arg;
	int err = EVUTIL_SOCKET_ERROR();
	int64_t now = tg_now_s();
	if (err == EMFILE || err == ENFILE || err == ENOBUFS || err == ENOMEM) {
		/* Out of descriptors: the connection stays in the kernel's queue and accept
		 * would fail at once, forever. Pause instead of spinning; log once a minute. */
		if (l->o.stats)
			tg_counter_add(&l->o.stats->refused_fd, 1);
		/* Every address of the listener: they draw on the same descriptors. */
		for (int i = 0; i < l->nlev; i++)
			evconnlistener_disable(l->lev[i]);
		struct timeval tv = {0, FD_PAUSE_MS * 1000};
		evtimer_add(l->resume_ev, &tv);
		if (now - l->fd_logged >= 60) {
			l->fd_logged = now;
			log_ev(LOG_LVL_WARNING, NULL, "stream_accept_paused",
			       LOG_S("listener", l->o.name),
			       LOG_S("reason", err == EMFILE   ? "out of file descriptors (EMFILE)"
			                       : err == ENFILE ? "system file table full (ENFILE)"
			                                       : "out of memory"),
			       LOG_S("action", "accepting again every 100 ms"));
		}
		return;
	}
	log_ev(LOG_LVL_WARNING, NULL, "stream_accept_failed", LOG_S("listener", l->o.name),
	       LOG_S("error", strerror(err)));
}

/* Accepts on fd for l (made non-blocking; l owns it, also on failure). 0 or -1. */
static int listen_fd(struct stream_listener *l, int fd)
{
	if (l->nlev >= STREAM_ADDR_MAX) {
		close(fd);
		return -1;
	}
	/* libevent's listener accepts until accept(2) fails: on a blocking socket (as
	 * socket(2) makes a UNIX one) the loop would hang in accept after the first. */
	(void)evutil_make_socket_nonblocking(fd);
	struct evconnlistener *lev = evconnlistener_new(
	    loop_base(l->loop), on_accept, l, LEV_OPT_CLOSE_ON_FREE | LEV_OPT_CLOSE_ON_EXEC, 0, fd);
	if (!lev) {
		close(fd);
		return -1;
	}
	evconnlistener_set_error_cb(lev, on_accept_error);
	l->lev[l->nlev++] = lev;
	return 0;
}

struct stream_listener *stream_listen(struct loop *loop, int fd,
                                      const struct stream_listener_options *o, char *err,
                                      size_t errlen)
{
	struct stream_listener *l = calloc(1, sizeof *l);
	if (!l || !o->ops || !o->ops->frame || !o->ops->on_frame || !o->max_frame) {
		snprintf(err, errlen, "%s: %s", o->name,
		         l ? "frame, on_frame and max_frame are required" : "out of memory");
		free(l);
		close(fd);
		return NULL;
	}
	l->o = *o;
	l->loop = loop;
	TAILQ_INIT(&l->streams);
	TAILQ_INIT(&l->lingering);
	l->resume_ev = evtimer_new(loop_base(loop), on_resume, l);
	if (!l->resume_ev || listen_fd(l, fd) != 0) {
		snprintf(err, errlen, "%s: cannot listen", o->name);
		if (l->resume_ev)
			event_free(l->resume_ev);
		else
			close(fd);
		free(l);
		return NULL;
	}
	stream_stats_attach(o->name, o->stats);
	return l;
}

int stream_listener_add(struct stream_listener *l, int fd, char *err, size_t errlen)
{
	if (!l->nlev) { /* stopped accepting */
		close(fd);
		snprintf(err, errlen, "%s: not accepting", l->o.name);
		return -1;
	}
	if (listen_fd(l, fd) != 0) {
		snprintf(err, errlen, "%s: cannot listen on another address (at most %d)",
		         l->o.name, STREAM_ADDR_MAX);
		return -1;
	}
	return 0;
}

/* Closes every listening socket of l. */
static void unlisten(struct stream_listener *l)
{
	while (l->nlev > 0)
		evconnlistener_free(l->lev[--l->nlev]);
}

void stream_listener_stop_accepting(struct stream_listener *l)
{
	if (l && l->nlev) {
		unlisten(l);
		event_del(l->resume_ev);
	}
}

void stream_listener_free(struct stream_listener *l)
{
	if (!l)
		return;
	unlisten(l);
	event_free(l->resume_ev);
	struct stream *s;
	while ((s = TAILQ_FIRST(&l->streams)) != NULL) {
		/* do_close unlinks s; a stream inside one of its own callbacks cannot be here
		 * (this runs from the loop's own turn). */
		s->in_cb++;
		do_close(s, "server stopping");
		cb_exit(s);
	}
	struct lingering *g;
	while ((g = TAILQ_FIRST(&l->lingering)) != NULL)
		linger_end(g);
	stream_stats_detach(l->o.stats);
	free(l);
}

size_t stream_listener_count(const struct stream_listener *l)
{
	return l ? l->count : 0;
}

long stream_fd_budget(long reserve)
{
	struct rlimit rl;
	if (getrlimit(RLIMIT_NOFILE, &rl) != 0)
		return -1;
	if (rl.rlim_cur < rl.rlim_max) {
		struct rlimit want = {rl.rlim_max, rl.rlim_max};
		if (setrlimit(RLIMIT_NOFILE, &want) == 0)
			rl.rlim_cur = rl.rlim_max;
	}
	long lim = rl.rlim_cur == RLIM_INFINITY ? 1L << 20 : (long)rl.rlim_cur;
	return lim > reserve ? lim - reserve : 0;
}
