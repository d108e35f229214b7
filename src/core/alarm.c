/* SPDX-License-Identifier: ISC */
#include "core/alarm.h"
#include "core/log.h"
#include "core/util.h"

#include <pthread.h>
#include <stdarg.h>
#include <string.h>

static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static struct alarm_rec ring[ALARM_HISTORY];
static uint64_t next_seq = 1;
/* Alarms raised since the start, by name and severity (the metrics); past
 * ALARM_COUNTS_MAX - 1 names, the rest share the last row, named "other" (telgated
 * raises a handful of names: the bound only keeps a bug from growing the table). */
static struct alarm_count counts[ALARM_COUNTS_MAX];
static size_t ncounts;

static void count(const char *name, enum alarm_severity sev)
{
	size_t i = 0;
	while (i < ncounts && !(counts[i].severity == sev && strcmp(counts[i].name, name) == 0))
		i++;
	if (i == ncounts && ncounts < ALARM_COUNTS_MAX - 1) {
		tg_strlcpy(counts[i].name, name, sizeof counts[i].name);
		counts[i].severity = sev;
		ncounts++;
	} else if (i == ncounts) {
		/* The last row: every further name, labelled with the first one's severity. */
		i = ALARM_COUNTS_MAX - 1;
		if (ncounts < ALARM_COUNTS_MAX) {
			tg_strlcpy(counts[i].name, "other", sizeof counts[i].name);
			counts[i].severity = sev;
			ncounts = ALARM_COUNTS_MAX;
		}
	}
	counts[i].raised++;
}

static const char *sev_names[] = {"Emergency", "Alert",  "Critical",     "Error",
                                  "Warning",   "Notice", "Informational"};

const char *alarm_severity_name(enum alarm_severity sev)
{
	return (unsigned)sev <= ALARM_INFORMATIONAL ? sev_names[sev] : "?";
}

static enum log_level sev_to_level(enum alarm_severity sev)
{
	if (sev <= ALARM_CRITICAL)
		return LOG_LVL_CRIT;
	if (sev == ALARM_ERROR)
		return LOG_LVL_ERROR;
	if (sev == ALARM_WARNING)
		return LOG_LVL_WARNING;
	return sev == ALARM_NOTICE ? LOG_LVL_NOTICE : LOG_LVL_INFO;
}

void alarm_raise(const char *name, enum alarm_severity sev, const char *cid, ...)
{
	const char *kv[2 * 24 + 4];
	size_t nkv = 0;
	kv[0] = "alarm";
	kv[1] = name;
	kv[2] = "severity";
	kv[3] = alarm_severity_name(sev);
	nkv = 2;
	va_list ap;
	va_start(ap, cid);
	for (;;) {
		const char *k = va_arg(ap, const char *);
		if (!k)
			break;
		const char *v = va_arg(ap, const char *);
		if (nkv < 26) {
			kv[2 * nkv] = k;
			kv[2 * nkv + 1] = v ? v : "";
			nkv++;
		}
	}
	va_end(ap);

	/* The record keeps the caller's fields in the log's own kv escaping, so what the
	 * admin sees in `show alarms` matches the log line byte for byte. */
	char line[LOG_LINE_MAX];
	log_format_line(LOG_FMT_KV, sev_to_level(sev), cid, "alarm", kv + 4, nkv - 2, line,
	                sizeof line);
	const char *fields = strstr(line, " event=alarm");
	fields = fields ? fields + strlen(" event=alarm") : "";
	while (*fields == ' ')
		fields++;

	pthread_mutex_lock(&mu);
	struct alarm_rec *r = &ring[(next_seq - 1) % ALARM_HISTORY];
	r->seq = next_seq++;
	r->time_s = tg_now_s();
	r->severity = sev;
	tg_strlcpy(r->name, name, sizeof r->name);
	tg_strlcpy(r->cid, cid ? cid : "-", sizeof r->cid);
	tg_strlcpy(r->fields, fields, sizeof r->fields);
	count(name, sev);
	pthread_mutex_unlock(&mu);

	log_event_kv(sev_to_level(sev), cid, "alarm", kv, nkv);
}

size_t alarm_history(struct alarm_rec *out, size_t max)
{
	pthread_mutex_lock(&mu);
	uint64_t total = next_seq - 1;
	size_t have = total < ALARM_HISTORY ? (size_t)total : ALARM_HISTORY;
	size_t n = have < max ? have : max;
	for (size_t i = 0; i < n; i++) {
		uint64_t seq = total - n + 1 + i;
		out[i] = ring[(seq - 1) % ALARM_HISTORY];
	}
	pthread_mutex_unlock(&mu);
	return n;
}

size_t alarm_counts(struct alarm_count *out, size_t max)
{
	pthread_mutex_lock(&mu);
	size_t n = ncounts < max ? ncounts : max;
	memcpy(out, counts, n * sizeof *out);
	pthread_mutex_unlock(&mu);
	return n;
}
