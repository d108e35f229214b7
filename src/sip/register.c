/* SPDX-License-Identifier: ISC */
#include "sip/register.h"
#include "core/alarm.h"
#include "core/counter.h"
#include "core/log.h"
#include "core/ratelimit.h"
#include "core/util.h"
#include "core/devstate.h"
#include "dir/dir.h"
#include "dir/policy.h"
#include "sip/accounts.h"
#include "sip/authz.h"
#include "sip/charge.h"
#include "sip/linepick.h"
#include "sip/location.h"
#include "sip/oauth.h"

#include <sodium.h>
#include <stdio.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* The per-source throttle: sources tracked at once, and its window (a minute). */
#define THROTTLE_SLOTS 4096
#define THROTTLE_WINDOW_S 60
#define SIP_NODE_WARN_MAX 256

struct sip_reg {
	const struct tg_config *cfg;
	store_t *store;
	struct sip_loc *loc;
	struct devstate *devstate; /* in service at the first binding, out at the last */
	uint8_t secret[SIP_DIGEST_SECRET_LEN]; /* signs the nonces */
	struct sip_nc_cache *nc;
	struct sip_accounts *accounts; /* what a refresh needs, without the store */
	/* failed digests per source a minute (sip.source_failures_max), and the once a
	 * minute gate of the unreadable-Authorization log line, by sip_source_key() */
	struct tg_ratelimit *throttle;
	char dummy_md5[SIP_DIGEST_HEX_MAX], dummy_sha[SIP_DIGEST_HEX_MAX];
	tg_counter nonce_replays; /* sip_reg_nonce_replays */
	struct authz *authz;      /* verifies bearer tokens; NULL: every token refused */
	_Atomic int oauth_mode;   /* ClusterSIPOAuthMode as applied (registrar.h) */
	char authz_server[300];   /* RFC 8898 authz_server: the token service's URL */
};

struct sip_reg *sip_reg_new(const struct sip_reg_options *o)
{
	struct sip_reg *g = calloc(1, sizeof *g);
	if (!g)
		return NULL;
	g->cfg = o->cfg;
	g->store = o->store;
	g->loc = o->loc;
	g->devstate = o->devstate;
	g->authz = o->authz;
	tg_strlcpy(g->authz_server, g->cfg->oauth.issuer, sizeof g->authz_server);
	randombytes_buf(g->secret, sizeof g->secret);
	char rnd[32];
	randombytes_buf(rnd, sizeof rnd);
	sip_digest_ha1(SIP_DIGEST_MD5, "-", g->cfg->sip.realm, rnd, sizeof rnd, g->dummy_md5);
	sip_digest_ha1(SIP_DIGEST_SHA256, "-", g->cfg->sip.realm, rnd, sizeof rnd, g->dummy_sha);
	g->nc = sip_nc_cache_new(1u << 16);
	g->accounts = sip_accounts_new();
	g->throttle =
	    tg_ratelimit_new(THROTTLE_SLOTS, THROTTLE_WINDOW_S, g->cfg->sip.source_failures_max);
	if (!g->nc || !g->accounts || !g->throttle) {
		sip_reg_free(g);
		return NULL;
	}
	return g;
}

void sip_reg_set_oauth_mode(struct sip_reg *g, int on)
{
	atomic_store_explicit(&g->oauth_mode, on ? 1 : 0, memory_order_relaxed);
}

int sip_reg_oauth_mode(struct sip_reg *g)
{
	return atomic_load_explicit(&g->oauth_mode, memory_order_relaxed);
}

uint64_t sip_reg_nonce_replays(struct sip_reg *g)
{
	return tg_counter_get(&g->nonce_replays);
}

void sip_reg_free(struct sip_reg *g)
{
	if (!g)
		return;
	sip_nc_cache_free(g->nc);
	sip_accounts_free(g->accounts);
	tg_ratelimit_free(g->throttle);
	sodium_memzero(g->secret, sizeof g->secret);
	free(g);
}

/* A store failure as the answer: a database that cannot be reached (PostgreSQL down or
 * restarting) is "try again later" (503 with Retry-After, RFC 3261 21.5.4), anything else
 * the server's own error (500). */
static enum sip_reg_outcome store_failed(int rc)
{
	return rc == STORE_UNAVAILABLE ? SIP_REG_BUSY : SIP_REG_SERVER_ERROR;
}

/* --- the source throttle ----------------------------------------------------------- */

/* 1 when the source has failed too often this minute; failed: count one more first. */
static int throttled(struct sip_reg *g, const char *source, int64_t now, int failed)
{
	char key[SIP_SOURCE_KEY_MAX];
	sip_source_key(source, key, sizeof key);
	return tg_ratelimit_check(g->throttle, key, now, failed);
}

/* 1 when an unreadable Authorization from this source should be logged (once a minute). */
static int bad_auth_log_due(struct sip_reg *g, const char *source, int64_t now)
{
	char key[SIP_SOURCE_KEY_MAX];
	sip_source_key(source, key, sizeof key);
	return tg_ratelimit_due(g->throttle, key, now);
}

/* THROTTLED when x's source failed too often this minute (an edge carries many users from
 * one address and throttles them itself: never refused here). */
static enum sip_reg_outcome source_refused(struct sip_reg *g, struct sip_reg_req *x, int64_t now)
{
	if (x->edge[0] || !throttled(g, x->source, now, 0))
		return SIP_REG_CONTINUE;
	log_ev(LOG_LVL_WARNING, x->req.callid, "sip_auth_failed", LOG_S("source", x->source),
	       LOG_S("user", x->cr.username), LOG_S("aor", x->req.aor_user),
	       LOG_S("transport", x->transport), LOG_S("credential", "digest"),
	       LOG_S("reason", sip_auth_charge(SIP_AUTH_SOURCE_THROTTLED, 0).reason));
	return SIP_REG_THROTTLED;
}

/* --- bindings ------------------------------------------------------------------------ */

/* The REGISTER's contacts applied to the device's bindings (RFC 3261 §10.3 steps 6-7),
 * under the device's lock in the location table; o: a refusal's outcome. */
struct edit {
	struct sip_reg *g;
	struct sip_reg_req *x;
	int64_t now;
	enum sip_reg_outcome o;
};

/* The binding a contact updates (n when none): the one with the same +sip.instance and
 * reg-id (RFC 5626 §6, RFC 5627 §7.1: a phone that rebooted behind NAT and registers from
 * a new address replaces its binding), else the one with the same URI (RFC 3261 §10.3). */
