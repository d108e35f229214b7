/* SPDX-License-Identifier: ISC */
/*
 * tls_cmds_shared: what the `telgate tls ...` commands (tls_cmds.c) share with the other
 * TLS commands (tls_trust_cmds.c): the level argument, usage errors, and the one way a
 * change is stored and put into effect. Runs on an admin worker (blocks on the store).
 * Ownership: the returned json_t is the caller's.
 */
#ifndef TG_ADMIN_TLS_CMDS_SHARED_H
#define TG_ADMIN_TLS_CMDS_SHARED_H

#include "admin/admin.h"
#include "tls/store.h"

/* A usage error (exit status EX_USAGE) saying msg. */
json_t *tls_cmd_usage(const char *msg);

/* Parses a level argument into its canonical text (out: TLS_LEVEL_MAX bytes). Returns 0,
 * or -1 with *err the usage error. */
int tls_cmd_level(const char *s, char *out, json_t **err);

/* One change at a level: name's new value, or NULL to remove it (inherit). */
struct tls_cmd_change {
	const char *name, *value;
};

/* Applies the changes at level to rows, checks that every listener accepts the result,
 * stores them in one transaction, reloads the snapshots and rebuilds the contexts
 * (logging tls_setting_changed with cid). Returns the answer: done, or the error. */
json_t *tls_cmd_commit(struct admin_ctx *a, struct tls_rows *rows, const char *level,
                       const struct tls_cmd_change *c, int n, const char *cid, const char *done);

/* Reloads the TLS snapshots from the store (tls_policy_load) and rebuilds every live
 * context: new connections see a stored change at once. NULL, or the error answer. */
json_t *tls_cmd_reload(struct admin_ctx *a);

#endif
