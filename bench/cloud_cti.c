/* SPDX-License-Identifier: ISC */
/*
 * bench/cloud_cti: the cloud CTI event interface (issue 20) under load. Starts telgated
 * (a child process: its RSS and CPU are its own) with N users, each owning one device, an
 * interface with the seed's set-up (trust anchor, client identity, allowClientApp, scope
 * all), then, from one epoll thread speaking TLS with OpenSSL and HTTP/1.1 by hand (no
 * telgate code on the wire side):
 *
 *  3. set-ups (last: a channel whose client left is noticed at its next heartbeat, so
 *     they would count against channels_max for a while): new mutual-TLS channels one after another
 * for S seconds (connect, handshake with a client certificate, POST channel, the first chunk), per
 * second and per telgated CPU-second; then `openssl s_time -new` for S seconds against `openssl
 *     s_server -Verify` with the same certificates, key type and TLS version, per second and
 *     per s_server CPU-second; the ratios (goal >= 0.9);
 *  1. N concurrent channels, each with one subscription (Device State) to its own user:
 *     telgated's RSS (goal < 1 GiB);
 *  2. device-state changes at R per second for E seconds (through the control socket, T
 *     threads, each change stamped when sent), every device in turn: the latency from the
 *     change to the event on its channel, p50/p99/max (goal p99 < 20 ms), and telgated's
 *     CPU per event.
 *
 * Events are not acknowledged (redelivery is set to an hour): the benchmark measures
 * delivery. Wall-clock rates are noisy on a shared machine: the CPU-per-operation figures
 * are the ones to compare.
 *
 * usage: cloud_cti BUILD_DIR [channels=10000] [rate=5000] [event_seconds=10]
 *                  [setup_seconds=10] [threads=4]
 */
#define _GNU_SOURCE /* memmem, strcasestr */
#include "bench_util.h"
#include "cli.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

static int N = 10000, RATE = 5000, ESEC = 10, SSEC = 10, T = 4;
static int PORT;
static char DIR_[256], STATE[300], SOCK[350], BUILD[256];
static SSL_CTX *cctx;
static _Atomic int64_t *t_sent; /* per device: when its last change was sent (us) */
static int64_t *lat;
static atomic_long nlat, failures, up_n;
static long lat_cap;

/* --- small helpers ------------------------------------------------------------------- */

