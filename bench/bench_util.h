/* SPDX-License-Identifier: ISC */
/* Helpers shared by the directory benchmarks: a slapd from tests/lib/slapd.py, a store
 * with provisioned LDAP users, latency percentiles. Benchmarks only: not installed. */
#ifndef TG_BENCH_UTIL_H
#define TG_BENCH_UTIL_H

#include "core/util.h"
#include "store/store.h"

#include <jansson.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

struct bench_slapd {
	pid_t pid; /* the python helper; it stops slapd when terminated */
	char uri[128], tls_uri[128], ca[256], bind_dn[256], pwfile[256], base[256];
};

/* Starts slapd with n generated users (uid=user00001.. password Bench-Pass-1) under dir. */
static inline int bench_slapd_start(const char *srcdir, const char *dir, int n,
                                    struct bench_slapd *s)
{
	int fds[2];
	if (pipe(fds) != 0)
		return -1;
	pid_t pid = fork();
	if (pid == 0) {
		dup2(fds[1], 1);
		close(fds[0]);
		close(fds[1]);
		char helper[512], users[16];
		snprintf(helper, sizeof helper, "%s/tests/lib/slapd.py", srcdir);
		snprintf(users, sizeof users, "%d", n);
		execlp("python3", "python3", helper, "start", dir, "--users", users, (char *)NULL);
		_exit(127);
	}
	close(fds[1]);
	FILE *f = fdopen(fds[0], "r");
	char line[4096];
	if (!f || !fgets(line, sizeof line, f)) {
		fprintf(stderr, "slapd helper failed\n");
		return -1;
	}
	fclose(f);
	json_t *j = json_loads(line, 0, NULL);
	if (!j)
		return -1;
	s->pid = pid;
	tg_strlcpy(s->uri, json_string_value(json_object_get(j, "uri")), sizeof s->uri);
	tg_strlcpy(s->tls_uri, json_string_value(json_object_get(j, "tls_uri")), sizeof s->tls_uri);
	tg_strlcpy(s->ca, json_string_value(json_object_get(j, "ca")), sizeof s->ca);
	tg_strlcpy(s->bind_dn, json_string_value(json_object_get(j, "bind_dn")), sizeof s->bind_dn);
	tg_strlcpy(s->pwfile, json_string_value(json_object_get(j, "bind_password_file")),
	           sizeof s->pwfile);
	tg_strlcpy(s->base, json_string_value(json_object_get(j, "base")), sizeof s->base);
	json_decref(j);
	return 0;
}

static inline void bench_slapd_stop(struct bench_slapd *s)
{
	if (s->pid > 0) {
		kill(s->pid, SIGTERM);
		waitpid(s->pid, NULL, 0);
	}
}

static inline int cmp_i64(const void *a, const void *b)
{
	int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
	return x < y ? -1 : x > y;
}

/* Sorts v and returns the p-th percentile (0..100). */
static inline int64_t bench_pct(int64_t *v, size_t n, double p)
{
	if (!n)
		return 0;
	qsort(v, n, sizeof *v, cmp_i64);
	size_t i = (size_t)(p / 100.0 * (double)(n - 1) + 0.5);
	return v[i];
}

static inline int64_t bench_now_us(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

#endif
