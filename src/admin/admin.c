/* SPDX-License-Identifier: ISC */
#include "admin/admin.h"
#include "admin/audit.h"
#include "admin/backup_cmds.h"
#include "admin/capf_cmds.h"
#include "admin/oauth_cmds.h"
#include "authz/token.h"
#include "admin/cert_cmds.h"
#include "admin/commands.h"
#include "admin/line_cmds.h"
#include "admin/cti_iface_cmds.h"
#include "admin/metrics.h"
#include "admin/node_cmds.h"
#include "admin/oauth_key_cmds.h"
#include "admin/signer_cmds.h"
#include "admin/sipoauth_cmds.h"
#include "admin/tls_cert_cmds.h"
#include "admin/cnf_cmds.h"
#include "admin/tls_cmds.h"
#include "admin/tls_trust_cmds.h"
#include "admin/tftp_cmds.h"
#include "authz/token.h"
#include "core/alarm.h"
#include "core/devstate.h"
#include "core/log.h"
#include "core/ports.h"
#include "core/util.h"
#include "dir/ldap_diag.h"
#include "dir/policy.h"
#include "provision/import.h"
#include "store/params.h"
#include "xsi/server.h"

#include <ctype.h>
#include <regex.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sysexits.h>
#include <unistd.h>

void admin_init(struct admin_ctx *a, store_t *st, const struct tg_config *cfg)
{
	memset(a, 0, sizeof *a);
	a->store = st;
	pthread_mutex_init(&a->mu, NULL);
	a->cfg = *cfg;
	a->started_s = tg_now_s();
}

void admin_set_config(struct admin_ctx *a, const struct tg_config *cfg)
{
	pthread_mutex_lock(&a->mu);
	a->cfg = *cfg;
	pthread_mutex_unlock(&a->mu);
}

void admin_destroy(struct admin_ctx *a)
{
	pthread_mutex_destroy(&a->mu);
}

static void config_copy(struct admin_ctx *a, struct tg_config *out)
{
	pthread_mutex_lock(&a->mu);
	*out = a->cfg;
	pthread_mutex_unlock(&a->mu);
}

typedef json_t *(*cmd_fn)(struct admin_ctx *a, const struct ctl_request *r, const char *cid);

static json_t *kv_table(void)
{
	static const char *const cols[] = {"name", "value"};
	return ctl_table(cols, 2);
}

static void kv_row(json_t *t, const char *name, const char *value)
{
	const char *row[] = {name, value};
	ctl_table_add_row(t, row, 2);
}

/* An error in the command's words rather than in the state: the response carries
 * "exit": 64 so the CLI ends with EX_USAGE, as it does for the errors it finds itself. */
static json_t *usage_error(const char *text)
{
	json_t *r = ctl_error("%s", text);
	json_object_set_new(r, "exit", json_integer(EX_USAGE));
	return r;
}

static json_t *wrong_args(enum admin_cmd_id id)
{
	char err[256];
	admin_cmd_usage_error(ADMIN_MATCH_ARGC, &admin_cmds[id], "", err, sizeof err);
	return usage_error(err);
}

static json_t *cmd_status(struct admin_ctx *a, const struct ctl_request *r, const char *cid)
{
	(void)r;
	(void)cid;
	struct tg_config cfg;
	config_copy(a, &cfg);
	struct store_counts n;
	if (a->sip)
		sip_registrar_sync(a->sip); /* bindings written behind are counted too */
	int rc = store_counts(a->store, &n);
	if (rc != STORE_OK)
		return ctl_error("store unavailable: %s", store_last_error());
	int ver = 0;
	store_schema_version(a->store, &ver);
	char buf[64], started[32];
	json_t *t = kv_table();
	kv_row(t, "version", TELGATE_VERSION);
	kv_row(t, "node", cfg.core.node_id);
	snprintf(buf, sizeof buf, "%ld", (long)getpid());
	kv_row(t, "pid", buf);
	tg_fmt_time(a->started_s, started, sizeof started);
	kv_row(t, "started", started);
	snprintf(buf, sizeof buf, "%lld", (long long)(tg_now_s() - a->started_s));
	kv_row(t, "uptime_s", buf);
	kv_row(t, "config", cfg.path[0] ? cfg.path : "(built-in defaults)");
	snprintf(buf, sizeof buf, "%d", a->nloops);
	kv_row(t, "loop_threads", buf);
	snprintf(buf, sizeof buf, "%d", a->nworkers);
	kv_row(t, "worker_threads", buf);
	kv_row(t, "store_backend", store_backend_name(a->store));
	/* Only SQLite has a file: on PostgreSQL the path would name a file not in use. */
	if (!strcmp(store_backend_name(a->store), "sqlite"))
		kv_row(t, "store_path", cfg.store.path);
	snprintf(buf, sizeof buf, "%d", ver);
	kv_row(t, "schema_version", buf);
	kv_row(t, "ca_fingerprint_sha256", a->pki.ca_fingerprint);
	snprintf(buf, sizeof buf, "%ld", n.users);
	kv_row(t, "users", buf);
	snprintf(buf, sizeof buf, "%ld", n.devices);
	kv_row(t, "devices", buf);
	snprintf(buf, sizeof buf, "%ld", n.associations);
	kv_row(t, "associations", buf);
	snprintf(buf, sizeof buf, "%ld", n.registrations);
	kv_row(t, "registrations", buf);
	kv_row(t, "log_level", log_level_name(cfg.log.level));
	return t;
}

