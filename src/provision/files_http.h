/* SPDX-License-Identifier: ISC */
/*
 * files_http: the device-file service over HTTP ([files] address:http_port, default
 * 0.0.0.0:6970; seed 002: http://<server>:6970/<DEVICE>.cnf.xml) and HTTPS (https_port,
 * 6971). On the HTTP layer
 * (core/http.h), with its caps, timeouts and one access-log line per request.
 *
 *   GET/HEAD /<name>  the file the registry (provision/files.h) has for the name:
 *                     200 with ETag, Last-Modified and Cache-Control: no-cache; 304 when
 *                     If-None-Match names the ETag (or, without If-None-Match,
 *                     If-Modified-Since is not older than the file: RFC 9110 §13.1);
 *                     400 for a name the rule refuses (traversal in any encoding), 414
 *                     for one above FILES_NAME_MAX, 404 for a name no provider has, with
 *                     the same body whatever the reason (an unknown device is any
 *                     missing file), 429 with Retry-After for a source address with more
 *                     than FILES_HTTP_MISSES_MAX 404s in a minute (it slows scanning for
 *                     device names; phones ask for a few files that do not exist at
 *                     boot, far fewer), 500 when a provider fails.
 *                     A guard (files_guard, HTTPS only) may answer 401/403 first.
 *   other methods     405 with Allow: GET, HEAD.
 * Query strings are ignored (phones add cache-busters).
 *
 * Threads: one listener per loop (SO_REUSEPORT), started and stopped with loop_run_all
 * from the main thread. Ownership: the registry and loops are the caller's and outlive
 * the service.
 */
#ifndef TG_PROVISION_FILES_HTTP_H
#define TG_PROVISION_FILES_HTTP_H

#include <stddef.h>

#define FILES_HTTP_MISSES_MAX 120 /* 404s per source address per minute before 429 */
#define FILES_HTTP_MAX_CONNECTIONS 20000
#define FILES_HTTP_MAX_PER_SOURCE 256

struct files_http;
struct files_registry;
struct loop_group;

/* A check made before a file is looked up (the HTTPS listener's cnf.xml of SIP OAuth
 * devices: provision/cnf_guard.h). check gets the checked name, the Authorization header
 * (NULL when absent) and the request's correlation id; it returns 0 to serve the file as
 * usual, or the HTTP status to answer instead (401, 403, 500), with *challenge the
 * WWW-Authenticate value to send (or NULL). Called on the loop thread, any loop. */
struct files_guard {
	int (*check)(void *arg, const char *name, const char *authorization, const char *cid,
	             const char **challenge);
	void *arg; /* borrowed: outlives the listener */
};

/* Starts listening on address:port on every loop (the caller checked port != 0).
 * max_file_bytes: the largest file a provider serves; a connection may queue two of
 * them (pipelined requests) before it is cut off as a slow reader. Returns NULL with err
 * set when the port cannot be bound or memory runs out. */
struct tlsctx;
/* tls: NULL for plain HTTP (6970); a TLS context (tls/tlsctx.h, kind "https": the TLS
 * policy by level applies) for HTTPS (6971, server-authenticated: what cnf.xml says cannot
 * be altered on the way). Borrowed: it outlives the service. */
struct files_http *files_http_start(struct files_registry *reg, struct loop_group *loops,
                                    const char *address, int port, size_t max_file_bytes,
                                    struct tlsctx *tls, const struct files_guard *guard, char *err,
                                    size_t errlen);
/* Closes the listeners and their connections. NULL is a no-op. Before the loops stop. */
void files_http_stop(struct files_http *h);

#endif
