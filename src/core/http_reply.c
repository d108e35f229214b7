/* SPDX-License-Identifier: ISC */
#include "core/http_int.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

/* How the body of an answer is delimited. */
enum body_mode {
	BODY_LENGTH,  /* Content-Length */
	BODY_NONE,    /* 204, 304: no body, no length */
	BODY_CHUNKED, /* streaming to HTTP/1.1: Transfer-Encoding: chunked */
	BODY_CLOSE,   /* streaming to HTTP/1.0: until the connection closes */
};

const char *http_reason(int status)
{
	const char *s = http_status_str((enum http_status)status);
	return s && s[0] != '<' ? s : "Unknown";
}

/* RFC 9110 §5.6.2 token characters. */
static int is_tchar(unsigned char ch)
{
	return (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
	       (ch && strchr("!#$%&'*+-.^_`|~", ch));
}

/* A field value without control characters other than HTAB (no CR, no LF: no header
 * injection). */
static int valid_value(const char *v)
{
	for (const unsigned char *p = (const unsigned char *)v; *p; p++)
		if ((*p < 0x20 && *p != '\t') || *p == 0x7f)
			return 0;
	return 1;
}

/* IMF-fixdate (RFC 9110 §5.6.7) of t, without the locale. */
void http_date_format(int64_t t, char out[32])
{
	static const char days[7][4] = {"Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"};
	static const char mons[12][4] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
	                                 "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
	time_t tt = (time_t)t;
	struct tm tm;
	gmtime_r(&tt, &tm);
	snprintf(out, 32, "%s, %02d %s %04d %02d:%02d:%02d GMT", days[tm.tm_wday % 7], tm.tm_mday,
	         mons[tm.tm_mon % 12], tm.tm_year + 1900, tm.tm_hour, tm.tm_min, tm.tm_sec);
}

/* The status line and header section, in a new buffer (*len bytes); NULL without
 * memory. */
static char *build_head(struct http_request *r, int status, const char *ctype, enum body_mode mode,
                        size_t len, size_t *outlen)
{
	size_t cap = 256 + (ctype ? strlen(ctype) : 0) + r->rhlen;
	char *h = malloc(cap);
	if (!h)
		return NULL;
	char date[32];
	http_date_format((int64_t)time(NULL), date);
	int n =
	    snprintf(h, cap, "HTTP/1.1 %d %s\r\nDate: %s\r\n", status, http_reason(status), date);
	if (ctype && mode != BODY_NONE)
		n += snprintf(h + n, cap - (size_t)n, "Content-Type: %s\r\n", ctype);
	if (mode == BODY_LENGTH)
		n += snprintf(h + n, cap - (size_t)n, "Content-Length: %zu\r\n", len);
	else if (mode == BODY_CHUNKED)
		n += snprintf(h + n, cap - (size_t)n, "Transfer-Encoding: chunked\r\n");
	if (r->close)
		n += snprintf(h + n, cap - (size_t)n, "Connection: close\r\n");
	else if (r->version == 10)
		n += snprintf(h + n, cap - (size_t)n, "Connection: keep-alive\r\n");
	if (r->rhlen) {
		memcpy(h + n, r->rh, r->rhlen);
		n += (int)r->rhlen;
	}
	memcpy(h + n, "\r\n", 2);
	*outlen = (size_t)n + 2;
	return h;
}

int http_add_header(struct http_request *r, const char *name, const char *value)
{
	static const char *const own[] = {"Content-Length", "Transfer-Encoding", "Connection",
	                                  "Date"};
	if (r->astate != AS_NONE || !name[0] || !valid_value(value))
		return -1;
	for (const unsigned char *p = (const unsigned char *)name; *p; p++)
		if (!is_tchar(*p))
			return -1;
	/* By prefix: libhttp-parser 2.9 (and so a client built on it) takes a field named
	 * "Transfer-Encoding###" for Transfer-Encoding, and would then see two framings. */
	for (size_t i = 0; i < sizeof own / sizeof own[0]; i++)
		if (strncasecmp(name, own[i], strlen(own[i])) == 0)
			return -1;
	size_t nl = strlen(name), vl = strlen(value), need = nl + vl + 4;
	if (r->rhlen + need > HTTP_RESP_HEADERS_MAX)
		return -1;
	if (r->rhlen + need > r->rhcap) {
		size_t cap = r->rhcap ? r->rhcap : 256;
		while (cap < r->rhlen + need)
			cap *= 2;
		char *p = realloc(r->rh, cap);
		if (!p)
			return -1;
		r->rh = p;
		r->rhcap = cap;
	}
	char *p = r->rh + r->rhlen;
	memcpy(p, name, nl);
	memcpy(p + nl, ": ", 2);
	memcpy(p + nl + 2, value, vl);
	memcpy(p + nl + 2 + vl, "\r\n", 2);
	r->rhlen += need;
	return 0;
}

static int connection_gone(const struct http_request *r)
{
	return conn_closing(r->c);
}

int http_reply(struct http_request *r, int status, const char *ctype, const void *body, size_t len)
{
	if (r->astate != AS_NONE || status < 200 || status > 599 || (ctype && !valid_value(ctype)))
		return -EINVAL;
	r->status = status;
	int rc = -EPIPE;
	if (!connection_gone(r)) {
		int nobody = status == 204 || status == 304;
		size_t hl;
		char *h = build_head(r, status, ctype, nobody ? BODY_NONE : BODY_LENGTH, len, &hl);
		if (h) {
			size_t bl = nobody || r->head ? 0 : len;
			if (conn_write(r->c, h, hl, body, bl) == 0) {
				r->bytes += hl + bl;
				rc = 0;
			}
			free(h);
		}
	}
	http_finish(r); /* r may be gone */
	return rc;
}

int http_reply_status(struct http_request *r, int status)
{
	char body[96];
	int n = snprintf(body, sizeof body, "%d %s\n", status, http_reason(status));
	return http_reply(r, status, "text/plain; charset=utf-8", body, (size_t)n);
}

int http_reply_json(struct http_request *r, int status, const json_t *json)
{
	char *s = json ? json_dumps(json, JSON_COMPACT) : NULL;
	if (!s)
		return r->astate == AS_NONE ? http_reply_status(r, 500) : -EINVAL;
	int rc = http_reply(r, status, "application/json", s, strlen(s));
	free(s);
	return rc;
}

json_t *http_body_json(const struct http_request *r, char *err, size_t errlen)
{
	size_t len;
	const char *b = http_body(r, &len);
	if (len == 0) {
		snprintf(err, errlen, "empty body");
		return NULL;
	}
	json_error_t je;
	json_t *j = json_loadb(b, len, JSON_REJECT_DUPLICATES, &je);
	if (!j)
		snprintf(err, errlen, "%s (line %d, column %d)", je.text, je.line, je.column);
	return j;
}

int http_stream_begin(struct http_request *r, int status, const char *ctype)
{
	if (r->astate != AS_NONE || status < 200 || status > 599 || status == 204 ||
	    status == 304 || (ctype && !valid_value(ctype)))
		return -EINVAL;
	http_hold(r);
	r->status = status;
	r->astate = AS_STREAMING;
	if (connection_gone(r))
		return -EPIPE;
	enum body_mode mode = BODY_CHUNKED;
	if (r->version < 11) {
		mode = BODY_CLOSE;
		r->close = 1;
	}
	size_t hl;
	char *h = build_head(r, status, ctype, mode, 0, &hl);
	if (!h)
		return -EPIPE;
	int rc = conn_write(r->c, h, hl, NULL, 0);
	free(h);
	if (rc != 0)
		return -EPIPE;
	r->bytes += hl;
	return 0;
}

int http_stream_chunk(struct http_request *r, const void *data, size_t len)
{
	if (r->astate != AS_STREAMING)
		return -EINVAL;
	if (connection_gone(r))
		return -EPIPE;
	if (len == 0 || r->head)
		return 0;
	int rc;
	size_t sent;
	if (r->version < 11) {
		rc = conn_write(r->c, data, len, NULL, 0);
		sent = len;
	} else {
		/* size line, data and CRLF as one write when small (one TLS record) */
		char buf[4096];
		int n = snprintf(buf, 32, "%zx\r\n", len);
		sent = (size_t)n + len + 2;
		if (sent <= sizeof buf) {
			memcpy(buf + n, data, len);
			memcpy(buf + n + len, "\r\n", 2);
			rc = conn_write(r->c, buf, sent, NULL, 0);
		} else {
			rc = conn_write(r->c, buf, (size_t)n, data, len);
			if (rc == 0)
				rc = conn_write(r->c, "\r\n", 2, NULL, 0);
		}
	}
	if (rc != 0)
		return -EPIPE;
	r->bytes += sent;
	return 0;
}

int http_stream_end(struct http_request *r)
{
	if (r->astate != AS_STREAMING)
		return -EINVAL;
	int rc = -EPIPE;
	if (!connection_gone(r)) {
		rc = 0;
		if (r->version >= 11 && !r->head) {
			rc = conn_write(r->c, "0\r\n\r\n", 5, NULL, 0) == 0 ? 0 : -EPIPE;
			if (rc == 0)
				r->bytes += 5;
		}
	}
	http_finish(r); /* r may be gone */
	return rc;
}

void http_continue(struct http_conn *c)
{
	static const char cont[] = "HTTP/1.1 100 Continue\r\n\r\n";
	(void)conn_write(c, cont, sizeof cont - 1, NULL, 0);
	c->req.bytes += sizeof cont - 1;
}

void http_refuse(struct http_conn *c, int status)
{
	struct http_request *r = &c->req;
	struct http_server *srv = c->srv;
	r->status = status;
	r->close = 1;
	r->head = 0;
	r->rhlen = 0;
	r->astate = AS_DONE;
	if (!r->version)
		r->version = 11;
	char body[96], why[96];
	int n = snprintf(body, sizeof body, "%d %s\n", status, http_reason(status));
	size_t hl;
	char *h = build_head(r, status, "text/plain; charset=utf-8", BODY_LENGTH, (size_t)n, &hl);
	if (h && conn_write(c, h, hl, body, (size_t)n) == 0)
		r->bytes += hl + (size_t)n;
	free(h);
	if (srv->o.stats) {
		atomic_fetch_add_explicit(&srv->o.stats->requests, 1, memory_order_relaxed);
		atomic_fetch_add_explicit(&srv->o.stats->bad_requests, 1, memory_order_relaxed);
	}
	http_access_log(r);
	snprintf(why, sizeof why, "request refused: %d %s", status, http_reason(status));
	conn_close_after_flush(c, why);
}
