/* SPDX-License-Identifier: ISC */
/* telgated: reads the configuration and becomes the monitor (ca/privsep.h), which makes the
 * PKI on first start, forks the network engine (the rest of this file) and the signer
 * process. The engine opens the store, starts the loop threads, the worker pool and the
 * control socket, and runs until SIGTERM/SIGINT (drain, then exit 0). SIGHUP reloads the
 * configuration in place. */
#include "admin/admin.h"
#include "admin/backup_cmds.h"
#include "admin/admin_http.h"
#include "admin/node.h"
#include "provision/files_service.h"
#include "ca/ca_bootstrap.h"
#include "ca/ca_cluster.h"
#include "ca/ca_crl.h"
#include "ca/ca_rekey.h"
#include "ca/privsep.h"
#include "authz/oauth.h"
#include "xsi/server.h"
#include "ca/est_server.h"
#include "ca/signer.h"
#include "core/config.h"
#include "core/ctl.h"
#include "core/devstate.h"
#include "core/log.h"
#include "core/loop.h"
#include "core/ports.h"
#include "core/stream.h"
#include "core/util.h"
#include "core/worker.h"
#include "authz/authz.h"
#include "cti/server.h"
#include "dir/dir.h"
#include "dir/passwd.h"
#include "provision/import.h"
#include "sip/registrar.h"
#include "store/store.h"
#include "tls/iana.h"
#include "tls/store.h"
#include "tls/tlsctx.h"

#include <errno.h>
#include <event2/event.h>
#include <getopt.h>
#include <libxml/parser.h>
#include <malloc.h>
#include <grp.h>
#include <pwd.h>
#include <signal.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/resource.h>
#include <unistd.h>

#define EXIT_CONFIG 1
#define EXIT_RUNTIME 2
#define EXIT_USAGE 64

struct daemon {
	const char *config_path;
	struct tg_config cfg;
	/* The configuration as the file gave it at start, before fd_budget's clamping: what a
	 * reload compares with to say which settings need a restart (a clamped value is not a
	 * change the administrator made). */
	struct tg_config started;
	store_t *store;
	struct loop *main;
	struct loop_group *loops;
	struct workers *workers;
	struct dir *dir;
	struct cti_server *cti;
	struct authz *authz; /* the token service (authz/authz.h) */
	struct sip_registrar *sip;
	struct ctl_server *ctl;
	struct admin_http *admin_http; /* NULL when [admin] http_port = 0 */
	struct files_service *files;   /* cnf.xml, trust lists, static files: HTTP and TFTP */
	struct est_server *est;        /* EST enrolment over HTTPS; NULL when [est] port = 0 */
	/* EST's own loops and workers at [est] nice: an enrolment storm's handshakes and jobs
	 * never queue ahead of SIP and CTI on theirs (NULL when [est] port = 0). */
	struct loop_group *est_loops;
	struct workers *est_workers;
	struct oauth *oauth; /* the OAuth server on EST's listener (authz/oauth.h); NULL when off */
	struct xsi_server *xsi;    /* the cloud CTI event interfaces (xsi/server.h) */
	struct devstate *devstate; /* the device-state bus: registrar -> CTI */
	struct admin_ctx admin;
	int admin_ready; /* admin_init() ran: admin_destroy() is due */
	struct ca_bootstrap_result pki;
	struct privsep_engine
	    ps;                /* from the monitor (ca/privsep.h): the PKI, the signer's socket */
	struct signer *signer; /* the signer process's client end */
	struct event *sig_hup, *sig_term, *sig_int, *drain_timer, *tls_timer;
	int64_t drain_deadline_ms;
	char cid[LOG_CID_SIZE];
	struct store_processnode node; /* this node's processnode row (admin/node.h) */
	struct event *node_timer;      /* its heartbeat */
	struct event *crl_timer;       /* the CRL's upkeep (on_crl_tick) */
	int crl_running, crl_rc;
	/* The TLS policy's runtime reload (on_tls_tick): the store generation it was last
	 * loaded under (main thread), and the job's state (the job writes job_*, its done
	 * runs on the main loop). */
	uint64_t tls_gen, tls_job_gen;
	int tls_running, tls_job_rc, tls_job_changed, tls_failed;
	char tls_job_err[256];
};

static void usage(FILE *f)
{
	fprintf(
	    f,
	    "usage: telgated [-c FILE] [--check-config] [--provision FILE.json]\n"
	    "       telgated --version | --help\n"
	    "  -c, --config FILE      node configuration (INI); built-in defaults if absent\n"
	    "      --check-config     validate the configuration and exit (0 ok, 1 error)\n"
	    "      --provision FILE   import FILE.json into the store before serving\n"
	    "      --kek-status       check that pki.kek_file opens the cluster's keys in the "
	    "store\n"
	    "      --kek-rotate FILE  re-encrypt the cluster's keys under the KEK in FILE, then\n"
	    "                         install FILE as pki.kek_file on every node "
	    "(docs/cluster.md)\n");
}

