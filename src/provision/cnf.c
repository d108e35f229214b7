/* SPDX-License-Identifier: ISC */
/* cnf: the cnf.xml generator (cnf.h). The element structure is docs/device-files.md's. */
#include "provision/cnf.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <libxml/xmlwriter.h>

int cnf_sip_oauth_mode(int cluster_sip_oauth_mode, int profile_oauth)
{
	return cluster_sip_oauth_mode == 1 && profile_oauth ? 1 : 0;
}

/* --- text that XML 1.0 can carry ------------------------------------------------------- */

/* The length of the UTF-8 sequence at s (n bytes left) and its code point, or 0 for an
 * invalid, overlong or truncated sequence. */
static size_t utf8_decode(const unsigned char *s, size_t n, unsigned *cp)
{
	unsigned c = s[0];
	size_t len;
	unsigned min;
	if (c < 0x80) {
		*cp = c;
		return 1;
	} else if ((c & 0xe0) == 0xc0) {
		len = 2, min = 0x80, c &= 0x1f;
	} else if ((c & 0xf0) == 0xe0) {
		len = 3, min = 0x800, c &= 0x0f;
	} else if ((c & 0xf8) == 0xf0) {
		len = 4, min = 0x10000, c &= 0x07;
	} else {
		return 0;
	}
	if (len > n)
		return 0;
	for (size_t i = 1; i < len; i++) {
		if ((s[i] & 0xc0) != 0x80)
			return 0;
		c = (c << 6) | (s[i] & 0x3f);
	}
	if (c < min || c > 0x10ffff)
		return 0;
	*cp = c;
	return len;
}

/* XML 1.0 §2.2 Char: #x9 | #xA | #xD | [#x20-#xD7FF] | [#xE000-#xFFFD] | [#x10000-#x10FFFF]. */
static int xml_char(unsigned cp)
{
	return cp == 0x9 || cp == 0xa || cp == 0xd || (cp >= 0x20 && cp <= 0xd7ff) ||
	       (cp >= 0xe000 && cp <= 0xfffd) || (cp >= 0x10000 && cp <= 0x10ffff);
}

/* s as text XML can carry: a copy into out (cap >= 3 * strlen(s) + 1) where every byte
 * that does not start a valid UTF-8 sequence of an XML Char becomes U+FFFD. The writer
 * escapes the markup characters; this removes what no escape can express (&#1; is not
 * well-formed in XML 1.0 either). */
static void xml_clean(const char *s, char *out)
{
	const unsigned char *p = (const unsigned char *)s;
	size_t n = strlen(s), o = 0;
	while (n) {
		unsigned cp;
		size_t k = utf8_decode(p, n, &cp);
		if (k && xml_char(cp)) {
			memcpy(out + o, p, k);
			o += k;
		} else {
			k = 1;
			memcpy(out + o, "\xef\xbf\xbd", 3);
			o += 3;
		}
		p += k, n -= k;
	}
	out[o] = '\0';
}

/* --- the writer ------------------------------------------------------------------------ */

/* A writer whose first failure sticks, checked once at the end (as tg_sbuf). */
struct cw {
	xmlTextWriterPtr w;
	int bad;
	char tmp[3 * CNF_TEXT_MAX + 1];
};

static void cw_check(struct cw *c, int rc)
{
	if (rc < 0)
		c->bad = 1;
}

static void start(struct cw *c, const char *el)
{
	if (!c->bad)
		cw_check(c, xmlTextWriterStartElement(c->w, BAD_CAST el));
}

static void end(struct cw *c)
{
	if (!c->bad)
		cw_check(c, xmlTextWriterEndElement(c->w));
}

static void attr(struct cw *c, const char *name, const char *value)
{
	if (c->bad)
		return;
	xml_clean(value, c->tmp);
	cw_check(c, xmlTextWriterWriteAttribute(c->w, BAD_CAST name, BAD_CAST c->tmp));
}

static void text(struct cw *c, const char *el, const char *value)
{
	if (c->bad)
		return;
	xml_clean(value, c->tmp);
	cw_check(c, xmlTextWriterWriteElement(c->w, BAD_CAST el, BAD_CAST c->tmp));
}

