/* SPDX-License-Identifier: ISC */
/*
 * store_backend: what a storage backend implements (internal to src/store). store.c
 * holds every entity query as portable SQL ($1-style parameters, INSERT .. ON CONFLICT
 * upserts) and runs it through these operations; a backend supplies connections,
 * parameter binding, transactions, the read-only query guard and its integrity check.
 */
#ifndef TG_STORE_BACKEND_H
#define TG_STORE_BACKEND_H

#include "core/metrics.h"
#include "store/store.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>

struct store_conn;

/* The user generation slots (store_user_generation). A user's first success each hour
 * writes its credential state and bumps its slot, which stales the cached account of
 * every other user in that slot: with 4096 slots and 10,000 users, 62 % of the users'
 * cached accounts were stale after one registration each, and their next refresh took
 * the store path (issue 22). 2^18 slots (2 MiB, zero pages until written): 2.7 %. */
#define STORE_GEN_SLOTS (1 << 18)

enum store_vtype { SV_NULL, SV_TEXT, SV_INT };
struct store_val {
	enum store_vtype t;
	const char *s;
	int64_t i;
};
#define SV_S(x) ((struct store_val){SV_TEXT, (x), 0})
#define SV_I(x) ((struct store_val){SV_INT, NULL, (x)})
#define SV_NULLV ((struct store_val){SV_NULL, NULL, 0})

typedef int (*store_row_fn)(void *ud, int ncols, const char *const *names, const char *const *vals);

struct store_backend {
	const char *name;
	/* Opens one connection for the calling thread. */
	struct store_conn *(*conn_open)(store_t *st, char *err, size_t errlen);
	void (*conn_close)(struct store_conn *c);
	/* Runs one statement with n parameters ($1..$n); fn (may be NULL) gets each row.
	 * Returns STORE_OK or a negative store_rc; sets the thread's last error. */
	int (*exec)(struct store_conn *c, const char *sql, const struct store_val *p, int n,
	            store_row_fn fn, void *ud, int *changes);
	int (*begin)(struct store_conn *c);
	/* Opens a transaction that only reads (one snapshot, no lock taken), ended by commit.
	 * NULL: the backend gains nothing from one and store_read_begin is a no-op. */
	int (*begin_read)(struct store_conn *c);
	int (*commit)(struct store_conn *c);
	int (*rollback)(struct store_conn *c);
	/* Takes and releases the write lock (a transaction that writes nothing), waiting at
	 * most timeout_ms for it: the health check. Returns STORE_OK or STORE_BUSY. */
	int (*probe_write)(struct store_conn *c, int timeout_ms);
	int (*query_readonly)(struct store_conn *c, const char *sql, size_t max_rows,
	                      int timeout_ms, store_row_fn fn, void *ud, int *truncated, char *err,
	                      size_t errlen);
	int (*integrity_check)(struct store_conn *c, char *err, size_t errlen);
	/* Copies the whole database, as one consistent state, into the file at path (created
	 * or replaced). NULL: the backend has its own tools (pg_dump) and store_backup_to
	 * says so. */
	int (*backup_to)(struct store_conn *c, const char *path, char *err, size_t errlen);
	const char *backup_tool; /* with backup_to NULL: what to use instead */
	/* Other processes sharing the store (cluster nodes): after this process bumped a
	 * generation (slot -1: the global one, else a user slot) on c, tell the others
	 * (NULL: nobody else writes); listen_start runs a thread that bumps this store's
	 * generations for what the others announce, listen_stop ends it. Optional. */
	void (*announce)(struct store_conn *c, int slot);
	int (*listen_start)(store_t *st, char *err, size_t errlen);
	void (*listen_stop)(store_t *st);
	/* The listening session's state in words (listen_start's backends only). */
	const char *(*listen_state)(store_t *st);
	/* Device state between nodes (store.h: store_devstate_announce, store_devstate_listen),
	 * on the same listening session. Optional (NULL: nobody else to tell). */
	int (*devstate_announce)(struct store_conn *c, const struct store_devstate *v, int n);
	void (*devstate_listen)(store_t *st, void (*fn)(void *arg, const char *device, int in),
	                        void (*resync)(void *arg, const char *why), void *arg);
};

