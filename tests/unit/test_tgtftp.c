/* SPDX-License-Identifier: ISC */
#define _GNU_SOURCE /* memmem */
/* The TFTP client (lib/tgtftp.h) against an in-test server on loopback: the options
 * negotiated (blksize, tsize), a server without options, one that refuses them (ERROR 8),
 * a file of a whole number of blocks (the empty last block), a lost ACK (the block sent
 * again is acknowledged again), a packet from a stranger's port (ERROR 5, ignored), the
 * server's error, and a file above the maximum (by tsize and by its blocks). */
#include "tgtftp.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>
#include <cmocka.h>

enum mode {
	M_OPTIONS,     /* OACK blksize 512 (less than asked) and tsize */
	M_NO_OPTIONS,  /* ignores options: DATA 1 in 512-byte blocks */
	M_REFUSE_OPTS, /* ERROR 8 to an RRQ with options, then plain */
	M_LOSE_ACK,    /* ignores the first ACK of block 2: sends block 2 again */
	M_STRANGER,    /* a DATA 1 from another port before the real one */
	M_NOT_FOUND,   /* ERROR 1 */
	M_BIG_TSIZE,   /* announces a tsize above the client's maximum */
};

struct server {
	enum mode mode;
	int fd, port;
	size_t size;
	unsigned char file[5000];
	int rrqs, dup_acks, stranger_errors;
	pthread_t th;
};

static void put16(unsigned char *p, unsigned v)
{
	p[0] = (unsigned char)(v >> 8);
	p[1] = (unsigned char)v;
}

static int udp(void)
{
	int fd = socket(AF_INET, SOCK_DGRAM, 0);
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	struct timeval tv = {5, 0};
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
	if (bind(fd, (struct sockaddr *)&a, sizeof a) != 0)
		abort();
	return fd;
}

/* Waits for a packet from the client: its length, or -1 on timeout. */
static ssize_t rx(int fd, unsigned char *p, size_t cap, struct sockaddr_in *from)
{
	socklen_t fl = sizeof *from;
	return recvfrom(fd, p, cap, 0, (struct sockaddr *)from, &fl);
}

static void tx(int fd, const void *p, size_t n, const struct sockaddr_in *to)
{
	sendto(fd, p, n, 0, (const struct sockaddr *)to, sizeof *to);
}

static void *serve(void *arg)
{
	struct server *s = arg;
	unsigned char p[2048];
	struct sockaddr_in cl;
	ssize_t n = rx(s->fd, p, sizeof p, &cl);
	if (n < 4)
		return NULL;
	s->rrqs++;
	int has_opts = memmem(p, (size_t)n, "blksize", 7) != NULL;
	if (s->mode == M_NOT_FOUND) {
		static const char nf[] = "\0\5\0\1File not found";
		tx(s->fd, nf, sizeof nf, &cl);
		return NULL;
	}
	if (s->mode == M_REFUSE_OPTS) {
		if (!has_opts)
			return NULL;
		static const char no[] = "\0\5\0\10no options";
		tx(s->fd, no, sizeof no, &cl);
		if ((n = rx(s->fd, p, sizeof p, &cl)) < 4)
			return NULL;
		s->rrqs++;
		has_opts = memmem(p, (size_t)n, "blksize", 7) != NULL;
	}
	int t = udp(); /* the transfer's own port (TID) */
	unsigned blk = 512;
	if (has_opts && s->mode != M_NO_OPTIONS && s->mode != M_REFUSE_OPTS) {
		char o[64];
		int on = snprintf(o + 2, sizeof o - 2, "blksize%c512%ctsize%c%zu", 0, 0, 0,
		                  s->mode == M_BIG_TSIZE ? (size_t)1000000 : s->size);
		o[0] = 0;
		o[1] = 6;
		tx(t, o, (size_t)on + 3, &cl);
		if (rx(t, p, sizeof p, &cl) < 4 || p[1] != 4) /* ACK 0, or an ERROR */
			goto out;
	}
	for (unsigned b = 1;; b++) {
		size_t off = (b - 1) * blk, len = s->size - off > blk ? blk : s->size - off;
		unsigned char d[4 + 512];
		put16(d, 3);
		put16(d + 2, b);
		memcpy(d + 4, s->file + off, len);
		if (s->mode == M_STRANGER && b == 1) {
			int other = udp();
			unsigned char fake[8] = {0, 3, 0, 1, 'e', 'v', 'i', 'l'};
			tx(other, fake, sizeof fake, &cl);
			struct sockaddr_in f;
			unsigned char e[64];
			if (rx(other, e, sizeof e, &f) >= 4 && e[1] == 5 && e[3] == 5)
				s->stranger_errors++;
			close(other);
		}
		tx(t, d, 4 + len, &cl);
		if (rx(t, p, sizeof p, &cl) < 4 || p[1] != 4 || (unsigned)(p[2] << 8 | p[3]) != b)
			break;
		if (s->mode == M_LOSE_ACK && b == 2 && !s->dup_acks) {
			/* as if that ACK was lost: the server times out and sends block 2 again */
			tx(t, d, 4 + len, &cl);
			if (rx(t, p, sizeof p, &cl) >= 4 && (unsigned)(p[2] << 8 | p[3]) == 2)
				s->dup_acks++;
		}
		if (len < blk)
			break;
	}
out:
	close(t);
	return NULL;
}

