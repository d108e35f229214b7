/* SPDX-License-Identifier: ISC */
/* The SIP request wrapper: a good REGISTER, and each malformed case the registrar must
 * answer with 400 (or another status) or drop. */
#include "sip/authz.h"
#include "sip/digest.h"
#include "sip/msg.h"

#include <arpa/inet.h>
#include <sodium.h>
#include <netinet/in.h>

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#define REG_HEAD                                                                                   \
	"REGISTER sip:telgate SIP/2.0\r\n"                                                         \
	"Via: SIP/2.0/UDP 10.0.0.5:5060;branch=z9hG4bK776asdhds\r\n"                               \
	"Max-Forwards: 70\r\n"                                                                     \
	"To: <sip:1001@telgate>\r\n"                                                               \
	"From: <sip:1001@telgate>;tag=456248\r\n"                                                  \
	"Call-ID: 843817637684230@998sdasdh09\r\n"                                                 \
	"CSeq: 1826 REGISTER\r\n"

static int parse(const char *msg, struct sip_req *r, int *status, char *reason)
{
	return sip_req_parse(msg, strlen(msg), r, status, reason, 128);
}

static void test_good_register(void **state)
{
	(void)state;
	struct sip_req r;
	int status;
	char reason[128];
	const char *msg =
	    REG_HEAD "Contact: <sip:1001@10.0.0.5:5060>;expires=120, "
	             "<sip:1001@10.0.0.6>\r\n"
	             "Expires: 3600\r\n"
	             "Authorization: Digest username=\"jpinkman\", realm=\"telgate\", "
	             "nonce=\"abc\", uri=\"sip:telgate\", response=\"00\"\r\n"
	             "Content-Length: 0\r\n\r\n";
	assert_int_equal(parse(msg, &r, &status, reason), 0);
	assert_string_equal(r.method, "REGISTER");
	assert_string_equal(r.aor_user, "1001");
	assert_string_equal(r.aor_host, "telgate");
	assert_int_equal(r.cseq, 1826);
	assert_int_equal(r.expires, 3600);
	assert_int_equal(r.ncontacts, 2);
	assert_int_equal(r.contacts[0].expires, 120);
	assert_int_equal(r.contacts[1].expires, -1);
	assert_non_null(strstr(r.contacts[0].uri, "sip:1001@10.0.0.5:5060"));
	assert_non_null(strstr(r.auth, "username=\"jpinkman\""));
	char out[2048];
	int n = sip_response(&r, 401, "Unauthorized", "tg1", "WWW-Authenticate: Digest x\r\n", out,
	                     sizeof out);
	assert_true(n > 0);
	assert_non_null(strstr(out, "SIP/2.0 401 Unauthorized\r\n"));
	assert_non_null(strstr(out, "branch=z9hG4bK776asdhds"));
	assert_non_null(strstr(out, ";tag=tg1\r\n"));
	assert_non_null(strstr(out, "CSeq: 1826 REGISTER\r\n"));
	assert_non_null(strstr(out, "Content-Length: 0\r\n\r\n"));
	sip_req_free(&r);
	/* Contact: * with Expires: 0 */
	assert_int_equal(parse(REG_HEAD "Contact: *\r\nExpires: 0\r\nContent-Length: 0\r\n\r\n", &r,
	                       &status, reason),
	                 0);
	assert_int_equal(r.star, 1);
	sip_req_free(&r);
}

/* The seed's Contact (as an edge rewrites it) survives libosip2 with the user id intact,
 * and user ids in several Contact headers are all seen. */
static void test_contacts_text_for_userid(void **state)
{
	(void)state;
	struct sip_req r;
	int status;
	char reason[128], text[4096];
	const char *msg =
	    REG_HEAD "Contact: <sip:ffeffb75-880e-f58f-a8ec-f5025d0f9136@10.50.179.6:5060;"
	             "transport=tcp;orig-hostport=192.168.0.121:55854>;+sip.instance=\"<urn:uuid:"
	             "00000000-0000-0000-0000-00506005457e>\";+u.sip!model.ccm.cisco.com=\"604\";"
	             "+u.sip!userid.ccm.cisco.com=\"mjavier\";+u.sip!serialno.ccm.cisco.com="
	             "A1AZ20D00153;audio=TRUE;video=TRUE;mobility=\"fixed\";duplex=\"full\";"
	             "description=\"TANDBERG-SIP\"\r\n"
	             "Content-Length: 0\r\n\r\n";
	assert_int_equal(parse(msg, &r, &status, reason), 0);
	assert_true(sip_req_contacts_text(&r, text, sizeof text) > 0);
	struct sip_userid_params up;
	assert_int_equal(sip_userid_extract(text, &up), 0);
	assert_int_equal(up.n, 1);
	assert_string_equal(up.v[0], "mjavier");
	assert_int_equal(sip_req_contacts_text(&r, text, 16), -1); /* does not fit: refused */
	sip_req_free(&r);

	msg = REG_HEAD "Contact: <sip:1001@10.0.0.5>;+sip.userid=alice\r\n"
	               "Contact: <sip:1001@10.0.0.6;+sip.userid=uri-param-ignored>;"
	               "+u.sip!userid.ccm.cisco.com=\"bob\"\r\n"
	               "Content-Length: 0\r\n\r\n";
	assert_int_equal(parse(msg, &r, &status, reason), 0);
	assert_true(sip_req_contacts_text(&r, text, sizeof text) > 0);
	assert_int_equal(sip_userid_extract(text, &up), 0);
	assert_int_equal(up.n, 2);
	assert_string_equal(up.v[0], "alice");
	assert_string_equal(up.v[1], "bob");
	sip_req_free(&r);

	/* Contact: * (remove all) carries no user id: not a refusal on an edge. */
	assert_int_equal(parse(REG_HEAD "Contact: *\r\nExpires: 0\r\nContent-Length: 0\r\n\r\n", &r,
	                       &status, reason),
	                 0);
	assert_true(sip_req_contacts_text(&r, text, sizeof text) >= 0);
	assert_int_equal(sip_userid_extract(text, &up), 0);
	assert_int_equal(up.n, 0);
	sip_req_free(&r);
}

