/* SPDX-License-Identifier: ISC */
#include "cti/monitor.h"
#include "core/devstate.h"
#include "core/loop.h"
#include "core/shtable.h"
#include "core/util.h"
#include "core/worker.h"
#include "cti/conn.h"
#include "cti/server_int.h"

#include <stdlib.h>
#include <string.h>

#define XML_MAX 16384

/* --- a loop's monitor index: device -> the monitors of it on this loop -------------- */

struct cti_mon {
	unsigned long xref;
	char device[CTI_ID_MAX + 1];
	int64_t opened_s;
	struct cti_conn *c;
	struct cti_mon *next_dev;  /* the device's monitors on this loop */
	struct cti_mon *next_conn; /* the connection's monitors */
};

/* One device with monitors on this loop. */
struct devmons {
	struct shtable_node node;
	struct cti_mon *mons;
	char device[];
};

/* The loop's own table (core/shtable, no locks: only its loop touches it). */
struct cti_mon_index {
	struct shtable *t;
};

static void devmons_free(struct shtable_node *n)
{
	free(SHTABLE_ENTRY(n, struct devmons, node));
}

struct cti_mon_index *cti_mon_index_new(void)
{
	struct cti_mon_index *ix = malloc(sizeof *ix);
	if (ix && !(ix->t = shtable_new(&(struct shtable_opts){
	                .shards = 1, .no_locks = 1, .free_entry = devmons_free}))) {
		free(ix);
		ix = NULL;
	}
	return ix;
}

void cti_mon_index_free(struct cti_mon_index *ix)
{
	if (ix)
		shtable_free(ix->t);
	free(ix);
}

static void index_add(struct cti_mon_index *ix, struct cti_mon *m)
{
	struct shtable_at at;
	shtable_lock_str(ix->t, m->device, &at);
	struct shtable_node *n = shtable_find(&at);
	struct devmons *d = n ? SHTABLE_ENTRY(n, struct devmons, node) : NULL;
	size_t len = strlen(m->device);
	if (!d && (d = calloc(1, sizeof *d + len + 1))) {
		memcpy(d->device, m->device, len + 1);
		shtable_insert(&at, &d->node, d->device, len);
	}
	if (d) {
		m->next_dev = d->mons;
		d->mons = m;
	}
	/* Out of memory: the monitor works but gets no events (a later MonitorStop or the
	 * close still finds nothing to unlink, which index_remove allows). */
	shtable_unlock(&at);
}

static void index_remove(struct cti_mon_index *ix, struct cti_mon *m)
{
	struct shtable_at at;
	shtable_lock_str(ix->t, m->device, &at);
	struct shtable_node *n = shtable_find(&at);
	if (n) {
		struct devmons *d = SHTABLE_ENTRY(n, struct devmons, node);
		struct cti_mon **pp = &d->mons;
		while (*pp && *pp != m)
			pp = &(*pp)->next_dev;
		if (*pp)
			*pp = m->next_dev;
		if (!d->mons) {
			shtable_remove(&at, n);
			devmons_free(n);
		}
	}
	shtable_unlock(&at);
}

/* The device's monitors on this loop (the list is valid until the loop changes it). */
static struct cti_mon *index_get(struct cti_mon_index *ix, const char *device)
{
	struct shtable_at at;
	shtable_lock_str(ix->t, device, &at);
	struct shtable_node *n = shtable_find(&at);
	shtable_unlock(&at);
	return n ? SHTABLE_ENTRY(n, struct devmons, node)->mons : NULL;
}

/* --- device state and its fan-out --------------------------------------------------- */

static void send_event(struct cti_conn *c, const struct cti_mon *m, int in_service)
{
	char xml[1024];
	cti_conn_send(c, CTI_EVENT_INVOKE, xml,
	              cti_xml_service_event(xml, sizeof xml, in_service, m->xref, m->device));
	cti_count_add(&c->cl->s->cnt.device_events_sent);
	log_ev(LOG_LVL_INFO, c->cid, "cti_event",
	       LOG_S("event", in_service ? "BackInService" : "OutOfService"),
	       LOG_S("device", m->device), LOG_U("monitor", m->xref), LOG_S("user", c->user));
}

struct state_msg {
	struct cti_loop *cl;
	int in_service;
	char device[];
};

