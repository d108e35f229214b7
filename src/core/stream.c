/* SPDX-License-Identifier: ISC */
/*
 * The stream layer's connection lifecycle and its I/O (stream.h). Reading and writing are
 * the layer's own, on two plain libevent events per connection (read: always, unless
 * paused; write: only while output waits for the socket), not libevent's bufferevent
 * (issue 22): bufferevent_openssl read each TLS record with two read(2)s (header, body),
 * the socket bufferevent asked ioctl(FIONREAD) before every readv, frame() needed
 * evbuffer pull-ups to see contiguous input, and every read and write went through
 * libevent's deferred callbacks. Here one read(2) (or one SSL_read batch over OpenSSL's
 * read-ahead) takes what the kernel has, up to RBUF bytes, every complete frame in it is
 * handed over, and the answers go out in one write at the end (the cork). OpenSSL and
 * libevent's plain events only: no new dependency.
 */
#include "core/stream.h"
#include "core/conncap.h"
#include "core/counter.h"
#include "core/log.h"
#include "core/loop.h"
#include "tls/tlsctx.h"
#include "core/util.h"

#include <errno.h>
#include <limits.h>
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
#include <sys/uio.h>
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

/* Reading. A read goes into the loop thread's RBUF-byte buffer (rbuf), lent to the
 * stream for the batch: the frames in it are handed over from there, and only what is
 * left (the start of a frame) is copied into the stream's own buffer, sized to fit. An
 * idle connection holds no input memory, and no copy is made of a complete frame. A
 * frame larger than a quarter of rbuf (or announced by stream_need beyond rbuf) is read
 * straight into the stream's own buffer instead, grown up to max_frame + READ_MIN, so a
 * large body is not copied at every piece. A callback reads at most READ_ROUNDS times
 * before the loop serves other connections. */
#define RBUF (64 * 1024)
#define READ_MIN (16 * 1024)
#define READ_ROUNDS 8

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
	SSL *ssl;               /* STREAM_TLS, until the close */
	struct event *rev;      /* readable (EV_PERSIST): added unless paused */
	struct event *wev;      /* writable (EV_PERSIST): added while output waits */
	struct event *defer_ev; /* deferred close / resume, from the loop's next turn */
	struct event *flush_ev; /* stream_close_after_flush's bound */
	struct event *first_ev; /* the first-message deadline */
	struct event *idle_ev;  /* the idle timeout, checked against last_read_us */
	int64_t last_read_us;   /* now_us() at the last read */
	/* Input: in[in_off, in_off + in_len) not handed over yet; in is rbuf while lent
	 * (in_lent), else the stream's own (in_cap bytes, NULL when empty). */
	unsigned char *in;
	size_t in_off, in_len, in_cap;
	/* Output: out[out_off, out_off + out_len) not yet taken by the kernel or TLS. Over
	 * TLS its head is also what an SSL_write that wanted to be retried was given. */
	unsigned char *out;
	size_t out_off, out_len, out_cap;
	struct sockaddr_storage sa;
	socklen_t salen;
	int fd;
	enum sstate state;
	int refs;  /* jobs holding the memory */
	int in_cb; /* callbacks of this stream on the stack */
	int close_pending, resume_pending, defer_armed;
	int opened, capped, paused, spoke;
	int linger;  /* the close follows a last answer: linger (see LINGER_S) */
	int eof;     /* the peer ended its side (peer_done): nothing more is read */
	int in_lent; /* in is this thread's rbuf */
	int rev_on, wev_on;
	/* TLS: the handshake is done; an SSL call that must be called again when the socket
	 * is writable (the handshake, SSL_read) or readable (SSL_write). */
	int hs_done, hs_wants_write, read_wants_write, write_wants_read;
	int notify_wants_write; /* the close_notify after the flush waits (tls_notify) */
	size_t need;            /* stream_need: frame() waits for this many input bytes */
	int idle_timeout_s;
	size_t max_frame, write_limit;
	int crlf_keepalive;
	int hold_clock; /* stream_listener_options.hold_clock */
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

/* The loop thread's read buffer, lent to one stream at a time (see RBUF). */
static _Thread_local struct {
	int busy;
	alignas(max_align_t) unsigned char buf[RBUF];
} rbuf;

/* --- close and free ------------------------------------------------------------------ */

/* Gives back rbuf (what it holds is dropped) or frees the stream's own input. */
static void in_release(struct stream *s)
{
	if (s->in_lent)
		rbuf.busy = 0;
	else
		free(s->in);
	s->in = NULL;
	s->in_lent = 0;
	s->in_off = s->in_len = s->in_cap = 0;
}

