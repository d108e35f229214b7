/* SPDX-License-Identifier: ISC */
#include "cti/cert.h"
#include "ca/ca_issue.h"
#include "core/log.h"
#include "core/util.h"
#include "tls/servercert.h"
#include "tls/tlsctx.h"
#include "tls/trust.h"

#include <openssl/x509v3.h>
#include <string.h>
#include <time.h>

static int64_t asn1_time(const ASN1_TIME *t)
{
	struct tm tm;
	return t && ASN1_TIME_to_tm(t, &tm) == 1 ? (int64_t)timegm(&tm) : 0;
}

/* The first subject CN as UTF-8, "" when there is none, it holds a NUL or does not fit. */
static void read_cn(X509 *x, char *out, size_t cap)
{
	out[0] = '\0';
	X509_NAME *n = X509_get_subject_name(x);
	int i = X509_NAME_get_index_by_NID(n, NID_commonName, -1);
	X509_NAME_ENTRY *e = i >= 0 ? X509_NAME_get_entry(n, i) : NULL;
	unsigned char *utf8 = NULL;
	int len = e ? ASN1_STRING_to_UTF8(&utf8, X509_NAME_ENTRY_get_data(e)) : -1;
	if (len > 0 && (size_t)len < cap && !memchr(utf8, 0, (size_t)len)) {
		memcpy(out, utf8, (size_t)len);
		out[len] = '\0';
	}
	OPENSSL_free(utf8);
}

/* Signed by ca: the issuer names and key identifiers match and the signature verifies
 * with the CA's key. */
static int signed_by(X509 *x, X509 *ca)
{
	if (!ca || X509_check_issued(ca, x) != X509_V_OK)
		return 0;
	EVP_PKEY *k = X509_get0_pubkey(ca);
	return k && X509_verify(x, k) == 1;
}

void cti_cert_read(X509 *peer, X509 *ca, struct cti_cert *out)
{
	memset(out, 0, sizeof *out);
	if (!peer)
		return;
	out->present = 1;
	read_cn(peer, out->cn, sizeof out->cn);
	tls_cert_sha256(peer, out->sha256, sizeof out->sha256);
	out->notbefore = asn1_time(X509_get0_notBefore(peer));
	out->notafter = asn1_time(X509_get0_notAfter(peer));
	out->ours = signed_by(peer, ca);
	if (!out->ours || ca_serial_hex(X509_get0_serialNumber(peer), out->serial) != 0) {
		out->ours = 0;
		out->serial[0] = '\0';
	}
}

enum cti_cert_state cti_cert_judge(const struct cti_cert *c, int store_rc,
                                   const struct store_issuedcert *row, int64_t now)
{
	if (!c->present)
		return CTI_CERT_NONE;
	if (!c->ours)
		return CTI_CERT_FOREIGN;
	if (store_rc == STORE_NOTFOUND)
		return CTI_CERT_UNLISTED;
	if (store_rc != STORE_OK)
		return CTI_CERT_STORE_ERROR;
	/* The same serial on another certificate is not the one the table lists. */
	if (strcmp(row->serial, c->serial) != 0 || strcmp(row->sha256, c->sha256) != 0)
		return CTI_CERT_UNLISTED;
	if (row->status == STORE_CERT_REVOKED)
		return CTI_CERT_REVOKED;
	if (!c->notbefore || now < c->notbefore)
		return CTI_CERT_NOT_YET_VALID;
	if (!c->notafter || now > c->notafter)
		return CTI_CERT_EXPIRED;
	return CTI_CERT_VALID;
}

const char *cti_cert_state_name(enum cti_cert_state s)
{
	static const char *const names[] = {
	    [CTI_CERT_NONE] = "none",
	    [CTI_CERT_VALID] = "valid",
	    [CTI_CERT_FOREIGN] = "foreign",
	    [CTI_CERT_UNLISTED] = "unlisted",
	    [CTI_CERT_NOT_YET_VALID] = "not_yet_valid",
	    [CTI_CERT_EXPIRED] = "expired",
	    [CTI_CERT_REVOKED] = "revoked",
	    [CTI_CERT_STORE_ERROR] = "store_error",
	};
	return (unsigned)s < sizeof names / sizeof names[0] ? names[s] : "?";
}

/* Another CA's leaf that passed the chain: accepted when the levels name no client
 * identity (tls_verify refused it already when they name others). */
static int foreign_leaf_ok(const struct cti_cert_trust *t)
{
	struct tls_names ids = {0};
	int ok = tls_trust_current(t->levels, NULL, NULL, &ids) >= 0 && ids.n == 0;
	tls_names_free(&ids);
	return ok;
}

int cti_cert_verify(int ok, X509_STORE_CTX *x)
{
	const struct cti_cert_trust *t = tlsctx_app_of(x);
	X509 *ca = t ? t->ca : NULL;
	X509 *cert = X509_STORE_CTX_get_current_cert(x);
	int depth = X509_STORE_CTX_get_error_depth(x);
	int err = X509_STORE_CTX_get_error(x);
	int ours = depth == 0 && cert && signed_by(cert, ca);
	if (ours &&
	    (ok || err == X509_V_ERR_CERT_HAS_EXPIRED || err == X509_V_ERR_CERT_NOT_YET_VALID))
		return 1; /* the login judges it (cti_cert_judge) */
	if (ok && depth == 0) {
		ok = t && foreign_leaf_ok(t);
		err = X509_V_ERR_CERT_REJECTED;
	}
	if (!ok) {
		char subject[256] = "?";
		if (cert)
			X509_NAME_oneline(X509_get_subject_name(cert), subject, sizeof subject);
		log_ev(LOG_LVL_WARNING, NULL, "tls_client_rejected", LOG_S("listener", "cti-tls"),
		       LOG_S("reason", err == X509_V_ERR_CERT_REJECTED
		                           ? "no certificate name is an allowed client identity"
		                           : X509_verify_cert_error_string(err)),
		       LOG_I("depth", depth), LOG_S("subject", subject));
	}
	return ok;
}
