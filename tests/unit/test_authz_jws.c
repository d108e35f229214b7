/* SPDX-License-Identifier: ISC */
/* authz/jws and authz/jwk: strict base64url, compact parsing, ECDSA r||s <-> DER, and the RFC
 * 7638 thumbprint against the RFC's own example. */
#include "authz/jwk.h"
#include "authz/jws.h"

#include <errno.h>
#include <openssl/core_names.h>
#include <openssl/param_build.h>
#include <setjmp.h>
#include <sodium.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

static void test_b64url_round_trip(void **state)
{
	(void)state;
	unsigned char in[40], out[40];
	for (size_t i = 0; i < sizeof in; i++)
		in[i] = (unsigned char)(i * 37 + 250);
	for (size_t n = 0; n <= sizeof in; n++) {
		char txt[64];
		long l = tg_b64url_encode(in, n, txt, sizeof txt);
		assert_int_equal(l, JWS_B64_LEN(n));
		assert_null(strpbrk(txt, "=+/"));
		assert_int_equal(tg_b64url_decode(txt, (size_t)l, out, sizeof out), n);
		assert_memory_equal(in, out, n);
	}
}

static void test_b64url_strict(void **state)
{
	(void)state;
	unsigned char out[16];
	assert_int_equal(tg_b64url_decode("YQ", 2, out, sizeof out), 1);
	assert_int_equal(tg_b64url_decode("YQ==", 4, out, sizeof out), -1); /* padding */
	assert_int_equal(tg_b64url_decode("YR", 2, out, sizeof out), -1);   /* trailing bits */
	assert_int_equal(tg_b64url_decode("Y", 1, out, sizeof out), -1);    /* length */
	assert_int_equal(tg_b64url_decode("+/8A", 4, out, sizeof out), -1); /* alphabet */
	assert_int_equal(tg_b64url_decode("-_8A", 4, out, sizeof out), 3);
	assert_int_equal(tg_b64url_decode("YW J", 4, out, sizeof out), -1);
	assert_int_equal(tg_b64url_decode("YWJj", 4, out, 2), -1); /* does not fit */
}

/* The encoder and decoder against libsodium's (which they replaced): the same text for
 * every byte string, and the same verdict and bytes for every short string over the
 * alphabet plus ASCII characters a token must not have. */
static void test_b64url_as_libsodium(void **state)
{
	(void)state;
	unsigned char in[64], a[64], b[64];
	char mine[100], theirs[100];
	for (int round = 0; round < 2000; round++) {
		size_t n = (size_t)round % sizeof in;
		randombytes_buf(in, n);
		assert_int_equal(tg_b64url_encode(in, n, mine, sizeof mine), JWS_B64_LEN(n));
		sodium_bin2base64(theirs, sizeof theirs, in, n,
		                  sodium_base64_VARIANT_URLSAFE_NO_PADDING);
		assert_string_equal(mine, theirs);
	}
	static const char alphabet[] = "AQgw_-9zZa+/= .\n";
	char txt[12];
	for (int round = 0; round < 200000; round++) {
		size_t n = randombytes_uniform(sizeof txt);
		for (size_t i = 0; i < n; i++)
			txt[i] = alphabet[randombytes_uniform(sizeof alphabet - 1)];
		size_t len = 0;
		const char *end = NULL;
		int ok = sodium_base642bin(b, 6, txt, n, NULL, &len, &end,
		                           sodium_base64_VARIANT_URLSAFE_NO_PADDING) == 0 &&
		         end == txt + n;
		long got = tg_b64url_decode(txt, n, a, 6);
		assert_int_equal(got, ok ? (long)len : -1);
		if (ok)
			assert_memory_equal(a, b, len);
	}
	/* Stricter than libsodium 1.0.18, which reads a byte over 0x7f as a letter of the
	 * alphabet ("\x80A" decodes there): refused here, as RFC 4648 §3.3 says. */
	assert_int_equal(tg_b64url_decode("\x80"
	                                  "A",
	                                  2, a, sizeof a),
	                 -1);
	assert_int_equal(tg_b64url_decode("AA\xff"
	                                  "A",
	                                  4, a, sizeof a),
	                 -1);
}

/* Every byte value at every position of a whole group and of the 2- and 3-character
 * tails (the decoder reads groups of four by table, the tail one by one): the same
 * verdict and bytes as libsodium's, and a refusal for a byte over 0x7f (above). */
