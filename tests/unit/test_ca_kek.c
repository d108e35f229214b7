/* SPDX-License-Identifier: ISC */
/* ca_kek: the key-encryption key file's checks, and keys sealed under it and opened again. */
#include "ca/ca_kek.h"

#include <fcntl.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <cmocka.h>

static char dir[] = "/tmp/tgkekXXXXXX";

static const char *write_kek(const char *name, const char *body, mode_t mode)
{
	static char path[128];
	snprintf(path, sizeof path, "%s/%s", dir, name);
	unlink(path);
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, body, strlen(body)), (ssize_t)strlen(body));
	close(fd);
	assert_int_equal(chmod(path, mode), 0);
	return path;
}

static void test_file_checks(void **state)
{
	(void)state;
	struct ca_kek k;
	char err[300];
	const char *good = "0123456789abcdef0123456789abcdef0123456789abcdef\n";
	assert_int_equal(ca_kek_read(write_kek("kek", good, 0600), &k, err, sizeof err), 0);
	assert_int_equal(k.len, 48); /* the newline is not part of it */
	assert_int_equal(ca_kek_read(write_kek("kek", good, 0400), &k, err, sizeof err), 0);
	ca_kek_wipe(&k);
	/* Others may read it: refused, and the message does not hold the key. */
	assert_int_equal(ca_kek_read(write_kek("kek", good, 0640), &k, err, sizeof err), -1);
	assert_non_null(strstr(err, "chmod 600"));
	assert_null(strstr(err, "0123456789abcdef"));
	assert_int_equal(ca_kek_read(write_kek("kek", "short\n", 0600), &k, err, sizeof err), -1);
	assert_non_null(strstr(err, "fewer than 32"));
	assert_int_equal(ca_kek_read("/nonexistent/kek", &k, err, sizeof err), -1);
}

static void test_seal_open(void **state)
{
	(void)state;
	struct ca_kek a = {.len = 40}, b = {.len = 40};
	memset(a.k, 'a', a.len);
	memset(b.k, 'b', b.len);
	char err[300], *pem = NULL;
	EVP_PKEY *key = EVP_EC_gen("P-256");
	assert_non_null(key);
	assert_int_equal(ca_kek_seal(&a, key, &pem, err, sizeof err), 0);
	assert_non_null(strstr(pem, "-----BEGIN ENCRYPTED PRIVATE KEY-----"));
	EVP_PKEY *back = ca_kek_open(&a, pem, err, sizeof err);
	assert_non_null(back);
	assert_int_equal(EVP_PKEY_eq(key, back), 1);
	EVP_PKEY_free(back);
	/* Another KEK does not open it, and says so. */
	assert_null(ca_kek_open(&b, pem, err, sizeof err));
	assert_non_null(strstr(err, "does not decrypt"));
	free(pem);
	/* A key in clear is refused, whatever the KEK. */
	BIO *bio = BIO_new(BIO_s_mem());
	char *clear = NULL;
	assert_int_equal(PEM_write_bio_PrivateKey(bio, key, NULL, NULL, 0, NULL, NULL), 1);
	long n = BIO_get_mem_data(bio, &clear);
	char *z = calloc(1, (size_t)n + 1);
	memcpy(z, clear, (size_t)n);
	assert_null(ca_kek_open(&a, z, err, sizeof err));
	assert_non_null(strstr(err, "not an encrypted"));
	free(z);
	BIO_free(bio);
	EVP_PKEY_free(key);
}

int main(void)
{
	if (!mkdtemp(dir))
		return 1;
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_file_checks),
	    cmocka_unit_test(test_seal_open),
	};
	int rc = cmocka_run_group_tests(tests, NULL, NULL);
	char p[128];
	snprintf(p, sizeof p, "%s/kek", dir);
	unlink(p);
	rmdir(dir);
	return rc;
}
