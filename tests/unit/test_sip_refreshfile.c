/* SPDX-License-Identifier: ISC */
/* The registrar's refresh file (sip/refreshfile.h): slots recorded, found, freed, grown,
 * kept across a reopen, emptied; torn and foreign bytes ignored; one slot's encoding. */
#include "sip/refreshfile.h"

#include <errno.h>
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

#include "testutil.h"

struct fx {
	char dir[64], path[128];
};

static int setup(void **state)
{
	struct fx *f = calloc(1, sizeof *f);
	tu_mkdtemp(f->dir, sizeof f->dir, "tgrf");
	snprintf(f->path, sizeof f->path, "%s/sip-location.refresh", f->dir);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fx *f = *state;
	tu_rmtree(f->dir);
	free(f);
	return 0;
}

static struct store_registration binding(int dev, const char *contact, const char *callid,
                                         uint32_t cseq, int64_t expires)
{
	struct store_registration b;
	memset(&b, 0, sizeof b);
	snprintf(b.device, sizeof b.device, "SEP%04d", dev);
	snprintf(b.contact, sizeof b.contact, "%s", contact);
	snprintf(b.callid, sizeof b.callid, "%s", callid);
	b.cseq = cseq;
	b.expires = expires;
	return b;
}

/* What sip_rf_each reports, by device number (SEPnnnn), for up to 4,096 devices. */
struct seen {
	int n;
	int64_t expires[4096];
	uint32_t cseq[4096];
	char callid0[64];
};

static int see(void *ud, const struct sip_rf_rec *r)
{
	struct seen *s = ud;
	int d = atoi(r->device + 3);
	assert_true(d >= 0 && d < 4096);
	assert_string_equal(r->contact, "sip:a@192.0.2.1:5060");
	s->expires[d] = r->expires;
	s->cseq[d] = r->cseq;
	if (d == 0)
		snprintf(s->callid0, sizeof s->callid0, "%s", r->callid);
	assert_int_equal(r->changedms, 1000 + d);
	s->n++;
	return 0;
}

static struct seen *each(struct sip_rf *rf, long *torn)
{
	static struct seen s;
	memset(&s, 0, sizeof s);
	assert_int_equal(sip_rf_each(rf, see, &s, torn), 0);
	return &s;
}

