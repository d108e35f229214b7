/* SPDX-License-Identifier: ISC */
#include "core/config.h"
#include "core/util.h"

#include <errno.h>
#include <ini.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

enum kind {
	K_INT,
	K_BOOL,
	K_STR,
	K_PATH,
	K_LEVEL,
	K_FORMAT,
	K_TARGET,
	K_BACKEND,
	K_URIS,
	K_FILTER
};

struct key {
	const char *section, *name;
	enum kind kind;
	size_t off, size; /* size: capacity for strings */
	long min, max;    /* for K_INT */
	int restart;      /* a change needs a restart */
};

#define F(m) offsetof(struct tg_config, m), sizeof(((struct tg_config *)0)->m)
static const struct key keys[] = {
    {"core", "threads", K_INT, F(core.threads), 0, 256, 1},
    {"core", "workers", K_INT, F(core.workers), 0, 256, 1},
    {"core", "state_dir", K_PATH, F(core.state_dir), 0, 0, 1},
    {"core", "control_socket", K_PATH, F(core.control_socket), 0, 0, 1},
    {"core", "user", K_STR, F(core.user), 0, 0, 1},
    {"core", "drain_timeout", K_INT, F(core.drain_timeout_s), 0, 3600, 0},
    {"core", "node_id", K_STR, F(core.node_id), 0, 0, 1},
    {"core", "node_address", K_STR, F(core.node_address), 0, 0, 1},
    {"core", "heartbeat_s", K_INT, F(core.heartbeat_s), 1, 3600, 1},
    {"log", "level", K_LEVEL, F(log.level), 0, 0, 0},
    {"log", "format", K_FORMAT, F(log.format), 0, 0, 0},
    {"log", "target", K_TARGET, F(log.target), 0, 0, 0},
    {"log", "buffer_ms", K_INT, F(log.buffer_ms), 0, 10000, 1},
    {"store", "backend", K_BACKEND, F(store.backend), 0, 0, 1},
    {"store", "path", K_PATH, F(store.path), 0, 0, 1},
    {"store", "conninfo", K_STR, F(store.conninfo), 0, 0, 1},
    {"store", "conninfo_file", K_PATH, F(store.conninfo_file), 0, 0, 1},
    {"store", "busy_timeout_ms", K_INT, F(store.busy_timeout_ms), 0, 600000, 1},
    {"password", "argon2_t", K_INT, F(password.argon2_t), 1, 16, 0},
    {"password", "argon2_m_kib", K_INT, F(password.argon2_m_kib), 8, 4 * 1024 * 1024, 0},
    {"dir", "workers", K_INT, F(dir.workers), 0, 256, 1},
    {"dir", "failure_delay_ms", K_INT, F(dir.failure_delay_ms), 0, 10000, 1},
    {"ldap", "servers", K_URIS, F(ldap.servers), 0, 0, 1},
    {"ldap", "base", K_STR, F(ldap.base), 0, 0, 1},
    {"ldap", "filter", K_FILTER, F(ldap.filter), 0, 0, 1},
    {"ldap", "bind_dn", K_STR, F(ldap.bind_dn), 0, 0, 1},
    {"ldap", "bind_password_file", K_PATH, F(ldap.bind_password_file), 0, 0, 1},
    {"ldap", "ca_file", K_PATH, F(ldap.ca_file), 0, 0, 1},
    {"ldap", "starttls", K_BOOL, F(ldap.starttls), 0, 1, 1},
    {"ldap", "timeout_ms", K_INT, F(ldap.timeout_ms), 100, 120000, 1},
    {"ldap", "connect_timeout_ms", K_INT, F(ldap.connect_timeout_ms), 100, 60000, 1},
    {"ldap", "retry_s", K_INT, F(ldap.retry_s), 1, 3600, 1},
    {"ldap", "pool_size", K_INT, F(ldap.pool_size), 1, 64, 1},
    {"cti", "address", K_STR, F(cti.address), 0, 0, 1},
    {"cti", "port", K_INT, F(cti.port), 0, 65535, 1},
    {"cti", "tls_port", K_INT, F(cti.tls_port), 0, 65535, 1},
    {"cti", "allow_plain_login", K_BOOL, F(cti.allow_plain_login), 0, 1, 1},
    {"cti", "session_duration", K_INT, F(cti.session_duration), 10, 3600, 1},
    {"cti", "max_session_duration", K_INT, F(cti.max_session_duration), 10, 86400, 1},
    {"cti", "max_monitors", K_INT, F(cti.max_monitors), 1, 100000, 1},
    {"cti", "max_connections", K_INT, F(cti.max_connections), 1, 1000000, 1},
    {"cti", "login_timeout_s", K_INT, F(cti.login_timeout_s), 1, 600, 1},
    {"sip", "realm", K_STR, F(sip.realm), 0, 0, 1},
    {"sip", "address", K_STR, F(sip.address), 0, 0, 1},
    {"sip", "port", K_INT, F(sip.port), 0, 65535, 1},
    {"sip", "tls_port", K_INT, F(sip.tls_port), 0, 65535, 1},
    {"sip", "min_expires", K_INT, F(sip.min_expires), 1, 86400, 1},
    {"sip", "max_expires", K_INT, F(sip.max_expires), 1, 604800, 1},
    {"sip", "default_expires", K_INT, F(sip.default_expires), 1, 604800, 1},
    {"sip", "nonce_lifetime_s", K_INT, F(sip.nonce_lifetime_s), 5, 3600, 1},
    {"sip", "challenge_sha256", K_BOOL, F(sip.challenge_sha256), 0, 1, 1},
    {"sip", "challenge_md5", K_BOOL, F(sip.challenge_md5), 0, 1, 1},
    {"sip", "oauth_challenge_www", K_BOOL, F(sip.oauth_challenge_www), 0, 1, 1},
    {"sip", "source_failures_max", K_INT, F(sip.source_failures_max), 0, 100000, 1},
    {"sip", "failure_delay_ms", K_INT, F(sip.failure_delay_ms), 0, 1000, 1},
    {"sip", "commit_interval_ms", K_INT, F(sip.commit_interval_ms), 0, 1000, 1},
    {"sip", "commit_timeout_ms", K_INT, F(sip.commit_timeout_ms), 10, 60000, 1},
    {"sip", "spool_max_mib", K_INT, F(sip.spool_max_mib), 0, 65536, 1},
    {"sip", "edge_port", K_INT, F(sip.edge_port), 0, 65535, 1},
    {"sip", "edge_ca_file", K_PATH, F(sip.edge_ca_file), 0, 0, 1},
    {"sip", "max_connections", K_INT, F(sip.max_connections), 1, 1000000, 1},
    {"sip", "max_connections_per_source", K_INT, F(sip.max_connections_per_source), 1, 1000000, 1},
    {"sip", "first_message_timeout_s", K_INT, F(sip.first_message_timeout_s), 1, 600, 1},
    {"sip", "idle_timeout_s", K_INT, F(sip.idle_timeout_s), 10, 86400, 1},
    {"sip", "force_rport", K_BOOL, F(sip.force_rport), 0, 1, 1},
    {"sip", "oauth_port", K_INT, F(sip.oauth_port), 0, 65535, 1},
    {"files", "address", K_STR, F(files.address), 0, 0, 1},
    {"files", "http_port", K_INT, F(files.http_port), 0, 65535, 1},
    {"files", "https_port", K_INT, F(files.https_port), 0, 65535, 1},
    {"files", "tftp_port", K_INT, F(files.tftp_port), 0, 65535, 1},
    {"files", "dir", K_PATH, F(files.dir), 0, 0, 1},
    {"files", "max_file_bytes", K_INT, F(files.max_file_bytes), 1024, 1024 * 1024 * 1024, 1},
    {"files", "tftp_mtu", K_INT, F(files.tftp_mtu), 576, 65535, 1},
    {"files", "tftp_max_windowsize", K_INT, F(files.tftp_max_windowsize), 1, 65535, 1},
    {"files", "tftp_timeout_ms", K_INT, F(files.tftp_timeout_ms), 50, 255000, 1},
    {"files", "tftp_retries", K_INT, F(files.tftp_retries), 0, 100, 1},
    {"files", "tftp_deadline_s", K_INT, F(files.tftp_deadline_s), 1, 86400, 1},
    {"files", "tftp_max_transfers", K_INT, F(files.tftp_max_transfers), 1, 1000000, 1},
    {"files", "tftp_max_per_source", K_INT, F(files.tftp_max_per_source), 1, 1000000, 1},
    {"files", "tftp_loops", K_INT, F(files.tftp_loops), 0, 1024, 1},
    {"admin", "http_address", K_STR, F(admin.http_address), 0, 0, 1},
    {"admin", "http_port", K_INT, F(admin.http_port), 0, 65535, 1},
    {"pki", "dir", K_PATH, F(pki.dir), 0, 0, 1},
    {"pki", "server_days", K_INT, F(pki.server_days), 31, 3650, 0},
    {"pki", "server_names", K_STR, F(pki.server_names), 0, 0, 0},
    {"pki", "capf_min_length", K_INT, F(pki.capf_min_length), 4, 128, 1},
    {"pki", "capf_source_failures_max", K_INT, F(pki.capf_source_failures_max), 0, 100000, 1},
    {"pki", "client_days", K_INT, F(pki.client_days), 1, 3650, 0},
    {"pki", "crl_days", K_INT, F(pki.crl_days), 1, 365, 0},
    {"pki", "signer_queue", K_INT, F(pki.signer_queue), 1, 1000000, 1},
    {"pki", "signer_nice", K_INT, F(pki.signer_nice), 0, 19, 1},
    {"pki", "kek_file", K_PATH, F(pki.kek_file), 0, 0, 1},
    {"est", "address", K_STR, F(est.address), 0, 0, 1},
    {"est", "port", K_INT, F(est.port), 0, 65535, 1},
    {"est", "max_connections", K_INT, F(est.max_connections), 1, 1000000, 1},
    {"est", "queue", K_INT, F(est.queue), 1, 100000, 1},
    {"est", "rate", K_INT, F(est.rate), 0, 100000, 1},
    {"est", "reenroll_grace_s", K_INT, F(est.reenroll_grace_s), 0, 30 * 86400, 1},
    {"oauth", "issuer", K_STR, F(oauth.issuer), 0, 0, 1},
    {"oauth", "access_token_expiry_s", K_INT, F(oauth.access_token_expiry_s), 60, 86400, 1},
    {"oauth", "refresh_token_expiry_s", K_INT, F(oauth.refresh_token_expiry_s), 3600, 90 * 86400,
     1},
    {"oauth", "leeway_s", K_INT, F(oauth.leeway_s), 0, 600, 1},
    {"oauth", "alg", K_STR, F(oauth.alg), 0, 0, 1},
    {"oauth", "key_grace_s", K_INT, F(oauth.key_grace_s), 0, 30 * 86400, 1},
    {"oauth", "cache_entries", K_INT, F(oauth.cache_entries), 0, 10000000, 1},
    {"est", "threads", K_INT, F(est.threads), 0, 64, 1},
    {"est", "nice", K_INT, F(est.nice), 0, 19, 1},
    {"oauth", "refresh_grace_s", K_INT, F(oauth.refresh_grace_s), 0, 3600, 1},
    {"cti_interface", "heartbeat_s", K_INT, F(xsi.heartbeat_s), 1, 3600, 1},
    {"cti_interface", "client_timeout_s", K_INT, F(xsi.client_timeout_s), 0, 86400, 1},
    {"cti_interface", "redeliver_s", K_INT, F(xsi.redeliver_s), 1, 3600, 1},
    {"cti_interface", "queue_max", K_INT, F(xsi.queue_max), 1, 1000000, 1},
    {"cti_interface", "channels_max", K_INT, F(xsi.channels_max), 1, 1000000, 1},
    {"cti_interface", "subscriptions_max", K_INT, F(xsi.subscriptions_max), 1, 10000000, 1},
    {"cti_interface", "expires_default_s", K_INT, F(xsi.expires_default_s), 1, 7 * 86400, 1},
    {"cti_interface", "sweep_s", K_INT, F(xsi.sweep_s), 1, 3600, 1},
    {"cti_interface", "write_limit", K_INT, F(xsi.write_limit), 4096, 64 * 1024 * 1024, 1},
};
#undef F
#define NKEYS (sizeof keys / sizeof keys[0])

