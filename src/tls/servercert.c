/* SPDX-License-Identifier: ISC */
#include "tls/servercert.h"

#include "core/util.h"
#include "tls/tlsctx.h"

#include <errno.h>
#include <fcntl.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

/* An encrypted key is refused rather than prompting on the daemon's terminal. */
static int no_password(char *buf, int size, int rwflag, void *u)
{
	(void)buf;
	(void)size;
	(void)rwflag;
	(void)u;
	return -1;
}

static EVP_PKEY *read_key(const char *pem, size_t len)
{
	if (len > TLS_PEM_FILE_MAX || len > (size_t)INT32_MAX)
		return NULL;
	BIO *b = BIO_new_mem_buf(pem, (int)len);
	EVP_PKEY *k = b ? PEM_read_bio_PrivateKey(b, NULL, no_password, NULL) : NULL;
	BIO_free(b);
	ERR_clear_error(); /* OpenSSL's reasons here could quote the file: say ours */
	return k;
}

/* Appends the certificates of from to to (from is left empty). */
static int append(struct tls_pem_certs *to, struct tls_pem_certs *from)
{
	X509 **v = realloc(to->v, (to->n + from->n) * sizeof *v);
	if (!v)
		return -1;
	memcpy(v + to->n, from->v, from->n * sizeof *v);
	to->v = v;
	to->n += from->n;
	free(from->v);
	from->v = NULL;
	from->n = 0;
	return 0;
}

static X509 *read_anchor(const char *path)
{
	FILE *f = path && path[0] ? fopen(path, "r") : NULL;
	if (!f)
		return NULL;
	X509 *x = PEM_read_X509(f, NULL, NULL, NULL);
	fclose(f);
	return x;
}

/* The chain verifies at now: to its own self-signed root or to the anchor. */
static int verify_chain(const struct tls_pem_certs *c, const char *anchor_file, int64_t now,
                        char *err, size_t errlen)
{
	X509_STORE *store = X509_STORE_new();
	STACK_OF(X509) *untrusted = sk_X509_new_null();
	X509_STORE_CTX *vc = X509_STORE_CTX_new();
	X509 *anchor = read_anchor(anchor_file);
	int ok = store && untrusted && vc;
	X509 *last = c->v[c->n - 1];
	if (ok && c->n > 1 && X509_self_signed(last, 0) == 1)
		ok = X509_STORE_add_cert(store, last) == 1;
	if (ok && anchor)
		ok = X509_STORE_add_cert(store, anchor) == 1;
	for (size_t i = 1; ok && i < c->n; i++)
		ok = sk_X509_push(untrusted, c->v[i]) > 0;
	if (ok)
		ok = X509_STORE_CTX_init(vc, store, c->v[0], untrusted) == 1;
	if (!ok) {
		snprintf(err, errlen, "out of memory checking the chain");
	} else {
		X509_STORE_CTX_set_purpose(vc, X509_PURPOSE_SSL_SERVER);
		X509_VERIFY_PARAM_set_time(X509_STORE_CTX_get0_param(vc), (time_t)now);
		if (X509_verify_cert(vc) != 1) {
			int e = X509_STORE_CTX_get_error(vc);
			int depth = X509_STORE_CTX_get_error_depth(vc);
			snprintf(err, errlen,
			         "the chain does not verify: %s (certificate %d); it must end at "
			         "its own self-signed root (in CHAINFILE) or at telgate's CA",
			         X509_verify_cert_error_string(e), depth + 1);
			ok = 0;
		}
	}
	ERR_clear_error();
	X509_free(anchor);
	X509_STORE_CTX_free(vc);
	sk_X509_free(untrusted);
	X509_STORE_free(store);
	return ok ? 0 : -1;
}