static int binding_of(const struct store_registration *b, int n, const struct sip_contact *c)
{
	if (c->instance[0])
		for (int k = 0; k < n; k++)
			if (b[k].regid == c->regid && strcmp(b[k].sipinstance, c->instance) == 0)
				return k;
	int k = 0;
	while (k < n && strcmp(b[k].contact, c->uri) != 0)
		k++;
	return k;
}

/* Returns 0, or nonzero with ed->o the refusal. */
static int edit_bindings(void *ud, struct store_registration *b, int *n, int cap)
{
	struct edit *ed = ud;
	struct sip_reg_req *x = ed->x;
	const struct tg_config *cfg = ed->g->cfg;
	struct sip_req *q = &x->req;
	for (int i = 0; i < *n; i++)
		if (strcmp(b[i].callid, q->callid) == 0 && q->cseq <= b[i].cseq &&
		    (q->star || q->ncontacts)) {
			ed->o = SIP_REG_OUT_OF_ORDER;
			return 1;
		}
	if (q->star)
		*n = 0;
	for (int i = 0; i < q->ncontacts; i++) {
		const struct sip_contact *c = &q->contacts[i];
		/* 0..2^32-1 as sent (msg.h); shortened to max_expires (RFC 3261 §10.3 step 7) */
		int64_t e = c->expires >= 0   ? c->expires
		            : q->expires >= 0 ? q->expires
		                              : cfg->sip.default_expires;
		if (e > 0 && e < cfg->sip.min_expires) {
			snprintf(x->detail, sizeof x->detail, "Min-Expires: %d\r\n",
			         cfg->sip.min_expires);
			ed->o = SIP_REG_INTERVAL_TOO_BRIEF;
			return 1;
		}
		if (e > cfg->sip.max_expires)
			e = cfg->sip.max_expires;
		int k = binding_of(b, *n, c);
		/* A binding found by instance takes the new URI: another one holding that URI
		 * goes (one binding per contact URI, as the store keys them). */
		for (int d = 0; k < *n && d < *n; d++)
			if (d != k && strcmp(b[d].contact, c->uri) == 0) {
				b[d] = b[--*n];
				if (k == *n)
					k = d;
				break;
			}
		if (e == 0) {
			if (k < *n)
				b[k] = b[--*n];
			continue;
		}
		if (k == *n) {
			if (*n == cap) {
				ed->o = SIP_REG_TOO_MANY_BINDINGS;
				return 1;
			}
			(*n)++;
		}
		struct store_registration *r = &b[k];
		memset(r, 0, sizeof *r);
		/* The AOR as stored: the line and the host, cut to the column (the line is what
		 * identifies the binding; the host is informative). */
		char aor[sizeof q->aor_user + sizeof q->aor_host + 8];
		struct tg_sbuf ab = {aor, sizeof aor, 0, 0}; /* no format parsing per binding */
		tg_sbuf_putn(&ab, "sip:", 4);
		tg_sbuf_put(&ab, q->aor_user);
		tg_sbuf_putn(&ab, "@", 1);
		tg_sbuf_put(&ab, q->aor_host);
		tg_strlcpy(r->aor, aor, sizeof r->aor);
		tg_strlcpy(r->contact, c->uri, sizeof r->contact);
		tg_strlcpy(r->callid, q->callid, sizeof r->callid);
		r->cseq = (uint32_t)q->cseq;
		r->expires = ed->now + e;
		tg_strlcpy(r->transport, x->transport, sizeof r->transport);
		tg_strlcpy(r->source, x->source, sizeof r->source);
		tg_strlcpy(r->sipinstance, c->instance, sizeof r->sipinstance);
		r->regid = c->regid;
	}
	return 0;
}

/* "Date: Tue, 01 Dec 2026 02:40:00 GMT\r\n" (RFC 3261 §20.17, what strftime's
 * "%a, %d %b %Y %H:%M:%S GMT" gives in the C locale) into out (at least 40 bytes, NUL
 * added); returns its length. Formatted once a second per thread: gmtime_r and strftime
 * were ~1,400 instructions per REGISTER. */
static size_t sip_date_line(char *out)
{
	static _Thread_local time_t last = -1;
	static _Thread_local char line[48];
	static _Thread_local size_t len;
	time_t t = time(NULL);
	if (t != last) {
		static const char days[] = "SunMonTueWedThuFriSat",
		                  months[] = "JanFebMarAprMayJunJulAugSepOctNovDec";
		struct tm tm;
		if (!gmtime_r(&t, &tm) || tm.tm_year + 1900 < 0 || tm.tm_year + 1900 > 9999)
			return out[0] = '\0', 0;
		char *p = line;
		memcpy(p, "Date: ", 6), p += 6;
		memcpy(p, days + 3 * tm.tm_wday, 3), p += 3;
		*p++ = ',', *p++ = ' ';
		*p++ = (char)('0' + tm.tm_mday / 10), *p++ = (char)('0' + tm.tm_mday % 10);
		*p++ = ' ';
		memcpy(p, months + 3 * tm.tm_mon, 3), p += 3;
		*p++ = ' ';
		int y = tm.tm_year + 1900;
		*p++ = (char)('0' + y / 1000), *p++ = (char)('0' + y / 100 % 10);
		*p++ = (char)('0' + y / 10 % 10), *p++ = (char)('0' + y % 10);
		const int hms[3] = {tm.tm_hour, tm.tm_min, tm.tm_sec};
		for (int i = 0; i < 3; i++) {
			*p++ = i ? ':' : ' ';
			*p++ = (char)('0' + hms[i] / 10), *p++ = (char)('0' + hms[i] % 10);
		}
		memcpy(p, " GMT\r\n", 6), p += 6;
		*p = '\0';
		len = (size_t)(p - line);
		last = t;
	}
	memcpy(out, line, len + 1);
	return len;
}

/* Authenticated and authorised: the bindings change, the 200 lists them (x->detail), CTI
 * learns of a device that came into or went out of service. path: "cache" or "store". */
