/* SPDX-License-Identifier: ISC */
/* The OAuth rows in the store (store/oauthgrant.c): clients and their constraints, single-use
 * codes, device codes (decision, slow_down, consumption), refresh tokens (consumption,
 * idempotent successor insert, family and user revocation, active families), cascades
 * on deletion, hashes hidden from ad-hoc SQL. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "store_fixture.h"

#define NOW 1700000000

static void add_user(store_t *st, const char *id)
{
	struct store_user u;
	memset(&u, 0, sizeof u);
	snprintf(u.userid, sizeof u.userid, "%s", id);
	u.status = STORE_USER_ACTIVE;
	snprintf(u.credentialpolicy, sizeof u.credentialpolicy, "Default Credential Policy");
	assert_int_equal(store_user_put(st, &u), STORE_OK);
}

static struct store_oauthclient client(const char *id, int confidential)
{
	struct store_oauthclient c;
	memset(&c, 0, sizeof c);
	snprintf(c.clientid, sizeof c.clientid, "%s", id);
	c.confidential = confidential;
	if (confidential)
		snprintf(c.secrethash, sizeof c.secrethash, "%064d", 1);
	snprintf(c.redirecturis, sizeof c.redirecturis, "https://app.example/cb");
	snprintf(c.granttypes, sizeof c.granttypes, "authorization_code refresh_token");
	snprintf(c.scopes, sizeof c.scopes, "openid cti");
	c.audiences = 3;
	c.created = NOW;
	return c;
}

static int setup(void **state)
{
	tu_store_setup(state);
	struct tu_store *f = *state;
	add_user(f->st, "jpinkman");
	add_user(f->st, "wwhite");
	struct store_oauthclient c = client("app", 0);
	assert_int_equal(store_oauthclient_add(f->st, &c), STORE_OK);
	return 0;
}

static int list_ids(void *ud, const struct store_oauthclient *c)
{
	tu_append(ud, 256, c->clientid);
	tu_append(ud, 256, ";");
	return 0;
}

static void test_clients(void **state)
{
	struct tu_store *f = *state;
	struct store_oauthclient c = client("app", 0), out;
	assert_int_equal(store_oauthclient_add(f->st, &c), STORE_CONSTRAINT); /* the key */
	c = client("svc", 1);
	c.secrethash[0] = '\0'; /* confidential without a way to authenticate */
	assert_int_equal(store_oauthclient_add(f->st, &c), STORE_CONSTRAINT);
	c = client("pub", 0);
	snprintf(c.secrethash, sizeof c.secrethash, "ab"); /* public with a secret */
	assert_int_equal(store_oauthclient_add(f->st, &c), STORE_CONSTRAINT);
	c = client("svc", 1);
	c.audiences = 4;
	assert_int_equal(store_oauthclient_add(f->st, &c), STORE_CONSTRAINT);
	c = client("svc", 1);
	snprintf(c.tlssubject, sizeof c.tlssubject, "svc.example");
	c.accesstokenlifetime = 600;
	assert_int_equal(store_oauthclient_add(f->st, &c), STORE_OK);
	assert_int_equal(store_oauthclient_get(f->st, "svc", &out), STORE_OK);
	assert_int_equal(out.confidential, 1);
	assert_string_equal(out.tlssubject, "svc.example");
	assert_int_equal(strlen(out.secrethash), 64);
	assert_string_equal(out.scopes, "openid cti");
	assert_int_equal(out.audiences, 3);
	assert_int_equal(out.accesstokenlifetime, 600);
	assert_int_equal(out.created, NOW);
	char got[256] = "";
	assert_int_equal(store_oauthclients(f->st, list_ids, got), STORE_OK);
	assert_string_equal(got, "app;svc;");
	assert_int_equal(store_oauthclient_delete(f->st, "svc"), STORE_OK);
	assert_int_equal(store_oauthclient_delete(f->st, "svc"), STORE_NOTFOUND);
	assert_int_equal(store_oauthclient_get(f->st, "svc", &out), STORE_NOTFOUND);
}