static int run(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static int run(const char *fmt, ...)
{
	char cmd[4096];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(cmd, sizeof cmd, fmt, ap);
	va_end(ap);
	int rc = system(cmd);
	if (rc != 0)
		fprintf(stderr, "failed (%d): %s\n", rc, cmd);
	return rc;
}

static long proc_rss_kib(pid_t pid)
{
	char path[64], line[256];
	snprintf(path, sizeof path, "/proc/%d/status", (int)pid);
	FILE *f = fopen(path, "r");
	long v = -1;
	while (f && fgets(line, sizeof line, f))
		if (!strncmp(line, "VmRSS:", 6))
			v = atol(line + 6);
	if (f)
		fclose(f);
	return v;
}

/* utime + stime of pid and its threads, in seconds (/proc/PID/stat fields 14, 15). */
static double proc_cpu_s(pid_t pid)
{
	char path[64], buf[2048];
	snprintf(path, sizeof path, "/proc/%d/stat", (int)pid);
	FILE *f = fopen(path, "r");
	if (!f)
		return -1;
	size_t n = fread(buf, 1, sizeof buf - 1, f);
	fclose(f);
	buf[n] = '\0';
	char *p = strrchr(buf, ')');
	unsigned long ut = 0, st = 0;
	if (!p ||
	    sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %lu %lu", &ut, &st) != 2)
		return -1;
	return (double)(ut + st) / (double)sysconf(_SC_CLK_TCK);
}

/* The CPU of pid's threads by part, seconds: the loops ("loop-N": TLS, the channels'
 * writes), the workers (control requests: the store, the device-state fan-out) and the
 * rest (the main loop: the control socket, the hub's tick). From each thread's
 * /proc/PID/task/TID/stat (telgated names its threads, tg_thread_name). */
struct cpu_parts {
	double loops, workers, other;
};

static struct cpu_parts proc_cpu_parts(pid_t pid)
{
	struct cpu_parts p = {0, 0, 0};
	char path[64], buf[1024];
	snprintf(path, sizeof path, "/proc/%d/task", (int)pid);
	DIR *d = opendir(path);
	struct dirent *e;
	while (d && (e = readdir(d))) {
		if (e->d_name[0] == '.')
			continue;
		snprintf(path, sizeof path, "/proc/%d/task/%.16s/stat", (int)pid, e->d_name);
		FILE *f = fopen(path, "r");
		size_t n = f ? fread(buf, 1, sizeof buf - 1, f) : 0;
		if (f)
			fclose(f);
		buf[n] = '\0';
		char *open = strchr(buf, '('), *close = strrchr(buf, ')');
		unsigned long ut = 0, st = 0;
		if (!open || !close ||
		    sscanf(close + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %lu %lu", &ut,
		           &st) != 2)
			continue;
		double s = (double)(ut + st) / (double)sysconf(_SC_CLK_TCK);
		if (!strncmp(open + 1, "loop-", 5))
			p.loops += s;
		else if (!strncmp(open + 1, "worker", 6))
			p.workers += s;
		else
			p.other += s;
	}
	if (d)
		closedir(d);
	return p;
}

/* This process's CPU (the client: channels, storm threads), seconds. */
static double self_cpu_s(void)
{
	struct rusage ru;
	getrusage(RUSAGE_SELF, &ru);
	return (double)(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) +
	       (double)(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6;
}

/* The engine (telgated's monitor forks it): the child of pid that is not the signer. */
static pid_t engine_of(pid_t pid)
{
	char path[300], buf[256];
	snprintf(path, sizeof path, "/proc/%d/task/%d/children", (int)pid, (int)pid);
	FILE *f = fopen(path, "r");
	pid_t out = pid;
	while (f && fscanf(f, "%255s", buf) == 1) {
		char comm[64] = "";
		snprintf(path, sizeof path, "/proc/%s/comm", buf);
		FILE *c = fopen(path, "r");
		if (c && fgets(comm, sizeof comm, c) && !strstr(comm, "signer"))
			out = (pid_t)atoi(buf);
		if (c)
			fclose(c);
	}
	if (f)
		fclose(f);
	return out;
}

/* --- one channel ---------------------------------------------------------------------- */

enum cstate { C_CONNECT, C_HANDSHAKE, C_WRITE, C_HEAD, C_STREAM, C_DONE };

struct conn {
	int fd, idx;
	SSL *ssl;
	enum cstate st;
	char out[512];
	size_t outlen, outoff;
	char in[16384];
	size_t inlen;
	int first; /* the <Channel> document arrived */
};

static struct conn *conns;

static void conn_request(struct conn *c)
{
	char body[256];
	int bl = snprintf(body, sizeof body,
	                  "<Channel xmlns=\"http://schema.broadsoft.com/xsi\"><channelSetId>b%d"
	                  "</channelSetId><expires>3600</expires></Channel>",
	                  c->idx);
	c->outlen = (size_t)snprintf(c->out, sizeof c->out,
	                             "POST /com.broadsoft.async/com.broadsoft.xsi-events/v2.0/"
	                             "channel HTTP/1.1\r\nHost: b\r\nContent-Type: application/xml"
	                             "\r\nContent-Length: %d\r\n\r\n%s",
	                             bl, body);
	c->outoff = 0;
}

static int conn_start(struct conn *c, int ep)
{
	/* Close-on-exec: s_server and s_time run from this process and must not inherit
	 * 10,000 sockets (s_server's select() cannot watch a descriptor past FD_SETSIZE). */
	c->fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (c->fd < 0)
		return -1;
	int one = 1;
	setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)PORT)};
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (connect(c->fd, (struct sockaddr *)&a, sizeof a) != 0 && errno != EINPROGRESS) {
		close(c->fd);
		return -1;
	}
	c->ssl = SSL_new(cctx);
	SSL_set_fd(c->ssl, c->fd);
	SSL_set_connect_state(c->ssl);
	c->st = C_HANDSHAKE;
	c->inlen = 0;
	c->first = 0;
	conn_request(c);
	/* Edge-triggered: conn_step reads and writes until OpenSSL wants more, and a
	 * level-triggered EPOLLOUT is always ready: the client spun on it, taking a core
	 * from telgated on a 2-core machine. */
	struct epoll_event ev = {.events = EPOLLIN | EPOLLOUT | EPOLLET, .data.ptr = c};
	return epoll_ctl(ep, EPOLL_CTL_ADD, c->fd, &ev);
}

