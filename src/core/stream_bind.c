/* SPDX-License-Identifier: ISC */
/*
 * Listen address lists ("127.0.0.1, ::1"): one listening socket per address for a port,
 * bound with SO_REUSEPORT (one per loop) as loop_bind_reuseport does for one address.
 */
#include "core/loop.h"
#include "core/stream.h"

#include <stdio.h>
#include <string.h>
#include <unistd.h>

#define SEPS ", \t"

/* The next address of the list from *p (advanced past it) into out. 1, 0 at the end, -1
 * when it does not fit. */
static int next_addr(const char **p, char *out, size_t cap)
{
	*p += strspn(*p, SEPS);
	size_t n = strcspn(*p, SEPS);
	if (n == 0)
		return 0;
	if (n >= cap)
		return -1;
	memcpy(out, *p, n);
	out[n] = '\0';
	*p += n;
	return 1;
}

int stream_addr_first(const char *addresses, char *out, size_t cap)
{
	const char *p = addresses;
	return next_addr(&p, out, cap) == 1 ? 0 : -1;
}

int stream_bind_list(const char *addresses, uint16_t port, int type, int fds[STREAM_ADDR_MAX],
                     char *err, size_t errlen)
{
	const char *p = addresses;
	char a[64];
	int n = 0, r;
	while ((r = next_addr(&p, a, sizeof a)) != 0) {
		const char *why = NULL;
		int fd = -1;
		if (r < 0)
			why = "address too long";
		else if (n == STREAM_ADDR_MAX)
			why = "too many addresses";
		else if ((fd = loop_bind_reuseport(a, port, type)) < 0)
			why = strerror(-fd);
		if (why) {
			snprintf(err, errlen, "%s:%u: %s", r < 0 ? "?" : a, (unsigned)port, why);
			while (n > 0)
				close(fds[--n]);
			return -1;
		}
		fds[n++] = fd;
	}
	if (n == 0) {
		snprintf(err, errlen, "no listen address in \"%s\"", addresses);
		return -1;
	}
	return n;
}
