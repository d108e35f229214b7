/* SPDX-License-Identifier: ISC */
/* Fuzzes SIP request handling: the libosip2 wrapper with the registrar's checks, the
 * credentials read from the raw header section (any LWS, folding) and their Digest
 * parser, the Via marking for the source (received/rport), the To tag, and the response
 * builders on whatever it accepted or refused. */
#include "sip/digest.h"
#include "sip/msg.h"

#include <arpa/inet.h>
#include <netinet/in.h>

#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

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
		if ((!r.m && !r.fast) || r.ncontacts > SIP_CONTACTS_MAX ||
		    strlen(r.aor_user) >= sizeof r.aor_user)
			__builtin_trap();
		if (r.auth[0]) {
			struct sip_digest_creds c;
			char err[128] = "";
			if (strncasecmp(r.auth, "Digest", 6) != 0 ||
			    strlen(r.auth) >= sizeof r.auth)
				__builtin_trap(); /* only Digest credentials are kept */
			if (sip_digest_parse(r.auth, &c, err, sizeof err) != 0 && !err[0])
				__builtin_trap();
		}
		if (r.expires > SIP_EXPIRES_MAX || r.expires < -1)
			__builtin_trap();
		/* The source alternates between IPv4 and IPv6 with the input's size. */
		struct sockaddr_storage ss;
		memset(&ss, 0, sizeof ss);
		if (size & 1) {
			struct sockaddr_in6 *a = (struct sockaddr_in6 *)&ss;
			a->sin6_family = AF_INET6;
			a->sin6_addr = in6addr_loopback;
			a->sin6_port = htons(5062);
		} else {
			struct sockaddr_in *a = (struct sockaddr_in *)&ss;
			a->sin_family = AF_INET;
			a->sin_addr.s_addr = htonl(0x7f000001);
			a->sin_port = htons(5062);
		}
		if (sip_req_received(&r, (struct sockaddr *)&ss, (int)(size & 2)) == 0 &&
		    r.reply_to.ss_family != ss.ss_family)
			__builtin_trap();
		static const uint8_t key[16] = {1};
		char tag[17];
		sip_req_to_tag(&r, key, tag);
		if (strlen(tag) != 16)
			__builtin_trap();
		sip_response(&r, 200, "OK", tag, "Contact: <sip:x@y>\r\n", out, sizeof out);
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
