/* SPDX-License-Identifier: ISC */
#include "cti/session.h"
#include "authz/token.h"
#include "core/util.h"
#include "cti/conn.h"
#include "cti/monitor.h"
#include "core/worker.h"
#include "cti/server_int.h"

#include <openssl/ssl.h>
#include <sodium.h>
#include <stdlib.h>
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
                                 int allow_plain_login, int has_cert, int token_service)
{
	if (in_session)
		return CTI_LOGIN_IN_SESSION;
	if (!m->protocol_ok)
		return CTI_LOGIN_PROTOCOL;
	if (!tls && !allow_plain_login)
		return CTI_LOGIN_PLAIN;
	if (!m->has_password && m->token_len)
		return token_service ? CTI_OK : CTI_LOGIN_TOKEN;
	/* Without a password only a certificate login can succeed: the facts say whether
	 * the user is one (cti_login_decide). */
	if (!m->user[0] || (!m->has_password && !has_cert))
		return CTI_LOGIN_MISSING;
	return CTI_OK;
}

enum cti_outcome cti_login_cert_outcome(enum cti_cert_state s)
{
	static const enum cti_outcome map[] = {
	    [CTI_CERT_NONE] = CTI_LOGIN_CERT_MISSING,
	    [CTI_CERT_VALID] = CTI_OK,
	    [CTI_CERT_FOREIGN] = CTI_LOGIN_CERT_FOREIGN,
	    [CTI_CERT_UNLISTED] = CTI_LOGIN_CERT_UNLISTED,
	    [CTI_CERT_NOT_YET_VALID] = CTI_LOGIN_CERT_NOT_YET_VALID,
	    [CTI_CERT_EXPIRED] = CTI_LOGIN_CERT_EXPIRED,
	    [CTI_CERT_REVOKED] = CTI_LOGIN_CERT_REVOKED,
	    [CTI_CERT_STORE_ERROR] = CTI_LOGIN_CERT_STORE,
	};
	return (unsigned)s < sizeof map / sizeof map[0] ? map[s] : CTI_LOGIN_CERT_STORE;
}

static enum cti_outcome cert_decide(const struct cti_login_facts *f)
{
	enum cti_outcome o = cti_login_cert_outcome(f->cert);
	if (o == CTI_OK && !f->cert_names_user)
		o = CTI_LOGIN_CERT_OTHER_USER;
	return o;
}

enum cti_outcome cti_login_decide(const struct cti_login_facts *f)
{
	const struct dir_result *r = f->dir;
	enum cti_outcome o;
	if (r->status != DIR_OK)
		return CTI_LOGIN_DIRECTORY;
	if (f->authtype == STORE_CTIAUTH_CERTIFICATE) {
		if ((o = cert_decide(f)) != CTI_OK)
			return o;
		return r->cti_perms & DIR_CTI_ENABLED ? CTI_OK : CTI_LOGIN_NOT_ENABLED;
	}
	if (!(r->cti_perms & DIR_CTI_ENABLED))
		return CTI_LOGIN_NOT_ENABLED;
	if (!(r->cti_perms & DIR_CTI_SECURE))
		return CTI_OK;
	if (!f->tls)
		return CTI_LOGIN_TLS_REQUIRED;
	return cert_decide(f);
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
	       LOG_S("transport", cti_conn_transport(c)), LOG_S("authentication", c->auth_via),
	       LOG_S("jti", c->jti[0] ? c->jti : NULL),
	       LOG_S("certificate", c->cert_serial[0] ? c->cert_serial : NULL),
	       LOG_S("reason", detail ? detail : a->reason));
	cti_count_add(!r                               ? &k->logins_refused_other
	              : r->directory == STORE_DIR_LDAP ? &k->logins_refused_ldap
	                                               : &k->logins_refused_local);
	cti_conn_refuse(c, c->pending_invoke, o, NULL);
	c->st = CTI_C_NEW;
	c->cert_serial[0] = '\0';
	c->jti[0] = '\0';
	if (++c->failures >= CTI_LOGIN_FAILURES_MAX)
		cti_conn_close_after_answers(c, "too many failed logins");
}

