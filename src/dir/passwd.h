/* SPDX-License-Identifier: ISC */
/*
 * passwd: argon2id password hashing for local users (libsodium). Hashing and verifying
 * are CPU- and memory-heavy by design (tens of milliseconds): call them from the worker
 * pool, never from an event-loop thread. Thread-safe; no state.
 */
#ifndef TG_DIR_PASSWD_H
#define TG_DIR_PASSWD_H

#include <stddef.h>

#define DIR_PASSWD_HASH_MAX 128 /* crypto_pwhash_STRBYTES */

struct dir_passwd_params {
	unsigned t;     /* passes (opslimit) */
	unsigned m_kib; /* memory in KiB */
};

/* Must be called once before the other functions (it initialises libsodium). */
int dir_passwd_init(void);

/* Hashes password (len bytes) into out as a "$argon2id$..." string. Returns 0 or -1. */
int dir_passwd_hash(const struct dir_passwd_params *p, const char *password, size_t len,
                    char out[DIR_PASSWD_HASH_MAX]);

/* 1 if password matches hash, 0 if not (or the hash is malformed). Constant-time compare
 * is done inside libsodium. */
int dir_passwd_verify(const char *hash, const char *password, size_t len);

/* 1 if s looks like an argon2id hash string that libsodium can verify. */
int dir_passwd_is_hash(const char *s);

#endif
