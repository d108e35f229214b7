/* SPDX-License-Identifier: ISC */
/* The CA's unit-test fixture: one PKI directory per test program (ca_bootstrap and
 * ca_bootstrap_signers: the RSA keys take a second or two, so they are made once), the real
 * local signer over it, and per test a new store and no CRL. The signer the tests get wraps
 * the real one so that a test can make it fail: tu_signer_fail (every request returns that
 * error, e.g. -EAGAIN: the signer is not running) or tu_signer_fail_crl (CRLs only). Include
 * after <cmocka.h>, in one test file per program; run the tests in a group with
 * tu_ca_group_setup and tu_ca_group_teardown. */
#ifndef TG_CA_FIXTURE_H
#define TG_CA_FIXTURE_H

#include "ca/ca_bootstrap.h"
#include "ca/ca_issue.h"
#include "ca/signer_core.h"
#include "store_fixture.h"

#include <openssl/pem.h>
#include <time.h>

static int tu_signer_fail;     /* nonzero: every request returns it */
static int tu_signer_fail_crl; /* nonzero: CRL signing returns it */
static int tu_signer_swap;     /* 1: certificates come back as the CA's; 2: cut short */

static struct {
	char dir[64], pki[128];
	struct signer *real; /* signer_local_new over pki */
} tu_ca;

struct tu_signer {
	struct signer base; /* first: a struct signer * is a struct tu_signer * */
	struct signer *real;
};

static int tu_signer_call(struct signer *s, const struct signer_req *rq, unsigned char **out,
                          size_t *outlen)
{
	struct tu_signer *t = (struct tu_signer *)s;
	if (tu_signer_fail)
		return tu_signer_fail;
	if (tu_signer_fail_crl && rq->op == SIGNER_OP_SIGN_CRL)
		return tu_signer_fail_crl;
	if (tu_signer_swap == 1 && rq->op == SIGNER_OP_SIGN_CERT)
		return signer_certificate(t->real, SIGNER_KEY_CA, out, outlen);
	int rc = t->real->ops->call(t->real, rq, out, outlen);
	if (rc == 0 && tu_signer_swap == 2 && rq->op == SIGNER_OP_SIGN_CERT)
		*outlen /= 2;
	return rc;
}

static void tu_signer_stats(struct signer *s, struct signer_stats *st)
{
	struct tu_signer *t = (struct tu_signer *)s;
	t->real->ops->stats(t->real, st);
}

static void tu_signer_free(struct signer *s)
{
	free(s);
}

static const struct signer_ops tu_signer_ops = {tu_signer_call, NULL, NULL, tu_signer_stats,
                                                tu_signer_free};

static inline int tu_ca_group_setup(void **state)
{
	(void)state;
	tu_mkdtemp(tu_ca.dir, sizeof tu_ca.dir, "tgpki");
	snprintf(tu_ca.pki, sizeof tu_ca.pki, "%s/pki", tu_ca.dir);
	struct ca_bootstrap_result r;
	char err[256];
	int created = 0;
	if (ca_bootstrap(tu_ca.pki, "node1", "", 90, &r, err, sizeof err) != 0 ||
	    ca_bootstrap_signers(tu_ca.pki, "node1", &created, err, sizeof err) != 0)
		fail_msg("bootstrap: %s", err);
	tu_ca.real = signer_local_new(tu_ca.pki, err, sizeof err);
	if (!tu_ca.real)
		fail_msg("signer: %s", err);
	return 0;
}

static inline int tu_ca_group_teardown(void **state)
{
	(void)state;
	signer_free(tu_ca.real);
	tu_rmtree(tu_ca.dir);
	return 0;
}

struct fx {
	struct tu_store st;
	char pki[128];
	struct signer *signer; /* the failure-injecting wrapper */
	X509 *ca;
};

static inline int fx_setup(void **state)
{
	struct fx *f = calloc(1, sizeof *f);
	tu_mkdtemp(f->st.dir, sizeof f->st.dir, "tgca");
	snprintf(f->st.path, sizeof f->st.path, "%s/t.db", f->st.dir);
	tu_store_open(&f->st, 0);
	snprintf(f->pki, sizeof f->pki, "%s", tu_ca.pki);
	char path[256];
	snprintf(path, sizeof path, "%s/crl.der", f->pki);
	unlink(path); /* each test starts without a CRL */
	snprintf(path, sizeof path, "%s/crl.pem", f->pki);
	unlink(path);
	struct tu_signer *t = calloc(1, sizeof *t);
	signer_base_init(&t->base, &tu_signer_ops);
	t->real = tu_ca.real;
	f->signer = &t->base;
	snprintf(path, sizeof path, "%s/ca.crt", f->pki);
	FILE *fp = fopen(path, "r");
	assert_non_null(fp);
	f->ca = PEM_read_X509(fp, NULL, NULL, NULL);
	fclose(fp);
	assert_non_null(f->ca);
	tu_signer_fail = tu_signer_fail_crl = tu_signer_swap = 0;
	*state = f;
	return 0;
}

static inline int fx_teardown(void **state)
{
	struct fx *f = *state;
	signer_free(f->signer);
	X509_free(f->ca);
	store_close(f->st.st);
	tu_rmtree(f->st.dir);
	free(f);
	return 0;
}

/* An ASN.1 time as Unix seconds; fails the test when it is not one. */
static inline int64_t tu_asn1_epoch(const ASN1_TIME *t)
{
	struct tm tm;
	assert_int_equal(ASN1_TIME_to_tm(t, &tm), 1);
	return (int64_t)timegm(&tm);
}

/* Issues a certificate for a new P-256 key to user (instance, profile: "" for none) at now
 * (0 = the clock) for days; its serial into serial. Fails the test on error. */
static inline void tu_issue(struct fx *f, const char *user, const char *instance,
                            const char *profile, unsigned days, int64_t now, char serial[33])
{
	EVP_PKEY *k = EVP_EC_gen("P-256");
	struct ca_client_request req = {.pubkey = k,
	                                .userid = user,
	                                .instanceid = instance,
	                                .profile = profile,
	                                .days = days,
	                                .now = now,
	                                .ca = f->ca};
	struct ca_issued out;
	char err[256];
	if (ca_issue_client(f->signer, f->st.st, &req, &out, err, sizeof err) != 0)
		fail_msg("issue: %s", err);
	memcpy(serial, out.serial, 33);
	ca_issued_free(&out);
	EVP_PKEY_free(k);
}

#endif
