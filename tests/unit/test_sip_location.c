/* SPDX-License-Identifier: ISC */
/* The registrar's location table (bindings in memory, written behind to the store) and
 * its account cache. */
#include "sip/accounts.h"
#include "sip/location.h"
#include "sip/refreshfile.h"
#include "store/store.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <cmocka.h>

#include "store_fixture.h"

/* A store with 20 devices, SEP000..SEP019. */
static int setup(void **state)
{
	struct tu_store *f = calloc(1, sizeof *f);
	tu_store_init(f, "tgloc", 20);
	*state = f;
	return 0;
}

/* An edit: set the contacts given (expiry each), or remove everything (n = 0). */
struct want {
	int n;
	const char *contact[4];
	int64_t expires[4];
	uint32_t cseq;
	int refuse;
};

static int edit(void *ud, struct store_registration *b, int *n, int cap)
{
	struct want *w = ud;
	if (w->refuse)
		return w->refuse;
	assert_true(w->n <= cap);
	*n = w->n;
	for (int i = 0; i < w->n; i++) {
		memset(&b[i], 0, sizeof b[i]);
		snprintf(b[i].contact, sizeof b[i].contact, "%s", w->contact[i]);
		snprintf(b[i].callid, sizeof b[i].callid, "call-%u", w->cseq);
		snprintf(b[i].transport, sizeof b[i].transport, "UDP");
		b[i].cseq = w->cseq;
		b[i].expires = w->expires[i];
	}
	return 0;
}

struct seen {
	int n;
	char dev[8][STORE_ID_MAX + 1], contact[8][512], callid[8][64];
	int64_t expires[8];
	uint32_t cseq[8];
};

static int collect(void *ud, const struct store_registration *b)
{
	struct seen *s = ud;
	if (s->n < 8) {
		snprintf(s->dev[s->n], sizeof s->dev[0], "%s", b->device);
		snprintf(s->contact[s->n], sizeof s->contact[0], "%s", b->contact);
		snprintf(s->callid[s->n], sizeof s->callid[0], "%.63s", b->callid);
		s->expires[s->n] = b->expires;
		s->cseq[s->n] = b->cseq;
	}
	s->n++;
	return 0;
}

static struct seen stored(struct tu_store *f)
{
	struct seen s = {0};
	assert_int_equal(store_registrations(f->st, NULL, collect, &s), STORE_OK);
	return s;
}

/* Issue 21: a node's table writes its name on its bindings, loads and expires only its
 * own; another node's put takes a binding over; a dead node's expired bindings are
 * deleted once (store_registrations_expire_orphans), its devices told out of service. */
static int gone_devices(void *ud, const char *const *devices, int n)
{
	struct seen *s = ud;
	for (int i = 0; i < n && s->n < 8; i++)
		snprintf(s->dev[s->n++], sizeof s->dev[0], "%s", devices[i]);
	return 0;
}

static void no_gone(void *ud, const char *device)
{
	(void)ud;
	(void)device;
}

static void test_bindings_owned_per_node(void **state)
{
	struct tu_store *f = *state;
	char err[256];
	struct sip_loc *a = sip_loc_open(f->st, "node-a", 1000, NULL, 0, NULL, err, sizeof err);
	assert_non_null(a);
	int before = 0;
	struct want w1 = {1, {"sip:a@10.0.0.1"}, {1100}, 1, 0};
	struct want w2 = {1, {"sip:b@10.0.0.2"}, {1500}, 1, 0};
	assert_int_equal(sip_loc_update(a, "SEP001", 1000, edit, &w1, &before, NULL, NULL), 0);
	assert_int_equal(sip_loc_update(a, "SEP002", 1000, edit, &w2, &before, NULL, NULL), 0);
	sip_loc_sync(a);
	sip_loc_free(a); /* as if node-a died: its rows stay */
	/* node-b loads none of node-a's bindings ... */
	struct sip_loc *b = sip_loc_open(f->st, "node-b", 1000, NULL, 0, NULL, err, sizeof err);
	assert_non_null(b);
	long devs = -1, binds = -1;
	sip_loc_counts(b, 1000, &devs, &binds);
	assert_int_equal(binds, 0);
	/* ... and SEP002's phone re-registering through node-b takes its binding over. */
	struct want w3 = {1, {"sip:b@10.0.0.2"}, {1600}, 2, 0};
	assert_int_equal(sip_loc_update(b, "SEP002", 1000, edit, &w3, &before, NULL, NULL), 0);
	assert_int_equal(before, 0);
	sip_loc_sync(b);
	assert_int_equal(store_registration_live(f->st, "SEP002", 1550), 1);
	/* node-b's expiry leaves node-a's expired row to the orphan sweep. */
	sip_loc_expire(b, 1200, no_gone, NULL);
	sip_loc_sync(b);
	assert_int_equal(stored(f).n, 2);
	/* node-a alive (heartbeat at 1150 >= stale_before 1100): nothing is deleted. */
	struct store_processnode na;
	memset(&na, 0, sizeof na);
	snprintf(na.name, sizeof na.name, "node-a");
	na.lastheartbeat = 1150;
	assert_int_equal(store_processnode_put(f->st, &na), STORE_OK);
	struct seen out = {0};
	int n = -1;
	assert_int_equal(
	    store_registrations_expire_orphans(f->st, "node-b", 1200, 1100, gone_devices, &out, &n),
	    STORE_OK);
	assert_int_equal(n, 0);
	/* Silent since 1150 (stale_before 1160): its expired row goes, SEP001 is out of
	 * service; a second sweep finds nothing (deleted once). */
	assert_int_equal(
	    store_registrations_expire_orphans(f->st, "node-b", 1200, 1160, gone_devices, &out, &n),
	    STORE_OK);
	assert_int_equal(n, 1);
	assert_int_equal(out.n, 1);
	assert_string_equal(out.dev[0], "SEP001");
	assert_int_equal(
	    store_registrations_expire_orphans(f->st, "node-b", 1200, 1160, gone_devices, &out, &n),
	    STORE_OK);
	assert_int_equal(n, 0);
	struct seen left = stored(f);
	assert_int_equal(left.n, 1);
	assert_string_equal(left.dev[0], "SEP002");
	assert_int_equal(store_registration_live(f->st, "SEP001", 1200), 0);
	sip_loc_free(b);
}

static void test_update_list_and_store(void **state)
{
	struct tu_store *f = *state;
	char err[256];
	struct sip_loc *l = sip_loc_new(f->st, 1000, err, sizeof err);
	assert_non_null(l);
	struct want w = {2, {"sip:b@10.0.0.1", "sip:a@10.0.0.1"}, {2000, 3000}, 1, 0};
	int before = -1, n = -1;
	struct store_registration after[SIP_LOC_MAX];
	assert_int_equal(sip_loc_update(l, "SEP001", 1000, edit, &w, &before, after, &n), 0);
	assert_int_equal(before, 0);
	assert_int_equal(n, 2);
	assert_string_equal(after[0].device, "SEP001"); /* filled in by the table */

	/* Listed in device/contact order, at once; in the store once written. */
	struct seen s = {0};
	assert_int_equal(sip_loc_list(l, NULL, 1000, collect, &s), 0);
	assert_int_equal(s.n, 2);
	assert_string_equal(s.contact[0], "sip:a@10.0.0.1");
	sip_loc_sync(l);
	assert_int_equal(stored(f).n, 2);

	/* A refused edit changes nothing and returns the refusal. */
	struct want no = {.refuse = 423};
	assert_int_equal(sip_loc_update(l, "SEP001", 1000, edit, &no, &before, NULL, NULL), 423);
	assert_int_equal(before, 2);

	/* Replace one contact: the other goes from memory and from the store. */
	struct want w2 = {1, {"sip:a@10.0.0.1"}, {4000}, 2, 0};
	assert_int_equal(sip_loc_update(l, "SEP001", 1000, edit, &w2, &before, after, &n), 0);
	assert_int_equal(before, 2);
	assert_int_equal(n, 1);
	sip_loc_sync(l);
	s = stored(f);
	assert_int_equal(s.n, 1);
	assert_int_equal(s.expires[0], 4000);

	/* A binding past its expiry is not live: the next edit sees none before it. */
	assert_int_equal(sip_loc_update(l, "SEP001", 5000, edit, &w2, &before, NULL, &n), 0);
	assert_int_equal(before, 0);

	long devs, binds;
	sip_loc_counts(l, 1000, &devs, &binds);
	assert_int_equal(devs, 1);
	assert_int_equal(binds, 1);

	/* Removing all: the device leaves the table and the store. */
	struct want none = {0};
	assert_int_equal(sip_loc_update(l, "SEP001", 1000, edit, &none, &before, NULL, &n), 0);
	assert_int_equal(n, 0);
	sip_loc_sync(l);
	assert_int_equal(stored(f).n, 0);
	s.n = 0;
	assert_int_equal(sip_loc_list(l, "SEP001", 1000, collect, &s), 0);
	assert_int_equal(s.n, 0);
	sip_loc_free(l);
}

