/* SPDX-License-Identifier: ISC */
/*
 * tls/level: where a TLS setting applies (issue 15; seed 004: "most general = System >
 * Transport > CTI Interfaces > CTI Interface = most specific"). Four levels, one grammar
 * for every command:
 *
 *   system                          every TLS listener of the node
 *   transport=sip|cti|http          every listener of one transport
 *   kind=NAME                       every listener of one kind (the seed's "all CTI
 *                                   interfaces" is kind=cti-interface)
 *   interface=KIND@ADDRESS:PORT     one listener (IPv6 addresses in brackets)
 *
 * The kinds and their transports are one table (tls_kinds): docs/tls.md lists the same.
 * The canonical text of a level (tls_level_format) is what the store keeps, so "kind=
 * SIP-TLS" and "kind=sip-tls" are one level.
 *
 * Pure functions and constant data: any thread. Ownership: plain values.
 */
#ifndef TG_TLS_LEVEL_H
#define TG_TLS_LEVEL_H

#include <stddef.h>

enum tls_level_type {
	TLS_LEVEL_SYSTEM = 0,
	TLS_LEVEL_TRANSPORT,
	TLS_LEVEL_KIND,
	TLS_LEVEL_INTERFACE,
};
#define TLS_LEVELS 4

#define TLS_LEVEL_MAX 128 /* bytes of a level's text, NUL included */

struct tls_level {
	enum tls_level_type type;
	char value[TLS_LEVEL_MAX]; /* "", "sip", "sip-tls", "sip-tls@0.0.0.0:5061" */
};

/* A kind of TLS listener and its transport. */
struct tls_kind {
	const char *kind;      /* "sip-tls" */
	const char *transport; /* "sip" */
	const char *listeners; /* what it covers, for docs and errors */
};
extern const struct tls_kind tls_kinds[];
extern const size_t tls_nkinds;
/* The kind's row, or NULL when unknown (exact, lower case). */
const struct tls_kind *tls_kind_find(const char *kind);

/* One listener: its kind, bound address and port. */
struct tls_listener_id {
	const char *kind;    /* a tls_kinds[] name */
	const char *address; /* as bound: "0.0.0.0", "127.0.0.1", "::"; or a listen list
	                      * ("127.0.0.1, ::1"), named by its first address */
	int port;
};

/* Parses a level (ASCII case-insensitive keywords and kinds; the address as written).
 * Returns 0, or -1 with err saying what is wrong and what is accepted. */
int tls_level_parse(const char *s, struct tls_level *out, char *err, size_t errlen);
/* The canonical text: "system", "transport=sip", "kind=sip-tls",
 * "interface=sip-tls@127.0.0.1:5061". */
void tls_level_format(const struct tls_level *l, char *out, size_t cap);
/* The four levels a listener reads, most specific first: interface, kind, transport,
 * system (canonical texts into out[0..3], each TLS_LEVEL_MAX bytes). Returns 0, or -1
 * when the kind is unknown. */
int tls_levels_of(const struct tls_listener_id *id, char out[TLS_LEVELS][TLS_LEVEL_MAX]);
/* "interface", "kind", "transport", "system". */
const char *tls_level_type_name(enum tls_level_type t);

#endif
