/* SPDX-License-Identifier: ISC */
/*
 * spool: the location writer's local outage file (docs/sip.md, Location; docs/cluster.md).
 * When the store is unavailable (STORE_UNAVAILABLE: PostgreSQL down or unreachable), the
 * batch of binding changes the writer could not commit is appended here as one group,
 * written with one write() and fdatasync'd, and only then do the held 200s go out. When
 * the store answers again the file is replayed into it, in order, in chunks of one
 * transaction each (meanwhile new batches are appended behind, so the store still sees
 * every change in order), and truncated once all of it is in. A file left by a crash
 * (kill -9) is replayed at the next start.
 *
 * File format (little-endian): the 8-byte magic "TGSPOOL1", then records, each
 *   u32 len | u32 check (FNV-1a of the payload) | payload (len bytes)
 * and a payload is
 *   u8 kind | i64 at_ms | u32 cseq | i64 expires | i64 regid |
 *   7 x (u16 n | n bytes): device, contact, aor, callid, transport, source, sipinstance.
 * A record that is cut short or whose check does not match ends the file: a crash in the
 * middle of an append leaves a torn tail, which the reader ignores and sip_spool_open cuts
 * off (its group was never fdatasync'd, so no 200 was sent for it). FNV-1a finds torn and
 * stale bytes, not tampering: the file is the daemon's own, in its 0700 state directory.
 *
 * Replay is idempotent: every record carries at_ms, the wall-clock time it was spooled,
 * and the store applies a spooled change only over a row no newer than it (the registration
 * row's changedms, stamped by every write): a later row, written by another node or by an
 * earlier run of this replay, wins. So a crash between the replay's commit and the
 * truncation does no harm. Node clocks must agree to well under a registration interval
 * (NTP), as they must for expiry anyway.
 *
 * Threads: a struct sip_spool is used by one thread at a time (the location writer; at
 * start, sip_loc_new). The parse and encode functions are pure. Ownership: the spool
 * copies what it is given; records handed to callbacks are valid for the call only.
 * Sizes are in bytes.
 */
#ifndef TG_SIP_SPOOL_H
#define TG_SIP_SPOOL_H

#include "store/store.h"

#include <stddef.h>
#include <stdint.h>

#define SIP_SPOOL_MAGIC "TGSPOOL1"
#define SIP_SPOOL_MAGIC_LEN 8
#define SIP_SPOOL_REC_MAX 4096 /* a payload is at most ~1.5 KB (store_registration) */

enum sip_spool_kind {
	SIP_SPOOL_PUT = 1,    /* b: the binding as it is now */
	SIP_SPOOL_DELETE = 2, /* b.device, b.contact */
	SIP_SPOOL_EXPIRE = 3  /* b.expires: bindings expired at or before it */
};

struct sip_spool_rec {
	enum sip_spool_kind kind;
	int64_t at_ms; /* epoch ms: when it was spooled */
	struct store_registration b;
};

/* One record encoded (header and payload) into out. Returns its size, or 0 when it does
 * not fit cap or a string is not NUL-terminated within its field. Pure. */
size_t sip_spool_encode(const struct sip_spool_rec *r, uint8_t *out, size_t cap);

/* Reads the records of buf[0..len) (the file, magic included), calling fn for each in
 * order; fn returns nonzero to stop. *valid gets the offset just past the last whole
 * record (where a torn tail begins). Returns the number of records read, or -1 when buf
 * does not start with the magic (not a spool: never truncate it). Pure. */
long sip_spool_parse(const uint8_t *buf, size_t len,
                     int (*fn)(void *ud, const struct sip_spool_rec *r), void *ud, size_t *valid);

struct sip_spool;

/* Opens (creating, mode 0600) the spool at path; max_bytes caps the file (a group that
 * would take it over is refused). A torn tail is cut off. NULL with err on failure (not
 * a spool file, an I/O error). */
struct sip_spool *sip_spool_open(const char *path, int64_t max_bytes, char *err, size_t errlen);
void sip_spool_close(struct sip_spool *sp);

/* Bytes of records in the file (0: nothing to replay). */
int64_t sip_spool_bytes(const struct sip_spool *sp);

/* Adds r to the group being built (memory only). 0, or -1 when out of memory or r cannot
 * be encoded (the group is then discarded). */
int sip_spool_add(struct sip_spool *sp, const struct sip_spool_rec *r);

/* Appends the group with one write and fdatasyncs it. 0: the group is durable; -1: the
 * cap would be passed or the write or sync failed (errno-like reason in *why: "full",
 * or strerror): the file is cut back to before the group. The group is emptied either
 * way. */
int sip_spool_flush(struct sip_spool *sp, const char **why);

/* Bytes of records not replayed yet (0: the store has everything the file holds). */
int64_t sip_spool_pending(const struct sip_spool *sp);

/* Replays the next records (at most max) into st in one transaction; once the last is
 * committed, truncates the file. Chunks keep each transaction short, so that the writer
 * goes on spooling new batches between them (their answers wait for an fdatasync, not for
 * the whole replay). STORE_OK (also when nothing is pending), or the store's error (the
 * chunk is not counted: it is replayed again). *n gets the records replayed. node: the
 * cluster node whose spool this is (the file is per node and does not repeat it; "" on a
 * node without a cluster): the owner of the bindings put and of those expired. Blocking. */
int sip_spool_replay(struct sip_spool *sp, store_t *st, const char *node, long max, long *n);

#endif
