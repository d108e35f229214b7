/* SPDX-License-Identifier: ISC */
/*
 * core/stream: the connection lifecycle of every stream listener, driven on a loop in the
 * test thread (event_base_loop in small non-blocking steps) while plain sockets and
 * OpenSSL clients act.
 *
 * Test protocol: a frame is a line ending in "\n"; a line starting with "!" breaks the
 * framing. on_frame echoes the line (through stream_write2, cut in two) or obeys it:
 * "close" (stream_close, then a write), "cflush" (an answer, then
 * stream_close_after_flush, then a write), "flood" (the test writes to this stream until
 * it is cut off), "pause" (stream_pause), "ref" (stream_ref and a canary in stream_user),
 * "errq" (leaves an error in OpenSSL's queue, as a failed DER parse does, then echoes),
 * "dwrite" and "dbig" (on_drain writes drain_msg once), "big" (BIG_N bytes of pattern() in
 * one write, through a small send buffer). A frame "#NNNNNN..." is NNNNNN bytes long,
 * announced by stream_need. Every callback is recorded in a log, in order.
 */
#include "ca/ca_bootstrap.h"
#include "core/conncap.h"
#include "core/log.h"
#include "core/loop.h"
#include "core/stream.h"
#include "tls/tlsctx.h"
#include "testutil.h"

#include <arpa/inet.h>
#include <errno.h>
#include <event2/event.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>
#include <cmocka.h>

#define MAXS 16
#define LOGN 128
#define CANARY 0x5ca1ab1ec0ffee11ULL
#define BIG_N (2 * 1024 * 1024) /* the "big" answer: more than the kernel takes at once */

/* Per-connection protocol data (stream_user). */
struct conn {
	int id; /* 1, 2, ... in accept order */
	uint64_t canary;
};

struct fx {
	struct loop *loop;
	struct event_base *base;
	struct stream_stats stats;
	struct stream_listener_options o;
	struct stream_listener *l;
	uint16_t port;
	struct conncap *caps;
	struct tlsctx *tls;
	char dir[64];
	char path[100];
	struct stream *s[MAXS + 1]; /* by id; NULL once on_close ran */
	int nopen;
	int closes[MAXS + 1];
	char why[MAXS + 1][160];
	char log[LOGN][96];
	int nlog;
	int in_frame;               /* on_frame calls on the stack */
	int close_in_frame;         /* on_close calls made while an on_frame was on the stack */
	int write_after_close;      /* what stream_write returned after a close in on_frame */
	struct stream *flood;       /* the test writes to it until it is cut off */
	struct stream *held;        /* referenced by "ref" */
	int refuse;                 /* on_open refuses the next connection */
	int refused;                /* connections on_open refused */
	int drains[MAXS + 1];       /* on_drain calls */
	struct stream *drain_write; /* on_drain writes drain_msg to it once */
	const char *drain_msg;
};

/* The test CA and server certificate, made once for the group. */
static char pki[64];
static struct ca_bootstrap_result pki_res;

/* --- helpers ------------------------------------------------------------------------- */

static int64_t now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void tlog(struct fx *f, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void tlog(struct fx *f, const char *fmt, ...)
{
	if (f->nlog >= LOGN)
		return;
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(f->log[f->nlog++], sizeof f->log[0], fmt, ap);
	va_end(ap);
}

/* Fails unless the log entries for connection id are exactly want, in order. */
static void assert_log(struct fx *f, int id, const char *const *want, int n)
{
	int k = 0;
	for (int i = 0; i < f->nlog; i++) {
		int eid;
		if (sscanf(f->log[i], "%*s %d", &eid) != 1 || eid != id)
			continue;
		if (k >= n)
			fail_msg("unexpected log entry '%s'", f->log[i]);
		if (strcmp(f->log[i], want[k]) != 0)
			fail_msg("log entry %d: '%s', wanted '%s'", k, f->log[i], want[k]);
		k++;
	}
	if (k != n)
		fail_msg("log for %d ends after %d entries; wanted '%s' next", id, k, want[k]);
}

/* One small step of the loop. */
static void step(struct fx *f)
{
	event_base_loop(f->base, EVLOOP_NONBLOCK);
	usleep(500);
}

/* Runs the loop until cond holds; fails after ms milliseconds. */
#define WAIT_FOR(f, ms, cond)                                                                      \
	do {                                                                                       \
		int64_t until_ = now_ms() + (ms);                                                  \
		while (!(cond)) {                                                                  \
			if (now_ms() > until_)                                                     \
				fail_msg("line %d: timed out waiting for %s", __LINE__, #cond);    \
			step(f);                                                                   \
		}                                                                                  \
	} while (0)

/* Runs the loop for ms milliseconds. */
static void run_for(struct fx *f, int ms)
{
	int64_t until = now_ms() + ms;
	while (now_ms() < until)
		step(f);
}

/* --- the test protocol --------------------------------------------------------------- */

static unsigned char pattern(size_t i)
{
	return (unsigned char)('a' + (i * 7 + i / 251) % 26);
}

static long t_frame(struct stream *s, const unsigned char *buf, size_t len)
{
	if (len && buf[0] == '!')
		return STREAM_FRAME_BROKEN;
	if (len && buf[0] == '#') {
		if (len < 7)
			return STREAM_FRAME_MORE;
		size_t want = 0;
		for (int i = 1; i < 7; i++)
			want = want * 10 + (size_t)(buf[i] - '0');
		if (len >= want)
			return (long)want;
		stream_need(s, want);
		return STREAM_FRAME_MORE;
	}
	const unsigned char *nl = memchr(buf, '\n', len);
	return nl ? (long)(nl - buf + 1) : STREAM_FRAME_MORE;
}

static int t_open(struct stream *s)
{
	struct fx *f = stream_ctx(s);
	struct conn *c = stream_user(s);
	if (c->id != 0 || c->canary != 0 || f->nopen >= MAXS)
		return -1; /* user data not zeroed: the test sees no open */
	if (f->refuse) {
		f->refuse = 0;
		f->refused++;
		return -1;
	}
	c->id = ++f->nopen;
	f->s[c->id] = s;
	tlog(f, "open %d", c->id);
	return 0;
}

static void t_on_frame(struct stream *s, const unsigned char *frame, size_t len)
{
	struct fx *f = stream_ctx(s);
	struct conn *c = stream_user(s);
	char line[96];
	size_t n = len - 1 < sizeof line - 1 ? len - 1 : sizeof line - 1;
	memcpy(line, frame, n);
	line[n] = '\0';
	f->in_frame++;
	tlog(f, "frame %d %s", c->id, line);
	if (strcmp(line, "close") == 0) {
		stream_close(s, "asked to close");
		f->write_after_close = stream_write(s, "late\n", 5);
	} else if (strcmp(line, "cflush") == 0) {
		if (stream_write(s, "bye\n", 4) != 0)
			tlog(f, "write failed %d", c->id);
		stream_close_after_flush(s, "said goodbye", 5);
		f->write_after_close = stream_write(s, "late\n", 5);
	} else if (strcmp(line, "flood") == 0) {
		/* A small kernel send buffer, so that the output queue grows soon. */
		int small = 16384;
		(void)setsockopt(stream_fd(s), SOL_SOCKET, SO_SNDBUF, &small, sizeof small);
		f->flood = s;
	} else if (strcmp(line, "errq") == 0) {
		/* What a handler's failed parse of a request body leaves on this thread */
		const unsigned char junk[] = {0x30, 0x82, 0xff}, *p = junk;
		X509 *x = d2i_X509(NULL, &p, sizeof junk);
		if (x || !ERR_peek_error())
			tlog(f, "no error queued %d", c->id);
		X509_free(x);
		stream_write(s, frame, len);
	} else if (strcmp(line, "big") == 0) {
		int small = 16384;
		(void)setsockopt(stream_fd(s), SOL_SOCKET, SO_SNDBUF, &small, sizeof small);
		static unsigned char big[BIG_N];
		for (size_t i = 0; i < sizeof big; i++)
			big[i] = pattern(i);
		if (stream_write(s, big, sizeof big) != 0)
			tlog(f, "write failed %d", c->id);
	} else if (strcmp(line, "dbig") == 0) {
		/* the second overflows the cork (CORK_MAX, 16 KiB) */
		static char pp[10000], qq[10000];
		memset(pp, 'p', sizeof pp);
		memset(qq, 'q', sizeof qq);
		f->drain_write = s;
		if (stream_write(s, pp, sizeof pp) != 0 || stream_write(s, qq, sizeof qq) != 0)
			tlog(f, "write failed %d", c->id);
	} else if (strcmp(line, "pause") == 0) {
		stream_pause(s);
		stream_write(s, "paused\n", 7);
	} else if (strcmp(line, "ref") == 0) {
		stream_ref(s);
		c->canary = CANARY;
		f->held = s;
		stream_write(s, "held\n", 5);
	} else {
		if (strcmp(line, "dwrite") == 0)
			f->drain_write = s;
		if (stream_write2(s, frame, len / 2, frame + len / 2, len - len / 2) != 0)
			tlog(f, "write failed %d", c->id);
	}
	tlog(f, "end %d", c->id);
	f->in_frame--;
}

static void t_close(struct stream *s, const char *why)
{
	struct fx *f = stream_ctx(s);
	struct conn *c = stream_user(s);
	f->closes[c->id]++;
	f->close_in_frame += f->in_frame;
	snprintf(f->why[c->id], sizeof f->why[0], "%s", why);
	tlog(f, "close %d %s", c->id, why);
	if (!stream_closing(s) || stream_write(s, "x\n", 2) != -1)
		tlog(f, "still writable %d", c->id);
	if (f->flood == s)
		f->flood = NULL;
	f->s[c->id] = NULL;
}

static void t_drain(struct stream *s)
{
	struct fx *f = stream_ctx(s);
	struct conn *c = stream_user(s);
	f->drains[c->id]++;
	if (f->drain_write == s) {
		f->drain_write = NULL;
		if (stream_write(s, f->drain_msg, strlen(f->drain_msg)) != 0)
			tlog(f, "write failed %d", c->id);
	}
}

static const struct stream_ops ops = {
    .frame = t_frame,
    .on_frame = t_on_frame,
    .on_open = t_open,
    .on_close = t_close,
    .on_drain = t_drain,
};

/* --- fixture ------------------------------------------------------------------------- */

static int group_setup(void **state)
{
	(void)state;
	/* As telgated does: a write to a peer that reset the connection is an error, not
	 * the end of the process. */
	signal(SIGPIPE, SIG_IGN);
	if (loop_threads_init() != 0)
		return -1;
	tu_mkdtemp(pki, sizeof pki, "tgstreampki");
	char err[400];
	if (ca_bootstrap(pki, "streamtest", "", 30, &pki_res, err, sizeof err) != 0) {
		fprintf(stderr, "ca_bootstrap: %s\n", err);
		return -1;
	}
	return 0;
}

static int group_teardown(void **state)
{
	(void)state;
	tu_rmtree(pki);
	return 0;
}

static int setup(void **state)
{
	struct fx *f = calloc(1, sizeof *f);
	if (!f)
		return -1;
	f->loop = loop_new("test");
	if (!f->loop)
		return -1;
	f->base = loop_base(f->loop);
	f->write_after_close = 99;
	f->o.name = "test";
	f->o.kind = STREAM_TCP;
	f->o.stats = &f->stats;
	f->o.ops = &ops;
	f->o.ctx = f;
	f->o.user_size = sizeof(struct conn);
	f->o.max_frame = 1024;
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fx *f = *state;
	stream_listener_free(f->l);
	/* Deferred events (a close or resume armed before) run and free their streams. */
	for (int i = 0; i < 5; i++)
		event_base_loop(f->base, EVLOOP_NONBLOCK);
	int64_t open = atomic_load(&f->stats.open);
	loop_free(f->loop);
	if (f->caps)
		conncap_free(f->caps);
	tlsctx_free(f->tls);
	if (f->dir[0])
		tu_rmtree(f->dir);
	free(f);
	if (open != 0) {
		fprintf(stderr, "%lld connections still counted open\n", (long long)open);
		return -1;
	}
	return 0;
}

static void listen_tcp(struct fx *f)
{
	int fd = loop_bind_reuseport("127.0.0.1", 0, SOCK_STREAM);
	assert_true(fd >= 0);
	struct sockaddr_in a;
	socklen_t alen = sizeof a;
	assert_int_equal(getsockname(fd, (struct sockaddr *)&a, &alen), 0);
	f->port = ntohs(a.sin_port);
	char err[200];
	f->l = stream_listen(f->loop, fd, &f->o, err, sizeof err);
	if (!f->l)
		fail_msg("stream_listen: %s", err);
}

static void listen_tls(struct fx *f)
{
	struct tlsctx_options to = {
	    .name = "test-tls", .cert = pki_res.server_cert, .key = pki_res.server_key};
	char err[400];
	f->tls = tlsctx_new(&to, err, sizeof err);
	if (!f->tls)
		fail_msg("tlsctx_new: %s", err);
	f->o.kind = STREAM_TLS;
	f->o.tls = f->tls;
	listen_tcp(f);
}

/* --- clients ------------------------------------------------------------------------- */

struct client {
	int fd;
	SSL_CTX *ctx;
	SSL *ssl;
	char buf[8192];
	size_t n;
	int eof;          /* the connection ended (EOF, reset or TLS error) */
	int err;          /* errno of a reset, or -1 for a TLS error; 0 for an orderly end */
	int close_notify; /* TLS: SSL_read returned 0 with SSL_ERROR_ZERO_RETURN */
};

static void nonblock(int fd)
{
	assert_int_equal(fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK), 0);
}

static void cl_tcp(struct client *c, uint16_t port, int rcvbuf)
{
	memset(c, 0, sizeof *c);
	c->fd = socket(AF_INET, SOCK_STREAM, 0);
	assert_true(c->fd >= 0);
	if (rcvbuf)
		assert_int_equal(setsockopt(c->fd, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof rcvbuf),
		                 0);
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(port)};
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	/* Completes in the kernel's backlog; the loop accepts later. */
	assert_int_equal(connect(c->fd, (struct sockaddr *)&a, sizeof a), 0);
	nonblock(c->fd);
}

