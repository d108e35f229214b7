/* SPDX-License-Identifier: ISC */
#include "backup_archive.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

/* Header layout (BK_HEADER_LEN = 80 bytes), offsets: */
enum {
	H_MAGIC = 0,    /* 8: "TGBACKUP" */
	H_VERSION = 8,  /* u16: BK_VERSION */
	H_KDF_ALG = 10, /* u8: crypto_pwhash_ALG_ARGON2ID13 (2) */
	H_RESERVED = 11,
	H_OPS = 12,     /* u32: argon2id passes */
	H_MEM_KIB = 16, /* u32: argon2id memory, KiB */
	H_SALT = 20,    /* 16: crypto_pwhash salt */
	H_CHUNK = 36,   /* u32: plaintext bytes per chunk */
	H_CHECK = 40,   /* 16: key check */
	H_STREAM = 56,  /* 24: secretstream header */
};
_Static_assert(H_STREAM + crypto_secretstream_xchacha20poly1305_HEADERBYTES == BK_HEADER_LEN,
               "header layout");
_Static_assert(crypto_pwhash_SALTBYTES == 16, "salt size");

#define BK_KDF_CTX "tgbackup" /* crypto_kdf context: 8 bytes */
enum { SUBKEY_STREAM = 1, SUBKEY_CHECK = 2 };
#define ABYTES crypto_secretstream_xchacha20poly1305_ABYTES
#define TAG_FINAL crypto_secretstream_xchacha20poly1305_TAG_FINAL

const char *bk_strerror(int rc)
{
	switch (rc) {
	case BK_OK:
		return "ok";
	case BK_ERR_IO:
		return "read or write error";
	case BK_ERR_FORMAT:
		return "not a telgate backup (or a newer format version)";
	case BK_ERR_PASSPHRASE:
		return "wrong passphrase";
	case BK_ERR_DAMAGED:
		return "the archive was altered, damaged or cut short (authentication failed)";
	case BK_ERR_TRUNCATED:
		return "the archive is truncated (its end is missing)";
	case BK_ERR_ENTRY:
		return "the archive holds an entry that cannot be restored";
	case BK_ERR_NOMEM:
		return "not enough memory for the key derivation";
	case BK_ERR_STOPPED:
		return "stopped";
	default:
		return "unknown error";
	}
}

static void put16(unsigned char *p, uint16_t v)
{
	p[0] = (unsigned char)(v >> 8);
	p[1] = (unsigned char)v;
}

static void put32(unsigned char *p, uint32_t v)
{
	for (int i = 0; i < 4; i++)
		p[i] = (unsigned char)(v >> (24 - 8 * i));
}

static void put64(unsigned char *p, uint64_t v)
{
	for (int i = 0; i < 8; i++)
		p[i] = (unsigned char)(v >> (56 - 8 * i));
}

