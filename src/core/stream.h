/* SPDX-License-Identifier: ISC */
/*
 * stream: the one connection lifecycle of every stream listener — TCP, TLS and UNIX — on
 * the event loops (issue 14; Redis's connection.h is the model). A protocol plugs in a
 * framing function and a frame handler; the layer does everything else, the same way for
 * SIP, CTI, the control socket and every later listener:
 *
 * - listen: on one or several addresses (IPv4 and IPv6: stream_bind_list,
 *   stream_listener_add), one set of options, caps and counters for all;
 * - accept: the node and per-source caps (conncap) are checked before any TLS work; the
 *   socket gets TCP_NODELAY (an answer must not wait ~40 ms for Nagle and delayed ACK);
 *   running out of file descriptors (EMFILE/ENFILE) pauses accepting for a moment and is
 *   logged once, instead of spinning on accept (OpenBSD relayd's control.c);
 * - TLS: the handshake from a tlsctx; a failure is logged with its reason and counted;
 *   an orderly close sends a TLS close_notify before the FIN (RFC 5246 §7.2.1, RFC 8446
 *   §6.1), also after the peer's own close_notify, and never waits for the peer's; after
 *   stream_close_after_flush it follows the last answer even when that filled the socket
 *   (it waits for the socket, within the flush timeout); other closes try it once;
 * - timeouts: a first-message timeout until the first complete frame (covering the TLS
 *   handshake), then an idle timeout; RFC 5626 CRLF keep-alives (option) are answered
 *   and never count as a first message;
 * - framing: the protocol's frame() says "need more" or "a frame of length L"; frames
 *   are handed over in order, one at a time, and not while reading is paused;
 * - writing: a bounded output queue; a peer that lets it grow past the listener's limit
 *   is a slow consumer: it is logged and disconnected, and nobody else waits for it;
 * - closing: one state (open -> closing -> closed) and one reference count. A close asked
 *   for inside a callback happens when the callback returns; stream_close_after_flush
 *   stops reading and closes once the queued answers are out (bounded by a timeout), then
 *   lingers: the write side is shut and what the peer still sends is dropped for up to 2 s
 *   and 1 MiB (RFC 9112 §9.6), so that a peer still sending (a body refused with a 413)
 *   reads the answer instead of losing it to a reset. A peer's end of input (TCP FIN,
 *   a TLS 1.3 close_notify) stops reading likewise: queued answers still go out (10 s
 *   bound) before the close; a TLS 1.2 close_notify or a TLS EOF without one closes at
 *   once (RFC 5246 §7.2.1). The
 *   protocol's on_close runs once; the memory (with the protocol's per-connection data)
 *   goes when the last reference is dropped, so jobs in flight may hold a stream;
 * - counters per listener (accepted, refused by cap, TLS failures by reason, timeouts, slow
 *   consumers, open now, bytes in and out) for the metrics.
 *
 * Threads: a stream belongs to the loop its listener runs on; every function here is
 * called on that loop's thread, except stream_ref/stream_unref pairs that a job carries
 * (the job's done callback runs on the loop: see worker.h). Listener stats are atomics,
 * readable from any thread. The loop must outlive every stream reference (a stream's
 * events belong to its loop), and the process must ignore SIGPIPE (a write or a TLS
 * close_notify can reach a socket the peer has reset; telgated ignores it).
 *
 * Ownership: the caller owns the stream_listener_options strings, the tlsctx, the
 * conncap and the stats they point to, and keeps them alive until every listener using
 * them is freed. The layer owns each stream and its protocol data (`user_size` bytes,
 * zeroed, freed with the stream).
 */
#ifndef TG_STREAM_H
#define TG_STREAM_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include <openssl/ssl.h>

struct loop;
struct tlsctx;
struct conncap;
struct stream;
struct stream_listener;

enum stream_kind {
	STREAM_TCP = 0,
	STREAM_TLS,
	STREAM_UNIX,
};

