/* SPDX-License-Identifier: ISC */
/* Cipher suites by IANA name (issue 15, seed 004): the registry both ways, OpenSSL names and
 * near misses refused with the name meant, availability and its reasons, the policy
 * predicates, the list parsers' per-item errors, and strings OpenSSL accepts as they are. */
#include "tls/iana.h"
#include "tls/suites.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <cmocka.h>

#include <openssl/ssl.h>

static const struct tls_suite *by_name(const char *name)
{
	const struct tls_suite *s = tls_iana_by_name(name);
	assert_non_null(s);
	return s;
}

static void test_registry(void **state)
{
	(void)state;
	/* 331 rows from Debian's two copies + 19 from the RFCs they predate (below). */
	assert_int_equal(tls_iana_count(), 350);
	assert_int_equal(by_name("TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256")->code, 0xCCA9);
	assert_int_equal(by_name("TLS_AES_128_GCM_SHA256")->code, 0x1301);
	assert_int_equal(by_name("TLS_NULL_WITH_NULL_NULL")->code, 0x0000);
	assert_string_equal(tls_iana_by_code(0xC02F)->name,
	                    "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256");
	assert_string_equal(tls_iana_by_code(0x00A2)->name, "TLS_DHE_DSS_WITH_AES_128_GCM_SHA256");
	assert_string_equal(tls_iana_by_code(0x5600)->name, "TLS_FALLBACK_SCSV");
	assert_null(tls_iana_by_code(0xFF00)); /* private use, not a registry row */
	assert_null(tls_iana_by_code(0x0060)); /* unassigned */
	/* Exact and case-sensitive, as the registry spells it. */
	assert_null(tls_iana_by_name("tls_aes_128_gcm_sha256"));
	assert_null(tls_iana_by_name("TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305"));
	/* Sorted by code point, names unique, each found both ways. */
	for (size_t i = 0; i < tls_iana_count(); i++) {
		const struct tls_suite *s = tls_iana_at(i);
		if (i > 0)
			assert_true(tls_iana_at(i - 1)->code < s->code);
		assert_ptr_equal(tls_iana_by_code(s->code), s);
		assert_ptr_equal(tls_iana_by_name(s->name), s);
		assert_true(strlen(s->name) < TLS_SUITE_NAME_MAX);
	}
	assert_null(tls_iana_at(tls_iana_count()));
}

/* Rows registered after Debian's copies (scripts/iana_suites.py SUPPLEMENT): known names,
 * never offered, each with its reason; TLS 1.3 suites outside 0x13,* counted as TLS 1.3. */