/* The commit listener: counts its calls. It runs under the table's queue lock, so the
 * test never holds mu while calling into the table. */
struct listener {
	pthread_mutex_t mu;
	pthread_cond_t cv;
	int calls;
};

static void on_commit(void *arg)
{
	struct listener *k = arg;
	pthread_mutex_lock(&k->mu);
	k->calls++;
	pthread_cond_signal(&k->cv);
	pthread_mutex_unlock(&k->mu);
}

/* Waits for the listener until t is durable (no timeout: a writer that never commits
 * hangs the test, which ctest's timeout reports). */
static void wait_durable(struct sip_loc *l, struct listener *k, const struct sip_loc_ticket *t)
{
	pthread_mutex_lock(&k->mu);
	while (sip_loc_state(l, t) != SIP_COMMIT_DURABLE) {
		struct timespec ts;
		clock_gettime(CLOCK_REALTIME, &ts);
		ts.tv_nsec += 10000000;
		if (ts.tv_nsec >= 1000000000) {
			ts.tv_sec++;
			ts.tv_nsec -= 1000000000;
		}
		pthread_cond_timedwait(&k->cv, &k->mu, &ts);
	}
	assert_true(k->calls > 0);
	pthread_mutex_unlock(&k->mu);
}

/* A new binding or a removal gets a ticket, a refresh does not; the writer commits a
 * ticket's changes without waiting for the write-behind flush and calls the listener. */
static void test_tickets(void **state)
{
	struct tu_store *f = *state;
	char err[256];
	struct sip_loc *l = sip_loc_new(f->st, 1000, err, sizeof err);
	assert_non_null(l);
	sip_loc_set_commit_interval(l, 0);
	struct listener k = {.calls = 0};
	pthread_mutex_init(&k.mu, NULL);
	pthread_cond_init(&k.cv, NULL);
	sip_loc_on_commit(l, on_commit, &k);
	int before, n;
	struct sip_loc_ticket t = {7, 7};

	struct want w = {1, {"sip:a@10.0.0.1"}, {2000}, 1, 0};
	assert_int_equal(sip_loc_change(l, "SEP001", 1000, edit, &w, &before, NULL, &n, &t), 0);
	assert_true(t.first >= 1 && t.last >= t.first);
	wait_durable(l, &k, &t);
	assert_int_equal(sip_loc_state(l, &t), SIP_COMMIT_DURABLE);
	assert_int_equal(stored(f).n, 1); /* durable means in the store */

	/* A refresh (same contact, later expiry, next CSeq): write-behind, no ticket. */
	struct want r = {1, {"sip:a@10.0.0.1"}, {2500}, 2, 0};
	assert_int_equal(sip_loc_change(l, "SEP001", 1000, edit, &r, &before, NULL, &n, &t), 0);
	assert_int_equal(t.first, 0);
	assert_int_equal(t.last, 0);
	assert_int_equal(sip_loc_state(l, &t), SIP_COMMIT_DURABLE);
	/* written by the narrower refresh statement: the new expiry, the binding kept */
	sip_loc_sync(l);
	struct seen after = stored(f);
	assert_int_equal(after.n, 1);
	assert_string_equal(after.contact[0], "sip:a@10.0.0.1");
	assert_int_equal(after.expires[0], 2500);

	/* The same contact again, unchanged: nothing queued, no ticket. */
	assert_int_equal(sip_loc_change(l, "SEP001", 1000, edit, &r, &before, NULL, &n, &t), 0);
	assert_int_equal(t.last, 0);

	/* A refused edit: no ticket. */
	struct want no = {.refuse = 423};
	assert_int_equal(sip_loc_change(l, "SEP001", 1000, edit, &no, &before, NULL, &n, &t), 423);
	assert_int_equal(t.last, 0);

	/* A removal: a ticket, and after it the store has nothing. */
	struct want none = {0};
	struct sip_commit_point cp;
	sip_loc_committed(l, &cp);
	uint64_t prev = cp.written;
	assert_int_equal(sip_loc_change(l, "SEP001", 1000, edit, &none, &before, NULL, &n, &t), 0);
	assert_true(t.first > prev);
	wait_durable(l, &k, &t);
	assert_int_equal(stored(f).n, 0);
	sip_loc_committed(l, &cp);
	assert_true(cp.written >= t.last);
	assert_int_equal(cp.lost_upto, 0);

	/* Its commits were measured. */
	const struct sip_loc_stats *st = sip_loc_stats(l);
	assert_true(st->commit_latency.count >= 2);
	assert_true(st->batch_changes.count >= 2);

	sip_loc_on_commit(l, NULL, NULL);
	sip_loc_free(l);
	pthread_cond_destroy(&k.cv);
	pthread_mutex_destroy(&k.mu);
}

/* A contact whose addition is not committed yet (its 200 would have been a 500) is new
 * again when the phone repeats it: it gets a ticket, not a refresh's write-behind. */
static void test_pending_add_is_not_a_refresh(void **state)
{
	struct tu_store *f = *state;
	char err[256];
	store_t *st;
	struct store_options o = {.backend = "sqlite", .path = f->path, .busy_timeout_ms = 50};
	assert_int_equal(store_open(&o, &st, err, sizeof err), STORE_OK);
	struct sip_loc *l = sip_loc_new(st, 1000, err, sizeof err);
	assert_non_null(l);
	/* The fixture's connection holds the write lock: nothing can be committed. */
	assert_int_equal(store_begin(f->st), STORE_OK);
	int before, n;
	struct sip_loc_ticket t1, t2, t3;
	struct want w = {1, {"sip:p@10.0.0.9"}, {2000}, 1, 0};
	assert_int_equal(sip_loc_change(l, "SEP009", 1000, edit, &w, &before, NULL, &n, &t1), 0);
	assert_true(t1.last > 0);
	assert_int_equal(sip_loc_state(l, &t1), SIP_COMMIT_PENDING);
	struct want again = {1, {"sip:p@10.0.0.9"}, {2100}, 2, 0};
	assert_int_equal(sip_loc_change(l, "SEP009", 1000, edit, &again, &before, NULL, &n, &t2),
	                 0);
	assert_true(t2.first > t1.last);
	assert_int_equal(sip_loc_state(l, &t2), SIP_COMMIT_PENDING);
	assert_int_equal(store_rollback(f->st), STORE_OK);
	/* The writer retries every second; then both are in, and a refresh is a refresh. */
	while (sip_loc_state(l, &t2) != SIP_COMMIT_DURABLE) {
		struct timespec ts = {0, 10000000};
		nanosleep(&ts, NULL);
	}
	assert_int_equal(sip_loc_state(l, &t1), SIP_COMMIT_DURABLE);
	struct want r = {1, {"sip:p@10.0.0.9"}, {2200}, 3, 0};
	assert_int_equal(sip_loc_change(l, "SEP009", 1000, edit, &r, &before, NULL, &n, &t3), 0);
	assert_int_equal(t3.last, 0);
	sip_loc_free(l);
	store_close(st);
	struct seen s2 = stored(f);
	assert_int_equal(s2.n, 1);
	assert_int_equal(s2.expires[0], 2200);
}

