/* SPDX-License-Identifier: ISC */
/* PostgreSQL backend (libpq): one blocking connection per thread (made by store.c), its
 * statements prepared once per connection and cached by their text, parameters sent as
 * text with their types inferred by the server (so the portable $1 SQL of store.c runs
 * unchanged). A lost connection is re-made on the next call, at most once per backoff
 * step; meanwhile calls fail at once with STORE_UNAVAILABLE, which callers turn into "try
 * again later" answers (SIP 503, CTI "directory unavailable", /healthz 503). */
#include "core/alarm.h"
#include "core/log.h"
#include "core/util.h"
#include "store/store_backend.h"

#include <libpq-fe.h>
#include <poll.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define STMT_CACHE 64
#define MAX_PARAMS 32
#define MAX_COLS 64
#define BACKOFF_MIN_MS 100
#define BACKOFF_MAX_MS 5000

/* Every explicit transaction takes this transaction-scoped advisory lock first: the
 * transactions in store.c and the entity files were written for SQLite, where BEGIN
 * IMMEDIATE makes one writer at a time, and some read then write inside one (a CRL number,
 * a migration). The lock keeps that meaning on PostgreSQL, across every node of a
 * cluster, at the cost SQLite already had: explicit transactions do not overlap (single
 * statements outside them do). 'telg' in ASCII. */
#define WRITE_LOCK_KEY "1952803943"

/* Parameter types sent with each statement: text (NULLs too: every NULL the store binds is
 * a text column's) or bigint. Left to inference, "$1 IS NULL OR level = $1" has no type. */
#define TEXTOID 25
#define INT8OID 20

struct stmt_entry {
	char *sql;
	char name[16];
	int n;
	Oid types[MAX_PARAMS]; /* what it was prepared with: part of the cache key */
};

struct store_conn {
	PGconn *pg;
	store_t *st;
	struct stmt_entry cache[STMT_CACHE];
	int ncache, nprepared; /* nprepared: names used on this session, never reused */
	int64_t retry_at_ms;   /* no reconnect before (monotonic) */
	int backoff_ms;
	int down_logged;
};

/* libpq's notices (e.g. "relation already exists, skipping") are not errors. */
static void quiet_notice(void *arg, const char *msg)
{
	(void)arg;
	(void)msg;
}

void store_pg_conninfo_redacted(const char *conninfo, char *out, size_t cap)
{
	char *perr = NULL;
	PQconninfoOption *opts = PQconninfoParse(conninfo, &perr);
	if (!opts) {
		PQfreemem(perr);
		snprintf(out, cap, "(unparsable connection string)");
		return;
	}
	out[0] = '\0';
	struct tg_sbuf b = {out, cap, 0, 0};
	for (PQconninfoOption *o = opts; o->keyword; o++) {
		if (!o->val || !o->val[0])
			continue;
		if (tg_sbuf_len(&b) > 0)
			tg_sbuf_put(&b, " ");
		tg_sbuf_put(&b, o->keyword);
		tg_sbuf_put(&b, "=");
		/* Never the password, nor anything else libpq marks as secret ("*"). */
		tg_sbuf_put(&b, strcmp(o->keyword, "password") == 0 || strchr(o->dispchar, '*')
		                    ? "(redacted)"
		                    : o->val);
	}
	if (tg_sbuf_len(&b) < 0)
		snprintf(out, cap, "(connection string too long to show)");
	PQconninfoFree(opts);
}

static const char *pg_message(PGconn *pg, const PGresult *r)
{
	const char *m = r ? PQresultErrorField(r, PG_DIAG_MESSAGE_PRIMARY) : NULL;
	if (!m || !*m)
		m = PQerrorMessage(pg);
	return m && *m ? m : "unknown PostgreSQL error";
}

/* libpq's message on one line: its trailing newline gone, inner ones as spaces. */
static void one_line(const char *m, char *out, size_t cap)
{
	snprintf(out, cap, "%s", m);
	for (char *p = out; *p; p++)
		if (*p == '\n' || *p == '\t')
			*p = ' ';
	size_t n = strlen(out);
	while (n && out[n - 1] == ' ')
		out[--n] = '\0';
}

/* c found the server gone (this thread's error says why). One log line and one alarm per
 * outage, whichever connection notices it first (every thread has its own); the first
 * connection made again clears it (ensure). */
static void outage(struct store_conn *c)
{
	c->down_logged = 1;
	if (!atomic_exchange(&c->st->pg_outage, 1)) {
		log_ev(LOG_LVL_WARNING, NULL, "store_pg_unavailable",
		       LOG_S("error", store_last_error()));
		alarm_ev("DatabaseUnavailable", ALARM_ERROR, NULL,
		         LOG_S("Reason", store_last_error()),
		         LOG_S("Action", atomic_load(&c->st->stopping)
		                             ? "none: telgated is stopping; binding changes are "
		                               "spooled for its next start"
		                             : "reconnecting with backoff; binding changes are "
		                               "spooled"));
	}
}

