/* SPDX-License-Identifier: ISC */
/*
 * session: ECMA-354 application sessions — StartApplicationSession (the login, checked by
 * the directory, dir.h), ResetApplicationSessionTimer (the heartbeat), StopApplicationSession
 * and the end of a session.
 *
 * The decisions are pure functions of their inputs (no connection, no socket, no clock):
 * a login request before the directory, the login's facts (the directory's verdict, the
 * user's CTI authentication type, the client certificate: cert.h), a heartbeat, a stop.
 * They return an outcome (outcome.h); the cti_session_* actions apply them to a
 * connection and answer.
 *
 * A login (docs/protocol.md "Logins"): the facts are read first on the worker pool — the
 * user's ctiauthtype (store.h) and, when a certificate was presented, its row in
 * issuedcertificate; then
 *   - ctiauthtype certificate (an application user): the certificate alone, no directory;
 *     a password sent along is ignored (the Cisco TSP always sends the field);
 *   - ctiauthtype password: the directory checks the password; a user in Standard CTI
 *     Secure Connection must also present a valid certificate issued to them (CN = the
 *     userID). Other users: any certificate is ignored, as before.
 * A session keeps the serial of the certificate it logged in with: revoking it closes the
 * session (cti_server_close_certificate, server.h).
 *
 * Threads: the actions run on the connection's loop; the decisions anywhere.
 */
#ifndef TG_CTI_SESSION_H
#define TG_CTI_SESSION_H

#include "cti/cert.h"
#include "cti/outcome.h"
#include "cti/proto.h"
#include "dir/dir.h"

struct cti_conn;

/* A session lasts at least this (s): a shorter request is raised to it. */
#define CTI_SESSION_DURATION_MIN 10
/* Refused logins on one connection before it is closed. */
#define CTI_LOGIN_FAILURES_MAX 3

/* The configured session durations, s: cti.session_duration (when none is requested)
 * and cti.max_session_duration. */
struct cti_session_limits {
	int dflt, max;
};

/* The session duration granted for a requested one (s; <= 0: none requested). */
int cti_session_clamp(int requested, const struct cti_session_limits *l);

/* May this StartApplicationSession be checked? in_session: the connection has a session;
 * tls: it came over TLS; allow_plain_login: cti.allow_plain_login; has_cert: the peer
 * presented a client certificate (then a missing password may be a certificate login);
 * token_service: this process verifies access tokens (an accessToken without a password is
 * a token login, whose user is the token's subject: no userID needed). CTI_OK or the
 * refusal. */
enum cti_outcome cti_login_check(const struct cti_msg *m, int in_session, int tls,
                                 int allow_plain_login, int has_cert, int token_service);

/* What decides a login once it has been checked. */
struct cti_login_facts {
	/* The directory's verdict on the password; for a certificate login, the user's row
	 * read as one: DIR_OK, DIR_UNKNOWN_USER, DIR_INACTIVE or DIR_UNAVAILABLE, and the
	 * user's CTI permissions (cti_perms). */
	const struct dir_result *dir;
	enum store_ctiauthtype authtype; /* the user's (password for an unknown user) */
	int tls;                         /* over the TLS port */
	enum cti_cert_state cert;        /* the presented certificate (cti_cert_judge) */
	int cert_names_user;             /* its CN is the login's userID */
};
/* CTI_OK (the session starts) or why not, in this order:
 *   certificate users: the user (CTI_LOGIN_DIRECTORY), the certificate (CTI_LOGIN_CERT_*),
 *     then Standard CTI Enabled (CTI_LOGIN_NOT_ENABLED);
 *   password users: the directory (CTI_LOGIN_DIRECTORY), Standard CTI Enabled
 *     (CTI_LOGIN_NOT_ENABLED), then for Standard CTI Secure Connection TLS
 *     (CTI_LOGIN_TLS_REQUIRED) and the certificate (CTI_LOGIN_CERT_*).
 * The certificate must be VALID and name the user (CTI_LOGIN_CERT_OTHER_USER). */
enum cti_outcome cti_login_decide(const struct cti_login_facts *f);
/* The refusal a certificate state gives (CTI_OK for CTI_CERT_VALID). */
enum cti_outcome cti_login_cert_outcome(enum cti_cert_state s);
/* ResetApplicationSessionTimer on the session `session_id` whose duration is `current`:
 * CTI_OK with the new duration in *duration (the request's, or the current one when it
 * names none, clamped), or CTI_RESET_BAD_SESSION. */
enum cti_outcome cti_heartbeat(const char *session_id, int current, const struct cti_msg *m,
                               const struct cti_session_limits *l, int *duration);
/* StopApplicationSession: CTI_OK or CTI_STOP_BAD_SESSION. */
enum cti_outcome cti_stop_check(const char *session_id, const struct cti_msg *m);

/* The actions (conn.c dispatches to them; invoke: the request's invoke id). */
void cti_session_login(struct cti_conn *c, int invoke, const struct cti_msg *m);
void cti_session_reset_timer(struct cti_conn *c, int invoke, const struct cti_msg *m);
void cti_session_stop(struct cti_conn *c, int invoke, const struct cti_msg *m);
/* The session's timer ran out without a heartbeat: closes the connection (c may be freed
 * when this returns). */
void cti_session_expired(struct cti_conn *c);
/* The connection ends (why: logged): the session, if any, ends and its monitors go. */
void cti_session_end(struct cti_conn *c, const char *why);

#endif
