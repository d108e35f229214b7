/* SPDX-License-Identifier: ISC */
#include "admin/tls_trust_cmds.h"

#include "admin/tls_cmds_shared.h"
#include "core/log.h"
#include "core/util.h"
#include "tls/anchor.h"
#include "tls/pem.h"
#include "tls/policy.h"
#include "tls/trust.h"

#include <openssl/pem.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* A level for anchors and identities: kind=... or interface=... (tls/trust.h). */
static int trust_level(const char *s, char out[TLS_LEVEL_MAX], json_t **err)
{
	if (tls_cmd_level(s, out, err) != 0)
		return -1;
	const char *why = tls_trust_level_ok(out);
	if (why) {
		*err = tls_cmd_usage(why);
		return -1;
	}
	return 0;
}

/* Optional LEVEL of a get (argv[2]): NULL for every level. */
static int get_level(const struct ctl_request *r, char out[TLS_LEVEL_MAX], const char **lv,
                     json_t **err)
{
	*lv = NULL;
	if (r->argc < 3)
		return 0;
	if (trust_level(r->argv[2], out, err) != 0)
		return -1;
	*lv = out;
	return 0;
}

static json_t *stored(struct admin_ctx *a, const char *cid, const char *event, const char *level,
                      const char *what, const char *done)
{
	json_t *e = tls_cmd_reload(a);
	if (e)
		return e;
	log_ev(LOG_LVL_NOTICE, cid, event, LOG_S("level", level), LOG_S("name", what));
	return ctl_message("%s", done);
}

/* --- tls set LEVEL allowClientApp true|false --------------------------------------------- */

json_t *cmd_tls_set(struct admin_ctx *a, const struct ctl_request *r, const char *cid)
{
	enum tls_setting s;
	if (tls_setting_parse(r->argv[3], &s) != 0 || s != TLS_SET_ALLOW_CLIENT_APP)
		return tls_cmd_usage("tls set takes allowClientApp (protocols and ciphers have "
		                     "their own commands)");
	const char *v = r->argv[4];
	int inherit = strcasecmp(v, "inherit") == 0;
	if (strcasecmp(v, "true") != 0 && strcasecmp(v, "false") != 0 && !inherit)
		return tls_cmd_usage("allowClientApp is true, false, or inherit (the level's own "
		                     "setting removed: the more general level decides again)");
	char level[TLS_LEVEL_MAX], done[TLS_LEVEL_MAX + 64];
	json_t *err;
	if (tls_cmd_level(r->argv[2], level, &err) != 0)
		return err;
	struct tls_rows rows;
	if (tls_rows_load(a->store, &rows) != STORE_OK)
		return ctl_error("store unavailable: %s", store_last_error());
	const char *value = inherit ? NULL : strcasecmp(v, "true") == 0 ? "true" : "false";
	snprintf(done, sizeof done, "allowClientApp %s at %s", value ? value : "inherited", level);
	struct tls_cmd_change c = {tls_setting_name(s), value};
	json_t *resp = tls_cmd_commit(a, &rows, level, &c, 1, cid, done);
	tls_rows_free(&rows);
	return resp;
}

/* --- trust update LEVEL ALIAS FILE ------------------------------------------------------- */

/* The aliases already at a level (to tell a replacement from a collision). */
struct aliases {
	char (*v)[TLS_ALIAS_MAX + 1];
	size_t n, cap;
};

static int alias_in(void *ud, const struct store_anchor *sa)
{
	struct aliases *l = ud;
	if (l->n == l->cap) {
		size_t nc = l->cap ? l->cap * 2 : 16;
		void *p = realloc(l->v, nc * sizeof *l->v);
		if (!p)
			return 1;
		l->v = p;
		l->cap = nc;
	}
	tg_strlcpy(l->v[l->n++], sa->alias, sizeof l->v[0]);
	return 0;
}

static int has_alias(const struct aliases *l, const char *alias)
{
	for (size_t i = 0; i < l->n; i++)
		if (strcmp(l->v[i], alias) == 0)
			return 1;
	return 0;
}

/* The upload an existing alias came from: P when the alias is P-N (N >= 2) and P is at the
 * level too (it was generated from P's file), else the alias itself. */
static void owner_of(const struct aliases *l, const char *alias, char *out, size_t cap)
{
	tg_strlcpy(out, alias, cap);
	const char *dash = strrchr(alias, '-');
	if (!dash || dash == alias || !dash[1] ||
	    strspn(dash + 1, "0123456789") != strlen(dash + 1))
		return;
	char base[TLS_ALIAS_MAX + 1];
	size_t bl = (size_t)(dash - alias);
	if (bl >= sizeof base || atol(dash + 1) < 2)
		return;
	memcpy(base, alias, bl);
	base[bl] = '\0';
	if (has_alias(l, base))
		tg_strlcpy(out, base, cap);
}

