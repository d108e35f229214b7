/* SPDX-License-Identifier: ISC */
/* The CTI server's decisions without sockets: logins (before and after the directory),
 * the heartbeat and its clamp, StopApplicationSession, device and monitor checks, and the
 * one table of refusals (an entry for every outcome, the same bytes as the builders). */
#include "cti/monitor.h"
#include "cti/outcome.h"
#include "cti/session.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <cmocka.h>

static struct cti_msg login_msg(const char *user, const char *password)
{
	struct cti_msg m = {.type = CTI_MSG_START_SESSION, .protocol_ok = 1};
	snprintf(m.user, sizeof m.user, "%s", user);
	snprintf(m.application_id, sizeof m.application_id, "%s", "SeedTest");
	if (password) {
		snprintf(m.password, sizeof m.password, "%s", password);
		m.password_len = strlen(password);
		m.has_password = 1;
	}
	return m;
}

/* The directory's verdict for a password user over TLS or not, who presents a valid
 * certificate of their own (what a Standard CTI Secure Connection user must do since issue
 * 17; other users' certificates are ignored). */
static enum cti_outcome decide(const struct dir_result *r, int tls)
{
	struct cti_login_facts f = {.dir = r,
	                            .authtype = STORE_CTIAUTH_PASSWORD,
	                            .tls = tls,
	                            .cert = tls ? CTI_CERT_VALID : CTI_CERT_NONE,
	                            .cert_names_user = tls};
	return cti_login_decide(&f);
}

static void test_login_before_the_directory(void **state)
{
	(void)state;
	struct cti_msg m = login_msg("jpinkman", "Cap-n-Cook-1");
	assert_int_equal(cti_login_check(&m, 0, 1, 0, 0, 0), CTI_OK);
	assert_int_equal(cti_login_check(&m, 0, 0, 1, 0, 0), CTI_OK); /* plain TCP, allowed */
	assert_int_equal(cti_login_check(&m, 0, 0, 0, 0, 0), CTI_LOGIN_PLAIN);
	assert_int_equal(cti_login_check(&m, 1, 1, 0, 0, 0), CTI_LOGIN_IN_SESSION);
	m.protocol_ok = 0;
	assert_int_equal(cti_login_check(&m, 0, 1, 0, 0, 0), CTI_LOGIN_PROTOCOL);
	struct cti_msg t = login_msg("jpinkman", NULL);
	snprintf(t.token, sizeof t.token, "%s", "eyJ...");
	t.token_len = 6;
	assert_int_equal(cti_login_check(&t, 0, 1, 0, 0, 0), CTI_LOGIN_TOKEN);
	/* With the token service: a token login, checked by authz_verify on the worker; a
	 * userID is not needed (the token's subject is the user). */
	assert_int_equal(cti_login_check(&t, 0, 1, 0, 0, 1), CTI_OK);
	struct cti_msg tnouser = login_msg("", NULL);
	snprintf(tnouser.token, sizeof tnouser.token, "%s", "eyJ...");
	tnouser.token_len = 6;
	assert_int_equal(cti_login_check(&tnouser, 0, 1, 0, 0, 1), CTI_OK);
	assert_int_equal(cti_login_check(&tnouser, 0, 0, 0, 0, 1), CTI_LOGIN_PLAIN);
	struct cti_msg nopw = login_msg("jpinkman", NULL);
	assert_int_equal(cti_login_check(&nopw, 0, 1, 0, 0, 0), CTI_LOGIN_MISSING);
	struct cti_msg nouser = login_msg("", "x");
	assert_int_equal(cti_login_check(&nouser, 0, 1, 0, 0, 0), CTI_LOGIN_MISSING);
	/* With a client certificate, no password may be a certificate login (decided once
	 * the user's CTI authentication type is known); a userID is still required. */
	assert_int_equal(cti_login_check(&nopw, 0, 1, 0, 1, 0), CTI_OK);
	struct cti_msg nobody = login_msg("", NULL);
	assert_int_equal(cti_login_check(&nobody, 0, 1, 0, 1, 0), CTI_LOGIN_MISSING);
}

