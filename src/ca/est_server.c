/* SPDX-License-Identifier: ISC */
/* The EST server: routes, admission (queue, rate), the worker job and its answer. */
#include "ca/est_server.h"

#include "ca/capf.h"
#include "ca/est_enrol.h"
#include "ca/est_wire.h"
#include "core/conncap.h"
#include "core/http.h"
#include "core/log.h"
#include "core/loop.h"
#include "core/ports.h"
#include "core/util.h"
#include "core/worker.h"
#include "tls/tlsctx.h"

#include <arpa/inet.h>
#include <errno.h>
#include <event2/event.h>
#include <netinet/in.h>
#include <openssl/pem.h>
#include <pthread.h>
#include <sodium.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/queue.h>

struct est_job;

struct est_server {
	struct est_ctx ctx;
	unsigned char capf_key[CAPF_KEY_BYTES];
	char pki_dir[CFG_PATH_MAX]; /* ctx.crl.dir */
	struct workers *workers;
	struct loop_group *loops;
	struct loop *main;
	int queue_max, rate;
	atomic_uint in_flight;
	_Atomic uint64_t outcomes[EST_OUTCOMES], refused_queue, refused_rate;
	atomic_int stopping, sweeping;
	pthread_mutex_t mu; /* the token bucket and the delayed answers */
	double tokens;
	int64_t bucket_us;
	TAILQ_HEAD(, est_job) delayed;
	char *cacerts, *csrattrs; /* the GET answers, made once */
	size_t cacerts_len, csrattrs_len;
	struct tlsctx *tls;
	struct http_server *srv;
	struct conncap *caps;
	struct stream_stats stats;
	struct http_stats http_stats;
	struct http_route routes[5 + EST_EXTRA_ROUTES];
	struct http_listeners *lis;
	struct event *sweep_ev;
};

struct est_job {
	struct est_server *e;
	struct http_request *req;
	struct loop *loop;
	struct est_req r;
	struct est_result res;
	char user[STORE_CAPF_ID_MAX + 1], pass[CAPF_STRING_MAX + 1];
	char source[INET6_ADDRSTRLEN], cid[LOG_CID_SIZE];
	unsigned char *csr;
	int64_t start_ms;
	struct event *timer; /* a 401 waiting for EST_FAILURE_DELAY_MS */
	TAILQ_ENTRY(est_job) link;
};

static const char *const op_names[] = {"simpleenroll", "simplereenroll", "serverkeygen"};

/* --- GET -------------------------------------------------------------------------------- */

static void on_cacerts(struct http_request *req, void *arg)
{
	struct est_server *e = arg;
	http_add_header(req, "Content-Transfer-Encoding", "base64");
	http_reply(req, 200, EST_CT_CERTS, e->cacerts, e->cacerts_len);
}

static void on_csrattrs(struct http_request *req, void *arg)
{
	struct est_server *e = arg;
	http_add_header(req, "Content-Transfer-Encoding", "base64");
	http_reply(req, 200, EST_CT_CSRATTRS, e->csrattrs, e->csrattrs_len);
}

/* --- the answer of an enrolment ---------------------------------------------------------- */

static void reply_text(struct http_request *req, int status, const char *text)
{
	http_reply(req, status, "text/plain; charset=utf-8", text, strlen(text));
}

static void reply_issued(struct est_job *j)
{
	const struct ca_issued *c = &j->res.cert;
	unsigned char *p7 = NULL;
	size_t p7len = 0;
	char *body = NULL;
	size_t len = 0;
	/* Around the signer's DER: decoding it again here cost as much as signing it. */
	int rc = est_certs_only_der(c->der, c->der_len, &p7, &p7len);
	if (rc == 0 && j->r.op == EST_OP_SERVERKEYGEN)
		rc = est_serverkeygen_body(j->res.key, j->res.key_len, p7, p7len, &body, &len);
	else if (rc == 0)
		rc = est_base64_encode(p7, p7len, &body, &len);
	free(p7);
	if (rc != 0) {
		reply_text(j->req, 500, "the answer could not be built\n");
		return;
	}
	if (j->r.op == EST_OP_SERVERKEYGEN) {
		http_add_header(j->req, "Cache-Control", "no-store"); /* it holds a private key */
		http_reply(j->req, 200, EST_CT_MULTIPART, body, len);
		sodium_memzero(body, len);
	} else {
		http_add_header(j->req, "Content-Transfer-Encoding", "base64");
		http_reply(j->req, 200, EST_CT_CERTS, body, len);
	}
	free(body);
}

