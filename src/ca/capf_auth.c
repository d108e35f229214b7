/* SPDX-License-Identifier: ISC */
/* Whether a peer may consume an enrolment profile: throttle, state, string, consume. */
#include "ca/capf_auth.h"

#include "core/alarm.h"
#include "core/log.h"
#include "core/ratelimit.h"

#include <stdlib.h>
#include <string.h>

/* Sources tracked at once (core/ratelimit.h: a fixed table, ~90 bytes a slot). */
#define CAPF_GUARD_SLOTS 4096

struct capf_guard {
	struct tg_ratelimit *rl;
};

static const char *const names[CAPF_AUTH_RESULTS] = {
    [CAPF_AUTH_OK] = "ok",
    [CAPF_AUTH_THROTTLED] = "throttled",
    [CAPF_AUTH_UNKNOWN] = "unknown_instance",
    [CAPF_AUTH_WRONG] = "wrong_string",
    [CAPF_AUTH_LOCKED] = "locked",
    [CAPF_AUTH_EXPIRED] = "expired",
    [CAPF_AUTH_USED] = "used",
    [CAPF_AUTH_ERROR] = "store_error",
};

const char *capf_auth_name(enum capf_auth r)
{
	return (unsigned)r < CAPF_AUTH_RESULTS ? names[r] : "?";
}

struct capf_guard *capf_guard_new(int failures_max)
{
	struct capf_guard *g = calloc(1, sizeof *g);
	if (!g)
		return NULL;
	g->rl = tg_ratelimit_new(CAPF_GUARD_SLOTS, 60, failures_max);
	if (!g->rl) {
		free(g);
		return NULL;
	}
	return g;
}

void capf_guard_free(struct capf_guard *g)
{
	if (!g)
		return;
	tg_ratelimit_free(g->rl);
	free(g);
}

/* What a profile's state says before its string is looked at: CAPF_AUTH_OK to go on. */
static enum capf_auth state_of(const struct store_capfprofile *p)
{
	if (strcmp(p->status, "locked") == 0)
		return CAPF_AUTH_LOCKED;
	if (strcmp(p->status, "expired") == 0)
		return CAPF_AUTH_EXPIRED;
	if (strcmp(p->status, "pending") != 0 || p->used)
		return CAPF_AUTH_USED;
	return CAPF_AUTH_OK;
}

/* A wrong string: one more consecutive failure for the profile, and the alarm when this
 * one locked it. */
static enum capf_auth wrong(store_t *st, const struct store_capfprofile *p,
                            const struct capf_auth_req *req, int *failures)
{
	int locked_now = 0;
	int rc =
	    store_capf_auth_failed(st, p->instanceid, CAPF_LOCK_FAILURES, failures, &locked_now);
	if (rc != STORE_OK && rc != STORE_NOTFOUND) /* NOTFOUND: re-armed or consumed since */
		return CAPF_AUTH_ERROR;
	if (!locked_now)
		return CAPF_AUTH_WRONG;
	alarm_ev("CapfProfileLocked", ALARM_WARNING, req->cid, LOG_S("InstanceID", p->instanceid),
	         LOG_S("UserID", p->userid), LOG_I("Failures", *failures),
	         LOG_S("Source", req->source),
	         LOG_S("Action", "telgate capf rearm makes it usable again"));
	return CAPF_AUTH_LOCKED;
}

static enum capf_auth decide(store_t *st, const unsigned char key[CAPF_KEY_BYTES],
                             struct capf_guard *g, const struct capf_auth_req *req,
                             struct store_capfprofile *out, int *failures)
{
	if (g && tg_ratelimit_check(g->rl, req->source, req->now, 0))
		return CAPF_AUTH_THROTTLED;
	struct store_capfprofile p;
	int rc = store_capf_get(st, req->instanceid, req->now, &p);
	if (rc == STORE_NOTFOUND)
		return CAPF_AUTH_UNKNOWN;
	if (rc != STORE_OK)
		return CAPF_AUTH_ERROR;
	enum capf_auth r = state_of(&p);
	if (r != CAPF_AUTH_OK)
		return r;
	if (capf_verify(key, &p, req->secret, req->secret_len) != CAPF_MATCH)
		return wrong(st, &p, req, failures);
	/* Verified; now the one write that decides who consumes it. Losing the race means
	 * someone else used it between the read and here. */
	rc = store_capf_consume(st, req->instanceid, p.secrethash, req->now, out);
	if (rc == STORE_NOTFOUND)
		return CAPF_AUTH_USED;
	return rc == STORE_OK ? CAPF_AUTH_OK : CAPF_AUTH_ERROR;
}

enum capf_auth capf_authenticate(store_t *st, const unsigned char key[CAPF_KEY_BYTES],
                                 struct capf_guard *g, const struct capf_auth_req *req,
                                 struct store_capfprofile *out)
{
	memset(out, 0, sizeof *out);
	int failures = -1;
	enum capf_auth r = decide(st, key, g, req, out, &failures);
	if (r != CAPF_AUTH_OK)
		memset(out, 0, sizeof *out);
	/* Every refusal but a throttled or failed-store one counts against the source: a
	 * peer walking through instance ids is slowed down whatever it finds. */
	if (g && r != CAPF_AUTH_OK && r != CAPF_AUTH_THROTTLED && r != CAPF_AUTH_ERROR)
		tg_ratelimit_check(g->rl, req->source, req->now, 1);
	log_ev(r == CAPF_AUTH_OK ? LOG_LVL_INFO : LOG_LVL_NOTICE, req->cid, "capf_auth",
	       LOG_S("instance_id", req->instanceid), LOG_S("source", req->source),
	       LOG_S("result", capf_auth_name(r)), LOG_I_IF(failures >= 0, "failures", failures),
	       LOG_S("user", r == CAPF_AUTH_OK ? out->userid : NULL),
	       LOG_S("error", r == CAPF_AUTH_ERROR ? store_last_error() : NULL));
	return r;
}
