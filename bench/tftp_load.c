/* SPDX-License-Identifier: ISC */
/*
 * bench/tftp_load: a TFTP load client for bench/run.sh files, the same for every server.
 * Independent of telgate's code (it measures telgated against dnsmasq, tftpd-hpa and
 * atftpd, so it must not share telgated's parser). Each transfer has its own UDP socket
 * (a client TID of its own, as RFC 1350 wants); T threads each run one epoll loop with
 * C/T transfers in flight and start a new one as soon as one ends.
 *
 * Read requests (octet) with the options asked for: blksize (RFC 2348), tsize and timeout
 * (RFC 2349), windowsize (RFC 7440: the client acknowledges every window, and the last
 * in-order block when one is missing). Block numbers roll over after 65535. Every file is
 * checked: its size (-s, or the size of -V's file) and, with -V, its bytes.
 *
 * Boot storm (--storm P): P simulated phones, each fetches GET PREFIX<12 hex digits of its
 * number, 1..P>SUFFIX over a new HTTP/1.1 connection, then reads FILE over TFTP; the time
 * of a phone is from its connect to its last TFTP block. All phones start at once, or
 * spread over --ramp-ms. With -S, transfers (phones) come from addresses of their own in
 * 127.1/16, as phones on a network do, so that per-source limits see many sources.
 *
 * With -d, transfers are started for that long; those still in flight then are let finish
 * ("drained": checked, counted apart, not in the rate), so no server is left retransmitting
 * to a closed socket. Prints a human summary on stderr and one JSON object on stdout:
 * completed, drained, failed, bytes, seconds, rate, p50/p99/max latency in microseconds,
 * the client's own CPU seconds, the blksize and windowsize granted and the first error. Exits 1
 * when any transfer failed.
 *
 * usage: tftp_load [options] HOST PORT FILE    (see usage() below)
 */
#ifndef _DEFAULT_SOURCE
#define _DEFAULT_SOURCE
#endif
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

enum { OP_RRQ = 1, OP_DATA = 3, OP_ACK = 4, OP_ERROR = 5, OP_OACK = 6 };
enum { PH_IDLE, PH_HTTP_CONNECT, PH_HTTP_READ, PH_TFTP };
/* Why a transfer failed; the counts are printed per kind. */
enum { F_TIMEOUT, F_ERROR_PKT, F_SIZE, F_CONTENT, F_PROTO, F_HTTP, F_SOCKET, F_KINDS };
static const char *const fail_names[F_KINDS] = {"timeout",  "error_packet", "size",  "content",
                                                "protocol", "http",         "socket"};

/* Options, set once by main before the threads start. */
static struct sockaddr_in srv_tftp, srv_http;
static const char *file_name;
static int conc = 64, nthreads = 1, blksize_opt, window_opt, tsize_opt, timeout_opt;
static long count_opt;                     /* transfers to complete; 0 = until duration */
static double duration_s = 5;              /* rrq mode: how long transfers are started */
static int rto_ms = 1000, max_retries = 5; /* client retransmission of RRQ/ACK */
static long expect_size = -1;              /* -1 = not checked */
static unsigned char *ref;                 /* -V: the expected bytes */
static long storm_phones;                  /* 0 = rrq mode */
static int ramp_ms;
static const char *http_prefix = "/SEP", *http_suffix = ".cnf.xml";
static long http_expect = -1;
static long nsources; /* -S: transfers come from 127.1.0.1.. (0 = the kernel picks) */
static int64_t t_begin_us, t_stop_us; /* start; stop starting transfers (rrq mode) */

