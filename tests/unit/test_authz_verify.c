/* SPDX-License-Identifier: ISC */
/* authz/verify: a token issued through the signer (signer_local) verifies, and the hostile
 * tokens of issue 18 are refused, each with its verdict, each its own test. Forged tokens are
 * signed with the real key where the point is a check other than the signature, so that the
 * verdict comes from that check. */
#include "authz_fixture.h"

#include <errno.h>
#include <openssl/hmac.h>
#include <openssl/pem.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#define ISS "https://node1.example:8443"
#define BIG 70000

static struct authz_fx fx;

static int setup(void **state)
{
	(void)state;
	return authz_fx_setup(&fx, "ES256");
}

static int teardown(void **state)
{
	(void)state;
	authz_fx_teardown(&fx);
	return 0;
}

static enum authz_verdict verify(const char *tok, unsigned aud)
{
	struct authz_claims c;
	return authz_verify(fx.a, tok, strlen(tok), aud, fx.now, &c);
}

/* A token issued by the service for wwhite, audience aud. */
static char *issue(unsigned aud, struct authz_claims *c)
{
	memset(c, 0, sizeof *c);
	authz_claims_init(fx.a, c, fx.now);
	snprintf(c->sub, sizeof c->sub, "%s", "wwhite");
	snprintf(c->client_id, sizeof c->client_id, "%s", "jabber");
	snprintf(c->scope, sizeof c->scope, "%s", "cti");
	c->aud = aud;
	char *jwt = NULL;
	size_t len = 0;
	assert_int_equal(authz_token_issue(fx.a, c, &jwt, &len), 0);
	assert_int_equal(strlen(jwt), len);
	return jwt;
}

/* A token signed with the real key with this header and the standard payload otherwise. */
static void forge_header(const char *header, char *out, size_t cap)
{
	char p[1024];
	authz_fx_payload(ISS, "\"cti\"", fx.now, fx.now + 600, "jti-forged", p, sizeof p);
	authz_fx_forge(header, p, fx.key, JWS_ES256, out, cap);
}

/* A token signed with the real key with this payload. */
static void forge_payload(const char *payload, char *out, size_t cap)
{
	char h[256];
	authz_fx_header(&fx, h, sizeof h);
	authz_fx_forge(h, payload, fx.key, JWS_ES256, out, cap);
}

static void test_round_trip_signer_local(void **state)
{
	(void)state;
	struct authz_claims c, out;
	char *jwt = issue(AUTHZ_AUD_CTI, &c);
	assert_int_equal(authz_verify(fx.a, jwt, strlen(jwt), AUTHZ_AUD_CTI, fx.now, &out),
	                 AUTHZ_OK);
	assert_string_equal(out.sub, "wwhite");
	assert_string_equal(out.client_id, "jabber");
	assert_string_equal(out.jti, c.jti);
	assert_int_equal(strlen(out.jti), 22);
	assert_string_equal(out.iss, ISS);
	assert_int_equal(out.aud, AUTHZ_AUD_CTI);
	assert_int_equal(out.exp, fx.now + 3600);
	struct authz_stats before, after;
	authz_stats_get(fx.a, &before);
	assert_int_equal(authz_verify(fx.a, jwt, strlen(jwt), AUTHZ_AUD_CTI, fx.now, &out),
	                 AUTHZ_OK);
	authz_stats_get(fx.a, &after);
	assert_int_equal(after.verified_cached, before.verified_cached + 1);
	assert_int_equal(after.verified_cold, before.verified_cold);
	/* The header names the key and at+jwt. */
	char hdr[256];
	const char *dot = strchr(jwt, '.');
	long n = tg_b64url_decode(jwt, (size_t)(dot - jwt), (unsigned char *)hdr, sizeof hdr - 1);
	assert_true(n > 0);
	hdr[n] = '\0';
	assert_non_null(strstr(hdr, "\"typ\":\"at+jwt\""));
	assert_non_null(strstr(hdr, fx.kid));
	free(jwt);
}

static void test_both_audiences(void **state)
{
	(void)state;
	struct authz_claims c;
	char *jwt = issue(AUTHZ_AUD_CTI | AUTHZ_AUD_SIP, &c);
	assert_int_equal(verify(jwt, AUTHZ_AUD_SIP), AUTHZ_OK);
	assert_int_equal(verify(jwt, AUTHZ_AUD_CTI), AUTHZ_OK);
	free(jwt);
}

