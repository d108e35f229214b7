/* SPDX-License-Identifier: ISC */
#include "dir/policy.h"

#include <stdio.h>
#include <string.h>

#define DAY 86400
#define MINUTE 60

const char *dir_status_name(enum dir_status s)
{
	switch (s) {
	case DIR_OK:
		return "success";
	case DIR_BAD_CREDENTIAL:
		return "bad-credential";
	case DIR_UNKNOWN_USER:
		return "unknown-user";
	case DIR_LOCKED:
		return "locked";
	case DIR_HACKED_LOCKED:
		return "hacked-locked";
	case DIR_THROTTLED:
		return "throttled";
	case DIR_INACTIVE:
		return "inactive";
	case DIR_EXPIRED:
		return "expired";
	case DIR_MUST_CHANGE:
		return "must-change";
	case DIR_UNAVAILABLE:
		return "directory-unavailable";
	}
	return "unknown";
}

static const struct {
	const char *group, *name;
	unsigned bit;
} perms[] = {
    {"Standard CTI Enabled", "enabled", DIR_CTI_ENABLED},
    {"Standard CTI Secure Connection", "secure-connection", DIR_CTI_SECURE},
    {"Standard CTI Allow Control of All Devices", "super-provider", DIR_CTI_ALL_DEVICES},
    {"Standard CTI Allow Call Park Monitoring", "park-monitoring", DIR_CTI_PARK_MONITOR},
    {"Standard CTI Allow Calling Number Modification", "modify-calling-number",
     DIR_CTI_MODIFY_CALLING},
    {"Standard CTI Allow Call Monitoring", "call-monitoring", DIR_CTI_CALL_MONITOR},
    {"Standard CTI Allow Call Recording", "call-recording", DIR_CTI_CALL_RECORD},
    {"Standard CTI Allow Reception of SRTP Key Material", "srtp-keys", DIR_CTI_SRTP_KEYS},
};

unsigned dir_cti_perm_of_group(const char *group)
{
	for (size_t i = 0; i < sizeof perms / sizeof perms[0]; i++)
		if (strcmp(group, perms[i].group) == 0)
			return perms[i].bit;
	return 0;
}

void dir_cti_perm_format(unsigned p, char *out, unsigned long cap)
{
	size_t used = 0;
	if (!cap)
		return;
	out[0] = '\0';
	for (size_t i = 0; i < sizeof perms / sizeof perms[0]; i++) {
		if (!(p & perms[i].bit))
			continue;
		int w = snprintf(out + used, cap - used, "%s%s", used ? "," : "", perms[i].name);
		if (w < 0 || (size_t)w >= cap - used)
			return;
		used += (size_t)w;
	}
	if (!used)
		snprintf(out, cap, "none");
}

int64_t dir_policy_lockout_ends(const struct store_credstate *cs,
                                const struct store_credpolicy *pol)
{
	if (!cs->timehackedlockout)
		return 0;
	if (pol->adminmustunlock)
		return -1;
	return cs->timehackedlockout + (int64_t)pol->lockoutduration * MINUTE;
}

int64_t dir_policy_throttle_ends(const struct store_credstate *cs,
                                 const struct store_credpolicy *pol)
{
	int n = pol->throttleafterfailures;
	if (n <= 0 || cs->hackcount < n || !cs->lastfailedlogin)
		return 0;
	int64_t cap = pol->throttlemaxseconds > 0 ? pol->throttlemaxseconds : 1;
	int shift = cs->hackcount - n;
	int64_t interval = shift >= 30 ? cap : (int64_t)1 << shift;
	if (interval > cap)
		interval = cap;
	/* lastfailedlogin is in whole seconds: one more second makes sure that at least the
	 * interval passes (a failure at x.985 s would otherwise be throttled for 15 ms). */
	int64_t ends = cs->lastfailedlogin + interval + 1;
	/* The count starts again once the reset time has passed: so does the throttle. */
	if (pol->resetfailedlogonsafter > 0 &&
	    ends > cs->lastfailedlogin + (int64_t)pol->resetfailedlogonsafter * MINUTE)
		ends = cs->lastfailedlogin + (int64_t)pol->resetfailedlogonsafter * MINUTE;
	return ends;
}

