/* SPDX-License-Identifier: ISC */
/*
 * bench/sip_limit: the physical-limit row of bench/register_vs_kamailio.py. A SIP responder
 * that does no SIP work: every REGISTER without an Authorization header gets a canned 401,
 * every REGISTER with one a canned 200, both built from two response files captured from
 * telgated (so they are the same size as telgated's), with the request's Via, From, To,
 * Call-ID and CSeq copied in as RFC 3261 §8.2.6.2 requires and SIPp checks. No digest is
 * checked, no binding kept: what this responder sustains is the ceiling of the kernel, the
 * transport (TCP, TLS with OpenSSL) and SIPp on this machine. No telgate code in it.
 *
 * Response files: one header per line (LF or CRLF), the status line first. A line whose
 * name is Via, From, To, Call-ID or CSeq (long form) is a slot: it is replaced by the
 * request's header of that name (every Via of the request, in order), under the file's
 * spelling of the name; a To slot keeps the file's ";tag=..." after the request's value.
 * Every other line is sent as it is; the file's blank line ends the headers (no body).
 *
 * Threads: T threads (default one per online CPU), each with an epoll of its own; the UDP
 * socket and the two listening sockets are in every epoll with EPOLLEXCLUSIVE (one thread
 * woken per event), so one busy UDP flow still spreads over the threads. A connection
 * belongs to the thread that accepted it. UDP is read and answered in batches
 * (recvmmsg/sendmmsg); a stream's answers to one read go out in one write (one TLS record).
 *
 * usage: bench_sip_limit ADDR PORT TLS_PORT CERT KEY R401 R200 [THREADS]
 * (UDP and TCP on PORT, TLS on TLS_PORT; runs until SIGTERM/SIGINT.)
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

enum { H_VIA, H_FROM, H_TO, H_CALLID, H_CSEQ, H_NONE };
static const char *const long_names[] = {"via", "from", "to", "call-id", "cseq"};
static const char compact_names[] = {'v', 'f', 't', 'i', 0};

#define MAX_ITEMS 64
#define MAX_VIA 16
#define UDP_BATCH 64
#define UDP_MAX 4096
#define IN_CAP 65536

/* One line of a response file: literal text (CRLF included) or a slot for a request
 * header (name as spelt in the file, suffix such as ";tag=..." for To). */
struct item {
	int hdr;
	char *text;
	size_t len;
	char *suffix;
	size_t suffix_len;
};

struct tmpl {
	struct item items[MAX_ITEMS];
	int n;
};

/* The request headers a response copies: value spans into the request buffer. */
struct req_hdrs {
	const char *val[H_NONE][MAX_VIA];
	size_t len[H_NONE][MAX_VIA];
	int n[H_NONE];
	int has_auth;
};

struct buf {
	char *p;
	size_t len, cap;
};

struct conn {
	int fd;
	SSL *ssl;
	int handshaken;
	char in[IN_CAP];
	size_t in_len;
	struct buf out;
	int want_out;
};

static struct tmpl t401, t200;
static int udp_fd, tcp_fd, tls_fd;
static SSL_CTX *ctx;
static volatile sig_atomic_t stop;

static void die(const char *what)
{
	perror(what);
	exit(1);
}

static void buf_add(struct buf *b, const char *s, size_t n)
{
	if (b->len + n > b->cap) {
		size_t cap = b->cap ? b->cap : 4096;
		while (cap < b->len + n)
			cap *= 2;
		b->p = realloc(b->p, cap);
		if (!b->p)
			die("realloc");
		b->cap = cap;
	}
	memcpy(b->p + b->len, s, n);
	b->len += n;
}

/* The header id of a name (long or compact form), or H_NONE. */
static int hdr_id(const char *name, size_t len)
{
	for (int i = 0; i < H_NONE; i++) {
		if (strlen(long_names[i]) == len && strncasecmp(name, long_names[i], len) == 0)
			return i;
		if (len == 1 && (name[0] | 0x20) == compact_names[i])
			return i;
	}
	return H_NONE;
}

