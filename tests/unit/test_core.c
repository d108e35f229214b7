/* SPDX-License-Identifier: ISC */
#include "core/jsonw.h"
#include "core/loop.h"
#include "core/ports.h"
#include "core/ptimer.h"
#include "core/udp.h"
#include "core/util.h"
#include "core/worker.h"

#include <arpa/inet.h>
#include <errno.h>
#include <jansson.h>
#include <event2/event.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <netinet/in.h>
#include <time.h>
#include <unistd.h>
#include <cmocka.h>

struct job {
	pthread_t loop_thread, run_thread, done_thread;
	atomic_int *done_count;
};

static void capture_loop_thread(void *arg)
{
	((struct job *)arg)->loop_thread = pthread_self();
}

static void job_run(void *arg)
{
	((struct job *)arg)->run_thread = pthread_self();
}

static void job_done(void *arg)
{
	struct job *j = arg;
	j->done_thread = pthread_self();
	atomic_fetch_add(j->done_count, 1);
}

static void wait_for(atomic_int *v, int n)
{
	for (int i = 0; i < 5000 && atomic_load(v) < n; i++)
		usleep(1000);
	assert_int_equal(atomic_load(v), n);
}

static void test_workers_return_to_home_loop(void **state)
{
	(void)state;
	loop_threads_init();
	struct loop_group *g = loop_group_start(2);
	assert_non_null(g);
	assert_int_equal(loop_group_size(g), 2);
	struct workers *w = workers_start(2, 64);
	atomic_int done = 0;
	struct job jobs[20];
	for (int i = 0; i < 20; i++) {
		jobs[i].done_count = &done;
		struct loop *home = loop_group_get(g, i);
		assert_int_equal(loop_post(home, capture_loop_thread, &jobs[i]), 0);
	}
	usleep(50000);
	for (int i = 0; i < 20; i++)
		assert_int_equal(
		    workers_submit(w, job_run, job_done, &jobs[i], loop_group_get(g, i)), 0);
	wait_for(&done, 20);
	for (int i = 0; i < 20; i++) {
		/* run() on a worker, done() back on the loop the job came from. */
		assert_false(pthread_equal(jobs[i].run_thread, jobs[i].loop_thread));
		assert_true(pthread_equal(jobs[i].done_thread, jobs[i].loop_thread));
	}
	workers_stop(w);
	loop_group_stop(g);
}

static pthread_mutex_t gate = PTHREAD_MUTEX_INITIALIZER;

static void blocked_run(void *arg)
{
	(void)arg;
	pthread_mutex_lock(&gate);
	pthread_mutex_unlock(&gate);
}

static void test_queue_bound(void **state)
{
	(void)state;
	struct workers *w = workers_start(1, 2);
	pthread_mutex_lock(&gate);
	assert_int_equal(workers_submit(w, blocked_run, NULL, NULL, NULL), 0);
	usleep(20000); /* the worker takes the first job and blocks */
	assert_int_equal(workers_submit(w, blocked_run, NULL, NULL, NULL), 0);
	assert_int_equal(workers_submit(w, blocked_run, NULL, NULL, NULL), 0);
	assert_int_equal(workers_submit(w, blocked_run, NULL, NULL, NULL), -EAGAIN);
	assert_int_equal(workers_pending(w), 3);
	pthread_mutex_unlock(&gate);
	workers_stop(w); /* finishes the queue */
}

static void test_reuseport(void **state)
{
	(void)state;
	int a = loop_bind_reuseport("127.0.0.1", 0, SOCK_STREAM);
	assert_true(a >= 0);
	struct sockaddr_in sin;
	socklen_t sl = sizeof sin;
	getsockname(a, (struct sockaddr *)&sin, &sl);
	uint16_t port = ntohs(sin.sin_port);
	/* A second socket on the same port: the point of SO_REUSEPORT. */
	int b = loop_bind_reuseport("127.0.0.1", port, SOCK_STREAM);
	assert_true(b >= 0);
	int u = loop_bind_reuseport("::1", port, SOCK_DGRAM);
	assert_true(u >= 0 || u == -EADDRNOTAVAIL || u == -EAFNOSUPPORT);
	assert_int_equal(loop_bind_reuseport("not-an-ip", port, SOCK_STREAM), -EINVAL);
	close(a);
	close(b);
	if (u >= 0)
		close(u);
}

