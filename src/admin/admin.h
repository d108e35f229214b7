/* SPDX-License-Identifier: ISC */
/*
 * admin: the commands the telgate CLI sends over the control socket (status, run sql,
 * show open ports, set/get param, import, show alarms, user show/lock/unlock, ldap test,
 * auth test, help; the list is admin/commands.h). admin_handle() runs on a
 * worker thread; it may block on the store. The context is owned by telgated's main and
 * outlives the control server; the configuration inside it is replaced on reload under
 * its lock.
 */
#ifndef TG_ADMIN_H
#define TG_ADMIN_H

#include "ca/ca_bootstrap.h"
#include "core/config.h"
#include "core/ctlproto.h"
#include "cti/server.h"
#include "dir/dir.h"
#include "sip/registrar.h"
#include "store/store.h"

struct workers;
struct devstate;
struct tftp_server;
struct signer;
struct authz;
struct est_server;
struct oauth;
struct xsi_server;

#include <pthread.h>
#include <stdint.h>

#define ADMIN_SQL_MAX_ROWS 10000
#define ADMIN_SQL_TIMEOUT_MS 5000

struct admin_ctx {
	store_t *store;
	pthread_mutex_t mu; /* guards cfg */
	struct tg_config cfg;
	int64_t started_s;
	int nloops, nworkers;
	struct ca_bootstrap_result pki;
	struct dir *dir;           /* for `auth test`; NULL until the directory started */
	struct cti_server *cti;    /* for `show cti ...`, `device state`; NULL until started */
	struct sip_registrar *sip; /* for `unregister`; NULL until started */
	struct workers *workers;   /* for the metrics; NULL until started */
	struct devstate *devstate; /* for `device state` and the metrics */
	struct tftp_server *tftp;  /* for `show tftp` and the metrics; NULL when off */
	struct signer *signer;     /* for `cert revoke` (ca/signer.h); NULL while the signer is
	                              not running */
	struct authz *authz;       /* for `oauth keys`, `oauth issue` and the metrics; NULL
	                              until started */
	struct est_server *est;    /* for the metrics; NULL when [est] port = 0 */
	struct oauth *oauth;       /* the OAuth server's counters for the metrics (authz/oauth.h);
	                              NULL when off */
	struct xsi_server *xsi;    /* the cloud CTI event interfaces (xsi/server.h); NULL until
	                              started */
};

void admin_init(struct admin_ctx *a, store_t *st, const struct tg_config *cfg);
void admin_set_config(struct admin_ctx *a, const struct tg_config *cfg);
void admin_destroy(struct admin_ctx *a);

/* ctl_handler for the control server (ctx is a struct admin_ctx). */
json_t *admin_handle(void *ctx, const struct ctl_request *req, const char *cid);

#endif
