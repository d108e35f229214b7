/* SPDX-License-Identifier: ISC */
#define _GNU_SOURCE /* memmem */
#include "dir/passwd.h"
#include "provision/import.h"
#include "sip/digest.h"
#include "store/store.h"

#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>
#include <cmocka.h>

#include "testutil.h"

/* Cheap argon2id for tests; the daemon's default is t=2, m=19 MiB. */
static const struct prov_options fast = {.pw = {.t = 1, .m_kib = 64}, .sip_realm = "example.net"};

struct fx {
	char dir[64], path[128];
	store_t *st;
};

static void open_store(struct fx *f)
{
	struct store_options o = {.backend = "sqlite", .path = f->path, .busy_timeout_ms = 5000};
	char err[256];
	if (store_open(&o, &f->st, err, sizeof err) != STORE_OK)
		fail_msg("open: %s", err);
}

static int setup(void **state)
{
	struct fx *f = calloc(1, sizeof *f);
	tu_mkdtemp(f->dir, sizeof f->dir, "tgim");
	snprintf(f->path, sizeof f->path, "%s/t.db", f->dir);
	assert_int_equal(dir_passwd_init(), 0);
	open_store(f);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fx *f = *state;
	store_close(f->st);
	tu_rmtree(f->dir);
	free(f);
	return 0;
}

static char *slurp(const char *path, size_t *len)
{
	FILE *fp = fopen(path, "rb");
	assert_non_null(fp);
	fseek(fp, 0, SEEK_END);
	long n = ftell(fp);
	fseek(fp, 0, SEEK_SET);
	char *b = malloc((size_t)n + 1);
	assert_int_equal(fread(b, 1, (size_t)n, fp), (size_t)n);
	b[n] = '\0';
	fclose(fp);
	*len = (size_t)n;
	return b;
}

static int import(struct fx *f, const char *text, struct prov_result *r, char *err, size_t n)
{
	return prov_import(f->st, text, strlen(text), &fast, r, err, n);
}

static void test_demo_file(void **state)
{
	struct fx *f = *state;
	size_t len;
	char *text = slurp(EXAMPLES_DIR "/demo.json", &len);
	struct prov_result r;
	char err[512];
	if (prov_import(f->st, text, len, &fast, &r, err, sizeof err) != 0)
		fail_msg("demo import: %s", err);
	assert_int_equal(r.users, 3);
	assert_int_equal(r.devices, 2);
	assert_int_equal(r.associations, 3);
	assert_int_equal(r.parameters, 1);
	assert_int_equal(r.securityprofiles, 2);
	struct store_user u;
	assert_int_equal(store_user_get(f->st, "jpinkman", &u), STORE_OK);
	assert_true(dir_passwd_is_hash(u.passwordhash));
	assert_true(dir_passwd_verify(u.passwordhash, "demo-Password-1", 15));
	assert_false(dir_passwd_verify(u.passwordhash, "demo-Password-2", 15));
	assert_string_equal(u.credentialpolicy, "Demo Policy");
	assert_int_equal(store_user_get(f->st, "wwhite", &u), STORE_OK);
	assert_int_equal(u.directory, STORE_DIR_LDAP);
	assert_string_equal(u.passwordhash, "");
	struct store_device d;
	assert_int_equal(store_device_get(f->st, "SEP001794625DE5", &d), STORE_OK);
	assert_string_equal(d.mac, "001794625DE5"); /* derived from the SEP name */
	/* The same file again changes nothing (upsert). */
	assert_int_equal(prov_import(f->st, text, len, &fast, &r, err, sizeof err), 0);
	struct store_counts c;
	assert_int_equal(store_counts(f->st, &c), STORE_OK);
	assert_int_equal(c.users, 3);
	assert_int_equal(c.associations, 3);
	free(text);
	/* No plain-text password anywhere in the database files. */
	store_close(f->st);
	char p[160];
	const char *files[] = {"", "-wal"};
	for (int i = 0; i < 2; i++) {
		snprintf(p, sizeof p, "%s%s", f->path, files[i]);
		if (access(p, F_OK) != 0)
			continue;
		char *db = slurp(p, &len);
		assert_null(memmem(db, len, "demo-Password-1", 15));
		free(db);
	}
	open_store(f);
}

struct bad {
	const char *doc, *want;
};

