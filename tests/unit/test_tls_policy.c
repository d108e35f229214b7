/* SPDX-License-Identifier: ISC */
/* tls/level and tls/policy: the level grammar and the most-specific-wins resolution
 * (seed 004), each setting inherited on its own. */
#include "tls/apply.h"
#include "tls/level.h"
#include "tls/policy.h"
#include "tls/store.h"
#include "tls/trust.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <cmocka.h>

#include "store_fixture.h"

static void parse_ok(const char *in, const char *canonical)
{
	struct tls_level l;
	char err[256] = "", out[TLS_LEVEL_MAX];
	assert_int_equal(tls_level_parse(in, &l, err, sizeof err), 0);
	tls_level_format(&l, out, sizeof out);
	assert_string_equal(out, canonical);
}

static void parse_bad(const char *in, const char *msg_part)
{
	struct tls_level l;
	char err[256] = "";
	assert_int_equal(tls_level_parse(in, &l, err, sizeof err), -1);
	if (!strstr(err, msg_part))
		fail_msg("'%s': '%s' lacks '%s'", in, err, msg_part);
}

static void test_level_grammar(void **state)
{
	(void)state;
	parse_ok("system", "system");
	parse_ok("SYSTEM", "system");
	parse_ok("transport=sip", "transport=sip");
	parse_ok("Transport=CTI", "transport=cti");
	parse_ok("kind=cti-interface", "kind=cti-interface");
	parse_ok("kind=SIP-TLS", "kind=sip-tls");
	parse_ok("interface=cti-interface@10.155.6.175:8012",
	         "interface=cti-interface@10.155.6.175:8012");
	parse_ok("interface=SIP-TLS@[::1]:5061", "interface=sip-tls@[::1]:5061");
	parse_ok("interface=https@node1.example.net:8443",
	         "interface=https@node1.example.net:8443");
	parse_bad("transport=xmpp", "unknown transport");
	parse_bad("kind=ftp", "unknown kind 'ftp' (known: sip-tls");
	parse_bad("interface=sip-tls@10.0.0.1", "ADDRESS:PORT");
	parse_bad("interface=sip-tls@10.0.0.1:0", "ADDRESS:PORT");
	parse_bad("interface=sip-tls@10.0.0.1:65536", "ADDRESS:PORT");
	parse_bad("interface=sip-tls@10.0.0.1:05061", "ADDRESS:PORT");
	parse_bad("interface=sip-tls@[::1:5061", "ADDRESS:PORT");
	parse_bad("interface=@10.0.0.1:5061", "KIND@ADDRESS:PORT");
	parse_bad("interface=foo@10.0.0.1:5061", "unknown kind 'foo'");
	parse_bad("interface=sip-tls@10.0.0.1 :5061", "ADDRESS:PORT");
	parse_bad("systemwide", "unknown level");
	parse_bad("system=1", "unknown level");
	parse_bad("", "unknown level");
	char longv[300];
	memset(longv, 'a', sizeof longv - 1);
	longv[sizeof longv - 1] = '\0';
	memcpy(longv, "kind=", 5);
	parse_bad(longv, "too long");
	/* Every kind maps to a transport the grammar knows. */
	for (size_t i = 0; i < tls_nkinds; i++) {
		char t[64];
		snprintf(t, sizeof t, "transport=%s", tls_kinds[i].transport);
		parse_ok(t, t);
	}
}

static void test_levels_of(void **state)
{
	(void)state;
	char lv[TLS_LEVELS][TLS_LEVEL_MAX];
	struct tls_listener_id v4 = {"cti-tls", "0.0.0.0", 2749};
	assert_int_equal(tls_levels_of(&v4, lv), 0);
	assert_string_equal(lv[0], "interface=cti-tls@0.0.0.0:2749");
	assert_string_equal(lv[1], "kind=cti-tls");
	assert_string_equal(lv[2], "transport=cti");
	assert_string_equal(lv[3], "system");
	struct tls_listener_id v6 = {"sip-edge", "::", 5091};
	assert_int_equal(tls_levels_of(&v6, lv), 0);
	assert_string_equal(lv[0], "interface=sip-edge@[::]:5091");
	/* What a listener reads parses back to itself. */
	parse_ok(lv[0], lv[0]);
	struct tls_listener_id bad = {"nope", "0.0.0.0", 1};
	assert_int_equal(tls_levels_of(&bad, lv), -1);
}

