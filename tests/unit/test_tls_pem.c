/* SPDX-License-Identifier: ISC */
/* The PEM bundle splitter, the trust-anchor checks and the client-identity match
 * (src/tls/pem.c, src/tls/anchor.c), on certificates made here with OpenSSL. */
#include "tls/anchor.h"
#include "tls/pem.h"
#include "tls/trust.h"

#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <cmocka.h>

#include "testutil.h"

#define DAY (24L * 3600)

struct cert_spec {
	const char *cn;
	const char *ext_bc; /* basicConstraints value, NULL for none */
	const char *ext_ku; /* keyUsage value, NULL for none */
	const char *san;    /* subjectAltName value, NULL for none */
	long from, to;      /* validity, seconds from now */
	int v1;             /* version 1, no extensions */
};

static void add_ext(X509 *x, X509 *issuer, int nid, const char *value)
{
	X509V3_CTX ctx;
	X509V3_set_ctx(&ctx, issuer, x, NULL, NULL, 0);
	X509_EXTENSION *e = X509V3_EXT_conf_nid(NULL, &ctx, nid, value);
	assert_non_null(e);
	assert_int_equal(X509_add_ext(x, e, -1), 1);
	X509_EXTENSION_free(e);
}

/* A certificate for key k signed by issuer/ik (itself when issuer is NULL). */
static X509 *make(const struct cert_spec *s, EVP_PKEY *k, X509 *issuer, EVP_PKEY *ik)
{
	static long serial = 1;
	X509 *x = X509_new();
	assert_non_null(x);
	X509_set_version(x, s->v1 ? X509_VERSION_1 : X509_VERSION_3);
	ASN1_INTEGER_set(X509_get_serialNumber(x), serial++);
	X509_gmtime_adj(X509_getm_notBefore(x), s->from);
	X509_gmtime_adj(X509_getm_notAfter(x), s->to);
	X509_NAME *n = X509_get_subject_name(x);
	X509_NAME_add_entry_by_txt(n, "O", MBSTRING_UTF8, (const unsigned char *)"Example", -1, -1,
	                           0);
	X509_NAME_add_entry_by_txt(n, "CN", MBSTRING_UTF8, (const unsigned char *)s->cn, -1, -1, 0);
	X509_set_issuer_name(x, issuer ? X509_get_subject_name(issuer) : n);
	X509_set_pubkey(x, k);
	X509 *iss = issuer ? issuer : x;
	if (!s->v1) {
		if (s->ext_bc)
			add_ext(x, iss, NID_basic_constraints, s->ext_bc);
		if (s->ext_ku)
			add_ext(x, iss, NID_key_usage, s->ext_ku);
		if (s->san)
			add_ext(x, iss, NID_subject_alt_name, s->san);
	}
	assert_true(X509_sign(x, issuer ? ik : k, EVP_sha256()) > 0);
	return x;
}

/* The test's PKI: a root, an intermediate under it, a leaf under that, and odd ones. */
struct pki {
	EVP_PKEY *rk, *ik, *lk;
	X509 *root, *inter, *leaf, *expired, *future, *v1, *no_certsign;
};

static const struct cert_spec ROOT = {"Internal Private Root",
                                      "critical,CA:TRUE",
                                      "critical,keyCertSign,cRLSign",
                                      NULL,
                                      -DAY,
                                      3650 * DAY,
                                      0};
static const struct cert_spec INTER = {"Internal Private TLS SubCA",
                                       "critical,CA:TRUE,pathlen:0",
                                       "critical,keyCertSign,cRLSign",
                                       NULL,
                                       -DAY,
                                       1825 * DAY,
                                       0};
static const struct cert_spec LEAF = {"bwcticlient.webex.com",
                                      "critical,CA:FALSE",
                                      "critical,digitalSignature",
                                      "DNS:cti.example.com",
                                      -DAY,
                                      365 * DAY,
                                      0};

