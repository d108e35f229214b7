/* SPDX-License-Identifier: ISC */
/*
 * transport: the registrar's sockets — requests in over UDP (one socket per loop) and
 * TCP, TLS and edge streams (core/stream.h: SIP framing by Content-Length), answers out
 * on the path they came by (RFC 3261 §18.2.2), answers to UDP retransmissions (txn.h),
 * failures' answers held until sip.failure_delay_ms after arrival, and the 200 of a
 * REGISTER that adds or removes a binding held until the change is committed to the
 * store (location.h; at most sip.commit_timeout_ms, then 500 with Retry-After; 503 at
 * once when a loop holds 16,384 such answers). What to answer is
 * decided by register.h; a REGISTER that needs the store goes to the worker pool and its
 * answer comes back to the loop it came from.
 *
 * An edge connection's identity is read once from its certificate and checked against the
 * allow-list (edge.h) on every request: an identity removed from the list is cut off at
 * its next request, unanswered.
 *
 * Counters (sip_registrar_stats): every message handed to the registrar by method
 * (keep-alive CRLFs and requests refused with their edge connection excepted), every
 * response sent by class (retransmitted and held answers included, and the 400 for a
 * broken stream framing), and the requests refused because their source is throttled.
 * Relaxed atomics: totals, not a consistent snapshot.
 *
 * Threads: sip_transport_open/close run on the loop they name (loop_run_all); everything
 * else of a loop's sockets runs on that loop; the decision of the store path runs on a
 * worker. Ownership: the options' register state, workers, loops, edges, caps and TLS
 * contexts must outlive the transport; close every loop before freeing it.
 */
#ifndef TG_SIP_TRANSPORT_H
#define TG_SIP_TRANSPORT_H

#include "core/config.h"
#include "sip/registrar.h"

struct sip_reg;
struct sip_loc;
struct workers;
struct loop_group;
struct sip_edges;
struct conncap;
struct tlsctx;
struct sip_transport;

/* The stream listeners of a loop. SIP_CONN_OAUTH (SIP OAuth, 5090: TLS, no client
 * certificate, bearer tokens) opens and closes while the loops run
 * (sip_transport_listen / sip_transport_unlisten). */
enum sip_conn_kind { SIP_CONN_TCP, SIP_CONN_TLS, SIP_CONN_EDGE, SIP_CONN_OAUTH, SIP_CONN_KINDS };

struct sip_transport_options {
	const struct tg_config *cfg; /* [sip]: timeouts, failure delay, force_rport; kept */
	struct sip_reg *reg;
	struct sip_loc *loc; /* the bindings: held 200s wait for its commits */
	struct workers *workers;
	struct loop_group *loops;
	struct sip_edges *edges;       /* the edge allow-list */
	struct conncap *caps;          /* shared by every SIP stream listener */
	struct tlsctx *tls, *edge_tls; /* NULL when that listener is off */
};

/* NULL when out of memory. */
struct sip_transport *sip_transport_new(const struct sip_transport_options *o);
void sip_transport_free(struct sip_transport *t);

/* On loop i's own thread: serves udp_fd and a stream listener on each fds[k] (enum
 * sip_conn_kind; -1 = off); takes the descriptors. A listener that cannot start is logged
 * (sip_listen_failed) and stays off. */
void sip_transport_open(struct sip_transport *t, int i, int udp_fd, const int fds[SIP_CONN_KINDS]);

/* On loop i's own thread: one stream listener of kind k on fd (taken), with the TLS
 * context set by sip_transport_set_tls (kept until the transport is freed). 0, or -1
 * (logged; fd closed). */
int sip_transport_listen(struct sip_transport *t, int i, enum sip_conn_kind k, int fd);
/* On loop i's own thread: the listener of kind k accepts on fd too (another listen
 * address, stream_listener_add). 0, or -1 (logged; fd closed). */
int sip_transport_listen_more(struct sip_transport *t, int i, enum sip_conn_kind k, int fd);
/* On loop i's own thread: the listener of kind k closed, and every connection it
 * accepted ("server stopping"). */
void sip_transport_unlisten(struct sip_transport *t, int i, enum sip_conn_kind k);
/* The TLS context of kind k's listeners from the next sip_transport_listen. Call while
 * no loop has such a listener. */
void sip_transport_set_tls(struct sip_transport *t, enum sip_conn_kind k, struct tlsctx *tls);

/* On loop i's own thread: held answers are sent now, later failures are answered at once,
 * every socket and stream connection of the loop is closed. */
void sip_transport_close(struct sip_transport *t, int i);

/* The counters (see above) into out. Any thread. */
void sip_transport_stats(struct sip_transport *t, struct sip_registrar_stats *out);

#endif
