/* SPDX-License-Identifier: ISC */
#include "dir/dir.h"
#include "core/alarm.h"
#include "core/counter.h"
#include "core/loop.h"
#include "core/util.h"
#include "core/worker.h"
#include "dir/ldap_pool.h"
#include "dir/passwd.h"
#include "dir/policy.h"

#include <errno.h>
#include <event2/event.h>
#include <pthread.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct dir {
	store_t *store;
	struct loop_group *lg;
	struct loop *loop;
	struct workers *workers;
	struct dir_ldap_pool *ldap;
	struct dir_passwd_params argon;
	char dummy_hash[DIR_PASSWD_HASH_MAX];
	int failure_delay_ms;
	int64_t (*clock)(void *);
	void *clock_ud;
	atomic_int stopping; /* release when set, acquire when read: no new attempts */
	struct {
		tg_counter attempts, successes, failures, password_checks;
	} stats;
};

struct areq {
	struct dir *d;
	char cid[LOG_CID_SIZE];
	char userid[STORE_ID_MAX + 1];
	char *cred; /* secret */
	size_t len;
	struct loop *home;
	dir_cb cb;
	void *ud;
	int64_t t0_ms;
	int overlong; /* user id or credential longer than anything stored: cannot match */
	int final;
	enum dir_status status;
	struct store_user u;
	struct store_credpolicy pol;
	unsigned perms;
	int warn_days;
	char dn[1024];
	char detail[256];
};

static int64_t clock_now(struct dir *d)
{
	return d->clock ? d->clock(d->clock_ud) : tg_now_s();
}

static void wipe_cred(struct areq *r)
{
	if (r->cred) {
		sodium_memzero(r->cred, r->len);
		free(r->cred);
		r->cred = NULL;
	}
}

static int perm_group(void *ud, const char *group)
{
	*(unsigned *)ud |= dir_cti_perm_of_group(group);
	return 0;
}

int dir_cti_perms(store_t *st, const char *userid, unsigned *out)
{
	*out = 0;
	return store_user_groups(st, userid, perm_group, out);
}

/* The user's state for one credential type. A user without a row yet has a clean state
 * (store_credstate_get zeroes it), so STORE_NOTFOUND is not an error here. */
static int credstate_load(store_t *st, const char *userid, enum store_credtype type,
                          struct store_credstate *cs)
{
	int rc = store_credstate_get(st, userid, type, cs);
	return rc == STORE_NOTFOUND ? STORE_OK : rc;
}

/* The trace line of one policy decision, naming the credential type. */
void dir_log_policy(const char *cid, const struct store_user *u, enum store_credtype type,
                    const struct store_credstate *cs, const struct store_credpolicy *pol,
                    int64_t now, enum dir_status verdict)
{
	int64_t exp = dir_policy_expires_at(cs, pol);
	int64_t thr = dir_policy_throttle_ends(cs, pol);
	log_ev(LOG_LVL_INFO, cid, "dir_credential_policy",
	       LOG_S("credential", store_credtype_name(type)), LOG_S("user", u->userid),
	       LOG_S("policy", pol->name), LOG_S("verdict", dir_status_name(verdict)),
	       LOG_S("user_type", u->directory == STORE_DIR_LDAP ? "ldap" : "local"),
	       LOG_S("end_user_status", u->status == STORE_USER_INACTIVE ? "inactive" : "active"),
	       LOG_I("hack_count", cs->hackcount), LOG_I("threshold", pol->failedlogonthreshold),
	       LOG_I("throttled_s", thr > now ? thr - now : 0),
	       LOG_I("time_locked_out", cs->timelockedout),
	       LOG_I("time_hacked_lockout", cs->timehackedlockout),
	       LOG_I("last_successful_login", cs->lastsuccessfullogin),
	       LOG_I("days_to_expiry", exp ? (exp - now) / 86400 : -1),
	       LOG_S("does_not_expire", cs->doesnotexpire ? "true" : "false"),
	       LOG_S("user_must_change", cs->mustchange ? "true" : "false"),
	       LOG_S("inactive", cs->inactive ? "true" : "false"));
}

/* After a failure is counted: the trace line, and the lockout it started (if it did).
 * Returns the verdict of a failed check. */
