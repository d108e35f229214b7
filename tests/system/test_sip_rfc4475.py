#!/usr/bin/env python3
# SPDX-License-Identifier: ISC
"""System test: every RFC 4475 ("SIP Torture Test Messages") message a registrar can
receive, sent to telgated over UDP and over TCP, each answered as the RFC's commentary
says for a registrar (a UAS that implements REGISTER and OPTIONS only).

Table-driven: one row per message (its RFC section and name), the message bytes exactly as
the RFC gives them (the RFC's appendix files; non-printable octets included), and the
answer the RFC asks for:

- a status code, or a set of them where the RFC leaves the element a choice (e.g. "It is
  reasonable ... to respond with a 400 Bad Request. An element choosing to be liberal in
  what it accepts could ..."): then either answer passes;
- NONE: no answer (responses: a registrar has no client transaction for them, RFC 3261
  §18.1.2; the RFC says to drop unusable ones; and a stream whose Content-Length is not
  yet satisfied, where the server must wait for more octets, §3.1.2.2);
- CLOSED: the server closes the TCP connection (only where the RFC says the framing is
  lost, §3.1.2.3).

Method precedence, as RFC 3261 §8.2 orders the checks: a message that does not parse is a
400 whatever its method (a parse error outranks 405), then 505 (version), 416 (scheme),
405/501 (method; 200 for OPTIONS), 420 (Require), then the registrar's own work (401
challenge without credentials, §22). The verbatim REGISTER messages carry no credentials,
so a valid one is challenged (401). Every REGISTER whose acceptance or refusal matters
is also sent "authenticated": the same message adapted minimally (To/From on a provisioned
line, a Call-ID unique per transport, valid digest credentials), and afterwards
`telgate show registrations` shows whether its Contact was bound (it must be when the
RFC says the REGISTER is valid, and must not be when it is refused).

telgated answers any Request-URI host as its own domain (one realm per node), so the
RFC's example.com Request-URIs are kept as they are.

Limits that telgated documents (src/sip/msg.h) and this test holds to what real phones and
RFC 4475 need: a Call-ID of 256 characters is legal and accepted, a request that crossed
70 proxies (Max-Forwards' default, so 71 Via values) is accepted, and so is a header
section of 8 KiB; §3.1.1.7 (longreq, 34 Via values, long values everywhere) is valid.
Above SIP_MSG_MAX (16 KiB) a request is not parsed (a row with differs= says how).

Each transport prints a table (case, expected, got, verdict) and fails listing every
case answered wrongly. TG_KEEP=1 keeps the state directory (telgated.log says why).

Rows where telgated deliberately differs from the RFC's commentary carry differs="why" and
assert telgated's actual, deliberate behaviour.
"""
import json
import os
import re
import socket
import sys
import tempfile
import shutil
import time
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import test_daemon  # noqa: E402
import test_sip  # noqa: E402

NONE = "none"      # no answer within the wait
CLOSED = "closed"  # the TCP connection closed without an answer
ANSWER_WAIT = 1.0  # seconds to wait for an answer that should come (loopback: ms)
SILENCE_WAIT = 0.6  # seconds of silence that count as "no answer"