struct gone {
	int n;
	char dev[4][STORE_ID_MAX + 1];
};

static void on_gone(void *ud, const char *device)
{
	struct gone *g = ud;
	if (g->n < 4)
		snprintf(g->dev[g->n], sizeof g->dev[0], "%s", device);
	g->n++;
}

static void test_expiry_and_restart(void **state)
{
	struct tu_store *f = *state;
	char err[256];
	struct sip_loc *l = sip_loc_new(f->st, 1000, err, sizeof err);
	assert_non_null(l);
	struct want a = {2, {"sip:x@h", "sip:y@h"}, {1100, 1500}, 1, 0};
	struct want b = {1, {"sip:z@h"}, {1200}, 1, 0};
	struct want c = {1, {"sip:w@h"}, {9000}, 1, 0};
	int before, n;
	assert_int_equal(sip_loc_update(l, "SEP002", 1000, edit, &a, &before, NULL, &n), 0);
	assert_int_equal(sip_loc_update(l, "SEP003", 1000, edit, &b, &before, NULL, &n), 0);
	assert_int_equal(sip_loc_update(l, "SEP004", 1000, edit, &c, &before, NULL, &n), 0);

	/* At 1200: SEP002 keeps one binding, SEP003 has none left (reported once). */
	struct gone g = {0};
	sip_loc_expire(l, 1200, on_gone, &g);
	assert_int_equal(g.n, 1);
	assert_string_equal(g.dev[0], "SEP003");
	sip_loc_expire(l, 1200, on_gone, &g);
	assert_int_equal(g.n, 1);
	sip_loc_sync(l);
	struct seen s = stored(f);
	assert_int_equal(s.n, 2);
	assert_string_equal(s.contact[0], "sip:y@h");
	assert_string_equal(s.contact[1], "sip:w@h");

	/* A clean stop writes what is queued; the next start loads what has not expired. */
	struct want d = {1, {"sip:v@h"}, {1400}, 2, 0};
	assert_int_equal(sip_loc_update(l, "SEP005", 1200, edit, &d, &before, NULL, &n), 0);
	sip_loc_free(l);
	assert_int_equal(stored(f).n, 3);
	l = sip_loc_new(f->st, 1450, err, sizeof err);
	assert_non_null(l);
	s.n = 0;
	assert_int_equal(sip_loc_list(l, NULL, 1450, collect, &s), 0);
	assert_int_equal(s.n, 2);
	assert_string_equal(s.dev[0], "SEP002");
	assert_string_equal(s.dev[1], "SEP004");
	/* What was loaded expires on time too (the sweep skips shards that are not due). */
	g.n = 0;
	sip_loc_expire(l, 1499, on_gone, &g);
	assert_int_equal(g.n, 0);
	sip_loc_expire(l, 1500, on_gone, &g);
	assert_int_equal(g.n, 1);
	assert_string_equal(g.dev[0], "SEP002");
	sip_loc_free(l);
}

/* Schema v19 has no index on expires, so a binding the sweep expires in memory is deleted
 * from the store by its key, and the store's scan of the node's rows runs at the first
 * sweep and then every SCAN_EVERY_S (300 s) only, for rows memory does not hold. A row
 * another node took over is not deleted by this node's expiry of its own copy. */
/* A row written behind the table's back, as another node or an earlier run did. */
static void put_row(struct tu_store *f, const char *device, const char *contact, const char *node,
                    int64_t expires)
{
	struct store_registration r;
	memset(&r, 0, sizeof r);
	snprintf(r.device, sizeof r.device, "%s", device);
	snprintf(r.contact, sizeof r.contact, "%s", contact);
	snprintf(r.node, sizeof r.node, "%s", node);
	r.expires = expires;
	assert_int_equal(store_registration_put(f->st, &r), STORE_OK);
}

static void test_expiry_by_key_and_scan(void **state)
{
	struct tu_store *f = *state;
	char err[256];
	struct sip_loc *a = sip_loc_open(f->st, "node-a", 1000, NULL, 0, NULL, err, sizeof err);
	assert_non_null(a);
	struct gone g = {0};
	sip_loc_expire(a, 1000, on_gone, &g); /* the first sweep: the scan */
	int before = 0;
	struct want w1 = {2, {"sip:x@h", "sip:y@h"}, {1100, 1500}, 1, 0};
	struct want w2 = {1, {"sip:z@h"}, {1100}, 1, 0};
	assert_int_equal(sip_loc_update(a, "SEP001", 1000, edit, &w1, &before, NULL, NULL), 0);
	assert_int_equal(sip_loc_update(a, "SEP002", 1000, edit, &w2, &before, NULL, NULL), 0);
	sip_loc_sync(a);
	/* A row memory does not hold (as if left by an earlier run), expired; and SEP002's
	 * phone moved to node-b, which took its row over (node-a still holds its own copy in
	 * memory until it expires). */
	put_row(f, "SEP003", "sip:stale@h", "node-a", 1050);
	put_row(f, "SEP002", "sip:z@h", "node-b", 1900);
	assert_int_equal(stored(f).n, 4);
	/* At 1200, within 300 s of the scan: SEP001's x and node-a's SEP002 copy expire in
	 * memory; x's row goes by key, node-b's SEP002 row stays, the stale row waits. */
	sip_loc_expire(a, 1200, on_gone, &g);
	sip_loc_sync(a);
	struct seen s = stored(f);
	assert_int_equal(s.n, 3);
	assert_string_equal(s.contact[0], "sip:y@h");
	assert_string_equal(s.contact[1], "sip:z@h");
	assert_int_equal(s.expires[1], 1900);
	assert_string_equal(s.contact[2], "sip:stale@h");
	/* At 1300 (300 s after the first scan) the scan takes the stale row. */
	sip_loc_expire(a, 1299, on_gone, &g);
	sip_loc_sync(a);
	assert_int_equal(stored(f).n, 3);
	sip_loc_expire(a, 1300, on_gone, &g);
	sip_loc_sync(a);
	s = stored(f);
	assert_int_equal(s.n, 2);
	assert_string_equal(s.contact[0], "sip:y@h");
	assert_string_equal(s.contact[1], "sip:z@h");
	sip_loc_free(a);
}

/* The sweep visits only shards with something due (issue 22): every binding still goes
 * at its expiry, whether its device was written before the last sweep, after it, or
 * moved to an earlier expiry than its shard had. */
static void test_expiry_only_what_is_due(void **state)
{
	struct tu_store *f = *state;
	char err[256];
	struct sip_loc *l = sip_loc_new(f->st, 1000, err, sizeof err);
	assert_non_null(l);
	enum { DEVS = 300 };
	char contact[DEVS][32];
	int before, n;
	for (int i = 0; i < DEVS; i++) {
		char dev[16];
		snprintf(dev, sizeof dev, "SEP%04d", i);
		snprintf(contact[i], sizeof contact[i], "sip:%d@h", i);
		struct want w = {1, {contact[i]}, {1100 + i % 10 * 10}, 1, 0};
		assert_int_equal(sip_loc_update(l, dev, 1000, edit, &w, &before, NULL, &n), 0);
	}
	struct gone g = {0};
	sip_loc_expire(l, 1050, on_gone, &g); /* nothing due; the marks are now exact */
	assert_int_equal(g.n, 0);
	/* Moved earlier after that sweep: device 5 (was 1150) to 1060. */
	struct want early = {1, {contact[5]}, {1060}, 2, 0};
	assert_int_equal(sip_loc_update(l, "SEP0005", 1050, edit, &early, &before, NULL, &n), 0);
	sip_loc_expire(l, 1059, on_gone, &g);
	assert_int_equal(g.n, 0);
	sip_loc_expire(l, 1060, on_gone, &g);
	assert_int_equal(g.n, 1);
	assert_string_equal(g.dev[0], "SEP0005");
	for (int t = 1100, left = DEVS - 1; t <= 1190; t += 10) {
		g.n = 0;
		sip_loc_expire(l, t - 1, on_gone, &g);
		assert_int_equal(g.n, 0);
		sip_loc_expire(l, t, on_gone, &g);
		int due = t == 1150 ? DEVS / 10 - 1 : DEVS / 10;
		assert_int_equal(g.n, due);
		left -= due;
		struct seen s = {0};
		assert_int_equal(sip_loc_list(l, NULL, t, collect, &s), 0);
		assert_int_equal(s.n, left);
	}
	sip_loc_free(l);
}

