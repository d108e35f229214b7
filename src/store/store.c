/* SPDX-License-Identifier: ISC */
/* The backend-independent half of the store: connections per thread, migrations, and
 * every entity query as portable SQL. */
#include "store/store.h"
#include "store/params.h"
#include "store/store_backend.h"
#include "core/log.h"
#include "core/util.h"

#include <ctype.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

struct store_conn_link {
	struct store_conn_link *next;
	struct store_conn *conn;
	store_t *st;
	int in_txn;            /* 1: store_begin's, 2: store_read_begin's */
	uint64_t txn_start_ns; /* when store_begin was called (the latency histogram) */
	/* Generations to bump when the open transaction ends (see store_generation). */
	int txn_wrote, nslots;
	unsigned slots[8];
};

static _Thread_local char last_error[512];

void store_set_error(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(last_error, sizeof last_error, fmt, ap);
	va_end(ap);
}

const char *store_last_error(void)
{
	return last_error;
}

static void unlink_conn(store_t *st, struct store_conn_link *l)
{
	pthread_mutex_lock(&st->mu);
	for (struct store_conn_link **pp = &st->conns; *pp; pp = &(*pp)->next)
		if (*pp == l) {
			*pp = l->next;
			break;
		}
	pthread_mutex_unlock(&st->mu);
}

/* Thread exit: close this thread's connection. */
static void conn_destructor(void *p)
{
	struct store_conn_link *l = p;
	unlink_conn(l->st, l);
	l->st->be->conn_close(l->conn);
	free(l);
}

static struct store_conn_link *link_for_thread(store_t *st)
{
	struct store_conn_link *l = pthread_getspecific(st->key);
	if (l)
		return l;
	char err[256] = "";
	struct store_conn *c = st->be->conn_open(st, err, sizeof err);
	if (!c) {
		store_set_error("%s", err);
		return NULL;
	}
	l = calloc(1, sizeof *l);
	if (!l) {
		st->be->conn_close(c);
		store_set_error("out of memory");
		return NULL;
	}
	l->conn = c;
	l->st = st;
	pthread_setspecific(st->key, l);
	pthread_mutex_lock(&st->mu);
	l->next = st->conns;
	st->conns = l;
	pthread_mutex_unlock(&st->mu);
	return l;
}

static unsigned user_slot(const char *userid)
{
	return tg_fnv1a_str(userid) % STORE_GEN_SLOTS;
}

uint64_t store_generation(store_t *st)
{
	return atomic_load(&st->gen);
}

uint64_t store_user_generation(store_t *st, const char *userid)
{
	return atomic_load(&st->user_gen[user_slot(userid)]);
}

void store_user_generation_prefetch(store_t *st, const char *userid)
{
	__builtin_prefetch(&st->user_gen[user_slot(userid)]);
}

/* A write happened on l: bump now (no transaction: it is committed) or when the
 * transaction ends. Bumping after the commit is what makes a copy loaded before it
 * stale. slot < 0: the global generation. */
/* Bumps one generation (slot -1: the global one) and tells the other nodes. */
static void bump(store_t *st, struct store_conn_link *l, int slot)
{
	atomic_fetch_add(slot < 0 ? &st->gen : &st->user_gen[slot], 1);
	if (st->be->announce)
		st->be->announce(l->conn, slot);
}

static void touched(store_t *st, struct store_conn_link *l, int slot)
{
	if (!l->in_txn) {
		bump(st, l, slot);
		return;
	}
	if (slot < 0)
		l->txn_wrote = 1;
	else if (l->nslots < (int)(sizeof l->slots / sizeof l->slots[0]))
		l->slots[l->nslots++] = (unsigned)slot;
	else
		l->txn_wrote = 1; /* too many users in one transaction: bump everything */
}

static void txn_ended(store_t *st, struct store_conn_link *l)
{
	if (l->txn_wrote)
		bump(st, l, -1);
	for (int i = 0; i < l->nslots; i++)
		bump(st, l, (int)l->slots[i]);
	l->txn_wrote = 0;
	l->nslots = 0;
}

enum gen_kind { GEN_AUTO, GEN_NONE };

static int exec_gen(store_t *st, enum gen_kind g, const char *sql, const struct store_val *p, int n,
                    store_row_fn fn, void *ud, int *changes)
{
	struct store_conn_link *l = link_for_thread(st);
	if (!l)
		return STORE_ERROR;
	int rc = st->be->exec(l->conn, sql, p, n, fn, ud, changes);
	/* Anything but a SELECT counts as a write, whatever it returned. */
	if (g == GEN_AUTO && strncmp(sql, "SELECT", 6) != 0)
		touched(st, l, -1);
	return rc;
}

static int exec(store_t *st, const char *sql, const struct store_val *p, int n, store_row_fn fn,
                void *ud, int *changes)
{
	return exec_gen(st, GEN_AUTO, sql, p, n, fn, ud, changes);
}

int store_exec(store_t *st, const char *sql, const struct store_val *p, int n, store_row_fn fn,
               void *ud, int *changes)
{
	return exec_gen(st, GEN_AUTO, sql, p, n, fn, ud, changes);
}

int store_exec_nogen(store_t *st, const char *sql, const struct store_val *p, int n,
                     store_row_fn fn, void *ud, int *changes)
{
	return exec_gen(st, GEN_NONE, sql, p, n, fn, ud, changes);
}

/* This thread's connection when no transaction is open on it, else NULL (error set). */
static struct store_conn_link *idle_link(store_t *st)
{
	struct store_conn_link *l = link_for_thread(st);
	if (l && l->in_txn) {
		store_set_error("transaction already open on this thread");
		return NULL;
	}
	return l;
}

int store_begin(store_t *st)
{
	struct store_conn_link *l = idle_link(st);
	if (!l)
		return STORE_ERROR;
	l->txn_start_ns = metrics_now_ns();
	int rc = st->be->begin(l->conn);
	if (rc == STORE_OK)
		l->in_txn = 1;
	return rc;
}

int store_commit(store_t *st)
{
	struct store_conn_link *l = link_for_thread(st);
	if (!l || !l->in_txn) {
		store_set_error("no transaction open on this thread");
		return STORE_ERROR;
	}
	int rc = st->be->commit(l->conn);
	if (rc != STORE_OK)
		st->be->rollback(l->conn);
	l->in_txn = 0;
	txn_ended(st, l);
	metrics_histogram_observe_ns(&st->txn_latency, metrics_now_ns() - l->txn_start_ns);
	return rc;
}

int store_rollback(store_t *st)
{
	struct store_conn_link *l = link_for_thread(st);
	if (!l || !l->in_txn)
		return STORE_OK;
	l->in_txn = 0;
	int rc = st->be->rollback(l->conn);
	txn_ended(st, l); /* nothing changed, but bumping is always safe */
	metrics_histogram_observe_ns(&st->txn_latency, metrics_now_ns() - l->txn_start_ns);
	return rc;
}

int store_read_begin(store_t *st)
{
	struct store_conn_link *l = idle_link(st);
	if (!l)
		return STORE_ERROR;
	if (!st->be->begin_read)
		return STORE_OK;
	int rc = st->be->begin_read(l->conn);
	if (rc == STORE_OK)
		l->in_txn = 2;
	return rc;
}

int store_read_end(store_t *st)
{
	struct store_conn_link *l = link_for_thread(st);
	if (!l || l->in_txn != 2)
		return STORE_OK;
	int rc = st->be->commit(l->conn);
	if (rc != STORE_OK)
		st->be->rollback(l->conn);
	l->in_txn = 0;
	txn_ended(st, l); /* nothing should have been written; bumping is always safe */
	return rc;
}

const struct metrics_histogram *store_txn_latency(store_t *st)
{
	return &st->txn_latency;
}

int store_probe_write(store_t *st, int timeout_ms)
{
	struct store_conn_link *l = idle_link(st);
	if (!l)
		return STORE_ERROR;
	return st->be->probe_write(l->conn, timeout_ms);
}

/* --- row helpers -------------------------------------------------------------------- */

static int64_t to_i64(const char *s)
{
	return s ? strtoll(s, NULL, 10) : 0;
}

struct copy_one {
	char *out;
	size_t cap;
	int found, toobig;
};

static int copy_first_col(void *ud, int ncols, const char *const *names, const char *const *vals)
{
	(void)names;
	struct copy_one *c = ud;
	c->found = 1;
	if (ncols > 0 && tg_strlcpy(c->out, vals[0] ? vals[0] : "", c->cap) != 0)
		c->toobig = 1;
	return 1;
}

/* Copies a column into a fixed field; returns nonzero if it does not fit. */
static int cp(char *dst, size_t cap, const char *v)
{
	return tg_strlcpy(dst, v ? v : "", cap) != 0;
}

int store_copy_col(char *dst, size_t cap, const char *v)
{
	return cp(dst, cap, v);
}

int64_t store_col_i64(const char *v)
{
	return to_i64(v);
}

const char *store_sql_skip_space(const char *p)
{
	for (;;) {
		while (isspace((unsigned char)*p))
			p++;
		if (p[0] == '-' && p[1] == '-') {
			while (*p && *p != '\n')
				p++;
		} else if (p[0] == '/' && p[1] == '*') {
			const char *e = strstr(p + 2, "*/");
			p = e ? e + 2 : p + strlen(p);
		} else {
			return p;
		}
	}
}

