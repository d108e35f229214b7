/* SPDX-License-Identifier: ISC */
/* Registration authorisation (seed 003): the Contact parameter extraction, and the
 * decision function over every combination, checked against the spec's 16-row table. */
#include "sip/authz.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <cmocka.h>

static void test_extract(void **state)
{
	(void)state;
	struct sip_userid_params p;
	assert_int_equal(sip_userid_extract("<sip:1001@10.0.0.5:5060;transport=tls>;"
	                                    "+u.sip!userid.ccm.cisco.com=\"mjavier\";expires=3600",
	                                    &p),
	                 0);
	assert_int_equal(p.n, 1);
	assert_string_equal(p.v[0], "mjavier");
	/* Unquoted (row 10), escaped, the neutral alias, case-insensitive names. */
	assert_int_equal(sip_userid_extract("<sip:a@b>;+U.SIP!USERID.CCM.CISCO.COM=mjavier", &p),
	                 0);
	assert_string_equal(p.v[0], "mjavier");
	assert_int_equal(sip_userid_extract("<sip:a@b>;+sip.userid=\"m\\\"j%41\"", &p), 0);
	assert_string_equal(p.v[0], "m\"jA");
	assert_int_equal(sip_userid_extract("<sip:a@b>;+sip.userid=jos%C3%A9", &p), 0);
	assert_string_equal(p.v[0], "jos\xc3\xa9");
	/* Empty value, and the bare flag. */
	assert_int_equal(sip_userid_extract("<sip:a@b>;+sip.userid=\"\"", &p), 0);
	assert_int_equal(p.n, 1);
	assert_string_equal(p.v[0], "");
	assert_int_equal(sip_userid_extract("<sip:a@b>;+sip.userid", &p), 0);
	assert_int_equal(p.n, 1);
	/* Absent; parameters of the URI and text of the display name do not count. */
	assert_int_equal(sip_userid_extract("<sip:a@b;+sip.userid=evil>;expires=60", &p), 0);
	assert_int_equal(p.n, 0);
	assert_int_equal(sip_userid_extract("\"x;+sip.userid=evil\" <sip:a@b>", &p), 0);
	assert_int_equal(p.n, 0);
	/* Several contacts and several parameters are all collected. */
	assert_int_equal(sip_userid_extract("<sip:a@b>;+sip.userid=u1, <sip:c@d>;"
	                                    "+u.sip!userid.ccm.cisco.com=\"u2\"",
	                                    &p),
	                 0);
	assert_int_equal(p.n, 2);
	assert_string_equal(p.v[1], "u2");
	/* Malformed: unterminated quote, control character, bad escape, too long. */
	assert_int_equal(sip_userid_extract("<sip:a@b>;+sip.userid=\"abc", &p), -1);
	assert_int_equal(sip_userid_extract("<sip:a@b>;+sip.userid=\"a\x01\"", &p), -1);
	assert_int_equal(sip_userid_extract("<sip:a@b>;+sip.userid=a%zz", &p), -1);
	char big[400];
	int n = snprintf(big, sizeof big, "<sip:a@b>;+sip.userid=");
	memset(big + n, 'x', 200);
	big[n + 200] = '\0';
	assert_int_equal(sip_userid_extract(big, &p), -1);
	/* More than the maximum number of values. */
	char many[1024] = "<sip:a@b>";
	for (int i = 0; i < 10; i++)
		strncat(many, ";+sip.userid=same", sizeof many - strlen(many) - 1);
	assert_int_equal(sip_userid_extract(many, &p), 0);
	assert_int_equal(p.too_many, 1);
}

/* The spec's table (../shared/spec/behaviour.md section 4): row -> expected status. */
static const int row_status[17] = {
    [1] = 200, [2] = 200,  [3] = 200, [4] = 200,  [5] = 200,  [6] = 200,  [7] = 401,  [8] = 401,
    [9] = 200, [10] = 200, [11] = 0,  [12] = 200, [13] = 401, [14] = 200, [15] = 200, [16] = 200,
};

