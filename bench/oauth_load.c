/* SPDX-License-Identifier: ISC */
/*
 * bench/oauth_load: the load client of bench/run.sh oauth, with OpenSSL alone (no telgate
 * code: it speaks RFC 6749/7662 as any client would, so it drives telgated and
 * oidc-provider the same way). CONNS threads, each with one keep-alive TLS connection
 * (TLS 1.3 or 1.2 as the server picks, server certificate verified against CAFILE),
 * sending one request at a time for SECONDS:
 *
 *   refresh:    POST PATH grant_type=refresh_token&refresh_token=R: each connection holds
 *               a refresh token of its own (line i of TOKENS) and rotates it: every 200
 *               answer gives the next one (a lost answer ends that connection's chain).
 *   introspect: POST PATH token=T (the first line of TOKENS), "active":true expected.
 *
 * AUTH is how the client authenticates: "basic:ID:SECRET" (client_secret_basic) or
 * "post:ID" (client_id in the form: a public client, or one authenticated otherwise).
 *
 *   bench_oauth_load HOST PORT CAFILE refresh|introspect PATH AUTH TOKENS CONNS SECONDS
 *
 * Prints the answers by status and, last, one line for scripts:
 *   RESULT ok=N failed=N wall_s=X rate=X p50_ms=X p99_ms=X reconnects=N client_cpu_s=X
 * (client_cpu_s: this process's user+system CPU over the run, to show it is not the bound)
 * (ok: 200 answers carrying the expected field; rate = ok / wall_s).
 */
#include <arpa/inet.h>
#include <ctype.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/evp.h>
#include <openssl/ssl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define LAT_MAX (1 << 20)

static const char *host, *path;
static int port, refresh_mode, seconds;
static SSL_CTX *ctx;
static char basic[512], post_id[256];
static char **tokens;
static int ntokens;
static atomic_int by_status[600], neterr, reconnects, nlat, bad_shown;
static atomic_long ok_total;
static int64_t t_end;
static uint32_t *lat_us; /* sampled latencies */

