/* SPDX-License-Identifier: ISC */
#include "sip/refreshfile.h"
#include "core/shtable.h"
#include "core/util.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#define BOM 0x01020304u
#define FIRST_SLOTS 1024u
/* 2M slots: ~2.5 GB of file, far beyond SIP_LOC_MAX bindings of any device count this
 * daemon serves; past it a refresh is written by an UPDATE. */
#define MAX_SLOTS (1u << 21)
#define KEY_ROOM SIP_RF_KEY_ROOM

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

struct header {
	char magic[8];
	uint32_t slot;
	uint32_t bom;
};

/* The map's entry: a binding's key and its slot. */
struct ent {
	struct shtable_node node;
	uint32_t slot;
	char key[]; /* device NUL contact (node.keylen bytes) */
};

struct sip_rf {
	int fd;
	char *map; /* the whole file, mapped from offset 0 */
	size_t maplen;
	uint32_t nslots;
	uint32_t *free; /* slot numbers not in use; the next taken is free[nfree - 1] */
	uint32_t nfree;
	struct shtable *keys; /* struct ent by key */
	long used;
};

static void ent_free(struct shtable_node *n)
{
	free(SHTABLE_ENTRY(n, struct ent, node));
}

static struct shtable *keys_new(void)
{
	return shtable_new(
	    &(struct shtable_opts){.shards = 1, .no_locks = 1, .free_entry = ent_free});
}

static struct slot *slot_at(const struct sip_rf *f, uint32_t i)
{
	return (struct slot *)(void *)(f->map + SIP_RF_HEADER + (size_t)i * SIP_RF_SLOT);
}

/* What check must hold for s as it is. */
static uint32_t slot_check(const struct slot *s)
{
	return tg_fnv1a(&s->keycheck, offsetof(struct slot, callid) -
	                                  offsetof(struct slot, keycheck) + s->callidlen);
}

static int map_file(struct sip_rf *f, size_t len)
{
	void *m = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_SHARED, f->fd, 0);
	if (m == MAP_FAILED)
		return -1;
	if (f->map)
		munmap(f->map, f->maplen);
	f->map = m;
	f->maplen = len;
	return 0;
}

/* Doubles the slots (FIRST_SLOTS the first time): the new space is allocated on disk
 * first (posix_fallocate), so a full disk is an error here and not a SIGBUS at a store
 * into a hole of a sparse file. */
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
	if (map_file(f, len) != 0)
		return -1;
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
	if (!f || !(f->keys = keys_new())) {
		snprintf(err, errlen, "out of memory");
		free(f);
		return NULL;
	}
	const char *what = "opening";
	struct stat sb;
	struct header h;
	f->fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (f->fd < 0 || fstat(f->fd, &sb) != 0)
		goto fail;
	if (sb.st_size < SIP_RF_HEADER || pread(f->fd, &h, sizeof h, 0) != (ssize_t)sizeof h ||
	    memcmp(h.magic, SIP_RF_MAGIC, sizeof h.magic) || h.slot != SIP_RF_SLOT ||
	    h.bom != BOM) {
		what = "initialising";
		if (write_header(f->fd) != 0)
			goto fail;
		sb.st_size = SIP_RF_HEADER;
	}
	/* Slots that a crash in the middle of a growth left half allocated are whole ones of
	 * zeros (posix_fallocate): invalid, like any slot never written. */
	size_t n = ((size_t)sb.st_size - SIP_RF_HEADER) / SIP_RF_SLOT;
	if (n > MAX_SLOTS)
		n = MAX_SLOTS;
	what = "mapping";
	if (!(f->free = malloc((n ? n : 1) * sizeof *f->free)) ||
	    map_file(f, SIP_RF_HEADER + n * SIP_RF_SLOT) != 0)
		goto fail;
	f->nslots = (uint32_t)n;
	for (size_t i = n; i > 0; i--)
		f->free[f->nfree++] = (uint32_t)(i - 1);
	return f;
fail:
	snprintf(err, errlen, "%s the refresh file %s: %s", what, path, strerror(errno));
	sip_rf_close(f);
	return NULL;
}