/* dir + "/" + leaf into out; -1 when it does not fit. */
static int join(char *out, size_t cap, const char *dir, const char *leaf)
{
	size_t a = strlen(dir), b = strlen(leaf);
	if (a + 1 + b >= cap)
		return -1;
	memcpy(out, dir, a);
	out[a] = '/';
	memcpy(out + a + 1, leaf, b + 1);
	return 0;
}

/* Paths left empty follow the state directory. Returns -1 if one would be too long. */
static int derive(struct tg_config *c)
{
	int rc = 0;
	if (!c->core.control_socket[0])
		rc |= join(c->core.control_socket, sizeof c->core.control_socket, c->core.state_dir,
		           "telgated.sock");
	if (!c->store.path[0])
		rc |= join(c->store.path, sizeof c->store.path, c->core.state_dir, "telgate.db");
	if (!c->pki.dir[0])
		rc |= join(c->pki.dir, sizeof c->pki.dir, c->core.state_dir, "pki");
	if (!c->sip.edge_ca_file[0])
		rc |= join(c->sip.edge_ca_file, sizeof c->sip.edge_ca_file, c->pki.dir, "ca.crt");
	if (!c->core.node_id[0] && gethostname(c->core.node_id, sizeof c->core.node_id) != 0)
		tg_strlcpy(c->core.node_id, "telgate", sizeof c->core.node_id);
	c->core.node_id[sizeof c->core.node_id - 1] = '\0';
	if (!c->core.node_address[0])
		tg_strlcpy(c->core.node_address, c->core.node_id, sizeof c->core.node_address);
	/* The token service answers on the HTTPS port EST uses (docs/oauth.md). */
	if (!c->oauth.issuer[0]) {
		int v6 = strchr(c->core.node_address, ':') != NULL;
		int n = snprintf(c->oauth.issuer, sizeof c->oauth.issuer, "https://%s%s%s:%d",
		                 v6 ? "[" : "", c->core.node_address, v6 ? "]" : "", c->est.port);
		rc |= n < 0 || (size_t)n >= sizeof c->oauth.issuer;
		c->oauth.issuer_derived = 1;
	}
	return rc ? -1 : 0;
}

