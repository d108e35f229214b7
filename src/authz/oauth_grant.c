/* SPDX-License-Identifier: ISC */
/* The token endpoint's grants, revocation, introspection and device authorization, on a
 * worker (oauth_int.h). */
#include "authz/oauth_int.h"

#include "core/jsonw.h"
#include "core/util.h"

#include <errno.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* invalid_scope's description for a scope outside the client's registration: which of
 * them is not said (the client knows what it asked for and what it was registered with). */
#define OAUTH_SCOPE_NOT_REGISTERED "a requested scope is not among the client's registered scopes"

/* --- issuing ------------------------------------------------------------------------------ */

/* What one successful grant hands out. */
struct grant {
	const char *sub, *client_id, *scope;
	unsigned aud;
	int64_t auth_time, access_s;
	const char *refresh; /* the refresh token to return, NULL = none */
	const char *family;  /* for the log */
	const char *jti;     /* the access token's (oauth_access_jti), NULL = random */
	const char *grant_type;
};

/* The answer (RFC 6749 §5.1) as text into j->body: access token jwt (len bytes), its
 * lifetime and scope from c, refresh (NULL = none). 0, or -1 (out of memory, a scope that
 * is not UTF-8). */
static int answer_tokens(struct oauth_job *j, const char *jwt, size_t len,
                         const struct authz_claims *c, const char *refresh)
{
	/* Escaping makes a character six at most; the rest is bounded by the literals. */
	size_t cap = len + 6 * strlen(c->scope) + (refresh ? 6 * strlen(refresh) : 0) + 160;
	char *p = malloc(cap);
	if (!p)
		return -1;
	struct tg_sbuf b = {p, cap, 0, 0};
	/* The token is base64url parts and dots (authz_token_complete made it): nothing to
	 * escape, copied as it is (escaping looked at each of its ~600 characters). */
	tg_sbuf_put(&b, "{\"access_token\":\"");
	tg_sbuf_putn(&b, jwt, len);
	tg_sbuf_put(&b, "\"");
	tg_sbuf_put(&b, ",\"token_type\":\"Bearer\"");
	jsonw_member_int(&b, "expires_in", c->exp - c->iat);
	jsonw_member_str(&b, "scope", c->scope);
	if (refresh)
		jsonw_member_str(&b, "refresh_token", refresh);
	tg_sbuf_put(&b, "}");
	int n = tg_sbuf_len(&b);
	if (n < 0) {
		sodium_memzero(p, cap);
		free(p);
		return -1;
	}
	json_decref(j->json);
	j->json = NULL;
	free(j->body);
	j->body = p;
	j->body_len = (size_t)n;
	j->status = 200;
	return 0;
}

/* The claims of the access token of grant g into *c. */
static void claims_of(struct oauth_job *j, const struct grant *g, struct authz_claims *c)
{
	struct oauth *o = j->o;
	memset(c, 0, sizeof *c);
	if (g->jti)
		authz_claims_init_jti(o->o.authz, c, j->now, g->jti);
	else
		authz_claims_init(o->o.authz, c, j->now);
	snprintf(c->sub, sizeof c->sub, "%s", g->sub);
	snprintf(c->client_id, sizeof c->client_id, "%s", g->client_id);
	snprintf(c->scope, sizeof c->scope, "%s", g->scope);
	c->aud = g->aud;
	c->auth_time = g->auth_time;
	if (g->access_s > 0)
		c->exp = c->iat + g->access_s;
}

/* The answer once signed (rc: authz_token_issue's): the tokens, or the error. 0 or -1. */
static int answer_signed(struct oauth_job *j, int rc, char *jwt, size_t len,
                         const struct authz_claims *c, const char *refresh)
{
	if (rc != 0) {
		log_ev(LOG_LVL_WARNING, j->cid, "oauth_issue_failed",
		       LOG_S("client_id", c->client_id), LOG_I("errno", -rc));
		oauth_fail(j,
		           rc == -EAGAIN || rc == -EBUSY || rc == -ENOENT
		               ? OAUTH_ERR_TEMPORARILY_UNAVAILABLE
		               : OAUTH_ERR_SERVER_ERROR,
		           "the access token could not be signed");
		return -1;
	}
	int ok = answer_tokens(j, jwt, len, c, refresh) == 0;
	sodium_memzero(jwt, len);
	free(jwt);
	if (!ok) {
		oauth_fail(j, OAUTH_ERR_SERVER_ERROR, NULL);
		return -1;
	}
	return 0;
}

/* Signs the access token and sets the answer (RFC 6749 §5.1). Returns 0 with the claims
 * issued in *c, or -1 (the answer is the error). */
static int issue_sign(struct oauth_job *j, const struct grant *g, struct authz_claims *c)
{
	claims_of(j, g, c);
	char *jwt = NULL;
	size_t len = 0;
	int rc = authz_token_issue(j->o->o.authz, c, &jwt, &len);
	return answer_signed(j, rc, jwt, len, c, g->refresh);
}

