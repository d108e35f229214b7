/* SPDX-License-Identifier: ISC */
#include "core/http_int.h"
#include "core/util.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* --- the server ----------------------------------------------------------------------- */

struct http_server *http_server_new(const struct http_server_options *o, char *err, size_t errlen)
{
	const char *name = o->name ? o->name : "http";
	if (o->max_header_bytes > HTTP_MAX_HEADER_LIMIT) {
		snprintf(err, errlen, "%s: max_header_bytes is at most %d", name,
		         HTTP_MAX_HEADER_LIMIT);
		return NULL;
	}
	if (o->max_body_bytes > (size_t)1 << 30) {
		snprintf(err, errlen, "%s: max_body_bytes is at most 1 GiB", name);
		return NULL;
	}
	for (size_t i = 0; i < o->nroutes; i++) {
		const struct http_route *r = &o->routes[i];
		if (!r->method || !r->method[0] || !r->path || !r->path[0] || !r->fn) {
			snprintf(err, errlen, "%s: route %zu needs a method, a path and a handler",
			         name, i);
			return NULL;
		}
	}
	struct http_server *srv = calloc(1, sizeof *srv);
	if (!srv) {
		snprintf(err, errlen, "%s: out of memory", name);
		return NULL;
	}
	srv->o = *o;
	srv->o.name = name;
	srv->max_header = o->max_header_bytes ? o->max_header_bytes : HTTP_DEFAULT_MAX_HEADER;
	srv->max_body = o->max_body_bytes ? o->max_body_bytes : HTTP_DEFAULT_MAX_BODY;
	srv->close_timeout_s = o->close_timeout_s > 0 ? o->close_timeout_s : 10;
	return srv;
}

void http_server_free(struct http_server *srv)
{
	free(srv);
}

/* --- the stream's callbacks ------------------------------------------------------------ */

static int on_open(struct stream *s)
{
	struct http_conn *c = stream_user(s);
	http_conn_init(c, stream_ctx(s));
	c->s = s;
	return 0;
}

static long frame(struct stream *s, const unsigned char *buf, size_t len)
{
	return http_parse_frame(stream_user(s), buf, len);
}

static void on_frame(struct stream *s, const unsigned char *buf, size_t len)
{
	(void)buf;
	(void)len;
	http_conn_dispatch(stream_user(s));
}

static void on_close(struct stream *s, const char *why)
{
	http_conn_closed(stream_user(s), why);
}

static const struct stream_ops http_stream_ops = {
    .frame = frame,
    .on_frame = on_frame,
    .on_open = on_open,
    .on_close = on_close,
};

struct stream_listener *http_listen(struct loop *loop, int fd, struct http_server *srv,
                                    const struct stream_listener_options *o, char *err,
                                    size_t errlen)
{
	struct stream_listener_options so = *o;
	so.ops = &http_stream_ops;
	so.ctx = srv;
	so.user_size = sizeof(struct http_conn);
	/* A whole request is one frame: the header section and the body, with room for a
	 * chunked body's framing (http_parse_frame refuses a request past header + body
	 * limits itself, with a 413, before the stream would cut it off silently). */
	so.max_frame = srv->max_header + srv->max_body + HTTP_FRAME_SLACK;
	so.crlf_keepalive = 0;
	return stream_listen(loop, fd, &so, err, errlen);
}

/* --- I/O: to the stream, or to the feed ------------------------------------------------- */

int conn_write(struct http_conn *c, const void *a, size_t alen, const void *b, size_t blen)
{
	if (c->feed)
		return feed_write(c->feed, a, alen, b, blen);
	return blen ? stream_write2(c->s, a, alen, b, blen) : stream_write(c->s, a, alen);
}

void conn_close_after_flush(struct http_conn *c, const char *why)
{
	if (c->feed)
		feed_close_after_flush(c->feed);
	else
		stream_close_after_flush(c->s, why, c->srv->close_timeout_s);
}

int conn_closing(const struct http_conn *c)
{
	return c->closed || (c->feed ? feed_closing(c->feed) : stream_closing(c->s));
}

void conn_pause(struct http_conn *c)
{
	if (c->feed)
		feed_pause(c->feed);
	else
		stream_pause(c->s);
}

void conn_resume(struct http_conn *c)
{
	if (c->feed)
		feed_resume(c->feed);
	else
		stream_resume(c->s);
}

