/* SPDX-License-Identifier: ISC */
/* The login pages (oauth_int.h): /oauth/authorize (RFC 6749 §4.1.1, RFC 7636 S256 only)
 * and the device approval page /oauth/device (RFC 8628 §3.3). Server-rendered HTML, no
 * JavaScript; a CSRF token bound to a cookie (oauth_crypto.h); the password goes through
 * the directory (dir_authenticate: local or LDAP, the credential policy, and the same
 * argon2id work for an unknown user as for a known one). On a worker. */
#include "authz/oauth_int.h"

#include "core/util.h"
#include "dir/dir.h"

#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define PAGE_MAX 16384

/* --- HTML --------------------------------------------------------------------------------- */

static void put_escaped(struct tg_sbuf *b, const char *s)
{
	char one[2] = {0, 0};
	for (; s && *s; s++) {
		switch (*s) {
		case '&':
			tg_sbuf_put(b, "&amp;");
			break;
		case '<':
			tg_sbuf_put(b, "&lt;");
			break;
		case '>':
			tg_sbuf_put(b, "&gt;");
			break;
		case '"':
			tg_sbuf_put(b, "&quot;");
			break;
		case '\'':
			tg_sbuf_put(b, "&#39;");
			break;
		default:
			one[0] = *s;
			tg_sbuf_put(b, one);
		}
	}
}

static void hidden(struct tg_sbuf *b, const char *name, const char *value)
{
	if (!value)
		return;
	tg_sbuf_put(b, "<input type=\"hidden\" name=\"");
	tg_sbuf_put(b, name);
	tg_sbuf_put(b, "\" value=\"");
	put_escaped(b, value);
	tg_sbuf_put(b, "\">\n");
}

static void page_begin(struct tg_sbuf *b, const char *title)
{
	tg_sbuf_put(b, "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
	               "<title>");
	put_escaped(b, title);
	tg_sbuf_put(b, "</title></head><body>\n<h1>");
	put_escaped(b, title);
	tg_sbuf_put(b, "</h1>\n");
}

/* Sets the answer to the page built in buf (status), or a 500 when it did not fit. */
static void page_end(struct oauth_job *j, struct tg_sbuf *b, int status)
{
	tg_sbuf_put(b, "</body></html>\n");
	if (tg_sbuf_len(b) < 0) {
		free(b->p);
		oauth_fail(j, OAUTH_ERR_SERVER_ERROR, NULL);
		return;
	}
	j->status = status;
	j->html = b->p;
	j->html_len = b->len;
}

static int page_new(struct oauth_job *j, struct tg_sbuf *b)
{
	*b = (struct tg_sbuf){malloc(PAGE_MAX), PAGE_MAX, 0, 0};
	if (!b->p) {
		oauth_fail(j, OAUTH_ERR_SERVER_ERROR, NULL);
		return -1;
	}
	b->p[0] = '\0';
	return 0;
}

/* A page that says what went wrong (never a redirect: the redirect URI is not trusted). */
static void error_page(struct oauth_job *j, int status, const char *msg)
{
	struct tg_sbuf b;
	if (page_new(j, &b) != 0)
		return;
	page_begin(&b, "Sign-in error");
	tg_sbuf_put(&b, "<p>");
	put_escaped(&b, msg);
	tg_sbuf_put(&b, "</p>\n");
	page_end(j, &b, status);
}

/* The CSRF token of this browser's cookie (a new cookie when it has none). */
static void csrf_for(struct oauth_job *j, char token[OAUTH_TOKEN_LEN + 1])
{
	if (strlen(j->cookie) != OAUTH_TOKEN_LEN) {
		oauth_random_token(j->set_cookie);
		snprintf(j->cookie, sizeof j->cookie, "%s", j->set_cookie);
	}
	oauth_csrf_token(j->o->key, j->cookie, token);
}

/* The user id and password fields, the CSRF token and a message (NULL = none). */
static void login_fields(struct oauth_job *j, struct tg_sbuf *b, const char *message)
{
	char csrf[OAUTH_TOKEN_LEN + 1];
	csrf_for(j, csrf);
	if (message) {
		tg_sbuf_put(b, "<p role=\"alert\">");
		put_escaped(b, message);
		tg_sbuf_put(b, "</p>\n");
	}
	hidden(b, "csrf_token", csrf);
	tg_sbuf_put(b,
	            "<p><label>User ID <input name=\"username\" autocomplete=\"username\" "
	            "required></label></p>\n<p><label>Password <input name=\"password\" "
	            "type=\"password\" autocomplete=\"current-password\" required></label></p>\n");
}