static const char *const defaults[TLS_SETTINGS] = {"TLSv1.2,TLSv1.3", "D12", "D13"};

static void test_most_specific_wins(void **state)
{
	(void)state;
	struct tls_listener_id cti = {"cti-tls", "0.0.0.0", 2749};
	struct tls_listener_id sip = {"sip-tls", "0.0.0.0", 5061};
	struct tls_effective e;
	/* Nothing set: the defaults, said to come from "default". */
	assert_int_equal(tls_resolve(NULL, 0, &cti, defaults, &e), 0);
	assert_string_equal(e.s[TLS_SET_CIPHERS12].value, "D12");
	assert_string_equal(e.s[TLS_SET_CIPHERS12].source, "default");
	struct tls_row rows[] = {
	    {"system", "ciphers-tls12", "SYS12"},
	    {"transport=cti", "ciphers-tls12", "CTI12"},
	    {"interface=cti-tls@0.0.0.0:2749", "ciphers-tls12", "IF12"},
	    {"kind=cti-tls", "ciphers-tls13", "KIND13"},
	    {"system", "protocols", "TLSv1.3"},
	    {"interface=cti-tls@127.0.0.1:2749", "protocols", "TLSv1.2"}, /* another listener */
	    {"system", "no-such-setting", "x"},
	};
	size_t n = sizeof rows / sizeof rows[0];
	assert_int_equal(tls_resolve(rows, n, &cti, defaults, &e), 0);
	assert_string_equal(e.s[TLS_SET_CIPHERS12].value, "IF12");
	assert_string_equal(e.s[TLS_SET_CIPHERS12].source, "interface=cti-tls@0.0.0.0:2749");
	/* Each setting on its own: the interface's TLS 1.2 list leaves TLS 1.3 to the kind. */
	assert_string_equal(e.s[TLS_SET_CIPHERS13].value, "KIND13");
	assert_string_equal(e.s[TLS_SET_CIPHERS13].source, "kind=cti-tls");
	assert_string_equal(e.s[TLS_SET_PROTOCOLS].value, "TLSv1.3");
	assert_string_equal(e.s[TLS_SET_PROTOCOLS].source, "system");
	/* The SIP listener sees only the system level. */
	assert_int_equal(tls_resolve(rows, n, &sip, defaults, &e), 0);
	assert_string_equal(e.s[TLS_SET_CIPHERS12].value, "SYS12");
	assert_string_equal(e.s[TLS_SET_CIPHERS13].value, "D13");
	/* Clear the interface level: the transport's setting returns. Order does not matter. */
	struct tls_row less[] = {rows[3], rows[1], rows[0]};
	assert_int_equal(tls_resolve(less, 3, &cti, defaults, &e), 0);
	assert_string_equal(e.s[TLS_SET_CIPHERS12].value, "CTI12");
	assert_string_equal(e.s[TLS_SET_CIPHERS12].source, "transport=cti");
}

static void test_snapshot(void **state)
{
	(void)state;
	struct tls_listener_id id = {"https", "127.0.0.1", 8443};
	struct tls_effective e;
	tls_policy_set_defaults(defaults);
	char level[32] = "transport=http", value[16] = "H12";
	struct tls_row r = {level, "ciphers-tls12", value};
	assert_int_equal(tls_policy_set_rows(&r, 1), 0);
	/* The snapshot is a copy: the caller's strings may change. */
	snprintf(value, sizeof value, "CHANGED");
	snprintf(level, sizeof level, "system");
	assert_int_equal(tls_policy_effective(&id, &e), 0);
	assert_string_equal(e.s[TLS_SET_CIPHERS12].value, "H12");
	assert_string_equal(e.s[TLS_SET_CIPHERS12].source, "transport=http");
	assert_int_equal(tls_policy_set_rows(NULL, 0), 0);
	assert_int_equal(tls_policy_effective(&id, &e), 0);
	assert_string_equal(e.s[TLS_SET_CIPHERS12].value, "D12");
	enum tls_setting s;
	assert_int_equal(tls_setting_parse("CIPHERS-TLS13", &s), 0);
	assert_int_equal(s, TLS_SET_CIPHERS13);
	assert_int_equal(tls_setting_parse("ciphers", &s), -1);
	tls_policy_clear();
}

