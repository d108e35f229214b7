/* SPDX-License-Identifier: ISC */
/*
 * bench/cti_probe: the CTI side of bench/run.sh est_enrol part 3 — how late a device-state
 * event reaches a monitoring CTI session while other work loads telgated. One TLS session
 * logs in, monitors one device, then the device's state is changed RATE times a second
 * through the control socket (`telgate device state`, as bench/cti_fanout does), each
 * change stamped when sent; the matching BackInService/OutOfService event is stamped when
 * read (the k-th event answers the k-th change: states alternate, so each change makes
 * one event, and a late event is counted late rather than matched to a later change). Writes
 * "epoch_ms latency_us" per event to OUTFILE (so a script can take the samples of a time window)
 * and prints p50/p99/max. bench_cti_probe PORT CAFILE CONTROL_SOCKET DEVICE USER PASSWORD SECONDS
 * RATE OUTFILE
 */
#include "bench_util.h"
#include "cli.h"
#include "cti/proto.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/ssl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <sys/socket.h>

static SSL *ssl;
static _Atomic int64_t *t_sent; /* per change: when it was sent (us), 0 = not yet */
static int64_t *lat, *when_ms;
static atomic_long nlat;
static long cap;
static atomic_int stop;

static int send_frame(int invoke, const char *body)
{
	uint8_t hdr[CTI_HDR_LEN];
	size_t n = strlen(body);
	cti_frame_header(invoke, n, hdr);
	return SSL_write(ssl, hdr, sizeof hdr) == (int)sizeof hdr &&
	               SSL_write(ssl, body, (int)n) == (int)n
	           ? 0
	           : -1;
}

static int read_full(void *buf, size_t n)
{
	size_t got = 0;
	while (got < n) {
		int r = SSL_read(ssl, (char *)buf + got, (int)(n - got));
		if (r <= 0)
			return -1;
		got += (size_t)r;
	}
	return 0;
}

/* One frame's body (malloc'ed), NULL when the session ended. */
static char *read_frame(int *invoke)
{
	uint8_t h[CTI_HDR_LEN];
	if (read_full(h, sizeof h) != 0)
		return NULL;
	size_t n = (size_t)h[2] << 8 | h[3];
	if (n < CTI_HDR_LEN)
		return NULL;
	*invoke = atoi((char[]){(char)h[4], (char)h[5], (char)h[6], (char)h[7], 0});
	char *body = malloc(n - CTI_HDR_LEN + 1);
	if (!body || read_full(body, n - CTI_HDR_LEN) != 0) {
		free(body);
		return NULL;
	}
	body[n - CTI_HDR_LEN] = '\0';
	return body;
}

static int64_t epoch_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void *reader(void *arg)
{
	(void)arg;
	int invoke;
	char *body;
	while (!atomic_load(&stop) && (body = read_frame(&invoke))) {
		if (invoke == CTI_EVENT_INVOKE &&
		    (strstr(body, "BackInServiceEvent") || strstr(body, "OutOfServiceEvent"))) {
			long i = atomic_load(&nlat);
			int64_t t0 = i < cap ? atomic_load(&t_sent[i]) : 0;
			if (t0) { /* else an event no change of ours made */
				lat[i] = bench_now_us() - t0;
				when_ms[i] = epoch_ms();
				atomic_store(&nlat, i + 1);
			}
		}
		free(body);
	}
	return NULL;
}

static int expect(const char *what)
{
	int invoke;
	char *body = read_frame(&invoke);
	int ok = body && strstr(body, what);
	if (!ok)
		fprintf(stderr, "cti_probe: wanted %s, got %s\n", what, body ? body : "(closed)");
	free(body);
	return ok ? 0 : -1;
}

