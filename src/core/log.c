/* SPDX-License-Identifier: ISC */
#include "core/log.h"
#include "core/util.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>

enum target_kind { TGT_STDERR, TGT_FILE, TGT_SYSLOG };

static pthread_rwlock_t lk = PTHREAD_RWLOCK_INITIALIZER;
static struct {
	enum log_level level;
	enum log_format fmt;
	enum target_kind kind;
	int fd;
} cur = {LOG_LVL_INFO, LOG_FMT_KV, TGT_STDERR, 2};

static const char *level_names[] = {"debug", "info", "notice", "warning", "error", "crit"};

/* Buffered lines (log_set_buffering): per thread that asked for it, written by
 * log_thread_flush, when the buffer would overflow, when a line is older than the
 * period, and before any line of level notice or above (so that those are never
 * delayed and the order within a thread holds). */
#define LOG_BUFFER_BYTES 65536
static _Atomic int buffer_ms;
struct tbuf {
	int on;
	size_t len;
	int64_t first_us; /* when the oldest buffered line was added */
	char data[LOG_BUFFER_BYTES];
};
static _Thread_local struct tbuf *tb;
static _Thread_local int held; /* log_thread_hold */

static int64_t mono_us(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC_COARSE, &ts);
	return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

int log_parse_level(const char *s, enum log_level *out)
{
	for (size_t i = 0; i < sizeof level_names / sizeof level_names[0]; i++)
		if (strcmp(s, level_names[i]) == 0) {
			*out = (enum log_level)i;
			return 0;
		}
	return -1;
}

const char *log_level_name(enum log_level lvl)
{
	return (unsigned)lvl < 6 ? level_names[lvl] : "?";
}

int log_parse_format(const char *s, enum log_format *out)
{
	if (strcmp(s, "kv") == 0)
		*out = LOG_FMT_KV;
	else if (strcmp(s, "json") == 0)
		*out = LOG_FMT_JSON;
	else
		return -1;
	return 0;
}

int log_parse_target(const char *s, char *err, size_t errlen)
{
	if (strcmp(s, "stderr") == 0 || strcmp(s, "syslog") == 0)
		return 0;
	if (strncmp(s, "file:", 5) == 0 && s[5] == '/')
		return 0;
	snprintf(err, errlen, "log target must be stderr, syslog or file:/absolute/path");
	return -1;
}

int log_configure(enum log_level lvl, enum log_format fmt, const char *target, char *err,
                  size_t errlen)
{
	if (log_parse_target(target, err, errlen) != 0)
		return -1;
	enum target_kind kind = TGT_STDERR;
	int fd = 2;
	if (strncmp(target, "file:", 5) == 0) {
		fd = open(target + 5, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0640);
		if (fd < 0) {
			snprintf(err, errlen, "cannot open log file %s: %s", target + 5,
			         strerror(errno));
			return -1;
		}
		kind = TGT_FILE;
	} else if (strcmp(target, "syslog") == 0) {
		kind = TGT_SYSLOG;
		openlog("telgated", LOG_PID | LOG_NDELAY, LOG_DAEMON);
	}
	pthread_rwlock_wrlock(&lk);
	if (cur.kind == TGT_FILE && cur.fd > 2)
		close(cur.fd);
	if (cur.kind == TGT_SYSLOG && kind != TGT_SYSLOG)
		closelog();
	cur.level = lvl;
	cur.fmt = fmt;
	cur.kind = kind;
	cur.fd = fd;
	pthread_rwlock_unlock(&lk);
	return 0;
}

int log_enabled(enum log_level lvl)
{
	pthread_rwlock_rdlock(&lk);
	int on = lvl >= cur.level;
	pthread_rwlock_unlock(&lk);
	return on;
}

struct out {
	char *p;
	size_t len, cap;
	int truncated;
};

static void put(struct out *o, const char *s, size_t n)
{
	/* Keep 1 byte for the newline the writer adds and 1 for NUL. */
	if (o->len + n + 2 > o->cap) {
		n = o->cap > o->len + 2 ? o->cap - o->len - 2 : 0;
		o->truncated = 1;
	}
	memcpy(o->p + o->len, s, n);
	o->len += n;
	o->p[o->len] = '\0';
}

static void puts_(struct out *o, const char *s)
{
	put(o, s, strlen(s));
}

static int needs_quotes(const char *v)
{
	if (!*v)
		return 1;
	for (const unsigned char *p = (const unsigned char *)v; *p; p++)
		if (*p <= ' ' || *p == '"' || *p == '=' || *p == '\\' || *p == 0x7f)
			return 1;
	return 0;
}

/* Escapes for both formats: JSON escapes are a superset of what kv quoting needs. */
static void put_escaped(struct out *o, const char *v)
{
	char tmp[8];
	for (const unsigned char *p = (const unsigned char *)v; *p; p++) {
		switch (*p) {
		case '"':
			puts_(o, "\\\"");
			break;
		case '\\':
			puts_(o, "\\\\");
			break;
		case '\n':
			puts_(o, "\\n");
			break;
		case '\r':
			puts_(o, "\\r");
			break;
		case '\t':
			puts_(o, "\\t");
			break;
		default:
			if (*p < 0x20 || *p == 0x7f) {
				snprintf(tmp, sizeof tmp, "\\u%04x", *p);
				puts_(o, tmp);
			} else {
				put(o, (const char *)p, 1);
			}
		}
	}
}

