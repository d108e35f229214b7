/* SPDX-License-Identifier: ISC */
/* Fuzzes the INI configuration parser (inih + telgate's key table and checks). */
#include "core/config.h"

#include <stddef.h>
#include <stdint.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size > CFG_FILE_MAX)
		return 0;
	struct tg_config cfg;
	struct config_error err;
	if (config_parse("fuzz.conf", (const char *)data, size, &cfg, &err) == 0) {
		/* A config that parses must be self-consistent. */
		if (cfg.core.state_dir[0] != '/' || strlen(cfg.core.control_socket) >= 108)
			__builtin_trap();
	} else if (err.msg[0] == '\0') {
		__builtin_trap(); /* every rejection says why */
	}
	return 0;
}
