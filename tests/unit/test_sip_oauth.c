/* SPDX-License-Identifier: ISC */
/* SIP OAuth (sip/oauth.h, sip/bearer.h): the whole matrix mode x profile x port x credential
 * against the table docs/sip.md shows (every cell), the challenge forms, and the Bearer
 * credentials parser on RFC 6750's and Jabber's forms and on what it must refuse. */
#include "sip/bearer.h"
#include "sip/oauth.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <cmocka.h>

/* The credentials of the matrix's rows. */
enum cred {
	C_NONE,        /* no Authorization / Proxy-Authorization */
	C_DIGEST,      /* a Digest Authorization */
	C_TOKEN,       /* a valid sip token of the device's owner or an associated user */
	C_TOKEN_OTHER, /* a valid sip token of a user neither owner nor associated */
	C_EXPIRED,     /* expired (revoked and a cti audience decide the same: invalid) */
	C_REVOKED,
	C_WRONG_AUD,
	C_CREDS
};

static const char *const cred_names[C_CREDS] = {"none",    "digest",  "token",    "other user",
                                                "expired", "revoked", "cti token"};

/* The columns: mode off/on x profile default (digest on, OAuth off) / OAuth (digest off) /
 * neither. Cells, as docs/sip.md writes them:
 *   "200"     registered (bearer)           "digest"  the digest steps decide (200/403/401)
 *   "401 D"   401 Digest challenge          "403"     403 Forbidden (held)
 *   "403 W"   403 + Warning 399 "SIP OAuth Registration port Mismatch" + Retry-After
 *   "407 B"   407 Proxy-Authenticate: Bearer realm, scope, authz_server
 *   "407 I"   the same with error="invalid_token" */
struct mrow {
	enum sip_port_kind port;
	enum cred cred;
	const char
	    *cells[6]; /* off/default, off/oauth, off/neither, on/default, on/oauth, on/neither */
};

static const struct mrow matrix[] = {
    {SIP_PORT_PLAIN, C_NONE, {"401 D", "401 D", "401 D", "401 D", "401 D", "401 D"}},
    {SIP_PORT_PLAIN, C_DIGEST, {"digest", "403", "403", "digest", "403 W", "403"}},
    {SIP_PORT_PLAIN, C_TOKEN, {"401 D", "401 D", "401 D", "401 D", "401 D", "401 D"}},
    {SIP_PORT_PLAIN, C_TOKEN_OTHER, {"401 D", "401 D", "401 D", "401 D", "401 D", "401 D"}},
    {SIP_PORT_PLAIN, C_EXPIRED, {"401 D", "401 D", "401 D", "401 D", "401 D", "401 D"}},
    {SIP_PORT_PLAIN, C_REVOKED, {"401 D", "401 D", "401 D", "401 D", "401 D", "401 D"}},
    {SIP_PORT_PLAIN, C_WRONG_AUD, {"401 D", "401 D", "401 D", "401 D", "401 D", "401 D"}},
    {SIP_PORT_TLS, C_NONE, {"401 D", "401 D", "401 D", "401 D", "401 D", "401 D"}},
    {SIP_PORT_TLS, C_DIGEST, {"digest", "403", "403", "digest", "403 W", "403"}},
    {SIP_PORT_TLS, C_TOKEN, {"401 D", "401 D", "401 D", "401 D", "401 D", "401 D"}},
    {SIP_PORT_TLS, C_TOKEN_OTHER, {"401 D", "401 D", "401 D", "401 D", "401 D", "401 D"}},
    {SIP_PORT_TLS, C_EXPIRED, {"401 D", "401 D", "401 D", "401 D", "401 D", "401 D"}},
    {SIP_PORT_TLS, C_REVOKED, {"401 D", "401 D", "401 D", "401 D", "401 D", "401 D"}},
    {SIP_PORT_TLS, C_WRONG_AUD, {"401 D", "401 D", "401 D", "401 D", "401 D", "401 D"}},
    {SIP_PORT_OAUTH, C_NONE, {"403 W", "403 W", "403 W", "407 B", "407 B", "407 B"}},
    {SIP_PORT_OAUTH, C_DIGEST, {"403 W", "403 W", "403 W", "403 W", "403 W", "403 W"}},
    {SIP_PORT_OAUTH, C_TOKEN, {"403 W", "403 W", "403 W", "403 W", "200", "403 W"}},
    {SIP_PORT_OAUTH, C_TOKEN_OTHER, {"403 W", "403 W", "403 W", "403 W", "403", "403 W"}},
    {SIP_PORT_OAUTH, C_EXPIRED, {"403 W", "403 W", "403 W", "407 I", "407 I", "407 I"}},
    {SIP_PORT_OAUTH, C_REVOKED, {"403 W", "403 W", "403 W", "407 I", "407 I", "407 I"}},
    {SIP_PORT_OAUTH, C_WRONG_AUD, {"403 W", "403 W", "403 W", "407 I", "407 I", "407 I"}},
    {SIP_PORT_EDGE, C_NONE, {"401 D", "401 D", "401 D", "401 D", "401 D", "401 D"}},
    {SIP_PORT_EDGE, C_DIGEST, {"digest", "403", "403", "digest", "403", "403"}},
    {SIP_PORT_EDGE, C_TOKEN, {"403", "200", "403", "403", "200", "403"}},
    {SIP_PORT_EDGE, C_TOKEN_OTHER, {"403", "403", "403", "403", "403", "403"}},
    {SIP_PORT_EDGE, C_EXPIRED, {"407 I", "407 I", "407 I", "407 I", "407 I", "407 I"}},
    {SIP_PORT_EDGE, C_REVOKED, {"407 I", "407 I", "407 I", "407 I", "407 I", "407 I"}},
    {SIP_PORT_EDGE, C_WRONG_AUD, {"407 I", "407 I", "407 I", "407 I", "407 I", "407 I"}},
};

