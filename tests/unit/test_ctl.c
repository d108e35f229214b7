/* SPDX-License-Identifier: ISC */
#include "core/ctl.h"
#include "core/loop.h"
#include "core/worker.h"

#include <errno.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>
#include <cmocka.h>

static void test_frame_peek(void **state)
{
	(void)state;
	const unsigned char *body;
	size_t blen, used;
	unsigned char buf[16] = {0, 0, 0, 3, 'a', 'b', 'c', 'x'};
	assert_int_equal(ctl_frame_peek(buf, 3, &body, &blen, &used), 0);
	assert_int_equal(used, 0); /* no header yet */
	assert_int_equal(ctl_frame_peek(buf, 6, &body, &blen, &used), 0);
	assert_int_equal(used, 7); /* the whole frame's length, from the header */
	assert_int_equal(ctl_frame_peek(buf, 8, &body, &blen, &used), 1);
	assert_int_equal(blen, 3);
	assert_int_equal(used, 7);
	assert_memory_equal(body, "abc", 3);
	unsigned char zero[4] = {0, 0, 0, 0};
	assert_int_equal(ctl_frame_peek(zero, 4, &body, &blen, &used), -1);
	unsigned char huge[4];
	ctl_frame_header(CTL_FRAME_MAX + 1, huge);
	assert_int_equal(ctl_frame_peek(huge, 4, &body, &blen, &used), -1);
	unsigned char max[4];
	ctl_frame_header(CTL_FRAME_MAX, max);
	assert_int_equal(ctl_frame_peek(max, 4, &body, &blen, &used), 0);
	assert_int_equal(used, CTL_HDR_LEN + (size_t)CTL_FRAME_MAX);
}

static void test_request_parse(void **state)
{
	(void)state;
	struct ctl_request r;
	char err[256];
	const char *ok = "{\"argv\":[\"run\",\"sql\",\"select 1\"],\"data\":\"x\"}";
	assert_int_equal(ctl_request_parse(ok, strlen(ok), &r, err, sizeof err), 0);
	assert_int_equal(r.argc, 3);
	assert_string_equal(r.argv[2], "select 1");
	assert_string_equal(r.data, "x");
	ctl_request_free(&r);

	static const struct {
		const char *body, *why;
	} bad[] = {
	    {"", "malformed request"},
	    {"[1]", "not a JSON object"},
	    {"{}", "non-empty array"},
	    {"{\"argv\":[]}", "non-empty array"},
	    {"{\"argv\":\"status\"}", "non-empty array"},
	    {"{\"argv\":[1]}", "argv[0] is not a string"},
	    {"{\"argv\":[\"a\"],\"x\":1}", "unknown member"},
	    {"{\"argv\":[\"a\"],\"data\":5}", "data must be a string"},
	    {"{\"argv\":[\"a\"]} trailing", "malformed request"},
	    {"{\"argv\":[\"a\"],\"argv\":[\"b\"]}", "malformed request"},
	    {"{\"argv\":[\"a\\u0000b\"]}", "NUL"},
	    {"{\"argv\":[\"a\",\"b\",\"c\",\"d\",\"e\",\"f\",\"g\",\"h\",\"i\",\"j\",\"k\",\"l\","
	     "\"m\",\"n\",\"o\",\"p\",\"q\",\"r\",\"s\",\"t\",\"u\",\"v\",\"w\",\"x\",\"y\",\"z\","
	     "\"1\",\"2\",\"3\",\"4\",\"5\",\"6\",\"7\"]}",
	     "more than"},
	    {"\xff\xfe", "malformed request"},
	};
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		int rc = ctl_request_parse(bad[i].body, strlen(bad[i].body), &r, err, sizeof err);
		if (rc == 0 || !strstr(err, bad[i].why))
			fail_msg("case %zu: rc=%d err=%s", i, rc, err);
		assert_null(r.root);
	}
}

/* --- a live server on a loop thread ------------------------------------------------- */