static void base_defaults(struct tg_config *c)
{
	memset(c, 0, sizeof *c);
	c->core.drain_timeout_s = 10;
	c->core.heartbeat_s = 30; /* admin/node.h NODE_HEARTBEAT_S */
	tg_strlcpy(c->core.state_dir, "/var/lib/telgate", sizeof c->core.state_dir);
	c->log.level = LOG_LVL_INFO;
	c->log.format = LOG_FMT_KV;
	tg_strlcpy(c->log.target, "stderr", sizeof c->log.target);
	tg_strlcpy(c->store.backend, "sqlite", sizeof c->store.backend);
	c->store.busy_timeout_ms = 5000;
	/* OWASP's argon2id minimum: t=2, m=19 MiB. */
	c->password.argon2_t = 2;
	c->password.argon2_m_kib = 19 * 1024;
	c->pki.server_days = 397;
	/* Enrolment strings an administrator chooses (ca/capf.h): 12 characters unless
	 * configured down (to the seed's short ones, at least 4, with a warning at use). */
	c->pki.capf_min_length = 12;
	c->pki.capf_source_failures_max = 20;
	c->pki.client_days = 730; /* two years: LSCs are long-lived (issue 17) */
	c->pki.crl_days = 7;
	c->pki.signer_queue = 256;
	c->pki.signer_nice = 10;
	/* EST (ca/est_server.h): HTTPS on 8443 as every HTTPS service (docs/tls.md). */
	tg_strlcpy(c->est.address, "0.0.0.0", sizeof c->est.address);
	c->est.port = 8443;
	c->est.max_connections = 10000;
	c->est.queue = 64;
	c->est.rate = 100;
	c->est.reenroll_grace_s = 3600;
	c->oauth.access_token_expiry_s = 3600;
	c->oauth.refresh_token_expiry_s = 60 * 86400;
	c->oauth.leeway_s = 60;
	tg_strlcpy(c->oauth.alg, "ES256", sizeof c->oauth.alg);
	c->oauth.key_grace_s = 3600;
	c->oauth.cache_entries = 65536;
	c->est.nice = 10;
	c->oauth.refresh_grace_s = 30;
	/* The cloud CTI event interface (src/xsi; docs/cti-events.md). */
	c->xsi.heartbeat_s = 15; /* Xsi-Events' channel heartbeat */
	c->xsi.client_timeout_s = 60;
	c->xsi.redeliver_s = 10;
	c->xsi.queue_max = 1000;
	c->xsi.channels_max = 20000;
	c->xsi.subscriptions_max = 100000;
	c->xsi.expires_default_s = 3600;
	c->xsi.sweep_s = 5;
	c->xsi.write_limit = 256 * 1024;
	c->dir.failure_delay_ms = 250;
	tg_strlcpy(c->ldap.filter, "openldap", sizeof c->ldap.filter);
	c->ldap.timeout_ms = 3000;
	c->ldap.connect_timeout_ms = 750; /* failover from a hung server within 1 s */
	c->ldap.retry_s = 30;
	c->ldap.pool_size = 4;
	tg_strlcpy(c->admin.http_address, "127.0.0.1", sizeof c->admin.http_address);
	c->admin.http_port = 9464; /* the port Prometheus exporters commonly take */
	tg_strlcpy(c->cti.address, "0.0.0.0", sizeof c->cti.address);
	c->cti.port = 2748;
	c->cti.tls_port = 2749;
	c->cti.session_duration = 60; /* the seed's heartbeat */
	c->cti.max_session_duration = 3600;
	c->cti.max_monitors = 1000;
	c->cti.max_connections = 20000;
	c->cti.login_timeout_s = 10;
	tg_strlcpy(c->sip.realm, "telgate", sizeof c->sip.realm);
	tg_strlcpy(c->sip.address, "0.0.0.0", sizeof c->sip.address);
	c->sip.port = 5060;
	c->sip.tls_port = 5061;
	c->sip.min_expires = 60;
	c->sip.max_expires = 3600;
	c->sip.default_expires = 3600;
	c->sip.nonce_lifetime_s = 60;
	c->sip.challenge_sha256 = 1;
	c->sip.challenge_md5 = 1;
	c->sip.failure_delay_ms = 5;
	c->sip.commit_interval_ms = 2;
	c->sip.commit_timeout_ms = 2000;
	c->sip.spool_max_mib = 64;
	c->sip.source_failures_max = 20;
	c->sip.edge_port = 5091;
	c->sip.max_connections = 20000;
	c->sip.max_connections_per_source = 500;
	c->sip.first_message_timeout_s = 10;
	c->sip.idle_timeout_s = 300;
	c->sip.oauth_port = 5090;
	tg_strlcpy(c->files.address, "0.0.0.0", sizeof c->files.address);
	c->files.http_port = 6970;
	c->files.https_port = 6971;
	c->files.tftp_port = 69;
	c->files.max_file_bytes = 16 * 1024 * 1024;
	c->files.tftp_mtu = 1500;
	c->files.tftp_max_windowsize = 64;
	c->files.tftp_timeout_ms = 1000;
	c->files.tftp_retries = 5;
	c->files.tftp_deadline_s = 120;
	c->files.tftp_max_transfers = 10000;
	c->files.tftp_max_per_source = 64;
	c->files.tftp_loops = 1;
}

