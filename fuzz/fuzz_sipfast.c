/* SPDX-License-Identifier: ISC */
/* Differential: the fast REGISTER parse (sip/sipfast.h) against the full parse (libosip2,
 * sip_req_parse_full). Whatever the fast parse accepts, the full parse must accept with
 * the same fields: method, AOR, Call-ID, CSeq, Expires, every contact (URI as sent,
 * expires, reg-id, +sip.instance), Contact *, the Digest credentials, User-Agent, the top
 * Via's branch, the To tag made from them, and where a UDP answer goes. Inputs the fast
 * parse defers are the full parse's alone (fuzz_sipmsg). */
#include "sip/msg.h"
#include "sip/sipfast.h"

#include <arpa/inet.h>
#include <netinet/in.h>

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
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

/* Both parses' requests and scratch space: too large for the stack of a fuzzer. */
static struct sip_req fast, full;

/* A disagreement: what differs, then the trap libFuzzer reports. */
static void differ(const char *what)
{
	fprintf(stderr, "sipfast: the fast and full parses differ: %s\n", what);
	__builtin_trap();
}

static void same_(const char *a, const char *b, const char *what)
{
	if (strcmp(a, b) != 0) {
		fprintf(stderr, "fast \"%s\" full \"%s\"\n", a, b);
		differ(what);
	}
}
#define same(a, b) same_((a), (b), #a)

static void source(struct sockaddr_storage *ss, size_t size)
{
	memset(ss, 0, sizeof *ss);
	if (size & 1) {
		struct sockaddr_in6 *a = (struct sockaddr_in6 *)ss;
		a->sin6_family = AF_INET6;
		a->sin6_addr = in6addr_loopback;
		a->sin6_port = htons(5062);
	} else {
		struct sockaddr_in *a = (struct sockaddr_in *)ss;
		a->sin_family = AF_INET;
		a->sin_addr.s_addr = htonl(0x7f000001);
		a->sin_port = htons(5062);
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *buf = (const char *)data;
	int status;
	char reason[128];
	memset(&fast, 0, sizeof fast);
	fast.expires = -1;
	if (!sip_fast_parse(buf, size, &fast))
		return 0;
	if (sip_req_parse_full(buf, size, &full, &status, reason, sizeof reason) != 0)
		differ(reason); /* the fast parse took what the full parse refuses */
	same(fast.method, full.method);
	same(fast.aor_user, full.aor_user);
	same(fast.aor_host, full.aor_host);
	same(fast.callid, full.callid);
	same(fast.auth, full.auth);
	same(fast.user_agent, full.user_agent);
	same(fast.unsupported, full.unsupported);
	same(sip_req_branch(&fast), sip_req_branch(&full));
	if (fast.cseq != full.cseq || fast.expires != full.expires || fast.star != full.star ||
	    fast.ncontacts != full.ncontacts || fast.auth_unreadable != full.auth_unreadable ||
	    fast.userid_params != full.userid_params)
		differ("cseq, expires, star, ncontacts, auth_unreadable or userid_params");
	for (int i = 0; i < fast.ncontacts; i++) {
		const struct sip_contact *a = &fast.contacts[i], *b = &full.contacts[i];
		same(a->uri, b->uri);
		same(a->instance, b->instance);
		if (a->expires != b->expires || a->regid != b->regid)
			differ("a contact's expires or reg-id");
	}
	static const uint8_t key[16] = {7};
	char ta[17], tb[17];
	sip_req_to_tag(&fast, key, ta);
	sip_req_to_tag(&full, key, tb);
	same(ta, tb);
	struct sockaddr_storage ss;
	source(&ss, size);
	int force = (int)(size & 2);
	int ra = sip_req_received(&fast, (struct sockaddr *)&ss, force),
	    rb = sip_req_received(&full, (struct sockaddr *)&ss, force);
	if (ra != rb || (ra == 0 && (fast.reply_to_len != full.reply_to_len ||
	                             memcmp(&fast.reply_to, &full.reply_to, fast.reply_to_len))))
		differ("where the answer goes");
	/* The answers echo the same header lines; the full parse's are libosip2's rendering,
	 * so only their presence is compared: both build, both end the same. */
	static char oa[SIP_MSG_MAX * 2], ob[SIP_MSG_MAX * 2];
	int la = sip_response(&fast, 200, "OK", ta, "Contact: <sip:x@y>\r\n", oa, sizeof oa),
	    lb = sip_response(&full, 200, "OK", tb, "Contact: <sip:x@y>\r\n", ob, sizeof ob);
	if ((la < 0) != (lb < 0))
		differ("whether the answer fits");
	/* The fast answer is measured before it is written: it fits in its length and its
	 * NUL, byte for byte the same, and not in one byte less. */
	static char fit[SIP_MSG_MAX * 2];
	if (la >= 0 &&
	    (sip_response(&fast, 200, "OK", ta, "Contact: <sip:x@y>\r\n", fit, (size_t)la + 1) !=
	         la ||
	     memcmp(fit, oa, (size_t)la + 1) != 0 ||
	     sip_response(&fast, 200, "OK", ta, "Contact: <sip:x@y>\r\n", fit, (size_t)la) != -1))
		differ("the answer's measure");
	sip_req_free(&full);
	return 0;
}