struct worker_arg {
	struct sip_loc *l;
	int id;
};

static void *hammer(void *p)
{
	struct worker_arg *a = p;
	for (int i = 0; i < 2000; i++) {
		char dev[16];
		snprintf(dev, sizeof dev, "SEP%03d", (i * 7 + a->id) % 20);
		struct want w = {
		    1, {a->id % 2 ? "sip:odd@h" : "sip:even@h"}, {5000 + i}, (uint32_t)i, 0};
		struct want none = {0};
		int before, n;
		if (sip_loc_update(a->l, dev, 1000, edit, i % 5 == 4 ? &none : &w, &before, NULL,
		                   &n) != 0)
			abort();
	}
	return NULL;
}

/* Four threads editing the same devices: the store ends equal to the table. */
static void test_threads_store_matches(void **state)
{
	struct tu_store *f = *state;
	char err[256];
	struct sip_loc *l = sip_loc_new(f->st, 1000, err, sizeof err);
	assert_non_null(l);
	pthread_t t[4];
	struct worker_arg args[4];
	for (int i = 0; i < 4; i++) {
		args[i] = (struct worker_arg){l, i};
		pthread_create(&t[i], NULL, hammer, &args[i]);
	}
	for (int i = 0; i < 4; i++)
		pthread_join(t[i], NULL);
	sip_loc_sync(l);
	long devs, binds;
	sip_loc_counts(l, 1000, &devs, &binds);
	struct seen mem = {0};
	assert_int_equal(sip_loc_list(l, NULL, 1000, collect, &mem), 0);
	struct seen st = stored(f);
	assert_int_equal(mem.n, binds);
	assert_int_equal(st.n, mem.n);
	for (int i = 0; i < mem.n && i < 8; i++) {
		assert_string_equal(st.dev[i], mem.dev[i]);
		assert_string_equal(st.contact[i], mem.contact[i]);
		assert_int_equal(st.expires[i], mem.expires[i]);
	}
	sip_loc_free(l);
}

static void test_account_cache(void **state)
{
	(void)state;
	struct sip_accounts *a = sip_accounts_new();
	assert_non_null(a);
	struct sip_account x, got;
	memset(&x, 0, sizeof x);
	snprintf(x.line, sizeof x.line, "1002");
	snprintf(x.device, sizeof x.device, "SEP1");
	snprintf(x.cred.ha1_md5, sizeof x.cred.ha1_md5, "%032d", 1);
	x.gen = 7;
	assert_int_equal(sip_accounts_get(a, "1002", "", &got), 0);
	sip_accounts_put(a, &x);
	assert_int_equal(sip_accounts_get(a, "1002", "", &got), 1);
	assert_string_equal(got.device, "SEP1");
	assert_int_equal(got.gen, 7);
	x.gen = 8; /* replaced, not added */
	sip_accounts_put(a, &x);
	assert_int_equal(sip_accounts_get(a, "1002", "", &got), 1);
	assert_int_equal(got.gen, 8);
	assert_int_equal(sip_accounts_size(a), 1);
	/* A shared line: one entry per device name the Contact gave, apart from the unnamed
	 * one; "1002" + "0" is not "10020" + "" (the key keeps the two apart). */
	snprintf(x.devname, sizeof x.devname, "CSFJDOE");
	snprintf(x.device, sizeof x.device, "CSFJDOE");
	sip_accounts_put(a, &x);
	assert_int_equal(sip_accounts_size(a), 2);
	assert_int_equal(sip_accounts_get(a, "1002", "CSFJDOE", &got), 1);
	assert_string_equal(got.device, "CSFJDOE");
	assert_int_equal(sip_accounts_get(a, "1002", "", &got), 1);
	assert_string_equal(got.device, "SEP1");
	assert_int_equal(sip_accounts_get(a, "1002", "SEP1", &got), 0);
	snprintf(x.line, sizeof x.line, "1002");
	snprintf(x.devname, sizeof x.devname, "0");
	sip_accounts_put(a, &x);
	assert_int_equal(sip_accounts_get(a, "10020", "", &got), 0);
	x.devname[0] = '\0';
	/* Bounded: many more lines than the cache holds. */
	for (int i = 0; i < SIP_ACCOUNTS_MAX + 5000; i++) {
		snprintf(x.line, sizeof x.line, "l%d", i);
		sip_accounts_put(a, &x);
	}
	assert_true(sip_accounts_size(a) <= SIP_ACCOUNTS_MAX);
	assert_true(sip_accounts_size(a) > SIP_ACCOUNTS_MAX / 2);
	assert_int_equal(sip_accounts_get(a, "l70000", "", &got), 1); /* the newest is in */
	sip_accounts_free(a);
}

/* A full cache evicts the oldest lines of a shard that were not read since they were put
 * (second chance): lines read after the fill outlive older unread ones. 4096 new lines
 * evict ~64 of each shard's ~1024: the first 128 put, unless read. */
static void test_account_cache_second_chance(void **state)
{
	(void)state;
	struct sip_accounts *a = sip_accounts_new();
	assert_non_null(a);
	struct sip_account x, got;
	memset(&x, 0, sizeof x);
	for (int i = 0; i < SIP_ACCOUNTS_MAX; i++) {
		snprintf(x.line, sizeof x.line, "m%d", i);
		x.gen = (uint64_t)i;
		sip_accounts_put(a, &x);
	}
	assert_int_equal(sip_accounts_size(a), SIP_ACCOUNTS_MAX);
	char line[32];
	for (int i = 0; i < 64; i++) {
		snprintf(line, sizeof line, "m%d", i);
		assert_int_equal(sip_accounts_get(a, line, "", &got), 1);
	}
	for (int i = 0; i < 4096; i++) {
		snprintf(x.line, sizeof x.line, "n%d", i);
		sip_accounts_put(a, &x);
	}
	assert_int_equal(sip_accounts_size(a), SIP_ACCOUNTS_MAX);
	for (int i = 0; i < 64; i++) { /* read: kept, with their own data */
		snprintf(line, sizeof line, "m%d", i);
		assert_int_equal(sip_accounts_get(a, line, "", &got), 1);
		assert_int_equal(got.gen, (uint64_t)i);
	}
	for (int i = 64; i < 128; i++) { /* older than the rest, unread: evicted */
		snprintf(line, sizeof line, "m%d", i);
		assert_int_equal(sip_accounts_get(a, line, "", &got), 0);
	}
	assert_int_equal(sip_accounts_get(a, "n4095", "", &got), 1);
	sip_accounts_free(a);
}

/* An entry comes back field for field (the fields before line copied, line and devname
 * from the key, at their longest too); a prefetch's hash serves only the next get of the
 * same key on the same cache: another key, or the same key on another cache, after a
 * prefetch still finds its own entry. */
