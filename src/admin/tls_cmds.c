/* SPDX-License-Identifier: ISC */
/*
 * The `telgate tls ...` commands (issue 15, seed 004): protocols and cipher suites by
 * level, the effective settings of every listener with their sources, and named
 * profiles. A change is checked against every live listener before it is stored (a
 * list that would leave a listener without a suite is refused with the listener's name),
 * then the daemon's snapshot is reloaded and the listeners' contexts rebuilt: new
 * connections use it at once, no restart.
 */
#include "admin/tls_cmds.h"
#include "admin/tls_cmds_shared.h"

#include "core/log.h"
#include "core/util.h"
#include "tls/level.h"
#include "tls/policy.h"
#include "tls/store.h"
#include "tls/suites.h"
#include "tls/tlsctx.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sysexits.h>

json_t *tls_cmd_usage(const char *msg)
{
	json_t *r = ctl_error("%s", msg);
	json_object_set_new(r, "exit", json_integer(EX_USAGE));
	return r;
}

int tls_cmd_level(const char *s, char *out, json_t **err)
{
	struct tls_level l;
	char why[256];
	if (tls_level_parse(s, &l, why, sizeof why) != 0) {
		*err = tls_cmd_usage(why);
		return -1;
	}
	tls_level_format(&l, out, TLS_LEVEL_MAX);
	return 0;
}

struct in_use {
	const char *level;
	int used;
};

static void in_use_one(void *arg, const struct tlsctx_info *i)
{
	struct in_use *u = arg;
	char levels[TLS_LEVELS][TLS_LEVEL_MAX];
	struct tls_listener_id id = {i->kind, i->address, i->port};
	if (!i->kind[0] || tls_levels_of(&id, levels) != 0)
		return;
	for (int k = 0; k < TLS_LEVELS; k++)
		u->used |= strcmp(levels[k], u->level) == 0;
}

/* Does a live listener read this level? (kind=cti-interface: only once an interface was
 * added; transport=http: not yet.) */
static int level_in_use(const char *level)
{
	struct in_use u = {level, 0};
	tlsctx_foreach(in_use_one, &u);
	return u.used;
}

/* Items of a stored comma-separated list, into a table's rows. */
static void list_rows(json_t *t, const char *setting, const char *value)
{
	char buf[TLS_VALUE_MAX];
	snprintf(buf, sizeof buf, "%s", value);
	char *save = NULL;
	int pos = 0;
	for (char *p = strtok_r(buf, ",", &save); p; p = strtok_r(NULL, ",", &save)) {
		char n[16];
		snprintf(n, sizeof n, "%d", ++pos);
		const char *row[] = {setting, n, p};
		ctl_table_add_row(t, row, 3);
	}
}

json_t *tls_cmd_commit(struct admin_ctx *a, struct tls_rows *rows, const char *level,
                       const struct tls_cmd_change *c, int n, const char *cid, const char *done)
{
	char err[512];
	for (int i = 0; i < n; i++)
		if (tls_rows_set(rows, level, c[i].name, c[i].value) != 0)
			return ctl_error("out of memory");
	if (tls_rows_check(rows, err, sizeof err) != 0)
		return ctl_error("refused: %s", err);
	if (store_begin(a->store) != STORE_OK)
		return ctl_error("store unavailable: %s", store_last_error());
	for (int i = 0; i < n; i++) {
		int rc = c[i].value ? store_tls_setting_put(a->store, level, c[i].name, c[i].value,
		                                            tg_now_s())
		                    : store_tls_setting_delete(a->store, level, c[i].name);
		if (rc != STORE_OK && rc != STORE_NOTFOUND) {
			json_t *e = ctl_error("store unavailable: %s", store_last_error());
			store_rollback(a->store);
			return e;
		}
	}
	if (store_commit(a->store) != STORE_OK)
		return ctl_error("store unavailable: %s", store_last_error());
	json_t *e = tls_cmd_reload(a);
	if (e)
		return e;
	for (int i = 0; i < n; i++)
		log_ev(LOG_LVL_NOTICE, cid, "tls_setting_changed", LOG_S("level", level),
		       LOG_S("setting", c[i].name),
		       LOG_S("value", c[i].value ? c[i].value : "(inherited)"));
	if (!level_in_use(level))
		return ctl_message(
		    "%s (no TLS listener of this node reads %s yet: telgate tls show "
		    "lists them)",
		    done, level);
	return ctl_message("%s", done);
}

