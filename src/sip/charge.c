/* SPDX-License-Identifier: ISC */
#include "sip/charge.h"
#include "core/util.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>

static const struct sip_auth_charge table[SIP_AUTH_OUTCOMES] = {
    [SIP_AUTH_UNREADABLE] = {1, 0, "unreadable-authorization"},
    /* Already over the limit: counting more would change nothing. */
    [SIP_AUTH_SOURCE_THROTTLED] = {0, 0, "source throttled"},
    [SIP_AUTH_UNKNOWN_USER] = {1, 0, "unknown-user"},
    [SIP_AUTH_REFUSED] = {1, 0, "refused"},
    [SIP_AUTH_BAD_CREDENTIAL] = {1, 1, "bad-credential"},
};

struct sip_auth_charge sip_auth_charge(enum sip_auth_outcome o, int via_edge)
{
	struct sip_auth_charge c = {1, 0, "unknown"};
	if ((unsigned)o < SIP_AUTH_OUTCOMES)
		c = table[o];
	if (via_edge)
		c.source = 0;
	return c;
}

void sip_source_key(const char *source, char *out, size_t cap)
{
	char ip[SIP_SOURCE_KEY_MAX];
	tg_strlcpy(ip, source, sizeof ip);
	char *colon = strrchr(ip, ':');
	if (colon)
		*colon = '\0';
	const char *a = ip;
	size_t n = strlen(ip);
	if (n >= 2 && ip[0] == '[' && ip[n - 1] == ']') {
		ip[n - 1] = '\0';
		a = ip + 1;
	}
	struct in6_addr v6;
	if (strchr(a, ':') && inet_pton(AF_INET6, a, &v6) == 1) {
		char p[INET6_ADDRSTRLEN];
		if (IN6_IS_ADDR_V4MAPPED(&v6)) { /* an IPv4 client of a dual-stack socket */
			if (inet_ntop(AF_INET, v6.s6_addr + 12, p, sizeof p)) {
				tg_strlcpy(out, p, cap);
				return;
			}
		} else {
			memset(v6.s6_addr + 8, 0, 8);
			if (inet_ntop(AF_INET6, &v6, p, sizeof p)) {
				snprintf(out, cap, "%s/64", p);
				return;
			}
		}
	}
	tg_strlcpy(out, a, cap);
}
