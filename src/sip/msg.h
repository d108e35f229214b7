/* SPDX-License-Identifier: ISC */
/*
 * msg: SIP requests as the registrar sees them — a wrapper around libosip2's parser that
 * adds what the parser does not check (RFC 3261 §8.2: mandatory headers, CSeq method,
 * Max-Forwards, Request-URI scheme; limits on size, header count and Via count; control
 * characters in header names; duplicated single-value headers) and extracts the REGISTER
 * fields (AOR, contacts with expires, Expires, Authorization), plus a response builder.
 * The common REGISTER is read by sipfast.h instead (no libosip2 message: m is NULL, fast
 * set, and the response is built from the lines it kept); everything else by libosip2.
 *
 * sip_msg_init() must run once before any parse (it calls libosip2's parser_init).
 * Parsing is then thread-safe. Ownership: a struct sip_req owns its libosip2 message;
 * free it with sip_req_free. Fixed-size fields are copies.
 */
#ifndef TG_SIP_MSG_H
#define TG_SIP_MSG_H

#include <stddef.h>
#include <string.h>

#include <stdint.h>
#include <sys/socket.h>

/* Limits, documented in docs/sip.md ("Limits"). Each is several times what a real phone
 * sends; a request over one is answered 400 (or dropped when it cannot be answered). */
#define SIP_MSG_MAX 16384      /* bytes: a REGISTER is a few hundred, a large one 3,000 */
#define SIP_HEADERS_MAX 256    /* header lines */
#define SIP_VIA_MAX 128        /* Via values (Max-Forwards 70 lets 70 proxies add one) */
#define SIP_CONTACTS_MAX 16    /* Contact values in one REGISTER */
#define SIP_CALLID_MAX 512     /* bytes of Call-ID + NUL; RFC 3261 sets no limit */
#define SIP_INSTANCE_MAX 160   /* bytes of a +sip.instance value + NUL (RFC 5626 §4.1) */
#define SIP_DEVICENAME_MAX 129 /* bytes of a +u.sip!devicename value + NUL (a device name) */
/* The Contact parameter Cisco endpoints (Jabber, phones) name their device with
 * (docs/sip.md "Shared lines"), value quoted: +u.sip!devicename.ccm.cisco.com="CSFJDOE". */
#define SIP_DEVICENAME_PARAM "+u.sip!devicename.ccm.cisco.com"

/* The Expires header and the Contact expires parameter allow 0..2^32-1 (RFC 3261 §20.19,
 * §10.2.1.1). A larger number is taken as 2^32-1; a value that is not a number (negative,
 * an RFC 2543 date, garbage) as SIP_EXPIRES_MALFORMED (RFC 3261 §10.2.1.1, RFC 4475
 * §3.1.2.14). The registrar then clamps to its own range (RFC 3261 §10.3 step 7). */
#define SIP_EXPIRES_MAX 4294967295LL
#define SIP_EXPIRES_MALFORMED 3600

struct osip_message;

/* What a response echoes of a request the fast parse read (sipfast.h), kept as text: the
 * request's buffer does not outlive the call, and the answer may be built on a worker.
 * Offsets and lengths into text. */
#define SIP_ECHO_MAX 2048
struct sip_fast {
	char text[SIP_ECHO_MAX];
	uint16_t via0, via0_len; /* the top Via's value */
	uint16_t vias, vias_len; /* the other Via header lines, each "Via: value\r\n" */
	uint16_t from, from_len, to, to_len, cseq, cseq_len;
	uint16_t callid_len;     /* strlen(the request's callid) */
	uint16_t host, host_len; /* the top Via's sent-by host, in text */
	uint16_t rport_end;      /* in the top Via: just after ";rport" (0 = no rport) */
	uint8_t rport_valued;    /* rport has a value */
	uint8_t to_tagged;       /* To has a tag parameter */
	long via_port;           /* the top Via's sent-by port, 0 = absent */
	char branch[256];        /* the top Via's branch, "" = none */
	char from_tag[256];      /* "" = none */
	/* Set by sip_req_received: the value an empty rport gets, and received ("" = none),
	 * with their lengths (the answer is built by known lengths: issue 22) */
	char set_rport[8];
	char set_received[48];
	uint8_t set_rport_len, set_received_len;
};

struct sip_contact {
	char uri[512];   /* as sent, e.g. <sip:1001@10.0.0.5:5060;transport=tcp> */
	int64_t expires; /* the contact's expires parameter (seconds), -1 = absent */
	char instance[SIP_INSTANCE_MAX]; /* +sip.instance, unquoted, "" = absent */
	int64_t regid;                   /* reg-id (RFC 5626 §4.2), -1 = absent */
};

