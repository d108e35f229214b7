/* SPDX-License-Identifier: ISC */
/*
 * bench/est_load: the EST load client of bench/run.sh est_enrol (parts 2 and 3), with
 * OpenSSL alone (no telgate code: it speaks RFC 7030 as any device would). Each enrolment
 * is what a device does: a new TCP connection, a full TLS 1.3 handshake (no session
 * resumption, the server's certificate verified against the CA), one POST
 * /.well-known/est/simpleenroll with HTTP Basic (instance id : one-time string) and a
 * base64 PKCS#10 body, the answer read to the end, the connection closed. A 202 or 503 is
 * retried after its Retry-After, as RFC 7030 §4.2.3 tells clients (at most 10 times).
 * CSRs (64 P-256 keys) are made before the clock starts.
 *
 *   bench_est_load HOST PORT CAFILE CREDENTIALS CLIENTS
 * CREDENTIALS: one "instance id:string" a line, each enrolled once; CLIENTS threads, each
 * enrolling the next unused line. Prints the answers by status, enrolments/s, per
 * enrolment latency p50/p99 and, last, one line for scripts:
 *   RESULT ok=N failed=N retried=N wall_s=X rate=X p50_ms=X p99_ms=X t0_ms=T t1_ms=T
 * (t0/t1: the wall clock, ms since the epoch, of the first request and the last answer).
 */
#include "est_ca_bare.h"

#include <arpa/inet.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/ssl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define NCSR 64
#define TRIES 10

static const char *host;
static int port;
static SSL_CTX *ctx;
static char **creds;
static int ncreds;
static char *csr_b64[NCSR];
static atomic_int next_cred, by_status[600], retried, neterr;
static int64_t *lat_us;

