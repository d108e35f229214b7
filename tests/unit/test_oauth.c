/* SPDX-License-Identifier: ISC */
/* The OAuth server's pure parts: the strict form parser and Basic client authentication
 * (authz/oauth_form.c), the secrets, PKCE S256 (RFC 7636 appendix B), user codes and the
 * CSRF token (authz/oauth_crypto.c), scopes and lists (authz/oauth_client.c), the error
 * table (authz/oauth_error.c), the refresh-token rows kept for grants (authz/oauth_cache.c). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "authz/oauth_int.h"
#include "core/shtable.h"

#include <sodium.h>

#include <errno.h>

static int parse(const char *body, const char **why)
{
	struct http_form f;
	int rc = oauth_form_parse(body, strlen(body), &f, why);
	if (rc == 0)
		http_form_free(&f);
	return rc;
}

static void test_form_strict(void **state)
{
	(void)state;
	const char *why = NULL;
	struct http_form f;
	const char *ok = "grant_type=authorization_code&code=a%2Bb&redirect_uri=https%3A%2F%2Fx%2F"
	                 "&client_id=app+1&scope=";
	assert_int_equal(oauth_form_parse(ok, strlen(ok), &f, &why), 0);
	assert_string_equal(http_form_get(&f, "code"), "a+b");
	assert_string_equal(http_form_get(&f, "redirect_uri"), "https://x/");
	assert_string_equal(http_form_get(&f, "client_id"), "app 1");
	assert_string_equal(http_form_get(&f, "scope"), "");
	http_form_free(&f);
	/* RFC 6749 §3.2: no parameter twice, even with the same value. */
	assert_int_equal(parse("a=1&b=2&a=1", &why), -EINVAL);
	assert_string_equal(why, "a parameter is repeated");
	assert_int_equal(parse("a=%ZZ", &why), -EINVAL);
	assert_int_equal(parse("a=%00", &why), -EINVAL);
	assert_int_equal(parse("a=%C3%28", &why), -EINVAL); /* not UTF-8 */
	assert_string_equal(why, "a parameter is not UTF-8");
	assert_int_equal(parse("a=%ED%A0%80", &why), -EINVAL); /* a surrogate */
	assert_int_equal(parse("a=%C0%AF", &why), -EINVAL);    /* an overlong '/' */
	assert_int_equal(parse("a=%C3%A9", &why), 0);          /* é */
	assert_int_equal(parse("=x", &why), -EINVAL);
	assert_int_equal(parse("", &why), 0);
	char big[OAUTH_FORM_MAX + 8];
	memset(big, 'x', sizeof big - 1);
	big[0] = 'a';
	big[1] = '=';
	big[sizeof big - 1] = '\0';
	assert_int_equal(parse(big, &why), -E2BIG);
	char many[400] = "";
	for (int i = 0; i < OAUTH_FORM_FIELDS + 1; i++)
		snprintf(many + strlen(many), sizeof many - strlen(many), "p%d=1&", i);
	assert_int_equal(parse(many, &why), -E2BIG);
	char longv[OAUTH_VALUE_MAX + 8] = "a=";
	memset(longv + 2, 'v', OAUTH_VALUE_MAX + 1);
	longv[OAUTH_VALUE_MAX + 3] = '\0';
	assert_int_equal(parse(longv, &why), -E2BIG);
}

static void test_basic(void **state)
{
	(void)state;
	char id[OAUTH_CLIENT_ID_MAX + 1], secret[OAUTH_SECRET_MAX + 1];
	size_t n = 0;
	/* "svc:s3cr%3At" -> svc / s3cr:t (RFC 6749 §2.3.1: form-urlencoded inside). */
	assert_int_equal(oauth_basic_parse("Basic c3ZjOnMzY3IlM0F0", id, secret, &n), 0);
	assert_string_equal(id, "svc");
	assert_string_equal(secret, "s3cr:t");
	assert_int_equal(n, 6);
	assert_int_equal(oauth_basic_parse("basic c3ZjOnMzY3IlM0F0", id, secret, &n), 0);
	assert_int_equal(oauth_basic_parse("Bearer abc", id, secret, &n), -ENOENT);
	assert_int_equal(oauth_basic_parse("Basic !!!", id, secret, &n), -EINVAL);
	assert_int_equal(oauth_basic_parse("Basic ", id, secret, &n), -EINVAL);
	assert_int_equal(oauth_basic_parse("Basic bm9jb2xvbg==", id, secret, &n), -EINVAL);
	assert_int_equal(oauth_basic_parse("Basic OnNlY3JldA==", id, secret, &n),
	                 -EINVAL); /* ":secret" */
	assert_int_equal(oauth_basic_parse("Basic YSUwMDpi", id, secret, &n),
	                 -EINVAL); /* "a%00:b" */
	assert_string_equal(secret, "");
}

