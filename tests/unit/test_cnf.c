/* SPDX-License-Identifier: ISC */
/* cnf: the generator's values, escaping and well-formedness (parsed back with libxml2 and
 * checked by XPath), the SIP OAuth mode matrix, hostile store values. */
#include "provision/cnf.h"

#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include <libxml/parser.h>
#include <libxml/xpath.h>

static void node(struct cnf_node *n, const char *name, const char *addr)
{
	memset(n, 0, sizeof *n);
	snprintf(n->name, sizeof n->name, "%s", name);
	snprintf(n->address, sizeof n->address, "%s", addr);
	n->sip_port = 5060, n->secured_sip_port = 5061;
	n->sip_oauth_port = 5090, n->sip_mra_oauth_port = 5091;
	n->cti_port = 2748, n->cti_tls_port = 2749;
}

/* A CSF device with two lines on two nodes. */
static void sample(struct cnf_device_input *in)
{
	memset(in, 0, sizeof *in);
	snprintf(in->name, sizeof in->name, "%s", "CSFjdoe");
	snprintf(in->model, sizeof in->model, "%s", "Cisco Unified Client Services Framework");
	snprintf(in->protocol, sizeof in->protocol, "%s", "SIP");
	snprintf(in->description, sizeof in->description, "%s", "Jane's softphone");
	snprintf(in->security_profile, sizeof in->security_profile, "%s", "CSF OAuth");
	snprintf(in->transport, sizeof in->transport, "%s", "TLS");
	in->profile_oauth = 1;
	in->cluster_sip_oauth_mode = 1;
	snprintf(in->lines[0].name, sizeof in->lines[0].name, "%s", "1001");
	snprintf(in->lines[0].display_name, sizeof in->lines[0].display_name, "%s", "Jane Doe");
	snprintf(in->lines[1].name, sizeof in->lines[1].name, "%s", "1002");
	in->nlines = 2;
	node(&in->nodes[0], "cm1", "10.0.0.1");
	snprintf(in->nodes[0].description, sizeof in->nodes[0].description, "%s", "publisher");
	node(&in->nodes[1], "cm2", "cm2.example.net");
	in->nodes[1].sip_oauth_port = 6090;
	in->nnodes = 2;
	snprintf(in->itl_file, sizeof in->itl_file, "%s", "ITLFile.tlv");
	snprintf(in->ctl_file, sizeof in->ctl_file, "%s", "CTLFile.tlv");
}

/* Parses the bytes strictly (no recovery, no network, no entities) or fails the test. */
static xmlDocPtr parse(const unsigned char *b, size_t n)
{
	xmlDocPtr d = xmlReadMemory((const char *)b, (int)n, "cnf.xml", NULL,
	                            XML_PARSE_NONET | XML_PARSE_NOERROR | XML_PARSE_NOWARNING);
	if (!d)
		fail_msg("not well-formed:\n%.*s", (int)n, (const char *)b);
	return d;
}

/* The string value of an XPath expression (string(...)); caller frees. */
static char *xp(xmlDocPtr d, const char *expr)
{
	xmlXPathContextPtr c = xmlXPathNewContext(d);
	assert_non_null(c);
	char q[512];
	snprintf(q, sizeof q, "string(%s)", expr);
	xmlXPathObjectPtr o = xmlXPathEvalExpression(BAD_CAST q, c);
	assert_non_null(o);
	char *s = strdup((const char *)o->stringval);
	xmlXPathFreeObject(o);
	xmlXPathFreeContext(c);
	return s;
}

static void assert_xp(xmlDocPtr d, const char *expr, const char *want)
{
	char *got = xp(d, expr);
	if (strcmp(got, want) != 0)
		fail_msg("%s = '%s', want '%s'", expr, got, want);
	free(got);
}

static xmlDocPtr gen(const struct cnf_device_input *in)
{
	unsigned char *b = NULL;
	size_t n = 0;
	assert_int_equal(cnf_generate(in, &b, &n), 0);
	xmlDocPtr d = parse(b, n);
	free(b);
	return d;
}