/* The leaf may serve TLS: not a CA, not self-signed, its key usages allow a server. */
static int check_leaf(X509 *leaf, EVP_PKEY *key, char *err, size_t errlen)
{
	if (X509_check_private_key(leaf, key) != 1) {
		ERR_clear_error();
		snprintf(err, errlen, "the private key does not match the certificate");
		return -1;
	}
	if (X509_check_ca(leaf) != 0) {
		snprintf(err, errlen,
		         "certificate 1 is a CA certificate (basicConstraints CA:TRUE or "
		         "keyCertSign), not a server certificate");
		return -1;
	}
	if (X509_check_purpose(leaf, X509_PURPOSE_SSL_SERVER, 0) != 1) {
		snprintf(err, errlen,
		         "certificate 1 is not for a TLS server: its keyUsage or "
		         "extendedKeyUsage does not allow serverAuth");
		return -1;
	}
	if (X509_self_signed(leaf, 0) == 1) {
		snprintf(err, errlen,
		         "certificate 1 is self-signed: give a certificate issued by a CA, with "
		         "the CA's certificates in CHAINFILE");
		return -1;
	}
	return 0;
}

int tls_servercert_check(const char *key, size_t key_len, const char *cert, size_t cert_len,
                         const char *chain, size_t chain_len, const char *anchor_file, int64_t now,
                         struct tls_servercert *out, char *err, size_t errlen)
{
	char why[300];
	memset(out, 0, sizeof *out);
	if (!(out->key = read_key(key, key_len))) {
		snprintf(err, errlen,
		         "KEYFILE: no unencrypted PEM private key (an encrypted key "
		         "is not accepted)");
		return -1;
	}
	if (tls_pem_split(cert, cert_len, &out->chain, why, sizeof why) != 0) {
		snprintf(err, errlen, "CERTFILE: %s", why);
		goto fail;
	}
	if (chain && chain_len) {
		struct tls_pem_certs more;
		if (tls_pem_split(chain, chain_len, &more, why, sizeof why) != 0) {
			snprintf(err, errlen, "CHAINFILE: %s", why);
			goto fail;
		}
		if (append(&out->chain, &more) != 0) {
			tls_pem_certs_free(&more);
			snprintf(err, errlen, "out of memory");
			goto fail;
		}
	}
	if (check_leaf(out->chain.v[0], out->key, err, errlen) != 0)
		goto fail;
	for (size_t i = 0; i + 1 < out->chain.n; i++)
		if (X509_check_issued(out->chain.v[i + 1], out->chain.v[i]) != X509_V_OK) {
			snprintf(err, errlen,
			         "certificate %zu did not issue certificate %zu: give the chain "
			         "leaf first, each certificate followed by its issuer",
			         i + 2, i + 1);
			goto fail;
		}
	if (verify_chain(&out->chain, anchor_file, now, err, errlen) != 0)
		goto fail;
	return 0;
fail:
	tls_servercert_free(out);
	return -1;
}

void tls_servercert_free(struct tls_servercert *c)
{
	if (!c)
		return;
	EVP_PKEY_free(c->key);
	c->key = NULL;
	tls_pem_certs_free(&c->chain);
}

/* Writes a memory BIO's bytes to path through path.tmp and rename. */
static int write_atomic(const char *path, mode_t mode, BIO *b, char *err, size_t errlen)
{
	char *p;
	long n = BIO_get_mem_data(b, &p);
	int rc = n >= 0 ? tg_write_file_atomic(path, p, (size_t)n, mode) : -EIO;
	if (rc != 0) {
		snprintf(err, errlen, "cannot write %s: %s", path, strerror(-rc));
		return -1;
	}
	return 0;
}

int tls_servercert_write(const struct tls_servercert *c, const char *dir, char *err, size_t errlen)
{
	int rc = tg_mkdir_p(dir, 0700);
	if (rc != 0) {
		snprintf(err, errlen, "cannot create %s: %s", dir, strerror(-rc));
		return -1;
	}
	char kpath[600], cpath[600];
	snprintf(kpath, sizeof kpath, "%s/%s", dir, TLSCTX_OVERRIDE_KEY);
	snprintf(cpath, sizeof cpath, "%s/%s", dir, TLSCTX_OVERRIDE_CERT);
	BIO *kb = BIO_new(BIO_s_mem()), *cb = BIO_new(BIO_s_mem());
	int ok = kb && cb && PEM_write_bio_PrivateKey(kb, c->key, NULL, NULL, 0, NULL, NULL);
	for (size_t i = 0; ok && i < c->chain.n; i++)
		ok = PEM_write_bio_X509(cb, c->chain.v[i]);
	ERR_clear_error();
	if (!ok)
		snprintf(err, errlen, "out of memory encoding the certificate");
	else
		ok = write_atomic(kpath, 0600, kb, err, errlen) == 0 &&
		     write_atomic(cpath, 0644, cb, err, errlen) == 0;
	/* The key's bytes do not outlive the write. */
	char *p;
	long n = kb ? BIO_get_mem_data(kb, &p) : 0;
	if (n > 0)
		OPENSSL_cleanse(p, (size_t)n);
	BIO_free(kb);
	BIO_free(cb);
	return ok ? 0 : -1;
}

