/* SPDX-License-Identifier: ISC */
/*
 * http: an HTTP/1.1 server on the stream layer (issue 14, step 2). Every HTTP service of
 * telgated (metrics and health, the file service on 6970, EST and OAuth on 8443, the cloud
 * CTI event interface) mounts on it, so each gets the stream layer's caps before TLS,
 * first-message and idle timeouts, TLS contexts, slow-consumer limit and one lifecycle
 * (core/stream.h). Requests are parsed with Debian's libhttp-parser 2.9 (the parser
 * Node.js used before llhttp); not libevent's evhttp (a second lifecycle, and no peer
 * address in its TLS hook, so caps could only apply after the handshake).
 *
 * What it does, per connection:
 * - parses requests (RFC 9112) with bounded sizes: the request line and header section
 *   at most max_header_bytes (beyond: 431, then close), at most 100 header fields (431),
 *   a body of at most max_body_bytes (beyond: 413, then close; with Content-Length the
 *   413 goes as soon as the header section is in, before the body is read); anything
 *   the parser refuses is 400, then close (also Content-Length with Transfer-Encoding,
 *   and a transfer coding other than a final chunked, RFC 9112 §6.3); an HTTP/1.1
 *   request without exactly one Host field is 400 (RFC 9112 §3.2); a major version
 *   other than 1 is 505;
 * - chunked REQUEST bodies are accepted and bounded, not refused: RFC 9112 §7 requires an
 *   HTTP/1.1 server to decode them, and a client that streams an upload (curl -T -)
 *   sends them. The decoded body is bounded by max_body_bytes and the whole
 *   message (chunk framing included) by max_header_bytes + max_body_bytes: beyond
 *   either, 413 and close. Trailer fields are read and dropped;
 * - "Expect: 100-continue" gets "100 Continue" once the header section is accepted (or
 *   the 413 instead, which is the point of the mechanism: RFC 9110 §10.1.1);
 * - keep-alive: HTTP/1.1 keeps the connection unless "Connection: close"; HTTP/1.0
 *   closes unless "Connection: keep-alive"; max_requests (optional) closes after that
 *   many; an Upgrade or CONNECT request is answered and the connection closed (no
 *   protocol switch is supported);
 * - pipelining: requests are handled one at a time, in order. The next request is not
 *   parsed (the stream is paused) while a handler holds a request (http_hold) or streams
 *   its answer (http_stream_begin), so answers can never overtake each other;
 * - routing: method + exact path or path prefix -> handler, in table order; a path that
 *   matches with another method is 405 with Allow (RFC 9110 §15.5.6), no path is 404.
 *   HEAD runs the GET route when no HEAD route is given, and its body is not sent;
 * - the verified client-certificate identity (subject CN and DNS SANs) of a TLS
 *   connection, for the handlers (http_client_cert);
 * - one access-log line per request, "http_access" at INFO: the correlation id, listener,
 *   method, path WITHOUT the query string (query strings carry secrets: OAuth codes,
 *   tokens), status, bytes sent, duration in ms, peer.
 *
 * Threads: a server is made once and shared, read-only, by listeners on any number of
 * loops (one per loop, SO_REUSEPORT). A request belongs to its connection's loop: every
 * function taking a struct http_request runs on that loop's thread (a handler answering
 * later does so from its loop: a worker job's done callback, a loop_post, a timer). The
 * statistics are atomics, readable from any thread.
 *
 * Ownership: the caller owns the options' strings, the routes table and the stats, and
 * keeps them alive while the server exists; the server must outlive every listener made
 * with it and every request still held. The layer owns each request and its strings:
 * valid during the handler and, for a held request, until the call that ends its answer
 * (http_reply*, http_stream_end) returns.
 */
#ifndef TG_HTTP_H
#define TG_HTTP_H

#include <jansson.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include "core/stream.h"

struct loop;
struct http_server;
struct http_request;

/* A route's handler. It answers with http_reply* or http_stream_begin, or calls http_hold
 * to answer later; one that returns having done none of these gets a 500 for its
 * request (and an error line in the log). arg is the route's. */
typedef void (*http_handler_fn)(struct http_request *req, void *arg);

enum http_match {
	HTTP_EXACT = 0, /* the path is equal to the route's */
	HTTP_PREFIX,    /* the path starts with the route's ("/api/" matches "/api/x") */
};

