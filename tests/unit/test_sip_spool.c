/* SPDX-License-Identifier: ISC */
/* The registrar's outage spool: the record format, a torn tail, the cap, and a replay
 * into the store that a later row wins over and that can run twice. */
#include "core/util.h"
#include "sip/spool.h"
#include "store/store.h"

#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <cmocka.h>

#include "store_fixture.h"

struct fx {
	struct tu_store s; /* with 3 devices, SEP000..SEP002 */
	char spool[128];
};

static int setup(void **state)
{
	struct fx *f = calloc(1, sizeof *f);
	tu_store_init(&f->s, "tgspool", 3);
	snprintf(f->spool, sizeof f->spool, "%s/s.spool", f->s.dir);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fx *f = *state;
	tu_store_close(&f->s);
	free(f);
	return 0;
}

static struct sip_spool_rec rec(enum sip_spool_kind k, const char *dev, const char *contact,
                                int64_t expires, int64_t at_ms)
{
	struct sip_spool_rec r;
	memset(&r, 0, sizeof r);
	r.kind = k;
	r.at_ms = at_ms;
	snprintf(r.b.device, sizeof r.b.device, "%s", dev);
	snprintf(r.b.contact, sizeof r.b.contact, "%s", contact);
	snprintf(r.b.aor, sizeof r.b.aor, "sip:1001@example.com");
	snprintf(r.b.callid, sizeof r.b.callid, "call-%s", contact);
	snprintf(r.b.transport, sizeof r.b.transport, "UDP");
	snprintf(r.b.source, sizeof r.b.source, "127.0.0.1:5062");
	snprintf(r.b.sipinstance, sizeof r.b.sipinstance, "<urn:uuid:1>");
	r.b.cseq = 7;
	r.b.expires = expires;
	r.b.regid = -1;
	return r;
}

struct got {
	int n;
	struct sip_spool_rec r[8];
};

static int collect(void *ud, const struct sip_spool_rec *r)
{
	struct got *g = ud;
	if (g->n < 8)
		g->r[g->n] = *r;
	g->n++;
	return 0;
}

static long parse_file(const char *path, struct got *g, size_t *valid, size_t *len)
{
	char *buf;
	assert_int_equal(tg_read_file(path, 1 << 20, &buf, len), 0);
	memset(g, 0, sizeof *g);
	long n = sip_spool_parse((const uint8_t *)buf, *len, collect, g, valid);
	free(buf);
	return n;
}

static void test_encode_parse(void **state)
{
	(void)state;
	uint8_t buf[2 * (SIP_SPOOL_REC_MAX + 8) + 8];
	memcpy(buf, SIP_SPOOL_MAGIC, SIP_SPOOL_MAGIC_LEN);
	struct sip_spool_rec a = rec(SIP_SPOOL_PUT, "SEP000", "<sip:a@10.0.0.1>", 5000, 1234);
	struct sip_spool_rec b = rec(SIP_SPOOL_DELETE, "SEP001", "<sip:b@10.0.0.2>", 0, 99);
	b.b.regid = 3;
	size_t n1 = sip_spool_encode(&a, buf + 8, sizeof buf - 8);
	assert_true(n1 > 0);
	size_t n2 = sip_spool_encode(&b, buf + 8 + n1, sizeof buf - 8 - n1);
	assert_true(n2 > 0);
	struct got g = {0};
	size_t valid;
	assert_int_equal(sip_spool_parse(buf, 8 + n1 + n2, collect, &g, &valid), 2);
	assert_int_equal(valid, 8 + n1 + n2);
	assert_memory_equal(&g.r[0], &a, sizeof a);
	assert_memory_equal(&g.r[1], &b, sizeof b);
	/* too small an output, and not a spool */
	assert_int_equal(sip_spool_encode(&a, buf, 20), 0);
	assert_int_equal(sip_spool_parse((const uint8_t *)"TGSPOOL0", 8, collect, &g, &valid), -1);
	/* every cut of the second record: only the first is read */
	for (size_t cut = 8 + n1; cut < 8 + n1 + n2; cut++) {
		memset(&g, 0, sizeof g);
		assert_int_equal(sip_spool_parse(buf, cut, collect, &g, &valid), 1);
		assert_int_equal(valid, 8 + n1);
	}
	/* a flipped byte in the second record's payload: its check fails */
	buf[8 + n1 + 20] ^= 0x40;
	assert_int_equal(sip_spool_parse(buf, 8 + n1 + n2, collect, &g, &valid), 1);
}

