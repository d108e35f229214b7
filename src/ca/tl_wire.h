/* SPDX-License-Identifier: ISC */
/*
 * tl_wire: the tag numbers and codes of the CTL/ITL TLV format, shared by the builder and
 * the parser (trustlist.h; docs/trust-list.md gives each one's length and meaning). Every
 * TLV is a 1-byte tag, a 2-byte big-endian length and the value, except the header's
 * padding tag, which is one byte alone. Containers (signer info, signature info,
 * signature algorithm info) are a tag and a length covering the TLVs that follow them.
 */
#ifndef TG_CA_TL_WIRE_H
#define TG_CA_TL_WIRE_H

#define TL_FORMAT_MAJOR 1
#define TL_FORMAT_MINOR 2

/* Header tags. */
enum {
	TL_HDR_VERSION = 1,                  /* 2 bytes: major, minor; always first */
	TL_HDR_LENGTH = 2,                   /* 2 bytes: header length; always second */
	TL_HDR_SIGNER_INFO = 3,              /* container: signer name, serial, issuer */
	TL_HDR_SIGNER_NAME = 4,              /* NUL-terminated text */
	TL_HDR_SERIAL_NUMBER = 5,            /* big-endian bytes */
	TL_HDR_ISSUER_NAME = 6,              /* NUL-terminated text */
	TL_HDR_SIGNATURE_INFO = 7,           /* container (15 bytes) */
	TL_HDR_HASH_ALGORITHM = 8,           /* 1 byte: enum tl_hash */
	TL_HDR_SIGNATURE_ALGORITHM_INFO = 9, /* container (8 bytes) */
	TL_HDR_SIGNATURE_ALGORITHM = 10,     /* 1 byte: 0 = RSA */
	TL_HDR_SIGNATURE_MODULUS = 11,       /* 1 byte: 0..3 = 512..4096 bits */
	TL_HDR_SIGNATURE = 12,               /* the signature */
	TL_HDR_PADDING = 13,                 /* one byte, no length */
	TL_HDR_FILENAME = 14,                /* NUL-terminated text */
	TL_HDR_TIMESTAMP = 15,               /* 4 bytes: Unix seconds (telgate: sequence) */
	TL_HDR_SIGNER_VERSION = 28,          /* 2 bytes: major, minor */
};

/* Record tags. */
enum {
	TL_REC_LENGTH = 1, /* 2 bytes: the record's length, this TLV included; always first */
	TL_REC_DNS_NAME = 2,
	TL_REC_SUBJECT_NAME = 3,
	TL_REC_ROLE = 4, /* 2 bytes: enum tl_role */
	TL_REC_ISSUER_NAME = 5,
	TL_REC_SERIAL_NUMBER = 6,
	TL_REC_PUBLIC_KEY = 7,
	TL_REC_SIGNATURE = 8,
	TL_REC_CERTIFICATE = 9,
	TL_REC_IP_ADDRESS = 10,
	TL_REC_CERTIFICATE_HASH = 11,
	TL_REC_HASH_ALGORITHM = 12,
};

#define TL_SIGALG_RSA 0

#endif
