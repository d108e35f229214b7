/* SPDX-License-Identifier: ISC */
#include "ca/ca_issue.h"

#include "core/log.h"
#include "core/util.h"
#include "tls/servercert.h"

#include <errno.h>
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

/* The template for one serial, DER-encoded into *der (malloc'ed by OpenSSL). */
static int build_template(const struct ca_client_request *req, X509 *ca,
                          const unsigned char serial[SERIAL_BYTES], int64_t notbefore,
                          int64_t notafter, unsigned char **der, int *len)
{
	X509 *x = X509_new();
	BIGNUM *bn = BN_bin2bn(serial, SERIAL_BYTES, NULL);
	ASN1_INTEGER *ai = bn ? BN_to_ASN1_INTEGER(bn, NULL) : NULL;
	int ok = x && ai && X509_set_version(x, X509_VERSION_3) && X509_set_serialNumber(x, ai) &&
	         X509_time_adj_ex(X509_getm_notBefore(x), 0, 0, &(time_t){(time_t)notbefore}) &&
	         X509_time_adj_ex(X509_getm_notAfter(x), 0, 0, &(time_t){(time_t)notafter}) &&
	         X509_set_pubkey(x, req->pubkey) &&
	         X509_NAME_add_entry_by_NID(X509_get_subject_name(x), NID_commonName, MBSTRING_UTF8,
	                                    (const unsigned char *)req->userid, -1, -1, 0) &&
	         X509_set_issuer_name(x, X509_get_subject_name(ca)) &&
	         add_client_exts(x, req->instanceid) && ca_template_key() &&
	         X509_sign(x, ca_template_key(), EVP_sha256()) > 0;
	*der = NULL;
	*len = ok ? i2d_X509(x, der) : -1;
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

/* The certificate the signer returned must be the template's: its serial and key. */
static X509 *check_signed(const unsigned char *der, size_t len, const char *serial,
                          const EVP_PKEY *pub)
{
	const unsigned char *p = der;
	X509 *x = d2i_X509(NULL, &p, (long)len);
	char got[STORE_SERIAL_HEX + 1];
	if (!x || p != der + len || ca_serial_hex(X509_get0_serialNumber(x), got) != 0 ||
	    strcmp(got, serial) != 0 || EVP_PKEY_eq(X509_get0_pubkey(x), pub) != 1) {
		X509_free(x);
		return NULL;
	}
	return x;
}

static char *pem_of(X509 *x)
{
	BIO *b = BIO_new(BIO_s_mem());
	char *data = NULL, *out = NULL;
	long n = b && PEM_write_bio_X509(b, x) ? BIO_get_mem_data(b, &data) : 0;
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
	if (build_template(req, ca, serial, nb, na, &tmpl, &tlen) != 0) {
		snprintf(err, errlen, "cannot build the certificate template");
		return -ENOMEM;
	}
	int rc = signer_sign_cert(s, tmpl, (size_t)tlen, &der, &dlen);
	OPENSSL_free(tmpl);
	if (rc != 0) {
		snprintf(err, errlen, "%s", ca_signer_strerror(rc));
		return rc;
	}
	X509 *x = check_signed(der, dlen, out->serial, req->pubkey);
	char *pem = x ? pem_of(x) : NULL;
	struct tls_cert_summary sum;
	if (!pem) {
		snprintf(err, errlen,
		         "the signer returned a certificate that is not the template's");
		rc = -EIO;
		goto fail;
	}
	tls_cert_summary(x, &sum);
	struct store_issuedcert row = {.notbefore = nb, .notafter = na};
	snprintf(row.serial, sizeof row.serial, "%s", out->serial);
	snprintf(row.subject, sizeof row.subject, "%s", sum.subject);
	snprintf(row.userid, sizeof row.userid, "%s", req->userid);
	snprintf(row.instanceid, sizeof row.instanceid, "%s",
	         req->instanceid ? req->instanceid : "");
	snprintf(row.profile, sizeof row.profile, "%s", req->profile ? req->profile : "");
	tg_strlcpy(row.sha256, sum.sha256, sizeof row.sha256);
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
	tg_strlcpy(out->sha256, sum.sha256, sizeof out->sha256);
	X509_free(x);
	return 0;
fail:
	X509_free(x);
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
