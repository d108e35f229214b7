/* SPDX-License-Identifier: ISC */
/* SQLite backend: WAL, one connection per thread (made by store.c), prepared statements
 * cached per connection, a separate read-only connection guarded by an authorizer for
 * ad-hoc queries. */
#include "core/util.h"
#include "store/sqlite_mem.h"
#include "store/store_backend.h"

#include <ctype.h>
#include <pthread.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

#define STMT_CACHE 64
#define MAX_COLS 64

/* The positions of "$1".."$PIDX_MAX" in a cached statement, found on its first use:
 * sqlite3_bind_parameter_index compares the name with every parameter's (issue 22: ~200
 * instructions a parameter, ten per write-behind refresh). 0: not looked up yet. */
#define PIDX_MAX 32

struct stmt_entry {
	char *sql;
	/* The caller's text the last time this entry was found by it: a statement in the
	 * program's text comes back at the same address, so that address is tried first
	 * (confirmed by content: a caller's buffer may hold another text there later). */
	const char *seen;
	sqlite3_stmt *stmt;
	int nparams; /* sqlite3_bind_parameter_count */
	int pidx[PIDX_MAX];
};

struct store_conn {
	sqlite3 *db;
	sqlite3 *ro; /* opened on first read-only query */
	store_t *st;
	struct stmt_entry cache[STMT_CACHE];
	int ncache;
	/* Read-only query state, used by the authorizer and progress handler. */
	char denied[160];
	int64_t deadline_ms;
};

static int map_rc(int rc)
{
	switch (rc & 0xff) {
	case SQLITE_OK:
	case SQLITE_DONE:
	case SQLITE_ROW:
		return STORE_OK;
	case SQLITE_CONSTRAINT:
		return STORE_CONSTRAINT;
	case SQLITE_BUSY:
	case SQLITE_LOCKED:
		return STORE_BUSY;
	default:
		return STORE_ERROR;
	}
}

static int fail(sqlite3 *db, int rc)
{
	store_set_error("%s", db ? sqlite3_errmsg(db) : sqlite3_errstr(rc));
	return map_rc(rc);
}

static int exec_simple(sqlite3 *db, const char *sql)
{
	int rc = sqlite3_exec(db, sql, NULL, NULL, NULL);
	return rc == SQLITE_OK ? STORE_OK : fail(db, rc);
}

/* SQLite's memory statistics off, before SQLite initialises (sqlite3_config must come
 * first, once per process): with them on, every sqlite3_malloc and sqlite3_free takes a
 * process-wide mutex (mem0.mutex) even on a NOMUTEX connection, ~8 % of the location
 * writer's thread in pthread_mutex_unlock (issue 22). Nothing here reads
 * sqlite3_memory_used or sets a soft heap limit, which are what the statistics serve.
 * SQLITE_MISUSE (SQLite already initialised, e.g. by a library) leaves them on: only
 * slower. */
static pthread_once_t sqlite_once = PTHREAD_ONCE_INIT;

static void sqlite_configure(void)
{
	(void)sqlite3_config(SQLITE_CONFIG_MEMSTATUS, 0);
	(void)sqlite_mem_install(); /* sqlite_mem.h; refused: the system allocator */
}

static struct store_conn *conn_open(store_t *st, char *err, size_t errlen)
{
	pthread_once(&sqlite_once, sqlite_configure);
	struct store_conn *c = calloc(1, sizeof *c);
	if (!c) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	c->st = st;
	int rc =
	    sqlite3_open_v2(st->path, &c->db,
	                    SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX, NULL);
	if (rc != SQLITE_OK) {
		snprintf(err, errlen, "cannot open store %s: %s", st->path,
		         c->db ? sqlite3_errmsg(c->db) : sqlite3_errstr(rc));
		sqlite3_close(c->db);
		free(c);
		return NULL;
	}
	/* The file holds password hashes: owner only. */
	chmod(st->path, 0600);
	sqlite3_extended_result_codes(c->db, 1);
	sqlite3_busy_timeout(c->db, st->busy_timeout_ms);
	if (exec_simple(c->db, "PRAGMA journal_mode = WAL") != STORE_OK ||
	    exec_simple(c->db, "PRAGMA synchronous = NORMAL") != STORE_OK ||
	    exec_simple(c->db, "PRAGMA foreign_keys = ON") != STORE_OK) {
		snprintf(err, errlen, "cannot configure store %s: %s", st->path,
		         sqlite3_errmsg(c->db));
		sqlite3_close(c->db);
		free(c);
		return NULL;
	}
	return c;
}

