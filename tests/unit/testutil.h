/* SPDX-License-Identifier: ISC */
/* Helpers shared by the unit tests: a temporary directory per test, removed afterwards. */
#ifndef TG_TESTUTIL_H
#define TG_TESTUTIL_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

/* Creates /tmp/<prefix>XXXXXX into dir (at least 64 bytes); aborts the test on failure. */
static inline void tu_mkdtemp(char *dir, size_t cap, const char *prefix)
{
	snprintf(dir, cap, "/tmp/%sXXXXXX", prefix);
	if (!mkdtemp(dir))
		abort();
}

/* Appends src to the NUL-terminated text in dst (cap bytes in all); aborts the test when
 * it does not fit (a test's buffer too small is the test's bug). */
static inline void tu_append(char *dst, size_t cap, const char *src)
{
	size_t used = strlen(dst);
	int w = snprintf(dst + used, cap - used, "%s", src);
	if (w < 0 || (size_t)w >= cap - used)
		abort();
}

/* The size of the file at path in bytes; aborts the test when it cannot be read. */
static inline long tu_file_size(const char *path)
{
	struct stat sb;
	if (stat(path, &sb) != 0)
		abort();
	return (long)sb.st_size;
}

static inline void tu_rmtree(const char *dir)
{
	char cmd[300];
	snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
	if (system(cmd) != 0)
		abort();
}

#endif