# --- The messages of RFC 4475, octet for octet (its appendix files) ----------------------
WSINV = (
    b'INVITE sip:vivekg@chair-dnrc.example.com;unknownparam SIP/2.0\r\n'
    b'TO :\r\n'
    b' sip:vivekg@chair-dnrc.example.com ;   tag    = 1918181833n\r\n'
    b'from   : "J Rosenberg \\\\\\""       <sip:jdrosen@example.com>\r\n'
    b'  ;\r\n'
    b'  tag = 98asjd8\r\n'
    b'MaX-fOrWaRdS: 0068\r\n'
    b'Call-ID: wsinv.ndaksdj@192.0.2.1\r\n'
    b'Content-Length   : 150\r\n'
    b'cseq: 0009\r\n'
    b'  INVITE\r\n'
    b'Via  : SIP  /   2.0\r\n'
    b' /UDP\r\n'
    b'    192.0.2.2;branch=390skdjuw\r\n'
    b's :\r\n'
    b'NewFangledHeader:   newfangled value\r\n'
    b' continued newfangled value\r\n'
    b'UnknownHeaderWithUnusualValue: ;;,,;;,;\r\n'
    b'Content-Type: application/sdp\r\n'
    b'Route:\r\n'
    b' <sip:services.example.com;lr;unknownwith=value;unknown-no-value>\r\n'
    b'v:  SIP  / 2.0  / TCP     spindle.example.com   ;\r\n'
    b'  branch  =   z9hG4bK9ikj8  ,\r\n'
    b' SIP  /    2.0   / UDP  192.168.255.111   ; branch=\r\n'
    b' z9hG4bK30239\r\n'
    b'm:"Quoted string \\"\\"" <sip:jdrosen@example.com> ; newparam =\r\n'
    b'      newvalue ;\r\n'
    b'  secondparam ; q = 0.33\r\n'
    b'\r\n'
    b'v=0\r\n'
    b'o=mhandley 29739 7272939 IN IP4 192.0.2.3\r\n'
    b's=-\r\n'
    b'c=IN IP4 192.0.2.4\r\n'
    b't=0 0\r\n'
    b'm=audio 49217 RTP/AVP 0 12\r\n'
    b'm=video 3227 RTP/AVP 31\r\n'
    b'a=rtpmap:31 LPC\r\n'
)
INTMETH = (
    b"!interesting-Method0123456789_*+`.%indeed'~ sip:1_unusual.URI~(to-be!sure)&isn't"
    b"+it$/crazy?,/;;*:&it+has=1,weird!*pas$wo~d_too.(doesn't-it)@example.com SIP/2.0\r"
    b'\n'
    b"Via: SIP/2.0/TCP host1.example.com;branch=z9hG4bK-.!%66*_+`'~\r\n"
    b'To: "BEL:\\\x07 NUL:\\\x00 DEL:\\\x7f" <sip:1_unusual.URI~(to-be!sure)&isn\'t+it$/crazy?,/;;*'
    b'@example.com>\r\n'
    b"From: token1~` token2'+_ token3*%!.- <sip:mundane@example.com>;fromParam''~+*_!."
    b'-%="\xd1\x80\xd0\xb0\xd0\xb1\xd0\xbe\xd1\x82\xd0\xb0\xd1\x8e\xd1\x89\xd0\xb8\xd0\xb9";tag=_token~1\'+`*%!-.\r\n'
    b'Call-ID: intmeth.word%ZK-!.*_+\'@word`~)(><:\\/"][?}{\r\n'
    b"CSeq: 139122385 !interesting-Method0123456789_*+`.%indeed'~\r\n"
    b'Max-Forwards: 255\r\n'
    b"extensionHeader-!.%*+_`'~:\xef\xbb\xbf\xe5\xa4\xa7\xe5\x81\x9c\xe9\x9b\xbb\r\n"
    b'Content-Length: 0\r\n'
    b'\r\n'
)
ESC01 = (
    b'INVITE sip:sips%3Auser%40example.com@example.net SIP/2.0\r\n'
    b'To: sip:%75se%72@example.com\r\n'
    b'From: <sip:I%20have%20spaces@example.net>;tag=938\r\n'
    b'Max-Forwards: 87\r\n'
    b'i: esc01.239409asdfakjkn23onasd0-3234\r\n'
    b'CSeq: 234234 INVITE\r\n'
    b'Via: SIP/2.0/UDP host5.example.net;branch=z9hG4bKkdjuw\r\n'
    b'C: application/sdp\r\n'
    b'Contact:\r\n'
    b'  <sip:cal%6Cer@host5.example.net;%6C%72;n%61me=v%61lue%25%34%31>\r\n'
    b'Content-Length: 150\r\n'
    b'\r\n'
    b'v=0\r\n'
    b'o=mhandley 29739 7272939 IN IP4 192.0.2.1\r\n'
    b's=-\r\n'
    b'c=IN IP4 192.0.2.1\r\n'
    b't=0 0\r\n'
    b'm=audio 49217 RTP/AVP 0 12\r\n'
    b'm=video 3227 RTP/AVP 31\r\n'
    b'a=rtpmap:31 LPC\r\n'
)
ESCNULL = (
    b'REGISTER sip:example.com SIP/2.0\r\n'
    b'To: sip:null-%00-null@example.com\r\n'
    b'From: sip:null-%00-null@example.com;tag=839923423\r\n'
    b'Max-Forwards: 70\r\n'
    b'Call-ID: escnull.39203ndfvkjdasfkq3w4otrq0adsfdfnavd\r\n'
    b'CSeq: 14398234 REGISTER\r\n'
    b'Via: SIP/2.0/UDP host5.example.com;branch=z9hG4bKkdjuw\r\n'
    b'Contact: <sip:%00@host5.example.com>\r\n'
    b'Contact: <sip:%00%00@host5.example.com>\r\n'
    b'L:0\r\n'
    b'\r\n'
)
ESC02 = (
    b'RE%47IST%45R sip:registrar.example.com SIP/2.0\r\n'
    b'To: "%Z%45" <sip:resource@example.com>\r\n'
    b'From: "%Z%45" <sip:resource@example.com>;tag=f232jadfj23\r\n'
    b'Call-ID: esc02.asdfnqwo34rq23i34jrjasdcnl23nrlknsdf\r\n'
    b'Via: SIP/2.0/TCP host.example.com;branch=z9hG4bK209%fzsnel234\r\n'
    b'CSeq: 29344 RE%47IST%45R\r\n'
    b'Max-Forwards: 70\r\n'
    b'Contact: <sip:alias1@host1.example.com>\r\n'
    b'C%6Fntact: <sip:alias2@host2.example.com>\r\n'
    b'Contact: <sip:alias3@host3.example.com>\r\n'
    b'l: 0\r\n'
    b'\r\n'
)
LWSDISP = (
    b'OPTIONS sip:user@example.com SIP/2.0\r\n'
    b'To: sip:user@example.com\r\n'
    b'From: caller<sip:caller@example.com>;tag=323\r\n'
    b'Max-Forwards: 70\r\n'
    b'Call-ID: lwsdisp.1234abcd@funky.example.com\r\n'
    b'CSeq: 60 OPTIONS\r\n'
    b'Via: SIP/2.0/UDP funky.example.com;branch=z9hG4bKkdjuw\r\n'
    b'l: 0\r\n'
    b'\r\n'
)
LONGREQ = (
    b'INVITE sip:user@example.com SIP/2.0\r\n'
    b'To: "I have a user name of extremeextremeextremeextremeextremeextremeextremeextr'
    b'emeextremeextreme proportion"<sip:user@example.com:6000;unknownparam1=verylonglo'
    b'nglonglonglonglonglonglonglonglonglonglonglonglonglonglonglonglonglonglongvalue;'
    b'longparamnamenamenamenamenamenamenamenamenamenamenamenamenamenamenamenamenamenam'
    b'enamenamenamenamenamenamename=shortvalue;verylonglonglonglonglonglonglonglonglon'
    b'glonglonglonglonglonglonglonglonglonglonglonglonglonglonglonglongParameterNameWi'
    b'thNoValue>\r\n'
    b'F: sip:amazinglylongcallernameamazinglylongcallernameamazinglylongcallernameamaz'
    b'inglylongcallernameamazinglylongcallername@example.net;tag=129829829829829829829'
    b'82982982982982982982982982982982982982982982982982982982982982982982982982982982'
    b'982982982982982982982982982982982982982982982982982424;unknownheaderparamnamenam'
    b'enamenamenamenamenamenamenamenamenamenamenamenamenamenamenamenamenamename=unknow'
    b'headerparamvaluevaluevaluevaluevaluevaluevaluevaluevaluevaluevaluevaluevaluevalu'
    b'evalue;unknownValuelessparamnameparamnameparamnameparamnameparamnameparamnamepar'
    b'amnameparamnameparamnameparamname\r\n'
    b'Call-ID: longreq.onereallyreallyreallyreallyreallyreallyreallyreallyreallyreally'
    b'reallyreallyreallyreallyreallyreallyreallyreallyreallyreallylongcallid\r\n'
    b'CSeq: 3882340 INVITE\r\n'
    b'Unknown-LongLongLongLongLongLongLongLongLongLongLongLongLongLongLongLongLongLong'
    b'LongLong-Name: unknown-longlonglonglonglonglonglonglonglonglonglonglonglonglongl'
    b'onglonglonglonglonglong-value; unknown-longlonglonglonglonglonglonglonglonglongl'
    b'onglonglonglonglonglonglonglonglonglong-parameter-name = unknown-longlonglonglon'
    b'glonglonglonglonglonglonglonglonglonglonglonglonglonglonglonglong-parameter-valu'
    b'e\r\n'
    b'Via: SIP/2.0/TCP sip33.example.com\r\n'
    b'v: SIP/2.0/TCP sip32.example.com\r\n'
    b'V: SIP/2.0/TCP sip31.example.com\r\n'
    b'Via: SIP/2.0/TCP sip30.example.com\r\n'
    b'ViA: SIP/2.0/TCP sip29.example.com\r\n'
    b'VIa: SIP/2.0/TCP sip28.example.com\r\n'
    b'VIA: SIP/2.0/TCP sip27.example.com\r\n'
    b'via: SIP/2.0/TCP sip26.example.com\r\n'
    b'viA: SIP/2.0/TCP sip25.example.com\r\n'
    b'vIa: SIP/2.0/TCP sip24.example.com\r\n'
    b'vIA: SIP/2.0/TCP sip23.example.com\r\n'
    b'V :  SIP/2.0/TCP sip22.example.com\r\n'
    b'v :  SIP/2.0/TCP sip21.example.com\r\n'
    b'V  : SIP/2.0/TCP sip20.example.com\r\n'
    b'v  : SIP/2.0/TCP sip19.example.com\r\n'
    b'Via : SIP/2.0/TCP sip18.example.com\r\n'
    b'Via  : SIP/2.0/TCP sip17.example.com\r\n'
    b'Via: SIP/2.0/TCP sip16.example.com\r\n'
    b'Via: SIP/2.0/TCP sip15.example.com\r\n'
    b'Via: SIP/2.0/TCP sip14.example.com\r\n'
    b'Via: SIP/2.0/TCP sip13.example.com\r\n'
    b'Via: SIP/2.0/TCP sip12.example.com\r\n'
    b'Via: SIP/2.0/TCP sip11.example.com\r\n'
    b'Via: SIP/2.0/TCP sip10.example.com\r\n'
    b'Via: SIP/2.0/TCP sip9.example.com\r\n'
    b'Via: SIP/2.0/TCP sip8.example.com\r\n'
    b'Via: SIP/2.0/TCP sip7.example.com\r\n'
    b'Via: SIP/2.0/TCP sip6.example.com\r\n'
    b'Via: SIP/2.0/TCP sip5.example.com\r\n'
    b'Via: SIP/2.0/TCP sip4.example.com\r\n'
    b'Via: SIP/2.0/TCP sip3.example.com\r\n'
    b'Via: SIP/2.0/TCP sip2.example.com\r\n'
    b'Via: SIP/2.0/TCP sip1.example.com\r\n'
    b'Via: SIP/2.0/TCP host.example.com;received=192.0.2.5;branch=verylonglonglonglong'
    b'longlonglonglonglonglonglonglonglonglonglonglonglonglonglonglonglonglonglonglong'
    b'longlonglonglonglonglonglonglonglonglonglonglonglonglonglonglonglonglonglonglong'
    b'longlonglonglonglonglongbranchvalue\r\n'
    b'Max-Forwards: 70\r\n'
    b'Contact: <sip:amazinglylongcallernameamazinglylongcallernameamazinglylongcallern'
    b'ameamazinglylongcallernameamazinglylongcallername@host5.example.net>\r\n'
    b'Content-Type: application/sdp\r\n'
    b'l: 150\r\n'
    b'\r\n'
    b'v=0\r\n'
    b'o=mhandley 29739 7272939 IN IP4 192.0.2.1\r\n'
    b's=-\r\n'
    b'c=IN IP4 192.0.2.1\r\n'
    b't=0 0\r\n'
    b'm=audio 49217 RTP/AVP 0 12\r\n'
    b'm=video 3227 RTP/AVP 31\r\n'
    b'a=rtpmap:31 LPC\r\n'
)
DBLREQ = (
    b'REGISTER sip:example.com SIP/2.0\r\n'
    b'To: sip:j.user@example.com\r\n'
    b'From: sip:j.user@example.com;tag=43251j3j324\r\n'
    b'Max-Forwards: 8\r\n'
    b'I: dblreq.0ha0isndaksdj99sdfafnl3lk233412\r\n'
    b'Contact: sip:j.user@host.example.com\r\n'
    b'CSeq: 8 REGISTER\r\n'
    b'Via: SIP/2.0/UDP 192.0.2.125;branch=z9hG4bKkdjuw23492\r\n'
    b'Content-Length: 0\r\n'
    b'\r\n'
    b'\r\n'
    b'INVITE sip:joe@example.com SIP/2.0\r\n'
    b't: sip:joe@example.com\r\n'
    b'From: sip:caller@example.net;tag=141334\r\n'
    b'Max-Forwards: 8\r\n'
    b'Call-ID: dblreq.0ha0isnda977644900765@192.0.2.15\r\n'
    b'CSeq: 8 INVITE\r\n'
    b'Via: SIP/2.0/UDP 192.0.2.15;branch=z9hG4bKkdjuw380234\r\n'
    b'Content-Type: application/sdp\r\n'
    b'Content-Length: 150\r\n'
    b'\r\n'
    b'v=0\r\n'
    b'o=mhandley 29739 7272939 IN IP4 192.0.2.15\r\n'
    b's=-\r\n'
    b'c=IN IP4 192.0.2.15\r\n'
    b't=0 0\r\n'
    b'm=audio 49217 RTP/AVP 0 12\r\n'
    b'm =video 3227 RTP/AVP 31\r\n'
    b'a=rtpmap:31 LPC\r\n'
    b'\r\n'
)
SEMIURI = (
    b'OPTIONS sip:user;par=u%40example.net@example.com SIP/2.0\r\n'
    b'To: sip:j_user@example.com\r\n'
    b'From: sip:caller@example.org;tag=33242\r\n'
    b'Max-Forwards: 3\r\n'
    b'Call-ID: semiuri.0ha0isndaksdj\r\n'
    b'CSeq: 8 OPTIONS\r\n'
    b'Accept: application/sdp, application/pkcs7-mime,\r\n'
    b'        multipart/mixed, multipart/signed,\r\n'
    b'        message/sip, message/sipfrag\r\n'
    b'Via: SIP/2.0/UDP 192.0.2.1;branch=z9hG4bKkdjuw\r\n'
    b'l: 0\r\n'
    b'\r\n'
)
TRANSPORTS = (
    b'OPTIONS sip:user@example.com SIP/2.0\r\n'
    b'To: sip:user@example.com\r\n'
    b'From: <sip:caller@example.com>;tag=323\r\n'
    b'Max-Forwards: 70\r\n'
    b'Call-ID:  transports.kijh4akdnaqjkwendsasfdj\r\n'
    b'Accept: application/sdp\r\n'
    b'CSeq: 60 OPTIONS\r\n'
    b'Via: SIP/2.0/UDP t1.example.com;branch=z9hG4bKkdjuw\r\n'
    b'Via: SIP/2.0/SCTP t2.example.com;branch=z9hG4bKklasjdhf\r\n'
    b'Via: SIP/2.0/TLS t3.example.com;branch=z9hG4bK2980unddj\r\n'
    b'Via: SIP/2.0/UNKNOWN t4.example.com;branch=z9hG4bKasd0f3en\r\n'
    b'Via: SIP/2.0/TCP t5.example.com;branch=z9hG4bK0a9idfnee\r\n'
    b'l: 0\r\n'
    b'\r\n'
)
MPART01 = (
    b'MESSAGE sip:kumiko@example.org SIP/2.0\r\n'
    b'Via: SIP/2.0/UDP 127.0.0.1:5070;branch=z9hG4bK-d87543-4dade06d0bdb11ee-1--d87543'
    b'-;rport\r\n'
    b'Max-Forwards: 70\r\n'
    b'Route: <sip:127.0.0.1:5080>\r\n'
    b'Identity: r5mwreLuyDRYBi/0TiPwEsY3rEVsk/G2WxhgTV1PF7hHuLIK0YWVKZhKv9Mj8UeXqkMVbn'
    b'Vq37CD+813gvYjcBUaZngQmXc9WNZSDNGCzA+fWl9MEUHWIZo1CeJebdY/XlgKeTa0Olvq0rt70Q5jiS'
    b'fbqMJmQFteeivUhkMWYUA=\r\n'
    b'Contact: <sip:fluffy@127.0.0.1:5070>\r\n'
    b'To: <sip:kumiko@example.org>\r\n'
    b'From: <sip:fluffy@example.com>;tag=2fb0dcc9\r\n'
    b'Call-ID: 3d9485ad0c49859b@Zmx1ZmZ5LW1hYy0xNi5sb2NhbA..\r\n'
    b'CSeq: 1 MESSAGE\r\n'
    b'Content-Transfer-Encoding: binary\r\n'
    b'Content-Type: multipart/mixed;boundary=7a9cbec02ceef655\r\n'
    b'Date: Sat, 15 Oct 2005 04:44:56 GMT\r\n'
    b'User-Agent: SIPimp.org/0.2.5 (curses)\r\n'
    b'Content-Length: 553\r\n'
    b'\r\n'
    b'--7a9cbec02ceef655\r\n'
    b'Content-Type: text/plain\r\n'
    b'Content-Transfer-Encoding: binary\r\n'
    b'\r\n'
    b'Hello\r\n'
    b'--7a9cbec02ceef655\r\n'
    b'Content-Type: application/octet-stream\r\n'
    b'Content-Transfer-Encoding: binary\r\n'
    b'\r\n'
    b'0\x82\x01R\x06\t*\x86H\x86\xf7\r\x01\x07\x02\xa0\x82\x01C0\x82\x01?\x02\x01\x011\t0\x07\x06\x05+\x0e\x03\x02\x1a0\x0b\x06\t*\x86H\x86\xf7\r\x01\x07\x011\x82\x01 0\x82\x01\x1c\x02\x01\x010|0p1\x0b0\t\x06\x03U\x04\x06\x13\x02US1\x13'
    b'0\x11\x06\x03U\x04\x08\x13\n'
    b'California1\x110\x0f\x06\x03U\x04\x07\x13\x08San Jose1\x0e0\x0c\x06\x03U\x04\n'
    b"\x13\x05sipit1)0'\x06\x03U\x04\x0b\x13 Sipit Test Certificate Authority\x02\x08\x01\x95\x00q\x023\x01\x130\x07\x06\x05+\x0e\x03\x02\x1a0\r\x06\t*\x86H\x86\xf7\r\x01"
    b'\x01\x01\x05\x00\x04\x81\x80\x8e\xf4f\xf9H\xf0R-\xd2\xe5\x97\x8e\x9d\x95\xaa\xe9\xf2\xfe\x15\xa0fYqb\x92\xe8\xda*\xa8\xd85\n'
    b"h\xce\xff\xae<\xbd+\xff\x16u\xdd\xd5d\x8eY=\xd6G(\xf2b \xf7\xe9At\x9e3\r\x9a\x15\xed\xab\xdb\x93\xd1\x0cB\x10.{r\x89\xd2\x9c\xc0\xc9\xae.\xfb\xc7\xc0\xcf\xf9\x17/;\x02~O\xc0'\xe1Tm\xe4\xb6\xaa:\xbb>f\xcc\xcb]\xd6\xc6K\x83\x83"
    b'\x14\x9c\xb8\xe6\xff\x18-\x94O\xe5{e\xbc\x99\xd0\x05\r\n'
    b'--7a9cbec02ceef655--\r\n'
)
UNREASON = (
    b'SIP/2.0 200 = 2**3 * 5**2 \xd0\xbd\xd0\xbe \xd1\x81\xd1\x82\xd0\xbe \xd0\xb4\xd0\xb5\xd0\xb2\xd1\x8f\xd0\xbd\xd0\xbe\xd1\x81\xd1\x82\xd0\xbe \xd0\xb4\xd0\xb5\xd0\xb2\xd1\x8f\xd1\x82\xd1\x8c - \xd0\xbf\xd1\x80\xd0\xbe\xd1\x81'
    b'\xd1\x82\xd0\xbe\xd0\xb5\r\n'
    b'Via: SIP/2.0/UDP 192.0.2.198;branch=z9hG4bK1324923\r\n'
    b'Call-ID: unreason.1234ksdfak3j2erwedfsASdf\r\n'
    b'CSeq: 35 INVITE\r\n'
    b'From: sip:user@example.com;tag=11141343\r\n'
    b'To: sip:user@example.edu;tag=2229\r\n'
    b'Content-Length: 154\r\n'
    b'Content-Type: application/sdp\r\n'
    b'Contact: <sip:user@host198.example.com>\r\n'
    b'\r\n'
    b'v=0\r\n'
    b'o=mhandley 29739 7272939 IN IP4 192.0.2.198\r\n'
    b's=-\r\n'
    b'c=IN IP4 192.0.2.198\r\n'
    b't=0 0\r\n'
    b'm=audio 49217 RTP/AVP 0 12\r\n'
    b'm=video 3227 RTP/AVP 31\r\n'
    b'a=rtpmap:31 LPC\r\n'
)
NOREASON = (
    b'SIP/2.0 100 \r\n'
    b'Via: SIP/2.0/UDP 192.0.2.105;branch=z9hG4bK2398ndaoe\r\n'
    b'Call-ID: noreason.asndj203insdf99223ndf\r\n'
    b'CSeq: 35 INVITE\r\n'
    b'From: <sip:user@example.com>;tag=39ansfi3\r\n'
    b'To: <sip:user@example.edu>;tag=902jndnke3\r\n'
    b'Content-Length: 0\r\n'
    b'Contact: <sip:user@host105.example.com>\r\n'
    b'\r\n'
)
BADINV01 = (
    b'INVITE sip:user@example.com SIP/2.0\r\n'
    b'To: sip:j.user@example.com\r\n'
    b'From: sip:caller@example.net;tag=134161461246\r\n'
    b'Max-Forwards: 7\r\n'
    b'Call-ID: badinv01.0ha0isndaksdjasdf3234nas\r\n'
    b'CSeq: 8 INVITE\r\n'
    b'Via: SIP/2.0/UDP 192.0.2.15;;,;,,\r\n'
    b'Contact: "Joe" <sip:joe@example.org>;;;;\r\n'
    b'Content-Length: 152\r\n'
    b'Content-Type: application/sdp\r\n'
    b'\r\n'
    b'v=0\r\n'
    b'o=mhandley 29739 7272939 IN IP4 192.0.2.15\r\n'
    b's=-\r\n'
    b'c=IN IP4 192.0.2.15\r\n'
    b't=0 0\r\n'
    b'm=audio 49217 RTP/AVP 0 12\r\n'
    b'm=video 3227 RTP/AVP 31\r\n'
    b'a=rtpmap:31 LPC\r\n'
)
CLERR = (
    b'INVITE sip:user@example.com SIP/2.0\r\n'
    b'Max-Forwards: 80\r\n'
    b'To: sip:j.user@example.com\r\n'
    b'From: sip:caller@example.net;tag=93942939o2\r\n'
    b'Contact: <sip:caller@hungry.example.net>\r\n'
    b'Call-ID: clerr.0ha0isndaksdjweiafasdk3\r\n'
    b'CSeq: 8 INVITE\r\n'
    b'Via: SIP/2.0/UDP host5.example.com;branch=z9hG4bK-39234-23523\r\n'
    b'Content-Type: application/sdp\r\n'
    b'Content-Length: 9999\r\n'
    b'\r\n'
    b'v=0\r\n'
    b'o=mhandley 29739 7272939 IN IP4 192.0.2.155\r\n'
    b's=-\r\n'
    b'c=IN IP4 192.0.2.155\r\n'
    b't=0 0\r\n'
    b'm=audio 49217 RTP/AVP 0 12\r\n'
    b'm=video 3227 RTP/AVP 31\r\n'
    b'a=rtpmap:31 LPC\r\n'
)
NCL = (
    b'INVITE sip:user@example.com SIP/2.0\r\n'
    b'Max-Forwards: 254\r\n'
    b'To: sip:j.user@example.com\r\n'
    b'From: sip:caller@example.net;tag=32394234\r\n'
    b'Call-ID: ncl.0ha0isndaksdj2193423r542w35\r\n'
    b'CSeq: 0 INVITE\r\n'
    b'Via: SIP/2.0/UDP 192.0.2.53;branch=z9hG4bKkdjuw\r\n'
    b'Contact: <sip:caller@example53.example.net>\r\n'
    b'Content-Type: application/sdp\r\n'
    b'Content-Length: -999\r\n'
    b'\r\n'
    b'v=0\r\n'
    b'o=mhandley 29739 7272939 IN IP4 192.0.2.53\r\n'
    b's=-\r\n'
    b'c=IN IP4 192.0.2.53\r\n'
    b't=0 0\r\n'
    b'm=audio 49217 RTP/AVP 0 12\r\n'
    b'm=video 3227 RTP/AVP 31\r\n'
    b'a=rtpmap:31 LPC\r\n'
)
SCALAR02 = (
    b'REGISTER sip:example.com SIP/2.0\r\n'
    b'Via: SIP/2.0/TCP host129.example.com;branch=z9hG4bK342sdfoi3\r\n'
    b'To: <sip:user@example.com>\r\n'
    b'From: <sip:user@example.com>;tag=239232jh3\r\n'
    b'CSeq: 36893488147419103232 REGISTER\r\n'
    b'Call-ID: scalar02.23o0pd9vanlq3wnrlnewofjas9ui32\r\n'
    b'Max-Forwards: 300\r\n'
    b'Expires: 10000000000000000000000000000000000000000000000000000000000000000000000'
    b'000000000000000000000000000000\r\n'
    b'Contact: <sip:user@host129.example.com>\r\n'
    b'  ;expires=280297596632815\r\n'
    b'Content-Length: 0\r\n'
    b'\r\n'
)
SCALARLG = (
    b'SIP/2.0 503 Service Unavailable\r\n'
    b'Via: SIP/2.0/TCP host129.example.com;branch=z9hG4bKzzxdiwo34sw;received=192.0.2.'
    b'129\r\n'
    b'To: <sip:user@example.com>\r\n'
    b'From: <sip:other@example.net>;tag=2easdjfejw\r\n'
    b'CSeq: 9292394834772304023312 OPTIONS\r\n'
    b'Call-ID: scalarlg.noase0of0234hn2qofoaf0232aewf2394r\r\n'
    b'Retry-After: 949302838503028349304023988\r\n'
    b'Warning: 1812 overture "In Progress"\r\n'
    b'Content-Length: 0\r\n'
    b'\r\n'
)
QUOTBAL = (
    b'INVITE sip:user@example.com SIP/2.0\r\n'
    b'To: "Mr. J. User <sip:j.user@example.com>\r\n'
    b'From: sip:caller@example.net;tag=93334\r\n'
    b'Max-Forwards: 10\r\n'
    b'Call-ID: quotbal.aksdj\r\n'
    b'Contact: <sip:caller@host59.example.net>\r\n'
    b'CSeq: 8 INVITE\r\n'
    b'Via: SIP/2.0/UDP 192.0.2.59:5050;branch=z9hG4bKkdjuw39234\r\n'
    b'Content-Type: application/sdp\r\n'
    b'Content-Length: 152\r\n'
    b'\r\n'
    b'v=0\r\n'
    b'o=mhandley 29739 7272939 IN IP4 192.0.2.15\r\n'
    b's=-\r\n'
    b'c=IN IP4 192.0.2.15\r\n'
    b't=0 0\r\n'
    b'm=audio 49217 RTP/AVP 0 12\r\n'
    b'm=video 3227 RTP/AVP 31\r\n'
    b'a=rtpmap:31 LPC\r\n'
)
LTGTRURI = (
    b'INVITE <sip:user@example.com> SIP/2.0\r\n'
    b'To: sip:user@example.com\r\n'
    b'From: sip:caller@example.net;tag=39291\r\n'
    b'Max-Forwards: 23\r\n'
    b'Call-ID: ltgtruri.1@192.0.2.5\r\n'
    b'CSeq: 1 INVITE\r\n'
    b'Via: SIP/2.0/UDP 192.0.2.5\r\n'
    b'Contact: <sip:caller@host5.example.net>\r\n'
    b'Content-Type: application/sdp\r\n'
    b'Content-Length: 159\r\n'
    b'\r\n'
    b'v=0\r\n'
    b'o=mhandley 29739 7272939 IN IP4 192.0.2.5\r\n'
    b's=-\r\n'
    b'c=IN IP4 192.0.2.5\r\n'
    b't=3149328700 0\r\n'
    b'm=audio 49217 RTP/AVP 0 12\r\n'
    b'm=video 3227 RTP/AVP 31\r\n'
    b'a=rtpmap:31 LPC\r\n'
)
LWSRURI = (
    b'INVITE sip:user@example.com; lr SIP/2.0\r\n'
    b'To: sip:user@example.com;tag=3xfe-9921883-z9f\r\n'
    b'From: sip:caller@example.net;tag=231413434\r\n'
    b'Max-Forwards: 5\r\n'
    b'Call-ID: lwsruri.asdfasdoeoi2323-asdfwrn23-asd834rk423\r\n'
    b'CSeq: 2130706432 INVITE\r\n'
    b'Via: SIP/2.0/UDP 192.0.2.1:5060;branch=z9hG4bKkdjuw2395\r\n'
    b'Contact: <sip:caller@host1.example.net>\r\n'
    b'Content-Type: application/sdp\r\n'
    b'Content-Length: 159\r\n'
    b'\r\n'
    b'v=0\r\n'
    b'o=mhandley 29739 7272939 IN IP4 192.0.2.1\r\n'
    b's=-\r\n'
    b'c=IN IP4 192.0.2.1\r\n'
    b't=3149328700 0\r\n'
    b'm=audio 49217 RTP/AVP 0 12\r\n'
    b'm=video 3227 RTP/AVP 31\r\n'
    b'a=rtpmap:31 LPC\r\n'
)
LWSSTART = (
    b'INVITE  sip:user@example.com  SIP/2.0\r\n'
    b'Max-Forwards: 8\r\n'
    b'To: sip:user@example.com\r\n'
    b'From: sip:caller@example.net;tag=8814\r\n'
    b'Call-ID: lwsstart.dfknq234oi243099adsdfnawe3@example.com\r\n'
    b'CSeq: 1893884 INVITE\r\n'
    b'Via: SIP/2.0/UDP host1.example.com;branch=z9hG4bKkdjuw3923\r\n'
    b'Contact: <sip:caller@host1.example.net>\r\n'
    b'Content-Type: application/sdp\r\n'
    b'Content-Length: 150\r\n'
    b'\r\n'
    b'v=0\r\n'
    b'o=mhandley 29739 7272939 IN IP4 192.0.2.1\r\n'
    b's=-\r\n'
    b'c=IN IP4 192.0.2.1\r\n'
    b't=0 0\r\n'
    b'm=audio 49217 RTP/AVP 0 12\r\n'
    b'm=video 3227 RTP/AVP 31\r\n'
    b'a=rtpmap:31 LPC\r\n'
)
TRWS = (
    b'OPTIONS sip:remote-target@example.com SIP/2.0  \r\n'
    b'Via: SIP/2.0/TCP host1.examle.com;branch=z9hG4bK299342093\r\n'
    b'To: <sip:remote-target@example.com>\r\n'
    b'From: <sip:local-resource@example.com>;tag=329429089\r\n'
    b'Call-ID: trws.oicu34958239neffasdhr2345r\r\n'
    b'Accept: application/sdp\r\n'
    b'CSeq: 238923 OPTIONS\r\n'
    b'Max-Forwards: 70\r\n'
    b'Content-Length: 0\r\n'
    b'\r\n'
)
ESCRURI = (
    b'INVITE sip:user@example.com?Route=%3Csip:example.com%3E SIP/2.0\r\n'
    b'To: sip:user@example.com\r\n'
    b'From: sip:caller@example.net;tag=341518\r\n'
    b'Max-Forwards: 7\r\n'
    b'Contact: <sip:caller@host39923.example.net>\r\n'
    b'Call-ID: escruri.23940-asdfhj-aje3br-234q098w-fawerh2q-h4n5\r\n'
    b'CSeq: 149209342 INVITE\r\n'
    b'Via: SIP/2.0/UDP host-of-the-hour.example.com;branch=z9hG4bKkdjuw\r\n'
    b'Content-Type: application/sdp\r\n'
    b'Content-Length: 150\r\n'
    b'\r\n'
    b'v=0\r\n'
    b'o=mhandley 29739 7272939 IN IP4 192.0.2.1\r\n'
    b's=-\r\n'
    b'c=IN IP4 192.0.2.1\r\n'
    b't=0 0\r\n'
    b'm=audio 49217 RTP/AVP 0 12\r\n'
    b'm=video 3227 RTP/AVP 31\r\n'
    b'a=rtpmap:31 LPC\r\n'
)
BADDATE = (
    b'INVITE sip:user@example.com SIP/2.0\r\n'
    b'To: sip:user@example.com\r\n'
    b'From: sip:caller@example.net;tag=2234923\r\n'
    b'Max-Forwards: 70\r\n'
    b'Call-ID: baddate.239423mnsadf3j23lj42--sedfnm234\r\n'
    b'CSeq: 1392934 INVITE\r\n'
    b'Via: SIP/2.0/UDP host.example.com;branch=z9hG4bKkdjuw\r\n'
    b'Date: Fri, 01 Jan 2010 16:00:00 EST\r\n'
    b'Contact: <sip:caller@host5.example.net>\r\n'
    b'Content-Type: application/sdp\r\n'
    b'Content-Length: 150\r\n'
    b'\r\n'
    b'v=0\r\n'
    b'o=mhandley 29739 7272939 IN IP4 192.0.2.5\r\n'
    b's=-\r\n'
    b'c=IN IP4 192.0.2.5\r\n'
    b't=0 0\r\n'
    b'm=audio 49217 RTP/AVP 0 12\r\n'
    b'm=video 3227 RTP/AVP 31\r\n'
    b'a=rtpmap:31 LPC\r\n'
)
REGBADCT = (
    b'REGISTER sip:example.com SIP/2.0\r\n'
    b'To: sip:user@example.com\r\n'
    b'From: sip:user@example.com;tag=998332\r\n'
    b'Max-Forwards: 70\r\n'
    b'Call-ID: regbadct.k345asrl3fdbv@10.0.0.1\r\n'
    b'CSeq: 1 REGISTER\r\n'
    b'Via: SIP/2.0/UDP 135.180.130.133:5060;branch=z9hG4bKkdjuw\r\n'
    b'Contact: sip:user@example.com?Route=%3Csip:sip.example.com%3E\r\n'
    b'l: 0\r\n'
    b'\r\n'
)
BADASPEC = (
    b'OPTIONS sip:user@example.org SIP/2.0\r\n'
    b'Via: SIP/2.0/UDP host4.example.com:5060;branch=z9hG4bKkdju43234\r\n'
    b'Max-Forwards: 70\r\n'
    b'From: "Bell, Alexander" <sip:a.g.bell@example.com>;tag=433423\r\n'
    b'To: "Watson, Thomas" < sip:t.watson@example.org >\r\n'
    b'Call-ID: badaspec.sdf0234n2nds0a099u23h3hnnw009cdkne3\r\n'
    b'Accept: application/sdp\r\n'
    b'CSeq: 3923239 OPTIONS\r\n'
    b'l: 0\r\n'
    b'\r\n'
)
BADDN = (
    b'OPTIONS sip:t.watson@example.org SIP/2.0\r\n'
    b'Via:     SIP/2.0/UDP c.example.com:5060;branch=z9hG4bKkdjuw\r\n'
    b'Max-Forwards:      70\r\n'
    b'From:    Bell, Alexander <sip:a.g.bell@example.com>;tag=43\r\n'
    b'To:      Watson, Thomas <sip:t.watson@example.org>\r\n'
    b'Call-ID: baddn.31415@c.example.com\r\n'
    b'Accept: application/sdp\r\n'
    b'CSeq:    3923239 OPTIONS\r\n'
    b'l: 0\r\n'
    b'\r\n'
)
BADVERS = (
    b'OPTIONS sip:t.watson@example.org SIP/7.0\r\n'
    b'Via:     SIP/7.0/UDP c.example.com;branch=z9hG4bKkdjuw\r\n'
    b'Max-Forwards:     70\r\n'
    b'From:    A. Bell <sip:a.g.bell@example.com>;tag=qweoiqpe\r\n'
    b'To:      T. Watson <sip:t.watson@example.org>\r\n'
    b'Call-ID: badvers.31417@c.example.com\r\n'
    b'CSeq:    1 OPTIONS\r\n'
    b'l: 0\r\n'
    b'\r\n'
)
MISMATCH01 = (
    b'OPTIONS sip:user@example.com SIP/2.0\r\n'
    b'To: sip:j.user@example.com\r\n'
    b'From: sip:caller@example.net;tag=34525\r\n'
    b'Max-Forwards: 6\r\n'
    b'Call-ID: mismatch01.dj0234sxdfl3\r\n'
    b'CSeq: 8 INVITE\r\n'
    b'Via: SIP/2.0/UDP host.example.com;branch=z9hG4bKkdjuw\r\n'
    b'l: 0\r\n'
    b'\r\n'
)
MISMATCH02 = (
    b'NEWMETHOD sip:user@example.com SIP/2.0\r\n'
    b'To: sip:j.user@example.com\r\n'
    b'From: sip:caller@example.net;tag=34525\r\n'
    b'Max-Forwards: 6\r\n'
    b'Call-ID: mismatch02.dj0234sxdfl3\r\n'
    b'CSeq: 8 INVITE\r\n'
    b'Contact: <sip:caller@host.example.net>\r\n'
    b'Via: SIP/2.0/UDP host.example.net;branch=z9hG4bKkdjuw\r\n'
    b'Content-Type: application/sdp\r\n'
    b'l: 138\r\n'
    b'\r\n'
    b'v=0\r\n'
    b'o=mhandley 29739 7272939 IN IP4 192.0.2.1\r\n'
    b'c=IN IP4 192.0.2.1\r\n'
    b'm=audio 49217 RTP/AVP 0 12\r\n'
    b'm=video 3227 RTP/AVP 31\r\n'
    b'a=rtpmap:31 LPC\r\n'
)
BIGCODE = (
    b'SIP/2.0 4294967301 better not break the receiver\r\n'
    b'Via: SIP/2.0/UDP 192.0.2.105;branch=z9hG4bK2398ndaoe\r\n'
    b'Call-ID: bigcode.asdof3uj203asdnf3429uasdhfas3ehjasdfas9i\r\n'
    b'CSeq: 353494 INVITE\r\n'
    b'From: <sip:user@example.com>;tag=39ansfi3\r\n'
    b'To: <sip:user@example.edu>;tag=902jndnke3\r\n'
    b'Content-Length: 0\r\n'
    b'Contact: <sip:user@host105.example.com>\r\n'
    b'\r\n'
)
BADBRANCH = (
    b'OPTIONS sip:user@example.com SIP/2.0\r\n'
    b'To: sip:user@example.com\r\n'
    b'From: sip:caller@example.org;tag=33242\r\n'
    b'Max-Forwards: 3\r\n'
    b'Via: SIP/2.0/UDP 192.0.2.1;branch=z9hG4bK\r\n'
    b'Accept: application/sdp\r\n'
    b'Call-ID: badbranch.sadonfo23i420jv0as0derf3j3n\r\n'
    b'CSeq: 8 OPTIONS\r\n'
    b'l: 0\r\n'
    b'\r\n'
)
INSUF = (
    b'INVITE sip:user@example.com SIP/2.0\r\n'
    b'CSeq: 193942 INVITE\r\n'
    b'Via: SIP/2.0/UDP 192.0.2.95;branch=z9hG4bKkdj.insuf\r\n'
    b'Content-Type: application/sdp\r\n'
    b'l: 152\r\n'
    b'\r\n'
    b'v=0\r\n'
    b'o=mhandley 29739 7272939 IN IP4 192.0.2.95\r\n'
    b's=-\r\n'
    b'c=IN IP4 192.0.2.95\r\n'
    b't=0 0\r\n'
    b'm=audio 49217 RTP/AVP 0 12\r\n'
    b'm=video 3227 RTP/AVP 31\r\n'
    b'a=rtpmap:31 LPC\r\n'
)
UNKSCM = (
    b'OPTIONS nobodyKnowsThisScheme:totallyopaquecontent SIP/2.0\r\n'
    b'To: sip:user@example.com\r\n'
    b'From: sip:caller@example.net;tag=384\r\n'
    b'Max-Forwards: 3\r\n'
    b'Call-ID: unkscm.nasdfasser0q239nwsdfasdkl34\r\n'
    b'CSeq: 3923423 OPTIONS\r\n'
    b'Via: SIP/2.0/TCP host9.example.com;branch=z9hG4bKkdjuw39234\r\n'
    b'Content-Length: 0\r\n'
    b'\r\n'
)
NOVELSC = (
    b'OPTIONS soap.beep://192.0.2.103:3002 SIP/2.0\r\n'
    b'To: sip:user@example.com\r\n'
    b'From: sip:caller@example.net;tag=384\r\n'
    b'Max-Forwards: 3\r\n'
    b'Call-ID: novelsc.asdfasser0q239nwsdfasdkl34\r\n'
    b'CSeq: 3923423 OPTIONS\r\n'
    b'Via: SIP/2.0/TCP host9.example.com;branch=z9hG4bKkdjuw39234\r\n'
    b'Content-Length: 0\r\n'
    b'\r\n'
)
UNKSM2 = (
    b'REGISTER sip:example.com SIP/2.0\r\n'
    b'To: isbn:2983792873\r\n'
    b'From: <http://www.example.com>;tag=3234233\r\n'
    b'Call-ID: unksm2.daksdj@hyphenated-host.example.com\r\n'
    b'CSeq: 234902 REGISTER\r\n'
    b'Max-Forwards: 70\r\n'
    b'Via: SIP/2.0/UDP 192.0.2.21:5060;branch=z9hG4bKkdjuw\r\n'
    b'Contact: <name:John_Smith>\r\n'
    b'l: 0\r\n'
    b'\r\n'
)
BEXT01 = (
    b'OPTIONS sip:user@example.com SIP/2.0\r\n'
    b'To: sip:j_user@example.com\r\n'
    b'From: sip:caller@example.net;tag=242etr\r\n'
    b'Max-Forwards: 6\r\n'
    b'Call-ID: bext01.0ha0isndaksdj\r\n'
    b'Require: nothingSupportsThis, nothingSupportsThisEither\r\n'
    b'Proxy-Require: noProxiesSupportThis, norDoAnyProxiesSupportThis\r\n'
    b'CSeq: 8 OPTIONS\r\n'
    b'Via: SIP/2.0/TLS fold-and-staple.example.com;branch=z9hG4bKkdjuw\r\n'
    b'Content-Length: 0\r\n'
    b'\r\n'
)
INVUT = (
    b'INVITE sip:user@example.com SIP/2.0\r\n'
    b'Contact: <sip:caller@host5.example.net>\r\n'
    b'To: sip:j.user@example.com\r\n'
    b'From: sip:caller@example.net;tag=8392034\r\n'
    b'Max-Forwards: 70\r\n'
    b'Call-ID: invut.0ha0isndaksdjadsfij34n23d\r\n'
    b'CSeq: 235448 INVITE\r\n'
    b'Via: SIP/2.0/UDP somehost.example.com;branch=z9hG4bKkdjuw\r\n'
    b'Content-Type: application/unknownformat\r\n'
    b'Content-Length: 40\r\n'
    b'\r\n'
    b'<audio>\r\n'
    b' <pcmu port="443"/>\r\n'
    b'</audio>\r\n'
)
REGAUT01 = (
    b'REGISTER sip:example.com SIP/2.0\r\n'
    b'To: sip:j.user@example.com\r\n'
    b'From: sip:j.user@example.com;tag=87321hj23128\r\n'
    b'Max-Forwards: 8\r\n'
    b'Call-ID: regaut01.0ha0isndaksdj\r\n'
    b'CSeq: 9338 REGISTER\r\n'
    b'Via: SIP/2.0/TCP 192.0.2.253;branch=z9hG4bKkdjuw\r\n'
    b'Authorization: NoOneKnowsThisScheme opaque-data=here\r\n'
    b'Content-Length:0\r\n'
    b'\r\n'
)
MULTI01 = (
    b'INVITE sip:user@company.com SIP/2.0\r\n'
    b'Contact: <sip:caller@host25.example.net>\r\n'
    b'Via: SIP/2.0/UDP 192.0.2.25;branch=z9hG4bKkdjuw\r\n'
    b'Max-Forwards: 70\r\n'
    b'CSeq: 5 INVITE\r\n'
    b'Call-ID: multi01.98asdh@192.0.2.1\r\n'
    b'CSeq: 59 INVITE\r\n'
    b'Call-ID: multi01.98asdh@192.0.2.2\r\n'
    b'From: sip:caller@example.com;tag=3413415\r\n'
    b'To: sip:user@example.com\r\n'
    b'To: sip:other@example.net\r\n'
    b'From: sip:caller@example.net;tag=2923420123\r\n'
    b'Content-Type: application/sdp\r\n'
    b'l: 154\r\n'
    b'Contact: <sip:caller@host36.example.net>\r\n'
    b'Max-Forwards: 5\r\n'
    b'\r\n'
    b'v=0\r\n'
    b'o=mhandley 29739 7272939 IN IP4 192.0.2.25\r\n'
    b's=-\r\n'
    b'c=IN IP4 192.0.2.25\r\n'
    b't=0 0\r\n'
    b'm=audio 49217 RTP/AVP 0 12\r\n'
    b'm=video 3227 RTP/AVP 31\r\n'
    b'a=rtpmap:31 LPC\r\n'
    b'\r\n'
)
MCL01 = (
    b'OPTIONS sip:user@example.com SIP/2.0\r\n'
    b'Via: SIP/2.0/UDP host5.example.net;branch=z9hG4bK293423\r\n'
    b'To: sip:user@example.com\r\n'
    b'From: sip:other@example.net;tag=3923942\r\n'
    b'Call-ID: mcl01.fhn2323orihawfdoa3o4r52o3irsdf\r\n'
    b'CSeq: 15932 OPTIONS\r\n'
    b'Content-Length: 13\r\n'
    b'Max-Forwards: 60\r\n'
    b'Content-Length: 5\r\n'
    b'Content-Type: text/plain\r\n'
    b'\r\n'
    b"There's no way to know how many octets are supposed to be here.\r\n"
    b'\r\n'
)
BCAST = (
    b'SIP/2.0 200 OK\r\n'
    b'Via: SIP/2.0/UDP 192.0.2.198;branch=z9hG4bK1324923\r\n'
    b'Via: SIP/2.0/UDP 255.255.255.255;branch=z9hG4bK1saber23\r\n'
    b'Call-ID: bcast.0384840201234ksdfak3j2erwedfsASdf\r\n'
    b'CSeq: 35 INVITE\r\n'
    b'From: sip:user@example.com;tag=11141343\r\n'
    b'To: sip:user@example.edu;tag=2229\r\n'
    b'Content-Length: 154\r\n'
    b'Content-Type: application/sdp\r\n'
    b'Contact: <sip:user@host28.example.com>\r\n'
    b'\r\n'
    b'v=0\r\n'
    b'o=mhandley 29739 7272939 IN IP4 192.0.2.198\r\n'
    b's=-\r\n'
    b'c=IN IP4 192.0.2.198\r\n'
    b't=0 0\r\n'
    b'm=audio 49217 RTP/AVP 0 12\r\n'
    b'm=video 3227 RTP/AVP 31\r\n'
    b'a=rtpmap:31 LPC\r\n'
)
ZEROMF = (
    b'OPTIONS sip:user@example.com SIP/2.0\r\n'
    b'To: sip:user@example.com\r\n'
    b'From: sip:caller@example.net;tag=3ghsd41\r\n'
    b'Call-ID: zeromf.jfasdlfnm2o2l43r5u0asdfas\r\n'
    b'CSeq: 39234321 OPTIONS\r\n'
    b'Via: SIP/2.0/UDP host1.example.com;branch=z9hG4bKkdjuw2349i\r\n'
    b'Max-Forwards: 0\r\n'
    b'Content-Length: 0\r\n'
    b'\r\n'
)
CPARAM01 = (
    b'REGISTER sip:example.com SIP/2.0\r\n'
    b'Via: SIP/2.0/UDP saturn.example.com:5060;branch=z9hG4bKkdjuw\r\n'
    b'Max-Forwards: 70\r\n'
    b'From: sip:watson@example.com;tag=DkfVgjkrtMwaerKKpe\r\n'
    b'To: sip:watson@example.com\r\n'
    b'Call-ID: cparam01.70710@saturn.example.com\r\n'
    b'CSeq: 2 REGISTER\r\n'
    b'Contact: sip:+19725552222@gw1.example.net;unknownparam\r\n'
    b'l: 0\r\n'
    b'\r\n'
)
CPARAM02 = (
    b'REGISTER sip:example.com SIP/2.0\r\n'
    b'Via: SIP/2.0/UDP saturn.example.com:5060;branch=z9hG4bKkdjuw\r\n'
    b'Max-Forwards: 70\r\n'
    b'From: sip:watson@example.com;tag=838293\r\n'
    b'To: sip:watson@example.com\r\n'
    b'Call-ID: cparam02.70710@saturn.example.com\r\n'
    b'CSeq: 3 REGISTER\r\n'
    b'Contact: <sip:+19725552222@gw1.example.net;unknownparam>\r\n'
    b'l: 0\r\n'
    b'\r\n'
)
REGESCRT = (
    b'REGISTER sip:example.com SIP/2.0\r\n'
    b'To: sip:user@example.com\r\n'
    b'From: sip:user@example.com;tag=8\r\n'
    b'Max-Forwards: 70\r\n'
    b'Call-ID: regescrt.k345asrl3fdbv@192.0.2.1\r\n'
    b'CSeq: 14398234 REGISTER\r\n'
    b'Via: SIP/2.0/UDP host5.example.com;branch=z9hG4bKkdjuw\r\n'
    b'M: <sip:user@example.com?Route=%3Csip:sip.example.com%3E>\r\n'
    b'L:0\r\n'
    b'\r\n'
)
SDP01 = (
    b'INVITE sip:user@example.com SIP/2.0\r\n'
    b'To: sip:j_user@example.com\r\n'
    b'Contact: <sip:caller@host15.example.net>\r\n'
    b'From: sip:caller@example.net;tag=234\r\n'
    b'Max-Forwards: 5\r\n'
    b'Call-ID: sdp01.ndaksdj9342dasdd\r\n'
    b'Accept: text/nobodyKnowsThis\r\n'
    b'CSeq: 8 INVITE\r\n'
    b'Via: SIP/2.0/UDP 192.0.2.15;branch=z9hG4bKkdjuw\r\n'
    b'Content-Length: 150\r\n'
    b'Content-Type: application/sdp\r\n'
    b'\r\n'
    b'v=0\r\n'
    b'o=mhandley 29739 7272939 IN IP4 192.0.2.5\r\n'
    b's=-\r\n'
    b'c=IN IP4 192.0.2.5\r\n'
    b't=0 0\r\n'
    b'm=audio 49217 RTP/AVP 0 12\r\n'
    b'm=video 3227 RTP/AVP 31\r\n'
    b'a=rtpmap:31 LPC\r\n'
)
INV2543 = (
    b'INVITE sip:UserB@example.com SIP/2.0\r\n'
    b'Via: SIP/2.0/UDP iftgw.example.com\r\n'
    b'From: <sip:+13035551111@ift.client.example.net;user=phone>\r\n'
    b'Record-Route: <sip:UserB@example.com;maddr=ss1.example.com>\r\n'
    b'To: sip:+16505552222@ss1.example.net;user=phone\r\n'
    b'Call-ID: inv2543.1717@ift.client.example.com\r\n'
    b'CSeq: 56 INVITE\r\n'
    b'Content-Type: application/sdp\r\n'
    b'\r\n'
    b'v=0\r\n'
    b'o=mhandley 29739 7272939 IN IP4 192.0.2.5\r\n'
    b's=-\r\n'
    b'c=IN IP4 192.0.2.5\r\n'
    b't=0 0\r\n'
    b'm=audio 49217 RTP/AVP 0\r\n'
)