static void conn_close(struct store_conn *c)
{
	for (int i = 0; i < c->ncache; i++) {
		sqlite3_finalize(c->cache[i].stmt);
		free(c->cache[i].sql);
	}
	sqlite3_close(c->ro);
	sqlite3_close(c->db);
	free(c);
}

/* Returns a prepared statement and its cache entry in *cached (NULL: not cached, the
 * caller must finalize it). */
static int prepare(struct store_conn *c, const char *sql, sqlite3_stmt **out,
                   struct stmt_entry **cached)
{
	/* By address first: comparing the text with every entry before it was ~170
	 * instructions of a write-behind refresh (issue 22). */
	for (int i = 0; i < c->ncache; i++)
		if (c->cache[i].seen == sql && strcmp(c->cache[i].sql, sql) == 0) {
			*out = c->cache[i].stmt;
			*cached = &c->cache[i];
			return STORE_OK;
		}
	for (int i = 0; i < c->ncache; i++)
		if (strcmp(c->cache[i].sql, sql) == 0) {
			c->cache[i].seen = sql;
			*out = c->cache[i].stmt;
			*cached = &c->cache[i];
			return STORE_OK;
		}
	int persist = c->ncache < STMT_CACHE;
	int rc =
	    sqlite3_prepare_v3(c->db, sql, -1, persist ? SQLITE_PREPARE_PERSISTENT : 0, out, NULL);
	if (rc != SQLITE_OK)
		return fail(c->db, rc);
	*cached = NULL;
	if (persist) {
		char *copy = strdup(sql);
		if (copy) {
			struct stmt_entry *e = &c->cache[c->ncache++];
			memset(e, 0, sizeof *e);
			e->sql = copy;
			e->seen = sql;
			e->stmt = *out;
			e->nparams = sqlite3_bind_parameter_count(*out);
			*cached = e;
		}
	}
	return STORE_OK;
}

/* "$k" in name (k >= 1): by hand, as snprintf was a fifth of a write-behind refresh's
 * statement (issue 22). */
static void param_name(int k, char name[16])
{
	char d[12];
	int n = 0;
	do
		d[n++] = (char)('0' + k % 10);
	while ((k /= 10) > 0 && n < (int)sizeof d);
	name[0] = '$';
	for (int i = 0; i < n; i++)
		name[1 + i] = d[n - 1 - i];
	name[1 + n] = '\0';
}

/* The position of "$k" in s (cached in e when given), 0 when s has none. */
static int param_index(sqlite3_stmt *s, struct stmt_entry *e, int k)
{
	if (e && k <= PIDX_MAX && e->pidx[k - 1])
		return e->pidx[k - 1];
	char name[16];
	param_name(k, name);
	int idx = sqlite3_bind_parameter_index(s, name);
	if (e && k <= PIDX_MAX)
		e->pidx[k - 1] = idx;
	return idx;
}

static int bind(struct store_conn *c, sqlite3_stmt *s, struct stmt_entry *e,
                const struct store_val *p, int n)
{
	for (int i = 0; i < n; i++) {
		int idx = param_index(s, e, i + 1);
		if (idx == 0) {
			char name[16];
			param_name(i + 1, name);
			store_set_error("statement has no parameter %s", name);
			return STORE_ERROR;
		}
		int rc;
		switch (p[i].t) {
		case SV_TEXT:
			rc = sqlite3_bind_text(s, idx, p[i].s, -1, SQLITE_STATIC);
			break;
		case SV_INT:
			rc = sqlite3_bind_int64(s, idx, p[i].i);
			break;
		default:
			rc = sqlite3_bind_null(s, idx);
		}
		if (rc != SQLITE_OK)
			return fail(c->db, rc);
	}
	return STORE_OK;
}

