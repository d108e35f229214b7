/* SPDX-License-Identifier: ISC */
/*
 * trustlist_verify: what a client decides about a trust list it fetched (trustlist.h):
 * the signature checked with the SAST certificate the header names, that certificate
 * trusted by a pin or by the list held before, and the sequence not going back.
 * Decide in one place, return an outcome; the caller words it (tl_verdict_str).
 */
#include "ca/trustlist.h"

#include <errno.h>
#include <openssl/evp.h>
#include <openssl/crypto.h>
#include <openssl/x509.h>
#include <string.h>

const char *tl_verdict_str(enum tl_verdict v)
{
	switch (v) {
	case TL_OK:
		return "trust list verified";
	case TL_BAD_FORMAT:
		return "not a trust list (malformed)";
	case TL_NO_SIGNER:
		return "the signer named in the header is not a SAST record of the list";
	case TL_BAD_SIGNATURE:
		return "the signature does not verify";
	case TL_UNTRUSTED:
		return "the signer is neither pinned nor a SAST of the trusted list";
	case TL_OLDER:
		return "the list is older than the one held";
	}
	return "?";
}

static int same(const struct tl_bytes *a, const struct tl_bytes *b)
{
	return a->p && b->p && a->len == b->len && memcmp(a->p, b->p, a->len) == 0;
}

int tl_signature_check(const unsigned char *buf, size_t len, const struct tl_header *h,
                       const unsigned char *cert, size_t cert_len)
{
	const char *mdname = tl_hash_name((enum tl_hash)h->hash);
	const unsigned char *p = cert;
	size_t sig_end = h->sig_off + 3 + h->signature.len;
	if (!mdname || !h->signature.p || sig_end > len || cert_len > TL_FILE_MAX)
		return -EINVAL;
	X509 *x = d2i_X509(NULL, &p, (long)cert_len);
	EVP_PKEY *k = x ? X509_get0_pubkey(x) : NULL;
	if (!k || EVP_PKEY_get_base_id(k) != EVP_PKEY_RSA) {
		X509_free(x);
		return -EINVAL;
	}
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();
	int ok = ctx && EVP_DigestVerifyInit_ex(ctx, NULL, mdname, NULL, NULL, k, NULL) == 1 &&
	         EVP_DigestVerifyUpdate(ctx, buf, h->sig_off) == 1 &&
	         EVP_DigestVerifyUpdate(ctx, buf + sig_end, len - sig_end) == 1 &&
	         EVP_DigestVerifyFinal(ctx, h->signature.p, h->signature.len) == 1;
	EVP_MD_CTX_free(ctx);
	X509_free(x);
	return ok ? 0 : -EBADMSG;
}

/* The SAST record whose serial (and issuer, when the header names one) is the header's. */
static int find_signer(const struct tl_list *l, size_t *at)
{
	for (size_t i = 0; i < l->n; i++) {
		const struct tl_record *r = &l->rec[i];
		if (r->role == TL_ROLE_SAST && same(&r->serial, &l->h.serial) &&
		    (!l->h.issuer.p || same(&r->issuer, &l->h.issuer))) {
			*at = i;
			return 0;
		}
	}
	return -ENOENT;
}

static int trusted(const struct tl_record *s, const struct tl_trust *t)
{
	if (t && t->pin) {
		unsigned char md[32];
		unsigned mdlen = 0;
		if (EVP_Digest(s->cert.p, s->cert.len, md, &mdlen, EVP_sha256(), NULL) == 1 &&
		    mdlen == 32 && CRYPTO_memcmp(md, t->pin, 32) == 0)
			return 1;
	}
	if (t && t->prev)
		for (size_t i = 0; i < t->prev->n; i++)
			if (t->prev->rec[i].role == TL_ROLE_SAST &&
			    same(&t->prev->rec[i].cert, &s->cert))
				return 1;
	return 0;
}

enum tl_verdict tl_verify(const unsigned char *buf, size_t len, const struct tl_trust *t,
                          struct tl_list *l, size_t *signer)
{
	size_t at;
	if (tl_parse(buf, len, l) != 0)
		return TL_BAD_FORMAT;
	if (find_signer(l, &at) != 0)
		return TL_NO_SIGNER;
	const struct tl_record *s = &l->rec[at];
	if (tl_signature_check(buf, len, &l->h, s->cert.p, s->cert.len) != 0)
		return TL_BAD_SIGNATURE;
	if (!trusted(s, t))
		return TL_UNTRUSTED;
	if (t && t->prev && l->h.timestamp < t->prev->h.timestamp)
		return TL_OLDER;
	if (signer)
		*signer = at;
	return TL_OK;
}
