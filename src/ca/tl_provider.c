/* SPDX-License-Identifier: ISC */
/*
 * tl_provider: the signed trust lists, kept ready for the file service (tl_provider.h).
 *
 * A refresh gathers what is listed (certificates by role, in a fixed order: interface
 * directories sorted by name, so equal inputs give equal bytes), hashes it, and does
 * nothing when the hash is the one served. Otherwise it takes the sequence and the
 * signing key from pki.dir/trustlist.state (docs/trust-list.md): the same hash as the
 * state's keeps its sequence and key (a restart re-signs the same bytes: RSA PKCS#1 v1.5
 * is deterministic, so the ETag stays); a new hash takes max(now, previous + 1), and the
 * recovery key when the trust-list signer's certificate is not the one the state names.
 * The state is written before the new lists are served, so a sequence is never served
 * twice with different contents. Two signatures per refresh (ITL and CTL).
 */
#include "ca/tl_provider.h"

#include "ca/tl_state.h"
#include "ca/trustlist.h"
#include "core/log.h"
#include "core/util.h"

#include <dirent.h>
#include <errno.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define CERT_FILE_MAX (64 * 1024) /* bytes of a PEM file read for the list */
#define CTYPE "application/octet-stream"

struct item {
	enum tl_role role;
	unsigned char *der;
	size_t len;
	int dns; /* the node's name goes in the record */
};

struct inputs {
	struct item v[TL_RECORDS_MAX];
	size_t n;
	const struct item *tl, *rec; /* the trust-list and recovery signers' certificates */
};

/* A certificate's PEM text seen at the last refresh, known by its SHA-256, and its DER. */
struct pem_memo {
	unsigned char text_hash[32];
	unsigned char *der;
	size_t len;
	unsigned gen; /* the refresh that last read it */
};

#define PEM_MEMO_MAX (2 * TL_RECORDS_MAX) /* the last refresh's and this one's */

struct prov {
	char pki[256], node[256];
	struct signer *signer;
	store_t *store; /* NULL: no other nodes */
	unsigned check_s;
	pthread_mutex_t mu; /* guards itl, ctl, seq */
	struct files_blob *itl, *ctl;
	uint32_t seq;
	pthread_mutex_t refresh_mu; /* one refresh at a time; guards hash, have, memo */
	unsigned char hash[32];
	int have;
	struct pem_memo memo[PEM_MEMO_MAX];
	size_t nmemo;
	unsigned gen;
	pthread_mutex_t stop_mu;
	pthread_cond_t stop_cv;
	int stop, thread_started;
	pthread_t thread;
};

static void inputs_free(struct inputs *in)
{
	for (size_t i = 0; i < in->n; i++)
		free(in->v[i].der);
	memset(in, 0, sizeof *in);
}

/* Adds a certificate (taking der) unless the same one is listed with the same role. */
static const struct item *add(struct inputs *in, enum tl_role role, unsigned char *der, size_t len,
                              int dns)
{
	for (size_t i = 0; i < in->n; i++)
		if (in->v[i].role == role && in->v[i].len == len &&
		    memcmp(in->v[i].der, der, len) == 0) {
			free(der);
			return &in->v[i];
		}
	if (in->n == TL_RECORDS_MAX) {
		free(der);
		return NULL;
	}
	in->v[in->n] = (struct item){role, der, len, dns};
	return &in->v[in->n++];
}

static unsigned char *dup_bytes(const unsigned char *p, size_t n)
{
	unsigned char *d = malloc(n ? n : 1);
	if (d)
		memcpy(d, p, n);
	return d;
}

static void sha256(const unsigned char *p, size_t n, unsigned char out[32])
{
	unsigned len;
	EVP_Digest(p, n, out, &len, EVP_sha256(), NULL);
}

/* The first certificate of a PEM text (n bytes), as DER, parsed by OpenSSL. */
static int pem_parse_der(const char *text, size_t n, unsigned char **der, size_t *len)
{
	BIO *bio = BIO_new_mem_buf(text, (int)n);
	X509 *x = bio ? PEM_read_bio_X509(bio, NULL, NULL, NULL) : NULL;
	BIO_free(bio);
	unsigned char *d = NULL;
	int dl = x ? i2d_X509(x, &d) : -1;
	X509_free(x);
	if (dl <= 0)
		return -EINVAL;
	*der = dup_bytes(d, (size_t)dl);
	OPENSSL_free(d);
	*len = (size_t)dl;
	return *der ? 0 : -ENOMEM;
}

