/* SPDX-License-Identifier: ISC */
/*
 * cert_cmds: `telgate cert list [USER]` (the certificates telgate's CA issued, from the
 * issued-certificates table: serial, subject, user, instance id, profile, not after and
 * status — valid, expired or revoked with its reason) and `telgate cert revoke SERIAL
 * REASON` (ca/ca_crl.h: marks it revoked and reissues the CRL; audited as every changing
 * command), then closes the CTI sessions that logged in with it (cti/server.h:
 * cti_server_close_certificate; also when the CRL could not be reissued, as the store
 * says revoked). Revocation needs the signer (a->signer): without it the command changes nothing
 * and says "the signer is not running". Run on an admin worker (they block on the store
 * and the signer).
 */
#ifndef TG_ADMIN_CERT_CMDS_H
#define TG_ADMIN_CERT_CMDS_H

#include "admin/admin.h"

json_t *cmd_cert_list(struct admin_ctx *a, const struct ctl_request *r, const char *cid);
json_t *cmd_cert_revoke(struct admin_ctx *a, const struct ctl_request *r, const char *cid);

#endif