static void test_malformed(void **state)
{
	(void)state;
	static char thousand_vias[40000];
	size_t o = (size_t)snprintf(thousand_vias, sizeof thousand_vias,
	                            "REGISTER sip:telgate SIP/2.0\r\n");
	for (int i = 0; i < 1000 && o < sizeof thousand_vias - 200; i++)
		o +=
		    (size_t)snprintf(thousand_vias + o, sizeof thousand_vias - o,
		                     "Via: SIP/2.0/UDP 10.0.0.%d;branch=z9hG4bK%d\r\n", i % 250, i);
	snprintf(thousand_vias + o, sizeof thousand_vias - o,
	         "To: <sip:1001@telgate>\r\nFrom: <sip:1001@telgate>;tag=1\r\nCall-ID: x\r\n"
	         "CSeq: 1 REGISTER\r\n\r\n");
	static char forty_vias[16000]; /* more than SIP_VIA_MAX */
	size_t f =
	    (size_t)snprintf(forty_vias, sizeof forty_vias, "REGISTER sip:telgate SIP/2.0\r\n");
	for (int i = 0; i < SIP_VIA_MAX + 2; i++)
		f += (size_t)snprintf(forty_vias + f, sizeof forty_vias - f,
		                      "Via: SIP/2.0/UDP 10.0.0.%d;branch=z9hG4bK%d\r\n", i, i);
	snprintf(forty_vias + f, sizeof forty_vias - f,
	         "To: <sip:1001@telgate>\r\nFrom: <sip:1001@telgate>;tag=1\r\nCall-ID: x\r\n"
	         "CSeq: 1 REGISTER\r\n\r\n");
	static const struct {
		const char *msg;
		int status; /* 0: dropped; -400: 400 or dropped (libosip2 cannot read it back) */
		const char *reason;
	} cases[] = {
	    {REG_HEAD "Content-Length: -5\r\n\r\n", 400, "Content-Length"},
	    {"REGISTER sip:telgate SIP/2.0\r\nVia: SIP/2.0/UDP 10.0.0.5;branch=z9hG4bKx\r\n"
	     "To: <sip:1001@telgate>\r\nTo: <sip:1002@telgate>;tag=bad\r\n"
	     "From: <sip:1001@telgate>;tag=1\r\nCall-ID: a\r\nCSeq: 1 REGISTER\r\n\r\n",
	     400, "Duplicate"},
	    {"REGISTER sip:telgate SIP/2.0\r\nVia: SIP/2.0/UDP 10.0.0.5;branch=z9hG4bKx\r\n"
	     "To: <sip:1001@telgate>\r\nFr\x01om: <sip:1001@telgate>;tag=1\r\nCall-ID: a\r\n"
	     "CSeq: 1 REGISTER\r\n\r\n",
	     400, "header name"}, /* answered with the clean lines (no From) */
	    {REG_HEAD "X-Fo\x01o: bar\r\n\r\n", 400, "header name"},
	    {"REGISTER sip:telgate SIP/2.0\r\nVia: SIP/2.0/UDP 10.0.0.5;branch=z9hG4bKx\r\n"
	     "Max-Forwards: many\r\nTo: <sip:1001@telgate>\r\nFrom: <sip:1001@telgate>;tag=1\r\n"
	     "Call-ID: a\r\nCSeq: 1 REGISTER\r\n\r\n",
	     400, "Max-Forwards"},
	    /* RFC 4475 §3.1.2.16 badvers, §3.3.3 novelsc, §3.3.9 mcl01, §3.3.1 insuf */
	    {"OPTIONS sip:t SIP/7.0\r\nVia: SIP/2.0/UDP 10.0.0.5;branch=z9hG4bKx\r\n"
	     "To: <sip:t>\r\nFrom: <sip:a@t>;tag=1\r\nCall-ID: a\r\nCSeq: 1 OPTIONS\r\n\r\n",
	     505, "Version"},
	    {"OPTIONS soap.beep://192.0.2.103:3002 SIP/2.0\r\nVia: SIP/2.0/UDP 10.0.0.5;"
	     "branch=z9hG4bKx\r\nTo: <sip:t>\r\nFrom: <sip:a@t>;tag=1\r\nCall-ID: a\r\n"
	     "CSeq: 1 OPTIONS\r\n\r\n",
	     416, "Scheme"},
	    {REG_HEAD "Content-Length: 0\r\nl: 5\r\n\r\n", 400, "Duplicate"},
	    {"OPTIONS sip:t SIP/2.0\r\nVia: SIP/2.0/UDP 10.0.0.5;branch=z9hG4bKx\r\n"
	     "CSeq: 1 OPTIONS\r\n\r\n",
	     400, "Missing"},
	    {"INVITE <sip:user@example.com> SIP/2.0\r\nVia: SIP/2.0/UDP "
	     "10.0.0.5;branch=z9hG4bKx\r\n"
	     "To: <sip:t>\r\nFrom: <sip:a@t>;tag=1\r\nCall-ID: a\r\nCSeq: 1 INVITE\r\n\r\n",
	     400, "unparseable"},
	    {"REGISTER sip:telgate SIP/2.0\r\nVia: SIP/2.0/UDP 10.0.0.5;branch=z9hG4bKx\r\n"
	     "To: <sip:1001@telgate>\r\nFrom: <sip:1001@telgate>;tag=1\r\nCall-ID: a\r\n"
	     "CSeq: 1 INVITE\r\n\r\n",
	     400, "CSeq method"},
	    {"REGISTER sip:telgate SIP/2.0\r\nVia: 10.0.0.5;branch=z9hG4bKx\r\n"
	     "To: <sip:1001@telgate>\r\nFrom: <sip:1001@telgate>;tag=1\r\nCall-ID: a\r\n"
	     "CSeq: 1 REGISTER\r\n\r\n",
	     400, ""},
	    {"REGISTER tel:+1234 SIP/2.0\r\nVia: SIP/2.0/UDP 10.0.0.5;branch=z9hG4bKx\r\n"
	     "To: <sip:1001@telgate>\r\nFrom: <sip:1001@telgate>;tag=1\r\nCall-ID: a\r\n"
	     "CSeq: 1 REGISTER\r\n\r\n",
	     416, "Scheme"},
	    {REG_HEAD "Contact: *\r\n\r\n", 400, "Expires: 0"},
	    {REG_HEAD "Contact: <sip:a@b>;reg-id=0\r\n\r\n", 400, "reg-id"},
	    {REG_HEAD "Contact: <sip:a@b>;+sip.instance=\"\"\r\n\r\n", 400, "instance"},
	    {REG_HEAD "Contact: <sip:a@b>;+u.sip!devicename.ccm.cisco.com=\"\"\r\n\r\n", 400,
	     "devicename"},
	    /* fewer body bytes than announced: a cut datagram (RFC 3261 §18.3) */
	    {REG_HEAD "Content-Length: 20\r\n\r\nshort", 400, "larger than the message body"},
	    {REG_HEAD "Content-Length: 0\r\n", 400, "not terminated"}, /* truncated */
	    {"REGISTER sip:telgate SIP/2.0\r\nTo: <sip:1001@telgate>\r\n\r\n", 0, ""},
	    {"garbage garbage garbage\r\n\r\n", 0, ""},
	    {"SIP/2.0 200 OK\r\nVia: x\r\n\r\n", 0, ""},
	    {thousand_vias, 0, "too large"},
	    {forty_vias, 400, "Too many Via"}, /* 1,000 Via headers exceed SIP_MSG_MAX */
	};
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		struct sip_req r;
		int status = -1;
		char reason[128] = "";
		int rc = parse(cases[i].msg, &r, &status, reason);
		int want = cases[i].status;
		if (want == -400 && status == 0)
			want = 0;
		else if (want == -400)
			want = 400;
		if (rc != -1 || status != want || !strstr(reason, cases[i].reason))
			fail_msg("case %zu: rc %d status %d reason '%s'", i, rc, status, reason);
		if (status) {
			char out[SIP_MSG_MAX];
			int n = r.m ? sip_response(&r, status, reason, "t", NULL, out, sizeof out)
			            : sip_response_raw(cases[i].msg, strlen(cases[i].msg), status,
			                               reason, out, sizeof out);
			if (n < 0 || !strstr(out, "CSeq: ") || strstr(out, "\x01"))
				fail_msg("case %zu: no response could be built", i);
		}
		sip_req_free(&r);
	}
	/* A 64 KiB header: too large to take. */
	size_t big = 70000;
	char *m = malloc(big + 1);
	memset(m, 'a', big);
	memcpy(m, REG_HEAD "X-Big: ", strlen(REG_HEAD "X-Big: "));
	m[big] = '\0';
	struct sip_req r;
	int status;
	char reason[128];
	assert_int_equal(parse(m, &r, &status, reason), -1);
	assert_int_equal(status, 0);
	sip_req_free(&r);
	free(m);
}

