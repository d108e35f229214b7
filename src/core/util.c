/* SPDX-License-Identifier: ISC */
#include "core/util.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <fcntl.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#ifdef __linux__
#include <sys/prctl.h>
#endif
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

uint32_t tg_fnv1a(const void *p, size_t n)
{
	uint32_t h = 2166136261u;
	for (const unsigned char *c = p; n--; c++)
		h = (h ^ *c) * 16777619u;
	return h;
}

uint32_t tg_fnv1a_str(const char *s)
{
	return tg_fnv1a(s, strlen(s));
}

int tg_strlcpy(char *dst, const char *src, size_t cap)
{
	if (cap == 0)
		return -1;
	size_t n = strnlen(src, cap); /* never reads past src[cap - 1] */
	if (n < cap) {
		memcpy(dst, src, n + 1);
		return 0;
	}
	memcpy(dst, src, cap - 1);
	dst[cap - 1] = '\0';
	return -1;
}

/* The thread's held clock (tg_clock_hold): depth, and each clock once read. */
static _Thread_local struct {
	int depth, have_real, have_mono;
	struct timespec real, mono;
} held;

void tg_clock_hold(void)
{
	held.depth++;
}

void tg_clock_release(void)
{
	if (held.depth > 0 && --held.depth == 0)
		held.have_real = held.have_mono = 0;
}

static void read_clock(clockid_t id, struct timespec *ts)
{
	if (!held.depth) {
		clock_gettime(id, ts);
		return;
	}
	int *have = id == CLOCK_REALTIME ? &held.have_real : &held.have_mono;
	struct timespec *kept = id == CLOCK_REALTIME ? &held.real : &held.mono;
	if (!*have) {
		clock_gettime(id, kept);
		*have = 1;
	}
	*ts = *kept;
}

