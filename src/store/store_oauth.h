/* SPDX-License-Identifier: ISC */
/*
 * store_oauth: the OAuth 2.0 authorization server's rows (schema v13; issue 18;
 * implemented in store/oauthgrant.c), part of the store API (store.h includes it). Registered
 * clients, authorization codes, device codes and refresh tokens. Secrets are never
 * stored: clients' secrets as HMAC-SHA-256, codes and tokens as hashes (authz/oauth_*
 * makes them; here they are opaque hex strings). Every consumption is one UPDATE ..
 * WHERE used = 0 .. RETURNING, so two requests (or two cluster nodes) can never both
 * consume one code or token. Times are Unix seconds; lists (redirect URIs, grant types,
 * scopes) are space-separated. Threads and ownership as store.h: blocking, any thread,
 * structs filled in place.
 */
#ifndef TG_STORE_OAUTH_H
#define TG_STORE_OAUTH_H

#include <stddef.h>
#include <stdint.h>

typedef struct store store_t;

#define STORE_OAUTH_HASH_MAX 64     /* hex SHA-256 / HMAC-SHA-256 */
#define STORE_OAUTH_LIST_MAX 1023   /* space-separated redirect URIs */
#define STORE_OAUTH_SCOPE_MAX 255   /* space-separated scopes (authz_claims.scope) */
#define STORE_OAUTH_SUBJECT_MAX 255 /* a certificate subject CN */
#define STORE_OAUTH_FAMILY_MAX 43   /* base64url of 256 random bits */
#define STORE_OAUTH_USERCODE_MAX 15 /* RFC 8628 §6.1 user code, e.g. "WDJB-MJHT" */

struct store_oauthclient {
	char clientid[STORE_ID_MAX + 1];
	int confidential;                             /* 0 public, 1 confidential */
	char secrethash[STORE_OAUTH_HASH_MAX + 1];    /* "" = no secret */
	char tlssubject[STORE_OAUTH_SUBJECT_MAX + 1]; /* RFC 8705 tls_client_auth CN, "" = none */
	char redirecturis[STORE_OAUTH_LIST_MAX + 1];
	char granttypes[STORE_OAUTH_SCOPE_MAX + 1];
	char scopes[STORE_OAUTH_SCOPE_MAX + 1];
	unsigned audiences;           /* enum authz_aud bits (1 sip, 2 cti) */
	int64_t accesstokenlifetime;  /* s, 0 = [oauth] access_token_expiry_s */
	int64_t refreshtokenlifetime; /* s, 0 = [oauth] refresh_token_expiry_s */
	int64_t created;
};
/* STORE_CONSTRAINT when the id exists or a value is not one the table allows (a public
 * client with a secret, a confidential one without a secret or certificate subject). */
int store_oauthclient_add(store_t *st, const struct store_oauthclient *c);
/* STORE_NOTFOUND when there is no such client (*out zeroed). */
int store_oauthclient_get(store_t *st, const char *clientid, struct store_oauthclient *out);
/* Every client in id order; fn returns nonzero to stop; the row is valid during the call. */
int store_oauthclients(store_t *st, int (*fn)(void *ud, const struct store_oauthclient *c),
                       void *ud);
/* Deletes the client with its codes and refresh tokens. STORE_NOTFOUND when none. */
int store_oauthclient_delete(store_t *st, const char *clientid);

/* An authorization code (RFC 6749 §4.1.2), single use. */
struct store_oauthcode {
	char codehash[STORE_OAUTH_HASH_MAX + 1];
	char clientid[STORE_ID_MAX + 1];
	char userid[STORE_ID_MAX + 1];
	char redirecturi[STORE_OAUTH_LIST_MAX + 1];
	char challenge[64]; /* the PKCE S256 code_challenge (43 base64url characters) */
	char scope[STORE_OAUTH_SCOPE_MAX + 1];
	int64_t authtime, expires;
	int used;
	/* What its exchange issued ("" / 0 until then): revoked when the code comes back. */
	char familyid[STORE_OAUTH_FAMILY_MAX + 1];
	char jti[44];
	int64_t jtiexpires;
};
int store_oauthcode_add(store_t *st, const struct store_oauthcode *c);
/* Consumes the code: STORE_OK with *out once (for the one caller that consumed it);
 * STORE_NOTFOUND when there is none, it expired at now or was used already (then
 * *used_before, when not NULL, is 1 if it exists and was used, and *out is the row as it
 * is: RFC 6749 §4.1.2 reuse). */
int store_oauthcode_consume(store_t *st, const char *codehash, int64_t now,
                            struct store_oauthcode *out, int *used_before);
/* Records what the exchange of a consumed code issued. STORE_NOTFOUND when no such code. */
int store_oauthcode_issued(store_t *st, const char *codehash, const char *familyid, const char *jti,
                           int64_t jtiexpires);

/* A device authorization (RFC 8628 §3.2). status: pending, approved, denied, used. */
struct store_oauthdevice {
	char devicecodehash[STORE_OAUTH_HASH_MAX + 1];
	char usercode[STORE_OAUTH_USERCODE_MAX + 1];
	char clientid[STORE_ID_MAX + 1];
	char scope[STORE_OAUTH_SCOPE_MAX + 1];
	char status[10];
	char userid[STORE_ID_MAX + 1]; /* "" until decided */
	int64_t authtime, expires;
	int interval; /* s between polls (RFC 8628 §3.5: slow_down adds 5) */
	int64_t lastpoll;
};
int store_oauthdevice_add(store_t *st, const struct store_oauthdevice *d);
/* The pending, unexpired authorization with that user code. STORE_NOTFOUND otherwise. */
int store_oauthdevice_by_usercode(store_t *st, const char *usercode, int64_t now,
                                  struct store_oauthdevice *out);
