/* SPDX-License-Identifier: ISC */
/* The keys a cluster shares (clusterkey; issue 21) and each node's TLS certificate
 * (nodecertificate). The store only carries them: the private keys arrive encrypted under
 * the key-encryption key (ca/ca_kek.h) and leave as they came. */
#include "store/store.h"
#include "store/store_backend.h"

#include <stdio.h>
#include <string.h>

int store_clusterkey_add(store_t *st, const struct store_clusterkey *k)
{
	struct store_val p[] = {SV_S(k->name), SV_S(k->privatekey), SV_S(k->certificate),
	                        SV_I(k->created)};
	/* The first node's row wins; the caller reads back which one that was. No generation
	 * bump: no cache holds these rows. */
	return store_exec_nogen(st,
	                        "INSERT INTO clusterkey (name, privatekey, certificate, created) "
	                        "VALUES ($1, $2, $3, $4) ON CONFLICT (name) DO NOTHING",
	                        p, 4, NULL, NULL, NULL);
}

int store_clusterkey_replace(store_t *st, const char *name, const char *privatekey)
{
	struct store_val p[] = {SV_S(privatekey), SV_S(name)};
	int changes = 0;
	int rc = store_exec_nogen(st, "UPDATE clusterkey SET privatekey = $1 WHERE name = $2", p, 2,
	                          NULL, NULL, &changes);
	return rc == STORE_OK && changes == 0 ? STORE_NOTFOUND : rc;
}

static int key_from_row(void *obj, const char *const *v)
{
	struct store_clusterkey *k = obj;
	memset(k, 0, sizeof *k);
	int bad = store_copy_col(k->name, sizeof k->name, v[0]) |
	          store_copy_col(k->privatekey, sizeof k->privatekey, v[1]) |
	          store_copy_col(k->certificate, sizeof k->certificate, v[2]);
	k->created = store_col_i64(v[3]);
	return bad;
}

#define KEY_COLUMNS "name, privatekey, certificate, created"

int store_clusterkey_get(store_t *st, const char *name, struct store_clusterkey *out)
{
	struct store_rows r = {.conv = key_from_row, .obj = out, .size = sizeof *out};
	struct store_val p[] = {SV_S(name)};
	return store_select(st, "SELECT " KEY_COLUMNS " FROM clusterkey WHERE name = $1", p, 1, &r);
}

struct key_list {
	int (*fn)(void *ud, const struct store_clusterkey *k);
	void *ud;
};

static int key_each(void *ud, const void *obj)
{
	struct key_list *l = ud;
	return l->fn(l->ud, obj);
}

int store_clusterkeys(store_t *st, int (*fn)(void *ud, const struct store_clusterkey *k), void *ud)
{
	struct store_clusterkey row;
	struct key_list l = {fn, ud};
	struct store_rows r = {
	    .conv = key_from_row, .obj = &row, .size = sizeof row, .each = key_each, .ud = &l};
	return store_select(st, "SELECT " KEY_COLUMNS " FROM clusterkey ORDER BY name", NULL, 0,
	                    &r);
}

int store_nodecert_put(store_t *st, const char *node, const char *pem, int64_t now)
{
	struct store_val p[] = {SV_S(node), SV_S(pem), SV_I(now)};
	return store_exec_nogen(st,
	                        "INSERT INTO nodecertificate (node, certificate, updated) VALUES "
	                        "($1, $2, $3) ON CONFLICT (node) DO UPDATE SET certificate = "
	                        "excluded.certificate, updated = excluded.updated",
	                        p, 3, NULL, NULL, NULL);
}

struct nodecert_row {
	char node[STORE_NAME_MAX + 1];
	char pem[STORE_CLUSTERKEY_CERT_MAX];
};

struct nodecert_list {
	int (*fn)(void *ud, const char *node, const char *pem);
	void *ud;
};

static int nodecert_from_row(void *obj, const char *const *v)
{
	struct nodecert_row *n = obj;
	return store_copy_col(n->node, sizeof n->node, v[0]) |
	       store_copy_col(n->pem, sizeof n->pem, v[1]);
}

static int nodecert_each(void *ud, const void *obj)
{
	const struct nodecert_list *l = ud;
	const struct nodecert_row *n = obj;
	return l->fn(l->ud, n->node, n->pem);
}

int store_nodecerts(store_t *st, int (*fn)(void *ud, const char *node, const char *pem), void *ud)
{
	struct nodecert_row row;
	struct nodecert_list l = {fn, ud};
	struct store_rows r = {.conv = nodecert_from_row,
	                       .obj = &row,
	                       .size = sizeof row,
	                       .each = nodecert_each,
	                       .ud = &l};
	return store_select(st, "SELECT node, certificate FROM nodecertificate ORDER BY node", NULL,
	                    0, &r);
}
