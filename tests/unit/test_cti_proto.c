/* SPDX-License-Identifier: ISC */
/* The CTI wire format: frame headers, the XML parser's refusals and fields, builders. */
#include "cti/proto.h"

#include <libxml/parser.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <cmocka.h>

static void test_frames(void **state)
{
	(void)state;
	size_t n;
	int inv;
	char err[128];
	uint8_t f[16] = {0, 0, 0, 12, '0', '0', '4', '2', 'a', 'b', 'c', 'd'};
	assert_int_equal(cti_frame_peek(f, 12, &n, &inv, err, sizeof err), 1);
	assert_int_equal(n, 12);
	assert_int_equal(inv, 42);
	assert_int_equal(cti_frame_peek(f, 11, &n, &inv, err, sizeof err), 0); /* needs more */
	/* The whole frame's length is known from the header: the caller waits for it. */
	assert_int_equal(n, 12);
	assert_int_equal(cti_frame_peek(f, 8, &n, &inv, err, sizeof err), 0);
	assert_int_equal(n, 12);
	assert_int_equal(inv, 42);
	assert_int_equal(cti_frame_peek(f, 7, &n, &inv, err, sizeof err), 0);
	assert_int_equal(n, 0); /* no header yet */
	f[0] = 1;
	assert_int_equal(cti_frame_peek(f, 12, &n, &inv, err, sizeof err), -1);
	f[0] = 0;
	f[3] = 8; /* nothing but a header */
	assert_int_equal(cti_frame_peek(f, 12, &n, &inv, err, sizeof err), -1);
	f[3] = 12;
	f[5] = 'x';
	assert_int_equal(cti_frame_peek(f, 12, &n, &inv, err, sizeof err), -1);
	assert_non_null(strstr(err, "invoke id"));
	uint8_t h[CTI_HDR_LEN];
	assert_int_equal(cti_frame_header(9999, 258, h), 0);
	assert_memory_equal(h,
	                    "\x00\x00\x01\x0a"
	                    "9999",
	                    8);
	assert_int_equal(cti_frame_header(1, 65528, h), -1); /* 65536 in all: too big */
	assert_int_equal(cti_frame_header(10000, 1, h), -1);
}

static int parse(const char *xml, struct cti_msg *m, char *err)
{
	return cti_msg_parse(xml, strlen(xml), m, err, 256);
}

