/* SPDX-License-Identifier: ISC */
/* The registrar's transport on loopback: what it counts (sip_registrar_stats) — requests
 * by method, responses by class, the 400 for a broken stream framing, throttled sources —
 * for requests decided without the store; and the 503 when the worker queue is full. */
#include "core/config.h"
#include "core/loop.h"
#include "core/worker.h"
#include "sip/registrar.h"
#include "store/store.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <setjmp.h>
#include <stdatomic.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>
#include <cmocka.h>

#include "testutil.h"

/* A port free for UDP and TCP on 127.0.0.1 right now. */
static int free_port(void)
{
	for (int tries = 0; tries < 50; tries++) {
		int u = socket(AF_INET, SOCK_DGRAM, 0);
		struct sockaddr_in a = {.sin_family = AF_INET};
		a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
		socklen_t l = sizeof a;
		assert_int_equal(bind(u, (struct sockaddr *)&a, sizeof a), 0);
		assert_int_equal(getsockname(u, (struct sockaddr *)&a, &l), 0);
		int t = socket(AF_INET, SOCK_STREAM, 0);
		int ok = bind(t, (struct sockaddr *)&a, sizeof a) == 0;
		close(t);
		close(u);
		if (ok)
			return ntohs(a.sin_port);
	}
	fail_msg("no free port");
	return -1;
}

static struct sockaddr_in to_port(int port)
{
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	return a;
}

/* auth: an Authorization header line, or "" */
static void request_auth(char *out, size_t cap, const char *method, const char *branch,
                         const char *auth)
{
	snprintf(out, cap,
	         "%s sip:example.net SIP/2.0\r\n"
	         "Via: SIP/2.0/UDP 127.0.0.1:5999;rport;branch=z9hG4bK-%s\r\n"
	         "Max-Forwards: 70\r\n"
	         "From: <sip:1001@example.net>;tag=f\r\n"
	         "To: <sip:1001@example.net>\r\n"
	         "Call-ID: %s@test\r\n"
	         "CSeq: 1 %s\r\n"
	         "Contact: <sip:1001@127.0.0.1:5999>\r\n"
	         "%s"
	         "Content-Length: 0\r\n\r\n",
	         method, branch, branch, method, auth);
}

static void request(char *out, size_t cap, const char *method, const char *branch)
{
	request_auth(out, cap, method, branch, "");
}

/* Sends one datagram (its Via asks for rport: the answer comes back to this socket); with want,
 * waits for the answer and checks its status code. */
static void udp_exchange(int fd, int port, const char *msg, int want)
{
	struct sockaddr_in a = to_port(port);
	assert_true(sendto(fd, msg, strlen(msg), 0, (struct sockaddr *)&a, sizeof a) > 0);
	if (!want)
		return;
	char buf[8192];
	ssize_t n = recv(fd, buf, sizeof buf - 1, 0);
	assert_true(n > 12);
	buf[n] = '\0';
	char line[16];
	snprintf(line, sizeof line, "SIP/2.0 %d ", want);
	if (strncmp(buf, line, strlen(line)) != 0)
		fail_msg("want %d, got %.60s", want, buf);
}

/* A registrar on loopback (UDP and TCP on one free port, no TLS) with a store of its own,
 * one loop and a worker pool of one thread with max_queue queued jobs. */
struct rig {
	char dir[64];
	store_t *st;
	struct tg_config cfg;
	struct loop_group *lg;
	struct workers *w;
	struct sip_registrar *r;
};

