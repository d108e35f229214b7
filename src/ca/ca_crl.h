/* SPDX-License-Identifier: ISC */
/*
 * ca_crl: revocation and the certificate revocation list of telgate's CA (issue 17;
 * docs/ca.md). A revocation marks the certificate's row in the issued-certificates table
 * and takes the next CRL number in one transaction, then the CRL is reissued at once and
 * written to <pki.dir>/crl.der and crl.pem (each replaced atomically), which the file
 * service serves as `telgate.crl` over HTTP and TFTP (ca_crl_files_provider).
 *
 * The CRL (RFC 5280 §5): version 2; issuer and signature from the CA (the signer, ca/
 * signer.h); thisUpdate = now, nextUpdate = now + pki.crl_days; extensions cRLNumber
 * (§5.2.3) and authorityKeyIdentifier (§5.2.1: the CA's subjectKeyIdentifier); one entry
 * per revoked certificate that has not expired, with its revocation date and a reasonCode
 * (§5.3.1; absent for `unspecified`, as §5.3.1 recommends). It is also reissued, with a
 * new number, when half of its lifetime has passed (ca_crl_refresh, from the daemon's
 * timer), so relying parties never hold one past its nextUpdate.
 *
 * Threads: blocking (the signer, the store, the file system): worker threads or start-up.
 * Issuing is serialised inside the module, so a CRL on disk is never replaced by an
 * older one.
 */
#ifndef TG_CA_CRL_H
#define TG_CA_CRL_H

#include "ca/signer.h"
#include "provision/files.h"
#include "store/store.h"

#include <stddef.h>
#include <stdint.h>

#define CA_CRL_FILE "crl.der"     /* in pki.dir; crl.pem beside it */
#define CA_CRL_NAME "telgate.crl" /* the name the file service serves it under */
#define CA_CRL_DAYS_DEFAULT 7

/* The reasons an administrator may give (RFC 5280 §5.3.1, by name): unspecified,
 * keyCompromise, cACompromise, affiliationChanged, superseded, cessationOfOperation,
 * certificateHold, privilegeWithdrawn. removeFromCRL (delta CRLs only) and aACompromise
 * (attribute certificates) do not apply. Returns the CRLReason code, or -1. */
int ca_crl_reason_parse(const char *name);
/* The names above, comma-separated, for usage messages. */
const char *ca_crl_reason_list(void);

/* Where the CRL lives and how long each one is valid. */
struct ca_crl_cfg {
	const char *dir; /* pki.dir */
	unsigned days;   /* pki.crl_days, 1..365 */
};

/* Outcomes of ca_revoke beyond 0 (revoked, CRL reissued) and -errno. */
#define CA_REVOKED_CRL_STALE 1 /* revoked in the store, but the CRL could not be reissued */

/* Revokes one certificate (serial: any spelling ca_serial_normalize takes; reason: a name
 * above) at now (Unix s; 0 = the clock) and reissues the CRL. Returns 0; -EINVAL for a
 * serial or reason that is not one (err says which); -ENOENT no such certificate; -EALREADY
 * it is already revoked (the first revocation stands); -EAGAIN the signer is not running
 * (s NULL included: nothing was changed, as a revocation nobody can see would be
 * misleading); -EIO the store failed; CA_REVOKED_CRL_STALE when the signer failed after
 * the revocation was committed (err says so; ca_crl_refresh reissues it later). */
int ca_revoke(store_t *st, struct signer *s, const struct ca_crl_cfg *cfg, const char *serial,
              const char *reason, int64_t now, const char *cid, char *err, size_t errlen);

/* Reissues the CRL when it is due: there is none on disk, or it cannot be read, or its
 * number is below the store's (a revocation whose CRL was not written), or half of its
 * lifetime has passed at now (0 = the clock). Returns 0 when nothing was due, 1 when a new
 * CRL (with a new number) was written, or -errno (err says why: -EAGAIN the signer is not
 * running, -EIO the store or the file system). For the daemon's timer (hourly is plenty). */
int ca_crl_refresh(store_t *st, struct signer *s, const struct ca_crl_cfg *cfg, int64_t now,
                   const char *cid, char *err, size_t errlen);

/* A file-service provider (provision/files.h) of `telgate.crl` (DER, application/pkix-crl)
 * from <dir>/crl.der, re-read when the file changed (checked by inode, size and time at
 * each request: one stat). Before the first CRL is written the name is not found.
 * Returns 0 and fills *p, -ENOMEM, or -ENAMETOOLONG; dir is copied. */
int ca_crl_files_provider(const char *dir, struct files_provider *p);

#endif
