#include "sip/registrar.h"
#include "core/log.h"
#include "core/loop.h"
#include "core/ports.h"
#include "core/util.h"
#include "core/worker.h"
#include "cti/server.h"
#include "dir/dir.h"
#include "sip/digest.h"
#include "sip/msg.h"

#include <arpa/inet.h>
#include <errno.h>
#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/bufferevent_ssl.h>
#include <event2/event.h>
#include <event2/listener.h>
#include <netinet/in.h>
#include <openssl/err.h>
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

#define BINDINGS_MAX 32
#define THROTTLE_SLOTS 4096
#define THROTTLE_WINDOW_S 60
#define OUT_MAX 8192
#define TCP_IDLE_S 300

struct rloop;

struct sconn {
	struct rloop *rl;
	struct bufferevent *bev;
	int tls, refs, dead, closing;
	char peer[64];
	struct sconn *prev, *next;
};

struct rloop {
	struct sip_registrar *r;
	struct loop *loop;
	int udp_fd;
	struct event *udp_ev;
	struct evconnlistener *lis[2];
	struct sconn *conns;
};

struct sip_registrar {
	struct tg_config cfg;
	store_t *store;
	struct workers *workers;
	struct loop_group *lg;
	struct cti_server *cti;
	int nloops;
	struct rloop *rls;
	SSL_CTX *tls;
	uint8_t secret[SIP_DIGEST_SECRET_LEN];
	struct sip_nc_cache *nc;
	char dummy_md5[SIP_DIGEST_HEX_MAX], dummy_sha[SIP_DIGEST_HEX_MAX];
	struct event *sweep;
	int sweeping;
	pthread_mutex_t tmu; /* guards the per-source failure counts */
	struct tslot {
		char ip[48];
		int64_t start;
		int fails;
	} * throttle;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	int acks;
};

struct job {
	struct sip_registrar *r;
	struct rloop *rl;
	struct sconn *c; /* NULL for UDP */
	struct sockaddr_storage from;
	socklen_t fromlen;
	char transport[8], source[64];
	struct sip_req req;
	char out[OUT_MAX];
	int outlen;
};

static void peer_name(const struct sockaddr *sa, char *out, size_t cap)
{
	char host[INET6_ADDRSTRLEN] = "?";
	unsigned port = 0;
	if (sa->sa_family == AF_INET) {
		const struct sockaddr_in *in = (const struct sockaddr_in *)(const void *)sa;
		inet_ntop(AF_INET, &in->sin_addr, host, sizeof host);
		port = ntohs(in->sin_port);
	} else if (sa->sa_family == AF_INET6) {
		const struct sockaddr_in6 *in = (const struct sockaddr_in6 *)(const void *)sa;
		inet_ntop(AF_INET6, &in->sin6_addr, host, sizeof host);
		port = ntohs(in->sin6_port);
	}
	snprintf(out, cap, "%s:%u", host, port);
}

/* --- the REGISTER logic (worker) ------------------------------------------------------ */

static void respond(struct job *j, int code, const char *reason, const char *extra)
{
	j->outlen = sip_response(&j->req, code, reason, "tg", extra, j->out, sizeof j->out);
}

