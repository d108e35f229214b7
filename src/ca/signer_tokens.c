/* SPDX-License-Identifier: ISC */
/* The OAuth token keys in the signer (issue 18): made here, kept as pki.dir/tokens/<kid>.key
 * and used only to sign access tokens (ca/signer_core.h says the policy). The files are
 * written through a directory descriptor opened before the signer's seccomp filter: the
 * filter lets openat/renameat/unlinkat through for that descriptor only (signer_proc.c),
 * so a new key survives a signer restart without the signer gaining the file system. */
#include "authz/jwk.h"
#include "authz/jws.h"
#include "authz/token.h"
#include "ca/signer_core.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* Adds k (taken) under t->mu; -EEXIST when its kid is there, -ENOSPC when full. */
static int add_locked(struct signer_tokens *t, EVP_PKEY *k, const char *kid)
{
	for (size_t i = 0; i < t->n; i++)
		if (strcmp(t->k[i].kid, kid) == 0)
			return -EEXIST;
	if (t->n == SIGNER_TOKEN_KEYS_MAX)
		return -ENOSPC;
	struct signer_token_key *e = &t->k[t->n];
	memcpy(e->kid, kid, AUTHZ_KID_LEN + 1);
	e->alg = jws_alg_of_key(k);
	long hl = jws_at_header_b64((enum jws_alg)e->alg, kid, e->header, sizeof e->header);
	if (hl < 0)
		return -EINVAL;
	e->header_len = (size_t)hl;
	e->key = k;
	t->n++;
	return 0;
}

/* Reads one <kid>.key through the directory; the name must be the key's thumbprint. */
static void load_file(struct signer_tokens *t, const char *name)
{
	size_t n = strlen(name);
	if (n != AUTHZ_KID_LEN + 4 || strcmp(name + AUTHZ_KID_LEN, ".key") != 0 ||
	    !authz_kid_ok(name, AUTHZ_KID_LEN))
		return;
	int fd = openat(t->dirfd, name, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	FILE *f = fd >= 0 ? fdopen(fd, "r") : NULL;
	if (!f) {
		if (fd >= 0)
			close(fd);
		return;
	}
	EVP_PKEY *k = PEM_read_PrivateKey(f, NULL, NULL, NULL);
	fclose(f);
	char kid[AUTHZ_KID_LEN + 1];
	if (!k || jws_alg_of_key(k) == JWS_ALG_UNKNOWN || authz_jwk_thumbprint(k, kid) != 0 ||
	    memcmp(kid, name, AUTHZ_KID_LEN) != 0 || add_locked(t, k, kid) != 0)
		EVP_PKEY_free(k);
	ERR_clear_error();
}

void signer_tokens_reload(struct signer_tokens *t)
{
	if (!t || t->dirfd < 0)
		return;
	int fd = dup(t->dirfd);
	DIR *d = fd >= 0 ? fdopendir(fd) : NULL;
	if (!d) {
		if (fd >= 0)
			close(fd);
		return;
	}
	rewinddir(d);
	pthread_mutex_lock(&t->mu);
	struct dirent *e;
	while ((e = readdir(d)))
		load_file(t, e->d_name);
	pthread_mutex_unlock(&t->mu);
	closedir(d);
}

int signer_tokens_open(struct signer_tokens **out, const char *pki_dir, char *err, size_t errlen)
{
	struct signer_tokens *t = calloc(1, sizeof *t);
	if (!t) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	pthread_mutex_init(&t->mu, NULL);
	char path[4200];
	snprintf(path, sizeof path, "%s/tokens", pki_dir);
	if (mkdir(path, 0700) != 0 && errno != EEXIST) {
		snprintf(err, errlen, "cannot make %s: %s", path, strerror(errno));
		signer_tokens_free(t);
		return -1;
	}
	t->dirfd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW);
	if (t->dirfd < 0) {
		snprintf(err, errlen, "cannot open %s: %s", path, strerror(errno));
		signer_tokens_free(t);
		return -1;
	}
	signer_tokens_reload(t);
	*out = t;
	return 0;
}

void signer_tokens_free(struct signer_tokens *t)
{
	if (!t)
		return;
	for (size_t i = 0; i < t->n; i++)
		EVP_PKEY_free(t->k[i].key);
	if (t->dirfd >= 0)
		close(t->dirfd);
	pthread_mutex_destroy(&t->mu);
	free(t);
}

static EVP_PKEY *generate(enum jws_alg a)
{
	switch (a) {
	case JWS_ES256:
		return EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
	case JWS_RS256:
		return EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)2048);
	case JWS_EDDSA:
		return EVP_PKEY_Q_keygen(NULL, NULL, "ED25519");
	default:
		return NULL;
	}
}

