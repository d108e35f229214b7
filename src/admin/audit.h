/* SPDX-License-Identifier: ISC */
/*
 * audit: who changed what through the control socket (issue 14). Every command whose
 * effect is CHANGES (commands.h) is recorded once, after it ran: the peer's uid and pid
 * (SO_PEERCRED, taken by the control server at connect), the command's words (never a
 * secret: passwords travel in the request's data, which is not recorded, and the value of
 * a secret option such as capf's --auth-string is recorded as "(redacted)"), the result,
 * the error if any, and the correlation id. Each record is logged (`admin_audit`) and kept
 * in a bounded in-memory history that `telgate show audit [N]` reads.
 *
 * Thread-safe (one mutex). The module copies what it is given.
 */
#ifndef TG_ADMIN_AUDIT_H
#define TG_ADMIN_AUDIT_H

#include <stddef.h>
#include <stdint.h>

#define AUDIT_HISTORY 512
#define AUDIT_CMD_MAX 512

struct audit_rec {
	int64_t time_s;          /* epoch seconds */
	long uid, pid;           /* -1 when unknown */
	char cmd[AUDIT_CMD_MAX]; /* the words, quoted where they hold spaces; cut at the max */
	int ok;
	char error[256];
	char cid[64];
};

/* Records one command run (ok: it succeeded; error: its message or NULL). */
void audit_record(long uid, long pid, int argc, const char *const *argv, int ok, const char *error,
                  const char *cid);

/* Copies up to max most recent records, newest last; returns how many. */
size_t audit_history(struct audit_rec *out, size_t max);

#endif