/* Every loop thread's SO_REUSEPORT socket is one listener: `show open ports` lists it once
 * per protocol and address, however many threads share it. */
static void test_ports_one_row_per_listener(void **state)
{
	(void)state;
	int fds[4] = {loop_bind_reuseport("127.0.0.1", 0, SOCK_STREAM)};
	assert_true(fds[0] >= 0);
	struct sockaddr_in sin;
	socklen_t sl = sizeof sin;
	getsockname(fds[0], (struct sockaddr *)&sin, &sl);
	uint16_t port = ntohs(sin.sin_port);
	fds[1] = loop_bind_reuseport("127.0.0.1", port, SOCK_STREAM);
	fds[2] = loop_bind_reuseport("127.0.0.1", port, SOCK_DGRAM);
	fds[3] = loop_bind_reuseport("127.0.0.1", port, SOCK_DGRAM);
	for (int i = 0; i < 4; i++)
		assert_true(fds[i] >= 0);
	ports_name("tcp", port, NULL, "test");
	static struct port_entry ents[256];
	int n = ports_list(ents, 256);
	assert_true(n > 0 && n <= 256);
	int tcp = 0, udp = 0;
	for (int i = 0; i < n; i++) {
		if (ents[i].port != port)
			continue;
		tcp += strcmp(ents[i].proto, "tcp") == 0;
		udp += strcmp(ents[i].proto, "udp") == 0;
		if (strcmp(ents[i].proto, "tcp") == 0)
			assert_string_equal(ents[i].service, "test");
	}
	assert_int_equal(tcp, 1);
	assert_int_equal(udp, 1);
	for (int i = 0; i < 4; i++)
		close(fds[i]);
}

struct seen {
	pthread_mutex_t mu;
	int mask;
	pthread_t threads[4];
};

static void on_each(struct loop *l, int i, void *arg)
{
	(void)l;
	struct seen *s = arg;
	pthread_mutex_lock(&s->mu);
	s->mask |= 1 << i;
	s->threads[i] = pthread_self();
	pthread_mutex_unlock(&s->mu);
}

/* loop_run_all: every loop ran it, each on its own thread, before it returned. */
static void test_run_all(void **state)
{
	(void)state;
	struct loop_group *g = loop_group_start(4);
	assert_non_null(g);
	struct seen s = {.mu = PTHREAD_MUTEX_INITIALIZER};
	assert_int_equal(loop_run_all(g, on_each, &s), 4);
	assert_int_equal(s.mask, 0xf); /* no wait needed: it returned after all four */
	for (int i = 0; i < 4; i++)
		for (int j = i + 1; j < 4; j++)
			assert_false(pthread_equal(s.threads[i], s.threads[j]));
	loop_group_stop(g);
}

static void test_read_file_limits(void **state)
{
	(void)state;
	char path[] = "/tmp/tgrfXXXXXX";
	int fd = mkstemp(path);
	assert_int_equal(write(fd, "hello", 5), 5);
	close(fd);
	char *buf;
	size_t len;
	assert_int_equal(tg_read_file(path, 5, &buf, &len), 0);
	assert_int_equal(len, 5);
	assert_string_equal(buf, "hello");
	free(buf);
	assert_int_equal(tg_read_file(path, 4, &buf, &len), -EFBIG);
	assert_int_equal(tg_read_file("/tmp", 4, &buf, &len), -EINVAL);
	/* Atomic replacement: the new bytes, the mode asked for, no temporary file left. */
	assert_int_equal(tg_write_file_atomic(path, "new\0bytes", 9, 0640), 0);
	assert_int_equal(tg_read_file(path, 100, &buf, &len), 0);
	assert_int_equal(len, 9);
	assert_memory_equal(buf, "new\0bytes", 9);
	free(buf);
	struct stat sb;
	assert_int_equal(stat(path, &sb), 0);
	assert_int_equal(sb.st_mode & 0777, 0640);
	char tmp[300];
	snprintf(tmp, sizeof tmp, "%s.tmp", path);
	assert_int_equal(access(tmp, F_OK), -1);
	assert_int_equal(tg_write_file_atomic("/nonexistent/dir/f", "x", 1, 0600), -ENOENT);
	unlink(path);
	char small[4];
	assert_int_equal(tg_strlcpy(small, "abc", sizeof small), 0);
	assert_int_equal(tg_strlcpy(small, "abcd", sizeof small), -1);
	assert_string_equal(small, "abc");
	/* A source with no NUL within cap bytes (a field its string filled) is read no
	 * further than cap: on the heap, exactly 4 bytes, ASan's build reports a read past. */
	char *unterminated = malloc(4);
	assert_non_null(unterminated);
	memcpy(unterminated, "wxyz", 4);
	assert_int_equal(tg_strlcpy(small, unterminated, sizeof small), -1);
	assert_string_equal(small, "wxy");
	free(unterminated);
	small[0] = 'q';
	assert_int_equal(tg_strlcpy(small, "abc", 0), -1);
	assert_int_equal(small[0], 'q');
}