static void rig_start(struct rig *g, int source_failures_max, size_t max_queue)
{
	char path[128], err[256];
	tu_mkdtemp(g->dir, sizeof g->dir, "tgsiptp");
	snprintf(path, sizeof path, "%s/t.db", g->dir);
	struct store_options so = {.backend = "sqlite", .path = path, .busy_timeout_ms = 5000};
	if (store_open(&so, &g->st, err, sizeof err) != STORE_OK)
		fail_msg("open: %s", err);
	config_defaults(&g->cfg);
	snprintf(g->cfg.sip.address, sizeof g->cfg.sip.address, "127.0.0.1");
	snprintf(g->cfg.core.state_dir, sizeof g->cfg.core.state_dir, "%s", g->dir); /* spool */
	g->cfg.sip.port = free_port();
	g->cfg.sip.tls_port = 0;
	g->cfg.sip.edge_port = 0;
	if (source_failures_max)
		g->cfg.sip.source_failures_max = source_failures_max;
	assert_int_equal(loop_threads_init(), 0);
	g->lg = loop_group_start(1);
	g->w = workers_start(1, max_queue);
	assert_non_null(g->lg);
	assert_non_null(g->w);
	struct sip_registrar_options o = {
	    .cfg = &g->cfg, .store = g->st, .workers = g->w, .loops = g->lg};
	if (!(g->r = sip_registrar_start(&o, err, sizeof err)))
		fail_msg("start: %s", err);
}

static void rig_stop(struct rig *g)
{
	sip_registrar_stop(g->r);
	workers_stop(g->w);
	loop_group_stop(g->lg);
	sip_registrar_free(g->r);
	store_close(g->st);
	tu_rmtree(g->dir);
}

