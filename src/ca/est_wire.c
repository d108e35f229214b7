/* SPDX-License-Identifier: ISC */
/* EST bodies and credentials (RFC 7030 / RFC 8951) as pure functions. */
#include "ca/est_wire.h"

#include <sodium.h>

#include <errno.h>
#include <openssl/objects.h>
#include <openssl/pkcs7.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* base64 is libsodium's (sodium_base642bin / sodium_bin2base64): constant-time, maintained,
 * and strict about the last group's unused bits (RFC 4648 §3.5 lets a decoder refuse
 * non-canonical input; no encoder writes it). */
int est_base64_decode(const char *in, size_t len, size_t max, unsigned char **out, size_t *outlen)
{
	*out = NULL;
	*outlen = 0;
	/* At most 3 bytes per 4 characters, whitespace included: an upper bound. */
	size_t cap = len / 4 * 3 + 3;
	if (cap > max)
		cap = max;
	unsigned char *b = malloc(cap ? cap : 1);
	if (!b)
		return -ENOMEM;
	/* RFC 8951 clients differ on padding: with '=' it must complete the last group
	 * (the ORIGINAL variant), without it the NO_PADDING variant reads the same text.
	 * Whitespace is skipped anywhere (line breaks of 64 or 76 characters). */
	int variant = memchr(in, '=', len) ? sodium_base64_VARIANT_ORIGINAL
	                                   : sodium_base64_VARIANT_ORIGINAL_NO_PADDING;
	size_t n = 0;
	const char *end = NULL;
	errno = 0;
	/* With an end pointer libsodium stops at the first character it cannot take and
	 * keeps errno ERANGE when the output was full (without one it says EINVAL for both). */
	if (sodium_base642bin(b, cap, in, len, " \t\r\n", &n, &end, variant) != 0 ||
	    end != in + len) {
		int rc = errno == ERANGE ? -E2BIG : -EINVAL;
		free(b);
		return rc;
	}
	*out = b;
	*outlen = n;
	return 0;
}

int est_base64_encode(const unsigned char *in, size_t len, char **out, size_t *outlen)
{
	size_t chars = sodium_base64_ENCODED_LEN(len, sodium_base64_VARIANT_ORIGINAL);
	char *s = malloc(chars);
	if (!s)
		return -ENOMEM;
	sodium_bin2base64(s, chars, in, len, sodium_base64_VARIANT_ORIGINAL);
	*out = s;
	*outlen = chars - 1; /* the length counts the NUL */
	return 0;
}

int est_certs_only(X509 *const *certs, size_t n, unsigned char **der, size_t *len)
{
	*der = NULL;
	*len = 0;
	PKCS7 *p7 = PKCS7_new();
	int ok =
	    p7 && PKCS7_set_type(p7, NID_pkcs7_signed) && PKCS7_content_new(p7, NID_pkcs7_data);
	/* No eContent at all (RFC 5652 §5.2: absent in a degenerate SignedData), as
	 * `openssl crl2pkcs7 -nocrl` writes it: some parsers (strongSwan's) refuse the
	 * empty OCTET STRING PKCS7_content_new leaves there. */
	if (ok) {
		ASN1_OCTET_STRING_free(p7->d.sign->contents->d.data);
		p7->d.sign->contents->d.data = NULL;
	}
	for (size_t i = 0; ok && i < n; i++)
		ok = PKCS7_add_certificate(p7, certs[i]) == 1;
	int l = ok ? i2d_PKCS7(p7, der) : -1;
	PKCS7_free(p7);
	if (l <= 0)
		return -ENOMEM;
	*len = (size_t)l;
	return 0;
}

/* A DER header (tag, definite length) at p; returns its size (at most 6). */
static size_t der_header(unsigned char *p, unsigned char tag, size_t n)
{
	size_t k = 0;
	p[k++] = tag;
	if (n < 0x80) {
		p[k++] = (unsigned char)n;
		return k;
	}
	int bytes = n > 0xffffff ? 4 : n > 0xffff ? 3 : n > 0xff ? 2 : 1;
	p[k++] = (unsigned char)(0x80 | bytes);
	for (int i = bytes - 1; i >= 0; i--)
		p[k++] = (unsigned char)(n >> (8 * i));
	return k;
}

