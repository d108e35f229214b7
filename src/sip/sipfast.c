/* SPDX-License-Identifier: ISC */
#include "sip/sipfast.h"
#include "sip/sipscan.h"
#include "core/util.h"

#include <pthread.h>
#include <stdint.h>
#include <string.h>
#include <strings.h>

/* A piece of the request's text. */
struct span {
	const char *p;
	size_t n;
};

/* RFC 3261 §25.1 token characters: a table, the scan's most frequent test. */
static const unsigned char token_chars[256] = {
    ['-'] = 1,  ['.'] = 1, ['!'] = 1, ['%'] = 1, ['*'] = 1, ['_'] = 1, ['+'] = 1, ['`'] = 1,
    ['\''] = 1, ['~'] = 1, ['0'] = 1, ['1'] = 1, ['2'] = 1, ['3'] = 1, ['4'] = 1, ['5'] = 1,
    ['6'] = 1,  ['7'] = 1, ['8'] = 1, ['9'] = 1, ['A'] = 1, ['B'] = 1, ['C'] = 1, ['D'] = 1,
    ['E'] = 1,  ['F'] = 1, ['G'] = 1, ['H'] = 1, ['I'] = 1, ['J'] = 1, ['K'] = 1, ['L'] = 1,
    ['M'] = 1,  ['N'] = 1, ['O'] = 1, ['P'] = 1, ['Q'] = 1, ['R'] = 1, ['S'] = 1, ['T'] = 1,
    ['U'] = 1,  ['V'] = 1, ['W'] = 1, ['X'] = 1, ['Y'] = 1, ['Z'] = 1, ['a'] = 1, ['b'] = 1,
    ['c'] = 1,  ['d'] = 1, ['e'] = 1, ['f'] = 1, ['g'] = 1, ['h'] = 1, ['i'] = 1, ['j'] = 1,
    ['k'] = 1,  ['l'] = 1, ['m'] = 1, ['n'] = 1, ['o'] = 1, ['p'] = 1, ['q'] = 1, ['r'] = 1,
    ['s'] = 1,  ['t'] = 1, ['u'] = 1, ['v'] = 1, ['w'] = 1, ['x'] = 1, ['y'] = 1, ['z'] = 1,
};

/* Character classes, one lookup for what would be several range tests or a strchr
 * (issue 22): C_ALNUM letters and digits; C_HOST also '.' and '-' (a host name);
 * C_USER a URI user's unreserved characters as the fast parse takes them (no escapes);
 * C_CALLID a Call-ID's (RFC 3261 §25.1 word: token and "@:/[]?{}()", no quotes);
 * C_HEX6 an IPv6 reference's (hex digits, ':', '.'). */
enum { C_ALNUM = 1, C_HOST = 2, C_USER = 4, C_CALLID = 8, C_HEX6 = 16 };
static unsigned char cls[256];

static void cls_init(void)
{
	for (int c = 1; c < 256; c++) {
		int an = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
		int hex = (c >= '0' && c <= '9') || ((c | 0x20) >= 'a' && (c | 0x20) <= 'f');
		cls[c] =
		    (unsigned char)((an ? C_ALNUM | C_HOST | C_USER : 0) |
		                    (c == '.' || c == '-' ? C_HOST : 0) |
		                    (strchr("-_.!~*'+&=$,", c) ? C_USER : 0) |
		                    (token_chars[c] || strchr("@:/[]?{}()", c) ? C_CALLID : 0) |
		                    (hex || c == ':' || c == '.' ? C_HEX6 : 0));
	}
}

static int tok(unsigned char c)
{
	return token_chars[c];
}

static int alnum(unsigned char c)
{
	return cls[c] & C_ALNUM;
}

static int digit(unsigned char c)
{
	return c >= '0' && c <= '9';
}