struct sql_rows {
	json_t *table;
};

static int sql_row(void *ud, int ncols, const char *const *names, const char *const *vals)
{
	struct sql_rows *s = ud;
	if (!s->table)
		s->table = ctl_table(names, (size_t)ncols);
	ctl_table_add_row(s->table, vals, (size_t)ncols);
	return 0;
}

static json_t *cmd_run_sql(struct admin_ctx *a, const struct ctl_request *r, const char *cid)
{
	struct sql_rows s = {NULL};
	char err[512];
	int truncated = 0;
	int rc =
	    store_query_readonly(a->store, r->argv[2], ADMIN_SQL_MAX_ROWS, ADMIN_SQL_TIMEOUT_MS,
	                         sql_row, &s, &truncated, err, sizeof err);
	if (rc != STORE_OK) {
		json_decref(s.table);
		log_ev(LOG_LVL_NOTICE, cid, "run_sql_refused", LOG_S("reason", err));
		return ctl_error("%s", err);
	}
	if (!s.table) {
		/* No rows: still report the columns the query would have had. */
		s.table = ctl_table(NULL, 0);
		json_object_set_new(s.table, "message", json_string("0 rows"));
	}
	if (truncated)
		json_object_set_new(
		    s.table, "message",
		    json_sprintf("output truncated at %d rows", ADMIN_SQL_MAX_ROWS));
	return s.table;
}

static json_t *cmd_open_ports(struct admin_ctx *a, const struct ctl_request *r, const char *cid)
{
	(void)a;
	(void)cid;
	regex_t re;
	int filter = r->argc == 5;
	if (r->argc == 4 || (r->argc == 5 && strcmp(r->argv[3], "regexp") != 0))
		return wrong_args(ADMIN_CMD_open_ports);
	if (filter) {
		int rc = regcomp(&re, r->argv[4], REG_EXTENDED | REG_NOSUB);
		if (rc != 0) {
			char msg[128];
			regerror(rc, &re, msg, sizeof msg);
			return ctl_error("bad regexp: %s", msg);
		}
	}
	struct port_entry ents[256];
	int n = ports_list(ents, 256);
	if (n < 0) {
		if (filter)
			regfree(&re);
		return ctl_error("cannot list sockets: %s", strerror(-n));
	}
	static const char *const cols[] = {"proto", "local address", "port", "state", "service"};
	json_t *t = ctl_table(cols, 5);
	for (int i = 0; i < n && i < 256; i++) {
		char port[8], line[256];
		snprintf(port, sizeof port, "%u", ents[i].port);
		snprintf(line, sizeof line, "%s %s %s %s %s", ents[i].proto, ents[i].addr, port,
		         ents[i].state, ents[i].service);
		if (filter && regexec(&re, line, 0, NULL, 0) != 0)
			continue;
		const char *row[] = {ents[i].proto, ents[i].addr, ents[i].port ? port : "-",
		                     ents[i].state, ents[i].service[0] ? ents[i].service : "-"};
		ctl_table_add_row(t, row, 5);
	}
	if (filter)
		regfree(&re);
	return t;
}

static json_t *cmd_set_param(struct admin_ctx *a, const struct ctl_request *r, const char *cid)
{
	const char *name = r->argv[2], *value = r->argv[3];
	const struct param_def *def = param_find(name);
	if (!def)
		return ctl_error("unknown parameter '%.128s'", name);
	char why[256], old[STORE_PARAM_VALUE_MAX + 1] = "";
	if (param_validate(def, value, why, sizeof why) != 0)
		return ctl_error("%s", why);
	store_param_get(a->store, name, old, sizeof old);
	int rc = store_param_set(a->store, name, value, def->service);
	if (rc != STORE_OK)
		return ctl_error("cannot set %s: %s", name, store_last_error());
	log_ev(LOG_LVL_NOTICE, cid, "param_set", LOG_S("name", name), LOG_S("old", old),
	       LOG_S("new", value));
	return ctl_message("%s = %s (was %s)", name, value, old[0] ? old : "unset");
}

static json_t *cmd_get_param(struct admin_ctx *a, const struct ctl_request *r, const char *cid)
{
	(void)cid;
	char v[STORE_PARAM_VALUE_MAX + 1];
	int rc = store_param_get(a->store, r->argv[2], v, sizeof v);
	if (rc == STORE_NOTFOUND)
		return ctl_error("parameter '%.128s' is not set", r->argv[2]);
	if (rc != STORE_OK)
		return ctl_error("cannot read %s: %s", r->argv[2], store_last_error());
	const struct param_def *def = param_find(r->argv[2]);
	static const char *const cols[] = {"paramname", "paramvalue", "service", "default"};
	json_t *t = ctl_table(cols, 4);
	const char *row[] = {r->argv[2], v, def ? def->service : "", def ? def->defval : ""};
	ctl_table_add_row(t, row, 4);
	return t;
}

