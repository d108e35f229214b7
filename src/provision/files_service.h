/* SPDX-License-Identifier: ISC */
/*
 * files_service: the device-file service of a node (seed 001's trust list, seed 002's
 * cnf.xml): one registry of providers (provision/files.h) and the listeners that serve
 * it, HTTP on [files] http_port, HTTPS on https_port (server-authenticated, the TLS
 * policy of kind https) and TFTP on tftp_port. Providers, in the order asked:
 * generated files (<DEVICE>.cnf.xml, XMLDefault.cnf.xml: provision/cnf.h), the trust
 * lists (ITLFile.tlv, CTLFile.tlv, ITLSEP<MAC>.tlv, CTLCAPF<hex>.tlv: ca/tl_provider.h),
 * the CRL (telgate.crl: ca/ca_crl.h), the static directory ([files] dir) when set, and
 * last X.sgn for any of them (signed with the trust-list key). What the store and the
 * CA say wins over a file of the same name left in the directory; a vendor-signed .sgn
 * in the directory wins over telgate's signature.
 *
 * Threads: start and stop from the main thread; the registry is read by every loop.
 * Ownership: the caller's config, store and loops outlive the service.
 */
#ifndef TG_PROVISION_FILES_SERVICE_H
#define TG_PROVISION_FILES_SERVICE_H

#include "store/store.h"

#include <stddef.h>

struct files_service;
struct files_registry;
struct loop_group;
struct tftp_server;
struct tg_config;

/* Builds the registry and starts the listeners the config turns on. Returns NULL with err
 * set when the static directory cannot be opened or a port cannot be bound. */
struct signer;
struct authz;
struct files_service_options {
	const struct tg_config *cfg;
	store_t *store;
	struct signer *signer; /* trust lists and signed files (ca/signer.h); NULL: neither */
	struct loop_group *loops;
	const char *tls_cert, *tls_key; /* the node's server certificate, for HTTPS */
	/* The token service: a SIP OAuth device's cnf.xml on HTTPS needs a token it verifies
	 * (provision/cnf_guard.h); NULL: such files are refused there (401). */
	struct authz *authz;
};
struct files_service *files_service_start(const struct files_service_options *o, char *err,
                                          size_t errlen);
/* The registry (for `telgate show config` and tests). */
struct files_registry *files_service_registry(struct files_service *s);
/* The TFTP server (for `telgate show tftp` and the metrics), NULL when tftp_port is 0. */
struct tftp_server *files_service_tftp(struct files_service *s);
/* Stops the listeners and frees the registry. NULL is a no-op. Before the loops stop. */
void files_service_stop(struct files_service *s);

#endif
