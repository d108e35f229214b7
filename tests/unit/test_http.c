/* SPDX-License-Identifier: ISC */
/* The HTTP layer (src/core/http*.c) on real stream listeners: a loop pumped in the test
 * thread, plain (and TLS) sockets as clients, answers read back with libhttp-parser in
 * response mode. Plus the pieces without sockets: forms, percent-decoding, a feed. */
#include "ca/ca_bootstrap.h"
#include "core/http.h"
#include "core/log.h"
#include "core/loop.h"
#include "tls/tlsctx.h"
#include "core/util.h"
#include "testutil.h"

#include <arpa/inet.h>
#include <errno.h>
#include <event2/event.h>
#include <fcntl.h>
#include <http_parser.h>
#include <netinet/in.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>
#include <cmocka.h>

/* --- the server under test -------------------------------------------------------------- */

struct fx {
	struct loop *loop;
	struct http_server *srv;
	struct http_stats hst;
	struct stream_stats sst;
	struct stream_listener *lis;
	int port;
	char order[256];           /* handlers' and answers' order */
	struct http_request *held; /* /later, /forever, /slowstream */
	struct event *timer;
	int step;
	int aborted;
};

static int64_t now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void note(struct fx *f, const char *what)
{
	strncat(f->order, what, sizeof f->order - strlen(f->order) - 1);
	strncat(f->order, ",", sizeof f->order - strlen(f->order) - 1);
}

static void h_hello(struct http_request *req, void *arg)
{
	note(arg, "hello");
	assert_int_equal(http_reply(req, 200, "text/plain", "hello\n", 6), 0);
}

static void h_echo(struct http_request *req, void *arg)
{
	(void)arg;
	size_t len;
	const char *b = http_body(req, &len);
	const char *ct = http_header(req, "content-type");
	assert_int_equal(http_add_header(req, "X-Echo-Length", len ? "some" : "none"), 0);
	/* the layer's own framing fields, also by prefix (libhttp-parser reads
	 * "Transfer-Encoding##" as Transfer-Encoding), and no header injection */
	assert_int_equal(http_add_header(req, "content-length", "1"), -1);
	assert_int_equal(http_add_header(req, "Transfer-Encoding##", "v"), -1);
	assert_int_equal(http_add_header(req, "X-A", "a\r\nContent-Length: 0"), -1);
	assert_int_equal(http_reply(req, 200, ct ? ct : "application/octet-stream", b, len), 0);
}

static void h_api(struct http_request *req, void *arg)
{
	(void)arg;
	char out[300];
	int n = snprintf(out, sizeof out, "path=%s query=%s", http_path(req), http_query(req));
	http_reply(req, 200, "text/plain", out, (size_t)n);
}

static void h_form(struct http_request *req, void *arg)
{
	(void)arg;
	if (!http_content_type_is(req, "application/x-www-form-urlencoded")) {
		http_reply_status(req, 415);
		return;
	}
	size_t len;
	const char *b = http_body(req, &len);
	struct http_form form;
	if (http_form_parse(b, len, 8, &form) != 0) {
		http_reply_status(req, 400);
		return;
	}
	json_t *j = json_pack("{s:s?, s:i}", "grant_type", http_form_get(&form, "grant_type"), "n",
	                      (json_int_t)form.n);
	http_form_free(&form);
	assert_int_equal(http_reply_json(req, 200, j), 0);
	json_decref(j);
}

static void h_whoami(struct http_request *req, void *arg)
{
	(void)arg;
	const struct http_client_cert *id = http_client_cert(req);
	char out[1024] = "none";
	if (id) {
		int n = snprintf(out, sizeof out, "cn=%s dns=", id->cn);
		for (size_t i = 0; i < id->ndns; i++)
			n += snprintf(out + n, sizeof out - (size_t)n, "%s%s", i ? "," : "",
			              id->dns[i]);
	}
	http_reply(req, 200, "text/plain", out, strlen(out));
}

/* Answers /later 50 ms after its handler, and /slowstream's chunks 20 ms apart. */
static void on_timer(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	struct fx *f = arg;
	struct http_request *req = f->held;
	if (!req)
		return;
	if (strcmp(http_path(req), "/later") == 0) {
		note(f, "answer");
		f->held = NULL;
		assert_int_equal(http_reply(req, 200, "text/plain", "later\n", 6), 0);
		return;
	}
	static const char *const parts[] = {"one ", "two ", "three"};
	if (f->step < 3) {
		assert_int_equal(http_stream_chunk(req, parts[f->step], strlen(parts[f->step])), 0);
		f->step++;
		struct timeval tv = {0, 20000};
		evtimer_add(f->timer, &tv);
		return;
	}
	note(f, "end");
	f->held = NULL;
	assert_int_equal(http_stream_end(req), 0);
}

static void h_later(struct http_request *req, void *arg)
{
	struct fx *f = arg;
	note(f, "later");
	http_hold(req);
	f->held = req;
	struct timeval tv = {0, 50000};
	evtimer_add(f->timer, &tv);
}

static void h_slowstream(struct http_request *req, void *arg)
{
	struct fx *f = arg;
	note(f, "stream");
	assert_int_equal(http_stream_begin(req, 200, "text/plain"), 0);
	f->held = req;
	f->step = 0;
	struct timeval tv = {0, 20000};
	evtimer_add(f->timer, &tv);
}

static void on_abort(struct http_request *req, void *arg)
{
	struct fx *f = arg;
	assert_ptr_equal(req, f->held);
	f->aborted++;
}

static void h_forever(struct http_request *req, void *arg)
{
	struct fx *f = arg;
	http_hold(req);
	http_on_abort(req, on_abort, f);
	f->held = req;
}

static void h_noanswer(struct http_request *req, void *arg)
{
	(void)req;
	(void)arg;
}