static json_t *cmd_import(struct admin_ctx *a, const struct ctl_request *r, const char *cid)
{
	if (!r->data)
		return ctl_error("import needs the file's content (the CLI sends it)");
	struct tg_config cfg;
	config_copy(a, &cfg);
	struct prov_options o = {
	    .pw = {.t = cfg.password.argon2_t, .m_kib = cfg.password.argon2_m_kib},
	    .sip_realm = cfg.sip.realm};
	struct prov_result res;
	char err[512];
	int rc = prov_import(a->store, r->data, r->data_len, &o, &res, err, sizeof err);
	/* The request holds the file, plain-text passwords included: wipe it now. */
	sodium_memzero((void *)(uintptr_t)r->data, r->data_len);
	if (rc != 0) {
		log_ev(LOG_LVL_WARNING, cid, "import_failed", LOG_S("file", r->argv[1]),
		       LOG_S("error", err));
		return ctl_error("import of %s failed, nothing changed: %s", r->argv[1], err);
	}
	xsi_server_sweep(a->xsi); /* subscribers removed or changed: their subscriptions now */
	log_ev(LOG_LVL_NOTICE, cid, "import_done", LOG_S("file", r->argv[1]),
	       LOG_I("parameters", res.parameters), LOG_I("policies", res.policies),
	       LOG_I("groups", res.groups), LOG_I("securityprofiles", res.securityprofiles),
	       LOG_I("users", res.users), LOG_I("devices", res.devices),
	       LOG_I("associations", res.associations));
	static const char *const cols[] = {"entity", "imported"};
	json_t *t = ctl_table(cols, 2);
	const char *names[] = {
	    "parameters", "credentialpolicies", "groups", "securityprofiles", "users",
	    "devices",    "associations"};
	int counts[] = {res.parameters, res.policies, res.groups,      res.securityprofiles,
	                res.users,      res.devices,  res.associations};
	for (int i = 0; i < 7; i++) {
		char n[16];
		snprintf(n, sizeof n, "%d", counts[i]);
		const char *row[] = {names[i], n};
		ctl_table_add_row(t, row, 2);
	}
	return t;
}

/* The same page as GET /metrics on the admin listener, as the message. */
static json_t *cmd_metrics(struct admin_ctx *a, const struct ctl_request *r, const char *cid)
{
	(void)r;
	(void)cid;
	struct metrics_out o = {0};
	if (admin_metrics_render(a, &o) != 0) {
		metrics_out_free(&o);
		return ctl_error("out of memory while writing the metrics");
	}
	/* The CLI ends the message with a line feed of its own. */
	size_t n = o.len && o.buf[o.len - 1] == '\n' ? o.len - 1 : o.len;
	json_t *resp = json_pack("{s:b,s:s%}", "ok", 1, "message", o.buf ? o.buf : "", n);
	metrics_out_free(&o);
	return resp ? resp : ctl_error("out of memory while writing the metrics");
}

static json_t *cmd_alarms(struct admin_ctx *a, const struct ctl_request *r, const char *cid)
{
	(void)a;
	(void)r;
	(void)cid;
	static struct alarm_rec recs[ALARM_HISTORY];
	static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
	static const char *const cols[] = {"time", "severity", "alarm", "cid", "fields"};
	json_t *t = ctl_table(cols, 5);
	pthread_mutex_lock(&mu);
	size_t n = alarm_history(recs, ALARM_HISTORY);
	for (size_t i = 0; i < n; i++) {
		char ts[32];
		tg_fmt_time(recs[i].time_s, ts, sizeof ts);
		const char *row[] = {ts, alarm_severity_name(recs[i].severity), recs[i].name,
		                     recs[i].cid, recs[i].fields};
		ctl_table_add_row(t, row, 5);
	}
	pthread_mutex_unlock(&mu);
	return t;
}

static json_t *cmd_audit(struct admin_ctx *a, const struct ctl_request *r, const char *cid)
{
	(void)a;
	(void)cid;
	long n = 50;
	if (r->argc == 3) {
		char *end;
		n = strtol(r->argv[2], &end, 10);
		if (*end || n < 1 || n > AUDIT_HISTORY)
			return usage_error("usage: show audit [N] (N: 1..512, default 50)");
	}
	struct audit_rec *recs = calloc((size_t)n, sizeof *recs);
	if (!recs)
		return ctl_error("out of memory");
	static const char *const cols[] = {"time",   "uid",   "pid", "command",
	                                   "result", "error", "cid"};
	json_t *t = ctl_table(cols, 7);
	size_t got = audit_history(recs, (size_t)n);
	for (size_t i = 0; i < got; i++) {
		char ts[32], u[24], p[24];
		tg_fmt_time(recs[i].time_s, ts, sizeof ts);
		snprintf(u, sizeof u, "%ld", recs[i].uid);
		snprintf(p, sizeof p, "%ld", recs[i].pid);
		const char *row[] = {ts,
		                     u,
		                     p,
		                     recs[i].cmd,
		                     recs[i].ok ? "ok" : "error",
		                     recs[i].error[0] ? recs[i].error : "-",
		                     recs[i].cid};
		ctl_table_add_row(t, row, 7);
	}
	free(recs);
	return t;
}

