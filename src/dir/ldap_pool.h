/* SPDX-License-Identifier: ISC */
/*
 * ldap_pool: LDAP authentication on an event loop (libldap's asynchronous API), with a
 * pool of connections per configured server.
 *
 * Per server there are two kinds of connection: search connections, bound as the service
 * account and shared by up to 32 concurrent searches, and bind connections, each
 * carrying one user bind at a time (a bind changes the connection's identity, and RFC
 * 4511 forbids other operations while a bind is in progress). Connections are opened on
 * the worker pool (the TCP/TLS handshake and the service bind block), then handed to the
 * loop. Servers are tried in the configured order; a server that fails to connect, drops
 * a connection or misses an operation timeout is marked down, its requests move to the
 * next server, and it is probed again in the background every retry_s seconds.
 *
 * Threads: every function except dir_ldap_pool_new/free runs on the pool's loop thread.
 * Ownership: the pool copies what it is given; its copy of the password is wiped when the
 * request ends. dir_ldap_pool_free() must run after the loop stopped and the worker pool drained.
 */
#ifndef TG_DIR_LDAP_POOL_H
#define TG_DIR_LDAP_POOL_H

#include "dir/ldap_conn.h"

#include <stdint.h>

struct loop;
struct workers;
struct dir_ldap_pool;

enum dir_ldap_rc {
	DIR_LDAP_OK = 0,
	DIR_LDAP_BAD_CREDENTIAL,
	DIR_LDAP_NOT_FOUND,   /* no entry matched the filter */
	DIR_LDAP_AMBIGUOUS,   /* more than one entry matched */
	DIR_LDAP_UNAVAILABLE, /* no server answered in time */
};

struct dir_ldap_stats {
	uint64_t connects, connect_failures, searches, user_binds, timeouts, failovers;
};

/* Called on the loop thread; dn is the entry found ("" if none), valid during the call. */
typedef void (*dir_ldap_cb)(void *ud, enum dir_ldap_rc rc, const char *dn);

struct dir_ldap_pool *dir_ldap_pool_new(struct loop *l, struct workers *w,
                                        const struct dir_ldap_config *c);
void dir_ldap_pool_free(struct dir_ldap_pool *p);
/* Fails every pending request with DIR_LDAP_UNAVAILABLE and closes connections. Loop
 * thread only; called when the directory stops. */
void dir_ldap_pool_shutdown(struct dir_ldap_pool *p);

/* Starts one authentication: search for user, then bind as the found DN with pw. The
 * password must not be empty (the caller refuses that before any LDAP traffic). */
void dir_ldap_pool_auth(struct dir_ldap_pool *p, const char *cid, const char *user, const char *pw,
                        size_t pwlen, dir_ldap_cb cb, void *ud);

/* Loop thread, or any thread after the loop stopped. */
void dir_ldap_pool_stats(const struct dir_ldap_pool *p, struct dir_ldap_stats *out);

#endif