static void test_bad_documents_change_nothing(void **state)
{
	struct fx *f = *state;
	char err[512];
	struct prov_result r;
	assert_int_equal(
	    import(f, "{\"version\":1,\"users\":[{\"userid\":\"keep\",\"firstname\":\"Old\"}]}", &r,
	           err, sizeof err),
	    0);
	static const struct bad cases[] = {
	    {"{\"version\":1,", "$: invalid JSON at line 1"},
	    {"[]", "$: must be a JSON object"},
	    {"{}", "$.version: required"},
	    {"{\"version\":2}", "$.version"},
	    {"{\"version\":1,\"bogus\":[]}", "$.bogus: unknown member"},
	    {"{\"version\":1,\"users\":{}}", "$.users: must be an array"},
	    {"{\"version\":1,\"users\":[5]}", "$.users[0]: must be an object"},
	    {"{\"version\":1,\"users\":[{}]}", "$.users[0].userid: required"},
	    {"{\"version\":1,\"users\":[{\"userid\":\"\"}]}",
	     "$.users[0].userid: must not be empty"},
	    {"{\"version\":1,\"users\":[{\"userid\":\"a\\nb\"}]}",
	     "$.users[0].userid: must not contain"},
	    {"{\"version\":1,\"users\":[{\"userid\":\" a\"}]}", "$.users[0].userid"},
	    {"{\"version\":1,\"users\":[{\"userid\":\"keep\",\"firstname\":\"New\"},"
	     "{\"userid\":\"keep\"}]}",
	     "$.users[1]: duplicate of $.users[0]"},
	    /* Duplicate members are named by path: top level, in an array element, deeper
	     * (strings holding brackets and quotes must not confuse the path), and equal
	     * only once decoded. */
	    {"{\"version\":1,\"version\":1}", "$.version: duplicate member (line 1"},
	    {"{\"version\":1,\"users\":[{\"userid\":\"keep\",\"userid\":\"b\"}]}",
	     "$.users[0].userid: duplicate member"},
	    {"{\"version\":1,\"users\":[{\"userid\":\"a],{\\\"\"},\n"
	     "  {\"userid\":\"b\",\"x\":{\"y\":[1,{\"k\":[],\"k\":2}]}}]}",
	     "$.users[1].x.y[1].k: duplicate member (line 2"},
	    {"{\"version\":1,\"groups\":[{\"name\":\"g\",\"n\\u0061me\":\"h\"}]}",
	     "$.groups[0].name: duplicate member"},
	    {"{\"version\":1,\"users\":[{\"userid\":\"keep\",\"firstname\":\"New\",\"x\":1}]}",
	     "$.users[0].x: unknown member"},
	    {"{\"version\":1,\"users\":[{\"userid\":\"keep\",\"firstname\":\"New\","
	     "\"groups\":[\"Standard CTI Enabled\",\"Nope\"]}]}",
	     "$.users[0].groups[1]: group 'Nope' does not exist"},
	    {"{\"version\":1,\"users\":[{\"userid\":\"keep\",\"firstname\":\"New\","
	     "\"directory\":\"ldap\",\"password\":\"TopSecret99\"}]}",
	     "$.users[0].password: a directory (ldap) user has no local password"},
	    {"{\"version\":1,\"users\":[{\"userid\":\"keep\",\"firstname\":\"New\","
	     "\"password\":\"Short1\"}]}",
	     "$.users[0]: password is shorter than the 8 characters"},
	    {"{\"version\":1,\"users\":[{\"userid\":\"keep\",\"password\":5}]}",
	     "$.users[0].password: must be a string"},
	    {"{\"version\":1,\"users\":[{\"userid\":\"keep\",\"passwordhash\":\"md5$abc\"}]}",
	     "$.users[0].passwordhash: must be an argon2id"},
	    {"{\"version\":1,\"users\":[{\"userid\":\"keep\",\"credentialpolicy\":\"Nope\"}]}",
	     "$.users[0]: credential policy 'Nope' does not exist"},
	    {"{\"version\":1,\"users\":[{\"userid\":\"keep\",\"directory\":\"ad\"}]}",
	     "$.users[0].directory"},
	    {"{\"version\":1,\"users\":[{\"userid\":\"keep\",\"mustchange\":\"yes\"}]}",
	     "$.users[0].mustchange: must be true or false"},
	    {"{\"version\":1,\"devices\":[{\"name\":\"SEP1\",\"owner\":\"ghost\"}]}",
	     "$.devices[0]: owner 'ghost' is not a user"},
	    {"{\"version\":1,\"devices\":[{\"name\":\"SEP 1\"}]}", "$.devices[0].name"},
	    {"{\"version\":1,\"devices\":[{\"name\":\"SEP1\",\"mac\":\"00179462\"}]}",
	     "$.devices[0].mac: must be 12 hexadecimal digits"},
	    {"{\"version\":1,\"devices\":[{\"name\":\"SEP1\",\"protocol\":\"H323\"}]}",
	     "$.devices[0].protocol"},
	    {"{\"version\":1,\"parameters\":[{\"name\":\"NoSuchParam\",\"value\":\"1\"}]}",
	     "$.parameters[0]: unknown parameter 'NoSuchParam'"},
	    {"{\"version\":1,\"parameters\":[{\"name\":\"ClusterSIPOAuthMode\",\"value\":\"2\"}]}",
	     "$.parameters[0].value: ClusterSIPOAuthMode: '2' is not one of 0|1"},
	    {"{\"version\":1,\"credentialpolicies\":[{\"name\":\"P\",\"lockoutduration\":-1}]}",
	     "$.credentialpolicies[0].lockoutduration: -1 is out of range"},
	    /* Atomicity: the users are valid, the association at the end is not. */
	    {"{\"version\":1,\"users\":[{\"userid\":\"keep\",\"firstname\":\"New\"},"
	     "{\"userid\":\"added\"}],\"associations\":[{\"user\":\"added\",\"device\":\"SEPX\"}]}",
	     "$.associations[0]: device 'SEPX' does not exist"},
	};
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		int rc = import(f, cases[i].doc, &r, err, sizeof err);
		if (rc == 0 || strncmp(err, cases[i].want, strlen(cases[i].want)) != 0)
			fail_msg("case %zu: rc=%d err='%s' want '%s'", i, rc, err, cases[i].want);
		assert_null(strstr(err, "TopSecret99"));
		assert_null(strstr(err, "Short1"));
		struct store_user u;
		assert_int_equal(store_user_get(f->st, "keep", &u), STORE_OK);
		assert_string_equal(u.firstname, "Old");
		assert_int_equal(store_user_get(f->st, "added", &u), STORE_NOTFOUND);
		struct store_counts c;
		assert_int_equal(store_counts(f->st, &c), STORE_OK);
		assert_int_equal(c.users, 1);
		assert_int_equal(c.devices, 0);
	}
}