struct http_route {
	const char *method; /* "GET", "POST", ... (methods are case-sensitive: RFC 9110 §9.1) */
	const char *path;   /* matched against the raw path, before any percent-decoding */
	enum http_match match;
	http_handler_fn fn;
	void *arg;
};

/* Counters of one server (all its listeners); for the metrics. */
struct http_stats {
	_Atomic uint64_t requests;     /* requests dispatched or refused by the layer */
	_Atomic uint64_t responses[6]; /* by class: [1] 1xx .. [5] 5xx; [0] none sent (the
	                                  connection ended first) */
	_Atomic uint64_t bad_requests; /* refused while parsing: 400, 413, 431, 505 */
	_Atomic uint64_t bytes_out;    /* response bytes queued, headers included */
};

struct http_server_options {
	const char *name; /* "metrics", "est", ...: the error log lines */
	const struct http_route *routes;
	size_t nroutes;
	/* Bytes of the request line and header section, CRLFs included. 0: 8192. At most
	 * 65536 (libhttp-parser's own limit is 80 KiB; ours is met first). */
	size_t max_header_bytes;
	/* Bytes of a request body (after chunked decoding). 0: 65536. */
	size_t max_body_bytes;
	/* Requests per connection; the last answer says "Connection: close". 0: no limit. */
	unsigned max_requests;
	int access_log; /* one http_access line per request */
	/* Seconds a closing connection waits for the peer to read the last answer (a 4xx
	 * that closes, "Connection: close"). 0: 10. */
	int close_timeout_s;
	struct http_stats *stats; /* NULL: not counted */
};

/* Makes a server; the routes table is used in place (not copied). Returns NULL with err
 * set when an option is out of range or a route lacks a method, a path or a handler. */
struct http_server *http_server_new(const struct http_server_options *o, char *err, size_t errlen);
/* After every listener using it was freed and no request is held. NULL is a no-op. */
void http_server_free(struct http_server *srv);

/* Starts an HTTP listener on fd (stream_listen: the listener owns fd from now on, also on
 * failure) on loop, the calling thread's. o gives the transport: name, kind (STREAM_TCP
 * or STREAM_TLS), tls, caps and their settings, stats, write_limit (bytes: the bound of
 * a streaming answer's backlog; 0 = none, not advised), first_message_timeout_s and
 * idle_timeout_s. The layer sets ops, ctx, user_size and max_frame (max_header_bytes +
 * max_body_bytes + 1 KiB) itself; crlf_keepalive is off. Free it with
 * stream_listener_free. */
struct stream_listener *http_listen(struct loop *loop, int fd, struct http_server *srv,
                                    const struct stream_listener_options *o, char *err,
                                    size_t errlen);

/* The same on every loop of a group: binds address:port once per loop with SO_REUSEPORT
 * (so the kernel spreads connections across loops) and starts a listener on each, all
 * with o. From the main thread, never a loop's (loop_run_all). Returns NULL with err set
 * when the port cannot be bound or a listener cannot start (none is left running). */
struct loop_group;
struct http_listeners;
struct http_listeners *http_listen_all(struct loop_group *loops, const char *address, int port,
                                       struct http_server *srv,
                                       const struct stream_listener_options *o, char *err,
                                       size_t errlen);
/* Stops and frees every listener (their connections close). NULL is a no-op. Main thread;
 * before http_server_free. */
void http_listeners_free(struct http_listeners *ls);

/* --- the request ---------------------------------------------------------------------- */

/* "GET", "POST", ... */
const char *http_method(const struct http_request *req);
/* The raw path: "/a%20b" (no percent-decoding, no dot-segment removal: a handler that
 * maps paths to files decodes and checks them itself). For the absolute form
 * ("http://host/p?q") the path part; "*" for "OPTIONS *"; the authority for CONNECT. */
const char *http_path(const struct http_request *req);
/* The raw query string after '?', without it; "" when there is none. */
const char *http_query(const struct http_request *req);
/* 10 for HTTP/1.0, 11 for HTTP/1.1. */
int http_version(const struct http_request *req);
/* The first header field of that name (ASCII case-insensitive), its value with the
 * surrounding whitespace removed; NULL when absent. */
const char *http_header(const struct http_request *req, const char *name);
/* The i-th header field, in arrival order (0 <= i < http_header_count); 0, or -1 past
 * the end. */
