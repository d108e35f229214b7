/* SPDX-License-Identifier: ISC */
/* sendmmsg() and struct mmsghdr are behind _GNU_SOURCE in glibc. */
#define _GNU_SOURCE
#include "provision/tftp.h"

#include "core/conncap.h"
#include "core/counter.h"
#include "core/log.h"
#include "core/loop.h"
#include "core/ports.h"
#include "core/udp.h"
#include "core/util.h"
#include "provision/tftp_proto.h"

#include <errno.h>
#include <event2/event.h>
#include <event2/event_struct.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/queue.h>
#include <sys/socket.h>
#include <unistd.h>

/* netascii is converted into a copy per transfer (docs/device-files.md): bounded, so a
 * few clients asking for large files in netascii cannot hold much memory. */
#define TFTP_NETASCII_MAX (4u * 1024 * 1024)
#define TFTP_BATCH 64 /* DATA packets per sendmmsg() */
#define TFTP_READS 64 /* datagrams read per event, so one socket cannot starve the loop */
/* Requests read by one recvmmsg(): a batch that comes back short says the queue is
 * empty, which saves the read that would only say EAGAIN (half a system call per
 * transfer at 64 in flight). */
#define TFTP_RQ_BATCH 16
#define TFTP_BACKOFF_MAX 64 /* the retransmission interval grows to at most 64x the first */
/* The pool of transfer sockets (see "the pool" below). */
#define TFTP_POOL_IDLE_MAX 256 /* idle sockets kept per loop; a socket released above: closed */
#define TFTP_POOL_SCAN 8       /* idle sockets looked at for one that may serve a peer */
/* A socket is not handed back to the peer it last served sooner than this after that
 * transfer ended. */
#define TFTP_REUSE_GUARD_US (200 * 1000)

struct counters {
	tg_counter requests, malformed, refused[9], busy, results[TFTP_RESULT_N], data_bytes,
	    data_packets, retransmits, wrong_tid;
};

struct tftp_loop;
struct xfer;
struct tftp_local;

/* A transfer socket of the pool: bound to one local address and an ephemeral port (the
 * server's TID), non-blocking, its read event always in the loop's event base. Owned by
 * the loop; lent to one transfer at a time. */
struct tsock {
	TAILQ_ENTRY(tsock) idle; /* in home->idle while no transfer owns it */
	struct tftp_loop *tl;
	struct tftp_local *home;
	int fd;
	struct event rd; /* persistent: to the owner, or to the stray handler while idle */
	struct xfer *x;  /* the owner; NULL while idle */
	struct sockaddr_storage last; /* the peer of its last transfer (ss_family 0: none) */
	int64_t released_us;          /* when that transfer ended */
};

/* The idle sockets of one local address (the address requests were sent to), oldest
 * released first. */
struct tftp_local {
	LIST_ENTRY(tftp_local) link;
	struct sockaddr_storage addr; /* port 0 */
	socklen_t len;
	TAILQ_HEAD(, tsock) idle;
};

struct xfer {
	LIST_ENTRY(xfer) link;
	struct tftp_loop *tl;
	struct tsock *sock; /* lent by the pool until the transfer ends */
	int fd;             /* sock->fd */
	struct event timer; /* embedded: no allocation per event */
	struct sockaddr_storage peer;
	socklen_t peerlen;
	struct files_blob *blob;
	const unsigned char *data; /* the blob's bytes, or the netascii copy */
	size_t len;
	unsigned char *ascii; /* the netascii copy, owned; NULL in octet mode */
	struct tftp_grant g;
	int oack_pending; /* waiting for ACK 0 */
	uint64_t nblocks, sent, acked;
	unsigned retries, timeout_ms, cur_ms;
	int64_t started_us, deadline_us;
	uint64_t retransmits, packets;
	unsigned char oack[TFTP_OACK_MAX];
	size_t oack_len;
	char name[FILES_NAME_MAX + 1];
};

struct tftp_loop {
	struct tftp_server *s;
	struct loop *loop;
	int fd;
	struct event *ev;
	/* The server's retransmission interval as a libevent common timeout: transfers armed
	 * with it wait in one queue behind a single heap entry, so re-arming after each ACK
	 * appends to a list instead of reordering the heap. */
	const struct timeval *common;
	LIST_HEAD(, xfer) xfers;
	LIST_HEAD(, tftp_local) locals; /* the pool, by local address */
	unsigned nidle;                 /* idle sockets in the pool, all addresses */
	/* Requests read at once. A longer datagram is cut to TFTP_REQUEST_MAX + 1 bytes:
	 * enough for the parser to refuse it as too long, as it would the whole one. */
	unsigned char rx[TFTP_RQ_BATCH][TFTP_REQUEST_MAX + 1];
};