static void session_start(struct cti_conn *c, const struct dir_result *r, const char *perms)
{
	struct cti_server *s = c->cl->s;
	unsigned char rnd[16];
	randombytes_buf(rnd, sizeof rnd);
	sodium_bin2hex(c->session_id, sizeof c->session_id, rnd, sizeof rnd);
	pthread_mutex_lock(&s->mu);
	/* Revoked after its row was read: under mu, as cti_server_close_certificate notes
	 * the serial and walks the registry, so the session is refused here or closed there. */
	if (c->cert_serial[0] && cti_revoked_locked(s, c->cert_serial)) {
		pthread_mutex_unlock(&s->mu);
		login_refused(c, CTI_LOGIN_CERT_REVOKED, "certificate revoked during the login", r);
		return;
	}
	c->perms = r->cti_perms;
	c->st = CTI_C_SESSION;
	c->started_s = tg_now_s();
	c->rnext = s->sessions;
	if (s->sessions)
		s->sessions->rprev = c;
	s->sessions = c;
	pthread_mutex_unlock(&s->mu);
	cti_count_add(r->directory == STORE_DIR_LDAP ? &s->cnt.logins_ok_ldap
	                                             : &s->cnt.logins_ok_local);
	cti_count_add(&s->cnt.sessions_open);
	/* Logged before the answer goes: a client that reads the log once it is in (the
	 * system tests do) must find the line. */
	log_ev(LOG_LVL_NOTICE, c->cid, "cti_session_started", LOG_S("user", c->user),
	       LOG_S("application", c->app), LOG_S("peer", c->peer),
	       LOG_S("transport", cti_conn_transport(c)), LOG_S("session", c->session_id),
	       LOG_I("session_duration", c->duration), LOG_S("cti_permissions", perms),
	       LOG_S("ctiauthtype", store_ctiauthtype_name(c->authtype)),
	       LOG_S("authentication", c->auth_via), LOG_S("jti", c->jti[0] ? c->jti : NULL),
	       LOG_S("certificate", c->cert_serial[0] ? c->cert_serial : NULL));
	char xml[512];
	cti_conn_send(c, c->pending_invoke, xml,
	              cti_xml_start_session_pos(xml, sizeof xml, c->session_id, c->duration));
	cti_conn_arm_timer(c, c->duration + 2);
}

/* The verdict on a login (r: the directory's, or the user's row for a certificate
 * login): the session starts, or the login is refused. */
static void login_result(struct cti_conn *c, const struct dir_result *r)
{
	struct cti_login_facts f = {.dir = r,
	                            .authtype = c->authtype,
	                            .tls = c->tls,
	                            .cert = c->cert_state,
	                            .cert_names_user = c->cert_names_user};
	enum cti_outcome o = cti_login_decide(&f);
	if (o == CTI_LOGIN_DIRECTORY) {
		/* The peer learns only that the login failed; the reason is in the trace. */
		char why[320];
		snprintf(why, sizeof why, "%s: %s (%s)",
		         c->authtype == STORE_CTIAUTH_CERTIFICATE ? "certificate login"
		         : c->jti[0]                              ? "token login"
		                                                  : "authentication",
		         dir_status_name(r->status), r->detail);
		login_refused(c, o, why, r);
		return;
	}
	char perms[256];
	dir_cti_perm_format(r->cti_perms, perms, sizeof perms);
	log_ev(LOG_LVL_INFO, c->cid, "cti_user_settings", LOG_S("user", c->user),
	       LOG_S("cti_permissions", perms),
	       LOG_S("ctiauthtype", store_ctiauthtype_name(c->authtype)),
	       LOG_S("certificate_state", cti_cert_state_name(c->cert_state)));
	if (o != CTI_OK) {
		login_refused(c, o, NULL, r);
		return;
	}
	/* Only a certificate the decision rested on ties the session to its serial. */
	if (c->authtype != STORE_CTIAUTH_CERTIFICATE && !(r->cti_perms & DIR_CTI_SECURE))
		c->cert_serial[0] = '\0';
	session_start(c, r, perms);
}