static void cl_unix(struct client *c, const char *path)
{
	memset(c, 0, sizeof *c);
	c->fd = socket(AF_UNIX, SOCK_STREAM, 0);
	assert_true(c->fd >= 0);
	struct sockaddr_un sun = {.sun_family = AF_UNIX};
	snprintf(sun.sun_path, sizeof sun.sun_path, "%s", path);
	assert_int_equal(connect(c->fd, (struct sockaddr *)&sun, sizeof sun), 0);
	nonblock(c->fd);
}

static int handshake_done(struct client *c)
{
	int r = SSL_connect(c->ssl);
	if (r == 1)
		return 1;
	int e = SSL_get_error(c->ssl, r);
	if (e != SSL_ERROR_WANT_READ && e != SSL_ERROR_WANT_WRITE)
		fail_msg("SSL_connect: error %d", e);
	return 0;
}

/* A TLS client of exactly this version (TLS1_2_VERSION, TLS1_3_VERSION), verifying the
 * server's certificate against the test CA. */
static void cl_tls(struct fx *f, struct client *c, int version)
{
	cl_tcp(c, f->port, 0);
	c->ctx = SSL_CTX_new(TLS_client_method());
	assert_non_null(c->ctx);
	assert_int_equal(SSL_CTX_set_min_proto_version(c->ctx, version), 1);
	assert_int_equal(SSL_CTX_set_max_proto_version(c->ctx, version), 1);
	assert_int_equal(SSL_CTX_load_verify_locations(c->ctx, pki_res.ca_cert, NULL), 1);
	SSL_CTX_set_verify(c->ctx, SSL_VERIFY_PEER, NULL);
	c->ssl = SSL_new(c->ctx);
	assert_non_null(c->ssl);
	assert_int_equal(SSL_set1_host(c->ssl, "localhost"), 1);
	assert_int_equal(SSL_set_fd(c->ssl, c->fd), 1);
	WAIT_FOR(f, 5000, handshake_done(c));
	assert_int_equal(SSL_version(c->ssl), version);
}

static void cl_close(struct client *c)
{
	if (c->ssl)
		SSL_free(c->ssl);
	if (c->ctx)
		SSL_CTX_free(c->ctx);
	if (c->fd >= 0)
		close(c->fd);
	c->ssl = NULL;
	c->ctx = NULL;
	c->fd = -1;
}

static void cl_send(struct client *c, const char *data)
{
	size_t len = strlen(data);
	if (c->ssl) {
		assert_int_equal(SSL_write(c->ssl, data, (int)len), (int)len);
		return;
	}
	assert_int_equal(send(c->fd, data, len, MSG_NOSIGNAL), (ssize_t)len);
}

