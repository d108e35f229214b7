/* SPDX-License-Identifier: ISC */
/* The backup archive (tools/backup_archive.h): round trip, and every alteration refused: a
 * byte changed anywhere, a wrong passphrase, a cut at any length, chunks swapped, bytes
 * appended, a header from another version, entries that cannot be restored. */
#include "backup_archive.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

/* Cheap key derivation and small chunks, so entries cross chunks and every byte can be
 * tried; the CLI uses BK_KDF_*_DEFAULT. */
static const struct bk_kdf FAST = {1, 8192, 1024};
static const char PASS[] = "correct horse battery staple";

struct item {
	const char *name;
	uint32_t mode;
	size_t size;
};
static const struct item ITEMS[] = {
    {"meta.json", 0600, 40},
    {"store.db", 0600, 2500}, /* crosses two chunk boundaries */
    {"pki/ca.key", 0600, 0},  /* an empty entry */
    {"pki/interfaces/sip-tls@127.0.0.1:5061/cert.pem", 0644, 700},
};
#define NITEMS (sizeof ITEMS / sizeof ITEMS[0])

static unsigned char byte_of(size_t item, size_t i)
{
	return (unsigned char)(item * 31 + i * 7);
}

/* Writes the archive of ITEMS into a new memory buffer (*len bytes; caller frees). */
static unsigned char *make_archive(size_t *len)
{
	FILE *f = tmpfile();
	assert_non_null(f);
	struct bk_writer w;
	assert_int_equal(bk_writer_open(&w, f, PASS, strlen(PASS), &FAST), BK_OK);
	for (size_t k = 0; k < NITEMS; k++) {
		assert_int_equal(bk_writer_entry(&w, ITEMS[k].name, ITEMS[k].mode, ITEMS[k].size),
		                 BK_OK);
		for (size_t i = 0; i < ITEMS[k].size;
		     i++) { /* byte by byte: any piece size works */
			unsigned char b = byte_of(k, i);
			assert_int_equal(bk_writer_data(&w, &b, 1), BK_OK);
		}
	}
	assert_int_equal(bk_writer_close(&w), BK_OK);
	long n = ftell(f);
	assert_true(n > 0);
	*len = (size_t)n;
	assert_int_equal((long)w.written, n);
	unsigned char *buf = malloc(*len);
	rewind(f);
	assert_int_equal(fread(buf, 1, *len, f), *len);
	fclose(f);
	return buf;
}

static FILE *file_of(const unsigned char *buf, size_t len)
{
	FILE *f = tmpfile();
	assert_non_null(f);
	assert_int_equal(fwrite(buf, 1, len, f), len);
	rewind(f);
	return f;
}

struct seen {
	size_t n, pos;
	int bad;
};

static int on_entry(void *ud, const char *name, uint32_t mode, uint64_t size)
{
	struct seen *s = ud;
	if (s->n >= NITEMS || strcmp(name, ITEMS[s->n].name) != 0 || mode != ITEMS[s->n].mode ||
	    size != ITEMS[s->n].size)
		s->bad = 1;
	s->pos = 0;
	return 0;
}

static int on_data(void *ud, const unsigned char *p, size_t n)
{
	struct seen *s = ud;
	for (size_t i = 0; i < n; i++)
		if (s->n >= NITEMS || p[i] != byte_of(s->n, s->pos++))
			s->bad = 1;
	return 0;
}

static int on_end(void *ud)
{
	struct seen *s = ud;
	if (s->n >= NITEMS || s->pos != ITEMS[s->n].size)
		s->bad = 1;
	s->n++;
	return 0;
}

/* Opens and runs buf with pass: the first error, or BK_OK. */
static int read_back(const unsigned char *buf, size_t len, const char *pass, struct seen *s)
{
	FILE *f = file_of(buf, len);
	struct bk_reader r;
	int rc = bk_reader_open(&r, f, pass, strlen(pass));
	const struct bk_visitor v = {on_entry, on_data, on_end, s};
	if (rc == BK_OK)
		rc = bk_reader_run(&r, f, &v);
	bk_reader_free(&r);
	fclose(f);
	return rc;
}