static void challenge(struct job *j, int stale)
{
	struct sip_registrar *r = j->r;
	char nonce[SIP_NONCE_MAX], hdr[1024], one[480];
	sip_nonce_make(r->secret, tg_now_s(), nonce);
	hdr[0] = '\0';
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

struct blist {
	struct store_registration b[BINDINGS_MAX];
	int n;
};

static int collect(void *ud, const struct store_registration *reg)
{
	struct blist *l = ud;
	if (l->n < BINDINGS_MAX)
		l->b[l->n++] = *reg;
	return 0;
}

static int live_bindings(store_t *st, const char *device, int64_t now, struct blist *l)
{
	l->n = 0;
	struct blist all = {.n = 0};
	if (store_registrations(st, device, collect, &all) != STORE_OK)
		return -1;
	for (int i = 0; i < all.n; i++)
		if (all.b[i].expires > now)
			l->b[l->n++] = all.b[i];
	return 0;
}

/* Applies the REGISTER's contacts to the device's bindings in one transaction. Returns
 * 0, or the SIP status of the refusal (423, 500) with the response already built. */
static int apply_bindings(struct job *j, const struct store_device *dev, int64_t now, int *before,
                          struct blist *after)
{
	struct sip_registrar *r = j->r;
	store_t *st = r->store;
	struct sip_req *q = &j->req;
	struct blist cur;
	if (store_begin(st) != STORE_OK)
		goto fail;
	if (live_bindings(st, dev->name, now, &cur) != 0) {
		store_rollback(st);
		goto fail;
	}
	*before = cur.n;
	for (int i = 0; i < cur.n; i++)
		if (strcmp(cur.b[i].callid, q->callid) == 0 && q->cseq <= cur.b[i].cseq &&
		    (q->star || q->ncontacts)) {
			store_rollback(st);
			respond(j, 500, "Out of order CSeq", "Retry-After: 1\r\n");
			return 500;
		}
	if (q->star) {
		for (int i = 0; i < cur.n; i++)
			store_registration_delete(st, dev->name, cur.b[i].contact);
	}
	for (int i = 0; i < q->ncontacts; i++) {
		const struct sip_contact *c = &q->contacts[i];
		int e = c->expires >= 0   ? c->expires
		        : q->expires >= 0 ? q->expires
		                          : r->cfg.sip.default_expires;
		if (e > 0 && e < r->cfg.sip.min_expires) {
			store_rollback(st);
			char h[64];
			snprintf(h, sizeof h, "Min-Expires: %d\r\n", r->cfg.sip.min_expires);
			respond(j, 423, "Interval Too Brief", h);
			return 423;
		}
		if (e > r->cfg.sip.max_expires)
			e = r->cfg.sip.max_expires;
		if (e == 0) {
			store_registration_delete(st, dev->name, c->uri);
			continue;
		}
		struct store_registration b;
		memset(&b, 0, sizeof b);
		tg_strlcpy(b.device, dev->name, sizeof b.device);
		/* The AOR as stored: the line and the host, cut to the column (the line is what
		 * identifies the binding; the host is informative). */
		char aor[sizeof q->aor_user + sizeof q->aor_host + 8];
		snprintf(aor, sizeof aor, "sip:%s@%s", q->aor_user, q->aor_host);
		tg_strlcpy(b.aor, aor, sizeof b.aor);
		tg_strlcpy(b.contact, c->uri, sizeof b.contact);
		tg_strlcpy(b.callid, q->callid, sizeof b.callid);
		b.cseq = (uint32_t)q->cseq;
		b.expires = now + e;
		tg_strlcpy(b.transport, j->transport, sizeof b.transport);
		tg_strlcpy(b.source, j->source, sizeof b.source);
		if (store_registration_put(st, &b) != STORE_OK) {
			store_rollback(st);
			goto fail;
		}
	}
	if (live_bindings(st, dev->name, now, after) != 0 || store_commit(st) != STORE_OK) {
		store_rollback(st);
		goto fail;
	}
	return 0;
fail:
	respond(j, 500, "Server Internal Error", "Retry-After: 5\r\n");
	return 500;
}

static struct tslot *tslot_of(struct sip_registrar *r, const char *source)
{
	char ip[48];
	tg_strlcpy(ip, source, sizeof ip);
	char *colon = strrchr(ip, ':');
	if (colon)
		*colon = '\0';
	unsigned h = 2166136261u;
	for (const char *p = ip; *p; p++)
		h = (h ^ (unsigned char)*p) * 16777619u;
	struct tslot *t = &r->throttle[h % THROTTLE_SLOTS];
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

static void reg_run(void *arg)
{
	struct job *j = arg;
	struct sip_registrar *r = j->r;
	struct sip_req *q = &j->req;
	int64_t now = tg_now_s();
	struct store_device dev;
	int rc = store_device_by_line(r->store, q->aor_user, &dev);
	if (rc != STORE_OK && rc != STORE_NOTFOUND) {
		respond(j, 500, "Server Internal Error", "Retry-After: 5\r\n");
		return;
	}
	int known = rc == STORE_OK;
	struct sip_digest_creds cr;
	char err[128];
	if (sip_digest_parse(q->auth, &cr, err, sizeof err) != 0) {
		log_event(LOG_LVL_NOTICE, q->callid, "sip_bad_authorization", "source", j->source,
		          "error", err, (const char *)NULL);
		respond(j, 400, "Bad Authorization header", NULL);
		return;
	}
	if (strcmp(cr.realm, r->cfg.sip.realm) != 0) {
		challenge(j, 0);
		return;
	}
	if (throttled(r, j->source, now, 0)) {
		log_event(LOG_LVL_WARNING, q->callid, "sip_auth_failed", "source", j->source,
		          "user", cr.username, "aor", q->aor_user, "transport", j->transport,
		          "reason", "source throttled", (const char *)NULL);
		respond(j, 403, "Forbidden", NULL);
		return;
	}
	int64_t issued;
	enum sip_nonce_rc nr =
	    sip_nonce_check(r->secret, cr.nonce, now, r->cfg.sip.nonce_lifetime_s, &issued);
	if (nr != SIP_NONCE_OK) {
		log_event(LOG_LVL_INFO, q->callid, "sip_nonce", "result",
		          nr == SIP_NONCE_STALE ? "stale" : "invalid", "source", j->source,
		          (const char *)NULL);
		challenge(j, nr == SIP_NONCE_STALE);
		return;
	}
	if ((!r->cfg.sip.challenge_sha256 && cr.alg == SIP_DIGEST_SHA256) ||
	    (!r->cfg.sip.challenge_md5 && cr.alg == SIP_DIGEST_MD5)) {
		challenge(j, 0);
		return;
	}
	if (sip_nc_accept(r->nc, cr.nonce, cr.nc) != 1) {
		log_event(LOG_LVL_NOTICE, q->callid, "sip_nonce_replay", "source", j->source,
		          "user", cr.username, (const char *)NULL);
		challenge(j, 0);
		return;
	}
	const char *duser = known ? (dev.digestuser[0] ? dev.digestuser : dev.owneruserid) : "";
	struct store_sipcred sc;
	int have = known && duser[0] && strcmp(cr.username, duser) == 0 &&
	           store_sipcred_get(r->store, duser, &sc) == STORE_OK;
	if (have) {
		/* The account's credential policy: a locked account is refused unchecked. */
		enum dir_status ps = dir_policy_check(r->store, duser, now);
		if (ps != DIR_OK) {
			sodium_memzero(&sc, sizeof sc);
			log_event(LOG_LVL_WARNING, q->callid, "sip_auth_failed", "source",
			          j->source, "user", cr.username, "aor", q->aor_user, "transport",
			          j->transport, "reason", dir_status_name(ps), (const char *)NULL);
			throttled(r, j->source, now, 1);
			respond(j, 403, "Forbidden", NULL);
			return;
		}
	}
	const char *ha1 = cr.alg == SIP_DIGEST_SHA256 ? (have ? sc.ha1_sha256 : r->dummy_sha)
	                                              : (have ? sc.ha1_md5 : r->dummy_md5);
	int ok = sip_digest_verify(&cr, q->method, ha1) && have;
	sodium_memzero(&sc, sizeof sc);
	if (have) {
		enum dir_status ps = dir_policy_record(r->store, duser, ok, now, q->callid);
		if (ok && ps != DIR_OK && ps != DIR_EXPIRED && ps != DIR_MUST_CHANGE)
			ok = 0; /* locked by a concurrent failure meanwhile */
	}
	if (!ok)
		throttled(r, j->source, now, 1);
	if (!ok) {
		/* One line per failure, in a shape dist/fail2ban/telgate-sip.conf parses. */
		log_event(LOG_LVL_WARNING, q->callid, "sip_auth_failed", "source", j->source,
		          "user", cr.username, "aor", q->aor_user, "transport", j->transport,
		          (const char *)NULL);
		respond(j, 403, "Forbidden", NULL);
		return;
	}
	int before = 0;
	struct blist after;
	if (apply_bindings(j, &dev, now, &before, &after) != 0)
		return;
	char hdr[OUT_MAX / 2] = "";
	size_t used = 0;
	for (int i = 0; i < after.n; i++) {
		int w = snprintf(hdr + used, sizeof hdr - used, "Contact: %s;expires=%lld\r\n",
		                 after.b[i].contact, (long long)(after.b[i].expires - now));
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
	char n[16];
	snprintf(n, sizeof n, "%d", after.n);
	log_event(LOG_LVL_INFO, q->callid, "sip_registered", "device", dev.name, "aor", q->aor_user,
	          "user", cr.username, "algorithm", sip_digest_alg_name(cr.alg), "bindings", n,
	          "source", j->source, "transport", j->transport, "user_agent",
	          q->user_agent[0] ? q->user_agent : NULL, (const char *)NULL);
	if (r->cti && before == 0 && after.n > 0)
		cti_device_state(r->cti, dev.name, 1);
	else if (r->cti && before > 0 && after.n == 0)
		cti_device_state(r->cti, dev.name, 0);
}

/* --- transport (loops) ---------------------------------------------------------------- */

static void send_out(struct rloop *rl, struct sconn *c, const struct sockaddr *to, socklen_t tolen,
                     const char *buf, int len)
{
	if (len <= 0)
		return;
	if (c) {
		if (!c->dead && c->bev)
			bufferevent_write(c->bev, buf, (size_t)len);
		return;
	}
	(void)sendto(rl->udp_fd, buf, (size_t)len, MSG_DONTWAIT, to, tolen);
}

static void conn_free_maybe(struct sconn *c)
{
	if (c->dead && c->refs == 0)
		free(c);
}

static void reg_done(void *arg)
{
	struct job *j = arg;
	if (j->c)
		j->c->refs--;
	send_out(j->rl, j->c, (struct sockaddr *)&j->from, j->fromlen, j->out, j->outlen);
	if (j->c)
		conn_free_maybe(j->c);
	sip_req_free(&j->req);
	free(j);
}

static void handle(struct rloop *rl, struct sconn *c, const struct sockaddr *from,
                   socklen_t fromlen, const char *buf, size_t len)
{
	struct sip_registrar *r = rl->r;
	struct job *j = calloc(1, sizeof *j);
	if (!j)
		return;
	j->r = r;
	j->rl = rl;
	j->c = c;
	if (from) {
		memcpy(&j->from, from, fromlen);
		j->fromlen = fromlen;
		peer_name(from, j->source, sizeof j->source);
	} else {
		tg_strlcpy(j->source, c->peer, sizeof j->source);
	}
	tg_strlcpy(j->transport, c ? (c->tls ? "TLS" : "TCP") : "UDP", sizeof j->transport);
	int status;
	char reason[128] = "";
	if (sip_req_parse(buf, len, &j->req, &status, reason, sizeof reason) != 0) {
		log_event(LOG_LVL_NOTICE, j->req.callid[0] ? j->req.callid : NULL, "sip_malformed",
		          "source", j->source, "transport", j->transport, "reason", reason,
		          "answer", status ? "400-class" : "dropped", (const char *)NULL);
		if (status) {
			int n = j->req.m ? sip_response(&j->req, status, reason, "tg", NULL, j->out,
			                                sizeof j->out)
			                 : sip_response_raw(buf, len, status, reason, j->out,
			                                    sizeof j->out);
			send_out(rl, c, from, fromlen, j->out, n);
		}
		sip_req_free(&j->req);
		free(j);
		return;
	}
	if (!strcmp(j->req.method, "OPTIONS")) {
		int n = sip_response(&j->req, 200, "OK", "tg",
		                     "Allow: REGISTER, OPTIONS\r\nAccept: application/sdp\r\n",
		                     j->out, sizeof j->out);
		send_out(rl, c, from, fromlen, j->out, n);
	} else if (strcmp(j->req.method, "REGISTER") != 0) {
		if (strcmp(j->req.method, "ACK") != 0) {
			int n = sip_response(&j->req, 405, "Method Not Allowed", "tg",
			                     "Allow: REGISTER, OPTIONS\r\n", j->out, sizeof j->out);
			send_out(rl, c, from, fromlen, j->out, n);
		}
	} else if (!j->req.auth[0]) {
		/* Known line or not, no credentials: the same challenge, without store work. */
		challenge(j, 0);
		send_out(rl, c, from, fromlen, j->out, j->outlen);
	} else {
		if (c)
			c->refs++;
		if (workers_submit(r->workers, reg_run, reg_done, j, rl->loop) == 0)
			return;
		if (c)
			c->refs--;
		int n = sip_response(&j->req, 503, "Service Unavailable", "tg",
		                     "Retry-After: 5\r\n", j->out, sizeof j->out);
		send_out(rl, c, from, fromlen, j->out, n);
	}
	sip_req_free(&j->req);
	free(j);
}

static void on_udp(evutil_socket_t fd, short what, void *arg)
{
	(void)what;
	struct rloop *rl = arg;
	char buf[SIP_MSG_MAX + 1];
	for (int i = 0; i < 64; i++) {
		struct sockaddr_storage from;
		socklen_t fl = sizeof from;
		ssize_t n =
		    recvfrom(fd, buf, sizeof buf, MSG_DONTWAIT, (struct sockaddr *)&from, &fl);
		if (n <= 0)
			return;
		if (n > SIP_MSG_MAX) /* truncated: too large for us */
			continue;
		if (n < 4 && (n == 0 || buf[0] == '\r' || buf[0] == '\n'))
			continue; /* keep-alive CRLF */
		handle(rl, NULL, (struct sockaddr *)&from, fl, buf, (size_t)n);
	}
}

static void conn_close(struct sconn *c, const char *why)
{
	if (c->dead)
		return;
	c->dead = 1;
	log_event(LOG_LVL_DEBUG, NULL, "sip_disconnect", "peer", c->peer, "reason", why,
	          (const char *)NULL);
	if (c->bev) {
		bufferevent_free(c->bev);
		c->bev = NULL;
	}
	struct rloop *rl = c->rl;
	if (c->prev)
		c->prev->next = c->next;
	else
		rl->conns = c->next;
	if (c->next)
		c->next->prev = c->prev;
	conn_free_maybe(c);
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
		p += skip;
		while (*p == ' ' || *p == '\t')
			p++;
		if (*p != ':')
			continue;
		p++;
		while (*p == ' ' || *p == '\t')
			p++;
		char *end;
		long v = strtol(p, &end, 10);
		if (end == p || v < 0)
			return -2;
		return v;
	}
	return -1;
}

static void on_read(struct bufferevent *bev, void *arg)
{
	struct sconn *c = arg;
	struct evbuffer *in = bufferevent_get_input(bev);
	while (!c->dead && !c->closing) {
		size_t avail = evbuffer_get_length(in);
		/* CRLF keep-alives between messages (RFC 5626) */
		while (avail) {
			unsigned char ch;
			evbuffer_copyout(in, &ch, 1);
			if (ch != '\r' && ch != '\n')
				break;
			evbuffer_drain(in, 1);
			avail--;
		}
		if (!avail)
			return;
		struct evbuffer_ptr e = evbuffer_search(in, "\r\n\r\n", 4, NULL);
		if (e.pos < 0) {
			if (avail > SIP_MSG_MAX)
				conn_close(c, "header section too large");
			return;
		}
		size_t hlen = (size_t)e.pos + 4;
		const char *h = (const char *)evbuffer_pullup(in, (ev_ssize_t)hlen);
		long cl = content_length(h, hlen);
		if (cl == -2 || cl > SIP_MSG_MAX ||
		    hlen + (size_t)(cl < 0 ? 0 : cl) > SIP_MSG_MAX) {
			/* No way to find the next message: answer if we can, then close. */
			char out[OUT_MAX];
			int n =
			    sip_response_raw(h, hlen, 400, "Bad Content-Length", out, sizeof out);
			bufferevent_disable(bev, EV_READ);
			if (n > 0) {
				/* Close once the answer is out (on_write). */
				c->closing = 1;
				bufferevent_write(bev, out, (size_t)n);
			} else {
				conn_close(c, "bad Content-Length");
			}
			return;
		}
		size_t total = hlen + (size_t)(cl < 0 ? 0 : cl);
		if (avail < total)
			return;
		char *msg = malloc(total);
		if (!msg) {
			conn_close(c, "out of memory");
			return;
		}
		evbuffer_remove(in, msg, total);
		handle(c->rl, c, NULL, 0, msg, total);
		free(msg);
	}
}

static void on_write(struct bufferevent *bev, void *arg)
{
	struct sconn *c = arg;
	if (c->closing && evbuffer_get_length(bufferevent_get_output(bev)) == 0)
		conn_close(c, "bad Content-Length");
}

static void on_event(struct bufferevent *bev, short what, void *arg)
{
	(void)bev;
	struct sconn *c = arg;
	if (what & BEV_EVENT_CONNECTED)
		return;
	conn_close(c, what & BEV_EVENT_TIMEOUT ? "idle" : "closed");
}

static void on_accept(struct evconnlistener *lis, evutil_socket_t fd, struct sockaddr *sa,
                      int salen, void *arg)
{
	(void)salen;
	struct rloop *rl = arg;
	int tls = lis == rl->lis[1];
	struct sconn *c = calloc(1, sizeof *c);
	if (!c) {
		close(fd);
		return;
	}
	c->rl = rl;
	c->tls = tls;
	peer_name(sa, c->peer, sizeof c->peer);
	struct event_base *base = loop_base(rl->loop);
	if (tls) {
		SSL *ssl = SSL_new(rl->r->tls);
		c->bev = ssl ? bufferevent_openssl_socket_new(
		                   base, fd, ssl, BUFFEREVENT_SSL_ACCEPTING, BEV_OPT_CLOSE_ON_FREE)
		             : NULL;
		if (c->bev)
			bufferevent_openssl_set_allow_dirty_shutdown(c->bev, 1);
	} else {
		c->bev = bufferevent_socket_new(base, fd, BEV_OPT_CLOSE_ON_FREE);
	}
	if (!c->bev) {
		close(fd);
		free(c);
		return;
	}
	c->next = rl->conns;
	if (rl->conns)
		rl->conns->prev = c;
	rl->conns = c;
	struct timeval idle = {TCP_IDLE_S, 0};
	bufferevent_set_timeouts(c->bev, &idle, NULL);
	bufferevent_setcb(c->bev, on_read, on_write, on_event, c);
	bufferevent_enable(c->bev, EV_READ | EV_WRITE);
}

/* --- expiry ------------------------------------------------------------------------- */

struct sweep_job {
	struct sip_registrar *r;
	char (*devs)[STORE_ID_MAX + 1];
	int n, cap;
	int64_t now;
};

static int expired_dev(void *ud, const struct store_registration *reg)
{
	struct sweep_job *s = ud;
	if (reg->expires > s->now)
		return 0;
	for (int i = 0; i < s->n; i++)
		if (!strcmp(s->devs[i], reg->device))
			return 0;
	if (s->n == s->cap) {
		int nc = s->cap ? s->cap * 2 : 16;
		void *p = realloc(s->devs, (size_t)nc * sizeof *s->devs);
		if (!p)
			return 1;
		s->devs = p;
		s->cap = nc;
	}
	tg_strlcpy(s->devs[s->n++], reg->device, STORE_ID_MAX + 1);
	return 0;
}

static void sweep_run(void *arg)
{
	struct sweep_job *s = arg;
	struct sip_registrar *r = s->r;
	s->now = tg_now_s();
	int n = 0;
	if (store_registrations(r->store, NULL, expired_dev, s) != STORE_OK ||
	    store_registrations_expire(r->store, s->now, &n) != STORE_OK)
		return;
	for (int i = 0; i < s->n; i++) {
		struct blist l;
		if (live_bindings(r->store, s->devs[i], s->now, &l) == 0 && l.n == 0) {
			log_event(LOG_LVL_INFO, NULL, "sip_registration_expired", "device",
			          s->devs[i], (const char *)NULL);
			if (r->cti)
				cti_device_state(r->cti, s->devs[i], 0);
		}
	}
}

static void sweep_done(void *arg)
{
	struct sweep_job *s = arg;
	s->r->sweeping = 0;
	free(s->devs);
	free(s);
}

static void on_sweep(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	struct sip_registrar *r = arg;
	if (r->sweeping)
		return;
	struct sweep_job *s = calloc(1, sizeof *s);
	if (!s)
		return;
	s->r = r;
	r->sweeping = 1;
	if (workers_submit(r->workers, sweep_run, sweep_done, s, r->rls[0].loop) != 0) {
		r->sweeping = 0;
		free(s);
	}
}

/* Devices with live bindings at start are in service (a restart keeps registrations). */
static int restore_dev(void *ud, const struct store_registration *reg)
{
	struct sip_registrar *r = ud;
	if (reg->expires > tg_now_s() && r->cti)
		cti_device_state(r->cti, reg->device, 1);
	return 0;
}

int sip_registrar_unregister(struct sip_registrar *r, const char *device)
{
	struct blist l;
	if (live_bindings(r->store, device, INT64_MIN, &l) != 0)
		return -1;
	for (int i = 0; i < l.n; i++)
		store_registration_delete(r->store, device, l.b[i].contact);
	if (r->cti)
		cti_device_state(r->cti, device, 0);
	return l.n;
}

/* --- start and stop ----------------------------------------------------------------- */

struct setup {
	struct rloop *rl;
	int tcp, tls;
};

static void ack(struct sip_registrar *r)
{
	pthread_mutex_lock(&r->mu);
	r->acks++;
	pthread_cond_signal(&r->cv);
	pthread_mutex_unlock(&r->mu);
}

static void setup_on_loop(void *arg)
{
	struct setup *su = arg;
	struct rloop *rl = su->rl;
	struct event_base *base = loop_base(rl->loop);
	if (rl->udp_fd >= 0) {
		rl->udp_ev = event_new(base, rl->udp_fd, EV_READ | EV_PERSIST, on_udp, rl);
		event_add(rl->udp_ev, NULL);
	}
	int fds[2] = {su->tcp, su->tls};
	for (int k = 0; k < 2; k++)
		if (fds[k] >= 0 && !(rl->lis[k] = evconnlistener_new(
		                         base, on_accept, rl, LEV_OPT_CLOSE_ON_FREE, 0, fds[k])))
			close(fds[k]);
	ack(rl->r);
}

static void teardown_on_loop(void *arg)
{
	struct rloop *rl = arg;
	if (rl->udp_ev) {
		event_free(rl->udp_ev);
		rl->udp_ev = NULL;
	}
	if (rl->udp_fd >= 0) {
		close(rl->udp_fd);
		rl->udp_fd = -1;
	}
	for (int k = 0; k < 2; k++)
		if (rl->lis[k]) {
			evconnlistener_free(rl->lis[k]);
			rl->lis[k] = NULL;
		}
	while (rl->conns)
		conn_close(rl->conns, "registrar stopping");
	if (rl == &rl->r->rls[0] && rl->r->sweep) {
		event_free(rl->r->sweep);
		rl->r->sweep = NULL;
	}
	ack(rl->r);
}

static int wait_acks(struct sip_registrar *r, int want)
{
	pthread_mutex_lock(&r->mu);
	while (r->acks < want)
		pthread_cond_wait(&r->cv, &r->mu);
	r->acks = 0;
	pthread_mutex_unlock(&r->mu);
	return 0;
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
	pthread_mutex_init(&r->mu, NULL);
	pthread_mutex_init(&r->tmu, NULL);
	pthread_cond_init(&r->cv, NULL);
	randombytes_buf(r->secret, sizeof r->secret);
	r->throttle = calloc(THROTTLE_SLOTS, sizeof *r->throttle);
	char rnd[32];
	randombytes_buf(rnd, sizeof rnd);
	sip_digest_ha1(SIP_DIGEST_MD5, "-", r->cfg.sip.realm, rnd, sizeof rnd, r->dummy_md5);
	sip_digest_ha1(SIP_DIGEST_SHA256, "-", r->cfg.sip.realm, rnd, sizeof rnd, r->dummy_sha);
	r->nc = sip_nc_cache_new(1u << 16);
	r->rls = calloc((size_t)r->nloops, sizeof *r->rls);
	if (!r->nc || !r->rls || !r->throttle)
		goto fail_mem;
	if (r->cfg.sip.tls_port) {
		r->tls = SSL_CTX_new(TLS_server_method());
		if (!r->tls || !SSL_CTX_set_min_proto_version(r->tls, TLS1_2_VERSION) ||
		    SSL_CTX_use_certificate_chain_file(r->tls, o->tls_cert) != 1 ||
		    SSL_CTX_use_PrivateKey_file(r->tls, o->tls_key, SSL_FILETYPE_PEM) != 1) {
			snprintf(err, errlen, "sip TLS context from %s failed", o->tls_cert);
			goto fail;
		}
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
		su[i] = (struct setup){rl, -1, -1};
		if (!ok)
			continue;
		int ports[3] = {r->cfg.sip.port, r->cfg.sip.port, r->cfg.sip.tls_port};
		int types[3] = {SOCK_DGRAM, SOCK_STREAM, SOCK_STREAM};
		int *dst[3] = {&rl->udp_fd, &su[i].tcp, &su[i].tls};
		for (int k = 0; k < 3 && ok; k++) {
			if (!ports[k])
				continue;
			int fd =
			    loop_bind_reuseport(r->cfg.sip.address, (uint16_t)ports[k], types[k]);
			if (fd < 0) {
				snprintf(err, errlen, "sip %s port %s:%d: %s",
				         k == 0   ? "udp"
				         : k == 1 ? "tcp"
				                  : "tls",
				         r->cfg.sip.address, ports[k], strerror(-fd));
				ok = 0;
				break;
			}
			*dst[k] = fd;
		}
	}
	if (!ok) {
		for (int i = 0; i < r->nloops; i++) {
			if (r->rls[i].udp_fd >= 0)
				close(r->rls[i].udp_fd);
			if (su[i].tcp >= 0)
				close(su[i].tcp);
			if (su[i].tls >= 0)
				close(su[i].tls);
		}
		free(su);
		goto fail;
	}
	for (int i = 0; i < r->nloops; i++)
		loop_post(r->rls[i].loop, setup_on_loop, &su[i]);
	wait_acks(r, r->nloops);
	free(su);
	r->sweep = event_new(loop_base(r->rls[0].loop), -1, EV_PERSIST, on_sweep, r);
	struct timeval one = {1, 0};
	if (r->sweep)
		event_add(r->sweep, &one);
	store_registrations(r->store, NULL, restore_dev, r);
	if (r->cfg.sip.port) {
		ports_name("udp", (unsigned)r->cfg.sip.port, NULL, "sip");
		ports_name("tcp", (unsigned)r->cfg.sip.port, NULL, "sip");
	}
	if (r->cfg.sip.tls_port)
		ports_name("tcp", (unsigned)r->cfg.sip.tls_port, NULL, "sip-tls");
	char p1[8], p2[8];
	snprintf(p1, sizeof p1, "%d", r->cfg.sip.port);
	snprintf(p2, sizeof p2, "%d", r->cfg.sip.tls_port);
	log_event(LOG_LVL_NOTICE, NULL, "sip_listening", "address", r->cfg.sip.address, "udp_tcp",
	          p1, "tls", p2, "realm", r->cfg.sip.realm, (const char *)NULL);
	return r;
fail_mem:
	snprintf(err, errlen, "out of memory");
fail:
	SSL_CTX_free(r->tls);
	sip_nc_cache_free(r->nc);
	free(r->rls);
	free(r->throttle);
	pthread_mutex_destroy(&r->tmu);
	pthread_mutex_destroy(&r->mu);
	pthread_cond_destroy(&r->cv);
	free(r);
	return NULL;
}

void sip_registrar_stop(struct sip_registrar *r)
{
	if (!r || !r->rls)
		return;
	int posted = 0;
	for (int i = 0; i < r->nloops; i++)
		if (loop_post(r->rls[i].loop, teardown_on_loop, &r->rls[i]) == 0)
			posted++;
	wait_acks(r, posted);
}

void sip_registrar_free(struct sip_registrar *r)
{
	if (!r)
		return;
	SSL_CTX_free(r->tls);
	sip_nc_cache_free(r->nc);
	sodium_memzero(r->secret, sizeof r->secret);
	free(r->rls);
	free(r->throttle);
	pthread_mutex_destroy(&r->tmu);
	pthread_mutex_destroy(&r->mu);
	pthread_cond_destroy(&r->cv);
	free(r);
}