int store_sql_starts_with_word(const char *p, const char *w)
{
	size_t n = strlen(w);
	return strncasecmp(p, w, n) == 0 && !isalnum((unsigned char)p[n]) && p[n] != '_';
}

static int sql_mentions(const char *sql, const char *word)
{
	size_t n = strlen(word);
	for (const char *p = sql; *p; p++)
		if (strncasecmp(p, word, n) == 0)
			return 1;
	return 0;
}

const struct store_secret_column *store_sql_names_secret(const char *sql, char *err, size_t errlen)
{
	const struct store_secret_column *found = NULL;
	for (const struct store_secret_column *k = store_secret_columns; k->table; k++) {
		if (!sql_mentions(sql, k->column))
			continue;
		if (sql_mentions(sql, k->table)) {
			found = k;
			break;
		}
		if (!found)
			found = k;
	}
	if (found)
		snprintf(err, errlen,
		         "refused: %s.%s is a secret column (a secret, key or hash of one: ad-hoc "
		         "queries may not name it; SELECT * shows it as NULL)",
		         found->table, found->column);
	return found;
}

/* --- migrations and open ------------------------------------------------------------ */

int store_schema_latest(void)
{
	return store_migrations[store_nmigrations - 1].version;
}

int store_schema_version(store_t *st, int *version)
{
	char buf[32] = "";
	struct copy_one c = {buf, sizeof buf, 0, 0};
	int rc = exec(st, "SELECT COALESCE(MAX(version), 0) FROM schema_version", NULL, 0,
	              copy_first_col, &c, NULL);
	if (rc != STORE_OK)
		return rc;
	*version = (int)to_i64(buf);
	return STORE_OK;
}

const char *const *store_migration_own(const struct store_migration *m,
                                       const struct store_backend *be)
{
	return be == &store_sqlite_backend ? m->sqlite
	       : be == &store_pg_backend   ? m->postgres
	                                   : NULL;
}

static int migrate(store_t *st, int no_migrate, char *err, size_t errlen)
{
	int64_t t0 = tg_mono_ms();
	int rc = store_begin(st);
	if (rc != STORE_OK) {
		snprintf(err, errlen, "cannot lock the store for migration: %s",
		         store_last_error());
		return rc;
	}
	rc = exec(st,
	          "CREATE TABLE IF NOT EXISTS schema_version ("
	          " version INTEGER PRIMARY KEY, applied_at BIGINT NOT NULL)",
	          NULL, 0, NULL, NULL, NULL);
	int have = 0;
	if (rc == STORE_OK)
		rc = store_schema_version(st, &have);
	if (rc == STORE_OK && have > store_schema_latest()) {
		snprintf(err, errlen,
		         "store schema version %d is newer than this telgated knows (%d); "
		         "refusing to touch it",
		         have, store_schema_latest());
		store_rollback(st);
		return STORE_ERROR;
	}
	if (rc == STORE_OK && no_migrate && have == 0) {
		snprintf(err, errlen,
		         "the store has no tables yet; an offline check does not create them: "
		         "start telgated once (or check the configuration's store settings)");
		store_rollback(st);
		return STORE_ERROR;
	}
	if (rc == STORE_OK && no_migrate && have < store_schema_latest()) {
		snprintf(
		    err, errlen,
		    "store schema version %d is older than this telgated's (%d); an offline "
		    "check does not upgrade it: start this telgated once (docs/store.md, "
		    "\"Upgrading\") or run the check with the telgated the store was written by",
		    have, store_schema_latest());
		store_rollback(st);
		return STORE_ERROR;
	}
	for (int i = 0; rc == STORE_OK && i < store_nmigrations; i++) {
		const struct store_migration *m = &store_migrations[i];
		if (m->version <= have)
			continue;
		const char *const *own = store_migration_own(m, st->be);
		for (const char *const *s = m->statements; rc == STORE_OK && *s; s++)
			rc = exec(st, *s, NULL, 0, NULL, NULL, NULL);
		for (const char *const *s = own; rc == STORE_OK && s && *s; s++)
			rc = exec(st, *s, NULL, 0, NULL, NULL, NULL);
		if (rc == STORE_OK) {
			struct store_val p[] = {SV_I(m->version), SV_I(tg_now_s())};
			rc = exec(
			    st, "INSERT INTO schema_version (version, applied_at) VALUES ($1, $2)",
			    p, 2, NULL, NULL, NULL);
		}
		if (rc != STORE_OK)
			snprintf(err, errlen, "migration to schema %d failed: %s", m->version,
			         store_last_error());
	}
	/* Parameters a newer telgated knows get their default; set values stay. */
	for (size_t i = 0; rc == STORE_OK && i < param_count(); i++) {
		const struct param_def *d = param_at(i);
		struct store_val p[] = {SV_S(d->name), SV_S(d->defval), SV_S(d->service)};
		rc = exec(st,
		          "INSERT INTO processconfig (paramname, paramvalue, service) VALUES ($1, "
		          "$2, $3) ON CONFLICT (paramname) DO NOTHING",
		          p, 3, NULL, NULL, NULL);
		if (rc != STORE_OK)
			snprintf(err, errlen, "cannot seed parameter %s: %s", d->name,
			         store_last_error());
	}
	if (rc != STORE_OK) {
		if (!err[0])
			snprintf(err, errlen, "%s", store_last_error());
		store_rollback(st);
		return rc;
	}
	rc = store_commit(st);
	if (rc != STORE_OK)
		snprintf(err, errlen, "migration commit failed: %s", store_last_error());
	else if (have < store_schema_latest())
		log_ev(LOG_LVL_NOTICE, NULL, "store_migrated", LOG_I("from", have),
		       LOG_I("to", store_schema_latest()), LOG_I("ms", tg_mono_ms() - t0));
	return rc;
}

/* The postgres connection string into st->conninfo (from the file, read now: threads
 * connect later, after the privilege drop), and the log line that says where the store
 * is, without the password. */
static int load_conninfo(store_t *st, const struct store_options *opt, char *err, size_t errlen)
{
	size_t cap = 4096, len = 0;
	st->conninfo = calloc(1, cap);
	if (!st->conninfo) {
		snprintf(err, errlen, "out of memory");
		return STORE_ERROR;
	}
	if (opt->conninfo_file && opt->conninfo_file[0]) {
		if (tg_read_secret_file("store.conninfo_file", opt->conninfo_file, st->conninfo,
		                        cap, &len, err, errlen) != 0)
			return STORE_ERROR;
	} else if (!opt->conninfo || !opt->conninfo[0] ||
	           tg_strlcpy(st->conninfo, opt->conninfo, cap) != 0) {
		snprintf(err, errlen, "store: backend postgres needs conninfo or conninfo_file");
		return STORE_ERROR;
	}
	char shown[1024];
	store_pg_conninfo_redacted(st->conninfo, shown, sizeof shown);
	log_ev(LOG_LVL_INFO, NULL, "store_open", LOG_S("backend", st->be->name),
	       LOG_S("conninfo", shown));
	return STORE_OK;
}

int store_open(const struct store_options *opt, store_t **out, char *err, size_t errlen)
{
	err[0] = '\0';
	const struct store_backend *be = NULL;
	if (!opt->backend || strcmp(opt->backend, "sqlite") == 0)
		be = &store_sqlite_backend;
	else if (strcmp(opt->backend, "postgres") == 0)
		be = &store_pg_backend;
	if (!be) {
		snprintf(err, errlen, "unknown store backend '%s'", opt->backend);
		return STORE_ERROR;
	}
	store_t *st = calloc(1, sizeof *st);
	if (!st) {
		snprintf(err, errlen, "out of memory");
		return STORE_ERROR;
	}
	st->be = be;
	if (tg_strlcpy(st->path, opt->path ? opt->path : "", sizeof st->path) != 0) {
		snprintf(err, errlen, "store path too long");
		free(st);
		return STORE_ERROR;
	}
	st->busy_timeout_ms = opt->busy_timeout_ms > 0 ? opt->busy_timeout_ms : 5000;
	atomic_store(&st->opening, 1);
	metrics_histogram_init(&st->txn_latency, metrics_latency_bounds, metrics_latency_nbounds);
	pthread_mutex_init(&st->mu, NULL);
	if (pthread_key_create(&st->key, conn_destructor) != 0) {
		snprintf(err, errlen, "pthread_key_create failed");
		pthread_mutex_destroy(&st->mu);
		free(st);
		return STORE_ERROR;
	}
	if (be == &store_pg_backend && load_conninfo(st, opt, err, errlen) != STORE_OK) {
		store_close(st);
		return STORE_ERROR;
	}
	if (!link_for_thread(st)) {
		snprintf(err, errlen, "%s", store_last_error());
		store_close(st);
		return STORE_ERROR;
	}
	int rc = migrate(st, opt->no_migrate, err, errlen);
	if (rc == STORE_OK && be->listen_start && be->listen_start(st, err, errlen) != 0)
		rc = STORE_ERROR;
	if (rc != STORE_OK) {
		store_close(st);
		return rc;
	}
	atomic_store(&st->opening, 0);
	*out = st;
	return STORE_OK;
}

void store_stopping(store_t *st)
{
	if (st)
		atomic_store(&st->stopping, 1);
}

