/* SPDX-License-Identifier: ISC */
/*
 * capf_auth: the one decision "may this peer enrol with this instance id and string?",
 * for the EST layer (HTTP Basic: instance id + authentication string, RFC 7030 §3.2.3)
 * and anything else that consumes an enrolment profile.
 *
 * In order: a source with too many wrong attempts in the current minute is refused
 * unheard (core/ratelimit.h, [pki] capf_source_failures_max; instance ids are guessable —
 * "any number" in the seed — so the source is what slows a guesser down); the profile
 * must exist and be pending (not locked, expired or used); the string is verified
 * (ca/capf.h, constant time); then the profile is consumed atomically
 * (store_capf_consume), so of two requests with the right string exactly one gets
 * CAPF_AUTH_OK. A wrong string counts against the source and the profile; the
 * CAPF_LOCK_FAILURES-th consecutive one locks the profile and raises the alarm
 * CapfProfileLocked (`telgate capf rearm` unlocks it). A low limit would let anyone lock
 * enrolment by guessing ids; ten keeps that costly while the per-source throttle keeps
 * guessing slow.
 *
 * After CAPF_AUTH_OK the caller owns the enrolment: it ends it with store_capf_succeeded
 * (the certificate's serial) or store_capf_failed (the reason); a profile consumed and
 * never ended (the process died in between) stays pending and used until the next start
 * puts it back (est_release_interrupted), or `capf rearm` makes it usable again.
 *
 * The peer should get one answer for UNKNOWN and WRONG (and, RFC 7030 §3.2.3, a 401 for
 * any refusal): which ids exist is not the peer's business; the log line tells them apart.
 *
 * Threads: capf_authenticate blocks on the store and, for argon2id strings, on tens of
 * milliseconds of hashing: a worker thread only. The guard may be shared by any number of
 * threads. Ownership: the caller frees the guard; req's strings are read, never kept;
 * the presented string is never logged.
 */
#ifndef TG_CA_CAPF_AUTH_H
#define TG_CA_CAPF_AUTH_H

#include "ca/capf.h"
#include "store/store.h"

#include <stdint.h>

enum capf_auth {
	CAPF_AUTH_OK = 0,    /* consumed: *out is the profile, the enrolment may proceed */
	CAPF_AUTH_THROTTLED, /* the source failed too often this minute: not checked */
	CAPF_AUTH_UNKNOWN,   /* no profile with that instance id */
	CAPF_AUTH_WRONG,     /* the string does not match */
	CAPF_AUTH_LOCKED,    /* locked after consecutive failures (this one may have locked it) */
	CAPF_AUTH_EXPIRED,   /* pending past its expiry */
	CAPF_AUTH_USED,      /* already consumed, succeeded or failed: rearm to use again */
	CAPF_AUTH_ERROR,     /* the store failed (store_last_error): try again later */
};
#define CAPF_AUTH_RESULTS 8

/* "ok", "throttled", "unknown_instance", "wrong_string", "locked", "expired", "used",
 * "store_error": the log's words. */
const char *capf_auth_name(enum capf_auth r);

/* Per-source failure counting. failures_max: wrong attempts a minute from one source
 * before it is refused unheard; 0 = no limit. NULL when out of memory. */
struct capf_guard;
struct capf_guard *capf_guard_new(int failures_max);
void capf_guard_free(struct capf_guard *g);

struct capf_auth_req {
	const char *instanceid;
	const char *secret; /* the presented string, secret_len bytes ("" for authmode none) */
	size_t secret_len;
	const char *source; /* the peer's address, the throttle's key */
	int64_t now;        /* epoch seconds */
	const char *cid;    /* for the log line and the alarm */
};

/* The decision above; *out gets the profile for CAPF_AUTH_OK (zeroed otherwise). key:
 * the capf key (capf_key_load). Logs capf_auth once per call with the result. */
enum capf_auth capf_authenticate(store_t *st, const unsigned char key[CAPF_KEY_BYTES],
                                 struct capf_guard *g, const struct capf_auth_req *req,
                                 struct store_capfprofile *out);

#endif