static void put_kv(struct out *o, enum log_format fmt, int first, const char *k, const char *v)
{
	if (!v)
		v = "";
	if (fmt == LOG_FMT_JSON) {
		puts_(o, first ? "{\"" : ",\"");
		put_escaped(o, k);
		puts_(o, "\":\"");
		put_escaped(o, v);
		puts_(o, "\"");
		return;
	}
	if (!first)
		puts_(o, " ");
	puts_(o, k);
	puts_(o, "=");
	if (needs_quotes(v)) {
		puts_(o, "\"");
		put_escaped(o, v);
		puts_(o, "\"");
	} else {
		puts_(o, v);
	}
}

/* The line's time, "YYYY-MM-DDTHH:MM:SS.mmmZ" (UTC), into ts (at least 48 bytes). The
 * part up to the seconds is formatted once a second per thread (gmtime_r and strftime
 * cost more than the rest of a short line). */
static void timestamp(char *ts)
{
	static _Thread_local time_t sec = (time_t)-1;
	static _Thread_local char head[40];
	static _Thread_local size_t headlen;
	struct timespec now;
	clock_gettime(CLOCK_REALTIME, &now);
	if (now.tv_sec != sec) {
		struct tm tm;
		gmtime_r(&now.tv_sec, &tm);
		headlen = strftime(head, sizeof head, "%Y-%m-%dT%H:%M:%S", &tm);
		sec = now.tv_sec;
	}
	memcpy(ts, head, headlen);
	char ms[4] = "000";
	char *b = tg_utoa_end(ms + 3, (unsigned long long)(now.tv_nsec / 1000000));
	while (b > ms)
		*--b = '0';
	ts[headlen] = '.';
	memcpy(ts + headlen + 1, ms, 3);
	memcpy(ts + headlen + 4, "Z", 2);
}

size_t log_format_line(enum log_format fmt, enum log_level lvl, const char *cid, const char *event,
                       const char *const *kv, size_t nkv, char *out, size_t cap)
{
	struct out o = {out, 0, cap, 0};
	char ts[48];
	timestamp(ts);
	out[0] = '\0';
	put_kv(&o, fmt, 1, "cid", cid ? cid : "-");
	put_kv(&o, fmt, 0, "ts", ts);
	put_kv(&o, fmt, 0, "level", log_level_name(lvl));
	put_kv(&o, fmt, 0, "event", event);
	for (size_t i = 0; i < nkv; i++)
		if (kv[2 * i + 1]) /* a NULL value means "nothing to say": omit the key */
			put_kv(&o, fmt, 0, kv[2 * i], kv[2 * i + 1]);
	if (o.truncated) {
		/* Make room for a well-formed ending that says what happened. */
		const char *tail = fmt == LOG_FMT_JSON ? ",\"truncated\":\"1\"}" : " truncated=1";
		size_t tl = strlen(tail);
		if (o.len + tl + 2 > cap)
			o.len = cap - tl - 2;
		memcpy(out + o.len, tail, tl + 1);
		return o.len + tl;
	}
	if (fmt == LOG_FMT_JSON)
		puts_(&o, "}");
	return o.len;
}

static int syslog_prio(enum log_level lvl)
{
	static const int map[] = {LOG_DEBUG, LOG_INFO, LOG_NOTICE, LOG_WARNING, LOG_ERR, LOG_CRIT};
	return (unsigned)lvl < 6 ? map[lvl] : LOG_ERR;
}

static void emit_kv(enum log_level lvl, const char *cid, const char *event, const char *const *kv,
                    size_t nkv);

void log_event(enum log_level lvl, const char *cid, const char *event, ...)
{
	const char *kv[64];
	size_t nkv = 0;
	va_list ap;
	va_start(ap, event);
	for (;;) {
		const char *k = va_arg(ap, const char *);
		if (!k)
			break;
		const char *v = va_arg(ap, const char *);
		if (nkv < LOG_FIELDS_MAX) {
			kv[2 * nkv] = k;
			kv[2 * nkv + 1] = v;
			nkv++;
		} else {
			kv[2 * (LOG_FIELDS_MAX - 1)] = "truncated";
			kv[2 * (LOG_FIELDS_MAX - 1) + 1] = "fields";
		}
	}
	va_end(ap);
	emit_kv(lvl, cid, event, kv, nkv);
}

/* Typed fields as key, value strings for the formatter; numbers are printed into num.
 * More than LOG_FIELDS_MAX: the last slot says truncated=fields. Returns the pairs. */