/* A failed result (r may be NULL) as a store_rc, with this thread's error set. */
static int fail(struct store_conn *c, const PGresult *r)
{
	const char *state = r ? PQresultErrorField(r, PG_DIAG_SQLSTATE) : NULL;
	char msg[400];
	one_line(pg_message(c->pg, r), msg, sizeof msg);
	if (PQstatus(c->pg) != CONNECTION_OK || (state && strncmp(state, "08", 2) == 0) ||
	    (state && strncmp(state, "57P", 3) == 0)) {
		store_set_error("PostgreSQL unavailable: %s", msg);
		outage(c);
		return STORE_UNAVAILABLE;
	}
	store_set_error("%s", msg);
	if (!state)
		return STORE_ERROR;
	if (strncmp(state, "23", 2) == 0)
		return STORE_CONSTRAINT;
	/* lock_not_available (lock_timeout), serialization failure, deadlock, statement
	 * timeout: contention, as SQLITE_BUSY is. */
	if (!strcmp(state, "55P03") || !strcmp(state, "40001") || !strcmp(state, "40P01") ||
	    !strcmp(state, "57014"))
		return STORE_BUSY;
	return STORE_ERROR;
}

static int simple(struct store_conn *c, const char *sql)
{
	PGresult *r = PQexec(c->pg, sql);
	ExecStatusType s = PQresultStatus(r);
	int rc = s == PGRES_COMMAND_OK || s == PGRES_TUPLES_OK ? STORE_OK : fail(c, r);
	PQclear(r);
	return rc;
}

/* Per session: the lock wait the store's busy timeout allows, UTC, quiet notices. */
static int session_setup(struct store_conn *c)
{
	PQsetNoticeProcessor(c->pg, quiet_notice, NULL);
	char sql[96];
	snprintf(sql, sizeof sql, "SET lock_timeout = %d; SET TIME ZONE 'UTC'",
	         c->st->busy_timeout_ms);
	return simple(c, sql);
}

/* A session on conninfo, with defaults it does not set itself: a connection attempt gives
 * up after 5 s, not the kernel's TCP timeout (a call on a worker waits for it), and TCP
 * keepalives notice a server gone silent within about a minute. The keywords before
 * "dbname" are overridden by those the expanded connection string holds. */
static PGconn *pg_connect(const char *conninfo)
{
	static const char *const keys[] = {
	    "connect_timeout",  "keepalives_idle", "keepalives_interval",
	    "keepalives_count", "dbname",          NULL};
	const char *const vals[] = {"5", "30", "10", "3", conninfo, NULL};
	return PQconnectdbParams(keys, vals, 1);
}

static void forget_statements(struct store_conn *c)
{
	for (int i = 0; i < c->ncache; i++)
		free(c->cache[i].sql);
	c->ncache = 0;
}

/* Whether the server ended c's session while it sat idle (PostgreSQL restarted or
 * stopped, pg_terminate_backend): its FATAL message and the end of the stream wait on
 * the socket, and libpq sees them only when it reads, so the next statement would fail
 * with that old session's error although the server may be back (a second
 * DatabaseUnavailable after the outage, a lost device-state resync). Read now, before
 * anything is sent: the session is then known gone and is made again at once. Nothing
 * is ambiguous here: no statement was sent on it. One poll(2) of the socket per call. */
static int closed_while_idle(struct store_conn *c)
{
	if (PQtransactionStatus(c->pg) != PQTRANS_IDLE)
		return 0; /* inside a transaction a lost session must fail it: no retry */
	/* The message, then the end of the stream: a read each, at most a few. */
	for (int i = 0; i < 4 && PQstatus(c->pg) == CONNECTION_OK; i++) {
		struct pollfd pfd = {PQsocket(c->pg), POLLIN, 0};
		if (poll(&pfd, 1, 0) <= 0 || !PQconsumeInput(c->pg))
			break;
	}
	return PQstatus(c->pg) != CONNECTION_OK;
}

/* The connection, made or re-made if it is gone and the backoff allows. */
static int ensure(struct store_conn *c)
{
	if (c->pg && PQstatus(c->pg) == CONNECTION_OK && !closed_while_idle(c))
		return STORE_OK;
	int64_t now = tg_mono_ms();
	char msg[400];
	if (c->pg && now < c->retry_at_ms) {
		one_line(pg_message(c->pg, NULL), msg, sizeof msg);
		/* Opening or stopping, the next attempt will not come: no promise of one. */
		if (atomic_load(&c->st->stopping))
			store_set_error("PostgreSQL unavailable (telgated is stopping): %s", msg);
		else if (atomic_load(&c->st->opening))
			store_set_error("PostgreSQL unavailable: %s", msg);
		else
			store_set_error("PostgreSQL unavailable (next attempt in %lld ms): %s",
			                (long long)(c->retry_at_ms - now), msg);
		return STORE_UNAVAILABLE;
	}
	forget_statements(c); /* prepared statements die with the session */
	if (c->pg)
		PQreset(c->pg);
	else
		c->pg = pg_connect(c->st->conninfo);
	if (!c->pg) {
		store_set_error("PostgreSQL unavailable: out of memory");
		return STORE_UNAVAILABLE;
	}
	if (PQstatus(c->pg) == CONNECTION_OK && session_setup(c) == STORE_OK) {
		/* Any connection made during an outage ends it for the whole store: the server
		 * is back, whichever thread gets there first. */
		if (atomic_exchange(&c->st->pg_outage, 0)) {
			log_ev(LOG_LVL_NOTICE, NULL, "store_pg_reconnected",
			       LOG_I("backoff_ms", c->backoff_ms));
			alarm_ev("DatabaseAvailable", ALARM_NOTICE, NULL,
			         LOG_S("Clears", "DatabaseUnavailable"),
			         LOG_S("Reason", "PostgreSQL accepts connections again"));
		}
		c->backoff_ms = 0;
		c->down_logged = 0;
		return STORE_OK;
	}
	c->backoff_ms = c->backoff_ms ? c->backoff_ms * 2 : BACKOFF_MIN_MS;
	if (c->backoff_ms > BACKOFF_MAX_MS)
		c->backoff_ms = BACKOFF_MAX_MS;
	c->retry_at_ms = now + c->backoff_ms;
	one_line(pg_message(c->pg, NULL), msg, sizeof msg);
	store_set_error("PostgreSQL unavailable: %s", msg);
	outage(c);
	return STORE_UNAVAILABLE;
}

