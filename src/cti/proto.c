/* SPDX-License-Identifier: ISC */
#include "cti/proto.h"
#include "core/util.h"

#include <ctype.h>
#include <libxml/parser.h>
#include <libxml/tree.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int cti_frame_peek(const uint8_t *buf, size_t len, size_t *frame_len, int *invoke, char *err,
                   size_t errlen)
{
	*frame_len = 0;
	if (len < CTI_HDR_LEN)
		return 0;
	if (buf[0] != 0 || buf[1] != 0) {
		snprintf(err, errlen, "frame header does not start with 0x0000");
		return -1;
	}
	size_t n = (size_t)buf[2] << 8 | buf[3];
	if (n <= CTI_HDR_LEN) {
		snprintf(err, errlen, "frame length %zu is not larger than the header", n);
		return -1;
	}
	int id = 0;
	for (int i = 4; i < 8; i++) {
		if (!isdigit(buf[i])) {
			snprintf(err, errlen, "invoke id is not 4 ASCII digits");
			return -1;
		}
		id = id * 10 + (buf[i] - '0');
	}
	*frame_len = n;
	*invoke = id;
	return len < n ? 0 : 1;
}

int cti_frame_header(int invoke, size_t body_len, uint8_t out[CTI_HDR_LEN])
{
	size_t n = body_len + CTI_HDR_LEN;
	if (n > CTI_FRAME_MAX || invoke < 0 || invoke > 9999)
		return -1;
	out[0] = 0;
	out[1] = 0;
	out[2] = (uint8_t)(n >> 8);
	out[3] = (uint8_t)n;
	char d[5];
	snprintf(d, sizeof d, "%04d", invoke);
	memcpy(out + 4, d, 4);
	return 0;
}

/* --- parsing ------------------------------------------------------------------------- */

static const void *find_mem(const char *h, size_t hl, const char *n)
{
	size_t nl = strlen(n);
	for (size_t i = 0; i + nl <= hl; i++)
		if (h[i] == n[0] && memcmp(h + i, n, nl) == 0)
			return h + i;
	return NULL;
}

/* First element named `name` at or under node (depth first). */
static xmlNode *find(xmlNode *node, const char *name)
{
	for (xmlNode *n = node; n; n = n->next) {
		if (n->type != XML_ELEMENT_NODE)
			continue;
		if (strcmp((const char *)n->name, name) == 0)
			return n;
		xmlNode *c = find(n->children, name);
		if (c)
			return c;
	}
	return NULL;
}

/* Copies the text of the element named `name` under root into out. Returns 1 found, 0
 * absent, -1 too long. When secret, the tree's copy of the text is wiped too. */
static int text_of(xmlNode *root, const char *name, char *out, size_t cap, size_t *outlen,
                   int secret)
{
	xmlNode *n = find(root->children, name);
	if (!n)
		return 0;
	xmlChar *t = xmlNodeGetContent(n);
	if (!t)
		return 0;
	size_t l = strlen((const char *)t);
	int rc = 1;
	if (l >= cap) {
		rc = -1;
	} else {
		memcpy(out, t, l + 1);
		if (outlen)
			*outlen = l;
	}
	if (secret) {
		sodium_memzero(t, l);
		for (xmlNode *c = n->children; c; c = c->next)
			if (c->content)
				sodium_memzero(c->content, strlen((const char *)c->content));
	}
	xmlFree(t);
	return rc;
}

static int parse_uint(const char *s, unsigned long max, unsigned long *out)
{
	if (!*s)
		return -1;
	unsigned long v = 0;
	for (; *s; s++) {
		if (!isdigit((unsigned char)*s))
			return -1;
		v = v * 10 + (unsigned long)(*s - '0');
		if (v > max)
			return -1;
	}
	*out = v;
	return 0;
}

/* requestedSessionDuration, when present: digits only, or the request is malformed. A
 * value above CTI_DURATION_MAX is read as CTI_DURATION_MAX (saturating, no overflow): the
 * server clamps it to its own ceiling like any other value. */
static int duration_of(xmlNode *root, struct cti_msg *m, char *err, size_t errlen)
{
	char num[32];
	if (text_of(root, "requestedSessionDuration", num, sizeof num, NULL, 0) == 0)
		return 0;
	int v = 0;
	const char *p = num;
	for (; *p && isdigit((unsigned char)*p); p++)
		v = v >= CTI_DURATION_MAX ? CTI_DURATION_MAX : v * 10 + (*p - '0');
	if (p == num || *p) {
		snprintf(err, errlen, "requestedSessionDuration is not a number of seconds");
		return -1;
	}
	m->duration = v > CTI_DURATION_MAX ? CTI_DURATION_MAX : v;
	return 0;
}

