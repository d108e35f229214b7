/* SPDX-License-Identifier: ISC */
/* The signer's cost per certificate (issue 17), in one run: a bare OpenSSL loop (the CA key
 * signs the template directly: the floor), the local signer (policy + signing, ca/signer.h),
 * and the remote path (the signer process on a socketpair, as telgated runs it) with T
 * client threads. Prints µs per certificate and certificates/s for each, and the ratios to
 * the bare loop; then RSA-3072 PKCS#1 signatures over a trust-list-sized buffer.
 *   bench_signer [N=2000] [THREADS=4]
 * The EST benchmark's CA step, with the CSR and the answer around the signing, is
 * bench_est_ca (bench/run.sh est_enrol). */
#include "bench_signer.h"
#include "core/util.h"

#include <openssl/evp.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

static unsigned char *tmpl;
static size_t tmpl_len;

static void make_template(void)
{
	EVP_PKEY *k = EVP_EC_gen("P-256");
	X509 *x = X509_new();
	X509_set_version(x, X509_VERSION_3);
	ASN1_INTEGER_set(X509_get_serialNumber(x), 0x1234567);
	X509_NAME_add_entry_by_txt(X509_get_subject_name(x), "CN", MBSTRING_UTF8,
	                           (const unsigned char *)"bench-user", -1, -1, 0);
	X509_gmtime_adj(X509_getm_notBefore(x), 0);
	X509_gmtime_adj(X509_getm_notAfter(x), 730 * 86400L);
	X509_set_pubkey(x, k);
	X509V3_CTX ctx;
	X509V3_set_ctx_nodb(&ctx);
	X509V3_set_ctx(&ctx, NULL, x, NULL, NULL, 0);
	X509_EXTENSION *e = X509V3_EXT_conf_nid(NULL, &ctx, NID_ext_key_usage, "clientAuth");
	X509_add_ext(x, e, -1);
	X509_EXTENSION_free(e);
	X509_sign(x, k, EVP_sha256());
	tmpl = NULL;
	tmpl_len = (size_t)i2d_X509(x, &tmpl);
	X509_free(x);
	EVP_PKEY_free(k);
}

/* The floor: decode the template, set the issuer, sign with the CA key, encode. */
static void bare(const struct signer_keys *ks)
{
	const unsigned char *p = tmpl;
	X509 *x = d2i_X509(NULL, &p, (long)tmpl_len);
	X509_set_issuer_name(x, X509_get_subject_name(ks->cert[SIGNER_KEY_CA]));
	X509_sign(x, ks->key[SIGNER_KEY_CA], EVP_sha256());
	unsigned char *out = NULL;
	i2d_X509(x, &out);
	OPENSSL_free(out);
	X509_free(x);
}

struct job {
	struct signer *s;
	int n, failed;
};

static void *signer_loop(void *arg)
{
	struct job *j = arg;
	for (int i = 0; i < j->n; i++) {
		unsigned char *out;
		size_t len;
		if (signer_sign_cert(j->s, tmpl, tmpl_len, &out, &len) != 0)
			j->failed++;
		else
			free(out);
	}
	return NULL;
}

/* n certificates over t threads; returns µs per certificate (wall clock). */
static double run(struct signer *s, int n, int t, int *failed)
{
	pthread_t th[64];
	struct job jobs[64];
	int64_t t0 = tg_mono_us();
	for (int i = 0; i < t; i++) {
		jobs[i] = (struct job){s, n / t, 0};
		pthread_create(&th[i], NULL, signer_loop, &jobs[i]);
	}
	*failed = 0;
	for (int i = 0; i < t; i++) {
		pthread_join(th[i], NULL);
		*failed += jobs[i].failed;
	}
	return (double)(tg_mono_us() - t0) / (n / t * t);
}

static void line(const char *what, double us, double floor_us, int failed)
{
	printf("%-34s %9.1f us/cert %9.0f certs/s  x%.2f of bare%s\n", what, us, 1e6 / us,
	       floor_us / us, failed ? "  (FAILURES)" : "");
}

int main(int argc, char **argv)
{
	int n = argc > 1 ? atoi(argv[1]) : 2000, threads = argc > 2 ? atoi(argv[2]) : 4;
	if (n < 1 || threads < 1 || threads > 64) {
		fprintf(stderr, "usage: bench_signer [N] [THREADS<=64]\n");
		return 64;
	}
	char dir[] = "/tmp/tgbenchsignerXXXXXX";
	struct signer *local = bench_pki(dir);
	if (!local)
		return 1;
	make_template();
	const struct signer_keys *ks = signer_local_keys(local);
	pid_t pid;
	struct signer *remote = bench_signer_proc(local, 0, &pid);
	if (!remote)
		return 1;
	signer_remote_configure(remote, 4096, 0);
	int failed = 0, f;
	run(remote, 100, 1, &f); /* the signer's warm-up and hello */
	/* Rounds that alternate the four ways, best of each: a shared machine's noise hits
	 * them alike rather than whichever ran during a burst. */
	enum { ROUNDS = 5 };
	double best[4] = {1e18, 1e18, 1e18, 1e18};
	int per = n / ROUNDS > threads ? n / ROUNDS : threads;
	for (int round = 0; round < ROUNDS; round++) {
		int64_t t0 = tg_mono_us();
		for (int i = 0; i < per; i++)
			bare(ks);
		double v[4] = {(double)(tg_mono_us() - t0) / per, run(local, per, 1, &f)};
		failed += f;
		v[2] = run(remote, per, 1, &f);
		failed += f;
		v[3] = run(remote, per, threads, &f);
		failed += f;
		for (int k = 0; k < 4; k++)
			best[k] = v[k] < best[k] ? v[k] : best[k];
	}
	printf("signer: %d P-256 certificates per way (template %zu bytes), best of %d rounds\n",
	       per * ROUNDS, tmpl_len, ROUNDS);
	line("bare OpenSSL loop (1 thread)", best[0], best[0], 0);
	line("local signer (1 thread)", best[1], best[0], 0);
	line("signer process, 1 client thread", best[2], best[0], 0);
	char what[64];
	snprintf(what, sizeof what, "signer process, %d client threads", threads);
	line(what, best[3], best[0], failed);

	/* Trust lists: RSA-3072 PKCS#1 v1.5 over 16 KiB, SHA-512. */
	static unsigned char list[16384];
	int m = n / 10 > 10 ? n / 10 : 10;
	struct signer *both[2] = {local, remote};
	for (int w = 0; w < 2; w++) {
		int64_t t0 = tg_mono_us();
		for (int i = 0; i < m; i++) {
			unsigned char *sig;
			size_t len;
			if (signer_sign_bytes(both[w], SIGNER_KEY_TRUSTLIST, "SHA512", list,
			                      sizeof list, &sig, &len) == 0)
				free(sig);
		}
		printf("%-34s %9.1f us/signature (RSA-3072, 16 KiB)\n",
		       w ? "trust list, signer process" : "trust list, local signer",
		       (double)(tg_mono_us() - t0) / m);
	}
	signer_free(remote);
	waitpid(pid, NULL, 0);
	signer_free(local);
	OPENSSL_free(tmpl);
	char cmd[128];
	snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
	return system(cmd) == 0 ? 0 : 1;
}