/* n's l bytes OR 0x20 equal lo's: 8, 4, 2 or 1 bytes at a time, the last piece
 * overlapping the one before (loaded by memcpy, inside both strings). The case-blind
 * compare of the fast parse (issue 22: byte by byte it was ~600 instructions a request):
 * every byte it reads is printable ASCII or tab (a line sip_scan_line passed), and
 * against such a byte OR 0x20 is exact when lo holds lower-case letters and characters
 * from ' ' to '?' but ')' (a byte that ORs to one of those is a control character,
 * or a tab for ')'). */
static int fold_eq(const char *n, const char *lo, size_t l)
{
#define FOLD_EQ(T, at)                                                                             \
	do {                                                                                       \
		T a, b;                                                                            \
		memcpy(&a, n + (at), sizeof a);                                                    \
		memcpy(&b, lo + (at), sizeof b);                                                   \
		if ((T)(a | (T)0x2020202020202020ULL) != b)                                        \
			return 0;                                                                  \
	} while (0)
	if (l >= 8) {
		for (size_t i = 0; i + 8 < l; i += 8)
			FOLD_EQ(uint64_t, i);
		FOLD_EQ(uint64_t, l - 8);
	} else if (l >= 4) {
		FOLD_EQ(uint32_t, 0);
		FOLD_EQ(uint32_t, l - 4);
	} else if (l >= 2) {
		FOLD_EQ(uint16_t, 0);
		FOLD_EQ(uint16_t, l - 2);
	} else if (l == 1) {
		FOLD_EQ(uint8_t, 0);
	}
#undef FOLD_EQ
	return 1;
}

/* n bytes at s are lit (fold_eq: lower case) */
#define IS(s, n, lit) ((n) == sizeof(lit) - 1 && fold_eq((s), (lit), sizeof(lit) - 1))

/* A decimal of 1..digits digits filling [p, e), in *v. */
static int number(const char *p, const char *e, int digits, long *v)
{
	if (p >= e || e - p > digits)
		return 0;
	long x = 0;
	for (; p < e; p++) {
		if (!digit((unsigned char)*p))
			return 0;
		x = x * 10 + (*p - '0');
	}
	*v = x;
	return 1;
}

/* host [":" port] at *p, up to e: a name or IPv4 address (alphanumerics, '.', '-'), or an
 * IPv6 reference when brackets. *p moves past it. */
static int hostport(const char **p, const char *e, int brackets, struct span *host, long *port)
{
	const char *h = *p, *q = h;
	if (q < e && *q == '[') {
		if (!brackets)
			return 0;
		for (q++; q < e && (cls[(unsigned char)*q] & C_HEX6);)
			q++;
		if (q >= e || *q != ']' || q == h + 1)
			return 0;
		q++;
	} else {
		if (q >= e || !alnum((unsigned char)*q))
			return 0;
		while (q < e && (cls[(unsigned char)*q] & C_HOST))
			q++;
	}
	host->p = h;
	host->n = (size_t)(q - h);
	*port = 0;
	if (q < e && *q == ':') {
		const char *d = ++q;
		while (q < e && digit((unsigned char)*q))
			q++;
		if (!number(d, q, 5, port) || *port < 1 || *port > 65535)
			return 0;
	}
	*p = q;
	return 1;
}

/* ";" token at *q: a parameter's name (not empty), *q moved past it, value cleared. The
 * start of param and contact_param. */
static int param_name(const char **q, const char *e, struct span *name, struct span *value)
{
	const char *s = *q;
	if (s >= e || *s != ';')
		return 0;
	name->p = ++s;
	while (s < e && tok((unsigned char)*s))
		s++;
	name->n = (size_t)(s - name->p);
	value->p = NULL;
	value->n = 0;
	*q = s;
	return name->n > 0;
}

/* ";" token ["=" token] at *p: the parameter's name and value (value.p NULL when none).
 * *p moves past it. */
static int param(const char **p, const char *e, struct span *name, struct span *value)
{
	const char *q = *p;
	if (!param_name(&q, e, name, value))
		return 0;
	if (q < e && *q == '=') {
		value->p = ++q;
		while (q < e && tok((unsigned char)*q))
			q++;
		value->n = (size_t)(q - value->p);
		if (!value->n)
			return 0;
	}
	*p = q;
	return 1;
}