void store_close(store_t *st)
{
	if (!st)
		return;
	/* Threads that already exited closed their own; close the rest (this thread's and
	 * those of threads that outlive the store, which must not use it any more). */
	if (st->listener && st->be->listen_stop)
		st->be->listen_stop(st);
	pthread_setspecific(st->key, NULL);
	pthread_mutex_lock(&st->mu);
	struct store_conn_link *l = st->conns;
	st->conns = NULL;
	pthread_mutex_unlock(&st->mu);
	while (l) {
		struct store_conn_link *next = l->next;
		st->be->conn_close(l->conn);
		free(l);
		l = next;
	}
	pthread_key_delete(st->key);
	pthread_mutex_destroy(&st->mu);
	if (st->conninfo) {
		explicit_bzero(st->conninfo, strlen(st->conninfo));
		free(st->conninfo);
	}
	free(st);
}

const char *store_backend_name(const store_t *st)
{
	return st->be->name;
}

void store_cluster_state(store_t *st, char *db, size_t dbcap, char *listen, size_t listencap)
{
	char v[8] = "";
	struct copy_one c = {v, sizeof v, 0, 0};
	int rc = exec_gen(st, GEN_NONE, "SELECT 1", NULL, 0, copy_first_col, &c, NULL);
	if (rc == STORE_OK)
		snprintf(db, dbcap, "connected (%s)", st->be->name);
	else
		snprintf(db, dbcap, "unavailable: %s", store_last_error());
	snprintf(listen, listencap, "%s",
	         st->be->listen_state ? st->be->listen_state(st)
	                              : "none: the store is this node's alone");
}

int store_devstate_announce(store_t *st, const struct store_devstate *v, int n)
{
	if (!st->be->devstate_announce || n <= 0)
		return STORE_OK; /* SQLite: no other node to tell */
	struct store_conn_link *l = link_for_thread(st);
	if (!l)
		return STORE_ERROR;
	return st->be->devstate_announce(l->conn, v, n);
}

void store_devstate_listen(store_t *st, void (*fn)(void *arg, const char *device, int in_service),
                           void (*resync)(void *arg, const char *why), void *arg)
{
	if (st->be->devstate_listen)
		st->be->devstate_listen(st, fn, resync, arg);
}

/* --- users -------------------------------------------------------------------------- */

static const char *dir_name(enum store_directory d)
{
	return d == STORE_DIR_LDAP ? "ldap" : "local";
}

int store_user_put(store_t *st, const struct store_user *u)
{
	struct store_val p[] = {
	    SV_S(u->userid),
	    SV_S(u->firstname),
	    SV_S(u->lastname),
	    SV_S(u->mail),
	    SV_S(dir_name(u->directory)),
	    SV_S(u->passwordhash),
	    SV_I(u->status ? u->status : STORE_USER_ACTIVE),
	    SV_S(u->credentialpolicy[0] ? u->credentialpolicy : "Default Credential Policy")};
	int rc = exec(st,
	              "INSERT INTO enduser (userid, firstname, lastname, mail, directory, "
	              "passwordhash, status, credentialpolicy) VALUES ($1, $2, $3, $4, $5, $6, "
	              "$7, $8) ON CONFLICT (userid) DO UPDATE SET firstname = excluded.firstname, "
	              "lastname = excluded.lastname, mail = excluded.mail, directory = "
	              "excluded.directory, passwordhash = excluded.passwordhash, status = "
	              "excluded.status, credentialpolicy = excluded.credentialpolicy",
	              p, 8, NULL, NULL, NULL);
	if (rc != STORE_OK)
		return rc;
	/* Every user has a credential-state row per credential type from the start. */
	for (int t = 0; rc == STORE_OK && t < STORE_CRED_TYPES; t++) {
		struct store_val q[] = {SV_S(u->userid), SV_S(store_credtype_name(t))};
		rc = exec(
		    st,
		    "INSERT INTO credentialdynamic (userid, credentialtype) VALUES ($1, $2) ON "
		    "CONFLICT (userid, credentialtype) DO NOTHING",
		    q, 2, NULL, NULL, NULL);
	}
	return rc;
}

struct user_out {
	struct store_user *u;
	int found, bad;
};

static int user_row(void *ud, int ncols, const char *const *names, const char *const *v)
{
	(void)names;
	(void)ncols;
	struct user_out *o = ud;
	struct store_user *u = o->u;
	o->found = 1;
	o->bad = cp(u->userid, sizeof u->userid, v[0]) |
	         cp(u->firstname, sizeof u->firstname, v[1]) |
	         cp(u->lastname, sizeof u->lastname, v[2]) | cp(u->mail, sizeof u->mail, v[3]) |
	         cp(u->passwordhash, sizeof u->passwordhash, v[5]) |
	         cp(u->credentialpolicy, sizeof u->credentialpolicy, v[7]);
	u->directory = v[4] && strcmp(v[4], "ldap") == 0 ? STORE_DIR_LDAP : STORE_DIR_LOCAL;
	u->status = (enum store_user_status)to_i64(v[6]);
	u->ctiauthtype = v[8] && strcmp(v[8], "certificate") == 0 ? STORE_CTIAUTH_CERTIFICATE
	                                                          : STORE_CTIAUTH_PASSWORD;
	return 1;
}

/* Maps the outcome of a single-row lookup to a return code. */
static int one_row_rc(int rc, int found, int bad)
{
	if (rc != STORE_OK)
		return rc;
	if (!found)
		return STORE_NOTFOUND;
	if (bad) {
		store_set_error("stored value does not fit its field");
		return STORE_TOOBIG;
	}
	return STORE_OK;
}

static int rows_row(void *ud, int ncols, const char *const *names, const char *const *v)
{
	(void)ncols;
	(void)names;
	struct store_rows *r = ud;
	r->found = 1;
	if (r->conv(r->obj, v)) {
		r->bad = 1;
		return r->each == NULL; /* a list skips the row; a lookup stops */
	}
	return r->each ? r->each(r->ud, r->obj) : 1;
}

int store_select(store_t *st, const char *sql, const struct store_val *p, int n,
                 struct store_rows *r)
{
	r->found = r->bad = 0;
	int rc = exec_gen(st, r->nogen ? GEN_NONE : GEN_AUTO, sql, p, n, rows_row, r, NULL);
	if (!r->each) {
		rc = one_row_rc(rc, r->found, r->bad);
		if (rc != STORE_OK)
			memset(r->obj, 0, r->size);
		return rc;
	}
	if (rc == STORE_OK && r->bad) {
		store_set_error("a stored row does not fit its fields");
		return STORE_TOOBIG;
	}
	return rc;
}

int store_user_get(store_t *st, const char *userid, struct store_user *out)
{
	memset(out, 0, sizeof *out);
	struct user_out o = {out, 0, 0};
	struct store_val p[] = {SV_S(userid)};
	int rc = exec(st,
	              "SELECT userid, firstname, lastname, mail, directory, passwordhash, status, "
	              "credentialpolicy, ctiauthtype FROM enduser WHERE userid = $1",
	              p, 1, user_row, &o, NULL);
	return one_row_rc(rc, o.found, o.bad);
}

static const char *const ctiauth_names[] = {"password", "certificate"};

const char *store_ctiauthtype_name(enum store_ctiauthtype t)
{
	return (unsigned)t < 2 ? ctiauth_names[t] : "unknown";
}

int store_ctiauthtype_parse(const char *name, enum store_ctiauthtype *out)
{
	for (int i = 0; i < 2; i++)
		if (strcmp(name, ctiauth_names[i]) == 0) {
			*out = (enum store_ctiauthtype)i;
			return 0;
		}
	return -1;
}

int store_user_set_ctiauthtype(store_t *st, const char *userid, enum store_ctiauthtype t)
{
	struct store_val p[] = {SV_S(store_ctiauthtype_name(t)), SV_S(userid)};
	int changes = 0;
	int rc = exec(st, "UPDATE enduser SET ctiauthtype = $1 WHERE userid = $2", p, 2, NULL, NULL,
	              &changes);
	return rc != STORE_OK ? rc : changes ? STORE_OK : STORE_NOTFOUND;
}

int store_group_put(store_t *st, const char *name, const char *description)
{
	struct store_val p[] = {SV_S(name), SV_S(description ? description : "")};
	return exec(st,
	            "INSERT INTO dirgroup (name, description) VALUES ($1, $2) ON CONFLICT (name) "
	            "DO UPDATE SET description = excluded.description",
	            p, 2, NULL, NULL, NULL);
}

static int found_row(void *ud, int ncols, const char *const *names, const char *const *vals)
{
	(void)ncols;
	(void)names;
	(void)vals;
	*(int *)ud = 1;
	return 1;
}

int store_group_exists(store_t *st, const char *name)
{
	int found = 0;
	struct store_val p[] = {SV_S(name)};
	int rc = exec(st, "SELECT 1 FROM dirgroup WHERE name = $1", p, 1, found_row, &found, NULL);
	return rc != STORE_OK ? rc : found;
}

