/* SPDX-License-Identifier: ISC */
#include "provision/files_service.h"

#include "core/config.h"
#include "provision/cnf.h"
#include "provision/files.h"
#include "provision/files_http.h"
#include "provision/tftp.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct files_service {
	struct files_registry *reg;
	struct files_http *http;
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
	tftp_stop(s->tftp);
	files_registry_free(s->reg);
	free(s);
}

struct files_service *files_service_start(const struct tg_config *cfg, store_t *store,
                                          struct loop_group *loops, char *err, size_t errlen)
{
	struct files_service *s = calloc(1, sizeof *s);
	if (!s || !(s->reg = files_registry_new())) {
		free(s);
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	const size_t max_bytes = (size_t)cfg->files.max_file_bytes;
	static const struct cnf_load_options cnf_names = {CNF_ITL_FILE, CNF_CTL_FILE};
	struct files_provider cnf;
	if (cnf_provider(store, &cnf_names, &cnf) != 0 || files_registry_add(s->reg, &cnf) != 0) {
		snprintf(err, errlen, "out of memory");
		files_service_stop(s);
		return NULL;
	}
	if (cfg->files.dir[0]) {
		struct files_provider p;
		int rc = files_static_provider(cfg->files.dir, max_bytes, &p);
		if (rc == 0)
			rc = files_registry_add(s->reg, &p);
		if (rc != 0) {
			snprintf(err, errlen, "[files] dir %s: %s", cfg->files.dir, strerror(-rc));
			files_service_stop(s);
			return NULL;
		}
	}
	if (cfg->files.http_port) {
		s->http = files_http_start(s->reg, loops, cfg->files.address, cfg->files.http_port,
		                           max_bytes, err, errlen);
		if (!s->http) {
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
		};
		s->tftp = tftp_start(&to, loops, s->reg, err, errlen);
		if (!s->tftp) {
			files_service_stop(s);
			return NULL;
		}
	}
	return s;
}