static void conn_close(struct conn *c)
{
	if (c->ssl)
		SSL_free(c->ssl);
	if (c->fd >= 0)
		close(c->fd);
	c->ssl = NULL;
	c->fd = -1;
	c->st = C_DONE;
}

/* Chunks in c->in: "<hex>\r\n<doc>\r\n". Events are timed; returns -1 on a broken one. */
static int conn_chunks(struct conn *c)
{
	for (;;) {
		char *crlf = memmem(c->in, c->inlen, "\r\n", 2);
		if (!crlf)
			return 0;
		long size = strtol(c->in, NULL, 16);
		size_t head = (size_t)(crlf - c->in) + 2;
		if (size <= 0)
			return -1;
		if (c->inlen < head + (size_t)size + 2)
			return 0;
		char *doc = c->in + head;
		doc[size] = '\0';
		if (!c->first) {
			c->first = strstr(doc, "<channelId>") != NULL;
			if (c->first)
				atomic_fetch_add(&up_n, 1);
		} else if (strstr(doc, "SubscriptionEvent")) {
			const char *d = strstr(doc, "<xsi:deviceName>BENCH");
			int dev = d ? atoi(d + strlen("<xsi:deviceName>BENCH")) : -1;
			int64_t t0 = dev >= 0 && dev < N ? atomic_load(&t_sent[dev]) : 0;
			if (t0) {
				long i = atomic_fetch_add(&nlat, 1);
				if (i < lat_cap)
					lat[i] = bench_now_us() - t0;
			}
		}
		size_t used = head + (size_t)size + 2;
		memmove(c->in, c->in + used, c->inlen - used);
		c->inlen -= used;
	}
}

/* Drives c as far as it goes without blocking. Returns 1 once the <Channel> came, 0 to
 * wait, -1 when it failed. */
static int conn_step(struct conn *c)
{
	int r;
	switch (c->st) {
	case C_CONNECT:
	case C_HANDSHAKE:
		r = SSL_do_handshake(c->ssl);
		if (r != 1) {
			int e = SSL_get_error(c->ssl, r);
			return e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE ? 0 : -1;
		}
		c->st = C_WRITE;
		/* fall through */
	case C_WRITE:
		while (c->outoff < c->outlen) {
			r = SSL_write(c->ssl, c->out + c->outoff, (int)(c->outlen - c->outoff));
			if (r <= 0) {
				int e = SSL_get_error(c->ssl, r);
				return e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE ? 0
				                                                             : -1;
			}
			c->outoff += (size_t)r;
		}
		c->st = C_HEAD;
		/* fall through */
	case C_HEAD:
	case C_STREAM:
		for (;;) {
			if (c->inlen >= sizeof c->in - 1)
				return -1;
			r = SSL_read(c->ssl, c->in + c->inlen, (int)(sizeof c->in - 1 - c->inlen));
			if (r <= 0) {
				int e = SSL_get_error(c->ssl, r);
				return e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE
				           ? c->first
				           : -1;
			}
			c->inlen += (size_t)r;
			if (c->st == C_HEAD) {
				char *end = memmem(c->in, c->inlen, "\r\n\r\n", 4);
				if (!end)
					continue;
				if (strncmp(c->in, "HTTP/1.1 200", 12) != 0)
					return -1;
				size_t h = (size_t)(end - c->in) + 4;
				memmove(c->in, c->in + h, c->inlen - h);
				c->inlen -= h;
				c->st = C_STREAM;
			}
			if (conn_chunks(c) != 0)
				return -1;
		}
	case C_DONE:
		return -1;
	}
	return -1;
}

/* --- the phases --------------------------------------------------------------------- */

/* What the set-ups negotiated with telgated (the s_time comparison must match it). */
static char setup_params[160], setup_suite[64] = "TLS_AES_128_GCM_SHA256";

