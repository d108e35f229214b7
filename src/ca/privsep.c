/* SPDX-License-Identifier: ISC */
#include "ca/privsep.h"

#include "ca/ca_cluster.h"
#include "ca/signer_proc.h"
#include "core/log.h"
#include "core/util.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define EXIT_RUNTIME 2
#define RESTART_GAP_MS 1000
#define SIGNER_STOP_WAIT_MS 5000

/* What the PKI child tells the monitor (one write, below PIPE_BUF). */
struct pki_msg {
	int rc;
	char err[512];
	struct ca_bootstrap_result res;
};

struct monitor {
	const struct tg_config *cfg;
	const char *cid;
	sigset_t sigs, old;
	int sfd; /* the signer's end of the socketpair, kept for its successors */
	pid_t monitor, engine, signer; /* monitor: this process (getpid() at start) */
	struct signer *keys;
	unsigned restarts;
	int64_t signer_started_ms;
	int restart_due;
};

static int exit_status(int st)
{
	if (WIFEXITED(st))
		return WEXITSTATUS(st);
	return WIFSIGNALED(st) ? 128 + WTERMSIG(st) : EXIT_RUNTIME;
}

/* The second part in a cluster (ca/ca_cluster.h), after the engine was forked: the RSA
 * signers and the token keys; res.ca_created carries what ca_cluster_signers made. */
static int signers_child(const struct tg_config *cfg, const char *cid, int wfd)
{
	struct pki_msg m;
	memset(&m, 0, sizeof m);
	struct store_options so;
	struct ca_cluster_options co;
	ca_cluster_options_of(cfg, cid, &so, &co);
	m.rc = ca_cluster_signers(&co, &m.res.ca_created, m.err, sizeof m.err);
	ssize_t w = write(wfd, &m, sizeof m);
	close(wfd);
	return w == (ssize_t)sizeof m && m.rc == 0 ? 0 : EXIT_RUNTIME;
}

static int pki_child(const struct tg_config *cfg, const char *cid, int wfd, int signers)
{
	if (signers)
		return signers_child(cfg, cid, wfd);
	struct pki_msg m;
	memset(&m, 0, sizeof m);
	if (cfg->pki.kek_file[0]) {
		/* A cluster: the keys come from (or go to) the store under the KEK. */
		struct store_options so;
		struct ca_cluster_options co;
		ca_cluster_options_of(cfg, cid, &so, &co);
		m.rc = ca_cluster_keys(&co, &m.res, m.err, sizeof m.err);
	} else {
		m.rc = ca_bootstrap(cfg->pki.dir, cfg->core.node_id, cfg->pki.server_names,
		                    cfg->pki.server_days, &m.res, m.err, sizeof m.err);
	}
	if (m.rc == 0)
		log_ev(LOG_LVL_NOTICE, cid, "pki_ready", LOG_S("dir", cfg->pki.dir),
		       LOG_S("ca_created", m.res.ca_created ? "yes" : "no"),
		       LOG_S("server_cert_created", m.res.server_created ? "yes" : "no"),
		       LOG_S("ca_sha256", m.res.ca_fingerprint));
	else
		log_ev(LOG_LVL_CRIT, cid, "pki_failed", LOG_S("error", m.err));
	ssize_t w = write(wfd, &m, sizeof m);
	close(wfd);
	return w == (ssize_t)sizeof m && m.rc == 0 ? 0 : EXIT_RUNTIME;
}

/* Runs the PKI child (signers: the cluster's second part) and reads its result. 0, or -1
 * (said on stderr). */
static int make_pki(struct monitor *m, struct ca_bootstrap_result *res, int *in_child, int *status,
                    int signers)
{
	int p[2];
	if (pipe(p) != 0) {
		fprintf(stderr, "pki: pipe: %s\n", strerror(errno));
		return -1;
	}
	pid_t pid = fork();
	if (pid < 0) {
		fprintf(stderr, "pki: fork: %s\n", strerror(errno));
		close(p[0]);
		close(p[1]);
		return -1;
	}
	if (pid == 0) {
		close(p[0]);
		*in_child = 1;
		*status = pki_child(m->cfg, m->cid, p[1], signers);
		return 0;
	}
	close(p[1]);
	struct pki_msg msg;
	ssize_t n;
	do
		n = read(p[0], &msg, sizeof msg);
	while (n < 0 && errno == EINTR);
	close(p[0]);
	int st = 0;
	while (waitpid(pid, &st, 0) < 0 && errno == EINTR)
		;
	if (n != (ssize_t)sizeof msg || msg.rc != 0) {
		fprintf(stderr, "pki: %s\n", n == (ssize_t)sizeof msg ? msg.err : "failed");
		return -1;
	}
	*res = msg.res;
	return 0;
}