static int64_t now_us(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

struct conn {
	int fd;
	SSL *ssl;
};

static void conn_close(struct conn *c)
{
	if (c->ssl) {
		SSL_shutdown(c->ssl);
		SSL_free(c->ssl);
	}
	if (c->fd >= 0)
		close(c->fd);
	c->ssl = NULL;
	c->fd = -1;
}

static int conn_open(struct conn *c)
{
	struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
	c->ssl = NULL;
	c->fd = -1;
	if (inet_pton(AF_INET, host, &sa.sin_addr) != 1)
		return -1;
	c->fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (c->fd < 0)
		return -1;
	int one = 1;
	setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
	if (connect(c->fd, (struct sockaddr *)&sa, sizeof sa) != 0)
		goto fail;
	c->ssl = SSL_new(ctx);
	SSL_set_fd(c->ssl, c->fd);
	SSL_set_tlsext_host_name(c->ssl, "localhost");
	if (SSL_connect(c->ssl) == 1)
		return 0;
fail:
	conn_close(c);
	return -1;
}

/* Form-urlencodes s into out (RFC 6749 appendix B). */
static void form_enc(char *out, size_t cap, const char *s)
{
	static const char hex[] = "0123456789ABCDEF";
	size_t o = 0;
	for (; *s && o + 4 < cap; s++) {
		unsigned char ch = (unsigned char)*s;
		if (isalnum(ch) || ch == '-' || ch == '.' || ch == '_' || ch == '~') {
			out[o++] = (char)ch;
		} else {
			out[o++] = '%';
			out[o++] = hex[ch >> 4];
			out[o++] = hex[ch & 15];
		}
	}
	out[o] = '\0';
}

/*
 * One request and its answer on c: the status (0: network failure), the body in body
 * (NUL-terminated). *closing when the server said "Connection: close".
 */
static int exchange(struct conn *c, const char *form, char *body, size_t cap, int *closing)
{
	char req[4096];
	int bl = (int)strlen(form);
	int hl = snprintf(req, sizeof req,
	                  "POST %s HTTP/1.1\r\nHost: %s:%d\r\n%s%s%s"
	                  "Content-Type: application/x-www-form-urlencoded\r\n"
	                  "Content-Length: %d\r\n\r\n%s",
	                  path, host, port, basic[0] ? "Authorization: Basic " : "", basic,
	                  basic[0] ? "\r\n" : "", bl, form);
	if (hl <= 0 || hl >= (int)sizeof req || SSL_write(c->ssl, req, hl) != hl)
		return 0;
	char buf[16384];
	size_t got = 0;
	char *eoh = NULL;
	while (!eoh) {
		int n = SSL_read(c->ssl, buf + got, (int)(sizeof buf - 1 - got));
		if (n <= 0)
			return 0;
		got += (size_t)n;
		buf[got] = '\0';
		eoh = strstr(buf, "\r\n\r\n");
		if (!eoh && got == sizeof buf - 1)
			return 0;
	}
	*eoh = '\0';
	int status = strncmp(buf, "HTTP/1.1 ", 9) == 0 ? atoi(buf + 9) : 0;
	long clen = -1;
	*closing = 0;
	for (char *l = strstr(buf, "\r\n"); l; l = strstr(l + 2, "\r\n")) {
		if (strncasecmp(l + 2, "content-length:", 15) == 0)
			clen = strtol(l + 17, NULL, 10);
		else if (strncasecmp(l + 2, "connection:", 11) == 0 && strstr(l + 13, "close"))
			*closing = 1;
		else if (strncasecmp(l + 2, "transfer-encoding:", 18) == 0)
			return 0; /* the servers send Content-Length for these answers */
	}
	size_t have = got - (size_t)(eoh + 4 - buf);
	if (clen < 0 || (size_t)clen >= cap)
		return 0;
	memcpy(body, eoh + 4, have < (size_t)clen ? have : (size_t)clen);
	while (have < (size_t)clen) {
		int n = SSL_read(c->ssl, body + have, (int)((size_t)clen - have));
		if (n <= 0)
			return 0;
		have += (size_t)n;
	}
	body[clen] = '\0';
	return status;
}

/* The value of "name":"..." in a JSON body (no escapes in the tokens), into out. */
static int json_str(const char *body, const char *name, char *out, size_t cap)
{
	char key[64];
	snprintf(key, sizeof key, "\"%s\":\"", name);
	const char *p = strstr(body, key);
	if (!p)
		return -1;
	p += strlen(key);
	const char *e = strchr(p, '"');
	if (!e || (size_t)(e - p) >= cap)
		return -1;
	memcpy(out, p, (size_t)(e - p));
	out[e - p] = '\0';
	return 0;
}

static void *client(void *arg)
{
	int i = (int)(intptr_t)arg;
	char token[2048], enc[4096], form[4608], body[16384];
	snprintf(token, sizeof token, "%s", tokens[refresh_mode ? i : 0]);
	struct conn c;
	if (conn_open(&c) != 0) {
		atomic_fetch_add(&neterr, 1);
		return NULL;
	}
	while (now_us() < t_end) {
		form_enc(enc, sizeof enc, token);
		snprintf(form, sizeof form, "%s%s%s%s",
		         refresh_mode ? "grant_type=refresh_token&refresh_token=" : "token=", enc,
		         post_id[0] ? "&client_id=" : "", post_id);
		int closing = 0;
		int64_t t0 = now_us();
		int status = exchange(&c, form, body, sizeof body, &closing);
		int64_t dt = now_us() - t0;
		if (status == 0) {
			atomic_fetch_add(&neterr, 1);
			break;
		}
		atomic_fetch_add(&by_status[status < 600 ? status : 599], 1);
		int good = status == 200;
		if (good && refresh_mode)
			good = json_str(body, "refresh_token", token, sizeof token) == 0 &&
			       strstr(body, "\"access_token\":\"");
		else if (good)
			good = strstr(body, "\"active\":true") != NULL;
		if (!good) {
			if (refresh_mode) {
				fprintf(stderr, "connection %d: %d %.300s\n", i, status, body);
				break; /* the chain is lost */
			}
			if (atomic_fetch_add(&bad_shown, 1) == 0)
				fprintf(stderr, "connection %d: %d %.300s\n", i, status, body);
			continue;
		}
		atomic_fetch_add(&ok_total, 1);
		int k = atomic_fetch_add(&nlat, 1);
		if (k < LAT_MAX)
			lat_us[k] = (uint32_t)dt;
		if (closing) {
			conn_close(&c);
			atomic_fetch_add(&reconnects, 1);
			if (conn_open(&c) != 0) {
				atomic_fetch_add(&neterr, 1);
				return NULL;
			}
		}
	}
	conn_close(&c);
	return NULL;
}

static int cmp(const void *a, const void *b)
{
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
	return x < y ? -1 : x > y;
}

int main(int argc, char **argv)
{
	if (argc < 10) {
		fprintf(stderr, "usage: bench_oauth_load HOST PORT CAFILE refresh|introspect PATH "
		                "AUTH TOKENS CONNS SECONDS\n");
		return 64;
	}
	host = argv[1];
	port = atoi(argv[2]);
	refresh_mode = strcmp(argv[4], "refresh") == 0;
	path = argv[5];
	int conns = atoi(argv[8]);
	seconds = atoi(argv[9]);
	if (strncmp(argv[6], "basic:", 6) == 0)
		EVP_EncodeBlock((unsigned char *)basic, (const unsigned char *)argv[6] + 6,
		                (int)strlen(argv[6] + 6));
	else if (strncmp(argv[6], "post:", 5) == 0)
		snprintf(post_id, sizeof post_id, "%s", argv[6] + 5);
	FILE *f = fopen(argv[7], "r");
	char line[4096];
	while (f && fgets(line, sizeof line, f)) {
		line[strcspn(line, "\r\n")] = '\0';
		if (!line[0])
			continue;
		tokens = realloc(tokens, (size_t)(ntokens + 1) * sizeof *tokens);
		tokens[ntokens++] = strdup(line);
	}
	if (f)
		fclose(f);
	if (ntokens == 0 || conns < 1 || conns > 1024 || (refresh_mode && ntokens < conns) ||
	    seconds < 1) {
		fprintf(stderr, "too few tokens in %s, or CONNS not 1..1024, or SECONDS < 1\n",
		        argv[7]);
		return 64;
	}
	ctx = SSL_CTX_new(TLS_client_method());
	if (SSL_CTX_load_verify_locations(ctx, argv[3], NULL) != 1) {
		fprintf(stderr, "%s: cannot read the CA\n", argv[3]);
		return 1;
	}
	SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, NULL);
	lat_us = calloc(LAT_MAX, sizeof *lat_us);
	pthread_t *th = calloc((size_t)conns, sizeof *th);
	pthread_attr_t attr;
	pthread_attr_init(&attr);
	pthread_attr_setstacksize(&attr, 256 * 1024);
	struct rusage ru0, ru1;
	getrusage(RUSAGE_SELF, &ru0);
	int64_t t0 = now_us();
	t_end = t0 + (int64_t)seconds * 1000000;
	for (int i = 0; i < conns; i++)
		pthread_create(&th[i], &attr, client, (void *)(intptr_t)i);
	for (int i = 0; i < conns; i++)
		pthread_join(th[i], NULL);
	double wall = (double)(now_us() - t0) / 1e6;
	getrusage(RUSAGE_SELF, &ru1);
	double cpu = (double)(ru1.ru_utime.tv_sec - ru0.ru_utime.tv_sec) +
	             (double)(ru1.ru_stime.tv_sec - ru0.ru_stime.tv_sec) +
	             (double)(ru1.ru_utime.tv_usec - ru0.ru_utime.tv_usec) / 1e6 +
	             (double)(ru1.ru_stime.tv_usec - ru0.ru_stime.tv_usec) / 1e6;
	long ok = atomic_load(&ok_total);
	int n = atomic_load(&nlat);
	if (n > LAT_MAX)
		n = LAT_MAX;
	qsort(lat_us, (size_t)n, sizeof *lat_us, cmp);
	long failed = atomic_load(&neterr);
	printf("  oauth_load %s: %d connections, %.2f s:", argv[4], conns, wall);
	for (int s = 1; s < 600; s++)
		if (atomic_load(&by_status[s])) {
			printf(" %d x%d", s, atomic_load(&by_status[s]));
			if (s != 200)
				failed += atomic_load(&by_status[s]);
		}
	printf(" (network/TLS failures %d)\n", atomic_load(&neterr));
	double p50 = n ? lat_us[(n - 1) / 2] / 1e3 : 0,
	       p99 = n ? lat_us[(size_t)(0.99 * (n - 1) + 0.5)] / 1e3 : 0;
	printf("RESULT ok=%ld failed=%ld wall_s=%.3f rate=%.1f p50_ms=%.2f p99_ms=%.2f "
	       "reconnects=%d client_cpu_s=%.3f\n",
	       ok, failed, wall, ok / wall, p50, p99, atomic_load(&reconnects), cpu);
	return 0;
}
