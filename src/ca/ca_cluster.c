/* SPDX-License-Identifier: ISC */
#include "ca/ca_cluster.h"
#include "ca/ca_cluster_int.h"

#include "authz/jwk.h"
#include "ca/ca_kek.h"
#include "ca/capf.h"
#include "core/log.h"
#include "core/util.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define TOKEN_PREFIX "token:"

static void role_paths(const struct ca_sync *s, const char *role, char kp[320], char cp[320])
{
	snprintf(kp, 320, "%s/%s.key", s->o->pki_dir, role);
	snprintf(cp, 320, "%s/%s.crt", s->o->pki_dir, role);
}

static char *cert_pem(X509 *x)
{
	BIO *b = BIO_new(BIO_s_mem());
	char *data = NULL, *pem = NULL;
	long n = b && PEM_write_bio_X509(b, x) == 1 ? BIO_get_mem_data(b, &data) : 0;
	if (n > 0 && (pem = malloc((size_t)n + 1))) {
		memcpy(pem, data, (size_t)n);
		pem[n] = '\0';
	}
	BIO_free(b);
	return pem;
}

static X509 *cert_of_pem(const char *pem)
{
	BIO *b = BIO_new_mem_buf(pem, -1);
	X509 *x = b ? PEM_read_bio_X509(b, NULL, NULL, NULL) : NULL;
	BIO_free(b);
	return x;
}

/* The store's key of role (s->row) in clear, checked against cert (NULL for a token key: its
 * name is its thumbprint instead). NULL with s->err. */
static EVP_PKEY *open_row(struct ca_sync *s, X509 *cert, const char *kid)
{
	char why[200];
	EVP_PKEY *k = ca_kek_open(&s->kek, s->row->privatekey, why, sizeof why);
	if (!k) {
		snprintf(s->err, s->errlen, "the cluster's %s key in the store: %s", s->row->name,
		         why);
		return NULL;
	}
	char tp[AUTHZ_KID_LEN + 1];
	if (cert ? X509_check_private_key(cert, k) != 1
	         : authz_jwk_thumbprint(k, tp) != 0 || strcmp(tp, kid) != 0) {
		snprintf(s->err, s->errlen,
		         "the cluster's %s key in the store does not match its %s (altered?)",
		         s->row->name, cert ? "certificate" : "name");
		EVP_PKEY_free(k);
		return NULL;
	}
	return k;
}

int ca_sync_get_row(struct ca_sync *s, const char *name)
{
	int rc = store_clusterkey_get(s->st, name, s->row);
	if (rc != STORE_OK && rc != STORE_NOTFOUND)
		snprintf(s->err, s->errlen, "cannot read the cluster's %s key: %s", name,
		         store_last_error());
	return rc == STORE_OK ? 1 : rc == STORE_NOTFOUND ? 0 : -1;
}

/* The store's key and certificate of role written over the local files when they differ.
 * 1 written, 0 nothing to do (no row, or the same certificate), -1 with s->err. */
static int pull_role(struct ca_sync *s, const char *role)
{
	int rc = ca_sync_get_row(s, role);
	if (rc <= 0)
		return rc;
	char kp[320], cp[320];
	role_paths(s, role, kp, cp);
	X509 *cert = cert_of_pem(s->row->certificate);
	X509 *local = ca_load_cert(cp);
	EVP_PKEY *lkey = ca_load_key(kp), *k = NULL;
	rc = -1;
	if (!cert) {
		snprintf(s->err, s->errlen,
		         "the cluster's %s certificate in the store is unreadable", role);
	} else if (local && lkey && X509_cmp(local, cert) == 0 &&
	           X509_check_private_key(local, lkey) == 1) {
		rc = 0; /* what this node has already; the row is still decrypted below */
	}
	if (cert && (k = open_row(s, cert, NULL)) != NULL && rc != 0) {
		if (local)
			log_ev(LOG_LVL_WARNING, s->o->cid, "ca_cluster_key_replaced",
			       LOG_S("key", role), LOG_S("file", kp));
		rc = ca_write_pem(kp, 0600, k, NULL, s->err, s->errlen) == 0 &&
		             ca_write_pem(cp, 0644, NULL, cert, s->err, s->errlen) == 0
		         ? 1
		         : -1;
		s->pulled += rc == 1;
	} else if (!k) {
		rc = -1;
	}
	EVP_PKEY_free(k);
	EVP_PKEY_free(lkey);
	X509_free(cert);
	X509_free(local);
	ERR_clear_error();
	return rc;
}

