/* SPDX-License-Identifier: ISC */
/* The token service's life (authz/authz.h): configuration, the first key, rotation, issuing
 * through the signer, the JWKS, counters. Verification is verify.c, revocation revoke.c. */
#include "authz/authz_int.h"
#include "authz/jwk.h"
#include "ca/signer.h"
#include "core/jsonw.h"
#include "core/util.h"

#include <errno.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void authz_refresh(struct authz *a, int64_t now)
{
	uint64_t g = store_generation(a->store);
	if (g == atomic_load(&a->gen) || pthread_mutex_trylock(&a->refresh_mu) != 0)
		return;
	/* Read the generation before the tables: a write during the read is seen next time. */
	g = store_generation(a->store);
	if (g != atomic_load(&a->gen) && authz_keys_load(&a->keys, a->store, a->cid) == 0 &&
	    authz_rev_load(a->rev, a->store, now - a->leeway_s) == STORE_OK)
		atomic_store(&a->gen, g);
	pthread_mutex_unlock(&a->refresh_mu);
}

/* The SubjectPublicKeyInfo (DER) as PEM for the store. */
static int spki_pem(EVP_PKEY *k, char *out, size_t cap)
{
	BIO *b = BIO_new(BIO_s_mem());
	char *p;
	long n = b && PEM_write_bio_PUBKEY(b, k) == 1 ? BIO_get_mem_data(b, &p) : 0;
	int rc = n > 0 && (size_t)n < cap ? 0 : -ENOMEM;
	if (rc == 0) {
		memcpy(out, p, (size_t)n);
		out[n] = '\0';
	}
	BIO_free(b);
	ERR_clear_error();
	return rc;
}

/* Makes a key in the signer and records it, activating at `activates`; the node's other keys
 * retire the longest token lifetime after that. */
static int add_key(struct authz *a, int64_t now, int64_t activates, struct authz_key_info *out)
{
	unsigned char *spki = NULL;
	size_t n = 0;
	int rc = signer_token_keygen(a->signer, jws_alg_name(a->alg), &spki, &n);
	if (rc != 0)
		return rc;
	EVP_PKEY *pub = authz_spki_parse(spki, n);
	free(spki);
	struct store_oauthkey row = {.created = now, .activates_at = activates};
	if (!pub || authz_jwk_thumbprint(pub, row.kid) != 0 ||
	    spki_pem(pub, row.publickey, sizeof row.publickey) != 0) {
		EVP_PKEY_free(pub);
		return -EIO;
	}
	EVP_PKEY_free(pub);
	tg_strlcpy(row.alg, jws_alg_name(a->alg), sizeof row.alg);
	tg_strlcpy(row.node, a->node, sizeof row.node);
	int64_t retire = activates + a->access_s + a->leeway_s;
	rc = store_begin(a->store);
	if (rc == STORE_OK)
		rc = store_oauthkey_add(a->store, &row);
	if (rc == STORE_OK)
		rc = store_oauthkey_retire_others(a->store, a->node, row.kid, retire);
	rc = rc == STORE_OK ? store_commit(a->store) : (store_rollback(a->store), rc);
	if (rc != STORE_OK) {
		log_ev(LOG_LVL_ERROR, a->cid, "oauth_key_store_failed", LOG_S("kid", row.kid),
		       LOG_S("error", store_last_error()));
		return -EIO;
	}
	rc = authz_keys_load(&a->keys, a->store, a->cid);
	log_ev(LOG_LVL_NOTICE, a->cid, "oauth_key_added", LOG_S("kid", row.kid),
	       LOG_S("alg", row.alg), LOG_S("node", row.node), LOG_I("activates_at", activates),
	       LOG_I("others_retire_at", retire));
	if (out) {
		memset(out, 0, sizeof *out);
		memcpy(out->kid, row.kid, sizeof out->kid);
		out->alg = a->alg;
		memcpy(out->node, row.node, sizeof out->node);
		out->created = now;
		out->activates_at = activates;
		out->state = authz_key_state(activates, 0, now, activates <= now);
	}
	return rc;
}

int authz_keys_rotate(struct authz *a, int64_t now, struct authz_key_info *out)
{
	pthread_mutex_lock(&a->rotate_mu);
	/* The first key of a node signs at once: there is nothing to hand over from. */
	int64_t grace = authz_keys_node_has_key(&a->keys, a->node, now) ? a->key_grace_s : 0;
	int rc = add_key(a, now, now + grace, out);
	pthread_mutex_unlock(&a->rotate_mu);
	return rc;
}