static enum sip_reg_outcome registered(struct sip_reg *g, struct sip_reg_req *x, const char *device,
                                       const char *path)
{
	struct sip_req *q = &x->req;
	int64_t now = tg_now_s();
	struct edit ed = {g, x, now, SIP_REG_CONTINUE};
	struct store_registration after[SIP_LOC_MAX];
	int before = 0, n = 0;
	int rc = sip_loc_change(g->loc, device, now, edit_bindings, &ed, &before, after, &n,
	                        &x->durable);
	if (rc < 0)
		return SIP_REG_SERVER_ERROR;
	if (rc != 0)
		return ed.o;
	/* The Contact lines and the Date, built without snprintf/strftime (issue 22: ~2,500
	 * instructions per REGISTER); a Contact that does not fit ends the list there. */
	struct tg_sbuf d = {x->detail, sizeof x->detail, 0, 0};
	x->detail[0] = '\0';
	for (int i = 0; i < n; i++) {
		size_t used = d.len;
		char num[24],
		    *ne = num + sizeof num,
		    *nb = tg_utoa_end(
		        ne,
		        (unsigned long long)(after[i].expires > now ? after[i].expires - now : 0));
		tg_sbuf_putn(&d, "Contact: ", 9);
		tg_sbuf_put(&d, after[i].contact);
		tg_sbuf_putn(&d, ";expires=", 9);
		tg_sbuf_putn(&d, nb, (size_t)(ne - nb));
		tg_sbuf_putn(&d, "\r\n", 2);
		if (d.bad) {
			x->detail[used] = '\0';
			d.len = used;
			d.bad = 0;
			break;
		}
	}
	char date[64];
	size_t dl = sip_date_line(date);
	if (d.len + dl < d.cap)
		tg_sbuf_putn(&d, date, dl); /* no room: no Date */
	/* Issue 19: auth=bearer names the token by its jti, never the token itself. */
	log_ev(LOG_LVL_INFO, q->callid, "sip_registered", LOG_S("device", device),
	       LOG_S("aor", q->aor_user), LOG_S("user", x->bearer ? x->claims.sub : x->cr.username),
	       LOG_S("credential", x->bearer ? "bearer" : "digest"),
	       LOG_S("auth", x->bearer ? "bearer" : "digest"),
	       LOG_S("jti", x->bearer ? x->claims.jti : NULL),
	       LOG_S("algorithm", x->bearer ? NULL : sip_digest_alg_name(x->cr.alg)),
	       LOG_I("bindings", n), LOG_S("source", x->source), LOG_S("transport", x->transport),
	       LOG_S("user_agent", q->user_agent[0] ? q->user_agent : NULL), LOG_S("path", path));
	if (g->devstate && before == 0 && n > 0)
		devstate_publish_contact(g->devstate, device, 1, after[0].contact);
	else if (g->devstate && before > 0 && n == 0)
		devstate_publish_contact(g->devstate, device, 0,
		                         q->ncontacts > 0 ? q->contacts[0].uri : NULL);
	return SIP_REG_OK;
}

/* --- authorisation of an edge's user (seed 003) -------------------------------------- */

/* Traced wherever a REGISTER is accepted (store or cache path): a user id parameter
 * that only an edge may assert. */
static void userid_ignored(const struct sip_reg_req *x, const char *device)
{
	log_ev(LOG_LVL_NOTICE, x->req.callid, "sip_userid_ignored", LOG_S("device", device),
	       LOG_S("source", x->source), LOG_S("transport", x->transport),
	       LOG_S("reason", "user id parameter on a connection that is not from an edge"));
}

/* The second gate after authentication (seed 003): on an edge connection, the user id the
 * edge asserts in Contact must own or be associated with the device. Elsewhere the
 * parameter is ignored (and traced): only an authenticated edge may assert a user.
 * CONTINUE to go on, else the refusal. */
static enum sip_reg_outcome authorize(struct sip_reg *g, struct sip_reg_req *x,
                                      const struct store_device *dev)
{
	struct sip_req *q = &x->req;
	char text[SIP_MSG_MAX];
	struct sip_userid_params up;
	if (sip_req_contacts_text(q, text, sizeof text) < 0 || sip_userid_extract(text, &up) != 0) {
		/* Unreadable values count as several different ones (refused when enabled). */
		memset(&up, 0, sizeof up);
		up.n = 1;
		up.too_many = 1;
	}
	if (!x->edge[0]) {
		if (up.n)
			userid_ignored(x, dev->name);
		return SIP_REG_CONTINUE;
	}
	char pv[16] = "1";
	int rc = store_param_get(g->store, "SIPRegistrationAuthorizationEnabled", pv, sizeof pv);
	if (rc != STORE_OK && rc != STORE_NOTFOUND)
		return store_failed(rc);
	int enabled = strcmp(pv, "0") != 0; /* anything but an explicit 0 keeps the check */
	struct sip_devusers assoc;
	if ((rc = sip_devusers_load(g->store, dev->name, &assoc)) != STORE_OK) {
		sip_devusers_free(&assoc);
		return store_failed(rc);
	}
	enum sip_authz_rule rule;
	enum sip_authz_verdict v = sip_authz_decide(enabled, &up, dev->owneruserid,
	                                            (const char *const *)assoc.p, assoc.n, &rule);
	sip_devusers_free(&assoc);
	const char *user = up.n && !up.too_many ? up.v[0] : NULL;
	if (v == SIP_AUTHZ_ALLOW) {
		const char *page = rule == SIP_AUTHZ_OWNER         ? "Phone Config page"
		                   : rule == SIP_AUTHZ_ASSOCIATION ? "EndUser page"
		                                                   : NULL;
		log_ev(LOG_LVL_INFO, q->callid, "sip_authz", LOG_S("result", "authorized"),
		       LOG_S("user", user), LOG_I("user_ids", up.n), LOG_S("device", dev->name),
		       LOG_S("rule", sip_authz_rule_name(rule)), LOG_S("page", page),
		       LOG_S("edge", x->edge));
		return SIP_REG_CONTINUE;
	}
	log_ev(LOG_LVL_WARNING, q->callid, "sip_authz", LOG_S("result", "unauthorized"),
	       LOG_S("user", user ? user : ""), LOG_I("user_ids", up.n), LOG_S("device", dev->name),
	       LOG_S("rule", sip_authz_rule_name(rule)), LOG_S("edge", x->edge),
	       LOG_S("source", x->source));
	const char *port = strrchr(x->source, ':');
	alarm_ev("EndPointTransientConnection", ALARM_WARNING, q->callid,
	         LOG_S("ConnectingPort", port ? port + 1 : ""), LOG_S("DeviceName", dev->name),
	         LOG_S("DeviceType", dev->model), LOG_I("Reason", 35),
	         LOG_S("ReasonText", "Authorization failure - Unauthorized user for this device"),
	         LOG_S("Protocol", "SIP"), LOG_S("MACAddress", dev->mac),
	         LOG_S("LastSignalReceived", "SIPRegisterInd"),
	         LOG_S("StationState", "wait_register"), LOG_S("NodeID", g->cfg->core.node_id),
	         LOG_S("UserID", user ? user : ""), LOG_S("Edge", x->edge));
	return SIP_REG_UNAUTHORIZED_USER;
}