/* Inserts a key (taken: freed here) unless the store has one of that name. 0 or -1. */
static int push_key(struct ca_sync *s, const char *name, EVP_PKEY *k, X509 *cert)
{
	char *sealed = NULL, *pem = cert ? cert_pem(cert) : NULL;
	int rc = -1;
	if (cert && !pem)
		snprintf(s->err, s->errlen, "cannot encode the %s certificate", name);
	else if (ca_kek_seal(&s->kek, k, &sealed, s->err, s->errlen) == 0) {
		memset(s->row, 0, sizeof *s->row);
		tg_strlcpy(s->row->name, name, sizeof s->row->name);
		if (strlen(sealed) >= sizeof s->row->privatekey ||
		    (pem && strlen(pem) >= sizeof s->row->certificate)) {
			snprintf(s->err, s->errlen, "the %s key is too large for the store", name);
		} else {
			memcpy(s->row->privatekey, sealed, strlen(sealed) + 1);
			if (pem)
				memcpy(s->row->certificate, pem, strlen(pem) + 1);
			s->row->created = tg_now_s();
			rc = store_clusterkey_add(s->st, s->row) == STORE_OK ? 0 : -1;
			if (rc != 0)
				snprintf(s->err, s->errlen, "cannot store the %s key: %s", name,
				         store_last_error());
		}
		OPENSSL_cleanse(s->row->privatekey, sizeof s->row->privatekey);
		free(sealed);
	}
	free(pem);
	EVP_PKEY_free(k);
	ERR_clear_error();
	return rc;
}

/* This node's key of role offered to the store, then the store's read back (the first node's
 * wins). 1 when the local files were replaced, 0, or -1. */
static int push_role(struct ca_sync *s, const char *role)
{
	char kp[320], cp[320];
	role_paths(s, role, kp, cp);
	int have = ca_sync_get_row(s, role);
	if (have < 0)
		return -1;
	if (!have) {
		EVP_PKEY *k = ca_load_key(kp);
		X509 *x = ca_load_cert(cp);
		int rc = k && x ? push_key(s, role, k, x) : 0;
		if (k && x)
			s->pushed++;
		else
			EVP_PKEY_free(k);
		X509_free(x);
		if (rc != 0)
			return -1;
	}
	return pull_role(s, role);
}

/* Token keys: pki_dir/tokens/<kid>.key, made by the signer (ca/signer_tokens.c). */
static int token_dir(const struct ca_sync *s, char path[320])
{
	snprintf(path, 320, "%s/tokens", s->o->pki_dir);
	if (mkdir(path, 0700) != 0 && errno != EEXIST) {
		snprintf(s->err, s->errlen, "cannot make %s: %s", path, strerror(errno));
		return -1;
	}
	return 0;
}

