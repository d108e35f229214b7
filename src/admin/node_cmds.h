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
#include "admin/node.h"

json_t *cmd_show_nodes(struct admin_ctx *a, const struct ctl_request *r, const char *cid);
/* `telgate cluster status` (issue 21): every node of the node table with its address,
 * version and the age of its last heartbeat, this node marked, and this node's store:
 * its database connection and the channel other nodes' changes arrive on. Not yet:
 * registrations and CTI sessions per node. */
json_t *cmd_cluster_status(struct admin_ctx *a, const struct ctl_request *r, const char *cid);
/* `telgate node delete NAME`: removes a node that is gone for good (a node renamed by a
 * restore, a decommissioned server) from the node table, so that cnf.xml stops sending phones
 * to it. Refused for this node and for a node whose last heartbeat is more recent than
 * node_dead_after_s(core.heartbeat_s) (it is alive and would write its row again at its next
 * heartbeat); the refusal names that bound. */
json_t *cmd_node_delete(struct admin_ctx *a, const struct ctl_request *r, const char *cid);
json_t *cmd_show_securityprofiles(struct admin_ctx *a, const struct ctl_request *r,
                                  const char *cid);

#endif