static const struct http_route routes[] = {
    {"GET", "/hello", HTTP_EXACT, h_hello, NULL},
    {"POST", "/echo", HTTP_EXACT, h_echo, NULL},
    {"PUT", "/echo", HTTP_EXACT, h_echo, NULL},
    {"GET", "/api/", HTTP_PREFIX, h_api, NULL},
    {"POST", "/form", HTTP_EXACT, h_form, NULL},
    {"GET", "/whoami", HTTP_EXACT, h_whoami, NULL},
    {"GET", "/later", HTTP_EXACT, h_later, NULL},
    {"GET", "/slowstream", HTTP_EXACT, h_slowstream, NULL},
    {"GET", "/forever", HTTP_EXACT, h_forever, NULL},
    {"GET", "/noanswer", HTTP_EXACT, h_noanswer, NULL},
};

static struct http_route fx_routes[sizeof routes / sizeof routes[0]];

static int listen_fd(int *port)
{
	int fd = loop_bind_reuseport("127.0.0.1", 0, SOCK_STREAM);
	assert_true(fd >= 0);
	struct sockaddr_in sin;
	socklen_t sl = sizeof sin;
	assert_int_equal(getsockname(fd, (struct sockaddr *)&sin, &sl), 0);
	*port = ntohs(sin.sin_port);
	return fd;
}

static struct stream_listener *add_listener(struct fx *f, enum stream_kind kind, struct tlsctx *tls,
                                            int *port)
{
	struct stream_listener_options o = {
	    .name = kind == STREAM_TLS ? "test-https" : "test-http",
	    .kind = kind,
	    .tls = tls,
	    .stats = &f->sst,
	    .write_limit = 1 << 20,
	    .first_message_timeout_s = 10,
	    .idle_timeout_s = 30,
	};
	char err[256];
	struct stream_listener *l =
	    http_listen(f->loop, listen_fd(port), f->srv, &o, err, sizeof err);
	assert_non_null(l);
	return l;
}

static int setup(void **state)
{
	struct fx *f = calloc(1, sizeof *f);
	f->loop = loop_new("test");
	assert_non_null(f->loop);
	for (size_t i = 0; i < sizeof routes / sizeof routes[0]; i++) {
		fx_routes[i] = routes[i];
		fx_routes[i].arg = f;
	}
	struct http_server_options o = {
	    .name = "test",
	    .routes = fx_routes,
	    .nroutes = sizeof routes / sizeof routes[0],
	    .max_header_bytes = 2048,
	    .max_body_bytes = 1024,
	    .access_log = 1,
	    .close_timeout_s = 2,
	    .stats = &f->hst,
	};
	char err[256];
	f->srv = http_server_new(&o, err, sizeof err);
	assert_non_null(f->srv);
	f->timer = evtimer_new(loop_base(f->loop), on_timer, f);
	f->lis = add_listener(f, STREAM_TCP, NULL, &f->port);
	*state = f;
	return 0;
}

static void pump(struct fx *f, int ms)
{
	int64_t end = now_ms() + ms;
	do {
		event_base_loop(loop_base(f->loop), EVLOOP_NONBLOCK | EVLOOP_ONCE);
		if (ms)
			usleep(500);
	} while (now_ms() < end);
}

static int teardown(void **state)
{
	struct fx *f = *state;
	stream_listener_free(f->lis);
	pump(f, 0);
	event_free(f->timer);
	http_server_free(f->srv);
	loop_free(f->loop);
	free(f);
	return 0;
}

/* --- the client --------------------------------------------------------------------------- */

static int client(int port)
{
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	struct sockaddr_in sin = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	assert_int_equal(connect(fd, (struct sockaddr *)&sin, sizeof sin), 0);
	fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
	return fd;
}

static void csend(struct fx *f, int fd, SSL *ssl, const void *buf, size_t len)
{
	const char *p = buf;
	int64_t end = now_ms() + 5000;
	while (len) {
		ssize_t n = ssl ? SSL_write(ssl, p, (int)len) : send(fd, p, len, MSG_NOSIGNAL);
		if (n > 0) {
			p += n;
			len -= (size_t)n;
			continue;
		}
		if (ssl ? SSL_get_error(ssl, (int)n) != SSL_ERROR_WANT_WRITE &&
		              SSL_get_error(ssl, (int)n) != SSL_ERROR_WANT_READ
		        : errno != EAGAIN)
			return; /* the server closed (after a refusal): the rest is not wanted */
		assert_true(now_ms() < end);
		pump(f, 1);
	}
}

static void csends(struct fx *f, int fd, SSL *ssl, const char *s)
{
	csend(f, fd, ssl, s, strlen(s));
}

struct resp {
	int status;
	int chunked;
	char hdrs[2048]; /* "Name: value\n"... */
	size_t hlen;
	char body[8192];
	size_t blen;
};

struct reader {
	http_parser p;
	struct resp r[8];
	int n;         /* complete answers */
	int eof;       /* the server closed */
	int bad;       /* the answers did not parse */
	unsigned head; /* bit i: answer i is to a HEAD */
	int in_value;
};

static void hadd(struct resp *r, const char *s, size_t n)
{
	if (r->hlen + n < sizeof r->hdrs) {
		memcpy(r->hdrs + r->hlen, s, n);
		r->hlen += n;
		r->hdrs[r->hlen] = '\0';
	}
}

static int rd_begin(http_parser *p)
{
	struct reader *rd = p->data;
	memset(&rd->r[rd->n], 0, sizeof rd->r[rd->n]);
	rd->in_value = 0;
	return 0;
}

static int rd_field(http_parser *p, const char *at, size_t n)
{
	struct reader *rd = p->data;
	if (rd->in_value)
		hadd(&rd->r[rd->n], "\n", 1);
	rd->in_value = 0;
	hadd(&rd->r[rd->n], at, n);
	return 0;
}

