/* SPDX-License-Identifier: ISC */
#include "tls/trust.h"

#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

struct anchor {
	char *level;
	X509 *cert;
};

struct ident {
	char *level, *name;
};

struct tls_trust {
	struct anchor *a;
	size_t na, capa;
	struct ident *i;
	size_t ni, capi;
};

const char *tls_trust_level_ok(const char *level)
{
	if (strncmp(level, "kind=", 5) == 0 || strncmp(level, "interface=", 10) == 0)
		return NULL;
	return "trust anchors and client identities are set per kind (kind=NAME) or per "
	       "listener (interface=KIND@ADDRESS:PORT), not at system or transport level";
}

struct tls_trust *tls_trust_new(void)
{
	return calloc(1, sizeof(struct tls_trust));
}

/* Room for one more element of size sz in *v (n used, *cap allocated). */
static int grow(void **v, size_t n, size_t *cap, size_t sz)
{
	if (n < *cap)
		return 0;
	size_t nc = *cap ? *cap * 2 : 8;
	void *p = realloc(*v, nc * sz);
	if (!p)
		return -1;
	*v = p;
	*cap = nc;
	return 0;
}

int tls_trust_add_anchor(struct tls_trust *t, const char *level, const char *pem)
{
	if (grow((void **)&t->a, t->na, &t->capa, sizeof *t->a) != 0)
		return -1;
	BIO *b = BIO_new_mem_buf(pem, -1);
	X509 *x = b ? PEM_read_bio_X509(b, NULL, NULL, NULL) : NULL;
	BIO_free(b);
	char *l = strdup(level);
	if (!x || !l) {
		X509_free(x);
		free(l);
		return -1;
	}
	t->a[t->na++] = (struct anchor){l, x};
	return 0;
}

int tls_trust_add_identity(struct tls_trust *t, const char *level, const char *name)
{
	if (grow((void **)&t->i, t->ni, &t->capi, sizeof *t->i) != 0)
		return -1;
	char *l = strdup(level), *n = strdup(name);
	if (!l || !n) {
		free(l);
		free(n);
		return -1;
	}
	t->i[t->ni++] = (struct ident){l, n};
	return 0;
}

void tls_trust_free(struct tls_trust *t)
{
	if (!t)
		return;
	for (size_t k = 0; k < t->na; k++) {
		free(t->a[k].level);
		X509_free(t->a[k].cert);
	}
	for (size_t k = 0; k < t->ni; k++) {
		free(t->i[k].level);
		free(t->i[k].name);
	}
	free(t->a);
	free(t->i);
	free(t);
}

void tls_names_free(struct tls_names *n)
{
	if (!n)
		return;
	for (size_t k = 0; k < n->n; k++)
		free(n->v[k]);
	free(n->v);
	n->v = NULL;
	n->n = 0;
}

/* Is level one of the listener's interface (levels[0]) or kind (levels[1]) levels? */
static int applies(const char *level, const char levels[TLS_LEVELS][TLS_LEVEL_MAX])
{
	return strcmp(level, levels[0]) == 0 || strcmp(level, levels[1]) == 0;
}

int tls_trust_for(const struct tls_trust *t, const char levels[TLS_LEVELS][TLS_LEVEL_MAX],
                  X509_STORE *store, STACK_OF(X509_NAME) * names, struct tls_names *ids)
{
	int n = 0;
	if (ids)
		memset(ids, 0, sizeof *ids);
	for (size_t k = 0; t && k < t->na; k++) {
		if (!applies(t->a[k].level, levels))
			continue;
		n++;
		/* The same certificate at both levels is one anchor: OpenSSL says so, harmless. */
		if (store && X509_STORE_add_cert(store, t->a[k].cert) != 1)
			ERR_clear_error();
		X509_NAME *nm = names ? X509_NAME_dup(X509_get_subject_name(t->a[k].cert)) : NULL;
		if (nm && !sk_X509_NAME_push(names, nm))
			X509_NAME_free(nm);
	}
	size_t cap = 0;
	for (size_t k = 0; ids && t && k < t->ni; k++) {
		if (!applies(t->i[k].level, levels))
			continue;
		char *s = strdup(t->i[k].name);
		if (!s || grow((void **)&ids->v, ids->n, &cap, sizeof *ids->v) != 0) {
			free(s);
			tls_names_free(ids);
			return -1;
		}
		ids->v[ids->n++] = s;
	}
	return n;
}

/* --- the snapshot ---------------------------------------------------------------------- */

static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static struct tls_trust *snap;
static unsigned long generation = 1; /* under mu */

void tls_trust_install(struct tls_trust *t)
{
	pthread_mutex_lock(&mu);
	struct tls_trust *old = snap;
	snap = t;
	generation++;
	pthread_mutex_unlock(&mu);
	tls_trust_free(old);
}

int tls_trust_current(const char levels[TLS_LEVELS][TLS_LEVEL_MAX], X509_STORE *store,
                      STACK_OF(X509_NAME) * names, struct tls_names *ids)
{
	pthread_mutex_lock(&mu);
	int n = tls_trust_for(snap, levels, store, names, ids);
	pthread_mutex_unlock(&mu);
	return n;
}

int tls_trust_allows(const char levels[TLS_LEVELS][TLS_LEVEL_MAX], const char *name)
{
	int ok = 0;
	pthread_mutex_lock(&mu);
	for (size_t k = 0; snap && k < snap->ni && !ok; k++)
		ok = applies(snap->i[k].level, levels) && strcasecmp(snap->i[k].name, name) == 0;
	pthread_mutex_unlock(&mu);
	return ok;
}

unsigned long tls_trust_generation(void)
{
	pthread_mutex_lock(&mu);
	unsigned long g = generation;
	pthread_mutex_unlock(&mu);
	return g;
}

void tls_trust_clear(void)
{
	tls_trust_install(NULL);
}
