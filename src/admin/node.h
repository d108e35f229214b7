/* SPDX-License-Identifier: ISC */
/*
 * node: this node's row in the node table (processnode, store.h): built from the
 * configuration, written by telgated at start, its lastheartbeat (with the registrations
 * and CTI sessions the caller counted) refreshed every core.heartbeat_s seconds
 * (NODE_HEARTBEAT_S by default) from the main loop. cnf.xml generation lists every row with
 * its ports; the cluster issue reads lastheartbeat to tell live nodes from dead ones.
 *
 * Threads: the caller's (telgated's start and its main loop); blocking on the store (one
 * small write). Ownership: nothing is kept; the caller owns the row.
 */
#ifndef TG_ADMIN_NODE_H
#define TG_ADMIN_NODE_H

#include "core/config.h"
#include "store/store.h"

#include <stddef.h>
#include <stdint.h>

#define NODE_HEARTBEAT_S 30
/* Heartbeats a node may miss before the others take it as dead (its expired bindings
 * anyone's to delete, its row deletable): 3 covers one late and one lost write. */
#define NODE_DEAD_HEARTBEATS 3

/* Seconds of silence after which a node heartbeating every heartbeat_s seconds
 * (core.heartbeat_s: every node of a cluster is configured alike) is dead. */
static inline int64_t node_dead_after_s(int heartbeat_s)
{
	return (int64_t)NODE_DEAD_HEARTBEATS * heartbeat_s;
}

/* The row this node advertises: name core.node_id, address core.node_address, each port
 * as configured (0 where the listener is off): sip.port, sip.tls_port, sip.oauth_port,
 * sip.edge_port (sipMRAOAuthPort: the edge listener), cti.port, cti.tls_port,
 * files.http_port, files.tftp_port; the running version; timestarted = lastheartbeat =
 * now (epoch s). */
void node_from_config(const struct tg_config *cfg, int64_t now, struct store_processnode *out);

/* Writes the row and logs node_registered (name, address, ports). Returns 0, or -1 with
 * err set: a port the node table does not accept (seed 002: sipOAuthPort and
 * sipMRAOAuthPort are 1024-49151; the message names the configuration key) or a store
 * failure. */
int node_register(store_t *st, const struct store_processnode *n, const char *cid, char *err,
                  size_t errlen);

/* Sets the row's lastheartbeat to now (epoch s) and its counts to n's (registrations,
 * ctisessions: the caller's); writes the whole row again when it is gone (deleted by
 * hand). Logs node_heartbeat_failed on failure and returns the store
 * code. */
int node_heartbeat(store_t *st, struct store_processnode *n, int64_t now, const char *cid);

#endif
