/* SPDX-License-Identifier: ISC */
/* The node table (store/processnode.c) and device security profiles
 * (store/securityprofile.c), and the schema 8 migration that creates them. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "store_fixture.h"

static struct store_processnode node(const char *name)
{
	struct store_processnode n;
	memset(&n, 0, sizeof n);
	snprintf(n.name, sizeof n.name, "%s", name);
	snprintf(n.address, sizeof n.address, "%s.example.com", name);
	n.sipport = 5060;
	n.securedsipport = 5061;
	n.sipoauthport = 5090;
	n.sipmraoauthport = 5091;
	n.ctiport = 2748;
	n.ctitlsport = 2749;
	n.httpport = 6970;
	n.tftpport = 69;
	snprintf(n.version, sizeof n.version, "0.1.0");
	n.timestarted = 1700000000;
	n.lastheartbeat = 1700000000;
	return n;
}

struct names {
	char got[512];
	int stop_after; /* 0 = never */
	int calls;
};

static int node_name(void *ud, const struct store_processnode *n)
{
	struct names *l = ud;
	tu_append(l->got, sizeof l->got, n->name);
	tu_append(l->got, sizeof l->got, ";");
	return ++l->calls == l->stop_after;
}

static void test_processnode(void **state)
{
	struct tu_store *f = *state;
	struct store_processnode n = node("cucm-b"), out;
	snprintf(n.description, sizeof n.description, "second node");
	assert_int_equal(store_processnode_put(f->st, &n), STORE_OK);
	n = node("cucm-a");
	n.sipoauthport = 0; /* off on this node */
	n.tftpport = 10069;
	assert_int_equal(store_processnode_put(f->st, &n), STORE_OK);

	assert_int_equal(store_processnode_get(f->st, "cucm-b", &out), STORE_OK);
	assert_string_equal(out.address, "cucm-b.example.com");
	assert_string_equal(out.description, "second node");
	assert_int_equal(out.sipport, 5060);
	assert_int_equal(out.securedsipport, 5061);
	assert_int_equal(out.sipoauthport, 5090);
	assert_int_equal(out.sipmraoauthport, 5091);
	assert_int_equal(out.ctiport, 2748);
	assert_int_equal(out.ctitlsport, 2749);
	assert_int_equal(out.httpport, 6970);
	assert_int_equal(out.tftpport, 69);
	assert_string_equal(out.version, "0.1.0");
	assert_int_equal(out.timestarted, 1700000000);
	assert_int_equal(store_processnode_get(f->st, "cucm-a", &out), STORE_OK);
	assert_int_equal(out.sipoauthport, 0);
	assert_int_equal(out.tftpport, 10069);

	/* Put replaces the row. */
	n.sipoauthport = 8443;
	n.timestarted = 1700000100;
	assert_int_equal(store_processnode_put(f->st, &n), STORE_OK);
	assert_int_equal(store_processnode_get(f->st, "cucm-a", &out), STORE_OK);
	assert_int_equal(out.sipoauthport, 8443);
	assert_int_equal(out.timestarted, 1700000100);

	struct names l = {"", 0, 0};
	assert_int_equal(store_processnodes(f->st, node_name, &l), STORE_OK);
	assert_string_equal(l.got, "cucm-a;cucm-b;");
	struct names one = {"", 1, 0};
	assert_int_equal(store_processnodes(f->st, node_name, &one), STORE_OK);
	assert_string_equal(one.got, "cucm-a;");

	/* The heartbeat touches lastheartbeat only. */
	assert_int_equal(store_processnode_heartbeat(f->st, "cucm-a", 1700000130), STORE_OK);
	assert_int_equal(store_processnode_get(f->st, "cucm-a", &out), STORE_OK);
	assert_int_equal(out.lastheartbeat, 1700000130);
	assert_int_equal(out.timestarted, 1700000100);
	assert_int_equal(out.sipoauthport, 8443);
	assert_int_equal(store_processnode_heartbeat(f->st, "nosuch", 1), STORE_NOTFOUND);

	assert_int_equal(store_processnode_delete(f->st, "cucm-b"), STORE_OK);
	assert_int_equal(store_processnode_delete(f->st, "cucm-b"), STORE_NOTFOUND);
	assert_int_equal(store_processnode_get(f->st, "cucm-b", &out), STORE_NOTFOUND);
	assert_string_equal(out.name, "");
}

