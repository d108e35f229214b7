/* SPDX-License-Identifier: ISC */
/*
 * trustlist_parse: reading a trust list or a signed file's header (trustlist.h) from
 * hostile bytes. A cursor never moves past the end of what encloses it: a TLV's value
 * must fit in the header (or its record), a record in the file, the header in the file;
 * the header and every record must end exactly where their length says. Fields that
 * matter to verification (version, length, digest, serial, signature) may appear once.
 * Unknown record tags are skipped (readers must accept what newer writers add: the
 * signature covers them anyway); unknown header tags are refused, as certutils does.
 */
#include "ca/trustlist.h"

#include "ca/tl_wire.h"

#include <errno.h>
#include <string.h>

static unsigned be16(const unsigned char *p)
{
	return (unsigned)p[0] << 8 | p[1];
}

/* A text field: at least its NUL, which must be the last byte and the only one. */
static int text_ok(const unsigned char *p, size_t n)
{
	return n >= 1 && p[n - 1] == 0 && memchr(p, 0, n) == p + n - 1;
}

static int set_once(struct tl_bytes *f, const unsigned char *p, size_t n)
{
	if (f->p)
		return -EINVAL;
	f->p = p;
	f->len = n;
	return 0;
}

static int header_field(struct tl_header *h, unsigned tag, const unsigned char *v, size_t n,
                        int *seen_hash, int *seen_time)
{
	switch (tag) {
	case TL_HDR_SIGNER_NAME:
		return text_ok(v, n) ? set_once(&h->signer, v, n) : -EINVAL;
	case TL_HDR_ISSUER_NAME:
		return text_ok(v, n) ? set_once(&h->issuer, v, n) : -EINVAL;
	case TL_HDR_FILENAME:
		return text_ok(v, n) ? set_once(&h->filename, v, n) : -EINVAL;
	case TL_HDR_SERIAL_NUMBER:
		return n >= 1 && n <= 64 ? set_once(&h->serial, v, n) : -EINVAL;
	case TL_HDR_SIGNATURE:
		return n >= 1 ? set_once(&h->signature, v, n) : -EINVAL;
	case TL_HDR_HASH_ALGORITHM:
		if (n != 1 || (*seen_hash)++)
			return -EINVAL;
		h->hash = v[0];
		return 0;
	case TL_HDR_TIMESTAMP:
		if (n != 4 || (*seen_time)++)
			return -EINVAL;
		h->timestamp =
		    (uint32_t)v[0] << 24 | (uint32_t)v[1] << 16 | (uint32_t)v[2] << 8 | v[3];
		return 0;
	case TL_HDR_SIGNATURE_ALGORITHM:
	case TL_HDR_SIGNATURE_MODULUS:
		return n == 1 ? 0 : -EINVAL;
	case TL_HDR_SIGNER_VERSION:
		return n == 2 ? 0 : -EINVAL;
	}
	return -EINVAL;
}

int tl_parse_header(const unsigned char *buf, size_t len, struct tl_header *h)
{
	memset(h, 0, sizeof *h);
	if (!buf || len < 10 || len > TL_FILE_MAX)
		return len > TL_FILE_MAX ? -EMSGSIZE : -EINVAL;
	if (buf[0] != TL_HDR_VERSION || be16(buf + 1) != 2 || buf[5] != TL_HDR_LENGTH ||
	    be16(buf + 6) != 2)
		return -EINVAL;
	h->major = buf[3];
	h->minor = buf[4];
	h->length = (uint16_t)be16(buf + 8);
	size_t end = h->length;
	if (end < 10 || end > len)
		return -EINVAL;
	int seen_hash = 0, seen_time = 0;
	size_t pos = 10;
	while (pos < end) {
		unsigned tag = buf[pos];
		if (tag == TL_HDR_PADDING) {
			pos++;
			continue;
		}
		if (end - pos < 3)
			return -EINVAL;
		size_t n = be16(buf + pos + 1);
		if (n > end - pos - 3)
			return -EINVAL;
		if (tag == TL_HDR_SIGNER_INFO || tag == TL_HDR_SIGNATURE_INFO ||
		    tag == TL_HDR_SIGNATURE_ALGORITHM_INFO) {
			pos += 3; /* a container: its fields follow */
			continue;
		}
		if (tag == TL_HDR_SIGNATURE)
			h->sig_off = pos;
		if (header_field(h, tag, buf + pos + 3, n, &seen_hash, &seen_time) != 0)
			return -EINVAL;
		pos += 3 + n;
	}
	if (!seen_hash || !tl_hash_name((enum tl_hash)h->hash) || !h->serial.p || !h->signature.p)
		return -EINVAL;
	return 0;
}

/* One record at buf[pos..pos+rlen): its length TLV was read by the caller. */
static int parse_record(const unsigned char *buf, size_t pos, size_t end, struct tl_record *r)
{
	int seen_role = 0;
	memset(r, 0, sizeof *r);
	while (pos < end) {
		if (end - pos < 3)
			return -EINVAL;
		unsigned tag = buf[pos];
		size_t n = be16(buf + pos + 1);
		const unsigned char *v = buf + pos + 3;
		if (n > end - pos - 3)
			return -EINVAL;
		int rc = 0;
		switch (tag) {
		case TL_REC_ROLE:
			if (n != 2 || seen_role++)
				return -EINVAL;
			r->role = (uint16_t)be16(v);
			break;
		case TL_REC_SUBJECT_NAME:
			rc = text_ok(v, n) ? set_once(&r->subject, v, n) : -EINVAL;
			break;
		case TL_REC_ISSUER_NAME:
			rc = text_ok(v, n) ? set_once(&r->issuer, v, n) : -EINVAL;
			break;
		case TL_REC_DNS_NAME:
			rc = text_ok(v, n) ? set_once(&r->dns_name, v, n) : -EINVAL;
			break;
		case TL_REC_SERIAL_NUMBER:
			rc = n >= 1 && n <= 64 ? set_once(&r->serial, v, n) : -EINVAL;
			break;
		case TL_REC_PUBLIC_KEY:
			rc = set_once(&r->public_key, v, n);
			break;
		case TL_REC_SIGNATURE:
			rc = set_once(&r->signature, v, n);
			break;
		case TL_REC_CERTIFICATE:
			rc = n >= 1 ? set_once(&r->cert, v, n) : -EINVAL;
			break;
		case TL_REC_LENGTH:
			return -EINVAL; /* records do not nest */
		default:
			break; /* IP address, certificate hash, ... and tags of newer writers */
		}
		if (rc != 0)
			return rc;
		pos += 3 + n;
	}
	return seen_role && r->cert.p ? 0 : -EINVAL;
}

int tl_parse(const unsigned char *buf, size_t len, struct tl_list *l)
{
	memset(l, 0, sizeof *l);
	int rc = tl_parse_header(buf, len, &l->h);
	if (rc != 0)
		return rc;
	size_t pos = l->h.length;
	while (pos < len) {
		if (len - pos < 5 || buf[pos] != TL_REC_LENGTH || be16(buf + pos + 1) != 2)
			return -EINVAL;
		size_t rlen = be16(buf + pos + 3);
		if (rlen < 5 || rlen > len - pos)
			return -EINVAL;
		if (l->n == TL_RECORDS_MAX)
			return -E2BIG;
		rc = parse_record(buf, pos + 5, pos + rlen, &l->rec[l->n]);
		if (rc != 0)
			return rc;
		l->n++;
		pos += rlen;
	}
	return l->n > 0 ? 0 : -EINVAL;
}