/* On each loop: the change to every monitor of the device this loop serves. */
static void on_state(void *arg)
{
	struct state_msg *msg = arg;
	for (struct cti_mon *m = index_get(msg->cl->mons, msg->device); m; m = m->next_dev)
		if (!stream_closing(m->c->strm))
			send_event(m->c, m, msg->in_service);
	free(msg);
}

/* The device-state bus's callback (core/devstate.h): on the publisher's thread, with
 * the device's shard held, so it only copies the change to every loop. */
void cti_on_device_state(void *arg, const char *device, int in_service)
{
	struct cti_server *s = arg;
	size_t dl = strlen(device);
	cti_count_add(&s->cnt.device_events_in);
	log_ev(LOG_LVL_INFO, NULL, "cti_device_state", LOG_S("device", device),
	       LOG_S("state", in_service ? "in-service" : "out-of-service"));
	/* No monitor anywhere: nothing to tell, no message to every loop (a registration
	 * storm with no CTI application paid two allocations and two wake-ups per device). */
	if (atomic_load_explicit(&s->cnt.monitors_open, memory_order_relaxed) == 0)
		return;
	for (int i = 0; i < s->nloops; i++) {
		struct state_msg *msg = malloc(sizeof *msg + dl + 1);
		if (!msg)
			continue;
		msg->cl = &s->loops[i];
		msg->in_service = in_service;
		memcpy(msg->device, device, dl + 1);
		if (loop_post(s->loops[i].loop, on_state, msg) != 0)
			free(msg);
	}
}

/* --- decisions ---------------------------------------------------------------------- */

int cti_device_needs_association(unsigned perms, const char *owner, const char *user)
{
	return !(perms & DIR_CTI_ALL_DEVICES) && !(owner[0] && strcmp(owner, user) == 0);
}

enum cti_outcome cti_device_decide(int store_rc, const char *owner, const char *user,
                                   unsigned perms, enum cti_assoc assoc, const char **rule)
{
	if (store_rc == STORE_NOTFOUND)
		return CTI_DEV_UNKNOWN;
	if (store_rc != STORE_OK)
		return CTI_DEV_STORE;
	if (perms & DIR_CTI_ALL_DEVICES) {
		*rule = "super provider (Standard CTI Allow Control of All Devices)";
		return CTI_OK;
	}
	if (owner[0] && strcmp(owner, user) == 0) {
		*rule = "device owner";
		return CTI_OK;
	}
	if (assoc == CTI_ASSOC_FAILED)
		return CTI_DEV_STORE;
	if (assoc == CTI_ASSOC_YES) {
		*rule = "end-user association";
		return CTI_OK;
	}
	return CTI_DEV_FORBIDDEN;
}

enum cti_outcome cti_monitor_check(int nmons, int max)
{
	return nmons >= max ? CTI_MON_TOO_MANY : CTI_OK;
}

/* --- device checks on the worker pool ----------------------------------------------- */

/* The job holds a reference to its stream until dev_job_done; the worker thread reads
 * only the job (and the server's store), never the connection. */
struct dev_job {
	struct stream *strm;
	struct cti_server *s;
	int invoke;
	enum cti_msg_type type;
	char user[CTI_ID_MAX + 1];
	char device[CTI_ID_MAX + 1];
	unsigned perms;
	enum cti_outcome o;
	enum cti_assoc assoc;
	const char *rule;
	char **list; /* GetSwitchingFunctionDevices */
	size_t n, cap;
	/* The store's message for CTI_DEV_STORE, copied on the worker: store_last_error() is
	 * per thread, and the answer is written on the loop. */
	char store_error[256];
};

static int user_match(void *ud, const char *userid)
{
	struct dev_job *j = ud;
	if (strcmp(userid, j->user) == 0) {
		j->assoc = CTI_ASSOC_YES;
		return 1;
	}
	return 0;
}

static int list_add(void *ud, const char *device)
{
	struct dev_job *j = ud;
	if (j->n == j->cap) {
		size_t nc = j->cap ? j->cap * 2 : 16;
		char **nl = realloc(j->list, nc * sizeof *nl);
		if (!nl)
			return 1;
		j->list = nl;
		j->cap = nc;
	}
	if ((j->list[j->n] = strdup(device)))
		j->n++;
	return 0;
}

