/* SPDX-License-Identifier: ISC */
#include "tgenrol.h"

#include "tgest.h"
#include "tgtrust.h"

#include <errno.h>
#include <fcntl.h>
#include <openssl/bn.h>
#include <openssl/pem.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define TRUST_NAME "trustlist.tlv"

/* Writes n bytes to dir/name through a temporary file made with mode (mkstemp makes it
 * 0600 first, so a key is never readable by others), synced and renamed. */
static int write_atomic(const char *dir, const char *name, const void *p, size_t n, mode_t mode,
                        char *path, size_t cap, char *err, size_t errlen)
{
	char tmp[600];
	snprintf(path, cap, "%s/%s", dir, name);
	snprintf(tmp, sizeof tmp, "%s/.%s.XXXXXX", dir, name);
	int fd = mkstemp(tmp);
	if (fd < 0) {
		snprintf(err, errlen, "cannot write in %s: %s", dir, strerror(errno));
		return -1;
	}
	const char *c = p;
	size_t left = n;
	int rc = fchmod(fd, mode);
	while (rc == 0 && left) {
		ssize_t w = write(fd, c, left);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0) {
			rc = -1;
			break;
		}
		c += w;
		left -= (size_t)w;
	}
	if (rc == 0)
		rc = fsync(fd);
	if (close(fd) != 0)
		rc = -1;
	if (rc == 0)
		rc = rename(tmp, path);
	if (rc != 0) {
		snprintf(err, errlen, "cannot write %s: %s", path, strerror(errno));
		unlink(tmp);
	}
	return rc;
}

/* Reads path whole (at most max bytes): 0, -ENOENT, or -1 (unreadable or too large). */
static int read_whole(const char *path, size_t max, unsigned char **out, size_t *len)
{
	FILE *f = fopen(path, "rb");
	if (!f)
		return errno == ENOENT ? -ENOENT : -1;
	unsigned char *b = malloc(max + 1);
	size_t n = b ? fread(b, 1, max + 1, f) : 0;
	int bad = !b || ferror(f) || n > max;
	fclose(f);
	if (bad) {
		free(b);
		return -1;
	}
	*out = b;
	*len = n;
	return 0;
}

static int ensure_dir(const char *dir, char *err, size_t errlen)
{
	if (mkdir(dir, 0700) == 0 || errno == EEXIST)
		return 0;
	snprintf(err, errlen, "cannot make %s: %s", dir, strerror(errno));
	return -1;
}

/* The trust list step; *store (when not NULL) gets the CA for EST. */
static enum tgenrol_result trust(const struct tgenrol_opts *o, struct tgenrol_info *info,
                                 X509_STORE **store, char *err, size_t errlen)
{
	if (ensure_dir(o->out_dir, err, errlen) != 0)
		return TGENROL_FAILED;
	char held[512];
	snprintf(held, sizeof held, "%s/%s", o->out_dir, TRUST_NAME);
	unsigned char *prev = NULL, *buf = NULL;
	size_t prevlen = 0, len = 0;
	int hr = read_whole(held, TL_FILE_MAX, &prev, &prevlen);
	if (hr == -1) {
		snprintf(err, errlen, "cannot read %s", held);
		return TGENROL_FAILED;
	}
	const struct tgtrust_src src = {o->server, o->tftp_port, o->http_port,
	                                o->trust_file ? o->trust_file : "CTLFile.tlv",
	                                o->timeout_ms};
	if (tgtrust_fetch(&src, &buf, &len, err, errlen) != 0) {
		free(prev);
		return TGENROL_FAILED;
	}
	struct tl_list *l = malloc(sizeof *l);
	size_t signer = 0;
	enum tgenrol_result res = TGENROL_REFUSED;
	if (!l)
		snprintf(err, errlen, "out of memory");
	else if (tgtrust_verify(buf, len, prev, prevlen, o->pin, l, &signer, err, errlen) ==
	         TL_OK) {
		info->tl_sequence = l->h.timestamp;
		info->tl_first_use = prev == NULL;
		info->tl_records = l->n;
		snprintf(info->tl_signer, sizeof info->tl_signer, "%.*s",
		         (int)strnlen((const char *)l->h.signer.p, l->h.signer.len),
		         (const char *)l->h.signer.p);
		char *pem = tgtrust_ca_pem(l);
		int n = 0;
		res = TGENROL_FAILED;
		if (!pem)
			snprintf(err, errlen, "the trust list names no CA (no CAPF record)");
		else if (write_atomic(o->out_dir, TRUST_NAME, buf, len, 0644, held, sizeof held,
		                      err, errlen) == 0 &&
		         write_atomic(o->out_dir, "ca.pem", pem, strlen(pem), 0644, info->ca_path,
		                      sizeof info->ca_path, err, errlen) == 0 &&
		         (!store || (*store = tgtrust_ca_store(l, &n, err, errlen)))) {
			snprintf(info->tl_path, sizeof info->tl_path, "%s", held);
			res = TGENROL_OK;
		}
		free(pem);
	}
	free(l);
	free(buf);
	free(prev);
	return res;
}

