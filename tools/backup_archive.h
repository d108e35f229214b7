/* SPDX-License-Identifier: ISC */
/*
 * backup_archive: the encrypted archive `telgate backup` writes and `telgate restore` reads
 * (docs/backup.md has the byte layout). A passphrase gives a key through libsodium's
 * crypto_pwhash (argon2id); the content is one crypto_secretstream_xchacha20poly1305 stream
 * of fixed-size chunks, so every byte is authenticated, chunks cannot be reordered, dropped
 * or repeated, and a missing end (the FINAL tag) is seen. The file header is the first
 * chunk's additional data: changing any header byte also fails authentication. A 16-byte
 * key check (a subkey of the passphrase's key) in the header tells a wrong passphrase from
 * a damaged archive; it says nothing an attacker could not learn by trying the passphrase
 * on the first chunk.
 *
 * Inside the stream, entries follow one another (a tar-like TLV): name length (u16, 1 ..
 * BK_NAME_MAX), name (UTF-8, relative: "meta.json", "store.db", "pki/ca.key",
 * "pki/interfaces/x/cert.pem"), mode (u32, permission bits), size (u64, bytes), then the
 * bytes. Integers are big-endian.
 *
 * Threads: none of its own; a writer or reader belongs to one thread. Blocking: the key
 * derivation takes about a second and BK_KDF_MEM_DEFAULT bytes of memory; I/O is on the
 * caller's FILE. Memory: the writer and reader are the caller's (stack is fine); they hold
 * keys, wiped by bk_writer_close / bk_reader_free.
 */
#ifndef TG_BACKUP_ARCHIVE_H
#define TG_BACKUP_ARCHIVE_H

#include <sodium.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#define BK_MAGIC "TGBACKUP"
#define BK_VERSION 1
#define BK_HEADER_LEN 80
#define BK_NAME_MAX 1024
#define BK_CHUNK_DEFAULT 65536u /* plaintext bytes per chunk */
#define BK_CHECK_LEN 16
/* argon2id cost the CLI uses: libsodium's "moderate" (3 passes, 256 MiB): a passphrase that
 * protects the CA key deserves more than the interactive setting. */
#define BK_KDF_OPS_DEFAULT 3u
#define BK_KDF_MEM_DEFAULT (256u * 1024 * 1024)
/* What a reader accepts from a header, so that a crafted archive cannot make restore
 * allocate more than 1 GiB or run for minutes. */
#define BK_KDF_OPS_MAX 16u
#define BK_KDF_MEM_MAX (1024u * 1024 * 1024)

/* Results; bk_strerror gives the text a person reads. */
enum bk_rc {
	BK_OK = 0,
	BK_ERR_IO = -1,         /* reading or writing the FILE failed (errno kept) */
	BK_ERR_FORMAT = -2,     /* not a telgate backup, or a version this program does not read */
	BK_ERR_PASSPHRASE = -3, /* the key check differs: wrong passphrase */
	BK_ERR_DAMAGED = -4,    /* authentication failed: the archive was altered or damaged */
	BK_ERR_TRUNCATED = -5,  /* the stream ends before its FINAL chunk */
	BK_ERR_ENTRY = -6,      /* an entry's name, mode or size is not acceptable */
	BK_ERR_NOMEM = -7,      /* the key derivation could not get its memory */
	BK_ERR_STOPPED = -8,    /* a reader callback asked to stop */
};
const char *bk_strerror(int rc);

struct bk_kdf {
	uint32_t ops;   /* argon2id passes */
	uint64_t mem;   /* bytes; a multiple of 1 KiB */
	uint32_t chunk; /* plaintext bytes per chunk, 1 KiB .. 1 MiB */
};

struct bk_writer {
	FILE *out;
	crypto_secretstream_xchacha20poly1305_state st;
	unsigned char hdr[BK_HEADER_LEN];
	unsigned char *buf, *cbuf; /* a chunk of plaintext; its ciphertext */
	size_t chunk, used;
	int first, bad;
	uint64_t written; /* ciphertext bytes, the header included */
};

/* Derives the key from pass (len bytes), writes the header to out. kdf NULL: the defaults.
 * Returns BK_OK or a negative bk_rc. */
int bk_writer_open(struct bk_writer *w, FILE *out, const char *pass, size_t len,
                   const struct bk_kdf *kdf);
/* Adds an entry of size bytes: bk_writer_entry then bk_writer_data (any number of calls
 * whose lengths add up to size). Errors stick: bk_writer_close reports them. */
int bk_writer_entry(struct bk_writer *w, const char *name, uint32_t mode, uint64_t size);
int bk_writer_data(struct bk_writer *w, const void *p, size_t n);
/* Writes the last (FINAL) chunk and flushes. Wipes the key and frees; call it also after a
 * failure. Returns BK_OK or the first error. */
int bk_writer_close(struct bk_writer *w);

/* What restore does with the entries, from bk_reader_run. Each returns 0, or nonzero to
 * stop (the run then returns BK_ERR_STOPPED). data gets an entry's bytes in pieces. */
struct bk_visitor {
	int (*entry)(void *ud, const char *name, uint32_t mode, uint64_t size);
	int (*data)(void *ud, const unsigned char *p, size_t n);
	int (*end)(void *ud); /* the entry's bytes are complete */
	void *ud;
};

struct bk_reader {
	unsigned char hdr[BK_HEADER_LEN];
	unsigned char key[crypto_secretstream_xchacha20poly1305_KEYBYTES];
	struct bk_kdf kdf;
};

/* Reads the header from in (at its start), checks the format and derives the key from
 * pass: BK_ERR_FORMAT, BK_ERR_PASSPHRASE, BK_ERR_NOMEM, BK_ERR_IO or BK_OK. */
int bk_reader_open(struct bk_reader *r, FILE *in, const char *pass, size_t len);
/* Reads the whole stream from in's start (the header must be the one bk_reader_open read),
 * giving v the entries in order as they are decrypted. Everything v got is authenticated,
 * but only a BK_OK return says the archive was complete and unaltered: a caller that
 * writes must keep what it wrote invisible until then (restore runs twice: the first run
 * verifies with a visitor that writes nothing). v NULL: verify only. */
int bk_reader_run(struct bk_reader *r, FILE *in, const struct bk_visitor *v);
void bk_reader_free(struct bk_reader *r);

/* Whether an entry name is acceptable: relative, '/'-separated, no empty, "." or ".."
 * component, printable ASCII, at most BK_NAME_MAX bytes. Restore joins it to a directory. */
int bk_name_valid(const char *name, size_t len);

#endif