static void load_tmpl(const char *path, struct tmpl *t)
{
	FILE *f = fopen(path, "r");
	if (!f)
		die(path);
	char line[4096];
	while (fgets(line, sizeof line, f)) {
		size_t len = strcspn(line, "\r\n");
		line[len] = 0;
		if (len == 0)
			break;
		if (t->n == MAX_ITEMS) {
			fprintf(stderr, "%s: more than %d lines\n", path, MAX_ITEMS);
			exit(1);
		}
		struct item *it = &t->items[t->n++];
		char *colon = strchr(line, ':');
		size_t nlen = colon ? (size_t)(colon - line) : 0;
		while (nlen && line[nlen - 1] == ' ')
			nlen--;
		it->hdr = (colon && t->n > 1) ? hdr_id(line, nlen) : H_NONE;
		if (it->hdr == H_NONE) {
			it->len = len + 2;
			it->text = malloc(it->len + 1);
			memcpy(it->text, line, len);
			memcpy(it->text + len, "\r\n", 3);
			continue;
		}
		/* "Name: " as spelt in the file; To keeps its tag. */
		it->len = nlen + 2;
		it->text = malloc(it->len + 1);
		memcpy(it->text, line, nlen);
		memcpy(it->text + nlen, ": ", 3);
		const char *tag = it->hdr == H_TO ? strstr(colon, ";tag=") : NULL;
		it->suffix = strdup(tag ? tag : "");
		it->suffix_len = strlen(it->suffix);
	}
	fclose(f);
	if (t->n == 0) {
		fprintf(stderr, "%s: empty\n", path);
		exit(1);
	}
}

/* Finds the headers of the message m[0..len) (the header part, without the blank line). */
static void parse_req(const char *m, size_t len, struct req_hdrs *r)
{
	memset(r->n, 0, sizeof r->n);
	r->has_auth = 0;
	const char *end = m + len, *p = memchr(m, '\n', len);
	while (p && p + 1 < end) {
		const char *line = p + 1;
		const char *eol = memchr(line, '\n', (size_t)(end - line));
		if (!eol)
			eol = end;
		const char *colon = memchr(line, ':', (size_t)(eol - line));
		p = eol < end ? eol : NULL;
		if (!colon)
			continue;
		size_t nlen = (size_t)(colon - line);
		while (nlen && (line[nlen - 1] == ' ' || line[nlen - 1] == '\t'))
			nlen--;
		if (nlen == 13 && strncasecmp(line, "Authorization", 13) == 0) {
			r->has_auth = 1;
			continue;
		}
		int h = hdr_id(line, nlen);
		if (h == H_NONE || r->n[h] == MAX_VIA)
			continue;
		const char *v = colon + 1, *ve = eol;
		while (v < ve && (*v == ' ' || *v == '\t'))
			v++;
		while (ve > v && (ve[-1] == '\r' || ve[-1] == ' '))
			ve--;
		r->val[h][r->n[h]] = v;
		r->len[h][r->n[h]] = (size_t)(ve - v);
		r->n[h]++;
	}
}

/* Appends the answer to one request (header part m[0..len)) to out. */
static void answer(const char *m, size_t len, struct buf *out)
{
	struct req_hdrs r;
	parse_req(m, len, &r);
	const struct tmpl *t = r.has_auth ? &t200 : &t401;
	for (int i = 0; i < t->n; i++) {
		const struct item *it = &t->items[i];
		if (it->hdr == H_NONE) {
			buf_add(out, it->text, it->len);
			continue;
		}
		for (int k = 0; k < r.n[it->hdr]; k++) {
			buf_add(out, it->text, it->len);
			buf_add(out, r.val[it->hdr][k], r.len[it->hdr][k]);
			buf_add(out, it->suffix, it->suffix_len);
			buf_add(out, "\r\n", 2);
		}
	}
	buf_add(out, "\r\n", 2);
}

/* The length of the first complete message in b[0..len) (headers + Content-Length body),
 * 0 when incomplete; *skip gets the CRLF keep-alives before it. */
static size_t frame(const char *b, size_t len, size_t *skip)
{
	size_t s = 0;
	while (s < len && (b[s] == '\r' || b[s] == '\n'))
		s++;
	*skip = s;
	const char *h = memmem(b + s, len - s, "\r\n\r\n", 4);
	if (!h)
		return 0;
	size_t hlen = (size_t)(h - (b + s)) + 4, clen = 0;
	for (const char *p = b + s; p < h; p++) {
		if (*p != '\n')
			continue;
		if (strncasecmp(p + 1, "Content-Length", 14) == 0 ||
		    strncasecmp(p + 1, "l:", 2) == 0 || strncasecmp(p + 1, "l :", 3) == 0) {
			const char *c = memchr(p + 1, ':', (size_t)(h - p));
			if (c)
				clen = strtoul(c + 1, NULL, 10);
			break;
		}
	}
	return len - s >= hlen + clen ? hlen + clen : 0;
}

