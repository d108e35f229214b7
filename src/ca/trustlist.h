/* SPDX-License-Identifier: ISC */
/*
 * trustlist: the certificate trust list in the CTL/ITL TLV file format that Cisco phones
 * and CTI clients parse (issue 17, seed 001: the client fetches CTL*.tlv and verifies it
 * before it enrols). docs/trust-list.md documents every field and where the format was
 * learned (the usecallmanagernz certutils tlvfile/sgnfile tools).
 *
 * Shape of a file: a header of TLVs (tag 1 byte, length 2 bytes big-endian; the padding
 * tag is one byte alone) that names the signer (subject, issuer, serial of its
 * certificate), the digest, the signature, the file name and a timestamp; then one record
 * per certificate, each a run of TLVs opened by its own length: subject, role (SAST, CCM,
 * TFTP, CAPF, ...), issuer, serial, public key, the certificate's signature and the
 * certificate (DER). The signature is RSA PKCS#1 v1.5 over the whole file without the
 * signature TLV itself (its 3 + n bytes), with SHA-512 or SHA-1.
 *
 * Sequence: the format has no sequence field; telgate carries its list sequence in the
 * header timestamp (Unix seconds, a 32-bit unsigned): each new list takes
 * max(now, previous + 1), so the value both reads as a time and only ever grows, and a
 * client refuses a list whose timestamp is below that of the list it holds.
 *
 * Everything here is pure (no I/O, no locks): the builder returns the bytes to sign and
 * where the signature goes; the caller has them signed (ca/signer.h) and assembles the
 * file. The parser reads hostile input: every length is checked against what encloses
 * it, and a file above TL_FILE_MAX or with more than TL_RECORDS_MAX records is refused.
 *
 * Threads: any. Ownership: the builder's output is malloc'ed (tl_tbs_free / free); the
 * parser's result points into the caller's buffer, which must outlive it.
 * Errors: negative errno (-EINVAL malformed or refused input, -ENOMEM, -E2BIG too many
 * records or a field above its 16-bit length, -EMSGSIZE a file above TL_FILE_MAX).
 */
#ifndef TG_CA_TRUSTLIST_H
#define TG_CA_TRUSTLIST_H

#include <stddef.h>
#include <stdint.h>

#define TL_FILE_MAX (1024 * 1024) /* bytes: what telgate builds or parses at most */
#define TL_RECORDS_MAX 64

/* Record roles (RECORD_ROLE values; Cisco calls them functions). */
enum tl_role {
	TL_ROLE_SAST = 0,       /* signs trust lists (System Administrator Security Token) */
	TL_ROLE_CCM = 1,        /* the call server: SIP-TLS / CTI-TLS server certificate */
	TL_ROLE_CCM_TFTP = 2,   /* both */
	TL_ROLE_TFTP = 3,       /* signs configuration files (.sgn) */
	TL_ROLE_CAPF = 4,       /* issues client certificates (telgate's CA) */
	TL_ROLE_APP_SERVER = 7, /* HTTPS application server (formerly "HTTPS") */
	TL_ROLE_TVS = 21,       /* trust verification service */
};

/* Digest codes of the header's hash-algorithm TLV. */
enum tl_hash {
	TL_HASH_SHA1 = 1,
	TL_HASH_SHA256 = 2,
	TL_HASH_SHA512 = 3,
};

/* The digest's name for signer_sign_bytes ("SHA1", "SHA256", "SHA512"); NULL if unknown. */
const char *tl_hash_name(enum tl_hash h);
/* "SAST", "CCM", ... or NULL for a role without a name. */
const char *tl_role_name(unsigned role);

/* One certificate to list. The record's fields (subject, issuer, serial, public key,
 * signature) are read from the certificate. dns_name: optional (NULL = none). */
struct tl_entry {
	enum tl_role role;
	const unsigned char *der;
	size_t len;
	const char *dns_name;
};

/* A file before its signature: data (len bytes) is exactly what is signed; the signature
 * TLV (3 + sig_len bytes) goes in at sig_off. */
struct tl_tbs {
	unsigned char *data;
	size_t len;
	size_t sig_off;
	size_t sig_len;
};

/* Builds a trust list of n entries (1..TL_RECORDS_MAX), signed later by the key of
 * signer_der (an RSA certificate, which must also be listed with the SAST role so that
 * readers find it), with digest h, sequence (the timestamp field, see above) and the file
 * name the header carries (e.g. "ITLFile.tlv"). Returns 0 and fills *out. */
