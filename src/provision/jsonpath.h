/* SPDX-License-Identifier: ISC */
/*
 * jsonpath: names the JSON path ("$.users[0].userid") of the member whose key ends at a
 * byte offset of a document, so an error jansson reports by offset (a duplicate key) can
 * be reported like every other import error (docs/provisioning.md).
 *
 * It reads only text[0..pos), a prefix jansson has already accepted, so it tracks nesting
 * and keys and never judges validity. Pure, no global state, allocates one frame stack.
 */
#ifndef TG_PROV_JSONPATH_H
#define TG_PROV_JSONPATH_H

#include <stddef.h>

/* Writes the path of the value being read at byte offset pos (when pos is just after a
 * member's key: that member's path) into out (capacity cap, always NUL-terminated; keys
 * longer than 64 bytes and paths longer than cap are cut). Keys are shown decoded, as in
 * every other import error. Returns 0, or -1 when the prefix is not inside any object or
 * array (out is then "$"). */
int prov_json_path_at(const char *text, size_t len, size_t pos, char *out, size_t cap);

#endif