static void test_code_single_use(void **state)
{
	struct tu_store *f = *state;
	struct store_oauthcode c, out;
	memset(&c, 0, sizeof c);
	snprintf(c.codehash, sizeof c.codehash, "%064d", 5);
	snprintf(c.clientid, sizeof c.clientid, "app");
	snprintf(c.userid, sizeof c.userid, "jpinkman");
	snprintf(c.redirecturi, sizeof c.redirecturi, "https://app.example/cb");
	snprintf(c.challenge, sizeof c.challenge, "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM");
	c.authtime = NOW;
	c.expires = NOW + 60;
	assert_int_equal(store_oauthcode_add(f->st, &c), STORE_OK);
	int used = 7;
	/* Expired. */
	assert_int_equal(store_oauthcode_consume(f->st, c.codehash, NOW + 60, &out, &used),
	                 STORE_NOTFOUND);
	assert_int_equal(used, 0);
	assert_int_equal(store_oauthcode_consume(f->st, c.codehash, NOW + 1, &out, &used),
	                 STORE_OK);
	assert_string_equal(out.userid, "jpinkman");
	assert_string_equal(out.challenge, c.challenge);
	assert_int_equal(out.used, 1);
	/* The second time: used before. */
	assert_int_equal(store_oauthcode_consume(f->st, c.codehash, NOW + 2, &out, &used),
	                 STORE_NOTFOUND);
	assert_int_equal(used, 1);
	assert_string_equal(out.familyid, "");
	/* What the exchange issued, read back on a reuse. */
	assert_int_equal(store_oauthcode_issued(f->st, c.codehash, "famX", "jti1", NOW + 3600),
	                 STORE_OK);
	assert_int_equal(store_oauthcode_consume(f->st, c.codehash, NOW + 3, &out, &used),
	                 STORE_NOTFOUND);
	assert_int_equal(used, 1);
	assert_string_equal(out.familyid, "famX");
	assert_string_equal(out.jti, "jti1");
	assert_int_equal(out.jtiexpires, NOW + 3600);
	assert_int_equal(store_oauthcode_issued(f->st, "00", "f", "j", 1), STORE_NOTFOUND);
	/* Unknown. */
	assert_int_equal(store_oauthcode_consume(f->st, "00", NOW, &out, &used), STORE_NOTFOUND);
	assert_int_equal(used, 0);
}

static void test_device(void **state)
{
	struct tu_store *f = *state;
	struct store_oauthdevice d, out;
	memset(&d, 0, sizeof d);
	snprintf(d.devicecodehash, sizeof d.devicecodehash, "%064d", 9);
	snprintf(d.usercode, sizeof d.usercode, "WDJB-MJHT");
	snprintf(d.clientid, sizeof d.clientid, "app");
	d.expires = NOW + 600;
	d.interval = 5;
	assert_int_equal(store_oauthdevice_add(f->st, &d), STORE_OK);
	int fast = 1;
	assert_int_equal(store_oauthdevice_poll(f->st, d.devicecodehash, NOW, &out, &fast),
	                 STORE_OK);
	assert_string_equal(out.status, "pending");
	assert_int_equal(fast, 0);
	/* Sooner than the interval: slow_down, and the interval grows. */
	assert_int_equal(store_oauthdevice_poll(f->st, d.devicecodehash, NOW + 2, &out, &fast),
	                 STORE_OK);
	assert_int_equal(fast, 1);
	assert_int_equal(store_oauthdevice_poll(f->st, d.devicecodehash, NOW + 13, &out, &fast),
	                 STORE_OK);
	assert_int_equal(fast, 0);
	assert_int_equal(out.interval, 10);
	assert_int_equal(store_oauthdevice_by_usercode(f->st, "WDJB-MJHT", NOW + 14, &out),
	                 STORE_OK);
	assert_int_equal(store_oauthdevice_by_usercode(f->st, "WDJB-MJHT", NOW + 600, &out),
	                 STORE_NOTFOUND);
	assert_int_equal(
	    store_oauthdevice_decide(f->st, "WDJB-MJHT", "wwhite", 1, NOW + 20, NOW + 20),
	    STORE_OK);
	/* Decided once. */
	assert_int_equal(store_oauthdevice_decide(f->st, "WDJB-MJHT", "wwhite", 0, 0, NOW + 21),
	                 STORE_NOTFOUND);
	assert_int_equal(store_oauthdevice_poll(f->st, d.devicecodehash, NOW + 30, &out, &fast),
	                 STORE_OK);
	assert_string_equal(out.status, "approved");
	assert_string_equal(out.userid, "wwhite");
	assert_int_equal(out.authtime, NOW + 20);
	/* Consumed by that poll. */
	assert_int_equal(store_oauthdevice_poll(f->st, d.devicecodehash, NOW + 40, &out, &fast),
	                 STORE_OK);
	assert_string_equal(out.status, "used");
	assert_int_equal(store_oauthdevice_poll(f->st, "11", NOW, &out, &fast), STORE_NOTFOUND);
}

