/* SPDX-License-Identifier: ISC */
/* The sharded hash table: keys, chains, growth, sweeps that remove, bounded-cache
 * eviction, keyed placement, and threads sharing keys. */
#include "core/shtable.h"

#include <pthread.h>
#include <stdatomic.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

struct item {
	struct shtable_node node;
	char key[24];
	size_t len;
	long value;
};

static atomic_int freed; /* the threads test frees from several threads */

static void item_free(struct shtable_node *n)
{
	freed++;
	free(SHTABLE_ENTRY(n, struct item, node));
}

static struct item *item_new(const void *key, size_t len, long value)
{
	struct item *it = calloc(1, sizeof *it);
	assert_non_null(it);
	assert_true(len <= sizeof it->key);
	memcpy(it->key, key, len);
	it->len = len;
	it->value = value;
	return it;
}

/* Inserts key unless present; returns 1 when inserted. */
static int put(struct shtable *t, const void *key, size_t len, long value)
{
	struct shtable_at at;
	shtable_lock(t, key, len, &at);
	int fresh = shtable_find(&at) == NULL;
	if (fresh) {
		struct item *it = item_new(key, len, value);
		shtable_insert(&at, &it->node, it->key, it->len);
	}
	shtable_unlock(&at);
	return fresh;
}

/* The value under key, or -1. */
static long get(struct shtable *t, const void *key, size_t len)
{
	struct shtable_at at;
	shtable_lock(t, key, len, &at);
	struct shtable_node *n = shtable_find(&at);
	long v = n ? SHTABLE_ENTRY(n, struct item, node)->value : -1;
	shtable_unlock(&at);
	return v;
}

/* Removes and frees key; returns 1 when it was there. */
static int del(struct shtable *t, const void *key, size_t len)
{
	struct shtable_at at;
	shtable_lock(t, key, len, &at);
	struct shtable_node *n = shtable_find(&at);
	if (n)
		shtable_remove(&at, n);
	shtable_unlock(&at);
	if (n)
		item_free(n);
	return n != NULL;
}

static size_t key_of(int i, char *buf)
{
	return (size_t)snprintf(buf, 24, "key-%d", i);
}

static void test_options(void **state)
{
	(void)state;
	assert_null(shtable_new(&(struct shtable_opts){.shards = 3}));
	assert_null(shtable_new(&(struct shtable_opts){.buckets = 6}));
	assert_null(shtable_new(&(struct shtable_opts){.shards = 2048}));
	struct shtable *t = shtable_new(&(struct shtable_opts){0});
	assert_non_null(t);
	assert_int_equal(shtable_shards(t), 64);
	assert_int_equal(shtable_count(t), 0);
	shtable_free(t);
}

static void test_string_and_byte_keys(void **state)
{
	(void)state;
	freed = 0;
	struct shtable *t = shtable_new(&(struct shtable_opts){.free_entry = item_free});
	/* Keys are bytes: a prefix, the same bytes with a NUL after, and a NUL inside are
	 * three different keys. */
	assert_true(put(t, "ab", 2, 1));
	assert_true(put(t, "ab\0", 3, 2));
	assert_true(put(t, "a\0b", 3, 3));
	assert_false(put(t, "ab", 2, 9)); /* present: not replaced */
	assert_int_equal(get(t, "ab", 2), 1);
	assert_int_equal(get(t, "ab\0", 3), 2);
	assert_int_equal(get(t, "a\0b", 3), 3);
	assert_int_equal(get(t, "a", 1), -1);
	assert_int_equal(get(t, "", 0), -1);
	assert_int_equal(shtable_count(t), 3);

	struct shtable_at at;
	shtable_lock_str(t, "ab", &at); /* the string's bytes without the NUL */
	assert_non_null(shtable_find(&at));
	shtable_unlock(&at);

	assert_true(del(t, "ab", 2));
	assert_false(del(t, "ab", 2));
	assert_int_equal(get(t, "ab\0", 3), 2);
	assert_int_equal(shtable_count(t), 2);
	assert_int_equal(freed, 1);
	shtable_free(t); /* the two left are freed with free_entry */
	assert_int_equal(freed, 3);
}

/* A table of one shard starting with one slot: every key shares the shard, and its slot
 * array is rebuilt many times over as keys come. */
static struct shtable *one_slot_table(void)
{
	freed = 0;
	return shtable_new(
	    &(struct shtable_opts){.shards = 1, .buckets = 1, .free_entry = item_free});
}

/* One shard starting with one bucket: every key shares a shard, chains form and the
 * bucket array grows many times over. */
