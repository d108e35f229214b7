/* SPDX-License-Identifier: ISC */
/*
 * register: REGISTER processing (RFC 3261 §10.3) as steps that decide and return an
 * outcome, and one table (sip_reg_reply) that turns an outcome into the answer's status
 * code, reason phrase, Warning and challenge — Kamailio registrar's rerrno.h + reply.c.
 * No step touches a socket, a loop or a timer: the transport (transport.h) calls them
 * and sends what sip_reg_answer builds.
 *
 * The steps, in the order the transport calls them:
 *   sip_reg_route     the method, Require and whether credentials came (no state)
 *   sip_reg_precheck  Authorization, realm, source throttle, nonce, algorithm, nonce count
 *   sip_reg_fast      a cached, current account: verified and registered without the store
 *   sip_reg_decide    everything from the store (the worker path): digest user, policy,
 *                     digest, authorisation of an edge's user (authz.h), the bindings
 * Each returns SIP_REG_CONTINUE when the next step must decide; any other value is final.
 * Digest authentication against provisioned HA1s (digest.h), the failure counting of
 * charge.h (source: the per-source throttle here; credential: dir/policy.h), bindings in
 * location.h and the account cache of accounts.h.
 *
 * Threads: a struct sip_reg is shared by every loop and worker; its parts guard
 * themselves (nonce-count cache, account cache, location table, throttle). route,
 * precheck and fast read no store and run on a loop; decide reads and writes the store
 * (a worker). Ownership: the options' store, location table, configuration and CTI server
 * must outlive the struct sip_reg; a struct sip_reg_req is the caller's (it frees its
 * sip_req). Times: seconds (tg_now_s()) unless named _us.
 */
#ifndef TG_SIP_REGISTER_H
#define TG_SIP_REGISTER_H

#include "core/config.h"
#include "authz/token.h"
#include "sip/bearer.h"
#include "sip/digest.h"
#include "sip/edge.h"
#include "sip/commitq.h"
#include "sip/msg.h"
#include "store/store.h"

#include <stddef.h>
#include <stdint.h>

struct sip_loc;
struct devstate;
struct sip_reg;

/* Every answer the registrar decides (one value per distinct answer; the failures' log
 * lines tell causes apart, the answers deliberately do not). sip_reg_reply() gives each
 * one's status line and headers. */
enum sip_reg_outcome {
	SIP_REG_CONTINUE,           /* not decided yet: the next step decides (no answer) */
	SIP_REG_NO_ANSWER,          /* ACK: absorbed, nothing is sent */
	SIP_REG_OK,                 /* 200: bindings changed (Contact list, Date) */
	SIP_REG_OPTIONS,            /* 200 to OPTIONS (Allow, Accept) */
	SIP_REG_CHALLENGE,          /* 401 with fresh challenges */
	SIP_REG_STALE,              /* 401 with stale=true: right digest, stale nonce */
	SIP_REG_UNAUTHORIZED_USER,  /* 401 + Warning 399: an edge's user may not use the device */
	SIP_REG_FORBIDDEN,          /* 403: authentication failed (held: sip.failure_delay_ms) */
	SIP_REG_THROTTLED,          /* 403: the source failed too often this minute */
	SIP_REG_UNREADABLE_AUTH,    /* 403 + Warning 399: an Authorization we cannot read */
	SIP_REG_TOO_MANY_BINDINGS,  /* 403 Too Many Bindings: past SIP_LOC_MAX */
	SIP_REG_METHOD_NOT_ALLOWED, /* 405 (Allow) */
	SIP_REG_BAD_EXTENSION,      /* 420 (Unsupported): a Require we do not support */
	SIP_REG_INTERVAL_TOO_BRIEF, /* 423 (Min-Expires) */
	SIP_REG_OUT_OF_ORDER,       /* 500 Out of order CSeq (Retry-After: 1) */
	SIP_REG_SERVER_ERROR,       /* 500 (Retry-After: 5): the store failed */
	SIP_REG_BUSY,               /* 503 (Retry-After: 5): the worker queue is full */
	/* SIP OAuth (oauth.h, docs/sip.md): Jabber's form (407, Proxy-Authenticate) and RFC
	 * 8898's (401, WWW-Authenticate), each with a Bearer challenge naming realm, scope
	 * and authz_server; _INVALID adds error="invalid_token" (RFC 6750 §3.1). */
	SIP_REG_BEARER_CHALLENGE,     /* 407: no token (the default form) */
	SIP_REG_BEARER_CHALLENGE_WWW, /* 401: no token, RFC 8898's form */
	SIP_REG_BEARER_INVALID,       /* 407: a token refused (expired, revoked, audience...) */
	SIP_REG_BEARER_INVALID_WWW,   /* 401: the same, to an RFC 8898 client */
	/* 403 + Warning 399 "SIP OAuth Registration port Mismatch" + Retry-After (seed 002):
	 * a profile without OAuth on 5090, the mode off, digest on 5090, an OAuth-profile
	 * device trying digest on 5060/5061 while the mode is on */
	SIP_REG_OAUTH_PORT_MISMATCH,
	SIP_REG_OUTCOMES
};

