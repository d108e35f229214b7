/* SPDX-License-Identifier: ISC */
/*
 * tgenrol: the seed-001 client flow in one call, for `telgate-cti enrol` and
 * `telgate-cti trust-list`: fetch the trust list (TFTP by default, HTTP on request;
 * tgtrust.h), verify it against the list held in the output directory or, on first use,
 * the administrator's pin, keep it there for next time, then enrol over EST (tgest.h)
 * against the CA the list names, and write the key and the certificate.
 *
 * The output directory (created 0700 when missing) holds:
 *   trustlist.tlv  the last verified list: what the next fetch is verified against
 *   ca.pem         its CAPF certificates (telgate's CA), for --ca of the CTI login
 *   key.pem        the private key (PKCS#8 PEM, mode 0600)
 *   cert.pem       the certificate issued (PEM, mode 0644)
 * Every file is written to a temporary name in the directory, synced and renamed, so a
 * reader sees the old file or the new one; the key is never readable by others, not
 * even for a moment (the temporary file is made 0600).
 *
 * Threads: any (blocking). Ownership: the caller's strings are not kept; the secret is
 * not copied beyond the EST request, which is wiped.
 */
#ifndef TGENROL_H
#define TGENROL_H

#include <stddef.h>
#include <stdint.h>

enum tgenrol_result {
	TGENROL_OK = 0,
	TGENROL_REFUSED = 1, /* trust list refused, or the EST server said no (4xx) */
	TGENROL_FAILED = 2,  /* could not talk to the server, or could not write DIR */
};

/* telgated's EST listener ([est] port), not RFC 7030's 443: the client of telgate's own
 * enrolment defaults to where telgate listens. */
#define TGENROL_EST_PORT 8443

struct tgenrol_opts {
	const char *server;       /* host name or address of telgate */
	const char *server_name;  /* name the EST certificate must carry; server when NULL */
	int tftp_port;            /* 69 when 0 */
	int http_port;            /* > 0: fetch the list over HTTP on this port instead */
	int est_port;             /* TGENROL_EST_PORT when 0 */
	const char *trust_file;   /* the list's name; "CTLFile.tlv" when NULL */
	const unsigned char *pin; /* 32 bytes, SHA-256 of the signer's certificate; NULL */
	const char *out_dir;
	const char *instance_id;
	const char *secret; /* the authentication string (not NUL-terminated: secretlen) */
	size_t secretlen;
	const char *key_type; /* tgest_keygen's names; NULL = ec-p256 */
	int timeout_ms;       /* per exchange; 0 = the modules' defaults */
	int max_wait_s;       /* on 202 Accepted; 0 = 300 */
};

struct tgenrol_info {
	/* the trust list */
	uint32_t tl_sequence;
	int tl_first_use;    /* verified with the pin, not a list held from before */
	char tl_signer[256]; /* the signer's subject as the list names it */
	size_t tl_records;
	char tl_path[512]; /* DIR/trustlist.tlv, where the verified list was kept */
	/* the certificate (empty before enrolment) */
	char serial[80];   /* hex, upper case */
	char subject[256]; /* RFC 2253 */
	char issuer[256];
	char not_after[32]; /* ISO 8601 UTC */
	char cert_path[512], key_path[512], ca_path[512];
};

/* Fetches, verifies and keeps the trust list (ca.pem too). TGENROL_OK with info's trust
 * list part, or why not with err. */
enum tgenrol_result tgenrol_trust(const struct tgenrol_opts *o, struct tgenrol_info *info,
                                  char *err, size_t errlen);

/* tgenrol_trust, then the enrolment; on TGENROL_OK, info describes the certificate. */
enum tgenrol_result tgenrol_run(const struct tgenrol_opts *o, struct tgenrol_info *info, char *err,
                                size_t errlen);

#endif
