/* SPDX-License-Identifier: ISC */
#include "admin/cti_iface_cmds.h"

#include "admin/tls_cert_cmds.h"
#include "core/log.h"
#include "core/util.h"
#include "xsi/hub.h"
#include "xsi/server.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sysexits.h>

static json_t *usage(const char *msg)
{
	json_t *e = ctl_error("%s", msg);
	json_object_set_new(e, "exit", json_integer(EX_USAGE));
	return e;
}

/* "true"/"false" (any case) -> 1/0, else -1. */
static int boolean(const char *s)
{
	return strcasecmp(s, "true") == 0 ? 1 : strcasecmp(s, "false") == 0 ? 0 : -1;
}

static int port_of(const char *s)
{
	char *end;
	long p = strtol(s, &end, 10);
	return *s && !*end && p >= 1 && p <= 65535 ? (int)p : -1;
}

/* --- get ---------------------------------------------------------------------------- */

struct get {
	struct admin_ctx *a;
	json_t *t;
};

static int get_row(void *ud, const struct store_ctiinterface *c)
{
	struct get *g = ud;
	char port[8];
	snprintf(port, sizeof port, "%d", c->port);
	int on = g->a->xsi && xsi_server_listening(g->a->xsi, c->address, c->port);
	const char *row[] = {c->address,
	                     port,
	                     c->secure ? "true" : "false",
	                     c->servercert ? "true" : "false",
	                     c->clientauthreq ? "true" : "false",
	                     on ? "yes" : "no"};
	ctl_table_add_row(g->t, row, 6);
	return 0;
}

json_t *cmd_cti_iface_get(struct admin_ctx *a, const struct ctl_request *r, const char *cid)
{
	(void)r;
	(void)cid;
	static const char *const cols[] = {
	    "Interface IP", "Port", "Secure", "Server Certificate", "Client Auth Req", "Listening"};
	struct get g = {a, ctl_table(cols, 6)};
	if (store_ctiinterfaces(a->store, get_row, &g) != STORE_OK) {
		json_decref(g.t);
		return ctl_error("store unavailable: %s", store_last_error());
	}
	return g.t;
}

/* --- add / delete ------------------------------------------------------------------- */

json_t *cmd_cti_iface_add(struct admin_ctx *a, const struct ctl_request *r, const char *cid)
{
	struct store_ctiinterface c;
	memset(&c, 0, sizeof c);
	c.port = port_of(r->argv[2]);
	c.secure = boolean(r->argv[3]);
	c.servercert = boolean(r->argv[4]);
	c.clientauthreq = boolean(r->argv[5]);
	tg_strlcpy(c.address, r->argc > 6 ? r->argv[6] : "0.0.0.0", sizeof c.address);
	if (c.port < 0)
		return usage("PORT is 1..65535 (the seed's is 8012)");
	if (c.secure < 0 || c.servercert < 0 || c.clientauthreq < 0)
		return usage("SECURE, SERVERCERT and CLIENTAUTH are true or false");
	if (!c.secure || !c.clientauthreq)
		return ctl_error("refused: telgate's CTI event interfaces are mutual TLS only "
		                 "(secure=true and clientauth=true): without a client certificate "
		                 "there is no identity to authorise subscriptions for "
		                 "(docs/cti-events.md)");
	if (!c.servercert)
		return ctl_error("refused: a TLS interface presents a server certificate "
		                 "(servercert=true); replace it with `telgate cti-interface "
		                 "ssl-update`");
	if (strlen(r->argc > 6 ? r->argv[6] : "") >= sizeof c.address)
		return usage("ADDRESS is too long");
	int rc = store_ctiinterface_add(a->store, &c);
	if (rc == STORE_CONSTRAINT)
		return ctl_error("a CTI interface on %s:%d exists already", c.address, c.port);
	if (rc != STORE_OK)
		return ctl_error("store unavailable: %s", store_last_error());
	char err[512] = "";
	/* -EEXIST: the table's reload (xsi/server.c, on this row's generation) opened it. */
	int orc = a->xsi ? xsi_server_open(a->xsi, c.address, c.port, err, sizeof err) : 0;
	if (orc < 0 && orc != -EEXIST) {
		store_ctiinterface_delete(a->store, c.address, c.port);
		log_ev(LOG_LVL_WARNING, cid, "xsi_interface_refused", LOG_S("address", c.address),
		       LOG_I("port", c.port), LOG_S("error", err));
		return ctl_error("not added: %s", err);
	}
	log_ev(LOG_LVL_NOTICE, cid, "xsi_interface_added", LOG_S("address", c.address),
	       LOG_I("port", c.port));
	return ctl_message("CTI interface %s:%d added and listening (mutual TLS; TLS settings at "
	                   "interface=cti-interface@%s:%d or kind=cti-interface)",
	                   c.address, c.port, c.address, c.port);
}

json_t *cmd_cti_iface_delete(struct admin_ctx *a, const struct ctl_request *r, const char *cid)
{
	int port = port_of(r->argv[2]);
	const char *address = r->argc > 3 ? r->argv[3] : "0.0.0.0";
	if (port < 0)
		return usage("PORT is 1..65535");
	int rc = store_ctiinterface_delete(a->store, address, port);
	if (rc == STORE_NOTFOUND)
		return ctl_error("no CTI interface on %s:%d (telgate cti-interface get)", address,
		                 port);
	if (rc != STORE_OK)
		return ctl_error("store unavailable: %s", store_last_error());
	if (a->xsi)
		xsi_server_close(a->xsi, address, port);
	log_ev(LOG_LVL_NOTICE, cid, "xsi_interface_deleted", LOG_S("address", address),
	       LOG_I("port", port));
	return ctl_message("CTI interface %s:%d deleted and closed", address, port);
}

