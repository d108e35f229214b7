/* SPDX-License-Identifier: ISC */
#include "tls/level.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

const struct tls_kind tls_kinds[] = {
    {"sip-tls", "sip", "SIP over TLS (5061) and SIP OAuth (5090)"},
    {"sip-edge", "sip", "the SIP edge, mutual TLS from allow-listed proxies (5091)"},
    {"cti-tls", "cti", "CSTA XML over TLS (2749)"},
    {"cti-interface", "cti", "the cloud CTI event interfaces (8012)"},
    {"https", "http", "HTTPS services (8443) and the admin listener over TLS"},
};
const size_t tls_nkinds = sizeof tls_kinds / sizeof tls_kinds[0];

static const char *const transports[] = {"sip", "cti", "http"};

const struct tls_kind *tls_kind_find(const char *kind)
{
	for (size_t i = 0; i < tls_nkinds; i++)
		if (strcmp(tls_kinds[i].kind, kind) == 0)
			return &tls_kinds[i];
	return NULL;
}

const char *tls_level_type_name(enum tls_level_type t)
{
	static const char *const names[] = {"system", "transport", "kind", "interface"};
	return (unsigned)t < TLS_LEVELS ? names[t] : "?";
}

static void lower(char *s)
{
	for (; *s; s++)
		*s = (char)tolower((unsigned char)*s);
}

/* "ADDRESS:PORT" with ADDRESS an IPv4 dotted quad, a bracketed IPv6 address or a host
 * name of letters, digits, dots and hyphens; PORT 1..65535 without leading zeros. */
static int address_port_ok(const char *s)
{
	const char *colon;
	if (*s == '[') {
		const char *close = strchr(s, ']');
		if (!close || close == s + 1 || close[1] != ':')
			return 0;
		for (const char *p = s + 1; p < close; p++)
			if (!isxdigit((unsigned char)*p) && *p != ':' && *p != '.')
				return 0;
		colon = close + 1;
	} else {
		colon = strrchr(s, ':');
		if (!colon || colon == s)
			return 0;
		for (const char *p = s; p < colon; p++)
			if (!isalnum((unsigned char)*p) && *p != '.' && *p != '-')
				return 0;
	}
	const char *port = colon + 1;
	if (!*port || *port == '0' || strlen(port) > 5)
		return 0;
	for (const char *p = port; *p; p++)
		if (!isdigit((unsigned char)*p))
			return 0;
	long v = strtol(port, NULL, 10);
	return v >= 1 && v <= 65535;
}

static void kinds_list(char *out, size_t cap)
{
	size_t len = 0;
	out[0] = '\0';
	for (size_t i = 0; i < tls_nkinds && len < cap; i++)
		len += (size_t)snprintf(out + len, cap - len, "%s%s", i ? ", " : "",
		                        tls_kinds[i].kind);
}

int tls_level_parse(const char *s, struct tls_level *out, char *err, size_t errlen)
{
	memset(out, 0, sizeof *out);
	const char *eq = strchr(s, '=');
	size_t klen = eq ? (size_t)(eq - s) : strlen(s);
	const char *v = eq ? eq + 1 : "";
	char kinds[160];
	kinds_list(kinds, sizeof kinds);
	if (strlen(v) >= sizeof out->value) {
		snprintf(err, errlen, "level '%.40s...' is too long", s);
		return -1;
	}
	if (!eq && strcasecmp(s, "system") == 0) {
		out->type = TLS_LEVEL_SYSTEM;
		return 0;
	}
	if (eq && klen == 9 && strncasecmp(s, "transport", 9) == 0) {
		out->type = TLS_LEVEL_TRANSPORT;
		snprintf(out->value, sizeof out->value, "%s", v);
		lower(out->value);
		for (size_t i = 0; i < sizeof transports / sizeof transports[0]; i++)
			if (strcmp(out->value, transports[i]) == 0)
				return 0;
		snprintf(err, errlen, "unknown transport '%.40s' (known: sip, cti, http)", v);
		return -1;
	}
	if (eq && klen == 4 && strncasecmp(s, "kind", 4) == 0) {
		out->type = TLS_LEVEL_KIND;
		snprintf(out->value, sizeof out->value, "%s", v);
		lower(out->value);
		if (tls_kind_find(out->value))
			return 0;
		snprintf(err, errlen, "unknown kind '%.40s' (known: %s)", v, kinds);
		return -1;
	}
	if (eq && klen == 9 && strncasecmp(s, "interface", 9) == 0) {
		out->type = TLS_LEVEL_INTERFACE;
		const char *at = strchr(v, '@');
		char kind[32];
		size_t kl = at ? (size_t)(at - v) : 0;
		if (!at || kl == 0 || kl >= sizeof kind) {
			snprintf(err, errlen, "interface '%.60s' is not KIND@ADDRESS:PORT", v);
			return -1;
		}
		memcpy(kind, v, kl);
		kind[kl] = '\0';
		lower(kind);
		if (!tls_kind_find(kind)) {
			snprintf(err, errlen, "unknown kind '%s' in interface (known: %s)", kind,
			         kinds);
			return -1;
		}
		if (!address_port_ok(at + 1)) {
			snprintf(
			    err, errlen,
			    "interface '%.60s': the address must be ADDRESS:PORT (an IPv6 address "
			    "in brackets, a port 1..65535)",
			    v);
			return -1;
		}
		snprintf(out->value, sizeof out->value, "%s@%s", kind, at + 1);
		return 0;
	}
	snprintf(err, errlen,
	         "unknown level '%.40s' (levels: system, transport=sip|cti|http, kind=KIND, "
	         "interface=KIND@ADDRESS:PORT)",
	         s);
	return -1;
}

void tls_level_format(const struct tls_level *l, char *out, size_t cap)
{
	if (l->type == TLS_LEVEL_SYSTEM)
		snprintf(out, cap, "system");
	else
		snprintf(out, cap, "%s=%s", tls_level_type_name(l->type), l->value);
}

int tls_levels_of(const struct tls_listener_id *id, char out[TLS_LEVELS][TLS_LEVEL_MAX])
{
	const struct tls_kind *k = tls_kind_find(id->kind);
	if (!k)
		return -1;
	/* A listener bound to a list of addresses ("127.0.0.1, ::1") is one listener: its
	 * first address names it. An IPv6 address is written in brackets, as in the grammar. */
	int n = (int)strcspn(id->address, ", \t");
	int v6 = memchr(id->address, ':', (size_t)n) != NULL;
	snprintf(out[0], TLS_LEVEL_MAX, "interface=%s@%s%.*s%s:%d", k->kind, v6 ? "[" : "", n,
	         id->address, v6 ? "]" : "", id->port);
	snprintf(out[1], TLS_LEVEL_MAX, "kind=%s", k->kind);
	snprintf(out[2], TLS_LEVEL_MAX, "transport=%s", k->transport);
	snprintf(out[3], TLS_LEVEL_MAX, "system");
	return 0;
}