/* The first certificate of a PEM text (n bytes), as DER: from p->memo when the same text
 * was read at this refresh or the one before, else parsed. The checker reads the same
 * files (and the store's node certificates) every check_s seconds, and parsing one
 * certificate (its public key decoded through OpenSSL 3's providers:
 * EVP_KEYMGMT_do_all_provided, EVP_PKEY_new) cost ~1.5M instructions (issue 22, ninth
 * round: ~6.4M every 10 s, four fifths of the daemon's work besides requests). A text is
 * known by its SHA-256 (a few thousand instructions), so a changed byte is parsed again.
 * Under refresh_mu. */
static int pem_text_der(struct prov *p, const char *text, size_t n, unsigned char **der,
                        size_t *len)
{
	unsigned char h[32];
	sha256((const unsigned char *)text, n, h);
	for (size_t i = 0; i < p->nmemo; i++) {
		struct pem_memo *m = &p->memo[i];
		if (memcmp(m->text_hash, h, sizeof h) == 0) {
			m->gen = p->gen;
			*len = m->len;
			return (*der = dup_bytes(m->der, m->len)) ? 0 : -ENOMEM;
		}
	}
	int rc = pem_parse_der(text, n, der, len);
	if (rc == 0 && p->nmemo < PEM_MEMO_MAX) {
		struct pem_memo *m = &p->memo[p->nmemo];
		if ((m->der = dup_bytes(*der, *len))) {
			memcpy(m->text_hash, h, sizeof h);
			m->len = *len;
			m->gen = p->gen;
			p->nmemo++;
		}
	}
	return rc;
}

/* Forgets the texts the last refresh did not read (with keep 0: all of them). */
static void memo_prune(struct prov *p, int keep)
{
	size_t k = 0;
	for (size_t i = 0; i < p->nmemo; i++) {
		if (keep && p->memo[i].gen == p->gen)
			p->memo[k++] = p->memo[i];
		else
			free(p->memo[i].der);
	}
	p->nmemo = k;
}

/* The first certificate of a PEM file, as DER. -ENOENT when the file does not exist. */
static int pem_der(struct prov *p, const char *path, unsigned char **der, size_t *len)
{
	char *text;
	size_t n;
	int rc = tg_read_file(path, CERT_FILE_MAX, &text, &n);
	if (rc != 0)
		return rc;
	rc = pem_text_der(p, text, n, der, len);
	free(text);
	return rc;
}

static int add_file(struct prov *p, struct inputs *in, enum tl_role role, const char *path, int dns)
{
	unsigned char *der;
	size_t len;
	int rc = pem_der(p, path, &der, &len);
	if (rc == -ENOENT)
		return 0; /* not there (yet): not listed */
	if (rc != 0) {
		log_ev(LOG_LVL_WARNING, NULL, "trustlist_cert_unreadable", LOG_S("file", path),
		       LOG_I("errno", -rc));
		return rc;
	}
	return add(in, role, der, len, dns) ? 0 : -E2BIG;
}

struct node_certs {
	struct prov *p;
	struct inputs *in;
	int rc;
};

static int add_node_cert(void *ud, const char *node, const char *pem)
{
	struct node_certs *nc = ud;
	unsigned char *der;
	size_t len;
	if (pem_text_der(nc->p, pem, strlen(pem), &der, &len) != 0) {
		log_ev(LOG_LVL_WARNING, NULL, "trustlist_node_cert_unreadable",
		       LOG_S("node", node));
		return 0; /* that node's row is left out, the others are listed */
	}
	if (!add(nc->in, TL_ROLE_CCM, der, len, 0)) {
		nc->rc = -E2BIG;
		return 1;
	}
	return 0;
}

/* Every node's TLS server certificate in the store (issue 21; ca/ca_cluster.h writes them),
 * so that a phone trusts whichever node it reaches. A store that cannot be read keeps the
 * lists served (-EAGAIN) rather than dropping the other nodes from a new one. */