static void test_values(void **state)
{
	(void)state;
	struct cnf_device_input in;
	sample(&in);
	xmlDocPtr d = gen(&in);
	assert_xp(d, "/device/deviceProtocol", "SIP");
	assert_xp(d, "count(/device/devicePool/callManagerGroup/members/member)", "2");
	const char *m0 = "/device/devicePool/callManagerGroup/members/member[@priority='0']"
	                 "/callManager";
	const char *m1 = "/device/devicePool/callManagerGroup/members/member[@priority='1']"
	                 "/callManager";
	char q[300];
	snprintf(q, sizeof q, "%s/name", m0);
	assert_xp(d, q, "cm1");
	snprintf(q, sizeof q, "%s/description", m0);
	assert_xp(d, q, "publisher");
	snprintf(q, sizeof q, "%s/processNodeName", m0);
	assert_xp(d, q, "10.0.0.1");
	snprintf(q, sizeof q, "%s/ports/sipPort", m0);
	assert_xp(d, q, "5060");
	snprintf(q, sizeof q, "%s/ports/securedSipPort", m0);
	assert_xp(d, q, "5061");
	snprintf(q, sizeof q, "%s/ports/sipOAuthPort", m0);
	assert_xp(d, q, "5090");
	snprintf(q, sizeof q, "%s/ports/sipMRAOAuthPort", m0);
	assert_xp(d, q, "5091");
	snprintf(q, sizeof q, "%s/ports/sipOAuthPort", m1);
	assert_xp(d, q, "6090");
	snprintf(q, sizeof q, "%s/processNodeName", m1);
	assert_xp(d, q, "cm2.example.net");
	snprintf(q, sizeof q, "count(%s/description)", m1);
	assert_xp(d, q, "0");
	/* No SCCP port: telgate has no SCCP listener. */
	assert_xp(d, "count(//ethernetPhonePort)", "0");

	assert_xp(d, "count(/device/sipProfile/sipLines/line)", "2");
	assert_xp(d, "/device/sipProfile/sipLines/line[@button='1']/featureID", "9");
	assert_xp(d, "/device/sipProfile/sipLines/line[@button='1']/name", "1001");
	assert_xp(d, "/device/sipProfile/sipLines/line[@button='1']/displayName", "Jane Doe");
	assert_xp(d, "/device/sipProfile/sipLines/line[@button='1']/featureLabel", "Jane Doe");
	assert_xp(d, "/device/sipProfile/sipLines/line[@button='1']/contact", "1001");
	assert_xp(d, "/device/sipProfile/sipLines/line[@button='1']/proxy", "USECALLMANAGER");
	assert_xp(d, "/device/sipProfile/sipLines/line[@button='2']/name", "1002");
	assert_xp(d, "/device/sipProfile/sipLines/line[@button='2']/displayName", "1002");

	assert_xp(d, "/device/sipOAuthMode", "1");
	assert_xp(d, "/device/telgate/deviceName", "CSFjdoe");
	assert_xp(d, "/device/telgate/model", "Cisco Unified Client Services Framework");
	assert_xp(d, "/device/telgate/description", "Jane's softphone");
	assert_xp(d, "/device/telgate/securityProfile/name", "CSF OAuth");
	assert_xp(d, "/device/telgate/securityProfile/transport", "TLS");
	assert_xp(d, "/device/telgate/securityProfile/enableOAuthAuthentication", "true");
	assert_xp(d, "/device/telgate/clusterSIPOAuthMode", "1");
	assert_xp(d, "/device/telgate/nodes/node[@name='cm1']/ctiPort", "2748");
	assert_xp(d, "/device/telgate/nodes/node[@name='cm2']/ctiTlsPort", "2749");
	assert_xp(d, "/device/telgate/trustList/itlFile", "ITLFile.tlv");
	assert_xp(d, "/device/telgate/trustList/ctlFile", "CTLFile.tlv");
	xmlFreeDoc(d);
}