static const enum cti_cert_state bad_certs[] = {
    CTI_CERT_NONE,    CTI_CERT_FOREIGN, CTI_CERT_UNLISTED,   CTI_CERT_NOT_YET_VALID,
    CTI_CERT_EXPIRED, CTI_CERT_REVOKED, CTI_CERT_STORE_ERROR};
static const enum cti_outcome bad_cert_outcomes[] = {
    CTI_LOGIN_CERT_MISSING,       CTI_LOGIN_CERT_FOREIGN, CTI_LOGIN_CERT_UNLISTED,
    CTI_LOGIN_CERT_NOT_YET_VALID, CTI_LOGIN_CERT_EXPIRED, CTI_LOGIN_CERT_REVOKED,
    CTI_LOGIN_CERT_STORE};

/* Standard CTI Secure Connection: the password (the directory) and a valid certificate
 * issued to the user, over TLS; each fault of the certificate has its own outcome. */
static void test_login_secure_connection(void **state)
{
	(void)state;
	struct dir_result r = {.status = DIR_OK, .cti_perms = DIR_CTI_ENABLED | DIR_CTI_SECURE};
	struct cti_login_facts f = {
	    .dir = &r, .tls = 1, .cert = CTI_CERT_VALID, .cert_names_user = 1};
	assert_int_equal(cti_login_decide(&f), CTI_OK);
	f.cert_names_user = 0; /* another user's certificate */
	assert_int_equal(cti_login_decide(&f), CTI_LOGIN_CERT_OTHER_USER);
	f.cert_names_user = 1;
	for (size_t i = 0; i < sizeof bad_certs / sizeof bad_certs[0]; i++) {
		f.cert = bad_certs[i];
		assert_int_equal(cti_login_decide(&f), bad_cert_outcomes[i]);
		assert_int_equal(cti_login_cert_outcome(bad_certs[i]), bad_cert_outcomes[i]);
	}
	/* The password first: a wrong one is the directory's refusal whatever the
	 * certificate; then Standard CTI Enabled; plain TCP says TLS required. */
	f.cert = CTI_CERT_REVOKED;
	r.status = DIR_BAD_CREDENTIAL;
	assert_int_equal(cti_login_decide(&f), CTI_LOGIN_DIRECTORY);
	r.status = DIR_OK;
	r.cti_perms = DIR_CTI_SECURE;
	assert_int_equal(cti_login_decide(&f), CTI_LOGIN_NOT_ENABLED);
	r.cti_perms = DIR_CTI_ENABLED | DIR_CTI_SECURE;
	f.tls = 0;
	f.cert = CTI_CERT_NONE;
	assert_int_equal(cti_login_decide(&f), CTI_LOGIN_TLS_REQUIRED);
	/* Users not in Secure Connection: unchanged, whatever certificate they show. */
	r.cti_perms = DIR_CTI_ENABLED;
	f.tls = 1;
	for (size_t i = 0; i < sizeof bad_certs / sizeof bad_certs[0]; i++) {
		f.cert = bad_certs[i];
		assert_int_equal(cti_login_decide(&f), CTI_OK);
	}
	f.cert = CTI_CERT_VALID;
	f.cert_names_user = 0;
	assert_int_equal(cti_login_decide(&f), CTI_OK);
}

/* CTI authentication type certificate (the seed's application user): the certificate
 * alone; the user's row stands for the directory's verdict. */
