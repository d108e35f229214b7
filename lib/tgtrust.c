/* SPDX-License-Identifier: ISC */
#include "tgtrust.h"

#include "tghttp.h"
#include "tgnet.h"
#include "tgtftp.h"

#include <ctype.h>
#include <openssl/pem.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

int tgtrust_fetch(const struct tgtrust_src *s, unsigned char **buf, size_t *len, char *err,
                  size_t errlen)
{
	if (s->http_port <= 0) {
		const struct tgtftp_opts o = {.host = s->host,
		                              .port = s->tftp_port,
		                              .timeout_ms = s->timeout_ms,
		                              .max = TL_FILE_MAX};
		return tgtftp_get(&o, s->file, buf, len, err, errlen);
	}
	int fd = tgnet_connect(s->host, s->http_port, s->timeout_ms, err, errlen);
	if (fd < 0)
		return -1;
	char path[300];
	snprintf(path, sizeof path, "/%s", s->file);
	const struct tghttp_req q = {.method = "GET",
	                             .host = s->host,
	                             .path = path,
	                             .max = TL_FILE_MAX,
	                             .timeout_ms = s->timeout_ms};
	struct tghttp_resp r;
	int rc = tghttp_exchange(fd, NULL, &q, &r, err, errlen);
	tgnet_close(fd, NULL);
	if (rc != 0)
		return -1;
	if (r.status != 200) {
		snprintf(err, errlen, "HTTP: GET %s: %d %s", path, r.status, r.reason);
		tghttp_resp_free(&r);
		return -1;
	}
	*buf = r.body;
	*len = r.len;
	return 0;
}

int tgtrust_parse_pin(const char *s, unsigned char pin[TGTRUST_PIN_LEN])
{
	if (strncasecmp(s, "sha256:", 7) == 0)
		s += 7;
	size_t n = 0;
	for (; *s; s++) {
		if (*s == ':')
			continue;
		if (!isxdigit((unsigned char)s[0]) || !isxdigit((unsigned char)s[1]) ||
		    n == TGTRUST_PIN_LEN)
			return -1;
		char h[3] = {s[0], s[1], 0};
		pin[n++] = (unsigned char)strtoul(h, NULL, 16);
		s++;
	}
	return n == TGTRUST_PIN_LEN ? 0 : -1;
}

enum tl_verdict tgtrust_verify(const unsigned char *buf, size_t len, const unsigned char *prev,
                               size_t prevlen, const unsigned char *pin, struct tl_list *l,
                               size_t *signer, char *err, size_t errlen)
{
	struct tl_list *held = NULL;
	if (prev) {
		held = malloc(sizeof *held);
		if (!held || tl_parse(prev, prevlen, held) != 0) {
			free(held);
			snprintf(err, errlen,
			         "the trust list held from before is unreadable: remove it and "
			         "give the signer's fingerprint (--pin)");
			return TL_BAD_FORMAT;
		}
	}
	const struct tl_trust t = {held, pin};
	enum tl_verdict v = tl_verify(buf, len, &t, l, signer);
	free(held);
	switch (v) {
	case TL_OK:
		err[0] = '\0';
		break;
	case TL_UNTRUSTED:
		snprintf(err, errlen, "trust list refused: %s (%s)", tl_verdict_str(v),
		         prev  ? "its signer is not in the list held from before"
		         : pin ? "its signer's SHA-256 fingerprint is not the pinned one"
		               : "first use needs the signer's fingerprint (--pin)");
		break;
	default:
		snprintf(err, errlen, "trust list refused: %s", tl_verdict_str(v));
	}
	return v;
}

/* Calls f for each CAPF record's certificate; stops at the first non-zero answer. */
static int each_capf(const struct tl_list *l, int (*f)(X509 *x, void *arg), void *arg)
{
	int n = 0;
	for (size_t i = 0; i < l->n; i++) {
		if (l->rec[i].role != TL_ROLE_CAPF)
			continue;
		const unsigned char *p = l->rec[i].cert.p;
		X509 *x = d2i_X509(NULL, &p, (long)l->rec[i].cert.len);
		int rc = x ? f(x, arg) : -1;
		X509_free(x);
		if (rc != 0)
			return -1;
		n++;
	}
	return n;
}

static int add_to_store(X509 *x, void *arg)
{
	return X509_STORE_add_cert(arg, x) == 1 ? 0 : -1;
}

X509_STORE *tgtrust_ca_store(const struct tl_list *l, int *n, char *err, size_t errlen)
{
	X509_STORE *st = X509_STORE_new();
	*n = st ? each_capf(l, add_to_store, st) : -1;
	if (*n <= 0) {
		snprintf(err, errlen,
		         "the trust list names no CA (no CAPF record) to check the "
		         "EST server with");
		X509_STORE_free(st);
		return NULL;
	}
	return st;
}

static int add_pem(X509 *x, void *arg)
{
	return PEM_write_bio_X509(arg, x) == 1 ? 0 : -1;
}

char *tgtrust_ca_pem(const struct tl_list *l)
{
	BIO *b = BIO_new(BIO_s_mem());
	char *p = NULL, *out = NULL;
	long n;
	if (b && each_capf(l, add_pem, b) > 0 && (n = BIO_get_mem_data(b, &p)) > 0 &&
	    (out = malloc((size_t)n + 1))) {
		memcpy(out, p, (size_t)n);
		out[n] = '\0';
	}
	BIO_free(b);
	return out;
}