int store_user_set_groups(store_t *st, const char *userid, const char *const *groups, size_t n)
{
	struct store_val p[] = {SV_S(userid), SV_NULLV};
	int rc =
	    exec(st, "DELETE FROM enduserdirgroupmap WHERE userid = $1", p, 1, NULL, NULL, NULL);
	for (size_t i = 0; rc == STORE_OK && i < n; i++) {
		p[1] = SV_S(groups[i]);
		rc = exec(st,
		          "INSERT INTO enduserdirgroupmap (userid, groupname) VALUES ($1, $2) ON "
		          "CONFLICT DO NOTHING",
		          p, 2, NULL, NULL, NULL);
	}
	return rc;
}

struct name_list {
	int (*fn)(void *ud, const char *name);
	void *ud;
};

static int name_row(void *ud, int ncols, const char *const *names, const char *const *vals)
{
	(void)ncols;
	(void)names;
	struct name_list *l = ud;
	return l->fn(l->ud, vals[0] ? vals[0] : "");
}

int store_user_groups(store_t *st, const char *userid, int (*fn)(void *ud, const char *group),
                      void *ud)
{
	struct name_list l = {fn, ud};
	struct store_val p[] = {SV_S(userid)};
	return exec(st,
	            "SELECT groupname FROM enduserdirgroupmap WHERE userid = $1 ORDER BY "
	            "groupname",
	            p, 1, name_row, &l, NULL);
}

int store_user_delete(store_t *st, const char *userid)
{
	struct store_val p[] = {SV_S(userid)};
	int n = 0;
	int rc = exec(st, "DELETE FROM enduser WHERE userid = $1", p, 1, NULL, NULL, &n);
	return rc == STORE_OK && n == 0 ? STORE_NOTFOUND : rc;
}

int store_group_users(store_t *st, const char *group, int (*fn)(void *ud, const char *userid),
                      void *ud)
{
	struct name_list l = {fn, ud};
	struct store_val p[] = {SV_S(group)};
	return exec(st,
	            "SELECT userid FROM enduserdirgroupmap WHERE groupname = $1 ORDER BY userid", p,
	            1, name_row, &l, NULL);
}

/* --- credential state and policy ---------------------------------------------------- */

static const char *const credtype_names[STORE_CRED_TYPES] = {"password", "digest"};

const char *store_credtype_name(enum store_credtype t)
{
	return (unsigned)t < STORE_CRED_TYPES ? credtype_names[t] : "unknown";
}

int store_credtype_parse(const char *name, enum store_credtype *out)
{
	for (int i = 0; i < STORE_CRED_TYPES; i++)
		if (strcmp(name, credtype_names[i]) == 0) {
			*out = (enum store_credtype)i;
			return 0;
		}
	return -1;
}

int store_credstate_put(store_t *st, const char *userid, enum store_credtype type,
                        const struct store_credstate *c)
{
	struct store_val p[] = {SV_S(userid),
	                        SV_S(store_credtype_name(type)),
	                        SV_S(c->credentialpolicy),
	                        SV_I(c->hackcount),
	                        SV_I(c->timelockedout),
	                        SV_I(c->timehackedlockout),
	                        SV_I(c->lastsuccessfullogin),
	                        SV_I(c->lastfailedlogin),
	                        SV_I(c->timechanged),
	                        SV_I(c->mustchange),
	                        SV_I(c->inactive),
	                        SV_I(c->doesnotexpire)};
	struct store_conn_link *l = link_for_thread(st);
	if (!l)
		return STORE_ERROR;
	int rc = exec_gen(
	    st, GEN_NONE,
	    "INSERT INTO credentialdynamic (userid, credentialtype, credentialpolicy, hackcount, "
	    "timelockedout, timehackedlockout, lastsuccessfullogin, lastfailedlogin, timechanged, "
	    "mustchange, inactive, doesnotexpire) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, "
	    "$10, $11, $12) ON CONFLICT (userid, credentialtype) DO UPDATE SET credentialpolicy = "
	    "excluded.credentialpolicy, hackcount = excluded.hackcount, timelockedout = "
	    "excluded.timelockedout, timehackedlockout = excluded.timehackedlockout, "
	    "lastsuccessfullogin = excluded.lastsuccessfullogin, lastfailedlogin = "
	    "excluded.lastfailedlogin, timechanged = excluded.timechanged, mustchange = "
	    "excluded.mustchange, inactive = excluded.inactive, doesnotexpire = "
	    "excluded.doesnotexpire",
	    p, 12, NULL, NULL, NULL);
	touched(st, l, (int)user_slot(userid));
	return rc;
}

struct cred_out {
	struct store_credstate *c;
	int found, bad;
};

static int cred_row(void *ud, int ncols, const char *const *names, const char *const *v)
{
	(void)ncols;
	(void)names;
	struct cred_out *o = ud;
	struct store_credstate *c = o->c;
	o->found = 1;
	c->hackcount = (int)to_i64(v[0]);
	c->timelockedout = to_i64(v[1]);
	c->timehackedlockout = to_i64(v[2]);
	c->lastsuccessfullogin = to_i64(v[3]);
	c->lastfailedlogin = to_i64(v[4]);
	c->timechanged = to_i64(v[5]);
	c->mustchange = (int)to_i64(v[6]);
	c->inactive = (int)to_i64(v[7]);
	c->doesnotexpire = (int)to_i64(v[8]);
	o->bad = cp(c->credentialpolicy, sizeof c->credentialpolicy, v[9]);
	return 1;
}

#define CRED_COLUMNS                                                                               \
	"hackcount, timelockedout, timehackedlockout, lastsuccessfullogin, lastfailedlogin, "      \
	"timechanged, mustchange, inactive, doesnotexpire, credentialpolicy"
/* The lockout that ran out ($4), the old last failure ($5): the same rules as
 * dir_policy_precheck and dir_policy_apply, evaluated on the row as it is (SET sees the
 * old values on SQLite and PostgreSQL alike). */
#define CRED_EXPIRED "(timehackedlockout <> 0 AND timehackedlockout <= $4)"
#define CRED_COUNT                                                                                 \
	"(CASE WHEN lastfailedlogin <> 0 AND lastfailedlogin <= $5 THEN 1 ELSE (CASE "             \
	"WHEN " CRED_EXPIRED " THEN 0 ELSE hackcount END) + 1 END)"
#define CRED_LOCK "(CASE WHEN " CRED_EXPIRED " THEN 0 ELSE timehackedlockout END)"

int store_credstate_fail(store_t *st, const char *userid, enum store_credtype type, int64_t now,
                         int64_t unlock_before, int64_t reset_before, int threshold,
                         struct store_credstate *out)
{
	memset(out, 0, sizeof *out);
	struct cred_out o = {out, 0, 0};
	struct store_val p[] = {SV_S(userid),       SV_S(store_credtype_name(type)),
	                        SV_I(now),          SV_I(unlock_before),
	                        SV_I(reset_before), SV_I(threshold)};
	struct store_conn_link *l = link_for_thread(st);
	if (!l)
		return STORE_ERROR;
	int rc = exec_gen(st, GEN_NONE,
	                  "UPDATE credentialdynamic SET hackcount = " CRED_COUNT
	                  ", lastfailedlogin = $3, timehackedlockout = CASE WHEN " CRED_LOCK
	                  " = 0 AND $6 > 0 AND " CRED_COUNT " >= $6 THEN $3 ELSE " CRED_LOCK
	                  " END WHERE userid = $1 AND credentialtype = $2 RETURNING " CRED_COLUMNS,
	                  p, 6, cred_row, &o, NULL);
	if (rc == STORE_OK && o.found)
		touched(st, l, (int)user_slot(userid));
	rc = one_row_rc(rc, o.found, o.bad);
	if (rc != STORE_OK)
		memset(out, 0, sizeof *out);
	return rc;
}

int store_credstate_get(store_t *st, const char *userid, enum store_credtype type,
                        struct store_credstate *out)
{
	memset(out, 0, sizeof *out);
	struct cred_out o = {out, 0, 0};
	struct store_val p[] = {SV_S(userid), SV_S(store_credtype_name(type))};
	int rc = exec(st,
	              "SELECT " CRED_COLUMNS " FROM credentialdynamic WHERE userid = $1 AND "
	              "credentialtype = $2",
	              p, 2, cred_row, &o, NULL);
	rc = one_row_rc(rc, o.found, o.bad);
	if (rc != STORE_OK)
		memset(out, 0, sizeof *out);
	return rc;
}

int store_credpolicy_put(store_t *st, const struct store_credpolicy *c)
{
	struct store_val p[] = {SV_S(c->name),
	                        SV_I(c->failedlogonthreshold),
	                        SV_I(c->resetfailedlogonsafter),
	                        SV_I(c->lockoutduration),
	                        SV_I(c->adminmustunlock),
	                        SV_I(c->expiresafterdays),
	                        SV_I(c->expirywarningdays),
	                        SV_I(c->inactivedaysallowed),
	                        SV_I(c->minlength),
	                        SV_I(c->throttleafterfailures),
	                        SV_I(c->throttlemaxseconds > 0 ? c->throttlemaxseconds : 300)};
	return exec(st,
	            "INSERT INTO credentialpolicy (name, failedlogonthreshold, "
	            "resetfailedlogonsafter, lockoutduration, adminmustunlock, expiresafterdays, "
	            "expirywarningdays, inactivedaysallowed, minlength, throttleafterfailures, "
	            "throttlemaxseconds) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11) ON "
	            "CONFLICT (name) DO UPDATE SET failedlogonthreshold = "
	            "excluded.failedlogonthreshold, resetfailedlogonsafter = "
	            "excluded.resetfailedlogonsafter, lockoutduration = excluded.lockoutduration, "
	            "adminmustunlock = excluded.adminmustunlock, expiresafterdays = "
	            "excluded.expiresafterdays, expirywarningdays = excluded.expirywarningdays, "
	            "inactivedaysallowed = excluded.inactivedaysallowed, minlength = "
	            "excluded.minlength, throttleafterfailures = excluded.throttleafterfailures, "
	            "throttlemaxseconds = excluded.throttlemaxseconds",
	            p, 11, NULL, NULL, NULL);
}

