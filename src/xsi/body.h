/* SPDX-License-Identifier: ISC */
/*
 * xsi/body: the request bodies of the cloud CTI event interface (BroadWorks Xsi-Events
 * v2.0, namespace http://schema.broadsoft.com/xsi; docs/cti-events.md cites the sources):
 * <Channel> (open or refresh a channel), <Subscription> (subscribe or refresh) and
 * <EventResponse> (acknowledge an event). Parsed with the CTI parser's hardening
 * (cti_xml_read: at most XSI_BODY_MAX bytes, no DTD, no entities, no network).
 *
 * Pure: any thread. Ownership: the caller's struct, filled by value.
 */
#ifndef TG_XSI_BODY_H
#define TG_XSI_BODY_H

#include <stddef.h>

#define XSI_NS "http://schema.broadsoft.com/xsi"
#define XSI_BODY_MAX 16384          /* bytes of a request body: the largest real one is < 1 KiB */
#define XSI_ID_MAX 128              /* bytes of channelSetId, applicationId, eventID, ... */
#define XSI_EXPIRES_MAX (7 * 86400) /* seconds: a longer request is cut to this */

enum xsi_body_type {
	XSI_BODY_CHANNEL = 1,    /* <Channel> */
	XSI_BODY_SUBSCRIPTION,   /* <Subscription> */
	XSI_BODY_EVENT_RESPONSE, /* <EventResponse> */
};

struct xsi_body {
	enum xsi_body_type type;
	char channel_set_id[XSI_ID_MAX + 1]; /* Channel, Subscription */
	char application_id[XSI_ID_MAX + 1]; /* Channel, Subscription (optional) */
	char event[64];                      /* Subscription: the event package */
	char event_id[XSI_ID_MAX + 1];       /* EventResponse */
	char reason[128];                    /* EventResponse (optional) */
	int priority, weight;                /* Channel (optional: 1 and 100) */
	int expires;                         /* seconds; -1 when absent */
	int status_code;                     /* EventResponse; -1 when absent */
};

/* Parses one body. Returns 0, or -1 with err saying why (not well-formed, DTD, oversized,
 * a root that is not one of the three in XSI_NS, a field too long or not a number). */
int xsi_body_parse(const char *xml, size_t len, struct xsi_body *b, char *err, size_t errlen);

#endif
