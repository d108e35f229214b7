/* SPDX-License-Identifier: ISC */
/*
 * tls/policy: the TLS settings of every listener, by level (tls/level.h), and what a
 * listener ends up with. A setting set at a more specific level wins over a more general
 * one (seed 004: interface > kind > transport > system); a setting set nowhere takes
 * telgate's default. Settings (names as the CLI and the store spell them):
 *
 *   protocols       TLSv1.2, TLSv1.3 (an ordered list)
 *   ciphers-tls12   TLS 1.2 cipher suites, IANA names, in preference order
 *   ciphers-tls13   TLS 1.3 cipher suites, IANA names (OpenSSL's SSL_CTX_set_ciphersuites:
 *                   separate from the TLS 1.2 list, and inherited separately)
 *   allowClientApp  "true" or "false" (default): the seed's switch for certificate
 *                   authentication of client applications. A listener that does not
 *                   require client certificates by itself asks for one (optional) when it
 *                   is true and trust anchors exist at its kind or interface level
 *                   (tls/trust.h); a listener that requires them keeps requiring them.
 *
 * Each setting is inherited on its own: an interface that sets only its TLS 1.3 suites
 * keeps the TLS 1.2 suites of its kind.
 *
 * The settings live in the store (tlssetting rows, so a cluster shares them); the
 * daemon keeps a snapshot (tls/store.h: tls_policy_load at start and after an admin
 * change, tls_policy_refresh when the store generation moves, e.g. by a cluster peer's
 * write) that TLS contexts read when they are built.
 *
 * Threads: tls_resolve is pure. The snapshot functions are thread-safe (a mutex; loads
 * are rare: start, an admin change, a cluster peer's change). Ownership: rows passed in
 * are copied.
 */
#ifndef TG_TLS_POLICY_H
#define TG_TLS_POLICY_H

#include "tls/level.h"

#include <stddef.h>

enum tls_setting {
	TLS_SET_PROTOCOLS = 0,
	TLS_SET_CIPHERS12,
	TLS_SET_CIPHERS13,
	TLS_SET_ALLOW_CLIENT_APP,
};
#define TLS_SETTINGS 4
#define TLS_VALUE_MAX 2048 /* bytes of a setting's value (a list of IANA names) */

/* "protocols", "ciphers-tls12", "ciphers-tls13", "allowClientApp". */
const char *tls_setting_name(enum tls_setting s);
/* The setting of that name (ASCII case-insensitive); -1 when unknown. */
int tls_setting_parse(const char *name, enum tls_setting *out);

/* One stored setting: level (canonical text), setting name, value. */
struct tls_row {
	const char *level, *name, *value;
};

/* What a listener gets: each setting's value and where it came from. */
struct tls_effective {
	struct {
		char value[TLS_VALUE_MAX];
		char source[TLS_LEVEL_MAX]; /* a level's text, or "default" */
	} s[TLS_SETTINGS];
};

/* Resolves id's settings from rows (in any order; a row of an unknown setting is
 * ignored) over defaults (one value per setting). Returns 0, or -1 when id's kind is
 * unknown. */
int tls_resolve(const struct tls_row *rows, size_t n, const struct tls_listener_id *id,
                const char *const defaults[TLS_SETTINGS], struct tls_effective *out);

/* The stored form of a suite list: its TLS 1.2 and its TLS 1.3 suites as two
 * comma-separated lists of IANA names, in list order (each out is TLS_VALUE_MAX bytes;
 * "" when the list has none of that version). */
struct tls_suite_list;
void tls_suites_split(const struct tls_suite_list *l, char out12[TLS_VALUE_MAX],
                      char out13[TLS_VALUE_MAX]);

/* --- the daemon's snapshot ----------------------------------------------------------- */

/* Replaces the snapshot with a copy of rows. Returns 0, or -1 when out of memory (the old
 * snapshot stays). */
int tls_policy_set_rows(const struct tls_row *rows, size_t n);
/* Sets the defaults the snapshot resolves over (copied; NULL entries: telgate's own).
 * Without a call, telgate's own: TLSv1.2 and TLSv1.3, the ECDHE + AEAD suites of
 * tls_suites_system_default(), allowClientApp false. */
void tls_policy_set_defaults(const char *const defaults[TLS_SETTINGS]);
/* The defaults in use (pointers valid until the next tls_policy_set_defaults: the daemon
 * sets them once, at start). */
void tls_policy_defaults(const char *out[TLS_SETTINGS]);
/* tls_resolve over the snapshot. */
int tls_policy_effective(const struct tls_listener_id *id, struct tls_effective *out);
/* Bumped by every tls_policy_set_rows / tls_policy_set_defaults: a context built under
 * an older generation is rebuilt by tlsctx_check. */
unsigned long tls_policy_generation(void);
/* Frees the snapshot (at exit). */
void tls_policy_clear(void);

#endif
