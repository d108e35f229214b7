/* SPDX-License-Identifier: ISC */
/*
 * refreshfile: the durable form of a write-behind refresh on SQLite (issue 22, eleventh
 * round; docs/sip.md, Location). A refresh changes a binding's Call-ID, CSeq and expiry
 * only. Written as an SQLite UPDATE it cost a B-tree descent, a row re-encoded and a
 * whole 4-KiB page into the WAL at each commit (~28 % of telgated's CPU under TLS load);
 * here it is ~100 bytes copied into the binding's fixed slot of a memory-mapped file
 * (MAP_SHARED: in the kernel's page cache the moment it is written, so a kill -9 loses
 * nothing written; the same promise as SQLite's WAL with synchronous = NORMAL, which
 * telgate uses: a power cut may lose what was not yet written back).
 *
 * The table's row stays as its last put or change wrote it; the file says what the
 * refreshes made of it since. At start and at a clean stop the location module folds
 * every valid slot into its row (an UPDATE applied only over a row no newer than the
 * slot's change time; a put or change invalidates the binding's slot and a removal frees
 * it, and rows are stamped with the time their change was made, so a valid slot is
 * always newer than its row) and empties the file. While it runs, its own scan of
 * expired rows asks the table in memory first: a row whose recorded expiry passed but
 * whose binding was refreshed since is kept.
 *
 * File format (host byte order: the file never leaves its host; a header from another
 * layout is ignored and the file emptied), mode 0600 in the 0700 state directory:
 *   a 4,096-byte header: "TGREFR01", u32 slot size, u32 byte-order mark 0x01020304;
 *   then slots of SIP_RF_SLOT bytes each:
 *     u32 check     FNV-1a of the bytes from keycheck to the end of the Call-ID
 *     u32 keycheck  FNV-1a of device NUL contact
 *     u32 cseq | u16 callidlen | u16 keylen | i64 changedms | i64 expires
 *     callid (callidlen bytes, room for 511) | device NUL contact (keylen bytes)
 * A slot whose check or keycheck does not match is ignored (never written, freed, or
 * torn by a crash in the middle of its write: only that binding's last refreshes are
 * lost, which shortens the expiry the store keeps, as the write-behind contract allows).
 * FNV-1a finds torn and stale bytes, not tampering: the file is the daemon's own.
 *
 * The registrar's table keeps each binding's slot with the binding: a binding takes a
 * slot at its first refresh (sip_rf_take) and keeps it until it is removed or expires
 * (sip_rf_drop); the request's own thread stores each refresh into it (sip_rf_write),
 * under the binding's shard lock: no queue, no other thread, no lookup. The file grows by
 * doubling into an address range reserved at open (so slots never move under a store)
 * and never shrinks while open.
 *
 * Threads: sip_rf_take, sip_rf_drop, sip_rf_count and sip_rf_sync from any thread (a
 * mutex); sip_rf_write and sip_rf_invalidate by the slot's one writer; sip_rf_open,
 * sip_rf_each, sip_rf_reset and sip_rf_close with no other user (start and stop).
 * Ownership: the module copies what it is given; records handed to callbacks are valid
 * for the call only. Sizes are in bytes, times as named.
 */
#ifndef TG_SIP_REFRESHFILE_H
#define TG_SIP_REFRESHFILE_H

#include "store/store.h"

#include <stddef.h>
#include <stdint.h>

#define SIP_RF_MAGIC "TGREFR01"
#define SIP_RF_HEADER 4096
#define SIP_RF_SLOT 1216      /* bytes per slot (19 cache lines) */
#define SIP_RF_CALLID_MAX 511 /* a longer Call-ID is refreshed by an UPDATE instead */
#define SIP_RF_KEY_ROOM (SIP_RF_SLOT - 32 - (SIP_RF_CALLID_MAX + 1)) /* device NUL contact NUL */

struct sip_rf;

/* A refresh as a slot holds it. */
struct sip_rf_rec {
	const char *device, *contact, *callid; /* NUL-terminated */
	uint32_t cseq;
	int64_t expires;   /* epoch s */
	int64_t changedms; /* epoch ms: when the refresh was made */
};

/* Opens the file at path, creating it (0600) when absent. A file with a foreign header,
 * or shorter than one, is emptied (its refreshes are lost: expiries shorten). Returns
 * NULL with err set (the path and errno's text) when it cannot be opened or mapped. */
struct sip_rf *sip_rf_open(const char *path, char *err, size_t errlen);
void sip_rf_close(struct sip_rf *f);

/* Calls fn for every valid slot, in slot order, until fn returns nonzero (returned).
 * *torn (may be NULL) counts the slots in use whose checks did not match. */
int sip_rf_each(const struct sip_rf *f, int (*fn)(void *ud, const struct sip_rf_rec *r), void *ud,
                long *torn);
/* Forgets every slot: the file is cut to its header and fdatasync'd. 0, or -1 (errno). */
int sip_rf_reset(struct sip_rf *f);

/* Takes a free slot for the binding (device, contact) and writes its key there; the slot
 * is invalid until sip_rf_write. Returns its handle (the slot's number + 1), or 0 when
 * none can be taken: a key longer than the slot holds (EINVAL), or no slot free and the
 * file cannot grow (ENOSPC, ENOMEM: errno); the caller then writes the refresh another
 * way. Only after sip_rf_reset (the slots a crash left are read, not reused). Any thread
 * (f's mutex; a growth allocates and maps under it, ~1 ms per doubling). */
uint32_t sip_rf_take(struct sip_rf *f, const char *device, const char *contact);
/* Records a refresh in slot (a handle from sip_rf_take): Call-ID, CSeq, expiry (epoch s)
 * and the time it was made (epoch ms); the check last. No lock: the caller is the slot's
 * only writer (the registrar holds the binding's shard). 0, or -1 (EINVAL) for a Call-ID
 * longer than SIP_RF_CALLID_MAX. */
int sip_rf_write(struct sip_rf *f, uint32_t slot, const char *callid, uint32_t cseq,
                 int64_t expires, int64_t changedms);
/* Marks slot invalid (its binding's row is being written whole: what the slot held is
 * older than that row); it stays the binding's. No lock, as sip_rf_write. */
void sip_rf_invalidate(struct sip_rf *f, uint32_t slot);
/* Invalidates slot and frees it for another binding (its binding is gone). Any thread. */
void sip_rf_drop(struct sip_rf *f, uint32_t slot);
/* The refresh one slot's SIP_RF_SLOT bytes hold, into r, whose strings point into callid
 * (SIP_RF_CALLID_MAX + 1 bytes) and key (SIP_RF_KEY_ROOM bytes). 1 when the slot is
 * valid (checks match, lengths in range, the strings NUL-free where they must be), else
 * 0 (r untouched). Pure: any bytes are safe (fuzz/fuzz_siprefresh.c). */
int sip_rf_slot_read(const void *slot, struct sip_rf_rec *r, char *callid, char *key);
/* r as one valid slot into slot (SIP_RF_SLOT bytes, all written). 0, or -1 when r does
 * not fit (a Call-ID longer than SIP_RF_CALLID_MAX, an empty device or one longer than
 * STORE_ID_MAX, a key longer than the room). Pure. */
int sip_rf_slot_encode(void *slot, const struct sip_rf_rec *r);
/* Slots in use (bindings with a slot). */
long sip_rf_count(struct sip_rf *f);
/* Writes the file's dirty pages to disk and waits (msync MS_SYNC). 0, or -1 (errno). */
int sip_rf_sync(struct sip_rf *f);

#endif