static struct store_conn *conn_open(store_t *st, char *err, size_t errlen)
{
	struct store_conn *c = calloc(1, sizeof *c);
	if (!c) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	c->st = st;
	/* A connection that cannot be made now is kept and retried on use: a thread that
	 * starts while the database is down still answers "unavailable", not "error". */
	ensure(c);
	return c;
}

static void conn_close(struct store_conn *c)
{
	forget_statements(c);
	PQfinish(c->pg);
	free(c);
}

/* The cached prepared statement for sql with these n parameter types (prepared now if
 * new); NULL when the cache is full: the caller runs it unnamed. */
static int prepared(struct store_conn *c, const char *sql, int n, const Oid *types,
                    const char **name)
{
	*name = NULL;
	for (int i = 0; i < c->ncache; i++)
		if (c->cache[i].n == n &&
		    memcmp(c->cache[i].types, types, n * sizeof *types) == 0 &&
		    strcmp(c->cache[i].sql, sql) == 0) {
			*name = c->cache[i].name;
			return STORE_OK;
		}
	if (c->ncache == STMT_CACHE)
		return STORE_OK;
	struct stmt_entry *e = &c->cache[c->ncache];
	snprintf(e->name, sizeof e->name, "tg%d", c->nprepared++);
	e->n = n;
	memcpy(e->types, types, n * sizeof *types);
	PGresult *r = PQprepare(c->pg, e->name, sql, n, types);
	int rc = PQresultStatus(r) == PGRES_COMMAND_OK ? STORE_OK : fail(c, r);
	PQclear(r);
	if (rc != STORE_OK)
		return rc;
	e->sql = strdup(sql);
	if (!e->sql) {
		store_set_error("out of memory");
		return STORE_ERROR;
	}
	c->ncache++;
	*name = e->name;
	return STORE_OK;
}

static int deliver_rows(PGresult *r, store_row_fn fn, void *ud)
{
	int ncols = PQnfields(r), nrows = PQntuples(r);
	if (ncols > MAX_COLS) {
		store_set_error("query returns more than %d columns", MAX_COLS);
		return STORE_ERROR;
	}
	const char *names[MAX_COLS], *vals[MAX_COLS];
	for (int i = 0; i < ncols; i++)
		names[i] = PQfname(r, i);
	for (int row = 0; row < nrows; row++) {
		for (int i = 0; i < ncols; i++)
			vals[i] = PQgetisnull(r, row, i) ? NULL : PQgetvalue(r, row, i);
		if (fn(ud, ncols, names, vals))
			break;
	}
	return STORE_OK;
}

static int exec(struct store_conn *c, const char *sql, const struct store_val *p, int n,
                store_row_fn fn, void *ud, int *changes)
{
	if (n > MAX_PARAMS) {
		store_set_error("statement has more than %d parameters", MAX_PARAMS);
		return STORE_ERROR;
	}
	int rc = ensure(c);
	if (rc != STORE_OK)
		return rc;
	char ints[MAX_PARAMS][24];
	const char *vals[MAX_PARAMS];
	Oid types[MAX_PARAMS] = {0}; /* zeroed: gcc -O3 cannot see that n == 0 reads none */
	for (int i = 0; i < n; i++) {
		types[i] = p[i].t == SV_INT ? INT8OID : TEXTOID;
		if (p[i].t == SV_TEXT) {
			vals[i] = p[i].s;
		} else if (p[i].t == SV_INT) {
			snprintf(ints[i], sizeof ints[i], "%lld", (long long)p[i].i);
			vals[i] = ints[i];
		} else {
			vals[i] = NULL;
		}
	}
	const char *name;
	rc = prepared(c, sql, n, types, &name);
	if (rc != STORE_OK)
		return rc;
	PGresult *r = name ? PQexecPrepared(c->pg, name, n, vals, NULL, NULL, 0)
	                   : PQexecParams(c->pg, sql, n, types, vals, NULL, NULL, 0);
	ExecStatusType s = PQresultStatus(r);
	if (s == PGRES_TUPLES_OK || s == PGRES_COMMAND_OK) {
		rc = fn && s == PGRES_TUPLES_OK ? deliver_rows(r, fn, ud) : STORE_OK;
		if (changes) {
			const char *t = PQcmdTuples(r);
			*changes = t && *t ? atoi(t) : 0;
		}
	} else {
		rc = fail(c, r);
	}
	PQclear(r);
	return rc;
}