static void test_pkce(void **state)
{
	(void)state;
	/* RFC 7636 appendix B. */
	const char *v = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
	const char *c = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM";
	assert_true(oauth_pkce_challenge_ok(c));
	assert_true(oauth_pkce_s256_matches(v, strlen(v), c));
	assert_false(oauth_pkce_s256_matches("dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXj", 43, c));
	assert_false(oauth_pkce_s256_matches(c, strlen(c), c)); /* plain */
	assert_false(oauth_pkce_verifier_ok("short", 5));
	assert_false(oauth_pkce_verifier_ok("dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjX!", 43));
	assert_false(oauth_pkce_challenge_ok("E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-c"));
}

static void test_secrets(void **state)
{
	(void)state;
	unsigned char key[OAUTH_KEY_BYTES] = {1, 2, 3};
	char tok[OAUTH_TOKEN_LEN + 1], other[OAUTH_TOKEN_LEN + 1], hex[OAUTH_HASH_HEX + 1];
	oauth_random_token(tok);
	oauth_random_token(other);
	assert_int_equal(strlen(tok), OAUTH_TOKEN_LEN);
	assert_string_not_equal(tok, other);
	oauth_secret_hash(key, "svc", tok, OAUTH_TOKEN_LEN, hex);
	assert_true(oauth_secret_verify(key, "svc", tok, OAUTH_TOKEN_LEN, hex));
	assert_false(oauth_secret_verify(key, "svc2", tok, OAUTH_TOKEN_LEN, hex)); /* bound to id */
	assert_false(oauth_secret_verify(key, "svc", other, OAUTH_TOKEN_LEN, hex));
	assert_false(oauth_secret_verify(key, "svc", tok, OAUTH_TOKEN_LEN, ""));
	/* The successor of a used refresh token is always the same, and not the token. */
	char s1[OAUTH_TOKEN_LEN + 1], s2[OAUTH_TOKEN_LEN + 1];
	oauth_refresh_successor(key, tok, OAUTH_TOKEN_LEN, s1);
	oauth_refresh_successor(key, tok, OAUTH_TOKEN_LEN, s2);
	assert_string_equal(s1, s2);
	assert_string_not_equal(s1, tok);
	oauth_refresh_successor(key, other, OAUTH_TOKEN_LEN, s2);
	assert_string_not_equal(s1, s2);
	/* An access token's jti from its refresh token's hash: the same every time (a family's
	 * revocation finds it again), 22 base64url characters, another for another token and
	 * under another key. */
	char j1[OAUTH_JTI_LEN + 1], j2[OAUTH_JTI_LEN + 1];
	unsigned char key2[OAUTH_KEY_BYTES] = {4, 5, 6};
	oauth_token_hash(tok, OAUTH_TOKEN_LEN, hex);
	oauth_access_jti(key, hex, j1);
	oauth_access_jti(key, hex, j2);
	assert_string_equal(j1, j2);
	assert_int_equal(strlen(j1), OAUTH_JTI_LEN);
	assert_int_equal(
	    strspn(j1, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"),
	    OAUTH_JTI_LEN);
	oauth_access_jti(key2, hex, j2);
	assert_string_not_equal(j1, j2);
	oauth_token_hash(other, OAUTH_TOKEN_LEN, hex);
	oauth_access_jti(key, hex, j2);
	assert_string_not_equal(j1, j2);
	/* SHA-256("abc"). */
	oauth_token_hash("abc", 3, hex);
	assert_string_equal(hex,
	                    "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
	/* CSRF: bound to the cookie. */
	char csrf[OAUTH_TOKEN_LEN + 1];
	oauth_csrf_token(key, tok, csrf);
	assert_true(oauth_csrf_ok(key, tok, csrf));
	assert_false(oauth_csrf_ok(key, other, csrf));
	assert_false(oauth_csrf_ok(key, tok, NULL));
	assert_false(oauth_csrf_ok(key, "", csrf));
}

/* libsodium's HMAC-SHA-256 of label, a and b as oauth_crypto.c lays them out, hex. */
static void sodium_hmac3(const unsigned char *key, const char *label, const char *a, const char *b,
                         size_t blen, char hex[OAUTH_HASH_HEX + 1])
{
	crypto_auth_hmacsha256_state h;
	unsigned char mac[crypto_auth_hmacsha256_BYTES];
	crypto_auth_hmacsha256_init(&h, key, OAUTH_KEY_BYTES);
	crypto_auth_hmacsha256_update(&h, (const unsigned char *)label, strlen(label) + 1);
	crypto_auth_hmacsha256_update(&h, (const unsigned char *)a, strlen(a) + 1);
	crypto_auth_hmacsha256_update(&h, (const unsigned char *)b, blen);
	crypto_auth_hmacsha256_final(&h, mac);
	sodium_bin2hex(hex, OAUTH_HASH_HEX + 1, mac, sizeof mac);
}

/* The hashes went from libsodium to OpenSSL (its SHA extensions): the same values, or every
 * stored client secret and token hash would stop matching. Inputs of 0 to 300 bytes cross
 * the 64-byte block and the 55-byte padding bounds. */
static void test_hashes_as_libsodium(void **state)
{
	(void)state;
	unsigned char key[OAUTH_KEY_BYTES];
	char in[301], want[OAUTH_HASH_HEX + 1], got[OAUTH_HASH_HEX + 1];
	for (size_t i = 0; i < sizeof key; i++)
		key[i] = (unsigned char)(7 * i + 1);
	for (size_t n = 0; n < sizeof in - 1; n += n < 70 ? 1 : 23) {
		for (size_t i = 0; i < n; i++)
			in[i] = (char)('a' + (i * 13 + n) % 26);
		in[n] = '\0';
		unsigned char h[crypto_hash_sha256_BYTES];
		crypto_hash_sha256(h, (const unsigned char *)in, n);
		sodium_bin2hex(want, sizeof want, h, sizeof h);
		oauth_token_hash(in, n, got);
		assert_string_equal(got, want);
		sodium_hmac3(key, "telgate oauth client secret v1", "some-client", in, n, want);
		oauth_secret_hash(key, "some-client", in, n, got);
		assert_string_equal(got, want);
		assert_true(oauth_secret_verify(key, "some-client", in, n, want));
	}
	/* A refresh token's successor (an HMAC under the key too) is what libsodium gave. */
	char s[OAUTH_TOKEN_LEN + 1];
	oauth_refresh_successor(key, "abc", 3, s);
	sodium_hmac3(key, "telgate oauth refresh successor v1", "", "abc", 3, want);
	unsigned char mac[32];
	size_t bl;
	assert_int_equal(sodium_hex2bin(mac, sizeof mac, want, OAUTH_HASH_HEX, NULL, &bl, NULL), 0);
	char b64[OAUTH_TOKEN_LEN + 1];
	sodium_bin2base64(b64, sizeof b64, mac, sizeof mac,
	                  sodium_base64_VARIANT_URLSAFE_NO_PADDING);
	assert_string_equal(s, b64);
}

static void test_user_code(void **state)
{
	(void)state;
	char c[OAUTH_USER_CODE_LEN + 1], n[OAUTH_USER_CODE_LEN + 1];
	oauth_user_code(c);
	assert_int_equal(strlen(c), 9);
	assert_int_equal(c[4], '-');
	assert_int_equal(oauth_user_code_normalise(c, n), 0);
	assert_string_equal(c, n);
	assert_int_equal(oauth_user_code_normalise("wdjb mjht", n), 0);
	assert_string_equal(n, "WDJB-MJHT");
	assert_int_equal(oauth_user_code_normalise("WDJB-MJH", n), -1);
	assert_int_equal(oauth_user_code_normalise("WDJB-MJHTX", n), -1);
	assert_int_equal(oauth_user_code_normalise("AEIO-UAEI", n), -1); /* vowels */
}

static void test_scopes_and_errors(void **state)
{
	(void)state;
	struct store_oauthclient c;
	memset(&c, 0, sizeof c);
	snprintf(c.scopes, sizeof c.scopes, "cti sip");
	char out[STORE_OAUTH_SCOPE_MAX + 1];
	assert_int_equal(oauth_scope_grant(&c, NULL, out, sizeof out), 0);
	assert_string_equal(out, "cti sip");
	assert_int_equal(oauth_scope_grant(&c, "sip", out, sizeof out), 0);
	assert_string_equal(out, "sip");
	assert_int_equal(oauth_scope_grant(&c, "sip admin", out, sizeof out), -1);
	assert_int_equal(oauth_scope_grant(&c, "sip  cti", out, sizeof out), -1);
	assert_int_equal(oauth_scope_grant(&c, "ct", out, sizeof out), -1);
	assert_true(oauth_list_has("a b  c", "c"));
	assert_false(oauth_list_has("abc", "b"));
	assert_false(oauth_list_has("a", ""));
	assert_string_equal(oauth_err_name(OAUTH_ERR_INVALID_GRANT), "invalid_grant");
	assert_int_equal(oauth_err_status(OAUTH_ERR_INVALID_CLIENT), 401);
	assert_int_equal(oauth_err_status(OAUTH_ERR_TEMPORARILY_UNAVAILABLE), 503);
	json_t *j = oauth_err_json(OAUTH_ERR_SLOW_DOWN, NULL);
	assert_string_equal(json_string_value(json_object_get(j, "error")), "slow_down");
	assert_null(json_object_get(j, "error_description"));
	json_decref(j);
}

static struct store_oauthrefresh refresh_row(int i, int64_t expires)
{
	struct store_oauthrefresh r;
	memset(&r, 0, sizeof r);
	snprintf(r.tokenhash, sizeof r.tokenhash, "%064d", i);
	snprintf(r.familyid, sizeof r.familyid, "fam%d", i);
	snprintf(r.clientid, sizeof r.clientid, "app");
	snprintf(r.userid, sizeof r.userid, "alice");
	r.expires = expires;
	return r;
}

static void test_refresh_cache(void **state)
{
	(void)state;
	struct oauth o;
	memset(&o, 0, sizeof o);
	assert_int_equal(oauth_cache_init(&o), 0);
	struct store_oauthrefresh a = refresh_row(1, 100), b = refresh_row(2, 200), got;
	assert_int_equal(oauth_cache_refresh_get(&o, a.tokenhash, 50, &got), 0);
	oauth_cache_refresh_put(&o, &a);
	assert_int_equal(oauth_cache_refresh_get(&o, a.tokenhash, 50, &got), 1);
	assert_string_equal(got.familyid, "fam1");
	/* Expired: not handed out (the store decides). */
	assert_int_equal(oauth_cache_refresh_get(&o, a.tokenhash, 100, &got), 0);
	/* A rotation: the consumed token goes, its successor takes its place. */
	oauth_cache_refresh_replace(&o, a.tokenhash, &b);
	assert_int_equal(oauth_cache_refresh_get(&o, a.tokenhash, 50, &got), 0);
	assert_int_equal(oauth_cache_refresh_get(&o, b.tokenhash, 50, &got), 1);
	assert_string_equal(got.familyid, "fam2");
	/* Kept again: the newer row wins, no second entry. */
	b.expires = 300;
	oauth_cache_refresh_put(&o, &b);
	assert_int_equal(oauth_cache_refresh_get(&o, b.tokenhash, 250, &got), 1);
	assert_int_equal(shtable_count(o.refresh), 1);
	oauth_cache_refresh_drop(&o, b.tokenhash);
	assert_int_equal(oauth_cache_refresh_get(&o, b.tokenhash, 50, &got), 0);
	oauth_cache_refresh_drop(&o, b.tokenhash); /* not there: nothing */
	/* Bounded: a full table empties a shard before it grows. */
	for (int i = 0; i < 40000; i++) {
		struct store_oauthrefresh r = refresh_row(i, 100);
		oauth_cache_refresh_put(&o, &r);
	}
	assert_true(shtable_count(o.refresh) <= 16384);
	assert_true(shtable_count(o.refresh) > 0);
	oauth_cache_destroy(&o);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_form_strict),   cmocka_unit_test(test_basic),
	    cmocka_unit_test(test_pkce),          cmocka_unit_test(test_secrets),
	    cmocka_unit_test(test_user_code),     cmocka_unit_test(test_scopes_and_errors),
	    cmocka_unit_test(test_refresh_cache), cmocka_unit_test(test_hashes_as_libsodium),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