static enum dir_status failure_recorded(const struct store_user *u, enum store_credtype type,
                                        const struct store_credpolicy *pol,
                                        const struct store_credstate *cs, int64_t now,
                                        int locked_now, const char *cid)
{
	dir_log_policy(cid, u, type, cs, pol, now, DIR_BAD_CREDENTIAL);
	if (locked_now) {
		log_ev(LOG_LVL_WARNING, cid, "dir_user_locked_out", LOG_S("user", u->userid),
		       LOG_S("credential", store_credtype_name(type)),
		       LOG_I("hack_count", cs->hackcount),
		       LOG_S("admin_must_unlock", pol->adminmustunlock ? "yes" : "no"));
		alarm_ev("CredentialLockout", ALARM_WARNING, cid, LOG_S("UserID", u->userid),
		         LOG_S("CredentialType", store_credtype_name(type)),
		         LOG_I("HackCount", cs->hackcount),
		         LOG_S("AdminMustUnlock", pol->adminmustunlock ? "true" : "false"));
	}
	return DIR_BAD_CREDENTIAL;
}

/* Applies one credential check's outcome to the user's credential state in one store
 * transaction, so that concurrent attempts (on any node sharing the store) count every
 * failure. Returns the policy's verdict; DIR_UNAVAILABLE when the store failed. */
static enum dir_status record_outcome(store_t *st, const struct store_user *u,
                                      enum store_credtype type, const struct store_credpolicy *pol,
                                      int64_t now, int verified, int *warn_days, const char *cid,
                                      char *detail, size_t detail_cap)
{
	struct store_credstate cs;
	int changed = 0;
	*warn_days = -1;
	/* The common case — the right password on a clean account that logged in within the
	 * hour — changes nothing worth a write transaction. */
	if (verified && store_credstate_get(st, u->userid, type, &cs) == STORE_OK &&
	    dir_policy_success_quiet(u, &cs, pol, now, warn_days))
		return DIR_OK;
	if (!verified) {
		/* A failure is one statement: no transaction (nor its store-wide lock on
		 * PostgreSQL) per wrong guess, and failures on every node add up. */
		int rc = store_credstate_fail(
		    st, u->userid, type, now,
		    pol->adminmustunlock ? -1 : now - (int64_t)pol->lockoutduration * 60,
		    pol->resetfailedlogonsafter > 0
		        ? now - (int64_t)pol->resetfailedlogonsafter * 60
		        : -1,
		    pol->failedlogonthreshold, &cs);
		if (rc == STORE_OK) {
			/* The failure that reached the threshold is the one that locked: the count
			 * only grows by one at a time until the lockout ends. */
			int locked_now = cs.timehackedlockout == now &&
			                 pol->failedlogonthreshold > 0 &&
			                 cs.hackcount == pol->failedlogonthreshold;
			return failure_recorded(u, type, pol, &cs, now, locked_now, cid);
		}
		if (rc != STORE_NOTFOUND)
			goto fail;
		/* No row for the type yet (none should be missing): the transaction makes it. */
	}
	if (store_begin(st) != STORE_OK)
		goto fail;
	if (credstate_load(st, u->userid, type, &cs) != STORE_OK) {
		store_rollback(st);
		goto fail;
	}
	enum dir_status pre = dir_policy_precheck(u, &cs, pol, now, &changed);
	if (pre == DIR_THROTTLED && !verified) {
		/* A failure checked just before a concurrent one throttled the credential: it
		 * still counts (it was checked). */
		pre = DIR_OK;
	}
	if (pre != DIR_OK && verified) {
		/* Locked by a concurrent attempt meanwhile: the lock wins. */
		store_rollback(st);
		snprintf(detail, detail_cap, "account became %s during the check",
		         dir_status_name(pre));
		return pre;
	}
	int was_locked = cs.timehackedlockout != 0;
	enum dir_status res = dir_policy_apply(&cs, pol, now, verified, warn_days);
	if (store_credstate_put(st, u->userid, type, &cs) != STORE_OK ||
	    store_commit(st) != STORE_OK) {
		store_rollback(st);
		goto fail;
	}
	if (!verified)
		return failure_recorded(u, type, pol, &cs, now, !was_locked && cs.timehackedlockout,
		                        cid);
	return res;
fail:
	snprintf(detail, detail_cap, "store: %s", store_last_error());
	return DIR_UNAVAILABLE;
}

