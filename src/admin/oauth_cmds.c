/* SPDX-License-Identifier: ISC */
#include "admin/oauth_cmds.h"

#include "admin/cmd_opts.h"
#include "authz/oauth.h"
#include "authz/oauth_crypto.h"
#include "authz/token.h"
#include "ca/capf.h"
#include "core/log.h"
#include "core/util.h"

#include <sodium.h>
#include <stdio.h>
#include <string.h>

static json_t *store_failed(void)
{
	return ctl_error("store unavailable: %s", store_last_error());
}

static void kv(json_t *t, const char *name, const char *value)
{
	const char *row[] = {name, value};
	ctl_table_add_row(t, row, 2);
}

static const char *const grant_names[] = {"authorization_code", "refresh_token", "device_code",
                                          "client_credentials"};

/* A comma- (or space-) separated list into a space-separated one (out, cap bytes), each
 * word checked by ok (NULL: any word of visible ASCII). NULL, or the usage error. */
static json_t *list_arg(const char *opt, const char *v, int (*ok)(const char *w), char *out,
                        size_t cap)
{
	out[0] = '\0';
	size_t used = 0;
	for (const char *p = v; *p;) {
		size_t len = strcspn(p, ", ");
		if (len) {
			char w[STORE_OAUTH_LIST_MAX + 1];
			if (len >= sizeof w || used + len + 2 > cap)
				return admin_usage("%s: too long", opt);
			memcpy(w, p, len);
			w[len] = '\0';
			for (size_t i = 0; i < len; i++)
				if (w[i] < 0x21 || w[i] > 0x7e || w[i] == '"' || w[i] == '\\')
					return admin_usage(
					    "%s: '%.64s' has a character not allowed", opt, w);
			if (ok && !ok(w))
				return admin_usage("%s: '%.64s' is not one of its values", opt, w);
			used +=
			    (size_t)snprintf(out + used, cap - used, "%s%s", used ? " " : "", w);
		}
		p += len;
		p += *p != '\0';
	}
	return NULL;
}

static int grant_ok(const char *w)
{
	for (size_t i = 0; i < sizeof grant_names / sizeof grant_names[0]; i++)
		if (strcmp(w, grant_names[i]) == 0)
			return 1;
	return 0;
}

/* A redirect URI (RFC 6749 §3.1.2): absolute, no fragment, no wildcard (matching is
 * exact); https, a private-use scheme of a native app (RFC 8252 §7.1), or plain http only
 * to the loopback interface (RFC 8252 §7.3; RFC 9700 §2.6 forbids it elsewhere: the code
 * would cross the network in clear). */
static int uri_ok(const char *w)
{
	if (strchr(w, '#') || strchr(w, '*'))
		return 0;
	if (strncmp(w, "http://", 7) == 0) {
		static const char *const loopback[] = {"127.0.0.1", "[::1]", "localhost"};
		const char *h = w + 7;
		for (size_t i = 0; i < sizeof loopback / sizeof loopback[0]; i++) {
			size_t n = strlen(loopback[i]);
			if (strncmp(h, loopback[i], n) == 0 &&
			    (h[n] == ':' || h[n] == '/' || h[n] == '\0'))
				return 1;
		}
		return 0;
	}
	return strncmp(w, "https://", 8) == 0 || (strchr(w, ':') && strchr(w, ':') > w);
}

static json_t *lifetime(const char *opt, const char *v, int64_t *out)
{
	*out = 0;
	if (v && capf_duration_parse(v, out) != 0)
		return admin_usage("%s '%.32s': a duration such as 30m, 24h or 60d (at most 365d)",
		                   opt, v);
	return NULL;
}

static const char *aud_name(unsigned aud)
{
	return aud == 3 ? "sip,cti" : aud == 2 ? "cti" : "sip";
}