/* Set-ups one after another for secs seconds: how many completed. */
static long setups(int ep, double secs)
{
	struct conn c = {.fd = -1, .idx = N + 1};
	long done = 0;
	int64_t end = bench_now_us() + (int64_t)(secs * 1e6);
	struct epoll_event evs[4];
	while (bench_now_us() < end) {
		if (conn_start(&c, ep) != 0) {
			atomic_fetch_add(&failures, 1);
			continue;
		}
		int r;
		while ((r = conn_step(&c)) == 0)
			epoll_wait(ep, evs, 4, 1000);
		if (r > 0 && !done++) {
			EVP_PKEY *pk = SSL_get0_peer_certificate(c.ssl)
			                   ? X509_get0_pubkey(SSL_get0_peer_certificate(c.ssl))
			                   : NULL;
			if (SSL_version(c.ssl) == TLS1_3_VERSION)
				snprintf(setup_suite, sizeof setup_suite, "%s",
				         SSL_get_cipher_name(c.ssl));
			snprintf(setup_params, sizeof setup_params, "%s %s, server key %s %d bits",
			         SSL_get_version(c.ssl), SSL_get_cipher_name(c.ssl),
			         pk ? EVP_PKEY_get0_type_name(pk) : "?",
			         pk ? EVP_PKEY_get_bits(pk) : 0);
		} else if (r <= 0)
			atomic_fetch_add(&failures, 1);
		/* A bidirectional shutdown is not waited for, as s_time does not. */
		conn_close(&c);
	}
	return done;
}

static atomic_int stop_loop;

static void *event_loop(void *arg)
{
	int ep = *(int *)arg;
	struct epoll_event evs[256];
	while (!atomic_load(&stop_loop)) {
		int n = epoll_wait(ep, evs, 256, 200);
		for (int i = 0; i < n; i++) {
			struct conn *c = evs[i].data.ptr;
			if (c->st == C_DONE)
				continue;
			if (conn_step(c) < 0) {
				if (atomic_fetch_add(&failures, 1) < 3) {
					c->in[c->inlen < sizeof c->in ? c->inlen : 0] = '\0';
					fprintf(stderr, "channel %d failed in state %d: %.120s\n",
					        c->idx, (int)c->st, c->in);
					ERR_print_errors_fp(stderr);
				}
				epoll_ctl(ep, EPOLL_CTL_DEL, c->fd, NULL);
				conn_close(c);
			}
		}
	}
	return NULL;
}

/* One blocking keep-alive TLS connection for the subscriptions. */
static int subscribe_all(void)
{
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)PORT)};
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (connect(fd, (struct sockaddr *)&a, sizeof a) != 0)
		return -1;
	SSL *s = SSL_new(cctx);
	SSL_set_fd(s, fd);
	if (SSL_connect(s) != 1)
		return -1;
	char req[1024], body[512], buf[4096];
	int bad = 0;
	for (int i = 0; i < N; i++) {
		int bl = snprintf(body, sizeof body,
		                  "<Subscription xmlns=\"http://schema.broadsoft.com/xsi\"><event>"
		                  "Device State</event><expires>3600</expires><channelSetId>b%d"
		                  "</channelSetId></Subscription>",
		                  i);
		int rl = snprintf(req, sizeof req,
		                  "POST /com.broadsoft.xsi-events/v2.0/user/bench%05d HTTP/1.1\r\n"
		                  "Host: b\r\nContent-Type: application/xml\r\nContent-Length: %d"
		                  "\r\n\r\n%s",
		                  i, bl, body);
		if (SSL_write(s, req, rl) != rl)
			return -1;
		/* The answer: headers with Content-Length, then the body. */
		size_t have = 0;
		long want = -1;
		for (;;) {
			int r = SSL_read(s, buf + have, (int)(sizeof buf - 1 - have));
			if (r <= 0)
				return -1;
			have += (size_t)r;
			buf[have] = '\0';
			char *end = strstr(buf, "\r\n\r\n");
			char *cl = strcasestr(buf, "Content-Length:");
			if (end && cl)
				want = (long)(end - buf) + 4 + atol(cl + 15);
			if (want >= 0 && (long)have >= want)
				break;
		}
		bad += strncmp(buf, "HTTP/1.1 200", 12) != 0;
	}
	SSL_free(s);
	close(fd);
	return bad;
}

struct storm_arg {
	int id;
	int64_t start;
};

