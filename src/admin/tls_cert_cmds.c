/* SPDX-License-Identifier: ISC */
#include "admin/tls_cert_cmds.h"

#include "core/log.h"
#include "core/util.h"
#include "tls/apply.h"
#include "tls/level.h"
#include "tls/policy.h"
#include "tls/servercert.h"
#include "tls/tlsctx.h"

#include <errno.h>
#include <openssl/crypto.h>
#include <openssl/ssl.h>
#include <stdio.h>
#include <string.h>
#include <sysexits.h>
#include <unistd.h>

/* A live TLS listener named by an interface level, or the list of them. */
struct find {
	const char *level; /* "interface=KIND@ADDRESS:PORT" or NULL for every listener */
	char kind[32], address[64];
	int port, found;
	struct tg_sbuf known; /* "interface=..., interface=..." */
	json_t *rows;         /* for get: a table, or NULL */
};

static void get_row(json_t *t, const char *level, const struct tlsctx_info *i)
{
	struct tls_cert_summary s;
	if (!i->leaf)
		return;
	tls_cert_summary(i->leaf, &s);
	const char *row[] = {level + strlen("interface="),
	                     i->override ? "interface override" : "node certificate",
	                     s.subject,
	                     s.issuer,
	                     s.sans,
	                     s.not_after,
	                     s.sha256};
	ctl_table_add_row(t, row, 7);
}

static void find_one(void *arg, const struct tlsctx_info *i)
{
	struct find *f = arg;
	struct tls_listener_id id = {i->kind, i->address, i->port};
	char levels[TLS_LEVELS][TLS_LEVEL_MAX];
	if (!i->kind[0] || tls_levels_of(&id, levels) != 0)
		return;
	if (!f->level || strcmp(f->level, levels[0]) == 0) {
		/* One listener may have several contexts: count it once. */
		if (f->found++ && f->level)
			return;
		tg_strlcpy(f->kind, i->kind, sizeof f->kind);
		tg_strlcpy(f->address, i->address, sizeof f->address);
		f->port = i->port;
		if (f->rows)
			get_row(f->rows, levels[0], i);
	}
	if (f->known.len)
		tg_sbuf_put(&f->known, ", ");
	tg_sbuf_put(&f->known, levels[0] + strlen("interface="));
}

/* Finds the listener argv names. NULL, or the error answer. */
static json_t *listener(const char *arg, char level[TLS_LEVEL_MAX], struct find *f, char *known,
                        size_t known_cap)
{
	struct tls_level l;
	char why[256] = "";
	memset(f, 0, sizeof *f);
	f->known = (struct tg_sbuf){known, known_cap, 0, 0};
	known[0] = '\0';
	int bad = tls_level_parse(arg, &l, why, sizeof why) != 0;
	if (bad || l.type != TLS_LEVEL_INTERFACE) {
		json_t *e = ctl_error("%s", bad ? why : "give interface=KIND@ADDRESS:PORT");
		json_object_set_new(e, "exit", json_integer(EX_USAGE));
		return e;
	}
	tls_level_format(&l, level, TLS_LEVEL_MAX);
	f->level = level;
	tlsctx_foreach(find_one, f);
	if (!f->found)
		return ctl_error("no TLS listener %s; the TLS listeners are: %s",
		                 level + strlen("interface="), known[0] ? known : "(none)");
	return NULL;
}

/* The listener's TLS policy must leave a suite the key can sign for (tls_key_fits),
 * or every handshake of a protocol would end in "no shared cipher". */
static int key_fits_policy(const struct find *f, EVP_PKEY *key, char *err, size_t errlen)
{
	struct tls_listener_id id = {f->kind, f->address, f->port};
	struct tls_effective e;
	char why[300] = "";
	SSL_CTX *ctx = SSL_CTX_new(TLS_server_method());
	int rc = -1;
	if (ctx && tls_policy_effective(&id, &e) == 0 && tls_apply(ctx, &e, why, sizeof why) == 0 &&
	    tls_key_fits(ctx, key, why, sizeof why) == 0)
		rc = 0;
	else
		snprintf(err, errlen, "the TLS policy of %s@%s:%d (telgate tls show): %s", f->kind,
		         f->address, f->port, why[0] ? why : "out of memory");
	SSL_CTX_free(ctx);
	return rc;
}

/* The request data: {"key": "...", "cert": "...", "chain": "..."} (tools/cli.c). */
static json_t *update_files(const struct ctl_request *r, json_t **files)
{
	json_error_t je;
	*files = r->data ? json_loadb(r->data, r->data_len, 0, &je) : NULL;
	if (!*files || !json_is_string(json_object_get(*files, "key")) ||
	    !json_is_string(json_object_get(*files, "cert"))) {
		json_decref(*files);
		*files = NULL;
		return ctl_error("tls cert update needs the files' contents (the CLI sends them)");
	}
	return NULL;
}

/* Wipes the key text in the request before it is freed. */
static void wipe(const struct ctl_request *r, json_t *files)
{
	json_t *k = json_object_get(files, "key");
	if (k)
		OPENSSL_cleanse((void *)(uintptr_t)json_string_value(k), json_string_length(k));
	if (r->data)
		OPENSSL_cleanse((void *)(uintptr_t)r->data, r->data_len);
	json_decref(files);
}

