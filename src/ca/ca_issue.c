/* SPDX-License-Identifier: ISC */
#include "ca/ca_issue.h"

#include "core/log.h"
#include "core/util.h"
#include "tls/servercert.h"

#include <errno.h>
#include <openssl/core_names.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/x509v3.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* Attempts at a serial not in the table before giving up: a second one is already a 2^-64
 * event, a fourth means the store or the RNG is broken. */
#define SERIAL_ATTEMPTS 4
#define SERIAL_BYTES 16

static const char hexdig[] = "0123456789ABCDEF";

static void bytes_hex(const unsigned char *b, size_t n, char *out)
{
	for (size_t i = 0; i < n; i++) {
		out[2 * i] = hexdig[b[i] >> 4];
		out[2 * i + 1] = hexdig[b[i] & 15];
	}
	out[2 * n] = '\0';
}

int ca_serial_hex(const ASN1_INTEGER *serial, char out[STORE_SERIAL_HEX + 1])
{
	out[0] = '\0';
	BIGNUM *bn = serial ? ASN1_INTEGER_to_BN(serial, NULL) : NULL;
	unsigned char b[SERIAL_BYTES];
	int ok = bn && !BN_is_negative(bn) && BN_bn2binpad(bn, b, sizeof b) == (int)sizeof b;
	BN_free(bn);
	if (!ok)
		return -1;
	bytes_hex(b, sizeof b, out);
	return 0;
}

int ca_serial_normalize(const char *in, char out[STORE_SERIAL_HEX + 1])
{
	char digits[STORE_SERIAL_HEX];
	size_t n = 0;
	out[0] = '\0';
	for (const char *p = in; *p; p++) {
		if (*p == ':')
			continue;
		const char *d = strchr(hexdig, *p >= 'a' && *p <= 'f' ? *p - 'a' + 'A' : *p);
		if (!d || n == sizeof digits)
			return -1;
		digits[n++] = *d;
	}
	if (n == 0)
		return -1;
	memset(out, '0', STORE_SERIAL_HEX - n);
	memcpy(out + STORE_SERIAL_HEX - n, digits, n);
	out[STORE_SERIAL_HEX] = '\0';
	return 0;
}

int ca_instance_id_valid(const char *id)
{
	size_t n = id ? strspn(id, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
	                           "0123456789.-_")
	              : 0;
	return n > 0 && n <= CA_INSTANCE_ID_MAX && id[n] == '\0';
}

/* A user id fit for a CN: 1..64 bytes, no control characters (they would be escaped in
 * every display of the name, and a NUL would cut it). */
static int userid_valid(const char *u)
{
	size_t n = u ? strlen(u) : 0;
	if (n == 0 || n > CA_USERID_MAX)
		return 0;
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)u[i] < 0x20 || u[i] == 0x7f)
			return 0;
	return 1;
}

/* The template's own signature is thrown away by the signer; one key made once signs all
 * templates (an ECDSA signature costs ~20 µs, a key per template ~3 times that). */
static EVP_PKEY *template_key;
static pthread_once_t template_once = PTHREAD_ONCE_INIT;

static void template_key_init(void)
{
	template_key = EVP_EC_gen("P-256");
}

EVP_PKEY *ca_template_key(void)
{
	pthread_once(&template_once, template_key_init);
	return template_key;
}

static int add_bool_ext(X509 *x, int nid, void *value, int critical)
{
	return X509_add1_ext_i2d(x, nid, value, critical, X509V3_ADD_DEFAULT) == 1;
}

/* The extensions of a client certificate (see ca_issue.h), built as structures rather
 * than from configuration strings, so no part of a request is ever parsed as syntax. */
