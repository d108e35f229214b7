#include "sip/charge.h"

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
