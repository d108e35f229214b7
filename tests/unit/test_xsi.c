/* SPDX-License-Identifier: ISC */
/* xsi: the cloud CTI interface's body parser (the three documents, the hardening, the
 * bounds), its documents, and the hub's subscriptions and bounded queue without a
 * channel (channels are HTTP streams: tests/system/test_cloud_cti.py). Also the
 * device-state bus's contact variant. */
#include "core/devstate.h"
#include "core/util.h"
#include "xsi/body.h"
#include "xsi/doc.h"
#include "xsi/hub.h"
#include "xsi/reply.h"

#include <errno.h>
#include <libxml/parser.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#define NS_ATTR "xmlns=\"http://schema.broadsoft.com/xsi\""

static int parse(const char *xml, struct xsi_body *b, char *err)
{
	return xsi_body_parse(xml, strlen(xml), b, err, 256);
}

static void test_bodies(void **state)
{
	(void)state;
	struct xsi_body b;
	char err[256];
	assert_int_equal(parse("<?xml version=\"1.0\"?><Channel " NS_ATTR "><channelSetId>s1"
	                       "</channelSetId><priority>2</priority><weight>50</weight><expires>"
	                       "3600</expires><applicationId>app</applicationId></Channel>",
	                       &b, err),
	                 0);
	assert_int_equal(b.type, XSI_BODY_CHANNEL);
	assert_string_equal(b.channel_set_id, "s1");
	assert_string_equal(b.application_id, "app");
	assert_int_equal(b.priority, 2);
	assert_int_equal(b.weight, 50);
	assert_int_equal(b.expires, 3600);
	assert_int_equal(parse("<Channel " NS_ATTR "/>", &b, err), 0);
	assert_int_equal(b.priority, 1); /* the defaults */
	assert_int_equal(b.weight, 100);
	assert_int_equal(b.expires, -1);
	assert_int_equal(parse("<Subscription " NS_ATTR "><event>Device State</event><expires>"
	                       "99999999</expires></Subscription>",
	                       &b, err),
	                 0);
	assert_int_equal(b.type, XSI_BODY_SUBSCRIPTION);
	assert_string_equal(b.event, "Device State");
	assert_int_equal(b.expires, XSI_EXPIRES_MAX); /* cut to the bound */
	assert_int_equal(parse("<EventResponse " NS_ATTR "><eventID>e1</eventID><statusCode>200"
	                       "</statusCode><reason>OK</reason></EventResponse>",
	                       &b, err),
	                 0);
	assert_int_equal(b.type, XSI_BODY_EVENT_RESPONSE);
	assert_string_equal(b.event_id, "e1");
	assert_int_equal(b.status_code, 200);
}

static void test_refusals(void **state)
{
	(void)state;
	struct xsi_body b;
	char err[256], big[XSI_BODY_MAX + 64];
	static const char *const bad[] = {
	    "",
	    "<Channel",
	    "<Channel xmlns=\"urn:other\"/>",
	    "<Channel/>",
	    "<Other " NS_ATTR "/>",
	    "<?xml version=\"1.0\"?><!DOCTYPE Channel [<!ENTITY x \"y\">]><Channel " NS_ATTR
	    ">&x;</Channel>",
	    "<Channel " NS_ATTR "><expires>-1</expires></Channel>",
	    "<Channel " NS_ATTR "><expires>12x</expires></Channel>",
	    "<Channel " NS_ATTR "><priority></priority></Channel>",
	    "<EventResponse " NS_ATTR "><statusCode>200</statusCode></EventResponse>",
	};
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		err[0] = '\0';
		assert_int_equal(parse(bad[i], &b, err), -1);
		assert_true(err[0] != '\0');
	}
	/* A field past its bound, a body past XSI_BODY_MAX. */
	char id[XSI_ID_MAX + 40];
	memset(id, 'a', sizeof id - 1);
	id[sizeof id - 1] = '\0';
	snprintf(big, sizeof big, "<Channel " NS_ATTR "><channelSetId>%s</channelSetId></Channel>",
	         id);
	assert_int_equal(parse(big, &b, err), -1);
	assert_non_null(strstr(err, "channelSetId"));
	memset(big, ' ', sizeof big - 1);
	big[sizeof big - 1] = '\0';
	memcpy(big, "<Channel " NS_ATTR "/>", strlen("<Channel " NS_ATTR "/>"));
	assert_int_equal(parse(big, &b, err), -1);
}

