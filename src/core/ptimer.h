/* SPDX-License-Identifier: ISC */
/*
 * ptimer: a precise one-shot timer on a loop, for the few timers whose lateness can be
 * observed from outside (the registrar's answer hold, sip.failure_delay_ms: a failed
 * digest's 403 must leave at the same moment after the request whatever was decided).
 *
 * The loops run on libevent's default timers (loop.c): its clock is
 * CLOCK_MONOTONIC_COARSE (a 4 ms tick) and epoll's timeout is in whole milliseconds, so an
 * evtimer fires up to ~5 ms late, by an amount that depends on when it was armed. A
 * ptimer is a timerfd of its own on CLOCK_MONOTONIC with an absolute deadline in
 * tg_mono_us() time, read by the loop as a file descriptor: it fires within the
 * scheduler's latency of its deadline. Cost: a descriptor per ptimer and a
 * timerfd_settime() per arm or cancel, paid only by its user.
 *
 * Threads: the loop's thread (the one running base) only. Ownership: the caller's; free
 * it on that loop before the base.
 */
#ifndef TG_CORE_PTIMER_H
#define TG_CORE_PTIMER_H

#include <stdint.h>

struct event_base;
struct ptimer;

/* A disarmed timer that calls fn(arg) on base's loop when it fires. NULL on failure. */
struct ptimer *ptimer_new(struct event_base *base, void (*fn)(void *arg), void *arg);

/* (Re)arms t to fire once at at_us (tg_mono_us() time; one already past fires at once).
 * Returns 0 or -errno. */
int ptimer_at(struct ptimer *t, int64_t at_us);

/* Disarms t (a firing not yet run by the loop does not happen). */
void ptimer_cancel(struct ptimer *t);

/* Closes t. NULL is allowed. */
void ptimer_free(struct ptimer *t);

#endif
