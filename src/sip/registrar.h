/*
 * registrar: the SIP registrar (RFC 3261 §10.3) over UDP, TCP and TLS — digest
 * authentication (digest.h) against provisioned HA1s, bindings in the store (a restart
 * keeps them until they expire), and device state for the CTI server: a device whose
 * first binding appears is in service, one whose last binding goes is out of service.
 *
 * Threads: every loop owns a UDP socket and TCP/TLS listeners on the same ports
 * (SO_REUSEPORT); parsing happens on the loop, store work (bindings, credentials) on the
 * worker pool. Ownership: the store, workers, loops and CTI server given at start must
 * outlive the registrar; stop it before the workers and loops, free it after.
 */
#ifndef TG_SIP_REGISTRAR_H
#define TG_SIP_REGISTRAR_H

#include "core/config.h"
#include "store/store.h"

#include <stddef.h>

struct loop_group;
struct workers;
struct cti_server;
struct sip_registrar;

struct sip_registrar_options {
	const struct tg_config *cfg; /* [sip] section, copied */
	store_t *store;
	struct workers *workers;
	struct loop_group *loops;
	struct cti_server *cti; /* may be NULL */
	const char *tls_cert, *tls_key;
};

struct sip_registrar *sip_registrar_start(const struct sip_registrar_options *o, char *err,
                                          size_t errlen);
void sip_registrar_stop(struct sip_registrar *r);
void sip_registrar_free(struct sip_registrar *r);

/* Removes every binding of the device (administrator's `unregister`); the device goes out
 * of service. Blocking (store): call from a worker. Returns the number removed or -1. */
int sip_registrar_unregister(struct sip_registrar *r, const char *device);

#endif
