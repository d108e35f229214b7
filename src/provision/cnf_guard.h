/* SPDX-License-Identifier: ISC */
/*
 * cnf_guard: who may fetch a device's cnf.xml over HTTPS (files 6971) when SIP OAuth is on
 * for it (issue 19; with SIP OAuth, Unified CM serves configuration files only to
 * authorized endpoints). A <DEVICE>.cnf.xml whose own sipOAuthMode is 1
 * (ClusterSIPOAuthMode = 1 and the device's security profile enables OAuth: cnf.h) is
 * served on 6971 only to a request with `Authorization: Bearer <token>` (RFC 6750 §2.1)
 * whose access token verifies for audience sip (authz/token.h) and whose sub is the
 * device's owner or a user associated with it:
 *   no Bearer credentials        401, WWW-Authenticate: Bearer realm="telgate"
 *   a token that does not verify 401, ... error="invalid_token" (RFC 6750 §3.1: refresh it)
 *   a valid token of another user, or for a device with no owner and no association
 *                                403 (never "anyone with a token")
 * The signed copy <DEVICE>.cnf.xml.sgn is guarded the same way.
 * Every other file, and every file while the mode is off for the device, is served as on
 * 6970. Plain HTTP 6970 and TFTP are not guarded: the generated file holds no secret
 * (docs/device-files.md "What a cnf.xml holds").
 *
 * cnf_guard_decide is the pure decision (unit-tested); cnf_guard_files plugs the check
 * into the HTTPS listener (files_http.h). The check reads the store for a device file
 * (device row, profile, ClusterSIPOAuthMode, one association row: a few indexed reads),
 * on the loop, as the cnf provider does when the store changed: device files are fetched
 * at boot and on a change, not per call.
 *
 * Threads: any (the store and authz are). Ownership: the store and token service are
 * borrowed and outlive the guard.
 */
#ifndef TG_PROVISION_CNF_GUARD_H
#define TG_PROVISION_CNF_GUARD_H

#include "provision/files_http.h"
#include "store/store.h"

#include <stdint.h>

struct authz;

enum cnf_guard_verdict {
	CNF_GUARD_OPEN,          /* not a guarded file: served as on 6970 */
	CNF_GUARD_AUTHORIZED,    /* a valid token of the owner or an associated user */
	CNF_GUARD_NO_TOKEN,      /* 401 with the Bearer challenge */
	CNF_GUARD_INVALID_TOKEN, /* 401 with error="invalid_token" */
	CNF_GUARD_WRONG_USER,    /* 403 */
	CNF_GUARD_ERROR,         /* 500: the store failed */
	CNF_GUARD_VERDICTS
};

/* The verdict's trace name, e.g. "wrong_user" (never NULL). */
const char *cnf_guard_name(enum cnf_guard_verdict v);

struct cnf_guard_input {
	int oauth_mode;     /* the device's sipOAuthMode (cnf_device_oauth) */
	int token_present;  /* an Authorization: Bearer header came */
	int token_valid;    /* its token verified for audience sip */
	int sub_is_owner;   /* the token's sub is the device's owner */
	int sub_associated; /* ... or is associated with the device */
};

/* The decision. Pure. */
enum cnf_guard_verdict cnf_guard_decide(const struct cnf_guard_input *in);

/* The token of an Authorization header value "Bearer <token>" (scheme in any case, RFC
 * 6750 §2.1: b64token characters) into *tok / *len; 0, or -1 when it is not one. Pure. */
int cnf_guard_bearer(const char *authorization, const char **tok, size_t *len);

struct cnf_guard;
/* A guard on st and az (az NULL: no token verifies); NULL without memory. */
struct cnf_guard *cnf_guard_new(store_t *st, struct authz *az);
/* After the listener it guards has stopped. NULL is a no-op. */
void cnf_guard_free(struct cnf_guard *g);
/* Fills *out to guard an HTTPS listener with g (files_http_start). */
void cnf_guard_files(struct cnf_guard *g, struct files_guard *out);

#endif