static int rd_value(http_parser *p, const char *at, size_t n)
{
	struct reader *rd = p->data;
	if (!rd->in_value)
		hadd(&rd->r[rd->n], ": ", 2);
	rd->in_value = 1;
	hadd(&rd->r[rd->n], at, n);
	return 0;
}

static int rd_headers(http_parser *p)
{
	struct reader *rd = p->data;
	hadd(&rd->r[rd->n], "\n", 1);
	rd->r[rd->n].status = (int)p->status_code;
	rd->r[rd->n].chunked = (p->flags & F_CHUNKED) != 0;
	return (rd->head >> rd->n) & 1; /* 1: no body */
}

static int rd_body(http_parser *p, const char *at, size_t n)
{
	struct reader *rd = p->data;
	struct resp *r = &rd->r[rd->n];
	assert_true(r->blen + n < sizeof r->body);
	memcpy(r->body + r->blen, at, n);
	r->blen += n;
	r->body[r->blen] = '\0';
	return 0;
}

static int rd_done(http_parser *p)
{
	struct reader *rd = p->data;
	if (rd->r[rd->n].status >= 200) /* 100 Continue is not an answer */
		rd->n++;
	return 0;
}

static const http_parser_settings rd_settings = {
    .on_message_begin = rd_begin,
    .on_header_field = rd_field,
    .on_header_value = rd_value,
    .on_headers_complete = rd_headers,
    .on_body = rd_body,
    .on_message_complete = rd_done,
};

static void reader_init(struct reader *rd)
{
	memset(rd, 0, sizeof *rd);
	http_parser_init(&rd->p, HTTP_RESPONSE);
	rd->p.data = rd;
}

/* Pumps the loop and reads until `want` answers are in, the server closed, or ms. */
static int read_answers_ms(struct fx *f, int fd, SSL *ssl, struct reader *rd, int want, int ms)
{
	int64_t end = now_ms() + ms;
	char buf[4096];
	while (rd->n < want && !rd->eof && !rd->bad && now_ms() < end) {
		pump(f, 1);
		for (;;) {
			ssize_t n =
			    ssl ? SSL_read(ssl, buf, sizeof buf) : recv(fd, buf, sizeof buf, 0);
			if (n > 0) {
				size_t got =
				    http_parser_execute(&rd->p, &rd_settings, buf, (size_t)n);
				if (got != (size_t)n || HTTP_PARSER_ERRNO(&rd->p) != HPE_OK)
					rd->bad = 1;
				continue;
			}
			int again = ssl ? SSL_get_error(ssl, (int)n) == SSL_ERROR_WANT_READ ||
			                      SSL_get_error(ssl, (int)n) == SSL_ERROR_WANT_WRITE
			                : n < 0 && errno == EAGAIN;
			if (!again) {
				ERR_clear_error();
				rd->eof = 1;
				http_parser_execute(&rd->p, &rd_settings, NULL, 0);
			}
			break;
		}
	}
	assert_false(rd->bad);
	return rd->n;
}

static int read_answers(struct fx *f, int fd, SSL *ssl, struct reader *rd, int want)
{
	return read_answers_ms(f, fd, ssl, rd, want, 5000);
}

/* The server closes the connection (after what it had to say) within 5 s. */
static void expect_eof(struct fx *f, int fd, SSL *ssl, struct reader *rd)
{
	read_answers(f, fd, ssl, rd, 99);
	assert_true(rd->eof);
}

static int has_header(const struct resp *r, const char *line)
{
	return strstr(r->hdrs, line) != NULL;
}

/* --- the tests --------------------------------------------------------------------------- */

static void test_routing(void **state)
{
	struct fx *f = *state;
	int fd = client(f->port);
	struct reader rd;
	reader_init(&rd);
	rd.head = 1u << 4;
	csends(f, fd, NULL,
	       "GET /hello HTTP/1.1\r\nHost: t\r\n\r\n"
	       "GET /nothere HTTP/1.1\r\nHost: t\r\n\r\n"
	       "POST /hello HTTP/1.1\r\nHost: t\r\nContent-Length: 0\r\n\r\n"
	       "GET /api/v1/x?k=v HTTP/1.1\r\nHost: t\r\n\r\n"
	       "HEAD /hello HTTP/1.1\r\nHost: t\r\n\r\n"
	       "DELETE /echo HTTP/1.1\r\nHost: t\r\n\r\n"
	       "GET /noanswer HTTP/1.1\r\nHost: t\r\n\r\n");
	assert_int_equal(read_answers(f, fd, NULL, &rd, 7), 7);
	assert_int_equal(rd.r[0].status, 200);
	assert_string_equal(rd.r[0].body, "hello\n");
	assert_true(has_header(&rd.r[0], "Content-Type: text/plain\n"));
	assert_true(has_header(&rd.r[0], "Date: "));
	assert_int_equal(rd.r[1].status, 404);
	assert_int_equal(rd.r[2].status, 405);
	assert_true(has_header(&rd.r[2], "Allow: GET, HEAD\n"));
	assert_int_equal(rd.r[3].status, 200);
	assert_string_equal(rd.r[3].body, "path=/api/v1/x query=k=v");
	/* HEAD: GET's header (its length), no body */
	assert_int_equal(rd.r[4].status, 200);
	assert_true(has_header(&rd.r[4], "Content-Length: 6\n"));
	assert_int_equal(rd.r[4].blen, 0);
	assert_int_equal(rd.r[5].status, 405);
	assert_true(has_header(&rd.r[5], "Allow: POST, PUT\n"));
	/* a handler that neither answers nor holds: 500, and the connection goes on */
	assert_int_equal(rd.r[6].status, 500);
	assert_false(rd.eof);
	assert_int_equal(atomic_load(&f->hst.requests), 7);
	assert_int_equal(atomic_load(&f->hst.responses[2]), 3);
	assert_int_equal(atomic_load(&f->hst.responses[4]), 3);
	assert_int_equal(atomic_load(&f->hst.responses[5]), 1);
	close(fd);
}

