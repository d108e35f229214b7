/* SPDX-License-Identifier: ISC */
#include "sip/msg.h"
#include "sip/bearer.h"
#include "core/util.h"
#include "sip/sipfast.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <netinet/in.h>
#include <sodium.h>
#include <stdint.h>
#include <stdarg.h>
#include <osipparser2/osip_message.h>
#include <osipparser2/osip_parser.h>
#include <osipparser2/osip_port.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

static pthread_once_t once = PTHREAD_ONCE_INIT;
static int init_rc;

static void no_trace(const char *fi, int li, osip_trace_level_t level, const char *chfr, va_list ap)
{
	(void)fi;
	(void)li;
	(void)level;
	(void)chfr;
	(void)ap;
}

static void do_init(void)
{
	/* libosip2's own trace writes to the terminal: ours is the only log. */
	osip_trace_initialize_func(TRACE_LEVEL0, no_trace);
	for (int l = TRACE_LEVEL0; l < END_TRACE_LEVEL; l++)
		osip_trace_disable_level((osip_trace_level_t)l);
	init_rc = parser_init();
}

int sip_msg_init(void)
{
	pthread_once(&once, do_init);
	return init_rc == 0 ? 0 : -1;
}

#define FAIL(code, ...)                                                                            \
	do {                                                                                       \
		*status = (code);                                                                  \
		snprintf(reason, reason_cap, __VA_ARGS__);                                         \
		return -1;                                                                         \
	} while (0)

/* 1 when every NUL of the header section is a quoted-pair inside a quoted-string (RFC 3261
 * §25.1, RFC 4475 §3.1.1.2: display names, quoted parameter values); the caller hands
 * libosip2 a copy without them. */
static int nuls_quoted(const char *buf, size_t hlen)
{
	int q = 0;
	for (size_t i = 0; i < hlen; i++) {
		char ch = buf[i];
		if (q && ch == '\\' && i + 1 < hlen && buf[i + 1] != '\r' && buf[i + 1] != '\n') {
			i++; /* a quoted-pair: whatever follows, NUL included */
			continue;
		}
		if (!ch)
			return 0;
		if (ch == '"')
			q = !q;
		else if (ch == '\n')
			q = 0; /* a quoted-string does not cross lines */
	}
	return 1;
}

/* Scans the header section before libosip2 sees it: limits, header names made of token
 * characters only, no NUL, and single-value headers present once. *hlen gets the length of
 * the header section with its empty line (the body, bytes framed by Content-Length, may
 * hold anything: RFC 3261 §7.4). */
static int prescan(const char *buf, size_t len, size_t *hlen, int *status, char *reason,
                   size_t reason_cap)
{
	size_t i = 0;
	/* the request line */
	while (i < len && buf[i] != '\n')
		i++;
	int headers = 0, vias = 0, to = 0, from = 0, callid = 0, cseq = 0, clen = 0;
	*hlen = 0;
	while (++i < len) {
		size_t start = i;
		if (buf[i] == '\r' && i + 1 < len && buf[i + 1] == '\n') {
			*hlen = i + 2; /* end of headers */
			break;
		}
		if (buf[i] == '\n') {
			*hlen = i + 1;
			break;
		}
		if (buf[i] == ' ' || buf[i] == '\t') { /* folded continuation */
			while (i < len && buf[i] != '\n')
				i++;
			continue;
		}
		size_t n = 0;
		while (i < len && buf[i] != ':' && buf[i] != '\n') {
			unsigned char ch = (unsigned char)buf[i];
			if (ch < 0x21 || ch > 0x7e) {
				if (ch == ' ' || ch == '\t') { /* allowed before the colon */
					i++;
					continue;
				}
				FAIL(400, "Bad header name (control or non-ASCII character)");
			}
			n++;
			i++;
		}
		if (i >= len || buf[i] != ':' || !n)
			FAIL(400, "Malformed header line");
		if (++headers > SIP_HEADERS_MAX)
			FAIL(400, "Too many headers");
		const char *h = buf + start;
#define IS(name) (n == strlen(name) && strncasecmp(h, name, n) == 0)
		if (IS("Via") || IS("v")) {
			int commas = 1;
			for (size_t k = i; k < len && buf[k] != '\n'; k++)
				commas += buf[k] == ',';
			vias += commas;
			if (vias > SIP_VIA_MAX)
				FAIL(400, "Too many Via headers");
		}
		to += IS("To") || IS("t");
		from += IS("From") || IS("f");
		callid += IS("Call-ID") || IS("i");
		cseq += IS("CSeq");
		clen += IS("Content-Length") || IS("l");
#undef IS
		if (to > 1 || from > 1 || callid > 1 || cseq > 1 || clen > 1)
			FAIL(400, "Duplicate To, From, Call-ID, CSeq or Content-Length header");
		while (i < len && buf[i] != '\n')
			i++;
	}
	if (!*hlen)
		FAIL(400, "Header section not terminated");
	if (memchr(buf, '\0', *hlen) && !nuls_quoted(buf, *hlen))
		FAIL(400, "NUL byte in the header section");
	return 0;
}

/* The request line's checks that come before libosip2 (which cannot read every scheme):
 * SIP-Version (505, RFC 3261 §8.2 / RFC 4475 §3.1.2.16) and a Request-URI scheme that is
 * a well-formed scheme but not sip or sips (416, RFC 3261 §8.2.2.1). The URI is what lies
 * between the first and the last SP. */