static void test_alg_none(void **state)
{
	(void)state;
	char h[256], p[1024], tok[2048];
	snprintf(h, sizeof h, "{\"alg\":\"none\",\"typ\":\"at+jwt\",\"kid\":\"%s\"}", fx.kid);
	authz_fx_payload(ISS, "\"cti\"", fx.now, fx.now + 600, "j1", p, sizeof p);
	authz_fx_input(h, p, tok, sizeof tok);
	size_t tl = strlen(tok);
	snprintf(tok + tl, sizeof tok - tl, ".");
	assert_int_equal(verify(tok, AUTHZ_AUD_CTI), AUTHZ_BAD_ALG);
}

/* HS256 with the public key's text as the HMAC secret (the classic key-confusion attack). */
static void hs256_with_secret(const char *secret, size_t n)
{
	char h[256], p[1024], tok[2048];
	snprintf(h, sizeof h, "{\"alg\":\"HS256\",\"typ\":\"at+jwt\",\"kid\":\"%s\"}", fx.kid);
	authz_fx_payload(ISS, "\"cti\"", fx.now, fx.now + 600, "j2", p, sizeof p);
	size_t in = authz_fx_input(h, p, tok, sizeof tok);
	unsigned char mac[32];
	unsigned maclen = 0;
	assert_non_null(HMAC(EVP_sha256(), secret, (int)n, (unsigned char *)tok, in, mac, &maclen));
	authz_fx_append_sig(tok, sizeof tok, mac, maclen);
	assert_int_equal(verify(tok, AUTHZ_AUD_CTI), AUTHZ_BAD_ALG);
}

static void test_hs256_public_key_pem_as_secret(void **state)
{
	(void)state;
	BIO *b = BIO_new(BIO_s_mem());
	assert_int_equal(PEM_write_bio_PUBKEY(b, fx.key), 1);
	char *pem;
	long n = BIO_get_mem_data(b, &pem);
	hs256_with_secret(pem, (size_t)n);
	BIO_free(b);
}

static void test_hs256_public_key_jwk_as_secret(void **state)
{
	(void)state;
	char *json;
	size_t len;
	assert_int_equal(authz_jwks(fx.a, &json, &len), 0);
	json_t *doc = json_loads(json, 0, NULL);
	char *jwk = json_dumps(json_array_get(json_object_get(doc, "keys"), 0), JSON_COMPACT);
	hs256_with_secret(jwk, strlen(jwk));
	free(jwk);
	json_decref(doc);
	free(json);
}

static void test_rs256_token_against_es256_key(void **state)
{
	(void)state;
	EVP_PKEY *rsa = EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)2048);
	char h[256], p[1024], tok[4096];
	snprintf(h, sizeof h, "{\"alg\":\"RS256\",\"typ\":\"at+jwt\",\"kid\":\"%s\"}", fx.kid);
	authz_fx_payload(ISS, "\"cti\"", fx.now, fx.now + 600, "j3", p, sizeof p);
	authz_fx_forge(h, p, rsa, JWS_RS256, tok, sizeof tok);
	assert_int_equal(verify(tok, AUTHZ_AUD_CTI), AUTHZ_BAD_ALG);
	EVP_PKEY_free(rsa);
}

static void test_unknown_kid(void **state)
{
	(void)state;
	EVP_PKEY *other = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
	char kid[44], h[256], tok[2048];
	assert_int_equal(authz_jwk_thumbprint(other, kid), 0);
	snprintf(h, sizeof h, "{\"alg\":\"ES256\",\"typ\":\"at+jwt\",\"kid\":\"%s\"}", kid);
	char p[1024];
	authz_fx_payload(ISS, "\"cti\"", fx.now, fx.now + 600, "j4", p, sizeof p);
	authz_fx_forge(h, p, other, JWS_ES256, tok, sizeof tok);
	assert_int_equal(verify(tok, AUTHZ_AUD_CTI), AUTHZ_UNKNOWN_KEY);
	EVP_PKEY_free(other);
}

static void kid_is(const char *kid_json)
{
	char h[256], tok[2048];
	snprintf(h, sizeof h, "{\"alg\":\"ES256\",\"typ\":\"at+jwt\",\"kid\":%s}", kid_json);
	forge_header(h, tok, sizeof tok);
	assert_int_equal(verify(tok, AUTHZ_AUD_CTI), AUTHZ_UNKNOWN_KEY);
}