/* Reads what is there, without waiting. */
static void cl_poll(struct client *c)
{
	while (!c->eof && c->n < sizeof c->buf - 1) {
		if (c->ssl) {
			ERR_clear_error();
			int r = SSL_read(c->ssl, c->buf + c->n, (int)(sizeof c->buf - 1 - c->n));
			if (r > 0) {
				c->n += (size_t)r;
				c->buf[c->n] = '\0';
				continue;
			}
			int e = SSL_get_error(c->ssl, r);
			if (e == SSL_ERROR_WANT_READ)
				break;
			c->eof = 1;
			if (e == SSL_ERROR_ZERO_RETURN)
				c->close_notify = 1;
			else
				c->err = -1;
			break;
		}
		ssize_t r = recv(c->fd, c->buf + c->n, sizeof c->buf - 1 - c->n, 0);
		if (r > 0) {
			c->n += (size_t)r;
			c->buf[c->n] = '\0';
			continue;
		}
		if (r < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			break;
		c->eof = 1;
		c->err = r < 0 ? errno : 0;
	}
}

static int got(struct client *c, const char *s)
{
	cl_poll(c);
	return strstr(c->buf, s) != NULL;
}

static int ended(struct client *c)
{
	cl_poll(c);
	return c->eof;
}

static uint64_t cnt(_Atomic uint64_t *v)
{
	return atomic_load(v);
}

/* --- 1. echo over TCP -------------------------------------------------------------------- */

static void test_echo_tcp(void **state)
{
	struct fx *f = *state;
	listen_tcp(f);
	struct client c;
	cl_tcp(&c, f->port, 0);
	const char *in = "one\ntwo\nthree\n";
	cl_send(&c, in);
	WAIT_FOR(f, 3000, got(&c, "three\n"));
	assert_string_equal(c.buf, in);
	const char *want[] = {"open 1", "frame 1 one",   "end 1", "frame 1 two",
	                      "end 1",  "frame 1 three", "end 1"};
	assert_log(f, 1, want, 7);
	/* A frame split across writes is delivered once it is complete. */
	cl_send(&c, "fo");
	run_for(f, 50);
	cl_send(&c, "ur\n");
	WAIT_FOR(f, 3000, got(&c, "four\n"));
	assert_string_equal(c.buf, "one\ntwo\nthree\nfour\n");

	assert_non_null(f->s[1]);
	assert_int_equal(stream_kind(f->s[1]), STREAM_TCP);
	assert_string_equal(stream_listener_name(f->s[1]), "test");
	assert_ptr_equal(stream_loop(f->s[1]), f->loop);
	assert_null(stream_ssl(f->s[1]));
	assert_int_equal(strncmp(stream_peer(f->s[1]), "127.0.0.1:", 10), 0);
	socklen_t salen = 0;
	const struct sockaddr *sa = stream_peer_addr(f->s[1], &salen);
	assert_int_equal(sa->sa_family, AF_INET);
	assert_int_equal(salen, sizeof(struct sockaddr_in));
	assert_int_equal(stream_closing(f->s[1]), 0);
	assert_int_equal(stream_pending(f->s[1]), 0);

	assert_int_equal(cnt(&f->stats.accepted), 1);
	assert_int_equal(atomic_load(&f->stats.open), 1);
	assert_int_equal(stream_listener_count(f->l), 1);
	assert_int_equal(cnt(&f->stats.bytes_in), strlen(in) + 5);
	assert_int_equal(cnt(&f->stats.bytes_out), strlen(in) + 5);
	assert_true(f->drains[1] >= 1);

	/* The peer leaves: on_close once, the counters follow. */
	cl_close(&c);
	WAIT_FOR(f, 3000, f->closes[1] == 1);
	assert_string_equal(f->why[1], "peer closed the connection");
	assert_int_equal(atomic_load(&f->stats.open), 0);
	assert_int_equal(stream_listener_count(f->l), 0);
	run_for(f, 20);
	assert_int_equal(f->closes[1], 1);
	assert_int_equal(cnt(&f->stats.timeouts), 0);
	assert_int_equal(cnt(&f->stats.refused_cap), 0);
}

/* --- 2. caps ------------------------------------------------------------------------- */

static void test_caps(void **state)
{
	struct fx *f = *state;
	f->caps = conncap_new(1, 1);
	f->o.caps = f->caps;
	listen_tcp(f);
	struct client a, b, c;
	cl_tcp(&a, f->port, 0);
	cl_send(&a, "a\n");
	WAIT_FOR(f, 3000, got(&a, "a\n"));
	/* The second is closed at once, without on_open. */
	cl_tcp(&b, f->port, 0);
	WAIT_FOR(f, 3000, ended(&b));
	assert_true(b.err == 0 || b.err == ECONNRESET);
	assert_int_equal(b.n, 0);
	assert_int_equal(cnt(&f->stats.refused_cap), 1);
	assert_int_equal(cnt(&f->stats.accepted), 1);
	assert_int_equal(f->nopen, 1);
	assert_int_equal(conncap_total(f->caps), 1);
	cl_close(&b);
	/* The first leaves: its place is free again. */
	cl_close(&a);
	WAIT_FOR(f, 3000, f->closes[1] == 1);
	assert_int_equal(conncap_total(f->caps), 0);
	cl_tcp(&c, f->port, 0);
	cl_send(&c, "c\n");
	WAIT_FOR(f, 3000, got(&c, "c\n"));
	assert_int_equal(cnt(&f->stats.accepted), 2);
	assert_int_equal(cnt(&f->stats.refused_cap), 1);
	assert_int_equal(conncap_total(f->caps), 1);
	cl_close(&c);
	WAIT_FOR(f, 3000, f->closes[2] == 1);
	assert_int_equal(conncap_total(f->caps), 0);
}

/* on_open refuses: closed at once, no on_close; the next one is served. */
static void test_open_refused(void **state)
{
	struct fx *f = *state;
	listen_tcp(f);
	struct client a, b;
	f->refuse = 1;
	cl_tcp(&a, f->port, 0);
	WAIT_FOR(f, 3000, ended(&a));
	assert_int_equal(f->refused, 1);
	assert_int_equal(f->nlog, 0);
	assert_int_equal(atomic_load(&f->stats.open), 0);
	assert_int_equal(stream_listener_count(f->l), 0);
	cl_tcp(&b, f->port, 0);
	cl_send(&b, "b\n");
	WAIT_FOR(f, 3000, got(&b, "b\n"));
	assert_int_equal(f->nopen, 1);
	cl_close(&a);
	cl_close(&b);
	WAIT_FOR(f, 3000, f->closes[1] == 1);
	assert_int_equal(f->refused, 1);
}

/* --- 3. timeouts --------------------------------------------------------------------- */

static void test_timeouts(void **state)
{
	struct fx *f = *state;
	f->o.first_message_timeout_s = 1;
	f->o.idle_timeout_s = 2;
	listen_tcp(f);
	struct client a, b, d;
	int64_t t0 = now_ms();
	cl_tcp(&a, f->port, 0); /* says nothing */
	cl_tcp(&b, f->port, 0); /* sends a frame at once */
	cl_tcp(&d, f->port, 0); /* dribbles a frame that never ends */
	cl_send(&b, "hi\n");
	WAIT_FOR(f, 3000, got(&b, "hi\n"));
	int64_t tb = now_ms();
	/* Nothing before the first-message timeout... */
	int64_t next = t0;
	while (now_ms() - t0 < 800) {
		if (now_ms() >= next) {
			cl_send(&d, "x");
			next += 300;
		}
		step(f);
	}
	assert_int_equal(f->closes[1] + f->closes[2] + f->closes[3], 0);
	/* ...then the silent one goes, and so does the one that sends bytes but no frame:
	 * what arrives without completing a frame does not extend the first-message time
	 * (it is a deadline, not an idle timer). */
	while (f->closes[1] == 0 || f->closes[3] == 0) {
		if (now_ms() - t0 > 2600)
			fail_msg("first-message timeout: silent %d, dribbling %d", f->closes[1],
			         f->closes[3]);
		if (now_ms() >= next && !f->closes[3]) {
			(void)send(d.fd, "x", 1, MSG_NOSIGNAL);
			next += 300;
		}
		step(f);
	}
	assert_string_equal(f->why[1], "no request in time");
	assert_string_equal(f->why[3], "no request in time");
	WAIT_FOR(f, 2000, ended(&a));
	assert_int_equal(a.n, 0);
	assert_int_equal(cnt(&f->stats.timeouts), 2);
	/* The one that sent a frame has the idle timeout (2 s) instead. */
	while (now_ms() - tb < 1500)
		step(f);
	assert_int_equal(f->closes[2], 0);
	cl_poll(&b);
	assert_int_equal(b.eof, 0);
	WAIT_FOR(f, 3000, f->closes[2] == 1);
	assert_string_equal(f->why[2], "idle");
	WAIT_FOR(f, 2000, ended(&b));
	assert_int_equal(cnt(&f->stats.timeouts), 3);
	cl_close(&a);
	cl_close(&b);
	cl_close(&d);
}

/* --- 4. a close inside a callback ------------------------------------------------------ */

static void test_deferred_close(void **state)
{
	struct fx *f = *state;
	listen_tcp(f);
	struct client c, d;
	cl_tcp(&c, f->port, 0);
	cl_send(&c, "a\nclose\nb\n");
	WAIT_FOR(f, 3000, f->closes[1] == 1);
	/* on_close after on_frame returned; the frame after the close never came. */
	const char *want[] = {"open 1",        "frame 1 a", "end 1",
	                      "frame 1 close", "end 1",     "close 1 asked to close"};
	assert_log(f, 1, want, 6);
	assert_int_equal(f->close_in_frame, 0);
	assert_int_equal(f->write_after_close, -1);
	/* Over plain TCP an answer goes to the socket as it is written (stream.c,
	 * write_now): the echo of "a" left before "close" was read; nothing written after
	 * the close goes out (write_after_close above), and "b" was never read. */
	WAIT_FOR(f, 3000, ended(&c));
	assert_int_equal(c.n, 2);
	assert_memory_equal(c.buf, "a\n", 2);
	run_for(f, 20);
	assert_int_equal(f->closes[1], 1);
	cl_close(&c);

	/* Outside any callback, stream_close closes at once. */
	cl_tcp(&d, f->port, 0);
	cl_send(&d, "x\n");
	WAIT_FOR(f, 3000, got(&d, "x\n"));
	stream_close(f->s[2], "closed by the test");
	assert_int_equal(f->closes[2], 1);
	assert_string_equal(f->why[2], "closed by the test");
	WAIT_FOR(f, 3000, ended(&d));
	cl_close(&d);
	assert_int_equal(atomic_load(&f->stats.open), 0);
}

/* --- 5. close after flush -------------------------------------------------------------- */

static void test_close_after_flush(void **state)
{
	struct fx *f = *state;
	listen_tcp(f);
	struct client c;
	cl_tcp(&c, f->port, 0);
	cl_send(&c, "cflush\nmore\n");
	WAIT_FOR(f, 3000, ended(&c));
	/* The answer, then an orderly end; nothing written after the close was asked. */
	assert_string_equal(c.buf, "bye\n");
	assert_int_equal(c.err, 0);
	WAIT_FOR(f, 3000, f->closes[1] == 1);
	assert_string_equal(f->why[1], "said goodbye");
	assert_int_equal(f->write_after_close, -1);
	const char *want[] = {"open 1", "frame 1 cflush", "end 1", "close 1 said goodbye"};
	assert_log(f, 1, want, 4);
	assert_int_equal(cnt(&f->stats.timeouts), 0);
	cl_close(&c);
}

/* A peer still sending after the last answer (a body refused early, as with a 413) gets
 * the answer and an orderly end, not a reset: the server lingers, reading and dropping
 * what arrives after its close (RFC 9112 §9.6). Without the lingering close, data arriving
 * after the close makes the kernel reset the connection, and the peer's send fails. */
static void test_lingering_close(void **state)
{
	struct fx *f = *state;
	listen_tcp(f);
	struct client c;
	cl_tcp(&c, f->port, 0);
	cl_send(&c, "cflush\n");
	WAIT_FOR(f, 3000, f->closes[1] == 1);
	/* The server's side is closed now; 256 KiB more, more than it drains at its close. */
	static char chunk[16384];
	memset(chunk, 'b', sizeof chunk);
	size_t sent = 0;
	int64_t until = now_ms() + 5000;
	while (sent < 256 * 1024) {
		ssize_t r = send(c.fd, chunk, sizeof chunk, MSG_NOSIGNAL);
		if (r < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
			if (now_ms() > until)
				fail_msg("the server stopped reading after %zu bytes", sent);
			step(f);
			continue;
		}
		if (r < 0)
			fail_msg("send after %zu bytes: %s (a reset: no lingering close)", sent,
			         strerror(errno));
		sent += (size_t)r;
		step(f);
	}
	run_for(f, 50);
	WAIT_FOR(f, 3000, ended(&c));
	assert_string_equal(c.buf, "bye\n");
	assert_int_equal(c.err, 0);
	cl_close(&c);
	/* The lingering socket ends with the peer's FIN; the listener frees cleanly after. */
	run_for(f, 50);
}

/* --- 6. a slow consumer ---------------------------------------------------------------- */

static void test_slow_consumer(void **state)
{
	struct fx *f = *state;
	f->o.write_limit = 64 * 1024;
	listen_tcp(f);
	struct client a, b;
	cl_tcp(&a, f->port, 4096); /* never reads */
	cl_tcp(&b, f->port, 0);
	cl_send(&b, "b0\n");
	WAIT_FOR(f, 3000, got(&b, "b0\n"));
	cl_send(&a, "flood\n");
	WAIT_FOR(f, 3000, f->flood != NULL);
	static char chunk[16384];
	memset(chunk, 'x', sizeof chunk);
	/* Fill the kernel's buffers until output queues in the stream (below the limit). */
	int64_t t0 = now_ms();
	while (stream_pending(f->flood) < 32 * 1024) {
		if (now_ms() - t0 > 5000)
			fail_msg("the output never queued (%zu)", stream_pending(f->flood));
		assert_int_equal(stream_write(f->flood, chunk, sizeof chunk), 0);
		step(f);
	}
	/* A is stuck; B is served meanwhile. */
	for (int i = 1; i <= 3; i++) {
		char line[16];
		snprintf(line, sizeof line, "b%d\n", i);
		cl_send(&b, line);
		WAIT_FOR(f, 3000, got(&b, line));
	}
	assert_non_null(f->flood);
	assert_int_equal(cnt(&f->stats.slow_consumers), 0);
	/* Past the limit A is cut off, from the loop's next turn. */
	int rc;
	while ((rc = stream_write(f->flood, chunk, sizeof chunk)) == 0) {
		if (now_ms() - t0 > 5000)
			fail_msg("never cut off (%zu queued)", stream_pending(f->flood));
		step(f);
	}
	assert_int_equal(rc, -1);
	assert_int_equal(cnt(&f->stats.slow_consumers), 1);
	WAIT_FOR(f, 3000, f->flood == NULL);
	assert_int_equal(f->closes[1], 1);
	assert_string_equal(f->why[1], "peer does not read what it is sent");
	/* B goes on. */
	cl_send(&b, "after\n");
	WAIT_FOR(f, 3000, got(&b, "after\n"));
	assert_string_equal(b.buf, "b0\nb1\nb2\nb3\nafter\n");
	assert_int_equal(f->closes[2], 0);
	assert_int_equal(cnt(&f->stats.slow_consumers), 1);
	cl_close(&a);
	cl_close(&b);
}

/* --- 7. TLS -------------------------------------------------------------------------- */

static void tls_server_close(void **state, int version)
{
	struct fx *f = *state;
	listen_tls(f);
	struct client c;
	cl_tls(f, &c, version);
	cl_send(&c, "hello\n");
	WAIT_FOR(f, 3000, got(&c, "hello\n"));
	assert_non_null(f->s[1]);
	assert_int_equal(stream_kind(f->s[1]), STREAM_TLS);
	assert_non_null(stream_ssl(f->s[1]));
	assert_int_equal(SSL_version(stream_ssl(f->s[1])), version);
	assert_int_equal(cnt(&f->stats.bytes_in), 6);
	assert_int_equal(cnt(&f->stats.bytes_out), 6);
	/* The server closes: a close_notify, not a bare EOF. */
	cl_send(&c, "close\n");
	WAIT_FOR(f, 3000, ended(&c));
	assert_int_equal(c.close_notify, 1);
	assert_int_equal(c.err, 0);
	assert_string_equal(c.buf, "hello\n");
	assert_int_equal(f->closes[1], 1);
	cl_close(&c);
	/* The same after the last answers were flushed. */
	cl_tls(f, &c, version);
	cl_send(&c, "cflush\n");
	WAIT_FOR(f, 3000, ended(&c));
	assert_string_equal(c.buf, "bye\n");
	assert_int_equal(c.close_notify, 1);
	assert_int_equal(c.err, 0);
	assert_string_equal(f->why[2], "said goodbye");
	assert_int_equal(cnt(&f->stats.tls_failed), 0);
	cl_close(&c);
}

static void test_tls12_server_close(void **state)
{
	tls_server_close(state, TLS1_2_VERSION);
}

static void test_tls13_server_close(void **state)
{
	tls_server_close(state, TLS1_3_VERSION);
}

static void tls_client_close(void **state, int version)
{
	struct fx *f = *state;
	listen_tls(f);
	struct client c;
	cl_tls(f, &c, version);
	cl_send(&c, "hi\n");
	WAIT_FOR(f, 3000, got(&c, "hi\n"));
	/* The client's close_notify gets the server's in answer. */
	assert_int_equal(SSL_shutdown(c.ssl), 0);
	int64_t t0 = now_ms();
	for (;;) {
		ERR_clear_error();
		int r = SSL_shutdown(c.ssl);
		if (r == 1)
			break;
		int e = SSL_get_error(c.ssl, r);
		if (e != SSL_ERROR_WANT_READ)
			fail_msg(
			    "second SSL_shutdown: %d, error %d (no close_notify from the server)",
			    r, e);
		if (now_ms() - t0 > 3000)
			fail_msg("no close_notify from the server");
		step(f);
	}
	WAIT_FOR(f, 3000, f->closes[1] == 1);
	assert_string_equal(f->why[1], "peer closed the connection");
	assert_int_equal(cnt(&f->stats.tls_failed), 0);
	cl_close(&c);
}

static void test_tls12_client_close(void **state)
{
	tls_client_close(state, TLS1_2_VERSION);
}

static void test_tls13_client_close(void **state)
{
	tls_client_close(state, TLS1_3_VERSION);
}

static void test_tls_garbage(void **state)
{
	struct fx *f = *state;
	listen_tls(f);
	struct client c;
	cl_tcp(&c, f->port, 0);
	cl_send(&c, "GET / HTTP/1.1\r\nHost: example\r\n\r\n");
	WAIT_FOR(f, 3000, f->closes[1] == 1);
	assert_int_equal(cnt(&f->stats.tls_failed), 1);
	/* Counted under its reason (the metrics' label), and only there. */
	assert_int_equal(cnt(&f->stats.tls_failed_by[STREAM_TLS_FAIL_NOT_TLS]), 1);
	for (int r = 0; r < STREAM_TLS_FAIL_N; r++)
		if (r != STREAM_TLS_FAIL_NOT_TLS)
			assert_int_equal(cnt(&f->stats.tls_failed_by[r]), 0);
	assert_int_equal(f->nlog, 2);                       /* open, close: no frame */
	assert_non_null(strstr(f->why[1], "http request")); /* OpenSSL's reason */
	WAIT_FOR(f, 3000, ended(&c));
	cl_close(&c);
	/* A good client is still served. It leaves without a close_notify, as many do: the
	 * peer closed the connection, no TLS failure. */
	cl_tls(f, &c, TLS1_3_VERSION);
	cl_send(&c, "ok\n");
	WAIT_FOR(f, 3000, got(&c, "ok\n"));
	cl_close(&c);
	WAIT_FOR(f, 3000, f->closes[2] == 1);
	assert_string_equal(f->why[2], "peer closed the connection");
	assert_int_equal(cnt(&f->stats.tls_failed), 1);
	/* Nor is a client that connects and leaves before any handshake (a health
	 * check). */
	cl_tcp(&c, f->port, 0);
	WAIT_FOR(f, 3000, f->nopen == 3);
	cl_close(&c);
	WAIT_FOR(f, 3000, f->closes[3] == 1);
	assert_string_equal(f->why[3], "peer closed the connection");
	assert_int_equal(cnt(&f->stats.tls_failed), 1);
}

/* Frames pipelined in one TLS record, more than max_frame in all, also while paused: all
 * delivered, in order (nothing OpenSSL decrypted ahead is left behind). */
static void test_tls_pipelined(void **state)
{
	struct fx *f = *state;
	f->o.max_frame = 64;
	listen_tls(f);
	struct client c;
	cl_tls(f, &c, TLS1_3_VERSION);
	static char batch[4096], want[4096];
	char line[64];
	for (int i = 0; i < 40; i++) {
		snprintf(line, sizeof line, "frame-%02d-%s\n", i,
		         "................................");
		tu_append(batch, sizeof batch, line);
	}
	cl_send(&c, batch); /* one record */
	WAIT_FOR(f, 3000, got(&c, line));
	assert_string_equal(c.buf, batch);
	/* The same behind a pause. */
	snprintf(batch, sizeof batch, "pause\n");
	assert_true(c.n < sizeof want);
	memcpy(want, c.buf, c.n);
	want[c.n] = '\0';
	tu_append(want, sizeof want, "paused\n");
	for (int i = 0; i < 20; i++) {
		snprintf(line, sizeof line, "later-%02d-%s\n", i,
		         "................................");
		tu_append(batch, sizeof batch, line);
	}
	cl_send(&c, batch);
	WAIT_FOR(f, 3000, got(&c, "paused\n"));
	run_for(f, 50);
	assert_string_equal(c.buf, want);
	stream_resume(f->s[1]);
	tu_append(want, sizeof want, batch + strlen("pause\n"));
	WAIT_FOR(f, 3000, got(&c, line));
	assert_string_equal(c.buf, want);
	assert_int_equal(f->closes[1], 0);
	cl_close(&c);
	WAIT_FOR(f, 3000, f->closes[1] == 1);
}

/* --- 8. CRLF keep-alives ------------------------------------------------------------- */

static void test_crlf_keepalive(void **state)
{
	struct fx *f = *state;
	f->o.crlf_keepalive = 1;
	f->o.first_message_timeout_s = 1;
	listen_tcp(f);
	struct client a, b;
	cl_tcp(&a, f->port, 0); /* pings only */
	cl_tcp(&b, f->port, 0); /* pings around its frames */
	int64_t t0 = now_ms();
	/* B: a lone CRLF before a frame is skipped; a ping gets a pong; a CRLF arriving on
	 * its own is held until it is known not to start a ping. */
	cl_send(&b, "\r\nhello\n");
	WAIT_FOR(f, 3000, got(&b, "hello\n"));
	cl_send(&b, "\r\n\r\n");
	WAIT_FOR(f, 3000, got(&b, "hello\n\r\n"));
	cl_send(&b, "\r\n");
	run_for(f, 30);
	cl_send(&b, "x\n");
	WAIT_FOR(f, 3000, got(&b, "x\n"));
	assert_string_equal(b.buf, "hello\n\r\nx\n");
	const char *want[] = {"open 2", "frame 2 hello", "end 2", "frame 2 x", "end 2"};
	assert_log(f, 2, want, 5);
	/* A: pings every 300 ms get pongs, but are no first message: the first-message
	 * timeout still ends it. */
	int pings = 0, pongs = 0;
	int64_t next = t0;
	while (f->closes[1] == 0) {
		if (now_ms() - t0 > 2600)
			fail_msg("pinging kept the connection open (%d pings)", pings);
		if (now_ms() >= next) {
			if (send(a.fd, "\r\n\r\n", 4, MSG_NOSIGNAL) == 4)
				pings++;
			next += 300;
		}
		cl_poll(&a);
		step(f);
	}
	assert_string_equal(f->why[1], "no request in time");
	WAIT_FOR(f, 3000, ended(&a));
	for (size_t i = 0; i + 1 < a.n; i += 2) {
		assert_memory_equal(a.buf + i, "\r\n", 2);
		pongs++;
	}
	assert_true(pongs >= 1);
	assert_int_equal(a.n % 2, 0);
	const char *wanta[] = {"open 1", "close 1 no request in time"};
	assert_log(f, 1, wanta, 2);
	assert_int_equal(cnt(&f->stats.timeouts), 1);
	assert_int_equal(f->closes[2], 0);
	cl_close(&a);
	cl_close(&b);
}

/* --- 9. pause and resume ----------------------------------------------------------------- */

static void test_pause_resume(void **state)
{
	struct fx *f = *state;
	listen_tcp(f);
	struct client c;
	cl_tcp(&c, f->port, 0);
	cl_send(&c, "pause\na\nb\n");
	WAIT_FOR(f, 3000, got(&c, "paused\n"));
	run_for(f, 50);
	cl_send(&c, "c\n");
	run_for(f, 100);
	/* Held while paused... */
	assert_string_equal(c.buf, "paused\n");
	const char *paused[] = {"open 1", "frame 1 pause", "end 1"};
	assert_log(f, 1, paused, 3);
	/* ...and delivered in order from the loop's next turn after the resume. */
	stream_resume(f->s[1]);
	assert_int_equal(f->nlog, 3);
	WAIT_FOR(f, 3000, got(&c, "c\n"));
	assert_string_equal(c.buf, "paused\na\nb\nc\n");
	cl_send(&c, "d\n");
	WAIT_FOR(f, 3000, got(&c, "c\nd\n"));
	const char *want[] = {"open 1", "frame 1 pause", "end 1", "frame 1 a", "end 1", "frame 1 b",
	                      "end 1",  "frame 1 c",     "end 1", "frame 1 d", "end 1"};
	assert_log(f, 1, want, 11);
	/* Every byte read is counted once, also those delivered by the resume. */
	assert_int_equal(cnt(&f->stats.bytes_in), strlen("pause\na\nb\nc\nd\n"));
	/* Pause again, and resume twice: frames come once. */
	stream_pause(f->s[1]);
	cl_send(&c, "e\n");
	run_for(f, 50);
	assert_false(got(&c, "d\ne\n"));
	stream_resume(f->s[1]);
	stream_resume(f->s[1]);
	WAIT_FOR(f, 3000, got(&c, "d\ne\n"));
	run_for(f, 30);
	assert_string_equal(c.buf, "paused\na\nb\nc\nd\ne\n");
	cl_close(&c);
	WAIT_FOR(f, 3000, f->closes[1] == 1);
}

/* --- 10. references ------------------------------------------------------------------ */

static void test_references(void **state)
{
	struct fx *f = *state;
	listen_tcp(f);
	struct client c;
	cl_tcp(&c, f->port, 0);
	cl_send(&c, "ref\n");
	WAIT_FOR(f, 3000, got(&c, "held\n"));
	struct stream *s = f->held;
	assert_non_null(s);
	cl_close(&c);
	WAIT_FOR(f, 3000, f->closes[1] == 1);
	run_for(f, 30);
	/* Closed, counted closed, but its memory and protocol data stay. */
	assert_int_equal(f->closes[1], 1);
	assert_int_equal(atomic_load(&f->stats.open), 0);
	assert_int_equal(stream_listener_count(f->l), 0);
	struct conn *u = stream_user(s);
	assert_int_equal(u->id, 1);
	assert_true(u->canary == CANARY);
	assert_int_equal(stream_closing(s), 1);
	assert_int_equal(stream_write(s, "late\n", 5), -1);
	assert_int_equal(stream_pending(s), 0);
	assert_ptr_equal(stream_ctx(s), f);
	stream_close(s, "again"); /* idempotent */
	assert_int_equal(f->closes[1], 1);
	/* A second reference: the memory goes with the last one. */
	stream_ref(s);
	stream_unref(s);
	assert_true(((struct conn *)stream_user(s))->canary == CANARY);
	stream_unref(s); /* freed now (ASan: no leak, no use after free) */
	f->held = NULL;
	run_for(f, 20);
	assert_int_equal(f->closes[1], 1);
}

/* --- 11. frames too large and broken framing ------------------------------------------- */

static void test_frame_limits(void **state)
{
	struct fx *f = *state;
	f->o.max_frame = 64;
	listen_tcp(f);
	struct client a, b;
	cl_tcp(&a, f->port, 0);
	char line[128];
	memset(line, 'a', 63);
	line[63] = '\n';
	line[64] = '\0';
	/* Exactly max_frame: delivered. */
	cl_send(&a, line);
	WAIT_FOR(f, 3000, got(&a, line));
	/* Longer: closed without on_frame. */
	memset(line, 'b', 99);
	line[99] = '\n';
	line[100] = '\0';
	cl_send(&a, line);
	WAIT_FOR(f, 3000, f->closes[1] == 1);
	assert_string_equal(f->why[1], "frame too large");
	assert_int_equal(f->nlog, 4); /* open, frame, end, close */
	WAIT_FOR(f, 3000, ended(&a));
	assert_int_equal(a.n, 64);
	/* Broken framing: closed, no frame. */
	cl_tcp(&b, f->port, 0);
	cl_send(&b, "!oops\nnext\n");
	WAIT_FOR(f, 3000, f->closes[2] == 1);
	assert_string_equal(f->why[2], "framing error");
	const char *want[] = {"open 2", "close 2 framing error"};
	assert_log(f, 2, want, 2);
	WAIT_FOR(f, 3000, ended(&b));
	assert_int_equal(b.n, 0);
	cl_close(&a);
	cl_close(&b);
}

/* --- 12. UNIX sockets -------------------------------------------------------------------- */

static void test_unix(void **state)
{
	struct fx *f = *state;
	tu_mkdtemp(f->dir, sizeof f->dir, "tgstream");
	snprintf(f->path, sizeof f->path, "%s/s.sock", f->dir);
	/* A blocking socket, as socket(2) makes it: the listener must not block on it. */
	int fd = socket(AF_UNIX, SOCK_STREAM, 0);
	assert_true(fd >= 0);
	struct sockaddr_un sun = {.sun_family = AF_UNIX};
	snprintf(sun.sun_path, sizeof sun.sun_path, "%s", f->path);
	assert_int_equal(bind(fd, (struct sockaddr *)&sun, sizeof sun), 0);
	assert_int_equal(listen(fd, 16), 0);
	/* Should it still block, accept(2) gives up after a second instead of hanging. */
	struct timeval tv = {1, 0};
	assert_int_equal(setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv), 0);
	f->o.kind = STREAM_UNIX;
	f->o.name = "control";
	char err[200];
	f->l = stream_listen(f->loop, fd, &f->o, err, sizeof err);
	assert_non_null(f->l);
	assert_true(fcntl(fd, F_GETFL) & O_NONBLOCK);
	struct client c, d;
	cl_unix(&c, f->path);
	cl_unix(&d, f->path);
	cl_send(&c, "hello\n");
	cl_send(&d, "world\n");
	WAIT_FOR(f, 3000, got(&c, "hello\n") && got(&d, "world\n"));
	assert_non_null(f->s[1]);
	assert_string_equal(stream_peer(f->s[1]), "local");
	assert_string_equal(stream_peer(f->s[2]), "local");
	assert_int_equal(stream_kind(f->s[1]), STREAM_UNIX);
	assert_string_equal(stream_listener_name(f->s[1]), "control");
	assert_true(stream_fd(f->s[1]) >= 0);
	assert_int_equal(stream_listener_count(f->l), 2);
	cl_close(&c);
	cl_close(&d);
	WAIT_FOR(f, 3000, f->closes[1] == 1 && f->closes[2] == 1);
}

