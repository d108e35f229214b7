/* SPDX-License-Identifier: ISC */
/*
 * anchor: what telgate checks and shows about a trust anchor (a CA certificate that client
 * certificates must chain to, uploaded by alias: seed 004 updateTrust / Trusts get), and
 * which client identities a peer certificate carries (seed 004 ClientIdentity).
 *
 * A trust anchor must be (tls_anchor_check, one verdict, one reason table):
 * - a CA: X.509 v3 with basicConstraints CA:TRUE, and keyCertSign when it has a keyUsage
 *   extension (RFC 5280 4.2.1.9, 4.2.1.3). A version 1 certificate is refused even when
 *   self-signed (OpenSSL would accept a v1 self-signed root): it cannot say it is a CA, and
 *   every current CA issues v3 roots;
 * - valid now: notBefore <= now <= notAfter (now is a parameter so tests pin it);
 * - parsable: its extensions decode and its public key is one OpenSSL knows.
 *
 * Names (tls_alias_check, tls_identity_check) are printable ASCII so they print in a CLI
 * table and a log line unchanged:
 * - alias: 1..TLS_ALIAS_MAX bytes of '!'..'~' except '/' and '\\' (an alias never looks
 *   like a path);
 * - client identity: 1..TLS_IDENTITY_MAX bytes of '!'..'~' except '*': the match is exact
 *   (ASCII case-insensitive) against the certificate's subject CN or a DNS SAN, so a
 *   wildcard would only ever match itself and is refused rather than misread.
 *
 * Pure functions; thread-safe. Ownership: certificates stay the caller's; results go into
 * the caller's structs; reasons are static strings.
 */
#ifndef TG_TLS_ANCHOR_H
#define TG_TLS_ANCHOR_H

#include <openssl/x509.h>
#include <stddef.h>
#include <time.h>

#define TLS_ALIAS_MAX 64
#define TLS_IDENTITY_MAX 255
#define TLS_DN_MAX 512 /* bytes of an RFC 2253 name shown, with its NUL */

enum tls_anchor_verdict {
	TLS_ANCHOR_OK = 0,
	TLS_ANCHOR_BAD_EXTENSIONS, /* an extension does not decode */
	TLS_ANCHOR_BAD_KEY,        /* public key unknown or does not decode */
	TLS_ANCHOR_V1,             /* version 1: no basicConstraints possible */
	TLS_ANCHOR_NOT_CA,         /* no basicConstraints CA:TRUE */
	TLS_ANCHOR_NO_CERT_SIGN,   /* keyUsage without keyCertSign */
	TLS_ANCHOR_BAD_TIME,       /* a validity time does not parse */
	TLS_ANCHOR_NOT_YET_VALID,  /* now < notBefore */
	TLS_ANCHOR_EXPIRED,        /* notAfter < now */
};

/* The first reason (in the order above) cert cannot be a trust anchor at time now. */
enum tls_anchor_verdict tls_anchor_check(X509 *cert, time_t now);

/* One sentence for a verdict ("not a CA certificate (basicConstraints CA:TRUE missing)"). */
const char *tls_anchor_reason(enum tls_anchor_verdict v);

/* The columns of `telgate trust get` (Alias comes from the store) and `trust show`. */
struct tls_anchor_info {
	char owner[TLS_DN_MAX];  /* subject, RFC 2253, non-ASCII escaped; "..." when cut */
	char issuer[TLS_DN_MAX]; /* issuer, same form */
	int self_signed;         /* subject == issuer and the signature verifies with its key */
	char sha256[96];         /* SHA-256 of the DER, colon-separated upper-case hex */
	time_t not_after;        /* epoch seconds; 0 when the time does not parse */
	char not_after_text[24]; /* ISO 8601 UTC, "2033-11-30T08:00:00Z"; "" likewise */
};

/* Fills out from cert. Returns 0, or -1 when OpenSSL fails (out of memory). */
int tls_anchor_describe(X509 *cert, struct tls_anchor_info *out);

/* NULL when alias is a valid alias, else why not (a static sentence). */
const char *tls_alias_check(const char *alias);

/* NULL when name is a valid client identity, else why not (a static sentence). */
const char *tls_identity_check(const char *name);

/* 1 when cert's subject CN (any of them) or one of its DNS SANs equals one of names[0..n)
 * ASCII case-insensitively, else 0. Certificate names that are not printable ASCII (or
 * hold a NUL, or are longer than TLS_IDENTITY_MAX) and entries of names that fail
 * tls_identity_check never match. No wildcard expansion on either side. */
int tls_identity_matches(X509 *cert, const char *const *names, size_t n);

#endif
