/* SPDX-License-Identifier: ISC */
#include "ca/ca_bootstrap.h"
#include "core/util.h"

#include <errno.h>
#include <fcntl.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define CA_DAYS 3650
#define RECOVERY_DAYS 7300
#define SIGNER_RSA_BITS 3072
#define RENEW_BEFORE_S (30 * 86400)

static void ossl_err(char *err, size_t errlen, const char *what)
{
	unsigned long e = ERR_get_error();
	char buf[256] = "";
	if (e)
		ERR_error_string_n(e, buf, sizeof buf);
	snprintf(err, errlen, "%s: %s", what, buf[0] ? buf : "unknown OpenSSL error");
	ERR_clear_error();
}

EVP_PKEY *ca_load_key(const char *path)
{
	FILE *f = fopen(path, "re");
	if (!f)
		return NULL;
	EVP_PKEY *k = PEM_read_PrivateKey(f, NULL, NULL, NULL);
	fclose(f);
	return k;
}

X509 *ca_load_cert(const char *path)
{
	FILE *f = fopen(path, "re");
	if (!f)
		return NULL;
	X509 *x = PEM_read_X509(f, NULL, NULL, NULL);
	fclose(f);
	return x;
}

int ca_write_pem(const char *path, mode_t mode, EVP_PKEY *key, X509 *cert, char *err, size_t errlen)
{
	char tmp[320];
	snprintf(tmp, sizeof tmp, "%s.tmp", path);
	int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
	if (fd < 0) {
		snprintf(err, errlen, "cannot write %s: %s", tmp, strerror(errno));
		return -1;
	}
	fchmod(fd, mode);
	FILE *f = fdopen(fd, "w");
	if (!f) {
		close(fd);
		unlink(tmp);
		snprintf(err, errlen, "cannot write %s: %s", tmp, strerror(errno));
		return -1;
	}
	int ok =
	    key ? PEM_write_PrivateKey(f, key, NULL, NULL, 0, NULL, NULL) : PEM_write_X509(f, cert);
	ok = ok && fflush(f) == 0 && fsync(fileno(f)) == 0;
	ok = (fclose(f) == 0) && ok;
	if (!ok || rename(tmp, path) != 0) {
		unlink(tmp);
		snprintf(err, errlen, "cannot write %s", path);
		return -1;
	}
	return 0;
}

static EVP_PKEY *new_key(void)
{
	return EVP_EC_gen("P-256");
}

static int add_ext(X509 *cert, X509 *issuer, int nid, const char *value)
{
	X509V3_CTX ctx;
	X509V3_set_ctx_nodb(&ctx);
	X509V3_set_ctx(&ctx, issuer, cert, NULL, NULL, 0);
	X509_EXTENSION *ex = X509V3_EXT_conf_nid(NULL, &ctx, nid, value);
	if (!ex)
		return 0;
	int ok = X509_add_ext(cert, ex, -1);
	X509_EXTENSION_free(ex);
	return ok;
}

static X509 *new_cert(EVP_PKEY *key, const char *cn, long days)
{
	X509 *x = X509_new();
	if (!x)
		return NULL;
	unsigned char serial[16];
	if (RAND_bytes(serial, sizeof serial) != 1)
		goto fail;
	serial[0] &= 0x7f; /* positive */
	BIGNUM *bn = BN_bin2bn(serial, sizeof serial, NULL);
	ASN1_INTEGER *ai = bn ? BN_to_ASN1_INTEGER(bn, NULL) : NULL;
	BN_free(bn);
	if (!ai || !X509_set_serialNumber(x, ai)) {
		ASN1_INTEGER_free(ai);
		goto fail;
	}
	ASN1_INTEGER_free(ai);
	X509_NAME *name = X509_get_subject_name(x);
	if (!X509_set_version(x, 2) || !X509_gmtime_adj(X509_getm_notBefore(x), -300) ||
	    !X509_gmtime_adj(X509_getm_notAfter(x), days * 86400L) || !X509_set_pubkey(x, key) ||
	    !X509_NAME_add_entry_by_txt(name, "O", MBSTRING_UTF8, (const unsigned char *)"telgate",
	                                -1, -1, 0) ||
	    !X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_UTF8, (const unsigned char *)cn, -1,
	                                -1, 0))
		goto fail;
	return x;
fail:
	X509_free(x);
	return NULL;
}