/* --- 13. freeing a listener with open streams ------------------------------------------ */

static void test_listener_free(void **state)
{
	struct fx *f = *state;
	listen_tcp(f);
	struct client c[3];
	for (int i = 0; i < 3; i++) {
		cl_tcp(&c[i], f->port, 0);
		cl_send(&c[i], i == 2 ? "ref\n" : "x\n");
	}
	WAIT_FOR(f, 3000, got(&c[0], "x\n") && got(&c[1], "x\n") && got(&c[2], "held\n"));
	assert_int_equal(stream_listener_count(f->l), 3);
	assert_int_equal(atomic_load(&f->stats.open), 3);
	/* Not accepting any more: the listening socket is closed, the streams stay. */
	stream_listener_stop_accepting(f->l);
	int late = socket(AF_INET, SOCK_STREAM, 0);
	struct sockaddr_in la = {.sin_family = AF_INET, .sin_port = htons(f->port)};
	la.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	assert_int_equal(connect(late, (struct sockaddr *)&la, sizeof la), -1);
	assert_int_equal(errno, ECONNREFUSED);
	close(late);
	assert_int_equal(stream_listener_count(f->l), 3);
	stream_listener_free(f->l);
	f->l = NULL;
	for (int i = 1; i <= 3; i++) {
		assert_int_equal(f->closes[i], 1);
		assert_string_equal(f->why[i], "server stopping");
	}
	assert_int_equal(atomic_load(&f->stats.open), 0);
	for (int i = 0; i < 3; i++) {
		WAIT_FOR(f, 3000, ended(&c[i]));
		cl_close(&c[i]);
	}
	assert_int_equal(f->nopen, 3);
	/* The referenced one outlives its listener until the reference goes. */
	assert_non_null(f->held);
	assert_true(((struct conn *)stream_user(f->held))->canary == CANARY);
	assert_int_equal(stream_write(f->held, "x\n", 2), -1);
	stream_unref(f->held);
	f->held = NULL;
	for (int i = 1; i <= 3; i++)
		assert_int_equal(f->closes[i], 1);
}