/* RFC 3261 §20.19 / §10.2.1.1, RFC 4475 §3.1.2.14: every kind of Expires value. */
static void test_expires_values(void **state)
{
	(void)state;
	static const struct {
		const char *v;
		int64_t want;
	} cases[] = {
	    {"0", 0},
	    {"1", 1},
	    {"2147483647", 2147483647LL},
	    {"2147483648", 2147483648LL},
	    {"3000000000", 3000000000LL},
	    {"4294967295", 4294967295LL},
	    {"4294967296", 4294967295LL},              /* above 2^32-1: taken as 2^32-1 */
	    {"99999999999999999999999", 4294967295LL}, /* no overflow */
	    {"-5", 3600},                              /* malformed: 3600 */
	    {"Thu, 01 Dec 2040 16:00:00 GMT", 3600},   /* an RFC 2543 date */
	    {"garbage", 3600},
	    {"12x", 3600},
	    {"", 3600},
	    {" 60 ", 60},
	};
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
		if (sip_expires_value(cases[i].v) != cases[i].want)
			fail_msg("'%s': %lld, want %lld", cases[i].v,
			         (long long)sip_expires_value(cases[i].v),
			         (long long)cases[i].want);
	/* The same through the parser, as a header and as a Contact parameter. */
	struct sip_req r;
	int status;
	char reason[128];
	assert_int_equal(parse(REG_HEAD
	                       "Contact: <sip:a@b>;expires=3000000000, <sip:c@d>;expires=x, "
	                       "<sip:e@f>;expires\r\nExpires: 4294967296\r\n\r\n",
	                       &r, &status, reason),
	                 0);
	assert_int_equal(r.expires, 4294967295LL);
	assert_int_equal(r.contacts[0].expires, 3000000000LL);
	assert_int_equal(r.contacts[1].expires, 3600);
	assert_int_equal(r.contacts[2].expires, 3600);
	sip_req_free(&r);
	assert_int_equal(parse(REG_HEAD "Contact: <sip:a@b>\r\nExpires: Thu, 01 Dec 2040 16:00:00 "
	                                "GMT\r\n\r\n",
	                       &r, &status, reason),
	                 0);
	assert_int_equal(r.expires, 3600);
	sip_req_free(&r);
}

/* Digest credentials however the LWS is written (RFC 3261 §25.1): SP, HTAB, folding, no
 * space after commas; other schemes are not credentials for us (RFC 4475 §3.3.7). */
static void test_credentials(void **state)
{
	(void)state;
	static const struct {
		const char *hdr;  /* header lines (CRLF-terminated) */
		const char *user; /* NULL: no Digest credentials */
	} cases[] = {
	    {"Authorization: Digest username=\"a\", realm=\"r\", nonce=\"n\", uri=\"sip:r\", "
	     "response=\"0\"\r\n",
	     "a"},
	    {"Authorization: Digest\tusername=\"b\",realm=\"r\",nonce=\"n\",uri=\"sip:r\","
	     "response=\"0\"\r\n",
	     "b"},
	    {"Authorization:\tDigest\tusername=\"c\",\trealm=\"r\"\t,nonce=\"n\",uri=\"sip:r\","
	     "response=\"0\"\r\n",
	     "c"},
	    {"Authorization: Digest username=\"d\",\r\n realm=\"r\",\r\n\tnonce=\"n\", "
	     "uri=\"sip:r\",\r\n  response=\"0\"\r\n",
	     "d"},
	    {"Authorization: digest username=e,realm=r,nonce=n,uri=\"sip:r\",response=0\r\n", "e"},
	    {"Authorization: SomeUnknownScheme opaque=x\r\n", NULL},
	    {"Authorization: Basic QWxhZGRpbjpvcGVuIHNlc2FtZQ==\r\n"
	     "Authorization: Digest username=\"f\", realm=\"r\", nonce=\"n\", uri=\"sip:r\", "
	     "response=\"0\"\r\n",
	     "f"},
	    {"Authorization: Digestusername=\"g\"\r\n", NULL}, /* not the Digest scheme */
	};
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		char msg[1024];
		snprintf(msg, sizeof msg, "%sContact: <sip:a@b>\r\n%s\r\n", REG_HEAD, cases[i].hdr);
		struct sip_req r;
		int status;
		char reason[128];
		if (parse(msg, &r, &status, reason) != 0)
			fail_msg("case %zu: parse failed: %s", i, reason);
		if (!cases[i].user) {
			if (r.auth[0] || r.auth_unreadable)
				fail_msg("case %zu: credentials '%s'", i, r.auth);
		} else {
			struct sip_digest_creds c;
			char err[128];
			if (sip_digest_parse(r.auth, &c, err, sizeof err) != 0 ||
			    strcmp(c.username, cases[i].user) != 0 || strcmp(c.realm, "r") != 0)
				fail_msg("case %zu: '%s' -> %s", i, r.auth, err);
		}
		sip_req_free(&r);
	}
	/* A Digest header too long to hold is a failed authentication, not "none". */
	char *big = malloc(8192);
	int n = snprintf(big, 8192, "%sAuthorization: Digest username=\"", REG_HEAD);
	memset(big + n, 'x', 5000);
	snprintf(big + n + 5000, 8192 - (size_t)n - 5000, "\"\r\n\r\n");
	struct sip_req r;
	int status;
	char reason[128];
	assert_int_equal(parse(big, &r, &status, reason), 0);
	assert_int_equal(r.auth[0], '\0');
	assert_int_equal(r.auth_unreadable, 1);
	sip_req_free(&r);
	free(big);
}