static void test_account_cache_fields_and_prefetch(void **state)
{
	(void)state;
	struct sip_accounts *a = sip_accounts_new(), *b = sip_accounts_new();
	assert_non_null(a);
	assert_non_null(b);
	struct sip_account x, got;
	memset(&x, 0, sizeof x);
	x.gen = 11;
	x.user_gen = 12;
	x.bearer = 0;
	x.status = STORE_USER_INACTIVE;
	snprintf(x.duser, sizeof x.duser, "jdoe");
	snprintf(x.device, sizeof x.device, "SEP00AA");
	x.cs.hackcount = 3;
	x.cs.lastsuccessfullogin = 1700000000;
	snprintf(x.cs.credentialpolicy, sizeof x.cs.credentialpolicy, "strict");
	x.pol.failedlogonthreshold = 5;
	snprintf(x.pol.name, sizeof x.pol.name, "strict");
	snprintf(x.cred.realm, sizeof x.cred.realm, "telgate");
	snprintf(x.cred.ha1_md5, sizeof x.cred.ha1_md5, "%032d", 5);
	snprintf(x.cred.ha1_sha256, sizeof x.cred.ha1_sha256, "%064d", 6);
	snprintf(x.line, sizeof x.line, "1002");
	snprintf(x.devname, sizeof x.devname, "CSFX");
	sip_accounts_put(a, &x);
	memset(&got, 0, sizeof got);
	assert_int_equal(sip_accounts_get(a, "1002", "CSFX", &got), 1);
	assert_memory_equal(&got, &x, sizeof x);

	struct sip_account y = x; /* the longest line and device name */
	memset(y.line, 'L', STORE_ID_MAX);
	memset(y.devname, 'D', STORE_ID_MAX);
	y.gen = 21;
	sip_accounts_put(a, &y);
	memset(&got, 0, sizeof got);
	assert_int_equal(sip_accounts_get(a, y.line, y.devname, &got), 1);
	assert_memory_equal(&got, &y, sizeof y);

	struct sip_account z = x; /* the same key in the other cache */
	z.gen = 31;
	sip_accounts_put(b, &z);
	sip_accounts_prefetch(a, "1002", "CSFX");
	assert_int_equal(sip_accounts_get(b, "1002", "CSFX", &got), 1);
	assert_int_equal(got.gen, 31);
	sip_accounts_prefetch(a, "1002", "CSFX");
	assert_int_equal(sip_accounts_get(a, y.line, y.devname, &got), 1);
	assert_int_equal(got.gen, 21);
	sip_accounts_prefetch(a, "1002", "CSFX");
	assert_int_equal(sip_accounts_get(a, "1002", "CSFX", &got), 1);
	assert_int_equal(got.gen, 11);
	sip_accounts_prefetch(a, "1002", "CSFX"); /* twice: the second replaces the first */
	sip_accounts_prefetch(a, "1002", "CSFX");
	memset(&got, 0, sizeof got);
	snprintf(x.line, sizeof x.line, "1002");
	snprintf(x.devname, sizeof x.devname, "CSFX");
	assert_int_equal(sip_accounts_get(a, "1002", "CSFX", &got), 1);
	assert_memory_equal(&got, &x, sizeof x);
	sip_accounts_prefetch(b, "1002", "CSFX"); /* on b, then a's get */
	assert_int_equal(sip_accounts_get(a, "1002", "CSFX", &got), 1);
	assert_int_equal(got.gen, 11);
	sip_accounts_prefetch(a, "1003", ""); /* absent when prefetched, put before the get */
	assert_int_equal(sip_accounts_get(a, "1003", "x", &got), 0);
	sip_accounts_prefetch(a, "1003", "");
	snprintf(x.line, sizeof x.line, "1003");
	x.devname[0] = '\0';
	x.gen = 41;
	sip_accounts_put(a, &x);
	assert_int_equal(sip_accounts_get(a, "1003", "", &got), 1);
	assert_int_equal(got.gen, 41);
	assert_string_equal(got.devname, "");
	sip_accounts_free(a);
	sip_accounts_free(b);
}

/* Rows in full, for comparing memory and the store field by field. */
struct rows {
	int n;
	struct store_registration r[40];
};

static int collect_row(void *ud, const struct store_registration *b)
{
	struct rows *x = ud;
	assert_true(x->n < 40);
	x->r[x->n++] = *b;
	return 0;
}

static int by_key(const void *a, const void *b)
{
	const struct store_registration *x = a, *y = b;
	int c = strcmp(x->device, y->device);
	return c ? c : strcmp(x->contact, y->contact);
}

/* The store holds exactly what memory holds, every column a change writes. */
static void assert_store_is_memory(struct tu_store *f, struct sip_loc *l, int64_t now)
{
	struct rows mem = {0}, st = {0};
	assert_int_equal(sip_loc_list(l, NULL, now, collect_row, &mem), 0);
	assert_int_equal(store_registrations(f->st, NULL, collect_row, &st), STORE_OK);
	qsort(st.r, (size_t)st.n, sizeof st.r[0], by_key);
	assert_int_equal(st.n, mem.n);
	for (int i = 0; i < mem.n; i++) {
		assert_string_equal(st.r[i].device, mem.r[i].device);
		assert_string_equal(st.r[i].contact, mem.r[i].contact);
		assert_string_equal(st.r[i].callid, mem.r[i].callid);
		assert_int_equal(st.r[i].cseq, mem.r[i].cseq);
		assert_int_equal(st.r[i].expires, mem.r[i].expires);
		assert_string_equal(st.r[i].transport, mem.r[i].transport);
		assert_string_equal(st.r[i].node, "node-a");
		assert_string_equal(mem.r[i].node, "node-a");
	}
}

/* Issue 22: the writer reuses the ops it wrote (no malloc per change), and an edit works
 * in the caller's after array. Rounds of puts, refreshes, removals and expiries by key,
 * each made in ops the earlier rounds used: the store ends as memory, column by column;
 * after is what the table holds; a refused edit leaves the table as it was. */
static void test_ops_reused(void **state)
{
	struct tu_store *f = *state;
	char err[256];
	struct sip_loc *l = sip_loc_open(f->st, "node-a", 1000, NULL, 0, NULL, err, sizeof err);
	assert_non_null(l);
	sip_loc_set_commit_interval(l, 0);
	struct gone g0 = {0};
	sip_loc_expire(l, 1000, on_gone, &g0); /* the first sweep's scan: round 3's go by key */
	char contact[10][3][32];
	for (int r = 1; r <= 6; r++) {
		for (int i = 0; i < 10; i++) {
			char dev[16];
			snprintf(dev, sizeof dev, "SEP%03d", i);
			for (int k = 0; k < 3; k++)
				snprintf(contact[i][k], sizeof contact[i][k], "sip:%c%d@10.0.0.%d",
				         'a' + k, i, i + 1);
			/* odd rounds: a and b (b new); even: a only (b removed); round 3: c,
			 * expiring before the sweep below */
			struct want w = {r % 2 ? 2 : 1,
			                 {contact[i][0], contact[i][r == 3 ? 2 : 1]},
			                 {2000 + r * 10 + i, r == 3 ? 1050 : 2100 + i},
			                 (uint32_t)(r * 100 + i),
			                 0};
			struct store_registration after[SIP_LOC_MAX];
			int before = -1, n = -1;
			assert_int_equal(sip_loc_update(l, dev, 1000, edit, &w, &before, after, &n),
			                 0);
			assert_int_equal(n, w.n);
			struct rows mem = {0};
			assert_int_equal(sip_loc_list(l, dev, 1000, collect_row, &mem), 0);
			assert_int_equal(mem.n, n);
			qsort(after, (size_t)n, sizeof after[0], by_key);
			for (int k = 0; k < n; k++) {
				assert_string_equal(after[k].device, dev);
				assert_string_equal(after[k].contact, mem.r[k].contact);
				assert_int_equal(after[k].expires, mem.r[k].expires);
				assert_int_equal(after[k].cseq, w.cseq);
			}
			/* refused, with after given: the table keeps what it had */
			struct want no = {.refuse = 7};
			assert_int_equal(
			    sip_loc_update(l, dev, 1000, edit, &no, &before, after, &n), 7);
			struct rows again = {0};
			assert_int_equal(sip_loc_list(l, dev, 1000, collect_row, &again), 0);
			assert_int_equal(again.n, mem.n);
			for (int k = 0; k < mem.n; k++)
				assert_int_equal(again.r[k].cseq, mem.r[k].cseq);
		}
		if (r == 3) {
			struct gone g = {0};
			sip_loc_expire(l, 1100, on_gone, &g); /* every c by key */
			assert_int_equal(g.n, 0);
		}
		sip_loc_sync(l);
		assert_store_is_memory(f, l, 1100);
	}
	sip_loc_free(l);
}

