/* SPDX-License-Identifier: ISC */
/* The EST client (lib/tgest.h) and its HTTP client (lib/tghttp.h): keys of each profile
 * type, the PKCS#10 request (signature, subject, key), the certs-only answer (base64 with
 * and without line breaks, the certificate picked by key, garbage refused), HTTP answers
 * (sized, chunked, Retry-After, cut short), and the exchange against an in-test HTTPS
 * server: Basic authentication, 202 + Retry-After then the certificate, 401 with the
 * server's text, and a server the trust list's CA did not certify refused. */
#include "tgest.h"
#include "tghttp.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <openssl/pkcs7.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>
#include <unistd.h>
#include <cmocka.h>

#include "tl_fixture.h"

static char err[512];

static void test_keygen(void **state)
{
	(void)state;
	static const struct {
		const char *type, *alg;
		int bits;
	} k[] = {{"ec-p256", "EC", 256},
	         {"ec-p384", "EC", 384},
	         {"rsa-2048", "RSA", 2048},
	         {NULL, "EC", 256}};
	for (size_t i = 0; i < sizeof k / sizeof k[0]; i++) {
		EVP_PKEY *p = tgest_keygen(k[i].type, err, sizeof err);
		assert_non_null(p);
		assert_true(EVP_PKEY_is_a(p, k[i].alg));
		assert_int_equal(EVP_PKEY_get_bits(p), k[i].bits);
		EVP_PKEY_free(p);
	}
	assert_null(tgest_keygen("dsa-1024", err, sizeof err));
	assert_non_null(strstr(err, "unknown key type"));
}

static X509_REQ *decode_csr(const char *b64)
{
	size_t n = strlen(b64);
	unsigned char *der = malloc(n);
	int dl = EVP_DecodeBlock(der, (const unsigned char *)b64, (int)n);
	assert_true(dl > 0);
	while (n && b64[n - 1] == '=')
		n--, dl--;
	const unsigned char *p = der;
	X509_REQ *r = d2i_X509_REQ(NULL, &p, dl);
	free(der);
	return r;
}

static void test_csr(void **state)
{
	(void)state;
	const char *types[] = {"ec-p256", "ec-p384", "rsa-2048"};
	for (size_t i = 0; i < 3; i++) {
		EVP_PKEY *k = tgest_keygen(types[i], err, sizeof err);
		char *csr = tgest_csr(k, "instance-1234", err, sizeof err);
		assert_non_null(csr);
		assert_null(strpbrk(csr, "\r\n ")); /* one base64 run */
		X509_REQ *r = decode_csr(csr);
		assert_non_null(r);
		assert_int_equal(X509_REQ_verify(r, k), 1); /* proof of possession */
		assert_int_equal(EVP_PKEY_eq(X509_REQ_get0_pubkey(r), k), 1);
		char cn[64];
		assert_int_equal(X509_NAME_get_text_by_NID(X509_REQ_get_subject_name(r),
		                                           NID_commonName, cn, sizeof cn),
		                 13);
		assert_string_equal(cn, "instance-1234");
		X509_REQ_free(r);
		free(csr);
		EVP_PKEY_free(k);
	}
}

/* base64 of a certs-only PKCS#7 holding certs, with a line break every wrap characters
 * (0 = none), as a server would send it. */
static char *certs_only(X509 **certs, int n, int wrap)
{
	PKCS7 *p7 = PKCS7_new();
	assert_int_equal(PKCS7_set_type(p7, NID_pkcs7_signed), 1);
	assert_int_equal(PKCS7_content_new(p7, NID_pkcs7_data), 1);
	for (int i = 0; i < n; i++)
		assert_int_equal(PKCS7_add_certificate(p7, certs[i]), 1);
	unsigned char *der = NULL;
	int dl = i2d_PKCS7(p7, &der);
	PKCS7_free(p7);
	char *b = malloc((size_t)dl * 2 + 8), *out = malloc((size_t)dl * 3 + 8);
	int bl = EVP_EncodeBlock((unsigned char *)b, der, dl);
	OPENSSL_free(der);
	size_t o = 0;
	for (int i = 0; i < bl; i++) {
		out[o++] = b[i];
		if (wrap && (i + 1) % wrap == 0)
			out[o++] = '\r', out[o++] = '\n';
	}
	out[o++] = '\n';
	out[o] = '\0';
	free(b);
	return out;
}

