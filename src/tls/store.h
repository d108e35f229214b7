/* SPDX-License-Identifier: ISC */
/*
 * tls/store: the TLS settings between the store (tlssetting rows) and the daemon's
 * snapshot (tls/policy.h), and the check that a change can be applied before it is
 * stored.
 *
 * Threads: blocking (the store): call from a worker or at start. Ownership: a struct
 * tls_rows owns its strings; free it with tls_rows_free.
 */
#ifndef TG_TLS_STORE_H
#define TG_TLS_STORE_H

#include "store/store.h"
#include "tls/policy.h"

#include <stddef.h>

struct tls_rows {
	struct tls_row *row;
	size_t n, cap;
};

/* Every stored setting into r (empty first). Returns STORE_OK or a store error. */
int tls_rows_load(store_t *st, struct tls_rows *r);
/* Sets (value non-NULL) or removes (value NULL) level/name in r. Returns 0, or -1 when out
 * of memory. */
int tls_rows_set(struct tls_rows *r, const char *level, const char *name, const char *value);
/* The value of level/name in r, or NULL when it is not set there. */
const char *tls_rows_get(const struct tls_rows *r, const char *level, const char *name);
void tls_rows_free(struct tls_rows *r);

/* Loads the stored settings, trust anchors and client identities into the daemon's
 * snapshots (tls/policy.h, tls/trust.h: contexts built from now on use them;
 * tlsctx_check_all rebuilds the live ones). Returns STORE_OK or a store error (the
 * snapshot is unchanged). */
int tls_policy_load(store_t *st);
/* The same, but the snapshots are replaced only when what is stored differs from what
 * they were last loaded from (a digest of the rows, anchors and identities): a cluster
 * peer's write to any table moves the store generation, and a reload that changes
 * nothing must not rebuild every context. *changed: 1 when they were replaced. */
int tls_policy_refresh(store_t *st, int *changed);

/* Would every live listener with a policy (tlsctx_foreach) accept r? Returns 0, or -1
 * with err naming the first listener and why (e.g. no TLS 1.3 suite left). */
int tls_rows_check(const struct tls_rows *r, char *err, size_t errlen);

#endif
