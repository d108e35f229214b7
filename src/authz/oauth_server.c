/* SPDX-License-Identifier: ISC */
/* The OAuth server's HTTP glue (oauth.h): routes, the job to a worker, the answer. */
#include "authz/oauth_int.h"

#include "ca/ca_issue.h"
#include "core/http.h"
#include "core/stream.h"
#include "core/loop.h"
#include "core/util.h"
#include "core/worker.h"
#include "tls/servercert.h"

#include <errno.h>
#include <openssl/ssl.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void body_free(struct oauth_job *j)
{
	if (j->body)
		sodium_memzero(j->body, j->body_len);
	free(j->body);
	j->body = NULL;
	j->body_len = 0;
}

void oauth_fail(struct oauth_job *j, enum oauth_err e, const char *desc)
{
	body_free(j);
	json_decref(j->json);
	j->json = oauth_err_json(e, desc);
	j->status = oauth_err_status(e);
}

void oauth_url(const struct oauth *o, const char *path, char *out, size_t cap)
{
	snprintf(out, cap, "%s%s", o->issuer, path);
}

/* --- answers ------------------------------------------------------------------------------ */

/* json, else body (body_len bytes of JSON text), else a 500. */
static void reply_json(struct http_request *req, int status, json_t *json, const char *body,
                       size_t body_len, int www_basic)
{
	/* RFC 6749 §5.1: token answers must not be cached. */
	http_add_header(req, "Cache-Control", "no-store");
	http_add_header(req, "Pragma", "no-cache");
	if (www_basic)
		http_add_header(req, "WWW-Authenticate", "Basic realm=\"telgate-oauth\"");
	if (json)
		http_reply_json(req, status, json);
	else if (body)
		http_reply(req, status, "application/json", body, body_len);
	else
		http_reply_status(req, 500);
}

static void job_free(struct oauth_job *j)
{
	http_form_free(&j->form);
	sodium_memzero(j->basic_secret, sizeof j->basic_secret);
	json_decref(j->json);
	body_free(j);
	free(j->html);
	free(j->location);
	free(j);
}

static void job_answer(struct oauth_job *j)
{
	struct http_request *req = j->req;
	if (j->set_cookie[0]) {
		char c[160];
		/* Path /oauth: both login pages; Lax: the form posts come from our own page. */
		snprintf(c, sizeof c,
		         OAUTH_CSRF_COOKIE "=%s; Path=/oauth; Secure; HttpOnly; SameSite=Lax",
		         j->set_cookie);
		http_add_header(req, "Set-Cookie", c);
	}
	if (j->location) {
		http_add_header(req, "Cache-Control", "no-store");
		http_add_header(req, "Location", j->location);
		http_reply(req, 302, NULL, "", 0);
	} else if (j->html) {
		http_add_header(req, "Cache-Control", "no-store");
		/* No script, no framing (clickjacking), forms post only to us. */
		http_add_header(req, "Content-Security-Policy",
		                "default-src 'none'; form-action 'self'; frame-ancestors 'none'");
		http_add_header(req, "X-Frame-Options", "DENY");
		http_reply(req, j->status, "text/html; charset=utf-8", j->html, j->html_len);
	} else {
		reply_json(req, j->status ? j->status : 500, j->json, j->body, j->body_len,
		           j->www_basic);
	}
	job_free(j);
}

/* --- the job ------------------------------------------------------------------------------ */

static void job_run(void *arg)
{
	struct oauth_job *j = arg;
	switch (j->ep) {
	case OAUTH_EP_TOKEN:
		oauth_token_run(j);
		break;
	case OAUTH_EP_REVOKE:
		oauth_revoke_run(j);
		break;
	case OAUTH_EP_INTROSPECT:
		oauth_introspect_run(j);
		break;
	case OAUTH_EP_DEVICE_AUTHORIZATION:
		oauth_device_authorization_run(j);
		break;
	case OAUTH_EP_AUTHORIZE_GET:
	case OAUTH_EP_AUTHORIZE_POST:
		oauth_authorize_run(j);
		break;
	case OAUTH_EP_DEVICE_GET:
	case OAUTH_EP_DEVICE_POST:
		oauth_device_page_run(j);
		break;
	default:
		oauth_fail(j, OAUTH_ERR_SERVER_ERROR, NULL);
	}
	sodium_memzero(j->basic_secret, sizeof j->basic_secret);
	oauth_job_finish(j);
}