json_t *cmd_oauth_client_add(struct admin_ctx *a, const struct ctl_request *r, const char *cid)
{
	struct admin_opt o[] = {
	    {"--type", NULL, 0},   {"--redirect-uris", NULL, 0},   {"--grants", NULL, 0},
	    {"--scopes", NULL, 0}, {"--audience", NULL, 0},        {"--mtls-subject", NULL, 0},
	    {"--secret", NULL, 0}, {"--access-lifetime", NULL, 0}, {"--refresh-lifetime", NULL, 0}};
	json_t *e = admin_opts_parse(r, 4, o, sizeof o / sizeof o[0]);
	if (e)
		return e;
	struct store_oauthclient c;
	memset(&c, 0, sizeof c);
	const char *id = r->argv[3];
	if (!id[0] || strlen(id) > STORE_ID_MAX || strchr(id, ':'))
		return admin_usage("client id: 1 to %d characters, no ':' (RFC 7617)",
		                   STORE_ID_MAX);
	for (const char *p = id; *p; p++)
		if (*p < 0x21 || *p > 0x7e)
			return admin_usage("%s", "client id: visible ASCII only");
	tg_strlcpy(c.clientid, id, sizeof c.clientid);
	struct store_oauthclient old;
	if (store_oauthclient_get(a->store, id, &old) == STORE_OK)
		return ctl_error("client '%s' exists (oauth client delete it first)", id);
	/* A client_credentials token's sub is the client id (RFC 9068 §2.2): a client named
	 * like a user could pass for that user wherever a token stands for a login. */
	struct store_user u;
	int urc = store_user_get(a->store, id, &u);
	sodium_memzero(&u, sizeof u);
	if (urc == STORE_OK)
		return ctl_error(
		    "'%s' is an end user's userid: a client may not have a user's name "
		    "(its tokens' subject is its id)",
		    id);
	const char *type = o[0].value ? o[0].value : "public";
	if (strcmp(type, "public") != 0 && strcmp(type, "confidential") != 0)
		return admin_usage("--type '%.32s': use public or confidential", type);
	c.confidential = strcmp(type, "confidential") == 0;
	const char *grants = o[2].value       ? o[2].value
	                     : c.confidential ? "client_credentials"
	                                      : "authorization_code,refresh_token";
	if ((e = list_arg("--redirect-uris", o[1].value ? o[1].value : "", uri_ok, c.redirecturis,
	                  sizeof c.redirecturis)) ||
	    (e = list_arg("--grants", grants, grant_ok, c.granttypes, sizeof c.granttypes)) ||
	    (e = list_arg("--scopes", o[3].value ? o[3].value : "", NULL, c.scopes,
	                  sizeof c.scopes)) ||
	    (e = lifetime("--access-lifetime", o[7].value, &c.accesstokenlifetime)) ||
	    (e = lifetime("--refresh-lifetime", o[8].value, &c.refreshtokenlifetime)))
		return e;
	/* Keys are published for [oauth] access_token_expiry_s after they stop signing: a
	 * longer token would outlive its key. Under a minute is no lifetime for a token. */
	pthread_mutex_lock(&a->mu);
	int64_t amax = a->cfg.oauth.access_token_expiry_s,
	        rmax = a->cfg.oauth.refresh_token_expiry_s;
	pthread_mutex_unlock(&a->mu);
	if (c.accesstokenlifetime && (c.accesstokenlifetime < 60 || c.accesstokenlifetime > amax))
		return admin_usage("--access-lifetime: 1m to %llds ([oauth] access_token_expiry_s, "
		                   "how long a retired key stays published)",
		                   (long long)amax);
	if (c.refreshtokenlifetime &&
	    (c.refreshtokenlifetime < 60 || c.refreshtokenlifetime > rmax))
		return admin_usage(
		    "--refresh-lifetime: 1m to %llds ([oauth] refresh_token_expiry_s)",
		    (long long)rmax);
	const char *aud = o[4].value ? o[4].value : "sip";
	c.audiences = strcmp(aud, "sip") == 0       ? 1
	              : strcmp(aud, "cti") == 0     ? 2
	              : strcmp(aud, "sip,cti") == 0 ? 3
	              : strcmp(aud, "cti,sip") == 0 ? 3
	                                            : 0;
	if (!c.audiences)
		return admin_usage("--audience '%.32s': use sip, cti or sip,cti", aud);
	if (!c.confidential && (o[5].value || o[6].value))
		return admin_usage("%s", "a public client has no secret and no certificate");
	if (!c.confidential && strstr(c.granttypes, "client_credentials"))
		return admin_usage(
		    "%s", "client_credentials needs a confidential client (RFC 6749 §4.4)");
	if (strstr(c.granttypes, "authorization_code") && !c.redirecturis[0])
		return admin_usage("%s", "authorization_code needs --redirect-uris");
	int secret = c.confidential && (!o[6].value || strcmp(o[6].value, "yes") == 0);
	if (o[6].value && strcmp(o[6].value, "yes") != 0 && strcmp(o[6].value, "no") != 0)
		return admin_usage("--secret '%.32s': use yes or no", o[6].value);
	if (c.confidential && !secret && !o[5].value)
		return admin_usage("%s", "--secret no needs --mtls-subject CN");
	if (o[5].value)
		tg_strlcpy(c.tlssubject, o[5].value, sizeof c.tlssubject);
	char plain[OAUTH_TOKEN_LEN + 1] = "";
	if (secret) {
		unsigned char key[OAUTH_KEY_BYTES];
		char err[300];
		pthread_mutex_lock(&a->mu);
		int rc = oauth_key_load(a->cfg.pki.dir, key, err, sizeof err);
		pthread_mutex_unlock(&a->mu);
		if (rc != 0)
			return ctl_error("%s", err);
		oauth_random_token(plain);
		oauth_secret_hash(key, c.clientid, plain, OAUTH_TOKEN_LEN, c.secrethash);
		sodium_memzero(key, sizeof key);
	}
	c.created = tg_now_s();
	int rc = store_oauthclient_add(a->store, &c);
	if (rc != STORE_OK) {
		sodium_memzero(plain, sizeof plain);
		if (rc == STORE_CONSTRAINT &&
		    store_oauthclient_get(a->store, c.clientid, &old) == STORE_OK)
			return ctl_error("client '%s' exists (oauth client delete it first)",
			                 c.clientid);
		return rc == STORE_CONSTRAINT ? ctl_error("client refused: %s", store_last_error())
		                              : store_failed();
	}
	log_ev(LOG_LVL_NOTICE, cid, "oauth_client_added", LOG_S("client_id", c.clientid),
	       LOG_S("type", type), LOG_S("grants", c.granttypes), LOG_S("scopes", c.scopes),
	       LOG_S("audience", aud_name(c.audiences)),
	       LOG_S("mtls_subject", c.tlssubject[0] ? c.tlssubject : NULL),
	       LOG_I("secret", secret));
	static const char *const cols[] = {"name", "value"};
	json_t *t = ctl_table(cols, 2);
	kv(t, "client_id", c.clientid);
	kv(t, "type", type);
	if (secret)
		kv(t, "client_secret", plain); /* shown this once: only its HMAC is kept */
	sodium_memzero(plain, sizeof plain);
	json_object_set_new(
	    t, "message",
	    json_string(secret ? "client added; the secret is shown only now" : "client added"));
	return t;
}

