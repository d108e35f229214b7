/* SPDX-License-Identifier: ISC */
/* telgated: reads the configuration, opens the store, makes the PKI on first start,
 * starts the loop threads, the worker pool and the control socket, and runs until
 * SIGTERM/SIGINT (drain, then exit 0). SIGHUP reloads the configuration in place. */
#include "admin/admin.h"
#include "admin/admin_http.h"
#include "core/devstate.h"
#include "ca/ca_bootstrap.h"
#include "cti/server.h"
#include "dir/dir.h"
#include "sip/registrar.h"
#include "core/config.h"
#include "core/ctl.h"
#include "core/log.h"
#include "core/loop.h"
#include "core/ports.h"
#include "core/stream.h"
#include "core/tlsctx.h"
#include "core/util.h"
#include "core/worker.h"
#include "dir/passwd.h"
#include "provision/import.h"
#include "store/store.h"

#include <errno.h>
#include <event2/event.h>
#include <getopt.h>
#include <libxml/parser.h>
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
	store_t *store;
	struct loop *main;
	struct loop_group *loops;
	struct workers *workers;
	struct dir *dir;
	struct cti_server *cti;
	struct sip_registrar *sip;
	struct admin_http *admin_http; /* NULL when [admin] http_port = 0 */
	struct devstate *devstate;     /* the device-state bus: registrar -> CTI */
	struct ctl_server *ctl;
	struct admin_ctx admin;
	struct event *sig_hup, *sig_term, *sig_int, *drain_timer, *tls_timer;
	int64_t drain_deadline_ms;
	char cid[LOG_CID_SIZE];
};

static void usage(FILE *f)
{
	fprintf(f,
	        "usage: telgated [-c FILE] [--check-config] [--provision FILE.json]\n"
	        "       telgated --version | --help\n"
	        "  -c, --config FILE      node configuration (INI); built-in defaults if absent\n"
	        "      --check-config     validate the configuration and exit (0 ok, 1 error)\n"
	        "      --provision FILE   import FILE.json into the store before serving\n");
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
		log_event(LOG_LVL_NOTICE, cid, "reload", "result", "nothing to reload", "reason",
		          "running on built-in defaults", (const char *)NULL);
		return;
	}
	struct tg_config next;
	struct config_error e;
	if (config_load(d->config_path, &next, &e) != 0) {
		char msg[600];
		config_error_format(&e, msg, sizeof msg);
		log_event(LOG_LVL_ERROR, cid, "reload", "result", "rejected", "error", msg,
		          (const char *)NULL);
		return;
	}
	char restart[512], err[256];
	int n = config_restart_needed(&d->cfg, &next, restart, sizeof restart);
	if (log_configure(next.log.level, next.log.format, next.log.target, err, sizeof err) != 0) {
		log_event(LOG_LVL_ERROR, cid, "reload", "result", "rejected", "error", err,
		          (const char *)NULL);
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
	log_event(LOG_LVL_NOTICE, cid, "reload", "result", "applied", "config", d->config_path,
	          "log_level", log_level_name(applied.log.level), "restart_needed_for",
	          n ? restart : NULL, (const char *)NULL);
}