static void commit_outcome(struct areq *r, int verified)
{
	char detail[sizeof r->detail];
	r->status =
	    record_outcome(r->d->store, &r->u, STORE_CRED_PASSWORD, &r->pol, clock_now(r->d),
	                   verified, &r->warn_days, r->cid, detail, sizeof detail);
	if (r->status == DIR_UNAVAILABLE ||
	    (verified && r->status != DIR_OK && r->status != DIR_EXPIRED &&
	     r->status != DIR_MUST_CHANGE))
		tg_strlcpy(r->detail, detail, sizeof r->detail);
}

int dir_credential_load(store_t *st, const char *userid, enum store_credtype type,
                        struct store_user *u, struct store_credstate *cs,
                        struct store_credpolicy *pol)
{
	int rc = store_user_get(st, userid, u);
	if (rc != STORE_OK)
		return rc;
	rc = credstate_load(st, userid, type, cs);
	if (rc != STORE_OK)
		return rc;
	return store_credpolicy_effective(st, u, type, cs, pol);
}

enum dir_status dir_policy_record(store_t *st, const char *userid, enum store_credtype type,
                                  int verified, int64_t now, const char *cid)
{
	struct store_user u;
	struct store_credstate cs;
	struct store_credpolicy pol;
	int rc = dir_credential_load(st, userid, type, &u, &cs, &pol), warn;
	if (rc == STORE_NOTFOUND)
		return DIR_UNKNOWN_USER;
	if (rc != STORE_OK)
		return DIR_UNAVAILABLE;
	char detail[128];
	return record_outcome(st, &u, type, &pol, now, verified, &warn, cid, detail, sizeof detail);
}

enum dir_status dir_user_standing(store_t *st, const char *userid, int64_t now, const char *cid,
                                  struct store_user *u, struct store_credstate *cs,
                                  struct store_credpolicy *pol, unsigned *perms, char *detail,
                                  size_t cap)
{
	int rc = dir_credential_load(st, userid, STORE_CRED_PASSWORD, u, cs, pol);
	if (rc == STORE_NOTFOUND) {
		snprintf(detail, cap, "no such user in the store");
		return DIR_UNKNOWN_USER;
	}
	if (rc != STORE_OK || dir_cti_perms(st, userid, perms) != STORE_OK) {
		snprintf(detail, cap, "store: %s", store_last_error());
		return DIR_UNAVAILABLE;
	}
	log_ev(LOG_LVL_INFO, cid, "dir_user", LOG_S("user", userid),
	       LOG_S("directory", u->directory == STORE_DIR_LDAP ? "ldap" : "local"));
	int changed;
	enum dir_status pre = dir_policy_precheck(u, cs, pol, now, &changed);
	dir_log_policy(cid, u, STORE_CRED_PASSWORD, cs, pol, now, pre);
	if (pre != DIR_OK)
		snprintf(detail, cap, "refused before the password check");
	return pre;
}

/* Worker: load the user, check the policy, verify a local password. */
static void phase1_run(void *arg)
{
	struct areq *r = arg;
	struct dir *d = r->d;
	r->final = 1;
	struct store_credstate cs;
	enum dir_status pre =
	    r->overlong == 1
	        ? DIR_UNKNOWN_USER
	        : dir_user_standing(d->store, r->userid, clock_now(d), r->cid, &r->u, &cs, &r->pol,
	                            &r->perms, r->detail, sizeof r->detail);
	if (pre == DIR_UNKNOWN_USER) {
		/* Same cost as a known user: a peer must not learn which ids exist. */
		(void)dir_passwd_verify(d->dummy_hash, r->cred, r->len);
		tg_counter_inc(&d->stats.password_checks);
		r->status = DIR_UNKNOWN_USER;
		snprintf(r->detail, sizeof r->detail, "no such user in the store");
		return;
	}
	if (pre != DIR_OK) {
		r->status = pre;
		return;
	}
	if (r->len == 0) {
		/* An empty password never authenticates (for LDAP it would be an anonymous bind
		 * that succeeds), and it reaches no directory server. */
		snprintf(r->detail, sizeof r->detail, "empty password");
		commit_outcome(r, 0);
		return;
	}
	if (r->overlong == 2) {
		/* Longer than any password we accept: a guess, checked at full cost. */
		(void)dir_passwd_verify(d->dummy_hash, r->cred, r->len);
		snprintf(r->detail, sizeof r->detail, "credential longer than %d bytes",
		         DIR_CREDENTIAL_MAX);
		commit_outcome(r, 0);
		return;
	}
	if (r->u.directory == STORE_DIR_LDAP) {
		r->final = 0; /* continues on the directory loop */
		return;
	}
	int ok = dir_passwd_verify(r->u.passwordhash, r->cred, r->len);
	tg_counter_inc(&d->stats.password_checks);
	wipe_cred(r);
	if (!ok)
		snprintf(r->detail, sizeof r->detail, "local password mismatch");
	commit_outcome(r, ok);
}