int oauth_refresh_signed(struct oauth_job *j)
{
	char *jwt = NULL;
	size_t len = 0;
	int rc = authz_token_complete(j->o->o.authz, &j->rot.issued, &j->rot.tok, &jwt, &len);
	rc = answer_signed(j, rc, jwt, len, &j->rot.issued, j->rot.next);
	sodium_memzero(j->rot.next, sizeof j->rot.next);
	return rc;
}

/* The token went out (or goes out with this answer). */
static void issued_on(struct oauth_job *j, const char *grant_type, const char *family,
                      const struct authz_claims *c, const char *path)
{
	tg_counter_inc(&j->o->tokens_issued);
	log_ev(LOG_LVL_INFO, j->cid, "oauth_token_issued", LOG_S("grant_type", grant_type),
	       LOG_S("client_id", c->client_id), LOG_S("sub", c->sub), LOG_S("jti", c->jti),
	       LOG_U("aud", c->aud), LOG_S("family", family), LOG_I("exp", c->exp),
	       LOG_S("path", path));
}

static void issued(struct oauth_job *j, const char *grant_type, const char *family,
                   const struct authz_claims *c)
{
	issued_on(j, grant_type, family, c, NULL);
}

/* issue_sign, then issued. Returns 0 with the claims in *out (when not NULL), or -1. */
static int issue(struct oauth_job *j, const struct grant *g, struct authz_claims *out)
{
	struct authz_claims c;
	if (issue_sign(j, g, &c) != 0)
		return -1;
	issued(j, g->grant_type, g->family, &c);
	if (out)
		*out = c;
	return 0;
}

/* A new refresh token of family (a new one when family is ""), stored by hash. */
static int new_refresh(struct oauth_job *j, const struct store_oauthclient *cl, const char *userid,
                       const char *scope, int64_t authtime, char token[OAUTH_TOKEN_LEN + 1],
                       char family[OAUTH_TOKEN_LEN + 1], char hash[OAUTH_HASH_HEX + 1])
{
	struct store_oauthrefresh r;
	memset(&r, 0, sizeof r);
	oauth_random_token(token);
	oauth_random_token(family);
	oauth_token_hash(token, OAUTH_TOKEN_LEN, r.tokenhash);
	memcpy(hash, r.tokenhash, OAUTH_HASH_HEX + 1);
	snprintf(r.familyid, sizeof r.familyid, "%s", family);
	snprintf(r.clientid, sizeof r.clientid, "%s", cl->clientid);
	snprintf(r.userid, sizeof r.userid, "%s", userid);
	snprintf(r.scope, sizeof r.scope, "%s", scope);
	r.audiences = cl->audiences;
	r.authtime = authtime;
	r.created = j->now;
	r.expires = j->now + (cl->refreshtokenlifetime ? cl->refreshtokenlifetime
	                                               : j->o->o.refresh_token_expiry_s);
	int rc = store_oauthrefresh_add(j->o->o.store, &r);
	if (rc == STORE_OK)
		oauth_cache_refresh_put(j->o, &r);
	return rc;
}

static int64_t access_s(const struct store_oauthclient *cl)
{
	return cl->accesstokenlifetime;
}

/* Acts on oauth_user_refused's verdict (why, unavailable) for userid: refuses a user who
 * may not hold tokens any more, ending family; 1 when refused (answer set). */
static int user_verdict(struct oauth_job *j, const char *why, int unavailable, const char *userid,
                        const char *family)
{
	if (!why)
		return 0;
	if (unavailable) {
		oauth_fail(j, OAUTH_ERR_TEMPORARILY_UNAVAILABLE, "the store is not available");
		return 1;
	}
	int n = 0;
	if (family && family[0])
		oauth_family_revoke(j->o, family, j->now, j->cid, &n);
	log_ev(LOG_LVL_NOTICE, j->cid, "oauth_user_refused", LOG_S("user", userid),
	       LOG_S("reason", why), LOG_S("family", family), LOG_I("revoked", n));
	oauth_fail(j, OAUTH_ERR_INVALID_GRANT, "the user may not be granted tokens");
	return 1;
}

/* Refuses a user who may not hold tokens any more; 1 when refused (answer set). */
static int user_refused(struct oauth_job *j, const char *userid, unsigned aud, int64_t authtime,
                        const char *family)
{
	int unavailable = 0;
	const char *why = oauth_user_refused(j->o, userid, aud, authtime, j->now, &unavailable);
	return user_verdict(j, why, unavailable, userid, family);
}

/* --- the grants ------------------------------------------------------------------------- */

static void grant_client_credentials(struct oauth_job *j, const struct store_oauthclient *cl,
                                     int authenticated)
{
	char scope[STORE_OAUTH_SCOPE_MAX + 1];
	/* RFC 6749 §4.4: confidential clients only; no refresh token (§4.4.3). */
	if (!authenticated || !cl->confidential) {
		oauth_fail(j, OAUTH_ERR_UNAUTHORIZED_CLIENT,
		           "client_credentials needs a confidential client");
		return;
	}
	if (oauth_scope_grant(cl, http_form_get(&j->form, "scope"), scope, sizeof scope) != 0) {
		oauth_fail(j, OAUTH_ERR_INVALID_SCOPE, OAUTH_SCOPE_NOT_REGISTERED);
		return;
	}
	const struct grant g = {.sub = cl->clientid,
	                        .client_id = cl->clientid,
	                        .scope = scope,
	                        .aud = cl->audiences,
	                        .auth_time = j->now,
	                        .access_s = access_s(cl),
	                        .grant_type = "client_credentials"};
	issue(j, &g, NULL);
}