/* sipOAuthMode is 1 only with ClusterSIPOAuthMode = 1 and a profile that enables OAuth. */
static void test_oauth_matrix(void **state)
{
	(void)state;
	static const struct {
		int cluster, profile;
		const char *want;
	} m[] = {{0, 0, "0"}, {0, 1, "0"}, {1, 0, "0"}, {1, 1, "1"}, {2, 1, "0"}, {-1, 1, "0"}};
	for (size_t i = 0; i < sizeof m / sizeof m[0]; i++) {
		assert_int_equal(cnf_sip_oauth_mode(m[i].cluster, m[i].profile),
		                 m[i].want[0] - '0');
		struct cnf_device_input in;
		sample(&in);
		in.cluster_sip_oauth_mode = m[i].cluster;
		in.profile_oauth = m[i].profile;
		xmlDocPtr d = gen(&in);
		assert_xp(d, "/device/sipOAuthMode", m[i].want);
		assert_xp(d, "count(/device/sipOAuthMode)", "1");
		xmlFreeDoc(d);
	}
}

/* Same input, same bytes; a changed input, other bytes. */
static void test_deterministic(void **state)
{
	(void)state;
	struct cnf_device_input in;
	sample(&in);
	unsigned char *a, *b, *c;
	size_t na, nb, nc;
	assert_int_equal(cnf_generate(&in, &a, &na), 0);
	assert_int_equal(cnf_generate(&in, &b, &nb), 0);
	assert_int_equal(na, nb);
	assert_memory_equal(a, b, na);
	in.cluster_sip_oauth_mode = 0;
	assert_int_equal(cnf_generate(&in, &c, &nc), 0);
	assert_true(na != nc || memcmp(a, c, na) != 0);
	assert_memory_equal(a, "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<device>", 45);
	free(a), free(b), free(c);
}

/* Store values are text, whatever they hold: markup characters are escaped and what XML
 * 1.0 cannot carry becomes U+FFFD; the file stays well-formed with one <device>. */
static void test_hostile_values(void **state)
{
	(void)state;
	static const char *const evil[] = {
	    "<device>&amp;</device>",
	    "]]><![CDATA[x]]>",
	    "\"'\"><x y='",
	    "a\x01\x02\x1b[31m\x7f b",
	    "\xff\xfe bad utf-8 \xc0\xaf overlong \xed\xa0\x80 surrogate \xef\xbf\xbe",
	    "<!DOCTYPE x [<!ENTITY e SYSTEM \"file:///etc/passwd\">]>&e;",
	    "<?xml version=\"1.0\"?><!-- -->",
	    "\t tab \r\n crlf",
	    "truncated \xe2\x82",
	};
	for (size_t i = 0; i < sizeof evil / sizeof evil[0]; i++) {
		struct cnf_device_input in;
		sample(&in);
		const char *v = evil[i];
		snprintf(in.name, sizeof in.name, "%s", v);
		snprintf(in.model, sizeof in.model, "%s", v);
		snprintf(in.description, sizeof in.description, "%s", v);
		snprintf(in.security_profile, sizeof in.security_profile, "%s", v);
		snprintf(in.transport, sizeof in.transport, "%.15s", v);
		snprintf(in.protocol, sizeof in.protocol, "%.15s", v);
		snprintf(in.lines[0].name, sizeof in.lines[0].name, "%s", v);
		snprintf(in.lines[0].display_name, sizeof in.lines[0].display_name, "%s", v);
		snprintf(in.nodes[0].name, sizeof in.nodes[0].name, "%s", v);
		snprintf(in.nodes[0].description, sizeof in.nodes[0].description, "%s", v);
		snprintf(in.nodes[0].address, sizeof in.nodes[0].address, "%s", v);
		snprintf(in.itl_file, sizeof in.itl_file, "%.63s", v);
		xmlDocPtr d = gen(&in);
		assert_xp(d, "count(/device)", "1");
		assert_xp(d, "count(/device/*)", "5");
		assert_xp(d, "count(//member)", "2");
		assert_xp(d, "count(//line)", "2");
		assert_xp(d, "count(//comment())", "0");
		assert_xp(d, "count(//processing-instruction())", "0");
		/* Values that XML can carry come back as they were. */
		if (i < 3 || i == 5 || i == 6) {
			assert_xp(d, "/device/telgate/description", v);
			assert_xp(d, "/device/sipProfile/sipLines/line[1]/name", v);
		}
		char *desc = xp(d, "/device/telgate/description");
		if (i == 3)
			assert_string_equal(desc,
			                    "a\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd[31m\x7f b");
		if (i == 8)
			assert_string_equal(desc, "truncated \xef\xbf\xbd\xef\xbf\xbd");
		free(desc);
		xmlFreeDoc(d);
	}
}

