/* SPDX-License-Identifier: ISC */
/*
 * tls_cert_cmds: `telgate tls cert update|delete|get` (admin/commands.h rows tls_cert_*),
 * the server certificate of one TLS listener (issue 15; the seed's sslUpdate). The files
 * live under <pki.dir>/interfaces (tls/tlsctx.h), not in the store; an update is checked
 * (tls/servercert.h), written, and the listener's context reloaded before the answer, so
 * the next connection gets it. Runs on a worker (blocking file I/O).
 */
#ifndef TG_ADMIN_TLS_CERT_CMDS_H
#define TG_ADMIN_TLS_CERT_CMDS_H

#include "admin/admin.h"

json_t *cmd_tls_cert_update(struct admin_ctx *a, const struct ctl_request *r, const char *cid);
json_t *cmd_tls_cert_delete(struct admin_ctx *a, const struct ctl_request *r, const char *cid);
json_t *cmd_tls_cert_get(struct admin_ctx *a, const struct ctl_request *r, const char *cid);

#endif
