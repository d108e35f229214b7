/* SPDX-License-Identifier: ISC */
/*
 * ca_issue: client certificates from telgate's CA (issue 17; docs/ca.md). The caller has
 * a public key it trusts to be the client's (from a CSR ca_csr_check passed) and the
 * enrolment's facts (user id, instance id, profile, lifetime); this module builds the
 * certificate template from those facts alone — never from the CSR — has the signer sign
 * it (ca/signer.h: the CA key is in another process) and records the certificate in the
 * issued-certificates table (store.h) before it returns it, so every certificate a client
 * holds is listed there.
 *
 * The template (RFC 5280):
 *   - serial: 128 random bits (RAND_bytes) with the top bit cleared, so it is a positive
 *     INTEGER of at most 16 octets; unique: a serial already in the table (2^-64 odds
 *     after 2^32 certificates) is replaced by a new one and the certificate signed again
 *     (the first one is freed unseen);
 *   - subject: CN = the user id, nothing else;
 *   - subjectAltName: URI `urn:telgate:instance:<instance id>` (absent without one);
 *   - basicConstraints CA:FALSE (critical), keyUsage digitalSignature (critical: a TLS
 *     client signs CertificateVerify; no keyAgreement, as no one uses static ECDH client
 *     authentication), extendedKeyUsage clientAuth only, subjectKeyIdentifier (SHA-1 of
 *     the key, RFC 5280 §4.2.1.2 method 1); the signer adds the issuer and the AKI;
 *   - validity: from 5 minutes before now (clients with slow clocks) to now + days,
 *     clamped to the CA's validity (nothing is issued outside it).
 *
 * Threads: blocking (the signer's round trip, a store write): a worker thread, never an
 * event loop. Any number of threads at once.
 */
#ifndef TG_CA_ISSUE_H
#define TG_CA_ISSUE_H

#include "ca/signer.h"
#include "store/store.h"

#include <openssl/evp.h>
#include <openssl/x509.h>
#include <stddef.h>
#include <stdint.h>

#define CA_CLIENT_DAYS_DEFAULT 730 /* config pki.client_days: LSCs are long-lived */
#define CA_USERID_MAX 64           /* ub-common-name (RFC 5280 Appendix A) */
#define CA_INSTANCE_ID_MAX 64      /* [A-Za-z0-9._-]; the seed's instance ids are numbers */
#define CA_BACKDATE_S 300          /* notBefore is this long before now */
#define CA_SAN_URN_PREFIX "urn:telgate:instance:"

struct ca_client_request {
	EVP_PKEY *pubkey;       /* the client's public key (read, not kept) */
	const char *userid;     /* the subject CN: 1..CA_USERID_MAX bytes of UTF-8, no controls */
	const char *instanceid; /* NULL or "" = no SAN; else ca_instance_id_valid() */
	const char *profile;    /* the enrolment profile's name; NULL or "" = none */
	unsigned days;          /* the lifetime in days, 1..3650 (config pki.client_days) */
	int64_t now;            /* Unix s; 0 = the clock */
	X509 *ca;               /* the CA certificate if the caller holds it; NULL = asked of the
	                           signer (one more round trip) */
	const char *cid;        /* correlation id for the logs; may be NULL */
};

/* The certificate issued. ca_issued_free releases der and pem. */
struct ca_issued {
	char serial[STORE_SERIAL_HEX + 1];
	unsigned char *der; /* malloc'ed, der_len bytes */
	size_t der_len;
	char *pem; /* malloc'ed, NUL-terminated PEM of the same certificate */
	int64_t notbefore, notafter;
	char sha256[STORE_FINGERPRINT_MAX + 1]; /* of der, colon-separated upper-case hex */
};
void ca_issued_free(struct ca_issued *c);

/* 1 when id is a valid instance id: 1..CA_INSTANCE_ID_MAX of letters, digits, '.', '-', '_'
 * (what a URN's NSS holds without escaping, RFC 8141), else 0. */
int ca_instance_id_valid(const char *id);

/* Issues a client certificate (see above) and records it. Returns 0 with *out filled;
 * -EINVAL for a request that is not acceptable (err says which field), -EAGAIN the signer
 * is not running (s NULL included), -EBUSY its queue is full, -EIO the signer or the store failed
 * (err says which; nothing was recorded, and nothing is returned), -ENOMEM. *out is zeroed on
 * error. */
int ca_issue_client(struct signer *s, store_t *st, const struct ca_client_request *req,
                    struct ca_issued *out, char *err, size_t errlen);

/* The throwaway key that signs templates (certificates and CRLs) so that they encode: the
 * signer replaces the signature. Made once (P-256); NULL when that failed. Any thread. */
EVP_PKEY *ca_template_key(void);

/* What a signer error (ca/signer.h's negative errno) means, for messages: "the signer is not
 * running" (-EAGAIN), "the signer's queue is full" (-EBUSY), ... Static text. */
const char *ca_signer_strerror(int rc);

/* A certificate's serial as the table spells it: 32 upper-case hex digits, zero-padded.
 * Returns 0, or -1 for a negative serial or one longer than 16 octets (not telgate's). */
int ca_serial_hex(const ASN1_INTEGER *serial, char out[STORE_SERIAL_HEX + 1]);
/* A serial as an administrator types it (hex, any case, with or without ':' between
 * octets, leading zeros optional) in the table's spelling. Returns 0, or -1 when in is
 * not hex or has more than 32 digits. */
int ca_serial_normalize(const char *in, char out[STORE_SERIAL_HEX + 1]);

#endif
