/* SPDX-License-Identifier: ISC */
/* The CA's unit-test fixture: a store, a PKI directory that ca_bootstrap made, and a signer
 * over it (signer_fixture.h until the real one is on main). Include after <cmocka.h>, in one
 * test file per executable. */
#ifndef TG_CA_FIXTURE_H
#define TG_CA_FIXTURE_H

#include "ca/ca_bootstrap.h"
#include "ca/ca_issue.h"
#include "signer_fixture.h"
#include "store_fixture.h"

#include <time.h>

struct fx {
	struct tu_store st;
	char pki[128];
	struct signer *signer;
	X509 *ca;
};

static inline int fx_setup(void **state)
{
	struct fx *f = calloc(1, sizeof *f);
	tu_mkdtemp(f->st.dir, sizeof f->st.dir, "tgca");
	snprintf(f->st.path, sizeof f->st.path, "%s/t.db", f->st.dir);
	tu_store_open(&f->st);
	snprintf(f->pki, sizeof f->pki, "%s/pki", f->st.dir);
	struct ca_bootstrap_result r;
	char err[256];
	if (ca_bootstrap(f->pki, "node1", "", 90, &r, err, sizeof err) != 0)
		fail_msg("bootstrap: %s", err);
	f->signer = signer_local_new(f->pki, err, sizeof err);
	assert_non_null(f->signer);
	FILE *fp = fopen(r.ca_cert, "r");
	f->ca = PEM_read_X509(fp, NULL, NULL, NULL);
	fclose(fp);
	assert_non_null(f->ca);
	tu_signer_fail = tu_signer_fail_crl = 0;
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
