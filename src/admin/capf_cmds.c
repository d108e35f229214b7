/* SPDX-License-Identifier: ISC */
#include "admin/capf_cmds.h"

#include "admin/cmd_opts.h"

#include "ca/capf.h"
#include "core/log.h"
#include "core/util.h"

#include <sodium.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sysexits.h>

/* --expires-in's value (NULL: absent, *life unchanged). NULL, or the usage error. */
static json_t *expires_in(const char *v, int64_t *life)
{
	if (v && capf_duration_parse(v, life) != 0)
		return admin_usage(
		    "--expires-in '%.32s': a duration such as 30m, 24h or 7d (at most "
		    "365d)",
		    v);
	return NULL;
}

static void config_now(struct admin_ctx *a, struct tg_config *out)
{
	pthread_mutex_lock(&a->mu);
	*out = a->cfg;
	pthread_mutex_unlock(&a->mu);
}

static void kv(json_t *t, const char *name, const char *value)
{
	const char *row[] = {name, value};
	ctl_table_add_row(t, row, 2);
}

/* The new secret of a profile (add, rearm): generated when given is NULL (returned in
 * generated, to be shown once), else the administrator's string, checked and hashed.
 * NULL, or the error answer; *warn is set for a chosen string under the advised length. */
struct capf_new_secret {
	struct capf_secret sec;
	char generated[CAPF_GENERATED_LEN + 1];
	int warn;
};

static json_t *make_secret(struct admin_ctx *a, const char *instanceid, const char *given,
                           struct capf_new_secret *out, const char *cid)
{
	memset(out, 0, sizeof *out);
	struct tg_config cfg;
	config_now(a, &cfg);
	unsigned char key[CAPF_KEY_BYTES];
	char err[300];
	int rc;
	if (!given) {
		if (capf_key_load(cfg.pki.dir, key, err, sizeof err) != 0)
			return ctl_error("%s", err);
		capf_generate(out->generated);
		rc = capf_secret_make(key, NULL, instanceid, out->generated, CAPF_GENERATED_LEN, 1,
		                      &out->sec);
		sodium_memzero(key, sizeof key);
	} else {
		size_t len = strlen(given);
		const char *why = capf_string_check(given, len, cfg.pki.capf_min_length);
		if (why)
			return admin_usage(
			    "%s (at least %d characters, at most %d, printable ASCII "
			    "without spaces)",
			    why, cfg.pki.capf_min_length, CAPF_STRING_MAX);
		struct dir_passwd_params pw = {.t = (unsigned)cfg.password.argon2_t,
		                               .m_kib = (unsigned)cfg.password.argon2_m_kib};
		rc = capf_secret_make(NULL, &pw, instanceid, given, len, 0, &out->sec);
		out->warn = len < CAPF_MIN_LENGTH_ADVISED;
		if (out->warn)
			log_ev(LOG_LVL_WARNING, cid, "capf_short_auth_string",
			       LOG_S("instance_id", instanceid), LOG_I("length", len),
			       LOG_I("advised", CAPF_MIN_LENGTH_ADVISED),
			       LOG_I("capf_min_length", cfg.pki.capf_min_length));
	}
	if (rc != 0)
		return ctl_error("cannot hash the authentication string (password.argon2_* "
		                 "parameters?)");
	return NULL;
}

/* The string given on the command line is no longer needed once hashed: wipe it from
 * the request, so nothing later (the audit record included) can see it. */
static void wipe_arg(const struct ctl_request *r, const struct admin_opt *o)
{
	if (o->value)
		sodium_memzero((void *)(uintptr_t)r->argv[o->at], strlen(r->argv[o->at]));
}

/* The answer of add and rearm: the profile, and the generated string once. */
static json_t *answer(const struct store_capfprofile *p, struct capf_new_secret *s,
                      const char *done)
{
	static const char *const cols[] = {"name", "value"};
	json_t *t = ctl_table(cols, 2);
	char exp[32];
	tg_fmt_time(p->expires, exp, sizeof exp);
	kv(t, "instance_id", p->instanceid);
	kv(t, "user", p->userid);
	kv(t, "auth_mode", p->authmode);
	kv(t, "auth_string",
	   s->generated[0]               ? s->generated
	   : strcmp(p->authmode, "none") ? "(as given; not shown)"
	                                 : "-");
	kv(t, "key", p->keytype);
	kv(t, "operation", p->operation);
	kv(t, "status", "pending");
	kv(t, "expires", exp);
	sodium_memzero(s->generated, sizeof s->generated);
	char msg[400];
	snprintf(msg, sizeof msg, "%s%s%s", done,
	         strcmp(p->authmode, "none") == 0
	             ? "; no authentication string: anyone who knows the instance id can enrol "
	               "until it is used or expires"
	         : s->sec.kind[0] && strcmp(s->sec.kind, "hmac") == 0
	             ? "; the authentication string is shown this once: give it to the client "
	               "now"
	             : "",
	         s->warn ? "; warning: the authentication string is shorter than 12 characters "
	                   "(pki.capf_min_length allows it)"
	                 : "");
	json_object_set_new(t, "message", json_string(msg));
	return t;
}

