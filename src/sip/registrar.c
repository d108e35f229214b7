/* SPDX-License-Identifier: ISC */
#include "sip/registrar.h"
#include "core/alarm.h"
#include "core/conncap.h"
#include "core/log.h"
#include "core/loop.h"
#include "core/ports.h"
#include "core/stream.h"
#include "core/tlsctx.h"
#include "core/util.h"
#include "core/worker.h"
#include "cti/server.h"
#include "dir/dir.h"
#include "dir/policy.h"
#include "sip/accounts.h"
#include "sip/authz.h"
#include "sip/charge.h"
#include "sip/digest.h"
#include "sip/edge.h"
#include "sip/location.h"
#include "sip/msg.h"
#include "sip/txn.h"
#include "sip/udp.h"

#include <arpa/inet.h>
#include <errno.h>
#include <event2/event.h>
#include <netinet/in.h>
#include <openssl/ssl.h>
#include <pthread.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define THROTTLE_SLOTS 4096
#define THROTTLE_WINDOW_S 60
#define OUT_MAX 8192
#define SIP_NODE_WARN_MAX 256

struct rloop;

enum conn_kind { CONN_TCP, CONN_TLS, CONN_EDGE, CONN_KINDS };

/* Output queued for a SIP stream peer beyond which it is a slow consumer and is cut off
 * (stream.h). Beyond the kernel's socket buffer: 32 of the largest answers (OUT_MAX) or
 * ~500 ordinary ones, which an edge relaying a burst of re-registrations for many phones
 * can have in flight; a peer that sends and never reads costs at most this much, so
 * sip.max_connections_per_source connections from one address hold ~125 MiB at the
 * default 500. */
#define SIP_WRITE_LIMIT (256 * 1024)

/* One SIP stream listener of a loop; its streams' context (stream_ctx). */
struct slis {
	struct rloop *rl;
	enum conn_kind kind;
	struct stream_listener *l;
};

/* What SIP keeps per stream connection (stream_user). */
struct sconn {
	char edge[SIP_EDGE_ID_MAX + 1]; /* the allow-listed identity of an edge connection */
};

struct rloop {
	struct sip_registrar *r;
	struct loop *loop;
	int udp_fd;
	struct event *udp_ev;
	struct slis lis[CONN_KINDS];
	/* 403s held until their time (sip.failure_delay_ms), ordered by it, and the timer
	 * that sends them; stopped: teardown ran, nothing is held any more. */
	struct held *held, *held_tail;
	int nheld;
	struct event *hold_ev;
	int stopped;
};

struct sip_registrar {
	struct tg_config cfg;
	store_t *store;
	struct workers *workers;
	struct loop_group *lg;
	struct cti_server *cti;
	int nloops;
	struct rloop *rls;
	struct tlsctx *tls, *edge_tls;
	struct sip_edges *edges;
	struct conncap *caps;                  /* shared by every SIP stream listener */
	struct stream_stats stats[CONN_KINDS]; /* "sip-tcp", "sip-tls", "sip-edge" */
	uint8_t secret[SIP_DIGEST_SECRET_LEN];
	uint8_t tag_key[16]; /* keys the To tags (sip_req_to_tag) */
	/* keys the per-source throttle's slots: with an unkeyed hash, two addresses that
	 * share a slot could be found offline and used in turn to reset each other's count */
	uint8_t slot_key[crypto_shorthash_KEYBYTES];
	struct sip_nc_cache *nc;
	struct sip_loc *loc;           /* the bindings */
	struct sip_accounts *accounts; /* what a refresh needs, without the store */
	struct sip_txn *txn;           /* answers to UDP retransmissions */
	char dummy_md5[SIP_DIGEST_HEX_MAX], dummy_sha[SIP_DIGEST_HEX_MAX];
	struct event *sweep;
	pthread_mutex_t tmu; /* guards the per-source failure counts */
	struct tslot {
		char ip[SIP_SOURCE_KEY_MAX]; /* sip_source_key() */
		int64_t start;
		int fails;
		int64_t bad_auth_logged; /* when an unreadable Authorization was last logged */
	} * throttle;
};

/* A held answer: only what sending it needs (a job is ~25 KB, this is ~0.5 KB), so that
 * a flood of failures costs little memory while held. */
struct held {
	struct held *prev, *next;
	struct rloop *rl;
	struct stream *s;           /* a reference is held; NULL for UDP */
	struct sockaddr_storage to; /* UDP */
	socklen_t tolen;
	struct sockaddr_storage local; /* UDP: the address the request came to */
	int has_local;
	uint64_t txn;
	int64_t hold_until;
	int outlen;
	char out[];
};

/* Held answers per loop beyond which a failure is answered at once: 65,536 x ~0.5 KB. At
 * the default 5 ms that takes 13 million failures a second on one loop. */
#define HELD_MAX 65536

struct job {
	struct sip_registrar *r;
	struct rloop *rl;
	struct stream *s;             /* NULL for UDP */
	struct sockaddr_storage from; /* UDP: the packet's source */
	socklen_t fromlen;
	struct sockaddr_storage local; /* UDP: the address the packet came to (IP_PKTINFO) */
	int has_local;
	char transport[8], source[64];
	char edge[SIP_EDGE_ID_MAX + 1]; /* "" unless the request came over an edge connection */
	struct sip_req req;
	struct sip_digest_creds cr; /* parsed on the loop (reg_precheck) */
	uint64_t txn;               /* UDP: the transaction's key (txn.h), else 0 */
	int stale;                  /* the nonce is stale: stale=true if the digest verifies */
	int64_t t0_us;              /* tg_mono_us() when the request arrived */
	int64_t hold_until;         /* tg_mono_us() before which the answer is not sent; 0 = none */
	char to_tag[17];            /* of every response to this request (RFC 3261 §19.3) */
	char out[OUT_MAX];
	int outlen;
};

/* --- the REGISTER logic (worker) ------------------------------------------------------ */

static void respond(struct job *j, int code, const char *reason, const char *extra)
{
	j->outlen = sip_response(&j->req, code, reason, j->to_tag, extra, j->out, sizeof j->out);
}

/* The store failed: the phone retries in a few seconds. */
static void server_error(struct job *j)
{
	respond(j, 500, "Server Internal Error", "Retry-After: 5\r\n");
}

/* 401 with fresh challenges; extra: more header lines (may be NULL). */
static void challenge_with(struct job *j, int stale, const char *extra)
{
	struct sip_registrar *r = j->r;
	char nonce[SIP_NONCE_MAX], hdr[1536], one[480];
	sip_nonce_make(r->secret, tg_now_s(), nonce);
	snprintf(hdr, sizeof hdr, "%s", extra ? extra : "");
	if (r->cfg.sip.challenge_sha256 &&
	    sip_digest_challenge(one, sizeof one, r->cfg.sip.realm, nonce, "tg", SIP_DIGEST_SHA256,
	                         stale) > 0)
		snprintf(hdr + strlen(hdr), sizeof hdr - strlen(hdr), "WWW-Authenticate: %s\r\n",
		         one);
	if (r->cfg.sip.challenge_md5 &&
	    sip_digest_challenge(one, sizeof one, r->cfg.sip.realm, nonce, "tg", SIP_DIGEST_MD5,
	                         stale) > 0)
		snprintf(hdr + strlen(hdr), sizeof hdr - strlen(hdr), "WWW-Authenticate: %s\r\n",
		         one);
	respond(j, 401, "Unauthorized", hdr);
}

static void challenge(struct job *j, int stale)
{
	challenge_with(j, stale, NULL);
}

/* The REGISTER's contacts applied to the device's bindings (RFC 3261 §10.3 steps 6-7),
 * under the device's lock in the location table. Refusals build the response. */
