/* SPDX-License-Identifier: ISC */
/*
 * params: the service and enterprise parameters telgate knows (processconfig rows), with
 * their service, default and allowed values. store_open() inserts each missing default so
 * that `run sql` and every subsystem read a value from the first start on. Subsystems add
 * their parameters to the table in params.c. Read-only data: thread-safe.
 */
#ifndef TG_PARAMS_H
#define TG_PARAMS_H

#include <stddef.h>

struct param_def {
	const char *name;
	const char *service;
	const char *defval;
	const char *help;
	/* Allowed values: a '|'-separated list ("0|1"), or NULL with an integer range. */
	const char *choices;
	long min, max;
};

const struct param_def *param_find(const char *name);
size_t param_count(void);
const struct param_def *param_at(size_t i);

/* 0 when value is allowed for def; otherwise -1 with the reason in err. */
int param_validate(const struct param_def *def, const char *value, char *err, size_t errlen);

#endif