/* --kek-status and --kek-rotate: offline, on the store of the configuration (ca/ca_rekey.h). */
static int kek_command(const struct tg_config *cfg, const char *new_kek)
{
	if (!cfg->pki.kek_file[0]) {
		fprintf(stderr, "pki.kek_file is not set: the keys are files, not in the store\n");
		return EXIT_CONFIG;
	}
	char err[512];
	if (log_configure(LOG_LVL_WARNING, cfg->log.format, "stderr", err, sizeof err) != 0) {
		fprintf(stderr, "log: %s\n", err);
		return EXIT_CONFIG;
	}
	struct store_options so;
	struct ca_cluster_options co;
	ca_cluster_options_of(cfg, "kek", &so, &co);
	so.no_migrate = 1; /* offline: never change the shared schema under running nodes */
	if (ca_cluster_rekey(&co, new_kek, stdout, err, sizeof err) != 0) {
		fprintf(stderr, "kek: %s\n", err);
		return EXIT_RUNTIME;
	}
	if (new_kek)
		printf("now install %s as pki.kek_file on every node (before its next start)\n",
		       new_kek);
	return 0;
}

static int load_config(const char *path, struct tg_config *cfg)
{
	if (!path) {
		config_defaults(cfg);
		return 0;
	}
	struct config_error e;
	if (config_load(path, cfg, &e) != 0) {
		char msg[600];
		config_error_format(&e, msg, sizeof msg);
		fprintf(stderr, "%s\n", msg);
		return -1;
	}
	return 0;
}

static void on_reload(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	struct daemon *d = arg;
	char cid[LOG_CID_SIZE];
	log_cid_new(cid);
	/* Certificates, trust stores and the edge allow-list are re-read on every SIGHUP,
	 * with or without a configuration file. */
	tlsctx_check_all(1);
	if (d->sip)
		sip_registrar_edges_reload(d->sip);
	if (!d->config_path) {
		log_ev(LOG_LVL_NOTICE, cid, "reload", LOG_S("result", "nothing to reload"),
		       LOG_S("reason", "running on built-in defaults"));
		return;
	}
	struct tg_config next;
	struct config_error e;
	if (config_load(d->config_path, &next, &e) != 0) {
		char msg[600];
		config_error_format(&e, msg, sizeof msg);
		log_ev(LOG_LVL_ERROR, cid, "reload", LOG_S("result", "rejected"),
		       LOG_S("error", msg));
		return;
	}
	char restart[512], err[256];
	int n = config_restart_needed(&d->started, &next, restart, sizeof restart);
	if (log_configure(next.log.level, next.log.format, next.log.target, err, sizeof err) != 0) {
		log_ev(LOG_LVL_ERROR, cid, "reload", LOG_S("result", "rejected"),
		       LOG_S("error", err));
		return;
	}
	/* Settings that need a restart keep their running values until then. */
	struct tg_config applied = d->cfg;
	applied.log = next.log;
	applied.password = next.password;
	applied.core.drain_timeout_s = next.core.drain_timeout_s;
	applied.pki.server_days = next.pki.server_days;
	memcpy(applied.pki.server_names, next.pki.server_names, sizeof applied.pki.server_names);
	d->cfg = applied;
	admin_set_config(&d->admin, &applied);
	log_ev(LOG_LVL_NOTICE, cid, "reload", LOG_S("result", "applied"),
	       LOG_S("config", d->config_path),
	       LOG_S("log_level", log_level_name(applied.log.level)),
	       LOG_S("restart_needed_for", n ? restart : NULL));
}

/* TLS settings, trust anchors and client identities changed through another node of a
 * cluster reach this one as a store generation (its NOTIFY, docs/cluster.md), as every
 * table's changes do: a worker then reads them again (three small SELECTs, only after a
 * write) and rebuilds the live contexts when they differ from the snapshot's. */
static void tls_reload_run(void *arg)
{
	struct daemon *d = arg;
	d->tls_job_gen = store_generation(d->store); /* before the read: a later write re-runs */
	d->tls_job_rc = tls_policy_refresh(d->store, &d->tls_job_changed);
	snprintf(d->tls_job_err, sizeof d->tls_job_err, "%s",
	         d->tls_job_rc == STORE_OK ? "" : store_last_error());
	if (d->tls_job_rc == STORE_OK && d->tls_job_changed)
		tlsctx_check_all(0); /* new connections get the new policy from now on */
}

static void tls_reload_done(void *arg)
{
	struct daemon *d = arg;
	d->tls_running = 0;
	if (d->tls_job_rc != STORE_OK) {
		/* The last good policy stays; the next tick tries again, logged once. */
		if (!d->tls_failed)
			log_ev(LOG_LVL_ERROR, d->cid, "tls_policy_reload_failed",
			       LOG_S("error", d->tls_job_err),
			       LOG_S("kept", "the last loaded TLS policy"));
		d->tls_failed = 1;
		return;
	}
	if (d->tls_failed)
		log_ev(LOG_LVL_NOTICE, d->cid, "tls_policy_reload_recovered",
		       LOG_U("generation", d->tls_job_gen));
	d->tls_failed = 0;
	d->tls_gen = d->tls_job_gen;
	if (d->tls_job_changed)
		log_ev(LOG_LVL_NOTICE, d->cid, "tls_policy_reloaded",
		       LOG_U("generation", d->tls_gen));
}

