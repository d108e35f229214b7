/* SPDX-License-Identifier: ISC */
#include "admin/cert_cmds.h"

#include "ca/ca_crl.h"
#include "ca/ca_issue.h"
#include "cti/server.h"
#include "core/util.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>

enum { CERT_COLS = 7 };

struct cert_rows {
	json_t *table;
	int64_t now;
};

static int cert_row(void *ud, const struct store_issuedcert *c)
{
	struct cert_rows *l = ud;
	char notafter[32], status[STORE_REASON_MAX + 16];
	tg_fmt_time(c->notafter, notafter, sizeof notafter);
	if (c->status == STORE_CERT_REVOKED)
		snprintf(status, sizeof status, "revoked (%s)", c->revocation_reason);
	else
		snprintf(status, sizeof status, "%s", c->notafter < l->now ? "expired" : "valid");
	const char *row[CERT_COLS] = {c->serial,  c->subject, c->userid, c->instanceid,
	                              c->profile, notafter,   status};
	ctl_table_add_row(l->table, row, CERT_COLS);
	return 0;
}

json_t *cmd_cert_list(struct admin_ctx *a, const struct ctl_request *r, const char *cid)
{
	(void)cid;
	static const char *const cols[CERT_COLS] = {"serial",  "subject",  "user",  "instance",
	                                            "profile", "notafter", "status"};
	struct cert_rows l = {ctl_table(cols, CERT_COLS), tg_now_s()};
	if (store_issuedcerts(a->store, r->argc > 2 ? r->argv[2] : NULL, cert_row, &l) !=
	    STORE_OK) {
		json_decref(l.table);
		return ctl_error("store unavailable: %s", store_last_error());
	}
	return l.table;
}

json_t *cmd_cert_revoke(struct admin_ctx *a, const struct ctl_request *r, const char *cid)
{
	pthread_mutex_lock(&a->mu);
	char dir[sizeof a->cfg.pki.dir];
	snprintf(dir, sizeof dir, "%s", a->cfg.pki.dir);
	struct ca_crl_cfg cfg = {dir, a->cfg.pki.crl_days};
	pthread_mutex_unlock(&a->mu);
	char err[512];
	int rc =
	    ca_revoke(a->store, a->signer, &cfg, r->argv[2], r->argv[3], 0, cid, err, sizeof err);
	if (rc < 0)
		return ctl_error("%s", err);
	/* Revoked in the store (the CRL reissued or not): the CTI sessions that logged in
	 * with it end now (cti/server.h). The CA knows nothing of CTI: the command tells. */
	char serial[STORE_SERIAL_HEX + 1];
	if (a->cti && ca_serial_normalize(r->argv[2], serial) == 0)
		cti_server_close_certificate(a->cti, serial);
	if (rc == CA_REVOKED_CRL_STALE)
		return ctl_error("%s", err);
	return ctl_message("certificate %s revoked (%s); the CRL is reissued", r->argv[2],
	                   r->argv[3]);
}