/* One row of the reply table. */
struct sip_reg_reply {
	enum sip_reg_outcome outcome; /* the row's own index (checked by the unit test) */
	const char *name;             /* for logs and tests, e.g. "interval_too_brief" */
	int code;                     /* status code, 0 = nothing is sent */
	const char *reason;           /* reason phrase */
	const char *headers;          /* fixed header lines (CRLF-terminated), or NULL */
	const char *warning;          /* Warning 399 text (RFC 3261 §20.43), or NULL */
	int warn_node;                /* the Warning's agent: 1 core.node_id, 0 "telgate" */
	int challenge;                /* 1: WWW-Authenticate for each offered algorithm */
	int stale;                    /* the challenges say stale=true */
	int bearer; /* 1: a Bearer challenge; 2: with error="invalid_token" (bearer.h) */
	int proxy;  /* the challenge is Proxy-Authenticate (a 407), not WWW-Authenticate */
	int held;   /* 1: sent no sooner than sip.failure_delay_ms after arrival */
	int detail; /* 1: the request's own header lines follow (sip_reg_req.detail) */
};

/* The row for o; NULL only for a value out of range. Pure. */
const struct sip_reg_reply *sip_reg_reply(enum sip_reg_outcome o);

#define SIP_REG_DETAIL_MAX 4096

/* One request being decided. The caller fills req, transport, source and edge; the steps
 * fill the rest. */
struct sip_reg_req {
	struct sip_req req;             /* sip_req_parse clears it */
	char transport[8];              /* "UDP", "TCP", "TLS" */
	char source[64];                /* "address:port" ("[v6]:port") */
	char edge[SIP_EDGE_ID_MAX + 1]; /* the edge's identity, "" unless over an edge */
	int oauth_port;                 /* came to the SIP OAuth listener (5090) */
	struct sip_digest_creds cr;     /* parsed by sip_reg_precheck */
	/* A Bearer credential (bearer.h), parsed and verified by sip_reg_precheck: bearer
	 * set, bc pointing into req.bearer, verdict authz_verify's and, when AUTHZ_OK, the
	 * token's claims (the trace names its jti and sub, never the token). */
	int bearer;
	struct sip_bearer_creds bc;
	enum authz_verdict verdict;
	struct authz_claims claims;
	int stale; /* the nonce is stale: stale=true if the digest verifies */
	/* Set with SIP_REG_OK: the changes (a new binding, a removal) that must be in the
	 * store before the 200 leaves (location.h sip_loc_state); {0, 0}: none, answer now. */
	struct sip_loc_ticket durable;
	/* Header lines that only this request's answer has: the 200's Contact list and Date,
	 * 423's Min-Expires, 420's Unsupported. Last, and written by the step that decides
	 * such an outcome: it need not start cleared. */
	char detail[SIP_REG_DETAIL_MAX];
};

