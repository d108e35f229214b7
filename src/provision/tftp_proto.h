/* SPDX-License-Identifier: ISC */
/*
 * tftp_proto: the TFTP wire format, pure. Parses datagrams (RFC 1350 RRQ/WRQ/DATA/ACK/
 * ERROR, RFC 2347 options and OACK), negotiates the options a read request asks for
 * (RFC 2348 blksize, RFC 2349 timeout and tsize, RFC 7440 windowsize) and builds the
 * packets the server sends (DATA headers, OACK, ERROR). The engine (tftp.c) owns sockets,
 * timers and files; everything here is a function of its arguments, so the unit tests and
 * fuzz/fuzz_tftp.c reach every rule without a socket.
 *
 * Decisions (docs/device-files.md, "TFTP"):
 * - A request is at most TFTP_REQUEST_MAX bytes (RFC 2347 §2: "The maximum size of a
 *   request packet is 512 octets") and carries at most TFTP_OPTIONS_MAX option pairs;
 *   more is refused (error 4 / error 8), so no request costs more than one bounded walk.
 * - Option names and the mode are case-insensitive (RFC 1350, RFC 2347). Unknown options
 *   are ignored and not acknowledged (RFC 2347 §3); a known option given twice counts
 *   once (the first). An empty option name ends the list: some boot ROMs pad their
 *   requests with NULs, as tftp-hpa tolerates.
 * - blksize below 8, a timeout outside 1..255, a windowsize of 0 or a value that is not a
 *   decimal number is refused with error 8 (RFC 2347: "the transfer should be terminated
 *   due to option negotiation"): no value the server may grant (at most what was asked)
 *   would satisfy them. Values above a maximum are lowered (RFC 2348 and RFC 7440 let
 *   the server answer with less): blksize to min(65464, MTU - 32 over IPv4, - 52 over
 *   IPv6), windowsize to the configured cap.
 * - Modes: octet; netascii converted per RFC 1350 (LF -> CR LF, CR -> CR NUL); mail and
 *   anything else refused with error 4.
 *
 * Threads: any; no state. Ownership: parsed strings point into the caller's datagram,
 * which must stay unchanged while they are used.
 */
#ifndef TG_PROVISION_TFTP_PROTO_H
#define TG_PROVISION_TFTP_PROTO_H

#include <stddef.h>
#include <stdint.h>

#define TFTP_REQUEST_MAX 512 /* bytes of an RRQ/WRQ datagram (RFC 2347 §2) */
#define TFTP_OPTIONS_MAX 32  /* option name/value pairs in one request */
#define TFTP_HDR 4           /* opcode + block number (DATA, ACK) */
#define TFTP_BLKSIZE_DEFAULT 512
#define TFTP_BLKSIZE_MIN 8        /* RFC 2348 */
#define TFTP_BLKSIZE_MAX 65464    /* RFC 2348 */
#define TFTP_WINDOWSIZE_MAX 65535 /* RFC 7440 */
#define TFTP_OACK_MAX 128         /* the OACK of the four known options always fits */
#define TFTP_ERROR_MAX 128        /* an ERROR packet this module builds */

enum tftp_op {
	TFTP_RRQ = 1,
	TFTP_WRQ = 2,
	TFTP_DATA = 3,
	TFTP_ACK = 4,
	TFTP_ERROR = 5,
	TFTP_OACK = 6,
};

/* RFC 1350 §5 error codes, RFC 2347 code 8. */
enum tftp_err {
	TFTP_E_UNDEF = 0,    /* "not defined, see error message" */
	TFTP_E_NOTFOUND = 1, /* file not found */
	TFTP_E_ACCESS = 2,   /* access violation */
	TFTP_E_DISKFULL = 3,
	TFTP_E_BADOP = 4,  /* illegal TFTP operation */
	TFTP_E_BADTID = 5, /* unknown transfer ID */
	TFTP_E_EXISTS = 6,
	TFTP_E_NOUSER = 7,
	TFTP_E_OPTNEG = 8, /* option negotiation refused (RFC 2347) */
};

enum tftp_mode { TFTP_MODE_OCTET = 0, TFTP_MODE_NETASCII };

/* What to answer a datagram that was not accepted: an ERROR with code and msg, or
 * nothing (code -1: dropped silently, e.g. a DATA at the request port). */
struct tftp_verdict {
	int code;
	const char *msg; /* static text */
};

struct tftp_option {
	const char *name, *value; /* NUL-terminated, inside the datagram */
};

struct tftp_request {
	enum tftp_op op;      /* TFTP_RRQ or TFTP_WRQ */
	const char *filename; /* NUL-terminated, inside the datagram; not checked here */
	size_t filename_len;
	enum tftp_mode mode;
	struct tftp_option opt[TFTP_OPTIONS_MAX];
	unsigned nopt;
};

