/* SPDX-License-Identifier: ISC */
#include "sip/edge.h"
#include "core/log.h"
#include "tls/tlsctx.h"
#include "core/util.h"
#include "tls/trust.h"

#include <ctype.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>

struct sip_edges {
	pthread_rwlock_t lk;
	char (*ids)[SIP_EDGE_ID_MAX + 1];
	int n;
	char levels[TLS_LEVELS][TLS_LEVEL_MAX]; /* the listener's, once set */
	int leveled;
};

struct sip_edges *sip_edges_new(void)
{
	struct sip_edges *e = calloc(1, sizeof *e);
	if (e)
		pthread_rwlock_init(&e->lk, NULL);
	return e;
}

void sip_edges_free(struct sip_edges *e)
{
	if (!e)
		return;
	pthread_rwlock_destroy(&e->lk);
	free(e->ids);
	free(e);
}

struct load {
	char (*ids)[SIP_EDGE_ID_MAX + 1];
	int n, cap, bad;
};

static int add_one(void *ud, const struct store_edge *se)
{
	struct load *l = ud;
	if (l->n == l->cap) {
		int nc = l->cap ? l->cap * 2 : 8;
		void *p = realloc(l->ids, (size_t)nc * sizeof *l->ids);
		if (!p) {
			l->bad = 1;
			return 1;
		}
		l->ids = p;
		l->cap = nc;
	}
	if (tg_strlcpy(l->ids[l->n], se->identity, sizeof l->ids[0]) == 0)
		l->n++;
	return 0;
}

int sip_edges_load(struct sip_edges *e, store_t *st)
{
	struct load l = {0};
	if (store_edges(st, add_one, &l) != STORE_OK || l.bad) {
		free(l.ids);
		return -1;
	}
	pthread_rwlock_wrlock(&e->lk);
	free(e->ids);
	e->ids = l.ids;
	e->n = l.n;
	pthread_rwlock_unlock(&e->lk);
	return l.n;
}

void sip_edges_set_listener(struct sip_edges *e, const struct tls_listener_id *id)
{
	pthread_rwlock_wrlock(&e->lk);
	e->leveled = tls_levels_of(id, e->levels) == 0;
	pthread_rwlock_unlock(&e->lk);
}

int sip_edges_allowed(struct sip_edges *e, const char *identity)
{
	int ok = 0;
	pthread_rwlock_rdlock(&e->lk);
	for (int i = 0; i < e->n && !ok; i++)
		ok = strcasecmp(e->ids[i], identity) == 0;
	if (!ok && e->leveled)
		ok = tls_trust_allows(e->levels, identity);
	pthread_rwlock_unlock(&e->lk);
	return ok;
}

/* Copies an ASN.1 string that is a plain host-like name (no NUL, no control characters,
 * not too long) in lower case; -1 otherwise. */
static int name_of(const unsigned char *p, int len, char *out, size_t cap)
{
	if (len <= 0 || (size_t)len >= cap || len > SIP_EDGE_ID_MAX)
		return -1;
	for (int i = 0; i < len; i++) {
		if (p[i] < 0x21 || p[i] == 0x7f)
			return -1;
		out[i] = (char)tolower(p[i]);
	}
	out[len] = '\0';
	return 0;
}

static void note_seen(char *seen, size_t cap, const char *name)
{
	if (!seen || !cap)
		return;
	size_t used = strlen(seen);
	if (used + strlen(name) + 2 < cap)
		snprintf(seen + used, cap - used, "%s%s", used ? "," : "", name);
}

int sip_edge_cert_identity(struct sip_edges *e, X509 *cert, char *out, size_t cap, char *seen,
                           size_t seencap)
{
	char name[SIP_EDGE_ID_MAX + 1];
	if (seen && seencap)
		seen[0] = '\0';
	int found = 0;
	X509_NAME *subj = X509_get_subject_name(cert);
	for (int i = -1; subj && (i = X509_NAME_get_index_by_NID(subj, NID_commonName, i)) >= 0;) {
		ASN1_STRING *d = X509_NAME_ENTRY_get_data(X509_NAME_get_entry(subj, i));
		unsigned char *u = NULL;
		int len = ASN1_STRING_to_UTF8(&u, d);
		int ok = len > 0 && name_of(u, len, name, sizeof name) == 0;
		OPENSSL_free(u);
		if (!ok)
			continue;
		note_seen(seen, seencap, name);
		if (!found && sip_edges_allowed(e, name)) {
			found = tg_strlcpy(out, name, cap) == 0;
		}
	}
	GENERAL_NAMES *sans = X509_get_ext_d2i(cert, NID_subject_alt_name, NULL, NULL);
	for (int i = 0; sans && i < sk_GENERAL_NAME_num(sans); i++) {
		const GENERAL_NAME *g = sk_GENERAL_NAME_value(sans, i);
		if (g->type != GEN_DNS)
			continue;
		const ASN1_IA5STRING *s = g->d.dNSName;
		if (name_of(ASN1_STRING_get0_data(s), ASN1_STRING_length(s), name, sizeof name) !=
		    0)
			continue;
		note_seen(seen, seencap, name);
		if (!found && sip_edges_allowed(e, name))
			found = tg_strlcpy(out, name, cap) == 0;
	}
	GENERAL_NAMES_free(sans);
	return found;
}

static void peer_of(X509_STORE_CTX *x, char *out, size_t cap)
{
	tg_strlcpy(out, "?", cap);
	SSL *ssl = X509_STORE_CTX_get_ex_data(x, SSL_get_ex_data_X509_STORE_CTX_idx());
	int fd = ssl ? SSL_get_fd(ssl) : -1;
	struct sockaddr_storage ss;
	socklen_t sl = sizeof ss;
	if (fd >= 0 && getpeername(fd, (struct sockaddr *)&ss, &sl) == 0)
		tg_sockaddr_str((struct sockaddr *)&ss, out, cap);
}

int sip_edge_verify(int preverify_ok, X509_STORE_CTX *x)
{
	struct sip_edges *e = tlsctx_app_of(x);
	int depth = X509_STORE_CTX_get_error_depth(x);
	X509 *cert = X509_STORE_CTX_get_current_cert(x);
	char subject[256] = "?", peer[64];
	if (cert)
		X509_NAME_oneline(X509_get_subject_name(cert), subject, sizeof subject);
	if (!preverify_ok) {
		peer_of(x, peer, sizeof peer);
		log_ev(LOG_LVL_WARNING, NULL, "sip_edge_rejected", LOG_S("peer", peer),
		       LOG_S("reason", X509_verify_cert_error_string(X509_STORE_CTX_get_error(x))),
		       LOG_I("depth", depth), LOG_S("subject", subject));
		return 0;
	}
	if (depth > 0)
		return 1;
	char id[SIP_EDGE_ID_MAX + 1], seen[512];
	if (e && cert && sip_edge_cert_identity(e, cert, id, sizeof id, seen, sizeof seen))
		return 1;
	peer_of(x, peer, sizeof peer);
	log_ev(LOG_LVL_WARNING, NULL, "sip_edge_rejected", LOG_S("peer", peer),
	       LOG_S("reason", "no certificate name is in the edge allow-list"),
	       LOG_S("names", e && cert ? seen : ""), LOG_S("subject", subject));
	X509_STORE_CTX_set_error(x, X509_V_ERR_CERT_REJECTED); /* alert bad_certificate */
	return 0;
}