static void sa_of(const char *ip, int port, struct sockaddr_storage *ss)
{
	memset(ss, 0, sizeof *ss);
	struct sockaddr_in *a4 = (struct sockaddr_in *)ss;
	struct sockaddr_in6 *a6 = (struct sockaddr_in6 *)ss;
	if (inet_pton(AF_INET, ip, &a4->sin_addr) == 1) {
		a4->sin_family = AF_INET;
		a4->sin_port = htons((uint16_t)port);
	} else {
		assert_int_equal(inet_pton(AF_INET6, ip, &a6->sin6_addr), 1);
		a6->sin6_family = AF_INET6;
		a6->sin6_port = htons((uint16_t)port);
	}
}

/* RFC 3261 §18.2.1/§18.2.2 and RFC 3581 §4: the top Via as answered, and where a UDP
 * answer goes. */
static void test_via_received(void **state)
{
	(void)state;
	static const struct {
		const char *via;
		const char *src;
		int sport, force;
		const char *want_via; /* the top Via of the response */
		const char *dst;      /* where the answer goes */
		int dport;
	} cases[] = {
	    /* rport asked for: filled, and received added even when equal to sent-by */
	    {"SIP/2.0/UDP 192.0.2.20:5060;branch=z9hG4bK1;rport", "127.0.0.1", 40000, 0,
	     "SIP/2.0/UDP 192.0.2.20:5060;branch=z9hG4bK1;rport=40000;received=127.0.0.1",
	     "127.0.0.1", 40000},
	    {"SIP/2.0/UDP 127.0.0.1:5070;rport;branch=z9hG4bK2", "127.0.0.1", 5070, 0,
	     "SIP/2.0/UDP 127.0.0.1:5070;rport=5070;branch=z9hG4bK2;received=127.0.0.1",
	     "127.0.0.1", 5070},
	    /* no rport: received only when the host differs; the answer to sent-by's port */
	    {"SIP/2.0/UDP 192.0.2.20:5062;branch=z9hG4bK3", "127.0.0.1", 40000, 0,
	     "SIP/2.0/UDP 192.0.2.20:5062;branch=z9hG4bK3;received=127.0.0.1", "127.0.0.1", 5062},
	    {"SIP/2.0/UDP 127.0.0.1:5062;branch=z9hG4bK4", "127.0.0.1", 40000, 0,
	     "SIP/2.0/UDP 127.0.0.1:5062;branch=z9hG4bK4", "127.0.0.1", 5062},
	    {"SIP/2.0/UDP 127.0.0.1;branch=z9hG4bK5", "127.0.0.1", 40000, 0,
	     "SIP/2.0/UDP 127.0.0.1;branch=z9hG4bK5", "127.0.0.1", 5060}, /* port absent */
	    {"SIP/2.0/UDP phone.example.com:5062;branch=z9hG4bK6", "127.0.0.1", 40000, 0,
	     "SIP/2.0/UDP phone.example.com:5062;branch=z9hG4bK6;received=127.0.0.1", "127.0.0.1",
	     5062}, /* a host name is never the source address */
	    /* force_rport: to the source port, Via as without it */
	    {"SIP/2.0/UDP 192.0.2.20:5060;branch=z9hG4bK7", "127.0.0.1", 40000, 1,
	     "SIP/2.0/UDP 192.0.2.20:5060;branch=z9hG4bK7;received=127.0.0.1", "127.0.0.1", 40000},
	    /* an rport that has a value is left as sent */
	    {"SIP/2.0/UDP 192.0.2.20;branch=z9hG4bK8;rport=7", "127.0.0.1", 40000, 0,
	     "SIP/2.0/UDP 192.0.2.20;branch=z9hG4bK8;rport=7;received=127.0.0.1", "127.0.0.1",
	     40000},
	    /* IPv6 sent-by, equal and different; received without brackets */
	    {"SIP/2.0/UDP [::1]:5062;branch=z9hG4bK9", "::1", 40000, 0,
	     "SIP/2.0/UDP [::1]:5062;branch=z9hG4bK9", "::1", 5062},
	    {"SIP/2.0/UDP [2001:db8::9]:5062;branch=z9hG4bKa;rport", "::1", 40000, 0,
	     "SIP/2.0/UDP [2001:db8::9]:5062;branch=z9hG4bKa;rport=40000;received=::1", "::1",
	     40000},
	    /* an IPv4 source seen on a dual-stack socket */
	    {"SIP/2.0/UDP 127.0.0.1:5062;branch=z9hG4bKb", "::ffff:127.0.0.1", 40000, 0,
	     "SIP/2.0/UDP 127.0.0.1:5062;branch=z9hG4bKb", "::ffff:127.0.0.1", 5062},
	    /* the sent-by compared as text first (issue 22): a prefix of the source's text is
	     * another address; another spelling of the source's address is the same */
	    {"SIP/2.0/UDP 127.0.0.10:5062;branch=z9hG4bKd", "127.0.0.1", 40000, 0,
	     "SIP/2.0/UDP 127.0.0.10:5062;branch=z9hG4bKd;received=127.0.0.1", "127.0.0.1", 5062},
	    {"SIP/2.0/UDP 127.0.0.1:5062;branch=z9hG4bKe", "127.0.0.10", 40000, 0,
	     "SIP/2.0/UDP 127.0.0.1:5062;branch=z9hG4bKe;received=127.0.0.10", "127.0.0.10", 5062},
	    {"SIP/2.0/UDP [0:0::1]:5062;branch=z9hG4bKf", "::1", 40000, 0,
	     "SIP/2.0/UDP [0:0::1]:5062;branch=z9hG4bKf", "::1", 5062},
	    /* a stale received is replaced */
	    {"SIP/2.0/UDP 192.0.2.20;received=198.51.100.1;branch=z9hG4bKc", "127.0.0.1", 1, 0,
	     "SIP/2.0/UDP 192.0.2.20;received=127.0.0.1;branch=z9hG4bKc", "127.0.0.1", 5060},
	};
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		char msg[1024];
		snprintf(
		    msg, sizeof msg,
		    "REGISTER sip:telgate SIP/2.0\r\nVia: %s\r\nVia: SIP/2.0/UDP 10.9.9.9;"
		    "branch=z9hG4bKlower;rport\r\nTo: <sip:1001@telgate>\r\n"
		    "From: <sip:1001@telgate>;tag=1\r\nCall-ID: v%zu\r\nCSeq: 1 REGISTER\r\n\r\n",
		    cases[i].via, i);
		struct sip_req r;
		int status;
		char reason[128];
		if (parse(msg, &r, &status, reason) != 0)
			fail_msg("case %zu: %s", i, reason);
		struct sockaddr_storage src, want;
		sa_of(cases[i].src, cases[i].sport, &src);
		sa_of(cases[i].dst, cases[i].dport, &want);
		assert_int_equal(sip_req_received(&r, (struct sockaddr *)&src, cases[i].force), 0);
		char out[2048], line[512];
		assert_true(sip_response(&r, 200, "OK", "t", NULL, out, sizeof out) > 0);
		snprintf(line, sizeof line, "\r\nVia: %s\r\nVia: SIP/2.0/UDP 10.9.9.9;",
		         cases[i].want_via);
		if (!strstr(out, line))
			fail_msg("case %zu: got\n%s\nwant %s", i, out, cases[i].want_via);
		if (memcmp(&r.reply_to, &want, r.reply_to_len) != 0)
			fail_msg("case %zu: the answer goes elsewhere", i);
		assert_non_null(
		    strstr(out, "branch=z9hG4bKlower;rport\r\n")); /* lower Vias as sent */
		sip_req_free(&r);
	}
}