static int request_line(const char *buf, size_t len, int *status, char *reason, size_t reason_cap)
{
	const char *eol = memchr(buf, '\n', len);
	if (!eol)
		return 0;
	size_t n = (size_t)(eol - buf);
	while (n && (buf[n - 1] == '\r' || buf[n - 1] == ' ' || buf[n - 1] == '\t'))
		n--; /* trailing whitespace (RFC 4475 §3.1.2.10): libosip2 judges it */
	const char *sp1 = memchr(buf, ' ', n), *sp2 = buf + n;
	while (sp2 > buf && sp2[-1] != ' ')
		sp2--;
	if (!sp1 || sp2 <= sp1 + 1)
		return 0; /* not three parts: libosip2 refuses it */
	size_t vl = (size_t)(buf + n - sp2);
	if (vl != 7 || strncasecmp(sp2, "SIP/2.0", 7) != 0) {
		*status = 505;
		snprintf(reason, reason_cap, "Version Not Supported");
		return -1;
	}
	const char *u = sp1 + 1, *colon = memchr(u, ':', (size_t)(sp2 - 1 - u));
	if (!colon || colon == u || !isalpha((unsigned char)*u))
		return 0;
	for (const char *c = u; c < colon; c++)
		if (!isalnum((unsigned char)*c) && *c != '+' && *c != '-' && *c != '.')
			return 0;
	size_t sl = (size_t)(colon - u);
	if (!(sl == 3 && !strncasecmp(u, "sip", 3)) && !(sl == 4 && !strncasecmp(u, "sips", 4))) {
		*status = 416;
		snprintf(reason, reason_cap, "Unsupported URI Scheme");
		return -1;
	}
	return 0;
}

int64_t sip_expires_value(const char *s)
{
	/* delta-seconds = 1*DIGIT; surrounding LWS was removed by the header parser. */
	while (*s == ' ' || *s == '\t')
		s++;
	if (!isdigit((unsigned char)*s))
		return SIP_EXPIRES_MALFORMED;
	int64_t v = 0;
	for (; isdigit((unsigned char)*s); s++)
		if (v <= SIP_EXPIRES_MAX)
			v = v * 10 + (*s - '0'); /* stops growing past the cap: no overflow */
	while (*s == ' ' || *s == '\t')
		s++;
	if (*s)
		return SIP_EXPIRES_MALFORMED;
	return v > SIP_EXPIRES_MAX ? SIP_EXPIRES_MAX : v;
}

/* An unsigned decimal parameter value up to max; -1 when absent or not one. */
static int64_t param_uint(const osip_generic_param_t *p, int64_t max)
{
	if (!p || !p->gvalue || !isdigit((unsigned char)p->gvalue[0]))
		return -1;
	int64_t v = 0;
	for (const char *s = p->gvalue; *s; s++) {
		if (!isdigit((unsigned char)*s))
			return -1;
		v = v * 10 + (*s - '0');
		if (v > max)
			return -1;
	}
	return v;
}

/* The next header line of a header section: its name and its value with folded lines
 * joined by one SP (RFC 3261 §7.3.1) and surrounding LWS removed. *pos walks the section;
 * returns 0 at its end, 1 with the line, -1 when the value does not fit in cap. */
static int next_header(const char *buf, size_t hlen, size_t *pos, const char **name, size_t *nlen,
                       char *val, size_t cap)
{
	size_t i = *pos;
	if (i == 0) { /* skip the request line */
		while (i < hlen && buf[i] != '\n')
			i++;
		i++;
	}
	for (;;) {
		if (i >= hlen || buf[i] == '\r' || buf[i] == '\n')
			return 0;
		if (buf[i] != ' ' && buf[i] != '\t')
			break;
		while (i < hlen && buf[i] != '\n') /* a stray continuation: skip */
			i++;
		i++;
	}
	*name = buf + i;
	while (i < hlen && buf[i] != ':' && buf[i] != ' ' && buf[i] != '\t' && buf[i] != '\n')
		i++;
	*nlen = (size_t)(buf + i - *name);
	while (i < hlen && buf[i] != ':' && buf[i] != '\n')
		i++;
	if (i < hlen && buf[i] == ':')
		i++;
	size_t m = 0;
	int fits = 1, space = 0;
	for (;;) {
		while (i < hlen && buf[i] != '\n') {
			char ch = buf[i++];
			if (ch == '\r')
				continue;
			if (ch == ' ' || ch == '\t') {
				space = m > 0;
				continue;
			}
			if (space && m + 1 < cap)
				val[m++] = ' ';
			space = 0;
			if (m + 1 < cap)
				val[m++] = ch;
			else
				fits = 0;
		}
		i++;
		if (i < hlen && (buf[i] == ' ' || buf[i] == '\t'))
			space = m > 0; /* a folded continuation */
		else
			break;
	}
	val[m] = '\0';
	*pos = i;
	return fits ? 1 : -1;
}

#define HEADER_IS(name, nlen, full, compact)                                                       \
	(((nlen) == sizeof(full) - 1 && strncasecmp((name), (full), (nlen)) == 0) ||               \
	 ((compact) && (nlen) == 1 && tolower((unsigned char)*(name)) == (compact)))

/* 1 when the credentials value's scheme is Digest (the token "Digest" and then LWS). */
static int digest_scheme(const char *v)
{
	return strncasecmp(v, "Digest", 6) == 0 && (v[6] == ' ' || v[6] == '\t');
}

/* The URIs of one Contact header value as sent, in r->contacts[*n...] (each "<uri>"):
 * libosip2 unescapes a user part, and "%00" (RFC 4475 §3.1.1.4) would cut it. Values are
 * split at commas outside quotes and angle brackets; "*" has no URI. */
static void raw_contact_uris(const char *v, struct sip_req *r, int *n)
{
	while (*v) {
		const char *start = v, *lt = NULL, *gt = NULL;
		int q = 0;
		for (; *v && (q || (lt && !gt) || *v != ','); v++) {
			if (q && *v == '\\' && v[1])
				v++;
			else if (*v == '"' && !(lt && !gt))
				q = !q;
			else if (!q && *v == '<' && !lt)
				lt = v;
			else if (!q && *v == '>' && lt && !gt)
				gt = v;
		}
		const char *end = v;
		if (*v)
			v++;
		while (start < end && *start == ' ')
			start++;
		const char *u = lt && gt ? lt + 1 : start, *ue = lt && gt ? gt : start;
		if (!(lt && gt))
			while (ue < end && *ue != ';' && *ue != ' ')
				ue++;
		if (ue - u == 1 && *u == '*')
			continue;
		if (*n < SIP_CONTACTS_MAX) {
			size_t len = (size_t)(ue - u);
			struct sip_contact *c = &r->contacts[*n];
			if (len + 3 <= sizeof c->uri)
				snprintf(c->uri, sizeof c->uri, "<%.*s>", (int)len, u);
			else
				c->uri[0] = '\0'; /* too long: refused by the caller */
		}
		(*n)++;
	}
}