static void test_registry_supplement(void **state)
{
	(void)state;
	static const struct {
		uint16_t code;
		const char *name;
		int tls13;
		enum tls_suite_status status;
	} rows[] = {
	    {0x00C6, "TLS_SM4_GCM_SM3", 1, TLS_SUITE_NOT_COMPILED},
	    {0xC0B0, "TLS_ECCPWD_WITH_AES_128_GCM_SHA256", 0, TLS_SUITE_NOT_COMPILED},
	    {0xC0B3, "TLS_ECCPWD_WITH_AES_256_CCM_SHA384", 0, TLS_SUITE_NOT_COMPILED},
	    {0xC0B4, "TLS_SHA256_SHA256", 1, TLS_SUITE_NULL_CIPHER},
	    {0xC0B5, "TLS_SHA384_SHA384", 1, TLS_SUITE_NULL_CIPHER},
	    {0xC100, "TLS_GOSTR341112_256_WITH_KUZNYECHIK_CTR_OMAC", 0, TLS_SUITE_NOT_LOADED},
	    {0xC102, "TLS_GOSTR341112_256_WITH_28147_CNT_IMIT", 0, TLS_SUITE_NOT_LOADED},
	    {0xC103, "TLS_GOSTR341112_256_WITH_KUZNYECHIK_MGM_L", 1, TLS_SUITE_NOT_COMPILED},
	    {0xC106, "TLS_GOSTR341112_256_WITH_MAGMA_MGM_S", 1, TLS_SUITE_NOT_COMPILED},
	    {0xD001, "TLS_ECDHE_PSK_WITH_AES_128_GCM_SHA256", 0, TLS_SUITE_NEEDS_PSK},
	    {0xD003, "TLS_ECDHE_PSK_WITH_AES_128_CCM_8_SHA256", 0, TLS_SUITE_NEEDS_PSK},
	    {0xD005, "TLS_ECDHE_PSK_WITH_AES_128_CCM_SHA256", 0, TLS_SUITE_NEEDS_PSK},
	};
	size_t supplement = 0;
	for (size_t i = 0; i < tls_iana_count(); i++) {
		uint16_t c = tls_iana_at(i)->code;
		if ((c >= 0x00C6 && c <= 0x00C7) || (c >= 0xC0B0 && c <= 0xC0B5) ||
		    (c >> 8) == 0xC1 || (c >> 8) == 0xD0)
			supplement++;
	}
	assert_int_equal(supplement, 19);
	assert_null(tls_iana_by_code(0xD004)); /* RFC 8442 skips it: unassigned */
	assert_null(tls_iana_by_code(0xC107));
	for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++) {
		const struct tls_suite *s = tls_iana_by_code(rows[i].code);
		assert_non_null(s);
		assert_string_equal(s->name, rows[i].name);
		const struct tls_suite *r = NULL;
		assert_int_equal(tls_iana_resolve(rows[i].name, &r), TLS_NAME_IANA);
		assert_ptr_equal(r, s);
		struct tls_suite_avail a;
		tls_iana_avail(s, &a);
		assert_int_equal(a.status, rows[i].status);
		assert_int_equal(a.tls13, rows[i].tls13);
		assert_int_equal(tls_suite_is_tls13(s), rows[i].tls13);
		/* libssl knows RFC 9189's GOST suites (their ciphers need the GOST engine). */
		if (rows[i].status == TLS_SUITE_NOT_LOADED)
			assert_non_null(a.openssl_name);
		else
			assert_null(a.openssl_name);
	}
	/* So OpenSSL's name of one is refused with the registry name. */
	const struct tls_suite *g = NULL;
	assert_int_equal(tls_iana_resolve("GOST2012-MAGMA-MAGMAOMAC", &g), TLS_NAME_OPENSSL);
	assert_string_equal(g->name, "TLS_GOSTR341112_256_WITH_MAGMA_CTR_OMAC");
	/* Integrity only: forward secret (TLS 1.3), not AEAD, so never "ECDHE + AEAD". */
	const struct tls_suite *mac = by_name("TLS_SHA384_SHA384");
	assert_false(tls_suite_aead(mac));
	assert_false(tls_suite_ecdhe_aead(mac));
	/* GOST: TLS 1.3 MGM is AEAD; TLS 1.2 CTR_OMAC is neither AEAD nor forward secret. */
	assert_true(tls_suite_aead(by_name("TLS_GOSTR341112_256_WITH_MAGMA_MGM_L")));
	assert_false(tls_suite_aead(by_name("TLS_GOSTR341112_256_WITH_MAGMA_CTR_OMAC")));
	assert_false(tls_suite_forward_secret(by_name("TLS_GOSTR341112_256_WITH_MAGMA_CTR_OMAC")));
	/* ECDHE_PSK with AEAD is not forward secret by telgate's rule (PSK) and not ECDHE + AEAD.
	 */
	assert_false(tls_suite_ecdhe_aead(by_name("TLS_ECDHE_PSK_WITH_AES_256_GCM_SHA384")));
}

