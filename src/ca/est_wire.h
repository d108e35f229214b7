/* SPDX-License-Identifier: ISC */
/*
 * est_wire: the bodies and headers of EST (RFC 7030, with RFC 8951's clarifications) as
 * pure functions, so the server (ca/est_server.h), the unit tests and the fuzz target
 * share them:
 *   - base64 in both directions: RFC 7030 §4 sends every DER body base64-encoded; RFC
 *     8951 §3.2 says the receiver ignores Content-Transfer-Encoding and whitespace, so
 *     the decoder skips spaces, tabs, CR and LF anywhere and takes padding or none;
 *   - the certs-only answer (§4.1.3, §4.2.3): a degenerate CMS SignedData (RFC 5652)
 *     holding certificates and no signer, DER;
 *   - the CSR attributes answer (§4.5.2) for a key type;
 *   - the serverkeygen answer (§4.4.2): multipart/mixed with the private key (PKCS#8,
 *     application/pkcs8) and the certificate (certs-only);
 *   - HTTP Basic credentials (RFC 7617) from an Authorization field.
 *
 * No I/O, no state: any thread. Ownership: *out buffers are malloc'ed; the caller frees
 * them. Inputs are read, never kept.
 */
#ifndef TG_CA_EST_WIRE_H
#define TG_CA_EST_WIRE_H

#include "ca/ca_csr.h"

#include <openssl/x509.h>
#include <stddef.h>

/* The media types RFC 7030 names. */
#define EST_CT_CERTS "application/pkcs7-mime; smime-type=certs-only"
#define EST_CT_PKCS10 "application/pkcs10"
#define EST_CT_CSRATTRS "application/csrattrs"
#define EST_CT_PKCS8 "application/pkcs8"
#define EST_BOUNDARY "telgate-est-7030" /* the serverkeygen parts' boundary */

/* Decodes base64 text (len bytes; whitespace anywhere is skipped, '=' padding optional)
 * into *out (malloc'ed, *outlen bytes) with libsodium's decoder. Returns 0; -EINVAL for a
 * character outside the alphabet, padding in the middle, a length no encoding has or
 * non-zero unused bits in the last group (RFC 4648 §3.5); -E2BIG when the decoded
 * size would pass max; -ENOMEM. *out is NULL on error. */
int est_base64_decode(const char *in, size_t len, size_t max, unsigned char **out, size_t *outlen);

/* Encodes len bytes as base64 (RFC 4648 §4) without line breaks, as RFC 8951 §3.2 says
 * (RFC 4648 §3.1: no line feeds unless the referring specification asks for them;
 * strongSwan's pki --est decodes nothing else), NUL-terminated; *outlen excludes the NUL.
 * Returns 0 or -ENOMEM. */
int est_base64_encode(const unsigned char *in, size_t len, char **out, size_t *outlen);

/* A certs-only CMS SignedData (DER) holding n certificates in order. Returns 0 or
 * -ENOMEM (also when OpenSSL refuses a certificate). */
int est_certs_only(X509 *const *certs, size_t n, unsigned char **der, size_t *len);
/* The same bytes for one certificate given as DER (cert, cert_len: one complete
 * Certificate, not checked), written around it without decoding it: the issuing path has
 * the DER from the signer, and decoding a certificate costs more than signing one with
 * OpenSSL 3.0 (bench/run.sh est_enrol). Returns 0, -EINVAL (empty) or -ENOMEM; *der is
 * malloc'ed (free()). */
int est_certs_only_der(const unsigned char *cert, size_t cert_len, unsigned char **der,
                       size_t *len);

/* The CsrAttrs (DER) that ask for key type t: for EC, the attribute id-ecPublicKey with
 * the curve (RFC 7030 §4.5.2's own example) and the signature algorithm
 * ecdsa-with-SHA256/384; for RSA, rsaEncryption and sha256WithRSAEncryption.
 * CA_KEY_ANY is taken as EC P-256 (the profiles' default). Returns 0 or -ENOMEM. */
int est_csrattrs(enum ca_key_type t, unsigned char **der, size_t *len);

/* The serverkeygen body: multipart/mixed; boundary=EST_BOUNDARY with two base64 parts,
 * the PKCS#8 key (key_der) first, then the certs-only of cert_der (RFC 7030 §4.4.2).
 * Returns 0 or -ENOMEM; *out NUL-terminated, *outlen without the NUL. */
#define EST_CT_MULTIPART "multipart/mixed; boundary=" EST_BOUNDARY
int est_serverkeygen_body(const unsigned char *key_der, size_t key_len,
                          const unsigned char *cert_der, size_t cert_len, char **out,
                          size_t *outlen);

/* HTTP Basic credentials from an Authorization field value ("Basic dXNlcjpwYXNz"; the
 * scheme is case-insensitive): user (at most ucap - 1 bytes, no ':') and password (up to
 * pcap - 1 bytes, *plen of them; may hold anything but NUL), both NUL-terminated.
 * Returns 0; -ENOENT when the scheme is not Basic; -EINVAL when the credentials are
 * not base64 of "user:password", hold a NUL or a control character in the user, or do
 * not fit. */
int est_basic_parse(const char *value, char *user, size_t ucap, char *pass, size_t pcap,
                    size_t *plen);

#endif
