/* SPDX-License-Identifier: ISC */
/* authz_verify (authz/token.h): strict parsing (authz/jws.h), the key by kid and its one
 * algorithm (keys.c), the signature, the claims; a verified token is cached by the SHA-256 of
 * its bytes until its exp, so that a repeated token costs a hash and a look-up; the time,
 * audience and revocation checks run on every call, cached or not. */
#include "authz/authz_int.h"
#include "authz/jwk.h"
#include "core/shtable.h"

#include <openssl/evp.h>
#include <stdlib.h>
#include <string.h>

static const char *const verdict_names[AUTHZ_VERDICT_N] = {
    [AUTHZ_OK] = "ok",
    [AUTHZ_MALFORMED] = "malformed",
    [AUTHZ_BAD_ALG] = "bad_alg",
    [AUTHZ_UNKNOWN_KEY] = "unknown_key",
    [AUTHZ_BAD_TYPE] = "bad_type",
    [AUTHZ_BAD_SIGNATURE] = "bad_signature",
    [AUTHZ_EXPIRED] = "expired",
    [AUTHZ_NOT_YET_VALID] = "not_yet_valid",
    [AUTHZ_WRONG_ISSUER] = "wrong_issuer",
    [AUTHZ_WRONG_AUDIENCE] = "wrong_audience",
    [AUTHZ_REVOKED] = "revoked",
};

const char *authz_verdict_name(enum authz_verdict v)
{
	return (unsigned)v < AUTHZ_VERDICT_N ? verdict_names[v] : "?";
}

/* --- the verified-token cache ----------------------------------------------------------- */

struct cache_entry {
	struct shtable_node node;
	unsigned char hash[32];
	struct authz_claims c;
};

struct authz_cache {
	struct shtable *t;
	unsigned max;
	atomic_uint count;
	atomic_flag sweeping;
};

static void free_entry(struct shtable_node *n)
{
	free(SHTABLE_ENTRY(n, struct cache_entry, node));
}

struct authz_cache *authz_cache_new(unsigned max_entries)
{
	struct authz_cache *c = calloc(1, sizeof *c);
	const struct shtable_opts o = {.free_entry = free_entry};
	if (!c || !(c->t = shtable_new(&o))) {
		free(c);
		return NULL;
	}
	c->max = max_entries;
	atomic_flag_clear(&c->sweeping);
	return c;
}

void authz_cache_free(struct authz_cache *c)
{
	if (!c)
		return;
	shtable_free(c->t);
	free(c);
}

static int cache_get(struct authz_cache *c, const unsigned char h[32], struct authz_claims *out)
{
	struct shtable_at at;
	shtable_lock(c->t, h, 32, &at);
	struct shtable_node *n = shtable_find(&at);
	if (n)
		*out = SHTABLE_ENTRY(n, struct cache_entry, node)->c;
	shtable_unlock(&at);
	return n != NULL;
}

struct sweep {
	int64_t before;
	struct authz_cache *c;
};

static int sweep_expired(void *ud, struct shtable_node *n)
{
	struct sweep *s = ud;
	if (SHTABLE_ENTRY(n, struct cache_entry, node)->c.exp >= s->before)
		return SHTABLE_NEXT;
	atomic_fetch_sub(&s->c->count, 1);
	return SHTABLE_REMOVE;
}

/* Bounded: when full, one thread drops the expired entries; while still full, nothing more
 * is cached (those tokens are verified cold, which is correct, only slower). */
static void cache_put(struct authz_cache *c, const unsigned char h[32],
                      const struct authz_claims *cl, int64_t now, int64_t leeway)
{
	if (atomic_load(&c->count) >= c->max) {
		if (atomic_flag_test_and_set(&c->sweeping))
			return;
		struct sweep s = {now - leeway, c};
		shtable_sweep(c->t, sweep_expired, &s);
		atomic_flag_clear(&c->sweeping);
		if (atomic_load(&c->count) >= c->max)
			return;
	}
	struct cache_entry *e = malloc(sizeof *e);
	if (!e)
		return;
	memcpy(e->hash, h, 32);
	e->c = *cl;
	struct shtable_at at;
	shtable_lock(c->t, e->hash, 32, &at);
	if (shtable_find(&at)) {
		free(e);
	} else {
		shtable_insert(&at, &e->node, e->hash, 32);
		atomic_fetch_add(&c->count, 1);
	}
	shtable_unlock(&at);
}

