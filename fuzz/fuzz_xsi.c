/* SPDX-License-Identifier: ISC */
/* Fuzzes the cloud CTI interface's request-body parser (Xsi-Events <Channel>,
 * <Subscription>, <EventResponse>): every body either parses with its fields inside their
 * bounds, or is refused with a reason; the documents built from parsed fields fit. */
#include "core/util.h"
#include "xsi/body.h"
#include "xsi/doc.h"
#include "xsi/hub.h"

#include <libxml/parser.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerInitialize(int *argc, char ***argv);

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	xmlInitParser();
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct xsi_body b;
	char err[256] = "";
	if (xsi_body_parse((const char *)data, size, &b, err, sizeof err) != 0) {
		if (!err[0])
			__builtin_trap();
		return 0;
	}
	if (size > XSI_BODY_MAX || strlen(b.channel_set_id) > XSI_ID_MAX ||
	    strlen(b.event_id) > XSI_ID_MAX || strlen(b.application_id) > XSI_ID_MAX ||
	    b.expires > XSI_EXPIRES_MAX || b.expires < -1 || b.priority < 0 || b.weight < 0 ||
	    (b.type == XSI_BODY_EVENT_RESPONSE && !b.event_id[0]))
		__builtin_trap();
	char doc[8192];
	struct tg_sbuf o = {doc, sizeof doc, 0, 0};
	xsi_doc_channel(&o, "0123456789abcdef0123456789abcdef", b.channel_set_id, b.priority,
	                b.weight, b.expires);
	if (tg_sbuf_len(&o) <= 0)
		__builtin_trap();
	o = (struct tg_sbuf){doc, sizeof doc, 0, 0};
	xsi_doc_error(&o, 400, b.reason);
	if (tg_sbuf_len(&o) <= 0 || xsi_package_parse(b.event) >= XSI_PKGS)
		__builtin_trap();
	return 0;
}
