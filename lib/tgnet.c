/* SPDX-License-Identifier: ISC */
#include "tgnet.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <openssl/err.h>
#include <openssl/x509v3.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

long long tgnet_now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int tgnet_wait(int fd, SSL *ssl, int out, int ms)
{
	if (!out && ssl && SSL_pending(ssl) > 0)
		return 1;
	struct pollfd p = {fd, (short)(out ? POLLOUT : POLLIN), 0};
	int r;
	do
		r = poll(&p, 1, ms);
	while (r < 0 && errno == EINTR);
	return r;
}

/* connect() bounded by ms: non-blocking connect, wait for writability, read SO_ERROR,
 * back to blocking. 0 or -1 with errno. */
static int connect_within(int fd, const struct sockaddr *sa, socklen_t len, int ms)
{
	int fl = fcntl(fd, F_GETFL);
	if (fl < 0 || fcntl(fd, F_SETFL, fl | O_NONBLOCK) < 0)
		return -1;
	int rc = connect(fd, sa, len);
	if (rc != 0 && errno == EINPROGRESS) {
		int w = tgnet_wait(fd, NULL, 1, ms), e = 0;
		socklen_t el = sizeof e;
		if (w == 0)
			errno = ETIMEDOUT;
		else if (w > 0 && getsockopt(fd, SOL_SOCKET, SO_ERROR, &e, &el) == 0)
			errno = e;
		rc = w > 0 && e == 0 ? 0 : -1;
	}
	int saved = errno;
	if (fcntl(fd, F_SETFL, fl) < 0)
		rc = -1;
	errno = saved;
	return rc;
}

int tgnet_connect(const char *host, int port, int timeout_ms, char *err, size_t errlen)
{
	char ps[16];
	snprintf(ps, sizeof ps, "%d", port);
	struct addrinfo hints = {.ai_socktype = SOCK_STREAM}, *res = NULL;
	int rc = getaddrinfo(host, ps, &hints, &res);
	if (rc != 0) {
		snprintf(err, errlen, "%s: %s", host, gai_strerror(rc));
		return -1;
	}
	int fd = -1, e = 0;
	for (struct addrinfo *a = res; a && fd < 0; a = a->ai_next) {
		fd = socket(a->ai_family, a->ai_socktype | SOCK_CLOEXEC, a->ai_protocol);
		if (fd >= 0 && connect_within(fd, a->ai_addr, a->ai_addrlen,
		                              timeout_ms > 0 ? timeout_ms : 10000)) {
			e = errno;
			close(fd);
			fd = -1;
		}
	}
	freeaddrinfo(res);
	if (fd < 0)
		snprintf(err, errlen, "connect to %s:%d: %s", host, port, strerror(e ? e : errno));
	return fd;
}

SSL_CTX *tgnet_tls_ctx(const char *ca_file, X509_STORE *store, const char *cert_file,
                       const char *key_file, char *err, size_t errlen)
{
	SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());
	if (!ctx || !SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION)) {
		snprintf(err, errlen, "TLS set-up failed");
		SSL_CTX_free(ctx);
		return NULL;
	}
	if (store) {
		X509_STORE_up_ref(store);
		SSL_CTX_set_cert_store(ctx, store);
	} else if ((ca_file ? SSL_CTX_load_verify_locations(ctx, ca_file, NULL)
	                    : SSL_CTX_set_default_verify_paths(ctx)) != 1) {
		snprintf(err, errlen, "TLS set-up failed (CA file %s)",
		         ca_file ? ca_file : "system");
		SSL_CTX_free(ctx);
		return NULL;
	}
	if ((cert_file != NULL) != (key_file != NULL)) {
		snprintf(err, errlen, "a client certificate needs both --cert and --key");
		SSL_CTX_free(ctx);
		return NULL;
	}
	if (cert_file && (SSL_CTX_use_certificate_chain_file(ctx, cert_file) != 1 ||
	                  SSL_CTX_use_PrivateKey_file(ctx, key_file, SSL_FILETYPE_PEM) != 1 ||
	                  SSL_CTX_check_private_key(ctx) != 1)) {
		unsigned long e = ERR_peek_last_error();
		snprintf(err, errlen, "client certificate %s / key %s: %s", cert_file, key_file,
		         e ? ERR_reason_error_string(e) : "unusable");
		ERR_clear_error();
		SSL_CTX_free(ctx);
		return NULL;
	}
	SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, NULL);
	return ctx;
}

SSL *tgnet_tls_connect(SSL_CTX *ctx, int fd, const char *name, char *err, size_t errlen)
{
	unsigned char ip[16];
	int isip = inet_pton(AF_INET, name, ip) == 1 || inet_pton(AF_INET6, name, ip) == 1;
	SSL *ssl = SSL_new(ctx);
	if (!ssl || SSL_set_fd(ssl, fd) != 1 ||
	    (isip ? X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(ssl), name)
	          : SSL_set1_host(ssl, name)) != 1 ||
	    (!isip && SSL_set_tlsext_host_name(ssl, name) != 1)) {
		snprintf(err, errlen, "TLS set-up failed");
		SSL_free(ssl);
		return NULL;
	}
	if (SSL_connect(ssl) != 1) {
		long v = SSL_get_verify_result(ssl);
		snprintf(err, errlen, "TLS handshake with %s failed: %s", name,
		         v != X509_V_OK ? X509_verify_cert_error_string(v) : "protocol error");
		ERR_clear_error();
		SSL_free(ssl);
		return NULL;
	}
	return ssl;
}

int tgnet_write_all(int fd, SSL *ssl, const void *buf, size_t len)
{
	const char *p = buf;
	while (len) {
		long n = ssl ? SSL_write(ssl, p, (int)len) : (long)send(fd, p, len, MSG_NOSIGNAL);
		if (n <= 0) {
			if (!ssl && n < 0 && errno == EINTR)
				continue;
			return -1;
		}
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

long tgnet_read(int fd, SSL *ssl, void *buf, size_t cap, long long deadline)
{
	for (;;) {
		int ms = deadline < 0 ? -1 : (int)(deadline - tgnet_now_ms());
		if (deadline >= 0 && ms <= 0)
			return -2;
		int w = tgnet_wait(fd, ssl, 0, ms);
		if (w == 0)
			return -2;
		if (w < 0)
			return -1;
		if (!ssl) {
			long n = (long)recv(fd, buf, cap, 0);
			if (n < 0 && errno == EINTR)
				continue;
			return n;
		}
		int n = SSL_read(ssl, buf, (int)(cap > 65536 ? 65536 : cap));
		if (n > 0)
			return n;
		int e = SSL_get_error(ssl, n);
		if (e == SSL_ERROR_WANT_READ)
			continue;
		/* A peer that closes without close_notify (OpenSSL 3: "unexpected eof") ends
		 * an HTTP/1.1 Connection: close answer all the same; a length that falls short
		 * is the caller's to notice. */
		int eof = e == SSL_ERROR_ZERO_RETURN ||
		          (e == SSL_ERROR_SSL && ERR_GET_REASON(ERR_peek_last_error()) ==
		                                     SSL_R_UNEXPECTED_EOF_WHILE_READING);
		ERR_clear_error();
		return eof ? 0 : -1;
	}
}

void tgnet_close(int fd, SSL *ssl)
{
	if (ssl) {
		SSL_shutdown(ssl);
		SSL_free(ssl);
	}
	if (fd >= 0)
		close(fd);
}
