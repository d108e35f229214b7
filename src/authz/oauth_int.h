/* SPDX-License-Identifier: ISC */
/*
 * oauth_int: what the OAuth server's files share (internal to src/authz/oauth_*): the
 * service, and the job that carries one request from its loop to a worker and its answer
 * back. A job's run functions execute on a worker (they block on the store, the
 * directory and the signer); oauth_server.c makes the job on the loop and answers it in
 * the done callback, on the loop again.
 */
#ifndef TG_AUTHZ_OAUTH_INT_H
#define TG_AUTHZ_OAUTH_INT_H

#include "authz/oauth.h"
#include "authz/oauth_crypto.h"
#include "authz/oauth_error.h"
#include "authz/oauth_form.h"
#include "authz/token.h"
#include "core/counter.h"
#include "core/log.h"

#include <netinet/in.h>
#include <stdint.h>
#include <sys/queue.h>
#include <stdatomic.h>

#define OAUTH_CSRF_COOKIE "tg_oauth_csrf"

struct shtable;
struct oauth_commit;

struct oauth {
	struct oauth_options o;
	char issuer[256];
	unsigned char key[OAUTH_KEY_BYTES];
	tg_counter tokens_issued, refresh_rotations, refresh_retries, refresh_reuse_revocations,
	    logins_ok, logins_failed, logins_unknown_user, introspections, revocations,
	    bad_requests;
	char *metadata; /* the RFC 8414 document, made once */
	size_t metadata_len;
	struct shtable *clients, *users, *refresh; /* oauth_cache.c */
	_Atomic unsigned refresh_evict;            /* the refresh shard to empty next */
	struct oauth_commit *commit;               /* oauth_commit.c */
	/* The user verdicts of oauth_cache.c serve grants too (oauth_refresh_rotate): on SQLite,
	 * where every write goes through this process and moves the generations at once; on
	 * PostgreSQL another node's lock arrives by NOTIFY, so a grant reads the user. */
	int grant_user_cache;
};

enum oauth_endpoint {
	OAUTH_EP_TOKEN,
	OAUTH_EP_REVOKE,
	OAUTH_EP_INTROSPECT,
	OAUTH_EP_DEVICE_AUTHORIZATION,
	OAUTH_EP_AUTHORIZE_GET,
	OAUTH_EP_AUTHORIZE_POST,
	OAUTH_EP_DEVICE_GET,
	OAUTH_EP_DEVICE_POST,
	OAUTH_EP_JWKS,
};

struct oauth_job {
	struct oauth *o;
	struct http_request *req;
	struct loop *loop;
	enum oauth_endpoint ep;
	int64_t now;
	char cid[LOG_CID_SIZE], source[INET6_ADDRSTRLEN];
	/* The request, copied off the connection. */
	struct http_form form; /* the body (POST) or the query (GET) */
	int basic;             /* an Authorization: Basic header parsed into basic_* */
	char basic_id[OAUTH_CLIENT_ID_MAX + 1], basic_secret[OAUTH_SECRET_MAX + 1];
	size_t basic_len;
	char cert_cn[HTTP_CERT_NAME_MAX + 1]; /* a verified client certificate's CN, "" = none */
	/* ... and what says whether telgate's CA issued it and it still stands (its row in
	 * issuedcertificate: RFC 8705 §2.1.1 leaves revocation to the server). */
	char cert_serial[STORE_SERIAL_HEX + 1];
	char cert_sha256[STORE_FINGERPRINT_MAX + 1];
	char cookie[OAUTH_TOKEN_LEN + 1]; /* the login form's CSRF cookie, "" = none */
	/* The answer: json, or html, or a redirect to location; status for json/html. */
	int status;
	json_t *json;
	/* ... or the JSON as text (the token answer, written by hand: core/jsonw.h); it holds
	 * tokens: wiped when freed. json wins when both are set. */
	char *body;
	size_t body_len;
	char *html;
	size_t html_len;
	char *location;
	int www_basic; /* add WWW-Authenticate: Basic (a failed Basic login) */
	char set_cookie[OAUTH_TOKEN_LEN + 1]; /* a new CSRF cookie to set, "" = none */
	/* A refresh grant's rotation, signed on the worker, committed by oauth_commit.c with
	 * others, answered after its commit: two parts end the job then (the worker's done
	 * and the committer's), the last one answers. */
	int deferred;
	atomic_int parts;
	struct {
		char hash[OAUTH_HASH_HEX + 1], nexthash[OAUTH_HASH_HEX + 1];
		char family[OAUTH_TOKEN_LEN + 1];
		int64_t expires;
		struct authz_claims issued; /* the access token's (the answer, the log line) */
		struct authz_unsigned tok; /* ... prepared on the worker, signed by the committer */
		char next[OAUTH_TOKEN_LEN + 1]; /* the successor for the answer: wiped after */
		int on_loop; /* handed over by the loop (oauth_refresh_fast), not a worker */
		/* The token's user, audiences and login time: its user is checked in the
		 * committer's transaction (oauth_refresh_rotate). */
		char userid[STORE_ID_MAX + 1];
		unsigned aud;
		int64_t authtime;
		const char *why;        /* oauth_user_refused's verdict there (NULL: may) */
		uint64_t gen, user_gen; /* the store's and the user's, before the transaction */
		int unavailable;        /* ... and whether the store failed */
		int rc;                 /* the rotation's (STORE_NOTFOUND: used, revoked or gone) */
		struct store_oauthrefresh row;
	} rot;
	STAILQ_ENTRY(oauth_job) commit_link;
};

