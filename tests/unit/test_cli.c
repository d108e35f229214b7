#include "cli.h"

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
	char *a1[] = {"run", "sql", "select", "*", "from", "device"};
	json_t *r = cli_build_request(6, a1, err, sizeof err);
	assert_non_null(r);
	json_t *av = json_object_get(r, "argv");
	assert_int_equal(json_array_size(av), 3);
	assert_string_equal(json_string_value(json_array_get(av, 2)), "select * from device");
	json_decref(r);

	char path[] = "/tmp/tgimpXXXXXX";
	int fd = mkstemp(path);
	assert_int_equal(write(fd, "{\"version\":1}", 13), 13);
	close(fd);
	char *a2[] = {"import", path};
	r = cli_build_request(2, a2, err, sizeof err);
	assert_non_null(r);
	assert_string_equal(json_string_value(json_object_get(r, "data")), "{\"version\":1}");
	json_decref(r);
	unlink(path);
	r = cli_build_request(2, a2, err, sizeof err);
	assert_null(r);
	assert_non_null(strstr(err, "No such file"));

	assert_null(cli_build_request(0, NULL, err, sizeof err));
	char bad[] = {'x', (char)0xff, 0};
	char *a3[] = {"get", "param", bad};
	assert_null(cli_build_request(3, a3, err, sizeof err));
	assert_non_null(strstr(err, "UTF-8"));
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
	    cmocka_unit_test(test_call_no_daemon),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