/* --- the password ------------------------------------------------------------------------- */

/* Checks the form's user id and password through the directory; 1 when they are right
 * (*userid gets the id). Counts and logs the attempt. */
static int login(struct oauth_job *j, const char *page, char *userid, size_t cap)
{
	const char *user = http_form_get(&j->form, "username");
	const char *pass = http_form_get(&j->form, "password");
	if (!user || !pass || !user[0])
		return 0;
	char detail[160] = "";
	unsigned perms = 0;
	enum dir_status st = dir_authenticate_wait(j->o->o.dir, user, pass, strlen(pass), j->cid,
	                                           &perms, detail, sizeof detail);
	/* An unknown user was checked against the directory's dummy hash, at the cost of a
	 * real one (dir.h): the counter and the line say so, the answer does not. */
	int unknown = st == DIR_UNKNOWN_USER;
	tg_counter_inc(st == DIR_OK ? &j->o->logins_ok
	               : unknown    ? &j->o->logins_unknown_user
	                            : &j->o->logins_failed);
	log_ev(st == DIR_OK ? LOG_LVL_INFO : LOG_LVL_NOTICE, j->cid, "oauth_login",
	       LOG_S("page", page), LOG_S("user", user), LOG_S("outcome", dir_status_name(st)),
	       LOG_I_IF(unknown, "dummy_hash", 1), LOG_S("detail", detail[0] ? detail : NULL),
	       LOG_S("source", j->source));
	if (st != DIR_OK)
		return 0;
	snprintf(userid, cap, "%s", user);
	return 1;
}

/* --- /oauth/authorize --------------------------------------------------------------------- */

/* Appends name=value (percent-encoded) to a URL being built. */
static void put_param(struct tg_sbuf *b, const char *name, const char *value)
{
	static const char hex[] = "0123456789ABCDEF";
	tg_sbuf_put(b, strchr(b->p, '?') ? "&" : "?");
	tg_sbuf_put(b, name);
	tg_sbuf_put(b, "=");
	char e[4] = "%";
	for (const unsigned char *p = (const unsigned char *)value; *p; p++) {
		if ((*p >= 'A' && *p <= 'Z') || (*p >= 'a' && *p <= 'z') ||
		    (*p >= '0' && *p <= '9') || strchr("-._~", *p)) {
			char one[2] = {(char)*p, 0};
			tg_sbuf_put(b, one);
		} else {
			e[1] = hex[*p >> 4];
			e[2] = hex[*p & 15];
			tg_sbuf_put(b, e);
		}
	}
}

/* Redirects to the (verified) redirect URI with the answer's parameters (RFC 6749
 * §4.1.2 / §4.1.2.1). */
static void redirect(struct oauth_job *j, const char *uri, const char *k1, const char *v1,
                     const char *k2, const char *v2)
{
	size_t cap = strlen(uri) + 1024 + 3 * (v1 ? strlen(v1) : 0) + 3 * (v2 ? strlen(v2) : 0);
	const char *state = http_form_get(&j->form, "state");
	cap += state ? 3 * strlen(state) : 0;
	struct tg_sbuf b = {malloc(cap), cap, 0, 0};
	if (!b.p) {
		oauth_fail(j, OAUTH_ERR_SERVER_ERROR, NULL);
		return;
	}
	b.p[0] = '\0';
	tg_sbuf_put(&b, uri);
	if (k1 && v1)
		put_param(&b, k1, v1);
	if (k2 && v2)
		put_param(&b, k2, v2);
	if (state)
		put_param(&b, "state", state);
	if (tg_sbuf_len(&b) < 0) {
		free(b.p);
		oauth_fail(j, OAUTH_ERR_SERVER_ERROR, NULL);
		return;
	}
	j->status = 302;
	j->location = b.p;
}

static void redirect_error(struct oauth_job *j, const char *uri, enum oauth_err e, const char *desc)
{
	log_ev(LOG_LVL_NOTICE, j->cid, "oauth_authorize_refused",
	       LOG_S("client_id", http_form_get(&j->form, "client_id")),
	       LOG_S("error", oauth_err_name(e)), LOG_S("reason", desc));
	redirect(j, uri, "error", oauth_err_name(e), desc ? "error_description" : NULL, desc);
}