/* A SIP URI filling [u, e): "sip:" or "sips:", an optional user made of unreserved
 * characters (no escapes, password or ';'), host[:port], token parameters. */
static int uri(const char *u, const char *e, int brackets, struct span *user, struct span *host)
{
	const char *p = u;
	if (e - p > 4 && fold_eq(p, "sip:", 4))
		p += 4;
	else if (e - p > 5 && fold_eq(p, "sips:", 5))
		p += 5;
	else
		return 0;
	user->p = p;
	user->n = 0;
	/* The user: the run of user characters before an '@'. An '@' anywhere else is
	 * refused below (no host, port or parameter character is one). */
	const char *at = p;
	while (at < e && (cls[(unsigned char)*at] & C_USER))
		at++;
	if (at < e && *at == '@') {
		if (at == p)
			return 0;
		user->n = (size_t)(at - p);
		p = at + 1;
	}
	long port;
	if (!hostport(&p, e, brackets, host, &port) || host->n < 2) /* libosip2: "sip:a" fails */
		return 0;
	struct span n, v;
	while (p < e)
		if (!param(&p, e, &n, &v))
			return 0;
	return 1;
}

/* A From or To value "<uri>" and token parameters: the user and host, and the tag. */
static int name_addr(const char *v, const char *e, struct span *user, struct span *host,
                     struct span *tag)
{
	if (v >= e || *v != '<')
		return 0;
	const char *gt = memchr(v, '>', (size_t)(e - v));
	if (!gt || !uri(v + 1, gt, 0, user, host))
		return 0;
	tag->p = NULL;
	tag->n = 0;
	struct span n, val;
	for (const char *p = gt + 1; p < e;) {
		if (!param(&p, e, &n, &val))
			return 0;
		if (IS(n.p, n.n, "tag")) {
			if (tag->p || !val.p)
				return 0;
			*tag = val;
		}
	}
	return 1;
}

/* What a Via value tells. */
struct via {
	struct span host;
	long port;
	struct span branch;
	size_t rport_end; /* from the value's start; 0 = no rport */
	int rport_valued;
};

/* One Via value: "SIP/2.0/" transport, LWS, host[:port], token parameters (no
 * received: the full parse sets it in place). "SIP/2.0" in upper case only: libosip2
 * renders the Via it echoes with "SIP/2.0" whatever the case sent, the fast path echoes
 * the text as sent (issue 22: found by test_fast_parse). */
static int via(const char *v, const char *e, struct via *o)
{
	const char *p = v;
	if (e - p < 10 || memcmp(p, "SIP/2.0/", 8) != 0)
		return 0;
	p += 8;
	const char *t = p;
	while (p < e && alnum((unsigned char)*p))
		p++;
	if (p == t || p - t > 16 || p >= e || *p != ' ')
		return 0;
	while (p < e && *p == ' ')
		p++;
	if (!hostport(&p, e, 1, &o->host, &o->port))
		return 0;
	o->branch.p = NULL;
	o->branch.n = 0;
	o->rport_end = 0;
	o->rport_valued = 0;
	struct span n, val;
	while (p < e) {
		if (!param(&p, e, &n, &val))
			return 0;
		if (IS(n.p, n.n, "branch")) {
			if (o->branch.p || !val.p)
				return 0;
			o->branch = val;
		} else if (IS(n.p, n.n, "rport")) {
			if (o->rport_end)
				return 0;
			o->rport_end = (size_t)(n.p + n.n - v);
			o->rport_valued = val.p != NULL;
		} else if (IS(n.p, n.n, "received")) {
			return 0;
		}
	}
	return 1;
}

