#include "sip/msg.h"
#include "core/util.h"

#include <ctype.h>
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

/* Scans the header section before libosip2 sees it: limits, header names made of token
 * characters only, and single-value headers present once. */
static int prescan(const char *buf, size_t len, int *status, char *reason, size_t reason_cap)
{
	size_t i = 0;
	/* the request line */
	while (i < len && buf[i] != '\n')
		i++;
	int headers = 0, vias = 0, to = 0, from = 0, callid = 0, cseq = 0;
	while (++i < len) {
		size_t start = i;
		if (buf[i] == '\r' && i + 1 < len && buf[i + 1] == '\n')
			return 0; /* end of headers */
		if (buf[i] == '\n')
			return 0;
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
#undef IS
		if (to > 1 || from > 1 || callid > 1 || cseq > 1)
			FAIL(400, "Duplicate To, From, Call-ID or CSeq header");
		while (i < len && buf[i] != '\n')
			i++;
	}
	FAIL(400, "Header section not terminated");
}

static int param_int(osip_generic_param_t *p, int *out)
{
	if (!p || !p->gvalue)
		return -1;
	char *end;
	long v = strtol(p->gvalue, &end, 10);
	if (*end || v < 0 || v > 0x7fffffff || !*p->gvalue)
		return -1;
	*out = (int)v;
	return 0;
}

int sip_req_parse(const char *buf, size_t len, struct sip_req *r, int *status, char *reason,
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
	if (memchr(buf, '\0', len)) {
		snprintf(reason, reason_cap, "NUL byte in message");
		return -1;
	}
	if (!memcmp(buf, "SIP/", 4)) {
		snprintf(reason, reason_cap, "a response, not a request");
		return -1;
	}
	if (prescan(buf, len, status, reason, reason_cap) != 0) {
		/* Answered from the raw text (sip_response_raw) when it has what a response
		 * needs; dropped otherwise. */
		char *probe = malloc(len + 256);
		if (!probe || sip_response_raw(buf, len, 400, "x", probe, len + 256) < 0)
			*status = 0;
		free(probe);
		return -1;
	}
	osip_message_t *m;
	if (osip_message_init(&m) != 0) {
		snprintf(reason, reason_cap, "out of memory");
		return -1;
	}
	if (osip_message_parse(m, buf, len) != 0 || !MSG_IS_REQUEST(m) || !m->sip_method) {
		osip_message_free(m);
		snprintf(reason, reason_cap, "unparseable request");
		return -1;
	}
	if (!m->call_id || !m->cseq || !m->from || !m->to || osip_list_size(&m->vias) == 0 ||
	    !m->cseq->number || !m->cseq->method || !m->call_id->number) {
		osip_message_free(m);
		snprintf(reason, reason_cap, "missing Via, From, To, Call-ID or CSeq");
		return -1; /* a response needs them: drop */
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
	osip_generic_param_t *branch = NULL;
	osip_message_get_via(m, 0, &via);
	if (!via || !via->host || !via->protocol ||
	    osip_via_param_get_byname(via, "branch", &branch) != 0 || !branch || !branch->gvalue)
		FAIL(400, "Bad Via header (host, transport and branch are required)");
	if (!m->req_uri || !m->req_uri->scheme)
		FAIL(400, "Bad Request-URI");
	if (strcasecmp(m->req_uri->scheme, "sip") && strcasecmp(m->req_uri->scheme, "sips"))
		FAIL(416, "Unsupported URI Scheme");
	osip_header_t *mf = NULL;
	if (osip_message_get_max_forwards(m, 0, &mf) >= 0 && mf && mf->hvalue) {
		long v = strtol(mf->hvalue, &end, 10);
		if (*end || v < 0)
			FAIL(400, "Bad Max-Forwards");
		if (v == 0)
			FAIL(483, "Too Many Hops");
	}
	if (m->content_length && m->content_length->value) {
		long v = strtol(m->content_length->value, &end, 10);
		if (*end || v < 0 || v > SIP_MSG_MAX)
			FAIL(400, "Bad Content-Length");
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
	if (strcmp(r->method, "REGISTER") != 0)
		return 0;
	osip_header_t *ex = NULL;
	if (osip_message_get_expires(m, 0, &ex) >= 0 && ex && ex->hvalue) {
		long v = strtol(ex->hvalue, &end, 10);
		if (*end || v < 0 || v > 0x7fffffff || !*ex->hvalue)
			FAIL(400, "Bad Expires header");
		r->expires = (int)v;
	}
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
		char *s = NULL;
		if (osip_uri_to_str(c->url, &s) != 0 || !s || strlen(s) + 3 > sizeof sc->uri) {
			osip_free(s);
			FAIL(400, "Contact URI too long");
		}
		snprintf(sc->uri, sizeof sc->uri, "<%s>", s);
		osip_free(s);
		sc->expires = -1;
		osip_generic_param_t *p = NULL;
		if (osip_contact_param_get_byname(c, "expires", &p) == 0 && p &&
		    param_int(p, &sc->expires) != 0)
			FAIL(400, "Bad Contact expires parameter");
	}
	if (r->star && (r->ncontacts || r->expires != 0))
		FAIL(400, "Contact: * needs Expires: 0 and no other contact");
	osip_authorization_t *a = NULL;
	if (osip_message_get_authorization(m, 0, &a) >= 0 && a) {
		char *s = NULL;
		if (osip_authorization_to_str(a, &s) == 0 && s && strlen(s) < sizeof r->auth)
			tg_strlcpy(r->auth, s, sizeof r->auth);
		else {
			osip_free(s);
			FAIL(400, "Bad Authorization header");
		}
		osip_free(s);
	}
	return 0;
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
	if (!r->m)
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
	if (!seen[1] || !seen[2] || !seen[3] || !seen[4] || !seen[5])
		return -2; /* cannot be answered */
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

int sip_response(const struct sip_req *r, int code, const char *reason, const char *to_tag,
                 const char *extra, char *out, size_t cap)
{
	osip_message_t *m = r->m;
	if (!m)
		return -1;
	struct tg_sbuf o = {out, cap, 0, 0};
	char line[64];
	snprintf(line, sizeof line, "SIP/2.0 %d ", code);
	tg_sbuf_put(&o, line);
	tg_sbuf_put(&o, reason);
	tg_sbuf_put(&o, "\r\n");
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
	tg_sbuf_put(&o, "Server: telgate\r\nContent-Length: 0\r\n\r\n");
	return tg_sbuf_len(&o);
}