/* --- SIP OAuth (issue 19): bearer tokens on 5090 and from an edge ------------------- */

/* Decided by the bearer steps: every REGISTER on the SIP OAuth listener, and one from an
 * edge that carries a bearer token and no Digest credential. */
static int bearer_path(const struct sip_reg_req *x)
{
	const struct sip_req *q = &x->req;
	return x->oauth_port || (x->edge[0] && !q->auth[0] && !q->auth_unreadable &&
	                         (q->bearer[0] || q->bearer_unreadable));
}

/* The listener x came to, as oauth.h names it. */
static enum sip_port_kind port_of(const struct sip_reg_req *x)
{
	if (x->oauth_port)
		return SIP_PORT_OAUTH;
	if (x->edge[0])
		return SIP_PORT_EDGE;
	return memcmp(x->transport, "TLS", 4) == 0 ? SIP_PORT_TLS : SIP_PORT_PLAIN;
}

/* The facts of x that need no store, for oauth.h. */
static struct sip_oauth_case oauth_case(struct sip_reg *g, const struct sip_reg_req *x)
{
	const struct sip_req *q = &x->req;
	struct sip_oauth_case c = {.mode = sip_reg_oauth_mode(g),
	                           .port = port_of(x),
	                           .www_default = g->cfg->sip.oauth_challenge_www,
	                           .form = x->bc.form,
	                           .verdict = x->verdict};
	c.cred = x->bearer                              ? SIP_CRED_BEARER
	         : q->auth[0] || q->auth_unreadable     ? SIP_CRED_DIGEST
	         : q->bearer[0] || q->bearer_unreadable ? SIP_CRED_BEARER
	                                                : SIP_CRED_NONE;
	return c;
}

/* One line per SIP OAuth refusal or challenge, with the reason for the administrator (the
 * peer only gets the status). */
static enum sip_reg_outcome oauth_answer(const struct sip_reg_req *x,
                                         const struct sip_oauth_case *c,
                                         struct sip_oauth_decision d, const char *device)
{
	if (d.o == SIP_REG_CONTINUE || d.o == SIP_REG_OK)
		return d.o;
	int quiet = c->cred == SIP_CRED_NONE; /* the first REGISTER of every client */
	log_ev(quiet ? LOG_LVL_INFO : LOG_LVL_WARNING, x->req.callid, "sip_oauth_refused",
	       LOG_S("answer", sip_reg_reply(d.o)->name), LOG_S("reason", d.reason),
	       LOG_S("aor", x->req.aor_user), LOG_S("device", device),
	       LOG_S("sub",
	             c->cred == SIP_CRED_BEARER && c->verdict == AUTHZ_OK ? x->claims.sub : NULL),
	       LOG_S("jti",
	             c->cred == SIP_CRED_BEARER && c->verdict == AUTHZ_OK ? x->claims.jti : NULL),
	       LOG_S("listener", sip_port_listener_name(c->port)),
	       LOG_S("credential", sip_cred_kind_name(c->cred)), LOG_I("mode", c->mode),
	       LOG_S("source", x->source), LOG_S("edge", x->edge[0] ? x->edge : NULL));
	return d.o;
}

/* The bearer step of sip_reg_precheck: the token read and verified, and every answer that
 * needs no device. The device's facts are taken as good here (known, OAuth profile, the
 * user allowed): sip_reg_decide decides again with the stored ones. */
static enum sip_reg_outcome bearer_precheck(struct sip_reg *g, struct sip_reg_req *x, int64_t now)
{
	const struct sip_req *q = &x->req;
	x->verdict = AUTHZ_MALFORMED;
	if (!q->auth[0] && !q->auth_unreadable && (q->bearer[0] || q->bearer_unreadable)) {
		x->bearer = 1;
		char err[96];
		if (!q->bearer_unreadable &&
		    sip_bearer_parse(q->bearer, &x->bc, err, sizeof err) == 0)
			x->verdict = g->authz ? authz_verify(g->authz, x->bc.token, x->bc.len,
			                                     AUTHZ_AUD_SIP, now, &x->claims)
			                      : AUTHZ_UNKNOWN_KEY;
	}
	struct sip_oauth_case c = oauth_case(g, x);
	c.known = c.prof_oauth = c.sub_allowed = 1;
	enum sip_reg_outcome o = oauth_answer(x, &c, sip_oauth_decide(&c), NULL);
	return o == SIP_REG_OK ? SIP_REG_CONTINUE : o; /* OK only once the device agrees */
}

/* Which device a REGISTER is for (issue 19: shared lines, Jabber's `+u.sip!devicename`
 * Contact parameter; the decision is devpick.h's): every REGISTER path asks here, and only
 * here, with the user it authenticated (the digest user name, a bearer token's sub).
 * Returns STORE_OK with *po the pick's outcome (and *dev the device when
 * sip_devpick_ok(*po)), or a store error. A named device picked is traced. */
static int device_for_register(struct sip_reg *g, const struct sip_reg_req *x, const char *user,
                               struct store_device *dev, enum sip_devpick_outcome *po,
                               size_t *ndevs)
{
	const struct sip_req *q = &x->req;
	struct sip_linepick_req pr = {q->aor_user, q->devicename, q->devicename_conflict, user};
	int rc = sip_linepick(g->store, &pr, dev, po, ndevs);
	if (rc == STORE_OK && *po == SIP_DEVPICK_NAMED)
		log_ev(LOG_LVL_INFO, q->callid, "sip_device_pick", LOG_S("result", "picked"),
		       LOG_S("reason", sip_devpick_name(*po)), LOG_S("line", q->aor_user),
		       LOG_S("device", dev->name), LOG_U("devices", *ndevs));
	return rc;
}

/* A pick refused for a bearer token (ambiguous line, a device that does not carry the
 * line, a sub who may not use the named device): traced for the administrator; the peer
 * gets 403, as for a token of a user not associated with the device. */
static enum sip_reg_outcome bearer_pick_refused(const struct sip_reg_req *x,
                                                enum sip_devpick_outcome po, size_t ndevs)
{
	const struct sip_req *q = &x->req;
	log_ev(LOG_LVL_WARNING, q->callid, "sip_device_pick", LOG_S("result", "refused"),
	       LOG_S("reason", sip_devpick_name(po)), LOG_S("line", q->aor_user),
	       LOG_S("devicename", q->devicename), LOG_U("devices", ndevs),
	       LOG_S("user", x->claims.sub), LOG_S("credential", "bearer"),
	       LOG_S("source", x->source));
	return SIP_REG_FORBIDDEN;
}

