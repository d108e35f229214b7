/* SPDX-License-Identifier: ISC */
/*
 * signer_proto: the messages between the network engine and the signer process (ca/signer.h),
 * as pure encode/decode functions, and the records that carry them over a SOCK_SEQPACKET
 * socketpair. The signer parses what a possibly compromised engine sends: every length is
 * checked against the buffer and against SIGNER_MSG_MAX before anything is read.
 *
 * Message (integers big-endian):
 *   request:  u32 body_len | u8 version (1) | u8 op | u16 key | u32 id | u8 dlen |
 *             dlen bytes digest name ([A-Z0-9-], at most SIGNER_DIGEST_MAX) | payload
 *   response: u32 body_len | u8 version (1) | u8 0x80 | u16 0 | u32 id | i32 status |
 *             payload (only when status is 0)
 * body_len counts the bytes after itself; the payload is the rest of the body. status is 0 or
 * a negative errno (-4095..-1). Response id 0 is the signer's hello (SIGNER_OP_HELLO's
 * payload), sent once when a signer process starts: the engine learns its pid and that any
 * request it had in flight is lost (a restart).
 *
 * Records: a message travels in records of at most SIGNER_RECORD_MAX bytes, each one byte of
 * flag (SIGNER_REC_FIRST or SIGNER_REC_MORE) and a piece of the message, because a
 * SOCK_SEQPACKET datagram must fit the socket's send buffer (~200 KiB by default) and a CRL or
 * a trust list to sign may not. A receiver that lost the start of a message (the peer died
 * halfway) skips continuation records until the next first record.
 *
 * Threads: pure functions, any thread. Decoded payload pointers point into the caller's
 * buffer. Errors: -EMSGSIZE (over the cap or the buffer), -EINVAL (malformed).
 */
#ifndef TG_CA_SIGNER_PROTO_H
#define TG_CA_SIGNER_PROTO_H

#include "ca/signer.h"

#include <stddef.h>
#include <stdint.h>

enum signer_op {
	SIGNER_OP_CERTIFICATE = 1, /* key's certificate (DER); no payload */
	SIGNER_OP_SIGN_CERT = 2,   /* payload: certificate template (DER) */
	SIGNER_OP_SIGN_CRL = 3,    /* payload: CRL template (DER) */
	SIGNER_OP_SIGN_BYTES = 4,  /* payload: data; digest named */
	SIGNER_OP_HELLO = 5,       /* response id 0 only: struct signer_hello */
	/* OAuth token keys (issue 18; key SIGNER_KEY_TOKEN). KEYGEN: payload the algorithm name
	 * ("ES256", "RS256", "EdDSA"); the signer makes a key, keeps it (pki.dir/tokens) and
	 * answers its SubjectPublicKeyInfo (DER). SIGN_TOKEN: payload the kid (43 bytes) then
	 * the JWS signing input; the answer is the JWS signature (r||s for ES256). */
	SIGNER_OP_TOKEN_KEYGEN = 6,
	SIGNER_OP_SIGN_TOKEN = 7,
	SIGNER_OP_MAX = 7,
};

#define SIGNER_PROTO_VERSION 1
#define SIGNER_DIGEST_MAX 15
#define SIGNER_REQ_HDR 13  /* body_len .. dlen */
#define SIGNER_RESP_HDR 16 /* body_len .. status */
/* The largest message: a SIGNER_DATA_MAX payload plus headers. */
#define SIGNER_MSG_MAX (SIGNER_DATA_MAX + 64)
#define SIGNER_RECORD_MAX (32 * 1024)
#define SIGNER_REC_FIRST 0x01
#define SIGNER_REC_MORE 0x02

struct signer_req {
	uint32_t id;
	uint8_t op;
	uint16_t key;
	char digest[SIGNER_DIGEST_MAX + 1]; /* "" when none */
	const unsigned char *payload;
	size_t len;
};

struct signer_resp {
	uint32_t id;
	int32_t status;
	const unsigned char *payload;
	size_t len;
};

/* The hello's payload: u32 pid | u32 restarts | u32 flags. */
#define SIGNER_HELLO_LEN 12
#define SIGNER_HELLO_SECCOMP 0x1
struct signer_hello {
	uint32_t pid, restarts, flags;
};

/* Encoded sizes (0 when over SIGNER_MSG_MAX or the digest name is too long). */
size_t signer_req_size(const struct signer_req *r);
size_t signer_resp_size(const struct signer_resp *r);
/* Encode into buf (cap bytes): the message length, or -EMSGSIZE / -EINVAL. */
long signer_req_encode(const struct signer_req *r, unsigned char *buf, size_t cap);
long signer_resp_encode(const struct signer_resp *r, unsigned char *buf, size_t cap);
/* Decode one whole message of len bytes. */
int signer_req_decode(const unsigned char *buf, size_t len, struct signer_req *r);
int signer_resp_decode(const unsigned char *buf, size_t len, struct signer_resp *r);

void signer_hello_encode(const struct signer_hello *h, unsigned char out[SIGNER_HELLO_LEN]);
int signer_hello_decode(const unsigned char *p, size_t len, struct signer_hello *h);

/* Reassembly of records into messages. The buffer grows up to SIGNER_MSG_MAX. */
struct signer_rx {
	unsigned char *buf;
	size_t cap, have, want; /* want: 0 between messages */
	int skipping;           /* lost a message's start: skip until a first record */
};
/* Feeds one record (n bytes, flag included). Returns 1 when a message is complete (in
 * rx->buf, rx->have bytes; the next feed starts a new one), 0 when more records are needed,
 * -EINVAL / -EMSGSIZE / -ENOMEM for a record that was dropped (the reassembly is reset). */
int signer_rx_feed(struct signer_rx *rx, const unsigned char *rec, size_t n);
void signer_rx_free(struct signer_rx *rx);

#endif
