/* SPDX-License-Identifier: ISC */
/*
 * registrar: the SIP registrar (RFC 3261 §10.3) over UDP, TCP and TLS — digest
 * authentication (digest.h) against provisioned HA1s, bindings in memory and written to
 * the store behind (location.h: a restart keeps them until they expire), and device state
 * for the CTI server: a device whose first binding appears is in service, one whose last
 * binding goes is out of service.
 *
 * Edge proxies connect to a third, mutual-TLS listener (sip.edge_port): only there is the
 * user id they assert in Contact honoured, and checked against the device's owner and
 * associated users (authz.h) after digest authentication. TCP, TLS and edge connections
 * run on core/stream (stream.h): capped per node and per source address (one conncap for
 * all three), a request soon after connect, CRLF keep-alive pongs, close_notify on TLS.
 *
 * The registrar is three modules: register.h decides a REGISTER (outcome -> one reply
 * table), transport.h carries requests and answers (UDP, streams, retransmissions, held
 * failures, counters), and this one starts and stops them on the loops (sockets, expiry
 * sweep, the edge allow-list) and answers the administrator.
 *
 * Threads: every loop owns a UDP socket and TCP/TLS listeners on the same ports
 * (SO_REUSEPORT). Parsing, the digest checks and a REGISTER whose account is cached and
 * current (accounts.h: a refresh) happen on the loop; any REGISTER that needs the store
 * (a cache miss, a failure to count, an edge's decision) goes to the worker pool. Ownership: the
 * store, workers, loops and CTI server given at start must outlive the registrar; stop it before
 * the workers and loops, free it after.
 */
#ifndef TG_SIP_REGISTRAR_H
#define TG_SIP_REGISTRAR_H

#include "core/config.h"
#include "store/store.h"

#include <stddef.h>
#include <stdint.h>

struct loop_group;
struct workers;
struct devstate;
struct sip_registrar;

struct sip_registrar_options {
	const struct tg_config *cfg; /* [sip] section, copied */
	store_t *store;
	struct workers *workers;
	struct loop_group *loops;
	/* The device-state bus (core/devstate.h): a device is published in service at its
	 * first binding and out of service at its last (expiry, unregister, Expires: 0), and
	 * in service again for each device restored from the store at start. May be NULL. */
	struct devstate *devstate;
	const char *tls_cert, *tls_key; /* kept: the 5090 context is made when it opens */
	/* The token service (authz/token.h): bearer tokens on 5090 and from edges (issue
	 * 19). NULL: every token is refused. Must outlive the registrar. */
	struct authz *authz;
};

struct sip_registrar *sip_registrar_start(const struct sip_registrar_options *o, char *err,
                                          size_t errlen);
void sip_registrar_stop(struct sip_registrar *r);
void sip_registrar_free(struct sip_registrar *r);

/* Removes every binding of the device (administrator's `unregister`); the device goes out
 * of service. Any thread. Returns the number removed or -1. */
int sip_registrar_unregister(struct sip_registrar *r, const char *device);

/* Calls fn for each live binding (of one device, or all when device is NULL), ordered by
 * device and contact. Any thread. Returns 0, or -1 when out of memory. */
int sip_registrar_registrations(struct sip_registrar *r, const char *device,
                                int (*fn)(void *ud, const struct store_registration *b), void *ud);

/* The node's heartbeat (issue 21, docs/cluster.md): on a shared store, deletes the
 * expired bindings of dead nodes (another node's whose heartbeat is older than
 * stale_before, epoch s: sip_devlink_expire_orphans). Returns the live bindings this node
 * holds, for its row in the node table. Blocking (the store): the main loop's timer. */
long sip_registrar_heartbeat(struct sip_registrar *r, int64_t now, int64_t stale_before);

/* Blocks until every binding change so far is in the store (tests, `telgate status`). */
void sip_registrar_sync(struct sip_registrar *r);

/* SIP OAuth (issue 19, seed 002): applies ClusterSIPOAuthMode as the store holds it now.
 * On: the 5090 listener (this node's processnode.sipoauthport; TLS with the sip-tls
 * policy, no client certificate) opens on every loop and 5060/5061 refuse digest from
 * OAuth-profile devices; off: it closes with its connections. No restart: the first loop
 * calls this on a worker within a second of any store change, `utils sipOAuth-mode` at
 * once. Blocking (store, every loop): never on a loop thread. *open_port (may be NULL)
 * gets the port open now (0 = none). 0, or -1 with err (the port could not open). */
int sip_registrar_oauth_apply(struct sip_registrar *r, int *open_port, char *err, size_t errlen);

/* The SIP OAuth port open now, 0 when closed. Any thread. */
int sip_registrar_oauth_port(struct sip_registrar *r);

/* Re-reads the edge allow-list from the store (after `telgate edge add|remove`, SIGHUP).
 * New handshakes use it at once; an edge connection whose identity was removed is closed
 * at its next request. Blocking (store): call from a worker. Returns the count or -1. */
int sip_registrar_edges_reload(struct sip_registrar *r);

/* What the registrar has seen since it started (for /metrics). Monotonic counters, each
 * read with a relaxed atomic load: totals, not one consistent snapshot. */
struct sip_registrar_stats {
	/* Requests handed to the registrar (UDP datagrams and stream frames, keep-alive CRLFs
	 * and requests on a refused edge connection excepted), by method; a message that could
	 * not be parsed as far as its method counts as other. */
	uint64_t requests_register, requests_options, requests_other;
	/* Responses sent, by class: index = status / 100, 1..6 (0 is unused). Every response
	 * that left counts: answers to retransmissions, held 403s, 400s for unreadable
	 * requests and for a broken stream framing. */
	uint64_t responses[7];
	/* REGISTERs refused (403) because their source failed too often this minute
	 * (sip.source_failures_max). */
	uint64_t throttled;
	/* Gauge: live bindings (contacts) in the location service now, counted shard by
	 * shard (no list is built). */
	uint64_t bindings;
	/* Gauge: 200s held now until the binding they add or remove is committed. */
	uint64_t held_for_store;
	/* New bindings and removals answered 503 (Retry-After) instead of a held 200: the
	 * store was behind (the oldest held answer had waited half of sip.commit_timeout_ms)
	 * or the loop held its maximum. The change itself stays queued. */
	uint64_t store_busy;
	/* UDP retransmissions of REGISTERs (txn.h): answered with their
	 * transaction's answer again, or absorbed because it was still decided or held. */
	uint64_t retrans_repeated, retrans_absorbed;
	/* Answers forgotten before their 32 s because of the memory bound (a retransmission
	 * after that is judged again), and the gauges: transactions kept, their bytes. */
	uint64_t txn_evicted_early, txn_entries, txn_bytes;
	/* Authenticated REGISTERs refused (401, a new challenge) because their nonce count
	 * was used already: replays, or retransmissions that did not find their transaction. */
	uint64_t nonce_replays;
};

/* Fills out. Any thread. */
void sip_registrar_stats(struct sip_registrar *r, struct sip_registrar_stats *out);

/* The location writer's commits (location.h struct sip_loc_stats): latency and batch
 * size histograms. Any thread; valid until sip_registrar_free. */
struct sip_loc_stats;
const struct sip_loc_stats *sip_registrar_commit_stats(struct sip_registrar *r);

#endif