static json_t *echo_handler(void *ctx, const struct ctl_request *req, const char *cid)
{
	(void)cid;
	(*(int *)ctx)++;
	if (strcmp(req->argv[0], "fail") == 0)
		return ctl_error("asked to fail");
	return ctl_message("argc=%d first=%s", req->argc, req->argv[0]);
}

struct fixture {
	char dir[64], path[128];
	struct loop *loop;
	pthread_t thr;
	struct workers *w;
	struct ctl_server *srv;
	int calls;
};

static void *run_loop(void *arg)
{
	loop_run(arg);
	return NULL;
}

struct start_arg {
	struct fixture *f;
	char err[256];
	pthread_mutex_t mu;
	pthread_cond_t cv;
	int done;
};

static void start_on_loop(void *arg)
{
	struct start_arg *s = arg;
	s->f->srv = ctl_server_start(s->f->loop, s->f->w, s->f->path, echo_handler, &s->f->calls,
	                             s->err, sizeof s->err);
	pthread_mutex_lock(&s->mu);
	s->done = 1;
	pthread_cond_signal(&s->cv);
	pthread_mutex_unlock(&s->mu);
}

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof *f);
	snprintf(f->dir, sizeof f->dir, "/tmp/tgctlXXXXXX");
	assert_non_null(mkdtemp(f->dir));
	snprintf(f->path, sizeof f->path, "%s/ctl.sock", f->dir);
	loop_threads_init();
	f->loop = loop_new("test");
	f->w = workers_start(2, 16);
	pthread_create(&f->thr, NULL, run_loop, f->loop);
	struct start_arg s = {
	    .f = f, .mu = PTHREAD_MUTEX_INITIALIZER, .cv = PTHREAD_COND_INITIALIZER};
	loop_post(f->loop, start_on_loop, &s);
	pthread_mutex_lock(&s.mu);
	while (!s.done)
		pthread_cond_wait(&s.cv, &s.mu);
	pthread_mutex_unlock(&s.mu);
	if (!f->srv)
		fail_msg("server: %s", s.err);
	*state = f;
	return 0;
}

static void free_on_loop(void *arg)
{
	struct fixture *f = arg;
	ctl_server_free(f->srv);
}

static int teardown(void **state)
{
	struct fixture *f = *state;
	workers_stop(f->w);
	loop_post(f->loop, free_on_loop, f);
	loop_stop(f->loop);
	pthread_join(f->thr, NULL);
	loop_free(f->loop);
	rmdir(f->dir);
	free(f);
	return 0;
}

static int dial(const char *path)
{
	int fd = socket(AF_UNIX, SOCK_STREAM, 0);
	struct sockaddr_un sun = {.sun_family = AF_UNIX};
	snprintf(sun.sun_path, sizeof sun.sun_path, "%s", path);
	assert_int_equal(connect(fd, (struct sockaddr *)&sun, sizeof sun), 0);
	struct timeval tv = {10, 0};
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
	return fd;
}

static void send_raw(int fd, const void *buf, size_t len)
{
	assert_int_equal(write(fd, buf, len), (ssize_t)len);
}

static void send_body(int fd, const char *body)
{
	unsigned char h[4];
	ctl_frame_header((uint32_t)strlen(body), h);
	send_raw(fd, h, 4);
	send_raw(fd, body, strlen(body));
}

static int read_n(int fd, void *buf, size_t n)
{
	size_t got = 0;
	while (got < n) {
		ssize_t r = read(fd, (char *)buf + got, n - got);
		if (r <= 0)
			return -1;
		got += (size_t)r;
	}
	return 0;
}

/* Reads one response; NULL when the server closed the connection. */
static json_t *recv_json(int fd)
{
	unsigned char h[4];
	if (read_n(fd, h, 4) != 0)
		return NULL;
	uint32_t n = (uint32_t)h[0] << 24 | (uint32_t)h[1] << 16 | (uint32_t)h[2] << 8 | h[3];
	char *b = malloc(n);
	assert_int_equal(read_n(fd, b, n), 0);
	json_t *j = json_loadb(b, n, 0, NULL);
	free(b);
	return j;
}