/* A Contact parameter value: a token, or a quoted string without escapes. */
static int contact_param(const char **p, const char *e, struct span *name, struct span *value)
{
	const char *q = *p;
	if (!param_name(&q, e, name, value))
		return 0;
	if (q < e && *q == '=') {
		value->p = ++q;
		if (q < e && *q == '"') {
			/* no escape: the line scan (sipscan.h) refused every '\\' */
			const char *close = memchr(q + 1, '"', (size_t)(e - q - 1));
			if (!close || memchr(q, ',', (size_t)(close - q)))
				return 0;
			/* angle brackets only around the whole value ("<urn:uuid:...>"):
			 * libosip2 looks for the URI's '>' past a stray one */
			const char *in = q + 1, *ie = close;
			if (in < ie && *in == '<') {
				if (ie[-1] != '>' || ie - in < 2)
					return 0;
				in++, ie--;
			}
			if (memchr(in, '<', (size_t)(ie - in)) ||
			    memchr(in, '>', (size_t)(ie - in)))
				return 0;
			q = close + 1;
		} else {
			while (q < e && tok((unsigned char)*q))
				q++;
		}
		value->n = (size_t)(q - value->p);
		if (!value->n)
			return 0;
	}
	*p = q;
	return 1;
}

/* A NUL-terminated copy of s in out (cap bytes); 0 when it does not fit. */
static int copy(char *out, size_t cap, struct span s)
{
	if (s.n >= cap)
		return 0;
	memcpy(out, s.p, s.n);
	out[s.n] = '\0';
	return 1;
}

/* 1 when a parameter name holds "userid" (msg.c's names_userid, on a span). */
static int userid_name(struct span n)
{
	for (size_t i = 0; i + 6 <= n.n; i++)
		if (fold_eq(n.p + i, "userid", 6))
			return 1;
	return 0;
}

/* One Contact value: "*", or "<uri>" with parameters, comma-separated. */
static int contacts(const char *v, const char *e, struct sip_req *r)
{
	if (e - v == 1 && *v == '*') {
		r->star = 1;
		return 1;
	}
	const char *p = v;
	for (;;) {
		if (p >= e || *p != '<')
			return 0;
		const char *gt = memchr(p, '>', (size_t)(e - p));
		struct span user, host;
		if (!gt || memchr(p, ',', (size_t)(gt - p)) || !uri(p + 1, gt, 1, &user, &host))
			return 0;
		if (r->ncontacts == SIP_CONTACTS_MAX)
			return 0;
		struct sip_contact *c = &r->contacts[r->ncontacts++];
		size_t ul = (size_t)(gt + 1 - p);
		if (ul >= sizeof c->uri)
			return 0;
		memcpy(c->uri, p, ul);
		c->uri[ul] = '\0';
		c->expires = -1;
		c->regid = -1;
		c->instance[0] = '\0';
		int seen_exp = 0, seen_regid = 0, seen_inst = 0;
		p = gt + 1;
		struct span n, val;
		while (p < e && *p == ';') {
			/* User-id parameters (seed 003) and Jabber's device name (devpick.h) are
			 * read by the full parse only. */
			if (!contact_param(&p, e, &n, &val) || userid_name(n) ||
			    IS(n.p, n.n, SIP_DEVICENAME_PARAM))
				return 0;
			int quoted = val.p && *val.p == '"';
			if (IS(n.p, n.n, "expires") && !seen_exp++) {
				char num[32];
				if (!val.p || quoted || !copy(num, sizeof num, val))
					return 0;
				c->expires = sip_expires_value(num);
			} else if (IS(n.p, n.n, "reg-id") && !seen_regid++) {
				long id;
				if (!val.p || !number(val.p, val.p + val.n, 10, &id) || id < 1 ||
				    id > 0x7fffffff)
					return 0;
				c->regid = id;
			} else if (IS(n.p, n.n, "+sip.instance") && !seen_inst++ && val.p) {
				struct span in = val;
				if (quoted)
					in.p++, in.n -= 2;
				if (!in.n || !copy(c->instance, sizeof c->instance, in))
					return 0;
			}
		}
		while (p < e && (*p == ' ' || *p == '\t'))
			p++;
		if (p == e)
			return 1;
		if (*p != ',')
			return 0;
		p++;
		while (p < e && (*p == ' ' || *p == '\t'))
			p++;
	}
}

