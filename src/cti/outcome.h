/* SPDX-License-Identifier: ISC */
/*
 * outcome: why the CTI server refuses a request, and the one table that says what each
 * reason puts on the wire (the pattern of Kamailio registrar's rerrno.h + reply.c). The
 * decisions (session.h, monitor.h) return an outcome; cti_conn_refuse (conn.h) answers
 * it. An answer is one of:
 *   - a CSTAErrorCode (ECMA-323 §9.3): its category and value elements;
 *   - a StartApplicationSession negative response (ECMA-354): its error value;
 *   - a ResetApplicationSessionTimer negative response (ECMA-354): its error value.
 * Each row also carries the reason logged with the answer (the peer never sees it); a
 * row without one takes the caller's text (a parser's or the store's message).
 *
 * Pure data and functions, no state: safe from any thread.
 */
#ifndef TG_CTI_OUTCOME_H
#define TG_CTI_OUTCOME_H

#include <stddef.h>

enum cti_outcome {
	CTI_OK = 0,
	/* StartApplicationSession: refused before the directory is asked */
	CTI_LOGIN_IN_SESSION, /* a second login on a connection with a session */
	CTI_LOGIN_PROTOCOL,   /* no supported protocol version requested */
	CTI_LOGIN_PLAIN,      /* plain TCP while cti.allow_plain_login = no */
	CTI_LOGIN_TOKEN,      /* an access token, and no token service in this process */
	CTI_LOGIN_MISSING,    /* userID or password missing */
	CTI_LOGIN_OVERLOADED, /* the directory refused to take the check */
	/* StartApplicationSession with an access token (authz/token.h, issue 18) */
	CTI_LOGIN_TOKEN_REFUSED, /* authz_verify refused it (detail: the verdict) */
	CTI_LOGIN_TOKEN_USER,    /* a userID that is not the token's subject */
	/* StartApplicationSession: refused after the directory answered */
	CTI_LOGIN_DIRECTORY,    /* the directory said no (detail: its status and reason) */
	CTI_LOGIN_NOT_ENABLED,  /* the user is not in Standard CTI Enabled */
	CTI_LOGIN_TLS_REQUIRED, /* Standard CTI Secure Connection over plain TCP */
	/* StartApplicationSession: the client certificate (cert.h) of a Standard CTI Secure
	 * Connection user or of a user whose CTI authentication type is certificate */
	CTI_LOGIN_CERT_MISSING,       /* none presented */
	CTI_LOGIN_CERT_FOREIGN,       /* not issued by telgate's CA */
	CTI_LOGIN_CERT_UNLISTED,      /* signed by telgate's CA, not in issuedcertificate */
	CTI_LOGIN_CERT_NOT_YET_VALID, /* before its notBefore */
	CTI_LOGIN_CERT_EXPIRED,       /* after its notAfter */
	CTI_LOGIN_CERT_REVOKED,       /* revoked (telgate cert revoke) */
	CTI_LOGIN_CERT_STORE,         /* issuedcertificate could not be read */
	CTI_LOGIN_CERT_OTHER_USER,    /* a valid certificate issued to another user */
	/* ResetApplicationSessionTimer, StopApplicationSession */
	CTI_RESET_BAD_SESSION, /* the sessionID is not this connection's */
	CTI_STOP_BAD_SESSION,  /* the same, for StopApplicationSession */
	/* any request */
	CTI_REQ_MALFORMED,   /* not a request the parser accepts (detail: why) */
	CTI_REQ_NO_SESSION,  /* a request before StartApplicationSession */
	CTI_REQ_UNSUPPORTED, /* a well-formed request we do not serve (detail: its name) */
	CTI_SERVER_BUSY,     /* the worker pool's queue is full */
	CTI_NO_MEMORY,       /* out of memory */
	/* devices and monitors */
	CTI_DEV_UNKNOWN,       /* no such device */
	CTI_DEV_FORBIDDEN,     /* neither owned by nor associated with the user */
	CTI_DEV_STORE,         /* the store failed (detail: its message) */
	CTI_DEV_LIST_TOO_LONG, /* GetSwitchingFunctionDevices does not fit one frame */
	CTI_MON_TOO_MANY,      /* cti.max_monitors reached in this session */
	CTI_MON_UNKNOWN,       /* MonitorStop for a crossRefID this session does not have */
	CTI_OUTCOME_N
};

enum cti_answer_kind {
	CTI_ANSWER_CSTA_ERROR = 1, /* CSTAErrorCode: category + value */
	CTI_ANSWER_SESSION_NEG,    /* StartApplicationSession negative response: value */
	CTI_ANSWER_RESET_NEG,      /* ResetApplicationSessionTimer negative response: value */
};

struct cti_answer {
	enum cti_answer_kind kind;
	const char *category; /* CSTA_ERROR only: e.g. "operation" */
	const char *value;    /* the CSTA error value or the ECMA-354 error */
	const char *reason;   /* for the log; NULL: the caller gives the detail */
};

/* The row of an outcome; NULL for CTI_OK and values out of range. */
const struct cti_answer *cti_outcome_answer(enum cti_outcome o);
/* The outcome's enum name in lower case without the prefix ("dev_unknown"), for logs
 * and tests; "?" out of range. */
const char *cti_outcome_name(enum cti_outcome o);
/* Writes the outcome's XML body into out; its length, or -1 (no row, or it does not
 * fit). */
int cti_outcome_xml(enum cti_outcome o, char *out, size_t cap);

#endif