enum tgenrol_result tgenrol_trust(const struct tgenrol_opts *o, struct tgenrol_info *info,
                                  char *err, size_t errlen)
{
	memset(info, 0, sizeof *info);
	return trust(o, info, NULL, err, errlen);
}

/* name as RFC 2253 text ("CN=wwhite,O=telgate"), cut to cap. */
static void name_text(const X509_NAME *name, char *out, size_t cap)
{
	BIO *b = BIO_new(BIO_s_mem());
	int n = b ? X509_NAME_print_ex(b, name, 0, XN_FLAG_RFC2253) : -1;
	n = n >= 0 ? BIO_read(b, out, (int)cap - 1) : 0;
	out[n > 0 ? n : 0] = '\0';
	BIO_free(b);
}

/* Serial, subject, issuer and expiry of x into info. */
static void describe(X509 *x, struct tgenrol_info *info)
{
	BIGNUM *bn = ASN1_INTEGER_to_BN(X509_get0_serialNumber(x), NULL);
	char *hex = bn ? BN_bn2hex(bn) : NULL;
	snprintf(info->serial, sizeof info->serial, "%s", hex ? hex : "");
	OPENSSL_free(hex);
	BN_free(bn);
	name_text(X509_get_subject_name(x), info->subject, sizeof info->subject);
	name_text(X509_get_issuer_name(x), info->issuer, sizeof info->issuer);
	struct tm tm;
	if (ASN1_TIME_to_tm(X509_get0_notAfter(x), &tm) == 1)
		strftime(info->not_after, sizeof info->not_after, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

/* Writes the key (0600) and the certificate (0644). */
static int write_credentials(const struct tgenrol_opts *o, EVP_PKEY *key, X509 *cert,
                             struct tgenrol_info *info, char *err, size_t errlen)
{
	BIO *kb = BIO_new(BIO_s_secmem()), *cb = BIO_new(BIO_s_mem());
	char *kp = NULL, *cp = NULL;
	long kl = 0, cl = 0;
	int rc = -1;
	if (kb && cb && PEM_write_bio_PrivateKey(kb, key, NULL, NULL, 0, NULL, NULL) == 1 &&
	    PEM_write_bio_X509(cb, cert) == 1 && (kl = BIO_get_mem_data(kb, &kp)) > 0 &&
	    (cl = BIO_get_mem_data(cb, &cp)) > 0)
		rc = write_atomic(o->out_dir, "key.pem", kp, (size_t)kl, 0600, info->key_path,
		                  sizeof info->key_path, err, errlen) ||
		     write_atomic(o->out_dir, "cert.pem", cp, (size_t)cl, 0644, info->cert_path,
		                  sizeof info->cert_path, err, errlen);
	else
		snprintf(err, errlen, "cannot encode the key and certificate");
	if (kp && kl > 0)
		OPENSSL_cleanse(kp, (size_t)kl);
	BIO_free(kb);
	BIO_free(cb);
	return rc ? -1 : 0;
}

enum tgenrol_result tgenrol_run(const struct tgenrol_opts *o, struct tgenrol_info *info, char *err,
                                size_t errlen)
{
	memset(info, 0, sizeof *info);
	X509_STORE *store = NULL;
	enum tgenrol_result res = trust(o, info, &store, err, errlen);
	if (res != TGENROL_OK)
		return res;
	EVP_PKEY *key = tgest_keygen(o->key_type, err, errlen);
	char *csr = key ? tgest_csr(key, o->instance_id, err, errlen) : NULL;
	X509 *cert = NULL;
	res = TGENROL_FAILED;
	if (csr) {
		const struct tgest_opts eo = {.host = o->server,
		                              .port = o->est_port ? o->est_port : TGENROL_EST_PORT,
		                              .server_name = o->server_name,
		                              .store = store,
		                              .user = o->instance_id,
		                              .secret = o->secret,
		                              .secretlen = o->secretlen,
		                              .timeout_ms = o->timeout_ms,
		                              .max_wait_s = o->max_wait_s};
		enum tgest_result er = tgest_simpleenroll(&eo, csr, key, &cert, err, errlen);
		if (er == TGEST_FAILED && strncmp(err, "connect to ", 11) == 0) {
			size_t n = strlen(err);
			snprintf(
			    err + n, errlen - n,
			    " (the EST port is telgated's [est] port, %d unless --est-port says "
			    "otherwise)",
			    eo.port);
		}
		res = er == TGEST_OK        ? TGENROL_OK
		      : er == TGEST_REFUSED ? TGENROL_REFUSED
		                            : TGENROL_FAILED;
	}
	if (res == TGENROL_OK) {
		describe(cert, info);
		if (write_credentials(o, key, cert, info, err, errlen) != 0)
			res = TGENROL_FAILED;
	}
	X509_free(cert);
	free(csr);
	EVP_PKEY_free(key);
	X509_STORE_free(store);
	return res;
}