static void test_collisions_and_growth(void **state)
{
	(void)state;
	struct shtable *t = one_slot_table();
	char k[24];
	for (int i = 0; i < 5000; i++)
		assert_true(put(t, k, key_of(i, k), i));
	assert_int_equal(shtable_count(t), 5000);
	for (int i = 0; i < 5000; i++)
		assert_int_equal(get(t, k, key_of(i, k)), i);
	for (int i = 0; i < 5000; i += 3)
		assert_true(del(t, k, key_of(i, k)));
	for (int i = 0; i < 5000; i++)
		assert_int_equal(get(t, k, key_of(i, k)), i % 3 ? i : -1);
	shtable_free(t);
	assert_int_equal(freed, 5000);
}

struct sweep {
	int seen, stop_after;
	long sum;
};

static int drop_even(void *ud, struct shtable_node *n)
{
	struct sweep *s = ud;
	struct item *it = SHTABLE_ENTRY(n, struct item, node);
	s->seen++;
	return it->value % 2 == 0 ? SHTABLE_REMOVE : SHTABLE_NEXT;
}

static int sum_until(void *ud, struct shtable_node *n)
{
	struct sweep *s = ud;
	s->sum += SHTABLE_ENTRY(n, struct item, node)->value;
	return ++s->seen == s->stop_after ? SHTABLE_STOP : SHTABLE_NEXT;
}

static void test_remove_during_sweep(void **state)
{
	(void)state;
	freed = 0;
	struct shtable *t =
	    shtable_new(&(struct shtable_opts){.shards = 8, .free_entry = item_free});
	char k[24];
	for (int i = 0; i < 2000; i++)
		put(t, k, key_of(i, k), i);
	/* Shard by shard, as the registrar's expiry does. */
	struct sweep s = {0};
	for (unsigned i = 0; i < shtable_shards(t); i++)
		assert_int_equal(shtable_sweep_shard(t, i, drop_even, &s), 0);
	assert_int_equal(s.seen, 2000);
	assert_int_equal(freed, 1000);
	assert_int_equal(shtable_count(t), 1000);
	for (int i = 0; i < 2000; i++)
		assert_int_equal(get(t, k, key_of(i, k)), i % 2 ? i : -1);

	/* Every entry once; a stop ends the sweep. */
	s = (struct sweep){0};
	assert_int_equal(shtable_sweep(t, sum_until, &s), 0);
	assert_int_equal(s.seen, 1000);
	assert_int_equal(s.sum, 1000L * 1000); /* 1 + 3 + ... + 1999 */
	s = (struct sweep){.stop_after = 10};
	assert_int_equal(shtable_sweep(t, sum_until, &s), 1);
	assert_int_equal(s.seen, 10);
	shtable_free(t);
	assert_int_equal(freed, 2000);
}

static int count_all(void *ud, struct shtable_node *n)
{
	(void)n;
	(*(int *)ud)++;
	return SHTABLE_NEXT;
}

static int drop_all(void *ud, struct shtable_node *n)
{
	(void)n;
	(*(int *)ud)++;
	return SHTABLE_REMOVE;
}

/* Open addressing (issue 22): a window of 50 live keys slides over 20,000 in one shard of
 * 8 slots, so removals leave tombstones that rebuilds must clear (a probe that never met
 * an empty slot would not end) and entries sit behind removed ones in their probes. */
static void test_churn(void **state)
{
	(void)state;
	freed = 0;
	struct shtable *t =
	    shtable_new(&(struct shtable_opts){.shards = 1, .buckets = 8, .free_entry = item_free});
	char k[24];
	enum { WINDOW = 50, KEYS = 20000 };
	for (int i = 0; i < KEYS; i++) {
		assert_true(put(t, k, key_of(i, k), i));
		if (i >= WINDOW)
			assert_true(del(t, k, key_of(i - WINDOW, k)));
		if (i % 997 == 0)
			for (int j = i - WINDOW - 5 > 0 ? i - WINDOW - 5 : 0; j <= i; j++)
				assert_int_equal(get(t, k, key_of(j, k)), j > i - WINDOW ? j : -1);
	}
	assert_int_equal(shtable_count(t), WINDOW);
	int seen = 0;
	assert_int_equal(shtable_sweep(t, count_all, &seen), 0);
	assert_int_equal(seen, WINDOW);
	seen = 0;
	assert_int_equal(shtable_sweep(t, drop_all, &seen), 0); /* removes as it goes */
	assert_int_equal(seen, WINDOW);
	assert_int_equal(shtable_count(t), 0);
	for (int i = KEYS - WINDOW; i < KEYS; i++)
		assert_int_equal(get(t, k, key_of(i, k)), -1);
	assert_true(put(t, k, key_of(7, k), 7)); /* a removed key comes back */
	assert_int_equal(get(t, k, key_of(7, k)), 7);
	shtable_free(t);
	assert_int_equal(freed, KEYS + 1);
}