/* Replaced certificate, key or trust-store files are picked up within two seconds, and
 * so is a TLS policy stored by another node (tls_reload_run). */
static void on_tls_tick(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	struct daemon *d = arg;
	tlsctx_check_all(0);
	if (d->tls_running || store_generation(d->store) == d->tls_gen)
		return;
	d->tls_running = 1;
	if (workers_submit(d->workers, tls_reload_run, tls_reload_done, d, d->main) != 0)
		d->tls_running = 0;
}

static void on_node_heartbeat(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	struct daemon *d = arg;
	int64_t now = tg_now_s();
	/* A node silent for NODE_DEAD_HEARTBEATS heartbeats is dead: its expired bindings are
	 * any node's to delete (docs/cluster.md, Registrations). */
	d->node.registrations =
	    d->sip ? sip_registrar_heartbeat(d->sip, now,
	                                     now - node_dead_after_s(d->cfg.core.heartbeat_s))
	           : 0;
	struct cti_server_stats cs = {0};
	if (d->cti)
		cti_server_stats(d->cti, &cs);
	d->node.ctisessions = (int64_t)cs.sessions_open;
	node_heartbeat(d->store, &d->node, now, d->cid);
}

/* The CRL is reissued when it is due (ca/ca_crl.h: half its lifetime, a revocation whose
 * CRL was not written, none yet): checked on a worker a few seconds after the start and
 * then hourly, one check at a time. */
#define CRL_CHECK_S 3600
static void crl_check_run(void *arg)
{
	struct daemon *d = arg;
	char err[256] = "";
	const struct ca_crl_cfg cc = {.dir = d->cfg.pki.dir, .days = d->cfg.pki.crl_days};
	int rc = ca_crl_refresh(d->store, d->signer, &cc, 0, d->cid, err, sizeof err);
	if (rc < 0)
		log_ev(rc == -EAGAIN ? LOG_LVL_NOTICE : LOG_LVL_ERROR, d->cid, "crl_refresh_failed",
		       LOG_S("error", err),
		       LOG_S("retry", rc == -EAGAIN ? "in 30 s" : "in an hour"));
	d->crl_rc = rc;
}

static void crl_check_done(void *arg)
{
	struct daemon *d = arg;
	d->crl_running = 0;
	if (d->crl_rc == -EAGAIN && d->crl_timer) /* the signer was not answering: soon again */
		event_add(d->crl_timer, &(struct timeval){30, 0});
}

static void on_crl_tick(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	struct daemon *d = arg;
	if (d->crl_running)
		return;
	d->crl_running = 1;
	if (workers_submit(d->workers, crl_check_run, crl_check_done, d, d->main) != 0)
		d->crl_running = 0;
	event_add(d->crl_timer, &(struct timeval){CRL_CHECK_S, 0});
}

static void finish(struct daemon *d)
{
	loop_stop(d->main);
}

static void on_drain_tick(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	struct daemon *d = arg;
	size_t busy = ctl_server_busy(d->ctl) + workers_pending(d->workers);
	if (busy == 0 || tg_mono_ms_live() >= d->drain_deadline_ms) {
		if (busy)
			log_ev(LOG_LVL_WARNING, d->cid, "drain_timeout", LOG_U("unfinished", busy));
		finish(d);
		return;
	}
	struct timeval tv = {0, 50 * 1000};
	evtimer_add(d->drain_timer, &tv);
}

static void on_terminate(evutil_socket_t fd, short what, void *arg)
{
	(void)what;
	struct daemon *d = arg;
	if (d->drain_timer)
		return; /* already draining */
	log_ev(LOG_LVL_NOTICE, d->cid, "draining", LOG_S("signal", fd == SIGINT ? "INT" : "TERM"));
	store_stopping(d->store); /* its errors promise no retry from now on */
	ctl_server_stop_accepting(d->ctl);
	d->drain_deadline_ms = tg_mono_ms() + (int64_t)d->cfg.core.drain_timeout_s * 1000;
	d->drain_timer = evtimer_new(loop_base(d->main), on_drain_tick, d);
	on_drain_tick(-1, 0, d);
}

static int drop_privileges(const struct tg_config *cfg)
{
	if (!cfg->core.user[0])
		return 0;
	struct passwd *pw = getpwnam(cfg->core.user);
	if (!pw) {
		fprintf(stderr, "core.user: no such user '%s'\n", cfg->core.user);
		return -1;
	}
	if (geteuid() != 0) {
		fprintf(stderr, "core.user is set but telgated is not started as root\n");
		return -1;
	}
	/* The state directory, its store and keys must stay readable after the switch. */
	const char *paths[] = {cfg->core.state_dir, cfg->store.path, cfg->pki.dir,
	                       cfg->core.control_socket};
	for (size_t i = 0; i < sizeof paths / sizeof paths[0]; i++)
		if (chown(paths[i], pw->pw_uid, pw->pw_gid) != 0 && errno != ENOENT) {
			fprintf(stderr, "cannot chown %s: %s\n", paths[i], strerror(errno));
			return -1;
		}
	const char *suffix[] = {"-wal", "-shm"};
	for (size_t i = 0; i < 2; i++) {
		char p[CFG_PATH_MAX + 8];
		snprintf(p, sizeof p, "%s%s", cfg->store.path, suffix[i]);
		if (chown(p, pw->pw_uid, pw->pw_gid) != 0 && errno != ENOENT)
			return -1;
	}
	/* Not ca.key nor the other signing keys: they stay root's, read by the monitor only. */
	const char *keys[] = {"ca.crt", "server.key", "server.crt", "interfaces"};
	for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++) {
		char p[CFG_PATH_MAX + 16];
		snprintf(p, sizeof p, "%s/%s", cfg->pki.dir, keys[i]);
		if (chown(p, pw->pw_uid, pw->pw_gid) != 0 && errno != ENOENT)
			return -1;
	}
	if (setgroups(0, NULL) != 0 || setgid(pw->pw_gid) != 0 || setuid(pw->pw_uid) != 0 ||
	    setuid(0) == 0) {
		fprintf(stderr, "cannot drop privileges to %s\n", cfg->core.user);
		return -1;
	}
	return 0;
}