/* One certificate as the PEM text the store keeps (caller frees), or NULL. */
static char *pem_of(X509 *x)
{
	BIO *b = BIO_new(BIO_s_mem());
	char *out = NULL, *p;
	long n;
	if (b && PEM_write_bio_X509(b, x) == 1 && (n = BIO_get_mem_data(b, &p)) > 0 &&
	    (out = malloc((size_t)n + 1))) {
		memcpy(out, p, (size_t)n);
		out[n] = '\0';
	}
	BIO_free(b);
	return out;
}

/* Checks every certificate of the upload; NULL, or the refusal. */
static json_t *check_upload(const struct tls_pem_certs *c, const char *base,
                            const struct aliases *have, char (*alias)[TLS_ALIAS_MAX + 1])
{
	for (size_t i = 0; i < c->n; i++) {
		if (tls_pem_alias(base, i, alias[i], sizeof alias[i]) != 0)
			return tls_cmd_usage("the alias is too long for the number of certificates "
			                     "in the file (ALIAS-N must stay a valid alias)");
		enum tls_anchor_verdict v = tls_anchor_check(c->v[i], time(NULL));
		if (v != TLS_ANCHOR_OK)
			return ctl_error("certificate %zu of the file (%s) refused: %s; nothing "
			                 "changed",
			                 i + 1, alias[i], tls_anchor_reason(v));
		char owner[TLS_ALIAS_MAX + 1];
		owner_of(have, alias[i], owner, sizeof owner);
		if (has_alias(have, alias[i]) && strcmp(owner, base) != 0)
			return ctl_error("alias %s belongs to the upload %s at this level: choose "
			                 "another alias (or delete it first); nothing changed",
			                 alias[i], owner);
	}
	return NULL;
}

/* Stores the checked certificates in one transaction and lists them into t. */
static int store_upload(struct admin_ctx *a, const char *level, const struct tls_pem_certs *c,
                        char (*alias)[TLS_ALIAS_MAX + 1], const struct aliases *have, json_t *t)
{
	if (store_begin(a->store) != STORE_OK)
		return -1;
	for (size_t i = 0; i < c->n; i++) {
		struct tls_anchor_info info;
		char *pem = pem_of(c->v[i]);
		int rc = pem && tls_anchor_describe(c->v[i], &info) == 0 ? STORE_OK : STORE_ERROR;
		if (rc == STORE_OK) {
			struct store_anchor sa = {level,      alias[i],    pem,
			                          info.owner, info.issuer, info.not_after,
			                          info.sha256};
			rc = store_anchor_put(a->store, &sa);
		}
		free(pem);
		if (rc != STORE_OK) {
			store_rollback(a->store);
			return -1;
		}
		char issuer[TLS_DN_MAX + 16];
		snprintf(issuer, sizeof issuer, "%s%s", info.issuer,
		         info.self_signed ? "[self-signed]" : "");
		const char *row[] = {alias[i], has_alias(have, alias[i]) ? "replaced" : "added",
		                     info.owner, issuer};
		ctl_table_add_row(t, row, 4);
	}
	return store_commit(a->store) == STORE_OK ? 0 : -1;
}

json_t *cmd_trust_update(struct admin_ctx *a, const struct ctl_request *r, const char *cid)
{
	char level[TLS_LEVEL_MAX], err[300];
	json_t *e;
	if (trust_level(r->argv[2], level, &e) != 0)
		return e;
	const char *base = r->argv[3], *why = tls_alias_check(base);
	if (why)
		return tls_cmd_usage(why);
	if (!r->data)
		return ctl_error("trust update needs the file's content (the CLI sends it)");
	struct tls_pem_certs c = {0};
	if (tls_pem_split(r->data, r->data_len, &c, err, sizeof err) != 0)
		return ctl_error("%s: %s; nothing changed", r->argv[4], err);
	struct aliases have = {0};
	char(*alias)[TLS_ALIAS_MAX + 1] = calloc(c.n, sizeof *alias);
	json_t *resp = NULL;
	if (!alias || store_anchors(a->store, level, alias_in, &have) != STORE_OK)
		resp = ctl_error("store unavailable: %s", store_last_error());
	else
		resp = check_upload(&c, base, &have, alias);
	if (!resp) {
		static const char *const cols[] = {"alias", "result", "owner", "issuer"};
		json_t *t = ctl_table(cols, 4);
		if (store_upload(a, level, &c, alias, &have, t) != 0) {
			json_decref(t);
			resp = ctl_error("store unavailable: %s", store_last_error());
		} else if ((e = tls_cmd_reload(a))) {
			json_decref(t);
			resp = e;
		} else {
			resp = t;
			log_ev(LOG_LVL_NOTICE, cid, "tls_trust_updated", LOG_S("level", level),
			       LOG_S("alias", base), LOG_U("certificates", c.n));
		}
	}
	free(alias);
	free(have.v);
	tls_pem_certs_free(&c);
	return resp;
}