/* tg_sockaddr_str formats IPv4 by hand: the same text as inet_ntop and "%s:%u". */
static void test_sockaddr_str(void **state)
{
	(void)state;
	static const char *const addrs[] = {"0.0.0.0",   "255.255.255.255", "10.1.20.3",
	                                    "127.0.0.1", "192.168.100.9",   "1.22.0.99"};
	static const unsigned ports[] = {0, 65535, 69, 5060, 10, 100};
	for (size_t i = 0; i < sizeof addrs / sizeof addrs[0]; i++) {
		struct sockaddr_in in = {.sin_family = AF_INET, .sin_port = htons(ports[i])};
		assert_int_equal(inet_pton(AF_INET, addrs[i], &in.sin_addr), 1);
		char want[64], got[64];
		snprintf(want, sizeof want, "%s:%u", addrs[i], ports[i]);
		tg_sockaddr_str((const struct sockaddr *)&in, got, sizeof got);
		assert_string_equal(got, want);
	}
	for (size_t i = 0; i < sizeof addrs / sizeof addrs[0]; i++) { /* the address alone */
		unsigned char a[4];
		char got[16];
		assert_int_equal(inet_pton(AF_INET, addrs[i], a), 1);
		char *e = tg_ipv4_str(a, got);
		assert_string_equal(got, addrs[i]);
		assert_int_equal(e - got, (long)strlen(addrs[i]));
	}
	struct sockaddr_in6 in6 = {.sin6_family = AF_INET6, .sin6_port = htons(69)};
	assert_int_equal(inet_pton(AF_INET6, "2001:db8::1", &in6.sin6_addr), 1);
	char got[64];
	tg_sockaddr_str((const struct sockaddr *)&in6, got, sizeof got);
	assert_string_equal(got, "2001:db8::1:69");
}

/* udp_recv_batch: every waiting datagram in one call, each with its length (a cut one
 * with its whole length), its source and the address it was sent to; then EAGAIN. */