/* Replaced certificate, key or trust-store files are picked up within two seconds. */
static void on_tls_tick(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	(void)arg;
	tlsctx_check_all(0);
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
	if (busy == 0 || tg_mono_ms() >= d->drain_deadline_ms) {
		if (busy) {
			char n[24];
			snprintf(n, sizeof n, "%zu", busy);
			log_event(LOG_LVL_WARNING, d->cid, "drain_timeout", "unfinished", n,
			          (const char *)NULL);
		}
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
	log_event(LOG_LVL_NOTICE, d->cid, "draining", "signal", fd == SIGINT ? "INT" : "TERM",
	          (const char *)NULL);
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
	const char *keys[] = {"ca.key", "ca.crt", "server.key", "server.crt"};
	for (size_t i = 0; i < 4; i++) {
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
	struct prov_options o = {.pw = {d->cfg.password.argon2_t, d->cfg.password.argon2_m_kib},
	                         .sip_realm = d->cfg.sip.realm};
	struct prov_result res;
	char err[512];
	rc = prov_import(d->store, text, len, &o, &res, err, sizeof err);
	sodium_memzero(text, len); /* it may hold plain-text passwords */
	free(text);
	if (rc != 0) {
		fprintf(stderr, "--provision %s: nothing imported: %s\n", file, err);
		log_event(LOG_LVL_ERROR, d->cid, "provision_failed", "file", file, "error", err,
		          (const char *)NULL);
		return -1;
	}
	char n[4][16];
	snprintf(n[0], sizeof n[0], "%d", res.users);
	snprintf(n[1], sizeof n[1], "%d", res.devices);
	snprintf(n[2], sizeof n[2], "%d", res.associations);
	snprintf(n[3], sizeof n[3], "%d", res.parameters);
	log_event(LOG_LVL_NOTICE, d->cid, "provisioned", "file", file, "users", n[0], "devices",
	          n[1], "associations", n[2], "parameters", n[3], (const char *)NULL);
	return 0;
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
	    {"config", required_argument, NULL, 'c'},
	    {"check-config", no_argument, NULL, 'C'},
	    {"provision", required_argument, NULL, 'P'},
	    {"version", no_argument, NULL, 'V'},
	    {"help", no_argument, NULL, 'h'},
	    {NULL, 0, NULL, 0},
	};
	struct daemon d;
	memset(&d, 0, sizeof d);
	int check_only = 0, opt;
	const char *provision_file = NULL;
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
	log_cid_new(d.cid);
	xmlInitParser();
	if (loop_threads_init() != 0 || dir_passwd_init() != 0) {
		fprintf(stderr, "cannot initialise libevent threads or libsodium\n");
		return EXIT_RUNTIME;
	}
	int rc = tg_mkdir_p(d.cfg.core.state_dir, 0700);
	if (rc != 0) {
		fprintf(stderr, "core.state_dir %s: %s\n", d.cfg.core.state_dir, strerror(-rc));
		return EXIT_RUNTIME;
	}
	struct ca_bootstrap_result pki;
	if (ca_bootstrap(d.cfg.pki.dir, d.cfg.core.node_id, d.cfg.pki.server_names,
	                 d.cfg.pki.server_days, &pki, err, sizeof err) != 0) {
		fprintf(stderr, "pki: %s\n", err);
		log_event(LOG_LVL_CRIT, d.cid, "pki_failed", "error", err, (const char *)NULL);
		return EXIT_RUNTIME;
	}
	log_event(LOG_LVL_NOTICE, d.cid, "pki_ready", "dir", d.cfg.pki.dir, "ca_created",
	          pki.ca_created ? "yes" : "no", "server_cert_created",
	          pki.server_created ? "yes" : "no", "ca_sha256", pki.ca_fingerprint,
	          (const char *)NULL);
	struct store_options so = {d.cfg.store.backend, d.cfg.store.path,
	                           d.cfg.store.busy_timeout_ms};
	if (store_open(&so, &d.store, err, sizeof err) != STORE_OK) {
		fprintf(stderr, "store: %s\n", err);
		log_event(LOG_LVL_CRIT, d.cid, "store_failed", "error", err, (const char *)NULL);
		return EXIT_RUNTIME;
	}
	if (provision_file && provision(&d, provision_file) != 0) {
		store_close(d.store);
		return EXIT_RUNTIME;
	}

	/* Signals are taken by the main loop only: block them before threads start. */
	sigset_t set, old;
	sigemptyset(&set);
	sigaddset(&set, SIGHUP);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	pthread_sigmask(SIG_BLOCK, &set, &old);
	int nloops = d.cfg.core.threads ? d.cfg.core.threads : loop_ncores();
	int nworkers = d.cfg.core.workers ? d.cfg.core.workers : loop_ncores();
	fd_budget(&d, nloops, nworkers);
	d.loops = loop_group_start(nloops);
	d.workers = workers_start(nworkers, 1024);
	d.main = loop_new("main");
	d.devstate = devstate_new();
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	int status = EXIT_RUNTIME;
	if (!d.loops || !d.workers || !d.main || !d.devstate) {
		fprintf(stderr, "cannot start threads\n");
		goto out;
	}
	admin_init(&d.admin, d.store, &d.cfg);
	d.admin.nloops = nloops;
	d.admin.nworkers = nworkers;
	d.admin.pki = pki;
	d.admin.devstate = d.devstate;
	struct dir_options dopt = {d.store, &d.cfg, NULL, NULL};
	pthread_sigmask(SIG_BLOCK, &set, NULL);
	d.dir = dir_start(&dopt, err, sizeof err);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (!d.dir) {
		fprintf(stderr, "directory: %s\n", err);
		log_event(LOG_LVL_CRIT, d.cid, "dir_failed", "error", err, (const char *)NULL);
		goto out_admin;
	}
	d.admin.dir = d.dir;
	err[0] = '\0';
	d.ctl = ctl_server_start(d.main, d.workers, d.cfg.core.control_socket, admin_handle,
	                         &d.admin, err, sizeof err);
	if (!d.ctl) {
		fprintf(stderr, "control socket: %s\n", err);
		goto out_admin;
	}
	ports_name("unix", 0, d.cfg.core.control_socket, "control");
	struct cti_server_options co = {.cfg = &d.cfg,
	                                .store = d.store,
	                                .dir = d.dir,
	                                .workers = d.workers,
	                                .loops = d.loops,
	                                .devstate = d.devstate,
	                                .tls_cert = pki.server_cert,
	                                .tls_key = pki.server_key};
	err[0] = '\0';
	d.cti = cti_server_start(&co, err, sizeof err);
	if (!d.cti) {
		fprintf(stderr, "cti: %s\n", err);
		log_event(LOG_LVL_CRIT, d.cid, "cti_failed", "error", err, (const char *)NULL);
		goto out_admin;
	}
	d.admin.cti = d.cti;
	struct sip_registrar_options so2 = {&d.cfg, d.store,         d.workers,     d.loops,
	                                    d.cti,  pki.server_cert, pki.server_key};
	err[0] = '\0';
	d.sip = sip_registrar_start(&so2, err, sizeof err);
	if (!d.sip) {
		fprintf(stderr, "sip: %s\n", err);
		log_event(LOG_LVL_CRIT, d.cid, "sip_failed", "error", err, (const char *)NULL);
		goto out_admin;
	}
	d.admin.sip = d.sip;
	d.admin.workers = d.workers;
	if (d.cfg.admin.http_port) {
		err[0] = '\0';
		d.admin_http =
		    admin_http_start(&d.admin, d.loops, d.workers, d.cfg.admin.http_address,
		                     d.cfg.admin.http_port, err, sizeof err);
		if (!d.admin_http) {
			fprintf(stderr, "admin http: %s\n", err);
			log_ev(LOG_LVL_CRIT, d.cid, "admin_http_failed", LOG_S("error", err));
			goto out_admin;
		}
	}
	if (drop_privileges(&d.cfg) != 0)
		goto out_admin;
	struct event_base *base = loop_base(d.main);
	d.sig_hup = evsignal_new(base, SIGHUP, on_reload, &d);
	d.sig_term = evsignal_new(base, SIGTERM, on_terminate, &d);
	d.sig_int = evsignal_new(base, SIGINT, on_terminate, &d);
	evsignal_add(d.sig_hup, NULL);
	evsignal_add(d.sig_term, NULL);
	evsignal_add(d.sig_int, NULL);
	d.tls_timer = event_new(base, -1, EV_PERSIST, on_tls_tick, &d);
	struct timeval two = {2, 0};
	if (d.tls_timer)
		event_add(d.tls_timer, &two);
	char pid[16], nl[8], nw[8];
	snprintf(pid, sizeof pid, "%ld", (long)getpid());
	snprintf(nl, sizeof nl, "%d", nloops);
	snprintf(nw, sizeof nw, "%d", nworkers);
	log_event(LOG_LVL_NOTICE, d.cid, "started", "version", TELGATE_VERSION, "pid", pid,
	          "config", d.config_path ? d.config_path : "(built-in defaults)", "store",
	          d.cfg.store.path, "control_socket", d.cfg.core.control_socket, "loop_threads", nl,
	          "worker_threads", nw, (const char *)NULL);
	status = loop_run(d.main) == 0 ? 0 : EXIT_RUNTIME;

	/* Shutdown order: no new connections or jobs, finish running ones, then the loops
	 * they post to; the CTI server's memory goes last (late callbacks may touch it). */
	admin_http_stop(d.admin_http);
	d.admin_http = NULL;
	sip_registrar_stop(d.sip);
	cti_server_stop(d.cti);
	workers_stop(d.workers);
	d.workers = NULL;
	dir_stop(d.dir);
	d.dir = NULL;
	event_free(d.sig_hup);
	event_free(d.sig_term);
	event_free(d.sig_int);
	if (d.drain_timer)
		event_free(d.drain_timer);
	if (d.tls_timer)
		event_free(d.tls_timer);
out_admin:
	admin_http_stop(d.admin_http); /* before the admin context it reads */
	ctl_server_free(d.ctl);
	admin_destroy(&d.admin);
out:
	sip_registrar_stop(d.sip);
	cti_server_stop(d.cti);
	workers_stop(d.workers);
	dir_stop(d.dir);
	loop_group_stop(d.loops);
	sip_registrar_free(d.sip);
	cti_server_free(d.cti);
	loop_free(d.main);
	devstate_free(d.devstate); /* after every publisher and subscriber stopped */
	store_close(d.store);
	log_event(LOG_LVL_NOTICE, d.cid, "stopped", "exit", status ? "error" : "clean",
	          (const char *)NULL);
	return status;
}