static void test_login_certificate_user(void **state)
{
	(void)state;
	struct dir_result r = {.status = DIR_OK, .cti_perms = DIR_CTI_ENABLED};
	struct cti_login_facts f = {.dir = &r,
	                            .authtype = STORE_CTIAUTH_CERTIFICATE,
	                            .tls = 1,
	                            .cert = CTI_CERT_VALID,
	                            .cert_names_user = 1};
	assert_int_equal(cti_login_decide(&f), CTI_OK);
	r.cti_perms = DIR_CTI_ENABLED | DIR_CTI_SECURE; /* Secure Connection too: the same */
	assert_int_equal(cti_login_decide(&f), CTI_OK);
	f.cert_names_user = 0;
	assert_int_equal(cti_login_decide(&f), CTI_LOGIN_CERT_OTHER_USER);
	f.cert_names_user = 1;
	for (size_t i = 0; i < sizeof bad_certs / sizeof bad_certs[0]; i++) {
		f.cert = bad_certs[i];
		assert_int_equal(cti_login_decide(&f), bad_cert_outcomes[i]);
	}
	f.cert = CTI_CERT_VALID;
	r.cti_perms = 0;
	assert_int_equal(cti_login_decide(&f), CTI_LOGIN_NOT_ENABLED);
	/* The user's row refuses first: inactive, or the store failed. */
	r.cti_perms = DIR_CTI_ENABLED;
	r.status = DIR_INACTIVE;
	assert_int_equal(cti_login_decide(&f), CTI_LOGIN_DIRECTORY);
	r.status = DIR_UNAVAILABLE;
	f.cert = CTI_CERT_NONE;
	assert_int_equal(cti_login_decide(&f), CTI_LOGIN_DIRECTORY);
}

static void test_login_after_the_directory(void **state)
{
	(void)state;
	struct dir_result r = {.status = DIR_OK, .cti_perms = DIR_CTI_ENABLED};
	assert_int_equal(decide(&r, 0), CTI_OK);
	assert_int_equal(decide(&r, 1), CTI_OK);
	const enum dir_status refused[] = {DIR_BAD_CREDENTIAL, DIR_UNKNOWN_USER, DIR_LOCKED,
	                                   DIR_HACKED_LOCKED,  DIR_THROTTLED,    DIR_INACTIVE,
	                                   DIR_EXPIRED,        DIR_MUST_CHANGE,  DIR_UNAVAILABLE};
	for (size_t i = 0; i < sizeof refused / sizeof refused[0]; i++) {
		struct dir_result f = {.status = refused[i], .cti_perms = DIR_CTI_ENABLED};
		assert_int_equal(decide(&f, 1), CTI_LOGIN_DIRECTORY);
	}
	r.cti_perms = 0; /* not in Standard CTI Enabled */
	assert_int_equal(decide(&r, 1), CTI_LOGIN_NOT_ENABLED);
	r.cti_perms = DIR_CTI_ALL_DEVICES;
	assert_int_equal(decide(&r, 1), CTI_LOGIN_NOT_ENABLED);
	r.cti_perms = DIR_CTI_ENABLED | DIR_CTI_SECURE;
	assert_int_equal(decide(&r, 0), CTI_LOGIN_TLS_REQUIRED);
	assert_int_equal(decide(&r, 1), CTI_OK);
}

/* Every refused login looks the same to the peer (docs/protocol.md), except an
 * unsupported protocol version. */
static void test_login_refusals_on_the_wire(void **state)
{
	(void)state;
	char want[512], got[512];
	int n = cti_xml_start_session_neg(want, sizeof want, "invalidApplicationInfo");
	const enum cti_outcome same[] = {
	    CTI_LOGIN_IN_SESSION,      CTI_LOGIN_PLAIN,         CTI_LOGIN_TOKEN,
	    CTI_LOGIN_MISSING,         CTI_LOGIN_OVERLOADED,    CTI_LOGIN_DIRECTORY,
	    CTI_LOGIN_NOT_ENABLED,     CTI_LOGIN_TLS_REQUIRED,  CTI_LOGIN_CERT_MISSING,
	    CTI_LOGIN_CERT_FOREIGN,    CTI_LOGIN_CERT_UNLISTED, CTI_LOGIN_CERT_NOT_YET_VALID,
	    CTI_LOGIN_CERT_EXPIRED,    CTI_LOGIN_CERT_REVOKED,  CTI_LOGIN_CERT_STORE,
	    CTI_LOGIN_CERT_OTHER_USER, CTI_LOGIN_TOKEN_REFUSED, CTI_LOGIN_TOKEN_USER};
	for (size_t i = 0; i < sizeof same / sizeof same[0]; i++) {
		assert_int_equal(cti_outcome_xml(same[i], got, sizeof got), n);
		assert_memory_equal(got, want, (size_t)n);
	}
	n = cti_xml_start_session_neg(want, sizeof want, "requestedProtocolVersionNotSupported");
	assert_int_equal(cti_outcome_xml(CTI_LOGIN_PROTOCOL, got, sizeof got), n);
	assert_memory_equal(got, want, (size_t)n);
	/* The reason is for the log only; the directory's is given by the caller. */
	assert_null(cti_outcome_answer(CTI_LOGIN_DIRECTORY)->reason);
	assert_string_equal(cti_outcome_answer(CTI_LOGIN_NOT_ENABLED)->reason,
	                    "user is not in Standard CTI Enabled");
}