static int add_client_exts(X509 *x, const char *instanceid)
{
	int ok = 0;
	BASIC_CONSTRAINTS *bc = BASIC_CONSTRAINTS_new();
	ASN1_BIT_STRING *ku = ASN1_BIT_STRING_new();
	EXTENDED_KEY_USAGE *eku = sk_ASN1_OBJECT_new_null();
	ASN1_OCTET_STRING *ski = ASN1_OCTET_STRING_new();
	GENERAL_NAMES *san = NULL;
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned mdlen = 0;
	if (!bc || !ku || !eku || !ski)
		goto out;
	bc->ca = 0;
	ok = add_bool_ext(x, NID_basic_constraints, bc, 1) &&
	     ASN1_BIT_STRING_set_bit(ku, 0, 1) /* digitalSignature */ &&
	     add_bool_ext(x, NID_key_usage, ku, 1) &&
	     sk_ASN1_OBJECT_push(eku, OBJ_nid2obj(NID_client_auth)) > 0 &&
	     add_bool_ext(x, NID_ext_key_usage, eku, 0) &&
	     X509_pubkey_digest(x, EVP_sha1(), md, &mdlen) == 1 &&
	     ASN1_OCTET_STRING_set(ski, md, (int)mdlen) &&
	     add_bool_ext(x, NID_subject_key_identifier, ski, 0);
	if (ok && instanceid && instanceid[0]) {
		char uri[sizeof CA_SAN_URN_PREFIX + CA_INSTANCE_ID_MAX];
		snprintf(uri, sizeof uri, "%s%s", CA_SAN_URN_PREFIX, instanceid);
		GENERAL_NAME *gn = GENERAL_NAME_new();
		ASN1_IA5STRING *s = ASN1_IA5STRING_new();
		san = sk_GENERAL_NAME_new_null();
		ok = gn && s && san && ASN1_STRING_set(s, uri, -1);
		if (ok) {
			GENERAL_NAME_set0_value(gn, GEN_URI, s);
			s = NULL;
			ok = sk_GENERAL_NAME_push(san, gn) > 0;
			if (ok)
				gn = NULL;
		}
		GENERAL_NAME_free(gn);
		ASN1_IA5STRING_free(s);
		ok = ok && add_bool_ext(x, NID_subject_alt_name, san, 0);
	}
out:
	BASIC_CONSTRAINTS_free(bc);
	ASN1_BIT_STRING_free(ku);
	sk_ASN1_OBJECT_free(eku); /* the object is OpenSSL's static one */
	ASN1_OCTET_STRING_free(ski);
	GENERAL_NAMES_free(san);
	return ok;
}

/* The client's key into the template. An EC key is written from its curve and point, as
 * X509_set_pubkey would write it, but without that function's encode-and-decode round
 * trip (OpenSSL 3.0's decoders made it a fifth of an enrolment's CA step); other keys go
 * through X509_set_pubkey. */
static int set_pubkey(X509 *x, EVP_PKEY *k)
{
	char group[64];
	unsigned char point[160], *copy = NULL;
	size_t glen = 0, plen = 0;
	int nid = NID_undef;
	if (EVP_PKEY_get_base_id(k) == EVP_PKEY_EC &&
	    EVP_PKEY_get_utf8_string_param(k, OSSL_PKEY_PARAM_GROUP_NAME, group, sizeof group,
	                                   &glen) &&
	    (nid = OBJ_sn2nid(group)) != NID_undef &&
	    EVP_PKEY_get_octet_string_param(k, OSSL_PKEY_PARAM_ENCODED_PUBLIC_KEY, point,
	                                    sizeof point, &plen) &&
	    (copy = OPENSSL_memdup(point, plen)) &&
	    X509_PUBKEY_set0_param(X509_get_X509_PUBKEY(x), OBJ_nid2obj(NID_X9_62_id_ecPublicKey),
	                           V_ASN1_OBJECT, OBJ_nid2obj(nid), copy, (int)plen))
		return 1;
	OPENSSL_free(copy);
	ERR_clear_error();
	return X509_set_pubkey(x, k);
}

/* The template's signature fields: the signer replaces them (it signs with the CA key), so
 * the template carries the algorithm and an empty value instead of a signature computed
 * for nothing (one ECDSA signature per certificate, a tenth of the CA step). OpenSSL 3.0
 * has no setter for them: X509_get0_tbs_sigalg and X509_get0_signature return x's own
 * fields, which x owns and may change (const only in the getters' types). */
static int unsigned_template(X509 *x)
{
	const ASN1_BIT_STRING *sig;
	const X509_ALGOR *outer;
	X509_get0_signature(&sig, &outer, x);
	X509_ALGOR *inner = (X509_ALGOR *)X509_get0_tbs_sigalg(x);
	return X509_ALGOR_set0(inner, OBJ_nid2obj(NID_ecdsa_with_SHA256), V_ASN1_UNDEF, NULL) &&
	       X509_ALGOR_set0((X509_ALGOR *)outer, OBJ_nid2obj(NID_ecdsa_with_SHA256),
	                       V_ASN1_UNDEF, NULL) &&
	       ASN1_BIT_STRING_set((ASN1_BIT_STRING *)sig, (unsigned char *)"", 0);
}