static void test_keepalive_pipelined(void **state)
{
	struct fx *f = *state;
	int fd = client(f->port);
	struct reader rd;
	reader_init(&rd);
	/* Two requests in one write, the second with a body: answered in order. */
	csends(f, fd, NULL,
	       "POST /echo HTTP/1.1\r\nHost: t\r\nContent-Type: text/x-a\r\nContent-Length: 5\r\n"
	       "\r\nfirstGET /hello HTTP/1.1\r\nHost: t\r\n\r\n");
	assert_int_equal(read_answers(f, fd, NULL, &rd, 2), 2);
	assert_string_equal(rd.r[0].body, "first");
	assert_true(has_header(&rd.r[0], "Content-Type: text/x-a\n"));
	assert_true(has_header(&rd.r[0], "X-Echo-Length: some\n"));
	assert_string_equal(rd.r[1].body, "hello\n");
	assert_false(has_header(&rd.r[1], "Connection:"));
	/* the connection stays: a third request later, one byte at a time */
	const char *third = "GET /hello HTTP/1.1\r\nHost: t\r\n\r\n";
	for (const char *p = third; *p; p++) {
		csend(f, fd, NULL, p, 1);
		pump(f, 1);
	}
	assert_int_equal(read_answers(f, fd, NULL, &rd, 3), 3);
	assert_int_equal(rd.r[2].status, 200);
	assert_false(rd.eof);
	close(fd);
}

static void test_connection_close(void **state)
{
	struct fx *f = *state;
	int fd = client(f->port);
	struct reader rd;
	reader_init(&rd);
	/* Connection: close is honoured, and what follows it is not answered */
	csends(f, fd, NULL,
	       "GET /hello HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n"
	       "GET /hello HTTP/1.1\r\nHost: t\r\n\r\n");
	expect_eof(f, fd, NULL, &rd);
	assert_int_equal(rd.n, 1);
	assert_true(has_header(&rd.r[0], "Connection: close\n"));
	close(fd);
	/* HTTP/1.0 closes unless keep-alive */
	fd = client(f->port);
	reader_init(&rd);
	csends(f, fd, NULL, "GET /hello HTTP/1.0\r\n\r\n");
	expect_eof(f, fd, NULL, &rd);
	assert_int_equal(rd.n, 1);
	assert_int_equal(rd.r[0].status, 200);
	close(fd);
	fd = client(f->port);
	reader_init(&rd);
	csends(f, fd, NULL, "GET /hello HTTP/1.0\r\nConnection: keep-alive\r\n\r\n");
	assert_int_equal(read_answers(f, fd, NULL, &rd, 1), 1);
	assert_true(has_header(&rd.r[0], "Connection: keep-alive\n"));
	pump(f, 20);
	assert_int_equal(read_answers(f, fd, NULL, &rd, 1), 1);
	assert_false(rd.eof);
	close(fd);
}

static void test_header_too_large(void **state)
{
	struct fx *f = *state;
	int fd = client(f->port);
	struct reader rd;
	reader_init(&rd);
	char big[4000];
	memset(big, 'a', sizeof big);
	csends(f, fd, NULL, "GET /hello HTTP/1.1\r\nHost: t\r\nX-Big: ");
	csend(f, fd, NULL, big, sizeof big);
	csends(f, fd, NULL, "\r\n\r\n");
	expect_eof(f, fd, NULL, &rd);
	assert_int_equal(rd.n, 1);
	assert_int_equal(rd.r[0].status, 431);
	assert_true(has_header(&rd.r[0], "Connection: close\n"));
	close(fd);
	/* too many fields, each small: 431 too */
	fd = client(f->port);
	reader_init(&rd);
	csends(f, fd, NULL, "GET /hello HTTP/1.1\r\nHost: t\r\n");
	for (int i = 0; i < 120; i++)
		csends(f, fd, NULL, "A: b\r\n");
	csends(f, fd, NULL, "\r\n");
	expect_eof(f, fd, NULL, &rd);
	assert_int_equal(rd.r[0].status, 431);
	close(fd);
	assert_int_equal(atomic_load(&f->hst.bad_requests), 2);
}

static void test_body_too_large(void **state)
{
	struct fx *f = *state;
	/* Content-Length past the limit: 413 before the body is sent */
	int fd = client(f->port);
	struct reader rd;
	reader_init(&rd);
	csends(f, fd, NULL, "POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 5000\r\n\r\n");
	expect_eof(f, fd, NULL, &rd);
	assert_int_equal(rd.n, 1);
	assert_int_equal(rd.r[0].status, 413);
	assert_true(has_header(&rd.r[0], "Connection: close\n"));
	close(fd);
	/* a chunked body past the limit: 413 too */
	fd = client(f->port);
	reader_init(&rd);
	csends(f, fd, NULL, "POST /echo HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n");
	char chunk[600];
	memset(chunk, 'x', sizeof chunk);
	for (int i = 0; i < 2 && !rd.eof; i++) {
		csends(f, fd, NULL, "258\r\n");
		csend(f, fd, NULL, chunk, sizeof chunk);
		csends(f, fd, NULL, "\r\n");
	}
	expect_eof(f, fd, NULL, &rd);
	assert_int_equal(rd.r[0].status, 413);
	close(fd);
	/* chunk framing counts: many 1-byte chunks past header + body limits */
	fd = client(f->port);
	reader_init(&rd);
	csends(f, fd, NULL, "POST /echo HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n");
	for (int i = 0; i < 600 && !rd.eof; i++) {
		csends(f, fd, NULL, "1;ext=0123456789\r\nx\r\n");
		if (i % 50 == 0)
			read_answers_ms(f, fd, NULL, &rd, 1, 10);
	}
	expect_eof(f, fd, NULL, &rd);
	assert_int_equal(rd.r[0].status, 413);
	close(fd);
}