static void fmt_epoch(int64_t t, char *out, size_t cap)
{
	if (t <= 0)
		snprintf(out, cap, t < 0 ? "until an administrator unlocks" : "never");
	else
		tg_fmt_time(t, out, cap);
}

static int group_row(void *ud, const char *group)
{
	char *buf = ud;
	size_t used = strlen(buf);
	snprintf(buf + used, 2048 - used, "%s%s", used ? ", " : "", group);
	return 0;
}

static void row3(json_t *t, const char *credential, const char *name, const char *value)
{
	const char *row[] = {credential, name, value};
	ctl_table_add_row(t, row, 3);
}

/* One credential's block of `user show`: its state under its own policy, now. */
static int show_credential(struct admin_ctx *a, json_t *t, const struct store_user *u,
                           enum store_credtype type, int64_t now)
{
	const char *c = store_credtype_name(type);
	struct store_credstate cs;
	struct store_credpolicy pol;
	int rc = store_credstate_get(a->store, u->userid, type, &cs);
	if ((rc != STORE_OK && rc != STORE_NOTFOUND) ||
	    store_credpolicy_effective(a->store, u, type, &cs, &pol) != STORE_OK)
		return -1;
	struct store_credstate probe = cs;
	int changed;
	enum dir_status st = dir_policy_precheck(u, &probe, &pol, now, &changed);
	int64_t exp = dir_policy_expires_at(&cs, &pol);
	if (st == DIR_OK && exp && now >= exp)
		st = DIR_EXPIRED;
	else if (st == DIR_OK && cs.mustchange)
		st = DIR_MUST_CHANGE;
	char buf[64];
	struct store_sipcred sc;
	int none = type == STORE_CRED_DIGEST &&
	           store_sipcred_get(a->store, u->userid, &sc) == STORE_NOTFOUND;
	sodium_memzero(&sc, sizeof sc);
	row3(t, c, "state",
	     none           ? "none (no digestpassword)"
	     : st == DIR_OK ? "usable"
	                    : dir_status_name(st));
	row3(t, c, "credential_policy", pol.name);
	snprintf(buf, sizeof buf, "%d of %d", cs.hackcount, pol.failedlogonthreshold);
	row3(t, c, "hack_count", buf);
	if (pol.throttleafterfailures > 0) {
		snprintf(buf, sizeof buf, "from %d failures, at most %d s",
		         pol.throttleafterfailures, pol.throttlemaxseconds);
		row3(t, c, "throttle", buf);
		int64_t thr = dir_policy_throttle_ends(&cs, &pol);
		if (thr > now) {
			fmt_epoch(thr, buf, sizeof buf);
			row3(t, c, "throttled_until", buf);
		}
	}
	fmt_epoch(cs.timelockedout, buf, sizeof buf);
	row3(t, c, "time_locked_by_admin", buf);
	fmt_epoch(cs.timehackedlockout, buf, sizeof buf);
	row3(t, c, "time_hacked_lockout", buf);
	if (cs.timehackedlockout) {
		fmt_epoch(dir_policy_lockout_ends(&cs, &pol), buf, sizeof buf);
		row3(t, c, "lockout_ends", buf);
	}
	fmt_epoch(cs.lastsuccessfullogin, buf, sizeof buf);
	row3(t, c, "last_successful_login", buf);
	fmt_epoch(cs.lastfailedlogin, buf, sizeof buf);
	row3(t, c, "last_failed_login", buf);
	fmt_epoch(cs.timechanged, buf, sizeof buf);
	row3(t, c, "credential_changed", buf);
	fmt_epoch(exp, buf, sizeof buf);
	row3(t, c, "credential_expires", buf);
	row3(t, c, "does_not_expire", cs.doesnotexpire ? "true" : "false");
	row3(t, c, "user_must_change", cs.mustchange ? "true" : "false");
	row3(t, c, "inactive", cs.inactive ? "true" : "false");
	return 0;
}

/* Deprovisions a user: the row goes, with what references it (credentials, state,
 * associations, OAuth grants: ON DELETE CASCADE); devices they owned lose the owner.
 * Their cloud CTI subscriptions end with a SubscriptionTerminatedEvent. */
static json_t *cmd_user_delete(struct admin_ctx *a, const struct ctl_request *r, const char *cid)
{
	const char *id = r->argv[2];
	int rc = store_user_delete(a->store, id);
	if (rc == STORE_NOTFOUND)
		return ctl_error("no user '%.128s'", id);
	if (rc != STORE_OK)
		return ctl_error("store unavailable: %s", store_last_error());
	xsi_server_sweep(a->xsi);
	log_ev(LOG_LVL_NOTICE, cid, "user_deleted", LOG_S("user", id));
	return ctl_message("user %s deleted", id);
}

