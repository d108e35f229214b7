/* SPDX-License-Identifier: ISC */
/* ca/signer: the local signer's policy (templates asking for a CA, certificate signing or a
 * validity beyond the CA's are refused; issuer and AKI set; the signature verifies against
 * the CA), CRLs, RSA PKCS#1 signatures over bytes verified with the trust-list certificate,
 * and the same answers through the signer process (ca/signer_proc.h) and the remote client:
 * a killed signer fails requests with -EAGAIN, a full queue answers -EBUSY; many threads
 * signing through one remote handle while the signer is killed and replaced. */
#include "ca/ca_bootstrap.h"
#include "ca/signer.h"
#include "ca/signer_proc.h"
#include "core/metrics.h"
#include "testutil.h"

#include <errno.h>
#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <cmocka.h>

static char dir[64], pki[96];
static struct signer *local;
static EVP_PKEY *subject_key;

static int setup(void **state)
{
	(void)state;
	tu_mkdtemp(dir, sizeof dir, "tgsigner");
	snprintf(pki, sizeof pki, "%s/pki", dir);
	struct ca_bootstrap_result r;
	char err[256];
	int created = 0;
	if (ca_bootstrap(pki, "node1", "", 90, &r, err, sizeof err) != 0 ||
	    ca_bootstrap_signers(pki, "node1", &created, err, sizeof err) != 0 || created != 3)
		return -1;
	local = signer_local_new(pki, err, sizeof err);
	subject_key = EVP_EC_gen("P-256");
	return local && subject_key ? 0 : -1;
}

static int teardown(void **state)
{
	(void)state;
	signer_free(local);
	EVP_PKEY_free(subject_key);
	tu_rmtree(dir);
	return 0;
}

static X509 *d2i_cert(const unsigned char *der, size_t len)
{
	const unsigned char *p = der;
	X509 *x = d2i_X509(NULL, &p, (long)len);
	assert_non_null(x);
	return x;
}

static X509 *ca_cert(struct signer *s, enum signer_key k)
{
	unsigned char *der;
	size_t len;
	assert_int_equal(signer_certificate(s, k, &der, &len), 0);
	X509 *x = d2i_cert(der, len);
	free(der);
	return x;
}

static void ext(X509 *x, int nid, const char *value)
{
	X509V3_CTX ctx;
	X509V3_set_ctx_nodb(&ctx);
	X509V3_set_ctx(&ctx, NULL, x, NULL, NULL, 0);
	X509_EXTENSION *e = X509V3_EXT_conf_nid(NULL, &ctx, nid, value);
	assert_non_null(e);
	X509_add_ext(x, e, -1);
	X509_EXTENSION_free(e);
}

/* What the next template() carries instead of subject_key, and a second keyUsage. */
static EVP_PKEY *template_pub;
static int template_dup_ext;

/* A client-certificate template, signed with a throwaway key: bc/ku override its
 * basicConstraints and keyUsage, days its lifetime. */
static size_t template(unsigned char **der, const char *cn, const char *bc, const char *ku,
                       long days)
{
	X509 *x = X509_new();
	X509_set_version(x, X509_VERSION_3);
	ASN1_INTEGER_set(X509_get_serialNumber(x), 0x1234567);
	X509_NAME_add_entry_by_txt(X509_get_subject_name(x), "CN", MBSTRING_UTF8,
	                           (const unsigned char *)cn, -1, -1, 0);
	X509_set_issuer_name(x, X509_get_subject_name(x));
	X509_gmtime_adj(X509_getm_notBefore(x), 0);
	X509_gmtime_adj(X509_getm_notAfter(x), days * 86400L);
	X509_set_pubkey(x, template_pub ? template_pub : subject_key);
	ext(x, NID_basic_constraints, bc);
	ext(x, NID_key_usage, ku);
	if (template_dup_ext)
		ext(x, NID_key_usage, "critical,keyCertSign");
	ext(x, NID_ext_key_usage, "clientAuth");
	assert_true(X509_sign(x, subject_key, EVP_sha256()) > 0);
	*der = NULL;
	int n = i2d_X509(x, der);
	X509_free(x);
	assert_true(n > 0);
	return (size_t)n;
}