/* Why a TLS connection failed: a small fixed set, the `reason` label of the metrics (the
 * log line has OpenSSL's own text). From OpenSSL's error reason and, for a client
 * certificate we refused, the verify result (RFC 8446 §6.2 alert names where one fits). */
enum stream_tls_fail {
	STREAM_TLS_FAIL_HANDSHAKE_TIMEOUT = 0, /* the first-message timeout ran out mid-handshake */
	STREAM_TLS_FAIL_PROTOCOL_VERSION,      /* no TLS version in common (a TLS 1.1 client) */
	STREAM_TLS_FAIL_NO_SHARED_CIPHER,      /* no cipher suite or group in common */
	STREAM_TLS_FAIL_NO_CERTIFICATE,        /* mutual TLS: the client sent no certificate */
	STREAM_TLS_FAIL_UNKNOWN_CA,      /* a certificate from a CA the other side does not trust */
	STREAM_TLS_FAIL_BAD_CERTIFICATE, /* any other certificate refused (expired, revoked...) */
	STREAM_TLS_FAIL_NOT_TLS,         /* plain text (HTTP, SIP...) on a TLS port */
	STREAM_TLS_FAIL_OTHER,
	STREAM_TLS_FAIL_N
};
/* "handshake_timeout", "protocol_version", ...: the label value. */
const char *stream_tls_fail_name(enum stream_tls_fail r);
/* The reason for OpenSSL error e (ERR_get_error's packed form) on a connection whose
 * client-certificate verification ended with verify_result (X509_V_OK when none ran). */
enum stream_tls_fail stream_tls_fail_classify(unsigned long e, long verify_result);

/* Per-listener counters, shared by the listeners of one service on every loop. */
struct stream_stats {
	_Atomic uint64_t accepted;    /* connections accepted (after the caps) */
	_Atomic uint64_t refused_cap; /* refused by the node or per-source cap */
	_Atomic uint64_t refused_fd;  /* accept failed for want of descriptors */
	_Atomic uint64_t tls_failed;  /* handshakes or TLS records refused, and handshakes
	                                 the first-message timeout cut (the sum of: */
	_Atomic uint64_t tls_failed_by[STREAM_TLS_FAIL_N]; /* ... these, by reason) */
	_Atomic uint64_t timeouts;       /* first-message, idle or flush timeouts */
	_Atomic uint64_t slow_consumers; /* cut off for not reading */
	_Atomic uint64_t bytes_in;       /* bytes read (after TLS) */
	_Atomic uint64_t bytes_out;      /* bytes queued for writing (before TLS) */
	_Atomic int64_t open;            /* connections open now */
};

/* What frame() found at the start of the input. */
enum {
	STREAM_FRAME_MORE = 0,    /* not complete yet: call again with more bytes */
	STREAM_FRAME_BROKEN = -1, /* the framing is lost: the stream closes after its
	                             queued answers (frame() may queue one first) */
};

struct stream_ops {
	/* Cuts the next frame: buf holds the first len bytes of the input (contiguous; at
	 * most the listener's max_frame). Returns the frame's length (1..len), or
	 * STREAM_FRAME_MORE, or STREAM_FRAME_BROKEN. The start of the input moves only after
	 * a frame (or a keep-alive), so frame() may remember how far it has looked. Before
	 * STREAM_FRAME_BROKEN it may queue an answer and call stream_close_after_flush with
	 * its own reason (else the reason is "framing error", flushed within 10 s). A frame longer
	 * than max_frame can never complete: the layer closes the stream ("frame too large") when
	 * max_frame bytes are there and frame() still wants more. */
	long (*frame)(struct stream *s, const unsigned char *buf, size_t len);
	/* One complete frame, in order. frame points into the input; it is valid during the
	 * call only. */
	void (*on_frame)(struct stream *s, const unsigned char *frame, size_t len);
	/* A new connection (after the caps; before the TLS handshake ends). Returns 0, or -1
	 * to refuse it (it is closed at once, on_close is not called). May be NULL. */
	int (*on_open)(struct stream *s);
	/* The connection ended: why is a short English reason ("peer closed the
	 * connection", "idle", "no request in time", a TLS error, the reason given to
	 * stream_close). Called once, for every stream on_open accepted; the stream is
	 * closed (writes are dropped) but its memory stays until the last reference goes.
	 * May be NULL. */
	void (*on_close)(struct stream *s, const char *why);
	/* The output queue drained (every byte handed to the kernel or to TLS). Over TLS it
	 * may arrive late, after more was queued: check stream_pending(). May be NULL. */
	void (*on_drain)(struct stream *s);
};