/* The tokens of a user grant: an access token, and a refresh token of a new family when
 * the client may refresh. Returns 0 with the family ("" = none) and the access token's
 * claims in *issued, or -1 (the answer is the error). */
static int user_grant(struct oauth_job *j, const struct store_oauthclient *cl, const char *userid,
                      const char *scope, int64_t authtime, const char *grant_type,
                      char family[OAUTH_TOKEN_LEN + 1], struct authz_claims *issued)
{
	char token[OAUTH_TOKEN_LEN + 1] = "", hash[OAUTH_HASH_HEX + 1];
	char jti[OAUTH_JTI_LEN + 1];
	family[0] = '\0';
	int refresh = oauth_list_has(cl->granttypes, "refresh_token");
	if (refresh &&
	    new_refresh(j, cl, userid, scope, authtime, token, family, hash) != STORE_OK) {
		oauth_fail(j, OAUTH_ERR_TEMPORARILY_UNAVAILABLE, "the store is not available");
		return -1;
	}
	const struct grant g = {.sub = userid,
	                        .client_id = cl->clientid,
	                        .scope = scope,
	                        .aud = cl->audiences,
	                        .auth_time = authtime,
	                        .access_s = access_s(cl),
	                        .refresh = refresh ? token : NULL,
	                        .family = family,
	                        .jti = refresh ? jti : NULL,
	                        .grant_type = grant_type};
	if (refresh)
		oauth_access_jti(j->o->key, hash, jti);
	int rc = issue(j, &g, issued);
	sodium_memzero(token, sizeof token);
	return rc;
}

static void grant_authorization_code(struct oauth_job *j, const struct store_oauthclient *cl)
{
	const char *code = http_form_get(&j->form, "code");
	const char *redirect = http_form_get(&j->form, "redirect_uri");
	const char *verifier = http_form_get(&j->form, "code_verifier");
	if (!code || !redirect || !verifier) {
		oauth_fail(j, OAUTH_ERR_INVALID_REQUEST,
		           "code, redirect_uri and code_verifier are required");
		return;
	}
	char hash[OAUTH_HASH_HEX + 1];
	oauth_token_hash(code, strlen(code), hash);
	struct store_oauthcode c;
	int used = 0;
	int rc = store_oauthcode_consume(j->o->o.store, hash, j->now, &c, &used);
	const char *why = rc == STORE_NOTFOUND ? (used ? "code reused" : "unknown or expired code")
	                  : rc != STORE_OK     ? NULL
	                  : strcmp(c.clientid, cl->clientid) != 0 ? "code of another client"
	                  : strcmp(c.redirecturi, redirect) != 0  ? "redirect_uri mismatch"
	                  : !oauth_pkce_s256_matches(verifier, strlen(verifier), c.challenge)
	                      ? "wrong PKCE code_verifier"
	                      : NULL;
	if (rc != STORE_OK && rc != STORE_NOTFOUND) {
		oauth_fail(j, OAUTH_ERR_TEMPORARILY_UNAVAILABLE, "the store is not available");
		return;
	}
	int revoked = 0;
	if (used && strcmp(c.clientid, cl->clientid) == 0) {
		/* RFC 6749 §4.1.2: a code used twice revokes what its first use issued; one of
		 * the two holders is not the client. */
		if (c.familyid[0])
			oauth_family_revoke(j->o, c.familyid, j->now, j->cid, &revoked);
		if (c.jti[0])
			authz_revoke_jti(j->o->o.authz, c.jti, c.jtiexpires);
	}
	if (why) {
		log_ev(LOG_LVL_NOTICE, j->cid, "oauth_code_refused",
		       LOG_S("client_id", cl->clientid), LOG_S("reason", why),
		       LOG_S("source", j->source),
		       LOG_S("revoked_jti", used && c.jti[0] ? c.jti : NULL),
		       LOG_S("revoked_family", used && c.familyid[0] ? c.familyid : NULL),
		       LOG_I_IF(used, "revoked_refresh_tokens", revoked));
		oauth_fail(j, OAUTH_ERR_INVALID_GRANT, NULL);
		return;
	}
	if (user_refused(j, c.userid, cl->audiences, c.authtime, NULL))
		return;
	char family[OAUTH_TOKEN_LEN + 1];
	struct authz_claims issued;
	if (user_grant(j, cl, c.userid, c.scope, c.authtime, "authorization_code", family,
	               &issued) == 0 &&
	    store_oauthcode_issued(j->o->o.store, hash, family, issued.jti, issued.exp) != STORE_OK)
		log_ev(LOG_LVL_WARNING, j->cid, "oauth_code_record_failed",
		       LOG_S("client_id", cl->clientid), LOG_S("error", store_last_error()));
}