# --- Rows ---------------------------------------------------------------------------------


class Row:
    def __init__(self, id, data, expect, tcp=None, tcp_then=None, auth=False, bound=(),
                 unbound=(), unsupported=(), not_unsupported=(), challenge=False, check=None,
                 differs=None, why=""):
        self.id = id
        self.data = data
        self.expect = expect if isinstance(expect, tuple) else (expect,)
        self.tcp = None if tcp is None else (tcp if isinstance(tcp, tuple) else (tcp,))
        self.tcp_then = tcp_then        # a second answer expected on TCP (two messages)
        self.auth = auth                # a template: {auth} and {cid} filled per transport
        self.bound = bound              # substrings `show registrations` must show after
        self.unbound = unbound          # substrings it must not show
        self.unsupported = unsupported  # option tags a 420 must list in Unsupported
        self.not_unsupported = not_unsupported  # ... and must not
        self.challenge = challenge      # a 401 must carry a Digest challenge
        self.check = check              # f(answer text) -> error string or None
        self.differs = differs          # telgated deliberately differs: why
        self.why = why                  # the RFC's words, shortened

    def expected(self, transport):
        return self.tcp if transport == "TCP" and self.tcp is not None else self.expect


def authed(data, contact=None):
    """The message adapted to a provisioned line: REGISTER to our realm (Request-URI and CSeq
    method; the digest covers the Request-URI), To and From on line 1002, the Call-ID made
    unique per transport ({cid}), an Authorization header ({auth}) before the first Via,
    and contact (when given) added if the message has none. Everything else as the RFC has
    it."""
    head, sep, body = data.partition(b"\r\n\r\n")
    lines = head.split(b"\r\n")
    out = []
    for i, ln in enumerate(lines):
        low = ln.lower()
        if i == 0:
            ln = b"REGISTER sip:telgate SIP/2.0"
        elif low.startswith(b"to:") or low.startswith(b"t:"):
            ln = b"To: <sip:1002@telgate>"
        elif low.startswith(b"from:") or low.startswith(b"f:"):
            ln = b"From: <sip:1002@telgate>;tag=4475"
        elif low.startswith(b"call-id:") or low.startswith(b"i:"):
            ln = ln + b"{cid}"
        elif low.startswith(b"cseq:"):
            ln = re.sub(rb"\s*\S+$", b" REGISTER", ln)
        elif low.startswith(b"authorization:"):
            continue
        out.append(ln)
    if contact and not any(re.match(rb"(?i)(contact|m)\s*:", ln) for ln in out):
        out.append(b"Contact: " + contact)
    k = next(i for i, ln in enumerate(out) if re.match(rb"(?i)(via|v)\s*:", ln))
    out.insert(k, b"Authorization: {auth}")
    return b"\r\n".join(out) + sep + body