struct stream_listener_options {
	const char *name; /* "sip-tcp", "cti-tls", "control", ...: logs and metrics */
	enum stream_kind kind;
	struct tlsctx *tls;   /* STREAM_TLS: where each connection's SSL comes from */
	struct conncap *caps; /* NULL: no caps (the control socket) */
	/* The settings behind the caps, named in the refusal's log line so that it says what
	 * to raise ("sip.max_connections", "sip.max_connections_per_source"); NULL: a
	 * generic text. */
	const char *node_cap_setting, *source_cap_setting;
	struct stream_stats *stats; /* NULL: not counted */
	const struct stream_ops *ops;
	void *ctx;                   /* the protocol's listener-wide context (stream_ctx) */
	size_t user_size;            /* bytes of per-connection protocol data (stream_user) */
	size_t max_frame;            /* bytes; the largest frame the protocol accepts (> 0) */
	size_t write_limit;          /* bytes queued for the peer beyond which it is cut off;
	                                0 = no limit */
	int first_message_timeout_s; /* from the accept to the first frame (TLS included), a
	                                deadline that no bytes extend; 0 = none */
	int idle_timeout_s;          /* between frames afterwards; 0 = none */
	int crlf_keepalive; /* RFC 5626 §3.5.1: answer CRLFCRLF with CRLF, skip lone CRLFs */
	/* The frames of one read see one time: the clock is held (tg_clock_hold, util.h)
	 * while they are handed over. For handlers that read the clock per frame and never
	 * measure a duration within one (SIP: issue 22). */
	int hold_clock;
};

/* Starts accepting on fd (a socket the caller bound and put in the listening state; it is
 * made non-blocking here; the listener owns it from now on, also on failure) on loop,
 * which must be the calling thread's loop. Returns NULL
 * (fd closed) with err set when libevent refuses. */
struct stream_listener *stream_listen(struct loop *loop, int fd,
                                      const struct stream_listener_options *o, char *err,
                                      size_t errlen);
/* The most listen addresses one listener accepts on (stream_listener_add). */
#define STREAM_ADDR_MAX 8

/* Accepts on fd too (another listen address of the same service: IPv4 and IPv6, several
 * interfaces), with the same options, caps and counters; fd as for stream_listen (the
 * listener owns it, also on failure). Loop thread. Returns 0, or -1 with err set (more
 * than STREAM_ADDR_MAX addresses, libevent refuses, or accepting was stopped). */
int stream_listener_add(struct stream_listener *l, int fd, char *err, size_t errlen);

/* Binds one listening socket (SO_REUSEPORT, as loop_bind_reuseport) for port on each
 * address of the list `addresses`: numeric IPv4 or IPv6 addresses separated by commas
 * or spaces ("127.0.0.1, ::1"), at most STREAM_ADDR_MAX. type: SOCK_STREAM or
 * SOCK_DGRAM. Returns how many were bound (fds[0..n-1], the list's order), or -1 with
 * err naming the address that failed (nothing stays open then). */
int stream_bind_list(const char *addresses, uint16_t port, int type, int fds[STREAM_ADDR_MAX],
                     char *err, size_t errlen);
/* The first address of the list into out (for what binds one address only). 0, or -1
 * when the list is empty or the address longer than cap. */
int stream_addr_first(const char *addresses, char *out, size_t cap);

/* Stops accepting: the listening socket is closed (new connections are refused by the
 * kernel); the streams already accepted stay. For a drain before stopping. */