static json_t *cmd_user_show(struct admin_ctx *a, const struct ctl_request *r, const char *cid)
{
	(void)cid;
	const char *id = r->argv[2];
	struct store_user u;
	int rc = store_user_get(a->store, id, &u);
	if (rc == STORE_NOTFOUND)
		return ctl_error("no user '%.128s'", id);
	if (rc != STORE_OK)
		return ctl_error("store unavailable: %s", store_last_error());
	char groups[2048] = "", perms[256];
	unsigned p = 0;
	store_user_groups(a->store, id, group_row, groups);
	dir_cti_perms(a->store, id, &p);
	dir_cti_perm_format(p, perms, sizeof perms);
	static const char *const cols[] = {"credential", "name", "value"};
	json_t *t = ctl_table(cols, 3);
	row3(t, "-", "userid", u.userid);
	char name[STORE_NAME_MAX * 2 + 2];
	snprintf(name, sizeof name, "%s%s%s", u.firstname, u.firstname[0] ? " " : "", u.lastname);
	row3(t, "-", "name", name[0] ? name : "-");
	row3(t, "-", "directory", u.directory == STORE_DIR_LDAP ? "ldap" : "local");
	row3(t, "-", "end_user_status", u.status == STORE_USER_INACTIVE ? "inactive" : "active");
	row3(t, "-", "groups", groups[0] ? groups : "-");
	row3(t, "-", "cti_permissions", perms);
	row3(t, "-", "cti_authentication_type", store_ctiauthtype_name(u.ctiauthtype));
	int64_t now = tg_now_s();
	for (int c = 0; c < STORE_CRED_TYPES; c++)
		if (show_credential(a, t, &u, (enum store_credtype)c, now) != 0) {
			json_decref(t);
			return ctl_error("store unavailable: %s", store_last_error());
		}
	return t;
}

/* `--credential password|digest|all` at argv[3..4] (all when absent): a bit per type, or
 * 0 with the usage error in *err (a response to return). */
static unsigned credential_arg(const struct ctl_request *r, enum admin_cmd_id id, json_t **err)
{
	if (r->argc == 3)
		return (1u << STORE_CRED_TYPES) - 1;
	enum store_credtype t;
	if (r->argc != 5 || strcmp(r->argv[3], "--credential") != 0) {
		*err = wrong_args(id);
		return 0;
	}
	if (strcmp(r->argv[4], "all") == 0)
		return (1u << STORE_CRED_TYPES) - 1;
	if (store_credtype_parse(r->argv[4], &t) == 0)
		return 1u << t;
	char msg[256];
	snprintf(msg, sizeof msg, "unknown credential '%.64s': use password, digest or all",
	         r->argv[4]);
	*err = usage_error(msg);
	return 0;
}

/* Ends the user's OAuth refresh-token families (the access tokens: cmd_user_lock). Failures
 * are logged: the lock itself stands. */
static void revoke_oauth(struct admin_ctx *a, const char *id, const char *cid)
{
	int n = 0;
	int rc = store_oauthrefresh_revoke_user(a->store, id, &n);
	log_ev(rc == STORE_OK ? LOG_LVL_NOTICE : LOG_LVL_ERROR, cid, "oauth_user_revoked",
	       LOG_S("user", id), LOG_S("reason", "password credential locked"),
	       LOG_I("refresh_tokens", n), LOG_I_IF(rc != STORE_OK, "error", rc));
}

/* Lock (lock = 1) or unlock the given credentials of a user in one transaction. */
static json_t *set_lock(struct admin_ctx *a, const char *id, unsigned which, int lock,
                        const char *cid)
{
	struct store_user u;
	if (store_begin(a->store) != STORE_OK)
		return ctl_error("store unavailable: %s", store_last_error());
	int rc = store_user_get(a->store, id, &u);
	char done[64] = "", before[64] = "", noop[64] = "";
	for (int t = 0; rc == STORE_OK && t < STORE_CRED_TYPES; t++) {
		if (!(which & (1u << t)))
			continue;
		struct store_credstate cs;
		rc = store_credstate_get(a->store, id, (enum store_credtype)t, &cs);
		if (rc == STORE_NOTFOUND)
			rc = STORE_OK; /* no row yet: a clean state */
		if (rc != STORE_OK)
			break;
		const char *name = store_credtype_name((enum store_credtype)t);
		snprintf(before + strlen(before), sizeof before - strlen(before), "%s%s=%d",
		         before[0] ? "," : "", name, cs.hackcount);
		/* Say so when there was nothing to do: "unlocked" alone would suggest the
		 * lock was what stopped the user. */
		int nothing = lock ? cs.timelockedout != 0
		                   : !cs.hackcount && !cs.timelockedout && !cs.timehackedlockout;
		char *list = nothing ? noop : done;
		snprintf(list + strlen(list), 64 - strlen(list), "%s%s", list[0] ? ", " : "", name);
		if (nothing)
			continue;
		if (lock)
			cs.timelockedout = tg_now_s();
		else
			dir_policy_unlock(&cs);
		rc = store_credstate_put(a->store, id, (enum store_credtype)t, &cs);
	}
	if (rc == STORE_OK)
		rc = store_commit(a->store);
	if (rc != STORE_OK) {
		store_rollback(a->store);
		return rc == STORE_NOTFOUND
		           ? ctl_error("no user '%.128s'", id)
		           : ctl_error("store unavailable: %s", store_last_error());
	}
	if (done[0])
		log_ev(LOG_LVL_NOTICE, cid, lock ? "user_locked" : "user_unlocked",
		       LOG_S("user", id), LOG_S("credential", done),
		       LOG_S("hack_count_before", before));
	/* A locked password credential ends the user's OAuth grants (issue 18): the refresh
	 * tokens here, the access tokens in cmd_user_lock. A locked digest credential does
	 * not. */
	if (lock && (which & (1u << STORE_CRED_PASSWORD)) && strstr(done, "password"))
		revoke_oauth(a, id, cid);
	char also[96] = "";
	if (noop[0])
		snprintf(also, sizeof also, "%s%s %s", done[0] ? "; " : "", noop,
		         lock ? "already locked" : "was not locked (nothing to reset)");
	return ctl_message("%s: %s%s%s", id, done,
	                   !done[0] ? ""
	                   : lock   ? " locked"
	                            : " unlocked (failure count reset)",
	                   also);
}

