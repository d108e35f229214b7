/* SPDX-License-Identifier: ISC */
#include "ca/ca_crl.h"

#include "ca/ca_issue.h"
#include "core/log.h"
#include "core/util.h"

#include <errno.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#define CRL_MAX_BYTES (16u * 1024 * 1024) /* ~400,000 entries: far beyond any telgate */

/* RFC 5280 §5.3.1, the names of the codes an administrator may give. */
static const struct {
	const char *name;
	int code;
} reasons[] = {
    {"unspecified", CRL_REASON_UNSPECIFIED},
    {"keyCompromise", CRL_REASON_KEY_COMPROMISE},
    {"cACompromise", CRL_REASON_CA_COMPROMISE},
    {"affiliationChanged", CRL_REASON_AFFILIATION_CHANGED},
    {"superseded", CRL_REASON_SUPERSEDED},
    {"cessationOfOperation", CRL_REASON_CESSATION_OF_OPERATION},
    {"certificateHold", CRL_REASON_CERTIFICATE_HOLD},
    {"privilegeWithdrawn", CRL_REASON_PRIVILEGE_WITHDRAWN},
};
#define NREASONS (sizeof reasons / sizeof reasons[0])

int ca_crl_reason_parse(const char *name)
{
	for (size_t i = 0; name && i < NREASONS; i++)
		if (strcmp(name, reasons[i].name) == 0)
			return reasons[i].code;
	return -1;
}

const char *ca_crl_reason_list(void)
{
	return "unspecified, keyCompromise, cACompromise, affiliationChanged, superseded, "
	       "cessationOfOperation, certificateHold, privilegeWithdrawn";
}

/* Issuing is serialised: the newest number is always the one on disk. */
static pthread_mutex_t crl_mu = PTHREAD_MUTEX_INITIALIZER;

static int crl_on_disk(const char *dir, int64_t *number, int64_t *this, int64_t *next);

struct entry {
	unsigned char serial[16];
	int64_t at;
	int reason;
};

struct entries {
	struct entry *v;
	size_t n, cap;
	int bad;
};

static int hex_byte(const char *h)
{
	int v = 0;
	for (int i = 0; i < 2; i++) {
		char c = h[i];
		v = v * 16 + (c <= '9' ? c - '0' : c - 'A' + 10);
	}
	return v;
}

static int collect(void *ud, const struct store_issuedcert *c)
{
	struct entries *e = ud;
	if (e->n == e->cap) {
		size_t cap = e->cap ? 2 * e->cap : 64;
		struct entry *v = realloc(e->v, cap * sizeof *v);
		if (!v) {
			e->bad = 1;
			return 1;
		}
		e->v = v;
		e->cap = cap;
	}
	struct entry *x = &e->v[e->n++];
	for (int i = 0; i < 16; i++)
		x->serial[i] = (unsigned char)hex_byte(c->serial + 2 * i);
	x->at = c->revoked_at;
	x->reason = ca_crl_reason_parse(c->revocation_reason);
	return 0;
}

/* The CRL number and the entries, read together so that they agree; with bump, a new
 * number is taken first. */
static int read_state(store_t *st, int bump, int64_t now, unsigned days, int64_t *number,
                      struct entries *e, char *err, size_t errlen)
{
	/* A certificate stays listed for one CRL lifetime after it expired: CRLs are reissued
	 * at least every half lifetime, so by then it was on one issued after its end, as RFC
	 * 5280 §3.3 asks before an entry may go. */
	int64_t since = now - (int64_t)days * 86400;
	int rc = store_begin(st);
	if (rc == STORE_OK)
		rc = bump ? store_crlnumber_next(st, number) : store_crlnumber_get(st, number);
	if (rc == STORE_OK)
		rc = store_issuedcerts_revoked(st, since, collect, e);
	if (rc == STORE_OK && e->bad)
		rc = STORE_ERROR;
	if (rc == STORE_OK)
		rc = store_commit(st);
	else
		store_rollback(st);
	if (rc != STORE_OK) {
		snprintf(err, errlen, "cannot read the revocations: %s",
		         e->bad ? "out of memory" : store_last_error());
		return -EIO;
	}
	return 0;
}

