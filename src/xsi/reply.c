/* SPDX-License-Identifier: ISC */
#include "xsi/reply.h"

static const struct xsi_reply replies[XSI_OUTCOMES] = {
    [XSI_OK] = {200, "OK"},
    [XSI_NO_CERTIFICATE] = {403, "a verified client certificate is required (trust anchors "
                                 "and allowClientApp true on this interface)"},
    [XSI_NOT_AN_IDENTITY] = {403, "the certificate's CN is not an allowed client identity"},
    [XSI_OUT_OF_SCOPE] = {403, "the subscriber is outside this client identity's scope"},
    [XSI_BAD_BODY] = {400, "bad request body"},
    [XSI_NOT_FOUND] = {404, "not found"},
    [XSI_NO_SUBSCRIBER] = {404, "no such subscriber"},
    [XSI_LIMIT] = {503, "a limit of this server is reached"},
    [XSI_BUSY] = {503, "busy, try again"},
    [XSI_INTERNAL] = {500, "internal error"},
};

const struct xsi_reply *xsi_reply_of(enum xsi_outcome oc)
{
	return &replies[(unsigned)oc < XSI_OUTCOMES ? oc : XSI_INTERNAL];
}