static void answer_posted(void *arg)
{
	job_answer(arg);
}

void oauth_job_finish(struct oauth_job *j)
{
	/* The last part of a job answers it (oauth_int.h: a deferred refresh grant has two),
	 * and only that one wakes the loop: the worker's part of a grant that waits for its
	 * commit ends here, on the worker, with no hop to the loop. */
	if (j->deferred && atomic_fetch_sub(&j->parts, 1) != 1)
		return;
	/* On the job's loop, as every answer; without one (a request not on a stream, or a
	 * loop that is stopping) here. */
	if (!j->loop || loop_post(j->loop, answer_posted, j) != 0)
		job_answer(j);
}

/* The CSRF cookie's value from the Cookie field, when it has the expected shape. */
static void cookie_of(struct http_request *req, char out[OAUTH_TOKEN_LEN + 1])
{
	out[0] = '\0';
	const char *c = http_header(req, "Cookie");
	static const char name[] = OAUTH_CSRF_COOKIE "=";
	for (const char *p = c; p && *p;) {
		while (*p == ' ' || *p == ';')
			p++;
		const char *end = strchr(p, ';');
		size_t len = end ? (size_t)(end - p) : strlen(p);
		if (len == sizeof name - 1 + OAUTH_TOKEN_LEN &&
		    memcmp(p, name, sizeof name - 1) == 0) {
			memcpy(out, p + sizeof name - 1, OAUTH_TOKEN_LEN);
			out[OAUTH_TOKEN_LEN] = '\0';
			return;
		}
		p += len;
	}
}

/* A request refused before a job: a JSON error for the API endpoints, a page's status for
 * the browser ones. */
static void refuse(struct oauth *o, struct http_request *req, enum oauth_endpoint ep,
                   enum oauth_err e, const char *why)
{
	tg_counter_inc(&o->bad_requests);
	log_ev(LOG_LVL_NOTICE, http_cid(req), "oauth_bad_request", LOG_S("path", http_path(req)),
	       LOG_S("error", oauth_err_name(e)), LOG_S("reason", why));
	if (ep >= OAUTH_EP_AUTHORIZE_GET) {
		http_add_header(req, "Cache-Control", "no-store");
		http_reply(req, oauth_err_status(e), "text/plain; charset=utf-8", why, strlen(why));
		return;
	}
	json_t *j = oauth_err_json(e, why);
	reply_json(req, oauth_err_status(e), j, NULL, 0, e == OAUTH_ERR_INVALID_CLIENT);
	json_decref(j);
}

static void start(struct http_request *req, struct oauth *o, enum oauth_endpoint ep)
{
	int post = strcmp(http_method(req), "POST") == 0;
	if (post && !http_content_type_is(req, "application/x-www-form-urlencoded")) {
		refuse(o, req, ep, OAUTH_ERR_INVALID_REQUEST,
		       "the body must be application/x-www-form-urlencoded");
		return;
	}
	struct oauth_job *j = calloc(1, sizeof *j);
	if (!j) {
		http_reply_status(req, 503);
		return;
	}
	j->o = o;
	j->req = req;
	j->ep = ep;
	size_t len = 0;
	const char *in = post ? http_body(req, &len) : http_query(req);
	if (!post)
		len = strlen(in);
	const char *why = NULL;
	int rc = oauth_form_parse(in, len, &j->form, &why);
	const char *auth = http_header(req, "Authorization");
	if (rc == 0 && auth) {
		int b = oauth_basic_parse(auth, j->basic_id, j->basic_secret, &j->basic_len);
		j->basic = b == 0;
		if (b == -EINVAL) {
			job_free(j);
			refuse(o, req, ep, OAUTH_ERR_INVALID_CLIENT, "malformed Basic credentials");
			return;
		}
	}
	if (rc != 0) {
		job_free(j);
		refuse(o, req, ep, OAUTH_ERR_INVALID_REQUEST, why);
		return;
	}
	const struct http_client_cert *cert = http_client_cert(req);
	if (ep == OAUTH_EP_INTROSPECT && !cert &&
	    oauth_introspect_fast(o, req, &j->form, j->basic, j->basic_id, j->basic_secret,
	                          j->basic_len)) {
		job_free(j);
		return;
	}
	struct stream *cs = cert ? http_stream(req) : NULL;
	X509 *peer = cs && stream_ssl(cs) ? SSL_get0_peer_certificate(stream_ssl(cs)) : NULL;
	if (cert && peer) {
		tg_strlcpy(j->cert_cn, cert->cn, sizeof j->cert_cn);
		if (ca_serial_hex(X509_get0_serialNumber(peer), j->cert_serial) != 0)
			j->cert_serial[0] = '\0';
		tls_cert_sha256(peer, j->cert_sha256, sizeof j->cert_sha256);
	}
	cookie_of(req, j->cookie);
	tg_strlcpy(j->cid, http_cid(req), sizeof j->cid);
	http_peer_address(req, j->source, sizeof j->source);
	j->now = tg_now_s();
	struct stream *s = http_stream(req);
	j->loop = s ? stream_loop(s) : NULL;
	http_hold(req);
	/* A refresh grant decidable from the caches goes to the committer with no worker hop
	 * (two thread wake-ups less; oauth_fast.c). */
	int fast = ep == OAUTH_EP_TOKEN && !cert ? oauth_refresh_fast(j) : 0;
	if (fast > 0)
		return;
	if (fast < 0) {
		job_answer(j);
		return;
	}
	/* No done: job_run ends with oauth_job_finish, which posts the answer. */
	if (workers_submit(o->o.workers, job_run, NULL, j, j->loop) != 0) {
		oauth_fail(j, OAUTH_ERR_TEMPORARILY_UNAVAILABLE, "the server is busy");
		job_answer(j);
	}
}

