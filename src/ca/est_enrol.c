/* SPDX-License-Identifier: ISC */
/* One EST enrolment, decided on a worker: CSR, credentials, profile, issuance, the end. */
#include "ca/est_enrol.h"

#include "ca/ca_csr.h"
#include "ca/capf.h"
#include "core/log.h"

#include <errno.h>
#include <openssl/evp.h>
#include <openssl/x509.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const struct est_answer answers[EST_OUTCOMES] = {
    [EST_ISSUED] = {200, 0, 0, ""},
    [EST_REVOKED] = {403, 0, 0,
                     "the enrolment profile's operation is delete: this instance's "
                     "certificates are revoked and none is issued\n"},
    [EST_BAD_CSR] = {400, 0, 0, "bad certificate signing request\n"},
    [EST_AUTH] = {401, 0, 1, "authentication required: instance id and authentication string\n"},
    [EST_CERT_REFUSED] = {403, 0, 0, "a valid client certificate issued by telgate is required\n"},
    [EST_THROTTLED] = {429, 60, 0, "too many failed enrolments from this address: try later\n"},
    [EST_BUSY] = {202, 10, 0, "the signing queue is full: send the same request again later\n"},
    [EST_UNAVAILABLE] = {503, 10, 0, "the certificate authority is not available: try later\n"},
    [EST_ERROR] = {500, 0, 0, "the enrolment failed on the server\n"},
};

static const char *const names[EST_OUTCOMES] = {
    [EST_ISSUED] = "issued", [EST_REVOKED] = "revoked",           [EST_BAD_CSR] = "bad_csr",
    [EST_AUTH] = "auth",     [EST_CERT_REFUSED] = "cert_refused", [EST_THROTTLED] = "throttled",
    [EST_BUSY] = "busy",     [EST_UNAVAILABLE] = "unavailable",   [EST_ERROR] = "error",
};

const struct est_answer *est_answer_of(enum est_outcome o)
{
	return &answers[(unsigned)o < EST_OUTCOMES ? o : EST_ERROR];
}

const char *est_outcome_name(enum est_outcome o)
{
	return (unsigned)o < EST_OUTCOMES ? names[o] : "?";
}

void est_result_free(struct est_result *r)
{
	ca_issued_free(&r->cert);
	if (r->key)
		sodium_memzero(r->key, r->key_len);
	free(r->key);
	r->key = NULL;
	r->key_len = 0;
}

static void outcome(struct est_result *r, enum est_outcome o, const char *reason)
{
	r->outcome = o;
	snprintf(r->reason, sizeof r->reason, "%s", reason ? reason : "");
}

/* A signer or revocation error as an outcome: the signer's absence and its full queue
 * are the client's to retry; anything else is ours. */
static enum est_outcome of_errno(int rc)
{
	if (rc == -EAGAIN)
		return EST_UNAVAILABLE;
	if (rc == -EBUSY)
		return EST_BUSY;
	return EST_ERROR;
}

/* --- who: a client certificate --------------------------------------------------------- */

static void sha256_hex(X509 *x, char out[STORE_FINGERPRINT_MAX + 1])
{
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned n = 0;
	out[0] = '\0';
	if (X509_digest(x, EVP_sha256(), md, &n) != 1)
		return;
	for (unsigned i = 0; i < n && i * 3 + 3 <= STORE_FINGERPRINT_MAX + 1; i++)
		snprintf(out + i * 3, 4, i + 1 < n ? "%02X:" : "%02X", md[i]);
}

/* The certificate the TLS layer verified must also be the one telgate recorded, and still
 * valid. Fills *row; returns NULL or the reason it is refused. */
static const char *cert_check(const struct est_ctx *ctx, X509 *x, int64_t now,
                              struct store_issuedcert *row)
{
	char serial[STORE_SERIAL_HEX + 1], fp[STORE_FINGERPRINT_MAX + 1];
	if (ca_serial_hex(X509_get0_serialNumber(x), serial) != 0)
		return "the client certificate was not issued by telgate";
	int rc = store_issuedcert_get(ctx->store, serial, row);
	if (rc == STORE_NOTFOUND)
		return "the client certificate was not issued by telgate";
	if (rc != STORE_OK)
		return "the issued-certificates table cannot be read";
	sha256_hex(x, fp);
	if (strcmp(fp, row->sha256) != 0)
		return "the client certificate was not issued by telgate";
	if (row->status != STORE_CERT_VALID)
		return "the client certificate is revoked";
	if (row->notafter <= now)
		return "the client certificate has expired";
	if (!row->instanceid[0])
		return "the client certificate names no instance id";
	return NULL;
}