/* tls_policy_refresh: the snapshots are replaced only when what is stored changed (a
 * cluster node refreshes on every store generation, which any table's write moves). */
static void test_refresh(void **state)
{
	(void)state;
	struct tu_store f;
	tu_store_init(&f, "tgtlsp", 0);
	struct tls_listener_id id = {"https", "127.0.0.1", 8443};
	struct tls_effective e;
	tls_policy_set_defaults(defaults);
	assert_int_equal(tls_policy_load(f.st), STORE_OK);
	unsigned long pg = tls_policy_generation(), tg = tls_trust_generation();
	int changed = -1;
	assert_int_equal(tls_policy_refresh(f.st, &changed), STORE_OK);
	assert_int_equal(changed, 0);
	assert_int_equal(tls_policy_generation(), pg);
	assert_int_equal(tls_trust_generation(), tg);
	/* A setting written (by another node): refreshed, and the contexts' generation moves. */
	assert_int_equal(store_tls_setting_put(f.st, "transport=http", "ciphers-tls12", "H12", 1),
	                 STORE_OK);
	assert_int_equal(tls_policy_refresh(f.st, &changed), STORE_OK);
	assert_int_equal(changed, 1);
	assert_true(tls_policy_generation() != pg);
	assert_int_equal(tls_policy_effective(&id, &e), 0);
	assert_string_equal(e.s[TLS_SET_CIPHERS12].value, "H12");
	pg = tls_policy_generation();
	tg = tls_trust_generation();
	assert_int_equal(tls_policy_refresh(f.st, &changed), STORE_OK);
	assert_int_equal(changed, 0);
	assert_int_equal(tls_policy_generation(), pg);
	/* A client identity counts too; so does a value that only moves between fields. */
	assert_int_equal(store_identity_add(f.st, "kind=cti-tls", "alice"), STORE_OK);
	assert_int_equal(tls_policy_refresh(f.st, &changed), STORE_OK);
	assert_int_equal(changed, 1);
	assert_true(tls_trust_generation() != tg);
	assert_int_equal(store_identity_delete(f.st, "kind=cti-tls", "alice"), STORE_OK);
	assert_int_equal(store_identity_add(f.st, "kind=cti-tl", "salice"), STORE_OK);
	assert_int_equal(tls_policy_refresh(f.st, &changed), STORE_OK);
	assert_int_equal(changed, 1);
	/* tls_policy_load always installs. */
	pg = tls_policy_generation();
	assert_int_equal(tls_policy_load(f.st), STORE_OK);
	assert_true(tls_policy_generation() != pg);
	tls_policy_clear();
	tu_store_close(&f);
}

static void effective(struct tls_effective *e, const char *protos, const char *l12, const char *l13)
{
	memset(e, 0, sizeof *e);
	snprintf(e->s[TLS_SET_PROTOCOLS].value, TLS_VALUE_MAX, "%s", protos);
	snprintf(e->s[TLS_SET_CIPHERS12].value, TLS_VALUE_MAX, "%s", l12);
	snprintf(e->s[TLS_SET_CIPHERS13].value, TLS_VALUE_MAX, "%s", l13);
}