static size_t fields_to_kv(const struct log_field *f, size_t n, const char *kv[2 * LOG_FIELDS_MAX],
                           char num[LOG_FIELDS_MAX][24])
{
	size_t nkv = 0;
	for (size_t i = 0; i < n; i++) {
		if (nkv == LOG_FIELDS_MAX) {
			kv[2 * (nkv - 1)] = "truncated";
			kv[2 * (nkv - 1) + 1] = "fields";
			break;
		}
		const char *v = f[i].s;
		char *end = num[nkv] + sizeof num[nkv] - 1;
		*end = '\0';
		if (f[i].type == LOG_FT_INT) {
			long long x = f[i].i;
			char *b = tg_utoa_end(end, x < 0 ? 0ULL - (unsigned long long)x
			                                 : (unsigned long long)x);
			if (x < 0)
				*--b = '-';
			v = b;
		} else if (f[i].type == LOG_FT_UINT) {
			v = tg_utoa_end(end, f[i].u);
		}
		kv[2 * nkv] = f[i].key;
		kv[2 * nkv + 1] = v;
		nkv++;
	}
	return nkv;
}

size_t log_format_fields(enum log_format fmt, enum log_level lvl, const char *cid,
                         const char *event, const struct log_field *f, size_t n, char *out,
                         size_t cap)
{
	const char *kv[2 * LOG_FIELDS_MAX];
	char num[LOG_FIELDS_MAX][24];
	size_t nkv = fields_to_kv(f, n, kv, num);
	return log_format_line(fmt, lvl, cid, event, kv, nkv, out, cap);
}

void log_fields(enum log_level lvl, const char *cid, const char *event, const struct log_field *f,
                size_t n)
{
	if (!log_enabled(lvl))
		return; /* no formatting for lines nobody writes */
	const char *kv[2 * LOG_FIELDS_MAX];
	char num[LOG_FIELDS_MAX][24];
	size_t nkv = fields_to_kv(f, n, kv, num);
	emit_kv(lvl, cid, event, kv, nkv);
}

/* One write of whole lines, so that concurrent writers never interleave (O_APPEND). With
 * the read lock held. */
static void write_lines(const char *p, size_t n)
{
	while (n) {
		ssize_t w = write(cur.fd, p, n);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return; /* nowhere to say it */
		p += w;
		n -= (size_t)w;
	}
}

/* With the read lock held. */
static void flush_locked(void)
{
	if (tb && tb->len) {
		if (cur.kind != TGT_SYSLOG)
			write_lines(tb->data, tb->len);
		tb->len = 0;
	}
}

void log_set_buffering(int ms)
{
	buffer_ms = ms > 0 ? ms : 0;
}

int log_buffering(void)
{
	return buffer_ms;
}

void log_thread_buffer(int on)
{
	if (!on || !buffer_ms) {
		log_thread_flush();
		free(tb);
		tb = NULL;
		return;
	}
	if (!tb)
		tb = calloc(1, sizeof *tb);
}

void log_thread_hold(int on)
{
	if (on && !tb)
		tb = calloc(1, sizeof *tb); /* kept for the thread's next hold */
	held = on && tb;
	if (!on)
		log_thread_flush();
}

void log_thread_flush(void)
{
	if (!tb || !tb->len)
		return;
	pthread_rwlock_rdlock(&lk);
	flush_locked();
	pthread_rwlock_unlock(&lk);
}

static void emit_kv(enum log_level lvl, const char *cid, const char *event, const char *const *kv,
                    size_t nkv)
{
	pthread_rwlock_rdlock(&lk);
	if (lvl < cur.level) {
		pthread_rwlock_unlock(&lk);
		return;
	}
	char line[LOG_LINE_MAX];
	size_t n = log_format_line(cur.fmt, lvl, cid, event, kv, nkv, line, sizeof line);
	if (cur.kind == TGT_SYSLOG) {
		syslog(syslog_prio(lvl), "%s", line);
	} else if (tb && lvl < LOG_LVL_NOTICE) {
		line[n++] = '\n';
		if (tb->len + n > sizeof tb->data)
			flush_locked();
		if (!tb->len)
			tb->first_us = mono_us();
		memcpy(tb->data + tb->len, line, n);
		tb->len += n;
		if (!held && mono_us() - tb->first_us >= (int64_t)buffer_ms * 1000)
			flush_locked();
	} else {
		line[n++] = '\n';
		flush_locked(); /* what this thread logged before comes first */
		write_lines(line, n);
	}
	pthread_rwlock_unlock(&lk);
}

static uint32_t cid_prefix;
static pthread_once_t cid_once = PTHREAD_ONCE_INIT;

static void cid_init(void)
{
	if (getrandom(&cid_prefix, sizeof cid_prefix, 0) != (ssize_t)sizeof cid_prefix)
		cid_prefix = (uint32_t)getpid() ^ (uint32_t)time(NULL);
}

void log_cid_new(char out[LOG_CID_SIZE])
{
	static _Atomic uint64_t counter;
	pthread_once(&cid_once, cid_init);
	uint64_t n = atomic_fetch_add(&counter, 1) + 1;
	snprintf(out, LOG_CID_SIZE, "%08" PRIx32 "-%012" PRIx64, cid_prefix,
	         (uint64_t)(n & 0xffffffffffffULL));
}
