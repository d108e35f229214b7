/* SPDX-License-Identifier: ISC */
/*
 * dir_types: the results and permissions the directory module hands to its callers, in a
 * header of their own so that pure modules (policy) and the asynchronous front
 * (dir.h) share them without pulling each other in.
 */
#ifndef TG_DIR_TYPES_H
#define TG_DIR_TYPES_H

/* Why a login failed. Only the administrator and the trace see the reason; a network
 * peer learns "authentication failed" and nothing more. */
enum dir_status {
	DIR_OK = 0,
	DIR_BAD_CREDENTIAL, /* wrong password (or empty) */
	DIR_UNKNOWN_USER,   /* not provisioned, or not found in the LDAP directory */
	DIR_LOCKED,         /* locked by an administrator */
	DIR_HACKED_LOCKED,  /* locked after too many consecutive failures */
	DIR_THROTTLED,      /* too many recent failures: not checked until the interval ends */
	DIR_INACTIVE,       /* account inactive, or unused longer than the policy allows */
	DIR_EXPIRED,        /* credential older than the policy allows */
	DIR_MUST_CHANGE,    /* right password, but the user must change it first */
	DIR_UNAVAILABLE,    /* no directory server answered in time, or the store failed */
};

const char *dir_status_name(enum dir_status s);

/* CTI permissions, from user groups named as in Unified CM. */
enum dir_cti_perm {
	DIR_CTI_ENABLED = 1u << 0,        /* Standard CTI Enabled (required to log in) */
	DIR_CTI_SECURE = 1u << 1,         /* Standard CTI Secure Connection */
	DIR_CTI_ALL_DEVICES = 1u << 2,    /* Standard CTI Allow Control of All Devices */
	DIR_CTI_PARK_MONITOR = 1u << 3,   /* Standard CTI Allow Call Park Monitoring */
	DIR_CTI_MODIFY_CALLING = 1u << 4, /* Standard CTI Allow Calling Number Modification */
	DIR_CTI_CALL_MONITOR = 1u << 5,   /* Standard CTI Allow Call Monitoring */
	DIR_CTI_CALL_RECORD = 1u << 6,    /* Standard CTI Allow Call Recording */
	DIR_CTI_SRTP_KEYS = 1u << 7,      /* Standard CTI Allow Reception of SRTP Key Material */
};

/* The permission bit a group name grants, or 0 for groups without a CTI meaning. */
unsigned dir_cti_perm_of_group(const char *group);
/* Writes the names of the set bits ("enabled,secure,...") into out; "none" if none. */
void dir_cti_perm_format(unsigned perms, char *out, unsigned long cap);

#endif
