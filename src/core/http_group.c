/* SPDX-License-Identifier: ISC */
/* One HTTP server's listeners on every loop (http.h: http_listen_all): the start and
 * stop every HTTP service shares, so none writes its own bind loop and barrier. */
#include "core/http.h"
#include "core/loop.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

struct http_listeners {
	struct loop_group *loops;
	int n;
	struct stream_listener **lis; /* [n] */
};

struct setup {
	struct http_listeners *ls;
	struct http_server *srv;
	const struct stream_listener_options *o;
	int *fds;
	int ok;
	char err[256];
};

static void setup_on_loop(struct loop *l, int i, void *arg)
{
	struct setup *su = arg;
	char err[256] = "";
	su->ls->lis[i] = http_listen(l, su->fds[i], su->srv, su->o, err, sizeof err);
	su->fds[i] = -1; /* the listener owns it, also on failure */
	if (!su->ls->lis[i]) {
		su->ok = 0;
		snprintf(su->err, sizeof su->err, "%s", err); /* one loop's reason is enough */
	}
}

static void teardown_on_loop(struct loop *l, int i, void *arg)
{
	(void)l;
	struct http_listeners *ls = arg;
	stream_listener_free(ls->lis[i]);
	ls->lis[i] = NULL;
}

void http_listeners_free(struct http_listeners *ls)
{
	if (!ls)
		return;
	loop_run_all(ls->loops, teardown_on_loop, ls);
	free(ls->lis);
	free(ls);
}

struct http_listeners *http_listen_all(struct loop_group *loops, const char *address, int port,
                                       struct http_server *srv,
                                       const struct stream_listener_options *o, char *err,
                                       size_t errlen)
{
	int n = loop_group_size(loops);
	struct http_listeners *ls = calloc(1, sizeof *ls);
	int *fds = malloc((size_t)n * sizeof *fds);
	if (!ls || !fds || !(ls->lis = calloc((size_t)n, sizeof *ls->lis))) {
		free(fds);
		if (ls)
			free(ls->lis);
		free(ls);
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	ls->loops = loops;
	ls->n = n;
	for (int i = 0; i < n; i++)
		fds[i] = -1;
	int bad = 0;
	for (int i = 0; i < n && !bad; i++) {
		fds[i] = loop_bind_reuseport(address, (uint16_t)port, SOCK_STREAM);
		if (fds[i] < 0) {
			snprintf(err, errlen, "cannot listen on %s:%d: %s", address, port,
			         strerror(-fds[i]));
			bad = 1;
		}
	}
	struct setup su = {.ls = ls, .srv = srv, .o = o, .fds = fds, .ok = 1};
	if (!bad) {
		loop_run_all(loops, setup_on_loop, &su);
		if (!su.ok)
			snprintf(err, errlen, "%s", su.err);
	}
	for (int i = 0; i < n; i++)
		if (fds[i] >= 0)
			close(fds[i]);
	free(fds);
	if (bad || !su.ok) {
		http_listeners_free(ls);
		return NULL;
	}
	return ls;
}