static void test_kid_path_traversal(void **state)
{
	(void)state;
	kid_is("\"../../../../etc/passwd\"");
	kid_is("\"../tokens/../ca\"");
}

static void test_kid_quotes(void **state)
{
	(void)state;
	kid_is("\"\\\"'`\"");
}

static void test_kid_sql(void **state)
{
	(void)state;
	kid_is("\"x' OR '1'='1'; DROP TABLE oauthkey; --\"");
}

static void test_missing_exp(void **state)
{
	(void)state;
	char p[1024], tok[2048];
	authz_fx_payload(ISS, "\"cti\"", fx.now, 0, "j5", p, sizeof p);
	forge_payload(p, tok, sizeof tok);
	assert_int_equal(verify(tok, AUTHZ_AUD_CTI), AUTHZ_EXPIRED);
}

static void test_expired_exp(void **state)
{
	(void)state;
	char p[1024], tok[2048];
	authz_fx_payload(ISS, "\"cti\"", fx.now - 7200, fx.now - 3600, "j6", p, sizeof p);
	forge_payload(p, tok, sizeof tok);
	assert_int_equal(verify(tok, AUTHZ_AUD_CTI), AUTHZ_EXPIRED);
}

static void test_exp_within_leeway(void **state)
{
	(void)state;
	char p[1024], tok[2048];
	authz_fx_payload(ISS, "\"cti\"", fx.now - 600, fx.now - 30, "j6b", p, sizeof p);
	forge_payload(p, tok, sizeof tok);
	assert_int_equal(verify(tok, AUTHZ_AUD_CTI), AUTHZ_OK);
}

static void test_nbf_in_future(void **state)
{
	(void)state;
	char p[1024], tok[2048];
	snprintf(p, sizeof p,
	         "{\"iss\":\"" ISS
	         "\",\"sub\":\"wwhite\",\"aud\":\"cti\",\"iat\":%lld,\"exp\":%lld,"
	         "\"nbf\":%lld,\"jti\":\"j7\"}",
	         (long long)fx.now, (long long)fx.now + 7200, (long long)fx.now + 3600);
	forge_payload(p, tok, sizeof tok);
	assert_int_equal(verify(tok, AUTHZ_AUD_CTI), AUTHZ_NOT_YET_VALID);
}

static void test_iat_in_future(void **state)
{
	(void)state;
	char p[1024], tok[2048];
	authz_fx_payload(ISS, "\"cti\"", fx.now + 3600, fx.now + 7200, "j7b", p, sizeof p);
	forge_payload(p, tok, sizeof tok);
	assert_int_equal(verify(tok, AUTHZ_AUD_CTI), AUTHZ_NOT_YET_VALID);
}

static void test_wrong_iss(void **state)
{
	(void)state;
	char p[1024], tok[2048];
	authz_fx_payload("https://evil.example:8443", "\"cti\"", fx.now, fx.now + 600, "j8", p,
	                 sizeof p);
	forge_payload(p, tok, sizeof tok);
	assert_int_equal(verify(tok, AUTHZ_AUD_CTI), AUTHZ_WRONG_ISSUER);
}

static void test_cti_token_presented_for_sip(void **state)
{
	(void)state;
	struct authz_claims c;
	char *jwt = issue(AUTHZ_AUD_CTI, &c);
	assert_int_equal(verify(jwt, AUTHZ_AUD_SIP), AUTHZ_WRONG_AUDIENCE);
	/* And again from the cache: the audience is checked on every call. */
	assert_int_equal(verify(jwt, AUTHZ_AUD_CTI), AUTHZ_OK);
	assert_int_equal(verify(jwt, AUTHZ_AUD_SIP), AUTHZ_WRONG_AUDIENCE);
	free(jwt);
}

static void test_stripped_signature(void **state)
{
	(void)state;
	struct authz_claims c;
	char *jwt = issue(AUTHZ_AUD_CTI, &c);
	*(strrchr(jwt, '.') + 1) = '\0';
	assert_int_equal(verify(jwt, AUTHZ_AUD_CTI), AUTHZ_BAD_SIGNATURE);
	*strrchr(jwt, '.') = '\0';
	assert_int_equal(verify(jwt, AUTHZ_AUD_CTI), AUTHZ_MALFORMED);
	free(jwt);
}