static const char *const list_cols[] = {"client_id", "type", "grants",       "scopes",
                                        "audience",  "auth", "redirect_uris"};
#define LIST_NCOLS (sizeof list_cols / sizeof list_cols[0])

static const char *auth_words(const struct store_oauthclient *c)
{
	if (!c->confidential)
		return "none";
	if (c->secrethash[0] && c->tlssubject[0])
		return "secret,mtls";
	return c->secrethash[0] ? "secret" : "mtls";
}

static int list_row(void *ud, const struct store_oauthclient *c)
{
	const char *row[LIST_NCOLS] = {c->clientid,
	                               c->confidential ? "confidential" : "public",
	                               c->granttypes,
	                               c->scopes[0] ? c->scopes : "-",
	                               aud_name(c->audiences),
	                               auth_words(c),
	                               c->redirecturis[0] ? c->redirecturis : "-"};
	ctl_table_add_row(ud, row, LIST_NCOLS);
	return 0;
}

json_t *cmd_oauth_client_list(struct admin_ctx *a, const struct ctl_request *r, const char *cid)
{
	(void)r;
	(void)cid;
	json_t *t = ctl_table(list_cols, LIST_NCOLS);
	if (store_oauthclients(a->store, list_row, t) != STORE_OK) {
		json_decref(t);
		return store_failed();
	}
	return t;
}

static void lifetime_words(int64_t s, const char *dflt, char *out, size_t cap)
{
	if (s)
		snprintf(out, cap, "%lld s", (long long)s);
	else
		snprintf(out, cap, "[oauth] %s", dflt);
}

