/* SPDX-License-Identifier: ISC */
#include "core/ctlproto.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int ctl_frame_peek(const unsigned char *buf, size_t len, const unsigned char **body,
                   size_t *body_len, size_t *consumed)
{
	*consumed = 0;
	if (len < CTL_HDR_LEN)
		return 0;
	uint32_t n =
	    (uint32_t)buf[0] << 24 | (uint32_t)buf[1] << 16 | (uint32_t)buf[2] << 8 | buf[3];
	if (n == 0 || n > CTL_FRAME_MAX)
		return -1;
	*consumed = CTL_HDR_LEN + (size_t)n;
	if (len - CTL_HDR_LEN < n)
		return 0;
	*body = buf + CTL_HDR_LEN;
	*body_len = n;
	return 1;
}

void ctl_frame_header(uint32_t body_len, unsigned char out[4])
{
	out[0] = (unsigned char)(body_len >> 24);
	out[1] = (unsigned char)(body_len >> 16);
	out[2] = (unsigned char)(body_len >> 8);
	out[3] = (unsigned char)body_len;
}

char *ctl_encode(const json_t *obj, size_t *len)
{
	char *s = json_dumps(obj, JSON_COMPACT);
	if (!s)
		return NULL;
	size_t n = strlen(s);
	if (n == 0 || n > CTL_FRAME_MAX) {
		free(s);
		return NULL;
	}
	*len = n;
	return s;
}

int ctl_request_parse(const char *body, size_t len, struct ctl_request *req, char *err,
                      size_t errlen)
{
	memset(req, 0, sizeof *req);
	req->peer_uid = req->peer_pid = -1;
	json_error_t je;
	/* REJECT_DUPLICATES: one meaning per request; DISABLE_EOF_CHECK off: no trailing junk. */
	json_t *root = json_loadb(body, len, JSON_REJECT_DUPLICATES, &je);
	if (!root) {
		snprintf(err, errlen, "malformed request: %s at byte %d", je.text, je.position);
		return -1;
	}
	if (!json_is_object(root)) {
		snprintf(err, errlen, "malformed request: not a JSON object");
		goto fail;
	}
	const char *key;
	json_t *val;
	json_object_foreach(root, key, val)
	{
		if (strcmp(key, "argv") != 0 && strcmp(key, "data") != 0) {
			snprintf(err, errlen, "malformed request: unknown member '%.32s'", key);
			goto fail;
		}
	}
	json_t *argv = json_object_get(root, "argv");
	if (!json_is_array(argv) || json_array_size(argv) == 0) {
		snprintf(err, errlen, "malformed request: argv must be a non-empty array");
		goto fail;
	}
	if (json_array_size(argv) > CTL_ARGV_MAX) {
		snprintf(err, errlen, "malformed request: more than %d arguments", CTL_ARGV_MAX);
		goto fail;
	}
	for (size_t i = 0; i < json_array_size(argv); i++) {
		json_t *a = json_array_get(argv, i);
		if (!json_is_string(a)) {
			snprintf(err, errlen, "malformed request: argv[%zu] is not a string", i);
			goto fail;
		}
		if (json_string_length(a) > CTL_ARG_MAX ||
		    strlen(json_string_value(a)) != json_string_length(a)) {
			snprintf(err, errlen,
			         "malformed request: argv[%zu] is too long or holds a NUL", i);
			goto fail;
		}
		req->argv[req->argc++] = json_string_value(a);
	}
	json_t *data = json_object_get(root, "data");
	if (data) {
		if (!json_is_string(data)) {
			snprintf(err, errlen, "malformed request: data must be a string");
			goto fail;
		}
		req->data = json_string_value(data);
		req->data_len = json_string_length(data);
	}
	req->root = root;
	return 0;
fail:
	json_decref(root);
	memset(req, 0, sizeof *req);
	return -1;
}

void ctl_request_free(struct ctl_request *req)
{
	json_decref(req->root);
	memset(req, 0, sizeof *req);
}

static json_t *with_text(int ok, const char *key, const char *fmt, va_list ap)
    __attribute__((format(printf, 3, 0)));
static json_t *with_text(int ok, const char *key, const char *fmt, va_list ap)
{
	char buf[2048];
	vsnprintf(buf, sizeof buf, fmt, ap);
	return json_pack("{s:b,s:s}", "ok", ok, key, buf);
}

json_t *ctl_error(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	json_t *r = with_text(0, "error", fmt, ap);
	va_end(ap);
	return r;
}

json_t *ctl_message(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	json_t *r = with_text(1, "message", fmt, ap);
	va_end(ap);
	return r;
}

json_t *ctl_table(const char *const *columns, size_t ncols)
{
	json_t *cols = json_array();
	for (size_t i = 0; i < ncols; i++)
		json_array_append_new(cols, json_string(columns[i]));
	return json_pack("{s:b,s:o,s:[]}", "ok", 1, "columns", cols, "rows");
}

/* Stored text is not always valid UTF-8; JSON must be, so replace bad bytes with '?'. */
static json_t *safe_string(const char *v)
{
	json_t *s = json_string(v);
	if (s)
		return s;
	size_t n = strlen(v);
	char *copy = malloc(n + 1);
	if (!copy)
		return json_null();
	for (size_t i = 0; i < n; i++)
		copy[i] = (unsigned char)v[i] < 0x80 ? v[i] : '?';
	copy[n] = '\0';
	s = json_string(copy);
	free(copy);
	return s ? s : json_null();
}

int ctl_table_add_row(json_t *table, const char *const *vals, size_t ncols)
{
	json_t *row = json_array();
	for (size_t i = 0; i < ncols; i++)
		json_array_append_new(row, vals[i] ? safe_string(vals[i]) : json_null());
	return json_array_append_new(json_object_get(table, "rows"), row);
}