/* RFC 3261 §19.3: To tags random to outsiders, one per request, stable for retransmissions. */
static void test_to_tag(void **state)
{
	(void)state;
	uint8_t key[16] = {1, 2, 3};
	char t1[17], t2[17], t3[17];
	struct sip_req r;
	int status;
	char reason[128];
	assert_int_equal(parse(REG_HEAD "\r\n", &r, &status, reason), 0);
	sip_req_to_tag(&r, key, t1);
	sip_req_to_tag(&r, key, t2);
	sip_req_free(&r);
	assert_string_equal(t1, t2);
	assert_int_equal(strlen(t1), 16);
	assert_int_equal(strspn(t1, "0123456789abcdef"), 16);
	/* what it is made of (msg.h), by the fast parse and by the full one */
	static const char made_of[] = "843817637684230@998sdasdh09|456248|1826REGISTER|"
	                              "z9hG4bK776asdhds";
	uint8_t h[crypto_shorthash_BYTES];
	crypto_shorthash(h, (const uint8_t *)made_of, sizeof made_of - 1, key);
	char want[17];
	for (int i = 0; i < 8; i++)
		snprintf(want + 2 * i, 3, "%02x", h[i]);
	assert_string_equal(t1, want);
	assert_int_equal(sip_req_parse_full(REG_HEAD "\r\n", strlen(REG_HEAD "\r\n"), &r, &status,
	                                    reason, sizeof reason),
	                 0);
	sip_req_to_tag(&r, key, t2);
	sip_req_free(&r);
	assert_string_equal(t2, want);
	assert_int_equal(parse(REG_HEAD "\r\n", &r, &status, reason), 0);
	sip_req_to_tag(&r, key, t3);
	assert_string_equal(t1, t3); /* a retransmission: the same request */
	key[0] = 9;
	sip_req_to_tag(&r, key, t3);
	assert_string_not_equal(t1, t3); /* another server key */
	sip_req_free(&r);
	assert_int_equal(parse(REG_HEAD "X: y\r\n\r\n", &r, &status, reason), 0);
	r.cseq++; /* the next request of the same dialog */
	key[0] = 1;
	sip_req_to_tag(&r, key, t3);
	assert_string_not_equal(t1, t3);
	sip_req_free(&r);
	/* From tag and branch longer than the tag's buffer (the full parse holds them as
	 * sent): the input is cut at the buffer's end, branch and all */
	static char big[6000];
	char tag[1500];
	memset(tag, 'f', sizeof tag - 1);
	tag[sizeof tag - 1] = '\0';
	int n = snprintf(big, sizeof big,
	                 "REGISTER sip:telgate SIP/2.0\r\n"
	                 "Via: SIP/2.0/UDP 10.0.0.5:5060;branch=z9hG4bK%s\r\n"
	                 "Max-Forwards: 70\r\nTo: <sip:1001@telgate>\r\n"
	                 "From: <sip:1001@telgate>;tag=%s\r\nCall-ID: c1\r\n"
	                 "CSeq: 7 REGISTER\r\n\r\n",
	                 tag, tag);
	assert_int_equal(sip_req_parse_full(big, (size_t)n, &r, &status, reason, sizeof reason), 0);
	sip_req_to_tag(&r, key, t3);
	sip_req_free(&r);
	enum { TAG_BUF = SIP_CALLID_MAX + 2 * 256 + 64 }; /* msg.c's buffer */
	static char whole[2 * sizeof tag + 64];
	int m = snprintf(whole, sizeof whole, "c1|%s|7REGISTER|z9hG4bK%s", tag, tag);
	assert_true(m > TAG_BUF);
	crypto_shorthash(h, (const uint8_t *)whole, TAG_BUF, key); /* its first TAG_BUF bytes */
	for (int i = 0; i < 8; i++)
		snprintf(want + 2 * i, 3, "%02x", h[i]);
	assert_string_equal(t3, want);
}

/* The device a Cisco endpoint names in its Contact (+u.sip!devicename.ccm.cisco.com, as
 * Jabber sends it: quoted; unquoted accepted), and two contacts naming different ones. */
