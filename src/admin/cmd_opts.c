/* SPDX-License-Identifier: ISC */
#include "admin/cmd_opts.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sysexits.h>

json_t *admin_usage(const char *fmt, ...)
{
	char msg[300];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	json_t *r = ctl_error("%s", msg);
	json_object_set_new(r, "exit", json_integer(EX_USAGE));
	return r;
}

json_t *admin_opts_parse(const struct ctl_request *r, int from, struct admin_opt *opts, size_t n)
{
	for (int i = from; i < r->argc; i += 2) {
		struct admin_opt *o = NULL;
		for (size_t k = 0; k < n && !o; k++)
			if (strcmp(r->argv[i], opts[k].name) == 0)
				o = &opts[k];
		if (!o)
			return admin_usage("unknown option '%.64s'; try: telgate help", r->argv[i]);
		if (i + 1 >= r->argc)
			return admin_usage("%s needs a value", o->name);
		if (o->value)
			return admin_usage("%s given twice", o->name);
		o->value = r->argv[i + 1];
		o->at = i + 1;
	}
	return NULL;
}
