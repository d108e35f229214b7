/* SPDX-License-Identifier: ISC */
#include "store/params.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const struct param_def defs[] = {
    {"ClusterSIPOAuthMode", "Enterprise", "0",
     "SIP OAuth registration for the cluster: 0 disabled, 1 enabled", "0|1", 0, 0},
    /* Seed 003's service parameter "SIP Registration Authorization Enabled". */
    {"SIPRegistrationAuthorizationEnabled", "Registrar", "1",
     "check the user id an edge asserts in Contact against the device's owner and "
     "associated users: 1 enabled (default), 0 disabled",
     "0|1", 0, 0},
};

const struct param_def *param_find(const char *name)
{
	for (size_t i = 0; i < sizeof defs / sizeof defs[0]; i++)
		if (strcmp(defs[i].name, name) == 0)
			return &defs[i];
	return NULL;
}

size_t param_count(void)
{
	return sizeof defs / sizeof defs[0];
}

const struct param_def *param_at(size_t i)
{
	return i < param_count() ? &defs[i] : NULL;
}

int param_validate(const struct param_def *def, const char *value, char *err, size_t errlen)
{
	if (def->choices) {
		size_t vl = strlen(value);
		for (const char *p = def->choices; *p;) {
			const char *bar = strchr(p, '|');
			size_t n = bar ? (size_t)(bar - p) : strlen(p);
			if (n == vl && vl > 0 && strncmp(p, value, n) == 0)
				return 0;
			p += n + (bar != NULL);
		}
		snprintf(err, errlen, "%s: '%.64s' is not one of %s", def->name, value,
		         def->choices);
		return -1;
	}
	char *end;
	errno = 0;
	long n = strtol(value, &end, 10);
	if (!*value || *end || errno || n < def->min || n > def->max) {
		snprintf(err, errlen, "%s: '%.64s' is not an integer in %ld..%ld", def->name, value,
		         def->min, def->max);
		return -1;
	}
	return 0;
}
