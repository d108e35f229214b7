/* SPDX-License-Identifier: ISC */
#include "dir/ldap_diag.h"
#include "core/util.h"
#include "dir/ldap_conn.h"

#include <stdio.h>
#include <string.h>
#include <sys/time.h>

int dir_ldap_diagnose(const struct tg_config *cfg, const char *user, dir_ldap_diag_row row,
                      void *ud, char *err, size_t errlen)
{
	struct dir_ldap_config c;
	if (dir_ldap_config_load(cfg, &c, err, errlen) != 0) {
		dir_ldap_config_clear(&c);
		return -1;
	}
	if (!c.nservers) {
		snprintf(err, errlen, "LDAP is not configured (ldap.servers is empty)");
		return -1;
	}
	int failed = 0;
	LDAP *first = NULL;
	int first_i = -1;
	for (int i = 0; i < c.nservers; i++) {
		int rc;
		char e[512], detail[600];
		int64_t t0 = tg_mono_ms();
		LDAP *ld = dir_ldap_open(&c, i, 1, &rc, e, sizeof e);
		long long ms = (long long)(tg_mono_ms() - t0);
		if (!ld) {
			failed = 1;
			snprintf(detail, sizeof detail, "%s (%lld ms)", e, ms);
			row(ud, "connect", c.uri[i], "failure", detail);
			continue;
		}
		int tls = 0;
		void *ssl = NULL;
		if (ldap_get_option(ld, LDAP_OPT_X_TLS_SSL_CTX, &ssl) == LDAP_OPT_SUCCESS && ssl)
			tls = 1;
		snprintf(detail, sizeof detail, "%s, %s%s (%lld ms)",
		         tls ? "TLS, certificate verified" : "plain (loopback)",
		         c.bind_dn[0] ? "service bind as " : "anonymous",
		         c.bind_dn[0] ? c.bind_dn : "", ms);
		row(ud, "connect", c.uri[i], "success", detail);
		if (!first) {
			first = ld;
			first_i = i;
		} else {
			ldap_unbind_ext_s(ld, NULL, NULL);
		}
	}
	if (user && *user) {
		char filter[DIR_LDAP_FILTER_MAX], detail[DIR_LDAP_FILTER_MAX + 1200];
		if (!first) {
			row(ud, "search", "-", "skipped", "no server connected");
			failed = 1;
		} else if (dir_ldap_filter(c.filter, user, filter, sizeof filter) != 0) {
			row(ud, "search", c.uri[first_i], "failure", "filter too long");
			failed = 1;
		} else {
			snprintf(detail, sizeof detail, "base \"%s\" filter %s", c.base, filter);
			row(ud, "search", c.uri[first_i], "sent", detail);
			static char *const attrs[] = {LDAP_NO_ATTRS, NULL};
			struct timeval tv = {c.timeout_ms / 1000, (c.timeout_ms % 1000) * 1000};
			LDAPMessage *res = NULL;
			int rc = ldap_search_ext_s(first, c.base, LDAP_SCOPE_SUBTREE, filter,
			                           (char **)(uintptr_t)attrs, 0, NULL, NULL, &tv,
			                           10, &res);
			int n = 0;
			for (LDAPMessage *m = ldap_first_entry(first, res); m;
			     m = ldap_next_entry(first, m), n++) {
				char *dn = ldap_get_dn(first, m);
				row(ud, "found", c.uri[first_i], "dn", dn ? dn : "?");
				ldap_memfree(dn);
			}
			ldap_msgfree(res);
			snprintf(detail, sizeof detail, "%s, %d entr%s%s", ldap_err2string(rc), n,
			         n == 1 ? "y" : "ies",
			         n == 0  ? ": the user would fail (unknown in the directory)"
			         : n > 1 ? ": ambiguous, the user would fail"
			                 : "");
			row(ud, "search", c.uri[first_i],
			    n == 1 && rc == LDAP_SUCCESS ? "success" : "failure", detail);
			if (n != 1 || rc != LDAP_SUCCESS)
				failed = 1;
		}
	}
	if (first)
		ldap_unbind_ext_s(first, NULL, NULL);
	dir_ldap_config_clear(&c);
	return failed;
}