/* RFC 9700 §4.14: the used token came back after the grace window (or its successor is
 * gone): someone holds a copy. The whole family goes. */
static void reuse_detected(struct oauth_job *j, const struct store_oauthrefresh *r)
{
	int n = 0;
	oauth_family_revoke(j->o, r->familyid, j->now, j->cid, &n);
	tg_counter_inc(&j->o->refresh_reuse_revocations);
	log_ev(LOG_LVL_WARNING, j->cid, "oauth_refresh_reuse", LOG_S("client_id", r->clientid),
	       LOG_S("user", r->userid), LOG_S("family", r->familyid),
	       LOG_I("used_s_ago", j->now - r->usedat), LOG_I("revoked", n),
	       LOG_S("source", j->source));
	oauth_fail(j, OAUTH_ERR_INVALID_GRANT, NULL);
}

/* A refresh grant's token row into *r: the one the committer kept (oauth_cache_refresh_get),
 * else read. STORE_NOTFOUND too when it is another client's (bound to its client, RFC 6749
 * §6). Its user is checked in the committer's transaction (oauth_refresh_rotate), and what a
 * kept row may be stale in (used, revoked) by the rotation's write. */
static int refresh_read(struct oauth_job *j, const struct store_oauthclient *cl, const char *hash,
                        struct store_oauthrefresh *r)
{
	int rc = oauth_cache_refresh_get(j->o, hash, j->now, r)
	             ? STORE_OK
	             : store_oauthrefresh_get(j->o->o.store, hash, r);
	if (rc == STORE_OK && strcmp(r->clientid, cl->clientid) != 0)
		rc = STORE_NOTFOUND;
	return rc;
}

/* Refuses a refresh token unknown (rc STORE_NOTFOUND), revoked or expired at j->now (*r its
 * row when rc is STORE_OK) to clientid; 1 when refused (answer set). */
static int refresh_refused(struct oauth_job *j, const char *clientid, int rc,
                           const struct store_oauthrefresh *r)
{
	if (rc != STORE_NOTFOUND && (rc != STORE_OK || (!r->revoked && r->expires > j->now)))
		return 0;
	log_ev(LOG_LVL_NOTICE, j->cid, "oauth_refresh_refused", LOG_S("client_id", clientid),
	       LOG_S("reason", rc == STORE_NOTFOUND ? "unknown"
	                       : r->revoked         ? "revoked"
	                                            : "expired"),
	       LOG_S("family", rc == STORE_OK ? r->familyid : NULL));
	oauth_fail(j, OAUTH_ERR_INVALID_GRANT, NULL);
	return 1;
}

int oauth_refresh_start(struct oauth_job *j, const struct store_oauthclient *cl, int on_loop)
{
	struct oauth *o = j->o;
	const char *token = http_form_get(&j->form, "refresh_token");
	if (!token || !token[0]) {
		if (on_loop)
			return 0;
		oauth_fail(j, OAUTH_ERR_INVALID_REQUEST, "refresh_token is required");
		return -1;
	}
	size_t len = strlen(token);
	char hash[OAUTH_HASH_HEX + 1], next[OAUTH_TOKEN_LEN + 1], nexthash[OAUTH_HASH_HEX + 1];
	oauth_token_hash(token, len, hash);
	struct store_oauthrefresh r;
	int rc;
	if (on_loop) {
		/* Only a kept row that may still be good: anything else is the worker's. */
		if (!oauth_cache_refresh_get(o, hash, j->now, &r) || r.revoked ||
		    r.expires <= j->now || strcmp(r.clientid, cl->clientid) != 0)
			return 0;
		rc = STORE_OK;
	} else {
		rc = refresh_read(j, cl, hash, &r);
		if (refresh_refused(j, cl->clientid, rc, &r))
			return -1;
		if (rc != STORE_OK)
			goto unavailable;
	}
	/* The scope may only shrink (RFC 6749 §6). */
	const char *want = http_form_get(&j->form, "scope");
	char scope[STORE_OAUTH_SCOPE_MAX + 1];
	struct store_oauthclient narrowed = *cl;
	snprintf(narrowed.scopes, sizeof narrowed.scopes, "%s", r.scope);
	if (oauth_scope_grant(&narrowed, want, scope, sizeof scope) != 0) {
		if (on_loop)
			return 0;
		oauth_fail(j, OAUTH_ERR_INVALID_SCOPE,
		           "a refresh may only narrow the scope of the grant (RFC 6749 section 6)");
		return -1;
	}
	oauth_refresh_successor(o->key, token, len, next);
	oauth_token_hash(next, OAUTH_TOKEN_LEN, nexthash);
	char jti[OAUTH_JTI_LEN + 1];
	oauth_access_jti(o->key, nexthash, jti);
	const struct grant g = {.sub = r.userid,
	                        .client_id = cl->clientid,
	                        .scope = scope,
	                        .aud = r.audiences,
	                        .auth_time = r.authtime,
	                        .access_s = access_s(cl),
	                        .refresh = next,
	                        .family = r.familyid,
	                        .jti = jti,
	                        .grant_type = "refresh_token"};
	/* Signed and committed by the committer (oauth_commit.c), the signatures of a batch
	 * together and its rotations in one transaction: the answer waits for both, and a
	 * rotation whose token was not signed is not committed. A retry within the grace
	 * window gets the same successor and jti, so what is signed fits it too. */
	claims_of(j, &g, &j->rot.issued);
	int prc = authz_token_prepare(o->o.authz, &j->rot.issued, &j->rot.tok, !on_loop);
	if (prc != 0) {
		sodium_memzero(next, sizeof next);
		if (on_loop)
			return 0;
		j->rot.tok.sign.rc = prc;
		char *jwt = NULL;
		size_t jl = 0;
		prc = authz_token_complete(o->o.authz, &j->rot.issued, &j->rot.tok, &jwt, &jl);
		answer_signed(j, prc, jwt, jl, &j->rot.issued, NULL);
		return -1;
	}
	memcpy(j->rot.next, next, sizeof j->rot.next);
	sodium_memzero(next, sizeof next);
	memcpy(j->rot.hash, hash, sizeof j->rot.hash);
	memcpy(j->rot.nexthash, nexthash, sizeof j->rot.nexthash);
	tg_strlcpy(j->rot.family, r.familyid, sizeof j->rot.family);
	tg_strlcpy(j->rot.userid, r.userid, sizeof j->rot.userid);
	j->rot.aud = r.audiences;
	j->rot.authtime = r.authtime;
	j->rot.expires = j->now + (cl->refreshtokenlifetime ? cl->refreshtokenlifetime
	                                                    : o->o.refresh_token_expiry_s);
	/* From the loop the committer's part is the only one; from a worker, the worker's
	 * ends too (oauth_job_finish). The client is authenticated: its secret goes now. */
	j->rot.on_loop = on_loop;
	j->deferred = 1;
	atomic_store(&j->parts, on_loop ? 1 : 2);
	sodium_memzero(j->basic_secret, sizeof j->basic_secret);
	if (!o->commit || oauth_commit_submit(o->commit, j) != 0) {
		j->deferred = 0;
		authz_unsigned_free(&j->rot.tok);
		sodium_memzero(j->rot.next, sizeof j->rot.next);
		goto unavailable;
	}
	return 1;
unavailable:
	sodium_memzero(next, sizeof next);
	oauth_fail(j, OAUTH_ERR_TEMPORARILY_UNAVAILABLE, "the store is not available");
	return -1;
}

