/* SPDX-License-Identifier: ISC */
/* Session tickets under rotating keys (tls/tickets.h), over TLS 1.2 and 1.3 in memory: a
 * ticket resumes; after one rotation it still resumes (and a fresh ticket comes, under the
 * new key); two rotations later that one does not (a full handshake). */
#include "tls/tickets.h"

#include <openssl/evp.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

/* A server context with a self-signed P-256 certificate and tickets on. */
static SSL_CTX *server_ctx(int version)
{
	EVP_PKEY *k = EVP_EC_gen("P-256");
	X509 *x = X509_new();
	assert_non_null(k);
	assert_non_null(x);
	X509_set_version(x, 2);
	ASN1_INTEGER_set(X509_get_serialNumber(x), 1);
	X509_NAME_add_entry_by_txt(X509_get_subject_name(x), "CN", MBSTRING_ASC,
	                           (const unsigned char *)"telgate", -1, -1, 0);
	X509_set_issuer_name(x, X509_get_subject_name(x));
	X509_gmtime_adj(X509_getm_notBefore(x), -60);
	X509_gmtime_adj(X509_getm_notAfter(x), 3600);
	X509_set_pubkey(x, k);
	assert_true(X509_sign(x, k, EVP_sha256()) > 0);
	SSL_CTX *ctx = SSL_CTX_new(TLS_server_method());
	assert_non_null(ctx);
	assert_int_equal(SSL_CTX_use_certificate(ctx, x), 1);
	assert_int_equal(SSL_CTX_use_PrivateKey(ctx, k), 1);
	SSL_CTX_set_min_proto_version(ctx, version);
	SSL_CTX_set_max_proto_version(ctx, version);
	assert_int_equal(tls_tickets_enable(ctx), 0);
	X509_free(x);
	EVP_PKEY_free(k);
	return ctx;
}

/* One connection in memory, resuming sess when given; returns the client's session
 * (with the newest ticket) and whether the handshake was a resumption. */
static SSL_SESSION *connect_once(SSL_CTX *sctx, SSL_CTX *cctx, SSL_SESSION *sess, int *reused)
{
	SSL *s = SSL_new(sctx), *c = SSL_new(cctx);
	BIO *sb, *cb;
	assert_int_equal(BIO_new_bio_pair(&sb, 0, &cb, 0), 1);
	SSL_set_bio(s, sb, sb);
	SSL_set_bio(c, cb, cb);
	SSL_set_accept_state(s);
	SSL_set_connect_state(c);
	if (sess)
		assert_int_equal(SSL_set_session(c, sess), 1);
	int cdone = 0, sdone = 0;
	for (int i = 0; i < 100 && !(cdone && sdone); i++) {
		if (!cdone)
			cdone = SSL_do_handshake(c) == 1;
		if (!sdone)
			sdone = SSL_do_handshake(s) == 1;
	}
	assert_true(cdone && sdone);
	/* TLS 1.3: the ticket comes after the handshake; a read takes it in */
	unsigned char buf[16];
	assert_int_equal(SSL_write(s, "x", 1), 1);
	assert_int_equal(SSL_read(c, buf, sizeof buf), 1);
	*reused = SSL_session_reused(c);
	SSL_SESSION *out = SSL_get1_session(c);
	SSL_shutdown(c);
	SSL_shutdown(s);
	SSL_free(c);
	SSL_free(s);
	return out;
}

static void rotation(int version)
{
	SSL_CTX *sctx = server_ctx(version), *cctx = SSL_CTX_new(TLS_client_method());
	assert_non_null(cctx);
	int reused;
	SSL_SESSION *first = connect_once(sctx, cctx, NULL, &reused);
	assert_false(reused);
	assert_true(SSL_SESSION_has_ticket(first));
	SSL_SESSION *again = connect_once(sctx, cctx, first, &reused);
	assert_true(reused);
	/* Each connection goes on with the newest ticket, as a client does (TLS 1.3 tickets
	 * are for one use). */
	tls_tickets_rotate(); /* the ticket's key is now the previous one: still resumes */
	SSL_SESSION *after = connect_once(sctx, cctx, again, &reused);
	assert_true(reused);
	tls_tickets_rotate();
	tls_tickets_rotate(); /* two keys later: a full handshake */
	SSL_SESSION *gone = connect_once(sctx, cctx, after, &reused);
	assert_false(reused);
	SSL_SESSION_free(first);
	SSL_SESSION_free(again);
	SSL_SESSION_free(after);
	SSL_SESSION_free(gone);
	SSL_CTX_free(cctx);
	SSL_CTX_free(sctx);
}

static void test_rotation_tls12(void **state)
{
	(void)state;
	rotation(TLS1_2_VERSION);
}

static void test_rotation_tls13(void **state)
{
	(void)state;
	rotation(TLS1_3_VERSION);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_rotation_tls12),
	    cmocka_unit_test(test_rotation_tls13),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