void config_defaults(struct tg_config *c)
{
	base_defaults(c);
	(void)derive(c); /* the built-in state dir is short */
}

/* A list of ldap:// or ldaps:// URIs separated by spaces or commas. Only the scheme and
 * the presence of a host are checked here; libldap parses them when the directory
 * starts. */
static int check_uris(const char *v, char *msg, size_t cap)
{
	const char *s = v;
	int n = 0;
	while (*s) {
		while (*s == ' ' || *s == ',' || *s == '\t')
			s++;
		if (!*s)
			break;
		size_t len = strcspn(s, " ,\t");
		size_t skip = 0;
		if (len > 7 && !strncmp(s, "ldap://", 7))
			skip = 7;
		else if (len > 8 && !strncmp(s, "ldaps://", 8))
			skip = 8;
		if (!skip || s[skip] == '/' || s[skip] == ':') {
			snprintf(
			    msg, cap,
			    "ldap.servers: '%.*s' is not an ldap:// or ldaps:// URI with a host",
			    (int)(len > 100 ? 100 : len), s);
			return -1;
		}
		s += len;
		n++;
	}
	if (n > 16) {
		snprintf(msg, cap, "ldap.servers: at most 16 servers");
		return -1;
	}
	return 0;
}

/* ldap.filter: a preset name, or a template that is one parenthesised filter with %u for
 * the escaped user id and %% for a percent sign. */
