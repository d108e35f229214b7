/* SPDX-License-Identifier: ISC */
/*
 * udp: datagrams that answer from the address they were sent to. With a listener bound
 * to a wildcard address (0.0.0.0 or ::) on a host with several addresses, a plain
 * sendto() leaves from whatever address the routing table picks, and a phone that sent to
 * another one drops the answer (SIP: RFC 3261 §18.2.2, the response is sent from the
 * address the request arrived on; TFTP: a transfer's TID is the address and port the
 * request was sent to, RFC 1350 §4). IP_PKTINFO / IPV6_PKTINFO tell each datagram's
 * destination on receipt and set the source on sending; the cost is one control message
 * per datagram.
 *
 * Threads: stateless; call on the loop that owns the socket. Ownership: the caller's.
 */
#ifndef TG_CORE_UDP_H
#define TG_CORE_UDP_H

#include <stddef.h>
#include <sys/socket.h>
#include <sys/types.h>

/* Asks the kernel for each datagram's destination address. Returns 0 or -errno. */
int udp_pktinfo_on(int fd);

/* Asks for a receive buffer of bytes (SO_RCVBUFFORCE, which passes net.core.rmem_max
 * while we are root; else SO_RCVBUF, capped by it). Best effort: the default (~200 KB,
 * ~90 small datagrams with the kernel's per-datagram overhead) drops a burst that
 * arrives while the loop is busy or descheduled for a few milliseconds. */
void udp_rcvbuf(int fd, int bytes);

/* One datagram into buf (cap bytes): its source in *from (length *fromlen), and the address it
 * was sent to in *local (*has_local 0 when the kernel gave none). Returns the length,
 * which may exceed cap when the datagram was cut (MSG_TRUNC), or -1 (errno; EAGAIN when
 * none is waiting). */
ssize_t udp_recv(int fd, char *buf, size_t cap, struct sockaddr_storage *from, socklen_t *fromlen,
                 struct sockaddr_storage *local, int *has_local);

/* One datagram of a batch (udp_recv_batch): the caller sets buf and cap, the call the rest. */
struct udp_msg {
	char *buf;  /* the caller's buffer for the datagram */
	size_t cap; /* its size */
	size_t len; /* the datagram's length, which may exceed cap when it was cut (MSG_TRUNC) */
	struct sockaddr_storage from; /* its source */
	socklen_t fromlen;
	struct sockaddr_storage local; /* the address it was sent to (port 0) */
	int has_local;                 /* 0 when the kernel gave none */
};

#define UDP_BATCH_MAX 32 /* datagrams one udp_recv_batch() reads at most */

/* Up to n (at most UDP_BATCH_MAX) waiting datagrams into m[0..] with one recvmmsg(): as
 * udp_recv() for each. Fewer than n returned means none more was waiting then, so the
 * caller need not read again to learn it (a read that would only say EAGAIN). Returns
 * how many (>= 1), or -1 (errno; EAGAIN when none is waiting). */
int udp_recv_batch(int fd, struct udp_msg *m, unsigned n);

/* Sends len bytes to `to`, from `local` when given (NULL: the kernel's choice). Returns
 * what sendmsg() returns; a full socket buffer drops the datagram (SIP retransmits). */
ssize_t udp_send(int fd, const char *buf, size_t len, const struct sockaddr *to, socklen_t tolen,
                 const struct sockaddr_storage *local);

/* One datagram of an outgoing batch (udp_send_batch): the caller owns buf. */
struct udp_out {
	const char *buf;
	size_t len;
	struct sockaddr_storage to;
	socklen_t tolen;
	struct sockaddr_storage local; /* the source address (port 0) when has_local */
	int has_local;
};

/* o[0..n) (n at most UDP_BATCH_MAX) with sendmmsg(): one system call for what udp_send()
 * would send in n. A datagram the kernel refuses (full socket buffer) is dropped, as
 * udp_send() drops it, and the rest still go. Returns how many were sent. */
unsigned udp_send_batch(int fd, const struct udp_out *o, unsigned n);

#endif