static void reply_outcome(struct http_request *req, enum est_outcome o, const char *reason)
{
	const struct est_answer *a = est_answer_of(o);
	char ra[16], text[256];
	if (a->retry_after_s) {
		snprintf(ra, sizeof ra, "%d", a->retry_after_s);
		http_add_header(req, "Retry-After", ra);
	}
	if (a->www_authenticate)
		http_add_header(req, "WWW-Authenticate", "Basic realm=\"" EST_REALM "\"");
	/* The reasons of these outcomes are the client's own business (its CSR, its
	 * certificate); the others' stay in the log. */
	if (reason && reason[0] && (o == EST_BAD_CSR || o == EST_CERT_REFUSED)) {
		snprintf(text, sizeof text, "%s\n", reason);
		reply_text(req, a->status, text);
	} else {
		reply_text(req, a->status, a->text);
	}
}

static void job_free(struct est_job *j)
{
	est_result_free(&j->res);
	X509_free(j->r.client_cert);
	free(j->csr);
	sodium_memzero(j->pass, sizeof j->pass);
	if (j->timer)
		event_free(j->timer);
	free(j);
}

static void job_answer(struct est_job *j)
{
	if (j->res.outcome == EST_ISSUED)
		reply_issued(j);
	else
		reply_outcome(j->req, j->res.outcome, j->res.reason);
	job_free(j);
}

static void on_delay(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	struct est_job *j = arg;
	pthread_mutex_lock(&j->e->mu);
	TAILQ_REMOVE(&j->e->delayed, j, link);
	pthread_mutex_unlock(&j->e->mu);
	job_answer(j);
}

/* --- the job ----------------------------------------------------------------------------- */

static void job_run(void *arg)
{
	struct est_job *j = arg;
	est_enrol(&j->e->ctx, &j->r, &j->res);
	sodium_memzero(j->pass, sizeof j->pass);
}

static void job_done(void *arg)
{
	struct est_job *j = arg;
	struct est_server *e = j->e;
	atomic_fetch_sub(&e->in_flight, 1);
	atomic_fetch_add_explicit(&e->outcomes[j->res.outcome], 1, memory_order_relaxed);
	int ok = j->res.outcome == EST_ISSUED || j->res.outcome == EST_REVOKED;
	log_ev(ok ? LOG_LVL_INFO : LOG_LVL_NOTICE, j->cid, "est_enrol",
	       LOG_S("op", op_names[j->r.op]), LOG_S("outcome", est_outcome_name(j->res.outcome)),
	       LOG_S("user", j->res.user[0] ? j->res.user : NULL),
	       LOG_S("instance_id",
	             j->res.instanceid[0] ? j->res.instanceid : (j->user[0] ? j->user : NULL)),
	       LOG_S("serial", j->res.cert.serial[0] ? j->res.cert.serial : NULL),
	       LOG_I_IF(j->res.outcome == EST_REVOKED, "revoked", j->res.revoked),
	       LOG_S("source", j->source),
	       LOG_S("reason", j->res.reason[0] ? j->res.reason : NULL));
	int64_t wait = j->start_ms + EST_FAILURE_DELAY_MS - tg_mono_ms();
	if (j->res.outcome != EST_AUTH || wait <= 0 || atomic_load(&e->stopping) || !j->loop) {
		job_answer(j);
		return;
	}
	j->timer = evtimer_new(loop_base(j->loop), on_delay, j);
	if (!j->timer) {
		job_answer(j);
		return;
	}
	pthread_mutex_lock(&e->mu);
	TAILQ_INSERT_TAIL(&e->delayed, j, link);
	pthread_mutex_unlock(&e->mu);
	struct timeval tv = {(time_t)(wait / 1000), (suseconds_t)(wait % 1000 * 1000)};
	evtimer_add(j->timer, &tv);
}

/* --- admission: the queue and the token bucket ------------------------------------------ */