/* The authorization request's checks (RFC 6749 §4.1.1, §3.1.2.4; RFC 7636 §4.4.1): 0 when
 * it may go on (*cl and scope filled); else the answer is set. An unknown client or a
 * redirect URI that is not exactly a registered one gets an error page, never a
 * redirect (§4.1.2.1). */
static int authorize_check(struct oauth_job *j, struct store_oauthclient *cl, char *scope,
                           size_t cap)
{
	const char *id = http_form_get(&j->form, "client_id");
	const char *uri = http_form_get(&j->form, "redirect_uri");
	int rc = id && strlen(id) <= STORE_ID_MAX ? store_oauthclient_get(j->o->o.store, id, cl)
	                                          : STORE_NOTFOUND;
	if (rc != STORE_OK && rc != STORE_NOTFOUND) {
		error_page(j, 503, "The service is not available; try again later.");
		return -1;
	}
	if (rc == STORE_NOTFOUND) {
		error_page(j, 400, "Unknown client.");
		return -1;
	}
	if (!uri || strchr(uri, ' ') || !oauth_list_has(cl->redirecturis, uri)) {
		log_ev(LOG_LVL_NOTICE, j->cid, "oauth_authorize_refused", LOG_S("client_id", id),
		       LOG_S("reason", "redirect_uri mismatch"));
		error_page(j, 400, "The redirect URI is not one registered for this client.");
		return -1;
	}
	const char *rt = http_form_get(&j->form, "response_type");
	const char *method = http_form_get(&j->form, "code_challenge_method");
	const char *challenge = http_form_get(&j->form, "code_challenge");
	if (!rt || strcmp(rt, "code") != 0)
		redirect_error(j, uri, OAUTH_ERR_UNSUPPORTED_RESPONSE_TYPE, NULL);
	else if (!oauth_list_has(cl->granttypes, "authorization_code"))
		redirect_error(j, uri, OAUTH_ERR_UNAUTHORIZED_CLIENT, NULL);
	else if (!method || strcmp(method, "S256") != 0)
		redirect_error(j, uri, OAUTH_ERR_INVALID_REQUEST,
		               "PKCE with code_challenge_method S256 is required");
	else if (!challenge || !oauth_pkce_challenge_ok(challenge))
		redirect_error(j, uri, OAUTH_ERR_INVALID_REQUEST, "code_challenge is not S256");
	else if (oauth_scope_grant(cl, http_form_get(&j->form, "scope"), scope, cap) != 0)
		redirect_error(j, uri, OAUTH_ERR_INVALID_SCOPE, NULL);
	else
		return 0;
	return -1;
}

static void authorize_form(struct oauth_job *j, const struct store_oauthclient *cl,
                           const char *message, int status)
{
	struct tg_sbuf b;
	if (page_new(j, &b) != 0)
		return;
	page_begin(&b, "Sign in");
	tg_sbuf_put(&b, "<p>Application <strong>");
	put_escaped(&b, cl->clientid);
	tg_sbuf_put(&b, "</strong> asks to act on your behalf.</p>\n"
	                "<form method=\"post\" action=\"/oauth/authorize\">\n");
	static const char *const params[] = {
	    "response_type", "client_id",      "redirect_uri",         "scope",
	    "state",         "code_challenge", "code_challenge_method"};
	for (size_t i = 0; i < sizeof params / sizeof params[0]; i++)
		hidden(&b, params[i], http_form_get(&j->form, params[i]));
	login_fields(j, &b, message);
	tg_sbuf_put(&b, "<p><button type=\"submit\">Sign in</button></p>\n</form>\n");
	page_end(j, &b, status);
}

