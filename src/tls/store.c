/* SPDX-License-Identifier: ISC */
#include "tls/store.h"

#include "tls/apply.h"
#include "tls/tlsctx.h"
#include "tls/trust.h"

#include <openssl/evp.h>
#include <openssl/ssl.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int row_add(struct tls_rows *r, const char *level, const char *name, const char *value)
{
	if (r->n == r->cap) {
		size_t cap = r->cap ? r->cap * 2 : 16;
		struct tls_row *n = realloc(r->row, cap * sizeof *n);
		if (!n)
			return -1;
		r->row = n;
		r->cap = cap;
	}
	char *l = strdup(level), *k = strdup(name), *v = strdup(value);
	if (!l || !k || !v) {
		free(l);
		free(k);
		free(v);
		return -1;
	}
	r->row[r->n++] = (struct tls_row){l, k, v};
	return 0;
}

static void row_free(struct tls_row *w)
{
	free((char *)w->level);
	free((char *)w->name);
	free((char *)w->value);
}

void tls_rows_free(struct tls_rows *r)
{
	for (size_t i = 0; i < r->n; i++)
		row_free(&r->row[i]);
	free(r->row);
	memset(r, 0, sizeof *r);
}

static int collect(void *ud, const char *level, const char *name, const char *value)
{
	return row_add(ud, level, name, value) == 0 ? 0 : 1;
}

int tls_rows_load(store_t *st, struct tls_rows *r)
{
	memset(r, 0, sizeof *r);
	int rc = store_tls_settings(st, collect, r);
	if (rc != STORE_OK)
		tls_rows_free(r);
	return rc;
}

const char *tls_rows_get(const struct tls_rows *r, const char *level, const char *name)
{
	for (size_t i = 0; i < r->n; i++)
		if (strcmp(r->row[i].level, level) == 0 && strcmp(r->row[i].name, name) == 0)
			return r->row[i].value;
	return NULL;
}

int tls_rows_set(struct tls_rows *r, const char *level, const char *name, const char *value)
{
	for (size_t i = 0; i < r->n; i++) {
		if (strcmp(r->row[i].level, level) != 0 || strcmp(r->row[i].name, name) != 0)
			continue;
		if (!value) {
			row_free(&r->row[i]);
			r->row[i] = r->row[--r->n];
			return 0;
		}
		char *v = strdup(value);
		if (!v)
			return -1;
		free((char *)r->row[i].value);
		r->row[i].value = v;
		return 0;
	}
	return value ? row_add(r, level, name, value) : 0;
}

/* A load in progress: the trust snapshot being built, and a digest of everything read
 * (so a refresh can tell that nothing changed without comparing snapshots). */
struct load {
	struct tls_trust *t;
	EVP_MD_CTX *md;
};

/* Feeds a length-prefixed string to the digest: ("ab","c") and ("a","bc") differ. */
static void digest_str(struct load *l, const char *s)
{
	uint64_t n = s ? strlen(s) : UINT64_MAX;
	EVP_DigestUpdate(l->md, &n, sizeof n);
	if (s)
		EVP_DigestUpdate(l->md, s, n);
}

static int anchor_in(void *ud, const struct store_anchor *a)
{
	struct load *l = ud;
	digest_str(l, a->level);
	digest_str(l, a->pem);
	/* A stored anchor that no longer parses is left out (it was checked at upload). */
	(void)tls_trust_add_anchor(l->t, a->level, a->pem);
	return 0;
}

static int identity_in(void *ud, const char *level, const char *name)
{
	struct load *l = ud;
	digest_str(l, level);
	digest_str(l, name);
	return tls_trust_add_identity(l->t, level, name) == 0 ? 0 : 1;
}

/* The digest of what the snapshots were last loaded from (tls_policy_load, refresh). */
static pthread_mutex_t loaded_mu = PTHREAD_MUTEX_INITIALIZER;
static unsigned char loaded_md[EVP_MAX_MD_SIZE];
static int loaded_valid;