/* 1 when one more enrolment may start now ([est] rate a second, bursts of up to rate). */
static int bucket_take(struct est_server *e)
{
	if (e->rate <= 0)
		return 1;
	int64_t now = tg_mono_us();
	pthread_mutex_lock(&e->mu);
	e->tokens += (double)(now - e->bucket_us) * e->rate / 1e6;
	if (e->tokens > e->rate)
		e->tokens = e->rate;
	e->bucket_us = now;
	int ok = e->tokens >= 1.0;
	if (ok)
		e->tokens -= 1.0;
	pthread_mutex_unlock(&e->mu);
	return ok;
}

/* The client certificate, when one was presented and verified (an up-reference). */
static X509 *client_cert_of(struct http_request *req)
{
	struct stream *s = http_stream(req);
	SSL *ssl = s ? stream_ssl(s) : NULL;
	X509 *x = ssl ? SSL_get0_peer_certificate(ssl) : NULL;
	if (!x || SSL_get_verify_result(ssl) != X509_V_OK)
		return NULL;
	X509_up_ref(x);
	return x;
}

static void enroll(struct http_request *req, struct est_server *e, enum est_op op)
{
	const char *ct = http_header(req, "Content-Type");
	if (ct && !http_content_type_is(req, EST_CT_PKCS10)) {
		reply_text(req, 415, "the body must be application/pkcs10 (base64)\n");
		return;
	}
	struct est_job *j = calloc(1, sizeof *j);
	if (!j) {
		reply_outcome(req, EST_UNAVAILABLE, NULL);
		return;
	}
	j->e = e;
	j->req = req;
	size_t blen = 0;
	const char *body = http_body(req, &blen);
	size_t csr_len = 0;
	if (est_base64_decode(body, blen, CA_CSR_MAX, &j->csr, &csr_len) != 0 || !csr_len) {
		job_free(j);
		reply_outcome(req, EST_BAD_CSR, "the body is not a base64 PKCS#10 request");
		return;
	}
	const char *auth = http_header(req, "Authorization");
	size_t plen = 0;
	int brc =
	    auth ? est_basic_parse(auth, j->user, sizeof j->user, j->pass, sizeof j->pass, &plen)
	         : -ENOENT;
	if (brc == -EINVAL) {
		job_free(j);
		reply_outcome(req, EST_AUTH, NULL);
		return;
	}
	if (atomic_fetch_add(&e->in_flight, 1) >= (unsigned)e->queue_max) {
		atomic_fetch_sub(&e->in_flight, 1);
		atomic_fetch_add_explicit(&e->refused_queue, 1, memory_order_relaxed);
		job_free(j);
		reply_outcome(req, EST_BUSY, NULL);
		return;
	}
	if (!bucket_take(e)) {
		atomic_fetch_sub(&e->in_flight, 1);
		atomic_fetch_add_explicit(&e->refused_rate, 1, memory_order_relaxed);
		job_free(j);
		reply_outcome(req, EST_BUSY, NULL);
		return;
	}
	http_peer_address(req, j->source, sizeof j->source);
	snprintf(j->cid, sizeof j->cid, "%s", http_cid(req));
	j->start_ms = tg_mono_ms();
	struct stream *s = http_stream(req);
	j->loop = s ? stream_loop(s) : NULL;
	j->r = (struct est_req){.op = op,
	                        .basic = brc == 0,
	                        .instanceid = j->user,
	                        .secret = j->pass,
	                        .secret_len = plen,
	                        .client_cert = client_cert_of(req),
	                        .csr = j->csr,
	                        .csr_len = csr_len,
	                        .source = j->source,
	                        .cid = j->cid,
	                        .now = tg_now_s()};
	http_hold(req);
	if (workers_submit(e->workers, job_run, job_done, j, j->loop) != 0) {
		atomic_fetch_sub(&e->in_flight, 1);
		job_free(j);
		reply_outcome(req, EST_UNAVAILABLE, NULL);
	}
}

static void on_enroll(struct http_request *req, void *arg)
{
	enroll(req, arg, EST_OP_ENROLL);
}

static void on_reenroll(struct http_request *req, void *arg)
{
	enroll(req, arg, EST_OP_REENROLL);
}

static void on_serverkeygen(struct http_request *req, void *arg)
{
	enroll(req, arg, EST_OP_SERVERKEYGEN);
}

/* --- superseded certificates -------------------------------------------------------------- */