/* The device's security profile: no profile (or one not found) is Unified CM's default,
 * OAuth off and digest on. STORE_OK or a store error. */
static int profile_of(struct sip_reg *g, const struct store_device *dev, int *oauth, int *digest)
{
	*oauth = 0;
	*digest = 1;
	if (!dev->securityprofile[0])
		return STORE_OK;
	struct store_securityprofile p;
	int rc = store_securityprofile_get(g->store, dev->securityprofile, &p);
	if (rc == STORE_NOTFOUND)
		return STORE_OK;
	if (rc != STORE_OK)
		return rc;
	*oauth = p.enableoauthauthentication;
	*digest = p.enabledigestauthentication;
	return STORE_OK;
}

/* 1 when userid owns the device or is associated with it (an active user), 0 when not, -1
 * when the store failed. Bearer authentication never means "anyone with a token": a
 * device with no owner and no user allows nobody. */
static int user_allowed(struct sip_reg *g, const struct store_device *dev, const char *userid)
{
	int allowed = userid[0] && strcmp(dev->owneruserid, userid) == 0;
	if (!allowed && userid[0]) {
		struct sip_devusers a;
		if (sip_devusers_load(g->store, dev->name, &a) != STORE_OK) {
			sip_devusers_free(&a);
			return -1;
		}
		for (size_t i = 0; i < a.n && !allowed; i++)
			allowed = strcmp(a.p[i], userid) == 0;
		sip_devusers_free(&a);
	}
	if (!allowed)
		return 0;
	struct store_user u;
	int rc = store_user_get(g->store, userid, &u);
	if (rc != STORE_OK && rc != STORE_NOTFOUND)
		return -1;
	return rc == STORE_OK && u.status == STORE_USER_ACTIVE;
}

/* The account cache's key of a bearer grant: line "\n" sub (accounts.h). 0 when it does
 * not fit (such a grant is not cached). */
static int grant_key(const struct sip_reg_req *x, char key[STORE_ID_MAX + 1])
{
	int n = snprintf(key, STORE_ID_MAX + 1, "%s\n%s", x->req.aor_user, x->claims.sub);
	return n > 0 && n <= STORE_ID_MAX;
}

/* The fast path of a token (issue 19): a refresh whose token authz_verify took from its
 * cache in sip_reg_precheck (revocation checked there on every call), by a user the store
 * path registered on this line's device, with nothing stored changed since (a profile,
 * an association, the mode's parameter, a device: store_generation; the user's lock or
 * status: store_user_generation). Edges always take the store path (seed 003's check). */
static enum sip_reg_outcome bearer_fast(struct sip_reg *g, struct sip_reg_req *x)
{
	char key[STORE_ID_MAX + 1];
	struct sip_account a;
	if (x->edge[0] || x->verdict != AUTHZ_OK || x->req.devicename_conflict ||
	    !grant_key(x, key) || !sip_accounts_get(g->accounts, key, x->req.devicename, &a) ||
	    !a.bearer || a.gen != store_generation(g->store) ||
	    a.user_gen != store_user_generation(g->store, x->claims.sub))
		return SIP_REG_CONTINUE;
	if (x->req.userid_params)
		userid_ignored(x, a.device);
	return registered(g, x, a.device, "cache");
}

/* After the store path allowed sub on dev: the grant bearer_fast uses. gen, user_gen: the
 * generations read before the device and the user were. */
static void grant_put(struct sip_reg *g, const struct sip_reg_req *x, const char *device,
                      uint64_t gen, uint64_t user_gen)
{
	struct sip_account a;
	memset(&a, 0, sizeof a);
	if (x->edge[0] || !grant_key(x, a.line) ||
	    tg_strlcpy(a.devname, x->req.devicename, sizeof a.devname) != 0)
		return;
	a.bearer = 1;
	a.gen = gen;
	a.user_gen = user_gen;
	a.status = STORE_USER_ACTIVE;
	tg_strlcpy(a.device, device, sizeof a.device);
	tg_strlcpy(a.duser, x->claims.sub, sizeof a.duser);
	sip_accounts_put(g->accounts, &a);
}

/* The store path of a verified token: the device, its profile, the token's user; on an
 * edge the asserted user id too (seed 003: the bearer sub and the asserted id must both
 * be allowed for the device). */
static enum sip_reg_outcome bearer_decide(struct sip_reg *g, struct sip_reg_req *x)
{
	uint64_t gen = store_generation(g->store);
	uint64_t user_gen = store_user_generation(g->store, x->claims.sub);
	struct sip_oauth_case c = oauth_case(g, x);
	struct store_device dev;
	enum sip_devpick_outcome po;
	size_t ndevs;
	int rc = device_for_register(g, x, x->claims.sub, &dev, &po, &ndevs);
	if (rc != STORE_OK)
		return store_failed(rc);
	c.known = sip_devpick_ok(po);
	if (!c.known && po != SIP_DEVPICK_UNKNOWN_LINE)
		return bearer_pick_refused(x, po, ndevs);
	if (c.known) {
		if ((rc = profile_of(g, &dev, &c.prof_oauth, &c.prof_digest)) != STORE_OK)
			return store_failed(rc);
		if ((c.sub_allowed = user_allowed(g, &dev, x->claims.sub)) < 0)
			return SIP_REG_SERVER_ERROR;
	}
	enum sip_reg_outcome o =
	    oauth_answer(x, &c, sip_oauth_decide(&c), c.known ? dev.name : NULL);
	if (o != SIP_REG_OK)
		return o;
	if ((o = authorize(g, x, &dev)) != SIP_REG_CONTINUE)
		return o;
	grant_put(g, x, dev.name, gen, user_gen);
	return registered(g, x, dev.name, "store");
}

/* --- the steps ----------------------------------------------------------------------- */

