/* SPDX-License-Identifier: ISC */
/* The OAuth token core's tables (issue 18): oauthkey, oauthrevokedjti, oauthnotbefore. */
#include "store/store.h"
#include "store/store_backend.h"

#include <string.h>

int store_oauthkey_add(store_t *st, const struct store_oauthkey *k)
{
	if (strlen(k->kid) != 43 || !k->publickey[0]) {
		store_set_error("oauth key: a 43-character kid and a public key are required");
		return STORE_CONSTRAINT;
	}
	struct store_val p[] = {SV_S(k->kid),       SV_S(k->alg),     SV_S(k->publickey),
	                        SV_S(k->node),      SV_I(k->created), SV_I(k->activates_at),
	                        SV_I(k->retires_at)};
	return store_exec(st,
	                  "INSERT INTO oauthkey (kid, alg, publickey, node, created, activates_at, "
	                  "retires_at) VALUES ($1, $2, $3, $4, $5, $6, $7)",
	                  p, 7, NULL, NULL, NULL);
}

static int key_from_row(void *obj, const char *const *v)
{
	struct store_oauthkey *k = obj;
	memset(k, 0, sizeof *k);
	int bad = store_copy_col(k->kid, sizeof k->kid, v[0]) |
	          store_copy_col(k->alg, sizeof k->alg, v[1]) |
	          store_copy_col(k->publickey, sizeof k->publickey, v[2]) |
	          store_copy_col(k->node, sizeof k->node, v[3]);
	k->created = store_col_i64(v[4]);
	k->activates_at = store_col_i64(v[5]);
	k->retires_at = store_col_i64(v[6]);
	return bad;
}

struct key_list {
	int (*fn)(void *ud, const struct store_oauthkey *k);
	void *ud;
};

static int key_each(void *ud, const void *obj)
{
	struct key_list *l = ud;
	return l->fn(l->ud, obj);
}

int store_oauthkeys(store_t *st, int (*fn)(void *ud, const struct store_oauthkey *k), void *ud)
{
	struct store_oauthkey k;
	struct key_list l = {fn, ud};
	struct store_rows r = {key_from_row, &k, sizeof k, key_each, &l, 0, 0, 0};
	return store_select(st,
	                    "SELECT kid, alg, publickey, node, created, activates_at, retires_at "
	                    "FROM oauthkey ORDER BY activates_at, created, kid",
	                    NULL, 0, &r);
}

int store_oauthkey_retire_others(store_t *st, const char *node, const char *kid, int64_t at)
{
	struct store_val p[] = {SV_I(at), SV_S(kid), SV_S(node)};
	return store_exec(st,
	                  "UPDATE oauthkey SET retires_at = $1 WHERE retires_at = 0 AND kid <> $2 "
	                  "AND node = $3",
	                  p, 3, NULL, NULL, NULL);
}

int store_oauth_revoke_jti(store_t *st, const char *jti, int64_t exp)
{
	struct store_val p[] = {SV_S(jti), SV_I(exp)};
	return store_exec(
	    st,
	    "INSERT INTO oauthrevokedjti (jti, exp) VALUES ($1, $2) ON CONFLICT (jti) "
	    "DO UPDATE SET exp = excluded.exp WHERE excluded.exp > oauthrevokedjti.exp",
	    p, 2, NULL, NULL, NULL);
}

int store_oauth_notbefore_set(store_t *st, const char *userid, int64_t t)
{
	struct store_val p[] = {SV_S(userid), SV_I(t)};
	return store_exec(
	    st,
	    "INSERT INTO oauthnotbefore (userid, notbefore) VALUES ($1, $2) ON CONFLICT "
	    "(userid) DO UPDATE SET notbefore = excluded.notbefore WHERE "
	    "excluded.notbefore > oauthnotbefore.notbefore",
	    p, 2, NULL, NULL, NULL);
}

/* Rows of (text, integer), e.g. (jti, exp). */
struct pair {
	char s[STORE_ID_MAX + 1];
	int64_t i;
};

static int pair_from_row(void *obj, const char *const *v)
{
	struct pair *p = obj;
	p->i = store_col_i64(v[1]);
	return store_copy_col(p->s, sizeof p->s, v[0]);
}

struct pair_list {
	int (*fn)(void *ud, const char *s, int64_t i);
	void *ud;
};

static int pair_each(void *ud, const void *obj)
{
	const struct pair *p = obj;
	struct pair_list *l = ud;
	return l->fn(l->ud, p->s, p->i);
}

static int pairs(store_t *st, const char *sql, int (*fn)(void *ud, const char *s, int64_t i),
                 void *ud)
{
	struct pair p;
	struct pair_list l = {fn, ud};
	struct store_rows r = {pair_from_row, &p, sizeof p, pair_each, &l, 0, 0, 0};
	return store_select(st, sql, NULL, 0, &r);
}

int store_oauth_revoked_jtis(store_t *st, int (*fn)(void *ud, const char *jti, int64_t exp),
                             void *ud)
{
	return pairs(st, "SELECT jti, exp FROM oauthrevokedjti", fn, ud);
}

int store_oauth_notbefores(store_t *st, int (*fn)(void *ud, const char *userid, int64_t t),
                           void *ud)
{
	return pairs(st, "SELECT userid, notbefore FROM oauthnotbefore", fn, ud);
}

int store_oauth_purge(store_t *st, int64_t before)
{
	struct store_val p[] = {SV_I(before)};
	return store_exec(st, "DELETE FROM oauthrevokedjti WHERE exp < $1", p, 1, NULL, NULL, NULL);
}
