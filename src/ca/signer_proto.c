/* SPDX-License-Identifier: ISC */
#include "ca/signer_proto.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

static void put32(unsigned char *p, uint32_t v)
{
	p[0] = (unsigned char)(v >> 24);
	p[1] = (unsigned char)(v >> 16);
	p[2] = (unsigned char)(v >> 8);
	p[3] = (unsigned char)v;
}

static uint32_t get32(const unsigned char *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static int digest_ok(const char *d, size_t n)
{
	if (n > SIGNER_DIGEST_MAX)
		return 0;
	for (size_t i = 0; i < n; i++)
		if (!((d[i] >= 'A' && d[i] <= 'Z') || (d[i] >= '0' && d[i] <= '9') || d[i] == '-'))
			return 0;
	return 1;
}

size_t signer_req_size(const struct signer_req *r)
{
	size_t dlen = strnlen(r->digest, sizeof r->digest);
	if (dlen > SIGNER_DIGEST_MAX || r->len > SIGNER_MSG_MAX - SIGNER_REQ_HDR - dlen)
		return 0;
	return SIGNER_REQ_HDR + dlen + r->len;
}

size_t signer_resp_size(const struct signer_resp *r)
{
	size_t plen = r->status == 0 ? r->len : 0;
	if (plen > SIGNER_MSG_MAX - SIGNER_RESP_HDR)
		return 0;
	return SIGNER_RESP_HDR + plen;
}

long signer_req_encode(const struct signer_req *r, unsigned char *buf, size_t cap)
{
	size_t n = signer_req_size(r), dlen = strnlen(r->digest, sizeof r->digest);
	if (!n || n > cap)
		return -EMSGSIZE;
	if (!digest_ok(r->digest, dlen) || (r->len && !r->payload))
		return -EINVAL;
	put32(buf, (uint32_t)(n - 4));
	buf[4] = SIGNER_PROTO_VERSION;
	buf[5] = r->op;
	buf[6] = (unsigned char)(r->key >> 8);
	buf[7] = (unsigned char)r->key;
	put32(buf + 8, r->id);
	buf[12] = (unsigned char)dlen;
	memcpy(buf + SIGNER_REQ_HDR, r->digest, dlen);
	if (r->len)
		memcpy(buf + SIGNER_REQ_HDR + dlen, r->payload, r->len);
	return (long)n;
}

long signer_resp_encode(const struct signer_resp *r, unsigned char *buf, size_t cap)
{
	size_t n = signer_resp_size(r);
	if (!n || n > cap)
		return -EMSGSIZE;
	if (r->status > 0 || r->status < -4095 || (r->status == 0 && r->len && !r->payload))
		return -EINVAL;
	put32(buf, (uint32_t)(n - 4));
	buf[4] = SIGNER_PROTO_VERSION;
	buf[5] = 0x80;
	buf[6] = buf[7] = 0;
	put32(buf + 8, r->id);
	put32(buf + 12, (uint32_t)r->status);
	if (n > SIGNER_RESP_HDR)
		memcpy(buf + SIGNER_RESP_HDR, r->payload, n - SIGNER_RESP_HDR);
	return (long)n;
}

/* The length prefix must say exactly the bytes that follow. */
static int frame_ok(const unsigned char *buf, size_t len, size_t hdr)
{
	if (len > SIGNER_MSG_MAX)
		return -EMSGSIZE;
	if (len < hdr || get32(buf) != len - 4 || buf[4] != SIGNER_PROTO_VERSION)
		return -EINVAL;
	return 0;
}

int signer_req_decode(const unsigned char *buf, size_t len, struct signer_req *r)
{
	memset(r, 0, sizeof *r);
	int rc = frame_ok(buf, len, SIGNER_REQ_HDR);
	if (rc)
		return rc;
	size_t dlen = buf[12];
	if (buf[5] == 0 || buf[5] == SIGNER_OP_HELLO || buf[5] > SIGNER_OP_MAX ||
	    dlen > len - SIGNER_REQ_HDR || !digest_ok((const char *)buf + SIGNER_REQ_HDR, dlen))
		return -EINVAL;
	r->op = buf[5];
	r->key = (uint16_t)(buf[6] << 8 | buf[7]);
	r->id = get32(buf + 8);
	memcpy(r->digest, buf + SIGNER_REQ_HDR, dlen);
	r->digest[dlen] = '\0';
	r->payload = buf + SIGNER_REQ_HDR + dlen;
	r->len = len - SIGNER_REQ_HDR - dlen;
	return 0;
}

int signer_resp_decode(const unsigned char *buf, size_t len, struct signer_resp *r)
{
	memset(r, 0, sizeof *r);
	int rc = frame_ok(buf, len, SIGNER_RESP_HDR);
	if (rc)
		return rc;
	int32_t st = (int32_t)get32(buf + 12);
	if (buf[5] != 0x80 || buf[6] || buf[7] || st > 0 || st < -4095 ||
	    (st < 0 && len != SIGNER_RESP_HDR))
		return -EINVAL;
	r->id = get32(buf + 8);
	r->status = st;
	r->payload = buf + SIGNER_RESP_HDR;
	r->len = len - SIGNER_RESP_HDR;
	return 0;
}

void signer_hello_encode(const struct signer_hello *h, unsigned char out[SIGNER_HELLO_LEN])
{
	put32(out, h->pid);
	put32(out + 4, h->restarts);
	put32(out + 8, h->flags);
}

int signer_hello_decode(const unsigned char *p, size_t len, struct signer_hello *h)
{
	if (len != SIGNER_HELLO_LEN)
		return -EINVAL;
	h->pid = get32(p);
	h->restarts = get32(p + 4);
	h->flags = get32(p + 8);
	return 0;
}

static void rx_reset(struct signer_rx *rx, int skipping)
{
	rx->have = rx->want = 0;
	rx->skipping = skipping;
}

int signer_rx_feed(struct signer_rx *rx, const unsigned char *rec, size_t n)
{
	if (n < 2 || n > SIGNER_RECORD_MAX ||
	    (rec[0] != SIGNER_REC_FIRST && rec[0] != SIGNER_REC_MORE)) {
		rx_reset(rx, 1);
		return -EINVAL;
	}
	const unsigned char *p = rec + 1;
	size_t len = n - 1;
	if (rec[0] == SIGNER_REC_FIRST) {
		/* A new message: whatever was half-assembled is gone (its sender died). */
		rx_reset(rx, 0);
		if (len < 4) {
			rx_reset(rx, 1);
			return -EINVAL;
		}
		size_t want = (size_t)get32(p) + 4;
		if (want > SIGNER_MSG_MAX || want < 8) {
			rx_reset(rx, 1);
			return -EMSGSIZE;
		}
		if (rx->cap < want) {
			unsigned char *nb = realloc(rx->buf, want);
			if (!nb) {
				rx_reset(rx, 1);
				return -ENOMEM;
			}
			rx->buf = nb;
			rx->cap = want;
		}
		rx->want = want;
	} else if (rx->skipping || rx->want == 0) {
		rx_reset(rx, 1);
		return -EINVAL;
	}
	if (len > rx->want - rx->have) {
		rx_reset(rx, 1);
		return -EMSGSIZE;
	}
	memcpy(rx->buf + rx->have, p, len);
	rx->have += len;
	if (rx->have < rx->want)
		return 0;
	rx->want = 0; /* complete: rx->have bytes in rx->buf until the next feed */
	return 1;
}

void signer_rx_free(struct signer_rx *rx)
{
	free(rx->buf);
	memset(rx, 0, sizeof *rx);
}
