/* SPDX-License-Identifier: ISC */
#include "core/ports.h"
#include "core/util.h"

#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define NAMES_MAX 64
static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static struct {
	char kind[8];
	unsigned port;
	char path[108];
	char service[32];
} names[NAMES_MAX];
static size_t nnames;

void ports_name(const char *kind, unsigned port, const char *path, const char *service)
{
	pthread_mutex_lock(&mu);
	size_t i;
	for (i = 0; i < nnames; i++)
		if (strcmp(names[i].kind, kind) == 0 && names[i].port == port &&
		    strcmp(names[i].path, path ? path : "") == 0)
			break;
	if (i == nnames && nnames < NAMES_MAX)
		nnames++;
	if (i < NAMES_MAX) {
		tg_strlcpy(names[i].kind, kind, sizeof names[i].kind);
		names[i].port = port;
		tg_strlcpy(names[i].path, path ? path : "", sizeof names[i].path);
		tg_strlcpy(names[i].service, service, sizeof names[i].service);
	}
	pthread_mutex_unlock(&mu);
}

static void lookup_name(struct port_entry *e)
{
	char kind[8];
	tg_strlcpy(kind, e->proto, 4); /* "tcp6" -> "tcp" */
	if (strcmp(e->proto, "unix") == 0)
		tg_strlcpy(kind, "unix", sizeof kind);
	pthread_mutex_lock(&mu);
	for (size_t i = 0; i < nnames; i++)
		if (strcmp(names[i].kind, kind) == 0 && names[i].port == e->port &&
		    (e->port != 0 || strcmp(names[i].path, e->addr) == 0))
			tg_strlcpy(e->service, names[i].service, sizeof e->service);
	pthread_mutex_unlock(&mu);
}

struct inodes {
	unsigned long *v;
	size_t n, cap;
};

static int own_inodes(struct inodes *s)
{
	DIR *d = opendir("/proc/self/fd");
	if (!d)
		return -errno;
	struct dirent *de;
	while ((de = readdir(d))) {
		char p[300], link[64];
		snprintf(p, sizeof p, "/proc/self/fd/%s", de->d_name);
		ssize_t n = readlink(p, link, sizeof link - 1);
		if (n <= 0)
			continue;
		link[n] = '\0';
		unsigned long ino;
		if (sscanf(link, "socket:[%lu]", &ino) != 1)
			continue;
		if (s->n == s->cap) {
			size_t nc = s->cap ? s->cap * 2 : 64;
			unsigned long *nv = realloc(s->v, nc * sizeof *nv);
			if (!nv)
				break;
			s->v = nv;
			s->cap = nc;
		}
		s->v[s->n++] = ino;
	}
	closedir(d);
	return 0;
}

static int has(const struct inodes *s, unsigned long ino)
{
	for (size_t i = 0; i < s->n; i++)
		if (s->v[i] == ino)
			return 1;
	return 0;
}

/* Each event-loop thread has its own SO_REUSEPORT socket on a listening port, so the
 * kernel lists one identical line per thread. What an administrator asks about is the
 * listener (protocol, address, port), not the sockets behind it: the same port on two
 * addresses is two listeners and stays two rows. */
static int listed(const struct port_entry *out, size_t n, const struct port_entry *e)
{
	for (size_t i = 0; i < n; i++)
		if (out[i].port == e->port && strcmp(out[i].proto, e->proto) == 0 &&
		    strcmp(out[i].addr, e->addr) == 0)
			return 1;
	return 0;
}

static void add(struct port_entry *out, size_t max, int *count, const struct port_entry *e)
{
	if (listed(out, (size_t)*count < max ? (size_t)*count : max, e))
		return;
	if ((size_t)*count < max) {
		out[*count] = *e;
		lookup_name(&out[*count]);
	}
	(*count)++;
}