/* The names a context offers, IANA-spelled, ':'-joined. */
static void offered(SSL_CTX *ctx, char *out, size_t cap)
{
	STACK_OF(SSL_CIPHER) *sk = SSL_CTX_get_ciphers(ctx);
	out[0] = '\0';
	for (int i = 0; i < sk_SSL_CIPHER_num(sk); i++) {
		size_t len = strlen(out);
		snprintf(out + len, cap - len, "%s%s", i ? ":" : "",
		         SSL_CIPHER_standard_name(sk_SSL_CIPHER_value(sk, i)));
	}
}

static void test_apply(void **state)
{
	(void)state;
	struct tls_effective e;
	char err[300], got[2048];
	SSL_CTX *ctx = SSL_CTX_new(TLS_server_method());
	effective(
	    &e, "TLSv1.2,TLSv1.3",
	    "TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256, TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256",
	    "TLS_AES_256_GCM_SHA384");
	assert_int_equal(tls_apply(ctx, &e, err, sizeof err), 0);
	offered(ctx, got, sizeof got);
	/* Exactly those, in that order: the TLS 1.3 suite first (OpenSSL lists them first). */
	assert_string_equal(got,
	                    "TLS_AES_256_GCM_SHA384:TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256:"
	                    "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256");
	assert_int_equal(SSL_CTX_get_min_proto_version(ctx), TLS1_2_VERSION);
	assert_int_equal(SSL_CTX_get_max_proto_version(ctx), TLS1_3_VERSION);
	/* TLS 1.3 only: the TLS 1.2 list may be empty. */
	effective(&e, "TLSv1.3", "", "TLS_AES_128_GCM_SHA256");
	assert_int_equal(tls_apply(ctx, &e, err, sizeof err), 0);
	assert_int_equal(SSL_CTX_get_min_proto_version(ctx), TLS1_3_VERSION);
	/* Refusals name what is wrong. */
	effective(&e, "TLSv1.1,TLSv1.2", "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256",
	          "TLS_AES_128_GCM_SHA256");
	assert_int_equal(tls_apply(ctx, &e, err, sizeof err), -1);
	assert_non_null(strstr(err, "TLSv1.1"));
	effective(&e, "TLSv1.2", "ECDHE-RSA-AES128-GCM-SHA256", "");
	assert_int_equal(tls_apply(ctx, &e, err, sizeof err), -1);
	/* An OpenSSL name is refused with the IANA name meant. */
	assert_non_null(strstr(err, "OpenSSL name"));
	assert_non_null(strstr(err, "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256"));
	effective(&e, "TLSv1.2", "TLS_AES_128_GCM_SHA256", "");
	assert_int_equal(tls_apply(ctx, &e, err, sizeof err), -1);
	assert_non_null(strstr(err, "TLS 1.3 suite"));
	effective(&e, "TLSv1.2,TLSv1.3", "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256", "");
	assert_int_equal(tls_apply(ctx, &e, err, sizeof err), -1);
	assert_non_null(strstr(err, "no TLS 1.3 cipher suite"));
	effective(&e, "", "x", "y");
	assert_int_equal(tls_apply(ctx, &e, err, sizeof err), -1);
	/* Suites this OpenSSL cannot offer (static ECDH) are skipped, not fatal, while one
	 * offerable suite is left; with none left, TLS 1.2 cannot be enabled. */
	effective(&e, "TLSv1.2",
	          "TLS_ECDH_RSA_WITH_AES_128_GCM_SHA256,TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256", "");
	assert_int_equal(tls_apply(ctx, &e, err, sizeof err), 0);
	offered(ctx, got, sizeof got);
	assert_string_equal(got, "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256");
	effective(&e, "TLSv1.2", "TLS_ECDH_RSA_WITH_AES_128_GCM_SHA256", "");
	assert_int_equal(tls_apply(ctx, &e, err, sizeof err), -1);
	assert_non_null(strstr(err, "no TLS 1.2 cipher suite that this OpenSSL can offer"));
	SSL_CTX_free(ctx);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_level_grammar),
	    cmocka_unit_test(test_levels_of),
	    cmocka_unit_test(test_most_specific_wins),
	    cmocka_unit_test(test_snapshot),
	    cmocka_unit_test(test_refresh),
	    cmocka_unit_test(test_apply),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