/* What the registrar reads from the raw header section rather than from libosip2: the
 * first Digest Authorization (libosip2 wants an SP after the scheme and drops HTAB) and
 * Require's option tags (it keeps no list of them). Returns 0 or -1 (a FAIL). */
static int raw_fields(const char *buf, size_t hlen, struct sip_req *r, int *raw_contacts,
                      int *status, char *reason, size_t reason_cap)
{
	*raw_contacts = 0;
	char val[4096];
	const char *name;
	size_t nlen, pos = 0;
	int rc;
	struct tg_sbuf un = {r->unsupported, sizeof r->unsupported, 0, 0};
	r->unsupported[0] = '\0';
	while ((rc = next_header(buf, hlen, &pos, &name, &nlen, val, sizeof val)) != 0) {
		int is_auth = HEADER_IS(name, nlen, "Authorization", 0);
		if ((is_auth || HEADER_IS(name, nlen, "Proxy-Authorization", 0)) &&
		    sip_bearer_scheme(val)) {
			if (r->bearer[0] || r->bearer_unreadable)
				continue;
			if (rc < 0 || strlen(val) >= sizeof r->bearer)
				r->bearer_unreadable = 1;
			else
				tg_strlcpy(r->bearer, val, sizeof r->bearer);
		} else if (is_auth) {
			if (r->auth[0] || r->auth_unreadable)
				continue;
			if (rc < 0 || strlen(val) >= sizeof r->auth) {
				/* Only a Digest one counts; its scheme is in the first bytes. */
				if (digest_scheme(val))
					r->auth_unreadable = 1;
				continue;
			}
			if (digest_scheme(val))
				tg_strlcpy(r->auth, val, sizeof r->auth);
		} else if (HEADER_IS(name, nlen, "Contact", 'm')) {
			if (rc < 0)
				FAIL(400, "Contact header too long");
			raw_contact_uris(val, r, raw_contacts);
		} else if (HEADER_IS(name, nlen, "Require", 0)) {
			if (rc < 0)
				FAIL(400, "Require header too long");
			/* The registrar supports no extension that a client may require
			 * (RFC 3261 §8.2.2.3): every tag is listed in Unsupported. */
			for (char *save = NULL, *t = strtok_r(val, ", ", &save); t;
			     t = strtok_r(NULL, ", ", &save)) {
				if (tg_sbuf_len(&un) > 0)
					tg_sbuf_put(&un, ", ");
				tg_sbuf_put(&un, t);
			}
		}
	}
	if (tg_sbuf_len(&un) < 0)
		FAIL(400, "Require header too long");
	return 0;
}

/* 1 when a raw "<uri>" names host right after its user part or scheme (a check that the
 * raw reading and libosip2's are about the same contact). */
static int names_host(const char *uri, const char *host)
{
	size_t hl = host ? strlen(host) : 0;
	if (!hl || uri[0] != '<')
		return 0;
	const char *at = strchr(uri, '@'), *p = at ? at + 1 : strchr(uri, ':');
	if (!p)
		return 0;
	if (!at)
		p++;
	if (*p == '[' && host[0] != '[')
		p++; /* libosip2 keeps an IPv6 reference without brackets */
	return strncasecmp(p, host, hl) == 0;
}

/* 1 when a parameter name holds "userid" (+u.sip!userid.ccm.cisco.com, +sip.userid). */
static int names_userid(const char *name)
{
	for (; *name; name++)
		if (strncasecmp(name, "userid", 6) == 0)
			return 1;
	return 0;
}

/* A parameter's value without its quotes (if quoted) into out: 0, or -1 when it is empty
 * or does not fit. */
static int unquote(const char *v, char *out, size_t cap)
{
	size_t vl = strlen(v);
	if (vl >= 2 && v[0] == '"' && v[vl - 1] == '"')
		v++, vl -= 2;
	if (!vl || vl >= cap)
		return -1;
	memcpy(out, v, vl);
	out[vl] = '\0';
	return 0;
}

/* Keeps *status when a raw answer (sip_response_raw) can be built from buf, else 0: the
 * request is dropped. */
static void raw_answerable(const char *buf, size_t len, int *status)
{
	char *probe = malloc(len + 256);
	if (!probe || sip_response_raw(buf, len, 400, "x", probe, len + 256) < 0)
		*status = 0;
	free(probe);
}

int sip_req_parse(const char *buf, size_t len, struct sip_req *r, int *status, char *reason,
                  size_t reason_cap)
{
	/* Everything is cleared but the large buffers the fast parse writes before reading
	 * (the echo text, the contacts it adds, the credentials) and the Bearer credential,
	 * which it never takes (the full parse reads it) and every reader reads as a string:
	 * only its first byte (issue 22: its 2 KB were ~260 instructions per parse). All of r
	 * is ~16 KB, most of it contacts that a REGISTER does not have (the full parse clears
	 * r again). A field added to struct sip_req is cleared here unless it goes inside f or
	 * between contacts and auth. */
	_Static_assert(offsetof(struct sip_fast, text) == 0, "the echo text opens struct sip_fast");
	char *base = (char *)r;
	size_t text_end = offsetof(struct sip_req, f) + sizeof r->f.text,
	       auth_end = offsetof(struct sip_req, auth) + sizeof r->auth,
	       bearer_end = offsetof(struct sip_req, bearer) + sizeof r->bearer;
	memset(base, 0, offsetof(struct sip_req, f));
	memset(base + text_end, 0, offsetof(struct sip_req, f) + sizeof r->f - text_end);
	memset(base + offsetof(struct sip_req, method), 0,
	       offsetof(struct sip_req, contacts) - offsetof(struct sip_req, method));
	memset(base + auth_end, 0, offsetof(struct sip_req, bearer) - auth_end);
	memset(base + bearer_end, 0, sizeof *r - bearer_end);
	r->auth[0] = r->bearer[0] = '\0';
	r->expires = -1;
	*status = 0;
	if (sip_fast_parse(buf, len, r))
		return 0;
	return sip_req_parse_full(buf, len, r, status, reason, reason_cap);
}