size_t http_header_count(const struct http_request *req);
int http_header_at(const struct http_request *req, size_t i, const char **name, const char **value);
/* 1 when Content-Type's media type (parameters ignored, case-insensitive) is mime. */
int http_content_type_is(const struct http_request *req, const char *mime);
/* The body (decoded from chunked), *len bytes; NUL-terminated one past the end (the body
 * itself may hold NULs). "" and 0 when there is none. */
const char *http_body(const struct http_request *req, size_t *len);
/* "address:port" of the peer. */
const char *http_peer(const struct http_request *req);
/* The peer's address alone ("192.0.2.1", "2001:db8::1"), for per-source limits, into out
 * (cap bytes, INET6_ADDRSTRLEN is enough); http_peer's text for a connection without an
 * IP address. */
void http_peer_address(const struct http_request *req, char *out, size_t cap);
/* The request's correlation id (log_cid_new), for every log line about it. */
const char *http_cid(const struct http_request *req);
/* The connection under the request, e.g. for stream_pending while streaming (NULL for
 * a feed connection). */
struct stream *http_stream(const struct http_request *req);

#define HTTP_CERT_NAME_MAX 255 /* bytes of one name (a DNS name is at most 253) */
#define HTTP_CERT_SANS_MAX 16  /* DNS SANs kept; more are ignored */

/* The identity in a client certificate that verified. */
struct http_client_cert {
	char cn[HTTP_CERT_NAME_MAX + 1]; /* the subject's (first) commonName, UTF-8; "" if none */
	size_t ndns;
	char dns[HTTP_CERT_SANS_MAX][HTTP_CERT_NAME_MAX + 1]; /* subjectAltName dNSNames */
};
/* The client certificate's identity: only on a TLS connection whose peer presented a
 * certificate that verified (SSL_get_verify_result() == X509_V_OK against the listener's
 * client CA); NULL otherwise (plain TCP, no certificate, or one that did not verify).
 * Names holding control characters, NULs or more than HTTP_CERT_NAME_MAX bytes are left
 * out. Worked out once per connection. */
const struct http_client_cert *http_client_cert(struct http_request *req);

/* --- the answer ----------------------------------------------------------------------- */

/* Adds a response header field for this request's answer (before http_reply or
 * http_stream_begin). Returns 0, or -1 when name is not a token, value holds a control
 * character other than HTAB, the field is one the layer writes itself (Content-Length,
 * Transfer-Encoding, Connection, Date, or a name that begins with one of them, which some
 * clients' parsers take for it) or the fields would pass 8 KiB. */
int http_add_header(struct http_request *req, const char *name, const char *value);
/* Asks for the connection to close after this answer ("Connection: close"). */
void http_set_close(struct http_request *req);

/* Answers: status (200..599; 204 and 304 send no body), Content-Type (NULL: none), and
 * len bytes of body (Content-Length). Returns:
 *   0        the answer is queued;
 *   -EPIPE   the connection is gone or going: nothing more is sent;
 *   -EINVAL  the request was already answered, the status is out of range or the type
 *            holds a line break: nothing happened, the request is as it was.
 * After 0 or -EPIPE the request is complete: no http_* call on it any more (a held one is
 * released, and its memory may be gone). */
int http_reply(struct http_request *req, int status, const char *content_type, const void *body,
               size_t len);
/* A short text/plain answer: "404 Not Found\n". Returns as http_reply. */
int http_reply_status(struct http_request *req, int status);
/* json serialised compactly, "application/json". The caller keeps its reference. An
 * object that does not serialise is a 500. Returns as http_reply. */
int http_reply_json(struct http_request *req, int status, const json_t *json);
/* The body as JSON (RFC 8259; duplicate object keys refused), or NULL with err set
 * (empty body, bad JSON). The caller owns the result. */
json_t *http_body_json(const struct http_request *req, char *err, size_t errlen);

/* Keeps the request unanswered when the handler returns, to answer later from the loop
 * (a worker job's done callback, a timer). The connection holds a stream reference and
 * parses no further request until the answer ends (http_reply*, http_stream_end). If the
 * connection ends first, on_abort (when set) is called once, from the connection's
 * close (not from inside the holder's own calls); the holder must still end the answer
 * (http_reply or http_stream_end then return -EPIPE, and end it). Calling it twice is
 * harmless. */
