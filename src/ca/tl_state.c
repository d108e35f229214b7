/* SPDX-License-Identifier: ISC */
/* tl_state: the trust-list state file and the next sequence and key (tl_state.h). */
#include "ca/tl_state.h"

#include "ca/signer.h"
#include "core/log.h"
#include "core/util.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static void hex(const unsigned char *p, size_t n, char *out)
{
	for (size_t i = 0; i < n; i++)
		snprintf(out + 2 * i, 3, "%02x", p[i]);
}

static int nibble(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	return -1;
}

/* Exactly 2n lowercase hex digits, as tl_state_save writes them. */
static int unhex(const char *s, unsigned char *out, size_t n)
{
	if (strlen(s) != 2 * n)
		return -1;
	for (size_t i = 0; i < n; i++) {
		int hi = nibble(s[2 * i]), lo = nibble(s[2 * i + 1]);
		if (hi < 0 || lo < 0)
			return -1;
		out[i] = (unsigned char)(hi << 4 | lo);
	}
	return 0;
}

void tl_state_load(const char *pki_dir, struct tl_state *st)
{
	char path[512], *text;
	size_t n;
	memset(st, 0, sizeof *st);
	snprintf(path, sizeof path, "%s/trustlist.state", pki_dir);
	if (tg_read_file(path, 1024, &text, &n) != 0)
		return;
	char hash[65], fp[65];
	unsigned long seq;
	int key;
	if (sscanf(text, "telgate-trustlist 1 %lu %64s %64s %d", &seq, hash, fp, &key) == 4 &&
	    seq <= UINT32_MAX && unhex(hash, st->hash, 32) == 0 && unhex(fp, st->tl_fp, 32) == 0 &&
	    (key == SIGNER_KEY_TRUSTLIST || key == SIGNER_KEY_RECOVERY)) {
		st->valid = 1;
		st->seq = (uint32_t)seq;
		st->key = key;
	} else {
		log_ev(LOG_LVL_WARNING, NULL, "trustlist_state_unreadable", LOG_S("file", path));
	}
	free(text);
}

int tl_state_save(const char *pki_dir, const struct tl_state *st)
{
	char path[512], tmp[520], hash[65], fp[65], line[200];
	hex(st->hash, 32, hash);
	hex(st->tl_fp, 32, fp);
	int n = snprintf(line, sizeof line, "telgate-trustlist 1 %" PRIu32 " %s %s %d\n", st->seq,
	                 hash, fp, st->key);
	snprintf(path, sizeof path, "%s/trustlist.state", pki_dir);
	snprintf(tmp, sizeof tmp, "%s.tmp", path);
	int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0)
		return -errno;
	int ok = write(fd, line, (size_t)n) == n && fsync(fd) == 0;
	ok = close(fd) == 0 && ok;
	if (!ok || rename(tmp, path) != 0) {
		int e = errno ? errno : EIO;
		unlink(tmp);
		return -e;
	}
	return 0;
}

int tl_state_next(const struct tl_state *prev, const unsigned char hash[32],
                  const unsigned char tl_fp[32], int have_recovery, uint32_t now,
                  struct tl_state *next)
{
	memset(next, 0, sizeof *next);
	next->valid = 1;
	memcpy(next->hash, hash, 32);
	memcpy(next->tl_fp, tl_fp, 32);
	next->key = SIGNER_KEY_TRUSTLIST;
	if (prev->valid && memcmp(prev->hash, hash, 32) == 0 &&
	    (prev->key == SIGNER_KEY_TRUSTLIST || have_recovery)) {
		next->seq = prev->seq;
		next->key = prev->key;
		return 0;
	}
	if (!prev->valid) {
		next->seq = now;
		return 0;
	}
	if (prev->seq == UINT32_MAX)
		return -EOVERFLOW;
	next->seq = prev->seq >= now ? prev->seq + 1 : now;
	/* A new trust-list signer: clients holding the old list know the recovery key, not
	 * the new one. */
	if (memcmp(prev->tl_fp, tl_fp, 32) != 0 && have_recovery)
		next->key = SIGNER_KEY_RECOVERY;
	return 0;
}