int sip_req_parse_full(const char *buf, size_t len, struct sip_req *r, int *status, char *reason,
                       size_t reason_cap)
{
	memset(r, 0, sizeof *r);
	r->expires = -1;
	*status = 0;
	if (len < 16 || len > SIP_MSG_MAX) {
		*status = 0;
		snprintf(reason, reason_cap, len > SIP_MSG_MAX ? "message too large" : "too short");
		return -1;
	}
	if (!memcmp(buf, "SIP/", 4)) {
		snprintf(reason, reason_cap, "a response, not a request");
		return -1;
	}
	size_t hlen = 0;
	if (prescan(buf, len, &hlen, status, reason, reason_cap) != 0 ||
	    request_line(buf, len, status, reason, reason_cap) != 0) {
		raw_answerable(buf, len, status);
		return -1;
	}
	/* NULs in the header section are quoted-pairs in quoted-strings (prescan): libosip2
	 * reads C strings, so it gets a copy where each is a '0'. Only display names and
	 * quoted parameter values change; nothing the registrar keeps comes from them. */
	char *copy = NULL;
	const char *text = buf;
	if (memchr(buf, '\0', hlen)) {
		if (!(copy = malloc(len))) {
			snprintf(reason, reason_cap, "out of memory");
			return -1;
		}
		memcpy(copy, buf, len);
		for (size_t k = 0; k < hlen; k++)
			if (!copy[k])
				copy[k] = '0';
		text = copy;
	}
	/* The body is bytes framed by Content-Length (NUL included: RFC 3261 §7.4);
	 * libosip2 copies it by length. The header section was checked for NUL above. */
	osip_message_t *m;
	if (osip_message_init(&m) != 0) {
		snprintf(reason, reason_cap, "out of memory");
		return -1;
	}
	int prc = osip_message_parse(m, text, len);
	free(copy);
	if (prc != 0 || !MSG_IS_REQUEST(m) || !m->sip_method) {
		/* A request libosip2 cannot read: 400 from the raw text (RFC 4475 §3.1.2) */
		osip_message_free(m);
		snprintf(reason, reason_cap, "Bad Request (unparseable)");
		*status = 400;
		raw_answerable(buf, len, status);
		return -1;
	}
	if (!m->call_id || !m->cseq || !m->from || !m->to || osip_list_size(&m->vias) == 0 ||
	    !m->cseq->number || !m->cseq->method || !m->call_id->number) {
		osip_message_free(m);
		snprintf(reason, reason_cap, "Missing Via, From, To, Call-ID or CSeq");
		*status = 400; /* RFC 4475 §3.3.1: answered with what there is */
		raw_answerable(buf, len, status);
		return -1;
	}
	r->m = m;
	tg_strlcpy(r->method, m->sip_method, sizeof r->method);
	char *end;
	unsigned long cseq = strtoul(m->cseq->number, &end, 10);
	if (*end || !*m->cseq->number || cseq > 0x7fffffffUL)
		FAIL(400, "Bad CSeq number");
	r->cseq = cseq;
	if (strcmp(m->cseq->method, m->sip_method) != 0)
		FAIL(400, "CSeq method does not match the request method");
	osip_via_t *via = NULL;
	osip_message_get_via(m, 0, &via);
	/* No branch: an RFC 2543 client (RFC 4475 §3.4.1), answered all the same. */
	if (!via || !via->host || !via->protocol)
		FAIL(400, "Bad Via header (host and transport are required)");
	if (!m->req_uri || !m->req_uri->scheme)
		FAIL(400, "Bad Request-URI");
	if (strcasecmp(m->req_uri->scheme, "sip") && strcasecmp(m->req_uri->scheme, "sips"))
		FAIL(416, "Unsupported URI Scheme");
	osip_header_t *mf = NULL;
	if (osip_message_get_max_forwards(m, 0, &mf) >= 0 && mf && mf->hvalue) {
		long v = strtol(mf->hvalue, &end, 10);
		/* 0 matters to proxies; the registrar is where the request ends (RFC 4475
		 * §3.3.11). */
		if (*end || v < 0 || !*mf->hvalue)
			FAIL(400, "Bad Max-Forwards");
	}
	if (m->content_length && m->content_length->value) {
		long v = strtol(m->content_length->value, &end, 10);
		if (*end || v < 0 || v > SIP_MSG_MAX || !*m->content_length->value)
			FAIL(400, "Bad Content-Length");
		/* Fewer body bytes than announced: a truncated datagram (RFC 3261 §18.3).
		 * More: the rest of a datagram is discarded. A stream is framed exactly. */
		if ((size_t)v > len - hlen)
			FAIL(400, "Content-Length larger than the message body");
	}
	char *cid = NULL;
	if (osip_call_id_to_str(m->call_id, &cid) != 0 || !cid || strlen(cid) >= sizeof r->callid) {
		osip_free(cid);
		FAIL(400, "Bad Call-ID");
	}
	tg_strlcpy(r->callid, cid, sizeof r->callid);
	osip_free(cid);
	if (!m->to->url || !m->to->url->host)
		FAIL(400, "Bad To header");
	if (m->to->url->username) {
		if (strlen(m->to->url->username) >= sizeof r->aor_user)
			FAIL(400, "To user part too long");
		tg_strlcpy(r->aor_user, m->to->url->username, sizeof r->aor_user);
	}
	if (strlen(m->to->url->host) >= sizeof r->aor_host)
		FAIL(400, "To host too long");
	tg_strlcpy(r->aor_host, m->to->url->host, sizeof r->aor_host);
	osip_header_t *ua = NULL;
	if (osip_message_get_user_agent(m, 0, &ua) >= 0 && ua && ua->hvalue)
		tg_strlcpy(r->user_agent, ua->hvalue, sizeof r->user_agent);
	int raw_contacts;
	if (raw_fields(buf, hlen, r, &raw_contacts, status, reason, reason_cap) != 0)
		return -1;
	if (strcmp(r->method, "REGISTER") != 0)
		return 0;
	osip_header_t *ex = NULL;
	if (osip_message_get_expires(m, 0, &ex) >= 0 && ex && ex->hvalue)
		r->expires = sip_expires_value(ex->hvalue);
	int nc = osip_list_size(&m->contacts);
	for (int i = 0; i < nc; i++) {
		osip_contact_t *c = NULL;
		osip_message_get_contact(m, i, &c);
		if (!c)
			continue;
		if (!c->url) {
			if (c->displayname && strcmp(c->displayname, "*") == 0) {
				r->star = 1;
				continue;
			}
			FAIL(400, "Bad Contact header");
		}
		if (r->ncontacts == SIP_CONTACTS_MAX)
			FAIL(400, "More than %d contacts", SIP_CONTACTS_MAX);
		struct sip_contact *sc = &r->contacts[r->ncontacts++];
		/* The URI as sent (raw_contact_uris) when the raw reading agrees with
		 * libosip2's on the count and names the same host; libosip2's text
		 * otherwise. */
		if (raw_contacts != nc - r->star || !names_host(sc->uri, c->url->host)) {
			char *s = NULL;
			if (osip_uri_to_str(c->url, &s) != 0 || !s ||
			    strlen(s) + 3 > sizeof sc->uri) {
				osip_free(s);
				FAIL(400, "Contact URI too long");
			}
			snprintf(sc->uri, sizeof sc->uri, "<%s>", s);
			osip_free(s);
		} else if (!sc->uri[0]) {
			FAIL(400, "Contact URI too long");
		}
		osip_generic_param_t *p = NULL;
		sc->expires = -1;
		if (osip_contact_param_get_byname(c, "expires", &p) == 0 && p)
			sc->expires =
			    p->gvalue ? sip_expires_value(p->gvalue) : SIP_EXPIRES_MALFORMED;
		p = NULL;
		sc->regid = -1;
		if (osip_contact_param_get_byname(c, "reg-id", &p) == 0 && p &&
		    (sc->regid = param_uint(p, 0x7fffffff)) < 1)
			FAIL(400, "Bad Contact reg-id parameter");
		for (int k = 0; k < osip_list_size(&c->gen_params); k++) {
			osip_generic_param_t *g = osip_list_get(&c->gen_params, k);
			r->userid_params += g && g->gname && names_userid(g->gname);
		}
		p = NULL;
		if (osip_contact_param_get_byname(c, SIP_DEVICENAME_PARAM, &p) == 0 && p &&
		    p->gvalue) {
			char dn[SIP_DEVICENAME_MAX];
			if (unquote(p->gvalue, dn, sizeof dn) != 0)
				FAIL(400, "Bad Contact devicename parameter");
			if (!r->devicename[0])
				memcpy(r->devicename, dn, sizeof dn);
			else if (strcmp(r->devicename, dn) != 0)
				r->devicename_conflict = 1;
		}
		p = NULL;
		if (osip_contact_param_get_byname(c, "+sip.instance", &p) == 0 && p && p->gvalue) {
			/* a quoted string: "<urn:uuid:...>" (RFC 5626 §4.1) */
			if (unquote(p->gvalue, sc->instance, sizeof sc->instance) != 0)
				FAIL(400, "Bad Contact +sip.instance parameter");
		}
	}
	if (r->star && (r->ncontacts || r->expires != 0))
		FAIL(400, "Contact: * needs Expires: 0 and no other contact");
	return 0;
}

