/* SPDX-License-Identifier: ISC */
#include "cti/server.h"
#include "core/conncap.h"
#include "core/log.h"
#include "core/loop.h"
#include "core/ports.h"
#include "core/stream.h"
#include "core/tlsctx.h"
#include "core/util.h"
#include "core/worker.h"
#include "cti/proto.h"

#include <event2/event.h>
#include <pthread.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define NBUCKETS 4096
/* The listeners' write_limit: a peer that lets more than this queue up unread is cut off
 * by the stream layer (stream_slow_consumer), from the loop's next turn. */
#define OUT_MAX (4u * 1024 * 1024)
#define XML_MAX 16384
#define LOGIN_FAILURES_MAX 3

struct conn;

struct mon {
	unsigned long xref;
	char device[CTI_ID_MAX + 1];
	int64_t opened_s;
	struct conn *c;
	struct mon *next_dev;  /* loop index chain */
	struct mon *next_conn; /* the connection's monitors */
};

/* The two listeners of a loop: plain TCP and TLS (core/stream owns their connections). */
enum { L_TCP = 0, L_TLS, L_N };

struct cti_loop {
	struct cti_server *s;
	struct loop *loop;
	struct stream_listener *lis[L_N];
	struct mon *idx[NBUCKETS];
};

/* C_CLOSING: the server closes after the last answers, those of device jobs still running
 * included (close_after_answers); input is read and discarded meanwhile. */
enum cstate { C_NEW = 0, C_AUTH, C_SESSION, C_CLOSING };

/* The protocol's data of one stream (stream_user): the layer frees it with the stream,
 * when the last reference goes. A login being checked and every device job hold one
 * (stream_ref). on_close sets `closed`: from then on nothing is answered, no monitor is
 * indexed and the timer is gone. */
struct conn {
	struct stream *strm;
	struct cti_loop *cl;
	int tls;
	enum cstate st;
	int closed, failures;
	int jobs;                /* device jobs in flight (each also holds a reference) */
	const char *closing_why; /* C_CLOSING: the reason logged when the close happens */
	char peer[64];           /* a copy: the admin commands read it from other threads */
	char cid[LOG_CID_SIZE];
	char user[CTI_ID_MAX + 1];
	char app[CTI_ID_MAX + 1];
	char session_id[40];
	unsigned perms;
	int duration, pending_invoke, nmons;
	int64_t started_s;
	struct event *timer;
	struct mon *mons;
	struct conn *rprev, *rnext; /* in the server's session registry (under mu) */
};

struct dev_ent {
	struct dev_ent *next;
	int in_service;
	char name[];
};

struct cti_server {
	struct tg_config cfg;
	store_t *store;
	struct dir *dir;
	struct workers *workers;
	struct loop_group *lg;
	int nloops;
	struct cti_loop *loops;
	struct tlsctx *tls;
	struct conncap *caps;           /* cti.max_connections, both ports together */
	struct stream_stats stats[L_N]; /* per listener kind, every loop */
	pthread_mutex_t mu;             /* guards devs, the session registry and every mons list */

	struct dev_ent *devs[NBUCKETS];
	struct conn *sessions;
	unsigned long next_xref;
};

static unsigned hash(const char *s)
{
	return tg_fnv1a_str(s) % NBUCKETS;
}

/* --- device state ------------------------------------------------------------------- */

struct state_msg {
	struct cti_loop *cl;
	int in_service;
	char device[];
};

static void conn_send(struct conn *c, int invoke, const char *body, int len);

static void on_state(void *arg)
{
	struct state_msg *m = arg;
	char xml[1024];
	for (struct mon *mo = m->cl->idx[hash(m->device)]; mo; mo = mo->next_dev) {
		if (strcmp(mo->device, m->device) != 0 || stream_closing(mo->c->strm))
			continue;
		int n = cti_xml_service_event(xml, sizeof xml, m->in_service, mo->xref, mo->device);
		conn_send(mo->c, CTI_EVENT_INVOKE, xml, n);
		char x[24];
		snprintf(x, sizeof x, "%lu", mo->xref);
		log_event(LOG_LVL_INFO, mo->c->cid, "cti_event", "event",
		          m->in_service ? "BackInService" : "OutOfService", "device", mo->device,
		          "monitor", x, "user", mo->c->user, (const char *)NULL);
	}
	free(m);
}

static int dev_get(struct cti_server *s, const char *device)
{
	for (struct dev_ent *e = s->devs[hash(device)]; e; e = e->next)
		if (strcmp(e->name, device) == 0)
			return e->in_service;
	return 0;
}

