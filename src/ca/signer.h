/* SPDX-License-Identifier: ISC */
/*
 * signer: what the network engine may ask of the process that holds the private signing
 * keys (issue 17, privilege separation; OpenBSD relayd's ca.c is the model). The keys —
 * the CA key, the trust-list signer (Cisco's TFTP role), the recovery signer (ITLRecovery)
 * and, later, the OAuth token keys — never enter the process that parses network input:
 * it sends a request, the signer decides whether it signs and returns the result.
 *
 * Two implementations behind one handle:
 *   - remote (signer_remote_new): the daemon's, a socketpair to the signer process, with
 *     a small length-prefixed protocol (ca/signer_proto.h);
 *   - local (signer_local_new): the keys loaded in this process, for unit tests, tools and
 *     benchmarks that have no signer process. Same checks, same answers.
 *
 * What is signed:
 *   - certificates: the caller builds a template (an X509 with subject, public key,
 *     validity, serial and extensions, signed with any throwaway key: only its contents
 *     count). The signer refuses a template that asks for CA:TRUE, keyCertSign/cRLSign,
 *     or a validity beyond the CA's; sets the issuer name and the authority key
 *     identifier from the CA certificate; signs with the CA key (ECDSA with SHA-256 for a
 *     P-256 CA) and returns the certificate.
 *   - CRLs: a template X509_CRL (revoked entries, this/next update, number); issuer set,
 *     signed with the CA key.
 *   - bytes: a signature over data with the named key and digest (trust lists: RSA
 *     PKCS#1 v1.5 with SHA-512 or SHA-1, as the format allows);
 *   - access tokens (issue 18): the JWS signing input of a token whose header names one of
 *     the signer's token keys; the signer also makes those keys (ES256, RS256, EdDSA) and
 *     keeps them in pki.dir/tokens, and only their public halves leave it.
 *
 * Errors (negative errno): -EAGAIN the signer is not running (restarting: HTTP 503 with
 * Retry-After), -EBUSY its queue is full (EST: 202 with Retry-After, RFC 7030 §4.2.3),
 * -EINVAL a template or request it refuses (the caller's bug or a hostile CSR's
 * contents), -ENOENT no such key, -ENOMEM, -EIO the signer failed (logged there).
 *
 * Threads: every function may be called from any number of threads at once (worker
 * threads: they block until the answer comes); never from an event-loop thread.
 * Ownership: buffers passed in are read, never kept; *out buffers are malloc'ed and the
 * caller frees them.
 */
#ifndef TG_CA_SIGNER_H
#define TG_CA_SIGNER_H

#include <stddef.h>
#include <stdint.h>

/* The keys the signer holds, by role. */
enum signer_key {
	SIGNER_KEY_CA = 1,        /* telgate's CA: certificates and CRLs */
	SIGNER_KEY_TRUSTLIST = 2, /* the trust-list and .sgn signer (Cisco: TFTP role), RSA */
	SIGNER_KEY_RECOVERY = 3,  /* the recovery signer (Cisco: ITLRecovery), RSA */
	SIGNER_KEY_TOKEN = 4,     /* OAuth token signing (issue 18) */
};

struct signer;

/* The certificate (DER) of a key: the CA's, the trust-list signer's, ... Returns 0 with
 * *der and *len, or -ENOENT when the signer holds no such key. */
int signer_certificate(struct signer *s, enum signer_key k, unsigned char **der, size_t *len);

/* Signs a certificate template (DER) with the CA key: see above. Returns 0 with the
 * certificate (DER) in *out and *outlen. */
int signer_sign_cert(struct signer *s, const unsigned char *tmpl, size_t len, unsigned char **out,
                     size_t *outlen);

/* Signs a CRL template (DER) with the CA key. Returns 0 with the CRL (DER). */
int signer_sign_crl(struct signer *s, const unsigned char *tmpl, size_t len, unsigned char **out,
                    size_t *outlen);

/* Signs data (len bytes, at most SIGNER_DATA_MAX) with key k and digest ("SHA256",
 * "SHA512", "SHA1"; RSA keys sign PKCS#1 v1.5, EC keys ECDSA with a DER signature).
 * Returns 0 with the signature in *sig and *siglen. */