static void test_hostile_shapes(void **state)
{
	struct fx *f = *state;
	char err[512];
	struct prov_result r;
	/* Deep nesting, a huge string, and a document over the size limit. */
	size_t n = 100000;
	char *deep = malloc(2 * n + 64);
	size_t k = (size_t)snprintf(deep, 64, "{\"version\":1,\"users\":");
	memset(deep + k, '[', n);
	memset(deep + k + n, ']', n);
	memcpy(deep + k + 2 * n, "}", 2);
	assert_int_equal(import(f, deep, &r, err, sizeof err), -1);
	assert_non_null(strstr(err, "$: invalid JSON"));
	free(deep);
	char *big = malloc(300000);
	k = (size_t)snprintf(big, 64, "{\"version\":1,\"users\":[{\"userid\":\"");
	memset(big + k, 'a', 200000);
	memcpy(big + k + 200000, "\"}]}", 5);
	assert_int_equal(import(f, big, &r, err, sizeof err), -1);
	assert_non_null(strstr(err, "$.users[0].userid: longer than 128 bytes"));
	free(big);
	assert_int_equal(prov_import(f->st, "{}", PROV_IMPORT_MAX + 1, &fast, &r, err, sizeof err),
	                 -1);
	assert_non_null(strstr(err, "larger than"));
	/* Non-ASCII and LDAP-special characters are legal in user ids. */
	assert_int_equal(import(f,
	                        "{\"version\":1,\"users\":[{\"userid\":\"jos\xc3\xa9*()\\\\\","
	                        "\"directory\":\"ldap\"}]}",
	                        &r, err, sizeof err),
	                 0);
	struct store_user u;
	assert_int_equal(store_user_get(f->st, "jos\xc3\xa9*()\\", &u), STORE_OK);
}