static int make_ca(const char *kpath, const char *cpath, const char *node, EVP_PKEY **key,
                   X509 **cert, char *err, size_t errlen)
{
	char cn[128];
	snprintf(cn, sizeof cn, "telgate CA %s", node);
	*key = new_key();
	*cert = *key ? new_cert(*key, cn, CA_DAYS) : NULL;
	if (!*cert || !X509_set_issuer_name(*cert, X509_get_subject_name(*cert)) ||
	    !add_ext(*cert, *cert, NID_basic_constraints, "critical,CA:TRUE,pathlen:0") ||
	    !add_ext(*cert, *cert, NID_key_usage, "critical,keyCertSign,cRLSign") ||
	    !add_ext(*cert, *cert, NID_subject_key_identifier, "hash") ||
	    !X509_sign(*cert, *key, EVP_sha256())) {
		ossl_err(err, errlen, "cannot create the CA certificate");
		return -1;
	}
	if (ca_write_pem(kpath, 0600, *key, NULL, err, errlen) != 0 ||
	    ca_write_pem(cpath, 0644, NULL, *cert, err, errlen) != 0)
		return -1;
	return 0;
}

/* A server certificate is kept while it verifies against the CA and has >30 days left. */
static int server_ok(X509 *ca, const char *kpath, const char *cpath)
{
	X509 *x = ca_load_cert(cpath);
	EVP_PKEY *k = ca_load_key(kpath);
	int ok = 0;
	if (x && k && X509_check_private_key(x, k)) {
		X509_STORE *store = X509_STORE_new();
		X509_STORE_CTX *ctx = X509_STORE_CTX_new();
		time_t soon = time(NULL) + RENEW_BEFORE_S;
		if (store && ctx && X509_STORE_add_cert(store, ca) &&
		    X509_STORE_CTX_init(ctx, store, x, NULL)) {
			X509_STORE_CTX_set_purpose(ctx, X509_PURPOSE_SSL_SERVER);
			ok = X509_verify_cert(ctx) == 1 &&
			     X509_cmp_time(X509_get0_notAfter(x), &soon) > 0;
		}
		X509_STORE_CTX_free(ctx);
		X509_STORE_free(store);
	}
	X509_free(x);
	EVP_PKEY_free(k);
	ERR_clear_error();
	return ok;
}

static int make_server(const char *kpath, const char *cpath, const char *node, const char *names,
                       unsigned days, EVP_PKEY *cakey, X509 *ca, char *err, size_t errlen)
{
	char san[1024];
	int n = snprintf(san, sizeof san, "DNS:%s,DNS:localhost,IP:127.0.0.1,IP:::1", node);
	/* Extra names, comma-separated, each becomes a DNS entry. */
	char copy[300];
	tg_strlcpy(copy, names, sizeof copy);
	char *save = NULL;
	for (char *t = strtok_r(copy, ", ", &save); t; t = strtok_r(NULL, ", ", &save))
		n += snprintf(san + n, sizeof san - (size_t)n, ",DNS:%s", t);
	if ((size_t)n >= sizeof san) {
		snprintf(err, errlen, "pki.server_names: too many names");
		return -1;
	}
	EVP_PKEY *key = new_key();
	X509 *x = key ? new_cert(key, node, days) : NULL;
	int ok = x && X509_set_issuer_name(x, X509_get_subject_name(ca)) &&
	         add_ext(x, ca, NID_basic_constraints, "critical,CA:FALSE") &&
	         add_ext(x, ca, NID_key_usage, "critical,digitalSignature") &&
	         add_ext(x, ca, NID_ext_key_usage, "serverAuth") &&
	         add_ext(x, ca, NID_subject_alt_name, san) &&
	         add_ext(x, ca, NID_subject_key_identifier, "hash") &&
	         add_ext(x, ca, NID_authority_key_identifier, "keyid:always") &&
	         X509_sign(x, cakey, EVP_sha256());
	if (!ok)
		ossl_err(err, errlen, "cannot create the server certificate");
	else
		ok = ca_write_pem(kpath, 0600, key, NULL, err, errlen) == 0 &&
		     ca_write_pem(cpath, 0644, NULL, x, err, errlen) == 0;
	X509_free(x);
	EVP_PKEY_free(key);
	return ok ? 0 : -1;
}

int ca_bootstrap(const char *dir, const char *node, const char *names, unsigned server_days,
                 struct ca_bootstrap_result *res, char *err, size_t errlen)
{
	memset(res, 0, sizeof *res);
	int rc = tg_mkdir_p(dir, 0700);
	if (rc != 0) {
		snprintf(err, errlen, "cannot create %s: %s", dir, strerror(-rc));
		return -1;
	}
	char cakey[300], cacert[300];
	snprintf(cakey, sizeof cakey, "%s/ca.key", dir);
	snprintf(cacert, sizeof cacert, "%s/ca.crt", dir);
	snprintf(res->ca_cert, sizeof res->ca_cert, "%s", cacert);
	snprintf(res->server_key, sizeof res->server_key, "%s/server.key", dir);
	snprintf(res->server_cert, sizeof res->server_cert, "%s/server.crt", dir);