static void test_resolve(void **state)
{
	(void)state;
	const struct tls_suite *s;
	assert_int_equal(tls_iana_resolve("TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256", &s),
	                 TLS_NAME_IANA);
	assert_int_equal(s->code, 0xC02F);
	/* OpenSSL's names, TLS 1.2 (any case); a TLS 1.3 name is the IANA name itself. */
	assert_int_equal(tls_iana_resolve("ECDHE-ECDSA-CHACHA20-POLY1305", &s), TLS_NAME_OPENSSL);
	assert_int_equal(s->code, 0xCCA9);
	assert_int_equal(tls_iana_resolve("ecdhe-rsa-aes128-gcm-sha256", &s), TLS_NAME_OPENSSL);
	assert_int_equal(s->code, 0xC02F);
	assert_int_equal(tls_iana_resolve("DHE-DSS-AES128-GCM-SHA256", &s), TLS_NAME_OPENSSL);
	assert_int_equal(s->code, 0x00A2);
	/* The seed's spelling without _SHA256; other case; Java's SSL_ prefix. */
	assert_int_equal(tls_iana_resolve("TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305", &s),
	                 TLS_NAME_NEAR_MISS);
	assert_string_equal(s->name, "TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256");
	assert_int_equal(tls_iana_resolve("tls_aes_256_gcm_sha384", &s), TLS_NAME_NEAR_MISS);
	assert_string_equal(s->name, "TLS_AES_256_GCM_SHA384");
	assert_int_equal(tls_iana_resolve("SSL_RSA_WITH_3DES_EDE_CBC_SHA", &s), TLS_NAME_NEAR_MISS);
	assert_string_equal(s->name, "TLS_RSA_WITH_3DES_EDE_CBC_SHA");
	/* Two completions (_SHA and _SHA256): no guess. */
	assert_int_equal(tls_iana_resolve("TLS_RSA_WITH_AES_128_CBC", &s), TLS_NAME_UNKNOWN);
	assert_null(s);
	assert_int_equal(tls_iana_resolve("TLS_FOO", &s), TLS_NAME_UNKNOWN);
	assert_int_equal(tls_iana_resolve("", &s), TLS_NAME_UNKNOWN);
	char big[200];
	memset(big, 'A', sizeof big - 1);
	big[sizeof big - 1] = '\0';
	assert_int_equal(tls_iana_resolve(big, NULL), TLS_NAME_UNKNOWN);
}

static enum tls_suite_status status(const char *name, struct tls_suite_avail *a)
{
	tls_iana_avail(by_name(name), a);
	return a->status;
}

static void test_availability(void **state)
{
	(void)state;
	struct tls_suite_avail a;
	assert_int_equal(tls_iana_init(), 0);
	assert_int_equal(status("TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256", &a), TLS_SUITE_OFFERABLE);
	assert_int_equal(a.tls13, 0);
	assert_string_equal(a.openssl_name, "ECDHE-RSA-AES128-GCM-SHA256");
	assert_int_equal(status("TLS_AES_256_GCM_SHA384", &a), TLS_SUITE_OFFERABLE);
	assert_int_equal(a.tls13, 1);
	assert_string_equal(a.openssl_name, "TLS_AES_256_GCM_SHA384");
	/* Static ECDH: libssl does not know it at all. */
	assert_int_equal(status("TLS_ECDH_ECDSA_WITH_AES_128_GCM_SHA256", &a), TLS_SUITE_STATIC_DH);
	assert_null(a.openssl_name);
	assert_int_equal(status("TLS_DH_RSA_WITH_AES_128_GCM_SHA256", &a), TLS_SUITE_STATIC_DH);
	/* DHE_DSS: libssl has it, but it needs a DSA certificate. */
	assert_int_equal(status("TLS_DHE_DSS_WITH_AES_128_GCM_SHA256", &a),
	                 TLS_SUITE_NEEDS_DSA_CERT);
	assert_string_equal(a.openssl_name, "DHE-DSS-AES128-GCM-SHA256");
	assert_int_equal(status("TLS_PSK_WITH_AES_128_GCM_SHA256", &a), TLS_SUITE_NEEDS_PSK);
	assert_int_equal(status("TLS_KRB5_WITH_DES_CBC_SHA", &a), TLS_SUITE_KRB5);
	assert_int_equal(status("TLS_RSA_WITH_NULL_SHA256", &a), TLS_SUITE_NULL_CIPHER);
	assert_int_equal(status("TLS_DH_anon_WITH_AES_128_GCM_SHA256", &a), TLS_SUITE_ANON);
	assert_int_equal(status("TLS_RSA_EXPORT_WITH_RC4_40_MD5", &a), TLS_SUITE_EXPORT);
	assert_int_equal(status("TLS_EMPTY_RENEGOTIATION_INFO_SCSV", &a), TLS_SUITE_SCSV);
	/* Every status has a text; count them (printed for the notes). */
	int count[TLS_SUITE_NEEDS_SRP + 1] = {0};
	for (size_t i = 0; i < tls_iana_count(); i++) {
		tls_iana_avail(tls_iana_at(i), &a);
		assert_true(a.status <= TLS_SUITE_NEEDS_SRP);
		count[a.status]++;
	}
	for (int st = 0; st <= TLS_SUITE_NEEDS_SRP; st++) {
		assert_string_not_equal(tls_suite_status_text((enum tls_suite_status)st), "?");
		printf("# %3d %s\n", count[st], tls_suite_status_text((enum tls_suite_status)st));
	}
	assert_true(count[TLS_SUITE_OFFERABLE] > 20);
}