def with_nul_body():
    body = b"\x00\x01binary\x00opaque\x00"
    return (b"REGISTER sip:telgate SIP/2.0\r\n"
            b"Via: SIP/2.0/UDP 192.0.2.7;branch=z9hG4bKnulbody\r\n"
            b"Max-Forwards: 70\r\nTo: <sip:1002@telgate>\r\n"
            b"From: <sip:1002@telgate>;tag=nul\r\nCall-ID: nulbody.4475\r\n"
            b"CSeq: 1 REGISTER\r\nContact: <sip:1002@nulbody.example.net>\r\n"
            b"Content-Type: application/octet-stream\r\n"
            b"Content-Length: " + str(len(body)).encode() + b"\r\n\r\n" + body)


def long_callid():
    cid = ("callid256." + "x" * 256)[:256]
    assert len(cid) == 256
    return (b"REGISTER sip:telgate SIP/2.0\r\n"
            b"Via: SIP/2.0/UDP 192.0.2.8;branch=z9hG4bKlongcid\r\n"
            b"Max-Forwards: 70\r\nTo: <sip:1002@telgate>\r\n"
            b"From: <sip:1002@telgate>;tag=cid\r\nCall-ID: " + cid[:-2].encode() + b"{cid}\r\n"
            b"CSeq: 1 REGISTER\r\nContact: <sip:1002@callid256.example.net>\r\n"
            b"Authorization: {auth}\r\nContent-Length: 0\r\n\r\n")


