/* SPDX-License-Identifier: ISC */
/* memmem() and strptime() are behind _GNU_SOURCE in glibc. */
#define _GNU_SOURCE
#include "tghttp.h"

#include "tgnet.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

void tghttp_resp_free(struct tghttp_resp *r)
{
	free(r->body);
	r->body = NULL;
	r->len = 0;
}

/* Copies the value (len bytes) into out as printable ASCII, trimmed. */
static void copy_text(const char *v, size_t len, char *out, size_t cap)
{
	while (len && (*v == ' ' || *v == '\t'))
		v++, len--;
	while (len && (v[len - 1] == ' ' || v[len - 1] == '\t'))
		len--;
	size_t o = 0;
	for (size_t i = 0; i < len && o + 1 < cap; i++)
		out[o++] = isprint((unsigned char)v[i]) ? v[i] : '?';
	out[o] = '\0';
}

/* Retry-After (RFC 9110 section 10.2.3): delta-seconds or an HTTP-date; -1 if neither. */
static long retry_after(const char *v)
{
	char *end;
	long s = strtol(v, &end, 10);
	if (end != v && *end == '\0' && s >= 0)
		return s;
	struct tm tm = {0};
	const char *e = strptime(v, "%a, %d %b %Y %H:%M:%S GMT", &tm);
	if (!e || *e)
		return -1;
	time_t t = timegm(&tm), now = time(NULL);
	return t > now ? (long)(t - now) : 0;
}

/* Decodes a chunked body from p (n bytes) into r->body. 0 done, 1 incomplete, -1 bad. */
static int dechunk(const char *p, size_t n, size_t max, struct tghttp_resp *r)
{
	size_t o = 0;
	for (;;) {
		const char *eol = memmem(p + o, n - o, "\r\n", 2);
		if (!eol)
			return 1;
		char *end;
		unsigned long sz = strtoul(p + o, &end, 16);
		if (end == p + o || (end != eol && *end != ';'))
			return -1;
		o = (size_t)(eol - p) + 2;
		if (sz == 0)
			return memmem(p + o, n - o, "\r\n", 2) ? 0 : 1; /* trailers end */
		if (sz > max || r->len + sz > max)
			return -1;
		if (n - o < sz + 2)
			return 1;
		if (memcmp(p + o + sz, "\r\n", 2) != 0)
			return -1;
		memcpy(r->body + r->len, p + o, sz);
		r->len += sz;
		r->body[r->len] = '\0';
		o += sz + 2;
	}
}

/* Parses buf; with at_eof 0, returns 1 when the answer is not complete yet. */
static int parse(const unsigned char *buf, size_t len, size_t max, int at_eof,
                 struct tghttp_resp *r, char *err, size_t errlen)
{
	const char *s = (const char *)buf;
	const char *hend = memmem(s, len, "\r\n\r\n", 4);
	if (!hend) {
		if (!at_eof && len < TGHTTP_HEAD_MAX)
			return 1;
		snprintf(err, errlen, "the answer is not HTTP (no end of headers)");
		return -1;
	}
	tghttp_resp_free(r);
	memset(r, 0, sizeof *r);
	r->retry_after = -1;
	const char *eol = memmem(s, (size_t)(hend - s) + 2, "\r\n", 2);
	if ((size_t)(eol - s) < 12 || memcmp(s, "HTTP/1.", 7) != 0 || s[8] != ' ' ||
	    !isdigit((unsigned char)s[9]) || !isdigit((unsigned char)s[10]) ||
	    !isdigit((unsigned char)s[11]) || (eol - s > 12 && s[12] != ' ')) {
		snprintf(err, errlen, "the answer is not HTTP (status line)");
		return -1;
	}
	r->status = (s[9] - '0') * 100 + (s[10] - '0') * 10 + (s[11] - '0');
	if (eol - s > 13)
		copy_text(s + 13, (size_t)(eol - s - 13), r->reason, sizeof r->reason);
	long long clen = -1;
	int chunked = 0;
	for (const char *h = eol + 2; h < hend + 2;) {
		const char *e = memmem(h, (size_t)(hend + 2 - h), "\r\n", 2);
		const char *colon = memchr(h, ':', (size_t)(e - h));
		if (!colon) {
			snprintf(err, errlen, "the answer is not HTTP (header line)");
			return -1;
		}
		size_t nl = (size_t)(colon - h);
		char v[128];
		copy_text(colon + 1, (size_t)(e - colon - 1), v, sizeof v);
		if (nl == 14 && strncasecmp(h, "Content-Length", nl) == 0) {
			char *end;
			clen = strtoll(v, &end, 10);
			if (end == v || *end || clen < 0) {
				snprintf(err, errlen, "bad Content-Length");
				return -1;
			}
		} else if (nl == 17 && strncasecmp(h, "Transfer-Encoding", nl) == 0) {
			chunked = strcasecmp(v, "chunked") == 0;
		} else if (nl == 12 && strncasecmp(h, "Content-Type", nl) == 0) {
			snprintf(r->content_type, sizeof r->content_type, "%s", v);
		} else if (nl == 11 && strncasecmp(h, "Retry-After", nl) == 0) {
			r->retry_after = retry_after(v);
		}
		h = e + 2;
	}
	const char *b = hend + 4;
	size_t have = len - (size_t)(b - s);
	if (!chunked && clen > (long long)max) {
		snprintf(err, errlen, "the answer's body is above %zu bytes", max);
		return -1;
	}
	if (!chunked && clen >= 0 && have < (size_t)clen) {
		if (!at_eof)
			return 1;
		snprintf(err, errlen, "the answer was cut short (%zu of %lld bytes)", have, clen);
		return -1;
	}
	if (!chunked && clen < 0 && !at_eof)
		return 1;
	size_t blen = chunked ? max : clen >= 0 ? (size_t)clen : have;
	if (!chunked && blen > max) {
		snprintf(err, errlen, "the answer's body is above %zu bytes", max);
		return -1;
	}
	if (!(r->body = malloc(blen + 1))) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	r->body[0] = '\0';
	if (chunked) {
		int c = dechunk(b, have, max, r);
		if (c == 1 && !at_eof)
			return 1;
		if (c != 0) {
			snprintf(err, errlen, "bad chunked body in the answer");
			tghttp_resp_free(r);
			return -1;
		}
		return 0;
	}
	memcpy(r->body, b, blen);
	r->body[blen] = '\0';
	r->len = blen;
	return 0;
}