	EVP_PKEY *key = ca_load_key(cakey);
	X509 *ca = ca_load_cert(cacert);
	rc = -1;
	if (key && ca && !X509_check_private_key(ca, key)) {
		snprintf(err, errlen, "%s does not match %s: refusing to replace a CA", cakey,
		         cacert);
		goto out;
	}
	if (!key != !ca) {
		snprintf(err, errlen, "only one of %s and %s exists: refusing to replace a CA",
		         cakey, cacert);
		goto out;
	}
	if (!key) {
		if (make_ca(cakey, cacert, node, &key, &ca, err, errlen) != 0)
			goto out;
		res->ca_created = 1;
	}
	if (res->ca_created || !server_ok(ca, res->server_key, res->server_cert)) {
		if (make_server(res->server_key, res->server_cert, node, names, server_days, key,
		                ca, err, errlen) != 0)
			goto out;
		res->server_created = 1;
	}
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int mdlen = 0;
	X509_digest(ca, EVP_sha256(), md, &mdlen);
	for (unsigned i = 0; i < mdlen && 3 * i + 3 <= sizeof res->ca_fingerprint; i++)
		snprintf(res->ca_fingerprint + 3 * i, 4, i + 1 < mdlen ? "%02X:" : "%02X", md[i]);
	rc = 0;
out:
	EVP_PKEY_free(key);
	X509_free(ca);
	ERR_clear_error();
	return rc;
}

/* Both files or neither: 1 both exist (matching), 0 neither, -1 refused (said in err). */
static int pair_state(const char *kpath, const char *cpath, char *err, size_t errlen)
{
	int k = access(kpath, F_OK) == 0, c = access(cpath, F_OK) == 0;
	if (k != c) {
		snprintf(err, errlen, "only one of %s and %s exists: refusing to replace a signer",
		         kpath, cpath);
		return -1;
	}
	return k;
}

/* An RSA signing certificate: issued by ca (until the CA's end) or, with ca NULL,
 * self-signed for days. Key usage digitalSignature only: it signs files, not certificates. */
static int make_rsa_signer(const char *kpath, const char *cpath, const char *cn, long days,
                           EVP_PKEY *cakey, X509 *ca, char *err, size_t errlen)
{
	EVP_PKEY *key = EVP_RSA_gen(SIGNER_RSA_BITS);
	X509 *x = key ? new_cert(key, cn, days) : NULL;
	X509 *issuer = ca ? ca : x;
	int ok = x && X509_set_issuer_name(x, X509_get_subject_name(issuer)) &&
	         (!ca || X509_set1_notAfter(x, X509_get0_notAfter(ca))) &&
	         add_ext(x, issuer, NID_basic_constraints, "critical,CA:FALSE") &&
	         add_ext(x, issuer, NID_key_usage, "critical,digitalSignature") &&
	         add_ext(x, issuer, NID_subject_key_identifier, "hash") &&
	         (!ca || add_ext(x, ca, NID_authority_key_identifier, "keyid:always")) &&
	         X509_sign(x, ca ? cakey : key, EVP_sha256());
	if (!ok)
		ossl_err(err, errlen, "cannot create a trust-list signer");
	else
		ok = ca_write_pem(kpath, 0600, key, NULL, err, errlen) == 0 &&
		     ca_write_pem(cpath, 0644, NULL, x, err, errlen) == 0;
	X509_free(x);
	EVP_PKEY_free(key);
	return ok ? 0 : -1;
}

int ca_bootstrap_signers(const char *dir, const char *node, int *created, char *err, size_t errlen)
{
	char kp[2][300], cp[2][300], cn[2][160];
	static const char *const names[2] = {"trustlist", "recovery"};
	*created = 0;
	snprintf(cn[0], sizeof cn[0], "telgate TFTP %s", node);
	snprintf(cn[1], sizeof cn[1], "ITLRECOVERY_%s", node);
	int have[2];
	for (int i = 0; i < 2; i++) {
		snprintf(kp[i], sizeof kp[i], "%s/%s.key", dir, names[i]);
		snprintf(cp[i], sizeof cp[i], "%s/%s.crt", dir, names[i]);
		if ((have[i] = pair_state(kp[i], cp[i], err, errlen)) < 0)
			return -1;
	}
	int rc = 0;
	if (!have[0]) {
		char cakey[300], cacert[300];
		snprintf(cakey, sizeof cakey, "%s/ca.key", dir);
		snprintf(cacert, sizeof cacert, "%s/ca.crt", dir);
		EVP_PKEY *key = ca_load_key(cakey);
		X509 *ca = ca_load_cert(cacert);
		if (!key || !ca) {
			snprintf(err, errlen, "cannot read the CA in %s", dir);
			rc = -1;
		} else {
			rc = make_rsa_signer(kp[0], cp[0], cn[0], CA_DAYS, key, ca, err, errlen);
		}
		EVP_PKEY_free(key);
		X509_free(ca);
		if (rc == 0)
			*created |= 1;
	}
	if (rc == 0 && !have[1]) {
		rc = make_rsa_signer(kp[1], cp[1], cn[1], RECOVERY_DAYS, NULL, NULL, err, errlen);
		if (rc == 0)
			*created |= 2;
	}
	ERR_clear_error();
	return rc;
}