static ASN1_TIME *epoch_time(int64_t t)
{
	return ASN1_TIME_set(NULL, (time_t)t);
}

static int add_entry(X509_CRL *crl, const struct entry *x)
{
	X509_REVOKED *r = X509_REVOKED_new();
	BIGNUM *bn = BN_bin2bn(x->serial, sizeof x->serial, NULL);
	ASN1_INTEGER *ai = bn ? BN_to_ASN1_INTEGER(bn, NULL) : NULL;
	ASN1_TIME *at = epoch_time(x->at);
	ASN1_ENUMERATED *code = NULL;
	int ok = r && ai && at && X509_REVOKED_set_serialNumber(r, ai) &&
	         X509_REVOKED_set_revocationDate(r, at);
	/* §5.3.1: "the reason code CRL entry extension SHOULD be absent instead of using the
	 * unspecified (0) reasonCode value". */
	if (ok && x->reason > CRL_REASON_UNSPECIFIED) {
		code = ASN1_ENUMERATED_new();
		ok = code && ASN1_ENUMERATED_set(code, x->reason) &&
		     X509_REVOKED_add1_ext_i2d(r, NID_crl_reason, code, 0, 0) == 1;
	}
	if (ok && X509_CRL_add0_revoked(crl, r))
		r = NULL;
	else
		ok = 0;
	X509_REVOKED_free(r);
	BN_free(bn);
	ASN1_INTEGER_free(ai);
	ASN1_TIME_free(at);
	ASN1_ENUMERATED_free(code);
	return ok;
}

/* The CRL template (see ca_crl.h), DER into *der (OPENSSL_free). */
static int build_crl(X509 *ca, int64_t number, int64_t now, unsigned days, const struct entries *e,
                     unsigned char **der, int *len)
{
	X509_CRL *crl = X509_CRL_new();
	ASN1_TIME *this = epoch_time(now), *next = epoch_time(now + (int64_t)days * 86400);
	ASN1_INTEGER *num = ASN1_INTEGER_new();
	AUTHORITY_KEYID *akid = AUTHORITY_KEYID_new();
	const ASN1_OCTET_STRING *ski = X509_get0_subject_key_id(ca);
	int ok = crl && this && next && num && akid && ski &&
	         X509_CRL_set_version(crl, X509_CRL_VERSION_2) &&
	         X509_CRL_set_issuer_name(crl, X509_get_subject_name(ca)) &&
	         X509_CRL_set1_lastUpdate(crl, this) && X509_CRL_set1_nextUpdate(crl, next) &&
	         ASN1_INTEGER_set_int64(num, number) &&
	         X509_CRL_add1_ext_i2d(crl, NID_crl_number, num, 0, 0) == 1 &&
	         (akid->keyid = ASN1_OCTET_STRING_dup(ski)) != NULL &&
	         X509_CRL_add1_ext_i2d(crl, NID_authority_key_identifier, akid, 0, 0) == 1;
	for (size_t i = 0; ok && i < e->n; i++)
		ok = add_entry(crl, &e->v[i]);
	ok = ok && X509_CRL_sort(crl) && ca_template_key() &&
	     X509_CRL_sign(crl, ca_template_key(), EVP_sha256()) > 0;
	*der = NULL;
	*len = ok ? i2d_X509_CRL(crl, der) : -1;
	X509_CRL_free(crl);
	ASN1_TIME_free(this);
	ASN1_TIME_free(next);
	ASN1_INTEGER_free(num);
	AUTHORITY_KEYID_free(akid);
	return *len > 0 ? 0 : -1;
}