static void test_counters(void **state)
{
	(void)state;
	struct rig g;
	rig_start(&g, 1, 16);
	struct tg_config cfg = g.cfg;
	struct sip_registrar *r = g.r;

	int u = socket(AF_INET, SOCK_DGRAM, 0);
	struct timeval tv = {5, 0};
	setsockopt(u, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
	char msg[2048];
	request(msg, sizeof msg, "ACK", "ack");
	udp_exchange(u, cfg.sip.port, msg, 0); /* absorbed: no answer */
	request(msg, sizeof msg, "OPTIONS", "opt");
	udp_exchange(u, cfg.sip.port, msg, 200);
	request(msg, sizeof msg, "INVITE", "inv");
	udp_exchange(u, cfg.sip.port, msg, 405);
	request(msg, sizeof msg, "REGISTER", "reg");
	udp_exchange(u, cfg.sip.port, msg, 401); /* no credentials: challenged */
	udp_exchange(u, cfg.sip.port,
	             "REGISTER sip:example.net SIP/2.0\r\n"
	             "Via: SIP/2.0/UDP 127.0.0.1:5999;rport;branch=z9hG4bK-bad\r\n"
	             "Call-ID: bad@test\r\nCSeq: 1 REGISTER\r\nContent-Length: 0\r\n\r\n",
	             400); /* no From or To */
	/* sip.source_failures_max = 1: an unreadable credential counts against the source,
	 * and the next credential from it is refused without further work. */
	request_auth(msg, sizeof msg, "REGISTER", "unreadable", "Authorization: Digest x\r\n");
	udp_exchange(u, cfg.sip.port, msg, 403);
	request_auth(msg, sizeof msg, "REGISTER", "throttled",
	             "Authorization: Digest username=\"1001\", realm=\"telgate\", "
	             "nonce=\"n\", uri=\"sip:example.net\", response=\"00\", qop=auth, "
	             "nc=00000001, cnonce=\"c\"\r\n");
	udp_exchange(u, cfg.sip.port, msg, 403);
	close(u);

	/* A stream whose Content-Length cannot be trusted: 400, then the stream closes. */
	int t = socket(AF_INET, SOCK_STREAM, 0);
	setsockopt(t, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
	struct sockaddr_in a = to_port(cfg.sip.port);
	assert_int_equal(connect(t, (struct sockaddr *)&a, sizeof a), 0);
	request(msg, sizeof msg, "OPTIONS", "tcp");
	char *cl = strstr(msg, "Content-Length: 0");
	assert_non_null(cl);
	memcpy(cl, "Content-Length: x", 17);
	assert_true(send(t, msg, strlen(msg), 0) > 0);
	char buf[4096];
	ssize_t n = recv(t, buf, sizeof buf - 1, 0);
	assert_true(n > 12);
	assert_memory_equal(buf, "SIP/2.0 400 ", 12);
	close(t);

	struct sip_registrar_stats s;
	sip_registrar_stats(r, &s);
	assert_int_equal(s.requests_register, 3); /* challenged, unreadable, throttled */
	assert_int_equal(s.requests_options, 1);
	/* ACK, INVITE, and the one without From and To: not read as far as its method */
	assert_int_equal(s.requests_other, 3);
	assert_int_equal(s.responses[1], 0);
	assert_int_equal(s.responses[2], 1);
	assert_int_equal(s.responses[4], 6); /* 405, 401, 400, 403, 403, the framing 400 */
	assert_int_equal(s.responses[5], 0);
	assert_int_equal(s.throttled, 1);

	rig_stop(&g);
}

/* Sends one datagram and returns its answer in buf (NUL-terminated). */
static void udp_ask(int fd, int port, const char *msg, char *buf, size_t cap)
{
	struct sockaddr_in a = to_port(port);
	assert_true(sendto(fd, msg, strlen(msg), 0, (struct sockaddr *)&a, sizeof a) > 0);
	ssize_t n = recv(fd, buf, cap - 1, 0);
	assert_true(n > 12);
	buf[n] = '\0';
}

/* A worker job that holds the pool's only thread until a byte arrives on its pipe; it
 * says when it started (the queue place is free again then). */
static atomic_int holding;
static void hold_worker(void *arg)
{
	atomic_store(&holding, 1);
	char c;
	(void)!read(*(int *)arg, &c, 1);
}

static void nothing(void *arg)
{
	(void)arg;
}

/* The worker queue is full when a REGISTER needs the store: the transport's real path
 * answers SIP_REG_BUSY, 503 Service Unavailable with Retry-After, at once. */
static void test_busy(void **state)
{
	(void)state;
	struct rig g;
	rig_start(&g, 0, 1); /* one thread, one queued job */
	struct tg_config cfg = g.cfg;
	struct workers *w = g.w;
	struct sip_registrar *r = g.r;

	int u = socket(AF_INET, SOCK_DGRAM, 0);
	struct timeval tv = {5, 0};
	setsockopt(u, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
	char msg[2048], ans[8192];
	/* A nonce of the registrar's, so that the credential below needs the store. */
	request(msg, sizeof msg, "REGISTER", "busy-challenge");
	udp_ask(u, cfg.sip.port, msg, ans, sizeof ans);
	assert_memory_equal(ans, "SIP/2.0 401 ", 12);
	const char *p = strstr(ans, "nonce=\"");
	assert_non_null(p);
	p += 7;
	char nonce[256];
	size_t nl = strcspn(p, "\"");
	assert_true(nl < sizeof nonce);
	memcpy(nonce, p, nl);
	nonce[nl] = '\0';

	/* The only worker held, the one queue place taken. */
	int pfd[2];
	assert_int_equal(pipe(pfd), 0);
	assert_int_equal(workers_submit(w, hold_worker, NULL, &pfd[0], NULL), 0);
	for (int i = 0; i < 5000 && !atomic_load(&holding); i++)
		usleep(1000);
	assert_true(atomic_load(&holding));
	assert_int_equal(workers_submit(w, nothing, NULL, NULL, NULL), 0);
	uint64_t rejected = workers_rejected(w);

	char auth[1024];
	snprintf(auth, sizeof auth,
	         "Authorization: Digest username=\"alice\", realm=\"%s\", nonce=\"%s\", "
	         "uri=\"sip:example.net\", response=\"0123456789abcdef0123456789abcdef\", "
	         "algorithm=MD5, qop=auth, nc=00000001, cnonce=\"c\", opaque=\"tg\"\r\n",
	         cfg.sip.realm, nonce);
	request_auth(msg, sizeof msg, "REGISTER", "busy", auth);
	udp_ask(u, cfg.sip.port, msg, ans, sizeof ans);
	if (strncmp(ans, "SIP/2.0 503 Service Unavailable\r\n", 33) != 0)
		fail_msg("want 503 Service Unavailable, got %.60s", ans);
	assert_non_null(strstr(ans, "\r\nRetry-After: 5\r\n"));
	assert_int_equal(workers_rejected(w), rejected + 1);
	struct sip_registrar_stats s;
	sip_registrar_stats(r, &s);
	assert_int_equal(s.responses[5], 1);

	assert_int_equal(write(pfd[1], "x", 1), 1); /* the worker goes */
	close(u);
	rig_stop(&g);
	close(pfd[0]);
	close(pfd[1]);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_counters),
	    cmocka_unit_test(test_busy),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
