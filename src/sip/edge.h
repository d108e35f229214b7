/* SPDX-License-Identifier: ISC */
/*
 * edge: which edge proxies may connect to the edge listener (seed 002/003). An edge is
 * trusted when its client certificate chains to the edge trust store (OpenSSL checks
 * that) and its subject CN or one of its DNS SANs is in the allow-list
 * (expresswaycconfiguration, `telgate edge add`) or is a client identity set for the
 * listener's kind or interface (`telgate identity add kind=sip-edge NAME`, tls/trust.h:
 * the edge is one user of that mechanism). The list is held in memory so the check
 * in the handshake never touches the store; sip_edges_load() replaces it after a change.
 *
 * Thread-safe (a read-write lock). Ownership: the caller owns the struct sip_edges and
 * must keep it alive while any TLS context uses sip_edge_verify as its callback with the
 * struct as the context's app data.
 */
#ifndef TG_SIP_EDGE_H
#define TG_SIP_EDGE_H

#include "store/store.h"
#include "tls/level.h"

#include <openssl/x509.h>
#include <stddef.h>

#define SIP_EDGE_ID_MAX 255

struct sip_edges;

struct sip_edges *sip_edges_new(void);
void sip_edges_free(struct sip_edges *e);

/* Replaces the in-memory list with the store's. Blocking: call from a worker or at start.
 * Returns the number of identities, or -1 (the old list stays). */
int sip_edges_load(struct sip_edges *e, store_t *st);

/* The edge listener (its kind, address and port), whose client identities (tls/trust.h)
 * are allowed too. Without a call, only the edge table counts. */
void sip_edges_set_listener(struct sip_edges *e, const struct tls_listener_id *id);

/* 1 when identity (case-insensitive) is allow-listed, in the edge table or as a client
 * identity of the listener's levels (the trust snapshot as it is now). */
int sip_edges_allowed(struct sip_edges *e, const char *identity);

/* The certificate's first allow-listed identity (CN, then DNS SANs, in the certificate's
 * order) into out (lower case); returns 1, or 0 when none is listed. seen (may be NULL)
 * gets the names the certificate carries, comma-separated, for the log. Names with
 * embedded NULs or over SIP_EDGE_ID_MAX bytes are ignored. */
int sip_edge_cert_identity(struct sip_edges *e, X509 *cert, char *out, size_t cap, char *seen,
                           size_t seencap);

/* OpenSSL verify callback for the edge listener (tlsctx options .verify, .app = the
 * struct sip_edges): chain errors keep OpenSSL's alert (unknown_ca, certificate expired,
 * ...); a leaf with no allow-listed identity fails with bad_certificate. Each refusal is
 * logged once with the peer address and the reason. */
int sip_edge_verify(int preverify_ok, X509_STORE_CTX *x);

#endif
