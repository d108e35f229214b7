/* SPDX-License-Identifier: ISC */
#include "tls/tlsctx.h"
#include "tls/tickets.h"
#include "core/alarm.h"
#include "core/log.h"
#include "core/util.h"
#include "tls/anchor.h"
#include "tls/apply.h"
#include "tls/policy.h"
#include "tls/servercert.h"
#include "tls/trust.h"

#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
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
	int client_ca_optional; /* client_ca verifies a certificate asked for, not required */
	int policy_require;     /* a certificate the policy asks for is required */
	int (*verify)(int, X509_STORE_CTX *);
	void *app;
	/* The listener, for the TLS policy (tls/policy.h); kind "" = no policy (tests). */
	char kind[32], address[64];
	int port;
	/* The interface override (tls cert update): used when both files exist. "" when
	 * no interface directory was set or the context has no listener kind. */
	char ocert[600], okey[600];
	pthread_mutex_t mu; /* guards ctx, the stamps, the generations, override and expiry */
	SSL_CTX *ctx;
	struct fstamp st[5];        /* cert, key, client CA, override cert, override key */
	int override;               /* ctx was built from the override files */
	int64_t not_after;          /* the leaf's notAfter (Unix s), cached at build: 0 unknown */
	unsigned char fp[32];       /* the leaf's SHA-256, cached at build */
	unsigned char alarm_fp[32]; /* the leaf the expiry alarm was last raised for */
	int64_t alarm_s;            /* and when */
	unsigned long policy_gen;   /* the policy generation ctx was built under */
	unsigned long trust_gen;    /* the trust (anchors, identities) generation likewise */
	struct tlsctx *next;        /* registry for tlsctx_check_all */
};

static pthread_mutex_t reg_mu = PTHREAD_MUTEX_INITIALIZER;
static struct tlsctx *reg_head;
/* Set once at start, before any context exists (tlsctx_set_interface_dir). */
static char iface_dir[512];

void tlsctx_set_interface_dir(const char *dir)
{
	tg_strlcpy(iface_dir, dir ? dir : "", sizeof iface_dir);
}

int tlsctx_override_dir(const char *kind, const char *address, int port, char *out, size_t cap)
{
	if (!iface_dir[0] || !kind || !kind[0] || strchr(kind, '/') || strchr(address, '/'))
		return -1;
	int n = snprintf(out, cap, "%s/%s@%s_%d", iface_dir, kind, address, port);
	return n < 0 || (size_t)n >= cap ? -1 : 0;
}

/* Both override files present: the listener uses them. */
static int override_present(const struct tlsctx *t, const struct fstamp st[5])
{
	return t->ocert[0] && !st[3].missing && !st[4].missing;
}

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

/* What a context's verify callback needs, kept on the SSL_CTX (ex data, freed with it):
 * the listener's own callback and the client identities of its levels (tls/trust.h) as
 * they were when the context was built. */
struct verify_data {
	int (*own)(int, X509_STORE_CTX *);
	struct tls_names ids;
	char name[32];
};

static int verify_idx = -1;
static pthread_once_t verify_once = PTHREAD_ONCE_INIT;

static void verify_data_free(void *parent, void *ptr, CRYPTO_EX_DATA *ad, int idx, long argl,
                             void *argp)
{
	(void)parent;
	(void)ad;
	(void)idx;
	(void)argl;
	(void)argp;
	struct verify_data *v = ptr;
	if (!v)
		return;
	tls_names_free(&v->ids);
	free(v);
}

static void verify_index(void)
{
	verify_idx = SSL_CTX_get_ex_new_index(0, NULL, NULL, NULL, verify_data_free);
}

/* Every client certificate goes through here: the chain (OpenSSL's verdict: an unknown
 * issuer ends in alert unknown_ca), then at depth 0 the identity: one of the identities of
 * the listener's levels, or what its own callback allows (the edge's allow-list). A
 * certificate neither accepts fails with X509_V_ERR_CERT_REJECTED: alert bad_certificate.
 * Without identities at its levels nor a callback, any certificate that chains to an
 * anchor is accepted. */