/* After the verdict: frames that arrived during the check wait in the input, handed over
 * from the loop's next turn (discarded if the third failure is closing it). Drops the
 * login's reference (cti_session_login): c may be gone after it. */
static void login_done(struct cti_conn *c)
{
	struct stream *strm = c->strm;
	if (!c->closed)
		stream_resume(strm);
	stream_unref(strm);
}

static void on_auth(void *ud, const struct dir_result *r)
{
	struct cti_conn *c = ud;
	if (!c->closed)
		login_result(c, r);
	login_done(c);
}

/* The facts of a login, read on the worker pool (store calls block): the user's row (its
 * ctiauthtype), the presented certificate's row, and a certificate user's permissions.
 * The password waits here for the directory (wiped when the job ends). */
struct login_job {
	struct stream *strm;
	struct cti_server *s;
	char user[CTI_ID_MAX + 1];
	struct cti_cert cert;
	char password[CTI_SECRET_MAX + 1]; /* secret: the password, or the access token */
	size_t password_len;
	int has_password;
	int token; /* password holds an access token */
	char cid[LOG_CID_SIZE];
	/* results */
	int user_rc, cert_rc, perms_rc;
	struct store_user u;
	struct store_issuedcert row;
	unsigned perms;
	/* a token login: the verdict, the claims, and the user's standing (dir_user_standing) */
	enum authz_verdict verdict;
	int client_token; /* verified, but its sub is its client_id: a client's, not a user's */
	struct authz_claims claims;
	enum dir_status standing;
	char detail[128];
};

/* A token login on the worker: the token (aud cti) names the user; the user then passes the
 * checks a password login makes before its password (dir_user_standing: exists, not locked
 * or inactive, its CTI permissions). */
static void token_job_run(struct login_job *j)
{
	store_t *st = j->s->store;
	j->verdict = authz_verify(j->s->authz, j->password, j->password_len, AUTHZ_AUD_CTI,
	                          tg_now_s(), &j->claims);
	if (j->verdict != AUTHZ_OK)
		return;
	/* A client_credentials token names the client (RFC 9068 §2.2: sub is the client's
	 * identifier): it is no user's login, even when a user has the client's name (RFC 9068
	 * §5 warns of exactly that confusion). */
	j->client_token = strcmp(j->claims.sub, j->claims.client_id) == 0;
	if (j->client_token)
		return;
	if (j->user[0] && strcmp(j->user, j->claims.sub) != 0)
		return; /* login_facts refuses it: CTI_LOGIN_TOKEN_USER */
	tg_strlcpy(j->user, j->claims.sub, sizeof j->user);
	struct store_credstate cs;
	struct store_credpolicy pol;
	j->standing = dir_user_standing(st, j->user, tg_now_s(), j->cid, &j->u, &cs, &pol,
	                                &j->perms, j->detail, sizeof j->detail);
	/* THROTTLED is about guessing passwords: a verified token is not a guess. */
	if (j->standing == DIR_THROTTLED)
		j->standing = DIR_OK;
	j->user_rc = j->standing == DIR_UNKNOWN_USER ? STORE_NOTFOUND : STORE_OK;
}

static void login_job_run(void *arg)
{
	struct login_job *j = arg;
	store_t *st = j->s->store;
	if (j->token)
		token_job_run(j);
	else
		j->user_rc = store_user_get(st, j->user, &j->u);
	if (j->token &&
	    (j->verdict != AUTHZ_OK || j->client_token || strcmp(j->user, j->claims.sub) != 0)) {
		sodium_memzero(j->password, sizeof j->password);
		return;
	}
	j->cert_rc =
	    j->cert.serial[0] ? store_issuedcert_get(st, j->cert.serial, &j->row) : STORE_NOTFOUND;
	if (!j->token && j->user_rc == STORE_OK && j->u.ctiauthtype == STORE_CTIAUTH_CERTIFICATE)
		j->perms_rc = dir_cti_perms(st, j->user, &j->perms);
	/* The hash is not needed on the loop. */
	sodium_memzero(j->u.passwordhash, sizeof j->u.passwordhash);
}