static json_t *store_failed(void)
{
	return ctl_error("store unavailable: %s", store_last_error());
}

json_t *cmd_capf_add(struct admin_ctx *a, const struct ctl_request *r, const char *cid)
{
	struct admin_opt o[] = {{"--instance-id", NULL, 0}, {"--auth-mode", NULL, 0},
	                        {"--auth-string", NULL, 0}, {"--key", NULL, 0},
	                        {"--operation", NULL, 0},   {"--expires-in", NULL, 0}};
	json_t *e = admin_opts_parse(r, 3, o, sizeof o / sizeof o[0]);
	if (!e && !o[0].value)
		e = admin_usage("%s", "capf add needs --instance-id ID");
	struct store_capfprofile p;
	memset(&p, 0, sizeof p);
	const char *user = r->argv[2], *why;
	tg_strlcpy(p.userid, user, sizeof p.userid);
	if (!e && (why = capf_instanceid_check(o[0].value)))
		e = admin_usage("%s", why);
	if (!e && o[1].value && !capf_authmode_valid(o[1].value))
		e = admin_usage("--auth-mode '%.32s': use string or none", o[1].value);
	if (!e && o[3].value && !capf_keytype_valid(o[3].value))
		e = admin_usage("--key '%.32s': use ec-p256, ec-p384, rsa-2048 or rsa-3072",
		                o[3].value);
	if (!e && o[4].value && !capf_operation_valid(o[4].value))
		e = admin_usage("--operation '%.32s': use install or delete", o[4].value);
	int64_t life = CAPF_EXPIRES_DEFAULT_S;
	if (!e)
		e = expires_in(o[5].value, &life);
	tg_strlcpy(p.authmode, o[1].value ? o[1].value : "string", sizeof p.authmode);
	int none = strcmp(p.authmode, "none") == 0;
	if (!e && none && o[2].value)
		e = admin_usage("%s", "--auth-mode none takes no --auth-string");
	struct store_user u;
	int rc = e ? STORE_OK : store_user_get(a->store, user, &u);
	sodium_memzero(&u, sizeof u);
	if (!e && rc == STORE_NOTFOUND)
		e = ctl_error("no user '%.128s'", user);
	else if (!e && rc != STORE_OK)
		e = store_failed();
	if (!e) {
		tg_strlcpy(p.instanceid, o[0].value, sizeof p.instanceid);
		struct store_capfprofile old;
		rc = store_capf_get(a->store, p.instanceid, tg_now_s(), &old);
		sodium_memzero(&old, sizeof old);
		if (rc == STORE_OK)
			e = ctl_error("instance id '%s' already has a profile (capf rearm or capf "
			              "delete it)",
			              p.instanceid);
		else if (rc != STORE_NOTFOUND)
			e = store_failed();
	}
	struct capf_new_secret s;
	memset(&s, 0, sizeof s);
	if (!e && !none)
		e = make_secret(a, p.instanceid, o[2].value, &s, cid);
	wipe_arg(r, &o[2]);
	if (e)
		return e;
	tg_strlcpy(p.secretkind, s.sec.kind, sizeof p.secretkind);
	tg_strlcpy(p.secrethash, s.sec.hash, sizeof p.secrethash);
	tg_strlcpy(p.keytype, o[3].value ? o[3].value : "ec-p256", sizeof p.keytype);
	tg_strlcpy(p.operation, o[4].value ? o[4].value : "install", sizeof p.operation);
	p.created = tg_now_s();
	p.expires = p.created + life;
	rc = store_capf_add(a->store, &p);
	if (rc != STORE_OK) {
		sodium_memzero(&s, sizeof s);
		return rc == STORE_CONSTRAINT ? ctl_error("profile refused: %s", store_last_error())
		                              : store_failed();
	}
	log_ev(LOG_LVL_NOTICE, cid, "capf_profile_added", LOG_S("instance_id", p.instanceid),
	       LOG_S("user", p.userid), LOG_S("auth_mode", p.authmode),
	       LOG_S("secret", p.secretkind[0] ? p.secretkind : NULL), LOG_S("key", p.keytype),
	       LOG_S("operation", p.operation), LOG_I("expires", p.expires));
	return answer(&p, &s, "profile added");
}

static const char *const list_cols[] = {"instance_id", "user",   "auth_mode", "key",    "operation",
                                        "status",      "serial", "failures",  "expires"};
#define LIST_NCOLS (sizeof list_cols / sizeof list_cols[0])

static int list_row(void *ud, const struct store_capfprofile *p)
{
	char failures[16], exp[32];
	snprintf(failures, sizeof failures, "%d", p->failures);
	tg_fmt_time(p->expires, exp, sizeof exp);
	const char *row[LIST_NCOLS] = {p->instanceid,
	                               p->userid,
	                               p->authmode,
	                               p->keytype,
	                               p->operation,
	                               p->status,
	                               p->serial[0] ? p->serial : "-",
	                               failures,
	                               exp};
	ctl_table_add_row(ud, row, LIST_NCOLS);
	return 0;
}