static int add_node_certs(struct prov *p, struct inputs *in)
{
	struct node_certs nc = {p, in, 0};
	int rc = store_nodecerts(p->store, add_node_cert, &nc);
	if (rc != STORE_OK && rc != STORE_TOOBIG) {
		log_ev(LOG_LVL_WARNING, NULL, "trustlist_node_certs_unavailable",
		       LOG_S("error", store_last_error()));
		return -EAGAIN;
	}
	return nc.rc;
}

static int interface_filter(const struct dirent *d)
{
	return d->d_name[0] != '.';
}

static int gather(struct prov *p, struct inputs *in)
{
	unsigned char *der;
	size_t len;
	memset(in, 0, sizeof *in);
	int rc = signer_certificate(p->signer, SIGNER_KEY_TRUSTLIST, &der, &len);
	if (rc != 0)
		return rc;
	unsigned char *copy = dup_bytes(der, len);
	in->tl = add(in, TL_ROLE_SAST, der, len, 0);
	if (!copy || !in->tl || !add(in, TL_ROLE_TFTP, copy, len, 0))
		return -ENOMEM;
	rc = signer_certificate(p->signer, SIGNER_KEY_RECOVERY, &der, &len);
	if (rc == 0 && !(in->rec = add(in, TL_ROLE_SAST, der, len, 0)))
		return -ENOMEM;
	if (rc != 0 && rc != -ENOENT)
		return rc;
	char path[600];
	snprintf(path, sizeof path, "%s/ca.crt", p->pki);
	if ((rc = add_file(p, in, TL_ROLE_CAPF, path, 0)) != 0)
		return rc;
	snprintf(path, sizeof path, "%s/server.crt", p->pki);
	if ((rc = add_file(p, in, TL_ROLE_CCM, path, 1)) != 0)
		return rc;
	if (p->store && (rc = add_node_certs(p, in)) != 0)
		return rc;
	snprintf(path, sizeof path, "%s/interfaces", p->pki);
	struct dirent **names;
	int n = scandir(path, &names, interface_filter, alphasort);
	for (int i = 0; i < n; i++) {
		if (rc == 0) {
			snprintf(path, sizeof path, "%s/interfaces/%s/cert.pem", p->pki,
			         names[i]->d_name);
			rc = add_file(p, in, TL_ROLE_CCM, path, 0);
			/* A broken override is not in use (its listener serves the node's
			 * certificate: tls/tlsctx.h): left out of the list, with the warning
			 * add_file logged, rather than holding the whole list back. */
			if (rc != 0 && rc != -ENOMEM && rc != -E2BIG)
				rc = 0;
		}
		free(names[i]);
	}
	if (n >= 0)
		free(names);
	return rc;
}

static void inputs_hash(const struct inputs *in, unsigned char out[32])
{
	EVP_MD_CTX *c = EVP_MD_CTX_new();
	unsigned len;
	EVP_DigestInit_ex(c, EVP_sha256(), NULL);
	for (size_t i = 0; i < in->n; i++) {
		unsigned char head[6] = {
		    (unsigned char)(in->v[i].role >> 8), (unsigned char)in->v[i].role,
		    (unsigned char)(in->v[i].len >> 24), (unsigned char)(in->v[i].len >> 16),
		    (unsigned char)(in->v[i].len >> 8),  (unsigned char)in->v[i].len};
		EVP_DigestUpdate(c, head, sizeof head);
		EVP_DigestUpdate(c, in->v[i].der, in->v[i].len);
	}
	EVP_DigestFinal_ex(c, out, &len);
	EVP_MD_CTX_free(c);
}

