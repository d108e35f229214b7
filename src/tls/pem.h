/* SPDX-License-Identifier: ISC */
/*
 * pem: splits a PEM file (a trust-anchor upload, the seed's CombinedCertChain) into its
 * certificates, in file order, so `telgate trust update LEVEL ALIAS FILE` can store each
 * one under its own alias: ALIAS, ALIAS-2, ALIAS-3 ... (seed 004, updateTrust).
 *
 * File rules (RFC 7468 "strict" blocks; text outside blocks as OpenSSL reads it):
 * - Every `-----BEGIN CERTIFICATE-----` ... `-----END CERTIFICATE-----` block is one
 *   certificate: base64 lines only (no headers), canonical padding, DER that parses as
 *   one X.509 certificate with nothing after it.
 * - Any other block is refused: a private key (any label ending in "PRIVATE KEY") with an
 *   error that names only its block number and label, never its bytes (key blocks are not
 *   even decoded); other labels (TRUSTED CERTIFICATE, X509 CRL, ...) likewise.
 * - Text outside blocks is ignored, as OpenSSL's PEM reader does, so `openssl x509 -text`
 *   output, "Bag Attributes" lines and comments may surround the blocks. Two things are
 *   refused there all the same: control characters other than tab/CR/LF (a DER or binary
 *   file is not PEM), and a line starting with "-----" that is not a BEGIN line (a stray
 *   END: a block lost its head).
 * - An empty file, a file without a block, a block without its END line (truncated), a
 *   BEGIN inside a block, and more than TLS_PEM_CERTS_MAX blocks are errors.
 * Errors name the block (1-based, counting every block in the file) and the line.
 *
 * Pure: no I/O, no globals; thread-safe. Ownership: the input stays the caller's; the
 * certificates in a struct tls_pem_certs are the caller's, released with
 * tls_pem_certs_free().
 */
#ifndef TG_TLS_PEM_H
#define TG_TLS_PEM_H

#include <openssl/x509.h>
#include <stddef.h>

#define TLS_PEM_FILE_MAX (1024 * 1024) /* bytes */
#define TLS_PEM_CERTS_MAX 100          /* blocks in one file */

struct tls_pem_certs {
	X509 **v; /* n certificates, file order */
	size_t n;
};

/* Splits len bytes of data (need not be NUL-terminated) into out. Returns 0 (out->n >= 1),
 * or -1 with out empty and err (printable ASCII, never file content other than a
 * sanitised block label) saying what and where. len over TLS_PEM_FILE_MAX is an error. */
int tls_pem_split(const char *data, size_t len, struct tls_pem_certs *out, char *err,
                  size_t errlen);

/* Frees every certificate and the array; leaves c empty. c may be empty or NULL. */
void tls_pem_certs_free(struct tls_pem_certs *c);

/* The alias of the certificate at index i (0-based) of a file uploaded as base: base for
 * the first, base-2, base-3 ... for the next ones. Returns 0, or -1 when the name does not
 * fit cap or is not a valid alias (tls_alias_check in tls/anchor.h). */
int tls_pem_alias(const char *base, size_t i, char *out, size_t cap);

#endif
