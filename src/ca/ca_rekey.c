/* SPDX-License-Identifier: ISC */
#include "ca/ca_rekey.h"
#include "ca/ca_cluster_int.h"

#include <openssl/crypto.h>
#include <openssl/err.h>
#include <stdlib.h>
#include <string.h>

/* Every key opened with s->kek and, with next, sealed under it into the store. */
static int rekey_all(struct ca_sync *s, const struct ca_kek *next, FILE *out)
{
	struct ca_key_names *t = ca_sync_list_names(s, "");
	if (!t)
		return -1;
	int rc = next && store_begin(s->st) != STORE_OK ? -1 : 0, failed = 0;
	if (rc != 0)
		snprintf(s->err, s->errlen, "cannot begin: %s", store_last_error());
	for (size_t i = 0; rc == 0 && i < t->n; i++) {
		char why[200], *sealed = NULL;
		EVP_PKEY *k = ca_sync_get_row(s, t->names[i]) == 1
		                  ? ca_kek_open(&s->kek, s->row->privatekey, why, sizeof why)
		                  : NULL;
		if (!k) {
			fprintf(out, "%s: %s\n", t->names[i], why);
			failed++;
			continue;
		}
		if (next && (ca_kek_seal(next, k, &sealed, s->err, s->errlen) != 0 ||
		             store_clusterkey_replace(s->st, t->names[i], sealed) != STORE_OK)) {
			if (sealed)
				snprintf(s->err, s->errlen, "cannot store the %s key: %s",
				         t->names[i], store_last_error());
			rc = -1;
		}
		free(sealed);
		EVP_PKEY_free(k);
		if (rc == 0)
			fprintf(out, "%s: %s\n", t->names[i], next ? "re-encrypted" : "ok");
	}
	if (rc == 0 && failed)
		snprintf(s->err, s->errlen, "%d of %zu keys do not open with pki.kek_file%s",
		         failed, t->n, next ? ": nothing changed" : "");
	if (rc == 0 && !failed && t->n == 0)
		snprintf(s->err, s->errlen,
		         "the store holds no cluster keys (no node started yet)");
	if (rc == 0 && (failed || t->n == 0))
		rc = -1;
	if (next && rc == 0 && store_commit(s->st) != STORE_OK) {
		snprintf(s->err, s->errlen, "cannot commit: %s", store_last_error());
		rc = -1;
	} else if (next && rc != 0) {
		store_rollback(s->st);
	}
	free(t);
	OPENSSL_cleanse(s->row, sizeof *s->row);
	ERR_clear_error();
	return rc;
}

int ca_cluster_rekey(const struct ca_cluster_options *o, const char *new_kek_file, FILE *out,
                     char *err, size_t errlen)
{
	struct ca_sync s = {.o = o, .err = err, .errlen = errlen};
	struct ca_kek next;
	memset(&next, 0, sizeof next);
	if (ca_kek_read(o->kek_file, &s.kek, err, errlen) != 0)
		return -1;
	int rc = -1;
	if (new_kek_file && ca_kek_read(new_kek_file, &next, err, errlen) != 0)
		goto out;
	if (new_kek_file && next.len == s.kek.len &&
	    CRYPTO_memcmp(next.k, s.kek.k, next.len) == 0) {
		snprintf(err, errlen, "%s holds the KEK in use", new_kek_file);
		goto out;
	}
	s.row = malloc(sizeof *s.row);
	if (!s.row)
		snprintf(err, errlen, "out of memory");
	else if (store_open(o->store, &s.st, err, errlen) == STORE_OK)
		rc = rekey_all(&s, new_kek_file ? &next : NULL, out);
	store_close(s.st);
	free(s.row);
out:
	ca_kek_wipe(&next);
	ca_kek_wipe(&s.kek);
	return rc;
}
