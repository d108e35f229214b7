/* SPDX-License-Identifier: ISC */
/* Fuzzes control-socket framing and request parsing: a byte stream is split into frames
 * as the daemon does, and each frame body is parsed as a request. */
#include "core/ctlproto.h"

#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const unsigned char *body;
	size_t blen, used;
	while (size > 0) {
		int r = ctl_frame_peek(data, size, &body, &blen, &used);
		if (r <= 0)
			break;
		struct ctl_request req;
		char err[256];
		if (ctl_request_parse((const char *)body, blen, &req, err, sizeof err) == 0) {
			if (req.argc < 1 || !req.argv[0])
				__builtin_trap();
			ctl_request_free(&req);
		}
		data += used;
		size -= used;
	}
	/* The response helpers must cope with whatever a handler puts in a table. */
	if (size > 0 && size < 4096) {
		const char *v[1] = {(const char *)data};
		char copy[4096];
		__builtin_memcpy(copy, data, size);
		copy[size - 1] = '\0';
		v[0] = copy;
		json_t *t = ctl_table(v, 1);
		ctl_table_add_row(t, v, 1);
		size_t n;
		char *s = ctl_encode(t, &n);
		free(s);
		json_decref(t);
	}
	return 0;
}