/* Digest credentials of the shape every phone sends, which libosip2 parses too: "Digest"
 * SP, then name=value pairs separated by "," and optional SP, each known name once, its
 * value quoted (no escapes) or a token as RFC 3261 §25.1 has it. */
static int digest_shape(const char *v, const char *e)
{
#define NAME(s)                                                                                    \
	{                                                                                          \
		s, sizeof(s) - 1                                                                   \
	}
	static const struct {
		const char *s;
		size_t n;
	} names[] = {NAME("username"),  NAME("realm"),  NAME("nonce"),  NAME("uri"),
	             NAME("response"),  NAME("cnonce"), NAME("opaque"), /* quoted */
	             NAME("algorithm"), NAME("qop"),    NAME("nc")};    /* tokens */
#undef NAME
	enum { QUOTED = 7 };
	unsigned seen = 0;
	const char *p = v + 7;
	/* the full parse folds runs of LWS into one SP: none here (no tab, no two spaces in
	 * a row; found with memchr, a credential has a dozen spaces in ~250 bytes) */
	if (memchr(v, '\t', (size_t)(e - v)))
		return 0;
	for (const char *c = v; (c = memchr(c, ' ', (size_t)(e - c))) != NULL && ++c < e;)
		if (*c == ' ')
			return 0;
	for (;;) {
		const char *n = p;
		while (p < e && tok((unsigned char)*p))
			p++;
		size_t nl = (size_t)(p - n);
		if (!nl || p >= e || *p != '=')
			return 0;
		p++;
		int k = -1;
		for (size_t i = 0; i < sizeof names / sizeof names[0] && k < 0; i++)
			if (nl == names[i].n && fold_eq(n, names[i].s, nl))
				k = (int)i;
		int q = k >= 0 && k < QUOTED;
		if (k < 0 || (seen & (1u << k)))
			return 0;
		seen |= 1u << k;
		if (q) {
			const char *close =
			    p < e && *p == '"' ? memchr(p + 1, '"', (size_t)(e - p - 1)) : NULL;
			if (!close) /* no escape: the line scan refused every '\\' */
				return 0;
			p = close + 1;
		} else {
			const char *t = p;
			while (p < e && tok((unsigned char)*p))
				p++;
			if (p == t)
				return 0;
		}
		if (p == e)
			return 1;
		if (*p++ != ',')
			return 0;
		if (p < e && *p == ' ')
			p++;
	}
}

/* A comma-separated list of tokens (Allow), or of token "/" token media ranges without
 * parameters (Accept, with slash), LWS around the commas: what phones and SIPp send. The
 * full parse splits these at the commas and takes every non-empty piece (Allow as text,
 * Accept as a content type); anything else (quotes, parameters, empty elements) is
 * deferred to it. */
static int token_list(const char *v, const char *e, int slash)
{
	const char *p = v;
	for (;;) {
		const char *t = p;
		while (p < e && tok((unsigned char)*p))
			p++;
		if (p == t)
			return 0;
		if (slash) {
			if (p >= e || *p != '/')
				return 0;
			t = ++p;
			while (p < e && tok((unsigned char)*p))
				p++;
			if (p == t)
				return 0;
		}
		while (p < e && (*p == ' ' || *p == '\t'))
			p++;
		if (p == e)
			return 1;
		if (*p++ != ',')
			return 0;
		while (p < e && (*p == ' ' || *p == '\t'))
			p++;
	}
}

/* The headers the fast parse reads, and H_DEFER: those libosip2 parses for structure (a
 * bad one fails its whole parse) that the registrar does not read, and Require (answered
 * 420 by the full parse's list). Any other header is skipped. */
