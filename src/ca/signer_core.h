/* SPDX-License-Identifier: ISC */
/*
 * signer_core: the keys and the one place where signing is decided and done, used by the local
 * handle (signer_local.c) and by the signer process (signer_proc.c), so that the two cannot
 * drift. Also the handle both implementations share (struct signer and its operations).
 *
 * Key files in the PKI directory (ca/ca_bootstrap.h makes them): ca.key/ca.crt (required),
 * trustlist.key/.crt and recovery.key/.crt (RSA; required), token.key/.crt (optional, issue 18).
 *
 * Policy (signer_core_handle):
 *   - certificate templates: refused (-EINVAL) when they ask for CA:TRUE, keyCertSign or
 *     cRLSign, carry an unparseable extension, reuse the CA's subject or public key, or have a
 *     validity outside the CA's; otherwise the issuer name and the authority key identifier
 *     are set from the CA and the certificate is signed with the CA key and SHA-256;
 *   - CRL templates: issuer, AKI and version 2 set; nextUpdate must follow lastUpdate;
 *   - bytes: never with the CA key (a signature over arbitrary bytes could be a TBSCertificate
 *     that skips the checks above); digests SHA256, SHA512 or SHA1 for RSA keys (PKCS#1
 *     v1.5), SHA256 for EC keys.
 * Threads: the keys are read-only after loading; any number of threads may sign at once.
 */
#ifndef TG_CA_SIGNER_CORE_H
#define TG_CA_SIGNER_CORE_H

#include "ca/signer.h"
#include "ca/signer_proto.h"
#include "core/metrics.h"

#include <openssl/evp.h>
#include <openssl/x509.h>

#define SIGNER_NKEYS 5 /* indexed by enum signer_key; 0 unused */

struct signer_keys {
	EVP_PKEY *key[SIGNER_NKEYS];
	X509 *cert[SIGNER_NKEYS];
	unsigned char *der[SIGNER_NKEYS];
	size_t derlen[SIGNER_NKEYS];
	X509_EXTENSION *ca_aki; /* the AKI every issued certificate and CRL gets, made once */
};

/* File names of a key role ("ca", "trustlist", ...), NULL for an unknown role. */
const char *signer_key_file(enum signer_key k);

int signer_keys_load(struct signer_keys *ks, const char *pki_dir, char *err, size_t errlen);
void signer_keys_free(struct signer_keys *ks);

/* Answers one request: 0 with a malloc'ed *out (the caller frees), or a negative errno. */
int signer_core_handle(const struct signer_keys *ks, const struct signer_req *rq,
                       unsigned char **out, size_t *outlen);

/* The shared handle. call() sends one request and waits for its answer. */
struct signer_ops {
	int (*call)(struct signer *s, const struct signer_req *rq, unsigned char **out,
	            size_t *outlen);
	void (*stats)(struct signer *s, struct signer_stats *st);
	void (*free)(struct signer *s);
};
struct signer {
	const struct signer_ops *ops;
	struct metrics_histogram latency; /* signer_latency(); set up by signer_base_init */
};

/* Sets up the shared part of a handle (its operations, the latency histogram). */
void signer_base_init(struct signer *s, const struct signer_ops *ops);

/* The keys of a local handle (NULL for a remote one): the signer process signs with the keys
 * the monitor loaded. */
const struct signer_keys *signer_local_keys(struct signer *s);

#endif