static void out_release(struct stream *s)
{
	free(s->out);
	s->out = NULL;
	s->out_off = s->out_len = s->out_cap = 0;
}

static void stream_free(struct stream *s)
{
	if (s->rev)
		event_free(s->rev);
	if (s->wev)
		event_free(s->wev);
	if (s->defer_ev)
		event_free(s->defer_ev);
	if (s->flush_ev)
		event_free(s->flush_ev);
	if (s->first_ev)
		event_free(s->first_ev);
	if (s->idle_ev)
		event_free(s->idle_ev);
	if (s->ssl)
		SSL_free(s->ssl);
	in_release(s);
	out_release(s);
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

/* Takes over fd (the stream's socket, its events gone) for its lingering close. Returns
 * 0, or -1 when the listener lingers on too many sockets already (the caller closes). */
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
	if (s->fd >= 0) {
		/* An orderly TLS close: close_notify before the FIN (RFC 8446 §6.1), never
		 * waiting for the peer's: one try, unless the flush sent it already (or
		 * still waits to: then this is its last try, tls_notify). Not after a
		 * failed handshake or a fatal alert (OpenSSL refuses it then anyway). */
		if (s->ssl && SSL_is_init_finished(s->ssl) &&
		    (!(SSL_get_shutdown(s->ssl) & SSL_SENT_SHUTDOWN) || s->notify_wants_write))
			(void)SSL_shutdown(s->ssl);
		ERR_clear_error();
		event_del(s->rev);
		event_del(s->wev);
		s->rev_on = s->wev_on = 0;
		/* After a last answer, the socket lingers (the events on it are gone);
		 * otherwise what already arrived is read, then it is closed. */
		if (!s->linger || s->kind == STREAM_UNIX || linger_start(s->l, s->fd) != 0) {
			drain_socket(s->fd);
			close(s->fd);
		}
		s->fd = -1;
	}
	if (s->ssl) {
		SSL_free(s->ssl); /* SSL_set_fd's socket BIO does not close the descriptor */
		s->ssl = NULL;
	}
	in_release(s);
	out_release(s);
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
		if (why != s->why) /* on_writable passes s->why: no overlapping copy */
			tg_strlcpy(s->why, why, sizeof s->why);
		return;
	}
	s->in_cb++;
	do_close(s, why);
	cb_exit(s);
}

/* Closes from the loop's next turn: for closes decided by someone walking their own
 * lists (a device-state fan-out writing to many streams), and for a write that failed
 * outside the stream's callbacks (its writer does not expect on_close inside). */
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

/* --- events and errors --------------------------------------------------------------- */

/* Adds or removes the write and read events as the state asks: writable is waited for
 * while output is queued (TLS: once the handshake is done and unless OpenSSL's write
 * waits for the peer's bytes), or while the handshake or an SSL_read must be retried on
 * writability; readable unless paused (a stream being flushed reads and drops; an
 * SSL_write waiting for bytes from the peer reads too). One epoll_ctl per change. */
static void sync_events(struct stream *s)
{
	if (s->fd < 0)
		return;
	int reading = !s->eof && (s->state == S_FLUSHING || !s->paused), w, r;
	if (s->ssl && !s->hs_done) {
		w = s->hs_wants_write;
		r = !w && reading;
	} else {
		/* an SSL call waiting for writability is not retried on readability: a
		 * level-triggered readable socket would call it again and again */
		w = s->read_wants_write || s->notify_wants_write ||
		    (s->out_len && !s->write_wants_read);
		r = !s->read_wants_write && (reading || s->write_wants_read);
	}
	if (w != s->wev_on && (w ? event_add(s->wev, NULL) : event_del(s->wev)) == 0)
		s->wev_on = w;
	if (r != s->rev_on && (r ? event_add(s->rev, NULL) : event_del(s->rev)) == 0)
		s->rev_on = r;
}

/* A peer that closed the TCP connection without a TLS close_notify (many clients do).
 * OpenSSL 3 reports it as an error (SSL_R_UNEXPECTED_EOF_WHILE_READING, also before the
 * handshake). */
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

/* The socket failed (errno err, 0: the peer closed it): the stream closes, from the
 * loop's next turn when no callback of it runs. A write failing after the peer's EOF
 * (peer_done) is that peer gone, not a connection error. */
static void sock_failed(struct stream *s, int err)
{
	close_soon(s, err == 0 || s->eof ? "peer closed the connection" : "connection error");
}

