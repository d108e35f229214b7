/* SPDX-License-Identifier: ISC */
#include "provision/files_service.h"

#include "ca/ca_crl.h"
#include "ca/tl_provider.h"
#include "core/config.h"
#include "tls/tlsctx.h"
#include "provision/cnf.h"
#include "provision/cnf_guard.h"
#include "provision/files.h"
#include "provision/files_http.h"
#include "provision/tftp.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct files_service {
	struct files_registry *reg;
	struct files_http *http, *https;
	struct cnf_guard *guard; /* 6971's check of SIP OAuth devices' cnf.xml */
	struct tlsctx *tls;
	struct tftp_server *tftp;
};

struct files_registry *files_service_registry(struct files_service *s)
{
	return s->reg;
}

struct tftp_server *files_service_tftp(struct files_service *s)
{
	return s ? s->tftp : NULL;
}

void files_service_stop(struct files_service *s)
{
	if (!s)
		return;
	files_http_stop(s->http);
	files_http_stop(s->https);
	cnf_guard_free(s->guard);
	tlsctx_free(s->tls);
	tftp_stop(s->tftp);
	files_registry_free(s->reg);
	free(s);
}

/* Adds a provider; on failure says which and why. */
static int add(struct files_service *s, int rc, struct files_provider *p, const char *what,
               char *err, size_t errlen)
{
	if (rc == 0)
		rc = files_registry_add(s->reg, p);
	if (rc != 0 && !err[0])
		snprintf(err, errlen, "%s: %s", what, strerror(-rc));
	return rc;
}

struct files_service *files_service_start(const struct files_service_options *o, char *err,
                                          size_t errlen)
{
	const struct tg_config *cfg = o->cfg;
	store_t *store = o->store;
	struct signer *signer = o->signer;
	struct loop_group *loops = o->loops;
	struct files_service *s = calloc(1, sizeof *s);
	if (!s || !(s->reg = files_registry_new())) {
		free(s);
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	const size_t max_bytes = (size_t)cfg->files.max_file_bytes;
	static const struct cnf_load_options cnf_names = {CNF_ITL_FILE, CNF_CTL_FILE};
	struct files_provider p;
	err[0] = '\0';
	int rc = add(s, cnf_provider(store, &cnf_names, &p), &p, "cnf.xml", err, errlen);
	if (rc == 0 && signer) {
		/* A cluster's trust list names every node's certificate (issue 21). */
		const struct tl_provider_opts to = {.pki_dir = cfg->pki.dir,
		                                    .node = cfg->core.node_address,
		                                    .signer = signer,
		                                    .store = cfg->pki.kek_file[0] ? store : NULL};
		rc = add(s, tl_provider(&to, &p, err, errlen), &p, "trust list", err, errlen);
	}
	if (rc == 0)
		rc = add(s, ca_crl_files_provider(cfg->pki.dir, &p), &p, "CRL", err, errlen);
	if (rc == 0 && cfg->files.dir[0]) {
		char what[CFG_PATH_MAX + 16];
		snprintf(what, sizeof what, "[files] dir %s", cfg->files.dir);
		rc = add(s, files_static_provider(cfg->files.dir, max_bytes, &p), &p, what, err,
		         errlen);
	}
	/* Last: a vendor-signed X.sgn in the static directory is served as it is. */
	if (rc == 0 && signer)
		rc = add(s, tl_sgn_provider(s->reg, signer, &p), &p, "signed files", err, errlen);
	if (rc != 0) {
		files_service_stop(s);
		return NULL;
	}
	if (cfg->files.http_port) {
		s->http = files_http_start(s->reg, loops, cfg->files.address, cfg->files.http_port,
		                           max_bytes, NULL, NULL, err, errlen);
		if (!s->http) {
			files_service_stop(s);
			return NULL;
		}
	}
	if (cfg->files.https_port) {
		const struct tlsctx_options to = {.name = "files-https",
		                                  .cert = o->tls_cert,
		                                  .key = o->tls_key,
		                                  .kind = "https",
		                                  .address = cfg->files.address,
		                                  .port = cfg->files.https_port};
		s->tls = tlsctx_new(&to, err, errlen);
		/* Only here: 6970 and TFTP carry no secret in a cnf.xml (cnf_guard.h). */
		s->guard = cnf_guard_new(store, o->authz);
		struct files_guard g = {0};
		if (s->guard)
			cnf_guard_files(s->guard, &g);
		else if (!err[0])
			snprintf(err, errlen, "out of memory");
		s->https = s->tls && s->guard ? files_http_start(s->reg, loops, cfg->files.address,
		                                                 cfg->files.https_port, max_bytes,
		                                                 s->tls, &g, err, errlen)
		                              : NULL;
		if (!s->https) {
			files_service_stop(s);
			return NULL;
		}
	}
	if (cfg->files.tftp_port) {
		const struct tftp_options to = {
		    .address = cfg->files.address,
		    .port = cfg->files.tftp_port,
		    .mtu = (unsigned)cfg->files.tftp_mtu,
		    .max_windowsize = (unsigned)cfg->files.tftp_max_windowsize,
		    .timeout_ms = (unsigned)cfg->files.tftp_timeout_ms,
		    .retries = (unsigned)cfg->files.tftp_retries,
		    .deadline_s = (unsigned)cfg->files.tftp_deadline_s,
		    .max_transfers = cfg->files.tftp_max_transfers,
		    .max_per_source = cfg->files.tftp_max_per_source,
		    .loops = cfg->files.tftp_loops,
		};
		s->tftp = tftp_start(&to, loops, s->reg, err, errlen);
		if (!s->tftp) {
			files_service_stop(s);
			return NULL;
		}
	}
	return s;
}