/* Sets a Via parameter to a copy of value, adding it when absent. */
static int via_param_set(osip_via_t *v, const char *name, const char *value)
{
	osip_generic_param_t *p = NULL;
	char *copy = osip_strdup(value);
	if (!copy)
		return -1;
	if (osip_via_param_get_byname(v, (char *)(uintptr_t)name, &p) == 0 && p) {
		osip_free(p->gvalue); /* osip_generic_param_set_value would leak it */
		p->gvalue = copy;
		return 0;
	}
	char *n = osip_strdup(name);
	if (!n || osip_via_param_add(v, n, copy) != 0) {
		osip_free(n);
		osip_free(copy);
		return -1;
	}
	return 0;
}

/* The address of an IP literal (IPv6 with or without brackets) in *out; 0 for a name. */
static int ip_literal(const char *host, struct sockaddr_storage *out)
{
	char h[64];
	size_t n = strlen(host);
	if (n >= 2 && host[0] == '[' && host[n - 1] == ']')
		host++, n -= 2;
	if (n >= sizeof h)
		return 0;
	memcpy(h, host, n);
	h[n] = '\0';
	memset(out, 0, sizeof *out);
	struct sockaddr_in *a4 = (struct sockaddr_in *)out;
	struct sockaddr_in6 *a6 = (struct sockaddr_in6 *)out;
	if (inet_pton(AF_INET, h, &a4->sin_addr) == 1) {
		a4->sin_family = AF_INET;
		return 1;
	}
	if (inet_pton(AF_INET6, h, &a6->sin6_addr) == 1) {
		a6->sin6_family = AF_INET6;
		return 1;
	}
	return 0;
}

/* 1 when a (from a Via) and the packet source b are the same address; an IPv4 source seen
 * on a dual-stack socket (::ffff:a.b.c.d) equals its IPv4 form. */
