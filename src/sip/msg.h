/*
 * msg: SIP requests as the registrar sees them — a wrapper around libosip2's parser that
 * adds what the parser does not check (RFC 3261 §8.2: mandatory headers, CSeq method,
 * Max-Forwards, Request-URI scheme; limits on size, header count and Via count; control
 * characters in header names; duplicated single-value headers) and extracts the REGISTER
 * fields (AOR, contacts with expires, Expires, Authorization), plus a response builder.
 *
 * sip_msg_init() must run once before any parse (it calls libosip2's parser_init).
 * Parsing is then thread-safe. Ownership: a struct sip_req owns its libosip2 message;
 * free it with sip_req_free. Fixed-size fields are copies.
 */
#ifndef TG_SIP_MSG_H
#define TG_SIP_MSG_H

#include <stddef.h>

#define SIP_MSG_MAX 16384 /* a REGISTER is a few hundred bytes */
#define SIP_HEADERS_MAX 100
#define SIP_VIA_MAX 32
#define SIP_CONTACTS_MAX 16

struct osip_message;

struct sip_contact {
	char uri[512]; /* as sent, e.g. <sip:1001@10.0.0.5:5060;transport=tcp> */
	int expires;   /* the contact's expires parameter, -1 = absent */
};

struct sip_req {
	struct osip_message *m;
	char method[16];
	char aor_user[129], aor_host[256]; /* from To */
	char callid[256];
	unsigned long cseq;
	int expires; /* Expires header, -1 = absent */
	int star;    /* Contact: * */
	int ncontacts;
	struct sip_contact contacts[SIP_CONTACTS_MAX];
	char auth[2048]; /* the first Authorization header value, "" = none */
	char user_agent[128];
};

int sip_msg_init(void);

/* Parses one request. Returns 0, or -1 with *status the response to send (400, 405, 416,
 * 483, ...; 0 = drop silently: not a request we can answer) and a reason. On -1 with a
 * status, build the answer with sip_response when r->m is set, else with
 * sip_response_raw (sip_req_free frees r either way). */
int sip_req_parse(const char *buf, size_t len, struct sip_req *r, int *status, char *reason,
                  size_t reason_cap);
void sip_req_free(struct sip_req *r);

/* The request's Contact header values as text (every contact with its parameters, as
 * libosip2 read them, joined by ", "), for sip_userid_extract(). Returns the length, or -1
 * when they do not fit in cap (treat as malformed). */
int sip_req_contacts_text(const struct sip_req *r, char *out, size_t cap);

/* Builds a response to r: status line, the request's Via headers, From, To (with to_tag
 * added when the request's To has none), Call-ID, CSeq, then extra (CRLF-terminated
 * header lines, may be NULL), Content-Length: 0. Returns the length or -1. */
int sip_response(const struct sip_req *r, int code, const char *reason, const char *to_tag,
                 const char *extra, char *out, size_t cap);

/* A response built from the raw text of a request libosip2 could not read: the first
 * From, To, Call-ID, CSeq and every Via line, echoed as sent (lines with control
 * characters are skipped). Returns the length, -1 if it does not fit, -2 if the request
 * lacks what a response needs (then it is dropped). */
int sip_response_raw(const char *buf, size_t len, int code, const char *reason, char *out,
                     size_t cap);

#endif