struct pol_out {
	struct store_credpolicy *c;
	int found, bad;
};

static int pol_row(void *ud, int ncols, const char *const *names, const char *const *v)
{
	(void)ncols;
	(void)names;
	struct pol_out *o = ud;
	struct store_credpolicy *c = o->c;
	o->found = 1;
	o->bad = cp(c->name, sizeof c->name, v[0]);
	c->failedlogonthreshold = (int)to_i64(v[1]);
	c->resetfailedlogonsafter = (int)to_i64(v[2]);
	c->lockoutduration = (int)to_i64(v[3]);
	c->adminmustunlock = (int)to_i64(v[4]);
	c->expiresafterdays = (int)to_i64(v[5]);
	c->expirywarningdays = (int)to_i64(v[6]);
	c->inactivedaysallowed = (int)to_i64(v[7]);
	c->minlength = (int)to_i64(v[8]);
	c->throttleafterfailures = (int)to_i64(v[9]);
	c->throttlemaxseconds = (int)to_i64(v[10]);
	return 1;
}

#define POLICY_COLUMNS                                                                             \
	"p.name, p.failedlogonthreshold, p.resetfailedlogonsafter, p.lockoutduration, "            \
	"p.adminmustunlock, p.expiresafterdays, p.expirywarningdays, p.inactivedaysallowed, "      \
	"p.minlength, p.throttleafterfailures, p.throttlemaxseconds"

int store_credpolicy_get(store_t *st, const char *name, struct store_credpolicy *out)
{
	memset(out, 0, sizeof *out);
	struct pol_out o = {out, 0, 0};
	struct store_val p[] = {SV_S(name)};
	int rc = exec(st, "SELECT " POLICY_COLUMNS " FROM credentialpolicy p WHERE p.name = $1", p,
	              1, pol_row, &o, NULL);
	return one_row_rc(rc, o.found, o.bad);
}

int store_credpolicy_default(store_t *st, enum store_credtype type, struct store_credpolicy *out)
{
	memset(out, 0, sizeof *out);
	struct pol_out o = {out, 0, 0};
	struct store_val p[] = {SV_S(store_credtype_name(type))};
	int rc = exec(st,
	              "SELECT " POLICY_COLUMNS " FROM credentialpolicy p JOIN "
	              "credentialpolicydefault d ON d.credentialpolicy = p.name WHERE "
	              "d.credentialtype = $1",
	              p, 1, pol_row, &o, NULL);
	return one_row_rc(rc, o.found, o.bad);
}

int store_credpolicy_effective(store_t *st, const struct store_user *u, enum store_credtype type,
                               const struct store_credstate *cs, struct store_credpolicy *out)
{
	if (cs && cs->credentialpolicy[0])
		return store_credpolicy_get(st, cs->credentialpolicy, out);
	if (type == STORE_CRED_PASSWORD && u && u->credentialpolicy[0])
		return store_credpolicy_get(st, u->credentialpolicy, out);
	return store_credpolicy_default(st, type, out);
}

/* --- devices ------------------------------------------------------------------------ */

int store_device_put(store_t *st, const struct store_device *d)
{
	struct store_val p[] = {SV_S(d->name),
	                        SV_S(d->model),
	                        SV_S(d->protocol[0] ? d->protocol : "SIP"),
	                        d->owneruserid[0] ? SV_S(d->owneruserid) : SV_NULLV,
	                        SV_S(d->securityprofile),
	                        SV_S(d->mac),
	                        SV_S(d->description),
	                        SV_S(d->digestuser)};
	return exec(st,
	            "INSERT INTO device (name, model, protocol, owneruserid, securityprofile, mac, "
	            "description, digestuser) VALUES ($1, $2, $3, $4, $5, $6, $7, $8) ON CONFLICT "
	            "(name) DO UPDATE SET model = excluded.model, protocol = excluded.protocol, "
	            "owneruserid = excluded.owneruserid, securityprofile = "
	            "excluded.securityprofile, mac = excluded.mac, description = "
	            "excluded.description, digestuser = excluded.digestuser",
	            p, 8, NULL, NULL, NULL);
}

struct dev_out {
	struct store_device *d;
	int found, bad;
};

static int dev_row(void *ud, int ncols, const char *const *names, const char *const *v)
{
	(void)ncols;
	(void)names;
	struct dev_out *o = ud;
	struct store_device *d = o->d;
	o->found = 1;
	o->bad = cp(d->name, sizeof d->name, v[0]) | cp(d->model, sizeof d->model, v[1]) |
	         cp(d->protocol, sizeof d->protocol, v[2]) |
	         cp(d->owneruserid, sizeof d->owneruserid, v[3]) |
	         cp(d->securityprofile, sizeof d->securityprofile, v[4]) |
	         cp(d->mac, sizeof d->mac, v[5]) | cp(d->description, sizeof d->description, v[6]) |
	         cp(d->digestuser, sizeof d->digestuser, v[7]);
	return 1;
}

int store_device_get(store_t *st, const char *name, struct store_device *out)
{
	memset(out, 0, sizeof *out);
	struct dev_out o = {out, 0, 0};
	struct store_val p[] = {SV_S(name)};
	int rc = exec(st,
	              "SELECT name, model, protocol, owneruserid, securityprofile, mac, "
	              "description, digestuser FROM device WHERE name = $1",
	              p, 1, dev_row, &o, NULL);
	return one_row_rc(rc, o.found, o.bad);
}

/* Each row of a line's devices, converted and handed to the caller's fn. */
struct line_devs {
	int (*fn)(void *ud, const struct store_device *d);
	void *ud;
	int bad;
};

static int line_dev_row(void *ud, int ncols, const char *const *names, const char *const *v)
{
	struct line_devs *l = ud;
	struct store_device d;
	memset(&d, 0, sizeof d);
	struct dev_out o = {&d, 0, 0};
	dev_row(&o, ncols, names, v);
	if (o.bad) {
		l->bad = 1;
		return 0; /* skipped: a list goes on */
	}
	return l->fn(l->ud, &d);
}

int store_line_devices(store_t *st, const char *line,
                       int (*fn)(void *ud, const struct store_device *d), void *ud)
{
	struct line_devs l = {fn, ud, 0};
	struct store_val p[] = {SV_S(line)};
	int rc =
	    exec(st,
	         "SELECT d.name, d.model, d.protocol, d.owneruserid, d.securityprofile, d.mac, "
	         "d.description, d.digestuser FROM device d JOIN deviceline l ON l.devicename "
	         "= d.name WHERE l.line = $1 ORDER BY d.name",
	         p, 1, line_dev_row, &l, NULL);
	if (rc == STORE_OK && l.bad) {
		store_set_error("a stored row does not fit its fields");
		return STORE_TOOBIG;
	}
	return rc;
}

/* The first two devices of a line: whether it is on none, one or several. */
struct by_line {
	struct store_device *out;
	int n;
};

static int by_line_row(void *ud, const struct store_device *d)
{
	struct by_line *b = ud;
	if (b->n++ == 0)
		*b->out = *d;
	return b->n > 1;
}

int store_device_by_line(store_t *st, const char *line, struct store_device *out)
{
	memset(out, 0, sizeof *out);
	struct by_line b = {out, 0};
	int rc = store_line_devices(st, line, by_line_row, &b);
	if (rc == STORE_OK && b.n != 1) {
		memset(out, 0, sizeof *out);
		rc = b.n == 0 ? STORE_NOTFOUND : STORE_CONSTRAINT;
		if (b.n > 1)
			store_set_error("the line is on several devices");
	}
	return rc;
}

int store_device_lines_set(store_t *st, const char *device, const char *const *lines, size_t n)
{
	struct store_val p[] = {SV_S(device)};
	int rc = exec(st, "DELETE FROM deviceline WHERE devicename = $1", p, 1, NULL, NULL, NULL);
	for (size_t i = 0; rc == STORE_OK && i < n; i++) {
		struct store_val q[] = {SV_S(lines[i]), SV_S(device)};
		rc = exec(st, "INSERT INTO deviceline (line, devicename) VALUES ($1, $2)", q, 2,
		          NULL, NULL, NULL);
	}
	return rc;
}

int store_device_lines(store_t *st, const char *device, int (*fn)(void *ud, const char *line),
                       void *ud)
{
	struct name_list l = {fn, ud};
	struct store_val p[] = {SV_S(device)};
	return exec(st, "SELECT line FROM deviceline WHERE devicename = $1 ORDER BY line", p, 1,
	            name_row, &l, NULL);
}

