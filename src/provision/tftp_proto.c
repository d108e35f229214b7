/* SPDX-License-Identifier: ISC */
#include "provision/tftp_proto.h"
#include "core/util.h"

#include <string.h>
#include <strings.h>

static const struct tftp_verdict DROP = {-1, NULL};

static int refuse(struct tftp_verdict *v, int code, const char *msg)
{
	v->code = code;
	v->msg = msg;
	return -1;
}

/* The NUL-terminated field at *pos (below end), advancing *pos past its NUL; NULL when
 * the datagram ends before a NUL. */
static const char *field(const unsigned char *pkt, size_t *pos, size_t end)
{
	size_t start = *pos;
	const unsigned char *nul = memchr(pkt + start, 0, end - start);
	if (!nul)
		return NULL;
	*pos = (size_t)(nul - pkt) + 1;
	return (const char *)pkt + start;
}

int tftp_parse_request(const unsigned char *pkt, size_t len, struct tftp_request *rq,
                       struct tftp_verdict *v)
{
	memset(rq, 0, sizeof *rq);
	*v = DROP;
	if (len < 2)
		return -1;
	unsigned op = (unsigned)pkt[0] << 8 | pkt[1];
	if (op == 0 || op > TFTP_OACK)
		return refuse(v, TFTP_E_BADOP, "Illegal TFTP operation");
	if (op != TFTP_RRQ && op != TFTP_WRQ)
		return -1; /* a stray DATA, ACK, ERROR or OACK at the request port */
	if (len > TFTP_REQUEST_MAX)
		return refuse(v, TFTP_E_BADOP, "Request larger than 512 bytes");
	rq->op = (enum tftp_op)op;
	size_t pos = 2;
	const char *name = field(pkt, &pos, len), *mode = name ? field(pkt, &pos, len) : NULL;
	if (!name || !mode)
		return refuse(v, TFTP_E_BADOP, "Malformed request: missing NUL");
	if (!*name)
		return refuse(v, TFTP_E_BADOP, "Malformed request: empty file name");
	if (!*mode)
		return refuse(v, TFTP_E_BADOP, "Malformed request: empty mode");
	rq->filename = name;
	rq->filename_len = strlen(name);
	if (!strcasecmp(mode, "octet"))
		rq->mode = TFTP_MODE_OCTET;
	else if (!strcasecmp(mode, "netascii"))
		rq->mode = TFTP_MODE_NETASCII;
	else
		return refuse(v, TFTP_E_BADOP, "Unknown transfer mode (octet or netascii)");
	while (pos < len) {
		const char *k = field(pkt, &pos, len);
		if (!k)
			return refuse(v, TFTP_E_BADOP, "Malformed request: missing NUL");
		if (!*k)
			break; /* NUL padding after the options */
		const char *val = field(pkt, &pos, len);
		if (!val)
			return refuse(v, TFTP_E_BADOP, "Malformed request: option without value");
		if (rq->nopt == TFTP_OPTIONS_MAX)
			return refuse(v, TFTP_E_OPTNEG, "Too many options");
		rq->opt[rq->nopt++] = (struct tftp_option){k, val};
	}
	return 0;
}

int tftp_parse_packet(const unsigned char *pkt, size_t len, struct tftp_packet *p)
{
	memset(p, 0, sizeof *p);
	if (len < 4)
		return -1;
	unsigned op = (unsigned)pkt[0] << 8 | pkt[1];
	if (op == 0 || op > TFTP_OACK)
		return -1;
	p->op = (enum tftp_op)op;
	uint16_t w = (uint16_t)(pkt[2] << 8 | pkt[3]);
	if (op == TFTP_DATA || op == TFTP_ACK)
		p->block = w;
	if (op == TFTP_ERROR) {
		p->code = w;
		p->msg = len > 4 && memchr(pkt + 4, 0, len - 4) ? (const char *)pkt + 4 : "";
	}
	return 0;
}

unsigned tftp_blksize_cap(unsigned mtu, int ipv6)
{
	unsigned over = ipv6 ? 52 : 32; /* IP + UDP + the TFTP header */
	unsigned cap = mtu > over ? mtu - over : 0;
	if (cap < TFTP_BLKSIZE_MIN)
		cap = TFTP_BLKSIZE_MIN;
	return cap > TFTP_BLKSIZE_MAX ? TFTP_BLKSIZE_MAX : cap;
}

/* A decimal number of at most 10 digits, nothing else (no sign, no spaces). */
static int number(const char *s, uint64_t *out)
{
	size_t n = strlen(s);
	if (n == 0 || n > 10)
		return -1;
	uint64_t v = 0;
	for (size_t i = 0; i < n; i++) {
		if (s[i] < '0' || s[i] > '9')
			return -1;
		v = v * 10 + (uint64_t)(s[i] - '0');
	}
	*out = v;
	return 0;
}

/* The known options: name, bit, smallest valid value, largest valid one (above it the
 * value is lowered, not refused, for blksize and windowsize). */
static const struct {
	const char *name;
	unsigned bit;
	uint64_t min, max;
	const char *bad;
} known[] = {
    {"blksize", TFTP_OPT_BLKSIZE, TFTP_BLKSIZE_MIN, UINT64_MAX,
     "Option negotiation failed: blksize must be at least 8"},
    {"tsize", TFTP_OPT_TSIZE, 0, UINT64_MAX, "Option negotiation failed: bad tsize"},
    {"timeout", TFTP_OPT_TIMEOUT, 1, 255, "Option negotiation failed: timeout must be 1..255"},
    {"windowsize", TFTP_OPT_WINDOWSIZE, 1, UINT64_MAX,
     "Option negotiation failed: windowsize must be at least 1"},
};

