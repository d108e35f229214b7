/* SPDX-License-Identifier: ISC */
#include "core/config.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

static int parse(const char *text, struct tg_config *c, struct config_error *e)
{
	return config_parse("t.conf", text, strlen(text), c, e);
}

static void test_defaults(void **state)
{
	(void)state;
	struct tg_config c;
	config_defaults(&c);
	assert_string_equal(c.core.state_dir, "/var/lib/telgate");
	assert_string_equal(c.core.control_socket, "/var/lib/telgate/telgated.sock");
	assert_string_equal(c.store.path, "/var/lib/telgate/telgate.db");
	assert_string_equal(c.pki.dir, "/var/lib/telgate/pki");
	assert_int_equal(c.password.argon2_t, 2);
	assert_int_equal(c.password.argon2_m_kib, 19 * 1024);
	assert_int_equal(c.log.level, LOG_LVL_INFO);
}

static void test_example_file(void **state)
{
	(void)state;
	struct tg_config c;
	struct config_error e;
	int rc = config_load(EXAMPLES_DIR "/telgated.conf", &c, &e);
	if (rc != 0)
		fail_msg("%s:%d: %s", e.file, e.line, e.msg);
	assert_int_equal(c.core.drain_timeout_s, 10);
	assert_int_equal(c.store.busy_timeout_ms, 5000);
	assert_int_equal(c.pki.client_days, 730);
	assert_int_equal(c.pki.crl_days, 7);
	assert_int_equal(c.oauth.access_token_expiry_s, 3600);
	assert_int_equal(c.oauth.refresh_token_expiry_s, 5184000);
	assert_string_equal(c.oauth.alg, "ES256");
}

/* [oauth] (issue 18): the issuer follows the node address and the EST port (an IPv6
 * address in brackets); alg is one of three names; the issuer is an https:// URL. */
static void test_oauth(void **state)
{
	(void)state;
	struct tg_config c;
	struct config_error e;
	assert_int_equal(
	    parse("[core]\nnode_address = cucm-a.example.com\n[est]\nport = 9443\n", &c, &e), 0);
	assert_string_equal(c.oauth.issuer, "https://cucm-a.example.com:9443");
	assert_int_equal(c.oauth.leeway_s, 60);
	assert_int_equal(c.oauth.key_grace_s, 3600);
	assert_int_equal(parse("[core]\nnode_address = 2001:db8::1\n", &c, &e), 0);
	assert_string_equal(c.oauth.issuer, "https://[2001:db8::1]:8443");
	assert_int_equal(parse("[oauth]\nalg = EdDSA\nissuer = https://idp.example\n", &c, &e), 0);
	assert_string_equal(c.oauth.issuer, "https://idp.example");
	assert_int_equal(parse("[oauth]\nalg = HS256\n", &c, &e), -1);
	assert_non_null(strstr(e.msg, "oauth.alg"));
	assert_int_equal(parse("[oauth]\nalg = none\n", &c, &e), -1);
	assert_int_equal(parse("[oauth]\nissuer = http://idp.example\n", &c, &e), -1);
	assert_non_null(strstr(e.msg, "oauth.issuer"));
	assert_int_equal(parse("[oauth]\naccess_token_expiry_s = 10\n", &c, &e), -1);
}

static void test_good_values(void **state)
{
	(void)state;
	struct tg_config c;
	struct config_error e;
	const char *text = "\xef\xbb\xbf; comment\r\n# another\r\n[core]\r\n"
	                   "threads=3\r\n  workers  =  4 ; inline comment\r\n"
	                   "state_dir = /tmp/x\r\n[log]\r\nlevel = debug\r\nformat = json\r\n"
	                   "target = file:/tmp/x/log\r\n[password]\r\nargon2_t = 3\r\n";
	assert_int_equal(parse(text, &c, &e), 0);
	assert_int_equal(c.core.threads, 3);
	assert_int_equal(c.core.workers, 4);
	assert_string_equal(c.core.control_socket, "/tmp/x/telgated.sock");
	assert_string_equal(c.store.path, "/tmp/x/telgate.db");
	assert_int_equal(c.log.level, LOG_LVL_DEBUG);
	assert_int_equal(c.log.format, LOG_FMT_JSON);
	assert_string_equal(c.log.target, "file:/tmp/x/log");
	assert_int_equal(c.password.argon2_t, 3);
	assert_string_equal(c.path, "t.conf");
}

