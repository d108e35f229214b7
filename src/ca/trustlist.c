/* SPDX-License-Identifier: ISC */
/*
 * trustlist: building a trust list or a signed file's header (trustlist.h). The tags and
 * values are in tl_wire.h; docs/trust-list.md shows a whole file byte by byte.
 *
 * The header is written with its length and the signature's place left open: the length
 * field counts the signature TLV (3 + modulus bytes), which the signer adds afterwards,
 * so the signature's length is taken from the signer certificate's key before anything
 * is signed. Fields above the format's 16-bit lengths are refused, not cut.
 */
#include "ca/trustlist.h"

#include "ca/tl_wire.h"

#include <errno.h>
#include <openssl/bn.h>
#include <openssl/evp.h>
#include <openssl/x509.h>
#include <stdlib.h>
#include <string.h>

/* A growing byte buffer whose failure is checked once at the end (as tg_sbuf). */
struct wbuf {
	unsigned char *p;
	size_t len, cap;
	int err; /* 0, or the first -errno */
};

static void put(struct wbuf *b, const void *d, size_t n)
{
	if (b->err)
		return;
	if (n > TL_FILE_MAX - b->len) {
		b->err = -EMSGSIZE;
		return;
	}
	if (b->len + n > b->cap) {
		size_t cap = b->cap ? b->cap : 4096;
		while (cap < b->len + n)
			cap *= 2;
		unsigned char *p = realloc(b->p, cap);
		if (!p) {
			b->err = -ENOMEM;
			return;
		}
		b->p = p;
		b->cap = cap;
	}
	if (n)
		memcpy(b->p + b->len, d, n);
	b->len += n;
}

static void put_u8(struct wbuf *b, unsigned v)
{
	unsigned char c = (unsigned char)v;
	put(b, &c, 1);
}

static void put_u16(struct wbuf *b, size_t v)
{
	if (v > 0xffff && !b->err)
		b->err = -E2BIG;
	unsigned char c[2] = {(unsigned char)(v >> 8), (unsigned char)v};
	put(b, c, 2);
}

static void put_u32(struct wbuf *b, uint32_t v)
{
	unsigned char c[4] = {(unsigned char)(v >> 24), (unsigned char)(v >> 16),
	                      (unsigned char)(v >> 8), (unsigned char)v};
	put(b, c, 4);
}

static void put_tlv(struct wbuf *b, unsigned tag, const void *d, size_t n)
{
	put_u8(b, tag);
	put_u16(b, n);
	put(b, d, n);
}

/* Overwrites the 16-bit value at off (a length written earlier as 0). */
static void patch_u16(struct wbuf *b, size_t off, size_t v)
{
	if (b->err)
		return;
	if (v > 0xffff) {
		b->err = -E2BIG;
		return;
	}
	b->p[off] = (unsigned char)(v >> 8);
	b->p[off + 1] = (unsigned char)v;
}

const char *tl_hash_name(enum tl_hash h)
{
	switch (h) {
	case TL_HASH_SHA1:
		return "SHA1";
	case TL_HASH_SHA256:
		return "SHA256";
	case TL_HASH_SHA512:
		return "SHA512";
	}
	return NULL;
}

const char *tl_role_name(unsigned role)
{
	static const struct {
		unsigned role;
		const char *name;
	} names[] = {
	    {TL_ROLE_SAST, "SAST"}, {TL_ROLE_CCM, "CCM"},   {TL_ROLE_CCM_TFTP, "CCM+TFTP"},
	    {TL_ROLE_TFTP, "TFTP"}, {TL_ROLE_CAPF, "CAPF"}, {TL_ROLE_APP_SERVER, "APP-SERVER"},
	    {TL_ROLE_TVS, "TVS"},
	};
	for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
		if (names[i].role == role)
			return names[i].name;
	return NULL;
}

/* A name as text with its NUL, as the format carries it: the attributes in certificate
 * order, RFC 4514 escaping, separated by ','. */
static void put_name(struct wbuf *b, unsigned tag, const X509_NAME *n)
{
	BIO *bio = BIO_new(BIO_s_mem());
	if (!bio ||
	    X509_NAME_print_ex(bio, n, 0,
	                       ASN1_STRFLGS_RFC2253 | XN_FLAG_SEP_COMMA_PLUS | XN_FLAG_FN_SN) < 0) {
		BIO_free(bio);
		if (!b->err)
			b->err = -ENOMEM;
		return;
	}
	char *text;
	long len = BIO_get_mem_data(bio, &text);
	put_u8(b, tag);
	put_u16(b, (size_t)len + 1);
	put(b, text, (size_t)len);
	put_u8(b, 0);
	BIO_free(bio);
}

