/* SPDX-License-Identifier: ISC */
/*
 * jsonw: JSON text written straight into a bounded builder (tg_sbuf, core/util.h), for hot
 * paths that would otherwise build a jansson tree only to dump it at once: an access
 * token's header and claims, the token endpoint's answer, an introspection answer (each
 * measured: a tree, its dump and their allocations cost more than the text).
 *
 * Members are written with a leading comma: the caller opens the object with its first
 * member ("{\"active\":true") and closes it ("}"). Names are the caller's literals and are
 * not escaped. A string value must be UTF-8: an invalid sequence fails the builder (as
 * jansson refuses one), so does anything that does not fit (tg_sbuf_len gives -1).
 * No state: any thread.
 */
#ifndef TG_CORE_JSONW_H
#define TG_CORE_JSONW_H

#include "core/util.h"

#include <stdint.h>

/* A string value (RFC 8259 §7): quoted; quote, backslash and control characters escaped. */
void jsonw_str(struct tg_sbuf *b, const char *s);
/* The first n bytes of s as a string value (no NUL among them). */
void jsonw_strn(struct tg_sbuf *b, const char *s, size_t n);
/* ,"name":"value" */
void jsonw_member_str(struct tg_sbuf *b, const char *name, const char *value);
/* ,"name":v */
void jsonw_member_int(struct tg_sbuf *b, const char *name, int64_t v);

#endif