/* --- who: the one-time string ------------------------------------------------------------ */

static enum est_outcome of_auth(enum capf_auth a)
{
	switch (a) {
	case CAPF_AUTH_OK:
		return EST_ISSUED;
	case CAPF_AUTH_THROTTLED:
		return EST_THROTTLED;
	case CAPF_AUTH_ERROR:
		return EST_ERROR;
	default: /* unknown, wrong, locked, expired, used: one answer (capf_auth.h) */
		return EST_AUTH;
	}
}

/* Puts a consumed profile back as it was (same secret, same expiry), for a failure the
 * client may retry. */
static void profile_put_back(const struct est_ctx *ctx, const struct store_capfprofile *p,
                             const char *cid)
{
	int rc =
	    store_capf_rearm(ctx->store, p->instanceid, p->secretkind, p->secrethash, p->expires);
	if (rc != STORE_OK)
		log_ev(LOG_LVL_ERROR, cid, "est_profile_restore_failed",
		       LOG_S("instance_id", p->instanceid), LOG_S("error", store_last_error()));
}

static void profile_failed(const struct est_ctx *ctx, const char *id, const char *reason,
                           const char *cid)
{
	if (store_capf_failed(ctx->store, id, reason) != STORE_OK)
		log_ev(LOG_LVL_ERROR, cid, "est_profile_update_failed", LOG_S("instance_id", id),
		       LOG_S("error", store_last_error()));
}

/* --- operation delete -------------------------------------------------------------------- */

struct serials {
	char (*v)[STORE_SERIAL_HEX + 1];
	size_t n, cap;
	const char *instanceid; /* filter; NULL = all */
	int64_t now;
	int oom;
};

static int collect_valid(void *ud, const struct store_issuedcert *c)
{
	struct serials *s = ud;
	if (c->status != STORE_CERT_VALID || c->notafter <= s->now ||
	    (s->instanceid && strcmp(c->instanceid, s->instanceid) != 0))
		return 0;
	if (s->n == s->cap) {
		size_t cap = s->cap ? s->cap * 2 : 8;
		void *v = realloc(s->v, cap * sizeof *s->v);
		if (!v) {
			s->oom = 1;
			return 1;
		}
		s->v = v;
		s->cap = cap;
	}
	memcpy(s->v[s->n++], c->serial, STORE_SERIAL_HEX + 1);
	return 0;
}

static void revoke_instance(const struct est_ctx *ctx, const struct est_req *req,
                            const struct store_capfprofile *p, struct est_result *res)
{
	struct serials s = {.instanceid = p->instanceid, .now = req->now};
	char err[256] = "", last[STORE_SERIAL_HEX + 1] = "";
	if (store_issuedcerts(ctx->store, p->userid, collect_valid, &s) != STORE_OK || s.oom) {
		free(s.v);
		profile_put_back(ctx, p, req->cid);
		outcome(res, EST_ERROR, "the issued-certificates table cannot be read");
		return;
	}
	int rc = 0;
	for (size_t i = 0; i < s.n && (rc == 0 || rc == CA_REVOKED_CRL_STALE || rc == -EALREADY);
	     i++) {
		rc = ca_revoke(ctx->store, ctx->signer, &ctx->crl, s.v[i], "cessationOfOperation",
		               req->now, req->cid, err, sizeof err);
		if (rc == 0 || rc == CA_REVOKED_CRL_STALE) {
			res->revoked++;
			memcpy(last, s.v[i], sizeof last);
		}
	}
	free(s.v);
	if (rc != 0 && rc != CA_REVOKED_CRL_STALE && rc != -EALREADY) {
		/* Some may be revoked already; what is left is revoked by the next attempt. */
		profile_put_back(ctx, p, req->cid);
		outcome(res, of_errno(rc), err);
		return;
	}
	if (store_capf_succeeded(ctx->store, p->instanceid, last) != STORE_OK)
		log_ev(LOG_LVL_ERROR, req->cid, "est_profile_update_failed",
		       LOG_S("instance_id", p->instanceid), LOG_S("error", store_last_error()));
	outcome(res, EST_REVOKED, NULL);
}

/* --- the key ------------------------------------------------------------------------------ */