static void test_another_tokens_signature(void **state)
{
	(void)state;
	struct authz_claims c1, c2;
	char *a = issue(AUTHZ_AUD_CTI, &c1), *b = issue(AUTHZ_AUD_CTI, &c2);
	char tok[2048];
	size_t in = (size_t)(strrchr(a, '.') - a);
	memcpy(tok, a, in);
	snprintf(tok + in, sizeof tok - in, "%s", strrchr(b, '.'));
	assert_int_equal(verify(tok, AUTHZ_AUD_CTI), AUTHZ_BAD_SIGNATURE);
	free(a);
	free(b);
}

static void test_tampered_payload(void **state)
{
	(void)state;
	struct authz_claims c;
	char *jwt = issue(AUTHZ_AUD_CTI, &c);
	/* The payload re-encoded with sub changed, the signature kept. */
	char *d1 = strchr(jwt, '.'), *d2 = strrchr(jwt, '.');
	unsigned char pl[1024];
	long n = tg_b64url_decode(d1 + 1, (size_t)(d2 - d1 - 1), pl, sizeof pl - 1);
	assert_true(n > 0);
	pl[n] = '\0';
	char *sub = strstr((char *)pl, "wwhite");
	assert_non_null(sub);
	memcpy(sub, "admin1", 6);
	char tok[2048];
	size_t hl = (size_t)(d1 - jwt) + 1;
	memcpy(tok, jwt, hl);
	authz_fx_b64((char *)pl, (size_t)n, tok + hl, sizeof tok - hl);
	size_t tl = strlen(tok);
	snprintf(tok + tl, sizeof tok - tl, "%s", d2);
	assert_int_equal(verify(tok, AUTHZ_AUD_CTI), AUTHZ_BAD_SIGNATURE);
	free(jwt);
}

static void test_padded_base64(void **state)
{
	(void)state;
	struct authz_claims c;
	char *jwt = issue(AUTHZ_AUD_CTI, &c);
	char tok[2048];
	/* The signature (64 bytes: 86 characters) padded to a multiple of four. */
	snprintf(tok, sizeof tok, "%s==", jwt);
	assert_int_equal(verify(tok, AUTHZ_AUD_CTI), AUTHZ_MALFORMED);
	/* The header padded too. */
	size_t hl = (size_t)(strchr(jwt, '.') - jwt);
	snprintf(tok, sizeof tok, "%.*s=%s", (int)hl, jwt, jwt + hl);
	assert_int_equal(verify(tok, AUTHZ_AUD_CTI), AUTHZ_MALFORMED);
	free(jwt);
}

static void test_non_url_safe_base64(void **state)
{
	(void)state;
	/* Tokens until one has '-' or '_' to turn into '+' or '/'. */
	for (int i = 0; i < 64; i++) {
		struct authz_claims c;
		char *jwt = issue(AUTHZ_AUD_CTI, &c);
		char *p = strpbrk(jwt, "-_");
		if (!p) {
			free(jwt);
			continue;
		}
		*p = *p == '-' ? '+' : '/';
		assert_int_equal(verify(jwt, AUTHZ_AUD_CTI), AUTHZ_MALFORMED);
		free(jwt);
		return;
	}
	fail_msg("no token with '-' or '_' in 64");
}

static void test_non_canonical_trailing_bits(void **state)
{
	(void)state;
	struct authz_claims c;
	char *jwt = issue(AUTHZ_AUD_CTI, &c);
	/* 64 bytes -> 86 characters, the last carrying 2 bits and 4 zero bits: set one. */
	char *last = jwt + strlen(jwt) - 1;
	static const char b64[] =
	    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
	int v = (int)(strchr(b64, *last) - b64);
	*last = b64[v | 1];
	assert_int_equal(verify(jwt, AUTHZ_AUD_CTI), AUTHZ_MALFORMED);
	free(jwt);
}

static void test_duplicate_keys_in_header(void **state)
{
	(void)state;
	char h[256], tok[2048];
	snprintf(h, sizeof h,
	         "{\"alg\":\"ES256\",\"typ\":\"at+jwt\",\"kid\":\"%s\",\"alg\":\"none\"}", fx.kid);
	forge_header(h, tok, sizeof tok);
	assert_int_equal(verify(tok, AUTHZ_AUD_CTI), AUTHZ_MALFORMED);
}