static X509 *ca_of(struct signer *s, int *rc)
{
	unsigned char *der = NULL;
	size_t len = 0;
	*rc = s ? signer_certificate(s, SIGNER_KEY_CA, &der, &len) : -EAGAIN;
	if (*rc != 0)
		return NULL;
	const unsigned char *p = der;
	X509 *ca = d2i_X509(NULL, &p, (long)len);
	free(der);
	*rc = ca ? 0 : -EIO;
	return ca;
}

static int write_crl(const char *dir, const unsigned char *der, size_t len, char *err,
                     size_t errlen)
{
	char path[4096];
	const unsigned char *p = der;
	X509_CRL *crl = d2i_X509_CRL(NULL, &p, (long)len);
	BIO *b = BIO_new(BIO_s_mem());
	char *pem = NULL;
	long plen = crl && b && PEM_write_bio_X509_CRL(b, crl) ? BIO_get_mem_data(b, &pem) : -1;
	int rc = plen > 0 ? 0 : -EIO;
	/* The PEM first: the DER (what is served and what ca_crl_refresh reads) is the commit. */
	if (rc == 0 && (size_t)snprintf(path, sizeof path, "%s/crl.pem", dir) < sizeof path)
		rc = tg_write_file_atomic(path, pem, (size_t)plen, 0644);
	if (rc == 0 && (size_t)snprintf(path, sizeof path, "%s/" CA_CRL_FILE, dir) < sizeof path)
		rc = tg_write_file_atomic(path, der, len, 0644);
	if (rc != 0)
		snprintf(err, errlen, "cannot write the CRL in %s: %s", dir, strerror(-rc));
	BIO_free(b);
	X509_CRL_free(crl);
	return rc;
}

/* Issues and writes the CRL: a new number with bump, else the store's current one (taken by
 * a revocation) unless this process already wrote it. Called with crl_mu held. */
static int publish(store_t *st, struct signer *s, const struct ca_crl_cfg *cfg, int bump,
                   int64_t now, const char *cid, char *err, size_t errlen)
{
	int rc;
	X509 *ca = ca_of(s, &rc);
	if (!ca) {
		snprintf(err, errlen, "%s", ca_signer_strerror(rc));
		return rc;
	}
	struct entries e = {0};
	int64_t number = 0;
	unsigned char *tmpl = NULL, *der = NULL;
	size_t dlen = 0;
	int tlen = 0;
	int64_t have = 0, t1, t2;
	rc = read_state(st, bump, now, cfg->days, &number, &e, err, errlen);
	/* Two revocations at once: the first one's CRL already holds the second's entry. */
	if (rc != 0 || (!bump && crl_on_disk(cfg->dir, &have, &t1, &t2) == 0 && have >= number))
		goto out;
	if (build_crl(ca, number, now, cfg->days, &e, &tmpl, &tlen) != 0) {
		snprintf(err, errlen, "cannot build the CRL template");
		rc = -ENOMEM;
		goto out;
	}
	rc = signer_sign_crl(s, tmpl, (size_t)tlen, &der, &dlen);
	if (rc != 0) {
		snprintf(err, errlen, "%s", ca_signer_strerror(rc));
		goto out;
	}
	rc = write_crl(cfg->dir, der, dlen, err, errlen);
	if (rc == 0) {
		log_ev(LOG_LVL_INFO, cid, "ca_crl_issued", LOG_I("number", number),
		       LOG_U("entries", e.n),
		       LOG_I("next_update", now + (int64_t)cfg->days * 86400));
	}
out:
	if (rc != 0)
		log_ev(LOG_LVL_WARNING, cid, "ca_crl_failed", LOG_I("rc", rc), LOG_S("error", err));
	X509_free(ca);
	free(e.v);
	OPENSSL_free(tmpl);
	free(der);
	return rc;
}