static struct pki *P;

static int setup(void **state)
{
	(void)state;
	P = calloc(1, sizeof *P);
	P->rk = EVP_EC_gen("P-256");
	P->ik = EVP_EC_gen("P-256");
	P->lk = EVP_EC_gen("P-256");
	P->root = make(&ROOT, P->rk, NULL, NULL);
	P->inter = make(&INTER, P->ik, P->root, P->rk);
	P->leaf = make(&LEAF, P->lk, P->inter, P->ik);
	struct cert_spec e = ROOT, f = ROOT, v1 = ROOT, ku = ROOT;
	e.cn = "Expired Root";
	e.from = -400 * DAY;
	e.to = -DAY;
	P->expired = make(&e, P->rk, NULL, NULL);
	f.cn = "Future Root";
	f.from = 10 * DAY;
	P->future = make(&f, P->rk, NULL, NULL);
	v1.cn = "Version One Root";
	v1.v1 = 1;
	P->v1 = make(&v1, P->rk, NULL, NULL);
	ku.cn = "No CertSign CA";
	ku.ext_ku = "critical,digitalSignature";
	P->no_certsign = make(&ku, P->rk, NULL, NULL);
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	X509 *all[] = {P->root, P->inter, P->leaf, P->expired, P->future, P->v1, P->no_certsign};
	for (size_t i = 0; i < sizeof all / sizeof all[0]; i++)
		X509_free(all[i]);
	EVP_PKEY_free(P->rk);
	EVP_PKEY_free(P->ik);
	EVP_PKEY_free(P->lk);
	free(P);
	return 0;
}

/* Appends the PEM of x (or of key k when x is NULL) to buf. */
static void pem_cat(char *buf, size_t cap, X509 *x, EVP_PKEY *k)
{
	BIO *b = BIO_new(BIO_s_mem());
	if (x)
		PEM_write_bio_X509(b, x);
	else
		PEM_write_bio_PrivateKey(b, k, NULL, NULL, 0, NULL, NULL);
	char *p;
	long n = BIO_get_mem_data(b, &p);
	size_t used = strlen(buf);
	assert_true(used + (size_t)n < cap);
	memcpy(buf + used, p, (size_t)n);
	buf[used + (size_t)n] = '\0';
	BIO_free(b);
}

static int split(const char *s, struct tls_pem_certs *c, char *err, size_t errlen)
{
	return tls_pem_split(s, strlen(s), c, err, errlen);
}

/* The seed's CombinedCertChain: two certificates in one file, split in file order, each
 * with its alias, the root marked self-signed. Text around the blocks is ignored. */