static int begin(struct store_conn *c)
{
	int rc = ensure(c);
	if (rc == STORE_OK)
		rc = simple(c, "BEGIN; SELECT pg_advisory_xact_lock(" WRITE_LOCK_KEY ")");
	if (rc != STORE_OK && c->pg && PQtransactionStatus(c->pg) != PQTRANS_IDLE) {
		PGresult *r = PQexec(c->pg, "ROLLBACK");
		PQclear(r);
	}
	return rc;
}

static int commit(struct store_conn *c)
{
	PGresult *r = PQexec(c->pg, "COMMIT");
	int rc;
	/* COMMIT of a transaction that failed earlier succeeds as a ROLLBACK: not a commit. */
	if (PQresultStatus(r) != PGRES_COMMAND_OK)
		rc = fail(c, r);
	else if (strcmp(PQcmdStatus(r), "COMMIT") != 0) {
		store_set_error("transaction rolled back after an earlier error");
		rc = STORE_ERROR;
	} else
		rc = STORE_OK;
	PQclear(r);
	return rc;
}

static int rollback(struct store_conn *c)
{
	if (!c->pg || PQstatus(c->pg) != CONNECTION_OK ||
	    PQtransactionStatus(c->pg) == PQTRANS_IDLE)
		return STORE_OK; /* nothing open (a lost session took it with it) */
	return simple(c, "ROLLBACK");
}

struct first_col {
	char v[64];
	int found;
};

static int first_col(void *ud, int ncols, const char *const *names, const char *const *vals)
{
	(void)names;
	struct first_col *f = ud;
	f->found = 1;
	snprintf(f->v, sizeof f->v, "%s", ncols > 0 && vals[0] ? vals[0] : "");
	return 1;
}

/* The health check: reachable, a primary (a standby takes no writes), and the write
 * lock obtained within timeout_ms. */
static int probe_write(struct store_conn *c, int timeout_ms)
{
	int rc = ensure(c);
	if (rc != STORE_OK)
		return rc;
	struct first_col f = {"", 0};
	rc = exec(c, "SELECT pg_is_in_recovery()", NULL, 0, first_col, &f, NULL);
	if (rc != STORE_OK)
		return rc;
	if (strcmp(f.v, "t") == 0) {
		store_set_error("PostgreSQL is a standby (read-only): connect to the primary");
		return STORE_UNAVAILABLE;
	}
	char sql[160];
	snprintf(sql, sizeof sql,
	         "BEGIN; SET LOCAL lock_timeout = %d; SELECT pg_advisory_xact_lock(" WRITE_LOCK_KEY
	         ")",
	         timeout_ms > 0 ? timeout_ms : 1);
	rc = simple(c, sql);
	rollback(c);
	return rc;
}

/* --- read-only ad-hoc queries ------------------------------------------------------- */

/* The secret columns as (table oid, column number) pairs, for masking result columns that
 * come straight from one (SELECT * included). */
struct secret_cols {
	unsigned oid[16];
	int att[16], n;
};

static int secret_row(void *ud, int ncols, const char *const *names, const char *const *v)
{
	(void)names;
	struct secret_cols *s = ud;
	if (ncols < 4 || !v[0] || !v[1] || !v[2] || !v[3] || s->n == 16)
		return 0;
	for (const struct store_secret_column *k = store_secret_columns; k->table; k++)
		if (strcmp(k->table, v[0]) == 0 && strcmp(k->column, v[1]) == 0) {
			s->oid[s->n] = (unsigned)strtoul(v[2], NULL, 10);
			s->att[s->n++] = atoi(v[3]);
		}
	return 0;
}

static int load_secret_cols(struct store_conn *c, struct secret_cols *s)
{
	s->n = 0;
	return exec(
	    c,
	    "SELECT cl.relname, a.attname, cl.oid::bigint, a.attnum FROM pg_attribute a "
	    "JOIN pg_class cl ON cl.oid = a.attrelid WHERE cl.relnamespace = "
	    "(SELECT oid FROM pg_namespace WHERE nspname = current_schema()) AND a.attnum > 0",
	    NULL, 0, secret_row, s, NULL);
}

struct ro_run {
	PGconn *pg;
	store_row_fn fn;
	void *ud;
	size_t max_rows, rows;
	int *truncated, stop;
	const struct secret_cols *secret;
};

static void ro_rows(struct ro_run *q, PGresult *r)
{
	int ncols = PQnfields(r);
	if (ncols > MAX_COLS)
		ncols = MAX_COLS;
	const char *names[MAX_COLS], *vals[MAX_COLS];
	int masked[MAX_COLS];
	for (int i = 0; i < ncols; i++) {
		names[i] = PQfname(r, i);
		masked[i] = 0;
		for (int k = 0; k < q->secret->n; k++)
			if (PQftable(r, i) == q->secret->oid[k] &&
			    PQftablecol(r, i) == q->secret->att[k])
				masked[i] = 1; /* SELECT *: reads as NULL, as on SQLite */
	}
	for (int row = 0; row < PQntuples(r) && !q->stop; row++) {
		if (q->max_rows && q->rows == q->max_rows) {
			*q->truncated = 1;
			q->stop = 1;
			break;
		}
		for (int i = 0; i < ncols; i++)
			vals[i] =
			    masked[i] || PQgetisnull(r, row, i) ? NULL : PQgetvalue(r, row, i);
		q->rows++;
		if (q->fn(q->ud, ncols, names, vals))
			q->stop = 1;
	}
}

