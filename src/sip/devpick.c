/* SPDX-License-Identifier: ISC */
#include "sip/devpick.h"

#include <string.h>

static const char *const names[SIP_DEVPICK_OUTCOMES] = {
    [SIP_DEVPICK_NAMED] = "named",
    [SIP_DEVPICK_ONLY] = "only_device",
    [SIP_DEVPICK_UNKNOWN_LINE] = "unknown_line",
    [SIP_DEVPICK_AMBIGUOUS] = "ambiguous",
    [SIP_DEVPICK_NOT_ON_LINE] = "device_not_on_line",
    [SIP_DEVPICK_USER_MISMATCH] = "user_not_allowed",
    [SIP_DEVPICK_CONFLICT] = "conflicting_devicenames",
};

const char *sip_devpick_name(enum sip_devpick_outcome o)
{
	return (unsigned)o < SIP_DEVPICK_OUTCOMES && names[o] ? names[o] : "unknown";
}

int sip_devpick_ok(enum sip_devpick_outcome o)
{
	return o == SIP_DEVPICK_NAMED || o == SIP_DEVPICK_ONLY;
}

int sip_devpick_find(const struct sip_devpick_dev *devs, size_t n, const char *name)
{
	if (!name || !name[0])
		return -1;
	for (size_t i = 0; i < n; i++)
		if (devs[i].name && strcmp(devs[i].name, name) == 0)
			return (int)i;
	return -1;
}

/* 1 when user may register d: its digest user (the owner when none is set), its owner,
 * or one of its associated users. An empty user may not. */
static int may_use(const struct sip_devpick_dev *d, const char *user)
{
	if (!user || !user[0])
		return 0;
	const char *owner = d->owner ? d->owner : "";
	const char *duser = d->digestuser && d->digestuser[0] ? d->digestuser : owner;
	if (strcmp(duser, user) == 0 || strcmp(owner, user) == 0)
		return 1;
	for (size_t i = 0; i < d->nusers; i++)
		if (d->users[i] && strcmp(d->users[i], user) == 0)
			return 1;
	return 0;
}

enum sip_devpick_outcome sip_devpick(const struct sip_devpick_in *in, int *index)
{
	*index = -1;
	if (in->devicename_conflict)
		return SIP_DEVPICK_CONFLICT;
	if (in->ndevs == 0)
		return SIP_DEVPICK_UNKNOWN_LINE;
	if (in->devicename && in->devicename[0]) {
		int k = sip_devpick_find(in->devs, in->ndevs, in->devicename);
		if (k < 0)
			return SIP_DEVPICK_NOT_ON_LINE;
		if (!may_use(&in->devs[k], in->user))
			return SIP_DEVPICK_USER_MISMATCH;
		*index = k;
		return SIP_DEVPICK_NAMED;
	}
	if (in->ndevs > 1)
		return SIP_DEVPICK_AMBIGUOUS;
	*index = 0;
	return SIP_DEVPICK_ONLY;
}