/* The peer ended its side of the connection (a TCP FIN, a TLS 1.3 close_notify, which
 * leaves the peer's read side open: RFC 8446 §6.1): nothing more is read. Answers still
 * queued go out first, as after stream_close_after_flush (a peer that half-closed after
 * its request, shutdown(SHUT_WR), reads them; a peer that is gone makes the write fail);
 * without any, the stream closes. */
static void peer_done(struct stream *s)
{
	const char *why = "peer closed the connection";
	s->eof = 1;
	if (s->fd >= 0 && !s->close_pending && stream_pending(s) > 0 && (!s->ssl || s->hs_done)) {
		if (s->state == S_OPEN) {
			stream_close_after_flush(s, why, 10);
			return;
		}
		if (s->state == S_FLUSHING) { /* the last reason is logged (stream.h) */
			tg_strlcpy(s->why, why, sizeof s->why);
			return;
		}
	}
	close_soon(s, why);
}

/* An SSL call on s returned r (<= 0) with SSL_get_error's code: 1 when it must be
 * called again once the socket is readable (WANT_READ) or writable (*wants_write set),
 * else the stream closes (0): the peer's close_notify or EOF (after a TLS 1.3
 * close_notify, once the answers queued are out: peer_done), a socket error, or a TLS
 * failure, counted by reason (stream_tls_fail_classify) and logged with OpenSSL's text.
 * OpenSSL's error queue is left empty. */
static int tls_retry(struct stream *s, int code, int *wants_write)
{
	if (code == SSL_ERROR_WANT_READ)
		return 1;
	if (code == SSL_ERROR_WANT_WRITE) {
		*wants_write = 1;
		return 1;
	}
	int err = errno;
	unsigned long e = ERR_peek_last_error();
	/* A close_notify: TLS 1.3 leaves the peer's read side open; TLS 1.2 wants the
	 * close at once, pending writes dropped (RFC 5246 §7.2.1). A peer gone without one
	 * cannot be written to (OpenSSL 3 makes the unexpected EOF fatal). */
	if (code == SSL_ERROR_ZERO_RETURN && SSL_version(s->ssl) >= TLS1_3_VERSION) {
		peer_done(s);
	} else if (code == SSL_ERROR_ZERO_RETURN || (e && tls_peer_left(e))) {
		sock_failed(s, 0);
	} else if (code == SSL_ERROR_SYSCALL && !e) {
		sock_failed(s, err);
	} else {
		char msg[160] = "TLS error";
		if (e)
			ERR_error_string_n(e, msg, sizeof msg);
		count_tls_failure(s, stream_tls_fail_classify(e, SSL_get_verify_result(s->ssl)),
		                  msg);
		close_soon(s, msg);
	}
	ERR_clear_error();
	return 0;
}

/* Before an SSL call: SSL_get_error reads OpenSSL's error queue, so nothing of another's
 * may be in it. Only peeked at: clearing an empty queue at every call cost ~1,100
 * instructions per registration (callgrind, TLS fast path). */
static void tls_err_fresh(void)
{
	if (ERR_peek_error())
		ERR_clear_error();
}

/* Drives the TLS handshake (RFC 8446 §4) as the peer's bytes come. 1 when done, 0 when
 * it waits for the socket or the stream is closing. */
static int tls_handshake(struct stream *s)
{
	s->hs_wants_write = 0;
	tls_err_fresh();
	int r = SSL_do_handshake(s->ssl);
	if (r == 1) {
		s->hs_done = 1;
		return 1;
	}
	tls_retry(s, SSL_get_error(s->ssl, r), &s->hs_wants_write);
	return 0;
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
	return s->out_len + (cork.owner == s ? cork.len : 0);
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
	return s->state == S_OPEN && !s->close_pending && s->fd >= 0;
}

/* Appends the n pieces of iov to the output queue, skipping the first skip bytes (those
 * the kernel or TLS took already). The queue's live bytes may move (compaction,
 * realloc): SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER allows it for an SSL_write retry, which
 * is given the same bytes again, or more. 0, or -1 out of memory. */
