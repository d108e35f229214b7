/* SPDX-License-Identifier: ISC */
#include "dir/passwd.h"

#include <sodium.h>
#include <string.h>

int dir_passwd_init(void)
{
	return sodium_init() < 0 ? -1 : 0;
}

int dir_passwd_hash(const struct dir_passwd_params *p, const char *password, size_t len,
                    char out[DIR_PASSWD_HASH_MAX])
{
	_Static_assert(DIR_PASSWD_HASH_MAX >= crypto_pwhash_STRBYTES, "hash buffer");
	unsigned long long ops = p->t;
	size_t mem = (size_t)p->m_kib * 1024;
	if (ops < crypto_pwhash_OPSLIMIT_MIN || mem < crypto_pwhash_MEMLIMIT_MIN)
		return -1;
	return crypto_pwhash_str_alg(out, password, len, ops, mem, crypto_pwhash_ALG_ARGON2ID13);
}

int dir_passwd_verify(const char *hash, const char *password, size_t len)
{
	return crypto_pwhash_str_verify(hash, password, len) == 0;
}

int dir_passwd_is_hash(const char *s)
{
	static const char prefix[] = "$argon2id$v=19$m=";
	size_t n = strlen(s);
	return n < crypto_pwhash_STRBYTES && strncmp(s, prefix, sizeof prefix - 1) == 0 &&
	       strstr(s, ",t=") && strstr(s, ",p=");
}
