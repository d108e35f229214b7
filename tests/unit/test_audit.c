/* SPDX-License-Identifier: ISC */
/* The audit log of admin commands (admin/audit.c): the words as recorded, quoted where
 * they hold spaces, and the value of a secret option (capf's --auth-string) redacted in
 * both its forms. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <cmocka.h>

#include "admin/audit.h"

static const char *last_cmd(void)
{
	static struct audit_rec r;
	assert_int_equal(audit_history(&r, 1), 1);
	return r.cmd;
}

static void test_words(void **state)
{
	(void)state;
	const char *argv[] = {"edge", "add", "edge1.example", "Jane Admin", ""};
	audit_record(0, 1, 5, argv, 1, NULL, "cid");
	assert_string_equal(last_cmd(), "edge add edge1.example \"Jane Admin\" \"\"");
}

static void test_secret_redacted(void **state)
{
	(void)state;
	const char *argv[] = {"capf",          "add",         "wwhite", "--instance-id", "1234",
	                      "--auth-string", "s3cret pass", "--key",  "ec-p256"};
	audit_record(0, 1, 9, argv, 0, "refused", "cid");
	assert_string_equal(last_cmd(), "capf add wwhite --instance-id 1234 --auth-string "
	                                "(redacted) --key ec-p256");
	const char *eq[] = {"capf", "rearm", "9", "--auth-string=hunter22hunter22"};
	audit_record(0, 1, 4, eq, 1, NULL, "cid");
	assert_string_equal(last_cmd(), "capf rearm 9 --auth-string=(redacted)");
	/* The option as the last word has no value to hide. */
	const char *bare[] = {"capf", "rearm", "9", "--auth-string"};
	audit_record(0, 1, 4, bare, 0, "needs a value", "cid");
	assert_string_equal(last_cmd(), "capf rearm 9 --auth-string");
	/* An option that merely starts like it is not a secret. */
	const char *other[] = {"x", "--auth-strings", "visible"};
	audit_record(0, 1, 3, other, 1, NULL, "cid");
	assert_string_equal(last_cmd(), "x --auth-strings visible");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_words),
	    cmocka_unit_test(test_secret_redacted),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
