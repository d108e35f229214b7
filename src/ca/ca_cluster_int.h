/* SPDX-License-Identifier: ISC */
/*
 * ca_cluster_int: what ca_cluster.c (the keys' storage at each start) and ca_rekey.c (the
 * KEK check and rotation) share: the KEK and the store open together, and reading the
 * clusterkey rows. Not for other modules. Blocking; the monitor's children and telgated's
 * offline commands only.
 */
#ifndef TG_CA_CLUSTER_INT_H
#define TG_CA_CLUSTER_INT_H

#include "ca/ca_cluster.h"
#include "ca/ca_kek.h"
#include "store/store.h"

#include <stddef.h>

struct ca_sync {
	const struct ca_cluster_options *o;
	struct ca_kek kek;
	store_t *st;
	struct store_clusterkey *row; /* one buffer for every row (16 KiB) */
	char *err;
	size_t errlen;
	int pulled, pushed;
};

#define CA_KEY_NAMES_MAX 80
struct ca_key_names {
	const char *prefix;
	char names[CA_KEY_NAMES_MAX][STORE_CLUSTERKEY_NAME_MAX + 1];
	size_t n;
};

/* The row name into s->row: 1 read, 0 no such key, -1 with s->err (the store failed). */
int ca_sync_get_row(struct ca_sync *s, const char *name);
/* The names of the keys that start with prefix ("" every key; at most CA_KEY_NAMES_MAX),
 * to free; NULL with s->err. */
struct ca_key_names *ca_sync_list_names(struct ca_sync *s, const char *prefix);

#endif