uint64_t authz_cache_count(struct authz *a)
{
	return a->cache ? atomic_load(&a->cache->count) : 0;
}

void authz_cache_enable(struct authz *a, int on)
{
	atomic_store(&a->cache_on, on);
}

/* --- claims ----------------------------------------------------------------------------- */

/* A string member into out (cap bytes): 0 when absent (out ""), 1 when copied, -1 when it is
 * not a string or does not fit. */
static int str_claim(json_t *o, const char *name, char *out, size_t cap)
{
	json_t *v = json_object_get(o, name);
	out[0] = '\0';
	if (!v)
		return 0;
	if (!json_is_string(v) || json_string_length(v) >= cap ||
	    strlen(json_string_value(v)) != json_string_length(v))
		return -1;
	memcpy(out, json_string_value(v), json_string_length(v) + 1);
	return 1;
}

/* An integer NumericDate: 0 when absent (*out 0), 1, or -1 when not a non-negative integer. */
static int time_claim(json_t *o, const char *name, int64_t *out)
{
	json_t *v = json_object_get(o, name);
	*out = 0;
	if (!v)
		return 0;
	if (!json_is_integer(v) || json_integer_value(v) < 0)
		return -1;
	*out = (int64_t)json_integer_value(v);
	return 1;
}

static unsigned aud_bit(const char *s)
{
	return strcmp(s, "sip") == 0 ? AUTHZ_AUD_SIP : strcmp(s, "cti") == 0 ? AUTHZ_AUD_CTI : 0;
}

/* "aud": a string or an array of strings (RFC 7519 §4.1.3); audiences we do not serve are
 * ignored. -1 when malformed. */
static int aud_claim(json_t *o, unsigned *out)
{
	json_t *v = json_object_get(o, "aud");
	*out = 0;
	if (!v)
		return 0;
	if (json_is_string(v)) {
		*out = aud_bit(json_string_value(v));
		return 1;
	}
	if (!json_is_array(v) || json_array_size(v) > 16)
		return -1;
	size_t i;
	json_t *e;
	json_array_foreach(v, i, e)
	{
		if (!json_is_string(e))
			return -1;
		*out |= aud_bit(json_string_value(e));
	}
	return 1;
}

static enum authz_verdict claims_parse(json_t *p, struct authz_claims *c)
{
	memset(c, 0, sizeof *c);
	int ok = str_claim(p, "iss", c->iss, sizeof c->iss) >= 0 &&
	         str_claim(p, "sub", c->sub, sizeof c->sub) > 0 &&
	         str_claim(p, "client_id", c->client_id, sizeof c->client_id) >= 0 &&
	         str_claim(p, "scope", c->scope, sizeof c->scope) >= 0 &&
	         str_claim(p, "jti", c->jti, sizeof c->jti) > 0 && aud_claim(p, &c->aud) >= 0 &&
	         time_claim(p, "iat", &c->iat) > 0 && time_claim(p, "exp", &c->exp) >= 0 &&
	         time_claim(p, "nbf", &c->nbf) >= 0 &&
	         time_claim(p, "auth_time", &c->auth_time) >= 0;
	return ok ? AUTHZ_OK : AUTHZ_MALFORMED;
}

/* --- verification ----------------------------------------------------------------------- */

/* Header: alg (pinned to the key's), typ, kid; then the signature. */
static enum authz_verdict check_signed(struct authz *a, const struct jws_parts *jp, int64_t now)
{
	json_t *h = jp->header;
	const char *alg = json_string_value(json_object_get(h, "alg"));
	const char *typ = json_string_value(json_object_get(h, "typ"));
	const char *kid = json_string_value(json_object_get(h, "kid"));
	enum jws_alg want = jws_alg_parse(alg);
	if (want == JWS_ALG_UNKNOWN)
		return alg ? AUTHZ_BAD_ALG : AUTHZ_MALFORMED; /* none, HS256, ... */
	/* RFC 7515 §4.1.11: extensions we do not understand make the token invalid. */
	if (json_object_get(h, "crit"))
		return AUTHZ_MALFORMED;
	if (!typ || strcmp(typ, "at+jwt") != 0)
		return AUTHZ_BAD_TYPE; /* RFC 9068 §4 */
	if (!kid || !authz_kid_ok(kid, strlen(kid)))
		return AUTHZ_UNKNOWN_KEY; /* never used as a name, a path or SQL */
	enum jws_alg key_alg;
	EVP_PKEY *pub = authz_keys_find(&a->keys, kid, now, &key_alg);
	if (!pub)
		return AUTHZ_UNKNOWN_KEY;
	enum authz_verdict v = AUTHZ_BAD_ALG;
	if (key_alg == want)
		v = jws_verify(pub, key_alg, (const unsigned char *)jp->signing_input,
		               jp->signing_input_len, jp->sig, jp->siglen)
		        ? AUTHZ_OK
		        : AUTHZ_BAD_SIGNATURE;
	EVP_PKEY_free(pub);
	return v;
}

