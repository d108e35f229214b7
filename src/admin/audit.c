/* SPDX-License-Identifier: ISC */
#include "admin/audit.h"
#include "core/log.h"
#include "core/util.h"

#include <pthread.h>
#include <stdio.h>
#include <string.h>

static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static struct audit_rec ring[AUDIT_HISTORY];
static uint64_t count; /* records ever made */

/* The words joined by spaces, a word with a space or a quote in double quotes. */
static void join_words(int argc, const char *const *argv, char *out, size_t cap)
{
	size_t used = 0;
	out[0] = '\0';
	for (int i = 0; i < argc && used + 1 < cap; i++) {
		int quote = strpbrk(argv[i], " \t\"") != NULL || !argv[i][0];
		int w = snprintf(out + used, cap - used, "%s%s%s%s", i ? " " : "",
		                 quote ? "\"" : "", argv[i], quote ? "\"" : "");
		if (w < 0)
			break;
		used += (size_t)w < cap - used ? (size_t)w : cap - used - 1;
	}
}

void audit_record(long uid, long pid, int argc, const char *const *argv, int ok, const char *error,
                  const char *cid)
{
	struct audit_rec r;
	memset(&r, 0, sizeof r);
	r.time_s = tg_now_s();
	r.uid = uid;
	r.pid = pid;
	r.ok = ok;
	join_words(argc, argv, r.cmd, sizeof r.cmd);
	tg_strlcpy(r.error, error ? error : "", sizeof r.error);
	tg_strlcpy(r.cid, cid ? cid : "-", sizeof r.cid);
	log_ev(ok ? LOG_LVL_NOTICE : LOG_LVL_WARNING, r.cid, "admin_audit", LOG_I("uid", uid),
	       LOG_I("pid", pid), LOG_S("command", r.cmd), LOG_S("result", ok ? "ok" : "error"),
	       LOG_S("error", error));
	pthread_mutex_lock(&mu);
	ring[count % AUDIT_HISTORY] = r;
	count++;
	pthread_mutex_unlock(&mu);
}

size_t audit_history(struct audit_rec *out, size_t max)
{
	pthread_mutex_lock(&mu);
	size_t have = count < AUDIT_HISTORY ? (size_t)count : AUDIT_HISTORY;
	size_t n = have < max ? have : max;
	for (size_t i = 0; i < n; i++)
		out[i] = ring[(count - n + i) % AUDIT_HISTORY];
	pthread_mutex_unlock(&mu);
	return n;
}
