/* SPDX-License-Identifier: ISC */
#include "tls/tlsctx.h"
#include "core/log.h"
#include "core/util.h"
#include "tls/apply.h"
#include "tls/policy.h"

#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/x509.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

struct fstamp {
	dev_t dev;
	ino_t ino;
	off_t size;
	struct timespec mtime;
	int missing;
};

struct tlsctx {
	char name[32];
	char cert[512], key[512], client_ca[512];
	int (*verify)(int, X509_STORE_CTX *);
	void *app;
	/* The listener, for the TLS policy (tls/policy.h); kind "" = no policy (tests). */
	char kind[32], address[64];
	int port;
	pthread_mutex_t mu; /* guards ctx, the stamps and policy_gen */
	SSL_CTX *ctx;
	struct fstamp st[3];
	unsigned long policy_gen; /* the policy generation ctx was built under */
	struct tlsctx *next;      /* registry for tlsctx_check_all */
};

static pthread_mutex_t reg_mu = PTHREAD_MUTEX_INITIALIZER;
static struct tlsctx *reg_head;

static void stamp(const char *path, struct fstamp *s)
{
	struct stat sb;
	memset(s, 0, sizeof *s);
	if (!path[0])
		return;
	if (stat(path, &sb) != 0) {
		s->missing = 1;
		return;
	}
	s->dev = sb.st_dev;
	s->ino = sb.st_ino;
	s->size = sb.st_size;
	s->mtime = sb.st_mtim;
}

static int stamp_eq(const struct fstamp *a, const struct fstamp *b)
{
	return a->dev == b->dev && a->ino == b->ino && a->size == b->size &&
	       a->mtime.tv_sec == b->mtime.tv_sec && a->mtime.tv_nsec == b->mtime.tv_nsec &&
	       a->missing == b->missing;
}

static void ssl_error(char *err, size_t errlen, const char *what, const char *path)
{
	char e[200] = "no detail";
	unsigned long code = ERR_get_error();
	if (code)
		ERR_error_string_n(code, e, sizeof e);
	ERR_clear_error();
	snprintf(err, errlen, "%s %s: %s", what, path, e);
}

static SSL_CTX *build(const struct tlsctx *t, char *err, size_t errlen)
{
	SSL_CTX *ctx = SSL_CTX_new(TLS_server_method());
	if (!ctx || !SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION)) {
		ssl_error(err, errlen, "TLS context for", t->name);
		SSL_CTX_free(ctx);
		return NULL;
	}
	if (t->kind[0]) {
		struct tls_listener_id id = {t->kind, t->address, t->port};
		struct tls_effective e;
		char why[300] = "";
		if (tls_policy_effective(&id, &e) != 0 ||
		    tls_apply(ctx, &e, why, sizeof why) != 0) {
			snprintf(err, errlen, "TLS policy of %s@%s:%d: %s", t->kind, t->address,
			         t->port, why[0] ? why : "unknown kind");
			SSL_CTX_free(ctx);
			return NULL;
		}
	}
	if (SSL_CTX_use_certificate_chain_file(ctx, t->cert) != 1) {
		ssl_error(err, errlen, "certificate", t->cert);
		goto fail;
	}
	/* The key file's content never reaches a message: only OpenSSL's reason. */
	if (SSL_CTX_use_PrivateKey_file(ctx, t->key, SSL_FILETYPE_PEM) != 1 ||
	    SSL_CTX_check_private_key(ctx) != 1) {
		ssl_error(err, errlen, "private key", t->key);
		goto fail;
	}
	SSL_CTX_set_options(ctx, SSL_OP_NO_RENEGOTIATION | SSL_OP_CIPHER_SERVER_PREFERENCE);
	if (t->client_ca[0]) {
		if (SSL_CTX_load_verify_locations(ctx, t->client_ca, NULL) != 1) {
			ssl_error(err, errlen, "trust store", t->client_ca);
			goto fail;
		}
		/* The CA names tell a client which certificate to present. */
		STACK_OF(X509_NAME) *names = SSL_load_client_CA_file(t->client_ca);
		if (names)
			SSL_CTX_set_client_CA_list(ctx, names);
		SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT,
		                   t->verify);
		SSL_CTX_set_verify_depth(ctx, 8);
		/* No session resumption: every connection proves its certificate afresh, so a
		 * removed identity cannot come back through a cached session. */
		SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_OFF);
		SSL_CTX_set_options(ctx, SSL_OP_NO_TICKET);
	}
	SSL_CTX_set_app_data(ctx, t->app);
	return ctx;
fail:
	SSL_CTX_free(ctx);
	return NULL;
}

