/* SPDX-License-Identifier: ISC */
/*
 * xsi/server: the cloud CTI event interfaces (issue 20, seed 004): one mutual-TLS HTTPS
 * listener per interface of the store (`telgate cti-interface add`; seed port 8012), each
 * a TLS listener of kind "cti-interface" (tls/level.h: its protocols, suites, trust
 * anchors, client identities and allowClientApp come from the TLS policy's levels), on
 * the HTTP layer, speaking Xsi-Events v2.0 (docs/cti-events.md has every path):
 *
 *   POST   /com.broadsoft.async/com.broadsoft.xsi-events/v2.0/channel     open a channel
 *   PUT    /com.broadsoft.xsi-events/v2.0/channel/{id}                     refresh it
 *   PUT    /com.broadsoft.xsi-events/v2.0/channel/{id}/heartbeat           client heartbeat
 *   DELETE /com.broadsoft.xsi-events/v2.0/channel/{id}                     close it
 *   POST   /com.broadsoft.xsi-events/v2.0/channel/eventresponse            acknowledge
 *   POST   /com.broadsoft.xsi-events/v2.0/user/{userid}                    subscribe a user
 *   POST   /com.broadsoft.xsi-events/v2.0/{enterprise|serviceprovider}/{id}/group/{group}
 *   PUT    /com.broadsoft.xsi-events/v2.0/subscription/{id}                refresh it
 *   DELETE /com.broadsoft.xsi-events/v2.0/subscription/{id}                end it
 *
 * Authorisation, on every request: a client certificate that verified (the TLS layer
 * requires one whenever allowClientApp is true and anchors exist; without them no
 * certificate is asked for and every request is 403), whose subject CN is an allowed
 * client identity of the interface's levels (403 otherwise); a subscription only to a
 * subscriber in the identity's scope (`cti-interface scope`: all, or a directory group;
 * 403 and a log line otherwise). Subscriptions of a subscriber who is deprovisioned end
 * with a SubscriptionTerminatedEvent (a sweep every sweep_s, and xsi_server_sweep).
 * The interface table is applied at runtime too: after a store generation change (a write
 * here, or another node's announced by NOTIFY) the once-a-second tick has a worker read
 * it again and open and close listeners to match.
 *
 * Threads: start/stop/free from the main thread; open/close/listening/sweep from any
 * thread but a loop (the admin workers: they wait for loop_run_all). Handlers run on
 * the loops, store work on the worker pool, the timers on the main loop. Ownership: the
 * options' objects are the caller's and outlive the server; strings are copied.
 */
#ifndef TG_XSI_SERVER_H
#define TG_XSI_SERVER_H

#include "store/store.h"

#include <stddef.h>

struct devstate;
struct loop;
struct loop_group;
struct tg_config;
struct workers;
struct xsi_hub;
struct xsi_server;

#define XSI_KIND "cti-interface" /* the TLS policy's interface kind (tls/level.c) */

struct xsi_server_options {
	const struct tg_config *cfg; /* [cti_interface] (copied) */
	store_t *store;
	struct workers *workers;
	struct loop_group *loops;
	struct loop *main; /* the timers */
	struct devstate *devstate;
	/* The node certificate and key (issued by telgate's CA, ca/ca_bootstrap.h): every
	 * interface serves it unless replaced (`cti-interface ssl-update`). */
	const char *server_cert, *server_key;
};

/* Starts the hub and timers, and a listener for every interface in the store (one that
 * cannot be bound is logged and skipped: the others still serve). NULL with err when
 * memory runs out or the store cannot be read. */
struct xsi_server *xsi_server_start(const struct xsi_server_options *o, char *err, size_t errlen);
/* Opens the listener of address:port. 0, -EEXIST (it is open: the table's reload may have
 * opened it first), or -1 with err (also once the server is stopping). */
int xsi_server_open(struct xsi_server *s, const char *address, int port, char *err, size_t errlen);
/* Closes it: its channels get ChannelTerminated, its connections close. 0 or -ENOENT. */
int xsi_server_close(struct xsi_server *s, const char *address, int port);
/* 1 when address:port is open. */
int xsi_server_listening(struct xsi_server *s, const char *address, int port);
/* Re-reads the subscribers now (after an import or a user's removal). */
void xsi_server_sweep(struct xsi_server *s);
struct xsi_hub *xsi_server_hub(struct xsi_server *s);

/* Stops accepting and closes every interface: before the workers and loops stop. */
void xsi_server_stop(struct xsi_server *s);
/* After the loops stopped. NULL is a no-op. */
void xsi_server_free(struct xsi_server *s);

#endif