/* Descriptors: the soft RLIMIT_NOFILE goes up to the hard limit, and the connection caps
 * must fit in what is left after a reserve (store connections per thread, logs,
 * listeners, LDAP, the control socket). At the limit the kernel refuses accept(): the
 * listeners then pause (core/stream.h), but the caps refuse first, with a reason. */
/* loop_run_all: the EST loop threads at [est] nice (tg_thread_nice). */
static void loop_nice(struct loop *l, int i, void *arg)
{
	(void)l;
	(void)i;
	tg_thread_nice(*(const int *)arg); /* on failure: the default priority, still apart */
}

static void fd_budget(struct daemon *d, int nloops, int nworkers)
{
	long reserve = 128 + 8L * nloops + 2L * nworkers;
	long budget = stream_fd_budget(reserve);
	long sip = d->cfg.sip.max_connections, cti = d->cfg.cti.max_connections;
	int clamped = budget >= 0 && sip + cti > budget;
	if (clamped) { /* shared in proportion to what was configured */
		long want = sip + cti;
		sip = budget * sip / want > 0 ? budget * sip / want : 1;
		cti = budget - sip > 0 ? budget - sip : 1;
		d->cfg.sip.max_connections = (int)sip;
		d->cfg.cti.max_connections = (int)cti;
		if (d->cfg.sip.max_connections_per_source > d->cfg.sip.max_connections)
			d->cfg.sip.max_connections_per_source = d->cfg.sip.max_connections;
	}
	log_ev(clamped ? LOG_LVL_NOTICE : LOG_LVL_INFO, d->cid, "fd_budget",
	       LOG_I("descriptors_for_connections", budget), LOG_I("sip_max_connections", sip),
	       LOG_I("cti_max_connections", cti), LOG_S("clamped", clamped ? "yes" : "no"));
}

static int provision(struct daemon *d, const char *file)
{
	char *text;
	size_t len;
	int rc = tg_read_file(file, PROV_IMPORT_MAX, &text, &len);
	if (rc != 0) {
		fprintf(stderr, "--provision %s: %s\n", file,
		        rc == -EFBIG ? "file too large" : strerror(-rc));
		return -1;
	}
	const struct prov_options o = {
	    .pw = {.t = d->cfg.password.argon2_t, .m_kib = d->cfg.password.argon2_m_kib},
	    .sip_realm = d->cfg.sip.realm,
	};
	struct prov_result res;
	char err[512];
	rc = prov_import(d->store, text, len, &o, &res, err, sizeof err);
	sodium_memzero(text, len); /* it may hold plain-text passwords */
	free(text);
	if (rc != 0) {
		fprintf(stderr, "--provision %s: nothing imported: %s\n", file, err);
		log_ev(LOG_LVL_ERROR, d->cid, "provision_failed", LOG_S("file", file),
		       LOG_S("error", err));
		return -1;
	}
	log_ev(LOG_LVL_NOTICE, d->cid, "provisioned", LOG_S("file", file),
	       LOG_I("securityprofiles", res.securityprofiles), LOG_I("users", res.users),
	       LOG_I("devices", res.devices), LOG_I("associations", res.associations),
	       LOG_I("parameters", res.parameters));
	return 0;
}

/* A subsystem that failed to start: said on stderr (the operator starting telgated by
 * hand) and, with its event name, in the log. */
static int start_failed(struct daemon *d, const char *what, const char *event, const char *err)
{
	fprintf(stderr, "%s: %s\n", what, err);
	if (event)
		log_ev(LOG_LVL_CRIT, d->cid, event, LOG_S("error", err));
	return -1;
}

/* store_oauthkeys: stops at the first key (retiring or not) of the node. */
struct node_key {
	const char *node;
	int found;
};
static int node_key(void *ud, const struct store_oauthkey *k)
{
	struct node_key *n = ud;
	n->found = strcmp(k->node, n->node) == 0;
	return n->found;
}