/* The seed's "AuthType certificate": set by the member, kept when absent, refused when
 * it is neither password nor certificate (and nothing is imported then). */
static void test_ctiauthtype(void **state)
{
	struct fx *f = *state;
	char err[512];
	struct prov_result r;
	assert_int_equal(import(f,
	                        "{\"version\":1,\"users\":[{\"userid\":\"app1\",\"password\":"
	                        "\"App-Pass-12345\",\"ctiauthtype\":\"certificate\"}]}",
	                        &r, err, sizeof err),
	                 0);
	struct store_user u;
	assert_int_equal(store_user_get(f->st, "app1", &u), STORE_OK);
	assert_int_equal(u.ctiauthtype, STORE_CTIAUTH_CERTIFICATE);
	assert_int_equal(
	    import(f, "{\"version\":1,\"users\":[{\"userid\":\"app1\"}]}", &r, err, sizeof err), 0);
	assert_int_equal(store_user_get(f->st, "app1", &u), STORE_OK);
	assert_int_equal(u.ctiauthtype, STORE_CTIAUTH_CERTIFICATE);
	assert_int_equal(import(f,
	                        "{\"version\":1,\"users\":[{\"userid\":\"app2\","
	                        "\"ctiauthtype\":\"kerberos\"}]}",
	                        &r, err, sizeof err),
	                 -1);
	assert_non_null(
	    strstr(err, "$.users[0].ctiauthtype: must be \"password\" or \"certificate\""));
	assert_int_equal(store_user_get(f->st, "app2", &u), STORE_NOTFOUND);
}

static int count_profiles(void *ud, const struct store_securityprofile *p)
{
	(void)p;
	++*(int *)ud;
	return 0;
}

/* Device security profiles (seed 002): both OAuth and digest refused, devices must name
 * an existing profile, an element changes only the members it gives. */
