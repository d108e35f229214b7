/* SPDX-License-Identifier: ISC */
#include "cti/outcome.h"
#include "cti/proto.h"

#define ERR(o, cat, val, why) [o] = {CTI_ANSWER_CSTA_ERROR, cat, val, why}
#define NEG(o, val, why) [o] = {CTI_ANSWER_SESSION_NEG, NULL, val, why}

/* What each refusal sends. The peer learns only what the value says: a refused login is
 * "invalidApplicationInfo" whatever the reason (docs/protocol.md), so that a peer cannot
 * tell an unknown user from a wrong password — nor, for the certificate rows, which users
 * need a certificate. The reason (one per row) is in the trace. */
static const struct cti_answer answers[CTI_OUTCOME_N] = {
    NEG(CTI_LOGIN_IN_SESSION, "invalidApplicationInfo", "a session is already open"),
    NEG(CTI_LOGIN_PROTOCOL, "requestedProtocolVersionNotSupported",
        "no supported protocol version requested"),
    NEG(CTI_LOGIN_PLAIN, "invalidApplicationInfo",
        "login over plain TCP refused (cti.allow_plain_login = no)"),
    NEG(CTI_LOGIN_TOKEN, "invalidApplicationInfo",
        "access-token login is not available on this server"),
    NEG(CTI_LOGIN_MISSING, "invalidApplicationInfo", "userID or password missing"),
    NEG(CTI_LOGIN_TOKEN_REFUSED, "invalidApplicationInfo", NULL),
    NEG(CTI_LOGIN_TOKEN_USER, "invalidApplicationInfo",
        "the userID is not the access token's subject (sub)"),
    NEG(CTI_LOGIN_OVERLOADED, "invalidApplicationInfo", "directory overloaded"),
    NEG(CTI_LOGIN_DIRECTORY, "invalidApplicationInfo", NULL),
    NEG(CTI_LOGIN_NOT_ENABLED, "invalidApplicationInfo", "user is not in Standard CTI Enabled"),
    NEG(CTI_LOGIN_TLS_REQUIRED, "invalidApplicationInfo",
        "user is in Standard CTI Secure Connection: TLS required"),
    NEG(CTI_LOGIN_CERT_MISSING, "invalidApplicationInfo",
        "certificate required (Standard CTI Secure Connection or CTI authentication type "
        "certificate) but none was presented"),
    NEG(CTI_LOGIN_CERT_FOREIGN, "invalidApplicationInfo", "certificate not issued by telgate's CA"),
    NEG(CTI_LOGIN_CERT_UNLISTED, "invalidApplicationInfo",
        "certificate signed by telgate's CA but not in the issued-certificates table"),
    NEG(CTI_LOGIN_CERT_NOT_YET_VALID, "invalidApplicationInfo", "certificate not yet valid"),
    NEG(CTI_LOGIN_CERT_EXPIRED, "invalidApplicationInfo", "certificate expired"),
    NEG(CTI_LOGIN_CERT_REVOKED, "invalidApplicationInfo", "certificate revoked"),
    NEG(CTI_LOGIN_CERT_STORE, "invalidApplicationInfo",
        "certificate status unknown: the issued-certificates table could not be read"),
    NEG(CTI_LOGIN_CERT_OTHER_USER, "invalidApplicationInfo",
        "certificate issued to another user (its CN is not the userID)"),
    [CTI_RESET_BAD_SESSION] = {CTI_ANSWER_RESET_NEG, NULL, "invalidSessionID", "unknown sessionID"},
    ERR(CTI_STOP_BAD_SESSION, "operation", "invalidParameterValue", "unknown sessionID"),
    ERR(CTI_REQ_MALFORMED, "operation", "generic", NULL),
    ERR(CTI_REQ_NO_SESSION, "operation", "securityViolation",
        "request before StartApplicationSession"),
    ERR(CTI_REQ_UNSUPPORTED, "operation", "invalidFeature", NULL),
    ERR(CTI_SERVER_BUSY, "systemResourceAvailability", "generic", "server busy"),
    ERR(CTI_NO_MEMORY, "systemResourceAvailability", "generic", "out of memory"),
    ERR(CTI_DEV_UNKNOWN, "operation", "invalidDeviceIdentifier", "no such device"),
    ERR(CTI_DEV_FORBIDDEN, "operation", "privilegeViolationOnSpecifiedDevice",
        "device not associated"),
    ERR(CTI_DEV_STORE, "systemResourceAvailability", "generic", NULL),
    ERR(CTI_DEV_LIST_TOO_LONG, "systemResourceAvailability", "generic",
        "device list too long for one message"),
    ERR(CTI_MON_TOO_MANY, "systemResourceAvailability", "generic",
        "too many monitors in this session"),
    ERR(CTI_MON_UNKNOWN, "operation", "invalidCrossRefID", "no such monitor"),
};