/* The answer is an error (RFC 6749 §5.2). */
void oauth_fail(struct oauth_job *j, enum oauth_err e, const char *desc);
/* The issuer-relative URL of an endpoint ("/oauth/token" -> "https://h:8443/oauth/token"). */
void oauth_url(const struct oauth *o, const char *path, char *out, size_t cap);

/* --- oauth_client.c: client authentication (RFC 6749 §2.3, RFC 8705 §2) ------------------- */

/* Finds and authenticates the client of a request into *c: client_secret_basic,
 * client_secret_post, tls_client_auth (a verified certificate whose CN is the client's
 * tlssubject, with client_id in the form), or, for a public client, client_id alone
 * (*authenticated 0). More than one method is invalid_request (§2.3). Returns
 * OAUTH_ERR_NONE, OAUTH_ERR_INVALID_CLIENT (unknown client, wrong secret: the answer is
 * set), OAUTH_ERR_INVALID_REQUEST or OAUTH_ERR_TEMPORARILY_UNAVAILABLE (answer set). */
enum oauth_err oauth_client_authenticate(struct oauth_job *j, struct store_oauthclient *c,
                                         int *authenticated);
/* 1 when word is in the space-separated list. */
int oauth_list_has(const char *list, const char *word);
/* The scope to grant: requested (NULL/"" = all the client's) when every word of it is one
 * of the client's scopes. 0, or -1 (invalid_scope). */
int oauth_scope_grant(const struct store_oauthclient *c, const char *requested, char *out,
                      size_t cap);

/* --- oauth_user.c: may this user still hold tokens? --------------------------------------- */

/* Checks the user's state now as a password login would, for tokens of audiences aud
 * authenticated at authtime: exists, active, the password credential not locked (by an
 * administrator or the threshold; a locked digest credential does not matter), the
 * password not changed since authtime, CTI rights (Standard CTI Enabled) when aud has
 * cti. Returns NULL when it may, else the reason ("deleted", "locked", ...);
 * *unavailable set when the store failed. Blocking. */
const char *oauth_user_refused(struct oauth *o, const char *userid, unsigned aud, int64_t authtime,
                               int64_t now, int *unavailable);

/* --- oauth_cache.c: client rows and user verdicts for the loop (oauth_fast.c) ------------- */

/* How long a user's "may hold tokens" verdict is reused at most (s), besides being dropped
 * when the store generations move: the credential policy's time-based rules, and writes
 * that did not come through this process (store.h: telgated is the only writer; a row
 * deleted with sqlite3 is seen by introspection and refresh grants this much later at
 * most). Introspection and, on SQLite (oauth.grant_user_cache), the refresh grants' committer
 * read and fill it; the other grants ask the store. */
#define OAUTH_USER_CACHE_S 5

int oauth_cache_init(struct oauth *o); /* 0, -1 out of memory */
void oauth_cache_destroy(struct oauth *o);
/* 1 with the client's row in *out when it was read at the current store generation. */
int oauth_cache_client_get(struct oauth *o, const char *clientid, struct store_oauthclient *out);
/* Keeps a row read at store generation gen (read before the row). */
void oauth_cache_client_put(struct oauth *o, uint64_t gen, const struct store_oauthclient *c);
/* 1 when oauth_user_refused said NULL for userid, audiences covering aud and a login time
 * at or before authtime, at the current generations and less than OAUTH_USER_CACHE_S ago.
 * Never blocks: the loop may call it. */
int oauth_cache_user_ok(struct oauth *o, const char *userid, unsigned aud, int64_t authtime,
                        int64_t now);
void oauth_cache_user_put(struct oauth *o, const char *userid, unsigned aud, int64_t authtime,
                          uint64_t gen, uint64_t user_gen, int64_t now);
/* oauth_user_refused through the cache (a verdict of NULL is kept). Blocking on a miss. */
const char *oauth_user_refused_cached(struct oauth *o, const char *userid, unsigned aud,
                                      int64_t authtime, int64_t now, int *unavailable);
/* The same, a miss's verdict kept under gen and user_gen read before the store could show
 * what the verdict is read from: inside a transaction, before it began (its snapshot may
 * predate a write whose generation moved since). */
const char *oauth_user_refused_since(struct oauth *o, const char *userid, unsigned aud,
                                     int64_t authtime, int64_t now, uint64_t gen, uint64_t user_gen,
                                     int *unavailable);