static void test_chunked_request_accepted(void **state)
{
	struct fx *f = *state;
	int fd = client(f->port);
	struct reader rd;
	reader_init(&rd);
	/* Expect: 100-continue first; the body in chunks with a trailer */
	csends(f, fd, NULL,
	       "PUT /echo HTTP/1.1\r\nHost: t\r\nExpect: 100-continue\r\n"
	       "Transfer-Encoding: chunked\r\nContent-Type: text/plain\r\n\r\n");
	char buf[64];
	int64_t end = now_ms() + 5000;
	ssize_t n = -1;
	while (n <= 0 && now_ms() < end) {
		pump(f, 1);
		n = recv(fd, buf, sizeof buf - 1, 0);
	}
	assert_true(n > 0);
	buf[n] = '\0';
	assert_string_equal(buf, "HTTP/1.1 100 Continue\r\n\r\n");
	csends(f, fd, NULL, "5\r\nhello\r\n7\r\n, world\r\n0\r\nX-Trailer: t\r\n\r\n");
	assert_int_equal(read_answers(f, fd, NULL, &rd, 1), 1);
	assert_int_equal(rd.r[0].status, 200);
	assert_string_equal(rd.r[0].body, "hello, world");
	close(fd);
}

static void test_malformed(void **state)
{
	struct fx *f = *state;
	static const char *const bad[] = {
	    "BLAH\x01 / HTTP/1.1\r\n\r\n",
	    "GET /hello HTTP/1.1\r\n\r\n", /* no Host */
	    "GET /hello HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n",
	    ("POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 3\r\nTransfer-Encoding: "
	     "chunked\r\n\r\n"),
	    "POST /echo HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: gzip\r\n\r\n",
	    "GET /hello HTTP/2.0\r\nHost: t\r\n\r\n",
	};
	static const int want[] = {400, 400, 400, 400, 400, 505};
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		int fd = client(f->port);
		struct reader rd;
		reader_init(&rd);
		csends(f, fd, NULL, bad[i]);
		expect_eof(f, fd, NULL, &rd);
		assert_int_equal(rd.n, 1);
		assert_int_equal(rd.r[0].status, want[i]);
		close(fd);
	}
}

static void test_streaming_answer(void **state)
{
	struct fx *f = *state;
	int fd = client(f->port);
	struct reader rd;
	reader_init(&rd);
	/* the stream's chunks come from a timer; the pipelined /hello waits for its end */
	csends(f, fd, NULL,
	       "GET /slowstream HTTP/1.1\r\nHost: t\r\n\r\nGET /hello HTTP/1.1\r\nHost: t\r\n\r\n");
	assert_int_equal(read_answers(f, fd, NULL, &rd, 2), 2);
	assert_int_equal(rd.r[0].status, 200);
	assert_true(rd.r[0].chunked);
	assert_true(has_header(&rd.r[0], "Transfer-Encoding: chunked\n"));
	assert_string_equal(rd.r[0].body, "one two three");
	assert_string_equal(rd.r[1].body, "hello\n");
	assert_string_equal(f->order, "stream,end,hello,");
	close(fd);
	/* HTTP/1.0: not chunked, the end of the body is the close */
	f->order[0] = '\0';
	fd = client(f->port);
	reader_init(&rd);
	csends(f, fd, NULL, "GET /slowstream HTTP/1.0\r\nConnection: keep-alive\r\n\r\n");
	expect_eof(f, fd, NULL, &rd);
	assert_int_equal(rd.n, 1);
	assert_false(rd.r[0].chunked);
	assert_true(has_header(&rd.r[0], "Connection: close\n"));
	assert_string_equal(rd.r[0].body, "one two three");
	close(fd);
}

static void test_async_answer(void **state)
{
	struct fx *f = *state;
	int fd = client(f->port);
	struct reader rd;
	reader_init(&rd);
	csends(f, fd, NULL,
	       "GET /later HTTP/1.1\r\nHost: t\r\n\r\nGET /hello HTTP/1.1\r\nHost: t\r\n\r\n");
	/* /hello is not even parsed while /later is held */
	pump(f, 20);
	assert_string_equal(f->order, "later,");
	assert_int_equal(read_answers(f, fd, NULL, &rd, 2), 2);
	assert_string_equal(rd.r[0].body, "later\n");
	assert_string_equal(rd.r[1].body, "hello\n");
	assert_string_equal(f->order, "later,answer,hello,");
	close(fd);
}

static void test_abort_while_held(void **state)
{
	struct fx *f = *state;
	int fd = client(f->port);
	csends(f, fd, NULL, "GET /forever HTTP/1.1\r\nHost: t\r\n\r\n");
	int64_t end = now_ms() + 5000;
	while (!f->held && now_ms() < end)
		pump(f, 1);
	assert_non_null(f->held);
	close(fd);
	/* The peer left: the layer notices when it next reads (it is not reading while a
	 * request is held) or writes; answering tells. */
	pump(f, 20);
	int rc = http_reply(f->held, 200, "text/plain", "late\n", 5);
	assert_true(rc == 0 || rc == -EPIPE);
	f->held = NULL;
	pump(f, 50);
	assert_int_equal(stream_listener_count(f->lis), 0);
}