/* Parses a datagram of len bytes sent to the request port. Returns 0 with *rq for a
 * well-formed RRQ or WRQ, or -1 with *v: short (drop), an opcode that is not a request
 * (3..6: drop; 0 or above 6: error 4), longer than TFTP_REQUEST_MAX (error 4), fields not
 * NUL-terminated, an empty file name or mode, an option without a value (error 4), an
 * unknown or mail mode (error 4), more than TFTP_OPTIONS_MAX options (error 8). */
int tftp_parse_request(const unsigned char *pkt, size_t len, struct tftp_request *rq,
                       struct tftp_verdict *v);

/* A datagram on a transfer's socket. */
struct tftp_packet {
	enum tftp_op op;
	uint16_t block;  /* DATA, ACK */
	uint16_t code;   /* ERROR */
	const char *msg; /* ERROR: its text when NUL-terminated, else "" */
};

/* Parses the opcode and fixed fields of any packet. Returns 0, or -1 for fewer than 4
 * bytes or an opcode outside 1..6. */
int tftp_parse_packet(const unsigned char *pkt, size_t len, struct tftp_packet *p);

/* What the server may grant: the path MTU (files.tftp_mtu), the family the request came
 * over, the windowsize cap (files.tftp_max_windowsize). */
struct tftp_limits {
	unsigned mtu;
	int ipv6;
	unsigned max_windowsize;
};

enum {
	TFTP_OPT_BLKSIZE = 1u << 0,
	TFTP_OPT_TSIZE = 1u << 1,
	TFTP_OPT_TIMEOUT = 1u << 2,
	TFTP_OPT_WINDOWSIZE = 1u << 3,
};

/* The transfer's parameters after negotiation. */
struct tftp_grant {
	unsigned blksize;    /* bytes per DATA payload; 512 when not negotiated */
	unsigned windowsize; /* blocks per window; 1 when not negotiated */
	unsigned timeout_s;  /* the client's RFC 2349 timeout; 0: not asked */
	uint64_t tsize;      /* the transfer size answered (bytes), with TFTP_OPT_TSIZE */
	unsigned acked;      /* TFTP_OPT_* bits granted: an OACK is due when not 0 */
};

/* The largest blksize a path MTU allows (mtu - 32 over IPv4, - 52 over IPv6), within
 * TFTP_BLKSIZE_MIN..TFTP_BLKSIZE_MAX. */
unsigned tftp_blksize_cap(unsigned mtu, int ipv6);

/* Negotiates rq's options for a file of size bytes (as it will be sent: after netascii
 * conversion). Returns 0 with *g, or -1 with *v (error 8). */
int tftp_negotiate(const struct tftp_request *rq, const struct tftp_limits *lim, uint64_t size,
                   struct tftp_grant *g, struct tftp_verdict *v);

/* The OACK for g (options in the order blksize, tsize, timeout, windowsize) into buf (cap
 * bytes, TFTP_OACK_MAX is enough). Returns its length, or 0 when it does not fit. */
size_t tftp_build_oack(unsigned char *buf, size_t cap, const struct tftp_grant *g);

/* An ERROR packet into buf (cap bytes); msg is cut to fit. Returns its length, or 0 when
 * cap is below 5. */
size_t tftp_build_error(unsigned char *buf, size_t cap, unsigned code, const char *msg);

/* The 4-byte header of a DATA packet (or an ACK: op) for block (its low 16 bits). */
void tftp_put_header(unsigned char hdr[TFTP_HDR], enum tftp_op op, uint64_t block);

/* The absolute block number (1-based, 64-bit) an ACK's 16-bit number names among the
 * blocks lo..hi (1 <= lo, hi - lo < 65536), or 0 when none of them has it. Block numbers roll over
 * from 65535 to 0 (as tftp-hpa and atftp expect), so block 65536 is sent as 0. */
uint64_t tftp_ack_block(uint16_t wire, uint64_t lo, uint64_t hi);

/* Blocks of a transfer of size bytes at blksize: the last one is shorter than blksize,
 * and empty when size is a multiple of it (RFC 1350 §6). */
uint64_t tftp_nblocks(uint64_t size, unsigned blksize);

/* netascii (RFC 1350, "netascii" per RFC 764): the length of in after conversion, and the
 * conversion into out (tftp_netascii_len(in, n) bytes): LF -> CR LF, CR -> CR NUL. */
size_t tftp_netascii_len(const unsigned char *in, size_t n);
void tftp_netascii_encode(const unsigned char *in, size_t n, unsigned char *out);

#endif