static EVP_PKEY *keygen(enum ca_key_type t)
{
	switch (t) {
	case CA_KEY_EC_P384:
		return EVP_EC_gen("P-384");
	case CA_KEY_RSA_2048:
		return EVP_RSA_gen(2048);
	case CA_KEY_RSA_3072:
		return EVP_RSA_gen(3072);
	default:
		return EVP_EC_gen("P-256");
	}
}

static int pkcs8_der(EVP_PKEY *k, unsigned char **der, size_t *len)
{
	PKCS8_PRIV_KEY_INFO *p8 = EVP_PKEY2PKCS8(k);
	unsigned char *b = NULL;
	int n = p8 ? i2d_PKCS8_PRIV_KEY_INFO(p8, &b) : -1;
	PKCS8_PRIV_KEY_INFO_free(p8);
	if (n <= 0)
		return -ENOMEM;
	/* Copied so that est_result_free can wipe it with free(); OpenSSL's copy is wiped. */
	*der = malloc((size_t)n);
	if (*der) {
		memcpy(*der, b, (size_t)n);
		*len = (size_t)n;
	}
	OPENSSL_clear_free(b, (size_t)n);
	return *der ? 0 : -ENOMEM;
}

/* --- the enrolment ------------------------------------------------------------------------ */

struct who {
	struct store_capfprofile p; /* Basic: the consumed profile */
	int consumed;
	char userid[STORE_ID_MAX + 1], instanceid[STORE_ID_MAX + 1];
	char old_serial[STORE_SERIAL_HEX + 1]; /* certificate-authenticated: the one presented */
	enum ca_key_type want;
};

/* Step 2 of the header. Returns 0 with *w filled, or -1 with res set. */
static int identify(const struct est_ctx *ctx, const struct est_req *req, struct who *w,
                    struct est_result *res)
{
	if (req->basic && req->op != EST_OP_REENROLL) {
		const struct capf_auth_req ar = {.instanceid = req->instanceid,
		                                 .secret = req->secret,
		                                 .secret_len = req->secret_len,
		                                 .source = req->source,
		                                 .now = req->now,
		                                 .cid = req->cid};
		enum capf_auth a =
		    capf_authenticate(ctx->store, ctx->capf_key, ctx->guard, &ar, &w->p);
		if (a != CAPF_AUTH_OK) {
			outcome(res, of_auth(a), NULL);
			return -1;
		}
		w->consumed = 1;
		snprintf(w->userid, sizeof w->userid, "%s", w->p.userid);
		snprintf(w->instanceid, sizeof w->instanceid, "%s", w->p.instanceid);
		if (ca_key_type_parse(w->p.keytype, &w->want) != 0)
			w->want = CA_KEY_EC_P256;
		return 0;
	}
	if (!req->client_cert) {
		outcome(res, req->op == EST_OP_REENROLL ? EST_CERT_REFUSED : EST_AUTH,
		        req->op == EST_OP_REENROLL
		            ? "simplereenroll needs the client certificate being renewed"
		            : NULL);
		return -1;
	}
	struct store_issuedcert row;
	const char *why = cert_check(ctx, req->client_cert, req->now, &row);
	if (why) {
		log_ev(LOG_LVL_NOTICE, req->cid, "est_cert_refused", LOG_S("source", req->source),
		       LOG_S("reason", why));
		outcome(res, EST_CERT_REFUSED, why);
		return -1;
	}
	snprintf(w->userid, sizeof w->userid, "%s", row.userid);
	snprintf(w->instanceid, sizeof w->instanceid, "%s", row.instanceid);
	memcpy(w->old_serial, row.serial, sizeof w->old_serial);
	/* The key type of the instance's profile while there is one, else the old key's. */
	struct store_capfprofile p;
	if (store_capf_get(ctx->store, row.instanceid, req->now, &p) != STORE_OK ||
	    ca_key_type_parse(p.keytype, &w->want) != 0)
		w->want = ca_key_type_of(X509_get0_pubkey(req->client_cert));
	return 0;
}

/* A failure after the profile was consumed: put it back when the client may retry, else
 * record it failed. */
static void end_failed(const struct est_ctx *ctx, const struct est_req *req, const struct who *w,
                       struct est_result *res)
{
	if (!w->consumed)
		return;
	if (res->outcome == EST_BUSY || res->outcome == EST_UNAVAILABLE)
		profile_put_back(ctx, &w->p, req->cid);
	else
		profile_failed(ctx, w->instanceid,
		               res->reason[0] ? res->reason : est_answer_of(res->outcome)->text,
		               req->cid);
}