static int check_filter(const char *v, char *msg, size_t cap)
{
	if (!strcmp(v, "ad") || !strcmp(v, "openldap"))
		return 0;
	int depth = 0, users = 0;
	size_t n = strlen(v);
	if (n < 2 || v[0] != '(' || v[n - 1] != ')')
		goto bad;
	for (size_t i = 0; i < n; i++) {
		if (v[i] == '(')
			depth++;
		else if (v[i] == ')' && --depth < 0)
			goto bad;
		else if (v[i] == '%') {
			if (v[i + 1] == 'u')
				users++;
			else if (v[i + 1] != '%')
				goto bad;
			i++;
		}
	}
	if (depth == 0 && users > 0)
		return 0;
bad:
	snprintf(msg, cap,
	         "ldap.filter: '%.100s' is not 'ad', 'openldap' or a parenthesised filter "
	         "with %%u for the user id",
	         v);
	return -1;
}

struct parse_ctx {
	struct tg_config *cfg;
	bool seen[NKEYS];
	char msg[256];
};

static int set_value(struct parse_ctx *p, const struct key *k, const char *v)
{
	char *dst = (char *)p->cfg + k->off;
	switch (k->kind) {
	case K_INT: {
		char *end;
		errno = 0;
		long n = strtol(v, &end, 10);
		if (!*v || *end || errno) {
			snprintf(p->msg, sizeof p->msg, "%s.%s: '%s' is not an integer", k->section,
			         k->name, v);
			return -1;
		}
		if (n < k->min || n > k->max) {
			snprintf(p->msg, sizeof p->msg, "%s.%s: %ld is out of range %ld..%ld",
			         k->section, k->name, n, k->min, k->max);
			return -1;
		}
		if (k->size == sizeof(int))
			*(int *)(void *)dst = (int)n;
		else
			return -1;
		return 0;
	}
	case K_BOOL:
		if (!strcmp(v, "yes") || !strcmp(v, "true") || !strcmp(v, "on") || !strcmp(v, "1"))
			*(int *)(void *)dst = 1;
		else if (!strcmp(v, "no") || !strcmp(v, "false") || !strcmp(v, "off") ||
		         !strcmp(v, "0"))
			*(int *)(void *)dst = 0;
		else {
			snprintf(p->msg, sizeof p->msg, "%s.%s: '%s' is not yes or no", k->section,
			         k->name, v);
			return -1;
		}
		return 0;
	case K_URIS:
		if (check_uris(v, p->msg, sizeof p->msg) != 0)
			return -1;
		/* fallthrough */
	case K_FILTER:
		if (k->kind == K_FILTER && check_filter(v, p->msg, sizeof p->msg) != 0)
			return -1;
		/* fallthrough */
	case K_PATH:
		if (k->kind == K_PATH && v[0] != '/') {
			snprintf(p->msg, sizeof p->msg, "%s.%s: '%s' must be an absolute path",
			         k->section, k->name, v);
			return -1;
		}
		/* fallthrough */
	case K_STR:
	case K_BACKEND:
		if (k->kind == K_BACKEND && strcmp(v, "sqlite") != 0 &&
		    strcmp(v, "postgres") != 0) {
			snprintf(p->msg, sizeof p->msg,
			         "store.backend: '%s' is not supported (known: sqlite, postgres)",
			         v);
			return -1;
		}
		if (strlen(v) >= k->size) {
			snprintf(p->msg, sizeof p->msg, "%s.%s: value is longer than %zu bytes",
			         k->section, k->name, k->size - 1);
			return -1;
		}
		tg_strlcpy(dst, v, k->size);
		return 0;
	case K_LEVEL:
		if (log_parse_level(v, (enum log_level *)(void *)dst) != 0) {
			snprintf(p->msg, sizeof p->msg,
			         "log.level: '%s' is not one of debug, info, notice, warning, "
			         "error, crit",
			         v);
			return -1;
		}
		return 0;
	case K_FORMAT:
		if (log_parse_format(v, (enum log_format *)(void *)dst) != 0) {
			snprintf(p->msg, sizeof p->msg, "log.format: '%s' is not kv or json", v);
			return -1;
		}
		return 0;
	case K_TARGET: {
		char e[128];
		if (log_parse_target(v, e, sizeof e) != 0 || strlen(v) >= k->size) {
			snprintf(p->msg, sizeof p->msg, "log.target: '%s': %s", v, e);
			return -1;
		}
		tg_strlcpy(dst, v, k->size);
		return 0;
	}
	}
	return -1;
}