static void num(struct cw *c, const char *el, unsigned v)
{
	char b[16];
	snprintf(b, sizeof b, "%u", v);
	text(c, el, b);
}

/* A port element, left out for port 0 (not configured). */
static void port(struct cw *c, const char *el, uint16_t v)
{
	if (v)
		num(c, el, v);
}

/* devicePool/callManagerGroup/members: one member per node, priority in list order. The
 * ports are the SIP ones telgate listens on; ethernetPhonePort (SCCP, 2000) is left out:
 * telgate has no SCCP listener to name. */
static void device_pool(struct cw *c, const struct cnf_node *nodes, size_t n)
{
	start(c, "devicePool");
	start(c, "callManagerGroup");
	start(c, "members");
	for (size_t i = 0; i < n; i++) {
		const struct cnf_node *nd = &nodes[i];
		char prio[24];
		snprintf(prio, sizeof prio, "%zu", i);
		start(c, "member");
		attr(c, "priority", prio);
		start(c, "callManager");
		text(c, "name", nd->name);
		if (nd->description[0])
			text(c, "description", nd->description);
		start(c, "ports");
		port(c, "sipPort", nd->sip_port);
		port(c, "securedSipPort", nd->secured_sip_port);
		port(c, "sipOAuthPort", nd->sip_oauth_port);
		port(c, "sipMRAOAuthPort", nd->sip_mra_oauth_port);
		end(c); /* ports */
		text(c, "processNodeName", nd->address);
		end(c); /* callManager */
		end(c); /* member */
	}
	end(c); /* members */
	end(c); /* callManagerGroup */
	end(c); /* devicePool */
}

/* sipProfile/sipLines: one line per button, featureID 9 (a line appearance),
 * proxy USECALLMANAGER (register with the callManagerGroup's nodes). */
static void sip_lines(struct cw *c, const struct cnf_device_input *in)
{
	start(c, "sipProfile");
	start(c, "sipLines");
	for (size_t i = 0; i < in->nlines; i++) {
		const struct cnf_line *l = &in->lines[i];
		const char *shown = l->display_name[0] ? l->display_name : l->name;
		char button[24];
		snprintf(button, sizeof button, "%zu", i + 1);
		start(c, "line");
		attr(c, "button", button);
		text(c, "featureID", "9");
		text(c, "featureLabel", shown);
		text(c, "proxy", "USECALLMANAGER");
		text(c, "name", l->name);
		text(c, "displayName", shown);
		text(c, "contact", l->name);
		end(c);
	}
	end(c); /* sipLines */
	end(c); /* sipProfile */
}

/* <telgate>: what Cisco's files have no element for. */
static void telgate_nodes(struct cw *c, const struct cnf_node *nodes, size_t n)
{
	start(c, "nodes");
	for (size_t i = 0; i < n; i++) {
		start(c, "node");
		attr(c, "name", nodes[i].name);
		port(c, "ctiPort", nodes[i].cti_port);
		port(c, "ctiTlsPort", nodes[i].cti_tls_port);
		end(c);
	}
	end(c);
}

static void trust_list(struct cw *c, const char *itl, const char *ctl)
{
	start(c, "trustList");
	if (itl && itl[0])
		text(c, "itlFile", itl);
	if (ctl && ctl[0])
		text(c, "ctlFile", ctl);
	end(c);
}

static void telgate_device(struct cw *c, const struct cnf_device_input *in)
{
	start(c, "telgate");
	text(c, "deviceName", in->name);
	text(c, "model", in->model);
	text(c, "description", in->description);
	start(c, "securityProfile");
	text(c, "name", in->security_profile);
	text(c, "transport", in->transport);
	text(c, "enableOAuthAuthentication", in->profile_oauth ? "true" : "false");
	end(c);
	num(c, "clusterSIPOAuthMode", (unsigned)in->cluster_sip_oauth_mode);
	telgate_nodes(c, in->nodes, in->nnodes);
	trust_list(c, in->itl_file, in->ctl_file);
	end(c);
}

/* Runs body between the XML declaration and the end of the document, and hands out the
 * bytes. */