int tl_build(const struct tl_entry *e, size_t n, const unsigned char *signer_der, size_t signer_len,
             enum tl_hash h, uint32_t sequence, const char *filename, struct tl_tbs *out);

/* Builds a signed-file (.sgn) header for body (len bytes) followed by the body: the same
 * header as a trust list, no records (docs/trust-list.md, "Signed files"). */
int tl_sgn_build(const unsigned char *signer_der, size_t signer_len, enum tl_hash h,
                 uint32_t timestamp, const char *filename, const unsigned char *body, size_t len,
                 struct tl_tbs *out);

/* The file: t with the signature (siglen must equal t->sig_len) put in. Returns 0 with
 * *out (malloc'ed) / *outlen. */
int tl_assemble(const struct tl_tbs *t, const unsigned char *sig, size_t siglen,
                unsigned char **out, size_t *outlen);
void tl_tbs_free(struct tl_tbs *t);

/* ---- reading ---- */

struct tl_bytes {
	const unsigned char *p; /* into the parsed buffer; NULL when absent */
	size_t len;
};

struct tl_header {
	uint8_t major, minor;      /* format version (telgate writes 1.2) */
	uint16_t length;           /* header bytes, signature included */
	uint8_t hash;              /* enum tl_hash */
	struct tl_bytes signer;    /* signer subject, NUL-terminated text */
	struct tl_bytes issuer;    /* signer's issuer, NUL-terminated text */
	struct tl_bytes serial;    /* signer's serial, big-endian bytes */
	struct tl_bytes signature; /* RSA signature */
	struct tl_bytes filename;  /* NUL-terminated text */
	size_t sig_off;            /* offset of the signature TLV's tag */
	uint32_t timestamp;        /* telgate: the list sequence */
};

struct tl_record {
	uint16_t role;
	struct tl_bytes subject, issuer, serial, public_key, signature, cert, dns_name;
};

struct tl_list {
	struct tl_header h;
	struct tl_record rec[TL_RECORDS_MAX];
	size_t n;
};

/* Parses a header (a trust list's or a .sgn file's): 0 with *h, or -EINVAL. */
int tl_parse_header(const unsigned char *buf, size_t len, struct tl_header *h);
/* Parses a whole trust list: 0 with *l, or -EINVAL / -E2BIG / -EMSGSIZE. Every record
 * must carry a role and a certificate. The signature is not checked here. */
int tl_parse(const unsigned char *buf, size_t len, struct tl_list *l);

/* Checks the header's signature over buf (the parsed file, len bytes) with the public
 * key of cert (DER, RSA). Returns 0 when it verifies, -EBADMSG when it does not, -EINVAL
 * when the certificate or the digest cannot be used. */
int tl_signature_check(const unsigned char *buf, size_t len, const struct tl_header *h,
                       const unsigned char *cert, size_t cert_len);

/* What a client decides about a list (outcome enum; tl_verdict_str for messages). */
enum tl_verdict {
	TL_OK = 0,
	TL_BAD_FORMAT,    /* not a trust list (tl_parse failed) */
	TL_NO_SIGNER,     /* no SAST record with the header's signer serial and issuer */
	TL_BAD_SIGNATURE, /* the signature does not verify with that certificate */
	TL_UNTRUSTED,     /* the signer is neither pinned nor a SAST of the previous list */
	TL_OLDER,         /* its sequence is below the previous list's */
};
const char *tl_verdict_str(enum tl_verdict v);

/* What a client trusts: the list it holds (prev, parsed from a buffer that is still
 * alive) and/or, on first use, the SHA-256 fingerprint of the signer's certificate given
 * by the administrator (pin, 32 bytes). A list is accepted when its signature verifies
 * with the SAST certificate that its header names, that certificate is pinned or is a
 * SAST record of prev (so a list signed by the recovery key, which every list carries
 * as SAST, is accepted after the trust-list key was replaced), and its sequence is not
 * below prev's. With neither prev nor pin, nothing is trusted (TL_UNTRUSTED). */
struct tl_trust {
	const struct tl_list *prev;
	const unsigned char *pin;
};

/* Parses and verifies buf into *l. *signer (when not NULL) gets the index of the
 * signing record in l->rec. */
enum tl_verdict tl_verify(const unsigned char *buf, size_t len, const struct tl_trust *t,
                          struct tl_list *l, size_t *signer);

#endif
