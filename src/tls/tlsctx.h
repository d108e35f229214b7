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
 * certificate otherwise) — or, with client_ca_optional, asked for but not required: a
 * client without one completes the handshake and the protocol decides (the CTI login);
 * one that presents a certificate must still pass the verification. An optional callback
 * adds checks at each depth (identity allow-lists).
 *
 * Server certificate per interface (`telgate tls cert update`): with an interface directory
 * set (tlsctx_set_interface_dir), a context with a listener kind looks for
 * DIR/KIND@ADDRESS_PORT/key.pem and cert.pem; when both exist they replace the node
 * certificate and key given in the options, and they are followed like the other files
 * (removing them goes back to the node certificate). An override that fails to load at
 * start leaves the node certificate in use.
 *
 * Expiry: each context caches its leaf's notAfter; tlsctx_check_all raises the alarm
 * CertificateExpiryWarning (Warning) when it is under 30 days away, at most once a day per
 * listener and certificate.
 *
 * Thread-safe: tlsctx_ssl_new() and tlsctx_check() may run on any threads. Ownership: the
 * caller owns the struct tlsctx and the SSL objects it gets; the option strings are copied.
 */
#ifndef TG_TLSCTX_H
#define TG_TLSCTX_H

#include <openssl/ssl.h>
#include <stddef.h>
#include <stdint.h>

struct tlsctx;

struct tlsctx_options {
	const char *name;      /* for logs: "sip-tls", "sip-edge", ... */
	const char *cert;      /* PEM chain, leaf first */
	const char *key;       /* PEM private key */
	const char *client_ca; /* NULL or "": no client certificate asked */
	/* With client_ca: ask for a client certificate without requiring one (the CTI TLS
	 * port: its login decides; EST: HTTP Basic or a certificate). Verified against client_ca
	 * plus the trust anchors of the listener's levels, as a required one is. */
	int client_ca_optional;
	/* Without client_ca: when the listener's levels ask for client certificates (trust
	 * anchors and allowClientApp true), require one instead of asking (the cloud CTI
	 * interface: mutual TLS or nothing); otherwise none is asked for. */
	int policy_require;
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
 * reloaded or why a reload failed; then the expiry alarms (tlsctx_expiry_check_all). */
void tlsctx_check_all(int force);

#define TLSCTX_EXPIRY_WARN_S (30 * 86400) /* alarm when notAfter is closer than this */
#define TLSCTX_EXPIRY_REPEAT_S 86400      /* at most once per listener, leaf and period */
/* Raises CertificateExpiryWarning for every context whose leaf expires within
 * TLSCTX_EXPIRY_WARN_S of now (Unix s; a parameter so tests can move the clock). Cheap:
 * compares cached values; no file I/O. */
void tlsctx_expiry_check_all(int64_t now);

/* The interface directory (tls cert update): "<pki.dir>/interfaces". Call once at start,
 * before any context is created; "" or NULL: no overrides. Not thread-safe. */
void tlsctx_set_interface_dir(const char *dir);
#define TLSCTX_OVERRIDE_KEY "key.pem"
#define TLSCTX_OVERRIDE_CERT "cert.pem" /* leaf first, then the chain */
/* The override directory of a listener, DIR/KIND@ADDRESS_PORT. Returns 0, or -1 when no
 * interface directory is set or the path does not fit. */
int tlsctx_override_dir(const char *kind, const char *address, int port, char *out, size_t cap);
/* Forces a reload of every context of the listener KIND@ADDRESS:PORT (after its override
 * changed). Returns 0, -1 when one did not load (err says why; the old context stays), -2
 * when no live context has that listener. Blocking file I/O. */
int tlsctx_reload_listener(const char *kind, const char *address, int port, char *err,
                           size_t errlen);

/* Every live context, for `telgate tls show`: fn runs under the registry's lock (it must
 * not create or free a context). */
struct tlsctx_info {
	const char *name, *kind, *address; /* kind "" when the context has no policy */
	int port;
	int client_auth; /* a client certificate is required (not: only asked for) */
	X509 *leaf;      /* the current leaf certificate, or NULL: valid while fn runs */
	int override;    /* 1: the interface override, 0: the certificate in the options */
};
void tlsctx_foreach(void (*fn)(void *arg, const struct tlsctx_info *i), void *arg);

/* The app pointer given in the options, from a verify callback's store context. */
void *tlsctx_app_of(X509_STORE_CTX *x);

/* The SHA-256 fingerprint of the current leaf certificate (colon-separated hex). */
void tlsctx_fingerprint(struct tlsctx *t, char *out, size_t cap);

#endif