int64_t dir_policy_expires_at(const struct store_credstate *cs, const struct store_credpolicy *pol)
{
	if (cs->doesnotexpire || pol->expiresafterdays <= 0 || !cs->timechanged)
		return 0;
	return cs->timechanged + (int64_t)pol->expiresafterdays * DAY;
}

enum dir_status dir_policy_precheck(const struct store_user *u, struct store_credstate *cs,
                                    const struct store_credpolicy *pol, int64_t now, int *changed)
{
	*changed = 0;
	if (u->status == STORE_USER_INACTIVE || cs->inactive)
		return DIR_INACTIVE;
	if (pol->inactivedaysallowed > 0) {
		int64_t last = cs->lastsuccessfullogin > cs->timechanged ? cs->lastsuccessfullogin
		                                                         : cs->timechanged;
		if (last && now >= last + (int64_t)pol->inactivedaysallowed * DAY)
			return DIR_INACTIVE;
	}
	if (cs->timelockedout)
		return DIR_LOCKED;
	if (cs->timehackedlockout) {
		int64_t ends = dir_policy_lockout_ends(cs, pol);
		if (ends < 0 || now < ends)
			return DIR_HACKED_LOCKED;
		/* The lockout ran out: the account starts afresh. */
		cs->timehackedlockout = 0;
		cs->hackcount = 0;
		*changed = 1;
	}
	if (now < dir_policy_throttle_ends(cs, pol))
		return DIR_THROTTLED;
	return DIR_OK;
}

enum dir_status dir_policy_apply(struct store_credstate *cs, const struct store_credpolicy *pol,
                                 int64_t now, int verified, int *warn_days)
{
	*warn_days = -1;
	if (!verified) {
		if (pol->resetfailedlogonsafter > 0 && cs->lastfailedlogin &&
		    now >= cs->lastfailedlogin + (int64_t)pol->resetfailedlogonsafter * MINUTE)
			cs->hackcount = 0;
		cs->hackcount++;
		cs->lastfailedlogin = now;
		if (pol->failedlogonthreshold > 0 && cs->hackcount >= pol->failedlogonthreshold &&
		    !cs->timehackedlockout)
			cs->timehackedlockout = now;
		return DIR_BAD_CREDENTIAL;
	}
	/* The right password is never a failed guess, whatever happens next. */
	cs->hackcount = 0;
	int64_t exp = dir_policy_expires_at(cs, pol);
	if (exp && now >= exp)
		return DIR_EXPIRED;
	if (cs->mustchange)
		return DIR_MUST_CHANGE;
	cs->lastsuccessfullogin = now;
	if (exp && pol->expirywarningdays > 0 && now >= exp - (int64_t)pol->expirywarningdays * DAY)
		*warn_days = (int)((exp - now + DAY - 1) / DAY);
	return DIR_OK;
}

int dir_policy_success_quiet(const struct store_user *u, const struct store_credstate *cs,
                             const struct store_credpolicy *pol, int64_t now, int *warn_days)
{
	int warn;
	if (!warn_days)
		warn_days = &warn;
	*warn_days = -1;
	if (cs->hackcount || cs->timehackedlockout || now - cs->lastsuccessfullogin >= 3600)
		return 0;
	struct store_credstate probe = *cs;
	int changed;
	if (dir_policy_precheck(u, &probe, pol, now, &changed) != DIR_OK || changed)
		return 0;
	return dir_policy_apply(&probe, pol, now, 1, warn_days) == DIR_OK;
}

void dir_policy_unlock(struct store_credstate *cs)
{
	cs->hackcount = 0;
	cs->timelockedout = 0;
	cs->timehackedlockout = 0;
}
