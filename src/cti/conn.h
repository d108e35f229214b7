/* SPDX-License-Identifier: ISC */
/*
 * conn: one CTI connection on the stream layer (core/stream.h) — framing (proto.h), the
 * connection's timer (login timeout, then the session's heartbeat), sending frames,
 * answering refusals (outcome.h), closing after the last answers, and the dispatch of a
 * decoded request to session.c and monitor.c.
 *
 * Threads: a connection lives on the loop that accepted it; every function here runs
 * there. Other threads read only peer, cid and the session fields that session.c
 * publishes under the server's lock (the admin listings).
 *
 * Ownership: struct cti_conn is the stream's user data (stream_user): the layer frees it
 * with the stream, when the last reference goes. A login being checked and every device
 * job hold one (stream_ref). on_close sets `closed`: from then on nothing is answered, no
 * monitor is indexed and the timer is gone.
 */
#ifndef TG_CTI_CONN_H
#define TG_CTI_CONN_H

#include "core/log.h"
#include "core/stream.h"
#include "cti/cert.h"
#include "cti/outcome.h"
#include "cti/proto.h"

#include <stdint.h>

struct cti_loop;
struct cti_mon;
struct event;

/* CTI_C_CLOSING: the server closes after the last answers, those of device jobs still
 * running included (cti_conn_close_after_answers); input is read and discarded. */
enum cti_conn_state { CTI_C_NEW = 0, CTI_C_AUTH, CTI_C_SESSION, CTI_C_CLOSING };

#define CTI_SESSION_ID_SIZE 40 /* 32 hex digits + NUL, with room */

struct cti_conn {
	/* conn.c */
	struct stream *strm;
	struct cti_loop *cl;
	int tls;
	enum cti_conn_state st;
	int closed;
	int jobs;                /* device jobs in flight (each also holds a reference) */
	const char *closing_why; /* CTI_C_CLOSING: the reason logged when the close happens */
	char peer[64];           /* a copy: the admin commands read it from other threads */
	char cid[LOG_CID_SIZE];
	struct event *timer;
	int frame_invoke; /* the invoke id of the frame cti_frame cut, for cti_on_frame */
	/* session.c */
	int failures; /* refused logins on this connection */
	char user[CTI_ID_MAX + 1];
	char app[CTI_ID_MAX + 1];
	char session_id[CTI_SESSION_ID_SIZE];
	unsigned perms;     /* DIR_CTI_* of the session's user */
	int duration;       /* the session's duration, s (clamped) */
	int pending_invoke; /* the StartApplicationSession being checked */
	int64_t started_s;  /* epoch seconds */
	/* The login's certificate facts (cert.h), from the facts job to the decision; the
	 * serial stays with the session: revoking it closes the session. */
	char cert_serial[STORE_SERIAL_HEX + 1]; /* "" when no certificate of telgate's CA */
	enum cti_cert_state cert_state;
	int cert_names_user;
	enum store_ctiauthtype authtype;
	/* How the login authenticated, for the trace: "password", "token" or "certificate";
	 * a token login's jti (never the token). */
	const char *auth_via;
	char jti[44];
	struct cti_conn *rprev, *rnext; /* in the server's session registry (under mu) */
	/* monitor.c (the list under the server's mu) */
	struct cti_mon *mons;
	int nmons;
};

/* The callbacks of both CTI listeners (ctx: the loop's struct cti_loop). */
extern const struct stream_ops cti_conn_ops;

/* Queues one frame (dropped once the connection is closed, or when len < 0: a builder
 * that did not fit). A peer that lets its queue grow past the listener's write_limit is
 * cut off by the layer from the loop's next turn, so a fan-out walking the monitor index
 * never sees it change under it. */
void cti_conn_send(struct cti_conn *c, int invoke, const char *body, int len);
/* Answers a refusal with its row of the table (outcome.h). CSTA errors are logged here
 * (cti_error_response, with detail or the row's reason); login refusals are logged by
 * session.c, which knows the user. */
void cti_conn_refuse(struct cti_conn *c, int invoke, enum cti_outcome o, const char *detail);
/* (Re)arms the connection's one timer, in seconds. */
void cti_conn_arm_timer(struct cti_conn *c, int seconds);
/* Closes once every answer is out (docs/protocol.md: every well-formed frame gets an
 * answer, the last one too), those of device jobs still running included. */
void cti_conn_close_after_answers(struct cti_conn *c, const char *why);
/* CTI_C_CLOSING: closes if no device job runs and every answer was handed over.
 * Returns 1 if it closed (c may then be gone unless a reference is held). */
int cti_conn_close_if_answered(struct cti_conn *c);
/* "tls" or "tcp", for logs and listings. */
const char *cti_conn_transport(const struct cti_conn *c);

#endif
