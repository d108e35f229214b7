/* SPDX-License-Identifier: ISC */
/*
 * charge: whom a failed REGISTER counts against (issue 13). Two counters exist: the
 * source address's failures this minute (the registrar's per-source throttle, checked
 * first) and the digest credential's consecutive failures (its credential policy:
 * throttle, then lock). Only a digest that was checked and was wrong counts against the
 * credential, so nobody can throttle or lock a user's phones with requests that never
 * reached a digest check (an unreadable header, an unknown line or user name, an attempt
 * refused while throttled). And nothing that arrives over an edge connection counts
 * against the edge's address: it carries many users and throttles them itself.
 *
 * The per-source counter counts an IPv6 source by its /64 (sip_source_key).
 *
 * Constant data and pure functions: any thread.
 */
#ifndef TG_SIP_CHARGE_H
#define TG_SIP_CHARGE_H

#include <stddef.h>

enum sip_auth_outcome {
	SIP_AUTH_UNREADABLE,       /* a Digest credential that cannot be parsed */
	SIP_AUTH_SOURCE_THROTTLED, /* the source failed too often: refused before anything */
	SIP_AUTH_UNKNOWN_USER,     /* an unknown line, or not the line's digest user name */
	SIP_AUTH_REFUSED,          /* refused unchecked by the credential's policy */
	SIP_AUTH_BAD_CREDENTIAL,   /* the line's digest user, with a wrong response */
	SIP_AUTH_OUTCOMES
};

struct sip_auth_charge {
	int source;         /* 1: one more failure for the source address */
	int credential;     /* 1: one more failure for the digest credential */
	const char *reason; /* the sip_auth_failed line's reason, when the policy gives none */
};

/* What one outcome costs. via_edge: the request came over an allow-listed edge. */
struct sip_auth_charge sip_auth_charge(enum sip_auth_outcome o, int via_edge);

#define SIP_SOURCE_KEY_MAX 64
/* The per-source counter's name for a source "address:port" ("[v6]:port" for IPv6): the
 * IPv4 address (also from an IPv4-mapped IPv6 address), or the IPv6 address's /64
 * ("2001:db8:1:2::/64"): a host picks any address in its /64 at will, so counting per
 * address would count nothing. out gets at most cap - 1 bytes (cap >= SIP_SOURCE_KEY_MAX
 * holds every key). */
void sip_source_key(const char *source, char *out, size_t cap);

#endif