static uint32_t get32(const unsigned char *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static uint64_t get64(const unsigned char *p)
{
	return (uint64_t)get32(p) << 32 | get32(p + 4);
}

/* The passphrase's key, then its two subkeys: the stream key and the key check. */
static int derive(const char *pass, size_t len, const unsigned char *salt, const struct bk_kdf *kdf,
                  unsigned char key[crypto_secretstream_xchacha20poly1305_KEYBYTES],
                  unsigned char check[BK_CHECK_LEN])
{
	unsigned char master[crypto_kdf_KEYBYTES];
	if (crypto_pwhash(master, sizeof master, pass, len, salt, kdf->ops, (size_t)kdf->mem,
	                  crypto_pwhash_ALG_ARGON2ID13) != 0)
		return BK_ERR_NOMEM;
	crypto_kdf_derive_from_key(key, crypto_secretstream_xchacha20poly1305_KEYBYTES,
	                           SUBKEY_STREAM, BK_KDF_CTX, master);
	crypto_kdf_derive_from_key(check, BK_CHECK_LEN, SUBKEY_CHECK, BK_KDF_CTX, master);
	sodium_memzero(master, sizeof master);
	return BK_OK;
}

int bk_name_valid(const char *name, size_t len)
{
	if (len == 0 || len > BK_NAME_MAX || name[0] == '/')
		return 0;
	size_t comp = 0; /* start of the current component */
	for (size_t i = 0; i <= len; i++) {
		if (i < len && name[i] != '/') {
			if (name[i] < 0x20 || name[i] > 0x7e || name[i] == '\\')
				return 0;
			continue;
		}
		size_t n = i - comp;
		if (n == 0 || (n == 1 && name[comp] == '.') ||
		    (n == 2 && name[comp] == '.' && name[comp + 1] == '.'))
			return 0;
		comp = i + 1;
	}
	return 1;
}

/* --- writer ------------------------------------------------------------------------- */

static int push(struct bk_writer *w, unsigned char tag)
{
	unsigned long long clen;
	const unsigned char *ad = w->first ? w->hdr : NULL;
	crypto_secretstream_xchacha20poly1305_push(&w->st, w->cbuf, &clen, w->buf, w->used, ad,
	                                           ad ? BK_HEADER_LEN : 0, tag);
	w->first = 0;
	w->used = 0;
	if (fwrite(w->cbuf, 1, (size_t)clen, w->out) != clen)
		return BK_ERR_IO;
	w->written += clen;
	return BK_OK;
}

int bk_writer_open(struct bk_writer *w, FILE *out, const char *pass, size_t len,
                   const struct bk_kdf *kdf)
{
	static const struct bk_kdf def = {BK_KDF_OPS_DEFAULT, BK_KDF_MEM_DEFAULT, BK_CHUNK_DEFAULT};
	memset(w, 0, sizeof *w);
	w->out = out;
	w->first = 1;
	if (!kdf)
		kdf = &def;
	w->chunk = kdf->chunk;
	w->buf = malloc(w->chunk);
	w->cbuf = malloc(w->chunk + ABYTES);
	if (!w->buf || !w->cbuf)
		return w->bad = BK_ERR_NOMEM;
	unsigned char *h = w->hdr;
	memcpy(h + H_MAGIC, BK_MAGIC, 8);
	put16(h + H_VERSION, BK_VERSION);
	h[H_KDF_ALG] = crypto_pwhash_ALG_ARGON2ID13;
	put32(h + H_OPS, kdf->ops);
	put32(h + H_MEM_KIB, (uint32_t)(kdf->mem / 1024));
	randombytes_buf(h + H_SALT, crypto_pwhash_SALTBYTES);
	put32(h + H_CHUNK, kdf->chunk);
	unsigned char key[crypto_secretstream_xchacha20poly1305_KEYBYTES];
	int rc = derive(pass, len, h + H_SALT, kdf, key, h + H_CHECK);
	if (rc == BK_OK)
		crypto_secretstream_xchacha20poly1305_init_push(&w->st, h + H_STREAM, key);
	sodium_memzero(key, sizeof key);
	if (rc == BK_OK && fwrite(h, 1, BK_HEADER_LEN, out) != BK_HEADER_LEN)
		rc = BK_ERR_IO;
	w->written = BK_HEADER_LEN;
	return w->bad = rc;
}

int bk_writer_data(struct bk_writer *w, const void *p, size_t n)
{
	const unsigned char *s = p;
	while (n && !w->bad) {
		size_t take = w->chunk - w->used < n ? w->chunk - w->used : n;
		memcpy(w->buf + w->used, s, take);
		w->used += take;
		s += take;
		n -= take;
		/* A full chunk waits until more comes: the last one must carry the FINAL tag. */
		if (n && w->used == w->chunk)
			w->bad = push(w, 0);
	}
	return w->bad;
}

int bk_writer_entry(struct bk_writer *w, const char *name, uint32_t mode, uint64_t size)
{
	size_t len = strlen(name);
	if (!bk_name_valid(name, len))
		return w->bad = w->bad ? w->bad : BK_ERR_ENTRY;
	unsigned char h[2];
	put16(h, (uint16_t)len);
	unsigned char ms[12];
	put32(ms, mode & 07777);
	put64(ms + 4, size);
	bk_writer_data(w, h, 2);
	bk_writer_data(w, name, len);
	return bk_writer_data(w, ms, sizeof ms);
}

int bk_writer_close(struct bk_writer *w)
{
	int rc = w->bad;
	if (rc == BK_OK && w->buf)
		rc = push(w, TAG_FINAL);
	if (rc == BK_OK && fflush(w->out) != 0)
		rc = BK_ERR_IO;
	sodium_memzero(&w->st, sizeof w->st);
	if (w->buf)
		sodium_memzero(w->buf, w->chunk);
	free(w->buf);
	free(w->cbuf);
	w->buf = w->cbuf = NULL;
	return rc;
}

/* --- reader ------------------------------------------------------------------------- */

int bk_reader_open(struct bk_reader *r, FILE *in, const char *pass, size_t len)
{
	memset(r, 0, sizeof *r);
	if (fseek(in, 0, SEEK_SET) != 0)
		return BK_ERR_IO;
	size_t got = fread(r->hdr, 1, BK_HEADER_LEN, in);
	if (got != BK_HEADER_LEN)
		return ferror(in) ? BK_ERR_IO : BK_ERR_FORMAT;
	const unsigned char *h = r->hdr;
	if (memcmp(h + H_MAGIC, BK_MAGIC, 8) != 0 || h[H_VERSION] != 0 ||
	    h[H_VERSION + 1] != BK_VERSION || h[H_KDF_ALG] != crypto_pwhash_ALG_ARGON2ID13 ||
	    h[H_RESERVED] != 0)
		return BK_ERR_FORMAT;
	r->kdf.ops = get32(h + H_OPS);
	r->kdf.mem = (uint64_t)get32(h + H_MEM_KIB) * 1024;
	r->kdf.chunk = get32(h + H_CHUNK);
	if (r->kdf.ops < crypto_pwhash_OPSLIMIT_MIN || r->kdf.ops > BK_KDF_OPS_MAX ||
	    r->kdf.mem < crypto_pwhash_MEMLIMIT_MIN || r->kdf.mem > BK_KDF_MEM_MAX ||
	    r->kdf.chunk < 1024 || r->kdf.chunk > 1024 * 1024)
		return BK_ERR_FORMAT;
	unsigned char check[BK_CHECK_LEN];
	int rc = derive(pass, len, h + H_SALT, &r->kdf, r->key, check);
	if (rc == BK_OK && sodium_memcmp(check, h + H_CHECK, BK_CHECK_LEN) != 0)
		rc = BK_ERR_PASSPHRASE;
	if (rc != BK_OK)
		sodium_memzero(r->key, sizeof r->key);
	return rc;
}

void bk_reader_free(struct bk_reader *r)
{
	sodium_memzero(r->key, sizeof r->key);
}

/* The entry parser, fed decrypted bytes in whatever pieces the chunks cut them. */
struct parse {
	const struct bk_visitor *v;
	unsigned char head[2 + BK_NAME_MAX + 12];
	size_t have;   /* bytes of head gathered */
	size_t need;   /* bytes head must reach: 2, then 2 + name + 12 */
	uint64_t left; /* bytes of the current entry's data still to come */
	int in_data;
};

static int parse_head_done(struct parse *p)
{
	size_t nlen = p->need - 14;
	char name[BK_NAME_MAX + 1];
	memcpy(name, p->head + 2, nlen);
	name[nlen] = '\0';
	uint32_t mode = get32(p->head + 2 + nlen);
	p->left = get64(p->head + 6 + nlen);
	if (!bk_name_valid(name, nlen) || memchr(name, '\0', nlen) || mode > 07777)
		return BK_ERR_ENTRY;
	if (p->v && p->v->entry && p->v->entry(p->v->ud, name, mode, p->left) != 0)
		return BK_ERR_STOPPED;
	p->in_data = 1;
	return BK_OK;
}

static int parse_feed(struct parse *p, const unsigned char *s, size_t n)
{
	while (n) {
		if (p->in_data) {
			size_t take = p->left < n ? (size_t)p->left : n;
			if (take && p->v && p->v->data && p->v->data(p->v->ud, s, take) != 0)
				return BK_ERR_STOPPED;
			s += take;
			n -= take;
			p->left -= take;
		} else {
			size_t take = p->need - p->have < n ? p->need - p->have : n;
			memcpy(p->head + p->have, s, take);
			p->have += take;
			s += take;
			n -= take;
			if (p->have < p->need)
				continue;
			if (p->need == 2) { /* the name's length is known: the rest of the head */
				size_t nlen = (size_t)p->head[0] << 8 | p->head[1];
				if (nlen == 0 || nlen > BK_NAME_MAX)
					return BK_ERR_ENTRY;
				p->need = 2 + nlen + 12;
				continue;
			}
			int rc = parse_head_done(p);
			if (rc != BK_OK)
				return rc;
		}
		if (p->in_data && p->left == 0) {
			if (p->v && p->v->end && p->v->end(p->v->ud) != 0)
				return BK_ERR_STOPPED;
			p->in_data = 0;
			p->have = 0;
			p->need = 2;
		}
	}
	return BK_OK;
}

int bk_reader_run(struct bk_reader *r, FILE *in, const struct bk_visitor *v)
{
	unsigned char hdr[BK_HEADER_LEN];
	if (fseek(in, 0, SEEK_SET) != 0)
		return BK_ERR_IO;
	if (fread(hdr, 1, BK_HEADER_LEN, in) != BK_HEADER_LEN)
		return ferror(in) ? BK_ERR_IO : BK_ERR_TRUNCATED;
	/* The file may have changed since bk_reader_open: the first chunk's authentication
	 * covers the header this run reads, so use that one. */
	crypto_secretstream_xchacha20poly1305_state st;
	if (crypto_secretstream_xchacha20poly1305_init_pull(&st, hdr + H_STREAM, r->key) != 0)
		return BK_ERR_DAMAGED;
	size_t clen = r->kdf.chunk + ABYTES;
	unsigned char *c = malloc(clen), *m = malloc(r->kdf.chunk);
	struct parse *p = calloc(1, sizeof *p);
	int rc = c && m && p ? BK_OK : BK_ERR_NOMEM;
	if (p) {
		p->v = v;
		p->need = 2;
	}
	int first = 1, final = 0;
	while (rc == BK_OK && !final) {
		size_t got = fread(c, 1, clen, in);
		if (got < clen && ferror(in)) {
			rc = BK_ERR_IO;
			break;
		}
		if (got < ABYTES) { /* no chunk at all (cut at a chunk's end), or a piece */
			rc = got == 0 ? BK_ERR_TRUNCATED : BK_ERR_DAMAGED;
			break;
		}
		unsigned long long mlen;
		unsigned char tag;
		if (crypto_secretstream_xchacha20poly1305_pull(&st, m, &mlen, &tag, c, got,
		                                               first ? hdr : NULL,
		                                               first ? BK_HEADER_LEN : 0) != 0) {
			rc = BK_ERR_DAMAGED;
			break;
		}
		first = 0;
		final = tag == TAG_FINAL;
		/* Only the writer's last chunk is short; a short one without FINAL was cut. */
		if (!final && got < clen) {
			rc = BK_ERR_TRUNCATED;
			break;
		}
		rc = parse_feed(p, m, (size_t)mlen);
	}
	if (rc == BK_OK && (p->in_data || p->have != 0))
		rc = BK_ERR_DAMAGED; /* FINAL inside an entry: the writer never does that */
	if (rc == BK_OK && fgetc(in) != EOF)
		rc = BK_ERR_DAMAGED; /* bytes after the end */
	sodium_memzero(&st, sizeof st);
	if (m)
		sodium_memzero(m, r->kdf.chunk);
	free(c);
	free(m);
	free(p);
	return rc;
}