static void test_empty_file(void **state)
{
	(void)state;
	struct tg_config c;
	struct config_error e;
	assert_int_equal(parse("", &c, &e), 0);
	assert_int_equal(parse("\n\n; only comments\n", &c, &e), 0);
	assert_string_equal(c.core.state_dir, "/var/lib/telgate");
}

struct bad {
	const char *text;
	int line;
	const char *msg;
};

static void test_bad_files(void **state)
{
	(void)state;
	static const struct bad cases[] = {
	    {"[core]\nthreads = abc\n", 2, "not an integer"},
	    {"[core]\nthreads = 12abc\n", 2, "not an integer"},
	    {"[core]\nthreads = 999\n", 2, "out of range"},
	    {"[core]\nthreads = -1\n", 2, "out of range"},
	    {"[core]\nthreads = 99999999999999999999\n", 2, "not an integer"},
	    {"[nope]\nx = 1\n", 2, "unknown section [nope]"},
	    {"[core]\nthreads = 2\n\n  [bogus]\n", 4, "unknown section [bogus]"},
	    {"[core]\nbogus = 1\n", 2, "unknown key 'bogus'"},
	    {"x = 1\n", 1, "outside any [section]"},
	    {"[core]\nstate_dir = relative/dir\n", 2, "absolute path"},
	    {"[core]\nthreads = 1\n\nthreads = 2\n", 4, "duplicate key"},
	    {"[core\nthreads = 1\n", 1, "syntax error"},
	    {"[core]\njust words\n", 2, "syntax error"},
	    {"[log]\nlevel = loud\n", 2, "log.level"},
	    {"[log]\nformat = xml\n", 2, "log.format"},
	    {"[log]\ntarget = file:relative\n", 2, "log.target"},
	    {"[store]\nbackend = mysql\n", 2, "not supported"},
	    {"[password]\nargon2_m_kib = 4\n", 2, "out of range"},
	    {"[core]\n\n\nstate_dir = /ok\nuser = \n[pki]\nserver_days = 0\n", 7, "out of range"},
	    {"[pki]\nclient_days = 3651\n", 2, "out of range"},
	    {"[pki]\ncrl_days = 0\n", 2, "out of range"},
	    {"[ldap]\nstarttls = maybe\n", 2, "not yes or no"},
	    {"[ldap]\nservers = http://dc1\n", 2, "not an ldap:// or ldaps:// URI"},
	    {"[ldap]\nservers = ldaps://dc1 ldap:///nohost\n", 2, "with a host"},
	    {"[ldap]\nfilter = uid=%u\n", 2, "ldap.filter"},
	    {"[ldap]\nfilter = (uid=wwhite)\n", 2, "ldap.filter"},
	    {"[ldap]\nfilter = (uid=%s)\n", 2, "ldap.filter"},
	    {"[ldap]\nfilter = (&(uid=%u)\n", 2, "ldap.filter"},
	    {"[ldap]\nfilter = (uid=%u))(\n", 2, "ldap.filter"},
	    {"[ldap]\ntimeout_ms = 5\n", 2, "out of range"},
	    {"[ldap]\nbind_password_file = pw.txt\n", 2, "absolute path"},
	    {"[dir]\nfailure_delay_ms = 20000\n", 2, "out of range"},
	};
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		struct tg_config c;
		struct config_error e;
		int rc = parse(cases[i].text, &c, &e);
		if (rc == 0)
			fail_msg("case %zu accepted: %s", i, cases[i].text);
		if (e.line != cases[i].line || !strstr(e.msg, cases[i].msg))
			fail_msg("case %zu: got line %d '%s', want line %d '%s'", i, e.line, e.msg,
			         cases[i].line, cases[i].msg);
		char out[600];
		config_error_format(&e, out, sizeof out);
		char want[32];
		snprintf(want, sizeof want, "t.conf:%d: ", cases[i].line);
		assert_true(strncmp(out, want, strlen(want)) == 0);
	}
}