/* The cell's text for an outcome. */
static const char *cell(enum sip_reg_outcome o)
{
	switch (o) {
	case SIP_REG_OK:
		return "200";
	case SIP_REG_CONTINUE:
		return "digest";
	case SIP_REG_CHALLENGE:
		return "401 D";
	case SIP_REG_FORBIDDEN:
		return "403";
	case SIP_REG_OAUTH_PORT_MISMATCH:
		return "403 W";
	case SIP_REG_BEARER_CHALLENGE:
		return "407 B";
	case SIP_REG_BEARER_INVALID:
		return "407 I";
	default:
		return sip_reg_reply(o) ? sip_reg_reply(o)->name : "?";
	}
}

static struct sip_oauth_case make(int mode, int prof, enum sip_port_kind port, enum cred cr)
{
	struct sip_oauth_case c = {.mode = mode, .port = port, .form = SIP_BEARER_JABBER};
	c.known = 1;
	c.prof_oauth = prof == 1;
	c.prof_digest = prof == 0;
	c.cred = cr == C_NONE ? SIP_CRED_NONE : cr == C_DIGEST ? SIP_CRED_DIGEST : SIP_CRED_BEARER;
	c.verdict = cr == C_EXPIRED     ? AUTHZ_EXPIRED
	            : cr == C_REVOKED   ? AUTHZ_REVOKED
	            : cr == C_WRONG_AUD ? AUTHZ_WRONG_AUDIENCE
	                                : AUTHZ_OK;
	c.sub_allowed = cr == C_TOKEN;
	return c;
}

