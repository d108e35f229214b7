/* SPDX-License-Identifier: ISC */
/*
 * files: the device-file service's one name lookup, shared by HTTP (6970) and TFTP (69).
 * Seed 002: a phone fetches <DEVICE>.cnf.xml; seed 001: a CTI client fetches the trust
 * list before it enrols. Both come from providers registered here, asked in order:
 * generated cnf.xml files, XMLDefault.cnf.xml, the trust-list files (ITLFile.tlv,
 * CTLFile.tlv, ITLSEP<MAC>.tlv) and an optional directory of static files.
 *
 * A file is served as a blob: immutable bytes with their validators (ETag, modification
 * time), shared by reference between the cache that made it and every transfer that is
 * sending it, so a 1 MiB file read by 1,000 phones at once is in memory once.
 *
 * Names: files_name_check() is the one rule for what a name may be, applied by both
 * protocols before any provider sees it (docs/device-files.md): ASCII letters, digits,
 * '.', '-', '_' and '/' between components; no empty component, none that begins with
 * '.', at most FILES_NAME_MAX bytes. Everything else (.., percent-encoded or not,
 * backslashes, NULs, control characters, any byte above 0x7f and so overlong UTF-8) is
 * refused before a provider or the file system sees it.
 *
 * Threads: a registry is filled at start-up (files_registry_add) and then read from any
 * loop thread at once; a provider's lookup must be thread-safe. Blobs are reference
 * counted with atomics.
 */
#ifndef TG_PROVISION_FILES_H
#define TG_PROVISION_FILES_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#define FILES_NAME_MAX 128 /* bytes of a checked name, without the NUL */

/* A served file. Immutable after files_blob_new(); freed by the last files_blob_unref(). */
struct files_blob {
	const unsigned char *data; /* len bytes (the blob's own copy) */
	size_t len;
	int64_t mtime;    /* Last-Modified, Unix seconds */
	char etag[48];    /* strong validator with its quotes: "\"" + 32 hex + "\"" */
	char ctype[48];   /* HTTP Content-Type, e.g. "text/xml; charset=utf-8" */
	atomic_uint refs; /* the blob's owners */
};

/* A new blob holding a copy of len bytes, with one reference (the caller's). The ETag is
 * the first 128 bits of the content's SHA-256, so equal bytes have equal tags on every
 * node. ctype NULL = "application/octet-stream". Returns NULL without memory. */
struct files_blob *files_blob_new(const void *data, size_t len, int64_t mtime, const char *ctype);
/* Adds a reference; returns b. */
struct files_blob *files_blob_ref(struct files_blob *b);
/* Drops a reference; the last one frees the blob. NULL is ignored. */
void files_blob_unref(struct files_blob *b);

/* Checks a name as a client sent it (len bytes, not NUL-terminated) and writes it, with
 * one leading '/' removed, NUL-terminated into out (cap bytes, at least FILES_NAME_MAX + 1).
 * pct_decode: 1 for an HTTP path (percent-decoded once first, RFC 3986 §2.1; a '%' left
 * after that, as in "%252e", is refused like any other stray character, and so is an
 * encoded '/', "%2f"), 0 for TFTP
 * (names are taken as sent). Returns 0, -EINVAL for a name that is not allowed (HTTP
 * 400, TFTP error 2 "access violation"), -ENAMETOOLONG above FILES_NAME_MAX (HTTP 414,
 * TFTP error 2). Pure; thread-safe. */
int files_name_check(const char *name, size_t len, int pct_decode, char *out, size_t cap);

/* A source of files. lookup is called with a checked name and returns 0 with *out (a
 * reference the caller releases with files_blob_unref), -ENOENT when the name is not this
 * provider's, or another -errno when it is but cannot be made now (-ENOMEM, -EIO: HTTP
 * 500, TFTP error 0; the provider has logged why). It may block briefly (a store read
 * when what a generated file depends on changed) and must be thread-safe. free, when not
 * NULL, is called on arg by files_registry_free(). */
struct files_provider {
	const char *name; /* for logs and `telgate show files`: "cnf", "static", ... */
	int (*lookup)(void *arg, const char *name, struct files_blob **out);
	void (*free)(void *arg);
	void *arg;
};

struct files_registry;

/* An empty registry; NULL without memory. */
struct files_registry *files_registry_new(void);
/* Appends a provider (copied; arg is owned by the registry from here on, freed with it).
 * Only before the registry is shared with other threads. Returns 0, or -ENOMEM (the
 * provider's free has then been called). */
int files_registry_add(struct files_registry *r, const struct files_provider *p);
/* Asks each provider in order for a checked name: the first that has it answers.
 * Returns 0 with *out (a reference), -ENOENT when none has it, or the provider's error.
 * *provider (when not NULL) gets the answering provider's name, for the access log. */
int files_lookup(struct files_registry *r, const char *name, struct files_blob **out,
                 const char **provider);
void files_registry_free(struct files_registry *r);

/* A provider of files from a directory (dir: an absolute path, opened at once; the
 * provider keeps the descriptor, not the path). A name resolves beneath dir only: symbolic links,
 * devices, FIFOs and directories are not served, nor files above max_bytes. Contents are cached by
 * path and revalidated by size, modification time and inode at most once a second, so a replaced
 * file is served within a second. Returns 0 and fills *p, or -errno when dir cannot be opened. */
int files_static_provider(const char *dir, size_t max_bytes, struct files_provider *p);

/* A provider of one fixed file under one name (tests, and trust lists made elsewhere):
 * holds its own reference to blob. Returns 0 or -ENOMEM. */
int files_fixed_provider(const char *name, struct files_blob *blob, struct files_provider *p);

#endif
