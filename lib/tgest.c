/* SPDX-License-Identifier: ISC */
#include "tgest.h"

#include "tghttp.h"
#include "tgnet.h"

#include <ctype.h>
#include <openssl/err.h>
#include <openssl/pkcs7.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#define EST_PATH "/.well-known/est/"
#define ANSWER_MAX (256 * 1024) /* bytes: a certificate and its chain */
#define SECRET_MAX 1024

EVP_PKEY *tgest_keygen(const char *type, char *err, size_t errlen)
{
	static const struct {
		const char *name, *curve;
		unsigned bits;
	} kinds[] = {
	    {"ec-p256", "P-256", 0},
	    {"ec-p384", "P-384", 0},
	    {"rsa-2048", NULL, 2048},
	    {"rsa-3072", NULL, 3072},
	};
	if (!type)
		type = "ec-p256";
	for (size_t i = 0; i < sizeof kinds / sizeof kinds[0]; i++) {
		if (strcmp(type, kinds[i].name) != 0)
			continue;
		EVP_PKEY *k =
		    kinds[i].curve ? EVP_EC_gen(kinds[i].curve) : EVP_RSA_gen(kinds[i].bits);
		if (!k)
			snprintf(err, errlen, "cannot make a %s key", type);
		return k;
	}
	snprintf(err, errlen, "unknown key type %s (ec-p256, ec-p384, rsa-2048, rsa-3072)", type);
	return NULL;
}

/* base64 of n bytes, no line breaks (malloc'ed). */
static char *b64(const unsigned char *p, size_t n)
{
	char *out = malloc(4 * ((n + 2) / 3) + 1);
	if (out)
		EVP_EncodeBlock((unsigned char *)out, p, (int)n);
	return out;
}

char *tgest_csr(EVP_PKEY *key, const char *cn, char *err, size_t errlen)
{
	X509_REQ *req = X509_REQ_new();
	X509_NAME *name = X509_NAME_new();
	const EVP_MD *md =
	    EVP_PKEY_get_bits(key) == 384 && EVP_PKEY_is_a(key, "EC") ? EVP_sha384() : EVP_sha256();
	unsigned char *der = NULL;
	int n = -1;
	if (req && name && X509_REQ_set_version(req, X509_REQ_VERSION_1) == 1 &&
	    X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_UTF8, (const unsigned char *)cn, -1, -1,
	                               0) == 1 &&
	    X509_REQ_set_subject_name(req, name) == 1 && X509_REQ_set_pubkey(req, key) == 1 &&
	    X509_REQ_sign(req, key, md) > 0)
		n = i2d_X509_REQ(req, &der);
	X509_NAME_free(name);
	X509_REQ_free(req);
	char *out = n > 0 ? b64(der, (size_t)n) : NULL;
	OPENSSL_free(der);
	if (!out) {
		snprintf(err, errlen, "cannot build the certificate request for CN=%s", cn);
		ERR_clear_error();
	}
	return out;
}

X509 *tgest_read_certs(const unsigned char *body, size_t len, EVP_PKEY *key,
                       STACK_OF(X509) * *chain, char *err, size_t errlen)
{
	/* RFC 8951 section 3: base64 with or without line breaks; drop all whitespace. */
	char *txt = malloc(len + 1);
	unsigned char *der = malloc(len / 4 * 3 + 3);
	size_t n = 0, pad = 0;
	for (size_t i = 0; txt && i < len; i++)
		if (!isspace(body[i]))
			txt[n++] = (char)body[i];
	int dl = txt && der && n % 4 == 0 && n > 0
	             ? EVP_DecodeBlock(der, (unsigned char *)txt, (int)n)
	             : -1;
	for (size_t i = n; dl > 0 && i > 0 && txt[i - 1] == '='; i--)
		pad++;
	free(txt);
	const unsigned char *p = der;
	PKCS7 *p7 = dl > 0 ? d2i_PKCS7(NULL, &p, dl - (int)pad) : NULL;
	free(der);
	STACK_OF(X509) *certs =
	    p7 && PKCS7_type_is_signed(p7) && p7->d.sign ? p7->d.sign->cert : NULL;
	X509 *mine = NULL;
	for (int i = 0; certs && i < sk_X509_num(certs); i++) {
		X509 *x = sk_X509_value(certs, i);
		if (!mine && EVP_PKEY_eq(X509_get0_pubkey(x), key) == 1) {
			mine = x;
			X509_up_ref(x);
		} else if (chain) {
			if (!*chain)
				*chain = sk_X509_new_null();
			if (*chain && X509_up_ref(x) == 1 && !sk_X509_push(*chain, x))
				X509_free(x);
		}
	}
	if (!mine)
		snprintf(err, errlen,
		         !p7      ? "the answer is not a base64 PKCS#7 (certs-only)"
		         : !certs ? "the answer's PKCS#7 carries no certificates"
		                  : "the answer holds no certificate for our key");
	PKCS7_free(p7);
	ERR_clear_error();
	return mine;
}

