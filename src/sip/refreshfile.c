/* SPDX-License-Identifier: ISC */
#include "sip/refreshfile.h"
#include "core/util.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#define BOM 0x01020304u
#define FIRST_SLOTS 1024u /* 1,245,184 bytes: 304 pages, so every growth is page-aligned */
/* 1M slots: ~1.2 GB of file, far beyond the bindings of any device count this daemon
 * serves; the address range for them is reserved at open (no memory, no file), so the
 * mapping never moves while loops store into it. Past it a refresh is an UPDATE. */
#define MAX_SLOTS (1u << 20)
#define KEY_ROOM SIP_RF_KEY_ROOM
#define RESERVE ((size_t)SIP_RF_HEADER + (size_t)MAX_SLOTS * SIP_RF_SLOT)
#define GROW_RETRY_S 10

/* One slot as it lies in the file (refreshfile.h gives the layout). */
struct slot {
	uint32_t check;
	uint32_t keycheck;
	uint32_t cseq;
	uint16_t callidlen;
	uint16_t keylen;
	int64_t changedms;
	int64_t expires;
	char callid[SIP_RF_CALLID_MAX + 1];
	char key[KEY_ROOM]; /* device NUL contact NUL */
};
_Static_assert(sizeof(struct slot) == SIP_RF_SLOT, "slot layout");
_Static_assert(offsetof(struct slot, callid) == 32, "slot layout");
_Static_assert(KEY_ROOM >= STORE_ID_MAX + 1 + 512, "a slot holds the longest key");
_Static_assert((FIRST_SLOTS * SIP_RF_SLOT) % 4096 == 0, "growth stays page-aligned");

struct header {
	char magic[8];
	uint32_t slot;
	uint32_t bom;
};

struct sip_rf {
	int fd;
	char *base;         /* RESERVE bytes of address space; the file is mapped at its start */
	size_t maplen;      /* bytes of the file mapped (a multiple of the page size once reset) */
	pthread_mutex_t mu; /* guards what follows */
	uint32_t nslots;
	uint32_t *free; /* slot numbers not in use; the next taken is free[nfree - 1] */
	uint32_t nfree;
	long used;
	int64_t grow_failed; /* CLOCK_MONOTONIC s of the last failed growth (0: none) */
};

static struct slot *slot_at(const struct sip_rf *f, uint32_t i)
{
	return (struct slot *)(void *)(f->base + SIP_RF_HEADER + (size_t)i * SIP_RF_SLOT);
}

/* What check must hold for s as it is. */
static uint32_t slot_check(const struct slot *s)
{
	return tg_fnv1a(&s->keycheck, offsetof(struct slot, callid) -
	                                  offsetof(struct slot, keycheck) + s->callidlen);
}

/* The file's bytes [off, off + len) at base + off (MAP_FIXED over the reservation). */
static int map_at(struct sip_rf *f, size_t off, size_t len)
{
	void *m = mmap(f->base + off, len, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_FIXED, f->fd,
	               (off_t)off);
	return m == MAP_FAILED ? -1 : 0;
}

/* Back to a bare reservation: nothing of the file mapped. */
static int unmap_all(struct sip_rf *f)
{
	void *m = mmap(f->base, RESERVE, PROT_NONE,
	               MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE | MAP_FIXED, -1, 0);
	f->maplen = 0;
	return m == MAP_FAILED ? -1 : 0;
}

/* Doubles the slots (FIRST_SLOTS the first time), under f->mu: the new space is
 * allocated on disk first (posix_fallocate), so a full disk is an error here and not a
 * SIGBUS at a store into a hole of a sparse file; only the new part is mapped (at its
 * place: slots in use do not move). */
static int grow(struct sip_rf *f)
{
	uint32_t n = f->nslots ? f->nslots * 2 : FIRST_SLOTS;
	if (n > MAX_SLOTS) {
		errno = ENOSPC;
		return -1;
	}
	size_t len = SIP_RF_HEADER + (size_t)n * SIP_RF_SLOT;
	uint32_t *fl = realloc(f->free, (size_t)n * sizeof *fl);
	if (!fl)
		return -1;
	f->free = fl;
	int e = posix_fallocate(f->fd, (off_t)f->maplen, (off_t)(len - f->maplen));
	if (e) {
		errno = e;
		return -1;
	}
	if (map_at(f, f->maplen, len - f->maplen) != 0)
		return -1;
	f->maplen = len;
	for (uint32_t i = n; i > f->nslots; i--) /* lowest numbers taken first */
		f->free[f->nfree++] = i - 1;
	f->nslots = n;
	return 0;
}

