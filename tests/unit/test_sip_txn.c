/* SPDX-License-Identifier: ISC */
/* The UDP REGISTER transactions (sip/txn.h): what one is (RFC 3261 §17.2.3), answers
 * kept by time whatever the rate, absorbed while being decided, gone after Timer J. */
#include "sip/msg.h"
#include "sip/txn.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <cmocka.h>

static void parse(const char *branch, const char *nc, struct sip_req *r)
{
	char msg[1024];
	int n = snprintf(msg, sizeof msg,
	                 "REGISTER sip:telgate SIP/2.0\r\n"
	                 "Via: SIP/2.0/UDP 10.0.0.5:5060;branch=%s\r\n"
	                 "Max-Forwards: 70\r\n"
	                 "To: <sip:1001@telgate>\r\n"
	                 "From: <sip:1001@telgate>;tag=456248\r\n"
	                 "Call-ID: 843817637684230@998sdasdh09\r\n"
	                 "CSeq: 2 REGISTER\r\n"
	                 "Contact: <sip:1001@10.0.0.5:5060>\r\n"
	                 "Authorization: Digest username=\"1001\", realm=\"telgate\", "
	                 "nonce=\"abc\", uri=\"sip:telgate\", response=\"00\", qop=auth, "
	                 "nc=%s, cnonce=\"x\"\r\n"
	                 "Content-Length: 0\r\n\r\n",
	                 branch, nc);
	int status;
	char reason[128];
	memset(r, 0, sizeof *r);
	assert_int_equal(sip_req_parse(msg, (size_t)n, r, &status, reason, sizeof reason), 0);
}

static void test_key(void **state)
{
	(void)state;
	struct sip_txn *t = sip_txn_new();
	assert_non_null(t);
	struct sip_req a, b, c, d, e;
	parse("z9hG4bK1", "00000001", &a);
	parse("z9hG4bK1", "00000002", &b); /* the same request, credentials recomputed */
	parse("z9hG4bK2", "00000001", &c); /* another transaction */
	parse("old2543", "00000001", &d);  /* no cookie: the credentials stand in */
	parse("old2543", "00000002", &e);
	uint64_t ka = sip_txn_key(t, &a, "10.0.0.5:5060");
	assert_int_equal(ka, sip_txn_key(t, &a, "10.0.0.5:5060"));
	assert_int_equal(ka, sip_txn_key(t, &b, "10.0.0.5:5060"));
	assert_int_not_equal(ka, sip_txn_key(t, &c, "10.0.0.5:5060"));
	assert_int_not_equal(ka, sip_txn_key(t, &a, "10.0.0.6:5060")); /* another source */
	assert_int_not_equal(sip_txn_key(t, &d, "10.0.0.5:5060"),
	                     sip_txn_key(t, &e, "10.0.0.5:5060"));
	struct sip_req *all[] = {&a, &b, &c, &d, &e};
	for (size_t i = 0; i < sizeof all / sizeof *all; i++)
		sip_req_free(all[i]);
	sip_txn_free(t);
}

static void test_answers(void **state)
{
	(void)state;
	struct sip_txn *t = sip_txn_new();
	assert_non_null(t);
	char out[64];
	assert_int_equal(sip_txn_lookup(t, 7, 1000, out, sizeof out), -1);
	sip_txn_store(t, 7, 1000, NULL, 0); /* being decided */
	assert_int_equal(sip_txn_lookup(t, 7, 1100, out, sizeof out), 0);
	sip_txn_store(t, 7, 1200, "SIP/2.0 200 OK", 14);
	assert_int_equal(sip_txn_lookup(t, 7, 1300, out, sizeof out), 14);
	assert_memory_equal(out, "SIP/2.0 200 OK", 14);
	assert_int_equal(sip_txn_lookup(t, 7, 1300, out, 10), -1); /* larger than cap */
	/* Timer J: 32 s after the answer, the transaction is gone */
	assert_int_equal(sip_txn_lookup(t, 7, 1200 + SIP_TXN_LIFETIME_MS, out, sizeof out), 14);
	assert_int_equal(sip_txn_lookup(t, 7, 1201 + SIP_TXN_LIFETIME_MS, out, sizeof out), -1);
	struct sip_txn_stats st;
	sip_txn_stats(t, &st);
	assert_int_equal(st.absorbed, 1);
	assert_int_equal(st.repeated, 2);
	assert_int_equal(st.entries, 1); /* replaced, not added */
	/* a later store drops what expired on its way */
	for (uint64_t k = 100; k < 10100; k++)
		sip_txn_store(t, k, 40000, "x", 1);
	sip_txn_stats(t, &st);
	assert_int_equal(st.entries, 10000);
	assert_int_equal(st.evicted_early, 0);
	sip_txn_free(t);
}

