/* SPDX-License-Identifier: ISC */
/*
 * ca_bootstrap: on first start, telgate makes its own certificate authority (ECDSA P-256,
 * ten years) and a server certificate signed by it (for the node's names, localhost and
 * the loopback addresses), in the PKI directory. Later starts reuse them; a server
 * certificate that no longer verifies against the CA or expires within 30 days is
 * replaced. Private keys are written 0600, atomically (temporary file + rename).
 * ca_bootstrap_signers adds the RSA keys that sign trust lists (issue 17): the monitor makes
 * them after the network engine was forked, so that first start is not slowed by RSA key
 * generation and the engine never had them in memory.
 *
 * Blocking (key generation, signing): call at start-up or from the worker pool.
 */
#ifndef TG_CA_BOOTSTRAP_H
#define TG_CA_BOOTSTRAP_H

#include <openssl/evp.h>
#include <openssl/x509.h>
#include <stddef.h>
#include <sys/types.h>

struct ca_bootstrap_result {
	int ca_created;
	int server_created;
	char ca_cert[300], server_cert[300], server_key[300];
	char ca_fingerprint[100]; /* SHA-256, colon-separated hex */
};

/* names: extra DNS names for the server certificate, comma-separated ("" for none). */
int ca_bootstrap(const char *dir, const char *node, const char *names, unsigned server_days,
                 struct ca_bootstrap_result *res, char *err, size_t errlen);

/* The trust-list signer (Cisco's TFTP role: trustlist.key/.crt, RSA 3072, issued by the CA,
 * valid as long as the CA) and the recovery signer (ITLRecovery: recovery.key/.crt, RSA 3072,
 * self-signed, 20 years, so that it outlives a lost trust-list key and even the CA) in dir,
 * made when missing; a key without its certificate (or the reverse) is refused, as for the CA.
 * Needs the CA (ca_bootstrap first). Blocking: about a second per RSA key made. *created gets
 * 1 (trust-list signer) | 2 (recovery signer) for what was made. Returns 0, or -1 with err. */
int ca_bootstrap_signers(const char *dir, const char *node, int *created, char *err, size_t errlen);

/* A PEM key or certificate file read (NULL when missing or unreadable), and one written (key
 * or cert, the other NULL) through a temporary file and rename, so that a crash never leaves
 * half a key: 0, or -1 with err. Used by ca_cluster.c for the keys it takes from the store. */
EVP_PKEY *ca_load_key(const char *path);
X509 *ca_load_cert(const char *path);
int ca_write_pem(const char *path, mode_t mode, EVP_PKEY *key, X509 *cert, char *err,
                 size_t errlen);

#endif
