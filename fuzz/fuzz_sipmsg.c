/* Fuzzes SIP request handling: the libosip2 wrapper with the registrar's checks, and the
 * response builders on whatever it accepted or refused. */
#include "sip/msg.h"

#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerInitialize(int *argc, char ***argv);

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	return sip_msg_init();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct sip_req r;
	int status;
	char reason[128], out[SIP_MSG_MAX * 2];
	reason[0] = '\0';
	int rc = sip_req_parse((const char *)data, size, &r, &status, reason, sizeof reason);
	if (rc == 0) {
		if (!r.m || r.ncontacts > SIP_CONTACTS_MAX ||
		    strlen(r.aor_user) >= sizeof r.aor_user)
			__builtin_trap();
		sip_response(&r, 200, "OK", "tag", "Contact: <sip:x@y>\r\n", out, sizeof out);
	} else {
		if (!reason[0])
			__builtin_trap();
		if (status && !r.m &&
		    sip_response_raw((const char *)data, size, status, reason, out, sizeof out) ==
		        -2)
			__builtin_trap(); /* a status was promised but cannot be sent */
		if (status && r.m)
			sip_response(&r, status, reason, "tag", NULL, out, sizeof out);
	}
	sip_req_free(&r);
	return 0;
}