/* --- 11. descriptors run out --------------------------------------------------------- */

/* Lines of the file at path containing needle. */
static int count_lines(const char *path, const char *needle)
{
	FILE *fp = fopen(path, "r");
	assert_non_null(fp);
	char line[1024];
	int n = 0;
	while (fgets(line, sizeof line, fp))
		n += strstr(line, needle) != NULL;
	fclose(fp);
	return n;
}

/* accept() fails with EMFILE: the listener pauses instead of spinning (its failed accepts,
 * counted in refused_fd, stay at about one per pause over a period in which a busy loop
 * would make thousands), says so in one log line, and accepts again once a descriptor is
 * free. The soft RLIMIT_NOFILE is lowered in this process and every free descriptor below
 * it taken, while the client's connection waits in the listener's backlog. */
static void test_fd_exhaustion(void **state)
{
	struct fx *f = *state;
	tu_mkdtemp(f->dir, sizeof f->dir, "tgstreamfd");
	char logpath[128], target[160], err[200];
	snprintf(logpath, sizeof logpath, "%s/log", f->dir);
	snprintf(target, sizeof target, "file:%s", logpath);
	assert_int_equal(log_configure(LOG_LVL_INFO, LOG_FMT_KV, target, err, sizeof err), 0);
	listen_tcp(f);
	struct client a;
	cl_tcp(&a, f->port, 0); /* waits in the backlog */

	struct rlimit old, low;
	assert_int_equal(getrlimit(RLIMIT_NOFILE, &old), 0);
	/* Just above the highest descriptor open now: a few free ones to fill. */
	int top = 0;
	for (int fd = 0; fd < 4096; fd++)
		if (fcntl(fd, F_GETFD) >= 0)
			top = fd;
	low = old;
	low.rlim_cur = (rlim_t)top + 16;
	assert_true(low.rlim_cur <= old.rlim_max);
	int *held = calloc(low.rlim_cur, sizeof *held), nheld = 0;
	assert_non_null(held);
	assert_int_equal(setrlimit(RLIMIT_NOFILE, &low), 0);
	for (;;) {
		int d = dup(a.fd);
		if (d < 0) {
			assert_int_equal(errno, EMFILE);
			break;
		}
		assert_true((rlim_t)nheld < low.rlim_cur);
		held[nheld++] = d;
	}
	assert_true(nheld > 0);

	/* The first accept fails and pauses the listener. */
	WAIT_FOR(f, 3000, cnt(&f->stats.refused_fd) >= 1);
	/* ~600 ms of loop steps (over a thousand of them): paused 100 ms at a time, the
	 * listener tries at most once per pause (about 6 here; fewer on a slow machine);
	 * spinning, it would try at every step. */
	run_for(f, 600);
	uint64_t tries = cnt(&f->stats.refused_fd);
	assert_in_range(tries, 1, 8);
	assert_int_equal(cnt(&f->stats.accepted), 0);
	assert_int_equal(f->nopen, 0);

	/* One descriptor freed: the next try accepts, and the connection is served. */
	close(held[--nheld]);
	WAIT_FOR(f, 3000, f->nopen == 1);
	assert_int_equal(cnt(&f->stats.accepted), 1);
	cl_send(&a, "hi\n");
	WAIT_FOR(f, 3000, got(&a, "hi\n"));
	/* No failed accept once it resumed. */
	uint64_t after = cnt(&f->stats.refused_fd);
	run_for(f, 250);
	assert_int_equal(cnt(&f->stats.refused_fd), after);

	while (nheld > 0)
		close(held[--nheld]);
	free(held);
	assert_int_equal(setrlimit(RLIMIT_NOFILE, &old), 0);
	/* Several pauses, one line. */
	assert_int_equal(count_lines(logpath, "event=stream_accept_paused"), 1);
	assert_int_equal(count_lines(logpath, "reason=\"out of file descriptors (EMFILE)\"") +
	                     count_lines(logpath, "reason=out of file descriptors (EMFILE)"),
	                 1);
	assert_int_equal(log_configure(LOG_LVL_INFO, LOG_FMT_KV, "stderr", err, sizeof err), 0);
	cl_close(&a);
	WAIT_FOR(f, 3000, f->closes[1] == 1);
}

/* --- 12. TLS failure reasons ---------------------------------------------------------- */

/* A TLS client that connects and never starts the handshake: the first-message timeout
 * ends it, counted as a timeout and as a TLS failure of reason handshake_timeout. */
static void test_tls_handshake_timeout(void **state)
{
	struct fx *f = *state;
	f->o.first_message_timeout_s = 1;
	listen_tls(f);
	struct client c;
	cl_tcp(&c, f->port, 0);
	WAIT_FOR(f, 4000, f->closes[1] == 1);
	assert_string_equal(f->why[1], "no request in time");
	assert_int_equal(cnt(&f->stats.timeouts), 1);
	assert_int_equal(cnt(&f->stats.tls_failed), 1);
	assert_int_equal(cnt(&f->stats.tls_failed_by[STREAM_TLS_FAIL_HANDSHAKE_TIMEOUT]), 1);
	cl_close(&c);
	/* After a handshake, the same timeout is no TLS failure. */
	cl_tls(f, &c, TLS1_3_VERSION);
	WAIT_FOR(f, 4000, f->closes[2] == 1);
	assert_int_equal(cnt(&f->stats.timeouts), 2);
	assert_int_equal(cnt(&f->stats.tls_failed), 1);
	cl_close(&c);
}

