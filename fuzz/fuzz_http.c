/* SPDX-License-Identifier: ISC */
/* Fuzzes the HTTP layer's request path (src/core/http*.c): libhttp-parser's callbacks and
 * frame(), the limits (431, 413, the header-field count, chunked framing), the router
 * (404, 405, HEAD), held and streaming answers with pipelined requests behind them, the
 * form and JSON helpers, and the answers' own syntax. No sockets: a feed connection
 * (http_feed_new) runs the same code as a stream's. Each input is one connection: its
 * first byte chooses how the rest arrives (in pieces of 1 to 256 bytes or whole) and how
 * held requests end; a request to /hold/... is answered after the feed returns, as a job
 * would, alternately with a reply and with a stream.
 *
 * What the server writes is parsed back as HTTP responses (libhttp-parser, response
 * mode): an answer that does not parse is a crash. Inputs holding "HEAD" skip that check
 * (a HEAD answer's length cannot be told from its bytes). */
#include "core/http.h"
#include "core/log.h"

#include <errno.h>
#include <http_parser.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerInitialize(int *argc, char ***argv);

static struct http_server *srv;
static struct http_request *pending;
static int aborted;
static int dump; /* FUZZ_HTTP_DUMP=1 prints what the server wrote (to look at answers) */

static void h_root(struct http_request *req, void *arg)
{
	(void)arg;
	http_reply(req, 200, "text/plain", "ok\n", 3);
}

static void h_echo(struct http_request *req, void *arg)
{
	(void)arg;
	size_t len;
	const char *b = http_body(req, &len);
	const char *add = http_header(req, "X-Add");
	if (add)
		(void)http_add_header(req, "X-Added", add);
	const char *name = http_header(req, "X-Name");
	if (name)
		(void)http_add_header(req, name, "v");
	http_reply(req, 200, http_header(req, "Content-Type"), b, len);
}

static void reply_form(struct http_request *req, const char *s, size_t len)
{
	struct http_form f;
	int rc = http_form_parse(s, len, 16, &f);
	if (rc != 0) {
		http_reply_status(req, 400);
		return;
	}
	json_t *j = json_object();
	for (size_t i = 0; i < f.n; i++) {
		if (!http_form_get(&f, f.fields[i].name) ||
		    http_form_count(&f, f.fields[i].name) < 1)
			abort();
		json_object_set_new(j, f.fields[i].name,
		                    json_stringn(f.fields[i].value, f.fields[i].value_len));
	}
	http_form_free(&f);
	http_reply_json(req, 200, j); /* non-UTF-8 values: no string, a 500 */
	json_decref(j);
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
	reply_form(req, b, len);
}

static void h_query(struct http_request *req, void *arg)
{
	(void)arg;
	const char *q = http_query(req);
	reply_form(req, q, strlen(q));
}

static void h_json(struct http_request *req, void *arg)
{
	(void)arg;
	char err[200];
	json_t *j = http_body_json(req, err, sizeof err);
	if (!j) {
		http_reply(req, 400, "text/plain", err, strlen(err));
		return;
	}
	http_reply_json(req, 200, j);
	json_decref(j);
}

static void h_headers(struct http_request *req, void *arg)
{
	(void)arg;
	char out[512];
	size_t n = 0;
	const char *name, *value;
	for (size_t i = 0; http_header_at(req, i, &name, &value) == 0; i++) {
		if (!http_header(req, name))
			abort(); /* every field is found by its own name */
		n += strlen(name) + strlen(value);
	}
	int len = snprintf(out, sizeof out, "%zu fields, %zu bytes, %s %s v%d from %s",
	                   http_header_count(req), n, http_method(req), http_path(req),
	                   http_version(req), http_peer(req));
	if (http_client_cert(req))
		abort(); /* no TLS here */
	http_reply(req, 200, "text/plain", out, (size_t)len);
}

static void h_stream(struct http_request *req, void *arg)
{
	(void)arg;
	if (http_stream_begin(req, 200, "text/event-stream") != 0)
		abort();
	const char *q = http_query(req);
	http_stream_chunk(req, q, strlen(q));
	http_stream_chunk(req, "", 0);
	size_t len;
	const char *b = http_body(req, &len);
	http_stream_chunk(req, b, len);
	http_stream_end(req);
}

static void on_abort(struct http_request *req, void *arg)
{
	(void)arg;
	if (req != pending)
		abort();
	aborted++;
}

static void h_hold(struct http_request *req, void *arg)
{
	(void)arg;
	if (pending)
		abort(); /* one request at a time */
	http_hold(req);
	http_hold(req);
	http_on_abort(req, on_abort, NULL);
	pending = req;
}