/* When this node has no token key yet, authz_new asks the signer for one at once. Its answer
 * timeout (signer.h) is meant for a signer that runs; on a first start the monitor makes the
 * RSA signer keys after it forked this process, and then the signer warms up at its nice
 * value: on a loaded machine that outlasts the timeout, the request fails, and the signer
 * still makes and keeps a key the store never learns of. So the engine first waits (up to
 * SIGNER_HELLO_WAIT_MS) for the signer's hello; a node with a key does not wait (nothing is
 * asked at start), and a signer that never comes leaves the first key to the first token
 * issue, as before. */
#define SIGNER_HELLO_WAIT_MS 60000
static void await_signer(struct daemon *d)
{
	struct node_key nk = {.node = d->cfg.core.node_id};
	store_oauthkeys(d->store, node_key, &nk); /* an error: no key found, so a wait */
	if (nk.found)
		return;
	int64_t t0 = tg_mono_ms();
	struct signer_stats st;
	for (;;) {
		signer_stats(d->signer, &st);
		if (!st.remote || st.pid || tg_mono_ms() - t0 >= SIGNER_HELLO_WAIT_MS)
			break;
		usleep(10000);
	}
	if (st.remote && !st.pid)
		log_ev(LOG_LVL_WARNING, d->cid, "signer_hello_missing",
		       LOG_I("waited_ms", tg_mono_ms() - t0));
}

/* Starts everything after the configuration and the log, in dependency order: state
 * directory, PKI, store (and --provision), loop threads and workers, the main loop, the
 * directory, the control socket, CTI, SIP, the admin HTTP listener; then drops privileges and takes
 * the signals. Returns 0, or -1 (said on stderr) with whatever did start left in d for
 * daemon_teardown(). */