static void udp_drain(void)
{
	static __thread char bufs[UDP_BATCH][UDP_MAX];
	static __thread struct buf outs[UDP_BATCH];
	struct mmsghdr in[UDP_BATCH], out[UDP_BATCH];
	struct iovec iv[UDP_BATCH], ov[UDP_BATCH];
	struct sockaddr_storage from[UDP_BATCH];
	for (;;) {
		for (int i = 0; i < UDP_BATCH; i++) {
			iv[i] = (struct iovec){bufs[i], UDP_MAX};
			in[i].msg_hdr = (struct msghdr){.msg_name = &from[i],
			                                .msg_namelen = sizeof from[i],
			                                .msg_iov = &iv[i],
			                                .msg_iovlen = 1};
		}
		int n = recvmmsg(udp_fd, in, UDP_BATCH, MSG_DONTWAIT, NULL);
		if (n <= 0)
			return;
		int k = 0;
		for (int i = 0; i < n; i++) {
			size_t len = in[i].msg_len, skip;
			if (!frame(bufs[i], len, &skip))
				continue;
			outs[k].len = 0;
			answer(bufs[i] + skip, len - skip, &outs[k]);
			ov[k] = (struct iovec){outs[k].p, outs[k].len};
			out[k].msg_hdr = (struct msghdr){.msg_name = &from[i],
			                                 .msg_namelen = in[i].msg_hdr.msg_namelen,
			                                 .msg_iov = &ov[k],
			                                 .msg_iovlen = 1};
			k++;
		}
		for (int done = 0; done < k;) {
			int s = sendmmsg(udp_fd, out + done, (unsigned)(k - done), 0);
			if (s <= 0)
				break;
			done += s;
		}
	}
}

static void conn_close(int ep, struct conn *c)
{
	epoll_ctl(ep, EPOLL_CTL_DEL, c->fd, NULL);
	if (c->ssl)
		SSL_free(c->ssl);
	close(c->fd);
	free(c->out.p);
	free(c);
}

/* Writes what is queued; 0 on success or would-block (EPOLLOUT then asked), -1 to close. */
static int conn_flush(int ep, struct conn *c)
{
	size_t off = 0;
	while (off < c->out.len) {
		ssize_t w;
		if (c->ssl) {
			int r = SSL_write(c->ssl, c->out.p + off, (int)(c->out.len - off));
			if (r <= 0) {
				int e = SSL_get_error(c->ssl, r);
				if (e != SSL_ERROR_WANT_WRITE && e != SSL_ERROR_WANT_READ)
					return -1;
				break;
			}
			w = r;
		} else {
			w = write(c->fd, c->out.p + off, c->out.len - off);
			if (w < 0) {
				if (errno != EAGAIN)
					return -1;
				break;
			}
		}
		off += (size_t)w;
	}
	if (off > 0) { /* out.p is NULL before the first answer */
		memmove(c->out.p, c->out.p + off, c->out.len - off);
		c->out.len -= off;
	}
	int want = c->out.len > 0;
	if (want != c->want_out) {
		struct epoll_event ev = {.events = EPOLLIN | (want ? EPOLLOUT : 0), .data.ptr = c};
		epoll_ctl(ep, EPOLL_CTL_MOD, c->fd, &ev);
		c->want_out = want;
	}
	return 0;
}

/* Reads what is there, answers every complete request; -1 to close. */
static int conn_read(int ep, struct conn *c)
{
	if (c->ssl && !c->handshaken) {
		int r = SSL_accept(c->ssl);
		if (r <= 0) {
			int e = SSL_get_error(c->ssl, r);
			return (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE) ? 0 : -1;
		}
		c->handshaken = 1;
	}
	for (;;) {
		if (c->in_len == IN_CAP)
			return -1; /* a request larger than the buffer: not SIPp's */
		ssize_t n;
		if (c->ssl) {
			int r = SSL_read(c->ssl, c->in + c->in_len, (int)(IN_CAP - c->in_len));
			if (r <= 0) {
				int e = SSL_get_error(c->ssl, r);
				if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE)
					break;
				return -1;
			}
			n = r;
		} else {
			n = read(c->fd, c->in + c->in_len, IN_CAP - c->in_len);
			if (n == 0)
				return -1;
			if (n < 0) {
				if (errno == EAGAIN)
					break;
				return -1;
			}
		}
		c->in_len += (size_t)n;
		size_t off = 0, skip, mlen;
		while ((mlen = frame(c->in + off, c->in_len - off, &skip)) > 0) {
			answer(c->in + off + skip, mlen, &c->out);
			off += skip + mlen;
		}
		memmove(c->in, c->in + off, c->in_len - off);
		c->in_len -= off;
	}
	return conn_flush(ep, c);
}

