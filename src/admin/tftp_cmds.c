/* SPDX-License-Identifier: ISC */
#include "admin/tftp_cmds.h"

#include "provision/tftp.h"

#include <inttypes.h>
#include <stdio.h>

static void transfer_row(void *ud, const struct tftp_transfer_info *i)
{
	char bs[12], ws[12], blocks[24], sent[24], acked[24], rt[24], age[24];
	snprintf(bs, sizeof bs, "%u", i->blksize);
	snprintf(ws, sizeof ws, "%u", i->windowsize);
	snprintf(blocks, sizeof blocks, "%" PRIu64, i->blocks);
	snprintf(sent, sizeof sent, "%" PRIu64, i->sent);
	snprintf(acked, sizeof acked, "%" PRIu64, i->acked);
	snprintf(rt, sizeof rt, "%" PRIu64, i->retransmits);
	snprintf(age, sizeof age, "%" PRId64, i->age_ms);
	const char *row[] = {i->file, i->peer, i->local, bs,  ws,      blocks,
	                     sent,    acked,   rt,       age, i->state};
	ctl_table_add_row(ud, row, 11);
}

json_t *cmd_tftp_show(struct admin_ctx *a, const struct ctl_request *r, const char *cid)
{
	(void)r;
	(void)cid;
	if (!a->tftp)
		return ctl_error("the TFTP server is not running ([files] tftp_port = 0)");
	static const char *const cols[] = {"file",        "peer",   "local", "blksize",
	                                   "windowsize",  "blocks", "sent",  "acked",
	                                   "retransmits", "age_ms", "state"};
	json_t *t = ctl_table(cols, 11);
	size_t n = tftp_transfers(a->tftp, TFTP_SHOW_MAX, transfer_row, t);
	if (n > TFTP_SHOW_MAX)
		json_object_set_new(
		    t, "message",
		    json_sprintf("%zu transfers; the first %d shown", n, TFTP_SHOW_MAX));
	return t;
}