static struct store_oauthrefresh refresh(int n, const char *family, const char *user)
{
	struct store_oauthrefresh t;
	memset(&t, 0, sizeof t);
	snprintf(t.tokenhash, sizeof t.tokenhash, "%064d", n);
	snprintf(t.familyid, sizeof t.familyid, "%s", family);
	snprintf(t.clientid, sizeof t.clientid, "app");
	snprintf(t.userid, sizeof t.userid, "%s", user);
	snprintf(t.scope, sizeof t.scope, "cti");
	t.audiences = 2;
	t.authtime = NOW;
	t.created = NOW + n;
	t.expires = NOW + 1000;
	return t;
}

static int list_families(void *ud, const struct store_oauthfamily *fam)
{
	char n[64];
	snprintf(n, sizeof n, "%.40s/%d;", fam->familyid, fam->rotations);
	tu_append(ud, 256, n);
	return 0;
}

static void test_refresh(void **state)
{
	struct tu_store *f = *state;
	struct store_oauthrefresh a = refresh(1, "famA", "jpinkman"),
	                          b = refresh(2, "famA", "jpinkman"),
	                          c = refresh(3, "famC", "jpinkman"), out;
	assert_int_equal(store_oauthrefresh_add(f->st, &a), STORE_OK);
	assert_int_equal(store_oauthrefresh_add(f->st, &c), STORE_OK);
	assert_int_equal(store_oauthrefresh_consume(f->st, a.tokenhash, NOW + 5, &out), STORE_OK);
	assert_int_equal(out.used, 1);
	assert_int_equal(out.usedat, NOW + 5);
	assert_int_equal(store_oauthrefresh_consume(f->st, a.tokenhash, NOW + 6, &out),
	                 STORE_NOTFOUND);
	/* The successor, twice (a retry): one row. */
	assert_int_equal(store_oauthrefresh_add(f->st, &b), STORE_OK);
	assert_int_equal(store_oauthrefresh_add(f->st, &b), STORE_OK);
	char got[256] = "";
	assert_int_equal(store_oauthfamilies(f->st, "jpinkman", NOW + 7, list_families, got),
	                 STORE_OK);
	assert_string_equal(got, "famA/1;famC/0;");
	int n = 0;
	assert_int_equal(store_oauthrefresh_revoke_family(f->st, "famA", &n), STORE_OK);
	assert_int_equal(n, 2);
	assert_int_equal(store_oauthrefresh_consume(f->st, b.tokenhash, NOW + 8, &out),
	                 STORE_NOTFOUND);
	assert_int_equal(store_oauthrefresh_get(f->st, b.tokenhash, &out), STORE_OK);
	assert_int_equal(out.revoked, 1);
	got[0] = '\0';
	assert_int_equal(store_oauthfamilies(f->st, "jpinkman", NOW + 7, list_families, got),
	                 STORE_OK);
	assert_string_equal(got, "famC/0;");
	/* Expired: not consumable, not active. */
	assert_int_equal(store_oauthrefresh_consume(f->st, c.tokenhash, NOW + 1000, &out),
	                 STORE_NOTFOUND);
	assert_int_equal(store_oauthrefresh_revoke_user(f->st, "jpinkman", &n), STORE_OK);
	assert_int_equal(n, 1);
	assert_int_equal(store_oauth_expire(f->st, NOW + 1001, &n), STORE_OK);
	assert_int_equal(n, 3);
	assert_int_equal(store_oauthrefresh_get(f->st, c.tokenhash, &out), STORE_NOTFOUND);
}

