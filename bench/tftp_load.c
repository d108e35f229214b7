/* SPDX-License-Identifier: ISC */
/*
 * bench/tftp_load: a TFTP load client for bench/run.sh files, the same for every server.
 * Independent of telgate's code (it measures telgated against dnsmasq, tftpd-hpa and
 * atftpd, so it must not share telgated's parser). T threads each run one epoll loop with
 * C/T transfer slots and start a new transfer in a slot as soon as its last one ends.
 *
 * Every transfer comes from a client port (TID) of its own, as a phone's would (RFC 1350
 * §4), yet a transfer costs the client no socket(), epoll_ctl() or close(): each slot
 * keeps one UDP socket, opened and registered once, and between transfers
 * "disconnects" it (connect() to AF_UNSPEC), which releases its port; the next RRQ's
 * sendto() binds it to a new one the kernel picks at random (with -S, a bind() to the
 * transfer's source address and port 0 does). A datagram still queued for the old port (a
 * server's late retransmission) is told apart by the port it was sent to (IP_ORIGDSTADDR
 * on every datagram) and dropped. Why not close and reopen: socket + bind + epoll_ctl +
 * close were 9 of the ~42 µs a transfer cost the client, and the client shares the cores
 * with the server it measures.
 *
 * The server's TID is the source of its first answer; a datagram from another one is
 * counted and ignored (RFC 1350: not the transfer's). The socket is not connect()ed to it:
 * connect() costs more than the route look-ups of a 4 KiB transfer's sendto()s. Read
 * requests (octet) with the options asked for: blksize (RFC 2348), tsize and timeout
 * (RFC 2349), windowsize (RFC 7440: the client acknowledges every window, and the last
 * in-order block when one is missing). Block numbers roll over after 65535. Every file is
 * checked: its size (-s, or the size of -V's file) and, with -V, its bytes; every OACK
 * value against what was asked.
 *
 * The loop reads a ready socket once per epoll_wait() with recvmmsg() of up to a window
 * (level-triggered: what is left is reported again), so no read ends in EAGAIN; the clock
 * is read once per epoll_wait(); latencies go to a log-linear histogram (no allocation
 * per transfer). System calls per 4 KiB transfer (blksize 1468, tsize): the disconnect,
 * the RRQ, 4 ACKs, 4 reads, a getsockname() for the new port, the bind() of -S and a share
 * of epoll_wait().
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
 * the client's own CPU seconds (getrusage: every thread) and per transfer, the blksize and
 * windowsize granted and the first error. Exits 1 when any transfer failed.
 *
 * usage: tftp_load [options] HOST PORT FILE    (see usage() below)
 */
#ifndef _DEFAULT_SOURCE
#define _DEFAULT_SOURCE
#endif
#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* recvmmsg */
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
#include <strings.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

enum { OP_RRQ = 1, OP_DATA = 3, OP_ACK = 4, OP_ERROR = 5, OP_OACK = 6 };
enum { PH_IDLE, PH_WAIT, PH_HTTP_CONNECT, PH_HTTP_READ, PH_TFTP };
/* Why a transfer failed; the counts are printed per kind. */
enum { F_TIMEOUT, F_ERROR_PKT, F_SIZE, F_CONTENT, F_PROTO, F_HTTP, F_SOCKET, F_KINDS };
static const char *const fail_names[F_KINDS] = {"timeout",  "error_packet", "size",  "content",
                                                "protocol", "http",         "socket"};
enum { MAX_VLEN = 16 }; /* datagrams one recvmmsg() takes: a window of up to 16 blocks */

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
static size_t dgram_max;              /* the largest datagram a server may send us */