enum sip_reg_outcome sip_reg_route(struct sip_reg_req *x)
{
	struct sip_req *q = &x->req;
	int is_register = SIP_METHOD_IS(q, "REGISTER");
	int is_options = !is_register && SIP_METHOD_IS(q, "OPTIONS");
	if (!is_register && !is_options) /* RFC 3261 §8.2.1: the method before Require */
		return SIP_METHOD_IS(q, "ACK") ? SIP_REG_NO_ANSWER : SIP_REG_METHOD_NOT_ALLOWED;
	if (q->unsupported[0] && !SIP_METHOD_IS(q, "CANCEL")) {
		/* RFC 3261 §8.2.2.3: an extension we do not have is required: 420, no binding */
		snprintf(x->detail, sizeof x->detail, "Unsupported: %s\r\n", q->unsupported);
		return SIP_REG_BAD_EXTENSION;
	}
	if (is_options)
		return SIP_REG_OPTIONS;
	/* Known line or not, no Digest credentials: the same challenge, no store work. */
	if (!q->auth[0] && !q->auth_unreadable && !bearer_path(x))
		return SIP_REG_CHALLENGE;
	return SIP_REG_CONTINUE;
}

static enum sip_reg_outcome nonce_replay(struct sip_reg *g, const struct sip_reg_req *x)
{
	tg_counter_inc(&g->nonce_replays);
	log_ev(LOG_LVL_NOTICE, x->req.callid, "sip_nonce_replay", LOG_S("source", x->source),
	       LOG_S("user", x->cr.username));
	return SIP_REG_CHALLENGE;
}

enum sip_reg_outcome sip_reg_precheck(struct sip_reg *g, struct sip_reg_req *x, int64_t now)
{
	const struct tg_config *cfg = g->cfg;
	struct sip_req *q = &x->req;
	struct sip_digest_creds *cr = &x->cr;
	if (bearer_path(x))
		return bearer_precheck(g, x, now);
	/* The lookups sip_reg_fast makes, started before the credentials' parse and the
	 * nonce's check so that those overlap their cache misses (issue 22). */
	sip_accounts_prefetch(g->accounts, q->aor_user, q->devicename);
	char err[128] = "too long";
	int prc = q->auth_unreadable ? -1 : sip_digest_parse(q->auth, cr, err, sizeof err);
	if (prc == -2) /* an algorithm we do not offer: the challenge names ours */
		return SIP_REG_CHALLENGE;
	if (prc != 0) {
		/* A Digest credential we cannot read is a failed authentication, counted
		 * against the source; logged once a minute per source. */
		if (bad_auth_log_due(g, x->source, now))
			log_ev(LOG_LVL_NOTICE, q->callid, "sip_bad_authorization",
			       LOG_S("source", x->source), LOG_S("transport", x->transport),
			       LOG_S("error", err));
		if (sip_auth_charge(SIP_AUTH_UNREADABLE, x->edge[0] != '\0').source)
			throttled(g, x->source, now, 1);
		return SIP_REG_UNREADABLE_AUTH;
	}
	if (strcmp(cr->realm, cfg->sip.realm) != 0)
		return SIP_REG_CHALLENGE;
	enum sip_reg_outcome o = source_refused(g, x, now);
	if (o != SIP_REG_CONTINUE)
		return o;
	sip_nc_prefetch(g->nc, cr->nonce); /* the nonce's MAC check overlaps the load */
	store_user_generation_prefetch(g->store, cr->username); /* the account's duser */
	int64_t issued;
	enum sip_nonce_rc nr =
	    sip_nonce_check(g->secret, cr->nonce, now, cfg->sip.nonce_lifetime_s, &issued);
	if (nr == SIP_NONCE_INVALID) {
		log_ev(LOG_LVL_INFO, q->callid, "sip_nonce", LOG_S("result", "invalid"),
		       LOG_S("source", x->source));
		return SIP_REG_CHALLENGE;
	}
	/* Stale: stale=true only if the digest is right (RFC 7616 §3.3 via RFC 2617
	 * §3.2.1); a wrong one with a stale nonce is a plain failure. Decided with the HA1. */
	x->stale = nr == SIP_NONCE_STALE;
	if ((!cfg->sip.challenge_sha256 && cr->alg == SIP_DIGEST_SHA256) ||
	    (!cfg->sip.challenge_md5 && cr->alg == SIP_DIGEST_MD5))
		return SIP_REG_CHALLENGE;
	if (!x->stale && sip_nc_fresh(g->nc, cr->nonce, cr->nc) != 1)
		return nonce_replay(g, x);
	return SIP_REG_CONTINUE;
}

/* After the digest verified: CONTINUE to register, else a fresh challenge with stale=true
 * for a stale nonce, or one for a replay (the nonce count moved past this request's
 * meanwhile). Only here does a nonce count become used (digest.h). */
static enum sip_reg_outcome nonce_verified(struct sip_reg *g, const struct sip_reg_req *x)
{
	if (x->stale) {
		log_ev(LOG_LVL_INFO, x->req.callid, "sip_nonce", LOG_S("result", "stale"),
		       LOG_S("source", x->source));
		return SIP_REG_STALE;
	}
	if (sip_nc_accept(g->nc, x->cr.nonce, x->cr.nc) != 1)
		return nonce_replay(g, x);
	return SIP_REG_CONTINUE;
}

/* The HA1 the digest is checked against: the account's, or the dummy one (same cost). */
static const char *ha1_of(const struct sip_reg *g, const struct sip_reg_req *x,
                          const struct sip_account *a)
{
	int sha = x->cr.alg == SIP_DIGEST_SHA256;
	if (a)
		return sha ? a->cred.ha1_sha256 : a->cred.ha1_md5;
	return sha ? g->dummy_sha : g->dummy_md5;
}

enum sip_reg_outcome sip_reg_fast(struct sip_reg *g, struct sip_reg_req *x)
{
	if (x->bearer)
		return bearer_fast(g, x);
	struct sip_account a;
	/* Keyed by line and the Contact's device name: the pick (devpick.h) made for the same
	 * pair by the same digest user (checked below) while the store is unchanged. */
	int hit = !x->edge[0] && !x->req.devicename_conflict &&
	          sip_accounts_get(g->accounts, x->req.aor_user, x->req.devicename, &a);
	/* The generations once, before the digest: the user's is a load from a 2 MB array that
	 * misses the CPU's caches under load, and the digest's work overlaps the miss when
	 * the load is issued first (issue 22). Read before or after the digest, a change
	 * that races this request is seen by the next one. */
	int fresh = hit && a.gen == store_generation(g->store) &&
	            a.user_gen == store_user_generation(g->store, a.duser);
	int verified = sip_digest_verify(&x->cr, x->req.method, ha1_of(g, x, hit ? &a : NULL));
	if (!hit)
		return SIP_REG_CONTINUE;
	/* The policy reads the user's status alone: a zeroed user of this thread's with the
	 * status set, not ~900 bytes cleared per REGISTER (issue 22). */
	static _Thread_local struct store_user u;
	u.status = a.status;
	enum sip_reg_outcome o = SIP_REG_CONTINUE;
	if (verified && fresh && strcmp(x->cr.username, a.duser) == 0 &&
	    dir_policy_success_quiet(&u, &a.cs, &a.pol, tg_now_s(), NULL)) {
		o = nonce_verified(g, x);
		if (o == SIP_REG_CONTINUE) {
			if (x->req.userid_params)
				userid_ignored(x, a.device);
			o = registered(g, x, a.device, "cache");
		}
	}
	sodium_memzero(&a, sizeof a);
	return o;
}