static void test_round_trip(void **state)
{
	(void)state;
	size_t len;
	unsigned char *buf = make_archive(&len);
	assert_memory_equal(buf, BK_MAGIC, 8);
	struct seen s = {0};
	assert_int_equal(read_back(buf, len, PASS, &s), BK_OK);
	assert_int_equal(s.n, NITEMS);
	assert_false(s.bad);
	/* Read twice with one key derivation, as restore does (verify, then write). */
	FILE *f = file_of(buf, len);
	struct bk_reader r;
	assert_int_equal(bk_reader_open(&r, f, PASS, strlen(PASS)), BK_OK);
	assert_int_equal(bk_reader_run(&r, f, NULL), BK_OK);
	struct seen s2 = {0};
	const struct bk_visitor v = {on_entry, on_data, on_end, &s2};
	assert_int_equal(bk_reader_run(&r, f, &v), BK_OK);
	assert_int_equal(s2.n, NITEMS);
	bk_reader_free(&r);
	fclose(f);
	free(buf);
}

static void test_every_byte_tampered(void **state)
{
	(void)state;
	size_t len;
	unsigned char *buf = make_archive(&len);
	for (size_t i = 0; i < len; i++) {
		buf[i] ^= 0x01;
		struct seen s = {0};
		int rc = read_back(buf, len, PASS, &s);
		if (rc == BK_OK)
			fail_msg("byte %zu changed and the archive still read", i);
		/* Header bytes are caught by the format or the key check; the rest (the stream
		 * header, the salt's effect on the key, the chunks) by authentication. */
		assert_true(rc == BK_ERR_FORMAT || rc == BK_ERR_PASSPHRASE || rc == BK_ERR_DAMAGED);
		if (i >= BK_HEADER_LEN)
			assert_int_equal(rc, BK_ERR_DAMAGED);
		buf[i] ^= 0x01;
	}
	free(buf);
}

static void test_wrong_passphrase(void **state)
{
	(void)state;
	size_t len;
	unsigned char *buf = make_archive(&len);
	struct seen s = {0};
	assert_int_equal(read_back(buf, len, "correct horse battery stapler", &s),
	                 BK_ERR_PASSPHRASE);
	assert_int_equal(read_back(buf, len, "", &s), BK_ERR_PASSPHRASE);
	assert_int_equal(s.n, 0); /* nothing was given to the visitor */
	assert_string_equal(bk_strerror(BK_ERR_PASSPHRASE), "wrong passphrase");
	free(buf);
}

static void test_truncated(void **state)
{
	(void)state;
	size_t len;
	unsigned char *buf = make_archive(&len);
	for (size_t cut = 0; cut < len; cut++) {
		struct seen s = {0};
		int rc = read_back(buf, cut, PASS, &s);
		if (rc == BK_OK)
			fail_msg("cut at %zu of %zu bytes and the archive still read", cut, len);
		if (cut < BK_HEADER_LEN)
			assert_int_equal(rc, BK_ERR_FORMAT);
	}
	/* Cut right after the header or after a whole chunk: no authentication fails, the
	 * missing FINAL chunk says it. */
	struct seen s = {0};
	const size_t chunk = FAST.chunk + crypto_secretstream_xchacha20poly1305_ABYTES;
	assert_int_equal(read_back(buf, BK_HEADER_LEN, PASS, &s), BK_ERR_TRUNCATED);
	assert_int_equal(read_back(buf, BK_HEADER_LEN + chunk, PASS, &s), BK_ERR_TRUNCATED);
	assert_int_equal(read_back(buf, BK_HEADER_LEN + 2 * chunk, PASS, &s), BK_ERR_TRUNCATED);
	free(buf);
}