struct edit {
	struct job *j;
	int64_t now;
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

static int edit_bindings(void *ud, struct store_registration *b, int *n, int cap)
{
	struct edit *ed = ud;
	struct job *j = ed->j;
	struct sip_registrar *r = j->r;
	struct sip_req *q = &j->req;
	for (int i = 0; i < *n; i++)
		if (strcmp(b[i].callid, q->callid) == 0 && q->cseq <= b[i].cseq &&
		    (q->star || q->ncontacts)) {
			respond(j, 500, "Out of order CSeq", "Retry-After: 1\r\n");
			return 500;
		}
	if (q->star)
		*n = 0;
	for (int i = 0; i < q->ncontacts; i++) {
		const struct sip_contact *c = &q->contacts[i];
		/* 0..2^32-1 as sent (msg.h); shortened to max_expires (RFC 3261 §10.3 step 7) */
		int64_t e = c->expires >= 0   ? c->expires
		            : q->expires >= 0 ? q->expires
		                              : r->cfg.sip.default_expires;
		if (e > 0 && e < r->cfg.sip.min_expires) {
			char h[64];
			snprintf(h, sizeof h, "Min-Expires: %d\r\n", r->cfg.sip.min_expires);
			respond(j, 423, "Interval Too Brief", h);
			return 423;
		}
		if (e > r->cfg.sip.max_expires)
			e = r->cfg.sip.max_expires;
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
				respond(j, 403, "Too Many Bindings", NULL);
				return 403;
			}
			(*n)++;
		}
		struct store_registration *x = &b[k];
		memset(x, 0, sizeof *x);
		/* The AOR as stored: the line and the host, cut to the column (the line is what
		 * identifies the binding; the host is informative). */
		char aor[sizeof q->aor_user + sizeof q->aor_host + 8];
		snprintf(aor, sizeof aor, "sip:%s@%s", q->aor_user, q->aor_host);
		tg_strlcpy(x->aor, aor, sizeof x->aor);
		tg_strlcpy(x->contact, c->uri, sizeof x->contact);
		tg_strlcpy(x->callid, q->callid, sizeof x->callid);
		x->cseq = (uint32_t)q->cseq;
		x->expires = ed->now + e;
		tg_strlcpy(x->transport, j->transport, sizeof x->transport);
		tg_strlcpy(x->source, j->source, sizeof x->source);
		tg_strlcpy(x->sipinstance, c->instance, sizeof x->sipinstance);
		x->regid = c->regid;
	}
	return 0;
}

/* Authenticated and authorised: the bindings change, 200 lists them, CTI learns of a
 * device that came into or went out of service. */
static void registered(struct job *j, const char *device, const char *path)
{
	struct sip_registrar *r = j->r;
	struct sip_req *q = &j->req;
	int64_t now = tg_now_s();
	struct edit ed = {j, now};
	struct store_registration after[SIP_LOC_MAX];
	int before = 0, n = 0;
	int rc = sip_loc_update(r->loc, device, now, edit_bindings, &ed, &before, after, &n);
	if (rc < 0)
		server_error(j);
	if (rc != 0)
		return;
	char hdr[OUT_MAX / 2] = "";
	size_t used = 0;
	for (int i = 0; i < n; i++) {
		int w = snprintf(hdr + used, sizeof hdr - used, "Contact: %s;expires=%lld\r\n",
		                 after[i].contact, (long long)(after[i].expires - now));
		if (w < 0 || (size_t)w >= sizeof hdr - used)
			break;
		used += (size_t)w;
	}
	char date[64];
	time_t t = time(NULL);
	struct tm tm;
	strftime(date, sizeof date, "Date: %a, %d %b %Y %H:%M:%S GMT\r\n", gmtime_r(&t, &tm));
	snprintf(hdr + used, sizeof hdr - used, "%s", date);
	respond(j, 200, "OK", hdr);
	char nb[16];
	snprintf(nb, sizeof nb, "%d", n);
	log_event(LOG_LVL_INFO, q->callid, "sip_registered", "device", device, "aor", q->aor_user,
	          "user", j->cr.username, "credential", "digest", "algorithm",
	          sip_digest_alg_name(j->cr.alg), "bindings", nb, "source", j->source, "transport",
	          j->transport, "user_agent", q->user_agent[0] ? q->user_agent : NULL, "path", path,
	          (const char *)NULL);
	if (r->cti && before == 0 && n > 0)
		cti_device_state(r->cti, device, 1);
	else if (r->cti && before > 0 && n == 0)
		cti_device_state(r->cti, device, 0);
}

static struct tslot *tslot_of(struct sip_registrar *r, const char *source)
{
	char ip[SIP_SOURCE_KEY_MAX];
	sip_source_key(source, ip, sizeof ip);
	uint8_t h[crypto_shorthash_BYTES];
	crypto_shorthash(h, (const unsigned char *)ip, strlen(ip), r->slot_key);
	uint64_t v;
	memcpy(&v, h, sizeof v);
	struct tslot *t = &r->throttle[v % THROTTLE_SLOTS];
	if (strcmp(t->ip, ip) != 0) { /* the slot changes hands: the newest source wins */
		tg_strlcpy(t->ip, ip, sizeof t->ip);
		t->fails = 0;
		t->start = 0;
	}
	return t;
}

/* 1 when the source has failed too often this minute (it then gets 403 at no cost). */
static int throttled(struct sip_registrar *r, const char *source, int64_t now, int failed)
{
	if (!r->cfg.sip.source_failures_max)
		return 0;
	pthread_mutex_lock(&r->tmu);
	struct tslot *t = tslot_of(r, source);
	if (now - t->start >= THROTTLE_WINDOW_S) {
		t->start = now;
		t->fails = 0;
	}
	if (failed)
		t->fails++;
	int over = t->fails >= r->cfg.sip.source_failures_max;
	pthread_mutex_unlock(&r->tmu);
	return over;
}

/* The users associated with a device (no fixed limit: any of them may match). */
struct assoc {
	char **p;
	size_t n, cap;
	int bad;
};

static int add_user(void *ud, const char *userid)
{
	struct assoc *a = ud;
	if (a->n == a->cap) {
		size_t nc = a->cap ? a->cap * 2 : 8;
		char **np = realloc(a->p, nc * sizeof *np);
		if (!np) {
			a->bad = 1;
			return 1;
		}
		a->p = np;
		a->cap = nc;
	}
	if (!(a->p[a->n] = strdup(userid))) {
		a->bad = 1;
		return 1;
	}
	a->n++;
	return 0;
}

static void assoc_free(struct assoc *a)
{
	for (size_t i = 0; i < a->n; i++)
		free(a->p[i]);
	free(a->p);
}

/* Traced wherever a REGISTER is accepted (store or cache path): a user id parameter
 * that only an edge may assert. */
static void userid_ignored(struct job *j, const char *device)
{
	log_event(LOG_LVL_NOTICE, j->req.callid, "sip_userid_ignored", "device", device, "source",
	          j->source, "transport", j->transport, "reason",
	          "user id parameter on a connection that is not from an edge", (const char *)NULL);
}

/* The second gate after authentication (seed 003): on an edge connection, the user id the
 * edge asserts in Contact must own or be associated with the device. Elsewhere the
 * parameter is ignored (and traced): only an authenticated edge may assert a user. Returns
 * 1 to go on, 0 with the refusal built. */
