/* SPDX-License-Identifier: ISC */
/* Fuzzes the CTI frame reader and the CSTA XML parser on a byte stream: frames are cut
 * from the input as the server cuts them, each body is parsed, and every answer the
 * server could build from the parsed fields must fit in its buffer. */
#include "cti/proto.h"

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
	size_t off = 0;
	while (off < size) {
		size_t flen;
		int invoke;
		char err[128];
		int r = cti_frame_peek(data + off, size - off, &flen, &invoke, err, sizeof err);
		if (r < 0) {
			if (!err[0])
				__builtin_trap();
			/* Not framed: try the rest as one bare body, as a second chance for XML. */
			struct cti_msg m;
			cti_msg_parse((const char *)data + off, size - off, &m, err, sizeof err);
			cti_msg_wipe(&m);
			return 0;
		}
		if (r == 0)
			return 0;
		if (flen <= CTI_HDR_LEN || flen > size - off || invoke < 0 || invoke > 9999)
			__builtin_trap();
		struct cti_msg m;
		char xml[4096];
		if (cti_msg_parse((const char *)data + off + CTI_HDR_LEN, flen - CTI_HDR_LEN, &m,
		                  err, sizeof err) == 0) {
			if (strlen(m.device) > CTI_ID_MAX || strlen(m.user) > CTI_ID_MAX)
				__builtin_trap();
			if (cti_xml_service_event(xml, sizeof xml, 1, m.crossref, m.device) < 0 ||
			    cti_xml_start_session_pos(xml, sizeof xml, m.session_id, m.duration) <
			        0)
				__builtin_trap();
		} else if (!err[0]) {
			__builtin_trap();
		}
		cti_msg_wipe(&m);
		off += flen;
	}
	return 0;
}
