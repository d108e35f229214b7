/* SPDX-License-Identifier: ISC */
/* admin/node.c: this node's processnode row from the configuration, its registration
 * (refusals name the configuration key) and its heartbeat. */
#include "admin/node.h"
#include "core/config.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "store_fixture.h"

static struct tg_config config(void)
{
	struct tg_config c;
	config_defaults(&c);
	snprintf(c.core.node_id, sizeof c.core.node_id, "cucm-a");
	snprintf(c.core.node_address, sizeof c.core.node_address, "cucm-a.example.com");
	return c;
}

static void test_row_from_config(void **state)
{
	(void)state;
	struct tg_config c = config();
	c.cti.tls_port = 0; /* off */
	c.files.tftp_port = 10069;
	struct store_processnode n;
	node_from_config(&c, 1700000000, &n);
	assert_string_equal(n.name, "cucm-a");
	assert_string_equal(n.address, "cucm-a.example.com");
	assert_int_equal(n.sipport, c.sip.port);
	assert_int_equal(n.securedsipport, c.sip.tls_port);
	assert_int_equal(n.sipoauthport, 5090);
	assert_int_equal(n.sipmraoauthport, 5091); /* the edge listener */
	assert_int_equal(n.ctiport, 2748);
	assert_int_equal(n.ctitlsport, 0);
	assert_int_equal(n.httpport, 6970);
	assert_int_equal(n.tftpport, 10069);
	assert_string_equal(n.version, TELGATE_VERSION);
	assert_int_equal(n.timestarted, 1700000000);
	assert_int_equal(n.lastheartbeat, 1700000000);
}

static void test_register_and_heartbeat(void **state)
{
	struct tu_store *f = *state;
	struct tg_config c = config();
	struct store_processnode n, out;
	node_from_config(&c, 1700000000, &n);
	char err[300];
	assert_int_equal(node_register(f->st, &n, "-", err, sizeof err), 0);
	assert_int_equal(store_processnode_get(f->st, "cucm-a", &out), STORE_OK);
	assert_int_equal(out.sipmraoauthport, 5091);
	assert_int_equal(node_heartbeat(f->st, &n, 1700000030, "-"), STORE_OK);
	assert_int_equal(store_processnode_get(f->st, "cucm-a", &out), STORE_OK);
	assert_int_equal(out.lastheartbeat, 1700000030);
	assert_int_equal(out.timestarted, 1700000000);
	/* A row deleted under the node comes back with the next heartbeat. */
	assert_int_equal(store_processnode_delete(f->st, "cucm-a"), STORE_OK);
	assert_int_equal(node_heartbeat(f->st, &n, 1700000060, "-"), STORE_OK);
	assert_int_equal(store_processnode_get(f->st, "cucm-a", &out), STORE_OK);
	assert_int_equal(out.lastheartbeat, 1700000060);
	assert_int_equal(out.sipoauthport, 5090);

	/* Seed 002's range, with the configuration key to change. */
	c.sip.edge_port = 443;
	node_from_config(&c, 1700000100, &n);
	assert_int_equal(node_register(f->st, &n, "-", err, sizeof err), -1);
	assert_string_equal(err, "sip.edge_port: this node's row in the node table: node "
	                         "'cucm-a': sipmraoauthport 443 is not 0 or 1024-49151");
	c = config();
	c.sip.tls_port = 70000; /* not from a parsed file, but the key is still named */
	node_from_config(&c, 1700000100, &n);
	assert_int_equal(node_register(f->st, &n, "-", err, sizeof err), -1);
	assert_non_null(strstr(err, "sip.tls_port: "));
	assert_non_null(strstr(err, "securedsipport 70000"));
	/* Nothing was written by the refusals. */
	assert_int_equal(store_processnode_get(f->st, "cucm-a", &out), STORE_OK);
	assert_int_equal(out.sipmraoauthport, 5091);
	assert_int_equal(out.timestarted, 1700000000);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_row_from_config),
	    cmocka_unit_test_setup_teardown(test_register_and_heartbeat, tu_store_setup,
	                                    tu_store_teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