/* The node's first key, unless another thread made it meanwhile. */
static int first_key(struct authz *a, int64_t now)
{
	pthread_mutex_lock(&a->rotate_mu);
	int rc = authz_keys_node_has_key(&a->keys, a->node, now) ? 0 : add_key(a, now, now, NULL);
	pthread_mutex_unlock(&a->rotate_mu);
	return rc;
}

struct list_ctx {
	struct authz *a;
	int64_t now;
	char signing[44];
	int (*fn)(void *ud, const struct authz_key_info *k);
	void *ud;
};

static int list_row(void *ud, const struct store_oauthkey *k)
{
	struct list_ctx *l = ud;
	struct authz_key_info i = {.alg = jws_alg_parse(k->alg),
	                           .created = k->created,
	                           .activates_at = k->activates_at,
	                           .retires_at = k->retires_at};
	memcpy(i.kid, k->kid, sizeof i.kid);
	memcpy(i.node, k->node, sizeof i.node);
	/* Only this node's signer is known here; another node's key is "active" by its times. */
	int signing = strcmp(k->kid, l->signing) == 0;
	i.state = authz_key_state(k->activates_at, k->retires_at, l->now, signing);
	return l->fn(l->ud, &i);
}

int authz_keys_list(struct authz *a, int64_t now,
                    int (*fn)(void *ud, const struct authz_key_info *k), void *ud)
{
	struct list_ctx l = {.a = a, .now = now, .fn = fn, .ud = ud};
	enum jws_alg alg;
	if (authz_keys_signing(&a->keys, a->node, now, l.signing, &alg) != 0)
		l.signing[0] = '\0';
	return store_oauthkeys(a->store, list_row, &l);
}