json_t *tls_cmd_reload(struct admin_ctx *a)
{
	if (tls_policy_load(a->store) != STORE_OK)
		return ctl_error("stored, but not reloaded: %s", store_last_error());
	tlsctx_check_all(0);
	return NULL;
}

/* Appends item to a comma list (unless present). Returns 0, 1 when already there, -1
 * when too long. */
static int list_add(const char *list, const char *item, char *out, size_t cap)
{
	char buf[TLS_VALUE_MAX];
	snprintf(buf, sizeof buf, "%s", list ? list : "");
	char *save = NULL;
	for (char *p = strtok_r(buf, ",", &save); p; p = strtok_r(NULL, ",", &save))
		if (strcmp(p, item) == 0)
			return 1;
	int n = snprintf(out, cap, "%s%s%s", list && list[0] ? list : "",
	                 list && list[0] ? "," : "", item);
	return n < 0 || (size_t)n >= cap ? -1 : 0;
}

/* Removes item from a comma list. Returns 0, or 1 when it was not there. */
static int list_remove(const char *list, const char *item, char *out, size_t cap)
{
	char buf[TLS_VALUE_MAX];
	snprintf(buf, sizeof buf, "%s", list ? list : "");
	size_t len = 0;
	int found = 0;
	out[0] = '\0';
	char *save = NULL;
	for (char *p = strtok_r(buf, ",", &save); p; p = strtok_r(NULL, ",", &save)) {
		if (strcmp(p, item) == 0) {
			found = 1;
			continue;
		}
		len += (size_t)snprintf(out + len, cap - len, "%s%s", len ? "," : "", p);
	}
	return found ? 0 : 1;
}

/* --- protocols ------------------------------------------------------------------------ */

/* Parses the level argument and loads the stored settings. NULL, or the error answer. */
static json_t *level_and_rows(struct admin_ctx *a, const char *lv, char level[TLS_LEVEL_MAX],
                              struct tls_rows *rows)
{
	json_t *err;
	if (tls_cmd_level(lv, level, &err) != 0)
		return err;
	if (tls_rows_load(a->store, rows) != STORE_OK)
		return ctl_error("store unavailable: %s", store_last_error());
	return NULL;
}

static json_t *setting_get(struct admin_ctx *a, const char *lv, const enum tls_setting *s, int ns)
{
	char level[TLS_LEVEL_MAX];
	struct tls_rows rows;
	json_t *err = level_and_rows(a, lv, level, &rows);
	if (err)
		return err;
	static const char *const cols[] = {"setting", "position", "value"};
	json_t *t = ctl_table(cols, 3);
	int any = 0;
	for (int i = 0; i < ns; i++) {
		const char *v = tls_rows_get(&rows, level, tls_setting_name(s[i]));
		if (v) {
			list_rows(t, tls_setting_name(s[i]), v);
			any = 1;
		}
	}
	tls_rows_free(&rows);
	if (!any)
		json_object_set_new(
		    t, "message",
		    json_sprintf("nothing set at %s: it inherits (telgate tls show)", level));
	return t;
}

static const enum tls_setting protocols_only[] = {TLS_SET_PROTOCOLS};
static const enum tls_setting ciphers_both[] = {TLS_SET_CIPHERS12, TLS_SET_CIPHERS13};

json_t *cmd_tls_protocols_get(struct admin_ctx *a, const struct ctl_request *r, const char *cid)
{
	(void)cid;
	return setting_get(a, r->argv[3], protocols_only, 1);
}

json_t *cmd_tls_ciphers_get(struct admin_ctx *a, const struct ctl_request *r, const char *cid)
{
	(void)cid;
	return setting_get(a, r->argv[3], ciphers_both, 2);
}