static void test_parse_login_and_refusals(void **state)
{
	(void)state;
	struct cti_msg m;
	char err[256];
	assert_int_equal(
	    parse("<StartApplicationSession xmlns=\"" CTI_NS_ACSE "\"><applicationInfo>"
	          "<applicationID>CRM &amp; co</applicationID><applicationSpecificInfo>"
	          "<tg:login xmlns:tg=\"" CTI_NS_TG "\"><tg:userID>star*man</tg:userID>"
	          "<tg:password>p&lt;w</tg:password></tg:login></applicationSpecificInfo>"
	          "</applicationInfo><requestedSessionDuration>90</requestedSessionDuration>"
	          "</StartApplicationSession>",
	          &m, err),
	    0);
	assert_int_equal(m.type, CTI_MSG_START_SESSION);
	assert_string_equal(m.application_id, "CRM & co");
	assert_string_equal(m.user, "star*man");
	assert_int_equal(m.has_password, 1);
	assert_int_equal(m.password_len, 3);
	assert_string_equal(m.password, "p<w");
	assert_int_equal(m.duration, 90);
	assert_int_equal(m.protocol_ok, 1);
	cti_msg_wipe(&m);
	assert_int_equal(m.password[0], 0);
	assert_int_equal(parse("<StartApplicationSession xmlns=\"" CTI_NS_ACSE
	                       "\"><applicationInfo>"
	                       "<applicationID>a</applicationID></applicationInfo>"
	                       "<requestedProtocolVersions><protocolVersion>http://x/ed3"
	                       "</protocolVersion></requestedProtocolVersions>"
	                       "</StartApplicationSession>",
	                       &m, err),
	                 0);
	assert_int_equal(m.protocol_ok, 0);
	static const char *const bad[] = {
	    "not xml",
	    "<MonitorStart xmlns=\"" CTI_NS_CSTA "\">",
	    "<!DOCTYPE a [<!ENTITY x \"y\">]><a>&x;</a>",
	    "<MonitorStart xmlns=\"urn:other\"/>",
	    "<MonitorStart/>",
	    "<MonitorStart xmlns=\"" CTI_NS_CSTA "\"/>",
	    "<MonitorStop xmlns=\"" CTI_NS_CSTA "\"><monitorCrossRefID>-1</monitorCrossRefID>"
	    "</MonitorStop>",
	    "<StartApplicationSession xmlns=\"" CTI_NS_ACSE "\"/>",
	    "<ResetApplicationSessionTimer xmlns=\"" CTI_NS_ACSE "\"><sessionID>s</sessionID>"
	    "<requestedSessionDuration>ten</requestedSessionDuration>"
	    "</ResetApplicationSessionTimer>",
	};
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		err[0] = '\0';
		if (parse(bad[i], &m, err) != -1)
			fail_msg("accepted: %s", bad[i]);
		assert_true(err[0] != '\0');
	}
	/* An id longer than the limit is refused, not cut. */
	char longdev[600];
	int n = snprintf(longdev, sizeof longdev,
	                 "<MonitorStart xmlns=\"" CTI_NS_CSTA "\"><monitorObject><deviceObject>");
	memset(longdev + n, 'A', 200);
	snprintf(longdev + n + 200, sizeof longdev - (size_t)n - 200,
	         "</deviceObject></monitorObject></MonitorStart>");
	assert_int_equal(parse(longdev, &m, err), -1);
	/* Well-formed but not served: parsed, typed unknown. */
	assert_int_equal(parse("<MakeCall xmlns=\"" CTI_NS_CSTA "\"/>", &m, err), 0);
	assert_int_equal(m.type, CTI_MSG_UNKNOWN);
	assert_string_equal(m.name, "MakeCall");
	assert_int_equal(parse("<MonitorStop xmlns=\"" CTI_NS_CSTA "\"><monitorCrossRefID>7"
	                       "</monitorCrossRefID></MonitorStop>",
	                       &m, err),
	                 0);
	assert_int_equal(m.crossref, 7);
	/* A duration above a day is read as a day (the server clamps it), however long. */
	static const char *const durs[] = {"86401", "999999999999999999999999", "0086400"};
	for (size_t i = 0; i < sizeof durs / sizeof durs[0]; i++) {
		char x[512];
		snprintf(x, sizeof x,
		         "<ResetApplicationSessionTimer xmlns=\"" CTI_NS_ACSE "\">"
		         "<sessionID>s</sessionID><requestedSessionDuration>%s"
		         "</requestedSessionDuration></ResetApplicationSessionTimer>",
		         durs[i]);
		assert_int_equal(parse(x, &m, err), 0);
		assert_int_equal(m.duration, CTI_DURATION_MAX);
	}
}

static void test_builders_escape(void **state)
{
	(void)state;
	char out[1024];
	int n = cti_xml_service_event(out, sizeof out, 1, 3, "A<&>\"'B");
	assert_true(n > 0);
	assert_non_null(strstr(out, "A&lt;&amp;&gt;&quot;&apos;B"));
	assert_non_null(strstr(out, "<BackInServiceEvent"));
	/* What we build, we parse back. */
	struct cti_msg m;
	char err[256];
	assert_int_equal(cti_msg_parse(out, (size_t)n, &m, err, sizeof err), 0);
	assert_int_equal(cti_xml_start_session_neg(out, 40, "invalidApplicationInfo"), -1);
	n = cti_xml_error(out, sizeof out, "operation", "invalidCrossRefID");
	assert_non_null(strstr(out, "<operation>invalidCrossRefID</operation>"));
	const char *devs[] = {"D1", "D2"};
	assert_true(cti_xml_sf_devices_resp(out, sizeof out, devs, 2) > 0);
	assert_non_null(strstr(out, "<deviceID>D2</deviceID>"));
}

int main(void)
{
	xmlInitParser();
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_frames),
	    cmocka_unit_test(test_parse_login_and_refusals),
	    cmocka_unit_test(test_builders_escape),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