/* The longest values and the most lines and nodes still make a well-formed file. */
static void test_maxima(void **state)
{
	(void)state;
	struct cnf_device_input *in = calloc(1, sizeof *in);
	sample(in);
	memset(in->description, 0xff, sizeof in->description - 1); /* 3 bytes out per byte in */
	for (size_t i = 0; i < CNF_LINES_MAX; i++)
		snprintf(in->lines[i].name, sizeof in->lines[i].name, "%zu", 2000 + i);
	in->nlines = CNF_LINES_MAX;
	for (size_t i = 0; i < CNF_NODES_MAX; i++) {
		char nm[16];
		snprintf(nm, sizeof nm, "cm%zu", i);
		node(&in->nodes[i], nm, "127.0.0.1");
	}
	in->nnodes = CNF_NODES_MAX;
	xmlDocPtr d = gen(in);
	char q[64];
	snprintf(q, sizeof q, "%d", CNF_LINES_MAX);
	assert_xp(d, "count(//line)", q);
	snprintf(q, sizeof q, "%d", CNF_NODES_MAX);
	assert_xp(d, "count(//member)", q);
	xmlFreeDoc(d);
	unsigned char *b;
	size_t n;
	in->nlines = CNF_LINES_MAX + 1;
	assert_int_equal(cnf_generate(in, &b, &n), -EINVAL);
	in->nlines = 1, in->nnodes = CNF_NODES_MAX + 1;
	assert_int_equal(cnf_generate(in, &b, &n), -EINVAL);
	assert_int_equal(cnf_generate(NULL, &b, &n), -EINVAL);
	free(in);
}

static void test_default(void **state)
{
	(void)state;
	struct cnf_node nodes[2];
	node(&nodes[0], "cm1", "10.0.0.1");
	node(&nodes[1], "cm2", "10.0.0.2");
	unsigned char *b;
	size_t n;
	assert_int_equal(cnf_default(nodes, 2, "ITLFile.tlv", "", &b, &n), 0);
	xmlDocPtr d = parse(b, n);
	free(b);
	assert_xp(d, "count(//member)", "2");
	assert_xp(d, "//member[@priority='1']/callManager/processNodeName", "10.0.0.2");
	assert_xp(d, "//member[@priority='0']/callManager/ports/sipOAuthPort", "5090");
	assert_xp(d, "/device/telgate/trustList/itlFile", "ITLFile.tlv");
	assert_xp(d, "count(/device/telgate/trustList/ctlFile)", "0");
	/* Nothing device-specific. */
	assert_xp(d, "count(//sipLines)", "0");
	assert_xp(d, "count(//sipOAuthMode)", "0");
	assert_xp(d, "count(//deviceName)", "0");
	assert_xp(d, "count(//securityProfile)", "0");
	xmlFreeDoc(d);
	assert_int_equal(cnf_default(NULL, 0, NULL, NULL, &b, &n), 0);
	d = parse(b, n);
	free(b);
	assert_xp(d, "count(//member)", "0");
	xmlFreeDoc(d);
	assert_int_equal(cnf_default(nodes, CNF_NODES_MAX + 1, NULL, NULL, &b, &n), -EINVAL);
}

/* --- the loader and the provider, on a real store --------------------------------------- */

#include "testutil.h"

struct fx {
	char dir[64], path[128];
	store_t *st;
	struct files_provider p;
};

