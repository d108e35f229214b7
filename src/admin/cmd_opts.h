/* SPDX-License-Identifier: ISC */
/*
 * cmd_opts: the "--name value" options of control commands (capf, oauth), read from a
 * request's argv into a table of the options a command takes, and the usage error that
 * makes the CLI end with EX_USAGE. Pure functions on the request; any thread.
 */
#ifndef TG_ADMIN_CMD_OPTS_H
#define TG_ADMIN_CMD_OPTS_H

#include "core/ctlproto.h"

#include <stddef.h>

/* One option a command takes, with one value. */
struct admin_opt {
	const char *name;
	const char *value; /* NULL when absent */
	int at;            /* its argv index, for wiping a secret */
};

/* A usage error: the CLI ends with EX_USAGE. */
json_t *admin_usage(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Reads argv[from..] as "--name value" pairs into opts (n rows). NULL, or the usage error
 * (an unknown option, one without a value or given twice). */
json_t *admin_opts_parse(const struct ctl_request *r, int from, struct admin_opt *opts, size_t n);

#endif