static void test_policy(void **state)
{
	(void)state;
	const char *ecdhe_aead[] = {
	    "TLS_AES_128_CCM_SHA256", "TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384",
	    "TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256", "TLS_ECDHE_ECDSA_WITH_AES_128_CCM"};
	for (size_t i = 0; i < sizeof ecdhe_aead / sizeof ecdhe_aead[0]; i++) {
		assert_true(tls_suite_ecdhe_aead(by_name(ecdhe_aead[i])));
		assert_true(tls_suite_forward_secret(by_name(ecdhe_aead[i])));
		assert_true(tls_suite_aead(by_name(ecdhe_aead[i])));
	}
	const struct tls_suite *dhe = by_name("TLS_DHE_RSA_WITH_AES_128_GCM_SHA256");
	assert_true(tls_suite_forward_secret(dhe) && tls_suite_aead(dhe));
	assert_false(tls_suite_ecdhe_aead(dhe));
	const struct tls_suite *cbc = by_name("TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA256");
	assert_true(tls_suite_forward_secret(cbc));
	assert_false(tls_suite_aead(cbc) || tls_suite_ecdhe_aead(cbc));
	const struct tls_suite *psk = by_name("TLS_ECDHE_PSK_WITH_CHACHA20_POLY1305_SHA256");
	assert_false(tls_suite_forward_secret(psk) || tls_suite_ecdhe_aead(psk));
	const struct tls_suite *rsa = by_name("TLS_RSA_WITH_AES_128_GCM_SHA256");
	assert_false(tls_suite_forward_secret(rsa) || tls_suite_ecdhe_aead(rsa));
	assert_true(tls_suite_aead(rsa));
	assert_false(tls_suite_ecdhe_aead(by_name("TLS_ECDH_RSA_WITH_AES_128_GCM_SHA256")));
	/* The system default meets it, every suite. */
	struct tls_suite_list l;
	tls_suites_system_default(&l);
	assert_int_equal(l.n, 9);
	for (size_t i = 0; i < l.n; i++)
		assert_true(tls_suite_ecdhe_aead(l.s[i]));
}

/* A parser's failure with the expected error; returns its formatted message. */
static const char *expect_error(int rc, const struct tls_list_error *e, enum tls_list_err code,
                                int item)
{
	static char msg[256];
	assert_int_equal(rc, -1);
	assert_int_equal(e->code, code);
	assert_int_equal(e->item, item);
	assert_true(tls_list_error_format(e, msg, sizeof msg) > 0);
	return msg;
}

