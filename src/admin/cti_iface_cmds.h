/* SPDX-License-Identifier: ISC */
/*
 * cti_iface_cmds: `telgate cti-interface ...` (admin/commands.h rows cti_iface_*), the
 * cloud CTI event interfaces of seed 004 (src/xsi, docs/cti-events.md):
 *
 *   get                                   the seed's columns (Interface IP, Port, Secure,
 *                                         Server Certificate, Client Auth Req) + listening
 *   add PORT SECURE SERVERCERT CLIENTAUTH [ADDRESS]   stored, then opened at once
 *   delete PORT [ADDRESS]                 closed at once, then removed
 *   ssl-update ADDRESS:PORT KEYFILE CERTFILE [CHAINFILE]   `tls cert update` of
 *                                         interface=cti-interface@ADDRESS:PORT
 *   scope add|delete IDENTITY all|GROUP, scope get [IDENTITY]
 *   status                                channels, subscriptions and delivery counters
 *
 * telgate refuses secure=false and clientauth=false (a deviation from the seed: an event
 * interface without mutual TLS has no identity to authorise). Runs on an admin worker.
 */
#ifndef TG_ADMIN_CTI_IFACE_CMDS_H
#define TG_ADMIN_CTI_IFACE_CMDS_H

#include "admin/admin.h"

json_t *cmd_cti_iface_get(struct admin_ctx *a, const struct ctl_request *r, const char *cid);
json_t *cmd_cti_iface_add(struct admin_ctx *a, const struct ctl_request *r, const char *cid);
json_t *cmd_cti_iface_delete(struct admin_ctx *a, const struct ctl_request *r, const char *cid);
json_t *cmd_cti_iface_ssl_update(struct admin_ctx *a, const struct ctl_request *r, const char *cid);
json_t *cmd_cti_iface_scope_add(struct admin_ctx *a, const struct ctl_request *r, const char *cid);
json_t *cmd_cti_iface_scope_delete(struct admin_ctx *a, const struct ctl_request *r,
                                   const char *cid);
json_t *cmd_cti_iface_scope_get(struct admin_ctx *a, const struct ctl_request *r, const char *cid);
json_t *cmd_cti_iface_status(struct admin_ctx *a, const struct ctl_request *r, const char *cid);

#endif
