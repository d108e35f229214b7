/* SPDX-License-Identifier: ISC */
#include "core/alarm.h"
#include "core/log.h"

#include <jansson.h>
#include <limits.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <cmocka.h>

/* Sends the log (lvl and above) to a new temporary file named by path, a mkstemp
 * template. */
static void log_to_temp(char *path, enum log_level lvl)
{
	int fd = mkstemp(path);
	assert_true(fd >= 0);
	close(fd);
	char target[64], err[256];
	snprintf(target, sizeof target, "file:%s", path);
	assert_int_equal(log_configure(lvl, LOG_FMT_KV, target, err, sizeof err), 0);
}

/* Puts the log back on stderr and reads what the temporary file got (then removes it). */
static void read_temp_log(const char *path, char *buf, size_t cap)
{
	char err[256];
	assert_int_equal(log_configure(LOG_LVL_INFO, LOG_FMT_KV, "stderr", err, sizeof err), 0);
	FILE *f = fopen(path, "r");
	assert_non_null(f);
	size_t n = fread(buf, 1, cap - 1, f);
	buf[n] = '\0';
	fclose(f);
	unlink(path);
}

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
	log_to_temp(path, LOG_LVL_NOTICE);
	log_event(LOG_LVL_INFO, "c1", "hidden", "k", "v", (const char *)NULL);
	log_event(LOG_LVL_ERROR, "c2", "shown", "k", "v", (const char *)NULL);
	alarm_raise("EndPointTransientConnection", ALARM_WARNING, "c3", "Reason", "35",
	            "DeviceName", "SEP001794625DE5", (const char *)NULL);
	char buf[4096];
	read_temp_log(path, buf, sizeof buf);
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
	char err[256];
	assert_int_equal(
	    log_configure(LOG_LVL_INFO, LOG_FMT_KV, "file:/nonexistent/dir/x", err, sizeof err),
	    -1);
	assert_non_null(strstr(err, "cannot open"));
	assert_int_equal(log_configure(LOG_LVL_INFO, LOG_FMT_KV, "tcp:1.2.3.4", err, sizeof err),
	                 -1);
}

/* Typed fields: numbers formatted by the logger; NULL strings left out; too many fields
 * are said, never silently dropped. (More than LOG_FIELDS_MAX in log_ev does not compile:
 * the array size goes negative; ctest compile_log_fields_* checks that.) */
static size_t file_size(const char *path)
{
	struct stat st;
	assert_int_equal(stat(path, &st), 0);
	return (size_t)st.st_size;
}

/* [log] buffer_ms: a buffering thread's info lines wait; a notice line writes them first,
 * in order; a flush and the end of buffering write the rest; a full buffer is written. */
static void test_buffering(void **state)
{
	(void)state;
	char path[] = "/tmp/tglogXXXXXX";
	log_to_temp(path, LOG_LVL_INFO);
	log_set_buffering(10000);
	log_thread_buffer(1);
	log_ev(LOG_LVL_INFO, "b1", "first", LOG_I("n", 1));
	log_ev(LOG_LVL_INFO, "b2", "second", LOG_I("n", 2));
	assert_int_equal(file_size(path), 0);
	log_ev(LOG_LVL_NOTICE, "b3", "third", LOG_I("n", 3));
	size_t after_notice = file_size(path);
	assert_true(after_notice > 0);
	log_ev(LOG_LVL_INFO, "b4", "fourth", LOG_I("n", 4));
	assert_int_equal(file_size(path), after_notice);
	log_thread_flush();
	assert_true(file_size(path) > after_notice);
	/* more than the 64 KiB buffer: written before it overflows, nothing lost */
	for (int i = 0; i < 2000; i++)
		log_ev(LOG_LVL_INFO, "b5", "many", LOG_I("i", i),
		       LOG_S("pad", "0123456789012345678901234567890123456789"));
	assert_true(file_size(path) > 32768);
	log_ev(LOG_LVL_INFO, "b6", "last", LOG_I("n", 6));
	log_thread_buffer(0); /* writes what is left */
	log_set_buffering(0);
	static char buf[512 * 1024];
	read_temp_log(path, buf, sizeof buf);
	const char *a = strstr(buf, "cid=b1 "), *b = strstr(buf, "cid=b2 "),
	           *c = strstr(buf, "cid=b3 "), *d = strstr(buf, "cid=b4 "),
	           *l = strstr(buf, "cid=b6 ");
	assert_true(a && b && c && d && l);
	assert_true(a < b && b < c && c < d && d < l);
	size_t many = 0;
	for (const char *p = buf; (p = strstr(p, "event=many")); p++)
		many++;
	assert_int_equal(many, 2000);
	/* not buffering: at once */
	char path2[] = "/tmp/tglogXXXXXX";
	log_to_temp(path2, LOG_LVL_INFO);
	log_ev(LOG_LVL_INFO, "u1", "unbuffered", LOG_I("n", 1));
	assert_true(file_size(path2) > 0);
	read_temp_log(path2, buf, sizeof buf);
}

/* One line with numbers at their limits, formatted as the logger writes it. */
static void log_ev_format_check(char *line, size_t cap)
{
	const struct log_field f[] = {LOG_I("min", LLONG_MIN), LOG_I("max", LLONG_MAX),
	                              LOG_I("neg", -1), LOG_U("u0", 0), LOG_U("u", 1234567890ULL)};
	log_format_fields(LOG_FMT_KV, LOG_LVL_INFO, "c", "numbers", f, sizeof f / sizeof f[0], line,
	                  cap);
}