static void test_reordered_and_appended(void **state)
{
	(void)state;
	size_t len;
	unsigned char *buf = make_archive(&len);
	const size_t chunk = FAST.chunk + crypto_secretstream_xchacha20poly1305_ABYTES;
	assert_true(len > BK_HEADER_LEN + 3 * chunk);
	unsigned char *copy = malloc(len + 1);
	/* chunks 2 and 3 swapped */
	memcpy(copy, buf, len);
	memcpy(copy + BK_HEADER_LEN + chunk, buf + BK_HEADER_LEN + 2 * chunk, chunk);
	memcpy(copy + BK_HEADER_LEN + 2 * chunk, buf + BK_HEADER_LEN + chunk, chunk);
	struct seen s = {0};
	assert_int_equal(read_back(copy, len, PASS, &s), BK_ERR_DAMAGED);
	/* chunk 2 repeated in place of chunk 3 */
	memcpy(copy, buf, len);
	memcpy(copy + BK_HEADER_LEN + 2 * chunk, buf + BK_HEADER_LEN + chunk, chunk);
	assert_int_equal(read_back(copy, len, PASS, &s), BK_ERR_DAMAGED);
	/* one byte after the end */
	memcpy(copy, buf, len);
	copy[len] = 0;
	assert_int_equal(read_back(copy, len + 1, PASS, &s), BK_ERR_DAMAGED);
	/* the header of another archive made with the same passphrase */
	size_t len2;
	unsigned char *other = make_archive(&len2);
	memcpy(copy, buf, len);
	memcpy(copy, other, BK_HEADER_LEN);
	assert_int_equal(read_back(copy, len, PASS, &s), BK_ERR_DAMAGED);
	free(other);
	free(copy);
	free(buf);
}

static void test_header_limits(void **state)
{
	(void)state;
	size_t len;
	unsigned char *buf = make_archive(&len);
	struct seen s = {0};
	buf[9] = BK_VERSION + 1; /* a newer version */
	assert_int_equal(read_back(buf, len, PASS, &s), BK_ERR_FORMAT);
	buf[9] = BK_VERSION;
	buf[16] = 0xff; /* 4 TiB of argon2id memory: refused before any allocation */
	assert_int_equal(read_back(buf, len, PASS, &s), BK_ERR_FORMAT);
	free(buf);
	static const char text[] = "not a backup at all, but long enough to hold a header......"
	                           "....................";
	assert_int_equal(read_back((const unsigned char *)text, sizeof text, PASS, &s),
	                 BK_ERR_FORMAT);
}

static void test_names(void **state)
{
	(void)state;
	static const char *const good[] = {"store.db", "pki/ca.key", "pki/interfaces/a@b:1/k.pem",
	                                   "a.b", "..a"};
	static const char *const bad[] = {"",     "/etc/passwd", "../x",  "pki/../../x",
	                                  "a//b", "a/",          "./a",   "a/./b",
	                                  "a\\b", "a\nb",        "pki/.."};
	for (size_t i = 0; i < sizeof good / sizeof good[0]; i++)
		assert_true(bk_name_valid(good[i], strlen(good[i])));
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
		assert_false(bk_name_valid(bad[i], strlen(bad[i])));
	FILE *f = tmpfile();
	struct bk_writer w;
	assert_int_equal(bk_writer_open(&w, f, PASS, strlen(PASS), &FAST), BK_OK);
	assert_int_equal(bk_writer_entry(&w, "../escape", 0600, 0), BK_ERR_ENTRY);
	assert_int_equal(bk_writer_close(&w), BK_ERR_ENTRY); /* the error sticks */
	fclose(f);
}

int main(void)
{
	if (sodium_init() < 0)
		return 1;
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_round_trip),
	    cmocka_unit_test(test_every_byte_tampered),
	    cmocka_unit_test(test_wrong_passphrase),
	    cmocka_unit_test(test_truncated),
	    cmocka_unit_test(test_reordered_and_appended),
	    cmocka_unit_test(test_header_limits),
	    cmocka_unit_test(test_names),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
