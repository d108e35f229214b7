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

/* At most this many of the caller's fields, so that the alarm's own two (alarm, severity)
 * still fit in one log line's LOG_FIELDS_MAX. */
#define ALARM_CALLER_FIELDS (LOG_FIELDS_MAX - 2)

void alarm_fields(const char *name, enum alarm_severity sev, const char *cid,
                  const struct log_field *f, size_t n)
{
	/* One more slot than the log takes, so that a caller who passed too many is told
	 * (truncated=fields), never cut silently. */
	struct log_field all[LOG_FIELDS_MAX + 1];
	size_t k = 0;
	all[k++] = LOG_S("alarm", name);
	all[k++] = LOG_S("severity", alarm_severity_name(sev));
	for (size_t i = 0; i < n && k < LOG_FIELDS_MAX + 1; i++)
		all[k++] = f[i];

	/* The record keeps the caller's fields as the log line has them (escaping, and a
	 * truncated=fields when there were too many), so what the admin sees in `show alarms`
	 * matches the log byte for byte: they follow the severity, whose names have no
	 * spaces. */
	char line[LOG_LINE_MAX];
	log_format_fields(LOG_FMT_KV, sev_to_level(sev), cid, "alarm", all, k, line, sizeof line);
	const char *fields = strstr(line, " severity=");
	fields = fields ? strchr(fields + 1, ' ') : NULL;
	fields = fields ? fields + 1 : "";

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

	log_fields(sev_to_level(sev), cid, "alarm", all, k);
}

void alarm_raise(const char *name, enum alarm_severity sev, const char *cid, ...)
{
	struct log_field f[ALARM_CALLER_FIELDS + 1];
	size_t n = 0;
	va_list ap;
	va_start(ap, cid);
	for (;;) {
		const char *k = va_arg(ap, const char *);
		if (!k)
			break;
		const char *v = va_arg(ap, const char *);
		if (n < ALARM_CALLER_FIELDS + 1) /* the extra one makes the log say truncated */
			f[n++] = LOG_S(k, v ? v : "");
	}
	va_end(ap);
	alarm_fields(name, sev, cid, f, n);
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
