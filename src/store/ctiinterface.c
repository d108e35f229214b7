/* SPDX-License-Identifier: ISC */
/* Cloud CTI event interfaces and the scopes of their client identities (ctiinterface,
 * ctiinterfacescope; schema v15; src/xsi). */
#include "store/store.h"
#include "store/store_backend.h"

#include <stdlib.h>
#include <string.h>

int store_ctiinterface_add(store_t *st, const struct store_ctiinterface *c)
{
	struct store_val p[] = {SV_S(c->address), SV_I(c->port), SV_I(c->secure),
	                        SV_I(c->servercert), SV_I(c->clientauthreq)};
	return store_exec(st,
	                  "INSERT INTO ctiinterface (address, port, secure, servercert, "
	                  "clientauthreq) VALUES ($1, $2, $3, $4, $5)",
	                  p, 5, NULL, NULL, NULL);
}

int store_ctiinterface_delete(store_t *st, const char *address, int port)
{
	struct store_val p[] = {SV_S(address), SV_I(port)};
	int n = 0;
	int rc = store_exec(st, "DELETE FROM ctiinterface WHERE address = $1 AND port = $2", p, 2,
	                    NULL, NULL, &n);
	return rc == STORE_OK && n == 0 ? STORE_NOTFOUND : rc;
}

struct iface_list {
	int (*fn)(void *ud, const struct store_ctiinterface *c);
	void *ud;
};

static int iface_row(void *ud, int ncols, const char *const *names, const char *const *v)
{
	(void)ncols;
	(void)names;
	struct iface_list *l = ud;
	struct store_ctiinterface c;
	memset(&c, 0, sizeof c);
	if (store_copy_col(c.address, sizeof c.address, v[0]))
		return 0; /* cannot happen: the CHECK bounds it */
	c.port = (int)store_col_i64(v[1]);
	c.secure = (int)store_col_i64(v[2]);
	c.servercert = (int)store_col_i64(v[3]);
	c.clientauthreq = (int)store_col_i64(v[4]);
	return l->fn(l->ud, &c);
}

int store_ctiinterfaces(store_t *st, int (*fn)(void *ud, const struct store_ctiinterface *c),
                        void *ud)
{
	struct iface_list l = {fn, ud};
	return store_exec(st,
	                  "SELECT address, port, secure, servercert, clientauthreq FROM "
	                  "ctiinterface ORDER BY address, port",
	                  NULL, 0, iface_row, &l, NULL);
}

int store_ctiscope_add(store_t *st, const char *identity, const char *scope)
{
	struct store_val p[] = {SV_S(identity), SV_S(scope)};
	return store_exec(st,
	                  "INSERT INTO ctiinterfacescope (identity, scope) VALUES ($1, $2) ON "
	                  "CONFLICT (identity, scope) DO NOTHING",
	                  p, 2, NULL, NULL, NULL);
}

int store_ctiscope_delete(store_t *st, const char *identity, const char *scope)
{
	struct store_val p[] = {SV_S(identity), SV_S(scope)};
	int n = 0;
	int rc = store_exec(st, "DELETE FROM ctiinterfacescope WHERE identity = $1 AND scope = $2",
	                    p, 2, NULL, NULL, &n);
	return rc == STORE_OK && n == 0 ? STORE_NOTFOUND : rc;
}

struct scope_list {
	int (*fn)(void *ud, const char *identity, const char *scope);
	void *ud;
};

static int scope_row(void *ud, int ncols, const char *const *names, const char *const *v)
{
	(void)ncols;
	(void)names;
	struct scope_list *l = ud;
	return l->fn(l->ud, v[0] ? v[0] : "", v[1] ? v[1] : "");
}

int store_ctiscopes(store_t *st, const char *identity,
                    int (*fn)(void *ud, const char *identity, const char *scope), void *ud)
{
	struct scope_list l = {fn, ud};
	struct store_val p[] = {SV_S(identity ? identity : "")};
	return store_exec(st,
	                  identity ? "SELECT identity, scope FROM ctiinterfacescope WHERE "
	                             "identity = $1 ORDER BY scope"
	                           : "SELECT identity, scope FROM ctiinterfacescope ORDER BY "
	                             "identity, scope",
	                  identity ? p : NULL, identity ? 1 : 0, scope_row, &l, NULL);
}