static void sweep_run(void *arg)
{
	struct est_server *e = arg;
	char cid[LOG_CID_SIZE], err[256] = "";
	log_cid_new(cid);
	int rc = est_supersede_sweep(e->ctx.store, e->ctx.signer, &e->ctx.crl, e->ctx.grace_s,
	                             tg_now_s(), cid, err, sizeof err);
	if (rc < 0 && rc != -EAGAIN) /* -EAGAIN: no signer, the next sweep tries again */
		log_ev(LOG_LVL_WARNING, cid, "est_sweep_failed", LOG_S("error", err));
}

static void sweep_done(void *arg)
{
	struct est_server *e = arg;
	atomic_store(&e->sweeping, 0);
}

static void on_sweep(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	struct est_server *e = arg;
	if (atomic_exchange(&e->sweeping, 1))
		return; /* the last one is still running */
	if (workers_submit(e->workers, sweep_run, sweep_done, e, NULL) != 0)
		atomic_store(&e->sweeping, 0);
}

/* --- start and stop ------------------------------------------------------------------------ */

static int make_bodies(struct est_server *e, const char *ca_cert, char *err, size_t errlen)
{
	FILE *f = fopen(ca_cert, "r");
	e->ctx.ca = f ? PEM_read_X509(f, NULL, NULL, NULL) : NULL;
	if (f)
		fclose(f);
	if (!e->ctx.ca) {
		snprintf(err, errlen, "%s: cannot read the CA certificate", ca_cert);
		return -1;
	}
	unsigned char *der = NULL;
	size_t len = 0;
	int rc = est_certs_only(&e->ctx.ca, 1, &der, &len);
	if (rc == 0)
		rc = est_base64_encode(der, len, &e->cacerts, &e->cacerts_len);
	OPENSSL_free(der);
	der = NULL;
	if (rc == 0)
		rc = est_csrattrs(CA_KEY_EC_P256, &der, &len);
	if (rc == 0)
		rc = est_base64_encode(der, len, &e->csrattrs, &e->csrattrs_len);
	free(der);
	if (rc != 0)
		snprintf(err, errlen, "out of memory");
	return rc;
}

