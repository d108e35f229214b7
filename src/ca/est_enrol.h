/* SPDX-License-Identifier: ISC */
/*
 * est_enrol: one EST enrolment decided from start to end (RFC 7030 §4.2 simpleenroll and
 * simplereenroll, §4.4 serverkeygen; issue 17, seed 001), without HTTP: the server
 * (ca/est_server.h) hands it the request's parts and turns the outcome into an answer
 * through one table (est_answer_of).
 *
 * In order (docs/enrolment.md "EST"):
 *  1. the CSR (not for serverkeygen, whose CSR only has to parse: RFC 7030 §4.4.1 lets the
 *     client sign it with any key): its signature verifies (proof of possession) and its
 *     key is one the CA issues for (ca_csr.h), before any credential is looked at, so a
 *     client's broken CSR does not use up its one-time string;
 *  2. who: HTTP Basic (instance id + one-time string) through capf_authenticate, which
 *     consumes the enrolment profile; or, without Basic, a client certificate the TLS
 *     layer verified against telgate's CA that is also in the issued-certificates table,
 *     valid (not revoked, not expired) and the very certificate recorded there (SHA-256):
 *     the certificate's user and instance id enrol again. simplereenroll takes the
 *     certificate only;
 *  3. a profile whose operation is delete revokes the instance's valid certificates
 *     (reason cessationOfOperation) instead of issuing one;
 *  4. the CSR's key against the profile's key type (a mismatch fails the profile);
 *  5. issuance (ca_issue.h: subject and extensions from the enrolment, never the CSR),
 *     through the signer; serverkeygen makes the key first (the profile's type);
 *  6. the profile ends: store_capf_succeeded with the serial, or store_capf_failed with
 *     the reason; when the signer is not running or its queue is full the profile is put
 *     back as it was (same string, same expiry), so the client may try again: nothing is
 *     half-issued and no string is used up by a failure that was not the client's;
 *  7. a certificate-authenticated enrolment supersedes the certificate it presented: at
 *     once when grace_s is 0, else est_supersede_sweep revokes it later.
 *
 * A crash between 2 and 6 (the engine killed, the power) leaves the profile consumed and
 * never ended, and its client without a certificate: est_release_interrupted, at the next
 * start, puts it back so that the same string enrols. If the certificate was signed and
 * recorded before the crash, that one was never sent (the answer leaves after 6): the
 * retry's certificate supersedes it (est_supersede_sweep: one valid certificate per
 * instance id). A crash after 6 but before the answer left is the one the server cannot
 * tell from an answer received: the profile says success, `capf rearm` lets it enrol again.
 *
 * Threads: blocking (store, signer, argon2id, key generation): a worker, never a loop.
 * Any number at once. Ownership: the caller owns ctx and req (read, never kept) and frees
 * the result with est_result_free.
 */
#ifndef TG_CA_EST_ENROL_H
#define TG_CA_EST_ENROL_H

#include "ca/ca_crl.h"
#include "ca/ca_issue.h"
#include "ca/capf_auth.h"

#include <openssl/x509.h>
#include <stddef.h>
#include <stdint.h>

enum est_op {
	EST_OP_ENROLL = 0, /* /simpleenroll */
	EST_OP_REENROLL,   /* /simplereenroll */
	EST_OP_SERVERKEYGEN,
};

/* What became of an enrolment; est_answer_of gives the HTTP answer. */
enum est_outcome {
	EST_ISSUED = 0,   /* 200 with the certificate (and the key for serverkeygen) */
	EST_REVOKED,      /* operation delete: the instance's certificates were revoked */
	EST_BAD_CSR,      /* 400: not a CSR, signature, key type or size */
	EST_AUTH,         /* 401: no, wrong or used-up credentials (one answer for all) */
	EST_CERT_REFUSED, /* 403: the client certificate is not a valid telgate one */
	EST_THROTTLED,    /* 429: too many wrong attempts from the source this minute */
	EST_BUSY,         /* 202 + Retry-After: the signing queue is full (RFC 7030 §4.2.3) */
	EST_UNAVAILABLE,  /* 503 + Retry-After: the signer is not answering */
	EST_ERROR,        /* 500: the store or the signer failed */
};
#define EST_OUTCOMES 9

struct est_answer {
	int status;
	int retry_after_s;    /* 0 = no Retry-After */
	int www_authenticate; /* 1: WWW-Authenticate: Basic realm="telgate EST" */
	const char *text;     /* the text/plain body when the result gives no reason */
};
const struct est_answer *est_answer_of(enum est_outcome o);
/* The outcome's word for logs: "issued", "revoked", "bad_csr", ... */
const char *est_outcome_name(enum est_outcome o);

#define EST_REALM "telgate EST"

/* What every enrolment needs; the server's, shared by its jobs. */
struct est_ctx {
	store_t *store;
	struct signer *signer;
	const unsigned char *capf_key; /* CAPF_KEY_BYTES */
	struct capf_guard *guard;
	struct ca_crl_cfg crl;
	unsigned client_days; /* pki.client_days */
	X509 *ca;             /* the CA certificate (read only) */
	int grace_s;          /* est.reenroll_grace_s */
};

struct est_req {
	enum est_op op;
	int basic;              /* Basic credentials were given */
	const char *instanceid; /* Basic user */
	const char *secret;     /* Basic password, secret_len bytes */
	size_t secret_len;
	X509 *client_cert;        /* verified by TLS against the CA; NULL when none */
	const unsigned char *csr; /* DER */
	size_t csr_len;
	const char *source; /* the peer's address (the throttle's key) */
	const char *cid;
	int64_t now; /* Unix s */
};

struct est_result {
	enum est_outcome outcome;
	char reason[200]; /* for the client and the log: why, "" when the table's text does */
	struct ca_issued cert;
	unsigned char *key; /* serverkeygen: PKCS#8 DER (wiped and freed by est_result_free) */
	size_t key_len;
	char user[STORE_ID_MAX + 1], instanceid[STORE_ID_MAX + 1];
	int revoked; /* EST_REVOKED: how many */
};
void est_result_free(struct est_result *r);

/* The enrolment above; *res is filled (outcome and reason always). */
void est_enrol(const struct est_ctx *ctx, const struct est_req *req, struct est_result *res);

/* Puts back the profiles an earlier process consumed and never ended (see above; one log
 * line est_enrolment_interrupted per profile). Only while no enrolment is under way on
 * st: at start, before the listener opens. Returns how many, or -1 when the store failed
 * (store_last_error). */
int est_release_interrupted(store_t *st, const char *cid);

/* Revokes (reason superseded) every valid certificate with an instance id for which a
 * newer valid certificate of the same user and instance id was issued at least grace_s
 * seconds before now. Returns the number revoked, or -errno (err says why). For the
 * server's timer: a worker. */
int est_supersede_sweep(store_t *st, struct signer *s, const struct ca_crl_cfg *cfg, int grace_s,
                        int64_t now, const char *cid, char *err, size_t errlen);

#endif
