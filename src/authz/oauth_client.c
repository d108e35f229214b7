/* SPDX-License-Identifier: ISC */
/* Client authentication (oauth_int.h): Basic, post, mutual TLS, or a public client. */
#include "authz/oauth_int.h"

#include <sodium.h>
#include <stdio.h>
#include <string.h>

int oauth_list_has(const char *list, const char *word)
{
	size_t n = strlen(word);
	if (!n)
		return 0;
	for (const char *p = list; *p;) {
		while (*p == ' ')
			p++;
		const char *e = strchr(p, ' ');
		size_t len = e ? (size_t)(e - p) : strlen(p);
		if (len == n && memcmp(p, word, n) == 0)
			return 1;
		p += len;
	}
	return 0;
}

int oauth_scope_grant(const struct store_oauthclient *c, const char *requested, char *out,
                      size_t cap)
{
	if (!requested || !requested[0]) {
		snprintf(out, cap, "%s", c->scopes);
		return 0;
	}
	char word[STORE_OAUTH_SCOPE_MAX + 1];
	if (strlen(requested) >= cap)
		return -1;
	for (const char *p = requested; *p;) {
		const char *e = strchr(p, ' ');
		size_t len = e ? (size_t)(e - p) : strlen(p);
		/* RFC 6749 §3.3: scope-token = 1*( %x21 / %x23-5B / %x5D-7E ), one space apart. */
		if (len == 0 || len >= sizeof word)
			return -1;
		for (size_t i = 0; i < len; i++)
			if (p[i] < 0x21 || p[i] > 0x7e || p[i] == '"' || p[i] == '\\')
				return -1;
		memcpy(word, p, len);
		word[len] = '\0';
		if (!oauth_list_has(c->scopes, word))
			return -1;
		p += len + (e != NULL);
	}
	snprintf(out, cap, "%s", requested);
	return 0;
}

static enum oauth_err bad_client(struct oauth_job *j, const char *why)
{
	log_ev(LOG_LVL_NOTICE, j->cid, "oauth_client_auth_failed",
	       LOG_S("client_id", j->basic ? j->basic_id : http_form_get(&j->form, "client_id")),
	       LOG_S("reason", why), LOG_S("source", j->source));
	j->www_basic = j->basic;
	oauth_fail(j, OAUTH_ERR_INVALID_CLIENT, "client authentication failed");
	return OAUTH_ERR_INVALID_CLIENT;
}

enum oauth_err oauth_client_authenticate(struct oauth_job *j, struct store_oauthclient *c,
                                         int *authenticated)
{
	*authenticated = 0;
	const char *fid = http_form_get(&j->form, "client_id");
	const char *fsec = http_form_get(&j->form, "client_secret");
	if (j->basic && fsec) {
		oauth_fail(j, OAUTH_ERR_INVALID_REQUEST,
		           "more than one client authentication method");
		return OAUTH_ERR_INVALID_REQUEST;
	}
	if (j->basic && fid && strcmp(fid, j->basic_id) != 0) {
		oauth_fail(j, OAUTH_ERR_INVALID_REQUEST,
		           "client_id is not the authenticated client");
		return OAUTH_ERR_INVALID_REQUEST;
	}
	const char *id = j->basic ? j->basic_id : fid;
	if (!id || !id[0])
		return bad_client(j, "no client_id");
	/* The row as read at the current store generation, or from the store. */
	int rc = STORE_NOTFOUND;
	if (strlen(id) > STORE_ID_MAX) {
		/* no such client */
	} else if (oauth_cache_client_get(j->o, id, c)) {
		rc = STORE_OK;
	} else {
		uint64_t gen = store_generation(j->o->o.store); /* before the read: oauth_cache.c */
		rc = store_oauthclient_get(j->o->o.store, id, c);
		if (rc == STORE_OK)
			oauth_cache_client_put(j->o, gen, c);
	}
	const char *secret = j->basic ? j->basic_secret : fsec;
	size_t slen = j->basic ? j->basic_len : fsec ? strlen(fsec) : 0;
	if (rc == STORE_NOTFOUND) {
		/* The same work as for a known client. */
		char hex[OAUTH_HASH_HEX + 1];
		if (secret)
			oauth_secret_hash(j->o->key, id, secret, slen, hex);
		return bad_client(j, "unknown client");
	}
	if (rc != STORE_OK) {
		oauth_fail(j, OAUTH_ERR_TEMPORARILY_UNAVAILABLE, "the store is not available");
		return OAUTH_ERR_TEMPORARILY_UNAVAILABLE;
	}
	if (secret) {
		if (!c->secrethash[0] ||
		    !oauth_secret_verify(j->o->key, c->clientid, secret, slen, c->secrethash))
			return bad_client(j, "wrong client secret");
		*authenticated = 1;
	} else if (j->cert_cn[0] && c->tlssubject[0]) {
		/* RFC 8705 §2.1.1 tls_client_auth: the certificate verified against telgate's
		 * CA (the listener's client CA) and its subject is the one registered. */
		if (strcmp(j->cert_cn, c->tlssubject) != 0)
			return bad_client(j, "the certificate's subject is not the client's");
		/* The chain verified, but only the issued-certificates table says whether the
		 * certificate still stands (`telgate cert revoke`), as for a CTI login. */
		struct store_issuedcert row;
		int crc = j->cert_serial[0]
		              ? store_issuedcert_get(j->o->o.store, j->cert_serial, &row)
		              : STORE_NOTFOUND;
		if (crc != STORE_OK && crc != STORE_NOTFOUND) {
			oauth_fail(j, OAUTH_ERR_TEMPORARILY_UNAVAILABLE,
			           "the store is not available");
			return OAUTH_ERR_TEMPORARILY_UNAVAILABLE;
		}
		if (crc == STORE_NOTFOUND || strcmp(row.sha256, j->cert_sha256) != 0)
			return bad_client(j, "the certificate is not one telgate's CA issued");
		if (row.status != STORE_CERT_VALID)
			return bad_client(j, "the client certificate is revoked");
		if (row.notafter < j->now)
			return bad_client(j, "the client certificate has expired");
		*authenticated = 1;
	} else if (c->confidential) {
		return bad_client(j, "a confidential client must authenticate");
	}
	return OAUTH_ERR_NONE;
}