/* Runs sql (one statement: the extended protocol refuses several) in single-row mode,
 * so that a large result is never held whole; past the row cap the rest is cancelled. */
static int ro_run(struct store_conn *c, struct ro_run *q, const char *sql, char *err, size_t errlen)
{
	if (!PQsendQueryParams(c->pg, sql, 0, NULL, NULL, NULL, NULL, 0) ||
	    !PQsetSingleRowMode(c->pg)) {
		snprintf(err, errlen, "SQL error: %s", pg_message(c->pg, NULL));
		return STORE_ERROR;
	}
	int rc = STORE_OK, cancelled = 0;
	PGresult *r;
	while ((r = PQgetResult(c->pg))) {
		ExecStatusType s = PQresultStatus(r);
		if (s == PGRES_SINGLE_TUPLE || s == PGRES_TUPLES_OK) {
			if (!q->stop)
				ro_rows(q, r);
			if (q->stop && !cancelled) {
				PGcancel *k = PQgetCancel(c->pg);
				char buf[256];
				if (k)
					PQcancel(k, buf, sizeof buf);
				PQfreeCancel(k);
				cancelled = 1;
			}
		} else if (!cancelled && rc == STORE_OK) {
			const char *state = PQresultErrorField(r, PG_DIAG_SQLSTATE);
			rc = fail(c, r);
			if (state && strcmp(state, "42601") == 0 &&
			    strstr(store_last_error(), "multiple commands")) {
				snprintf(err, errlen,
				         "refused: only a single SELECT statement may be run");
				rc = STORE_REFUSED;
			} else if (state &&
			           strcmp(state, "25006") == 0) { /* read_only_sql_transaction */
				snprintf(err, errlen, "refused: %s", store_last_error());
				rc = STORE_REFUSED;
			} else if (state && strcmp(state, "57014") == 0)
				snprintf(err, errlen, "query stopped after its time limit");
			else
				snprintf(err, errlen, "SQL error: %s", store_last_error());
		}
		PQclear(r);
	}
	return rc;
}

static int query_readonly(struct store_conn *c, const char *sql, size_t max_rows, int timeout_ms,
                          store_row_fn fn, void *ud, int *truncated, char *err, size_t errlen)
{
	const char *p = store_sql_skip_space(sql);
	if (!store_sql_starts_with_word(p, "select") && !store_sql_starts_with_word(p, "with")) {
		/* Said in words: the statement's first word, as an administrator wrote it. */
		size_t n = 0;
		char word[24];
		while (n < sizeof word - 1 &&
		       ((p[n] >= 'a' && p[n] <= 'z') || (p[n] >= 'A' && p[n] <= 'Z'))) {
			word[n] = (char)(p[n] >= 'a' ? p[n] - 'a' + 'A' : p[n]);
			n++;
		}
		word[n] = '\0';
		snprintf(err, errlen, "refused: only a single SELECT statement may be run%s%s",
		         n ? ", not " : "", word);
		return STORE_REFUSED;
	}
	if (store_sql_names_secret(p, err, errlen))
		return STORE_REFUSED;
	int rc = ensure(c);
	if (rc != STORE_OK) {
		snprintf(err, errlen, "%s", store_last_error());
		return rc;
	}
	struct secret_cols secret;
	char setup[128];
	/* A read-only transaction: PostgreSQL itself refuses every write, DDL included, and
	 * the whole query sees one snapshot. */
	snprintf(setup, sizeof setup,
	         "BEGIN TRANSACTION READ ONLY; SET LOCAL statement_timeout = %d",
	         timeout_ms > 0 ? timeout_ms : 5000);
	rc = simple(c, setup);
	if (rc == STORE_OK)
		rc = load_secret_cols(c, &secret);
	if (rc != STORE_OK) {
		snprintf(err, errlen, "%s", store_last_error());
		rollback(c);
		return rc;
	}
	struct ro_run q = {c->pg, fn, ud, max_rows, 0, truncated, 0, &secret};
	rc = ro_run(c, &q, p, err, errlen);
	rollback(c);
	return rc;
}

/* --- integrity --------------------------------------------------------------------- */

/* PostgreSQL checks its own pages and constraints; what can be wrong here is the schema:
 * not at this program's version, a table of the migrations missing, a constraint left
 * NOT VALID. */
static int table_present(struct store_conn *c, const char *table, int *present)
{
	struct first_col f = {"", 0};
	struct store_val p[] = {SV_S(table)};
	int rc = exec(c, "SELECT to_regclass($1) IS NOT NULL", p, 1, first_col, &f, NULL);
	*present = strcmp(f.v, "t") == 0;
	return rc;
}

