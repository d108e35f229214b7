/* SPDX-License-Identifier: ISC */
/*
 * est_server: the EST server (RFC 7030, with RFC 8951's clarifications; issue 17) on the
 * HTTP layer (core/http.h) over TLS ([est] address:port, default 0.0.0.0:8443; listener
 * kind `https`, so `telgate tls ...` settings of transport=http, kind=https or the
 * interface apply: docs/tls.md). The server certificate is the node's (or the interface's
 * override); a client certificate is asked for and optional, and one that is presented
 * must chain to telgate's CA (or an anchor set at the listener's levels).
 *
 *   GET  /.well-known/est/cacerts         the CA certificate, certs-only, base64
 *   GET  /.well-known/est/csrattrs        application/csrattrs, base64: EC P-256
 *   POST /.well-known/est/simpleenroll    HTTP Basic (instance id : string) or a client
 *                                         certificate; body: base64 PKCS#10
 *   POST /.well-known/est/simplereenroll  the client certificate being renewed
 *   POST /.well-known/est/serverkeygen    as simpleenroll; telgate makes the key and answers
 *                                         multipart/mixed: PKCS#8 key, certificate
 *
 * The decision is est_enrol (ca/est_enrol.h) on the worker pool; the answer goes back on
 * the request's loop. Before a job is queued, on the loop: at most [est] queue enrolments
 * at once and [est] rate a second (a token bucket), beyond which 202 + Retry-After (RFC
 * 7030 §4.2.3: the client sends the same request again; no profile was touched). A 401 is
 * sent no sooner than EST_FAILURE_DELAY_MS after the request came, so an unknown instance
 * id and a wrong (argon2id) string take as long. Every request gets one http_access line;
 * each enrolment one est_enrol line (outcome, user, instance id, serial, source).
 *
 * A timer (every EST_SWEEP_S) revokes superseded certificates ([est] reenroll_grace_s,
 * est_supersede_sweep) on a worker.
 *
 * Threads: started and stopped from the main thread; one listener per loop. Ownership:
 * the options' store, signer, workers and loops are the caller's and outlive the server.
 */
#ifndef TG_CA_EST_SERVER_H
#define TG_CA_EST_SERVER_H

#include "core/config.h"
#include "store/store.h"

#include <stdint.h>

#define EST_FAILURE_DELAY_MS 250 /* every 401 waits at least this long after the request */
#define EST_SWEEP_S 60           /* superseded certificates are looked for this often */
#define EST_BODY_MAX 16384       /* bytes of a request body: a base64 RSA 3072 CSR is ~1.6 KiB */
#define EST_EXTRA_ROUTES 16      /* routes other services may mount on the listener */

struct est_server;
struct loop;
struct loop_group;
struct http_route;
struct signer;
struct workers;

struct est_server_options {
	const struct tg_config *cfg; /* [est], [pki] (copied) */
	store_t *store;
	struct signer *signer; /* NULL: every enrolment is 503 (the signer is not running) */
	struct workers *workers;
	struct loop_group *loops;
	struct loop *main;                              /* the sweep timer's loop */
	const char *ca_cert, *server_cert, *server_key; /* PEM files (ca/ca_bootstrap.h) */
	/* Routes of another service on the same listener (the OAuth server, authz/oauth.h),
	 * after EST's own; at most EST_EXTRA_ROUTES, copied; their args outlive the server. */
	const struct http_route *extra_routes;
	size_t nextra;
};

/* Starts the listeners (the caller checked [est] port != 0). Returns NULL with err set
 * when a file cannot be read, the port cannot be bound or memory runs out. */
struct est_server *est_server_start(const struct est_server_options *o, char *err, size_t errlen);
/* Stops accepting, closes the connections and answers the requests held: before the
 * worker pool stops. NULL is a no-op. Main thread. */
void est_server_stop(struct est_server *e);
/* Frees it: after the worker pool and the loops stopped. NULL is a no-op. */
void est_server_free(struct est_server *e);

/* Counters for the metrics and tests. */
struct est_server_stats {
	uint64_t enrolments[9]; /* by enum est_outcome */
	uint64_t refused_queue, refused_rate;
	unsigned in_flight;
};
void est_server_stats(struct est_server *e, struct est_server_stats *out);

#endif