/* The template for one serial, DER-encoded into *der (malloc'ed by OpenSSL); its subject
 * as the issued-certificates table shows it into subject. */
static int build_template(const struct ca_client_request *req, X509 *ca,
                          const unsigned char serial[SERIAL_BYTES], int64_t notbefore,
                          int64_t notafter, unsigned char **der, int *len, char *subject,
                          size_t subject_cap)
{
	X509 *x = X509_new();
	BIGNUM *bn = BN_bin2bn(serial, SERIAL_BYTES, NULL);
	ASN1_INTEGER *ai = bn ? BN_to_ASN1_INTEGER(bn, NULL) : NULL;
	int ok = x && ai && X509_set_version(x, X509_VERSION_3) && X509_set_serialNumber(x, ai) &&
	         X509_time_adj_ex(X509_getm_notBefore(x), 0, 0, &(time_t){(time_t)notbefore}) &&
	         X509_time_adj_ex(X509_getm_notAfter(x), 0, 0, &(time_t){(time_t)notafter}) &&
	         set_pubkey(x, req->pubkey) &&
	         X509_NAME_add_entry_by_NID(X509_get_subject_name(x), NID_commonName, MBSTRING_UTF8,
	                                    (const unsigned char *)req->userid, -1, -1, 0) &&
	         X509_set_issuer_name(x, X509_get_subject_name(ca)) &&
	         add_client_exts(x, req->instanceid) && unsigned_template(x);
	*der = NULL;
	*len = ok ? i2d_X509(x, der) : -1;
	if (*len > 0) {
		struct tls_cert_summary sum;
		tls_cert_summary(x, &sum);
		tg_strlcpy(subject, sum.subject, subject_cap);
	}
	BN_free(bn);
	ASN1_INTEGER_free(ai);
	X509_free(x);
	return *len > 0 ? 0 : -1;
}

static int64_t epoch_of(const ASN1_TIME *t)
{
	struct tm tm;
	if (ASN1_TIME_to_tm(t, &tm) != 1)
		return 0;
	return (int64_t)timegm(&tm);
}

/* A certificate's serial and subjectPublicKeyInfo, as DER elements (tag to end) found by
 * walking the encoding: Certificate { TBSCertificate { [0] version, serialNumber,
 * signature, issuer, validity, subject, subjectPublicKeyInfo, ... }, ... }. Decoding the
 * certificate would decode its key, the costliest part with OpenSSL 3.0. Returns 0, or -1
 * when der is not shaped so. */
struct der_span {
	const unsigned char *p;
	long len;
};

static int der_element(const unsigned char **p, long *left, struct der_span *out, int enter)
{
	const unsigned char *start = *p;
	long len;
	int tag, cls;
	if (*left <= 0 || (ASN1_get_object(p, &len, &tag, &cls, *left) & 0x80))
		return -1;
	long hdr = (long)(*p - start);
	if (out)
		*out = (struct der_span){start, hdr + len};
	if (!enter)
		*p += len;
	*left -= enter ? hdr : hdr + len;
	return *left < 0 ? -1 : tag | cls;
}

static int serial_and_key(const unsigned char *der, size_t len, struct der_span *serial,
                          struct der_span *spki)
{
	const unsigned char *p = der;
	long left = (long)len;
	if (der_element(&p, &left, NULL, 1) < 0 || der_element(&p, &left, NULL, 1) < 0)
		return -1; /* into Certificate and TBSCertificate */
	const unsigned char *q = p;
	long tl = left;
	int tag = der_element(&q, &tl, serial, 0);
	if (tag == (V_ASN1_CONTEXT_SPECIFIC | 0)) { /* [0] version */
		p = q;
		left = tl;
	}
	if (der_element(&p, &left, serial, 0) != V_ASN1_INTEGER)
		return -1;
	for (int i = 0; i < 4; i++) /* signature, issuer, validity, subject */
		if (der_element(&p, &left, NULL, 0) < 0)
			return -1;
	return der_element(&p, &left, spki, 0) == V_ASN1_SEQUENCE ? 0 : -1;
}