static int write_doc(void (*body)(struct cw *, const void *), const void *arg, unsigned char **out,
                     size_t *len)
{
	xmlBufferPtr buf = xmlBufferCreate();
	if (!buf)
		return -ENOMEM;
	struct cw *c = calloc(1, sizeof *c);
	if (!c) {
		xmlBufferFree(buf);
		return -ENOMEM;
	}
	c->w = xmlNewTextWriterMemory(buf, 0);
	if (!c->w) {
		free(c);
		xmlBufferFree(buf);
		return -ENOMEM;
	}
	/* Two-space indentation: the files are read by people too (`telgate show config`). */
	cw_check(c, xmlTextWriterSetIndent(c->w, 1));
	cw_check(c, xmlTextWriterSetIndentString(c->w, BAD_CAST "  "));
	if (!c->bad)
		cw_check(c, xmlTextWriterStartDocument(c->w, "1.0", "UTF-8", NULL));
	body(c, arg);
	if (!c->bad)
		cw_check(c, xmlTextWriterEndDocument(c->w));
	int bad = c->bad;
	xmlFreeTextWriter(c->w); /* flushes into buf */
	free(c);
	int rc = -ENOMEM;
	if (!bad) {
		size_t n = (size_t)xmlBufferLength(buf);
		unsigned char *b = malloc(n ? n : 1);
		if (b) {
			memcpy(b, xmlBufferContent(buf), n);
			*out = b, *len = n;
			rc = 0;
		}
	}
	xmlBufferFree(buf);
	return rc;
}

static void device_body(struct cw *c, const void *arg)
{
	const struct cnf_device_input *in = arg;
	int mode = cnf_sip_oauth_mode(in->cluster_sip_oauth_mode, in->profile_oauth);
	start(c, "device");
	text(c, "deviceProtocol", in->protocol[0] ? in->protocol : "SIP");
	device_pool(c, in->nodes, in->nnodes);
	sip_lines(c, in);
	/* Seed 002's value set: 0 SIP OAuth disabled, 1 enabled. */
	num(c, "sipOAuthMode", (unsigned)mode);
	telgate_device(c, in);
	end(c);
}

int cnf_generate(const struct cnf_device_input *in, unsigned char **out, size_t *len)
{
	if (!in || !out || !len || in->nlines > CNF_LINES_MAX || in->nnodes > CNF_NODES_MAX)
		return -EINVAL;
	return write_doc(device_body, in, out, len);
}

struct default_args {
	const struct cnf_node *nodes;
	size_t n;
	const char *itl, *ctl;
};

static void default_body(struct cw *c, const void *arg)
{
	const struct default_args *a = arg;
	start(c, "device");
	device_pool(c, a->nodes, a->n);
	start(c, "telgate");
	telgate_nodes(c, a->nodes, a->n);
	trust_list(c, a->itl, a->ctl);
	end(c);
	end(c);
}

int cnf_default(const struct cnf_node *nodes, size_t n, const char *itl_file, const char *ctl_file,
                unsigned char **out, size_t *len)
{
	if (!out || !len || n > CNF_NODES_MAX || (n && !nodes))
		return -EINVAL;
	struct default_args a = {nodes, n, itl_file, ctl_file};
	return write_doc(default_body, &a, out, len);
}

int cnf_device_from_file(const char *name, char *out, size_t cap)
{
	static const char sfx[] = ".cnf.xml";
	size_t n = strlen(name), sl = sizeof sfx - 1;
	if (n <= sl || strcmp(name + n - sl, sfx) != 0 || strcmp(name, "XMLDefault.cnf.xml") == 0)
		return -ENOENT;
	n -= sl;
	if (n >= cap || memchr(name, '/', n))
		return -ENOENT;
	memcpy(out, name, n);
	out[n] = '\0';
	if (n == 15 && strncasecmp(out, "SEP", 3) == 0 &&
	    strspn(out + 3, "0123456789abcdefABCDEF") == 12) {
		for (size_t i = 0; i < n; i++)
			out[i] = (char)((out[i] >= 'a' && out[i] <= 'z') ? out[i] - 32 : out[i]);
	}
	return 0;
}