/* The name after "CREATE TABLE ", "DROP TABLE " or "... RENAME TO " in a migration. */
static void word_after(const char *s, const char *prefix, char *out, size_t cap)
{
	out[0] = '\0';
	const char *p = strstr(s, prefix);
	if (!p)
		return;
	p += strlen(prefix);
	size_t n = strcspn(p, " (");
	if (n < cap)
		snprintf(out, cap, "%.*s", (int)n, p);
}

#define MAX_TABLES 96

/* What statement s does to the list of tables names[*n]. */
static void expect_after(const char *s, char names[][64], int *n)
{
	char a[64], b[64], to[64];
	word_after(s, "CREATE TABLE ", a, sizeof a);
	if (a[0] && *n < MAX_TABLES)
		snprintf(names[(*n)++], 64, "%s", a);
	word_after(s, "DROP TABLE ", a, sizeof a);
	word_after(s, "ALTER TABLE ", b, sizeof b);
	word_after(s, " RENAME TO ", to, sizeof to);
	for (int i = 0; i < *n; i++) {
		if (a[0] && strcmp(names[i], a) == 0)
			names[i][0] = '\0';
		if (to[0] && strcmp(names[i], b) == 0)
			snprintf(names[i], 64, "%s", to);
	}
}

/* The tables the migrations leave on PostgreSQL: the portable statements and its own. */
static int expected_tables(char names[][64], int *n)
{
	*n = 0;
	for (int m = 0; m < store_nmigrations; m++) {
		const struct store_migration *mg = &store_migrations[m];
		for (const char *const *s = mg->statements; *s; s++)
			expect_after(*s, names, n);
		for (const char *const *s = store_migration_own(mg, &store_pg_backend); s && *s;
		     s++)
			expect_after(*s, names, n);
	}
	return 0;
}

static int integrity_check(struct store_conn *c, char *err, size_t errlen)
{
	int rc = ensure(c);
	struct first_col f = {"", 0};
	if (rc == STORE_OK)
		rc = exec(c, "SELECT COALESCE(MAX(version), 0) FROM schema_version", NULL, 0,
		          first_col, &f, NULL);
	if (rc != STORE_OK) {
		snprintf(err, errlen, "%s", store_last_error());
		return rc;
	}
	if (atoi(f.v) != store_schema_latest()) {
		snprintf(err, errlen, "schema version %s, this telgated expects %d", f.v,
		         store_schema_latest());
		return STORE_ERROR;
	}
	char names[MAX_TABLES][64];
	int n;
	expected_tables(names, &n);
	for (int i = 0; i < n; i++) {
		int present = 0;
		if (!names[i][0])
			continue;
		rc = table_present(c, names[i], &present);
		if (rc != STORE_OK) {
			snprintf(err, errlen, "%s", store_last_error());
			return rc;
		}
		if (!present) {
			snprintf(err, errlen, "table %s is missing", names[i]);
			return STORE_ERROR;
		}
	}
	f.found = 0;
	rc = exec(c,
	          "SELECT conrelid::regclass || ': constraint ' || conname || ' is not validated' "
	          "FROM pg_constraint WHERE NOT convalidated AND connamespace = "
	          "(SELECT oid FROM pg_namespace WHERE nspname = current_schema())",
	          NULL, 0, first_col, &f, NULL);
	if (rc != STORE_OK) {
		snprintf(err, errlen, "%s", store_last_error());
		return rc;
	}
	if (f.found) {
		snprintf(err, errlen, "%s", f.v);
		return STORE_ERROR;
	}
	return STORE_OK;
}

/* --- generations between nodes (LISTEN/NOTIFY) ----------------------------------- */

/* Every process on the store announces its generation bumps on one channel, as
 * "<token> <slot>" (slot -1: the global generation, else a user slot; token: the
 * process's own, so that it skips its echo). NOTIFY is delivered to every listening
 * session once committed; a listener that lost its session bumps everything when it is
 * back, since what it missed meanwhile is unknown. */
#define CHANNEL "telgate_store"

/* Device-state changes (store.h, store_devstate_announce) travel on a second channel of
 * the same session: "<token> <sequence>" then "\n<0|1><device>" per change. Each
 * process numbers its notifications 1, 2, 3 ...; a listener that sees an origin skip a
 * number (a notification it missed, or one whose transaction rolled back after it was
 * numbered: rare, and a resync costs one query per device) asks for a resync. */
#define DEVSTATE_CHANNEL "telgate_devstate"
#define DEVSTATE_PAYLOAD_MAX 7900 /* PostgreSQL's limit is 8000 bytes */
#define ORIGINS 32                /* other processes whose sequence is followed */

struct origin {
	char token[17];
	uint64_t seq;
};

struct listener {
	store_t *st;
	pthread_t thread;
	_Atomic int stop;
	_Atomic int listening; /* the session is up and LISTENs */
	int ever;              /* it listened before (a new session may have missed some) */
	char token[17];
	_Atomic uint64_t devstate_seq; /* the last number this process sent */
	/* the device-state subscriber: changed under cb_mu, which each delivery holds */
	pthread_mutex_t cb_mu;
	void (*fn)(void *arg, const char *device, int in_service);
	void (*resync)(void *arg, const char *why);
	void *arg;
	struct origin origins[ORIGINS]; /* listening thread only */
	int norigins;
};