/* Seed 002: sipOAuthPort and sipMRAOAuthPort are 1024-49151 (or 0: off); others 0-65535. */
static void test_processnode_ports(void **state)
{
	struct tu_store *f = *state;
	static const struct {
		size_t off;
		int value;
		const char *says;
	} bad[] = {
	    {offsetof(struct store_processnode, sipoauthport), 80,
	     "sipoauthport 80 is not 0 or 1024-49151"},
	    {offsetof(struct store_processnode, sipoauthport), 1023, "sipoauthport 1023"},
	    {offsetof(struct store_processnode, sipoauthport), 49152, "sipoauthport 49152"},
	    {offsetof(struct store_processnode, sipmraoauthport), 443, "sipmraoauthport 443"},
	    {offsetof(struct store_processnode, sipmraoauthport), 65000, "sipmraoauthport 65000"},
	    {offsetof(struct store_processnode, sipport), 65536, "sipport 65536"},
	    {offsetof(struct store_processnode, securedsipport), -1, "securedsipport -1"},
	    {offsetof(struct store_processnode, ctiport), 70000, "ctiport 70000"},
	    {offsetof(struct store_processnode, ctitlsport), -5, "ctitlsport -5"},
	    {offsetof(struct store_processnode, httpport), 100000, "httpport 100000"},
	    {offsetof(struct store_processnode, tftpport), 65536, "tftpport 65536"},
	};
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		struct store_processnode n = node("n1");
		*(int *)((char *)&n + bad[i].off) = bad[i].value;
		assert_int_equal(store_processnode_put(f->st, &n), STORE_CONSTRAINT);
		if (!strstr(store_last_error(), bad[i].says))
			fail_msg("%zu: '%s' lacks '%s'", i, store_last_error(), bad[i].says);
		char err[200];
		assert_int_equal(store_processnode_check(&n, err, sizeof err), -1);
		assert_non_null(strstr(err, bad[i].says));
	}
	struct store_processnode out;
	assert_int_equal(store_processnode_get(f->st, "n1", &out), STORE_NOTFOUND);
	/* The edges of the ranges, and 0 for every port, are accepted. */
	struct store_processnode n = node("n1");
	n.sipoauthport = 1024;
	n.sipmraoauthport = 49151;
	n.sipport = 65535;
	assert_int_equal(store_processnode_put(f->st, &n), STORE_OK);
	memset(&n, 0, sizeof n);
	snprintf(n.name, sizeof n.name, "n2");
	assert_int_equal(store_processnode_put(f->st, &n), STORE_OK);
	assert_int_equal(store_processnode_get(f->st, "n2", &out), STORE_OK);
	assert_int_equal(out.sipport + out.sipoauthport + out.tftpport, 0);
	/* A node needs a name. */
	memset(&n, 0, sizeof n);
	assert_int_equal(store_processnode_put(f->st, &n), STORE_CONSTRAINT);
	assert_non_null(strstr(store_last_error(), "name"));
	/* The schema refuses what the check refuses, for writers that bypass it. */
	struct store_val p[] = {SV_S("raw"), SV_I(80)};
	assert_int_equal(store_exec(f->st,
	                            "INSERT INTO processnode (name, sipoauthport) VALUES ($1, $2)",
	                            p, 2, NULL, NULL, NULL),
	                 STORE_CONSTRAINT);
}

/* Node and profile writes make cached generated files stale; the heartbeat does not (it
 * would rebuild every file every 30 s for nothing). */
static void test_generations(void **state)
{
	struct tu_store *f = *state;
	struct store_processnode n = node("g");
	uint64_t g0 = store_generation(f->st);
	assert_int_equal(store_processnode_put(f->st, &n), STORE_OK);
	uint64_t g1 = store_generation(f->st);
	assert_true(g1 > g0);
	assert_int_equal(store_processnode_heartbeat(f->st, "g", 1700000500), STORE_OK);
	assert_int_equal(store_generation(f->st), g1);
	struct store_processnode out;
	assert_int_equal(store_processnode_get(f->st, "g", &out), STORE_OK);
	assert_int_equal(store_generation(f->st), g1);
	struct store_securityprofile sp = {"P", "", "TLS", 1, 0};
	assert_int_equal(store_securityprofile_put(f->st, &sp), STORE_OK);
	uint64_t g2 = store_generation(f->st);
	assert_true(g2 > g1);
	assert_int_equal(store_securityprofile_delete(f->st, "P"), STORE_OK);
	assert_true(store_generation(f->st) > g2);
	/* Inside a transaction: counted when it commits. */
	uint64_t g3 = store_generation(f->st);
	assert_int_equal(store_begin(f->st), STORE_OK);
	assert_int_equal(store_processnode_delete(f->st, "g"), STORE_OK);
	assert_int_equal(store_generation(f->st), g3);
	assert_int_equal(store_commit(f->st), STORE_OK);
	assert_true(store_generation(f->st) > g3);
}

