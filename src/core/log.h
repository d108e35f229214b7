/* SPDX-License-Identifier: ISC */
/*
 * log: one line per event, correlation id first, as key=value pairs or JSON, to stderr,
 * a file (O_APPEND) or syslog. Thread-safe: any thread may log at any time, and
 * log_configure() may swap the target while others log (used by SIGHUP reload).
 *
 * Values are copied and escaped (control characters, quotes, backslashes) so that a
 * hostile value cannot forge a second line or field. Secrets must never be passed as
 * values; log their length instead.
 */
#ifndef TG_LOG_H
#define TG_LOG_H

#include <stddef.h>

enum log_level {
	LOG_LVL_DEBUG = 0,
	LOG_LVL_INFO,
	LOG_LVL_NOTICE,
	LOG_LVL_WARNING,
	LOG_LVL_ERROR,
	LOG_LVL_CRIT,
};

enum log_format { LOG_FMT_KV = 0, LOG_FMT_JSON };

#define LOG_CID_SIZE 24 /* "xxxxxxxx-xxxxxxxxxxxx" + NUL, with room to spare */
#define LOG_LINE_MAX 8192

int log_parse_level(const char *s, enum log_level *out);
const char *log_level_name(enum log_level lvl);
int log_parse_format(const char *s, enum log_format *out);
/* target: "stderr", "syslog" or "file:/absolute/path". Returns 0, or -1 with err set. */
int log_parse_target(const char *s, char *err, size_t errlen);

/* Applies a configuration; the previous target is closed. Returns 0 or -1 (err set;
 * the previous configuration then stays in force). */
int log_configure(enum log_level lvl, enum log_format fmt, const char *target, char *err,
                  size_t errlen);
int log_enabled(enum log_level lvl);

/* Buffered writing ([log] buffer_ms; nginx's access_log buffer=/flush=): 0 (the default)
 * writes every line at once; ms > 0 lets a thread that asked for it (log_thread_buffer:
 * the event loops) keep lines of level info and debug in a 64 KiB buffer of its own,
 * written whole when it would overflow, when its oldest line is ms old, at
 * log_thread_flush (each loop calls it every ms) and before any line of level notice or
 * above, which is never delayed. The cost saved: one write(2) per line on the hot path
 * of every request (an access line per HTTP request, one per TFTP transfer). The price:
 * a crash loses up to ms of info lines, and lines from different threads may reach the
 * file up to ms apart from their order (each line's timestamp is its own). Not for
 * syslog targets. Set before the threads start. */
void log_set_buffering(int ms);
int log_buffering(void);
/* The calling thread buffers (on) or stops, writing what it holds (off). */
void log_thread_buffer(int on);
/* Writes what the calling thread has buffered. */
void log_thread_flush(void);
/* on: the calling thread's lines of level info and debug wait in its buffer (as above,
 * whatever buffer_ms says) until log_thread_hold(0) writes them in one write(2): for a
 * thread that logs a burst at once (the OAuth committer: a line per grant of a batch). */
void log_thread_hold(int on);

/* Typed fields: numbers are formatted by the logger, not into a temporary buffer at the
 * call site. A string field whose value is NULL is left out.
 *   log_ev(LOG_LVL_INFO, cid, "sip_registered", LOG_S("device", dev), LOG_I("bindings", n));
 * At most LOG_FIELDS_MAX fields: more fail to compile (a negative array size). At least
 * one field (use log_event for none). */
#define LOG_FIELDS_MAX 32
enum log_ftype { LOG_FT_STR = 0, LOG_FT_INT, LOG_FT_UINT };
struct log_field {
	const char *key;
	enum log_ftype type;
	const char *s;
	long long i;
	unsigned long long u;
};
#define LOG_S(k, v) ((struct log_field){.key = (k), .type = LOG_FT_STR, .s = (v)})
#define LOG_I(k, v) ((struct log_field){.key = (k), .type = LOG_FT_INT, .i = (long long)(v)})
#define LOG_U(k, v)                                                                                \
	((struct log_field){.key = (k), .type = LOG_FT_UINT, .u = (unsigned long long)(v)})
/* A number logged only when cond holds; otherwise the field is left out (as a NULL
 * string is), e.g. a warning period that applies to successful logins only. */
#define LOG_I_IF(cond, k, v) ((cond) ? LOG_I(k, v) : LOG_S(k, NULL))
#define LOG_NFIELDS_(...) (sizeof((struct log_field[]){__VA_ARGS__}) / sizeof(struct log_field))
#define log_ev(lvl, cid, event, ...)                                                               \
	log_fields((lvl), (cid), (event), (const struct log_field[]){__VA_ARGS__},                 \
	           LOG_NFIELDS_(__VA_ARGS__) +                                                     \
	               0 * sizeof(char[LOG_NFIELDS_(__VA_ARGS__) <= LOG_FIELDS_MAX ? 1 : -1]))

/* What log_ev calls: n fields. More than LOG_FIELDS_MAX (possible only by calling it
 * directly) logs the first ones and the field truncated=fields. */
void log_fields(enum log_level lvl, const char *cid, const char *event, const struct log_field *f,
                size_t n);

/* Logs one event. The variadic part is key, value pairs of const char *, ended by a
 * NULL key. A pair whose value is NULL is left out. cid may be NULL ("-"). More than
 * LOG_FIELDS_MAX pairs: the first ones and truncated=fields (never silently). */
void log_event(enum log_level lvl, const char *cid, const char *event, ...)
    __attribute__((sentinel));

/* Formats one line (without the trailing newline) into out; used by log_event and
 * tests. Returns the length written. kv is an array of 2*nkv strings. */
size_t log_format_line(enum log_format fmt, enum log_level lvl, const char *cid, const char *event,
                       const char *const *kv, size_t nkv, char *out, size_t cap);
/* The same from typed fields, with log_fields' rules (NULL strings left out, more than
 * LOG_FIELDS_MAX said with truncated=fields); the alarm history records lines this way. */
size_t log_format_fields(enum log_format fmt, enum log_level lvl, const char *cid,
                         const char *event, const struct log_field *f, size_t n, char *out,
                         size_t cap);

/* A new correlation id, unique within this process and unlikely to repeat across
 * restarts (random per-process prefix, then a counter). */
void log_cid_new(char out[LOG_CID_SIZE]);

#endif
