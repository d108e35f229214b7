/* SPDX-License-Identifier: ISC */
/*
 * tghttp: the smallest HTTP/1.1 client the enrolment needs (RFC 9112): one request per
 * connection (Connection: close), over TCP or TLS (tgnet.h), the answer read whole up to a
 * maximum size, with Content-Length, chunked or read-until-close bodies. Used for the trust
 * list over HTTP (port 6970) and for EST (tgest.h).
 *
 * Threads: any. Ownership: a response's body is malloc'ed (tghttp_resp_free); the request
 * strings stay the caller's. Errors: -1 with err (a transport problem or an answer that is
 * not HTTP); an HTTP error status is not an error here (the caller reads r->status).
 */
#ifndef TGHTTP_H
#define TGHTTP_H

#include <openssl/ssl.h>
#include <stddef.h>

#define TGHTTP_HEAD_MAX 16384 /* bytes of status line and headers at most */

struct tghttp_resp {
	int status;             /* 100..599 */
	char reason[128];       /* the reason phrase, printable ASCII */
	char content_type[128]; /* "" when absent */
	long retry_after;       /* Retry-After in seconds (delta form), -1 when absent */
	unsigned char *body;    /* malloc'ed, NUL-terminated (not counted in len) */
	size_t len;
};

struct tghttp_req {
	const char *method; /* "GET", "POST" */
	const char *host;   /* the Host header */
	const char *path;
	const char *headers;      /* extra header lines, each ending in CRLF; NULL = none */
	const char *content_type; /* for a body */
	const void *body;
	size_t len;
	size_t max;     /* the largest body accepted, bytes */
	int timeout_ms; /* for the whole exchange */
};

/* Sends q on fd (TLS when ssl) and reads the answer into *r. */
int tghttp_exchange(int fd, SSL *ssl, const struct tghttp_req *q, struct tghttp_resp *r, char *err,
                    size_t errlen);

/* Parses a whole answer (len bytes: head and body, as read until the server closed)
 * into *r: 0, or -1 with err (not HTTP, a body over max, a bad chunk). Pure: for tests. */
int tghttp_parse(const unsigned char *buf, size_t len, size_t max, struct tghttp_resp *r, char *err,
                 size_t errlen);

void tghttp_resp_free(struct tghttp_resp *r);

#endif