int store_sipcred_put(store_t *st, const char *userid, const struct store_sipcred *c)
{
	struct store_val p[] = {SV_S(userid), SV_S(c->realm), SV_S(c->ha1_md5),
	                        SV_S(c->ha1_sha256)};
	return exec(st,
	            "INSERT INTO sipcredential (userid, realm, ha1md5, ha1sha256) VALUES ($1, $2, "
	            "$3, $4) ON CONFLICT (userid) DO UPDATE SET realm = excluded.realm, ha1md5 = "
	            "excluded.ha1md5, ha1sha256 = excluded.ha1sha256",
	            p, 4, NULL, NULL, NULL);
}

struct sipcred_out {
	struct store_sipcred *c;
	int found, bad;
};

static int sipcred_row(void *ud, int ncols, const char *const *names, const char *const *v)
{
	(void)ncols;
	(void)names;
	struct sipcred_out *o = ud;
	o->found = 1;
	o->bad = cp(o->c->realm, sizeof o->c->realm, v[0]) |
	         cp(o->c->ha1_md5, sizeof o->c->ha1_md5, v[1]) |
	         cp(o->c->ha1_sha256, sizeof o->c->ha1_sha256, v[2]);
	return 1;
}

int store_sipcred_get(store_t *st, const char *userid, struct store_sipcred *out)
{
	memset(out, 0, sizeof *out);
	struct sipcred_out o = {out, 0, 0};
	struct store_val p[] = {SV_S(userid)};
	int rc = exec(st, "SELECT realm, ha1md5, ha1sha256 FROM sipcredential WHERE userid = $1", p,
	              1, sipcred_row, &o, NULL);
	return one_row_rc(rc, o.found, o.bad);
}

int store_assoc_put(store_t *st, const char *userid, const char *device)
{
	struct store_val p[] = {SV_S(userid), SV_S(device)};
	return exec(st,
	            "INSERT INTO enduserdevicemap (userid, devicename) VALUES ($1, $2) ON "
	            "CONFLICT DO NOTHING",
	            p, 2, NULL, NULL, NULL);
}

int store_assoc_delete(store_t *st, const char *userid, const char *device)
{
	struct store_val p[] = {SV_S(userid), SV_S(device)};
	int changes = 0;
	int rc = exec(st, "DELETE FROM enduserdevicemap WHERE userid = $1 AND devicename = $2", p,
	              2, NULL, NULL, &changes);
	return rc != STORE_OK ? rc : changes ? STORE_OK : STORE_NOTFOUND;
}

int store_device_users(store_t *st, const char *device, int (*fn)(void *ud, const char *userid),
                       void *ud)
{
	struct name_list l = {fn, ud};
	struct store_val p[] = {SV_S(device)};
	return exec(st, "SELECT userid FROM enduserdevicemap WHERE devicename = $1 ORDER BY userid",
	            p, 1, name_row, &l, NULL);
}

int store_assoc_exists(store_t *st, const char *userid, const char *device)
{
	int found = 0;
	struct store_val p[] = {SV_S(userid), SV_S(device)};
	int rc = exec(st, "SELECT 1 FROM enduserdevicemap WHERE userid = $1 AND devicename = $2", p,
	              2, found_row, &found, NULL);
	return rc != STORE_OK ? rc : found;
}

int store_devices_for_user(store_t *st, const char *userid, int all, size_t max,
                           int (*fn)(void *ud, const char *device), void *ud)
{
	struct name_list l = {fn, ud};
	struct store_val p[] = {SV_S(userid), SV_I(all ? 1 : 0), SV_I((int64_t)max)};
	return exec(st,
	            "SELECT name FROM device WHERE $2 = 1 OR owneruserid = $1 OR name IN (SELECT "
	            "devicename FROM enduserdevicemap WHERE userid = $1) ORDER BY name LIMIT $3",
	            p, 3, name_row, &l, NULL);
}

/* --- edge allow-list ----------------------------------------------------------------- */

int store_edge_add(store_t *st, const struct store_edge *e)
{
	struct store_val p[] = {SV_S(e->identity), SV_S(e->addedby), SV_I(e->timeadded)};
	return exec(st,
	            "INSERT INTO expresswaycconfiguration (identity, addedby, timeadded) VALUES "
	            "($1, $2, $3)",
	            p, 3, NULL, NULL, NULL);
}

int store_edge_remove(store_t *st, const char *identity)
{
	struct store_val p[] = {SV_S(identity)};
	int n = 0;
	int rc = exec(st, "DELETE FROM expresswaycconfiguration WHERE identity = $1", p, 1, NULL,
	              NULL, &n);
	return rc == STORE_OK && n == 0 ? STORE_NOTFOUND : rc;
}

struct edge_list {
	int (*fn)(void *ud, const struct store_edge *e);
	void *ud;
	int bad;
};

static int edge_row(void *ud, int ncols, const char *const *names, const char *const *v)
{
	(void)ncols;
	(void)names;
	struct edge_list *l = ud;
	struct store_edge e;
	memset(&e, 0, sizeof e);
	if (cp(e.identity, sizeof e.identity, v[0]) | cp(e.addedby, sizeof e.addedby, v[1])) {
		l->bad = 1;
		return 1;
	}
	e.timeadded = to_i64(v[2]);
	return l->fn(l->ud, &e);
}

int store_edges(store_t *st, int (*fn)(void *ud, const struct store_edge *e), void *ud)
{
	struct edge_list l = {fn, ud, 0};
	int rc = exec(st,
	              "SELECT identity, addedby, timeadded FROM expresswaycconfiguration ORDER BY "
	              "identity",
	              NULL, 0, edge_row, &l, NULL);
	return rc == STORE_OK && l.bad ? STORE_TOOBIG : rc;
}

/* --- TLS settings (tlssetting) ------------------------------------------------------- */

int store_tls_setting_put(store_t *st, const char *level, const char *name, const char *value,
                          int64_t now)
{
	struct store_val p[] = {SV_S(level), SV_S(name), SV_S(value), SV_I(now)};
	return exec(st,
	            "INSERT INTO tlssetting (level, name, value, timechanged) VALUES ($1, $2, $3, "
	            "$4) ON CONFLICT (level, name) DO UPDATE SET value = excluded.value, "
	            "timechanged = excluded.timechanged",
	            p, 4, NULL, NULL, NULL);
}

int store_tls_setting_delete(store_t *st, const char *level, const char *name)
{
	struct store_val p[] = {SV_S(level), SV_S(name)};
	int n = 0;
	int rc =
	    exec(st, "DELETE FROM tlssetting WHERE level = $1 AND name = $2", p, 2, NULL, NULL, &n);
	return rc == STORE_OK && n == 0 ? STORE_NOTFOUND : rc;
}

struct tls_list {
	int (*fn)(void *ud, const char *level, const char *name, const char *value);
	void *ud;
};

static int tls_row(void *ud, int ncols, const char *const *names, const char *const *v)
{
	(void)ncols;
	(void)names;
	struct tls_list *l = ud;
	return l->fn(l->ud, v[0] ? v[0] : "", v[1] ? v[1] : "", v[2] ? v[2] : "");
}

int store_tls_settings(store_t *st,
                       int (*fn)(void *ud, const char *level, const char *name, const char *value),
                       void *ud)
{
	struct tls_list l = {fn, ud};
	return exec(st, "SELECT level, name, value FROM tlssetting ORDER BY level, name", NULL, 0,
	            tls_row, &l, NULL);
}

/* --- trust anchors and client identities (tlstrustanchor, tlsclientidentity) -------- */

int store_anchor_put(store_t *st, const struct store_anchor *a)
{
	struct store_val p[] = {SV_S(a->level),   SV_S(a->alias),  SV_S(a->pem),
	                        SV_S(a->subject), SV_S(a->issuer), SV_I(a->notafter),
	                        SV_S(a->sha256)};
	return exec(st,
	            "INSERT INTO tlstrustanchor (level, alias, pem, subject, issuer, notafter, "
	            "sha256) VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (level, alias) DO "
	            "UPDATE SET pem = excluded.pem, subject = excluded.subject, issuer = "
	            "excluded.issuer, notafter = excluded.notafter, sha256 = excluded.sha256",
	            p, 7, NULL, NULL, NULL);
}

int store_anchor_delete(store_t *st, const char *level, const char *alias)
{
	struct store_val p[] = {SV_S(level), SV_S(alias)};
	int n = 0;
	int rc = exec(st, "DELETE FROM tlstrustanchor WHERE level = $1 AND alias = $2", p, 2, NULL,
	              NULL, &n);
	return rc == STORE_OK && n == 0 ? STORE_NOTFOUND : rc;
}

struct anchor_list {
	int (*fn)(void *ud, const struct store_anchor *a);
	void *ud;
};

static int anchor_row(void *ud, int ncols, const char *const *names, const char *const *v)
{
	(void)ncols;
	(void)names;
	struct anchor_list *l = ud;
	struct store_anchor a = {v[0] ? v[0] : "", v[1] ? v[1] : "", v[2] ? v[2] : "",
	                         v[3] ? v[3] : "", v[4] ? v[4] : "", to_i64(v[5]),
	                         v[6] ? v[6] : ""};
	return l->fn(l->ud, &a);
}

int store_anchors(store_t *st, const char *level, int (*fn)(void *ud, const struct store_anchor *a),
                  void *ud)
{
	struct anchor_list l = {fn, ud};
	struct store_val p[] = {level ? SV_S(level) : SV_NULLV};
	return exec(st,
	            "SELECT level, alias, pem, subject, issuer, notafter, sha256 FROM "
	            "tlstrustanchor WHERE $1 IS NULL OR level = $1 ORDER BY level, alias",
	            p, 1, anchor_row, &l, NULL);
}