static void test_read_certs(void **state)
{
	(void)state;
	struct tlf_cert ca, mine, other;
	tlf_make(&ca, tlf_ec(), "telgate CA", 1, NULL);
	tlf_make(&mine, tlf_ec(), "wwhite", 0x77, &ca);
	tlf_make(&other, tlf_ec(), "jpinkman", 0x78, &ca);
	X509 *both[] = {ca.x, mine.x};
	for (int wrap = 0; wrap <= 76; wrap += 64) {
		char *b = certs_only(both, 2, wrap);
		STACK_OF(X509) *chain = NULL;
		X509 *x = tgest_read_certs((unsigned char *)b, strlen(b), mine.key, &chain, err,
		                           sizeof err);
		assert_non_null(x);
		assert_int_equal(X509_cmp(x, mine.x), 0);
		assert_int_equal(sk_X509_num(chain), 1);
		assert_int_equal(X509_cmp(sk_X509_value(chain, 0), ca.x), 0);
		X509_free(x);
		sk_X509_pop_free(chain, X509_free);
		free(b);
	}
	/* no certificate for our key */
	X509 *theirs[] = {ca.x, other.x};
	char *b = certs_only(theirs, 2, 64);
	assert_null(
	    tgest_read_certs((unsigned char *)b, strlen(b), mine.key, NULL, err, sizeof err));
	assert_non_null(strstr(err, "no certificate for our key"));
	free(b);
	/* not base64, base64 of something else, empty */
	const char *junk[] = {"%%%%", "aGVsbG8gd29ybGQh", ""};
	for (size_t i = 0; i < 3; i++) {
		assert_null(tgest_read_certs((const unsigned char *)junk[i], strlen(junk[i]),
		                             mine.key, NULL, err, sizeof err));
		assert_non_null(strstr(err, "not a base64 PKCS#7"));
	}
	tlf_free(&ca);
	tlf_free(&mine);
	tlf_free(&other);
}

static int parse(const char *s, size_t max, struct tghttp_resp *r)
{
	memset(r, 0, sizeof *r);
	return tghttp_parse((const unsigned char *)s, strlen(s), max, r, err, sizeof err);
}

static void test_http_answers(void **state)
{
	(void)state;
	struct tghttp_resp r;
	assert_int_equal(parse("HTTP/1.1 200 OK\r\nContent-Type: application/pkcs7-mime; "
	                       "smime-type=certs-only\r\nContent-Length: 5\r\n\r\nhello",
	                       100, &r),
	                 0);
	assert_int_equal(r.status, 200);
	assert_string_equal(r.reason, "OK");
	assert_string_equal(r.content_type, "application/pkcs7-mime; smime-type=certs-only");
	assert_int_equal(r.len, 5);
	assert_string_equal((char *)r.body, "hello");
	assert_int_equal(r.retry_after, -1);
	tghttp_resp_free(&r);
	assert_int_equal(
	    parse("HTTP/1.1 202 Accepted\r\nretry-after: 3\r\ncontent-length: 0\r\n\r\n", 100, &r),
	    0);
	assert_int_equal(r.status, 202);
	assert_int_equal(r.retry_after, 3);
	tghttp_resp_free(&r);
	assert_int_equal(parse("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
	                       "4\r\nabcd\r\n3;x=y\r\nefg\r\n0\r\n\r\n",
	                       100, &r),
	                 0);
	assert_string_equal((char *)r.body, "abcdefg");
	tghttp_resp_free(&r);
	/* read until close */
	assert_int_equal(parse("HTTP/1.0 401 Unauthorized\r\n\r\nwrong string\n", 100, &r), 0);
	assert_int_equal(r.status, 401);
	assert_string_equal((char *)r.body, "wrong string\n");
	tghttp_resp_free(&r);
	/* refused: cut short, above max, not HTTP, bad chunk */
	assert_int_equal(parse("HTTP/1.1 200 OK\r\nContent-Length: 9\r\n\r\nhello", 100, &r), -1);
	assert_non_null(strstr(err, "cut short"));
	assert_int_equal(parse("HTTP/1.1 200 OK\r\nContent-Length: 500\r\n\r\n", 100, &r), -1);
	assert_int_equal(parse("SSH-2.0-OpenSSH\r\n\r\n", 100, &r), -1);
	assert_int_equal(
	    parse("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n", 100, &r), -1);
	assert_int_equal(parse("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
	                       "ff\r\nabc",
	                       100, &r),
	                 -1);
}

