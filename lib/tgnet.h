/* SPDX-License-Identifier: ISC */
/*
 * tgnet: the client library's connections: a TCP connect to a name or address, and a
 * verified TLS handshake on it (the peer's certificate chains to the given trust store
 * and names the host: a DNS name checked with SSL_set1_host, an address against the IP
 * SANs), optionally presenting a client certificate. Used by the CTI client (tgcti.h),
 * the HTTP client (tghttp.h) and EST (tgest.h).
 *
 * Threads: any; one connection per thread. Ownership: the caller closes the fd and frees
 * the SSL (tgnet_close does both); ctx is the caller's and must outlive the SSL.
 * Errors: -1 with err set to one line that says what failed and with whom.
 */
#ifndef TGNET_H
#define TGNET_H

#include <openssl/ssl.h>
#include <stddef.h>

/* A blocking TCP connection to host:port. timeout_ms bounds the connect (0 = 10000).
 * Returns the fd (close-on-exec) or -1. */
int tgnet_connect(const char *host, int port, int timeout_ms, char *err, size_t errlen);

/* A TLS client context: TLS 1.2 or later, the peer verified against ca_file (PEM; NULL =
 * the system store) or, when store is not NULL, against store (the context takes a
 * reference). cert_file/key_file (PEM, both or neither) are presented when the server
 * asks for a client certificate. Returns NULL with err. */
SSL_CTX *tgnet_tls_ctx(const char *ca_file, X509_STORE *store, const char *cert_file,
                       const char *key_file, char *err, size_t errlen);

/* The handshake on fd, verifying that the server is name (a DNS name or an address).
 * Returns the SSL or NULL with err (the verification error when there is one). */
SSL *tgnet_tls_connect(SSL_CTX *ctx, int fd, const char *name, char *err, size_t errlen);

/* Waits until fd (or ssl's buffered bytes) can be read (out 0) or written (out 1):
 * poll's answer (1 ready, 0 timeout, -1 error); ms -1 = forever. */
int tgnet_wait(int fd, SSL *ssl, int out, int ms);

/* Writes all len bytes (TLS when ssl). 0 or -1. */
int tgnet_write_all(int fd, SSL *ssl, const void *buf, size_t len);

/* One read of at most cap bytes, waiting until deadline (absolute tgnet_now_ms; -1 =
 * none): the byte count, 0 at the end of the stream, -1 on an error, -2 on timeout. */
long tgnet_read(int fd, SSL *ssl, void *buf, size_t cap, long long deadline);

/* Monotonic milliseconds, for deadlines. */
long long tgnet_now_ms(void);

/* Shuts TLS down (when ssl), frees ssl and closes fd (when >= 0). */
void tgnet_close(int fd, SSL *ssl);

#endif