static int push_tokens(struct ca_sync *s)
{
	char dir[320];
	if (token_dir(s, dir) != 0)
		return -1;
	DIR *d = opendir(dir);
	if (!d)
		return 0;
	struct dirent *e;
	int rc = 0;
	while (rc == 0 && (e = readdir(d))) {
		size_t n = strlen(e->d_name);
		if (n != AUTHZ_KID_LEN + 4 || strcmp(e->d_name + AUTHZ_KID_LEN, ".key") != 0 ||
		    !authz_kid_ok(e->d_name, AUTHZ_KID_LEN))
			continue;
		char name[STORE_CLUSTERKEY_NAME_MAX + 1], path[400];
		snprintf(name, sizeof name, TOKEN_PREFIX "%.*s", AUTHZ_KID_LEN, e->d_name);
		int have = ca_sync_get_row(s, name);
		if (have != 0) {
			rc = have < 0 ? -1 : 0;
			continue;
		}
		snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
		EVP_PKEY *k = ca_load_key(path);
		if (k) {
			rc = push_key(s, name, k, NULL);
			s->pushed += rc == 0;
		}
	}
	closedir(d);
	return rc;
}

/* The names of the store's keys that start with prefix (at most CA_KEY_NAMES_MAX: the token keys'
 * SIGNER_TOKEN_KEYS_MAX and the others). */
static int key_name(void *ud, const struct store_clusterkey *k)
{
	struct ca_key_names *t = ud;
	if (strncmp(k->name, t->prefix, strlen(t->prefix)) == 0 && t->n < CA_KEY_NAMES_MAX)
		tg_strlcpy(t->names[t->n++], k->name, sizeof t->names[0]);
	return 0;
}

struct ca_key_names *ca_sync_list_names(struct ca_sync *s, const char *prefix)
{
	struct ca_key_names *t = calloc(1, sizeof *t);
	if (!t) {
		snprintf(s->err, s->errlen, "out of memory");
		return NULL;
	}
	t->prefix = prefix;
	if (store_clusterkeys(s->st, key_name, t) != STORE_OK) {
		snprintf(s->err, s->errlen, "cannot list the cluster's keys: %s",
		         store_last_error());
		free(t);
		return NULL;
	}
	return t;
}

static int pull_tokens(struct ca_sync *s)
{
	char dir[320];
	struct ca_key_names *t =
	    token_dir(s, dir) == 0 ? ca_sync_list_names(s, TOKEN_PREFIX) : NULL;
	if (!t)
		return -1;
	int rc = 0;
	for (size_t i = 0; rc == 0 && i < t->n; i++) {
		const char *kid = t->names[i] + strlen(TOKEN_PREFIX);
		char path[400];
		snprintf(path, sizeof path, "%s/%s.key", dir, kid);
		if (!authz_kid_ok(kid, strlen(kid)) || access(path, F_OK) == 0)
			continue;
		if (ca_sync_get_row(s, t->names[i]) != 1)
			continue;
		EVP_PKEY *k = open_row(s, NULL, kid);
		rc = k ? ca_write_pem(path, 0600, k, NULL, s->err, s->errlen) : -1;
		s->pulled += rc == 0;
		EVP_PKEY_free(k);
	}
	free(t);
	ERR_clear_error();
	return rc;
}

/* The capf key (ca/capf.h: the HMAC key of enrolment strings and, derived from it, of OAuth
 * client secrets and refresh successors) is 32 random bytes, not a private key: it travels
 * as the raw private key of an X25519 PKCS#8 structure, so that one format (ca/ca_kek.h)
 * carries every shared secret. OpenSSL keeps raw X25519 keys as given (clamping happens at
 * use). */
#define CAPF_ROLE "capf"

static int capf_path(const struct ca_sync *s, char path[320])
{
	return snprintf(path, 320, "%s/%s", s->o->pki_dir, CAPF_KEY_FILE) < 320 ? 0 : -1;
}

static int capf_read(const char *path, unsigned char key[CAPF_KEY_BYTES])
{
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	if (fd < 0)
		return -1;
	unsigned char buf[CAPF_KEY_BYTES + 1];
	ssize_t n = read(fd, buf, sizeof buf);
	close(fd);
	if (n == CAPF_KEY_BYTES)
		memcpy(key, buf, CAPF_KEY_BYTES);
	OPENSSL_cleanse(buf, sizeof buf);
	return n == CAPF_KEY_BYTES ? 0 : -1;
}

