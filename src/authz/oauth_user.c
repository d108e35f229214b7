/* SPDX-License-Identifier: ISC */
/* Whether a user may still hold tokens (oauth_int.h): the directory's own rules. */
#include "authz/oauth_int.h"

#include "dir/dir.h"
#include "dir/policy.h"

const char *oauth_user_refused(struct oauth *o, const char *userid, unsigned aud, int64_t authtime,
                               int64_t now, int *unavailable)
{
	*unavailable = 0;
	struct store_user u;
	struct store_credstate cs;
	struct store_credpolicy pol;
	int rc = dir_credential_load(o->o.store, userid, STORE_CRED_PASSWORD, &u, &cs, &pol);
	if (rc == STORE_NOTFOUND)
		return "deleted";
	if (rc != STORE_OK) {
		*unavailable = 1;
		return "store unavailable";
	}
	int changed = 0;
	switch (dir_policy_precheck(&u, &cs, &pol, now, &changed)) {
	case DIR_OK:
	case DIR_THROTTLED: /* recent failures slow down guessing; they do not end sessions */
		break;
	case DIR_LOCKED:
	case DIR_HACKED_LOCKED:
		return "password credential locked";
	case DIR_INACTIVE:
		return "inactive";
	default:
		return "refused by the credential policy";
	}
	/* A password changed after the login ends what that login granted. */
	if (cs.timechanged > authtime)
		return "password changed";
	if (aud & AUTHZ_AUD_CTI) {
		unsigned perms = 0;
		if (dir_cti_perms(o->o.store, userid, &perms) != STORE_OK) {
			*unavailable = 1;
			return "store unavailable";
		}
		if (!(perms & DIR_CTI_ENABLED))
			return "no CTI rights";
	}
	return NULL;
}