/* The rotation found its token used already (by us or a racer): a retry within the grace
 * window gets the same successor, if that is still unused; anything else is reuse. A
 * token unknown, revoked or expired is refused as such. Returns 0 (a retry: *r the used
 * token's row), 1 (refused or reuse: answered) or -1 (the store). */
static int rotation_lost(struct oauth_job *j, struct store_oauthrefresh *r)
{
	struct oauth *o = j->o;
	struct store_oauthrefresh s;
	int rc = store_oauthrefresh_get(o->o.store, j->rot.hash, r);
	/* A kept row (oauth_cache_refresh_get) may not have known. */
	if (refresh_refused(j, j->rot.issued.client_id, rc, r))
		return 1;
	if (rc != STORE_OK)
		return -1;
	int in_grace = r->used && !r->revoked && j->now - r->usedat < o->o.refresh_grace_s;
	int srv =
	    in_grace ? store_oauthrefresh_get(o->o.store, j->rot.nexthash, &s) : STORE_NOTFOUND;
	if (srv == STORE_NOTFOUND && in_grace) {
		/* The first request died between consuming and inserting (a row from before
		 * rotation was one transaction). */
		struct store_oauthrefresh n;
		store_oauthrefresh_successor(r, j->rot.nexthash, j->now, j->rot.expires, &n);
		if (store_oauthrefresh_add(o->o.store, &n) != STORE_OK ||
		    store_oauthrefresh_get(o->o.store, j->rot.nexthash, &s) != STORE_OK)
			return -1;
		srv = STORE_OK;
	}
	if (srv != STORE_OK || s.used || s.revoked) {
		reuse_detected(j, r);
		return 1;
	}
	tg_counter_inc(&o->refresh_retries);
	log_ev(LOG_LVL_INFO, j->cid, "oauth_refresh_retry", LOG_S("client_id", r->clientid),
	       LOG_S("family", r->familyid), LOG_I("used_s_ago", j->now - r->usedat));
	return 0;
}

int oauth_refresh_rotate(struct oauth_job *j)
{
	struct oauth *o = j->o;
	j->rot.rc = STORE_OK;
	/* A lock, password change or deletion moves the user's generation (or the store's):
	 * the cached verdict is then stale and the store is read, as without the cache. */
	j->rot.why =
	    o->grant_user_cache
	        ? oauth_user_refused_since(o, j->rot.userid, j->rot.aud, j->rot.authtime, j->now,
	                                   j->rot.gen, j->rot.user_gen, &j->rot.unavailable)
	        : oauth_user_refused(o, j->rot.userid, j->rot.aud, j->rot.authtime, j->now,
	                             &j->rot.unavailable);
	if (j->rot.why)
		return STORE_OK; /* answered after the commit: nothing written for it */
	j->rot.rc = store_oauthrefresh_rotate_in(o->o.store, j->rot.hash, j->rot.nexthash, j->now,
	                                         j->rot.expires, &j->rot.row);
	/* Not found writes nothing: the others go on. */
	return j->rot.rc == STORE_NOTFOUND ? STORE_OK : j->rot.rc;
}