static const struct http_route routes[] = {
    {"GET", "/", HTTP_EXACT, h_root, NULL},         {"POST", "/echo", HTTP_EXACT, h_echo, NULL},
    {"PUT", "/echo", HTTP_EXACT, h_echo, NULL},     {"POST", "/form", HTTP_EXACT, h_form, NULL},
    {"GET", "/q", HTTP_EXACT, h_query, NULL},       {"POST", "/json", HTTP_EXACT, h_json, NULL},
    {"GET", "/hdr", HTTP_PREFIX, h_headers, NULL},  {"OPTIONS", "*", HTTP_EXACT, h_headers, NULL},
    {"GET", "/stream", HTTP_EXACT, h_stream, NULL}, {"POST", "/stream", HTTP_EXACT, h_stream, NULL},
    {"GET", "/hold/", HTTP_PREFIX, h_hold, NULL},   {"DELETE", "/hold/", HTTP_PREFIX, h_hold, NULL},
};

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	char err[256];
	/* quiet: the access lines are INFO */
	log_configure(LOG_LVL_CRIT, LOG_FMT_KV, "stderr", err, sizeof err);
	struct http_server_options o = {
	    .name = "fuzz",
	    .routes = routes,
	    .nroutes = sizeof routes / sizeof routes[0],
	    .max_header_bytes = 2048,
	    .max_body_bytes = 4096,
	    .max_requests = 40,
	    .access_log = 1,
	};
	srv = http_server_new(&o, err, sizeof err);
	if (!srv)
		abort();
	dump = getenv("FUZZ_HTTP_DUMP") != NULL;
	return 0;
}

/* The server's output, parsed back as responses. */
struct out {
	http_parser p;
	int check;
};

static int body_of_none(http_parser *p)
{
	(void)p;
	return 0;
}

static const http_parser_settings resp_settings = {.on_headers_complete = body_of_none};

static void on_out(void *arg, const void *buf, size_t n)
{
	struct out *o = arg;
	if (dump)
		fwrite(buf, 1, n, stdout);
	if (!o->check)
		return;
	size_t got = http_parser_execute(&o->p, &resp_settings, buf, n);
	if (got != n || HTTP_PARSER_ERRNO(&o->p) != HPE_OK) {
		fprintf(stderr, "fuzz_http: the server wrote a bad response: %s\n",
		        http_errno_description(HTTP_PARSER_ERRNO(&o->p)));
		abort();
	}
}

/* Ends a held request: streamed when the mode says so, else a reply (204 for a path
 * ending in "/204"). */
static void answer(uint8_t mode)
{
	struct http_request *req = pending;
	pending = NULL;
	if (mode & 0x40) {
		if (http_stream_begin(req, 200, "application/json") != 0)
			abort(); /* a feed is open while a request is held */
		http_stream_chunk(req, "{}", 2);
		http_stream_end(req);
		return;
	}
	const char *path = http_path(req);
	size_t n = strlen(path);
	int st = n >= 4 && strcmp(path + n - 4, "/204") == 0 ? 204 : 202;
	if (http_reply(req, st, NULL, "held", 4) != 0)
		abort();
}

static int contains(const uint8_t *p, size_t n, const char *s)
{
	size_t k = strlen(s);
	for (size_t i = 0; i + k <= n; i++)
		if (memcmp(p + i, s, k) == 0)
			return 1;
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 1)
		return 0;
	uint8_t mode = data[0];
	data++;
	size--;
	struct out o = {.check = !contains(data, size, "HEAD")};
	http_parser_init(&o.p, HTTP_RESPONSE);
	struct http_feed *f = http_feed_new(srv, on_out, &o);
	if (!f)
		abort();
	size_t piece = (mode & 0x1f) ? (size_t)(mode & 0x1f) * (mode & 0x80 ? 8 : 1) : size;
	if (!piece)
		piece = 1;
	pending = NULL;
	aborted = 0;
	for (size_t off = 0; off < size;) {
		size_t n = size - off < piece ? size - off : piece;
		int closing = http_feed(f, data + off, n);
		off += n;
		/* held at the end of the input: left for the peer's leaving (below) */
		while (pending && !((mode & 0x20) && off >= size)) {
			answer(mode);
			closing = http_feed(f, NULL, 0);
		}
		if (closing)
			break;
	}
	if (pending && (mode & 0x20)) {
		/* the peer leaves while a request is held: on_abort, then the answer fails */
		struct http_request *req = pending;
		http_feed_free(f);
		if (aborted != 1)
			abort();
		pending = NULL;
		if (http_reply(req, 200, NULL, "", 0) != -EPIPE)
			abort();
		return 0;
	}
	while (pending) {
		answer(mode);
		http_feed(f, NULL, 0);
	}
	http_feed_free(f);
	return 0;
}
