/* SPDX-License-Identifier: ISC */
/* The TFTP wire format (provision/tftp_proto.h): request parsing and every refusal,
 * option negotiation (RFC 2347/2348/2349/7440) with its limits, the packets built, block
 * numbers across the 65535 -> 0 rollover, and netascii. */
#include "provision/tftp_proto.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <cmocka.h>

/* A datagram from its parts: the opcode, then each string with its NUL. */
static size_t pkt(unsigned char *buf, size_t cap, unsigned op, const char *const *parts, int n)
{
	size_t len = 2;
	buf[0] = (unsigned char)(op >> 8);
	buf[1] = (unsigned char)op;
	for (int i = 0; i < n; i++) {
		size_t l = strlen(parts[i]) + 1;
		assert_true(len + l <= cap);
		memcpy(buf + len, parts[i], l);
		len += l;
	}
	return len;
}

static const struct tftp_limits LIM = {.mtu = 1500, .ipv6 = 0, .max_windowsize = 64};

static void test_parse_rrq(void **state)
{
	(void)state;
	unsigned char b[600];
	const char *p[] = {
	    "SEP001794625DE5.cnf.xml", "OcTeT", "BLKSIZE", "1468", "tsize", "0", "x-vendor", "1"};
	size_t n = pkt(b, sizeof b, TFTP_RRQ, p, 8);
	struct tftp_request rq;
	struct tftp_verdict v;
	assert_int_equal(tftp_parse_request(b, n, &rq, &v), 0);
	assert_int_equal(rq.op, TFTP_RRQ);
	assert_string_equal(rq.filename, "SEP001794625DE5.cnf.xml");
	assert_int_equal(rq.filename_len, 23);
	assert_int_equal(rq.mode, TFTP_MODE_OCTET);
	assert_int_equal(rq.nopt, 3);
	assert_string_equal(rq.opt[0].name, "BLKSIZE");
	assert_string_equal(rq.opt[2].value, "1");
	/* netascii, any case; a WRQ parses the same (the engine refuses it) */
	const char *q[] = {"a", "NetAscii"};
	n = pkt(b, sizeof b, TFTP_WRQ, q, 2);
	assert_int_equal(tftp_parse_request(b, n, &rq, &v), 0);
	assert_int_equal(rq.op, TFTP_WRQ);
	assert_int_equal(rq.mode, TFTP_MODE_NETASCII);
	assert_int_equal(rq.nopt, 0);
	/* NUL padding after the options ends them (boot ROMs pad) */
	const char *r[] = {"a", "octet", "blksize", "1024", "", "", ""};
	n = pkt(b, sizeof b, TFTP_RRQ, r, 7);
	assert_int_equal(tftp_parse_request(b, n, &rq, &v), 0);
	assert_int_equal(rq.nopt, 1);
}

/* Refused with code (or dropped: -1). */
static void refused(const unsigned char *b, size_t n, int code)
{
	struct tftp_request rq;
	struct tftp_verdict v;
	assert_int_equal(tftp_parse_request(b, n, &rq, &v), -1);
	assert_int_equal(v.code, code);
	if (code >= 0)
		assert_non_null(v.msg);
}

static void test_parse_refusals(void **state)
{
	(void)state;
	unsigned char b[70000];
	memset(b, 'a', sizeof b);
	/* short */
	refused(b, 0, -1);
	refused((const unsigned char *)"\0", 1, -1);
	/* opcode 0 and 9: illegal; 3..6 at the request port: dropped */
	refused((const unsigned char *)"\0\0a\0octet\0", 10, TFTP_E_BADOP);
	refused((const unsigned char *)"\0\x09"
	                               "a\0octet\0",
	        10, TFTP_E_BADOP);
	refused((const unsigned char *)"\xff\x01"
	                               "a\0octet\0",
	        10, TFTP_E_BADOP);
	refused((const unsigned char *)"\0\x03\0\x01xx", 6, -1);
	refused((const unsigned char *)"\0\x04\0\x01", 4, -1);
	refused((const unsigned char *)"\0\x05\0\x01x\0", 6, -1);
	refused((const unsigned char *)"\0\x06", 2, -1);
	/* a bare opcode, missing NULs, an empty name or mode */
	refused((const unsigned char *)"\0\x01", 2, TFTP_E_BADOP);
	refused((const unsigned char *)"\0\x01name", 6, TFTP_E_BADOP);
	refused((const unsigned char *)"\0\x01name\0octet", 12, TFTP_E_BADOP);
	refused((const unsigned char *)"\0\x01\0octet\0", 9, TFTP_E_BADOP);
	refused((const unsigned char *)"\0\x01name\0\0", 8, TFTP_E_BADOP);
	/* modes: mail and unknown ones */
	refused((const unsigned char *)"\0\x01name\0mail\0", 12, TFTP_E_BADOP);
	refused((const unsigned char *)"\0\x01name\0binary\0", 14, TFTP_E_BADOP);
	/* an option without a value, one without its NUL */
	refused((const unsigned char *)"\0\x01n\0octet\0blksize\0", 18, TFTP_E_BADOP);
	refused((const unsigned char *)"\0\x01n\0octet\0blksize\0"
	                               "512",
	        21, TFTP_E_BADOP);
	/* larger than 512 bytes (a 64 KiB datagram too) */
	b[0] = 0;
	b[1] = TFTP_RRQ;
	refused(b, 513, TFTP_E_BADOP);
	refused(b, 65536, TFTP_E_BADOP);
	refused(b, sizeof b, TFTP_E_BADOP);
}