static int write_header(int fd)
{
	char page[SIP_RF_HEADER];
	memset(page, 0, sizeof page);
	struct header h = {.slot = SIP_RF_SLOT, .bom = BOM};
	memcpy(h.magic, SIP_RF_MAGIC, sizeof h.magic);
	memcpy(page, &h, sizeof h);
	if (ftruncate(fd, 0) != 0 || pwrite(fd, page, sizeof page, 0) != (ssize_t)sizeof page ||
	    fdatasync(fd) != 0)
		return -1;
	return 0;
}

struct sip_rf *sip_rf_open(const char *path, char *err, size_t errlen)
{
	struct sip_rf *f = calloc(1, sizeof *f);
	if (!f) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	pthread_mutex_init(&f->mu, NULL);
	f->base = MAP_FAILED;
	const char *what = "opening", *detail = NULL;
	struct stat sb;
	struct header h;
	f->fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK, 0600);
	if (f->fd < 0 || fstat(f->fd, &sb) != 0)
		goto fail;
	if (!S_ISREG(sb.st_mode)) {
		detail = "not a regular file";
		goto fail;
	}
	/* One process per file: another telgated on the same state directory would empty it
	 * and store into the same slots. */
	if (flock(f->fd, LOCK_EX | LOCK_NB) != 0) {
		what = "locking";
		if (errno == EWOULDBLOCK)
			detail = "another process holds it (one telgated per state directory)";
		goto fail;
	}
	if (sb.st_size < SIP_RF_HEADER || pread(f->fd, &h, sizeof h, 0) != (ssize_t)sizeof h ||
	    memcmp(h.magic, SIP_RF_MAGIC, sizeof h.magic) || h.slot != SIP_RF_SLOT ||
	    h.bom != BOM) {
		what = "initialising";
		if (write_header(f->fd) != 0)
			goto fail;
		sb.st_size = SIP_RF_HEADER;
	}
	/* The slots a crash left, mapped for sip_rf_each; taken only after sip_rf_reset.
	 * Slots that a crash in the middle of a growth left half allocated are zeros
	 * (posix_fallocate): invalid, like any slot never written. */
	size_t n = ((size_t)sb.st_size - SIP_RF_HEADER) / SIP_RF_SLOT;
	if (n > MAX_SLOTS)
		n = MAX_SLOTS;
	what = "mapping";
	f->base =
	    mmap(NULL, RESERVE, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (f->base == MAP_FAILED || map_at(f, 0, SIP_RF_HEADER + n * SIP_RF_SLOT) != 0)
		goto fail;
	f->maplen = SIP_RF_HEADER + n * SIP_RF_SLOT;
	f->nslots = (uint32_t)n;
	return f;
fail:
	snprintf(err, errlen, "%s the refresh file %s: %s", what, path,
	         detail ? detail : strerror(errno));
	sip_rf_close(f);
	return NULL;
}

void sip_rf_close(struct sip_rf *f)
{
	if (!f)
		return;
	if (f->base != MAP_FAILED)
		munmap(f->base, RESERVE);
	if (f->fd >= 0)
		close(f->fd);
	pthread_mutex_destroy(&f->mu);
	free(f->free);
	free(f);
}

int sip_rf_slot_read(const void *slot, struct sip_rf_rec *r, char *callid, char *key)
{
	const struct slot *s = slot;
	if (s->callidlen > SIP_RF_CALLID_MAX || s->keylen >= KEY_ROOM ||
	    s->check != slot_check(s) || s->keycheck != tg_fnv1a(s->key, s->keylen))
		return 0;
	memcpy(callid, s->callid, s->callidlen);
	callid[s->callidlen] = 0;
	memcpy(key, s->key, s->keylen);
	key[s->keylen] = 0;
	size_t dl = strlen(key);
	if (dl == 0 || dl >= s->keylen || dl > STORE_ID_MAX || strlen(callid) != s->callidlen ||
	    strlen(key + dl + 1) != (size_t)s->keylen - dl - 1)
		return 0; /* a NUL where none belongs: not a slot this module wrote */
	*r = (struct sip_rf_rec){key, key + dl + 1, callid, s->cseq, s->expires, s->changedms};
	return 1;
}

int sip_rf_each(const struct sip_rf *f, int (*fn)(void *ud, const struct sip_rf_rec *r), void *ud,
                long *torn)
{
	char callid[SIP_RF_CALLID_MAX + 1], key[KEY_ROOM];
	long bad = 0;
	int rc = 0;
	for (uint32_t i = 0; i < f->nslots && !rc; i++) {
		const struct slot *s = slot_at(f, i);
		struct sip_rf_rec r;
		if (sip_rf_slot_read(s, &r, callid, key))
			rc = fn(ud, &r);
		else if (s->check)
			bad++;
	}
	if (torn)
		*torn = bad;
	return rc;
}

