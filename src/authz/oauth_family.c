/* SPDX-License-Identifier: ISC */
/* A refresh-token family's end (authz/oauth.h): its refresh tokens and the access tokens
 * issued beside them. */
#include "authz/oauth_int.h"

#include <string.h>

/* Rows created this long before the longest access token's lifetime are looked at too: the
 * verifiers' leeway ([oauth] leeway_s, seconds) is smaller. */
#define MARGIN_S 600

struct family_revoke {
	struct oauth *o;
	int64_t lifetime; /* s, of the family client's access tokens */
	int jtis, failed;
};

static int revoke_row(void *ud, const struct store_oauthrefresh *r)
{
	struct family_revoke *f = ud;
	char jti[OAUTH_JTI_LEN + 1];
	oauth_access_jti(f->o->key, r->tokenhash, jti);
	/* Issued at created, or by a retry up to the grace window later (the same jti). */
	int64_t exp = r->created + f->o->o.refresh_grace_s + f->lifetime;
	if (authz_revoke_jti(f->o->o.authz, jti, exp) == 0)
		f->jtis++;
	else
		f->failed++;
	return 0;
}

static int first_row(void *ud, const struct store_oauthrefresh *r)
{
	*(struct store_oauthrefresh *)ud = *r;
	return 1; /* one is enough */
}

int oauth_family_revoke(struct oauth *o, const char *familyid, int64_t now, const char *cid, int *n)
{
	int k = 0;
	int rc = store_oauthrefresh_revoke_family(o->o.store, familyid, &k);
	if (n)
		*n = k;
	if (rc != STORE_OK)
		return rc;
	struct family_revoke f = {o, o->o.access_token_expiry_s, 0, 0};
	struct store_oauthrefresh first;
	memset(&first, 0, sizeof first);
	int found = 0;
	/* The family's client says how long its access tokens live. */
	if (store_oauthrefresh_family_since(o->o.store, familyid, 0, first_row, &first) ==
	        STORE_OK &&
	    first.clientid[0]) {
		struct store_oauthclient cl;
		found = 1;
		if (store_oauthclient_get(o->o.store, first.clientid, &cl) == STORE_OK &&
		    cl.accesstokenlifetime > 0)
			f.lifetime = cl.accesstokenlifetime;
	}
	if (found)
		rc = store_oauthrefresh_family_since(
		    o->o.store, familyid, now - f.lifetime - o->o.refresh_grace_s - MARGIN_S,
		    revoke_row, &f);
	log_ev(LOG_LVL_NOTICE, cid, "oauth_family_revoked", LOG_S("family", familyid),
	       LOG_I("refresh_tokens", k), LOG_I("access_tokens", f.jtis),
	       LOG_I_IF(f.failed, "access_tokens_failed", f.failed));
	return rc;
}