static void test_abort_on_stop(void **state)
{
	struct fx *f = *state;
	int fd = client(f->port);
	csends(f, fd, NULL, "GET /forever HTTP/1.1\r\nHost: t\r\n\r\n");
	int64_t end = now_ms() + 5000;
	while (!f->held && now_ms() < end)
		pump(f, 1);
	assert_non_null(f->held);
	/* The listener stops: on_abort tells the holder, whose answer then fails. */
	stream_listener_free(f->lis);
	f->lis = NULL;
	assert_int_equal(f->aborted, 1);
	assert_int_equal(http_reply(f->held, 200, "text/plain", "x", 1), -EPIPE);
	f->held = NULL;
	close(fd);
	f->lis = add_listener(f, STREAM_TCP, NULL, &f->port);
}

static void test_access_log_no_query(void **state)
{
	struct fx *f = *state;
	char dir[64], target[160], path[128], err[256];
	tu_mkdtemp(dir, sizeof dir, "tghttp");
	snprintf(path, sizeof path, "%s/access.log", dir);
	snprintf(target, sizeof target, "file:%s", path);
	assert_int_equal(log_configure(LOG_LVL_INFO, LOG_FMT_KV, target, err, sizeof err), 0);
	int fd = client(f->port);
	struct reader rd;
	reader_init(&rd);
	csends(f, fd, NULL,
	       "GET /api/callback?code=SECRET-CODE-123&state=xyz HTTP/1.1\r\nHost: t\r\n\r\n"
	       "GET /nothere?token=SECRET-TOKEN HTTP/1.1\r\nHost: t\r\n\r\n");
	assert_int_equal(read_answers(f, fd, NULL, &rd, 2), 2);
	close(fd);
	assert_int_equal(log_configure(LOG_LVL_WARNING, LOG_FMT_KV, "stderr", err, sizeof err), 0);
	char *text;
	size_t len;
	assert_int_equal(tg_read_file(path, 1 << 20, &text, &len), 0);
	assert_null(strstr(text, "SECRET"));
	assert_null(strstr(text, "code="));
	const char *line = strstr(text, "event=http_access");
	assert_non_null(line);
	const char *eol = strchr(line, '\n');
	assert_non_null(eol);
	char one[1024];
	snprintf(one, sizeof one, "%.*s", (int)(eol - line), line);
	assert_non_null(strstr(one, "listener=test-http"));
	assert_non_null(strstr(one, "method=GET"));
	assert_non_null(strstr(one, "path=/api/callback "));
	assert_non_null(strstr(one, "status=200"));
	assert_non_null(strstr(one, "bytes="));
	assert_non_null(strstr(one, "duration_ms="));
	assert_non_null(strstr(one, "peer=127.0.0.1:"));
	/* the cid first, as on every line */
	const char *bol = line;
	while (bol > text && bol[-1] != '\n')
		bol--;
	assert_int_equal(strncmp(bol, "cid=", 4), 0);
	assert_true(strncmp(bol, "cid=- ", 6) != 0);
	const char *second = strstr(eol, "event=http_access");
	assert_non_null(second);
	assert_non_null(strstr(second, "path=/nothere "));
	assert_non_null(strstr(second, "status=404"));
	free(text);
	tu_rmtree(dir);
}

/* --- TLS and the client certificate ---------------------------------------------------- */

/* A client certificate for cn with two DNS SANs, signed by the CA in pki. */
static void make_client_cert(const char *pki, const char *ca_cert, const char *cn, const char *crt,
                             const char *keyf)
{
	char cakeyf[300];
	snprintf(cakeyf, sizeof cakeyf, "%s/ca.key", pki);
	FILE *fp = fopen(cakeyf, "r");
	assert_non_null(fp);
	EVP_PKEY *cakey = PEM_read_PrivateKey(fp, NULL, NULL, NULL);
	fclose(fp);
	fp = fopen(ca_cert, "r");
	X509 *ca = PEM_read_X509(fp, NULL, NULL, NULL);
	fclose(fp);
	assert_non_null(cakey);
	assert_non_null(ca);
	EVP_PKEY *key = EVP_EC_gen("P-256");
	assert_non_null(key);
	X509 *x = X509_new();
	X509_set_version(x, 2);
	ASN1_INTEGER_set(X509_get_serialNumber(x), 4242);
	X509_set_issuer_name(x, X509_get_subject_name(ca));
	X509_NAME *nm = X509_NAME_new();
	X509_NAME_add_entry_by_txt(nm, "CN", MBSTRING_ASC, (const unsigned char *)cn, -1, -1, 0);
	X509_set_subject_name(x, nm);
	X509_NAME_free(nm);
	X509_gmtime_adj(X509_getm_notBefore(x), -60);
	X509_gmtime_adj(X509_getm_notAfter(x), 86400);
	X509_set_pubkey(x, key);
	X509V3_CTX v3;
	X509V3_set_ctx(&v3, ca, x, NULL, NULL, 0);
	static const struct {
		int nid;
		const char *v;
	} ext[] = {{NID_basic_constraints, "CA:FALSE"},
	           {NID_ext_key_usage, "clientAuth"},
	           {NID_subject_alt_name, "DNS:a.example.com,DNS:b.example.com,email:x@y.z"}};
	for (size_t i = 0; i < sizeof ext / sizeof ext[0]; i++) {
		X509_EXTENSION *e = X509V3_EXT_conf_nid(NULL, &v3, ext[i].nid, ext[i].v);
		assert_non_null(e);
		X509_add_ext(x, e, -1);
		X509_EXTENSION_free(e);
	}
	assert_true(X509_sign(x, cakey, EVP_sha256()) > 0);
	fp = fopen(crt, "w");
	PEM_write_X509(fp, x);
	fclose(fp);
	fp = fopen(keyf, "w");
	PEM_write_PrivateKey(fp, key, NULL, NULL, 0, NULL, NULL);
	fclose(fp);
	X509_free(x);
	X509_free(ca);
	EVP_PKEY_free(key);
	EVP_PKEY_free(cakey);
}