static int same_ip(const struct sockaddr_storage *a, const struct sockaddr *b)
{
	uint8_t mx[16], my[16];
	const struct sockaddr *sa[2] = {(const struct sockaddr *)a, b};
	uint8_t *m[2] = {mx, my};
	for (int k = 0; k < 2; k++) {
		if (sa[k]->sa_family == AF_INET) {
			static const uint8_t v4mapped[12] = {0, 0, 0, 0, 0,    0,
			                                     0, 0, 0, 0, 0xff, 0xff};
			memcpy(m[k], v4mapped, 12);
			memcpy(m[k] + 12, &((const struct sockaddr_in *)sa[k])->sin_addr, 4);
		} else if (sa[k]->sa_family == AF_INET6) {
			memcpy(m[k], &((const struct sockaddr_in6 *)sa[k])->sin6_addr, 16);
		} else {
			return 0;
		}
	}
	return memcmp(mx, my, 16) == 0;
}

/* Where a UDP response goes (RFC 3261 §18.2.2, RFC 3581 §4): the source, at the sent-by
 * port (5060 when absent) unless rport or force_rport. */
static void reply_to_set(struct sip_req *r, const struct sockaddr *src, size_t salen, int rport,
                         int force_rport, long via_port)
{
	memcpy(&r->reply_to, src, salen);
	r->reply_to_len = (socklen_t)salen;
	if (rport || force_rport)
		return;
	long p = via_port >= 1 && via_port <= 65535 ? via_port : 5060;
	if (src->sa_family == AF_INET)
		((struct sockaddr_in *)&r->reply_to)->sin_port = htons((uint16_t)p);
	else
		((struct sockaddr_in6 *)&r->reply_to)->sin6_port = htons((uint16_t)p);
}

/* The fast parse's request (sipfast.h): what the full parse writes into its Via is kept
 * for the response (set_rport, set_received). */
static int received_fast(struct sip_req *r, const struct sockaddr *src, size_t salen,
                         const char *ip, size_t ip_len, const char *port, size_t port_len,
                         int force_rport)
{
	struct sip_fast *f = &r->f;
	char host[256];
	_Static_assert(sizeof f->set_rport > 5 && sizeof f->set_received >= INET6_ADDRSTRLEN,
	               "a port's digits and an address's text fit");
	if (f->host_len >= sizeof host || port_len >= sizeof f->set_rport ||
	    ip_len >= sizeof f->set_received)
		return -1;
	int rport = f->rport_end != 0;
	if (rport && !f->rport_valued) {
		memcpy(f->set_rport, port, port_len + 1);
		f->set_rport_len = (uint8_t)port_len;
	}
	/* With rport, received goes in anyway. Else a sent-by written exactly as the source's
	 * address is (ip: inet_ntop's or dotted-quad form) is that address, without
	 * inet_pton (issue 22: ~600 instructions per REGISTER; a phone's Via names itself). */
	int same =
	    !rport && f->host_len == ip_len && memcmp(f->text + f->host, ip, f->host_len) == 0;
	if (!rport && !same) {
		memcpy(host, f->text + f->host, f->host_len);
		host[f->host_len] = '\0';
		struct sockaddr_storage sent_by;
		same = ip_literal(host, &sent_by) && same_ip(&sent_by, src);
	}
	if (!same) {
		memcpy(f->set_received, ip, ip_len + 1);
		f->set_received_len = (uint8_t)ip_len;
	}
	reply_to_set(r, src, salen, rport, force_rport, f->via_port ? f->via_port : 5060);
	return 0;
}

int sip_req_received(struct sip_req *r, const struct sockaddr *src, int force_rport)
{
	osip_via_t *v = NULL;
	if (!r->fast && (!r->m || osip_message_get_via(r->m, 0, &v) < 0 || !v || !v->host))
		return -1;
	char ip[INET6_ADDRSTRLEN], port[8];
	size_t ip_len;
	uint16_t sport;
	size_t salen;
	if (src->sa_family == AF_INET) {
		const struct sockaddr_in *a = (const struct sockaddr_in *)src;
		ip_len = (size_t)(tg_ipv4_str((const unsigned char *)&a->sin_addr, ip) - ip);
		sport = ntohs(a->sin_port);
		salen = sizeof *a;
	} else if (src->sa_family == AF_INET6) {
		const struct sockaddr_in6 *a = (const struct sockaddr_in6 *)src;
		if (IN6_IS_ADDR_V4MAPPED(&a->sin6_addr))
			ip_len = (size_t)(tg_ipv4_str(&a->sin6_addr.s6_addr[12], ip) - ip);
		else
			ip_len = inet_ntop(AF_INET6, &a->sin6_addr, ip, sizeof ip)
			             ? strlen(ip)
			             : (ip[0] = '\0', 0);
		sport = ntohs(a->sin6_port);
		salen = sizeof *a;
	} else {
		return -1;
	}
	char *ps = tg_utoa_end(port + sizeof port - 1, sport); /* no format parsing per request */
	port[sizeof port - 1] = '\0';
	size_t port_len = (size_t)(port + sizeof port - 1 - ps);
	memmove(port, ps, port_len + 1);
	if (r->fast)
		return received_fast(r, src, salen, ip, ip_len, port, port_len, force_rport);
	osip_generic_param_t *rp = NULL;
	int rport = osip_via_param_get_byname(v, "rport", &rp) == 0 && rp;
	struct sockaddr_storage sent_by;
	int literal = ip_literal(v->host, &sent_by);
	/* RFC 3581 §4: an rport without a value gets the source port, and received then
	 * goes in even when it equals sent-by. RFC 3261 §18.2.1: received whenever the
	 * sent-by host is not the source address (a host name never is). */
	if (rport && !(rp->gvalue && *rp->gvalue) && via_param_set(v, "rport", port) != 0)
		return -1;
	if ((rport || !literal || !same_ip(&sent_by, src)) && via_param_set(v, "received", ip) != 0)
		return -1;
	long p = 5060;
	if (v->port && *v->port) {
		char *end;
		p = strtol(v->port, &end, 10);
		if (*end || p < 1 || p > 65535)
			p = 5060; /* libosip2 checked the syntax; belt and braces */
	}
	reply_to_set(r, src, salen, rport, force_rport, p);
	return 0;
}