/* The user's decision on a pending, unexpired code: approved (for userid, authtime) or
 * denied. STORE_NOTFOUND when it is not pending any more. */
int store_oauthdevice_decide(store_t *st, const char *usercode, const char *userid, int approve,
                             int64_t authtime, int64_t now);
/* One poll of the token endpoint: *out gets the row as it was, *too_fast 1 when it came
 * sooner than interval after the last one (the interval then grows by 5 s). An approved
 * row is consumed (status used) by this call: whoever gets "approved" in out->status is
 * the only one. STORE_NOTFOUND when there is no such device code. */
int store_oauthdevice_poll(store_t *st, const char *devicecodehash, int64_t now,
                           struct store_oauthdevice *out, int *too_fast);

/* A refresh token (RFC 6749 §6) of a family (RFC 9700 §4.14). */
struct store_oauthrefresh {
	char tokenhash[STORE_OAUTH_HASH_MAX + 1];
	char familyid[STORE_OAUTH_FAMILY_MAX + 1];
	char clientid[STORE_ID_MAX + 1];
	char userid[STORE_ID_MAX + 1];
	char scope[STORE_OAUTH_SCOPE_MAX + 1];
	unsigned audiences;
	int64_t authtime, created, expires;
	int used;
	int64_t usedat;
	int revoked;
};
/* Adds a token; one that is there already (an idempotent retry's successor) is left as
 * it is and STORE_OK returned. */
int store_oauthrefresh_add(store_t *st, const struct store_oauthrefresh *r);
/* STORE_NOTFOUND when there is no such token (*out zeroed). */
int store_oauthrefresh_get(store_t *st, const char *tokenhash, struct store_oauthrefresh *out);
/* Consumes the token: used = 1, usedat = now, only when unused, not revoked and not
 * expired at now; *out gets the row. STORE_NOTFOUND when nothing matched (look at it with
 * store_oauthrefresh_get to tell why). */
int store_oauthrefresh_consume(store_t *st, const char *tokenhash, int64_t now,
                               struct store_oauthrefresh *out);
/* Rotation in one transaction: consumes tokenhash as store_oauthrefresh_consume does
 * (*out gets its row) and adds its successor: out's family, client, user, scope, audiences
 * and auth time with the hash nexthash, created at now, expiring at expires. One commit
 * (one write of the log) per rotation instead of two, and no window in which the token is
 * used but its successor missing. STORE_NOTFOUND as for consume (nothing written). */
int store_oauthrefresh_rotate(store_t *st, const char *tokenhash, const char *nexthash, int64_t now,
                              int64_t expires, struct store_oauthrefresh *out);
/* The successor of row r as a rotation adds it into *out: r's family, client, user, scope,
 * audiences and auth time with the hash nexthash, unused, created at now, expiring at
 * expires. */
void store_oauthrefresh_successor(const struct store_oauthrefresh *r, const char *nexthash,
                                  int64_t now, int64_t expires, struct store_oauthrefresh *out);
/* store_oauthrefresh_rotate inside the caller's transaction (store_begin): the group commit
 * (authz/oauth_commit.c) reads other rows between its rotations. STORE_NOTFOUND wrote
 * nothing; another error ends the caller's transaction (roll it back). */
int store_oauthrefresh_rotate_in(store_t *st, const char *tokenhash, const char *nexthash,
                                 int64_t now, int64_t expires, struct store_oauthrefresh *out);
/* Group commit: n rotations as store_oauthrefresh_rotate each, in
 * one transaction (one commit, one write of the log, for all). Each item's rc: STORE_OK
 * with its row, or STORE_NOTFOUND (that one wrote nothing). Returns STORE_OK when the
 * transaction committed; otherwise nothing was written and every item's rc is the error. */
struct store_oauthrotation {
	const char *tokenhash, *nexthash;
	int64_t now, expires;
	int rc;
	struct store_oauthrefresh row;
};
int store_oauthrefresh_rotate_many(store_t *st, struct store_oauthrotation *v, size_t n);
/* Revokes every token of a family / of a user; *n (may be NULL) gets how many rows. */
int store_oauthrefresh_revoke_family(store_t *st, const char *familyid, int *n);
int store_oauthrefresh_revoke_user(store_t *st, const char *userid, int *n);

/* Every token of a family created at or after since, oldest first (what may still have an
 * access token issued beside it unexpired: authz/oauth.h oauth_family_revoke); fn returns
 * nonzero to stop. */
int store_oauthrefresh_family_since(store_t *st, const char *familyid, int64_t since,
                                    int (*fn)(void *ud, const struct store_oauthrefresh *r),
                                    void *ud);

/* An active family: one with an unused, unrevoked token unexpired at now. */
struct store_oauthfamily {
	char familyid[STORE_OAUTH_FAMILY_MAX + 1];
	char clientid[STORE_ID_MAX + 1];
	char scope[STORE_OAUTH_SCOPE_MAX + 1];
	unsigned audiences;
	int64_t authtime, lastrefresh, expires;
	int rotations; /* tokens used so far */
};
int store_oauthfamilies(store_t *st, const char *userid, int64_t now,
                        int (*fn)(void *ud, const struct store_oauthfamily *f), void *ud);

/* Deletes codes, device codes and refresh tokens that expired before `before`; *n (may be
 * NULL) gets how many rows. */
int store_oauth_expire(store_t *st, int64_t before, int *n);

#endif