def many_vias(n):
    vias = b"".join(b"Via: SIP/2.0/UDP proxy%d.example.net;branch=z9hG4bKhop%d\r\n" % (i, i)
                    for i in range(n))
    return (b"OPTIONS sip:telgate SIP/2.0\r\n" + vias +
            b"Max-Forwards: 70\r\nTo: <sip:telgate>\r\nFrom: <sip:ping@example.net>;tag=v\r\n"
            b"Call-ID: vias%d.4475\r\nCSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n" % n)


def big_header():
    return (b"OPTIONS sip:telgate SIP/2.0\r\n"
            b"Via: SIP/2.0/UDP 192.0.2.9;branch=z9hG4bKbighdr\r\n"
            b"Max-Forwards: 70\r\nTo: <sip:telgate>\r\nFrom: <sip:ping@example.net>;tag=b\r\n"
            b"Call-ID: bighdr.4475\r\nCSeq: 1 OPTIONS\r\n"
            b"X-Padding: " + b"p" * 8000 + b"\r\nContent-Length: 0\r\n\r\n")


def oversized():
    return (b"OPTIONS sip:telgate SIP/2.0\r\n"
            b"Via: SIP/2.0/UDP 192.0.2.10;branch=z9hG4bKhuge\r\n"
            b"Max-Forwards: 70\r\nTo: <sip:telgate>\r\nFrom: <sip:ping@example.net>;tag=h\r\n"
            b"Call-ID: huge.4475\r\nCSeq: 1 OPTIONS\r\n"
            b"X-Padding: " + b"p" * 20000 + b"\r\nContent-Length: 0\r\n\r\n")