struct sip_req {
	struct osip_message *m; /* the full parse (libosip2); NULL after the fast one */
	int fast;               /* the fast parse read it: f holds what m would */
	struct sip_fast f;
	char method[16];
	char aor_user[129], aor_host[256]; /* from To */
	char callid[SIP_CALLID_MAX];
	unsigned long cseq;
	int64_t expires; /* Expires header (seconds, see SIP_EXPIRES_MAX), -1 = absent */
	int star;        /* Contact: * */
	int ncontacts;
	struct sip_contact contacts[SIP_CONTACTS_MAX];
	/* The first Authorization header whose scheme is Digest, unfolded, as sent ("" =
	 * none). Read from the raw text, not libosip2, so any LWS (SP, HTAB, folding) is
	 * accepted (RFC 3261 §25.1). Headers of other schemes are ignored (RFC 4475 §3.3.7). */
	char auth[2048];
	int auth_unreadable; /* a Digest Authorization too long to hold (a failed auth) */
	/* The first Authorization or Proxy-Authorization whose scheme is Bearer (RFC 8898;
	 * Jabber sends Proxy-Authorization: seed 002), unfolded, as sent ("" = none). */
	char bearer[2048];
	int bearer_unreadable; /* a Bearer credential too long to hold (a refused token) */
	char unsupported[256]; /* Require option tags we do not support, ", "-joined */
	char user_agent[128];
	int userid_params; /* Contact parameters naming a user id (seed 003): a cheap test */
	/* The device the contacts name (SIP_DEVICENAME_PARAM, unquoted; "" = none names one),
	 * and devicename_conflict = 1 when two contacts name different devices. */
	char devicename[SIP_DEVICENAME_MAX];
	int devicename_conflict;
	/* Filled by sip_req_received(): where a UDP response goes (RFC 3261 §18.2.2, RFC 3581
	 * §4), and the To tag of every response (RFC 3261 §19.3). */
	struct sockaddr_storage reply_to;
	socklen_t reply_to_len;
};

/* Whether r's method is the literal m ("REGISTER"): one compare of sizeof(m) bytes of
 * the array, the literal's NUL included, which the compiler makes a word compare (a
 * strcmp call each was ~20 instructions, several a request: issue 22). The parse zeroes
 * the array before writing the method, so no byte compared is unset. */
#define SIP_METHOD_IS(r, m) (memcmp((r)->method, (m), sizeof(m)) == 0)
_Static_assert(sizeof(((struct sip_req *)0)->method) >= sizeof "REGISTER",
               "SIP_METHOD_IS reads sizeof(m) bytes of the method");

int sip_msg_init(void);

/* Parses one request: the fast parse (sipfast.h) when it can read it, else libosip2 (the
 * full parse). Returns 0, or -1 with *status the response to send (400, 405, 416, 483,
 * ...; 0 = drop silently: not a request we can answer) and a reason. On -1 with a
 * status, build the answer with sip_response when r->m is set, else with
 * sip_response_raw (sip_req_free frees r either way). */
int sip_req_parse(const char *buf, size_t len, struct sip_req *r, int *status, char *reason,
                  size_t reason_cap);
/* The full parse alone (libosip2): what sip_req_parse does when the fast parse defers; the
 * fast parse's oracle (fuzz/fuzz_sipfast.c). */
int sip_req_parse_full(const char *buf, size_t len, struct sip_req *r, int *status, char *reason,
                       size_t reason_cap);
void sip_req_free(struct sip_req *r);

/* The request's Contact header values as text (every contact with its parameters, as
 * libosip2 read them, joined by ", "), for sip_userid_extract(). Returns the length, or -1
 * when they do not fit in cap (treat as malformed). */
int sip_req_contacts_text(const struct sip_req *r, char *out, size_t cap);

/* Marks the top Via with what the server saw (RFC 3261 §18.2.1: received when the
 * sent-by host is not the source address; RFC 3581 §4: an empty rport gets the source port,
 * and received is then always added) and works out where a UDP response goes: without
 * rport, the source address and the sent-by port (5060 when absent); with rport, or when
 * force_rport (Kamailio's force_rport(): phones behind NAT that do not ask), the source
 * address and port. maddr is not honoured: a registrar answers on the path the request
 * came by. src: the packet's source (AF_INET or AF_INET6). Returns 0, or -1 when r has
 * no parsed message or memory ran out. */
int sip_req_received(struct sip_req *r, const struct sockaddr *src, int force_rport);

/* The To tag for the responses to r: 16 hex digits of SipHash-2-4 (key: 16 secret
 * bytes) over Call-ID, From tag, CSeq and the top Via branch: random to anyone without
 * the key, different for every request, the same for its retransmissions (RFC 3261
 * §19.3 asks for 32 random bits at least). out: 17 bytes. */
void sip_req_to_tag(const struct sip_req *r, const uint8_t key[16], char out[17]);
/* The top Via's branch parameter as sent ("" = none); valid while r is. */
const char *sip_req_branch(const struct sip_req *r);

/* An Expires header or Contact expires value (see SIP_EXPIRES_MAX) in seconds. Pure. */
int64_t sip_expires_value(const char *s);

/* Builds a response to r: status line, the request's Via headers, From, To (with to_tag
 * added when the request's To has none), Call-ID, CSeq, then extra (CRLF-terminated
 * header lines, may be NULL), Content-Length: 0. Returns the length or -1. */
int sip_response(const struct sip_req *r, int code, const char *reason, const char *to_tag,
                 const char *extra, char *out, size_t cap);

/* A response built from the raw text of a request libosip2 could not read: the first
 * From, To, Call-ID, CSeq and every Via line that are there, echoed as sent (lines with
 * control characters are skipped). Returns the length, -1 if it does not fit, -2 if the
 * request has no Via (then it is dropped). */
int sip_response_raw(const char *buf, size_t len, int code, const char *reason, char *out,
                     size_t cap);

#endif
