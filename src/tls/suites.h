/* SPDX-License-Identifier: ISC */
/*
 * suites: an administrator's cipher-suite and protocol lists (issue 15, seed 004), parsed
 * with one error per item; the two strings OpenSSL takes, built from an ordered suite list;
 * and the default lists.
 *
 * Grammar. A suite list is IANA names (src/tls/iana.h) separated by commas, colons or white
 * space, in order of preference: "TLS_AES_128_GCM_SHA256, TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256".
 * A protocol list is "TLSv1.2" and/or "TLSv1.3" with the same separators (the seed's
 * spelling); TLSv1, TLSv1.1 and SSLv3 are refused: nothing below TLS 1.2 is ever offered
 * (the seed's cloud peer refuses it too). Text is at most TLS_LIST_TEXT_MAX bytes, a list
 * at most TLS_SUITES_MAX suites; a suite named twice is an error.
 *
 * A registry suite that this OpenSSL cannot offer (static ECDH, DHE_DSS, ...) is accepted in
 * a list and reported by tls_suites_build() as skipped, never dropped silently; the suites
 * refused by policy whatever the library (NULL, anonymous, export, signalling values) are
 * refused by the parser.
 *
 * Threads: all functions are thread-safe once tls_iana_init() has run (they run it).
 * Memory: every structure is the caller's; suite pointers are to static registry rows.
 */
#ifndef TG_TLS_SUITES_H
#define TG_TLS_SUITES_H

#include <stddef.h>

#include "tls/iana.h"

#define TLS_LIST_TEXT_MAX 4096
#define TLS_SUITES_MAX 64

/* An ordered list of registry suites, most preferred first. */
struct tls_suite_list {
	size_t n;
	const struct tls_suite *s[TLS_SUITES_MAX];
};

enum tls_list_err {
	TLS_LIST_OK = 0,
	TLS_LIST_EMPTY,        /* no item at all */
	TLS_LIST_TOO_LONG,     /* text longer than TLS_LIST_TEXT_MAX */
	TLS_LIST_TOO_MANY,     /* more than TLS_SUITES_MAX suites */
	TLS_LIST_UNKNOWN,      /* not an IANA cipher-suite name */
	TLS_LIST_OPENSSL_NAME, /* OpenSSL's name of a suite: suggest is its IANA name */
	TLS_LIST_NEAR_MISS,    /* not in the registry; suggest is the name plainly meant */
	TLS_LIST_REFUSED,      /* a registry suite refused by policy: see status */
	TLS_LIST_DUPLICATE,    /* named twice */
	TLS_LIST_BAD_PROTOCOL, /* not TLSv1.2 or TLSv1.3; suggest when one is plainly meant */
	TLS_LIST_OLD_PROTOCOL, /* TLSv1, TLSv1.1, SSLv3, SSLv2: below TLS 1.2 */
};

/* The first error of a list: which item (1-based, 0 for the whole list), as typed (cut to
 * fit, unprintable bytes as '?'), why, and what was plainly meant. */
struct tls_list_error {
	enum tls_list_err code;
	int item;
	char text[TLS_SUITE_NAME_MAX];
	const char *suggest;          /* registry name or protocol name, or NULL */
	enum tls_suite_status status; /* for TLS_LIST_REFUSED */
};

/* Parses a suite list into out. Returns 0, or -1 with *err filled (out then undefined). */
int tls_suites_parse(const char *text, struct tls_suite_list *out, struct tls_list_error *err);

/* Protocol bits. */
#define TLS_PROTO_TLS12 0x1u
#define TLS_PROTO_TLS13 0x2u
/* Parses a protocol list into a mask of TLS_PROTO_* bits. Returns 0, or -1 with *err. */
int tls_protocols_parse(const char *text, unsigned *mask, struct tls_list_error *err);

/* One line for an error, e.g. `item 1 "ECDHE-ECDSA-CHACHA20-POLY1305": an OpenSSL name;
 * cipher suites are named by their IANA names: use TLS_ECDHE_..._SHA256`. Returns the
 * length, or -1 when buf (cap bytes) was too small (buf then holds a cut copy). */
int tls_list_error_format(const struct tls_list_error *e, char *buf, size_t cap);

/* The strings for OpenSSL, from an ordered list. */
#define TLS_OPENSSL_STR_MAX 4096
struct tls_openssl_strings {
	/* TLS 1.2 suites by OpenSSL name for SSL_CTX_set_cipher_list, ':'-separated, in list
	 * order; "" when the list has none (SSL_CTX_set_cipher_list refuses "": then leave
	 * TLS 1.2 out of the protocols). */
	char cipher_list[TLS_OPENSSL_STR_MAX];
	/* TLS 1.3 suites (IANA name = OpenSSL name) for SSL_CTX_set_ciphersuites; "" disables
	 * TLS 1.3 suites. */
	char ciphersuites[TLS_OPENSSL_STR_MAX];
	/* Suites of the list this OpenSSL cannot offer, in list order (reason:
	 * tls_iana_avail). */
	size_t nskipped;
	const struct tls_suite *skipped[TLS_SUITES_MAX];
};
/* Returns the number of suites put in the strings (0: nothing offerable), or -1 when a
 * string did not fit (not possible within TLS_SUITES_MAX). */
int tls_suites_build(const struct tls_suite_list *l, struct tls_openssl_strings *out);

/* telgate's system default: TLS 1.2 + TLS 1.3, ECDHE + AEAD only (Mozilla "intermediate"
 * without its DHE suites); it replaces the seed's default list on purpose (docs/tls.md). */
#define TLS_PROTOCOLS_DEFAULT (TLS_PROTO_TLS12 | TLS_PROTO_TLS13)
void tls_suites_system_default(struct tls_suite_list *out);

/* A named profile: "bwks-default" is the 12 suites of a new BroadWorks install (seed 004,
 * in its order; six of them OpenSSL 3 cannot offer); "telgate-default" is the system
 * default. Returns 0, or -1 for an unknown name. */
int tls_suites_profile(const char *name, struct tls_suite_list *out);

#endif
