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
	uint64_t t0 = metrics_now_ns();
	int rc = s->ops->call(s, &rq, out, outlen);
	metrics_histogram_observe_ns(&s->latency, metrics_now_ns() - t0);
	return rc;
}

void signer_base_init(struct signer *s, const struct signer_ops *ops)
{
	s->ops = ops;
	metrics_histogram_init(&s->latency, metrics_latency_bounds, metrics_latency_nbounds);
}

const struct metrics_histogram *signer_latency(struct signer *s)
{
	return s ? &s->latency : NULL;
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

/* A token request's payload: kid then the signing input (malloc'ed into *p). */
static int token_payload(const char *kid, const char *input, size_t len, unsigned char **p,
                         size_t *plen)
{
	size_t kl = strlen(kid);
	*p = NULL;
	if (kl != SIGNER_KID_LEN || len > SIGNER_DATA_MAX - kl)
		return -EINVAL;
	if (!(*p = malloc(kl + len)))
		return -ENOMEM;
	memcpy(*p, kid, kl);
	memcpy(*p + kl, input, len);
	*plen = kl + len;
	return 0;
}

int signer_sign_token(struct signer *s, const char *kid, const char *input, size_t len,
                      unsigned char **sig, size_t *siglen)
{
	unsigned char *p;
	size_t pl = 0;
	int rc = token_payload(kid, input, len, &p, &pl);
	if (rc == 0)
		rc = call(s, SIGNER_OP_SIGN_TOKEN, SIGNER_KEY_TOKEN, "", p, pl, sig, siglen);
	free(p);
	return rc;
}

void signer_sign_tokens_start(struct signer *s, struct signer_token_sign *const *v, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		struct signer_token_sign *t = v[i];
		t->rc = 0;
		t->sig = NULL;
		t->siglen = 0;
		t->ticket = NULL;
		t->t0 = metrics_now_ns();
		if (!s || !s->ops->send)
			continue; /* signed one by one in _finish */
		unsigned char *p;
		size_t pl = 0;
		t->rc = token_payload(t->kid, t->input, t->len, &p, &pl);
		if (t->rc != 0)
			continue;
		struct signer_req rq = {
		    .op = SIGNER_OP_SIGN_TOKEN, .key = SIGNER_KEY_TOKEN, .payload = p, .len = pl};
		t->rc = s->ops->send(s, &rq, &t->ticket);
		free(p);
	}
}

void signer_sign_tokens_finish(struct signer *s, struct signer_token_sign *const *v, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		struct signer_token_sign *t = v[i];
		if (!s)
			t->rc = -EAGAIN;
		else if (!s->ops->send)
			t->rc = signer_sign_token(s, t->kid, t->input, t->len, &t->sig, &t->siglen);
		else if (t->ticket)
			t->rc = s->ops->wait(s, t->ticket, &t->sig, &t->siglen);
		t->ticket = NULL;
		if (s && s->ops->send)
			metrics_histogram_observe_ns(&s->latency, metrics_now_ns() - t->t0);
	}
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