static void check_issued(struct signer *s)
{
	unsigned char *t, *out;
	size_t tlen = template(&t, "alice", "critical,CA:FALSE", "critical,digitalSignature", 730),
	       olen;
	assert_int_equal(signer_sign_cert(s, t, tlen, &out, &olen), 0);
	X509 *x = d2i_cert(out, olen), *ca = ca_cert(s, SIGNER_KEY_CA);
	assert_int_equal(X509_NAME_cmp(X509_get_issuer_name(x), X509_get_subject_name(ca)), 0);
	assert_int_equal(X509_verify(x, X509_get0_pubkey(ca)), 1);
	const ASN1_OCTET_STRING *aki = X509_get0_authority_key_id(x);
	const ASN1_OCTET_STRING *ski = X509_get0_subject_key_id(ca);
	assert_non_null(aki);
	assert_int_equal(ASN1_OCTET_STRING_cmp(aki, ski), 0);
	/* Chains to the CA as a client certificate. */
	X509_STORE *st = X509_STORE_new();
	X509_STORE_add_cert(st, ca);
	X509_STORE_CTX *ctx = X509_STORE_CTX_new();
	X509_STORE_CTX_init(ctx, st, x, NULL);
	X509_STORE_CTX_set_purpose(ctx, X509_PURPOSE_SSL_CLIENT);
	assert_int_equal(X509_verify_cert(ctx), 1);
	X509_STORE_CTX_free(ctx);
	X509_STORE_free(st);
	X509_free(x);
	X509_free(ca);
	OPENSSL_free(t);
	free(out);
}

static void test_local_issues(void **state)
{
	(void)state;
	check_issued(local);
}

static void expect_refused(struct signer *s, const char *bc, const char *ku, long days)
{
	unsigned char *t, *out = NULL;
	size_t tlen = template(&t, "mallory", bc, ku, days), olen = 0;
	assert_int_equal(signer_sign_cert(s, t, tlen, &out, &olen), -EINVAL);
	assert_null(out);
	OPENSSL_free(t);
}

static void check_policy(struct signer *s)
{
	expect_refused(s, "critical,CA:TRUE", "critical,digitalSignature", 30);
	expect_refused(s, "CA:TRUE,pathlen:0", "digitalSignature", 30);
	expect_refused(s, "critical,CA:FALSE", "critical,keyCertSign", 30);
	expect_refused(s, "critical,CA:FALSE", "digitalSignature,cRLSign", 30);
	expect_refused(s, "critical,CA:FALSE", "digitalSignature", 3650 * 3); /* beyond the CA */
	/* An extension twice (the second could ask for what the first does not). */
	template_dup_ext = 1;
	expect_refused(s, "critical,CA:FALSE", "digitalSignature", 30);
	template_dup_ext = 0;
	/* The CA's own key, as it is encoded and compressed; another key type is decoded. */
	X509 *cax = ca_cert(s, SIGNER_KEY_CA);
	EVP_PKEY *capub = EVP_PKEY_dup(X509_get0_pubkey(cax));
	assert_non_null(capub);
	template_pub = capub;
	expect_refused(s, "critical,CA:FALSE", "digitalSignature", 30);
	assert_int_equal(EVP_PKEY_set_utf8_string_param(
	                     capub, OSSL_PKEY_PARAM_EC_POINT_CONVERSION_FORMAT, "compressed"),
	                 1);
	expect_refused(s, "critical,CA:FALSE", "digitalSignature", 30);
	EVP_PKEY *rsa = EVP_RSA_gen(2048);
	assert_non_null(rsa);
	template_pub = rsa;
	check_issued(s);
	template_pub = NULL;
	EVP_PKEY_free(rsa);
	EVP_PKEY_free(capub);
	X509_free(cax);
	/* Garbage, a truncated template, trailing bytes. */
	unsigned char *t, *out;
	size_t tlen = template(&t, "alice", "critical,CA:FALSE", "digitalSignature", 30), olen;
	assert_int_equal(signer_sign_cert(s, t, tlen - 1, &out, &olen), -EINVAL);
	unsigned char *longer = malloc(tlen + 1);
	memcpy(longer, t, tlen);
	longer[tlen] = 0;
	assert_int_equal(signer_sign_cert(s, longer, tlen + 1, &out, &olen), -EINVAL);
	assert_int_equal(signer_sign_cert(s, (const unsigned char *)"junk", 4, &out, &olen),
	                 -EINVAL);
	free(longer);
	OPENSSL_free(t);
	/* The CA key never signs bytes: they could be a TBSCertificate. */
	assert_int_equal(signer_sign_bytes(s, SIGNER_KEY_CA, "SHA256", (const unsigned char *)"x",
	                                   1, &out, &olen),
	                 -EINVAL);
	assert_int_equal(signer_sign_bytes(s, SIGNER_KEY_TRUSTLIST, "MD5",
	                                   (const unsigned char *)"x", 1, &out, &olen),
	                 -EINVAL);
	assert_int_equal(signer_certificate(s, (enum signer_key)9, &out, &olen), -ENOENT);
}