/* A TLS client on a non-blocking socket, the server's loop pumped meanwhile. NULL when
 * the handshake fails. */
static SSL *tls_client(struct fx *f, SSL_CTX *ctx, int port, int *fdp)
{
	int fd = client(port);
	SSL *ssl = SSL_new(ctx);
	SSL_set_fd(ssl, fd);
	int64_t end = now_ms() + 5000;
	for (;;) {
		int r = SSL_connect(ssl);
		if (r == 1)
			break;
		int e = SSL_get_error(ssl, r);
		if ((e != SSL_ERROR_WANT_READ && e != SSL_ERROR_WANT_WRITE) || now_ms() > end) {
			SSL_free(ssl);
			close(fd);
			ERR_clear_error();
			return NULL;
		}
		pump(f, 1);
	}
	*fdp = fd;
	return ssl;
}

static void whoami_over_tls(struct fx *f, SSL_CTX *ctx, int port, char *out, size_t cap)
{
	int fd;
	SSL *ssl = tls_client(f, ctx, port, &fd);
	assert_non_null(ssl);
	struct reader rd;
	reader_init(&rd);
	csends(f, fd, ssl, "GET /whoami HTTP/1.1\r\nHost: t\r\n\r\n");
	assert_int_equal(read_answers(f, fd, ssl, &rd, 1), 1);
	assert_int_equal(rd.r[0].status, 200);
	tg_strlcpy(out, rd.r[0].body, cap);
	SSL_free(ssl);
	close(fd);
}

static void test_client_cert_identity(void **state)
{
	struct fx *f = *state;
	char dir[64], pki[128], crt[160], key[160], err[400];
	tu_mkdtemp(dir, sizeof dir, "tghttps");
	snprintf(pki, sizeof pki, "%s/pki", dir);
	snprintf(crt, sizeof crt, "%s/client.crt", dir);
	snprintf(key, sizeof key, "%s/client.key", dir);
	struct ca_bootstrap_result ca;
	assert_int_equal(ca_bootstrap(pki, "n1", "", 60, &ca, err, sizeof err), 0);
	make_client_cert(pki, ca.ca_cert, "client1.example.com", crt, key);

	/* mutual TLS: the identity is there */
	struct tlsctx_options mo = {.name = "test-mtls",
	                            .cert = ca.server_cert,
	                            .key = ca.server_key,
	                            .client_ca = ca.ca_cert};
	struct tlsctx *mtls = tlsctx_new(&mo, err, sizeof err);
	assert_non_null(mtls);
	int mport;
	struct stream_listener *ml = add_listener(f, STREAM_TLS, mtls, &mport);
	SSL_CTX *cctx = SSL_CTX_new(TLS_client_method());
	assert_int_equal(SSL_CTX_use_certificate_file(cctx, crt, SSL_FILETYPE_PEM), 1);
	assert_int_equal(SSL_CTX_use_PrivateKey_file(cctx, key, SSL_FILETYPE_PEM), 1);
	char out[1024];
	whoami_over_tls(f, cctx, mport, out, sizeof out);
	assert_string_equal(out, "cn=client1.example.com dns=a.example.com,b.example.com");
	/* without a certificate that listener refuses the handshake */
	SSL_CTX *anon = SSL_CTX_new(TLS_client_method());
	int fd;
	SSL *ssl = tls_client(f, anon, mport, &fd);
	if (ssl) { /* TLS 1.3: the refusal comes after the client's Finished */
		struct reader rd;
		reader_init(&rd);
		SSL_write(ssl, "GET /whoami HTTP/1.1\r\nHost: t\r\n\r\n", 33);
		read_answers(f, fd, ssl, &rd, 1);
		assert_int_equal(rd.n, 0);
		SSL_free(ssl);
		close(fd);
	}

	/* TLS without client authentication: none, even when the client has one */
	struct tlsctx_options so = {
	    .name = "test-tls", .cert = ca.server_cert, .key = ca.server_key};
	struct tlsctx *tls = tlsctx_new(&so, err, sizeof err);
	assert_non_null(tls);
	int sport;
	struct stream_listener *sl = add_listener(f, STREAM_TLS, tls, &sport);
	whoami_over_tls(f, cctx, sport, out, sizeof out);
	assert_string_equal(out, "none");
	whoami_over_tls(f, anon, sport, out, sizeof out);
	assert_string_equal(out, "none");

	/* plain TCP: none */
	fd = client(f->port);
	struct reader rd;
	reader_init(&rd);
	csends(f, fd, NULL, "GET /whoami HTTP/1.1\r\nHost: t\r\n\r\n");
	assert_int_equal(read_answers(f, fd, NULL, &rd, 1), 1);
	assert_string_equal(rd.r[0].body, "none");
	close(fd);

	SSL_CTX_free(cctx);
	SSL_CTX_free(anon);
	stream_listener_free(ml);
	stream_listener_free(sl);
	pump(f, 0);
	tlsctx_free(mtls);
	tlsctx_free(tls);
	tu_rmtree(dir);
}

static void test_form_over_http(void **state)
{
	struct fx *f = *state;
	int fd = client(f->port);
	struct reader rd;
	reader_init(&rd);
	csends(f, fd, NULL,
	       "POST /form HTTP/1.1\r\nHost: t\r\nContent-Type: application/x-www-form-urlencoded; "
	       "charset=utf-8\r\nContent-Length: 46\r\n\r\n"
	       "grant_type=authorization_code&code=abc%2B%3D&x"
	       "POST /form HTTP/1.1\r\nHost: t\r\nContent-Type: text/plain\r\nContent-Length: 1\r\n"
	       "\r\nx");
	assert_int_equal(read_answers(f, fd, NULL, &rd, 2), 2);
	assert_int_equal(rd.r[0].status, 200);
	assert_true(has_header(&rd.r[0], "Content-Type: application/json\n"));
	assert_string_equal(rd.r[0].body, "{\"grant_type\":\"authorization_code\",\"n\":3}");
	assert_int_equal(rd.r[1].status, 415);
	close(fd);
}

