/* SPDX-License-Identifier: ISC */
#include "tgcti.h"

#include "tgnet.h"

#include <arpa/inet.h>
#include <errno.h>
#include <libxml/parser.h>
#include <libxml/tree.h>
#include <netdb.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>
#include <poll.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define NS_CSTA "http://www.ecma-international.org/standards/ecma-323/csta/ed5"
#define NS_ACSE "http://www.ecma-international.org/standards/ecma-354/appl_session"
#define QMAX 256

struct tgcti {
	int fd;
	SSL_CTX *ctx;
	SSL *ssl;
	int timeout_ms;
	int invoke;
	char session[64];
	int duration;
	long long next_beat_ms;
	struct tgcti_event q[QMAX];
	int qhead, qlen;
};

static int write_all(struct tgcti *c, const void *buf, size_t len)
{
	return tgnet_write_all(c->fd, c->ssl, buf, len);
}

/* Reads exactly len bytes within deadline (absolute ms; -1 = none). 0 ok, -1 error,
 * -2 timeout. */
static int read_all(struct tgcti *c, void *buf, size_t len, long long deadline)
{
	char *p = buf;
	while (len) {
		long n = tgnet_read(c->fd, c->ssl, p, len, deadline);
		if (n <= 0)
			return n == -2 ? -2 : -1;
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

static int send_frame(struct tgcti *c, int invoke, const char *body)
{
	size_t bl = strlen(body), n = bl + 8;
	if (n > 65535)
		return -1;
	unsigned char hdr[8];
	hdr[0] = hdr[1] = 0;
	hdr[2] = (unsigned char)(n >> 8);
	hdr[3] = (unsigned char)n;
	invoke %= 10000;
	for (int i = 7; i >= 4; i--, invoke /= 10)
		hdr[i] = (unsigned char)('0' + invoke % 10);
	if (write_all(c, hdr, 8) != 0 || write_all(c, body, bl) != 0)
		return -1;
	return 0;
}

/* The text of the first element called name, or NULL (caller frees with xmlFree). */
static xmlChar *field(xmlNode *n, const char *name)
{
	for (; n; n = n->next) {
		if (n->type == XML_ELEMENT_NODE && strcmp((const char *)n->name, name) == 0)
			return xmlNodeGetContent(n);
		xmlChar *t = field(n->children, name);
		if (t)
			return t;
	}
	return NULL;
}

static void copy_field(xmlNode *root, const char *name, char *out, size_t cap)
{
	xmlChar *t = field(root->children, name);
	snprintf(out, cap, "%s", t ? (const char *)t : "");
	xmlFree(t);
}

/* Reads one frame; events are queued. Returns the document of a response with the given
 * invoke id (caller frees), or NULL on error/timeout. When invoke < 0 it returns after
 * one event was queued (NULL, *got_event = 1). */
static xmlDocPtr read_msg(struct tgcti *c, int invoke, long long deadline, int *got_event,
                          char *err, size_t errlen)
{
	for (;;) {
		unsigned char hdr[8];
		int r = read_all(c, hdr, 8, deadline);
		if (r == -2) {
			snprintf(err, errlen, "timed out");
			return NULL;
		}
		size_t n = (size_t)hdr[2] << 8 | hdr[3];
		if (r < 0 || hdr[0] || hdr[1] || n <= 8) {
			snprintf(err, errlen,
			         r < 0 ? "connection closed" : "bad frame from the server");
			return NULL;
		}
		char *body = malloc(n - 8);
		if (!body || read_all(c, body, n - 8, deadline) != 0) {
			free(body);
			snprintf(err, errlen, "connection closed");
			return NULL;
		}
		int id = atoi((char[]){(char)hdr[4], (char)hdr[5], (char)hdr[6], (char)hdr[7], 0});
		xmlDocPtr doc =
		    xmlReadMemory(body, (int)(n - 8), "cti.xml", NULL,
		                  XML_PARSE_NONET | XML_PARSE_NOERROR | XML_PARSE_NOWARNING);
		free(body);
		xmlNode *root = doc ? xmlDocGetRootElement(doc) : NULL;
		if (!root) {
			xmlFreeDoc(doc);
			snprintf(err, errlen, "the server sent something that is not XML");
			return NULL;
		}
		if (id == 9999) {
			const char *nm = (const char *)root->name;
			int in = strcmp(nm, "BackInServiceEvent") == 0;
			if ((in || strcmp(nm, "OutOfServiceEvent") == 0) && c->qlen < QMAX) {
				struct tgcti_event *e = &c->q[(c->qhead + c->qlen++) % QMAX];
				char x[32];
				e->in_service = in;
				copy_field(root, "monitorCrossRefID", x, sizeof x);
				e->xref = strtoul(x, NULL, 10);
				copy_field(root, "deviceIdentifier", e->device, sizeof e->device);
			}
			xmlFreeDoc(doc);
			if (invoke < 0) {
				*got_event = 1;
				return NULL;
			}
			continue;
		}
		if (id == invoke)
			return doc;
		xmlFreeDoc(doc); /* a late answer to something we gave up on */
	}
}

static xmlDocPtr call(struct tgcti *c, const char *body, char *err, size_t errlen)
{
	c->invoke = c->invoke % 9998 + 1;
	if (send_frame(c, c->invoke, body) != 0) {
		snprintf(err, errlen, "cannot send: connection closed");
		return NULL;
	}
	int ev = 0;
	return read_msg(c, c->invoke, tgnet_now_ms() + c->timeout_ms, &ev, err, errlen);
}

struct tgcti *tgcti_connect(const struct tgcti_opts *o, char *err, size_t errlen)
{
	struct tgcti *c = calloc(1, sizeof *c);
	if (!c) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	c->fd = -1;
	c->timeout_ms = o->timeout_ms > 0 ? o->timeout_ms : 10000;
	if ((o->cert_file || o->key_file) && !o->tls) {
		snprintf(err, errlen, "a client certificate needs TLS (--tls)");
		free(c);
		return NULL;
	}
	c->fd = tgnet_connect(o->host, o->port, c->timeout_ms, err, errlen);
	if (c->fd < 0) {
		free(c);
		return NULL;
	}
	if (o->tls) {
		c->ctx = tgnet_tls_ctx(o->ca_file, NULL, o->cert_file, o->key_file, err, errlen);
		c->ssl = c->ctx ? tgnet_tls_connect(c->ctx, c->fd,
		                                    o->server_name ? o->server_name : o->host, err,
		                                    errlen)
		                : NULL;
		if (!c->ssl) {
			tgcti_close(c);
			return NULL;
		}
	}
	return c;
}

void tgcti_close(struct tgcti *c)
{
	if (!c)
		return;
	tgnet_close(c->fd, c->ssl);
	SSL_CTX_free(c->ctx);
	free(c);
}

/* Escapes s for XML text into out. */
static void esc(const char *s, size_t len, char *out, size_t cap)
{
	size_t o = 0;
	for (size_t i = 0; i < len && o + 7 < cap; i++) {
		const char *r = NULL;
		switch (s[i]) {
		case '<':
			r = "&lt;";
			break;
		case '>':
			r = "&gt;";
			break;
		case '&':
			r = "&amp;";
			break;
		default:
			out[o++] = s[i];
			continue;
		}
		size_t rl = strlen(r);
		memcpy(out + o, r, rl);
		o += rl;
	}
	out[o] = '\0';
}

/* StartApplicationSession with one credential element (tg:password or tg:accessToken,
 * len bytes of value); user may be "" for a token (the server takes the token's subject). */
static int login(struct tgcti *c, const char *app, const char *user, const char *elem,
                 const char *value, size_t len, int duration, char *err, size_t errlen)
{
	/* Escaping makes a byte at most 6 ("&quot;"); the rest of the body is under 1 KiB. */
	size_t evcap = len * 6 + 1, cap = evcap + 4096;
	char eapp[1024], euser[1024], dur[96] = "", *ev = malloc(evcap), *body = malloc(cap);
	if (!ev || !body) {
		free(ev);
		free(body);
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	esc(app, strlen(app), eapp, sizeof eapp);
	esc(user, strlen(user), euser, sizeof euser);
	esc(value, len, ev, evcap);
	if (duration > 0)
		snprintf(dur, sizeof dur, "<requestedSessionDuration>%d</requestedSessionDuration>",
		         duration);
	snprintf(
	    body, cap,
	    "<?xml version=\"1.0\" encoding=\"UTF-8\"?><StartApplicationSession xmlns=\"" NS_ACSE
	    "\"><applicationInfo><applicationID>%s</applicationID><applicationSpecificInfo>"
	    "<tg:login xmlns:tg=\"urn:telgate:cti:1\"><tg:userID>%s</tg:userID><tg:%s>%s"
	    "</tg:%s></tg:login></applicationSpecificInfo></applicationInfo>"
	    "<requestedProtocolVersions><protocolVersion>" NS_CSTA
	    "</protocolVersion></requestedProtocolVersions>%s</StartApplicationSession>",
	    eapp, euser, elem, ev, elem, dur);
	xmlDocPtr doc = call(c, body, err, errlen);
	OPENSSL_cleanse(ev, evcap);
	OPENSSL_cleanse(body, cap);
	free(ev);
	free(body);
	if (!doc)
		return -1;
	xmlNode *root = xmlDocGetRootElement(doc);
	int rc = -1;
	if (strcmp((const char *)root->name, "StartApplicationSessionPosResponse") == 0) {
		char d[32];
		copy_field(root, "sessionID", c->session, sizeof c->session);
		copy_field(root, "actualSessionDuration", d, sizeof d);
		c->duration = atoi(d) > 0 ? atoi(d) : 60;
		c->next_beat_ms = tgnet_now_ms() + c->duration * 500LL;
		rc = 0;
	} else {
		char e[128];
		copy_field(root, "definedError", e, sizeof e);
		/* The server says only the CSTA error (a reason would help an attacker); where to
		 * find the reason is what the user needs to know. */
		snprintf(err, errlen,
		         "login refused: %s (the server's log has the reason: "
		         "event=cti_login_refused%s%s)",
		         e[0] ? e : (const char *)root->name, user[0] ? " user=" : "", user);
	}
	xmlFreeDoc(doc);
	return rc;
}

int tgcti_login(struct tgcti *c, const char *app, const char *user, const char *password,
                size_t pwlen, int duration, char *err, size_t errlen)
{
	if (pwlen > 1024) {
		snprintf(err, errlen, "password too long");
		return -1;
	}
	return login(c, app, user, "password", password, pwlen, duration, err, errlen);
}

int tgcti_login_token(struct tgcti *c, const char *app, const char *user, const char *token,
                      size_t len, int duration, char *err, size_t errlen)
{
	if (len > TGCTI_TOKEN_MAX) {
		snprintf(err, errlen, "access token longer than %d bytes", TGCTI_TOKEN_MAX);
		return -1;
	}
	return login(c, app, user ? user : "", "accessToken", token, len, duration, err, errlen);
}

int tgcti_monitor(struct tgcti *c, const char *device, unsigned long *xref, char *err,
                  size_t errlen)
{
	char edev[1024], body[2048];
	esc(device, strlen(device), edev, sizeof edev);
	snprintf(body, sizeof body,
	         "<?xml version=\"1.0\" encoding=\"UTF-8\"?><MonitorStart xmlns=\"" NS_CSTA
	         "\"><monitorObject><deviceObject>%s</deviceObject></monitorObject></MonitorStart>",
	         edev);
	xmlDocPtr doc = call(c, body, err, errlen);
	if (!doc)
		return -1;
	xmlNode *root = xmlDocGetRootElement(doc);
	int rc = -1;
	if (strcmp((const char *)root->name, "MonitorStartResponse") == 0) {
		char x[32];
		copy_field(root, "monitorCrossRefID", x, sizeof x);
		*xref = strtoul(x, NULL, 10);
		rc = 0;
	} else {
		xmlNode *e = root->children;
		while (e && e->type != XML_ELEMENT_NODE)
			e = e->next;
		xmlChar *t = e ? xmlNodeGetContent(e) : NULL;
		snprintf(err, errlen, "%s: %s", device,
		         t ? (const char *)t : (const char *)root->name);
		xmlFree(t);
	}
	xmlFreeDoc(doc);
	return rc;
}

static int heartbeat(struct tgcti *c, char *err, size_t errlen)
{
	char body[512];
	snprintf(body, sizeof body,
	         "<?xml version=\"1.0\" encoding=\"UTF-8\"?><ResetApplicationSessionTimer "
	         "xmlns=\"" NS_ACSE "\"><sessionID>%s</sessionID></ResetApplicationSessionTimer>",
	         c->session);
	xmlDocPtr doc = call(c, body, err, errlen);
	if (!doc)
		return -1;
	int ok = strcmp((const char *)xmlDocGetRootElement(doc)->name,
	                "ResetApplicationSessionTimerPosResponse") == 0;
	xmlFreeDoc(doc);
	if (!ok)
		snprintf(err, errlen, "heartbeat refused: session gone");
	c->next_beat_ms = tgnet_now_ms() + c->duration * 500LL;
	return ok ? 0 : -1;
}

int tgcti_next_event(struct tgcti *c, int timeout_ms, struct tgcti_event *ev, char *err,
                     size_t errlen)
{
	long long end = timeout_ms < 0 ? -1 : tgnet_now_ms() + timeout_ms;
	for (;;) {
		if (c->qlen) {
			*ev = c->q[c->qhead];
			c->qhead = (c->qhead + 1) % QMAX;
			c->qlen--;
			return 1;
		}
		long long now = tgnet_now_ms();
		if (c->session[0] && now >= c->next_beat_ms && heartbeat(c, err, errlen) != 0)
			return -1;
		if (c->qlen)
			continue;
		long long until = c->session[0] ? c->next_beat_ms : -1;
		if (end >= 0 && (until < 0 || end < until))
			until = end;
		if (end >= 0 && now >= end)
			return 0;
		int got = 0;
		char e[128];
		xmlDocPtr doc = read_msg(c, -1, until, &got, e, sizeof e);
		xmlFreeDoc(doc);
		if (!got && strcmp(e, "timed out") != 0) {
			snprintf(err, errlen, "%s", e);
			return -1;
		}
	}
}
