/* SPDX-License-Identifier: ISC */
#include "core/http_int.h"
#include "core/util.h"

#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* libhttp-parser is fed only what it has not seen: frame() is called again with the same
 * start of input and more bytes after it (stream.h), and c->looked says how far the
 * parser got. Every piece the callbacks get is copied at once, since the stream may move
 * its input between calls. */

static struct http_conn *conn_of(http_parser *p)
{
	return p->data;
}

/* The text buffer holds the URL, the header names and values (NUL-terminated) and, after
 * the header section, copies of the path and the query: at most twice the header
 * section, plus the NULs. */
static size_t text_limit(const struct http_conn *c)
{
	return 2 * c->srv->max_header + 2 * HTTP_MAX_HEADERS + 8;
}

/* Makes room for n more bytes and a NUL. */
static int text_reserve(struct http_conn *c, size_t n)
{
	struct http_request *r = &c->req;
	if (r->tlen + n + 1 <= r->tcap)
		return 0;
	size_t limit = text_limit(c), cap = r->tcap ? r->tcap : 1024;
	while (cap < r->tlen + n + 1)
		cap *= 2;
	if (cap > limit)
		cap = limit;
	if (r->tlen + n + 1 > cap)
		return -1;
	char *t = realloc(r->text, cap);
	if (!t)
		return -1;
	r->text = t;
	r->tcap = cap;
	return 0;
}

static int text_add(struct http_conn *c, const char *at, size_t n)
{
	struct http_request *r = &c->req;
	if (text_reserve(c, n) != 0)
		return -1;
	memcpy(r->text + r->tlen, at, n);
	r->tlen += n;
	r->text[r->tlen] = '\0';
	return 0;
}

/* Appends a copy of n bytes already in the buffer at off, and a NUL (by offset: the
 * buffer may move). */
static int text_copy(struct http_conn *c, size_t off, size_t n)
{
	struct http_request *r = &c->req;
	if (text_reserve(c, n + 1) != 0)
		return -1;
	memcpy(r->text + r->tlen, r->text + off, n);
	r->tlen += n;
	r->text[r->tlen++] = '\0';
	r->text[r->tlen] = '\0';
	return 0;
}

/* Ends the URL, name or value being built with its NUL (a name without a value gets an
 * empty one). */
static int end_piece(struct http_conn *c)
{
	struct http_request *r = &c->req;
	int rc = 0;
	if (r->last == LAST_FIELD) {
		rc = text_add(c, "", 1);
		r->hdrs[r->nhdrs - 1].value = r->tlen;
	}
	if (r->last != LAST_NONE)
		rc |= text_add(c, "", 1);
	r->last = LAST_NONE;
	return rc;
}

static void req_reset(struct http_conn *c)
{
	struct http_request *r = &c->req;
	/* Buffers stay for the next request, except a large body. */
	if (r->bcap > 16384) {
		free(r->body);
		r->body = NULL;
		r->bcap = 0;
	}
	char *text = r->text, *body = r->body, *rh = r->rh;
	struct http_hdr *hdrs = r->hdrs;
	size_t tcap = r->tcap, bcap = r->bcap, rhcap = r->rhcap, hdrcap = r->hdrcap;
	memset(r, 0, sizeof *r);
	r->c = c;
	r->text = text;
	r->tcap = tcap;
	r->body = body;
	r->bcap = bcap;
	r->rh = rh;
	r->rhcap = rhcap;
	r->hdrs = hdrs;
	r->hdrcap = hdrcap;
	r->start_us = tg_mono_us();
	log_cid_new(r->cid);
}

static int on_message_begin(http_parser *p)
{
	conn_of(p)->phase = PH_HEADERS;
	return 0;
}

static int on_url(http_parser *p, const char *at, size_t n)
{
	struct http_conn *c = conn_of(p);
	c->req.last = LAST_URL;
	c->req.url_len += n;
	return text_add(c, at, n);
}