static void test_parse_option_count(void **state)
{
	(void)state;
	unsigned char b[TFTP_REQUEST_MAX];
	const char *p[2 + 2 * (TFTP_OPTIONS_MAX + 1)];
	p[0] = "f";
	p[1] = "octet";
	char names[TFTP_OPTIONS_MAX + 1][4];
	for (int i = 0; i <= TFTP_OPTIONS_MAX; i++) {
		snprintf(names[i], sizeof names[i], "o%d", i);
		p[2 + 2 * i] = names[i];
		p[3 + 2 * i] = "1";
	}
	struct tftp_request rq;
	struct tftp_verdict v;
	size_t n = pkt(b, sizeof b, TFTP_RRQ, p, 2 + 2 * TFTP_OPTIONS_MAX);
	assert_int_equal(tftp_parse_request(b, n, &rq, &v), 0);
	assert_int_equal(rq.nopt, TFTP_OPTIONS_MAX);
	n = pkt(b, sizeof b, TFTP_RRQ, p, 2 + 2 * (TFTP_OPTIONS_MAX + 1));
	refused(b, n, TFTP_E_OPTNEG);
	/* 600 options do not fit 512 bytes: too large */
	unsigned char big[4096];
	size_t len = pkt(big, sizeof big, TFTP_RRQ, p, 2);
	for (int i = 0; i < 600 && len + 4 <= sizeof big; i++) {
		memcpy(big + len, "a\0b\0", 4);
		len += 4;
	}
	refused(big, len, TFTP_E_BADOP);
}

static void test_parse_packet(void **state)
{
	(void)state;
	struct tftp_packet p;
	assert_int_equal(tftp_parse_packet((const unsigned char *)"\0\x04\xff\xff", 4, &p), 0);
	assert_int_equal(p.op, TFTP_ACK);
	assert_int_equal(p.block, 65535);
	assert_int_equal(tftp_parse_packet((const unsigned char *)"\0\x05\0\x08no\0", 7, &p), 0);
	assert_int_equal(p.op, TFTP_ERROR);
	assert_int_equal(p.code, 8);
	assert_string_equal(p.msg, "no");
	/* an ERROR without a NUL: empty text, never read past the datagram */
	assert_int_equal(tftp_parse_packet((const unsigned char *)"\0\x05\0\x01xyz", 7, &p), 0);
	assert_string_equal(p.msg, "");
	assert_int_equal(tftp_parse_packet((const unsigned char *)"\0\x04\0", 3, &p), -1);
	assert_int_equal(tftp_parse_packet((const unsigned char *)"\0\0\0\0", 4, &p), -1);
	assert_int_equal(tftp_parse_packet((const unsigned char *)"\0\x07\0\0", 4, &p), -1);
}

/* Negotiates the options given as name, value pairs. */
static int negotiate(const struct tftp_limits *lim, uint64_t size, struct tftp_grant *g,
                     struct tftp_verdict *v, int n, const char *const *kv)
{
	struct tftp_request rq = {.op = TFTP_RRQ, .filename = "f", .filename_len = 1};
	for (int i = 0; i < n; i++)
		rq.opt[rq.nopt++] = (struct tftp_option){kv[2 * i], kv[2 * i + 1]};
	return tftp_negotiate(&rq, lim, size, g, v);
}

