/* SPDX-License-Identifier: ISC */
/* The token service of the authz unit tests: a PKI with a local signer (the token keys
 * in-process, as the signer process would hold them), a store, an authz with its first key,
 * and helpers that forge tokens with any header and payload text, signed with the real key
 * or another. */
#ifndef TG_TEST_AUTHZ_FIXTURE_H
#define TG_TEST_AUTHZ_FIXTURE_H

#include "authz/authz.h"
#include "authz/jwk.h"
#include "authz/jws.h"
#include "ca/ca_bootstrap.h"
#include "ca/signer.h"
#include "ca/signer_core.h"
#include "core/config.h"
#include "core/util.h"
#include "testutil.h"

#include <openssl/evp.h>

struct authz_fx {
	char dir[64], pki[96], db[128];
	struct signer *signer;
	store_t *st;
	struct tg_config cfg;
	struct authz *a;
	char kid[44];
	EVP_PKEY *key; /* the active token key's private half (from the local signer) */
	int64_t now;
};

static inline int authz_fx_setup(struct authz_fx *f, const char *alg)
{
	memset(f, 0, sizeof *f);
	tu_mkdtemp(f->dir, sizeof f->dir, "tgauthz");
	snprintf(f->pki, sizeof f->pki, "%s/pki", f->dir);
	snprintf(f->db, sizeof f->db, "%s/telgate.db", f->dir);
	struct ca_bootstrap_result r;
	char err[256];
	int created = 0;
	if (ca_bootstrap(f->pki, "node1", "", 90, &r, err, sizeof err) != 0 ||
	    ca_bootstrap_signers(f->pki, "node1", &created, err, sizeof err) != 0)
		return -1;
	f->signer = signer_local_new(f->pki, err, sizeof err);
	const struct store_options so = {
	    .backend = "sqlite", .path = f->db, .busy_timeout_ms = 5000};
	if (!f->signer || store_open(&so, &f->st, err, sizeof err) != STORE_OK)
		return -1;
	config_defaults(&f->cfg);
	tg_strlcpy(f->cfg.core.node_id, "node1", sizeof f->cfg.core.node_id);
	tg_strlcpy(f->cfg.oauth.issuer, "https://node1.example:8443", sizeof f->cfg.oauth.issuer);
	tg_strlcpy(f->cfg.oauth.alg, alg, sizeof f->cfg.oauth.alg);
	const struct authz_options ao = {
	    .store = f->st, .signer = f->signer, .cfg = &f->cfg, .cid = "test"};
	f->a = authz_new(&ao, err, sizeof err);
	if (!f->a) {
		fprintf(stderr, "authz_new: %s\n", err);
		return -1;
	}
	const struct signer_keys *ks = signer_local_keys(f->signer);
	if (!ks || ks->tokens->n != 1)
		return -1;
	memcpy(f->kid, ks->tokens->k[0].kid, sizeof f->kid);
	f->key = ks->tokens->k[0].key;
	f->now = tg_now_s();
	return 0;
}

static inline void authz_fx_teardown(struct authz_fx *f)
{
	authz_free(f->a);
	store_close(f->st);
	signer_free(f->signer);
	tu_rmtree(f->dir);
}

/* base64url of text into out. */
static inline void authz_fx_b64(const char *text, size_t n, char *out, size_t cap)
{
	if (tg_b64url_encode((const unsigned char *)text, n, out, cap) < 0)
		abort();
}

/* "b64(header).b64(payload)" into out; its length. */
static inline size_t authz_fx_input(const char *header, const char *payload, char *out, size_t cap)
{
	size_t hl = strlen(header);
	authz_fx_b64(header, hl, out, cap);
	size_t n = strlen(out);
	out[n++] = '.';
	authz_fx_b64(payload, strlen(payload), out + n, cap - n);
	return strlen(out);
}

/* Appends ".b64(sig)" to the signing input in out. */
static inline void authz_fx_append_sig(char *out, size_t cap, const unsigned char *sig, size_t n)
{
	size_t l = strlen(out);
	out[l++] = '.';
	if (tg_b64url_encode(sig, n, out + l, cap - l) < 0)
		abort();
}

/* A token of header and payload text signed with k under a. */
static inline void authz_fx_forge(const char *header, const char *payload, EVP_PKEY *k,
                                  enum jws_alg a, char *out, size_t cap)
{
	size_t n = authz_fx_input(header, payload, out, cap);
	unsigned char sig[JWS_SIG_MAX];
	size_t sl = 0;
	if (jws_sign(k, a, (const unsigned char *)out, n, sig, sizeof sig, &sl) != 0)
		abort();
	authz_fx_append_sig(out, cap, sig, sl);
}

/* The standard header and a payload with these claims (exp 0: none). */
static inline void authz_fx_header(const struct authz_fx *f, char *out, size_t cap)
{
	snprintf(out, cap, "{\"alg\":\"ES256\",\"typ\":\"at+jwt\",\"kid\":\"%s\"}", f->kid);
}

static inline void authz_fx_payload(const char *iss, const char *aud, int64_t iat, int64_t exp,
                                    const char *jti, char *out, size_t cap)
{
	char e[48] = "";
	if (exp)
		snprintf(e, sizeof e, ",\"exp\":%lld", (long long)exp);
	snprintf(out, cap,
	         "{\"iss\":\"%s\",\"sub\":\"wwhite\",\"aud\":%s,\"client_id\":\"jabber\","
	         "\"scope\":\"cti\",\"iat\":%lld%s,\"jti\":\"%s\",\"auth_time\":%lld}",
	         iss, aud, (long long)iat, e, jti, (long long)iat);
}

#endif