/* The user may not hold tokens any more: as the worker decided before it read the user, a
 * token unknown, revoked or expired is refused as such first. */
static void refresh_user_refused(struct oauth_job *j)
{
	struct store_oauthrefresh r;
	int rc = store_oauthrefresh_get(j->o->o.store, j->rot.hash, &r);
	if (!refresh_refused(j, j->rot.issued.client_id, rc, &r))
		user_verdict(j, j->rot.why, j->rot.unavailable, j->rot.userid, j->rot.family);
}

void oauth_refresh_committed(struct oauth_job *j)
{
	struct oauth *o = j->o;
	int rc = j->rot.rc;
	if (j->rot.why) {
		refresh_user_refused(j);
		return;
	}
	if (rc == STORE_OK) {
		/* First use: the successor joined the family in the same commit; the next grant
		 * finds it kept. */
		struct store_oauthrefresh n;
		store_oauthrefresh_successor(&j->rot.row, j->rot.nexthash, j->now, j->rot.expires,
		                             &n);
		oauth_cache_refresh_replace(o, j->rot.hash, &n);
		tg_counter_inc(&o->refresh_rotations);
	} else if (rc == STORE_NOTFOUND) {
		struct store_oauthrefresh r;
		oauth_cache_refresh_drop(o, j->rot.hash);
		int lost = rotation_lost(j, &r);
		if (lost > 0)
			return; /* refused or reuse: answered */
		rc = lost < 0 ? STORE_ERROR : STORE_OK;
	}
	if (rc != STORE_OK) {
		oauth_fail(j, OAUTH_ERR_TEMPORARILY_UNAVAILABLE, "the store is not available");
		return;
	}
	/* path=loop: handed from the loop to the committer (oauth_refresh_fast). */
	issued_on(j, "refresh_token", j->rot.family, &j->rot.issued,
	          j->rot.on_loop ? "loop" : "worker");
}

static void grant_device_code(struct oauth_job *j, const struct store_oauthclient *cl)
{
	const char *code = http_form_get(&j->form, "device_code");
	if (!code || !code[0]) {
		oauth_fail(j, OAUTH_ERR_INVALID_REQUEST, "device_code is required");
		return;
	}
	char hash[OAUTH_HASH_HEX + 1];
	oauth_token_hash(code, strlen(code), hash);
	struct store_oauthdevice d;
	int fast = 0;
	int rc = store_oauthdevice_poll(j->o->o.store, hash, j->now, &d, &fast);
	if (rc == STORE_OK && strcmp(d.clientid, cl->clientid) != 0)
		rc = STORE_NOTFOUND;
	if (rc == STORE_NOTFOUND) {
		oauth_fail(j, OAUTH_ERR_INVALID_GRANT, NULL);
		return;
	}
	if (rc != STORE_OK) {
		oauth_fail(j, OAUTH_ERR_TEMPORARILY_UNAVAILABLE, "the store is not available");
		return;
	}
	/* RFC 8628 §3.5, in this order. */
	if (d.expires <= j->now)
		oauth_fail(j, OAUTH_ERR_EXPIRED_TOKEN, NULL);
	else if (strcmp(d.status, "denied") == 0)
		oauth_fail(j, OAUTH_ERR_ACCESS_DENIED, NULL);
	else if (strcmp(d.status, "used") == 0)
		oauth_fail(j, OAUTH_ERR_INVALID_GRANT, NULL);
	else if (fast)
		oauth_fail(j, OAUTH_ERR_SLOW_DOWN, NULL);
	else if (strcmp(d.status, "pending") == 0)
		oauth_fail(j, OAUTH_ERR_AUTHORIZATION_PENDING, NULL);
	else if (!user_refused(j, d.userid, cl->audiences, d.authtime, NULL)) {
		char family[OAUTH_TOKEN_LEN + 1];
		struct authz_claims issued;
		user_grant(j, cl, d.userid, d.scope, d.authtime, "device_code", family, &issued);
	}
}

#define GRANT_DEVICE_CODE "urn:ietf:params:oauth:grant-type:device_code"

