/* SPDX-License-Identifier: ISC */
/*
 * tlsctx: a server TLS context that follows its files. A listener makes each new
 * connection's SSL from the current context; when the certificate, key or trust-store file
 * changes on disk (mtime, size or inode), tlsctx_check() builds a new context and swaps it
 * in, so replacing a certificate or a CA bundle needs no restart. Connections already up
 * keep the context they started with (OpenSSL counts the references). A file that fails to
 * load leaves the running context in place and says why.
 *
 * TLS 1.2 minimum, no renegotiation, server cipher preference. With a client CA file, a
 * client certificate is required and verified against it (alert unknown_ca / bad
 * certificate otherwise); an optional callback adds checks at each depth (identity
 * allow-lists).
 *
 * Thread-safe: tlsctx_ssl_new() and tlsctx_check() may run on any threads. Ownership: the
 * caller owns the struct tlsctx and the SSL objects it gets; the option strings are copied.
 */
#ifndef TG_TLSCTX_H
#define TG_TLSCTX_H

#include <openssl/ssl.h>
#include <stddef.h>

struct tlsctx;

struct tlsctx_options {
	const char *name;      /* for logs: "sip-tls", "sip-edge", ... */
	const char *cert;      /* PEM chain, leaf first */
	const char *key;       /* PEM private key */
	const char *client_ca; /* NULL or "": no client certificate asked */
	/* Called as OpenSSL's verify callback with app set on the context (SSL_CTX app data). */
	int (*verify)(int preverify_ok, X509_STORE_CTX *x);
	void *app;
	/* The listener (tls/level.h): its kind ("sip-tls", "cti-tls", ...), bound address
	 * and port. With a kind, every context built takes the listener's effective TLS
	 * policy (tls/policy.h: protocols and cipher suites) and is rebuilt when the policy
	 * changes (tlsctx_check); a policy this OpenSSL cannot apply fails the build. NULL:
	 * telgate's fixed settings (TLS 1.2 minimum, OpenSSL's default suites). */
	const char *kind, *address;
	int port;
};

struct tlsctx *tlsctx_new(const struct tlsctx_options *o, char *err, size_t errlen);
void tlsctx_free(struct tlsctx *t);

/* A new server-side SSL from the current context, or NULL. */
SSL *tlsctx_ssl_new(struct tlsctx *t);

/* Reloads when a file changed or the TLS policy changed (or always with force). Returns 1 when a
 * new context is in use, 0 when nothing changed, -1 when the files do not load (the old context
 * stays; err says why). Blocking file I/O: call off the serving loops. */
int tlsctx_check(struct tlsctx *t, int force, char *err, size_t errlen);

/* Checks every live context (the daemon's timer and SIGHUP call this) and logs what was
 * reloaded or why a reload failed. */
void tlsctx_check_all(int force);

/* Every live context, for `telgate tls show`: fn runs under the registry's lock (it must
 * not create or free a context). */
struct tlsctx_info {
	const char *name, *kind, *address; /* kind "" when the context has no policy */
	int port;
	int client_auth; /* a client certificate is required */
};
void tlsctx_foreach(void (*fn)(void *arg, const struct tlsctx_info *i), void *arg);

/* The app pointer given in the options, from a verify callback's store context. */
void *tlsctx_app_of(X509_STORE_CTX *x);

/* The SHA-256 fingerprint of the current leaf certificate (colon-separated hex). */
void tlsctx_fingerprint(struct tlsctx *t, char *out, size_t cap);

#endif