static int64_t now_us(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

/* Latencies in µs: a log-linear histogram (exact below 64 µs, then 64 buckets per power of
 * two: within 1.6 %), so that recording one costs no allocation. */
enum { HIST_SUB = 64, HIST_N = 64 * 40 };
struct hist {
	uint64_t n, max, b[HIST_N];
};

static size_t hist_index(uint64_t v)
{
	if (v < HIST_SUB)
		return (size_t)v;
	int e = 63 - __builtin_clzll(v); /* >= 6 */
	size_t i = (size_t)(e - 5) * HIST_SUB + (size_t)((v >> (e - 6)) & (HIST_SUB - 1));
	return i < HIST_N ? i : HIST_N - 1;
}

static uint64_t hist_value(size_t i) /* the middle of bucket i */
{
	if (i < HIST_SUB)
		return i;
	int e = (int)(i / HIST_SUB) + 5;
	uint64_t lo = (uint64_t)(HIST_SUB + i % HIST_SUB) << (e - 6);
	return lo + ((1ull << (e - 6)) >> 1);
}

static void hist_add(struct hist *h, int64_t us)
{
	uint64_t v = us > 0 ? (uint64_t)us : 0;
	h->b[hist_index(v)]++;
	h->n++;
	if (v > h->max)
		h->max = v;
}

static void hist_merge(struct hist *to, const struct hist *from)
{
	for (size_t i = 0; i < HIST_N; i++)
		to->b[i] += from->b[i];
	to->n += from->n;
	if (from->max > to->max)
		to->max = from->max;
}

static long long hist_pct(const struct hist *h, double p)
{
	if (!h->n)
		return 0;
	if (p >= 100)
		return (long long)h->max;
	uint64_t want = (uint64_t)(p / 100.0 * (double)(h->n - 1) + 0.5) + 1, seen = 0;
	for (size_t i = 0; i < HIST_N; i++) {
		seen += h->b[i];
		if (seen >= want) {
			uint64_t v = hist_value(i);
			return (long long)(v < h->max ? v : h->max);
		}
	}
	return (long long)h->max;
}

struct xfer {
	int ufd; /* the slot's UDP socket, for the whole run; a new port per transfer */
	int hfd; /* storm: the HTTP connection */
	int phase, retries, in_window, gap_acked, has_peer, used;
	long phone;                       /* storm: the phone's number, 1.. */
	int64_t t_start, t_retx, t_phase; /* started; next retransmission; phase began */
	uint16_t next_block;              /* the DATA block expected next */
	uint16_t port;                    /* this transfer's own port (network order) */
	uint16_t last_ack;                /* the ACK sent again on timeout (has_peer) */
	unsigned blksize, window;         /* as granted (512 and 1 when no OACK) */
	struct sockaddr_in peer;          /* the server's TID, from its first answer */
	uint64_t bytes;
	char *hbuf; /* storm: the HTTP answer so far */
	size_t hlen, hcap;
};

struct worker {
	pthread_t th;
	int ep, id;
	struct xfer *x;
	int nx, active;      /* slots; slots not idle */
	int64_t now;         /* read once per epoll_wait() */
	long started, quota; /* transfers started; how many this worker may start */
	long done, drained, fail[F_KINDS];
	uint64_t bytes, bytes_drained;
	unsigned granted_blksize, granted_window; /* by the first transfer that completed */
	struct hist lat, http_lat; /* per transfer (phone); storm: its HTTP part alone */
	long retx;                 /* RRQs and ACKs sent again after a timeout */
	long stale, wrong_tid;     /* datagrams for an earlier port; from another server TID */
	long same_port;            /* transfers whose port was the slot's last one */
	char first_err[200];
	/* recvmmsg()'s buffers, one set per worker */
	unsigned char *rbuf;
	struct mmsghdr mm[MAX_VLEN];
	struct iovec iov[MAX_VLEN];
	struct sockaddr_in from[MAX_VLEN];
	union {
		char buf[CMSG_SPACE(sizeof(struct sockaddr_in))];
		struct cmsghdr align;
	} ctl[MAX_VLEN];
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

static void slot_idle(struct worker *w, struct xfer *x)
{
	if (x->hfd >= 0)
		close(x->hfd);
	x->hfd = -1;
	if (x->phase != PH_IDLE)
		w->active--;
	x->phase = PH_IDLE;
}

static void slot_phase(struct worker *w, struct xfer *x, int phase)
{
	if (x->phase == PH_IDLE)
		w->active++;
	x->phase = phase;
}

/* The slot's UDP socket: opened and added to the loop once, before the clock starts. */
static int slot_open(struct worker *w, struct xfer *x)
{
	x->ufd = socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (x->ufd < 0)
		return -1;
	int one = 1;
	if (setsockopt(x->ufd, SOL_IP, IP_RECVORIGDSTADDR, &one, sizeof one) != 0)
		return -1;
	struct epoll_event ev = {.events = EPOLLIN, .data.u64 = (uint64_t)(x - w->x) << 1};
	return epoll_ctl(w->ep, EPOLL_CTL_ADD, x->ufd, &ev);
}

/* -S: transfer (phone) n from address n mod N in 127.1/16, as phones on a network would
 * be, so that a server's per-source limits see many sources. After the disconnect the
 * socket has no port, so it can be bound again, to another address and port 0: the
 * kernel picks the port. */
static int source_bind(struct xfer *x)
{
	if (!nsources)
		return 0;
	unsigned long i = (unsigned long)(x->phone - 1) % (unsigned long)nsources + 1;
	struct sockaddr_in a = {.sin_family = AF_INET};
	a.sin_addr.s_addr = htonl(0x7f010000u | (uint32_t)(i & 0xffff));
	return bind(x->ufd, (struct sockaddr *)&a, sizeof a);
}

static int tftp_begin(struct worker *w, struct xfer *x)
{
	/* a new port: the disconnect unhashes the last one; the bind (-S) or sendto() binds
	 * a new one */
	static const struct sockaddr unspec = {.sa_family = AF_UNSPEC};
	if (x->used && connect(x->ufd, &unspec, sizeof unspec) != 0)
		return -1;
	if (source_bind(x) != 0)
		return -1;
	slot_phase(w, x, PH_TFTP);
	x->used = 1;
	x->has_peer = 0;
	x->next_block = 1;
	x->blksize = 512;
	x->window = 1;
	x->in_window = 0;
	x->gap_acked = 0;
	x->bytes = 0;
	x->retries = 0;
	x->t_phase = w->now;
	x->t_retx = x->t_phase + rto_ms * 1000;
	if (sendto(x->ufd, rrq, rrq_len, 0, (struct sockaddr *)&srv_tftp, sizeof srv_tftp) < 0 &&
	    errno != EAGAIN)
		return -1;
	struct sockaddr_in me;
	socklen_t ml = sizeof me;
	if (getsockname(x->ufd, (struct sockaddr *)&me, &ml) != 0)
		return -1;
	if (me.sin_port == x->port)
		w->same_port++; /* the kernel's random pick hit the last one (~1 in 28,000) */
	x->port = me.sin_port;
	return 0;
}

static int http_begin(struct worker *w, struct xfer *x)
{
	x->hfd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (x->hfd < 0)
		return -1;
	if (nsources) { /* the phone's address, as its TFTP transfer's */
		long i = (x->phone - 1) % nsources + 1;
		struct sockaddr_in a = {.sin_family = AF_INET};
		a.sin_addr.s_addr = htonl(0x7f010000u | (uint32_t)(i & 0xffff));
		if (bind(x->hfd, (struct sockaddr *)&a, sizeof a) != 0)
			return -1;
	}
	if (connect(x->hfd, (struct sockaddr *)&srv_http, sizeof srv_http) != 0 &&
	    errno != EINPROGRESS)
		return -1;
	struct epoll_event ev = {.events = EPOLLOUT, .data.u64 = (uint64_t)(x - w->x) << 1 | 1u};
	if (epoll_ctl(w->ep, EPOLL_CTL_ADD, x->hfd, &ev) != 0)
		return -1;
	slot_phase(w, x, PH_HTTP_CONNECT);
	x->hlen = 0;
	x->bytes = 0;
	x->t_phase = w->now;
	x->t_retx = x->t_phase + (int64_t)rto_ms * 1000 * (max_retries + 1);
	return 0;
}

/* Starts the next transfer (or phone) in slot x, if there is one to start. */
static void xfer_start(struct worker *w, struct xfer *x)
{
	int64_t now = w->now;
	if (storm_phones) {
		long p = atomic_fetch_add(&phones_next, 1) + 1;
		if (p > storm_phones)
			return;
		x->phone = p;
		w->started++;
		/* --ramp-ms: phone p boots at its share of the ramp; until then the slot waits */
		x->t_start = t_begin_us + (int64_t)ramp_ms * 1000 * (p - 1) / storm_phones;
		if (x->t_start > now) {
			slot_phase(w, x, PH_WAIT);
			x->t_retx = x->t_start;
			return;
		}
		x->t_start = now;
		if (http_begin(w, x) != 0) {
			fail_note(w, x, F_SOCKET, "http socket: ", strerror(errno));
			slot_idle(w, x);
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
		slot_idle(w, x);
	}
}

static void xfer_finish(struct worker *w, struct xfer *x, int ok)
{
	if (ok && !w->granted_blksize) {
		w->granted_blksize = x->blksize;
		w->granted_window = x->window;
	}
	if (ok && !storm_phones && !count_opt && w->now >= t_stop_us) {
		w->drained++;
		w->bytes_drained += x->bytes;
		hist_add(&w->lat, w->now - x->t_start);
	} else if (ok) {
		w->done++;
		w->bytes += x->bytes;
		hist_add(&w->lat, w->now - x->t_start);
	}
	slot_idle(w, x);
	xfer_start(w, x);
}

static void send_ack(struct xfer *x, uint16_t block)
{
	unsigned char a[4] = {0, OP_ACK, (unsigned char)(block >> 8), (unsigned char)block};
	x->last_ack = block;
	x->in_window = 0;
	(void)sendto(x->ufd, a, sizeof a, 0, (struct sockaddr *)&x->peer, sizeof x->peer);
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

/* The client gives up on a transfer its server still runs: an ERROR ends it there too
 * (RFC 1350 §7), or the server would retransmit until its own timeout. what: the failure
 * to count, or NULL when it is counted already. */
static void tftp_abort(struct worker *w, struct xfer *x, int kind, const char *what)
{
	static const unsigned char e[] = "\0\5\0\0bench_tftp_load: transfer abandoned";
	if (what)
		fail_note(w, x, kind, what, NULL);
	(void)sendto(x->ufd, e, sizeof e, 0, (struct sockaddr *)&x->peer, sizeof x->peer);
	xfer_finish(w, x, 0);
}

/* One datagram of transfer x, from its server. */
static void tftp_datagram(struct worker *w, struct xfer *x, unsigned char *buf, size_t r)
{
	if (r < 4) {
		tftp_abort(w, x, F_PROTO, "short packet");
		return;
	}
	int op = buf[0] << 8 | buf[1];
	uint16_t blk = (uint16_t)(buf[2] << 8 | buf[3]);
	if (op == OP_ERROR) {
		buf[r < dgram_max ? r : r - 1] = 0;
		fail_note(w, x, F_ERROR_PKT, "", (const char *)buf + 4);
		xfer_finish(w, x, 0);
		return;
	}
	if (op == OP_OACK) {
		if (x->bytes || x->next_block != 1) /* a late copy: the data is flowing */
			return;
		int rc = oack_parse(w, x, buf, r);
		if (rc != 0) {
			tftp_abort(w, x, F_PROTO, rc == -1 ? "bad OACK" : NULL);
			return;
		}
		send_ack(x, 0);
		x->retries = 0;
		x->t_retx = w->now + rto_ms * 1000;
		return;
	}
	if (op != OP_DATA) {
		tftp_abort(w, x, F_PROTO, "unexpected opcode");
		return;
	}
	size_t len = r - 4;
	if (blk != x->next_block) {
		/* behind: a copy of a block already taken (the server timed out and sent the
		 * window again): acknowledge once, at the copy of the last block taken; ahead:
		 * one was lost: acknowledge the last in-order block once until the data moves
		 * on (RFC 7440's receiver). */
		uint16_t prev = (uint16_t)(x->next_block - 1);
		if (blk == prev) {
			send_ack(x, prev); /* the end of a window sent again */
		} else if ((uint16_t)(blk - x->next_block) < 0x8000 && !x->gap_acked) {
			send_ack(x, prev);
			x->gap_acked = 1;
		}
		return;
	}
	if (len > x->blksize) {
		tftp_abort(w, x, F_PROTO, "DATA longer than blksize");
		return;
	}
	if (expect_size >= 0 && x->bytes + len > (uint64_t)expect_size) {
		tftp_abort(w, x, F_SIZE, "more bytes than expected");
		return;
	}
	if (ref && memcmp(ref + x->bytes, buf + 4, len) != 0) {
		tftp_abort(w, x, F_CONTENT, "bytes differ");
		return;
	}
	x->bytes += len;
	x->next_block++;
	x->gap_acked = 0;
	x->in_window++;
	x->retries = 0;
	x->t_retx = w->now + rto_ms * 1000;
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

/* The port datagram i was sent to (network order), 0 when the kernel did not say. */
static uint16_t dgram_port(struct worker *w, int i)
{
	struct msghdr *m = &w->mm[i].msg_hdr;
	for (struct cmsghdr *c = CMSG_FIRSTHDR(m); c; c = CMSG_NXTHDR(m, c))
		if (c->cmsg_level == SOL_IP && c->cmsg_type == IP_ORIGDSTADDR) {
			struct sockaddr_in d;
			memcpy(&d, CMSG_DATA(c), sizeof d);
			return d.sin_port;
		}
	return 0;
}

/* Slot x's socket is readable: what is queued, up to a window, in one recvmmsg(). */
static void udp_read(struct worker *w, struct xfer *x)
{
	unsigned vlen = x->phase == PH_TFTP && x->window < MAX_VLEN ? x->window : MAX_VLEN;
	for (unsigned i = 0; i < vlen; i++) {
		w->mm[i].msg_hdr.msg_namelen = sizeof w->from[i];
		w->mm[i].msg_hdr.msg_controllen = sizeof w->ctl[i].buf;
	}
	int n = recvmmsg(x->ufd, w->mm, vlen, MSG_DONTWAIT, NULL);
	if (n < 0) {
		if (errno == EAGAIN || errno == EINTR || x->phase != PH_TFTP)
			return;
		fail_note(w, x, F_SOCKET, "recv: ", strerror(errno));
		xfer_finish(w, x, 0);
		return;
	}
	for (int i = 0; i < n; i++) {
		struct sockaddr_in *from = &w->from[i];
		if (x->phase != PH_TFTP || dgram_port(w, i) != x->port) {
			w->stale++; /* for the port of a transfer that has ended */
			continue;
		}
		if (!x->has_peer) {
			/* the first answer names the server's TID */
			if (from->sin_addr.s_addr != srv_tftp.sin_addr.s_addr) {
				w->wrong_tid++;
				continue;
			}
			x->peer = *from;
			x->has_peer = 1;
		} else if (from->sin_port != x->peer.sin_port ||
		           from->sin_addr.s_addr != x->peer.sin_addr.s_addr) {
			w->wrong_tid++;
			continue;
		}
		/* when this one ends the transfer, the rest of the batch was sent to the old
		 * port: the check above counts it as stale */
		tftp_datagram(w, x, w->mm[i].msg_hdr.msg_iov->iov_base, w->mm[i].msg_len);
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
		getsockopt(x->hfd, SOL_SOCKET, SO_ERROR, &err, &el);
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
		if (write(x->hfd, req, (size_t)n) != n) {
			fail_note(w, x, F_HTTP, "write: ", strerror(errno));
			xfer_finish(w, x, 0);
			return;
		}
		struct epoll_event ev = {.events = EPOLLIN,
		                         .data.u64 = (uint64_t)(x - w->x) << 1 | 1u};
		epoll_ctl(w->ep, EPOLL_CTL_MOD, x->hfd, &ev);
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
		ssize_t r = read(x->hfd, x->hbuf + x->hlen, x->hcap - x->hlen - 1);
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
			hist_add(&w->http_lat, w->now - x->t_phase);
			close(x->hfd);
			x->hfd = -1;
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
	int64_t now = w->now;
	for (int i = 0; i < w->nx; i++) {
		struct xfer *x = &w->x[i];
		if (x->phase == PH_IDLE || now < x->t_retx)
			continue;
		if (x->phase == PH_WAIT) { /* a ramped phone whose time has come */
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
		if (x->has_peer)
			send_ack(x, x->last_ack);
		else
			(void)sendto(x->ufd, rrq, rrq_len, 0, (struct sockaddr *)&srv_tftp,
			             sizeof srv_tftp);
		x->t_retx = now + (int64_t)rto_ms * 1000;
		w->retx++;
	}
}

static void *worker_run(void *arg)
{
	struct worker *w = arg;
	w->now = now_us();
	for (int i = 0; i < MAX_VLEN; i++) {
		w->iov[i] = (struct iovec){w->rbuf + (size_t)i * dgram_max, dgram_max};
		w->mm[i].msg_hdr = (struct msghdr){.msg_name = &w->from[i],
		                                   .msg_iov = &w->iov[i],
		                                   .msg_iovlen = 1,
		                                   .msg_control = w->ctl[i].buf};
	}
	for (int i = 0; i < w->nx; i++)
		xfer_start(w, &w->x[i]);
	struct epoll_event evs[256];
	int64_t next_timers = w->now + 5000;
	while (w->active > 0) {
		int n = epoll_wait(w->ep, evs, 256, 5);
		w->now = now_us();
		for (int i = 0; i < n; i++) {
			struct xfer *x = &w->x[evs[i].data.u64 >> 1];
			if (evs[i].data.u64 & 1)
				http_event(w, x, evs[i].events);
			else
				udp_read(w, x);
		}
		if (w->now >= next_timers) {
			timers(w);
			next_timers = w->now + 5000;
		}
	}
	close(w->ep);
	return NULL;
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

static int options(int argc, char **argv)
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
			return -1;
		}
		ref = malloc((size_t)st.st_size + 1);
		if (!ref || fread(ref, 1, (size_t)st.st_size, f) != (size_t)st.st_size) {
			perror(verify);
			return -1;
		}
		fclose(f);
		expect_size = (long)st.st_size;
	}
	return 0;
}

int main(int argc, char **argv)
{
	if (options(argc, argv) != 0)
		return 2;
	rrq_build();
	/* a DATA of the blksize asked (512 without), and room for an OACK or ERROR */
	dgram_max = (size_t)(blksize_opt > 512 ? blksize_opt : 512) + 4 + 1;
	if (storm_phones) {
		conc = (int)storm_phones; /* every phone boots at once (or along the ramp) */
		count_opt = storm_phones;
	}
	if (nthreads > conc)
		nthreads = conc;
	/* one UDP socket per slot, and an HTTP one while a storm's phone fetches */
	struct rlimit rl;
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		setrlimit(RLIMIT_NOFILE, &rl);
	}

	struct worker *ws = calloc((size_t)nthreads, sizeof *ws);
	if (!ws)
		return 1;
	for (int i = 0; i < nthreads; i++) {
		struct worker *w = &ws[i];
		w->id = i;
		w->nx = conc / nthreads + (i < conc % nthreads);
		w->x = calloc((size_t)w->nx, sizeof *w->x);
		w->rbuf = malloc(dgram_max * MAX_VLEN);
		w->ep = epoll_create1(EPOLL_CLOEXEC);
		if (!w->x || !w->rbuf || w->ep < 0)
			return 1;
		for (int j = 0; j < w->nx; j++) {
			w->x[j].hfd = -1;
			if (slot_open(w, &w->x[j]) != 0) {
				perror("tftp_load: socket");
				return 1;
			}
		}
		if (count_opt && !storm_phones)
			w->quota = count_opt / nthreads + (i < count_opt % nthreads);
	}
	struct rusage ru0;
	getrusage(RUSAGE_SELF, &ru0);
	t_begin_us = now_us();
	t_stop_us = t_begin_us + (int64_t)(duration_s * 1e6);
	for (int i = 0; i < nthreads; i++)
		if (pthread_create(&ws[i].th, NULL, worker_run, &ws[i]) != 0) {
			perror("pthread_create");
			return 1;
		}
	long done = 0, drained = 0, failed = 0, fk[F_KINDS] = {0};
	uint64_t bytes = 0, bytes_all = 0;
	long retx = 0, stale = 0, wrong_tid = 0, same_port = 0;
	const char *first_err = "";
	unsigned gblk = 0, gwin = 0;
	static struct hist lat, hlat;
	for (int i = 0; i < nthreads; i++) {
		pthread_join(ws[i].th, NULL);
		done += ws[i].done;
		drained += ws[i].drained;
		bytes += ws[i].bytes;
		bytes_all += ws[i].bytes + ws[i].bytes_drained;
		retx += ws[i].retx;
		stale += ws[i].stale;
		wrong_tid += ws[i].wrong_tid;
		same_port += ws[i].same_port;
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
		hist_merge(&lat, &ws[i].lat);
		hist_merge(&hlat, &ws[i].http_lat);
	}
	int64_t t_end = now_us();
	struct rusage ru;
	getrusage(RUSAGE_SELF, &ru);
	/* rrq mode with -d: the rate is over the measured time, not the drain after it */
	double secs =
	    (double)((!storm_phones && !count_opt ? t_stop_us : t_end) - t_begin_us) / 1e6;
	double wall = (double)(t_end - t_begin_us) / 1e6;
	/* the client's CPU while the loops ran (the sockets were opened before), per
	 * transfer it completed: what the client takes from the cores it shares */
	double cpu = (double)(ru.ru_utime.tv_sec - ru0.ru_utime.tv_sec) +
	             (double)(ru.ru_utime.tv_usec - ru0.ru_utime.tv_usec) / 1e6 +
	             (double)(ru.ru_stime.tv_sec - ru0.ru_stime.tv_sec) +
	             (double)(ru.ru_stime.tv_usec - ru0.ru_stime.tv_usec) / 1e6;
	double cpu_us = done + drained ? cpu * 1e6 / (double)(done + drained) : 0;
	long nvcsw = ru.ru_nvcsw - ru0.ru_nvcsw, nivcsw = ru.ru_nivcsw - ru0.ru_nivcsw;
	fprintf(stderr,
	        "tftp_load: %ld completed (and %ld after the measured time), %ld failed, "
	        "%.1f MiB in %.2f s: %.0f transfers/s, %.1f MiB/s; latency p50 %.2f ms "
	        "p99 %.2f ms max %.2f ms; %ld retransmissions; client CPU %.2f s in %.2f s, "
	        "%.1f us per transfer\n",
	        done, drained, failed, (double)bytes / 1048576.0, secs, (double)done / secs,
	        (double)bytes / 1048576.0 / secs, (double)hist_pct(&lat, 50) / 1e3,
	        (double)hist_pct(&lat, 99) / 1e3, (double)hist_pct(&lat, 100) / 1e3, retx, cpu,
	        wall, cpu_us);
	fprintf(stderr, "tftp_load:   context switches per transfer: %.2f voluntary, %.2f not\n",
	        done + drained ? (double)nvcsw / (double)(done + drained) : 0,
	        done + drained ? (double)nivcsw / (double)(done + drained) : 0);
	if (stale || wrong_tid || same_port)
		fprintf(stderr,
		        "tftp_load:   %ld datagrams for an ended transfer's port, %ld from "
		        "another TID (ignored); %ld transfers on their slot's last port\n",
		        stale, wrong_tid, same_port);
	if (hlat.n)
		fprintf(stderr, "tftp_load:   HTTP part: p50 %.2f ms p99 %.2f ms max %.2f ms\n",
		        (double)hist_pct(&hlat, 50) / 1e3, (double)hist_pct(&hlat, 99) / 1e3,
		        (double)hist_pct(&hlat, 100) / 1e3);
	for (int i = 0; i < F_KINDS; i++)
		if (fk[i])
			fprintf(stderr, "tftp_load:   %ld failed by %s\n", fk[i], fail_names[i]);
	if (first_err[0])
		fprintf(stderr, "tftp_load:   first failure: %s\n", first_err);
	printf("{\"completed\": %ld, \"drained\": %ld, \"failed\": %ld, \"bytes\": %llu, "
	       "\"bytes_all\": %llu, \"seconds\": %.6f, \"wall_s\": %.6f, \"per_s\": %.1f, "
	       "\"mib_s\": %.3f, \"p50_us\": %lld, \"p99_us\": %lld, \"max_us\": %lld, "
	       "\"http_p99_us\": %lld, \"retransmissions\": %ld, \"stale\": %ld, "
	       "\"wrong_tid\": %ld, \"same_port\": %ld, \"client_cpu_s\": %.3f, "
	       "\"client_us_per_transfer\": %.2f, "
	       "\"blksize\": %u, \"windowsize\": %u, \"first_error\": \"",
	       done, drained, failed, (unsigned long long)bytes, (unsigned long long)bytes_all,
	       secs, wall, (double)done / secs, (double)bytes / 1048576.0 / secs,
	       hist_pct(&lat, 50), hist_pct(&lat, 99), hist_pct(&lat, 100), hist_pct(&hlat, 99),
	       retx, stale, wrong_tid, same_port, cpu, cpu_us, gblk, gwin);
	for (const char *p = first_err; *p; p++)
		if (*p >= 0x20 && *p != '"' && *p != '\\')
			putchar(*p);
	printf("\"}\n");
	for (int i = 0; i < nthreads; i++) {
		for (int j = 0; j < ws[i].nx; j++) {
			close(ws[i].x[j].ufd);
			free(ws[i].x[j].hbuf);
		}
		free(ws[i].x);
		free(ws[i].rbuf);
	}
	free(ws);
	free(ref);
	return failed ? 1 : 0;
}