static int on_key(void *user, const char *section, const char *name, const char *value)
{
	struct parse_ctx *p = user;
	int known_section = 0;
	for (size_t i = 0; i < NKEYS; i++) {
		if (strcmp(keys[i].section, section) != 0)
			continue;
		known_section = 1;
		if (strcmp(keys[i].name, name) != 0)
			continue;
		if (p->seen[i]) {
			snprintf(p->msg, sizeof p->msg, "%s.%s: duplicate key", section, name);
			return 0;
		}
		p->seen[i] = true;
		return set_value(p, &keys[i], value) == 0;
	}
	if (!*section)
		snprintf(p->msg, sizeof p->msg, "'%s' is outside any [section]", name);
	else if (!known_section)
		snprintf(p->msg, sizeof p->msg, "unknown section [%s]", section);
	else
		snprintf(p->msg, sizeof p->msg, "unknown key '%s' in [%s]", name, section);
	return 0;
}

static int known_section(const char *name, size_t n)
{
	for (size_t i = 0; i < NKEYS; i++)
		if (strlen(keys[i].section) == n && memcmp(keys[i].section, name, n) == 0)
			return 1;
	return 0;
}

/* Every "[name]" line of text (NUL-terminated) names a known section; inih reports a
 * header only when a key follows it. */