static int profile_name(void *ud, const struct store_securityprofile *p)
{
	struct names *l = ud;
	tu_append(l->got, sizeof l->got, p->name);
	tu_append(l->got, sizeof l->got, p->enableoauthauthentication ? "+oauth" : "");
	tu_append(l->got, sizeof l->got, p->enabledigestauthentication ? "+digest" : "");
	tu_append(l->got, sizeof l->got, ";");
	return ++l->calls == l->stop_after;
}

static void test_securityprofile(void **state)
{
	struct tu_store *f = *state;
	struct store_securityprofile oauth = {"Universal Device Template - OAuth", "OAuth only",
	                                      "TLS", 1, 0};
	struct store_securityprofile digest = {"Digest", "", "TCP+UDP", 0, 1};
	struct store_securityprofile none = {"Open", "", "UDP", 0, 0};
	assert_int_equal(store_securityprofile_put(f->st, &oauth), STORE_OK);
	assert_int_equal(store_securityprofile_put(f->st, &digest), STORE_OK);
	assert_int_equal(store_securityprofile_put(f->st, &none), STORE_OK);
	struct store_securityprofile out;
	assert_int_equal(
	    store_securityprofile_get(f->st, "Universal Device Template - OAuth", &out), STORE_OK);
	assert_string_equal(out.description, "OAuth only");
	assert_string_equal(out.transport, "TLS");
	assert_int_equal(out.enableoauthauthentication, 1);
	assert_int_equal(out.enabledigestauthentication, 0);
	struct names l = {"", 0, 0};
	assert_int_equal(store_securityprofiles(f->st, profile_name, &l), STORE_OK);
	assert_string_equal(l.got, "Digest+digest;Open;Universal Device Template - OAuth+oauth;");
	struct names one = {"", 1, 0};
	assert_int_equal(store_securityprofiles(f->st, profile_name, &one), STORE_OK);
	assert_string_equal(one.got, "Digest+digest;");

	/* Put replaces; turning OAuth on means turning digest off (seed 002). */
	digest.enabledigestauthentication = 0;
	digest.enableoauthauthentication = 1;
	snprintf(digest.transport, sizeof digest.transport, "TCP");
	assert_int_equal(store_securityprofile_put(f->st, &digest), STORE_OK);
	assert_int_equal(store_securityprofile_get(f->st, "Digest", &out), STORE_OK);
	assert_int_equal(out.enableoauthauthentication, 1);
	assert_int_equal(out.enabledigestauthentication, 0);
	assert_string_equal(out.transport, "TCP");

	/* Both on: refused, with the reason, and nothing written. */
	struct store_securityprofile both = {"Both", "", "TLS", 1, 1};
	assert_int_equal(store_securityprofile_put(f->st, &both), STORE_CONSTRAINT);
	assert_non_null(
	    strstr(store_last_error(), "OAuth and digest authentication cannot both be enabled"));
	char err[200];
	assert_int_equal(store_securityprofile_check(&both, err, sizeof err), -1);
	assert_non_null(strstr(err, "'Both'"));
	assert_int_equal(store_securityprofile_get(f->st, "Both", &out), STORE_NOTFOUND);
	assert_string_equal(out.name, "");
	/* Other refusals. */
	struct store_securityprofile badtr = {"T", "", "SCTP", 0, 1};
	assert_int_equal(store_securityprofile_put(f->st, &badtr), STORE_CONSTRAINT);
	assert_non_null(strstr(store_last_error(), "transport 'SCTP'"));
	struct store_securityprofile badflag = {"F", "", "TCP", 2, 0};
	assert_int_equal(store_securityprofile_put(f->st, &badflag), STORE_CONSTRAINT);
	struct store_securityprofile noname = {"", "", "TCP", 0, 0};
	assert_int_equal(store_securityprofile_put(f->st, &noname), STORE_CONSTRAINT);
	assert_int_equal(store_securityprofile_transport_valid("TCP+UDP"), 1);
	assert_int_equal(store_securityprofile_transport_valid("tcp"), 0);
	assert_int_equal(store_securityprofile_transport_valid(""), 0);
	/* The schema refuses both on for writers that bypass the check. */
	struct store_val p[] = {SV_S("raw")};
	assert_int_equal(store_exec(f->st,
	                            "INSERT INTO securityprofile (name, enableoauthauthentication, "
	                            "enabledigestauthentication) VALUES ($1, 1, 1)",
	                            p, 1, NULL, NULL, NULL),
	                 STORE_CONSTRAINT);

	/* A profile a device names cannot be deleted. */
	struct store_device d;
	memset(&d, 0, sizeof d);
	snprintf(d.name, sizeof d.name, "SEP001122334455");
	snprintf(d.securityprofile, sizeof d.securityprofile, "Open");
	assert_int_equal(store_device_put(f->st, &d), STORE_OK);
	assert_int_equal(store_securityprofile_delete(f->st, "Open"), STORE_CONSTRAINT);
	assert_non_null(strstr(store_last_error(), "SEP001122334455"));
	assert_int_equal(store_securityprofile_get(f->st, "Open", &out), STORE_OK);
	d.securityprofile[0] = '\0';
	assert_int_equal(store_device_put(f->st, &d), STORE_OK);
	assert_int_equal(store_securityprofile_delete(f->st, "Open"), STORE_OK);
	assert_int_equal(store_securityprofile_delete(f->st, "Open"), STORE_NOTFOUND);
}