json_t *cmd_oauth_client_show(struct admin_ctx *a, const struct ctl_request *r, const char *cid)
{
	(void)cid;
	struct store_oauthclient c;
	int rc = store_oauthclient_get(a->store, r->argv[3], &c);
	if (rc == STORE_NOTFOUND)
		return ctl_error("no client '%.128s'", r->argv[3]);
	if (rc != STORE_OK)
		return store_failed();
	static const char *const cols[] = {"name", "value"};
	json_t *t = ctl_table(cols, 2);
	char at[64], rt[64], created[32];
	lifetime_words(c.accesstokenlifetime, "access_token_expiry_s", at, sizeof at);
	lifetime_words(c.refreshtokenlifetime, "refresh_token_expiry_s", rt, sizeof rt);
	tg_fmt_time(c.created, created, sizeof created);
	kv(t, "client_id", c.clientid);
	kv(t, "type", c.confidential ? "confidential" : "public");
	kv(t, "authentication", auth_words(&c));
	kv(t, "client_secret", c.secrethash[0] ? "set (stored as HMAC-SHA-256)" : "-");
	kv(t, "mtls_subject", c.tlssubject[0] ? c.tlssubject : "-");
	kv(t, "redirect_uris", c.redirecturis[0] ? c.redirecturis : "-");
	kv(t, "grants", c.granttypes);
	kv(t, "scopes", c.scopes[0] ? c.scopes : "-");
	kv(t, "audience", aud_name(c.audiences));
	kv(t, "access_token_lifetime", at);
	kv(t, "refresh_token_lifetime", rt);
	kv(t, "created", created);
	return t;
}

json_t *cmd_oauth_client_delete(struct admin_ctx *a, const struct ctl_request *r, const char *cid)
{
	int rc = store_oauthclient_delete(a->store, r->argv[3]);
	if (rc == STORE_NOTFOUND)
		return ctl_error("no client '%.128s'", r->argv[3]);
	if (rc != STORE_OK)
		return store_failed();
	log_ev(LOG_LVL_NOTICE, cid, "oauth_client_deleted", LOG_S("client_id", r->argv[3]));
	return ctl_message("client %s deleted (its codes and refresh tokens with it)", r->argv[3]);
}

static const char *const family_cols[] = {"family",        "client_id",    "scope",   "audience",
                                          "authenticated", "last_refresh", "expires", "rotations"};
#define FAMILY_NCOLS (sizeof family_cols / sizeof family_cols[0])

static int family_row(void *ud, const struct store_oauthfamily *f)
{
	char auth[32], last[32], exp[32], rot[16];
	tg_fmt_time(f->authtime, auth, sizeof auth);
	tg_fmt_time(f->lastrefresh, last, sizeof last);
	tg_fmt_time(f->expires, exp, sizeof exp);
	snprintf(rot, sizeof rot, "%d", f->rotations);
	const char *row[FAMILY_NCOLS] = {f->familyid,
	                                 f->clientid,
	                                 f->scope[0] ? f->scope : "-",
	                                 aud_name(f->audiences),
	                                 auth,
	                                 last,
	                                 exp,
	                                 rot};
	ctl_table_add_row(ud, row, FAMILY_NCOLS);
	return 0;
}

json_t *cmd_oauth_tokens(struct admin_ctx *a, const struct ctl_request *r, const char *cid)
{
	(void)cid;
	json_t *t = ctl_table(family_cols, FAMILY_NCOLS);
	if (store_oauthfamilies(a->store, r->argv[2], tg_now_s(), family_row, t) != STORE_OK) {
		json_decref(t);
		return store_failed();
	}
	return t;
}

json_t *cmd_oauth_revoke(struct admin_ctx *a, const struct ctl_request *r, const char *cid)
{
	int family = r->argc == 4;
	if (family && strcmp(r->argv[2], "--family") != 0)
		return admin_usage("%s", "usage: oauth revoke USER | oauth revoke --family ID");
	if (!family && strcmp(r->argv[2], "--family") == 0)
		return admin_usage("%s", "--family needs an ID");
	const char *what = r->argv[family ? 3 : 2];
	int n = 0;
	/* A family's access tokens go with it (oauth_family_revoke); without the OAuth server
	 * (no [est] port) there are none. */
	int rc = family && a->oauth ? oauth_family_revoke(a->oauth, what, tg_now_s(), cid, &n)
	         : family           ? store_oauthrefresh_revoke_family(a->store, what, &n)
	                            : store_oauthrefresh_revoke_user(a->store, what, &n);
	/* The user's access tokens too: refused from now on wherever they are verified (those
	 * of this very second included: iat is in whole seconds). */
	if (rc == STORE_OK && !family && a->authz)
		rc = authz_revoke_user_before(a->authz, what, tg_now_s() + 1);
	if (rc != STORE_OK)
		return store_failed();
	log_ev(LOG_LVL_NOTICE, cid, "oauth_revoked", LOG_S(family ? "family" : "user", what),
	       LOG_I("refresh_tokens", n));
	return ctl_message("%s %s: %d refresh token%s revoked", family ? "family" : "user", what, n,
	                   n == 1 ? "" : "s");
}
