/* SPDX-License-Identifier: ISC */
/*
 * tls_cmds: the `telgate tls ...` control commands (admin/commands.h rows tls_*), run on
 * a worker like every command (they block on the store and rebuild TLS contexts). The
 * level argument is tls/level.h's grammar; docs/tls.md maps the seed's CLI contexts to
 * them.
 */
#ifndef TG_ADMIN_TLS_CMDS_H
#define TG_ADMIN_TLS_CMDS_H

#include "admin/admin.h"

json_t *cmd_tls_protocols_get(struct admin_ctx *a, const struct ctl_request *r, const char *cid);
json_t *cmd_tls_protocols_add(struct admin_ctx *a, const struct ctl_request *r, const char *cid);
json_t *cmd_tls_protocols_delete(struct admin_ctx *a, const struct ctl_request *r, const char *cid);
json_t *cmd_tls_protocols_clear(struct admin_ctx *a, const struct ctl_request *r, const char *cid);
json_t *cmd_tls_ciphers_get(struct admin_ctx *a, const struct ctl_request *r, const char *cid);
json_t *cmd_tls_ciphers_add(struct admin_ctx *a, const struct ctl_request *r, const char *cid);
json_t *cmd_tls_ciphers_delete(struct admin_ctx *a, const struct ctl_request *r, const char *cid);
json_t *cmd_tls_ciphers_clear(struct admin_ctx *a, const struct ctl_request *r, const char *cid);
json_t *cmd_tls_profile_apply(struct admin_ctx *a, const struct ctl_request *r, const char *cid);
json_t *cmd_tls_show(struct admin_ctx *a, const struct ctl_request *r, const char *cid);

#endif
