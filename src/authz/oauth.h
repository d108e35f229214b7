/* SPDX-License-Identifier: ISC */
/*
 * oauth: telgate's OAuth 2.0 authorization server (issue 18, part B): the endpoints on
 * the HTTPS listener EST already has ([est] address:port, default 8443):
 *
 *   GET  /.well-known/oauth-authorization-server  RFC 8414 metadata
 *   GET  /oauth/jwks                               RFC 7517 key set (authz_jwks)
 *   GET  /oauth/authorize                          the login form (RFC 6749 §4.1.1, PKCE)
 *   POST /oauth/authorize                          the login: a code to the redirect URI
 *   POST /oauth/token                              authorization_code (+PKCE S256),
 *                                                  refresh_token (rotation, reuse
 *                                                  detection), device_code, client_credentials
 *   POST /oauth/device_authorization               RFC 8628 §3.1
 *   GET  /oauth/device, POST /oauth/device         the user's approval page (user code)
 *   POST /oauth/revoke                             RFC 7009
 *   POST /oauth/introspect                         RFC 7662, authenticated clients only
 *
 * Decisions that read or write the store, check a password or sign run on the worker
 * pool (oauth_grant.c, oauth_login.c); oauth_server.c is the HTTP glue. Every answer of
 * the token, revocation, introspection and device endpoints has "Cache-Control:
 * no-store" (RFC 6749 §5.1); errors are RFC 6749 §5.2 JSON (oauth_error.h).
 *
 * Threads: made and freed on the main thread; its routes run on the loops, its jobs on
 * the workers; the counters are atomics. Ownership: the options' store, authz, dir and
 * workers are the caller's and outlive it.
 */
#ifndef TG_AUTHZ_OAUTH_H
#define TG_AUTHZ_OAUTH_H

#include "core/http.h"
#include "store/store.h"

#include <stddef.h>
#include <stdint.h>

struct authz;
struct dir;
struct workers;
struct oauth;

#define OAUTH_CODE_LIFETIME_S 60    /* authorization codes (RFC 6749 §4.1.2: short) */
#define OAUTH_DEVICE_LIFETIME_S 600 /* device codes (RFC 8628 §3.2 expires_in) */
#define OAUTH_DEVICE_INTERVAL_S 5   /* RFC 8628 §3.2 interval (its default) */
#define OAUTH_ROUTES 10             /* routes oauth_routes gives */

struct oauth_options {
	store_t *store;
	struct authz *authz; /* the token core (authz/token.h): issue, verify, revoke, JWKS */
	struct dir *dir;     /* passwords on the login pages (local or LDAP, credential policy) */
	struct workers *workers;
	const char *pki_dir;            /* the server key (oauth_crypto.h) */
	const char *issuer;             /* [oauth] issuer: "iss" and the metadata's URLs */
	int64_t access_token_expiry_s;  /* [oauth] access_token_expiry_s */
	int64_t refresh_token_expiry_s; /* [oauth] refresh_token_expiry_s */
	int64_t refresh_grace_s;        /* [oauth] refresh_grace_s: a retried refresh gets the
	                                   same successor within this long (default 30) */
};

struct oauth *oauth_new(const struct oauth_options *o, char *err, size_t errlen);
/* Commits and answers the refresh grants still queued for the group commit, and stops its
 * thread: after the workers stopped (no job queues more), before the loops stop and the
 * token service is freed. NULL, or a second call, is a no-op (oauth_free calls it too). */
void oauth_stop(struct oauth *o);
/* After every listener serving its routes was freed. NULL is a no-op. */
void oauth_free(struct oauth *o);

/* Writes its routes (OAUTH_ROUTES) into out (cap entries), for a listener's table: the
 * EST server mounts them beside its own. Returns how many. */
size_t oauth_routes(struct oauth *o, struct http_route *out, size_t cap);

/* Revokes a refresh-token family (RFC 9700 §4.14: reuse detected, a code used twice, RFC
 * 7009 revocation of one of its tokens, `telgate oauth revoke --family`): its refresh
 * tokens, and the access tokens issued beside those that may still be valid (their jtis,
 * oauth_crypto.h oauth_access_jti, into the revoked jtis until their exp). *n (may be
 * NULL) gets how many refresh tokens were revoked. Returns STORE_OK or the store's error
 * for the refresh tokens (a jti that could not be stored is logged). Blocking (a worker,
 * the control thread); cid for the log line. */
int oauth_family_revoke(struct oauth *o, const char *familyid, int64_t now, const char *cid,
                        int *n);

/* Counters for the metrics and the tests. */
struct oauth_stats {
	uint64_t tokens_issued, refresh_rotations, refresh_retries, refresh_reuse_revocations,
	    logins_ok, logins_failed, logins_unknown_user, introspections, revocations,
	    bad_requests;
};
void oauth_stats(struct oauth *o, struct oauth_stats *out);

#endif