static int on_header_field(http_parser *p, const char *at, size_t n)
{
	struct http_conn *c = conn_of(p);
	struct http_request *r = &c->req;
	if (c->phase != PH_HEADERS)
		return 0; /* a chunked body's trailer: read and dropped */
	if (r->last != LAST_FIELD) {
		if (end_piece(c) != 0)
			return -1;
		if (r->nhdrs == HTTP_MAX_HEADERS) {
			r->refuse = 431;
			return -1;
		}
		if (r->nhdrs == r->hdrcap) {
			size_t cap = r->hdrcap ? 2 * r->hdrcap : 16;
			struct http_hdr *h = realloc(r->hdrs, cap * sizeof *h);
			if (!h)
				return -1;
			r->hdrs = h;
			r->hdrcap = cap;
		}
		r->hdrs[r->nhdrs].name = r->tlen;
		r->hdrs[r->nhdrs].value = 0;
		r->nhdrs++;
		r->last = LAST_FIELD;
	}
	return text_add(c, at, n);
}

static int on_header_value(http_parser *p, const char *at, size_t n)
{
	struct http_conn *c = conn_of(p);
	struct http_request *r = &c->req;
	if (c->phase != PH_HEADERS)
		return 0;
	if (r->last != LAST_VALUE) {
		if (r->last != LAST_FIELD || text_add(c, "", 1) != 0)
			return -1;
		r->hdrs[r->nhdrs - 1].value = r->tlen;
		r->last = LAST_VALUE;
	}
	return text_add(c, at, n);
}

/* Copies the path and the query out of the URL, NUL-terminated. Returns 0, or -1 for a
 * URL that is not a request target (RFC 9112 §3.2). */
static int split_url(struct http_conn *c)
{
	struct http_request *r = &c->req;
	size_t uo = r->url_off, ul = r->url_len;
	size_t po = 0, pl = 0, qo = 0, ql = 0;
	const char *u = r->text + uo;
	if (ul == 0)
		return -1;
	if (c->p.method == HTTP_CONNECT || (ul == 1 && u[0] == '*')) {
		/* authority-form, asterisk-form: the whole target */
		po = uo;
		pl = ul;
	} else if (u[0] == '/') {
		/* origin-form: path, then '?' query; a fragment is not sent by clients, and
		 * is cut off if one is */
		size_t i = 0;
		while (i < ul && u[i] != '?' && u[i] != '#')
			i++;
		po = uo;
		pl = i;
		if (i < ul && u[i] == '?') {
			size_t j = i + 1;
			while (j < ul && u[j] != '#')
				j++;
			qo = uo + i + 1;
			ql = j - i - 1;
		}
	} else {
		/* absolute-form: "http://host/path?query" (RFC 9112 §3.2.2) */
		struct http_parser_url pu;
		http_parser_url_init(&pu);
		if (ul > UINT16_MAX || http_parser_parse_url(u, ul, 0, &pu) != 0 ||
		    !(pu.field_set & (1 << UF_HOST)))
			return -1;
		if (pu.field_set & (1 << UF_PATH)) {
			po = uo + pu.field_data[UF_PATH].off;
			pl = pu.field_data[UF_PATH].len;
		}
		if (pu.field_set & (1 << UF_QUERY)) {
			qo = uo + pu.field_data[UF_QUERY].off;
			ql = pu.field_data[UF_QUERY].len;
		}
	}
	r->path_off = r->tlen;
	if (pl == 0 ? text_add(c, "/", 2) != 0 : text_copy(c, po, pl) != 0)
		return -1;
	if (ql) {
		r->query_off = r->tlen;
		if (text_copy(c, qo, ql) != 0)
			return -1;
	}
	return 0;
}

static int on_headers_complete(http_parser *p)
{
	struct http_conn *c = conn_of(p);
	struct http_request *r = &c->req;
	struct http_server *srv = c->srv;
	if (end_piece(c) != 0)
		return -1;
	/* Values lose their trailing whitespace (the parser skips the leading). */
	for (size_t i = 0; i < r->nhdrs; i++) {
		char *v = r->text + r->hdrs[i].value;
		size_t n = strlen(v);
		while (n && (v[n - 1] == ' ' || v[n - 1] == '\t'))
			v[--n] = '\0';
	}
	r->method = http_method_str((enum http_method)p->method);
	r->head = p->method == HTTP_HEAD;
	r->keep_alive = http_should_keep_alive(p);
	r->upgrade = p->upgrade;
	r->chunked = (p->flags & F_CHUNKED) != 0;
	if (p->http_major != 1) {
		r->refuse = 505;
		return -1;
	}
	r->version = p->http_minor >= 1 ? 11 : 10;
	if (split_url(c) != 0) {
		r->refuse = 400;
		return -1;
	}
	/* RFC 9112 §3.2: an HTTP/1.1 request has exactly one Host; more than one is 400
	 * for every version. */
	size_t hosts = 0;
	for (size_t i = 0; i < r->nhdrs; i++)
		hosts += strcasecmp(r->text + r->hdrs[i].name, "Host") == 0;
	if (hosts > 1 || (r->version == 11 && hosts == 0)) {
		r->refuse = 400;
		return -1;
	}
	int has_body = r->chunked || (p->content_length != ULLONG_MAX && p->content_length > 0);
	if (!r->chunked && p->content_length != ULLONG_MAX) {
		if (p->content_length > srv->max_body) {
			r->refuse = 413;
			return -1;
		}
		if (p->content_length + 1 > r->bcap) {
			char *b = realloc(r->body, p->content_length + 1);
			if (!b)
				return -1;
			r->body = b;
			r->bcap = p->content_length + 1;
		}
	}
	c->phase = PH_BODY;
	const char *expect = http_header(r, "Expect");
	if (expect && has_body && r->version == 11 && strcasecmp(expect, "100-continue") == 0)
		http_continue(c);
	return 0;
}