int tftp_negotiate(const struct tftp_request *rq, const struct tftp_limits *lim, uint64_t size,
                   struct tftp_grant *g, struct tftp_verdict *v)
{
	*v = DROP;
	*g = (struct tftp_grant){.blksize = TFTP_BLKSIZE_DEFAULT, .windowsize = 1};
	for (unsigned i = 0; i < rq->nopt; i++) {
		size_t k = 0;
		while (k < sizeof known / sizeof known[0] &&
		       strcasecmp(rq->opt[i].name, known[k].name) != 0)
			k++;
		if (k == sizeof known / sizeof known[0] || (g->acked & known[k].bit))
			continue; /* unknown, or given before: ignored */
		uint64_t val;
		if (number(rq->opt[i].value, &val) != 0 || val < known[k].min || val > known[k].max)
			return refuse(v, TFTP_E_OPTNEG, known[k].bad);
		g->acked |= known[k].bit;
		switch (known[k].bit) {
		case TFTP_OPT_BLKSIZE: {
			unsigned cap = tftp_blksize_cap(lim->mtu, lim->ipv6);
			g->blksize = val > cap ? cap : (unsigned)val;
			break;
		}
		case TFTP_OPT_TSIZE:
			g->tsize = size; /* RFC 2349: a read request asks with 0 */
			break;
		case TFTP_OPT_TIMEOUT:
			g->timeout_s = (unsigned)val;
			break;
		default: {
			unsigned cap = lim->max_windowsize ? lim->max_windowsize : 1;
			if (cap > TFTP_WINDOWSIZE_MAX)
				cap = TFTP_WINDOWSIZE_MAX;
			g->windowsize = val > cap ? cap : (unsigned)val;
			break;
		}
		}
	}
	return 0;
}

/* Appends "name\0value\0" at *n; fails (returns -1) when it does not fit. */
static int put_opt(unsigned char *buf, size_t cap, size_t *n, const char *name, uint64_t val)
{
	char num[24], *p = tg_utoa_end(num + sizeof num - 1, val);
	num[sizeof num - 1] = '\0';
	size_t kl = strlen(name) + 1, vl = (size_t)(num + sizeof num - p);
	if (*n + kl + vl > cap)
		return -1;
	memcpy(buf + *n, name, kl);
	memcpy(buf + *n + kl, p, vl);
	*n += kl + vl;
	return 0;
}

size_t tftp_build_oack(unsigned char *buf, size_t cap, const struct tftp_grant *g)
{
	if (cap < 2)
		return 0;
	buf[0] = 0;
	buf[1] = TFTP_OACK;
	size_t n = 2;
	int bad = 0;
	if (g->acked & TFTP_OPT_BLKSIZE)
		bad |= put_opt(buf, cap, &n, "blksize", g->blksize);
	if (g->acked & TFTP_OPT_TSIZE)
		bad |= put_opt(buf, cap, &n, "tsize", g->tsize);
	if (g->acked & TFTP_OPT_TIMEOUT)
		bad |= put_opt(buf, cap, &n, "timeout", g->timeout_s);
	if (g->acked & TFTP_OPT_WINDOWSIZE)
		bad |= put_opt(buf, cap, &n, "windowsize", g->windowsize);
	return bad ? 0 : n;
}

size_t tftp_build_error(unsigned char *buf, size_t cap, unsigned code, const char *msg)
{
	if (cap < 5)
		return 0;
	size_t ml = strlen(msg);
	if (ml > cap - 5)
		ml = cap - 5;
	buf[0] = 0;
	buf[1] = TFTP_ERROR;
	buf[2] = (unsigned char)(code >> 8);
	buf[3] = (unsigned char)code;
	memcpy(buf + 4, msg, ml);
	buf[4 + ml] = 0;
	return ml + 5;
}

void tftp_put_header(unsigned char hdr[TFTP_HDR], enum tftp_op op, uint64_t block)
{
	hdr[0] = 0;
	hdr[1] = (unsigned char)op;
	hdr[2] = (unsigned char)(block >> 8);
	hdr[3] = (unsigned char)block;
}

uint64_t tftp_ack_block(uint16_t wire, uint64_t lo, uint64_t hi)
{
	if (hi < lo || hi - lo >= 65536)
		return 0;
	/* the one b in lo..hi with b mod 65536 == wire */
	uint64_t b = lo + (uint16_t)(wire - (uint16_t)lo);
	return b <= hi ? b : 0;
}

uint64_t tftp_nblocks(uint64_t size, unsigned blksize)
{
	return size / blksize + 1;
}

size_t tftp_netascii_len(const unsigned char *in, size_t n)
{
	size_t out = n;
	for (size_t i = 0; i < n; i++)
		out += in[i] == '\n' || in[i] == '\r';
	return out;
}

void tftp_netascii_encode(const unsigned char *in, size_t n, unsigned char *out)
{
	for (size_t i = 0; i < n; i++) {
		if (in[i] == '\n') {
			*out++ = '\r';
			*out++ = '\n';
		} else if (in[i] == '\r') {
			*out++ = '\r';
			*out++ = '\0';
		} else {
			*out++ = in[i];
		}
	}
}