const char *sip_req_branch(const struct sip_req *r)
{
	if (r->fast)
		return r->f.branch;
	osip_generic_param_t *br = NULL;
	osip_via_t *v = NULL;
	if (r->m && osip_message_get_via(r->m, 0, &v) >= 0 && v &&
	    osip_via_param_get_byname(v, "branch", &br) == 0 && br && br->gvalue)
		return br->gvalue;
	return "";
}

/* l bytes of p at buf + n, cut at cap; the new length. Inlined, so that a separator's
 * one-byte copy is a store. */
static inline size_t tag_put(char *buf, size_t cap, size_t n, const char *p, size_t l)
{
	if (l > cap - n)
		l = cap - n;
	memcpy(buf + n, p, l);
	return n + l;
}

void sip_req_to_tag(const struct sip_req *r, const uint8_t key[16], char out[17])
{
	/* Call-ID, From tag, CSeq number and method, top branch: what identifies the
	 * request ('|'-separated; none of them may hold a '|' that matters here: a clash
	 * would only give two requests one tag). Copied piece by piece with their lengths
	 * (issue 22: eight tg_sbuf_put, ~450 instructions per answer; then a loop over a
	 * table of pieces, ~290 besides SipHash's ~400: ninth round); a piece that does not
	 * fit is cut there (a cut text is still a fine input). */
	char buf[SIP_CALLID_MAX + 2 * 256 + 64];
	osip_generic_param_t *ft = NULL;
	const char *from_tag = "";
	if (r->fast)
		from_tag = r->f.from_tag;
	else if (r->m && r->m->from && osip_from_get_tag(r->m->from, &ft) == 0 && ft && ft->gvalue)
		from_tag = ft->gvalue;
	char num[24];
	const char *cseq = tg_utoa_end(num + sizeof num, r->cseq), *branch = sip_req_branch(r);
	size_t n = tag_put(buf, sizeof buf, 0, r->callid, strlen(r->callid));
	n = tag_put(buf, sizeof buf, n, "|", 1);
	n = tag_put(buf, sizeof buf, n, from_tag, strlen(from_tag));
	n = tag_put(buf, sizeof buf, n, "|", 1);
	n = tag_put(buf, sizeof buf, n, cseq, (size_t)(num + sizeof num - cseq));
	n = tag_put(buf, sizeof buf, n, r->method, strlen(r->method));
	n = tag_put(buf, sizeof buf, n, "|", 1);
	n = tag_put(buf, sizeof buf, n, branch, strlen(branch));
	uint8_t h[crypto_shorthash_BYTES];
	crypto_shorthash(h, (const uint8_t *)buf, n, key);
	static const char hex[] = "0123456789abcdef";
	for (size_t i = 0; i < 8; i++) {
		out[2 * i] = hex[h[i] >> 4];
		out[2 * i + 1] = hex[h[i] & 15];
	}
	out[16] = '\0';
}

void sip_req_free(struct sip_req *r)
{
	if (r->m)
		osip_message_free(r->m);
	r->m = NULL;
}

int sip_req_contacts_text(const struct sip_req *r, char *out, size_t cap)
{
	struct tg_sbuf b = {out, cap, 0, 0};
	out[0] = '\0';
	if (!r->m) /* the fast parse defers contacts with user id parameters: none here */
		return 0;
	int nc = osip_list_size(&r->m->contacts);
	for (int i = 0; i < nc; i++) {
		osip_contact_t *c = NULL;
		char *s = NULL;
		osip_message_get_contact(r->m, i, &c);
		if (!c || osip_contact_to_str(c, &s) != 0 || !s) {
			osip_free(s);
			return -1;
		}
		if (i)
			tg_sbuf_put(&b, ", ");
		tg_sbuf_put(&b, s);
		osip_free(s);
	}
	return tg_sbuf_len(&b);
}

/* Header lines a response echoes, by full and compact name. */
static int echoed(const char *h, size_t n)
{
	static const char *const names[] = {"Via", "v",       "From", "f",   "To",
	                                    "t",   "Call-ID", "i",    "CSeq"};
	for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
		if (n == strlen(names[i]) && strncasecmp(h, names[i], n) == 0)
			return (int)(i / 2) + 1;
	return 0;
}

int sip_response_raw(const char *buf, size_t len, int code, const char *reason, char *out,
                     size_t cap)
{
	size_t o = 0;
	int seen[6] = {0};
	int w = snprintf(out, cap, "SIP/2.0 %d %s\r\n", code, reason);
	if (w < 0 || (size_t)w >= cap)
		return -1;
	o = (size_t)w;
	size_t i = 0;
	while (i < len && buf[i] != '\n')
		i++;
	while (++i < len && buf[i] != '\r' && buf[i] != '\n') {
		size_t start = i, n = 0;
		while (i < len && buf[i] != ':' && buf[i] != '\n' && buf[i] != ' ')
			i++, n++;
		size_t end = start;
		while (end < len && buf[end] != '\n')
			end++;
		int k = echoed(buf + start, n);
		/* Only well-behaved lines are echoed: no control characters. */
		int clean = 1;
		for (size_t j = start; j < end; j++)
			if ((unsigned char)buf[j] < 0x20 && buf[j] != '\r' && buf[j] != '\t')
				clean = 0;
		if (k && clean && (k == 1 || !seen[k])) {
			size_t l = end - start;
			if (l && buf[start + l - 1] == '\r')
				l--;
			if (o + l + 2 >= cap)
				return -1;
			memcpy(out + o, buf + start, l);
			memcpy(out + o + l, "\r\n", 2);
			o += l + 2;
			seen[k] = 1;
		}
		i = end;
	}
	if (!seen[1])
		return -2; /* no Via: cannot be answered (RFC 4475 §3.3.1 insuf has one) */
	w = snprintf(out + o, cap - o, "Server: telgate\r\nContent-Length: 0\r\n\r\n");
	if (w < 0 || (size_t)w >= cap - o)
		return -1;
	return (int)(o + (size_t)w);
}