static int authorize(struct job *j, const struct store_device *dev)
{
	struct sip_registrar *r = j->r;
	struct sip_req *q = &j->req;
	char text[SIP_MSG_MAX];
	struct sip_userid_params up;
	if (sip_req_contacts_text(q, text, sizeof text) < 0 || sip_userid_extract(text, &up) != 0) {
		/* Unreadable values count as several different ones (refused when enabled). */
		memset(&up, 0, sizeof up);
		up.n = 1;
		up.too_many = 1;
	}
	if (!j->edge[0]) {
		if (up.n)
			userid_ignored(j, dev->name);
		return 1;
	}
	char pv[16] = "1";
	int rc = store_param_get(r->store, "SIPRegistrationAuthorizationEnabled", pv, sizeof pv);
	if (rc != STORE_OK && rc != STORE_NOTFOUND) {
		server_error(j);
		return 0;
	}
	int enabled = strcmp(pv, "0") != 0; /* anything but an explicit 0 keeps the check */
	struct assoc assoc = {0};
	if (store_device_users(r->store, dev->name, add_user, &assoc) != STORE_OK || assoc.bad) {
		assoc_free(&assoc);
		server_error(j);
		return 0;
	}
	enum sip_authz_rule rule;
	enum sip_authz_verdict v = sip_authz_decide(enabled, &up, dev->owneruserid,
	                                            (const char *const *)assoc.p, assoc.n, &rule);
	assoc_free(&assoc);
	const char *user = up.n && !up.too_many ? up.v[0] : NULL;
	char nvals[12];
	snprintf(nvals, sizeof nvals, "%d", up.n);
	if (v == SIP_AUTHZ_ALLOW) {
		const char *page = rule == SIP_AUTHZ_OWNER         ? "Phone Config page"
		                   : rule == SIP_AUTHZ_ASSOCIATION ? "EndUser page"
		                                                   : NULL;
		log_event(LOG_LVL_INFO, q->callid, "sip_authz", "result", "authorized", "user",
		          user, "user_ids", nvals, "device", dev->name, "rule",
		          sip_authz_rule_name(rule), "page", page, "edge", j->edge,
		          (const char *)NULL);
		return 1;
	}
	log_event(LOG_LVL_WARNING, q->callid, "sip_authz", "result", "unauthorized", "user",
	          user ? user : "", "user_ids", nvals, "device", dev->name, "rule",
	          sip_authz_rule_name(rule), "edge", j->edge, "source", j->source,
	          (const char *)NULL);
	const char *port = strrchr(j->source, ':');
	alarm_raise("EndPointTransientConnection", ALARM_WARNING, q->callid, "ConnectingPort",
	            port ? port + 1 : "", "DeviceName", dev->name, "DeviceType", dev->model,
	            "Reason", "35", "ReasonText",
	            "Authorization failure - Unauthorized user for this device", "Protocol", "SIP",
	            "MACAddress", dev->mac, "LastSignalReceived", "SIPRegisterInd", "StationState",
	            "wait_register", "NodeID", r->cfg.core.node_id, "UserID", user ? user : "",
	            "Edge", j->edge, (const char *)NULL);
	char warn[SIP_NODE_WARN_MAX];
	snprintf(
	    warn, sizeof warn,
	    "Warning: 399 %s \"Authorization failure - Unauthorized user for this device\"\r\n",
	    r->cfg.core.node_id);
	challenge_with(j, 0, warn);
	return 0;
}

static void nonce_replay(struct job *j)
{
	log_event(LOG_LVL_NOTICE, j->req.callid, "sip_nonce_replay", "source", j->source, "user",
	          j->cr.username, (const char *)NULL);
	challenge(j, 0);
}

/* 1 when an unreadable Authorization from this source should be logged (once a minute). */
static int bad_auth_log_due(struct sip_registrar *r, const char *source, int64_t now)
{
	pthread_mutex_lock(&r->tmu);
	struct tslot *t = tslot_of(r, source);
	int due = now - t->bad_auth_logged >= THROTTLE_WINDOW_S;
	if (due)
		t->bad_auth_logged = now;
	pthread_mutex_unlock(&r->tmu);
	return due;
}

/* 1 with a 403 built when j's source failed too often this minute (an edge carries many
 * users from one address and throttles them itself: never refused here). */
static int source_refused(struct job *j, int64_t now)
{
	if (j->edge[0] || !throttled(j->r, j->source, now, 0))
		return 0;
	log_event(LOG_LVL_WARNING, j->req.callid, "sip_auth_failed", "source", j->source, "user",
	          j->cr.username, "aor", j->req.aor_user, "transport", j->transport, "credential",
	          "digest", "reason", sip_auth_charge(SIP_AUTH_SOURCE_THROTTLED, 0).reason,
	          (const char *)NULL);
	respond(j, 403, "Forbidden", NULL);
	return 1;
}

/* The checks that need no store, made on the loop for every REGISTER with credentials:
 * the Authorization header, realm, source throttling, nonce, algorithm and nonce count.
 * Returns 1 with the answer built, 0 to go on (j->cr parsed, the nonce count used). */
static int reg_precheck(struct job *j)
{
	struct sip_registrar *r = j->r;
	struct sip_req *q = &j->req;
	struct sip_digest_creds *cr = &j->cr;
	int64_t now = tg_now_s();
	char err[128] = "too long";
	int prc = q->auth_unreadable ? -1 : sip_digest_parse(q->auth, cr, err, sizeof err);
	if (prc == -2) { /* an algorithm we do not offer: the challenge names ours */
		challenge(j, 0);
		return 1;
	}
	if (prc != 0) {
		/* A Digest credential we cannot read is a failed authentication, counted
		 * against the source; logged once a minute per source. */
		if (bad_auth_log_due(r, j->source, now))
			log_event(LOG_LVL_NOTICE, q->callid, "sip_bad_authorization", "source",
			          j->source, "transport", j->transport, "error", err,
			          (const char *)NULL);
		if (sip_auth_charge(SIP_AUTH_UNREADABLE, j->edge[0] != '\0').source)
			throttled(r, j->source, now, 1);
		respond(j, 403, "Forbidden",
		        "Warning: 399 telgate \"Unreadable Authorization\"\r\n");
		return 1;
	}
	if (strcmp(cr->realm, r->cfg.sip.realm) != 0) {
		challenge(j, 0);
		return 1;
	}
	/* An edge carries many users from one address and throttles them itself. */
	if (source_refused(j, now))
		return 1;
	int64_t issued;
	enum sip_nonce_rc nr =
	    sip_nonce_check(r->secret, cr->nonce, now, r->cfg.sip.nonce_lifetime_s, &issued);
	if (nr == SIP_NONCE_INVALID) {
		log_event(LOG_LVL_INFO, q->callid, "sip_nonce", "result", "invalid", "source",
		          j->source, (const char *)NULL);
		challenge(j, 0);
		return 1;
	}
	/* Stale: stale=true only if the digest is right (RFC 7616 §3.3 via RFC 2617
	 * §3.2.1); a wrong one with a stale nonce is a plain failure. Decided with the HA1. */
	j->stale = nr == SIP_NONCE_STALE;
	if ((!r->cfg.sip.challenge_sha256 && cr->alg == SIP_DIGEST_SHA256) ||
	    (!r->cfg.sip.challenge_md5 && cr->alg == SIP_DIGEST_MD5)) {
		challenge(j, 0);
		return 1;
	}
	if (!j->stale && sip_nc_fresh(r->nc, cr->nonce, cr->nc) != 1) {
		nonce_replay(j);
		return 1;
	}
	return 0;
}

/* After the digest verified: 1 to register, 0 with the answer built — a fresh challenge
 * with stale=true for a stale nonce, or one for a replay (the nonce count moved past this
 * request's meanwhile). Only here does a nonce count become used (digest.h). */
