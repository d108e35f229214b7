/* SPDX-License-Identifier: ISC */
/* Connection admission (conncap) and the reloadable TLS context (tlsctx). */
#include "ca/ca_bootstrap.h"
#include "core/conncap.h"
#include "tls/tlsctx.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

static struct sockaddr_storage addr(const char *ip, unsigned port)
{
	struct sockaddr_storage ss;
	memset(&ss, 0, sizeof ss);
	if (strchr(ip, ':')) {
		struct sockaddr_in6 *a = (struct sockaddr_in6 *)&ss;
		a->sin6_family = AF_INET6;
		a->sin6_port = htons((unsigned short)port);
		inet_pton(AF_INET6, ip, &a->sin6_addr);
	} else {
		struct sockaddr_in *a = (struct sockaddr_in *)&ss;
		a->sin_family = AF_INET;
		a->sin_port = htons((unsigned short)port);
		inet_pton(AF_INET, ip, &a->sin_addr);
	}
	return ss;
}

#define SA(x) ((struct sockaddr *)&(x))

static void test_conncap_limits(void **state)
{
	(void)state;
	struct conncap *c = conncap_new(5, 3);
	assert_non_null(c);
	struct sockaddr_storage a1 = addr("192.0.2.1", 1000), a2 = addr("192.0.2.1", 2000),
	                        b = addr("192.0.2.2", 1000), v6 = addr("2001:db8::1", 5);
	/* Per source, whatever the port. */
	assert_int_equal(conncap_acquire(c, SA(a1)), CONNCAP_OK);
	assert_int_equal(conncap_acquire(c, SA(a2)), CONNCAP_OK);
	assert_int_equal(conncap_acquire(c, SA(a1)), CONNCAP_OK);
	assert_int_equal(conncap_acquire(c, SA(a2)), CONNCAP_SOURCE_FULL);
	/* Another source is not affected... */
	assert_int_equal(conncap_acquire(c, SA(b)), CONNCAP_OK);
	assert_int_equal(conncap_acquire(c, SA(v6)), CONNCAP_OK);
	assert_int_equal(conncap_total(c), 5);
	/* ...until the node is full. */
	assert_int_equal(conncap_acquire(c, SA(b)), CONNCAP_NODE_FULL);
	/* A release makes room for that source again. */
	conncap_release(c, SA(a2));
	assert_int_equal(conncap_acquire(c, SA(a1)), CONNCAP_OK);
	conncap_release(c, SA(a1));
	conncap_release(c, SA(a1));
	conncap_release(c, SA(a1));
	conncap_release(c, SA(b));
	conncap_release(c, SA(v6));
	assert_int_equal(conncap_total(c), 0);
	/* Releasing an unknown source changes nothing. */
	conncap_release(c, SA(b));
	assert_int_equal(conncap_total(c), 0);
	conncap_free(c);
}

static void test_conncap_many_sources(void **state)
{
	(void)state;
	struct conncap *c = conncap_new(100000, 2);
	char ip[32];
	for (int i = 0; i < 20000; i++) {
		snprintf(ip, sizeof ip, "10.%d.%d.%d", i >> 16, (i >> 8) & 255, i & 255);
		struct sockaddr_storage a = addr(ip, 1);
		assert_int_equal(conncap_acquire(c, SA(a)), CONNCAP_OK);
		assert_int_equal(conncap_acquire(c, SA(a)), CONNCAP_OK);
		assert_int_equal(conncap_acquire(c, SA(a)), CONNCAP_SOURCE_FULL);
	}
	assert_int_equal(conncap_total(c), 40000);
	conncap_free(c); /* frees the remaining sources */
}

static void copy(const char *from, const char *to)
{
	FILE *in = fopen(from, "rb"), *out = fopen(to, "wb");
	assert_non_null(in);
	assert_non_null(out);
	char buf[8192];
	size_t n;
	while ((n = fread(buf, 1, sizeof buf, in)) > 0)
		assert_int_equal(fwrite(buf, 1, n, out), n);
	fclose(in);
	fclose(out);
}