struct tftp_server {
	struct tftp_options o;
	char address[64];
	struct loop_group *loops;
	struct files_registry *files;
	struct conncap *caps;
	int nloops;
	struct tftp_loop *tl;          /* [nloops] */
	struct sockaddr_storage bound; /* the listeners' address (port 0): a transfer's
	                                * address when PKTINFO said nothing */
	struct counters c;
};

static const char *const result_names[TFTP_RESULT_N] = {"ok",         "timeout",     "deadline",
                                                        "peer_error", "send_failed", "stopped"};

const char *tftp_result_name(enum tftp_result r)
{
	return (unsigned)r < TFTP_RESULT_N ? result_names[r] : "?";
}

/* The options granted, as one word for the log line (TFTP_OPT_* bits). */
static const char *const opt_names[16] = {
    "none",
    "blksize",
    "tsize",
    "blksize,tsize",
    "timeout",
    "blksize,timeout",
    "tsize,timeout",
    "blksize,tsize,timeout",
    "windowsize",
    "blksize,windowsize",
    "tsize,windowsize",
    "blksize,tsize,windowsize",
    "timeout,windowsize",
    "blksize,timeout,windowsize",
    "tsize,timeout,windowsize",
    "blksize,tsize,timeout,windowsize",
};

/* Arms x's retransmission timer; now: tg_mono_us() of the caller (one clock read per
 * datagram, not one per step). */
static void timer_arm(struct xfer *x, int64_t now)
{
	int64_t left = x->deadline_us - now;
	int64_t us = (int64_t)x->cur_ms * 1000;
	if (us == (int64_t)x->tl->s->o.timeout_ms * 1000 && us <= left && x->tl->common) {
		evtimer_add(&x->timer, x->tl->common);
		return;
	}
	if (us > left)
		us = left > 0 ? left : 0;
	struct timeval tv = {(time_t)(us / 1000000), (suseconds_t)(us % 1000000)};
	evtimer_add(&x->timer, &tv);
}

/* --- the pool of transfer sockets ------------------------------------------------------ *
 *
 * A socket per transfer cost socket(), bind() (the kernel's port hash), epoll_ctl ADD and
 * DEL and close() (the socket's teardown): 5 of the ~14 system calls of a 4 KiB transfer,
 * and among the dearest. The loop keeps the sockets instead: bound to port 0 of the
 * address the request was sent to (so the kernel chose an ephemeral port: the TID), their
 * read events registered once. A transfer takes one and gives it back when it ends.
 *
 * Reuse (RFC 1350 §4 wants TIDs random and not reused soon): a released socket goes to the
 * tail of its address's idle list and a transfer takes from the head, so a port comes back
 * only after every other idle socket of that address served: with N idle sockets, a port
 * serves about every N-th transfer of the loop on that address (the pool grows with the
 * transfers in flight; when one at a time, one socket serves them all, each for another
 * peer: TIDs then identify a transfer only together with the peer's). The danger of reuse
 * is a late datagram of the last transfer (a duplicated ACK, an ACK that crossed a
 * retransmission) taken as one of the next transfer's: that can only happen when the next
 * transfer is with the same peer address and port, since anything else is another TID and
 * gets ERROR 5. So a socket is not handed to the peer it last served for
 * TFTP_REUSE_GUARD_US after that transfer ended: late datagrams come within a round trip,
 * far below 200 ms on the LANs phones boot on. A guard only against the same peer, rather
 * than a quarantine for every peer, keeps the pool small under load: at thousands of
 * transfers per second a 200 ms quarantine for all would need over a thousand sockets per
 * loop, above the cap, and every transfer would pay for a new socket again. A client that
 * reuses its port for transfer after transfer (against §4) gets other sockets (new ones
 * while all are in their guard time). Datagrams on an idle socket get ERROR 5 (no
 * transfer has that TID now).
 *
 * Bounds: at most TFTP_POOL_IDLE_MAX idle sockets per loop (a socket released above that
 * is closed), created on demand; an address's (empty) list is kept once seen. */

static void on_sock_read(evutil_socket_t fd, short what, void *arg);

static int same_peer(const struct sockaddr_storage *a, const struct sockaddr_storage *b)
{
	if (a->ss_family != b->ss_family)
		return 0;
	if (a->ss_family == AF_INET) {
		const struct sockaddr_in *x = (const void *)a, *y = (const void *)b;
		return x->sin_port == y->sin_port && x->sin_addr.s_addr == y->sin_addr.s_addr;
	}
	const struct sockaddr_in6 *x = (const void *)a, *y = (const void *)b;
	return x->sin6_port == y->sin6_port &&
	       !memcmp(&x->sin6_addr, &y->sin6_addr, sizeof x->sin6_addr);
}