void oauth_authorize_run(struct oauth_job *j)
{
	struct store_oauthclient cl;
	char scope[STORE_OAUTH_SCOPE_MAX + 1];
	if (authorize_check(j, &cl, scope, sizeof scope) != 0)
		return;
	if (j->ep == OAUTH_EP_AUTHORIZE_GET) {
		authorize_form(j, &cl, NULL, 200);
		return;
	}
	if (!oauth_csrf_ok(j->o->key, j->cookie, http_form_get(&j->form, "csrf_token"))) {
		log_ev(LOG_LVL_NOTICE, j->cid, "oauth_csrf_refused", LOG_S("page", "authorize"),
		       LOG_S("source", j->source));
		error_page(j, 403,
		           "The form expired or did not come from this server; start again.");
		return;
	}
	char userid[STORE_ID_MAX + 1];
	if (!login(j, "authorize", userid, sizeof userid)) {
		authorize_form(j, &cl, "Sign-in failed.", 401);
		return;
	}
	char code[OAUTH_TOKEN_LEN + 1];
	struct store_oauthcode c;
	memset(&c, 0, sizeof c);
	oauth_random_token(code);
	oauth_token_hash(code, OAUTH_TOKEN_LEN, c.codehash);
	snprintf(c.clientid, sizeof c.clientid, "%s", cl.clientid);
	snprintf(c.userid, sizeof c.userid, "%s", userid);
	snprintf(c.redirecturi, sizeof c.redirecturi, "%s",
	         http_form_get(&j->form, "redirect_uri"));
	snprintf(c.challenge, sizeof c.challenge, "%s", http_form_get(&j->form, "code_challenge"));
	snprintf(c.scope, sizeof c.scope, "%s", scope);
	c.authtime = j->now;
	c.expires = j->now + OAUTH_CODE_LIFETIME_S;
	if (store_oauthcode_add(j->o->o.store, &c) != STORE_OK)
		error_page(j, 503, "The service is not available; try again later.");
	else
		redirect(j, c.redirecturi, "code", code, NULL, NULL);
	sodium_memzero(code, sizeof code);
}

/* --- /oauth/device ------------------------------------------------------------------------ */

static void device_form(struct oauth_job *j, const char *message, int status)
{
	struct tg_sbuf b;
	if (page_new(j, &b) != 0)
		return;
	page_begin(&b, "Connect a device");
	tg_sbuf_put(&b, "<form method=\"post\" action=\"/oauth/device\">\n<p><label>Code shown "
	                "on the device <input name=\"user_code\" required value=\"");
	put_escaped(&b, http_form_get(&j->form, "user_code"));
	tg_sbuf_put(&b, "\"></label></p>\n");
	login_fields(j, &b, message);
	tg_sbuf_put(&b, "<p><button type=\"submit\" name=\"action\" value=\"approve\">Allow"
	                "</button> <button type=\"submit\" name=\"action\" value=\"deny\">Deny"
	                "</button></p>\n</form>\n");
	page_end(j, &b, status);
}

void oauth_device_page_run(struct oauth_job *j)
{
	if (j->ep == OAUTH_EP_DEVICE_GET) {
		device_form(j, NULL, 200);
		return;
	}
	if (!oauth_csrf_ok(j->o->key, j->cookie, http_form_get(&j->form, "csrf_token"))) {
		log_ev(LOG_LVL_NOTICE, j->cid, "oauth_csrf_refused", LOG_S("page", "device"),
		       LOG_S("source", j->source));
		error_page(j, 403,
		           "The form expired or did not come from this server; start again.");
		return;
	}
	char code[OAUTH_USER_CODE_LEN + 1];
	const char *typed = http_form_get(&j->form, "user_code");
	struct store_oauthdevice d;
	if (!typed || oauth_user_code_normalise(typed, code) != 0 ||
	    store_oauthdevice_by_usercode(j->o->o.store, code, j->now, &d) != STORE_OK) {
		device_form(j, "Unknown or expired code.", 400);
		return;
	}
	char userid[STORE_ID_MAX + 1];
	if (!login(j, "device", userid, sizeof userid)) {
		device_form(j, "Sign-in failed.", 401);
		return;
	}
	const char *action = http_form_get(&j->form, "action");
	int approve = !action || strcmp(action, "deny") != 0;
	if (store_oauthdevice_decide(j->o->o.store, code, userid, approve, j->now, j->now) !=
	    STORE_OK) {
		device_form(j, "Unknown or expired code.", 400);
		return;
	}
	log_ev(LOG_LVL_INFO, j->cid, "oauth_device_decided", LOG_S("user", userid),
	       LOG_S("client_id", d.clientid), LOG_S("decision", approve ? "approved" : "denied"));
	struct tg_sbuf b;
	if (page_new(j, &b) != 0)
		return;
	page_begin(&b, approve ? "Device connected" : "Request denied");
	tg_sbuf_put(&b, approve ? "<p>You may return to your device.</p>\n"
	                        : "<p>The device was not connected.</p>\n");
	page_end(j, &b, 200);
}