/* OpenSSL's reasons map onto the fixed set; anything else is "other". */
static void test_tls_fail_classify(void **state)
{
	(void)state;
	static const struct {
		int reason;
		long verify;
		enum stream_tls_fail want;
		const char *name;
	} rows[] = {
	    {SSL_R_UNSUPPORTED_PROTOCOL, X509_V_OK, STREAM_TLS_FAIL_PROTOCOL_VERSION,
	     "protocol_version"},
	    {SSL_R_VERSION_TOO_LOW, X509_V_OK, STREAM_TLS_FAIL_PROTOCOL_VERSION,
	     "protocol_version"},
	    {SSL_R_NO_SHARED_CIPHER, X509_V_OK, STREAM_TLS_FAIL_NO_SHARED_CIPHER,
	     "no_shared_cipher"},
	    {SSL_R_PEER_DID_NOT_RETURN_A_CERTIFICATE, X509_V_OK, STREAM_TLS_FAIL_NO_CERTIFICATE,
	     "no_certificate"},
	    {SSL_R_CERTIFICATE_VERIFY_FAILED, X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT_LOCALLY,
	     STREAM_TLS_FAIL_UNKNOWN_CA, "unknown_ca"},
	    {SSL_R_CERTIFICATE_VERIFY_FAILED, X509_V_ERR_CERT_HAS_EXPIRED,
	     STREAM_TLS_FAIL_BAD_CERTIFICATE, "bad_certificate"},
	    {SSL_R_TLSV1_ALERT_UNKNOWN_CA, X509_V_OK, STREAM_TLS_FAIL_UNKNOWN_CA, "unknown_ca"},
	    {SSL_R_HTTP_REQUEST, X509_V_OK, STREAM_TLS_FAIL_NOT_TLS, "not_tls"},
	    {SSL_R_WRONG_VERSION_NUMBER, X509_V_OK, STREAM_TLS_FAIL_NOT_TLS, "not_tls"},
	    {SSL_R_DECRYPTION_FAILED_OR_BAD_RECORD_MAC, X509_V_OK, STREAM_TLS_FAIL_OTHER, "other"},
	};
	for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++) {
		enum stream_tls_fail r = stream_tls_fail_classify(
		    ERR_PACK(ERR_LIB_SSL, 0, rows[i].reason), rows[i].verify);
		if (r != rows[i].want)
			fail_msg("row %zu: %s, wanted %s", i, stream_tls_fail_name(r),
			         rows[i].name);
		assert_string_equal(stream_tls_fail_name(r), rows[i].name);
	}
	/* Not OpenSSL's TLS library: other. */
	assert_int_equal(stream_tls_fail_classify(ERR_PACK(ERR_LIB_SYS, 0, 1), X509_V_OK),
	                 STREAM_TLS_FAIL_OTHER);
	assert_string_equal(stream_tls_fail_name(STREAM_TLS_FAIL_N), "other");
}

/* --- 13. listen address lists ---------------------------------------------------------- */

/* stream_bind_list binds every address of a list; a listener accepts on each socket
 * stream_listener_add gives it, with the same counters. */
static void test_address_list(void **state)
{
	struct fx *f = *state;
	int fds[STREAM_ADDR_MAX];
	char err[200];
	/* Two sockets on one port: 127.0.0.1 and 127.0.0.2 (both loopback on Linux). */
	int n = stream_bind_list(" 127.0.0.1,127.0.0.2 ", 0, SOCK_STREAM, fds, err, sizeof err);
	assert_int_equal(n, 2);
	struct sockaddr_in a;
	socklen_t alen = sizeof a;
	assert_int_equal(getsockname(fds[0], (struct sockaddr *)&a, &alen), 0);
	close(fds[0]);
	close(fds[1]);
	uint16_t port = ntohs(a.sin_port);
	n = stream_bind_list("127.0.0.1, 127.0.0.2", port, SOCK_STREAM, fds, err, sizeof err);
	assert_int_equal(n, 2);
	f->l = stream_listen(f->loop, fds[0], &f->o, err, sizeof err);
	assert_non_null(f->l);
	assert_int_equal(stream_listener_add(f->l, fds[1], err, sizeof err), 0);
	struct client c[2];
	for (int i = 0; i < 2; i++) {
		memset(&c[i], 0, sizeof c[i]);
		c[i].fd = socket(AF_INET, SOCK_STREAM, 0);
		struct sockaddr_in to = {.sin_family = AF_INET, .sin_port = htons(port)};
		to.sin_addr.s_addr = htonl(INADDR_LOOPBACK + (uint32_t)i); /* .1, then .2 */
		assert_int_equal(connect(c[i].fd, (struct sockaddr *)&to, sizeof to), 0);
		nonblock(c[i].fd);
		cl_send(&c[i], i ? "two\n" : "one\n");
	}
	WAIT_FOR(f, 3000, got(&c[0], "one\n") && got(&c[1], "two\n"));
	assert_int_equal(cnt(&f->stats.accepted), 2);
	assert_int_equal(stream_listener_count(f->l), 2);
	cl_close(&c[0]);
	cl_close(&c[1]);
	WAIT_FOR(f, 3000, f->closes[1] == 1 && f->closes[2] == 1);
	/* What is not a list of numeric addresses is refused, naming the culprit; nothing
	 * stays bound. */
	assert_int_equal(
	    stream_bind_list("127.0.0.1, not-an-address", 0, SOCK_STREAM, fds, err, sizeof err),
	    -1);
	assert_non_null(strstr(err, "not-an-address"));
	assert_int_equal(stream_bind_list(" , ", 0, SOCK_STREAM, fds, err, sizeof err), -1);
	char first[64];
	assert_int_equal(stream_addr_first(" ::1, 127.0.0.1", first, sizeof first), 0);
	assert_string_equal(first, "::1");
	assert_int_equal(stream_addr_first("", first, sizeof first), -1);
}

/* --- 17. the layer's own I/O (issue 22) ---------------------------------------------- */

/* TLS 1.2 application-data records the client received (their headers, outer type 23;
 * TLS 1.2 has no records after the handshake other than ours). */
static int records_in;

static void count_records(int write_p, int version, int content_type, const void *buf, size_t len,
                          SSL *ssl, void *arg)
{
	(void)version;
	(void)ssl;
	(void)arg;
	if (!write_p && content_type == SSL3_RT_HEADER && len == 5 &&
	    ((const unsigned char *)buf)[0] == SSL3_RT_APPLICATION_DATA)
		records_in++;
}

/* Ends client c (connection id on the server) and listens with TLS instead of TCP. */
static void to_tls(struct fx *f, struct client *c, int id)
{
	cl_close(c);
	WAIT_FOR(f, 3000, f->closes[id] == 1);
	stream_listener_free(f->l);
	f->l = NULL;
	listen_tls(f);
}

/* Many frames in one read are answered in one write: one flush (one on_drain) on TCP,
 * one TLS record on TLS. */
static void test_batch_one_write(void **state)
{
	struct fx *f = *state;
	listen_tcp(f);
	static char batch[4096];
	char line[32];
	for (int i = 0; i < 30; i++) {
		snprintf(line, sizeof line, "request-%02d\n", i);
		tu_append(batch, sizeof batch, line);
	}
	struct client c;
	cl_tcp(&c, f->port, 0);
	cl_send(&c, batch); /* one send: one read on loopback */
	WAIT_FOR(f, 3000, got(&c, line));
	assert_string_equal(c.buf, batch);
	assert_int_equal(f->drains[1], 1);
	to_tls(f, &c, 1);
	cl_tls(f, &c, TLS1_2_VERSION);
	SSL_set_msg_callback(c.ssl, count_records);
	records_in = 0;
	cl_send(&c, batch); /* one record */
	WAIT_FOR(f, 3000, got(&c, line));
	assert_string_equal(c.buf, batch);
	assert_int_equal(records_in, 1);
	assert_int_equal(f->drains[2], 1);
	assert_int_equal(cnt(&f->stats.tls_failed), 0);
	cl_close(&c);
	WAIT_FOR(f, 3000, f->closes[2] == 1);
}

/* The bytes client c sends for two TLS records (a and b), into out (cap bytes): their
 * length. Nothing is sent. */
static size_t cl_seal_two(struct client *c, const char *a, const char *b, char *out, size_t cap)
{
	BIO *sock = SSL_get_wbio(c->ssl), *mem = BIO_new(BIO_s_mem());
	assert_non_null(mem);
	assert_int_equal(BIO_up_ref(sock), 1);
	SSL_set0_wbio(c->ssl, mem);
	assert_int_equal(SSL_write(c->ssl, a, (int)strlen(a)), (int)strlen(a));
	assert_int_equal(SSL_write(c->ssl, b, (int)strlen(b)), (int)strlen(b));
	char *p;
	long n = BIO_get_mem_data(mem, &p);
	assert_true(n > (long)(strlen(a) + strlen(b)) && (size_t)n <= cap);
	memcpy(out, p, (size_t)n);
	SSL_set0_wbio(c->ssl, sock); /* frees mem */
	return (size_t)n;
}

/* Sends two TLS records (a and b) in one send(2), so that the server's first read takes
 * both: OpenSSL's read-ahead holds the second while the first is handed over. */
static void cl_send_two_records(struct client *c, const char *a, const char *b)
{
	char rec[512];
	size_t n = cl_seal_two(c, a, b, rec, sizeof rec);
	assert_int_equal(send(c->fd, rec, n, MSG_NOSIGNAL), (ssize_t)n);
}

/* A request that OpenSSL read ahead (the second record of one read) is served although
 * nothing more arrives on the socket, also when the first paused the stream. */
static void tls_read_ahead(void **state, int version)
{
	struct fx *f = *state;
	listen_tls(f);
	struct client c;
	cl_tls(f, &c, version);
	cl_send(&c, "warm\n"); /* TLS 1.3: the session tickets are read by now */
	WAIT_FOR(f, 3000, got(&c, "warm\n"));
	cl_send_two_records(&c, "one\n", "two\n");
	WAIT_FOR(f, 3000, got(&c, "two\n"));
	assert_string_equal(c.buf, "warm\none\ntwo\n");
	/* The first frame pauses: the second waits in OpenSSL, and the resume serves it. */
	cl_send_two_records(&c, "pause\n", "three\n");
	WAIT_FOR(f, 3000, got(&c, "paused\n"));
	run_for(f, 50);
	assert_false(got(&c, "three\n"));
	stream_resume(f->s[1]);
	WAIT_FOR(f, 3000, got(&c, "three\n"));
	assert_string_equal(c.buf, "warm\none\ntwo\npaused\nthree\n");
	assert_int_equal(f->closes[1], 0);
	assert_int_equal(cnt(&f->stats.tls_failed), 0);
	cl_close(&c);
	WAIT_FOR(f, 3000, f->closes[1] == 1);
}

static void test_tls12_read_ahead(void **state)
{
	tls_read_ahead(state, TLS1_2_VERSION);
}

static void test_tls13_read_ahead(void **state)
{
	tls_read_ahead(state, TLS1_3_VERSION);
}

/* A TLS write the socket could not take at once (OpenSSL wanted it retried with the same
 * bytes) is resumed when the peer reads: every byte arrives once, in order, then
 * on_drain. */
