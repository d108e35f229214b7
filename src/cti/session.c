/* SPDX-License-Identifier: ISC */
#include "cti/session.h"
#include "core/util.h"
#include "cti/conn.h"
#include "cti/monitor.h"
#include "cti/server_int.h"

#include <sodium.h>
#include <stdio.h>
#include <string.h>

/* --- decisions ---------------------------------------------------------------------- */

int cti_session_clamp(int requested, const struct cti_session_limits *l)
{
	if (requested <= 0)
		return l->dflt;
	if (requested < CTI_SESSION_DURATION_MIN)
		return CTI_SESSION_DURATION_MIN;
	return requested > l->max ? l->max : requested;
}

enum cti_outcome cti_login_check(const struct cti_msg *m, int in_session, int tls,
                                 int allow_plain_login)
{
	if (in_session)
		return CTI_LOGIN_IN_SESSION;
	if (!m->protocol_ok)
		return CTI_LOGIN_PROTOCOL;
	if (!tls && !allow_plain_login)
		return CTI_LOGIN_PLAIN;
	if (!m->has_password && m->token_len)
		return CTI_LOGIN_TOKEN; /* the hook for OAuth access tokens */
	if (!m->user[0] || !m->has_password)
		return CTI_LOGIN_MISSING;
	return CTI_OK;
}

enum cti_outcome cti_login_decide(const struct dir_result *r, int tls)
{
	if (r->status != DIR_OK)
		return CTI_LOGIN_DIRECTORY;
	if (!(r->cti_perms & DIR_CTI_ENABLED))
		return CTI_LOGIN_NOT_ENABLED;
	if ((r->cti_perms & DIR_CTI_SECURE) && !tls)
		return CTI_LOGIN_TLS_REQUIRED;
	return CTI_OK;
}

enum cti_outcome cti_heartbeat(const char *session_id, int current, const struct cti_msg *m,
                               const struct cti_session_limits *l, int *duration)
{
	if (strcmp(m->session_id, session_id) != 0)
		return CTI_RESET_BAD_SESSION;
	*duration = cti_session_clamp(m->duration ? m->duration : current, l);
	return CTI_OK;
}

enum cti_outcome cti_stop_check(const char *session_id, const struct cti_msg *m)
{
	return strcmp(m->session_id, session_id) == 0 ? CTI_OK : CTI_STOP_BAD_SESSION;
}

/* --- actions ------------------------------------------------------------------------ */

static struct cti_session_limits limits(const struct cti_server *s)
{
	return (struct cti_session_limits){.dflt = s->cfg.cti.session_duration,
	                                   .max = s->cfg.cti.max_session_duration};
}

/* r: the directory's result when it was asked (the refusal is counted under its
 * directory), NULL when the login was refused before. */
static void login_refused(struct cti_conn *c, enum cti_outcome o, const char *detail,
                          const struct dir_result *r)
{
	struct cti_counters *k = &c->cl->s->cnt;
	const struct cti_answer *a = cti_outcome_answer(o);
	log_ev(LOG_LVL_NOTICE, c->cid, "cti_login_refused", LOG_S("user", c->user),
	       LOG_S("application", c->app), LOG_S("peer", c->peer),
	       LOG_S("transport", cti_conn_transport(c)),
	       LOG_S("reason", detail ? detail : a->reason));
	cti_count_add(!r                               ? &k->logins_refused_other
	              : r->directory == STORE_DIR_LDAP ? &k->logins_refused_ldap
	                                               : &k->logins_refused_local);
	cti_conn_refuse(c, c->pending_invoke, o, NULL);
	c->st = CTI_C_NEW;
	if (++c->failures >= CTI_LOGIN_FAILURES_MAX)
		cti_conn_close_after_answers(c, "too many failed logins");
}

static void session_start(struct cti_conn *c, const struct dir_result *r, const char *perms)
{
	struct cti_server *s = c->cl->s;
	unsigned char rnd[16];
	randombytes_buf(rnd, sizeof rnd);
	sodium_bin2hex(c->session_id, sizeof c->session_id, rnd, sizeof rnd);
	c->perms = r->cti_perms;
	c->st = CTI_C_SESSION;
	c->started_s = tg_now_s();
	pthread_mutex_lock(&s->mu);
	c->rnext = s->sessions;
	if (s->sessions)
		s->sessions->rprev = c;
	s->sessions = c;
	pthread_mutex_unlock(&s->mu);
	cti_count_add(r->directory == STORE_DIR_LDAP ? &s->cnt.logins_ok_ldap
	                                             : &s->cnt.logins_ok_local);
	cti_count_add(&s->cnt.sessions_open);
	char xml[512];
	cti_conn_send(c, c->pending_invoke, xml,
	              cti_xml_start_session_pos(xml, sizeof xml, c->session_id, c->duration));
	log_ev(LOG_LVL_NOTICE, c->cid, "cti_session_started", LOG_S("user", c->user),
	       LOG_S("application", c->app), LOG_S("peer", c->peer),
	       LOG_S("transport", cti_conn_transport(c)), LOG_S("session", c->session_id),
	       LOG_I("session_duration", c->duration), LOG_S("cti_permissions", perms));
	cti_conn_arm_timer(c, c->duration + 2);
}

