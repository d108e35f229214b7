/* SPDX-License-Identifier: ISC */
/*
 * ctl: the daemon side of the UNIX control socket that the telgate CLI talks to.
 *
 * The socket is created with mode 0600 and only peers running as the daemon's own uid or
 * as root are served (SO_PEERCRED). Frames are parsed on the owning loop; each request's
 * handler runs on the worker pool (it may touch the store) and its response is written
 * back on the loop. A connection runs one request at a time, in order.
 *
 * The server owns its connections; the handler gets a request it must not keep and
 * returns a new JSON response (ownership passes to the server).
 */
#ifndef TG_CTL_H
#define TG_CTL_H

#include "core/ctlproto.h"

#include <stddef.h>

struct loop;
struct workers;
struct ctl_server;

typedef json_t *(*ctl_handler)(void *ctx, const struct ctl_request *req, const char *cid);

/* Binds path (an existing socket file with no live server behind it is replaced; a live
 * one is an error) and starts serving on loop. Returns NULL with err set on failure. */
struct ctl_server *ctl_server_start(struct loop *loop, struct workers *w, const char *path,
                                    ctl_handler h, void *ctx, char *err, size_t errlen);
/* Stops accepting new connections (drain); current requests still complete. s may be
 * NULL (nothing to do). */
void ctl_server_stop_accepting(struct ctl_server *s);
/* Requests being handled right now. */
size_t ctl_server_busy(const struct ctl_server *s);
/* Closes every connection, removes the socket file and frees; call on the loop's thread
 * once the worker pool has been stopped. */
void ctl_server_free(struct ctl_server *s);

#endif
