/* SPDX-License-Identifier: ISC */
#include "tls/pem.h"
#include "tls/anchor.h"

#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define BEGIN "-----BEGIN "
#define END "-----END "
#define DASHES "-----"
#define LABEL_SHOWN_MAX 40 /* a longer or odd label is not echoed */

/* One line of the file: its bytes without the line break and trailing blanks. */
struct line {
	const char *p;
	size_t n, no; /* no: 1-based line number */
};

struct scan {
	const char *p, *end;
	size_t no;
	char *err;
	size_t errlen;
};

__attribute__((format(printf, 2, 3))) static int fail(struct scan *s, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(s->err, s->errlen, fmt, ap);
	va_end(ap);
	return -1;
}

/* The next line into l: 1 when there is one, 0 at the end of the data, -1 when it holds a
 * control character (binary data: DER is not PEM; nothing of it is echoed). */
static int next_line(struct scan *s, struct line *l)
{
	if (s->p >= s->end)
		return 0;
	const char *nl = memchr(s->p, '\n', (size_t)(s->end - s->p));
	const char *e = nl ? nl : s->end;
	l->p = s->p;
	l->no = ++s->no;
	s->p = nl ? nl + 1 : s->end;
	for (const char *c = l->p; c < e; c++) {
		unsigned char u = (unsigned char)*c;
		if ((u < 0x20 && u != '\t' && u != '\r') || u == 0x7f)
			return fail(s,
			            "line %zu holds binary data: not a PEM text file (a DER file? "
			            "convert it with openssl x509 -inform DER)",
			            l->no);
	}
	while (e > l->p && (e[-1] == ' ' || e[-1] == '\t' || e[-1] == '\r'))
		e--;
	l->n = (size_t)(e - l->p);
	return 1;
}

static int starts(const struct line *l, const char *prefix)
{
	size_t k = strlen(prefix);
	return l->n >= k && memcmp(l->p, prefix, k) == 0;
}

/* The label of a "-----BEGIN LABEL-----" or "-----END LABEL-----" line (prefix BEGIN or
 * END): 0 with *lab and *labn set, -1 when the line is not of that form. */
static int boundary(const struct line *l, const char *prefix, const char **lab, size_t *labn)
{
	size_t k = strlen(prefix), d = strlen(DASHES);
	if (!starts(l, prefix) || l->n < k + d + 1 || memcmp(l->p + l->n - d, DASHES, d) != 0)
		return -1;
	*lab = l->p + k;
	*labn = l->n - k - d;
	return 0;
}

static int label_is(const char *lab, size_t n, const char *want)
{
	return n == strlen(want) && memcmp(lab, want, n) == 0;
}

/* Every private-key label ends so: PRIVATE KEY, RSA/EC/DSA/OPENSSH/ENCRYPTED PRIVATE KEY. */
static int label_ends(const char *lab, size_t n, const char *tail)
{
	size_t k = strlen(tail);
	return n >= k && memcmp(lab + n - k, tail, k) == 0;
}