/* The postgres backend needs exactly one of conninfo and conninfo_file. */
static void test_store_postgres(void **state)
{
	(void)state;
	struct tg_config c;
	struct config_error e;
	assert_int_not_equal(parse("[store]\nbackend = postgres\n", &c, &e), 0);
	assert_non_null(strstr(e.msg, "needs conninfo or conninfo_file"));
	assert_int_not_equal(
	    parse("[store]\nbackend = postgres\nconninfo = host=db\nconninfo_file = /etc/pg\n", &c,
	          &e),
	    0);
	assert_non_null(strstr(e.msg, "conninfo and conninfo_file are both set: keep one"));
	/* A cluster keeps its signing keys in the store under the KEK: required there, and
	 * refused with SQLite (issue 21). */
	assert_int_not_equal(
	    parse("[store]\nbackend = postgres\nconninfo = host=db dbname=telgate\n", &c, &e), 0);
	assert_non_null(strstr(e.msg, "pki.kek_file: required"));
	assert_int_not_equal(parse("[pki]\nkek_file = /etc/telgate/kek\n", &c, &e), 0);
	assert_non_null(strstr(e.msg, "pki.kek_file: only with store backend postgres"));
	assert_int_equal(parse("[store]\nbackend = postgres\nconninfo = host=db dbname=telgate\n"
	                       "[pki]\nkek_file = /etc/telgate/kek\n",
	                       &c, &e),
	                 0);
	assert_string_equal(c.store.backend, "postgres");
	assert_string_equal(c.store.conninfo, "host=db dbname=telgate");
	assert_string_equal(c.pki.kek_file, "/etc/telgate/kek");
}

/* The edge port is the node's sipMRAOAuthPort and the OAuth port its sipOAuthPort: each 0
 * (that listener off) or 1024..49151 (seed 002), refused by the configuration check itself
 * rather than at start, with the same words. */
static void seed_port_range(const char *key, const char *column)
{
	static const struct {
		int port, ok;
	} cases[] = {{1000, 0}, {49152, 0}, {1023, 0}, {0, 1}, {1024, 1}, {49151, 1}};
	char text[64], want[96], wantkey[32];
	snprintf(want, sizeof want, "is not 0 (off) or 1024..49151 (%s)", column);
	snprintf(wantkey, sizeof wantkey, "sip.%s: ", key);
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		struct tg_config c;
		struct config_error e;
		snprintf(text, sizeof text, "[sip]\n%s = %d\n", key, cases[i].port);
		int rc = parse(text, &c, &e);
		if (cases[i].ok) {
			assert_int_equal(rc, 0);
			continue;
		}
		assert_int_equal(rc, -1);
		assert_non_null(strstr(e.msg, wantkey));
		assert_non_null(strstr(e.msg, want));
	}
}

static void test_edge_port_range(void **state)
{
	(void)state;
	seed_port_range("edge_port", "sipMRAOAuthPort");
}

static void test_oauth_port_range(void **state)
{
	(void)state;
	seed_port_range("oauth_port", "sipOAuthPort");
	/* 0 is off, as for edge_port: kept as 0, not the default. */
	struct tg_config c;
	struct config_error e;
	assert_int_equal(parse("[sip]\noauth_port = 0\nedge_port = 0\n", &c, &e), 0);
	assert_int_equal(c.sip.oauth_port, 0);
	assert_int_equal(c.sip.edge_port, 0);
}

