/* SPDX-License-Identifier: ISC */
/*
 * authz: SIP registration authorisation by an asserted user id (seed 003). An edge proxy
 * that authenticated the user adds the user id to the REGISTER's Contact as a parameter
 * (`+u.sip!userid.ccm.cisco.com="mjavier"`, or telgate's vendor-neutral `+sip.userid`);
 * the registrar then checks that this user owns, or is associated with, the device.
 *
 * Pure functions, no I/O: the caller supplies the device's owner and associated users,
 * and whether the parameter may be honoured at all (only on connections from an
 * authenticated edge). Thread-safe.
 */
#ifndef TG_SIP_AUTHZ_H
#define TG_SIP_AUTHZ_H

#include <stddef.h>

#define SIP_AUTHZ_VALUES_MAX 8
#define SIP_AUTHZ_VALUE_MAX 128

/* The user-id parameters found in a Contact header value (all contacts of it). */
struct sip_userid_params {
	int n;        /* values found; 0 = the parameter is absent */
	int too_many; /* more than SIP_AUTHZ_VALUES_MAX (counts as several different) */
	char v[SIP_AUTHZ_VALUES_MAX][SIP_AUTHZ_VALUE_MAX + 1];
};

/* Extracts `+u.sip!userid.ccm.cisco.com` and `+sip.userid` values (quoted with backslash
 * escapes, or unquoted; %XX escapes decoded) from a Contact header value. Returns 0, or
 * -1 when a value is malformed or longer than SIP_AUTHZ_VALUE_MAX (treat as several
 * different values: refused). */
int sip_userid_extract(const char *contact, struct sip_userid_params *out);

enum sip_authz_verdict {
	SIP_AUTHZ_ALLOW = 0,
	SIP_AUTHZ_DENY = 1,
};

/* Which row of the decision table decided (for the trace). */
enum sip_authz_rule {
	SIP_AUTHZ_DISABLED,           /* service parameter off (rows 14-16) */
	SIP_AUTHZ_NO_PARAMETER,       /* row 1 */
	SIP_AUTHZ_NOTHING_CONFIGURED, /* rows 6, 12: no owner, no associated user */
	SIP_AUTHZ_OWNER,              /* rows 2, 4: "Phone Config page" */
	SIP_AUTHZ_ASSOCIATION,        /* rows 3, 5, 9: "EndUser page" */
	SIP_AUTHZ_SEVERAL,            /* row 8: several different values */
	SIP_AUTHZ_EMPTY,              /* row 13: empty value, owner/users configured */
	SIP_AUTHZ_NO_MATCH,           /* row 7 */
};

const char *sip_authz_rule_name(enum sip_authz_rule r);

/* The decision table of seed 003 (docs/sip.md). enabled: the service parameter "SIP
 * Registration Authorization Enabled". owner: "" when none. users: the n associated user
 * ids. */
enum sip_authz_verdict sip_authz_decide(int enabled, const struct sip_userid_params *p,
                                        const char *owner, const char *const *users, size_t n,
                                        enum sip_authz_rule *rule);

#endif