static void invoke(void *arg)
{
	struct areq *r = arg;
	struct dir_result res = {
	    .status = r->status,
	    .userid = r->userid,
	    .directory = r->u.directory,
	    .cti_perms = r->status == DIR_OK ? r->perms : 0,
	    .expiry_warning_days = r->status == DIR_OK ? r->warn_days : -1,
	    .dn = r->dn,
	    .detail = r->detail,
	};
	r->cb(r->ud, &res);
	wipe_cred(r);
	free(r);
}

static void deliver_now(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	struct areq *r = arg;
	if (!r->home) {
		invoke(r);
		return;
	}
	if (loop_post(r->home, invoke, r) != 0) {
		log_ev(LOG_LVL_WARNING, r->cid, "dir_result_dropped", LOG_S("user", r->userid),
		       LOG_S("reason", "caller's loop is stopping"));
		wipe_cred(r);
		free(r);
	}
}

/* Directory loop: logs the outcome once, then answers, after the failure delay when the
 * attempt failed. */
static void deliver(struct areq *r)
{
	struct dir *d = r->d;
	wipe_cred(r);
	int64_t ms = tg_mono_ms() - r->t0_ms;
	char perms[256] = "";
	if (r->status == DIR_OK) {
		tg_counter_inc(&d->stats.successes);
		dir_cti_perm_format(r->perms, perms, sizeof perms);
	} else {
		tg_counter_inc(&d->stats.failures);
	}
	log_ev(
	    r->status == DIR_OK ? LOG_LVL_INFO : LOG_LVL_NOTICE, r->cid, "dir_auth_result",
	    LOG_S("user", r->userid),
	    LOG_S("directory", r->u.directory == STORE_DIR_LDAP ? "ldap" : "local"),
	    LOG_S("result", dir_status_name(r->status)),
	    LOG_S("reason", r->detail[0] ? r->detail : NULL),
	    LOG_S("cti_permissions", perms[0] ? perms : NULL),
	    LOG_I_IF(r->status == DIR_OK && r->warn_days >= 0, "expiry_warning_days", r->warn_days),
	    LOG_I("ms", ms));
	int64_t wait =
	    r->status == DIR_OK || atomic_load_explicit(&d->stopping, memory_order_acquire)
	        ? 0
	        : d->failure_delay_ms - ms;
	if (wait > 0) {
		/* libevent measures timers from its cached time on a coarse clock (loop.c):
		 * refresh it, and add a tick of that clock and a ms, so the floor is never
		 * cut short. */
		event_base_update_cache_time(loop_base(d->loop));
		wait = d->failure_delay_ms - (tg_mono_ms() - r->t0_ms) + 1 + loop_coarse_tick_ms();
		struct timeval tv = {(time_t)(wait / 1000), (suseconds_t)((wait % 1000) * 1000)};
		if (event_base_once(loop_base(d->loop), -1, EV_TIMEOUT, deliver_now, r, &tv) == 0)
			return;
	}
	deliver_now(-1, 0, r);
}

static void phase3_run(void *arg)
{
	struct areq *r = arg;
	commit_outcome(r, r->status == DIR_OK);
}

static void phase3_done(void *arg)
{
	deliver(arg);
}