json_t *cmd_tls_cert_update(struct admin_ctx *a, const struct ctl_request *r, const char *cid)
{
	char level[TLS_LEVEL_MAX], known[1024], dir[600], err[600];
	struct find f;
	json_t *files, *resp = listener(r->argv[3], level, &f, known, sizeof known);
	if (resp) {
		wipe(r, NULL);
		return resp;
	}
	if ((resp = update_files(r, &files))) {
		wipe(r, NULL);
		return resp;
	}
	json_t *k = json_object_get(files, "key"), *c = json_object_get(files, "cert"),
	       *ch = json_object_get(files, "chain");
	struct tls_servercert sc;
	const char *iface = level + strlen("interface=");
	if (tls_servercert_check(json_string_value(k), json_string_length(k), json_string_value(c),
	                         json_string_length(c),
	                         json_is_string(ch) ? json_string_value(ch) : NULL,
	                         json_is_string(ch) ? json_string_length(ch) : 0, a->pki.ca_cert,
	                         tg_now_s(), &sc, err, sizeof err) != 0) {
		wipe(r, files);
		log_ev(LOG_LVL_WARNING, cid, "tls_cert_refused", LOG_S("interface", iface),
		       LOG_S("error", err));
		return ctl_error("refused, nothing changed: %s", err);
	}
	wipe(r, files);
	if (key_fits_policy(&f, sc.key, err, sizeof err) != 0) {
		tls_servercert_free(&sc);
		return ctl_error("refused, nothing changed: %s", err);
	}
	if (tlsctx_override_dir(f.kind, f.address, f.port, dir, sizeof dir) != 0) {
		tls_servercert_free(&sc);
		return ctl_error("no interface certificate directory (pki.dir)");
	}
	struct tls_cert_summary sum;
	tls_cert_summary(sc.chain.v[0], &sum);
	int rc = tls_servercert_write(&sc, dir, err, sizeof err);
	tls_servercert_free(&sc);
	if (rc != 0)
		return ctl_error("%s", err);
	if (tlsctx_reload_listener(f.kind, f.address, f.port, err, sizeof err) == -1)
		return ctl_error("written to %s but not loaded: %s", dir, err);
	tlsctx_expiry_check_all(tg_now_s()); /* a certificate about to expire says so now */
	log_ev(LOG_LVL_NOTICE, cid, "tls_cert_updated", LOG_S("interface", iface),
	       LOG_S("subject", sum.subject), LOG_S("not_after", sum.not_after),
	       LOG_S("sha256", sum.sha256));
	return ctl_message("%s now serves %s (SHA-256 %s, expires %s) to new connections", iface,
	                   sum.subject, sum.sha256, sum.not_after);
}

json_t *cmd_tls_cert_delete(struct admin_ctx *a, const struct ctl_request *r, const char *cid)
{
	(void)a;
	char level[TLS_LEVEL_MAX], known[1024], dir[600], path[700], err[600];
	struct find f;
	json_t *resp = listener(r->argv[3], level, &f, known, sizeof known);
	if (resp)
		return resp;
	const char *iface = level + strlen("interface=");
	if (tlsctx_override_dir(f.kind, f.address, f.port, dir, sizeof dir) != 0)
		return ctl_error("no interface certificate directory (pki.dir)");
	/* The certificate goes first: without it the key alone is not an override. */
	const char *names[] = {TLSCTX_OVERRIDE_CERT, TLSCTX_OVERRIDE_KEY};
	int removed = 0;
	for (int i = 0; i < 2; i++) {
		snprintf(path, sizeof path, "%s/%s", dir, names[i]);
		if (unlink(path) == 0)
			removed++;
		else if (errno != ENOENT)
			return ctl_error("cannot remove %s: %s", path, strerror(errno));
	}
	rmdir(dir);
	if (!removed)
		return ctl_message("%s has no certificate of its own: it uses the node certificate",
		                   iface);
	if (tlsctx_reload_listener(f.kind, f.address, f.port, err, sizeof err) == -1)
		return ctl_error("override removed but the node certificate did not load: %s", err);
	log_ev(LOG_LVL_NOTICE, cid, "tls_cert_deleted", LOG_S("interface", iface));
	return ctl_message("%s uses the node certificate again for new connections", iface);
}

json_t *cmd_tls_cert_get(struct admin_ctx *a, const struct ctl_request *r, const char *cid)
{
	(void)a;
	(void)cid;
	static const char *const cols[] = {"interface", "source",    "subject", "issuer",
	                                   "sans",      "not after", "sha256"};
	char level[TLS_LEVEL_MAX], known[1024];
	struct find f;
	json_t *t = ctl_table(cols, 7);
	if (r->argc == 4) {
		json_t *err = listener(r->argv[3], level, &f, known, sizeof known);
		if (err) {
			json_decref(t);
			return err;
		}
	} else {
		memset(&f, 0, sizeof f);
		f.known = (struct tg_sbuf){known, sizeof known, 0, 0};
	}
	f.rows = t;
	f.found = 0;
	tlsctx_foreach(find_one, &f);
	return t;
}
