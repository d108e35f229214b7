/* SPDX-License-Identifier: ISC */
/* ca/signer_proto: requests and responses round-trip; every malformed length, version,
 * op, digest name or status is refused; records reassemble, and a receiver that lost a
 * message's start resynchronises on the next one. */
#include "ca/signer_proto.h"

#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

static void test_request_roundtrip(void **state)
{
	(void)state;
	unsigned char payload[300], buf[512];
	for (size_t i = 0; i < sizeof payload; i++)
		payload[i] = (unsigned char)i;
	struct signer_req rq = {.id = 0xdeadbeef,
	                        .op = SIGNER_OP_SIGN_BYTES,
	                        .key = 2,
	                        .digest = "SHA512",
	                        .payload = payload,
	                        .len = sizeof payload};
	long n = signer_req_encode(&rq, buf, sizeof buf);
	assert_int_equal(n, SIGNER_REQ_HDR + 6 + 300);
	assert_int_equal((long)signer_req_size(&rq), n);
	struct signer_req got;
	assert_int_equal(signer_req_decode(buf, (size_t)n, &got), 0);
	assert_int_equal(got.id, 0xdeadbeef);
	assert_int_equal(got.op, SIGNER_OP_SIGN_BYTES);
	assert_int_equal(got.key, 2);
	assert_string_equal(got.digest, "SHA512");
	assert_int_equal(got.len, 300);
	assert_memory_equal(got.payload, payload, 300);
	/* Too small a buffer, a bad digest name. */
	assert_int_equal(signer_req_encode(&rq, buf, 100), -EMSGSIZE);
	struct signer_req bad = rq;
	memcpy(bad.digest, "sha-1", 6);
	assert_int_equal(signer_req_encode(&bad, buf, sizeof buf), -EINVAL);
}

static void test_request_refusals(void **state)
{
	(void)state;
	unsigned char buf[64];
	struct signer_req rq = {.id = 7,
	                        .op = SIGNER_OP_SIGN_CERT,
	                        .key = 1,
	                        .payload = (const unsigned char *)"abcd",
	                        .len = 4};
	long n = signer_req_encode(&rq, buf, sizeof buf);
	assert_true(n > 0);
	struct signer_req got;
	/* Every truncation and an extra byte: the length prefix no longer matches. */
	for (long cut = 0; cut < n; cut++)
		assert_int_not_equal(signer_req_decode(buf, (size_t)cut, &got), 0);
	unsigned char more[64];
	memcpy(more, buf, (size_t)n);
	more[n] = 0;
	assert_int_equal(signer_req_decode(more, (size_t)n + 1, &got), -EINVAL);
	/* Wrong version, op 0, op hello (never a request), unknown op. */
	unsigned char v[64];
	const struct {
		size_t at;
		unsigned char val;
	} flips[] = {{4, 2},   {5, 0}, {5, SIGNER_OP_HELLO}, {5, SIGNER_OP_MAX + 1}, {5, 200},
	             {12, 40}, {12, 1}};
	for (size_t i = 0; i < sizeof flips / sizeof flips[0]; i++) {
		memcpy(v, buf, (size_t)n);
		v[flips[i].at] = flips[i].val;
		assert_int_equal(signer_req_decode(v, (size_t)n, &got), -EINVAL);
	}
	/* A digest name byte outside [A-Z0-9-]. */
	struct signer_req d = rq;
	memcpy(d.digest, "SHA1", 5);
	n = signer_req_encode(&d, buf, sizeof buf);
	buf[SIGNER_REQ_HDR + 1] = 0;
	assert_int_equal(signer_req_decode(buf, (size_t)n, &got), -EINVAL);
	/* Over the cap: refused before anything is read. */
	assert_int_equal(signer_req_decode(buf, SIGNER_MSG_MAX + 1, &got), -EMSGSIZE);
}

/* The token ops (issue 18): the algorithm name, the kid and the signing input travel as the
 * payload; no digest name. */
static void test_token_ops_roundtrip(void **state)
{
	(void)state;
	unsigned char buf[512];
	struct signer_req kg = {.id = 7,
	                        .op = SIGNER_OP_TOKEN_KEYGEN,
	                        .key = SIGNER_KEY_TOKEN,
	                        .payload = (const unsigned char *)"EdDSA",
	                        .len = 5};
	long n = signer_req_encode(&kg, buf, sizeof buf);
	assert_int_equal(n, SIGNER_REQ_HDR + 5);
	struct signer_req got;
	assert_int_equal(signer_req_decode(buf, (size_t)n, &got), 0);
	assert_int_equal(got.op, SIGNER_OP_TOKEN_KEYGEN);
	assert_int_equal(got.key, SIGNER_KEY_TOKEN);
	assert_string_equal(got.digest, "");
	assert_memory_equal(got.payload, "EdDSA", 5);
	static const char p[] =
	    "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAeyJhbGciOiJFUzI1NiJ9.e30";
	struct signer_req st = {.id = 8,
	                        .op = SIGNER_OP_SIGN_TOKEN,
	                        .key = SIGNER_KEY_TOKEN,
	                        .payload = (const unsigned char *)p,
	                        .len = sizeof p - 1};
	n = signer_req_encode(&st, buf, sizeof buf);
	assert_int_equal(signer_req_decode(buf, (size_t)n, &got), 0);
	assert_int_equal(got.op, SIGNER_OP_SIGN_TOKEN);
	assert_int_equal(got.len, sizeof p - 1);
	assert_memory_equal(got.payload, p, sizeof p - 1);
}