static void test_typed_fields(void **state)
{
	(void)state;
	char path[] = "/tmp/tglogXXXXXX";
	log_to_temp(path, LOG_LVL_INFO);
	log_ev(LOG_LVL_INFO, "c1", "typed", LOG_S("device", "SEP1"), LOG_I("bindings", -3),
	       LOG_U("bytes", 18446744073709551615ULL), LOG_S("absent", NULL), LOG_I("zero", 0));
	log_ev(LOG_LVL_DEBUG, "c2", "below_level", LOG_I("n", 1));
	const char *kv[2 * (LOG_FIELDS_MAX + 2)];
	char names[LOG_FIELDS_MAX + 2][8];
	for (int i = 0; i < LOG_FIELDS_MAX + 2; i++) {
		snprintf(names[i], sizeof names[i], "k%d", i);
		kv[2 * i] = names[i];
		kv[2 * i + 1] = "v";
	}
	struct log_field many[LOG_FIELDS_MAX + 2];
	for (int i = 0; i < LOG_FIELDS_MAX + 2; i++)
		many[i] = LOG_S(names[i], "v");
	log_fields(LOG_LVL_INFO, "c3", "many", many, LOG_FIELDS_MAX + 2);
	log_event(LOG_LVL_INFO, "c4", "many_kv", kv[0], kv[1], kv[2], kv[3], kv[4], kv[5], kv[6],
	          kv[7], kv[8], kv[9], kv[10], kv[11], kv[12], kv[13], kv[14], kv[15], kv[16],
	          kv[17], kv[18], kv[19], kv[20], kv[21], kv[22], kv[23], kv[24], kv[25], kv[26],
	          kv[27], kv[28], kv[29], kv[30], kv[31], kv[32], kv[33], kv[34], kv[35], kv[36],
	          kv[37], kv[38], kv[39], kv[40], kv[41], kv[42], kv[43], kv[44], kv[45], kv[46],
	          kv[47], kv[48], kv[49], kv[50], kv[51], kv[52], kv[53], kv[54], kv[55], kv[56],
	          kv[57], kv[58], kv[59], kv[60], kv[61], kv[62], kv[63], kv[64], kv[65],
	          (const char *)NULL);
	char buf[8192];
	read_temp_log(path, buf, sizeof buf);
	assert_non_null(strstr(buf, "event=typed device=SEP1 bindings=-3 "
	                            "bytes=18446744073709551615 zero=0\n"));
	/* the numbers at their limits, as snprintf's %lld and %llu write them */
	char line[512];
	char want[128];
	snprintf(want, sizeof want, "min=%lld max=%lld neg=-1 u0=0 u=%llu", LLONG_MIN, LLONG_MAX,
	         1234567890ULL);
	log_ev_format_check(line, sizeof line);
	assert_non_null(strstr(line, want));
	/* the time: YYYY-MM-DDTHH:MM:SS.mmmZ */
	const char *ts = strstr(line, " ts=");
	assert_non_null(ts);
	ts += 4;
	for (int i = 0; i < 24; i++) {
		const char *shape = "dddd-dd-ddTdd:dd:dd.dddZ";
		if (shape[i] == 'd')
			assert_true(ts[i] >= '0' && ts[i] <= '9');
		else
			assert_int_equal(ts[i], shape[i]);
	}
	assert_int_equal(ts[24], ' ');
	assert_null(strstr(buf, "below_level"));
	assert_non_null(strstr(buf, "k30=v truncated=fields\n"));
	assert_null(strstr(buf, "k31=v"));
	char *kvline = strstr(buf, "event=many_kv");
	assert_non_null(kvline);
	assert_non_null(strstr(kvline, "k30=v truncated=fields\n"));
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

/* Alarms take typed fields too: numbers are formatted by the logger, the history keeps
 * the same text as the log line, and a caller passing more fields than fit (only possible
 * through alarm_fields or alarm_raise; alarm_ev does not compile) is told with
 * truncated=fields, never cut silently. */
static void test_alarm_typed_fields(void **state)
{
	(void)state;
	char path[] = "/tmp/tglogXXXXXX";
	log_to_temp(path, LOG_LVL_INFO);
	alarm_ev("CredentialLockout", ALARM_WARNING, "c5", LOG_S("UserID", "jpinkman"),
	         LOG_I("HackCount", 100), LOG_S("Absent", NULL));
	static struct alarm_rec r[1];
	assert_int_equal(alarm_history(r, 1), 1);
	assert_string_equal(r[0].name, "CredentialLockout");
	assert_string_equal(r[0].fields, "UserID=jpinkman HackCount=100");
	struct log_field many[LOG_FIELDS_MAX + 2];
	char names[LOG_FIELDS_MAX + 2][8];
	for (int i = 0; i < LOG_FIELDS_MAX + 2; i++) {
		snprintf(names[i], sizeof names[i], "k%d", i);
		many[i] = LOG_I(names[i], i);
	}
	alarm_fields("Many", ALARM_NOTICE, "c6", many, LOG_FIELDS_MAX + 2);
	assert_int_equal(alarm_history(r, 1), 1);
	assert_non_null(strstr(r[0].fields, "k28=28 truncated=fields"));
	char buf[8192];
	read_temp_log(path, buf, sizeof buf);
	assert_non_null(strstr(buf, "cid=c5 "));
	assert_non_null(strstr(buf, "event=alarm alarm=CredentialLockout severity=Warning "
	                            "UserID=jpinkman HackCount=100\n"));
	char *many_line = strstr(buf, "alarm=Many");
	assert_non_null(many_line);
	assert_non_null(strstr(many_line, "k28=28 truncated=fields\n"));
	assert_null(strstr(many_line, "k29="));
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
	    cmocka_unit_test(test_typed_fields),
	    cmocka_unit_test(test_buffering),
	    cmocka_unit_test(test_alarm_typed_fields),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
