/* SPDX-License-Identifier: ISC */
/*
 * authz/token: the access tokens of telgate's OAuth 2.0 authorization server (issue 18;
 * seed 002: "a self-describing access token the registrar verifies without a database
 * round trip"; seed 000: CTI login by single-sign-on token). This header is the contract
 * between the token core (keys, signing, verification: authz/jws, authz/jwk, authz/keys,
 * authz/verify) and its users (the token endpoint, SIP OAuth on 5090, CTI
 * StartApplicationSession with an accessToken).
 *
 * Format: a JWT access token per RFC 9068 in JWS compact serialisation (RFC 7515 §7.1):
 *   header  {"alg":"ES256","typ":"at+jwt","kid":"<RFC 7638 thumbprint of the key>"}
 *   payload {"iss","sub","aud","client_id","scope","iat","exp","jti","auth_time"[,"nbf"]}
 * signed by the signer process (ca/signer.h, SIGNER_KEY_TOKEN: the private keys never
 * enter the engine). ES256 by default; RS256 and EdDSA (Ed25519) configurable per key.
 * "aud" is "sip", "cti" or both (an array), per client.
 *
 * Verification (authz_verify) pins one algorithm per key (kid -> key -> alg) and refuses:
 * alg none, HS*, an alg the key does not have, unknown kid, typ other than at+jwt, exp/nbf
 * outside the leeway (config [oauth] leeway_s), wrong iss, a required audience missing,
 * non-canonical base64url, duplicate JSON members, tokens over AUTHZ_TOKEN_MAX, revoked
 * jtis and tokens issued (iat) before the user's "not before" time (lock, password change,
 * `telgate oauth revoke USER`). A verified token is cached (keyed by a hash of the whole
 * token, until its exp) so that repeated use costs no signature check; revocation is still
 * checked on every call.
 *
 * Threads: every function may be called from any thread (loops and workers) at once,
 * except authz_token_issue, which may block on the signer and must not run on an event
 * loop thread (call it from a worker job). Ownership: strings passed in are read, never
 * kept; *jwt from authz_token_issue is malloc'ed and the caller frees it.
 */
#ifndef TG_AUTHZ_TOKEN_H
#define TG_AUTHZ_TOKEN_H

#include "ca/signer.h"

#include <stddef.h>
#include <stdint.h>

struct authz; /* the token service of this process (authz/authz.h makes it) */

/* The largest token accepted anywhere (compact serialisation, bytes). */
#define AUTHZ_TOKEN_MAX 8192

/* Audiences ("aud"): a bit set. */
enum authz_aud {
	AUTHZ_AUD_SIP = 1, /* SIP OAuth registration, 5090/5091 (issue 19) */
	AUTHZ_AUD_CTI = 2, /* CTI StartApplicationSession accessToken (seed 000) */
};

/* The claims of an access token (RFC 9068 §2.2). Times are seconds since the epoch. */
struct authz_claims {
	char iss[256];       /* the issuer URL ([oauth] issuer) */
	char sub[129];       /* the enduser's userid; for client_credentials, the client id */
	unsigned aud;        /* enum authz_aud bits */
	char client_id[129]; /* the registered client */
	char scope[256];     /* space-separated scopes */
	char jti[44];        /* unique id: 128 random bits, base64url (22 chars) */
	int64_t iat, exp, nbf, auth_time; /* nbf 0 when absent */
};

/* Issues a signed access token for c (iat/exp/jti are taken as given: the caller sets them,
 * authz_claims_init fills jti and iat/exp from the configured lifetime). Returns 0 with the
 * compact JWS in *jwt (NUL-terminated, *len bytes without the NUL); -EAGAIN / -EBUSY when
 * the signer is restarting or its queue is full (answer 503 / retry), -ENOENT when no token
 * key is active, -ENOMEM, -EIO. */
int authz_token_issue(struct authz *a, const struct authz_claims *c, char **jwt, size_t *len);

/* authz_token_issue in three steps, for a caller that signs many tokens at once (the
 * refresh grants' group commit, authz/oauth_commit.c): _prepare makes the signing input
 * (any thread, never blocks), _sign_start/_sign_finish have the signer sign a batch of them
 * (ca/signer.h signer_sign_tokens_start: one wake-up of the signer process for the batch;
 * _finish blocks: not on an event loop), _complete makes the compact JWS. */
