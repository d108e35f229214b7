/* SPDX-License-Identifier: ISC */
#include "dir/ldap_conn.h"
#include "core/util.h"

#include <errno.h>
#include <fcntl.h>
#include <sodium.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

int dir_ldap_config_load(const struct tg_config *cfg, struct dir_ldap_config *c, char *err,
                         size_t errlen)
{
	memset(c, 0, sizeof *c);
	const char *s = cfg->ldap.servers;
	while (*s) {
		s += strspn(s, " ,\t");
		size_t len = strcspn(s, " ,\t");
		if (!len)
			break;
		if (c->nservers == DIR_LDAP_MAX_SERVERS || len >= sizeof c->uri[0]) {
			snprintf(err, errlen, "ldap.servers: too many servers or URI too long");
			return -1;
		}
		memcpy(c->uri[c->nservers], s, len);
		c->uri[c->nservers][len] = '\0';
		LDAPURLDesc *lud = NULL;
		if (ldap_url_parse(c->uri[c->nservers], &lud) != LDAP_URL_SUCCESS) {
			snprintf(err, errlen, "ldap.servers: '%s' is not a valid LDAP URI",
			         c->uri[c->nservers]);
			return -1;
		}
		int tls = strcmp(lud->lud_scheme, "ldaps") == 0;
		ldap_free_urldesc(lud);
		if (!tls && !cfg->ldap.starttls &&
		    strncmp(c->uri[c->nservers], "ldap://127.", 11) &&
		    strncmp(c->uri[c->nservers], "ldap://localhost", 16) &&
		    strncmp(c->uri[c->nservers], "ldap://[::1]", 12)) {
			/* Passwords would cross the network in clear. */
			snprintf(
			    err, errlen,
			    "ldap.servers: '%s' is plain LDAP to another host; use ldaps:// or "
			    "set ldap.starttls = yes",
			    c->uri[c->nservers]);
			return -1;
		}
		c->nservers++;
		s += len;
	}
	tg_strlcpy(c->base, cfg->ldap.base, sizeof c->base);
	if (!strcmp(cfg->ldap.filter, "ad"))
		tg_strlcpy(c->filter, DIR_LDAP_FILTER_AD, sizeof c->filter);
	else if (!strcmp(cfg->ldap.filter, "openldap"))
		tg_strlcpy(c->filter, DIR_LDAP_FILTER_OPENLDAP, sizeof c->filter);
	else
		tg_strlcpy(c->filter, cfg->ldap.filter, sizeof c->filter);
	tg_strlcpy(c->bind_dn, cfg->ldap.bind_dn, sizeof c->bind_dn);
	tg_strlcpy(c->ca_file, cfg->ldap.ca_file, sizeof c->ca_file);
	c->starttls = cfg->ldap.starttls;
	c->timeout_ms = cfg->ldap.timeout_ms;
	c->connect_timeout_ms = cfg->ldap.connect_timeout_ms;
	c->retry_s = cfg->ldap.retry_s;
	c->pool_size = cfg->ldap.pool_size;
	if (c->nservers && c->bind_dn[0] &&
	    tg_read_secret_file("ldap.bind_password_file", cfg->ldap.bind_password_file, c->bind_pw,
	                        sizeof c->bind_pw, &c->bind_pw_len, err, errlen) != 0)
		return -1;
	return 0;
}

void dir_ldap_config_clear(struct dir_ldap_config *c)
{
	sodium_memzero(c->bind_pw, sizeof c->bind_pw);
	c->bind_pw_len = 0;
}

int dir_ldap_filter(const char *tmpl, const char *user, char *out, size_t cap)
{
	struct berval in = {strlen(user), (char *)(uintptr_t)user}, esc = {0, NULL};
	if (ldap_bv2escaped_filter_value(&in, &esc) != 0)
		return -1;
	size_t used = 0;
	int rc = 0;
	for (const char *t = tmpl; *t && rc == 0; t++) {
		const char *piece = t;
		size_t len = 1;
		if (t[0] == '%' && t[1] == 'u') {
			piece = esc.bv_val;
			len = esc.bv_len;
			t++;
		} else if (t[0] == '%' && t[1] == '%') {
			t++;
		}
		if (used + len >= cap)
			rc = -1;
		else if (len) {
			/* An empty user escapes to an empty value whose pointer may be NULL. */
			memcpy(out + used, piece, len);
			used += len;
		}
	}
	ber_memfree(esc.bv_val);
	if (cap)
		out[rc == 0 ? used : 0] = '\0';
	return rc;
}