static void test_udp_recv_batch(void **state)
{
	(void)state;
	int rx = loop_bind_reuseport("127.0.0.1", 0, SOCK_DGRAM);
	assert_true(rx >= 0);
	assert_int_equal(udp_pktinfo_on(rx), 0);
	struct sockaddr_in to;
	socklen_t tl = sizeof to;
	assert_int_equal(getsockname(rx, (struct sockaddr *)&to, &tl), 0);
	int tx = socket(AF_INET, SOCK_DGRAM, 0);
	assert_true(tx >= 0);
	char big[600];
	memset(big, 'b', sizeof big);
	assert_int_equal(sendto(tx, "one", 3, 0, (struct sockaddr *)&to, tl), 3);
	assert_int_equal(sendto(tx, big, sizeof big, 0, (struct sockaddr *)&to, tl), 600);
	assert_int_equal(sendto(tx, "", 0, 0, (struct sockaddr *)&to, tl), 0);
	char bufs[4][16];
	struct udp_msg m[4];
	for (int i = 0; i < 4; i++)
		m[i] = (struct udp_msg){.buf = bufs[i], .cap = sizeof bufs[i]};
	assert_int_equal(udp_recv_batch(rx, m, 4), 3);
	assert_int_equal(m[0].len, 3);
	assert_memory_equal(bufs[0], "one", 3);
	assert_int_equal(m[1].len, 600);
	assert_memory_equal(bufs[1], big, sizeof bufs[1]);
	assert_int_equal(m[2].len, 0);
	struct sockaddr_in from;
	socklen_t fl = sizeof from;
	assert_int_equal(getsockname(tx, (struct sockaddr *)&from, &fl), 0);
	for (int i = 0; i < 3; i++) {
		const struct sockaddr_in *f = (const struct sockaddr_in *)&m[i].from;
		assert_int_equal(m[i].fromlen, sizeof from);
		assert_int_equal(f->sin_port, from.sin_port);
		assert_int_equal(m[i].has_local, 1);
		const struct sockaddr_in *l = (const struct sockaddr_in *)&m[i].local;
		assert_int_equal(l->sin_family, AF_INET);
		assert_int_equal(l->sin_addr.s_addr, htonl(INADDR_LOOPBACK));
	}
	errno = 0;
	assert_int_equal(udp_recv_batch(rx, m, 4), -1);
	assert_true(errno == EAGAIN || errno == EWOULDBLOCK);
	/* udp_send_batch: the answers back, in order, from the address they were sent to
	 * (IP_PKTINFO), one of them to an address that refuses it (dropped, the rest go). */
	struct udp_out o[3] = {
	    {.buf = "first", .len = 5}, {.buf = "lost", .len = 4}, {.buf = "third", .len = 5}};
	for (int i = 0; i < 3; i++) {
		memcpy(&o[i].to, &from, sizeof from);
		o[i].tolen = sizeof from;
		o[i].local = m[0].local;
		o[i].has_local = 1;
	}
	struct sockaddr_in6 bad6 = {.sin6_family = AF_INET6}; /* the wrong family: EINVAL */
	memcpy(&o[1].to, &bad6, sizeof bad6);
	o[1].tolen = sizeof bad6;
	assert_int_equal(udp_send_batch(rx, o, 3), 2);
	char back[16];
	ssize_t k = recv(tx, back, sizeof back, MSG_DONTWAIT);
	assert_int_equal(k, 5);
	assert_memory_equal(back, "first", 5);
	k = recv(tx, back, sizeof back, MSG_DONTWAIT);
	assert_int_equal(k, 5);
	assert_memory_equal(back, "third", 5);
	close(tx);
	close(rx);
}

struct fired {
	struct event_base *base;
	int64_t at_us;
	int n;
};

static void on_ptimer(void *arg)
{
	struct fired *f = arg;
	f->at_us = tg_mono_us();
	f->n++;
	event_base_loopbreak(f->base);
}

/* A ptimer fires once, never before its time; a cancelled one does not fire. */
static void test_ptimer(void **state)
{
	(void)state;
	struct event_base *base = event_base_new();
	assert_non_null(base);
	struct fired a = {.base = base}, b = {.base = base};
	struct ptimer *ta = ptimer_new(base, on_ptimer, &a);
	struct ptimer *tb = ptimer_new(base, on_ptimer, &b);
	assert_non_null(ta);
	assert_non_null(tb);
	int64_t now = tg_mono_us();
	assert_int_equal(ptimer_at(tb, now + 10000), 0);
	ptimer_cancel(tb);
	assert_int_equal(ptimer_at(ta, now + 30000), 0);
	assert_int_equal(event_base_dispatch(base), 0);
	assert_int_equal(a.n, 1);
	assert_true(a.at_us >= now + 30000);
	assert_int_equal(b.n, 0);
	/* a time already past fires at once */
	assert_int_equal(ptimer_at(tb, 0), 0);
	assert_int_equal(event_base_dispatch(base), 0);
	assert_int_equal(b.n, 1);
	assert_int_equal(a.n, 1);
	ptimer_free(ta);
	ptimer_free(tb);
	ptimer_free(NULL);
	event_base_free(base);
}