/* The pool's list for a local address (port 0 in it), created on first use. */
static struct tftp_local *pool_local(struct tftp_loop *tl, const struct sockaddr_storage *local,
                                     int has_local)
{
	struct sockaddr_storage a = has_local ? *local : tl->s->bound;
	socklen_t al;
	if (a.ss_family == AF_INET6) {
		((struct sockaddr_in6 *)&a)->sin6_port = 0;
		al = sizeof(struct sockaddr_in6);
	} else {
		((struct sockaddr_in *)&a)->sin_port = 0;
		al = sizeof(struct sockaddr_in);
	}
	struct tftp_local *l;
	LIST_FOREACH(l, &tl->locals, link)
	{
		if (l->addr.ss_family != a.ss_family)
			continue;
		if (a.ss_family == AF_INET6) {
			const struct sockaddr_in6 *x = (const void *)&l->addr,
			                          *y = (const void *)&a;
			if (x->sin6_scope_id == y->sin6_scope_id &&
			    !memcmp(&x->sin6_addr, &y->sin6_addr, sizeof x->sin6_addr))
				return l;
		} else if (((const struct sockaddr_in *)&l->addr)->sin_addr.s_addr ==
		           ((const struct sockaddr_in *)&a)->sin_addr.s_addr) {
			return l;
		}
	}
	if (!(l = calloc(1, sizeof *l)))
		return NULL;
	l->addr = a;
	l->len = al;
	TAILQ_INIT(&l->idle);
	LIST_INSERT_HEAD(&tl->locals, l, link);
	return l;
}

