/* SPDX-License-Identifier: ISC */
/*
 * txn: the answers to recent authenticated REGISTERs over UDP, so that a retransmission
 * gets the same answer (RFC 3261 §17.2.2: a non-INVITE server transaction answers a
 * retransmitted request with its last response) instead of being judged again. Judging
 * again would be wrong: its nonce count was used by the original, so a phone whose 200 OK
 * was lost would get a 401 for the retransmission.
 *
 * A transaction is identified by the source address, Call-ID, CSeq and the whole
 * Authorization value, hashed with SipHash under a key drawn at start (peers cannot aim
 * collisions); answers are kept for 32 s (64*T1, Timer J) in SIP_TXN_SLOTS slots, a newer
 * transaction taking over its slot. A replay of a captured request from another address
 * is not a retransmission and is judged (and refused) as before.
 *
 * Threads: any (sharded locks). Ownership: answers are copied in and out.
 */
#ifndef TG_SIP_TXN_H
#define TG_SIP_TXN_H

#include "sip/msg.h"

#include <stddef.h>
#include <stdint.h>

#define SIP_TXN_SLOTS 16384
#define SIP_TXN_LIFETIME_S 32

struct sip_txn;

struct sip_txn *sip_txn_new(void);
void sip_txn_free(struct sip_txn *t);

/* The key of request q from source (address:port). */
uint64_t sip_txn_key(const struct sip_txn *t, const struct sip_req *q, const char *source);

/* Copies the answer kept for key into out; returns its length, 0 when the transaction
 * is still being decided (absorb the retransmission: the answer follows), or -1 (none,
 * expired or larger than cap). */
int sip_txn_lookup(struct sip_txn *t, uint64_t key, int64_t now, char *out, size_t cap);
/* Keeps the answer (len bytes; len 0: being decided, resp unused) for key. */
void sip_txn_store(struct sip_txn *t, uint64_t key, int64_t now, const char *resp, int len);

#endif