/* jsonw writes what a JSON parser reads back as the same values. */
static void test_jsonw(void **state)
{
	(void)state;
	char buf[512];
	struct tg_sbuf b = {buf, sizeof buf, 0, 0};
	tg_sbuf_put(&b, "{\"a\":");
	jsonw_str(&b, "q\"b\\c\n\x01/\x7f \xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80");
	jsonw_member_int(&b, "i", INT64_MIN);
	jsonw_member_int(&b, "z", 0);
	jsonw_member_int(&b, "p", 1700000000);
	jsonw_member_str(&b, "e", "");
	tg_sbuf_put(&b, "}");
	int n = tg_sbuf_len(&b);
	assert_true(n > 0);
	assert_int_equal(strlen(buf), (size_t)n);
	assert_non_null(strstr(buf, "\"q\\\"b\\\\c\\u000a\\u0001/"));
	json_error_t err;
	json_t *j = json_loads(buf, 0, &err);
	assert_non_null(j);
	assert_string_equal(json_string_value(json_object_get(j, "a")),
	                    "q\"b\\c\n\x01/\x7f \xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80");
	assert_true(json_integer_value(json_object_get(j, "i")) == INT64_MIN);
	assert_int_equal(json_integer_value(json_object_get(j, "z")), 0);
	assert_int_equal(json_integer_value(json_object_get(j, "p")), 1700000000);
	assert_string_equal(json_string_value(json_object_get(j, "e")), "");
	json_decref(j);
	/* not UTF-8 (a lone continuation byte, an overlong form, a surrogate, a cut
	 * sequence): the builder fails, as jansson refuses them */
	static const char *const bad[] = {"a\x80", "\xc0\xaf", "\xed\xa0\x80", "\xe2\x82",
	                                  "\xf4\x90\x80\x80"};
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		struct tg_sbuf x = {buf, sizeof buf, 0, 0};
		jsonw_str(&x, bad[i]);
		assert_int_equal(tg_sbuf_len(&x), -1);
	}
	/* what does not fit fails too, never a cut text */
	char small[8];
	struct tg_sbuf s = {small, sizeof small, 0, 0};
	jsonw_str(&s, "abcdefgh");
	assert_int_equal(tg_sbuf_len(&s), -1);
	s = (struct tg_sbuf){small, sizeof small, 0, 0};
	jsonw_strn(&s, "abcdefgh", 3);
	assert_int_equal(tg_sbuf_len(&s), 5);
	assert_string_equal(small, "\"abc\"");
}

/* The other thread's clock during a hold: (mono us, wall ms) read there. */
static void *clock_elsewhere(void *arg)
{
	int64_t *out = arg;
	out[0] = tg_mono_us();
	out[1] = tg_now_ms();
	return NULL;
}

/* tg_clock_hold: every reading in the hold is the first one, for each clock; holds nest
 * (the outer release lets go); tg_mono_ms_live and another thread read the live clock
 * meanwhile; after the release the clock moves again. */
static void test_clock_hold(void **state)
{
	(void)state;
	struct timespec pause = {0, 3 * 1000 * 1000};
	tg_clock_hold();
	int64_t us = tg_mono_us(), ms = tg_mono_ms(), wall = tg_now_ms(), s = tg_now_s();
	nanosleep(&pause, NULL);
	tg_clock_hold(); /* nested */
	assert_int_equal(tg_mono_us(), us);
	assert_int_equal(tg_mono_ms(), ms);
	assert_int_equal(tg_now_ms(), wall);
	assert_int_equal(tg_now_s(), s);
	assert_int_equal(us / 1000, ms);
	assert_int_equal(wall / 1000, s);
	/* a deadline's clock is not held: 3 ms passed since the held reading */
	assert_true(tg_mono_ms_live() >= ms + 3);
	pthread_t th;
	int64_t other[2];
	assert_int_equal(pthread_create(&th, NULL, clock_elsewhere, other), 0);
	pthread_join(th, NULL);
	assert_true(other[0] >= us + 3000); /* slept 3 ms since the held reading */
	tg_clock_release();
	assert_int_equal(tg_mono_us(), us); /* still held by the outer one */
	tg_clock_release();
	assert_true(tg_mono_us() >= us + 3000);
	assert_true(tg_now_ms() >= wall);
	tg_clock_release(); /* one too many: nothing to let go */
	struct timespec before;
	clock_gettime(CLOCK_MONOTONIC, &before);
	nanosleep(&pause, NULL);
	assert_true(tg_mono_us() >=
	            (int64_t)before.tv_sec * 1000000 + before.tv_nsec / 1000 + 3000);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_workers_return_to_home_loop),
	    cmocka_unit_test(test_queue_bound),
	    cmocka_unit_test(test_reuseport),
	    cmocka_unit_test(test_ports_one_row_per_listener),
	    cmocka_unit_test(test_read_file_limits),
	    cmocka_unit_test(test_run_all),
	    cmocka_unit_test(test_sockaddr_str),
	    cmocka_unit_test(test_udp_recv_batch),
	    cmocka_unit_test(test_ptimer),
	    cmocka_unit_test(test_jsonw),
	    cmocka_unit_test(test_clock_hold),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
