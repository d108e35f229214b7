/* SPDX-License-Identifier: ISC */
/*
 * worker: a pool of threads for CPU-heavy or blocking jobs (argon2id, signing, store
 * transactions for admin commands), so event-loop threads never stall.
 *
 * A job's run() executes on a worker thread; its done() then executes on the loop the job
 * was submitted for (or on the worker if home is NULL). The submitter owns arg and must
 * keep it alive until done() has run. The queue is bounded: submit fails with -EAGAIN
 * when it is full, so overload is refused, not queued without limit. If the home loop is
 * already stopping, done() runs on the worker thread instead: stop the pool before the
 * loops (the daemon does) so that this only happens on error paths.
 */
#ifndef TG_WORKER_H
#define TG_WORKER_H

#include <stddef.h>
#include <stdint.h>

struct loop;
struct workers;

typedef void (*worker_fn)(void *arg);

struct workers *workers_start(int nthreads, size_t max_queue);
/* The same, every thread at nice value nice (tg_thread_nice; 0: as the caller's), each
 * set before this returns: a pool for work that must yield to call processing (EST
 * enrolments). */
struct workers *workers_start_nice(int nthreads, size_t max_queue, int nice);
/* Returns 0, -EAGAIN (queue full) or -ESHUTDOWN (pool stopping). */
int workers_submit(struct workers *w, worker_fn run, worker_fn done, void *arg, struct loop *home);
/* Jobs queued or running right now. */
size_t workers_pending(struct workers *w);
int workers_size(const struct workers *w);
/* Jobs refused because the queue was full (-EAGAIN), since the start. */
uint64_t workers_rejected(struct workers *w);
/* Refuses new jobs, finishes the queued ones, joins the threads and frees the pool. */
void workers_stop(struct workers *w);

#endif
