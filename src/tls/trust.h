/* SPDX-License-Identifier: ISC */
/*
 * tls/trust: the trust anchors (CA certificates uploaded by alias) and allowed client
 * identities of every listener, by level (issue 15, seed 004 updateTrust and
 * ClientIdentity). Anchors and identities are set at the kind or interface level only
 * (tls_trust_level_ok); a listener takes the UNION of both levels (its kind's anchors and
 * identities plus its own interface's): an alias names one certificate at one level, and
 * two levels add up rather than hide one another, so an interface can trust one more CA
 * than its kind without repeating the kind's.
 *
 * The daemon keeps a snapshot (tls_trust_install, from tls/store.h's tls_policy_load) that
 * TLS contexts read when they are built (tls/tlsctx.h); installing a snapshot bumps
 * tls_trust_generation so live contexts are rebuilt (no restart).
 *
 * Threads: a struct tls_trust under construction belongs to one thread; the snapshot
 * functions are thread-safe (a mutex). Ownership: the caller owns what it builds until it
 * installs it (then the snapshot does); certificates and names are copied in; the X509
 * objects added to an X509_STORE are up-referenced by OpenSSL; a struct tls_names is the
 * caller's, freed with tls_names_free.
 */
#ifndef TG_TLS_TRUST_H
#define TG_TLS_TRUST_H

#include "tls/level.h"

#include <openssl/ssl.h>
#include <stddef.h>

struct tls_trust;

/* NULL when a trust anchor or client identity may be set at level (canonical text), else
 * why not (a static sentence): only kind=... and interface=... levels. */
const char *tls_trust_level_ok(const char *level);

/* An empty set, or NULL when out of memory. */
struct tls_trust *tls_trust_new(void);
/* Adds the anchor in pem (one PEM certificate, as stored) at level. Returns 0, or -1 when
 * it does not parse or memory runs out. */
int tls_trust_add_anchor(struct tls_trust *t, const char *level, const char *pem);
/* Adds an allowed identity at level. Returns 0, or -1 when out of memory. */
int tls_trust_add_identity(struct tls_trust *t, const char *level, const char *name);
void tls_trust_free(struct tls_trust *t);

/* Names (client identities) allowed at some levels: n strings owned by the struct. */
struct tls_names {
	char **v;
	size_t n;
};
void tls_names_free(struct tls_names *n);

/* What t holds for the listener whose levels are levels[] (tls_levels_of's order):
 * adds the anchors of its kind and interface levels to store (when non-NULL) and their
 * subjects to names (when non-NULL), and copies the identities of those levels into ids
 * (when non-NULL; empty first). Returns the number of anchors, or -1 when out of memory
 * (ids is then empty). */
int tls_trust_for(const struct tls_trust *t, const char levels[TLS_LEVELS][TLS_LEVEL_MAX],
                  X509_STORE *store, STACK_OF(X509_NAME) * names, struct tls_names *ids);

/* --- the daemon's snapshot ----------------------------------------------------------- */

/* Replaces the snapshot with t (taken over; NULL: empty) and bumps the generation. */
void tls_trust_install(struct tls_trust *t);
/* tls_trust_for over the snapshot. */
int tls_trust_current(const char levels[TLS_LEVELS][TLS_LEVEL_MAX], X509_STORE *store,
                      STACK_OF(X509_NAME) * names, struct tls_names *ids);
/* 1 when name (ASCII case-insensitive) is a client identity of the snapshot at the kind
 * or interface level of levels[], else 0. */
int tls_trust_allows(const char levels[TLS_LEVELS][TLS_LEVEL_MAX], const char *name);
/* Bumped by every tls_trust_install: a context built under an older one is rebuilt by
 * tlsctx_check. */
unsigned long tls_trust_generation(void);
/* Frees the snapshot (at exit). */
void tls_trust_clear(void);

#endif
