/* SPDX-License-Identifier: ISC */
/*
 * est_ca_bare: the floor of the EST benchmark's "CA step" (bench/run.sh est_enrol): the
 * steps of one enrolment's certificate written with OpenSSL alone, no telgate code, the
 * way a minimal CA would: the CSR decoded and its signature verified, the certificate
 * built (random 128-bit serial, CN, SAN URI, CA:FALSE, keyUsage, EKU clientAuth, SKI,
 * AKI, validity) and signed with the CA key, wrapped in a certs-only PKCS#7 and base64.
 * Benchmarks only. Threads: one bare_ca per thread. Ownership: the caller's buffers are
 * read, never kept.
 */
#ifndef TG_BENCH_EST_CA_BARE_H
#define TG_BENCH_EST_CA_BARE_H

#include <stddef.h>

struct bare_ca;

/* The CA from its PEM certificate and key. NULL when they cannot be read. */
struct bare_ca *bare_ca_new(const char *cert_pem, const char *key_pem);
void bare_ca_free(struct bare_ca *ca);

/* One enrolment's CA step for a DER CSR: returns the length of the base64 answer, or -1
 * (a CSR that does not verify included). */
long bare_ca_issue(struct bare_ca *ca, const unsigned char *csr, size_t len, const char *cn,
                   const char *instanceid);

/* n P-256 CSRs (DER, OpenSSL-allocated: free with OPENSSL_free), each with a key of its own,
 * subject CN=cn. Returns 0 or -1. */
int bare_make_csrs(int n, const char *cn, unsigned char **der, size_t *len);

#endif