/* Through a temporary file and rename (0600), as the other keys. */
static int capf_write(struct ca_sync *s, const char *path, const unsigned char *key)
{
	char tmp[340];
	snprintf(tmp, sizeof tmp, "%s.tmp", path);
	int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0600);
	int ok = fd >= 0 && write(fd, key, CAPF_KEY_BYTES) == CAPF_KEY_BYTES && fsync(fd) == 0;
	if (fd >= 0)
		ok = close(fd) == 0 && ok;
	if (!ok || rename(tmp, path) != 0) {
		unlink(tmp);
		snprintf(s->err, s->errlen, "cannot write %s", path);
		return -1;
	}
	return 0;
}

/* The store's capf key over the local file (made first when neither exists), the local
 * one offered when the store has none. 0 or -1. */
static int sync_capf(struct ca_sync *s)
{
	char path[320];
	unsigned char local[CAPF_KEY_BYTES], theirs[CAPF_KEY_BYTES];
	size_t n = CAPF_KEY_BYTES;
	if (capf_path(s, path) != 0) {
		snprintf(s->err, s->errlen, "pki.dir is too long");
		return -1;
	}
	int have = ca_sync_get_row(s, CAPF_ROLE);
	if (have < 0)
		return -1;
	int rc = -1;
	if (!have) {
		if (capf_read(path, local) != 0) {
			if (RAND_priv_bytes(local, sizeof local) != 1 ||
			    capf_write(s, path, local) != 0)
				goto out;
		}
		EVP_PKEY *k =
		    EVP_PKEY_new_raw_private_key(EVP_PKEY_X25519, NULL, local, sizeof local);
		if (!k || push_key(s, CAPF_ROLE, k, NULL) != 0 ||
		    ca_sync_get_row(s, CAPF_ROLE) != 1)
			goto out;
		s->pushed++;
	}
	char why[200];
	EVP_PKEY *k = ca_kek_open(&s->kek, s->row->privatekey, why, sizeof why);
	if (!k || EVP_PKEY_get_raw_private_key(k, theirs, &n) != 1 || n != CAPF_KEY_BYTES) {
		snprintf(s->err, s->errlen, "the cluster's capf key in the store: %s",
		         k ? "not a 32-byte key" : why);
		EVP_PKEY_free(k);
		goto out;
	}
	EVP_PKEY_free(k);
	rc = 0;
	if (capf_read(path, local) != 0 || CRYPTO_memcmp(local, theirs, sizeof local) != 0) {
		rc = capf_write(s, path, theirs);
		s->pulled += rc == 0;
	}
out:
	OPENSSL_cleanse(local, sizeof local);
	OPENSSL_cleanse(theirs, sizeof theirs);
	ERR_clear_error();
	return rc;
}

/* This node's TLS server certificate, for the trust lists every node builds. */
static int put_node_cert(struct ca_sync *s, const struct ca_bootstrap_result *res)
{
	X509 *x = ca_load_cert(res->server_cert);
	char *pem = x ? cert_pem(x) : NULL;
	int rc = pem && store_nodecert_put(s->st, s->o->node, pem, tg_now_s()) == STORE_OK ? 0 : -1;
	if (rc != 0)
		snprintf(s->err, s->errlen, "cannot record this node's certificate: %s",
		         pem ? store_last_error() : "unreadable");
	free(pem);
	X509_free(x);
	return rc;
}

static int bootstrap(struct ca_sync *s, struct ca_bootstrap_result *res)
{
	return ca_bootstrap(s->o->pki_dir, s->o->node, s->o->names, s->o->server_days, res, s->err,
	                    s->errlen);
}

