/* SPDX-License-Identifier: ISC */
/*
 * backup: `telgate backup FILE` and `telgate restore FILE` (docs/backup.md), commands of the
 * CLI itself rather than of the daemon: the keys are read and written by the CLI (the
 * network engine of telgated may not hold them), and restore runs while telgated is stopped.
 *
 * backup asks the running daemon for a consistent copy of the store (`store snapshot`,
 * admin/backup_cmds.h), then writes the encrypted archive (backup_archive.h): meta.json,
 * store.db, and every file of pki.dir as pki/<path> (the CA, server, trust-list and recovery
 * keys and certificates, capf.key, the interfaces directory, trustlist.state, the CRL files). The
 * file appears whole or not at all (FILE.tmp, fsync, rename); an existing FILE is never replaced.
 *
 * restore refuses while the control socket answers, decrypts and verifies the whole archive
 * before it writes anything (a wrong passphrase, a changed byte or a cut file: nothing
 * written), then writes each file through a temporary name and renames them once the second
 * pass verified again: keys 0600, the store 0600 with any old -wal/-shm removed.
 *
 * The passphrase comes from --passphrase-file F (its first line) or a prompt without echo
 * (asked twice by backup); never from argv. Exit statuses as telgate(1): 0 done, 1 refused
 * or failed, 2 no daemon (backup), 64 usage, 66 an input that cannot be read. One thread;
 * blocking; the caller owns everything it passes.
 */
#ifndef TG_BACKUP_H
#define TG_BACKUP_H

#include "backup_archive.h"
#include "core/config.h"

#include <jansson.h>

#include <stdio.h>

#define BACKUP_PASS_MAX 1024 /* bytes */
#define BACKUP_PASS_MIN 12   /* characters asked of a new backup's passphrase */
#define BACKUP_META_MAX 65536

struct backup_opts {
	const char *socket;          /* the control socket */
	const struct tg_config *cfg; /* restore: where the store and pki.dir go */
	int json_mode;
	FILE *out, *err;
	const struct bk_kdf *kdf; /* NULL: BK_KDF_*_DEFAULT */
};

/* argv[0] is "backup" / "restore". Return the exit status. */
int backup_cmd(int argc, char **argv, const struct backup_opts *o);
int restore_cmd(int argc, char **argv, const struct backup_opts *o);

/* Shared by both (backup_io.c). --- */

/* Parses "CMD FILE [--passphrase-file F]" into *file and *pass_file (NULL when absent).
 * Returns 0, or -1 with the usage error in err. */
int backup_args(int argc, char **argv, const char **file, const char **pass_file, char *err,
                size_t errlen);
/* The passphrase: the first line of pass_file, or a prompt on the terminal (twice when
 * confirm; the two must match). Returns 0 with *len, or the exit status with err. */
int backup_passphrase(const char *pass_file, int confirm, char out[BACKUP_PASS_MAX + 1],
                      size_t *len, char *err, size_t errlen);

/* A progress line on standard error ("backup: 12.0 of 40.0 MiB"), only when it is a
 * terminal, redrawn at most every percent; progress_done ends the line. */
struct progress {
	const char *what;
	uint64_t total, done, shown;
	int tty;
};
void progress_start(struct progress *p, const char *what, uint64_t total);
void progress_add(struct progress *p, uint64_t n);
void progress_done(struct progress *p);

/* The answer both print through cli_render: a table of entries (name, mode, bytes). */
json_t *backup_table(void);
void backup_table_add(json_t *t, const char *name, unsigned mode, uint64_t bytes);

#endif