/* ---- an in-test EST server: TLS on loopback, one scripted answer per connection ---- */

struct est_server {
	SSL_CTX *ctx;
	int lfd, port;
	const char *answers[4]; /* what to send on each connection; {CERTS} = the issued one */
	int n;
	char request[4][8192]; /* what each connection sent */
	struct tlf_cert *ca;
	pthread_t th;
};

/* Issues a certificate for the CSR in req's body (the test's CA: the client must find it
 * by its key). */
static char *issue(struct est_server *s, const char *req)
{
	const char *body = strstr(req, "\r\n\r\n");
	assert_non_null(body);
	X509_REQ *r = decode_csr(body + 4);
	assert_non_null(r);
	struct tlf_cert c;
	tlf_make(&c, X509_REQ_get_pubkey(r), "wwhite", 0x4242, s->ca);
	X509_REQ_free(r);
	X509 *certs[] = {s->ca->x, c.x};
	char *b = certs_only(certs, 2, 64);
	tlf_free(&c);
	return b;
}

static void *serve(void *arg)
{
	struct est_server *s = arg;
	for (int i = 0; i < s->n; i++) {
		int fd = accept(s->lfd, NULL, NULL);
		if (fd < 0)
			break;
		SSL *ssl = SSL_new(s->ctx);
		SSL_set_fd(ssl, fd);
		if (SSL_accept(ssl) == 1) {
			size_t len = 0;
			char *req = s->request[i];
			for (;;) {
				int n =
				    SSL_read(ssl, req + len, (int)(sizeof s->request[i] - 1 - len));
				if (n <= 0)
					break;
				len += (size_t)n;
				req[len] = '\0';
				const char *b = strstr(req, "\r\n\r\n"),
				           *cl = strstr(req, "Content-Length: ");
				if (b && cl && strlen(b + 4) >= strtoul(cl + 16, NULL, 10))
					break;
			}
			char *certs = strcmp(s->answers[i], "{CERTS}") == 0 ? issue(s, req) : NULL;
			char out[16384];
			int on =
			    certs ? snprintf(
			                out, sizeof out,
			                "HTTP/1.1 200 OK\r\nContent-Type: application/pkcs7-mime; "
			                "smime-type=certs-only\r\nContent-Transfer-Encoding: "
			                "base64\r\nContent-Length: %zu\r\n\r\n%s",
			                strlen(certs), certs)
			          : snprintf(out, sizeof out, "%s", s->answers[i]);
			SSL_write(ssl, out, on);
			SSL_shutdown(ssl);
			free(certs);
		}
		SSL_free(ssl);
		close(fd);
	}
	return NULL;
}

/* Starts a server whose certificate (for 127.0.0.1) is issued by issuer. */
static void est_start(struct est_server *s, struct tlf_cert *ca, struct tlf_cert *issuer,
                      struct tlf_cert *server)
{
	s->ca = ca;
	tlf_make(server, tlf_ec(), "est", 0x99, issuer);
	X509V3_CTX v3;
	X509V3_set_ctx(&v3, issuer->x, server->x, NULL, NULL, 0);
	X509_EXTENSION *e = X509V3_EXT_conf_nid(NULL, &v3, NID_subject_alt_name, "IP:127.0.0.1");
	X509_add_ext(server->x, e, -1);
	X509_EXTENSION_free(e);
	assert_true(X509_sign(server->x, issuer->key, EVP_sha256()) > 0);
	s->ctx = SSL_CTX_new(TLS_server_method());
	assert_int_equal(SSL_CTX_use_certificate(s->ctx, server->x), 1);
	assert_int_equal(SSL_CTX_use_PrivateKey(s->ctx, server->key), 1);
	s->lfd = socket(AF_INET, SOCK_STREAM, 0);
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	socklen_t al = sizeof a;
	assert_int_equal(bind(s->lfd, (struct sockaddr *)&a, sizeof a), 0);
	assert_int_equal(listen(s->lfd, 8), 0);
	assert_int_equal(getsockname(s->lfd, (struct sockaddr *)&a, &al), 0);
	s->port = ntohs(a.sin_port);
	assert_int_equal(pthread_create(&s->th, NULL, serve, s), 0);
}

static void est_stop(struct est_server *s)
{
	shutdown(s->lfd, SHUT_RDWR);
	pthread_join(s->th, NULL);
	close(s->lfd);
	SSL_CTX_free(s->ctx);
}

