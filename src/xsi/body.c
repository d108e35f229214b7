/* SPDX-License-Identifier: ISC */
#include "xsi/body.h"

#include "cti/proto.h"

#include <libxml/tree.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const struct {
	const char *root;
	enum xsi_body_type type;
} roots[] = {
    {"Channel", XSI_BODY_CHANNEL},
    {"Subscription", XSI_BODY_SUBSCRIPTION},
    {"EventResponse", XSI_BODY_EVENT_RESPONSE},
};

/* A decimal field: *out keeps dflt when absent; -1 when present and not 0..max. */
static int number(xmlNode *root, const char *name, long max, int dflt, int *out)
{
	char t[16];
	*out = dflt;
	int rc = cti_xml_text(root, name, t, sizeof t);
	if (rc == 0)
		return 0;
	if (rc < 0 || !t[0])
		return -1;
	char *end;
	long v = strtol(t, &end, 10);
	if (*end || v < 0)
		return -1;
	*out = (int)(v > max ? max : v);
	return 0;
}

/* The text fields of a body: name, where it goes and its size. */
struct field {
	const char *name;
	size_t off, cap;
};
#define FIELD(n, m)                                                                                \
	{                                                                                          \
		n, offsetof(struct xsi_body, m), sizeof(((struct xsi_body *)0)->m)                 \
	}
static const struct field fields[] = {
    FIELD("channelSetId", channel_set_id),
    FIELD("applicationId", application_id),
    FIELD("event", event),
    FIELD("eventID", event_id),
    FIELD("reason", reason),
};

int xsi_body_parse(const char *xml, size_t len, struct xsi_body *b, char *err, size_t errlen)
{
	memset(b, 0, sizeof *b);
	xmlDocPtr doc = cti_xml_read(xml, len, XSI_BODY_MAX, err, errlen);
	if (!doc)
		return -1;
	xmlNode *root = xmlDocGetRootElement(doc);
	int rc = -1;
	if (!root->ns || !root->ns->href || strcmp((const char *)root->ns->href, XSI_NS) != 0) {
		snprintf(err, errlen, "the root element is not in the namespace " XSI_NS);
		goto out;
	}
	for (size_t i = 0; i < sizeof roots / sizeof roots[0]; i++)
		if (strcmp((const char *)root->name, roots[i].root) == 0)
			b->type = roots[i].type;
	if (!b->type) {
		snprintf(err, errlen,
		         "the root element is not Channel, Subscription or EventResponse");
		goto out;
	}
	for (size_t i = 0; i < sizeof fields / sizeof fields[0]; i++)
		if (cti_xml_text(root, fields[i].name, (char *)b + fields[i].off, fields[i].cap) <
		    0) {
			snprintf(err, errlen, "%s is longer than %zu bytes", fields[i].name,
			         fields[i].cap - 1);
			goto out;
		}
	const char *bad = number(root, "expires", XSI_EXPIRES_MAX, -1, &b->expires) ? "expires"
	                  : number(root, "priority", 1000000, 1, &b->priority)      ? "priority"
	                  : number(root, "weight", 1000000, 100, &b->weight)        ? "weight"
	                  : number(root, "statusCode", 999, -1, &b->status_code)    ? "statusCode"
	                                                                            : NULL;
	if (bad) {
		snprintf(err, errlen, "%s is not a number", bad);
		goto out;
	}
	if (b->type == XSI_BODY_EVENT_RESPONSE && !b->event_id[0]) {
		snprintf(err, errlen, "EventResponse needs an eventID");
		goto out;
	}
	rc = 0;
out:
	xmlFreeDoc(doc);
	return rc;
}