static int out_append(struct stream *s, const struct iovec *iov, int n, size_t skip)
{
	size_t add = 0;
	for (int i = 0; i < n; i++)
		add += iov[i].iov_len;
	if (add <= skip)
		return 0;
	add -= skip;
	if (s->out_off + s->out_len + add > s->out_cap) {
		if (s->out_off) {
			memmove(s->out, s->out + s->out_off, s->out_len);
			s->out_off = 0;
		}
		if (s->out_len + add > s->out_cap) {
			size_t cap = s->out_cap ? s->out_cap : 4096;
			while (cap < s->out_len + add)
				cap *= 2;
			unsigned char *p = realloc(s->out, cap);
			if (!p)
				return -1;
			s->out = p;
			s->out_cap = cap;
		}
	}
	unsigned char *dst = s->out + s->out_off + s->out_len;
	for (int i = 0; i < n; i++) {
		size_t l = iov[i].iov_len;
		if (skip >= l) {
			skip -= l;
			continue;
		}
		memcpy(dst, (const char *)iov[i].iov_base + skip, l - skip);
		dst += l - skip;
		skip = 0;
	}
	s->out_len += add;
	return 0;
}

/* SSL_write of len bytes at buf, record after record (SSL_MODE_ENABLE_PARTIAL_WRITE):
 * how many went before OpenSSL wanted the socket or failed; on WANT_WRITE / WANT_READ
 * OpenSSL keeps the record it made, and the next SSL_write must start with the same
 * bytes (the output queue's head). A failure closes the stream (*failed set). */
static size_t tls_write(struct stream *s, const unsigned char *buf, size_t len, int *failed)
{
	size_t done = 0;
	while (done < len) {
		int chunk = len - done > INT_MAX ? INT_MAX : (int)(len - done);
		int r = SSL_write(s->ssl, buf + done, chunk);
		if (r > 0) {
			done += (size_t)r;
			continue;
		}
		int ww = 0, code = SSL_get_error(s->ssl, r);
		if (tls_retry(s, code, &ww)) {
			if (code == SSL_ERROR_WANT_READ)
				s->write_wants_read = 1;
		} else {
			*failed = 1;
		}
		break;
	}
	return done;
}

/* Writes the n pieces of iov to the socket now, when nothing is queued before them:
 * TCP one sendmsg, TLS one SSL_write (one record up to 16 KiB: two pieces are joined
 * first). Whatever did not go is queued (its write event then waits for the socket).
 * Writing at once spares the write event's epoll_ctl pair and a loop turn per answer on
 * a keep-alive connection. A failure closes the stream from the next turn (*failed
 * set). 0, or -1 out of memory. */
static int write_out(struct stream *s, const struct iovec *iov, int n, int direct, int *failed)
{
	size_t sent = 0;
	if (direct && !s->out_len) {
		if (!s->ssl) {
			struct msghdr m = {.msg_iov = (struct iovec *)iov, .msg_iovlen = (size_t)n};
			ssize_t w;
			do
				w = sendmsg(s->fd, &m, MSG_NOSIGNAL | MSG_DONTWAIT);
			while (w < 0 && errno == EINTR);
			if (w > 0)
				sent = (size_t)w;
			else if (w < 0 && errno != EAGAIN && errno != EWOULDBLOCK) {
				*failed = 1;
				sock_failed(s, errno);
			}
		} else if (s->hs_done && !s->write_wants_read) {
			tls_err_fresh();
			size_t len = iov[0].iov_len + (n > 1 ? iov[1].iov_len : 0);
			if (n == 1) {
				sent = tls_write(s, iov[0].iov_base, len, failed);
			} else if (len <= CORK_MAX) {
				/* two pieces, one record: joined first */
				unsigned char one[CORK_MAX];
				memcpy(one, iov[0].iov_base, iov[0].iov_len);
				memcpy(one + iov[0].iov_len, iov[1].iov_base, iov[1].iov_len);
				sent = tls_write(s, one, len, failed);
			} else {
				/* larger: joined in the queue, written from there */
				if (out_append(s, iov, n, 0) != 0)
					return -1;
				size_t w = tls_write(s, s->out, s->out_len, failed);
				s->out_off += w;
				s->out_len -= w;
				if (!s->out_len)
					out_release(s);
				n = 0; /* queued already */
			}
		}
	}
	if (*failed)
		return 0;
	if (n && out_append(s, iov, n, sent) != 0)
		return -1;
	if (s->out_len && !s->wev_on)
		sync_events(s);
	return 0;
}

/* The close_notify of a TLS stream whose last answers went (stream_close_after_flush):
 * sent as soon as its queue is empty, so that a socket still full of a large last answer
 * does not lose it (do_close's SSL_shutdown is one try). Returns 1 when it went or
 * cannot go (do_close then closes), 0 when the socket is full: notify_wants_write is
 * set and on_writable retries it (SSL_shutdown again: OpenSSL re-sends the alert it
 * kept, SSL_shutdown(3)). */