static void test_local_policy(void **state)
{
	(void)state;
	check_policy(local);
}

static void check_bytes(struct signer *s, enum signer_key k, const char *digest)
{
	static const unsigned char data[] = "a trust list, or any bytes";
	unsigned char *sig;
	size_t siglen;
	assert_int_equal(signer_sign_bytes(s, k, digest, data, sizeof data, &sig, &siglen), 0);
	assert_int_equal(siglen, 384); /* RSA 3072 */
	X509 *x = ca_cert(s, k);
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();
	assert_int_equal(EVP_DigestVerifyInit(ctx, NULL, EVP_get_digestbyname(digest), NULL,
	                                      X509_get0_pubkey(x)),
	                 1);
	assert_int_equal(EVP_DigestVerify(ctx, sig, siglen, data, sizeof data), 1);
	EVP_MD_CTX_free(ctx);
	X509_free(x);
	free(sig);
}

static void test_local_bytes(void **state)
{
	(void)state;
	check_bytes(local, SIGNER_KEY_TRUSTLIST, "SHA512");
	check_bytes(local, SIGNER_KEY_TRUSTLIST, "SHA1");
	check_bytes(local, SIGNER_KEY_RECOVERY, "SHA256");
	/* The trust-list signer is issued by the CA; the recovery signer by itself. */
	X509 *ca = ca_cert(local, SIGNER_KEY_CA), *tl = ca_cert(local, SIGNER_KEY_TRUSTLIST),
	     *rec = ca_cert(local, SIGNER_KEY_RECOVERY);
	assert_int_equal(X509_verify(tl, X509_get0_pubkey(ca)), 1);
	assert_int_equal(X509_verify(rec, X509_get0_pubkey(rec)), 1);
	assert_int_equal(EVP_PKEY_get_bits(X509_get0_pubkey(tl)), 3072);
	X509_free(ca);
	X509_free(tl);
	X509_free(rec);
	unsigned char *out;
	size_t olen;
	assert_int_equal(signer_certificate(local, SIGNER_KEY_TOKEN, &out, &olen), -ENOENT);
}

static void check_crl(struct signer *s)
{
	X509_CRL *c = X509_CRL_new();
	ASN1_TIME *now = ASN1_TIME_set(NULL, time(NULL)),
	          *next = ASN1_TIME_set(NULL, time(NULL) + 86400);
	X509_CRL_set1_lastUpdate(c, now);
	X509_CRL_set1_nextUpdate(c, next);
	X509_REVOKED *r = X509_REVOKED_new();
	ASN1_INTEGER *sn = ASN1_INTEGER_new();
	ASN1_INTEGER_set(sn, 42);
	X509_REVOKED_set_serialNumber(r, sn);
	X509_REVOKED_set_revocationDate(r, now);
	X509_CRL_add0_revoked(c, r);
	X509_CRL_sign(c, subject_key, EVP_sha256());
	unsigned char *der = NULL, *out;
	size_t olen;
	int n = i2d_X509_CRL(c, &der);
	assert_int_equal(signer_sign_crl(s, der, (size_t)n, &out, &olen), 0);
	const unsigned char *p = out;
	X509_CRL *got = d2i_X509_CRL(NULL, &p, (long)olen);
	X509 *ca = ca_cert(s, SIGNER_KEY_CA);
	assert_non_null(got);
	assert_int_equal(X509_CRL_verify(got, X509_get0_pubkey(ca)), 1);
	assert_int_equal(X509_NAME_cmp(X509_CRL_get_issuer(got), X509_get_subject_name(ca)), 0);
	assert_int_equal(sk_X509_REVOKED_num(X509_CRL_get_REVOKED(got)), 1);
	/* nextUpdate before lastUpdate: refused. */
	X509_CRL_set1_nextUpdate(c, now);
	X509_CRL_set1_lastUpdate(c, next);
	OPENSSL_free(der);
	der = NULL;
	n = i2d_X509_CRL(c, &der);
	free(out);
	assert_int_equal(signer_sign_crl(s, der, (size_t)n, &out, &olen), -EINVAL);
	OPENSSL_free(der);
	ASN1_INTEGER_free(sn);
	ASN1_TIME_free(now);
	ASN1_TIME_free(next);
	X509_CRL_free(c);
	X509_CRL_free(got);
	X509_free(ca);
}