static void test_duplicate_keys_in_payload(void **state)
{
	(void)state;
	char p[1024], tok[2048];
	snprintf(p, sizeof p,
	         "{\"iss\":\"" ISS
	         "\",\"sub\":\"wwhite\",\"aud\":\"cti\",\"iat\":%lld,\"exp\":%lld,"
	         "\"jti\":\"j9\",\"sub\":\"admin1\"}",
	         (long long)fx.now, (long long)fx.now + 600);
	forge_payload(p, tok, sizeof tok);
	assert_int_equal(verify(tok, AUTHZ_AUD_CTI), AUTHZ_MALFORMED);
}

static void test_token_of_64k(void **state)
{
	(void)state;
	char *p = malloc(BIG), *tok = malloc(BIG * 2);
	int n = snprintf(p, BIG,
	                 "{\"iss\":\"" ISS "\",\"sub\":\"wwhite\",\"aud\":\"cti\",\"iat\":%lld,"
	                 "\"exp\":%lld,\"jti\":\"j10\",\"pad\":\"",
	                 (long long)fx.now, (long long)fx.now + 600);
	memset(p + n, 'a', 64 * 1024);
	snprintf(p + n + 64 * 1024, (size_t)(BIG - n - 64 * 1024), "\"}");
	forge_payload(p, tok, BIG * 2);
	assert_true(strlen(tok) > 64 * 1024);
	assert_int_equal(verify(tok, AUTHZ_AUD_CTI), AUTHZ_MALFORMED);
	free(p);
	free(tok);
}

static void test_non_json_payload(void **state)
{
	(void)state;
	char tok[2048];
	forge_payload("this is not JSON", tok, sizeof tok);
	assert_int_equal(verify(tok, AUTHZ_AUD_CTI), AUTHZ_MALFORMED);
	forge_payload("[\"an array\"]", tok, sizeof tok);
	assert_int_equal(verify(tok, AUTHZ_AUD_CTI), AUTHZ_MALFORMED);
}

static void test_typ_not_at_jwt(void **state)
{
	(void)state;
	char h[256], tok[2048];
	snprintf(h, sizeof h, "{\"alg\":\"ES256\",\"typ\":\"JWT\",\"kid\":\"%s\"}", fx.kid);
	forge_header(h, tok, sizeof tok);
	assert_int_equal(verify(tok, AUTHZ_AUD_CTI), AUTHZ_BAD_TYPE);
}

static void test_missing_typ(void **state)
{
	(void)state;
	char h[256], tok[2048];
	snprintf(h, sizeof h, "{\"alg\":\"ES256\",\"kid\":\"%s\"}", fx.kid);
	forge_header(h, tok, sizeof tok);
	assert_int_equal(verify(tok, AUTHZ_AUD_CTI), AUTHZ_BAD_TYPE);
}

static void test_crit_header(void **state)
{
	(void)state;
	char h[256], tok[2048];
	snprintf(h, sizeof h,
	         "{\"alg\":\"ES256\",\"typ\":\"at+jwt\",\"kid\":\"%s\",\"crit\":[\"exp\"]}",
	         fx.kid);
	forge_header(h, tok, sizeof tok);
	assert_int_equal(verify(tok, AUTHZ_AUD_CTI), AUTHZ_MALFORMED);
}

/* A token with the raw r||s signature given. */
static void with_signature(const unsigned char sig[64], char *tok, size_t cap)
{
	char h[256], p[1024];
	authz_fx_header(&fx, h, sizeof h);
	authz_fx_payload(ISS, "\"cti\"", fx.now, fx.now + 600, "j11", p, sizeof p);
	authz_fx_input(h, p, tok, cap);
	authz_fx_append_sig(tok, cap, sig, 64);
}

static void test_ecdsa_r_s_zero(void **state)
{
	(void)state;
	unsigned char sig[64] = {0};
	char tok[2048];
	with_signature(sig, tok, sizeof tok);
	assert_int_equal(verify(tok, AUTHZ_AUD_CTI), AUTHZ_BAD_SIGNATURE);
}

