/* SPDX-License-Identifier: ISC */
/*
 * sipoauth_cmds: `telgate utils sipOAuth-mode enable|disable|status [--json]` (issue 19,
 * seed 002: Unified CM's `utils sipOAuth-mode`). enable/disable set the enterprise
 * parameter ClusterSIPOAuthMode (1/0) and apply it at once, without a restart: the SIP
 * OAuth listener (this node's sipoauthport, 5090) opens or closes (sip/registrar.h) and
 * every cnf.xml changes (new ETag). status reads the parameter and the port open now.
 * Runs on an admin worker (store, every loop); audited as a change (commands.h).
 */
#ifndef TG_ADMIN_SIPOAUTH_CMDS_H
#define TG_ADMIN_SIPOAUTH_CMDS_H

#include "admin/admin.h"

json_t *cmd_utils_sipoauth_mode(struct admin_ctx *a, const struct ctl_request *r, const char *cid);

#endif