static const char *const names[CTI_OUTCOME_N] = {
    [CTI_OK] = "ok",
    [CTI_LOGIN_IN_SESSION] = "login_in_session",
    [CTI_LOGIN_PROTOCOL] = "login_protocol",
    [CTI_LOGIN_PLAIN] = "login_plain",
    [CTI_LOGIN_TOKEN] = "login_token",
    [CTI_LOGIN_MISSING] = "login_missing",
    [CTI_LOGIN_TOKEN_REFUSED] = "login_token_refused",
    [CTI_LOGIN_TOKEN_USER] = "login_token_user",
    [CTI_LOGIN_OVERLOADED] = "login_overloaded",
    [CTI_LOGIN_DIRECTORY] = "login_directory",
    [CTI_LOGIN_NOT_ENABLED] = "login_not_enabled",
    [CTI_LOGIN_TLS_REQUIRED] = "login_tls_required",
    [CTI_LOGIN_CERT_MISSING] = "login_cert_missing",
    [CTI_LOGIN_CERT_FOREIGN] = "login_cert_foreign",
    [CTI_LOGIN_CERT_UNLISTED] = "login_cert_unlisted",
    [CTI_LOGIN_CERT_NOT_YET_VALID] = "login_cert_not_yet_valid",
    [CTI_LOGIN_CERT_EXPIRED] = "login_cert_expired",
    [CTI_LOGIN_CERT_REVOKED] = "login_cert_revoked",
    [CTI_LOGIN_CERT_STORE] = "login_cert_store",
    [CTI_LOGIN_CERT_OTHER_USER] = "login_cert_other_user",
    [CTI_RESET_BAD_SESSION] = "reset_bad_session",
    [CTI_STOP_BAD_SESSION] = "stop_bad_session",
    [CTI_REQ_MALFORMED] = "req_malformed",
    [CTI_REQ_NO_SESSION] = "req_no_session",
    [CTI_REQ_UNSUPPORTED] = "req_unsupported",
    [CTI_SERVER_BUSY] = "server_busy",
    [CTI_NO_MEMORY] = "no_memory",
    [CTI_DEV_UNKNOWN] = "dev_unknown",
    [CTI_DEV_FORBIDDEN] = "dev_forbidden",
    [CTI_DEV_STORE] = "dev_store",
    [CTI_DEV_LIST_TOO_LONG] = "dev_list_too_long",
    [CTI_MON_TOO_MANY] = "mon_too_many",
    [CTI_MON_UNKNOWN] = "mon_unknown",
};

const struct cti_answer *cti_outcome_answer(enum cti_outcome o)
{
	if ((unsigned)o >= CTI_OUTCOME_N || !answers[o].kind)
		return NULL;
	return &answers[o];
}

const char *cti_outcome_name(enum cti_outcome o)
{
	return (unsigned)o < CTI_OUTCOME_N && names[o] ? names[o] : "?";
}

int cti_outcome_xml(enum cti_outcome o, char *out, size_t cap)
{
	const struct cti_answer *a = cti_outcome_answer(o);
	if (!a)
		return -1;
	switch (a->kind) {
	case CTI_ANSWER_CSTA_ERROR:
		return cti_xml_error(out, cap, a->category, a->value);
	case CTI_ANSWER_SESSION_NEG:
		return cti_xml_start_session_neg(out, cap, a->value);
	case CTI_ANSWER_RESET_NEG:
		return cti_xml_reset_timer_neg(out, cap, a->value);
	}
	return -1;
}
