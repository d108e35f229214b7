/* SPDX-License-Identifier: ISC */
#include "provision/files.h"

#include "core/util.h"

#include <errno.h>
#include <openssl/evp.h>
#include <stdlib.h>
#include <string.h>

/* --- blobs ----------------------------------------------------------------------------- */

struct files_blob *files_blob_new(const void *data, size_t len, int64_t mtime, const char *ctype)
{
	/* One allocation: the header, then the bytes. */
	struct files_blob *b = malloc(sizeof *b + (len ? len : 1));
	if (!b)
		return NULL;
	unsigned char *copy = (unsigned char *)(b + 1);
	if (len)
		memcpy(copy, data, len);
	b->data = copy;
	b->len = len;
	b->mtime = mtime;
	atomic_init(&b->refs, 1);
	tg_strlcpy(b->ctype, ctype ? ctype : "application/octet-stream", sizeof b->ctype);
	unsigned char md[32];
	unsigned int mdlen = 0;
	if (EVP_Digest(copy, len, md, &mdlen, EVP_sha256(), NULL) != 1 || mdlen != 32) {
		free(b);
		return NULL;
	}
	static const char hex[] = "0123456789abcdef";
	char *e = b->etag;
	*e++ = '"';
	for (int i = 0; i < 16; i++) {
		*e++ = hex[md[i] >> 4];
		*e++ = hex[md[i] & 15];
	}
	*e++ = '"';
	*e = '\0';
	return b;
}

struct files_blob *files_blob_ref(struct files_blob *b)
{
	atomic_fetch_add_explicit(&b->refs, 1, memory_order_relaxed);
	return b;
}

void files_blob_unref(struct files_blob *b)
{
	if (b && atomic_fetch_sub_explicit(&b->refs, 1, memory_order_acq_rel) == 1)
		free(b);
}

/* --- names ----------------------------------------------------------------------------- */

static int hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

static int name_char(unsigned char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
	       c == '.' || c == '-' || c == '_';
}

int files_name_check(const char *name, size_t len, int pct_decode, char *out, size_t cap)
{
	if (cap < FILES_NAME_MAX + 1)
		return -EINVAL;
	size_t i = 0, n = 0;
	if (len && name[0] == '/')
		i = 1;
	int at_start = 1; /* at the first byte of a component */
	for (; i < len; i++) {
		unsigned char c = (unsigned char)name[i];
		if (pct_decode && c == '%') {
			int hi = i + 2 < len ? hexval(name[i + 1]) : -1;
			int lo = hi >= 0 ? hexval(name[i + 2]) : -1;
			if (lo < 0)
				return -EINVAL;
			c = (unsigned char)(hi << 4 | lo);
			i += 2;
			if (c == '/')
				return -EINVAL; /* an encoded '/' is data, not a separator (RFC
				                 * 3986 §2.2), and no file name holds one */
		}
		if (c == '/') {
			if (at_start)
				return -EINVAL; /* empty component: "//", a leading "/" left */
			at_start = 1;
		} else if (!name_char(c) || (at_start && c == '.')) {
			/* "..", ".hidden", '\\', '%' after decoding, NUL, controls, >0x7f */
			return -EINVAL;
		} else {
			at_start = 0;
		}
		if (n == FILES_NAME_MAX)
			return -ENAMETOOLONG;
		out[n++] = (char)c;
	}
	if (n == 0 || at_start)
		return -EINVAL; /* empty, or ends with '/' (a directory) */
	out[n] = '\0';
	return 0;
}

/* --- the registry ---------------------------------------------------------------------- */

struct files_registry {
	struct files_provider *p;
	size_t n, cap;
};

struct files_registry *files_registry_new(void)
{
	return calloc(1, sizeof(struct files_registry));
}

int files_registry_add(struct files_registry *r, const struct files_provider *p)
{
	if (r->n == r->cap) {
		size_t cap = r->cap ? 2 * r->cap : 4;
		struct files_provider *np = realloc(r->p, cap * sizeof *np);
		if (!np) {
			if (p->free)
				p->free(p->arg);
			return -ENOMEM;
		}
		r->p = np;
		r->cap = cap;
	}
	r->p[r->n++] = *p;
	return 0;
}

int files_lookup(struct files_registry *r, const char *name, struct files_blob **out,
                 const char **provider)
{
	*out = NULL;
	for (size_t i = 0; i < r->n; i++) {
		int rc = r->p[i].lookup(r->p[i].arg, name, out);
		if (rc == -ENOENT)
			continue;
		if (provider)
			*provider = r->p[i].name;
		return rc;
	}
	return -ENOENT;
}

void files_registry_free(struct files_registry *r)
{
	if (!r)
		return;
	for (size_t i = 0; i < r->n; i++)
		if (r->p[i].free)
			r->p[i].free(r->p[i].arg);
	free(r->p);
	free(r);
}

/* --- one fixed file -------------------------------------------------------------------- */

struct fixed {
	char name[FILES_NAME_MAX + 1];
	struct files_blob *blob;
};

static int fixed_lookup(void *arg, const char *name, struct files_blob **out)
{
	struct fixed *f = arg;
	if (strcmp(name, f->name) != 0)
		return -ENOENT;
	*out = files_blob_ref(f->blob);
	return 0;
}

static void fixed_free(void *arg)
{
	struct fixed *f = arg;
	files_blob_unref(f->blob);
	free(f);
}

int files_fixed_provider(const char *name, struct files_blob *blob, struct files_provider *p)
{
	struct fixed *f = calloc(1, sizeof *f);
	if (!f)
		return -ENOMEM;
	tg_strlcpy(f->name, name, sizeof f->name);
	f->blob = files_blob_ref(blob);
	*p = (struct files_provider){
	    .name = "fixed", .lookup = fixed_lookup, .free = fixed_free, .arg = f};
	return 0;
}
