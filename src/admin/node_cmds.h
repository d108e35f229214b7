/* SPDX-License-Identifier: ISC */
/*
 * node_cmds: `telgate show nodes` (the node table, processnode: each node's address, its
 * per-node ports, version and last heartbeat) and `telgate show securityprofiles` (the
 * device security profiles). Read-only; run on an admin worker (they block on the store).
 * A port of 0 (that listener off on that node) shows as "off".
 */
#ifndef TG_ADMIN_NODE_CMDS_H
#define TG_ADMIN_NODE_CMDS_H

#include "admin/admin.h"

json_t *cmd_show_nodes(struct admin_ctx *a, const struct ctl_request *r, const char *cid);
json_t *cmd_show_securityprofiles(struct admin_ctx *a, const struct ctl_request *r,
                                  const char *cid);

#endif
