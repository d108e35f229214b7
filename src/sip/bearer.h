/* SPDX-License-Identifier: ISC */
/*
 * bearer: SIP's "Bearer" authentication scheme (RFC 8898 §2.2, the credentials of RFC
 * 6750 §2.1) as pure functions: reading the credentials a client sends and writing the
 * challenge that tells it where to get a token.
 *
 * Two credential forms are read (docs/sip.md, "SIP OAuth"):
 *   RFC 8898 / RFC 6750 §2.1   Authorization: Bearer <b64token>
 *   Cisco Jabber (seed 002)    Proxy-Authorization: Bearer token="<jwt>"
 * (either header name with either form: the form is what the value looks like). The
 * challenge is WWW-Authenticate (401) or Proxy-Authenticate (407) with RFC 8898 §3's
 * realm, scope and authz_server, and RFC 6750 §3.1's error="invalid_token" when a token
 * was refused.
 *
 * The token is a secret: callers never log it (the jti of the verified claims names it).
 * Thread-safe: no state. Ownership: the parsed token points into the caller's value.
 */
#ifndef TG_SIP_BEARER_H
#define TG_SIP_BEARER_H

#include <stddef.h>

/* Which shape the credentials had (and so which challenge the client understands). */
enum sip_bearer_form {
	SIP_BEARER_RFC8898 = 0, /* Bearer <b64token> */
	SIP_BEARER_JABBER = 1,  /* Bearer token="<jwt>" */
};

struct sip_bearer_creds {
	const char *token; /* into the parsed value; not NUL-terminated */
	size_t len;        /* bytes, 1..SIP_BEARER_TOKEN_MAX */
	enum sip_bearer_form form;
};

/* The longest token read here (authz/token.h AUTHZ_TOKEN_MAX is larger: SIP headers are
 * held in 2 KB; an ES256 access token is about 600 bytes). */
#define SIP_BEARER_TOKEN_MAX 2000

/* 1 when value's scheme is Bearer (case-insensitive, RFC 3261 §25.1: then LWS). */
int sip_bearer_scheme(const char *value);

/* Parses a credentials value. Returns 0 with c filled; -1 with a reason in err (not the
 * Bearer scheme, an empty or over-long token, a character outside RFC 6750's b64token, an
 * unterminated quote, a parameter other than token, a duplicate token, trailing text). */
int sip_bearer_parse(const char *value, struct sip_bearer_creds *c, char *err, size_t errlen);

/* The challenge value: `Bearer realm="R", scope="S", authz_server="URL"[, error="E"]`.
 * error: NULL, or "invalid_token". Returns the length, or -1 when it does not fit or a
 * value holds a quote or backslash (configuration is checked at start). */
int sip_bearer_challenge(char *out, size_t cap, const char *realm, const char *scope,
                         const char *authz_server, const char *error);

#endif