/* A new socket of l's address: bound, non-blocking, its read event added. */
static struct tsock *tsock_new(struct tftp_loop *tl, struct tftp_local *l)
{
	struct tsock *t = calloc(1, sizeof *t);
	if (!t)
		return NULL;
	t->tl = tl;
	t->home = l;
	t->fd = socket(l->addr.ss_family, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (t->fd < 0 || bind(t->fd, (const struct sockaddr *)&l->addr, l->len) != 0) {
		if (t->fd >= 0)
			close(t->fd);
		free(t);
		return NULL;
	}
	event_assign(&t->rd, loop_base(tl->loop), t->fd, EV_READ | EV_PERSIST, on_sock_read, t);
	event_add(&t->rd, NULL);
	return t;
}

static void tsock_close(struct tsock *t)
{
	event_del(&t->rd);
	close(t->fd);
	free(t);
}

/* A socket for a transfer with peer on the address the request was sent to: an idle one
 * that may serve peer, else a new one. NULL when none can be made. */
static struct tsock *pool_take(struct tftp_loop *tl, const struct sockaddr_storage *local,
                               int has_local, const struct sockaddr_storage *peer, int64_t now)
{
	struct tftp_local *l = pool_local(tl, local, has_local);
	if (!l)
		return NULL;
	struct tsock *t = TAILQ_FIRST(&l->idle);
	for (int i = 0; t && i < TFTP_POOL_SCAN; i++, t = TAILQ_NEXT(t, idle)) {
		if (same_peer(&t->last, peer) && now - t->released_us < TFTP_REUSE_GUARD_US)
			continue;
		TAILQ_REMOVE(&l->idle, t, idle);
		tl->nidle--;
		return t;
	}
	return tsock_new(tl, l);
}

/* The socket back to the pool (its tail), or closed when the pool is full. */
static void pool_release(struct tftp_loop *tl, struct tsock *t, const struct sockaddr_storage *peer,
                         int64_t now)
{
	t->x = NULL;
	if (tl->nidle >= TFTP_POOL_IDLE_MAX) {
		tsock_close(t);
		return;
	}
	t->last = *peer;
	t->released_us = now;
	TAILQ_INSERT_TAIL(&t->home->idle, t, idle);
	tl->nidle++;
}

/* Closes every idle socket and forgets the addresses (the loop stops). */
static void pool_free(struct tftp_loop *tl)
{
	while (!LIST_EMPTY(&tl->locals)) {
		struct tftp_local *l = LIST_FIRST(&tl->locals);
		while (!TAILQ_EMPTY(&l->idle)) {
			struct tsock *t = TAILQ_FIRST(&l->idle);
			TAILQ_REMOVE(&l->idle, t, idle);
			tsock_close(t);
		}
		LIST_REMOVE(l, link);
		free(l);
	}
	tl->nidle = 0;
}

/* --- the end of a transfer ------------------------------------------------------------ */

static void xfer_finish(struct xfer *x, enum tftp_result r, int peer_code)
{
	struct tftp_server *s = x->tl->s;
	int64_t now = tg_mono_us();
	tg_counter_inc(&s->c.results[r]);
	char peer[64] = "";
	if (log_enabled(LOG_LVL_INFO)) /* the address is formatted only for a line written */
		tg_sockaddr_str((const struct sockaddr *)&x->peer, peer, sizeof peer);
	log_ev(LOG_LVL_INFO, NULL, "tftp_transfer", LOG_S("file", x->name), LOG_S("peer", peer),
	       LOG_S("mode", x->ascii ? "netascii" : "octet"),
	       LOG_S("options", opt_names[x->g.acked & 15]), LOG_U("blksize", x->g.blksize),
	       LOG_U("windowsize", x->g.windowsize), LOG_U("bytes", x->len),
	       LOG_U("blocks", x->acked), LOG_U("packets", x->packets),
	       LOG_U("retransmits", x->retransmits), LOG_I("duration_us", now - x->started_us),
	       LOG_S("result", result_names[r]),
	       LOG_I_IF(r == TFTP_RESULT_PEER, "peer_error", peer_code));
	LIST_REMOVE(x, link);
	event_del(&x->timer);
	pool_release(x->tl, x->sock, &x->peer, now);
	conncap_release(s->caps, (const struct sockaddr *)&x->peer);
	files_blob_unref(x->blob);
	free(x->ascii);
	free(x);
}

/* --- sending --------------------------------------------------------------------------- */

static int send_to_peer(struct xfer *x, const void *buf, size_t len)
{
	ssize_t n =
	    sendto(x->fd, buf, len, MSG_DONTWAIT, (const struct sockaddr *)&x->peer, x->peerlen);
	/* A full socket buffer loses the datagram like the network would: the timer resends. */
	return n < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != ENOBUFS ? -1 : 0;
}

/* Sends blocks from..to (absolute numbers), zero-copy from the file's bytes. 0 or -1. */
static int send_blocks(struct xfer *x, uint64_t from, uint64_t to)
{
	struct tftp_server *s = x->tl->s;
	unsigned char hdr[TFTP_BATCH][TFTP_HDR];
	struct iovec iov[TFTP_BATCH][2];
	struct mmsghdr mm[TFTP_BATCH];
	uint64_t bytes = 0;
	while (from <= to) {
		unsigned n = 0;
		for (; n < TFTP_BATCH && from + n <= to; n++) {
			uint64_t b = from + n, off = (b - 1) * x->g.blksize;
			size_t len = x->len - off < x->g.blksize ? x->len - off : x->g.blksize;
			tftp_put_header(hdr[n], TFTP_DATA, b);
			iov[n][0] = (struct iovec){hdr[n], TFTP_HDR};
			iov[n][1] = (struct iovec){(void *)(uintptr_t)(x->data + off), len};
			mm[n] = (struct mmsghdr){.msg_hdr = {.msg_name = &x->peer,
			                                     .msg_namelen = x->peerlen,
			                                     .msg_iov = iov[n],
			                                     .msg_iovlen = 2}};
			bytes += len;
		}
		int sent = sendmmsg(x->fd, mm, n, MSG_DONTWAIT);
		if (sent < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != ENOBUFS)
			return -1;
		/* What did not go out is lost like a dropped datagram; the timer resends it. */
		from += n;
	}
	atomic_fetch_add_explicit(&s->c.data_bytes, bytes, memory_order_relaxed);
	return 0;
}

/* Sends the window after the last acknowledged block: blocks acked+1 .. acked+windowsize
 * (not past the last), marking them sent. Blocks of it sent before (the timer's resend, or
 * the rest of a window after an ACK inside it) count as retransmissions. */
static int send_window(struct xfer *x)
{
	struct tftp_server *s = x->tl->s;
	uint64_t from = x->acked + 1, to = x->acked + x->g.windowsize;
	if (to > x->nblocks)
		to = x->nblocks;
	uint64_t again = x->sent >= from ? (x->sent < to ? x->sent : to) + 1 - from : 0;
	atomic_fetch_add_explicit(&s->c.data_packets, to + 1 - from, memory_order_relaxed);
	atomic_fetch_add_explicit(&s->c.retransmits, again, memory_order_relaxed);
	x->packets += to + 1 - from;
	x->retransmits += again;
	x->sent = to;
	return send_blocks(x, from, to);
}

/* --- a transfer's socket -------------------------------------------------------------- */

/* An ACK: 1 when the transfer ended (x is freed), else 0. */
static int on_ack(struct xfer *x, uint16_t wire)
{
	if (x->oack_pending) {
		if (wire != 0)
			return 0;
		x->oack_pending = 0;
	} else {
		uint64_t b = tftp_ack_block(wire, x->acked + 1, x->sent);
		if (!b)
			return 0; /* a duplicate or an old ACK: never answered (RFC 1123 §4.2.3.1)
			           */
		x->acked = b;
		if (b == x->nblocks) {
			xfer_finish(x, TFTP_RESULT_OK, 0);
			return 1;
		}
	}
	int64_t now = tg_mono_us();
	if (now >= x->deadline_us) {
		xfer_finish(x, TFTP_RESULT_DEADLINE, 0);
		return 1;
	}
	x->retries = 0;
	x->cur_ms = x->timeout_ms;
	if (send_window(x) != 0) {
		xfer_finish(x, TFTP_RESULT_SEND, 0);
		return 1;
	}
	timer_arm(x, now);
	return 0;
}

/* RFC 1350 §4: a datagram from another TID (or to a socket no transfer owns now) gets
 * ERROR 5; a transfer on the socket goes on. */
static void answer_bad_tid(struct tftp_server *s, int fd, const struct sockaddr_storage *from,
                           socklen_t fl)
{
	unsigned char e[TFTP_ERROR_MAX];
	size_t el = tftp_build_error(e, sizeof e, TFTP_E_BADTID, "Unknown transfer ID");
	sendto(fd, e, el, MSG_DONTWAIT, (const struct sockaddr *)from, fl);
	tg_counter_inc(&s->c.wrong_tid);
}

/* Datagrams on an idle socket of the pool: late ones of a finished transfer, or strays. */
static void stray_read(struct tsock *t, struct tftp_server *s)
{
	unsigned char buf[TFTP_HDR];
	for (int i = 0; i < TFTP_READS; i++) {
		struct sockaddr_storage from;
		socklen_t fl = sizeof from;
		if (recvfrom(t->fd, buf, sizeof buf, MSG_DONTWAIT, (struct sockaddr *)&from, &fl) <
		    0)
			return;
		answer_bad_tid(s, t->fd, &from, fl);
	}
}

static void xfer_read(struct xfer *x, int fd)
{
	struct tftp_server *s = x->tl->s;
	unsigned char buf[TFTP_REQUEST_MAX];
	for (int i = 0; i < TFTP_READS; i++) {
		struct sockaddr_storage from;
		socklen_t fl = sizeof from;
		ssize_t n =
		    recvfrom(fd, buf, sizeof buf, MSG_DONTWAIT, (struct sockaddr *)&from, &fl);
		if (n < 0)
			return;
		if (!same_peer(&from, &x->peer)) {
			answer_bad_tid(s, fd, &from, fl);
			continue;
		}
		struct tftp_packet p;
		if (tftp_parse_packet(buf, (size_t)n, &p) != 0)
			continue;
		if (p.op == TFTP_ACK) {
			uint64_t before = x->sent;
			if (on_ack(x, p.block))
				return;
			/* A window just went out: its ACK cannot be here yet, and a read that
			 * would say EAGAIN costs a system call per ACK. More datagrams waiting
			 * (level-triggered) bring the loop back here. */
			if (x->sent != before)
				return;
		}
		if (p.op == TFTP_ERROR) {
			xfer_finish(x, TFTP_RESULT_PEER, p.code);
			return;
		}
	}
}

static void on_sock_read(evutil_socket_t fd, short what, void *arg)
{
	(void)what;
	struct tsock *t = arg;
	if (t->x)
		xfer_read(t->x, fd);
	else
		stray_read(t, t->tl->s);
}

static void on_xfer_timer(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	struct xfer *x = arg;
	struct tftp_server *s = x->tl->s;
	int64_t now = tg_mono_us();
	if (now >= x->deadline_us) {
		xfer_finish(x, TFTP_RESULT_DEADLINE, 0);
		return;
	}
	if (x->retries >= s->o.retries) {
		xfer_finish(x, TFTP_RESULT_TIMEOUT, 0);
		return;
	}
	x->retries++;
	x->cur_ms = x->cur_ms < x->timeout_ms * (TFTP_BACKOFF_MAX / 2)
	                ? x->cur_ms * 2
	                : x->timeout_ms * TFTP_BACKOFF_MAX;
	int rc;
	if (x->oack_pending) {
		rc = send_to_peer(x, x->oack, x->oack_len);
		x->retransmits++;
		tg_counter_inc(&s->c.retransmits);
	} else {
		rc = send_window(x); /* every block of it was sent before */
	}
	if (rc != 0) {
		xfer_finish(x, TFTP_RESULT_SEND, 0);
		return;
	}
	timer_arm(x, now);
}

/* --- requests ---------------------------------------------------------------------------- */

/* A refusal to a request, from the request port and the address it was sent to. */
static void refuse(struct tftp_loop *tl, const struct sockaddr_storage *from, socklen_t fl,
                   const struct sockaddr_storage *local, int code, const char *msg)
{
	unsigned char e[TFTP_ERROR_MAX];
	size_t el = tftp_build_error(e, sizeof e, (unsigned)code, msg);
	udp_send(tl->fd, (const char *)e, el, (const struct sockaddr *)from, fl, local);
}

static void refused(struct tftp_loop *tl, const struct sockaddr_storage *from, socklen_t fl,
                    const struct sockaddr_storage *local, const char *name, int code,
                    const char *msg)
{
	tg_counter_inc(&tl->s->c.refused[code]);
	char peer[64];
	tg_sockaddr_str((const struct sockaddr *)from, peer, sizeof peer);
	log_ev(LOG_LVL_INFO, NULL, "tftp_refused", LOG_S("file", name), LOG_S("peer", peer),
	       LOG_I("error", code), LOG_S("reason", msg));
	refuse(tl, from, fl, local, code, msg);
}

/* A request the parser accepted, from `from`. Starts a transfer or refuses it. */
static void on_request(struct tftp_loop *tl, const struct tftp_request *rq,
                       const struct sockaddr_storage *from, socklen_t fl,
                       const struct sockaddr_storage *local, int has_local)
{
	struct tftp_server *s = tl->s;
	const struct sockaddr_storage *lp = has_local ? local : NULL;
	tg_counter_inc(&s->c.requests);
	char name[FILES_NAME_MAX + 1];
	if (files_name_check(rq->filename, rq->filename_len, 0, name, sizeof name) != 0) {
		refused(tl, from, fl, lp, rq->filename, TFTP_E_ACCESS,
		        "Access violation: file name not allowed");
		return;
	}
	if (rq->op == TFTP_WRQ) {
		refused(tl, from, fl, lp, name, TFTP_E_ACCESS, "Write requests are not accepted");
		return;
	}
	if (conncap_acquire(s->caps, (const struct sockaddr *)from) != CONNCAP_OK) {
		tg_counter_inc(&s->c.busy);
		refused(tl, from, fl, lp, name, TFTP_E_UNDEF, "Server busy");
		return;
	}
	struct xfer *x = calloc(1, sizeof *x);
	struct files_blob *blob = NULL;
	int code = TFTP_E_UNDEF;
	const char *why = "Out of memory";
	int rc = x ? files_lookup(s->files, name, &blob, NULL) : -ENOMEM;
	if (rc == -ENOENT) {
		code = TFTP_E_NOTFOUND;
		why = "File not found";
		goto fail;
	}
	if (rc != 0) {
		why = "The file cannot be read now";
		goto fail;
	}
	x->blob = blob;
	x->data = blob->data;
	x->len = blob->len;
	if (rq->mode == TFTP_MODE_NETASCII) {
		if (blob->len > TFTP_NETASCII_MAX) {
			why = "netascii is served for files up to 4 MiB: use octet (binary) mode";
			goto fail;
		}
		x->len = tftp_netascii_len(blob->data, blob->len);
		if (!(x->ascii = malloc(x->len ? x->len : 1)))
			goto fail;
		tftp_netascii_encode(blob->data, blob->len, x->ascii);
		x->data = x->ascii;
	}
	struct tftp_limits lim = {s->o.mtu, from->ss_family == AF_INET6, s->o.max_windowsize};
	struct tftp_verdict v;
	if (tftp_negotiate(rq, &lim, x->len, &x->g, &v) != 0) {
		code = v.code;
		why = v.msg;
		goto fail;
	}
	int64_t now = tg_mono_us();
	if (!(x->sock = pool_take(tl, local, has_local, from, now))) {
		why = "Cannot open a transfer socket";
		goto fail;
	}
	x->sock->x = x;
	x->fd = x->sock->fd;
	x->tl = tl;
	x->peer = *from;
	x->peerlen = fl;
	tg_strlcpy(x->name, name, sizeof x->name);
	x->nblocks = tftp_nblocks(x->len, x->g.blksize);
	x->timeout_ms = x->g.timeout_s ? x->g.timeout_s * 1000 : s->o.timeout_ms;
	x->cur_ms = x->timeout_ms;
	x->started_us = now;
	x->deadline_us = x->started_us + (int64_t)s->o.deadline_s * 1000000;
	struct event_base *base = loop_base(tl->loop);
	evtimer_assign(&x->timer, base, on_xfer_timer, x);
	LIST_INSERT_HEAD(&tl->xfers, x, link);
	if (x->g.acked) {
		/* RFC 2347: options acknowledged first; DATA 1 follows ACK 0. */
		x->oack_pending = 1;
		x->oack_len = tftp_build_oack(x->oack, sizeof x->oack, &x->g);
		rc = send_to_peer(x, x->oack, x->oack_len);
	} else {
		rc = send_window(x);
	}
	if (rc != 0) {
		xfer_finish(x, TFTP_RESULT_SEND, 0);
		return;
	}
	timer_arm(x, now);
	return;
fail:
	conncap_release(s->caps, (const struct sockaddr *)from);
	if (x) {
		files_blob_unref(x->blob);
		free(x->ascii);
		free(x);
	}
	refused(tl, from, fl, lp, name, code, why);
}

static void on_listen_read(evutil_socket_t fd, short what, void *arg)
{
	(void)what;
	struct tftp_loop *tl = arg;
	struct udp_msg m[TFTP_RQ_BATCH];
	for (unsigned i = 0; i < TFTP_RQ_BATCH; i++)
		m[i] = (struct udp_msg){.buf = (char *)tl->rx[i], .cap = sizeof tl->rx[i]};
	for (int reads = 0; reads < TFTP_READS; reads += TFTP_RQ_BATCH) {
		int got = udp_recv_batch(fd, m, TFTP_RQ_BATCH);
		for (int i = 0; i < got; i++) {
			size_t len = m[i].len < m[i].cap ? m[i].len : m[i].cap;
			const struct sockaddr_storage *local = &m[i].local;
			struct tftp_request rq;
			struct tftp_verdict v;
			if (tftp_parse_request(tl->rx[i], len, &rq, &v) == 0) {
				on_request(tl, &rq, &m[i].from, m[i].fromlen, local,
				           m[i].has_local);
				continue;
			}
			tg_counter_inc(&tl->s->c.malformed);
			/* Answered (RFC 1350: a client learns why); an ERROR is at most as
			 * large as the answer to a well-formed request from a forged source
			 * would be. */
			if (v.code >= 0)
				refuse(tl, &m[i].from, m[i].fromlen, m[i].has_local ? local : NULL,
				       v.code, v.msg);
		}
		if (got < TFTP_RQ_BATCH)
			return; /* none more waiting (or an error): the loop calls again */
	}
}

/* --- start and stop --------------------------------------------------------------------- */

static void setup_on_loop(struct loop *l, int i, void *arg)
{
	struct tftp_server *s = arg;
	struct tftp_loop *tl = &s->tl[i];
	tl->loop = l;
	struct timeval tv = {(time_t)(s->o.timeout_ms / 1000),
	                     (suseconds_t)(s->o.timeout_ms % 1000) * 1000};
	tl->common = event_base_init_common_timeout(loop_base(l), &tv);
	if (tl->fd < 0)
		return; /* a loop that takes no requests */
	tl->ev = event_new(loop_base(l), tl->fd, EV_READ | EV_PERSIST, on_listen_read, tl);
	if (tl->ev)
		event_add(tl->ev, NULL);
	else
		log_ev(LOG_LVL_ERROR, NULL, "tftp_listen_failed", LOG_S("loop", loop_name(l)));
}

static void teardown_on_loop(struct loop *l, int i, void *arg)
{
	(void)l;
	struct tftp_server *s = arg;
	struct tftp_loop *tl = &s->tl[i];
	if (tl->ev)
		event_free(tl->ev);
	tl->ev = NULL;
	while (!LIST_EMPTY(&tl->xfers))
		xfer_finish(LIST_FIRST(&tl->xfers), TFTP_RESULT_STOPPED, 0);
	pool_free(tl);
}

static void server_free(struct tftp_server *s)
{
	for (int i = 0; s->tl && i < s->nloops; i++)
		if (s->tl[i].fd >= 0)
			close(s->tl[i].fd);
	free(s->tl);
	conncap_free(s->caps);
	free(s);
}

struct tftp_server *tftp_start(const struct tftp_options *o, struct loop_group *loops,
                               struct files_registry *files, char *err, size_t errlen)
{
	struct tftp_server *s = calloc(1, sizeof *s);
	int n = loop_group_size(loops);
	if (!s || !(s->tl = calloc((size_t)n, sizeof *s->tl)) ||
	    !(s->caps = conncap_new(o->max_transfers, o->max_per_source))) {
		snprintf(err, errlen, "out of memory");
		if (s)
			server_free(s);
		return NULL;
	}
	s->o = *o;
	tg_strlcpy(s->address, o->address, sizeof s->address);
	s->o.address = s->address;
	s->loops = loops;
	s->files = files;
	s->nloops = n;
	for (int i = 0; i < n; i++) {
		s->tl[i].s = s;
		s->tl[i].fd = -1;
		LIST_INIT(&s->tl[i].xfers);
		LIST_INIT(&s->tl[i].locals);
	}
	/* Requests are taken by the last o->loops loops only (1 by default). A 4 KiB transfer
	 * is a few datagrams, and a loop serves tens of thousands a second; spread over every
	 * loop, each loop held a small share of the transfers in flight, woke for nearly each
	 * datagram and went back to sleep: on 2 cores at 64 transfers in flight, 1.2 context
	 * switches and 44 us of CPU per transfer on 2 loops, 0.45 and 34 us on one. The last
	 * loops, because the directory's work sits on loop 0. */
	int first = o->loops > 0 && o->loops < n ? n - o->loops : 0;
	for (int i = first; i < n; i++) {
		int fd = loop_bind_reuseport(o->address, (uint16_t)o->port, SOCK_DGRAM);
		int rc = fd < 0 ? fd : udp_pktinfo_on(fd);
		if (fd >= 0) {
			s->tl[i].fd = fd;
			/* A boot storm sends a thousand RRQs at once; the default receive buffer
			 * (~200 datagrams with their kernel overhead) dropped most of them, and
			 * each phone waited for its own retransmission (1 s or more). 4 MiB
			 * holds several thousand. */
			udp_rcvbuf(fd, 4 * 1024 * 1024);
		}
		if (rc < 0) {
			snprintf(err, errlen, "tftp port %s:%d: %s", o->address, o->port,
			         strerror(-rc));
			server_free(s);
			return NULL;
		}
	}
	socklen_t bl = sizeof s->bound;
	getsockname(s->tl[n - 1].fd, (struct sockaddr *)&s->bound, &bl);
	loop_run_all(loops, setup_on_loop, s);
	ports_name("udp", (unsigned)o->port, NULL, "tftp");
	log_ev(LOG_LVL_NOTICE, NULL, "tftp_listening", LOG_S("address", o->address),
	       LOG_I("port", o->port), LOG_U("mtu", o->mtu),
	       LOG_U("max_windowsize", o->max_windowsize), LOG_I("max_transfers", o->max_transfers),
	       LOG_I("max_per_source", o->max_per_source), LOG_I("loops", n - first));
	return s;
}

void tftp_stop(struct tftp_server *s)
{
	if (!s)
		return;
	loop_run_all(s->loops, teardown_on_loop, s);
	server_free(s);
}

/* --- what the administrator sees ------------------------------------------------------ */

void tftp_stats(struct tftp_server *s, struct tftp_stats *out)
{
	const struct counters *c = &s->c;
	memset(out, 0, sizeof *out);
	out->requests = tg_counter_get(&c->requests);
	out->malformed = tg_counter_get(&c->malformed);
	for (int i = 0; i < 9; i++)
		out->refused[i] = tg_counter_get(&c->refused[i]);
	out->busy = tg_counter_get(&c->busy);
	for (int i = 0; i < TFTP_RESULT_N; i++)
		out->results[i] = tg_counter_get(&c->results[i]);
	out->data_bytes = tg_counter_get(&c->data_bytes);
	out->data_packets = tg_counter_get(&c->data_packets);
	out->retransmits = tg_counter_get(&c->retransmits);
	out->wrong_tid = tg_counter_get(&c->wrong_tid);
	out->active = (uint64_t)conncap_total(s->caps);
}

struct listing {
	struct tftp_server *s;
	pthread_mutex_t mu;
	struct tftp_transfer_info *v;
	size_t n, max, total;
};

static void list_on_loop(struct loop *l, int i, void *arg)
{
	(void)l;
	struct listing *ls = arg;
	struct tftp_server *s = ls->s;
	int64_t now = tg_mono_us();
	struct xfer *x;
	LIST_FOREACH(x, &s->tl[i].xfers, link)
	{
		struct tftp_transfer_info in = {
		    .blksize = x->g.blksize,
		    .windowsize = x->g.windowsize,
		    .blocks = x->nblocks,
		    .sent = x->sent,
		    .acked = x->acked,
		    .retransmits = x->retransmits,
		    .age_ms = (now - x->started_us) / 1000,
		    .state = x->oack_pending ? "oack" : "data",
		};
		tg_strlcpy(in.file, x->name, sizeof in.file);
		tg_sockaddr_str((const struct sockaddr *)&x->peer, in.peer, sizeof in.peer);
		struct sockaddr_storage me;
		socklen_t ml = sizeof me;
		if (getsockname(x->fd, (struct sockaddr *)&me, &ml) == 0)
			tg_sockaddr_str((const struct sockaddr *)&me, in.local, sizeof in.local);
		pthread_mutex_lock(&ls->mu);
		if (ls->n < ls->max)
			ls->v[ls->n++] = in;
		ls->total++;
		pthread_mutex_unlock(&ls->mu);
	}
}

size_t tftp_transfers(struct tftp_server *s, size_t max,
                      void (*fn)(void *ud, const struct tftp_transfer_info *i), void *ud)
{
	struct listing ls = {.s = s, .max = max};
	if (max && !(ls.v = calloc(max, sizeof *ls.v)))
		return 0;
	pthread_mutex_init(&ls.mu, NULL);
	loop_run_all(s->loops, list_on_loop, &ls);
	pthread_mutex_destroy(&ls.mu);
	for (size_t i = 0; i < ls.n; i++)
		fn(ud, &ls.v[i]);
	free(ls.v);
	return ls.total;
}
