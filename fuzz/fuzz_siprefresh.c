/* SPDX-License-Identifier: ISC */
/* Fuzzes the registrar's refresh file slot reader (sip/refreshfile.h): any bytes (cut or
 * zero-padded to one slot) are read without a fault; a slot read as valid encodes again
 * to a slot that reads back the same record, and changing any byte that the checks cover
 * makes it invalid. */
#include "sip/refreshfile.h"

#include <stddef.h>
#include <stdint.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void same(const struct sip_rf_rec *a, const struct sip_rf_rec *b)
{
	if (strcmp(a->device, b->device) || strcmp(a->contact, b->contact) ||
	    strcmp(a->callid, b->callid) || a->cseq != b->cseq || a->expires != b->expires ||
	    a->changedms != b->changedms)
		__builtin_trap();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static _Alignas(8) uint8_t slot[SIP_RF_SLOT], again[SIP_RF_SLOT];
	static char callid[SIP_RF_CALLID_MAX + 1], key[SIP_RF_KEY_ROOM];
	static char callid2[SIP_RF_CALLID_MAX + 1], key2[SIP_RF_KEY_ROOM];
	memset(slot, 0, sizeof slot);
	memcpy(slot, data, size < sizeof slot ? size : sizeof slot);
	struct sip_rf_rec r, r2;
	if (!sip_rf_slot_read(slot, &r, callid, key))
		return 0;
	if (sip_rf_slot_encode(again, &r) != 0 || !sip_rf_slot_read(again, &r2, callid2, key2))
		__builtin_trap();
	same(&r, &r2);
	/* A flipped bit in the record's checked bytes (after the check word, through the end
	 * of the Call-ID) is found. */
	size_t span = 32 + strlen(r.callid);
	size_t at = 4 + (size ? data[0] : 0) % (span - 4);
	again[at] ^= 0x10;
	if (sip_rf_slot_read(again, &r2, callid2, key2))
		__builtin_trap();
	return 0;
}
