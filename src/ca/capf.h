/* SPDX-License-Identifier: ISC */
/*
 * capf: the one-time authentication strings of enrolment profiles (issue 17; seed 001's
 * CAPF profile, table capfprofile in store.h) and the checks on a profile's words.
 *
 * Two forms of string, stored two ways (the string itself is never stored or logged):
 *   - generated (no --auth-string): CAPF_GENERATED_LEN characters of the RFC 4648 base32
 *     alphabet drawn uniformly, 130 bits. With that much entropy a fast keyed hash is
 *     enough: HMAC-SHA-256 under the server's capf key (capf_key_load), over the instance
 *     id and the string, stored as 64 hex digits (secretkind "hmac"). Verifying costs a
 *     microsecond, so a flood of enrolments costs no worker time.
 *   - chosen by an administrator (the seed types a short one): at least the configured
 *     minimum ([pki] capf_min_length, default CAPF_MIN_LENGTH_ADVISED, never below
 *     CAPF_MIN_LENGTH_FLOOR), printable ASCII, stored as an argon2id string with the
 *     password parameters (dir/passwd.h; secretkind "argon2id"): a short string must be
 *     slow to guess offline from a stolen store.
 *
 * The capf key is a 32-byte random file, <pki.dir>/capf.key (0600), made once by the
 * first caller. It is not a signing key and may live in the network engine, which has to
 * verify strings anyway: it only turns a string into its stored form. Someone holding the
 * key and a stolen store could test guesses against generated strings at HMAC speed, but
 * 130 bits cannot be searched; without the key a stolen store does not even allow that.
 * Losing the key only invalidates pending generated strings (rearm them).
 *
 * Threads: every function is thread-safe and keeps no state. capf_secret_make and
 * capf_verify of an argon2id string take tens of milliseconds and memory by design: call
 * them from a worker, never from an event-loop thread. dir_passwd_init (sodium_init)
 * must have run. Ownership: the caller owns every buffer; the key is the caller's to wipe
 * (sodium_memzero) when done.
 */
#ifndef TG_CA_CAPF_H
#define TG_CA_CAPF_H

#include "dir/passwd.h"
#include "store/store.h"

#include <stddef.h>
#include <stdint.h>

#define CAPF_KEY_BYTES 32
#define CAPF_KEY_FILE "capf.key"
#define CAPF_GENERATED_LEN 26      /* base32 characters: 130 bits */
#define CAPF_STRING_MAX 128        /* bytes of an authentication string */
#define CAPF_MIN_LENGTH_FLOOR 4    /* the lowest capf_min_length allowed */
#define CAPF_MIN_LENGTH_ADVISED 12 /* the default; shorter strings are warned about */
#define CAPF_LOCK_FAILURES 10      /* consecutive wrong strings that lock a profile */
#define CAPF_EXPIRES_DEFAULT_S (24 * 3600)
#define CAPF_EXPIRES_MAX_S (365 * 24 * 3600)

/* The words a profile takes, as the capfprofile table's CHECKs allow them: 1 when s is
 * one of them, else 0. */
int capf_authmode_valid(const char *s);  /* string, none */
int capf_keytype_valid(const char *s);   /* ec-p256, ec-p384, rsa-2048, rsa-3072 */
int capf_operation_valid(const char *s); /* install, delete */

/* An instance id: 1 to STORE_CAPF_ID_MAX characters of A-Z a-z 0-9 . _ - (the seed's ids
 * are numbers; it is the user part of HTTP Basic authentication in EST, so no ':').
 * NULL when fine, else the reason. */
const char *capf_instanceid_check(const char *id);

/* An administrator's string: len bytes of printable ASCII (no space), min_length to
 * CAPF_STRING_MAX. NULL when fine, else the reason (which never quotes the string). */
const char *capf_string_check(const char *s, size_t len, int min_length);

/* A duration: a positive number with a unit s, m, h or d ("30m", "24h", "7d"; a bare
 * number is seconds), at most CAPF_EXPIRES_MAX_S. Returns 0 with *seconds, or -1. */
int capf_duration_parse(const char *s, int64_t *seconds);

/* A new generated string (CAPF_GENERATED_LEN characters and a NUL) from libsodium's RNG. */
void capf_generate(char out[CAPF_GENERATED_LEN + 1]);

/* Reads <pki_dir>/capf.key, making it first when it does not exist (0600, written to a
 * temporary file and linked into place, so concurrent first callers agree on one key).
 * Returns 0, or -1 with err (unreadable, wrong size, cannot be made). */
int capf_key_load(const char *pki_dir, unsigned char key[CAPF_KEY_BYTES], char *err, size_t errlen);

/* The stored form of a string: kind "hmac" (generated) or "argon2id" (chosen), the hash
 * in hash. */
struct capf_secret {
	char kind[12];
	char hash[STORE_HASH_MAX + 1];
};
/* Hashes s (len bytes) for instance id: HMAC-SHA-256 when generated is set (key
 * needed), else argon2id with pw (key unused, may be NULL). Returns 0, or -1 (argon2id
 * out of memory or bad parameters). Slow for argon2id: a worker. */
int capf_secret_make(const unsigned char *key, const struct dir_passwd_params *pw,
                     const char *instanceid, const char *s, size_t len, int generated,
                     struct capf_secret *out);

/* Does the presented string (len bytes) match the profile's stored secret? A profile
 * with authmode none matches anything (it asks for no string). The comparison is
 * constant-time (sodium_memcmp for HMAC, libsodium's argon2id verification); an
 * unknown secretkind never matches. Slow for argon2id: a worker. Profile status is not
 * looked at (capf_auth.h does that). */
enum capf_match { CAPF_NO_MATCH = 0, CAPF_MATCH = 1 };
enum capf_match capf_verify(const unsigned char key[CAPF_KEY_BYTES],
                            const struct store_capfprofile *p, const char *s, size_t len);

#endif