/* A store written by schema 7 whose devices name security profiles as free text, opened by
 * this telgated: schema 8 makes each distinct name a profile (digest on, OAuth off,
 * TCP+UDP), so no device loses its reference, and creates an empty node table. */
static void test_migration_v7_to_v8(void **state)
{
	struct tu_store *f = *state;
	store_close(f->st);
	f->st = NULL;
	static const char *const rows[] = {
	    "INSERT INTO device (name, securityprofile) VALUES "
	    "('SEPA', 'Cisco 8865 - Standard SIP Non-Secure Profile'), "
	    "('SEPB', 'Cisco 8865 - Standard SIP Non-Secure Profile'), "
	    "('SEPC', 'Secure ''quoted'' profile'), ('SEPD', '')",
	};
	tu_store_write_old(f->path, 7, rows, 1);

	tu_store_open(f, 0);
	int v = 0;
	assert_int_equal(store_schema_version(f->st, &v), STORE_OK);
	assert_int_equal(v, store_schema_latest());
	assert_true(v >= 8);
	struct names l = {"", 0, 0};
	assert_int_equal(store_securityprofiles(f->st, profile_name, &l), STORE_OK);
	assert_string_equal(l.got, "Cisco 8865 - Standard SIP Non-Secure Profile+digest;"
	                           "Secure 'quoted' profile+digest;");
	struct store_securityprofile sp;
	assert_int_equal(store_securityprofile_get(f->st, "Secure 'quoted' profile", &sp),
	                 STORE_OK);
	assert_string_equal(sp.transport, "TCP+UDP");
	assert_int_equal(sp.enableoauthauthentication, 0);
	assert_int_equal(sp.enabledigestauthentication, 1);
	/* Every device still names its profile, which now exists. */
	struct store_device d;
	assert_int_equal(store_device_get(f->st, "SEPB", &d), STORE_OK);
	assert_string_equal(d.securityprofile, "Cisco 8865 - Standard SIP Non-Secure Profile");
	assert_int_equal(store_securityprofile_get(f->st, d.securityprofile, &sp), STORE_OK);
	assert_int_equal(store_device_get(f->st, "SEPD", &d), STORE_OK);
	assert_string_equal(d.securityprofile, "");
	/* The node table exists and is empty until a node registers. */
	struct names nodes = {"", 0, 0};
	assert_int_equal(store_processnodes(f->st, node_name, &nodes), STORE_OK);
	assert_int_equal(nodes.calls, 0);
	char ierr[256];
	assert_int_equal(store_integrity_check(f->st, ierr, sizeof ierr), 0);
	/* Opening again does not run the migration twice. */
	store_close(f->st);
	tu_store_open(f, 0);
	l = (struct names){"", 0, 0};
	assert_int_equal(store_securityprofiles(f->st, profile_name, &l), STORE_OK);
	assert_int_equal(l.calls, 2);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_processnode, tu_store_setup, tu_store_teardown),
	    cmocka_unit_test_setup_teardown(test_processnode_ports, tu_store_setup,
	                                    tu_store_teardown),
	    cmocka_unit_test_setup_teardown(test_generations, tu_store_setup, tu_store_teardown),
	    cmocka_unit_test_setup_teardown(test_securityprofile, tu_store_setup,
	                                    tu_store_teardown),
	    cmocka_unit_test_setup_teardown(test_migration_v7_to_v8, tu_store_setup,
	                                    tu_store_teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
