/* SPDX-License-Identifier: ISC */
/*
 * line_cmds: `telgate line show LINE`: every device a line (AOR user part) is on — one
 * row per device, in name order, with its model, owner and digest user — so that a shared
 * line (schema v14: a desk phone and a softphone on one number) shows all its devices
 * (`--json`: the same rows as JSON). Read-only; run on an admin worker (it blocks on the
 * store). A line on no device is an error ("no device has line ...").
 */
#ifndef TG_ADMIN_LINE_CMDS_H
#define TG_ADMIN_LINE_CMDS_H

#include "admin/admin.h"

json_t *cmd_line_show(struct admin_ctx *a, const struct ctl_request *r, const char *cid);

#endif