static int nonce_verified(struct job *j)
{
	if (j->stale) {
		log_event(LOG_LVL_INFO, j->req.callid, "sip_nonce", "result", "stale", "source",
		          j->source, (const char *)NULL);
		challenge(j, 1);
		return 0;
	}
	if (sip_nc_accept(j->r->nc, j->cr.nonce, j->cr.nc) != 1) {
		nonce_replay(j);
		return 0;
	}
	return 1;
}

/* The fast path, on the loop: a REGISTER whose line is in the account cache, current,
 * with the right response, on a clean digest credential whose success changes nothing
 * stored (a refresh, in practice) is answered here without a store read or a thread hop.
 * Anything else — a miss, a wrong password (to be counted), a credential that needs a
 * write, an edge connection (its decision reads the store) — returns 0 for the worker
 * path, which decides everything again from the store. */
static int reg_fast(struct job *j)
{
	struct sip_registrar *r = j->r;
	struct sip_account a;
	int hit = !j->edge[0] && sip_accounts_get(r->accounts, j->req.aor_user, &a);
	/* The digest is computed on a miss too, against the dummy HA1: whether a line is
	 * cached must not show in the answer's timing. */
	int sha = j->cr.alg == SIP_DIGEST_SHA256;
	const char *ha1 =
	    hit ? (sha ? a.cred.ha1_sha256 : a.cred.ha1_md5) : (sha ? r->dummy_sha : r->dummy_md5);
	int verified = sip_digest_verify(&j->cr, j->req.method, ha1);
	if (!hit)
		return 0;
	struct store_user u;
	memset(&u, 0, sizeof u);
	u.status = a.status;
	int done = 0;
	if (verified && a.gen == store_generation(r->store) &&
	    a.user_gen == store_user_generation(r->store, a.duser) &&
	    strcmp(j->cr.username, a.duser) == 0 &&
	    dir_policy_success_quiet(&u, &a.cs, &a.pol, tg_now_s(), NULL)) {
		done = 1;
		if (nonce_verified(j)) {
			if (j->req.userid_params)
				userid_ignored(j, a.device);
			registered(j, a.device, "cache");
		}
	}
	sodium_memzero(&a, sizeof a);
	return done;
}

/* What the worker path and the cache need about the digest user of a device: HA1s,
 * status, the digest credential's state and policy (never the password's: issue 13).
 * gen: store_generation() read before the device was. Returns STORE_OK, STORE_NOTFOUND
 * when the user has no digest credentials, or another store error; *ps gets the policy's
 * verdict before the digest check (logged when it refuses). */
static int load_account(struct sip_registrar *r, const struct store_device *dev, const char *line,
                        const char *duser, uint64_t gen, const char *cid, struct sip_account *a,
                        enum dir_status *ps)
{
	store_t *st = r->store;
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
	int fits = tg_strlcpy(a->line, line, sizeof a->line) == 0;
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
		sip_accounts_put(r->accounts, a);
	return STORE_OK;
}

/* The reads load_account makes, for a user who is not there: an unknown line or user
 * name costs the store the same queries as a known one. */
static void load_nobody(struct sip_registrar *r)
{
	struct store_sipcred cred;
	struct store_user u;
	struct store_credstate cs;
	struct store_credpolicy pol;
	(void)store_sipcred_get(r->store, "", &cred);
	(void)store_user_get(r->store, "", &u);
	(void)store_credstate_get(r->store, "", STORE_CRED_DIGEST, &cs);
	(void)store_credpolicy_default(r->store, STORE_CRED_DIGEST, &pol);
	sodium_memzero(&cred, sizeof cred);
}

/* A failed REGISTER (worker path): logged, counted as charge.h says, answered 403 no
 * sooner than sip.failure_delay_ms after the request arrived. duser: the line's digest
 * user; reason: the policy's verdict, or NULL for the outcome's own. */
static void auth_failed(struct job *j, enum sip_auth_outcome o, const char *duser,
                        const char *reason)
{
	struct sip_req *q = &j->req;
	struct sip_auth_charge c = sip_auth_charge(o, j->edge[0] != '\0');
	/* One line per failure, in a shape dist/fail2ban/telgate-sip.conf parses. */
	log_event(LOG_LVL_WARNING, q->callid, "sip_auth_failed", "source", j->source, "user",
	          j->cr.username, "aor", q->aor_user, "transport", j->transport, "credential",
	          "digest", "reason", reason ? reason : c.reason, (const char *)NULL);
	if (c.source)
		throttled(j->r, j->source, tg_now_s(), 1);
	/* Counted before the answer, so that parallel guesses cannot all be checked before
	 * any is counted (at most one per worker is); the answer's hold hides the write. */
	if (c.credential && duser)
		(void)dir_policy_record(j->r->store, duser, STORE_CRED_DIGEST, 0, tg_now_s(),
		                        q->callid);
	/* The same answer time for every failure decided here: found rows cost more than
	 * misses, and the failure's write costs more than nothing, so known and unknown users
	 * would still differ by tens of µs (measured by bench/digest_enum.py), and so would a
	 * throttled one. */
	if (j->r->cfg.sip.failure_delay_ms > 0)
		j->hold_until = j->t0_us + (int64_t)j->r->cfg.sip.failure_delay_ms * 1000;
	respond(j, 403, "Forbidden", NULL);
}

/* The worker path: everything decided from the store (see reg_fast for when). The same
 * store reads and the same digest computation happen for every request — a known user,
 * an unknown one, a throttled or locked credential — and every failure's answer is held
 * until the same time after arrival (auth_failed, reg_done), so that timing does not tell
 * them apart. */
static void reg_run(void *arg)
{
	struct job *j = arg;
	struct sip_registrar *r = j->r;
	struct sip_req *q = &j->req;
	struct sip_digest_creds *cr = &j->cr;
	int64_t now = tg_now_s();
	/* Again here: the loop only read the source's count, and a burst's requests were all
	 * queued before the first of them failed. */
	if (source_refused(j, now))
		return;
	uint64_t gen = store_generation(r->store);
	struct store_device dev;
	int rc = store_device_by_line(r->store, q->aor_user, &dev);
	if (rc != STORE_OK && rc != STORE_NOTFOUND) {
		server_error(j);
		return;
	}
	int known = rc == STORE_OK;
	const char *duser = known ? (dev.digestuser[0] ? dev.digestuser : dev.owneruserid) : "";
	struct sip_account a;
	enum dir_status ps = DIR_OK;
	int have = known && duser[0] && strcmp(cr->username, duser) == 0 &&
	           load_account(r, &dev, q->aor_user, duser, gen, q->callid, &a, &ps) == STORE_OK;
	if (!have)
		load_nobody(r);
	/* Refused unchecked (throttled, locked, inactive): the digest is still computed, on
	 * the dummy HA1, and its result ignored. */
	int check = have && ps == DIR_OK, sha = cr->alg == SIP_DIGEST_SHA256;
	const char *ha1 = check ? (sha ? a.cred.ha1_sha256 : a.cred.ha1_md5)
	                        : (sha ? r->dummy_sha : r->dummy_md5);
	int verified = sip_digest_verify(cr, q->method, ha1) && check;
	uint64_t user_gen = have ? a.user_gen : 0;
	sodium_memzero(&a, sizeof a);
	if (have && !check) {
		auth_failed(j, SIP_AUTH_REFUSED, duser, dir_status_name(ps));
		return;
	}
	if (verified && !nonce_verified(j))
		return; /* stale or replayed: challenged, neither a success nor a failure */
	if (!verified) {
		auth_failed(j, have ? SIP_AUTH_BAD_CREDENTIAL : SIP_AUTH_UNKNOWN_USER, duser, NULL);
		return;
	}
	ps = dir_policy_record(r->store, duser, STORE_CRED_DIGEST, 1, now, q->callid);
	if (ps != DIR_OK && ps != DIR_EXPIRED && ps != DIR_MUST_CHANGE) {
		/* locked by a concurrent failure meanwhile */
		auth_failed(j, SIP_AUTH_REFUSED, duser, dir_status_name(ps));
		return;
	}
	/* The record wrote (first success this hour): cache the state it wrote, so that the
	 * next refresh takes the fast path. */
	if (store_user_generation(r->store, duser) != user_gen) {
		enum dir_status again;
		(void)load_account(r, &dev, q->aor_user, duser, gen, q->callid, &a, &again);
		sodium_memzero(&a, sizeof a);
	}
	if (!authorize(j, &dev))
		return;
	registered(j, dev.name, "store");
}

