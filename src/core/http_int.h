/* SPDX-License-Identifier: ISC */
/*
 * http_int: what the files of the HTTP layer share (not for its users: see http.h).
 *
 * http.c        the server, the listener's stream callbacks, dispatch, hold and finish,
 *               the access log, the request accessors
 * http_parse.c  libhttp-parser callbacks and frame(): one request cut out of the input
 * http_reply.c  answers: status line and header fields, bodies, streaming, JSON
 * http_route.c  the routing table
 * http_form.c   percent-decoding and form bodies
 * http_cert.c   the verified client-certificate identity
 * http_feed.c   a connection without a socket (unit tests, the fuzz target)
 *
 * A connection (struct http_conn, the stream's user data or a feed's) has one request
 * object, reused: requests are handled one at a time. Its I/O goes through the conn_*
 * functions, to the stream or to the feed.
 */
#ifndef TG_HTTP_INT_H
#define TG_HTTP_INT_H

#include "core/http.h"
#include "core/log.h"

#include <http_parser.h>

#define HTTP_MAX_HEADERS 100         /* header fields per request; beyond: 431 */
#define HTTP_RESP_HEADERS_MAX 8192   /* bytes of http_add_header fields per answer */
#define HTTP_DEFAULT_MAX_HEADER 8192 /* max_header_bytes when 0 */
#define HTTP_DEFAULT_MAX_BODY 65536  /* max_body_bytes when 0 */
#define HTTP_MAX_HEADER_LIMIT 65536  /* max_header_bytes at most */
#define HTTP_FRAME_SLACK 1024        /* max_frame beyond header + body limits */

struct http_server {
	struct http_server_options o;
	size_t max_header, max_body;
	int close_timeout_s;
};

/* Where a request's parse is. */
enum http_phase {
	PH_IDLE = 0, /* no byte of the next request seen */
	PH_HEADERS,  /* the request line and header section */
	PH_BODY,     /* the body (and a chunked body's trailer) */
	PH_DONE,     /* complete: handed to on_frame next */
};

/* Where a request's answer is. */
enum http_astate {
	AS_NONE = 0,  /* not answered yet */
	AS_STREAMING, /* http_stream_begin sent the header; chunks follow */
	AS_DONE,      /* complete (or abandoned) */
};

/* The last parser callback that added text, to join pieces split across reads. */
enum http_last { LAST_NONE = 0, LAST_URL, LAST_FIELD, LAST_VALUE };

struct http_hdr {
	size_t name, value; /* offsets in the request's text buffer */
};

struct http_conn;

struct http_request {
	struct http_conn *c;
	/* Parsed: the URL, then names and values, NUL-separated, in one growing buffer
	 * (bounded by max_header_bytes plus the NULs). */
	char *text;
	size_t tlen, tcap;
	size_t url_off, url_len;
	struct http_hdr *hdrs;
	size_t nhdrs, hdrcap;
	enum http_last last;
	size_t path_off, query_off; /* into text, after headers complete */
	char *body;
	size_t blen, bcap;
	const char *method;
	int head;       /* HEAD: the answer has no body */
	int version;    /* 10, 11 */
	int keep_alive; /* http_should_keep_alive at the end of the header section */
	int upgrade;    /* Upgrade or CONNECT: close after the answer */
	int chunked;    /* the body came chunked */
	int refuse;     /* a status the parse decided (400, 413, 431, 505), 0 otherwise */
	int64_t start_us;
	char cid[LOG_CID_SIZE];
	/* The answer. */
	enum http_astate astate;
	int status;
	int close;      /* "Connection: close" and close after this answer */
	int held;       /* http_hold: a stream reference, the stream paused */
	int logged;     /* the access line went out */
	int handler_on; /* the handler is running (on_frame) */
	uint64_t bytes;
	char *rh; /* extra response header fields ("Name: value\r\n"...) */
	size_t rhlen, rhcap;
	void (*on_abort)(struct http_request *req, void *arg);
	void *abort_arg;
};

struct http_feed;

struct http_conn {
	struct http_server *srv;
	struct stream *s;       /* NULL for a feed */
	struct http_feed *feed; /* NULL for a stream */
	http_parser p;
	enum http_phase phase;
	size_t looked; /* bytes of the current request fed to the parser */
	unsigned nreq; /* requests started on this connection */
	int closed;    /* the connection ended (on_close ran) */
	int cert_done; /* client certificate looked at */
	struct http_client_cert *cert;
	struct http_request req;
};

/* http.c */
void http_conn_init(struct http_conn *c, struct http_server *srv);
void http_conn_dispatch(struct http_conn *c);
void http_conn_closed(struct http_conn *c, const char *why);
void http_conn_free_mem(struct http_conn *c);
void http_finish(struct http_request *req);
void http_access_log(struct http_request *req);
void http_count_status(struct http_server *srv, int status, uint64_t bytes);

/* I/O of a connection: to its stream, or to its feed (http_feed.c). */
int conn_write(struct http_conn *c, const void *a, size_t alen, const void *b, size_t blen);
void conn_close_after_flush(struct http_conn *c, const char *why);
int conn_closing(const struct http_conn *c);
void conn_pause(struct http_conn *c);
void conn_resume(struct http_conn *c);
void conn_ref(struct http_conn *c);
void conn_unref(struct http_conn *c); /* may free c: last */
void conn_need(struct http_conn *c, size_t bytes);
const char *conn_peer(const struct http_conn *c);
const char *conn_listener(const struct http_conn *c);

/* http_feed.c (the feed side of the conn_* functions) */
int feed_write(struct http_feed *f, const void *a, size_t alen, const void *b, size_t blen);
void feed_close_after_flush(struct http_feed *f);
int feed_closing(const struct http_feed *f);
void feed_pause(struct http_feed *f);
void feed_resume(struct http_feed *f);
void feed_ref(struct http_feed *f);
void feed_unref(struct http_feed *f);

/* http_parse.c */
/* stream_ops.frame: feeds the parser what it has not seen of buf; returns the request's
 * length once complete, STREAM_FRAME_MORE, or STREAM_FRAME_BROKEN after queueing the
 * refusal (and closing after it). */
long http_parse_frame(struct http_conn *c, const unsigned char *buf, size_t len);

/* http_reply.c */
/* Writes a refusal of the layer (400, 413, 431, 505) and closes after it. */
void http_refuse(struct http_conn *c, int status);
/* Writes "100 Continue". */
void http_continue(struct http_conn *c);

/* http_route.c */
/* The route for method and path; NULL with *status 404, or 405 and the methods that
 * would match in allow (comma-separated). */
const struct http_route *http_route_find(const struct http_route *routes, size_t n,
                                         const char *method, const char *path, int *status,
                                         char *allow, size_t allowcap);

/* http_cert.c */
/* Fills id from ssl's peer certificate when there is one and it verified; 1, else 0. */
int http_cert_identity(SSL *ssl, struct http_client_cert *id);

#endif
