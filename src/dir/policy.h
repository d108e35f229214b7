/* SPDX-License-Identifier: ISC */
/*
 * policy: the credential policy as pure functions of (user, credential state, policy,
 * now). No clock, no store, no I/O: the caller reads the state, calls these, and writes
 * the state back inside one store transaction, so tests drive every rule with chosen
 * times and a multi-node store stays consistent.
 *
 * The rules (Unified CM's credential policy):
 * - an inactive user (status or flag), or one unused for longer than inactivedaysallowed,
 *   is refused;
 * - an administrator lock (timelockedout) is refused until an administrator unlocks;
 * - failedlogonthreshold consecutive failures set timehackedlockout; the account is then
 *   refused for lockoutduration minutes, or until an administrator unlocks it when
 *   adminmustunlock is set;
 * - the failure count starts again from zero when resetfailedlogonsafter minutes passed
 *   since the last failure;
 * - throttling (NIST SP 800-63B §5.2.2), when throttleafterfailures is set: from that many
 *   consecutive failures on, the credential is not checked (DIR_THROTTLED) for at least
 *   2^(failures - throttleafterfailures) seconds after the last failure, at most
 *   throttlemaxseconds (times are whole seconds: the wait is the interval plus up to
 *   one second); refusals while throttled are not failures and do not count;
 * - a right password on a credential older than expiresafterdays is DIR_EXPIRED (unless
 *   doesnotexpire); within expirywarningdays of expiry the login succeeds with a warning;
 * - a right password with mustchange set is DIR_MUST_CHANGE.
 * Refusals before the password check never look at the password.
 *
 * The functions apply to any credential type (store_credtype): the caller passes the
 * state row and the policy of the credential being checked, never another's.
 */
#ifndef TG_DIR_POLICY_H
#define TG_DIR_POLICY_H

#include "dir/dir_types.h"
#include "store/store.h"

#include <stdint.h>

/* Checks made before the password. Returns DIR_OK when the password may be checked, else
 * the refusal. May clear an expired lockout in *cs (then *changed is set to 1). */
enum dir_status dir_policy_precheck(const struct store_user *u, struct store_credstate *cs,
                                    const struct store_credpolicy *pol, int64_t now, int *changed);

/* Applies the outcome of a password check to *cs. verified: 1 if the password was right.
 * Returns DIR_OK, DIR_BAD_CREDENTIAL, DIR_EXPIRED or DIR_MUST_CHANGE; *warn_days gets the
 * days left before expiry when inside the warning window, else -1. */
enum dir_status dir_policy_apply(struct store_credstate *cs, const struct store_credpolicy *pol,
                                 int64_t now, int verified, int *warn_days);

/* 1 when a right password now would change nothing worth storing: the account is clean
 * (no failures, no lockout, nothing expiring or to change) and its last successful login
 * is less than an hour old. Then a success needs no write transaction, and a cached copy
 * of the state may decide it. *warn_days as for dir_policy_apply (warn_days may be NULL). */
int dir_policy_success_quiet(const struct store_user *u, const struct store_credstate *cs,
                             const struct store_credpolicy *pol, int64_t now, int *warn_days);

/* Clears every lock and the failure count (administrator unlock). */
void dir_policy_unlock(struct store_credstate *cs);

/* For `telgate user show`: the epoch second at which the credential expires (0 = never)
 * and the one at which a threshold lockout ends (0 = not locked, -1 = until an admin
 * unlocks). */
int64_t dir_policy_expires_at(const struct store_credstate *cs, const struct store_credpolicy *pol);
int64_t dir_policy_lockout_ends(const struct store_credstate *cs,
                                const struct store_credpolicy *pol);
/* The epoch second until which the credential is throttled (0 = the failure count does
 * not throttle; a value at or before now means the interval is over). */
int64_t dir_policy_throttle_ends(const struct store_credstate *cs,
                                 const struct store_credpolicy *pol);

#endif