static void test_combined_chain(void **state)
{
	(void)state;
	char buf[8192] = "# Webex CA bundle\nsubject=CN = Internal Private Root\n";
	pem_cat(buf, sizeof buf, P->root, NULL);
	tu_append(buf, sizeof buf, "\n  \nsubject=CN = Internal Private TLS SubCA\n");
	pem_cat(buf, sizeof buf, P->inter, NULL);
	struct tls_pem_certs c;
	char err[256] = "";
	assert_int_equal(split(buf, &c, err, sizeof err), 0);
	assert_int_equal(c.n, 2);
	assert_int_equal(X509_cmp(c.v[0], P->root), 0);
	assert_int_equal(X509_cmp(c.v[1], P->inter), 0);

	char alias[TLS_ALIAS_MAX + 1];
	assert_int_equal(tls_pem_alias("webexclient2023", 0, alias, sizeof alias), 0);
	assert_string_equal(alias, "webexclient2023");
	assert_int_equal(tls_pem_alias("webexclient2023", 1, alias, sizeof alias), 0);
	assert_string_equal(alias, "webexclient2023-2");
	assert_int_equal(tls_pem_alias("webexclient2023", 2, alias, sizeof alias), 0);
	assert_string_equal(alias, "webexclient2023-3");

	struct tls_anchor_info root, inter;
	assert_int_equal(tls_anchor_describe(c.v[0], &root), 0);
	assert_int_equal(tls_anchor_describe(c.v[1], &inter), 0);
	assert_string_equal(root.owner, "CN=Internal Private Root,O=Example");
	assert_string_equal(root.issuer, root.owner);
	assert_true(root.self_signed);
	assert_string_equal(inter.owner, "CN=Internal Private TLS SubCA,O=Example");
	assert_string_equal(inter.issuer, root.owner);
	assert_false(inter.self_signed);
	assert_int_equal(strlen(root.sha256), 95); /* 32 bytes as XX:XX:... */
	assert_int_equal(root.sha256[2], ':');
	assert_string_not_equal(root.sha256, inter.sha256);
	assert_true(root.not_after > time(NULL) + 3000 * DAY);
	assert_int_equal(strlen(root.not_after_text), 20);
	assert_int_equal(tls_anchor_check(c.v[0], time(NULL)), TLS_ANCHOR_OK);
	assert_int_equal(tls_anchor_check(c.v[1], time(NULL)), TLS_ANCHOR_OK);
	tls_pem_certs_free(&c);
	assert_int_equal(c.n, 0);
	assert_null(c.v);

	/* CRLF line ends are the same file. */
	char crlf[16384] = "";
	for (size_t i = 0, o = 0; buf[i]; i++) {
		if (buf[i] == '\n')
			crlf[o++] = '\r';
		crlf[o++] = buf[i];
	}
	assert_int_equal(split(crlf, &c, err, sizeof err), 0);
	assert_int_equal(c.n, 2);
	tls_pem_certs_free(&c);
}

/* A subject with a name that is not self-signed though issuer == subject: signed by
 * another key, it is not marked. */
static void test_self_signed_needs_signature(void **state)
{
	(void)state;
	struct cert_spec s = ROOT;
	s.cn = "Internal Private Root";
	/* Same subject as the root, key lk, signed by the root's key: issuer == subject. */
	X509 *x = make(&s, P->lk, P->root, P->rk);
	struct tls_anchor_info i;
	assert_int_equal(tls_anchor_describe(x, &i), 0);
	assert_string_equal(i.owner, i.issuer);
	assert_false(i.self_signed);
	X509_free(x);
}

/* A private key in the file is refused and none of its bytes are echoed. */
static void test_private_key_refused(void **state)
{
	(void)state;
	char buf[8192] = "", key[2048] = "";
	pem_cat(buf, sizeof buf, P->root, NULL);
	pem_cat(key, sizeof key, NULL, P->lk);
	tu_append(buf, sizeof buf, key);
	struct tls_pem_certs c;
	char err[512] = "";
	assert_int_equal(split(buf, &c, err, sizeof err), -1);
	assert_int_equal(c.n, 0);
	assert_non_null(strstr(err, "block 2"));
	assert_non_null(strstr(err, "private key"));
	/* No 8-byte run of the key's base64 body appears in the error. */
	const char *body = strchr(key, '\n') + 1;
	const char *end = strstr(body, "-----END");
	for (const char *p = body; p + 8 <= end; p++) {
		char run[9];
		memcpy(run, p, 8);
		run[8] = '\0';
		if (!strchr(run, '\n'))
			assert_null(strstr(err, run));
	}
	/* A traditional label, first in the file: refused the same way. */
	char trad[4096] = "-----BEGIN EC PRIVATE KEY-----\n";
	tu_append(trad, sizeof trad, body);
	*strstr(trad, "-----END") = '\0';
	tu_append(trad, sizeof trad, "-----END EC PRIVATE KEY-----\n");
	assert_int_equal(split(trad, &c, err, sizeof err), -1);
	assert_non_null(strstr(err, "block 1 (line 1) is a private key (EC PRIVATE KEY)"));
}

