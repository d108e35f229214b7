/* SPDX-License-Identifier: ISC */
/*
 * tl_sgn_provider: X.sgn for every file X the registry serves (tl_provider.h). The cache
 * is a fixed array of slots chosen by a hash of the name (a collision replaces: it costs
 * one signature, nothing grows with the names a peer tries); a slot is valid for one
 * inner ETag. Signing happens with no lock held, so lookups of cached files never wait
 * behind a signature.
 */
#include "ca/tl_provider.h"

#include "ca/trustlist.h"
#include "core/log.h"
#include "core/util.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#define SLOTS 4096
#define SUFFIX ".sgn"
#define CTYPE "application/octet-stream"

struct slot {
	char name[FILES_NAME_MAX + 1]; /* the .sgn name */
	char inner_etag[48];
	struct files_blob *blob;
};

struct sgn {
	struct files_registry *reg;
	struct signer *signer;
	pthread_mutex_t mu;
	struct slot slots[SLOTS];
};

/* The cached blob for (name, inner etag): a new reference, or NULL. */
static struct files_blob *cached(struct sgn *g, struct slot *sl, const char *name, const char *etag)
{
	struct files_blob *b = NULL;
	pthread_mutex_lock(&g->mu);
	if (sl->blob && strcmp(sl->name, name) == 0 && strcmp(sl->inner_etag, etag) == 0)
		b = files_blob_ref(sl->blob);
	pthread_mutex_unlock(&g->mu);
	return b;
}

static void remember(struct sgn *g, struct slot *sl, const char *name, const char *etag,
                     struct files_blob *b)
{
	pthread_mutex_lock(&g->mu);
	struct files_blob *old = sl->blob;
	tg_strlcpy(sl->name, name, sizeof sl->name);
	tg_strlcpy(sl->inner_etag, etag, sizeof sl->inner_etag);
	sl->blob = files_blob_ref(b);
	pthread_mutex_unlock(&g->mu);
	files_blob_unref(old);
}

/* inner behind a signed header naming inner_name: a new blob in *out. */
static int sign_file(struct sgn *g, const char *inner_name, const struct files_blob *inner,
                     struct files_blob **out)
{
	unsigned char *cert = NULL, *sig = NULL, *file = NULL;
	size_t cert_len = 0, siglen = 0, len = 0;
	struct tl_tbs t = {0};
	int rc = signer_certificate(g->signer, SIGNER_KEY_TRUSTLIST, &cert, &cert_len);
	if (rc == 0)
		rc = tl_sgn_build(cert, cert_len, TL_HASH_SHA512,
		                  inner->mtime > 0 ? (uint32_t)inner->mtime : 0, inner_name,
		                  inner->data, inner->len, &t);
	if (rc == 0)
		rc = signer_sign_bytes(g->signer, SIGNER_KEY_TRUSTLIST,
		                       tl_hash_name(TL_HASH_SHA512), t.data, t.len, &sig, &siglen);
	if (rc == 0)
		rc = tl_assemble(&t, sig, siglen, &file, &len);
	free(cert);
	free(sig);
	tl_tbs_free(&t);
	if (rc != 0)
		return rc;
	*out = files_blob_new(file, len, inner->mtime, CTYPE);
	free(file);
	return *out ? 0 : -ENOMEM;
}

static int lookup(void *arg, const char *name, struct files_blob **out)
{
	struct sgn *g = arg;
	size_t n = strlen(name), k = sizeof SUFFIX - 1;
	char inner_name[FILES_NAME_MAX + 1];
	if (n <= k || n > FILES_NAME_MAX || strcmp(name + n - k, SUFFIX) != 0)
		return -ENOENT;
	memcpy(inner_name, name, n - k);
	inner_name[n - k] = '\0';
	if (n - k > k && strcmp(inner_name + n - 2 * k, SUFFIX) == 0)
		return -ENOENT; /* no signature of a signature */
	struct files_blob *inner = NULL;
	int rc = files_lookup(g->reg, inner_name, &inner, NULL);
	if (rc != 0)
		return rc;
	struct slot *sl = &g->slots[tg_fnv1a_str(name) % SLOTS];
	struct files_blob *b = cached(g, sl, name, inner->etag);
	if (b) {
		files_blob_unref(inner);
		*out = b;
		return 0;
	}
	if (inner->len > TL_FILE_MAX - 2048) {
		files_blob_unref(inner);
		return -ENOENT; /* beyond what a .sgn carries: not ours to answer */
	}
	rc = sign_file(g, inner_name, inner, &b);
	if (rc != 0) {
		log_ev(LOG_LVL_ERROR, NULL, "sgn_sign_failed", LOG_S("file", name),
		       LOG_I("errno", -rc));
		files_blob_unref(inner);
		return rc == -ENOMEM ? -ENOMEM : -EIO;
	}
	remember(g, sl, name, inner->etag, b);
	files_blob_unref(inner);
	*out = b;
	return 0;
}

static void sgn_free(void *arg)
{
	struct sgn *g = arg;
	for (size_t i = 0; i < SLOTS; i++)
		files_blob_unref(g->slots[i].blob);
	pthread_mutex_destroy(&g->mu);
	free(g);
}

int tl_sgn_provider(struct files_registry *reg, struct signer *s, struct files_provider *fp)
{
	struct sgn *g = calloc(1, sizeof *g);
	if (!g)
		return -ENOMEM;
	g->reg = reg;
	g->signer = s;
	pthread_mutex_init(&g->mu, NULL);
	*fp = (struct files_provider){.name = "sgn", .lookup = lookup, .free = sgn_free, .arg = g};
	return 0;
}