static void test_documents(void **state)
{
	(void)state;
	char doc[4096];
	struct tg_sbuf o = {doc, sizeof doc, 0, 0};
	char data[512];
	struct tg_sbuf d = {data, sizeof data, 0, 0};
	xsi_doc_device_state(&d, "SEP<1>", 1, "<sip:1@x>");
	const struct xsi_doc_event e = {"ev1", "u&1", "app", "sub1", "ch1", "u&1", data, 7};
	xsi_doc_event(&o, &e);
	assert_true(tg_sbuf_len(&o) > 0);
	assert_non_null(strstr(doc, "xsi1:type=\"xsi:SubscriptionEvent\""));
	assert_non_null(strstr(doc, "<xsi:sequenceNumber>7</xsi:sequenceNumber>"));
	assert_non_null(strstr(doc, "<xsi:userId>u&amp;1</xsi:userId>"));
	assert_non_null(strstr(doc, "<xsi:deviceName>SEP&lt;1&gt;</xsi:deviceName>"));
	assert_non_null(strstr(doc, "<xsi:state>In Service</xsi:state>"));
	/* What we send parses as XML. */
	xmlDocPtr x = xmlReadMemory(doc, (int)strlen(doc), "e.xml", NULL, XML_PARSE_NONET);
	assert_non_null(x);
	xmlFreeDoc(x);
	char small[16];
	o = (struct tg_sbuf){small, sizeof small, 0, 0};
	xsi_doc_heartbeat(&o);
	assert_int_equal(tg_sbuf_len(&o), -1); /* never a cut document */
	assert_int_equal(xsi_reply_of(XSI_OUT_OF_SCOPE)->status, 403);
	assert_int_equal(xsi_reply_of(XSI_BAD_BODY)->status, 400);
	assert_int_equal(xsi_reply_of((enum xsi_outcome)999)->status, 500);
	assert_int_equal(xsi_package_parse("Device State"), XSI_PKG_DEVICE_STATE);
	assert_int_equal(xsi_package_parse("Registration"), XSI_PKG_REGISTRATION);
	assert_int_equal(xsi_package_parse("Advanced Call"), -1);
}

static struct xsi_hub *hub(int queue_max)
{
	const struct xsi_hub_options o = {.heartbeat_s = 15,
	                                  .client_timeout_s = 60,
	                                  .redeliver_s = 10,
	                                  .queue_max = queue_max,
	                                  .channels_max = 10,
	                                  .subscriptions_max = 2,
	                                  .expires_default_s = 3600};
	struct xsi_hub *h = xsi_hub_new(&o);
	assert_non_null(h);
	return h;
}