/* Refresh-token rows by token hash, so that a refresh grant's worker reads nothing from the
 * store: the committer keeps each successor it committed and drops the token it consumed.
 * A row here is a hint, never a verdict: what it may be stale in (used, revoked) is what the
 * rotation's write checks (a consume of a used or revoked token finds no row and the
 * grant is decided from the store: oauth_refresh_committed); the rest (client, user,
 * scope, audiences, login and expiry times, family) never changes. Bounded: when full, one
 * shard is emptied. */
/* 1 with the row of tokenhash in *out when kept and not expired at now. */
int oauth_cache_refresh_get(struct oauth *o, const char *tokenhash, int64_t now,
                            struct store_oauthrefresh *out);
void oauth_cache_refresh_put(struct oauth *o, const struct store_oauthrefresh *r);
/* Drops tokenhash's row and keeps r (its successor) in its place (no allocation). */
void oauth_cache_refresh_replace(struct oauth *o, const char *tokenhash,
                                 const struct store_oauthrefresh *r);
void oauth_cache_refresh_drop(struct oauth *o, const char *tokenhash);

/* --- oauth_fast.c: introspection on the loop ------------------------------------------- */

/* Answers an introspection on the loop when everything it needs is cached: the client's
 * row (secret checked here), the token verified (authz_verify_cached), its user's verdict.
 * Returns 1 when answered (req is done), 0 when the caller must run the worker job. */
int oauth_introspect_fast(struct oauth *o, struct http_request *req, const struct http_form *form,
                          int basic, const char *basic_id, const char *basic_secret,
                          size_t basic_len);

/* A refresh grant answered without a worker (the committer's part only) when the client's
 * row is cached and its secret verifies (client_secret_basic or _post) and
 * oauth_refresh_start(on_loop) takes it. Returns 1 (handed over: j is no longer the
 * caller's), 0 (the worker's: j unchanged but for its rot), -1 (answer set in j: send it). */
int oauth_refresh_fast(struct oauth_job *j);

/* --- oauth_commit.c: the refresh grants' group commit ---------------------------------- */

/* One thread with its own store connection commits the queued rotations together (one
 * transaction for what queued while the last one committed: oauth_refresh_rotate for each),
 * then for each calls oauth_refresh_committed and oauth_job_finish. */
struct oauth_commit *oauth_commit_start(struct oauth *o);
/* Commits and finishes what is queued, then joins the thread. NULL is a no-op. */
void oauth_commit_stop(struct oauth_commit *c);
/* Queues j (j->rot filled, j->parts 2, j->deferred 1). 0, or -1 when stopping. */
int oauth_commit_submit(struct oauth_commit *c, struct oauth_job *j);

/* oauth_server.c: a job's run is over, or one of a deferred job's two parts (any thread);
 * the last one answers on the job's loop (the only wake-up of the loop per job). */
void oauth_job_finish(struct oauth_job *j);

/* --- oauth_grant.c: the token endpoint, revocation, introspection, device authorization - */

void oauth_token_run(struct oauth_job *j);
/* A refresh grant of client cl (authenticated) up to its hand-over to the committer, which
 * signs, commits and answers it (oauth_commit.c). on_loop: from the loop (oauth_fast.c),
 * never blocking: only with the token's row kept (oauth_cache_refresh_get) and good, a
 * scope that fits and a signing key; anything else returns 0 with nothing done, for the
 * worker. Returns 1 (handed over), 0 (on_loop only: the worker's), -1 (answered in j). */
int oauth_refresh_start(struct oauth_job *j, const struct store_oauthclient *cl, int on_loop);
/* After the group commit (j->rot.rc): the answer of a refresh grant, on the committer's
 * thread (blocking: a lost rotation reads the store, reuse revokes the family). */
void oauth_refresh_committed(struct oauth_job *j);
/* A refresh grant's signature is back (j->rot.tok): the answer made (0), or the error set
 * (-1: the rotation must not be committed). On the committer's thread, before the commit. */
int oauth_refresh_signed(struct oauth_job *j);
/* A refresh grant's part of the committer's transaction: its user's verdict (j->rot.why,
 * .unavailable; read on the committer's connection, whose pages stay cached between its
 * transactions where a worker's are dropped at each of its commits), then, when the user
 * may, the rotation (j->rot.rc, .row). Returns STORE_OK, or the store error that ends the
 * whole transaction. */
int oauth_refresh_rotate(struct oauth_job *j);
void oauth_revoke_run(struct oauth_job *j);
void oauth_introspect_run(struct oauth_job *j);
void oauth_device_authorization_run(struct oauth_job *j);

/* --- oauth_login.c: the login page (authorize) and the device approval page ------------ */

void oauth_authorize_run(struct oauth_job *j); /* GET and POST */
void oauth_device_page_run(struct oauth_job *j);

#endif
