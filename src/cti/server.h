/* SPDX-License-Identifier: ISC */
/*
 * server: the CTI server — CSTA XML sessions over TCP and TLS (proto.h), logins through
 * the directory, device monitors and their in-service / out-of-service events.
 *
 * Threads: every loop of the group owns a listener per port (SO_REUSEPORT) and the
 * connections it accepted; a connection never changes thread. Store lookups (device
 * associations) run on the worker pool. Device-state changes (cti_device_state) may come
 * from any thread and are fanned out to every loop by message passing; each loop keeps
 * its own index of the monitors it serves.
 *
 * Ownership: the server keeps pointers to the store, directory, workers and loops given
 * at start; they must outlive it. cti_server_stop() must run before the loops stop.
 */
#ifndef TG_CTI_SERVER_H
#define TG_CTI_SERVER_H

#include "core/config.h"
#include "dir/dir.h"
#include "store/store.h"

#include <stddef.h>

struct loop_group;
struct workers;
struct cti_server;

struct cti_server_options {
	const struct tg_config *cfg; /* [cti] section, copied */
	store_t *store;
	struct dir *dir;
	struct workers *workers;
	struct loop_group *loops;
	const char *tls_cert, *tls_key; /* PEM files of the server certificate */
};

struct cti_server *cti_server_start(const struct cti_server_options *o, char *err, size_t errlen);
/* Closes listeners and connections (monitors are released). Blocks until every loop has
 * done so. Connections with a job or a login still pending are freed when it ends, so
 * cti_server_free() comes after the workers, the directory and the loops have stopped. */
void cti_server_stop(struct cti_server *s);
void cti_server_free(struct cti_server *s);

/* The device-state API the registrar feeds: the device is registered (in service) or
 * not. Thread-safe. Monitors of the device get BackInService / OutOfService when the
 * state changes. */
void cti_device_state(struct cti_server *s, const char *device, int in_service);
int cti_device_in_service(struct cti_server *s, const char *device);

/* For the admin commands: rows of sessions and monitors, under the server's lock. The
 * strings are valid during the call. */
struct cti_session_info {
	const char *session_id, *user, *application, *peer, *transport, *cid;
	long long started_s;
	int monitors;
};
struct cti_monitor_info {
	unsigned long crossref;
	const char *device, *user, *application, *peer, *session_id;
	long long opened_s;
	int in_service;
};
void cti_server_sessions(struct cti_server *s,
                         void (*fn)(void *ud, const struct cti_session_info *i), void *ud);
void cti_server_monitors(struct cti_server *s,
                         void (*fn)(void *ud, const struct cti_monitor_info *i), void *ud);

#endif