static void job_free(struct job *j)
{
	sip_req_free(&j->req);
	free(j);
}

/* --- transport (loops) ---------------------------------------------------------------- */

/* Writes an answer: on the stream s (RFC 3261 §18.2.2: a stream answers on the same
 * connection; a closed one drops it), or over UDP to `to`, from the address the request
 * came to. */
static void send_answer(struct rloop *rl, struct stream *s, const struct sockaddr_storage *to,
                        socklen_t tolen, const struct sockaddr_storage *local, const char *buf,
                        int len)
{
	if (len <= 0)
		return;
	if (s) {
		(void)stream_write(s, buf, (size_t)len);
		return;
	}
	(void)sip_udp_send(rl->udp_fd, buf, (size_t)len, (const struct sockaddr *)to, tolen, local);
}

/* Where j's UDP answer goes: where sip_req_received() said, or the packet's source when
 * the request could not be read. */
static const struct sockaddr_storage *reply_to(const struct job *j, socklen_t *len)
{
	*len = j->req.reply_to_len ? j->req.reply_to_len : j->fromlen;
	return j->req.reply_to_len ? &j->req.reply_to : &j->from;
}

static void reply(struct job *j, const char *buf, int len)
{
	socklen_t tolen;
	const struct sockaddr_storage *to = reply_to(j, &tolen);
	send_answer(j->rl, j->s, to, tolen, j->has_local ? &j->local : NULL, buf, len);
}

/* Sends j's answer, stores it for retransmissions, drops j's stream reference and frees
 * j. Loop thread. */
static void reg_send(struct job *j)
{
	if (j->txn)
		sip_txn_store(j->r->txn, j->txn, tg_now_s(), j->out, j->outlen);
	reply(j, j->out, j->outlen);
	if (j->s)
		stream_unref(j->s);
	job_free(j);
}

/* Sends a held answer and frees it (the same steps as reg_send). */
static void held_send(struct held *h)
{
	struct rloop *rl = h->rl;
	if (h->txn)
		sip_txn_store(rl->r->txn, h->txn, tg_now_s(), h->out, h->outlen);
	send_answer(rl, h->s, &h->to, h->tolen, h->has_local ? &h->local : NULL, h->out, h->outlen);
	if (h->s)
		stream_unref(h->s);
	free(h);
}

static struct held *held_pop(struct rloop *rl)
{
	struct held *h = rl->held;
	rl->held = h->next;
	if (rl->held)
		rl->held->prev = NULL;
	else
		rl->held_tail = NULL;
	rl->nheld--;
	return h;
}

static void hold_arm(struct rloop *rl, int64_t now)
{
	int64_t wait = rl->held->hold_until - now;
	if (wait < 0)
		wait = 0;
	struct timeval tv = {(time_t)(wait / 1000000), (suseconds_t)(wait % 1000000)};
	evtimer_add(rl->hold_ev, &tv);
}

/* Sends the held answers whose time has come. */
static void on_hold(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	struct rloop *rl = arg;
	int64_t now = tg_mono_us();
	while (rl->held && rl->held->hold_until <= now)
		held_send(held_pop(rl));
	if (rl->held)
		hold_arm(rl, now);
}

/* Puts j's answer on the loop's hold list, ordered by its time, that is by arrival
 * (workers finish in another order, and an answer queued behind a later-decided one
 * would leave late by an amount that carries the decision times), and frees j. 0, or -1
 * (j kept) when the list is full or memory is short. */
static int hold(struct rloop *rl, struct job *j, int64_t now)
{
	if (rl->nheld >= HELD_MAX)
		return -1;
	int n = j->outlen > 0 ? j->outlen : 0;
	struct held *h = malloc(sizeof *h + (size_t)n);
	if (!h)
		return -1;
	memset(h, 0, sizeof *h);
	h->rl = rl;
	h->s = j->s; /* the job's reference on the stream moves to h */
	if (!j->s) {
		const struct sockaddr_storage *to = reply_to(j, &h->tolen);
		memcpy(&h->to, to, sizeof h->to);
		h->local = j->local;
		h->has_local = j->has_local;
	}
	h->txn = j->txn;
	h->hold_until = j->hold_until;
	h->outlen = n;
	memcpy(h->out, j->out, (size_t)n);
	struct held *after = rl->held_tail; /* usually the tail: walk back from it */
	while (after && after->hold_until > h->hold_until)
		after = after->prev;
	h->prev = after;
	h->next = after ? after->next : rl->held;
	if (h->next)
		h->next->prev = h;
	else
		rl->held_tail = h;
	if (after)
		after->next = h;
	else
		rl->held = h;
	rl->nheld++;
	if (rl->held == h) /* a new earliest time: (re)arm */
		hold_arm(rl, now);
	job_free(j);
	return 0;
}

/* The worker decided: answer now, or hold a failure until its time (auth_failed). A
 * retransmission meanwhile is absorbed (the answer is stored when sent), so it cannot
 * fetch the answer early. */
static void reg_done(void *arg)
{
	struct job *j = arg;
	struct rloop *rl = j->rl;
	int64_t now = j->hold_until ? tg_mono_us() : 0;
	if (j->hold_until > now && !rl->stopped && rl->hold_ev && hold(rl, j, now) == 0)
		return;
	reg_send(j);
}

/* An edge connection's identity, found once from its certificate, and checked against
 * the allow-list on every request (an edge removed with `telgate edge remove` is cut off
 * at its next request, unanswered). Returns 0, or -1 with the stream closing. */
static int edge_check(struct sip_registrar *r, struct stream *s, struct sconn *c)
{
	static const char kick[] = "edge identity no longer allow-listed";
	if (!c->edge[0]) {
		SSL *ssl = stream_ssl(s);
		X509 *cert = ssl ? SSL_get1_peer_certificate(ssl) : NULL;
		char seen[512] = "";
		int ok = cert && sip_edge_cert_identity(r->edges, cert, c->edge, sizeof c->edge,
		                                        seen, sizeof seen);
		X509_free(cert);
		if (!ok) {
			c->edge[0] = '\0';
			stream_close(s, kick);
			return -1;
		}
		log_event(LOG_LVL_INFO, NULL, "sip_edge_connected", "peer", stream_peer(s),
		          "identity", c->edge, (const char *)NULL);
		return 0;
	}
	if (!sip_edges_allowed(r->edges, c->edge)) {
		log_event(LOG_LVL_WARNING, NULL, "sip_edge_removed", "peer", stream_peer(s),
		          "identity", c->edge, "action", "connection closed", (const char *)NULL);
		stream_close(s, kick);
		return -1;
	}
	return 0;
}

/* A UDP REGISTER with credentials seen before (RFC 3261 §17.2.2): 1 with the earlier
 * answer in j->out (outlen 0 while that is still being decided), else 0 with j->txn set. */