static int tls_notify(struct stream *s)
{
	s->notify_wants_write = 0;
	if (!SSL_is_init_finished(s->ssl))
		return 1;
	tls_err_fresh();
	int r = SSL_shutdown(s->ssl);
	if (r < 0 && SSL_get_error(s->ssl, r) == SSL_ERROR_WANT_WRITE) {
		s->notify_wants_write = 1;
		sync_events(s);
		return 0;
	}
	ERR_clear_error();
	return 1;
}

/* Writes the output queue (from the write event, after the handshake, or when an
 * SSL_write's wanted read came). When it is empty: its memory goes, and a stream being
 * flushed closes, else on_drain is told. */
static void flush_out(struct stream *s)
{
	if (s->notify_wants_write) { /* the queue went; the close_notify did not yet */
		if (tls_notify(s))
			stream_close(s, s->why);
		return;
	}
	if (!s->out_len || s->fd < 0 || (s->ssl && (!s->hs_done || s->write_wants_read)))
		return;
	size_t sent = 0;
	int failed = 0;
	if (s->ssl) {
		tls_err_fresh();
		sent = tls_write(s, s->out + s->out_off, s->out_len, &failed);
	} else {
		ssize_t w;
		do
			w = send(s->fd, s->out + s->out_off, s->out_len,
			         MSG_NOSIGNAL | MSG_DONTWAIT);
		while (w < 0 && errno == EINTR);
		if (w > 0) {
			sent = (size_t)w;
		} else if (w < 0 && errno != EAGAIN && errno != EWOULDBLOCK) {
			failed = 1;
			sock_failed(s, errno);
		}
	}
	if (failed)
		return;
	s->out_off += sent;
	s->out_len -= sent;
	if (s->out_len)
		return;
	out_release(s);
	if (s->state == S_FLUSHING) {
		if (s->ssl && !tls_notify(s))
			return; /* retried when the socket is writable (flush timeout bounds it) */
		stream_close(s, s->why);
	} else if (s->state == S_OPEN && s->ops->on_drain)
		s->ops->on_drain(s);
}

/* Writes what the cork holds for s. What was written before a close was asked for still
 * goes: queued for the flush (S_FLUSHING, whose end flush_out sees), or sent before the
 * close that cb_exit will do. Returns 1 when the kernel took it all at once: the caller
 * ending the cork tells on_drain then (the queue never held it, so flush_out will not
 * run, and a user that waited for the drain because stream_pending counted the cork,
 * cti/conn.c closing after its last answers, would wait for ever) — after the cork
 * ends, so that what on_drain writes goes out instead of into a cork nobody flushes. */
static int cork_flush(struct stream *s)
{
	if (cork.owner != s)
		return 0;
	size_t len = cork.len;
	cork.len = 0;
	if (!len || s->fd < 0)
		return 0;
	int direct = s->state == S_OPEN, failed = 0;
	struct iovec v = {cork.buf, len};
	return write_out(s, &v, 1, direct, &failed) == 0 && !failed && after_write(s, len) == 0 &&
	       direct && !s->out_len;
}

/* stream_write and stream_write2: corked inside a delivery, else written (or queued). */
static int write_iov(struct stream *s, struct iovec *iov, int n)
{
	if (!writable(s))
		return -1;
	size_t len = iov[0].iov_len + (n > 1 ? iov[1].iov_len : 0);
	if (cork.owner == s) {
		/* no on_drain here: more is being written (a write inside on_drain would
		 * land in the cork before this one, or past its end) */
		if (cork.len + len > CORK_MAX)
			(void)cork_flush(s);
		if (len <= CORK_MAX) {
			for (int i = 0; i < n; i++) {
				memcpy(cork.buf + cork.len, iov[i].iov_base, iov[i].iov_len);
				cork.len += iov[i].iov_len;
			}
			return 0;
		}
	}
	int failed = 0;
	if (write_out(s, iov, n, 1, &failed) != 0)
		return -1;
	return after_write(s, len);
}

int stream_write(struct stream *s, const void *buf, size_t len)
{
	struct iovec v = {(void *)buf, len};
	return write_iov(s, &v, 1);
}

int stream_write2(struct stream *s, const void *a, size_t alen, const void *b, size_t blen)
{
	struct iovec v[2] = {{(void *)a, alen}, {(void *)b, blen}};
	return write_iov(s, v, blen ? 2 : 1);
}

