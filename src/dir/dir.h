/* SPDX-License-Identifier: ISC */
/*
 * dir: who a user is and what they may do. dir_authenticate() checks a user id and
 * password against the local store (argon2id) or an LDAP directory, applies the
 * credential policy (lockout, expiry, inactivity, must-change) and reads the user's CTI
 * permissions from their groups, without ever blocking the caller's event loop.
 *
 * Threads: the directory owns a loop thread (LDAP traffic, result delivery) and a worker
 * pool (argon2id, store transactions). dir_authenticate() may be called from any thread.
 * The callback runs on `home` (a loop), or on the directory's own loop when home is NULL.
 *
 * Timing: every failed attempt is answered no sooner than failure_delay_ms after it
 * started, and an unknown user costs an argon2id verification like a known one, so the
 * answer's timing does not tell a peer which user ids exist or are locked.
 *
 * Ownership: the directory copies the user id and the credential (its copy is wiped as
 * soon as the check is done). The result passed to the callback is valid only during the
 * call.
 */
#ifndef TG_DIR_H
#define TG_DIR_H

#include "core/config.h"
#include "core/log.h"
#include "dir/dir_types.h"
#include "store/store.h"

#include <stddef.h>
#include <stdint.h>

struct loop;
struct dir;

#define DIR_CREDENTIAL_MAX 1024

struct dir_result {
	enum dir_status status;
	const char *userid;
	enum store_directory directory;
	unsigned cti_perms;      /* DIR_CTI_* bits; 0 unless status is DIR_OK */
	int expiry_warning_days; /* days left when inside the warning window, else -1 */
	const char *dn;          /* the LDAP entry, "" for local users */
	const char *detail;      /* a human-readable reason for the administrator */
};

typedef void (*dir_cb)(void *ud, const struct dir_result *r);

struct dir_options {
	store_t *store;
	const struct tg_config *cfg; /* password, dir and ldap sections are read at start */
	/* The clock in epoch seconds; NULL = the real clock. Tests inject their own. */
	int64_t (*clock)(void *ud);
	void *clock_ud;
};

/* Starts the directory (its loop, workers and LDAP pool). NULL with err on failure (e.g.
 * an unreadable LDAP service password file). */
struct dir *dir_start(const struct dir_options *o, char *err, size_t errlen);
/* Pending authentications end with DIR_UNAVAILABLE; then everything is freed. */
void dir_stop(struct dir *d);

/* Starts one authentication. Returns 0, or -1 when the directory is overloaded or
 * stopping (the callback will then not run). cid: the caller's correlation id. */
int dir_authenticate(struct dir *d, const char *userid, const char *credential, size_t len,
                     const char *cid, struct loop *home, dir_cb cb, void *ud);

/* The same, blocking the calling thread until the result is known. For the admin
 * diagnostic and tests; never call it from an event-loop thread. Copies the result's
 * strings into the given buffers. */
enum dir_status dir_authenticate_wait(struct dir *d, const char *userid, const char *credential,
                                      size_t len, const char *cid, unsigned *cti_perms,
                                      char *detail, size_t detail_cap);

struct dir_stats {
	uint64_t attempts, successes, failures, password_checks, ldap_searches, ldap_user_binds,
	    ldap_connects, ldap_timeouts, ldap_failovers;
};
void dir_stats(struct dir *d, struct dir_stats *out);

/* The credential policy for the other credential types (the registrar's SIP digest): the
 * caller loads the credential with dir_credential_load and asks dir_policy_precheck
 * (policy.h) whether it may be checked now; dir_policy_record counts one check's outcome
 * in one store transaction, with the same rules as dir_authenticate applies to passwords.
 * Only the given type's state changes: a digest failure never touches the password.
 * Returns the policy's verdict, DIR_UNKNOWN_USER, or DIR_UNAVAILABLE when the store
 * failed. A new threshold lockout is logged (dir_user_locked_out) and raises the
 * CredentialLockout alarm. Blocking (store). */
enum dir_status dir_policy_record(store_t *st, const char *userid, enum store_credtype type,
                                  int verified, int64_t now, const char *cid);

/* Loads what the policy of one credential needs: the user, that credential's state (a
 * missing row reads as a clean state) and its effective policy
 * (store_credpolicy_effective). Returns STORE_OK, STORE_NOTFOUND for an unknown user, or
 * another store error. Blocking (store). */
int dir_credential_load(store_t *st, const char *userid, enum store_credtype type,
                        struct store_user *u, struct store_credstate *cs,
                        struct store_credpolicy *pol);

/* Logs dir_credential_policy: one policy decision (verdict) on one credential, with the
 * credential type, the counters and the policy's name. No secret is logged. */
void dir_log_policy(const char *cid, const struct store_user *u, enum store_credtype type,
                    const struct store_credstate *cs, const struct store_credpolicy *pol,
                    int64_t now, enum dir_status verdict);

/* What a login checks before any credential, shared by the password path (dir_authenticate)
 * and logins that bring another proof (a CTI access token, issue 18): the user exists, its
 * password credential's policy admits a check now (administrative lock, threshold lockout,
 * throttle, inactivity: dir_policy_precheck; logged as dir_credential_policy), and its CTI
 * permissions (*perms). Returns DIR_OK, DIR_UNKNOWN_USER, DIR_UNAVAILABLE (the store), or the
 * policy's refusal, with detail. u, cs, pol are filled for the caller. Blocking (store). */
enum dir_status dir_user_standing(store_t *st, const char *userid, int64_t now, const char *cid,
                                  struct store_user *u, struct store_credstate *cs,
                                  struct store_credpolicy *pol, unsigned *perms, char *detail,
                                  size_t cap);

/* The user's CTI permissions from their groups (blocking, store). */
int dir_cti_perms(store_t *st, const char *userid, unsigned *out);

#endif