/* --- routes ------------------------------------------------------------------------------- */

static void on_token(struct http_request *req, void *arg)
{
	start(req, arg, OAUTH_EP_TOKEN);
}

static void on_revoke(struct http_request *req, void *arg)
{
	start(req, arg, OAUTH_EP_REVOKE);
}

static void on_introspect(struct http_request *req, void *arg)
{
	start(req, arg, OAUTH_EP_INTROSPECT);
}

static void on_device_authorization(struct http_request *req, void *arg)
{
	start(req, arg, OAUTH_EP_DEVICE_AUTHORIZATION);
}

static void on_authorize(struct http_request *req, void *arg)
{
	int post = strcmp(http_method(req), "POST") == 0;
	start(req, arg, post ? OAUTH_EP_AUTHORIZE_POST : OAUTH_EP_AUTHORIZE_GET);
}

static void on_device(struct http_request *req, void *arg)
{
	int post = strcmp(http_method(req), "POST") == 0;
	start(req, arg, post ? OAUTH_EP_DEVICE_POST : OAUTH_EP_DEVICE_GET);
}

static void on_jwks(struct http_request *req, void *arg)
{
	struct oauth *o = arg;
	char *doc = NULL;
	size_t len = 0;
	if (authz_jwks(o->o.authz, &doc, &len) != 0) {
		http_reply_status(req, 503);
		return;
	}
	/* Short: a rotation publishes the next key ahead of its use (authz/keys). */
	http_add_header(req, "Cache-Control", "max-age=300");
	http_reply(req, 200, "application/jwk-set+json", doc, len);
	free(doc);
}

static void on_metadata(struct http_request *req, void *arg)
{
	struct oauth *o = arg;
	http_add_header(req, "Cache-Control", "max-age=3600");
	http_reply(req, 200, "application/json", o->metadata, o->metadata_len);
}

size_t oauth_routes(struct oauth *o, struct http_route *out, size_t cap)
{
	const struct http_route r[OAUTH_ROUTES] = {
	    {"GET", "/.well-known/oauth-authorization-server", HTTP_EXACT, on_metadata, o},
	    {"GET", "/oauth/jwks", HTTP_EXACT, on_jwks, o},
	    {"GET", "/oauth/authorize", HTTP_EXACT, on_authorize, o},
	    {"POST", "/oauth/authorize", HTTP_EXACT, on_authorize, o},
	    {"POST", "/oauth/token", HTTP_EXACT, on_token, o},
	    {"POST", "/oauth/device_authorization", HTTP_EXACT, on_device_authorization, o},
	    {"GET", "/oauth/device", HTTP_EXACT, on_device, o},
	    {"POST", "/oauth/device", HTTP_EXACT, on_device, o},
	    {"POST", "/oauth/revoke", HTTP_EXACT, on_revoke, o},
	    {"POST", "/oauth/introspect", HTTP_EXACT, on_introspect, o},
	};
	size_t n = cap < OAUTH_ROUTES ? cap : OAUTH_ROUTES;
	memcpy(out, r, n * sizeof r[0]);
	return n;
}