static void issue(const struct est_ctx *ctx, const struct est_req *req, const struct who *w,
                  EVP_PKEY *pub, struct est_result *res)
{
	const struct ca_client_request cr = {.pubkey = pub,
	                                     .userid = w->userid,
	                                     .instanceid = w->instanceid,
	                                     .profile = w->instanceid,
	                                     .days = ctx->client_days,
	                                     .now = req->now,
	                                     .ca = ctx->ca,
	                                     .cid = req->cid};
	char err[256] = "";
	int rc = ca_issue_client(ctx->signer, ctx->store, &cr, &res->cert, err, sizeof err);
	if (rc != 0) {
		outcome(res, rc == -EINVAL ? EST_BAD_CSR : of_errno(rc), err);
		end_failed(ctx, req, w, res);
		return;
	}
	outcome(res, EST_ISSUED, NULL);
	if (w->consumed && store_capf_succeeded(ctx->store, w->instanceid, res->cert.serial) !=
	                       STORE_OK) /* the certificate is issued and recorded: still given */
		log_ev(LOG_LVL_ERROR, req->cid, "est_profile_update_failed",
		       LOG_S("instance_id", w->instanceid), LOG_S("error", store_last_error()));
	if (w->old_serial[0] && ctx->grace_s == 0) {
		rc = ca_revoke(ctx->store, ctx->signer, &ctx->crl, w->old_serial, "superseded",
		               req->now, req->cid, err, sizeof err);
		if (rc != 0 && rc != -EALREADY) /* the sweep tries again */
			log_ev(LOG_LVL_WARNING, req->cid, "est_supersede_failed",
			       LOG_S("serial", w->old_serial), LOG_S("error", err));
	}
}

void est_enrol(const struct est_ctx *ctx, const struct est_req *req, struct est_result *res)
{
	memset(res, 0, sizeof *res);
	EVP_PKEY *pub = NULL;
	if (req->op == EST_OP_SERVERKEYGEN) {
		/* RFC 7030 §4.4.1: the CSR carries the request; its key is not used. */
		const unsigned char *p = req->csr;
		X509_REQ *r =
		    req->csr_len <= CA_CSR_MAX ? d2i_X509_REQ(NULL, &p, (long)req->csr_len) : NULL;
		int ok = r && p == req->csr + req->csr_len;
		X509_REQ_free(r);
		if (!ok) {
			outcome(res, EST_BAD_CSR, ca_csr_result_text(CA_CSR_MALFORMED));
			return;
		}
	} else {
		enum ca_csr_result c = ca_csr_check(req->csr, req->csr_len, CA_KEY_ANY, &pub);
		if (c != CA_CSR_OK) {
			outcome(res, EST_BAD_CSR, ca_csr_result_text(c));
			return;
		}
	}
	struct who w;
	memset(&w, 0, sizeof w);
	if (identify(ctx, req, &w, res) != 0) {
		EVP_PKEY_free(pub);
		return;
	}
	snprintf(res->user, sizeof res->user, "%s", w.userid);
	snprintf(res->instanceid, sizeof res->instanceid, "%s", w.instanceid);
	if (w.consumed && strcmp(w.p.operation, "delete") == 0) {
		EVP_PKEY_free(pub);
		revoke_instance(ctx, req, &w.p, res);
		return;
	}
	if (req->op == EST_OP_SERVERKEYGEN) {
		EVP_PKEY *k = keygen(w.want);
		if (!k || pkcs8_der(k, &res->key, &res->key_len) != 0) {
			EVP_PKEY_free(k);
			outcome(res, EST_ERROR, "the key could not be made");
			end_failed(ctx, req, &w, res);
			return;
		}
		pub = k;
	} else if (ca_key_type_of(pub) != w.want) {
		char why[sizeof res->reason];
		snprintf(why, sizeof why, "%s: the profile asks for %s, the request has %s",
		         ca_csr_result_text(CA_CSR_KEY_MISMATCH), ca_key_type_name(w.want),
		         ca_key_type_name(ca_key_type_of(pub)));
		EVP_PKEY_free(pub);
		outcome(res, EST_BAD_CSR, why);
		end_failed(ctx, req, &w, res);
		return;
	}
	issue(ctx, req, &w, pub, res);
	EVP_PKEY_free(pub);
	sodium_memzero(&w, sizeof w);
}