static const char *suite_error(const char *text, enum tls_list_err code, int item)
{
	struct tls_suite_list l;
	struct tls_list_error e;
	return expect_error(tls_suites_parse(text, &l, &e), &e, code, item);
}

static void test_parse_suites(void **state)
{
	(void)state;
	struct tls_suite_list l;
	struct tls_list_error e;
	assert_int_equal(
	    tls_suites_parse(" TLS_AES_128_GCM_SHA256,TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256:"
	                     "TLS_DHE_DSS_WITH_AES_128_GCM_SHA256\n\tTLS_ECDH_RSA_WITH_AES_"
	                     "128_GCM_SHA256,, ",
	                     &l, &e),
	    0);
	assert_int_equal(l.n, 4);
	assert_int_equal(l.s[0]->code, 0x1301);
	assert_int_equal(l.s[3]->code, 0xC031);
	assert_string_equal(
	    suite_error("TLS_AES_128_GCM_SHA256 ECDHE-ECDSA-CHACHA20-POLY1305",
	                TLS_LIST_OPENSSL_NAME, 2),
	    "item 2 \"ECDHE-ECDSA-CHACHA20-POLY1305\": an OpenSSL name; cipher suites are named by "
	    "their IANA names: use TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256");
	assert_string_equal(
	    suite_error("TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305", TLS_LIST_NEAR_MISS, 1),
	    "item 1 \"TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305\": not in the IANA "
	    "registry; did you mean TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256?");
	assert_string_equal(suite_error("TLS_AES_128_GCM_SHA256,TLS_BOGUS", TLS_LIST_UNKNOWN, 2),
	                    "item 2 \"TLS_BOGUS\": not an IANA cipher-suite name (the IANA TLS "
	                    "Cipher Suites registry)");
	assert_string_equal(
	    suite_error("TLS_RSA_WITH_NULL_SHA", TLS_LIST_REFUSED, 1),
	    "item 1 \"TLS_RSA_WITH_NULL_SHA\": NULL encryption (refused by policy)");
	suite_error("TLS_FALLBACK_SCSV", TLS_LIST_REFUSED, 1);
	suite_error("TLS_ECDH_anon_WITH_AES_128_CBC_SHA", TLS_LIST_REFUSED, 1);
	assert_string_equal(
	    suite_error("TLS_AES_128_GCM_SHA256 TLS_AES_128_GCM_SHA256", TLS_LIST_DUPLICATE, 2),
	    "item 2 \"TLS_AES_128_GCM_SHA256\": listed twice");
	assert_string_equal(suite_error(" , :", TLS_LIST_EMPTY, 0), "the list is empty");
	/* Unprintable bytes are shown as '?', long items cut. */
	assert_string_equal(suite_error("TLS_\x01X", TLS_LIST_UNKNOWN, 1),
	                    "item 1 \"TLS_?X\": not an IANA cipher-suite name (the IANA TLS Cipher "
	                    "Suites registry)");
	char big[TLS_LIST_TEXT_MAX + 2];
	memset(big, 'A', sizeof big - 1);
	big[sizeof big - 1] = '\0';
	suite_error(big, TLS_LIST_TOO_LONG, 0);
	memset(big, 'A', 300);
	big[300] = '\0';
	suite_error(big, TLS_LIST_UNKNOWN, 1);
	/* More than TLS_SUITES_MAX suites. */
	size_t len = 0, n = 0;
	for (size_t i = 0; i < tls_iana_count() && n <= TLS_SUITES_MAX; i++) {
		const struct tls_suite *s = tls_iana_at(i);
		struct tls_suite_avail a;
		tls_iana_avail(s, &a);
		if (a.status == TLS_SUITE_SCSV || a.status == TLS_SUITE_NULL_CIPHER ||
		    a.status == TLS_SUITE_ANON || a.status == TLS_SUITE_EXPORT)
			continue;
		len += (size_t)snprintf(big + len, sizeof big - len, "%s,", s->name);
		n++;
	}
	assert_int_equal(n, TLS_SUITES_MAX + 1);
	suite_error(big, TLS_LIST_TOO_MANY, TLS_SUITES_MAX + 1);
}

