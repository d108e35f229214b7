/* SPDX-License-Identifier: ISC */
/* authz keys: the first key made at start (in the signer, persisted as tokens/<kid>.key and
 * loaded by a new signer), rotation (published at once, signing after the grace, the old key
 * retired after the longest token lifetime), the JWKS, the signer's token policy, and RS256
 * and EdDSA round trips. */
#include "authz_fixture.h"

#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <cmocka.h>

struct listing {
	int n;
	struct authz_key_info k[8];
};

static int collect(void *ud, const struct authz_key_info *k)
{
	struct listing *l = ud;
	if (l->n < 8)
		l->k[l->n++] = *k;
	return 0;
}

static void round_trip(struct authz_fx *f)
{
	struct authz_claims c = {0}, out;
	authz_claims_init(f->a, &c, f->now);
	snprintf(c.sub, sizeof c.sub, "%s", "wwhite");
	c.aud = AUTHZ_AUD_SIP;
	char *jwt;
	size_t len;
	assert_int_equal(authz_token_issue(f->a, &c, &jwt, &len), 0);
	assert_int_equal(authz_verify(f->a, jwt, len, AUTHZ_AUD_SIP, f->now, &out), AUTHZ_OK);
	free(jwt);
}

/* The refresh grants' batch (authz_token_prepare, authz_tokens_sign_start/_finish,
 * authz_token_complete): every good token of the batch verifies with its own claims; one
 * whose signing request the signer refuses fails alone, counted as a failed issue. */
static void test_batch_signing(void **state)
{
	(void)state;
	struct authz_fx f;
	assert_int_equal(authz_fx_setup(&f, "ES256"), 0);
	enum { N = 3 };
	struct authz_claims c[N];
	struct authz_unsigned u[N], *v[N];
	for (int i = 0; i < N; i++) {
		memset(&c[i], 0, sizeof c[i]);
		char jti[23];
		snprintf(jti, sizeof jti, "jti-%d-of-the-batch", i);
		authz_claims_init_jti(f.a, &c[i], f.now, jti);
		snprintf(c[i].sub, sizeof c[i].sub, "user%d", i);
		c[i].aud = AUTHZ_AUD_SIP;
		assert_int_equal(authz_token_prepare(f.a, &c[i], &u[i], 0), 0);
		assert_string_equal(u[i].kid, f.kid);
		v[i] = &u[i];
	}
	/* The signer refuses the second: its input is not a JWS signing input. */
	u[1].sign.len = 3;
	struct authz_stats before, after;
	authz_stats_get(f.a, &before);
	authz_tokens_sign_start(f.a, v, N);
	authz_tokens_sign_finish(f.a, v, N);
	for (int i = 0; i < N; i++) {
		char *jwt = NULL;
		size_t len = 0;
		int rc = authz_token_complete(f.a, &c[i], &u[i], &jwt, &len);
		assert_null(u[i].jws);
		assert_null(u[i].sign.sig);
		if (i == 1) {
			assert_int_equal(rc, -EINVAL);
			assert_null(jwt);
			continue;
		}
		assert_int_equal(rc, 0);
		assert_int_equal(strlen(jwt), len);
		struct authz_claims out;
		assert_int_equal(authz_verify(f.a, jwt, len, AUTHZ_AUD_SIP, f.now, &out), AUTHZ_OK);
		assert_string_equal(out.jti, c[i].jti);
		assert_string_equal(out.sub, c[i].sub);
		free(jwt);
	}
	authz_stats_get(f.a, &after);
	assert_int_equal(after.issued - before.issued, N - 1);
	assert_int_equal(after.issue_failed - before.issue_failed, 1);
	authz_fx_teardown(&f);
}

static void test_first_key_made_and_kept(void **state)
{
	(void)state;
	struct authz_fx f;
	assert_int_equal(authz_fx_setup(&f, "ES256"), 0);
	char path[256];
	snprintf(path, sizeof path, "%s/tokens/%s.key", f.pki, f.kid);
	struct stat sb;
	assert_int_equal(stat(path, &sb), 0);
	assert_int_equal(sb.st_mode & 0777, 0600);
	struct listing l = {0};
	assert_int_equal(authz_keys_list(f.a, f.now, collect, &l), 0);
	assert_int_equal(l.n, 1);
	assert_string_equal(l.k[0].kid, f.kid);
	assert_string_equal(l.k[0].state, "active");
	/* A new signer (a restart) loads the key: tokens still sign. */
	char err[256];
	struct signer *again = signer_local_new(f.pki, err, sizeof err);
	assert_non_null(again);
	assert_int_equal(signer_local_keys(again)->tokens->n, 1);
	signer_free(again);
	round_trip(&f);
	authz_fx_teardown(&f);
}