static void test_session_duration_clamp(void **state)
{
	(void)state;
	struct cti_session_limits l = {.dflt = 60, .max = 3600};
	assert_int_equal(cti_session_clamp(0, &l), 60);
	assert_int_equal(cti_session_clamp(-5, &l), 60);
	assert_int_equal(cti_session_clamp(1, &l), CTI_SESSION_DURATION_MIN);
	assert_int_equal(cti_session_clamp(10, &l), 10);
	assert_int_equal(cti_session_clamp(600, &l), 600);
	assert_int_equal(cti_session_clamp(3600, &l), 3600);
	assert_int_equal(cti_session_clamp(CTI_DURATION_MAX, &l), 3600);
}

static void test_heartbeat(void **state)
{
	(void)state;
	struct cti_session_limits l = {.dflt = 60, .max = 300};
	const char *sid = "0123456789abcdef0123456789abcdef";
	struct cti_msg m = {.type = CTI_MSG_RESET_TIMER};
	snprintf(m.session_id, sizeof m.session_id, "%s", sid);
	int d = -1;
	/* No duration requested: the current one again. */
	assert_int_equal(cti_heartbeat(sid, 120, &m, &l, &d), CTI_OK);
	assert_int_equal(d, 120);
	m.duration = 5;
	assert_int_equal(cti_heartbeat(sid, 120, &m, &l, &d), CTI_OK);
	assert_int_equal(d, CTI_SESSION_DURATION_MIN);
	m.duration = 100000;
	assert_int_equal(cti_heartbeat(sid, 120, &m, &l, &d), CTI_OK);
	assert_int_equal(d, 300);
	d = -1;
	snprintf(m.session_id, sizeof m.session_id, "%s", "not-this-session");
	assert_int_equal(cti_heartbeat(sid, 120, &m, &l, &d), CTI_RESET_BAD_SESSION);
	assert_int_equal(d, -1); /* untouched */
	char want[512], got[512];
	int n = cti_xml_reset_timer_neg(want, sizeof want, "invalidSessionID");
	assert_int_equal(cti_outcome_xml(CTI_RESET_BAD_SESSION, got, sizeof got), n);
	assert_memory_equal(got, want, (size_t)n);
}

static void test_stop(void **state)
{
	(void)state;
	struct cti_msg m = {.type = CTI_MSG_STOP_SESSION};
	snprintf(m.session_id, sizeof m.session_id, "%s", "abc");
	assert_int_equal(cti_stop_check("abc", &m), CTI_OK);
	assert_int_equal(cti_stop_check("abd", &m), CTI_STOP_BAD_SESSION);
	assert_int_equal(cti_stop_check("", &m), CTI_STOP_BAD_SESSION);
}