static void test_security_profiles(void **state)
{
	struct fx *f = *state;
	char err[512];
	struct prov_result r;
	assert_int_equal(
	    import(f,
	           "{\"version\":1,\"securityprofiles\":[{\"name\":\"Universal Device "
	           "Template - OAuth\",\"description\":\"tokens\",\"transport\":\"TLS\","
	           "\"enableoauthauthentication\":true,"
	           "\"enabledigestauthentication\":false},{\"name\":\"Digest\","
	           "\"enabledigestauthentication\":true}],\"devices\":[{\"name\":"
	           "\"CSFA\",\"securityprofile\":\"Universal Device Template - OAuth\"}]}",
	           &r, err, sizeof err),
	    0);
	assert_int_equal(r.securityprofiles, 2);
	assert_int_equal(r.devices, 1);
	struct store_securityprofile sp;
	assert_int_equal(store_securityprofile_get(f->st, "Universal Device Template - OAuth", &sp),
	                 STORE_OK);
	assert_string_equal(sp.transport, "TLS");
	assert_string_equal(sp.description, "tokens");
	assert_int_equal(sp.enableoauthauthentication, 1);
	assert_int_equal(sp.enabledigestauthentication, 0);
	assert_int_equal(store_securityprofile_get(f->st, "Digest", &sp), STORE_OK);
	assert_string_equal(sp.transport, "TCP+UDP"); /* the default */
	assert_int_equal(sp.enabledigestauthentication, 1);
	/* A later document may name a stored profile, and change a profile in part. */
	assert_int_equal(import(f,
	                        "{\"version\":1,\"securityprofiles\":[{\"name\":\"Digest\","
	                        "\"transport\":\"TCP\"}],\"devices\":[{\"name\":\"SEPB\","
	                        "\"securityprofile\":\"Digest\"}]}",
	                        &r, err, sizeof err),
	                 0);
	assert_int_equal(store_securityprofile_get(f->st, "Digest", &sp), STORE_OK);
	assert_string_equal(sp.transport, "TCP");
	assert_int_equal(sp.enabledigestauthentication, 1);

	static const struct bad cases[] = {
	    {"{\"version\":1,\"securityprofiles\":[{\"name\":\"Both\","
	     "\"enableoauthauthentication\":true,\"enabledigestauthentication\":true}]}",
	     "$.securityprofiles[0]: security profile 'Both': OAuth and digest authentication "
	     "cannot both be enabled (with SIP OAuth on, digest is not offered)"},
	    /* On the stored profile: OAuth turned on while digest stays on. */
	    {"{\"version\":1,\"securityprofiles\":[{\"name\":\"Digest\","
	     "\"enableoauthauthentication\":true}]}",
	     "$.securityprofiles[0]: security profile 'Digest': OAuth and digest authentication "
	     "cannot both be enabled"},
	    {"{\"version\":1,\"devices\":[{\"name\":\"SEPC\",\"securityprofile\":\"Nope\"}]}",
	     "$.devices[0].securityprofile: security profile 'Nope' does not exist"},
	    {"{\"version\":1,\"securityprofiles\":[{\"name\":\"T\",\"transport\":\"SCTP\"}]}",
	     "$.securityprofiles[0].transport: must be \"TCP+UDP\", \"TCP\", \"UDP\" or \"TLS\""},
	    {"{\"version\":1,\"securityprofiles\":[{\"name\":\"T\",\"transport\":\"tls\"}]}",
	     "$.securityprofiles[0].transport: must be"},
	    {"{\"version\":1,\"securityprofiles\":[{\"name\":\"T\",\"transport\":"
	     "\"TCP+UDP+TLS\"}]}",
	     "$.securityprofiles[0].transport: longer than 7 bytes"},
	    {"{\"version\":1,\"securityprofiles\":[{\"name\":\"T\","
	     "\"enableoauthauthentication\":1}]}",
	     "$.securityprofiles[0].enableoauthauthentication: must be true or false"},
	    {"{\"version\":1,\"securityprofiles\":[{\"name\":\"T\","
	     "\"enabledigestauthentication\":\"true\"}]}",
	     "$.securityprofiles[0].enabledigestauthentication: must be true or false"},
	    {"{\"version\":1,\"securityprofiles\":[{\"name\":\"T\",\"oauth\":true}]}",
	     "$.securityprofiles[0].oauth: unknown member"},
	    {"{\"version\":1,\"securityprofiles\":[{}]}", "$.securityprofiles[0].name: required"},
	    {"{\"version\":1,\"securityprofiles\":[{\"name\":\"\"}]}",
	     "$.securityprofiles[0].name: must not be empty"},
	    {"{\"version\":1,\"securityprofiles\":[{\"name\":\"a\\u0000b\"}]}",
	     "$: invalid JSON at line 1"}, /* jansson refuses \u0000 itself */
	    {"{\"version\":1,\"securityprofiles\":[{\"name\":\"a\\tb\"}]}",
	     "$.securityprofiles[0].name: must not contain control characters"},
	    {"{\"version\":1,\"securityprofiles\":[{\"name\":\"T\"},{\"name\":\"T\"}]}",
	     "$.securityprofiles[1]: duplicate of $.securityprofiles[0]"},
	    {"{\"version\":1,\"securityprofiles\":{}}", "$.securityprofiles: must be an array"},
	    {"{\"version\":1,\"securityprofiles\":[\"T\"]}",
	     "$.securityprofiles[0]: must be an object"},
	};
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		int rc = import(f, cases[i].doc, &r, err, sizeof err);
		if (rc == 0 || strncmp(err, cases[i].want, strlen(cases[i].want)) != 0)
			fail_msg("case %zu: rc=%d err='%s' want '%s'", i, rc, err, cases[i].want);
		int n = 0;
		assert_int_equal(store_securityprofiles(f->st, count_profiles, &n), STORE_OK);
		assert_int_equal(n, 2);
		assert_int_equal(store_securityprofile_get(f->st, "Digest", &sp), STORE_OK);
		assert_int_equal(sp.enableoauthauthentication, 0);
		struct store_device d;
		assert_int_equal(store_device_get(f->st, "SEPC", &d), STORE_NOTFOUND);
	}
	/* A name over the field's 128 bytes. */
	char doc[512];
	snprintf(doc, sizeof doc, "{\"version\":1,\"securityprofiles\":[{\"name\":\"%0129d\"}]}",
	         0);
	assert_int_equal(import(f, doc, &r, err, sizeof err), -1);
	assert_non_null(strstr(err, "$.securityprofiles[0].name: longer than 128 bytes"));
}