enum hkind {
	H_OTHER,
	H_DEFER,
	H_VIA,
	H_FROM,
	H_TO,
	H_CALLID,
	H_CSEQ,
	H_CONTACT,
	H_EXPIRES,
	H_AUTH,
	H_MF,
	H_CLEN,
	H_UA,
	H_ALLOW,
	H_ACCEPT
};

/* By length, in lower case; compact forms (RFC 3261 §7.3.3) under their letter. */
#define H(s, k)                                                                                    \
	{                                                                                          \
		s, sizeof(s) - 1, k                                                                \
	}
static const struct hname {
	const char *lower;
	unsigned char len, kind;
} hnames[] = {H("v", H_VIA),
              H("f", H_FROM),
              H("t", H_TO),
              H("i", H_CALLID),
              H("m", H_CONTACT),
              H("l", H_CLEN),
              H("e", H_DEFER), /* Content-Encoding */
              H("c", H_DEFER), /* Content-Type */
              H("to", H_TO),
              H("via", H_VIA),
              H("from", H_FROM),
              H("cseq", H_CSEQ),
              H("allow", H_ALLOW),
              H("route", H_DEFER),
              H("accept", H_ACCEPT),
              H("call-id", H_CALLID),
              H("contact", H_CONTACT),
              H("expires", H_EXPIRES),
              H("require", H_DEFER),
              H("call-info", H_DEFER),
              H("user-agent", H_UA),
              H("alert-info", H_DEFER),
              H("error-info", H_DEFER),
              H("max-forwards", H_MF),
              H("content-type", H_DEFER),
              H("mime-version", H_DEFER),
              H("record-route", H_DEFER),
              H("authorization", H_AUTH),
              H("content-length", H_CLEN),
              H("accept-encoding", H_DEFER),
              H("accept-language", H_DEFER),
              H("content-encoding", H_DEFER),
              H("www-authenticate", H_DEFER),
              H("proxy-authenticate", H_DEFER),
              H("authentication-info", H_DEFER),
              H("proxy-authorization", H_DEFER),
              H("proxy-authentication-info", H_DEFER)};
#undef H
#define HNAME_LEN_MAX 25
#define HNAMES (sizeof hnames / sizeof hnames[0])
/* hnames' first entry of each length (HNAMES when none is that long) */
static unsigned char hname_first[HNAME_LEN_MAX + 1];

static void hname_index(void)
{
	for (size_t l = 0; l <= HNAME_LEN_MAX; l++) {
		size_t i = 0;
		while (i < HNAMES && hnames[i].len != l)
			i++;
		hname_first[l] = (unsigned char)i;
	}
}

/* The tables, once. */
static pthread_once_t tables_once = PTHREAD_ONCE_INIT;

static void tables_init(void)
{
	cls_init();
	hname_index();
}

/* What the header named n (l bytes, printable ASCII or tab) is: its length picks at most
 * four names, its first byte one, then a word compare (issue 22: ~30 compares per line,
 * then ~60 instructions a name byte by byte). OR 0x20 folds a token character, or any
 * printable ASCII or tab, to a lower-case letter only when it is that letter or its
 * capital, and to '-' only when it is '-': exact against names of letters and '-'. */
static enum hkind header_kind(const char *n, size_t l)
{
	if (l > HNAME_LEN_MAX)
		return H_OTHER;
	for (size_t i = hname_first[l]; i < HNAMES && hnames[i].len == l; i++)
		if ((n[0] | 0x20) == hnames[i].lower[0] && fold_eq(n, hnames[i].lower, l))
			return (enum hkind)hnames[i].kind;
	return H_OTHER;
}

/* Appends s to the echo text; 0 when it is full. */
static int echo(struct sip_fast *f, size_t *o, struct span s, uint16_t *off, uint16_t *len)
{
	if (*o + s.n > sizeof f->text)
		return 0;
	memcpy(f->text + *o, s.p, s.n);
	if (off)
		*off = (uint16_t)*o;
	if (len)
		*len = (uint16_t)s.n;
	*o += s.n;
	return 1;
}

