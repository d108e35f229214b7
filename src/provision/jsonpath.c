/* SPDX-License-Identifier: ISC */
#include "provision/jsonpath.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* jansson refuses documents nested deeper than this (JSON_PARSER_MAX_DEPTH), so a prefix
 * it accepted never needs more frames. */
#define JSONPATH_DEPTH_MAX 2048

struct frame {
	int object;       /* 1: object, 0: array */
	int want_key;     /* object: the next string is a key */
	long index;       /* array: the element being read */
	size_t key, klen; /* object: the quoted key of the member being read */
};

/* Offset just past the string that opens at text[i] (a '"'), or len if it does not end. */
static size_t skip_string(const char *text, size_t len, size_t i)
{
	for (i++; i < len; i++) {
		if (text[i] == '\\')
			i++;
		else if (text[i] == '"')
			return i + 1;
	}
	return len;
}

/* Appends ".key" (decoded by jansson, so "\u0061" reads "a") or "[index]" to out. */
static void append_step(const char *text, const struct frame *f, char *out, size_t cap)
{
	size_t used = strlen(out);
	if (!f->object) {
		snprintf(out + used, cap - used, "[%ld]", f->index);
		return;
	}
	json_t *k = json_loadb(text + f->key, f->klen, JSON_DECODE_ANY, NULL);
	snprintf(out + used, cap - used, ".%.64s", json_is_string(k) ? json_string_value(k) : "?");
	json_decref(k);
}

static void enter(struct frame *st, int *depth, int object)
{
	if (*depth < JSONPATH_DEPTH_MAX)
		st[*depth] = (struct frame){.object = object, .want_key = object};
	(*depth)++;
}

int prov_json_path_at(const char *text, size_t len, size_t pos, char *out, size_t cap)
{
	snprintf(out, cap, "$");
	struct frame *st = calloc(JSONPATH_DEPTH_MAX, sizeof *st);
	if (!st)
		return -1;
	int depth = 0;
	if (pos > len)
		pos = len;
	for (size_t i = 0; i < pos;) {
		struct frame *top =
		    depth > 0 && depth <= JSONPATH_DEPTH_MAX ? &st[depth - 1] : NULL;
		char ch = text[i];
		if (ch == '"') {
			size_t end = skip_string(text, len, i);
			if (top && top->object && top->want_key) {
				top->key = i;
				top->klen = end - i;
				top->want_key = 0;
			}
			i = end;
			continue;
		}
		if (ch == '{' || ch == '[')
			enter(st, &depth, ch == '{');
		else if ((ch == '}' || ch == ']') && depth > 0)
			depth--;
		else if (ch == ',' && top && top->object)
			top->want_key = 1;
		else if (ch == ',' && top)
			top->index++;
		i++;
	}
	for (int d = 0; d < depth && d < JSONPATH_DEPTH_MAX; d++)
		append_step(text, &st[d], out, cap);
	free(st);
	return depth > 0 ? 0 : -1;
}
