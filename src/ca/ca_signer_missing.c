/* SPDX-License-Identifier: ISC */
/*
 * TEMPORARY (branch h-ca only; drop when main has the signer): the signer's functions
 * (ca/signer.h) for a build that does not have its implementation yet, so that telgated and
 * the CLI link. There is no signer: every request fails with -EAGAIN ("the signer is not
 * running"), which is what the CA's callers must handle anyway while the signer restarts.
 */
#include "ca/signer.h"

#include <errno.h>
#include <stdio.h>

int signer_certificate(struct signer *s, enum signer_key k, unsigned char **der, size_t *len)
{
	(void)s, (void)k, (void)der, (void)len;
	return -EAGAIN;
}

int signer_sign_cert(struct signer *s, const unsigned char *tmpl, size_t len, unsigned char **out,
                     size_t *outlen)
{
	(void)s, (void)tmpl, (void)len, (void)out, (void)outlen;
	return -EAGAIN;
}

int signer_sign_crl(struct signer *s, const unsigned char *tmpl, size_t len, unsigned char **out,
                    size_t *outlen)
{
	(void)s, (void)tmpl, (void)len, (void)out, (void)outlen;
	return -EAGAIN;
}

int signer_sign_bytes(struct signer *s, enum signer_key k, const char *digest,
                      const unsigned char *data, size_t len, unsigned char **sig, size_t *siglen)
{
	(void)s, (void)k, (void)digest, (void)data, (void)len, (void)sig, (void)siglen;
	return -EAGAIN;
}

struct signer *signer_local_new(const char *pki_dir, char *err, size_t errlen)
{
	(void)pki_dir;
	snprintf(err, errlen, "this build has no signer");
	return NULL;
}

struct signer *signer_remote_new(int fd, char *err, size_t errlen)
{
	(void)fd;
	snprintf(err, errlen, "this build has no signer");
	return NULL;
}

void signer_free(struct signer *s)
{
	(void)s;
}
