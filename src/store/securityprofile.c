/* SPDX-License-Identifier: ISC */
/* Device security profiles (securityprofile, Unified CM's Phone Security Profile). */
#include "store/store.h"
#include "store/store_backend.h"

#include <stdio.h>
#include <string.h>

static const char *const transports[] = {"TCP+UDP", "TCP", "UDP", "TLS"};

int store_securityprofile_transport_valid(const char *t)
{
	for (size_t i = 0; i < sizeof transports / sizeof transports[0]; i++)
		if (strcmp(t, transports[i]) == 0)
			return 1;
	return 0;
}

int store_securityprofile_check(const struct store_securityprofile *p, char *err, size_t errlen)
{
	if (!p->name[0]) {
		snprintf(err, errlen, "a security profile needs a name");
		return -1;
	}
	if (!store_securityprofile_transport_valid(p->transport)) {
		snprintf(err, errlen,
		         "security profile '%.64s': transport '%.16s' is not one of TCP+UDP, TCP, "
		         "UDP, TLS",
		         p->name, p->transport);
		return -1;
	}
	if ((p->enableoauthauthentication | p->enabledigestauthentication) & ~1) {
		snprintf(err, errlen,
		         "security profile '%.64s': the authentication flags are 0 or 1", p->name);
		return -1;
	}
	/* Seed 002: with SIP OAuth on, digest authentication is not offered on the profile. */
	if (p->enableoauthauthentication && p->enabledigestauthentication) {
		snprintf(err, errlen,
		         "security profile '%.64s': OAuth and digest authentication cannot both be "
		         "enabled (with SIP OAuth on, digest is not offered)",
		         p->name);
		return -1;
	}
	return 0;
}

int store_securityprofile_put(store_t *st, const struct store_securityprofile *sp)
{
	char why[200];
	if (store_securityprofile_check(sp, why, sizeof why) != 0) {
		store_set_error("%s", why);
		return STORE_CONSTRAINT;
	}
	struct store_val p[] = {SV_S(sp->name), SV_S(sp->description), SV_S(sp->transport),
	                        SV_I(sp->enableoauthauthentication),
	                        SV_I(sp->enabledigestauthentication)};
	return store_exec(st,
	                  "INSERT INTO securityprofile (name, description, transport, "
	                  "enableoauthauthentication, enabledigestauthentication) VALUES ($1, $2, "
	                  "$3, $4, $5) ON CONFLICT (name) DO UPDATE SET description = "
	                  "excluded.description, transport = excluded.transport, "
	                  "enableoauthauthentication = excluded.enableoauthauthentication, "
	                  "enabledigestauthentication = excluded.enabledigestauthentication",
	                  p, 5, NULL, NULL, NULL);
}

#define PROFILE_COLUMNS                                                                            \
	"name, description, transport, enableoauthauthentication, enabledigestauthentication"

/* Fills a store_securityprofile from a row of PROFILE_COLUMNS; nonzero when a text
 * column does not fit. */
static int profile_from_row(void *obj, const char *const *v)
{
	struct store_securityprofile *p = obj;
	memset(p, 0, sizeof *p);
	int bad = store_copy_col(p->name, sizeof p->name, v[0]) |
	          store_copy_col(p->description, sizeof p->description, v[1]) |
	          store_copy_col(p->transport, sizeof p->transport, v[2]);
	p->enableoauthauthentication = (int)store_col_i64(v[3]);
	p->enabledigestauthentication = (int)store_col_i64(v[4]);
	return bad;
}

int store_securityprofile_get(store_t *st, const char *name, struct store_securityprofile *out)
{
	struct store_rows r = {.conv = profile_from_row, .obj = out, .size = sizeof *out};
	struct store_val p[] = {SV_S(name)};
	return store_select(st, "SELECT " PROFILE_COLUMNS " FROM securityprofile WHERE name = $1",
	                    p, 1, &r);
}

struct profile_list {
	int (*fn)(void *ud, const struct store_securityprofile *p);
	void *ud;
};

static int profile_each(void *ud, const void *obj)
{
	struct profile_list *l = ud;
	return l->fn(l->ud, obj);
}

int store_securityprofiles(store_t *st, int (*fn)(void *ud, const struct store_securityprofile *p),
                           void *ud)
{
	struct store_securityprofile sp;
	struct profile_list l = {fn, ud};
	struct store_rows r = {profile_from_row, &sp, sizeof sp, profile_each, &l, 0, 0, 0};
	return store_select(st, "SELECT " PROFILE_COLUMNS " FROM securityprofile ORDER BY name",
	                    NULL, 0, &r);
}

static int first_name(void *ud, int ncols, const char *const *names, const char *const *v)
{
	(void)ncols;
	(void)names;
	store_copy_col(ud, STORE_ID_MAX + 1, v[0]);
	return 1;
}

int store_securityprofile_delete(store_t *st, const char *name)
{
	/* device.securityprofile is text, not a foreign key ("" = none, and rows older than
	 * schema 8 named profiles that did not exist): the reference is checked here. */
	char device[STORE_ID_MAX + 1] = "";
	struct store_val p[] = {SV_S(name)};
	int rc = store_exec(st, "SELECT name FROM device WHERE securityprofile = $1 LIMIT 1", p, 1,
	                    first_name, device, NULL);
	if (rc != STORE_OK)
		return rc;
	if (device[0]) {
		store_set_error("security profile '%.64s' is used by device %s", name, device);
		return STORE_CONSTRAINT;
	}
	int n = 0;
	rc = store_exec(st, "DELETE FROM securityprofile WHERE name = $1", p, 1, NULL, NULL, &n);
	return rc == STORE_OK && n == 0 ? STORE_NOTFOUND : rc;
}