struct authz *authz_new(const struct authz_options *o, char *err, size_t errlen)
{
	struct authz *a = calloc(1, sizeof *a);
	if (!a || authz_keys_init(&a->keys) != 0) {
		free(a);
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	pthread_mutex_init(&a->refresh_mu, NULL);
	pthread_mutex_init(&a->rotate_mu, NULL);
	a->store = o->store;
	a->signer = o->signer;
	tg_strlcpy(a->issuer, o->cfg->oauth.issuer, sizeof a->issuer);
	tg_strlcpy(a->node, o->cfg->core.node_id, sizeof a->node);
	tg_strlcpy(a->cid, o->cid ? o->cid : "", sizeof a->cid);
	a->alg = jws_alg_parse(o->cfg->oauth.alg);
	a->access_s = o->cfg->oauth.access_token_expiry_s;
	a->leeway_s = o->cfg->oauth.leeway_s;
	a->key_grace_s = o->cfg->oauth.key_grace_s;
	a->rev = authz_rev_new();
	if (o->cfg->oauth.cache_entries > 0)
		a->cache = authz_cache_new((unsigned)o->cfg->oauth.cache_entries);
	atomic_store(&a->cache_on, 1);
	if (!a->rev || (o->cfg->oauth.cache_entries > 0 && !a->cache) ||
	    a->alg == JWS_ALG_UNKNOWN) {
		snprintf(err, errlen, "out of memory");
		authz_free(a);
		return NULL;
	}
	int64_t now = tg_now_s();
	uint64_t g = store_generation(a->store);
	int rc = authz_keys_load(&a->keys, a->store, a->cid);
	if (rc == 0)
		rc = authz_rev_load(a->rev, a->store, now - a->leeway_s);
	if (rc != 0) {
		snprintf(err, errlen, "oauth: cannot read the token keys: %s", store_last_error());
		authz_free(a);
		return NULL;
	}
	atomic_store(&a->gen, g);
	/* Revoked jtis past their exp are refused as expired anyway: dropped at each start and
	 * each revocation (authz_revoke_jti). */
	if (store_oauth_purge(a->store, now - a->leeway_s) != STORE_OK)
		log_ev(LOG_LVL_WARNING, a->cid, "oauth_purge_failed",
		       LOG_S("error", store_last_error()));
	/* The first key now, so that the first token does not wait for a key generation; a
	 * signer that does not answer yet is not fatal: the first issue tries again. */
	if (a->signer && (rc = first_key(a, now)) != 0)
		log_ev(LOG_LVL_WARNING, a->cid, "oauth_first_key_failed",
		       LOG_S("error", strerror(-rc)));
	return a;
}

void authz_free(struct authz *a)
{
	if (!a)
		return;
	authz_cache_free(a->cache);
	authz_rev_free(a->rev);
	authz_keys_destroy(&a->keys);
	pthread_mutex_destroy(&a->refresh_mu);
	pthread_mutex_destroy(&a->rotate_mu);
	free(a);
}

void authz_claims_init(struct authz *a, struct authz_claims *c, int64_t now)
{
	unsigned char rnd[16];
	char jti[sizeof c->jti];
	randombytes_buf(rnd, sizeof rnd);
	tg_b64url_encode(rnd, sizeof rnd, jti, sizeof jti);
	authz_claims_init_jti(a, c, now, jti);
}

void authz_claims_init_jti(struct authz *a, struct authz_claims *c, int64_t now, const char *jti)
{
	tg_strlcpy(c->jti, jti, sizeof c->jti);
	c->iat = c->auth_time = now;
	c->exp = now + a->access_s;
	c->nbf = 0;
	tg_strlcpy(c->iss, a->issuer, sizeof c->iss);
}

/* Bounds of the JSON before base64url: the claims' fields are bounded (authz_claims), and
 * a token over AUTHZ_TOKEN_MAX is refused anyway. */
#define PAYLOAD_MAX (AUTHZ_TOKEN_MAX / 4 * 3)

/* The payload in RFC 9068 §2.2's order ("aud" a string for one audience,
 * else an array), written by hand (core/jsonw.h: no tree made and dumped per token), as
 * the JSON text jansson made before. Returns the payload's length, or -1 when it does not
 * fit or a claim is not UTF-8. */
static int payload_of(char *out, size_t cap, const struct authz_claims *c)
{
	struct tg_sbuf b = {out, cap, 0, 0};
	tg_sbuf_put(&b, "{\"iss\":");
	jsonw_str(&b, c->iss);
	jsonw_member_str(&b, "sub", c->sub);
	tg_sbuf_put(&b, c->aud == (AUTHZ_AUD_SIP | AUTHZ_AUD_CTI) ? ",\"aud\":[\"sip\",\"cti\"]"
	                : c->aud == AUTHZ_AUD_CTI                 ? ",\"aud\":\"cti\""
	                                                          : ",\"aud\":\"sip\"");
	jsonw_member_str(&b, "client_id", c->client_id);
	jsonw_member_str(&b, "scope", c->scope);
	jsonw_member_int(&b, "iat", c->iat);
	jsonw_member_int(&b, "exp", c->exp);
	jsonw_member_str(&b, "jti", c->jti);
	jsonw_member_int(&b, "auth_time", c->auth_time);
	if (c->nbf)
		jsonw_member_int(&b, "nbf", c->nbf);
	tg_sbuf_put(&b, "}");
	return tg_sbuf_len(&b);
}

int authz_token_prepare(struct authz *a, const struct authz_claims *c, struct authz_unsigned *u,
                        int may_block)
{
	memset(u, 0, sizeof *u);
	if (!a->signer)
		return -EAGAIN;
	if (!c->aud || (c->aud & ~(unsigned)(AUTHZ_AUD_SIP | AUTHZ_AUD_CTI)) || !c->sub[0] ||
	    !c->jti[0])
		return -EINVAL;
	enum jws_alg alg;
	int64_t now = tg_now_s();
	if (authz_keys_signing(&a->keys, a->node, now, u->kid, &alg) != 0) {
		/* No key yet (the signer was not up at start): make the first one now. */
		if (!may_block)
			return -EWOULDBLOCK;
		if (first_key(a, now) != 0 ||
		    authz_keys_signing(&a->keys, a->node, now, u->kid, &alg) != 0)
			return -ENOENT;
	}
	char h[JWS_AT_HEADER_B64_MAX];
	static _Thread_local char p[PAYLOAD_MAX];
	long hl0 = jws_at_header_b64(alg, u->kid, h, sizeof h);
	int pn = payload_of(p, sizeof p, c);
	if (hl0 < 0 || pn < 0)
		return -EINVAL;
	size_t hl = (size_t)hl0, pl = JWS_B64_LEN((size_t)pn);
	u->cap = hl + 1 + pl + 1 + JWS_B64_LEN(JWS_SIG_MAX) + 1;
	if (!(u->jws = malloc(u->cap)))
		return -ENOMEM;
	memcpy(u->jws, h, hl);
	if (tg_b64url_encode((const unsigned char *)p, (size_t)pn, u->jws + hl + 1, pl + 1) !=
	    (long)pl) {
		authz_unsigned_free(u);
		return -EIO;
	}
	u->jws[hl] = '.';
	u->input_len = hl + 1 + pl;
	u->sign.kid = u->kid;
	u->sign.input = u->jws;
	u->sign.len = u->input_len;
	return 0;
}

void authz_unsigned_free(struct authz_unsigned *u)
{
	free(u->jws);
	free(u->sign.sig);
	u->jws = NULL;
	u->sign.sig = NULL;
}

/* The items' signer requests (at most a batch's worth at a time). */
#define SIGN_CHUNK 64
static void sign_items(struct authz *a, struct authz_unsigned *const *u, size_t n, int finish)
{
	struct signer_token_sign *v[SIGN_CHUNK];
	for (size_t off = 0; off < n; off += SIGN_CHUNK) {
		size_t k = n - off < SIGN_CHUNK ? n - off : SIGN_CHUNK;
		for (size_t i = 0; i < k; i++)
			v[i] = &u[off + i]->sign;
		if (finish)
			signer_sign_tokens_finish(a->signer, v, k);
		else
			signer_sign_tokens_start(a->signer, v, k);
	}
}

void authz_tokens_sign_start(struct authz *a, struct authz_unsigned *const *u, size_t n)
{
	sign_items(a, u, n, 0);
}

void authz_tokens_sign_finish(struct authz *a, struct authz_unsigned *const *u, size_t n)
{
	sign_items(a, u, n, 1);
}

/* The signature after the signing input: the compact JWS in u->jws, handed to *jwt. */
static int assemble(struct authz_unsigned *u, char **jwt, size_t *len)
{
	if (u->sign.rc != 0)
		return u->sign.rc;
	u->jws[u->input_len] = '.';
	long n = tg_b64url_encode(u->sign.sig, u->sign.siglen, u->jws + u->input_len + 1,
	                          u->cap - (u->input_len + 1));
	if (n < 0)
		return -EIO;
	*len = u->input_len + 1 + (size_t)n;
	if (*len > AUTHZ_TOKEN_MAX)
		return -EINVAL;
	*jwt = u->jws;
	u->jws = NULL;
	return 0;
}

int authz_token_complete(struct authz *a, const struct authz_claims *c, struct authz_unsigned *u,
                         char **jwt, size_t *len)
{
	*jwt = NULL;
	*len = 0;
	int rc = assemble(u, jwt, len);
	if (rc != 0)
		*len = 0;
	authz_unsigned_free(u);
	tg_counter_inc(rc == 0 ? &a->issued : &a->issue_failed);
	if (rc != 0)
		log_ev(LOG_LVL_WARNING, a->cid, "oauth_token_issue_failed", LOG_S("sub", c->sub),
		       LOG_S("client_id", c->client_id), LOG_S("error", strerror(-rc)));
	return rc;
}

int authz_token_issue(struct authz *a, const struct authz_claims *c, char **jwt, size_t *len)
{
	struct authz_unsigned u;
	int rc = authz_token_prepare(a, c, &u, 1);
	if (rc != 0) {
		*jwt = NULL;
		*len = 0;
		u.sign.rc = rc;
		return authz_token_complete(a, c, &u, jwt, len);
	}
	u.sign.rc =
	    signer_sign_token(a->signer, u.kid, u.jws, u.input_len, &u.sign.sig, &u.sign.siglen);
	return authz_token_complete(a, c, &u, jwt, len);
}

int authz_jwks(struct authz *a, char **json, size_t *len)
{
	int64_t now = tg_now_s();
	authz_refresh(a, now);
	return authz_keys_jwks(&a->keys, now, json, len);
}

void authz_stats_get(struct authz *a, struct authz_stats *st)
{
	memset(st, 0, sizeof *st);
	if (!a)
		return;
	st->verified_cold = tg_counter_get(&a->cold);
	st->verified_cached = tg_counter_get(&a->cached);
	for (int i = 0; i < AUTHZ_VERDICT_N; i++)
		st->refused[i] = tg_counter_get(&a->refused[i]);
	st->issued = tg_counter_get(&a->issued);
	st->issue_failed = tg_counter_get(&a->issue_failed);
	st->cache_entries = authz_cache_count(a);
}