struct store {
	const struct store_backend *be;
	char path[256];
	char *conninfo; /* postgres: the connection string (holds a password: wiped at close) */
	void *listener; /* the backend's listen_start state */
	int busy_timeout_ms;
	pthread_key_t key;
	pthread_mutex_t mu;
	struct store_conn_link *conns; /* every open connection, for store_close */
	/* store_generation(): bumped after every committed write but those of credential
	 * state (per user slot) and registrations (the registrar's own, kept in memory). */
	_Atomic uint64_t gen;
	_Atomic uint64_t user_gen[STORE_GEN_SLOTS];
	/* Transactions, store_begin to store_commit/rollback (the wait for the lock included). */
	struct metrics_histogram txn_latency;
	/* postgres: 1 from the first connection that finds the server gone until one is
	 * made again: the DatabaseUnavailable alarm is raised and cleared on its edges. */
	_Atomic int pg_outage;
	/* No "next attempt" is promised while opening (a failed store_open is final: telgated
	 * exits with its message) nor from store_stopping() on (the process is exiting). */
	_Atomic int opening, stopping;
};

/* Sets this thread's last error message. */
void store_set_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

extern const struct store_backend store_sqlite_backend;
extern const struct store_backend store_pg_backend;

/* conninfo as "key=value ..." without its password (for logs and errors), in out. */
void store_pg_conninfo_redacted(const char *conninfo, char *out, size_t cap);

/* For the read-only query guards: skips whitespace, "-- ..." and C-style comments; whether
 * p starts with the word w (any case, not followed by a name character). */
const char *store_sql_skip_space(const char *p);
int store_sql_starts_with_word(const char *p, const char *w);

/* Schema migrations, applied in order by store.c: statements (portable SQL, both
 * backends), then the running backend's own list (DDL the other lacks, such as SQLite's
 * WITHOUT ROWID; NULL = none). Every list is NULL-terminated. */
struct store_migration {
	int version;
	const char *const *statements;
	const char *const *sqlite;
	const char *const *postgres;
};
/* The migration's list for backend be beyond the portable one (NULL = none). */
const char *const *store_migration_own(const struct store_migration *m,
                                       const struct store_backend *be);
extern const struct store_migration store_migrations[];
extern const int store_nmigrations;

struct store_secret_column {
	const char *table, *column;
};
extern const struct store_secret_column store_secret_columns[]; /* ends with NULLs */

/* For both backends' read-only query guard: the secret column whose name appears anywhere
 * in sql (a plain column, an expression, a WHERE: only a reference through * can be
 * masked, so any naming is refused), preferring one whose table is named too (a column
 * name that two tables share); NULL when none. Writes the refusal, naming the column and
 * why, into err. */
const struct store_secret_column *store_sql_names_secret(const char *sql, char *err, size_t errlen);

/* For the entity files (one per table family: processnode.c, securityprofile.c): run a
 * statement on this thread's connection. store_exec counts anything but a SELECT as a
 * write (store_generation grows when it is committed); store_exec_nogen never does (for
 * writes no cache depends on, such as a node's heartbeat). */
int store_exec(store_t *st, const char *sql, const struct store_val *p, int n, store_row_fn fn,
               void *ud, int *changes);
int store_exec_nogen(store_t *st, const char *sql, const struct store_val *p, int n,
                     store_row_fn fn, void *ud, int *changes);
/* Copies a column (NULL = "") into a fixed field; nonzero when it does not fit. */
int store_copy_col(char *dst, size_t cap, const char *v);
/* A column as an integer (NULL = 0). */
int64_t store_col_i64(const char *v);
/* A SELECT whose rows conv turns into the caller's struct obj (size bytes). With each
 * NULL, the first row only: STORE_NOTFOUND when there was none, STORE_TOOBIG when a column
 * did not fit (obj is zeroed on both). Otherwise each gets every row in turn (nonzero
 * stops); rows that do not fit are skipped and the result is then STORE_TOOBIG. */
struct store_rows {
	int (*conv)(void *obj, const char *const *vals); /* nonzero: a column does not fit */
	void *obj;
	size_t size;
	int (*each)(void *ud, const void *obj);
	void *ud;
	int found, bad; /* set by store_select */
	/* 1: an UPDATE .. RETURNING no cache depends on (a counter such as the CRL number):
	 * store_exec_nogen's rule, so it does not make every cached account stale. */
	int nogen;
};
int store_select(store_t *st, const char *sql, const struct store_val *p, int n,
                 struct store_rows *r);

#endif