static void ms_to_tv(int ms, struct timeval *tv)
{
	tv->tv_sec = ms / 1000;
	tv->tv_usec = (ms % 1000) * 1000;
}

LDAP *dir_ldap_open(const struct dir_ldap_config *c, int i, int service_bind, int *ldap_rc,
                    char *err, size_t errlen)
{
	LDAP *ld = NULL;
	int rc = ldap_initialize(&ld, c->uri[i]);
	if (rc != LDAP_SUCCESS) {
		*ldap_rc = rc;
		snprintf(err, errlen, "initialize: %s", ldap_err2string(rc));
		return NULL;
	}
	int v3 = LDAP_VERSION3, demand = LDAP_OPT_X_TLS_DEMAND,
	    tlsmin = LDAP_OPT_X_TLS_PROTOCOL_TLS1_2, zero = 0;
	/* Setting up (TCP, TLS, StartTLS, service bind) must fit in the connect timeout, so a
	 * server that accepts but never answers fails over as fast as one that is down.
	 * Operations on the pool's connections have deadlines of their own. */
	struct timeval net, op;
	ms_to_tv(c->connect_timeout_ms, &net);
	ms_to_tv(c->connect_timeout_ms, &op);
	const char *step = "options";
	/* Every security-relevant option is set here, so ldap.conf cannot weaken it. */
	if ((rc = ldap_set_option(ld, LDAP_OPT_PROTOCOL_VERSION, &v3)) ||
	    (rc = ldap_set_option(ld, LDAP_OPT_REFERRALS, LDAP_OPT_OFF)) ||
	    (rc = ldap_set_option(ld, LDAP_OPT_RESTART, LDAP_OPT_ON)) ||
	    (rc = ldap_set_option(ld, LDAP_OPT_NETWORK_TIMEOUT, &net)) ||
	    (rc = ldap_set_option(ld, LDAP_OPT_TIMEOUT, &op)) ||
	    (rc = ldap_set_option(ld, LDAP_OPT_X_TLS_REQUIRE_CERT, &demand)) ||
	    (rc = ldap_set_option(ld, LDAP_OPT_X_TLS_PROTOCOL_MIN, &tlsmin)) ||
	    (c->ca_file[0] && (rc = ldap_set_option(ld, LDAP_OPT_X_TLS_CACERTFILE, c->ca_file))) ||
	    (rc = ldap_set_option(ld, LDAP_OPT_X_TLS_NEWCTX, &zero)))
		goto fail;
	step = "connect";
	if ((rc = ldap_connect(ld)) != LDAP_SUCCESS)
		goto fail;
	if (c->starttls && strncmp(c->uri[i], "ldaps://", 8) != 0) {
		step = "starttls";
		if ((rc = ldap_start_tls_s(ld, NULL, NULL)) != LDAP_SUCCESS)
			goto fail;
	}
	if (service_bind && c->bind_dn[0]) {
		step = "service bind";
		struct berval cred = {c->bind_pw_len, (char *)(uintptr_t)c->bind_pw};
		if ((rc = ldap_sasl_bind_s(ld, c->bind_dn, LDAP_SASL_SIMPLE, &cred, NULL, NULL,
		                           NULL)) != LDAP_SUCCESS)
			goto fail;
	}
	*ldap_rc = LDAP_SUCCESS;
	return ld;
fail:;
	char *diag = NULL;
	ldap_get_option(ld, LDAP_OPT_DIAGNOSTIC_MESSAGE, &diag);
	*ldap_rc = rc;
	snprintf(err, errlen, "%s: %s%s%.200s", step, ldap_err2string(rc),
	         diag && *diag ? ": " : "", diag ? diag : "");
	ldap_memfree(diag);
	ldap_unbind_ext_s(ld, NULL, NULL);
	return NULL;
}

int dir_ldap_simple_bind_async(LDAP *ld, const char *dn, const char *pw, size_t pwlen, int *msgid)
{
	if (!pwlen || !dn || !*dn)
		return LDAP_INAPPROPRIATE_AUTH;
	struct berval cred = {pwlen, (char *)(uintptr_t)pw};
	return ldap_sasl_bind(ld, dn, LDAP_SASL_SIMPLE, &cred, NULL, NULL, msgid);
}