static void expect_error(const char *file, const char *part)
{
	struct tls_pem_certs c;
	char err[512] = "";
	assert_int_equal(tls_pem_split(file, strlen(file), &c, err, sizeof err), -1);
	assert_int_equal(c.n, 0);
	assert_null(c.v);
	if (!strstr(err, part))
		fail_msg("error \"%s\" lacks \"%s\"", err, part);
}

/* Truncated blocks, bad base64, empty files, DER that is no certificate: each an error
 * that names the block. */
static void test_malformed_files(void **state)
{
	(void)state;
	char one[4096] = "", two[8192] = "";
	pem_cat(one, sizeof one, P->root, NULL);
	pem_cat(two, sizeof two, P->root, NULL);
	pem_cat(two, sizeof two, P->inter, NULL);
	size_t second = strlen(one); /* where block 2 begins in two */

	expect_error("", "the file is empty");
	expect_error("\n \r\n\t\n", "the file is empty");
	expect_error("just some text\n", "no -----BEGIN CERTIFICATE----- block");

	char t[8192];
	snprintf(t, sizeof t, "%s", two);
	t[second + 200] = '\0'; /* cut in the middle of block 2 */
	expect_error(t, "block 2 (line ");
	expect_error(t, "is truncated: the file ends before END CERTIFICATE");

	snprintf(t, sizeof t, "%s", one);
	char *end1 = strstr(t, "-----END"); /* block 1 never ends; block 2 begins */
	snprintf(end1, sizeof t - (size_t)(end1 - t), "%s", one);
	expect_error(t, "block 1 (line 1) is truncated: line ");

	snprintf(t, sizeof t, "%s", two);
	t[second + 40] = '!';
	expect_error(t, "block 2 (line ");
	expect_error(t, "bad base64 at line ");

	snprintf(t, sizeof t, "%s", two);
	char *eq = strchr(t + second + 30, '\n'); /* padding in the middle of the body */
	eq[-1] = '=';
	expect_error(t, "bad base64");

	snprintf(t, sizeof t, "%s", one);
	char *last = strstr(t, "\n-----END");
	memmove(last - 1, last, strlen(last) + 1); /* drop one base64 character */
	expect_error(t, "length not a multiple of 4");

	/* Base64 of "hello world!" is no DER certificate. */
	expect_error("-----BEGIN CERTIFICATE-----\naGVsbG8gd29ybGQh\n-----END CERTIFICATE-----\n",
	             "block 1 (line 1): not an X.509 certificate");
	expect_error("-----BEGIN CERTIFICATE-----\n-----END CERTIFICATE-----\n", "no data");
	expect_error("-----BEGIN CERTIFICATE-----\nAAAA\n-----END CRL-----\n",
	             "line 3 is not -----END CERTIFICATE-----");
	expect_error("text\n-----END CERTIFICATE-----\n", "line 2: a boundary line outside");
	expect_error("-----BEGIN X509 CRL-----\nAAAA\n-----END X509 CRL-----\n",
	             "block 1 (line 1) is a X509 CRL, not a CERTIFICATE");
	expect_error("-----BEGIN \x7f\x01-----\n", "line 1 holds binary data");
	expect_error("-----BEGIN certificate-----\n", "an unreadable label");

	/* A DER file is not PEM. */
	unsigned char *der = NULL;
	int n = i2d_X509(P->root, &der);
	struct tls_pem_certs c;
	char err[256];
	assert_int_equal(tls_pem_split((const char *)der, (size_t)n, &c, err, sizeof err), -1);
	assert_non_null(strstr(err, "binary data"));
	OPENSSL_free(der);

	/* Bounded size and count. */
	char *big = malloc(TLS_PEM_FILE_MAX + 1);
	memset(big, ' ', TLS_PEM_FILE_MAX + 1);
	assert_int_equal(tls_pem_split(big, TLS_PEM_FILE_MAX + 1, &c, err, sizeof err), -1);
	assert_non_null(strstr(err, "larger than"));
	free(big);
	size_t onelen = strlen(one), cap = onelen * (TLS_PEM_CERTS_MAX + 1) + 1;
	char *many = malloc(cap);
	for (size_t i = 0; i <= TLS_PEM_CERTS_MAX; i++)
		memcpy(many + i * onelen, one, onelen);
	many[cap - 1] = '\0';
	assert_int_equal(tls_pem_split(many, cap - 1, &c, err, sizeof err), -1);
	assert_non_null(strstr(err, "more than 100 blocks"));
	assert_int_equal(tls_pem_split(many, cap - 1 - onelen, &c, err, sizeof err), 0);
	assert_int_equal(c.n, TLS_PEM_CERTS_MAX);
	tls_pem_certs_free(&c);
	free(many);
}

