/* SPDX-License-Identifier: ISC */
#include "ca/signer_proc.h"

#include "authz/jwk.h"
#include "authz/jws.h"
#include "ca/signer_wire.h"
#include "core/log.h"

#include <errno.h>
#include <openssl/pem.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>
#ifdef TELGATE_HAVE_SECCOMP
#include <seccomp.h>
#endif

#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
#define UNDER_SANITIZER 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(thread_sanitizer) ||                         \
    __has_feature(memory_sanitizer)
#define UNDER_SANITIZER 1
#endif
#endif

/* Every code path a request can take, once, so that what OpenSSL initialises lazily (its
 * providers and configuration file, the random generator) is done before the filter. */
static void warm_up(const struct signer_keys *ks)
{
	static const char *const digests[] = {"SHA256", "SHA512", "SHA1"};
	for (int k = 1; k < SIGNER_NKEYS; k++) {
		if (!ks->key[k])
			continue;
		for (size_t i = 0; i < sizeof digests / sizeof digests[0]; i++) {
			struct signer_req rq = {.op = SIGNER_OP_SIGN_BYTES,
			                        .key = (uint16_t)k,
			                        .payload = (const unsigned char *)"warm",
			                        .len = 4};
			memcpy(rq.digest, digests[i], strlen(digests[i]) + 1);
			unsigned char *out;
			size_t n;
			if (signer_core_handle(ks, &rq, &out, &n) == 0)
				free(out);
		}
	}
	/* Token keys: made and used once per algorithm (throwaway keys, nothing written). */
	static const char *const algs[] = {"EC", "RSA", "ED25519"};
	for (size_t i = 0; i < sizeof algs / sizeof algs[0]; i++) {
		EVP_PKEY *k = i == 1   ? EVP_PKEY_Q_keygen(NULL, NULL, algs[i], (size_t)2048)
		              : i == 0 ? EVP_PKEY_Q_keygen(NULL, NULL, algs[i], "P-256")
		                       : EVP_PKEY_Q_keygen(NULL, NULL, algs[i]);
		unsigned char sig[JWS_SIG_MAX], *spki = NULL;
		size_t n;
		char kid[AUTHZ_KID_LEN + 1];
		BIO *b = BIO_new(BIO_s_mem());
		/* The thumbprint also seeds jansson's hash function, which reads /dev/urandom
		 * the first time a JSON object is made. */
		if (k && b) {
			jws_sign(k, jws_alg_of_key(k), (const unsigned char *)"warm", 4, sig,
			         sizeof sig, &n);
			authz_jwk_thumbprint(k, kid);
			if (authz_spki_encode(k, &spki, &n) == 0)
				free(spki);
			PEM_write_bio_PrivateKey(b, k, NULL, NULL, 0, NULL, NULL);
		}
		BIO_free(b);
		EVP_PKEY_free(k);
	}
	/* The CA key signs certificates and CRLs (ECDSA with SHA-256): a certificate of its
	 * own, re-signed, walks the same code. */
	if (ks->der[SIGNER_KEY_CA]) {
		X509 *x = X509_dup(ks->cert[SIGNER_KEY_CA]);
		if (x && X509_sign(x, ks->key[SIGNER_KEY_CA], EVP_sha256()) > 0)
			X509_verify(x, ks->key[SIGNER_KEY_CA]);
		X509_free(x);
	}
}

/* Records a dead signer left unread: the engine fails those requests when it gets the new
 * signer's hello, so their answers would be dropped. */
static void drain(int fd)
{
	unsigned char rec[SIGNER_RECORD_MAX + 1];
	while (recv(fd, rec, sizeof rec, MSG_DONTWAIT) > 0)
		;
}