def contact_has_route(text):
    m = re.search(r"(?im)^(Contact|m):.*$", text)
    if m and "Route=" not in m.group(0):
        return "200 lists the contact without its escaped Route header: " + m.group(0)
    return None


ROWS = [
    # §3.1.1 Valid messages: accepted (INVITE, MESSAGE, unknown methods: 405/501 from a
    # registrar; OPTIONS: 200; REGISTER: 401 without credentials).
    Row("3.1.1.1 wsinv", WSINV, 405, why="valid; folding, LWS, escapes everywhere"),
    Row("3.1.1.2 intmeth", INTMETH, (405, 501),
        why="valid; unknown method of token characters, NUL/BEL/DEL as quoted-pairs in "
            "the To display name (not a reason to drop); RFC 3261 §21.5.2: 501 for a "
            "method not recognised (405 also accepted)"),
    Row("3.1.1.3 esc01", ESC01, 405, why="valid % escaping"),
    Row("3.1.1.4 escnull", ESCNULL, 401, challenge=True,
        why="valid REGISTER; %00 in URIs is legal"),
    Row("3.1.1.4 escnull (authenticated)", authed(ESCNULL), 200, auth=True,
        bound=("sip:%00@host5.example.com", "sip:%00%00@host5.example.com"),
        why="both contacts with escaped NULs are bound"),
    Row("3.1.1.5 esc02", ESC02, (405, 501),
        why="valid; RE%47IST%45R is an unknown method, not REGISTER (no challenge)"),
    Row("3.1.1.6 lwsdisp", LWSDISP, 200, why="valid; no LWS between display name and <"),
    Row("3.1.1.7 longreq", LONGREQ, 405,
        why="valid; 34 Via values (the top one without branch), long values"),
    Row("3.1.1.8 dblreq", DBLREQ, 401, tcp_then=405,
        why="valid; UDP: the octets after Content-Length are ignored; TCP: the stream "
            "carries a second request (INVITE: 405)"),
    Row("3.1.1.9 semiuri", SEMIURI, 200, why="valid; ; in the user part"),
    Row("3.1.1.10 transports", TRANSPORTS, 200, why="valid; unknown transports in Via"),
    Row("3.1.1.11 mpart01", MPART01, 405,
        why="valid MESSAGE; multipart body with binary octets (NULs) framed by "
            "Content-Length"),
    Row("3.1.1.12 unreason", UNREASON, NONE, why="a response: no transaction, dropped"),
    Row("3.1.1.13 noreason", NOREASON, NONE, why="a response: no transaction, dropped"),
    # §3.1.2 Invalid messages.
    Row("3.1.2.1 badinv01", BADINV01, 400, why="empty Via/Contact params: 400"),
    Row("3.1.2.2 clerr", CLERR, 400, tcp=NONE,
        why="UDP: Content-Length larger than the datagram: 400; TCP: wait for the rest"),
    Row("3.1.2.2 clerr (REGISTER, authenticated)", authed(CLERR), 400, tcp=NONE, auth=True,
        unbound=("hungry.example.net",), why="must not bind what was cut short"),
    Row("3.1.2.3 ncl", NCL, 400, tcp=(400, CLOSED),
        why="negative Content-Length: 400; on TCP the framing is lost: close"),
    Row("3.1.2.4 scalar02", SCALAR02, 400,
        why="CSeq beyond 2**31: 400 (Max-Forwards/Expires alone could be tolerated)"),
    Row("3.1.2.4 scalar02 (authenticated)", authed(SCALAR02), 400, auth=True,
        unbound=("host129.example.com",), why="400, nothing bound"),
    Row("3.1.2.5 scalarlg", SCALARLG, NONE, why="a response: discarded"),
    Row("3.1.2.6 quotbal", QUOTBAL, 400, why="unterminated quoted string"),
    Row("3.1.2.7 ltgtruri", LTGTRURI, (400, 405),
        why="<> around the Request-URI: 400 reasonable; liberal may ignore them"),
    Row("3.1.2.8 lwsruri", LWSRURI, 400, why="LWS inside the Request-URI"),
    Row("3.1.2.9 lwsstart", LWSSTART, (400, 405),
        why="several SP in the request line: 400 or liberal"),
    Row("3.1.2.10 trws", TRWS, (400, 200), why="SP at the end of the request line"),
    Row("3.1.2.11 escruri", ESCRURI, (400, 405),
        why="escaped headers in the Request-URI: 400 or ignore them"),
    Row("3.1.2.12 baddate", BADDATE, (400, 405), why="non-GMT Date: 400 or ignore"),
    Row("3.1.2.13 regbadct", REGBADCT, (400, 401),
        why="Contact URI with ? not in <>: 400 reasonable; liberal may infer the <>"),
    Row("3.1.2.13 regbadct (authenticated)", authed(REGBADCT), (400, 200), auth=True,
        check=contact_has_route,
        why="400 and nothing bound, or (liberal) the whole URI bound, Route included"),
    Row("3.1.2.14 badaspec", BADASPEC, (400, 200), why="spaces inside <addr-spec>"),
    Row("3.1.2.15 baddn", BADDN, (400, 200), why="unquoted display name with a comma"),
    Row("3.1.2.16 badvers", BADVERS, 505, why="SIP/7.0: 505 Version Not Supported"),
    Row("3.1.2.17 mismatch01", MISMATCH01, 400, why="OPTIONS with CSeq INVITE"),
    Row("3.1.2.18 mismatch02", MISMATCH02, (501, 400),
        why="unknown method, CSeq mismatch: 501 (400 acceptable)"),
    Row("3.1.2.19 bigcode", BIGCODE, NONE, why="a response: dropped"),
    # §3.2 Transaction layer.
    Row("3.2.1 badbranch", BADBRANCH, (200, 400),
        why="branch=z9hG4bK alone: 400, or fall back to RFC 2543 matching"),
    # §3.3 Application layer.
    Row("3.3.1 insuf", INSUF, 400, why="no Call-ID, From, To: ideally 400"),
    Row("3.3.2 unkscm", UNKSCM, 416, why="unknown Request-URI scheme"),
    Row("3.3.3 novelsc", NOVELSC, (416, 404), why="soap.beep: 416 (or 404)"),
    Row("3.3.4 unksm2", UNKSM2, 400,
        why="a registrar rejects a To that is not a SIP or SIPS URI with 400"),
    Row("3.3.5 bext01", BEXT01, 420,
        unsupported=("nothingSupportsThis", "nothingSupportsThisEither"),
        not_unsupported=("noProxiesSupportThis", "norDoAnyProxiesSupportThis"),
        why="Require with unknown options: 420 listing them; Proxy-Require is not a "
            "UAS's business"),
    Row("3.3.5 bext01 (REGISTER, authenticated)",
        authed(BEXT01, contact=b"<sip:1002@bext01.example.net>"), 420, auth=True,
        unsupported=("nothingSupportsThis", "nothingSupportsThisEither"),
        unbound=("bext01.example.net",),
        why="RFC 3261 §10.3 step 2 / §8.2.2.3: 420 and no binding"),
    Row("3.3.6 invut", INVUT, 405,
        why="unknown Content-Type (415 for a UA); the method check comes first"),
    Row("3.3.7 regaut01", REGAUT01, 401, challenge=True,
        why="unknown Authorization scheme: challenge as if there were none"),
    Row("3.3.8 multi01", MULTI01, 400, why="several To, From, Call-ID, CSeq"),
    Row("3.3.9 mcl01", MCL01, 400, tcp=(400, CLOSED),
        why="two Content-Length values: 400 (on TCP the framing is lost)"),
    Row("3.3.10 bcast", BCAST, NONE, why="a response: dropped"),
    Row("3.3.11 zeromf", ZEROMF, 200,
        why="Max-Forwards 0: a proxy says 483, an endpoint processes the request"),
    Row("3.3.12 cparam01", CPARAM01, 401, challenge=True, why="valid REGISTER"),
    Row("3.3.12 cparam01 (authenticated)", authed(CPARAM01), 200, auth=True,
        bound=("<sip:+19725552222@gw1.example.net>",),
        unbound=("gw1.example.net;unknownparam",),
        why="unknownparam is a contact-param, not part of the bound URI"),
    Row("3.3.13 cparam02", CPARAM02, 401, challenge=True, why="valid REGISTER"),
    Row("3.3.13 cparam02 (authenticated)", authed(CPARAM02), 200, auth=True,
        bound=("<sip:+19725552222@gw1.example.net;unknownparam>",),
        why="unknownparam is a url-param: bound with the URI"),
    Row("3.3.14 regescrt", REGESCRT, 401, challenge=True, why="valid REGISTER"),
    Row("3.3.14 regescrt (authenticated)", authed(REGESCRT), 200, auth=True,
        bound=("?Route=%3Csip:sip.example.com%3E",), check=contact_has_route,
        why="the registrar accepts it and returns the escaped header in Contact"),
    Row("3.3.15 sdp01", SDP01, 405, why="Accept nobody knows (406 for a UA); 405 first"),
    # §3.4 Backward compatibility.
    Row("3.4.1 inv2543", INV2543, 405,
        why="RFC 2543 syntax (no branch, no tags, no Max-Forwards) is accepted"),
    # Issue 12 item 7 and the limits.
    Row("extra: REGISTER with NUL octets in its body", with_nul_body(), 401,
        challenge=True, why="RFC 3261 §7.4: the body is octets framed by Content-Length"),
    Row("limit: Call-ID of 256 characters (authenticated)", long_callid(), 200, auth=True,
        bound=("callid256.example.net",), why="a 256-character Call-ID is legal"),
    Row("limit: 71 Via values (70 proxies)", many_vias(71), 200,
        why="Max-Forwards starts at 70: a request may carry 71 Via values"),
    Row("limit: 8 KiB header section", big_header(), 200, why="generous header size"),
    Row("limit: request of 20 KiB (over SIP_MSG_MAX)", oversized(), NONE, tcp=(400, CLOSED),
        differs="requests over SIP_MSG_MAX (16 KiB; a REGISTER is a few hundred octets) "
                "are not parsed: a datagram is dropped unread, a stream gets 400 and is "
                "closed (RFC 3261 would allow 513 Message Too Large)",
        why="the documented size limit"),
]