static int st_setup(void **state)
{
	struct fx *f = calloc(1, sizeof *f);
	tu_mkdtemp(f->dir, sizeof f->dir, "tgcnf");
	snprintf(f->path, sizeof f->path, "%s/t.db", f->dir);
	struct store_options o = {.backend = "sqlite", .path = f->path, .busy_timeout_ms = 5000};
	char err[256];
	if (store_open(&o, &f->st, err, sizeof err) != STORE_OK)
		fail_msg("open: %s", err);
	struct store_processnode n = {.sipport = 5060,
	                              .securedsipport = 5061,
	                              .sipoauthport = 5090,
	                              .sipmraoauthport = 5091,
	                              .ctiport = 2748,
	                              .ctitlsport = 2749};
	snprintf(n.name, sizeof n.name, "%s", "cm1");
	snprintf(n.address, sizeof n.address, "%s", "10.0.0.1");
	snprintf(n.description, sizeof n.description, "%s", "publisher");
	assert_int_equal(store_processnode_put(f->st, &n), STORE_OK);
	snprintf(n.name, sizeof n.name, "%s", "cm2");
	snprintf(n.address, sizeof n.address, "%s", "10.0.0.2");
	n.description[0] = '\0';
	n.sipoauthport = 6090;
	assert_int_equal(store_processnode_put(f->st, &n), STORE_OK);
	struct store_securityprofile sp = {.enableoauthauthentication = 1};
	snprintf(sp.name, sizeof sp.name, "%s", "CSF OAuth");
	snprintf(sp.transport, sizeof sp.transport, "%s", "TLS");
	assert_int_equal(store_securityprofile_put(f->st, &sp), STORE_OK);
	memset(&sp, 0, sizeof sp);
	snprintf(sp.name, sizeof sp.name, "%s", "CSF digest");
	snprintf(sp.transport, sizeof sp.transport, "%s", "TCP");
	sp.enabledigestauthentication = 1;
	assert_int_equal(store_securityprofile_put(f->st, &sp), STORE_OK);
	struct store_user u = {.directory = STORE_DIR_LOCAL, .status = STORE_USER_ACTIVE};
	snprintf(u.userid, sizeof u.userid, "%s", "jdoe");
	snprintf(u.firstname, sizeof u.firstname, "%s", "Jane");
	snprintf(u.lastname, sizeof u.lastname, "%s", "Doe & <Co>");
	assert_int_equal(store_user_put(f->st, &u), STORE_OK);
	struct store_device d = {0};
	snprintf(d.name, sizeof d.name, "%s", "CSFjdoe");
	snprintf(d.model, sizeof d.model, "%s", "Cisco Unified Client Services Framework");
	snprintf(d.protocol, sizeof d.protocol, "%s", "SIP");
	snprintf(d.owneruserid, sizeof d.owneruserid, "%s", "jdoe");
	snprintf(d.securityprofile, sizeof d.securityprofile, "%s", "CSF OAuth");
	snprintf(d.description, sizeof d.description, "%s", "desc \x01 ]]>");
	assert_int_equal(store_device_put(f->st, &d), STORE_OK);
	const char *lines[] = {"1001", "1002"};
	assert_int_equal(store_device_lines_set(f->st, "CSFjdoe", lines, 2), STORE_OK);
	memset(&d, 0, sizeof d);
	snprintf(d.name, sizeof d.name, "%s", "SEP001122AABBCC");
	snprintf(d.model, sizeof d.model, "%s", "Cisco 8865");
	snprintf(d.protocol, sizeof d.protocol, "%s", "SIP");
	snprintf(d.mac, sizeof d.mac, "%s", "001122AABBCC");
	assert_int_equal(store_device_put(f->st, &d), STORE_OK);
	const struct cnf_load_options lo = {CNF_ITL_FILE, CNF_CTL_FILE};
	assert_int_equal(cnf_provider(f->st, &lo, &f->p), 0);
	*state = f;
	return 0;
}

static int st_teardown(void **state)
{
	struct fx *f = *state;
	f->p.free(f->p.arg);
	store_close(f->st);
	tu_rmtree(f->dir);
	free(f);
	return 0;
}

static xmlDocPtr fetch(struct fx *f, const char *name, struct files_blob **keep)
{
	struct files_blob *b = NULL;
	int rc = f->p.lookup(f->p.arg, name, &b);
	if (rc != 0)
		fail_msg("lookup %s: %d", name, rc);
	assert_string_equal(b->ctype, "text/xml; charset=utf-8");
	xmlDocPtr d = parse(b->data, b->len);
	if (keep)
		*keep = b;
	else
		files_blob_unref(b);
	return d;
}