/* A label fit to appear in an error: upper-case letters, digits and spaces, bounded. */
static const char *label_shown(const char *lab, size_t n, char *buf, size_t cap)
{
	if (n == 0 || n > LABEL_SHOWN_MAX || n >= cap)
		return "an unreadable label";
	for (size_t i = 0; i < n; i++) {
		char c = lab[i];
		if (!((c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == ' '))
			return "an unreadable label";
	}
	memcpy(buf, lab, n);
	buf[n] = '\0';
	return buf;
}

static int b64_char(char c)
{
	return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
	       c == '+' || c == '/';
}

/* Collects one CERTIFICATE block's base64 (after its BEGIN line) into b64 (capacity at
 * least the rest of the file) and stops after its END line. Blank lines are skipped;
 * padding may only end the block. Returns the base64 length, or -1. */
static long read_body(struct scan *s, size_t block, size_t begin_no, char *b64)
{
	struct line l;
	size_t n = 0, pad = 0;
	int r;
	while ((r = next_line(s, &l)) == 1) {
		const char *lab;
		size_t labn;
		if (starts(&l, END)) {
			if (boundary(&l, END, &lab, &labn) != 0 ||
			    !label_is(lab, labn, "CERTIFICATE"))
				return fail(s,
				            "block %zu (line %zu): line %zu is not "
				            "-----END CERTIFICATE-----",
				            block, begin_no, l.no);
			if (n == 0 || n % 4 != 0)
				return fail(s, "block %zu (line %zu): bad base64 (%s)", block,
				            begin_no, n ? "length not a multiple of 4" : "no data");
			return (long)n;
		}
		if (starts(&l, DASHES))
			return fail(s,
			            "block %zu (line %zu) is truncated: line %zu starts another "
			            "block before its END line",
			            block, begin_no, l.no);
		for (size_t i = 0; i < l.n; i++) {
			char c = l.p[i];
			if (c == '=' && pad < 2) {
				pad++;
			} else if (!b64_char(c) || pad) {
				return fail(
				    s, "block %zu (line %zu): bad base64 at line %zu column %zu",
				    block, begin_no, l.no, i + 1);
			}
			b64[n++] = c;
		}
	}
	if (r < 0)
		return -1;
	return fail(s, "block %zu (line %zu) is truncated: the file ends before END CERTIFICATE",
	            block, begin_no);
}

/* Decodes validated base64 and parses it as exactly one DER certificate. */
static X509 *parse_cert(struct scan *s, size_t block, size_t begin_no, const char *b64, size_t n)
{
	unsigned char *der = malloc(n / 4 * 3 + 1);
	if (!der) {
		fail(s, "block %zu (line %zu): out of memory", block, begin_no);
		return NULL;
	}
	int len = EVP_DecodeBlock(der, (const unsigned char *)b64, (int)n);
	size_t pad = (n && b64[n - 1] == '=') + (n > 1 && b64[n - 2] == '=');
	X509 *x = NULL;
	if (len < 0) {
		fail(s, "block %zu (line %zu): bad base64", block, begin_no);
	} else {
		const unsigned char *q = der;
		long derlen = len - (long)pad;
		ERR_clear_error();
		x = d2i_X509(NULL, &q, derlen);
		if (!x) {
			const char *why = ERR_reason_error_string(ERR_peek_last_error());
			fail(s, "block %zu (line %zu): not an X.509 certificate (%s)", block,
			     begin_no, why ? why : "DER does not parse");
		} else if (q != der + derlen) {
			fail(s, "block %zu (line %zu): bytes after the certificate's DER", block,
			     begin_no);
			X509_free(x);
			x = NULL;
		}
		ERR_clear_error();
	}
	OPENSSL_clear_free(der, n / 4 * 3 + 1); /* a mislabelled key is not left behind */
	return x;
}

static int push(struct tls_pem_certs *c, size_t *cap, X509 *x)
{
	if (c->n == *cap) {
		size_t nc = *cap ? *cap * 2 : 4;
		X509 **v = realloc(c->v, nc * sizeof *v);
		if (!v)
			return -1;
		c->v = v;
		*cap = nc;
	}
	c->v[c->n++] = x;
	return 0;
}

/* What to say about a BEGIN line that does not open a certificate. */
static int refuse_block(struct scan *s, size_t block, size_t no, const char *lab, size_t labn)
{
	char shown[LABEL_SHOWN_MAX + 1];
	const char *name = label_shown(lab, labn, shown, sizeof shown);
	if (label_ends(lab, labn, "PRIVATE KEY"))
		return fail(s,
		            "block %zu (line %zu) is a private key (%s): a trust file holds "
		            "certificates only (the key block was not decoded)",
		            block, no, name);
	return fail(s, "block %zu (line %zu) is %s%s, not a CERTIFICATE", block, no,
	            name == shown ? "a " : "", name);
}

static int split(struct scan *s, struct tls_pem_certs *out)
{
	size_t b64cap = (size_t)(s->end - s->p) + 1; /* no block is longer than the file */
	char *b64 = malloc(b64cap);
	if (!b64)
		return fail(s, "out of memory");
	size_t block = 0, cap = 0;
	int text = 0, r;
	struct line l;
	while ((r = next_line(s, &l)) == 1) {
		const char *lab;
		size_t labn;
		if (!starts(&l, DASHES)) {
			text |= l.n > 0; /* text outside blocks: ignored */
			continue;
		}
		if (boundary(&l, BEGIN, &lab, &labn) != 0) {
			r = fail(s,
			         "line %zu: a boundary line outside a block that is not "
			         "-----BEGIN ...----- (a block lost its BEGIN line?)",
			         l.no);
			break;
		}
		if (++block > TLS_PEM_CERTS_MAX) {
			r = fail(s, "more than %d blocks in the file", TLS_PEM_CERTS_MAX);
			break;
		}
		if (!label_is(lab, labn, "CERTIFICATE")) {
			r = refuse_block(s, block, l.no, lab, labn);
			break;
		}
		long n = read_body(s, block, l.no, b64);
		X509 *x = n < 0 ? NULL : parse_cert(s, block, l.no, b64, (size_t)n);
		if (!x || push(out, &cap, x) != 0) {
			if (x)
				X509_free(x);
			r = x ? fail(s, "out of memory") : -1;
			break;
		}
	}
	OPENSSL_clear_free(b64, b64cap);
	if (r == 0 && out->n == 0)
		r = fail(s, text ? "no -----BEGIN CERTIFICATE----- block in the file"
		                 : "the file is empty");
	return r;
}

int tls_pem_split(const char *data, size_t len, struct tls_pem_certs *out, char *err, size_t errlen)
{
	struct scan s = {.p = data, .end = data + len, .err = err, .errlen = errlen};
	out->v = NULL;
	out->n = 0;
	if (len > TLS_PEM_FILE_MAX)
		return fail(&s, "the file is larger than %d bytes", TLS_PEM_FILE_MAX);
	if (len == 0)
		return fail(&s, "the file is empty");
	if (split(&s, out) != 0) {
		tls_pem_certs_free(out);
		return -1;
	}
	return 0;
}

void tls_pem_certs_free(struct tls_pem_certs *c)
{
	if (!c)
		return;
	for (size_t i = 0; i < c->n; i++)
		X509_free(c->v[i]);
	free(c->v);
	c->v = NULL;
	c->n = 0;
}

int tls_pem_alias(const char *base, size_t i, char *out, size_t cap)
{
	int k = i == 0 ? snprintf(out, cap, "%s", base) : snprintf(out, cap, "%s-%zu", base, i + 1);
	if (k < 0 || (size_t)k >= cap || tls_alias_check(out) != NULL) {
		if (cap)
			out[0] = '\0';
		return -1;
	}
	return 0;
}
