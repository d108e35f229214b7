/* SPDX-License-Identifier: ISC */
/* The device-file service's name rule, blobs, registry and the static and fixed providers
 * (src/provision/files.c, files_static.c), on files made here. */
#include "provision/files.h"

#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <cmocka.h>

#include "testutil.h"

static int check(const char *name, int pct, char *out)
{
	return files_name_check(name, strlen(name), pct, out, FILES_NAME_MAX + 1);
}

static void test_names_allowed(void **state)
{
	(void)state;
	char out[FILES_NAME_MAX + 1];
	assert_int_equal(check("SEP001122AABBCC.cnf.xml", 0, out), 0);
	assert_string_equal(out, "SEP001122AABBCC.cnf.xml");
	assert_int_equal(check("/XMLDefault.cnf.xml", 1, out), 0);
	assert_string_equal(out, "XMLDefault.cnf.xml");
	assert_int_equal(check("/firmware/P00308010200.loads", 1, out), 0);
	assert_string_equal(out, "firmware/P00308010200.loads");
	/* percent-encoded letters decode */
	assert_int_equal(check("/ITL%46ile.tlv", 1, out), 0);
	assert_string_equal(out, "ITLFile.tlv");
	/* TFTP takes names as sent: '%' is a stray character there */
	assert_int_equal(check("ITL%46ile.tlv", 0, out), -EINVAL);
	/* exactly FILES_NAME_MAX bytes */
	char longname[FILES_NAME_MAX + 2];
	memset(longname, 'a', FILES_NAME_MAX);
	longname[FILES_NAME_MAX] = '\0';
	assert_int_equal(check(longname, 0, out), 0);
	longname[FILES_NAME_MAX] = 'a';
	longname[FILES_NAME_MAX + 1] = '\0';
	assert_int_equal(check(longname, 0, out), -ENAMETOOLONG);
}

static void test_names_refused(void **state)
{
	(void)state;
	char out[FILES_NAME_MAX + 1];
	static const char *const http_bad[] = {
	    "",
	    "/",
	    "..",
	    "/../etc/passwd",
	    "a/../../b",
	    "a/./b",
	    ".hidden",
	    "a/.x",
	    "%2e%2e/x",
	    "%2E%2e%2Fx",
	    "a%2fb",
	    "a%2Fb",
	    "..%2fx",
	    "a\\b",
	    "..\\x",
	    "%5c",
	    "a%00b",
	    "%c0%ae%c0%ae/x",
	    "%e0%80%ae",
	    "caf\xc3\xa9",
	    "\xc0\xae\xc0\xae",
	    "%252e%252e",
	    "a//b",
	    "a/",
	    "a b",
	    "a%20b",
	    "%",
	    "%4",
	    "%zz",
	    "a\r\nb",
	    "//x",
	    "x?y",
	    "x#y",
	    "x;y",
	    "~root",
	    "a:b",
	};
	for (size_t i = 0; i < sizeof http_bad / sizeof http_bad[0]; i++) {
		int rc = check(http_bad[i], 1, out);
		if (rc != -EINVAL)
			fail_msg("HTTP name \"%s\": %d, want -EINVAL", http_bad[i], rc);
	}
	/* TFTP: the same, without decoding; a NUL inside is a shorter name to strlen but
	 * not to the length the packet gave */
	assert_int_equal(files_name_check("a\0b", 3, 0, out, sizeof out), -EINVAL);
	assert_int_equal(check("../x", 0, out), -EINVAL);
	assert_int_equal(check("a\\..\\b", 0, out), -EINVAL);
	assert_int_equal(check("\x7f", 0, out), -EINVAL);
	/* too small an output buffer is refused, not overrun */
	char small[8];
	assert_int_equal(files_name_check("a", 1, 0, small, sizeof small), -EINVAL);
}

static void test_blob(void **state)
{
	(void)state;
	struct files_blob *a = files_blob_new("hello", 5, 100, NULL);
	struct files_blob *b = files_blob_new("hello", 5, 200, "text/plain");
	struct files_blob *c = files_blob_new("hellp", 5, 100, NULL);
	struct files_blob *e = files_blob_new(NULL, 0, 0, NULL);
	assert_non_null(a);
	assert_non_null(b);
	assert_non_null(c);
	assert_non_null(e);
	assert_memory_equal(a->data, "hello", 5);
	assert_int_equal(strlen(a->etag), 34);
	assert_int_equal(a->etag[0], '"');
	assert_int_equal(a->etag[33], '"');
	/* the tag is the content's: equal bytes, equal tags, whatever the time */
	assert_string_equal(a->etag, b->etag);
	assert_string_not_equal(a->etag, c->etag);
	/* SHA-256("") begins e3b0c442 98fc1c14 9afbf4c8 996fb924 */
	assert_string_equal(e->etag, "\"e3b0c44298fc1c149afbf4c8996fb924\"");
	assert_string_equal(a->ctype, "application/octet-stream");
	assert_string_equal(b->ctype, "text/plain");
	assert_ptr_equal(files_blob_ref(a), a);
	files_blob_unref(a);
	files_blob_unref(a);
	files_blob_unref(b);
	files_blob_unref(c);
	files_blob_unref(e);
	files_blob_unref(NULL);
}

static int failing_lookup(void *arg, const char *name, struct files_blob **out)
{
	(void)out;
	(void)arg;
	return strcmp(name, "broken") == 0 ? -EIO : -ENOENT;
}

static int freed;
static void count_free(void *arg)
{
	(void)arg;
	freed++;
}