static void test_torn_tail(void **state)
{
	struct fx *f = *state;
	char err[256];
	struct sip_spool *sp = sip_spool_open(f->spool, 1 << 20, err, sizeof err);
	assert_non_null(sp);
	assert_int_equal(sip_spool_bytes(sp), 0);
	const char *why;
	for (int i = 0; i < 3; i++) {
		char c[32];
		snprintf(c, sizeof c, "<sip:%d@10.0.0.1>", i);
		struct sip_spool_rec r = rec(SIP_SPOOL_PUT, "SEP000", c, 5000 + i, 1000 + i);
		assert_int_equal(sip_spool_add(sp, &r), 0);
	}
	assert_int_equal(sip_spool_flush(sp, &why), 0);
	int64_t whole = sip_spool_bytes(sp);
	assert_true(whole > 0);
	sip_spool_close(sp);

	/* A crash in the middle of the next group's write: half a record at the end. */
	uint8_t half[SIP_SPOOL_REC_MAX + 8];
	struct sip_spool_rec r = rec(SIP_SPOOL_DELETE, "SEP000", "<sip:9@10.0.0.1>", 0, 2000);
	size_t n = sip_spool_encode(&r, half, sizeof half);
	int fd = open(f->spool, O_WRONLY | O_APPEND);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, half, n / 2), (ssize_t)(n / 2));
	close(fd);
	struct got g;
	size_t valid, len;
	assert_int_equal(parse_file(f->spool, &g, &valid, &len), 3);
	assert_int_equal(valid, SIP_SPOOL_MAGIC_LEN + (size_t)whole);
	assert_true(len > valid);

	/* Opened again: the tail is cut, and the next group follows the last whole record. */
	sp = sip_spool_open(f->spool, 1 << 20, err, sizeof err);
	assert_non_null(sp);
	assert_int_equal(sip_spool_bytes(sp), whole);
	assert_int_equal(sip_spool_add(sp, &r), 0);
	assert_int_equal(sip_spool_flush(sp, &why), 0);
	sip_spool_close(sp);
	assert_int_equal(parse_file(f->spool, &g, &valid, &len), 4);
	assert_int_equal(valid, len);
	assert_int_equal(g.r[3].kind, SIP_SPOOL_DELETE);
	assert_string_equal(g.r[2].b.contact, "<sip:2@10.0.0.1>");
}

static void test_cap_and_foreign_file(void **state)
{
	struct fx *f = *state;
	char err[256];
	struct sip_spool *sp = sip_spool_open(f->spool, 400, err, sizeof err);
	assert_non_null(sp);
	const char *why;
	struct sip_spool_rec r = rec(SIP_SPOOL_PUT, "SEP000", "<sip:a@10.0.0.1>", 5000, 1);
	assert_int_equal(sip_spool_add(sp, &r), 0);
	assert_int_equal(sip_spool_flush(sp, &why), 0);
	int64_t one = sip_spool_bytes(sp);
	/* Two more would pass 400 bytes (~150 each): the group is refused whole, the file
	 * unchanged. */
	assert_int_equal(sip_spool_add(sp, &r), 0);
	assert_int_equal(sip_spool_add(sp, &r), 0);
	assert_int_equal(sip_spool_flush(sp, &why), -1);
	assert_string_equal(why, "full");
	assert_int_equal(sip_spool_bytes(sp), one);
	/* An empty group is nothing to do. */
	assert_int_equal(sip_spool_flush(sp, &why), 0);
	sip_spool_close(sp);
	struct stat s;
	assert_int_equal(stat(f->spool, &s), 0);
	assert_int_equal(s.st_mode & 0777, 0600);

	/* A crash while a new spool's magic was written: still a new spool. */
	char torn[160];
	snprintf(torn, sizeof torn, "%s/torn", f->s.dir);
	FILE *t = fopen(torn, "w");
	fputs("TGSP", t);
	fclose(t);
	assert_non_null(sp = sip_spool_open(torn, 1 << 20, err, sizeof err));
	assert_int_equal(sip_spool_bytes(sp), 0);
	sip_spool_close(sp);

	/* A file that is not a spool is never truncated. */
	char other[160];
	snprintf(other, sizeof other, "%s/other", f->s.dir);
	FILE *o = fopen(other, "w");
	fputs("not a spool at all\n", o);
	fclose(o);
	assert_null(sip_spool_open(other, 1 << 20, err, sizeof err));
	assert_non_null(strstr(err, "not a telgate spool"));
	assert_int_equal(stat(other, &s), 0);
	assert_int_equal(s.st_size, 19);
}

struct rows {
	int n;
	struct store_registration r[8];
};

static int row(void *ud, const struct store_registration *b)
{
	struct rows *rs = ud;
	if (rs->n < 8)
		rs->r[rs->n] = *b;
	rs->n++;
	return 0;
}

static struct rows rows_of(store_t *st)
{
	struct rows rs;
	memset(&rs, 0, sizeof rs);
	assert_int_equal(store_registrations(st, NULL, row, &rs), STORE_OK);
	return rs;
}

static void spool_all(struct fx *f, const struct sip_spool_rec *r, int n)
{
	char err[256];
	const char *why;
	struct sip_spool *sp = sip_spool_open(f->spool, 1 << 20, err, sizeof err);
	assert_non_null(sp);
	for (int i = 0; i < n; i++)
		assert_int_equal(sip_spool_add(sp, &r[i]), 0);
	assert_int_equal(sip_spool_flush(sp, &why), 0);
	sip_spool_close(sp);
}