static int daemon_start(struct daemon *d, const char *provision_file)
{
	char err[512];
	int rc = tg_mkdir_p(d->cfg.core.state_dir, 0700);
	if (rc != 0) {
		fprintf(stderr, "core.state_dir %s: %s\n", d->cfg.core.state_dir, strerror(-rc));
		return -1;
	}
	backup_snapshots_sweep(d->cfg.core.state_dir, d->cid);
	/* The monitor made the PKI (in a child of its own) and holds the signing keys; this
	 * process keeps the TLS server keys and asks the signer for everything else. */
	d->pki = d->ps.pki;
	d->signer = signer_remote_new(d->ps.signer_fd, err, sizeof err);
	d->ps.signer_fd = -1;
	if (!d->signer)
		return start_failed(d, "signer", "signer_failed", err);
	signer_remote_configure(d->signer, (unsigned)d->cfg.pki.signer_queue, 0);
	/* Per-interface server certificates (telgate tls cert update) live here; the
	 * listeners' contexts look for them from their creation on. */
	char ifdir[CFG_PATH_MAX + 16];
	snprintf(ifdir, sizeof ifdir, "%s/interfaces", d->cfg.pki.dir);
	if ((rc = tg_mkdir_p(ifdir, 0700)) != 0) {
		fprintf(stderr, "%s: %s\n", ifdir, strerror(-rc));
		return -1;
	}
	tlsctx_set_interface_dir(ifdir);
	const struct store_options so = {
	    .backend = d->cfg.store.backend,
	    .path = d->cfg.store.path,
	    .conninfo = d->cfg.store.conninfo,
	    .conninfo_file = d->cfg.store.conninfo_file,
	    .busy_timeout_ms = d->cfg.store.busy_timeout_ms,
	};
	if (store_open(&so, &d->store, err, sizeof err) != STORE_OK)
		return start_failed(d, "store", "store_failed", err);
	if (provision_file && provision(d, provision_file) != 0)
		return -1;
	node_from_config(&d->cfg, tg_now_s(), &d->node);
	if (node_register(d->store, &d->node, d->cid, err, sizeof err) != 0)
		return start_failed(d, "node", "node_failed", err);
	/* The token service: its keys' public halves from the store, the first key from the
	 * signer when this node has none (issue 18). */
	await_signer(d);
	const struct authz_options ao = {
	    .store = d->store, .signer = d->signer, .cfg = &d->cfg, .cid = d->cid};
	d->authz = authz_new(&ao, err, sizeof err);
	if (!d->authz)
		return start_failed(d, "oauth", "oauth_failed", err);
	/* The TLS policy before any TLS listener: what this OpenSSL offers, then the stored
	 * settings (docs/tls.md). */
	if (tls_iana_init() != 0)
		return start_failed(d, "tls", "tls_failed",
		                    "OpenSSL cannot list its cipher suites");
	d->tls_gen = store_generation(d->store); /* before the read, as tls_reload_run */
	if (tls_policy_load(d->store) != STORE_OK)
		return start_failed(d, "tls", "tls_failed", store_last_error());

	/* Signals are taken by the main loop only: they stay blocked while threads start
	 * (threads inherit the mask). */
	sigset_t set, old;
	sigemptyset(&set);
	sigaddset(&set, SIGHUP);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	pthread_sigmask(SIG_BLOCK, &set, &old);
	int nloops = d->cfg.core.threads ? d->cfg.core.threads : loop_ncores();
	int nworkers = d->cfg.core.workers ? d->cfg.core.workers : loop_ncores();
	d->started = d->cfg;
	fd_budget(d, nloops, nworkers);
	d->loops = loop_group_start(nloops);
	d->workers = workers_start(nworkers, 1024);
	d->main = loop_new("main");
	d->devstate = devstate_new();
	if (d->cfg.est.port) {
		int n = d->cfg.est.threads ? d->cfg.est.threads : loop_ncores();
		d->est_loops = loop_group_start(n);
		d->est_workers = workers_start_nice(n, 1024, d->cfg.est.nice);
		if (d->est_loops)
			loop_run_all(d->est_loops, loop_nice, &d->cfg.est.nice);
	}
	if (d->loops && d->workers && d->main && d->devstate) {
		admin_init(&d->admin, d->store, &d->cfg);
		d->admin_ready = 1;
		d->admin.nloops = nloops;
		d->admin.nworkers = nworkers;
		d->admin.pki = d->pki;
		d->admin.workers = d->workers;
		d->admin.devstate = d->devstate;
		d->admin.signer = d->signer;
		d->admin.authz = d->authz;
		const struct dir_options dopt = {.store = d->store, .cfg = &d->cfg};
		d->dir = dir_start(&dopt, err, sizeof err);
	}
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (!d->loops || !d->workers || !d->main || !d->devstate ||
	    (d->cfg.est.port && (!d->est_loops || !d->est_workers)))
		return start_failed(d, "threads", NULL, "cannot start threads");
	if (!d->dir)
		return start_failed(d, "directory", "dir_failed", err);
	d->admin.dir = d->dir;

	err[0] = '\0';
	d->ctl = ctl_server_start(d->main, d->workers, d->cfg.core.control_socket, admin_handle,
	                          &d->admin, err, sizeof err);
	if (!d->ctl)
		return start_failed(d, "control socket", NULL, err);
	ports_name("unix", 0, d->cfg.core.control_socket, "control");
	const struct cti_server_options co = {
	    .cfg = &d->cfg,
	    .store = d->store,
	    .dir = d->dir,
	    .workers = d->workers,
	    .loops = d->loops,
	    .devstate = d->devstate,
	    .tls_cert = d->pki.server_cert,
	    .tls_key = d->pki.server_key,
	    .client_ca = d->pki.ca_cert,
	    .authz = d->authz,
	};
	err[0] = '\0';
	d->cti = cti_server_start(&co, err, sizeof err);
	if (!d->cti)
		return start_failed(d, "cti", "cti_failed", err);
	d->admin.cti = d->cti;
	const struct sip_registrar_options ro = {
	    .cfg = &d->cfg,
	    .store = d->store,
	    .workers = d->workers,
	    .loops = d->loops,
	    .devstate = d->devstate,
	    .tls_cert = d->pki.server_cert,
	    .tls_key = d->pki.server_key,
	    .authz = d->authz,
	};
	err[0] = '\0';
	d->sip = sip_registrar_start(&ro, err, sizeof err);
	if (!d->sip)
		return start_failed(d, "sip", "sip_failed", err);
	d->admin.sip = d->sip;
	if (d->cfg.admin.http_port) {
		err[0] = '\0';
		d->admin_http =
		    admin_http_start(&d->admin, d->loops, d->workers, d->cfg.admin.http_address,
		                     d->cfg.admin.http_port, err, sizeof err);
		if (!d->admin_http)
			return start_failed(d, "admin http", "admin_http_failed", err);
	}
	err[0] = '\0';
	const struct files_service_options fo = {.cfg = &d->cfg,
	                                         .store = d->store,
	                                         .signer = d->signer,
	                                         .loops = d->loops,
	                                         .tls_cert = d->pki.server_cert,
	                                         .tls_key = d->pki.server_key,
	                                         .authz = d->authz};
	d->files = files_service_start(&fo, err, sizeof err);
	if (!d->files)
		return start_failed(d, "device files", "files_failed", err);
	d->admin.tftp = files_service_tftp(d->files);
	/* The cloud CTI event interfaces of the store (src/xsi), on the node certificate. */
	const struct xsi_server_options xo = {.cfg = &d->cfg,
	                                      .store = d->store,
	                                      .workers = d->workers,
	                                      .loops = d->loops,
	                                      .main = d->main,
	                                      .devstate = d->devstate,
	                                      .server_cert = d->pki.server_cert,
	                                      .server_key = d->pki.server_key};
	err[0] = '\0';
	if (!(d->xsi = xsi_server_start(&xo, err, sizeof err)))
		return start_failed(d, "cti interfaces", "xsi_failed", err);
	d->admin.xsi = d->xsi;
	if (d->cfg.est.port) {
		/* The OAuth server answers on EST's HTTPS listener (docs/oauth.md). */
		const struct oauth_options oo = {
		    .store = d->store,
		    .authz = d->authz,
		    .dir = d->dir,
		    .workers = d->workers,
		    .pki_dir = d->cfg.pki.dir,
		    .issuer = d->cfg.oauth.issuer,
		    .access_token_expiry_s = d->cfg.oauth.access_token_expiry_s,
		    .refresh_token_expiry_s = d->cfg.oauth.refresh_token_expiry_s,
		    .refresh_grace_s = d->cfg.oauth.refresh_grace_s,
		};
		err[0] = '\0';
		if (!(d->oauth = oauth_new(&oo, err, sizeof err)))
			return start_failed(d, "oauth", "oauth_failed", err);
		d->admin.oauth = d->oauth;
		struct http_route routes[OAUTH_ROUTES];
		size_t nroutes = oauth_routes(d->oauth, routes, OAUTH_ROUTES);
		const struct est_server_options eo = {
		    .cfg = &d->cfg,
		    .store = d->store,
		    .signer = d->signer,
		    .workers = d->est_workers,
		    .loops = d->est_loops,
		    .main = d->main,
		    .ca_cert = d->pki.ca_cert,
		    .server_cert = d->pki.server_cert,
		    .server_key = d->pki.server_key,
		    .extra_routes = routes,
		    .nextra = nroutes,
		};
		err[0] = '\0';
		d->est = est_server_start(&eo, err, sizeof err);
		if (!d->est)
			return start_failed(d, "est", "est_failed", err);
		d->admin.est = d->est;
	}
	if (drop_privileges(&d->cfg) != 0)
		return -1;
	privsep_orphan_guard(d->ps.monitor, SIGTERM); /* setuid cleared the first one */

	struct event_base *base = loop_base(d->main);
	d->sig_hup = evsignal_new(base, SIGHUP, on_reload, d);
	d->sig_term = evsignal_new(base, SIGTERM, on_terminate, d);
	d->sig_int = evsignal_new(base, SIGINT, on_terminate, d);
	d->tls_timer = event_new(base, -1, EV_PERSIST, on_tls_tick, d);
	d->node_timer = event_new(base, -1, EV_PERSIST, on_node_heartbeat, d);
	d->crl_timer = evtimer_new(base, on_crl_tick, d);
	if (!d->sig_hup || !d->sig_term || !d->sig_int || !d->tls_timer || !d->node_timer ||
	    !d->crl_timer)
		return start_failed(d, "signals", NULL,
		                    "cannot create the signal and timer events");
	evsignal_add(d->sig_hup, NULL);
	evsignal_add(d->sig_term, NULL);
	evsignal_add(d->sig_int, NULL);
	struct timeval two = {2, 0};
	event_add(d->tls_timer, &two);
	event_add(d->node_timer, &(struct timeval){d->cfg.core.heartbeat_s, 0});
	event_add(d->crl_timer, &(struct timeval){5, 0}); /* the signer is up by then */
	tlsctx_expiry_check_all(tg_now_s());              /* at start, then on every tick */
	/* Nodes sharing a store share their tokens: one derived from this node's address
	 * would be refused (wrong_issuer) by every other node (docs/cluster.md). */
	if (d->cfg.oauth.issuer_derived && !strcmp(d->cfg.store.backend, "postgres"))
		log_ev(LOG_LVL_WARNING, d->cid, "oauth_issuer_per_node",
		       LOG_S("issuer", d->cfg.oauth.issuer),
		       LOG_S("fix", "set [oauth] issuer to one URL on every node of the cluster"));
	log_ev(LOG_LVL_NOTICE, d->cid, "started", LOG_S("version", TELGATE_VERSION),
	       LOG_I("pid", getpid()),
	       LOG_S("config", d->config_path ? d->config_path : "(built-in defaults)"),
	       LOG_S("store",
	             strcmp(d->cfg.store.backend, "postgres") ? d->cfg.store.path : "postgres"),
	       LOG_S("control_socket", d->cfg.core.control_socket), LOG_I("loop_threads", nloops),
	       LOG_I("worker_threads", nworkers));
	return 0;
}