/* One list, signed: a new blob in *out. */
static int make_list(struct prov *p, const struct inputs *in, const struct item *signer, int key,
                     uint32_t seq, const char *filename, struct files_blob **out)
{
	struct tl_entry e[TL_RECORDS_MAX];
	for (size_t i = 0; i < in->n; i++)
		e[i] = (struct tl_entry){in->v[i].role, in->v[i].der, in->v[i].len,
		                         in->v[i].dns && p->node[0] ? p->node : NULL};
	struct tl_tbs t;
	int rc = tl_build(e, in->n, signer->der, signer->len, TL_HASH_SHA512, seq, filename, &t);
	if (rc != 0)
		return rc;
	unsigned char *sig = NULL, *file = NULL;
	size_t siglen = 0, len = 0;
	rc = signer_sign_bytes(p->signer, (enum signer_key)key, tl_hash_name(TL_HASH_SHA512),
	                       t.data, t.len, &sig, &siglen);
	if (rc == 0)
		rc = tl_assemble(&t, sig, siglen, &file, &len);
	tl_tbs_free(&t);
	free(sig);
	if (rc != 0)
		return rc;
	*out = files_blob_new(file, len, tg_now_s(), CTYPE);
	free(file);
	return *out ? 0 : -ENOMEM;
}

static int refresh_locked(struct prov *p)
{
	struct inputs in;
	unsigned char hash[32], tl_fp[32];
	p->gen++;
	int rc = gather(p, &in);
	if (rc == 0)
		memo_prune(p, 1);
	if (rc != 0) {
		inputs_free(&in);
		return rc;
	}
	inputs_hash(&in, hash);
	if (p->have && memcmp(hash, p->hash, 32) == 0) {
		inputs_free(&in);
		return 0;
	}
	sha256(in.tl->der, in.tl->len, tl_fp);
	struct tl_state st, next;
	tl_state_load(p->pki, &st);
	rc = tl_state_next(&st, hash, tl_fp, in.rec != NULL, (uint32_t)tg_now_s(), &next);
	if (rc != 0) {
		inputs_free(&in);
		return rc;
	}
	int key = next.key;
	uint32_t seq = next.seq;
	const struct item *signer = key == SIGNER_KEY_RECOVERY ? in.rec : in.tl;
	struct files_blob *itl = NULL, *ctl = NULL;
	rc = make_list(p, &in, signer, key, seq, "ITLFile.tlv", &itl);
	if (rc == 0)
		rc = make_list(p, &in, signer, key, seq, "CTLFile.tlv", &ctl);
	int same_state = st.valid && st.seq == seq && st.key == key &&
	                 memcmp(st.hash, hash, 32) == 0 && memcmp(st.tl_fp, tl_fp, 32) == 0;
	if (rc == 0 && !same_state)
		rc = tl_state_save(p->pki, &next);
	size_t records = in.n;
	inputs_free(&in);
	if (rc != 0) {
		files_blob_unref(itl);
		files_blob_unref(ctl);
		return rc;
	}
	pthread_mutex_lock(&p->mu);
	struct files_blob *old_itl = p->itl, *old_ctl = p->ctl;
	p->itl = itl;
	p->ctl = ctl;
	p->seq = seq;
	pthread_mutex_unlock(&p->mu);
	files_blob_unref(old_itl);
	files_blob_unref(old_ctl);
	memcpy(p->hash, hash, 32);
	p->have = 1;
	log_ev(LOG_LVL_INFO, NULL, "trustlist_signed", LOG_U("sequence", seq),
	       LOG_U("records", records),
	       LOG_S("key", key == SIGNER_KEY_RECOVERY ? "recovery" : "trustlist"));
	return 1;
}

int tl_provider_refresh(void *arg)
{
	struct prov *p = arg;
	pthread_mutex_lock(&p->refresh_mu);
	int rc = refresh_locked(p);
	pthread_mutex_unlock(&p->refresh_mu);
	return rc;
}

uint32_t tl_provider_sequence(void *arg)
{
	struct prov *p = arg;
	pthread_mutex_lock(&p->mu);
	uint32_t s = p->seq;
	pthread_mutex_unlock(&p->mu);
	return s;
}

static int hex_run(const char *s, size_t min, size_t max, const char *suffix)
{
	size_t n = 0;
	while ((s[n] >= '0' && s[n] <= '9') || (s[n] >= 'a' && s[n] <= 'f') ||
	       (s[n] >= 'A' && s[n] <= 'F'))
		n++;
	return n >= min && n <= max && strcmp(s + n, suffix) == 0;
}