/* Phase 1 (before the engine exists): the CA, this node's server certificate, the capf key. */
static int run_keys(struct ca_sync *s, void *arg)
{
	struct ca_bootstrap_result *res = arg;
	static const char *const roles[] = {"ca", "trustlist", "recovery"};
	for (size_t i = 0; i < 3; i++)
		if (pull_role(s, roles[i]) < 0)
			return -1;
	if (bootstrap(s, res) != 0)
		return -1;
	int r = push_role(s, "ca");
	if (r < 0)
		return -1;
	if (r == 1) {
		/* Another node's CA won the race: what this node issued with its own goes. The
		 * server certificate no longer verifies and is issued again; a trust-list signer
		 * made by the lost CA is made again (ca_cluster_signers). */
		char kp[320], cp[320];
		role_paths(s, "trustlist", kp, cp);
		if (ca_sync_get_row(s, "trustlist") == 0) {
			unlink(kp);
			unlink(cp);
		}
		if (bootstrap(s, res) != 0)
			return -1;
	}
	if (sync_capf(s) != 0)
		return -1;
	return put_node_cert(s, res);
}

/* Phase 2 (after the engine was forked): the RSA signers, made by the first node, and the
 * token keys. */
static int run_signers(struct ca_sync *s, void *arg)
{
	int *created = arg;
	if (ca_bootstrap_signers(s->o->pki_dir, s->o->node, created, s->err, s->errlen) != 0 ||
	    push_role(s, "trustlist") < 0 || push_role(s, "recovery") < 0 || push_tokens(s) != 0 ||
	    pull_tokens(s) != 0)
		return -1;
	return 0;
}

void ca_cluster_options_of(const struct tg_config *cfg, const char *cid, struct store_options *so,
                           struct ca_cluster_options *co)
{
	*so = (struct store_options){
	    .backend = cfg->store.backend,
	    .path = cfg->store.path,
	    .conninfo = cfg->store.conninfo,
	    .conninfo_file = cfg->store.conninfo_file,
	    .busy_timeout_ms = cfg->store.busy_timeout_ms,
	};
	*co = (struct ca_cluster_options){.pki_dir = cfg->pki.dir,
	                                  .node = cfg->core.node_id,
	                                  .names = cfg->pki.server_names,
	                                  .server_days = cfg->pki.server_days,
	                                  .kek_file = cfg->pki.kek_file,
	                                  .store = so,
	                                  .cid = cid};
}

/* Runs fn with the KEK and the store open; the KEK and the last row wiped after. */
static int with_store(const struct ca_cluster_options *o, int (*fn)(struct ca_sync *, void *),
                      void *arg, char *err, size_t errlen)
{
	struct ca_sync s = {.o = o, .err = err, .errlen = errlen};
	int rc = tg_mkdir_p(o->pki_dir, 0700);
	if (rc != 0) {
		snprintf(err, errlen, "cannot create %s: %s", o->pki_dir, strerror(-rc));
		return -1;
	}
	if (ca_kek_read(o->kek_file, &s.kek, err, errlen) != 0)
		return -1;
	rc = -1;
	s.row = malloc(sizeof *s.row);
	if (!s.row)
		snprintf(err, errlen, "out of memory");
	else if (store_open(o->store, &s.st, err, errlen) == STORE_OK)
		rc = fn(&s, arg);
	if (rc == 0)
		log_ev(LOG_LVL_NOTICE, o->cid, "ca_cluster_keys", LOG_I("loaded", s.pulled),
		       LOG_I("stored", s.pushed));
	store_close(s.st);
	if (s.row)
		OPENSSL_cleanse(s.row, sizeof *s.row);
	free(s.row);
	ca_kek_wipe(&s.kek);
	return rc;
}

int ca_cluster_keys(const struct ca_cluster_options *o, struct ca_bootstrap_result *res, char *err,
                    size_t errlen)
{
	memset(res, 0, sizeof *res);
	return with_store(o, run_keys, res, err, errlen);
}

int ca_cluster_signers(const struct ca_cluster_options *o, int *created, char *err, size_t errlen)
{
	*created = 0;
	return with_store(o, run_signers, created, err, errlen);
}
