/* SPDX-License-Identifier: ISC */
/* SQLite's allocator with per-thread caches (store/sqlite_mem.h): sizes by class, realloc
 * keeping the content, blocks freed on another thread and by an exiting thread, and
 * SQLite working on it (a statement that reads and writes text). */
#include "store/sqlite_mem.h"

#include <pthread.h>
#include <setjmp.h>
#include <sqlite3.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

static int setup(void **state)
{
	(void)state;
	return sqlite_mem_install() == SQLITE_OK ? 0 : -1;
}

static void test_sizes(void **state)
{
	(void)state;
	/* usable size: the class (or the request rounded to 8 beyond the largest class) */
	static const struct {
		int want, usable;
	} c[] = {{1, 32},      {32, 32},     {33, 48},     {100, 128},  {200, 256},
	         {1000, 1024}, {1024, 1024}, {1025, 1032}, {5000, 5000}};
	for (size_t i = 0; i < sizeof c / sizeof c[0]; i++) {
		char *p = sqlite3_malloc(c[i].want);
		assert_non_null(p);
		memset(p, 0x5a, (size_t)c[i].want);
		assert_true(sqlite3_msize(p) >= (sqlite3_uint64)c[i].want);
#if SQLITE_MEM_CACHED
		assert_int_equal(sqlite3_msize(p), c[i].usable);
#endif
		assert_int_equal((uintptr_t)p % 8, 0);
		sqlite3_free(p);
	}
	sqlite3_free(NULL);
}

static void test_grow(void **state)
{
	(void)state;
	char *p = sqlite3_malloc(20);
	assert_non_null(p);
	for (int i = 0; i < 20; i++)
		p[i] = (char)i;
	/* within the class: the same block; beyond: moved, the content kept */
	p = sqlite3_realloc(p, 30);
	assert_non_null(p);
	p = sqlite3_realloc(p, 3000);
	assert_non_null(p);
	for (int i = 0; i < 20; i++)
		assert_int_equal(p[i], (char)i);
	memset(p + 20, 1, 2980);
	p = sqlite3_realloc(p, 10); /* shrinking keeps what fits */
	assert_non_null(p);
	for (int i = 0; i < 10; i++)
		assert_int_equal(p[i], (char)i);
	sqlite3_free(p);
}

/* More blocks of one class than a thread keeps, freed and taken again: each block is
 * whole (no two allocations share one). */
static void test_many(void **state)
{
	(void)state;
	enum { N = 3 * SQLITE_MEM_KEEP };
	char *p[N];
	for (int round = 0; round < 3; round++) {
		for (int i = 0; i < N; i++) {
			assert_non_null(p[i] = sqlite3_malloc(90));
			memset(p[i], i, 90);
		}
		for (int i = 0; i < N; i++)
			for (int k = 0; k < 90; k++)
				assert_int_equal((unsigned char)p[i][k], (unsigned char)i);
		for (int i = 0; i < N; i++)
			sqlite3_free(p[i]);
	}
}

struct handoff {
	char *p[2 * SQLITE_MEM_KEEP];
};

static void *free_them(void *arg)
{
	struct handoff *h = arg;
	for (size_t i = 0; i < sizeof h->p / sizeof h->p[0]; i++)
		sqlite3_free(h->p[i]); /* into this thread's cache, given back when it exits */
	char *q = sqlite3_malloc(60);  /* from that cache */
	if (q)
		memset(q, 7, 60);
	sqlite3_free(q);
	return NULL;
}

static void test_other_thread(void **state)
{
	(void)state;
	struct handoff h;
	for (size_t i = 0; i < sizeof h.p / sizeof h.p[0]; i++) {
		assert_non_null(h.p[i] = sqlite3_malloc(60));
		memset(h.p[i], 3, 60);
	}
	pthread_t t;
	assert_int_equal(pthread_create(&t, NULL, free_them, &h), 0);
	assert_int_equal(pthread_join(t, NULL), 0);
}

static void test_sqlite_on_it(void **state)
{
	(void)state;
	sqlite3 *db;
	assert_int_equal(sqlite3_open(":memory:", &db), SQLITE_OK);
	assert_int_equal(
	    sqlite3_exec(
	        db,
	        "CREATE TABLE t (k TEXT, c TEXT, v TEXT, PRIMARY KEY (k, c)) WITHOUT ROWID;"
	        "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < "
	        "2000) INSERT INTO t SELECT 'dev' || i, 'sip:' || i || '@host', "
	        "printf('%.*c', i % 700, 'x') FROM n;"
	        "UPDATE t SET v = v || 'y' WHERE k = 'dev650' AND c = 'sip:650@host';",
	        NULL, NULL, NULL),
	    SQLITE_OK);
	sqlite3_stmt *s;
	assert_int_equal(sqlite3_prepare_v2(db,
	                                    "SELECT length(v), substr(v, -1) FROM t WHERE k = "
	                                    "'dev650'",
	                                    -1, &s, NULL),
	                 SQLITE_OK);
	assert_int_equal(sqlite3_step(s), SQLITE_ROW);
	assert_int_equal(sqlite3_column_int(s, 0), 651);
	assert_string_equal((const char *)sqlite3_column_text(s, 1), "y");
	sqlite3_finalize(s);
	assert_int_equal(sqlite3_close(db), SQLITE_OK);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_sizes),        cmocka_unit_test(test_grow),
	    cmocka_unit_test(test_many),         cmocka_unit_test(test_other_thread),
	    cmocka_unit_test(test_sqlite_on_it),
	};
	return cmocka_run_group_tests(tests, setup, NULL);
}