static void test_device_decisions(void **state)
{
	(void)state;
	const char *rule = NULL;
	unsigned en = DIR_CTI_ENABLED, all = DIR_CTI_ENABLED | DIR_CTI_ALL_DEVICES;
	/* Not found, and the store failing, whoever asks. */
	assert_int_equal(cti_device_decide(STORE_NOTFOUND, "", "mjavier", all, 0, &rule),
	                 CTI_DEV_UNKNOWN);
	assert_int_equal(cti_device_decide(STORE_ERROR, "", "mjavier", all, 0, &rule),
	                 CTI_DEV_STORE);
	/* A super provider: any device, no association looked up. */
	assert_int_equal(cti_device_needs_association(all, "", "mjavier"), 0);
	assert_int_equal(
	    cti_device_decide(STORE_OK, "", "mjavier", all, CTI_ASSOC_NOT_ASKED, &rule), CTI_OK);
	assert_non_null(strstr(rule, "super provider"));
	/* The owner. */
	assert_int_equal(cti_device_needs_association(en, "wwhite", "wwhite"), 0);
	assert_int_equal(
	    cti_device_decide(STORE_OK, "wwhite", "wwhite", en, CTI_ASSOC_NOT_ASKED, &rule),
	    CTI_OK);
	assert_string_equal(rule, "device owner");
	/* Someone else's device: the association decides. */
	assert_int_equal(cti_device_needs_association(en, "wwhite", "jpinkman"), 1);
	assert_int_equal(cti_device_needs_association(en, "", "jpinkman"), 1);
	assert_int_equal(cti_device_decide(STORE_OK, "wwhite", "jpinkman", en, CTI_ASSOC_NO, &rule),
	                 CTI_DEV_FORBIDDEN);
	assert_int_equal(cti_device_decide(STORE_OK, "", "jpinkman", en, CTI_ASSOC_YES, &rule),
	                 CTI_OK);
	assert_string_equal(rule, "end-user association");
	assert_int_equal(cti_device_decide(STORE_OK, "", "jpinkman", en, CTI_ASSOC_FAILED, &rule),
	                 CTI_DEV_STORE);
	/* An ownerless device is nobody's: "" never matches an empty user. */
	assert_int_equal(cti_device_needs_association(en, "", ""), 1);
}

static void test_monitor_decisions(void **state)
{
	(void)state;
	assert_int_equal(cti_monitor_check(0, 5), CTI_OK);
	assert_int_equal(cti_monitor_check(4, 5), CTI_OK);
	assert_int_equal(cti_monitor_check(5, 5), CTI_MON_TOO_MANY);
	char want[512], got[512];
	int n = cti_xml_error(want, sizeof want, "operation", "invalidCrossRefID");
	assert_int_equal(cti_outcome_xml(CTI_MON_UNKNOWN, got, sizeof got), n);
	assert_memory_equal(got, want, (size_t)n);
	n = cti_xml_error(want, sizeof want, "operation", "privilegeViolationOnSpecifiedDevice");
	assert_int_equal(cti_outcome_xml(CTI_DEV_FORBIDDEN, got, sizeof got), n);
	assert_memory_equal(got, want, (size_t)n);
	n = cti_xml_error(want, sizeof want, "operation", "invalidDeviceIdentifier");
	assert_int_equal(cti_outcome_xml(CTI_DEV_UNKNOWN, got, sizeof got), n);
	assert_memory_equal(got, want, (size_t)n);
}

/* The one table: every outcome but CTI_OK has a row that builds an answer. */
static void test_table_covers_every_outcome(void **state)
{
	(void)state;
	assert_null(cti_outcome_answer(CTI_OK));
	assert_null(cti_outcome_answer(CTI_OUTCOME_N));
	assert_int_equal(cti_outcome_xml(CTI_OK, (char[64]){0}, 64), -1);
	for (int o = CTI_OK + 1; o < CTI_OUTCOME_N; o++) {
		const struct cti_answer *a = cti_outcome_answer((enum cti_outcome)o);
		assert_non_null(a);
		assert_non_null(a->value);
		assert_true(a->kind == CTI_ANSWER_CSTA_ERROR || a->kind == CTI_ANSWER_SESSION_NEG ||
		            a->kind == CTI_ANSWER_RESET_NEG);
		if (a->kind == CTI_ANSWER_CSTA_ERROR)
			assert_non_null(a->category);
		assert_string_not_equal(cti_outcome_name((enum cti_outcome)o), "?");
		char xml[512];
		assert_true(cti_outcome_xml((enum cti_outcome)o, xml, sizeof xml) > 0);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_login_before_the_directory),
	    cmocka_unit_test(test_login_after_the_directory),
	    cmocka_unit_test(test_login_refusals_on_the_wire),
	    cmocka_unit_test(test_session_duration_clamp),
	    cmocka_unit_test(test_heartbeat),
	    cmocka_unit_test(test_stop),
	    cmocka_unit_test(test_device_decisions),
	    cmocka_unit_test(test_monitor_decisions),
	    cmocka_unit_test(test_table_covers_every_outcome),
	    cmocka_unit_test(test_login_secure_connection),
	    cmocka_unit_test(test_login_certificate_user),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