struct tlsctx *tlsctx_new(const struct tlsctx_options *o, char *err, size_t errlen)
{
	struct tlsctx *t = calloc(1, sizeof *t);
	if (!t) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	tg_strlcpy(t->name, o->name ? o->name : "tls", sizeof t->name);
	if (tg_strlcpy(t->cert, o->cert, sizeof t->cert) != 0 ||
	    tg_strlcpy(t->key, o->key, sizeof t->key) != 0 ||
	    tg_strlcpy(t->client_ca, o->client_ca ? o->client_ca : "", sizeof t->client_ca) != 0) {
		snprintf(err, errlen, "%s: a TLS file path is too long", t->name);
		free(t);
		return NULL;
	}
	t->verify = o->verify;
	t->app = o->app;
	if (o->kind &&
	    (tg_strlcpy(t->kind, o->kind, sizeof t->kind) != 0 ||
	     tg_strlcpy(t->address, o->address ? o->address : "", sizeof t->address) != 0)) {
		snprintf(err, errlen, "%s: listener kind or address too long", t->name);
		free(t);
		return NULL;
	}
	t->port = o->port;
	t->policy_gen = tls_policy_generation();
	pthread_mutex_init(&t->mu, NULL);
	stamp(t->cert, &t->st[0]);
	stamp(t->key, &t->st[1]);
	stamp(t->client_ca, &t->st[2]);
	if (!(t->ctx = build(t, err, errlen))) {
		pthread_mutex_destroy(&t->mu);
		free(t);
		return NULL;
	}
	pthread_mutex_lock(&reg_mu);
	t->next = reg_head;
	reg_head = t;
	pthread_mutex_unlock(&reg_mu);
	return t;
}

void tlsctx_free(struct tlsctx *t)
{
	if (!t)
		return;
	pthread_mutex_lock(&reg_mu);
	for (struct tlsctx **pp = &reg_head; *pp; pp = &(*pp)->next)
		if (*pp == t) {
			*pp = t->next;
			break;
		}
	pthread_mutex_unlock(&reg_mu);
	SSL_CTX_free(t->ctx);
	pthread_mutex_destroy(&t->mu);
	free(t);
}

SSL *tlsctx_ssl_new(struct tlsctx *t)
{
	pthread_mutex_lock(&t->mu);
	SSL *s = SSL_new(t->ctx);
	pthread_mutex_unlock(&t->mu);
	return s;
}

int tlsctx_check(struct tlsctx *t, int force, char *err, size_t errlen)
{
	struct fstamp now[3];
	stamp(t->cert, &now[0]);
	stamp(t->key, &now[1]);
	stamp(t->client_ca, &now[2]);
	pthread_mutex_lock(&t->mu);
	unsigned long gen = tls_policy_generation();
	int same = stamp_eq(&now[0], &t->st[0]) && stamp_eq(&now[1], &t->st[1]) &&
	           stamp_eq(&now[2], &t->st[2]) && (!t->kind[0] || t->policy_gen == gen);
	pthread_mutex_unlock(&t->mu);
	if (same && !force)
		return 0;
	SSL_CTX *n = build(t, err, errlen);
	pthread_mutex_lock(&t->mu);
	t->policy_gen = gen; /* a policy that failed is not retried until it changes again */
	/* Remember the files even when they fail, so a half-written file is reported once
	 * and retried when it changes again. */
	memcpy(t->st, now, sizeof now);
	SSL_CTX *old = NULL;
	if (n) {
		old = t->ctx;
		t->ctx = n;
	}
	pthread_mutex_unlock(&t->mu);
	SSL_CTX_free(old);
	return n ? 1 : -1;
}

void *tlsctx_app_of(X509_STORE_CTX *x)
{
	SSL *ssl = X509_STORE_CTX_get_ex_data(x, SSL_get_ex_data_X509_STORE_CTX_idx());
	return ssl ? SSL_CTX_get_app_data(SSL_get_SSL_CTX(ssl)) : NULL;
}

void tlsctx_fingerprint(struct tlsctx *t, char *out, size_t cap)
{
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned n = 0;
	out[0] = '\0';
	pthread_mutex_lock(&t->mu);
	X509 *leaf = SSL_CTX_get0_certificate(t->ctx);
	if (leaf)
		X509_digest(leaf, EVP_sha256(), md, &n);
	pthread_mutex_unlock(&t->mu);
	size_t o = 0;
	for (unsigned i = 0; i < n && o + 4 <= cap; i++)
		o += (size_t)snprintf(out + o, cap - o, i ? ":%02X" : "%02X", md[i]);
}

void tlsctx_check_all(int force)
{
	pthread_mutex_lock(&reg_mu);
	for (struct tlsctx *t = reg_head; t; t = t->next) {
		char err[400] = "";
		int rc = tlsctx_check(t, force, err, sizeof err);
		if (rc > 0) {
			char fp[100];
			tlsctx_fingerprint(t, fp, sizeof fp);
			log_ev(LOG_LVL_NOTICE, NULL, "tls_reloaded", LOG_S("listener", t->name),
			       LOG_S("certificate", t->cert),
			       LOG_S("trust_store", t->client_ca[0] ? t->client_ca : NULL),
			       LOG_S("sha256", fp));
		} else if (rc < 0) {
			log_ev(LOG_LVL_ERROR, NULL, "tls_reload_failed", LOG_S("listener", t->name),
			       LOG_S("error", err),
			       LOG_S("kept", "previous certificate and trust store"));
		}
	}
	pthread_mutex_unlock(&reg_mu);
}

void tlsctx_foreach(void (*fn)(void *arg, const struct tlsctx_info *i), void *arg)
{
	pthread_mutex_lock(&reg_mu);
	for (struct tlsctx *t = reg_head; t; t = t->next) {
		struct tlsctx_info i = {t->name, t->kind, t->address, t->port,
		                        t->client_ca[0] != 0};
		fn(arg, &i);
	}
	pthread_mutex_unlock(&reg_mu);
}