int sip_rf_reset(struct sip_rf *f)
{
	f->nslots = f->nfree = 0;
	f->used = 0;
	if (unmap_all(f) != 0 || write_header(f->fd) != 0)
		return -1;
	f->maplen = SIP_RF_HEADER;
	return map_at(f, 0, SIP_RF_HEADER);
}

/* device NUL contact into key (room KEY_ROOM): its length, or 0 when it does not fit. */
static size_t make_key(char *key, const char *device, const char *contact)
{
	size_t dl = strnlen(device, STORE_ID_MAX + 1), cl = strnlen(contact, KEY_ROOM);
	if (dl == 0 || dl > STORE_ID_MAX || dl + 1 + cl + 1 > KEY_ROOM)
		return 0;
	memcpy(key, device, dl);
	key[dl] = 0;
	memcpy(key + dl + 1, contact, cl);
	key[dl + 1 + cl] = 0;
	return dl + 1 + cl;
}

/* The refresh fields of slot s, then its check (last: a crash before it leaves the slot
 * invalid). */
static void slot_write(struct slot *s, const char *callid, size_t il, uint32_t cseq,
                       int64_t expires, int64_t changedms)
{
	s->cseq = cseq;
	s->callidlen = (uint16_t)il;
	s->changedms = changedms;
	s->expires = expires;
	memcpy(s->callid, callid, il);
	s->callid[il] = 0;
	s->check = slot_check(s);
}

static void key_write(struct slot *s, const char *key, size_t kl)
{
	s->check = 0; /* invalid until whole */
	memcpy(s->key, key, kl + 1);
	s->keylen = (uint16_t)kl;
	s->keycheck = tg_fnv1a(s->key, kl);
}

int sip_rf_slot_encode(void *slot, const struct sip_rf_rec *r)
{
	char key[KEY_ROOM];
	size_t il = strnlen(r->callid, SIP_RF_CALLID_MAX + 1),
	       kl = make_key(key, r->device, r->contact);
	if (il > SIP_RF_CALLID_MAX || !kl)
		return -1;
	memset(slot, 0, SIP_RF_SLOT);
	key_write(slot, key, kl);
	slot_write(slot, r->callid, il, r->cseq, r->expires, r->changedms);
	return 0;
}

static int64_t mono_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec;
}

uint32_t sip_rf_take(struct sip_rf *f, const char *device, const char *contact)
{
	char key[KEY_ROOM];
	size_t kl = make_key(key, device, contact);
	if (!kl) {
		errno = EINVAL;
		return 0;
	}
	pthread_mutex_lock(&f->mu);
	/* A growth that failed (a full disk) is tried again 10 s later, not at every
	 * refresh: it allocates under this mutex, with a shard held. */
	if (!f->nfree && (f->grow_failed && mono_s() - f->grow_failed < GROW_RETRY_S)) {
		pthread_mutex_unlock(&f->mu);
		errno = ENOSPC;
		return 0;
	}
	if (!f->nfree && grow(f) != 0) {
		int e = errno;
		f->grow_failed = mono_s();
		if (!f->grow_failed)
			f->grow_failed = 1;
		pthread_mutex_unlock(&f->mu);
		errno = e;
		return 0;
	}
	f->grow_failed = 0;
	uint32_t i = f->free[--f->nfree];
	f->used++;
	pthread_mutex_unlock(&f->mu);
	key_write(slot_at(f, i), key, kl);
	return i + 1;
}

int sip_rf_write(struct sip_rf *f, uint32_t slot, const char *callid, uint32_t cseq,
                 int64_t expires, int64_t changedms)
{
	size_t il = strnlen(callid, SIP_RF_CALLID_MAX + 1);
	if (il > SIP_RF_CALLID_MAX) {
		errno = EINVAL;
		return -1;
	}
	slot_write(slot_at(f, slot - 1), callid, il, cseq, expires, changedms);
	return 0;
}

void sip_rf_invalidate(struct sip_rf *f, uint32_t slot)
{
	slot_at(f, slot - 1)->check = 0;
}

void sip_rf_drop(struct sip_rf *f, uint32_t slot)
{
	slot_at(f, slot - 1)->check = 0;
	pthread_mutex_lock(&f->mu);
	f->free[f->nfree++] = slot - 1;
	f->used--;
	pthread_mutex_unlock(&f->mu);
}

long sip_rf_count(struct sip_rf *f)
{
	pthread_mutex_lock(&f->mu);
	long n = f->used;
	pthread_mutex_unlock(&f->mu);
	return n;
}

int sip_rf_sync(struct sip_rf *f)
{
	pthread_mutex_lock(&f->mu); /* maplen: a growth maps more */
	size_t len = f->maplen;
	pthread_mutex_unlock(&f->mu);
	return len ? msync(f->base, len, MS_SYNC) : 0;
}