static const struct {
	const char *ns, *name;
	enum cti_msg_type type;
} known[] = {
    {CTI_NS_ACSE, "StartApplicationSession", CTI_MSG_START_SESSION},
    {CTI_NS_ACSE, "ResetApplicationSessionTimer", CTI_MSG_RESET_TIMER},
    {CTI_NS_ACSE, "StopApplicationSession", CTI_MSG_STOP_SESSION},
    {CTI_NS_CSTA, "MonitorStart", CTI_MSG_MONITOR_START},
    {CTI_NS_CSTA, "MonitorStop", CTI_MSG_MONITOR_STOP},
    {CTI_NS_CSTA, "SnapshotDevice", CTI_MSG_SNAPSHOT_DEVICE},
    {CTI_NS_CSTA, "GetSwitchingFunctionDevices", CTI_MSG_GET_SF_DEVICES},
};

static int fields(xmlNode *root, struct cti_msg *m, char *err, size_t errlen)
{
	char num[32];
	unsigned long v;
	int rc;
	switch (m->type) {
	case CTI_MSG_START_SESSION: {
		if (text_of(root, "applicationID", m->application_id, sizeof m->application_id,
		            NULL, 0) != 1) {
			snprintf(err, errlen,
			         "applicationInfo/applicationID is missing or too long");
			return -1;
		}
		if (text_of(root, "userID", m->user, sizeof m->user, NULL, 0) < 0) {
			snprintf(err, errlen, "userID is longer than %d bytes", CTI_ID_MAX);
			return -1;
		}
		rc =
		    text_of(root, "password", m->password, sizeof m->password, &m->password_len, 1);
		if (rc < 0 ||
		    text_of(root, "accessToken", m->token, sizeof m->token, &m->token_len, 1) < 0) {
			snprintf(err, errlen, "credential longer than %d bytes", CTI_SECRET_MAX);
			return -1;
		}
		m->has_password = rc == 1;
		if (duration_of(root, m, err, errlen) != 0)
			return -1;
		xmlNode *pv = find(root->children, "requestedProtocolVersions");
		m->protocol_ok = 1;
		if (pv) {
			m->protocol_ok = 0;
			for (xmlNode *c = pv->children; c; c = c->next) {
				if (c->type != XML_ELEMENT_NODE)
					continue;
				xmlChar *t = xmlNodeGetContent(c);
				if (t && strcmp((const char *)t, CTI_NS_CSTA) == 0)
					m->protocol_ok = 1;
				xmlFree(t);
			}
		}
		return 0;
	}
	case CTI_MSG_RESET_TIMER:
	case CTI_MSG_STOP_SESSION:
		if (text_of(root, "sessionID", m->session_id, sizeof m->session_id, NULL, 0) != 1) {
			snprintf(err, errlen, "sessionID is missing or too long");
			return -1;
		}
		if (m->type == CTI_MSG_RESET_TIMER)
			return duration_of(root, m, err, errlen);
		return 0;
	case CTI_MSG_MONITOR_START:
	case CTI_MSG_SNAPSHOT_DEVICE: {
		const char *f =
		    m->type == CTI_MSG_MONITOR_START ? "deviceObject" : "snapshotObject";
		rc = text_of(root, f, m->device, sizeof m->device, NULL, 0);
		if (rc != 1 || !m->device[0]) {
			snprintf(err, errlen, "%s is missing, empty or too long", f);
			return -1;
		}
		return 0;
	}
	case CTI_MSG_MONITOR_STOP:
		if (text_of(root, "monitorCrossRefID", num, sizeof num, NULL, 0) != 1 ||
		    parse_uint(num, 0xffffffffUL, &v) != 0) {
			snprintf(err, errlen, "monitorCrossRefID is missing or not a number");
			return -1;
		}
		m->crossref = v;
		m->has_crossref = 1;
		return 0;
	default:
		return 0;
	}
}

void *cti_xml_read(const char *xml, size_t len, size_t max, char *err, size_t errlen)
{
	if (!len || len > max) {
		snprintf(err, errlen, "empty or oversized body");
		return NULL;
	}
	/* No DTD at all: no entity expansion, no external fetch, nothing to amplify. */
	if (find_mem(xml, len, "<!DOCTYPE") || find_mem(xml, len, "<!ENTITY")) {
		snprintf(err, errlen, "DTDs and entity declarations are refused");
		return NULL;
	}
	xmlDocPtr doc = xmlReadMemory(xml, (int)len, "body.xml", NULL,
	                              XML_PARSE_NONET | XML_PARSE_NOERROR | XML_PARSE_NOWARNING);
	if (!doc) {
		snprintf(err, errlen, "not well-formed XML");
		return NULL;
	}
	if (doc->intSubset || doc->extSubset || !xmlDocGetRootElement(doc)) {
		snprintf(err, errlen, "DTDs and entity declarations are refused");
		xmlFreeDoc(doc);
		return NULL;
	}
	return doc;
}

