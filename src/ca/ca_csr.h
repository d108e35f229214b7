/* SPDX-License-Identifier: ISC */
/*
 * ca_csr: what telgate's CA accepts as a client's key (issue 17). A certificate signing
 * request (PKCS#10, RFC 2986) is checked for one thing only: proof of possession — its
 * signature verifies with the public key it carries — and that key's type and size are
 * one of those the CA issues for (the enrolment profile's `--key`): EC P-256, EC P-384,
 * RSA 2048, RSA 3072. Nothing else in the request is used: the certificate's subject and
 * extensions come from the enrolment (ca_issue.h), never from the CSR, so a CSR asking for
 * another CN, CA:TRUE or more EKUs or SANs is not refused here — it gets a certificate that
 * has none of them (docs/ca.md).
 *
 * Pure functions over their arguments (OpenSSL's parsers), no I/O: any thread. Costs one
 * signature verification (~50 µs for P-256, ~30 µs for RSA 2048).
 */
#ifndef TG_CA_CSR_H
#define TG_CA_CSR_H

#include <openssl/evp.h>
#include <stddef.h>

#define CA_CSR_MAX 16384 /* bytes of a DER CSR: an RSA 3072 one is ~1 KiB */

/* The key types a client certificate may carry (the enrolment profile's choice). */
enum ca_key_type {
	CA_KEY_ANY = 0, /* as the CSR's "want": any of the following */
	CA_KEY_EC_P256,
	CA_KEY_EC_P384,
	CA_KEY_RSA_2048,
	CA_KEY_RSA_3072,
};
#define CA_KEY_TYPES 5

/* "ec-p256", "ec-p384", "rsa-2048", "rsa-3072" ("any" for CA_KEY_ANY): the profile's names. */
const char *ca_key_type_name(enum ca_key_type t);
/* The type a name gives: 0, or -1 for a name that is not one of the above (nor "any"). */
int ca_key_type_parse(const char *name, enum ca_key_type *out);
/* What key k is: CA_KEY_ANY when it is none of the allowed types (another curve, another
 * RSA size, Ed25519, DSA, ...). */
enum ca_key_type ca_key_type_of(const EVP_PKEY *k);

/* The outcomes of a check; ca_csr_result_text() gives the reason a client is told (EST:
 * HTTP 400 with that text). */
enum ca_csr_result {
	CA_CSR_OK = 0,
	CA_CSR_MALFORMED,    /* not a DER PKCS#10 request, trailing bytes, over CA_CSR_MAX */
	CA_CSR_SIGNATURE,    /* its signature does not verify: no proof of possession */
	CA_CSR_KEY_TYPE,     /* a key type or size the CA does not issue for */
	CA_CSR_KEY_MISMATCH, /* an allowed key, but not the profile's */
};
const char *ca_csr_result_text(enum ca_csr_result r);

/* Checks a DER CSR (len bytes) against want (CA_KEY_ANY = any allowed type). On CA_CSR_OK,
 * *pub (when not NULL) gets the request's public key (a reference the caller frees with
 * EVP_PKEY_free); otherwise *pub is NULL. */
enum ca_csr_result ca_csr_check(const unsigned char *der, size_t len, enum ca_key_type want,
                                EVP_PKEY **pub);

#endif