void http_hold(struct http_request *req);
void http_on_abort(struct http_request *req, void (*fn)(struct http_request *req, void *arg),
                   void *arg);

/* A streaming answer (the cloud CTI event interface): the status line and header now,
 * the body in pieces as it comes, "Transfer-Encoding: chunked" (RFC 9112 §7.1). To an
 * HTTP/1.0 client the body is sent as it is and the connection closes at the end. The
 * request is held (http_hold) from http_stream_begin to http_stream_end. Each returns 0;
 * -EPIPE when the connection is gone or going (a peer past the listener's write_limit
 * is cut off; on_abort follows): stop writing; -EINVAL when called out of order or with
 * a bad status (2xx..5xx other than 204 and 304) or type: nothing happened. After
 * http_stream_begin returned 0 or -EPIPE, http_stream_end must follow (it always ends
 * the request; req is invalid after it). A chunk of 0 bytes sends nothing (it would end
 * the body). The listener's write_limit bounds what a slow reader can make us queue;
 * stream_pending(http_stream(req)) tells a producer how much is waiting. */
int http_stream_begin(struct http_request *req, int status, const char *content_type);
int http_stream_chunk(struct http_request *req, const void *data, size_t len);
int http_stream_end(struct http_request *req);

/* --- forms and percent-encoding -------------------------------------------------------- */

/* Percent-decodes len bytes of in into out (capacity cap, NUL-terminated); with plus, '+'
 * is a space (application/x-www-form-urlencoded). Returns the decoded length, or -1 for a
 * bad %-escape, a %00, or when out is too small. */
long http_percent_decode(const char *in, size_t len, int plus, char *out, size_t cap);

struct http_form_field {
	const char *name, *value; /* decoded, NUL-terminated */
	size_t value_len;
};
struct http_form {
	struct http_form_field *fields;
	size_t n;
	char *mem; /* one allocation for the fields and the strings */
};
/* Parses application/x-www-form-urlencoded text (a body, or a query string) of len bytes
 * into at most max_fields fields, as HTML forms send it (WHATWG URL §5.1): '&'-separated
 * name=value pieces, '+' is a space, %XX escapes; empty pieces are skipped, a piece
 * without '=' has the value "". Stricter than WHATWG, which passes a bad escape through:
 * returns -EINVAL for a bad %-escape, a %00 or a NUL byte (no value is cut short as a C
 * string); -E2BIG for more than max_fields fields; -ENOMEM; else 0. On error *f is
 * empty. */
int http_form_parse(const char *s, size_t len, size_t max_fields, struct http_form *f);
/* The first value of that name (case-sensitive), or NULL. */
const char *http_form_get(const struct http_form *f, const char *name);
/* How many fields have that name (RFC 6749 §3.1: OAuth parameters must not repeat). */
size_t http_form_count(const struct http_form *f, const char *name);
void http_form_free(struct http_form *f);

/* t (Unix seconds) as an IMF-fixdate, "Sun, 06 Nov 1994 08:49:37 GMT" (RFC 9110 §5.6.7),
 * whatever the locale: Date, Last-Modified. */
void http_date_format(int64_t t, char out[32]);

/* The reason phrase of a status code ("Not Found"); "Unknown" for one without. */
const char *http_reason(int status);

/* --- without a socket: unit tests and the fuzz target ---------------------------------- */

/* One connection of srv without a stream: what a peer would send goes in with
 * http_feed, the answers come out through out (in order, as the stream would write
 * them). A request held by a handler stays held until answered; then http_feed(f, NULL,
 * 0) carries on with the input kept. Same parser, limits, router and answers as a real
 * connection; no TLS (http_client_cert is NULL), peer "feed". */
struct http_feed;
struct http_feed *http_feed_new(struct http_server *srv,
                                void (*out)(void *arg, const void *p, size_t n), void *arg);
/* Hands bytes over as if read (they are copied). Returns 0 while the connection is open,
 * 1 once it is closing (a refused request, "Connection: close": later bytes are
 * dropped). */
int http_feed(struct http_feed *f, const void *data, size_t len);
/* Ends the connection as if the peer left (on_abort of a held request), then frees it
 * once no request is held. */
void http_feed_free(struct http_feed *f);

#endif