json_t *cmd_capf_list(struct admin_ctx *a, const struct ctl_request *r, const char *cid)
{
	(void)cid;
	json_t *t = ctl_table(list_cols, LIST_NCOLS);
	if (store_capf_list(a->store, r->argc == 3 ? r->argv[2] : NULL, tg_now_s(), list_row, t) !=
	    STORE_OK) {
		json_decref(t);
		return store_failed();
	}
	return t;
}

/* How the string is kept, in words: never the string, never its hash. */
static const char *secret_words(const struct store_capfprofile *p)
{
	if (strcmp(p->secretkind, "hmac") == 0)
		return "generated, stored as HMAC-SHA-256";
	if (strcmp(p->secretkind, "argon2id") == 0)
		return "chosen by an administrator, stored as argon2id";
	return "none";
}

json_t *cmd_capf_show(struct admin_ctx *a, const struct ctl_request *r, const char *cid)
{
	(void)cid;
	struct store_capfprofile p;
	int rc = store_capf_get(a->store, r->argv[2], tg_now_s(), &p);
	if (rc == STORE_NOTFOUND)
		return ctl_error("no profile with instance id '%.64s'", r->argv[2]);
	if (rc != STORE_OK)
		return store_failed();
	static const char *const cols[] = {"name", "value"};
	json_t *t = ctl_table(cols, 2);
	char failures[32], created[32], exp[32];
	snprintf(failures, sizeof failures, "%d of %d", p.failures, CAPF_LOCK_FAILURES);
	tg_fmt_time(p.created, created, sizeof created);
	tg_fmt_time(p.expires, exp, sizeof exp);
	kv(t, "instance_id", p.instanceid);
	kv(t, "user", p.userid);
	kv(t, "auth_mode", p.authmode);
	kv(t, "auth_string", secret_words(&p));
	kv(t, "key", p.keytype);
	kv(t, "operation", p.operation);
	kv(t, "status", p.status);
	kv(t, "serial", p.serial[0] ? p.serial : "-");
	kv(t, "reason", p.reason[0] ? p.reason : "-");
	kv(t, "failures", failures);
	kv(t, "used", p.used ? "true" : "false");
	kv(t, "created", created);
	kv(t, "expires", exp);
	sodium_memzero(&p, sizeof p);
	return t;
}

json_t *cmd_capf_delete(struct admin_ctx *a, const struct ctl_request *r, const char *cid)
{
	int rc = store_capf_delete(a->store, r->argv[2]);
	if (rc == STORE_NOTFOUND)
		return ctl_error("no profile with instance id '%.64s'", r->argv[2]);
	if (rc != STORE_OK)
		return store_failed();
	log_ev(LOG_LVL_NOTICE, cid, "capf_profile_deleted", LOG_S("instance_id", r->argv[2]));
	return ctl_message("profile %s deleted", r->argv[2]);
}

json_t *cmd_capf_rearm(struct admin_ctx *a, const struct ctl_request *r, const char *cid)
{
	struct admin_opt o[] = {{"--auth-string", NULL, 0}, {"--expires-in", NULL, 0}};
	json_t *e = admin_opts_parse(r, 3, o, sizeof o / sizeof o[0]);
	int64_t life = CAPF_EXPIRES_DEFAULT_S;
	if (!e)
		e = expires_in(o[1].value, &life);
	struct store_capfprofile p;
	int rc = e ? STORE_OK : store_capf_get(a->store, r->argv[2], tg_now_s(), &p);
	if (!e && rc == STORE_NOTFOUND)
		e = ctl_error("no profile with instance id '%.64s'", r->argv[2]);
	else if (!e && rc != STORE_OK)
		e = store_failed();
	int none = !e && strcmp(p.authmode, "none") == 0;
	if (!e && none && o[0].value)
		e = admin_usage("%s", "the profile's auth mode is none: it takes no --auth-string");
	struct capf_new_secret s;
	memset(&s, 0, sizeof s);
	if (!e && !none)
		e = make_secret(a, p.instanceid, o[0].value, &s, cid);
	wipe_arg(r, &o[0]);
	if (e)
		return e;
	char was[sizeof p.status];
	tg_strlcpy(was, p.status, sizeof was);
	p.expires = tg_now_s() + life;
	rc = store_capf_rearm(a->store, p.instanceid, s.sec.kind, s.sec.hash, p.expires);
	if (rc != STORE_OK) {
		sodium_memzero(&s, sizeof s);
		return rc == STORE_NOTFOUND
		           ? ctl_error("no profile with instance id '%.64s'", r->argv[2])
		           : store_failed();
	}
	log_ev(LOG_LVL_NOTICE, cid, "capf_profile_rearmed", LOG_S("instance_id", p.instanceid),
	       LOG_S("user", p.userid), LOG_S("was", was),
	       LOG_S("secret", s.sec.kind[0] ? s.sec.kind : NULL), LOG_I("expires", p.expires));
	char done[64];
	snprintf(done, sizeof done, "profile re-armed (was %s)", was);
	return answer(&p, &s, done);
}
