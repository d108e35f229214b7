/* SPDX-License-Identifier: ISC */
#include "cli.h"
#include "admin/commands.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

static char *render(const char *json, int json_mode, int *rc, char **errout)
{
	json_t *resp = json_loads(json, 0, NULL);
	assert_non_null(resp);
	char *out = NULL, *err = NULL;
	size_t on = 0, en = 0;
	FILE *o = open_memstream(&out, &on), *e = open_memstream(&err, &en);
	*rc = cli_render(o, e, resp, json_mode);
	fclose(o);
	fclose(e);
	json_decref(resp);
	*errout = err;
	return out;
}

static void test_table_alignment(void **state)
{
	(void)state;
	int rc;
	char *err;
	char *out = render("{\"ok\":true,\"columns\":[\"userid\",\"name\"],"
	                   "\"rows\":[[\"wwhite\",\"Walter\"],[\"jos\xc3\xa9\",null]]}",
	                   0, &rc, &err);
	assert_int_equal(rc, 0);
	assert_string_equal(out, "userid name\n"
	                         "====== ======\n"
	                         "wwhite Walter\n"
	                         "jos\xc3\xa9   NULL\n");
	free(out);
	free(err);
	out = render("{\"ok\":true,\"columns\":[\"paramvalue\"],\"rows\":[[\"0\"]]}", 0, &rc, &err);
	assert_string_equal(out, "paramvalue\n==========\n0\n");
	free(out);
	free(err);
}

static void test_error_and_message(void **state)
{
	(void)state;
	int rc;
	char *err;
	char *out =
	    render("{\"ok\":false,\"error\":\"refused: only a single SELECT\"}", 0, &rc, &err);
	assert_int_equal(rc, 1);
	assert_string_equal(out, "");
	assert_string_equal(err, "error: refused: only a single SELECT\n");
	free(out);
	free(err);
	out = render("{\"ok\":true,\"message\":\"done\"}", 0, &rc, &err);
	assert_int_equal(rc, 0);
	assert_string_equal(out, "done\n");
	free(out);
	free(err);
	out = render("{\"ok\":false,\"error\":\"x\"}", 1, &rc, &err);
	assert_int_equal(rc, 1);
	json_t *j = json_loads(out, 0, NULL);
	assert_non_null(j);
	assert_true(json_is_false(json_object_get(j, "ok")));
	json_decref(j);
	free(out);
	free(err);
}

static void test_build_requests(void **state)
{
	(void)state;
	char err[256];
	int st;
	char *a1[] = {"run", "sql", "select", "*", "from", "device"};
	json_t *r = cli_build_request(6, a1, &st, err, sizeof err);
	assert_non_null(r);
	assert_int_equal(st, 0);
	json_t *av = json_object_get(r, "argv");
	assert_int_equal(json_array_size(av), 3);
	assert_string_equal(json_string_value(json_array_get(av, 2)), "select * from device");
	json_decref(r);

	char path[] = "/tmp/tgimpXXXXXX";
	int fd = mkstemp(path);
	assert_int_equal(write(fd, "{\"version\":1}", 13), 13);
	close(fd);
	char *a2[] = {"import", path};
	r = cli_build_request(2, a2, &st, err, sizeof err);
	assert_non_null(r);
	assert_string_equal(json_string_value(json_object_get(r, "data")), "{\"version\":1}");
	json_decref(r);
	unlink(path);
	r = cli_build_request(2, a2, &st, err, sizeof err);
	assert_null(r);
	assert_int_equal(st, EX_NOINPUT);
	assert_non_null(strstr(err, "No such file"));

	char bad[] = {'x', (char)0xff, 0};
	char *a3[] = {"get", "param", bad};
	assert_null(cli_build_request(3, a3, &st, err, sizeof err));
	assert_int_equal(st, EX_USAGE);
	assert_non_null(strstr(err, "UTF-8"));
}

/* Every usage error is found before connecting and ends with EX_USAGE (telgate(1)). */
static void test_usage_errors(void **state)
{
	(void)state;
	static const struct {
		int argc;
		char *argv[6];
		const char *want;
	} cases[] = {
	    {0, {NULL}, "no command given"},
	    {1, {"nonsense"}, "unknown command 'nonsense'; try: telgate help"},
	    {2, {"show", "nonsense"}, "unknown command; did you mean: show open ports"},
	    {1, {"import"}, "usage: import FILE.json"},
	    {3, {"import", "a.json", "b.json"}, "usage: import FILE.json"},
	    {2, {"run", "sql"}, "usage: run sql"},
	    {3, {"set", "param", "X"}, "usage: set param NAME VALUE"},
	    {2, {"status", "now"}, "usage: status"},
	    {6, {"show", "open", "ports", "regexp", "a", "b"}, "usage: show open ports"},
	    {2, {"auth", "test"}, "usage: auth test USER"},
	};
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		char err[256] = "";
		int st = 0;
		json_t *r =
		    cli_build_request(cases[i].argc, (char **)cases[i].argv, &st, err, sizeof err);
		if (r || st != EX_USAGE || !strstr(err, cases[i].want))
			fail_msg("case %zu: st=%d err='%s' want '%s'", i, st, err, cases[i].want);
	}
}

/* `telgate --help` lists every command of the table `telgate help` answers from. */
static void test_help_lists_every_command(void **state)
{
	(void)state;
	char *out = NULL;
	size_t n = 0;
	FILE *f = open_memstream(&out, &n);
	cli_usage(f);
	fclose(f);
	for (size_t i = 0; i < ADMIN_NCMDS; i++) {
		char line[256];
		snprintf(line, sizeof line, "\n  %s\n", admin_cmds[i].usage);
		if (!strstr(out, line))
			fail_msg("--help lacks '%s'", admin_cmds[i].usage);
	}
	free(out);
}

/* The daemon's verdict on the words decides the exit status: 64 for a usage error. */
static void test_exit_status_from_response(void **state)
{
	(void)state;
	int rc;
	char *err;
	for (int json_mode = 0; json_mode < 2; json_mode++) {
		free(render("{\"ok\":false,\"error\":\"usage: x\",\"exit\":64}", json_mode, &rc,
		            &err));
		free(err);
		assert_int_equal(rc, EX_USAGE);
		free(render("{\"ok\":true,\"columns\":[],\"rows\":[],\"exit\":1}", json_mode, &rc,
		            &err));
		free(err);
		assert_int_equal(rc, 1);
		free(render("{\"ok\":false,\"error\":\"x\",\"exit\":70}", json_mode, &rc, &err));
		free(err);
		assert_int_equal(rc, 1);
	}
}

static void test_call_no_daemon(void **state)
{
	(void)state;
	char err[256];
	json_t *req = json_pack("{s:[s]}", "argv", "status");
	assert_null(cli_call("/nonexistent/telgated.sock", req, err, sizeof err));
	assert_non_null(strstr(err, "is it running?"));
	json_decref(req);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_table_alignment),
	    cmocka_unit_test(test_error_and_message),
	    cmocka_unit_test(test_build_requests),
	    cmocka_unit_test(test_usage_errors),
	    cmocka_unit_test(test_help_lists_every_command),
	    cmocka_unit_test(test_exit_status_from_response),
	    cmocka_unit_test(test_call_no_daemon),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