static void test_rotation(void **state)
{
	(void)state;
	struct authz_fx f;
	assert_int_equal(authz_fx_setup(&f, "ES256"), 0);
	struct authz_key_info k;
	assert_int_equal(authz_keys_rotate(f.a, f.now, &k), 0);
	assert_string_equal(k.state, "next");
	assert_int_equal(k.activates_at, f.now + f.cfg.oauth.key_grace_s);
	/* Both published at once. */
	char *jwks;
	size_t len;
	assert_int_equal(authz_jwks(f.a, &jwks, &len), 0);
	assert_non_null(strstr(jwks, f.kid));
	assert_non_null(strstr(jwks, k.kid));
	free(jwks);
	struct listing l = {0};
	assert_int_equal(authz_keys_list(f.a, f.now, collect, &l), 0);
	assert_int_equal(l.n, 2);
	assert_string_equal(l.k[0].state, "active"); /* the old one signs during the grace */
	assert_string_equal(l.k[1].state, "next");
	int64_t retire = k.activates_at + f.cfg.oauth.access_token_expiry_s + f.cfg.oauth.leeway_s;
	assert_int_equal(l.k[0].retires_at, retire);
	/* After the grace the new key signs; the old one is retiring, then retired. */
	memset(&l, 0, sizeof l);
	assert_int_equal(authz_keys_list(f.a, k.activates_at, collect, &l), 0);
	assert_string_equal(l.k[0].state, "retiring");
	assert_string_equal(l.k[1].state, "active");
	memset(&l, 0, sizeof l);
	assert_int_equal(authz_keys_list(f.a, retire, collect, &l), 0);
	assert_string_equal(l.k[0].state, "retired");
	/* A token of the old key verifies until then, and not after. */
	struct authz_claims c = {0}, out;
	authz_claims_init(f.a, &c, f.now);
	snprintf(c.sub, sizeof c.sub, "%s", "wwhite");
	c.aud = AUTHZ_AUD_CTI;
	char *jwt;
	assert_int_equal(authz_token_issue(f.a, &c, &jwt, &len), 0);
	assert_non_null(strstr(jwt, "")); /* issued with the old key: */
	authz_cache_enable(f.a, 0);
	assert_int_equal(authz_verify(f.a, jwt, len, AUTHZ_AUD_CTI, f.now, &out), AUTHZ_OK);
	assert_int_equal(authz_verify(f.a, jwt, len, AUTHZ_AUD_CTI, retire, &out),
	                 AUTHZ_UNKNOWN_KEY);
	free(jwt);
	authz_fx_teardown(&f);
}

/* Without a grace, a key rotated in within the second the first key was made signs at once:
 * on equal activation times the key not superseded wins. */
static void test_rotation_without_grace_same_second(void **state)
{
	(void)state;
	struct authz_fx f;
	assert_int_equal(authz_fx_setup(&f, "ES256"), 0);
	authz_free(f.a);
	f.cfg.oauth.key_grace_s = 0;
	char err[256];
	const struct authz_options ao = {
	    .store = f.st, .signer = f.signer, .cfg = &f.cfg, .cid = "test"};
	f.a = authz_new(&ao, err, sizeof err);
	assert_non_null(f.a);
	struct listing l = {0};
	assert_int_equal(authz_keys_list(f.a, f.now, collect, &l), 0);
	assert_int_equal(l.n, 1);
	struct authz_key_info k;
	assert_int_equal(authz_keys_rotate(f.a, l.k[0].activates_at, &k), 0);
	assert_int_equal(k.activates_at, l.k[0].activates_at);
	memset(&l, 0, sizeof l);
	assert_int_equal(authz_keys_list(f.a, k.activates_at, collect, &l), 0);
	assert_int_equal(l.n, 2);
	for (int i = 0; i < 2; i++)
		assert_string_equal(l.k[i].state,
		                    strcmp(l.k[i].kid, k.kid) == 0 ? "active" : "retiring");
	authz_fx_teardown(&f);
}

