/* SPDX-License-Identifier: ISC */
/* A store in a temporary directory for the store's unit tests, and old-schema databases
 * for migration tests. Include after <cmocka.h>. */
#ifndef TG_STORE_FIXTURE_H
#define TG_STORE_FIXTURE_H

#include "store/store.h"
#include "store/store_backend.h"
#include "testutil.h"

#include <pthread.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

struct tu_store {
	char dir[64], path[128];
	store_t *st;
};

/* Opens (migrating) the store at f->path into f->st, then adds devices devices named
 * SEP000, SEP001, ... (protocol SIP), for tests that bind contacts to them (0: none; a
 * store opened again already has them). Fails the test on error. */
static inline void tu_store_open(struct tu_store *f, int devices)
{
	struct store_options o = {.backend = "sqlite", .path = f->path, .busy_timeout_ms = 5000};
	char err[256];
	if (store_open(&o, &f->st, err, sizeof err) != STORE_OK)
		fail_msg("open: %s", err);
	for (int i = 0; i < devices; i++) {
		struct store_device d;
		memset(&d, 0, sizeof d);
		snprintf(d.name, sizeof d.name, "SEP%03d", i);
		snprintf(d.protocol, sizeof d.protocol, "SIP");
		assert_int_equal(store_device_put(f->st, &d), STORE_OK);
	}
}

/* A new store in a new temporary directory named after prefix, with devices devices. */
static inline void tu_store_init(struct tu_store *f, const char *prefix, int devices)
{
	tu_mkdtemp(f->dir, sizeof f->dir, prefix);
	snprintf(f->path, sizeof f->path, "%s/t.db", f->dir);
	tu_store_open(f, devices);
}

/* Closes the store and removes its directory (the struct stays the caller's). */
static inline void tu_store_close(struct tu_store *f)
{
	store_close(f->st);
	f->st = NULL;
	tu_rmtree(f->dir);
}

static inline int tu_store_setup(void **state)
{
	struct tu_store *f = calloc(1, sizeof *f);
	tu_store_init(f, "tgst", 0);
	*state = f;
	return 0;
}

static inline int tu_store_teardown(void **state)
{
	struct tu_store *f = *state;
	tu_store_close(f);
	free(f);
	return 0;
}

/* Writes a new database at path as schema `upto` left it (the migrations up to it, run
 * directly), then the n statements in rows: what an older telgated wrote, for a test to
 * open. Fails the test on any error. */
static inline void tu_store_write_old(const char *path, int upto, const char *const *rows, size_t n)
{
	unlink(path);
	sqlite3 *db;
	assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
	sqlite3_exec(db, "PRAGMA foreign_keys = ON", NULL, NULL, NULL);
	assert_int_equal(sqlite3_exec(db,
	                              "CREATE TABLE schema_version (version INTEGER PRIMARY KEY, "
	                              "applied_at BIGINT NOT NULL)",
	                              NULL, NULL, NULL),
	                 SQLITE_OK);
	for (int i = 0; i < store_nmigrations && store_migrations[i].version <= upto; i++) {
		const char *const *own = store_migrations[i].sqlite;
		for (int part = 0; part < 2; part++)
			for (const char *const *q = part ? own : store_migrations[i].statements;
			     q && *q; q++) {
				char *err = NULL;
				if (sqlite3_exec(db, *q, NULL, NULL, &err) != SQLITE_OK)
					fail_msg("v%d: %s: %s", store_migrations[i].version, *q,
					         err);
			}
		char ins[96];
		snprintf(ins, sizeof ins, "INSERT INTO schema_version VALUES (%d, 0)",
		         store_migrations[i].version);
		assert_int_equal(sqlite3_exec(db, ins, NULL, NULL, NULL), SQLITE_OK);
	}
	for (size_t i = 0; i < n; i++) {
		char *err = NULL;
		if (sqlite3_exec(db, rows[i], NULL, NULL, &err) != SQLITE_OK)
			fail_msg("%s: %s", rows[i], err);
	}
	sqlite3_close(db);
}

/* Runs fn(a) and fn(b) on two threads at once (each thread gets its own store connection)
 * and waits for both. go is initialised for two here and destroyed after: the threads
 * meet at it before each step they race for. */
static inline void tu_run_pair(void *(*fn)(void *), void *a, void *b, pthread_barrier_t *go)
{
	pthread_barrier_init(go, NULL, 2);
	pthread_t ta, tb;
	assert_int_equal(pthread_create(&ta, NULL, fn, a), 0);
	assert_int_equal(pthread_create(&tb, NULL, fn, b), 0);
	pthread_join(ta, NULL);
	pthread_join(tb, NULL);
	pthread_barrier_destroy(go);
}

#endif