int cti_xml_text(void *node, const char *name, char *out, size_t cap)
{
	return text_of(node, name, out, cap, NULL, 0);
}

int cti_msg_parse(const char *xml, size_t len, struct cti_msg *m, char *err, size_t errlen)
{
	memset(m, 0, sizeof *m);
	xmlDocPtr doc = cti_xml_read(xml, len, CTI_FRAME_MAX, err, errlen);
	if (!doc)
		return -1;
	int rc = -1;
	xmlNode *root = xmlDocGetRootElement(doc);
	if (!root->ns || !root->ns->href ||
	    (strcmp((const char *)root->ns->href, CTI_NS_CSTA) != 0 &&
	     strcmp((const char *)root->ns->href, CTI_NS_ACSE) != 0)) {
		snprintf(err, errlen,
		         "root element is not in the ECMA-323 ed5 or ECMA-354 namespace");
		goto out;
	}
	tg_strlcpy(m->name, (const char *)root->name, sizeof m->name);
	for (size_t i = 0; i < sizeof known / sizeof known[0]; i++)
		if (strcmp((const char *)root->ns->href, known[i].ns) == 0 &&
		    strcmp((const char *)root->name, known[i].name) == 0)
			m->type = known[i].type;
	rc = fields(root, m, err, errlen);
out:
	if (rc != 0)
		cti_msg_wipe(m);
	xmlFreeDoc(doc);
	return rc;
}

void cti_msg_wipe(struct cti_msg *m)
{
	sodium_memzero(m->password, sizeof m->password);
	sodium_memzero(m->token, sizeof m->token);
	m->password_len = m->token_len = 0;
}

/* --- building ------------------------------------------------------------------------ */

void cti_xml_escape(struct tg_sbuf *o, const char *s)
{
	char one[2] = {0, 0};
	for (; *s; s++) {
		switch (*s) {
		case '<':
			tg_sbuf_put(o, "&lt;");
			break;
		case '>':
			tg_sbuf_put(o, "&gt;");
			break;
		case '&':
			tg_sbuf_put(o, "&amp;");
			break;
		case '"':
			tg_sbuf_put(o, "&quot;");
			break;
		case '\'':
			tg_sbuf_put(o, "&apos;");
			break;
		default:
			one[0] = *s;
			tg_sbuf_put(o, one);
		}
	}
}

#define XMLDECL "<?xml version=\"1.0\" encoding=\"UTF-8\"?>"

int cti_xml_start_session_pos(char *out, size_t cap, const char *session_id, int duration)
{
	struct tg_sbuf o = {out, cap, 0, 0};
	char d[16];
	snprintf(d, sizeof d, "%d", duration);
	tg_sbuf_put(&o, XMLDECL "<StartApplicationSessionPosResponse xmlns=\"" CTI_NS_ACSE
	                        "\"><sessionID>");
	cti_xml_escape(&o, session_id);
	tg_sbuf_put(&o, "</sessionID><actualProtocolVersion>" CTI_NS_CSTA
	                "</actualProtocolVersion><actualSessionDuration>");
	tg_sbuf_put(&o, d);
	tg_sbuf_put(&o, "</actualSessionDuration></StartApplicationSessionPosResponse>");
	return tg_sbuf_len(&o);
}

int cti_xml_start_session_neg(char *out, size_t cap, const char *error)
{
	struct tg_sbuf o = {out, cap, 0, 0};
	tg_sbuf_put(&o, XMLDECL "<StartApplicationSessionNegResponse xmlns=\"" CTI_NS_ACSE
	                        "\"><errorCode><definedError>");
	cti_xml_escape(&o, error);
	tg_sbuf_put(&o, "</definedError></errorCode></StartApplicationSessionNegResponse>");
	return tg_sbuf_len(&o);
}

int cti_xml_reset_timer_pos(char *out, size_t cap, int duration)
{
	struct tg_sbuf o = {out, cap, 0, 0};
	char d[16];
	snprintf(d, sizeof d, "%d", duration);
	tg_sbuf_put(&o, XMLDECL "<ResetApplicationSessionTimerPosResponse xmlns=\"" CTI_NS_ACSE
	                        "\"><actualSessionDuration>");
	tg_sbuf_put(&o, d);
	tg_sbuf_put(&o, "</actualSessionDuration></ResetApplicationSessionTimerPosResponse>");
	return tg_sbuf_len(&o);
}

int cti_xml_reset_timer_neg(char *out, size_t cap, const char *error)
{
	struct tg_sbuf o = {out, cap, 0, 0};
	tg_sbuf_put(&o, XMLDECL "<ResetApplicationSessionTimerNegResponse xmlns=\"" CTI_NS_ACSE
	                        "\"><errorCode><definedError>");
	cti_xml_escape(&o, error);
	tg_sbuf_put(&o, "</definedError></errorCode></ResetApplicationSessionTimerNegResponse>");
	return tg_sbuf_len(&o);
}