/* The serial as its magnitude in big-endian bytes, no leading zero (0 is one byte). */
static void put_serial(struct wbuf *b, unsigned tag, const X509 *x)
{
	BIGNUM *bn = ASN1_INTEGER_to_BN(X509_get0_serialNumber(x), NULL);
	unsigned char buf[64];
	int n = bn ? BN_num_bytes(bn) : -1;
	if (n < 0 || n > (int)sizeof buf) {
		BN_free(bn);
		if (!b->err)
			b->err = -EINVAL;
		return;
	}
	if (n == 0)
		buf[n++] = 0;
	else
		BN_bn2bin(bn, buf);
	BN_free(bn);
	put_tlv(b, tag, buf, (size_t)n);
}

/* RSA: the PKCS#1 RSAPublicKey (DER); EC: the uncompressed point. */
static void put_public_key(struct wbuf *b, X509 *x)
{
	EVP_PKEY *k = X509_get0_pubkey(x);
	unsigned char *der = NULL;
	int n = k ? i2d_PublicKey(k, &der) : -1;
	if (n <= 0) {
		if (!b->err)
			b->err = -EINVAL;
		return;
	}
	put_tlv(b, TL_REC_PUBLIC_KEY, der, (size_t)n);
	OPENSSL_free(der);
}

static void put_record(struct wbuf *b, const struct tl_entry *e, X509 *x)
{
	size_t start = b->len;
	put_u8(b, TL_REC_LENGTH);
	put_u16(b, 2);
	put_u16(b, 0); /* the record's length, patched below */
	if (e->dns_name)
		put_tlv(b, TL_REC_DNS_NAME, e->dns_name, strlen(e->dns_name) + 1);
	put_name(b, TL_REC_SUBJECT_NAME, X509_get_subject_name(x));
	put_u8(b, TL_REC_ROLE);
	put_u16(b, 2);
	put_u16(b, e->role);
	put_name(b, TL_REC_ISSUER_NAME, X509_get_issuer_name(x));
	put_serial(b, TL_REC_SERIAL_NUMBER, x);
	put_public_key(b, x);
	const ASN1_BIT_STRING *sig;
	X509_get0_signature(&sig, NULL, x);
	put_tlv(b, TL_REC_SIGNATURE, ASN1_STRING_get0_data(sig), (size_t)ASN1_STRING_length(sig));
	put_tlv(b, TL_REC_CERTIFICATE, e->der, e->len);
	patch_u16(b, start + 3, b->len - start);
}

static X509 *der_cert(const unsigned char *der, size_t len)
{
	const unsigned char *p = der;
	if (!der || len == 0 || len > TL_FILE_MAX)
		return NULL;
	X509 *x = d2i_X509(NULL, &p, (long)len);
	if (x && p != der + len) {
		X509_free(x);
		return NULL;
	}
	return x;
}

/* The modulus code of a signature length in bytes (docs/trust-list.md: 3072-bit keys
 * have no code in the public sources; telgate writes 4 for them). */
static int modulus_code(size_t sig_len)
{
	switch (sig_len) {
	case 64:
		return 0;
	case 128:
		return 1;
	case 256:
		return 2;
	case 512:
		return 3;
	case 384:
		return 4;
	}
	return -1;
}

