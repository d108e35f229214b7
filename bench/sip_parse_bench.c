/* SPDX-License-Identifier: ISC */
/* sip_req_parse on two fixed REGISTERs, N times each (default 2,000): a SIPp-like one with
 * Digest credentials (bench_plain) and Jabber's, whose Contact carries +sip.instance and
 * +u.sip!devicename (bench_jabber). For instruction counts per parse run it under
 * callgrind with --toggle-collect=bench_plain --toggle-collect=bench_jabber and divide by
 * N (docs/sip.md "Shared lines"). Benchmarks only: not installed. */
#include "sip/msg.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
static const char plain[] =
    "REGISTER sip:telgate SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:5061;branch=z9hG4bK-1-1\r\n"
    "From: <sip:b00001@telgate>;tag=1\r\nTo: <sip:b00001@telgate>\r\nCall-ID: 1-1@127.0.0.1\r\n"
    "CSeq: 2 REGISTER\r\nContact: <sip:b00001@127.0.0.1:5061>\r\nMax-Forwards: 70\r\n"
    "Expires: 3600\r\nAuthorization: Digest username=\"b00001\", realm=\"telgate\", "
    "nonce=\"abcdef\", uri=\"sip:telgate\", response=\"0123456789abcdef0123456789abcdef\", "
    "algorithm=MD5, qop=auth, nc=00000001, cnonce=\"c\"\r\nContent-Length: 0\r\n\r\n";
static const char jabber[] =
    "REGISTER sip:telgate SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:5061;branch=z9hG4bK-1-1\r\n"
    "From: <sip:1001@telgate>;tag=1\r\nTo: <sip:1001@telgate>\r\nCall-ID: 1-1@127.0.0.1\r\n"
    "CSeq: 2 REGISTER\r\nContact: <sip:1001@127.0.0.1:5061;transport=udp>;"
    "+sip.instance=\"<urn:uuid:00000000-0000-0000-0000-000000000001>\";"
    "+u.sip!devicename.ccm.cisco.com=\"CSFJDOE\";+u.sip!model.ccm.cisco.com=\"503\"\r\n"
    "Max-Forwards: 70\r\nExpires: 3600\r\nContent-Length: 0\r\n\r\n";
__attribute__((noinline)) static void bench(const char *m, int n)
{
	for (int i = 0; i < n; i++) {
		struct sip_req r;
		int st;
		char reason[128];
		if (sip_req_parse(m, strlen(m), &r, &st, reason, sizeof reason) != 0)
			abort();
		sip_req_free(&r);
	}
}
/* Not static, not inlined: callgrind's --toggle-collect needs them by name. */
void bench_plain(int n);
void bench_jabber(int n);
__attribute__((noinline)) void bench_plain(int n)
{
	bench(plain, n);
}
__attribute__((noinline)) void bench_jabber(int n)
{
	bench(jabber, n);
}
int main(int argc, char **argv)
{
	int n = argc > 1 ? atoi(argv[1]) : 2000;
	sip_msg_init();
	bench_plain(n);
	bench_jabber(n);
	return 0;
}