int tghttp_parse(const unsigned char *buf, size_t len, size_t max, struct tghttp_resp *r, char *err,
                 size_t errlen)
{
	return parse(buf, len, max, 1, r, err, errlen);
}

int tghttp_exchange(int fd, SSL *ssl, const struct tghttp_req *q, struct tghttp_resp *r, char *err,
                    size_t errlen)
{
	char head[4096];
	int n = q->body ? snprintf(head, sizeof head,
	                           "%s %s HTTP/1.1\r\nHost: %s\r\nConnection: close\r\n"
	                           "User-Agent: telgate-cti\r\n%sContent-Type: %s\r\n"
	                           "Content-Length: %zu\r\n\r\n",
	                           q->method, q->path, q->host, q->headers ? q->headers : "",
	                           q->content_type, q->len)
	                : snprintf(head, sizeof head,
	                           "%s %s HTTP/1.1\r\nHost: %s\r\nConnection: close\r\n"
	                           "User-Agent: telgate-cti\r\n%s\r\n",
	                           q->method, q->path, q->host, q->headers ? q->headers : "");
	memset(r, 0, sizeof *r);
	if (n < 0 || (size_t)n >= sizeof head) {
		snprintf(err, errlen, "request too long");
		return -1;
	}
	long long deadline = tgnet_now_ms() + (q->timeout_ms > 0 ? q->timeout_ms : 10000);
	int rc = tgnet_write_all(fd, ssl, head, (size_t)n);
	if (rc == 0 && q->body)
		rc = tgnet_write_all(fd, ssl, q->body, q->len);
	explicit_bzero(head, sizeof head); /* it may carry an Authorization header */
	if (rc != 0) {
		snprintf(err, errlen, "cannot send the request: connection closed");
		return -1;
	}
	/* A chunked answer carries a few bytes per chunk beyond its body: allow for them. */
	size_t cap = TGHTTP_HEAD_MAX + q->max + q->max / 8 + 64, len = 0;
	unsigned char *buf = malloc(cap + 1);
	if (!buf) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	for (;;) {
		long got = len < cap ? tgnet_read(fd, ssl, buf + len, cap - len, deadline) : 0;
		if (got < 0) {
			snprintf(err, errlen, got == -2 ? "no answer in time" : "connection lost");
			rc = -1;
			break;
		}
		len += (size_t)got;
		rc = parse(buf, len, q->max, got == 0, r, err, errlen);
		if (rc != 1)
			break;
	}
	free(buf);
	if (rc != 0)
		tghttp_resp_free(r);
	return rc;
}
