/* SPDX-License-Identifier: ISC */
#include "tgtftp.h"

#include "tgnet.h"

#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

enum { OP_RRQ = 1, OP_DATA = 3, OP_ACK = 4, OP_ERROR = 5, OP_OACK = 6 };
#define BLK_MAX 65464     /* RFC 2348 */
#define REFUSED_OPTIONS 2 /* transfer(): the server answered ERROR 8 */

struct xfer {
	int fd;
	struct sockaddr_storage srv, peer;
	socklen_t srvlen, peerlen;
	int tid;                          /* the peer's address and port are known */
	unsigned char last[4 + 512 + 64]; /* the packet to send again: RRQ or ACK */
	size_t lastlen;
	unsigned char *data;
	size_t len, max;
};

static int same_host(const struct sockaddr_storage *a, const struct sockaddr_storage *b)
{
	if (a->ss_family != b->ss_family)
		return 0;
	if (a->ss_family == AF_INET)
		return ((const struct sockaddr_in *)a)->sin_addr.s_addr ==
		       ((const struct sockaddr_in *)b)->sin_addr.s_addr;
	return memcmp(&((const struct sockaddr_in6 *)a)->sin6_addr,
	              &((const struct sockaddr_in6 *)b)->sin6_addr, sizeof(struct in6_addr)) == 0;
}

static int same_port(const struct sockaddr_storage *a, const struct sockaddr_storage *b)
{
	return a->ss_family == AF_INET ? ((const struct sockaddr_in *)a)->sin_port ==
	                                     ((const struct sockaddr_in *)b)->sin_port
	                               : ((const struct sockaddr_in6 *)a)->sin6_port ==
	                                     ((const struct sockaddr_in6 *)b)->sin6_port;
}

static void send_last(struct xfer *x)
{
	const struct sockaddr_storage *to = x->tid ? &x->peer : &x->srv;
	(void)sendto(x->fd, x->last, x->lastlen, 0, (const struct sockaddr *)to,
	             x->tid ? x->peerlen : x->srvlen);
}

static void send_ack(struct xfer *x, unsigned block)
{
	x->last[0] = 0;
	x->last[1] = OP_ACK;
	x->last[2] = (unsigned char)(block >> 8);
	x->last[3] = (unsigned char)block;
	x->lastlen = 4;
	send_last(x);
}

static void send_error(int fd, const struct sockaddr_storage *to, socklen_t tolen, unsigned code,
                       const char *msg)
{
	unsigned char p[64] = {0, OP_ERROR, 0, (unsigned char)code};
	size_t n = strlen(msg) + 1;
	memcpy(p + 4, msg, n);
	(void)sendto(fd, p, 4 + n, 0, (const struct sockaddr *)to, tolen);
}

/* The value of option name in an OACK's body (p, n bytes): NULL if absent or malformed. */
static const char *oack_value(const unsigned char *p, size_t n, const char *name)
{
	const char *s = (const char *)p, *end = s + n;
	while (s < end) {
		const char *k = s, *kz = memchr(k, 0, (size_t)(end - k));
		if (!kz)
			return NULL;
		const char *v = kz + 1, *vz = v < end ? memchr(v, 0, (size_t)(end - v)) : NULL;
		if (!vz)
			return NULL;
		if (strcasecmp(k, name) == 0)
			return v;
		s = vz + 1;
	}
	return NULL;
}

