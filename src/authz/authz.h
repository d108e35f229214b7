/* SPDX-License-Identifier: ISC */
/*
 * authz: the token service of this process (issue 18): the configuration of [oauth], the
 * public token keys (authz/keys.h), verification (authz/verify.c) and revocation
 * (authz/revoke.c) behind authz/token.h, the contract its users call. telgated makes one at
 * start with the store and the signer handle and frees it at stop.
 *
 * Keys: the private halves live in the signer process (ca/signer.h: SIGNER_OP_TOKEN_KEYGEN,
 * SIGNER_OP_SIGN_TOKEN); the public halves in the store (oauthkey). authz_new makes the
 * first key when this node has none that can sign. Rotation (authz_keys_rotate, `telgate
 * oauth keys rotate`): the new key is published in the JWKS at once and signs after [oauth]
 * key_grace_s; the keys it replaces are published (and accepted) until the longest token
 * lifetime ([oauth] access_token_expiry_s plus leeway_s) after that, then retired.
 *
 * Threads: authz_new and authz_free on one thread with no other user; authz_keys_rotate
 * blocks on the signer and the store (a worker, or start-up); the rest as token.h says.
 * When the store generation moved since the keys and revocations were read, the next
 * authz_verify or authz_jwks re-reads those two small tables on its thread (one thread at
 * a time; the others go on with what they have): a store read, so callers on an event loop
 * should expect one now and then (CTI verifies on a worker).
 * Ownership: options are read, never kept (the store and the signer outlive the service).
 * Errors: negative errno (signer.h's, -ENOMEM) or a store_rc.
 */
#ifndef TG_AUTHZ_AUTHZ_H
#define TG_AUTHZ_AUTHZ_H

#include "authz/jws.h"
#include "authz/token.h"
#include "core/config.h"
#include "store/store.h"

struct signer;

struct authz_options {
	store_t *store;
	struct signer *signer;       /* NULL: verification only (no issuing, no first key) */
	const struct tg_config *cfg; /* [oauth], core.node_id */
	const char *cid;             /* for the log lines of start and rotation */
};

/* Returns NULL with err set when the keys cannot be read or the first key not made. */
struct authz *authz_new(const struct authz_options *o, char *err, size_t errlen);
void authz_free(struct authz *a);

/* A key as `oauth keys list` shows it. state: "next" (published, not signing yet),
 * "active" (signs), "retiring" (published, accepted, replaced), "retired". */
struct authz_key_info {
	char kid[44];
	enum jws_alg alg;
	char node[64];
	int64_t created, activates_at, retires_at;
	const char *state;
};
/* Adds a key of the configured algorithm: see above. 0 with *out, or an error. */
int authz_keys_rotate(struct authz *a, int64_t now, struct authz_key_info *out);
/* Every key in the store, oldest first, with its state at now. */
int authz_keys_list(struct authz *a, int64_t now,
                    int (*fn)(void *ud, const struct authz_key_info *k), void *ud);

/* The verdicts of authz_verify, counted for /metrics (docs/metrics.md). */
#define AUTHZ_VERDICT_N (AUTHZ_REVOKED + 1)
struct authz_stats {
	uint64_t verified_cold;            /* AUTHZ_OK after a signature check */
	uint64_t verified_cached;          /* AUTHZ_OK from the verified-token cache */
	uint64_t refused[AUTHZ_VERDICT_N]; /* by verdict; [AUTHZ_OK] unused */
	uint64_t issued, issue_failed;
	uint64_t cache_entries;
};
void authz_stats_get(struct authz *a, struct authz_stats *st);

/* The verified-token cache on or off (benchmarks and tests: every call then checks the
 * signature). */
void authz_cache_enable(struct authz *a, int on);

#endif