/* add or delete one item of one setting at one level. */
static json_t *item_change(struct admin_ctx *a, const char *lv, enum tls_setting s,
                           const char *item, int add, const char *cid)
{
	char level[TLS_LEVEL_MAX];
	struct tls_rows rows;
	json_t *err = level_and_rows(a, lv, level, &rows);
	if (err)
		return err;
	const char *name = tls_setting_name(s);
	const char *cur = tls_rows_get(&rows, level, name);
	char next[TLS_VALUE_MAX], done[TLS_VALUE_MAX + 128];
	int rc = add ? list_add(cur, item, next, sizeof next)
	             : list_remove(cur, item, next, sizeof next);
	json_t *resp;
	if (rc < 0)
		resp = ctl_error("the list at %s is full", level);
	else if (rc > 0)
		resp = ctl_message("%s is %s at %s", item, add ? "already listed" : "not listed",
		                   level);
	else {
		snprintf(done, sizeof done, "%s %s %s at %s", name, add ? "+" : "-", item, level);
		struct tls_cmd_change c = {name, next[0] ? next : NULL};
		resp = tls_cmd_commit(a, &rows, level, &c, 1, cid, done);
	}
	tls_rows_free(&rows);
	return resp;
}

json_t *cmd_tls_protocols_add(struct admin_ctx *a, const struct ctl_request *r, const char *cid)
{
	unsigned mask;
	struct tls_list_error le;
	char why[300];
	if (tls_protocols_parse(r->argv[4], &mask, &le) != 0 ||
	    (mask != TLS_PROTO_TLS12 && mask != TLS_PROTO_TLS13)) {
		if (mask == (TLS_PROTO_TLS12 | TLS_PROTO_TLS13))
			return tls_cmd_usage("one protocol at a time: add TLSv1.2, then TLSv1.3");
		tls_list_error_format(&le, why, sizeof why);
		return tls_cmd_usage(why);
	}
	return item_change(a, r->argv[3], TLS_SET_PROTOCOLS,
	                   mask == TLS_PROTO_TLS12 ? "TLSv1.2" : "TLSv1.3", 1, cid);
}

json_t *cmd_tls_protocols_delete(struct admin_ctx *a, const struct ctl_request *r, const char *cid)
{
	return item_change(a, r->argv[3], TLS_SET_PROTOCOLS, r->argv[4], 0, cid);
}

/* A suite named as an administrator would: the registry name, or the refusal. */
static json_t *suite_arg(const char *name, enum tls_setting *s, const char **iana)
{
	struct tls_suite_list l;
	struct tls_list_error le;
	char why[400];
	if (tls_suites_parse(name, &l, &le) != 0) {
		tls_list_error_format(&le, why, sizeof why);
		return tls_cmd_usage(why);
	}
	if (l.n != 1)
		return tls_cmd_usage("one cipher suite at a time");
	*iana = l.s[0]->name;
	*s = tls_suite_is_tls13(l.s[0]) ? TLS_SET_CIPHERS13 : TLS_SET_CIPHERS12;
	return NULL;
}

json_t *cmd_tls_ciphers_add(struct admin_ctx *a, const struct ctl_request *r, const char *cid)
{
	enum tls_setting s;
	const char *iana;
	json_t *err = suite_arg(r->argv[4], &s, &iana);
	return err ? err : item_change(a, r->argv[3], s, iana, 1, cid);
}

json_t *cmd_tls_ciphers_delete(struct admin_ctx *a, const struct ctl_request *r, const char *cid)
{
	enum tls_setting s;
	const char *iana;
	json_t *err = suite_arg(r->argv[4], &s, &iana);
	return err ? err : item_change(a, r->argv[3], s, iana, 0, cid);
}

/* clear: the settings leave the level (it inherits again). */
static json_t *clear(struct admin_ctx *a, const char *lv, const enum tls_setting *s, int ns,
                     const char *cid)
{
	char level[TLS_LEVEL_MAX];
	struct tls_rows rows;
	json_t *err = level_and_rows(a, lv, level, &rows);
	if (err)
		return err;
	struct tls_cmd_change c[2];
	for (int i = 0; i < ns; i++)
		c[i] = (struct tls_cmd_change){tls_setting_name(s[i]), NULL};
	char done[TLS_LEVEL_MAX + 64];
	snprintf(done, sizeof done, "%s cleared at %s: it inherits",
	         ns == 1 ? tls_setting_name(s[0]) : "ciphers", level);
	json_t *resp = tls_cmd_commit(a, &rows, level, c, ns, cid, done);
	tls_rows_free(&rows);
	return resp;
}

json_t *cmd_tls_protocols_clear(struct admin_ctx *a, const struct ctl_request *r, const char *cid)
{
	return clear(a, r->argv[3], protocols_only, 1, cid);
}