int main(int argc, char **argv)
{
	if (argc < 10) {
		fprintf(stderr, "usage: bench_cti_probe PORT CAFILE CONTROL_SOCKET DEVICE USER "
		                "PASSWORD SECONDS RATE OUTFILE\n");
		return 64;
	}
	int port = atoi(argv[1]), seconds = atoi(argv[7]), rate = atoi(argv[8]);
	const char *sock = argv[3], *dev = argv[4];
	if (seconds < 1 || rate < 1 || rate > 1000)
		return 64;
	cap = (long)seconds * rate + 16;
	lat = calloc((size_t)cap, sizeof *lat);
	t_sent = calloc((size_t)cap, sizeof *t_sent);
	when_ms = calloc((size_t)cap, sizeof *when_ms);
	SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());
	SSL_CTX_load_verify_locations(ctx, argv[2], NULL);
	SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, NULL);
	struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
	sa.sin_addr.s_addr = htonl(0x7f000001);
	int fd = socket(AF_INET, SOCK_STREAM, 0), one = 1;
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
	if (connect(fd, (struct sockaddr *)&sa, sizeof sa) != 0) {
		perror("cti_probe: connect");
		return 1;
	}
	ssl = SSL_new(ctx);
	SSL_set_fd(ssl, fd);
	if (SSL_connect(ssl) != 1) {
		fprintf(stderr, "cti_probe: TLS handshake failed\n");
		return 1;
	}
	char xml[2048];
	snprintf(xml, sizeof xml,
	         "<StartApplicationSession xmlns=\"" CTI_NS_ACSE "\"><applicationInfo>"
	         "<applicationID>probe</applicationID><applicationSpecificInfo><tg:login "
	         "xmlns:tg=\"" CTI_NS_TG "\"><tg:userID>%s</tg:userID><tg:password>%s"
	         "</tg:password></tg:login></applicationSpecificInfo></applicationInfo>"
	         "<requestedSessionDuration>3600</requestedSessionDuration>"
	         "</StartApplicationSession>",
	         argv[5], argv[6]);
	if (send_frame(1, xml) != 0 || expect("StartApplicationSessionPosResponse") != 0)
		return 1;
	snprintf(xml, sizeof xml,
	         "<MonitorStart xmlns=\"" CTI_NS_CSTA "\"><monitorObject><deviceObject>%s"
	         "</deviceObject></monitorObject></MonitorStart>",
	         dev);
	if (send_frame(2, xml) != 0 || expect("MonitorStartResponse") != 0)
		return 1;
	pthread_t rt;
	pthread_create(&rt, NULL, reader, NULL);
	char err[256];
	long changes = 0, refused = 0;
	int64_t start = bench_now_us(), period = 1000000 / rate;
	for (long i = 0; i < (long)seconds * rate; i++) {
		int64_t due = start + i * period, now = bench_now_us();
		if (due > now)
			usleep((useconds_t)(due - now));
		json_t *req = json_pack("{s:[s,s,s,s]}", "argv", "device", "state", dev,
		                        i % 2 ? "out-of-service" : "in-service");
		atomic_store(&t_sent[i], bench_now_us());
		json_t *resp = cli_call(sock, req, err, sizeof err);
		changes++;
		if (!resp || !json_is_true(json_object_get(resp, "ok")))
			refused++;
		json_decref(resp);
		json_decref(req);
	}
	for (int w = 0; w < 50 && atomic_load(&nlat) < changes; w++)
		usleep(100000); /* the last events, up to 5 s late */
	atomic_store(&stop, 1);
	SSL_shutdown(ssl);
	shutdown(fd, SHUT_RDWR);
	pthread_join(rt, NULL);
	long n = atomic_load(&nlat);
	if (n > cap)
		n = cap;
	FILE *out = fopen(argv[9], "w");
	for (long i = 0; out && i < n; i++)
		fprintf(out, "%lld %lld\n", (long long)when_ms[i], (long long)lat[i]);
	if (out)
		fclose(out);
	printf("  cti_probe: %ld changes (%ld refused), %ld events; change -> event p50 %.2f ms "
	       "p99 %.2f ms max %.2f ms\n",
	       changes, refused, n, bench_pct(lat, (size_t)n, 50) / 1000.0,
	       bench_pct(lat, (size_t)n, 99) / 1000.0, bench_pct(lat, (size_t)n, 100) / 1000.0);
	return n > 0 ? 0 : 1;
}