/* --- ssl-update: tls cert update interface=cti-interface@ADDRESS:PORT ... ------------ */

json_t *cmd_cti_iface_ssl_update(struct admin_ctx *a, const struct ctl_request *r, const char *cid)
{
	char level[160];
	snprintf(level, sizeof level, "interface=" XSI_KIND "@%s", r->argv[2]);
	struct ctl_request t = *r;
	/* tls cert update LEVEL KEYFILE CERTFILE [CHAINFILE]: one word more in front. */
	t.argc = r->argc + 1;
	t.argv[0] = "tls";
	t.argv[1] = "cert";
	t.argv[2] = "update";
	t.argv[3] = level;
	for (int i = 3; i < r->argc; i++)
		t.argv[i + 1] = r->argv[i];
	return cmd_tls_cert_update(a, &t, cid);
}

/* --- scope -------------------------------------------------------------------------- */

static json_t *scope_check(struct admin_ctx *a, const char *scope)
{
	if (strcmp(scope, "all") == 0)
		return NULL;
	int rc = store_group_exists(a->store, scope);
	if (rc == 0)
		return ctl_error("no directory group '%.128s' (a scope is all or a group)", scope);
	if (rc != 1)
		return ctl_error("store unavailable: %s", store_last_error());
	return NULL;
}

json_t *cmd_cti_iface_scope_add(struct admin_ctx *a, const struct ctl_request *r, const char *cid)
{
	const char *id = r->argv[3], *scope = r->argv[4];
	json_t *e = scope_check(a, scope);
	if (e)
		return e;
	if (strlen(id) > 255 || strlen(scope) > 128)
		return usage("IDENTITY is at most 255 bytes, GROUP 128");
	if (store_ctiscope_add(a->store, id, scope) != STORE_OK)
		return ctl_error("store unavailable: %s", store_last_error());
	log_ev(LOG_LVL_NOTICE, cid, "xsi_scope_added", LOG_S("identity", id),
	       LOG_S("scope", scope));
	return ctl_message("%s may subscribe to %s", id,
	                   strcmp(scope, "all") == 0 ? "every subscriber" : scope);
}

json_t *cmd_cti_iface_scope_delete(struct admin_ctx *a, const struct ctl_request *r,
                                   const char *cid)
{
	const char *id = r->argv[3], *scope = r->argv[4];
	int rc = store_ctiscope_delete(a->store, id, scope);
	if (rc == STORE_NOTFOUND)
		return ctl_error("%s has no scope %s", id, scope);
	if (rc != STORE_OK)
		return ctl_error("store unavailable: %s", store_last_error());
	log_ev(LOG_LVL_NOTICE, cid, "xsi_scope_deleted", LOG_S("identity", id),
	       LOG_S("scope", scope));
	return ctl_message("scope %s of %s deleted (new subscriptions only: existing ones run "
	                   "until they end)",
	                   scope, id);
}

static int scope_row(void *ud, const char *identity, const char *scope)
{
	const char *row[] = {identity, scope};
	ctl_table_add_row(ud, row, 2);
	return 0;
}

json_t *cmd_cti_iface_scope_get(struct admin_ctx *a, const struct ctl_request *r, const char *cid)
{
	(void)cid;
	static const char *const cols[] = {"identity", "scope"};
	json_t *t = ctl_table(cols, 2);
	if (store_ctiscopes(a->store, r->argc > 3 ? r->argv[3] : NULL, scope_row, t) != STORE_OK) {
		json_decref(t);
		return ctl_error("store unavailable: %s", store_last_error());
	}
	return t;
}

/* --- status ------------------------------------------------------------------------- */

json_t *cmd_cti_iface_status(struct admin_ctx *a, const struct ctl_request *r, const char *cid)
{
	(void)r;
	(void)cid;
	static const char *const cols[] = {"name", "value"};
	struct xsi_hub_stats s;
	memset(&s, 0, sizeof s);
	if (a->xsi)
		xsi_hub_stats(xsi_server_hub(a->xsi), &s);
	json_t *t = ctl_table(cols, 2);
	const struct {
		const char *name;
		uint64_t v;
	} rows[] = {
	    {"channels", s.channels},
	    {"channel_sets", s.sets},
	    {"subscriptions", s.subscriptions},
	    {"events_queued", s.queued},
	    {"events", s.events},
	    {"events_sent", s.sent},
	    {"events_redelivered", s.redelivered},
	    {"events_acknowledged", s.acked},
	    {"events_dropped", s.dropped},
	    {"channels_terminated", s.terminated_channels},
	    {"subscriptions_terminated", s.terminated_subscriptions},
	    {"write_delay_under_1ms", s.write_delay[0]},
	    {"write_delay_under_5ms", s.write_delay[1]},
	    {"write_delay_under_20ms", s.write_delay[2]},
	    {"write_delay_under_100ms", s.write_delay[3]},
	    {"write_delay_over_100ms", s.write_delay[4]},
	    {"tick_max_us", s.tick_max_us},
	    {"tick_cpu_max_us", s.tick_cpu_max_us},
	    {"tick_cpu_us", s.tick_cpu_us},
	};
	for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++) {
		char v[24];
		snprintf(v, sizeof v, "%" PRIu64, rows[i].v);
		const char *row[] = {rows[i].name, v};
		ctl_table_add_row(t, row, 2);
	}
	return t;
}