/* A certificate user's row read as the directory's verdict. */
static void cert_user_result(const struct login_job *j, struct dir_result *r)
{
	*r = (struct dir_result){.status = DIR_OK,
	                         .userid = j->user,
	                         .directory = j->u.directory,
	                         .cti_perms = j->perms,
	                         .expiry_warning_days = -1,
	                         .dn = "",
	                         .detail = "user found"};
	if (j->perms_rc != STORE_OK) {
		r->status = DIR_UNAVAILABLE;
		r->detail = "the store could not be read";
	} else if (j->u.status == STORE_USER_INACTIVE) {
		r->status = DIR_INACTIVE;
		r->detail = "end user status is inactive";
	}
	if (r->status != DIR_OK)
		r->cti_perms = 0;
}

/* A token login's verdict as the directory's would be: the user's standing and permissions. */
static void token_user_result(const struct login_job *j, struct dir_result *r)
{
	*r = (struct dir_result){.status = j->standing,
	                         .userid = j->user,
	                         .directory = j->u.directory,
	                         .cti_perms = j->standing == DIR_OK ? j->perms : 0,
	                         .expiry_warning_days = -1,
	                         .dn = "",
	                         .detail = j->standing == DIR_OK ? "access token" : j->detail};
}

/* On the loop, a token login: refused with the verdict in the trace, or decided as a password
 * login would be once the directory answered. */
static void token_facts(struct cti_conn *c, struct login_job *j)
{
	if (j->verdict != AUTHZ_OK) {
		char why[96];
		snprintf(why, sizeof why, "access token refused: %s",
		         authz_verdict_name(j->verdict));
		login_refused(c, CTI_LOGIN_TOKEN_REFUSED, why, NULL);
		return;
	}
	tg_strlcpy(c->jti, j->claims.jti, sizeof c->jti);
	if (j->client_token) {
		login_refused(c, CTI_LOGIN_TOKEN_REFUSED,
		              "access token refused: it names a client (client_credentials), not "
		              "a user",
		              NULL);
		return;
	}
	if (strcmp(j->user, j->claims.sub) != 0) {
		login_refused(c, CTI_LOGIN_TOKEN_USER, NULL, NULL);
		return;
	}
	tg_strlcpy(c->user, j->user, sizeof c->user);
	log_ev(LOG_LVL_INFO, c->cid, "cti_login_token", LOG_S("user", c->user),
	       LOG_S("client_id", j->claims.client_id), LOG_S("jti", j->claims.jti),
	       LOG_I("exp", j->claims.exp));
	struct dir_result r;
	token_user_result(j, &r);
	login_result(c, &r);
}

/* On the loop: the facts are in. A certificate or token login is decided now; a password
 * user goes to the directory (the login's reference goes with it). */