static void test_response_roundtrip(void **state)
{
	(void)state;
	unsigned char buf[64];
	struct signer_resp r = {
	    .id = 9, .status = 0, .payload = (const unsigned char *)"xy", .len = 2};
	long n = signer_resp_encode(&r, buf, sizeof buf);
	assert_int_equal(n, SIGNER_RESP_HDR + 2);
	struct signer_resp got;
	assert_int_equal(signer_resp_decode(buf, (size_t)n, &got), 0);
	assert_int_equal(got.id, 9);
	assert_int_equal(got.len, 2);
	assert_memory_equal(got.payload, "xy", 2);
	/* An error carries no payload, whatever the caller passed. */
	r.status = -EBUSY;
	n = signer_resp_encode(&r, buf, sizeof buf);
	assert_int_equal(n, SIGNER_RESP_HDR);
	assert_int_equal(signer_resp_decode(buf, (size_t)n, &got), 0);
	assert_int_equal(got.status, -EBUSY);
	/* Positive or out-of-range statuses are refused both ways. */
	r.status = 1;
	assert_int_equal(signer_resp_encode(&r, buf, sizeof buf), -EINVAL);
	r.status = -EBUSY;
	n = signer_resp_encode(&r, buf, sizeof buf);
	buf[12] = 0x7f;
	assert_int_equal(signer_resp_decode(buf, (size_t)n, &got), -EINVAL);
	buf[12] = 0x80; /* -2^31 */
	assert_int_equal(signer_resp_decode(buf, (size_t)n, &got), -EINVAL);

	struct signer_hello h = {.pid = 1234, .restarts = 2, .flags = SIGNER_HELLO_SECCOMP}, h2;
	unsigned char hb[SIGNER_HELLO_LEN];
	signer_hello_encode(&h, hb);
	assert_int_equal(signer_hello_decode(hb, sizeof hb, &h2), 0);
	assert_int_equal(h2.pid, 1234);
	assert_int_equal(h2.restarts, 2);
	assert_int_equal(h2.flags, SIGNER_HELLO_SECCOMP);
	assert_int_equal(signer_hello_decode(hb, 11, &h2), -EINVAL);
}

/* Splits msg into records as signer_wire_send does. */
static size_t records(const unsigned char *msg, size_t len, size_t piece, unsigned char *out,
                      size_t *offs)
{
	size_t off = 0, w = 0, k = 0;
	do {
		size_t n = len - off < piece ? len - off : piece;
		offs[k++] = w;
		out[w++] = off == 0 ? SIGNER_REC_FIRST : SIGNER_REC_MORE;
		memcpy(out + w, msg + off, n);
		w += n;
		off += n;
	} while (off < len);
	offs[k] = w;
	return k;
}

static void test_records(void **state)
{
	(void)state;
	size_t plen = 100000;
	unsigned char *payload = malloc(plen), *msg = malloc(plen + 64), *recs = malloc(plen + 200);
	assert_non_null(payload);
	for (size_t i = 0; i < plen; i++)
		payload[i] = (unsigned char)(i * 7);
	struct signer_req rq = {
	    .id = 1, .op = SIGNER_OP_SIGN_CRL, .key = 1, .payload = payload, .len = plen};
	long n = signer_req_encode(&rq, msg, plen + 64);
	assert_true(n > 0);
	size_t offs[16];
	size_t k = records(msg, (size_t)n, SIGNER_RECORD_MAX - 1, recs, offs);
	assert_int_equal(k, 4);
	struct signer_rx rx = {0};
	/* A continuation first (the start was lost): skipped. */
	assert_int_equal(signer_rx_feed(&rx, recs + offs[1], offs[2] - offs[1]), -EINVAL);
	for (size_t i = 0; i < k; i++)
		assert_int_equal(signer_rx_feed(&rx, recs + offs[i], offs[i + 1] - offs[i]),
		                 i + 1 == k ? 1 : 0);
	assert_int_equal(rx.have, (size_t)n);
	assert_memory_equal(rx.buf, msg, (size_t)n);
	/* Half a message, then a new one: the half is dropped, the new one completes. */
	assert_int_equal(signer_rx_feed(&rx, recs + offs[0], offs[1] - offs[0]), 0);
	for (size_t i = 0; i < k; i++)
		assert_int_equal(signer_rx_feed(&rx, recs + offs[i], offs[i + 1] - offs[i]),
		                 i + 1 == k ? 1 : 0);
	/* A continuation after a complete message, a bad flag, a too-short first record, a
	 * length over the cap, more bytes than announced. */
	assert_int_equal(signer_rx_feed(&rx, recs + offs[1], offs[2] - offs[1]), -EINVAL);
	unsigned char r[8] = {0x07, 0, 0, 0, 8, 1, 2, 3};
	assert_int_equal(signer_rx_feed(&rx, r, sizeof r), -EINVAL);
	r[0] = SIGNER_REC_FIRST;
	assert_int_equal(signer_rx_feed(&rx, r, 3), -EINVAL);
	unsigned char big[5] = {SIGNER_REC_FIRST, 0x7f, 0xff, 0xff, 0xff};
	assert_int_equal(signer_rx_feed(&rx, big, sizeof big), -EMSGSIZE);
	unsigned char over[12] = {SIGNER_REC_FIRST, 0, 0, 0, 4, 1, 2, 3, 4, 5, 6, 7};
	assert_int_equal(signer_rx_feed(&rx, over, sizeof over), -EMSGSIZE);
	signer_rx_free(&rx);
	free(payload);
	free(msg);
	free(recs);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_request_roundtrip), cmocka_unit_test(test_request_refusals),
	    cmocka_unit_test(test_token_ops_roundtrip), cmocka_unit_test(test_response_roundtrip),
	    cmocka_unit_test(test_records)};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