static void scan_inet(const char *file, const char *proto, int v6, const struct inodes *own,
                      struct port_entry *out, size_t max, int *count)
{
	FILE *f = fopen(file, "re");
	if (!f)
		return;
	char line[512];
	if (!fgets(line, sizeof line, f)) { /* header */
		fclose(f);
		return;
	}
	int is_tcp = proto[0] == 't';
	while (fgets(line, sizeof line, f)) {
		char local[64];
		unsigned st;
		unsigned long ino;
		/* sl local rem st tx:rx tr:when retrnsmt uid timeout inode */
		if (sscanf(line, " %*d: %63s %*s %x %*s %*s %*s %*u %*u %lu", local, &st, &ino) !=
		    3)
			continue;
		if (!has(own, ino) || (is_tcp && st != 0x0A) || (!is_tcp && st != 0x07))
			continue;
		struct port_entry e = {0};
		char *colon = strchr(local, ':');
		if (!colon)
			continue;
		*colon = '\0';
		e.port = (unsigned)strtoul(colon + 1, NULL, 16);
		if (v6) {
			unsigned char a[16];
			for (int i = 0; i < 4; i++) {
				unsigned w;
				if (sscanf(local + 8 * i, "%8x", &w) != 1)
					w = 0;
				memcpy(a + 4 * i, &w, 4); /* each word is in host order */
			}
			inet_ntop(AF_INET6, a, e.addr, sizeof e.addr);
		} else {
			uint32_t w = (uint32_t)strtoul(local, NULL, 16);
			inet_ntop(AF_INET, &w, e.addr, sizeof e.addr);
		}
		tg_strlcpy(e.proto, proto, sizeof e.proto);
		tg_strlcpy(e.state, is_tcp ? "LISTEN" : "UNCONN", sizeof e.state);
		add(out, max, count, &e);
	}
	fclose(f);
}

static void scan_unix(const struct inodes *own, struct port_entry *out, size_t max, int *count)
{
	FILE *f = fopen("/proc/net/unix", "re");
	if (!f)
		return;
	char line[512];
	if (!fgets(line, sizeof line, f)) {
		fclose(f);
		return;
	}
	while (fgets(line, sizeof line, f)) {
		unsigned long ino;
		unsigned flags, st;
		char path[256] = "";
		/* Num RefCount Protocol Flags Type St Inode Path */
		int n = sscanf(line, "%*s %*x %*x %x %*x %x %lu %255s", &flags, &st, &ino, path);
		if (n < 3 || !has(own, ino) || !(flags & 0x10000) /* __SO_ACCEPTCON */)
			continue;
		struct port_entry e = {0};
		tg_strlcpy(e.proto, "unix", sizeof e.proto);
		tg_strlcpy(e.addr, path, sizeof e.addr);
		tg_strlcpy(e.state, "LISTEN", sizeof e.state);
		add(out, max, count, &e);
	}
	fclose(f);
}

static int cmp(const void *a, const void *b)
{
	const struct port_entry *x = a, *y = b;
	int c = strcmp(x->proto, y->proto);
	if (c)
		return c;
	if (x->port != y->port)
		return x->port < y->port ? -1 : 1;
	return strcmp(x->addr, y->addr);
}

int ports_list(struct port_entry *out, size_t max)
{
	struct inodes own = {0};
	int rc = own_inodes(&own);
	if (rc != 0)
		return rc;
	int count = 0;
	scan_inet("/proc/net/tcp", "tcp", 0, &own, out, max, &count);
	scan_inet("/proc/net/tcp6", "tcp6", 1, &own, out, max, &count);
	scan_inet("/proc/net/udp", "udp", 0, &own, out, max, &count);
	scan_inet("/proc/net/udp6", "udp6", 1, &own, out, max, &count);
	scan_unix(&own, out, max, &count);
	free(own.v);
	qsort(out, (size_t)count < max ? (size_t)count : max, sizeof *out, cmp);
	return count;
}