int sip_fast_parse(const char *buf, size_t len, struct sip_req *r)
{
	if (len < 16 || len > SIP_MSG_MAX || memcmp(buf, "REGISTER ", 9) != 0)
		return 0;
	pthread_once(&tables_once, tables_init);
	const char *end = buf + len;
	/* The request line: REGISTER SP sip-uri SP SIP/2.0 CRLF (the URI has no quotes). */
	unsigned odd;
	const char *eol = sip_scan_line(buf + 9, end, &odd);
	if (end - eol < 2 || eol[0] != '\r' || eol[1] != '\n' || eol - buf < 9 + 9)
		return 0;
	const char *ru = buf + 9, *sp = eol - 8;
	struct span user, host, tag;
	if (memcmp(sp, " SIP/2.0", 8) != 0 || !uri(ru, sp, 1, &user, &host))
		return 0;
	struct span vias[SIP_VIA_MAX], from = {0}, to = {0}, cseq = {0};
	struct via top;
	int nvia = 0, have_callid = 0, have_auth = 0, have_mf = 0, have_ua = 0, have_exp = 0;
	long clen = -1;
	int headers = 0;
	const char *p = eol + 2;
	size_t hlen = 0;
	while (!hlen) {
		/* One scan per line to its CRLF (sipscan.h): printable ASCII and tab only (no
		 * folding: a line ending elsewhere is deferred), no escapes, and the quotes
		 * balanced on every line (libosip2's line finder reads a quoted string across
		 * line ends). */
		const char *le = sip_scan_line(p, end, &odd);
		if (end - le < 2 || le[0] != '\r' || le[1] != '\n' || odd)
			return 0;
		if (le == p) {
			hlen = (size_t)(le + 2 - buf);
			break;
		}
		if (++headers > SIP_HEADERS_MAX)
			return 0;
		/* The name: token characters up to the colon (no LWS before it: libosip2
		 * refuses some). A name header_kind knows is made of them (the scan let only
		 * printable ASCII and tab through, which fold exactly); any other is checked. */
		const char *n = memchr(p, ':', (size_t)(le - p));
		struct span name = {p, n ? (size_t)(n - p) : 0};
		if (!name.n)
			return 0;
		enum hkind kind = header_kind(name.p, name.n);
		if (kind == H_OTHER)
			for (const char *c = p; c < n; c++)
				if (!tok((unsigned char)*c))
					return 0;
		/* the value, without surrounding LWS */
		const char *v = n + 1, *ve = le;
		while (v < ve && (*v == ' ' || *v == '\t'))
			v++;
		while (ve > v && (ve[-1] == ' ' || ve[-1] == '\t'))
			ve--;
		struct span val = {v, (size_t)(ve - v)};
		p = le + 2;
		if (!val.n) /* libosip2 keeps some empty headers, drops others */
			return 0;
		switch (kind) {
		case H_VIA: {
			struct via one;
			if (nvia == SIP_VIA_MAX || !via(v, ve, nvia ? &one : &top))
				return 0;
			vias[nvia++] = val;
			break;
		}
		case H_FROM: {
			struct span fu, fh;
			if (from.p || !name_addr(v, ve, &fu, &fh, &tag) ||
			    !copy(r->f.from_tag, sizeof r->f.from_tag,
			          tag.p ? tag : (struct span){"", 0}))
				return 0;
			from = val;
			break;
		}
		case H_TO:
			if (to.p || !name_addr(v, ve, &user, &host, &tag) ||
			    !copy(r->aor_user, sizeof r->aor_user, user) ||
			    !copy(r->aor_host, sizeof r->aor_host, host))
				return 0;
			r->f.to_tagged = tag.p != NULL;
			to = val;
			break;
		case H_CALLID: {
			/* a word, or word "@" word: one '@' at most, not at either end */
			const char *at = NULL;
			if (have_callid++)
				return 0;
			for (const char *c = v; c < ve; c++) {
				if (!(cls[(unsigned char)*c] & C_CALLID) || (*c == '@' && at))
					return 0;
				if (*c == '@')
					at = c;
			}
			if (at && (at == v || at == ve - 1))
				return 0;
			if (!copy(r->callid, sizeof r->callid, val))
				return 0;
			r->f.callid_len = (uint16_t)val.n;
			break;
		}
		case H_CSEQ: {
			const char *d = v;
			while (d < ve && digit((unsigned char)*d))
				d++;
			long c;
			if (cseq.p || !number(v, d, 10, &c) || c > 0x7fffffffL || d >= ve ||
			    *d != ' ' || ve - d - 1 != 8 || memcmp(d + 1, "REGISTER", 8) != 0)
				return 0;
			r->cseq = (unsigned long)c;
			cseq = val;
			break;
		}
		case H_CONTACT:
			if (r->star || !contacts(v, ve, r) || (r->star && r->ncontacts))
				return 0;
			break;
		case H_EXPIRES: {
			char num[32];
			if (!have_exp++) {
				if (!copy(num, sizeof num, val))
					return 0;
				r->expires = sip_expires_value(num);
			}
			break;
		}
		case H_AUTH:
			/* the first, a Digest one, as sent (LWS kept as is: one SP each) */
			if (have_auth++ || val.n < 8 || !fold_eq(v, "digest ", 7) ||
			    !digest_shape(v, ve) || !copy(r->auth, sizeof r->auth, val))
				return 0;
			break;
		case H_MF: {
			long mf;
			if (!have_mf++ && !number(v, ve, 9, &mf))
				return 0;
			break;
		}
		case H_CLEN:
			if (clen >= 0 || !number(v, ve, 5, &clen) || clen > SIP_MSG_MAX)
				return 0;
			break;
		case H_UA:
			if (!have_ua++ && !copy(r->user_agent, sizeof r->user_agent, val))
				return 0;
			break;
		case H_ALLOW:
		case H_ACCEPT:
			if (!token_list(v, ve, kind == H_ACCEPT))
				return 0;
			break;
		case H_DEFER:
			return 0;
		case H_OTHER:
			break;
		}
	}
	/* the body: framed by Content-Length, which a body needs */
	if (clen < 0 ? len > hlen : (size_t)clen > len - hlen)
		return 0;
	if (!nvia || !from.p || !to.p || !have_callid || !cseq.p || !r->aor_host[0])
		return 0;
	if (r->star && (r->ncontacts || r->expires != 0))
		return 0;
	/* What a response echoes, copied out of buf. */
	struct sip_fast *f = &r->f;
	size_t o = 0;
	if (!echo(f, &o, vias[0], &f->via0, &f->via0_len))
		return 0;
	f->vias = (uint16_t)o;
	for (int i = 1; i < nvia; i++)
		if (!echo(f, &o, (struct span){"Via: ", 5}, NULL, NULL) ||
		    !echo(f, &o, vias[i], NULL, NULL) ||
		    !echo(f, &o, (struct span){"\r\n", 2}, NULL, NULL))
			return 0;
	f->vias_len = (uint16_t)(o - f->vias);
	if (!echo(f, &o, from, &f->from, &f->from_len) || !echo(f, &o, to, &f->to, &f->to_len) ||
	    !echo(f, &o, cseq, &f->cseq, &f->cseq_len))
		return 0;
	if (top.host.n >= 256 || (top.branch.p && top.branch.n >= sizeof f->branch))
		return 0;
	f->host = (uint16_t)(f->via0 + (size_t)(top.host.p - vias[0].p));
	f->host_len = (uint16_t)top.host.n;
	f->via_port = top.port;
	f->rport_end = (uint16_t)top.rport_end;
	f->rport_valued = (uint8_t)top.rport_valued;
	if (!copy(f->branch, sizeof f->branch, top.branch.p ? top.branch : (struct span){"", 0}))
		return 0;
	f->set_rport[0] = f->set_received[0] = '\0';
	memcpy(r->method, "REGISTER", 9);
	r->fast = 1;
	return 1;
}
