/* SPDX-License-Identifier: ISC */
/*
 * bench/est_ca_bench: the "CA step" of an EST enrolment (bench/run.sh est_enrol, part 1),
 * in one run: telgate's path — ca_csr_check (CSR decode + signature), ca_issue_client (the
 * template built here, signed by the signer process over its socketpair at nice 10 as
 * telgated runs it, checked, recorded in the issued-certificates table) and the answer
 * est_server builds (certs-only PKCS#7 around the DER, base64) — against a bare OpenSSL loop doing
 * the same steps with the same CA key and CSRs (est_ca_bare.c: no telgate code; it records
 * nothing). Rounds alternate the ways; the best round of each is printed.
 *
 * "Per core": CPU time per certificate, this process (every thread) plus the signer
 * process (clock_getcpuclockid), so two processes working in turn count as the cores they
 * used; certificates per CPU-second is what one core would sustain. Also the wall-clock
 * rate with T client threads (workers), which the pipeline engine | signer can raise.
 *   bench_est_ca [N=2000] [THREADS=2]
 */
#include "bench_signer.h"
#include "ca/ca_csr.h"
#include "ca/ca_issue.h"
#include "ca/est_wire.h"
#include "core/log.h"
#include "core/util.h"
#include "est_ca_bare.h"
#include "store/store.h"

#include <openssl/crypto.h>
#include <openssl/pem.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define NCSR 64

static unsigned char *csr[NCSR];
static size_t csr_len[NCSR];
static struct signer *remote, *use; /* use: the signer run_telgate goes through */
static store_t *st;
static X509 *ca_x;
static pid_t signer_pid;

