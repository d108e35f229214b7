/* SPDX-License-Identifier: ISC */
#include "admin/oauth_key_cmds.h"

#include "authz/authz.h"
#include "core/log.h"
#include "core/util.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sysexits.h>

static json_t *usage(const char *msg)
{
	json_t *r = ctl_error("%s", msg);
	json_object_set_new(r, "exit", json_integer(EX_USAGE));
	return r;
}

static json_t *not_running(void)
{
	return ctl_error("the token service is not running");
}

json_t *cmd_oauth_keys_rotate(struct admin_ctx *a, const struct ctl_request *r, const char *cid)
{
	(void)r;
	if (!a->authz)
		return not_running();
	struct authz_key_info k;
	int rc = authz_keys_rotate(a->authz, tg_now_s(), &k);
	if (rc != 0)
		return ctl_error("oauth keys rotate: %s%s", strerror(rc < 0 ? -rc : EIO),
		                 rc == -EAGAIN ? " (the signer is not answering; try again)" : "");
	log_ev(LOG_LVL_NOTICE, cid, "oauth_keys_rotated", LOG_S("kid", k.kid),
	       LOG_S("alg", jws_alg_name(k.alg)), LOG_I("activates_at", k.activates_at));
	return ctl_message("new key %s (%s): published now, signing from %" PRId64 " (Unix time)",
	                   k.kid, jws_alg_name(k.alg), k.activates_at);
}

static int key_row(void *ud, const struct authz_key_info *k)
{
	char created[24], act[24], ret[24];
	snprintf(created, sizeof created, "%" PRId64, k->created);
	snprintf(act, sizeof act, "%" PRId64, k->activates_at);
	snprintf(ret, sizeof ret, "%" PRId64, k->retires_at);
	const char *row[] = {k->kid, jws_alg_name(k->alg), k->state, k->node, created, act, ret};
	ctl_table_add_row(ud, row, 7);
	return 0;
}

json_t *cmd_oauth_keys_list(struct admin_ctx *a, const struct ctl_request *r, const char *cid)
{
	(void)cid;
	if (r->argc == 4 && strcmp(r->argv[3], "--json") != 0)
		return usage("usage: oauth keys list [--json]");
	if (!a->authz)
		return not_running();
	if (r->argc == 4) {
		char *jwks;
		size_t len;
		if (authz_jwks(a->authz, &jwks, &len) != 0)
			return ctl_error("out of memory");
		json_t *ans = ctl_message("%s", jwks);
		json_object_set_new(ans, "jwks", json_loadb(jwks, len, 0, NULL));
		free(jwks);
		return ans;
	}
	static const char *const cols[] = {"kid",     "alg",          "state",     "node",
	                                   "created", "activates_at", "retires_at"};
	json_t *t = ctl_table(cols, 7);
	if (authz_keys_list(a->authz, tg_now_s(), key_row, t) != STORE_OK) {
		json_decref(t);
		return ctl_error("store: %s", store_last_error());
	}
	return t;
}

/* "cti", "sip", "cti,sip" or "sip,cti": the audience bits, 0 for anything else. */
static unsigned aud_parse(const char *s)
{
	static const struct {
		const char *name;
		unsigned bits;
	} rows[] = {{"cti", AUTHZ_AUD_CTI},
	            {"sip", AUTHZ_AUD_SIP},
	            {"cti,sip", AUTHZ_AUD_CTI | AUTHZ_AUD_SIP},
	            {"sip,cti", AUTHZ_AUD_CTI | AUTHZ_AUD_SIP}};
	for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++)
		if (strcmp(s, rows[i].name) == 0)
			return rows[i].bits;
	return 0;
}

json_t *cmd_oauth_issue(struct admin_ctx *a, const struct ctl_request *r, const char *cid)
{
	static const char use[] =
	    "usage: oauth issue USER --aud cti|sip|cti,sip --client ID [--scope S]";
	const char *aud = NULL, *client = NULL, *scope = "";
	for (int i = 3; i < r->argc; i += 2) {
		const char **v = strcmp(r->argv[i], "--aud") == 0      ? &aud
		                 : strcmp(r->argv[i], "--client") == 0 ? &client
		                 : strcmp(r->argv[i], "--scope") == 0  ? &scope
		                                                       : NULL;
		if (!v || i + 1 >= r->argc)
			return usage(use);
		*v = r->argv[i + 1];
	}
	struct authz_claims c;
	memset(&c, 0, sizeof c);
	if (!aud || !client || !(c.aud = aud_parse(aud)))
		return usage(use);
	if (tg_strlcpy(c.sub, r->argv[2], sizeof c.sub) != 0 ||
	    tg_strlcpy(c.client_id, client, sizeof c.client_id) != 0 ||
	    tg_strlcpy(c.scope, scope, sizeof c.scope) != 0)
		return usage("oauth issue: USER, --client or --scope too long");
	if (!a->authz)
		return not_running();
	struct store_user u;
	int rc = store_user_get(a->store, c.sub, &u);
	if (rc == STORE_NOTFOUND)
		return ctl_error("no such user '%s'", c.sub);
	if (rc != STORE_OK)
		return ctl_error("store: %s", store_last_error());
	authz_claims_init(a->authz, &c, tg_now_s());
	char *jwt;
	size_t len;
	if ((rc = authz_token_issue(a->authz, &c, &jwt, &len)) != 0)
		return ctl_error("oauth issue: %s", strerror(-rc));
	log_ev(LOG_LVL_NOTICE, cid, "oauth_token_issued", LOG_S("sub", c.sub),
	       LOG_S("client_id", c.client_id), LOG_S("aud", aud), LOG_S("jti", c.jti),
	       LOG_I("exp", c.exp), LOG_S("by", "oauth issue"));
	json_t *ans = ctl_message("%s", jwt);
	json_object_set_new(ans, "jti", json_string(c.jti));
	json_object_set_new(ans, "exp", json_integer(c.exp));
	free(jwt);
	return ans;
}