static void announce(struct store_conn *c, int slot)
{
	struct listener *l = c->st->listener;
	if (!c->pg || PQstatus(c->pg) != CONNECTION_OK)
		return; /* the next listener connection bumps everything anyway */
	char payload[48], saved[512];
	snprintf(payload, sizeof payload, "%s %d", l ? l->token : "-", slot);
	snprintf(saved, sizeof saved, "%s", store_last_error());
	struct store_val p[] = {SV_S(payload)};
	exec(c, "SELECT pg_notify('" CHANNEL "', $1)", p, 1, NULL, NULL, NULL);
	store_set_error("%s", saved); /* the caller's error stays what it was */
}

static void bump_all(store_t *st)
{
	atomic_fetch_add(&st->gen, 1);
	for (int i = 0; i < STORE_GEN_SLOTS; i++)
		atomic_fetch_add(&st->user_gen[i], 1);
}

static void resync(struct listener *l, const char *why)
{
	pthread_mutex_lock(&l->cb_mu);
	if (l->fn && l->resync)
		l->resync(l->arg, why);
	pthread_mutex_unlock(&l->cb_mu);
}

/* Whether payload (after the token) continues origin's sequence; records it. */
static int in_sequence(struct listener *l, const char *token, size_t n, uint64_t seq)
{
	for (int i = 0; i < l->norigins; i++)
		if (strlen(l->origins[i].token) == n && !memcmp(l->origins[i].token, token, n)) {
			int ok = seq == l->origins[i].seq + 1;
			l->origins[i].seq = seq;
			return ok;
		}
	/* A process not heard from yet (started, or forgotten): its first is taken as is. */
	int i = l->norigins < ORIGINS ? l->norigins++ : (int)(seq % ORIGINS);
	snprintf(l->origins[i].token, sizeof l->origins[i].token, "%.*s", (int)n, token);
	l->origins[i].seq = seq;
	return 1;
}

static void heard_devstate(struct listener *l, const char *payload)
{
	const char *sp = strchr(payload, ' ');
	size_t n = strlen(l->token);
	if (!sp || ((size_t)(sp - payload) == n && strncmp(payload, l->token, n) == 0))
		return; /* malformed, or this process's own */
	uint64_t seq = strtoull(sp + 1, NULL, 10);
	if (!in_sequence(l, payload, (size_t)(sp - payload), seq)) {
		log_ev(LOG_LVL_WARNING, NULL, "store_pg_devstate_gap", LOG_U("seq", seq),
		       LOG_S("action", "device state read again from the store"));
		resync(l, "a notification from another node was missed");
	}
	pthread_mutex_lock(&l->cb_mu);
	for (const char *p = strchr(sp, '\n'); p && l->fn; p = strchr(p + 1, '\n')) {
		char dev[STORE_ID_MAX + 1];
		const char *end = strchr(p + 2, '\n');
		size_t len = end ? (size_t)(end - p - 2) : strlen(p + 2);
		if ((p[1] != '0' && p[1] != '1') || len == 0 || len >= sizeof dev)
			break;
		memcpy(dev, p + 2, len);
		dev[len] = '\0';
		l->fn(l->arg, dev, p[1] == '1');
	}
	pthread_mutex_unlock(&l->cb_mu);
}

static void heard(struct listener *l, const char *payload)
{
	size_t n = strlen(l->token);
	if (strncmp(payload, l->token, n) == 0 && payload[n] == ' ')
		return; /* this process's own */
	const char *sp = strchr(payload, ' ');
	int slot = sp ? atoi(sp + 1) : -1;
	if (slot >= 0 && slot < STORE_GEN_SLOTS)
		atomic_fetch_add(&l->st->user_gen[slot], 1);
	else
		atomic_fetch_add(&l->st->gen, 1);
}

/* The listening session, (re)made with the same backoff as the others. */
static PGconn *listen_connect(struct listener *l, int *backoff_ms)
{
	PGconn *pg = pg_connect(l->st->conninfo);
	if (pg && PQstatus(pg) == CONNECTION_OK) {
		PQsetNoticeProcessor(pg, quiet_notice, NULL);
		PGresult *r = PQexec(pg, "LISTEN " CHANNEL "; LISTEN " DEVSTATE_CHANNEL);
		int ok = PQresultStatus(r) == PGRES_COMMAND_OK;
		PQclear(r);
		if (ok) {
			bump_all(l->st);
			atomic_store(&l->listening, 1);
			log_ev(LOG_LVL_INFO, NULL, "store_pg_listening", LOG_S("channel", CHANNEL),
			       LOG_S("devstate_channel", DEVSTATE_CHANNEL));
			if (l->ever)
				resync(l, "the listening session was lost");
			l->ever = 1;
			*backoff_ms = 0;
			return pg;
		}
	}
	PQfinish(pg);
	*backoff_ms = *backoff_ms ? *backoff_ms * 2 : BACKOFF_MIN_MS;
	if (*backoff_ms > BACKOFF_MAX_MS)
		*backoff_ms = BACKOFF_MAX_MS;
	return NULL;
}

