/* SPDX-License-Identifier: ISC */
/*
 * oauth_error: the one table from an OAuth outcome to its answer (issue 18): the error
 * codes of RFC 6749 §5.2 (token endpoint), §4.1.2.1 (authorization), RFC 8628 §3.5
 * (device polling), RFC 7009 §2.2.1 and the HTTP status each gets. Constant data, any
 * thread.
 */
#ifndef TG_AUTHZ_OAUTH_ERROR_H
#define TG_AUTHZ_OAUTH_ERROR_H

#include <jansson.h>

enum oauth_err {
	OAUTH_ERR_NONE = 0,
	OAUTH_ERR_INVALID_REQUEST,           /* 400: missing, repeated or malformed parameter */
	OAUTH_ERR_INVALID_CLIENT,            /* 401: client authentication failed */
	OAUTH_ERR_INVALID_GRANT,             /* 400: code/refresh token/device code not valid */
	OAUTH_ERR_UNAUTHORIZED_CLIENT,       /* 400: the client may not use this grant */
	OAUTH_ERR_UNSUPPORTED_GRANT_TYPE,    /* 400 */
	OAUTH_ERR_INVALID_SCOPE,             /* 400: a scope the client does not have */
	OAUTH_ERR_AUTHORIZATION_PENDING,     /* 400: RFC 8628: the user has not decided yet */
	OAUTH_ERR_SLOW_DOWN,                 /* 400: RFC 8628: polled too fast */
	OAUTH_ERR_ACCESS_DENIED,             /* 400: the user said no */
	OAUTH_ERR_EXPIRED_TOKEN,             /* 400: RFC 8628: the device code expired */
	OAUTH_ERR_UNSUPPORTED_TOKEN_TYPE,    /* 400: RFC 7009 */
	OAUTH_ERR_UNSUPPORTED_RESPONSE_TYPE, /* authorization endpoint: response_type not code */
	OAUTH_ERR_TEMPORARILY_UNAVAILABLE,   /* 503: the signer or the store is not there */
	OAUTH_ERR_SERVER_ERROR,              /* 500 */
	OAUTH_ERRS
};

/* "invalid_request", ... */
const char *oauth_err_name(enum oauth_err e);
/* The HTTP status of the token-endpoint answer. */
int oauth_err_status(enum oauth_err e);
/* {"error": name, "error_description": desc} (desc may be NULL: left out). New
 * reference, NULL on allocation failure. */
json_t *oauth_err_json(enum oauth_err e, const char *desc);

#endif