void sip_rf_close(struct sip_rf *f)
{
	if (!f)
		return;
	if (f->map)
		munmap(f->map, f->maplen);
	if (f->fd >= 0)
		close(f->fd);
	shtable_free(f->keys);
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
	if (f->map)
		munmap(f->map, f->maplen);
	f->map = NULL;
	f->maplen = 0;
	f->nslots = f->nfree = 0;
	f->used = 0;
	struct shtable *k = keys_new();
	if (!k)
		return -1;
	shtable_free(f->keys);
	f->keys = k;
	if (write_header(f->fd) != 0)
		return -1;
	return map_file(f, SIP_RF_HEADER);
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

static size_t make_key(char *key, const char *device, const char *contact);

/* The refresh in slot s (its key written only when fresh: a slot just taken). */
static void slot_write(struct slot *s, const struct sip_rf_rec *r, size_t il, const char *key,
                       size_t kl, int fresh)
{
	if (fresh) {
		s->check = 0; /* invalid until whole */
		memcpy(s->key, key, kl + 1);
		s->keylen = (uint16_t)kl;
		s->keycheck = tg_fnv1a(s->key, kl);
	}
	s->cseq = r->cseq;
	s->callidlen = (uint16_t)il;
	s->changedms = r->changedms;
	s->expires = r->expires;
	memcpy(s->callid, r->callid, il);
	s->callid[il] = 0;
	s->check = slot_check(s); /* last: a crash before it leaves the slot invalid */
}

int sip_rf_slot_encode(void *slot, const struct sip_rf_rec *r)
{
	char key[KEY_ROOM];
	size_t il = strnlen(r->callid, SIP_RF_CALLID_MAX + 1),
	       kl = make_key(key, r->device, r->contact);
	if (il > SIP_RF_CALLID_MAX || !kl)
		return -1;
	memset(slot, 0, SIP_RF_SLOT);
	slot_write(slot, r, il, key, kl, 1);
	return 0;
}

static struct ent *lookup(struct sip_rf *f, const char *key, size_t len)
{
	struct shtable_at at;
	shtable_lock(f->keys, key, len, &at);
	struct shtable_node *n = shtable_find(&at);
	shtable_unlock(&at);
	return n ? SHTABLE_ENTRY(n, struct ent, node) : NULL;
}

int sip_rf_record(struct sip_rf *f, const struct store_registration *b, int64_t changedms)
{
	char key[KEY_ROOM];
	size_t il = strnlen(b->callid, sizeof b->callid), kl = make_key(key, b->device, b->contact);
	if (il > SIP_RF_CALLID_MAX || !kl) {
		errno = EINVAL;
		return -1;
	}
	struct ent *e = lookup(f, key, kl);
	int fresh = !e;
	if (!e) {
		if ((!f->nfree && grow(f) != 0) || !(e = malloc(sizeof *e + kl)))
			return -1;
		e->slot = f->free[--f->nfree];
		memcpy(e->key, key, kl);
		struct shtable_at at;
		shtable_lock(f->keys, e->key, kl, &at);
		shtable_insert(&at, &e->node, e->key, kl);
		shtable_unlock(&at);
		f->used++;
	}
	struct sip_rf_rec r = {b->device, b->contact, b->callid, b->cseq, b->expires, changedms};
	slot_write(slot_at(f, e->slot), &r, il, key, kl, fresh);
	return 0;
}

void sip_rf_forget(struct sip_rf *f, const char *device, const char *contact)
{
	char key[KEY_ROOM];
	size_t kl = make_key(key, device, contact);
	if (!kl)
		return;
	struct shtable_at at;
	shtable_lock(f->keys, key, kl, &at);
	struct shtable_node *n = shtable_find(&at);
	if (n)
		shtable_remove(&at, n);
	shtable_unlock(&at);
	if (!n)
		return;
	struct ent *e = SHTABLE_ENTRY(n, struct ent, node);
	slot_at(f, e->slot)->check = 0;
	f->free[f->nfree++] = e->slot;
	f->used--;
	free(e);
}

int sip_rf_live(struct sip_rf *f, const char *device, const char *contact, int64_t now)
{
	char key[KEY_ROOM];
	size_t kl = make_key(key, device, contact);
	struct ent *e = kl ? lookup(f, key, kl) : NULL;
	return e && slot_at(f, e->slot)->expires > now;
}

long sip_rf_count(const struct sip_rf *f)
{
	return f->used;
}

int sip_rf_sync(struct sip_rf *f)
{
	return f->map ? msync(f->map, f->maplen, MS_SYNC) : 0;
}