static int check_sections(const char *text, struct config_error *err)
{
	int line = 1;
	for (const char *l = text; *l; line++) {
		const char *eol = strchr(l, '\n');
		const char *end = eol ? eol : l + strlen(l);
		const char *c = l;
		while (c < end && (*c == ' ' || *c == '\t'))
			c++;
		const char *close = c < end && *c == '[' ? memchr(c, ']', (size_t)(end - c)) : NULL;
		if (close && !known_section(c + 1, (size_t)(close - c - 1))) {
			err->line = line;
			snprintf(err->msg, sizeof err->msg, "unknown section [%.*s]",
			         (int)(close - c - 1), c + 1);
			return -1;
		}
		if (!eol)
			break;
		l = eol + 1;
	}
	return 0;
}

static void once_init_inih(void)
{
	/* Predictable parsing: one line per key, long lines are our error, not a split. */
	ini_allow_multiline = false;
	ini_stop_on_first_error = true;
	ini_use_stack = false;
	ini_allow_realloc = true;
	ini_max_line = CFG_LINE_MAX + 3;
}

int config_parse(const char *name, const char *text, size_t len, struct tg_config *cfg,
                 struct config_error *err)
{
	memset(err, 0, sizeof *err);
	tg_strlcpy(err->file, name, sizeof err->file);
	once_init_inih();

	/* Check what inih cannot: NUL bytes and over-long lines (it would split them). */
	int line = 1;
	size_t col = 0;
	for (size_t i = 0; i < len; i++) {
		if (text[i] == '\0') {
			err->line = line;
			snprintf(err->msg, sizeof err->msg, "NUL byte in configuration");
			return -1;
		}
		if (text[i] == '\n') {
			line++;
			col = 0;
		} else if (++col > CFG_LINE_MAX) {
			err->line = line;
			snprintf(err->msg, sizeof err->msg, "line longer than %d bytes",
			         CFG_LINE_MAX);
			return -1;
		}
	}
	char *copy = malloc(len + 1);
	if (!copy) {
		snprintf(err->msg, sizeof err->msg, "out of memory");
		return -1;
	}
	memcpy(copy, text, len);
	copy[len] = '\0';