static int64_t now_us(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

static int64_t epoch_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int dial(void)
{
	struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
	if (inet_pton(AF_INET, host, &sa.sin_addr) != 1)
		return -1;
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	int one = 1;
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
	if (fd >= 0 && connect(fd, (struct sockaddr *)&sa, sizeof sa) != 0) {
		close(fd);
		fd = -1;
	}
	return fd;
}

/* One attempt: the HTTP status, 0 on a network or TLS failure; *retry_s from Retry-After. */
static int attempt(const char *cred, const char *csr, int *retry_s)
{
	int fd = dial();
	if (fd < 0)
		return 0;
	SSL *ssl = SSL_new(ctx);
	SSL_set_fd(ssl, fd);
	SSL_set_tlsext_host_name(ssl, "localhost");
	int status = 0;
	char auth[512], head[1024], buf[16384];
	size_t got = 0;
	if (SSL_connect(ssl) != 1)
		goto out;
	EVP_EncodeBlock((unsigned char *)auth, (const unsigned char *)cred, (int)strlen(cred));
	size_t blen = strlen(csr);
	int hl = snprintf(head, sizeof head,
	                  "POST /.well-known/est/simpleenroll HTTP/1.1\r\nHost: %s:%d\r\n"
	                  "Authorization: Basic %s\r\nContent-Type: application/pkcs10\r\n"
	                  "Content-Transfer-Encoding: base64\r\nContent-Length: %zu\r\n"
	                  "Connection: close\r\n\r\n",
	                  host, port, auth, blen);
	if (SSL_write(ssl, head, hl) != hl || SSL_write(ssl, csr, (int)blen) != (int)blen)
		goto out;
	for (;;) {
		int n = SSL_read(ssl, buf + got, (int)(sizeof buf - 1 - got));
		if (n <= 0)
			break;
		got += (size_t)n;
		if (got == sizeof buf - 1)
			break;
	}
	buf[got] = '\0';
	if (strncmp(buf, "HTTP/1.1 ", 9) == 0)
		status = atoi(buf + 9);
	const char *ra = strstr(buf, "\r\nRetry-After: ");
	*retry_s = ra ? atoi(ra + 15) : 1;
	/* a 200 carries the certificate: base64 after the headers */
	const char *body = strstr(buf, "\r\n\r\n");
	if (status == 200 && (!body || strlen(body + 4) < 100))
		status = 1;
out:
	SSL_shutdown(ssl);
	SSL_free(ssl);
	close(fd);
	return status;
}

static void *client(void *arg)
{
	(void)arg;
	for (;;) {
		int i = atomic_fetch_add(&next_cred, 1);
		if (i >= ncreds)
			return NULL;
		int64_t t0 = now_us();
		int status = 0;
		for (int t = 0; t < TRIES; t++) {
			int retry_s = 1;
			status = attempt(creds[i], csr_b64[i % NCSR], &retry_s);
			if (status != 202 && status != 503)
				break;
			atomic_fetch_add(&retried, 1);
			sleep((unsigned)(retry_s > 0 && retry_s < 60 ? retry_s : 1));
		}
		lat_us[i] = now_us() - t0;
		if (status > 0 && status < 600)
			atomic_fetch_add(&by_status[status], 1);
		else
			atomic_fetch_add(&neterr, 1);
	}
}

static int cmp(const void *a, const void *b)
{
	int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
	return x < y ? -1 : x > y;
}

int main(int argc, char **argv)
{
	if (argc < 6) {
		fprintf(stderr, "usage: bench_est_load HOST PORT CAFILE CREDENTIALS CLIENTS\n");
		return 64;
	}
	host = argv[1];
	port = atoi(argv[2]);
	int nclients = atoi(argv[5]);
	FILE *f = fopen(argv[4], "r");
	char line[512];
	while (f && fgets(line, sizeof line, f)) {
		line[strcspn(line, "\r\n")] = '\0';
		if (!line[0])
			continue;
		creds = realloc(creds, (size_t)(ncreds + 1) * sizeof *creds);
		creds[ncreds++] = strdup(line);
	}
	if (f)
		fclose(f);
	if (ncreds == 0 || nclients < 1 || nclients > 4096) {
		fprintf(stderr, "no credentials in %s, or CLIENTS not 1..4096\n", argv[4]);
		return 64;
	}
	unsigned char *der[NCSR];
	size_t len[NCSR];
	if (bare_make_csrs(NCSR, "device", der, len) != 0)
		return 1;
	for (int i = 0; i < NCSR; i++) {
		csr_b64[i] = malloc((len[i] + 2) / 3 * 4 + 1);
		EVP_EncodeBlock((unsigned char *)csr_b64[i], der[i], (int)len[i]);
		OPENSSL_free(der[i]);
	}
	ctx = SSL_CTX_new(TLS_client_method());
	SSL_CTX_set_min_proto_version(ctx, TLS1_3_VERSION);
	SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_OFF); /* every handshake is full */
	if (SSL_CTX_load_verify_locations(ctx, argv[3], NULL) != 1) {
		fprintf(stderr, "%s: cannot read the CA\n", argv[3]);
		return 1;
	}
	SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, NULL);
	lat_us = calloc((size_t)ncreds, sizeof *lat_us);
	pthread_t *th = calloc((size_t)nclients, sizeof *th);
	pthread_attr_t attr;
	pthread_attr_init(&attr);
	pthread_attr_setstacksize(&attr, 256 * 1024);
	int64_t e0 = epoch_ms(), t0 = now_us();
	for (int i = 0; i < nclients; i++)
		pthread_create(&th[i], &attr, client, NULL);
	for (int i = 0; i < nclients; i++)
		pthread_join(th[i], NULL);
	double wall = (double)(now_us() - t0) / 1e6;
	int64_t e1 = epoch_ms();
	qsort(lat_us, (size_t)ncreds, sizeof *lat_us, cmp);
	int ok = atomic_load(&by_status[200]);
	printf("  est_load: %d enrolments, %d clients, %.2f s:", ncreds, nclients, wall);
	for (int s = 1; s < 600; s++)
		if (atomic_load(&by_status[s]))
			printf(" %d x%d", s, atomic_load(&by_status[s]));
	printf(" (network/TLS failures %d, retries after 202/503 %d)\n", atomic_load(&neterr),
	       atomic_load(&retried));
	double p50 = (double)lat_us[(ncreds - 1) / 2] / 1e3,
	       p99 = (double)lat_us[(size_t)(0.99 * (ncreds - 1) + 0.5)] / 1e3;
	printf("RESULT ok=%d failed=%d retried=%d wall_s=%.3f rate=%.1f p50_ms=%.2f p99_ms=%.2f "
	       "t0_ms=%lld t1_ms=%lld\n",
	       ok, ncreds - ok, atomic_load(&retried), wall, ok / wall, p50, p99, (long long)e0,
	       (long long)e1);
	return ok == ncreds ? 0 : 1;
}
