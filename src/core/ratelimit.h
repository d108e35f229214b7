/* SPDX-License-Identifier: ISC */
/*
 * ratelimit: keyed failure counters in a fixed number of slots — "has this key failed
 * max times or more in its current window of window_s seconds?" — and a "once per
 * window" gate for log lines about a key. The SIP registrar's per-source throttle
 * (sip.source_failures_max a minute per source address) is the first user; any listener
 * that must slow down a guessing peer can use it.
 *
 * A key's slot is chosen by SipHash (libsodium crypto_shorthash) under a random key made
 * at creation: with an unkeyed hash, two keys that share a slot could be found offline
 * and used in turn to reset each other's count. A slot holds one key; a key that lands on
 * a slot held by another takes it over with fresh counts (the newest key wins). So memory
 * is fixed (slots x ~90 bytes) whatever the number of keys, and a key that loses its slot
 * loses its count: the cost of bounding memory under a flood of addresses.
 *
 * Windows are fixed, not sliding: a window starts at the first check after the previous
 * one ended, and the count restarts with it.
 *
 * Threads: any; one mutex guards the slots. Ownership: the caller frees with
 * tg_ratelimit_free. Keys are copied (at most TG_RATELIMIT_KEY_MAX - 1 bytes are
 * significant). Times are seconds (tg_now_s()).
 */
#ifndef TG_CORE_RATELIMIT_H
#define TG_CORE_RATELIMIT_H

#include <stddef.h>
#include <stdint.h>

#define TG_RATELIMIT_KEY_MAX 64

struct tg_ratelimit;

/* slots: the number of keys tracked at once (> 0); window_s: the window in seconds (> 0);
 * max: failures in one window from which the key is over the limit, 0 = no limit (nothing
 * is counted, tg_ratelimit_check always says 0). Returns NULL when out of memory or an
 * argument is out of range. */
struct tg_ratelimit *tg_ratelimit_new(size_t slots, int window_s, int max);
void tg_ratelimit_free(struct tg_ratelimit *rl);

/* Counts one failure for key when failed is set, then returns 1 when the key has max
 * failures or more in its current window, 0 otherwise (also when max is 0). */
int tg_ratelimit_check(struct tg_ratelimit *rl, const char *key, int64_t now_s, int failed);

/* 1 at most once per window_s per key (the first call, then the first after window_s
 * seconds), else 0: for log lines about a key that may repeat at line rate. Works when
 * max is 0 too. */
int tg_ratelimit_due(struct tg_ratelimit *rl, const char *key, int64_t now_s);

#endif