static void test_oversized(void **state)
{
	(void)state;
	struct tg_config c;
	struct config_error e;
	/* A value longer than its field. */
	char text[2048];
	int n = snprintf(text, sizeof text, "[core]\nnode_id = ");
	memset(text + n, 'a', 300);
	text[n + 300] = '\0';
	assert_int_equal(parse(text, &c, &e), -1);
	assert_int_equal(e.line, 2);
	assert_non_null(strstr(e.msg, "longer than"));
	/* A line longer than the line limit is reported, never split into two lines. */
	char *big = malloc(CFG_LINE_MAX + 100);
	n = snprintf(big, CFG_LINE_MAX + 100, "[core]\n; ");
	memset(big + n, 'x', CFG_LINE_MAX + 50);
	big[n + CFG_LINE_MAX + 50] = '\0';
	assert_int_equal(parse(big, &c, &e), -1);
	assert_int_equal(e.line, 2);
	assert_non_null(strstr(e.msg, "line longer"));
	free(big);
	/* NUL bytes are not text. */
	const char nul[] = "[core]\nthreads = 1\0\n";
	assert_int_equal(config_parse("t.conf", nul, sizeof nul - 1, &c, &e), -1);
	assert_int_equal(e.line, 2);
	/* A state dir so long the derived socket path cannot fit. */
	n = snprintf(text, sizeof text, "[core]\nstate_dir = /");
	memset(text + n, 'd', 250);
	text[n + 250] = '\0';
	assert_int_equal(parse(text, &c, &e), -1);
	assert_non_null(strstr(e.msg, "too long"));
}

static void test_missing_file(void **state)
{
	(void)state;
	struct tg_config c;
	struct config_error e;
	assert_int_equal(config_load("/nonexistent/telgated.conf", &c, &e), -1);
	assert_int_equal(e.line, 0);
	assert_non_null(strstr(e.msg, "cannot read"));
}

static void test_restart_needed(void **state)
{
	(void)state;
	struct tg_config a, b;
	struct config_error e;
	assert_int_equal(parse("[core]\nthreads = 1\n[log]\nlevel = info\n", &a, &e), 0);
	assert_int_equal(parse("[core]\nthreads = 1\n[log]\nlevel = debug\n", &b, &e), 0);
	char out[256];
	assert_int_equal(config_restart_needed(&a, &b, out, sizeof out), 0);
	assert_int_equal(parse("[core]\nthreads = 2\n[log]\nlevel = debug\n", &b, &e), 0);
	assert_int_equal(config_restart_needed(&a, &b, out, sizeof out), 1);
	assert_string_equal(out, "core.threads");
}

static void test_ldap_section(void **state)
{
	(void)state;
	struct tg_config c;
	struct config_error e;
	assert_int_equal(parse("[ldap]\nservers = ldaps://dc1:3269, ldap://127.0.0.1:389\n"
	                       "base = OU=Breaking Bad,DC=joshlab,DC=net\nfilter = ad\n"
	                       "bind_dn = Administrator@joshlab.net\n"
	                       "bind_password_file = /etc/telgate/pw\nstarttls = yes\n",
	                       &c, &e),
	                 0);
	assert_int_equal(c.ldap.starttls, 1);
	assert_string_equal(c.ldap.filter, "ad");
	assert_int_equal(c.ldap.timeout_ms, 3000);
	assert_int_equal(c.dir.failure_delay_ms, 250);
	assert_int_equal(
	    parse("[ldap]\nfilter = (&(objectClass=person)(|(uid=%u)(mail=%u@x))(cn=100%%))\n", &c,
	          &e),
	    0);
	/* Whole-file rules: they name the key, not a line. */
	assert_int_equal(parse("[ldap]\nservers = ldaps://dc1\n", &c, &e), -1);
	assert_non_null(strstr(e.msg, "ldap.base: required"));
	assert_int_equal(
	    parse("[ldap]\nservers = ldaps://dc1\nbase = dc=x\nbind_dn = cn=svc\n", &c, &e), -1);
	assert_non_null(strstr(e.msg, "ldap.bind_password_file: required"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_defaults),        cmocka_unit_test(test_example_file),
	    cmocka_unit_test(test_good_values),     cmocka_unit_test(test_oauth),
	    cmocka_unit_test(test_empty_file),      cmocka_unit_test(test_bad_files),
	    cmocka_unit_test(test_oversized),       cmocka_unit_test(test_missing_file),
	    cmocka_unit_test(test_restart_needed),  cmocka_unit_test(test_ldap_section),
	    cmocka_unit_test(test_edge_port_range), cmocka_unit_test(test_oauth_port_range),
	    cmocka_unit_test(test_store_postgres),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