static void *listen_main(void *arg)
{
	struct listener *l = arg;
	PGconn *pg = NULL;
	int backoff_ms = 0;
	while (!atomic_load(&l->stop)) {
		if (pg && PQstatus(pg) != CONNECTION_OK) {
			/* `cluster status` says so until the session is made again. */
			atomic_store(&l->listening, 0);
			log_ev(LOG_LVL_WARNING, NULL, "store_pg_listen_lost",
			       LOG_S("channel", CHANNEL));
			PQfinish(pg);
			pg = NULL;
		}
		if (!pg && !(pg = listen_connect(l, &backoff_ms))) {
			for (int w = 0; w < backoff_ms && !atomic_load(&l->stop); w += 50)
				poll(NULL, 0, 50);
			continue;
		}
		/* 200 ms: how long store_close may wait for this thread to see stop. */
		struct pollfd pfd = {PQsocket(pg), POLLIN, 0};
		if (poll(&pfd, 1, 200) <= 0)
			continue;
		if (!PQconsumeInput(pg))
			continue; /* the status says the session is gone */
		PGnotify *n;
		while ((n = PQnotifies(pg))) {
			if (strcmp(n->relname, DEVSTATE_CHANNEL) == 0)
				heard_devstate(l, n->extra);
			else
				heard(l, n->extra);
			PQfreemem(n);
		}
	}
	PQfinish(pg);
	return NULL;
}

static int listen_start(store_t *st, char *err, size_t errlen)
{
	struct listener *l = calloc(1, sizeof *l);
	if (!l) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	l->st = st;
	pthread_mutex_init(&l->cb_mu, NULL);
	unsigned char rnd[8];
	randombytes_buf(rnd, sizeof rnd);
	sodium_bin2hex(l->token, sizeof l->token, rnd, sizeof rnd);
	if (pthread_create(&l->thread, NULL, listen_main, l) != 0) {
		pthread_mutex_destroy(&l->cb_mu);
		free(l);
		snprintf(err, errlen, "cannot start the store's listening thread");
		return -1;
	}
	st->listener = l;
	return 0;
}

static const char *listen_state(store_t *st)
{
	struct listener *l = st->listener;
	if (!l)
		return "not started";
	return atomic_load(&l->listening) ? "listening on " CHANNEL
	                                  : "lost, reconnecting (caches are refreshed when back)";
}

static void listen_stop(store_t *st)
{
	struct listener *l = st->listener;
	atomic_store(&l->stop, 1);
	pthread_join(l->thread, NULL);
	st->listener = NULL;
	pthread_mutex_destroy(&l->cb_mu);
	free(l);
}

static void devstate_listen(store_t *st, void (*fn)(void *arg, const char *device, int in),
                            void (*rs)(void *arg, const char *why), void *arg)
{
	struct listener *l = st->listener;
	if (!l)
		return;
	pthread_mutex_lock(&l->cb_mu); /* waits for a delivery in flight */
	l->fn = fn;
	l->resync = rs;
	l->arg = arg;
	pthread_mutex_unlock(&l->cb_mu);
}

/* Sends the changes in body (len bytes, each "\n<0|1><device>") as one notification,
 * numbered now: a number is taken only for what is sent. */
static int devstate_send(struct store_conn *c, const char *body, size_t len)
{
	struct listener *l = c->st->listener;
	char buf[DEVSTATE_PAYLOAD_MAX + 64];
	unsigned long long seq = l ? atomic_fetch_add(&l->devstate_seq, 1) + 1 : 0;
	int w = snprintf(buf, sizeof buf, "%s %llu%.*s", l ? l->token : "-", seq, (int)len, body);
	if (w < 0 || (size_t)w >= sizeof buf) {
		store_set_error("device-state notification too long");
		return STORE_ERROR;
	}
	struct store_val p[] = {SV_S(buf)};
	return exec(c, "SELECT pg_notify('" DEVSTATE_CHANNEL "', $1)", p, 1, NULL, NULL, NULL);
}

static int devstate_announce(struct store_conn *c, const struct store_devstate *v, int n)
{
	char body[DEVSTATE_PAYLOAD_MAX];
	size_t len = 0;
	int rc = STORE_OK;
	for (int i = 0; i < n && rc == STORE_OK; i++) {
		size_t dl = strlen(v[i].device);
		if (!dl || dl > STORE_ID_MAX || memchr(v[i].device, '\n', dl))
			continue; /* not a name another node could hold */
		if (len + dl + 2 > sizeof body) {
			rc = devstate_send(c, body, len);
			len = 0;
		}
		body[len++] = '\n';
		body[len++] = v[i].in_service ? '1' : '0';
		memcpy(body + len, v[i].device, dl);
		len += dl;
	}
	if (rc == STORE_OK && len)
		rc = devstate_send(c, body, len);
	return rc;
}

const struct store_backend store_pg_backend = {
    .name = "postgres",
    .conn_open = conn_open,
    .conn_close = conn_close,
    .exec = exec,
    .begin = begin,
    .commit = commit,
    .rollback = rollback,
    .probe_write = probe_write,
    .query_readonly = query_readonly,
    .integrity_check = integrity_check,
    .backup_to = NULL, /* pg_dump: store_backup_to says so */
    .backup_tool = "pg_dump",
    .announce = announce,
    .listen_start = listen_start,
    .listen_stop = listen_stop,
    .listen_state = listen_state,
    .devstate_announce = devstate_announce,
    .devstate_listen = devstate_listen,
};