static void test_socket_mode(void **state)
{
	struct fixture *f = *state;
	struct stat st;
	assert_int_equal(stat(f->path, &st), 0);
	assert_true(S_ISSOCK(st.st_mode));
	assert_int_equal(st.st_mode & 0777, 0600);
}

static void test_requests_in_order(void **state)
{
	struct fixture *f = *state;
	int fd = dial(f->path);
	/* Two requests in one write: both answered, in order. */
	send_body(fd, "{\"argv\":[\"one\"]}");
	send_body(fd, "{\"argv\":[\"fail\"]}");
	json_t *a = recv_json(fd), *b = recv_json(fd);
	assert_string_equal(json_string_value(json_object_get(a, "message")), "argc=1 first=one");
	assert_true(json_is_false(json_object_get(b, "ok")));
	json_decref(a);
	json_decref(b);
	/* A malformed request gets an error and the connection keeps working. */
	send_body(fd, "{not json");
	a = recv_json(fd);
	assert_true(json_is_false(json_object_get(a, "ok")));
	assert_non_null(strstr(json_string_value(json_object_get(a, "error")), "malformed"));
	json_decref(a);
	send_body(fd, "{\"argv\":[\"again\",\"x\"]}");
	a = recv_json(fd);
	assert_string_equal(json_string_value(json_object_get(a, "message")), "argc=2 first=again");
	json_decref(a);
	close(fd);
}

static void test_bad_frame_closes_only_that_peer(void **state)
{
	struct fixture *f = *state;
	int good = dial(f->path), bad = dial(f->path), trunc = dial(f->path);
	/* A peer that announces a frame and never finishes it does not block others. */
	unsigned char h[4];
	ctl_frame_header(100, h);
	send_raw(trunc, h, 4);
	send_raw(trunc, "{\"argv\"", 7);
	/* Length 0 and an over-limit length: error answer, then close. */
	unsigned char zero[4] = {0, 0, 0, 0};
	send_raw(bad, zero, 4);
	json_t *e = recv_json(bad);
	assert_non_null(e);
	assert_non_null(strstr(json_string_value(json_object_get(e, "error")), "bad frame"));
	json_decref(e);
	assert_null(recv_json(bad));
	close(bad);
	bad = dial(f->path);
	ctl_frame_header(0xffffffffu, h);
	send_raw(bad, h, 4);
	e = recv_json(bad);
	assert_non_null(e);
	json_decref(e);
	assert_null(recv_json(bad));
	close(bad);
	send_body(good, "{\"argv\":[\"still\"]}");
	e = recv_json(good);
	assert_string_equal(json_string_value(json_object_get(e, "message")), "argc=1 first=still");
	json_decref(e);
	close(good);
	close(trunc);
}

static void test_second_server_refused(void **state)
{
	struct fixture *f = *state;
	char err[256] = "";
	/* Started from this thread only to test path handling; it never gets this far. */
	struct ctl_server *s2 =
	    ctl_server_start(f->loop, f->w, f->path, echo_handler, &f->calls, err, sizeof err);
	assert_null(s2);
	assert_non_null(strstr(err, "another telgated"));
	/* A non-socket file in the way is not deleted. */
	char other[160];
	snprintf(other, sizeof other, "%s/plain", f->dir);
	FILE *fp = fopen(other, "w");
	fclose(fp);
	s2 = ctl_server_start(f->loop, f->w, other, echo_handler, &f->calls, err, sizeof err);
	assert_null(s2);
	assert_non_null(strstr(err, "not a socket"));
	assert_int_equal(access(other, F_OK), 0);
	unlink(other);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_frame_peek),
	    cmocka_unit_test(test_request_parse),
	    cmocka_unit_test_setup_teardown(test_socket_mode, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_requests_in_order, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_bad_frame_closes_only_that_peer, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_second_server_refused, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