int ca_revoke(store_t *st, struct signer *s, const struct ca_crl_cfg *cfg, const char *serial,
              const char *reason, int64_t now, const char *cid, char *err, size_t errlen)
{
	char hex[STORE_SERIAL_HEX + 1];
	if (ca_serial_normalize(serial ? serial : "", hex) != 0) {
		snprintf(err, errlen, "'%.64s' is not a serial (hexadecimal, at most 32 digits)",
		         serial ? serial : "");
		return -EINVAL;
	}
	if (ca_crl_reason_parse(reason) < 0) {
		snprintf(err, errlen, "'%.32s' is not a reason; one of: %s", reason ? reason : "",
		         ca_crl_reason_list());
		return -EINVAL;
	}
	if (!s) {
		snprintf(err, errlen, "the signer is not running: nothing was revoked");
		return -EAGAIN;
	}
	if (!now)
		now = (int64_t)time(NULL);
	pthread_mutex_lock(&crl_mu);
	/* Ask the signer first: a revocation that cannot be published is refused while it
	 * can still be, rather than recorded and left off the CRL. */
	int rc;
	X509 *ca = ca_of(s, &rc);
	X509_free(ca);
	if (rc != 0) {
		snprintf(err, errlen, "%s: nothing was revoked", ca_signer_strerror(rc));
		goto out;
	}
	int64_t number = 0;
	int src = store_begin(st);
	if (src == STORE_OK)
		src = store_issuedcert_revoke(st, hex, reason, now);
	if (src == STORE_OK)
		src = store_crlnumber_next(st, &number);
	if (src == STORE_OK)
		src = store_commit(st);
	else
		store_rollback(st);
	if (src != STORE_OK) {
		rc = src == STORE_NOTFOUND ? -ENOENT : src == STORE_CONSTRAINT ? -EALREADY : -EIO;
		if (rc == -ENOENT)
			snprintf(err, errlen, "no certificate with serial %s", hex);
		else
			snprintf(err, errlen, "%s", store_last_error());
		goto out;
	}
	log_ev(LOG_LVL_NOTICE, cid, "ca_revoked", LOG_S("serial", hex), LOG_S("reason", reason),
	       LOG_I("crl_number", number));
	char why[256];
	if (publish(st, s, cfg, 0, now, cid, why, sizeof why) != 0) {
		snprintf(err, errlen,
		         "certificate %s is revoked, but the CRL could not be reissued "
		         "(%s); it will be at the next refresh",
		         hex, why);
		rc = CA_REVOKED_CRL_STALE;
	}
out:
	pthread_mutex_unlock(&crl_mu);
	return rc;
}

/* The number and the times of the CRL on disk; -1 when there is none or it is unreadable. */
static int crl_on_disk(const char *dir, int64_t *number, int64_t *this, int64_t *next)
{
	char path[4096], *data = NULL;
	size_t len = 0;
	if ((size_t)snprintf(path, sizeof path, "%s/" CA_CRL_FILE, dir) >= sizeof path ||
	    tg_read_file(path, CRL_MAX_BYTES, &data, &len) != 0)
		return -1;
	const unsigned char *p = (const unsigned char *)data;
	X509_CRL *crl = d2i_X509_CRL(NULL, &p, (long)len);
	ASN1_INTEGER *num = crl ? X509_CRL_get_ext_d2i(crl, NID_crl_number, NULL, NULL) : NULL;
	struct tm t1, t2;
	int ok = num && ASN1_INTEGER_get_int64(number, num) == 1 && X509_CRL_get0_nextUpdate(crl) &&
	         ASN1_TIME_to_tm(X509_CRL_get0_lastUpdate(crl), &t1) == 1 &&
	         ASN1_TIME_to_tm(X509_CRL_get0_nextUpdate(crl), &t2) == 1;
	if (ok) {
		*this = (int64_t)timegm(&t1);
		*next = (int64_t)timegm(&t2);
	}
	ASN1_INTEGER_free(num);
	X509_CRL_free(crl);
	free(data);
	ERR_clear_error();
	return ok ? 0 : -1;
}