/* An edit that sets one binding with every string as long as its field takes, the
 * Call-ID and the source ending in tag (a refresh, a reconnection). */
struct longb {
	char tag;
	char src;
	uint32_t cseq;
};

static void fill(char *dst, size_t cap, char c, char last)
{
	memset(dst, c, cap - 1);
	dst[cap - 2] = last;
	dst[cap - 1] = '\0';
}

static int edit_long(void *ud, struct store_registration *b, int *n, int cap)
{
	const struct longb *x = ud;
	assert_true(cap >= 1);
	*n = 1;
	memset(&b[0], 0, sizeof b[0]);
	fill(b[0].aor, sizeof b[0].aor, 'a', 'A');
	fill(b[0].contact, sizeof b[0].contact, 'c', 'C');
	fill(b[0].callid, sizeof b[0].callid, 'i', x->tag);
	fill(b[0].transport, sizeof b[0].transport, 't', 'T');
	fill(b[0].source, sizeof b[0].source, 's', x->src);
	fill(b[0].sipinstance, sizeof b[0].sipinstance, 'u', 'U');
	b[0].cseq = x->cseq;
	b[0].expires = 4000 + x->cseq;
	b[0].regid = 7;
	return 0;
}

/* Issue 22: bindings are copied by their strings' used lengths (into the edit, the op
 * and back into the table). A binding with every string as long as its field takes: its
 * put, refresh (a new Call-ID) and reconnection (a new source), between changes of short
 * ones made in the same reused ops: the store gets every column whole. */
static void test_long_binding(void **state)
{
	struct tu_store *f = *state;
	char err[256];
	struct sip_loc *l = sip_loc_open(f->st, "node-a", 1000, NULL, 0, NULL, err, sizeof err);
	assert_non_null(l);
	const struct longb steps[] = {{'1', '1', 1}, {'2', '1', 2}, {'3', '2', 3}};
	for (size_t k = 0; k < sizeof steps / sizeof steps[0]; k++) {
		int before = -1, n = -1;
		assert_int_equal(sip_loc_update(l, "SEP007", 1000, edit_long, (void *)&steps[k],
		                                &before, NULL, &n),
		                 0);
		struct want w = {1, {"sip:short@h"}, {3000 + (int64_t)k}, (uint32_t)k + 1, 0};
		assert_int_equal(sip_loc_update(l, "SEP008", 1000, edit, &w, &before, NULL, &n), 0);
		sip_loc_sync(l);
		assert_store_is_memory(f, l, 1000);
		struct rows st = {0};
		assert_int_equal(store_registrations(f->st, "SEP007", collect_row, &st), STORE_OK);
		assert_int_equal(st.n, 1);
		struct store_registration want;
		edit_long((void *)&steps[k], &want, &n, 1);
		assert_string_equal(st.r[0].aor, want.aor);
		assert_string_equal(st.r[0].contact, want.contact);
		assert_string_equal(st.r[0].callid, want.callid);
		assert_string_equal(st.r[0].transport, want.transport);
		assert_string_equal(st.r[0].source, want.source);
		assert_string_equal(st.r[0].sipinstance, want.sipinstance);
		assert_int_equal(st.r[0].regid, 7);
		assert_int_equal(st.r[0].cseq, steps[k].cseq);
		assert_int_equal(st.r[0].expires, 4000 + steps[k].cseq);
	}
	sip_loc_free(l);
}

/* An edit that keeps what there is and adds one contact (expires 5000). */
static int edit_add(void *ud, struct store_registration *b, int *n, int cap)
{
	assert_true(*n < cap);
	memset(&b[*n], 0, sizeof b[*n]);
	snprintf(b[*n].contact, sizeof b[*n].contact, "%s", (const char *)ud);
	b[*n].expires = 5000;
	(*n)++;
	return 0;
}

/* The edit gets exactly the live bindings, in order, whichever of them expired between
 * them (they are copied run by run). */
static void test_edit_gets_the_live_ones(void **state)
{
	struct tu_store *f = *state;
	char err[256];
	struct sip_loc *l = sip_loc_new(f->st, 1000, err, sizeof err);
	assert_non_null(l);
	int before = -1, n = -1;
	struct want w = {
	    4, {"sip:a@h", "sip:b@h", "sip:c@h", "sip:d@h"}, {1100, 3000, 1100, 3100}, 1, 0};
	assert_int_equal(sip_loc_update(l, "SEP004", 1000, edit, &w, &before, NULL, NULL), 0);
	struct store_registration after[SIP_LOC_MAX];
	assert_int_equal(sip_loc_update(l, "SEP004", 1200, edit_add, "sip:e@h", &before, after, &n),
	                 0);
	assert_int_equal(before, 2);
	assert_int_equal(n, 3);
	assert_string_equal(after[0].contact, "sip:b@h");
	assert_int_equal(after[0].expires, 3000);
	assert_string_equal(after[1].contact, "sip:d@h");
	assert_int_equal(after[1].expires, 3100);
	assert_string_equal(after[2].contact, "sip:e@h");
	sip_loc_sync(l);
	struct seen s = stored(f); /* a and c deleted with the change */
	assert_int_equal(s.n, 3);
	sip_loc_free(l);
}

/* Round 10: the table keeps a refresh by copying back only the Call-ID, CSeq and expiry
 * (and nothing for an unchanged binding) when the binding stays at its place; a change of
 * another field, or a new order, copies whole bindings. A peek (an edit that refuses)
 * reads what the table holds. */
struct full {
	int n;
	struct {
		const char *contact, *source, *aor, *callid;
		uint32_t cseq;
		int64_t expires;
	} b[4];
	struct store_registration seen[4];
	int nseen, peek;
};

static int edit_full(void *ud, struct store_registration *b, int *n, int cap)
{
	struct full *w = ud;
	if (w->peek) {
		w->nseen = *n;
		memcpy(w->seen, b, sizeof w->seen[0] * (size_t)*n);
		return 1;
	}
	assert_true(w->n <= cap);
	*n = w->n;
	for (int i = 0; i < w->n; i++) {
		memset(&b[i], 0, sizeof b[i]);
		snprintf(b[i].contact, sizeof b[i].contact, "%s", w->b[i].contact);
		snprintf(b[i].source, sizeof b[i].source, "%s", w->b[i].source);
		snprintf(b[i].aor, sizeof b[i].aor, "%s", w->b[i].aor);
		snprintf(b[i].callid, sizeof b[i].callid, "%s", w->b[i].callid);
		snprintf(b[i].transport, sizeof b[i].transport, "TLS");
		b[i].cseq = w->b[i].cseq;
		b[i].expires = w->b[i].expires;
		b[i].regid = -1;
	}
	return 0;
}

static void peek_full(struct sip_loc *l, struct full *w)
{
	int before, n;
	w->peek = 1;
	assert_int_equal(sip_loc_update(l, "SEP003", 1000, edit_full, w, &before, NULL, &n), 1);
	w->peek = 0;
}