static const char *proto_error(const char *text, enum tls_list_err code, int item)
{
	unsigned mask;
	struct tls_list_error e;
	return expect_error(tls_protocols_parse(text, &mask, &e), &e, code, item);
}

static void test_parse_protocols(void **state)
{
	(void)state;
	unsigned mask;
	struct tls_list_error e;
	assert_int_equal(tls_protocols_parse("TLSv1.2, TLSv1.3", &mask, &e), 0);
	assert_int_equal(mask, TLS_PROTO_TLS12 | TLS_PROTO_TLS13);
	assert_int_equal(TLS_PROTOCOLS_DEFAULT, mask);
	assert_int_equal(tls_protocols_parse("TLSv1.3", &mask, &e), 0);
	assert_int_equal(mask, TLS_PROTO_TLS13);
	/* Each bad list: the item, why, and the message (NULL: not checked). */
	static const struct {
		const char *text;
		enum tls_list_err code;
		int item;
		const char *msg;
	} bad[] = {
	    {"TLSv1.1", TLS_LIST_OLD_PROTOCOL, 1,
	     "item 1 \"TLSv1.1\": below TLS 1.2 is never offered"},
	    {"TLSv1.2 SSLv3", TLS_LIST_OLD_PROTOCOL, 2,
	     "item 2 \"SSLv3\": below TLS 1.2 is never offered"},
	    {"TLSv1", TLS_LIST_OLD_PROTOCOL, 1, NULL},
	    {"TLSv1.0", TLS_LIST_OLD_PROTOCOL, 1, NULL},
	    {"tlsv1.2", TLS_LIST_BAD_PROTOCOL, 1,
	     "item 1 \"tlsv1.2\": not a protocol name; did you mean TLSv1.2?"},
	    {"TLSv1.3:TLS1_3", TLS_LIST_BAD_PROTOCOL, 2,
	     "item 2 \"TLS1_3\": not a protocol name; did you mean TLSv1.3?"},
	    {"TLSv2", TLS_LIST_BAD_PROTOCOL, 1,
	     "item 1 \"TLSv2\": not a protocol name (TLSv1.2, TLSv1.3)"},
	    {"TLSv1.2,TLSv1.2", TLS_LIST_DUPLICATE, 2, NULL},
	    {"", TLS_LIST_EMPTY, 0, "the list is empty"},
	    {"TLSv1.2vvvvvvvvvvvvvvvvvvvvvvvvvvvv", TLS_LIST_BAD_PROTOCOL, 1, NULL},
	};
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		const char *msg = proto_error(bad[i].text, bad[i].code, bad[i].item);
		if (bad[i].msg != NULL)
			assert_string_equal(msg, bad[i].msg);
	}
}

/* Sets the strings on a fresh context and returns it; both calls must succeed. */
static SSL_CTX *apply(const struct tls_openssl_strings *o)
{
	SSL_CTX *ctx = SSL_CTX_new(TLS_server_method());
	assert_non_null(ctx);
	assert_int_equal(SSL_CTX_set_cipher_list(ctx, o->cipher_list), 1);
	assert_int_equal(SSL_CTX_set_ciphersuites(ctx, o->ciphersuites), 1);
	return ctx;
}

/* OpenSSL's effective list is exactly the expected code points, in order. */
static void assert_ciphers(SSL_CTX *ctx, const uint16_t *want, size_t n)
{
	STACK_OF(SSL_CIPHER) *sk = SSL_CTX_get_ciphers(ctx);
	assert_int_equal(sk_SSL_CIPHER_num(sk), (int)n);
	for (size_t i = 0; i < n; i++)
		assert_int_equal(
		    SSL_CIPHER_get_protocol_id(sk_SSL_CIPHER_value(sk, (int)i)) & 0xffff, want[i]);
}

