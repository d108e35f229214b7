/* SPDX-License-Identifier: ISC */
/*
 * session: ECMA-354 application sessions — StartApplicationSession (the login, checked by
 * the directory, dir.h), ResetApplicationSessionTimer (the heartbeat), StopApplicationSession
 * and the end of a session.
 *
 * The decisions are pure functions of their inputs (no connection, no socket, no clock):
 * a login request before the directory, the directory's verdict, a heartbeat, a stop.
 * They return an outcome (outcome.h); the cti_session_* actions apply them to a
 * connection and answer.
 *
 * Threads: the actions run on the connection's loop; the decisions anywhere.
 */
#ifndef TG_CTI_SESSION_H
#define TG_CTI_SESSION_H

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

/* May this StartApplicationSession go to the directory? in_session: the connection has a
 * session; tls: it came over TLS; allow_plain_login: cti.allow_plain_login. CTI_OK or the
 * refusal. */
enum cti_outcome cti_login_check(const struct cti_msg *m, int in_session, int tls,
                                 int allow_plain_login);
/* The directory's verdict and the user's CTI permissions (r->cti_perms) for a login over
 * TLS or not: CTI_OK (the session starts), CTI_LOGIN_DIRECTORY, CTI_LOGIN_NOT_ENABLED or
 * CTI_LOGIN_TLS_REQUIRED. */
enum cti_outcome cti_login_decide(const struct dir_result *r, int tls);
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
