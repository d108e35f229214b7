/* SPDX-License-Identifier: ISC */
#include "admin/backup_cmds.h"

#include "core/log.h"
#include "core/util.h"

#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

json_t *cmd_store_snapshot(struct admin_ctx *a, const struct ctl_request *r, const char *cid)
{
	(void)r;
	pthread_mutex_lock(&a->mu);
	char state[sizeof a->cfg.core.state_dir], pki[sizeof a->cfg.pki.dir],
	    store_path[sizeof a->cfg.store.path], node[sizeof a->cfg.core.node_id];
	snprintf(state, sizeof state, "%s", a->cfg.core.state_dir);
	snprintf(pki, sizeof pki, "%s", a->cfg.pki.dir);
	snprintf(store_path, sizeof store_path, "%s", a->cfg.store.path);
	snprintf(node, sizeof node, "%s", a->cfg.core.node_id);
	pthread_mutex_unlock(&a->mu);

	char path[sizeof state + 32];
	snprintf(path, sizeof path, "%s/" BACKUP_SNAPSHOT_PREFIX "XXXXXX.db", state);
	int fd = mkstemps(path, 3); /* 0600, a name nobody else has */
	if (fd < 0)
		return ctl_error("cannot create a snapshot file in %s: %s", state, strerror(errno));
	close(fd);
	char err[512];
	int64_t t0 = tg_mono_ms();
	if (store_backup_to(a->store, path, err, sizeof err) != STORE_OK) {
		unlink(path);
		log_ev(LOG_LVL_ERROR, cid, "store_snapshot_failed", LOG_S("error", err));
		return ctl_error("%s", err);
	}
	struct stat sb;
	int ver = 0;
	if (stat(path, &sb) != 0 || store_schema_version(a->store, &ver) != STORE_OK) {
		unlink(path);
		return ctl_error("snapshot %s: %s", path, strerror(errno));
	}
	log_ev(LOG_LVL_NOTICE, cid, "store_snapshot", LOG_S("file", path),
	       LOG_I("bytes", sb.st_size), LOG_I("ms", tg_mono_ms() - t0));
	json_t *o = ctl_message("store copied to %s (%lld bytes)", path, (long long)sb.st_size);
	json_object_set_new(o, "snapshot", json_string(path));
	json_object_set_new(o, "bytes", json_integer(sb.st_size));
	json_object_set_new(o, "pki_dir", json_string(pki));
	json_object_set_new(o, "store_path", json_string(store_path));
	json_object_set_new(o, "node", json_string(node));
	json_object_set_new(o, "schema_version", json_integer(ver));
	json_object_set_new(o, "ca_fingerprint_sha256", json_string(a->pki.ca_fingerprint));
	return o;
}

int backup_snapshots_sweep(const char *state_dir, const char *cid)
{
	DIR *d = opendir(state_dir);
	if (!d)
		return 0;
	int n = 0;
	struct dirent *e;
	const size_t plen = strlen(BACKUP_SNAPSHOT_PREFIX);
	while ((e = readdir(d)) != NULL) {
		size_t len = strlen(e->d_name);
		if (len != plen + 9 || strncmp(e->d_name, BACKUP_SNAPSHOT_PREFIX, plen) != 0 ||
		    strcmp(e->d_name + len - 3, ".db") != 0)
			continue;
		if (unlinkat(dirfd(d), e->d_name, 0) == 0) {
			log_ev(LOG_LVL_NOTICE, cid, "store_snapshot_removed",
			       LOG_S("file", e->d_name));
			n++;
		}
	}
	closedir(d);
	return n;
}
