/* SPDX-License-Identifier: ISC */
/*
 * capf_cmds: `telgate capf add|list|show|delete|rearm`, the enrolment profiles (issue
 * 17; Unified CM's CAPF profiles; ca/capf.h for the strings, store.h for the table).
 *
 *   capf add USER --instance-id ID [--auth-mode string|none] [--auth-string S]
 *            [--key ec-p256|ec-p384|rsa-2048|rsa-3072] [--operation install|delete]
 *            [--expires-in DURATION]
 *   capf list [USER]   capf show ID   capf delete ID
 *   capf rearm ID [--auth-string S] [--expires-in DURATION]
 *
 * Without --auth-string (mode string) a string is generated and returned once, in the
 * answer's auth_string row: it is never stored, logged or shown again. A string given
 * with --auth-string is checked against [pki] capf_min_length, stored as argon2id, and
 * wiped from the request once hashed; the audit log shows it as (redacted) (audit.c).
 * DURATION: 30m, 24h, 7d ... (default 24h). Rearm gives a pending, unlocked profile with
 * a new string and expiry (from now).
 *
 * Threads: an admin worker (the store, argon2id). Ownership: the answer is the caller's.
 */
#ifndef TG_ADMIN_CAPF_CMDS_H
#define TG_ADMIN_CAPF_CMDS_H

#include "admin/admin.h"

json_t *cmd_capf_add(struct admin_ctx *a, const struct ctl_request *r, const char *cid);
json_t *cmd_capf_list(struct admin_ctx *a, const struct ctl_request *r, const char *cid);
json_t *cmd_capf_show(struct admin_ctx *a, const struct ctl_request *r, const char *cid);
json_t *cmd_capf_delete(struct admin_ctx *a, const struct ctl_request *r, const char *cid);
json_t *cmd_capf_rearm(struct admin_ctx *a, const struct ctl_request *r, const char *cid);

#endif
