/* SPDX-License-Identifier: ISC */
#include "sip/authz.h"

#include <ctype.h>
#include <string.h>
#include <strings.h>

static const char *const names[] = {"+u.sip!userid.ccm.cisco.com", "+sip.userid"};

const char *sip_authz_rule_name(enum sip_authz_rule r)
{
	switch (r) {
	case SIP_AUTHZ_DISABLED:
		return "authorization disabled";
	case SIP_AUTHZ_NO_PARAMETER:
		return "no user id parameter";
	case SIP_AUTHZ_NOTHING_CONFIGURED:
		return "no owner and no associated user";
	case SIP_AUTHZ_OWNER:
		return "owner id (Phone Config page)";
	case SIP_AUTHZ_ASSOCIATION:
		return "associated end user (EndUser page)";
	case SIP_AUTHZ_SEVERAL:
		return "several different user ids";
	case SIP_AUTHZ_EMPTY:
		return "empty user id";
	case SIP_AUTHZ_NO_MATCH:
		return "user id is neither the owner nor an associated user";
	}
	return "?";
}

static int hexval(int c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	c = tolower(c);
	return c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
}

/* Reads one parameter value at *s into out (unquoting, unescaping). Advances *s. */
static int read_value(const char **s, char *out, size_t cap)
{
	const char *p = *s;
	size_t n = 0;
	if (*p == '"') {
		p++;
		while (*p && *p != '"') {
			int ch = (unsigned char)*p;
			if (ch == '\\') {
				if (!p[1])
					return -1;
				ch = (unsigned char)*++p;
			} else if (ch == '%' && hexval(p[1]) >= 0 && hexval(p[2]) >= 0) {
				ch = hexval(p[1]) * 16 + hexval(p[2]);
				p += 2;
			}
			if (ch == 0 || ch < 0x20 || n >= cap - 1)
				return -1;
			out[n++] = (char)ch;
			p++;
		}
		if (*p != '"')
			return -1;
		p++;
	} else {
		while (*p && *p != ';' && *p != ',' && *p != '>' && *p != ' ' && *p != '\t') {
			int ch = (unsigned char)*p;
			if (ch == '%') {
				if (hexval(p[1]) < 0 || hexval(p[2]) < 0)
					return -1;
				ch = hexval(p[1]) * 16 + hexval(p[2]);
				p += 2;
			}
			if (ch == 0 || ch < 0x20 || n >= cap - 1)
				return -1;
			out[n++] = (char)ch;
			p++;
		}
	}
	out[n] = '\0';
	*s = p;
	return 0;
}

int sip_userid_extract(const char *c, struct sip_userid_params *out)
{
	memset(out, 0, sizeof *out);
	int in_uri = 0, in_quote = 0;
	for (const char *p = c; *p;) {
		/* Skip display names and the URI itself: parameters inside <...> belong to the
		 * URI, not to the contact. */
		if (in_quote) {
			if (*p == '\\' && p[1])
				p++;
			else if (*p == '"')
				in_quote = 0;
			p++;
			continue;
		}
		if (*p == '"' && !in_uri) {
			in_quote = 1;
			p++;
			continue;
		}
		if (*p == '<') {
			in_uri = 1;
			p++;
			continue;
		}
		if (*p == '>') {
			in_uri = 0;
			p++;
			continue;
		}
		if (in_uri || *p != ';') {
			p++;
			continue;
		}
		p++;
		while (*p == ' ' || *p == '\t')
			p++;
		size_t k;
		for (k = 0; k < sizeof names / sizeof names[0]; k++) {
			size_t l = strlen(names[k]);
			if (strncasecmp(p, names[k], l) == 0 &&
			    (p[l] == '=' || p[l] == ';' || p[l] == ',' || !p[l] || p[l] == ' '))
				break;
		}
		if (k == sizeof names / sizeof names[0])
			continue;
		p += strlen(names[k]);
		while (*p == ' ' || *p == '\t')
			p++;
		char v[SIP_AUTHZ_VALUE_MAX + 1] = "";
		if (*p == '=') {
			p++;
			while (*p == ' ' || *p == '\t')
				p++;
			if (read_value(&p, v, sizeof v) != 0)
				return -1;
		}
		if (out->n == SIP_AUTHZ_VALUES_MAX) {
			out->too_many = 1;
			continue;
		}
		memcpy(out->v[out->n++], v, sizeof v);
	}
	return 0;
}

enum sip_authz_verdict sip_authz_decide(int enabled, const struct sip_userid_params *p,
                                        const char *owner, const char *const *users, size_t n,
                                        enum sip_authz_rule *rule)
{
	if (!enabled) {
		*rule = SIP_AUTHZ_DISABLED;
		return SIP_AUTHZ_ALLOW;
	}
	if (!p || p->n == 0) {
		*rule = SIP_AUTHZ_NO_PARAMETER;
		return SIP_AUTHZ_ALLOW;
	}
	/* Several identical values count as one; several different ones fail. */
	for (int i = 1; i < p->n; i++)
		if (strcmp(p->v[i], p->v[0]) != 0) {
			*rule = SIP_AUTHZ_SEVERAL;
			return SIP_AUTHZ_DENY;
		}
	if (p->too_many) {
		*rule = SIP_AUTHZ_SEVERAL;
		return SIP_AUTHZ_DENY;
	}
	const char *v = p->v[0];
	int configured = (owner && owner[0]) || n > 0;
	if (!configured) {
		*rule = SIP_AUTHZ_NOTHING_CONFIGURED;
		return SIP_AUTHZ_ALLOW;
	}
	if (!v[0]) {
		*rule = SIP_AUTHZ_EMPTY;
		return SIP_AUTHZ_DENY;
	}
	if (owner && owner[0] && strcmp(v, owner) == 0) {
		*rule = SIP_AUTHZ_OWNER;
		return SIP_AUTHZ_ALLOW;
	}
	for (size_t i = 0; i < n; i++)
		if (strcmp(v, users[i]) == 0) {
			*rule = SIP_AUTHZ_ASSOCIATION;
			return SIP_AUTHZ_ALLOW;
		}
	*rule = SIP_AUTHZ_NO_MATCH;
	return SIP_AUTHZ_DENY;
}
