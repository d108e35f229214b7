/* SPDX-License-Identifier: ISC */
/*
 * tickets: TLS session resumption by tickets (RFC 5077; TLS 1.3 stateless PSK) for server
 * contexts that do not ask for a client certificate (a context that verifies clients keeps
 * resumption off: tlsctx.c), so that a phone reconnecting its SIP TLS connection skips the
 * full handshake (its key exchange and signature). The ticket keys are random, in memory
 * only (a restart means full handshakes), shared by every such context of the process,
 * and rotate: a new key every TLS_TICKET_ROTATE_S; a ticket sealed with the previous key
 * still resumes and is replaced by a fresh one; older ones fall back to a full handshake.
 * So a stolen key opens at most two periods of tickets. One ticket per handshake.
 *
 * Threads: the callback runs on any thread (a mutex guards the keys). Ownership: none.
 */
#ifndef TG_TLS_TICKETS_H
#define TG_TLS_TICKETS_H

#include <openssl/ssl.h>
#include <stdint.h>

#define TLS_TICKET_ROTATE_S 3600

/* Turns tickets on for ctx with the rotating keys. Returns 0, or -1 (OpenSSL error). */
int tls_tickets_enable(SSL_CTX *ctx);

/* Forces a rotation now (tests: the previous key still resumes, the one before not). */
void tls_tickets_rotate(void);

#endif