int tl_provider_name(const char *name, int *ctl)
{
	*ctl = 0;
	if (strcmp(name, "ITLFile.tlv") == 0)
		return 1;
	if (strncmp(name, "ITLSEP", 6) == 0)
		return hex_run(name + 6, 12, 12, ".tlv");
	*ctl = 1;
	if (strcmp(name, "CTLFile.tlv") == 0)
		return 1;
	if (strncmp(name, "CTLCAPF", 7) == 0)
		return hex_run(name + 7, 1, 16, ".tlv");
	return 0;
}

static int lookup(void *arg, const char *name, struct files_blob **out)
{
	struct prov *p = arg;
	int ctl;
	if (!tl_provider_name(name, &ctl))
		return -ENOENT;
	pthread_mutex_lock(&p->mu);
	struct files_blob *b = ctl ? p->ctl : p->itl;
	if (b)
		files_blob_ref(b);
	pthread_mutex_unlock(&p->mu);
	if (!b)
		return -EIO; /* never built: the reason was logged */
	*out = b;
	return 0;
}

static void *checker(void *arg)
{
	struct prov *p = arg;
	pthread_mutex_lock(&p->stop_mu);
	while (!p->stop) {
		struct timespec until;
		clock_gettime(CLOCK_REALTIME, &until);
		pthread_mutex_lock(&p->mu);
		int built = p->itl != NULL;
		pthread_mutex_unlock(&p->mu);
		until.tv_sec += built ? p->check_s : 1; /* not built yet: the signer was starting */
		pthread_cond_timedwait(&p->stop_cv, &p->stop_mu, &until);
		if (p->stop)
			break;
		pthread_mutex_unlock(&p->stop_mu);
		int rc = tl_provider_refresh(p);
		if (rc < 0)
			log_ev(LOG_LVL_WARNING, NULL, "trustlist_refresh_failed",
			       LOG_I("errno", -rc));
		pthread_mutex_lock(&p->stop_mu);
	}
	pthread_mutex_unlock(&p->stop_mu);
	return NULL;
}

static void prov_free(void *arg)
{
	struct prov *p = arg;
	if (p->thread_started) {
		pthread_mutex_lock(&p->stop_mu);
		p->stop = 1;
		pthread_cond_signal(&p->stop_cv);
		pthread_mutex_unlock(&p->stop_mu);
		pthread_join(p->thread, NULL);
	}
	files_blob_unref(p->itl);
	files_blob_unref(p->ctl);
	memo_prune(p, 0);
	pthread_mutex_destroy(&p->mu);
	pthread_mutex_destroy(&p->refresh_mu);
	pthread_mutex_destroy(&p->stop_mu);
	pthread_cond_destroy(&p->stop_cv);
	free(p);
}

int tl_provider(const struct tl_provider_opts *o, struct files_provider *fp, char *err,
                size_t errlen)
{
	struct prov *p = calloc(1, sizeof *p);
	if (!p)
		return -ENOMEM;
	tg_strlcpy(p->pki, o->pki_dir, sizeof p->pki);
	tg_strlcpy(p->node, o->node ? o->node : "", sizeof p->node);
	p->store = o->store;
	p->signer = o->signer;
	p->check_s = o->check_s ? o->check_s : 10;
	pthread_mutex_init(&p->mu, NULL);
	pthread_mutex_init(&p->refresh_mu, NULL);
	pthread_mutex_init(&p->stop_mu, NULL);
	pthread_cond_init(&p->stop_cv, NULL);
	int rc = tl_provider_refresh(p);
	if (rc == -EAGAIN) {
		/* The signer is still starting (the monitor makes its keys on a first start):
		 * the checker builds the lists within a second of it answering; until then a
		 * request gets a server error and the phone asks again. */
		log_ev(LOG_LVL_NOTICE, NULL, "trustlist_deferred",
		       LOG_S("why", "signer not answering yet"));
	} else if (rc < 0) {
		snprintf(err, errlen, "trust list: %s", strerror(-rc));
		prov_free(p);
		return rc;
	}
	if (pthread_create(&p->thread, NULL, checker, p) != 0) {
		snprintf(err, errlen, "trust list: cannot start its checker thread");
		prov_free(p);
		return -EAGAIN;
	}
	p->thread_started = 1;
	*fp = (struct files_provider){
	    .name = "trustlist", .lookup = lookup, .free = prov_free, .arg = p};
	return 0;
}