void conn_ref(struct http_conn *c)
{
	if (c->feed)
		feed_ref(c->feed);
	else
		stream_ref(c->s);
}

void conn_unref(struct http_conn *c)
{
	if (c->feed)
		feed_unref(c->feed);
	else
		stream_unref(c->s);
}

void conn_need(struct http_conn *c, size_t bytes)
{
	if (c->s)
		stream_need(c->s, bytes);
}

const char *conn_peer(const struct http_conn *c)
{
	return c->s ? stream_peer(c->s) : "feed";
}

const char *conn_listener(const struct http_conn *c)
{
	return c->s ? stream_listener_name(c->s) : c->srv->o.name;
}

/* --- a connection ---------------------------------------------------------------------- */

void http_conn_init(struct http_conn *c, struct http_server *srv)
{
	memset(c, 0, sizeof *c);
	c->srv = srv;
	c->req.c = c;
}

void http_conn_free_mem(struct http_conn *c)
{
	struct http_request *r = &c->req;
	free(r->text);
	free(r->hdrs);
	free(r->body);
	free(r->rh);
	free(c->cert);
	r->text = NULL;
	r->hdrs = NULL;
	r->body = NULL;
	r->rh = NULL;
	c->cert = NULL;
	r->tcap = r->hdrcap = r->bcap = r->rhcap = 0;
	r->tlen = r->nhdrs = r->blen = r->rhlen = 0;
}

void http_count_status(struct http_server *srv, int status, uint64_t bytes)
{
	struct http_stats *st = srv->o.stats;
	if (!st)
		return;
	int cls = status >= 100 && status <= 599 ? status / 100 : 0;
	atomic_fetch_add_explicit(&st->responses[cls], 1, memory_order_relaxed);
	atomic_fetch_add_explicit(&st->bytes_out, bytes, memory_order_relaxed);
}

void http_access_log(struct http_request *r)
{
	if (r->logged)
		return;
	r->logged = 1;
	struct http_conn *c = r->c;
	http_count_status(c->srv, r->status, r->bytes);
	if (!c->srv->o.access_log)
		return;
	/* The path without the query string: query strings carry secrets (OAuth codes and
	 * tokens, enrolment secrets). */
	const char *path = r->path_off ? r->text + r->path_off : "-";
	log_ev(LOG_LVL_INFO, r->cid, "http_access", LOG_S("listener", conn_listener(c)),
	       LOG_S("method", r->method ? r->method : "-"), LOG_S("path", path),
	       LOG_I("status", r->status), LOG_U("bytes", r->bytes),
	       LOG_I("duration_ms", (tg_mono_us() - r->start_us) / 1000),
	       LOG_S("peer", conn_peer(c)));
}

void http_conn_dispatch(struct http_conn *c)
{
	struct http_request *r = &c->req;
	struct http_server *srv = c->srv;
	c->nreq++;
	if (srv->o.stats)
		atomic_fetch_add_explicit(&srv->o.stats->requests, 1, memory_order_relaxed);
	if (!r->keep_alive || r->upgrade || (srv->o.max_requests && c->nreq >= srv->o.max_requests))
		r->close = 1;
	int status = 0;
	char allow[256];
	const struct http_route *rt = http_route_find(srv->o.routes, srv->o.nroutes, r->method,
	                                              http_path(r), &status, allow, sizeof allow);
	if (!rt) {
		if (status == 405)
			(void)http_add_header(r, "Allow", allow);
		(void)http_reply_status(r, status);
		return;
	}
	r->handler_on = 1;
	rt->fn(r, rt->arg);
	/* A handler that answered at once may have ended the request (not its memory: the
	 * stream or the feed is inside a callback of ours). */
	r->handler_on = 0;
	if (r->astate == AS_NONE && !r->held) {
		log_ev(LOG_LVL_ERROR, r->cid, "http_handler_no_answer",
		       LOG_S("listener", conn_listener(c)), LOG_S("method", r->method),
		       LOG_S("path", http_path(r)));
		(void)http_reply_status(r, 500);
	}
}

void http_finish(struct http_request *r)
{
	struct http_conn *c = r->c;
	r->astate = AS_DONE;
	http_access_log(r);
	c->phase = PH_IDLE;
	int held = r->held;
	r->held = 0;
	r->on_abort = NULL;
	if (!c->closed) {
		if (r->close)
			conn_close_after_flush(c, "Connection: close");
		else if (held)
			conn_resume(c);
	}
	if (held) {
		/* The connection's close left the memory to the hold's end. */
		if (c->closed)
			http_conn_free_mem(c);
		conn_unref(c); /* may free c: last */
	}
}