# --- Transport ----------------------------------------------------------------------------


def complete(buf):
    """Splits complete SIP messages off buf: (list of message bytes, rest)."""
    out = []
    while True:
        while buf[:2] == b"\r\n":
            buf = buf[2:]
        end = buf.find(b"\r\n\r\n")
        if end < 0:
            return out, buf
        m = re.search(rb"(?im)^(content-length|l)\s*:\s*(\d+)", buf[:end + 2])
        total = end + 4 + (int(m.group(2)) if m else 0)
        if len(buf) < total:
            return out, buf
        out.append(buf[:total])
        buf = buf[total:]


def code_of(msg):
    m = re.match(rb"SIP/2\.0 (\d{3}) ", msg)
    return int(m.group(1)) if m else "garbled"


def over_udp(port, data, want):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        s.bind(("127.0.0.1", 0))
        s.sendto(data, ("127.0.0.1", port))
        answers = []
        deadline = time.time() + (ANSWER_WAIT if want else SILENCE_WAIT)
        while len(answers) < max(want, 1):
            left = deadline - time.time()
            if left <= 0:
                break
            s.settimeout(left)
            try:
                answers.append(s.recv(65535))
            except socket.timeout:
                break
        return answers, False
    finally:
        s.close()


def over_tcp(port, data, want):
    s = socket.create_connection(("127.0.0.1", port), timeout=5)
    try:
        s.sendall(data)
        buf, answers, closed = b"", [], False
        deadline = time.time() + (ANSWER_WAIT if want else SILENCE_WAIT)
        while len(answers) < max(want, 1):
            left = deadline - time.time()
            if left <= 0:
                break
            s.settimeout(left)
            try:
                chunk = s.recv(65535)
            except socket.timeout:
                break
            except ConnectionResetError:
                closed = True
                break
            if not chunk:
                closed = True
                break
            buf += chunk
            got, buf = complete(buf)
            answers += got
        return answers, closed
    finally:
        s.close()


