#include "admin/admin.h"
#include "core/alarm.h"
#include "core/log.h"
#include "core/ports.h"
#include "core/util.h"
#include "provision/import.h"
#include "store/params.h"

#include <regex.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
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

static json_t *cmd_status(struct admin_ctx *a, const struct ctl_request *r, const char *cid)
{
	(void)r;
	(void)cid;
	struct tg_config cfg;
	config_copy(a, &cfg);
	struct store_counts n;
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
		log_event(LOG_LVL_NOTICE, cid, "run_sql_refused", "reason", err,
		          (const char *)NULL);
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
		return ctl_error("usage: show open ports [regexp PATTERN]");
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
	log_event(LOG_LVL_NOTICE, cid, "param_set", "name", name, "old", old, "new", value,
	          (const char *)NULL);
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
	struct prov_options o = {{cfg.password.argon2_t, cfg.password.argon2_m_kib}, NULL, NULL};
	struct prov_result res;
	char err[512];
	int rc = prov_import(a->store, r->data, r->data_len, &o, &res, err, sizeof err);
	/* The request holds the file, plain-text passwords included: wipe it now. */
	sodium_memzero((void *)(uintptr_t)r->data, r->data_len);
	if (rc != 0) {
		log_event(LOG_LVL_WARNING, cid, "import_failed", "file", r->argv[1], "error", err,
		          (const char *)NULL);
		return ctl_error("import of %s failed, nothing changed: %s", r->argv[1], err);
	}
	char summary[256];
	snprintf(summary, sizeof summary,
	         "parameters=%d policies=%d groups=%d users=%d devices=%d associations=%d",
	         res.parameters, res.policies, res.groups, res.users, res.devices,
	         res.associations);
	log_event(LOG_LVL_NOTICE, cid, "import_done", "file", r->argv[1], "counts", summary,
	          (const char *)NULL);
	static const char *const cols[] = {"entity", "imported"};
	json_t *t = ctl_table(cols, 2);
	const char *names[] = {"parameters", "credentialpolicies", "groups", "users",
	                       "devices",    "associations"};
	int counts[] = {res.parameters, res.policies, res.groups,
	                res.users,      res.devices,  res.associations};
	for (int i = 0; i < 6; i++) {
		char n[16];
		snprintf(n, sizeof n, "%d", counts[i]);
		const char *row[] = {names[i], n};
		ctl_table_add_row(t, row, 2);
	}
	return t;
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

static json_t *cmd_help(struct admin_ctx *a, const struct ctl_request *r, const char *cid);

static const struct cmd {
	const char *words[3];
	int nwords, minargs, maxargs; /* argc bounds, words included */
	cmd_fn fn;
	const char *usage;
} cmds[] = {
    {{"status"}, 1, 1, 1, cmd_status, "status"},
    {{"run", "sql"}, 2, 3, 3, cmd_run_sql, "run sql \"SELECT ...\""},
    {{"show", "open", "ports"}, 3, 3, 5, cmd_open_ports, "show open ports [regexp PATTERN]"},
    {{"set", "param"}, 2, 4, 4, cmd_set_param, "set param NAME VALUE"},
    {{"get", "param"}, 2, 3, 3, cmd_get_param, "get param NAME"},
    {{"import"}, 1, 2, 2, cmd_import, "import FILE.json"},
    {{"show", "alarms"}, 2, 2, 2, cmd_alarms, "show alarms"},
    {{"help"}, 1, 1, 1, cmd_help, "help"},
};

static json_t *cmd_help(struct admin_ctx *a, const struct ctl_request *r, const char *cid)
{
	(void)a;
	(void)r;
	(void)cid;
	static const char *const cols[] = {"command"};
	json_t *t = ctl_table(cols, 1);
	for (size_t i = 0; i < sizeof cmds / sizeof cmds[0]; i++) {
		const char *row[] = {cmds[i].usage};
		ctl_table_add_row(t, row, 1);
	}
	return t;
}

json_t *admin_handle(void *ctx, const struct ctl_request *req, const char *cid)
{
	struct admin_ctx *a = ctx;
	const struct cmd *partial = NULL;
	for (size_t i = 0; i < sizeof cmds / sizeof cmds[0]; i++) {
		const struct cmd *c = &cmds[i];
		int match = req->argc >= c->nwords;
		for (int w = 0; match && w < c->nwords; w++)
			match = strcmp(req->argv[w], c->words[w]) == 0;
		if (!match) {
			if (strcmp(req->argv[0], c->words[0]) == 0 && !partial)
				partial = c;
			continue;
		}
		if (req->argc < c->minargs || req->argc > c->maxargs)
			return ctl_error("usage: %s", c->usage);
		return c->fn(a, req, cid);
	}
	if (partial)
		return ctl_error("unknown command; did you mean: %s", partial->usage);
	return ctl_error("unknown command '%.64s'; try: telgate help", req->argv[0]);
}