/* Steps s to the end, handing each row to fn; max_rows 0 = unlimited. */
static int run_rows(sqlite3 *db, sqlite3_stmt *s, store_row_fn fn, void *ud, size_t max_rows,
                    int *truncated)
{
	int ncols = sqlite3_column_count(s);
	if (ncols > MAX_COLS) {
		store_set_error("query returns more than %d columns", MAX_COLS);
		return STORE_ERROR;
	}
	const char *names[MAX_COLS], *vals[MAX_COLS];
	for (int i = 0; i < ncols; i++)
		names[i] = sqlite3_column_name(s, i);
	size_t rows = 0;
	for (;;) {
		int rc = sqlite3_step(s);
		if (rc == SQLITE_DONE)
			return STORE_OK;
		if (rc != SQLITE_ROW)
			return fail(db, rc);
		if (!fn)
			continue;
		if (max_rows && rows == max_rows) {
			if (truncated)
				*truncated = 1;
			return STORE_OK;
		}
		for (int i = 0; i < ncols; i++)
			vals[i] = (const char *)sqlite3_column_text(s, i);
		rows++;
		if (fn(ud, ncols, names, vals))
			return STORE_OK;
	}
}

static int exec(struct store_conn *c, const char *sql, const struct store_val *p, int n,
                store_row_fn fn, void *ud, int *changes)
{
	sqlite3_stmt *s = NULL;
	struct stmt_entry *cached = NULL;
	int rc = prepare(c, sql, &s, &cached);
	if (rc != STORE_OK)
		return rc;
	rc = bind(c, s, cached, p, n);
	if (rc == STORE_OK)
		rc = run_rows(c->db, s, fn, ud, 0, NULL);
	if (rc == STORE_OK && changes)
		*changes = sqlite3_changes(c->db);
	if (cached) {
		sqlite3_reset(s);
		/* Every parameter is bound anew by the next use when it gives them all (the
		 * clearing was ~120 instructions of a refresh); one that gives fewer must not
		 * see this use's values. */
		if (n < cached->nparams)
			sqlite3_clear_bindings(s);
	} else {
		sqlite3_finalize(s);
	}
	return rc;
}

/* Transaction control through the statement cache: sqlite3_exec would parse the text
 * again on every call (each refresh grant opens and commits transactions). */
static int begin(struct store_conn *c)
{
	return exec(c, "BEGIN IMMEDIATE", NULL, 0, NULL, NULL, NULL);
}

static int begin_read(struct store_conn *c)
{
	return exec(c, "BEGIN", NULL, 0, NULL, NULL, NULL);
}

static int commit(struct store_conn *c)
{
	return exec(c, "COMMIT", NULL, 0, NULL, NULL, NULL);
}

static int rollback(struct store_conn *c)
{
	if (sqlite3_get_autocommit(c->db))
		return STORE_OK; /* nothing open (SQLite may have rolled back itself) */
	return exec_simple(c->db, "ROLLBACK");
}

static int probe_write(struct store_conn *c, int timeout_ms)
{
	sqlite3_busy_timeout(c->db, timeout_ms);
	int rc = exec_simple(c->db, "BEGIN IMMEDIATE");
	sqlite3_busy_timeout(c->db, c->st->busy_timeout_ms);
	if (rc != STORE_OK)
		return rc;
	return exec_simple(c->db, "ROLLBACK");
}

/* --- read-only ad-hoc queries ------------------------------------------------------- */

/* What a read-only query may not do, in words, one row per authorizer action code (the
 * codes are SQLite's and mean nothing to an administrator). obj says which authorizer
 * argument names the object: 1 the first, 2 the second, 0 none. */