/* --- reading ------------------------------------------------------------------------- */

/* The first n input bytes were handed over (or skipped). */
static void consume(struct stream *s, size_t n)
{
	s->in_off += n;
	s->in_len -= n;
	if (!s->in_len)
		s->in_off = 0;
}

/* RFC 5626 §3.5.1: a CRLFCRLF ping gets a CRLF pong; lone CRLFs between messages are
 * skipped. Returns 1 to look at the input again, 0 to wait for more, -1 when the input
 * does not start with a line end. */
static int keepalive(struct stream *s)
{
	const unsigned char *b = s->in + s->in_off;
	size_t n = s->in_len < 4 ? s->in_len : 4;
	size_t crlf = 0;
	while (crlf < n && (b[crlf] == '\r' || b[crlf] == '\n'))
		crlf++;
	if (crlf == 0)
		return -1; /* not a keep-alive */
	if (crlf == 4 && memcmp(b, "\r\n\r\n", 4) == 0) {
		consume(s, 4);
		(void)stream_write(s, "\r\n", 2);
		return 1;
	}
	if (crlf < n) { /* newlines before a message */
		consume(s, crlf);
		return 1;
	}
	if (n == 4) { /* four line ends that are not a ping: noise */
		consume(s, 4);
		return 1;
	}
	return 0; /* maybe the start of a ping */
}

/* The time of a read, for the idle timeout (CLOCK_MONOTONIC, util.h; a vDSO read, no
 * system call). Not libevent's cached clock: event_base_gettimeofday_cached takes the
 * base's lock, a lock pair per read, and inside a held clock (hold_clock: the SIP
 * listeners) this is the reading the read's requests use anyway (issue 22). */
static int64_t now_us(void)
{
	return tg_mono_us();
}

/* The idle timeout is one timer armed once and moved only when it fires: a read just
 * notes the time (re-arming a timer at every read cost two heap updates per request on
 * a keep-alive connection). */
static void arm_idle(struct stream *s, int64_t after_us)
{
	struct timeval tv = {(time_t)(after_us / 1000000), (suseconds_t)(after_us % 1000000)};
	evtimer_add(s->idle_ev, &tv);
}

/* Hands over the complete frames in the input, in order, while the stream is open and
 * not paused. Runs inside a callback (in_cb > 0). */
static void deliver_frames(struct stream *s)
{
	while (s->state == S_OPEN && !s->close_pending && !s->paused && s->in_len) {
		if (s->crlf_keepalive) {
			int k = keepalive(s);
			if (k == 1)
				continue;
			if (k == 0)
				break;
		}
		size_t avail = s->in_len;
		if (!avail || avail < s->need)
			break;
		size_t take = avail < s->max_frame ? avail : s->max_frame;
		const unsigned char *buf = s->in + s->in_off;
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
		if (s->state != S_CLOSED)
			consume(s, (size_t)r);
	}
}

/* Corks the answers of s (see cork), unless a delivery on this thread is already corking
 * (a frame's handler that made another stream deliver). Returns whether it did. */
static int cork_begin(struct stream *s)
{
	if (cork.owner)
		return 0;
	cork.owner = s;
	cork.len = 0;
	return 1;
}

static void cork_end(struct stream *s, int corked)
{
	if (!corked)
		return;
	int drained = cork_flush(s);
	cork.owner = NULL;
	if (drained && s->ops->on_drain)
		s->ops->on_drain(s);
}

/* Moves what rbuf holds for s (the start of a frame) to memory of its own, sized to fit
 * (a stream that is not open drops it), and gives rbuf back. 0, or -1 out of memory. */
static int in_unlend(struct stream *s)
{
	if (!s->in_lent)
		return 0;
	size_t len = s->state == S_OPEN ? s->in_len : 0;
	unsigned char *p = len ? malloc(len) : NULL;
	if (p)
		memcpy(p, rbuf.buf + s->in_off, len);
	rbuf.busy = 0;
	s->in_lent = 0;
	s->in = p;
	s->in_off = 0;
	s->in_len = s->in_cap = p ? len : 0;
	return len && !p ? -1 : 0;
}

/* After a batch: rbuf given back, and an empty input holds no memory. */
static void in_settle(struct stream *s)
{
	if (s->in_lent) {
		if (in_unlend(s) != 0)
			close_soon(s, "out of memory");
	} else if (!s->in_len && s->in) {
		in_release(s);
	}
}