int cti_device_in_service(struct cti_server *s, const char *device)
{
	pthread_mutex_lock(&s->mu);
	int v = dev_get(s, device);
	pthread_mutex_unlock(&s->mu);
	return v;
}

void cti_device_state(struct cti_server *s, const char *device, int in_service)
{
	in_service = !!in_service;
	size_t dl = strlen(device);
	if (!dl || dl > CTI_ID_MAX)
		return;
	pthread_mutex_lock(&s->mu);
	struct dev_ent **pp = &s->devs[hash(device)], *e = *pp;
	for (; e && strcmp(e->name, device) != 0; e = e->next)
		;
	int changed = (e ? e->in_service : 0) != in_service;
	if (!e && in_service && (e = malloc(sizeof *e + dl + 1))) {
		memcpy(e->name, device, dl + 1);
		e->next = *pp;
		*pp = e;
	}
	if (e)
		e->in_service = in_service;
	pthread_mutex_unlock(&s->mu);
	if (!changed)
		return;
	log_event(LOG_LVL_INFO, NULL, "cti_device_state", "device", device, "state",
	          in_service ? "in-service" : "out-of-service", (const char *)NULL);
	for (int i = 0; i < s->nloops; i++) {
		struct state_msg *m = malloc(sizeof *m + dl + 1);
		if (!m)
			continue;
		m->cl = &s->loops[i];
		m->in_service = in_service;
		memcpy(m->device, device, dl + 1);
		if (loop_post(s->loops[i].loop, on_state, m) != 0)
			free(m);
	}
}

/* --- connections -------------------------------------------------------------------- */

static void release_monitors(struct conn *c)
{
	struct cti_server *s = c->cl->s;
	pthread_mutex_lock(&s->mu);
	struct mon *m = c->mons;
	c->mons = NULL;
	c->nmons = 0;
	pthread_mutex_unlock(&s->mu);
	while (m) {
		struct mon *next = m->next_conn;
		struct mon **pp = &c->cl->idx[hash(m->device)];
		while (*pp && *pp != m)
			pp = &(*pp)->next_dev;
		if (*pp)
			*pp = m->next_dev;
		char x[24];
		snprintf(x, sizeof x, "%lu", m->xref);
		log_event(LOG_LVL_INFO, c->cid, "cti_monitor_released", "device", m->device,
		          "monitor", x, (const char *)NULL);
		free(m);
		m = next;
	}
}

static void registry_remove(struct conn *c)
{
	struct cti_server *s = c->cl->s;
	pthread_mutex_lock(&s->mu);
	if (c->rprev || s->sessions == c) {
		if (c->rprev)
			c->rprev->rnext = c->rnext;
		else
			s->sessions = c->rnext;
		if (c->rnext)
			c->rnext->rprev = c->rprev;
	}
	c->rprev = c->rnext = NULL;
	pthread_mutex_unlock(&s->mu);
}

static void end_session(struct conn *c, const char *why)
{
	if (c->st == C_SESSION)
		log_event(LOG_LVL_NOTICE, c->cid, "cti_session_ended", "user", c->user, "session",
		          c->session_id, "reason", why, (const char *)NULL);
	release_monitors(c);
	registry_remove(c);
}

/* Queues one frame (dropped once the stream is closed). A peer that lets its queue grow
 * past OUT_MAX is cut off by the layer, from the loop's next turn (so a fan-out walking
 * the monitor index never sees it change under it). */
static void conn_send(struct conn *c, int invoke, const char *body, int len)
{
	uint8_t hdr[CTI_HDR_LEN];
	if (c->closed || len < 0 || cti_frame_header(invoke, (size_t)len, hdr) != 0)
		return;
	(void)stream_write2(c->strm, hdr, sizeof hdr, body, (size_t)len);
}

static void send_error(struct conn *c, int invoke, const char *cat, const char *value,
                       const char *why)
{
	char xml[512];
	log_event(LOG_LVL_NOTICE, c->cid, "cti_error_response", "error", value, "reason", why,
	          (const char *)NULL);
	conn_send(c, invoke, xml, cti_xml_error(xml, sizeof xml, cat, value));
}

static void arm_timer(struct conn *c, int seconds)
{
	struct timeval tv = {seconds, 0};
	if (c->timer)
		event_add(c->timer, &tv);
}

/* C_CLOSING: closes when no device job is running and every answer has been handed to
 * the kernel (or to TLS). Called when a job ends and when the output drains (on_drain:
 * a drain reported late, with answers queued since, is ignored). Returns 1 if it closed. */