void stream_listener_stop_accepting(struct stream_listener *l);
/* Closes the listening socket and every stream it accepted ("server stopping"), then
 * frees it. Streams still referenced by jobs are freed when those end. Loop thread. */
void stream_listener_free(struct stream_listener *l);
/* Streams open on this listener now. */
size_t stream_listener_count(const struct stream_listener *l);

/* Called from frame() when it returned STREAM_FRAME_MORE and knows how long the frame
 * is: frame() is not called again (nor the input made contiguous) until `bytes` are in
 * the input. Without it a large frame arriving in pieces would be copied again at every
 * piece. A length beyond max_frame closes the stream ("frame too large"). */
void stream_need(struct stream *s, size_t bytes);

/* Queues bytes for the peer. Returns 0, or -1 when the stream is closing or closed (the
 * bytes are dropped) or when this write made it a slow consumer (it is then closed
 * after the callback). */
int stream_write(struct stream *s, const void *buf, size_t len);
/* The same for two pieces sent as one (one TLS record when they fit). */
int stream_write2(struct stream *s, const void *a, size_t alen, const void *b, size_t blen);
/* Bytes queued and not yet handed to the kernel or to TLS. */
size_t stream_pending(const struct stream *s);

/* Closes the stream: at once, or — inside one of this stream's own callbacks — when that
 * callback returns. Closing another stream (a fan-out walking its own list) runs that
 * stream's on_close at once: the protocol must allow for it. Idempotent. Queued output
 * is dropped (TLS: close_notify still goes out). */
void stream_close(struct stream *s, const char *why);
/* Stops reading (what arrives is discarded) and closes once the queued output is out,
 * or after timeout_s seconds if the peer does not read it (counted in timeouts). Writes
 * from now on are refused: an answer from a job that ends meanwhile is dropped. The
 * reason logged is the last one (the peer's EOF or the timeout replaces it). */
void stream_close_after_flush(struct stream *s, const char *why, int timeout_s);
/* 1 once stream_close or stream_close_after_flush was asked for, or the peer left. */
int stream_closing(const struct stream *s);

/* Frames are not handed over while paused (the input is kept); resume hands over what
 * is there, from the loop's next turn. For a protocol that must finish one frame before
 * the next (a login being checked). */
void stream_pause(struct stream *s);
void stream_resume(struct stream *s);

/* References held by jobs: the memory stays until the last one is dropped. */
void stream_ref(struct stream *s);
void stream_unref(struct stream *s);

/* The protocol's per-connection data (user_size bytes) and listener context. */
void *stream_user(struct stream *s);
void *stream_ctx(const struct stream *s);
/* "address:port" ("[v6]:port"), or "local" for UNIX peers. */
const char *stream_peer(const struct stream *s);
const struct sockaddr *stream_peer_addr(const struct stream *s, socklen_t *len);
enum stream_kind stream_kind(const struct stream *s);
const char *stream_listener_name(const struct stream *s);
struct loop *stream_loop(const struct stream *s);
/* The TLS session (NULL for TCP and UNIX streams): the peer's certificate, the version. */
SSL *stream_ssl(const struct stream *s);
/* The socket (SO_PEERCRED for UNIX streams; never read or write it directly). */
int stream_fd(const struct stream *s);

/* The counters of every listener that exists, by listener name, for the metrics: fn runs
 * under the list's lock (it must not start or free a listener). stream_listen attaches
 * its options' stats and stream_listener_free detaches them; listeners sharing one
 * struct stream_stats are listed once. The name must be static storage. */
void stream_stats_attach(const char *name, const struct stream_stats *stats);
void stream_stats_detach(const struct stream_stats *stats);
void stream_stats_foreach(void (*fn)(void *arg, const char *listener,
                                     const struct stream_stats *stats),
                          void *arg);

/* Raises the soft RLIMIT_NOFILE to the hard limit and returns the descriptors a node may
 * give to connections: the limit minus `reserve` (stores, logs, listeners, LDAP). The
 * caller clamps its connection caps to it and says so. */
long stream_fd_budget(long reserve);

#endif
