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

/* Options whose value is a secret: the value is recorded as "(redacted)", whatever
 * form it takes ("--auth-string S" or "--auth-string=S"). */
static const char *const secret_options[] = {"--auth-string"};
#define REDACTED "(redacted)"

/* The option name when w is a secret option written "--name=value", else NULL. */
static const char *secret_with_value(const char *w, size_t *namelen)
{
	for (size_t i = 0; i < sizeof secret_options / sizeof secret_options[0]; i++) {
		size_t n = strlen(secret_options[i]);
		if (strncmp(w, secret_options[i], n) == 0 && w[n] == '=') {
			*namelen = n;
			return secret_options[i];
		}
	}
	return NULL;
}

static int is_secret_option(const char *w)
{
	for (size_t i = 0; i < sizeof secret_options / sizeof secret_options[0]; i++)
		if (strcmp(w, secret_options[i]) == 0)
			return 1;
	return 0;
}

/* The words joined by spaces, a word with a space or a quote in double quotes, secrets
 * redacted. */
static void join_words(int argc, const char *const *argv, char *out, size_t cap)
{
	size_t used = 0;
	out[0] = '\0';
	char eq[64];
	for (int i = 0; i < argc && used + 1 < cap; i++) {
		const char *w = argv[i];
		size_t nl = 0;
		if (i > 0 && is_secret_option(argv[i - 1]))
			w = REDACTED;
		else if (secret_with_value(w, &nl)) {
			snprintf(eq, sizeof eq, "%.*s=" REDACTED, (int)nl, w);
			w = eq;
		}
		int quote = strpbrk(w, " \t\"") != NULL || !w[0];
		int n = snprintf(out + used, cap - used, "%s%s%s%s", i ? " " : "",
		                 quote ? "\"" : "", w, quote ? "\"" : "");
		if (n < 0)
			break;
		used += (size_t)n < cap - used ? (size_t)n : cap - used - 1;
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