static void name_line(const X509_NAME *n, char *out, size_t cap)
{
	out[0] = '\0';
	BIO *b = BIO_new(BIO_s_mem());
	if (!b)
		return;
	X509_NAME_print_ex(b, n, 0, XN_FLAG_RFC2253 & ~ASN1_STRFLGS_ESC_MSB);
	int len = BIO_read(b, out, (int)cap - 1);
	out[len > 0 ? len : 0] = '\0';
	BIO_free(b);
}

static void sans_line(X509 *x, char *out, size_t cap)
{
	struct tg_sbuf sb = {out, cap, 0, 0};
	out[0] = '\0';
	GENERAL_NAMES *g = X509_get_ext_d2i(x, NID_subject_alt_name, NULL, NULL);
	for (int i = 0; g && i < sk_GENERAL_NAME_num(g); i++) {
		const GENERAL_NAME *n = sk_GENERAL_NAME_value(g, i);
		char v[64] = "";
		const char *kind = NULL, *val = v;
		if (n->type == GEN_DNS || n->type == GEN_URI || n->type == GEN_EMAIL) {
			kind = n->type == GEN_DNS ? "DNS" : n->type == GEN_URI ? "URI" : "email";
			val = (const char *)ASN1_STRING_get0_data(n->d.ia5);
		} else if (n->type == GEN_IPADD) {
			kind = "IP";
			const unsigned char *a = ASN1_STRING_get0_data(n->d.ip);
			int l = ASN1_STRING_length(n->d.ip);
			if (l == 4)
				snprintf(v, sizeof v, "%u.%u.%u.%u", a[0], a[1], a[2], a[3]);
			else
				for (int k = 0; k + 1 < l && k < 16; k += 2)
					snprintf(v + strlen(v), sizeof v - strlen(v), "%s%x",
					         k ? ":" : "", a[k] << 8 | a[k + 1]);
		}
		if (!kind)
			continue;
		if (sb.len)
			tg_sbuf_put(&sb, ", ");
		tg_sbuf_put(&sb, kind);
		tg_sbuf_put(&sb, ":");
		tg_sbuf_put(&sb, val);
	}
	GENERAL_NAMES_free(g);
}

void tls_cert_summary(X509 *x, struct tls_cert_summary *s)
{
	memset(s, 0, sizeof *s);
	name_line(X509_get_subject_name(x), s->subject, sizeof s->subject);
	name_line(X509_get_issuer_name(x), s->issuer, sizeof s->issuer);
	sans_line(x, s->sans, sizeof s->sans);
	struct tm tm;
	if (ASN1_TIME_to_tm(X509_get0_notAfter(x), &tm) == 1)
		tg_fmt_time((int64_t)timegm(&tm), s->not_after, sizeof s->not_after);
	tls_cert_sha256(x, s->sha256, sizeof s->sha256);
}

static void fingerprint_hex(const unsigned char *md, unsigned n, char *out, size_t cap)
{
	out[0] = '\0';
	size_t o = 0;
	for (unsigned i = 0; i < n && o + 4 <= cap; i++)
		o += (size_t)snprintf(out + o, cap - o, i ? ":%02X" : "%02X", md[i]);
}

void tls_cert_sha256(X509 *x, char *out, size_t cap)
{
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned n = 0;
	if (x)
		X509_digest(x, EVP_sha256(), md, &n);
	fingerprint_hex(md, n, out, cap);
}

void tls_der_sha256(const unsigned char *der, size_t len, char *out, size_t cap)
{
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned n = 0;
	if (EVP_Digest(der, len, md, &n, EVP_sha256(), NULL) != 1)
		n = 0;
	fingerprint_hex(md, n, out, cap);
}