static int retransmitted(struct job *j)
{
	struct sip_registrar *r = j->r;
	uint64_t k = sip_txn_key(r->txn, &j->req, j->source);
	int n = sip_txn_lookup(r->txn, k, tg_now_s(), j->out, sizeof j->out);
	if (n < 0) {
		j->txn = k;
		return 0;
	}
	j->outlen = n;
	log_event(LOG_LVL_DEBUG, j->req.callid, "sip_retransmission", "source", j->source, "answer",
	          n ? "repeated" : "absorbed (still being decided)", (const char *)NULL);
	return 1;
}

/* Requests other than REGISTER: OPTIONS is answered, ACK absorbed, the rest refused. */
static void other_method(struct job *j)
{
	if (!strcmp(j->req.method, "OPTIONS"))
		respond(j, 200, "OK", "Allow: REGISTER, OPTIONS\r\nAccept: application/sdp\r\n");
	else if (strcmp(j->req.method, "ACK") != 0)
		respond(j, 405, "Method Not Allowed", "Allow: REGISTER, OPTIONS\r\n");
}

/* The request in j->req answered or handed to a worker (then 1: the job is the worker's). */
static int dispatch(struct job *j)
{
	struct sip_registrar *r = j->r;
	struct sip_req *q = &j->req;
	int is_register = !strcmp(q->method, "REGISTER");
	int must = strcmp(q->method, "ACK") != 0 && strcmp(q->method, "CANCEL") != 0;
	if (!is_register && strcmp(q->method, "OPTIONS") != 0) {
		other_method(j); /* RFC 3261 §8.2.1: the method before Require */
	} else if (q->unsupported[0] && must) {
		/* RFC 3261 §8.2.2.3: an extension we do not have is required: 420, no binding */
		char h[sizeof q->unsupported + 24];
		snprintf(h, sizeof h, "Unsupported: %s\r\n", q->unsupported);
		respond(j, 420, "Bad Extension", h);
	} else if (!is_register) {
		other_method(j);
	} else if (!q->auth[0] && !q->auth_unreadable) {
		/* Known line or not, no Digest credentials: the same challenge, no store work. */
		challenge(j, 0);
	} else if (!j->s && retransmitted(j)) {
		/* j->out holds the earlier answer (none while it is being decided) */
	} else if (reg_precheck(j) || reg_fast(j)) {
		if (j->txn)
			sip_txn_store(r->txn, j->txn, tg_now_s(), j->out, j->outlen);
	} else {
		if (j->txn) /* being decided: a retransmission meanwhile is absorbed */
			sip_txn_store(r->txn, j->txn, tg_now_s(), NULL, 0);
		/* The worker's job holds the stream until its answer is sent (reg_send,
		 * held_send): a closed one drops the answer, its memory stays till then. */
		if (j->s)
			stream_ref(j->s);
		if (workers_submit(r->workers, reg_run, reg_done, j, j->rl->loop) == 0)
			return 1;
		if (j->s)
			stream_unref(j->s);
		respond(j, 503, "Service Unavailable", "Retry-After: 5\r\n");
		if (j->txn)
			sip_txn_store(r->txn, j->txn, tg_now_s(), j->out, j->outlen);
	}
	return 0;
}

/* One request, from a datagram (from: its source) or a stream (s), answered here or
 * handed to a worker. */
static void handle(struct rloop *rl, struct stream *s, const struct sockaddr *from,
                   socklen_t fromlen, const struct sockaddr_storage *local, const char *buf,
                   size_t len)
{
	struct sip_registrar *r = rl->r;
	struct job *j = calloc(1, sizeof *j);
	if (!j)
		return;
	j->r = r;
	j->rl = rl;
	j->s = s;
	j->t0_us = tg_mono_us();
	if (from) {
		memcpy(&j->from, from, fromlen);
		j->fromlen = fromlen;
		tg_sockaddr_str(from, j->source, sizeof j->source);
		if (local) {
			j->local = *local;
			j->has_local = 1;
		}
	} else {
		const struct slis *sl = stream_ctx(s);
		struct sconn *c = stream_user(s);
		tg_strlcpy(j->source, stream_peer(s), sizeof j->source);
		if (sl->kind == CONN_EDGE && edge_check(r, s, c) != 0) {
			free(j);
			return;
		}
		tg_strlcpy(j->edge, c->edge, sizeof j->edge);
		from = stream_peer_addr(s, NULL); /* for Via received/rport */
	}
	tg_strlcpy(j->transport, s ? (stream_kind(s) == STREAM_TCP ? "TCP" : "TLS") : "UDP",
	           sizeof j->transport);
	int status;
	char reason[128] = "";
	int rc = sip_req_parse(buf, len, &j->req, &status, reason, sizeof reason);
	if (j->req.m) {
		sip_req_to_tag(&j->req, r->tag_key, j->to_tag);
		if (sip_req_received(&j->req, from, r->cfg.sip.force_rport) != 0 && rc == 0) {
			rc = -1;
			status = 500;
			snprintf(reason, sizeof reason, "Server Internal Error");
		}
	}
	if (rc != 0) {
		log_event(LOG_LVL_NOTICE, j->req.callid[0] ? j->req.callid : NULL, "sip_malformed",
		          "source", j->source, "transport", j->transport, "reason", reason,
		          "answer", status ? "400-class" : "dropped", (const char *)NULL);
		if (status)
			j->outlen = j->req.m ? sip_response(&j->req, status, reason, j->to_tag,
			                                    NULL, j->out, sizeof j->out)
			                     : sip_response_raw(buf, len, status, reason, j->out,
			                                        sizeof j->out);
	} else if (dispatch(j)) {
		return; /* a worker has it */
	}
	reply(j, j->out, j->outlen);
	sip_req_free(&j->req);
	free(j);
}

static void on_udp(evutil_socket_t fd, short what, void *arg)
{
	(void)what;
	struct rloop *rl = arg;
	char buf[SIP_MSG_MAX + 1];
	for (int i = 0; i < 64; i++) {
		struct sockaddr_storage from, local;
		socklen_t fl = sizeof from;
		int has_local;
		ssize_t n = sip_udp_recv(fd, buf, sizeof buf, &from, &fl, &local, &has_local);
		if (n <= 0)
			return;
		if (n > SIP_MSG_MAX) /* cut: too large for us */
			continue;
		if (n < 4 && (buf[0] == '\r' || buf[0] == '\n'))
			continue; /* keep-alive CRLF */
		handle(rl, NULL, (struct sockaddr *)&from, fl, has_local ? &local : NULL, buf,
		       (size_t)n);
	}
}

/* Content-Length of a header block (compact form "l" too); -1 if absent or bad. */
static long content_length(const char *h, size_t n)
{
	for (size_t i = 0; i + 3 < n; i++) {
		if (h[i] != '\n')
			continue;
		const char *p = h + i + 1;
		size_t skip = 0;
		if (!strncasecmp(p, "Content-Length", 14))
			skip = 14;
		else if ((p[0] == 'l' || p[0] == 'L') && (p[1] == ':' || p[1] == ' '))
			skip = 1;
		if (!skip)
			continue;
		/* Digits only, bounded by the line and the block: strtol would skip the
		 * CRLFs after an empty value and read the body (or past the block). */
		const char *e = h + n;
		p += skip;
		while (p < e && (*p == ' ' || *p == '\t'))
			p++;
		if (p >= e || *p != ':')
			continue;
		p++;
		while (p < e && (*p == ' ' || *p == '\t'))
			p++;
		long v = 0;
		const char *d = p;
		while (p < e && *p >= '0' && *p <= '9' && v <= SIP_MSG_MAX)
			v = v * 10 + (*p++ - '0');
		while (p < e && (*p == ' ' || *p == '\t'))
			p++;
		if (p == d || p >= e || (*p != '\r' && *p != '\n'))
			return -2; /* empty, signed, or not a number: the framing is lost */
		return v;
	}
	return -1;
}