static int count_rows(void *ud, int ncols, const char *const *names, const char *const *vals)
{
	(void)names;
	int *nulls = ud;
	for (int i = 0; i < ncols; i++)
		*nulls += vals[i] == NULL;
	return 0;
}

/* Appends each device's name and a space to the char[64] at ud. */
static int cat_device(void *ud, const struct store_device *d)
{
	char *s = ud;
	size_t n = strlen(s);
	snprintf(s + n, 64 - n, "%s ", d->name);
	return 0;
}

static void test_sip_credentials_and_lines(void **state)
{
	struct fx *f = *state;
	struct prov_result r;
	char err[512];
	assert_int_equal(
	    import(
	        f,
	        "{\"version\":1,\"users\":[{\"userid\":\"mjavier\",\"password\":\"Local-Pass-1\","
	        "\"digestpassword\":\"Sip-Secret-1\"}],\"devices\":[{\"name\":\"SEP001122334455\","
	        "\"owner\":\"mjavier\",\"digestuser\":\"mjavier\",\"lines\":[\"1001\",\"+4930123\"]"
	        "}]}",
	        &r, err, sizeof err),
	    0);
	struct store_sipcred sc;
	assert_int_equal(store_sipcred_get(f->st, "mjavier", &sc), STORE_OK);
	char want[SIP_DIGEST_HEX_MAX];
	sip_digest_ha1(SIP_DIGEST_MD5, "mjavier", "example.net", "Sip-Secret-1", 12, want);
	assert_string_equal(sc.ha1_md5, want);
	sip_digest_ha1(SIP_DIGEST_SHA256, "mjavier", "example.net", "Sip-Secret-1", 12, want);
	assert_string_equal(sc.ha1_sha256, want);
	assert_string_equal(sc.realm, "example.net");
	struct store_device d;
	assert_int_equal(store_device_by_line(f->st, "+4930123", &d), STORE_OK);
	assert_string_equal(d.name, "SEP001122334455");
	assert_string_equal(d.digestuser, "mjavier");
	assert_int_equal(store_device_by_line(f->st, "1002", &d), STORE_NOTFOUND);
	/* Ad-hoc SQL never shows the HA1s. */
	int nulls = 0, trunc = 0;
	assert_int_equal(store_query_readonly(f->st,
	                                      "select ha1md5, ha1sha256, realm from "
	                                      "sipcredential",
	                                      10, 1000, count_rows, &nulls, &trunc, err,
	                                      sizeof err),
	                 STORE_REFUSED);
	assert_non_null(strstr(err, "sipcredential.ha1md5 is a secret column"));
	/* Through *, both read as NULL (the only NULLs of the row). */
	assert_int_equal(store_query_readonly(f->st, "select * from sipcredential", 10, 1000,
	                                      count_rows, &nulls, &trunc, err, sizeof err),
	                 STORE_OK);
	assert_int_equal(nulls, 2);
	/* Refusals name the element and change nothing. */
	static const struct {
		const char *doc, *msg;
	} bad[] = {
	    /* Shared lines are allowed (schema v14), a line twice on one device is not. */
	    {"{\"version\":1,\"devices\":[{\"name\":\"A\",\"lines\":[\"1\"]},{\"name\":\"B\","
	     "\"lines\":[\"2\",\"1\",\"2\"]}]}",
	     "$.devices[1].lines[2]: line '2' is also $.devices[1].lines[0]"},
	    {"{\"version\":1,\"devices\":[{\"name\":\"A\",\"lines\":[\"10 01\"]}]}",
	     "$.devices[0].lines[0]: must be"},
	    {"{\"version\":1,\"devices\":[{\"name\":\"A\",\"lines\":\"1001\"}]}",
	     "$.devices[0].lines"},
	    {"{\"version\":1,\"devices\":[{\"name\":\"A\",\"digestuser\":\"ghost\"}]}",
	     "digestuser 'ghost' is not a user"},
	    {"{\"version\":1,\"users\":[{\"userid\":\"x\",\"digestpassword\":7}]}",
	     "$.users[0].digestpassword: must be a string"},
	};
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		if (import(f, bad[i].doc, &r, err, sizeof err) != -1 || !strstr(err, bad[i].msg))
			fail_msg("case %zu: got '%s'", i, err);
		assert_null(strstr(err, "Sip-Secret"));
	}
	assert_int_equal(store_device_get(f->st, "OTHER", &d), STORE_NOTFOUND);
	assert_int_equal(store_device_by_line(f->st, "1001", &d), STORE_OK);
	assert_string_equal(d.name, "SEP001122334455");
	/* A second device on 1001 (a shared line, schema v14): accepted; the line is now on
	 * both, and the one-device look-up says so instead of picking one. */
	assert_int_equal(import(f,
	                        "{\"version\":1,\"devices\":[{\"name\":\"OTHER\",\"lines\":["
	                        "\"1001\"]}]}",
	                        &r, err, sizeof err),
	                 0);
	assert_int_equal(store_device_by_line(f->st, "1001", &d), STORE_CONSTRAINT);
	char names[64] = "";
	assert_int_equal(store_line_devices(f->st, "1001", cat_device, names), STORE_OK);
	assert_string_equal(names, "OTHER SEP001122334455 ");
	assert_int_equal(store_device_by_line(f->st, "+4930123", &d), STORE_OK);
	assert_string_equal(d.name, "SEP001122334455");
}