static void test_b64url_every_byte(void **state)
{
	(void)state;
	static const char *const base[] = {"QUJD", "QUJDRA", "QUJDREU", "QQ", "QUI"};
	for (size_t k = 0; k < sizeof base / sizeof base[0]; k++) {
		size_t n = strlen(base[k]);
		for (size_t pos = 0; pos < n; pos++)
			for (int c = 0; c < 256; c++) {
				char txt[8];
				unsigned char a[8], b[8];
				memcpy(txt, base[k], n);
				txt[pos] = (char)c;
				size_t len = 0;
				const char *end = NULL;
				int ok = c < 0x80 &&
				         sodium_base642bin(
				             b, sizeof b, txt, n, NULL, &len, &end,
				             sodium_base64_VARIANT_URLSAFE_NO_PADDING) == 0 &&
				         end == txt + n;
				long got = tg_b64url_decode(txt, n, a, sizeof a);
				assert_int_equal(got, ok ? (long)len : -1);
				if (ok)
					assert_memory_equal(a, b, len);
			}
	}
}

static void test_parse_three_parts(void **state)
{
	(void)state;
	struct jws_parts p;
	/* {"a":1} . {"b":2} . "sig" */
	const char *ok = "eyJhIjoxfQ.eyJiIjoyfQ.c2ln";
	assert_int_equal(jws_parse(ok, strlen(ok), 8192, &p), 0);
	assert_int_equal(p.siglen, 3);
	assert_int_equal(p.signing_input_len, strlen("eyJhIjoxfQ.eyJiIjoyfQ"));
	assert_int_equal(json_integer_value(json_object_get(p.payload, "b")), 2);
	jws_parts_free(&p);
	const char *bad[] = {"eyJhIjoxfQ.eyJiIjoyfQ",
	                     "eyJhIjoxfQ.eyJiIjoyfQ.c2ln.c2ln",
	                     ".eyJiIjoyfQ.c2ln",
	                     "eyJhIjoxfQ..c2ln",
	                     "eyJhIjoxfQ.eyJiIjoyfQ.c2l=",
	                     /* {"a":1,"a":2} */ "eyJhIjoxLCJhIjoyfQ.eyJiIjoyfQ.c2ln"};
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
		assert_int_equal(jws_parse(bad[i], strlen(bad[i]), 8192, &p), -EINVAL);
	assert_int_equal(jws_parse(ok, strlen(ok), 10, &p), -EMSGSIZE);
}

static void test_ecdsa_raw_der(void **state)
{
	(void)state;
	EVP_PKEY *k = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
	unsigned char sig[JWS_SIG_MAX], der[80], raw[64];
	size_t n, dl;
	assert_int_equal(
	    jws_sign(k, JWS_ES256, (const unsigned char *)"abc", 3, sig, sizeof sig, &n), 0);
	assert_int_equal(n, 64);
	assert_true(jws_verify(k, JWS_ES256, (const unsigned char *)"abc", 3, sig, n));
	assert_false(jws_verify(k, JWS_ES256, (const unsigned char *)"abd", 3, sig, n));
	assert_false(jws_verify(k, JWS_RS256, (const unsigned char *)"abc", 3, sig, n));
	assert_int_equal(jws_ecdsa_raw_to_der(sig, der, sizeof der, &dl), 0);
	assert_int_equal(jws_ecdsa_der_to_raw(der, dl, raw), 0);
	assert_memory_equal(raw, sig, 64);
	/* A DER signature where r||s is due is refused. */
	assert_false(jws_verify(k, JWS_ES256, (const unsigned char *)"abc", 3, der, dl));
	memset(raw, 0, sizeof raw);
	assert_int_equal(jws_ecdsa_raw_to_der(raw, der, sizeof der, &dl), -EINVAL);
	EVP_PKEY_free(k);
}

static void test_alg_names(void **state)
{
	(void)state;
	assert_int_equal(jws_alg_parse("ES256"), JWS_ES256);
	assert_int_equal(jws_alg_parse("RS256"), JWS_RS256);
	assert_int_equal(jws_alg_parse("EdDSA"), JWS_EDDSA);
	assert_int_equal(jws_alg_parse("none"), JWS_ALG_UNKNOWN);
	assert_int_equal(jws_alg_parse("HS256"), JWS_ALG_UNKNOWN);
	assert_int_equal(jws_alg_parse("es256"), JWS_ALG_UNKNOWN);
	assert_int_equal(jws_alg_parse(NULL), JWS_ALG_UNKNOWN);
	EVP_PKEY *p384 = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-384");
	assert_int_equal(jws_alg_of_key(p384), JWS_ALG_UNKNOWN);
	EVP_PKEY_free(p384);
}

