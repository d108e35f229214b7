/* SPDX-License-Identifier: ISC */
/*
 * digest: SIP digest authentication (RFC 2617, RFC 7616, RFC 8760) as pure functions,
 * plus the nonce-count cache: a per-nonce high-water mark of nc values.
 *
 * Nonces are stateless and bound to the server: base64url(time ‖ random ‖
 * AES-128(secret, time ‖ random)), the MAC one block of AES under the secret. A nonce the secret
 * did not make is invalid; one older than the lifetime is stale (the client retries with the new
 * challenge, stale=true). Only qop=auth is accepted, so every response carries nc and cnonce and a
 * replay is caught by the cache: a request's nc must be above the highest nc of that nonce whose
 * digest verified (RFC 7616 §3.4 allows a mark or a set; the mark costs 4 bytes a
 * nonce). Only a verified request moves the mark, so a forged nc=ffffffff with a wrong
 * digest cannot burn the phone's nonce.
 *
 * Secrets: the nonce secret and HA1 values are secrets; responses and nonce MACs are
 * compared in constant time. MD5 is nettle's, AES nettle's (AES-NI when the CPU has it),
 * SHA-256 OpenSSL's. Thread-safety: the functions are pure; a struct sip_nc_cache is guarded by its
 * own lock.
 */
#ifndef TG_SIP_DIGEST_H
#define TG_SIP_DIGEST_H

#include <pthread.h>
#include <stddef.h>
#include <stdint.h>

enum sip_digest_alg { SIP_DIGEST_MD5 = 0, SIP_DIGEST_SHA256 = 1 };

#define SIP_DIGEST_HEX_MAX 65 /* SHA-256 in hex + NUL */
#define SIP_NONCE_MAX 64
#define SIP_DIGEST_SECRET_LEN 16 /* the nonce MAC's key: AES-128's 128 bits */

const char *sip_digest_alg_name(enum sip_digest_alg a); /* "MD5", "SHA-256" */
int sip_digest_alg_parse(const char *s, enum sip_digest_alg *out);

/* HA1 = H(username ":" realm ":" password) in lower-case hex. */
int sip_digest_ha1(enum sip_digest_alg a, const char *user, const char *realm, const char *password,
                   size_t pwlen, char out[SIP_DIGEST_HEX_MAX]);

/* A fresh nonce for `now` (epoch seconds). */
void sip_nonce_make(const uint8_t secret[SIP_DIGEST_SECRET_LEN], int64_t now,
                    char out[SIP_NONCE_MAX]);
enum sip_nonce_rc { SIP_NONCE_OK = 0, SIP_NONCE_STALE, SIP_NONCE_INVALID };
/* Checks that the nonce is ours and younger than lifetime_s. *issued gets its time. */
enum sip_nonce_rc sip_nonce_check(const uint8_t secret[SIP_DIGEST_SECRET_LEN], const char *nonce,
                                  int64_t now, int lifetime_s, int64_t *issued);

/* The parameters of an Authorization / Proxy-Authorization header value. Strings are
 * unquoted and unescaped; a value that does not fit makes the parse fail. */
struct sip_digest_creds {
	char username[129], realm[129], nonce[SIP_NONCE_MAX], uri[512],
	    response[SIP_DIGEST_HEX_MAX], cnonce[129], qop[16], nc[9], opaque[129];
	enum sip_digest_alg alg;
	int has_alg;
};
/* Parses `Digest k=v, k="v", ...`. Returns 0; -1 with a reason in err (unknown scheme,
 * malformed, duplicate or over-long parameter, missing mandatory parameter); -2 with a
 * reason for a well-formed credential of an algorithm we do not offer (e.g. RFC 8760's
 * SHA-512-256: the client gets a fresh challenge naming what we do). */
int sip_digest_parse(const char *value, struct sip_digest_creds *c, char *err, size_t errlen);

/* 1 if the response matches (qop=auth), 0 if not. ha1 in hex for c->alg. */
int sip_digest_verify(const struct sip_digest_creds *c, const char *method, const char *ha1);

/* The WWW-Authenticate value for a challenge: Digest realm, nonce, opaque, algorithm,
 * qop="auth", stale=true when asked. Returns the length or -1. */
int sip_digest_challenge(char *out, size_t cap, const char *realm, const char *nonce,
                         const char *opaque, enum sip_digest_alg a, int stale);

/* Nonce counts: each nonce's verified nc values must increase; an nc at or below the mark
 * is a replay. Fixed size (capacity nonces, rounded down to 8 times a power of two, at
 * least 8); the least recently used entries are forgotten
 * first (their nonces are stale by then if capacity >= registrations per nonce lifetime). */
struct sip_nc_cache;
struct sip_nc_cache *sip_nc_cache_new(size_t capacity);
void sip_nc_cache_free(struct sip_nc_cache *c);
/* Starts loading the nonce's entry into the CPU's cache (its set is in a large array, not
 * cached under load; issue 22), to be called with other work to do before sip_nc_fresh.
 * Changes nothing. */
void sip_nc_prefetch(struct sip_nc_cache *c, const char *nonce);
/* Before the digest is checked: 1 when nc (8 hex digits) is above the nonce's mark (or the
 * nonce is unknown), 0 for a replay, -1 for a bad nc. Records nothing. */
int sip_nc_fresh(struct sip_nc_cache *c, const char *nonce, const char *nc);
/* After the digest verified: moves the mark to nc. Returns 1, or 0 when a concurrent
 * request moved it to nc or beyond meanwhile (a replay), -1 for a bad nc. */
int sip_nc_accept(struct sip_nc_cache *c, const char *nonce, const char *nc);

#endif
