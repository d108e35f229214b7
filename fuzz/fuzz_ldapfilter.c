/* SPDX-License-Identifier: ISC */
/* Fuzzes LDAP filter construction: the first line is an ldap.filter value (checked by the
 * configuration parser, as at start-up), the rest a user id. Whatever the user id holds,
 * the expanded filter must stay one balanced filter: the user id may add no parenthesis,
 * no wildcard and no NUL (RFC 4515 escaping). */
#include "core/config.h"
#include "dir/ldap_conn.h"

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int count(const char *s, char c)
{
	int n = 0;
	for (; *s; s++)
		n += *s == c;
	return n;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size > 4096)
		return 0;
	const uint8_t *nl = memchr(data, '\n', size);
	if (!nl)
		return 0;
	size_t tlen = (size_t)(nl - data), ulen = size - tlen - 1;
	char text[600], user[4097];
	if (tlen > 500 || memchr(data, '\0', tlen))
		return 0;
	int n =
	    snprintf(text, sizeof text, "[ldap]\nfilter = %.*s\n", (int)tlen, (const char *)data);
	struct tg_config cfg;
	struct config_error err;
	if (config_parse("fuzz.conf", text, (size_t)n, &cfg, &err) != 0)
		return 0;
	const char *tmpl = cfg.ldap.filter;
	if (!strcmp(tmpl, "ad"))
		tmpl = DIR_LDAP_FILTER_AD;
	else if (!strcmp(tmpl, "openldap"))
		tmpl = DIR_LDAP_FILTER_OPENLDAP;
	memcpy(user, nl + 1, ulen);
	user[ulen] = '\0'; /* a user id is a C string: it ends at the first NUL */
	char out[DIR_LDAP_FILTER_MAX], bare[DIR_LDAP_FILTER_MAX];
	if (dir_ldap_filter(tmpl, user, out, sizeof out) != 0 ||
	    dir_ldap_filter(tmpl, "", bare, sizeof bare) != 0)
		return 0;
	/* The user id contributed no structure. */
	if (count(out, '(') != count(bare, '(') || count(out, ')') != count(bare, ')') ||
	    count(out, '*') != count(bare, '*'))
		__builtin_trap();
	return 0;
}
