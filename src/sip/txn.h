/* SPDX-License-Identifier: ISC */
/*
 * txn: the answers to recent REGISTERs over UDP, so that a retransmission gets the same
 * answer (RFC 3261 §17.2.2: a non-INVITE server transaction answers a retransmitted
 * request with its last response) instead of being judged again. Judging again would be
 * wrong: its nonce count was used by the original, so a phone whose 200 OK was lost would
 * get a 401 for the retransmission; and a challenge judged again carries a new nonce, a
 * second, different answer to a client that already took the first. The cost of keeping
 * challenges: one lookup and one copy per REGISTER without credentials, and their memory
 * under the same bound (a flood of them makes the oldest answers go early, counted).
 *
 * A transaction is what RFC 3261 §17.2.3 matches on, from one source address: Call-ID,
 * CSeq and the top Via branch (with the magic cookie z9hG4bK; without it, an RFC 2543
 * client, the whole Authorization value stands in for it). So a request sent again with
 * the same branch but a new nonce count (a client that recomputes its credentials for a
 * retransmission) is the same transaction, answered as the first was, not a replay. The
 * tuple is hashed with SipHash under a key drawn at start (peers cannot aim collisions);
 * the table places that key by a cheap keyed mix of it, not a second SipHash
 * (core/shtable.h shtable_hash_given).
 * A replay of a captured request from another address is not a retransmission and is
 * judged (and refused) as before.
 *
 * Lifetime: an answer is kept SIP_TXN_LIFETIME_MS (64*T1, Timer J: as long as a client
 * retransmits, Timer F), whatever the request rate: the table holds by time, not by a
 * count of slots, so a retransmission under overload still finds its answer. Memory is
 * bounded by SIP_TXN_BYTES_MAX: beyond it the oldest answers go before their time and
 * are counted (evicted_early); an entry takes at least 840 bytes (room for a 768-byte
 * answer, so that an expired entry is reused for the next one without an allocation),
 * which is ~5,000 answers a second kept for 32 s; and up to 8 spare entries a shard
 * (~430 KB in all) outside the bound, for the next answers.
 *
 * Threads: any (the table's shard locks). Ownership: answers are copied in and out.
 */
#ifndef TG_SIP_TXN_H
#define TG_SIP_TXN_H

#include "sip/msg.h"

#include <stddef.h>
#include <stdint.h>

#define SIP_TXN_LIFETIME_MS 32000
#define SIP_TXN_BYTES_MAX (128u << 20)

struct sip_txn;

/* Counters since start (monotonic) and gauges (now). */
struct sip_txn_stats {
	uint64_t repeated; /* retransmissions answered with their transaction's answer */
	uint64_t absorbed; /* retransmissions dropped: their answer was still decided or held */
	uint64_t evicted_early;  /* answers dropped before SIP_TXN_LIFETIME_MS (memory bound) */
	uint64_t entries, bytes; /* gauges: transactions kept, their memory (bytes) */
};

struct sip_txn *sip_txn_new(void);
void sip_txn_free(struct sip_txn *t);

/* The key of request q from source (address:port). */
uint64_t sip_txn_key(const struct sip_txn *t, const struct sip_req *q, const char *source);

/* Copies the answer kept for key into out; returns its length, 0 when the transaction
 * is still being decided or its answer held (absorb the retransmission: the answer
 * follows), or -1 (none, expired or larger than cap). now_ms: a monotonic clock
 * (tg_mono_ms). Counts what it found (repeated, absorbed). */
int sip_txn_lookup(struct sip_txn *t, uint64_t key, int64_t now_ms, char *out, size_t cap);
/* Keeps the answer (len bytes; len 0: being decided, resp unused) for key, replacing what
 * was kept for it; forgets the answers older than SIP_TXN_LIFETIME_MS on the way. */
void sip_txn_store(struct sip_txn *t, uint64_t key, int64_t now_ms, const char *resp, int len);

void sip_txn_stats(struct sip_txn *t, struct sip_txn_stats *out);

#endif