/* Writes the key's PEM as <kid>.key: a temporary name, fsync, then the rename. */
static int store_key(struct signer_tokens *t, EVP_PKEY *k, const char *kid)
{
	BIO *b = BIO_new(BIO_s_mem());
	char *pem = NULL;
	long n = 0;
	if (!b || PEM_write_bio_PrivateKey(b, k, NULL, NULL, 0, NULL, NULL) != 1 ||
	    (n = BIO_get_mem_data(b, &pem)) <= 0) {
		BIO_free(b);
		return -EIO;
	}
	char tmp[AUTHZ_KID_LEN + 16], final[AUTHZ_KID_LEN + 8];
	snprintf(tmp, sizeof tmp, ".%s.tmp", kid);
	snprintf(final, sizeof final, "%s.key", kid);
	int rc = -EIO;
	int fd = openat(t->dirfd, tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (fd >= 0) {
		long off = 0;
		while (off < n) {
			ssize_t w = write(fd, pem + off, (size_t)(n - off));
			if (w <= 0 && errno != EINTR)
				break;
			off += w > 0 ? w : 0;
		}
		if (off == n && fsync(fd) == 0 && close(fd) == 0) {
			fd = -1;
			rc = renameat(t->dirfd, tmp, t->dirfd, final) == 0 ? 0 : -EIO;
		}
		if (fd >= 0)
			close(fd);
		if (rc != 0)
			unlinkat(t->dirfd, tmp, 0);
	}
	BIO_free(b); /* BIO_s_mem frees its buffer (the PEM) with it */
	return rc;
}

int signer_tokens_keygen(struct signer_tokens *t, const unsigned char *alg, size_t len,
                         unsigned char **out, size_t *outlen)
{
	char name[8];
	if (!t || t->dirfd < 0)
		return -ENOENT;
	if (len == 0 || len >= sizeof name)
		return -EINVAL;
	memcpy(name, alg, len);
	name[len] = '\0';
	enum jws_alg a = jws_alg_parse(name);
	if (a == JWS_ALG_UNKNOWN)
		return -EINVAL;
	EVP_PKEY *k = generate(a);
	char kid[AUTHZ_KID_LEN + 1];
	int rc = k ? authz_jwk_thumbprint(k, kid) : -EIO;
	if (rc == 0)
		rc = authz_spki_encode(k, out, outlen);
	if (rc == 0) {
		pthread_mutex_lock(&t->mu);
		rc = t->n == SIGNER_TOKEN_KEYS_MAX ? -ENOSPC : store_key(t, k, kid);
		if (rc == 0)
			rc = add_locked(t, k, kid);
		pthread_mutex_unlock(&t->mu);
		if (rc != 0) {
			free(*out);
			*out = NULL;
			*outlen = 0;
		}
	}
	if (rc != 0)
		EVP_PKEY_free(k);
	ERR_clear_error();
	return rc;
}

/* 1 when the header of the signing input names this key, its algorithm and typ at+jwt and the
 * payload is a JSON object: only access tokens are signed. The header the engine writes is
 * known by its bytes (e's header: jws_at_header_b64, as authz_token_prepare makes it, so
 * not decoded and parsed per token); any other spelling is parsed and checked. */
static int token_input_ok(const char *in, size_t n, const struct signer_token_key *e)
{
	const char *dot = memchr(in, '.', n);
	if (!dot || memchr(dot + 1, '.', n - (size_t)(dot + 1 - in)))
		return 0;
	size_t hn = (size_t)(dot - in);
	int known = hn == e->header_len && memcmp(in, e->header, hn) == 0;
	json_t *h = known ? NULL : jws_json_part(in, hn, AUTHZ_TOKEN_MAX);
	json_t *p =
	    known || h ? jws_json_part(dot + 1, n - (size_t)(dot + 1 - in), AUTHZ_TOKEN_MAX) : NULL;
	const char *hk = json_string_value(json_object_get(h, "kid"));
	const char *ha = json_string_value(json_object_get(h, "alg"));
	const char *ht = json_string_value(json_object_get(h, "typ"));
	int ok = p && (known ||
	               (hk && ha && ht && strcmp(hk, e->kid) == 0 &&
	                jws_alg_parse(ha) == (enum jws_alg)e->alg && strcmp(ht, "at+jwt") == 0));
	json_decref(h);
	json_decref(p);
	return ok;
}

int signer_tokens_sign(struct signer_tokens *t, const unsigned char *p, size_t len,
                       unsigned char **out, size_t *outlen)
{
	if (!t)
		return -ENOENT;
	if (len <= AUTHZ_KID_LEN || len - AUTHZ_KID_LEN > AUTHZ_TOKEN_MAX ||
	    !authz_kid_ok((const char *)p, AUTHZ_KID_LEN))
		return -EINVAL;
	struct signer_token_key e = {.key = NULL};
	pthread_mutex_lock(&t->mu);
	for (size_t i = 0; i < t->n && !e.key; i++)
		if (memcmp(t->k[i].kid, p, AUTHZ_KID_LEN) == 0 && EVP_PKEY_up_ref(t->k[i].key) == 1)
			e = t->k[i]; /* its key referenced: used after the lock */
	pthread_mutex_unlock(&t->mu);
	EVP_PKEY *k = e.key;
	if (!k)
		return -ENOENT;
	enum jws_alg a = (enum jws_alg)e.alg;
	const char *in = (const char *)p + AUTHZ_KID_LEN;
	size_t n = len - AUTHZ_KID_LEN;
	int rc = -EINVAL;
	unsigned char *sig = NULL;
	if (token_input_ok(in, n, &e)) {
		sig = malloc(JWS_SIG_MAX);
		rc = sig ? jws_sign(k, a, (const unsigned char *)in, n, sig, JWS_SIG_MAX, outlen)
		         : -ENOMEM;
	}
	EVP_PKEY_free(k);
	if (rc == 0)
		*out = sig;
	else
		free(sig);
	return rc;
}
