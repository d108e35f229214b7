/* SPDX-License-Identifier: ISC */
/*
 * cnf_provider: <DEVICE>.cnf.xml and XMLDefault.cnf.xml for the file service (cnf.h).
 *
 * The cache is the shared sharded table (core/shtable.h) keyed by the file name asked
 * for; an entry holds the store generation it was made at and the blob, or no blob for
 * "no such device". A lookup whose entry is of the current generation answers from it
 * (a reference to the blob, no copy); otherwise it loads and generates with no shard
 * held (the store read blocks) and puts the result back. The generation is read before
 * loading, so a write during the load makes the next lookup rebuild. When the bytes come
 * out the same as before (a write that did not touch this file), the old blob is kept:
 * its Last-Modified stays, and its ETag is the same anyway (a hash of the bytes).
 *
 * Bounds: per shard at most CACHE_MAX / shards entries, of which NEG_MAX / shards may be
 * negative; past that an answer is served but not cached, so names chosen by a scanner
 * cannot grow the memory. Stale entries are replaced in place when asked for again.
 */
#include "provision/cnf.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/log.h"
#include "core/shtable.h"

#define SHARDS 64
#define CACHE_MAX 65536 /* entries in all */
#define NEG_MAX 8192    /* negative entries in all */
#define CTYPE "text/xml; charset=utf-8"
#define DEFAULT_NAME "XMLDefault.cnf.xml"

struct entry {
	struct shtable_node node;
	uint64_t gen;
	struct files_blob *blob; /* NULL: no such device at gen */
	char name[FILES_NAME_MAX + 1];
};

struct shard_count {
	unsigned all, neg; /* guarded by the shard's lock */
};

struct prov {
	store_t *st;
	char itl[64], ctl[64];
	struct shtable *t;
	struct shard_count counts[SHARDS];
};

static void entry_free(struct shtable_node *n)
{
	struct entry *e = SHTABLE_ENTRY(n, struct entry, node);
	files_blob_unref(e->blob);
	free(e);
}

/* Stores the answer for name at gen (blob NULL: negative), keeping a previous blob with
 * the same bytes. Returns the blob to answer with (a new reference), or NULL. */
static struct files_blob *remember(struct prov *p, const char *name, uint64_t gen,
                                   struct files_blob *blob)
{
	struct shtable_at at;
	shtable_lock_str(p->t, name, &at);
	struct shard_count *c = &p->counts[shtable_shard_index(&at)];
	struct shtable_node *n = shtable_find(&at);
	struct entry *e = n ? SHTABLE_ENTRY(n, struct entry, node) : NULL;
	struct files_blob *old = NULL;
	if (e && e->gen <= gen) {
		if (blob && e->blob && e->blob->len == blob->len &&
		    strcmp(e->blob->etag, blob->etag) == 0) {
			/* Same bytes: keep the blob with its Last-Modified. */
			old = blob;
			blob = files_blob_ref(e->blob);
		} else {
			if (!e->blob)
				c->neg--;
			if (!blob)
				c->neg++;
			old = e->blob;
			e->blob = blob ? files_blob_ref(blob) : NULL;
		}
		e->gen = gen;
	} else if (!e && c->all < CACHE_MAX / SHARDS && (blob || c->neg < NEG_MAX / SHARDS)) {
		e = calloc(1, sizeof *e);
		if (e) {
			size_t k = strlen(name);
			memcpy(e->name, name, k + 1);
			e->gen = gen;
			e->blob = blob ? files_blob_ref(blob) : NULL;
			shtable_insert(&at, &e->node, e->name, k);
			c->all++;
			if (!blob)
				c->neg++;
		}
	}
	shtable_unlock(&at);
	files_blob_unref(old);
	return blob;
}

static int lookup(void *arg, const char *name, struct files_blob **out)
{
	struct prov *p = arg;
	char dev[STORE_ID_MAX + 1];
	/* Names that are not ours are answered without the cache or the store. */
	if (strlen(name) > FILES_NAME_MAX ||
	    (strcmp(name, DEFAULT_NAME) != 0 && cnf_device_from_file(name, dev, sizeof dev) != 0))
		return -ENOENT;
	uint64_t gen = store_generation(p->st);
	struct shtable_at at;
	shtable_lock_str(p->t, name, &at);
	struct shtable_node *n = shtable_find(&at);
	if (n) {
		struct entry *e = SHTABLE_ENTRY(n, struct entry, node);
		if (e->gen == gen) {
			struct files_blob *b = e->blob ? files_blob_ref(e->blob) : NULL;
			shtable_unlock(&at);
			if (!b)
				return -ENOENT;
			*out = b;
			return 0;
		}
	}
	shtable_unlock(&at);

	unsigned char *bytes = NULL;
	size_t len = 0;
	const struct cnf_load_options o = {p->itl, p->ctl};
	int rc = cnf_file(p->st, name, &o, &bytes, &len);
	if (rc == -ENOENT) {
		remember(p, name, gen, NULL);
		return -ENOENT;
	}
	if (rc != 0) {
		log_ev(LOG_LVL_ERROR, NULL, "cnf_generate_failed", LOG_S("file", name),
		       LOG_I("errno", -rc), LOG_S("store_error", store_last_error()));
		return rc == -ENOMEM ? -ENOMEM : -EIO;
	}
	struct files_blob *b = files_blob_new(bytes, len, (int64_t)time(NULL), CTYPE);
	free(bytes);
	if (!b)
		return -ENOMEM;
	*out = remember(p, name, gen, b);
	return 0;
}

static void prov_free(void *arg)
{
	struct prov *p = arg;
	shtable_free(p->t);
	free(p);
}

int cnf_provider(store_t *st, const struct cnf_load_options *o, struct files_provider *fp)
{
	struct prov *p = calloc(1, sizeof *p);
	if (!p)
		return -ENOMEM;
	p->st = st;
	if (o && o->itl_file)
		snprintf(p->itl, sizeof p->itl, "%s", o->itl_file);
	if (o && o->ctl_file)
		snprintf(p->ctl, sizeof p->ctl, "%s", o->ctl_file);
	struct shtable_opts so = {.shards = SHARDS, .buckets = 16, .free_entry = entry_free};
	p->t = shtable_new(&so);
	if (!p->t) {
		free(p);
		return -ENOMEM;
	}
	*fp = (struct files_provider){.name = "cnf", .lookup = lookup, .free = prov_free, .arg = p};
	return 0;
}