static int tls_verify(int ok, X509_STORE_CTX *x)
{
	SSL *ssl = X509_STORE_CTX_get_ex_data(x, SSL_get_ex_data_X509_STORE_CTX_idx());
	struct verify_data *v = ssl ? SSL_CTX_get_ex_data(SSL_get_SSL_CTX(ssl), verify_idx) : NULL;
	if (!v)
		return 0;
	int depth = X509_STORE_CTX_get_error_depth(x);
	X509 *cert = X509_STORE_CTX_get_current_cert(x);
	char subject[256] = "?";
	if (cert)
		X509_NAME_oneline(X509_get_subject_name(cert), subject, sizeof subject);
	if (!ok || depth > 0) {
		if (v->own)
			return v->own(ok, x);
		if (!ok)
			log_ev(LOG_LVL_WARNING, NULL, "tls_client_rejected",
			       LOG_S("listener", v->name),
			       LOG_S("reason",
			             X509_verify_cert_error_string(X509_STORE_CTX_get_error(x))),
			       LOG_I("depth", depth), LOG_S("subject", subject));
		return ok;
	}
	int accept =
	    cert && v->ids.n && tls_identity_matches(cert, (const char *const *)v->ids.v, v->ids.n);
	if (!accept && v->own)
		accept = v->own(ok, x);
	else if (!accept && !v->ids.n)
		accept = 1;
	if (accept) {
		log_ev(LOG_LVL_INFO, NULL, "tls_client_verified", LOG_S("listener", v->name),
		       LOG_S("subject", subject));
		X509_STORE_CTX_set_error(x, X509_V_OK);
		return 1;
	}
	if (!v->own) /* the listener's own callback logged its refusal */
		log_ev(LOG_LVL_WARNING, NULL, "tls_client_rejected", LOG_S("listener", v->name),
		       LOG_S("reason", "no certificate name is an allowed client identity"),
		       LOG_S("subject", subject));
	X509_STORE_CTX_set_error(x, X509_V_ERR_CERT_REJECTED); /* alert bad_certificate */
	return 0;
}

/* Client certificates: a listener with a client CA file requires one (or, with
 * client_ca_optional, asks for one), verified against the file plus the trust anchors of
 * its kind and interface levels; a listener without asks for one (optional) only when its
 * allowClientApp is true and it has anchors, and requires it then with policy_require. */