/* Credential policies and state per credential type (issue 13): a re-imported policy
 * changes only the members given; a re-imported user keeps the password not given, the
 * digest credential's own policy is set and checked, and counters survive. */
static void test_credential_policies_per_type(void **state)
{
	struct fx *f = *state;
	struct prov_result r;
	char err[512];
	assert_int_equal(import(f,
	                        "{\"version\":1,\"credentialpolicies\":[{\"name\":\"Phones\","
	                        "\"failedlogonthreshold\":50,\"throttleafterfailures\":4,"
	                        "\"throttlemaxseconds\":30}],\"users\":[{\"userid\":\"alice\","
	                        "\"firstname\":\"Alice\",\"password\":\"Alice-Pass-1\","
	                        "\"digestpassword\":\"Sip-1\",\"digestcredentialpolicy\":"
	                        "\"Phones\"}]}",
	                        &r, err, sizeof err),
	                 0);
	struct store_user u;
	assert_int_equal(store_user_get(f->st, "alice", &u), STORE_OK);
	char hash[sizeof u.passwordhash];
	snprintf(hash, sizeof hash, "%s", u.passwordhash);
	assert_true(hash[0] != '\0');
	struct store_credstate cs;
	struct store_credpolicy pol;
	assert_int_equal(store_credstate_get(f->st, "alice", STORE_CRED_DIGEST, &cs), STORE_OK);
	assert_string_equal(cs.credentialpolicy, "Phones");
	assert_int_equal(store_credpolicy_effective(f->st, &u, STORE_CRED_DIGEST, &cs, &pol),
	                 STORE_OK);
	assert_int_equal(pol.throttleafterfailures, 4);
	assert_int_equal(pol.throttlemaxseconds, 30);
	assert_int_equal(pol.failedlogonthreshold, 50);
	/* A counter, to see it survive. */
	cs.hackcount = 3;
	assert_int_equal(store_credstate_put(f->st, "alice", STORE_CRED_DIGEST, &cs), STORE_OK);
	/* Only some members, of the policy and of the user. */
	assert_int_equal(import(f,
	                        "{\"version\":1,\"credentialpolicies\":[{\"name\":\"Phones\","
	                        "\"throttlemaxseconds\":60},{\"name\":\"Default Digest Credential "
	                        "Policy\",\"throttlemaxseconds\":600}],\"users\":[{\"userid\":"
	                        "\"alice\"}]}",
	                        &r, err, sizeof err),
	                 0);
	assert_int_equal(store_credpolicy_get(f->st, "Phones", &pol), STORE_OK);
	assert_int_equal(pol.throttlemaxseconds, 60);
	assert_int_equal(pol.throttleafterfailures, 4);
	assert_int_equal(pol.failedlogonthreshold, 50);
	assert_int_equal(store_credpolicy_default(f->st, STORE_CRED_DIGEST, &pol), STORE_OK);
	assert_int_equal(pol.throttlemaxseconds, 600);
	assert_int_equal(pol.failedlogonthreshold, 100); /* not the generic default 3 */
	assert_int_equal(pol.throttleafterfailures, 10);
	assert_int_equal(pol.adminmustunlock, 1);
	assert_int_equal(store_user_get(f->st, "alice", &u), STORE_OK);
	assert_string_equal(u.passwordhash, hash); /* the password stays */
	assert_int_equal(store_credstate_get(f->st, "alice", STORE_CRED_DIGEST, &cs), STORE_OK);
	assert_int_equal(cs.hackcount, 3);
	assert_string_equal(cs.credentialpolicy, ""); /* not given: the type's default */
	/* A new policy starts from the table's defaults; a missing digest policy refuses. */
	assert_int_equal(import(f,
	                        "{\"version\":1,\"credentialpolicies\":[{\"name\":\"Fresh\","
	                        "\"throttleafterfailures\":2}]}",
	                        &r, err, sizeof err),
	                 0);
	assert_int_equal(store_credpolicy_get(f->st, "Fresh", &pol), STORE_OK);
	assert_int_equal(pol.failedlogonthreshold, 3);
	assert_int_equal(pol.throttlemaxseconds, 300);
	assert_int_not_equal(import(f,
	                            "{\"version\":1,\"users\":[{\"userid\":\"alice\","
	                            "\"digestcredentialpolicy\":\"Nope\"}]}",
	                            &r, err, sizeof err),
	                     0);
	assert_non_null(strstr(err, "digest credential policy 'Nope' does not exist"));
	assert_int_not_equal(import(f,
	                            "{\"version\":1,\"credentialpolicies\":[{\"name\":\"X\","
	                            "\"throttlemaxseconds\":0}]}",
	                            &r, err, sizeof err),
	                     0);
}

