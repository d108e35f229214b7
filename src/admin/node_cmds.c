/* SPDX-License-Identifier: ISC */
#include "admin/node_cmds.h"

#include "core/util.h"

#include "core/log.h"

#include <pthread.h>
#include <stdio.h>
#include <string.h>

enum { NODE_COLS = 12, NODE_PORTS = 8 };

static int node_row(void *ud, const struct store_processnode *n)
{
	const int ports[NODE_PORTS] = {n->sipport,         n->securedsipport, n->sipoauthport,
	                               n->sipmraoauthport, n->ctiport,        n->ctitlsport,
	                               n->httpport,        n->tftpport};
	char text[NODE_PORTS][8], beat[32];
	const char *row[NODE_COLS] = {n->name, n->address};
	for (int i = 0; i < NODE_PORTS; i++) {
		snprintf(text[i], sizeof text[i], "%d", ports[i]);
		row[2 + i] = ports[i] ? text[i] : "off";
	}
	tg_fmt_time(n->lastheartbeat, beat, sizeof beat);
	row[10] = n->version;
	row[11] = beat;
	ctl_table_add_row(ud, row, NODE_COLS);
	return 0;
}

json_t *cmd_show_nodes(struct admin_ctx *a, const struct ctl_request *r, const char *cid)
{
	(void)r;
	(void)cid;
	static const char *const cols[NODE_COLS] = {"name",  "address", "sip",     "sips",
	                                            "oauth", "mra",     "cti",     "cti-tls",
	                                            "http",  "tftp",    "version", "heartbeat"};
	json_t *t = ctl_table(cols, NODE_COLS);
	if (store_processnodes(a->store, node_row, t) != STORE_OK) {
		json_decref(t);
		return ctl_error("store unavailable: %s", store_last_error());
	}
	return t;
}

struct cluster_rows {
	json_t *t;
	const char *self, *db, *listen;
	int64_t now;
};

static int cluster_row(void *ud, const struct store_processnode *n)
{
	struct cluster_rows *c = ud;
	char age[32], regs[24], cti[24];
	snprintf(age, sizeof age, "%llds ago", (long long)(c->now - n->lastheartbeat));
	/* As of the node's last heartbeat (it writes them there). */
	snprintf(regs, sizeof regs, "%lld", (long long)n->registrations);
	snprintf(cti, sizeof cti, "%lld", (long long)n->ctisessions);
	int self = strcmp(n->name, c->self) == 0;
	const char *row[] = {
	    n->name,           n->address,        n->version,           age, regs, cti,
	    self ? "yes" : "", self ? c->db : "", self ? c->listen : ""};
	ctl_table_add_row(c->t, row, sizeof row / sizeof row[0]);
	return 0;
}

json_t *cmd_cluster_status(struct admin_ctx *a, const struct ctl_request *r, const char *cid)
{
	(void)r;
	(void)cid;
	static const char *const cols[] = {
	    "node",      "address",       "version",
	    "heartbeat", "registrations", "cti sessions",
	    "this node", "store",         "changes from other nodes"};
	char self[sizeof a->cfg.core.node_id], db[320], listen[96];
	pthread_mutex_lock(&a->mu);
	tg_strlcpy(self, a->cfg.core.node_id, sizeof self);
	pthread_mutex_unlock(&a->mu);
	store_cluster_state(a->store, db, sizeof db, listen, sizeof listen);
	struct cluster_rows c = {ctl_table(cols, sizeof cols / sizeof cols[0]), self, db, listen,
	                         tg_now_s()};
	if (store_processnodes(a->store, cluster_row, &c) != STORE_OK) {
		/* The database is gone: this node's own row, from what it knows. */
		const char *row[] = {self, "", "", "", "", "", "yes", db, listen};
		ctl_table_add_row(c.t, row, sizeof row / sizeof row[0]);
	}
	return c.t;
}

json_t *cmd_node_delete(struct admin_ctx *a, const struct ctl_request *r, const char *cid)
{
	const char *name = r->argv[2];
	char self[sizeof a->cfg.core.node_id];
	pthread_mutex_lock(&a->mu);
	tg_strlcpy(self, a->cfg.core.node_id, sizeof self);
	/* The nodes of a cluster share one heartbeat period; a site that changes it gets the
	 * bound its nodes actually keep. */
	int64_t dead_after = node_dead_after_s(a->cfg.core.heartbeat_s);
	pthread_mutex_unlock(&a->mu);
	if (strcmp(name, self) == 0)
		return ctl_error("node '%.64s' is this node (core.node_id): it cannot be deleted "
		                 "while it runs",
		                 name);
	struct store_processnode n;
	int rc = store_processnode_get(a->store, name, &n);
	if (rc == STORE_NOTFOUND)
		return ctl_error("no node named '%.64s' (telgate show nodes lists them)", name);
	if (rc != STORE_OK)
		return ctl_error("store unavailable: %s", store_last_error());
	int64_t quiet = tg_now_s() - n.lastheartbeat;
	if (quiet < dead_after)
		return ctl_error("node '%.64s' sent a heartbeat %lld s ago: it is running; stop it "
		                 "first (a node is deleted after %lld s without one: %d x "
		                 "core.heartbeat_s)",
		                 name, (long long)quiet, (long long)dead_after,
		                 NODE_DEAD_HEARTBEATS);
	rc = store_processnode_delete(a->store, name);
	if (rc == STORE_NOTFOUND)
		return ctl_error("no node named '%.64s'", name);
	if (rc != STORE_OK)
		return ctl_error("store unavailable: %s", store_last_error());
	log_ev(LOG_LVL_NOTICE, cid, "node_deleted", LOG_S("node", name), LOG_I("silent_s", quiet));
	return ctl_message("node %s deleted; the configuration files no longer list it", name);
}

static int profile_row(void *ud, const struct store_securityprofile *p)
{
	const char *row[] = {p->name, p->transport, p->enableoauthauthentication ? "true" : "false",
	                     p->enabledigestauthentication ? "true" : "false", p->description};
	ctl_table_add_row(ud, row, 5);
	return 0;
}

json_t *cmd_show_securityprofiles(struct admin_ctx *a, const struct ctl_request *r, const char *cid)
{
	(void)r;
	(void)cid;
	static const char *const cols[] = {"name", "transport", "oauth", "digest", "description"};
	json_t *t = ctl_table(cols, 5);
	if (store_securityprofiles(a->store, profile_row, t) != STORE_OK) {
		json_decref(t);
		return ctl_error("store unavailable: %s", store_last_error());
	}
	return t;
}
