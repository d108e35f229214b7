/* SPDX-License-Identifier: ISC */
/*
 * ldap_diag: `telgate ldap test`, the administrator's first diagnostic. For every
 * configured server it opens a fresh connection (TCP, TLS or StartTLS, service bind) and
 * reports what happened and how long it took; with a user id it then searches for the
 * user on the first server that worked, with the configured base and escaped filter, and
 * reports the DNs found. Never a password: the service account's is only used.
 *
 * Blocking (up to connect + operation timeout per server): call it from a worker thread.
 * row() gets four strings (step, server, result, detail) valid during the call.
 */
#ifndef TG_DIR_LDAP_DIAG_H
#define TG_DIR_LDAP_DIAG_H

#include "core/config.h"

typedef void (*dir_ldap_diag_row)(void *ud, const char *step, const char *server,
                                  const char *result, const char *detail);

/* Returns 0 when every server connected and (if asked) the user was found exactly once,
 * 1 when something failed (the rows say what), -1 when LDAP is not configured or the
 * configuration cannot be loaded (err set). */
int dir_ldap_diagnose(const struct tg_config *cfg, const char *user, dir_ldap_diag_row row,
                      void *ud, char *err, size_t errlen);

#endif
