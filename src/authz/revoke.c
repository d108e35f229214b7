/* SPDX-License-Identifier: ISC */
/* Revocation (authz/token.h): revoked jtis until their exp and per-user not-before times,
 * stored (every node reads them) and kept here in two shtables, so that the check on every
 * verification, cached or not, is two hash look-ups and no store round trip. Entries only
 * grow (a later exp or not-before wins), so merging the store's rows in is always safe;
 * expired jtis are dropped by authz_rev_purge. */
#include "authz/authz_int.h"
#include "core/shtable.h"
#include "core/util.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

struct rev_jti {
	struct shtable_node node;
	int64_t exp;
	char jti[44];
};

struct rev_user {
	struct shtable_node node;
	int64_t t;
	char userid[129];
};

struct authz_revocations {
	struct shtable *jtis, *users;
};

static void free_node(struct shtable_node *n)
{
	/* Both entry types start with their node. */
	free(n);
}

struct authz_revocations *authz_rev_new(void)
{
	struct authz_revocations *r = calloc(1, sizeof *r);
	const struct shtable_opts o = {.shards = 16, .free_entry = free_node};
	if (r && (r->jtis = shtable_new(&o)) && (r->users = shtable_new(&o)))
		return r;
	authz_rev_free(r);
	return NULL;
}

void authz_rev_free(struct authz_revocations *r)
{
	if (!r)
		return;
	shtable_free(r->jtis);
	shtable_free(r->users);
	free(r);
}

void authz_rev_add_jti(struct authz_revocations *r, const char *jti, int64_t exp)
{
	size_t n = strlen(jti);
	if (n == 0 || n >= sizeof((struct rev_jti *)0)->jti)
		return; /* longer than any jti authz_verify accepts: nothing to refuse */
	struct shtable_at at;
	shtable_lock(r->jtis, jti, n, &at);
	struct shtable_node *f = shtable_find(&at);
	if (f) {
		struct rev_jti *e = SHTABLE_ENTRY(f, struct rev_jti, node);
		if (exp > e->exp)
			e->exp = exp;
	} else {
		struct rev_jti *e = calloc(1, sizeof *e);
		if (e) {
			memcpy(e->jti, jti, n + 1);
			e->exp = exp;
			shtable_insert(&at, &e->node, e->jti, n);
		}
	}
	shtable_unlock(&at);
}

void authz_rev_add_user(struct authz_revocations *r, const char *userid, int64_t t)
{
	size_t n = strlen(userid);
	if (n == 0 || n >= sizeof((struct rev_user *)0)->userid)
		return;
	struct shtable_at at;
	shtable_lock(r->users, userid, n, &at);
	struct shtable_node *f = shtable_find(&at);
	if (f) {
		struct rev_user *e = SHTABLE_ENTRY(f, struct rev_user, node);
		if (t > e->t)
			e->t = t;
	} else {
		struct rev_user *e = calloc(1, sizeof *e);
		if (e) {
			memcpy(e->userid, userid, n + 1);
			e->t = t;
			shtable_insert(&at, &e->node, e->userid, n);
		}
	}
	shtable_unlock(&at);
}

int authz_rev_check(struct authz_revocations *r, const struct authz_claims *c)
{
	struct shtable_at at;
	shtable_lock_str(r->jtis, c->jti, &at);
	int revoked = shtable_find(&at) != NULL;
	shtable_unlock(&at);
	if (revoked)
		return 1;
	shtable_lock_str(r->users, c->sub, &at);
	struct shtable_node *f = shtable_find(&at);
	revoked = f && c->iat < SHTABLE_ENTRY(f, struct rev_user, node)->t;
	shtable_unlock(&at);
	return revoked;
}

static int expired(void *ud, struct shtable_node *n)
{
	const int64_t *before = ud;
	return SHTABLE_ENTRY(n, struct rev_jti, node)->exp < *before ? SHTABLE_REMOVE
	                                                             : SHTABLE_NEXT;
}

void authz_rev_purge(struct authz_revocations *r, int64_t before)
{
	shtable_sweep(r->jtis, expired, &before);
}

struct merge {
	struct authz_revocations *r;
	int64_t now;
};

static int merge_jti(void *ud, const char *jti, int64_t exp)
{
	struct merge *m = ud;
	if (exp >= m->now)
		authz_rev_add_jti(m->r, jti, exp);
	return 0;
}

static int merge_user(void *ud, const char *userid, int64_t t)
{
	struct merge *m = ud;
	authz_rev_add_user(m->r, userid, t);
	return 0;
}

int authz_rev_load(struct authz_revocations *r, store_t *st, int64_t now)
{
	struct merge m = {r, now};
	int rc = store_oauth_revoked_jtis(st, merge_jti, &m);
	if (rc == STORE_OK || rc == STORE_TOOBIG)
		rc = store_oauth_notbefores(st, merge_user, &m);
	return rc == STORE_TOOBIG ? STORE_OK : rc;
}

/* --- the contract (token.h) ------------------------------------------------------------- */

int authz_revoke_jti(struct authz *a, const char *jti, int64_t exp)
{
	if (!jti[0] || strlen(jti) >= 44)
		return -EINVAL;
	authz_rev_add_jti(a->rev, jti, exp); /* at once here, whatever the store says */
	int64_t now = tg_now_s();
	authz_rev_purge(a->rev, now - a->leeway_s);
	int rc = store_oauth_revoke_jti(a->store, jti, exp);
	if (rc == STORE_OK)
		store_oauth_purge(a->store, now - a->leeway_s);
	log_ev(LOG_LVL_NOTICE, a->cid, "oauth_token_revoked", LOG_S("jti", jti), LOG_I("exp", exp),
	       LOG_S("stored", rc == STORE_OK ? "yes" : store_last_error()));
	return rc == STORE_OK ? 0 : -EIO;
}

int authz_revoke_user_before(struct authz *a, const char *userid, int64_t t)
{
	if (!userid[0] || strlen(userid) > STORE_ID_MAX)
		return -EINVAL;
	authz_rev_add_user(a->rev, userid, t);
	int rc = store_oauth_notbefore_set(a->store, userid, t);
	log_ev(LOG_LVL_NOTICE, a->cid, "oauth_user_tokens_revoked", LOG_S("user", userid),
	       LOG_I("not_before", t),
	       LOG_S("stored", rc == STORE_OK ? "yes" : store_last_error()));
	return rc == STORE_OK ? 0 : -EIO;
}
