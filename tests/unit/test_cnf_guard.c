/* SPDX-License-Identifier: ISC */
/* Who may fetch a SIP OAuth device's cnf.xml over HTTPS (provision/cnf_guard.h): every
 * row of the decision, and the Bearer credentials' reading (RFC 6750 §2.1). */
#include "provision/cnf_guard.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <cmocka.h>

static void test_decide(void **state)
{
	(void)state;
	static const struct {
		struct cnf_guard_input in;
		enum cnf_guard_verdict want;
	} rows[] = {
	    /* mode off for the device: served as on 6970, whatever came */
	    {{0, 0, 0, 0, 0}, CNF_GUARD_OPEN},
	    {{0, 1, 0, 0, 0}, CNF_GUARD_OPEN},
	    {{0, 1, 1, 0, 0}, CNF_GUARD_OPEN},
	    /* mode on: a token, valid, of the owner or an associated user */
	    {{1, 0, 0, 0, 0}, CNF_GUARD_NO_TOKEN},
	    {{1, 1, 0, 0, 0}, CNF_GUARD_INVALID_TOKEN},
	    {{1, 1, 0, 1, 1}, CNF_GUARD_INVALID_TOKEN}, /* owner named by a bad token */
	    {{1, 1, 1, 0, 0}, CNF_GUARD_WRONG_USER},    /* another user, or no owner/users */
	    {{1, 1, 1, 1, 0}, CNF_GUARD_AUTHORIZED},
	    {{1, 1, 1, 0, 1}, CNF_GUARD_AUTHORIZED},
	    {{1, 1, 1, 1, 1}, CNF_GUARD_AUTHORIZED},
	};
	for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++)
		if (cnf_guard_decide(&rows[i].in) != rows[i].want)
			fail_msg("row %zu: got %s", i,
			         cnf_guard_name(cnf_guard_decide(&rows[i].in)));
	for (int v = 0; v < CNF_GUARD_VERDICTS; v++)
		assert_string_not_equal(cnf_guard_name((enum cnf_guard_verdict)v), "unknown");
	assert_string_equal(cnf_guard_name(CNF_GUARD_VERDICTS), "unknown");
}

static void test_bearer(void **state)
{
	(void)state;
	const char *t;
	size_t n;
	assert_int_equal(cnf_guard_bearer("Bearer eyJh.eyJz.c2ln", &t, &n), 0);
	assert_int_equal(n, 14);
	assert_memory_equal(t, "eyJh.eyJz.c2ln", 14);
	assert_int_equal(cnf_guard_bearer("bearer   a-b_c~d+e/f==  ", &t, &n), 0);
	assert_memory_equal(t, "a-b_c~d+e/f==", n);
	/* Not Bearer, empty, a character outside b64token, two tokens, the Jabber form. */
	static const char *const bad[] = {
	    NULL,         "",           "Basic YWxhZGRpbjpvcGVuc2VzYW1l", "Bearer",     "Bearer ",
	    "Bearer a,b", "Bearer a b", "Bearer token=\"abc\"",           "Bearera.b.c"};
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
		if (cnf_guard_bearer(bad[i], &t, &n) == 0)
			fail_msg("'%s' read as a bearer token", bad[i] ? bad[i] : "(null)");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_decide),
	    cmocka_unit_test(test_bearer),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