static int take_all(void *ud, struct shtable_node *n)
{
	(void)n;
	(*(int *)ud)++;
	return SHTABLE_REMOVE | SHTABLE_STOP;
}

/* Without free_entry a sweep unlinks and the entry stays the caller's. */
static void test_no_free_entry(void **state)
{
	(void)state;
	struct shtable *t = shtable_new(&(struct shtable_opts){.shards = 1, .no_locks = 1});
	struct item a = {.key = "a", .len = 1}, b = {.key = "b", .len = 1};
	struct shtable_at at;
	shtable_lock(t, a.key, a.len, &at);
	shtable_insert(&at, &a.node, a.key, a.len);
	shtable_unlock(&at);
	shtable_lock(t, b.key, b.len, &at);
	shtable_insert(&at, &b.node, b.key, b.len);
	shtable_unlock(&at);
	int n = 0;
	assert_int_equal(shtable_sweep(t, take_all, &n), 1);
	assert_int_equal(n, 1); /* remove and stop in one answer */
	assert_int_equal(shtable_count(t), 1);
	shtable_free(t); /* a and b live on the stack: nothing freed */
}

static int collect_order(void *ud, struct shtable_node *n)
{
	long **p = ud;
	*(*p)++ = SHTABLE_ENTRY(n, struct item, node)->value;
	return SHTABLE_NEXT;
}

/* Placement depends on each table's secret key: the same keys in the same order land in
 * different buckets in two tables (the odds of an equal order of 1000 keys are nil). */
static void test_keyed_placement(void **state)
{
	(void)state;
	struct shtable *t1 =
	    shtable_new(&(struct shtable_opts){.shards = 1, .free_entry = item_free});
	struct shtable *t2 =
	    shtable_new(&(struct shtable_opts){.shards = 1, .free_entry = item_free});
	char k[24];
	for (int i = 0; i < 1000; i++) {
		put(t1, k, key_of(i, k), i);
		put(t2, k, key_of(i, k), i);
	}
	long o1[1000], o2[1000], *p1 = o1, *p2 = o2;
	shtable_sweep(t1, collect_order, &p1);
	shtable_sweep(t2, collect_order, &p2);
	assert_int_equal(p1 - o1, 1000);
	assert_int_equal(p2 - o2, 1000);
	assert_memory_not_equal(o1, o2, sizeof o1);
	shtable_free(t1);
	shtable_free(t2);
}

/* The shard index is stable per key and in range (callers index per-shard state). */
static void test_shard_index(void **state)
{
	(void)state;
	struct shtable *t = shtable_new(&(struct shtable_opts){.shards = 16, .no_locks = 1});
	char k[24];
	unsigned seen = 0;
	for (int i = 0; i < 1000; i++) {
		struct shtable_at at;
		size_t len = key_of(i, k);
		shtable_lock(t, k, len, &at);
		unsigned ix = shtable_shard_index(&at);
		shtable_unlock(&at);
		assert_true(ix < 16);
		seen |= 1u << ix;
		shtable_lock(t, k, len, &at);
		assert_int_equal(shtable_shard_index(&at), ix);
		shtable_unlock(&at);
	}
	assert_int_equal(seen, 0xffff); /* 1000 keys reach every one of 16 shards */
	shtable_free(t);
}

/* The hash the given-hash test uses for key i: shard i % 16 (the high half), slots by
 * the low bits. */
static uint64_t given(uint64_t i)
{
	return (i % 16) << 32 | (i * 0x9e3779b97f4a7c15u >> 40);
}

/* shtable_find for key under hash h, between lock and unlock (the tests are
 * single-threaded: the pointer stays valid). */
static const struct shtable_node *look(struct shtable *t, uint64_t h, const void *key, size_t len)
{
	struct shtable_at at;
	shtable_hash_given(t, h, key, len, &at);
	shtable_lock_at(&at);
	const struct shtable_node *n = shtable_find(&at);
	shtable_unlock(&at);
	return n;
}

/* shtable_lock in two halves: a key hashed (its slot line prefetched through the shard's
 * hint, no lock) before a rebuild of its shard is still found after it. */
