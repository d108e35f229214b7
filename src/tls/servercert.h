/* SPDX-License-Identifier: ISC */
/*
 * servercert: checks a server certificate uploaded for one listener (`telgate tls cert
 * update`, the seed's sslUpdate) and writes it where tlsctx looks for an interface
 * override (tls/tlsctx.h).
 *
 * What is accepted (the rule docs/tls.md states):
 * - the key file holds one unencrypted PEM private key (an encrypted key is refused: the
 *   daemon has no one to ask for a password) that matches the leaf (X509_check_private_key);
 * - the certificate file, then the chain file, hold the chain leaf first, each certificate
 *   issued by the next (tls/pem.h file rules);
 * - the leaf is a server certificate: not a CA (basicConstraints CA:TRUE or keyUsage
 *   keyCertSign), and keyUsage / extendedKeyUsage, when present, allow TLS server use;
 *   a self-signed leaf is refused;
 * - the chain verifies at `now`, every certificate inside its validity: to its own root
 *   (the last certificate given, when self-signed) or to the anchor file (telgate's own
 *   CA), so a certificate from telgate's CA needs no chain file.
 * Errors say what and which certificate (1-based, leaf = 1) and never carry key material.
 *
 * Thread-safe (no globals). Ownership: inputs stay the caller's; a struct
 * tls_servercert is the caller's, released with tls_servercert_free().
 */
#ifndef TG_TLS_SERVERCERT_H
#define TG_TLS_SERVERCERT_H

#include "tls/pem.h"

#include <openssl/evp.h>
#include <stddef.h>
#include <stdint.h>

struct tls_servercert {
	EVP_PKEY *key;
	struct tls_pem_certs chain; /* leaf first */
};

/* chain may be NULL (chain_len 0); anchor_file may be NULL or "". now: Unix seconds.
 * Returns 0 with out filled, or -1 with out empty and err saying why. */
int tls_servercert_check(const char *key, size_t key_len, const char *cert, size_t cert_len,
                         const char *chain, size_t chain_len, const char *anchor_file, int64_t now,
                         struct tls_servercert *out, char *err, size_t errlen);

/* Writes dir/key.pem (0600) and dir/cert.pem (leaf and chain, 0644), each through a
 * temporary file and rename; creates dir (0700). The key is written first, so a reader
 * that sees the new certificate also sees the new key. Returns 0 or -1 with err. */
int tls_servercert_write(const struct tls_servercert *c, const char *dir, char *err, size_t errlen);

void tls_servercert_free(struct tls_servercert *c);

/* Subject / issuer as one line (RFC 2253), SANs ("DNS:a, IP:1.2.3.4", "" when none),
 * notAfter (ISO 8601 UTC) and the SHA-256 fingerprint (colon hex) of a certificate. */
struct tls_cert_summary {
	char subject[256], issuer[256], sans[512], not_after[32], sha256[100];
};
void tls_cert_summary(X509 *x, struct tls_cert_summary *s);
/* The SHA-256 fingerprint of x, colon-separated upper-case hex ("" for NULL x). */
void tls_cert_sha256(X509 *x, char *out, size_t cap);
/* The same fingerprint of a certificate's DER (len bytes), without decoding it. */
void tls_der_sha256(const unsigned char *der, size_t len, char *out, size_t cap);

#endif