static void test_devicename(void **state)
{
	(void)state;
	struct sip_req r;
	int status;
	char reason[128];
	assert_int_equal(parse(REG_HEAD "Contact: <sip:1001@10.0.0.5:5060;transport=tcp>;"
	                                "+sip.instance=\"<urn:uuid:1>\";"
	                                "+u.sip!devicename.ccm.cisco.com=\"CSFJDOE\";"
	                                "+u.sip!model.ccm.cisco.com=\"503\"\r\n\r\n",
	                       &r, &status, reason),
	                 0);
	assert_string_equal(r.devicename, "CSFJDOE");
	assert_int_equal(r.devicename_conflict, 0);
	assert_string_equal(r.contacts[0].instance, "<urn:uuid:1>");
	sip_req_free(&r);
	assert_int_equal(parse(REG_HEAD
	                       "Contact: <sip:1001@10.0.0.5>;"
	                       "+u.sip!devicename.ccm.cisco.com=SEP001122334455, "
	                       "<sip:1001@10.0.0.6>;"
	                       "+u.sip!devicename.ccm.cisco.com=\"SEP001122334455\"\r\n\r\n",
	                       &r, &status, reason),
	                 0);
	assert_string_equal(r.devicename, "SEP001122334455");
	assert_int_equal(r.devicename_conflict, 0);
	sip_req_free(&r);
	assert_int_equal(parse(REG_HEAD "Contact: <sip:1001@10.0.0.5>;"
	                                "+u.sip!devicename.ccm.cisco.com=\"CSFJDOE\", "
	                                "<sip:1001@10.0.0.6>;"
	                                "+u.sip!devicename.ccm.cisco.com=\"SEPDESK\"\r\n\r\n",
	                       &r, &status, reason),
	                 0);
	assert_string_equal(r.devicename, "CSFJDOE");
	assert_int_equal(r.devicename_conflict, 1);
	sip_req_free(&r);
	/* None named. */
	assert_int_equal(
	    parse(REG_HEAD "Contact: <sip:1001@10.0.0.5>\r\n\r\n", &r, &status, reason), 0);
	assert_string_equal(r.devicename, "");
	sip_req_free(&r);
}

/* Bytes after the header section are the body: NUL bytes included (RFC 3261 §7.4);
 * Require lists what we lack (RFC 3261 §8.2.2.3); +sip.instance and reg-id are read. */
static void test_body_require_instance(void **state)
{
	(void)state;
	struct sip_req r;
	int status;
	char reason[128];
	static const char head[] = REG_HEAD "Require: nothingsupported, other\r\nContact: "
	                                    "<sip:1001@10.0.0.5>;+sip.instance=\"<urn:uuid:0001>\";"
	                                    "reg-id=2\r\nContent-Type: application/octet-stream\r\n"
	                                    "Content-Length: 5\r\n\r\n";
	char msg[sizeof head + 5];
	memcpy(msg, head, sizeof head - 1);
	memcpy(msg + sizeof head - 1, "a\0b\0c", 5);
	assert_int_equal(sip_req_parse(msg, sizeof msg, &r, &status, reason, sizeof reason), 0);
	assert_string_equal(r.unsupported, "nothingsupported, other");
	assert_string_equal(r.contacts[0].instance, "<urn:uuid:0001>");
	assert_int_equal(r.contacts[0].regid, 2);
	sip_req_free(&r);
	/* a NUL in the header section is no request */
	static const char bad[] = REG_HEAD "X-A: b\0c\r\n\r\n";
	assert_int_equal(sip_req_parse(bad, sizeof bad - 1, &r, &status, reason, sizeof reason),
	                 -1);
	sip_req_free(&r);
	/* a backslash before a NUL outside a quoted-string is no quoted-pair */
	static const char bad2[] = REG_HEAD "X-A: b\\\0c\r\n\r\n";
	assert_int_equal(sip_req_parse(bad2, sizeof bad2 - 1, &r, &status, reason, sizeof reason),
	                 -1);
	sip_req_free(&r);
	/* ... inside one it is (RFC 4475 §3.1.1.2), and the contacts keep their own values */
	static const char nulq[] = REG_HEAD
	    "Contact: <sip:a@1.1.1.1;x=1,2>;expires=11, \"b\\\0\" <sip:b@2.2.2.2>;expires=22, "
	    "<sip:c@3.3.3.3>;expires=33\r\n\r\n";
	assert_int_equal(sip_req_parse(nulq, sizeof nulq - 1, &r, &status, reason, sizeof reason),
	                 0);
	assert_int_equal(r.ncontacts, 3);
	assert_non_null(
	    strstr(r.contacts[0].uri, "<sip:a@1.1.1.1;x=1")); /* as sent or libosip2's */
	assert_int_equal(r.contacts[0].expires, 11);
	assert_non_null(strstr(r.contacts[1].uri, "b@2.2.2.2"));
	assert_int_equal(r.contacts[1].expires, 22);
	assert_string_equal(r.contacts[2].uri, "<sip:c@3.3.3.3>");
	assert_int_equal(r.contacts[2].expires, 33);
	sip_req_free(&r);
	/* without the NUL the raw reading is used: a comma inside <> does not split */
	assert_int_equal(parse(REG_HEAD "Contact: <sip:a@1.1.1.1;x=1,2>;expires=11, "
	                                "<sip:%00@3.3.3.3>\r\n\r\n",
	                       &r, &status, reason),
	                 0);
	assert_string_equal(r.contacts[0].uri, "<sip:a@1.1.1.1;x=1,2>");
	assert_string_equal(r.contacts[1].uri, "<sip:%00@3.3.3.3>");
	sip_req_free(&r);
	/* a datagram with more bytes than Content-Length: the rest is discarded */
	assert_int_equal(parse(REG_HEAD "Content-Length: 2\r\n\r\nabcdef", &r, &status, reason), 0);
	sip_req_free(&r);
	/* a 256-character Call-ID is legal */
	char longid[2048];
	char id[257];
	memset(id, 'c', 256);
	id[256] = '\0';
	snprintf(longid, sizeof longid,
	         "REGISTER sip:telgate SIP/2.0\r\nVia: SIP/2.0/UDP 10.0.0.5;branch=z9hG4bKx\r\n"
	         "To: <sip:1001@telgate>\r\nFrom: <sip:1001@telgate>;tag=1\r\nCall-ID: %s\r\n"
	         "CSeq: 1 REGISTER\r\n\r\n",
	         id);
	assert_int_equal(parse(longid, &r, &status, reason), 0);
	assert_string_equal(r.callid, id);
	sip_req_free(&r);
}

/* The fast parse (sip/sipfast.h) takes the common REGISTER and answers it byte for byte
 * as the full parse does; anything outside its grammar goes to the full parse. */
