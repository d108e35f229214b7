/* SPDX-License-Identifier: ISC */
/*
 * conncap: connection admission for stream listeners — a cap on connections per node and
 * per source IP address, so that a few thousand idle connections from one place cannot
 * starve everyone else. Counts are shared by every loop thread of a service.
 *
 * Thread-safe: sources are counted in a core/shtable (a lock per shard; the work per call
 * is one lookup) and the node count is one atomic, so loops accepting from different
 * sources do not wait for each other. Ownership: the caller owns the struct conncap; each
 * successful conncap_acquire() must be paired with one conncap_release() for the same
 * address.
 */
#ifndef TG_CONNCAP_H
#define TG_CONNCAP_H

#include <sys/socket.h>

struct conncap;

enum conncap_rc {
	CONNCAP_OK = 0,
	CONNCAP_NODE_FULL,   /* max_total reached */
	CONNCAP_SOURCE_FULL, /* max_per_source reached for this address */
};

/* max_total and max_per_source are connection counts, at least 1 (a per-source cap of 0
 * would still admit one connection per source, not none and not any number: pass
 * max_total for "no per-source cap"). NULL when out of memory. */
struct conncap *conncap_new(int max_total, int max_per_source);
void conncap_free(struct conncap *c);

/* Counts a new connection from sa (port ignored) unless a cap is reached. */
enum conncap_rc conncap_acquire(struct conncap *c, const struct sockaddr *sa);
void conncap_release(struct conncap *c, const struct sockaddr *sa);

/* Connections counted now (all sources). */
int conncap_total(struct conncap *c);

#endif
