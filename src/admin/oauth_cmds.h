/* SPDX-License-Identifier: ISC */
/*
 * oauth_cmds: the OAuth server's clients and grants (issue 18; authz/oauth.h, store_oauth.h).
 *
 *   oauth client add ID [--type public|confidential] [--redirect-uris URI[,URI..]]
 *                       [--grants G[,G..]] [--scopes S[,S..]] [--audience sip|cti|sip,cti]
 *                       [--mtls-subject CN] [--secret yes|no]
 *                       [--access-lifetime DURATION] [--refresh-lifetime DURATION]
 *   oauth client list    oauth client show ID    oauth client delete ID
 *   oauth tokens USER    (the user's active refresh-token families)
 *   oauth revoke USER | oauth revoke --family ID
 *
 * Grants: authorization_code, refresh_token, device_code, client_credentials (confidential
 * clients only). A confidential client gets a machine-made secret (256 random bits,
 * oauth_crypto.h) unless --secret no (then --mtls-subject is required: RFC 8705
 * tls_client_auth with a telgate-issued certificate of that CN): the secret is in the
 * answer once (client_secret row) and stored only as HMAC-SHA-256. Defaults: public,
 * authorization_code + refresh_token; confidential, client_credentials; audience sip;
 * lifetimes [oauth]'s. Threads: an admin worker (the store). The answer is the caller's.
 */
#ifndef TG_ADMIN_OAUTH_CMDS_H
#define TG_ADMIN_OAUTH_CMDS_H

#include "admin/admin.h"

json_t *cmd_oauth_client_add(struct admin_ctx *a, const struct ctl_request *r, const char *cid);
json_t *cmd_oauth_client_list(struct admin_ctx *a, const struct ctl_request *r, const char *cid);
json_t *cmd_oauth_client_show(struct admin_ctx *a, const struct ctl_request *r, const char *cid);
json_t *cmd_oauth_client_delete(struct admin_ctx *a, const struct ctl_request *r, const char *cid);
json_t *cmd_oauth_tokens(struct admin_ctx *a, const struct ctl_request *r, const char *cid);
json_t *cmd_oauth_revoke(struct admin_ctx *a, const struct ctl_request *r, const char *cid);

#endif