/* Rotation in one transaction: the token used and its successor in the family, or nothing
 * written at all. */
static void test_refresh_rotate(void **state)
{
	struct tu_store *f = *state;
	struct store_oauthrefresh a = refresh(1, "famA", "jpinkman"), out, next;
	char nexthash[65], third[65];
	snprintf(nexthash, sizeof nexthash, "%064d", 2);
	snprintf(third, sizeof third, "%064d", 3);
	assert_int_equal(store_oauthrefresh_add(f->st, &a), STORE_OK);
	assert_int_equal(
	    store_oauthrefresh_rotate(f->st, a.tokenhash, nexthash, NOW + 5, NOW + 900, &out),
	    STORE_OK);
	assert_int_equal(out.used, 1);
	assert_int_equal(out.usedat, NOW + 5);
	assert_string_equal(out.familyid, "famA");
	assert_int_equal(store_oauthrefresh_get(f->st, nexthash, &next), STORE_OK);
	assert_string_equal(next.familyid, "famA");
	assert_string_equal(next.userid, "jpinkman");
	assert_string_equal(next.clientid, "app");
	assert_string_equal(next.scope, "cti");
	assert_int_equal(next.audiences, 2);
	assert_int_equal(next.authtime, NOW);
	assert_int_equal(next.created, NOW + 5);
	assert_int_equal(next.expires, NOW + 900);
	assert_int_equal(next.used, 0);
	assert_int_equal(next.revoked, 0);
	/* Used already: nothing matched, no successor written. */
	assert_int_equal(
	    store_oauthrefresh_rotate(f->st, a.tokenhash, third, NOW + 6, NOW + 900, &out),
	    STORE_NOTFOUND);
	assert_int_equal(store_oauthrefresh_get(f->st, third, &out), STORE_NOTFOUND);
	/* A transaction is usable again on this thread afterwards. */
	assert_int_equal(
	    store_oauthrefresh_rotate(f->st, nexthash, third, NOW + 7, NOW + 900, &out), STORE_OK);
	char got[256] = "";
	assert_int_equal(store_oauthfamilies(f->st, "jpinkman", NOW + 8, list_families, got),
	                 STORE_OK);
	assert_string_equal(got, "famA/2;");
}

static int count_family(void *ud, const struct store_oauthrefresh *r)
{
	(void)r;
	(*(int *)ud)++;
	return 0;
}

/* Group commit: several rotations in one transaction; one whose token is used already
 * writes nothing and leaves the others alone. Then the family's rows since a time. */