/* Not a CA, expired, not yet valid, version 1, no keyCertSign: refused with the reason. */
static void test_anchor_checks(void **state)
{
	(void)state;
	time_t now = time(NULL);
	assert_int_equal(tls_anchor_check(P->root, now), TLS_ANCHOR_OK);
	assert_int_equal(tls_anchor_check(P->inter, now), TLS_ANCHOR_OK);
	assert_int_equal(tls_anchor_check(P->leaf, now), TLS_ANCHOR_NOT_CA);
	assert_int_equal(tls_anchor_check(P->expired, now), TLS_ANCHOR_EXPIRED);
	assert_int_equal(tls_anchor_check(P->future, now), TLS_ANCHOR_NOT_YET_VALID);
	assert_int_equal(tls_anchor_check(P->v1, now), TLS_ANCHOR_V1);
	assert_int_equal(tls_anchor_check(P->no_certsign, now), TLS_ANCHOR_NO_CERT_SIGN);
	/* The time is the caller's: the root expires in ten years, was not valid last week. */
	assert_int_equal(tls_anchor_check(P->root, now + 4000 * DAY), TLS_ANCHOR_EXPIRED);
	assert_int_equal(tls_anchor_check(P->root, now - 7 * DAY), TLS_ANCHOR_NOT_YET_VALID);
	assert_int_equal(tls_anchor_check(P->expired, now - 30 * DAY), TLS_ANCHOR_OK);

	assert_non_null(strstr(tls_anchor_reason(TLS_ANCHOR_NOT_CA), "not a CA certificate"));
	assert_non_null(strstr(tls_anchor_reason(TLS_ANCHOR_EXPIRED), "expired"));
	assert_non_null(strstr(tls_anchor_reason(TLS_ANCHOR_NOT_YET_VALID), "not yet valid"));
	assert_non_null(strstr(tls_anchor_reason(TLS_ANCHOR_V1), "version 1"));
	assert_non_null(strstr(tls_anchor_reason(TLS_ANCHOR_NO_CERT_SIGN), "keyCertSign"));
	assert_string_equal(tls_anchor_reason((enum tls_anchor_verdict)99), "unknown verdict");
	/* The v1 root is still described (and self-signed) for `trust get`-style listings. */
	struct tls_anchor_info i;
	assert_int_equal(tls_anchor_describe(P->v1, &i), 0);
	assert_true(i.self_signed);
}

static void test_alias_names(void **state)
{
	(void)state;
	assert_null(tls_alias_check("webexclientroot2023"));
	assert_null(tls_alias_check("a.b_c-D:1"));
	assert_non_null(tls_alias_check(""));
	assert_non_null(tls_alias_check(NULL));
	assert_non_null(strstr(tls_alias_check("a b"), "without spaces"));
	assert_non_null(strstr(tls_alias_check("a/b"), "'/'"));
	assert_non_null(tls_alias_check("a\\b"));
	assert_non_null(tls_alias_check("caf\xc3\xa9"));
	char a[TLS_ALIAS_MAX + 2];
	memset(a, 'a', TLS_ALIAS_MAX);
	a[TLS_ALIAS_MAX] = '\0';
	assert_null(tls_alias_check(a));
	char out[TLS_ALIAS_MAX + 8];
	assert_int_equal(tls_pem_alias(a, 0, out, sizeof out), 0);
	/* base-2 would pass the bound: refused, not cut. */
	assert_int_equal(tls_pem_alias(a, 1, out, sizeof out), -1);
	assert_string_equal(out, "");
	assert_int_equal(tls_pem_alias("x", 1, out, 3), -1);
	a[TLS_ALIAS_MAX] = 'a';
	a[TLS_ALIAS_MAX + 1] = '\0';
	assert_non_null(strstr(tls_alias_check(a), "at most 64 bytes"));
}

