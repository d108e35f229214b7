/* SPDX-License-Identifier: ISC */
/*
 * iana: cipher suites by their IANA names (issue 15, seed 004). The name table is the IANA
 * TLS Cipher Suites registry (tls-parameters-4: a 2-byte code point and a name per row,
 * RFC 5246 A.5, RFC 8446 B.4; src/tls/iana_suites.inc says where the copy came from).
 * Administrators name suites only by these names; OpenSSL's own names
 * (ECDHE-ECDSA-CHACHA20-POLY1305) are recognised only to say which IANA name is meant.
 *
 * What this OpenSSL can offer is asked once, at tls_iana_init(), from a temporary SSL_CTX
 * with every cipher ("ALL:COMPLEMENTOFALL", security level 0, all TLS 1.3 suites):
 * SSL_CIPHER_find() by code point says whether libssl knows the suite, SSL_CTX_get_ciphers()
 * whether its algorithms are loaded. The answers are kept in a table; the context is freed.
 *
 * Threads: thread-safe. tls_iana_init() builds the table once (pthread_once) and every
 * function that reads it calls tls_iana_init() first, so calling it at start-up only moves
 * the cost (one SSL_CTX: 1.6-1.8 ms measured on the dev machine) out of the first administrator
 * command; after that the table is only read. The lookups by name and code and the policy
 * predicates need no OpenSSL. Memory: every returned pointer is to static data, valid for the
 * process.
 */
#ifndef TG_TLS_IANA_H
#define TG_TLS_IANA_H

#include <stddef.h>
#include <stdint.h>

/* A registry row. */
struct tls_suite {
	uint16_t code;    /* code point, first byte << 8 | second byte */
	const char *name; /* IANA name, e.g. "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256" */
};

/* Longest IANA name in the registry is below this (with its NUL). */
#define TLS_SUITE_NAME_MAX 64

/* Builds the availability table from this process's OpenSSL. Returns 0, or -1 when OpenSSL
 * could not make a context (then every suite reads as not in OpenSSL). */
int tls_iana_init(void);

/* The registry: n rows by code point; row i for i < tls_iana_count(). */
size_t tls_iana_count(void);
const struct tls_suite *tls_iana_at(size_t i);

/* Exact, case-sensitive lookup as the registry spells it; NULL when absent. */
const struct tls_suite *tls_iana_by_name(const char *name);
/* Lookup by code point; NULL when the registry has no such row. */
const struct tls_suite *tls_iana_by_code(uint16_t code);

/* What a name that an administrator typed is. */
enum tls_name_kind {
	TLS_NAME_IANA = 0,  /* a registry name, exactly */
	TLS_NAME_OPENSSL,   /* OpenSSL's name of a registry suite (needs tls_iana_init) */
	TLS_NAME_NEAR_MISS, /* not in the registry but one registry name is plainly meant:
	                     * other letter case, or without the MAC/PRF hash suffix (the
	                     * seed's TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305 for ..._SHA256) */
	TLS_NAME_UNKNOWN,   /* none of these */
};

/* Classifies name; *suite (may be NULL) gets the registry row meant, or NULL when unknown. */
enum tls_name_kind tls_iana_resolve(const char *name, const struct tls_suite **suite);

/* Whether this OpenSSL can offer a suite, and if not, why. The reasons come from the
 * suite's name parts (key exchange, authentication, cipher) and from OpenSSL's answer;
 * the first that applies is given, in this order: SCSV, NULL, ANON, EXPORT, then NEEDS_PSK
 * and NEEDS_SRP (credentials telgate never has, compiled in or not), then STATIC_DH ...
 * NOT_LOADED (OpenSSL's answer), then NEEDS_DSA_CERT. */
enum tls_suite_status {
	TLS_SUITE_OFFERABLE = 0,
	TLS_SUITE_SCSV,           /* a signalling value (RFC 5746, RFC 7507), not a suite */
	TLS_SUITE_NULL_CIPHER,    /* NULL encryption (also RFC 9150's integrity-only TLS 1.3
	                           * suites): refused by policy */
	TLS_SUITE_ANON,           /* anonymous key exchange, no authentication: refused */
	TLS_SUITE_EXPORT,         /* export grade (40/56-bit): refused by policy */
	TLS_SUITE_STATIC_DH,      /* static ECDH_ / DH_ key exchange: removed in OpenSSL 1.1.0 */
	TLS_SUITE_KRB5,           /* Kerberos key exchange (RFC 2712): never in OpenSSL 3 */
	TLS_SUITE_RC4,            /* RC4: prohibited by RFC 7465, not in this OpenSSL */
	TLS_SUITE_NOT_COMPILED,   /* libssl does not know the code point */
	TLS_SUITE_NOT_LOADED,     /* libssl knows it, but its algorithm is not in the loaded
	                           * providers (DES, IDEA, SEED, RC2: the legacy provider;
	                           * GOST 0xC1,0x00-02: the GOST engine) */
	TLS_SUITE_NEEDS_DSA_CERT, /* _DSS_: needs a DSA server certificate (telgate's are RSA
	                           * or ECDSA; TLS 1.3 has no DSA) */
	TLS_SUITE_NEEDS_PSK,      /* pre-shared keys (RFC 4279): telgate authenticates by
	                           * certificate */
	TLS_SUITE_NEEDS_SRP,      /* SRP passwords (RFC 5054): not used by telgate */
};

/* One line of text for a status ("static ECDH/DH key exchange (removed in OpenSSL 1.1.0)"). */
const char *tls_suite_status_text(enum tls_suite_status s);

/* Availability of a registry suite, from the table tls_iana_init() built. */
struct tls_suite_avail {
	enum tls_suite_status status;
	int tls13;                /* 1: a TLS 1.3 suite (0x13,*: SSL_CTX_set_ciphersuites, IANA
	                           * name); 0: TLS 1.2 (SSL_CTX_set_cipher_list, OpenSSL name) */
	const char *openssl_name; /* OpenSSL's name, or NULL when libssl does not know it */
};
void tls_iana_avail(const struct tls_suite *s, struct tls_suite_avail *out);

/* 1 for a TLS 1.3 suite: code points 0x13,* (RFC 8446 B.4) and the TLS 1.3 suites
 * registered elsewhere (RFC 8998 0x00,0xC6-C7; RFC 9150 0xC0,0xB4-B5; RFC 9367 0xC1,0x03-06). */
int tls_suite_is_tls13(const struct tls_suite *s);

/* Policy predicates, from the name (pure). Forward secrecy: TLS 1.3, or an ECDHE_/DHE_ key
 * exchange (not _PSK: a PSK suite is only as secret as the key). AEAD: TLS 1.3 (but not
 * RFC 9150's integrity-only suites), or a GCM, CCM or ChaCha20-Poly1305 cipher. telgate's system
 * default admits a suite only when it is ECDHE (or TLS 1.3) + AEAD, with an RSA or ECDSA
 * certificate: tls_suite_ecdhe_aead(). */
int tls_suite_forward_secret(const struct tls_suite *s);
int tls_suite_aead(const struct tls_suite *s);
int tls_suite_ecdhe_aead(const struct tls_suite *s);

#endif
