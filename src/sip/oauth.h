/* SPDX-License-Identifier: ISC */
/*
 * oauth: which answer a REGISTER gets from SIP OAuth's point of view (issue 19, seed 002,
 * RFC 8898): the whole matrix ClusterSIPOAuthMode x the device's security profile x the
 * port it came to x the credential it carries, as one pure function over one table of
 * cases (docs/sip.md, "SIP OAuth: the matrix"). The caller gathers the facts (the token's
 * verdict from authz_verify, the device and its profile from the store, whether the
 * token's sub owns or is associated with the device) and does what the decision says.
 *
 * Every decision carries a reason for the administrator's trace; the peer only gets the
 * status (register.h's reply table). Pure, thread-safe.
 */
#ifndef TG_SIP_OAUTH_H
#define TG_SIP_OAUTH_H

#include "authz/token.h"
#include "sip/bearer.h"
#include "sip/register.h"

/* The scope a SIP token is for (RFC 8898 §3's challenge names it; docs/oauth.md). */
#define SIP_OAUTH_SCOPE "sip"

/* The listener a REGISTER came to. */
enum sip_port_kind {
	SIP_PORT_PLAIN, /* sip.port, UDP and TCP (5060) */
	SIP_PORT_TLS,   /* sip.tls_port (5061) */
	SIP_PORT_OAUTH, /* processnode.sipoauthport (5090): TLS, bearer tokens only */
	SIP_PORT_EDGE,  /* sip.edge_port (5091, sipMRAOAuthPort): mutual TLS with an edge */
	SIP_PORT_KINDS
};

/* The credential of the REGISTER (a Digest Authorization, or a Bearer Authorization or
 * Proxy-Authorization; none of the two). */
enum sip_cred_kind { SIP_CRED_NONE, SIP_CRED_DIGEST, SIP_CRED_BEARER, SIP_CRED_KINDS };

/* The facts of one REGISTER. The fields after cred matter only where the table looks at
 * them: no credential is decided without the store (the same answer for every line). */
struct sip_oauth_case {
	int mode;        /* ClusterSIPOAuthMode is 1 */
	int www_default; /* sip.oauth_challenge_www: no token gets 401, not 407 */
	enum sip_port_kind port;
	enum sip_cred_kind cred;
	enum sip_bearer_form form;   /* the bearer credential's form (the challenge's shape) */
	enum authz_verdict verdict;  /* the token's (bearer) */
	int known;                   /* the device was found */
	int prof_oauth, prof_digest; /* its profile; no profile = OAuth off, digest on */
	int sub_allowed;             /* bearer: sub is the owner or an associated user */
};

/* The answer: o is SIP_REG_CONTINUE when the digest steps of register.h decide (a Digest
 * credential the profile allows), SIP_REG_OK when a bearer token authenticated the device
 * (on the edge the asserted user id is checked next: authz.h); else the refusal or the
 * challenge to send. reason: a constant, for the trace ("expired", "profile without
 * OAuth", ...). */
struct sip_oauth_decision {
	enum sip_reg_outcome o;
	const char *reason;
};

struct sip_oauth_decision sip_oauth_decide(const struct sip_oauth_case *c);

/* The decision matrix's column name (docs/sip.md): "5060", "5061", "5090", "5091", the
 * default ports, whatever ports this node is configured with. */
const char *sip_port_kind_name(enum sip_port_kind p);
/* The listener's name as `show open ports` prints it ("sip", "sip-tls", "sip-oauth",
 * "sip-edge"): what a log line says, since the port number is configurable. */
const char *sip_port_listener_name(enum sip_port_kind p);
const char *sip_cred_kind_name(enum sip_cred_kind k); /* "none", "digest", "bearer" */

#endif