/* The certificate the signer returned must be the template's: its serial and key. */
static int signed_matches(const unsigned char *der, size_t len, const unsigned char *tmpl,
                          size_t tlen)
{
	struct der_span s1, k1, s2, k2;
	return serial_and_key(der, len, &s1, &k1) == 0 &&
	       serial_and_key(tmpl, tlen, &s2, &k2) == 0 && s1.len == s2.len &&
	       memcmp(s1.p, s2.p, (size_t)s1.len) == 0 && k1.len == k2.len &&
	       memcmp(k1.p, k2.p, (size_t)k1.len) == 0;
}

static char *pem_of(const unsigned char *der, size_t len)
{
	BIO *b = BIO_new(BIO_s_mem());
	char *data = NULL, *out = NULL;
	long n = b && PEM_write_bio(b, PEM_STRING_X509, "", der, (long)len)
	             ? BIO_get_mem_data(b, &data)
	             : 0;
	if (n > 0 && (out = malloc((size_t)n + 1))) {
		memcpy(out, data, (size_t)n);
		out[n] = '\0';
	}
	BIO_free(b);
	return out;
}

const char *ca_signer_strerror(int rc)
{
	switch (rc) {
	case -EAGAIN:
		return "the signer is not running";
	case -EBUSY:
		return "the signer's queue is full";
	case -EINVAL:
		return "the signer refused the request";
	case -ENOENT:
		return "the signer holds no such key";
	case -ENOMEM:
		return "out of memory";
	default:
		return "the signer failed";
	}
}

void ca_issued_free(struct ca_issued *c)
{
	free(c->der);
	free(c->pem);
	memset(c, 0, sizeof *c);
}

static int check_request(const struct ca_client_request *req, char *err, size_t errlen)
{
	const char *why =
	    !req->pubkey                 ? "no public key"
	    : !userid_valid(req->userid) ? "the user id must be 1-64 bytes without "
	                                   "control characters"
	    : req->instanceid && req->instanceid[0] && !ca_instance_id_valid(req->instanceid)
	        ? "the instance id must be 1-64 letters, digits, '.', '-' or '_'"
	    : req->days < 1 || req->days > 3650 ? "the lifetime must be 1-3650 days"
	    : req->profile && strlen(req->profile) > STORE_ID_MAX ? "the profile name is too long"
	                                                          : NULL;
	if (why)
		snprintf(err, errlen, "%s", why);
	return why ? -EINVAL : 0;
}

/* The CA certificate: the caller's, or the signer's. */
static int ca_cert(struct signer *s, X509 *given, X509 **out)
{
	*out = NULL;
	if (given)
		return X509_up_ref(given) ? (*out = given, 0) : -ENOMEM;
	unsigned char *der = NULL;
	size_t len = 0;
	int rc = signer_certificate(s, SIGNER_KEY_CA, &der, &len);
	if (rc != 0)
		return rc;
	const unsigned char *p = der;
	*out = d2i_X509(NULL, &p, (long)len);
	free(der);
	return *out ? 0 : -EIO;
}

/* Signs one template and, when its serial is new, records the certificate. Returns 0,
 * 1 when the serial was taken (try another), or a negative errno. */