/* PEM text of x (static buffer: one at a time). */
static const char *pem_text(X509 *x)
{
	static char buf[8192];
	buf[0] = '\0';
	pem_cat(buf, sizeof buf, x, NULL);
	return buf;
}

/* tls/trust: a listener takes the anchors and identities of its kind and interface levels,
 * both (the union), and nothing from other kinds or from system/transport levels. */
static void test_trust_levels(void **state)
{
	(void)state;
	assert_null(tls_trust_level_ok("kind=cti-tls"));
	assert_null(tls_trust_level_ok("interface=cti-tls@0.0.0.0:2749"));
	assert_non_null(tls_trust_level_ok("system"));
	assert_non_null(tls_trust_level_ok("transport=cti"));

	struct tls_trust *t = tls_trust_new();
	assert_non_null(t);
	assert_int_equal(tls_trust_add_anchor(t, "kind=cti-tls", pem_text(P->root)), 0);
	assert_int_equal(
	    tls_trust_add_anchor(t, "interface=cti-tls@0.0.0.0:2749", pem_text(P->inter)), 0);
	assert_int_equal(tls_trust_add_anchor(t, "kind=sip-tls", pem_text(P->expired)), 0);
	assert_int_equal(tls_trust_add_anchor(t, "system", pem_text(P->future)), 0);
	assert_int_equal(tls_trust_add_anchor(t, "kind=cti-tls", "not PEM"), -1);
	assert_int_equal(tls_trust_add_identity(t, "kind=cti-tls", "a.example.net"), 0);
	assert_int_equal(tls_trust_add_identity(t, "interface=cti-tls@0.0.0.0:2749", "b"), 0);
	assert_int_equal(tls_trust_add_identity(t, "kind=sip-edge", "edge.example.net"), 0);

	struct tls_listener_id cti = {"cti-tls", "0.0.0.0", 2749}, cti2 = {"cti-tls", "::", 2749};
	char lv[TLS_LEVELS][TLS_LEVEL_MAX];
	assert_int_equal(tls_levels_of(&cti, lv), 0);
	X509_STORE *st = X509_STORE_new();
	STACK_OF(X509_NAME) *names = sk_X509_NAME_new_null();
	struct tls_names ids;
	assert_int_equal(tls_trust_for(t, lv, st, names, &ids), 2);
	assert_int_equal(sk_X509_NAME_num(names), 2);
	assert_int_equal(ids.n, 2);
	assert_string_equal(ids.v[0], "a.example.net");
	assert_string_equal(ids.v[1], "b");
	/* The leaf chains to the anchors in the store. */
	X509_STORE_CTX *x = X509_STORE_CTX_new();
	assert_int_equal(X509_STORE_CTX_init(x, st, P->leaf, NULL), 1);
	assert_int_equal(X509_verify_cert(x), 1);
	X509_STORE_CTX_free(x);
	X509_STORE_free(st);
	sk_X509_NAME_pop_free(names, X509_NAME_free);
	tls_names_free(&ids);
	/* A listener on a list of addresses is one interface, named by its first address. */
	struct tls_listener_id list = {"cti-tls", "::1, 127.0.0.1", 2749};
	assert_int_equal(tls_levels_of(&list, lv), 0);
	assert_string_equal(lv[0], "interface=cti-tls@[::1]:2749");
	list.address = "0.0.0.0,::";
	assert_int_equal(tls_levels_of(&list, lv), 0);
	assert_string_equal(lv[0], "interface=cti-tls@0.0.0.0:2749");
	/* Another interface of the kind: the kind's only. */
	assert_int_equal(tls_levels_of(&cti2, lv), 0);
	assert_int_equal(tls_trust_for(t, lv, NULL, NULL, &ids), 1);
	assert_int_equal(ids.n, 1);
	tls_names_free(&ids);

	/* The snapshot: installing bumps the generation; identities match case-insensitively. */
	unsigned long g = tls_trust_generation();
	tls_trust_install(t);
	assert_true(tls_trust_generation() > g);
	struct tls_listener_id edge = {"sip-edge", "127.0.0.1", 5091};
	assert_int_equal(tls_levels_of(&edge, lv), 0);
	assert_true(tls_trust_allows(lv, "EDGE.example.net"));
	assert_false(tls_trust_allows(lv, "a.example.net"));
	assert_int_equal(tls_trust_current(lv, NULL, NULL, NULL), 0);
	tls_trust_clear();
	assert_false(tls_trust_allows(lv, "edge.example.net"));
}