int store_identity_add(store_t *st, const char *level, const char *name)
{
	struct store_val p[] = {SV_S(level), SV_S(name)};
	return exec(st, "INSERT INTO tlsclientidentity (level, name) VALUES ($1, $2)", p, 2, NULL,
	            NULL, NULL);
}

int store_identity_delete(store_t *st, const char *level, const char *name)
{
	struct store_val p[] = {SV_S(level), SV_S(name)};
	int n = 0;
	int rc = exec(st, "DELETE FROM tlsclientidentity WHERE level = $1 AND name = $2", p, 2,
	              NULL, NULL, &n);
	return rc == STORE_OK && n == 0 ? STORE_NOTFOUND : rc;
}

struct identity_list {
	int (*fn)(void *ud, const char *level, const char *name);
	void *ud;
};

static int identity_row(void *ud, int ncols, const char *const *names, const char *const *v)
{
	(void)ncols;
	(void)names;
	struct identity_list *l = ud;
	return l->fn(l->ud, v[0] ? v[0] : "", v[1] ? v[1] : "");
}

int store_identities(store_t *st, const char *level,
                     int (*fn)(void *ud, const char *level, const char *name), void *ud)
{
	struct identity_list l = {fn, ud};
	struct store_val p[] = {level ? SV_S(level) : SV_NULLV};
	return exec(st,
	            "SELECT level, name FROM tlsclientidentity WHERE $1 IS NULL OR level = $1 "
	            "ORDER BY level, name",
	            p, 1, identity_row, &l, NULL);
}

/* --- parameters --------------------------------------------------------------------- */

int store_param_set(store_t *st, const char *name, const char *value, const char *service)
{
	struct store_val p[] = {SV_S(name), SV_S(value), SV_S(service ? service : "Enterprise")};
	return exec(st,
	            "INSERT INTO processconfig (paramname, paramvalue, service) VALUES ($1, $2, "
	            "$3) ON CONFLICT (paramname) DO UPDATE SET paramvalue = excluded.paramvalue, "
	            "service = excluded.service",
	            p, 3, NULL, NULL, NULL);
}

int store_param_get(store_t *st, const char *name, char *out, size_t cap)
{
	struct copy_one c = {out, cap, 0, 0};
	struct store_val p[] = {SV_S(name)};
	int rc = exec(st, "SELECT paramvalue FROM processconfig WHERE paramname = $1", p, 1,
	              copy_first_col, &c, NULL);
	return one_row_rc(rc, c.found, c.toobig);
}

/* --- registrations ------------------------------------------------------------------ */

/* The columns a put writes, $1..$12; changedms ($11) is when the change was made;
 * processnode ($12) the node that owns the binding's connection: a put from another node
 * takes the binding over. */
#define REG_INSERT                                                                                 \
	"INSERT INTO registration (devicename, contact, aor, callid, cseq, expires, transport, "   \
	"source, sipinstance, regid, changedms, processnode) "
#define REG_UPSERT                                                                                 \
	" ON CONFLICT (devicename, contact) DO UPDATE SET aor = excluded.aor, callid = "           \
	"excluded.callid, cseq = excluded.cseq, expires = excluded.expires, transport = "          \
	"excluded.transport, source = excluded.source, sipinstance = excluded.sipinstance, "       \
	"regid = excluded.regid, changedms = excluded.changedms, processnode = "                   \
	"excluded.processnode"

static int reg_put(store_t *st, const struct store_registration *r, int64_t at_ms, const char *sql)
{
	struct store_val p[] = {SV_S(r->device),    SV_S(r->contact), SV_S(r->aor),
	                        SV_S(r->callid),    SV_I(r->cseq),    SV_I(r->expires),
	                        SV_S(r->transport), SV_S(r->source),  SV_S(r->sipinstance),
	                        SV_I(r->regid),     SV_I(at_ms),      SV_S(r->node)};
	return exec_gen(st, GEN_NONE, sql, p, 12, NULL, NULL, NULL);
}

int store_registration_put(store_t *st, const struct store_registration *r)
{
	return store_registration_put_made(st, r, tg_now_ms());
}

int store_registration_put_made(store_t *st, const struct store_registration *r, int64_t made_ms)
{
	return reg_put(st, r, made_ms,
	               REG_INSERT
	               "VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)" REG_UPSERT);
}

int store_registration_put_at(store_t *st, const struct store_registration *r, int64_t at_ms)
{
	/* INSERT .. SELECT .. WHERE: a device deleted meanwhile skips the row rather than fail
	 * the replay's transaction on the foreign key (PostgreSQL aborts it on any error). */
	return reg_put(st, r, at_ms,
	               REG_INSERT
	               "SELECT $1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12 WHERE EXISTS "
	               "(SELECT 1 FROM device WHERE name = $1)" REG_UPSERT
	               " WHERE registration.changedms <= excluded.changedms");
}

/* A registration write that must find its row: STORE_NOTFOUND when it changed none. */
static int reg_write_found(store_t *st, const char *sql, const struct store_val *p, int np)
{
	int changes = 0;
	int rc = exec_gen(st, GEN_NONE, sql, p, np, NULL, NULL, &changes);
	return rc != STORE_OK ? rc : changes ? STORE_OK : STORE_NOTFOUND;
}

static int reg_delete(store_t *st, const char *device, const char *contact, int64_t at_ms,
                      const char *sql, int np)
{
	struct store_val p[] = {SV_S(device), SV_S(contact), SV_I(at_ms)};
	return reg_write_found(st, sql, p, np);
}

int store_registration_refresh(store_t *st, const struct store_registration *r)
{
	return store_registration_refresh_made(st, r, tg_now_ms());
}

int store_registration_refresh_made(store_t *st, const struct store_registration *r,
                                    int64_t made_ms)
{
	/* changedms too: a spooled change replayed later must not undo this refresh. No
	 * indexed column is set (schema v19): the row is found by its key and rewritten in
	 * place, no index entry moves (PostgreSQL: a HOT update). A row another node owns, or
	 * one of before schema 16 (''), is not this node's yet: NOTFOUND, and the caller's
	 * put takes it over. */
	struct store_val p[] = {SV_S(r->device),  SV_S(r->contact), SV_S(r->callid), SV_I(r->cseq),
	                        SV_I(r->expires), SV_I(made_ms),    SV_S(r->node)};
	return reg_write_found(st,
	                       "UPDATE registration SET callid = $3, cseq = $4, expires = $5, "
	                       "changedms = $6 WHERE devicename = $1 AND contact = $2 AND "
	                       "processnode = $7",
	                       p, 7);
}

int store_registration_refresh_at(store_t *st, const char *node, const char *device,
                                  const char *contact, const char *callid, uint32_t cseq,
                                  int64_t expires, int64_t changedms)
{
	/* As store_registration_refresh: no indexed column set. */
	struct store_val p[] = {SV_S(device),  SV_S(contact),   SV_S(callid), SV_I(cseq),
	                        SV_I(expires), SV_I(changedms), SV_S(node)};
	return exec_gen(st, GEN_NONE,
	                "UPDATE registration SET callid = $3, cseq = $4, expires = $5, "
	                "changedms = $6 WHERE devicename = $1 AND contact = $2 AND changedms <= $6 "
	                "AND ($7 = '' OR processnode = $7)",
	                p, 7, NULL, NULL, NULL);
}

int store_registration_rewrite(store_t *st, const struct store_registration *r)
{
	return store_registration_rewrite_made(st, r, tg_now_ms());
}

int store_registration_rewrite_made(store_t *st, const struct store_registration *r,
                                    int64_t made_ms)
{
	/* As a refresh: processnode (indexed) is matched, not set. */
	struct store_val p[] = {SV_S(r->device),    SV_S(r->contact), SV_S(r->aor),
	                        SV_S(r->callid),    SV_I(r->cseq),    SV_I(r->expires),
	                        SV_S(r->transport), SV_S(r->source),  SV_S(r->sipinstance),
	                        SV_I(r->regid),     SV_I(made_ms),    SV_S(r->node)};
	return reg_write_found(
	    st,
	    "UPDATE registration SET aor = $3, callid = $4, cseq = $5, expires = "
	    "$6, transport = $7, source = $8, sipinstance = $9, regid = $10, "
	    "changedms = $11 WHERE devicename = $1 AND contact = $2 AND "
	    "processnode = $12",
	    p, 12);
}

int store_registration_delete(store_t *st, const char *device, const char *contact)
{
	return reg_delete(st, device, contact, 0,
	                  "DELETE FROM registration WHERE devicename = $1 AND contact = $2", 2);
}

int store_registration_delete_at(store_t *st, const char *device, const char *contact,
                                 int64_t at_ms)
{
	int rc = reg_delete(st, device, contact, at_ms,
	                    "DELETE FROM registration WHERE devicename = $1 AND contact = $2 AND "
	                    "changedms <= $3",
	                    3);
	return rc == STORE_NOTFOUND ? STORE_OK : rc;
}

struct reg_list {
	int (*fn)(void *ud, const struct store_registration *r);
	void *ud;
};

