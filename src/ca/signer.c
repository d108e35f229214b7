/* SPDX-License-Identifier: ISC */
/* The public functions of ca/signer.h: each builds the one request the signer process would
 * receive and hands it to the handle's implementation (local or remote). */
#include "ca/signer_core.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

static int call(struct signer *s, uint8_t op, enum signer_key k, const char *digest,
                const unsigned char *payload, size_t len, unsigned char **out, size_t *outlen)
{
	struct signer_req rq = {.op = op, .key = (uint16_t)k, .payload = payload, .len = len};
	*out = NULL;
	*outlen = 0;
	if (!s)
		return -EAGAIN;
	if (digest && strlen(digest) > SIGNER_DIGEST_MAX)
		return -EINVAL;
	if (digest)
		memcpy(rq.digest, digest, strlen(digest) + 1);
	if (len > SIGNER_DATA_MAX)
		return -EINVAL;
	return s->ops->call(s, &rq, out, outlen);
}

int signer_certificate(struct signer *s, enum signer_key k, unsigned char **der, size_t *len)
{
	return call(s, SIGNER_OP_CERTIFICATE, k, NULL, NULL, 0, der, len);
}

int signer_sign_cert(struct signer *s, const unsigned char *tmpl, size_t len, unsigned char **out,
                     size_t *outlen)
{
	return call(s, SIGNER_OP_SIGN_CERT, SIGNER_KEY_CA, NULL, tmpl, len, out, outlen);
}

int signer_sign_crl(struct signer *s, const unsigned char *tmpl, size_t len, unsigned char **out,
                    size_t *outlen)
{
	return call(s, SIGNER_OP_SIGN_CRL, SIGNER_KEY_CA, NULL, tmpl, len, out, outlen);
}

int signer_sign_bytes(struct signer *s, enum signer_key k, const char *digest,
                      const unsigned char *data, size_t len, unsigned char **sig, size_t *siglen)
{
	return call(s, SIGNER_OP_SIGN_BYTES, k, digest ? digest : "", data, len, sig, siglen);
}

int signer_token_keygen(struct signer *s, const char *alg, unsigned char **spki, size_t *len)
{
	return call(s, SIGNER_OP_TOKEN_KEYGEN, SIGNER_KEY_TOKEN, "", (const unsigned char *)alg,
	            strlen(alg), spki, len);
}

int signer_sign_token(struct signer *s, const char *kid, const char *input, size_t len,
                      unsigned char **sig, size_t *siglen)
{
	size_t kl = strlen(kid);
	if (kl != SIGNER_KID_LEN || len > SIGNER_DATA_MAX - kl)
		return -EINVAL;
	unsigned char *p = malloc(kl + len);
	if (!p)
		return -ENOMEM;
	memcpy(p, kid, kl);
	memcpy(p + kl, input, len);
	int rc = call(s, SIGNER_OP_SIGN_TOKEN, SIGNER_KEY_TOKEN, "", p, kl + len, sig, siglen);
	free(p);
	return rc;
}

void signer_stats(struct signer *s, struct signer_stats *st)
{
	memset(st, 0, sizeof *st);
	if (s)
		s->ops->stats(s, st);
}

void signer_free(struct signer *s)
{
	if (s)
		s->ops->free(s);
}
