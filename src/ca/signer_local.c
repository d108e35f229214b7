/* SPDX-License-Identifier: ISC */
/* The local signer: the keys in this process, the same decisions as the signer process
 * (ca/signer_core.h). For unit tests, tools and benchmarks. */
#include "ca/signer_core.h"

#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

struct signer_local {
	struct signer base; /* first: a struct signer * is a struct signer_local * */
	struct signer_keys keys;
	atomic_uint_fast64_t served;
};

static int local_call(struct signer *s, const struct signer_req *rq, unsigned char **out,
                      size_t *outlen)
{
	struct signer_local *l = (struct signer_local *)s;
	int rc = signer_core_handle(&l->keys, rq, out, outlen);
	atomic_fetch_add(&l->served, 1);
	return rc;
}

static void local_stats(struct signer *s, struct signer_stats *st)
{
	struct signer_local *l = (struct signer_local *)s;
	st->pid = (long)getpid();
	st->served = atomic_load(&l->served);
}

static void local_free(struct signer *s)
{
	struct signer_local *l = (struct signer_local *)s;
	signer_keys_free(&l->keys);
	free(l);
}

static const struct signer_ops local_ops = {local_call, NULL, NULL, local_stats, local_free};

struct signer *signer_local_new(const char *pki_dir, char *err, size_t errlen)
{
	struct signer_local *l = calloc(1, sizeof *l);
	if (!l) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	if (signer_keys_load(&l->keys, pki_dir, err, errlen) != 0) {
		free(l);
		return NULL;
	}
	signer_base_init(&l->base, &local_ops);
	return &l->base;
}

const struct signer_keys *signer_local_keys(struct signer *s)
{
	return s && s->ops == &local_ops ? &((struct signer_local *)s)->keys : NULL;
}