static json_t *cmd_user_unlock(struct admin_ctx *a, const struct ctl_request *r, const char *cid)
{
	json_t *err = NULL;
	unsigned which = credential_arg(r, ADMIN_CMD_user_unlock, &err);
	if (!which)
		return err;
	return set_lock(a, r->argv[2], which, 0, cid);
}

static json_t *cmd_user_lock(struct admin_ctx *a, const struct ctl_request *r, const char *cid)
{
	json_t *err = NULL;
	unsigned which = credential_arg(r, ADMIN_CMD_user_lock, &err);
	if (!which)
		return err;
	json_t *ans = set_lock(a, r->argv[2], which, 1, cid);
	/* Issue 18: locking the password credential ends the user's access tokens (those issued
	 * until now stay refused after an unlock); a locked digest credential does not. */
	if (a->authz && (which & (1u << STORE_CRED_PASSWORD)) &&
	    json_is_true(json_object_get(ans, "ok")))
		authz_revoke_user_before(a->authz, r->argv[2], tg_now_s() + 1);
	return ans;
}

/* `user ctiauthtype USER password|certificate` (store.h: enduser.ctiauthtype): how the
 * user's CTI login is authenticated from the next login on (docs/protocol.md). */
static json_t *cmd_user_ctiauthtype(struct admin_ctx *a, const struct ctl_request *r,
                                    const char *cid)
{
	enum store_ctiauthtype t;
	if (store_ctiauthtype_parse(r->argv[3], &t) != 0) {
		char msg[160];
		snprintf(msg, sizeof msg,
		         "unknown CTI authentication type '%.64s': use password or certificate",
		         r->argv[3]);
		return usage_error(msg);
	}
	int rc = store_user_set_ctiauthtype(a->store, r->argv[2], t);
	if (rc == STORE_NOTFOUND)
		return ctl_error("no user '%.128s'", r->argv[2]);
	if (rc != STORE_OK)
		return ctl_error("store unavailable: %s", store_last_error());
	log_ev(LOG_LVL_NOTICE, cid, "user_ctiauthtype", LOG_S("user", r->argv[2]),
	       LOG_S("ctiauthtype", store_ctiauthtype_name(t)));
	return ctl_message("%s: CTI authentication type %s", r->argv[2], store_ctiauthtype_name(t));
}

static void diag_row(void *ud, const char *step, const char *server, const char *result,
                     const char *detail)
{
	const char *row[] = {step, server, result, detail};
	ctl_table_add_row(ud, row, 4);
}

static json_t *cmd_ldap_test(struct admin_ctx *a, const struct ctl_request *r, const char *cid)
{
	struct tg_config cfg;
	config_copy(a, &cfg);
	static const char *const cols[] = {"step", "server", "result", "detail"};
	json_t *t = ctl_table(cols, 4);
	char err[512];
	int rc =
	    dir_ldap_diagnose(&cfg, r->argc == 3 ? r->argv[2] : NULL, diag_row, t, err, sizeof err);
	log_ev(rc == 0 ? LOG_LVL_INFO : LOG_LVL_WARNING, cid, "ldap_test",
	       LOG_S("user", r->argc == 3 ? r->argv[2] : NULL),
	       LOG_S("result", rc == 0 ? "success" : "failure"),
	       LOG_S("error", rc < 0 ? err : NULL));
	if (rc < 0) {
		json_decref(t);
		return ctl_error("%s", err);
	}
	if (rc > 0)
		json_object_set_new(t, "exit", json_integer(1));
	return t;
}

static json_t *cmd_auth_test(struct admin_ctx *a, const struct ctl_request *r, const char *cid)
{
	if (!a->dir)
		return ctl_error("the directory is not running");
	if (!r->data)
		return ctl_error("auth test needs the password (the CLI reads it from "
		                 "TELGATE_PASSWORD, a prompt or standard input)");
	unsigned perms = 0;
	char detail[256] = "", p[256];
	enum dir_status st = dir_authenticate_wait(a->dir, r->argv[2], r->data, r->data_len, cid,
	                                           &perms, detail, sizeof detail);
	sodium_memzero((void *)(uintptr_t)r->data, r->data_len);
	dir_cti_perm_format(perms, p, sizeof p);
	json_t *t = kv_table();
	kv_row(t, "user", r->argv[2]);
	kv_row(t, "result", dir_status_name(st));
	kv_row(t, "reason", detail[0] ? detail : "-");
	kv_row(t, "cti_permissions", st == DIR_OK ? p : "-");
	kv_row(t, "trace", cid);
	if (st != DIR_OK)
		json_object_set_new(t, "exit", json_integer(1));
	return t;
}

