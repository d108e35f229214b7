#include "core/alarm.h"
#include "core/log.h"

#include <jansson.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

static void test_kv_escaping(void **state)
{
	(void)state;
	char line[LOG_LINE_MAX];
	const char *kv[] = {"user", "a\nevent=forged level=crit", "plain", "ok", "empty", ""};
	size_t n =
	    log_format_line(LOG_FMT_KV, LOG_LVL_INFO, "cid-1", "login", kv, 3, line, sizeof line);
	assert_int_equal(n, strlen(line));
	assert_null(strchr(line, '\n'));
	assert_true(strncmp(line, "cid=cid-1 ts=", 13) == 0);
	assert_non_null(strstr(line, " event=login "));
	assert_non_null(strstr(line, "user=\"a\\nevent=forged level=crit\""));
	assert_non_null(strstr(line, " plain=ok"));
	assert_non_null(strstr(line, " empty=\"\""));
}

static void test_json_valid(void **state)
{
	(void)state;
	char line[LOG_LINE_MAX];
	const char *kv[] = {"v", "quote\" back\\ ctl\x01 tab\t", "skip", NULL};
	log_format_line(LOG_FMT_JSON, LOG_LVL_WARNING, NULL, "e", kv, 2, line, sizeof line);
	json_error_t je;
	json_t *j = json_loads(line, 0, &je);
	assert_non_null(j);
	assert_string_equal(json_string_value(json_object_get(j, "cid")), "-");
	assert_string_equal(json_string_value(json_object_get(j, "level")), "warning");
	assert_string_equal(json_string_value(json_object_get(j, "v")),
	                    "quote\" back\\ ctl\x01 tab\t");
	assert_null(json_object_get(j, "skip"));
	json_decref(j);
}

static void test_truncation(void **state)
{
	(void)state;
	char *big = malloc(20000);
	memset(big, 'x', 19999);
	big[19999] = '\0';
	const char *kv[] = {"big", big};
	char line[1024];
	size_t n = log_format_line(LOG_FMT_JSON, LOG_LVL_INFO, "c", "e", kv, 1, line, sizeof line);
	assert_true(n < sizeof line);
	json_t *j = json_loads(line, 0, NULL);
	/* Truncated JSON stays parseable only if the cut left the string closed; at least
	 * the marker must be at the end and the line must fit. */
	assert_non_null(strstr(line, "\"truncated\":\"1\"}"));
	json_decref(j);
	n = log_format_line(LOG_FMT_KV, LOG_LVL_INFO, "c", "e", kv, 1, line, sizeof line);
	assert_true(n < sizeof line);
	assert_non_null(strstr(line, " truncated=1"));
	free(big);
}

static void test_cid_unique(void **state)
{
	(void)state;
	char a[LOG_CID_SIZE], b[LOG_CID_SIZE];
	log_cid_new(a);
	log_cid_new(b);
	assert_string_not_equal(a, b);
	assert_int_equal(strlen(a), 21);
}

static void test_file_target_and_levels(void **state)
{
	(void)state;
	char path[] = "/tmp/tglogXXXXXX";
	int fd = mkstemp(path);
	close(fd);
	char target[64], err[256];
	snprintf(target, sizeof target, "file:%s", path);
	assert_int_equal(log_configure(LOG_LVL_NOTICE, LOG_FMT_KV, target, err, sizeof err), 0);
	log_event(LOG_LVL_INFO, "c1", "hidden", "k", "v", (const char *)NULL);
	log_event(LOG_LVL_ERROR, "c2", "shown", "k", "v", (const char *)NULL);
	alarm_raise("EndPointTransientConnection", ALARM_WARNING, "c3", "Reason", "35",
	            "DeviceName", "SEP001794625DE5", (const char *)NULL);
	assert_int_equal(log_configure(LOG_LVL_INFO, LOG_FMT_KV, "stderr", err, sizeof err), 0);
	FILE *f = fopen(path, "r");
	char buf[4096] = "";
	size_t n = fread(buf, 1, sizeof buf - 1, f);
	buf[n] = '\0';
	fclose(f);
	unlink(path);
	assert_null(strstr(buf, "hidden"));
	assert_non_null(strstr(buf, "cid=c2 "));
	assert_non_null(strstr(buf, "event=alarm alarm=EndPointTransientConnection "
	                            "severity=Warning Reason=35 DeviceName=SEP001794625DE5"));
	struct alarm_rec r[4];
	size_t got = alarm_history(r, 4);
	assert_int_equal(got, 1);
	assert_string_equal(r[0].name, "EndPointTransientConnection");
	assert_string_equal(r[0].fields, "Reason=35 DeviceName=SEP001794625DE5");
	assert_int_equal(r[0].severity, ALARM_WARNING);
	/* A bad target is refused and the previous one stays. */
	assert_int_equal(
	    log_configure(LOG_LVL_INFO, LOG_FMT_KV, "file:/nonexistent/dir/x", err, sizeof err),
	    -1);
	assert_non_null(strstr(err, "cannot open"));
	assert_int_equal(log_configure(LOG_LVL_INFO, LOG_FMT_KV, "tcp:1.2.3.4", err, sizeof err),
	                 -1);
}

static void test_alarm_history_bounded(void **state)
{
	(void)state;
	for (int i = 0; i < ALARM_HISTORY + 10; i++) {
		char n[16];
		snprintf(n, sizeof n, "%d", i);
		alarm_raise("Test", ALARM_INFORMATIONAL, NULL, "n", n, (const char *)NULL);
	}
	static struct alarm_rec r[ALARM_HISTORY];
	size_t got = alarm_history(r, ALARM_HISTORY);
	assert_int_equal(got, ALARM_HISTORY);
	char want[32];
	snprintf(want, sizeof want, "n=%d", ALARM_HISTORY + 9);
	assert_string_equal(r[ALARM_HISTORY - 1].fields, want);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_kv_escaping),
	    cmocka_unit_test(test_json_valid),
	    cmocka_unit_test(test_truncation),
	    cmocka_unit_test(test_cid_unique),
	    cmocka_unit_test(test_file_target_and_levels),
	    cmocka_unit_test(test_alarm_history_bounded),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
