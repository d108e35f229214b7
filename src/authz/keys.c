/* SPDX-License-Identifier: ISC */
/* The public token keys (oauthkey) in memory: parsed once when read from the store, never per
 * request; looked up by kid on every cold verification under a read lock. */
#include "authz/authz_int.h"
#include "authz/jwk.h"

#include <errno.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <stdlib.h>
#include <string.h>

int authz_keys_init(struct authz_keys *ks)
{
	memset(ks, 0, sizeof *ks);
	return pthread_rwlock_init(&ks->lock, NULL) == 0 ? 0 : -ENOMEM;
}

static void free_set(struct authz_key *k, size_t n)
{
	for (size_t i = 0; i < n; i++)
		EVP_PKEY_free(k[i].pub);
	free(k);
}

void authz_keys_destroy(struct authz_keys *ks)
{
	free_set(ks->k, ks->n);
	pthread_rwlock_destroy(&ks->lock);
	memset(ks, 0, sizeof *ks);
}

struct load {
	struct authz_key *k;
	size_t n, cap;
	const char *cid;
	int oom;
};

static int load_row(void *ud, const struct store_oauthkey *row)
{
	struct load *l = ud;
	BIO *b = BIO_new_mem_buf(row->publickey, -1);
	EVP_PKEY *pub = b ? PEM_read_bio_PUBKEY(b, NULL, NULL, NULL) : NULL;
	BIO_free(b);
	ERR_clear_error();
	enum jws_alg a = jws_alg_parse(row->alg);
	char kid[AUTHZ_KID_LEN + 1];
	/* The kid is the key's thumbprint and the alg the key's one algorithm, or the row is
	 * not used: a row edited by hand cannot pair a key with another kid or algorithm. */
	if (!pub || a == JWS_ALG_UNKNOWN || jws_alg_of_key(pub) != a ||
	    authz_jwk_thumbprint(pub, kid) != 0 || strcmp(kid, row->kid) != 0) {
		log_ev(LOG_LVL_ERROR, l->cid, "oauth_key_unusable", LOG_S("kid", row->kid),
		       LOG_S("alg", row->alg));
		EVP_PKEY_free(pub);
		return 0;
	}
	if (l->n == l->cap) {
		size_t cap = l->cap ? l->cap * 2 : 8;
		struct authz_key *k = realloc(l->k, cap * sizeof *k);
		if (!k) {
			EVP_PKEY_free(pub);
			l->oom = 1;
			return 1;
		}
		l->k = k;
		l->cap = cap;
	}
	struct authz_key *e = &l->k[l->n++];
	memset(e, 0, sizeof *e);
	memcpy(e->kid, kid, sizeof kid);
	e->alg = a;
	memcpy(e->node, row->node, sizeof e->node);
	e->pub = pub;
	e->created = row->created;
	e->activates_at = row->activates_at;
	e->retires_at = row->retires_at;
	return 0;
}

int authz_keys_load(struct authz_keys *ks, store_t *st, const char *cid)
{
	struct load l = {.cid = cid};
	int rc = store_oauthkeys(st, load_row, &l);
	if (rc != STORE_OK && rc != STORE_TOOBIG) {
		free_set(l.k, l.n);
		return rc;
	}
	if (l.oom) {
		free_set(l.k, l.n);
		return -ENOMEM;
	}
	pthread_rwlock_wrlock(&ks->lock);
	struct authz_key *old = ks->k;
	size_t oldn = ks->n;
	ks->k = l.k;
	ks->n = l.n;
	pthread_rwlock_unlock(&ks->lock);
	free_set(old, oldn);
	return 0;
}

static int retired(const struct authz_key *k, int64_t now)
{
	return k->retires_at != 0 && now >= k->retires_at;
}

EVP_PKEY *authz_keys_find(struct authz_keys *ks, const char *kid, int64_t now, enum jws_alg *alg)
{
	EVP_PKEY *pub = NULL;
	pthread_rwlock_rdlock(&ks->lock);
	for (size_t i = 0; i < ks->n; i++) {
		struct authz_key *k = &ks->k[i];
		if (strcmp(k->kid, kid) == 0 && !retired(k, now) && EVP_PKEY_up_ref(k->pub) == 1) {
			pub = k->pub;
			*alg = k->alg;
			break;
		}
	}
	pthread_rwlock_unlock(&ks->lock);
	return pub;
}

/* 1 when a signs in preference to b: activated later; on the same second (a rotation
 * without grace right after the first key), the one not superseded (retires_at 0), then
 * the one made later. */
static int newer(const struct authz_key *a, const struct authz_key *b)
{
	if (a->activates_at != b->activates_at)
		return a->activates_at > b->activates_at;
	if ((a->retires_at == 0) != (b->retires_at == 0))
		return a->retires_at == 0;
	return a->created > b->created;
}

/* The index of node's signing key at now, or -1 (the caller holds the lock). */
static long signing_locked(struct authz_keys *ks, const char *node, int64_t now)
{
	long best = -1;
	for (size_t i = 0; i < ks->n; i++) {
		struct authz_key *k = &ks->k[i];
		if (strcmp(k->node, node) != 0 || k->activates_at > now || retired(k, now))
			continue;
		if (best < 0 || newer(k, &ks->k[best]))
			best = (long)i;
	}
	return best;
}

int authz_keys_signing(struct authz_keys *ks, const char *node, int64_t now, char kid[44],
                       enum jws_alg *alg)
{
	pthread_rwlock_rdlock(&ks->lock);
	long i = signing_locked(ks, node, now);
	if (i >= 0) {
		memcpy(kid, ks->k[i].kid, 44);
		*alg = ks->k[i].alg;
	}
	pthread_rwlock_unlock(&ks->lock);
	return i >= 0 ? 0 : -ENOENT;
}

int authz_keys_node_has_key(struct authz_keys *ks, const char *node, int64_t now)
{
	int has = 0;
	pthread_rwlock_rdlock(&ks->lock);
	for (size_t i = 0; i < ks->n && !has; i++)
		has = strcmp(ks->k[i].node, node) == 0 && ks->k[i].retires_at == 0;
	(void)now;
	pthread_rwlock_unlock(&ks->lock);
	return has;
}

const char *authz_key_state(int64_t activates_at, int64_t retires_at, int64_t now, int signing)
{
	if (retires_at != 0 && now >= retires_at)
		return "retired";
	if (signing)
		return "active";
	if (now < activates_at)
		return "next";
	return retires_at != 0 ? "retiring" : "active";
}

int authz_keys_jwks(struct authz_keys *ks, int64_t now, char **json, size_t *len)
{
	json_t *doc = json_object(), *arr = json_array();
	int rc = doc && arr && json_object_set(doc, "keys", arr) == 0 ? 0 : -ENOMEM;
	pthread_rwlock_rdlock(&ks->lock);
	for (size_t i = 0; i < ks->n && rc == 0; i++) {
		json_t *jwk;
		if (retired(&ks->k[i], now))
			continue;
		rc = authz_jwk_of_key(ks->k[i].pub, ks->k[i].alg, ks->k[i].kid, &jwk);
		if (rc == 0 && json_array_append_new(arr, jwk) != 0)
			rc = -ENOMEM;
	}
	pthread_rwlock_unlock(&ks->lock);
	char *txt = rc == 0 ? json_dumps(doc, JSON_COMPACT | JSON_PRESERVE_ORDER) : NULL;
	json_decref(arr);
	json_decref(doc);
	if (!txt)
		return rc ? rc : -ENOMEM;
	*json = txt;
	*len = strlen(txt);
	return 0;
}
