/* SPDX-License-Identifier: ISC */
/*
 * tls/apply: puts a listener's effective TLS settings (tls/policy.h) on an OpenSSL server
 * context: the protocol range, the TLS 1.2 cipher list (SSL_CTX_set_cipher_list, which
 * takes OpenSSL's names: IANA names are mapped here) and the TLS 1.3 suites
 * (SSL_CTX_set_ciphersuites: a separate call, the one other servers often forget, so a
 * TLS 1.3 setting would be silently ignored). Nothing below TLS 1.2 is ever enabled.
 *
 * Threads: any (it touches only the context given). Errors name the setting and the
 * value at fault.
 */
#ifndef TG_TLS_APPLY_H
#define TG_TLS_APPLY_H

#include "tls/policy.h"

#include <openssl/ssl.h>
#include <stddef.h>

/* Applies e to ctx. Returns 0, or -1 with err set (the context is then unusable: the
 * caller frees it): a protocol other than TLSv1.2/TLSv1.3, a suite name OpenSSL does not
 * know, or a list leaving no suite for an enabled protocol. */
int tls_apply(SSL_CTX *ctx, const struct tls_effective *e, char *err, size_t errlen);

/* The protocol range of a protocols value ("TLSv1.2,TLSv1.3"): TLS1_2_VERSION /
 * TLS1_3_VERSION in *min and *max. Returns 0, or -1 with err set. A range with a hole is
 * impossible with two versions; an empty list is an error. */
int tls_protocol_range(const char *list, int *min, int *max, char *err, size_t errlen);

/* Can a context that tls_apply set up handshake with a certificate of key's type? Every
 * enabled protocol must keep a suite the key can authenticate: any TLS 1.3 suite works
 * with an RSA or EC key; a TLS 1.2 suite names its authentication (ECDHE_ECDSA needs an
 * EC key, ECDHE_RSA an RSA key). Returns 0, or -1 with err naming the protocol and the
 * key type (every TLS 1.2 handshake would end in "no shared cipher"). Keys of other types
 * are not judged (0). */
int tls_key_fits(SSL_CTX *ctx, EVP_PKEY *key, char *err, size_t errlen);

#endif