static int kill_after(void *ud, const char *path)
{
	(void)path;
	int *left = ud;
	if (--*left == 0)
		kill(getpid(), SIGKILL);
	return 0;
}

static void test_sigkill_mid_import(void **state)
{
	struct fx *f = *state;
	char err[512];
	struct prov_result r;
	assert_int_equal(
	    import(f, "{\"version\":1,\"users\":[{\"userid\":\"before\"}]}", &r, err, sizeof err),
	    0);
	/* A large document: 500 users and 500 devices. */
	size_t cap = 200000, len = 0;
	char *doc = malloc(cap);
	len += (size_t)snprintf(doc + len, cap - len, "{\"version\":1,\"users\":[");
	for (int i = 0; i < 500; i++)
		len += (size_t)snprintf(doc + len, cap - len, "%s{\"userid\":\"bulk%d\"}",
		                        i ? "," : "", i);
	len += (size_t)snprintf(doc + len, cap - len, "],\"devices\":[");
	for (int i = 0; i < 500; i++)
		len += (size_t)snprintf(doc + len, cap - len,
		                        "%s{\"name\":\"SEPBULK%d\",\"owner\":\"bulk%d\"}",
		                        i ? "," : "", i, i);
	snprintf(doc + len, cap - len, "]}");
	store_close(f->st);
	f->st = NULL;
	pid_t pid = fork();
	if (pid == 0) {
		struct fx child = *f;
		open_store(&child);
		int left = 700; /* past all users, in the middle of the devices */
		struct prov_options o = fast;
		o.progress = kill_after;
		o.ud = &left;
		prov_import(child.st, doc, strlen(doc), &o, &r, err, sizeof err);
		_exit(3); /* not reached: the import is killed first */
	}
	int status;
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFSIGNALED(status));
	assert_int_equal(WTERMSIG(status), SIGKILL);
	open_store(f);
	assert_int_equal(store_integrity_check(f->st, err, sizeof err), STORE_OK);
	struct store_counts c;
	assert_int_equal(store_counts(f->st, &c), STORE_OK);
	assert_int_equal(c.users, 1);
	assert_int_equal(c.devices, 0);
	struct store_user u;
	assert_int_equal(store_user_get(f->st, "before", &u), STORE_OK);
	assert_int_equal(store_user_get(f->st, "bulk0", &u), STORE_NOTFOUND);
	/* And the store still takes the whole import afterwards. */
	assert_int_equal(import(f, doc, &r, err, sizeof err), 0);
	assert_int_equal(r.devices, 500);
	free(doc);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_demo_file, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_bad_documents_change_nothing, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_hostile_shapes, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_sip_credentials_and_lines, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_credential_policies_per_type, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_sigkill_mid_import, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_security_profiles, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_ctiauthtype, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