static int on_body(http_parser *p, const char *at, size_t n)
{
	struct http_conn *c = conn_of(p);
	struct http_request *r = &c->req;
	if (n > c->srv->max_body - r->blen) {
		r->refuse = 413;
		return -1;
	}
	if (r->blen + n + 1 > r->bcap) {
		size_t cap = r->bcap ? r->bcap : 1024;
		while (cap < r->blen + n + 1)
			cap *= 2;
		if (cap > c->srv->max_body + 1)
			cap = c->srv->max_body + 1;
		char *b = realloc(r->body, cap);
		if (!b)
			return -1;
		r->body = b;
		r->bcap = cap;
	}
	memcpy(r->body + r->blen, at, n);
	r->blen += n;
	return 0;
}

static int on_message_complete(http_parser *p)
{
	struct http_conn *c = conn_of(p);
	struct http_request *r = &c->req;
	if (r->body)
		r->body[r->blen] = '\0';
	c->phase = PH_DONE;
	/* One request at a time: the parser stops here, execute returns its length, and
	 * the next request is parsed when this one is answered. */
	http_parser_pause(p, 1);
	return 0;
}

static const http_parser_settings settings = {
    .on_message_begin = on_message_begin,
    .on_url = on_url,
    .on_header_field = on_header_field,
    .on_header_value = on_header_value,
    .on_headers_complete = on_headers_complete,
    .on_body = on_body,
    .on_message_complete = on_message_complete,
};

static long refuse(struct http_conn *c, int status)
{
	c->req.refuse = status;
	http_refuse(c, status);
	return STREAM_FRAME_BROKEN;
}

long http_parse_frame(struct http_conn *c, const unsigned char *buf, size_t len)
{
	struct http_server *srv = c->srv;
	struct http_request *r = &c->req;
	if (c->phase == PH_IDLE && c->looked == 0) {
		req_reset(c);
		http_parser_init(&c->p, HTTP_REQUEST);
		c->p.data = c;
	}
	while (c->looked < len && c->phase != PH_DONE) {
		size_t n = len - c->looked;
		if (c->phase != PH_BODY) {
			/* The header section is fed no further than its limit. */
			if (c->looked >= srv->max_header)
				return refuse(c, 431);
			if (n > srv->max_header - c->looked)
				n = srv->max_header - c->looked;
		}
		size_t got =
		    http_parser_execute(&c->p, &settings, (const char *)buf + c->looked, n);
		enum http_errno e = HTTP_PARSER_ERRNO(&c->p);
		if (e == HPE_PAUSED) {
			c->looked += got;
			break;
		}
		if (e != HPE_OK || got != n)
			return refuse(c, r->refuse                  ? r->refuse
			                 : e == HPE_HEADER_OVERFLOW ? 431
			                                            : 400);
		c->looked += got;
	}
	if (c->phase == PH_DONE) {
		size_t n = c->looked;
		c->looked = 0;
		return (long)n;
	}
	if (c->phase != PH_BODY && c->looked >= srv->max_header)
		return refuse(c, 431);
	/* A chunked body's framing counts too: the request as a whole is bounded. */
	if (c->looked > srv->max_header + srv->max_body)
		return refuse(c, 413);
	if (c->phase == PH_BODY && !r->chunked && c->p.content_length != ULLONG_MAX)
		conn_need(c, c->looked + c->p.content_length);
	return STREAM_FRAME_MORE;
}
