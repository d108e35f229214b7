/* SPDX-License-Identifier: ISC */
#include "provision/cnf_guard.h"

#include "authz/token.h"
#include "core/log.h"
#include "core/util.h"
#include "provision/cnf.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

static const char *const names[CNF_GUARD_VERDICTS] = {
    [CNF_GUARD_OPEN] = "open",
    [CNF_GUARD_AUTHORIZED] = "authorized",
    [CNF_GUARD_NO_TOKEN] = "no_token",
    [CNF_GUARD_INVALID_TOKEN] = "invalid_token",
    [CNF_GUARD_WRONG_USER] = "wrong_user",
    [CNF_GUARD_ERROR] = "store_error",
};

const char *cnf_guard_name(enum cnf_guard_verdict v)
{
	return (unsigned)v < CNF_GUARD_VERDICTS && names[v] ? names[v] : "unknown";
}

enum cnf_guard_verdict cnf_guard_decide(const struct cnf_guard_input *in)
{
	if (!in->oauth_mode)
		return CNF_GUARD_OPEN;
	if (!in->token_present)
		return CNF_GUARD_NO_TOKEN;
	if (!in->token_valid)
		return CNF_GUARD_INVALID_TOKEN;
	return in->sub_is_owner || in->sub_associated ? CNF_GUARD_AUTHORIZED : CNF_GUARD_WRONG_USER;
}

int cnf_guard_bearer(const char *authorization, const char **tok, size_t *len)
{
	if (!authorization || strncasecmp(authorization, "Bearer ", 7) != 0)
		return -1;
	const char *t = authorization + 7;
	while (*t == ' ')
		t++;
	size_t n = 0;
	/* b64token = 1*( ALPHA / DIGIT / "-" / "." / "_" / "~" / "+" / "/" ) *"=" */
	while (t[n] && (isalnum((unsigned char)t[n]) || strchr("-._~+/", t[n])))
		n++;
	while (t[n] == '=')
		n++;
	size_t end = n;
	while (t[end] == ' ')
		end++;
	if (!n || t[end] != '\0')
		return -1;
	*tok = t;
	*len = n;
	return 0;
}

struct cnf_guard {
	store_t *st;
	struct authz *az;
};

struct cnf_guard *cnf_guard_new(store_t *st, struct authz *az)
{
	struct cnf_guard *g = calloc(1, sizeof *g);
	if (g)
		*g = (struct cnf_guard){st, az};
	return g;
}

void cnf_guard_free(struct cnf_guard *g)
{
	free(g);
}

/* files_guard.check: see files_http.h. */
static int check(void *arg, const char *name, const char *authorization, const char *cid,
                 const char **challenge)
{
	const struct cnf_guard g = *(const struct cnf_guard *)arg;
	char dev[STORE_ID_MAX + 1], base[FILES_NAME_MAX + 1];
	*challenge = NULL;
	/* X.sgn is X behind a signature header (ca/tl_provider.h): guarded as X. */
	size_t n = strlen(name);
	if (n > 4 && n < sizeof base && strcmp(name + n - 4, ".sgn") == 0) {
		memcpy(base, name, n - 4);
		base[n - 4] = '\0';
		name = base;
	}
	if (cnf_device_from_file(name, dev, sizeof dev) != 0)
		return 0; /* not a device file */
	struct store_device d;
	struct cnf_guard_input in = {0};
	int rc = cnf_device_oauth(g.st, dev, &d, &in.oauth_mode);
	if (rc == STORE_NOTFOUND)
		return 0; /* the lookup answers 404 as for any missing file */
	struct authz_claims c;
	enum authz_verdict av = AUTHZ_MALFORMED;
	const char *tok;
	size_t len;
	in.token_present = cnf_guard_bearer(authorization, &tok, &len) == 0;
	if (rc == STORE_OK && in.oauth_mode && in.token_present && g.az) {
		av = authz_verify(g.az, tok, len, AUTHZ_AUD_SIP, tg_now_s(), &c);
		in.token_valid = av == AUTHZ_OK;
	}
	if (rc == STORE_OK && in.token_valid) {
		in.sub_is_owner = d.owneruserid[0] && strcmp(d.owneruserid, c.sub) == 0;
		int a = in.sub_is_owner ? 0 : store_assoc_exists(g.st, c.sub, d.name);
		if (a < 0)
			rc = a;
		in.sub_associated = a > 0;
	}
	enum cnf_guard_verdict v = rc == STORE_OK ? cnf_guard_decide(&in) : CNF_GUARD_ERROR;
	if (v == CNF_GUARD_OPEN)
		return 0;
	/* The reason for the administrator; the client gets only the status (and, for an
	 * invalid token, RFC 6750's error code). Never the token. */
	log_ev(v == CNF_GUARD_AUTHORIZED ? LOG_LVL_INFO : LOG_LVL_WARNING, cid, "files_cnf_guard",
	       LOG_S("result", cnf_guard_name(v)), LOG_S("device", d.name),
	       LOG_S("sub", in.token_valid ? c.sub : NULL),
	       LOG_S("jti", in.token_valid ? c.jti : NULL),
	       LOG_S("token", in.token_present && !in.token_valid ? authz_verdict_name(av) : NULL),
	       LOG_S("store_error", v == CNF_GUARD_ERROR ? store_last_error() : NULL));
	switch (v) {
	case CNF_GUARD_AUTHORIZED:
		return 0;
	case CNF_GUARD_NO_TOKEN:
		*challenge = "Bearer realm=\"telgate\"";
		return 401;
	case CNF_GUARD_INVALID_TOKEN:
		*challenge = "Bearer realm=\"telgate\", error=\"invalid_token\"";
		return 401;
	case CNF_GUARD_WRONG_USER:
		return 403;
	default:
		return 500;
	}
}

void cnf_guard_files(struct cnf_guard *g, struct files_guard *out)
{
	out->check = check;
	out->arg = g;
}