/* Reads the stored settings, anchors and identities; installs them into the snapshots
 * unless only_changed and their digest is the one last installed (*changed says which). */
static int load(store_t *st, int only_changed, int *changed)
{
	*changed = 0;
	struct tls_rows r;
	int rc = tls_rows_load(st, &r);
	if (rc != STORE_OK)
		return rc;
	struct load l = {tls_trust_new(), EVP_MD_CTX_new()};
	unsigned char md[EVP_MAX_MD_SIZE] = {0}; /* SHA-256 fills 32 bytes: memcmp reads all */
	if (!l.t || !l.md || !EVP_DigestInit_ex(l.md, EVP_sha256(), NULL))
		rc = STORE_ERROR;
	for (size_t i = 0; rc == STORE_OK && i < r.n; i++) {
		digest_str(&l, r.row[i].level);
		digest_str(&l, r.row[i].name);
		digest_str(&l, r.row[i].value);
	}
	if (rc == STORE_OK) {
		digest_str(&l, NULL); /* the end of the rows */
		rc = store_anchors(st, NULL, anchor_in, &l);
	}
	if (rc == STORE_OK) {
		digest_str(&l, NULL);
		rc = store_identities(st, NULL, identity_in, &l);
	}
	if (rc == STORE_OK && !EVP_DigestFinal_ex(l.md, md, NULL))
		rc = STORE_ERROR;
	EVP_MD_CTX_free(l.md);
	if (rc != STORE_OK) {
		tls_trust_free(l.t);
		tls_rows_free(&r);
		return rc;
	}
	pthread_mutex_lock(&loaded_mu);
	if (!only_changed || !loaded_valid || memcmp(md, loaded_md, sizeof md) != 0) {
		if (tls_policy_set_rows(r.row, r.n) == 0) {
			tls_trust_install(l.t);
			l.t = NULL;
			memcpy(loaded_md, md, sizeof md);
			loaded_valid = 1;
			*changed = 1;
		} else {
			rc = STORE_ERROR;
		}
	}
	pthread_mutex_unlock(&loaded_mu);
	tls_trust_free(l.t);
	tls_rows_free(&r);
	return rc;
}

int tls_policy_load(store_t *st)
{
	int changed;
	return load(st, 0, &changed);
}

int tls_policy_refresh(store_t *st, int *changed)
{
	return load(st, 1, changed);
}

struct check {
	const struct tls_rows *r;
	const char *const *defaults;
	char *err;
	size_t errlen;
	int bad;
};

static void check_one(void *arg, const struct tlsctx_info *i)
{
	struct check *c = arg;
	if (c->bad || !i->kind[0])
		return;
	struct tls_listener_id id = {i->kind, i->address, i->port};
	struct tls_effective e;
	char why[300] = "";
	SSL_CTX *ctx = SSL_CTX_new(TLS_server_method());
	/* The suites must also suit the certificate the listener serves (an ECDSA one cannot
	 * use ECDHE_RSA suites). */
	EVP_PKEY *key = i->leaf ? X509_get0_pubkey(i->leaf) : NULL;
	if (!ctx || tls_resolve(c->r->row, c->r->n, &id, c->defaults, &e) != 0 ||
	    tls_apply(ctx, &e, why, sizeof why) != 0 ||
	    (key && tls_key_fits(ctx, key, why, sizeof why) != 0)) {
		char levels[TLS_LEVELS][TLS_LEVEL_MAX];
		tls_levels_of(&id, levels);
		snprintf(c->err, c->errlen, "%s could no longer handshake: %s", levels[0],
		         why[0] ? why : "out of memory");
		c->bad = 1;
	}
	SSL_CTX_free(ctx);
}

int tls_rows_check(const struct tls_rows *r, char *err, size_t errlen)
{
	const char *defaults[TLS_SETTINGS];
	tls_policy_defaults(defaults);
	struct check c = {r, defaults, err, errlen, 0};
	tlsctx_foreach(check_one, &c);
	return c.bad ? -1 : 0;
}