static void replay(struct fx *f, long want)
{
	char err[256];
	struct sip_spool *sp = sip_spool_open(f->spool, 1 << 20, err, sizeof err);
	assert_non_null(sp);
	long n;
	assert_int_equal(sip_spool_replay(sp, f->s.st, "", 1000, &n), STORE_OK);
	assert_int_equal(n, want);
	assert_int_equal(sip_spool_pending(sp), 0);
	assert_int_equal(sip_spool_bytes(sp), 0); /* truncated */
	sip_spool_close(sp);
}

static void test_replay_idempotent(void **state)
{
	struct fx *f = *state;
	/* In the store before the outage: b (to be removed during it), c (refreshed on
	 * another node after the outage began: that later row must win). */
	struct sip_spool_rec b = rec(SIP_SPOOL_PUT, "SEP001", "<sip:b@10.0.0.2>", 5000, 0);
	struct sip_spool_rec c = rec(SIP_SPOOL_PUT, "SEP002", "<sip:c@10.0.0.3>", 9000, 0);
	assert_int_equal(store_registration_put(f->s.st, &b.b), STORE_OK);
	assert_int_equal(store_registration_put(f->s.st, &c.b), STORE_OK);
	/* During the outage (spooled at a time before those rows were stamped "now"): a new
	 * a, b removed, c an older version (expires 7000), and a binding of a device deleted
	 * meanwhile (skipped, not an error). */
	struct sip_spool_rec sp[] = {
	    rec(SIP_SPOOL_PUT, "SEP000", "<sip:a@10.0.0.1>", 6000, 1000),
	    rec(SIP_SPOOL_DELETE, "SEP001", "<sip:b@10.0.0.2>", 0, 1000),
	    rec(SIP_SPOOL_PUT, "SEP002", "<sip:c@10.0.0.3>", 7000, 1000),
	    rec(SIP_SPOOL_PUT, "SEP404", "<sip:z@10.0.0.9>", 7000, 1000),
	};
	spool_all(f, sp, 4);
	replay(f, 4);
	struct rows rs = rows_of(f->s.st);
	/* a is in; c keeps its later row; b is not removed: its row (stamped now, when it
	 * was written above) is later than the spooled removal at 1000 ms. */
	assert_int_equal(rs.n, 3);
	assert_string_equal(rs.r[0].device, "SEP000");
	assert_int_equal(rs.r[0].expires, 6000);
	assert_string_equal(rs.r[1].device, "SEP001");
	assert_string_equal(rs.r[2].device, "SEP002");
	assert_int_equal(rs.r[2].expires, 9000);

	/* Spooled after those rows (at_ms far ahead): the removal and the update apply. */
	int64_t later = INT64_C(4102444800000); /* 2100 */
	struct sip_spool_rec sp2[] = {
	    rec(SIP_SPOOL_DELETE, "SEP001", "<sip:b@10.0.0.2>", 0, later),
	    rec(SIP_SPOOL_PUT, "SEP002", "<sip:c@10.0.0.3>", 7000, later),
	    rec(SIP_SPOOL_EXPIRE, "", "", 6500, later),
	};
	spool_all(f, sp2, 3);
	replay(f, 3);
	rs = rows_of(f->s.st);
	assert_int_equal(rs.n, 1); /* a expired at 6000 <= 6500; b removed */
	assert_string_equal(rs.r[0].device, "SEP002");
	assert_int_equal(rs.r[0].expires, 7000);

	/* In chunks: two, then the last one; the file is truncated only after it. */
	spool_all(f, sp2, 3);
	char err[256];
	struct sip_spool *s = sip_spool_open(f->spool, 1 << 20, err, sizeof err);
	assert_non_null(s);
	long n;
	int64_t all = sip_spool_bytes(s);
	assert_int_equal(sip_spool_replay(s, f->s.st, "", 2, &n), STORE_OK);
	assert_int_equal(n, 2);
	assert_true(sip_spool_pending(s) > 0 && sip_spool_pending(s) < all);
	assert_int_equal(sip_spool_bytes(s), all);
	assert_int_equal(sip_spool_replay(s, f->s.st, "", 2, &n), STORE_OK);
	assert_int_equal(n, 1);
	assert_int_equal(sip_spool_pending(s), 0);
	assert_int_equal(sip_spool_bytes(s), 0);
	sip_spool_close(s);

	/* A crash between the replay's commit and the truncation: the same file replayed
	 * again changes nothing. */
	spool_all(f, sp2, 3);
	replay(f, 3);
	struct rows again = rows_of(f->s.st);
	assert_int_equal(again.n, 1);
	assert_memory_equal(&again.r[0], &rs.r[0], sizeof rs.r[0]);
	/* And an empty spool replays nothing. */
	replay(f, 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_encode_parse),
	    cmocka_unit_test_setup_teardown(test_torn_tail, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_cap_and_foreign_file, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_replay_idempotent, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
