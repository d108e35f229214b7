/* SPDX-License-Identifier: ISC */
/* Enrolment profiles' one-time strings: generation, the server key, hashing, checks. */
#include "ca/capf.h"

#include "core/util.h"

#include <errno.h>
#include <fcntl.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static int in_list(const char *s, const char *const *list, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (strcmp(s, list[i]) == 0)
			return 1;
	return 0;
}

#define IN_LIST(s, list) in_list((s), (list), sizeof(list) / sizeof(list)[0])

int capf_authmode_valid(const char *s)
{
	static const char *const v[] = {"string", "none"};
	return IN_LIST(s, v);
}

int capf_keytype_valid(const char *s)
{
	static const char *const v[] = {"ec-p256", "ec-p384", "rsa-2048", "rsa-3072"};
	return IN_LIST(s, v);
}

int capf_operation_valid(const char *s)
{
	static const char *const v[] = {"install", "delete"};
	return IN_LIST(s, v);
}

const char *capf_instanceid_check(const char *id)
{
	size_t n = strlen(id);
	if (n == 0 || n > STORE_CAPF_ID_MAX)
		return "an instance id is 1 to 64 characters";
	if (strspn(id, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789._-") != n)
		return "an instance id holds only letters, digits, '.', '_' and '-'";
	return NULL;
}

const char *capf_string_check(const char *s, size_t len, int min_length)
{
	if (len < (size_t)(min_length > CAPF_MIN_LENGTH_FLOOR ? min_length : CAPF_MIN_LENGTH_FLOOR))
		return "the authentication string is shorter than pki.capf_min_length";
	if (len > CAPF_STRING_MAX)
		return "the authentication string is longer than 128 characters";
	for (size_t i = 0; i < len; i++)
		if ((unsigned char)s[i] < 0x21 || (unsigned char)s[i] > 0x7e)
			return "the authentication string holds a character other than printable "
			       "ASCII (no spaces)";
	return NULL;
}

int capf_duration_parse(const char *s, int64_t *seconds)
{
	static const struct {
		char unit;
		int64_t mul;
	} units[] = {{'s', 1}, {'m', 60}, {'h', 3600}, {'d', 86400}};
	int64_t n = 0;
	const char *p = s;
	for (; *p >= '0' && *p <= '9'; p++) {
		n = n * 10 + (*p - '0');
		if (n > CAPF_EXPIRES_MAX_S)
			return -1;
	}
	if (p == s || n == 0)
		return -1;
	int64_t mul = *p ? 0 : 1;
	for (size_t i = 0; *p && i < sizeof units / sizeof units[0]; i++)
		if (*p == units[i].unit && p[1] == '\0')
			mul = units[i].mul;
	if (mul == 0 || n > CAPF_EXPIRES_MAX_S / mul)
		return -1;
	*seconds = n * mul;
	return 0;
}

void capf_generate(char out[CAPF_GENERATED_LEN + 1])
{
	static const char alphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
	for (int i = 0; i < CAPF_GENERATED_LEN; i++)
		out[i] = alphabet[randombytes_uniform(32)];
	out[CAPF_GENERATED_LEN] = '\0';
}

/* Reads exactly CAPF_KEY_BYTES from path: 0, -errno, or -EINVAL for another size. */
static int key_read(const char *path, unsigned char key[CAPF_KEY_BYTES])
{
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	if (fd < 0)
		return -errno;
	unsigned char buf[CAPF_KEY_BYTES + 1];
	ssize_t n = read(fd, buf, sizeof buf);
	int e = n < 0 ? -errno : n == CAPF_KEY_BYTES ? 0 : -EINVAL;
	close(fd);
	if (e == 0)
		memcpy(key, buf, CAPF_KEY_BYTES);
	sodium_memzero(buf, sizeof buf);
	return e;
}

/* Writes a new random key to a temporary file and links it to path: link() fails with
 * EEXIST when another caller was first, whose key then wins. 0 or -errno. */
static int key_make(const char *path)
{
	char tmp[1100];
	if (snprintf(tmp, sizeof tmp, "%s.XXXXXX", path) >= (int)sizeof tmp)
		return -ENAMETOOLONG;
	int fd = mkstemp(tmp); /* 0600 */
	if (fd < 0)
		return -errno;
	unsigned char key[CAPF_KEY_BYTES];
	randombytes_buf(key, sizeof key);
	int e = write(fd, key, sizeof key) == (ssize_t)sizeof key && fsync(fd) == 0 ? 0 : -EIO;
	sodium_memzero(key, sizeof key);
	close(fd);
	if (e == 0 && link(tmp, path) != 0 && errno != EEXIST)
		e = -errno;
	unlink(tmp);
	return e;
}

int capf_key_load(const char *pki_dir, unsigned char key[CAPF_KEY_BYTES], char *err, size_t errlen)
{
	char path[1024];
	if (snprintf(path, sizeof path, "%s/%s", pki_dir, CAPF_KEY_FILE) >= (int)sizeof path) {
		snprintf(err, errlen, "pki.dir is too long");
		return -1;
	}
	int e = key_read(path, key);
	if (e == -ENOENT) {
		e = key_make(path);
		if (e == 0)
			e = key_read(path, key);
	}
	if (e == 0)
		return 0;
	snprintf(err, errlen, "capf key %s: %s", path,
	         e == -EINVAL ? "not 32 bytes (remove it to make a new one; pending generated "
	                        "strings must then be re-armed)"
	                      : strerror(-e));
	return -1;
}

/* HMAC-SHA-256 over a label, the instance id and the string, NUL-separated: the label
 * keeps this key's outputs apart from any other use, the id keeps one profile's hash
 * from being copied to another. */
static void capf_hmac(const unsigned char key[CAPF_KEY_BYTES], const char *instanceid,
                      const char *s, size_t len, unsigned char mac[crypto_auth_hmacsha256_BYTES])
{
	static const char label[] = "telgate capf v1";
	crypto_auth_hmacsha256_state h;
	crypto_auth_hmacsha256_init(&h, key, CAPF_KEY_BYTES);
	crypto_auth_hmacsha256_update(&h, (const unsigned char *)label, sizeof label);
	crypto_auth_hmacsha256_update(&h, (const unsigned char *)instanceid,
	                              strlen(instanceid) + 1);
	crypto_auth_hmacsha256_update(&h, (const unsigned char *)s, len);
	crypto_auth_hmacsha256_final(&h, mac);
	sodium_memzero(&h, sizeof h);
}

int capf_secret_make(const unsigned char *key, const struct dir_passwd_params *pw,
                     const char *instanceid, const char *s, size_t len, int generated,
                     struct capf_secret *out)
{
	memset(out, 0, sizeof *out);
	if (generated) {
		unsigned char mac[crypto_auth_hmacsha256_BYTES];
		capf_hmac(key, instanceid, s, len, mac);
		sodium_bin2hex(out->hash, sizeof out->hash, mac, sizeof mac);
		tg_strlcpy(out->kind, "hmac", sizeof out->kind);
		return 0;
	}
	_Static_assert(DIR_PASSWD_HASH_MAX <= sizeof out->hash, "argon2id string fits");
	if (dir_passwd_hash(pw, s, len, out->hash) != 0)
		return -1;
	tg_strlcpy(out->kind, "argon2id", sizeof out->kind);
	return 0;
}

enum capf_match capf_verify(const unsigned char key[CAPF_KEY_BYTES],
                            const struct store_capfprofile *p, const char *s, size_t len)
{
	if (strcmp(p->authmode, "none") == 0)
		return CAPF_MATCH;
	if (strcmp(p->authmode, "string") != 0)
		return CAPF_NO_MATCH;
	if (strcmp(p->secretkind, "argon2id") == 0)
		return dir_passwd_verify(p->secrethash, s, len) ? CAPF_MATCH : CAPF_NO_MATCH;
	if (strcmp(p->secretkind, "hmac") != 0)
		return CAPF_NO_MATCH;
	unsigned char want[crypto_auth_hmacsha256_BYTES], got[crypto_auth_hmacsha256_BYTES];
	size_t n = 0;
	if (strlen(p->secrethash) != 2 * sizeof want ||
	    sodium_hex2bin(want, sizeof want, p->secrethash, 2 * sizeof want, NULL, &n, NULL) !=
	        0 ||
	    n != sizeof want)
		return CAPF_NO_MATCH;
	capf_hmac(key, p->instanceid, s, len, got);
	/* Constant time: how much of a guess was right must not show in the time taken. */
	int eq = sodium_memcmp(want, got, sizeof want) == 0;
	sodium_memzero(got, sizeof got);
	return eq ? CAPF_MATCH : CAPF_NO_MATCH;
}