/* Changes at RATE/T per second each, devices in turn, for ESEC seconds. */
static void *storm(void *arg)
{
	struct storm_arg *a = arg;
	char err[256], dev[32];
	long per = (long)RATE * ESEC / T;
	double gap_us = 1e6 * T / RATE;
	for (long k = 0; k < per; k++) {
		int64_t due = a->start + (int64_t)((double)k * gap_us);
		int64_t now = bench_now_us();
		if (due > now)
			usleep((useconds_t)(due - now));
		long n = k * T + a->id;
		int d = (int)(n % N);
		int in = (int)((n / N) % 2 == 0);
		snprintf(dev, sizeof dev, "BENCH%05d", d);
		json_t *req = json_pack("{s:[s,s,s,s]}", "argv", "device", "state", dev,
		                        in ? "in-service" : "out-of-service");
		atomic_store(&t_sent[d], bench_now_us());
		json_t *resp = cli_call(SOCK, req, err, sizeof err);
		if (!resp || !json_is_true(json_object_get(resp, "ok")))
			atomic_fetch_add(&failures, 1);
		json_decref(resp);
		json_decref(req);
	}
	return NULL;
}

static void certificates(void)
{
	/* The cloud's CA and its client (EC P-256, as telgated's node key). */
	run("cd %s && openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes "
	    "-keyout ca.key -out ca.crt -days 2 -subj /CN=BenchCloudCA -addext "
	    "basicConstraints=critical,CA:TRUE -addext keyUsage=critical,keyCertSign 2>/dev/null",
	    DIR_);
	run("cd %s && printf 'basicConstraints=CA:FALSE\\nextendedKeyUsage=clientAuth,serverAuth\\n"
	    "subjectAltName=IP:127.0.0.1\\n' > leaf.ext && for n in client server; do openssl req "
	    "-newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout $n.key -out $n.csr -subj "
	    "/CN=bench.cloud.example 2>/dev/null && openssl x509 -req -in $n.csr -CA ca.crt -CAkey "
	    "ca.key -CAcreateserial -out $n.crt -days 2 -extfile leaf.ext 2>/dev/null; done",
	    DIR_);
}