/* Every cell of the matrix, each with a reason for the trace. */
static void test_matrix(void **state)
{
	(void)state;
	int cells = 0;
	for (size_t i = 0; i < sizeof matrix / sizeof matrix[0]; i++) {
		const struct mrow *m = &matrix[i];
		for (int col = 0; col < 6; col++) {
			struct sip_oauth_case c = make(col / 3, col % 3, m->port, m->cred);
			struct sip_oauth_decision d = sip_oauth_decide(&c);
			if (strcmp(cell(d.o), m->cells[col]) != 0)
				fail_msg("port %s, %s, mode %d, profile %d: %s, want %s",
				         sip_port_kind_name(m->port), cred_names[m->cred], col / 3,
				         col % 3, cell(d.o), m->cells[col]);
			assert_non_null(d.reason);
			assert_true(d.reason[0] != '\0');
			cells++;
		}
	}
	assert_int_equal(cells, SIP_PORT_KINDS * C_CREDS * 6); /* the whole matrix */
}

/* The trace names the cause; the peer's answer does not. */
static void test_reasons(void **state)
{
	(void)state;
	struct sip_oauth_case c = make(1, 1, SIP_PORT_OAUTH, C_EXPIRED);
	assert_string_equal(sip_oauth_decide(&c).reason, "expired");
	c = make(1, 1, SIP_PORT_OAUTH, C_REVOKED);
	assert_string_equal(sip_oauth_decide(&c).reason, "revoked");
	c = make(1, 1, SIP_PORT_OAUTH, C_WRONG_AUD);
	assert_string_equal(sip_oauth_decide(&c).reason, "wrong_audience");
	c = make(1, 0, SIP_PORT_OAUTH, C_TOKEN);
	assert_string_equal(sip_oauth_decide(&c).reason, "profile without OAuth");
	c = make(1, 1, SIP_PORT_OAUTH, C_TOKEN_OTHER);
	assert_string_equal(sip_oauth_decide(&c).reason, "token user neither owner nor associated");
	c = make(0, 1, SIP_PORT_OAUTH, C_TOKEN);
	assert_string_equal(sip_oauth_decide(&c).reason, "SIP OAuth mode off");
	c = make(1, 1, SIP_PORT_OAUTH, C_DIGEST);
	assert_string_equal(sip_oauth_decide(&c).reason, "digest on sipOAuthPort");
	c = make(0, 2, SIP_PORT_TLS, C_DIGEST);
	assert_string_equal(sip_oauth_decide(&c).reason, "profile without digest");
	/* an unknown device: a token never means "anyone" (403); digest: the digest steps */
	c = make(1, 1, SIP_PORT_OAUTH, C_TOKEN);
	c.known = 0;
	assert_int_equal(sip_oauth_decide(&c).o, SIP_REG_FORBIDDEN);
	c = make(1, 1, SIP_PORT_EDGE, C_TOKEN);
	c.known = 0;
	assert_int_equal(sip_oauth_decide(&c).o, SIP_REG_FORBIDDEN);
	c = make(1, 1, SIP_PORT_TLS, C_DIGEST);
	c.known = 0;
	assert_int_equal(sip_oauth_decide(&c).o, SIP_REG_CONTINUE);
}

/* The answer takes the form of the client's credential; no token: the configured one. */
static void test_challenge_forms(void **state)
{
	(void)state;
	struct sip_oauth_case c = make(1, 1, SIP_PORT_OAUTH, C_EXPIRED);
	c.form = SIP_BEARER_RFC8898;
	assert_int_equal(sip_oauth_decide(&c).o, SIP_REG_BEARER_INVALID_WWW);
	c.form = SIP_BEARER_JABBER;
	assert_int_equal(sip_oauth_decide(&c).o, SIP_REG_BEARER_INVALID);
	c = make(1, 1, SIP_PORT_OAUTH, C_NONE);
	assert_int_equal(sip_oauth_decide(&c).o, SIP_REG_BEARER_CHALLENGE);
	c.www_default = 1;
	assert_int_equal(sip_oauth_decide(&c).o, SIP_REG_BEARER_CHALLENGE_WWW);
	assert_int_equal(sip_reg_reply(SIP_REG_BEARER_CHALLENGE)->code, 407);
	assert_int_equal(sip_reg_reply(SIP_REG_BEARER_CHALLENGE)->proxy, 1);
	assert_int_equal(sip_reg_reply(SIP_REG_BEARER_CHALLENGE_WWW)->code, 401);
	assert_int_equal(sip_reg_reply(SIP_REG_BEARER_INVALID)->bearer, 2);
	assert_string_equal(sip_reg_reply(SIP_REG_OAUTH_PORT_MISMATCH)->warning,
	                    "SIP OAuth Registration port Mismatch");
}

