/* SPDX-License-Identifier: ISC */
#include "admin/line_cmds.h"

#include "store/store.h"

enum { LINE_COLS = 6 };

struct line_rows {
	json_t *t;
	const char *line;
	int n;
};

static int line_row(void *ud, const struct store_device *d)
{
	struct line_rows *l = ud;
	const char *row[LINE_COLS] = {l->line,
	                              d->name,
	                              d->model[0] ? d->model : "-",
	                              d->protocol,
	                              d->owneruserid[0] ? d->owneruserid : "-",
	                              d->digestuser[0] ? d->digestuser : "-"};
	ctl_table_add_row(l->t, row, LINE_COLS);
	l->n++;
	return 0;
}

json_t *cmd_line_show(struct admin_ctx *a, const struct ctl_request *r, const char *cid)
{
	(void)cid;
	static const char *const cols[LINE_COLS] = {"line",     "device", "model",
	                                            "protocol", "owner",  "digestuser"};
	struct line_rows l = {ctl_table(cols, LINE_COLS), r->argv[2], 0};
	int rc = store_line_devices(a->store, l.line, line_row, &l);
	if (rc != STORE_OK || l.n == 0) {
		json_decref(l.t);
		if (rc != STORE_OK)
			return ctl_error("store unavailable: %s", store_last_error());
		return ctl_error("no device has line '%.128s'", r->argv[2]);
	}
	return l.t;
}
