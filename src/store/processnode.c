/* SPDX-License-Identifier: ISC */
/* The node table (processnode): one row per node, its address and per-node ports. */
#include "store/store.h"
#include "store/store_backend.h"

#include <stdio.h>
#include <string.h>

/* Each port with its range, in column order: one table for the check and the SQL. */
static const struct node_port {
	const char *column;
	size_t off;
	int min; /* lowest port other than 0 */
	int max;
} node_ports[] = {
    {"sipport", offsetof(struct store_processnode, sipport), 1, 65535},
    {"securedsipport", offsetof(struct store_processnode, securedsipport), 1, 65535},
    /* Seed 002: sipOAuthPort and sipMRAOAuthPort are 1024-49151. */
    {"sipoauthport", offsetof(struct store_processnode, sipoauthport), 1024, 49151},
    {"sipmraoauthport", offsetof(struct store_processnode, sipmraoauthport), 1024, 49151},
    {"ctiport", offsetof(struct store_processnode, ctiport), 1, 65535},
    {"ctitlsport", offsetof(struct store_processnode, ctitlsport), 1, 65535},
    {"httpport", offsetof(struct store_processnode, httpport), 1, 65535},
    {"tftpport", offsetof(struct store_processnode, tftpport), 1, 65535},
};
#define NODE_NPORTS (sizeof node_ports / sizeof node_ports[0])

static int *port_at(struct store_processnode *n, size_t i)
{
	return (int *)((char *)n + node_ports[i].off);
}

static int port_of(const struct store_processnode *n, size_t i)
{
	return *(const int *)((const char *)n + node_ports[i].off);
}

int store_processnode_check(const struct store_processnode *n, char *err, size_t errlen)
{
	if (!n->name[0]) {
		snprintf(err, errlen, "a node needs a name");
		return -1;
	}
	for (size_t i = 0; i < NODE_NPORTS; i++) {
		int v = port_of(n, i);
		if (v != 0 && (v < node_ports[i].min || v > node_ports[i].max)) {
			snprintf(err, errlen, "node '%.64s': %s %d is not 0 or %d-%d", n->name,
			         node_ports[i].column, v, node_ports[i].min, node_ports[i].max);
			return -1;
		}
	}
	return 0;
}

int store_processnode_put(store_t *st, const struct store_processnode *n)
{
	char why[200];
	if (store_processnode_check(n, why, sizeof why) != 0) {
		store_set_error("%s", why);
		return STORE_CONSTRAINT;
	}
	struct store_val p[] = {SV_S(n->name),
	                        SV_S(n->address),
	                        SV_S(n->description),
	                        SV_I(n->sipport),
	                        SV_I(n->securedsipport),
	                        SV_I(n->sipoauthport),
	                        SV_I(n->sipmraoauthport),
	                        SV_I(n->ctiport),
	                        SV_I(n->ctitlsport),
	                        SV_I(n->httpport),
	                        SV_I(n->tftpport),
	                        SV_S(n->version),
	                        SV_I(n->timestarted),
	                        SV_I(n->lastheartbeat),
	                        SV_I(n->registrations),
	                        SV_I(n->ctisessions)};
	/* The counts: a new row takes n's. A row written again keeps its registrations (a
	 * node that starts loads its own bindings again: the last count stays the best figure
	 * until its first heartbeat) but takes n's CTI sessions: those of a previous run
	 * ended with it, and `cluster status` showed them for up to a heartbeat. */
	return store_exec(
	    st,
	    "INSERT INTO processnode (name, address, description, sipport, securedsipport, "
	    "sipoauthport, sipmraoauthport, ctiport, ctitlsport, httpport, tftpport, version, "
	    "timestarted, lastheartbeat, registrations, ctisessions) VALUES ($1, $2, $3, $4, $5, "
	    "$6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16) ON CONFLICT (name) DO UPDATE SET "
	    "ctisessions = excluded.ctisessions, address = excluded.address, description = "
	    "excluded.description, sipport = excluded.sipport, securedsipport = "
	    "excluded.securedsipport, sipoauthport = excluded.sipoauthport, sipmraoauthport = "
	    "excluded.sipmraoauthport, ctiport = excluded.ctiport, ctitlsport = "
	    "excluded.ctitlsport, httpport = excluded.httpport, tftpport = excluded.tftpport, "
	    "version = excluded.version, timestarted = excluded.timestarted, lastheartbeat = "
	    "excluded.lastheartbeat",
	    p, 16, NULL, NULL, NULL);
}