/* One attempt. 0 done, REFUSED_OPTIONS, or -1 with err. */
static int transfer(struct xfer *x, const struct tgtftp_opts *o, const char *file, int with_opts,
                    char *err, size_t errlen)
{
	unsigned want = o->blksize ? o->blksize : 1428, blk = 512, expect = 1;
	int ms = o->timeout_ms > 0 ? o->timeout_ms : 1000,
	    retries = o->retries > 0 ? o->retries : 5;
	int n = with_opts ? snprintf((char *)x->last + 2, sizeof x->last - 2,
	                             "%s%coctet%cblksize%c%u%ctsize%c0", file, 0, 0, 0, want, 0, 0)
	                  : snprintf((char *)x->last + 2, sizeof x->last - 2, "%s%coctet", file, 0);
	x->last[0] = 0;
	x->last[1] = OP_RRQ;
	x->lastlen = (size_t)n + 3; /* with the last NUL */
	x->tid = 0;
	x->len = 0;
	send_last(x);
	unsigned char pkt[4 + BLK_MAX];
	for (int sends = 1;;) {
		int w = tgnet_wait(x->fd, NULL, 0, ms);
		if (w < 0) {
			snprintf(err, errlen, "TFTP: %s", strerror(errno));
			return -1;
		}
		if (w == 0) {
			if (sends >= retries) {
				snprintf(err, errlen, "TFTP: no answer for %s after %d tries", file,
				         sends);
				return -1;
			}
			send_last(x);
			sends++;
			continue;
		}
		struct sockaddr_storage from;
		socklen_t fromlen = sizeof from;
		ssize_t got =
		    recvfrom(x->fd, pkt, sizeof pkt, 0, (struct sockaddr *)&from, &fromlen);
		if (got < 4)
			continue; /* nothing a server would send */
		if (!x->tid && same_host(&from, &x->srv)) {
			x->peer = from;
			x->peerlen = fromlen;
			x->tid = 1;
		} else if (!x->tid || !same_host(&from, &x->peer) || !same_port(&from, &x->peer)) {
			send_error(x->fd, &from, fromlen, 5, "Unknown transfer ID");
			continue;
		}
		unsigned op = (unsigned)pkt[0] << 8 | pkt[1], num = (unsigned)pkt[2] << 8 | pkt[3];
		if (op == OP_ERROR) {
			if (num == 8 && with_opts && x->len == 0)
				return REFUSED_OPTIONS;
			const char *msg = (const char *)pkt + 4;
			int ml = (int)strnlen(msg, (size_t)got - 4);
			snprintf(err, errlen, "TFTP: the server refused %s: error %u: %.*s", file,
			         num, ml > 200 ? 200 : ml, msg);
			return -1;
		}
		if (op == OP_OACK && with_opts && expect == 1) {
			const char *b = oack_value(pkt + 2, (size_t)got - 2, "blksize");
			const char *t = oack_value(pkt + 2, (size_t)got - 2, "tsize");
			blk = b ? (unsigned)strtoul(b, NULL, 10) : 512;
			if (blk < 8 || blk > want) {
				send_error(x->fd, &x->peer, x->peerlen, 8, "bad blksize");
				snprintf(err, errlen, "TFTP: the server offered blksize %s", b);
				return -1;
			}
			if (t && strtoull(t, NULL, 10) > x->max) {
				send_error(x->fd, &x->peer, x->peerlen, 3, "file too large");
				snprintf(err, errlen, "TFTP: %s is above %zu bytes", file, x->max);
				return -1;
			}
			send_ack(x, 0);
			sends = 1;
			continue;
		}
		if (op != OP_DATA) {
			send_error(x->fd, &x->peer, x->peerlen, 4, "Illegal TFTP operation");
			snprintf(err, errlen, "TFTP: unexpected packet (opcode %u)", op);
			return -1;
		}
		size_t dl = (size_t)got - 4;
		if (num == ((expect - 1) & 0xffff)) {
			send_last(x); /* our ACK was lost: the same ACK again */
			continue;
		}
		if (num != (expect & 0xffff) || dl > blk)
			continue;
		if (x->len + dl > x->max) {
			send_error(x->fd, &x->peer, x->peerlen, 3, "file too large");
			snprintf(err, errlen, "TFTP: %s is above %zu bytes", file, x->max);
			return -1;
		}
		memcpy(x->data + x->len, pkt + 4, dl);
		x->len += dl;
		send_ack(x, num);
		sends = 1;
		expect++;
		if (dl < blk)
			return 0;
	}
}

int tgtftp_get(const struct tgtftp_opts *o, const char *file, unsigned char **out, size_t *len,
               char *err, size_t errlen)
{
	if (strlen(file) > 255 || (o->blksize && (o->blksize < 8 || o->blksize > BLK_MAX))) {
		snprintf(err, errlen, "TFTP: bad file name or blksize");
		return -1;
	}
	char ps[16];
	snprintf(ps, sizeof ps, "%d", o->port ? o->port : 69);
	struct addrinfo hints = {.ai_socktype = SOCK_DGRAM}, *res = NULL;
	int rc = getaddrinfo(o->host, ps, &hints, &res);
	if (rc != 0) {
		snprintf(err, errlen, "%s: %s", o->host, gai_strerror(rc));
		return -1;
	}
	struct xfer x = {.max = o->max, .srvlen = (socklen_t)res->ai_addrlen};
	memcpy(&x.srv, res->ai_addr, res->ai_addrlen);
	x.fd = socket(res->ai_family, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	freeaddrinfo(res);
	if (x.fd < 0 || !(x.data = malloc(o->max + 1))) {
		snprintf(err, errlen, "TFTP: %s", x.fd < 0 ? strerror(errno) : "out of memory");
		if (x.fd >= 0)
			close(x.fd);
		return -1;
	}
	rc = transfer(&x, o, file, 1, err, errlen);
	if (rc == REFUSED_OPTIONS)
		rc = transfer(&x, o, file, 0, err, errlen);
	close(x.fd);
	if (rc != 0) {
		free(x.data);
		return -1;
	}
	*out = x.data;
	*len = x.len;
	return 0;
}