static void test_negotiate_defaults(void **state)
{
	(void)state;
	struct tftp_grant g;
	struct tftp_verdict v;
	assert_int_equal(negotiate(&LIM, 100, &g, &v, 0, NULL), 0);
	assert_int_equal(g.blksize, 512);
	assert_int_equal(g.windowsize, 1);
	assert_int_equal(g.timeout_s, 0);
	assert_int_equal(g.acked, 0); /* no OACK: DATA 1 at once */
	/* unknown options are ignored and not acknowledged */
	const char *u[] = {"x-foo", "1", "multicast", "", "utimeout", "5000"};
	assert_int_equal(negotiate(&LIM, 100, &g, &v, 3, u), 0);
	assert_int_equal(g.acked, 0);
}

static void test_negotiate_values(void **state)
{
	(void)state;
	struct tftp_grant g;
	struct tftp_verdict v;
	const char *a[] = {"BlkSize", "1468", "TSIZE", "0", "timeout", "3", "windowsize", "8"};
	assert_int_equal(negotiate(&LIM, 4096, &g, &v, 4, a), 0);
	assert_int_equal(g.blksize, 1468);
	assert_int_equal(g.tsize, 4096);
	assert_int_equal(g.timeout_s, 3);
	assert_int_equal(g.windowsize, 8);
	assert_int_equal(g.acked, TFTP_OPT_BLKSIZE | TFTP_OPT_TSIZE | TFTP_OPT_TIMEOUT |
	                              TFTP_OPT_WINDOWSIZE);
	/* blksize: clamped to the MTU (IPv4 -32, IPv6 -52) and to 65464; 8 is valid */
	const char *b1[] = {"blksize", "65464"};
	assert_int_equal(negotiate(&LIM, 1, &g, &v, 1, b1), 0);
	assert_int_equal(g.blksize, 1468);
	struct tftp_limits v6 = LIM;
	v6.ipv6 = 1;
	assert_int_equal(negotiate(&v6, 1, &g, &v, 1, b1), 0);
	assert_int_equal(g.blksize, 1448);
	struct tftp_limits jumbo = {.mtu = 65535, .max_windowsize = 64};
	const char *b2[] = {"blksize", "70000"};
	assert_int_equal(negotiate(&jumbo, 1, &g, &v, 1, b2), 0);
	assert_int_equal(g.blksize, 65464);
	const char *b3[] = {"blksize", "8"};
	assert_int_equal(negotiate(&LIM, 1, &g, &v, 1, b3), 0);
	assert_int_equal(g.blksize, 8);
	assert_int_equal(tftp_blksize_cap(576, 0), 544);
	assert_int_equal(tftp_blksize_cap(40, 1), 8);
	/* windowsize: capped by the configuration, 65535 at most */
	const char *w1[] = {"windowsize", "65535"};
	assert_int_equal(negotiate(&LIM, 1, &g, &v, 1, w1), 0);
	assert_int_equal(g.windowsize, 64);
	struct tftp_limits wide = {.mtu = 1500, .max_windowsize = 100000};
	const char *w2[] = {"windowsize", "99999"};
	assert_int_equal(negotiate(&wide, 1, &g, &v, 1, w2), 0);
	assert_int_equal(g.windowsize, 65535);
	/* a known option twice: the first counts */
	const char *d[] = {"blksize", "1024", "BLKSIZE", "4"};
	assert_int_equal(negotiate(&LIM, 1, &g, &v, 2, d), 0);
	assert_int_equal(g.blksize, 1024);
	/* tsize in a read request is answered with the size, whatever the client sent */
	const char *t[] = {"tsize", "12345"};
	assert_int_equal(negotiate(&LIM, 77, &g, &v, 1, t), 0);
	assert_int_equal(g.tsize, 77);
}

static void neg_refused(const char *name, const char *value)
{
	struct tftp_grant g;
	struct tftp_verdict v;
	const char *kv[] = {name, value};
	assert_int_equal(negotiate(&LIM, 1, &g, &v, 1, kv), -1);
	assert_int_equal(v.code, TFTP_E_OPTNEG);
	assert_non_null(v.msg);
}

static void test_negotiate_refusals(void **state)
{
	(void)state;
	neg_refused("blksize", "7");
	neg_refused("blksize", "4");
	neg_refused("blksize", "0");
	neg_refused("blksize", "");
	neg_refused("blksize", "-512");
	neg_refused("blksize", " 512");
	neg_refused("blksize", "512x");
	neg_refused("blksize", "99999999999"); /* 11 digits */
	neg_refused("timeout", "0");
	neg_refused("timeout", "256");
	neg_refused("windowsize", "0");
	neg_refused("tsize", "abc");
}