static int close_if_answered(struct conn *c)
{
	if (c->closed || c->st != C_CLOSING || c->jobs || stream_pending(c->strm))
		return 0;
	stream_close(c->strm, c->closing_why);
	return 1;
}

/* Closes once every answer is out (docs/protocol.md: every well-formed frame gets an
 * answer, the last one too), those of device jobs still running included; frames after
 * this one are read and discarded (cti_frame). A peer that does not read gets
 * cti.login_timeout_s in all, then the close. Not stream_close_after_flush: it does not
 * wait for the jobs, and over TLS a write-drained callback that libevent delivers late
 * can end its flush with answers still queued. */
static void close_after_answers(struct conn *c, const char *why)
{
	if (c->closed || c->st == C_CLOSING)
		return;
	c->st = C_CLOSING;
	c->closing_why = why;
	if (!close_if_answered(c))
		arm_timer(c, c->cl->s->cfg.cti.login_timeout_s);
}

static void on_timer(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	struct conn *c = arg;
	/* stream_close may free c (no reference held): nothing touches c after it. */
	if (c->st == C_CLOSING) {
		stream_close(c->strm, "peer did not read the last answers in time");
	} else if (c->st == C_SESSION) {
		log_event(LOG_LVL_NOTICE, c->cid, "cti_heartbeat_missed", "user", c->user,
		          "session", c->session_id, (const char *)NULL);
		stream_close(c->strm,
		             "session duration expired without ResetApplicationSessionTimer");
	} else if (c->st == C_AUTH) {
		arm_timer(c, 1); /* decide when the directory has answered */
	} else {
		stream_close(c->strm, "no login within the login timeout");
	}
}

static int clamp_duration(struct cti_server *s, int requested)
{
	if (requested <= 0)
		return s->cfg.cti.session_duration;
	if (requested < 10)
		return 10;
	return requested > s->cfg.cti.max_session_duration ? s->cfg.cti.max_session_duration
	                                                   : requested;
}

/* --- login -------------------------------------------------------------------------- */

static void login_refused(struct conn *c, const char *reason, const char *error)
{
	char xml[512];
	log_event(LOG_LVL_NOTICE, c->cid, "cti_login_refused", "user", c->user, "application",
	          c->app, "peer", c->peer, "transport", c->tls ? "tls" : "tcp", "reason", reason,
	          (const char *)NULL);
	conn_send(c, c->pending_invoke, xml, cti_xml_start_session_neg(xml, sizeof xml, error));
	c->st = C_NEW;
	if (++c->failures >= LOGIN_FAILURES_MAX)
		close_after_answers(c, "too many failed logins");
}

/* The directory's verdict on a login: the session starts, or the login is refused. */
static void login_result(struct conn *c, const struct dir_result *r)
{
	if (r->status != DIR_OK) {
		/* The peer learns only that the login failed; the reason is in the trace. */
		char why[320];
		snprintf(why, sizeof why, "authentication: %s (%s)", dir_status_name(r->status),
		         r->detail);
		login_refused(c, why, "invalidApplicationInfo");
		return;
	}
	char perms[256];
	dir_cti_perm_format(r->cti_perms, perms, sizeof perms);
	log_event(LOG_LVL_INFO, c->cid, "cti_user_settings", "user", c->user, "cti_permissions",
	          perms, (const char *)NULL);
	if (!(r->cti_perms & DIR_CTI_ENABLED)) {
		login_refused(c, "user is not in Standard CTI Enabled", "invalidApplicationInfo");
		return;
	}
	if ((r->cti_perms & DIR_CTI_SECURE) && !c->tls) {
		login_refused(c, "user is in Standard CTI Secure Connection: TLS required",
		              "invalidApplicationInfo");
		return;
	}
	struct cti_server *s = c->cl->s;
	unsigned char rnd[16];
	randombytes_buf(rnd, sizeof rnd);
	sodium_bin2hex(c->session_id, sizeof c->session_id, rnd, sizeof rnd);
	c->perms = r->cti_perms;
	c->st = C_SESSION;
	c->started_s = tg_now_s();
	pthread_mutex_lock(&s->mu);
	c->rnext = s->sessions;
	if (s->sessions)
		s->sessions->rprev = c;
	s->sessions = c;
	pthread_mutex_unlock(&s->mu);
	char xml[512], d[16];
	snprintf(d, sizeof d, "%d", c->duration);
	conn_send(c, c->pending_invoke, xml,
	          cti_xml_start_session_pos(xml, sizeof xml, c->session_id, c->duration));
	log_event(LOG_LVL_NOTICE, c->cid, "cti_session_started", "user", c->user, "application",
	          c->app, "peer", c->peer, "transport", c->tls ? "tls" : "tcp", "session",
	          c->session_id, "session_duration", d, "cti_permissions", perms,
	          (const char *)NULL);
	arm_timer(c, c->duration + 2);
}

