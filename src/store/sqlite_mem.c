/* SPDX-License-Identifier: ISC */
#include "store/sqlite_mem.h"

#include <pthread.h>
#include <sqlite3.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#if SQLITE_MEM_CACHED
/* Each block starts with its usable size (16 bytes, so that what SQLite gets keeps
 * malloc's 16-byte alignment). */
#define HDR 16

static const size_t class_size[] = {32, 48, 64, 96, 128, 192, 256, 384, 512, 768, 1024};
#define NCLASS (sizeof class_size / sizeof class_size[0])
_Static_assert(SQLITE_MEM_SMALL == 1024, "the last class is the largest block cached");

/* The class of a request of n bytes (1..SQLITE_MEM_SMALL), by n/16 rounded up. */
static unsigned char class_of16[SQLITE_MEM_SMALL / 16 + 1];

struct tcache {
	void *head[NCLASS]; /* freed blocks, linked through their first bytes */
	int n[NCLASS];
	int armed; /* the exit destructor knows this thread's cache */
};

static _Thread_local struct tcache tc;
static pthread_key_t exit_key;

static int class_of(size_t n)
{
	return n <= SQLITE_MEM_SMALL ? class_of16[(n + 15) / 16] : -1;
}

static void *mem_malloc(int n)
{
	size_t want = n > 0 ? (size_t)n : 1;
	int k = class_of(want);
	if (k >= 0) {
		void *p = tc.head[k];
		if (p) {
			memcpy(&tc.head[k], p, sizeof(void *));
			tc.n[k]--;
			return p;
		}
		want = class_size[k];
	} else
		want = (want + 7) & ~(size_t)7;
	char *b = malloc(HDR + want);
	if (!b)
		return NULL;
	memcpy(b, &want, sizeof want);
	return b + HDR;
}

static int mem_size(void *p)
{
	size_t n;
	memcpy(&n, (char *)p - HDR, sizeof n);
	return (int)n;
}

static void mem_free(void *p)
{
	if (!p)
		return;
	int k = class_of((size_t)mem_size(p));
	if (k >= 0 && tc.n[k] < SQLITE_MEM_KEEP) {
		if (!tc.armed) {
			tc.armed = 1;
			pthread_setspecific(exit_key, &tc);
		}
		memcpy(p, &tc.head[k], sizeof(void *));
		tc.head[k] = p;
		tc.n[k]++;
		return;
	}
	free((char *)p - HDR);
}

static void *mem_realloc(void *p, int n)
{
	if (n <= mem_size(p))
		return p;
	void *q = mem_malloc(n);
	if (!q)
		return NULL;
	memcpy(q, p, (size_t)mem_size(p));
	mem_free(p);
	return q;
}

static int mem_roundup(int n)
{
	int k = class_of(n > 0 ? (size_t)n : 1);
	return k >= 0 ? (int)class_size[k] : (n + 7) & ~7;
}

static int mem_init(void *ud)
{
	(void)ud;
	return SQLITE_OK;
}

static void mem_shutdown(void *ud)
{
	(void)ud;
}

/* A thread's cache back to free() when it exits. */
static void cache_drop(void *arg)
{
	struct tcache *c = arg;
	for (size_t k = 0; k < NCLASS; k++)
		while (c->head[k]) {
			void *p = c->head[k];
			memcpy(&c->head[k], p, sizeof(void *));
			free((char *)p - HDR);
		}
	memset(c, 0, sizeof *c);
}

static int install_rc = SQLITE_OK;

static void install_once(void)
{
	for (size_t i = 1, k = 0; i < sizeof class_of16; i++) {
		while (class_size[k] < 16 * i)
			k++;
		class_of16[i] = (unsigned char)k;
	}
	class_of16[0] = 0;
	if (pthread_key_create(&exit_key, cache_drop) != 0) {
		install_rc = SQLITE_ERROR;
		return;
	}
	static const sqlite3_mem_methods m = {mem_malloc,  mem_free, mem_realloc,  mem_size,
	                                      mem_roundup, mem_init, mem_shutdown, NULL};
	install_rc = sqlite3_config(SQLITE_CONFIG_MALLOC, &m);
}

int sqlite_mem_install(void)
{
	static pthread_once_t once = PTHREAD_ONCE_INIT;
	pthread_once(&once, install_once);
	return install_rc;
}
#else
int sqlite_mem_install(void)
{
	return SQLITE_OK; /* the system allocator, seen by the sanitizer */
}
#endif
