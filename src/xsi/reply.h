/* SPDX-License-Identifier: ISC */
/*
 * xsi/reply: the one table from an outcome of the cloud CTI event interface to its HTTP
 * status and the ErrorInfo summary (xsi/doc.h). Constant data: any thread.
 */
#ifndef TG_XSI_REPLY_H
#define TG_XSI_REPLY_H

enum xsi_outcome {
	XSI_OK = 0,
	XSI_NO_CERTIFICATE,  /* no verified client certificate */
	XSI_NOT_AN_IDENTITY, /* its CN is not an allowed client identity */
	XSI_OUT_OF_SCOPE,    /* the subscriber is outside the identity's scope */
	XSI_BAD_BODY,        /* malformed, oversized or the wrong document */
	XSI_NOT_FOUND,       /* no such channel, subscription, event or path */
	XSI_NO_SUBSCRIBER,   /* no such user or group */
	XSI_LIMIT,           /* channels_max or subscriptions_max reached */
	XSI_BUSY,            /* the worker queue is full */
	XSI_INTERNAL,        /* the store failed, out of memory */
	XSI_OUTCOMES
};

struct xsi_reply {
	int status;
	const char *summary;
};
const struct xsi_reply *xsi_reply_of(enum xsi_outcome oc);

#endif
