/* SPDX-License-Identifier: ISC */
/*
 * loop: libevent event-loop threads and the message passing between them.
 *
 * A struct loop owns one event_base. loop_post() is the only way for another thread to
 * make a loop do something: the function runs later on the loop's own thread, so
 * connection state is never shared between threads. A loop group runs N loops, each on
 * its own thread; the main thread runs a loop of its own (signals, control socket).
 *
 * loop_threads_init() must be called once before any loop is created (it switches
 * libevent to pthreads locking).
 */
#ifndef TG_LOOP_H
#define TG_LOOP_H

#include <stdint.h>

struct event_base;
struct loop;
struct loop_group;

typedef void (*loop_fn)(void *arg);

int loop_threads_init(void);

/* Creates a loop (not yet running). Returns NULL on failure. */
struct loop *loop_new(const char *name);
/* Runs the loop on the calling thread until loop_stop(); returns 0 or -1. */
int loop_run(struct loop *l);
/* Thread-safe: asks the loop to return from loop_run() after pending posts ran. */
void loop_stop(struct loop *l);
/* Frees a loop that is not running; posts that never ran are dropped. */
void loop_free(struct loop *l);
struct event_base *loop_base(struct loop *l);
const char *loop_name(const struct loop *l);

/* Thread-safe: runs fn(arg) on l's thread. Returns 0, or -1 if l is stopping (fn will
 * not run; the caller still owns arg). */
int loop_post(struct loop *l, loop_fn fn, void *arg);

/* Starts n loops, each on its own thread ("loop-0", ...). */
struct loop_group *loop_group_start(int n);
int loop_group_size(const struct loop_group *g);
struct loop *loop_group_get(struct loop_group *g, int i);
/* Runs fn(loop, i, arg) on every loop of the group, each on its own thread, and waits
 * until all have returned: the one barrier for starting and stopping a subsystem's
 * per-loop state. Returns how many loops ran it (a stopping loop does not). Never call it
 * from one of the group's own loop threads (it would wait for itself). */
int loop_run_all(struct loop_group *g, void (*fn)(struct loop *l, int i, void *arg), void *arg);

/* Stops every loop, joins the threads and frees the group. */
void loop_group_stop(struct loop_group *g);

/* The tick of the loops' timer clock (CLOCK_MONOTONIC_COARSE) in ms, rounded up: a
 * loop's timer can fire up to this much before or after its time (loop.c). A timer that
 * must never fire early adds it; one whose lateness must not vary uses core/ptimer.h. */
int loop_coarse_tick_ms(void);

/* Number of online cores (at least 1). */
int loop_ncores(void);

/* Creates a listening/bound socket with SO_REUSEADDR and SO_REUSEPORT, so that every
 * loop thread can own its own socket on the same address and the kernel spreads
 * connections across them. type: SOCK_STREAM or SOCK_DGRAM. Returns the fd or -errno. */
int loop_bind_reuseport(const char *addr, uint16_t port, int type);

#endif