#ifdef TELGATE_HAVE_SECCOMP
static int sandbox(int tokdir)
{
#ifdef UNDER_SANITIZER
	(void)tokdir;
	return 0;
#else
	scmp_filter_ctx ctx = seccomp_init(SCMP_ACT_KILL_PROCESS);
	if (!ctx)
		return 0;
	static const int allowed[] = {
	    SCMP_SYS(read),         SCMP_SYS(write),     SCMP_SYS(recvfrom),
	    SCMP_SYS(recvmsg),      SCMP_SYS(sendto),    SCMP_SYS(sendmsg),
	    SCMP_SYS(brk),          SCMP_SYS(mmap),      SCMP_SYS(munmap),
	    SCMP_SYS(mremap),       SCMP_SYS(madvise),   SCMP_SYS(exit),
	    SCMP_SYS(exit_group),   SCMP_SYS(getrandom), SCMP_SYS(clock_gettime),
	    SCMP_SYS(gettimeofday), SCMP_SYS(time),      SCMP_SYS(futex),
	    SCMP_SYS(rt_sigreturn), SCMP_SYS(getpid),    SCMP_SYS(close),
	};
	int ok = 1;
	for (size_t i = 0; i < sizeof allowed / sizeof allowed[0]; i++)
		ok = ok && seccomp_rule_add(ctx, SCMP_ACT_ALLOW, allowed[i], 0) == 0;
	/* malloc's arenas change protections; never to executable. */
	ok = ok && seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(mprotect), 1,
	                            SCMP_A2(SCMP_CMP_MASKED_EQ, PROT_EXEC, 0)) == 0;
	/* A new token key is written as pki.dir/tokens/<kid>.key (signer_tokens.c) so that it
	 * outlives this process: file calls relative to that one directory descriptor only
	 * (open() is openat(AT_FDCWD, ...) and stays refused), nothing else of the file system.
	 * (The third value only fills datum_b, which SCMP_CMP_EQ ignores: clang's
	 * -Wmissing-field-initializers.) */
	if (tokdir >= 0) {
		ok = ok && seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(openat), 1,
		                            SCMP_A0(SCMP_CMP_EQ, (scmp_datum_t)tokdir, 0)) == 0;
		ok = ok && seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(unlinkat), 1,
		                            SCMP_A0(SCMP_CMP_EQ, (scmp_datum_t)tokdir, 0)) == 0;
		ok = ok && seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(renameat), 2,
		                            SCMP_A0(SCMP_CMP_EQ, (scmp_datum_t)tokdir, 0),
		                            SCMP_A2(SCMP_CMP_EQ, (scmp_datum_t)tokdir, 0)) == 0;
		ok = ok && seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(renameat2), 2,
		                            SCMP_A0(SCMP_CMP_EQ, (scmp_datum_t)tokdir, 0),
		                            SCMP_A2(SCMP_CMP_EQ, (scmp_datum_t)tokdir, 0)) == 0;
		ok = ok && seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(fsync), 0) == 0;
	}
	ok = ok && seccomp_load(ctx) == 0;
	seccomp_release(ctx);
	return ok;
#endif
}
#else
static int sandbox(int tokdir)
{
	(void)tokdir;
	return 0;
}
#endif

static int answer(int fd, uint32_t id, int status, const unsigned char *p, size_t len)
{
	struct signer_resp r = {.id = id, .status = status, .payload = p, .len = len};
	size_t n = signer_resp_size(&r);
	if (!n) { /* an answer over the cap (cannot happen below SIGNER_DATA_MAX inputs) */
		r.status = -EIO;
		n = signer_resp_size(&r);
	}
	unsigned char *buf = malloc(n);
	if (!buf)
		return -ENOMEM;
	long w = signer_resp_encode(&r, buf, n);
	int rc = w > 0 ? signer_wire_send(fd, buf, (size_t)w) : (int)w;
	free(buf);
	return rc;
}

int signer_proc_run(const struct signer_proc_options *o)
{
	prctl(PR_SET_NAME, "telgated-signer");
	prctl(PR_SET_DUMPABLE, 0);
	/* The engine and the monitor take the signals; the signer ends when its socket does. */
	signal(SIGINT, SIG_IGN);
	signal(SIGHUP, SIG_IGN);
	signal(SIGTERM, SIG_IGN);
	setpriority(PRIO_PROCESS, 0, o->nice);
	/* Token keys an earlier signer made after the monitor loaded its copy. */
	signer_tokens_reload(o->keys->tokens);
	warm_up(o->keys);
	/* After a restart only: what the first signer finds waiting was sent for it. */
	if (o->restarts)
		drain(o->fd);
	int sandboxed = sandbox(o->keys->tokens ? o->keys->tokens->dirfd : -1);
	log_ev(LOG_LVL_NOTICE, o->cid, "signer_started", LOG_I("pid", getpid()),
	       LOG_U("restarts", o->restarts), LOG_I("nice", o->nice),
	       LOG_S("seccomp", sandboxed ? "on" : "off"));
	struct signer_hello h = {.pid = (uint32_t)getpid(),
	                         .restarts = o->restarts,
	                         .flags = sandboxed ? SIGNER_HELLO_SECCOMP : 0};
	unsigned char hb[SIGNER_HELLO_LEN];
	signer_hello_encode(&h, hb);
	int rc = answer(o->fd, 0, 0, hb, sizeof hb);
	struct signer_rx rx = {0};
	unsigned dropped = 0;
	while (rc == 0) {
		int r = signer_wire_recv(o->fd, &rx, &dropped);
		if (r <= 0) {
			rc = r;
			break;
		}
		struct signer_req rq;
		unsigned char *out = NULL;
		size_t outlen = 0;
		int st = signer_req_decode(rx.buf, rx.have, &rq);
		if (st == 0)
			st = signer_core_handle(o->keys, &rq, &out, &outlen);
		else if (rx.have >= 12) /* malformed, but its id is there: say so at once */
			rq.id = (uint32_t)rx.buf[8] << 24 | (uint32_t)rx.buf[9] << 16 |
			        (uint32_t)rx.buf[10] << 8 | rx.buf[11];
		else
			continue;
		rc = answer(o->fd, rq.id, st == -EMSGSIZE ? -EINVAL : st, out, outlen);
		free(out);
	}
	signer_rx_free(&rx);
	return rc == -EPIPE ? 0 : rc;
}
