/* SPDX-License-Identifier: ISC */
/* Introspection answered on the loop, and refresh grants handed from the loop to the
 * committer (oauth_int.h). Introspection: when the client's row, the token's
 * verification and its user's verdict are all cached at the current store generations, the
 * answer costs a SHA-256, an HMAC and three look-ups, with no hop to a worker and back (two
 * thread wake-ups, measured as the largest cost of an introspection: bench/README.md).
 * Anything else, failures included, goes the worker's way (oauth_grant.c), which logs and
 * answers exactly as before and fills the caches. */
#include "authz/oauth_int.h"

#include "core/jsonw.h"
#include "core/util.h"

#include <sodium.h>
#include <string.h>

/* The answer's size bound: the claims' fields are bounded (authz_claims). */
#define ANSWER_MAX 2048

/* RFC 7662 §2.2, the members oauth_introspect_run gives an active access token. */
static int answer(char *buf, size_t cap, const struct authz_claims *c)
{
	struct tg_sbuf b = {buf, cap, 0, 0};
	buf[0] = '\0';
	tg_sbuf_put(&b, "{\"active\":true,\"token_type\":\"Bearer\"");
	jsonw_member_str(&b, "client_id", c->client_id);
	jsonw_member_str(&b, "sub", c->sub);
	jsonw_member_str(&b, "scope", c->scope);
	tg_sbuf_put(&b, (c->aud & AUTHZ_AUD_SIP) && (c->aud & AUTHZ_AUD_CTI)
	                    ? ",\"aud\":[\"sip\",\"cti\"]"
	                : c->aud & AUTHZ_AUD_SIP ? ",\"aud\":[\"sip\"]"
	                : c->aud & AUTHZ_AUD_CTI ? ",\"aud\":[\"cti\"]"
	                                         : ",\"aud\":[]");
	jsonw_member_int(&b, "iat", c->iat);
	jsonw_member_int(&b, "exp", c->exp);
	jsonw_member_str(&b, "iss", c->iss);
	jsonw_member_str(&b, "jti", c->jti);
	jsonw_member_int(&b, "auth_time", c->auth_time);
	tg_sbuf_put(&b, "}");
	return tg_sbuf_len(&b);
}

/* The client of a request from the cache: client_secret_basic or client_secret_post,
 * nothing else (oauth_client_authenticate says what the other combinations are), its row
 * read at the current store generation and its secret right (constant time in the secret:
 * oauth_crypto.h). 1 with the row in *cl; 0 when only the worker can say (a wrong secret is
 * the worker's to log). */
static int fast_client(struct oauth *o, const struct http_form *form, int basic,
                       const char *basic_id, const char *basic_secret, size_t basic_len,
                       struct store_oauthclient *cl)
{
	const char *fid = http_form_get(form, "client_id");
	const char *fsec = http_form_get(form, "client_secret");
	if ((basic && fsec) || (basic && fid && strcmp(fid, basic_id)))
		return 0;
	const char *id = basic ? basic_id : fid;
	const char *secret = basic ? basic_secret : fsec;
	if (!id || !secret || strlen(id) > STORE_ID_MAX)
		return 0;
	if (!oauth_cache_client_get(o, id, cl) || !cl->secrethash[0])
		return 0;
	size_t slen = basic ? basic_len : strlen(secret);
	return oauth_secret_verify(o->key, cl->clientid, secret, slen, cl->secrethash);
}

int oauth_refresh_fast(struct oauth_job *j)
{
	const char *gt = http_form_get(&j->form, "grant_type");
	struct store_oauthclient cl;
	if (!gt || strcmp(gt, "refresh_token") != 0 ||
	    !fast_client(j->o, &j->form, j->basic, j->basic_id, j->basic_secret, j->basic_len,
	                 &cl) ||
	    !oauth_list_has(cl.granttypes, "refresh_token"))
		return 0;
	return oauth_refresh_start(j, &cl, 1);
}

int oauth_introspect_fast(struct oauth *o, struct http_request *req, const struct http_form *form,
                          int basic, const char *basic_id, const char *basic_secret,
                          size_t basic_len)
{
	const char *token = http_form_get(form, "token");
	struct store_oauthclient cl;
	if (!token || !strchr(token, '.') ||
	    !fast_client(o, form, basic, basic_id, basic_secret, basic_len, &cl))
		return 0;
	int64_t now = tg_now_s();
	struct authz_claims c;
	int hit = 0;
	enum authz_verdict v =
	    authz_verify_cached(o->o.authz, token, strlen(token), 0, now, &c, &hit);
	/* Only an active answer is given here; refusals keep their one place (the worker). */
	if (!hit || v != AUTHZ_OK || c.exp <= now)
		return 0;
	if (strcmp(c.sub, c.client_id) != 0 && !oauth_cache_user_ok(o, c.sub, c.aud, c.iat, now))
		return 0;
	static _Thread_local char buf[ANSWER_MAX];
	int len = answer(buf, sizeof buf, &c);
	if (len < 0)
		return 0;
	tg_counter_inc(&o->introspections);
	log_ev(LOG_LVL_INFO, http_cid(req), "oauth_introspect", LOG_S("client_id", cl.clientid),
	       LOG_S("token", "access_token"), LOG_S("verdict", authz_verdict_name(v)),
	       LOG_S("path", "loop"));
	http_add_header(req, "Cache-Control", "no-store");
	http_add_header(req, "Pragma", "no-cache");
	http_reply(req, 200, "application/json", buf, (size_t)len);
	return 1;
}
