/* SPDX-License-Identifier: ISC */
/*
 * location: the registrar's bindings (RFC 3261 §10 location service) held in memory and
 * written to the store behind the requests that change them.
 *
 * A REGISTER edits its device's bindings under one of 64 shard locks (devices live in a
 * core/shtable; expiry and listing hold one shard at a time) and is answered at
 * once; no store write happens on its path. Each edit is queued for a writer thread that
 * applies every queued change to the store in one transaction, every 50 ms or as soon as
 * 512 are waiting. So SQLite's write lock is never waited for on an event loop, and one
 * commit carries hundreds of bindings. sip_loc_free writes what is still queued (a clean
 * stop keeps every binding); a crash loses at most the last ~50 ms of edits, which the
 * phones send again at their next refresh. If the store refuses a batch, the writer logs
 * it once, keeps the batch and retries every second (at most 100,000 queued changes;
 * beyond that the oldest are dropped and counted in the log).
 *
 * sip_loc_new loads the bindings that have not expired from the store.
 *
 * Threads: every function but sip_loc_free may be called from any thread. Ownership: the
 * store must outlive the table; the binding arrays handed to callbacks are valid for the
 * call only.
 */
#ifndef TG_SIP_LOCATION_H
#define TG_SIP_LOCATION_H

#include "store/store.h"

#include <stdint.h>

#define SIP_LOC_MAX 32 /* bindings per device */

struct sip_loc;

struct sip_loc *sip_loc_new(store_t *st, int64_t now, char *err, size_t errlen);
/* Writes what is queued, stops the writer and frees the table. */
void sip_loc_free(struct sip_loc *l);

/* The edit of one device's bindings: b[0..*n) are its live bindings (expired ones already
 * dropped); the function may change, add (up to cap) and remove entries and returns 0 to
 * keep the result, nonzero to leave the bindings as they were (that value is returned by
 * sip_loc_update). Runs under the device's shard lock: no blocking calls. */
typedef int (*sip_loc_edit_fn)(void *ud, struct store_registration *b, int *n, int cap);

/* Applies fn to the device's bindings at time now and queues what changed for the store.
 * *before gets how many live bindings there were, after (may be NULL; SIP_LOC_MAX
 * entries) and *nafter what there are now. Returns 0, fn's refusal, or -1 (no memory). */
int sip_loc_update(struct sip_loc *l, const char *device, int64_t now, sip_loc_edit_fn fn, void *ud,
                   int *before, struct store_registration *after, int *nafter);

/* Drops the bindings that expired at or before now; calls gone(ud, device) for each
 * device left with none. */
void sip_loc_expire(struct sip_loc *l, int64_t now, void (*gone)(void *ud, const char *device),
                    void *ud);

/* Calls fn for every live binding (of one device, or of all when device is NULL), ordered
 * by device and contact; fn returns nonzero to stop. Returns -1 when out of memory. */
int sip_loc_list(struct sip_loc *l, const char *device, int64_t now,
                 int (*fn)(void *ud, const struct store_registration *b), void *ud);

/* Devices with at least one live binding, and bindings in all. */
void sip_loc_counts(struct sip_loc *l, int64_t now, long *devices, long *bindings);

/* Blocks until every change queued so far is in the store (or the store refused it). */
void sip_loc_sync(struct sip_loc *l);

#endif