static void test_tlsctx_reload(void **state)
{
	(void)state;
	char d1[] = "/tmp/tgtlsAXXXXXX", d2[] = "/tmp/tgtlsBXXXXXX", live[] = "/tmp/tgtlsLXXXXXX";
	assert_non_null(mkdtemp(d1));
	assert_non_null(mkdtemp(d2));
	assert_non_null(mkdtemp(live));
	struct ca_bootstrap_result r1, r2;
	char err[400];
	assert_int_equal(ca_bootstrap(d1, "n1", "", 60, &r1, err, sizeof err), 0);
	assert_int_equal(ca_bootstrap(d2, "n2", "", 60, &r2, err, sizeof err), 0);
	char cert[300], key[300], ca[300];
	snprintf(cert, sizeof cert, "%s/server.crt", live);
	snprintf(key, sizeof key, "%s/server.key", live);
	snprintf(ca, sizeof ca, "%s/ca.crt", live);
	copy(r1.server_cert, cert);
	copy(r1.server_key, key);
	copy(r1.ca_cert, ca);

	/* A missing file: a clear error naming it. */
	struct tlsctx_options bad = {.name = "t", .cert = "/nonexistent/x.crt", .key = key};
	assert_null(tlsctx_new(&bad, err, sizeof err));
	assert_non_null(strstr(err, "/nonexistent/x.crt"));

	struct tlsctx_options o = {.name = "t", .cert = cert, .key = key, .client_ca = ca};
	struct tlsctx *t = tlsctx_new(&o, err, sizeof err);
	assert_non_null(t);
	char fp1[100], fp2[100], fp3[100];
	tlsctx_fingerprint(t, fp1, sizeof fp1);
	assert_int_equal(strlen(fp1), 95);
	assert_int_equal(tlsctx_check(t, 0, err, sizeof err), 0); /* nothing changed */
	SSL *before = tlsctx_ssl_new(t);
	assert_non_null(before);
	assert_int_equal(SSL_get_verify_mode(before),
	                 SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT);

	/* The certificate alone changes (the key not yet): refused, the old one stays. */
	sleep(1); /* distinct mtimes even on coarse file systems */
	copy(r2.server_cert, cert);
	assert_int_equal(tlsctx_check(t, 0, err, sizeof err), -1);
	assert_non_null(strstr(err, "private key"));
	tlsctx_fingerprint(t, fp2, sizeof fp2);
	assert_string_equal(fp1, fp2);
	assert_int_equal(tlsctx_check(t, 0, err, sizeof err), 0); /* reported once */
	/* Then the key arrives: the new pair is in use. */
	copy(r2.server_key, key);
	assert_int_equal(tlsctx_check(t, 0, err, sizeof err), 1);
	tlsctx_fingerprint(t, fp3, sizeof fp3);
	assert_string_not_equal(fp1, fp3);
	/* An SSL made before the swap still works with its own context. */
	assert_non_null(SSL_get_SSL_CTX(before));
	assert_non_null(SSL_get_certificate(before));
	SSL_free(before);
	/* A broken trust store keeps the running context. */
	FILE *f = fopen(ca, "w");
	fputs("not a certificate\n", f);
	fclose(f);
	assert_int_equal(tlsctx_check(t, 1, err, sizeof err), -1);
	assert_non_null(strstr(err, "trust store"));
	tlsctx_fingerprint(t, fp2, sizeof fp2);
	assert_string_equal(fp2, fp3);
	SSL *after = tlsctx_ssl_new(t);
	assert_non_null(after);
	SSL_free(after);
	tlsctx_free(t);
	char cmd[200];
	snprintf(cmd, sizeof cmd, "rm -rf %s %s %s", d1, d2, live);
	assert_int_equal(system(cmd), 0);
}

/* client_ca_optional: the certificate is asked for (with the CA's name) and verified when
 * given, but its absence does not fail the handshake. */
static void test_tlsctx_client_ca_optional(void **state)
{
	(void)state;
	char d[] = "/tmp/tgtlsOXXXXXX";
	assert_non_null(mkdtemp(d));
	struct ca_bootstrap_result r;
	char err[400];
	assert_int_equal(ca_bootstrap(d, "n1", "", 60, &r, err, sizeof err), 0);
	struct tlsctx_options o = {.name = "t",
	                           .cert = r.server_cert,
	                           .key = r.server_key,
	                           .client_ca = r.ca_cert,
	                           .client_ca_optional = 1};
	struct tlsctx *t = tlsctx_new(&o, err, sizeof err);
	assert_non_null(t);
	SSL *ssl = tlsctx_ssl_new(t);
	assert_non_null(ssl);
	assert_int_equal(SSL_get_verify_mode(ssl), SSL_VERIFY_PEER);
	STACK_OF(X509_NAME) *names = SSL_get_client_CA_list(ssl);
	assert_non_null(names);
	assert_int_equal(sk_X509_NAME_num(names), 1);
	/* The chain sent (the CA from the verify store) is built with the context, not by
	 * OpenSSL at every handshake; no TLS 1.3 ticket where nothing resumes. */
	STACK_OF(X509) *chain = NULL;
	assert_int_equal(SSL_get0_chain_certs(ssl, &chain), 1);
	assert_non_null(chain);
	assert_int_equal(sk_X509_num(chain), 1);
	assert_int_equal(X509_cmp(sk_X509_value(chain, 0), SSL_get_certificate(ssl)) != 0, 1);
	assert_int_equal(SSL_get_num_tickets(ssl), 0);
	SSL_free(ssl);
	tlsctx_free(t);
	char cmd[100];
	snprintf(cmd, sizeof cmd, "rm -rf %s", d);
	assert_int_equal(system(cmd), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_conncap_limits),
	    cmocka_unit_test(test_conncap_many_sources),
	    cmocka_unit_test(test_tlsctx_reload),
	    cmocka_unit_test(test_tlsctx_client_ca_optional),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