static void test_load(void **state)
{
	struct fx *f = *state;
	struct cnf_device_input *in = malloc(sizeof *in);
	const struct cnf_load_options lo = {CNF_ITL_FILE, CNF_CTL_FILE};
	assert_int_equal(cnf_load(f->st, "CSFjdoe", &lo, in), STORE_OK);
	assert_string_equal(in->name, "CSFjdoe");
	assert_string_equal(in->security_profile, "CSF OAuth");
	assert_string_equal(in->transport, "TLS");
	assert_int_equal(in->profile_oauth, 1);
	assert_int_equal(in->cluster_sip_oauth_mode, 0); /* unset = 0 */
	assert_int_equal(in->nlines, 2);
	assert_string_equal(in->lines[0].name, "1001");
	assert_string_equal(in->lines[0].display_name, "Jane Doe & <Co>");
	assert_int_equal(in->nnodes, 2);
	assert_string_equal(in->nodes[0].name, "cm1");
	assert_int_equal(in->nodes[1].sip_oauth_port, 6090);
	assert_int_equal(in->nodes[0].cti_tls_port, 2749);
	assert_string_equal(in->itl_file, "ITLFile.tlv");
	assert_int_equal(cnf_load(f->st, "nosuch", &lo, in), STORE_NOTFOUND);
	/* Exact match: the store keeps names as given. */
	assert_int_equal(cnf_load(f->st, "csfjdoe", &lo, in), STORE_NOTFOUND);
	free(in);
}

static void test_provider(void **state)
{
	struct fx *f = *state;
	struct files_blob *a, *b;
	xmlDocPtr d = fetch(f, "CSFjdoe.cnf.xml", &a);
	assert_xp(d, "/device/sipOAuthMode", "0");
	assert_xp(d, "//member[@priority='1']/callManager/ports/sipOAuthPort", "6090");
	assert_xp(d, "//line[@button='1']/displayName", "Jane Doe & <Co>");
	assert_xp(d, "/device/telgate/trustList/ctlFile", "CTLFile.tlv");
	xmlFreeDoc(d);
	/* Unchanged store: the same blob, not a new one. */
	xmlFreeDoc(fetch(f, "CSFjdoe.cnf.xml", &b));
	assert_ptr_equal(a, b);
	files_blob_unref(b);

	/* ClusterSIPOAuthMode 1 (telgate set param): the next request sees it, new ETag. */
	uint64_t g = store_generation(f->st);
	assert_int_equal(store_param_set(f->st, "ClusterSIPOAuthMode", "1", NULL), STORE_OK);
	assert_true(store_generation(f->st) > g);
	d = fetch(f, "CSFjdoe.cnf.xml", &b);
	assert_xp(d, "/device/sipOAuthMode", "1");
	xmlFreeDoc(d);
	assert_string_not_equal(a->etag, b->etag);
	files_blob_unref(a);
	a = b;

	/* The device's profile changes to one without OAuth: mode 0 again. */
	struct store_device dev;
	assert_int_equal(store_device_get(f->st, "CSFjdoe", &dev), STORE_OK);
	snprintf(dev.securityprofile, sizeof dev.securityprofile, "%s", "CSF digest");
	assert_int_equal(store_device_put(f->st, &dev), STORE_OK);
	d = fetch(f, "CSFjdoe.cnf.xml", &b);
	assert_xp(d, "/device/sipOAuthMode", "0");
	assert_xp(d, "/device/telgate/securityProfile/transport", "TCP");
	xmlFreeDoc(d);
	assert_string_not_equal(a->etag, b->etag);
	files_blob_unref(a);
	a = b;

	/* A write that does not change this file keeps its blob (and Last-Modified). */
	assert_int_equal(store_param_set(f->st, "SomethingElse", "x", NULL), STORE_OK);
	xmlFreeDoc(fetch(f, "CSFjdoe.cnf.xml", &b));
	assert_ptr_equal(a, b);
	files_blob_unref(a);
	files_blob_unref(b);

	/* A Cisco phone asks with its MAC, in either case. */
	d = fetch(f, "SEP001122AABBCC.cnf.xml", NULL);
	assert_xp(d, "count(//line)", "0");
	assert_xp(d, "/device/telgate/model", "Cisco 8865");
	xmlFreeDoc(d);
	xmlFreeDoc(fetch(f, "sep001122aabbcc.cnf.xml", NULL));

	d = fetch(f, "XMLDefault.cnf.xml", NULL);
	assert_xp(d, "count(//member)", "2");
	assert_xp(d, "count(//sipLines)", "0");
	xmlFreeDoc(d);
}