/* Cuts the next SIP message off a stream: the header section and the body its
 * Content-Length gives (none: no body). A Content-Length that cannot be trusted leaves no
 * way to find the next message: 400 if one can be formed, and the stream closes after it.
 * A header section longer than SIP_MSG_MAX never completes: the layer closes the stream. */
static long sip_frame(struct stream *s, const unsigned char *buf, size_t len)
{
	size_t hlen = 0;
	for (size_t i = 3; i < len && !hlen; i++)
		if (buf[i] == '\n' && buf[i - 1] == '\r' && buf[i - 2] == '\n' &&
		    buf[i - 3] == '\r')
			hlen = i + 1;
	if (!hlen)
		return STREAM_FRAME_MORE;
	long cl = content_length((const char *)buf, hlen);
	if (cl == -2 || cl > SIP_MSG_MAX || hlen + (size_t)(cl < 0 ? 0 : cl) > SIP_MSG_MAX) {
		char out[OUT_MAX];
		int n = sip_response_raw((const char *)buf, hlen, 400, "Bad Content-Length", out,
		                         sizeof out);
		if (n > 0)
			(void)stream_write(s, out, (size_t)n);
		return STREAM_FRAME_BROKEN;
	}
	size_t total = hlen + (size_t)(cl < 0 ? 0 : cl);
	return total <= len ? (long)total : STREAM_FRAME_MORE;
}

static void on_stream_frame(struct stream *s, const unsigned char *frame, size_t len)
{
	const struct slis *sl = stream_ctx(s);
	handle(sl->rl, s, NULL, 0, NULL, (const char *)frame, len);
}

static const struct stream_ops sip_stream_ops = {
    .frame = sip_frame,
    .on_frame = on_stream_frame,
};

/* --- expiry ------------------------------------------------------------------------- */

static void expired(void *ud, const char *device)
{
	struct sip_registrar *r = ud;
	log_event(LOG_LVL_INFO, NULL, "sip_registration_expired", "device", device,
	          (const char *)NULL);
	if (r->cti)
		cti_device_state(r->cti, device, 0);
}

/* Every second on the first loop: the table is in memory, the store learns behind. */
static void on_sweep(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	struct sip_registrar *r = arg;
	sip_loc_expire(r->loc, tg_now_s(), expired, r);
}

/* Devices with live bindings at start are in service (a restart keeps registrations);
 * the list comes ordered by device. */
struct restore {
	struct sip_registrar *r;
	char last[STORE_ID_MAX + 1];
};

static int restore_dev(void *ud, const struct store_registration *reg)
{
	struct restore *rs = ud;
	if (strcmp(rs->last, reg->device) != 0 && rs->r->cti)
		cti_device_state(rs->r->cti, reg->device, 1);
	tg_strlcpy(rs->last, reg->device, sizeof rs->last);
	return 0;
}

int sip_registrar_edges_reload(struct sip_registrar *r)
{
	int n = sip_edges_load(r->edges, r->store);
	if (n >= 0) {
		char nb[12];
		snprintf(nb, sizeof nb, "%d", n);
		log_event(LOG_LVL_NOTICE, NULL, "sip_edges_loaded", "identities", nb,
		          (const char *)NULL);
	}
	return n;
}

static int clear_all(void *ud, struct store_registration *b, int *n, int cap)
{
	(void)ud;
	(void)b;
	(void)cap;
	*n = 0;
	return 0;
}

int sip_registrar_unregister(struct sip_registrar *r, const char *device)
{
	int before = 0;
	if (sip_loc_update(r->loc, device, tg_now_s(), clear_all, NULL, &before, NULL, NULL) != 0)
		return -1;
	if (r->cti)
		cti_device_state(r->cti, device, 0);
	return before;
}

int sip_registrar_registrations(struct sip_registrar *r, const char *device,
                                int (*fn)(void *ud, const struct store_registration *b), void *ud)
{
	return sip_loc_list(r->loc, device, tg_now_s(), fn, ud);
}

void sip_registrar_sync(struct sip_registrar *r)
{
	sip_loc_sync(r->loc);
}

/* --- start and stop ----------------------------------------------------------------- */

struct setup {
	struct rloop *rl;
	int fds[CONN_KINDS]; /* TCP, TLS, edge listeners (enum conn_kind), -1 = off */
};

/* On loop i (loop_run_all): its listeners and timers. */
static void setup_on_loop(struct loop *l, int i, void *arg)
{
	(void)l;
	struct setup *su = (struct setup *)arg + i;
	struct rloop *rl = su->rl;
	struct event_base *base = loop_base(rl->loop);
	rl->hold_ev = evtimer_new(base, on_hold, rl); /* NULL: failures are not held */
	if (rl->udp_fd >= 0) {
		rl->udp_ev = event_new(base, rl->udp_fd, EV_READ | EV_PERSIST, on_udp, rl);
		event_add(rl->udp_ev, NULL);
	}
	struct sip_registrar *r = rl->r;
	static const char *const names[CONN_KINDS] = {"sip-tcp", "sip-tls", "sip-edge"};
	struct tlsctx *tls[CONN_KINDS] = {NULL, r->tls, r->edge_tls};
	for (int k = 0; k < CONN_KINDS; k++) {
		rl->lis[k] = (struct slis){.rl = rl, .kind = (enum conn_kind)k};
		if (su->fds[k] < 0)
			continue;
		struct stream_listener_options o = {
		    .name = names[k],
		    .kind = k == CONN_TCP ? STREAM_TCP : STREAM_TLS,
		    .tls = tls[k],
		    .caps = r->caps,
		    .node_cap_setting = "sip.max_connections",
		    .source_cap_setting = "sip.max_connections_per_source",
		    .stats = &r->stats[k],
		    .ops = &sip_stream_ops,
		    .ctx = &rl->lis[k],
		    .user_size = sizeof(struct sconn),
		    .max_frame = SIP_MSG_MAX,
		    .write_limit = SIP_WRITE_LIMIT,
		    .first_message_timeout_s = r->cfg.sip.first_message_timeout_s,
		    .idle_timeout_s = r->cfg.sip.idle_timeout_s,
		    .crlf_keepalive = 1, /* RFC 5626 §3.5.1: CRLFCRLF gets a CRLF pong */
		};
		char err[256];
		if (!(rl->lis[k].l = stream_listen(rl->loop, su->fds[k], &o, err, sizeof err)))
			log_event(LOG_LVL_ERROR, NULL, "sip_listen_failed", "error", err,
			          (const char *)NULL);
	}
}

/* On loop i (loop_run_all): everything setup_on_loop made, and every connection. */
static void teardown_on_loop(struct loop *l, int i, void *arg)
{
	(void)l;
	struct rloop *rl = &((struct sip_registrar *)arg)->rls[i];
	/* Held answers go now, while the sockets are open; later ones are not held. */
	rl->stopped = 1;
	while (rl->held)
		held_send(held_pop(rl));
	if (rl->hold_ev) {
		event_free(rl->hold_ev);
		rl->hold_ev = NULL;
	}
	if (rl->udp_ev) {
		event_free(rl->udp_ev);
		rl->udp_ev = NULL;
	}
	if (rl->udp_fd >= 0) {
		close(rl->udp_fd);
		rl->udp_fd = -1;
	}
	for (int k = 0; k < CONN_KINDS; k++) { /* closes every stream ("server stopping") */
		stream_listener_free(rl->lis[k].l);
		rl->lis[k].l = NULL;
	}
	if (rl == &rl->r->rls[0] && rl->r->sweep) {
		event_free(rl->r->sweep);
		rl->r->sweep = NULL;
	}
}