/* --- without sockets --------------------------------------------------------------------- */

static void test_form_parse(void **state)
{
	(void)state;
	struct http_form f;
	const char *s = "a=1&&b=x+y%21&c&=e&a=2";
	assert_int_equal(http_form_parse(s, strlen(s), 8, &f), 0);
	assert_int_equal(f.n, 5);
	assert_string_equal(http_form_get(&f, "a"), "1");
	assert_string_equal(http_form_get(&f, "b"), "x y!");
	assert_string_equal(http_form_get(&f, "c"), "");
	assert_string_equal(http_form_get(&f, ""), "e");
	assert_null(http_form_get(&f, "d"));
	assert_int_equal(http_form_count(&f, "a"), 2);
	http_form_free(&f);
	assert_int_equal(http_form_parse(s, strlen(s), 4, &f), -E2BIG);
	assert_int_equal(http_form_parse("a=%4", 4, 8, &f), -EINVAL);
	assert_int_equal(http_form_parse("a=%zz", 5, 8, &f), -EINVAL);
	assert_int_equal(http_form_parse("a=%00b", 6, 8, &f), -EINVAL);
	assert_int_equal(http_form_parse("a=b\0c", 5, 8, &f), -EINVAL);
	assert_int_equal(f.n, 0);
	assert_int_equal(http_form_parse("", 0, 8, &f), 0);
	assert_int_equal(f.n, 0);
	http_form_free(&f);
	char out[8];
	assert_int_equal(http_percent_decode("a%2Fb+c", 7, 0, out, sizeof out), 5);
	assert_string_equal(out, "a/b+c");
	assert_int_equal(http_percent_decode("abcdefgh", 8, 0, out, sizeof out), -1);
	assert_string_equal(http_reason(431), "Request Header Fields Too Large");
	assert_string_equal(http_reason(299), "Unknown");
}

struct sink {
	char buf[8192];
	size_t len;
};

static void sink_out(void *arg, const void *p, size_t n)
{
	struct sink *s = arg;
	assert_true(s->len + n < sizeof s->buf);
	memcpy(s->buf + s->len, p, n);
	s->len += n;
	s->buf[s->len] = '\0';
}

static void test_feed(void **state)
{
	struct fx *f = *state;
	struct sink out = {0};
	struct http_feed *feed = http_feed_new(f->srv, sink_out, &out);
	assert_non_null(feed);
	/* a held request: the next waits for the answer; input comes in pieces */
	const char *in = "GET /later HTTP/1.1\r\nHost: t\r\n\r\nGET /hel";
	assert_int_equal(http_feed(feed, in, strlen(in)), 0);
	assert_non_null(f->held);
	assert_int_equal(out.len, 0);
	assert_int_equal(http_feed(feed, "lo HTTP/1.1\r\nHost: t\r\n\r\n", 24), 0);
	assert_null(strstr(out.buf, "hello"));
	struct http_request *req = f->held;
	f->held = NULL;
	assert_int_equal(http_reply(req, 202, NULL, "ok", 2), 0);
	assert_int_equal(http_feed(feed, NULL, 0), 0);
	const char *a = strstr(out.buf, "HTTP/1.1 202 Accepted\r\n");
	const char *b = strstr(out.buf, "hello\n");
	assert_non_null(a);
	assert_non_null(b);
	assert_true(a < b);
	/* a refusal closes: later input is dropped */
	assert_int_equal(http_feed(feed, "GET / HTTP/1.1\r\n\r\n", 18), 1);
	assert_non_null(strstr(out.buf, "HTTP/1.1 400 Bad Request\r\n"));
	assert_int_equal(http_feed(feed, "GET /hello HTTP/1.1\r\nHost: t\r\n\r\n", 33), 1);
	http_feed_free(feed);
	/* freed while a request is held: on_abort, and the answer fails */
	feed = http_feed_new(f->srv, sink_out, &out);
	in = "GET /forever HTTP/1.1\r\nHost: t\r\n\r\n";
	assert_int_equal(http_feed(feed, in, strlen(in)), 0);
	assert_non_null(f->held);
	http_feed_free(feed);
	assert_int_equal(f->aborted, 1);
	assert_int_equal(http_reply(f->held, 200, NULL, "", 0), -EPIPE);
	f->held = NULL;
}

static void test_server_options(void **state)
{
	(void)state;
	char err[256];
	struct http_route bad[] = {{"GET", "/x", HTTP_EXACT, NULL, NULL}};
	struct http_server_options o = {.name = "x", .routes = bad, .nroutes = 1};
	assert_null(http_server_new(&o, err, sizeof err));
	assert_non_null(strstr(err, "route 0"));
	o.nroutes = 0;
	o.max_header_bytes = 1 << 20;
	assert_null(http_server_new(&o, err, sizeof err));
	assert_non_null(strstr(err, "max_header_bytes"));
}

int main(void)
{
	char err[256];
	signal(SIGPIPE, SIG_IGN); /* as telgated: writes may reach a socket the peer reset */
	log_configure(LOG_LVL_WARNING, LOG_FMT_KV, "stderr", err, sizeof err);
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_routing, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_keepalive_pipelined, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_connection_close, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_header_too_large, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_body_too_large, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_chunked_request_accepted, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_malformed, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_streaming_answer, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_async_answer, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_abort_while_held, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_abort_on_stop, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_access_log_no_query, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_client_cert_identity, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_form_over_http, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_feed, setup, teardown),
	    cmocka_unit_test(test_form_parse),
	    cmocka_unit_test(test_server_options),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
