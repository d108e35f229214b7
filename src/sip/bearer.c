/* SPDX-License-Identifier: ISC */
#include "sip/bearer.h"

#include <stdio.h>
#include <string.h>
#include <strings.h>

static int lws(char ch)
{
	return ch == ' ' || ch == '\t' || ch == '\r' || ch == '\n';
}

/* RFC 6750 §2.1: b64token = 1*( ALPHA / DIGIT / "-" / "." / "_" / "~" / "+" / "/" ) *"=" */
static int b64tok(char ch)
{
	return (ch >= 'A' && ch <= 'Z') || (ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9') ||
	       ch == '-' || ch == '.' || ch == '_' || ch == '~' || ch == '+' || ch == '/';
}

int sip_bearer_scheme(const char *v)
{
	return strncasecmp(v, "Bearer", 6) == 0 && lws(v[6]);
}

static int fail(char *err, size_t errlen, const char *why)
{
	snprintf(err, errlen, "%s", why);
	return -1;
}

/* A b64token at p: its length (trailing '=' included), 0 when none. */
static size_t b64tok_len(const char *p)
{
	size_t n = 0;
	while (b64tok(p[n]))
		n++;
	if (!n)
		return 0;
	while (p[n] == '=')
		n++;
	return n;
}

int sip_bearer_parse(const char *value, struct sip_bearer_creds *c, char *err, size_t errlen)
{
	memset(c, 0, sizeof *c);
	if (!sip_bearer_scheme(value))
		return fail(err, errlen, "not the Bearer scheme");
	const char *p = value + 6;
	while (lws(*p))
		p++;
	size_t n = b64tok_len(p);
	const char *after = p + n;
	while (lws(*after))
		after++;
	if (n && *after == '\0') { /* RFC 6750 §2.1: the token itself */
		c->token = p;
		c->len = n;
		c->form = SIP_BEARER_RFC8898;
	} else if (strncasecmp(p, "token", 5) == 0) { /* Jabber: token="<jwt>" */
		p += 5;
		while (lws(*p))
			p++;
		if (*p++ != '=')
			return fail(err, errlen, "token parameter without a value");
		while (lws(*p))
			p++;
		int quoted = *p == '"';
		p += quoted;
		n = b64tok_len(p);
		if (!n)
			return fail(err, errlen, "empty token or a character outside b64token");
		c->token = p;
		c->len = n;
		c->form = SIP_BEARER_JABBER;
		p += n;
		if (quoted && *p++ != '"')
			return fail(err, errlen, "unterminated or bad quoted token");
		while (lws(*p))
			p++;
		if (*p == ',')
			return fail(err, errlen, "a parameter other than token");
		if (*p)
			return fail(err, errlen, "text after the token");
	} else {
		return fail(err, errlen,
		            n ? "text after the token"
		              : "empty token or a character outside b64token");
	}
	if (c->len > SIP_BEARER_TOKEN_MAX) {
		memset(c, 0, sizeof *c);
		return fail(err, errlen, "token too long");
	}
	return 0;
}

static int plain(const char *s)
{
	return s && !strpbrk(s, "\"\\\r\n");
}

int sip_bearer_challenge(char *out, size_t cap, const char *realm, const char *scope,
                         const char *authz_server, const char *error)
{
	if (!plain(realm) || !plain(scope) || !plain(authz_server) || (error && !plain(error)))
		return -1;
	int n = snprintf(out, cap, "Bearer realm=\"%s\", scope=\"%s\", authz_server=\"%s\"%s%s%s",
	                 realm, scope, authz_server, error ? ", error=\"" : "", error ? error : "",
	                 error ? "\"" : "");
	return n < 0 || (size_t)n >= cap ? -1 : n;
}