/* --- enrolments a crash interrupted ------------------------------------------------------ */

static void interrupted(void *ud, const char *instanceid)
{
	log_ev(LOG_LVL_WARNING, ud, "est_enrolment_interrupted", LOG_S("instance_id", instanceid),
	       LOG_S("action", "put back: the same string enrols again"));
}

int est_release_interrupted(store_t *st, const char *cid)
{
	int n = 0;
	if (store_capf_release_interrupted(st, interrupted, (void *)cid, &n) != STORE_OK) {
		log_ev(LOG_LVL_ERROR, cid, "est_release_failed",
		       LOG_S("error", store_last_error()));
		return -1;
	}
	return n;
}

/* --- superseded certificates ------------------------------------------------------------- */

struct row {
	char serial[STORE_SERIAL_HEX + 1];
	char userid[STORE_ID_MAX + 1], instanceid[STORE_ID_MAX + 1];
	int64_t notbefore;
};

struct rows {
	struct row *v;
	size_t n, cap;
	int64_t now;
	int oom;
};

static int collect_row(void *ud, const struct store_issuedcert *c)
{
	struct rows *r = ud;
	if (c->status != STORE_CERT_VALID || !c->instanceid[0] || c->notafter <= r->now)
		return 0;
	if (r->n == r->cap) {
		size_t cap = r->cap ? r->cap * 2 : 64;
		void *v = realloc(r->v, cap * sizeof *r->v);
		if (!v) {
			r->oom = 1;
			return 1;
		}
		r->v = v;
		r->cap = cap;
	}
	struct row *w = &r->v[r->n++];
	memcpy(w->serial, c->serial, sizeof w->serial);
	memcpy(w->userid, c->userid, sizeof w->userid);
	memcpy(w->instanceid, c->instanceid, sizeof w->instanceid);
	w->notbefore = c->notbefore;
	return 0;
}

/* By user, instance id, then newest first. */
static int row_cmp(const void *a, const void *b)
{
	const struct row *x = a, *y = b;
	int c = strcmp(x->userid, y->userid);
	if (!c)
		c = strcmp(x->instanceid, y->instanceid);
	if (!c)
		c = x->notbefore < y->notbefore ? 1 : x->notbefore > y->notbefore ? -1 : 0;
	return c ? c : strcmp(x->serial, y->serial);
}

int est_supersede_sweep(store_t *st, struct signer *s, const struct ca_crl_cfg *cfg, int grace_s,
                        int64_t now, const char *cid, char *err, size_t errlen)
{
	struct rows r = {.now = now};
	if (store_issuedcerts(st, NULL, collect_row, &r) != STORE_OK || r.oom) {
		snprintf(err, errlen, "%s", r.oom ? "out of memory" : store_last_error());
		free(r.v);
		return r.oom ? -ENOMEM : -EIO;
	}
	if (r.n > 1) /* r.v is NULL when nothing was issued: qsort(NULL, 0) is undefined */
		qsort(r.v, r.n, sizeof *r.v, row_cmp);
	int revoked = 0, rc = 0;
	size_t g = 0; /* the current group's first row: its newest certificate */
	for (size_t i = 1; i < r.n && rc >= 0; i++) {
		if (strcmp(r.v[g].userid, r.v[i].userid) != 0 ||
		    strcmp(r.v[g].instanceid, r.v[i].instanceid) != 0) {
			g = i;
			continue;
		}
		const struct row *newest = &r.v[g];
		/* notbefore is backdated by CA_BACKDATE_S: the successor's issue time. */
		if (newest->notbefore + CA_BACKDATE_S + grace_s > now)
			continue;
		int x = ca_revoke(st, s, cfg, r.v[i].serial, "superseded", now, cid, err, errlen);
		if (x == 0 || x == CA_REVOKED_CRL_STALE) {
			revoked++;
			log_ev(LOG_LVL_NOTICE, cid, "est_superseded",
			       LOG_S("serial", r.v[i].serial), LOG_S("user", r.v[i].userid),
			       LOG_S("instance_id", r.v[i].instanceid),
			       LOG_S("successor", newest->serial));
		} else if (x != -EALREADY) {
			rc = x;
		}
	}
	free(r.v);
	return rc < 0 ? rc : revoked;
}