int main(int argc, char **argv)
{
	if (argc < 2) {
		fprintf(stderr,
		        "usage: %s BUILD_DIR [channels] [rate] [event_seconds] [setup_seconds] "
		        "[threads]\n",
		        argv[0]);
		return 64;
	}
	snprintf(BUILD, sizeof BUILD, "%s", argv[1]);
	if (argc > 2)
		N = atoi(argv[2]);
	if (argc > 3)
		RATE = atoi(argv[3]);
	if (argc > 4)
		ESEC = atoi(argv[4]);
	if (argc > 5)
		SSEC = atoi(argv[5]);
	if (argc > 6)
		T = atoi(argv[6]);
	signal(SIGPIPE, SIG_IGN);
	struct rlimit nf;
	getrlimit(RLIMIT_NOFILE, &nf);
	nf.rlim_cur = nf.rlim_max;
	setrlimit(RLIMIT_NOFILE, &nf);
	if ((long)nf.rlim_cur < N + 200) {
		fprintf(stderr, "need %d descriptors, the limit is %ld\n", N + 200,
		        (long)nf.rlim_cur);
		return 1;
	}
	char tmp[] = "/tmp/tgcloudctiXXXXXX";
	if (!mkdtemp(tmp))
		return 1;
	snprintf(DIR_, sizeof DIR_, "%s", tmp);
	snprintf(STATE, sizeof STATE, "%s/state", tmp);
	snprintf(SOCK, sizeof SOCK, "%s/telgated.sock", STATE);
	PORT = 20000 + (int)(getpid() % 20000);
	certificates();
	char conf[512], prov[512], path[600];
	snprintf(conf, sizeof conf, "%s/telgated.conf", tmp);
	snprintf(prov, sizeof prov, "%s/prov.json", tmp);
	FILE *f = fopen(conf, "w");
	fprintf(f,
	        "[core]\nstate_dir = %s\n[log]\nlevel = warning\ntarget = file:%s/telgated.log\n"
	        "[password]\nargon2_t = 1\nargon2_m_kib = 64\n"
	        "[cti]\naddress = 127.0.0.1\nport = 0\ntls_port = 0\n"
	        /* Only the interface listens: other daemons on a shared machine hold the
	         * default ports. */
	        "[sip]\nmax_connections = 100\nport = 0\ntls_port = 0\nedge_port = 0\n"
	        "[files]\nhttp_port = 0\nhttps_port = 0\ntftp_port = 0\n[admin]\nhttp_port = 0\n"
	        "[est]\nport = 0\n"
	        "[cti_interface]\nredeliver_s = 3600\nclient_timeout_s = 0\nchannels_max = %d\n"
	        "subscriptions_max = %d\n",
	        STATE, tmp, 3 * N + 10000, N + 100);
	fclose(f);
	f = fopen(prov, "w");
	fprintf(f, "{\"version\":1,\"users\":[");
	for (int i = 0; i < N; i++)
		fprintf(f, "%s{\"userid\":\"bench%05d\",\"directory\":\"local\"}", i ? "," : "", i);
	fprintf(f, "],\"devices\":[");
	for (int i = 0; i < N; i++)
		fprintf(f,
		        "%s{\"name\":\"BENCH%05d\",\"model\":\"bench\",\"protocol\":\"SIP\","
		        "\"owner\":\"bench%05d\"}",
		        i ? "," : "", i, i);
	fprintf(f, "]}\n");
	fclose(f);
	pid_t pid = fork();
	if (pid == 0) {
		snprintf(path, sizeof path, "%s/telgated", BUILD);
		execl(path, path, "-c", conf, "--provision", prov, (char *)NULL);
		_exit(127);
	}
	/* Provisioning N users and devices takes a while on a busy machine. */
	for (int i = 0; i < 6000 && access(SOCK, F_OK) != 0 && waitpid(pid, NULL, WNOHANG) == 0;
	     i++)
		usleep(100000);
	usleep(500000);
	if (access(SOCK, F_OK) != 0) {
		fprintf(stderr, "telgated did not come up; its log: %s/telgated.log\n", tmp);
		return 1;
	}
#define CLI "%s/telgate -c %s %s >/dev/null"
	char words[512];
	snprintf(words, sizeof words, "cti-interface add %d true true true 127.0.0.1", PORT);
	int bad = run(CLI, BUILD, conf, words);
	snprintf(words, sizeof words, "trust update kind=cti-interface benchca %s/ca.crt", tmp);
	bad |= run(CLI, BUILD, conf, words);
	bad |= run(CLI, BUILD, conf, "identity add kind=cti-interface bench.cloud.example");
	bad |= run(CLI, BUILD, conf, "tls set kind=cti-interface allowClientApp true");
	bad |= run(CLI, BUILD, conf, "cti-interface scope add bench.cloud.example all");
	pid_t eng = engine_of(pid);
	long rss0 = proc_rss_kib(eng);

	cctx = SSL_CTX_new(TLS_client_method());
	SSL_CTX_set_min_proto_version(cctx, TLS1_2_VERSION);
	snprintf(path, sizeof path, "%s/pki/ca.crt", STATE);
	SSL_CTX_load_verify_locations(cctx, path, NULL);
	SSL_CTX_set_verify(cctx, SSL_VERIFY_PEER, NULL);
	snprintf(path, sizeof path, "%s/client.crt", tmp);
	SSL_CTX_use_certificate_file(cctx, path, SSL_FILETYPE_PEM);
	snprintf(path, sizeof path, "%s/client.key", tmp);
	SSL_CTX_use_PrivateKey_file(cctx, path, SSL_FILETYPE_PEM);
	SSL_CTX_set_session_cache_mode(cctx, SSL_SESS_CACHE_OFF);
	int ep = epoll_create1(EPOLL_CLOEXEC);
	printf("cloud_cti: %d channels, %d events/s for %d s, set-ups for %d s; client and server "
	       "share this machine's %ld cores%s\n",
	       N, RATE, ESEC, SSEC, sysconf(_SC_NPROCESSORS_ONLN), bad ? "  SET-UP FAILED" : "");

	/* 1. N channels, one subscription each. */
	t_sent = calloc((size_t)N, sizeof *t_sent);
	lat_cap = (long)RATE * ESEC + N;
	lat = calloc((size_t)lat_cap, sizeof *lat);
	conns = calloc((size_t)N, sizeof *conns);
	pthread_t lt;
	pthread_create(&lt, NULL, event_loop, &ep);
	int64_t t0 = bench_now_us();
	long before = atomic_load(&failures);
	for (int i = 0; i < N; i++) {
		/* At most 100 set-ups in flight: a burst of 10,000 handshakes would only
		 * measure the accept queue and the first-message timeout. */
		while (i - atomic_load(&up_n) - (atomic_load(&failures) - before) >= 100)
			usleep(1000);
		conns[i].idx = i;
		conns[i].fd = -1;
		if (conn_start(&conns[i], ep) != 0)
			atomic_fetch_add(&failures, 1);
	}
	int up = 0;
	for (int w = 0; w < 1200; w++) {
		up = 0;
		for (int i = 0; i < N; i++)
			up += conns[i].first;
		if (up + atomic_load(&failures) - before >= N)
			break;
		usleep(100000);
	}
	double open_s = (double)(bench_now_us() - t0) / 1e6;
	int subs_bad = subscribe_all();
	usleep(500000);
	long rss1 = proc_rss_kib(eng);
	printf("  %d of %d channels open in %.1f s, %d subscriptions refused (%ld failures)\n", up,
	       N, open_s, subs_bad, atomic_load(&failures) - before);
	printf("  telgated RSS: %.1f MiB before, %.1f MiB with every channel and subscription "
	       "(goal < 1024)\n",
	       rss0 / 1024.0, rss1 / 1024.0);

	/* 2. the event storm. */
	pthread_t st[64];
	struct storm_arg sa[64];
	double c0 = proc_cpu_s(eng), me0 = self_cpu_s();
	struct cpu_parts p0 = proc_cpu_parts(eng);
	clockid_t lclk;
	struct timespec lt0 = {0, 0}, lt1 = {0, 0};
	int lok = pthread_getcpuclockid(lt, &lclk) == 0 && clock_gettime(lclk, &lt0) == 0;
	int64_t start = bench_now_us();
	for (int i = 0; i < T; i++) {
		sa[i] = (struct storm_arg){i, start};
		pthread_create(&st[i], NULL, storm, &sa[i]);
	}
	for (int i = 0; i < T; i++)
		pthread_join(st[i], NULL);
	double storm_s = (double)(bench_now_us() - start) / 1e6;
	usleep(1000000);
	double ev_cpu = proc_cpu_s(eng) - c0, me_cpu = self_cpu_s() - me0;
	struct cpu_parts p1 = proc_cpu_parts(eng);
	if (lok)
		clock_gettime(lclk, &lt1);
	double recv_cpu =
	    (double)(lt1.tv_sec - lt0.tv_sec) + (double)(lt1.tv_nsec - lt0.tv_nsec) / 1e9;
	long sent = (long)RATE * ESEC / T * T, got = atomic_load(&nlat);
	if (got > lat_cap)
		got = lat_cap;
	printf("  events: %ld changes sent in %.1f s (%.0f/s asked %d), %ld events received\n",
	       sent, storm_s, sent / storm_s, RATE, got);
	printf("  change -> event latency: p50 %.2f ms  p99 %.2f ms  max %.2f ms (goal p99 < 20); "
	       "telgated %.0f us CPU per event (the control-socket request included)\n",
	       bench_pct(lat, (size_t)got, 50) / 1000.0, bench_pct(lat, (size_t)got, 99) / 1000.0,
	       bench_pct(lat, (size_t)got, 100) / 1000.0, got ? ev_cpu * 1e6 / (double)got : 0);
	if (got) {
		double per = 1e6 / (double)got;
		printf("  telgated CPU per event by thread: loops %.0f us (TLS, the channels' "
		       "writes), workers %.0f us (the control request: store, fan-out), main %.0f "
		       "us (the control socket, the tick)\n",
		       (p1.loops - p0.loops) * per, (p1.workers - p0.workers) * per,
		       (p1.other - p0.other) * per);
		printf("  client CPU: %.0f%% of a core in all (storm threads included), the "
		       "receiving epoll thread %.0f%% (%.0f us per event)\n",
		       100 * me_cpu / (storm_s + 1), 100 * recv_cpu / (storm_s + 1),
		       recv_cpu * per);
	}
	printf("  telgated RSS after the events: %.1f MiB\n", proc_rss_kib(eng) / 1024.0);
	fflush(stdout);
	/* The server's side of the latency: queued -> written on the channel's loop, and the
	 * longest once-a-second tick (it holds the hub's lock). */
	run("%s/telgate -c %s cti-interface status | grep -E 'write_delay|tick_' | "
	    "tr -s ' ' | sed 's/^/  server: /'",
	    BUILD, conf);
	/* 3. set-ups against telgated, then s_time against s_server. */
	/* Its own epoll set: the event loop thread keeps serving the N channels. */
	int ep1 = epoll_create1(EPOLL_CLOEXEC);
	c0 = proc_cpu_s(eng);
	t0 = bench_now_us();
	long ours = setups(ep1, SSEC);
	double ours_s = (double)(bench_now_us() - t0) / 1e6, ours_cpu = proc_cpu_s(eng) - c0;
	/* A port nobody holds now (PORT + 1 may be one of the N client connections' own). */
	int sport = PORT + 1, probe = socket(AF_INET, SOCK_STREAM, 0);
	struct sockaddr_in pa = {.sin_family = AF_INET};
	socklen_t pl = sizeof pa;
	pa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (bind(probe, (struct sockaddr *)&pa, sizeof pa) == 0 &&
	    getsockname(probe, (struct sockaddr *)&pa, &pl) == 0)
		sport = ntohs(pa.sin_port);
	close(probe);
	pid_t sp = fork();
	if (sp == 0) {
		char a[64];
		snprintf(a, sizeof a, "%d", sport);
		if (chdir(tmp) != 0)
			_exit(127);
		int null = open("/dev/null", O_RDWR);
		dup2(null, 0);
		dup2(null, 1);
		dup2(null, 2);
		snprintf(path, sizeof path, "%s/pki/ca.crt", STATE);
		execlp("openssl", "openssl", "s_server", "-quiet", "-accept", a, "-cert",
		       "server.crt", "-key", "server.key", "-Verify", "1", "-CAfile", "ca.crt",
		       "-no_ticket", "-ciphersuites", setup_suite, (char *)NULL);
		_exit(127);
	}
	usleep(2000000); /* s_server is up (a busy machine is slow to start it) */
	double s0 = proc_cpu_s(sp);
	char out[600];
	snprintf(out, sizeof out, "%s/s_time.txt", tmp);
	/* -verify: s_time checks the server's certificate, as the set-ups above do. */
	run("cd %s && openssl s_time -connect 127.0.0.1:%d -new -time %d -cert client.crt -key "
	    "client.key -CAfile ca.crt -verify 1 > %s 2>&1",
	    tmp, sport, SSEC, out);
	double peer_cpu = proc_cpu_s(sp) - s0;
	kill(sp, SIGTERM);
	waitpid(sp, NULL, 0);
	long peer = 0;
	double peer_s = SSEC;
	f = fopen(out, "r");
	char line[512];
	while (f && fgets(line, sizeof line, f))
		if (strstr(line, "connections in") && strstr(line, "real seconds"))
			sscanf(line, "%ld connections in %lf", &peer, &peer_s);
	if (f)
		fclose(f);
	if (!peer)
		run("tail -3 %s", out); /* why s_time measured nothing */
	printf("  set-ups: telgated %ld channels in %.1f s = %.0f/s, %.0f us CPU each; "
	       "openssl s_server %ld handshakes in %.1f s = %.0f/s, %.0f us CPU each\n",
	       ours, ours_s, ours / ours_s, ours ? ours_cpu * 1e6 / (double)ours : 0, peer, peer_s,
	       peer_s > 0 ? peer / peer_s : 0, peer ? peer_cpu * 1e6 / (double)peer : 0);
	printf("  telgated set-ups negotiated %s; s_server: EC P-256 key, TLS 1.3 with %s; no "
	       "session reuse on either, both clients verify the server\n",
	       setup_params, setup_suite);
	if (peer && ours)
		printf("  ratio telgated/s_server: %.2fx per second, %.2fx per CPU-second (goal >= "
		       "0.9)\n",
		       (ours / ours_s) / (peer / peer_s),
		       peer_cpu > 0 && ours_cpu > 0
		           ? ((double)ours / ours_cpu) / ((double)peer / peer_cpu)
		           : 0);

	atomic_store(&stop_loop, 1);
	pthread_join(lt, NULL);
	kill(pid, SIGTERM);
	waitpid(pid, NULL, 0);
	run("rm -rf %s", tmp);
	return bad ? 1 : 0;
}