static void login_facts(struct cti_conn *c, struct login_job *j)
{
	struct cti_server *s = j->s;
	c->authtype = j->user_rc == STORE_OK ? j->u.ctiauthtype : STORE_CTIAUTH_PASSWORD;
	c->cert_state = cti_cert_judge(&j->cert, j->cert_rc, &j->row, tg_now_s());
	c->cert_names_user = j->cert.cn[0] && strcmp(j->cert.cn, j->user) == 0;
	tg_strlcpy(c->cert_serial, j->cert.serial, sizeof c->cert_serial);
	if (j->cert.present)
		log_ev(LOG_LVL_INFO, c->cid, "cti_login_certificate", LOG_S("user", c->user),
		       LOG_S("subject_cn", j->cert.cn), LOG_S("serial", j->cert.serial),
		       LOG_S("sha256", j->cert.sha256),
		       LOG_S("state", cti_cert_state_name(c->cert_state)));
	if (j->token) {
		c->auth_via = "token";
		token_facts(c, j);
		login_done(c);
		return;
	}
	c->auth_via = c->authtype == STORE_CTIAUTH_CERTIFICATE ? "certificate" : "password";
	if (c->authtype == STORE_CTIAUTH_CERTIFICATE) {
		struct dir_result r;
		cert_user_result(j, &r);
		login_result(c, &r);
		login_done(c);
		return;
	}
	if (j->user_rc != STORE_OK && j->user_rc != STORE_NOTFOUND)
		log_ev(LOG_LVL_WARNING, c->cid, "cti_login_store_error", LOG_S("user", c->user),
		       LOG_S("error", store_last_error()));
	if (!j->has_password) {
		login_refused(c, CTI_LOGIN_MISSING, NULL, NULL);
		login_done(c);
		return;
	}
	/* An unknown user goes to the directory too: it answers in the same time. */
	if (dir_authenticate(s->dir, j->user, j->password, j->password_len, c->cid, c->cl->loop,
	                     on_auth, c) != 0) {
		login_refused(c, CTI_LOGIN_OVERLOADED, NULL, NULL);
		login_done(c);
	}
}

static void login_job_done(void *arg)
{
	struct login_job *j = arg;
	struct cti_conn *c = stream_user(j->strm);
	if (!c->closed)
		login_facts(c, j);
	else
		login_done(c);
	sodium_memzero(j->password, sizeof j->password);
	free(j);
}

void cti_session_login(struct cti_conn *c, int invoke, const struct cti_msg *m)
{
	struct cti_server *s = c->cl->s;
	int token = !m->has_password && m->token_len > 0;
	log_ev(LOG_LVL_INFO, c->cid, "cti_login_request", LOG_S("user", m->user),
	       LOG_S("application", m->application_id), LOG_S("peer", c->peer),
	       LOG_S("transport", cti_conn_transport(c)),
	       LOG_U("credential_length", token ? m->token_len : m->password_len),
	       LOG_S("credential", token             ? "access_token"
	                           : m->has_password ? "password"
	                                             : NULL));
	SSL *ssl = c->tls ? stream_ssl(c->strm) : NULL;
	X509 *peer = ssl ? SSL_get0_peer_certificate(ssl) : NULL;
	enum cti_outcome o =
	    cti_login_check(m, c->st == CTI_C_SESSION, c->tls, s->cfg.cti.allow_plain_login,
	                    peer != NULL, s->authz != NULL);
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
	c->cert_serial[0] = '\0';
	c->jti[0] = '\0';
	c->auth_via = token ? "token" : NULL;
	if (o != CTI_OK) {
		login_refused(c, o, NULL, NULL);
		return;
	}
	struct login_job *j = calloc(1, sizeof *j);
	if (!j) {
		cti_conn_refuse(c, invoke, CTI_NO_MEMORY, NULL);
		return;
	}
	j->strm = c->strm;
	j->s = s;
	tg_strlcpy(j->user, m->user, sizeof j->user);
	cti_cert_read(peer, cti_server_ca(s), &j->cert);
	/* The token travels (and is wiped) as a password does; it is never logged. */
	j->token = token;
	tg_strlcpy(j->cid, c->cid, sizeof j->cid);
	memcpy(j->password, token ? m->token : m->password, token ? m->token_len : m->password_len);
	j->password_len = token ? m->token_len : m->password_len;
	j->has_password = m->has_password;
	struct cti_session_limits l = limits(s);
	c->duration = cti_session_clamp(m->duration, &l);
	c->st = CTI_C_AUTH;
	stream_ref(c->strm);
	if (workers_submit(s->workers, login_job_run, login_job_done, j, c->cl->loop) != 0) {
		stream_unref(c->strm); /* the frame callback holds the stream: not freed here */
		sodium_memzero(j->password, sizeof j->password);
		free(j);
		login_refused(c, CTI_LOGIN_OVERLOADED, NULL, NULL);
		return;
	}
	/* One login at a time: the next frames wait until the verdict (the job's end and
	 * on_auth run on this loop, after this frame). */
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
