/* SPDX-License-Identifier: ISC */
/*
 * util: small helpers shared by every subsystem: bounded string copy, time, paths.
 * All functions are thread-safe and allocate nothing unless stated.
 */
#ifndef TG_UTIL_H
#define TG_UTIL_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

/* Copies src into dst (capacity cap bytes), always NUL-terminating when cap > 0.
 * Reads at most cap bytes of src: a src with no NUL among them is copied truncated,
 * never read past (a fixed-size field whose string filled it cannot make this overread).
 * Returns 0, or -1 when src did not fit (dst then holds a truncated copy) or cap is 0
 * (nothing written). */
int tg_strlcpy(char *dst, const char *src, size_t cap);

/* Writes u's decimal digits (what "%llu" writes) to the bytes just before end, without a
 * NUL, and returns where they begin: at most 20 bytes. For hot paths (a log line's
 * numbers, a TFTP OACK), where snprintf's format parsing showed in profiles. */
char *tg_utoa_end(char *end, unsigned long long u);

/* Wall clock in milliseconds / seconds since the epoch. */
int64_t tg_now_ms(void);
int64_t tg_now_s(void);
/* Monotonic clock in milliseconds. */
int64_t tg_mono_ms(void);
/* Monotonic microseconds (CLOCK_MONOTONIC). */
int64_t tg_mono_us(void);
/* Monotonic milliseconds read now, whatever tg_clock_hold says: for deadlines and any
 * loop that waits for time to pass (a held clock would never reach its deadline). */
int64_t tg_mono_ms_live(void);

/* Holds the calling thread's clock for one batch of work (the requests of one read,
 * issue 22: a REGISTER read the clock 3-4 times, each a vDSO call): between
 * tg_clock_hold and the matching tg_clock_release, the four functions above return the
 * time read at their first call in the hold (each clock is read once, when first
 * asked). Nests: the outermost release lets go. Only for work that must not see time
 * pass within it and that does not wait (a frame handler measuring how long something
 * took would read 0): stream_listener_options.hold_clock asks it per read. A deadline
 * reads tg_mono_ms_live, which a hold does not stop. Per thread; other threads are not
 * affected. */
void tg_clock_hold(void);
void tg_clock_release(void);

/* FNV-1a of n bytes, or of a NUL-terminated string: for spreading keys over hash buckets
 * (not for anything a peer could aim at: use a keyed hash there). */
uint32_t tg_fnv1a(const void *p, size_t n);
uint32_t tg_fnv1a_str(const char *s);

/* Formats epoch seconds as an ISO-8601 UTC string ("2026-11-22T19:00:00Z"). */
void tg_fmt_time(int64_t epoch_s, char *out, size_t cap);

/* Creates directory path with the given mode if it does not exist; an existing
 * directory is accepted as it is. Returns 0 or -errno. */
int tg_mkdir_p(const char *path, unsigned mode);

/* Reads a whole file into a new NUL-terminated buffer (caller frees) of at most max
 * bytes. Returns 0, -errno, or -EFBIG when the file is larger than max. */
int tg_read_file(const char *path, size_t max, char **out, size_t *len);

/* Reads a secret (a password, a connection string) from a regular file that only its owner
 * may read (mode 0600 or 0400: any group or other bit is refused, so a copy left readable
 * is noticed at start, not after it leaked). One trailing newline is dropped. what names the
 * setting in err ("ldap.bind_password_file"). out (cap bytes) is wiped on failure. Returns 0,
 * or -1 with err (never holding the secret). */
int tg_read_secret_file(const char *what, const char *path, char *out, size_t cap, size_t *len,
                        char *err, size_t errlen);

/* Replaces path with len bytes through path.tmp (created with mode, O_NOFOLLOW), fsync and
 * rename, so a reader or a crash sees the old file or the new one, never half of one.
 * Returns 0 or -errno (path.tmp is removed). */
int tg_write_file_atomic(const char *path, const void *data, size_t len, unsigned mode);

/* Sets the calling thread's nice value (Linux keeps one per thread, so the other threads
 * of the process keep theirs): work that must yield to call processing runs at a higher
 * value. Raising it needs no privilege. Returns 0 or -errno. */
int tg_thread_nice(int nice);

/* Names the calling thread (at most 15 bytes are kept) as top, perf and /proc/PID/task
 * show it: "main", "loop-0", "worker": a benchmark can tell which part of the process
 * spent the CPU. Best effort: nothing happens where Linux's prctl is missing. */
void tg_thread_name(const char *name);

struct sockaddr;
/* The dotted quad of an IPv4 address (what inet_ntop writes) into out (at least 16 bytes),
 * NUL-terminated; returns where the NUL is. inet_ntop's sprintf showed per request in
 * the registrar's profile (the received parameter of every Via). */
char *tg_ipv4_str(const unsigned char a[4], char *out);
/* "host:port" of an IPv4/IPv6 socket address ("?:0" for other families). */
void tg_sockaddr_str(const struct sockaddr *sa, char *out, size_t cap);

/* A bounded string builder over the caller's buffer: appends while it fits, and once
 * something did not fit it stays failed (tg_sbuf_len gives -1), so a builder never
 * returns a cut message. */
struct tg_sbuf {
	char *p;
	size_t cap, len;
	int bad;
};
/* The first l bytes of s (no NUL among them). Inline, as tg_sbuf_put, with the length
 * of a literal known at compile time (issue 22: a call and a strlen per piece were a
 * share of every answer built on the registrar's loop). */
static inline void tg_sbuf_putn(struct tg_sbuf *b, const char *s, size_t l)
{
	if (b->bad || b->len + l >= b->cap) {
		b->bad = 1;
		return;
	}
	memcpy(b->p + b->len, s, l);
	b->p[b->len + l] = '\0';
	b->len += l;
}
static inline void tg_sbuf_put(struct tg_sbuf *b, const char *s)
{
	tg_sbuf_putn(b, s, strlen(s));
}
int tg_sbuf_len(const struct tg_sbuf *b);

#endif
