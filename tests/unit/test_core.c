/* SPDX-License-Identifier: ISC */
#include "core/loop.h"
#include "core/ports.h"
#include "core/util.h"
#include "core/worker.h"

#include <errno.h>
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
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