static void test_provider_unknown(void **state)
{
	struct fx *f = *state;
	struct files_blob *b = NULL;
	static const char *const names[] = {
	    "SEP000000000000.cnf.xml", "nosuch.cnf.xml", "ITLFile.tlv", "cnf.xml", "a/b.cnf.xml",
	    "XMLDefault.cnf.xml.bak"};
	for (int round = 0; round < 2; round++) /* the second from the negative cache */
		for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
			assert_int_equal(f->p.lookup(f->p.arg, names[i], &b), -ENOENT);
	assert_null(b);
	/* A negative answer is per generation: the device added, the file is there. */
	struct store_device d = {0};
	snprintf(d.name, sizeof d.name, "%s", "nosuch");
	snprintf(d.protocol, sizeof d.protocol, "%s", "SIP");
	assert_int_equal(store_device_put(f->st, &d), STORE_OK);
	xmlFreeDoc(fetch(f, "nosuch.cnf.xml", NULL));
	/* Many unknown names: answered, memory bounded (the cache stops taking negatives). */
	for (int i = 0; i < 20000; i++) {
		char nm[64];
		snprintf(nm, sizeof nm, "CSFscan%d.cnf.xml", i);
		assert_int_equal(f->p.lookup(f->p.arg, nm, &b), -ENOENT);
	}
	xmlFreeDoc(fetch(f, "CSFjdoe.cnf.xml", NULL));
}

static void test_device_from_file(void **state)
{
	(void)state;
	char d[STORE_ID_MAX + 1];
	assert_int_equal(cnf_device_from_file("SEP001122AABBCC.cnf.xml", d, sizeof d), 0);
	assert_string_equal(d, "SEP001122AABBCC");
	assert_int_equal(cnf_device_from_file("sep001122aabbcc.cnf.xml", d, sizeof d), 0);
	assert_string_equal(d, "SEP001122AABBCC");
	assert_int_equal(cnf_device_from_file("CSFjdoe.cnf.xml", d, sizeof d), 0);
	assert_string_equal(d, "CSFjdoe");
	/* Not SEP + 12 hex digits: kept as sent. */
	assert_int_equal(cnf_device_from_file("sepx01122aabbcc.cnf.xml", d, sizeof d), 0);
	assert_string_equal(d, "sepx01122aabbcc");
	assert_int_equal(cnf_device_from_file("XMLDefault.cnf.xml", d, sizeof d), -ENOENT);
	assert_int_equal(cnf_device_from_file(".cnf.xml", d, sizeof d), -ENOENT);
	assert_int_equal(cnf_device_from_file("SEP001122AABBCC.cnf", d, sizeof d), -ENOENT);
	assert_int_equal(cnf_device_from_file("dir/CSFx.cnf.xml", d, sizeof d), -ENOENT);
	assert_int_equal(cnf_device_from_file("ITLFile.tlv", d, sizeof d), -ENOENT);
	assert_int_equal(cnf_device_from_file("abcdefgh.cnf.xml", d, 8), -ENOENT);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_values),
	    cmocka_unit_test(test_oauth_matrix),
	    cmocka_unit_test(test_deterministic),
	    cmocka_unit_test(test_hostile_values),
	    cmocka_unit_test(test_maxima),
	    cmocka_unit_test(test_default),
	    cmocka_unit_test(test_device_from_file),
	    cmocka_unit_test_setup_teardown(test_load, st_setup, st_teardown),
	    cmocka_unit_test_setup_teardown(test_provider, st_setup, st_teardown),
	    cmocka_unit_test_setup_teardown(test_provider_unknown, st_setup, st_teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
