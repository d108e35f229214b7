/* SPDX-License-Identifier: ISC */
/* cnf_cmds: `telgate show config DEVICE` (cnf_cmds.h). */
#include "admin/cnf_cmds.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/log.h"
#include "provision/cnf.h"

json_t *cmd_show_config(struct admin_ctx *a, const struct ctl_request *r, const char *cid)
{
	const char *device = r->argv[2];
	unsigned char *b = NULL;
	size_t len = 0;
	const struct cnf_load_options o = {CNF_ITL_FILE, CNF_CTL_FILE};
	char file[STORE_ID_MAX + sizeof ".cnf.xml"];
	int rc = -ENOENT;
	if (strcmp(device, "XMLDefault.cnf.xml") == 0)
		rc = cnf_file(a->store, device, &o, &b, &len);
	else if (strlen(device) <= STORE_ID_MAX && !strchr(device, '/')) {
		snprintf(file, sizeof file, "%s.cnf.xml", device);
		rc = cnf_file(a->store, file, &o, &b, &len);
	}
	if (rc == -ENOENT)
		return ctl_error("no such device '%.128s'", device);
	if (rc != 0) {
		log_ev(LOG_LVL_ERROR, cid, "cnf_show_failed", LOG_S("device", device),
		       LOG_I("errno", -rc), LOG_S("store_error", store_last_error()));
		return ctl_error("cannot generate the configuration of %.128s: %s", device,
		                 rc == -ENOMEM ? "out of memory" : store_last_error());
	}
	/* The whole file as the message (ctl_message would cut it at 2 KiB); the generator
	 * gives valid UTF-8, which JSON strings need. The CLI adds the final newline. */
	if (len && b[len - 1] == '\n')
		len--;
	json_t *resp = json_pack("{s:b,s:s%}", "ok", 1, "message", (const char *)b, len);
	free(b);
	return resp ? resp : ctl_error("out of memory");
}