static void test_registry_order(void **state)
{
	(void)state;
	struct files_registry *r = files_registry_new();
	assert_non_null(r);
	struct files_provider p;
	struct files_blob *one = files_blob_new("one", 3, 0, NULL);
	struct files_blob *two = files_blob_new("two", 3, 0, NULL);
	struct files_provider broken = {
	    .name = "broken", .lookup = failing_lookup, .free = count_free};
	assert_int_equal(files_registry_add(r, &broken), 0);
	assert_int_equal(files_fixed_provider("a.txt", one, &p), 0);
	assert_int_equal(files_registry_add(r, &p), 0);
	assert_int_equal(files_fixed_provider("a.txt", two, &p), 0);
	assert_int_equal(files_registry_add(r, &p), 0);
	files_blob_unref(one);
	files_blob_unref(two);

	struct files_blob *b = NULL;
	const char *who = NULL;
	/* the first provider that has the name answers */
	assert_int_equal(files_lookup(r, "a.txt", &b, &who), 0);
	assert_memory_equal(b->data, "one", 3);
	assert_string_equal(who, "fixed");
	files_blob_unref(b);
	assert_int_equal(files_lookup(r, "b.txt", &b, &who), -ENOENT);
	assert_null(b);
	/* a provider's own failure is the answer, not a fall-through */
	assert_int_equal(files_lookup(r, "broken", &b, &who), -EIO);
	assert_string_equal(who, "broken");
	files_registry_free(r);
	assert_int_equal(freed, 1);
}

static void write_file(const char *dir, const char *name, const char *text, size_t len)
{
	char path[512];
	snprintf(path, sizeof path, "%s/%s", dir, name);
	FILE *f = fopen(path, "wb");
	assert_non_null(f);
	assert_int_equal(fwrite(text, 1, len, f), len);
	fclose(f);
}

static void test_static_provider(void **state)
{
	(void)state;
	char dir[64], outside[64], path[600], target[600];
	tu_mkdtemp(dir, sizeof dir, "tgfiles");
	tu_mkdtemp(outside, sizeof outside, "tgfilesout");
	write_file(dir, "SEP001122334455.cnf.xml", "<device/>", 9);
	snprintf(path, sizeof path, "%s/sub", dir);
	assert_int_equal(mkdir(path, 0700), 0);
	write_file(dir, "sub/ring.raw", "ring", 4);
	write_file(dir, "big.bin", "0123456789abcdef0123", 20);
	write_file(outside, "secret", "secret", 6);
	/* links out of the directory, to a file and to a directory; a FIFO */
	snprintf(target, sizeof target, "%s/secret", outside);
	snprintf(path, sizeof path, "%s/link", dir);
	assert_int_equal(symlink(target, path), 0);
	snprintf(path, sizeof path, "%s/out", dir);
	assert_int_equal(symlink(outside, path), 0);
	snprintf(path, sizeof path, "%s/fifo", dir);
	assert_int_equal(mkfifo(path, 0600), 0);

	struct files_provider p;
	assert_int_equal(files_static_provider("/nonexistent-telgate-dir", 16, &p), -ENOENT);
	assert_int_equal(files_static_provider(dir, 19, &p), 0);
	struct files_blob *b = NULL;
	assert_int_equal(p.lookup(p.arg, "SEP001122334455.cnf.xml", &b), 0);
	assert_int_equal(b->len, 9);
	assert_memory_equal(b->data, "<device/>", 9);
	assert_string_equal(b->ctype, "text/xml; charset=utf-8");
	/* a second lookup shares the cached blob */
	struct files_blob *b2 = NULL;
	assert_int_equal(p.lookup(p.arg, "SEP001122334455.cnf.xml", &b2), 0);
	assert_ptr_equal(b, b2);
	files_blob_unref(b2);
	files_blob_unref(b);
	assert_int_equal(p.lookup(p.arg, "sub/ring.raw", &b), 0);
	assert_memory_equal(b->data, "ring", 4);
	files_blob_unref(b);

	static const char *const missing[] = {"nothere",     "link",
	                                      "out/secret",  "fifo",
	                                      "sub",         "big.bin" /* above max_bytes */,
	                                      "sub/nothere", "SEP001122334455.cnf.xml/x"};
	for (size_t i = 0; i < sizeof missing / sizeof missing[0]; i++) {
		b = NULL;
		int rc = p.lookup(p.arg, missing[i], &b);
		if (rc != -ENOENT)
			fail_msg("%s: %d, want -ENOENT", missing[i], rc);
		assert_null(b);
	}

	/* a replaced file is served once its check is a second old: new bytes, new tag */
	assert_int_equal(p.lookup(p.arg, "SEP001122334455.cnf.xml", &b), 0);
	char old_tag[48];
	snprintf(old_tag, sizeof old_tag, "%s", b->etag);
	files_blob_unref(b);
	write_file(dir, "SEP001122334455.cnf.xml", "<device>2</device>", 18);
	sleep(1);
	usleep(100 * 1000);
	assert_int_equal(p.lookup(p.arg, "SEP001122334455.cnf.xml", &b), 0);
	assert_int_equal(b->len, 18);
	assert_string_not_equal(b->etag, old_tag);
	files_blob_unref(b);
	/* and a removed one is gone */
	snprintf(path, sizeof path, "%s/sub/ring.raw", dir);
	assert_int_equal(unlink(path), 0);
	assert_int_equal(p.lookup(p.arg, "sub/ring.raw", &b), -ENOENT);

	p.free(p.arg);
	tu_rmtree(dir);
	tu_rmtree(outside);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_names_allowed),
	    cmocka_unit_test(test_names_refused),
	    cmocka_unit_test(test_blob),
	    cmocka_unit_test(test_registry_order),
	    cmocka_unit_test(test_static_provider),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
