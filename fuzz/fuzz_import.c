/* SPDX-License-Identifier: ISC */
/* Fuzzes the JSON provisioning import against a real (in-memory) SQLite store: any input
 * must be either imported or refused with a JSON-path error, and the store must stay
 * consistent. */
#include "dir/passwd.h"
#include "provision/import.h"
#include "store/store.h"

#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static store_t *st;

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (!st) {
		char err[256];
		struct store_options o = {
		    .backend = "sqlite", .path = ":memory:", .busy_timeout_ms = 1000};
		if (dir_passwd_init() != 0 || store_open(&o, &st, err, sizeof err) != STORE_OK)
			abort();
	}
	/* The cheapest argon2id libsodium allows: the fuzzer is after the parser. */
	struct prov_options o = {.pw = {.t = 1, .m_kib = 8}, .sip_realm = "fuzz"};
	struct prov_result r;
	char err[512];
	if (prov_import(st, (const char *)data, size, &o, &r, err, sizeof err) != 0 &&
	    (err[0] != '$'))
		__builtin_trap(); /* every refusal names a JSON path */
	return 0;
}
