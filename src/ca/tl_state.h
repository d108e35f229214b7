/* SPDX-License-Identifier: ISC */
/*
 * tl_state: what the trust-list provider remembers between lists and restarts, in
 * pki.dir/trustlist.state (one line: "telgate-trustlist 1 SEQ HASH TLFP KEY"), and the one
 * decision it feeds: the next list's sequence and signing key (docs/trust-list.md,
 * "Sequence" and "Trust"). The file is written 0600, atomically (temporary file, fsync,
 * rename), before the list it describes is served.
 *
 * Threads: the provider's refresh only (one at a time). Errors: negative errno.
 */
#ifndef TG_CA_TL_STATE_H
#define TG_CA_TL_STATE_H

#include <stdint.h>

struct tl_state {
	int valid;               /* read from the file (0: no file, or unreadable: logged) */
	uint32_t seq;            /* the list's sequence (header timestamp) */
	unsigned char hash[32];  /* SHA-256 of what the list holds (roles and certificates) */
	unsigned char tl_fp[32]; /* SHA-256 of the trust-list signer's certificate then */
	int key;                 /* enum signer_key that signed it */
};

/* Reads pki_dir/trustlist.state into *st (st->valid 0 when absent or unreadable). */
void tl_state_load(const char *pki_dir, struct tl_state *st);
/* Writes st; returns 0 or -errno. */
int tl_state_save(const char *pki_dir, const struct tl_state *st);

/* The next list's state, from the previous one (prev; prev->valid 0 on first start), what
 * it will hold (hash), the trust-list signer's certificate fingerprint (tl_fp), whether a
 * recovery key exists, and now (Unix seconds). The same contents keep their sequence and
 * key (so a restart re-signs the same bytes); new contents take max(now, previous + 1),
 * signed with the recovery key when the trust-list signer is not the previous one's.
 * Pure. Returns 0 with *next, or -EOVERFLOW when the sequence cannot grow. */
int tl_state_next(const struct tl_state *prev, const unsigned char hash[32],
                  const unsigned char tl_fp[32], int have_recovery, uint32_t now,
                  struct tl_state *next);

#endif
