/* SPDX-License-Identifier: ISC */
/*
 * linepick: the store side of picking a REGISTER's device (the decision itself is
 * sip/devpick.h's): reads the devices a line is on and the users associated with the
 * device the Contact names, and asks sip_devpick. Any authentication calls it with its
 * authenticated user id (a digest user name; a bearer token's sub).
 *
 * Also the users associated with a device (enduserdevicemap) as an array, for the checks
 * that need them (devpick, the edge's asserted user id in sip/register.c).
 *
 * Threads: blocking store reads: a worker. Ownership: *out is the caller's (filled in
 * place); a struct sip_devusers owns its strings until sip_devusers_free.
 */
#ifndef TG_SIP_LINEPICK_H
#define TG_SIP_LINEPICK_H

#include "sip/devpick.h"
#include "store/store.h"

#include <stddef.h>

/* The users associated with a device (no fixed limit: any of them may match). */
struct sip_devusers {
	char **p;
	size_t n, cap;
	int bad; /* out of memory while loading: treat as a store failure */
};
/* STORE_OK, or the store's error (or STORE_ERROR when out of memory); free *u either way. */
int sip_devusers_load(store_t *st, const char *device, struct sip_devusers *u);
void sip_devusers_free(struct sip_devusers *u);

/* The request's side of a pick. */
struct sip_linepick_req {
	const char *line;        /* the AOR user part */
	const char *devicename;  /* the Contact's device name, "" = none */
	int devicename_conflict; /* contacts named different devices */
	const char *user;        /* the authenticated user id */
};

/* Picks the device for r: *o gets devpick's outcome, *ndevs how many devices the line is
 * on, and *out the picked device (zeroed when refused). Returns STORE_OK (whatever the
 * outcome), or a store error (then *o is meaningless). */
int sip_linepick(store_t *st, const struct sip_linepick_req *r, struct store_device *out,
                 enum sip_devpick_outcome *o, size_t *ndevs);

#endif
