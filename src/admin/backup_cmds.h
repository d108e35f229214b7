/* SPDX-License-Identifier: ISC */
/*
 * backup_cmds: `telgate store snapshot`, the daemon's part of `telgate backup`
 * (tools/backup.h, docs/backup.md): a consistent copy of the store (store_backup_to, while
 * every writer goes on) in a new file <state_dir>/snapshot-XXXXXX.db (0600). The answer
 * names the file and what the CLI needs next: {"ok": true, "snapshot": PATH, "bytes": N,
 * "pki_dir": ..., "store_path": ..., "node": ..., "schema_version": N,
 * "ca_fingerprint_sha256": ..., "message": ...}. The CLI archives the snapshot with the keys
 * it reads itself from pki_dir (this process may not hold them: issue 17's privilege
 * separation) and removes it. A failed copy leaves no file. Audited (it copies every
 * password hash). Runs on an admin worker: the copy blocks for as long as it takes.
 */
#ifndef TG_ADMIN_BACKUP_CMDS_H
#define TG_ADMIN_BACKUP_CMDS_H

#include "admin/admin.h"

#define BACKUP_SNAPSHOT_PREFIX "snapshot-"

json_t *cmd_store_snapshot(struct admin_ctx *a, const struct ctl_request *r, const char *cid);

/* Removes the snapshots a telgate backup that was killed left in state_dir (each holds
 * every password hash). At start, before the control socket exists: nobody is reading
 * one then. Returns how many were removed. */
int backup_snapshots_sweep(const char *state_dir, const char *cid);

#endif