static void put_hdr(struct tg_sbuf *o, const char *name, const char *value)
{
	tg_sbuf_put(o, name);
	tg_sbuf_put(o, ": ");
	tg_sbuf_put(o, value);
	tg_sbuf_put(o, "\r\n");
}

/* The status line. */
static void status_line(struct tg_sbuf *o, int code, const char *reason)
{
	char line[16] = "SIP/2.0 000 ";
	if (code < 100 || code > 999)
		code = 500;
	line[8] = (char)('0' + code / 100);
	line[9] = (char)('0' + code / 10 % 10);
	line[10] = (char)('0' + code % 10);
	tg_sbuf_put(o, line);
	tg_sbuf_put(o, reason);
	tg_sbuf_put(o, "\r\n");
}

static char *put(char *p, const char *s, size_t n)
{
	memcpy(p, s, n);
	return p + n;
}

#define LIT(p, s) put(p, s, sizeof s - 1)
#define RESPONSE_END "Server: telgate\r\nContent-Length: 0\r\n\r\n"

/* sip_response for the fast parse's request: the lines as sent, the top Via with what
 * sip_req_received set (as the full parse writes it into its Via). Measured first, then
 * one memcpy per piece with no bound check between them: through tg_sbuf (a strlen and a
 * check per piece, twenty pieces) it was ~1,250 instructions per answer (issue 22). */
static int response_fast(const struct sip_req *r, int code, const char *reason, const char *to_tag,
                         const char *extra, char *out, size_t cap)
{
	const struct sip_fast *f = &r->f;
	if (code < 100 || code > 999)
		code = 500;
	uint16_t head = f->rport_end ? f->rport_end : f->via0_len;
	/* the request's pieces by the lengths the fast parse and sip_req_received kept */
	size_t reason_len = strlen(reason), callid_len = f->callid_len,
	       extra_len = extra ? strlen(extra) : 0,
	       rport_len = f->rport_end ? f->set_rport_len : 0, recv_len = f->set_received_len,
	       tag_len = to_tag && !f->to_tagged ? strlen(to_tag) : 0;
	int tagged = to_tag && !f->to_tagged;
	size_t need =
	    sizeof "SIP/2.0 000 \r\nVia: " - 1 + reason_len + f->via0_len +
	    (rport_len ? 1 + rport_len : 0) + (recv_len ? sizeof ";received=" - 1 + recv_len : 0) +
	    2 + f->vias_len + sizeof "From: \r\nTo: " - 1 + f->from_len + f->to_len +
	    (tagged ? sizeof ";tag=" - 1 + tag_len : 0) + sizeof "\r\nCall-ID: \r\nCSeq: \r\n" - 1 +
	    callid_len + f->cseq_len + extra_len + sizeof RESPONSE_END - 1;
	if (need >= cap)
		return -1;
	char *p = LIT(out, "SIP/2.0 000 ");
	p[-4] = (char)('0' + code / 100);
	p[-3] = (char)('0' + code / 10 % 10);
	p[-2] = (char)('0' + code % 10);
	p = put(p, reason, reason_len);
	p = LIT(p, "\r\nVia: ");
	p = put(p, f->text + f->via0, head);
	if (rport_len)
		p = put(LIT(p, "="), f->set_rport, rport_len);
	p = put(p, f->text + f->via0 + head, (size_t)(f->via0_len - head));
	if (recv_len)
		p = put(LIT(p, ";received="), f->set_received, recv_len);
	p = LIT(p, "\r\n");
	p = put(p, f->text + f->vias, f->vias_len);
	p = put(LIT(p, "From: "), f->text + f->from, f->from_len);
	p = put(LIT(p, "\r\nTo: "), f->text + f->to, f->to_len);
	if (tagged)
		p = put(LIT(p, ";tag="), to_tag, tag_len);
	p = put(LIT(p, "\r\nCall-ID: "), r->callid, callid_len);
	p = put(LIT(p, "\r\nCSeq: "), f->text + f->cseq, f->cseq_len);
	p = LIT(p, "\r\n");
	if (extra_len)
		p = put(p, extra, extra_len);
	p = LIT(p, RESPONSE_END);
	*p = '\0';
	return (int)(p - out);
}

int sip_response(const struct sip_req *r, int code, const char *reason, const char *to_tag,
                 const char *extra, char *out, size_t cap)
{
	if (r->fast)
		return response_fast(r, code, reason, to_tag, extra, out, cap);
	osip_message_t *m = r->m;
	if (!m)
		return -1;
	struct tg_sbuf o = {out, cap, 0, 0};
	status_line(&o, code, reason);
	for (int i = 0; i < osip_list_size(&m->vias); i++) {
		osip_via_t *v = osip_list_get(&m->vias, i);
		char *s = NULL;
		if (v && osip_via_to_str(v, &s) == 0 && s)
			put_hdr(&o, "Via", s);
		osip_free(s);
	}
	char *s = NULL;
	if (m->from && osip_from_to_str(m->from, &s) == 0 && s)
		put_hdr(&o, "From", s);
	osip_free(s);
	s = NULL;
	if (m->to && osip_to_to_str(m->to, &s) == 0 && s) {
		osip_generic_param_t *tag = NULL;
		tg_sbuf_put(&o, "To: ");
		tg_sbuf_put(&o, s);
		if (to_tag && osip_to_get_tag(m->to, &tag) != 0) {
			tg_sbuf_put(&o, ";tag=");
			tg_sbuf_put(&o, to_tag);
		}
		tg_sbuf_put(&o, "\r\n");
	}
	osip_free(s);
	s = NULL;
	if (m->call_id && osip_call_id_to_str(m->call_id, &s) == 0 && s)
		put_hdr(&o, "Call-ID", s);
	osip_free(s);
	s = NULL;
	if (m->cseq && osip_cseq_to_str(m->cseq, &s) == 0 && s)
		put_hdr(&o, "CSeq", s);
	osip_free(s);
	if (extra)
		tg_sbuf_put(&o, extra);
	tg_sbuf_put(&o, RESPONSE_END);
	return tg_sbuf_len(&o);
}