static void assert_seen(const struct full *w, int i, const char *contact, const char *source,
                        const char *aor, const char *callid, uint32_t cseq, int64_t expires)
{
	assert_string_equal(w->seen[i].device, "SEP003");
	assert_string_equal(w->seen[i].contact, contact);
	assert_string_equal(w->seen[i].source, source);
	assert_string_equal(w->seen[i].aor, aor);
	assert_string_equal(w->seen[i].callid, callid);
	assert_string_equal(w->seen[i].transport, "TLS");
	assert_int_equal(w->seen[i].cseq, cseq);
	assert_int_equal(w->seen[i].expires, expires);
}

static void test_refresh_written_back(void **state)
{
	struct tu_store *f = *state;
	char err[256];
	struct sip_loc *l = sip_loc_new(f->st, 1000, err, sizeof err);
	assert_non_null(l);
	int before, n;
	struct full w = {.n = 2,
	                 .b = {{"sip:a@h", "10.0.0.1:5061", "sip:100@x", "c1", 1, 2000},
	                       {"sip:b@h", "10.0.0.2:5061", "sip:101@x", "c1", 1, 2000}}};
	assert_int_equal(sip_loc_update(l, "SEP003", 1000, edit_full, &w, &before, NULL, &n), 0);
	sip_loc_sync(l); /* committed: the next REGISTER of these contacts is a refresh */

	/* A refresh of both: new Call-ID, CSeq and expiry; the rest as it was. */
	w.b[0].callid = "c2-longer-than-before";
	w.b[1].callid = "c2";
	w.b[0].cseq = w.b[1].cseq = 2;
	w.b[0].expires = 3000;
	w.b[1].expires = 3100;
	assert_int_equal(sip_loc_update(l, "SEP003", 1000, edit_full, &w, &before, NULL, &n), 0);
	peek_full(l, &w);
	assert_int_equal(w.nseen, 2);
	assert_seen(&w, 0, "sip:a@h", "10.0.0.1:5061", "sip:100@x", "c2-longer-than-before", 2,
	            3000);
	assert_seen(&w, 1, "sip:b@h", "10.0.0.2:5061", "sip:101@x", "c2", 2, 3100);

	/* The same again: nothing changes. Then a shorter Call-ID: no tail of the old one. */
	assert_int_equal(sip_loc_update(l, "SEP003", 1000, edit_full, &w, &before, NULL, &n), 0);
	w.b[0].callid = "c3";
	w.b[0].cseq = 3;
	assert_int_equal(sip_loc_update(l, "SEP003", 1000, edit_full, &w, &before, NULL, &n), 0);
	peek_full(l, &w);
	assert_seen(&w, 0, "sip:a@h", "10.0.0.1:5061", "sip:100@x", "c3", 3, 3000);
	assert_seen(&w, 1, "sip:b@h", "10.0.0.2:5061", "sip:101@x", "c2", 2, 3100);

	/* A new source for a (a change, not a refresh): the whole binding is kept. */
	w.b[0].source = "10.0.0.9:40000";
	w.b[0].cseq = 4;
	assert_int_equal(sip_loc_update(l, "SEP003", 1000, edit_full, &w, &before, NULL, &n), 0);
	peek_full(l, &w);
	assert_seen(&w, 0, "sip:a@h", "10.0.0.9:40000", "sip:100@x", "c3", 4, 3000);

	/* The same two refreshed in the other order: each place gets its own binding whole
	 * (a copy of only the refreshed fields would leave a's source on b's place). */
	struct full r = {.n = 2,
	                 .b = {{"sip:b@h", "10.0.0.2:5061", "sip:101@x", "c5", 5, 3500},
	                       {"sip:a@h", "10.0.0.9:40000", "sip:100@x", "c5", 5, 3600}}};
	assert_int_equal(sip_loc_update(l, "SEP003", 1000, edit_full, &r, &before, NULL, &n), 0);
	peek_full(l, &r);
	assert_int_equal(r.nseen, 2);
	assert_seen(&r, 0, "sip:b@h", "10.0.0.2:5061", "sip:101@x", "c5", 5, 3500);
	assert_seen(&r, 1, "sip:a@h", "10.0.0.9:40000", "sip:100@x", "c5", 5, 3600);

	/* And the store has what the table has. */
	sip_loc_sync(l);
	struct seen s = stored(f);
	assert_int_equal(s.n, 2);
	assert_string_equal(s.contact[0], "sip:a@h");
	assert_int_equal(s.expires[0], 3600);
	assert_int_equal(s.expires[1], 3500);
	sip_loc_free(l);
}

static int one_row(void *ud, const struct store_registration *b)
{
	*(struct store_registration *)ud = *b;
	return 0;
}

/* Issue 22, eleventh round: on SQLite a refresh goes to the refresh file, not into its
 * row; the store's scan keeps a row the file says was refreshed; a clean stop folds the
 * file into the rows and empties it. */
static void test_refresh_file(void **state)
{
	struct tu_store *f = *state;
	char err[256], path[160];
	snprintf(path, sizeof path, "%s/sip-location.refresh", f->dir);
	struct sip_loc *l = sip_loc_open(f->st, "", 1000, NULL, 0, path, err, sizeof err);
	assert_non_null(l);
	int before, n;
	struct want a = {1, {"sip:x@h"}, {2000}, 1, 0};
	assert_int_equal(sip_loc_update(l, "SEP001", 1000, edit, &a, &before, NULL, &n), 0);
	sip_loc_sync(l);
	a.expires[0] = 5000;
	a.cseq = 2;
	assert_int_equal(sip_loc_update(l, "SEP001", 1500, edit, &a, &before, NULL, &n), 0);
	sip_loc_sync(l);
	assert_int_equal(sip_loc_refresh_slots(l), 1);
	struct seen s = stored(f);
	assert_int_equal(s.n, 1);
	assert_int_equal(s.expires[0], 2000); /* the put's: the refresh is in the file */
	assert_string_equal(s.callid[0], "call-1");
	assert_true(tu_file_size(path) > SIP_RF_HEADER);

	/* The scan at 2500 (the first sweep): SEP001's row says 2000 but the file says 5000,
	 * so it stays; a dead row memory does not hold goes. */
	put_row(f, "SEP002", "sip:dead@h", "", 2100);
	struct gone g = {0};
	sip_loc_expire(l, 2500, on_gone, &g);
	sip_loc_sync(l);
	s = stored(f);
	assert_int_equal(s.n, 1);
	assert_string_equal(s.dev[0], "SEP001");
	assert_int_equal(g.n, 0);

	/* A clean stop: the refresh folded into its row, the file emptied. */
	sip_loc_free(l);
	s = stored(f);
	assert_int_equal(s.n, 1);
	assert_int_equal(s.expires[0], 5000);
	assert_int_equal(s.cseq[0], 2);
	assert_string_equal(s.callid[0], "call-2");
	assert_int_equal(tu_file_size(path), SIP_RF_HEADER);

	/* A removal after a refresh: the row goes, and nothing of the refresh comes back. */
	l = sip_loc_open(f->st, "", 1600, NULL, 0, path, err, sizeof err);
	assert_non_null(l);
	a.expires[0] = 6000;
	a.cseq = 3;
	assert_int_equal(sip_loc_update(l, "SEP001", 1600, edit, &a, &before, NULL, &n), 0);
	sip_loc_sync(l);
	assert_int_equal(sip_loc_refresh_slots(l), 1);
	struct want none = {0};
	assert_int_equal(sip_loc_update(l, "SEP001", 1700, edit, &none, &before, NULL, &n), 0);
	assert_int_equal(sip_loc_refresh_slots(l), 0); /* freed with its binding */
	sip_loc_sync(l);
	assert_int_equal(stored(f).n, 0);
	/* A refreshed binding that expires in memory frees its slot too; the slot is then
	 * another binding's. */
	struct want b2 = {1, {"sip:y@h"}, {1800}, 1, 0};
	assert_int_equal(sip_loc_update(l, "SEP002", 1700, edit, &b2, &before, NULL, &n), 0);
	sip_loc_sync(l);
	b2.expires[0] = 1900;
	b2.cseq = 2;
	assert_int_equal(sip_loc_update(l, "SEP002", 1700, edit, &b2, &before, NULL, &n), 0);
	assert_int_equal(sip_loc_refresh_slots(l), 1);
	struct gone g2 = {0};
	sip_loc_expire(l, 1900, on_gone, &g2);
	assert_int_equal(g2.n, 1);
	assert_int_equal(sip_loc_refresh_slots(l), 0);
	sip_loc_sync(l);
	sip_loc_free(l);
	assert_int_equal(stored(f).n, 0);
}

