/* SPDX-License-Identifier: ISC */
/* The static provider: files from one directory, read once and kept while they do not
 * change (files.h). Names reach it checked (files_name_check: no "..", no component that
 * begins with '.'); it still opens them one component at a time with O_NOFOLLOW beneath
 * the directory's descriptor, so a symbolic link planted inside the directory cannot lead
 * out of it, and fstat() of the opened file decides what it is (no check-then-open race).
 *
 * Cost: a hit within a second of its last check is one hash lookup under a mutex; after
 * that, one open per component and an fstat; a changed or new file is read whole (at
 * most max_bytes). Reads block the calling loop thread briefly: the files are small and
 * in the page cache, and a miss costs what a 404 from disk costs any server. */
#include "provision/files.h"

#include "core/util.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define CACHE_SLOTS 1024 /* distinct names cached; an older entry is replaced */

struct entry {
	char name[FILES_NAME_MAX + 1];
	struct files_blob *blob;
	dev_t dev;
	ino_t ino;
	off_t size;
	struct timespec mtime;
	int64_t checked_ms; /* monotonic ms of the last fstat that matched */
};

struct static_dir {
	int dirfd;
	size_t max_bytes;
	pthread_mutex_t mu;
	struct entry slots[CACHE_SLOTS]; /* by hash of the name; a collision replaces */
};

static unsigned slot_of(const char *name)
{
	/* FNV-1a: the names are checked and short, and a collision only costs a re-read of
	 * one file: nothing here grows with what a peer chooses. */
	uint32_t h = 2166136261u;
	for (const unsigned char *p = (const unsigned char *)name; *p; p++)
		h = (h ^ *p) * 16777619u;
	return h % CACHE_SLOTS;
}

/* Opens a checked name beneath dirfd, a component at a time, never following a link.
 * Returns the descriptor or -errno. */
static int open_beneath(int dirfd, const char *name)
{
	char comp[FILES_NAME_MAX + 1];
	int fd = dirfd;
	const char *p = name;
	for (;;) {
		size_t n = strcspn(p, "/");
		memcpy(comp, p, n);
		comp[n] = '\0';
		int last = p[n] == '\0';
		int flags = O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NOCTTY |
		            (last ? O_NONBLOCK /* a FIFO must not block the open */ : O_DIRECTORY);
		int next = openat(fd, comp, flags);
		int err = errno;
		if (fd != dirfd)
			close(fd);
		if (next < 0)
			return err == ELOOP || err == ENOTDIR ? -ENOENT : -err;
		if (last)
			return next;
		fd = next;
		p += n + 1;
	}
}

static int read_whole(int fd, size_t len, unsigned char **out)
{
	unsigned char *buf = malloc(len ? len : 1);
	if (!buf)
		return -ENOMEM;
	size_t got = 0;
	while (got < len) {
		ssize_t r = pread(fd, buf + got, len - got, (off_t)got);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0) {
			free(buf);
			return r < 0 ? -errno : -EIO; /* shrank while read */
		}
		got += (size_t)r;
	}
	*out = buf;
	return 0;
}

static const char *ctype_of(const char *name)
{
	size_t n = strlen(name);
	if (n >= 4 && strcmp(name + n - 4, ".xml") == 0)
		return "text/xml; charset=utf-8";
	if (n >= 4 && strcmp(name + n - 4, ".txt") == 0)
		return "text/plain; charset=utf-8";
	return "application/octet-stream";
}

static int static_lookup(void *arg, const char *name, struct files_blob **out)
{
	struct static_dir *d = arg;
	struct entry *e = &d->slots[slot_of(name)];
	int64_t now = tg_mono_ms();
	pthread_mutex_lock(&d->mu);
	if (e->blob && strcmp(e->name, name) == 0 && now - e->checked_ms < 1000) {
		*out = files_blob_ref(e->blob);
		pthread_mutex_unlock(&d->mu);
		return 0;
	}
	pthread_mutex_unlock(&d->mu);

	int fd = open_beneath(d->dirfd, name);
	if (fd < 0)
		return fd == -EACCES || fd == -ENOENT || fd == -ENOTDIR ? -ENOENT : fd;
	struct stat st;
	if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode) || (size_t)st.st_size > d->max_bytes) {
		close(fd);
		return -ENOENT; /* a directory, device, FIFO or a file above the cap */
	}
	pthread_mutex_lock(&d->mu);
	if (e->blob && strcmp(e->name, name) == 0 && e->dev == st.st_dev && e->ino == st.st_ino &&
	    e->size == st.st_size && e->mtime.tv_sec == st.st_mtim.tv_sec &&
	    e->mtime.tv_nsec == st.st_mtim.tv_nsec) {
		e->checked_ms = now;
		*out = files_blob_ref(e->blob);
		pthread_mutex_unlock(&d->mu);
		close(fd);
		return 0;
	}
	pthread_mutex_unlock(&d->mu);

	unsigned char *buf = NULL;
	int rc = read_whole(fd, (size_t)st.st_size, &buf);
	close(fd);
	if (rc != 0)
		return rc;
	struct files_blob *b =
	    files_blob_new(buf, (size_t)st.st_size, (int64_t)st.st_mtim.tv_sec, ctype_of(name));
	free(buf);
	if (!b)
		return -ENOMEM;
	pthread_mutex_lock(&d->mu);
	struct files_blob *old = e->blob;
	tg_strlcpy(e->name, name, sizeof e->name);
	e->blob = files_blob_ref(b);
	e->dev = st.st_dev;
	e->ino = st.st_ino;
	e->size = st.st_size;
	e->mtime = st.st_mtim;
	e->checked_ms = now;
	pthread_mutex_unlock(&d->mu);
	files_blob_unref(old);
	*out = b;
	return 0;
}

static void static_free(void *arg)
{
	struct static_dir *d = arg;
	for (size_t i = 0; i < CACHE_SLOTS; i++)
		files_blob_unref(d->slots[i].blob);
	close(d->dirfd);
	pthread_mutex_destroy(&d->mu);
	free(d);
}

int files_static_provider(const char *dir, size_t max_bytes, struct files_provider *p)
{
	int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	struct static_dir *d = calloc(1, sizeof *d);
	if (!d) {
		close(fd);
		return -ENOMEM;
	}
	d->dirfd = fd;
	d->max_bytes = max_bytes;
	pthread_mutex_init(&d->mu, NULL);
	*p = (struct files_provider){
	    .name = "static", .lookup = static_lookup, .free = static_free, .arg = d};
	return 0;
}
