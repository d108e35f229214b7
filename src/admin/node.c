/* SPDX-License-Identifier: ISC */
#include "admin/node.h"

#include "core/log.h"
#include "core/util.h"

#include <stdio.h>
#include <string.h>

void node_from_config(const struct tg_config *cfg, int64_t now, struct store_processnode *out)
{
	memset(out, 0, sizeof *out);
	tg_strlcpy(out->name, cfg->core.node_id, sizeof out->name);
	tg_strlcpy(out->address, cfg->core.node_address, sizeof out->address);
	out->sipport = cfg->sip.port;
	out->securedsipport = cfg->sip.tls_port;
	out->sipoauthport = cfg->sip.oauth_port;
	out->sipmraoauthport = cfg->sip.edge_port;
	out->ctiport = cfg->cti.port;
	out->ctitlsport = cfg->cti.tls_port;
	out->httpport = cfg->files.http_port;
	out->tftpport = cfg->files.tftp_port;
	tg_strlcpy(out->version, TELGATE_VERSION, sizeof out->version);
	out->timestarted = now;
	out->lastheartbeat = now;
}

/* The configuration key behind each column, for an error an administrator can act on. */
static const char *const config_keys[][2] = {
    {"sipport", "sip.port"},
    {"securedsipport", "sip.tls_port"},
    {"sipoauthport", "sip.oauth_port"},
    {"sipmraoauthport", "sip.edge_port"},
    {"ctiport", "cti.port"},
    {"ctitlsport", "cti.tls_port"},
    {"httpport", "files.http_port"},
    {"tftpport", "files.tftp_port"},
};

int node_register(store_t *st, const struct store_processnode *n, const char *cid, char *err,
                  size_t errlen)
{
	char why[200];
	if (store_processnode_check(n, why, sizeof why) != 0) {
		/* The check says "node 'NAME': COLUMN VALUE is not ..." */
		const char *key = "core.node_id";
		const char *col = strstr(why, "': ");
		for (size_t i = 0; col && i < sizeof config_keys / sizeof config_keys[0]; i++) {
			size_t len = strlen(config_keys[i][0]);
			if (strncmp(col + 3, config_keys[i][0], len) == 0 && col[3 + len] == ' ')
				key = config_keys[i][1];
		}
		snprintf(err, errlen, "%s: this node's row in the node table: %s", key, why);
		return -1;
	}
	int rc = store_processnode_put(st, n);
	if (rc != STORE_OK) {
		snprintf(err, errlen, "cannot write this node's row: %s", store_last_error());
		return -1;
	}
	log_ev(LOG_LVL_NOTICE, cid, "node_registered", LOG_S("name", n->name),
	       LOG_S("address", n->address), LOG_I("sip", n->sipport),
	       LOG_I("sips", n->securedsipport), LOG_I("oauth", n->sipoauthport),
	       LOG_I("mra", n->sipmraoauthport), LOG_I("cti", n->ctiport),
	       LOG_I("cti_tls", n->ctitlsport), LOG_I("http", n->httpport),
	       LOG_I("tftp", n->tftpport), LOG_S("version", n->version));
	return 0;
}

int node_heartbeat(store_t *st, struct store_processnode *n, int64_t now, const char *cid)
{
	n->lastheartbeat = now;
	int rc = store_processnode_beat(st, n);
	if (rc == STORE_NOTFOUND)
		rc = store_processnode_put(st, n);
	if (rc != STORE_OK)
		log_ev(LOG_LVL_WARNING, cid, "node_heartbeat_failed", LOG_S("name", n->name),
		       LOG_S("error", store_last_error()));
	return rc;
}
