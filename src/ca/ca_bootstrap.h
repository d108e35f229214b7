/* SPDX-License-Identifier: ISC */
/*
 * ca_bootstrap: on first start, telgate makes its own certificate authority (ECDSA P-256,
 * ten years) and a server certificate signed by it (for the node's names, localhost and
 * the loopback addresses), in the PKI directory. Later starts reuse them; a server
 * certificate that no longer verifies against the CA or expires within 30 days is
 * replaced. Private keys are written 0600, atomically (temporary file + rename).
 *
 * Blocking (key generation, signing): call at start-up or from the worker pool.
 */
#ifndef TG_CA_BOOTSTRAP_H
#define TG_CA_BOOTSTRAP_H

#include <stddef.h>

struct ca_bootstrap_result {
	int ca_created;
	int server_created;
	char ca_cert[300], server_cert[300], server_key[300];
	char ca_fingerprint[100]; /* SHA-256, colon-separated hex */
};

/* names: extra DNS names for the server certificate, comma-separated ("" for none). */
int ca_bootstrap(const char *dir, const char *node, const char *names, unsigned server_days,
                 struct ca_bootstrap_result *res, char *err, size_t errlen);

#endif
