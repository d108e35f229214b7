/* SPDX-License-Identifier: ISC */
/*
 * tl_provider: the trust-list files for the file service (provision/files.h), over TFTP
 * and HTTP: ITLFile.tlv, CTLFile.tlv, ITLSEP<MAC>.tlv (any 12 hex digits: the ITL's
 * bytes) and CTLCAPF<hex>.tlv (1 to 16 hex digits, the seed-001 name a CTI client asks
 * for: the CTL's bytes). docs/trust-list.md says what is listed, with which role.
 *
 * The lists are signed ahead of time and kept as blobs: a lookup takes a mutex and a
 * reference, never a signature. A thread of the provider's own checks every check_s
 * seconds whether a listed certificate changed (the CA, the node's server certificate and,
 * in a cluster, every node's from the store, pki.dir/interfaces/<name>/cert.pem, the
 * trust-list and recovery signers' certificates as the signer reports them) and then
 * rebuilds and re-signs both lists through the signer, bumping the sequence kept in
 * pki.dir/trustlist.state (docs/trust-list.md, "Sequence"); the old lists are served until
 * the new ones are ready.
 *
 * Threads: lookup from any thread; the checker thread blocks on the signer (a worker-
 * like thread: signer.h allows it). Ownership: the provider keeps the signer pointer (the
 * caller frees the signer after files_registry_free) and copies the strings.
 */
#ifndef TG_CA_TL_PROVIDER_H
#define TG_CA_TL_PROVIDER_H

#include "ca/signer.h"
#include "provision/files.h"
#include "store/store.h"

struct tl_provider_opts {
	const char *pki_dir; /* ca.crt, server.crt, interfaces/, trustlist.state */
	const char *node;    /* DNS name written in the server certificate's record; may be NULL */
	struct signer *signer;
	/* NULL, or the store whose nodecertificate rows (every node's TLS server certificate,
	 * ca/ca_cluster.h; issue 21) are listed too, with the CCM role; must outlive the
	 * provider */
	store_t *store;
	unsigned check_s; /* seconds between checks for changed certificates; 0 = 10 */
};

/* Builds and signs the lists now (blocking: call at start-up), starts the checker and
 * fills *fp. A signer that does not answer yet (-EAGAIN: it is starting) is not an error:
 * the checker then tries every second until the lists are built, and lookups fail with
 * -EIO meanwhile. Returns 0, or -errno with err set: -ENOENT when the signer holds no
 * trust-list or recovery key, -EINVAL when a listed certificate cannot be read. */
int tl_provider(const struct tl_provider_opts *o, struct files_provider *fp, char *err,
                size_t errlen);

/* Checks for changed certificates and rebuilds now (what the checker thread does every
 * check_s seconds): for tests and for `telgate` commands that change a certificate.
 * arg is the provider's fp->arg. Returns 1 when new lists were made, 0 when nothing
 * changed, or -errno (the lists served stay as they were). Blocking. */
int tl_provider_refresh(void *arg);

/* The sequence of the lists served now (0 before the first build). */
uint32_t tl_provider_sequence(void *arg);

/* Is name one of the trust-list names (1) or not (0); *ctl gets 1 for the CTL names. */
int tl_provider_name(const char *name, int *ctl);

/*
 * Signed configuration files: answers "X.sgn" by asking reg for X (any provider: cnf.xml,
 * static files) and serving X behind a .sgn header signed with the trust-list key (the
 * TFTP-role certificate of the list; docs/trust-list.md, "Signed files"), SHA-512. Signed
 * files are cached by name and the inner blob's ETag, so a file is signed once per
 * content; the header's timestamp is the inner blob's Last-Modified, so the same content
 * signs to the same bytes (and ETag) after a restart. Names ending in ".sgn.sgn" and
 * inner files above what the format carries (TL_FILE_MAX with the header) are not
 * answered (-ENOENT).
 *
 * Register it last, after the static directory, so that a vendor-signed X.sgn file in
 * the directory (firmware) is served as it is.
 *
 * Cost: a lookup whose (name, ETag) is cached takes a mutex and a reference. A miss
 * blocks the calling thread for one signature through the signer (an RSA-3072 signature,
 * about 2 ms, plus the signer's queue), so the first fetch of each changed file costs a
 * loop that long; the signer fails at once (-EAGAIN -> HTTP 500 / TFTP error 0, the phone
 * retries) when it is restarting. reg and s must outlive the provider (reg owns it).
 */
int tl_sgn_provider(struct files_registry *reg, struct signer *s, struct files_provider *fp);

#endif
