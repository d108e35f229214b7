/* SPDX-License-Identifier: ISC */
/*
 * tftp: the TFTP server of the device-file service (issue 16; docs/device-files.md,
 * "TFTP"): read requests for the files of a files_registry (provision/files.h), served on
 * the event loops. No thread or process per transfer.
 *
 * Every loop owns one SO_REUSEPORT socket on files.address:tftp_port (IP_PKTINFO on, so a
 * wildcard bind learns the address each request was sent to) and the transfers it
 * accepted. A transfer is a UDP socket bound to that address with port 0 (its TID,
 * RFC 1350 §4), taken from the loop's pool of such sockets (already bound, their read
 * events already registered: no socket, bind, epoll_ctl or close per transfer; at most
 * 256 idle per loop, a socket not handed back to the peer it last served within 200 ms),
 * a timer on the loop, and a reference to the file's blob; its DATA packets are sent with
 * sendmmsg() straight from the blob (a 4-byte header and a slice of the blob per packet:
 * no copy, no allocation per packet). The socket is not connected, so a datagram from
 * another address or port reaches it and is answered with ERROR 5 (RFC 1350 §4) without
 * disturbing the transfer; so is one reaching an idle socket of the pool.
 *
 * Reliability: a window (RFC 7440; 1 block without the option) is sent, then the timer
 * (files.tftp_timeout_ms, or the client's RFC 2349 timeout) resends it, doubling per
 * retry, up to files.tftp_retries; files.tftp_deadline_s ends any transfer. Only the timer
 * resends: an ACK for a block already acknowledged is ignored (RFC 1123 §4.2.3.1, the
 * Sorcerer's Apprentice), an ACK inside the window restarts the window after it (RFC 7440
 * §4). Block numbers roll over from 65535 to 0.
 *
 * Caps: files.tftp_max_transfers per node and files.tftp_max_per_source per source
 * address, both counted across the loops (core/conncap: one atomic and a sharded table);
 * a request past either is answered with ERROR 0 "Server busy".
 *
 * Logs: one `tftp_transfer` line (INFO) per finished transfer (file, peer, mode, options
 * granted, blksize, windowsize, bytes, blocks, retransmits, duration_us, result); one
 * `tftp_refused` line (INFO) per well-formed request refused; malformed datagrams are
 * only counted (no log line a sender can multiply).
 *
 * Threads: tftp_start, tftp_stop and tftp_transfers from a thread that is not one of the
 * group's loops (they use loop_run_all); tftp_stats from any thread.
 * Ownership: the registry and the loop group are the caller's and must outlive the server.
 */
#ifndef TG_PROVISION_TFTP_H
#define TG_PROVISION_TFTP_H

#include "provision/files.h"

#include <stddef.h>
#include <stdint.h>

struct loop_group;
struct tftp_server;

/* The [files] settings the server reads (core/config.h files.*). */
struct tftp_options {
	const char *address;     /* bind address, e.g. "0.0.0.0" or "::" */
	int port;                /* UDP port (69); not 0 */
	unsigned mtu;            /* path MTU: blksize is clamped to fit one datagram */
	unsigned max_windowsize; /* RFC 7440 cap */
	unsigned timeout_ms;     /* first retransmission (the client's timeout replaces it) */
	unsigned retries;        /* retransmissions of one window before giving up */
	unsigned deadline_s;     /* a transfer's whole life */
	int max_transfers;       /* concurrent transfers per node */
	int max_per_source;      /* concurrent transfers per source address */
	int loops; /* loops that take requests, the group's last ones; 0 or more than there
	            * are: every loop */
};

/* Binds the request socket of each loop that takes requests (o->loops) and starts
 * serving; a transfer runs on the loop that took its request. Returns the server, or NULL with err.
 */
struct tftp_server *tftp_start(const struct tftp_options *o, struct loop_group *loops,
                               struct files_registry *files, char *err, size_t errlen);
/* Closes the sockets, ends every transfer (logged with result=stopped) and frees the
 * server. NULL is ignored. */
void tftp_stop(struct tftp_server *s);

/* How transfers ended (finished ones; refusals are counted by error code). */
enum tftp_result {
	TFTP_RESULT_OK = 0,
	TFTP_RESULT_TIMEOUT,  /* files.tftp_retries retransmissions without an answer */
	TFTP_RESULT_DEADLINE, /* files.tftp_deadline_s */
	TFTP_RESULT_PEER,     /* the client sent an ERROR ("aborted by peer") */
	TFTP_RESULT_SEND,     /* the socket failed */
	TFTP_RESULT_STOPPED,  /* the daemon stopped */
	TFTP_RESULT_N
};
const char *tftp_result_name(enum tftp_result r);

struct tftp_stats {
	uint64_t requests;   /* well-formed RRQs and WRQs */
	uint64_t malformed;  /* datagrams at the request port that were not */
	uint64_t refused[9]; /* requests refused, by TFTP error code 0..8 */
	uint64_t busy;       /* of refused[0]: by a cap */
	uint64_t results[TFTP_RESULT_N];
	uint64_t data_bytes;   /* DATA payload bytes sent, retransmissions included */
	uint64_t data_packets; /* DATA packets sent, retransmissions included */
	uint64_t retransmits;  /* DATA and OACK packets sent again by the timer */
	uint64_t wrong_tid;    /* datagrams from another address or port (ERROR 5) */
	uint64_t active;       /* transfers now */
};
void tftp_stats(struct tftp_server *s, struct tftp_stats *out);

/* One active transfer, for `telgate show tftp`. */
struct tftp_transfer_info {
	char file[FILES_NAME_MAX + 1];
	char peer[64];  /* address:port */
	char local[64]; /* the transfer's own address:port (its TID) */
	unsigned blksize, windowsize;
	uint64_t blocks;      /* of the transfer */
	uint64_t sent, acked; /* highest block sent, highest acknowledged */
	uint64_t retransmits;
	int64_t age_ms;
	const char *state; /* "oack" (waiting for ACK 0) or "data" */
};
/* Calls fn for each active transfer (at most max; copies taken on each loop, fn runs on
 * the caller's thread). Returns how many there were (may exceed max). */
size_t tftp_transfers(struct tftp_server *s, size_t max,
                      void (*fn)(void *ud, const struct tftp_transfer_info *i), void *ud);

#endif