/* Makes room after the input for a read: in rbuf (lent) when the input is small, else in
 * the stream's own buffer, compacted and grown up to max_frame + READ_MIN. Returns the
 * room in bytes, 0 out of memory. */
static size_t in_room(struct stream *s)
{
	size_t goal = s->need > s->in_len ? s->need : s->in_len; /* what must fit */
	int small = s->in_len <= RBUF / 4 && goal <= RBUF;
	if (!s->in_lent && !rbuf.busy && small) {
		if (s->in_len)
			memcpy(rbuf.buf, s->in + s->in_off, s->in_len);
		free(s->in);
		s->in = rbuf.buf;
		s->in_off = 0;
		s->in_cap = RBUF;
		s->in_lent = 1;
		rbuf.busy = 1;
	}
	if (s->in_lent) {
		if (s->in_off && s->in_off + s->in_len > RBUF - READ_MIN) {
			memmove(rbuf.buf, rbuf.buf + s->in_off, s->in_len);
			s->in_off = 0;
		}
		if (small)
			return RBUF - s->in_off - s->in_len;
		if (in_unlend(s) != 0) /* too large for rbuf */
			return 0;
	}
	if (s->in_off) {
		memmove(s->in, s->in + s->in_off, s->in_len);
		s->in_off = 0;
	}
	size_t limit = s->max_frame + READ_MIN, want = s->in_len + READ_MIN;
	if (limit < want) /* not after a delivery: it leaves less than max_frame */
		limit = want;
	if (want < goal)
		want = goal;
	if (want > limit)
		want = limit;
	if (s->in_cap < want) {
		size_t cap = s->in_cap * 2 > want ? s->in_cap * 2 : want;
		if (cap > limit)
			cap = limit;
		unsigned char *p = realloc(s->in, cap);
		if (!p)
			return 0;
		s->in = p;
		s->in_cap = cap;
	}
	return s->in_cap - s->in_len;
}

/* One read into the input, of at most room bytes at dst: the count, 0 when the socket
 * (or TLS) has nothing now, -1 when the stream closes (EOF, an error). */
static ssize_t read_some(struct stream *s, unsigned char *dst, size_t room)
{
	if (s->ssl) {
		/* Peeked before every SSL_read, not once per batch: a frame handler of this
		 * batch may have left errors (a failed DER parse), and SSL_get_error would
		 * take a read that only wants more bytes for a TLS failure. */
		tls_err_fresh();
		int r = SSL_read(s->ssl, dst, room > INT_MAX ? INT_MAX : (int)room);
		if (r > 0)
			return r;
		return tls_retry(s, SSL_get_error(s->ssl, r), &s->read_wants_write) ? 0 : -1;
	}
	ssize_t n;
	do
		n = read(s->fd, dst, room);
	while (n < 0 && errno == EINTR);
	if (n > 0)
		return n;
	if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
		return 0;
	if (n == 0)
		peer_done(s);
	else
		sock_failed(s, errno);
	return -1;
}

/* Reads what the socket has and hands over the frames, at most READ_ROUNDS reads. TCP:
 * one read(2) normally (another only when it filled the room); TLS: SSL_read over
 * OpenSSL's read-ahead (one read(2) takes many records) until OpenSSL holds nothing,
 * so that no request it buffered waits for the peer to send again. A stream being
 * flushed reads and drops. Inside a callback of s. */
static void read_input(struct stream *s)
{
	if (s->ssl) {
		if (!s->hs_done) {
			if (!tls_handshake(s))
				return;
			flush_out(s); /* what on_open queued */
		}
	}
	for (int round = 0;; round++) {
		if (s->fd < 0 || s->close_pending || s->eof || (s->state == S_OPEN && s->paused))
			return;
		if (round == READ_ROUNDS) {
			/* TCP: level-triggered epoll reports the rest; TLS: OpenSSL holds it */
			if (s->ssl)
				event_active(s->rev, EV_READ, 0);
			return;
		}
		if (s->state == S_FLUSHING)
			s->in_off = s->in_len = 0;
		size_t room = in_room(s);
		if (!room) {
			close_soon(s, "out of memory");
			return;
		}
		ssize_t n = read_some(s, s->in + s->in_off + s->in_len, room);
		if (n <= 0)
			return;
		if (s->stats)
			tg_counter_add(&s->stats->bytes_in, (uint64_t)n);
		if (!round)
			s->last_read_us = now_us();
		s->in_len += (size_t)n;
		deliver_frames(s);
		if (s->ssl ? !SSL_has_pending(s->ssl) : (size_t)n < room)
			return;
	}
}

