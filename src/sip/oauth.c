/* SPDX-License-Identifier: ISC */
/* The SIP OAuth decision (oauth.h): the checks in the order the answer must reveal them.
 * A failed token comes before anything about the device, so that a client without a
 * valid token learns nothing about lines; the profile comes before the user, so that a
 * device that does not take tokens says so (the seed's port-mismatch 403) whoever asks. */
#include "sip/oauth.h"

#define D(out, why) ((struct sip_oauth_decision){(out), (why)})

/* RFC 8898 §2.3 / RFC 6750 §3.1: the form the client used is the form of the answer; a
 * REGISTER without a token gets Jabber's (docs/sip.md: the default challenge). */
static enum sip_reg_outcome challenge(const struct sip_oauth_case *c, int invalid)
{
	int www = c->cred == SIP_CRED_BEARER ? c->form == SIP_BEARER_RFC8898 : c->www_default;
	if (invalid)
		return www ? SIP_REG_BEARER_INVALID_WWW : SIP_REG_BEARER_INVALID;
	return www ? SIP_REG_BEARER_CHALLENGE_WWW : SIP_REG_BEARER_CHALLENGE;
}

/* A bearer token, on 5090 or the edge: token, then device, then profile, then user. */
static struct sip_oauth_decision bearer(const struct sip_oauth_case *c)
{
	if (c->verdict != AUTHZ_OK)
		return D(challenge(c, 1), authz_verdict_name(c->verdict));
	if (!c->known)
		return D(SIP_REG_FORBIDDEN, "unknown line");
	if (!c->prof_oauth)
		return D(c->port == SIP_PORT_OAUTH ? SIP_REG_OAUTH_PORT_MISMATCH
		                                   : SIP_REG_FORBIDDEN,
		         "profile without OAuth");
	if (!c->sub_allowed)
		return D(SIP_REG_FORBIDDEN, "token user neither owner nor associated");
	return D(SIP_REG_OK, "token");
}

/* A Digest credential on 5060, 5061 or the edge: the profile decides; an unknown line is
 * the digest steps' (they answer it as they answer a wrong password). */
static struct sip_oauth_decision digest(const struct sip_oauth_case *c)
{
	if (!c->known)
		return D(SIP_REG_CONTINUE, "digest");
	if (c->prof_oauth && c->mode && c->port != SIP_PORT_EDGE)
		return D(SIP_REG_OAUTH_PORT_MISMATCH, "OAuth profile: a token on sipOAuthPort");
	if (!c->prof_digest)
		return D(SIP_REG_FORBIDDEN, "profile without digest");
	return D(SIP_REG_CONTINUE, "digest");
}

struct sip_oauth_decision sip_oauth_decide(const struct sip_oauth_case *c)
{
	switch (c->port) {
	case SIP_PORT_OAUTH:
		if (!c->mode)
			return D(SIP_REG_OAUTH_PORT_MISMATCH, "SIP OAuth mode off");
		if (c->cred == SIP_CRED_NONE)
			return D(challenge(c, 0), "no token");
		if (c->cred == SIP_CRED_DIGEST)
			return D(SIP_REG_OAUTH_PORT_MISMATCH, "digest on sipOAuthPort");
		return bearer(c);
	case SIP_PORT_EDGE:
		if (c->cred == SIP_CRED_NONE)
			return D(SIP_REG_CHALLENGE, "no credentials");
		return c->cred == SIP_CRED_BEARER ? bearer(c) : digest(c);
	case SIP_PORT_PLAIN:
	case SIP_PORT_TLS:
	default:
		/* Bearer is not offered here (RFC 8898 §2.1: only where a challenge offers
		 * it): a token alone gets the digest challenge. */
		if (c->cred != SIP_CRED_DIGEST)
			return D(SIP_REG_CHALLENGE, c->cred == SIP_CRED_NONE
			                                ? "no credentials"
			                                : "bearer not offered");
		return digest(c);
	}
}

const char *sip_port_kind_name(enum sip_port_kind p)
{
	static const char *const n[SIP_PORT_KINDS] = {"5060", "5061", "5090", "5091"};
	return (int)p >= 0 && p < SIP_PORT_KINDS ? n[p] : "?";
}

const char *sip_port_listener_name(enum sip_port_kind p)
{
	static const char *const n[SIP_PORT_KINDS] = {"sip", "sip-tls", "sip-oauth", "sip-edge"};
	return (int)p >= 0 && p < SIP_PORT_KINDS ? n[p] : "?";
}

const char *sip_cred_kind_name(enum sip_cred_kind k)
{
	static const char *const n[SIP_CRED_KINDS] = {"none", "digest", "bearer"};
	return (int)k >= 0 && k < SIP_CRED_KINDS ? n[k] : "?";
}