/* RFC 7638 §3.1: the example RSA key and its thumbprint. */
static void test_thumbprint_rfc7638_example(void **state)
{
	(void)state;
	static const char n64[] =
	    "0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86zwu1RK7aPFFxuhDR1L6tSoc"
	    "_"
	    "BJECPebWKRXjBZCiFV4n3oknjhMstn64tZ_2W-5JsGY4Hc5n9yBXArwl93lqt7_RN5w6Cf0h4QyQ5v-"
	    "65YGjQR0_"
	    "FDW2QvzqY368QQMicAtaSqzs8KJZgnYb9c7d0zgdAZHzu6qMQvRL5hajrn1n91CbOpbISD08qNLyrdkt-"
	    "bFTWhAI4"
	    "vMQFh6WeZu0fM4lFd2NcRwr3XPksINHaQ-G_xBniIqbw0Ls1jF44-csFCur-kEgU8awapJzKnqDKgw";
	unsigned char nb[256];
	long nl = tg_b64url_decode(n64, strlen(n64), nb, sizeof nb);
	assert_int_equal(nl, 256);
	BIGNUM *n = BN_bin2bn(nb, (int)nl, NULL), *e = BN_new();
	BN_set_word(e, 65537);
	OSSL_PARAM_BLD *b = OSSL_PARAM_BLD_new();
	OSSL_PARAM_BLD_push_BN(b, OSSL_PKEY_PARAM_RSA_N, n);
	OSSL_PARAM_BLD_push_BN(b, OSSL_PKEY_PARAM_RSA_E, e);
	OSSL_PARAM *params = OSSL_PARAM_BLD_to_param(b);
	EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new_from_name(NULL, "RSA", NULL);
	EVP_PKEY *k = NULL;
	assert_int_equal(EVP_PKEY_fromdata_init(ctx), 1);
	assert_int_equal(EVP_PKEY_fromdata(ctx, &k, EVP_PKEY_PUBLIC_KEY, params), 1);
	char kid[AUTHZ_KID_LEN + 1];
	assert_int_equal(authz_jwk_thumbprint(k, kid), 0);
	assert_string_equal(kid, "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs");
	assert_true(authz_kid_ok(kid, strlen(kid)));
	json_t *jwk;
	assert_int_equal(authz_jwk_of_key(k, JWS_RS256, kid, &jwk), 0);
	assert_string_equal(json_string_value(json_object_get(jwk, "n")), n64);
	assert_string_equal(json_string_value(json_object_get(jwk, "e")), "AQAB");
	assert_string_equal(json_string_value(json_object_get(jwk, "use")), "sig");
	json_decref(jwk);
	EVP_PKEY_free(k);
	EVP_PKEY_CTX_free(ctx);
	OSSL_PARAM_free(params);
	OSSL_PARAM_BLD_free(b);
	BN_free(n);
	BN_free(e);
}

static void test_jwk_ec_and_okp(void **state)
{
	(void)state;
	EVP_PKEY *ec = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
	EVP_PKEY *ed = EVP_PKEY_Q_keygen(NULL, NULL, "ED25519");
	json_t *j;
	char kid[AUTHZ_KID_LEN + 1];
	assert_int_equal(authz_jwk_thumbprint(ec, kid), 0);
	assert_int_equal(authz_jwk_of_key(ec, JWS_ES256, kid, &j), 0);
	assert_string_equal(json_string_value(json_object_get(j, "crv")), "P-256");
	assert_int_equal(strlen(json_string_value(json_object_get(j, "x"))), 43);
	assert_int_equal(strlen(json_string_value(json_object_get(j, "y"))), 43);
	json_decref(j);
	assert_int_equal(authz_jwk_of_key(ec, JWS_RS256, kid, &j), -EINVAL);
	assert_int_equal(authz_jwk_thumbprint(ed, kid), 0);
	assert_int_equal(authz_jwk_of_key(ed, JWS_EDDSA, kid, &j), 0);
	assert_string_equal(json_string_value(json_object_get(j, "kty")), "OKP");
	assert_string_equal(json_string_value(json_object_get(j, "crv")), "Ed25519");
	json_decref(j);
	assert_false(authz_kid_ok("../../etc/passwd", 16));
	assert_false(authz_kid_ok("NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9X'", 43));
	EVP_PKEY_free(ec);
	EVP_PKEY_free(ed);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_b64url_round_trip),
	    cmocka_unit_test(test_b64url_strict),
	    cmocka_unit_test(test_b64url_as_libsodium),
	    cmocka_unit_test(test_b64url_every_byte),
	    cmocka_unit_test(test_parse_three_parts),
	    cmocka_unit_test(test_ecdsa_raw_der),
	    cmocka_unit_test(test_alg_names),
	    cmocka_unit_test(test_thumbprint_rfc7638_example),
	    cmocka_unit_test(test_jwk_ec_and_okp),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
