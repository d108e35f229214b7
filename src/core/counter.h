/* SPDX-License-Identifier: ISC */
/*
 * counter: statistics counters that any thread may bump and read without a lock (C11
 * atomics). Relaxed ordering: a counter orders no other memory, and a reader may see a
 * value a moment old, which is all a statistic needs. Flags that publish state use
 * acquire/release at their own call sites instead.
 */
#ifndef TG_COUNTER_H
#define TG_COUNTER_H

#include <stdatomic.h>
#include <stdint.h>

typedef _Atomic uint64_t tg_counter;

static inline void tg_counter_inc(tg_counter *c)
{
	atomic_fetch_add_explicit(c, 1, memory_order_relaxed);
}

static inline void tg_counter_add(tg_counter *c, uint64_t n)
{
	atomic_fetch_add_explicit(c, n, memory_order_relaxed);
}

static inline uint64_t tg_counter_get(const tg_counter *c)
{
	return atomic_load_explicit(c, memory_order_relaxed);
}

#endif