int cti_xml_stop_session_pos(char *out, size_t cap)
{
	struct tg_sbuf o = {out, cap, 0, 0};
	tg_sbuf_put(&o, XMLDECL "<StopApplicationSessionPosResponse xmlns=\"" CTI_NS_ACSE "\"/>");
	return tg_sbuf_len(&o);
}

int cti_xml_monitor_start_resp(char *out, size_t cap, unsigned long crossref)
{
	struct tg_sbuf o = {out, cap, 0, 0};
	char d[24];
	snprintf(d, sizeof d, "%lu", crossref);
	tg_sbuf_put(&o,
	            XMLDECL "<MonitorStartResponse xmlns=\"" CTI_NS_CSTA "\"><monitorCrossRefID>");
	tg_sbuf_put(&o, d);
	tg_sbuf_put(&o, "</monitorCrossRefID></MonitorStartResponse>");
	return tg_sbuf_len(&o);
}

int cti_xml_monitor_stop_resp(char *out, size_t cap)
{
	struct tg_sbuf o = {out, cap, 0, 0};
	tg_sbuf_put(&o, XMLDECL "<MonitorStopResponse xmlns=\"" CTI_NS_CSTA "\"/>");
	return tg_sbuf_len(&o);
}

int cti_xml_error(char *out, size_t cap, const char *category, const char *value)
{
	struct tg_sbuf o = {out, cap, 0, 0};
	tg_sbuf_put(&o, XMLDECL "<CSTAErrorCode xmlns=\"" CTI_NS_CSTA "\"><");
	tg_sbuf_put(&o, category);
	tg_sbuf_put(&o, ">");
	cti_xml_escape(&o, value);
	tg_sbuf_put(&o, "</");
	tg_sbuf_put(&o, category);
	tg_sbuf_put(&o, "></CSTAErrorCode>");
	return tg_sbuf_len(&o);
}

int cti_xml_service_event(char *out, size_t cap, int in_service, unsigned long crossref,
                          const char *device)
{
	struct tg_sbuf o = {out, cap, 0, 0};
	const char *ev = in_service ? "BackInServiceEvent" : "OutOfServiceEvent";
	char d[24];
	snprintf(d, sizeof d, "%lu", crossref);
	tg_sbuf_put(&o, XMLDECL "<");
	tg_sbuf_put(&o, ev);
	tg_sbuf_put(&o, " xmlns=\"" CTI_NS_CSTA "\"><monitorCrossRefID>");
	tg_sbuf_put(&o, d);
	tg_sbuf_put(&o, "</monitorCrossRefID><device><deviceIdentifier>");
	cti_xml_escape(&o, device);
	tg_sbuf_put(&o, "</deviceIdentifier></device></");
	tg_sbuf_put(&o, ev);
	tg_sbuf_put(&o, ">");
	return tg_sbuf_len(&o);
}

int cti_xml_snapshot_device_resp(char *out, size_t cap, const char *device, int in_service)
{
	struct tg_sbuf o = {out, cap, 0, 0};
	tg_sbuf_put(&o, XMLDECL
	            "<SnapshotDeviceResponse xmlns=\"" CTI_NS_CSTA
	            "\"><crossRefIDorSnapshotData><snapshotData/></crossRefIDorSnapshotData>"
	            "<extensions><privateData><private><tg:deviceState xmlns:tg=\"" CTI_NS_TG
	            "\"><tg:device>");
	cti_xml_escape(&o, device);
	tg_sbuf_put(&o, "</tg:device><tg:inService>");
	tg_sbuf_put(&o, in_service ? "true" : "false");
	tg_sbuf_put(&o, "</tg:inService></tg:deviceState></private></privateData></extensions>"
	                "</SnapshotDeviceResponse>");
	return tg_sbuf_len(&o);
}

int cti_xml_sf_devices_resp(char *out, size_t cap, const char *const *devices, size_t n)
{
	struct tg_sbuf o = {out, cap, 0, 0};
	tg_sbuf_put(&o, XMLDECL "<GetSwitchingFunctionDevicesResponse xmlns=\"" CTI_NS_CSTA
	                        "\"><deviceList>");
	for (size_t i = 0; i < n; i++) {
		tg_sbuf_put(&o, "<device><deviceID>");
		cti_xml_escape(&o, devices[i]);
		tg_sbuf_put(&o, "</deviceID></device>");
	}
	tg_sbuf_put(&o, "</deviceList></GetSwitchingFunctionDevicesResponse>");
	return tg_sbuf_len(&o);
}