struct sip_reg_options {
	const struct tg_config *cfg; /* [sip] and core.node_id; kept (not copied) */
	store_t *store;
	struct sip_loc *loc;       /* the bindings */
	struct devstate *devstate; /* the device-state bus (core/devstate.h); may be NULL */
	struct authz *authz;       /* verifies bearer tokens (authz/token.h); NULL: none */
};

/* NULL when out of memory. */
struct sip_reg *sip_reg_new(const struct sip_reg_options *o);
void sip_reg_free(struct sip_reg *g);
/* Authenticated REGISTERs refused as nonce-count replays since start (any thread). */
uint64_t sip_reg_nonce_replays(struct sip_reg *g);

/* ClusterSIPOAuthMode as the registrar applies it (registrar.h follows the store): 1 on,
 * 0 off. Any thread. */
void sip_reg_set_oauth_mode(struct sip_reg *g, int on);
int sip_reg_oauth_mode(struct sip_reg *g);

/* The method and Require of x->req: OPTIONS, ACK, other methods (RFC 3261 §8.2.1: the
 * method before Require), an unsupported Require (§8.2.2.3: 420, no binding), a REGISTER
 * without Digest credentials (the same challenge for any line, no store work); else
 * SIP_REG_CONTINUE: a REGISTER with credentials, or any REGISTER on the SIP OAuth listener
 * (sip_reg_precheck answers those), or one with a Bearer credential from an edge. */
enum sip_reg_outcome sip_reg_route(struct sip_reg_req *x);

/* The checks that need no store, for a REGISTER with credentials: the Authorization
 * header, realm, the source throttle, nonce, algorithm and nonce count. On the SIP OAuth
 * listener, and for a bearer token from an edge: the token read and verified
 * (authz_verify: its cache makes a refresh cost no signature check), and every answer of
 * oauth.h that needs no device (no token, a refused token, digest on 5090, mode off). Counts an
 * unreadable credential against the source (charge.h). CONTINUE: x->cr parsed, x->stale
 * set. */
enum sip_reg_outcome sip_reg_precheck(struct sip_reg *g, struct sip_reg_req *x, int64_t now);

/* The fast path: a line in the account cache, current, with the right response, on a
 * clean digest credential whose success changes nothing stored (a refresh, in practice)
 * is decided here without the store. Anything else (a miss, a wrong password to be
 * counted, a credential that needs a write, an edge) is CONTINUE: sip_reg_decide
 * decides everything again from the store. A bearer token (issue 19): the grant the
 * store path cached for this line and the token's sub (accounts.h), while the store and
 * user generations are those it was made at. The digest is computed on a miss too, on a
 * dummy HA1, so that whether a line is cached does not show in the timing. */
enum sip_reg_outcome sip_reg_fast(struct sip_reg *g, struct sip_reg_req *x);

/* The store path (blocking: a worker): the same store reads and the same digest
 * computation happen for a known user, an unknown one, a throttled or locked credential,
 * and every failure is SIP_REG_FORBIDDEN (held), so timing does not tell them apart.
 * Never CONTINUE. */
enum sip_reg_outcome sip_reg_decide(struct sip_reg *g, struct sip_reg_req *x);

/* Builds the answer to x for o (not CONTINUE/NO_ANSWER): the row's status, reason,
 * Warning, fixed headers, x->detail and fresh challenges when the row asks. to_tag: of
 * every response to the request (sip_req_to_tag). Returns the length, or -1 when it
 * does not fit in cap. */
int sip_reg_answer(struct sip_reg *g, const struct sip_reg_req *x, enum sip_reg_outcome o,
                   const char *to_tag, char *out, size_t cap);

#endif