struct authz_unsigned {
	char kid[44];
	char *jws; /* "header.payload" (input_len bytes), with room for the signature after */
	size_t input_len, cap;
	struct signer_token_sign sign; /* rc, sig after _sign_finish */
};
/* 0, or -EINVAL / -ENOENT / -ENOMEM / -EAGAIN as authz_token_issue (then u holds nothing).
 * may_block 0 (an event loop): -EWOULDBLOCK instead of making the first key. */
int authz_token_prepare(struct authz *a, const struct authz_claims *c, struct authz_unsigned *u,
                        int may_block);
void authz_tokens_sign_start(struct authz *a, struct authz_unsigned *const *u, size_t n);
void authz_tokens_sign_finish(struct authz *a, struct authz_unsigned *const *u, size_t n);
/* The token of u (signed: u->sign) for claims c, as authz_token_issue returns it (counted
 * and logged as there). Frees what u holds, in every case. */
int authz_token_complete(struct authz *a, const struct authz_claims *c, struct authz_unsigned *u,
                         char **jwt, size_t *len);
/* Frees what u holds (a prepared token that will not be signed). */
void authz_unsigned_free(struct authz_unsigned *u);

/* Fills jti (random), iat = now, exp = now + the access-token lifetime ([oauth]
 * access_token_expiry_s, Unified CM's "OAuth Access Token Expiry Timer", default 3600 s),
 * auth_time = now and iss; the caller sets sub, aud, client_id and scope. */
void authz_claims_init(struct authz *a, struct authz_claims *c, int64_t now);
/* The same with the jti given (no random bytes drawn: a refresh grant's jti is derived,
 * oauth_access_jti). */
void authz_claims_init_jti(struct authz *a, struct authz_claims *c, int64_t now, const char *jti);

/* Why a token was refused: the trace reason for the administrator (the peer only gets its
 * protocol's status). Stable names, documented in docs/oauth.md. */
enum authz_verdict {
	AUTHZ_OK = 0,
	AUTHZ_MALFORMED,      /* not three base64url parts, bad JSON, duplicate members, size */
	AUTHZ_BAD_ALG,        /* none, HS*, or not the key's algorithm */
	AUTHZ_UNKNOWN_KEY,    /* kid not in the key set (or not a thumbprint) */
	AUTHZ_BAD_TYPE,       /* typ is not at+jwt */
	AUTHZ_BAD_SIGNATURE,  /* the signature does not verify */
	AUTHZ_EXPIRED,        /* exp missing or past (with leeway) */
	AUTHZ_NOT_YET_VALID,  /* nbf or iat in the future (with leeway) */
	AUTHZ_WRONG_ISSUER,   /* iss is not this issuer */
	AUTHZ_WRONG_AUDIENCE, /* the required audience is not in aud */
	AUTHZ_REVOKED,        /* the jti was revoked, or issued before the user's not-before */
};
const char *authz_verdict_name(enum authz_verdict v); /* "ok", "malformed", ... */

/* Verifies a token (len bytes, not necessarily NUL-terminated) for audience aud at time
 * now. Returns AUTHZ_OK with *out filled, or the reason it was refused (*out undefined).
 * User state that is not in the token (locked, deleted, rights) is the caller's to check
 * against the directory, as for a password login. */
enum authz_verdict authz_verify(struct authz *a, const char *token, size_t len, unsigned aud,
                                int64_t now, struct authz_claims *out);

/* authz_verify for a token in the verified-token cache only, when the keys and revocations
 * are current (the store generation has not moved since they were read): never a store
 * read or a signature check, so an event loop may call it. *hit 1: the verdict is
 * authz_verify's; *hit 0: not known here (the caller asks authz_verify on a worker). */
enum authz_verdict authz_verify_cached(struct authz *a, const char *token, size_t len, unsigned aud,
                                       int64_t now, struct authz_claims *out, int *hit);

/* Revocation, stored (so that every node of a cluster sees it) and applied at once in this
 * process. Returns 0 or a negative errno from the store. */
int authz_revoke_jti(struct authz *a, const char *jti, int64_t exp);
/* Tokens of userid issued before t are refused from now on (lock, password change,
 * deletion, `telgate oauth revoke USER`). */
int authz_revoke_user_before(struct authz *a, const char *userid, int64_t t);

/* The JSON Web Key Set (RFC 7517 §5) of the public token keys: the next, active and retiring
 * keys, each with kid, kty, alg, use "sig" and its public parameters; what /oauth/jwks
 * serves. Returns 0 with a malloc'ed NUL-terminated document in *json (the caller frees),
 * -ENOMEM. */
int authz_jwks(struct authz *a, char **json, size_t *len);

#endif