#define NODE_COLUMNS                                                                               \
	"name, address, description, sipport, securedsipport, sipoauthport, sipmraoauthport, "     \
	"ctiport, ctitlsport, httpport, tftpport, version, timestarted, lastheartbeat, "           \
	"registrations, ctisessions"

/* Fills a store_processnode from a row of NODE_COLUMNS; nonzero when a text column does
 * not fit. */
static int node_from_row(void *obj, const char *const *v)
{
	struct store_processnode *n = obj;
	memset(n, 0, sizeof *n);
	int bad = store_copy_col(n->name, sizeof n->name, v[0]) |
	          store_copy_col(n->address, sizeof n->address, v[1]) |
	          store_copy_col(n->description, sizeof n->description, v[2]) |
	          store_copy_col(n->version, sizeof n->version, v[11]);
	for (size_t i = 0; i < NODE_NPORTS; i++)
		*port_at(n, i) = (int)store_col_i64(v[3 + i]);
	n->timestarted = store_col_i64(v[12]);
	n->lastheartbeat = store_col_i64(v[13]);
	n->registrations = store_col_i64(v[14]);
	n->ctisessions = store_col_i64(v[15]);
	return bad;
}

int store_processnode_get(store_t *st, const char *name, struct store_processnode *out)
{
	struct store_rows r = {.conv = node_from_row, .obj = out, .size = sizeof *out};
	struct store_val p[] = {SV_S(name)};
	return store_select(st, "SELECT " NODE_COLUMNS " FROM processnode WHERE name = $1", p, 1,
	                    &r);
}

struct node_list {
	int (*fn)(void *ud, const struct store_processnode *n);
	void *ud;
};

static int node_each(void *ud, const void *obj)
{
	struct node_list *l = ud;
	return l->fn(l->ud, obj);
}

int store_processnodes(store_t *st, int (*fn)(void *ud, const struct store_processnode *n),
                       void *ud)
{
	struct store_processnode n;
	struct node_list l = {fn, ud};
	struct store_rows r = {node_from_row, &n, sizeof n, node_each, &l, 0, 0, 0};
	return store_select(st, "SELECT " NODE_COLUMNS " FROM processnode ORDER BY name", NULL, 0,
	                    &r);
}

int store_processnode_delete(store_t *st, const char *name)
{
	struct store_val p[] = {SV_S(name)};
	int n = 0;
	int rc = store_exec(st, "DELETE FROM processnode WHERE name = $1", p, 1, NULL, NULL, &n);
	return rc == STORE_OK && n == 0 ? STORE_NOTFOUND : rc;
}

static int beat(store_t *st, const char *sql, const struct store_val *p, int np)
{
	int n = 0;
	int rc = store_exec_nogen(st, sql, p, np, NULL, NULL, &n);
	return rc == STORE_OK && n == 0 ? STORE_NOTFOUND : rc;
}

int store_processnode_beat(store_t *st, const struct store_processnode *node)
{
	struct store_val p[] = {SV_I(node->lastheartbeat), SV_S(node->name),
	                        SV_I(node->registrations), SV_I(node->ctisessions)};
	return beat(st,
	            "UPDATE processnode SET lastheartbeat = $1, registrations = $3, ctisessions = "
	            "$4 WHERE name = $2",
	            p, 4);
}

int store_processnode_heartbeat(store_t *st, const char *name, int64_t now)
{
	struct store_val p[] = {SV_I(now), SV_S(name)};
	return beat(st, "UPDATE processnode SET lastheartbeat = $1 WHERE name = $2", p, 2);
}