static void session_row(void *ud, const struct cti_session_info *i)
{
	char started[32], n[16];
	tg_fmt_time(i->started_s, started, sizeof started);
	snprintf(n, sizeof n, "%d", i->monitors);
	const char *row[] = {i->session_id, i->user, i->application, i->peer, i->transport,
	                     started,       n,       i->cid};
	ctl_table_add_row(ud, row, 8);
}

static json_t *cmd_cti_sessions(struct admin_ctx *a, const struct ctl_request *r, const char *cid)
{
	(void)r;
	(void)cid;
	if (!a->cti)
		return ctl_error("the CTI server is not running");
	static const char *const cols[] = {"session",   "user",    "application", "peer",
	                                   "transport", "started", "monitors",    "trace"};
	json_t *t = ctl_table(cols, 8);
	cti_server_sessions(a->cti, session_row, t);
	return t;
}

static void monitor_row(void *ud, const struct cti_monitor_info *i)
{
	char x[24], opened[32];
	snprintf(x, sizeof x, "%lu", i->crossref);
	tg_fmt_time(i->opened_s, opened, sizeof opened);
	const char *row[] = {
	    x,       i->device,     i->user, i->application,
	    i->peer, i->session_id, opened,  i->in_service ? "in-service" : "out-of-service"};
	ctl_table_add_row(ud, row, 8);
}

static json_t *cmd_cti_monitors(struct admin_ctx *a, const struct ctl_request *r, const char *cid)
{
	(void)r;
	(void)cid;
	if (!a->cti)
		return ctl_error("the CTI server is not running");
	static const char *const cols[] = {"monitor", "device",  "user",   "application",
	                                   "peer",    "session", "opened", "state"};
	json_t *t = ctl_table(cols, 8);
	cti_server_monitors(a->cti, monitor_row, t);
	return t;
}

static json_t *cmd_device_state(struct admin_ctx *a, const struct ctl_request *r, const char *cid)
{
	if (!a->devstate)
		return ctl_error("the daemon is still starting");
	const char *dev = r->argv[2], *st = r->argv[3];
	int in;
	if (!strcmp(st, "in-service"))
		in = 1;
	else if (!strcmp(st, "out-of-service"))
		in = 0;
	else
		return usage_error("state must be in-service or out-of-service");
	struct store_device d;
	int rc = store_device_get(a->store, dev, &d);
	if (rc == STORE_NOTFOUND)
		return ctl_error("no device '%.128s'", dev);
	if (rc != STORE_OK)
		return ctl_error("store unavailable: %s", store_last_error());
	log_ev(LOG_LVL_NOTICE, cid, "device_state_set_by_admin", LOG_S("device", dev),
	       LOG_S("state", st));
	/* On the bus, as a registration would: every subscriber sees it. */
	devstate_publish(a->devstate, dev, in);
	return ctl_message("%s is %s", dev, st);
}

static int reg_row(void *ud, const struct store_registration *reg)
{
	char exp[32], left[24];
	tg_fmt_time(reg->expires, exp, sizeof exp);
	snprintf(left, sizeof left, "%lld", (long long)(reg->expires - tg_now_s()));
	const char *row[] = {reg->device, reg->aor, reg->contact, reg->transport,
	                     reg->source, exp,      left,         reg->callid};
	ctl_table_add_row(ud, row, 8);
	return 0;
}

static json_t *cmd_registrations(struct admin_ctx *a, const struct ctl_request *r, const char *cid)
{
	(void)cid;
	static const char *const cols[] = {"device", "aor",     "contact",      "transport",
	                                   "source", "expires", "seconds_left", "callid"};
	json_t *t = ctl_table(cols, 8);
	const char *dev = r->argc == 3 ? r->argv[2] : NULL;
	/* The registrar's table is the truth; the store is its copy, a moment behind. */
	if (a->sip ? sip_registrar_registrations(a->sip, dev, reg_row, t) != 0
	           : store_registrations(a->store, dev, reg_row, t) != STORE_OK) {
		json_decref(t);
		return ctl_error("store unavailable: %s", store_last_error());
	}
	return t;
}

static json_t *cmd_unregister(struct admin_ctx *a, const struct ctl_request *r, const char *cid)
{
	if (!a->sip)
		return ctl_error("the registrar is not running");
	struct store_device d;
	int rc = store_device_get(a->store, r->argv[1], &d);
	if (rc == STORE_NOTFOUND)
		return ctl_error("no device '%.128s'", r->argv[1]);
	int n = sip_registrar_unregister(a->sip, r->argv[1]);
	if (n < 0)
		return ctl_error("store unavailable: %s", store_last_error());
	log_ev(LOG_LVL_NOTICE, cid, "sip_unregistered_by_admin", LOG_S("device", r->argv[1]),
	       LOG_I("bindings", n));
	return ctl_message("%s: %d binding%s removed", r->argv[1], n, n == 1 ? "" : "s");
}

