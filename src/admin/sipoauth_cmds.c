/* SPDX-License-Identifier: ISC */
#include "admin/sipoauth_cmds.h"
#include "core/log.h"
#include "sip/registrar.h"
#include "store/params.h"

#include <string.h>

#define PARAM "ClusterSIPOAuthMode"

/* {"ok": true, "message": ..., "mode": 0|1, "port": N (0 = closed)} */
static json_t *answer(int mode, int port, const char *what)
{
	json_t *ans = port ? ctl_message("%s: SIP OAuth mode %s, listening on port %d", what,
	                                 mode ? "enabled" : "disabled", port)
	                   : ctl_message("%s: SIP OAuth mode %s, no SIP OAuth port open", what,
	                                 mode ? "enabled" : "disabled");
	json_object_set_new(ans, "mode", json_integer(mode));
	json_object_set_new(ans, "port", json_integer(port));
	return ans;
}

json_t *cmd_utils_sipoauth_mode(struct admin_ctx *a, const struct ctl_request *r, const char *cid)
{
	const char *op = r->argv[2];
	if ((r->argc == 4 && strcmp(r->argv[3], "--json") != 0) ||
	    (strcmp(op, "enable") != 0 && strcmp(op, "disable") != 0 && strcmp(op, "status") != 0))
		return ctl_error("usage: utils sipOAuth-mode enable|disable|status [--json]");
	char old[16] = "0";
	int rc = store_param_get(a->store, PARAM, old, sizeof old);
	if (rc != STORE_OK && rc != STORE_NOTFOUND)
		return ctl_error("cannot read %s: %s", PARAM, store_last_error());
	int was = strcmp(old, "1") == 0;
	if (strcmp(op, "status") == 0) {
		int port = a->sip ? sip_registrar_oauth_port(a->sip) : 0;
		return answer(was, port, PARAM);
	}
	int on = strcmp(op, "enable") == 0;
	const struct param_def *def = param_find(PARAM);
	if (store_param_set(a->store, PARAM, on ? "1" : "0", def ? def->service : "Enterprise") !=
	    STORE_OK)
		return ctl_error("cannot set %s: %s", PARAM, store_last_error());
	log_ev(LOG_LVL_NOTICE, cid, "param_set", LOG_S("name", PARAM), LOG_I("old", was),
	       LOG_I("new", on));
	int port = 0;
	char err[256] = "";
	if (a->sip && sip_registrar_oauth_apply(a->sip, &port, err, sizeof err) != 0)
		return ctl_error("%s = %d, but the SIP OAuth port did not open: %s", PARAM, on,
		                 err);
	return answer(on, port, on == was ? PARAM " unchanged" : PARAM " changed");
}