static void test_build(void **state)
{
	(void)state;
	unsigned char b[TFTP_OACK_MAX];
	struct tftp_grant g = {.blksize = 1468,
	                       .windowsize = 8,
	                       .tsize = 1048576,
	                       .acked = TFTP_OPT_BLKSIZE | TFTP_OPT_TSIZE | TFTP_OPT_WINDOWSIZE};
	size_t n = tftp_build_oack(b, sizeof b, &g);
	static const char want[] = "\0\x06"
	                           "blksize\0"
	                           "1468\0tsize\0"
	                           "1048576\0windowsize\0"
	                           "8";
	assert_int_equal(n, sizeof want);
	assert_memory_equal(b, want, n);
	assert_int_equal(tftp_build_oack(b, 10, &g), 0); /* does not fit */
	/* a zero is one digit */
	struct tftp_grant z = {.blksize = 512, .tsize = 0, .acked = TFTP_OPT_TSIZE};
	n = tftp_build_oack(b, sizeof b, &z);
	assert_int_equal(n, sizeof "\0\x06tsize\0"
	                           "0");
	assert_memory_equal(b,
	                    "\0\x06tsize\0"
	                    "0",
	                    n);
	/* the largest OACK fits TFTP_OACK_MAX */
	g = (struct tftp_grant){65464, 65535, 255, UINT64_MAX, 15};
	assert_true(tftp_build_oack(b, sizeof b, &g) > 0);

	unsigned char e[16];
	n = tftp_build_error(e, sizeof e, TFTP_E_BADTID, "Unknown transfer ID");
	assert_int_equal(n, 16);
	assert_memory_equal(e, "\0\x05\0\x05Unknown tra\0", 16); /* cut to fit */
	assert_int_equal(tftp_build_error(e, 4, 0, "x"), 0);
	assert_int_equal(tftp_build_error(e, sizeof e, 1, "nf"), 7);
	assert_memory_equal(e, "\0\x05\0\x01nf\0", 7);

	unsigned char h[TFTP_HDR];
	tftp_put_header(h, TFTP_DATA, 65536);
	assert_memory_equal(h, "\0\x03\0\0", 4); /* rolled over to 0 */
	tftp_put_header(h, TFTP_DATA, 65535);
	assert_memory_equal(h, "\0\x03\xff\xff", 4);
	tftp_put_header(h, TFTP_DATA, 65537);
	assert_memory_equal(h, "\0\x03\0\x01", 4);
}

static void test_blocks(void **state)
{
	(void)state;
	assert_int_equal(tftp_nblocks(0, 512), 1); /* one empty block */
	assert_int_equal(tftp_nblocks(511, 512), 1);
	assert_int_equal(tftp_nblocks(512, 512), 2); /* a multiple: an empty last block */
	assert_int_equal(tftp_nblocks(4096, 1468), 3);
	assert_int_equal(tftp_nblocks(33554432, 512), 65537);
	/* ACK numbers across the rollover */
	assert_int_equal(tftp_ack_block(5, 1, 8), 5);
	assert_int_equal(tftp_ack_block(9, 1, 8), 0);
	assert_int_equal(tftp_ack_block(65535, 65530, 65540), 65535);
	assert_int_equal(tftp_ack_block(0, 65530, 65540), 65536);
	assert_int_equal(tftp_ack_block(4, 65530, 65540), 65540);
	assert_int_equal(tftp_ack_block(5, 65530, 65540), 0);
	assert_int_equal(tftp_ack_block(65529, 65530, 65540), 0); /* already acknowledged */
	assert_int_equal(tftp_ack_block(1, 131070, 131080), 131073);
	assert_int_equal(tftp_ack_block(1, 5, 4), 0);     /* empty range */
	assert_int_equal(tftp_ack_block(1, 1, 70000), 0); /* ambiguous range */
	assert_int_equal(tftp_ack_block(0, 1, 65536), 65536);
}

static void test_netascii(void **state)
{
	(void)state;
	const unsigned char in[] = "a\nb\rc\r\n";
	size_t n = sizeof in - 1;
	assert_int_equal(tftp_netascii_len(in, n), n + 4);
	unsigned char out[16];
	tftp_netascii_encode(in, n, out);
	assert_memory_equal(out, "a\r\nb\r\0c\r\0\r\n", n + 4);
	assert_int_equal(tftp_netascii_len(in, 0), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_parse_rrq),
	    cmocka_unit_test(test_parse_refusals),
	    cmocka_unit_test(test_parse_option_count),
	    cmocka_unit_test(test_parse_packet),
	    cmocka_unit_test(test_negotiate_defaults),
	    cmocka_unit_test(test_negotiate_values),
	    cmocka_unit_test(test_negotiate_refusals),
	    cmocka_unit_test(test_build),
	    cmocka_unit_test(test_blocks),
	    cmocka_unit_test(test_netascii),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