static void event_free_if(struct event **ev)
{
	if (*ev)
		event_free(*ev);
	*ev = NULL;
}

/* The one teardown, after a normal stop and after a failure at any step of
 * daemon_start(): every step tolerates a part that never started. Order: nothing new
 * (signals, timers, the control socket, the SIP and CTI listeners and connections, SIP
 * first since it feeds CTI), then the running jobs finish (control commands and
 * authentications among them: they post to loops that still run), then the device-file
 * service (control commands read its transfers until then), the directory, the control
 * socket and the loops; the servers' memory goes after the loops (late
 * callbacks may touch it), the store last. */
static void daemon_teardown(struct daemon *d, int status)
{
	store_stopping(d->store); /* also when the start failed: nothing is retried */
	event_free_if(&d->sig_hup);
	event_free_if(&d->sig_term);
	event_free_if(&d->sig_int);
	event_free_if(&d->drain_timer);
	event_free_if(&d->tls_timer);
	event_free_if(&d->node_timer);
	event_free_if(&d->crl_timer);
	ctl_server_stop_accepting(d->ctl);
	admin_http_stop(d->admin_http); /* its jobs run on the workers and read the admin ctx */
	d->admin_http = NULL;
	sip_registrar_stop(d->sip);
	cti_server_stop(d->cti);
	xsi_server_stop(d->xsi); /* its subscription jobs run on the workers */
	est_server_stop(d->est); /* its held requests answered before the workers stop */
	if (d->est_workers)
		workers_stop(d->est_workers);
	d->est_workers = NULL;
	workers_stop(d->workers);
	/* After the workers (nothing queues refresh grants any more), before the loops (the
	 * answers go there) and the token service (a lost rotation revokes through it). */
	oauth_stop(d->oauth);
	/* After the workers: a `show tftp` or a metrics scrape running there reads it. */
	d->admin.tftp = NULL;
	files_service_stop(d->files);
	d->files = NULL;
	authz_free(d->authz); /* after the workers and CTI, its callers; before the signer */
	d->authz = NULL;
	d->admin.authz = NULL;
	signer_free(d->signer); /* after the workers, its callers */
	d->signer = NULL;
	dir_stop(d->dir);
	ctl_server_free(d->ctl);
	if (d->admin_ready)
		admin_destroy(&d->admin);
	loop_group_stop(d->loops);
	if (d->est_loops)
		loop_group_stop(d->est_loops);
	d->est_loops = NULL;
	est_server_free(d->est);
	d->est = NULL;
	oauth_free(d->oauth); /* after the listener that served its routes */
	d->oauth = NULL;
	sip_registrar_free(d->sip);
	cti_server_free(d->cti);
	d->admin.xsi = NULL;
	xsi_server_free(d->xsi);
	d->xsi = NULL;
	loop_free(d->main);
	devstate_free(d->devstate); /* after every publisher and subscriber stopped */
	store_close(d->store);
	log_ev(LOG_LVL_NOTICE, d->cid, "stopped", LOG_S("exit", status ? "error" : "clean"));
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
	    {"config", required_argument, NULL, 'c'},
	    {"check-config", no_argument, NULL, 'C'},
	    {"provision", required_argument, NULL, 'P'},
	    {"kek-status", no_argument, NULL, 'K'},
	    {"kek-rotate", required_argument, NULL, 'R'},
	    {"version", no_argument, NULL, 'V'},
	    {"help", no_argument, NULL, 'h'},
	    {NULL, 0, NULL, 0},
	};
	/* glibc gives a thread's freed heap top back to the kernel once it exceeds 128 KiB
	 * (madvise, a TLB flush of every core, then a page fault per page when it is used
	 * again): SQLite's statement journals made the OAuth committer do that once per
	 * refresh grant (1.1 page faults a grant, none with this). Keep up to 8 MiB per arena. */
