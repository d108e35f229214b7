/* SPDX-License-Identifier: ISC */
/*
 * accounts: what the registrar needs to decide a REGISTER, cached per line (AOR user
 * part) and device name the Contact gave ("" = none: sip/devpick.h picks the device from
 * both, so a shared line has one entry per device that registers it), so that a phone
 * refreshing its registration costs no store read: the device, its digest user, that
 * user's HA1s, status, credential state and credential policy.
 *
 * The cache does not know the store: the caller records in the entry store_generation()
 * read before it loaded the device and store_user_generation(digest user) read before it
 * loaded the user, and uses an entry only while both are unchanged (any provisioning
 * change, and any write of that user's credential state, make it stale; the caller then
 * reloads it).
 *
 * Bounded: at most SIP_ACCOUNTS_MAX entries; a new line in a full cache evicts an old line
 * of its shard not read or written since the eviction sweep last passed it (second chance,
 * or CLOCK: an approximation of least recently used whose hits write no list; issue 22)
 * (one of 64 shards; the table hashes lines with a secret key, so peers cannot choose
 * whose entry goes). HA1s are secrets: an entry
 * is zeroed when it is replaced, evicted or freed (telgated also runs without core
 * dumps).
 *
 * SIP OAuth (issue 19) keeps its refresh grants here too, under the key line "\n" sub
 * (no line holds a newline): bearer set, device and duser (the token's sub) filled, the
 * digest fields zero. A grant is only ever put after the store path registered that user
 * on that device, and is used while both generations are unchanged, as an account is.
 *
 * Threads: any (a core/shtable: a lock per shard). Ownership: entries are copied in and
 * out.
 */
#ifndef TG_SIP_ACCOUNTS_H
#define TG_SIP_ACCOUNTS_H

#include "store/store.h"

#include <stddef.h>
#include <stdint.h>

#define SIP_ACCOUNTS_MAX 65536

/* In the order a cached REGISTER reads it: sip_accounts_get copies the fields before line
 * from the entry and fills line and devname from the entry's key, so that a hit touches
 * ~13 of the entry's cache lines, not ~18 (issue 22). */
struct sip_account {
	uint64_t gen, user_gen; /* store_generation(), store_user_generation() before loading */
	int bearer;             /* a SIP OAuth grant (see above), not a digest account */
	enum store_user_status status;
	char duser[STORE_ID_MAX + 1];  /* whose digest credentials register the line */
	char device[STORE_ID_MAX + 1]; /* the device picked */
	struct store_credstate cs;
	struct store_credpolicy pol;
	struct store_sipcred cred;
	char line[STORE_ID_MAX + 1];
	char devname[STORE_ID_MAX + 1]; /* the Contact's device name it was picked for, "" */
};

struct sip_accounts;

struct sip_accounts *sip_accounts_new(void);
void sip_accounts_free(struct sip_accounts *a);

/* Copies the entry for line and devname ("" = no device named) into *out. Returns 1, or
 * 0 when there is none. */
int sip_accounts_get(struct sip_accounts *a, const char *line, const char *devname,
                     struct sip_account *out);
/* Starts loading the cache line where sip_accounts_get(a, line, devname) looks first
 * (core/shtable.h shtable_hash; no lock), and keeps the key's hash for that get if it is
 * this thread's next one: for a caller with other work to do before the get (issue 22:
 * under load that line is a cache miss; the registrar parses the credentials and checks
 * the nonce meanwhile). Nothing changes. */
void sip_accounts_prefetch(struct sip_accounts *a, const char *line, const char *devname);
/* Inserts or replaces the entry for acc->line and acc->devname. */
void sip_accounts_put(struct sip_accounts *a, const struct sip_account *acc);
/* Entries held now. */
size_t sip_accounts_size(struct sip_accounts *a);

#endif