static size_t der_header_len(size_t n)
{
	return n < 0x80 ? 2 : n <= 0xff ? 3 : n <= 0xffff ? 4 : n <= 0xffffff ? 5 : 6;
}

int est_certs_only_der(const unsigned char *cert, size_t cert_len, unsigned char **der, size_t *len)
{
	/* ContentInfo { signedData, [0] SignedData { version 1, digestAlgorithms {},
	 * encapContentInfo { data } (no eContent), certificates [0] { cert }, signerInfos {} } }:
	 * what est_certs_only has OpenSSL write (the unit test compares the two). */
	static const unsigned char oid_signed[] = {0x06, 0x09, 0x2a, 0x86, 0x48, 0x86,
	                                           0xf7, 0x0d, 0x01, 0x07, 0x02};
	static const unsigned char head[] = {0x02, 0x01, 0x01, 0x31, 0x00, 0x30, 0x0b, 0x06, 0x09,
	                                     0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x07, 0x01};
	static const unsigned char tail[] = {0x31, 0x00};
	*der = NULL;
	*len = 0;
	if (!cert || cert_len == 0 || cert_len > 0xffffff)
		return -EINVAL;
	size_t certs = der_header_len(cert_len) + cert_len;
	size_t sd = sizeof head + certs + sizeof tail;
	size_t expl = der_header_len(sd) + sd;
	size_t ci = sizeof oid_signed + der_header_len(expl) + expl;
	size_t total = der_header_len(ci) + ci;
	unsigned char *b = malloc(total), *p = b;
	if (!b)
		return -ENOMEM;
	p += der_header(p, 0x30, ci);
	memcpy(p, oid_signed, sizeof oid_signed);
	p += sizeof oid_signed;
	p += der_header(p, 0xa0, expl);
	p += der_header(p, 0x30, sd);
	memcpy(p, head, sizeof head);
	p += sizeof head;
	p += der_header(p, 0xa0, cert_len);
	memcpy(p, cert, cert_len);
	p += cert_len;
	memcpy(p, tail, sizeof tail);
	*der = b;
	*len = total;
	return 0;
}

/* --- CsrAttrs: a few DER elements, written by hand (all short) ------------------------ */

struct der {
	unsigned char b[128];
	size_t n;
	int bad;
};

static void der_put(struct der *d, const void *p, size_t n)
{
	if (d->bad || d->n + n > sizeof d->b) {
		d->bad = 1;
		return;
	}
	memcpy(d->b + d->n, p, n);
	d->n += n;
}

/* tag + short-form length + the content of inner (every element here is < 128 bytes) */
static void der_wrap(struct der *d, unsigned char tag, const struct der *inner)
{
	if (inner->bad || inner->n > 127) {
		d->bad = 1;
		return;
	}
	unsigned char h[2] = {tag, (unsigned char)inner->n};
	der_put(d, h, 2);
	der_put(d, inner->b, inner->n);
}

static void der_oid(struct der *d, int nid)
{
	const ASN1_OBJECT *o = OBJ_nid2obj(nid);
	unsigned char buf[64], *p = buf;
	int n = o ? i2d_ASN1_OBJECT(o, NULL) : -1;
	if (n <= 0 || n > (int)sizeof buf || i2d_ASN1_OBJECT(o, &p) != n) {
		d->bad = 1;
		return;
	}
	der_put(d, buf, (size_t)n);
}