/* --- the service -------------------------------------------------------------------------- */

/* RFC 8414 §2: what a client needs to know, made once. */
static int make_metadata(struct oauth *o)
{
	static const char *const paths[][2] = {
	    {"authorization_endpoint", "/oauth/authorize"},
	    {"token_endpoint", "/oauth/token"},
	    {"jwks_uri", "/oauth/jwks"},
	    {"revocation_endpoint", "/oauth/revoke"},
	    {"introspection_endpoint", "/oauth/introspect"},
	    {"device_authorization_endpoint", "/oauth/device_authorization"},
	};
	json_t *m = json_pack(
	    "{s:s,s:[s],s:[s],s:[ssss],s:[sss],s:[sss],s:[sss],s:b}", "issuer", o->issuer,
	    "response_types_supported", "code", "code_challenge_methods_supported", "S256",
	    "grant_types_supported", "authorization_code", "refresh_token",
	    "urn:ietf:params:oauth:grant-type:device_code", "client_credentials",
	    "token_endpoint_auth_methods_supported", "client_secret_basic", "client_secret_post",
	    "tls_client_auth", "revocation_endpoint_auth_methods_supported", "client_secret_basic",
	    "client_secret_post", "tls_client_auth",
	    "introspection_endpoint_auth_methods_supported", "client_secret_basic",
	    "client_secret_post", "tls_client_auth", "tls_client_certificate_bound_access_tokens",
	    0);
	if (!m)
		return -1;
	for (size_t i = 0; i < sizeof paths / sizeof paths[0]; i++) {
		char url[512];
		oauth_url(o, paths[i][1], url, sizeof url);
		json_object_set_new(m, paths[i][0], json_string(url));
	}
	o->metadata = json_dumps(m, JSON_COMPACT | JSON_SORT_KEYS);
	json_decref(m);
	if (!o->metadata)
		return -1;
	o->metadata_len = strlen(o->metadata);
	return 0;
}

struct oauth *oauth_new(const struct oauth_options *opt, char *err, size_t errlen)
{
	struct oauth *o = calloc(1, sizeof *o);
	if (!o) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	o->o = *opt;
	tg_strlcpy(o->issuer, opt->issuer, sizeof o->issuer);
	/* The issuer is a URL without a trailing slash (RFC 8414 §2: paths are appended). */
	size_t n = strlen(o->issuer);
	while (n && o->issuer[n - 1] == '/')
		o->issuer[--n] = '\0';
	if (o->o.refresh_grace_s < 0)
		o->o.refresh_grace_s = 0;
	if (oauth_key_load(opt->pki_dir, o->key, err, errlen) != 0)
		goto fail;
	o->grant_user_cache = strcmp(store_backend_name(o->o.store), "sqlite") == 0;
	if (oauth_cache_init(o) != 0 || !(o->commit = oauth_commit_start(o))) {
		snprintf(err, errlen, "out of memory");
		goto fail;
	}
	if (make_metadata(o) != 0) {
		snprintf(err, errlen, "out of memory");
		goto fail;
	}
	return o;
fail:
	oauth_free(o);
	return NULL;
}

void oauth_stop(struct oauth *o)
{
	if (!o)
		return;
	oauth_commit_stop(o->commit);
	o->commit = NULL;
}

void oauth_free(struct oauth *o)
{
	if (!o)
		return;
	/* Before the key: the committer's last answers may use it. */
	oauth_stop(o);
	sodium_memzero(o->key, sizeof o->key);
	oauth_cache_destroy(o);
	free(o->metadata);
	free(o);
}

void oauth_stats(struct oauth *o, struct oauth_stats *out)
{
	out->tokens_issued = tg_counter_get(&o->tokens_issued);
	out->refresh_rotations = tg_counter_get(&o->refresh_rotations);
	out->refresh_retries = tg_counter_get(&o->refresh_retries);
	out->refresh_reuse_revocations = tg_counter_get(&o->refresh_reuse_revocations);
	out->logins_ok = tg_counter_get(&o->logins_ok);
	out->logins_failed = tg_counter_get(&o->logins_failed);
	out->logins_unknown_user = tg_counter_get(&o->logins_unknown_user);
	out->introspections = tg_counter_get(&o->introspections);
	out->revocations = tg_counter_get(&o->revocations);
	out->bad_requests = tg_counter_get(&o->bad_requests);
}
