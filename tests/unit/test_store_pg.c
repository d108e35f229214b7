/* SPDX-License-Identifier: ISC */
/* The PostgreSQL backend without a server: the connection string as logged (never its
 * password), the conninfo file's mode check, and an unreachable server as a clear error
 * at open. Against a real server: tests/system/pg.py (CTest label pg). */
#include "store/store.h"
#include "store/store_backend.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <cmocka.h>

static void test_redacted_keywords(void **state)
{
	(void)state;
	char out[512];
	store_pg_conninfo_redacted("host=db.example port=5432 dbname=telgate user=tg "
	                           "password=s3cret-pw sslmode=verify-full "
	                           "sslrootcert=/etc/telgate/pg-ca.pem",
	                           out, sizeof out);
	assert_null(strstr(out, "s3cret-pw"));
	assert_non_null(strstr(out, "password=(redacted)"));
	assert_non_null(strstr(out, "host=db.example"));
	assert_non_null(strstr(out, "sslmode=verify-full"));
	assert_non_null(strstr(out, "sslrootcert=/etc/telgate/pg-ca.pem"));
}

static void test_redacted_uri(void **state)
{
	(void)state;
	char out[512];
	store_pg_conninfo_redacted("postgresql://tg:s3cret-pw@db.example:5433/telgate", out,
	                           sizeof out);
	assert_null(strstr(out, "s3cret-pw"));
	assert_non_null(strstr(out, "user=tg"));
	assert_non_null(strstr(out, "port=5433"));
	/* Garbage is not echoed either (it may hold the password). */
	store_pg_conninfo_redacted("host='unterminated password=s3cret-pw", out, sizeof out);
	assert_null(strstr(out, "s3cret-pw"));
}

static void write_file(const char *path, const char *text, mode_t mode)
{
	FILE *f = fopen(path, "w");
	assert_non_null(f);
	fputs(text, f);
	fclose(f);
	assert_int_equal(chmod(path, mode), 0);
}

static void test_conninfo_file(void **state)
{
	(void)state;
	char dir[] = "/tmp/tgpgXXXXXX", path[64], err[512];
	assert_non_null(mkdtemp(dir));
	snprintf(path, sizeof path, "%s/conninfo", dir);
	/* Port 1 on loopback: refused at once, nothing listens there. */
	write_file(path, "host=127.0.0.1 port=1 connect_timeout=2 user=tg password=s3cret-pw\n",
	           0644);
	struct store_options o = {.backend = "postgres", .conninfo_file = path};
	store_t *st = NULL;
	assert_int_not_equal(store_open(&o, &st, err, sizeof err), STORE_OK);
	assert_non_null(strstr(err, "chmod 600"));
	assert_null(strstr(err, "s3cret-pw"));
	assert_int_equal(chmod(path, 0400), 0);
	assert_int_not_equal(store_open(&o, &st, err, sizeof err), STORE_OK);
	assert_non_null(strstr(err, "PostgreSQL unavailable"));
	assert_null(strstr(err, "s3cret-pw"));
	/* Neither or both of conninfo and conninfo_file. */
	struct store_options none = {.backend = "postgres"};
	assert_int_not_equal(store_open(&none, &st, err, sizeof err), STORE_OK);
	assert_non_null(strstr(err, "conninfo"));
	unlink(path);
	rmdir(dir);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_redacted_keywords),
	    cmocka_unit_test(test_redacted_uri),
	    cmocka_unit_test(test_conninfo_file),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
