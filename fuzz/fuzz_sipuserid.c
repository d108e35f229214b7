/* SPDX-License-Identifier: ISC */
/* Fuzzes the Contact user-id parameter extraction and the decision on what it found. */
#include "sip/authz.h"

#include <stddef.h>
#include <stdint.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size > 8192)
		return 0;
	char c[8193];
	memcpy(c, data, size);
	c[size] = '\0';
	struct sip_userid_params p;
	if (sip_userid_extract(c, &p) != 0)
		return 0;
	if (p.n < 0 || p.n > SIP_AUTHZ_VALUES_MAX)
		__builtin_trap();
	for (int i = 0; i < p.n; i++)
		if (strlen(p.v[i]) > SIP_AUTHZ_VALUE_MAX)
			__builtin_trap();
	const char *users[] = {"assoc"};
	enum sip_authz_rule rule;
	enum sip_authz_verdict v = sip_authz_decide(1, &p, "owner", users, 1, &rule);
	/* Allowed only by the rules that allow. */
	if (v == SIP_AUTHZ_ALLOW && rule != SIP_AUTHZ_NO_PARAMETER && rule != SIP_AUTHZ_OWNER &&
	    rule != SIP_AUTHZ_ASSOCIATION)
		__builtin_trap();
	if (v == SIP_AUTHZ_ALLOW && p.n && strcmp(p.v[0], "owner") && strcmp(p.v[0], "assoc"))
		__builtin_trap();
	return 0;
}
