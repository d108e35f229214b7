/* SPDX-License-Identifier: ISC */
/*
 * cnf_cmds: `telgate show config DEVICE` (admin/commands.h row show_config): the device's
 * cnf.xml as the file service serves it (provision/cnf.h), generated from the store on
 * the worker that runs the command. DEVICE XMLDefault.cnf.xml prints that file.
 */
#ifndef TG_ADMIN_CNF_CMDS_H
#define TG_ADMIN_CNF_CMDS_H

#include "admin/admin.h"

json_t *cmd_show_config(struct admin_ctx *a, const struct ctl_request *r, const char *cid);

#endif