static void test_record_grow_reopen_reset(void **state)
{
	struct fx *f = *state;
	char err[256];
	struct sip_rf *rf = sip_rf_open(f->path, err, sizeof err);
	assert_non_null(rf);
	assert_int_equal(tu_file_size(f->path), SIP_RF_HEADER);
	/* 1,500 bindings: past the first 1,024 slots, so the file grows once (mapped again
	 * with the slots already written in it). */
	for (int d = 0; d < 1500; d++) {
		struct store_registration b = binding(d, "sip:a@192.0.2.1:5060", "first", 1, 100);
		assert_int_equal(sip_rf_record(rf, &b, 1000 + d), 0);
	}
	assert_int_equal(sip_rf_count(rf), 1500);
	assert_int_equal(tu_file_size(f->path), SIP_RF_HEADER + 2048L * SIP_RF_SLOT);
	/* A second refresh of 0 rewrites its slot (a shorter Call-ID: no tail of the first). */
	struct store_registration b = binding(0, "sip:a@192.0.2.1:5060", "2nd", 2, 300);
	assert_int_equal(sip_rf_record(rf, &b, 1000), 0);
	assert_int_equal(sip_rf_count(rf), 1500);
	long torn = -1;
	struct seen *s = each(rf, &torn);
	assert_int_equal(s->n, 1500);
	assert_int_equal(torn, 0);
	assert_int_equal(s->expires[0], 300);
	assert_int_equal(s->cseq[0], 2);
	assert_string_equal(s->callid0, "2nd");
	assert_int_equal(s->expires[1499], 100);
	assert_true(sip_rf_live(rf, "SEP0000", "sip:a@192.0.2.1:5060", 299));
	assert_false(sip_rf_live(rf, "SEP0000", "sip:a@192.0.2.1:5060", 300));
	assert_false(sip_rf_live(rf, "SEP0000", "sip:other@192.0.2.1", 1));

	/* Forgotten: gone from the file, its slot taken by the next new binding. */
	sip_rf_forget(rf, "SEP0007", "sip:a@192.0.2.1:5060");
	sip_rf_forget(rf, "SEP0007", "sip:a@192.0.2.1:5060"); /* twice: nothing */
	assert_int_equal(sip_rf_count(rf), 1499);
	assert_false(sip_rf_live(rf, "SEP0007", "sip:a@192.0.2.1:5060", 1));
	s = each(rf, &torn);
	assert_int_equal(s->n, 1499);
	assert_int_equal(s->expires[7], 0);
	assert_int_equal(torn, 0); /* a freed slot is not a torn one */
	b = binding(1500, "sip:a@192.0.2.1:5060", "new", 1, 400);
	assert_int_equal(sip_rf_record(rf, &b, 2500), 0);
	assert_int_equal(tu_file_size(f->path), SIP_RF_HEADER + 2048L * SIP_RF_SLOT);
	assert_int_equal(sip_rf_sync(rf), 0);
	sip_rf_close(rf);

	/* Reopened (as after a crash): every record is read back. */
	rf = sip_rf_open(f->path, err, sizeof err);
	assert_non_null(rf);
	s = each(rf, &torn);
	assert_int_equal(s->n, 1500);
	assert_int_equal(s->expires[1500], 400);
	assert_int_equal(s->expires[0], 300);
	/* Emptied: nothing left, the file cut to its header. */
	assert_int_equal(sip_rf_reset(rf), 0);
	assert_int_equal(tu_file_size(f->path), SIP_RF_HEADER);
	assert_int_equal(each(rf, NULL)->n, 0);
	assert_int_equal(sip_rf_count(rf), 0);
	assert_int_equal(sip_rf_record(rf, &b, 2500), 0);
	assert_int_equal(each(rf, NULL)->n, 1);
	sip_rf_close(rf);
}

static void test_limits(void **state)
{
	struct fx *f = *state;
	char err[256];
	struct sip_rf *rf = sip_rf_open(f->path, err, sizeof err);
	assert_non_null(rf);
	struct store_registration b = binding(1, "sip:a@192.0.2.1:5060", "x", 1, 100);
	/* A Call-ID that fills its field with no NUL (none is written so; the bound holds). */
	memset(b.callid, 'c', sizeof b.callid);
	errno = 0;
	assert_int_equal(sip_rf_record(rf, &b, 1), -1);
	assert_int_equal(errno, EINVAL);
	b.callid[SIP_RF_CALLID_MAX] = 0;
	assert_int_equal(sip_rf_record(rf, &b, 1), 0); /* 511: fits */
	/* The longest key: a 128-byte device and a 511-byte contact. */
	memset(b.device, 'd', STORE_ID_MAX);
	b.device[STORE_ID_MAX] = 0;
	memset(b.contact, 'k', sizeof b.contact - 1);
	b.contact[sizeof b.contact - 1] = 0;
	assert_int_equal(sip_rf_record(rf, &b, 1), 0);
	b.device[0] = 0;
	assert_int_equal(sip_rf_record(rf, &b, 1), -1); /* no device */
	assert_int_equal(sip_rf_count(rf), 2);
	sip_rf_close(rf);
}