static int64_t now_us(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

struct xfer {
	int fd, phase, retries, connected, in_window, gap_acked;
	long phone;                       /* storm: the phone's number, 1.. */
	int64_t t_start, t_retx, t_phase; /* started; next retransmission; phase began */
	uint16_t next_block;              /* the DATA block expected next */
	unsigned blksize, window;         /* as granted (512 and 1 when no OACK) */
	uint64_t bytes;
	unsigned char last[516]; /* the RRQ or the last ACK, sent again on timeout */
	size_t last_len;
	char *hbuf; /* storm: the HTTP answer so far */
	size_t hlen, hcap;
};

struct lats {
	int64_t *v;
	size_t n, cap;
};

struct worker {
	pthread_t th;
	int ep, id;
	struct xfer *x;
	int nx;
	long started, quota; /* transfers started; how many this worker may start */
	long done, drained, fail[F_KINDS];
	uint64_t bytes, bytes_drained;
	unsigned granted_blksize, granted_window; /* by the first transfer that completed */
	struct lats lat, http_lat; /* per transfer (phone); storm: its HTTP part alone */
	long retx;                 /* RRQs and ACKs sent again after a timeout */
	char first_err[200];
};

static atomic_long phones_next; /* storm: the next phone number to start */

static void fail_note(struct worker *w, struct xfer *x, int kind, const char *what, const char *s)
{
	w->fail[kind]++;
	if (!w->first_err[0])
		snprintf(w->first_err, sizeof w->first_err, "%s (phone %ld, %llu bytes): %s%.100s",
		         fail_names[kind], x->phone, (unsigned long long)x->bytes, what,
		         s ? s : "");
}

static unsigned char rrq[600];
static size_t rrq_len;

static void rrq_build(void)
{
	size_t n = 0;
	rrq[n++] = 0;
	rrq[n++] = OP_RRQ;
	n += (size_t)snprintf((char *)rrq + n, sizeof rrq - n, "%s", file_name) + 1;
	n += (size_t)snprintf((char *)rrq + n, sizeof rrq - n, "octet") + 1;
	if (blksize_opt) {
		n += (size_t)snprintf((char *)rrq + n, sizeof rrq - n, "blksize") + 1;
		n += (size_t)snprintf((char *)rrq + n, sizeof rrq - n, "%d", blksize_opt) + 1;
	}
	if (tsize_opt) {
		n += (size_t)snprintf((char *)rrq + n, sizeof rrq - n, "tsize") + 1;
		n += (size_t)snprintf((char *)rrq + n, sizeof rrq - n, "0") + 1;
	}
	if (timeout_opt) {
		n += (size_t)snprintf((char *)rrq + n, sizeof rrq - n, "timeout") + 1;
		n += (size_t)snprintf((char *)rrq + n, sizeof rrq - n, "%d", timeout_opt) + 1;
	}
	if (window_opt) {
		n += (size_t)snprintf((char *)rrq + n, sizeof rrq - n, "windowsize") + 1;
		n += (size_t)snprintf((char *)rrq + n, sizeof rrq - n, "%d", window_opt) + 1;
	}
	rrq_len = n;
}

static void xfer_close(struct xfer *x)
{
	if (x->fd >= 0)
		close(x->fd);
	x->fd = -1;
	x->phase = PH_IDLE;
}

static void lat_add(struct lats *l, int64_t us)
{
	if (l->n == l->cap) {
		l->cap = l->cap ? l->cap * 2 : 4096;
		int64_t *n = realloc(l->v, l->cap * sizeof *n);
		if (!n) {
			perror("realloc");
			exit(1);
		}
		l->v = n;
	}
	l->v[l->n++] = us;
}

/* -S: each transfer (phone) from an address of its own in 127.1/16, as phones on a network
 * would be, so that a server's per-source limits see many sources. */
static int source_bind(struct xfer *x)
{
	if (!nsources)
		return 0;
	unsigned long i = (unsigned long)(x->phone - 1) % (unsigned long)nsources + 1;
	struct sockaddr_in a = {.sin_family = AF_INET};
	a.sin_addr.s_addr = htonl(0x7f010000u | (uint32_t)(i & 0xffff));
	return bind(x->fd, (struct sockaddr *)&a, sizeof a);
}

static int tftp_begin(struct worker *w, struct xfer *x)
{
	x->fd = socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (x->fd < 0 || source_bind(x) != 0)
		return -1;
	struct epoll_event ev = {.events = EPOLLIN, .data.ptr = x};
	if (epoll_ctl(w->ep, EPOLL_CTL_ADD, x->fd, &ev) != 0)
		return -1;
	x->phase = PH_TFTP;
	x->connected = 0;
	x->next_block = 1;
	x->blksize = 512;
	x->window = 1;
	x->in_window = 0;
	x->bytes = 0;
	x->retries = 0;
	x->t_phase = now_us();
	memcpy(x->last, rrq, rrq_len < sizeof x->last ? rrq_len : sizeof x->last);
	x->last_len = rrq_len;
	x->t_retx = x->t_phase + rto_ms * 1000;
	if (sendto(x->fd, rrq, rrq_len, 0, (struct sockaddr *)&srv_tftp, sizeof srv_tftp) < 0 &&
	    errno != EAGAIN)
		return -1;
	return 0;
}

static int http_begin(struct worker *w, struct xfer *x)
{
	x->fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (x->fd < 0 || source_bind(x) != 0)
		return -1;
	if (connect(x->fd, (struct sockaddr *)&srv_http, sizeof srv_http) != 0 &&
	    errno != EINPROGRESS)
		return -1;
	struct epoll_event ev = {.events = EPOLLOUT, .data.ptr = x};
	if (epoll_ctl(w->ep, EPOLL_CTL_ADD, x->fd, &ev) != 0)
		return -1;
	x->phase = PH_HTTP_CONNECT;
	x->hlen = 0;
	x->bytes = 0;
	x->t_phase = now_us();
	x->t_retx = x->t_phase + (int64_t)rto_ms * 1000 * (max_retries + 1);
	return 0;
}

/* Starts the next transfer (or phone) in slot x, if there is one to start. */
static void xfer_start(struct worker *w, struct xfer *x)
{
	x->fd = -1;
	x->phase = PH_IDLE;
	int64_t now = now_us();
	if (storm_phones) {
		long p = atomic_fetch_add(&phones_next, 1) + 1;
		if (p > storm_phones)
			return;
		x->phone = p;
		w->started++;
		/* --ramp-ms: phone p boots at its share of the ramp; until then the slot waits */
		x->t_start = t_begin_us + (int64_t)ramp_ms * 1000 * (p - 1) / storm_phones;
		if (x->t_start > now) {
			x->phase = PH_HTTP_CONNECT; /* not yet connected: fd < 0 marks the wait */
			x->t_retx = x->t_start;
			return;
		}
		x->t_start = now;
		if (http_begin(w, x) != 0) {
			fail_note(w, x, F_SOCKET, "http socket: ", strerror(errno));
			xfer_close(x);
		}
		return;
	}
	if ((w->quota && w->started >= w->quota) || (!count_opt && now >= t_stop_us))
		return;
	w->started++;
	x->phone = w->started;
	x->t_start = now;
	if (tftp_begin(w, x) != 0) {
		fail_note(w, x, F_SOCKET, "tftp socket: ", strerror(errno));
		xfer_close(x);
	}
}

static void xfer_finish(struct worker *w, struct xfer *x, int ok)
{
	if (ok && !w->granted_blksize) {
		w->granted_blksize = x->blksize;
		w->granted_window = x->window;
	}
	if (ok && !storm_phones && !count_opt && now_us() >= t_stop_us) {
		w->drained++;
		w->bytes_drained += x->bytes;
		lat_add(&w->lat, now_us() - x->t_start);
	} else if (ok) {
		w->done++;
		w->bytes += x->bytes;
		lat_add(&w->lat, now_us() - x->t_start);
	}
	xfer_close(x);
	xfer_start(w, x);
}

static void send_ack(struct xfer *x, uint16_t block)
{
	x->last[0] = 0;
	x->last[1] = OP_ACK;
	x->last[2] = (unsigned char)(block >> 8);
	x->last[3] = (unsigned char)block;
	x->last_len = 4;
	x->in_window = 0;
	(void)send(x->fd, x->last, 4, 0);
}

/* An OACK: takes the granted options; returns -1 on a value the client did not ask for. */
static int oack_parse(struct worker *w, struct xfer *x, const unsigned char *p, size_t n)
{
	size_t i = 2;
	while (i < n) {
		const char *k = (const char *)p + i;
		const void *z = memchr(p + i, 0, n - i);
		if (!z)
			return -1;
		i = (size_t)((const unsigned char *)z - p) + 1;
		const void *z2 = memchr(p + i, 0, n - i);
		if (!z2 || i >= n)
			return -1;
		const char *v = (const char *)p + i;
		i = (size_t)((const unsigned char *)z2 - p) + 1;
		long val = strtol(v, NULL, 10);
		if (!strcasecmp(k, "blksize")) {
			if (!blksize_opt || val < 8 || val > blksize_opt)
				return -1;
			x->blksize = (unsigned)val;
		} else if (!strcasecmp(k, "windowsize")) {
			if (!window_opt || val < 1 || val > window_opt)
				return -1;
			x->window = (unsigned)val;
		} else if (!strcasecmp(k, "tsize")) {
			if (expect_size >= 0 && val != expect_size) {
				fail_note(w, x, F_SIZE, "tsize ", v);
				return -2;
			}
		}
	}
	return 0;
}

static void tftp_read(struct worker *w, struct xfer *x)
{
	unsigned char buf[65536 + 4];
	for (;;) {
		struct sockaddr_in from;
		socklen_t fl = sizeof from;
		ssize_t r = recvfrom(x->fd, buf, sizeof buf, 0, (struct sockaddr *)&from, &fl);
		if (r < 0) {
			if (errno == EAGAIN || errno == EINTR)
				return;
			fail_note(w, x, F_SOCKET, "recv: ", strerror(errno));
			xfer_finish(w, x, 0);
			return;
		}
		if (!x->connected) {
			/* the first answer names the server's TID: later datagrams come from it
			 * only (connect() makes the kernel drop the others) */
			if (from.sin_addr.s_addr != srv_tftp.sin_addr.s_addr)
				continue;
			if (connect(x->fd, (struct sockaddr *)&from, fl) != 0) {
				fail_note(w, x, F_SOCKET, "connect: ", strerror(errno));
				xfer_finish(w, x, 0);
				return;
			}
			x->connected = 1;
		}
		if (r < 4) {
			fail_note(w, x, F_PROTO, "short packet", NULL);
			xfer_finish(w, x, 0);
			return;
		}
		int op = buf[0] << 8 | buf[1];
		uint16_t blk = (uint16_t)(buf[2] << 8 | buf[3]);
		int64_t now = now_us();
		if (op == OP_ERROR) {
			buf[r < (ssize_t)sizeof buf ? r : r - 1] = 0;
			fail_note(w, x, F_ERROR_PKT, "", (const char *)buf + 4);
			xfer_finish(w, x, 0);
			return;
		}
		if (op == OP_OACK) {
			if (x->bytes || x->next_block != 1) /* a late copy: the data is flowing */
				continue;
			int rc = oack_parse(w, x, buf, (size_t)r);
			if (rc != 0) {
				if (rc == -1)
					fail_note(w, x, F_PROTO, "bad OACK", NULL);
				xfer_finish(w, x, 0);
				return;
			}
			send_ack(x, 0);
			x->retries = 0;
			x->t_retx = now + rto_ms * 1000;
			continue;
		}
		if (op != OP_DATA) {
			fail_note(w, x, F_PROTO, "unexpected opcode", NULL);
			xfer_finish(w, x, 0);
			return;
		}
		size_t len = (size_t)r - 4;
		if (blk != x->next_block) {
			/* behind: a copy of a block already taken (the server timed out and
			 * sent the window again): acknowledge once, at the copy of the last block
			 * taken; ahead: one was lost: acknowledge the last in-order block once
			 * until the data moves on (RFC 7440's receiver). */
			uint16_t prev = (uint16_t)(x->next_block - 1);
			if (blk == prev) {
				send_ack(x, prev); /* the end of a window sent again */
			} else if ((uint16_t)(blk - x->next_block) < 0x8000 && !x->gap_acked) {
				send_ack(x, prev);
				x->gap_acked = 1;
			}
			continue;
		}
		if (len > x->blksize) {
			fail_note(w, x, F_PROTO, "DATA longer than blksize", NULL);
			xfer_finish(w, x, 0);
			return;
		}
		if (expect_size >= 0 && x->bytes + len > (uint64_t)expect_size) {
			fail_note(w, x, F_SIZE, "more bytes than expected", NULL);
			xfer_finish(w, x, 0);
			return;
		}
		if (ref && memcmp(ref + x->bytes, buf + 4, len) != 0) {
			fail_note(w, x, F_CONTENT, "bytes differ", NULL);
			xfer_finish(w, x, 0);
			return;
		}
		x->bytes += len;
		x->next_block++;
		x->gap_acked = 0;
		x->in_window++;
		x->retries = 0;
		x->t_retx = now + rto_ms * 1000;
		if (len < x->blksize) {
			send_ack(x, blk);
			if (expect_size >= 0 && x->bytes != (uint64_t)expect_size) {
				fail_note(w, x, F_SIZE, "fewer bytes than expected", NULL);
				xfer_finish(w, x, 0);
			} else {
				xfer_finish(w, x, 1);
			}
			return;
		}
		if ((unsigned)x->in_window >= x->window)
			send_ack(x, blk);
	}
}

/* Storm: the answer so far is complete when its headers and Content-Length bytes are in
 * (or the server closed). Returns 1 complete and good, 0 not yet, -1 bad. */
static int http_check(struct worker *w, struct xfer *x, int eof)
{
	x->hbuf[x->hlen] = 0;
	char *end = strstr(x->hbuf, "\r\n\r\n");
	if (!end)
		return eof ? (fail_note(w, x, F_HTTP, "no header end", NULL), -1) : 0;
	int status = 0;
	if (sscanf(x->hbuf, "HTTP/1.%*d %d", &status) != 1 || status != 200) {
		char line[80];
		snprintf(line, sizeof line, "%.*s", (int)strcspn(x->hbuf, "\r\n"), x->hbuf);
		fail_note(w, x, F_HTTP, "status: ", line);
		return -1;
	}
	long clen = -1;
	for (char *h = strstr(x->hbuf, "\r\n"); h && h < end; h = strstr(h + 2, "\r\n"))
		if (!strncasecmp(h + 2, "Content-Length:", 15))
			clen = strtol(h + 17, NULL, 10);
	size_t body = x->hlen - (size_t)(end + 4 - x->hbuf);
	if (clen >= 0 && body < (size_t)clen)
		return eof ? (fail_note(w, x, F_HTTP, "short body", NULL), -1) : 0;
	if (clen < 0 && !eof)
		return 0;
	if (http_expect >= 0 && (long)body != http_expect) {
		fail_note(w, x, F_SIZE, "http body size differs", NULL);
		return -1;
	}
	return 1;
}

static void http_event(struct worker *w, struct xfer *x, uint32_t events)
{
	if (x->phase == PH_HTTP_CONNECT) {
		int err = 0;
		socklen_t el = sizeof err;
		getsockopt(x->fd, SOL_SOCKET, SO_ERROR, &err, &el);
		if (err || (events & (EPOLLERR | EPOLLHUP))) {
			fail_note(w, x, F_HTTP, "connect: ", strerror(err ? err : ECONNRESET));
			xfer_finish(w, x, 0);
			return;
		}
		char req[256];
		int n = snprintf(req, sizeof req,
		                 "GET %s%012lX%s HTTP/1.1\r\nHost: %s:%d\r\n"
		                 "User-Agent: bench_tftp_load\r\nConnection: close\r\n\r\n",
		                 http_prefix, (unsigned long)x->phone, http_suffix,
		                 inet_ntoa(srv_http.sin_addr), ntohs(srv_http.sin_port));
		if (write(x->fd, req, (size_t)n) != n) {
			fail_note(w, x, F_HTTP, "write: ", strerror(errno));
			xfer_finish(w, x, 0);
			return;
		}
		struct epoll_event ev = {.events = EPOLLIN, .data.ptr = x};
		epoll_ctl(w->ep, EPOLL_CTL_MOD, x->fd, &ev);
		x->phase = PH_HTTP_READ;
		return;
	}
	for (;;) {
		if (x->hcap - x->hlen < 4097) {
			x->hcap = x->hcap ? x->hcap * 2 : 16384;
			char *nb = realloc(x->hbuf, x->hcap);
			if (!nb) {
				perror("realloc");
				exit(1);
			}
			x->hbuf = nb;
		}
		ssize_t r = read(x->fd, x->hbuf + x->hlen, x->hcap - x->hlen - 1);
		if (r < 0 && (errno == EAGAIN || errno == EINTR))
			return;
		if (r < 0) {
			fail_note(w, x, F_HTTP, "read: ", strerror(errno));
			xfer_finish(w, x, 0);
			return;
		}
		x->hlen += (size_t)r;
		int c = http_check(w, x, r == 0);
		if (c < 0) {
			xfer_finish(w, x, 0);
			return;
		}
		if (c > 0) {
			lat_add(&w->http_lat, now_us() - x->t_phase);
			close(x->fd);
			x->fd = -1;
			if (tftp_begin(w, x) != 0) {
				fail_note(w, x, F_SOCKET, "tftp socket: ", strerror(errno));
				xfer_finish(w, x, 0);
			}
			return;
		}
	}
}

/* Retransmits what is overdue and abandons what ran out of retries; starts ramped phones. */
static void timers(struct worker *w)
{
	int64_t now = now_us();
	for (int i = 0; i < w->nx; i++) {
		struct xfer *x = &w->x[i];
		if (x->phase == PH_IDLE || now < x->t_retx)
			continue;
		if (x->fd < 0) { /* a ramped phone whose time has come */
			x->t_start = now;
			if (http_begin(w, x) != 0) {
				fail_note(w, x, F_SOCKET, "http socket: ", strerror(errno));
				xfer_finish(w, x, 0);
			}
			continue;
		}
		if (x->phase != PH_TFTP || ++x->retries > max_retries) {
			fail_note(w, x, F_TIMEOUT, x->phase == PH_TFTP ? "tftp" : "http", NULL);
			xfer_finish(w, x, 0);
			continue;
		}
		if (x->connected)
			(void)send(x->fd, x->last, x->last_len, 0);
		else
			(void)sendto(x->fd, x->last, x->last_len, 0, (struct sockaddr *)&srv_tftp,
			             sizeof srv_tftp);
		x->t_retx = now + (int64_t)rto_ms * 1000;
		w->retx++;
	}
}

static int busy(struct worker *w)
{
	for (int i = 0; i < w->nx; i++)
		if (w->x[i].phase != PH_IDLE)
			return 1;
	return 0;
}

static void *worker_run(void *arg)
{
	struct worker *w = arg;
	w->ep = epoll_create1(EPOLL_CLOEXEC);
	for (int i = 0; i < w->nx; i++) {
		w->x[i].fd = -1;
		xfer_start(w, &w->x[i]);
	}
	struct epoll_event evs[256];
	int64_t last_timers = now_us();
	while (busy(w)) {
		int n = epoll_wait(w->ep, evs, 256, 10);
		for (int i = 0; i < n; i++) {
			struct xfer *x = evs[i].data.ptr;
			if (x->phase == PH_TFTP)
				tftp_read(w, x);
			else if (x->phase == PH_HTTP_CONNECT || x->phase == PH_HTTP_READ)
				http_event(w, x, evs[i].events);
		}
		int64_t now = now_us();
		if (now - last_timers >= 5000) {
			timers(w);
			last_timers = now;
		}
	}
	close(w->ep);
	return NULL;
}

static int cmp_i64(const void *a, const void *b)
{
	int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
	return x < y ? -1 : x > y;
}

static void usage(void)
{
	fprintf(stderr,
	        "usage: tftp_load [options] HOST TFTP_PORT FILE\n"
	        "  -c N        transfers in flight (default 64)\n"
	        "  -t N        threads, each its own epoll loop (default 1)\n"
	        "  -n N        complete N transfers, then stop (default: run for -d)\n"
	        "  -d SECONDS  start transfers for this long (default 5)\n"
	        "  -b N        ask for blksize N   -w N  windowsize N   -T  tsize\n"
	        "  -o N        ask for timeout N seconds\n"
	        "  -s BYTES    expected file size  -V PATH  expected bytes (and size)\n"
	        "  -r MS       client retransmission timeout (default 1000)  -R N  retries (5)\n"
	        "  -S N        spread transfers over N source addresses 127.1.0.1.. (< 65535)\n"
	        "  --storm P   boot storm of P phones: HTTP GET, then TFTP FILE\n"
	        "  --http-port N --http-prefix /SEP --http-suffix .cnf.xml\n"
	        "  --http-size BYTES  expected body size   --ramp-ms MS  spread the boots\n");
	exit(2);
}

int main(int argc, char **argv)
{
	static const struct option lo[] = {{"storm", required_argument, NULL, 1},
	                                   {"http-port", required_argument, NULL, 2},
	                                   {"http-prefix", required_argument, NULL, 3},
	                                   {"http-suffix", required_argument, NULL, 4},
	                                   {"http-size", required_argument, NULL, 5},
	                                   {"ramp-ms", required_argument, NULL, 6},
	                                   {NULL, 0, NULL, 0}};
	int http_port = 0, c;
	const char *verify = NULL;
	while ((c = getopt_long(argc, argv, "c:t:n:d:b:w:To:s:V:r:R:S:", lo, NULL)) != -1) {
		switch (c) {
		case 'c':
			conc = atoi(optarg);
			break;
		case 't':
			nthreads = atoi(optarg);
			break;
		case 'n':
			count_opt = atol(optarg);
			break;
		case 'd':
			duration_s = atof(optarg);
			break;
		case 'b':
			blksize_opt = atoi(optarg);
			break;
		case 'w':
			window_opt = atoi(optarg);
			break;
		case 'T':
			tsize_opt = 1;
			break;
		case 'o':
			timeout_opt = atoi(optarg);
			break;
		case 's':
			expect_size = atol(optarg);
			break;
		case 'V':
			verify = optarg;
			break;
		case 'r':
			rto_ms = atoi(optarg);
			break;
		case 'S':
			nsources = atol(optarg);
			break;
		case 'R':
			max_retries = atoi(optarg);
			break;
		case 1:
			storm_phones = atol(optarg);
			break;
		case 2:
			http_port = atoi(optarg);
			break;
		case 3:
			http_prefix = optarg;
			break;
		case 4:
			http_suffix = optarg;
			break;
		case 5:
			http_expect = atol(optarg);
			break;
		case 6:
			ramp_ms = atoi(optarg);
			break;
		default:
			usage();
		}
	}
	if (argc - optind != 3 || conc < 1 || nthreads < 1 || blksize_opt > 65464 ||
	    strlen(argv[optind + 2]) > 400 || nsources < 0 || nsources > 65534 ||
	    (storm_phones && !http_port))
		usage();
	srv_tftp.sin_family = srv_http.sin_family = AF_INET;
	if (inet_pton(AF_INET, argv[optind], &srv_tftp.sin_addr) != 1)
		usage();
	srv_http.sin_addr = srv_tftp.sin_addr;
	srv_tftp.sin_port = htons((uint16_t)atoi(argv[optind + 1]));
	srv_http.sin_port = htons((uint16_t)http_port);
	file_name = argv[optind + 2];
	if (verify) {
		FILE *f = fopen(verify, "rb");
		struct stat st;
		if (!f || fstat(fileno(f), &st) != 0) {
			perror(verify);
			return 2;
		}
		ref = malloc((size_t)st.st_size + 1);
		if (!ref || fread(ref, 1, (size_t)st.st_size, f) != (size_t)st.st_size) {
			perror(verify);
			return 2;
		}
		fclose(f);
		expect_size = (long)st.st_size;
	}
	rrq_build();
	if (storm_phones) {
		conc = (int)storm_phones; /* every phone boots at once (or along the ramp) */
		count_opt = storm_phones;
	}
	if (nthreads > conc)
		nthreads = conc;
	/* one descriptor per transfer in flight, two while a phone goes from HTTP to TFTP */
	struct rlimit rl;
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		setrlimit(RLIMIT_NOFILE, &rl);
	}

	struct worker *ws = calloc((size_t)nthreads, sizeof *ws);
	if (!ws)
		return 1;
	t_begin_us = now_us();
	t_stop_us = t_begin_us + (int64_t)(duration_s * 1e6);
	for (int i = 0; i < nthreads; i++) {
		struct worker *w = &ws[i];
		w->id = i;
		w->nx = conc / nthreads + (i < conc % nthreads);
		w->x = calloc((size_t)w->nx, sizeof *w->x);
		if (!w->x)
			return 1;
		if (count_opt && !storm_phones)
			w->quota = count_opt / nthreads + (i < count_opt % nthreads);
		if (pthread_create(&w->th, NULL, worker_run, w) != 0) {
			perror("pthread_create");
			return 1;
		}
	}
	long done = 0, drained = 0, failed = 0, fk[F_KINDS] = {0};
	uint64_t bytes = 0, bytes_all = 0;
	long retx = 0;
	const char *first_err = "";
	unsigned gblk = 0, gwin = 0;
	for (int i = 0; i < nthreads; i++) {
		pthread_join(ws[i].th, NULL);
		done += ws[i].done;
		drained += ws[i].drained;
		bytes += ws[i].bytes;
		bytes_all += ws[i].bytes + ws[i].bytes_drained;
		retx += ws[i].retx;
		for (int k = 0; k < F_KINDS; k++) {
			fk[k] += ws[i].fail[k];
			failed += ws[i].fail[k];
		}
		if (!first_err[0])
			first_err = ws[i].first_err;
		if (!gblk) {
			gblk = ws[i].granted_blksize;
			gwin = ws[i].granted_window;
		}
	}
	int64_t t_end = now_us();
	/* rrq mode with -d: the rate is over the measured time, not the drain after it */
	double secs =
	    (double)((!storm_phones && !count_opt ? t_stop_us : t_end) - t_begin_us) / 1e6;
	double wall = (double)(t_end - t_begin_us) / 1e6;
	struct lats lat = {0}, hlat = {0};
	for (int i = 0; i < nthreads; i++) {
		for (size_t j = 0; j < ws[i].lat.n; j++)
			lat_add(&lat, ws[i].lat.v[j]);
		for (size_t j = 0; j < ws[i].http_lat.n; j++)
			lat_add(&hlat, ws[i].http_lat.v[j]);
	}
	if (lat.n)
		qsort(lat.v, lat.n, sizeof *lat.v, cmp_i64);
	if (hlat.n)
		qsort(hlat.v, hlat.n, sizeof *hlat.v, cmp_i64);
#define PCT(l, p) ((l).n ? (l).v[(size_t)((p) / 100.0 * (double)((l).n - 1) + 0.5)] : 0)
	struct rusage ru;
	getrusage(RUSAGE_SELF, &ru);
	double cpu = (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6 +
	             (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec / 1e6;
	fprintf(stderr,
	        "tftp_load: %ld completed (and %ld after the measured time), %ld failed, "
	        "%.1f MiB in %.2f s: %.0f transfers/s, %.1f MiB/s; latency p50 %.2f ms "
	        "p99 %.2f ms max %.2f ms; %ld retransmissions; client CPU %.2f s in %.2f s\n",
	        done, drained, failed, (double)bytes / 1048576.0, secs, (double)done / secs,
	        (double)bytes / 1048576.0 / secs, (double)PCT(lat, 50) / 1e3,
	        (double)PCT(lat, 99) / 1e3, (double)PCT(lat, 100) / 1e3, retx, cpu, wall);
	if (hlat.n)
		fprintf(stderr, "tftp_load:   HTTP part: p50 %.2f ms p99 %.2f ms max %.2f ms\n",
		        (double)PCT(hlat, 50) / 1e3, (double)PCT(hlat, 99) / 1e3,
		        (double)PCT(hlat, 100) / 1e3);
	for (int i = 0; i < F_KINDS; i++)
		if (fk[i])
			fprintf(stderr, "tftp_load:   %ld failed by %s\n", fk[i], fail_names[i]);
	if (first_err[0])
		fprintf(stderr, "tftp_load:   first failure: %s\n", first_err);
	printf("{\"completed\": %ld, \"drained\": %ld, \"failed\": %ld, \"bytes\": %llu, "
	       "\"bytes_all\": %llu, \"seconds\": %.6f, \"wall_s\": %.6f, \"per_s\": %.1f, "
	       "\"mib_s\": %.3f, \"p50_us\": %lld, \"p99_us\": %lld, \"max_us\": %lld, "
	       "\"http_p99_us\": %lld, \"retransmissions\": %ld, "
	       "\"client_cpu_s\": %.3f, \"blksize\": %u, \"windowsize\": %u, "
	       "\"first_error\": \"",
	       done, drained, failed, (unsigned long long)bytes, (unsigned long long)bytes_all,
	       secs, wall, (double)done / secs, (double)bytes / 1048576.0 / secs,
	       (long long)PCT(lat, 50), (long long)PCT(lat, 99), (long long)PCT(lat, 100),
	       (long long)PCT(hlat, 99), retx, cpu, gblk, gwin);
	for (const char *p = first_err; *p; p++)
		if (*p >= 0x20 && *p != '"' && *p != '\\')
			putchar(*p);
	printf("\"}\n");
	for (int i = 0; i < nthreads; i++) {
		for (int j = 0; j < ws[i].nx; j++)
			free(ws[i].x[j].hbuf);
		free(ws[i].x);
		free(ws[i].lat.v);
		free(ws[i].http_lat.v);
	}
	free(ws);
	free(lat.v);
	free(hlat.v);
	free(ref);
	return failed ? 1 : 0;
}