struct est_server *est_server_start(const struct est_server_options *o, char *err, size_t errlen)
{
	struct est_server *e = calloc(1, sizeof *e);
	if (!e) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	const struct tg_config *c = o->cfg;
	pthread_mutex_init(&e->mu, NULL);
	TAILQ_INIT(&e->delayed);
	e->workers = o->workers;
	e->loops = o->loops;
	e->main = o->main;
	e->queue_max = c->est.queue;
	e->rate = c->est.rate;
	e->tokens = c->est.rate;
	e->bucket_us = tg_mono_us();
	e->ctx.store = o->store;
	e->ctx.signer = o->signer;
	e->ctx.capf_key = e->capf_key;
	tg_strlcpy(e->pki_dir, c->pki.dir, sizeof e->pki_dir);
	e->ctx.crl = (struct ca_crl_cfg){.dir = e->pki_dir, .days = c->pki.crl_days};
	e->ctx.client_days = c->pki.client_days;
	e->ctx.grace_s = c->est.reenroll_grace_s;
	if (capf_key_load(c->pki.dir, e->capf_key, err, errlen) != 0 ||
	    make_bodies(e, o->ca_cert, err, errlen) != 0)
		goto fail;
	e->ctx.guard = capf_guard_new(c->pki.capf_source_failures_max);
	const struct tlsctx_options to = {.name = "est-https",
	                                  .cert = o->server_cert,
	                                  .key = o->server_key,
	                                  .client_ca = o->ca_cert,
	                                  .client_ca_optional = 1,
	                                  .kind = "https",
	                                  .address = c->est.address,
	                                  .port = c->est.port};
	if (!e->ctx.guard || !(e->tls = tlsctx_new(&to, err, errlen)))
		goto fail;
	e->routes[0] =
	    (struct http_route){"GET", "/.well-known/est/cacerts", HTTP_EXACT, on_cacerts, e};
	e->routes[1] =
	    (struct http_route){"GET", "/.well-known/est/csrattrs", HTTP_EXACT, on_csrattrs, e};
	e->routes[2] =
	    (struct http_route){"POST", "/.well-known/est/simpleenroll", HTTP_EXACT, on_enroll, e};
	e->routes[3] = (struct http_route){"POST", "/.well-known/est/simplereenroll", HTTP_EXACT,
	                                   on_reenroll, e};
	e->routes[4] = (struct http_route){"POST", "/.well-known/est/serverkeygen", HTTP_EXACT,
	                                   on_serverkeygen, e};
	if (o->nextra > EST_EXTRA_ROUTES) {
		snprintf(err, errlen, "too many routes on the EST listener");
		goto fail;
	}
	if (o->nextra)
		memcpy(e->routes + 5, o->extra_routes, o->nextra * sizeof e->routes[0]);
	const struct http_server_options so = {
	    .name = "est-https",
	    .routes = e->routes,
	    .nroutes = 5 + o->nextra,
	    .max_header_bytes = 8192,
	    .max_body_bytes = EST_BODY_MAX,
	    .access_log = 1,
	    .stats = &e->http_stats,
	};
	if (!(e->srv = http_server_new(&so, err, errlen)))
		goto fail;
	/* Before the listener: no enrolment of this process is under way yet, so a profile
	 * consumed and never ended is one a dead process left (est_enrol.h). A store error
	 * is logged and leaves them to `capf rearm`. */
	est_release_interrupted(o->store, NULL);
	e->caps = conncap_new(c->est.max_connections, c->est.max_connections);
	if (!e->caps) {
		snprintf(err, errlen, "out of memory");
		goto fail;
	}
	const struct stream_listener_options lo = {
	    .name = "est-https",
	    .kind = STREAM_TLS,
	    .tls = e->tls,
	    .caps = e->caps,
	    .node_cap_setting = "est.max_connections",
	    .stats = &e->stats,
	    .write_limit = 1024 * 1024,
	    .first_message_timeout_s = 10,
	    .idle_timeout_s = 60,
	};
	if (!(e->lis =
	          http_listen_all(o->loops, c->est.address, c->est.port, e->srv, &lo, err, errlen)))
		goto fail;
	ports_name("tcp", (unsigned)c->est.port, NULL, "est-https");
	if (o->main) {
		e->sweep_ev = event_new(loop_base(o->main), -1, EV_PERSIST, on_sweep, e);
		if (e->sweep_ev)
			event_add(e->sweep_ev, &(struct timeval){EST_SWEEP_S, 0});
	}
	return e;
fail:
	est_server_stop(e);
	est_server_free(e);
	return NULL;
}

/* Answers, at once, the 401s of loop l still waiting for their delay. */
static void flush_delayed(struct loop *l, int i, void *arg)
{
	(void)i;
	struct est_server *e = arg;
	for (;;) {
		struct est_job *j, *found = NULL;
		pthread_mutex_lock(&e->mu);
		TAILQ_FOREACH(j, &e->delayed, link)
		if (j->loop == l) {
			found = j;
			TAILQ_REMOVE(&e->delayed, j, link);
			break;
		}
		pthread_mutex_unlock(&e->mu);
		if (!found)
			return;
		job_answer(found);
	}
}

void est_server_stop(struct est_server *e)
{
	if (!e)
		return;
	atomic_store(&e->stopping, 1);
	if (e->sweep_ev) {
		event_free(e->sweep_ev);
		e->sweep_ev = NULL;
	}
	if (e->loops)
		loop_run_all(e->loops, flush_delayed, e);
	http_listeners_free(e->lis);
	e->lis = NULL;
}

void est_server_free(struct est_server *e)
{
	if (!e)
		return;
	http_server_free(e->srv);
	conncap_free(e->caps);
	tlsctx_free(e->tls);
	capf_guard_free(e->ctx.guard);
	X509_free(e->ctx.ca);
	free(e->cacerts);
	free(e->csrattrs);
	sodium_memzero(e->capf_key, sizeof e->capf_key);
	pthread_mutex_destroy(&e->mu);
	free(e);
}

void est_server_stats(struct est_server *e, struct est_server_stats *out)
{
	memset(out, 0, sizeof *out);
	for (int i = 0; i < EST_OUTCOMES; i++)
		out->enrolments[i] = atomic_load(&e->outcomes[i]);
	out->refused_queue = atomic_load(&e->refused_queue);
	out->refused_rate = atomic_load(&e->refused_rate);
	out->in_flight = atomic_load(&e->in_flight);
}