static void test_ecdsa_r_or_s_at_least_n(void **state)
{
	(void)state;
	static const unsigned char n[32] = {0xFF, 0xFF, 0xFF, 0xFF, 0x00, 0x00, 0x00, 0x00,
	                                    0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF,
	                                    0xBC, 0xE6, 0xFA, 0xAD, 0xA7, 0x17, 0x9E, 0x84,
	                                    0xF3, 0xB9, 0xCA, 0xC2, 0xFC, 0x63, 0x25, 0x51};
	unsigned char sig[64];
	char tok[2048];
	memcpy(sig, n, 32); /* r = n, s = 1 */
	memset(sig + 32, 0, 32);
	sig[63] = 1;
	with_signature(sig, tok, sizeof tok);
	assert_int_equal(verify(tok, AUTHZ_AUD_CTI), AUTHZ_BAD_SIGNATURE);
	sig[31] = 1; /* r = 1, s = all ones > n */
	memset(sig, 0, 31);
	memset(sig + 32, 0xFF, 32);
	with_signature(sig, tok, sizeof tok);
	assert_int_equal(verify(tok, AUTHZ_AUD_CTI), AUTHZ_BAD_SIGNATURE);
}

static void test_revoked_jti(void **state)
{
	(void)state;
	struct authz_claims c;
	char *jwt = issue(AUTHZ_AUD_CTI, &c);
	assert_int_equal(verify(jwt, AUTHZ_AUD_CTI), AUTHZ_OK); /* now cached */
	assert_int_equal(authz_revoke_jti(fx.a, c.jti, c.exp), 0);
	assert_int_equal(verify(jwt, AUTHZ_AUD_CTI), AUTHZ_REVOKED);
	free(jwt);
}

static void test_issued_before_users_not_before(void **state)
{
	(void)state;
	struct authz_claims c;
	char *jwt = issue(AUTHZ_AUD_CTI, &c);
	assert_int_equal(verify(jwt, AUTHZ_AUD_CTI), AUTHZ_OK);
	assert_int_equal(authz_revoke_user_before(fx.a, "wwhite", fx.now + 1), 0);
	assert_int_equal(verify(jwt, AUTHZ_AUD_CTI), AUTHZ_REVOKED);
	free(jwt);
}

static void test_verdict_names(void **state)
{
	(void)state;
	assert_string_equal(authz_verdict_name(AUTHZ_OK), "ok");
	assert_string_equal(authz_verdict_name(AUTHZ_BAD_SIGNATURE), "bad_signature");
	assert_string_equal(authz_verdict_name(AUTHZ_REVOKED), "revoked");
	assert_string_equal(authz_verdict_name((enum authz_verdict)99), "?");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_round_trip_signer_local),
	    cmocka_unit_test(test_both_audiences),
	    cmocka_unit_test(test_alg_none),
	    cmocka_unit_test(test_hs256_public_key_pem_as_secret),
	    cmocka_unit_test(test_hs256_public_key_jwk_as_secret),
	    cmocka_unit_test(test_rs256_token_against_es256_key),
	    cmocka_unit_test(test_unknown_kid),
	    cmocka_unit_test(test_kid_path_traversal),
	    cmocka_unit_test(test_kid_quotes),
	    cmocka_unit_test(test_kid_sql),
	    cmocka_unit_test(test_missing_exp),
	    cmocka_unit_test(test_expired_exp),
	    cmocka_unit_test(test_exp_within_leeway),
	    cmocka_unit_test(test_nbf_in_future),
	    cmocka_unit_test(test_iat_in_future),
	    cmocka_unit_test(test_wrong_iss),
	    cmocka_unit_test(test_cti_token_presented_for_sip),
	    cmocka_unit_test(test_stripped_signature),
	    cmocka_unit_test(test_another_tokens_signature),
	    cmocka_unit_test(test_tampered_payload),
	    cmocka_unit_test(test_padded_base64),
	    cmocka_unit_test(test_non_url_safe_base64),
	    cmocka_unit_test(test_non_canonical_trailing_bits),
	    cmocka_unit_test(test_duplicate_keys_in_header),
	    cmocka_unit_test(test_duplicate_keys_in_payload),
	    cmocka_unit_test(test_token_of_64k),
	    cmocka_unit_test(test_non_json_payload),
	    cmocka_unit_test(test_typ_not_at_jwt),
	    cmocka_unit_test(test_missing_typ),
	    cmocka_unit_test(test_crit_header),
	    cmocka_unit_test(test_ecdsa_r_s_zero),
	    cmocka_unit_test(test_ecdsa_r_or_s_at_least_n),
	    cmocka_unit_test(test_revoked_jti),
	    cmocka_unit_test(test_issued_before_users_not_before),
	    cmocka_unit_test(test_verdict_names),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