struct sip_registrar *sip_registrar_start(const struct sip_registrar_options *o, char *err,
                                          size_t errlen)
{
	if (sip_msg_init() != 0) {
		snprintf(err, errlen, "libosip2 parser_init failed");
		return NULL;
	}
	struct sip_registrar *r = calloc(1, sizeof *r);
	if (!r) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	r->cfg = *o->cfg;
	r->store = o->store;
	r->workers = o->workers;
	r->lg = o->loops;
	r->cti = o->cti;
	r->nloops = loop_group_size(o->loops);
	pthread_mutex_init(&r->tmu, NULL);
	randombytes_buf(r->secret, sizeof r->secret);
	randombytes_buf(r->tag_key, sizeof r->tag_key);
	randombytes_buf(r->slot_key, sizeof r->slot_key);
	r->throttle = calloc(THROTTLE_SLOTS, sizeof *r->throttle);
	char rnd[32];
	randombytes_buf(rnd, sizeof rnd);
	sip_digest_ha1(SIP_DIGEST_MD5, "-", r->cfg.sip.realm, rnd, sizeof rnd, r->dummy_md5);
	sip_digest_ha1(SIP_DIGEST_SHA256, "-", r->cfg.sip.realm, rnd, sizeof rnd, r->dummy_sha);
	r->nc = sip_nc_cache_new(1u << 16);
	r->rls = calloc((size_t)r->nloops, sizeof *r->rls);
	r->accounts = sip_accounts_new();
	r->txn = sip_txn_new();
	if (!r->nc || !r->rls || !r->throttle || !r->accounts || !r->txn)
		goto fail_mem;
	if (!(r->loc = sip_loc_new(r->store, tg_now_s(), err, errlen)))
		goto fail;
	r->caps = conncap_new(r->cfg.sip.max_connections, r->cfg.sip.max_connections_per_source);
	r->edges = sip_edges_new();
	if (!r->caps || !r->edges)
		goto fail_mem;
	if (r->cfg.sip.tls_port) {
		struct tlsctx_options to = {
		    .name = "sip-tls", .cert = o->tls_cert, .key = o->tls_key};
		if (!(r->tls = tlsctx_new(&to, err, errlen)))
			goto fail;
	}
	if (r->cfg.sip.edge_port) {
		if (sip_edges_load(r->edges, r->store) < 0) {
			snprintf(err, errlen, "sip edge allow-list: %s", store_last_error());
			goto fail;
		}
		struct tlsctx_options to = {.name = "sip-edge",
		                            .cert = o->tls_cert,
		                            .key = o->tls_key,
		                            .client_ca = r->cfg.sip.edge_ca_file,
		                            .verify = sip_edge_verify,
		                            .app = r->edges};
		if (!(r->edge_tls = tlsctx_new(&to, err, errlen)))
			goto fail;
	}
	struct setup *su = calloc((size_t)r->nloops, sizeof *su);
	if (!su)
		goto fail_mem;
	int ok = 1;
	for (int i = 0; i < r->nloops; i++) {
		struct rloop *rl = &r->rls[i];
		rl->r = r;
		rl->loop = loop_group_get(r->lg, i);
		rl->udp_fd = -1;
		su[i] = (struct setup){rl, {-1, -1, -1}};
		if (!ok)
			continue;
		int ports[4] = {r->cfg.sip.port, r->cfg.sip.port, r->cfg.sip.tls_port,
		                r->cfg.sip.edge_port};
		int types[4] = {SOCK_DGRAM, SOCK_STREAM, SOCK_STREAM, SOCK_STREAM};
		int *dst[4] = {&rl->udp_fd, &su[i].fds[CONN_TCP], &su[i].fds[CONN_TLS],
		               &su[i].fds[CONN_EDGE]};
		static const char *const what[4] = {"udp", "tcp", "tls", "edge"};
		for (int k = 0; k < 4 && ok; k++) {
			if (!ports[k])
				continue;
			int fd =
			    loop_bind_reuseport(r->cfg.sip.address, (uint16_t)ports[k], types[k]);
			if (fd < 0) {
				snprintf(err, errlen, "sip %s port %s:%d: %s", what[k],
				         r->cfg.sip.address, ports[k], strerror(-fd));
				ok = 0;
				break;
			}
			*dst[k] = fd;
			int prc = types[k] == SOCK_DGRAM ? sip_udp_pktinfo_on(fd) : 0;
			if (prc < 0) {
				snprintf(err, errlen, "sip udp port %s:%d: IP_PKTINFO: %s",
				         r->cfg.sip.address, ports[k], strerror(-prc));
				ok = 0;
				break;
			}
		}
	}
	if (!ok) {
		for (int i = 0; i < r->nloops; i++) {
			if (r->rls[i].udp_fd >= 0)
				close(r->rls[i].udp_fd);
			for (int k = 0; k < CONN_KINDS; k++)
				if (su[i].fds[k] >= 0)
					close(su[i].fds[k]);
		}
		free(su);
		goto fail;
	}
	loop_run_all(r->lg, setup_on_loop, su);
	free(su);
	r->sweep = event_new(loop_base(r->rls[0].loop), -1, EV_PERSIST, on_sweep, r);
	struct timeval one = {1, 0};
	if (r->sweep)
		event_add(r->sweep, &one);
	struct restore rs = {.r = r};
	sip_loc_list(r->loc, NULL, tg_now_s(), restore_dev, &rs);
	if (r->cfg.sip.port) {
		ports_name("udp", (unsigned)r->cfg.sip.port, NULL, "sip");
		ports_name("tcp", (unsigned)r->cfg.sip.port, NULL, "sip");
	}
	if (r->cfg.sip.tls_port)
		ports_name("tcp", (unsigned)r->cfg.sip.tls_port, NULL, "sip-tls");
	if (r->cfg.sip.edge_port)
		ports_name("tcp", (unsigned)r->cfg.sip.edge_port, NULL, "sip-edge");
	char p1[8], p2[8], p3[8];
	snprintf(p1, sizeof p1, "%d", r->cfg.sip.port);
	snprintf(p2, sizeof p2, "%d", r->cfg.sip.tls_port);
	snprintf(p3, sizeof p3, "%d", r->cfg.sip.edge_port);
	log_event(LOG_LVL_NOTICE, NULL, "sip_listening", "address", r->cfg.sip.address, "udp_tcp",
	          p1, "tls", p2, "edge", p3, "edge_trust_store",
	          r->cfg.sip.edge_port ? r->cfg.sip.edge_ca_file : NULL, "realm", r->cfg.sip.realm,
	          (const char *)NULL);
	return r;
fail_mem:
	snprintf(err, errlen, "out of memory");
fail:
	sip_registrar_free(r); /* frees whatever was made; the loops never saw r */
	return NULL;
}

void sip_registrar_stop(struct sip_registrar *r)
{
	if (!r || !r->rls)
		return;
	loop_run_all(r->lg, teardown_on_loop, r);
}

void sip_registrar_free(struct sip_registrar *r)
{
	if (!r)
		return;
	sip_loc_free(r->loc); /* writes the bindings still queued */
	sip_accounts_free(r->accounts);
	sip_txn_free(r->txn);
	tlsctx_free(r->tls);
	tlsctx_free(r->edge_tls);
	sip_edges_free(r->edges);
	conncap_free(r->caps);
	sip_nc_cache_free(r->nc);
	sodium_memzero(r->secret, sizeof r->secret);
	sodium_memzero(r->tag_key, sizeof r->tag_key);
	free(r->rls);
	free(r->throttle);
	pthread_mutex_destroy(&r->tmu);
	free(r);
}
