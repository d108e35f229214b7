/* SPDX-License-Identifier: ISC */
#include "authz/oauth_error.h"

static const struct {
	const char *name;
	int status;
} errs[OAUTH_ERRS] = {
    [OAUTH_ERR_NONE] = {"", 200},
    [OAUTH_ERR_INVALID_REQUEST] = {"invalid_request", 400},
    [OAUTH_ERR_INVALID_CLIENT] = {"invalid_client", 401},
    [OAUTH_ERR_INVALID_GRANT] = {"invalid_grant", 400},
    [OAUTH_ERR_UNAUTHORIZED_CLIENT] = {"unauthorized_client", 400},
    [OAUTH_ERR_UNSUPPORTED_GRANT_TYPE] = {"unsupported_grant_type", 400},
    [OAUTH_ERR_INVALID_SCOPE] = {"invalid_scope", 400},
    [OAUTH_ERR_AUTHORIZATION_PENDING] = {"authorization_pending", 400},
    [OAUTH_ERR_SLOW_DOWN] = {"slow_down", 400},
    [OAUTH_ERR_ACCESS_DENIED] = {"access_denied", 400},
    [OAUTH_ERR_EXPIRED_TOKEN] = {"expired_token", 400},
    [OAUTH_ERR_UNSUPPORTED_TOKEN_TYPE] = {"unsupported_token_type", 400},
    [OAUTH_ERR_UNSUPPORTED_RESPONSE_TYPE] = {"unsupported_response_type", 400},
    [OAUTH_ERR_TEMPORARILY_UNAVAILABLE] = {"temporarily_unavailable", 503},
    [OAUTH_ERR_SERVER_ERROR] = {"server_error", 500},
};

const char *oauth_err_name(enum oauth_err e)
{
	return e < OAUTH_ERRS ? errs[e].name : "server_error";
}

int oauth_err_status(enum oauth_err e)
{
	return e < OAUTH_ERRS ? errs[e].status : 500;
}

json_t *oauth_err_json(enum oauth_err e, const char *desc)
{
	json_t *j = json_pack("{s:s}", "error", oauth_err_name(e));
	if (j && desc)
		json_object_set_new(j, "error_description", json_string(desc));
	return j;
}