int est_csrattrs(enum ca_key_type t, unsigned char **der, size_t *len)
{
	struct der seq = {0};
	switch (t) {
	case CA_KEY_RSA_2048:
	case CA_KEY_RSA_3072:
		der_oid(&seq, NID_sha256WithRSAEncryption);
		der_oid(&seq, NID_rsaEncryption);
		break;
	case CA_KEY_EC_P384:
	case CA_KEY_EC_P256:
	case CA_KEY_ANY:
	default: {
		int p384 = t == CA_KEY_EC_P384;
		struct der set = {0}, attr = {0};
		der_oid(&seq, p384 ? NID_ecdsa_with_SHA384 : NID_ecdsa_with_SHA256);
		der_oid(&set, p384 ? NID_secp384r1 : NID_X9_62_prime256v1);
		der_oid(&attr, NID_X9_62_id_ecPublicKey);
		der_wrap(&attr, 0x31, &set); /* SET OF the curve */
		der_wrap(&seq, 0x30, &attr); /* Attribute */
		break;
	}
	}
	struct der top = {0};
	der_wrap(&top, 0x30, &seq);
	*der = NULL;
	*len = 0;
	if (top.bad || !(*der = malloc(top.n)))
		return -ENOMEM;
	memcpy(*der, top.b, top.n);
	*len = top.n;
	return 0;
}

int est_serverkeygen_body(const unsigned char *key_der, size_t key_len,
                          const unsigned char *cert_der, size_t cert_len, char **out,
                          size_t *outlen)
{
	*out = NULL;
	*outlen = 0;
	char *k64 = NULL, *c64 = NULL;
	size_t kn = 0, cn = 0;
	int rc = est_base64_encode(key_der, key_len, &k64, &kn);
	if (rc == 0)
		rc = est_base64_encode(cert_der, cert_len, &c64, &cn);
	if (rc == 0) {
		static const char fmt[] = "--" EST_BOUNDARY "\r\n"
		                          "Content-Type: " EST_CT_PKCS8 "\r\n"
		                          "Content-Transfer-Encoding: base64\r\n\r\n"
		                          "%s\r\n"
		                          "--" EST_BOUNDARY "\r\n"
		                          "Content-Type: " EST_CT_CERTS "\r\n"
		                          "Content-Transfer-Encoding: base64\r\n\r\n"
		                          "%s\r\n"
		                          "--" EST_BOUNDARY "--\r\n";
		size_t cap = sizeof fmt + kn + cn;
		*out = malloc(cap);
		int w = *out ? snprintf(*out, cap, fmt, k64, c64) : -1;
		if (w < 0 || (size_t)w >= cap) {
			free(*out);
			*out = NULL;
			rc = -ENOMEM;
		} else {
			*outlen = (size_t)w;
		}
	}
	if (k64)
		sodium_memzero(k64, kn);
	free(k64);
	free(c64);
	return rc;
}

int est_basic_parse(const char *value, char *user, size_t ucap, char *pass, size_t pcap,
                    size_t *plen)
{
	*plen = 0;
	if (ucap)
		user[0] = '\0';
	if (pcap)
		pass[0] = '\0';
	if (strncasecmp(value, "Basic", 5) != 0 || (value[5] != ' ' && value[5] != '\t'))
		return -ENOENT;
	const char *p = value + 6;
	while (*p == ' ' || *p == '\t')
		p++;
	unsigned char *raw = NULL;
	size_t n = 0;
	if (est_base64_decode(p, strlen(p), ucap + pcap, &raw, &n) != 0)
		return -EINVAL;
	unsigned char *colon = memchr(raw, ':', n);
	size_t ul = colon ? (size_t)(colon - raw) : 0, pl = colon ? n - ul - 1 : 0;
	int ok = colon && ul < ucap && pl < pcap && !memchr(raw, '\0', n);
	for (size_t i = 0; ok && i < ul; i++)
		ok = raw[i] >= 0x20 && raw[i] != 0x7f;
	if (ok) {
		memcpy(user, raw, ul);
		user[ul] = '\0';
		memcpy(pass, colon + 1, pl);
		pass[pl] = '\0';
		*plen = pl;
	}
	sodium_memzero(raw, n);
	free(raw);
	return ok ? 0 : -EINVAL;
}