static void test_refresh_rotate_many(void **state)
{
	struct tu_store *f = *state;
	struct store_oauthrefresh a = refresh(1, "famA", "jpinkman");
	struct store_oauthrefresh b = refresh(2, "famB", "jpinkman"), out;
	char an[65], bn[65], again[65];
	snprintf(an, sizeof an, "%064d", 11);
	snprintf(bn, sizeof bn, "%064d", 12);
	snprintf(again, sizeof again, "%064d", 13);
	assert_int_equal(store_oauthrefresh_add(f->st, &a), STORE_OK);
	assert_int_equal(store_oauthrefresh_add(f->st, &b), STORE_OK);
	struct store_oauthrotation v[3] = {
	    {.tokenhash = a.tokenhash, .nexthash = an, .now = NOW + 5, .expires = NOW + 900},
	    {.tokenhash = a.tokenhash, .nexthash = again, .now = NOW + 5, .expires = NOW + 900},
	    {.tokenhash = b.tokenhash, .nexthash = bn, .now = NOW + 5, .expires = NOW + 900},
	};
	assert_int_equal(store_oauthrefresh_rotate_many(f->st, v, 3), STORE_OK);
	assert_int_equal(v[0].rc, STORE_OK);
	assert_string_equal(v[0].row.familyid, "famA");
	assert_int_equal(v[1].rc, STORE_NOTFOUND); /* the same token, consumed just before */
	assert_int_equal(v[2].rc, STORE_OK);
	assert_string_equal(v[2].row.familyid, "famB");
	assert_int_equal(store_oauthrefresh_get(f->st, an, &out), STORE_OK);
	assert_string_equal(out.familyid, "famA");
	assert_int_equal(out.created, NOW + 5);
	assert_int_equal(store_oauthrefresh_get(f->st, bn, &out), STORE_OK);
	assert_int_equal(store_oauthrefresh_get(f->st, again, &out), STORE_NOTFOUND);
	int n = 0;
	assert_int_equal(store_oauthrefresh_family_since(f->st, "famA", 0, count_family, &n),
	                 STORE_OK);
	assert_int_equal(n, 2);
	n = 0;
	assert_int_equal(store_oauthrefresh_family_since(f->st, "famA", NOW + 5, count_family, &n),
	                 STORE_OK);
	assert_int_equal(n, 1);
	/* Nothing queued: an empty transaction. */
	assert_int_equal(store_oauthrefresh_rotate_many(f->st, v, 0), STORE_OK);
}

static int count_rows(void *ud, int ncols, const char *const *names, const char *const *vals)
{
	(void)ncols;
	(void)names;
	int *n = ud;
	if (vals[0])
		(*n)++;
	return 0;
}

static void test_cascade_and_secrets(void **state)
{
	struct tu_store *f = *state;
	struct store_oauthrefresh t = refresh(4, "famD", "wwhite"), out;
	assert_int_equal(store_oauthrefresh_add(f->st, &t), STORE_OK);
	/* A hash is not readable by ad-hoc SQL. */
	int n = 0, trunc = 0;
	char err[256];
	assert_int_equal(store_query_readonly(f->st, "SELECT tokenhash FROM oauthrefresh", 10, 1000,
	                                      count_rows, &n, &trunc, err, sizeof err),
	                 STORE_REFUSED);
	assert_int_equal(n, 0);
	assert_non_null(strstr(err, "oauthrefresh.tokenhash is a secret column"));
	/* The client goes: its tokens with it. */
	assert_int_equal(store_oauthclient_delete(f->st, "app"), STORE_OK);
	assert_int_equal(store_oauthrefresh_get(f->st, t.tokenhash, &out), STORE_NOTFOUND);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_clients, setup, tu_store_teardown),
	    cmocka_unit_test_setup_teardown(test_code_single_use, setup, tu_store_teardown),
	    cmocka_unit_test_setup_teardown(test_device, setup, tu_store_teardown),
	    cmocka_unit_test_setup_teardown(test_refresh, setup, tu_store_teardown),
	    cmocka_unit_test_setup_teardown(test_refresh_rotate, setup, tu_store_teardown),
	    cmocka_unit_test_setup_teardown(test_refresh_rotate_many, setup, tu_store_teardown),
	    cmocka_unit_test_setup_teardown(test_cascade_and_secrets, setup, tu_store_teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