static void dev_job_run(void *arg)
{
	struct dev_job *j = arg;
	store_t *st = j->s->store;
	if (j->type == CTI_MSG_GET_SF_DEVICES) {
		j->o = store_devices_for_user(st, j->user, !!(j->perms & DIR_CTI_ALL_DEVICES), 1000,
		                              list_add, j) == STORE_OK
		           ? CTI_OK
		           : CTI_DEV_STORE;
		if (j->o == CTI_DEV_STORE)
			tg_strlcpy(j->store_error, store_last_error(), sizeof j->store_error);
		return;
	}
	struct store_device d;
	int rc = store_device_get(st, j->device, &d);
	if (rc == STORE_OK && cti_device_needs_association(j->perms, d.owneruserid, j->user)) {
		j->assoc = CTI_ASSOC_NO;
		if (store_device_users(st, j->device, user_match, j) != STORE_OK)
			j->assoc = CTI_ASSOC_FAILED;
	}
	j->o = cti_device_decide(rc, rc == STORE_OK ? d.owneruserid : "", j->user, j->perms,
	                         j->assoc, &j->rule);
	if (j->o == CTI_DEV_STORE)
		tg_strlcpy(j->store_error, store_last_error(), sizeof j->store_error);
}

/* MonitorStart on a permitted device: the monitor joins the connection's list and the
 * loop's index; a device already in service gets its BackInService at once. */
static void monitor_open(struct cti_conn *c, const struct dev_job *j)
{
	struct cti_server *s = c->cl->s;
	enum cti_outcome o = cti_monitor_check(c->nmons, s->cfg.cti.max_monitors);
	struct cti_mon *m = o == CTI_OK ? calloc(1, sizeof *m) : NULL;
	if (o == CTI_OK && !m)
		o = CTI_NO_MEMORY;
	if (o != CTI_OK) {
		cti_conn_refuse(c, j->invoke, o, NULL);
		return;
	}
	tg_strlcpy(m->device, j->device, sizeof m->device);
	m->c = c;
	m->opened_s = tg_now_s();
	index_add(c->cl->mons, m);
	pthread_mutex_lock(&s->mu);
	m->xref = ++s->next_xref;
	m->next_conn = c->mons;
	c->mons = m;
	c->nmons++;
	pthread_mutex_unlock(&s->mu);
	/* Counted before the state is read: a change published meanwhile either is seen
	 * here or finds this monitor counted and is posted (cti_on_device_state reads the
	 * count under the device's bus shard, which devstate_get takes too). */
	cti_count_add(&s->cnt.monitors_open);
	int in = devstate_get(s->devstate, j->device);
	char xml[512];
	cti_conn_send(c, j->invoke, xml, cti_xml_monitor_start_resp(xml, sizeof xml, m->xref));
	/* The seed's DeviceOpenActivity: who opened what, from where. */
	log_ev(LOG_LVL_NOTICE, c->cid, "cti_device_open", LOG_S("user", c->user),
	       LOG_S("application", c->app), LOG_S("peer", c->peer), LOG_S("device", m->device),
	       LOG_S("session", c->session_id), LOG_U("monitor", m->xref), LOG_S("rule", j->rule));
	if (in)
		send_event(c, m, 1);
}

static void dev_job_answer(struct cti_conn *c, const struct dev_job *j)
{
	char xml[XML_MAX];
	if (j->o == CTI_DEV_STORE) {
		cti_conn_refuse(c, j->invoke, j->o, j->store_error);
	} else if (j->type == CTI_MSG_GET_SF_DEVICES) {
		int n =
		    cti_xml_sf_devices_resp(xml, sizeof xml, (const char *const *)j->list, j->n);
		if (n < 0)
			cti_conn_refuse(c, j->invoke, CTI_DEV_LIST_TOO_LONG, NULL);
		else
			cti_conn_send(c, j->invoke, xml, n);
	} else if (j->o == CTI_DEV_FORBIDDEN) {
		log_ev(LOG_LVL_NOTICE, c->cid, "cti_device_refused", LOG_S("user", c->user),
		       LOG_S("device", j->device),
		       LOG_S("reason", "device is neither owned by nor associated with the user"));
		cti_conn_refuse(c, j->invoke, j->o, NULL);
	} else if (j->o != CTI_OK) {
		cti_conn_refuse(c, j->invoke, j->o, NULL);
	} else if (j->type == CTI_MSG_SNAPSHOT_DEVICE) {
		cti_conn_send(
		    c, j->invoke, xml,
		    cti_xml_snapshot_device_resp(xml, sizeof xml, j->device,
		                                 devstate_get(c->cl->s->devstate, j->device)));
	} else {
		monitor_open(c, j);
	}
}