void http_conn_closed(struct http_conn *c, const char *why)
{
	(void)why;
	c->closed = 1;
	struct http_request *r = &c->req;
	if (r->held && r->astate != AS_DONE) {
		/* The answer will never be complete: log what went out (status 0: nothing). */
		http_access_log(r);
		void (*fn)(struct http_request *, void *) = r->on_abort;
		r->on_abort = NULL;
		if (fn)
			fn(r, r->abort_arg);
		if (r->held)
			return; /* the memory goes when the holder ends the answer */
	}
	http_conn_free_mem(c);
}

/* --- holding ---------------------------------------------------------------------------- */

void http_hold(struct http_request *r)
{
	if (r->held || r->astate == AS_DONE)
		return;
	r->held = 1;
	conn_pause(r->c);
	conn_ref(r->c);
}

void http_on_abort(struct http_request *r, void (*fn)(struct http_request *r, void *arg), void *arg)
{
	r->on_abort = fn;
	r->abort_arg = arg;
}

void http_set_close(struct http_request *r)
{
	r->close = 1;
}

/* --- the request's accessors -------------------------------------------------------------- */

const char *http_method(const struct http_request *r)
{
	return r->method ? r->method : "";
}

const char *http_path(const struct http_request *r)
{
	return r->path_off ? r->text + r->path_off : "";
}

const char *http_query(const struct http_request *r)
{
	return r->query_off ? r->text + r->query_off : "";
}

int http_version(const struct http_request *r)
{
	return r->version;
}

size_t http_header_count(const struct http_request *r)
{
	return r->nhdrs;
}

int http_header_at(const struct http_request *r, size_t i, const char **name, const char **value)
{
	if (i >= r->nhdrs)
		return -1;
	*name = r->text + r->hdrs[i].name;
	*value = r->text + r->hdrs[i].value;
	return 0;
}

const char *http_header(const struct http_request *r, const char *name)
{
	for (size_t i = 0; i < r->nhdrs; i++)
		if (strcasecmp(r->text + r->hdrs[i].name, name) == 0)
			return r->text + r->hdrs[i].value;
	return NULL;
}

int http_content_type_is(const struct http_request *r, const char *mime)
{
	const char *ct = http_header(r, "Content-Type");
	if (!ct)
		return 0;
	size_t n = strlen(mime);
	if (strncasecmp(ct, mime, n) != 0)
		return 0;
	ct += n;
	while (*ct == ' ' || *ct == '\t')
		ct++;
	return *ct == '\0' || *ct == ';';
}

const char *http_body(const struct http_request *r, size_t *len)
{
	if (len)
		*len = r->body ? r->blen : 0;
	return r->body ? r->body : "";
}

const char *http_peer(const struct http_request *r)
{
	return conn_peer(r->c);
}

void http_peer_address(const struct http_request *r, char *out, size_t cap)
{
	struct stream *s = http_stream(r);
	const struct sockaddr *sa = s ? stream_peer_addr(s, NULL) : NULL;
	const void *a = NULL;
	if (sa && sa->sa_family == AF_INET)
		a = &((const struct sockaddr_in *)(const void *)sa)->sin_addr;
	else if (sa && sa->sa_family == AF_INET6)
		a = &((const struct sockaddr_in6 *)(const void *)sa)->sin6_addr;
	if (!a || !inet_ntop(sa->sa_family, a, out, (socklen_t)cap))
		snprintf(out, cap, "%s", http_peer(r)); /* a feed connection: "feed" */
}

const char *http_cid(const struct http_request *r)
{
	return r->cid;
}

struct stream *http_stream(const struct http_request *r)
{
	return r->c->s;
}

const struct http_client_cert *http_client_cert(struct http_request *r)
{
	struct http_conn *c = r->c;
	if (!c->cert_done && c->s && !c->closed) {
		c->cert_done = 1;
		SSL *ssl = stream_ssl(c->s);
		if (ssl && (c->cert = malloc(sizeof *c->cert)) != NULL &&
		    !http_cert_identity(ssl, c->cert)) {
			free(c->cert);
			c->cert = NULL;
		}
	}
	return c->cert;
}
