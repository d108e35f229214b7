/* SPDX-License-Identifier: ISC */
/*
 * devpick: which device a REGISTER binds when its line (the AOR user part) may be on
 * several devices (Unified CM's shared lines: a desk phone and the user's softphone answer
 * to the same number; schema v14). This is the single place that decides it: the digest
 * path of the registrar calls it, and so does any other authentication (a bearer token's
 * `sub` goes in the same argument as a digest user name).
 *
 * The rule (docs/sip.md "Shared lines"):
 *   - the Contact names its device (`+u.sip!devicename.ccm.cisco.com="CSFJDOE"`, as
 *     Cisco Jabber and Cisco phones send it): that device, if it carries the line and the
 *     authenticated user may use it (its digest user, its owner, or a user associated with
 *     it); a device that does not carry the line, or a user who may not use it: refused;
 *   - no device named: the line's device when the line is on exactly one (what every
 *     REGISTER did before shared lines; the authentication then checks the user as before);
 *     a line on several devices: refused as ambiguous, never a guess;
 *   - contacts naming different devices: refused.
 * Device names are compared exactly (as stored).
 *
 * Pure: no I/O, no allocation, no clock. Thread-safe. Ownership: everything is the
 * caller's and only read during the call.
 */
#ifndef TG_SIP_DEVPICK_H
#define TG_SIP_DEVPICK_H

#include <stddef.h>

/* One device the line is on. */
struct sip_devpick_dev {
	const char *name;
	const char *owner;      /* device.owneruserid, "" = none */
	const char *digestuser; /* device.digestuser, "" = the owner's credentials */
	/* The users associated with the device (enduserdevicemap). Read only for the device
	 * the Contact names: the caller may leave the others' NULL/0 (one store read). */
	const char *const *users;
	size_t nusers;
};

struct sip_devpick_in {
	const char *devicename;  /* from the Contact, "" or NULL = none */
	int devicename_conflict; /* contacts named different devices */
	const char *user;        /* the authenticated user id (digest user name, token sub) */
	const struct sip_devpick_dev *devs; /* the devices the line is on */
	size_t ndevs;
};

enum sip_devpick_outcome {
	SIP_DEVPICK_NAMED,         /* picked: the device the Contact names */
	SIP_DEVPICK_ONLY,          /* picked: no device named, the line's only device */
	SIP_DEVPICK_UNKNOWN_LINE,  /* refused: no device carries the line */
	SIP_DEVPICK_AMBIGUOUS,     /* refused: several devices, none named */
	SIP_DEVPICK_NOT_ON_LINE,   /* refused: the named device does not carry the line */
	SIP_DEVPICK_USER_MISMATCH, /* refused: the user may not use the named device */
	SIP_DEVPICK_CONFLICT,      /* refused: contacts name different devices */
	SIP_DEVPICK_OUTCOMES
};

/* The outcome's name for the trace, e.g. "ambiguous" (never NULL). */
const char *sip_devpick_name(enum sip_devpick_outcome o);

/* 1 for SIP_DEVPICK_NAMED and SIP_DEVPICK_ONLY. */
int sip_devpick_ok(enum sip_devpick_outcome o);

/* Decides; *index gets the picked device's index in in->devs (-1 when refused). */
enum sip_devpick_outcome sip_devpick(const struct sip_devpick_in *in, int *index);

/* The index of the device named name in devs, or -1: for the caller that reads the named
 * device's associations before deciding. */
int sip_devpick_find(const struct sip_devpick_dev *devs, size_t n, const char *name);

#endif