static void ldap_done(void *ud, enum dir_ldap_rc rc, const char *dn)
{
	struct areq *r = ud;
	tg_strlcpy(r->dn, dn, sizeof r->dn);
	wipe_cred(r);
	switch (rc) {
	case DIR_LDAP_OK:
	case DIR_LDAP_BAD_CREDENTIAL:
		if (rc == DIR_LDAP_BAD_CREDENTIAL)
			snprintf(r->detail, sizeof r->detail, "LDAP bind refused the password");
		r->status = rc == DIR_LDAP_OK ? DIR_OK : DIR_BAD_CREDENTIAL;
		if (workers_submit(r->d->workers, phase3_run, phase3_done, r, r->d->loop) == 0)
			return;
		r->status = DIR_UNAVAILABLE;
		snprintf(r->detail, sizeof r->detail, "directory overloaded");
		break;
	case DIR_LDAP_NOT_FOUND:
		r->status = DIR_UNKNOWN_USER;
		snprintf(r->detail, sizeof r->detail, "no LDAP entry matches the filter");
		break;
	case DIR_LDAP_AMBIGUOUS:
		r->status = DIR_UNKNOWN_USER;
		snprintf(r->detail, sizeof r->detail, "several LDAP entries match the filter");
		break;
	case DIR_LDAP_UNAVAILABLE:
		r->status = DIR_UNAVAILABLE;
		snprintf(r->detail, sizeof r->detail, "no LDAP server answered");
		break;
	}
	deliver(r);
}

static void phase1_done(void *arg)
{
	struct areq *r = arg;
	struct dir *d = r->d;
	if (r->final) {
		deliver(r);
		return;
	}
	if (!d->ldap) {
		r->status = DIR_UNAVAILABLE;
		snprintf(r->detail, sizeof r->detail,
		         "user is an LDAP user but no LDAP server is "
		         "configured");
		deliver(r);
		return;
	}
	dir_ldap_pool_auth(d->ldap, r->cid, r->userid, r->cred, r->len, ldap_done, r);
}

int dir_authenticate(struct dir *d, const char *userid, const char *credential, size_t len,
                     const char *cid, struct loop *home, dir_cb cb, void *ud)
{
	if (atomic_load_explicit(&d->stopping, memory_order_acquire))
		return -1;
	struct areq *r = calloc(1, sizeof *r);
	if (!r)
		return -1;
	r->d = d;
	r->home = home;
	r->cb = cb;
	r->ud = ud;
	r->t0_ms = tg_mono_ms();
	r->warn_days = -1;
	tg_strlcpy(r->cid, cid ? cid : "-", sizeof r->cid);
	size_t ulen = strlen(userid);
	/* Over-long ids and credentials cannot match anything. They are never truncated
	 * (a prefix could be somebody else's id or password): they fail after the same work
	 * as any other attempt. */
	if (ulen > STORE_ID_MAX) {
		ulen = STORE_ID_MAX;
		r->overlong = 1;
	} else if (len > DIR_CREDENTIAL_MAX) {
		r->overlong = 2;
	}
	memcpy(r->userid, userid, ulen);
	r->len = len > DIR_CREDENTIAL_MAX ? DIR_CREDENTIAL_MAX : len;
	if (!(r->cred = malloc(r->len ? r->len : 1))) {
		free(r);
		return -1;
	}
	memcpy(r->cred, credential, r->len);
	tg_counter_inc(&d->stats.attempts);
	log_ev(LOG_LVL_INFO, r->cid, "dir_auth_start", LOG_S("user", r->userid),
	       LOG_U("credential_length", len));
	if (workers_submit(d->workers, phase1_run, phase1_done, r, d->loop) != 0) {
		log_ev(LOG_LVL_WARNING, r->cid, "dir_overloaded", LOG_S("user", r->userid));
		wipe_cred(r);
		free(r);
		return -1;
	}
	return 0;
}

struct waiter {
	pthread_mutex_t mu;
	pthread_cond_t cv;
	int done;
	enum dir_status status;
	unsigned perms;
	char *detail;
	size_t cap;
};

static void wait_cb(void *ud, const struct dir_result *r)
{
	struct waiter *w = ud;
	pthread_mutex_lock(&w->mu);
	w->status = r->status;
	w->perms = r->cti_perms;
	if (w->detail)
		tg_strlcpy(w->detail, r->detail, w->cap);
	w->done = 1;
	pthread_cond_signal(&w->cv);
	pthread_mutex_unlock(&w->mu);
}

