/* SPDX-License-Identifier: ISC */
/*
 * tls_trust_cmds: client authentication commands (issue 15, seed 004): `telgate trust
 * update|get|delete` (trust anchors by alias), `telgate identity add|delete|get` (allowed
 * client identities) and `telgate tls set LEVEL allowClientApp true|false`. Levels are
 * kind=... or interface=... for anchors and identities (tls/trust.h), any level for the
 * switch. Run on an admin worker (they block on the store); a change reloads the TLS
 * snapshots and rebuilds the listeners' contexts: no restart.
 */
#ifndef TG_ADMIN_TLS_TRUST_CMDS_H
#define TG_ADMIN_TLS_TRUST_CMDS_H

#include "admin/admin.h"

json_t *cmd_tls_set(struct admin_ctx *a, const struct ctl_request *r, const char *cid);
json_t *cmd_trust_update(struct admin_ctx *a, const struct ctl_request *r, const char *cid);
json_t *cmd_trust_get(struct admin_ctx *a, const struct ctl_request *r, const char *cid);
json_t *cmd_trust_delete(struct admin_ctx *a, const struct ctl_request *r, const char *cid);
json_t *cmd_identity_add(struct admin_ctx *a, const struct ctl_request *r, const char *cid);
json_t *cmd_identity_delete(struct admin_ctx *a, const struct ctl_request *r, const char *cid);
json_t *cmd_identity_get(struct admin_ctx *a, const struct ctl_request *r, const char *cid);

#endif