enum param { P_ABSENT, P_EMPTY, P_ONE, P_SAME, P_DIFFERENT };
enum match { M_OWNER, M_ASSOC, M_NONE };

/* Which row of the table a combination is. */
static int row_of(int enabled, enum param p, int owner, int nassoc, enum match m)
{
	int configured = owner || nassoc;
	if (!enabled)
		return p == P_DIFFERENT ? 15 : (p == P_EMPTY && configured) ? 16 : 14;
	switch (p) {
	case P_ABSENT:
		return 1;
	case P_DIFFERENT:
		return 8;
	case P_EMPTY:
		return configured ? 13 : 12;
	default:
		if (!configured)
			return 6;
		if (m == M_OWNER)
			return nassoc ? 2 : 4;
		if (m == M_ASSOC)
			return nassoc > 1 ? 9 : owner ? 5 : 3;
		return 7;
	}
}

static void test_decision_table(void **state)
{
	(void)state;
	int checked = 0, rows_seen[17] = {0};
	for (int enabled = 0; enabled < 2; enabled++)
		for (int p = P_ABSENT; p <= P_DIFFERENT; p++)
			for (int owner = 0; owner < 2; owner++)
				for (int nassoc = 0; nassoc < 3; nassoc++)
					for (int m = M_OWNER; m <= M_NONE; m++) {
						if ((m == M_OWNER && !owner) ||
						    (m == M_ASSOC && !nassoc))
							continue; /* cannot match what is not
							             configured */
						const char *users[2] = {"assoc1", "assoc2"};
						const char *id = m == M_OWNER   ? "owner1"
						                 : m == M_ASSOC ? users[nassoc - 1]
						                                : "stranger";
						struct sip_userid_params par;
						memset(&par, 0, sizeof par);
						if (p == P_EMPTY)
							par.n = 1;
						else if (p == P_ONE) {
							par.n = 1;
							snprintf(par.v[0], sizeof par.v[0], "%s",
							         id);
						} else if (p == P_SAME || p == P_DIFFERENT) {
							par.n = 3;
							for (int i = 0; i < 3; i++)
								snprintf(par.v[i], sizeof par.v[i],
								         "%s", id);
							if (p == P_DIFFERENT)
								snprintf(par.v[2], sizeof par.v[2],
								         "other");
						}
						enum sip_authz_rule rule;
						enum sip_authz_verdict v = sip_authz_decide(
						    enabled, &par, owner ? "owner1" : "", users,
						    (size_t)nassoc, &rule);
						int row = row_of(enabled, (enum param)p, owner,
						                 nassoc, (enum match)m);
						int want = row_status[row];
						int got = v == SIP_AUTHZ_ALLOW ? 200 : 401;
						if (got != want)
							fail_msg("enabled=%d param=%d owner=%d "
							         "nassoc=%d match=%d: row %d "
							         "wants %d, got %d (%s)",
							         enabled, p, owner, nassoc, m, row,
							         want, got,
							         sip_authz_rule_name(rule));
						rows_seen[row] = 1;
						checked++;
					}
	/* Every row but 10 (a parsing row, in test_extract) and 11 (a refresh: the same
	 * inputs give the same answer) is reached by some combination. */
	for (int r = 1; r <= 16; r++)
		if (r != 10 && r != 11 && !rows_seen[r])
			fail_msg("row %d never exercised", r);
	assert_true(checked > 50);
	/* Row 11: the function is pure, so a refresh decides as the first REGISTER did. */
	struct sip_userid_params par = {.n = 1};
	snprintf(par.v[0], sizeof par.v[0], "stranger");
	const char *users[] = {"assoc1"};
	enum sip_authz_rule r1, r2;
	assert_int_equal(sip_authz_decide(1, &par, "owner1", users, 1, &r1),
	                 sip_authz_decide(1, &par, "owner1", users, 1, &r2));
	assert_int_equal(r1, r2);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_extract),
	    cmocka_unit_test(test_decision_table),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
