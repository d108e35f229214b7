/* SPDX-License-Identifier: ISC */
/*
 * bench/cti_fanout: how telgated's CTI server holds many TLS sessions and fans device
 * events out. Starts telgated (a child process: the monitor, whose engine child holds the
 * sessions, so the RSS printed is the engine's), opens N TLS
 * sessions from one libevent client thread, M monitors per session spread over D devices,
 * then changes the state of every device (a storm of D changes, sent by T threads through
 * the control socket, each stamped when sent) and measures, for every event received, the
 * time from the change to the event. Prints RSS and p50/p99/max latency.
 *
 * usage: cti_fanout BUILD_DIR SRCDIR [sessions=10000] [monitors_per_session=5]
 *                   [devices=5000] [threads=4]
 */
#include "bench_util.h"
#include "cli.h"
#include "core/loop.h"
#include "cti/proto.h"

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/bufferevent_ssl.h>
#include <event2/event.h>
#include <netinet/in.h>
#include <openssl/ssl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <sys/resource.h>

static int N = 10000, M = 5, D = 5000, T = 4;
static int PORT;
static char STATE[256], SOCK[300];
static _Atomic int64_t *t_sent; /* per device: when its change was sent (us), 0 = not yet */
static int64_t *lat;
static atomic_long nlat, sessions_up, monitors_up, failures;
static SSL_CTX *cctx;
static struct event_base *cbase;

struct cconn {
	struct bufferevent *bev;
	int idx, opened;
};

static void send_frame(struct bufferevent *bev, int invoke, const char *body)
{
	uint8_t hdr[CTI_HDR_LEN];
	size_t n = strlen(body);
	cti_frame_header(invoke, n, hdr);
	bufferevent_write(bev, hdr, sizeof hdr);
	bufferevent_write(bev, body, n);
}

static void on_frame(struct cconn *c, int invoke, const char *body)
{
	char xml[1024];
	if (invoke == CTI_EVENT_INVOKE) {
		const char *d = strstr(body, "<deviceIdentifier>BENCH");
		if (!d || !strstr(body, "BackInServiceEvent"))
			return;
		int dev = atoi(d + strlen("<deviceIdentifier>BENCH"));
		int64_t t0 = dev >= 0 && dev < D ? atomic_load(&t_sent[dev]) : 0;
		if (t0) {
			long i = atomic_fetch_add(&nlat, 1);
			if (i < (long)N * M)
				lat[i] = bench_now_us() - t0;
		}
		return;
	}
	if (strstr(body, "StartApplicationSessionPosResponse")) {
		atomic_fetch_add(&sessions_up, 1);
		for (int k = 0; k < M; k++) {
			snprintf(xml, sizeof xml,
			         "<MonitorStart xmlns=\"" CTI_NS_CSTA
			         "\"><monitorObject><deviceObject>"
			         "BENCH%05d</deviceObject></monitorObject></MonitorStart>",
			         (c->idx * M + k) % D);
			send_frame(c->bev, 100 + k, xml);
		}
	} else if (strstr(body, "MonitorStartResponse")) {
		atomic_fetch_add(&monitors_up, 1);
	} else {
		atomic_fetch_add(&failures, 1);
	}
}

static void c_read(struct bufferevent *bev, void *arg)
{
	struct cconn *c = arg;
	struct evbuffer *in = bufferevent_get_input(bev);
	for (;;) {
		size_t avail = evbuffer_get_length(in);
		if (avail < CTI_HDR_LEN)
			return;
		const uint8_t *h = evbuffer_pullup(in, CTI_HDR_LEN);
		size_t n = (size_t)h[2] << 8 | h[3];
		if (avail < n)
			return;
		int invoke = atoi((char[]){(char)h[4], (char)h[5], (char)h[6], (char)h[7], 0});
		char *body = malloc(n - CTI_HDR_LEN + 1);
		evbuffer_drain(in, CTI_HDR_LEN);
		evbuffer_remove(in, body, n - CTI_HDR_LEN);
		body[n - CTI_HDR_LEN] = '\0';
		on_frame(c, invoke, body);
		free(body);
	}
}

