/* SPDX-License-Identifier: ISC */
#include "ca/ca_bootstrap.h"

#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <cmocka.h>

static X509 *load(const char *path)
{
	FILE *f = fopen(path, "r");
	assert_non_null(f);
	X509 *x = PEM_read_X509(f, NULL, NULL, NULL);
	fclose(f);
	assert_non_null(x);
	return x;
}

static int verify(const char *ca_path, const char *cert_path)
{
	X509 *ca = load(ca_path), *x = load(cert_path);
	X509_STORE *st = X509_STORE_new();
	X509_STORE_add_cert(st, ca);
	X509_STORE_CTX *ctx = X509_STORE_CTX_new();
	X509_STORE_CTX_init(ctx, st, x, NULL);
	X509_STORE_CTX_set_purpose(ctx, X509_PURPOSE_SSL_SERVER);
	int ok = X509_verify_cert(ctx) == 1;
	/* The names a local client uses must match. */
	ok = ok && X509_check_host(x, "localhost", 0, 0, NULL) == 1 &&
	     X509_check_ip_asc(x, "127.0.0.1", 0) == 1 &&
	     X509_check_host(x, "tg.example.net", 0, 0, NULL) == 1 &&
	     X509_check_host(x, "evil.example.net", 0, 0, NULL) != 1;
	X509_STORE_CTX_free(ctx);
	X509_STORE_free(st);
	X509_free(ca);
	X509_free(x);
	return ok;
}

static void test_bootstrap(void **state)
{
	(void)state;
	char dir[] = "/tmp/tgcaXXXXXX";
	assert_non_null(mkdtemp(dir));
	char pki[64];
	snprintf(pki, sizeof pki, "%s/pki", dir);
	struct ca_bootstrap_result r1, r2, r3;
	char err[256];
	assert_int_equal(
	    ca_bootstrap(pki, "node1", "tg.example.net", 30 + 60, &r1, err, sizeof err), 0);
	assert_true(r1.ca_created && r1.server_created);
	assert_true(verify(r1.ca_cert, r1.server_cert));
	struct stat st;
	char key[128];
	snprintf(key, sizeof key, "%s/ca.key", pki);
	assert_int_equal(stat(key, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0600);
	assert_int_equal(stat(r1.server_key, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0600);
	assert_int_equal(stat(pki, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0700);

	/* Second start: nothing is replaced. */
	assert_int_equal(ca_bootstrap(pki, "node1", "tg.example.net", 90, &r2, err, sizeof err), 0);
	assert_false(r2.ca_created || r2.server_created);
	assert_string_equal(r1.ca_fingerprint, r2.ca_fingerprint);

	/* A server certificate that does not verify (here: the CA's own) is replaced. */
	char cmd[700];
	snprintf(cmd, sizeof cmd, "cp %s %s", r1.ca_cert, r1.server_cert);
	assert_int_equal(system(cmd), 0);
	assert_int_equal(ca_bootstrap(pki, "node1", "tg.example.net", 90, &r3, err, sizeof err), 0);
	assert_false(r3.ca_created);
	assert_true(r3.server_created);
	assert_true(verify(r3.ca_cert, r3.server_cert));

	/* A server certificate expiring within 30 days is renewed at the next start. */
	snprintf(cmd, sizeof cmd, "rm %s", r1.server_cert);
	assert_int_equal(system(cmd), 0);
	assert_int_equal(ca_bootstrap(pki, "node1", "tg.example.net", 10, &r3, err, sizeof err), 0);
	assert_true(r3.server_created);
	assert_int_equal(ca_bootstrap(pki, "node1", "tg.example.net", 90, &r3, err, sizeof err), 0);
	assert_true(r3.server_created);
	assert_int_equal(ca_bootstrap(pki, "node1", "tg.example.net", 90, &r3, err, sizeof err), 0);
	assert_false(r3.server_created);

	/* A CA key without its certificate is never silently replaced. */
	snprintf(cmd, sizeof cmd, "rm %s/ca.crt", pki);
	assert_int_equal(system(cmd), 0);
	assert_int_equal(ca_bootstrap(pki, "node1", "", 90, &r3, err, sizeof err), -1);
	assert_non_null(strstr(err, "refusing to replace a CA"));
	snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
	assert_int_equal(system(cmd), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {cmocka_unit_test(test_bootstrap)};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