enum dir_status dir_authenticate_wait(struct dir *d, const char *userid, const char *credential,
                                      size_t len, const char *cid, unsigned *cti_perms,
                                      char *detail, size_t detail_cap)
{
	struct waiter w = {.detail = detail, .cap = detail_cap};
	pthread_mutex_init(&w.mu, NULL);
	pthread_cond_init(&w.cv, NULL);
	if (dir_authenticate(d, userid, credential, len, cid, NULL, wait_cb, &w) != 0) {
		w.status = DIR_UNAVAILABLE;
		if (detail)
			tg_strlcpy(detail, "directory overloaded or stopping", detail_cap);
	} else {
		pthread_mutex_lock(&w.mu);
		while (!w.done)
			pthread_cond_wait(&w.cv, &w.mu);
		pthread_mutex_unlock(&w.mu);
	}
	pthread_cond_destroy(&w.cv);
	pthread_mutex_destroy(&w.mu);
	if (cti_perms)
		*cti_perms = w.perms;
	return w.status;
}

void dir_stats(struct dir *d, struct dir_stats *o)
{
	o->attempts = tg_counter_get(&d->stats.attempts);
	o->successes = tg_counter_get(&d->stats.successes);
	o->failures = tg_counter_get(&d->stats.failures);
	o->password_checks = tg_counter_get(&d->stats.password_checks);
	struct dir_ldap_stats ls = {0};
	if (d->ldap)
		dir_ldap_pool_stats(d->ldap, &ls);
	o->ldap_searches = ls.searches;
	o->ldap_user_binds = ls.user_binds;
	o->ldap_connects = ls.connects;
	o->ldap_timeouts = ls.timeouts;
	o->ldap_failovers = ls.failovers;
}

struct dir *dir_start(const struct dir_options *o, char *err, size_t errlen)
{
	struct dir *d = calloc(1, sizeof *d);
	if (!d) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	d->store = o->store;
	d->clock = o->clock;
	d->clock_ud = o->clock_ud;
	d->argon.t = o->cfg->password.argon2_t;
	d->argon.m_kib = o->cfg->password.argon2_m_kib;
	d->failure_delay_ms = o->cfg->dir.failure_delay_ms;
	unsigned char rnd[24];
	randombytes_buf(rnd, sizeof rnd);
	if (dir_passwd_hash(&d->argon, (const char *)rnd, sizeof rnd, d->dummy_hash) != 0) {
		snprintf(err, errlen, "argon2id: cannot hash (memory limit %u KiB)",
		         d->argon.m_kib);
		free(d);
		return NULL;
	}
	struct dir_ldap_config lc;
	if (dir_ldap_config_load(o->cfg, &lc, err, errlen) != 0) {
		dir_ldap_config_clear(&lc);
		free(d);
		return NULL;
	}
	int nw = o->cfg->dir.workers ? o->cfg->dir.workers : loop_ncores();
	d->lg = loop_group_start(1);
	d->workers = workers_start(nw, 4096);
	if (d->lg)
		d->loop = loop_group_get(d->lg, 0);
	if (!d->lg || !d->workers ||
	    (lc.nservers && !(d->ldap = dir_ldap_pool_new(d->loop, d->workers, &lc)))) {
		dir_ldap_config_clear(&lc);
		snprintf(err, errlen, "cannot start the directory's loop or workers");
		if (d->workers)
			workers_stop(d->workers);
		if (d->lg)
			loop_group_stop(d->lg);
		free(d);
		return NULL;
	}
	log_ev(LOG_LVL_NOTICE, NULL, "dir_started", LOG_I("ldap_servers", lc.nservers),
	       LOG_S("ldap_base", lc.nservers ? lc.base : NULL),
	       LOG_S("ldap_filter", lc.nservers ? lc.filter : NULL));
	dir_ldap_config_clear(&lc);
	return d;
}

static void shutdown_on_loop(void *arg)
{
	struct dir *d = arg;
	if (d->ldap)
		dir_ldap_pool_shutdown(d->ldap);
}

void dir_stop(struct dir *d)
{
	if (!d)
		return;
	atomic_store_explicit(&d->stopping, 1, memory_order_release);
	/* Jobs finish and post their results to the loop, which still runs. */
	workers_stop(d->workers);
	if (loop_post(d->loop, shutdown_on_loop, d) != 0)
		shutdown_on_loop(d);
	loop_group_stop(d->lg);
	dir_ldap_pool_free(d->ldap);
	free(d);
}