static void dev_job_done(void *arg)
{
	struct dev_job *j = arg;
	struct stream *strm = j->strm;
	struct cti_conn *c = stream_user(strm);
	c->jobs--;
	/* Answered while closing too (a StopApplicationSession or a framing error after the
	 * request): the close waits for it and then releases any monitor it opened. */
	if (!c->closed)
		dev_job_answer(c, j);
	for (size_t i = 0; i < j->n; i++)
		free(j->list[i]);
	free(j->list);
	free(j);
	cti_conn_close_if_answered(c); /* c stays valid: the job's reference is dropped below */
	stream_unref(strm);
}

void cti_monitor_device_request(struct cti_conn *c, int invoke, const struct cti_msg *m)
{
	struct cti_server *s = c->cl->s;
	struct dev_job *j = calloc(1, sizeof *j);
	if (!j) {
		cti_conn_refuse(c, invoke, CTI_NO_MEMORY, NULL);
		return;
	}
	j->strm = c->strm;
	j->s = s;
	j->invoke = invoke;
	j->type = m->type;
	j->perms = c->perms;
	tg_strlcpy(j->user, c->user, sizeof j->user);
	tg_strlcpy(j->device, m->device, sizeof j->device);
	stream_ref(c->strm);
	c->jobs++;
	if (workers_submit(s->workers, dev_job_run, dev_job_done, j, c->cl->loop) != 0) {
		stream_unref(c->strm); /* the frame callback holds the stream: not freed here */
		c->jobs--;
		free(j);
		cti_conn_refuse(c, invoke, CTI_SERVER_BUSY, NULL);
	}
}

/* --- monitors of a connection ------------------------------------------------------- */

void cti_monitor_stop(struct cti_conn *c, int invoke, const struct cti_msg *m)
{
	struct cti_server *s = c->cl->s;
	pthread_mutex_lock(&s->mu);
	struct cti_mon **pp = &c->mons;
	while (*pp && (*pp)->xref != m->crossref)
		pp = &(*pp)->next_conn;
	struct cti_mon *mo = *pp;
	if (mo) {
		*pp = mo->next_conn;
		c->nmons--;
	}
	pthread_mutex_unlock(&s->mu);
	if (!mo) {
		cti_conn_refuse(c, invoke, CTI_MON_UNKNOWN, NULL);
		return;
	}
	index_remove(c->cl->mons, mo);
	cti_count_sub(&s->cnt.monitors_open);
	log_ev(LOG_LVL_INFO, c->cid, "cti_monitor_stop", LOG_S("device", mo->device));
	free(mo);
	char xml[512];
	cti_conn_send(c, invoke, xml, cti_xml_monitor_stop_resp(xml, sizeof xml));
}

void cti_monitor_release_all(struct cti_conn *c)
{
	struct cti_server *s = c->cl->s;
	pthread_mutex_lock(&s->mu);
	struct cti_mon *m = c->mons;
	c->mons = NULL;
	c->nmons = 0;
	pthread_mutex_unlock(&s->mu);
	while (m) {
		struct cti_mon *next = m->next_conn;
		index_remove(c->cl->mons, m);
		cti_count_sub(&s->cnt.monitors_open);
		log_ev(LOG_LVL_INFO, c->cid, "cti_monitor_released", LOG_S("device", m->device),
		       LOG_U("monitor", m->xref));
		free(m);
		m = next;
	}
}

void cti_server_monitors(struct cti_server *s,
                         void (*fn)(void *ud, const struct cti_monitor_info *i), void *ud)
{
	pthread_mutex_lock(&s->mu);
	for (struct cti_conn *c = s->sessions; c; c = c->rnext)
		for (struct cti_mon *m = c->mons; m; m = m->next_conn) {
			struct cti_monitor_info i = {
			    m->xref,     m->device,
			    c->user,     c->app,
			    c->peer,     c->session_id,
			    m->opened_s, devstate_get(s->devstate, m->device)};
			fn(ud, &i);
		}
	pthread_mutex_unlock(&s->mu);
}