/* The directory's verdict on a login: the session starts, or the login is refused. */
static void login_result(struct cti_conn *c, const struct dir_result *r)
{
	enum cti_outcome o = cti_login_decide(r, c->tls);
	if (o == CTI_LOGIN_DIRECTORY) {
		/* The peer learns only that the login failed; the reason is in the trace. */
		char why[320];
		snprintf(why, sizeof why, "authentication: %s (%s)", dir_status_name(r->status),
		         r->detail);
		login_refused(c, o, why, r);
		return;
	}
	char perms[256];
	dir_cti_perm_format(r->cti_perms, perms, sizeof perms);
	log_ev(LOG_LVL_INFO, c->cid, "cti_user_settings", LOG_S("user", c->user),
	       LOG_S("cti_permissions", perms));
	if (o != CTI_OK)
		login_refused(c, o, NULL, r);
	else
		session_start(c, r, perms);
}

/* The login's reference (cti_session_login) is kept until the end: login_result may
 * close c. */
static void on_auth(void *ud, const struct dir_result *r)
{
	struct cti_conn *c = ud;
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

void cti_session_login(struct cti_conn *c, int invoke, const struct cti_msg *m)
{
	struct cti_server *s = c->cl->s;
	log_ev(LOG_LVL_INFO, c->cid, "cti_login_request", LOG_S("user", m->user),
	       LOG_S("application", m->application_id), LOG_S("peer", c->peer),
	       LOG_S("transport", cti_conn_transport(c)),
	       LOG_U("credential_length", m->password_len));
	enum cti_outcome o =
	    cti_login_check(m, c->st == CTI_C_SESSION, c->tls, s->cfg.cti.allow_plain_login);
	if (o == CTI_LOGIN_IN_SESSION) {
		/* Answered, not counted as a failure; the session and its user stay as they
		 * are (the device checks and the listings read c->user). */
		cti_count_add(&s->cnt.logins_refused_other);
		cti_conn_refuse(c, invoke, o, NULL);
		return;
	}
	c->pending_invoke = invoke;
	tg_strlcpy(c->user, m->user, sizeof c->user);
	tg_strlcpy(c->app, m->application_id, sizeof c->app);
	if (o != CTI_OK) {
		login_refused(c, o, NULL, NULL);
		return;
	}
	struct cti_session_limits l = limits(s);
	c->duration = cti_session_clamp(m->duration, &l);
	c->st = CTI_C_AUTH;
	stream_ref(c->strm);
	if (dir_authenticate(s->dir, m->user, m->password, m->password_len, c->cid, c->cl->loop,
	                     on_auth, c) != 0) {
		stream_unref(c->strm); /* the frame callback holds the stream: not freed here */
		login_refused(c, CTI_LOGIN_OVERLOADED, NULL, NULL);
		return;
	}
	/* One login at a time: the next frames wait until the directory has answered (on_auth
	 * runs on this loop, after this frame). */
	stream_pause(c->strm);
}

void cti_session_reset_timer(struct cti_conn *c, int invoke, const struct cti_msg *m)
{
	struct cti_session_limits l = limits(c->cl->s);
	int d;
	enum cti_outcome o = cti_heartbeat(c->session_id, c->duration, m, &l, &d);
	if (o != CTI_OK) {
		cti_conn_refuse(c, invoke, o, NULL);
		return;
	}
	c->duration = d;
	cti_conn_arm_timer(c, c->duration + 2);
	char xml[512];
	cti_conn_send(c, invoke, xml, cti_xml_reset_timer_pos(xml, sizeof xml, c->duration));
}

void cti_session_stop(struct cti_conn *c, int invoke, const struct cti_msg *m)
{
	enum cti_outcome o = cti_stop_check(c->session_id, m);
	if (o != CTI_OK) {
		cti_conn_refuse(c, invoke, o, NULL);
		return;
	}
	char xml[512];
	cti_conn_send(c, invoke, xml, cti_xml_stop_session_pos(xml, sizeof xml));
	cti_session_end(c, "StopApplicationSession");
	cti_conn_close_after_answers(c, "session stopped by the application");
}

void cti_session_expired(struct cti_conn *c)
{
	log_ev(LOG_LVL_NOTICE, c->cid, "cti_heartbeat_missed", LOG_S("user", c->user),
	       LOG_S("session", c->session_id));
	stream_close(c->strm, "session duration expired without ResetApplicationSessionTimer");
}

static void registry_remove(struct cti_conn *c)
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
		cti_count_sub(&s->cnt.sessions_open);
	}
	c->rprev = c->rnext = NULL;
	pthread_mutex_unlock(&s->mu);
}

void cti_session_end(struct cti_conn *c, const char *why)
{
	if (c->st == CTI_C_SESSION)
		log_ev(LOG_LVL_NOTICE, c->cid, "cti_session_ended", LOG_S("user", c->user),
		       LOG_S("session", c->session_id), LOG_S("reason", why));
	cti_monitor_release_all(c);
	registry_remove(c);
}
