/* SPDX-License-Identifier: ISC */
#include "tls/anchor.h"
#include "core/util.h"

#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/x509v3.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

enum tls_anchor_verdict tls_anchor_check(X509 *cert, time_t now)
{
	uint32_t flags = X509_get_extension_flags(cert);
	if (flags & EXFLAG_INVALID)
		return TLS_ANCHOR_BAD_EXTENSIONS;
	if (!X509_get0_pubkey(cert)) {
		ERR_clear_error();
		return TLS_ANCHOR_BAD_KEY;
	}
	if (X509_get_version(cert) == X509_VERSION_1)
		return TLS_ANCHOR_V1;
	if (!(flags & EXFLAG_CA))
		return TLS_ANCHOR_NOT_CA;
	if ((flags & EXFLAG_KUSAGE) && !(X509_get_key_usage(cert) & KU_KEY_CERT_SIGN))
		return TLS_ANCHOR_NO_CERT_SIGN;
	/* X509_cmp_time: -1 when the time is at or before now, 1 after, 0 unparsable. */
	int nb = X509_cmp_time(X509_get0_notBefore(cert), &now);
	int na = X509_cmp_time(X509_get0_notAfter(cert), &now);
	if (nb == 0 || na == 0)
		return TLS_ANCHOR_BAD_TIME;
	if (nb > 0)
		return TLS_ANCHOR_NOT_YET_VALID;
	if (na < 0)
		return TLS_ANCHOR_EXPIRED;
	return TLS_ANCHOR_OK;
}

/* One row per verdict: the reason an administrator reads after `trust update` failed. */
static const char *const reasons[] = {
    [TLS_ANCHOR_OK] = "a valid trust anchor",
    [TLS_ANCHOR_BAD_EXTENSIONS] = "an extension of the certificate does not parse",
    [TLS_ANCHOR_BAD_KEY] = "the public key does not parse or its algorithm is unknown",
    [TLS_ANCHOR_V1] = "a version 1 certificate cannot be a CA (no basicConstraints); "
                      "reissue the root as version 3",
    [TLS_ANCHOR_NOT_CA] = "not a CA certificate (basicConstraints CA:TRUE missing)",
    [TLS_ANCHOR_NO_CERT_SIGN] = "its keyUsage does not allow signing certificates "
                                "(keyCertSign missing)",
    [TLS_ANCHOR_BAD_TIME] = "a validity time (notBefore/notAfter) does not parse",
    [TLS_ANCHOR_NOT_YET_VALID] = "not yet valid (notBefore is in the future)",
    [TLS_ANCHOR_EXPIRED] = "expired (notAfter is in the past)",
};

const char *tls_anchor_reason(enum tls_anchor_verdict v)
{
	if ((size_t)v >= sizeof reasons / sizeof reasons[0] || !reasons[v])
		return "unknown verdict";
	return reasons[v];
}

/* name in RFC 2253 form (non-ASCII escaped as \XX) into out; cut with "..." when long. */
static int dn_of(const X509_NAME *name, char *out, size_t cap)
{
	BIO *b = BIO_new(BIO_s_mem());
	if (!b || X509_NAME_print_ex(b, name, 0, XN_FLAG_RFC2253) < 0) {
		BIO_free(b);
		return -1;
	}
	char *p;
	long n = BIO_get_mem_data(b, &p);
	size_t k = n > 0 ? (size_t)n : 0;
	if (k >= cap) {
		k = cap - 4;
		memcpy(out + k, "...", 4);
	} else {
		out[k] = '\0';
	}
	memcpy(out, p, k);
	BIO_free(b);
	return 0;
}

static int self_signed(X509 *cert)
{
	EVP_PKEY *pk = X509_get0_pubkey(cert);
	int ok = pk &&
	         X509_NAME_cmp(X509_get_subject_name(cert), X509_get_issuer_name(cert)) == 0 &&
	         X509_verify(cert, pk) == 1;
	ERR_clear_error();
	return ok;
}

int tls_anchor_describe(X509 *cert, struct tls_anchor_info *out)
{
	memset(out, 0, sizeof *out);
	if (dn_of(X509_get_subject_name(cert), out->owner, sizeof out->owner) != 0 ||
	    dn_of(X509_get_issuer_name(cert), out->issuer, sizeof out->issuer) != 0)
		return -1;
	out->self_signed = self_signed(cert);
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned n = 0;
	if (!X509_digest(cert, EVP_sha256(), md, &n))
		return -1;
	for (unsigned i = 0; i < n && 3 * i + 3 <= sizeof out->sha256; i++)
		snprintf(out->sha256 + 3 * i, 4, i + 1 < n ? "%02X:" : "%02X", md[i]);
	struct tm tm;
	if (ASN1_TIME_to_tm(X509_get0_notAfter(cert), &tm) == 1) {
		out->not_after = timegm(&tm);
		tg_fmt_time(out->not_after, out->not_after_text, sizeof out->not_after_text);
	}
	ERR_clear_error();
	return 0;
}

