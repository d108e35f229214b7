/* SPDX-License-Identifier: ISC */
/*
 * cert_issue: issues a client certificate for a user from a running daemon's PKI
 * directory and store, for the system tests of CTI certificate logins (issue 17) before
 * enrolment clients exist in them. Runs as root beside telgated (it reads ca.key).
 *
 *   cert_issue PKI_DIR STORE_DB USER OUT_PREFIX [--expired]
 *   cert_issue PKI_DIR STORE_DB --revoke SERIAL
 *
 * Writes OUT_PREFIX.key (P-256, PEM) and OUT_PREFIX.crt and prints the serial; --revoke
 * revokes a certificate in the store (keyCompromise) with ca_revoke over a local signer,
 * as `telgate cert revoke` does once telgated runs its signer (that path also closes the
 * CTI sessions; this one only changes the table).
 *
 * The local signer wants the trust-list and recovery keys beside the CA (ca/signer.h),
 * which telgated does not make yet: the tool keeps its own PKI directory, PKI_DIR's CA
 * plus those keys (made once, a few seconds), in PKI_DIR/../cert_issue.pki, and the CRL
 * of --revoke is written there, not in the daemon's.
 * Normally the certificate is made by telgate's own issuer (ca_issue_client over a local
 * signer) and recorded in issuedcertificate as an enrolment would. --expired: the CA
 * cannot issue in the past, so the tool signs with the CA key itself a certificate that
 * ended yesterday (the same subject and extensions) and records it the same way.
 */
#include "ca/ca_bootstrap.h"
#include "ca/ca_crl.h"
#include "ca/ca_issue.h"
#include "ca/signer.h"
#include "store/store.h"
#include "tls/servercert.h"

#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/x509v3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

static void die(const char *what, const char *why)
{
	fprintf(stderr, "cert_issue: %s: %s\n", what, why);
	exit(1);
}

static void *read_pem(const char *dir, const char *name, int key)
{
	char path[600];
	snprintf(path, sizeof path, "%s/%s", dir, name);
	FILE *f = fopen(path, "r");
	if (!f)
		die(path, "cannot open");
	void *p = key ? (void *)PEM_read_PrivateKey(f, NULL, NULL, NULL)
	              : (void *)PEM_read_X509(f, NULL, NULL, NULL);
	fclose(f);
	if (!p)
		die(path, "not PEM");
	return p;
}

static void add_ext(X509 *x, X509 *ca, int nid, const char *value)
{
	X509V3_CTX v;
	X509V3_set_ctx(&v, ca, x, NULL, NULL, 0);
	X509_EXTENSION *e = X509V3_EXT_conf_nid(NULL, &v, nid, value);
	if (!e || !X509_add_ext(x, e, -1))
		die("extension", value);
	X509_EXTENSION_free(e);
}

/* An expired certificate for user, signed with the CA key and recorded. */
static X509 *expired(const char *pki, store_t *st, const char *user, EVP_PKEY *k)
{
	X509 *ca = read_pem(pki, "ca.crt", 0);
	EVP_PKEY *cakey = read_pem(pki, "ca.key", 1);
	X509 *x = X509_new();
	unsigned char sn[16];
	RAND_bytes(sn, sizeof sn);
	sn[0] &= 0x7f;
	BIGNUM *bn = BN_bin2bn(sn, sizeof sn, NULL);
	BN_to_ASN1_INTEGER(bn, X509_get_serialNumber(x));
	BN_free(bn);
	X509_set_version(x, 2);
	X509_NAME_add_entry_by_txt(X509_get_subject_name(x), "CN", MBSTRING_UTF8,
	                           (const unsigned char *)user, -1, -1, 0);
	X509_set_issuer_name(x, X509_get_subject_name(ca));
	time_t now = time(NULL);
	X509_time_adj_ex(X509_getm_notBefore(x), 0, -600, NULL); /* inside the CA's validity */
	X509_time_adj_ex(X509_getm_notAfter(x), 0, -60, NULL);   /* and already over */
	X509_set_pubkey(x, k);
	add_ext(x, ca, NID_basic_constraints, "critical,CA:FALSE");
	add_ext(x, ca, NID_key_usage, "critical,digitalSignature");
	add_ext(x, ca, NID_ext_key_usage, "clientAuth");
	add_ext(x, ca, NID_authority_key_identifier, "keyid:always");
	if (!X509_sign(x, cakey, EVP_sha256()))
		die("sign", "failed");
	struct store_issuedcert row = {.notbefore = now - 600, .notafter = now - 60};
	if (ca_serial_hex(X509_get0_serialNumber(x), row.serial) != 0)
		die("serial", "bad");
	snprintf(row.subject, sizeof row.subject, "CN=%s", user);
	snprintf(row.userid, sizeof row.userid, "%s", user);
	tls_cert_sha256(x, row.sha256, sizeof row.sha256);
	BIO *b = BIO_new(BIO_s_mem());
	PEM_write_bio_X509(b, x);
	char *pem;
	long n = BIO_get_mem_data(b, &pem);
	char *z = strndup(pem, (size_t)n);
	if (store_issuedcert_add(st, &row, z) != STORE_OK)
		die("store", store_last_error());
	free(z);
	BIO_free(b);
	X509_free(ca);
	EVP_PKEY_free(cakey);
	return x;
}