/* The slot array this replaced (16,384 slots) lost an answer to any newer transaction
 * that took its slot: 2,500 REGISTERs a second did that within a retransmission timer. */
static void test_kept_by_time_not_count(void **state)
{
	(void)state;
	struct sip_txn *t = sip_txn_new();
	assert_non_null(t);
	char out[64];
	for (uint64_t k = 1; k <= 100000; k++)
		sip_txn_store(t, k * 0x9e3779b97f4a7c15ull, (int64_t)(k / 100), "SIP/2.0 200 OK",
		              14);
	for (uint64_t k = 1; k <= 100000; k += 997)
		assert_int_equal(
		    sip_txn_lookup(t, k * 0x9e3779b97f4a7c15ull, 1000, out, sizeof out), 14);
	struct sip_txn_stats st;
	sip_txn_stats(t, &st);
	assert_int_equal(st.entries, 100000);
	assert_int_equal(st.evicted_early, 0);
	sip_txn_free(t);
}

/* The length of round r's answer for k: 1-900 bytes, and now and then more than any
 * entry's room (3,000 - k: with its offset k % 26 it stays inside big). */
static int answer_len(uint64_t k, int r)
{
	return k % 64 == 5 ? 3000 - (int)k : (int)((k * 37 + (uint64_t)r * 101) % 900) + 1;
}

/* Entries are reused: an expired one for the next answer, a "being decided" one for its
 * answer. Each answer comes back whole whatever entry held a shorter or longer one
 * before, and one larger than an entry's room gets an entry of its own. */
static void test_entries_reused(void **state)
{
	(void)state;
	struct sip_txn *t = sip_txn_new();
	assert_non_null(t);
	static char big[3000], out[4000];
	for (size_t i = 0; i < sizeof big; i++)
		big[i] = (char)('a' + i % 23);
	for (int r = 0; r < 4; r++) { /* each round's stores find the last round's expired */
		int64_t now = (int64_t)r * (SIP_TXN_LIFETIME_MS + 1);
		for (uint64_t k = 0; k < 512; k++) {
			uint64_t key = (uint64_t)r << 32 | k;
			if (k % 3 == 0) /* being decided first */
				sip_txn_store(t, key, now, NULL, 0);
			sip_txn_store(t, key, now, big + k % 26, answer_len(k, r));
		}
		for (uint64_t k = 0; k < 512; k++) {
			int len = answer_len(k, r);
			assert_int_equal(
			    sip_txn_lookup(t, (uint64_t)r << 32 | k, now, out, sizeof out), len);
			assert_memory_equal(out, big + k % 26, (size_t)len);
			if (r) /* the last round's are gone */
				assert_int_equal(sip_txn_lookup(t, (uint64_t)(r - 1) << 32 | k, now,
				                                out, sizeof out),
				                 -1);
		}
		struct sip_txn_stats st;
		sip_txn_stats(t, &st);
		/* this round's, and the last round's a shard kept while no store came to it
		 * (expired ones go when a store comes) */
		assert_in_range(st.entries, 512, 1024);
		assert_int_equal(st.evicted_early, 0);
	}
	sip_txn_free(t);
}

int main(void)
{
	if (sip_msg_init() != 0)
		return 1;
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_key),
	    cmocka_unit_test(test_answers),
	    cmocka_unit_test(test_kept_by_time_not_count),
	    cmocka_unit_test(test_entries_reused),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