static const struct ro_refusal {
	int action;
	const char *why; /* followed by the object's name, if any */
	int obj;
	const char *sql; /* the statement, in parentheses after the reason */
} ro_refusals[] = {
    {SQLITE_INSERT, "writing to table", 1, "INSERT"},
    {SQLITE_UPDATE, "writing to table", 1, "UPDATE"},
    {SQLITE_DELETE, "writing to table", 1, "DELETE"},
    {SQLITE_CREATE_TABLE, "changing the schema: new table", 1, "CREATE TABLE"},
    {SQLITE_CREATE_TEMP_TABLE, "changing the schema: new table", 1, "CREATE TEMP TABLE"},
    {SQLITE_CREATE_INDEX, "changing the schema: new index", 1, "CREATE INDEX"},
    {SQLITE_CREATE_TEMP_INDEX, "changing the schema: new index", 1, "CREATE INDEX"},
    {SQLITE_CREATE_VIEW, "changing the schema: new view", 1, "CREATE VIEW"},
    {SQLITE_CREATE_TEMP_VIEW, "changing the schema: new view", 1, "CREATE VIEW"},
    {SQLITE_CREATE_TRIGGER, "changing the schema: new trigger", 1, "CREATE TRIGGER"},
    {SQLITE_CREATE_TEMP_TRIGGER, "changing the schema: new trigger", 1, "CREATE TRIGGER"},
    {SQLITE_CREATE_VTABLE, "changing the schema: new table", 1, "CREATE VIRTUAL TABLE"},
    {SQLITE_DROP_TABLE, "changing the schema: dropping table", 1, "DROP TABLE"},
    {SQLITE_DROP_TEMP_TABLE, "changing the schema: dropping table", 1, "DROP TABLE"},
    {SQLITE_DROP_INDEX, "changing the schema: dropping index", 1, "DROP INDEX"},
    {SQLITE_DROP_TEMP_INDEX, "changing the schema: dropping index", 1, "DROP INDEX"},
    {SQLITE_DROP_VIEW, "changing the schema: dropping view", 1, "DROP VIEW"},
    {SQLITE_DROP_TEMP_VIEW, "changing the schema: dropping view", 1, "DROP VIEW"},
    {SQLITE_DROP_TRIGGER, "changing the schema: dropping trigger", 1, "DROP TRIGGER"},
    {SQLITE_DROP_TEMP_TRIGGER, "changing the schema: dropping trigger", 1, "DROP TRIGGER"},
    {SQLITE_DROP_VTABLE, "changing the schema: dropping table", 1, "DROP TABLE"},
    {SQLITE_ALTER_TABLE, "changing the schema: altering table", 2, "ALTER TABLE"},
    {SQLITE_REINDEX, "rebuilding index", 1, "REINDEX"},
    {SQLITE_ANALYZE, "writing statistics for", 1, "ANALYZE"},
    {SQLITE_ATTACH, "opening another database", 1, "ATTACH"},
    {SQLITE_DETACH, "closing database", 1, "DETACH"},
    {SQLITE_PRAGMA, "changing or reading a setting:", 1, "PRAGMA"},
    {SQLITE_TRANSACTION, "controlling transactions", 0, "BEGIN, COMMIT or ROLLBACK"},
    {SQLITE_SAVEPOINT, "controlling transactions: savepoint", 2, "SAVEPOINT"},
    {SQLITE_FUNCTION, "loading code with", 2, "load_extension"},
};

/* The schema's own table: SQLite asks to write it before it asks about the DROP (it
 * stops at the first refusal), so the table name is all there is to say which. */
static int schema_table(int action, const char *a)
{
	return (action == SQLITE_INSERT || action == SQLITE_UPDATE || action == SQLITE_DELETE) &&
	       a &&
	       (strcasecmp(a, "sqlite_master") == 0 || strcasecmp(a, "sqlite_schema") == 0 ||
	        strcasecmp(a, "sqlite_temp_master") == 0);
}

/* Writes "<why> <object> (<statement>)" for action into c->denied. */
static void ro_refuse(struct store_conn *c, int action, const char *a, const char *b)
{
	if (schema_table(action, a)) {
		snprintf(c->denied, sizeof c->denied, "changing the schema (%s)",
		         action == SQLITE_DELETE ? "DROP" : "CREATE or ALTER");
		return;
	}
	for (size_t i = 0; i < sizeof ro_refusals / sizeof ro_refusals[0]; i++) {
		const struct ro_refusal *r = &ro_refusals[i];
		if (r->action != action)
			continue;
		const char *obj = r->obj == 1 ? a : r->obj == 2 ? b : NULL;
		snprintf(c->denied, sizeof c->denied, "%s%s%.64s (%s)", r->why, obj ? " " : "",
		         obj ? obj : "", r->sql);
		return;
	}
	snprintf(c->denied, sizeof c->denied, "an operation a read-only query may not do");
}

static int ro_authorizer(void *ud, int action, const char *a, const char *b, const char *db,
                         const char *trigger)
{
	(void)db;
	(void)trigger;
	switch (action) {
	case SQLITE_SELECT:
	case SQLITE_RECURSIVE:
		return SQLITE_OK;
	case SQLITE_READ:
		for (const struct store_secret_column *s = store_secret_columns; s->table; s++)
			if (a && b && strcasecmp(a, s->table) == 0 && strcasecmp(b, s->column) == 0)
				return SQLITE_IGNORE; /* SELECT *: reads as NULL */
		return SQLITE_OK;
	case SQLITE_FUNCTION:
		if (!b || strcasecmp(b, "load_extension") != 0)
			return SQLITE_OK;
		/* fall through */
	default:
		ro_refuse(ud, action, a, b);
		return SQLITE_DENY;
	}
}