static void test_local_crl(void **state)
{
	(void)state;
	check_crl(local);
}

/* A signer process on fd, as the monitor forks it (keys from the local handle). */
static pid_t spawn_signer(int fd, int other, unsigned restarts)
{
	pid_t pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		close(other);
		const struct signer_proc_options o = {.fd = fd,
		                                      .keys = signer_local_keys(local),
		                                      .restarts = restarts,
		                                      .nice = 10,
		                                      .cid = "test"};
		_exit(signer_proc_run(&o) == 0 ? 0 : 2);
	}
	return pid;
}

/* Waits for the signer's hello from pid (no timing assertion: up to a minute). */
static void await_hello(struct signer *r, pid_t pid)
{
	struct signer_stats st;
	for (int i = 0; i < 6000; i++) {
		signer_stats(r, &st);
		if (st.pid == (long)pid)
			return;
		usleep(10000);
	}
	fail_msg("no hello from the signer");
}

static void *blocked_request(void *arg)
{
	unsigned char *out;
	size_t olen;
	static int rc;
	rc = signer_sign_bytes(arg, SIGNER_KEY_TRUSTLIST, "SHA256", (const unsigned char *)"x", 1,
	                       &out, &olen);
	return &rc;
}

/* A signer process on a new socketpair (sv) and the remote handle to it, its hello in: the
 * answer timeout is for a signer that runs, and the warm-up at nice 10 can outlast it on a
 * loaded machine, so the daemon waits for the hello too. */
static struct signer *remote_start(int sv[2], pid_t *pid)
{
	assert_int_equal(socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv), 0);
	*pid = spawn_signer(sv[1], sv[0], 0);
	char err[128];
	struct signer *r = signer_remote_new(sv[0], err, sizeof err);
	assert_non_null(r);
	await_hello(r, *pid);
	return r;
}