static int issue_once(struct signer *s, store_t *st, const struct ca_client_request *req, X509 *ca,
                      int64_t nb, int64_t na, struct ca_issued *out, char *err, size_t errlen)
{
	unsigned char serial[SERIAL_BYTES];
	static const unsigned char zero[SERIAL_BYTES];
	do {
		if (RAND_bytes(serial, sizeof serial) != 1) {
			snprintf(err, errlen, "the random number generator failed");
			return -EIO;
		}
		serial[0] &= 0x7f; /* a positive INTEGER in 16 octets at most */
	} while (memcmp(serial, zero, sizeof serial) == 0); /* 0 is not a serial (RFC 5280) */
	bytes_hex(serial, sizeof serial, out->serial);

	unsigned char *tmpl = NULL, *der = NULL;
	int tlen = 0;
	size_t dlen = 0;
	struct store_issuedcert row = {.notbefore = nb, .notafter = na};
	if (build_template(req, ca, serial, nb, na, &tmpl, &tlen, row.subject,
	                   sizeof row.subject) != 0) {
		snprintf(err, errlen, "cannot build the certificate template");
		return -ENOMEM;
	}
	int rc = signer_sign_cert(s, tmpl, (size_t)tlen, &der, &dlen);
	if (rc != 0) {
		OPENSSL_free(tmpl);
		snprintf(err, errlen, "%s", ca_signer_strerror(rc));
		return rc;
	}
	/* Checked and recorded from its DER: decoding it would cost more than its signature. */
	int same = signed_matches(der, dlen, tmpl, (size_t)tlen);
	OPENSSL_free(tmpl);
	char *pem = same ? pem_of(der, dlen) : NULL;
	if (!pem) {
		snprintf(err, errlen, "%s",
		         same ? "out of memory"
		              : "the signer returned a certificate that is not the template's");
		rc = same ? -ENOMEM : -EIO;
		goto fail;
	}
	snprintf(row.serial, sizeof row.serial, "%s", out->serial);
	snprintf(row.userid, sizeof row.userid, "%s", req->userid);
	snprintf(row.instanceid, sizeof row.instanceid, "%s",
	         req->instanceid ? req->instanceid : "");
	snprintf(row.profile, sizeof row.profile, "%s", req->profile ? req->profile : "");
	tls_der_sha256(der, dlen, row.sha256, sizeof row.sha256);
	int src = store_issuedcert_add(st, &row, pem);
	if (src == STORE_CONSTRAINT) {
		struct store_issuedcert old;
		if (store_issuedcert_get(st, row.serial, &old) == STORE_OK) {
			rc = 1; /* the serial is taken: this certificate is dropped unseen */
			goto fail;
		}
	}
	if (src != STORE_OK) {
		snprintf(err, errlen, "cannot record the certificate: %s", store_last_error());
		rc = -EIO;
		goto fail;
	}
	out->der = der;
	out->der_len = dlen;
	out->pem = pem;
	out->notbefore = nb;
	out->notafter = na;
	tg_strlcpy(out->sha256, row.sha256, sizeof out->sha256);
	return 0;
fail:
	free(pem);
	free(der);
	return rc;
}

int ca_issue_client(struct signer *s, store_t *st, const struct ca_client_request *req,
                    struct ca_issued *out, char *err, size_t errlen)
{
	memset(out, 0, sizeof *out);
	int rc = check_request(req, err, errlen);
	if (rc != 0)
		return rc;
	if (!s) {
		snprintf(err, errlen, "%s", ca_signer_strerror(-EAGAIN));
		return -EAGAIN;
	}
	X509 *ca = NULL;
	rc = ca_cert(s, req->ca, &ca);
	if (rc != 0) {
		snprintf(err, errlen, "no CA certificate: %s", ca_signer_strerror(rc));
		return rc;
	}
	int64_t now = req->now ? req->now : (int64_t)time(NULL);
	int64_t nb = now - CA_BACKDATE_S, na = now + (int64_t)req->days * 86400;
	/* Never outside the CA's validity: the signer would refuse it. */
	int64_t ca_nb = epoch_of(X509_get0_notBefore(ca)), ca_na = epoch_of(X509_get0_notAfter(ca));
	if (nb < ca_nb)
		nb = ca_nb; /* a CA made less than 5 minutes ago */
	if (na > ca_na)
		na = ca_na;
	if (na <= now || now < ca_nb) {
		snprintf(err, errlen, "the CA certificate is %s",
		         now < ca_nb ? "not valid yet (is the clock right?)" : "expired");
		rc = -EIO;
	} else {
		rc = 1;
		for (int i = 0; i < SERIAL_ATTEMPTS && rc == 1; i++) {
			rc = issue_once(s, st, req, ca, nb, na, out, err, errlen);
			if (rc == 1)
				log_ev(LOG_LVL_WARNING, req->cid, "ca_serial_taken",
				       LOG_S("serial", out->serial));
		}
		if (rc == 1) {
			snprintf(err, errlen, "no unused serial after %d attempts",
			         SERIAL_ATTEMPTS);
			rc = -EIO;
		}
	}
	X509_free(ca);
	if (rc == 0)
		log_ev(LOG_LVL_INFO, req->cid, "ca_issued", LOG_S("serial", out->serial),
		       LOG_S("user", req->userid), LOG_S("instance", req->instanceid),
		       LOG_S("profile", req->profile), LOG_I("notafter", out->notafter));
	else {
		log_ev(LOG_LVL_WARNING, req->cid, "ca_issue_failed", LOG_S("user", req->userid),
		       LOG_S("instance", req->instanceid), LOG_I("rc", rc), LOG_S("error", err));
		ca_issued_free(out);
	}
	return rc;
}