/* The login's reference (do_login) is kept until the end: login_result may close c. */
static void on_auth(void *ud, const struct dir_result *r)
{
	struct conn *c = ud;
	struct stream *strm = c->strm;
	if (!c->closed) {
		login_result(c, r);
		/* Frames that arrived during the check wait in the input: handed over from
		 * the loop's next turn (discarded if the third failure is closing it). */
		if (!c->closed)
			stream_resume(strm);
	}
	stream_unref(strm);
}

static void do_login(struct conn *c, int invoke, struct cti_msg *m)
{
	struct cti_server *s = c->cl->s;
	char len[16];
	snprintf(len, sizeof len, "%zu", m->password_len);
	log_event(LOG_LVL_INFO, c->cid, "cti_login_request", "user", m->user, "application",
	          m->application_id, "peer", c->peer, "transport", c->tls ? "tls" : "tcp",
	          "credential_length", len, (const char *)NULL);
	if (c->st == C_SESSION) {
		char xml[512];
		conn_send(c, invoke, xml,
		          cti_xml_start_session_neg(xml, sizeof xml, "invalidApplicationInfo"));
		return;
	}
	/* Only now: a second login inside a session must not rename the session's user (the
	 * device checks and the listings read c->user). */
	c->pending_invoke = invoke;
	tg_strlcpy(c->user, m->user, sizeof c->user);
	tg_strlcpy(c->app, m->application_id, sizeof c->app);
	if (!m->protocol_ok) {
		login_refused(c, "no supported protocol version requested",
		              "requestedProtocolVersionNotSupported");
		return;
	}
	if (!c->tls && !s->cfg.cti.allow_plain_login) {
		login_refused(c, "login over plain TCP refused (cti.allow_plain_login = no)",
		              "invalidApplicationInfo");
		return;
	}
	if (!m->has_password && m->token_len) {
		/* The hook for OAuth access tokens: the token service is not built yet. */
		login_refused(c, "access-token login is not available on this server",
		              "invalidApplicationInfo");
		return;
	}
	if (!m->user[0] || !m->has_password) {
		login_refused(c, "userID or password missing", "invalidApplicationInfo");
		return;
	}
	c->duration = clamp_duration(s, m->duration);
	c->st = C_AUTH;
	stream_ref(c->strm);
	if (dir_authenticate(s->dir, m->user, m->password, m->password_len, c->cid, c->cl->loop,
	                     on_auth, c) != 0) {
		stream_unref(c->strm); /* the frame callback holds the stream: not freed here */
		login_refused(c, "directory overloaded", "invalidApplicationInfo");
		return;
	}
	/* One login at a time: the next frames wait until the directory has answered (on_auth
	 * runs on this loop, after this frame). */
	stream_pause(c->strm);
}

/* --- device checks on the worker pool ----------------------------------------------- */

enum dev_verdict { DV_OK = 0, DV_UNKNOWN, DV_FORBIDDEN, DV_STORE };

/* The job holds a reference to its stream until dev_job_done; the worker thread reads
 * only the job (and the server), never the connection. */
struct dev_job {
	struct stream *strm;
	struct cti_server *s;
	int invoke;
	enum cti_msg_type type;
	char user[CTI_ID_MAX + 1];
	char device[CTI_ID_MAX + 1];
	unsigned perms;
	enum dev_verdict v;
	const char *rule;
	char **list; /* GetSwitchingFunctionDevices */
	size_t n, cap;
};