static void test_remote(void **state)
{
	(void)state;
	int sv[2];
	pid_t pid;
	struct signer *r = remote_start(sv, &pid);
	/* The same answers as the local signer: the policy is the same code. */
	check_issued(r);
	check_policy(r);
	check_bytes(r, SIGNER_KEY_TRUSTLIST, "SHA512");
	check_crl(r);
	/* A payload over the cap never leaves this process. */
	unsigned char *out;
	size_t olen;
	assert_int_equal(
	    signer_sign_crl(r, (const unsigned char *)"", SIGNER_DATA_MAX + 1, &out, &olen),
	    -EINVAL);
	struct signer_stats st;
	await_hello(r, pid);
	signer_stats(r, &st);
	assert_int_equal(st.remote, 1);
	assert_int_equal(st.restarts, 0);
	assert_int_equal(st.in_flight, 0);
	assert_true(st.served > 10);
	/* Every request sent is timed for the metrics page (the oversize one never was). */
	const struct metrics_histogram *h = signer_latency(r);
	assert_non_null(h);
	assert_int_equal(atomic_load(&h->count), st.served);

	/* The signer dies: a request in the gap fails with -EAGAIN at its timeout. */
	kill(pid, SIGKILL);
	int ws;
	assert_int_equal(waitpid(pid, &ws, 0), pid);
	signer_remote_configure(r, 1, 500);
	assert_int_equal(signer_sign_bytes(r, SIGNER_KEY_TRUSTLIST, "SHA256",
	                                   (const unsigned char *)"x", 1, &out, &olen),
	                 -EAGAIN);
	/* One request in flight fills a queue of one: another is refused at once with -EBUSY.
	 * The one in flight waits longer than any scheduling delay (with a short timeout it
	 * could end before this thread looks), and the new signer's hello below fails it with
	 * -EAGAIN. */
	signer_remote_configure(r, 1, 600000);
	pthread_t th;
	assert_int_equal(pthread_create(&th, NULL, blocked_request, r), 0);
	for (int i = 0; i < 60000; i++) {
		signer_stats(r, &st);
		if (st.in_flight == 1)
			break;
		usleep(1000);
	}
	assert_int_equal(st.in_flight, 1);
	assert_int_equal(signer_sign_bytes(r, SIGNER_KEY_TRUSTLIST, "SHA256",
	                                   (const unsigned char *)"x", 1, &out, &olen),
	                 -EBUSY);

	/* A new signer on the same socket (what the monitor does): it discards what the dead
	 * one left unread, says hello (which fails the request still in flight), and serves
	 * again. */
	signer_remote_configure(r, 0, 0);
	pid_t pid2 = spawn_signer(sv[1], sv[0], 1);
	void *res;
	pthread_join(th, &res);
	assert_int_equal(*(int *)res, -EAGAIN);
	await_hello(r, pid2);
	signer_stats(r, &st);
	assert_int_equal(st.restarts, 1);
	check_issued(r);
	signer_stats(r, &st);
	assert_true(st.failed >= 2);

	/* The engine's end closes: the signer ends by itself, with status 0. */
	signer_free(r);
	close(sv[1]);
	assert_int_equal(waitpid(pid2, &ws, 0), pid2);
	assert_true(WIFEXITED(ws));
	assert_int_equal(WEXITSTATUS(ws), 0);
}

/* A batch of token requests sent while the handle was idle (its watcher thread reads the
 * socket then, and steps down for the batch's first wait): every request gets the signer's
 * own answer (-ENOENT: the kid is not one of its keys), none -EAGAIN at its deadline. The
 * watcher used to hand the socket to the batch's last request, on which nobody waited yet,
 * so the first answer stayed unread until another request came or its deadline passed. */
static void test_remote_batch_after_idle(void **state)
{
	(void)state;
	int sv[2];
	pid_t pid;
	struct signer *r = remote_start(sv, &pid);
	enum { N = 4 };
	static const char input[] = "eyJhbGciOiJFUzI1NiJ9.e30";
	char kid[SIGNER_KID_LEN + 1];
	memset(kid, 'A', SIGNER_KID_LEN);
	kid[SIGNER_KID_LEN] = '\0';
	for (int round = 0; round < 2; round++) {
		usleep(1500 * 1000); /* idle longer than the watcher's 1 s: it leads now */
		struct signer_token_sign t[N], *v[N];
		for (int i = 0; i < N; i++) {
			t[i] = (struct signer_token_sign){
			    .kid = kid, .input = input, .len = sizeof input - 1};
			v[i] = &t[i];
		}
		signer_sign_tokens_start(r, v, N);
		signer_sign_tokens_finish(r, v, N);
		for (int i = 0; i < N; i++) {
			assert_int_equal(t[i].rc, -ENOENT);
			assert_null(t[i].sig);
		}
	}
	struct signer_stats st;
	signer_stats(r, &st);
	assert_int_equal(st.failed, 0);
	assert_int_equal(st.in_flight, 0);
	signer_free(r);
	close(sv[1]);
	int ws;
	assert_int_equal(waitpid(pid, &ws, 0), pid);
}

/* Many threads through one remote handle (leader/follower: whoever waits reads the socket
 * for the others). Each thread signs its own bytes and checks the signature itself (cmocka's
 * asserts are for the main thread); the main thread kills the signer once they are under
 * way and starts another on the same socket. */
#define NTHREADS 8
static struct signer *shared;
static EVP_PKEY *tl_pub;
static atomic_int restarted, stopping, total_ok;
struct worker {
	int idx, ok, ok_after, eagain, other, bad;
};