static void start(struct server *s, enum mode m, size_t size)
{
	memset(s, 0, sizeof *s);
	s->mode = m;
	s->size = size;
	for (size_t i = 0; i < size; i++)
		s->file[i] = (unsigned char)(i * 7 + 3);
	s->fd = udp();
	struct sockaddr_in a;
	socklen_t al = sizeof a;
	getsockname(s->fd, (struct sockaddr *)&a, &al);
	s->port = ntohs(a.sin_port);
	assert_int_equal(pthread_create(&s->th, NULL, serve, s), 0);
}

static int get(struct server *s, size_t max, unsigned char **out, size_t *len, char *err)
{
	const struct tgtftp_opts o = {
	    .host = "127.0.0.1", .port = s->port, .timeout_ms = 2000, .retries = 3, .max = max};
	int rc = tgtftp_get(&o, "CTLFile.tlv", out, len, err, 256);
	pthread_join(s->th, NULL);
	close(s->fd);
	return rc;
}

static void fetch_ok(enum mode m, size_t size, struct server *s)
{
	unsigned char *out = NULL;
	size_t len = 0;
	char err[256] = "";
	start(s, m, size);
	assert_int_equal(get(s, 100000, &out, &len, err), 0);
	assert_int_equal(len, size);
	assert_memory_equal(out, s->file, size);
	free(out);
}

static void test_options_and_sizes(void **state)
{
	(void)state;
	struct server s;
	fetch_ok(M_OPTIONS, 3000, &s);
	fetch_ok(M_OPTIONS, 1024, &s); /* two full blocks, then an empty one */
	fetch_ok(M_OPTIONS, 0, &s);
	fetch_ok(M_NO_OPTIONS, 1500, &s);
	fetch_ok(M_REFUSE_OPTS, 700, &s);
	assert_int_equal(s.rrqs, 2);
}

static void test_lost_ack_and_stranger(void **state)
{
	(void)state;
	struct server s;
	fetch_ok(M_LOSE_ACK, 2000, &s);
	assert_int_equal(s.dup_acks, 1);
	fetch_ok(M_STRANGER, 900, &s);
	assert_int_equal(s.stranger_errors, 1);
}

static void test_errors(void **state)
{
	(void)state;
	struct server s;
	unsigned char *out = NULL;
	size_t len;
	char err[256];
	start(&s, M_NOT_FOUND, 0);
	assert_int_equal(get(&s, 100000, &out, &len, err), -1);
	assert_non_null(strstr(err, "error 1: File not found"));
	start(&s, M_BIG_TSIZE, 100);
	assert_int_equal(get(&s, 100000, &out, &len, err), -1);
	assert_non_null(strstr(err, "above 100000 bytes"));
	start(&s, M_NO_OPTIONS, 3000); /* no tsize: the blocks themselves pass the maximum */
	assert_int_equal(get(&s, 1000, &out, &len, err), -1);
	assert_non_null(strstr(err, "above 1000 bytes"));
	assert_null(out);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_options_and_sizes),
	    cmocka_unit_test(test_lost_ack_and_stranger),
	    cmocka_unit_test(test_errors),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