/* read_input with the answers corked (and the clock held when the listener asks) and
 * the input settled after. */
static void serve_input(struct stream *s)
{
	int corked = cork_begin(s), held = s->hold_clock;
	if (held)
		tg_clock_hold();
	read_input(s);
	in_settle(s);
	cork_end(s, corked);
	if (held)
		tg_clock_release();
}

static void on_readable(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	struct stream *s = arg;
	s->in_cb++;
	if (s->write_wants_read) { /* an SSL_write waited for the peer's bytes */
		s->write_wants_read = 0;
		flush_out(s);
	}
	serve_input(s);
	sync_events(s);
	cb_exit(s);
}

static void on_writable(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	struct stream *s = arg;
	s->in_cb++;
	if (s->ssl && !s->hs_done) {
		serve_input(s); /* the handshake goes on, then what came with it */
	} else {
		if (s->read_wants_write) { /* an SSL_read waited to write */
			s->read_wants_write = 0;
			serve_input(s);
		}
		flush_out(s);
	}
	sync_events(s);
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
		int corked = cork_begin(s), held = s->hold_clock;
		if (held)
			tg_clock_hold();
		deliver_frames(s);
		/* What OpenSSL holds would wait for the peer's next bytes: read it now. */
		if (s->ssl && s->hs_done && !s->paused && SSL_has_pending(s->ssl))
			read_input(s);
		in_settle(s);
		cork_end(s, corked);
		if (held)
			tg_clock_release();
		sync_events(s);
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
 * waits for its own jobs): it gets a new period. */
static void on_idle_timer(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	struct stream *s = arg;
	int64_t idle = (int64_t)s->idle_timeout_s * 1000000, now = now_us();
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
	/* Still in the handshake: a TLS failure too (and a timeout, as any other). */
	if (s->ssl && !SSL_is_init_finished(s->ssl))
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
	if (s->fd < 0 || stream_pending(s) == 0) {
		s->state = S_OPEN;
		stream_close(s, why);
		return;
	}
	event_del(s->idle_ev);
	event_del(s->first_ev); /* the flush timeout bounds what is left */
	sync_events(s);         /* reading (to drop) also while paused */
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
	if (s->state == S_OPEN)
		sync_events(s);
}

void stream_resume(struct stream *s)
{
	if (!s->paused)
		return;
	s->paused = 0;
	if (s->fd < 0 || s->state != S_OPEN)
		return;
	sync_events(s);
	s->last_read_us = now_us(); /* a new idle period from here */
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
	return s->ssl;
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
	s->hold_clock = o->hold_clock;
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
	int ok = 1;
	if (o->kind == STREAM_TLS) {
		/* Read-ahead: one read(2) takes every record the kernel has (without it,
		 * OpenSSL reads a record's 5-byte header, then its body: two per record).
		 * Partial writes: an SSL_write returns after each record, so that what went
		 * is known; moving buffer: a retry may come from the queue after it grew. */
		s->ssl = o->tls ? tlsctx_ssl_new(o->tls) : NULL;
		ok = s->ssl && SSL_set_fd(s->ssl, fd) == 1;
		if (ok) {
			SSL_set_accept_state(s->ssl);
			SSL_set_read_ahead(s->ssl, 1);
			SSL_set_mode(s->ssl, SSL_MODE_ENABLE_PARTIAL_WRITE |
			                         SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
		}
	}
	s->rev = event_new(base, fd, EV_READ | EV_PERSIST, on_readable, s);
	s->wev = event_new(base, fd, EV_WRITE | EV_PERSIST, on_writable, s);
	s->defer_ev = event_new(base, -1, 0, on_defer, s);
	s->flush_ev = evtimer_new(base, on_flush_timeout, s);
	s->first_ev = evtimer_new(base, on_first_timeout, s);
	s->idle_ev = evtimer_new(base, on_idle_timer, s);
	if (!ok || !s->rev || !s->wev || !s->defer_ev || !s->flush_ev || !s->first_ev ||
	    !s->idle_ev) {
		close(fd);
		if (o->caps)
			conncap_release(o->caps, sa);
		stream_free(s); /* and the SSL */
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
		 * a read timeout, which every read restarts: a peer sending a
		 * byte at a time, or keep-alives only, would stay for ever. */
		if (o->first_message_timeout_s > 0) {
			struct timeval tv = {o->first_message_timeout_s, 0};
			evtimer_add(s->first_ev, &tv);
		}
		sync_events(s);
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
