/* SPDX-License-Identifier: ISC */
/*
 * signer_wire: sends and receives signer messages (ca/signer_proto.h) as records over a
 * blocking SOCK_SEQPACKET socket. Used by the signer process and by the remote client.
 *
 * Threads: a sender must hold whatever lock keeps its records contiguous (the remote client's
 * write mutex); one receiver per socket. Errors: negative errno; 0 from signer_wire_recv is
 * the peer's end (EOF).
 */
#ifndef TG_CA_SIGNER_WIRE_H
#define TG_CA_SIGNER_WIRE_H

#include "ca/signer_proto.h"

#include <stddef.h>

/* Sends a whole message (len bytes) in records. Returns 0 or -errno (-EPIPE: no peer). */
int signer_wire_send(int fd, const unsigned char *msg, size_t len);

/* Reads records until a message is complete: returns 1 with the message in rx->buf
 * (rx->have bytes), 0 at EOF, -errno on a socket error. Malformed records are skipped
 * (*dropped counts them when not NULL). */
int signer_wire_recv(int fd, struct signer_rx *rx, unsigned *dropped);

#endif