static void parse_ok(const char *v, const char *token, enum sip_bearer_form form)
{
	struct sip_bearer_creds c;
	char err[96] = "";
	if (sip_bearer_parse(v, &c, err, sizeof err) != 0)
		fail_msg("%s: %s", v, err);
	assert_int_equal(c.len, strlen(token));
	assert_memory_equal(c.token, token, c.len);
	assert_int_equal(c.form, form);
}

static void parse_bad(const char *v)
{
	struct sip_bearer_creds c;
	char err[96] = "";
	if (sip_bearer_parse(v, &c, err, sizeof err) == 0)
		fail_msg("accepted: %s", v);
	assert_true(err[0] != '\0');
}

static void test_parse(void **state)
{
	(void)state;
	parse_ok("Bearer mF_9.B5f-4.1JqM", "mF_9.B5f-4.1JqM", SIP_BEARER_RFC8898); /* RFC 6750 */
	parse_ok("bearer\tabc.def.ghi==  ", "abc.def.ghi==", SIP_BEARER_RFC8898);
	parse_ok("Bearer token=\"eyJh.eyJz.c2ln\"", "eyJh.eyJz.c2ln", SIP_BEARER_JABBER);
	parse_ok("Bearer token = \"a.b.c\" ", "a.b.c", SIP_BEARER_JABBER);
	parse_ok("Bearer token=a.b.c", "a.b.c", SIP_BEARER_JABBER);
	parse_bad("Digest username=\"a\"");
	parse_bad("Bearer");
	parse_bad("Bearer ");
	parse_bad("Bearertoken=\"a\"");
	parse_bad("Bearer a b");
	parse_bad("Bearer a\"b");
	parse_bad("Bearer token=\"a.b.c");
	parse_bad("Bearer token=\"\"");
	parse_bad("Bearer token=\"a\", realm=\"x\"");
	parse_bad("Bearer token=\"a\" x");
	parse_bad("Bearer realm=\"x\"");
	parse_bad("Bearer =abc");
	char big[SIP_BEARER_TOKEN_MAX + 16];
	memcpy(big, "Bearer ", 7);
	memset(big + 7, 'a', SIP_BEARER_TOKEN_MAX + 1);
	big[7 + SIP_BEARER_TOKEN_MAX + 1] = '\0';
	parse_bad(big);
}

static void test_challenge_text(void **state)
{
	(void)state;
	char out[512];
	int n =
	    sip_bearer_challenge(out, sizeof out, "example.net", "sip", "https://pbx:8443", NULL);
	assert_true(n > 0);
	assert_string_equal(
	    out, "Bearer realm=\"example.net\", scope=\"sip\", authz_server=\"https://pbx:8443\"");
	n = sip_bearer_challenge(out, sizeof out, "r", "sip", "https://a", "invalid_token");
	assert_string_equal(out, "Bearer realm=\"r\", scope=\"sip\", authz_server=\"https://a\", "
	                         "error=\"invalid_token\"");
	assert_int_equal(sip_bearer_challenge(out, sizeof out, "r\"", "sip", "https://a", NULL),
	                 -1);
	assert_int_equal(sip_bearer_challenge(out, 10, "r", "sip", "https://a", NULL), -1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_matrix),          cmocka_unit_test(test_reasons),
	    cmocka_unit_test(test_challenge_forms), cmocka_unit_test(test_parse),
	    cmocka_unit_test(test_challenge_text),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
