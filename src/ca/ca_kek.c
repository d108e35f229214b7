/* SPDX-License-Identifier: ISC */
#include "ca/ca_kek.h"

#include "core/util.h"

#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

int ca_kek_read(const char *path, struct ca_kek *kek, char *err, size_t errlen)
{
	memset(kek, 0, sizeof *kek);
	struct stat sb;
	if (stat(path, &sb) == 0 && sb.st_uid != 0 && sb.st_uid != geteuid()) {
		snprintf(err, errlen, "pki.kek_file %s: owned by uid %u, not root", path,
		         (unsigned)sb.st_uid);
		return -1;
	}
	char buf[CA_KEK_MAX + 1];
	size_t n = 0;
	if (tg_read_secret_file("pki.kek_file", path, buf, sizeof buf, &n, err, errlen) != 0)
		return -1;
	if (n < CA_KEK_MIN) {
		OPENSSL_cleanse(buf, sizeof buf);
		snprintf(err, errlen,
		         "pki.kek_file %s: %zu bytes, fewer than %d (make it with openssl rand "
		         "-base64 48)",
		         path, n, CA_KEK_MIN);
		return -1;
	}
	memcpy(kek->k, buf, n);
	kek->len = n;
	OPENSSL_cleanse(buf, sizeof buf);
	return 0;
}

void ca_kek_wipe(struct ca_kek *kek)
{
	OPENSSL_cleanse(kek, sizeof *kek);
}

int ca_kek_seal(const struct ca_kek *kek, EVP_PKEY *key, char **pem, char *err, size_t errlen)
{
	BIO *b = BIO_new(BIO_s_mem());
	char *data = NULL;
	long n = 0;
	/* PBES2: PBKDF2-HMAC-SHA256 (OpenSSL 3's default PRF) and AES-256-CBC. */
	int ok = b &&
	         PEM_write_bio_PKCS8PrivateKey(b, key, EVP_aes_256_cbc(), (const char *)kek->k,
	                                       (int)kek->len, NULL, NULL) == 1 &&
	         (n = BIO_get_mem_data(b, &data)) > 0;
	*pem = ok ? malloc((size_t)n + 1) : NULL;
	if (*pem) {
		memcpy(*pem, data, (size_t)n);
		(*pem)[n] = '\0';
	}
	BIO_free(b);
	ERR_clear_error();
	if (!*pem) {
		snprintf(err, errlen, "cannot encrypt a key under the key-encryption key");
		return -1;
	}
	return 0;
}

static int passphrase(char *buf, int size, int rwflag, void *u)
{
	const struct ca_kek *kek = u;
	(void)rwflag;
	if ((size_t)size < kek->len)
		return -1;
	memcpy(buf, kek->k, kek->len);
	return (int)kek->len;
}

EVP_PKEY *ca_kek_open(const struct ca_kek *kek, const char *pem, char *err, size_t errlen)
{
	/* Only an encrypted key: a key in clear in the store is not one this code put there. */
	static const char head[] = "-----BEGIN ENCRYPTED PRIVATE KEY-----";
	if (strncmp(pem, head, sizeof head - 1) != 0) {
		snprintf(err, errlen, "not an encrypted PKCS#8 key");
		return NULL;
	}
	BIO *b = BIO_new_mem_buf(pem, -1);
	EVP_PKEY *k = b ? PEM_read_bio_PrivateKey(b, NULL, passphrase, (void *)kek) : NULL;
	BIO_free(b);
	ERR_clear_error();
	if (!k)
		snprintf(err, errlen,
		         "the key-encryption key does not decrypt it (is pki.kek_file "
		         "the same file as on the other nodes?)");
	return k;
}