/* The signing keys are root's alone (0600): an older telgated gave ca.key to the service
 * user, which the network engine runs as. Only when the monitor runs as root. */
static void own_keys(const char *dir)
{
	if (geteuid() != 0)
		return;
	for (int k = 1; k < SIGNER_NKEYS; k++) {
		char p[CFG_PATH_MAX + 32];
		snprintf(p, sizeof p, "%s/%s.key", dir, signer_key_file((enum signer_key)k));
		if (chown(p, 0, 0) == 0)
			chmod(p, 0600);
	}
}

void privsep_orphan_guard(pid_t monitor, int sig)
{
	if (prctl(PR_SET_PDEATHSIG, sig) != 0 || getppid() != monitor)
		kill(getpid(), sig);
}

/* Forks a signer on m->sfd. In the child, returns 1 with *status to exit with. */
static int fork_signer(struct monitor *m, int *status)
{
	pid_t pid = fork();
	if (pid < 0) {
		log_ev(LOG_LVL_CRIT, m->cid, "signer_fork_failed", LOG_S("error", strerror(errno)));
		m->restart_due = 1;
		m->signer_started_ms = tg_mono_ms();
		return 0;
	}
	if (pid == 0) {
		sigprocmask(SIG_SETMASK, &m->old, NULL);
		privsep_orphan_guard(m->monitor, SIGKILL);
		const struct signer_proc_options o = {.fd = m->sfd,
		                                      .keys = signer_local_keys(m->keys),
		                                      .restarts = m->restarts,
		                                      .nice = m->cfg->pki.signer_nice,
		                                      .cid = m->cid};
		int rc = signer_proc_run(&o);
		signer_free(m->keys);
		*status = rc == 0 ? 0 : EXIT_RUNTIME;
		return 1;
	}
	m->signer = pid;
	m->restart_due = 0;
	m->signer_started_ms = tg_mono_ms();
	return 0;
}

static void reap(struct monitor *m, int *engine_status)
{
	int st;
	pid_t pid;
	while ((pid = waitpid(-1, &st, WNOHANG)) > 0) {
		if (pid == m->engine) {
			*engine_status = st;
			m->engine = 0;
			log_ev(WIFEXITED(st) && WEXITSTATUS(st) == 0 ? LOG_LVL_INFO : LOG_LVL_ERROR,
			       m->cid, "engine_exited", LOG_I("pid", pid),
			       LOG_I("status", exit_status(st)));
		} else if (pid == m->signer) {
			m->signer = 0;
			/* A signer ends by itself only when the engine's end closed. */
			if (m->engine && !(WIFEXITED(st) && WEXITSTATUS(st) == 0)) {
				m->restarts++;
				m->restart_due = 1;
				log_ev(LOG_LVL_ERROR, m->cid, "signer_exited", LOG_I("pid", pid),
				       LOG_I("status", exit_status(st)),
				       LOG_I("signal", WIFSIGNALED(st) ? WTERMSIG(st) : 0),
				       LOG_U("restarts", m->restarts));
			}
		}
	}
}

/* The monitor's loop, until the engine ends. Returns 1 in a forked signer (*status set). */
static int watch(struct monitor *m, int *engine_status, int *status)
{
	while (m->engine) {
		struct timespec wait = {0, 0}, *tp = NULL;
		if (m->restart_due) {
			int64_t left = m->signer_started_ms + RESTART_GAP_MS - tg_mono_ms();
			if (left <= 0) {
				if (fork_signer(m, status))
					return 1;
				continue;
			}
			wait.tv_sec = left / 1000;
			wait.tv_nsec = (left % 1000) * 1000000L;
			tp = &wait;
		}
		siginfo_t si;
		int sig = tp ? sigtimedwait(&m->sigs, &si, tp) : sigwaitinfo(&m->sigs, &si);
		if (sig == SIGTERM || sig == SIGINT || sig == SIGHUP)
			kill(m->engine, sig);
		else if (sig == SIGCHLD)
			reap(m, engine_status);
	}
	return 0;
}

