/* SPDX-License-Identifier: ISC */
/*
 * ports: what this process is listening on, read from the kernel (/proc/self/fd and
 * /proc/net/{tcp,tcp6,udp,udp6,unix}), so `telgate show open ports` reports what really
 * is open, not what the configuration intended. Subsystems name their listeners with
 * ports_name() so the listing can say which service owns a port. Thread-safe.
 */
#ifndef TG_PORTS_H
#define TG_PORTS_H

#include <stddef.h>

struct port_entry {
	char proto[8];  /* tcp, tcp6, udp, udp6, unix */
	char addr[112]; /* numeric address, or the socket path for unix */
	unsigned port;  /* 0 for unix */
	char state[12]; /* LISTEN, or UNCONN for datagram sockets */
	char service[32];
};

/* Names the service behind a port (tcp/udp, v4 and v6 alike) or a unix socket path. */
void ports_name(const char *kind /* "tcp", "udp", "unix" */, unsigned port, const char *path,
                const char *service);

/* Lists up to max listeners of this process, sorted by protocol then port: one entry per
 * protocol, address and port however many sockets (one per event-loop thread, with
 * SO_REUSEPORT) share it. Returns the number found (may exceed max: then only max were
 * written, and the count may include repeats of those not written), or -errno. */
int ports_list(struct port_entry *out, size_t max);

#endif