static void copy_file(const char *from_dir, const char *to_dir, const char *name)
{
	char a[600], b[600], buf[4096];
	snprintf(a, sizeof a, "%s/%s", from_dir, name);
	snprintf(b, sizeof b, "%s/%s", to_dir, name);
	FILE *in = fopen(a, "rb"), *out = fopen(b, "wb");
	if (!in || !out)
		die(a, "cannot copy");
	size_t n;
	while ((n = fread(buf, 1, sizeof buf, in)) > 0)
		if (fwrite(buf, 1, n, out) != n)
			die(b, "cannot write");
	fclose(in);
	if (fclose(out) != 0)
		die(b, "cannot write");
	chmod(b, 0600);
}

/* The tool's PKI directory (see above), made on first use. */
static struct signer *tool_signer(const char *pki, char *dir, size_t cap)
{
	char err[512];
	snprintf(dir, cap, "%s/../cert_issue.pki", pki);
	struct stat st;
	if (stat(dir, &st) != 0) {
		if (mkdir(dir, 0700) != 0)
			die(dir, "cannot create");
		copy_file(pki, dir, "ca.key");
		copy_file(pki, dir, "ca.crt");
		int created = 0;
		if (ca_bootstrap_signers(dir, "cert_issue", &created, err, sizeof err) != 0)
			die("signers", err);
	}
	struct signer *s = signer_local_new(dir, err, sizeof err);
	if (!s)
		die("signer", err);
	return s;
}

int main(int argc, char **argv)
{
	int revoke = argc == 5 && strcmp(argv[3], "--revoke") == 0;
	if (!revoke && (argc < 5 || argc > 6 || (argc == 6 && strcmp(argv[5], "--expired") != 0))) {
		fprintf(stderr, "usage: cert_issue PKI_DIR STORE_DB USER OUT_PREFIX [--expired]\n"
		                "       cert_issue PKI_DIR STORE_DB --revoke SERIAL\n");
		return 2;
	}
	const char *pki = argv[1], *user = argv[3], *out = argv[4];
	char err[512];
	store_t *st;
	/* "postgres:<conninfo file>": the daemon's PostgreSQL store (tests/system/pg.py). */
	int pg = strncmp(argv[2], "postgres:", 9) == 0;
	struct store_options so = {.backend = pg ? "postgres" : "sqlite",
	                           .path = pg ? "" : argv[2],
	                           .conninfo_file = pg ? argv[2] + 9 : NULL,
	                           .busy_timeout_ms = 10000};
	if (store_open(&so, &st, err, sizeof err) != STORE_OK)
		die("store", err);
	char dir[700];
	if (revoke) {
		struct signer *s = tool_signer(pki, dir, sizeof dir);
		struct ca_crl_cfg cfg = {dir, CA_CRL_DAYS_DEFAULT};
		if (ca_revoke(st, s, &cfg, argv[4], "keyCompromise", 0, NULL, err, sizeof err) != 0)
			die("revoke", err);
		signer_free(s);
		store_close(st);
		return 0;
	}
	EVP_PKEY *k = EVP_EC_gen("P-256");
	X509 *x = NULL;
	char serial[STORE_SERIAL_HEX + 1];
	if (argc == 6) {
		x = expired(pki, st, user, k);
		ca_serial_hex(X509_get0_serialNumber(x), serial);
	} else {
		struct signer *s = tool_signer(pki, dir, sizeof dir);
		struct ca_client_request req = {.pubkey = k, .userid = user, .days = 30};
		struct ca_issued c;
		if (ca_issue_client(s, st, &req, &c, err, sizeof err) != 0)
			die("issue", err);
		BIO *b = BIO_new_mem_buf(c.pem, -1);
		x = PEM_read_bio_X509(b, NULL, NULL, NULL);
		BIO_free(b);
		snprintf(serial, sizeof serial, "%s", c.serial);
		ca_issued_free(&c);
		signer_free(s);
	}
	char path[600];
	snprintf(path, sizeof path, "%s.key", out);
	FILE *f = fopen(path, "w");
	if (!f || !PEM_write_PrivateKey(f, k, NULL, NULL, 0, NULL, NULL) || fclose(f) != 0)
		die(path, "cannot write");
	snprintf(path, sizeof path, "%s.crt", out);
	f = fopen(path, "w");
	if (!f || !PEM_write_X509(f, x) || fclose(f) != 0)
		die(path, "cannot write");
	printf("%s\n", serial);
	X509_free(x);
	EVP_PKEY_free(k);
	store_close(st);
	return 0;
}