int64_t tg_now_ms(void)
{
	struct timespec ts;
	read_clock(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int64_t tg_now_s(void)
{
	return tg_now_ms() / 1000;
}

int64_t tg_mono_ms(void)
{
	struct timespec ts;
	read_clock(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int64_t tg_mono_ms_live(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int64_t tg_mono_us(void)
{
	struct timespec ts;
	read_clock(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

void tg_fmt_time(int64_t epoch_s, char *out, size_t cap)
{
	time_t t = (time_t)epoch_s;
	struct tm tm;
	gmtime_r(&t, &tm);
	strftime(out, cap, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

int tg_mkdir_p(const char *path, unsigned mode)
{
	char buf[4096];
	if (tg_strlcpy(buf, path, sizeof buf) != 0)
		return -ENAMETOOLONG;
	for (char *p = buf + 1; *p; p++) {
		if (*p != '/')
			continue;
		*p = '\0';
		if (mkdir(buf, 0755) != 0 && errno != EEXIST)
			return -errno;
		*p = '/';
	}
	if (mkdir(buf, (mode_t)mode) != 0 && errno != EEXIST)
		return -errno;
	struct stat st;
	if (stat(buf, &st) != 0)
		return -errno;
	return S_ISDIR(st.st_mode) ? 0 : -ENOTDIR;
}

int tg_thread_nice(int nice)
{
	/* PRIO_PROCESS with a thread id: Linux applies it to that thread only. */
	return setpriority(PRIO_PROCESS, (id_t)syscall(SYS_gettid), nice) == 0 ? 0 : -errno;
}

void tg_thread_name(const char *name)
{
#ifdef __linux__
	(void)prctl(PR_SET_NAME, (unsigned long)name, 0, 0, 0);
#else
	(void)name;
#endif
}

int tg_read_secret_file(const char *what, const char *path, char *out, size_t cap, size_t *len,
                        char *err, size_t errlen)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	if (fd < 0) {
		snprintf(err, errlen, "%s %s: %s", what, path, strerror(errno));
		return -1;
	}
	struct stat sb;
	if (fstat(fd, &sb) != 0 || !S_ISREG(sb.st_mode)) {
		snprintf(err, errlen, "%s %s: not a regular file", what, path);
		close(fd);
		return -1;
	}
	if (sb.st_mode & 077) {
		snprintf(err, errlen, "%s %s: mode %03o lets others read the secret; chmod 600 it",
		         what, path, (unsigned)(sb.st_mode & 0777));
		close(fd);
		return -1;
	}
	ssize_t n = read(fd, out, cap);
	close(fd);
	if (n < 0 || (size_t)n >= cap) {
		sodium_memzero(out, cap);
		if (n < 0)
			snprintf(err, errlen, "%s %s: %s", what, path, strerror(errno));
		else
			snprintf(err, errlen, "%s %s: longer than %zu bytes", what, path, cap - 1);
		return -1;
	}
	/* One trailing newline is the editor's, not the secret's. */
	if (n > 0 && out[n - 1] == '\n')
		n--;
	if (n > 0 && out[n - 1] == '\r')
		n--;
	out[n] = '\0';
	*len = (size_t)n;
	if (!n) {
		snprintf(err, errlen, "%s %s: empty", what, path);
		return -1;
	}
	return 0;
}

int tg_write_file_atomic(const char *path, const void *data, size_t len, unsigned mode)
{
	char tmp[4200];
	if ((size_t)snprintf(tmp, sizeof tmp, "%s.tmp", path) >= sizeof tmp)
		return -ENAMETOOLONG;
	int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, (mode_t)mode);
	if (fd < 0)
		return -errno;
	int e = fchmod(fd, (mode_t)mode) == 0 ? 0 : errno; /* an old .tmp kept its mode */
	for (size_t off = 0; !e && off < len;) {
		ssize_t w = write(fd, (const char *)data + off, len - off);
		if (w < 0 && errno == EINTR)
			continue;
		e = w < 0 ? errno : w == 0 ? EIO : 0;
		off += w > 0 ? (size_t)w : 0;
	}
	if (!e && fsync(fd) != 0)
		e = errno;
	if (close(fd) != 0 && !e)
		e = errno;
	if (!e && rename(tmp, path) != 0)
		e = errno;
	if (e)
		unlink(tmp);
	return -e;
}

int tg_read_file(const char *path, size_t max, char **out, size_t *len)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	struct stat st;
	if (fstat(fd, &st) != 0) {
		int e = errno;
		close(fd);
		return -e;
	}
	if (!S_ISREG(st.st_mode)) {
		close(fd);
		return -EINVAL;
	}
	if ((size_t)st.st_size > max) {
		close(fd);
		return -EFBIG;
	}
	/* One spare byte for the NUL and one to see EOF without growing. */
	size_t cap = (size_t)st.st_size + 2, n = 0;
	char *buf = malloc(cap);
	if (!buf) {
		close(fd);
		return -ENOMEM;
	}
	for (;;) {
		if (n + 1 >= cap) {
			/* The file grew while we read it: accept it up to max. */
			size_t nc = cap * 2 > max + 2 ? max + 2 : cap * 2;
			char *nb = nc > cap ? realloc(buf, nc) : NULL;
			if (!nb) {
				free(buf);
				close(fd);
				return nc > cap ? -ENOMEM : -EFBIG;
			}
			buf = nb;
			cap = nc;
		}
		ssize_t r = read(fd, buf + n, cap - n - 1);
		if (r < 0) {
			if (errno == EINTR)
				continue;
			int e = errno;
			free(buf);
			close(fd);
			return -e;
		}
		if (r == 0)
			break;
		n += (size_t)r;
	}
	close(fd);
	if (n > max) {
		free(buf);
		return -EFBIG;
	}
	buf[n] = '\0';
	*out = buf;
	if (len)
		*len = n;
	return 0;
}

int tg_sbuf_len(const struct tg_sbuf *b)
{
	return b->bad ? -1 : (int)b->len;
}

char *tg_utoa_end(char *end, unsigned long long u)
{
	do {
		*--end = (char)('0' + u % 10);
		u /= 10;
	} while (u);
	return end;
}

char *tg_ipv4_str(const unsigned char a[4], char *out)
{
	char *p = out;
	for (int i = 0; i < 4; i++) {
		unsigned v = a[i];
		if (v >= 100)
			*p++ = (char)('0' + v / 100);
		if (v >= 10)
			*p++ = (char)('0' + v / 10 % 10);
		*p++ = (char)('0' + v % 10);
		if (i < 3)
			*p++ = '.';
	}
	*p = '\0';
	return p;
}

/* "a.b.c.d:port" into out (at least 22 bytes): what inet_ntop and "%s:%u" write, without
 * their sprintf calls (a TFTP transfer's log line formats its peer's address). */
static void ipv4_port_str(const unsigned char a[4], unsigned port, char *out)
{
	char *p = tg_ipv4_str(a, out);
	*p++ = ':';
	char d[20], *b = tg_utoa_end(d + sizeof d, port);
	size_t n = (size_t)(d + sizeof d - b);
	memcpy(p, b, n);
	p[n] = '\0';
}

void tg_sockaddr_str(const struct sockaddr *sa, char *out, size_t cap)
{
	if (sa->sa_family == AF_INET && cap >= 22) {
		const struct sockaddr_in *in = (const struct sockaddr_in *)(const void *)sa;
		unsigned char a[4];
		memcpy(a, &in->sin_addr, 4);
		ipv4_port_str(a, ntohs(in->sin_port), out);
		return;
	}
	char host[INET6_ADDRSTRLEN] = "?";
	unsigned port = 0;
	if (sa->sa_family == AF_INET) {
		const struct sockaddr_in *in = (const struct sockaddr_in *)(const void *)sa;
		inet_ntop(AF_INET, &in->sin_addr, host, sizeof host);
		port = ntohs(in->sin_port);
	} else if (sa->sa_family == AF_INET6) {
		const struct sockaddr_in6 *in = (const struct sockaddr_in6 *)(const void *)sa;
		inet_ntop(AF_INET6, &in->sin6_addr, host, sizeof host);
		port = ntohs(in->sin6_port);
	}
	snprintf(out, cap, "%s:%u", host, port);
}