static int64_t cpu_ns(clockid_t c)
{
	struct timespec ts;
	if (clock_gettime(c, &ts) != 0)
		return 0;
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* One enrolment's CA step the way est_enrol and est_server do it. */
static int telgate_one(int i)
{
	EVP_PKEY *pub = NULL;
	if (ca_csr_check(csr[i % NCSR], csr_len[i % NCSR], CA_KEY_ANY, &pub) != CA_CSR_OK ||
	    ca_key_type_of(pub) != CA_KEY_EC_P256) {
		EVP_PKEY_free(pub);
		return -1;
	}
	const struct ca_client_request cr = {.pubkey = pub,
	                                     .userid = "bench",
	                                     .instanceid = "1000",
	                                     .profile = "1000",
	                                     .days = 730,
	                                     .ca = ca_x};
	struct ca_issued c;
	char err[256];
	int rc = ca_issue_client(use, st, &cr, &c, err, sizeof err);
	EVP_PKEY_free(pub);
	if (rc != 0) {
		fprintf(stderr, "ca_issue_client: %s\n", err);
		return -1;
	}
	unsigned char *p7 = NULL;
	size_t p7len = 0;
	char *b64 = NULL;
	size_t blen = 0;
	rc = est_certs_only_der(c.der, c.der_len, &p7, &p7len) == 0 &&
	             est_base64_encode(p7, p7len, &b64, &blen) == 0
	         ? 0
	         : -1;
	free(p7);
	free(b64);
	ca_issued_free(&c);
	return rc;
}

struct job {
	int from, n, failed;
};

static void *telgate_loop(void *arg)
{
	struct job *j = arg;
	for (int i = 0; i < j->n; i++)
		j->failed += telgate_one(j->from + i) != 0;
	return NULL;
}

struct result {
	double wall_us, cpu_us; /* per certificate */
	double switches;        /* context switches per certificate, both processes */
};

/* Context switches so far (voluntary and not): this process's threads, and pid's when it
 * is not 0 (the signer: /proc/PID/status, its children are not ours to getrusage). Each
 * one is a thread put to sleep and woken: what the round trip to the signer costs. */
static long switches(pid_t pid)
{
	struct rusage u;
	long n = getrusage(RUSAGE_SELF, &u) == 0 ? u.ru_nvcsw + u.ru_nivcsw : 0;
	char path[64], line[128];
	snprintf(path, sizeof path, "/proc/%ld/status", (long)pid);
	FILE *f = pid ? fopen(path, "r") : NULL;
	while (f && fgets(line, sizeof line, f)) {
		long v;
		if (sscanf(line, "voluntary_ctxt_switches: %ld", &v) == 1 ||
		    sscanf(line, "nonvoluntary_ctxt_switches: %ld", &v) == 1)
			n += v;
	}
	if (f)
		fclose(f);
	return n;
}

/* n certificates over t threads. */
static struct result run_telgate(int n, int t, int *failed)
{
	pthread_t th[16];
	struct job jobs[16];
	clockid_t sc;
	int have_sc = clock_getcpuclockid(signer_pid, &sc) == 0;
	long x0 = switches(use == remote ? signer_pid : 0);
	int64_t w0 = tg_mono_us(), c0 = cpu_ns(CLOCK_PROCESS_CPUTIME_ID),
	        s0 = have_sc ? cpu_ns(sc) : 0;
	for (int i = 0; i < t; i++) {
		jobs[i] = (struct job){i * (n / t), n / t, 0};
		pthread_create(&th[i], NULL, telgate_loop, &jobs[i]);
	}
	for (int i = 0; i < t; i++) {
		pthread_join(th[i], NULL);
		*failed += jobs[i].failed;
	}
	int done = n / t * t;
	int64_t cpu = cpu_ns(CLOCK_PROCESS_CPUTIME_ID) - c0 + (have_sc ? cpu_ns(sc) - s0 : 0);
	return (struct result){(double)(tg_mono_us() - w0) / done, (double)cpu / 1e3 / done,
	                       (double)(switches(use == remote ? signer_pid : 0) - x0) / done};
}

static struct result run_bare(struct bare_ca *b, int n, int *failed)
{
	long x0 = switches(0);
	int64_t w0 = tg_mono_us(), c0 = cpu_ns(CLOCK_PROCESS_CPUTIME_ID);
	for (int i = 0; i < n; i++)
		*failed += bare_ca_issue(b, csr[i % NCSR], csr_len[i % NCSR], "bench", "1000") <= 0;
	return (struct result){(double)(tg_mono_us() - w0) / n,
	                       (double)(cpu_ns(CLOCK_PROCESS_CPUTIME_ID) - c0) / 1e3 / n,
	                       (double)(switches(0) - x0) / n};
}

/* The recording alone (ca_issue_client's store_issuedcert_add): n rows like its own, CPU
 * us per row. The bare loop records nothing, so this is what "the same steps" leaves out. */
static double run_record(int n, int round)
{
	static char pem[2048];
	if (!pem[0]) {
		BIO *b = BIO_new(BIO_s_mem());
		char *data = NULL;
		long len = b && PEM_write_bio_X509(b, ca_x) ? BIO_get_mem_data(b, &data) : 0;
		if (len > 0 && (size_t)len < sizeof pem)
			memcpy(pem, data, (size_t)len);
		BIO_free(b);
	}
	int64_t c0 = cpu_ns(CLOCK_PROCESS_CPUTIME_ID);
	for (int i = 0; i < n; i++) {
		struct store_issuedcert row = {.notbefore = 1, .notafter = 2};
		snprintf(row.serial, sizeof row.serial, "FF%06X%024X", round, i);
		snprintf(row.subject, sizeof row.subject, "CN=bench");
		snprintf(row.userid, sizeof row.userid, "bench");
		snprintf(row.instanceid, sizeof row.instanceid, "1000");
		snprintf(row.sha256, sizeof row.sha256, "%s", "00:11");
		if (store_issuedcert_add(st, &row, pem) != STORE_OK)
			return -1;
	}
	return (double)(cpu_ns(CLOCK_PROCESS_CPUTIME_ID) - c0) / 1e3 / n;
}

static void keep_best(struct result *best, struct result r)
{
	if (r.cpu_us < best->cpu_us)
		best->cpu_us = r.cpu_us;
	if (r.wall_us < best->wall_us)
		best->wall_us = r.wall_us;
	if (r.switches < best->switches)
		best->switches = r.switches;
}

int main(int argc, char **argv)
{
	int n = argc > 1 ? atoi(argv[1]) : 2000, threads = argc > 2 ? atoi(argv[2]) : 2;
	if (n < 10 || threads < 1 || threads > 16) {
		fprintf(stderr, "usage: bench_est_ca [N>=10] [THREADS<=16]\n");
		return 64;
	}
	char dir[] = "/tmp/tgbenchestcaXXXXXX", err[512], path[600], key[600];
	/* Warnings only: the bare loop writes no log line either. */
	log_configure(LOG_LVL_WARNING, LOG_FMT_KV, "stderr", err, sizeof err);
	struct signer *local = bench_pki(dir);
	if (!local)
		return 1;
	snprintf(path, sizeof path, "%s/ca.crt", dir);
	snprintf(key, sizeof key, "%s/ca.key", dir);
	struct bare_ca *bare = bare_ca_new(path, key);
	FILE *f = fopen(path, "r");
	ca_x = f ? PEM_read_X509(f, NULL, NULL, NULL) : NULL;
	if (f)
		fclose(f);
	snprintf(path, sizeof path, "%s/store.db", dir);
	const struct store_options so = {
	    .backend = "sqlite", .path = path, .busy_timeout_ms = 5000};
	if (!bare || !ca_x || store_open(&so, &st, err, sizeof err) != STORE_OK ||
	    bare_make_csrs(NCSR, "bench", csr, csr_len) != 0) {
		fprintf(stderr, "set-up failed: %s\n", err);
		return 1;
	}
	/* The signer as telgated runs it: its own process, the monitor's keys, nice 10. */
	remote = bench_signer_proc(local, 10, &signer_pid);
	if (!remote)
		return 1;
	int failed = 0;
	use = remote;
	run_telgate(100, 1, &failed); /* warm-up: the signer's hello, the store's pages */
	run_bare(bare, 100, &failed);
	enum { ROUNDS = 5 };
	struct result best[4] = {
	    {1e18, 1e18, 1e18}, {1e18, 1e18, 1e18}, {1e18, 1e18, 1e18}, {1e18, 1e18, 1e18}};
	double record = 1e18;
	int per = n / ROUNDS;
	for (int round = 0; round < ROUNDS; round++) {
		keep_best(&best[0], run_bare(bare, per, &failed));
		keep_best(&best[1], run_telgate(per, 1, &failed));
		keep_best(&best[2], run_telgate(per, threads, &failed));
		/* The same in one process (signer_local_new, as tools and tests use it): what
		 * the round trip to the signer process costs. */
		use = local;
		keep_best(&best[3], run_telgate(per, 1, &failed));
		use = remote;
		double rec = run_record(per, round);
		failed += rec < 0;
		record = rec >= 0 && rec < record ? rec : record;
	}
	printf("est_enrol (1) the CA step: CSR decode + verify, certificate build + sign, "
	       "certs-only PKCS#7 + base64; P-256, %d certificates per way, best of %d rounds\n",
	       per * ROUNDS, ROUNDS);
	printf("  %-46s %8.1f us CPU/cert %7.0f certs per CPU-s %7.0f certs/s wall %5.2f cs/cert\n",
	       "bare OpenSSL loop (1 thread)", best[0].cpu_us, 1e6 / best[0].cpu_us,
	       1e6 / best[0].wall_us, best[0].switches);
	char what[96];
	for (int k = 1; k <= 2; k++) {
		snprintf(what, sizeof what, "telgate via the signer process, %d thread%s",
		         k == 1 ? 1 : threads, k == 1 || threads > 1 ? (k == 1 ? "" : "s") : "");
		printf("  %-46s %8.1f us CPU/cert %7.0f certs per CPU-s %7.0f certs/s wall %5.2f "
		       "cs/cert\n",
		       what, best[k].cpu_us, 1e6 / best[k].cpu_us, 1e6 / best[k].wall_us,
		       best[k].switches);
	}
	printf("  %-46s %8.1f us CPU/cert %7.0f certs per CPU-s (the round trip: %.0f us)\n",
	       "telgate, in-process signer, 1 thread", best[3].cpu_us, 1e6 / best[3].cpu_us,
	       best[1].cpu_us - best[3].cpu_us);
	printf("  %-46s %8.1f us CPU/row (telgate records every certificate; the bare loop "
	       "does not)\n",
	       "of which the issued-certificates table", record);
	double all = best[0].cpu_us / best[1].cpu_us,
	       same = best[0].cpu_us / (best[1].cpu_us - record);
	printf("  per core (certs per CPU-second, engine + signer) telgate/bare: the same steps "
	       "x%.2f (goal >= 0.9) %s; with the record x%.2f%s\n",
	       same, same >= 0.9 ? "ok" : "MISSED", all, failed ? "  (FAILURES)" : "");
	signer_free(remote);
	waitpid(signer_pid, NULL, 0);
	signer_free(local);
	bare_ca_free(bare);
	X509_free(ca_x);
	store_close(st);
	for (int i = 0; i < NCSR; i++)
		OPENSSL_free(csr[i]);
	snprintf(path, sizeof path, "rm -rf %s", dir);
	return system(path) == 0 && !failed ? 0 : 1;
}