json_t *cmd_tls_ciphers_clear(struct admin_ctx *a, const struct ctl_request *r, const char *cid)
{
	return clear(a, r->argv[3], ciphers_both, 2, cid);
}

/* tls profile apply LEVEL NAME: the profile's suites replace both lists at the level. */
json_t *cmd_tls_profile_apply(struct admin_ctx *a, const struct ctl_request *r, const char *cid)
{
	struct tls_suite_list l;
	if (tls_suites_profile(r->argv[4], &l) != 0)
		return tls_cmd_usage("unknown profile (known: telgate-default, bwks-default)");
	char l12[TLS_VALUE_MAX], l13[TLS_VALUE_MAX];
	tls_suites_split(&l, l12, l13);
	char level[TLS_LEVEL_MAX];
	struct tls_rows rows;
	json_t *err = level_and_rows(a, r->argv[3], level, &rows);
	if (err)
		return err;
	char done[TLS_LEVEL_MAX + 128];
	snprintf(done, sizeof done,
	         "profile %s applied at %s (telgate tls show lists what this "
	         "OpenSSL cannot offer)",
	         r->argv[4], level);
	struct tls_cmd_change c[2] = {{"ciphers-tls12", l12[0] ? l12 : NULL},
	                              {"ciphers-tls13", l13[0] ? l13 : NULL}};
	json_t *resp = tls_cmd_commit(a, &rows, level, c, 2, cid, done);
	tls_rows_free(&rows);
	return resp;
}

/* --- tls show ------------------------------------------------------------------------- */

struct show {
	json_t *t;
	const char *only; /* an interface level's text, or NULL */
};

/* The suites of a list this OpenSSL cannot offer, with why, as one text. */
static void unavailable(const char *list, char *out, size_t cap)
{
	struct tls_suite_list l;
	struct tls_list_error le;
	out[0] = '\0';
	if (!list[0] || tls_suites_parse(list, &l, &le) != 0)
		return;
	size_t len = 0;
	for (size_t i = 0; i < l.n && len < cap; i++) {
		struct tls_suite_avail av;
		tls_iana_avail(l.s[i], &av);
		if (av.status != TLS_SUITE_OFFERABLE)
			len += (size_t)snprintf(out + len, cap - len, "%s%s (%s)", len ? "; " : "",
			                        l.s[i]->name, tls_suite_status_text(av.status));
	}
}

static void show_one(void *arg, const struct tlsctx_info *i)
{
	struct show *sh = arg;
	if (!i->kind[0])
		return;
	struct tls_listener_id id = {i->kind, i->address, i->port};
	char levels[TLS_LEVELS][TLS_LEVEL_MAX];
	struct tls_effective e;
	if (tls_levels_of(&id, levels) != 0 || tls_policy_effective(&id, &e) != 0)
		return;
	if (sh->only && strcmp(sh->only, levels[0]) != 0)
		return;
	for (int s = 0; s < TLS_SETTINGS; s++) {
		char na[TLS_VALUE_MAX] = "";
		if (s == TLS_SET_CIPHERS12 || s == TLS_SET_CIPHERS13)
			unavailable(e.s[s].value, na, sizeof na);
		const char *row[] = {levels[0], tls_setting_name(s), e.s[s].value, e.s[s].source,
		                     na};
		ctl_table_add_row(sh->t, row, 5);
	}
}

json_t *cmd_tls_show(struct admin_ctx *a, const struct ctl_request *r, const char *cid)
{
	(void)a;
	(void)cid;
	char level[TLS_LEVEL_MAX];
	struct show sh = {NULL, NULL};
	if (r->argc == 3) {
		json_t *err;
		if (tls_cmd_level(r->argv[2], level, &err) != 0)
			return err;
		if (strncmp(level, "interface=", 10) != 0)
			return tls_cmd_usage(
			    "tls show takes interface=KIND@ADDRESS:PORT, or nothing for "
			    "every listener");
		sh.only = level;
	}
	static const char *const cols[] = {"interface", "setting", "value", "from",
	                                   "not available"};
	sh.t = ctl_table(cols, 5);
	tlsctx_foreach(show_one, &sh);
	if (sh.only && json_array_size(json_object_get(sh.t, "rows")) == 0) {
		json_decref(sh.t);
		return ctl_error("no TLS listener %s (telgate tls show lists them)", sh.only + 10);
	}
	return sh.t;
}
