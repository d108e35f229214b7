/* SPDX-License-Identifier: ISC */
/*
 * authz_int: what the token service's files share (authz.c, keys.c, verify.c, revoke.c):
 * struct authz and each part's functions. Not for users of the service (token.h, authz.h).
 */
#ifndef TG_AUTHZ_INT_H
#define TG_AUTHZ_INT_H

#include "authz/authz.h"
#include "core/counter.h"
#include "core/log.h"

#include <pthread.h>
#include <stdatomic.h>

/* keys.c: the public token keys, read from the store; swapped whole under lock. */
struct authz_key {
	char kid[44];
	enum jws_alg alg;
	char node[64];
	EVP_PKEY *pub;
	int64_t created, activates_at, retires_at;
};
struct authz_keys {
	pthread_rwlock_t lock;
	struct authz_key *k;
	size_t n;
};
int authz_keys_init(struct authz_keys *ks);
void authz_keys_destroy(struct authz_keys *ks);
/* Reads oauthkey again (a key that does not parse is logged and left out). */
int authz_keys_load(struct authz_keys *ks, store_t *st, const char *cid);
/* The key kid if it is published at now (not retired): up-referenced (EVP_PKEY_free it),
 * with its algorithm; NULL when unknown or retired. */
EVP_PKEY *authz_keys_find(struct authz_keys *ks, const char *kid, int64_t now, enum jws_alg *alg);
/* The key node signs with at now: the newest one activated and not retired. 0, -ENOENT. */
int authz_keys_signing(struct authz_keys *ks, const char *node, int64_t now, char kid[44],
                       enum jws_alg *alg);
/* 1 when node has a key that signs now or will (not retiring). */
int authz_keys_node_has_key(struct authz_keys *ks, const char *node, int64_t now);
/* The state name of a key at now (authz_key_info.state). */
const char *authz_key_state(int64_t activates_at, int64_t retires_at, int64_t now, int superseded);
/* The JWKS document of the published keys. */
int authz_keys_jwks(struct authz_keys *ks, int64_t now, char **json, size_t *len);

/* revoke.c: revoked jtis and per-user not-before times, in memory, from the store. */
struct authz_revocations;
struct authz_revocations *authz_rev_new(void);
void authz_rev_free(struct authz_revocations *r);
/* Reads both tables and merges them in (entries only grow, expired jtis are dropped). */
int authz_rev_load(struct authz_revocations *r, store_t *st, int64_t now);
void authz_rev_add_jti(struct authz_revocations *r, const char *jti, int64_t exp);
void authz_rev_add_user(struct authz_revocations *r, const char *userid, int64_t t);
/* 1 when the claims are revoked (their jti, or iat before the user's not-before). */
int authz_rev_check(struct authz_revocations *r, const struct authz_claims *c);
/* Drops jtis whose exp is before `before`. */
void authz_rev_purge(struct authz_revocations *r, int64_t before);

/* verify.c: the verified-token cache. */
struct authz_cache;
struct authz_cache *authz_cache_new(unsigned max_entries);
void authz_cache_free(struct authz_cache *c);

struct authz {
	store_t *store;
	struct signer *signer;
	char issuer[256];
	char node[64];
	char cid[LOG_CID_SIZE];
	enum jws_alg alg;
	int64_t access_s, leeway_s, key_grace_s;
	struct authz_keys keys;
	struct authz_revocations *rev;
	struct authz_cache *cache;
	atomic_int cache_on;
	/* the store generation the keys and revocations were read at; refresh_mu: one reader */
	_Atomic uint64_t gen;
	pthread_mutex_t refresh_mu;
	pthread_mutex_t rotate_mu; /* one key made at a time (rotation, the first key) */
	tg_counter cold, cached, refused[AUTHZ_VERDICT_N], issued, issue_failed;
};

/* Re-reads keys and revocations when the store generation moved (one thread at a time; the
 * others go on with what they have). */
void authz_refresh(struct authz *a, int64_t now);
/* The number of entries in the cache (for the metrics). */
uint64_t authz_cache_count(struct authz *a);

#endif
