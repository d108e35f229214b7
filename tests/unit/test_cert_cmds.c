/* SPDX-License-Identifier: ISC */
/* `telgate cert list [USER]` and `telgate cert revoke SERIAL REASON` through the admin layer
 * (admin_handle, as the control server calls it): the table's rows, the audit record of a
 * revocation, and a revocation refused while the signer is not running. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include <unistd.h>

#include "admin/admin.h"
#include "admin/audit.h"
#include "ca/ca_issue.h"
#include "ca_fixture.h"
#include "core/log.h"

struct cfx {
	struct fx *ca;
	struct admin_ctx a;
};

static int cfx_setup(void **state)
{
	struct cfx *c = calloc(1, sizeof *c);
	void *inner;
	fx_setup(&inner);
	c->ca = inner;
	struct tg_config cfg;
	config_defaults(&cfg);
	snprintf(cfg.pki.dir, sizeof cfg.pki.dir, "%s", c->ca->pki);
	admin_init(&c->a, c->ca->st.st, &cfg);
	c->a.signer = c->ca->signer;
	*state = c;
	return 0;
}

static int cfx_teardown(void **state)
{
	struct cfx *c = *state;
	admin_destroy(&c->a);
	void *inner = c->ca;
	fx_teardown(&inner);
	free(c);
	return 0;
}

/* Runs one command line (words separated by single spaces) and returns the response. */
static json_t *run(struct cfx *c, const char *line)
{
	json_t *av = json_array();
	char copy[512];
	snprintf(copy, sizeof copy, "%s", line);
	char *save = NULL;
	for (char *w = strtok_r(copy, " ", &save); w; w = strtok_r(NULL, " ", &save))
		json_array_append_new(av, json_string(w));
	json_t *body = json_pack("{s:o}", "argv", av);
	char *text = json_dumps(body, JSON_COMPACT);
	json_decref(body);
	struct ctl_request req;
	char err[256];
	assert_int_equal(ctl_request_parse(text, strlen(text), &req, err, sizeof err), 0);
	req.peer_uid = 0;
	req.peer_pid = 4242;
	json_t *resp = admin_handle(&c->a, &req, "cid-cert");
	ctl_request_free(&req);
	free(text);
	assert_non_null(resp);
	return resp;
}

static const char *cell(json_t *resp, size_t row, size_t col)
{
	return json_string_value(
	    json_array_get(json_array_get(json_object_get(resp, "rows"), row), col));
}

static void test_list(void **state)
{
	struct cfx *c = *state;
	char a[33], b[33], old[33];
	tu_issue(c->ca, "wwhite", "1234", "CAPF-1", 730, 0, a);
	tu_issue(c->ca, "jpinkman", "", "CAPF-1", 730, 0, b);
	/* A certificate of 2023, for a day: expired (the CA of this test is younger, so the row
	 * is written as an older CA would have left it). */
	struct store_issuedcert row = {.serial = "00000000000000000000000000000042",
	                               .subject = "CN=wwhite",
	                               .userid = "wwhite",
	                               .instanceid = "99",
	                               .profile = "CAPF-1",
	                               .notbefore = 1700000000 - 300,
	                               .notafter = 1700086400,
	                               .sha256 = "00"};
	assert_int_equal(store_issuedcert_add(c->ca->st.st, &row, "PEM"), STORE_OK);
	snprintf(old, sizeof old, "%s", row.serial);

	json_t *r = run(c, "cert list");
	assert_true(json_is_true(json_object_get(r, "ok")));
	json_t *cols = json_object_get(r, "columns");
	const char *want[] = {"serial",  "subject",  "user",  "instance",
	                      "profile", "notafter", "status"};
	assert_int_equal(json_array_size(cols), 7);
	for (size_t i = 0; i < 7; i++)
		assert_string_equal(json_string_value(json_array_get(cols, i)), want[i]);
	assert_int_equal(json_array_size(json_object_get(r, "rows")), 3);
	/* Oldest first: the expired one. */
	assert_string_equal(cell(r, 0, 0), old);
	assert_string_equal(cell(r, 0, 6), "expired");
	assert_string_equal(cell(r, 0, 5), "2023-11-15T22:13:20Z");
	json_decref(r);

	r = run(c, "cert list wwhite");
	assert_int_equal(json_array_size(json_object_get(r, "rows")), 2);
	assert_string_equal(cell(r, 1, 0), a);
	assert_string_equal(cell(r, 1, 1), "CN=wwhite");
	assert_string_equal(cell(r, 1, 2), "wwhite");
	assert_string_equal(cell(r, 1, 3), "1234");
	assert_string_equal(cell(r, 1, 4), "CAPF-1");
	assert_string_equal(cell(r, 1, 6), "valid");
	json_decref(r);
	r = run(c, "cert list nobody");
	assert_true(json_is_true(json_object_get(r, "ok")));
	assert_int_equal(json_array_size(json_object_get(r, "rows")), 0);
	json_decref(r);
	(void)b;
}