static void test_fast_parse(void **state)
{
	(void)state;
	static const char *const fast[] = {
	    /* SIPp's (bench/sipp/register_rtd.xml) */
	    "REGISTER sip:127.0.0.1:5060 SIP/2.0\r\n"
	    "Via: SIP/2.0/UDP 127.0.0.1:5061;branch=z9hG4bK-1-1-0\r\n"
	    "From: <sip:b00001@telgate>;tag=1SIPpTag001\r\nTo: <sip:b00001@telgate>\r\n"
	    "Call-ID: 1-123@127.0.0.1\r\nCSeq: 2 REGISTER\r\n"
	    "Contact: <sip:b00001@127.0.0.1:5061;transport=UDP>\r\n"
	    "Authorization: Digest username=\"b00001\",realm=\"telgate\",cnonce=\"6b8b4567\","
	    "nc=00000001,qop=auth,uri=\"sip:127.0.0.1:5060\",nonce=\"abc\",response=\"0123\","
	    "algorithm=MD5\r\nMax-Forwards: 70\r\nExpires: 3600\r\nContent-Length: 0\r\n\r\n",
	    /* compact forms, rport, two Vias, an instance, a second contact */
	    "REGISTER sip:telgate SIP/2.0\r\nv: SIP/2.0/TCP 10.0.0.5:5060;rport;branch=z9hG4bKa\r\n"
	    "v: SIP/2.0/UDP 10.0.0.1;branch=z9hG4bKb\r\nf: <sip:1001@telgate>;tag=x\r\n"
	    "t: <sip:1001@telgate>\r\ni: abc\r\nCSeq: 7 REGISTER\r\n"
	    "m: <sip:1001@10.0.0.5:5060;transport=tcp>;+sip.instance=\"<urn:uuid:1>\";reg-id=1;"
	    "expires=60, <sip:1001@10.0.0.9>\r\nUser-Agent: Cisco-CP8845/14.1\r\nl: 0\r\n\r\n",
	    REG_HEAD "Contact: *\r\nExpires: 0\r\nContent-Length: 0\r\n\r\n",
	    /* a To with a tag (no tag added), an rport with a value (kept) */
	    "REGISTER sip:telgate SIP/2.0\r\nVia: SIP/2.0/UDP "
	    "10.0.0.5:5060;rport=5070;branch=z9hG4bKr\r\n"
	    "From: <sip:1001@telgate>;tag=1\r\nTo: <sip:1001@telgate>;tag=2\r\nCall-ID: c2\r\n"
	    "CSeq: 4 REGISTER\r\nContact: <sip:1001@10.0.0.5>\r\nContent-Length: 0\r\n\r\n",
	    /* a phone's Allow, Accept and Supported (issue 22) */
	    REG_HEAD "Contact: <sip:1001@10.0.0.5>\r\n"
	             "Allow: INVITE, ACK, CANCEL,BYE ,OPTIONS,NOTIFY\r\n"
	             "Accept: application/sdp, multipart/mixed,*/*\r\nSupported: path, outbound\r\n"
	             "Content-Length: 0\r\n\r\n",
	    /* header names, the scheme and "Digest" in any case; one space after each comma
	     * of the credentials; quotes inside eight-byte words of a value (issue 22: names
	     * compared inline, values scanned eight bytes at a time) */
	    "REGISTER SIP:telgate SIP/2.0\r\nvIA: SIP/2.0/udp 10.0.0.5;branch=z9hG4bKx\r\n"
	    "FROM: <sip:1001@telgate>;tag=1\r\nto: <sip:1001@telgate>\r\ncall-id: c1\r\n"
	    "cseq: 3 REGISTER\r\nCONTACT: <sip:1001@10.0.0.5>\r\n"
	    "AUTHORIZATION: dIGEST username=\"1001\", realm=\"telgate\", nonce=\"abc\", "
	    "uri=\"sip:telgate\", response=\"0123\", algorithm=MD5\r\n"
	    "user-agent: ab\"cdefgh\"ijklmnop\"q\"rs\r\nContent-Length: 0\r\n\r\n",
	    /* names of 12 and 14 bytes in capitals (compared 8 bytes and an overlapping 8),
	     * colons in values, an unknown header, lines ending on either side of 16 and 32
	     * bytes (issue 22: one SSE2 scan per line, names by length and a word compare) */
	    REG_HEAD "MAX-FORWARDS: 70\r\nContact: <sip:1001@10.0.0.5>\r\n"
	             "User-Agent: a:b:c\r\nX-Info: key: value:1\r\nX-Fifteen: abcd\r\n"
	             "X-Sixteen: abcde\r\nX-Seventeen: abc\r\nX-A: abcdefghijklmnopqrstuvwxy\r\n"
	             "X-B: abcdefghijklmnopqrstuvwxyz\r\nX-C: abcdefghijklmnopqrstuvwxyz0\r\n"
	             "CONTENT-LENGTH: 0\r\n\r\n",
	};
	static const char *const deferred[] = {
	    /* in a value: two spaces in a row in the credentials, an odd number of quotes, a
	     * backslash, DEL, a non-ASCII byte, each inside an eight-byte word */
	    REG_HEAD "Authorization: Digest username=\"a\",  realm=\"t\"\r\n\r\n",
	    /* "SIP/2.0" of a Via not in upper case: libosip2 echoes it in upper case */
	    "REGISTER sip:telgate SIP/2.0\r\nVia: sip/2.0/UDP 10.0.0.5;branch=z9hG4bKx\r\n"
	    "From: <sip:1001@telgate>;tag=1\r\nTo: <sip:1001@telgate>\r\nCall-ID: c1\r\n"
	    "CSeq: 3 REGISTER\r\nContent-Length: 0\r\n\r\n",
	    REG_HEAD "User-Agent: abcdefg\"hijklmnop\r\nContent-Length: 0\r\n\r\n",
	    REG_HEAD "User-Agent: abcdefghij\\klmnop\r\nContent-Length: 0\r\n\r\n",
	    REG_HEAD "User-Agent: abcdefghij\x7fklmnop\r\nContent-Length: 0\r\n\r\n",
	    REG_HEAD "User-Agent: abcdefghij\xc3\xa9klmnop\r\nContent-Length: 0\r\n\r\n",
	    REG_HEAD "Allow: INVITE,,ACK\r\nContent-Length: 0\r\n\r\n",
	    REG_HEAD "Allow: \"INVITE\"\r\nContent-Length: 0\r\n\r\n",
	    REG_HEAD "Accept: application/sdp;level=1\r\nContent-Length: 0\r\n\r\n",
	    REG_HEAD "Accept: application\r\nContent-Length: 0\r\n\r\n",
	    REG_HEAD "Contact: \"Phone\" <sip:1001@10.0.0.5>\r\nContent-Length: 0\r\n\r\n",
	    REG_HEAD "Contact: <sip:1001@10.0.0.5>\r\n ;expires=5\r\nContent-Length: 0\r\n\r\n",
	    REG_HEAD "Require: foo\r\nContent-Length: 0\r\n\r\n",
	    /* a space before a colon, a name that is not a token, a line ended by LF or CR
	     * alone (issue 22: the name is cut at its colon, then checked when unknown) */
	    REG_HEAD "User-Agent : x\r\nContent-Length: 0\r\n\r\n",
	    REG_HEAD "X[1]: x\r\nContent-Length: 0\r\n\r\n",
	    REG_HEAD "User-Agent: x\nContent-Length: 0\r\n\r\n",
	    REG_HEAD "User-Agent: x\rContent-Length: 0\r\n\r\n",
	    REG_HEAD "Route: <sip:x>\r\nContent-Length: 0\r\n\r\n",
	    REG_HEAD "Authorization: Digest\tusername=\"a\"\r\nContent-Length: 0\r\n\r\n",
	    "OPTIONS sip:telgate SIP/2.0\r\nVia: SIP/2.0/UDP 10.0.0.5;branch=z9hG4bK1\r\n"
	    "To: <sip:1001@telgate>\r\nFrom: <sip:1001@telgate>;tag=1\r\nCall-ID: o\r\n"
	    "CSeq: 1 OPTIONS\r\n\r\n",
	};
	struct sip_req a, b;
	int status;
	char reason[128];
	struct sockaddr_storage src;
	sa_of("127.0.0.1", 40000, &src);
	for (size_t i = 0; i < sizeof fast / sizeof fast[0]; i++) {
		assert_int_equal(parse(fast[i], &a, &status, reason), 0);
		if (!a.fast || a.m)
			fail_msg("case %zu: not read by the fast parse", i);
		assert_int_equal(sip_req_parse_full(fast[i], strlen(fast[i]), &b, &status, reason,
		                                    sizeof reason),
		                 0);
		assert_int_equal(sip_req_received(&a, (struct sockaddr *)&src, 0), 0);
		assert_int_equal(sip_req_received(&b, (struct sockaddr *)&src, 0), 0);
		char oa[2048], ob[2048];
		assert_true(sip_response(&a, 200, "OK", "t1", "X: y\r\n", oa, sizeof oa) > 0);
		assert_true(sip_response(&b, 200, "OK", "t1", "X: y\r\n", ob, sizeof ob) > 0);
		if (strcmp(oa, ob) != 0)
			fail_msg("case %zu: fast\n%s\nfull\n%s", i, oa, ob);
		/* the fast answer is measured before it is written (issue 22): it fits in
		 * exactly its length and its NUL, not in one byte less */
		int n = (int)strlen(oa);
		char fit[2048];
		assert_int_equal(sip_response(&a, 200, "OK", "t1", "X: y\r\n", fit, (size_t)n + 1),
		                 n);
		assert_string_equal(fit, oa);
		assert_int_equal(sip_response(&a, 200, "OK", "t1", "X: y\r\n", fit, (size_t)n), -1);
		/* no To tag, no extra lines, a code out of range (answered as 500) */
		assert_true(sip_response(&a, 42, "Odd", NULL, NULL, oa, sizeof oa) > 0);
		assert_true(sip_response(&b, 42, "Odd", NULL, NULL, ob, sizeof ob) > 0);
		if (strcmp(oa, ob) != 0 || strncmp(oa, "SIP/2.0 500 Odd\r\n", 17) != 0)
			fail_msg("case %zu: fast\n%s\nfull\n%s", i, oa, ob);
		sip_req_free(&a);
		sip_req_free(&b);
	}
	/* one struct reused (as a loop reuses its jobs): a Bearer request (the full parse)
	 * then one the fast parse reads, which clears only the Bearer's first byte */
	static struct sip_req reused;
	memset(&reused, 'x', sizeof reused);
	assert_int_equal(parse(REG_HEAD "Authorization: Bearer abc.def.ghi\r\n"
	                                "Content-Length: 0\r\n\r\n",
	                       &reused, &status, reason),
	                 0);
	assert_false(reused.fast);
	assert_string_equal(reused.bearer, "Bearer abc.def.ghi");
	sip_req_free(&reused);
	assert_int_equal(parse(fast[0], &reused, &status, reason), 0);
	assert_true(reused.fast);
	assert_string_equal(reused.bearer, "");
	assert_int_equal(reused.bearer_unreadable, 0);
	assert_string_equal(reused.unsupported, "");
	assert_string_equal(reused.user_agent, "");
	sip_req_free(&reused);
	for (size_t i = 0; i < sizeof deferred / sizeof deferred[0]; i++) {
		(void)parse(deferred[i], &a, &status, reason);
		if (a.fast)
			fail_msg("deferred case %zu read by the fast parse", i);
		sip_req_free(&a);
	}
	/* a control character, DEL, a backslash or a non-ASCII byte at every position of an
	 * eight-byte word of a value (the scan's word test must see each byte of the word) */
	static const char odd[] = {'\x01', '\x1f', '\x7f', '\\', (char)0xc3, (char)0xff};
	for (size_t k = 0; k < sizeof odd; k++)
		for (int at = 0; at < 16; at++) {
			char ua[64], msg[1024];
			memset(ua, 'a', 32);
			ua[at] = odd[k];
			ua[32] = '\0';
			snprintf(msg, sizeof msg,
			         REG_HEAD "User-Agent: %s\r\nContent-Length: 0\r\n\r\n", ua);
			(void)parse(msg, &a, &status, reason);
			if (a.fast)
				fail_msg("byte 0x%02x at %d of a User-Agent read by the fast parse",
				         (unsigned char)odd[k], at);
			sip_req_free(&a);
		}
}

int main(void)
{
	if (sip_msg_init() != 0)
		return 1;
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_good_register),
	    cmocka_unit_test(test_malformed),
	    cmocka_unit_test(test_contacts_text_for_userid),
	    cmocka_unit_test(test_expires_values),
	    cmocka_unit_test(test_credentials),
	    cmocka_unit_test(test_via_received),
	    cmocka_unit_test(test_to_tag),
	    cmocka_unit_test(test_body_require_instance),
	    cmocka_unit_test(test_devicename),
	    cmocka_unit_test(test_fast_parse),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