static void test_split_lock(void **state)
{
	(void)state;
	struct shtable *t = one_slot_table();
	char k[24];
	assert_true(put(t, "early", 5, 42));
	struct shtable_at early, late;
	shtable_hash(t, "early", 5, &early);
	shtable_hash(t, "absent", 6, &late);
	for (int i = 0; i < 3000; i++) /* the one shard's slots are rebuilt ~12 times */
		assert_true(put(t, k, key_of(i, k), i));
	shtable_lock_at(&early);
	struct shtable_node *n = shtable_find(&early);
	assert_non_null(n);
	assert_int_equal(SHTABLE_ENTRY(n, struct item, node)->value, 42);
	shtable_unlock(&early);
	shtable_lock_at(&late);
	assert_null(shtable_find(&late));
	shtable_unlock(&late);
	shtable_free(t);
	assert_int_equal(freed, 3001);
}

/* The hash a caller gives is the one placement uses (its high half picks the shard), for
 * finds and inserts alike; the key's bytes are still compared. */
static void test_given_hash(void **state)
{
	(void)state;
	struct shtable *t =
	    shtable_new(&(struct shtable_opts){.shards = 16, .free_entry = item_free});
	char k[24];
	for (uint64_t i = 0; i < 64; i++) {
		struct shtable_at at;
		size_t len = key_of((int)i, k);
		shtable_hash_given(t, given(i), k, len, &at);
		shtable_lock_at(&at);
		assert_int_equal(shtable_shard_index(&at), i % 16);
		assert_null(shtable_find(&at));
		struct item *it = item_new(k, len, (long)i);
		shtable_insert(&at, &it->node, it->key, it->len);
		shtable_unlock(&at);
	}
	for (uint64_t i = 0; i < 64; i++) {
		size_t len = key_of((int)i, k);
		const struct shtable_node *n = look(t, given(i), k, len);
		assert_non_null(n);
		assert_int_equal(SHTABLE_ENTRY(n, struct item, node)->value, (long)i);
		assert_null(look(t, given(i) ^ 1, k, len)); /* same bytes, another hash */
		assert_null(look(t, given(i), "other", 5)); /* same hash, other bytes */
	}
	assert_int_equal(shtable_count(t), 64);
	shtable_free(t);
}

#define THREADS 4
#define ROUNDS 20000
#define SHARED_KEYS 64

struct worker {
	struct shtable *t;
	int id;
};

/* Each round: add one to a shared key's counter (insert it when absent), and insert then
 * remove a key of the thread's own. */
static void *hammer(void *arg)
{
	struct worker *w = arg;
	char k[24];
	for (int r = 0; r < ROUNDS; r++) {
		struct shtable_at at;
		size_t len = key_of(r % SHARED_KEYS, k);
		shtable_lock(w->t, k, len, &at);
		struct shtable_node *n = shtable_find(&at);
		if (n) {
			SHTABLE_ENTRY(n, struct item, node)->value++;
		} else {
			struct item *it = item_new(k, len, 1);
			shtable_insert(&at, &it->node, it->key, it->len);
		}
		shtable_unlock(&at);

		len = (size_t)snprintf(k, sizeof k, "own-%d-%d", w->id, r);
		put(w->t, k, len, r);
		if (get(w->t, k, len) != r || !del(w->t, k, len))
			return (void *)1;
	}
	return NULL;
}

static int add_values(void *ud, struct shtable_node *n)
{
	*(long *)ud += SHTABLE_ENTRY(n, struct item, node)->value;
	return SHTABLE_NEXT;
}

static void test_threads(void **state)
{
	(void)state;
	freed = 0;
	struct shtable *t =
	    shtable_new(&(struct shtable_opts){.shards = 4, .free_entry = item_free});
	pthread_t th[THREADS];
	struct worker w[THREADS];
	for (int i = 0; i < THREADS; i++) {
		w[i] = (struct worker){t, i};
		assert_int_equal(pthread_create(&th[i], NULL, hammer, &w[i]), 0);
	}
	for (int i = 0; i < THREADS; i++) {
		void *rc;
		pthread_join(th[i], &rc);
		assert_null(rc);
	}
	/* No increment lost, no own key left behind. */
	assert_int_equal(shtable_count(t), SHARED_KEYS);
	long sum = 0;
	shtable_sweep(t, add_values, &sum);
	assert_int_equal(sum, (long)THREADS * ROUNDS);
	shtable_free(t);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_options),
	    cmocka_unit_test(test_string_and_byte_keys),
	    cmocka_unit_test(test_collisions_and_growth),
	    cmocka_unit_test(test_remove_during_sweep),
	    cmocka_unit_test(test_churn),
	    cmocka_unit_test(test_no_free_entry),
	    cmocka_unit_test(test_keyed_placement),
	    cmocka_unit_test(test_shard_index),
	    cmocka_unit_test(test_split_lock),
	    cmocka_unit_test(test_given_hash),
	    cmocka_unit_test(test_threads),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