/* The first line of a server's error text, printable, for a message. */
static void server_text(const struct tghttp_resp *r, char *out, size_t cap)
{
	size_t o = 0;
	for (size_t i = 0; i < r->len && o + 1 < cap && r->body[i] != '\n' && r->body[i] != '\r';
	     i++)
		out[o++] = isprint(r->body[i]) ? (char)r->body[i] : '?';
	out[o] = '\0';
}

/* One POST. 0 with *r, or -1 with err. */
static int post(const struct tgest_opts *o, SSL_CTX *ctx, const char *path, const char *auth,
                const char *csr, struct tghttp_resp *r, char *err, size_t errlen)
{
	int timeout = o->timeout_ms > 0 ? o->timeout_ms : 30000;
	int fd = tgnet_connect(o->host, o->port ? o->port : 443, timeout, err, errlen);
	if (fd < 0)
		return -1;
	SSL *ssl =
	    tgnet_tls_connect(ctx, fd, o->server_name ? o->server_name : o->host, err, errlen);
	int rc = -1;
	if (ssl) {
		char host[300];
		snprintf(host, sizeof host, "%s", o->server_name ? o->server_name : o->host);
		const struct tghttp_req q = {.method = "POST",
		                             .host = host,
		                             .path = path,
		                             .headers = auth,
		                             .content_type = "application/pkcs10",
		                             .body = csr,
		                             .len = strlen(csr),
		                             .max = ANSWER_MAX,
		                             .timeout_ms = timeout};
		rc = tghttp_exchange(fd, ssl, &q, r, err, errlen);
	}
	tgnet_close(fd, ssl);
	return rc;
}

/* "Authorization: Basic base64(user:secret)\r\n" (malloc'ed; wipe before free). */
static char *basic_auth(const struct tgest_opts *o)
{
	size_t ul = strlen(o->user), n = ul + 1 + o->secretlen;
	if (o->secretlen > SECRET_MAX || strchr(o->user, ':'))
		return NULL;
	unsigned char *cred = malloc(n);
	char *enc = NULL, *line = NULL;
	if (cred) {
		memcpy(cred, o->user, ul);
		cred[ul] = ':';
		memcpy(cred + ul + 1, o->secret, o->secretlen);
		enc = b64(cred, n);
		explicit_bzero(cred, n);
		free(cred);
	}
	size_t ll = enc ? strlen(enc) + 32 : 0;
	if (enc && (line = malloc(ll)))
		snprintf(line, ll, "Authorization: Basic %s\r\n", enc);
	if (enc) {
		explicit_bzero(enc, strlen(enc));
		free(enc);
	}
	return line;
}

enum tgest_result tgest_simpleenroll(const struct tgest_opts *o, const char *csr, EVP_PKEY *key,
                                     X509 **cert, char *err, size_t errlen)
{
	*cert = NULL;
	if (!o->store) {
		snprintf(err, errlen, "EST needs the CA to authenticate the server");
		return TGEST_FAILED;
	}
	char path[200];
	if (o->label)
		snprintf(path, sizeof path, EST_PATH "%s/simpleenroll", o->label);
	else
		snprintf(path, sizeof path, EST_PATH "simpleenroll");
	char *auth = basic_auth(o);
	SSL_CTX *ctx = auth ? tgnet_tls_ctx(NULL, o->store, NULL, NULL, err, errlen) : NULL;
	if (!auth || !ctx) {
		if (!auth)
			snprintf(err, errlen, "bad instance id or authentication string");
		free(auth);
		return TGEST_FAILED;
	}
	const long max_wait = o->max_wait_s > 0 ? o->max_wait_s : 300;
	long waited = 0;
	enum tgest_result res = TGEST_FAILED;
	for (;;) {
		struct tghttp_resp r;
		if (post(o, ctx, path, auth, csr, &r, err, errlen) != 0)
			break;
		char text[200];
		server_text(&r, text, sizeof text);
		if (r.status == 200) {
			*cert = tgest_read_certs(r.body, r.len, key, NULL, err, errlen);
			res = *cert ? TGEST_OK : TGEST_FAILED;
			tghttp_resp_free(&r);
			break;
		}
		/* 202: queued (RFC 7030 section 4.2.3); 503 + Retry-After: the signer is
		 * restarting. Both say when to ask again; anything else is final. */
		long ra = r.retry_after;
		int again = r.status == 202 || (r.status == 503 && ra >= 0);
		if (again && waited < max_wait) {
			tghttp_resp_free(&r);
			ra = ra < 1 ? 1 : ra;
			ra = ra > max_wait - waited ? max_wait - waited : ra;
			struct timespec ts = {ra, 0};
			while (nanosleep(&ts, &ts) != 0)
				;
			waited += ra;
			continue;
		}
		if (again)
			snprintf(err, errlen, "EST: still %d after waiting %ld s", r.status,
			         waited);
		else
			snprintf(err, errlen, "EST server answered %d %s%s%s", r.status, r.reason,
			         text[0] ? ": " : "", text);
		res = !again && r.status >= 400 && r.status < 500 ? TGEST_REFUSED : TGEST_FAILED;
		tghttp_resp_free(&r);
		break;
	}
	SSL_CTX_free(ctx);
	explicit_bzero(auth, strlen(auth));
	free(auth);
	return res;
}