void oauth_token_run(struct oauth_job *j)
{
	const char *gt = http_form_get(&j->form, "grant_type");
	if (!gt) {
		oauth_fail(j, OAUTH_ERR_INVALID_REQUEST, "grant_type is required");
		return;
	}
	struct store_oauthclient cl;
	int authenticated = 0;
	if (oauth_client_authenticate(j, &cl, &authenticated) != OAUTH_ERR_NONE)
		return;
	const char *name = strcmp(gt, GRANT_DEVICE_CODE) == 0 ? "device_code" : gt;
	static const char *const known[] = {"authorization_code", "refresh_token", "device_code",
	                                    "client_credentials"};
	int k = -1;
	for (int i = 0; i < 4; i++)
		if (strcmp(name, known[i]) == 0 && (i != 2 || name != gt))
			k = i;
	if (k < 0) {
		oauth_fail(j, OAUTH_ERR_UNSUPPORTED_GRANT_TYPE,
		           "grant_type: authorization_code, refresh_token, "
		           "urn:ietf:params:oauth:grant-type:device_code or client_credentials "
		           "(not the password grant: RFC 9700 section 2.4)");
		return;
	}
	if (!oauth_list_has(cl.granttypes, name)) {
		oauth_fail(j, OAUTH_ERR_UNAUTHORIZED_CLIENT, "the client may not use this grant");
		return;
	}
	switch (k) {
	case 0:
		grant_authorization_code(j, &cl);
		break;
	case 1:
		oauth_refresh_start(j, &cl, 0);
		break;
	case 2:
		grant_device_code(j, &cl);
		break;
	default:
		grant_client_credentials(j, &cl, authenticated);
		break;
	}
}

/* --- revocation, introspection ------------------------------------------------------------ */

/* An access token is a JWS compact serialisation; a refresh token is 43 base64url
 * characters without dots. */
static int looks_like_jwt(const char *t)
{
	return strchr(t, '.') != NULL;
}

void oauth_revoke_run(struct oauth_job *j)
{
	struct store_oauthclient cl;
	int authenticated = 0;
	if (oauth_client_authenticate(j, &cl, &authenticated) != OAUTH_ERR_NONE)
		return;
	const char *token = http_form_get(&j->form, "token");
	if (!token) {
		oauth_fail(j, OAUTH_ERR_INVALID_REQUEST, "token is required");
		return;
	}
	tg_counter_inc(&j->o->revocations);
	const char *what = "unknown";
	if (looks_like_jwt(token)) {
		struct authz_claims c;
		size_t len = strlen(token);
		if (len <= AUTHZ_TOKEN_MAX &&
		    authz_verify(j->o->o.authz, token, len, 0, j->now, &c) == AUTHZ_OK &&
		    strcmp(c.client_id, cl.clientid) == 0) {
			authz_revoke_jti(j->o->o.authz, c.jti, c.exp);
			what = "access_token";
		}
	} else {
		char hash[OAUTH_HASH_HEX + 1];
		struct store_oauthrefresh r;
		oauth_token_hash(token, strlen(token), hash);
		if (store_oauthrefresh_get(j->o->o.store, hash, &r) == STORE_OK &&
		    strcmp(r.clientid, cl.clientid) == 0) {
			/* RFC 7009 §2.1: revoking a refresh token may revoke the grant's other
			 * tokens; the whole family goes. */
			oauth_family_revoke(j->o, r.familyid, j->now, j->cid, NULL);
			oauth_cache_refresh_drop(j->o, hash);
			what = "refresh_token";
		}
	}
	log_ev(LOG_LVL_INFO, j->cid, "oauth_revoke", LOG_S("client_id", cl.clientid),
	       LOG_S("token", what));
	/* §2.2: 200 whether or not the token was known. */
	j->status = 200;
	j->json = json_object();
}