/* What is checked on every call: time, audience, revocation. */
static enum authz_verdict check_claims(struct authz *a, const struct authz_claims *c, unsigned aud,
                                       int64_t now)
{
	if (c->exp == 0 || now >= c->exp + a->leeway_s)
		return AUTHZ_EXPIRED;
	if (c->nbf > now + a->leeway_s || c->iat > now + a->leeway_s)
		return AUTHZ_NOT_YET_VALID;
	if ((c->aud & aud) != aud)
		return AUTHZ_WRONG_AUDIENCE;
	if (authz_rev_check(a->rev, c))
		return AUTHZ_REVOKED;
	return AUTHZ_OK;
}

static enum authz_verdict verify_cold(struct authz *a, const char *token, size_t len, int64_t now,
                                      struct authz_claims *out)
{
	struct jws_parts jp;
	if (jws_parse(token, len, AUTHZ_TOKEN_MAX, &jp) != 0)
		return AUTHZ_MALFORMED;
	enum authz_verdict v = check_signed(a, &jp, now);
	if (v == AUTHZ_OK)
		v = claims_parse(jp.payload, out);
	if (v == AUTHZ_OK && strcmp(out->iss, a->issuer) != 0)
		v = AUTHZ_WRONG_ISSUER;
	jws_parts_free(&jp);
	return v;
}

static enum authz_verdict count(struct authz *a, enum authz_verdict v, int cached)
{
	if (v == AUTHZ_OK)
		tg_counter_inc(cached ? &a->cached : &a->cold);
	else if ((unsigned)v < AUTHZ_VERDICT_N)
		tg_counter_inc(&a->refused[v]);
	return v;
}

enum authz_verdict authz_verify_cached(struct authz *a, const char *token, size_t len, unsigned aud,
                                       int64_t now, struct authz_claims *out, int *hit)
{
	*hit = 0;
	/* Keys or revocations written since they were read: only authz_verify re-reads them. */
	if (!token || len == 0 || len > AUTHZ_TOKEN_MAX || !a->cache ||
	    !atomic_load_explicit(&a->cache_on, memory_order_relaxed) ||
	    store_generation(a->store) != atomic_load(&a->gen))
		return AUTHZ_MALFORMED;
	unsigned char h[32];
	if (EVP_Digest(token, len, h, NULL, EVP_sha256(), NULL) != 1 ||
	    !cache_get(a->cache, h, out))
		return AUTHZ_MALFORMED;
	*hit = 1;
	return count(a, check_claims(a, out, aud, now), 1);
}

enum authz_verdict authz_verify(struct authz *a, const char *token, size_t len, unsigned aud,
                                int64_t now, struct authz_claims *out)
{
	if (!token || len == 0 || len > AUTHZ_TOKEN_MAX)
		return count(a, AUTHZ_MALFORMED, 0);
	authz_refresh(a, now);
	int use_cache = a->cache && atomic_load_explicit(&a->cache_on, memory_order_relaxed);
	unsigned char h[32];
	use_cache = use_cache && EVP_Digest(token, len, h, NULL, EVP_sha256(), NULL) == 1;
	if (use_cache && cache_get(a->cache, h, out))
		return count(a, check_claims(a, out, aud, now), 1);
	enum authz_verdict v = verify_cold(a, token, len, now, out);
	/* Cached: what verified and names an exp; whether it is still valid is asked on every
	 * call. */
	if (v == AUTHZ_OK && use_cache && out->exp > 0)
		cache_put(a->cache, h, out, now, a->leeway_s);
	if (v == AUTHZ_OK)
		v = check_claims(a, out, aud, now);
	return count(a, v, 0);
}