/* The header, from the signer certificate; out gets where the signature goes. */
static int put_header(struct wbuf *b, const unsigned char *signer_der, size_t signer_len,
                      enum tl_hash h, uint32_t timestamp, const char *filename, int list,
                      struct tl_tbs *out)
{
	if (!tl_hash_name(h) || !filename || strlen(filename) > 255)
		return -EINVAL;
	X509 *x = der_cert(signer_der, signer_len);
	if (!x)
		return -EINVAL;
	EVP_PKEY *k = X509_get0_pubkey(x);
	int code = -1;
	size_t sig_len = 0;
	if (k && EVP_PKEY_get_base_id(k) == EVP_PKEY_RSA) {
		sig_len = (size_t)EVP_PKEY_get_size(k);
		code = modulus_code(sig_len);
	}
	if (code < 0) {
		X509_free(x);
		return -EINVAL; /* the format signs with RSA of a listed size only */
	}
	put_u8(b, TL_HDR_VERSION);
	put_u16(b, 2);
	put_u8(b, TL_FORMAT_MAJOR);
	put_u8(b, TL_FORMAT_MINOR);
	size_t length_at = b->len + 3;
	put_u8(b, TL_HDR_LENGTH);
	put_u16(b, 2);
	put_u16(b, 0); /* patched below */
	if (list) {    /* trust lists only: .sgn readers do not know the tag */
		put_u8(b, TL_HDR_SIGNER_VERSION);
		put_u16(b, 2);
		put_u8(b, 1);
		put_u8(b, 0);
	}
	/* The signer's identity: a container TLV whose length covers its three fields. */
	size_t info_at = b->len;
	put_u8(b, TL_HDR_SIGNER_INFO);
	put_u16(b, 0);
	put_name(b, TL_HDR_SIGNER_NAME, X509_get_subject_name(x));
	put_serial(b, TL_HDR_SERIAL_NUMBER, x);
	put_name(b, TL_HDR_ISSUER_NAME, X509_get_issuer_name(x));
	patch_u16(b, info_at + 1, b->len - info_at - 3);
	X509_free(x);
	/* Signature info (container of 15 bytes): digest, then algorithm info (container of
	 * 8 bytes): algorithm (0 = RSA) and modulus size code. */
	put_u8(b, TL_HDR_SIGNATURE_INFO);
	put_u16(b, 15);
	put_u8(b, TL_HDR_HASH_ALGORITHM);
	put_u16(b, 1);
	put_u8(b, h);
	put_u8(b, TL_HDR_SIGNATURE_ALGORITHM_INFO);
	put_u16(b, 8);
	put_u8(b, TL_HDR_SIGNATURE_ALGORITHM);
	put_u16(b, 1);
	put_u8(b, TL_SIGALG_RSA);
	put_u8(b, TL_HDR_SIGNATURE_MODULUS);
	put_u16(b, 1);
	put_u8(b, (unsigned)code);
	out->sig_off = b->len; /* the signature TLV goes here */
	out->sig_len = sig_len;
	put_tlv(b, TL_HDR_FILENAME, filename, strlen(filename) + 1);
	put_u8(b, TL_HDR_TIMESTAMP);
	put_u16(b, 4);
	put_u32(b, timestamp);
	/* Pad so that the header, signature included, is a multiple of 4 bytes. */
	while ((b->len + 3 + sig_len) % 4 && !b->err)
		put_u8(b, TL_HDR_PADDING);
	patch_u16(b, length_at, b->len + 3 + sig_len);
	return b->err;
}

static int finish(struct wbuf *b, int rc, struct tl_tbs *out)
{
	if (rc == 0)
		rc = b->err;
	if (rc != 0) {
		free(b->p);
		memset(out, 0, sizeof *out);
		return rc;
	}
	out->data = b->p;
	out->len = b->len;
	return 0;
}

int tl_build(const struct tl_entry *e, size_t n, const unsigned char *signer_der, size_t signer_len,
             enum tl_hash h, uint32_t sequence, const char *filename, struct tl_tbs *out)
{
	struct wbuf b = {0};
	memset(out, 0, sizeof *out);
	if (n == 0 || n > TL_RECORDS_MAX)
		return -E2BIG;
	int rc = put_header(&b, signer_der, signer_len, h, sequence, filename, 1, out);
	for (size_t i = 0; i < n && rc == 0 && !b.err; i++) {
		X509 *x = der_cert(e[i].der, e[i].len);
		if (!x || e[i].role > 0xffff) {
			X509_free(x);
			rc = -EINVAL;
			break;
		}
		put_record(&b, &e[i], x);
		X509_free(x);
	}
	return finish(&b, rc, out);
}

int tl_sgn_build(const unsigned char *signer_der, size_t signer_len, enum tl_hash h,
                 uint32_t timestamp, const char *filename, const unsigned char *body, size_t len,
                 struct tl_tbs *out)
{
	struct wbuf b = {0};
	memset(out, 0, sizeof *out);
	int rc = put_header(&b, signer_der, signer_len, h, timestamp, filename, 0, out);
	if (rc == 0)
		put(&b, body, len);
	return finish(&b, rc, out);
}

int tl_assemble(const struct tl_tbs *t, const unsigned char *sig, size_t siglen,
                unsigned char **out, size_t *outlen)
{
	if (!t->data || siglen != t->sig_len || t->sig_off > t->len)
		return -EINVAL;
	size_t n = t->len + 3 + siglen;
	unsigned char *p = malloc(n);
	if (!p)
		return -ENOMEM;
	memcpy(p, t->data, t->sig_off);
	p[t->sig_off] = TL_HDR_SIGNATURE;
	p[t->sig_off + 1] = (unsigned char)(siglen >> 8);
	p[t->sig_off + 2] = (unsigned char)siglen;
	memcpy(p + t->sig_off + 3, sig, siglen);
	memcpy(p + t->sig_off + 3 + siglen, t->data + t->sig_off, t->len - t->sig_off);
	*out = p;
	*outlen = n;
	return 0;
}

void tl_tbs_free(struct tl_tbs *t)
{
	if (!t)
		return;
	free(t->data);
	memset(t, 0, sizeof *t);
}
