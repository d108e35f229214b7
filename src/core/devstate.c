/* SPDX-License-Identifier: ISC */
#include "core/devstate.h"

#include "core/shtable.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

/* A device in service; out-of-service devices are not kept (most devices, most of the
 * time, on a large system: the table holds what is registered). */
struct dev {
	struct shtable_node node;
	char name[]; /* NUL-terminated */
};

struct sub {
	devstate_fn fn;          /* or: */
	devstate_contact_fn cfn; /* a subscriber that wants the contact too */
	void *arg;
};

struct devstate {
	struct shtable *devs;
	/* Subscribers change at start and stop; publishers read them. Held for reading
	 * across the callbacks, so unsubscribe (writer) waits for those in flight. */
	pthread_rwlock_t subs_lock;
	struct sub subs[DEVSTATE_SUBSCRIBERS];
	int nsubs;
	_Atomic uint64_t changes;
};

static void dev_free(struct shtable_node *n)
{
	free(SHTABLE_ENTRY(n, struct dev, node));
}

struct devstate *devstate_new(void)
{
	struct devstate *b = calloc(1, sizeof *b);
	if (!b)
		return NULL;
	b->devs = shtable_new(&(struct shtable_opts){.free_entry = dev_free});
	if (!b->devs || pthread_rwlock_init(&b->subs_lock, NULL) != 0) {
		shtable_free(b->devs);
		free(b);
		return NULL;
	}
	return b;
}

void devstate_free(struct devstate *b)
{
	if (!b)
		return;
	shtable_free(b->devs);
	pthread_rwlock_destroy(&b->subs_lock);
	free(b);
}

static int subscribe(struct devstate *b, struct sub s)
{
	pthread_rwlock_wrlock(&b->subs_lock);
	int rc = -1;
	if (b->nsubs < DEVSTATE_SUBSCRIBERS) {
		b->subs[b->nsubs++] = s;
		rc = 0;
	}
	pthread_rwlock_unlock(&b->subs_lock);
	return rc;
}

int devstate_subscribe(struct devstate *b, devstate_fn fn, void *arg)
{
	return subscribe(b, (struct sub){fn, NULL, arg});
}

int devstate_subscribe_contact(struct devstate *b, devstate_contact_fn fn, void *arg)
{
	return subscribe(b, (struct sub){NULL, fn, arg});
}

static void unsubscribe(struct devstate *b, devstate_fn fn, devstate_contact_fn cfn, void *arg)
{
	pthread_rwlock_wrlock(&b->subs_lock);
	for (int i = 0; i < b->nsubs; i++) {
		if (b->subs[i].fn == fn && b->subs[i].cfn == cfn && b->subs[i].arg == arg) {
			memmove(&b->subs[i], &b->subs[i + 1],
			        (size_t)(b->nsubs - i - 1) * sizeof b->subs[0]);
			b->nsubs--;
			break;
		}
	}
	pthread_rwlock_unlock(&b->subs_lock);
}

void devstate_unsubscribe(struct devstate *b, devstate_fn fn, void *arg)
{
	unsubscribe(b, fn, NULL, arg);
}

void devstate_unsubscribe_contact(struct devstate *b, devstate_contact_fn fn, void *arg)
{
	unsubscribe(b, NULL, fn, arg);
}

int devstate_publish(struct devstate *b, const char *device, int in_service)
{
	return devstate_publish_contact(b, device, in_service, NULL);
}

int devstate_publish_contact(struct devstate *b, const char *device, int in_service,
                             const char *contact)
{
	size_t len = strlen(device);
	if (len == 0 || len > DEVSTATE_NAME_MAX)
		return -1;
	in_service = !!in_service;
	pthread_rwlock_rdlock(&b->subs_lock);
	struct shtable_at at;
	shtable_lock(b->devs, device, len, &at);
	struct shtable_node *n = shtable_find(&at);
	int rc = 0;
	if (in_service && !n) {
		struct dev *d = malloc(sizeof *d + len + 1);
		if (d) {
			memcpy(d->name, device, len + 1);
			shtable_insert(&at, &d->node, d->name, len);
			rc = 1;
		} else {
			rc = -1;
		}
	} else if (!in_service && n) {
		shtable_remove(&at, n);
		dev_free(n);
		rc = 1;
	}
	if (rc == 1) {
		atomic_fetch_add_explicit(&b->changes, 1, memory_order_relaxed);
		for (int i = 0; i < b->nsubs; i++) {
			if (b->subs[i].cfn)
				b->subs[i].cfn(b->subs[i].arg, device, in_service,
				               contact ? contact : "");
			else
				b->subs[i].fn(b->subs[i].arg, device, in_service);
		}
	}
	shtable_unlock(&at);
	pthread_rwlock_unlock(&b->subs_lock);
	return rc;
}

int devstate_get(struct devstate *b, const char *device)
{
	struct shtable_at at;
	shtable_lock_str(b->devs, device, &at);
	int in = shtable_find(&at) != NULL;
	shtable_unlock(&at);
	return in;
}

size_t devstate_in_service(const struct devstate *b)
{
	return shtable_count(b->devs);
}

uint64_t devstate_changes(const struct devstate *b)
{
	return atomic_load_explicit(&b->changes, memory_order_relaxed);
}

struct names {
	char **v;
	size_t n, cap;
	int bad;
};

static int grab_name(void *ud, struct shtable_node *node)
{
	struct names *x = ud;
	if (x->n == x->cap) {
		size_t nc = x->cap ? x->cap * 2 : 64;
		void *p = realloc(x->v, nc * sizeof *x->v);
		if (!p) {
			x->bad = 1;
			return SHTABLE_STOP;
		}
		x->v = p;
		x->cap = nc;
	}
	if (!(x->v[x->n] = strdup(SHTABLE_ENTRY(node, struct dev, node)->name))) {
		x->bad = 1;
		return SHTABLE_STOP;
	}
	x->n++;
	return SHTABLE_NEXT;
}

int devstate_each(struct devstate *b, void (*fn)(void *ud, const char *device), void *ud)
{
	struct names x = {0};
	shtable_sweep(b->devs, grab_name, &x); /* one shard held at a time */
	for (size_t i = 0; i < x.n; i++) {
		if (!x.bad)
			fn(ud, x.v[i]);
		free(x.v[i]);
	}
	free(x.v);
	return x.bad ? -1 : 0;
}