static atomic_int in_handshake;

static void c_event(struct bufferevent *bev, short what, void *arg)
{
	struct cconn *c = arg;
	if (what & BEV_EVENT_CONNECTED) {
		atomic_fetch_sub(&in_handshake, 1);
		send_frame(
		    bev, 1,
		    "<StartApplicationSession xmlns=\"" CTI_NS_ACSE "\"><applicationInfo>"
		    "<applicationID>bench</applicationID><applicationSpecificInfo><tg:login "
		    "xmlns:tg=\"" CTI_NS_TG "\"><tg:userID>bench</tg:userID><tg:password>"
		    "Bench-Pass-1</tg:password></tg:login></applicationSpecificInfo>"
		    "</applicationInfo><requestedSessionDuration>3600</requestedSessionDuration>"
		    "</StartApplicationSession>");
		return;
	}
	if (!c->opened)
		atomic_fetch_sub(&in_handshake, 1);
	atomic_fetch_add(&failures, 1);
	bufferevent_free(bev);
	c->bev = NULL;
}

static struct cconn *conns;
static int next_conn;

/* Opens connections while fewer than 200 handshakes are in flight. */
static void opener(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	struct event *self = arg;
	while (next_conn < N && atomic_load(&in_handshake) < 200) {
		struct cconn *c = &conns[next_conn];
		c->idx = next_conn++;
		SSL *ssl = SSL_new(cctx);
		c->bev = bufferevent_openssl_socket_new(cbase, -1, ssl, BUFFEREVENT_SSL_CONNECTING,
		                                        BEV_OPT_CLOSE_ON_FREE);
		bufferevent_openssl_set_allow_dirty_shutdown(c->bev, 1);
		bufferevent_setcb(c->bev, c_read, NULL, c_event, c);
		bufferevent_enable(c->bev, EV_READ | EV_WRITE);
		struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)PORT)};
		sa.sin_addr.s_addr = htonl(0x7f000001);
		atomic_fetch_add(&in_handshake, 1);
		if (bufferevent_socket_connect(c->bev, (struct sockaddr *)&sa, sizeof sa) != 0) {
			atomic_fetch_sub(&in_handshake, 1);
			atomic_fetch_add(&failures, 1);
		}
	}
	if (next_conn < N) {
		struct timeval tv = {0, 2000};
		evtimer_add(self, &tv);
	}
}

static void *client_thread(void *arg)
{
	(void)arg;
	event_base_dispatch(cbase);
	return NULL;
}

struct storm_arg {
	int from, to;
};

static void *storm_thread(void *arg)
{
	struct storm_arg *a = arg;
	char err[256], dev[32];
	for (int d = a->from; d < a->to; d++) {
		snprintf(dev, sizeof dev, "BENCH%05d", d);
		json_t *req =
		    json_pack("{s:[s,s,s,s]}", "argv", "device", "state", dev, "in-service");
		atomic_store(&t_sent[d], bench_now_us());
		json_t *resp = cli_call(SOCK, req, err, sizeof err);
		if (!resp || !json_is_true(json_object_get(resp, "ok")))
			atomic_fetch_add(&failures, 1);
		json_decref(resp);
		json_decref(req);
	}
	return NULL;
}

static long rss_kib(pid_t pid)
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

/* The engine: the monitor's child that serves and holds the sessions (issue 17); the
 * monitor (the pid we forked) only waits. The kernel lists children in fork order and the
 * monitor forks the engine before anything else it keeps: the first child not named
 * telgated-signer (as tests/system/test_daemon.py's engine_pid). -1 while not there. */