/* A change (a new source: its row rewritten behind) and right after it a refresh (into the
 * file), then a clean stop: the row has both. The rows are stamped with the time their
 * change was queued, not written, so the refresh compares as newer at the fold. */
static void test_refresh_file_after_change(void **state)
{
	struct tu_store *f = *state;
	char err[256], path[160];
	snprintf(path, sizeof path, "%s/sip-location.refresh", f->dir);
	struct sip_loc *l = sip_loc_open(f->st, "", 1000, NULL, 0, path, err, sizeof err);
	assert_non_null(l);
	int before, n;
	struct full w = {.n = 1, .b = {{"sip:a@h", "10.0.0.1:5061", "sip:100@x", "c1", 1, 2000}}};
	assert_int_equal(sip_loc_update(l, "SEP004", 1000, edit_full, &w, &before, NULL, &n), 0);
	sip_loc_sync(l);
	w.b[0].source = "10.0.0.2:5061"; /* a change: queued */
	w.b[0].cseq = 2;
	w.b[0].expires = 2100;
	assert_int_equal(sip_loc_update(l, "SEP004", 1000, edit_full, &w, &before, NULL, &n), 0);
	w.b[0].callid = "c3"; /* a refresh: into the file */
	w.b[0].cseq = 3;
	w.b[0].expires = 3000;
	assert_int_equal(sip_loc_update(l, "SEP004", 1000, edit_full, &w, &before, NULL, &n), 0);
	/* The change is written after this (write-behind, or at the stop): a row stamped
	 * when written would be newer than the refresh and win the fold. */
	nanosleep(&(struct timespec){0, 20 * 1000 * 1000}, NULL);
	sip_loc_free(l);
	struct seen s = stored(f);
	assert_int_equal(s.n, 1);
	assert_string_equal(s.callid[0], "c3");
	assert_int_equal(s.cseq[0], 3);
	assert_int_equal(s.expires[0], 3000);
	struct store_registration r;
	memset(&r, 0, sizeof r);
	assert_int_equal(store_registrations(f->st, "SEP004", one_row, &r), STORE_OK);
	assert_string_equal(r.source, "10.0.0.2:5061");
}

/* The same after a kill -9: the rows keep their puts' expiries until the next start
 * folds the file into them; a torn slot is ignored (that binding keeps its put's). */
static void test_refresh_file_after_crash(void **state)
{
	struct tu_store *f = *state;
	char err[256], path[160];
	snprintf(path, sizeof path, "%s/sip-location.refresh", f->dir);
	pid_t pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) { /* no cmocka here: exit codes */
		struct tu_store c = *f;
		struct store_options o = {
		    .backend = "sqlite", .path = c.path, .busy_timeout_ms = 5000};
		if (store_open(&o, &c.st, err, sizeof err) != STORE_OK)
			_exit(2);
		struct sip_loc *l = sip_loc_open(c.st, "", 1000, NULL, 0, path, err, sizeof err);
		if (!l)
			_exit(3);
		int before, n;
		struct want x = {1, {"sip:x@h"}, {2000}, 1, 0}, y = {1, {"sip:y@h"}, {2000}, 1, 0};
		if (sip_loc_update(l, "SEP001", 1000, edit, &x, &before, NULL, &n) ||
		    sip_loc_update(l, "SEP002", 1000, edit, &y, &before, NULL, &n))
			_exit(4);
		sip_loc_sync(l);
		x.expires[0] = 5000;
		x.cseq = 2;
		if (sip_loc_update(l, "SEP001", 1500, edit, &x, &before, NULL, &n))
			_exit(5);
		sip_loc_sync(l); /* SEP001's refresh takes the first slot */
		y.expires[0] = 6000;
		y.cseq = 2;
		if (sip_loc_update(l, "SEP002", 1500, edit, &y, &before, NULL, &n))
			_exit(6);
		sip_loc_sync(l);
		raise(SIGKILL);
		_exit(7);
	}
	int status = 0;
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);
	struct seen s = stored(f);
	assert_int_equal(s.n, 2);
	assert_int_equal(s.expires[0], 2000);
	assert_int_equal(s.expires[1], 2000);
	/* SEP002's slot torn (its expiry's high byte changed, as by a store cut short). */
	int fd = open(path, O_RDWR);
	assert_true(fd >= 0);
	char c = 0x7f;
	assert_int_equal(pwrite(fd, &c, 1, SIP_RF_HEADER + SIP_RF_SLOT + 24 + 7), 1);
	close(fd);

	struct sip_loc *l = sip_loc_open(f->st, "", 1600, NULL, 0, path, err, sizeof err);
	assert_non_null(l);
	s = stored(f);
	assert_int_equal(s.n, 2);
	assert_string_equal(s.dev[0], "SEP001");
	assert_int_equal(s.expires[0], 5000);
	assert_string_equal(s.callid[0], "call-2");
	assert_int_equal(s.expires[1], 2000);
	assert_string_equal(s.callid[1], "call-1");
	assert_int_equal(tu_file_size(path), SIP_RF_HEADER);
	/* And memory has what the rows now say. */
	s.n = 0;
	assert_int_equal(sip_loc_list(l, NULL, 1600, collect, &s), 0);
	assert_int_equal(s.n, 2);
	assert_int_equal(s.expires[0], 5000);
	assert_int_equal(s.expires[1], 2000);
	sip_loc_free(l);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_update_list_and_store, setup, tu_store_teardown),
	    cmocka_unit_test_setup_teardown(test_expiry_and_restart, setup, tu_store_teardown),
	    cmocka_unit_test_setup_teardown(test_expiry_only_what_is_due, setup, tu_store_teardown),
	    cmocka_unit_test_setup_teardown(test_expiry_by_key_and_scan, setup, tu_store_teardown),
	    cmocka_unit_test_setup_teardown(test_bindings_owned_per_node, setup, tu_store_teardown),
	    cmocka_unit_test_setup_teardown(test_tickets, setup, tu_store_teardown),
	    cmocka_unit_test_setup_teardown(test_pending_add_is_not_a_refresh, setup,
	                                    tu_store_teardown),
	    cmocka_unit_test_setup_teardown(test_threads_store_matches, setup, tu_store_teardown),
	    cmocka_unit_test_setup_teardown(test_ops_reused, setup, tu_store_teardown),
	    cmocka_unit_test_setup_teardown(test_edit_gets_the_live_ones, setup, tu_store_teardown),
	    cmocka_unit_test_setup_teardown(test_long_binding, setup, tu_store_teardown),
	    cmocka_unit_test_setup_teardown(test_refresh_written_back, setup, tu_store_teardown),
	    cmocka_unit_test_setup_teardown(test_refresh_file, setup, tu_store_teardown),
	    cmocka_unit_test_setup_teardown(test_refresh_file_after_crash, setup,
	                                    tu_store_teardown),
	    cmocka_unit_test_setup_teardown(test_refresh_file_after_change, setup,
	                                    tu_store_teardown),
	    cmocka_unit_test(test_account_cache),
	    cmocka_unit_test(test_account_cache_second_chance),
	    cmocka_unit_test(test_account_cache_fields_and_prefetch),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
