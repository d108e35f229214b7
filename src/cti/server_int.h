/* SPDX-License-Identifier: ISC */
/*
 * server_int: what the files of the CTI server share (not for its users: see server.h).
 *
 * server.c   start and stop, the listeners, the public listings and counters
 * conn.c     one connection on the stream layer: framing, timer, sends, closing, dispatch
 * session.c  login through the directory, heartbeat, StopApplicationSession
 * monitor.c  device checks on the worker pool, monitors, the device registry, fan-out
 * outcome.c  refusals -> what goes on the wire (one table)
 * cert.c     the client certificate of a login: read, judged, the TLS verify callback
 * revoke.c   closing the sessions of a revoked certificate
 *
 * Threads: a struct cti_loop belongs to its loop's thread (its listeners and its monitor
 * index are touched only there). The server's `mu` guards what other threads read: the
 * device registry, the session registry and every connection's monitor list.
 */
#ifndef TG_CTI_SERVER_INT_H
#define TG_CTI_SERVER_INT_H

#include "core/config.h"
#include "core/stream.h"
#include "cti/cert.h"
#include "cti/server.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>

struct cti_conn;
struct cti_mon_index;

#define CTI_REVOKED_RING 64
struct cti_dev_registry;

/* The two listeners of a loop: plain TCP and TLS (core/stream owns their connections). */
enum { CTI_L_TCP = 0, CTI_L_TLS, CTI_L_N };

struct cti_loop {
	struct cti_server *s;
	struct loop *loop;
	struct stream_listener *lis[CTI_L_N];
	struct cti_mon_index *mons; /* monitor.c: this loop's monitors by device */
};

/* What struct cti_server_stats reports (server.h says what each counts). Relaxed atomics:
 * counters read for metrics, never to synchronise anything. */
struct cti_counters {
	_Atomic uint64_t logins_ok_local, logins_ok_ldap;
	_Atomic uint64_t logins_refused_local, logins_refused_ldap, logins_refused_other;
	_Atomic uint64_t sessions_open, monitors_open;
	_Atomic uint64_t device_events_in, device_events_sent;
};

struct cti_server {
	struct tg_config cfg;
	store_t *store;
	struct dir *dir;
	struct authz *authz; /* NULL: no access-token logins */
	struct workers *workers;
	struct loop_group *lg;
	int nloops;
	struct cti_loop *loops;
	struct tlsctx *tls;
	struct conncap *caps;               /* cti.max_connections, both ports together */
	struct stream_stats stats[CTI_L_N]; /* per listener kind, every loop */
	pthread_mutex_t mu;                 /* guards sessions, next_xref and every monitor list */
	struct devstate *devstate;   /* the bus: which devices are in service (core/devstate.h) */
	int subscribed;              /* cti_on_device_state is on the bus */
	struct cti_conn *sessions;   /* session.c: connections with a session */
	struct cti_cert_trust trust; /* telgate's CA and the cti-tls levels (cert.h) */
	/* revoke.c: the serials revoked since start, newest last (a ring: a login whose
	 * certificate row was read before a revocation checks it when its session starts;
	 * revocations are administrative and rare, and the window is one login). */
	char revoked[CTI_REVOKED_RING][STORE_SERIAL_HEX + 1];
	unsigned nrevoked;
	unsigned long next_xref; /* the last monitor crossRefID given out */
	struct cti_counters cnt;
};

/* 1 when serial was revoked since start (revoke.c). Under s->mu. */
int cti_revoked_locked(const struct cti_server *s, const char *serial);
/* Telgate's CA certificate, NULL when it could not be read (no certificate is ours). */
static inline X509 *cti_server_ca(const struct cti_server *s)
{
	return s->trust.ca;
}

static inline void cti_count_add(_Atomic uint64_t *v)
{
	atomic_fetch_add_explicit(v, 1, memory_order_relaxed);
}

static inline void cti_count_sub(_Atomic uint64_t *v)
{
	atomic_fetch_sub_explicit(v, 1, memory_order_relaxed);
}

#endif
