/* SPDX-License-Identifier: ISC */
#include "ca/signer_wire.h"

#include <errno.h>
#include <string.h>
#include <sys/socket.h>

int signer_wire_send(int fd, const unsigned char *msg, size_t len)
{
	unsigned char rec[SIGNER_RECORD_MAX];
	size_t off = 0;
	do {
		size_t n = len - off < SIGNER_RECORD_MAX - 1 ? len - off : SIGNER_RECORD_MAX - 1;
		rec[0] = off == 0 ? SIGNER_REC_FIRST : SIGNER_REC_MORE;
		memcpy(rec + 1, msg + off, n);
		ssize_t w;
		do
			w = send(fd, rec, n + 1, MSG_NOSIGNAL);
		while (w < 0 && errno == EINTR);
		if (w < 0)
			return -errno;
		if ((size_t)w != n + 1)
			return -EIO; /* SOCK_SEQPACKET sends whole records or nothing */
		off += n;
	} while (off < len);
	return 0;
}

int signer_wire_recv(int fd, struct signer_rx *rx, unsigned *dropped)
{
	/* One byte more than a record: a longer datagram is seen as too long, not cut. */
	unsigned char rec[SIGNER_RECORD_MAX + 1];
	for (;;) {
		ssize_t n = recv(fd, rec, sizeof rec, 0);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return errno == ECONNRESET ? 0 : -errno;
		if (n == 0)
			return 0;
		int r = signer_rx_feed(rx, rec, (size_t)n);
		if (r == 1)
			return 1;
		if (r < 0 && dropped)
			(*dropped)++;
	}
}