/* What the store path and the cache need about the digest user of a device: HA1s,
 * status, the digest credential's state and policy (never the password's: issue 13).
 * gen: store_generation() read before the device was. Returns STORE_OK, STORE_NOTFOUND
 * when the user has no digest credentials, or another store error; *ps gets the policy's
 * verdict before the digest check (logged when it refuses). */
static int load_account(struct sip_reg *g, const struct store_device *dev, const char *line,
                        const char *devname, const char *duser, uint64_t gen, const char *cid,
                        struct sip_account *a, enum dir_status *ps)
{
	store_t *st = g->store;
	memset(a, 0, sizeof *a);
	a->gen = gen;
	a->user_gen = store_user_generation(st, duser);
	int rc = store_sipcred_get(st, duser, &a->cred);
	if (rc != STORE_OK)
		return rc;
	struct store_user u;
	rc = dir_credential_load(st, duser, STORE_CRED_DIGEST, &u, &a->cs, &a->pol);
	if (rc != STORE_OK) {
		*ps = rc == STORE_NOTFOUND ? DIR_UNKNOWN_USER : DIR_UNAVAILABLE;
		return STORE_OK; /* the credentials exist; the policy refuses */
	}
	int fits = tg_strlcpy(a->line, line, sizeof a->line) == 0 &&
	           tg_strlcpy(a->devname, devname, sizeof a->devname) == 0;
	tg_strlcpy(a->device, dev->name, sizeof a->device);
	tg_strlcpy(a->duser, duser, sizeof a->duser);
	a->status = u.status;
	int changed;
	int64_t now = tg_now_s();
	struct store_credstate before = a->cs;
	*ps = dir_policy_precheck(&u, &a->cs, &a->pol, now, &changed);
	if (*ps != DIR_OK)
		dir_log_policy(cid, &u, STORE_CRED_DIGEST, &before, &a->pol, now, *ps);
	/* A copy whose lockout just ran out is not cached: the record below stores that. */
	if (!changed && fits)
		sip_accounts_put(g->accounts, a);
	return STORE_OK;
}

/* The reads load_account makes, for a user who is not there: an unknown line or user
 * name costs the store the same queries as a known one. */
static void load_nobody(struct sip_reg *g)
{
	struct store_sipcred cred;
	struct store_user u;
	struct store_credstate cs;
	struct store_credpolicy pol;
	(void)store_sipcred_get(g->store, "", &cred);
	(void)store_user_get(g->store, "", &u);
	(void)store_credstate_get(g->store, "", STORE_CRED_DIGEST, &cs);
	(void)store_credpolicy_default(g->store, STORE_CRED_DIGEST, &pol);
	sodium_memzero(&cred, sizeof cred);
}

/* A failed REGISTER (store path): logged, counted as charge.h says; the answer (403) is
 * held (sip_reg_reply). duser: the line's digest user; reason: the policy's verdict, or
 * NULL for the outcome's own. */
static enum sip_reg_outcome auth_failed(struct sip_reg *g, const struct sip_reg_req *x,
                                        enum sip_auth_outcome o, const char *duser,
                                        const char *reason)
{
	const struct sip_req *q = &x->req;
	struct sip_auth_charge c = sip_auth_charge(o, x->edge[0] != '\0');
	/* One line per failure, in a shape dist/fail2ban/telgate-sip.conf parses. */
	log_ev(LOG_LVL_WARNING, q->callid, "sip_auth_failed", LOG_S("source", x->source),
	       LOG_S("user", x->cr.username), LOG_S("aor", q->aor_user),
	       LOG_S("transport", x->transport), LOG_S("credential", "digest"),
	       LOG_S("reason", reason ? reason : c.reason));
	if (c.source)
		throttled(g, x->source, tg_now_s(), 1);
	/* Counted before the answer, so that parallel guesses cannot all be checked before
	 * any is counted (at most one per worker is); the answer's hold hides the write. */
	if (c.credential && duser)
		(void)dir_policy_record(g->store, duser, STORE_CRED_DIGEST, 0, tg_now_s(),
		                        q->callid);
	/* The same answer time for every failure decided here (the hold): found rows cost
	 * more than misses, and the failure's write costs more than nothing, so known and
	 * unknown users would still differ by tens of µs (measured by bench/digest_enum.py),
	 * and so would a throttled one. */
	return SIP_REG_FORBIDDEN;
}

/* A line whose device cannot be picked (devpick.h: ambiguous, a device that does not
 * carry the line, a user who may not use it, conflicting names): traced with the reason
 * for the administrator, then the same store reads, digest work and held 403 as an
 * unknown user (the peer learns nothing more; charged as one: the source, not a
 * credential, since the user name was not checked). */
static enum sip_reg_outcome pick_refused(struct sip_reg *g, const struct sip_reg_req *x,
                                         enum sip_devpick_outcome po, size_t ndevs)
{
	const struct sip_req *q = &x->req;
	log_ev(LOG_LVL_WARNING, q->callid, "sip_device_pick", LOG_S("result", "refused"),
	       LOG_S("reason", sip_devpick_name(po)), LOG_S("line", q->aor_user),
	       LOG_S("devicename", q->devicename), LOG_U("devices", ndevs),
	       LOG_S("user", x->cr.username), LOG_S("source", x->source));
	load_nobody(g);
	(void)sip_digest_verify(&x->cr, q->method, ha1_of(g, x, NULL));
	return auth_failed(g, x, SIP_AUTH_UNKNOWN_USER, NULL, sip_devpick_name(po));
}

