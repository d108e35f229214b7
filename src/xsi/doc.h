/* SPDX-License-Identifier: ISC */
/*
 * xsi/doc: the XML documents the cloud CTI event interface sends, in the Xsi-Events v2.0
 * schema (namespace XSI_NS; docs/cti-events.md): the <Channel> that opens a channel's
 * stream, <ChannelHeartBeat/>, the <xsi:Event> of a subscription (xsi:SubscriptionEvent,
 * with an eventID and a sequenceNumber per subscription), xsi:ChannelTerminatedEvent,
 * the <Subscription> answer and <ErrorInfo>. Values are XML-escaped.
 *
 * Pure: any thread. Each writes into the caller's builder; a document that does not fit
 * leaves it failed (tg_sbuf_len -1).
 */
#ifndef TG_XSI_DOC_H
#define TG_XSI_DOC_H

#include <stdint.h>

struct tg_sbuf;

#define XSI_DOC_DECL "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"

void xsi_doc_channel(struct tg_sbuf *o, const char *channel_id, const char *set_id, int priority,
                     int weight, int expires_s);
void xsi_doc_heartbeat(struct tg_sbuf *o);
/* A SubscriptionEvent; data is the <xsi:eventData ...> element, already built. */
struct xsi_doc_event {
	const char *event_id, *user_id, *application_id, *subscription_id, *channel_id, *target_id,
	    *data;
	uint64_t seq;
};
void xsi_doc_event(struct tg_sbuf *o, const struct xsi_doc_event *e);
/* The eventData of the packages (docs/cti-events.md "Packages"): "Device State" and
 * "Registration"; contact may be "". */
void xsi_doc_device_state(struct tg_sbuf *o, const char *device, int in_service,
                          const char *contact);
void xsi_doc_registration(struct tg_sbuf *o, const char *device, int registered,
                          const char *contact);
/* SubscriptionTerminatedEvent's eventData. */
void xsi_doc_subscription_terminated(struct tg_sbuf *o, const char *reason);
void xsi_doc_channel_terminated(struct tg_sbuf *o, const char *channel_id, const char *reason);
void xsi_doc_subscription(struct tg_sbuf *o, const char *subscription_id, int expires_s);
void xsi_doc_error(struct tg_sbuf *o, int code, const char *summary);

#endif