/* --- trust get [LEVEL] ------------------------------------------------------------------ */

static int anchor_row(void *ud, const struct store_anchor *sa)
{
	json_t *t = ud;
	char issuer[TLS_DN_MAX + 16];
	struct tls_anchor_info info = {0};
	BIO *b = BIO_new_mem_buf(sa->pem, -1);
	X509 *x = b ? PEM_read_bio_X509(b, NULL, NULL, NULL) : NULL;
	BIO_free(b);
	if (x)
		tls_anchor_describe(x, &info);
	X509_free(x);
	snprintf(issuer, sizeof issuer, "%s%s", sa->issuer,
	         info.self_signed ? "[self-signed]" : "");
	const char *row[] = {sa->level, sa->alias,           sa->subject,
	                     issuer,    info.not_after_text, sa->sha256};
	ctl_table_add_row(t, row, 6);
	return 0;
}

json_t *cmd_trust_get(struct admin_ctx *a, const struct ctl_request *r, const char *cid)
{
	(void)cid;
	char level[TLS_LEVEL_MAX];
	const char *lv;
	json_t *err;
	if (get_level(r, level, &lv, &err) != 0)
		return err;
	static const char *const cols[] = {"level",  "alias",   "owner",
	                                   "issuer", "expires", "sha-256"};
	json_t *t = ctl_table(cols, 6);
	if (store_anchors(a->store, lv, anchor_row, t) != STORE_OK) {
		json_decref(t);
		return ctl_error("store unavailable: %s", store_last_error());
	}
	return t;
}

/* --- trust delete LEVEL ALIAS ----------------------------------------------------------- */

json_t *cmd_trust_delete(struct admin_ctx *a, const struct ctl_request *r, const char *cid)
{
	char level[TLS_LEVEL_MAX], done[TLS_LEVEL_MAX + TLS_ALIAS_MAX + 64];
	json_t *err;
	if (trust_level(r->argv[2], level, &err) != 0)
		return err;
	int rc = store_anchor_delete(a->store, level, r->argv[3]);
	if (rc == STORE_NOTFOUND)
		return ctl_error("no trust anchor %s at %s (telgate trust get)", r->argv[3], level);
	if (rc != STORE_OK)
		return ctl_error("store unavailable: %s", store_last_error());
	snprintf(done, sizeof done, "trust anchor %s deleted at %s", r->argv[3], level);
	return stored(a, cid, "tls_trust_deleted", level, r->argv[3], done);
}

/* --- identity add|delete LEVEL NAME, identity get [LEVEL] ------------------------------- */

static json_t *identity_change(struct admin_ctx *a, const struct ctl_request *r, const char *cid,
                               int add)
{
	char level[TLS_LEVEL_MAX], done[TLS_LEVEL_MAX + TLS_IDENTITY_MAX + 64];
	json_t *err;
	if (trust_level(r->argv[2], level, &err) != 0)
		return err;
	const char *name = r->argv[3], *why = tls_identity_check(name);
	if (why)
		return tls_cmd_usage(why);
	int rc = add ? store_identity_add(a->store, level, name)
	             : store_identity_delete(a->store, level, name);
	if (rc == STORE_CONSTRAINT)
		return ctl_message("%s is already an allowed identity at %s", name, level);
	if (rc == STORE_NOTFOUND)
		return ctl_error("%s is not an allowed identity at %s", name, level);
	if (rc != STORE_OK)
		return ctl_error("store unavailable: %s", store_last_error());
	snprintf(done, sizeof done, "client identity %s %s %s", name,
	         add ? "added at" : "deleted at", level);
	return stored(a, cid, add ? "tls_identity_added" : "tls_identity_deleted", level, name,
	              done);
}

json_t *cmd_identity_add(struct admin_ctx *a, const struct ctl_request *r, const char *cid)
{
	return identity_change(a, r, cid, 1);
}

json_t *cmd_identity_delete(struct admin_ctx *a, const struct ctl_request *r, const char *cid)
{
	return identity_change(a, r, cid, 0);
}

static int identity_row(void *ud, const char *level, const char *name)
{
	const char *row[] = {level, name};
	ctl_table_add_row(ud, row, 2);
	return 0;
}

json_t *cmd_identity_get(struct admin_ctx *a, const struct ctl_request *r, const char *cid)
{
	(void)cid;
	char level[TLS_LEVEL_MAX];
	const char *lv;
	json_t *err;
	if (get_level(r, level, &lv, &err) != 0)
		return err;
	static const char *const cols[] = {"level", "identity"};
	json_t *t = ctl_table(cols, 2);
	if (store_identities(a->store, lv, identity_row, t) != STORE_OK) {
		json_decref(t);
		return ctl_error("store unavailable: %s", store_last_error());
	}
	return t;
}