/* Exact CN or DNS SAN, ASCII case-insensitive; non-ASCII never matches. */
static void test_identity_match(void **state)
{
	(void)state;
	const char *by_cn[] = {"other.example.com", "BWCTIClient.Webex.COM"};
	const char *by_san[] = {"CTI.example.com"};
	const char *none[] = {"webex.com", "bwcticlient.webex.co", "cti.example.com."};
	assert_true(tls_identity_matches(P->leaf, by_cn, 2));
	assert_true(tls_identity_matches(P->leaf, by_san, 1));
	assert_false(tls_identity_matches(P->leaf, none, 3));
	assert_false(tls_identity_matches(P->leaf, by_cn, 0));
	assert_false(tls_identity_matches(P->leaf, by_cn, 1));

	/* A listed name that is not printable ASCII is refused and never matches. */
	const char *nonascii[] = {"bwcticlient.webex.c\xc3\xb6m"};
	assert_non_null(tls_identity_check(nonascii[0]));
	assert_false(tls_identity_matches(P->leaf, nonascii, 1));

	/* A certificate name that is not ASCII never matches, not even itself. */
	struct cert_spec s = LEAF;
	s.cn = "bwcticli\xc3\xa9nt.webex.com";
	s.san = "DNS:*.example.com";
	X509 *x = make(&s, P->lk, P->inter, P->ik);
	const char *self[] = {s.cn, "*.example.com", "a.example.com"};
	assert_false(tls_identity_matches(x, self, 3));
	X509_free(x);

	assert_null(tls_identity_check("bwcticlient.webex.com"));
	assert_non_null(tls_identity_check(""));
	assert_non_null(strstr(tls_identity_check("a b"), "without spaces"));
	assert_non_null(strstr(tls_identity_check("*.webex.com"), "wildcards"));
	char n[TLS_IDENTITY_MAX + 2];
	memset(n, 'n', sizeof n);
	n[TLS_IDENTITY_MAX] = '\0';
	assert_null(tls_identity_check(n));
	n[TLS_IDENTITY_MAX] = 'n';
	n[TLS_IDENTITY_MAX + 1] = '\0';
	assert_non_null(strstr(tls_identity_check(n), "at most 255 bytes"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_combined_chain),
	    cmocka_unit_test(test_self_signed_needs_signature),
	    cmocka_unit_test(test_private_key_refused),
	    cmocka_unit_test(test_malformed_files),
	    cmocka_unit_test(test_anchor_checks),
	    cmocka_unit_test(test_alias_names),
	    cmocka_unit_test(test_identity_match),
	    cmocka_unit_test(test_trust_levels),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