static int last_audit(struct audit_rec *rec)
{
	static struct audit_rec all[AUDIT_HISTORY];
	size_t n = audit_history(all, AUDIT_HISTORY);
	if (n == 0)
		return -1;
	*rec = all[n - 1];
	return 0;
}

static void test_revoke(void **state)
{
	struct cfx *c = *state;
	char a[33], line[200];
	tu_issue(c->ca, "wwhite", "1234", "CAPF-1", 730, 0, a);

	snprintf(line, sizeof line, "cert revoke %s keyCompromise", a);
	json_t *r = run(c, line);
	assert_true(json_is_true(json_object_get(r, "ok")));
	assert_non_null(strstr(json_string_value(json_object_get(r, "message")), "revoked"));
	json_decref(r);
	struct audit_rec rec;
	assert_int_equal(last_audit(&rec), 0);
	assert_non_null(strstr(rec.cmd, "cert revoke"));
	assert_non_null(strstr(rec.cmd, a));
	assert_int_equal(rec.ok, 1);
	assert_int_equal(rec.pid, 4242);
	assert_string_equal(rec.cid, "cid-cert");

	r = run(c, "cert list wwhite");
	assert_string_equal(cell(r, 0, 6), "revoked (keyCompromise)");
	json_decref(r);
	char path[256];
	snprintf(path, sizeof path, "%s/crl.der", c->ca->pki);
	assert_int_equal(access(path, F_OK), 0);

	/* Again: refused, audited as a failure. */
	r = run(c, line);
	assert_false(json_is_true(json_object_get(r, "ok")));
	assert_non_null(strstr(json_string_value(json_object_get(r, "error")), "already revoked"));
	json_decref(r);
	assert_int_equal(last_audit(&rec), 0);
	assert_int_equal(rec.ok, 0);
	assert_non_null(strstr(rec.error, "already revoked"));

	/* A reason that is not one, and wrong argument counts. */
	char b[33];
	tu_issue(c->ca, "jpinkman", "7", "CAPF-1", 730, 0, b);
	snprintf(line, sizeof line, "cert revoke %s stolen", b);
	r = run(c, line);
	assert_non_null(strstr(json_string_value(json_object_get(r, "error")), "not a reason"));
	json_decref(r);
	r = run(c, "cert revoke 1234");
	assert_non_null(
	    strstr(json_string_value(json_object_get(r, "error")), "usage: cert revoke"));
	json_decref(r);

	/* No signer: nothing changes, and the answer says why. */
	c->a.signer = NULL;
	snprintf(line, sizeof line, "cert revoke %s superseded", b);
	r = run(c, line);
	assert_false(json_is_true(json_object_get(r, "ok")));
	assert_non_null(
	    strstr(json_string_value(json_object_get(r, "error")), "the signer is not running"));
	json_decref(r);
	struct store_issuedcert row;
	assert_int_equal(store_issuedcert_get(c->ca->st.st, b, &row), STORE_OK);
	assert_int_equal(row.status, STORE_CERT_VALID);
}

int main(void)
{
	char err[128];
	log_configure(LOG_LVL_WARNING, LOG_FMT_KV, "stderr", err, sizeof err);
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_list, cfx_setup, cfx_teardown),
	    cmocka_unit_test_setup_teardown(test_revoke, cfx_setup, cfx_teardown),
	};
	return cmocka_run_group_tests(tests, tu_ca_group_setup, tu_ca_group_teardown);
}
