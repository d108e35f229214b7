/* SPDX-License-Identifier: ISC */
/*
 * tgtftp: a TFTP client for one file (RFC 1350, octet mode) with the block-size
 * (RFC 2348) and transfer-size (RFC 2349) options of the option extension (RFC 2347):
 * how the seed-001 client fetches the trust list before it enrols.
 *
 * It asks for blksize and tsize 0; a server that ignores the options answers with DATA
 * block 1 in 512-byte blocks, one that refuses them (ERROR 8) is asked once more without
 * them. The transfer is locked to the server's first source address and port (its TID);
 * packets from any other are answered with ERROR 5 and otherwise ignored (RFC 1350
 * section 4). A lost packet is recovered by sending the last one again after timeout_ms,
 * at most retries times in a row; a duplicate block is acknowledged again.
 *
 * Threads: any. Ownership: *out is malloc'ed (the caller frees). Errors: -1 with err
 * (the server's error code and text when it sent one; "above N bytes" when the announced
 * or received size passes max).
 */
#ifndef TGTFTP_H
#define TGTFTP_H

#include <stddef.h>

struct tgtftp_opts {
	const char *host;
	int port;         /* 69 when 0 */
	unsigned blksize; /* asked for; 1428 when 0 (fits a 1500-byte MTU); 8..65464 */
	int timeout_ms;   /* before a packet is sent again; 1000 when 0 */
	int retries;      /* sends of one packet in a row; 5 when 0 */
	size_t max;       /* largest file accepted, bytes */
};

int tgtftp_get(const struct tgtftp_opts *o, const char *file, unsigned char **out, size_t *len,
               char *err, size_t errlen);

#endif
