/* SPDX-License-Identifier: ISC */
#include "xsi/doc.h"

#include "core/util.h"
#include "cti/proto.h"
#include "xsi/body.h"

#include <inttypes.h>
#include <stdio.h>

/* The event documents use the xsi: prefix and XML Schema's xsi1:type, as Xsi-Events
 * servers send them (docs/cti-events.md). */
#define EV_OPEN                                                                                    \
	"<xsi:Event xmlns:xsi=\"" XSI_NS "\" "                                                     \
	"xmlns:xsi1=\"http://www.w3.org/2001/XMLSchema-instance\" xsi1:type=\"xsi:"

static void el(struct tg_sbuf *o, const char *name, const char *value)
{
	tg_sbuf_put(o, "<");
	tg_sbuf_put(o, name);
	tg_sbuf_put(o, ">");
	cti_xml_escape(o, value);
	tg_sbuf_put(o, "</");
	tg_sbuf_put(o, name);
	tg_sbuf_put(o, ">");
}

static void el_num(struct tg_sbuf *o, const char *name, uint64_t v)
{
	char t[24];
	snprintf(t, sizeof t, "%" PRIu64, v);
	el(o, name, t);
}

void xsi_doc_channel(struct tg_sbuf *o, const char *channel_id, const char *set_id, int priority,
                     int weight, int expires_s)
{
	tg_sbuf_put(o, XSI_DOC_DECL "<Channel xmlns=\"" XSI_NS "\">");
	el(o, "channelId", channel_id);
	el(o, "channelSetId", set_id);
	el_num(o, "priority", (uint64_t)priority);
	el_num(o, "weight", (uint64_t)weight);
	el_num(o, "expires", (uint64_t)expires_s);
	tg_sbuf_put(o, "</Channel>\n");
}

void xsi_doc_heartbeat(struct tg_sbuf *o)
{
	tg_sbuf_put(o, XSI_DOC_DECL "<ChannelHeartBeat xmlns=\"" XSI_NS "\"/>\n");
}

void xsi_doc_event(struct tg_sbuf *o, const struct xsi_doc_event *e)
{
	tg_sbuf_put(o, XSI_DOC_DECL EV_OPEN "SubscriptionEvent\">");
	el(o, "xsi:eventID", e->event_id);
	el_num(o, "xsi:sequenceNumber", e->seq);
	el(o, "xsi:userId", e->user_id);
	el(o, "xsi:externalApplicationId", e->application_id);
	el(o, "xsi:subscriptionId", e->subscription_id);
	el(o, "xsi:channelId", e->channel_id);
	el(o, "xsi:targetId", e->target_id);
	tg_sbuf_put(o, e->data);
	tg_sbuf_put(o, "</xsi:Event>\n");
}

void xsi_doc_device_state(struct tg_sbuf *o, const char *device, int in_service,
                          const char *contact)
{
	tg_sbuf_put(o, "<xsi:eventData xsi1:type=\"xsi:DeviceStateEvent\">");
	el(o, "xsi:deviceName", device);
	el(o, "xsi:state", in_service ? "In Service" : "Out Of Service");
	if (contact[0])
		el(o, "xsi:contact", contact);
	tg_sbuf_put(o, "</xsi:eventData>");
}

void xsi_doc_registration(struct tg_sbuf *o, const char *device, int registered,
                          const char *contact)
{
	tg_sbuf_put(o, "<xsi:eventData xsi1:type=\"xsi:RegistrationEvent\">");
	el(o, "xsi:deviceName", device);
	el(o, "xsi:registered", registered ? "true" : "false");
	if (contact[0])
		el(o, "xsi:contact", contact);
	tg_sbuf_put(o, "</xsi:eventData>");
}

void xsi_doc_subscription_terminated(struct tg_sbuf *o, const char *reason)
{
	tg_sbuf_put(o, "<xsi:eventData xsi1:type=\"xsi:SubscriptionTerminatedEvent\">");
	el(o, "xsi:reason", reason);
	tg_sbuf_put(o, "</xsi:eventData>");
}

void xsi_doc_channel_terminated(struct tg_sbuf *o, const char *channel_id, const char *reason)
{
	tg_sbuf_put(o, XSI_DOC_DECL EV_OPEN "ChannelTerminatedEvent\">");
	el(o, "xsi:channelId", channel_id);
	el(o, "xsi:reason", reason);
	tg_sbuf_put(o, "</xsi:Event>\n");
}

void xsi_doc_subscription(struct tg_sbuf *o, const char *subscription_id, int expires_s)
{
	tg_sbuf_put(o, XSI_DOC_DECL "<Subscription xmlns=\"" XSI_NS "\">");
	el(o, "subscriptionId", subscription_id);
	el_num(o, "expires", (uint64_t)expires_s);
	tg_sbuf_put(o, "</Subscription>\n");
}

void xsi_doc_error(struct tg_sbuf *o, int code, const char *summary)
{
	tg_sbuf_put(o, XSI_DOC_DECL "<ErrorInfo xmlns=\"" XSI_NS "\">");
	el(o, "summary", summary);
	el(o, "summaryEnglish", summary);
	el_num(o, "errorCode", (uint64_t)code);
	tg_sbuf_put(o, "</ErrorInfo>\n");
}
