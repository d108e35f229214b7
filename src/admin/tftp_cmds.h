/* SPDX-License-Identifier: ISC */
/*
 * tftp_cmds: `telgate show tftp` (admin/commands.h row tftp_show), the TFTP transfers
 * running now (provision/tftp.h): file, peer, the transfer's own address (its TID),
 * blksize, windowsize, blocks sent and acknowledged of the total, retransmissions, age.
 * `--json` gives the same table as JSON. Runs on a worker: the rows are copied on each
 * event loop (loop_run_all) and never read while a loop changes them.
 */
#ifndef TG_ADMIN_TFTP_CMDS_H
#define TG_ADMIN_TFTP_CMDS_H

#include "admin/admin.h"

/* Rows at most: a listing of a node at its cap would be larger than a control answer. */
#define TFTP_SHOW_MAX 1000

json_t *cmd_tftp_show(struct admin_ctx *a, const struct ctl_request *r, const char *cid);

#endif