static void test_torn_and_foreign(void **state)
{
	struct fx *f = *state;
	char err[256];
	struct sip_rf *rf = sip_rf_open(f->path, err, sizeof err);
	assert_non_null(rf);
	for (int d = 0; d < 3; d++) {
		struct store_registration b = binding(d, "sip:a@192.0.2.1:5060", "cid", 5, 100 + d);
		assert_int_equal(sip_rf_record(rf, &b, 1000 + d), 0);
	}
	sip_rf_close(rf);
	/* Slot 1's expiry half written (a crash in the middle of its store): ignored, counted
	 * torn; the others read. Then a slot's key with a NUL cut short: not a slot. */
	int fd = open(f->path, O_RDWR);
	assert_true(fd >= 0);
	char c = 0x7f;
	assert_int_equal(pwrite(fd, &c, 1, SIP_RF_HEADER + SIP_RF_SLOT + 24 + 7), 1);
	rf = sip_rf_open(f->path, err, sizeof err);
	assert_non_null(rf);
	long torn = 0;
	struct seen *s = each(rf, &torn);
	assert_int_equal(s->n, 2);
	assert_int_equal(torn, 1);
	assert_int_equal(s->expires[1], 0);
	assert_int_equal(s->expires[2], 102);
	sip_rf_close(rf);

	/* A file of another layout (here: another magic): emptied, not read. */
	assert_int_equal(pwrite(fd, "TGREFR99", 8, 0), 8);
	close(fd);
	rf = sip_rf_open(f->path, err, sizeof err);
	assert_non_null(rf);
	assert_int_equal(tu_file_size(f->path), SIP_RF_HEADER);
	assert_int_equal(each(rf, NULL)->n, 0);
	sip_rf_close(rf);
	/* Shorter than a header; a trailing part of a slot: no fault, no record. */
	fd = open(f->path, O_RDWR | O_TRUNC);
	assert_int_equal(write(fd, "TGREFR01", 8), 8);
	close(fd);
	rf = sip_rf_open(f->path, err, sizeof err);
	assert_non_null(rf);
	assert_int_equal(each(rf, NULL)->n, 0);
	sip_rf_close(rf);
	assert_int_equal(truncate(f->path, SIP_RF_HEADER + 100), 0);
	rf = sip_rf_open(f->path, err, sizeof err);
	assert_non_null(rf);
	assert_int_equal(each(rf, NULL)->n, 0);
	sip_rf_close(rf);

	/* A path that cannot be opened: NULL and a message naming it. */
	char bad[160];
	snprintf(bad, sizeof bad, "%s/no/such/dir/f", f->dir);
	assert_null(sip_rf_open(bad, err, sizeof err));
	assert_non_null(strstr(err, bad));
}

/* Every byte from the key check through the Call-ID's end is covered by the slot's
 * check: any one changed makes the slot invalid. */
static void test_slot_encoding(void **state)
{
	(void)state;
	static _Alignas(8) unsigned char slot[SIP_RF_SLOT];
	char callid[SIP_RF_CALLID_MAX + 1], key[SIP_RF_KEY_ROOM];
	struct sip_rf_rec r = {"SEP0001",  "sip:a@192.0.2.1:5060", "abc@host", 9,
	                       1796000000, 1796000000123};
	struct sip_rf_rec back;
	assert_int_equal(sip_rf_slot_encode(slot, &r), 0);
	assert_int_equal(sip_rf_slot_read(slot, &back, callid, key), 1);
	assert_string_equal(back.device, "SEP0001");
	assert_string_equal(back.contact, "sip:a@192.0.2.1:5060");
	assert_string_equal(back.callid, "abc@host");
	assert_int_equal(back.cseq, 9);
	assert_int_equal(back.expires, 1796000000);
	assert_int_equal(back.changedms, 1796000000123);
	for (size_t i = 0; i < 32 + strlen(r.callid); i++) {
		slot[i] ^= 0x01;
		assert_int_equal(sip_rf_slot_read(slot, &back, callid, key), 0);
		slot[i] ^= 0x01;
	}
	/* And the key's bytes (the key check). */
	slot[SIP_RF_SLOT - SIP_RF_KEY_ROOM + 2] ^= 0x01;
	assert_int_equal(sip_rf_slot_read(slot, &back, callid, key), 0);
	r.device = "";
	assert_int_equal(sip_rf_slot_encode(slot, &r), -1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_record_grow_reopen_reset, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_limits, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_torn_and_foreign, setup, teardown),
	    cmocka_unit_test(test_slot_encoding),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