static void do_accept(int ep, int lfd)
{
	for (;;) {
		int fd = accept4(lfd, NULL, NULL, SOCK_NONBLOCK);
		if (fd < 0)
			return;
		int one = 1;
		setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
		struct conn *c = calloc(1, sizeof *c);
		if (!c)
			die("calloc");
		c->fd = fd;
		if (lfd == tls_fd) {
			c->ssl = SSL_new(ctx);
			if (!c->ssl)
				die("SSL_new");
			SSL_set_fd(c->ssl, fd);
		}
		struct epoll_event ev = {.events = EPOLLIN, .data.ptr = c};
		if (epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev) < 0)
			die("epoll_ctl");
	}
}

static void *loop(void *arg)
{
	(void)arg;
	int ep = epoll_create1(0);
	if (ep < 0)
		die("epoll_create1");
	int lfds[] = {udp_fd, tcp_fd, tls_fd};
	for (int i = 0; i < 3; i++) {
		/* Listeners are 0..2 in data.u64; a connection's data.ptr is never that small. */
		struct epoll_event ev = {.events = EPOLLIN | EPOLLEXCLUSIVE,
		                         .data.u64 = (uint64_t)i};
		if (epoll_ctl(ep, EPOLL_CTL_ADD, lfds[i], &ev) < 0)
			die("epoll_ctl");
	}
	struct epoll_event evs[64];
	while (!stop) {
		int n = epoll_wait(ep, evs, 64, 500);
		for (int i = 0; i < n; i++) {
			uint64_t id = evs[i].data.u64;
			if (id == 0) {
				udp_drain();
			} else if (id < 3) {
				do_accept(ep, lfds[id]);
			} else {
				struct conn *c = evs[i].data.ptr;
				int rc = 0;
				if (evs[i].events & (EPOLLERR | EPOLLHUP))
					rc = -1;
				if (rc == 0 && (evs[i].events & EPOLLOUT))
					rc = conn_flush(ep, c);
				if (rc == 0 && (evs[i].events & EPOLLIN))
					rc = conn_read(ep, c);
				if (rc < 0)
					conn_close(ep, c);
			}
		}
	}
	return NULL;
}

static int listen_on(const char *addr, int port, int type)
{
	int fd = socket(AF_INET, type | SOCK_NONBLOCK, 0);
	if (fd < 0)
		die("socket");
	int one = 1;
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
	struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
	if (inet_pton(AF_INET, addr, &sa.sin_addr) != 1) {
		fprintf(stderr, "bad address %s\n", addr);
		exit(2);
	}
	if (bind(fd, (struct sockaddr *)&sa, sizeof sa) < 0)
		die("bind");
	if (type == SOCK_STREAM && listen(fd, 4096) < 0)
		die("listen");
	if (type == SOCK_DGRAM) {
		int sz = 4 << 20;
		setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &sz, sizeof sz);
		setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &sz, sizeof sz);
	}
	return fd;
}

static void on_signal(int sig)
{
	(void)sig;
	stop = 1;
}

int main(int argc, char **argv)
{
	if (argc < 8) {
		fprintf(stderr, "usage: %s ADDR PORT TLS_PORT CERT KEY R401 R200 [THREADS]\n",
		        argv[0]);
		return 2;
	}
	load_tmpl(argv[6], &t401);
	load_tmpl(argv[7], &t200);
	long threads = argc > 8 ? atol(argv[8]) : sysconf(_SC_NPROCESSORS_ONLN);
	if (threads < 1)
		threads = 1;
	ctx = SSL_CTX_new(TLS_server_method());
	if (!ctx || SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION) != 1 ||
	    SSL_CTX_use_certificate_chain_file(ctx, argv[4]) != 1 ||
	    SSL_CTX_use_PrivateKey_file(ctx, argv[5], SSL_FILETYPE_PEM) != 1) {
		ERR_print_errors_fp(stderr);
		return 1;
	}
	/* Partial writes: a queued answer is resent from wherever the buffer has moved. */
	SSL_CTX_set_mode(ctx, SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
	udp_fd = listen_on(argv[1], atoi(argv[2]), SOCK_DGRAM);
	tcp_fd = listen_on(argv[1], atoi(argv[2]), SOCK_STREAM);
	tls_fd = listen_on(argv[1], atoi(argv[3]), SOCK_STREAM);
	signal(SIGPIPE, SIG_IGN);
	struct sigaction sa = {.sa_handler = on_signal};
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	pthread_t *tid = calloc((size_t)threads, sizeof *tid);
	for (long i = 0; i < threads; i++)
		if (pthread_create(&tid[i], NULL, loop, NULL) != 0)
			die("pthread_create");
	for (long i = 0; i < threads; i++)
		pthread_join(tid[i], NULL);
	return 0;
}