static int ro_progress(void *ud)
{
	struct store_conn *c = ud;
	return tg_mono_ms_live() > c->deadline_ms; /* nonzero interrupts the query */
}

/* The separate read-only connection, opened on first use with tight limits. */
static int ro_open(struct store_conn *c, char *err, size_t errlen)
{
	if (c->ro)
		return STORE_OK;
	int rc =
	    sqlite3_open_v2(c->st->path, &c->ro, SQLITE_OPEN_READONLY | SQLITE_OPEN_NOMUTEX, NULL);
	if (rc != SQLITE_OK) {
		snprintf(err, errlen, "cannot open store read-only: %s",
		         c->ro ? sqlite3_errmsg(c->ro) : sqlite3_errstr(rc));
		sqlite3_close(c->ro);
		c->ro = NULL;
		return STORE_ERROR;
	}
	sqlite3_busy_timeout(c->ro, c->st->busy_timeout_ms);
	/* Bound what one query may build in memory (randomblob, zeroblob, group_concat). */
	sqlite3_limit(c->ro, SQLITE_LIMIT_LENGTH, 1 << 20);
	sqlite3_limit(c->ro, SQLITE_LIMIT_SQL_LENGTH, 1 << 16);
	sqlite3_limit(c->ro, SQLITE_LIMIT_ATTACHED, 0);
	sqlite3_db_config(c->ro, SQLITE_DBCONFIG_ENABLE_LOAD_EXTENSION, 0, NULL);
	sqlite3_db_config(c->ro, SQLITE_DBCONFIG_DEFENSIVE, 1, NULL);
	sqlite3_db_config(c->ro, SQLITE_DBCONFIG_TRUSTED_SCHEMA, 0, NULL);
	return STORE_OK;
}

static int only_select(char *err, size_t errlen)
{
	snprintf(err, errlen, "refused: only a single SELECT statement may be run");
	return STORE_REFUSED;
}

static int query_readonly(struct store_conn *c, const char *sql, size_t max_rows, int timeout_ms,
                          store_row_fn fn, void *ud, int *truncated, char *err, size_t errlen)
{
	const char *p = store_sql_skip_space(sql);
	int select =
	    store_sql_starts_with_word(p, "select") || store_sql_starts_with_word(p, "with");
	/* Named, a secret column is refused as on PostgreSQL (the authorizer below would
	 * read it as NULL, a quiet answer that looks like data); through * it reads as NULL. */
	if (select && store_sql_names_secret(p, err, errlen))
		return STORE_REFUSED;
	int rc = ro_open(c, err, errlen);
	if (rc != STORE_OK)
		return rc;
	/* Every statement is compiled under the authorizer, a refused one too: compiling
	 * runs nothing, and it is what finds the words for what the statement would do. */
	c->denied[0] = '\0';
	sqlite3_set_authorizer(c->ro, ro_authorizer, c);
	sqlite3_stmt *s = NULL;
	const char *tail = NULL;
	rc = sqlite3_prepare_v2(c->ro, p, -1, &s, &tail);
	sqlite3_set_authorizer(c->ro, NULL, NULL);
	if (c->denied[0]) {
		sqlite3_finalize(s);
		snprintf(err, errlen, "refused: %s", c->denied);
		return STORE_REFUSED;
	}
	if (!select) {
		sqlite3_finalize(s);
		return only_select(err, errlen);
	}
	if (rc != SQLITE_OK) {
		snprintf(err, errlen, "SQL error: %s", sqlite3_errmsg(c->ro));
		return STORE_ERROR;
	}
	const char *rest = tail ? store_sql_skip_space(tail) : "";
	while (*rest == ';')
		rest = store_sql_skip_space(rest + 1);
	if (!s || *rest || !sqlite3_stmt_readonly(s)) {
		sqlite3_finalize(s);
		return only_select(err, errlen);
	}
	c->deadline_ms = tg_mono_ms_live() + (timeout_ms > 0 ? timeout_ms : 5000);
	sqlite3_progress_handler(c->ro, 1000, ro_progress, c);
	/* A snapshot: the whole query sees one state of the store. */
	rc = exec_simple(c->ro, "BEGIN");
	if (rc == STORE_OK)
		rc = run_rows(c->ro, s, fn, ud, max_rows, truncated);
	sqlite3_finalize(s);
	sqlite3_exec(c->ro, "COMMIT", NULL, NULL, NULL);
	sqlite3_progress_handler(c->ro, 0, NULL, NULL);
	if (rc != STORE_OK) {
		if (tg_mono_ms_live() > c->deadline_ms)
			snprintf(err, errlen, "query stopped after %d ms", timeout_ms);
		else
			snprintf(err, errlen, "SQL error: %s", store_last_error());
	}
	return rc;
}