#ifdef M_TRIM_THRESHOLD
	mallopt(M_TRIM_THRESHOLD, 8 * 1024 * 1024);
#endif
	struct daemon d;
	memset(&d, 0, sizeof d);
	int check_only = 0, kek = 0, opt;
	const char *provision_file = NULL, *new_kek = NULL;
	while ((opt = getopt_long(argc, argv, "c:hV", opts, NULL)) != -1) {
		switch (opt) {
		case 'c':
			d.config_path = optarg;
			break;
		case 'C':
			check_only = 1;
			break;
		case 'P':
			provision_file = optarg;
			break;
		case 'K':
			kek = 1;
			break;
		case 'R':
			kek = 1;
			new_kek = optarg;
			break;
		case 'V':
			printf("telgated %s\n", TELGATE_VERSION);
			return 0;
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return EXIT_USAGE;
		}
	}
	if (optind != argc) {
		usage(stderr);
		return EXIT_USAGE;
	}
	if (load_config(d.config_path, &d.cfg) != 0)
		return EXIT_CONFIG;
	if (check_only) {
		printf("%s: ok\n", d.config_path ? d.config_path : "(built-in defaults)");
		return 0;
	}
	if (kek)
		return kek_command(&d.cfg, new_kek);

	umask(077);
	signal(SIGPIPE, SIG_IGN);
	/* Secrets (passwords in flight, keys) must not reach a core file. */
	struct rlimit nocore = {0, 0};
	setrlimit(RLIMIT_CORE, &nocore);
	/* Every CTI session and SIP connection is a descriptor: use what the system allows. */
	struct rlimit nofile;
	if (getrlimit(RLIMIT_NOFILE, &nofile) == 0 && nofile.rlim_cur < nofile.rlim_max) {
		nofile.rlim_cur = nofile.rlim_max;
		setrlimit(RLIMIT_NOFILE, &nofile);
	}
	/* libldap must take every option from telgate's configuration, not from ldap.conf
	 * or an ldaprc in the working directory. */
	setenv("LDAPNOINIT", "1", 1);
	char err[512];
	if (log_configure(d.cfg.log.level, d.cfg.log.format, d.cfg.log.target, err, sizeof err) !=
	    0) {
		fprintf(stderr, "log: %s\n", err);
		return EXIT_CONFIG;
	}
	log_set_buffering(d.cfg.log.buffer_ms);
	log_cid_new(d.cid);
	/* From here this process is the monitor; only the network engine returns here with 1. */
	int status = EXIT_RUNTIME;
	d.ps.signer_fd = -1;
	if (privsep_start(&d.cfg, d.cid, &d.ps, &status) == 0)
		return status;
	xmlInitParser();
	if (loop_threads_init() != 0 || dir_passwd_init() != 0) {
		fprintf(stderr, "cannot initialise libevent threads or libsodium\n");
		return EXIT_RUNTIME;
	}
	if (daemon_start(&d, provision_file) == 0)
		status = loop_run(d.main) == 0 ? 0 : EXIT_RUNTIME;
	daemon_teardown(&d, status);
	return status;
}