static int reg_row(void *ud, int ncols, const char *const *names, const char *const *v)
{
	(void)ncols;
	(void)names;
	struct reg_list *l = ud;
	struct store_registration r;
	memset(&r, 0, sizeof r);
	if (cp(r.device, sizeof r.device, v[0]) | cp(r.contact, sizeof r.contact, v[1]) |
	    cp(r.aor, sizeof r.aor, v[2]) | cp(r.callid, sizeof r.callid, v[3]) |
	    cp(r.transport, sizeof r.transport, v[6]) | cp(r.source, sizeof r.source, v[7]) |
	    cp(r.sipinstance, sizeof r.sipinstance, v[8]) | cp(r.node, sizeof r.node, v[10]))
		return 0; /* skip a row that cannot be represented */
	r.cseq = (uint32_t)to_i64(v[4]);
	r.expires = to_i64(v[5]);
	r.regid = to_i64(v[9]);
	return l->fn(l->ud, &r);
}

int store_registrations(store_t *st, const char *device,
                        int (*fn)(void *ud, const struct store_registration *r), void *ud)
{
	struct reg_list l = {fn, ud};
	if (!device)
		return exec(st,
		            "SELECT devicename, contact, aor, callid, cseq, expires, transport, "
		            "source, sipinstance, regid, processnode FROM registration ORDER BY "
		            "devicename, contact",
		            NULL, 0, reg_row, &l, NULL);
	struct store_val p[] = {SV_S(device)};
	return exec(st,
	            "SELECT devicename, contact, aor, callid, cseq, expires, transport, source, "
	            "sipinstance, regid, processnode FROM registration WHERE devicename = $1 ORDER "
	            "BY contact",
	            p, 1, reg_row, &l, NULL);
}

int store_registrations_expire(store_t *st, const char *node, int64_t now, int *n)
{
	struct store_val p[] = {SV_I(now), SV_S(node)};
	*n = 0;
	if (!node[0])
		return exec_gen(st, GEN_NONE, "DELETE FROM registration WHERE expires <= $1", p, 1,
		                NULL, NULL, n);
	/* '' too: rows written before schema 16, or by this node before it had a cluster. */
	return exec_gen(st, GEN_NONE,
	                "DELETE FROM registration WHERE expires <= $1 AND (processnode = $2 OR "
	                "processnode = '')",
	                p, 2, NULL, NULL, n);
}

struct key_list {
	int (*fn)(void *ud, const char *device, const char *contact);
	void *ud;
};

static int key_row(void *ud, int ncols, const char *const *names, const char *const *v)
{
	(void)ncols;
	(void)names;
	struct key_list *l = ud;
	return l->fn(l->ud, v[0], v[1]);
}

int store_registrations_expired(store_t *st, const char *node, int64_t now,
                                int (*fn)(void *ud, const char *device, const char *contact),
                                void *ud)
{
	struct key_list l = {fn, ud};
	struct store_val p[] = {SV_I(now), SV_S(node)};
	return exec_gen(st, GEN_NONE,
	                "SELECT devicename, contact FROM registration WHERE expires <= $1 AND "
	                "($2 = '' OR processnode = $2 OR processnode = '')",
	                p, 2, key_row, &l, NULL);
}

int store_registration_expire_one(store_t *st, const char *node, const char *device,
                                  const char *contact, int64_t now)
{
	struct store_val p[] = {SV_S(device), SV_S(contact), SV_I(now), SV_S(node)};
	return exec_gen(st, GEN_NONE,
	                "DELETE FROM registration WHERE devicename = $1 AND contact = $2 AND "
	                "expires <= $3 AND ($4 = '' OR processnode = $4 OR processnode = '')",
	                p, 4, NULL, NULL, NULL);
}

/* Names kept for after the rows (name_row's fn). */
struct names_kept {
	char (*v)[STORE_ID_MAX + 1];
	int n, cap, bad;
};

static int keep_name(void *ud, const char *name)
{
	struct names_kept *l = ud;
	if (l->n == l->cap) {
		int nc = l->cap ? l->cap * 2 : 16;
		void *p = realloc(l->v, (size_t)nc * sizeof *l->v);
		if (!p) {
			l->bad = 1;
			return 1;
		}
		l->v = p;
		l->cap = nc;
	}
	if (cp(l->v[l->n], sizeof l->v[0], name) == 0)
		l->n++;
	return 0;
}

int store_registration_live(store_t *st, const char *device, int64_t now)
{
	struct store_val p[] = {SV_S(device), SV_I(now)};
	char v[8] = "";
	struct copy_one c = {v, sizeof v, 0, 0};
	int rc =
	    exec(st, "SELECT 1 FROM registration WHERE devicename = $1 AND expires > $2 LIMIT 1", p,
	         2, copy_first_col, &c, NULL);
	return rc != STORE_OK ? rc : c.found;
}

int store_registrations_expire_orphans(store_t *st, const char *node, int64_t now,
                                       int64_t stale_before,
                                       int (*announce)(void *ud, const char *const *devices, int n),
                                       void *ud, int *n)
{
	struct store_val p[] = {SV_I(now), SV_S(node), SV_I(stale_before)};
	struct names_kept gone = {0};
	struct name_list each = {keep_name, &gone};
	*n = 0;
	int rc = store_begin(st);
	if (rc != STORE_OK)
		return rc;
	/* Conditional: a row another node deleted first is not returned here. */
	rc = exec_gen(st, GEN_NONE,
	              "DELETE FROM registration WHERE expires <= $1 AND processnode <> $2 AND "
	              "processnode <> '' AND processnode NOT IN (SELECT name FROM processnode "
	              "WHERE lastheartbeat >= $3) RETURNING devicename",
	              p, 3, name_row, &each, NULL);
	*n = gone.n;
	/* Devices left with no live binding on any node (a name may come twice: one row
	 * per contact; the second finds the same answer). */
	const char **left = gone.n ? calloc((size_t)gone.n, sizeof *left) : NULL;
	int nleft = 0;
	if (rc == STORE_OK && (gone.bad || (gone.n && !left))) {
		store_set_error("out of memory");
		rc = STORE_ERROR;
	}
	for (int i = 0; rc == STORE_OK && i < gone.n; i++) {
		int dup = 0;
		for (int k = 0; k < nleft && !dup; k++)
			dup = strcmp(left[k], gone.v[i]) == 0;
		int live = dup ? 1 : store_registration_live(st, gone.v[i], now);
		if (live < 0)
			rc = live;
		else if (!live)
			left[nleft++] = gone.v[i];
	}
	if (rc == STORE_OK && nleft && announce && announce(ud, left, nleft) != 0)
		rc = STORE_ERROR;
	if (rc == STORE_OK)
		rc = store_commit(st);
	else
		store_rollback(st);
	if (rc != STORE_OK)
		*n = 0;
	free(left);
	free(gone.v);
	return rc;
}

/* --- administration ----------------------------------------------------------------- */

int store_counts(store_t *st, struct store_counts *out)
{
	char buf[256] = "";
	struct copy_one c = {buf, sizeof buf, 0, 0};
	int rc = exec(st,
	              "SELECT (SELECT COUNT(*) FROM enduser) || ',' || (SELECT COUNT(*) FROM "
	              "device) || ',' || (SELECT COUNT(*) FROM dirgroup) || ',' || (SELECT "
	              "COUNT(*) FROM enduserdevicemap) || ',' || (SELECT COUNT(*) FROM "
	              "registration) || ',' || (SELECT COUNT(*) FROM processconfig)",
	              NULL, 0, copy_first_col, &c, NULL);
	if (rc != STORE_OK)
		return rc;
	if (sscanf(buf, "%ld,%ld,%ld,%ld,%ld,%ld", &out->users, &out->devices, &out->groups,
	           &out->associations, &out->registrations, &out->parameters) != 6) {
		store_set_error("unexpected count result");
		return STORE_ERROR;
	}
	return STORE_OK;
}

int store_query_readonly(store_t *st, const char *sql, size_t max_rows, int timeout_ms,
                         int (*fn)(void *ud, int ncols, const char *const *names,
                                   const char *const *vals),
                         void *ud, int *truncated, char *err, size_t errlen)
{
	struct store_conn_link *l = link_for_thread(st);
	if (!l) {
		snprintf(err, errlen, "%s", store_last_error());
		return STORE_ERROR;
	}
	*truncated = 0;
	return st->be->query_readonly(l->conn, sql, max_rows, timeout_ms, fn, ud, truncated, err,
	                              errlen);
}

int store_integrity_check(store_t *st, char *err, size_t errlen)
{
	struct store_conn_link *l = link_for_thread(st);
	if (!l) {
		snprintf(err, errlen, "%s", store_last_error());
		return STORE_ERROR;
	}
	return st->be->integrity_check(l->conn, err, errlen);
}

int store_backup_to(store_t *st, const char *path, char *err, size_t errlen)
{
	if (!st->be->backup_to) {
		snprintf(err, errlen, "the %s store is backed up with its own tools: use %s",
		         st->be->name, st->be->backup_tool ? st->be->backup_tool : "them");
		return STORE_REFUSED;
	}
	struct store_conn_link *l = link_for_thread(st);
	if (!l) {
		snprintf(err, errlen, "%s", store_last_error());
		return STORE_ERROR;
	}
	return st->be->backup_to(l->conn, path, err, errlen);
}