static pid_t engine_pid(pid_t monitor)
{
	char path[96], comm[64];
	snprintf(path, sizeof path, "/proc/%d/task/%d/children", (int)monitor, (int)monitor);
	FILE *f = fopen(path, "r");
	if (!f)
		return -1;
	pid_t found = -1;
	int k;
	while (found < 0 && fscanf(f, "%d", &k) == 1) {
		snprintf(path, sizeof path, "/proc/%d/comm", k);
		FILE *c = fopen(path, "r");
		if (!c)
			continue;
		if (fgets(comm, sizeof comm, c) && strncmp(comm, "telgated-signer", 15) != 0)
			found = (pid_t)k;
		fclose(c);
	}
	fclose(f);
	return found;
}

static int wait_for(atomic_long *v, long want, int seconds)
{
	for (int i = 0; i < seconds * 10; i++) {
		if (atomic_load(v) >= want)
			return 0;
		usleep(100000);
	}
	return -1;
}

int main(int argc, char **argv)
{
	if (argc < 3) {
		fprintf(stderr,
		        "usage: %s BUILD_DIR SRCDIR [sessions] [monitors] [devices] [threads]\n",
		        argv[0]);
		return 64;
	}
	if (argc > 3)
		N = atoi(argv[3]);
	if (argc > 4)
		M = atoi(argv[4]);
	if (argc > 5)
		D = atoi(argv[5]);
	if (argc > 6)
		T = atoi(argv[6]);
	/* A peer that closes (a refused session) must be counted as a failure, not end the
	 * benchmark silently with SIGPIPE. */
	signal(SIGPIPE, SIG_IGN);
	struct rlimit nf;
	getrlimit(RLIMIT_NOFILE, &nf);
	nf.rlim_cur = nf.rlim_max;
	setrlimit(RLIMIT_NOFILE, &nf);
	if ((long)nf.rlim_cur < N + 100) {
		fprintf(stderr, "need %d descriptors, the limit is %ld\n", N + 100,
		        (long)nf.rlim_cur);
		return 1;
	}
	char tmp[] = "/tmp/tgfanoutXXXXXX";
	if (!mkdtemp(tmp))
		return 1;
	snprintf(STATE, sizeof STATE, "%s/state", tmp);
	snprintf(SOCK, sizeof SOCK, "%s/telgated.sock", STATE);
	PORT = 20000 + (int)(getpid() % 20000);
	char conf[512], prov[512], path[600];
	snprintf(conf, sizeof conf, "%s/telgated.conf", tmp);
	snprintf(prov, sizeof prov, "%s/prov.json", tmp);
	FILE *f = fopen(conf, "w");
	fprintf(f,
	        "[core]\nstate_dir = %s\n[log]\nlevel = warning\ntarget = file:%s/telgated.log\n"
	        "[password]\nargon2_t = 1\nargon2_m_kib = 1024\n[dir]\nfailure_delay_ms = 0\n"
	        "[cti]\naddress = 127.0.0.1\nport = 0\ntls_port = %d\nmax_connections = %d\n"
	        "max_session_duration = 3600\n"
	        /* SIP's default cap (20000) would take most of the descriptor budget: the
	         * daemon shares it in proportion (fd_budget) and CTI would refuse sessions. */
	        "[sip]\nmax_connections = 100\n",
	        STATE, tmp, PORT, N + 100);
	fclose(f);
	f = fopen(prov, "w");
	fprintf(f, "{\"version\":1,\"users\":[{\"userid\":\"bench\",\"directory\":\"local\","
	           "\"password\":\"Bench-Pass-1\",\"groups\":[\"Standard CTI Enabled\","
	           "\"Standard CTI Allow Control of All Devices\"]}],\"devices\":[");
	for (int d = 0; d < D; d++)
		fprintf(f, "%s{\"name\":\"BENCH%05d\",\"model\":\"bench\",\"protocol\":\"SIP\"}",
		        d ? "," : "", d);
	fprintf(f, "]}\n");
	fclose(f);
	pid_t pid = fork();
	if (pid == 0) {
		snprintf(path, sizeof path, "%s/telgated", argv[1]);
		execl(path, path, "-c", conf, "--provision", prov, (char *)NULL);
		_exit(127);
	}
	for (int i = 0; i < 200 && access(SOCK, F_OK) != 0; i++)
		usleep(100000);
	usleep(300000);
	pid_t engine = engine_pid(pid);
	if (engine < 0) {
		fprintf(stderr, "telgated (pid %d) has no engine process\n", (int)pid);
		kill(pid, SIGTERM);
		waitpid(pid, NULL, 0);
		return 1;
	}
	long rss0 = rss_kib(engine);

	t_sent = calloc((size_t)D, sizeof *t_sent);
	lat = calloc((size_t)N * M, sizeof *lat);
	conns = calloc((size_t)N, sizeof *conns);
	cctx = SSL_CTX_new(TLS_client_method());
	SSL_CTX_set_min_proto_version(cctx, TLS1_2_VERSION);
	snprintf(path, sizeof path, "%s/pki/ca.crt", STATE);
	SSL_CTX_load_verify_locations(cctx, path, NULL);
	SSL_CTX_set_verify(cctx, SSL_VERIFY_PEER, NULL);
	cbase = event_base_new();
	struct event *op = evtimer_new(cbase, opener, event_self_cbarg());
	struct timeval zero = {0, 0};
	evtimer_add(op, &zero);
	pthread_t ct;
	int64_t t0 = bench_now_us();
	pthread_create(&ct, NULL, client_thread, NULL);
	int ok = wait_for(&monitors_up, (long)N * M, 600) == 0;
	double setup_s = (double)(bench_now_us() - t0) / 1e6;
	usleep(500000);
	long rss1 = rss_kib(engine);
	printf("cti_fanout: %d TLS sessions, %d monitors (%d devices), storm of %d changes from %d "
	       "threads; client and server share this machine's %d cores\n",
	       N, N * M, D, D, T, loop_ncores());
	printf("  set-up: %ld sessions, %ld monitors in %.1f s (%ld failures)%s\n",
	       atomic_load(&sessions_up), atomic_load(&monitors_up), setup_s,
	       atomic_load(&failures), ok ? "" : "  INCOMPLETE");
	printf("  telgated engine (pid %d) RSS: %.1f MiB idle, %.1f MiB with every session and "
	       "monitor (goal < 1024)\n",
	       (int)engine, rss0 / 1024.0, rss1 / 1024.0);
	pthread_t st[64];
	struct storm_arg sa[64];
	int64_t s0 = bench_now_us();
	for (int i = 0; i < T; i++) {
		sa[i].from = D * i / T;
		sa[i].to = D * (i + 1) / T;
		pthread_create(&st[i], NULL, storm_thread, &sa[i]);
	}
	for (int i = 0; i < T; i++)
		pthread_join(st[i], NULL);
	double storm_s = (double)(bench_now_us() - s0) / 1e6;
	long want = (long)N * M;
	wait_for(&nlat, want, 60);
	long n = atomic_load(&nlat);
	if (n > want)
		n = want;
	printf("  storm: %d changes in %.2f s (%.0f/s); %ld of %ld events received\n", D, storm_s,
	       D / storm_s, n, want);
	printf("  change -> event latency: p50 %.2f ms  p99 %.2f ms  max %.2f ms (goal p99 < 20)\n",
	       bench_pct(lat, (size_t)n, 50) / 1000.0, bench_pct(lat, (size_t)n, 99) / 1000.0,
	       bench_pct(lat, (size_t)n, 100) / 1000.0);
	printf("  telgated engine (pid %d) RSS after the storm: %.1f MiB\n", (int)engine,
	       rss_kib(engine) / 1024.0);
	kill(pid, SIGTERM);
	waitpid(pid, NULL, 0);
	event_base_loopbreak(cbase);
	pthread_join(ct, NULL);
	snprintf(path, sizeof path, "rm -rf '%s'", tmp);
	return system(path) != 0;
}