static void test_tls_partial_write(void **state)
{
	struct fx *f = *state;
	listen_tls(f);
	struct client c;
	cl_tls(f, &c, TLS1_3_VERSION);
	cl_send(&c, "flood\n"); /* a small server send buffer */
	WAIT_FOR(f, 3000, f->flood != NULL);
	run_for(f, 20);
	static unsigned char chunk[50000];
	size_t total = 0;
	/* Written until some is queued (the kernel's buffers full), then more behind it. */
	int extra = 3;
	while (extra > 0) {
		for (size_t i = 0; i < sizeof chunk; i++)
			chunk[i] = pattern(total + i);
		assert_int_equal(stream_write(f->flood, chunk, sizeof chunk), 0);
		total += sizeof chunk;
		if (stream_pending(f->flood) > 0)
			extra--;
		assert_true(total < 64u * 1024 * 1024);
		step(f);
	}
	int drains = f->drains[1];
	assert_true(stream_pending(f->flood) > 0);
	size_t got_n = 0;
	int64_t until = now_ms() + 10000;
	while (got_n < total) {
		if (now_ms() > until)
			fail_msg("%zu of %zu bytes read", got_n, total);
		step(f);
		unsigned char buf[16384];
		for (;;) {
			ERR_clear_error();
			int r = SSL_read(c.ssl, buf, sizeof buf);
			if (r <= 0) {
				assert_int_equal(SSL_get_error(c.ssl, r), SSL_ERROR_WANT_READ);
				break;
			}
			for (int i = 0; i < r; i++)
				if (buf[i] != pattern(got_n + (size_t)i))
					fail_msg("byte %zu differs", got_n + (size_t)i);
			got_n += (size_t)r;
		}
	}
	assert_int_equal(got_n, total);
	WAIT_FOR(f, 3000, f->drains[1] > drains);
	assert_int_equal(stream_pending(f->s[1]), 0);
	assert_int_equal(cnt(&f->stats.bytes_out), total);
	assert_int_equal(f->closes[1], 0);
	assert_int_equal(cnt(&f->stats.tls_failed), 0);
	cl_close(&c);
	WAIT_FOR(f, 3000, f->closes[1] == 1);
}

/* Frames split across reads at every byte boundary (TCP, then TLS: one record per piece),
 * and a frame larger than the shared read buffer's share arriving in pieces. */
static void split_every_byte(struct fx *f, struct client *c)
{
	const char *data = "first-frame\nsecond\n";
	size_t len = strlen(data);
	for (size_t k = 1; k < len; k++) {
		char a[32], b[32];
		memcpy(a, data, k);
		a[k] = '\0';
		snprintf(b, sizeof b, "%s", data + k);
		uint64_t in0 = cnt(&f->stats.bytes_in);
		c->n = 0;
		c->buf[0] = '\0';
		cl_send(c, a);
		WAIT_FOR(f, 3000, cnt(&f->stats.bytes_in) == in0 + k); /* read alone */
		cl_send(c, b);
		WAIT_FOR(f, 3000, got(c, "second\n"));
		if (strcmp(c->buf, data) != 0)
			fail_msg("split at %zu: got '%s'", k, c->buf);
	}
	/* 40,000 bytes in pieces of 7,000: kept in memory of the stream's own. */
	static char big[40001];
	memset(big, 'z', 39999);
	big[39999] = '\n';
	uint64_t in0 = cnt(&f->stats.bytes_in), out0 = cnt(&f->stats.bytes_out);
	for (size_t off = 0; off < 40000; off += 7000) {
		char piece[7001];
		size_t n = 40000 - off < 7000 ? 40000 - off : 7000;
		memcpy(piece, big + off, n);
		piece[n] = '\0';
		cl_send(c, piece);
		WAIT_FOR(f, 3000, cnt(&f->stats.bytes_in) == in0 + off + n);
	}
	/* echoed whole: one frame of 40,000 bytes */
	WAIT_FOR(f, 3000, cnt(&f->stats.bytes_out) == out0 + 40000);
}

static void test_split_every_byte(void **state)
{
	struct fx *f = *state;
	f->o.max_frame = 65536;
	listen_tcp(f);
	struct client c;
	cl_tcp(&c, f->port, 0);
	split_every_byte(f, &c);
	assert_int_equal(f->closes[1], 0);
	to_tls(f, &c, 1);
	cl_tls(f, &c, TLS1_3_VERSION);
	split_every_byte(f, &c);
	assert_int_equal(f->closes[2], 0);
	assert_int_equal(cnt(&f->stats.tls_failed), 0);
	cl_close(&c);
	WAIT_FOR(f, 3000, f->closes[2] == 1);
}

/* --- 18. hostile and odd peers (review of the layer's own I/O) ----------------------- */

/* A TLS listener and client c of this version, answered once ("hi"). */
static void tls_hello(struct fx *f, struct client *c, int version)
{
	listen_tls(f);
	cl_tls(f, c, version);
	cl_send(c, "hi\n");
	WAIT_FOR(f, 3000, got(c, "hi\n"));
}

/* Stream id is still open and no TLS failure was counted; client c leaves, id closes. */
static void cl_end_clean(struct fx *f, struct client *c, int id)
{
	assert_int_equal(f->closes[id], 0);
	assert_int_equal(cnt(&f->stats.tls_failed), 0);
	cl_close(c);
	WAIT_FOR(f, 3000, f->closes[id] == 1);
}

/* A frame handler that leaves an error in OpenSSL's per-thread queue (a failed DER parse
 * of a request body does) is no TLS failure of its stream: when the read that follows in
 * the same batch ends inside a record (OpenSSL holds part of one: SSL_has_pending), that
 * SSL_read only wants more bytes, and SSL_get_error must not see the stale error. */
static void test_tls_stale_error(void **state)
{
	struct fx *f = *state;
	listen_tls(f);
	struct client c;
	cl_tls(f, &c, TLS1_3_VERSION);
	cl_send(&c, "warm\n");
	WAIT_FOR(f, 3000, got(&c, "warm\n"));
	char rec[512];
	size_t n = cl_seal_two(&c, "errq\n", "after\n", rec, sizeof rec);
	size_t first = 5 + ((size_t)(unsigned char)rec[3] << 8 | (unsigned char)rec[4]);
	assert_true(first + 3 < n);
	/* The first record and 3 bytes of the second, then the rest once it was served. */
	assert_int_equal(send(c.fd, rec, first + 3, MSG_NOSIGNAL), (ssize_t)(first + 3));
	WAIT_FOR(f, 3000, got(&c, "errq\n"));
	run_for(f, 20);
	assert_int_equal(send(c.fd, rec + first + 3, n - first - 3, MSG_NOSIGNAL),
	                 (ssize_t)(n - first - 3));
	WAIT_FOR(f, 3000, got(&c, "after\n") || f->closes[1]);
	assert_string_equal(c.buf, "warm\nerrq\nafter\n");
	const char *want[] = {"open 1", "frame 1 warm",  "end 1", "frame 1 errq",
	                      "end 1",  "frame 1 after", "end 1"};
	assert_log(f, 1, want, 7); /* and the handler did leave an error */
	cl_end_clean(f, &c, 1);
	assert_string_equal(f->why[1], "peer closed the connection");
}

/* Reads from c until its end, every byte checked against pattern(): how many came. Over
 * TLS c->close_notify says whether the end was the server's close_notify (1) or a bare
 * EOF (0). */
static size_t cl_read_pattern(struct fx *f, struct client *c)
{
	size_t n = 0;
	unsigned char buf[16384];
	int64_t until = now_ms() + 10000;
	for (;;) {
		if (now_ms() > until)
			fail_msg("%zu bytes, then nothing more", n);
		int r;
		if (c->ssl) {
			ERR_clear_error();
			r = SSL_read(c->ssl, buf, sizeof buf);
			int e = r > 0 ? SSL_ERROR_NONE : SSL_get_error(c->ssl, r);
			unsigned long le = ERR_peek_last_error();
			if (e == SSL_ERROR_ZERO_RETURN ||
			    (e == SSL_ERROR_SSL &&
			     ERR_GET_REASON(le) == SSL_R_UNEXPECTED_EOF_WHILE_READING)) {
				c->close_notify = e == SSL_ERROR_ZERO_RETURN;
				return n;
			}
			if (e != SSL_ERROR_NONE && e != SSL_ERROR_WANT_READ)
				fail_msg("SSL_read after %zu bytes: error %d (%s)", n, e,
				         ERR_reason_error_string(le));
		} else {
			ssize_t w = recv(c->fd, buf, sizeof buf, 0);
			if (w == 0)
				return n;
			if (w < 0 && errno != EAGAIN && errno != EWOULDBLOCK)
				fail_msg("recv after %zu bytes: %s", n, strerror(errno));
			r = (int)w;
		}
		if (r <= 0) {
			step(f);
			continue;
		}
		for (int i = 0; i < r; i++)
			if (buf[i] != pattern(n + (size_t)i))
				fail_msg("byte %zu differs", n + (size_t)i);
		n += (size_t)r;
	}
}

/* A peer that ends its side after its request (shutdown(SHUT_WR) over TCP, a close_notify
 * over TLS 1.3, RFC 8446 §6.1) still reads the whole answer, also the part the kernel
 * could not take at once; then the stream closes. */
static void test_half_close(void **state)
{
	struct fx *f = *state;
	listen_tcp(f);
	struct client c;
	cl_tcp(&c, f->port, 0);
	cl_send(&c, "big\n");
	assert_int_equal(shutdown(c.fd, SHUT_WR), 0);
	assert_int_equal(cl_read_pattern(f, &c), BIG_N);
	WAIT_FOR(f, 3000, f->closes[1] == 1);
	assert_string_equal(f->why[1], "peer closed the connection");
	assert_int_equal(cnt(&f->stats.bytes_out), BIG_N);
	assert_int_equal(cnt(&f->stats.timeouts), 0);
	to_tls(f, &c, 1);
	cl_tls(f, &c, TLS1_3_VERSION);
	cl_send(&c, "big\n");
	assert_int_equal(SSL_shutdown(c.ssl), 0); /* our close_notify went */
	assert_int_equal(cl_read_pattern(f, &c), BIG_N);
	/* The server's close_notify follows the answer that filled its socket (it waits for
	 * the socket to be writable again; it is not one try lost to a full buffer). */
	assert_int_equal(c.close_notify, 1);
	WAIT_FOR(f, 3000, f->closes[2] == 1);
	assert_string_equal(f->why[2], "peer closed the connection");
	assert_int_equal(cnt(&f->stats.bytes_out), 2 * (uint64_t)BIG_N);
	assert_int_equal(cnt(&f->stats.tls_failed), 0);
	cl_close(&c);
}

/* Reads exactly n bytes from TCP client c into out. */
static void cl_read_n(struct fx *f, struct client *c, char *out, size_t n)
{
	size_t got_n = 0;
	int64_t until = now_ms() + 5000;
	while (got_n < n) {
		ssize_t r = recv(c->fd, out + got_n, n - got_n, 0);
		if (r > 0) {
			got_n += (size_t)r;
			continue;
		}
		if (r == 0 || (errno != EAGAIN && errno != EWOULDBLOCK))
			fail_msg("the connection ended after %zu of %zu bytes", got_n, n);
		if (now_ms() > until)
			fail_msg("%zu of %zu bytes", got_n, n);
		step(f);
	}
}

/* on_drain may write (stream.h allows it): what it writes when a batch's answers leave at
 * once goes out after them, not into the batch's cork that nobody flushes any more; and a
 * write that overflows the cork inside a batch tells no drain before it (what on_drain
 * wrote then would go out first, and past the cork's end). */
