/* SPDX-License-Identifier: ISC */
/* Helpers shared by the unit tests: a temporary directory per test, removed afterwards. */
#ifndef TG_TESTUTIL_H
#define TG_TESTUTIL_H

#include <stdio.h>
#include <stdlib.h>

/* Creates /tmp/<prefix>XXXXXX into dir (at least 64 bytes); aborts the test on failure. */
static inline void tu_mkdtemp(char *dir, size_t cap, const char *prefix)
{
	snprintf(dir, cap, "/tmp/%sXXXXXX", prefix);
	if (!mkdtemp(dir))
		abort();
}

static inline void tu_rmtree(const char *dir)
{
	char cmd[300];
	snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
	if (system(cmd) != 0)
		abort();
}

#endif
