/* SPDX-License-Identifier: ISC */
/*
 * oauth_form: the OAuth endpoints' input, strict and bounded (issue 18): the
 * application/x-www-form-urlencoded body of /oauth/token, /oauth/revoke,
 * /oauth/introspect, /oauth/device_authorization and the login form (RFC 6749 §3.2:
 * "Request and response parameters MUST NOT be included more than once"; a bad
 * %-escape, a NUL or a value that is not UTF-8 is refused too), and HTTP Basic client
 * authentication (RFC 6749 §2.3.1: client id and secret form-urlencoded, then
 * "id:secret" in base64, RFC 7617). Pure functions on the caller's bytes, any thread; the
 * fuzz target oauth_form drives both.
 */
#ifndef TG_AUTHZ_OAUTH_FORM_H
#define TG_AUTHZ_OAUTH_FORM_H

#include "core/http.h"

#include <stddef.h>

#define OAUTH_FORM_MAX 8192  /* bytes of a form body */
#define OAUTH_FORM_FIELDS 24 /* fields of a form */
#define OAUTH_VALUE_MAX 4096 /* bytes of one decoded value */
#define OAUTH_CLIENT_ID_MAX 128
#define OAUTH_SECRET_MAX 256

/* Parses a form body into *f (http_form_free it on success). Returns 0; -E2BIG for a body
 * over OAUTH_FORM_MAX, more than OAUTH_FORM_FIELDS fields or a value over OAUTH_VALUE_MAX;
 * -EINVAL for a bad %-escape, a NUL, a value that is not UTF-8, an empty name, or a name
 * given twice. On error *f is empty and *why a short static reason (for the
 * error_description). */
int oauth_form_parse(const char *body, size_t len, struct http_form *f, const char **why);

/* Parses "Basic <base64(id:secret)>" into id and secret (both form-urlencoded inside, RFC
 * 6749 §2.3.1). Returns 0; -ENOENT when the header is not Basic (another scheme); -EINVAL
 * when it is Basic but malformed (bad base64, no ':', bad escape, too long, empty id). The
 * secret buffer is the caller's to wipe. */
int oauth_basic_parse(const char *header, char id[OAUTH_CLIENT_ID_MAX + 1],
                      char secret[OAUTH_SECRET_MAX + 1], size_t *secret_len);

/* 1 when len bytes of s are well-formed UTF-8 (RFC 3629: no overlongs, no surrogates). */
int oauth_utf8_ok(const char *s, size_t len);

#endif
