/* SPDX-License-Identifier: ISC */
/*
 * oauth_key_cmds: the token core's control commands (issue 18; authz/authz.h, docs/oauth.md):
 *
 *   oauth keys rotate            a new token key in the signer: published in the JWKS at once,
 *                                signing after [oauth] key_grace_s; the keys it replaces are
 *                                retired after the longest token lifetime
 *   oauth keys list [--json]     the keys and their state (next, active, retiring, retired);
 *                                with --json the JWKS document (RFC 7517 §5) that /oauth/jwks
 *                                serves, for verifiers outside telgate
 *   oauth issue USER --aud cti|sip|cti,sip --client ID [--scope S]
 *                                an access token for USER (who must exist), signed by the
 *                                signer as the token endpoint's are: the administrator's tool
 *                                for integration tests of CTI and SIP clients. The control
 *                                socket serves root and the service user only; the command is
 *                                audited (its words, never the token).
 *
 * Threads: an admin worker (store, signer). Ownership: the answer is the caller's.
 */
#ifndef TG_ADMIN_OAUTH_KEY_CMDS_H
#define TG_ADMIN_OAUTH_KEY_CMDS_H

#include "admin/admin.h"

json_t *cmd_oauth_keys_rotate(struct admin_ctx *a, const struct ctl_request *r, const char *cid);
json_t *cmd_oauth_keys_list(struct admin_ctx *a, const struct ctl_request *r, const char *cid);
json_t *cmd_oauth_issue(struct admin_ctx *a, const struct ctl_request *r, const char *cid);

#endif