/* Edge allow-list (expresswaycconfiguration): identities are certificate CNs or DNS SANs,
 * kept in lower case; the registrar's in-memory copy is reloaded after each change. */
static int edge_identity_ok(const char *id, char *out, size_t cap, const char **why)
{
	size_t n = strlen(id);
	if (n == 0 || n > 255 || n >= cap) {
		*why = "an identity is 1 to 255 characters";
		return -1;
	}
	for (size_t i = 0; i < n; i++) {
		unsigned char ch = (unsigned char)id[i];
		if (ch < 0x21 || ch > 0x7e) {
			*why = "an identity is a certificate CN or DNS name: printable ASCII, no "
			       "spaces";
			return -1;
		}
		out[i] = (char)tolower(ch);
	}
	out[n] = '\0';
	return 0;
}

static const char *edges_reload(struct admin_ctx *a)
{
	if (!a->sip)
		return "the registrar is not running; the change applies when it starts";
	return sip_registrar_edges_reload(a->sip) < 0
	           ? "reloading the allow-list failed; send SIGHUP"
	           : "applied to new edge handshakes";
}

static json_t *cmd_edge_add(struct admin_ctx *a, const struct ctl_request *r, const char *cid)
{
	struct store_edge e = {0};
	const char *why = NULL;
	if (edge_identity_ok(r->argv[2], e.identity, sizeof e.identity, &why) != 0)
		return ctl_error("%s", why);
	tg_strlcpy(e.addedby, r->argc == 4 ? r->argv[3] : "telgate CLI", sizeof e.addedby);
	e.timeadded = tg_now_s();
	int rc = store_edge_add(a->store, &e);
	if (rc == STORE_CONSTRAINT)
		return ctl_error("edge '%s' is already allow-listed", e.identity);
	if (rc != STORE_OK)
		return ctl_error("store unavailable: %s", store_last_error());
	log_ev(LOG_LVL_NOTICE, cid, "sip_edge_added", LOG_S("identity", e.identity),
	       LOG_S("added_by", e.addedby));
	return ctl_message("edge %s allow-listed (%s)", e.identity, edges_reload(a));
}

static json_t *cmd_edge_remove(struct admin_ctx *a, const struct ctl_request *r, const char *cid)
{
	char id[256];
	const char *why = NULL;
	if (edge_identity_ok(r->argv[2], id, sizeof id, &why) != 0)
		return ctl_error("%s", why);
	int rc = store_edge_remove(a->store, id);
	if (rc == STORE_NOTFOUND)
		return ctl_error("edge '%s' is not allow-listed", id);
	if (rc != STORE_OK)
		return ctl_error("store unavailable: %s", store_last_error());
	log_ev(LOG_LVL_NOTICE, cid, "sip_edge_removed_by_admin", LOG_S("identity", id));
	return ctl_message("edge %s removed (%s; its open connections close at their next "
	                   "request)",
	                   id, edges_reload(a));
}

static int edge_row(void *ud, const struct store_edge *e)
{
	char t[32];
	tg_fmt_time(e->timeadded, t, sizeof t);
	const char *row[] = {e->identity, e->addedby, t};
	ctl_table_add_row(ud, row, 3);
	return 0;
}

static json_t *cmd_edge_list(struct admin_ctx *a, const struct ctl_request *r, const char *cid)
{
	(void)r;
	(void)cid;
	static const char *const cols[] = {"identity", "addedby", "timeadded"};
	json_t *t = ctl_table(cols, 3);
	if (store_edges(a->store, edge_row, t) != STORE_OK) {
		json_decref(t);
		return ctl_error("store unavailable: %s", store_last_error());
	}
	return t;
}

static json_t *cmd_help(struct admin_ctx *a, const struct ctl_request *r, const char *cid)
{
	(void)a;
	(void)r;
	(void)cid;
	static const char *const cols[] = {"command"};
	json_t *t = ctl_table(cols, 1);
	for (size_t i = 0; i < ADMIN_NCMDS; i++) {
		const char *row[] = {admin_cmds[i].usage};
		ctl_table_add_row(t, row, 1);
	}
	return t;
}

/* The handlers in ADMIN_COMMANDS order: both arrays come from the one list. */
#define ADMIN_CMD_FN(handler, ...) cmd_##handler,
static const cmd_fn handlers[] = {ADMIN_COMMANDS(ADMIN_CMD_FN)};
_Static_assert(sizeof handlers / sizeof handlers[0] == ADMIN_NCMDS, "one handler a command");

json_t *admin_handle(void *ctx, const struct ctl_request *req, const char *cid)
{
	const struct admin_cmd *c;
	enum admin_match m = admin_cmd_find(req->argc, req->argv, &c);
	if (m != ADMIN_MATCH_OK) {
		char err[256];
		admin_cmd_usage_error(m, c, req->argv[0], err, sizeof err);
		return usage_error(err);
	}
	json_t *resp = handlers[c - admin_cmds](ctx, req, cid);
	if (c->effect == CHANGES && resp) {
		int ok = json_is_true(json_object_get(resp, "ok"));
		audit_record(req->peer_uid, req->peer_pid, req->argc, req->argv, ok,
		             ok ? NULL : json_string_value(json_object_get(resp, "error")), cid);
	}
	return resp;
}