static void test_build(void **state)
{
	(void)state;
	struct tls_suite_list l;
	struct tls_openssl_strings o;
	/* The system default: TLS 1.3 suites to set_ciphersuites, the rest by OpenSSL name. */
	tls_suites_system_default(&l);
	assert_int_equal(tls_suites_build(&l, &o), 9);
	assert_int_equal(o.nskipped, 0);
	assert_string_equal(
	    o.ciphersuites,
	    "TLS_AES_128_GCM_SHA256:TLS_AES_256_GCM_SHA384:TLS_CHACHA20_POLY1305_SHA256");
	assert_string_equal(o.cipher_list,
	                    "ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:"
	                    "ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-RSA-AES256-GCM-SHA384:"
	                    "ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305");
	SSL_CTX *ctx = apply(&o);
	uint16_t want[TLS_SUITES_MAX];
	for (size_t i = 0; i < l.n; i++)
		want[i] = l.s[i]->code;
	assert_ciphers(ctx, want, l.n);
	SSL_CTX_free(ctx);

	/* bwks-default: seed 004's 12, in its order; 6 cannot be offered, reported not dropped. */
	assert_int_equal(tls_suites_profile("bwks-default", &l), 0);
	assert_int_equal(l.n, 12);
	assert_string_equal(l.s[0]->name, "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256");
	assert_string_equal(l.s[11]->name, "TLS_ECDH_ECDSA_WITH_AES_128_CBC_SHA256");
	assert_int_equal(tls_suites_build(&l, &o), 6);
	assert_int_equal(o.nskipped, 6);
	const char *skipped[] = {
	    "TLS_DHE_DSS_WITH_AES_128_GCM_SHA256",  "TLS_DHE_DSS_WITH_AES_128_CBC_SHA256",
	    "TLS_ECDH_RSA_WITH_AES_128_GCM_SHA256", "TLS_ECDH_ECDSA_WITH_AES_128_GCM_SHA256",
	    "TLS_ECDH_RSA_WITH_AES_128_CBC_SHA256", "TLS_ECDH_ECDSA_WITH_AES_128_CBC_SHA256"};
	for (size_t i = 0; i < o.nskipped; i++)
		assert_string_equal(o.skipped[i]->name, skipped[i]);
	assert_string_equal(o.ciphersuites, "");
	ctx = apply(&o);
	const uint16_t bwks[] = {0xC02F, 0xC02B, 0xC027, 0xC023, 0x009E, 0x0067};
	assert_ciphers(ctx, bwks, 6);
	SSL_CTX_free(ctx);
	assert_int_equal(tls_suites_profile("no-such-profile", &l), -1);

	/* An administrator's list, TLS 1.3 named after TLS 1.2: each goes to its own string. */
	struct tls_list_error e;
	assert_int_equal(
	    tls_suites_parse("TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384 TLS_AES_256_GCM_SHA384 "
	                     "TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA",
	                     &l, &e),
	    0);
	assert_int_equal(tls_suites_build(&l, &o), 3);
	assert_string_equal(o.cipher_list, "ECDHE-RSA-AES256-GCM-SHA384:ECDHE-RSA-AES128-SHA");
	assert_string_equal(o.ciphersuites, "TLS_AES_256_GCM_SHA384");
	ctx = apply(&o);
	const uint16_t mixed[] = {0x1302, 0xC030, 0xC013};
	assert_ciphers(ctx, mixed, 3);
	SSL_CTX_free(ctx);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_registry),        cmocka_unit_test(test_registry_supplement),
	    cmocka_unit_test(test_resolve),         cmocka_unit_test(test_availability),
	    cmocka_unit_test(test_policy),          cmocka_unit_test(test_parse_suites),
	    cmocka_unit_test(test_parse_protocols), cmocka_unit_test(test_build),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
