/* SPDX-License-Identifier: ISC */
/*
 * alarm: named, severity-graded events an administrator must see (Unified CM style:
 * EndPointTransientConnection, ...). Each alarm is logged once, at the level that matches
 * its severity, and recorded in a bounded in-memory history that `telgate show alarms`
 * reads. Thread-safe. The module copies everything it is given.
 */
#ifndef TG_ALARM_H
#define TG_ALARM_H

#include "core/log.h"

#include <stddef.h>
#include <stdint.h>

enum alarm_severity {
	ALARM_EMERGENCY = 0,
	ALARM_ALERT,
	ALARM_CRITICAL,
	ALARM_ERROR,
	ALARM_WARNING,
	ALARM_NOTICE,
	ALARM_INFORMATIONAL,
};

#define ALARM_HISTORY 512
#define ALARM_NAME_MAX 64
#define ALARM_FIELDS_MAX 512

struct alarm_rec {
	uint64_t seq;
	int64_t time_s;
	enum alarm_severity severity;
	char name[ALARM_NAME_MAX];
	char cid[256];                 /* a generated id or a SIP Call-ID */
	char fields[ALARM_FIELDS_MAX]; /* "key=value key=value", escaped as in the log */
};

const char *alarm_severity_name(enum alarm_severity sev);

/* Raises an alarm with typed fields (core/log.h), as log_ev logs an event:
 *   alarm_ev("CredentialLockout", ALARM_WARNING, cid, LOG_S("UserID", u), LOG_I("HackCount", n));
 * At most LOG_FIELDS_MAX - 2 fields (the alarm's name and severity take two): more fail to
 * compile. */
#define alarm_ev(name, sev, cid, ...)                                                              \
	alarm_fields(                                                                              \
	    (name), (sev), (cid), (const struct log_field[]){__VA_ARGS__},                         \
	    LOG_NFIELDS_(__VA_ARGS__) +                                                            \
	        0 * sizeof(char[LOG_NFIELDS_(__VA_ARGS__) <= LOG_FIELDS_MAX - 2 ? 1 : -1]))
void alarm_fields(const char *name, enum alarm_severity sev, const char *cid,
                  const struct log_field *f, size_t n);

/* The same with key, value string pairs ended by a NULL key (a NULL value is logged as
 * ""). More pairs than fit: the log line says truncated=fields. */
void alarm_raise(const char *name, enum alarm_severity sev, const char *cid, ...)
    __attribute__((sentinel));

#define ALARM_COUNTS_MAX 64

/* How many times an alarm was raised since the start (the metrics). */
struct alarm_count {
	char name[ALARM_NAME_MAX];
	enum alarm_severity severity;
	uint64_t raised;
};
/* Copies up to max rows (one per alarm name and severity, in first-raised order);
 * returns how many were copied. */
size_t alarm_counts(struct alarm_count *out, size_t max);

/* Copies up to max most recent alarms, newest last; returns how many were copied. */
size_t alarm_history(struct alarm_rec *out, size_t max);

#endif