enum sip_reg_outcome sip_reg_decide(struct sip_reg *g, struct sip_reg_req *x)
{
	struct sip_req *q = &x->req;
	struct sip_digest_creds *cr = &x->cr;
	int64_t now = tg_now_s();
	/* Again here: the loop only read the source's count, and a burst's requests were all
	 * queued before the first of them failed. */
	if (x->bearer)
		return bearer_decide(g, x);
	enum sip_reg_outcome o = source_refused(g, x, now);
	if (o != SIP_REG_CONTINUE)
		return o;
	uint64_t gen = store_generation(g->store);
	struct store_device dev;
	enum sip_devpick_outcome po;
	size_t ndevs;
	int rc = device_for_register(g, x, cr->username, &dev, &po, &ndevs);
	if (rc != STORE_OK)
		return store_failed(rc);
	int known = sip_devpick_ok(po);
	if (!known && po != SIP_DEVPICK_UNKNOWN_LINE)
		return pick_refused(g, x, po, ndevs);
	if (known) {
		/* The profile before the account: a device whose profile refuses digest is
		 * never cached, so the fast path cannot register it (a profile change moves
		 * store_generation and stales the cache). */
		struct sip_oauth_case c = oauth_case(g, x);
		c.known = 1;
		if ((rc = profile_of(g, &dev, &c.prof_oauth, &c.prof_digest)) != STORE_OK)
			return store_failed(rc);
		if ((o = oauth_answer(x, &c, sip_oauth_decide(&c), dev.name)) != SIP_REG_CONTINUE)
			return o;
	}
	const char *duser = known ? (dev.digestuser[0] ? dev.digestuser : dev.owneruserid) : "";
	struct sip_account a;
	enum dir_status ps = DIR_OK;
	rc = known && duser[0] && strcmp(cr->username, duser) == 0
	         ? load_account(g, &dev, q->aor_user, q->devicename, duser, gen, q->callid, &a, &ps)
	         : STORE_NOTFOUND;
	if (rc == STORE_UNAVAILABLE)
		return SIP_REG_BUSY;
	int have = rc == STORE_OK;
	if (!have)
		load_nobody(g);
	/* Refused unchecked (throttled, locked, inactive): the digest is still computed, on
	 * the dummy HA1, and its result ignored. */
	int check = have && ps == DIR_OK;
	int verified = sip_digest_verify(cr, q->method, ha1_of(g, x, check ? &a : NULL)) && check;
	uint64_t user_gen = have ? a.user_gen : 0;
	sodium_memzero(&a, sizeof a);
	if (have && !check)
		return auth_failed(g, x, SIP_AUTH_REFUSED, duser, dir_status_name(ps));
	if (verified && (o = nonce_verified(g, x)) != SIP_REG_CONTINUE)
		return o; /* stale or replayed: challenged, neither a success nor a failure */
	if (!verified)
		return auth_failed(g, x, have ? SIP_AUTH_BAD_CREDENTIAL : SIP_AUTH_UNKNOWN_USER,
		                   duser, NULL);
	ps = dir_policy_record(g->store, duser, STORE_CRED_DIGEST, 1, now, q->callid);
	if (ps != DIR_OK && ps != DIR_EXPIRED && ps != DIR_MUST_CHANGE) /* locked meanwhile */
		return auth_failed(g, x, SIP_AUTH_REFUSED, duser, dir_status_name(ps));
	/* The record wrote (first success this hour): cache the state it wrote, so that the
	 * next refresh takes the fast path. */
	if (store_user_generation(g->store, duser) != user_gen) {
		enum dir_status again;
		(void)load_account(g, &dev, q->aor_user, q->devicename, duser, gen, q->callid, &a,
		                   &again);
		sodium_memzero(&a, sizeof a);
	}
	if ((o = authorize(g, x, &dev)) != SIP_REG_CONTINUE)
		return o;
	return registered(g, x, dev.name, "store");
}

/* --- the answer ---------------------------------------------------------------------- */

/* One WWW-Authenticate line for alg into b (when the challenge can be formed). */
static void put_challenge(struct sip_reg *g, struct tg_sbuf *b, const char *nonce,
                          enum sip_digest_alg alg, int stale)
{
	char one[480];
	if (sip_digest_challenge(one, sizeof one, g->cfg->sip.realm, nonce, "tg", alg, stale) <= 0)
		return;
	tg_sbuf_put(b, "WWW-Authenticate: ");
	tg_sbuf_put(b, one);
	tg_sbuf_put(b, "\r\n");
}

int sip_reg_answer(struct sip_reg *g, const struct sip_reg_req *x, enum sip_reg_outcome o,
                   const char *to_tag, char *out, size_t cap)
{
	const struct sip_reg_reply *row = sip_reg_reply(o);
	if (!row || !row->code)
		return -1;
	/* A 200 adds its detail lines alone (Contact, Date): given as they are, not copied
	 * into hdr first (issue 22: two copies and two strlen of them per registration). */
	if (row->detail && !row->warning && !row->headers && !row->bearer && !row->challenge)
		return sip_response(&x->req, row->code, row->reason, to_tag,
		                    x->detail[0] ? x->detail : NULL, out, cap);
	char hdr[SIP_REG_DETAIL_MAX + 2048];
	struct tg_sbuf b = {.p = hdr, .cap = sizeof hdr};
	hdr[0] = '\0';
	if (row->warning) {
		char w[SIP_NODE_WARN_MAX];
		snprintf(w, sizeof w, "Warning: 399 %s \"%s\"\r\n",
		         row->warn_node ? g->cfg->core.node_id : "telgate", row->warning);
		tg_sbuf_put(&b, w);
	}
	if (row->headers)
		tg_sbuf_put(&b, row->headers);
	if (row->detail)
		tg_sbuf_put(&b, x->detail);
	if (row->bearer) {
		char v[700];
		if (sip_bearer_challenge(v, sizeof v, g->cfg->sip.realm, SIP_OAUTH_SCOPE,
		                         g->authz_server,
		                         row->bearer == 2 ? "invalid_token" : NULL) > 0) {
			tg_sbuf_put(&b, row->proxy ? "Proxy-Authenticate: " : "WWW-Authenticate: ");
			tg_sbuf_put(&b, v);
			tg_sbuf_put(&b, "\r\n");
		}
	}
	if (row->challenge) {
		char nonce[SIP_NONCE_MAX];
		sip_nonce_make(g->secret, tg_now_s(), nonce);
		if (g->cfg->sip.challenge_sha256)
			put_challenge(g, &b, nonce, SIP_DIGEST_SHA256, row->stale);
		if (g->cfg->sip.challenge_md5)
			put_challenge(g, &b, nonce, SIP_DIGEST_MD5, row->stale);
	}
	if (tg_sbuf_len(&b) < 0)
		return -1;
	return sip_response(&x->req, row->code, row->reason, to_tag, hdr[0] ? hdr : NULL, out, cap);
}