int ca_crl_refresh(store_t *st, struct signer *s, const struct ca_crl_cfg *cfg, int64_t now,
                   const char *cid, char *err, size_t errlen)
{
	if (!now)
		now = (int64_t)time(NULL);
	int64_t have = 0, this = 0, next = 0, want = 0;
	pthread_mutex_lock(&crl_mu);
	int due = crl_on_disk(cfg->dir, &have, &this, &next) != 0 ||
	          store_crlnumber_get(st, &want) != STORE_OK || have < want ||
	          now >= this + (next - this) / 2;
	int rc = 0;
	if (due) {
		if (!s) {
			snprintf(err, errlen, "the signer is not running");
			rc = -EAGAIN;
		} else {
			rc = publish(st, s, cfg, 1, now, cid, err, errlen);
			rc = rc == 0 ? 1 : rc;
		}
	}
	pthread_mutex_unlock(&crl_mu);
	return rc;
}

/* --- the file-service provider ------------------------------------------------------- */

struct crl_provider {
	char path[4096];
	pthread_mutex_t mu;
	struct files_blob *blob; /* the last one read, with the stat it was read at */
	dev_t dev;
	ino_t ino;
	off_t size;
	struct timespec mtim;
};

static int same_file(const struct crl_provider *c, const struct stat *sb)
{
	return c->blob && c->dev == sb->st_dev && c->ino == sb->st_ino && c->size == sb->st_size &&
	       c->mtim.tv_sec == sb->st_mtim.tv_sec && c->mtim.tv_nsec == sb->st_mtim.tv_nsec;
}

static int crl_lookup(void *arg, const char *name, struct files_blob **out)
{
	struct crl_provider *c = arg;
	if (strcmp(name, CA_CRL_NAME) != 0)
		return -ENOENT;
	struct stat sb;
	if (stat(c->path, &sb) != 0)
		return -ENOENT; /* no CRL yet */
	pthread_mutex_lock(&c->mu);
	int rc = 0;
	if (!same_file(c, &sb)) {
		char *data = NULL;
		size_t len = 0;
		rc = tg_read_file(c->path, CRL_MAX_BYTES, &data, &len);
		struct files_blob *b = rc == 0
		                           ? files_blob_new(data, len, (int64_t)sb.st_mtim.tv_sec,
		                                            "application/pkix-crl")
		                           : NULL;
		free(data);
		if (rc == 0 && !b)
			rc = -ENOMEM;
		if (rc == 0) {
			/* Renamed over since the stat: the next request sees the new one. */
			files_blob_unref(c->blob);
			c->blob = b;
			c->dev = sb.st_dev;
			c->ino = sb.st_ino;
			c->size = sb.st_size;
			c->mtim = sb.st_mtim;
		} else {
			log_ev(LOG_LVL_WARNING, NULL, "ca_crl_unreadable", LOG_S("path", c->path),
			       LOG_I("rc", rc));
			rc = rc == -ENOENT ? -ENOENT : -EIO;
		}
	}
	if (rc == 0)
		*out = files_blob_ref(c->blob);
	pthread_mutex_unlock(&c->mu);
	return rc;
}

static void crl_provider_free(void *arg)
{
	struct crl_provider *c = arg;
	files_blob_unref(c->blob);
	pthread_mutex_destroy(&c->mu);
	free(c);
}

int ca_crl_files_provider(const char *dir, struct files_provider *p)
{
	struct crl_provider *c = calloc(1, sizeof *c);
	if (!c)
		return -ENOMEM;
	if ((size_t)snprintf(c->path, sizeof c->path, "%s/" CA_CRL_FILE, dir) >= sizeof c->path) {
		free(c);
		return -ENAMETOOLONG;
	}
	pthread_mutex_init(&c->mu, NULL);
	*p = (struct files_provider){
	    .name = "crl", .lookup = crl_lookup, .free = crl_provider_free, .arg = c};
	return 0;
}
