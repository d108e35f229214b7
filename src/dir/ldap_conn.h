/* SPDX-License-Identifier: ISC */
/*
 * ldap_conn: what the LDAP pool and the `telgate ldap test` diagnostic share: the loaded
 * LDAP configuration (server list, search base, filter template, service account), the
 * RFC 4515 filter construction, and the blocking set-up of one connection (TCP, TLS or
 * StartTLS with explicit verification, optional service bind).
 *
 * dir_ldap_open() blocks for up to about 2 x connect_timeout_ms (connect, then each setup
 * step): call it from a worker
 * thread, never from an event loop. The config owns the service password (read from
 * bind_password_file, wiped by dir_ldap_config_clear).
 */
#ifndef TG_DIR_LDAP_CONN_H
#define TG_DIR_LDAP_CONN_H

#include "core/config.h"

#include <ldap.h>
#include <stddef.h>

#define DIR_LDAP_MAX_SERVERS 16
#define DIR_LDAP_FILTER_MAX 2048
#define DIR_LDAP_PASSWORD_MAX 1024

/* The seed's Active Directory filter: users, not computers, not disabled accounts. */
#define DIR_LDAP_FILTER_AD                                                                         \
	"(&(&(objectclass=user)(!(objectclass=Computer))(!(UserAccountControl:1.2.840.113556.1."   \
	"4.803:=2)))(sAMAccountName=%u))"
#define DIR_LDAP_FILTER_OPENLDAP "(&(objectClass=inetOrgPerson)(uid=%u))"

struct dir_ldap_config {
	int nservers;
	char uri[DIR_LDAP_MAX_SERVERS][256];
	char base[512];
	char filter[512]; /* template, presets resolved */
	char bind_dn[512];
	char bind_pw[DIR_LDAP_PASSWORD_MAX]; /* secret */
	size_t bind_pw_len;
	char ca_file[CFG_PATH_MAX];
	int starttls;
	int timeout_ms, connect_timeout_ms, retry_s, pool_size;
};

/* Builds the LDAP configuration from the node configuration; reads the service password
 * file (refused when group- or world-readable). nservers is 0 when LDAP is off. */
int dir_ldap_config_load(const struct tg_config *cfg, struct dir_ldap_config *out, char *err,
                         size_t errlen);
void dir_ldap_config_clear(struct dir_ldap_config *c);

/* Expands the filter template with user escaped per RFC 4515. Returns 0, or -1 when the
 * result would not fit. */
int dir_ldap_filter(const char *tmpl, const char *user, char *out, size_t cap);

/* Opens a connection to server i: protocol 3, referrals off, timeouts, TLS verification
 * set explicitly (ldaps:// or StartTLS), then a simple bind as the service account when
 * service_bind is set. Returns the handle, or NULL with *ldap_rc and err set. The
 * caller owns the handle (ldap_unbind_ext_s). */
LDAP *dir_ldap_open(const struct dir_ldap_config *c, int i, int service_bind, int *ldap_rc,
                    char *err, size_t errlen);

/* The simple bind as dn with password (pwlen bytes). An empty password is refused here
 * too (RFC 4513 5.1.2: it would be an unauthenticated bind that "succeeds"). */
int dir_ldap_simple_bind_async(LDAP *ld, const char *dn, const char *pw, size_t pwlen, int *msgid);

#endif
