/* SPDX-License-Identifier: ISC */
/*
 * tgest: an EST client for one enrolment (RFC 7030 section 4.2.1 /simpleenroll, with
 * the RFC 8951 clarifications): make the key the enrolment profile asks for, a PKCS#10
 * request signed with it, POST it base64-encoded over TLS with HTTP Basic authentication
 * (the instance id and the one-time authentication string), and read the answer: a
 * base64 "certs-only" PKCS#7 (application/pkcs7-mime), 202 Accepted with Retry-After
 * (wait and ask again, bounded), or an error status with the server's text.
 *
 * The EST server is always authenticated: its certificate must chain to the store given
 * (the CA from the verified trust list, tgtrust.h) and name the host.
 *
 * Threads: any. Ownership: keys, certificates and stores are OpenSSL reference-counted
 * objects; what a function returns is the caller's to free; what it is given it does not
 * keep. The authentication string is wiped from every buffer the client made for it.
 */
#ifndef TGEST_H
#define TGEST_H

#include <openssl/evp.h>
#include <openssl/x509.h>
#include <stddef.h>

/* Outcomes of tgest_simpleenroll (and the exit status telgate-cti gives them). */
enum tgest_result {
	TGEST_OK = 0,
	TGEST_REFUSED = 1, /* the server said no: 4xx (401 wrong id or string, 400 bad CSR) */
	TGEST_FAILED = 2,  /* transport, TLS, 5xx, an answer that is not a certificate, or
	                    * still 202 after the waits allowed */
};

/* A new key: "ec-p256" (the default when type is NULL), "ec-p384", "rsa-2048" or
 * "rsa-3072" (the enrolment profile's key types, docs/enrolment.md). NULL with err for
 * another name. */
EVP_PKEY *tgest_keygen(const char *type, char *err, size_t errlen);

/* A PKCS#10 request for key with subject CN=cn (the server sets the subject from the
 * profile, RFC 7030 leaves it to the CA), signed with SHA-256 (SHA-384 for P-384), as
 * base64 without line breaks (malloc'ed, NUL-terminated). NULL with err. */
char *tgest_csr(EVP_PKEY *key, const char *cn, char *err, size_t errlen);

/* Reads a certs-only answer (base64 of a degenerate PKCS#7 SignedData; whitespace and
 * line breaks allowed) and returns the certificate whose public key is key's (the one
 * issued for it; up_ref'ed), *chain (when not NULL) getting the others. NULL with err. */
X509 *tgest_read_certs(const unsigned char *body, size_t len, EVP_PKEY *key,
                       STACK_OF(X509) * *chain, char *err, size_t errlen);

struct tgest_opts {
	const char *host;
	int port;                /* 443 when 0 */
	const char *server_name; /* the name to verify; host when NULL */
	X509_STORE *store;       /* the CA to trust for the server (required) */
	const char *user;        /* HTTP Basic: the instance id (no ':') */
	const char *secret;      /* HTTP Basic: the authentication string */
	size_t secretlen;
	int timeout_ms;    /* per exchange; 30000 when 0 */
	int max_wait_s;    /* total seconds to wait on 202 answers; 300 when 0 */
	const char *label; /* RFC 7030 section 3.2.2 arbitrary label; NULL = none */
};

/* POSTs csr (tgest_csr's base64) to /.well-known/est/simpleenroll and returns the
 * outcome; on TGEST_OK *cert is the certificate for key. err carries the HTTP status and
 * the server's text on TGEST_REFUSED. */
enum tgest_result tgest_simpleenroll(const struct tgest_opts *o, const char *csr, EVP_PKEY *key,
                                     X509 **cert, char *err, size_t errlen);

#endif