struct check {
	char *err;
	size_t errlen;
	int bad;
};

static int integrity_row(void *ud, int ncols, const char *const *names, const char *const *v)
{
	(void)names;
	struct check *k = ud;
	if (ncols == 1 && v[0] && strcmp(v[0], "ok") == 0)
		return 0;
	k->bad = 1;
	snprintf(k->err, k->errlen, "%s", ncols > 0 && v[0] ? v[0] : "foreign key violation");
	return 1;
}

static int integrity_check(struct store_conn *c, char *err, size_t errlen)
{
	struct check k = {err, errlen, 0};
	const char *checks[] = {"PRAGMA integrity_check", "PRAGMA foreign_key_check"};
	for (size_t i = 0; i < 2 && !k.bad; i++) {
		sqlite3_stmt *s;
		int rc = sqlite3_prepare_v2(c->db, checks[i], -1, &s, NULL);
		if (rc != SQLITE_OK) {
			snprintf(err, errlen, "%s", sqlite3_errmsg(c->db));
			return STORE_ERROR;
		}
		rc = run_rows(c->db, s, integrity_row, &k, 0, NULL);
		sqlite3_finalize(s);
		if (rc != STORE_OK) {
			snprintf(err, errlen, "%s", store_last_error());
			return rc;
		}
	}
	return k.bad ? STORE_ERROR : STORE_OK;
}

/* sqlite3_backup_step(-1): every page in one step, inside one read transaction of the
 * source, so the copy is one committed state; in WAL mode writers are not blocked meanwhile
 * (a step of N pages would restart whenever another connection writes). The copy is then
 * switched to rollback journaling, so it is one self-contained file. */
static int backup_to(struct store_conn *c, const char *path, char *err, size_t errlen)
{
	sqlite3 *dst = NULL;
	int rc = sqlite3_open_v2(path, &dst, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, NULL);
	if (rc == SQLITE_OK)
		chmod(path, 0600); /* password hashes, like the store */
	sqlite3_backup *b =
	    rc == SQLITE_OK ? sqlite3_backup_init(dst, "main", c->db, "main") : NULL;
	if (b) {
		/* Busy only while another connection checkpoints: wait as the store's busy
		 * timeout says, in 50 ms steps. */
		for (int waited = 0;; waited += 50) {
			rc = sqlite3_backup_step(b, -1);
			if ((rc != SQLITE_BUSY && rc != SQLITE_LOCKED) ||
			    waited >= c->st->busy_timeout_ms)
				break;
			sqlite3_sleep(50);
		}
		sqlite3_backup_finish(b);
		rc = rc == SQLITE_DONE ? sqlite3_errcode(dst) : rc;
	} else if (rc == SQLITE_OK) {
		rc = sqlite3_errcode(dst);
	}
	if (rc == SQLITE_OK)
		rc = sqlite3_exec(dst, "PRAGMA journal_mode = DELETE", NULL, NULL, NULL);
	if (rc != SQLITE_OK)
		snprintf(err, errlen, "cannot copy the store to %s: %s", path,
		         dst ? sqlite3_errmsg(dst) : sqlite3_errstr(rc));
	sqlite3_close(dst);
	return rc == SQLITE_OK ? STORE_OK : STORE_ERROR;
}

const struct store_backend store_sqlite_backend = {
    .name = "sqlite",
    .conn_open = conn_open,
    .conn_close = conn_close,
    .exec = exec,
    .begin = begin,
    .begin_read = begin_read,
    .commit = commit,
    .rollback = rollback,
    .probe_write = probe_write,
    .query_readonly = query_readonly,
    .integrity_check = integrity_check,
    .backup_to = backup_to,
};
