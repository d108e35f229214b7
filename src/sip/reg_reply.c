/* SPDX-License-Identifier: ISC */
/* The REGISTER reply table (register.h): one row per outcome, the only place that says
 * which status, reason phrase, headers, Warning and challenge an outcome is answered with,
 * and whether the answer is held (Kamailio registrar's reply.c keeps the same kind of
 * table). The texts are what phones and the system tests have always seen. */
#include "sip/register.h"

#define ALLOW "Allow: REGISTER, OPTIONS\r\n"

static const struct sip_reg_reply rows[SIP_REG_OUTCOMES] = {
    [SIP_REG_CONTINUE] = {.outcome = SIP_REG_CONTINUE, .name = "continue"},
    [SIP_REG_NO_ANSWER] = {.outcome = SIP_REG_NO_ANSWER, .name = "no_answer"},
    [SIP_REG_OK] = {.outcome = SIP_REG_OK, .name = "ok", .code = 200, .reason = "OK", .detail = 1},
    [SIP_REG_OPTIONS] = {.outcome = SIP_REG_OPTIONS,
                         .name = "options",
                         .code = 200,
                         .reason = "OK",
                         .headers = ALLOW "Accept: application/sdp\r\n"},
    [SIP_REG_CHALLENGE] = {.outcome = SIP_REG_CHALLENGE,
                           .name = "challenge",
                           .code = 401,
                           .reason = "Unauthorized",
                           .challenge = 1},
    [SIP_REG_STALE] = {.outcome = SIP_REG_STALE,
                       .name = "stale",
                       .code = 401,
                       .reason = "Unauthorized",
                       .challenge = 1,
                       .stale = 1},
    [SIP_REG_UNAUTHORIZED_USER] = {.outcome = SIP_REG_UNAUTHORIZED_USER,
                                   .name = "unauthorized_user",
                                   .code = 401,
                                   .reason = "Unauthorized",
                                   .warning =
                                       "Authorization failure - Unauthorized user for this device",
                                   .warn_node = 1,
                                   .challenge = 1},
    [SIP_REG_FORBIDDEN] = {.outcome = SIP_REG_FORBIDDEN,
                           .name = "forbidden",
                           .code = 403,
                           .reason = "Forbidden",
                           .held = 1},
    [SIP_REG_THROTTLED] = {.outcome = SIP_REG_THROTTLED,
                           .name = "throttled",
                           .code = 403,
                           .reason = "Forbidden"},
    [SIP_REG_UNREADABLE_AUTH] = {.outcome = SIP_REG_UNREADABLE_AUTH,
                                 .name = "unreadable_auth",
                                 .code = 403,
                                 .reason = "Forbidden",
                                 .warning = "Unreadable Authorization"},
    [SIP_REG_TOO_MANY_BINDINGS] = {.outcome = SIP_REG_TOO_MANY_BINDINGS,
                                   .name = "too_many_bindings",
                                   .code = 403,
                                   .reason = "Too Many Bindings"},
    [SIP_REG_METHOD_NOT_ALLOWED] = {.outcome = SIP_REG_METHOD_NOT_ALLOWED,
                                    .name = "method_not_allowed",
                                    .code = 405,
                                    .reason = "Method Not Allowed",
                                    .headers = ALLOW},
    [SIP_REG_BAD_EXTENSION] = {.outcome = SIP_REG_BAD_EXTENSION,
                               .name = "bad_extension",
                               .code = 420,
                               .reason = "Bad Extension",
                               .detail = 1},
    [SIP_REG_INTERVAL_TOO_BRIEF] = {.outcome = SIP_REG_INTERVAL_TOO_BRIEF,
                                    .name = "interval_too_brief",
                                    .code = 423,
                                    .reason = "Interval Too Brief",
                                    .detail = 1},
    [SIP_REG_OUT_OF_ORDER] = {.outcome = SIP_REG_OUT_OF_ORDER,
                              .name = "out_of_order",
                              .code = 500,
                              .reason = "Out of order CSeq",
                              .headers = "Retry-After: 1\r\n"},
    [SIP_REG_SERVER_ERROR] = {.outcome = SIP_REG_SERVER_ERROR,
                              .name = "server_error",
                              .code = 500,
                              .reason = "Server Internal Error",
                              .headers = "Retry-After: 5\r\n"},
    [SIP_REG_BUSY] = {.outcome = SIP_REG_BUSY,
                      .name = "busy",
                      .code = 503,
                      .reason = "Service Unavailable",
                      .headers = "Retry-After: 5\r\n"},
};

const struct sip_reg_reply *sip_reg_reply(enum sip_reg_outcome o)
{
	if ((int)o < 0 || o >= SIP_REG_OUTCOMES)
		return NULL;
	return &rows[o];
}