static int client_auth(const struct tlsctx *t, SSL_CTX *ctx, char *err, size_t errlen)
{
	char levels[TLS_LEVELS][TLS_LEVEL_MAX];
	struct tls_listener_id id = {t->kind, t->address, t->port};
	int leveled = t->kind[0] && tls_levels_of(&id, levels) == 0;
	int has_ca = t->client_ca[0] != 0;
	int require = has_ca && !t->client_ca_optional;
	if (has_ca && SSL_CTX_load_verify_locations(ctx, t->client_ca, NULL) != 1) {
		ssl_error(err, errlen, "trust store", t->client_ca);
		return -1;
	}
	/* The CA names tell a client which certificate to present. */
	STACK_OF(X509_NAME) *names = has_ca ? SSL_load_client_CA_file(t->client_ca) : NULL;
	if (!names)
		names = sk_X509_NAME_new_null();
	pthread_once(&verify_once, verify_index);
	struct verify_data *v = calloc(1, sizeof *v);
	int anchors = v && names && leveled
	                  ? tls_trust_current(levels, SSL_CTX_get_cert_store(ctx), names, &v->ids)
	                  : 0;
	struct tls_effective e;
	int request =
	    !require && (has_ca || (anchors > 0 && tls_policy_effective(&id, &e) == 0 &&
	                            strcmp(e.s[TLS_SET_ALLOW_CLIENT_APP].value, "true") == 0));
	if (request && t->policy_require)
		require = 1;
	if (!v || !names || anchors < 0 || (!require && !request)) {
		if (v)
			verify_data_free(NULL, v, NULL, 0, 0, NULL);
		sk_X509_NAME_pop_free(names, X509_NAME_free);
		if (!require && !request && anchors >= 0)
			return 0;
		snprintf(err, errlen, "%s: out of memory", t->name);
		return -1;
	}
	/* An uploaded anchor need not be a root (the seed uploads its issuing CA too): a
	 * chain that reaches any anchor is trusted. */
	if (anchors > 0)
		X509_STORE_set_flags(SSL_CTX_get_cert_store(ctx), X509_V_FLAG_PARTIAL_CHAIN);
	v->own = t->verify;
	tg_strlcpy(v->name, t->name, sizeof v->name);
	SSL_CTX_set_ex_data(ctx, verify_idx, v);
	SSL_CTX_set_client_CA_list(ctx, names);
	SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER | (require ? SSL_VERIFY_FAIL_IF_NO_PEER_CERT : 0),
	                   tls_verify);
	SSL_CTX_set_verify_depth(ctx, 8);
	/* No session resumption: every connection proves its certificate afresh, so a
	 * removed identity or anchor cannot come back through a cached session. */
	SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_OFF);
	SSL_CTX_set_options(ctx, SSL_OP_NO_TICKET);
	/* TLS 1.3 would still send (stateful) tickets that no cache can honour: none. */
	SSL_CTX_set_num_tickets(ctx, 0);
	return 0;
}

/* The certificate chain a client is sent, built once per context. A certificate file
 * without its chain would otherwise have OpenSSL build one from the verify store at every
 * handshake (ssl_add_cert_chain: X509_verify_cert, a signature check per connection: about
 * a fifth of a CTI TLS handshake's CPU, measured with bench/tls_handshakes.py). The result
 * is the same chain; a verification error keeps what was found, as the per-handshake
 * build does. A file with its own chain is sent as it is. Should the build fail (a CA
 * below the security level), OpenSSL keeps building per handshake and refuses there, as
 * before. */
static void chain_once(SSL_CTX *ctx)
{
	STACK_OF(X509) *own = NULL;
	if (SSL_CTX_get0_chain_certs(ctx, &own) == 1 && own != NULL && sk_X509_num(own) > 0)
		return;
	if (SSL_CTX_build_cert_chain(ctx, SSL_BUILD_CHAIN_FLAG_IGNORE_ERROR |
	                                      SSL_BUILD_CHAIN_FLAG_CLEAR_ERROR) == 0)
		ERR_clear_error();
}

static SSL_CTX *build(const struct tlsctx *t, int override, char *err, size_t errlen)
{
	const char *cert = override ? t->ocert : t->cert, *key = override ? t->okey : t->key;
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
	if (SSL_CTX_use_certificate_chain_file(ctx, cert) != 1) {
		ssl_error(err, errlen, "certificate", cert);
		goto fail;
	}
	/* The key file's content never reaches a message: only OpenSSL's reason. */
	if (SSL_CTX_use_PrivateKey_file(ctx, key, SSL_FILETYPE_PEM) != 1 ||
	    SSL_CTX_check_private_key(ctx) != 1) {
		ssl_error(err, errlen, "private key", key);
		goto fail;
	}
	SSL_CTX_set_options(ctx, SSL_OP_NO_RENEGOTIATION | SSL_OP_CIPHER_SERVER_PREFERENCE);
	if (client_auth(t, ctx, err, errlen) != 0)
		goto fail;
	chain_once(ctx);
	/* Without client certificates nothing is proved per connection that a resumed
	 * session would skip: reconnecting clients resume (tls/tickets.h). */
	if (SSL_CTX_get_verify_mode(ctx) == SSL_VERIFY_NONE && tls_tickets_enable(ctx) != 0) {
		ssl_error(err, errlen, "session tickets for", t->name);
		goto fail;
	}
	SSL_CTX_set_app_data(ctx, t->app);
	return ctx;
fail:
	SSL_CTX_free(ctx);
	return NULL;
}

