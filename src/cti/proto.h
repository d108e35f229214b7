/* SPDX-License-Identifier: ISC */
/*
 * proto: the CTI wire format — CSTA Phase III XML (ECMA-323) with ECMA-354 application
 * sessions, framed for TCP as docs/protocol.md describes:
 *
 *   0x00 0x00 | length (2 bytes, big-endian, header included) | invoke id (4 ASCII digits)
 *   followed by length - 8 bytes of UTF-8 XML.
 *
 * Events carry the reserved invoke id 9999. Pure functions, no I/O, no global state
 * (libxml2 must have been initialised with xmlInitParser() once, at start-up): safe from
 * any thread.
 *
 * Ownership: parsed messages are plain structs filled in place (fixed-size fields); the
 * password field is a secret: the caller wipes it (cti_msg_wipe) as soon as it is used.
 */
#ifndef TG_CTI_PROTO_H
#define TG_CTI_PROTO_H

#include <stddef.h>
#include <stdint.h>

#define CTI_HDR_LEN 8
#define CTI_FRAME_MAX 65535
#define CTI_EVENT_INVOKE 9999

#define CTI_NS_CSTA "http://www.ecma-international.org/standards/ecma-323/csta/ed5"
#define CTI_NS_ACSE "http://www.ecma-international.org/standards/ecma-354/appl_session"
#define CTI_NS_TG "urn:telgate:cti:1"

/* Looks for one frame at the start of buf. Returns 1 (whole frame: *frame_len, *invoke
 * set), 0 (need more bytes: *frame_len is the whole frame's length, header included, once
 * the header is in, else 0; *invoke is set with it) or -1 (not a frame: err says why; the
 * peer must be disconnected, since the stream cannot be resynchronised). The caller never
 * decodes the header again: the frame's body starts CTI_HDR_LEN bytes in. */
int cti_frame_peek(const uint8_t *buf, size_t len, size_t *frame_len, int *invoke, char *err,
                   size_t errlen);
/* Writes the 8-byte header for a body of body_len bytes. -1 if the frame would be too big
 * or the invoke id is out of 0..9999. */
int cti_frame_header(int invoke, size_t body_len, uint8_t out[CTI_HDR_LEN]);

enum cti_msg_type {
	CTI_MSG_UNKNOWN = 0, /* well-formed, in our namespaces, not a request we serve */
	CTI_MSG_START_SESSION,
	CTI_MSG_RESET_TIMER,
	CTI_MSG_STOP_SESSION,
	CTI_MSG_MONITOR_START,
	CTI_MSG_MONITOR_STOP,
	CTI_MSG_SNAPSHOT_DEVICE,
	CTI_MSG_GET_SF_DEVICES,
};

#define CTI_ID_MAX 128
/* requestedSessionDuration above this (a day, the ceiling of cti.max_session_duration) is
 * read as this; the server then clamps to its configured range. */
#define CTI_DURATION_MAX 86400
#define CTI_SECRET_MAX 4096

struct cti_msg {
	enum cti_msg_type type;
	char name[64]; /* the root element's local name */
	char application_id[CTI_ID_MAX + 1];
	char user[CTI_ID_MAX + 1];
	char password[CTI_SECRET_MAX + 1]; /* secret */
	size_t password_len;
	int has_password;
	char token[CTI_SECRET_MAX + 1]; /* secret: an OAuth access token (future) */
	size_t token_len;
	int duration;    /* requested session duration, s; 0 = not given */
	int protocol_ok; /* the requested versions include ECMA-323 ed5 (or none named) */
	char session_id[64];
	char device[CTI_ID_MAX + 1];
	unsigned long crossref;
	int has_crossref;
};

/* Parses one XML body. Returns 0 (msg filled; type may be CTI_MSG_UNKNOWN) or -1 with a
 * reason in err: not well-formed, a DTD or entity declaration (refused outright: no
 * entity expansion, no network), a root outside the ECMA-323/354 namespaces, a field too
 * long, or a request missing a mandatory field. */
int cti_msg_parse(const char *xml, size_t len, struct cti_msg *msg, char *err, size_t errlen);
void cti_msg_wipe(struct cti_msg *msg);

/* The hardened reader under cti_msg_parse, for every XML body telgate parses (the cloud
 * CTI interface's too, src/xsi): at most max bytes, no DTD or entity declaration (refused
 * before parsing: no expansion, no network), well-formed, with a root element. Returns
 * the libxml2 document (an xmlDocPtr: the caller frees it with xmlFreeDoc) or NULL with
 * err set. */
void *cti_xml_read(const char *xml, size_t len, size_t max, char *err, size_t errlen);
/* The text of the first element called name at or under node (an xmlNode *, depth
 * first) into out (cap bytes). Returns 1, 0 when absent, -1 when it does not fit. */
int cti_xml_text(void *node, const char *name, char *out, size_t cap);
/* Appends s to o with the five XML special characters escaped. */
struct tg_sbuf;
void cti_xml_escape(struct tg_sbuf *o, const char *s);

/* Response and event bodies. Each writes a complete XML document into out and returns
 * its length, or -1 if it does not fit. Values are XML-escaped. */
int cti_xml_start_session_pos(char *out, size_t cap, const char *session_id, int duration);
/* ECMA-354 negative response; error: an ECMA-354 defined error such as
 * "invalidApplicationInfo" or "requestedProtocolVersionNotSupported". */
int cti_xml_start_session_neg(char *out, size_t cap, const char *error);
int cti_xml_reset_timer_pos(char *out, size_t cap, int duration);
int cti_xml_reset_timer_neg(char *out, size_t cap, const char *error);
int cti_xml_stop_session_pos(char *out, size_t cap);
int cti_xml_monitor_start_resp(char *out, size_t cap, unsigned long crossref);
int cti_xml_monitor_stop_resp(char *out, size_t cap);
/* CSTAErrorCode; category: "operation", "security", "stateIncompatibility",
 * "systemResourceAvailability" ...; value: e.g. "invalidDeviceID". */
int cti_xml_error(char *out, size_t cap, const char *category, const char *value);
/* BackInServiceEvent / OutOfServiceEvent. */
int cti_xml_service_event(char *out, size_t cap, int in_service, unsigned long crossref,
                          const char *device);
/* SnapshotDeviceResponse: an empty call list plus the device's service state. */
int cti_xml_snapshot_device_resp(char *out, size_t cap, const char *device, int in_service);
/* GetSwitchingFunctionDevicesResponse listing n devices. */
int cti_xml_sf_devices_resp(char *out, size_t cap, const char *const *devices, size_t n);

#endif