static void test_drain_writes(void **state)
{
	struct fx *f = *state;
	listen_tcp(f);
	struct client c;
	cl_tcp(&c, f->port, 0);
	f->drain_msg = "drained\n";
	cl_send(&c, "dwrite\n");
	WAIT_FOR(f, 3000, got(&c, "drained\n"));
	assert_string_equal(c.buf, "dwrite\ndrained\n");
	static char want[32000], in[32000], d[12001];
	memset(d, 'd', 12000);
	f->drain_msg = d;
	memset(want, 'p', 10000);
	memset(want + 10000, 'q', 10000);
	memset(want + 20000, 'd', 12000);
	cl_send(&c, "dbig\n");
	cl_read_n(f, &c, in, sizeof in);
	assert_memory_equal(in, want, sizeof want);
	run_for(f, 30);
	c.n = 0;
	c.buf[0] = '\0';
	assert_false(got(&c, "d")); /* nothing more */
	assert_null(f->drain_write);
	assert_int_equal(cnt(&f->stats.bytes_out), 15 + 32000);
	cl_close(&c);
	WAIT_FOR(f, 3000, f->closes[1] == 1);
}

/* Sends all of data, running the loop while the socket is full. */
static void cl_send_all(struct fx *f, struct client *c, const char *data, size_t len)
{
	size_t off = 0;
	int64_t until = now_ms() + 5000;
	while (off < len) {
		ssize_t r = send(c->fd, data + off, len - off, MSG_NOSIGNAL);
		if (r > 0) {
			off += (size_t)r;
			continue;
		}
		if (errno != EAGAIN && errno != EWOULDBLOCK)
			fail_msg("send after %zu bytes: %s", off, strerror(errno));
		if (now_ms() > until)
			fail_msg("sent %zu of %zu bytes", off, len);
		step(f);
	}
}

/* stream_need: a frame of exactly max_frame, larger than the shared read buffer, arriving
 * in many reads, is delivered whole once all of it is there; one announced longer than
 * max_frame closes at once, not when max_frame bytes came. */
static void test_need(void **state)
{
	struct fx *f = *state;
	f->o.max_frame = 200000;
	listen_tcp(f);
	struct client a, b;
	cl_tcp(&a, f->port, 0);
	static char big[200001];
	memset(big, 'n', 200000);
	memcpy(big, "#200000", 7);
	cl_send_all(f, &a, big, 200000);
	WAIT_FOR(f, 5000, cnt(&f->stats.bytes_out) == 200000);
	assert_int_equal(cnt(&f->stats.bytes_in), 200000);
	char line[sizeof f->log[0]];
	snprintf(line, sizeof line, "frame 1 %s", big); /* as the log cuts it */
	const char *want[] = {"open 1", line, "end 1"};
	assert_log(f, 1, want, 3);
	cl_tcp(&b, f->port, 0);
	cl_send(&b, "#200001");
	WAIT_FOR(f, 3000, f->closes[2] == 1);
	assert_string_equal(f->why[2], "frame too large");
	const char *want2[] = {"open 2", "close 2 frame too large"};
	assert_log(f, 2, want2, 2);
	assert_int_equal(f->closes[1], 0);
	cl_close(&a);
	cl_close(&b);
	WAIT_FOR(f, 3000, f->closes[1] == 1);
}

/* What a paused stream keeps of the shared read buffer is its own copy: another
 * connection's reads on the same thread (into that buffer) leave it as it was, and the
 * resume hands it over whole, with the end of the unfinished frame read after. */
static void test_pause_keeps_input(void **state)
{
	struct fx *f = *state;
	f->o.max_frame = 65536;
	listen_tcp(f);
	struct client a, b;
	cl_tcp(&a, f->port, 0);
	const char *sent = "pause\nfirst-after\nsecond-after\npartial";
	cl_send(&a, sent);
	WAIT_FOR(f, 3000, got(&a, "paused\n"));
	cl_tcp(&b, f->port, 0);
	static char fill[60001];
	memset(fill, 'X', 60000);
	fill[59999] = '\n';
	cl_send_all(f, &b, fill, 60000);
	WAIT_FOR(f, 3000, cnt(&f->stats.bytes_in) == strlen(sent) + 60000);
	WAIT_FOR(f, 3000, cnt(&f->stats.bytes_out) == strlen("paused\n") + 60000);
	stream_resume(f->s[1]);
	cl_send(&a, "-end\n");
	WAIT_FOR(f, 3000, got(&a, "partial-end\n"));
	assert_string_equal(a.buf, "paused\nfirst-after\nsecond-after\npartial-end\n");
	cl_close(&a);
	cl_close(&b);
	WAIT_FOR(f, 3000, f->closes[1] == 1 && f->closes[2] == 1);
}

/* TLS 1.2 client-initiated renegotiation is refused (tlsctx: SSL_OP_NO_RENEGOTIATION):
 * the client's attempt fails, the stream ends once, and the next client is served. */
static void test_tls12_renegotiation(void **state)
{
	struct fx *f = *state;
	struct client c;
	tls_hello(f, &c, TLS1_2_VERSION);
	assert_int_equal(SSL_renegotiate(c.ssl), 1);
	int r, e;
	int64_t until = now_ms() + 3000;
	for (;;) {
		ERR_clear_error();
		r = SSL_do_handshake(c.ssl);
		e = r == 1 ? SSL_ERROR_NONE : SSL_get_error(c.ssl, r);
		if (e != SSL_ERROR_WANT_READ && e != SSL_ERROR_WANT_WRITE)
			break;
		if (now_ms() > until)
			fail_msg("renegotiation neither done nor refused");
		step(f);
	}
	assert_int_not_equal(r, 1);
	cl_close(&c);
	WAIT_FOR(f, 3000, f->closes[1] == 1);
	cl_tls(f, &c, TLS1_2_VERSION);
	cl_send(&c, "next\n");
	WAIT_FOR(f, 3000, got(&c, "next\n"));
	assert_int_equal(f->closes[2], 0);
	cl_close(&c);
	WAIT_FOR(f, 3000, f->closes[2] == 1);
}

/* TLS 1.3 KeyUpdates asking for ours, one before each request, 200 of them: every
 * request answered, no failure. */
static void test_tls13_key_updates(void **state)
{
	struct fx *f = *state;
	listen_tls(f);
	struct client c;
	cl_tls(f, &c, TLS1_3_VERSION);
	static char want[2048];
	char line[16];
	for (int i = 0; i < 200; i++) {
		assert_int_equal(SSL_key_update(c.ssl, SSL_KEY_UPDATE_REQUESTED), 1);
		snprintf(line, sizeof line, "k%03d\n", i);
		tu_append(want, sizeof want, line);
		cl_send(&c, line); /* the KeyUpdate, then the request */
		step(f);
		cl_poll(&c);
	}
	WAIT_FOR(f, 5000, got(&c, line));
	assert_string_equal(c.buf, want);
	cl_end_clean(f, &c, 1);
}

/* Garbage after the handshake (not a TLS record) is a TLS failure, counted once under one
 * reason; the stream ends and is counted closed. */
static void test_tls_garbage_after_handshake(void **state)
{
	struct fx *f = *state;
	struct client c;
	tls_hello(f, &c, TLS1_2_VERSION);
	const char junk[] = "GET / HTTP/1.1\r\nHost: x\r\n\r\n";
	assert_int_equal(send(c.fd, junk, sizeof junk - 1, MSG_NOSIGNAL),
	                 (ssize_t)(sizeof junk - 1));
	WAIT_FOR(f, 3000, f->closes[1] == 1);
	assert_int_equal(cnt(&f->stats.tls_failed), 1);
	uint64_t by = 0;
	for (int r = 0; r < STREAM_TLS_FAIL_N; r++)
		by += cnt(&f->stats.tls_failed_by[r]);
	assert_int_equal(by, 1);
	const char *want[] = {"open 1", "frame 1 hi", "end 1"};
	for (int i = 0; i < 3; i++)
		assert_string_equal(f->log[i], want[i]);
	assert_int_equal(atomic_load(&f->stats.open), 0);
	cl_close(&c);
}

/* A TLS 1.3 close_notify followed by more bytes (a record, then junk): the answer to what
 * came before goes out, the rest is not read; no TLS failure. */
static void test_tls13_close_notify_then_data(void **state)
{
	struct fx *f = *state;
	listen_tls(f);
	struct client c;
	cl_tls(f, &c, TLS1_3_VERSION);
	cl_send(&c, "hi\n");
	assert_int_equal(SSL_shutdown(c.ssl), 0);
	const char junk[] = "after the end\n";
	assert_int_equal(send(c.fd, junk, sizeof junk - 1, MSG_NOSIGNAL),
	                 (ssize_t)(sizeof junk - 1));
	WAIT_FOR(f, 3000, f->closes[1] == 1);
	assert_string_equal(f->why[1], "peer closed the connection");
	WAIT_FOR(f, 3000, ended(&c));
	assert_string_equal(c.buf, "hi\n");
	assert_int_equal(c.close_notify, 1);
	const char *want[] = {"open 1", "frame 1 hi", "end 1",
	                      "close 1 peer closed the connection"};
	assert_log(f, 1, want, 4);
	assert_int_equal(cnt(&f->stats.tls_failed), 0);
	cl_close(&c);
}

/* A peer that resets the connection while its answer is still queued: the stream ends once
 * ("connection error"), counted closed; the next peer is served. */
static void test_reset_mid_write(void **state)
{
	struct fx *f = *state;
	listen_tcp(f);
	struct client c;
	cl_tcp(&c, f->port, 4096);
	cl_send(&c, "big\n");
	WAIT_FOR(f, 3000, f->s[1] && stream_pending(f->s[1]) > 0);
	struct linger lg = {1, 0};
	assert_int_equal(setsockopt(c.fd, SOL_SOCKET, SO_LINGER, &lg, sizeof lg), 0);
	cl_close(&c); /* a reset */
	WAIT_FOR(f, 3000, f->closes[1] == 1);
	assert_string_equal(f->why[1], "connection error");
	assert_int_equal(atomic_load(&f->stats.open), 0);
	assert_int_equal(stream_listener_count(f->l), 0);
	cl_tcp(&c, f->port, 0);
	cl_send(&c, "next\n");
	WAIT_FOR(f, 3000, got(&c, "next\n"));
	cl_close(&c);
	WAIT_FOR(f, 3000, f->closes[2] == 1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_echo_tcp, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_caps, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_open_refused, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_timeouts, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_deferred_close, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_close_after_flush, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_lingering_close, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_slow_consumer, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_tls12_server_close, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_tls13_server_close, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_tls12_client_close, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_tls13_client_close, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_tls_garbage, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_tls_pipelined, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_crlf_keepalive, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_pause_resume, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_references, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_frame_limits, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_unix, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_listener_free, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_fd_exhaustion, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_tls_handshake_timeout, setup, teardown),
	    cmocka_unit_test(test_tls_fail_classify),
	    cmocka_unit_test_setup_teardown(test_address_list, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_batch_one_write, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_tls12_read_ahead, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_tls13_read_ahead, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_tls_partial_write, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_split_every_byte, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_tls_stale_error, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_half_close, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_drain_writes, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_need, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_pause_keeps_input, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_tls12_renegotiation, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_tls13_key_updates, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_tls_garbage_after_handshake, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_tls13_close_notify_then_data, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_reset_mid_write, setup, teardown),
	};
	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
