/* SPDX-License-Identifier: ISC */
#include "sip/devlink.h"

#include "core/log.h"
#include "core/util.h"

#include <stdlib.h>
#include <string.h>

struct sip_devlink {
	store_t *st;
	struct devstate *bus;
	struct sip_loc *loc;
};

static int any_binding(void *ud, const struct store_registration *b)
{
	(void)b;
	*(int *)ud = 1;
	return 1;
}

/* Whether any node holds a live binding of device: this node's table (its changes may
 * not be committed yet), else the store. A store failure counts as live: the device
 * stays as it is until the next resync rather than blinking out of service. */
static int live_anywhere(struct sip_devlink *k, const char *device, int64_t now)
{
	int here = 0;
	sip_loc_list(k->loc, device, now, any_binding, &here);
	if (here)
		return 1;
	int rc = store_registration_live(k->st, device, now);
	return rc != 0;
}

static void heard(void *arg, const char *device, int in_service)
{
	struct sip_devlink *k = arg;
	if (in_service || !live_anywhere(k, device, tg_now_s()))
		devstate_publish(k->bus, device, in_service);
}

/* Publishes in service each device of the store's live bindings (ordered by device). */
struct live {
	struct sip_devlink *k;
	int64_t now;
	char last[STORE_ID_MAX + 1];
	long n;
};

static int live_row(void *ud, const struct store_registration *b)
{
	struct live *lv = ud;
	if (b->expires <= lv->now || strcmp(lv->last, b->device) == 0)
		return 0;
	tg_strlcpy(lv->last, b->device, sizeof lv->last);
	devstate_publish(lv->k->bus, b->device, 1);
	lv->n++;
	return 0;
}

static void drop_if_gone(void *ud, const char *device)
{
	struct live *lv = ud;
	if (!live_anywhere(lv->k, device, lv->now))
		devstate_publish(lv->k->bus, device, 0);
}

static void resync(void *arg, const char *why)
{
	struct sip_devlink *k = arg;
	struct live lv = {.k = k, .now = tg_now_s()};
	int rc = store_registrations(k->st, NULL, live_row, &lv);
	if (rc == STORE_OK)
		devstate_each(k->bus, drop_if_gone, &lv);
	log_ev(rc == STORE_OK ? LOG_LVL_NOTICE : LOG_LVL_ERROR, NULL, "cluster_devstate_resync",
	       LOG_S("reason", why), LOG_I("in_service", lv.n),
	       LOG_S("error", rc == STORE_OK ? NULL : store_last_error()));
}

struct sip_devlink *sip_devlink_start(store_t *st, struct devstate *bus, struct sip_loc *loc)
{
	struct sip_devlink *k = calloc(1, sizeof *k);
	if (!k)
		return NULL;
	k->st = st;
	k->bus = bus;
	k->loc = loc;
	struct live lv = {.k = k, .now = tg_now_s()};
	if (store_registrations(st, NULL, live_row, &lv) != STORE_OK)
		log_ev(LOG_LVL_ERROR, NULL, "cluster_devstate_load_failed",
		       LOG_S("error", store_last_error()));
	store_devstate_listen(st, heard, resync, k);
	return k;
}

void sip_devlink_stop(struct sip_devlink *k)
{
	if (!k)
		return;
	store_devstate_listen(k->st, NULL, NULL, NULL);
	free(k);
}

struct orphans {
	struct sip_devlink *k;
	int n;
};

/* In the transaction of the DELETE: told to the other nodes at its commit, and published
 * here now (the bindings expired by their time: out of service whether or not the commit
 * goes through; if it does not, the next sweep, here or elsewhere, tells the others). */
static int announce_gone(void *ud, const char *const *devices, int n)
{
	struct orphans *o = ud;
	struct store_devstate v[64];
	int rc = STORE_OK;
	for (int i = 0; i < n && rc == STORE_OK; i += 64) {
		int m = n - i < 64 ? n - i : 64;
		for (int j = 0; j < m; j++)
			v[j] = (struct store_devstate){devices[i + j], 0};
		rc = store_devstate_announce(o->k->st, v, m);
	}
	for (int i = 0; i < n; i++)
		if (!live_anywhere(o->k, devices[i], tg_now_s()))
			devstate_publish(o->k->bus, devices[i], 0);
	o->n = n;
	return rc;
}

int sip_devlink_expire_orphans(struct sip_devlink *k, const char *node, int64_t now,
                               int64_t stale_before)
{
	struct orphans o = {.k = k};
	int n = 0;
	int rc = store_registrations_expire_orphans(k->st, node, now, stale_before, announce_gone,
	                                            &o, &n);
	if (rc != STORE_OK)
		return rc;
	if (n > 0)
		log_ev(LOG_LVL_NOTICE, NULL, "cluster_orphans_expired", LOG_I("bindings", n),
		       LOG_I("out_of_service", o.n));
	return n;
}