void oauth_introspect_run(struct oauth_job *j)
{
	struct store_oauthclient cl;
	int authenticated = 0;
	if (oauth_client_authenticate(j, &cl, &authenticated) != OAUTH_ERR_NONE)
		return;
	if (!authenticated) {
		/* RFC 7662 §2.1: the endpoint is protected; a public client cannot be told
		 * apart from anyone. */
		j->www_basic = 1;
		oauth_fail(j, OAUTH_ERR_INVALID_CLIENT,
		           "introspection needs an authenticated client");
		return;
	}
	const char *token = http_form_get(&j->form, "token");
	if (!token) {
		oauth_fail(j, OAUTH_ERR_INVALID_REQUEST, "token is required");
		return;
	}
	tg_counter_inc(&j->o->introspections);
	j->status = 200;
	int unavailable = 0;
	const char *why = NULL;
	if (looks_like_jwt(token)) {
		struct authz_claims c;
		size_t len = strlen(token);
		enum authz_verdict v = len <= AUTHZ_TOKEN_MAX
		                           ? authz_verify(j->o->o.authz, token, len, 0, j->now, &c)
		                           : AUTHZ_MALFORMED;
		/* The leeway is for other clocks; the issuer answering about its own token does not
		 * stretch exp with it (RFC 7662 §2.2: an expired token is not active). */
		if (v == AUTHZ_OK && c.exp <= j->now)
			v = AUTHZ_EXPIRED;
		/* A client_credentials token's subject is its client, not a user. */
		if (v == AUTHZ_OK && strcmp(c.sub, c.client_id) != 0)
			why = oauth_user_refused_cached(j->o, c.sub, c.aud, c.iat, j->now,
			                                &unavailable);
		if (v == AUTHZ_OK && !why) {
			json_t *aud = json_array();
			if (c.aud & AUTHZ_AUD_SIP)
				json_array_append_new(aud, json_string("sip"));
			if (c.aud & AUTHZ_AUD_CTI)
				json_array_append_new(aud, json_string("cti"));
			j->json = json_pack(
			    "{s:b,s:s,s:s,s:s,s:s,s:o,s:I,s:I,s:s,s:s,s:I}", "active", 1,
			    "token_type", "Bearer", "client_id", c.client_id, "sub", c.sub, "scope",
			    c.scope, "aud", aud, "iat", (json_int_t)c.iat, "exp", (json_int_t)c.exp,
			    "iss", c.iss, "jti", c.jti, "auth_time", (json_int_t)c.auth_time);
		}
		log_ev(LOG_LVL_INFO, j->cid, "oauth_introspect", LOG_S("client_id", cl.clientid),
		       LOG_S("token", "access_token"), LOG_S("verdict", authz_verdict_name(v)),
		       LOG_S("user_refused", why));
	} else {
		char hash[OAUTH_HASH_HEX + 1];
		struct store_oauthrefresh r;
		oauth_token_hash(token, strlen(token), hash);
		if (store_oauthrefresh_get(j->o->o.store, hash, &r) == STORE_OK && !r.used &&
		    !r.revoked && r.expires > j->now &&
		    !(why = oauth_user_refused(j->o, r.userid, r.audiences, r.authtime, j->now,
		                               &unavailable)))
			j->json = json_pack("{s:b,s:s,s:s,s:s,s:s,s:I,s:I}", "active", 1,
			                    "token_type", "refresh_token", "client_id", r.clientid,
			                    "sub", r.userid, "scope", r.scope, "iat",
			                    (json_int_t)r.created, "exp", (json_int_t)r.expires);
		log_ev(LOG_LVL_INFO, j->cid, "oauth_introspect", LOG_S("client_id", cl.clientid),
		       LOG_S("token", "refresh_token"), LOG_S("user_refused", why));
	}
	if (unavailable) {
		json_decref(j->json);
		j->json = NULL;
		oauth_fail(j, OAUTH_ERR_TEMPORARILY_UNAVAILABLE, "the store is not available");
		return;
	}
	if (!j->json)
		j->json = json_pack("{s:b}", "active", 0); /* RFC 7662 §2.2: nothing more */
}

/* --- device authorization (RFC 8628 §3.1, §3.2) ------------------------------------------- */

void oauth_device_authorization_run(struct oauth_job *j)
{
	struct store_oauthclient cl;
	int authenticated = 0;
	if (oauth_client_authenticate(j, &cl, &authenticated) != OAUTH_ERR_NONE)
		return;
	if (!oauth_list_has(cl.granttypes, "device_code")) {
		oauth_fail(j, OAUTH_ERR_UNAUTHORIZED_CLIENT,
		           "the client may not use the device grant");
		return;
	}
	struct store_oauthdevice d;
	memset(&d, 0, sizeof d);
	if (oauth_scope_grant(&cl, http_form_get(&j->form, "scope"), d.scope, sizeof d.scope) !=
	    0) {
		oauth_fail(j, OAUTH_ERR_INVALID_SCOPE, OAUTH_SCOPE_NOT_REGISTERED);
		return;
	}
	char code[OAUTH_TOKEN_LEN + 1];
	oauth_random_token(code);
	oauth_token_hash(code, OAUTH_TOKEN_LEN, d.devicecodehash);
	snprintf(d.clientid, sizeof d.clientid, "%s", cl.clientid);
	d.expires = j->now + OAUTH_DEVICE_LIFETIME_S;
	d.interval = OAUTH_DEVICE_INTERVAL_S;
	int rc = STORE_CONSTRAINT;
	/* 20^8 user codes: a collision with a pending one is rare; try another. */
	for (int i = 0; i < 4 && rc == STORE_CONSTRAINT; i++) {
		oauth_user_code(d.usercode);
		rc = store_oauthdevice_add(j->o->o.store, &d);
	}
	if (rc != STORE_OK) {
		sodium_memzero(code, sizeof code);
		oauth_fail(j, OAUTH_ERR_TEMPORARILY_UNAVAILABLE, "the store is not available");
		return;
	}
	char uri[300], complete[340];
	oauth_url(j->o, "/oauth/device", uri, sizeof uri);
	snprintf(complete, sizeof complete, "%s?user_code=%s", uri, d.usercode);
	j->status = 200;
	j->json =
	    json_pack("{s:s,s:s,s:s,s:s,s:i,s:i}", "device_code", code, "user_code", d.usercode,
	              "verification_uri", uri, "verification_uri_complete", complete, "expires_in",
	              OAUTH_DEVICE_LIFETIME_S, "interval", OAUTH_DEVICE_INTERVAL_S);
	sodium_memzero(code, sizeof code);
	/* Not the user code: with it, whoever reads the log could approve the waiting device
	 * for an account of their own choosing before its user does (RFC 8628 §5.1). */
	log_ev(LOG_LVL_INFO, j->cid, "oauth_device_authorization", LOG_S("client_id", cl.clientid),
	       LOG_I("expires_in", OAUTH_DEVICE_LIFETIME_S));
}