static void test_signer_token_policy(void **state)
{
	(void)state;
	struct authz_fx f;
	assert_int_equal(authz_fx_setup(&f, "ES256"), 0);
	unsigned char *sig;
	size_t n;
	char in[1024], h[256];
	/* Not a token header: refused. */
	snprintf(h, sizeof h, "{\"alg\":\"ES256\",\"typ\":\"JWT\",\"kid\":\"%s\"}", f.kid);
	size_t l = authz_fx_input(h, "{}", in, sizeof in);
	assert_int_equal(signer_sign_token(f.signer, f.kid, in, l, &sig, &n), -EINVAL);
	/* Another algorithm than the key's. */
	snprintf(h, sizeof h, "{\"alg\":\"RS256\",\"typ\":\"at+jwt\",\"kid\":\"%s\"}", f.kid);
	l = authz_fx_input(h, "{}", in, sizeof in);
	assert_int_equal(signer_sign_token(f.signer, f.kid, in, l, &sig, &n), -EINVAL);
	/* The engine's own header (known to the signer by its bytes): signed; with a payload
	 * that is not a JSON object, refused all the same. */
	snprintf(h, sizeof h, "{\"alg\":\"ES256\",\"typ\":\"at+jwt\",\"kid\":\"%s\"}", f.kid);
	l = authz_fx_input(h, "{}", in, sizeof in);
	assert_int_equal(signer_sign_token(f.signer, f.kid, in, l, &sig, &n), 0);
	free(sig);
	char b64[JWS_AT_HEADER_B64_MAX];
	long hl = jws_at_header_b64(JWS_ES256, f.kid, b64, sizeof b64);
	assert_true(hl > 0);
	assert_memory_equal(in, b64, (size_t)hl);
	static const char *const not_objects[] = {"[]", "1", "\"x\"", "{", "{}{}"};
	for (size_t i = 0; i < sizeof not_objects / sizeof *not_objects; i++) {
		l = authz_fx_input(h, not_objects[i], in, sizeof in);
		assert_int_equal(signer_sign_token(f.signer, f.kid, in, l, &sig, &n), -EINVAL);
	}
	/* Another spelling of a good header (members in another order) is parsed: signed. */
	snprintf(h, sizeof h, "{\"kid\":\"%s\",\"typ\":\"at+jwt\",\"alg\":\"ES256\"}", f.kid);
	l = authz_fx_input(h, "{}", in, sizeof in);
	assert_int_equal(signer_sign_token(f.signer, f.kid, in, l, &sig, &n), 0);
	free(sig);
	/* Bytes that are not a JWS signing input. */
	assert_int_equal(signer_sign_token(f.signer, f.kid, "abc", 3, &sig, &n), -EINVAL);
	/* An unknown kid. */
	assert_int_equal(signer_sign_token(f.signer, "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
	                                   in, l, &sig, &n),
	                 -ENOENT);
	/* The token key never signs arbitrary bytes. */
	assert_int_equal(signer_sign_bytes(f.signer, SIGNER_KEY_TOKEN, "SHA256",
	                                   (const unsigned char *)"abc", 3, &sig, &n),
	                 -EINVAL);
	assert_int_equal(signer_token_keygen(f.signer, "HS256", &sig, &n), -EINVAL);
	assert_int_equal(signer_token_keygen(f.signer, "none", &sig, &n), -EINVAL);
	authz_fx_teardown(&f);
}

static void test_rs256_round_trip(void **state)
{
	(void)state;
	struct authz_fx f;
	assert_int_equal(authz_fx_setup(&f, "RS256"), 0);
	round_trip(&f);
	authz_fx_teardown(&f);
}

static void test_eddsa_round_trip(void **state)
{
	(void)state;
	struct authz_fx f;
	assert_int_equal(authz_fx_setup(&f, "EdDSA"), 0);
	round_trip(&f);
	authz_fx_teardown(&f);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_first_key_made_and_kept),
	    cmocka_unit_test(test_batch_signing),
	    cmocka_unit_test(test_rotation),
	    cmocka_unit_test(test_signer_token_policy),
	    cmocka_unit_test(test_rs256_round_trip),
	    cmocka_unit_test(test_eddsa_round_trip),
	    cmocka_unit_test(test_rotation_without_grace_same_second),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