#define SIGNER_DATA_MAX (1024 * 1024)
int signer_sign_bytes(struct signer *s, enum signer_key k, const char *digest,
                      const unsigned char *data, size_t len, unsigned char **sig, size_t *siglen);

/* Makes a new OAuth token key for algorithm alg ("ES256", "RS256", "EdDSA"; RFC 7518 names),
 * kept by the signer under its RFC 7638 thumbprint (authz/jwk.h). Returns 0 with its
 * SubjectPublicKeyInfo (DER) in *spki; -EINVAL for another algorithm, -ENOSPC when the
 * signer holds SIGNER_TOKEN_KEYS_MAX token keys already, -EIO when it cannot be stored. */
int signer_token_keygen(struct signer *s, const char *alg, unsigned char **spki, size_t *len);

/* Signs a JWS signing input (len bytes, "header.payload" in base64url) with the token key
 * kid (SIGNER_KID_LEN characters). The header must name that kid, the key's algorithm and
 * typ "at+jwt" (-EINVAL otherwise: a token key signs access tokens only). Returns 0 with the
 * JWS signature (ES256: r||s, 64 bytes) in *sig; -ENOENT for an unknown kid. */
#define SIGNER_KID_LEN 43
int signer_sign_token(struct signer *s, const char *kid, const char *input, size_t len,
                      unsigned char **sig, size_t *siglen);

/* Several token signatures in flight together (the refresh grants' group commit,
 * authz/oauth_commit.c): _start sends every request at once and returns without waiting, so
 * the signer process wakes once for them all and signs while the caller does other work
 * (its transaction); _finish waits for every answer. Each item's kid and input are read by
 * _start only; _finish sets rc (0 or as signer_sign_token) and sig/siglen (malloc'ed, the
 * caller frees: NULL when rc != 0). Every item given to _start must be given to _finish. */
struct signer_token_sign {
	const char *kid, *input; /* in */
	size_t len;
	int rc; /* out */
	unsigned char *sig;
	size_t siglen;
	void *ticket; /* the handle's, between the two calls */
	uint64_t t0;  /* the latency histogram's start (ns) */
};
void signer_sign_tokens_start(struct signer *s, struct signer_token_sign *const *v, size_t n);
void signer_sign_tokens_finish(struct signer *s, struct signer_token_sign *const *v, size_t n);

/* The keys of a PKI directory loaded here (ca/ca_bootstrap.h makes them). Returns NULL
 * with err set when a key or certificate cannot be read. */
struct signer *signer_local_new(const char *pki_dir, char *err, size_t errlen);

/* The client end of the socketpair to the signer process (fd: owned by the handle from
 * here on). */
struct signer *signer_remote_new(int fd, char *err, size_t errlen);

/* The remote handle's limits: queue_max requests in flight at most (more: -EBUSY at once;
 * config [pki] signer_queue), timeout_ms for an answer (then -EAGAIN). Defaults 256 and
 * 10000. No effect on a local handle. */
void signer_remote_configure(struct signer *s, unsigned queue_max, unsigned timeout_ms);

/* What `telgate show signer` shows. A local handle: remote 0, pid this process. */
struct signer_stats {
	int remote;
	long pid;           /* the signer process (its last hello), 0 before the first */
	unsigned restarts;  /* the monitor's count of signer restarts */
	int seccomp;        /* the signer runs under a seccomp filter */
	uint64_t served;    /* requests answered (any status) since this handle was made */
	uint64_t failed;    /* requests failed with -EAGAIN (timeout, restart) or -EBUSY */
	unsigned in_flight; /* the queue depth now */
	unsigned queue_max;
};
void signer_stats(struct signer *s, struct signer_stats *st);

/* Every request through the handle, from the call to the answer (the queue, the round trip
 * and the signing; failures included), for the metrics page. Valid until signer_free. */
struct metrics_histogram;
const struct metrics_histogram *signer_latency(struct signer *s);

/* Frees the handle (a remote one closes its socket; requests waiting get -EAGAIN). */
void signer_free(struct signer *s);

#endif
