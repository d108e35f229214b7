/* SPDX-License-Identifier: ISC */
/*
 * signer_cmds: `telgate show signer`: the signer process (issue 17, ca/signer.h) as the
 * network engine sees it: its pid, how many times the monitor restarted it, whether it runs
 * under seccomp, requests answered and failed, the queue depth and its cap, and the keys it
 * holds with their certificates' subjects and SHA-256 fingerprints. Runs on an admin worker
 * (it asks the signer for the certificates, which blocks).
 */
#ifndef TG_ADMIN_SIGNER_CMDS_H
#define TG_ADMIN_SIGNER_CMDS_H

#include "admin/admin.h"

json_t *cmd_show_signer(struct admin_ctx *a, const struct ctl_request *r, const char *cid);

#endif
