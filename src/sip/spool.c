/* SPDX-License-Identifier: ISC */
#include "sip/spool.h"
#include "core/log.h"
#include "core/util.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define HDR 8 /* u32 len, u32 check */

struct sip_spool {
	int fd;
	int64_t size; /* of the file, magic included */
	int64_t done; /* the records before this offset are replayed and committed */
	int64_t max_bytes;
	uint8_t *grp; /* the group being built */
	size_t glen, gcap;
	int gbad;
};

/* --- encoding ----------------------------------------------------------------------- */

static void put_u32(uint8_t *p, uint32_t v)
{
	for (int i = 0; i < 4; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

static void put_u64(uint8_t *p, uint64_t v)
{
	for (int i = 0; i < 8; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

static uint32_t get_u32(const uint8_t *p)
{
	uint32_t v = 0;
	for (int i = 3; i >= 0; i--)
		v = v << 8 | p[i];
	return v;
}

static uint64_t get_u64(const uint8_t *p)
{
	uint64_t v = 0;
	for (int i = 7; i >= 0; i--)
		v = v << 8 | p[i];
	return v;
}

/* The string fields in file order, with their capacities. */
#define NSTR 7
static void str_fields(struct store_registration *b, char *f[NSTR], size_t cap[NSTR])
{
	char *fs[NSTR] = {b->device,    b->contact, b->aor,        b->callid,
	                  b->transport, b->source,  b->sipinstance};
	size_t cs[NSTR] = {sizeof b->device,     sizeof b->contact,   sizeof b->aor,
	                   sizeof b->callid,     sizeof b->transport, sizeof b->source,
	                   sizeof b->sipinstance};
	memcpy(f, fs, sizeof fs);
	memcpy(cap, cs, sizeof cs);
}

#define FIXED (1 + 8 + 4 + 8 + 8)

size_t sip_spool_encode(const struct sip_spool_rec *r, uint8_t *out, size_t cap)
{
	struct store_registration b = r->b; /* str_fields wants a mutable one */
	char *f[NSTR];
	size_t fc[NSTR], need = HDR + FIXED;
	str_fields(&b, f, fc);
	for (int i = 0; i < NSTR; i++) {
		size_t n = strnlen(f[i], fc[i]);
		if (n == fc[i])
			return 0; /* not terminated */
		need += 2 + n;
	}
	if (need > cap || need - HDR > SIP_SPOOL_REC_MAX)
		return 0;
	uint8_t *p = out + HDR;
	*p++ = (uint8_t)r->kind;
	put_u64(p, (uint64_t)r->at_ms);
	put_u32(p + 8, r->b.cseq);
	put_u64(p + 12, (uint64_t)r->b.expires);
	put_u64(p + 20, (uint64_t)r->b.regid);
	p += 28;
	for (int i = 0; i < NSTR; i++) {
		size_t n = strlen(f[i]);
		p[0] = (uint8_t)n;
		p[1] = (uint8_t)(n >> 8);
		memcpy(p + 2, f[i], n);
		p += 2 + n;
	}
	put_u32(out, (uint32_t)(need - HDR));
	put_u32(out + 4, tg_fnv1a(out + HDR, need - HDR));
	return need;
}

/* One payload into *r. 0, or -1 when it is malformed. */
static int decode(const uint8_t *p, size_t len, struct sip_spool_rec *r)
{
	memset(r, 0, sizeof *r);
	if (len < FIXED || p[0] < SIP_SPOOL_PUT || p[0] > SIP_SPOOL_EXPIRE)
		return -1;
	r->kind = (enum sip_spool_kind)p[0];
	r->at_ms = (int64_t)get_u64(p + 1);
	r->b.cseq = get_u32(p + 9);
	r->b.expires = (int64_t)get_u64(p + 13);
	r->b.regid = (int64_t)get_u64(p + 21);
	size_t off = FIXED;
	char *f[NSTR];
	size_t fc[NSTR];
	str_fields(&r->b, f, fc);
	for (int i = 0; i < NSTR; i++) {
		if (len - off < 2)
			return -1;
		size_t n = (size_t)p[off] | (size_t)p[off + 1] << 8;
		off += 2;
		if (n >= fc[i] || len - off < n || memchr(p + off, '\0', n))
			return -1;
		memcpy(f[i], p + off, n);
		f[i][n] = '\0';
		off += n;
	}
	return off == len ? 0 : -1;
}

/* The records of buf[off..len), as sip_spool_parse says (valid: an offset in buf). */
static long parse_from(const uint8_t *buf, size_t len, size_t off,
                       int (*fn)(void *ud, const struct sip_spool_rec *r), void *ud, size_t *valid)
{
	long n = 0;
	struct sip_spool_rec r;
	for (;;) {
		*valid = off;
		if (len - off < HDR)
			break;
		size_t plen = get_u32(buf + off);
		if (plen > SIP_SPOOL_REC_MAX || len - off - HDR < plen)
			break;
		const uint8_t *p = buf + off + HDR;
		if (tg_fnv1a(p, plen) != get_u32(buf + off + 4) || decode(p, plen, &r) != 0)
			break;
		off += HDR + plen;
		n++;
		if (fn && fn(ud, &r)) {
			*valid = off;
			break;
		}
	}
	return n;
}

long sip_spool_parse(const uint8_t *buf, size_t len,
                     int (*fn)(void *ud, const struct sip_spool_rec *r), void *ud, size_t *valid)
{
	*valid = 0;
	if (len < SIP_SPOOL_MAGIC_LEN || memcmp(buf, SIP_SPOOL_MAGIC, SIP_SPOOL_MAGIC_LEN))
		return -1;
	return parse_from(buf, len, SIP_SPOOL_MAGIC_LEN, fn, ud, valid);
}

/* --- the file ----------------------------------------------------------------------- */

/* len bytes of the file from offset from, into a new buffer (caller frees). 0 or
 * -errno. */
static int read_at(struct sip_spool *sp, int64_t from, size_t len, uint8_t **out)
{
	uint8_t *b = malloc(len ? len : 1);
	if (!b)
		return -ENOMEM;
	size_t got = 0;
	while (got < len) {
		ssize_t k = pread(sp->fd, b + got, len - got, (off_t)(from + (int64_t)got));
		if (k <= 0) {
			int e = k < 0 ? errno : EIO;
			free(b);
			return -e;
		}
		got += (size_t)k;
	}
	*out = b;
	return 0;
}

struct sip_spool *sip_spool_open(const char *path, int64_t max_bytes, char *err, size_t errlen)
{
	struct sip_spool *sp = calloc(1, sizeof *sp);
	if (!sp) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	sp->max_bytes = max_bytes;
	sp->fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
	struct stat s;
	if (sp->fd < 0 || fstat(sp->fd, &s) != 0) {
		snprintf(err, errlen, "spool %s: %s", path, strerror(errno));
		goto fail;
	}
	sp->size = s.st_size;
	char head[SIP_SPOOL_MAGIC_LEN];
	if (sp->size > 0 && sp->size < SIP_SPOOL_MAGIC_LEN &&
	    pread(sp->fd, head, (size_t)sp->size, 0) == sp->size &&
	    memcmp(head, SIP_SPOOL_MAGIC, (size_t)sp->size) == 0)
		sp->size = 0; /* a crash while the magic was written: still new */
	if (sp->size == 0) {  /* new: the magic, durable before anything relies on it */
		if (pwrite(sp->fd, SIP_SPOOL_MAGIC, SIP_SPOOL_MAGIC_LEN, 0) !=
		        SIP_SPOOL_MAGIC_LEN ||
		    fdatasync(sp->fd) != 0) {
			snprintf(err, errlen, "spool %s: %s", path, strerror(errno ? errno : EIO));
			goto fail;
		}
		sp->size = sp->done = SIP_SPOOL_MAGIC_LEN;
		return sp;
	}
	uint8_t *buf = NULL; /* set by read_at (gcc -O3 cannot see it) */
	size_t len = (size_t)sp->size, valid;
	int rc = read_at(sp, 0, len, &buf);
	if (rc != 0) {
		snprintf(err, errlen, "spool %s: %s", path, strerror(-rc));
		goto fail;
	}
	long n = sip_spool_parse(buf, len, NULL, NULL, &valid);
	free(buf);
	if (n < 0) {
		snprintf(err, errlen, "spool %s: not a telgate spool file (moved aside?)", path);
		goto fail;
	}
	/* Cut a torn tail, so that the next group follows the last whole record. */
	if (valid < len && (ftruncate(sp->fd, (off_t)valid) != 0 || fdatasync(sp->fd) != 0)) {
		snprintf(err, errlen, "spool %s: %s", path, strerror(errno));
		goto fail;
	}
	sp->size = (int64_t)valid;
	sp->done = SIP_SPOOL_MAGIC_LEN;
	return sp;
fail:
	sip_spool_close(sp);
	return NULL;
}

void sip_spool_close(struct sip_spool *sp)
{
	if (!sp)
		return;
	if (sp->fd >= 0)
		close(sp->fd);
	free(sp->grp);
	free(sp);
}

int64_t sip_spool_bytes(const struct sip_spool *sp)
{
	return sp->size - SIP_SPOOL_MAGIC_LEN;
}

int64_t sip_spool_pending(const struct sip_spool *sp)
{
	return sp->size - sp->done;
}

int sip_spool_add(struct sip_spool *sp, const struct sip_spool_rec *r)
{
	if (sp->gbad)
		return -1;
	size_t room = HDR + SIP_SPOOL_REC_MAX;
	if (sp->gcap - sp->glen < room) {
		size_t nc = sp->gcap ? sp->gcap * 2 : 64 * 1024;
		while (nc - sp->glen < room)
			nc *= 2;
		uint8_t *g = realloc(sp->grp, nc);
		if (!g) {
			sp->gbad = 1;
			return -1;
		}
		sp->grp = g;
		sp->gcap = nc;
	}
	size_t k = sip_spool_encode(r, sp->grp + sp->glen, sp->gcap - sp->glen);
	if (!k) {
		sp->gbad = 1;
		return -1;
	}
	sp->glen += k;
	return 0;
}

int sip_spool_flush(struct sip_spool *sp, const char **why)
{
	size_t len = sp->glen;
	int bad = sp->gbad;
	sp->glen = 0;
	sp->gbad = 0;
	*why = NULL;
	if (bad) {
		*why = "out of memory";
		return -1;
	}
	if (!len)
		return 0;
	if (sp->size + (int64_t)len > sp->max_bytes) {
		*why = "full";
		return -1;
	}
	size_t done = 0;
	while (done < len) {
		ssize_t k =
		    pwrite(sp->fd, sp->grp + done, len - done, (off_t)(sp->size + (int64_t)done));
		if (k < 0 && errno == EINTR)
			continue;
		if (k <= 0)
			break;
		done += (size_t)k;
	}
	if (done == len && fdatasync(sp->fd) == 0) {
		sp->size += (int64_t)len;
		return 0;
	}
	*why = strerror(errno ? errno : EIO);
	/* Nothing of the group counts: cut it off (a crash before this leaves a torn or
	 * whole tail, both harmless: no 200 was sent for it). */
	if (ftruncate(sp->fd, (off_t)sp->size) == 0)
		(void)fdatasync(sp->fd);
	return -1;
}

struct replay {
	store_t *st;
	const char *node;
	int rc;
	long n, max;
};

static int replay_one(void *ud, const struct sip_spool_rec *r)
{
	struct replay *rp = ud;
	int n;
	switch (r->kind) {
	case SIP_SPOOL_PUT: {
		struct store_registration b = r->b;
		tg_strlcpy(b.node, rp->node, sizeof b.node);
		rp->rc = store_registration_put_at(rp->st, &b, r->at_ms);
		break;
	}
	case SIP_SPOOL_DELETE:
		rp->rc = store_registration_delete_at(rp->st, r->b.device, r->b.contact, r->at_ms);
		break;
	case SIP_SPOOL_EXPIRE:
		rp->rc = store_registrations_expire(rp->st, rp->node, r->b.expires, &n);
		break;
	}
	rp->n += rp->rc == STORE_OK;
	return rp->rc != STORE_OK || rp->n >= rp->max;
}

int sip_spool_replay(struct sip_spool *sp, store_t *st, const char *node, long max, long *n)
{
	*n = 0;
	if (sip_spool_pending(sp) <= 0)
		return STORE_OK;
	/* At most max records: a window of the file that holds them (a record the window
	 * cuts looks torn to the parser: the next call starts there). */
	int64_t win = sip_spool_pending(sp);
	if (max < 1)
		max = 1;
	if (win > (int64_t)max * (HDR + SIP_SPOOL_REC_MAX))
		win = (int64_t)max * (HDR + SIP_SPOOL_REC_MAX);
	uint8_t *buf = NULL; /* set by read_at (gcc -O3 cannot see it) */
	size_t valid;
	int rc = read_at(sp, sp->done, (size_t)win, &buf);
	if (rc != 0) {
		log_ev(LOG_LVL_ERROR, NULL, "sip_spool_failed", LOG_S("action", "read"),
		       LOG_S("error", strerror(-rc)));
		return STORE_ERROR;
	}
	if ((rc = store_begin(st)) != STORE_OK) {
		free(buf);
		return rc;
	}
	struct replay rp = {st, node ? node : "", STORE_OK, 0, max};
	parse_from(buf, (size_t)win, 0, replay_one, &rp, &valid);
	free(buf);
	if (rp.rc != STORE_OK) {
		store_rollback(st);
		return rp.rc;
	}
	if ((rc = store_commit(st)) != STORE_OK)
		return rc;
	*n = rp.n;
	sp->done += (int64_t)valid;
	if (sp->done < sp->size && valid)
		return STORE_OK; /* more to come */
	/* All of it committed: a crash before the truncation replays it again, which changes
	 * nothing (its rows are no newer than themselves). */
	if (ftruncate(sp->fd, SIP_SPOOL_MAGIC_LEN) != 0 || fdatasync(sp->fd) != 0) {
		log_ev(LOG_LVL_ERROR, NULL, "sip_spool_failed", LOG_S("action", "truncate"),
		       LOG_S("error", strerror(errno)));
		return STORE_ERROR;
	}
	sp->size = sp->done = SIP_SPOOL_MAGIC_LEN;
	return STORE_OK;
}
