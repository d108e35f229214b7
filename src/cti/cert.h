/* SPDX-License-Identifier: ISC */
/*
 * cert: the client certificate of a CTI login (issue 17, seed 001; docs/protocol.md
 * "Certificates"). The CTI TLS port asks every client for a certificate (tls/tlsctx.h,
 * client_ca_optional): the handshake verifies the chain against telgate's CA (pki.dir/
 * ca.crt) and the trust anchors of the cti-tls levels, but lets a certificate through
 * whose only fault is its validity period (cti_cert_verify), so that the login can say
 * "expired" instead of a bare TLS alert. This module reads what the login needs from the
 * certificate (cti_cert_read, on the loop), and judges it against its row in the
 * issued-certificates table (cti_cert_judge: pure, the row read on the worker pool).
 *
 * A certificate is telgate's when telgate's CA signed it (checked again here: an anchor
 * of the cti-tls levels may have verified the chain) AND its serial has a row in
 * issuedcertificate with the same SHA-256: the table, not the chain, says whether it is
 * revoked.
 *
 * Threads: pure functions, any thread. Ownership: certificates stay the caller's; results
 * go into the caller's structs.
 */
#ifndef TG_CTI_CERT_H
#define TG_CTI_CERT_H

#include "cti/proto.h"
#include "store/store.h"
#include "tls/level.h"

#include <openssl/x509.h>
#include <stdint.h>

/* What a login reads from the peer's certificate. */
struct cti_cert {
	int present;                            /* the peer presented one */
	int ours;                               /* telgate's CA signed it */
	char cn[CTI_ID_MAX + 1];                /* subject CN (UTF-8), "" when none or too long */
	char serial[STORE_SERIAL_HEX + 1];      /* as the table spells it; "" when not ours */
	char sha256[STORE_FINGERPRINT_MAX + 1]; /* of the DER, colon-separated upper-case hex */
	int64_t notbefore, notafter;            /* Unix s; 0 when unreadable */
};

/* Fills out from peer (NULL: no certificate) and ca (telgate's CA certificate; NULL: no
 * certificate is ours). */
void cti_cert_read(X509 *peer, X509 *ca, struct cti_cert *out);

/* What a certificate is worth for a login, each with its own reason in the trace. */
enum cti_cert_state {
	CTI_CERT_NONE = 0,      /* none presented */
	CTI_CERT_VALID,         /* ours, listed valid, within its validity */
	CTI_CERT_FOREIGN,       /* verified by another trust anchor, not issued by telgate's CA */
	CTI_CERT_UNLISTED,      /* signed by telgate's CA but not in the table (or another DER) */
	CTI_CERT_NOT_YET_VALID, /* now < notBefore */
	CTI_CERT_EXPIRED,       /* notAfter < now */
	CTI_CERT_REVOKED,       /* revoked in the table (telgate cert revoke) */
	CTI_CERT_STORE_ERROR,   /* the table could not be read */
};

/* The state of c given its row (store_rc: store_issuedcert_get's result for c->serial;
 * row: the row when STORE_OK) at now (Unix s). Revoked wins over expired. */
enum cti_cert_state cti_cert_judge(const struct cti_cert *c, int store_rc,
                                   const struct store_issuedcert *row, int64_t now);

/* "none", "valid", "foreign", ... for logs and tests. */
const char *cti_cert_state_name(enum cti_cert_state s);

/* What the CTI TLS listener's verify callback needs (its tls/tlsctx.h `app`): telgate's
 * CA and the listener's TLS levels (tls/level.h), for the client identities they name. */
struct cti_cert_trust {
	X509 *ca; /* owned */
	char levels[TLS_LEVELS][TLS_LEVEL_MAX];
};

/* The CTI TLS listener's verify callback (tls/tlsctx.h `verify`, app: a struct
 * cti_cert_trust): a leaf signed by telgate's CA whose only fault is its validity period
 * (expired, not yet valid) passes, as does any leaf of ours (the client identities of the
 * cti-tls levels are for other CAs' certificates: tls/trust.h); another CA's leaf that
 * chains to an anchor passes when those levels name no identity (tls_verify has refused
 * it already when they name others), as without this callback. Anything else keeps
 * OpenSSL's verdict and is logged (tls_client_rejected). */
int cti_cert_verify(int ok, X509_STORE_CTX *x);

#endif
