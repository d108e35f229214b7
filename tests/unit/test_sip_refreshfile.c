/* SPDX-License-Identifier: ISC */
/* The registrar's refresh file (sip/refreshfile.h): slots recorded, found, freed, grown,
 * kept across a reopen, emptied; torn and foreign bytes ignored; one slot's encoding. */
#include "sip/refreshfile.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
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

/* A slot for SEPnnnn's contact, taken and written. */
static uint32_t put(struct sip_rf *rf, int dev, const char *callid, uint32_t cseq, int64_t expires,
                    int64_t changedms)
{
	char device[16];
	snprintf(device, sizeof device, "SEP%04d", dev);
	uint32_t h = sip_rf_take(rf, device, "sip:a@192.0.2.1:5060");
	assert_true(h > 0);
	assert_int_equal(sip_rf_write(rf, h, callid, cseq, expires, changedms), 0);
	return h;
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

static void test_take_grow_reopen_reset(void **state)
{
	struct fx *f = *state;
	char err[256];
	struct sip_rf *rf = sip_rf_open(f->path, err, sizeof err);
	assert_non_null(rf);
	assert_int_equal(tu_file_size(f->path), SIP_RF_HEADER);
	/* 1,500 bindings: past the first 1,024 slots, so the file grows once (the new part
	 * mapped after the slots already written, which stay where they are). */
	static uint32_t h[1501];
	for (int d = 0; d < 1500; d++)
		h[d] = put(rf, d, "first", 1, 100, 1000 + d);
	assert_int_equal(sip_rf_count(rf), 1500);
	assert_int_equal(tu_file_size(f->path), SIP_RF_HEADER + 2048L * SIP_RF_SLOT);
	/* A second refresh of 0 rewrites its slot (a shorter Call-ID: no tail of the first). */
	assert_int_equal(sip_rf_write(rf, h[0], "2nd", 2, 300, 1000), 0);
	long torn = -1;
	struct seen *s = each(rf, &torn);
	assert_int_equal(s->n, 1500);
	assert_int_equal(torn, 0);
	assert_int_equal(s->expires[0], 300);
	assert_int_equal(s->cseq[0], 2);
	assert_string_equal(s->callid0, "2nd");
	assert_int_equal(s->expires[1499], 100);

	/* Invalidated: not read (a put of its binding came after), until written again. */
	sip_rf_invalidate(rf, h[3]);
	assert_int_equal(each(rf, &torn)->n, 1499);
	assert_int_equal(torn, 0); /* a voided slot is not a torn one */
	assert_int_equal(sip_rf_write(rf, h[3], "again", 4, 400, 1003), 0);
	assert_int_equal(each(rf, NULL)->expires[3], 400);
	/* Dropped: gone from the file, its slot the next one taken. */
	sip_rf_drop(rf, h[7]);
	assert_int_equal(sip_rf_count(rf), 1499);
	s = each(rf, &torn);
	assert_int_equal(s->n, 1499);
	assert_int_equal(s->expires[7], 0);
	h[1500] = put(rf, 1500, "new", 1, 400, 2500);
	assert_int_equal(h[1500], h[7]);
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
	/* Emptied: nothing left, the file cut to its header; slots are taken afresh. */
	assert_int_equal(sip_rf_reset(rf), 0);
	assert_int_equal(tu_file_size(f->path), SIP_RF_HEADER);
	assert_int_equal(each(rf, NULL)->n, 0);
	assert_int_equal(sip_rf_count(rf), 0);
	assert_int_equal(put(rf, 0, "x", 1, 1, 1000), 1);
	assert_int_equal(each(rf, NULL)->n, 1);
	sip_rf_close(rf);
}

static void test_limits(void **state)
{
	struct fx *f = *state;
	char err[256];
	struct sip_rf *rf = sip_rf_open(f->path, err, sizeof err);
	assert_non_null(rf);
	/* The longest key: a 128-byte device and a 511-byte contact; one byte more, none. */
	char device[STORE_ID_MAX + 2], contact[513], callid[SIP_RF_CALLID_MAX + 2];
	memset(device, 'd', STORE_ID_MAX);
	device[STORE_ID_MAX] = 0;
	memset(contact, 'k', 511);
	contact[511] = 0;
	uint32_t h = sip_rf_take(rf, device, contact);
	assert_true(h > 0);
	device[STORE_ID_MAX] = 'd';
	device[STORE_ID_MAX + 1] = 0;
	errno = 0;
	assert_int_equal(sip_rf_take(rf, device, contact), 0);
	assert_int_equal(errno, EINVAL);
	assert_int_equal(sip_rf_take(rf, "", contact), 0); /* no device */
	/* A Call-ID of 511 bytes fits; 512 do not. */
	memset(callid, 'c', SIP_RF_CALLID_MAX);
	callid[SIP_RF_CALLID_MAX] = 0;
	assert_int_equal(sip_rf_write(rf, h, callid, 1, 2, 3), 0);
	callid[SIP_RF_CALLID_MAX] = 'c';
	callid[SIP_RF_CALLID_MAX + 1] = 0;
	errno = 0;
	assert_int_equal(sip_rf_write(rf, h, callid, 1, 2, 3), -1);
	assert_int_equal(errno, EINVAL);
	assert_int_equal(sip_rf_count(rf), 1);
	sip_rf_close(rf);
}

/* Loops take, write and drop slots at once (each its own); the file grows meanwhile.
 * Run under ASan in CI: a slot that moved under a store would be a fault here. */
struct worker {
	struct sip_rf *rf;
	int id;
};

static void *churn(void *arg)
{
	struct worker *w = arg;
	uint32_t mine[600];
	for (int round = 0; round < 3; round++) {
		for (int i = 0; i < 600; i++) {
			char device[16];
			snprintf(device, sizeof device, "SEP%04d", w->id * 1000 + i);
			if (!(mine[i] = sip_rf_take(w->rf, device, "sip:a@192.0.2.1:5060")) ||
			    sip_rf_write(w->rf, mine[i], "c", 1, 100 + i,
			                 1000 + w->id * 1000 + i) != 0)
				return (void *)1;
		}
		for (int i = 0; i < 600; i += 1 + round)
			sip_rf_drop(w->rf, mine[i]);
	}
	return NULL;
}

static void test_threads(void **state)
{
	struct fx *f = *state;
	char err[256];
	struct sip_rf *rf = sip_rf_open(f->path, err, sizeof err);
	assert_non_null(rf);
	pthread_t t[4];
	struct worker w[4];
	for (int i = 0; i < 4; i++) {
		w[i] = (struct worker){rf, i};
		assert_int_equal(pthread_create(&t[i], NULL, churn, &w[i]), 0);
	}
	for (int i = 0; i < 4; i++) {
		void *rc;
		assert_int_equal(pthread_join(t[i], &rc), 0);
		assert_null(rc);
	}
	long torn = -1;
	long n = 0;
	struct seen *s = each(rf, &torn);
	n = s->n;
	assert_int_equal(torn, 0);
	assert_int_equal(n, sip_rf_count(rf));
	sip_rf_close(rf);
}

static void test_torn_and_foreign(void **state)
{
	struct fx *f = *state;
	char err[256];
	struct sip_rf *rf = sip_rf_open(f->path, err, sizeof err);
	assert_non_null(rf);
	for (int d = 0; d < 3; d++)
		put(rf, d, "cid", 5, 100 + d, 1000 + d);
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

	/* One process (here: one open) per file: a second is refused, saying why. */
	struct sip_rf *a = sip_rf_open(f->path, err, sizeof err);
	assert_non_null(a);
	assert_null(sip_rf_open(f->path, err, sizeof err));
	assert_non_null(strstr(err, "another process holds it"));
	sip_rf_close(a);
	/* Not a regular file. */
	assert_null(sip_rf_open(f->dir, err, sizeof err));
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
	    cmocka_unit_test_setup_teardown(test_take_grow_reopen_reset, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_limits, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_threads, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_torn_and_foreign, setup, teardown),
	    cmocka_unit_test(test_slot_encoding),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