static void test_hub_subscriptions_and_queue(void **state)
{
	(void)state;
	struct xsi_hub *h = hub(3);
	const struct xsi_target t[] = {{"jpinkman", "CSFJPINKMAN"}, {"jpinkman", "SEP1"}};
	const struct xsi_sub_request r = {.identity = "cloud.example",
	                                  .set_id = "set",
	                                  .target = "jpinkman",
	                                  .package = XSI_PKG_DEVICE_STATE,
	                                  .expires_s = -1};
	char id[XSI_HEX_ID + 1], id2[XSI_HEX_ID + 1], id3[XSI_HEX_ID + 1];
	assert_int_equal(xsi_hub_sub_add(h, &r, t, 2, id), 0);
	assert_int_equal(strlen(id), XSI_HEX_ID);
	assert_int_equal(xsi_hub_sub_add(h, &r, t, 1, id2), 0);
	assert_int_equal(xsi_hub_sub_add(h, &r, t, 1, id3), -ENOSPC); /* subscriptions_max */
	/* Another identity sees nothing of them. */
	assert_int_equal(xsi_hub_sub_refresh(h, "other", id, 60), -ENOENT);
	assert_int_equal(xsi_hub_sub_delete(h, "other", id), -ENOENT);
	assert_int_equal(xsi_hub_sub_refresh(h, "cloud.example", id, 60), 0);
	assert_int_equal(xsi_hub_ack(h, "cloud.example", "nope"), -ENOENT);
	/* No channel yet: the events wait, at most queue_max (3) of the set. */
	xsi_hub_device_state(h, "SEP1", 1, "<sip:1@x>"); /* sub 1 only */
	xsi_hub_device_state(h, "OTHER", 1, "");         /* nobody's */
	struct xsi_hub_stats s;
	xsi_hub_stats(h, &s);
	assert_int_equal(s.events, 1);
	assert_int_equal(s.queued, 1);
	assert_int_equal(s.subscriptions, 2);
	assert_int_equal(s.sets, 1);
	xsi_hub_device_state(h, "CSFJPINKMAN", 1, ""); /* both: 3 queued */
	xsi_hub_device_state(h, "CSFJPINKMAN", 0, ""); /* 2 more: the queue overflows */
	xsi_hub_stats(h, &s);
	assert_int_equal(s.events, 5);
	assert_int_equal(s.dropped, 3);
	assert_int_equal(s.queued, 2);
	/* Retargeted: the device is no longer the subscriber's. */
	assert_int_equal(xsi_hub_sub_retarget(h, id2, NULL, 0), 0);
	xsi_hub_device_state(h, "CSFJPINKMAN", 1, "");
	xsi_hub_stats(h, &s);
	assert_int_equal(s.events, 6);
	/* Deprovisioned: a SubscriptionTerminatedEvent is queued, the subscription goes. */
	assert_int_equal(xsi_hub_sub_terminate(h, id, "the subscriber was deprovisioned"), 0);
	assert_int_equal(xsi_hub_sub_terminate(h, id, "again"), -ENOENT);
	xsi_hub_stats(h, &s);
	assert_int_equal(s.subscriptions, 1);
	assert_int_equal(s.terminated_subscriptions, 1);
	assert_int_equal(xsi_hub_sub_delete(h, "cloud.example", id2), 0);
	xsi_hub_stats(h, &s);
	assert_int_equal(s.subscriptions, 0);
	assert_int_equal(s.sets, 0); /* no channel, no subscription: the set went */
	assert_int_equal(s.queued, 0);
	xsi_hub_free(h);
}

static void test_hub_expiry(void **state)
{
	(void)state;
	struct xsi_hub *h = hub(10);
	const struct xsi_target t[] = {{"u", "D"}};
	const struct xsi_sub_request r = {
	    .identity = "i", .set_id = "s", .target = "u", .expires_s = 0};
	char id[XSI_HEX_ID + 1];
	assert_int_equal(xsi_hub_sub_add(h, &r, t, 1, id), 0);
	xsi_hub_tick(h, tg_mono_ms() + 1000);
	struct xsi_hub_stats s;
	xsi_hub_stats(h, &s);
	assert_int_equal(s.subscriptions, 0);
	assert_int_equal(s.terminated_subscriptions, 1);
	/* Freed with a live subscription and queued events (the daemon's stop). */
	const struct xsi_sub_request r2 = {
	    .identity = "i", .set_id = "s2", .target = "u", .expires_s = -1};
	assert_int_equal(xsi_hub_sub_add(h, &r2, t, 1, id), 0);
	xsi_hub_device_state(h, "D", 1, "");
	xsi_hub_free(h);
}

struct contact_seen {
	char device[64], contact[64];
	int in, n;
};

static void on_contact(void *arg, const char *device, int in_service, const char *contact)
{
	struct contact_seen *c = arg;
	snprintf(c->device, sizeof c->device, "%s", device);
	snprintf(c->contact, sizeof c->contact, "%s", contact);
	c->in = in_service;
	c->n++;
}

static void test_devstate_contact(void **state)
{
	(void)state;
	struct devstate *b = devstate_new();
	struct contact_seen c = {0};
	assert_int_equal(devstate_subscribe_contact(b, on_contact, &c), 0);
	assert_int_equal(devstate_publish_contact(b, "SEP1", 1, "<sip:1@192.0.2.1>"), 1);
	assert_string_equal(c.contact, "<sip:1@192.0.2.1>");
	assert_int_equal(devstate_publish(b, "SEP1", 0), 1); /* no contact: "" */
	assert_string_equal(c.contact, "");
	assert_int_equal(c.in, 0);
	devstate_unsubscribe_contact(b, on_contact, &c);
	assert_int_equal(devstate_publish(b, "SEP1", 1), 1);
	assert_int_equal(c.n, 2);
	devstate_free(b);
}

int main(void)
{
	xmlInitParser();
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_bodies),     cmocka_unit_test(test_refusals),
	    cmocka_unit_test(test_documents),  cmocka_unit_test(test_hub_subscriptions_and_queue),
	    cmocka_unit_test(test_hub_expiry), cmocka_unit_test(test_devstate_contact),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