static void *sign_loop(void *arg)
{
	struct worker *w = arg;
	for (int n = 0; n < 100000 && (!atomic_load(&stopping) || w->ok_after < 3); n++) {
		char data[64];
		int len = snprintf(data, sizeof data, "thread %d call %d", w->idx, n);
		int after = atomic_load(&restarted);
		unsigned char *sig;
		size_t siglen;
		int rc = signer_sign_bytes(shared, SIGNER_KEY_TRUSTLIST, "SHA256",
		                           (const unsigned char *)data, (size_t)len, &sig, &siglen);
		if (rc == -EAGAIN) {
			w->eagain++;
			continue;
		}
		if (rc != 0) {
			w->other++;
			continue;
		}
		EVP_MD_CTX *ctx = EVP_MD_CTX_new();
		int good =
		    ctx && EVP_DigestVerifyInit(ctx, NULL, EVP_sha256(), NULL, tl_pub) == 1 &&
		    EVP_DigestVerify(ctx, sig, siglen, (const unsigned char *)data, (size_t)len) ==
		        1;
		EVP_MD_CTX_free(ctx);
		free(sig);
		w->bad += !good;
		w->ok += good;
		w->ok_after += good && after;
		atomic_fetch_add(&total_ok, good);
	}
	return NULL;
}

static void test_remote_threads(void **state)
{
	(void)state;
	int sv[2];
	pid_t pid;
	shared = remote_start(sv, &pid);
	X509 *tl = ca_cert(shared, SIGNER_KEY_TRUSTLIST);
	tl_pub = X509_get0_pubkey(tl);
	pthread_t th[NTHREADS];
	struct worker w[NTHREADS];
	for (int i = 0; i < NTHREADS; i++) {
		w[i] = (struct worker){.idx = i};
		assert_int_equal(pthread_create(&th[i], NULL, sign_loop, &w[i]), 0);
	}
	/* Under way: every thread's answers come back, whoever reads them. */
	for (int i = 0; i < 60000 && atomic_load(&total_ok) < 5 * NTHREADS; i++)
		usleep(1000);
	assert_true(atomic_load(&total_ok) >= 5 * NTHREADS);

	/* The signer dies with requests in flight (nobody answers them now: they pile up until
	 * the new signer's hello fails them with -EAGAIN). */
	kill(pid, SIGKILL);
	int ws;
	assert_int_equal(waitpid(pid, &ws, 0), pid);
	struct signer_stats st;
	for (int i = 0; i < 60000; i++) {
		signer_stats(shared, &st);
		if (st.in_flight >= 1)
			break;
		usleep(1000);
	}
	assert_true(st.in_flight >= 1);
	pid_t pid2 = spawn_signer(sv[1], sv[0], 1);
	await_hello(shared, pid2);
	atomic_store(&restarted, 1);
	atomic_store(&stopping, 1);
	int ok = 0, eagain = 0;
	for (int i = 0; i < NTHREADS; i++) {
		assert_int_equal(pthread_join(th[i], NULL), 0);
		assert_int_equal(w[i].other, 0);
		assert_int_equal(w[i].bad, 0);
		assert_true(w[i].ok_after >= 3); /* every thread signs again after the restart */
		ok += w[i].ok;
		eagain += w[i].eagain;
	}
	assert_true(eagain >= 1);
	signer_stats(shared, &st);
	assert_int_equal(st.restarts, 1);
	assert_int_equal(st.in_flight, 0);
	assert_true(st.served >= (uint64_t)ok);

	/* A restart while nobody signs is still seen (the idle handle's watcher reads). */
	kill(pid2, SIGKILL);
	assert_int_equal(waitpid(pid2, &ws, 0), pid2);
	pid_t pid3 = spawn_signer(sv[1], sv[0], 2);
	await_hello(shared, pid3);
	signer_stats(shared, &st);
	assert_int_equal(st.restarts, 2);
	check_bytes(shared, SIGNER_KEY_TRUSTLIST, "SHA256");

	X509_free(tl);
	signer_free(shared);
	close(sv[1]);
	assert_int_equal(waitpid(pid3, &ws, 0), pid3);
	assert_true(WIFEXITED(ws));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_local_issues),  cmocka_unit_test(test_local_policy),
	    cmocka_unit_test(test_local_bytes),   cmocka_unit_test(test_local_crl),
	    cmocka_unit_test(test_remote),        cmocka_unit_test(test_remote_batch_after_idle),
	    cmocka_unit_test(test_remote_threads)};
	return cmocka_run_group_tests(tests, setup, teardown);
}