enum name_problem { NAME_OK, NAME_EMPTY, NAME_LONG, NAME_NOT_PRINTABLE, NAME_BANNED };

/* A name must be 1..max bytes of '!'..'~', none of them in banned. */
static enum name_problem name_problem(const char *s, size_t max, const char *banned)
{
	if (!s || !*s)
		return NAME_EMPTY;
	for (size_t n = 0; s[n]; n++) {
		unsigned char c = (unsigned char)s[n];
		if (n >= max)
			return NAME_LONG;
		if (c < 0x21 || c > 0x7e)
			return NAME_NOT_PRINTABLE;
		if (strchr(banned, c))
			return NAME_BANNED;
	}
	return NAME_OK;
}

#define STR_(x) #x
#define STR(x) STR_(x)

static const char *const alias_why[] = {
    [NAME_OK] = NULL,
    [NAME_EMPTY] = "an alias may not be empty",
    [NAME_LONG] = "an alias is at most " STR(TLS_ALIAS_MAX) " bytes",
    [NAME_NOT_PRINTABLE] = "an alias is printable ASCII without spaces",
    [NAME_BANNED] = "an alias may not hold '/' or '\\'",
};

static const char *const identity_why[] = {
    [NAME_OK] = NULL,
    [NAME_EMPTY] = "a client identity may not be empty",
    [NAME_LONG] = "a client identity is at most " STR(TLS_IDENTITY_MAX) " bytes",
    [NAME_NOT_PRINTABLE] = "a client identity (a certificate CN or DNS name) is printable "
                           "ASCII without spaces",
    [NAME_BANNED] = "a client identity may not hold '*': names match exactly, wildcards are "
                    "not expanded",
};

const char *tls_alias_check(const char *alias)
{
	return alias_why[name_problem(alias, TLS_ALIAS_MAX, "/\\")];
}

const char *tls_identity_check(const char *name)
{
	return identity_why[name_problem(name, TLS_IDENTITY_MAX, "*")];
}

static int ascii_lower(int c)
{
	return c >= 'A' && c <= 'Z' ? c - 'A' + 'a' : c;
}

/* 1 when the certificate name p[0..len) is one of names (a valid one), case aside. */
static int listed(const unsigned char *p, int len, const char *const *names, size_t n)
{
	if (len <= 0 || len > TLS_IDENTITY_MAX)
		return 0;
	for (int i = 0; i < len; i++)
		if (p[i] < 0x21 || p[i] > 0x7e)
			return 0;
	for (size_t k = 0; k < n; k++) {
		if (!names[k] || strlen(names[k]) != (size_t)len || tls_identity_check(names[k]))
			continue;
		int i = 0;
		while (i < len && ascii_lower(p[i]) == ascii_lower((unsigned char)names[k][i]))
			i++;
		if (i == len)
			return 1;
	}
	return 0;
}

int tls_identity_matches(X509 *cert, const char *const *names, size_t n)
{
	int found = 0;
	X509_NAME *subj = X509_get_subject_name(cert);
	for (int i = -1;
	     !found && subj && (i = X509_NAME_get_index_by_NID(subj, NID_commonName, i)) >= 0;) {
		unsigned char *u = NULL;
		int len =
		    ASN1_STRING_to_UTF8(&u, X509_NAME_ENTRY_get_data(X509_NAME_get_entry(subj, i)));
		found = len > 0 && listed(u, len, names, n);
		OPENSSL_free(u);
	}
	GENERAL_NAMES *sans =
	    found ? NULL : X509_get_ext_d2i(cert, NID_subject_alt_name, NULL, NULL);
	for (int i = 0; !found && sans && i < sk_GENERAL_NAME_num(sans); i++) {
		const GENERAL_NAME *g = sk_GENERAL_NAME_value(sans, i);
		if (g->type == GEN_DNS)
			found = listed(ASN1_STRING_get0_data(g->d.dNSName),
			               ASN1_STRING_length(g->d.dNSName), names, n);
	}
	GENERAL_NAMES_free(sans);
	ERR_clear_error();
	return found;
}