static enum tgest_result enrol(struct est_server *s, struct tlf_cert *ca, EVP_PKEY *key,
                               X509 **cert)
{
	X509_STORE *st = X509_STORE_new();
	X509_STORE_add_cert(st, ca->x);
	const struct tgest_opts o = {.host = "127.0.0.1",
	                             .port = s->port,
	                             .store = st,
	                             .user = "1234",
	                             .secret = "open sesame",
	                             .secretlen = 11,
	                             .timeout_ms = 5000,
	                             .max_wait_s = 10};
	char *csr = tgest_csr(key, "1234", err, sizeof err);
	enum tgest_result r = tgest_simpleenroll(&o, csr, key, cert, err, sizeof err);
	free(csr);
	X509_STORE_free(st);
	return r;
}

static void test_enrol_after_202(void **state)
{
	(void)state;
	struct tlf_cert ca, server;
	tlf_make(&ca, tlf_ec(), "telgate CA", 1, NULL);
	struct est_server s = {.answers = {"HTTP/1.1 202 Accepted\r\nRetry-After: 1\r\n"
	                                   "Content-Length: 0\r\n\r\n",
	                                   "{CERTS}"},
	                       .n = 2};
	est_start(&s, &ca, &ca, &server);
	EVP_PKEY *key = tgest_keygen(NULL, err, sizeof err);
	X509 *cert = NULL;
	assert_int_equal(enrol(&s, &ca, key, &cert), TGEST_OK);
	assert_non_null(cert);
	assert_int_equal(EVP_PKEY_eq(X509_get0_pubkey(cert), key), 1);
	est_stop(&s);
	for (int i = 0; i < 2; i++) {
		const char *q = s.request[i];
		assert_non_null(strstr(q, "POST /.well-known/est/simpleenroll HTTP/1.1\r\n"));
		assert_non_null(strstr(q, "Content-Type: application/pkcs10\r\n"));
		/* base64("1234:open sesame") */
		assert_non_null(strstr(q, "Authorization: Basic MTIzNDpvcGVuIHNlc2FtZQ==\r\n"));
	}
	X509_free(cert);
	EVP_PKEY_free(key);
	tlf_free(&ca);
	tlf_free(&server);
}

static void test_refused_with_the_servers_text(void **state)
{
	(void)state;
	struct tlf_cert ca, server;
	tlf_make(&ca, tlf_ec(), "telgate CA", 1, NULL);
	struct est_server s = {
	    .answers = {"HTTP/1.1 401 Unauthorized\r\nContent-Type: text/plain"
	                "\r\nContent-Length: 35\r\n\r\nunknown instance id or wrong string"},
	    .n = 1};
	est_start(&s, &ca, &ca, &server);
	EVP_PKEY *key = tgest_keygen(NULL, err, sizeof err);
	X509 *cert = NULL;
	assert_int_equal(enrol(&s, &ca, key, &cert), TGEST_REFUSED);
	assert_null(cert);
	assert_non_null(strstr(err, "401 Unauthorized: unknown instance id or wrong string"));
	est_stop(&s);
	EVP_PKEY_free(key);
	tlf_free(&ca);
	tlf_free(&server);
}

static void test_server_not_from_the_trust_list(void **state)
{
	(void)state;
	struct tlf_cert ca, rogue, server;
	tlf_make(&ca, tlf_ec(), "telgate CA", 1, NULL);
	tlf_make(&rogue, tlf_ec(), "telgate CA", 2, NULL); /* same name, another key */
	struct est_server s = {.answers = {"{CERTS}"}, .n = 1};
	est_start(&s, &ca, &rogue, &server);
	EVP_PKEY *key = tgest_keygen(NULL, err, sizeof err);
	X509 *cert = NULL;
	assert_int_equal(enrol(&s, &ca, key, &cert), TGEST_FAILED);
	assert_non_null(strstr(err, "TLS handshake"));
	est_stop(&s);
	assert_null(strstr(s.request[0], "Authorization")); /* the string never left */
	EVP_PKEY_free(key);
	tlf_free(&ca);
	tlf_free(&rogue);
	tlf_free(&server);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_keygen),
	    cmocka_unit_test(test_csr),
	    cmocka_unit_test(test_read_certs),
	    cmocka_unit_test(test_http_answers),
	    cmocka_unit_test(test_enrol_after_202),
	    cmocka_unit_test(test_refused_with_the_servers_text),
	    cmocka_unit_test(test_server_not_from_the_trust_list),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
