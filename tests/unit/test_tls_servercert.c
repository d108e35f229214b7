/* SPDX-License-Identifier: ISC */
/* The uploaded server certificate's checks (tls/servercert) and the certificate expiry
 * alarm of tlsctx, with the clock given to it. */
#include "ca/ca_bootstrap.h"
#include "core/alarm.h"
#include "core/util.h"
#include "tls/servercert.h"
#include "tls/tlsctx.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

struct text {
	char *p;
	size_t n;
};

static struct text slurp(const char *path)
{
	struct text t;
	assert_int_equal(tg_read_file(path, 1 << 20, &t.p, &t.n), 0);
	return t;
}

static char dir1[] = "/tmp/tgscAXXXXXX", dir2[] = "/tmp/tgscBXXXXXX";
static struct ca_bootstrap_result r1, r2;

static int setup(void **state)
{
	(void)state;
	char err[400];
	assert_non_null(mkdtemp(dir1));
	assert_non_null(mkdtemp(dir2));
	assert_int_equal(ca_bootstrap(dir1, "n1", "", 60, &r1, err, sizeof err), 0);
	assert_int_equal(ca_bootstrap(dir2, "n2", "", 60, &r2, err, sizeof err), 0);
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	char cmd[100];
	snprintf(cmd, sizeof cmd, "rm -rf %s %s", dir1, dir2);
	return system(cmd) == 0 ? 0 : -1;
}

/* Runs the check on files; returns its result, err filled. */
static int check(const char *key, const char *cert, const char *chain, const char *anchor,
                 int64_t now, char *err, size_t errlen)
{
	struct text k = slurp(key), c = slurp(cert), ch = {NULL, 0};
	if (chain)
		ch = slurp(chain);
	struct tls_servercert sc;
	int rc =
	    tls_servercert_check(k.p, k.n, c.p, c.n, ch.p, ch.n, anchor, now, &sc, err, errlen);
	if (rc == 0) {
		assert_non_null(sc.key);
		assert_true(sc.chain.n >= 1);
		tls_servercert_free(&sc);
	}
	free(k.p);
	free(c.p);
	free(ch.p);
	return rc;
}

static void test_servercert_rules(void **state)
{
	(void)state;
	char err[600];
	int64_t now = tg_now_s();
	/* telgate's own CA as the anchor: no chain file needed. */
	assert_int_equal(
	    check(r1.server_key, r1.server_cert, NULL, r1.ca_cert, now, err, sizeof err), 0);
	/* Its own root in the chain file. */
	assert_int_equal(
	    check(r1.server_key, r1.server_cert, r1.ca_cert, NULL, now, err, sizeof err), 0);
	/* Without either: nothing to verify against. */
	assert_int_equal(
	    check(r1.server_key, r1.server_cert, NULL, r2.ca_cert, now, err, sizeof err), -1);
	assert_non_null(strstr(err, "does not verify"));
	/* Another certificate's key. */
	assert_int_equal(
	    check(r2.server_key, r1.server_cert, r1.ca_cert, NULL, now, err, sizeof err), -1);
	assert_non_null(strstr(err, "does not match"));
	/* A chain that is not in order (the wrong CA after the leaf). */
	assert_int_equal(
	    check(r1.server_key, r1.server_cert, r2.ca_cert, NULL, now, err, sizeof err), -1);
	assert_non_null(strstr(err, "did not issue"));
	/* The CA certificate itself. */
	char cakey[400];
	snprintf(cakey, sizeof cakey, "%s/ca.key", dir1);
	assert_int_equal(check(cakey, r1.ca_cert, NULL, NULL, now, err, sizeof err), -1);
	assert_non_null(strstr(err, "CA certificate"));
	/* Seen from a clock 61 days on: expired. */
	assert_int_equal(check(r1.server_key, r1.server_cert, r1.ca_cert, NULL, now + 61 * 86400,
	                       err, sizeof err),
	                 -1);
	assert_non_null(strstr(err, "expired"));
	/* A key file that is not a key; a certificate file with a key in it. */
	assert_int_equal(
	    check(r1.server_cert, r1.server_cert, NULL, r1.ca_cert, now, err, sizeof err), -1);
	assert_non_null(strstr(err, "KEYFILE"));
	assert_int_equal(
	    check(r1.server_key, r1.server_key, NULL, r1.ca_cert, now, err, sizeof err), -1);
	assert_non_null(strstr(err, "CERTFILE"));
	assert_null(strstr(err, "MII")); /* no key bytes in the message */
}

static size_t expiry_alarms(void)
{
	struct alarm_count c[ALARM_COUNTS_MAX];
	size_t n = alarm_counts(c, ALARM_COUNTS_MAX);
	for (size_t i = 0; i < n; i++)
		if (strcmp(c[i].name, "CertificateExpiryWarning") == 0) {
			assert_int_equal(c[i].severity, ALARM_WARNING);
			return (size_t)c[i].raised;
		}
	return 0;
}

static void test_expiry_alarm_clock(void **state)
{
	(void)state;
	char err[400];
	struct tlsctx_options o = {.name = "t", .cert = r1.server_cert, .key = r1.server_key};
	struct tlsctx *t = tlsctx_new(&o, err, sizeof err);
	assert_non_null(t);
	int64_t now = tg_now_s(); /* the certificate: 60 days from about now */
	tlsctx_expiry_check_all(now);
	tlsctx_expiry_check_all(now + 29 * 86400); /* 31 days left */
	assert_int_equal(expiry_alarms(), 0);
	tlsctx_expiry_check_all(now + 31 * 86400); /* 29 days left */
	assert_int_equal(expiry_alarms(), 1);
	/* Every check that day: no second alarm. */
	tlsctx_expiry_check_all(now + 31 * 86400 + 60);
	tlsctx_expiry_check_all(now + 32 * 86400 - 1);
	assert_int_equal(expiry_alarms(), 1);
	/* The next day: again. */
	tlsctx_expiry_check_all(now + 32 * 86400);
	assert_int_equal(expiry_alarms(), 2);
	/* Expired: still said, once a day. */
	tlsctx_expiry_check_all(now + 70 * 86400);
	tlsctx_expiry_check_all(now + 70 * 86400 + 5);
	assert_int_equal(expiry_alarms(), 3);
	struct alarm_rec h[4];
	size_t n = alarm_history(h, 4);
	assert_true(n >= 1);
	assert_non_null(strstr(h[n - 1].fields, "DaysLeft=-1"));
	assert_non_null(strstr(h[n - 1].fields, "Source=\"node certificate\""));
	tlsctx_free(t);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_servercert_rules),
	    cmocka_unit_test(test_expiry_alarm_clock),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
