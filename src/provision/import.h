/* SPDX-License-Identifier: ISC */
/*
 * import: loads users, groups, credential policies, device security profiles, devices,
 * associations and parameters
 * from one JSON document (docs/provisioning.md) into the store, all or nothing.
 *
 * The whole document is validated first (types, lengths, allowed values, duplicates,
 * unknown members), then plain-text passwords are hashed (argon2id), then everything is
 * written in one store transaction in which references (policies, groups, owners,
 * security profiles, associations) are checked against the file and the store. Any error rolls back
 * and is reported with the JSON path of the element at fault, e.g. "$.users[3].groups[1]: group 'x'
 * does not exist". A password never appears in an error.
 *
 * Blocking and CPU-heavy: call from a worker thread or at start-up. The caller owns text;
 * import wipes any plain-text password it parsed from its own copies.
 */
#ifndef TG_PROV_IMPORT_H
#define TG_PROV_IMPORT_H

#include "dir/passwd.h"
#include "store/store.h"

#include <stddef.h>

#define PROV_IMPORT_MAX (16u * 1024 * 1024)

struct prov_options {
	struct dir_passwd_params pw;
	const char *sip_realm; /* realm for users' digestpassword HA1s; NULL = "telgate" */
	/* Called after each element is written inside the transaction (tests use it to
	 * interrupt an import); return nonzero to abort. May be NULL. */
	int (*progress)(void *ud, const char *path);
	void *ud;
};

struct prov_result {
	int parameters, policies, groups, securityprofiles, users, devices, associations;
};

/* Returns 0, or -1 with err set ("$.path: reason"). */
int prov_import(store_t *st, const char *text, size_t len, const struct prov_options *o,
                struct prov_result *res, char *err, size_t errlen);

#endif