/* Caches the leaf's notAfter and fingerprint, so the expiry check is a comparison
 * (not_after 0 when unreadable). Under t->mu, or before t is shared. */
static void leaf_cache(struct tlsctx *t)
{
	X509 *leaf = SSL_CTX_get0_certificate(t->ctx);
	struct tm tm;
	unsigned n = 0;
	t->not_after = 0;
	memset(t->fp, 0, sizeof t->fp);
	if (!leaf)
		return;
	X509_digest(leaf, EVP_sha256(), t->fp, &n);
	if (ASN1_TIME_to_tm(X509_get0_notAfter(leaf), &tm) == 1)
		t->not_after = (int64_t)timegm(&tm);
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
	t->client_ca_optional = o->client_ca_optional && t->client_ca[0];
	t->policy_require = o->policy_require;
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
	if (t->kind[0]) {
		char dir[512];
		if (tlsctx_override_dir(t->kind, t->address, t->port, dir, sizeof dir) == 0) {
			snprintf(t->ocert, sizeof t->ocert, "%s/%s", dir, TLSCTX_OVERRIDE_CERT);
			snprintf(t->okey, sizeof t->okey, "%s/%s", dir, TLSCTX_OVERRIDE_KEY);
		}
	}
	t->policy_gen = tls_policy_generation();
	t->trust_gen = tls_trust_generation();
	pthread_mutex_init(&t->mu, NULL);
	stamp(t->cert, &t->st[0]);
	stamp(t->key, &t->st[1]);
	stamp(t->client_ca, &t->st[2]);
	stamp(t->ocert, &t->st[3]);
	stamp(t->okey, &t->st[4]);
	t->override = override_present(t, t->st);
	/* A broken override must not keep the listener down: the node certificate serves
	 * and the next check reports the override again. */
	if (!(t->ctx = build(t, t->override, err, errlen)) && t->override) {
		log_ev(LOG_LVL_ERROR, NULL, "tls_override_failed", LOG_S("listener", t->name),
		       LOG_S("certificate", t->ocert), LOG_S("error", err),
		       LOG_S("serving", "node certificate"));
		t->override = 0;
		t->ctx = build(t, 0, err, errlen);
	}
	if (!t->ctx) {
		pthread_mutex_destroy(&t->mu);
		free(t);
		return NULL;
	}
	leaf_cache(t);
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
	struct fstamp now[5];
	stamp(t->cert, &now[0]);
	stamp(t->key, &now[1]);
	stamp(t->client_ca, &now[2]);
	stamp(t->ocert, &now[3]);
	stamp(t->okey, &now[4]);
	pthread_mutex_lock(&t->mu);
	unsigned long gen = tls_policy_generation(), tgen = tls_trust_generation();
	int same = 1;
	for (int i = 0; i < 5; i++)
		same = same && stamp_eq(&now[i], &t->st[i]);
	same = same && (!t->kind[0] || (t->policy_gen == gen && t->trust_gen == tgen));
	pthread_mutex_unlock(&t->mu);
	if (same && !force)
		return 0;
	int override = override_present(t, now);
	SSL_CTX *n = build(t, override, err, errlen);
	pthread_mutex_lock(&t->mu);
	t->policy_gen = gen; /* a policy that failed is not retried until it changes again */
	t->trust_gen = tgen;
	/* Remember the files even when they fail, so a half-written file is reported once
	 * and retried when it changes again. */
	memcpy(t->st, now, sizeof now);
	SSL_CTX *old = NULL;
	if (n) {
		old = t->ctx;
		t->ctx = n;
		t->override = override;
		leaf_cache(t);
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
	pthread_mutex_lock(&t->mu);
	X509 *leaf = SSL_CTX_get0_certificate(t->ctx);
	if (leaf)
		X509_up_ref(leaf);
	pthread_mutex_unlock(&t->mu);
	tls_cert_sha256(leaf, out, cap);
	X509_free(leaf);
}

/* The expiry alarm of one context, if due (see tlsctx_expiry_check_all). */
static void expiry_check(struct tlsctx *t, int64_t now)
{
	pthread_mutex_lock(&t->mu);
	int64_t left = t->not_after - now;
	int due = t->not_after && left < TLSCTX_EXPIRY_WARN_S &&
	          (memcmp(t->alarm_fp, t->fp, sizeof t->fp) != 0 ||
	           now - t->alarm_s >= TLSCTX_EXPIRY_REPEAT_S);
	if (due) {
		memcpy(t->alarm_fp, t->fp, sizeof t->fp);
		t->alarm_s = now;
	}
	int64_t not_after = t->not_after;
	int override = t->override;
	pthread_mutex_unlock(&t->mu);
	if (!due)
		return;
	char when[32];
	tg_fmt_time(not_after, when, sizeof when);
	char fp[100];
	tlsctx_fingerprint(t, fp, sizeof fp);
	char iface[160] = "";
	if (t->kind[0])
		snprintf(iface, sizeof iface, "%s@%s:%d", t->kind, t->address, t->port);
	alarm_ev("CertificateExpiryWarning", ALARM_WARNING, NULL, LOG_S("Listener", t->name),
	         LOG_S("Interface", iface[0] ? iface : NULL),
	         LOG_S("Source", override ? "interface override" : "node certificate"),
	         LOG_S("NotAfter", when), LOG_I("DaysLeft", left < 0 ? -1 : left / 86400),
	         LOG_S("SHA256", fp));
}

void tlsctx_expiry_check_all(int64_t now)
{
	pthread_mutex_lock(&reg_mu);
	for (struct tlsctx *t = reg_head; t; t = t->next)
		expiry_check(t, now);
	pthread_mutex_unlock(&reg_mu);
}

int tlsctx_reload_listener(const char *kind, const char *address, int port, char *err,
                           size_t errlen)
{
	int found = 0, rc = 0;
	pthread_mutex_lock(&reg_mu);
	for (struct tlsctx *t = reg_head; t; t = t->next) {
		if (strcmp(t->kind, kind) != 0 || strcmp(t->address, address) != 0 ||
		    t->port != port)
			continue;
		found = 1;
		/* Forced: the timer may have seen half an update (the key renamed, the
		 * certificate not yet) and remembered those stamps. */
		if (tlsctx_check(t, 1, err, errlen) < 0)
			rc = -1;
	}
	pthread_mutex_unlock(&reg_mu);
	return found ? rc : -2;
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
	tlsctx_expiry_check_all(tg_now_s());
}

void tlsctx_foreach(void (*fn)(void *arg, const struct tlsctx_info *i), void *arg)
{
	pthread_mutex_lock(&reg_mu);
	for (struct tlsctx *t = reg_head; t; t = t->next) {
		struct tlsctx_info i = {.name = t->name,
		                        .kind = t->kind,
		                        .address = t->address,
		                        .port = t->port,
		                        .client_auth = t->client_ca[0] && !t->client_ca_optional};
		/* The leaf is held for fn's duration: a reload may free the context. */
		pthread_mutex_lock(&t->mu);
		i.leaf = SSL_CTX_get0_certificate(t->ctx);
		if (i.leaf)
			X509_up_ref(i.leaf);
		i.override = t->override;
		pthread_mutex_unlock(&t->mu);
		fn(arg, &i);
		X509_free(i.leaf);
	}
	pthread_mutex_unlock(&reg_mu);
}
