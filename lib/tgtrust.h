/* SPDX-License-Identifier: ISC */
/*
 * tgtrust: the client's side of the certificate trust list (seed 001: fetch CTL*.tlv,
 * verify it, then enrol): fetch it over TFTP (tgtftp.h) or HTTP (tghttp.h), verify it with
 * telgate's own verifier (ca/trustlist.h, tl_verify: on first use the signer's
 * certificate must match the administrator's pin, later it must be a SAST of the list the
 * client holds, and a list older than that one is refused), and turn its CAPF records
 * (telgate's CA) into the trust store that authenticates the EST server.
 *
 * Threads: any. Ownership: fetched bytes are malloc'ed (caller frees); a tl_list points
 * into the bytes it was parsed from; the X509_STORE is the caller's (X509_STORE_free).
 * Errors: -1 with err.
 */
#ifndef TGTRUST_H
#define TGTRUST_H

#include "ca/trustlist.h"

#include <openssl/x509.h>
#include <stddef.h>

#define TGTRUST_PIN_LEN 32 /* SHA-256 */

struct tgtrust_src {
	const char *host;
	int tftp_port;    /* used when http_port is 0; 69 when 0 */
	int http_port;    /* > 0: fetch over HTTP (the file service's 6970) instead */
	const char *file; /* e.g. "CTLFile.tlv" */
	int timeout_ms;   /* TFTP: per packet; HTTP: the exchange */
};

/* Fetches the list (at most TL_FILE_MAX bytes) into *buf / *len. */
int tgtrust_fetch(const struct tgtrust_src *s, unsigned char **buf, size_t *len, char *err,
                  size_t errlen);

/* Reads "sha256:HEX" (64 hex digits, colons between bytes allowed; the "sha256:" prefix
 * optional) into pin. 0 or -1. */
int tgtrust_parse_pin(const char *s, unsigned char pin[TGTRUST_PIN_LEN]);

/* Verifies buf against what the client trusts: prev (the list it holds, prevlen bytes;
 * NULL on first use) and/or pin (NULL when none). Returns the verdict (TL_OK or why not)
 * with err set to a sentence for the user; *l is filled when TL_OK, *signer (may be NULL)
 * gets the signing record's index. A prev that does not parse is refused (TL_BAD_FORMAT,
 * "the trust list held ... is unreadable"). */
enum tl_verdict tgtrust_verify(const unsigned char *buf, size_t len, const unsigned char *prev,
                               size_t prevlen, const unsigned char *pin, struct tl_list *l,
                               size_t *signer, char *err, size_t errlen);

/* A trust store of the list's CAPF records (the CA that issues client certificates and
 * the EST server's certificate), with *n the number of certificates; NULL with err when
 * the list has none. */
X509_STORE *tgtrust_ca_store(const struct tl_list *l, int *n, char *err, size_t errlen);

/* The same certificates as PEM text (malloc'ed, NUL-terminated), to write as ca.pem for
 * the CTI login (tgcti_opts.ca_file). NULL when none or out of memory. */
char *tgtrust_ca_pem(const struct tl_list *l);

#endif