	struct parse_ctx *p = calloc(1, sizeof *p);
	if (!p) {
		free(copy);
		snprintf(err->msg, sizeof err->msg, "out of memory");
		return -1;
	}
	base_defaults(cfg);
	p->cfg = cfg;
	int rc = ini_parse_string(copy, on_key, p);
	/* A section with no key in it never reaches on_key: check the headers themselves, so
	 * that "[bogus]" at the end of a file is the error the manual says it is. */
	if (rc == 0 && check_sections(copy, err) != 0) {
		free(copy);
		free(p);
		return -1;
	}
	free(copy);
	if (rc != 0) {
		err->line = rc > 0 ? rc : 0;
		if (p->msg[0])
			tg_strlcpy(err->msg, p->msg, sizeof err->msg);
		else
			snprintf(err->msg, sizeof err->msg,
			         "syntax error: expected [section], name = value, or a comment");
		free(p);
		return -1;
	}
	free(p);
	tg_strlcpy(cfg->path, name, sizeof cfg->path);
	if (derive(cfg) != 0) {
		snprintf(err->msg, sizeof err->msg,
		         "core.state_dir: too long to derive the socket, store and pki paths");
		return -1;
	}
	if (cfg->ldap.servers[0] && !cfg->ldap.base[0]) {
		snprintf(err->msg, sizeof err->msg, "ldap.base: required when ldap.servers is set");
		return -1;
	}
	if (strcmp(cfg->store.backend, "postgres") == 0 && cfg->store.conninfo[0] &&
	    cfg->store.conninfo_file[0]) {
		snprintf(err->msg, sizeof err->msg,
		         "store: conninfo and conninfo_file are both set: keep one (conninfo_file "
		         "keeps the password out of this file)");
		return -1;
	}
	if (strcmp(cfg->store.backend, "postgres") == 0 && !cfg->store.conninfo[0] &&
	    !cfg->store.conninfo_file[0]) {
		snprintf(err->msg, sizeof err->msg,
		         "store: backend postgres needs conninfo or conninfo_file (one of them)");
		return -1;
	}
	/* A cluster shares its signing keys through the store, encrypted under the KEK
	 * (ca/ca_cluster.h); one node on SQLite keeps them as files only. */
	if (strcmp(cfg->store.backend, "postgres") == 0 && !cfg->pki.kek_file[0]) {
		snprintf(err->msg, sizeof err->msg,
		         "pki.kek_file: required with store backend postgres (the nodes share "
		         "their signing keys in the store, encrypted under it; docs/cluster.md)");
		return -1;
	}
	if (strcmp(cfg->store.backend, "postgres") != 0 && cfg->pki.kek_file[0]) {
		snprintf(
		    err->msg, sizeof err->msg,
		    "pki.kek_file: only with store backend postgres (a cluster's shared keys)");
		return -1;
	}
	if (cfg->ldap.bind_dn[0] && !cfg->ldap.bind_password_file[0]) {
		snprintf(err->msg, sizeof err->msg,
		         "ldap.bind_password_file: required when ldap.bind_dn is set");
		return -1;
	}
	if (!cfg->sip.challenge_sha256 && !cfg->sip.challenge_md5) {
		snprintf(err->msg, sizeof err->msg,
		         "sip: challenge_sha256 and challenge_md5 cannot both be off");
		return -1;
	}
	if (cfg->sip.min_expires > cfg->sip.max_expires ||
	    cfg->sip.default_expires < cfg->sip.min_expires ||
	    cfg->sip.default_expires > cfg->sip.max_expires) {
		snprintf(err->msg, sizeof err->msg,
		         "sip: need min_expires <= default_expires <= max_expires");
		return -1;
	}
	/* The OAuth and edge ports are the node's sipOAuthPort and sipMRAOAuthPort (seed 002):
	 * 0 (that listener off) or 1024-49151, the range the node table enforces at start. */
	const struct {
		const char *key, *column;
		int port;
	} seed_ports[] = {{"sip.oauth_port", "sipOAuthPort", cfg->sip.oauth_port},
	                  {"sip.edge_port", "sipMRAOAuthPort", cfg->sip.edge_port}};
	for (size_t i = 0; i < sizeof seed_ports / sizeof seed_ports[0]; i++) {
		int v = seed_ports[i].port;
		if (v != 0 && (v < 1024 || v > 49151)) {
			snprintf(err->msg, sizeof err->msg,
			         "%s: %d is not 0 (off) or 1024..49151 (%s)", seed_ports[i].key, v,
			         seed_ports[i].column);
			return -1;
		}
	}
	if (strcmp(cfg->oauth.alg, "ES256") != 0 && strcmp(cfg->oauth.alg, "RS256") != 0 &&
	    strcmp(cfg->oauth.alg, "EdDSA") != 0) {
		snprintf(err->msg, sizeof err->msg, "oauth.alg: ES256, RS256 or EdDSA, not '%s'",
		         cfg->oauth.alg);
		return -1;
	}
	if (strncmp(cfg->oauth.issuer, "https://", 8) != 0) {
		snprintf(err->msg, sizeof err->msg, "oauth.issuer: an https:// URL (RFC 8414 §2)");
		return -1;
	}
	if (strlen(cfg->core.control_socket) >= 108) {
		snprintf(err->msg, sizeof err->msg,
		         "core.control_socket: '%s' is longer than a UNIX socket path may be",
		         cfg->core.control_socket);
		return -1;
	}
	return 0;
}

int config_load(const char *path, struct tg_config *cfg, struct config_error *err)
{
	char *text;
	size_t len;
	int rc = tg_read_file(path, CFG_FILE_MAX, &text, &len);
	if (rc != 0) {
		memset(err, 0, sizeof *err);
		tg_strlcpy(err->file, path, sizeof err->file);
		snprintf(err->msg, sizeof err->msg, "cannot read: %s",
		         rc == -EFBIG ? "file larger than 1 MiB" : strerror(-rc));
		return -1;
	}
	rc = config_parse(path, text, len, cfg, err);
	free(text);
	return rc;
}

void config_error_format(const struct config_error *err, char *out, size_t cap)
{
	if (err->line > 0)
		snprintf(out, cap, "%s:%d: %s", err->file, err->line, err->msg);
	else
		snprintf(out, cap, "%s: %s", err->file, err->msg);
}

int config_restart_needed(const struct tg_config *a, const struct tg_config *b, char *out,
                          size_t cap)
{
	int n = 0;
	size_t used = 0;
	out[0] = '\0';
	for (size_t i = 0; i < NKEYS; i++) {
		if (!keys[i].restart)
			continue;
		if (memcmp((const char *)a + keys[i].off, (const char *)b + keys[i].off,
		           keys[i].size) == 0)
			continue;
		int w = snprintf(out + used, cap - used, "%s%s.%s", n ? "," : "", keys[i].section,
		                 keys[i].name);
		if (w > 0 && (size_t)w < cap - used)
			used += (size_t)w;
		n++;
	}
	return n;
}