static int user_match(void *ud, const char *userid)
{
	struct dev_job *j = ud;
	if (strcmp(userid, j->user) == 0) {
		j->v = DV_OK;
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
	struct cti_server *s = j->s;
	if (j->type == CTI_MSG_GET_SF_DEVICES) {
		j->v = store_devices_for_user(s->store, j->user, !!(j->perms & DIR_CTI_ALL_DEVICES),
		                              1000, list_add, j) == STORE_OK
		           ? DV_OK
		           : DV_STORE;
		return;
	}
	struct store_device d;
	int rc = store_device_get(s->store, j->device, &d);
	if (rc == STORE_NOTFOUND) {
		j->v = DV_UNKNOWN;
		return;
	}
	if (rc != STORE_OK) {
		j->v = DV_STORE;
		return;
	}
	if (j->perms & DIR_CTI_ALL_DEVICES) {
		j->v = DV_OK;
		j->rule = "super provider (Standard CTI Allow Control of All Devices)";
		return;
	}
	if (d.owneruserid[0] && strcmp(d.owneruserid, j->user) == 0) {
		j->v = DV_OK;
		j->rule = "device owner";
		return;
	}
	j->v = DV_FORBIDDEN;
	if (store_device_users(s->store, j->device, user_match, j) != STORE_OK)
		j->v = DV_STORE;
	else if (j->v == DV_OK)
		j->rule = "end-user association";
}

static void dev_job_done(void *arg)
{
	struct dev_job *j = arg;
	struct stream *strm = j->strm;
	struct conn *c = stream_user(strm);
	struct cti_server *s = j->s;
	c->jobs--;
	/* Answered while closing too (a StopApplicationSession or a framing error after the
	 * request): the close waits for it and then releases any monitor it opened. */
	if (c->closed)
		goto out; /* the job's reference is dropped below, after the last use of c */
	char xml[XML_MAX];
	if (j->v == DV_STORE) {
		send_error(c, j->invoke, "systemResourceAvailability", "generic",
		           store_last_error());
		goto out;
	}
	if (j->type == CTI_MSG_GET_SF_DEVICES) {
		int n =
		    cti_xml_sf_devices_resp(xml, sizeof xml, (const char *const *)j->list, j->n);
		if (n < 0)
			send_error(c, j->invoke, "systemResourceAvailability", "generic",
			           "device list too long for one message");
		else
			conn_send(c, j->invoke, xml, n);
		goto out;
	}
	if (j->v == DV_UNKNOWN) {
		send_error(c, j->invoke, "operation", "invalidDeviceIdentifier", "no such device");
		goto out;
	}
	if (j->v == DV_FORBIDDEN) {
		log_event(LOG_LVL_NOTICE, c->cid, "cti_device_refused", "user", c->user, "device",
		          j->device, "reason",
		          "device is neither owned by nor associated with the user",
		          (const char *)NULL);
		send_error(c, j->invoke, "operation", "privilegeViolationOnSpecifiedDevice",
		           "device not associated");
		goto out;
	}
	int in = cti_device_in_service(s, j->device);
	if (j->type == CTI_MSG_SNAPSHOT_DEVICE) {
		conn_send(c, j->invoke, xml,
		          cti_xml_snapshot_device_resp(xml, sizeof xml, j->device, in));
		goto out;
	}
	if (c->nmons >= s->cfg.cti.max_monitors) {
		send_error(c, j->invoke, "systemResourceAvailability", "generic",
		           "too many monitors in this session");
		goto out;
	}
	struct mon *m = calloc(1, sizeof *m);
	if (!m) {
		send_error(c, j->invoke, "systemResourceAvailability", "generic", "out of memory");
		goto out;
	}
	tg_strlcpy(m->device, j->device, sizeof m->device);
	m->c = c;
	m->opened_s = tg_now_s();
	unsigned h = hash(m->device);
	m->next_dev = c->cl->idx[h];
	c->cl->idx[h] = m;
	pthread_mutex_lock(&s->mu);
	m->xref = ++s->next_xref;
	m->next_conn = c->mons;
	c->mons = m;
	c->nmons++;
	pthread_mutex_unlock(&s->mu);
	conn_send(c, j->invoke, xml, cti_xml_monitor_start_resp(xml, sizeof xml, m->xref));
	char x[24];
	snprintf(x, sizeof x, "%lu", m->xref);
	/* The seed's DeviceOpenActivity: who opened what, from where. */
	log_event(LOG_LVL_NOTICE, c->cid, "cti_device_open", "user", c->user, "application", c->app,
	          "peer", c->peer, "device", m->device, "session", c->session_id, "monitor", x,
	          "rule", j->rule, (const char *)NULL);
	if (in) {
		conn_send(c, CTI_EVENT_INVOKE, xml,
		          cti_xml_service_event(xml, sizeof xml, 1, m->xref, m->device));
		log_event(LOG_LVL_INFO, c->cid, "cti_event", "event", "BackInService", "device",
		          m->device, "monitor", x, "user", c->user, (const char *)NULL);
	}
out:
	for (size_t i = 0; i < j->n; i++)
		free(j->list[i]);
	free(j->list);
	free(j);
	close_if_answered(c); /* c stays valid: the job's reference is dropped below */
	stream_unref(strm);
}

static void start_dev_job(struct conn *c, int invoke, const struct cti_msg *m)
{
	struct cti_server *s = c->cl->s;
	struct dev_job *j = calloc(1, sizeof *j);
	if (!j) {
		send_error(c, invoke, "systemResourceAvailability", "generic", "out of memory");
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
		send_error(c, invoke, "systemResourceAvailability", "generic", "server busy");
	}
}

/* --- requests ----------------------------------------------------------------------- */

static void handle(struct conn *c, int invoke, const char *body, size_t len)
{
	struct cti_server *s = c->cl->s;
	struct cti_msg *m = malloc(sizeof *m);
	char err[256], xml[1024];
	if (!m) {
		stream_close(c->strm, "out of memory");
		return;
	}
	if (cti_msg_parse(body, len, m, err, sizeof err) != 0) {
		send_error(c, invoke, "operation", "generic", err);
		goto out;
	}
	log_event(LOG_LVL_DEBUG, c->cid, "cti_request", "message", m->name, (const char *)NULL);
	if (m->type == CTI_MSG_START_SESSION) {
		do_login(c, invoke, m);
		goto out;
	}
	if (c->st != C_SESSION) {
		send_error(c, invoke, "operation", "securityViolation",
		           "request before StartApplicationSession");
		goto out;
	}
	switch (m->type) {
	case CTI_MSG_RESET_TIMER:
		if (strcmp(m->session_id, c->session_id) != 0) {
			conn_send(c, invoke, xml,
			          cti_xml_reset_timer_neg(xml, sizeof xml, "invalidSessionID"));
			break;
		}
		c->duration = clamp_duration(s, m->duration ? m->duration : c->duration);
		arm_timer(c, c->duration + 2);
		conn_send(c, invoke, xml, cti_xml_reset_timer_pos(xml, sizeof xml, c->duration));
		break;
	case CTI_MSG_STOP_SESSION:
		if (strcmp(m->session_id, c->session_id) != 0) {
			send_error(c, invoke, "operation", "invalidParameterValue",
			           "unknown sessionID");
			break;
		}
		conn_send(c, invoke, xml, cti_xml_stop_session_pos(xml, sizeof xml));
		end_session(c, "StopApplicationSession");
		close_after_answers(c, "session stopped by the application");
		break;
	case CTI_MSG_MONITOR_START:
	case CTI_MSG_SNAPSHOT_DEVICE:
	case CTI_MSG_GET_SF_DEVICES:
		start_dev_job(c, invoke, m);
		break;
	case CTI_MSG_MONITOR_STOP: {
		pthread_mutex_lock(&s->mu);
		struct mon **pp = &c->mons;
		while (*pp && (*pp)->xref != m->crossref)
			pp = &(*pp)->next_conn;
		struct mon *mo = *pp;
		if (mo) {
			*pp = mo->next_conn;
			c->nmons--;
		}
		pthread_mutex_unlock(&s->mu);
		if (!mo) {
			send_error(c, invoke, "operation", "invalidCrossRefID", "no such monitor");
			break;
		}
		struct mon **ip = &c->cl->idx[hash(mo->device)];
		while (*ip && *ip != mo)
			ip = &(*ip)->next_dev;
		if (*ip)
			*ip = mo->next_dev;
		log_event(LOG_LVL_INFO, c->cid, "cti_monitor_stop", "device", mo->device,
		          (const char *)NULL);
		free(mo);
		conn_send(c, invoke, xml, cti_xml_monitor_stop_resp(xml, sizeof xml));
		break;
	}
	default:
		send_error(c, invoke, "operation", "invalidFeature", m->name);
	}
out:
	cti_msg_wipe(m);
	free(m);
}

/* --- the stream callbacks ----------------------------------------------------------- */

/* Cuts the next frame: its length is in the header (header included, at most
 * CTI_FRAME_MAX, the listeners' max_frame). A framing error cannot be resynchronised: the
 * answers queued or still computed go out, then the close (close_after_answers, not
 * STREAM_FRAME_BROKEN: see there). */
static long cti_frame(struct stream *strm, const unsigned char *buf, size_t len)
{
	struct conn *c = stream_user(strm);
	if (c->st == C_CLOSING)
		return (long)len; /* read and discarded (cti_on_frame) */
	size_t flen;
	int invoke;
	char err[128];
	int r = cti_frame_peek(buf, len, &flen, &invoke, err, sizeof err);
	if (r > 0)
		return (long)flen;
	if (r == 0)
		return STREAM_FRAME_MORE;
	log_event(LOG_LVL_WARNING, c->cid, "cti_framing_error", "peer", c->peer, "error", err,
	          (const char *)NULL);
	close_after_answers(c, "framing error");
	return (long)len;
}

static void cti_on_frame(struct stream *strm, const unsigned char *frame, size_t len)
{
	struct conn *c = stream_user(strm);
	size_t flen;
	int invoke;
	char err[128];
	if (c->st == C_CLOSING || cti_frame_peek(frame, len, &flen, &invoke, err, sizeof err) != 1)
		return;
	handle(c, invoke, (const char *)frame + CTI_HDR_LEN, len - CTI_HDR_LEN);
}

/* A new connection (the cap is checked; the TLS handshake may still be running). CTI has
 * no first-message or idle timeout in the layer: its own timer covers the login and the
 * session's heartbeat. */
static int cti_on_open(struct stream *strm)
{
	struct conn *c = stream_user(strm);
	c->strm = strm;
	c->cl = stream_ctx(strm);
	c->tls = stream_kind(strm) == STREAM_TLS;
	c->timer = evtimer_new(loop_base(c->cl->loop), on_timer, c);
	if (!c->timer)
		return -1;
	log_cid_new(c->cid);
	tg_strlcpy(c->peer, stream_peer(strm), sizeof c->peer);
	arm_timer(c, c->cl->s->cfg.cti.login_timeout_s);
	log_event(LOG_LVL_INFO, c->cid, "cti_connect", "peer", c->peer, "transport",
	          c->tls ? "tls" : "tcp", (const char *)NULL);
	return 0;
}

/* The connection is over: the session ends and its monitors go. The memory stays while a
 * login or a device job holds the stream; they see `closed` and only drop their
 * reference, so nothing arms the timer again: it is freed here. */
static void cti_on_close(struct stream *strm, const char *why)
{
	struct conn *c = stream_user(strm);
	c->closed = 1;
	end_session(c, why);
	log_event(LOG_LVL_INFO, c->cid, "cti_disconnect", "peer", c->peer, "reason", why,
	          (const char *)NULL);
	event_free(c->timer);
	c->timer = NULL;
}

static void cti_on_drain(struct stream *strm)
{
	close_if_answered(stream_user(strm));
}

static const struct stream_ops cti_ops = {
    .frame = cti_frame,
    .on_frame = cti_on_frame,
    .on_open = cti_on_open,
    .on_close = cti_on_close,
    .on_drain = cti_on_drain,
};

/* --- start and stop ----------------------------------------------------------------- */

struct setup {
	struct cti_loop *cl;
	int fd[L_N]; /* -1 once a listener owns it */
	int ok;
	char err[160];
};

/* On loop i (loop_run_all): its listeners. */
static void setup_on_loop(struct loop *l, int i, void *arg)
{
	(void)l;
	struct setup *su = (struct setup *)arg + i;
	struct cti_loop *cl = su->cl;
	struct cti_server *s = cl->s;
	for (int k = 0; k < L_N; k++) {
		if (su->fd[k] < 0)
			continue;
		struct stream_listener_options o = {
		    .name = k == L_TLS ? "cti-tls" : "cti",
		    .kind = k == L_TLS ? STREAM_TLS : STREAM_TCP,
		    .tls = s->tls,
		    .caps = s->caps,
		    .stats = &s->stats[k],
		    .ops = &cti_ops,
		    .ctx = cl,
		    .user_size = sizeof(struct conn),
		    .max_frame = CTI_FRAME_MAX,
		    .write_limit = OUT_MAX,
		};
		cl->lis[k] = stream_listen(cl->loop, su->fd[k], &o, su->err, sizeof su->err);
		su->fd[k] = -1;
		if (!cl->lis[k])
			su->ok = 0;
	}
}

/* On loop i (loop_run_all): closes every connection ("server stopping"). */
static void teardown_on_loop(struct loop *l, int i, void *arg)
{
	(void)l;
	struct cti_loop *cl = &((struct cti_server *)arg)->loops[i];
	/* Closes every connection ("server stopping"): cti_on_close releases its monitors. */
	for (int k = 0; k < L_N; k++) {
		stream_listener_free(cl->lis[k]);
		cl->lis[k] = NULL;
	}
}

static void server_free(struct cti_server *s);

struct cti_server *cti_server_start(const struct cti_server_options *o, char *err, size_t errlen)
{
	struct cti_server *s = calloc(1, sizeof *s);
	if (!s) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	s->cfg = *o->cfg;
	s->store = o->store;
	s->dir = o->dir;
	s->workers = o->workers;
	s->lg = o->loops;
	s->nloops = loop_group_size(o->loops);
	pthread_mutex_init(&s->mu, NULL);
	struct tlsctx_options to = {.name = "cti-tls", .cert = o->tls_cert, .key = o->tls_key};
	if (s->cfg.cti.tls_port && !(s->tls = tlsctx_new(&to, err, errlen))) {
		free(s);
		return NULL;
	}
	/* One count for both ports; no per-source cap ([cti] has no key for one). */
	s->caps = conncap_new(s->cfg.cti.max_connections, s->cfg.cti.max_connections);
	s->loops = calloc((size_t)s->nloops, sizeof *s->loops);
	if (!s->loops || !s->caps) {
		conncap_free(s->caps);
		free(s->loops);
		tlsctx_free(s->tls);
		free(s);
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	int ports[L_N] = {s->cfg.cti.port, s->cfg.cti.tls_port};
	int ok = 1;
	struct setup *su = calloc((size_t)s->nloops, sizeof *su);
	for (int i = 0; su && i < s->nloops; i++) {
		s->loops[i].s = s;
		s->loops[i].loop = loop_group_get(s->lg, i);
		su[i] = (struct setup){.cl = &s->loops[i], .fd = {-1, -1}, .ok = 1};
		for (int k = 0; k < L_N; k++) {
			if (!ports[k])
				continue;
			int fd = loop_bind_reuseport(s->cfg.cti.address, (uint16_t)ports[k],
			                             SOCK_STREAM);
			if (fd < 0) {
				snprintf(err, errlen, "cti %s port %s:%d: %s", k ? "tls" : "tcp",
				         s->cfg.cti.address, ports[k], strerror(-fd));
				ok = 0;
			}
			su[i].fd[k] = fd;
		}
	}
	if (!su)
		ok = 0;
	if (ok && loop_run_all(s->lg, setup_on_loop, su) != s->nloops)
		ok = 0;
	for (int i = 0; su && i < s->nloops; i++) {
		if (!su[i].ok && !err[0])
			snprintf(err, errlen, "%s", su[i].err);
		ok = ok && su[i].ok;
		for (int k = 0; k < L_N; k++) /* sockets of loops never set up */
			if (su[i].fd[k] >= 0)
				close(su[i].fd[k]);
	}
	free(su);
	if (!ok) {
		if (!err[0])
			snprintf(err, errlen, "cannot start the CTI listeners");
		cti_server_stop(s);
		server_free(s);
		return NULL;
	}
	for (int k = 0; k < L_N; k++)
		if (ports[k])
			ports_name("tcp", (unsigned)ports[k], NULL, k ? "cti-tls" : "cti");
	char p1[8], p2[8];
	snprintf(p1, sizeof p1, "%d", ports[0]);
	snprintf(p2, sizeof p2, "%d", ports[1]);
	log_event(LOG_LVL_NOTICE, NULL, "cti_listening", "address", s->cfg.cti.address, "tcp", p1,
	          "tls", p2, "plain_login", s->cfg.cti.allow_plain_login ? "allowed" : "refused",
	          (const char *)NULL);
	return s;
}

void cti_server_stop(struct cti_server *s)
{
	if (!s)
		return;
	if (s->loops)
		loop_run_all(s->lg, teardown_on_loop, s);
}

static void server_free(struct cti_server *s)
{
	for (int i = 0; i < NBUCKETS; i++)
		while (s->devs[i]) {
			struct dev_ent *e = s->devs[i];
			s->devs[i] = e->next;
			free(e);
		}
	tlsctx_free(s->tls);
	conncap_free(s->caps);
	free(s->loops);
	pthread_mutex_destroy(&s->mu);
	free(s);
}

void cti_server_free(struct cti_server *s)
{
	if (s)
		server_free(s);
}

void cti_server_sessions(struct cti_server *s,
                         void (*fn)(void *ud, const struct cti_session_info *i), void *ud)
{
	pthread_mutex_lock(&s->mu);
	for (struct conn *c = s->sessions; c; c = c->rnext) {
		struct cti_session_info i = {
		    c->session_id,          c->user, c->app,       c->peer,
		    c->tls ? "tls" : "tcp", c->cid,  c->started_s, c->nmons};
		fn(ud, &i);
	}
	pthread_mutex_unlock(&s->mu);
}

void cti_server_monitors(struct cti_server *s,
                         void (*fn)(void *ud, const struct cti_monitor_info *i), void *ud)
{
	pthread_mutex_lock(&s->mu);
	for (struct conn *c = s->sessions; c; c = c->rnext)
		for (struct mon *m = c->mons; m; m = m->next_conn) {
			struct cti_monitor_info i = {
			    m->xref, m->device,     c->user,     c->app,
			    c->peer, c->session_id, m->opened_s, dev_get(s, m->device)};
			fn(ud, &i);
		}
	pthread_mutex_unlock(&s->mu);
}