/* After the engine: the signer sees its socket close; it gets a few seconds, then SIGKILL. */
static void stop_signer(struct monitor *m)
{
	close(m->sfd);
	int64_t deadline = tg_mono_ms_live() + SIGNER_STOP_WAIT_MS;
	int st;
	while (m->signer) {
		pid_t pid = waitpid(m->signer, &st, WNOHANG);
		if (pid == m->signer || (pid < 0 && errno != EINTR))
			break;
		int64_t left = deadline - tg_mono_ms_live();
		if (left <= 0) {
			kill(m->signer, SIGKILL);
			waitpid(m->signer, &st, 0);
			break;
		}
		siginfo_t si;
		struct timespec ts = {0, (left > 100 ? 100 : left) * 1000000L};
		sigtimedwait(&m->sigs, &si, &ts);
	}
	m->signer = 0;
}

int privsep_start(const struct tg_config *cfg, const char *cid, struct privsep_engine *e,
                  int *status)
{
	struct monitor m = {.cfg = cfg, .cid = cid, .sfd = -1, .monitor = getpid()};
	*status = EXIT_RUNTIME;
	sigemptyset(&m.sigs);
	sigaddset(&m.sigs, SIGCHLD);
	sigaddset(&m.sigs, SIGTERM);
	sigaddset(&m.sigs, SIGINT);
	sigaddset(&m.sigs, SIGHUP);
	/* Blocked from here: a signal before the engine exists waits for it. */
	sigprocmask(SIG_BLOCK, &m.sigs, &m.old);
	int in_child = 0;
	struct ca_bootstrap_result pki;
	if (tg_mkdir_p(cfg->core.state_dir, 0700) != 0 ||
	    make_pki(&m, &pki, &in_child, status, 0) != 0)
		return 0;
	if (in_child)
		return 0;
	int sv[2];
	if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) != 0) {
		fprintf(stderr, "signer: socketpair: %s\n", strerror(errno));
		return 0;
	}
	m.engine = fork();
	if (m.engine < 0) {
		fprintf(stderr, "fork: %s\n", strerror(errno));
		return 0;
	}
	if (m.engine == 0) {
		close(sv[1]);
		privsep_orphan_guard(m.monitor, SIGTERM);
		prctl(PR_SET_DUMPABLE, 0);
		sigprocmask(SIG_SETMASK, &m.old, NULL);
		e->signer_fd = sv[0];
		e->monitor = m.monitor;
		e->pki = pki;
		return 1;
	}
	close(sv[0]);
	m.sfd = sv[1];
	prctl(PR_SET_DUMPABLE, 0);
	log_ev(LOG_LVL_INFO, cid, "monitor_started", LOG_I("pid", getpid()),
	       LOG_I("engine_pid", m.engine));

	int engine_status = 0, created = 0;
	char err[512];
	own_keys(cfg->pki.dir);
	int made = 0;
	if (cfg->pki.kek_file[0]) {
		/* A cluster: the signers come from (or go to) the store, in a child that alone
		 * reads the KEK. */
		struct ca_bootstrap_result r2;
		made = make_pki(&m, &r2, &in_child, status, 1);
		if (in_child)
			return 0;
		created = r2.ca_created;
		snprintf(err, sizeof err, "the cluster's signing keys (said above)");
	} else {
		made = ca_bootstrap_signers(cfg->pki.dir, cfg->core.node_id, &created, err,
		                            sizeof err);
	}
	if (made != 0 || !(m.keys = signer_local_new(cfg->pki.dir, err, sizeof err))) {
		/* Keys that exist but cannot be used: no signer, so no telgated. */
		fprintf(stderr, "signer: %s\n", err);
		log_ev(LOG_LVL_CRIT, cid, "signer_keys_failed", LOG_S("error", err));
		kill(m.engine, SIGTERM);
	} else {
		if (created)
			log_ev(LOG_LVL_NOTICE, cid, "signer_keys_created",
			       LOG_S("trustlist", created & 1 ? "yes" : "no"),
			       LOG_S("recovery", created & 2 ? "yes" : "no"));
		if (fork_signer(&m, status))
			return 0;
	}
	if (watch(&m, &engine_status, status))
		return 0;
	stop_signer(&m);
	*status = m.keys ? exit_status(engine_status) : EXIT_RUNTIME;
	signer_free(m.keys);
	return 0;
}
