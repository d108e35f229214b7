/* SPDX-License-Identifier: ISC */
/*
 * server: the CTI server — CSTA XML sessions over TCP and TLS (proto.h), logins through
 * the directory, device monitors and their in-service / out-of-service events. Its files:
 * server.c (start, stop, listings, counters), conn.c (a connection on the stream layer),
 * session.c (login, heartbeat, stop), monitor.c (device checks, monitors, the fan-out of
 * device-state changes, cti_server_monitors), outcome.c (the
 * refusals' one table); server_int.h is what they share.
 *
 * Threads: every loop of the group owns a listener per port (SO_REUSEPORT) and the
 * connections it accepted; a connection never changes thread. Store lookups (device
 * associations) run on the worker pool. Device-state changes come from the device-state
 * bus (core/devstate.h; the registrar publishes) on the publisher's thread and are fanned
 * out to every loop by message passing; each loop keeps its own index of the monitors it
 * serves.
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
#include <stdint.h>

struct loop_group;
struct workers;
struct cti_server;

struct authz;

struct cti_server_options {
	const struct tg_config *cfg; /* [cti] section, copied */
	store_t *store;
	struct dir *dir;
	struct workers *workers;
	struct loop_group *loops;
	/* The device-state bus (core/devstate.h), the daemon's: the server subscribes at
	 * start and leaves at stop; monitors read a device's state from it. Required:
	 * cti_server_start refuses NULL. */
	struct devstate *devstate;
	const char *tls_cert, *tls_key; /* PEM files of the server certificate */
	/* Telgate's CA certificate (pki.dir/ca.crt): the TLS port asks clients for a
	 * certificate and verifies it against this CA and the cti-tls trust anchors (cert.h);
	 * NULL or "": no certificate is asked for, and logins that need one are refused. */
	const char *client_ca;
	/* The token service (authz/token.h): StartApplicationSession with an accessToken logs
	 * in as the token's subject (aud cti). NULL: such logins are refused
	 * (CTI_LOGIN_TOKEN). */
	struct authz *authz;
};

struct cti_server *cti_server_start(const struct cti_server_options *o, char *err, size_t errlen);
/* Closes listeners and connections (monitors are released). Blocks until every loop has
 * done so. Connections with a job or a login still pending are freed when it ends, so
 * cti_server_free() comes after the workers, the directory and the loops have stopped. */
void cti_server_stop(struct cti_server *s);
void cti_server_free(struct cti_server *s);

/* Closes every session that logged in with the certificate whose serial is given (32
 * upper-case hex digits, as issuedcertificate spells it: ca_serial_normalize), after it
 * was revoked (telgate cert revoke), and refuses a login with it still being checked.
 * Any thread (an admin worker): the closes are posted to the loops, which each close
 * their own sessions (trace cti_session_revoked, then cti_session_ended with reason
 * "certificate revoked"). Returns the number of loops told, or -1 for a malformed
 * serial. */
int cti_server_close_certificate(struct cti_server *s, const char *serial);

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

/* Counters for metrics, since start (relaxed reads: each value is exact, the set is not a
 * snapshot). A login is counted once, when it is answered:
 *   logins_ok_local, logins_ok_ldap: sessions started, by the directory that checked the
 *     password (dir_result.directory: an unknown user reads as local);
 *   logins_refused_local, logins_refused_ldap: refused once the directory had answered
 *     (wrong password, unknown user, locked, expired ..., or the user is not in Standard
 *     CTI Enabled, or needs TLS), by that directory;
 *   logins_refused_other: refused before the directory was asked (a login inside a
 *     session, no supported protocol version, plain TCP refused, an access token, userID
 *     or password missing, directory overloaded).
 * Gauges: sessions_open (sessions now), monitors_open (monitors now).
 *   device_events_in: device-state changes received from the bus;
 *   device_events_sent: BackInService / OutOfService events queued to sessions (the one
 *     sent when a monitor opens on a device in service included);
 *   slow_consumers: connections the stream layer cut off for not reading (both
 *     listeners' stream_stats). */
struct cti_server_stats {
	uint64_t logins_ok_local, logins_ok_ldap;
	uint64_t logins_refused_local, logins_refused_ldap, logins_refused_other;
	uint64_t sessions_open;
	uint64_t monitors_open;
	uint64_t device_events_in;
	uint64_t device_events_sent;
	uint64_t slow_consumers;
};
void cti_server_stats(struct cti_server *s, struct cti_server_stats *out);

#endif
