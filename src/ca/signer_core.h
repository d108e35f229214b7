/* SPDX-License-Identifier: ISC */
/*
 * signer_core: the keys and the one place where signing is decided and done, used by the local
 * handle (signer_local.c) and by the signer process (signer_proc.c), so that the two cannot
 * drift. Also the handle both implementations share (struct signer and its operations).
 *
 * Key files in the PKI directory (ca/ca_bootstrap.h makes them): ca.key/ca.crt (required),
 * trustlist.key/.crt and recovery.key/.crt (RSA; required); the OAuth token keys (issue 18)
 * are tokens/<kid>.key, made by the signer itself (signer_tokens.c) and any number of them.
 *
 * Policy (signer_core_handle):
 *   - certificate templates: refused (-EINVAL) when they ask for CA:TRUE, keyCertSign or
 *     cRLSign, carry an unparseable or repeated extension, reuse the CA's subject or public
 *     key (an EC key: the same curve and x-coordinate), or have a validity outside the CA's;
 *     otherwise the issuer name and the authority key identifier are set from the CA and
 *     the certificate is signed with the CA key and SHA-256 (signer_cert.c);
 *   - CRL templates: issuer, AKI and version 2 set; nextUpdate must follow lastUpdate;
 *   - bytes: never with the CA key (a signature over arbitrary bytes could be a TBSCertificate
 *     that skips the checks above) nor with a token key; digests SHA256, SHA512 or SHA1 for
 *     RSA keys (PKCS#1 v1.5), SHA256 for EC keys;
 *   - tokens: only a JWS signing input whose header names the key (kid), its one algorithm
 *     and typ at+jwt, with a JSON object as payload: a token key signs access tokens and
 *     nothing else (signer_tokens.c).
 * Threads: the keys are read-only after loading; any number of threads may sign at once.
 */
#ifndef TG_CA_SIGNER_CORE_H
#define TG_CA_SIGNER_CORE_H

#include "ca/signer.h"
#include "ca/signer_proto.h"
#include "core/metrics.h"

#include <openssl/evp.h>
#include <openssl/x509.h>
#include <pthread.h>

#define SIGNER_NKEYS 5 /* indexed by enum signer_key; 0 unused */

/* The OAuth token keys (issue 18): made by SIGNER_OP_TOKEN_KEYGEN, kept as
 * pki.dir/tokens/<kid>.key (0600, written through dirfd), all loaded at start. The list only
 * grows (at most SIGNER_TOKEN_KEYS_MAX: then keygen answers -ENOSPC); mu guards it because
 * the local handle is called from many threads. */
#define SIGNER_TOKEN_KEYS_MAX 64
struct signer_token_key {
	char kid[44]; /* the RFC 7638 thumbprint (authz/jwk.h) */
	int alg;      /* enum jws_alg */
	EVP_PKEY *key;
	char header[160]; /* its access tokens' header, base64url (jws_at_header_b64) */
	size_t header_len;
};
struct signer_tokens {
	pthread_mutex_t mu;
	int dirfd; /* pki.dir/tokens, -1 when it could not be made */
	size_t n;
	struct signer_token_key k[SIGNER_TOKEN_KEYS_MAX];
};

struct signer_keys {
	EVP_PKEY *key[SIGNER_NKEYS];
	X509 *cert[SIGNER_NKEYS];
	unsigned char *der[SIGNER_NKEYS];
	size_t derlen[SIGNER_NKEYS];
	X509_EXTENSION *ca_aki;       /* the AKI every issued certificate and CRL gets, made once */
	struct signer_tokens *tokens; /* mutable behind a const struct signer_keys * */
};

/* File names of a key role ("ca", "trustlist", ...), NULL for an unknown role. */
const char *signer_key_file(enum signer_key k);

int signer_keys_load(struct signer_keys *ks, const char *pki_dir, char *err, size_t errlen);
void signer_keys_free(struct signer_keys *ks);

/* The token keys (signer_tokens.c). _open makes pki_dir/tokens (0700) and loads every
 * <kid>.key in it; _reload adds keys another signer wrote since (a restarted signer process
 * starts from the monitor's copy). 0 or -1 with err. */
int signer_tokens_open(struct signer_tokens **out, const char *pki_dir, char *err, size_t errlen);
void signer_tokens_reload(struct signer_tokens *t);
void signer_tokens_free(struct signer_tokens *t);
/* SIGNER_OP_TOKEN_KEYGEN and SIGNER_OP_SIGN_TOKEN (signer_proto.h has their payloads). */
int signer_tokens_keygen(struct signer_tokens *t, const unsigned char *alg, size_t len,
                         unsigned char **out, size_t *outlen);
int signer_tokens_sign(struct signer_tokens *t, const unsigned char *p, size_t len,
                       unsigned char **out, size_t *outlen);

/* Checks a certificate template (DER) against the policy above and signs it with the CA key
 * (signer_cert.c): 0 with a malloc'ed *out, -EINVAL refused, -ENOENT no CA key, -EIO. */
int signer_cert_sign(const struct signer_keys *ks, const unsigned char *p, size_t len,
                     unsigned char **out, size_t *outlen);

/* Answers one request: 0 with a malloc'ed *out (the caller frees), or a negative errno. */
int signer_core_handle(const struct signer_keys *ks, const struct signer_req *rq,
                       unsigned char **out, size_t *outlen);

/* The shared handle. call() sends one request and waits for its answer. send() and wait()
 * split it (signer_sign_tokens_start/_finish; NULL: those call call() for each item in
 * _finish): send() returns 0 with *ticket, which wait() takes (always, and frees), or -errno
 * with no ticket. */
struct signer_ops {
	int (*call)(struct signer *s, const struct signer_req *rq, unsigned char **out,
	            size_t *outlen);
	int (*send)(struct signer *s, const struct signer_req *rq, void **ticket);
	int (*wait)(struct signer *s, void *ticket, unsigned char **out, size_t *outlen);
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