# --- The test -----------------------------------------------------------------------------


class Rfc4475Test(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.root = tempfile.mkdtemp(prefix="tg4475")
        # The RFC's messages name other hosts in their Via without rport: RFC 3261
        # 18.2.2 sends those answers to port 5060 of the source. force_rport (as for
        # phones behind NAT) brings them back to this test's socket instead.
        cls.d = test_daemon.Daemon(cls.root, "[sip]\nmin_expires = 1\n"
                                   "source_failures_max = 0\nforce_rport = yes\n")
        prov = os.path.join(cls.root, "prov.json")
        with open(prov, "w") as f:
            json.dump(test_sip.PROV, f)
        cls.d.start("--provision", prov)

    @classmethod
    def tearDownClass(cls):
        problem = cls.d.finish()  # a sanitizer report or a daemon that died
        if os.environ.get("TG_KEEP"):  # to read telgated's log afterwards
            print("kept:", cls.root, file=sys.stderr)
        else:
            shutil.rmtree(cls.root, ignore_errors=True)
        if problem:
            raise AssertionError(problem)

    def registrations(self):
        r = self.d.cli("show", "registrations", "CSFJPINKMAN")
        return r.stdout + r.stderr

    def fill(self, row, transport):
        """A fresh nonce from a challenge, then the digest for this message."""
        raw = test_sip.Raw(self.d.sip_port)
        try:
            ch = raw.register("1002", callid="nonce-" + transport)
        finally:
            raw.s.close()
        auth = raw.auth(ch.split("WWW-Authenticate: ")[1], "jpinkman", "Sip-Jesse-1").encode()
        return row.data.replace(b"{auth}", auth).replace(b"{cid}",
                                                         b"-" + transport[0].lower().encode())

    def run_row(self, row, transport):
        """Sends the row's message; returns (got, detail or None when as expected)."""
        data = row.data
        if row.auth:
            self.d.cli("unregister", "CSFJPINKMAN")
            data = self.fill(row, transport)
        expected = row.expected(transport)
        want = 0 if expected == (NONE,) else (2 if transport == "TCP" and row.tcp_then else 1)
        if transport == "UDP":
            answers, closed = over_udp(self.d.sip_port, data, want)
        else:
            answers, closed = over_tcp(self.d.sip_port, data, want)
        codes = [code_of(a) for a in answers]
        got = codes[0] if codes else (CLOSED if closed else NONE)
        shown = "/".join(str(c) for c in codes) or got
        if got not in expected:
            return shown, "expected %s" % "|".join(map(str, expected))
        if transport == "TCP" and row.tcp_then and codes[1:2] != [row.tcp_then]:
            return shown, "expected %s then %s" % (got, row.tcp_then)
        if transport == "UDP" and len(codes) > 1:
            return shown, "more than one answer to one datagram"
        text = answers[0].decode("utf-8", "replace") if answers else ""
        if got == 420:
            m = re.search(r"(?im)^Unsupported\s*:(.*)$", text)
            tags = [t.strip() for t in m.group(1).split(",")] if m else []
            for t in row.unsupported:
                if t not in tags:
                    return shown, "420 without Unsupported: %s (has %s)" % (t, tags)
            for t in row.not_unsupported:
                if t in tags:
                    return shown, "420 lists the Proxy-Require tag %s" % t
        if got == 401 and row.challenge and not re.search(r"(?im)^WWW-Authenticate:\s*Digest ",
                                                          text):
            return shown, "401 without a Digest challenge"
        if row.check and got == 200:
            err = row.check(text)
            if err:
                return shown, err
        if row.auth:
            regs = self.registrations()
            if got == 200:
                for b in row.bound:
                    if b not in regs:
                        return shown, "not bound: %s (registrations: %s)" % (b, regs.strip())
            else:
                for b in row.bound + row.unbound:
                    if b in regs:
                        return shown, "%s bound although refused" % b
            for b in row.unbound:
                if b in regs:
                    return shown, "bound although it must not be: %s" % b
        if self.d.proc.poll() is not None:
            return shown, "telgated exited"
        return shown, None

    def table(self, transport):
        results = []
        for row in ROWS:
            got, err = self.run_row(row, transport)
            results.append((row, got, err))
        w = max(len(r.id) for r in ROWS)
        lines = ["", "RFC 4475 over %s" % transport,
                 "%-*s  %-9s  %-9s  %s" % (w, "case", "expected", "got", "verdict")]
        for row, got, err in results:
            exp = "|".join(map(str, row.expected(transport)))
            if transport == "TCP" and row.tcp_then:
                exp += "/%d" % row.tcp_then
            verdict = "ok" if not err else "FAIL: " + err
            if row.differs:
                verdict += " (differs: %s)" % row.differs
            lines.append("%-*s  %-9s  %-9s  %s" % (w, row.id, exp, got, verdict))
        print("\n".join(lines), file=sys.stderr, flush=True)
        failed = [(row.id, got, err) for row, got, err in results if err]
        self.assertEqual(failed, [], "%d of %d RFC 4475 cases over %s answered wrongly"
                         % (len(failed), len(results), transport))

    def test_udp(self):
        self.table("UDP")

    def test_tcp(self):
        self.table("TCP")


if __name__ == "__main__":
    test_daemon.main()
