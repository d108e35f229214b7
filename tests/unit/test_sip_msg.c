/* The SIP request wrapper: a good REGISTER, and each malformed case the registrar must
 * answer with 400 (or another status) or drop. */
#include "sip/authz.h"
#include "sip/msg.h"

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
	static char forty_vias[8000];
	size_t f =
	    (size_t)snprintf(forty_vias, sizeof forty_vias, "REGISTER sip:telgate SIP/2.0\r\n");
	for (int i = 0; i < 40; i++)
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
	     0, "header name"}, /* no clean From to answer with: dropped */
	    {REG_HEAD "X-Fo\x01o: bar\r\n\r\n", 400, "header name"},
	    {"REGISTER sip:telgate SIP/2.0\r\nVia: SIP/2.0/UDP 10.0.0.5;branch=z9hG4bKx\r\n"
	     "Max-Forwards: 0\r\nTo: <sip:1001@telgate>\r\nFrom: <sip:1001@telgate>;tag=1\r\n"
	     "Call-ID: a\r\nCSeq: 1 REGISTER\r\n\r\n",
	     483, "Hops"},
	    {"REGISTER sip:telgate SIP/2.0\r\nVia: SIP/2.0/UDP 10.0.0.5;branch=z9hG4bKx\r\n"
	     "To: <sip:1001@telgate>\r\nFrom: <sip:1001@telgate>;tag=1\r\nCall-ID: a\r\n"
	     "CSeq: 1 INVITE\r\n\r\n",
	     400, "CSeq method"},
	    {"REGISTER sip:telgate SIP/2.0\r\nVia: SIP/2.0/UDP 10.0.0.5\r\n"
	     "To: <sip:1001@telgate>\r\nFrom: <sip:1001@telgate>;tag=1\r\nCall-ID: a\r\n"
	     "CSeq: 1 REGISTER\r\n\r\n",
	     400, "Via"},
	    {"REGISTER tel:+1234 SIP/2.0\r\nVia: SIP/2.0/UDP 10.0.0.5;branch=z9hG4bKx\r\n"
	     "To: <sip:1001@telgate>\r\nFrom: <sip:1001@telgate>;tag=1\r\nCall-ID: a\r\n"
	     "CSeq: 1 REGISTER\r\n\r\n",
	     416, "Scheme"},
	    {REG_HEAD "Contact: *\r\n\r\n", 400, "Expires: 0"},
	    {REG_HEAD "Expires: soon\r\n\r\n", 400, "Expires"},
	    {REG_HEAD "Contact: <sip:a@b>;expires=-1\r\n\r\n", 400, "expires"},
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
			char out[4096];
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

int main(void)
{
	if (sip_msg_init() != 0)
		return 1;
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_good_register),
	    cmocka_unit_test(test_malformed),
	    cmocka_unit_test(test_contacts_text_for_userid),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
