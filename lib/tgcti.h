/* SPDX-License-Identifier: ISC */
/*
 * tgcti: a small blocking client library for telgate's CTI server (docs/protocol.md):
 * connect over TCP or verified TLS, log in, open devices, read BackInService /
 * OutOfService events. It keeps the session alive by itself (ResetApplicationSessionTimer
 * at half the session duration) while the caller waits for events.
 *
 * One struct tgcti is one connection; use it from one thread. Ownership: the library
 * copies what it is given and never keeps the password after tgcti_login returns.
 */
#ifndef TGCTI_H
#define TGCTI_H

#include <stddef.h>

struct tgcti;

struct tgcti_opts {
	const char *host; /* name or address */
	int port;
	int tls;                 /* verify the server against ca_file (or the system store) */
	const char *ca_file;     /* NULL = system trust store */
	const char *server_name; /* name to verify, default host */
	int timeout_ms;          /* for connect and each request, default 10000 */
	/* The client certificate and its key (PEM files, both or neither; TLS only),
	 * presented when the server asks: a Secure Connection user's certificate from
	 * `telgate-cti enrol` (tgenrol.h). */
	const char *cert_file;
	const char *key_file;
};

struct tgcti *tgcti_connect(const struct tgcti_opts *o, char *err, size_t errlen);
void tgcti_close(struct tgcti *c);

/* Starts the application session. Returns 0, or -1 with err (for a refusal, the
 * server's definedError, e.g. "invalidApplicationInfo"). duration 0 = server default. */
int tgcti_login(struct tgcti *c, const char *app, const char *user, const char *password,
                size_t pwlen, int duration, char *err, size_t errlen);
/* The same with an OAuth access token (docs/oauth.md; aud cti) instead of a password, at
 * most TGCTI_TOKEN_MAX bytes: user NULL or "" lets the server take the token's subject,
 * else it must be that subject. Errors as tgcti_login. */
#define TGCTI_TOKEN_MAX 8192
int tgcti_login_token(struct tgcti *c, const char *app, const char *user, const char *token,
                      size_t len, int duration, char *err, size_t errlen);
/* MonitorStart. Returns 0 with *xref, or -1 with err (e.g. the CSTA error value). */
int tgcti_monitor(struct tgcti *c, const char *device, unsigned long *xref, char *err,
                  size_t errlen);

struct tgcti_event {
	int in_service; /* 1 BackInService, 0 OutOfService */
	unsigned long xref;
	char device[129];
};
/* Waits up to timeout_ms (-1 = forever) for the next event, sending heartbeats when due.
 * Returns 1 with *ev, 0 on timeout, -1 on error or disconnection (err set). */
int tgcti_next_event(struct tgcti *c, int timeout_ms, struct tgcti_event *ev, char *err,
                     size_t errlen);

#endif
