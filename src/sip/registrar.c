/* SPDX-License-Identifier: ISC */
#include "sip/registrar.h"
#include "sip/devlink.h"
#include "core/conncap.h"
#include "core/log.h"
#include "core/loop.h"
#include "core/ports.h"
#include "core/stream.h"
#include "tls/tlsctx.h"
#include "core/util.h"
#include "core/devstate.h"
#include "sip/edge.h"
#include "sip/location.h"
#include "sip/msg.h"
#include "sip/register.h"
#include "sip/transport.h"
#include "core/udp.h"
#include "core/worker.h"

#include <pthread.h>
#include <stdatomic.h>

#include <event2/event.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

struct sip_registrar {
	struct tg_config cfg;
	store_t *store;
	struct loop_group *lg;
	struct devstate *devstate;
	int nloops;
	struct tlsctx *tls, *edge_tls;
	struct sip_edges *edges;
	struct conncap *caps;     /* shared by every SIP stream listener */
	struct sip_loc *loc;      /* the bindings */
	struct sip_devlink *link; /* other nodes' device state (a cluster's) */
	struct sip_reg *reg;      /* decides REGISTERs */
	struct sip_transport *tp; /* the sockets */
	struct event *sweep;
	/* SIP OAuth (issue 19): the 5090 listener, open while ClusterSIPOAuthMode is 1 */
	struct workers *workers;
	const char *tls_cert, *tls_key; /* the daemon's, for the 5090 context */
	pthread_mutex_t oauth_mu;       /* one sip_registrar_oauth_apply at a time */
	struct tlsctx *oauth_tls;       /* made at the first opening, for oauth_port */
	int oauth_port;                 /* the port open now, 0 = closed */
	int oauth_port_tls;             /* the port oauth_tls was made for */
	uint64_t oauth_gen;             /* store_generation at the last apply (the sweep) */
	_Atomic int oauth_queued;       /* an apply job is queued by the sweep */
	int stopped;                    /* under oauth_mu: sip_registrar_stop ran */
};

/* --- expiry ------------------------------------------------------------------------- */

static void expired(void *ud, const char *device)
{
	struct sip_registrar *r = ud;
	log_ev(LOG_LVL_INFO, NULL, "sip_registration_expired", LOG_S("device", device));
	if (r->devstate)
		devstate_publish(r->devstate, device, 0);
}

static void oauth_job(void *arg)
{
	struct sip_registrar *r = arg;
	char err[256];
	(void)sip_registrar_oauth_apply(r, NULL, err, sizeof err);
}

static void oauth_job_done(void *arg)
{
	struct sip_registrar *r = arg;
	atomic_store(&r->oauth_queued, 0);
}

/* Every second on the first loop: the table is in memory, the store learns behind; and
 * when the store changed (`set param`, `utils sipOAuth-mode`, an import), a worker looks
 * at ClusterSIPOAuthMode again: the 5090 listener follows it without a restart. */
static void on_sweep(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	struct sip_registrar *r = arg;
	sip_loc_expire(r->loc, tg_now_s(), expired, r);
	uint64_t gen = store_generation(r->store);
	if (r->workers && gen != r->oauth_gen && !atomic_exchange(&r->oauth_queued, 1)) {
		r->oauth_gen = gen;
		if (workers_submit(r->workers, oauth_job, oauth_job_done, r,
		                   loop_group_get(r->lg, 0)) != 0) {
			atomic_store(&r->oauth_queued, 0);
			r->oauth_gen = 0; /* try again next second */
		}
	}
}

/* --- SIP OAuth: the 5090 listener ----------------------------------------------------- */

struct oauth_open {
	struct sip_registrar *r;
	int (*fds)[STREAM_ADDR_MAX]; /* per loop: one socket per address of sip.address */
	int n;                       /* addresses bound */
};

static void oauth_open_on_loop(struct loop *l, int i, void *arg)
{
	(void)l;
	struct oauth_open *op = arg;
	int ok = sip_transport_listen(op->r->tp, i, SIP_CONN_OAUTH, op->fds[i][0]) == 0;
	op->fds[i][0] = -1; /* taken */
	for (int a = 1; a < op->n; a++) {
		if (ok)
			(void)sip_transport_listen_more(op->r->tp, i, SIP_CONN_OAUTH,
			                                op->fds[i][a]);
		else
			close(op->fds[i][a]);
		op->fds[i][a] = -1; /* taken or closed */
	}
}

static void oauth_close_on_loop(struct loop *l, int i, void *arg)
{
	(void)l;
	struct sip_registrar *r = arg;
	sip_transport_unlisten(r->tp, i, SIP_CONN_OAUTH);
}

/* This node's sipoauthport (processnode, written at start from the configuration). */
static int oauth_port_of_node(struct sip_registrar *r)
{
	struct store_processnode n;
	if (store_processnode_get(r->store, r->cfg.core.node_id, &n) != STORE_OK)
		return 0;
	return n.sipoauthport;
}

/* Opens the listener on port on every loop (TLS with the policy of kind sip-tls, no
 * client certificate). 0, or -1 with err. */
static int oauth_open(struct sip_registrar *r, int port, char *err, size_t errlen)
{
	if (!r->oauth_tls || r->oauth_port_tls != port) {
		struct tlsctx_options to = {.name = "sip-oauth",
		                            .cert = r->tls_cert,
		                            .key = r->tls_key,
		                            .kind = "sip-tls",
		                            .address = r->cfg.sip.address,
		                            .port = port};
		struct tlsctx *t = tlsctx_new(&to, err, errlen);
		if (!t)
			return -1;
		tlsctx_free(r->oauth_tls); /* no listener uses it: closed before */
		r->oauth_tls = t;
		r->oauth_port_tls = port;
		sip_transport_set_tls(r->tp, SIP_CONN_OAUTH, t);
	}
	int(*fds)[STREAM_ADDR_MAX] = calloc((size_t)r->nloops, sizeof *fds);
	if (!fds) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	/* Every address of sip.address, as the other SIP stream listeners. */
	int n = 0;
	for (int i = 0; i < r->nloops; i++) {
		char e[160];
		int got = stream_bind_list(r->cfg.sip.address, (uint16_t)port, SOCK_STREAM, fds[i],
		                           e, sizeof e);
		if (got < 0) {
			snprintf(err, errlen, "sip oauth port %s", e);
			for (int k = 0; k < i; k++)
				for (int a = 0; a < n; a++)
					close(fds[k][a]);
			free(fds);
			return -1;
		}
		n = got;
	}
	struct oauth_open op = {r, fds, n};
	loop_run_all(r->lg, oauth_open_on_loop, &op);
	for (int i = 0; i < r->nloops; i++) /* a loop that was stopping */
		for (int a = 0; a < n; a++)
			if (fds[i][a] >= 0)
				close(fds[i][a]);
	free(fds);
	ports_name("tcp", (unsigned)port, NULL, "sip-oauth");
	r->oauth_port = port;
	return 0;
}

int sip_registrar_oauth_port(struct sip_registrar *r)
{
	pthread_mutex_lock(&r->oauth_mu);
	int port = r->oauth_port;
	pthread_mutex_unlock(&r->oauth_mu);
	return port;
}

int sip_registrar_oauth_apply(struct sip_registrar *r, int *open_port, char *err, size_t errlen)
{
	char v[16] = "0";
	int rc = store_param_get(r->store, "ClusterSIPOAuthMode", v, sizeof v);
	if (rc != STORE_OK && rc != STORE_NOTFOUND) {
		snprintf(err, errlen, "ClusterSIPOAuthMode: %s", store_last_error());
		return -1;
	}
	int on = strcmp(v, "1") == 0; /* as cnf.xml reads it (cnf_load.c) */
	int port = on ? oauth_port_of_node(r) : 0;
	pthread_mutex_lock(&r->oauth_mu);
	if (r->stopped) {
		pthread_mutex_unlock(&r->oauth_mu);
		snprintf(err, errlen, "the registrar is stopping");
		return -1;
	}
	int was = r->oauth_port, ret = 0;
	if (r->oauth_port && r->oauth_port != port) {
		loop_run_all(r->lg, oauth_close_on_loop, r);
		r->oauth_port = 0;
	}
	/* The mode first when it goes on (a REGISTER on the new port sees it on), last when
	 * it goes off (5060/5061 refuse OAuth devices' digest until 5090 is gone). */
	if (on)
		sip_reg_set_oauth_mode(r->reg, 1);
	if (port && !r->oauth_port && oauth_open(r, port, err, errlen) != 0)
		ret = -1;
	if (!on)
		sip_reg_set_oauth_mode(r->reg, 0);
	if (was != r->oauth_port || ret != 0)
		log_ev(ret ? LOG_LVL_ERROR : LOG_LVL_NOTICE, NULL, "sip_oauth_mode",
		       LOG_I("mode", on), LOG_I("port", r->oauth_port), LOG_I("was", was),
		       LOG_S("address", r->cfg.sip.address), LOG_S("error", ret ? err : NULL));
	if (open_port)
		*open_port = r->oauth_port;
	pthread_mutex_unlock(&r->oauth_mu);
	return ret;
}

/* Devices with live bindings at start are in service (a restart keeps registrations);
 * the list comes ordered by device. */
struct restore {
	struct sip_registrar *r;
	char last[STORE_ID_MAX + 1];
};

static int restore_dev(void *ud, const struct store_registration *reg)
{
	struct restore *rs = ud;
	if (strcmp(rs->last, reg->device) != 0 && rs->r->devstate)
		devstate_publish(rs->r->devstate, reg->device, 1);
	tg_strlcpy(rs->last, reg->device, sizeof rs->last);
	return 0;
}

/* --- the administrator's requests ---------------------------------------------------- */

int sip_registrar_edges_reload(struct sip_registrar *r)
{
	int n = sip_edges_load(r->edges, r->store);
	if (n >= 0)
		log_ev(LOG_LVL_NOTICE, NULL, "sip_edges_loaded", LOG_I("identities", n));
	return n;
}

static int clear_all(void *ud, struct store_registration *b, int *n, int cap)
{
	(void)ud;
	(void)b;
	(void)cap;
	*n = 0;
	return 0;
}

int sip_registrar_unregister(struct sip_registrar *r, const char *device)
{
	int before = 0;
	if (sip_loc_update(r->loc, device, tg_now_s(), clear_all, NULL, &before, NULL, NULL) != 0)
		return -1;
	if (r->devstate)
		devstate_publish(r->devstate, device, 0);
	return before;
}

int sip_registrar_registrations(struct sip_registrar *r, const char *device,
                                int (*fn)(void *ud, const struct store_registration *b), void *ud)
{
	return sip_loc_list(r->loc, device, tg_now_s(), fn, ud);
}

void sip_registrar_sync(struct sip_registrar *r)
{
	sip_loc_sync(r->loc);
}

void sip_registrar_stats(struct sip_registrar *r, struct sip_registrar_stats *out)
{
	sip_transport_stats(r->tp, out);
	out->nonce_replays = sip_reg_nonce_replays(r->reg);
	long devices = 0, bindings = 0;
	sip_loc_counts(r->loc, tg_now_s(), &devices, &bindings);
	out->bindings = (uint64_t)bindings;
}

const struct sip_loc_stats *sip_registrar_commit_stats(struct sip_registrar *r)
{
	return sip_loc_stats(r->loc);
}

/* --- start and stop ----------------------------------------------------------------- */

/* A loop's sockets, bound before the loops start serving them. */
struct setup {
	struct sip_registrar *r;
	int udp;                 /* -1 = off */
	int fds[SIP_CONN_KINDS]; /* TCP, TLS, edge listeners (enum sip_conn_kind), -1 = off;
	                            the OAuth one opens later (sip_registrar_oauth_apply) */
	/* The same listeners on the other addresses of sip.address (-1 once taken). */
	int more[SIP_CONN_KINDS][STREAM_ADDR_MAX - 1];
	int nmore[SIP_CONN_KINDS];
};

/* On loop i (loop_run_all): its sockets served. */
static void setup_on_loop(struct loop *l, int i, void *arg)
{
	(void)l;
	struct setup *su = (struct setup *)arg + i;
	sip_transport_open(su->r->tp, i, su->udp, su->fds);
	for (int k = 0; k < SIP_CONN_KINDS; k++)
		for (int a = 0; a < su->nmore[k]; a++) {
			(void)sip_transport_listen_more(su->r->tp, i, (enum sip_conn_kind)k,
			                                su->more[k][a]);
			su->more[k][a] = -1;
		}
}

/* On loop i (loop_run_all): everything setup_on_loop made, and every connection. */
static void teardown_on_loop(struct loop *l, int i, void *arg)
{
	(void)l;
	struct sip_registrar *r = arg;
	sip_transport_close(r->tp, i);
	if (i == 0 && r->sweep) {
		event_free(r->sweep);
		r->sweep = NULL;
	}
}

static void setup_close(struct setup *su, int n)
{
	for (int i = 0; i < n; i++) {
		if (su[i].udp >= 0)
			close(su[i].udp);
		for (int k = 0; k < SIP_CONN_KINDS; k++) {
			if (su[i].fds[k] >= 0)
				close(su[i].fds[k]);
			for (int a = 0; a < su[i].nmore[k]; a++)
				if (su[i].more[k][a] >= 0)
					close(su[i].more[k][a]);
		}
	}
}

/* Binds every loop's sockets (SO_REUSEPORT: one of each per loop): the stream listeners
 * on every address of sip.address, UDP on its first. 0, or -1 with err. */
static int bind_all(struct sip_registrar *r, struct setup *su, char *err, size_t errlen)
{
	const struct tg_config *c = &r->cfg;
	char udp_addr[64];
	if (stream_addr_first(c->sip.address, udp_addr, sizeof udp_addr) != 0) {
		snprintf(err, errlen, "sip.address: no listen address in \"%s\"", c->sip.address);
		return -1;
	}
	for (int i = 0; i < r->nloops; i++)
		su[i] = (struct setup){r, -1, {-1, -1, -1, -1}, {{0}}, {0}};
	for (int i = 0; i < r->nloops; i++) {
		int ports[4] = {c->sip.port, c->sip.port, c->sip.tls_port, c->sip.edge_port};
		int types[4] = {SOCK_DGRAM, SOCK_STREAM, SOCK_STREAM, SOCK_STREAM};
		int *dst[4] = {&su[i].udp, &su[i].fds[SIP_CONN_TCP], &su[i].fds[SIP_CONN_TLS],
		               &su[i].fds[SIP_CONN_EDGE]};
		static const char *const what[4] = {"udp", "tcp", "tls", "edge"};
		static const int kinds[4] = {-1, SIP_CONN_TCP, SIP_CONN_TLS, SIP_CONN_EDGE};
		for (int k = 0; k < 4; k++) {
			if (!ports[k])
				continue;
			int fd;
			if (types[k] == SOCK_DGRAM) {
				if ((fd = loop_bind_reuseport(udp_addr, (uint16_t)ports[k],
				                              types[k])) < 0) {
					snprintf(err, errlen, "sip udp port %s:%d: %s", udp_addr,
					         ports[k], strerror(-fd));
					return -1;
				}
			} else {
				int fds[STREAM_ADDR_MAX];
				char e[160];
				int n = stream_bind_list(c->sip.address, (uint16_t)ports[k],
				                         types[k], fds, e, sizeof e);
				if (n < 0) {
					snprintf(err, errlen, "sip %s port %s", what[k], e);
					return -1;
				}
				fd = fds[0];
				int kind = kinds[k];
				for (int a = 1; a < n; a++)
					su[i].more[kind][su[i].nmore[kind]++] = fds[a];
			}
			*dst[k] = fd;
			int prc = types[k] == SOCK_DGRAM ? udp_pktinfo_on(fd) : 0;
			/* Overload (issue 22): with the default buffer (~90 REGISTERs) a loop
			 * descheduled for a few ms dropped thousands a second at 4,000 churn
			 * calls/s, and a call whose request and retransmissions were all
			 * dropped timed out. 4 MiB holds ~1,800 REGISTERs, ~0.2 s of work at
			 * the engine's capacity: less than T1 (500 ms), so what waits there is
			 * answered before the phone retransmits it. */
			if (types[k] == SOCK_DGRAM)
				udp_rcvbuf(fd, 4 * 1024 * 1024);
			if (prc < 0) {
				snprintf(err, errlen, "sip udp port %s:%d: IP_PKTINFO: %s",
				         c->sip.address, ports[k], strerror(-prc));
				return -1;
			}
		}
	}
	return 0;
}

/* The TLS contexts of the TLS and edge listeners that are on. 0, or -1 with err. */
static int tls_start(struct sip_registrar *r, const struct sip_registrar_options *o, char *err,
                     size_t errlen)
{
	if (r->cfg.sip.tls_port) {
		struct tlsctx_options to = {.name = "sip-tls",
		                            .cert = o->tls_cert,
		                            .key = o->tls_key,
		                            .kind = "sip-tls",
		                            .address = r->cfg.sip.address,
		                            .port = r->cfg.sip.tls_port};
		if (!(r->tls = tlsctx_new(&to, err, errlen)))
			return -1;
	}
	if (r->cfg.sip.edge_port) {
		if (sip_edges_load(r->edges, r->store) < 0) {
			snprintf(err, errlen, "sip edge allow-list: %s", store_last_error());
			return -1;
		}
		struct tls_listener_id id = {"sip-edge", r->cfg.sip.address, r->cfg.sip.edge_port};
		sip_edges_set_listener(r->edges, &id);
		struct tlsctx_options to = {.name = "sip-edge",
		                            .cert = o->tls_cert,
		                            .key = o->tls_key,
		                            .client_ca = r->cfg.sip.edge_ca_file,
		                            .verify = sip_edge_verify,
		                            .app = r->edges,
		                            .kind = "sip-edge",
		                            .address = r->cfg.sip.address,
		                            .port = r->cfg.sip.edge_port};
		if (!(r->edge_tls = tlsctx_new(&to, err, errlen)))
			return -1;
	}
	return 0;
}

struct sip_registrar *sip_registrar_start(const struct sip_registrar_options *o, char *err,
                                          size_t errlen)
{
	if (sip_msg_init() != 0) {
		snprintf(err, errlen, "libosip2 parser_init failed");
		return NULL;
	}
	struct sip_registrar *r = calloc(1, sizeof *r);
	if (!r) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	r->cfg = *o->cfg;
	r->store = o->store;
	r->lg = o->loops;
	r->devstate = o->devstate;
	r->nloops = loop_group_size(o->loops);
	r->workers = o->workers;
	r->tls_cert = o->tls_cert;
	r->tls_key = o->tls_key;
	pthread_mutex_init(&r->oauth_mu, NULL);
	char spool[CFG_PATH_MAX + 32], refresh[CFG_PATH_MAX + 32];
	snprintf(spool, sizeof spool, "%s/sip-location.spool", r->cfg.core.state_dir);
	snprintf(refresh, sizeof refresh, "%s/sip-location.refresh", r->cfg.core.state_dir);
	/* On a shared store (PostgreSQL) the bindings are this node's; SQLite's are all its
	 * own, whatever core.node_id says (a renamed host keeps its registrations). */
	int shared = strcmp(store_backend_name(r->store), "sqlite") != 0;
	if (!(r->loc = sip_loc_open(r->store, shared ? r->cfg.core.node_id : "", tg_now_s(),
	                            r->cfg.sip.spool_max_mib ? spool : NULL,
	                            (int64_t)r->cfg.sip.spool_max_mib << 20,
	                            shared ? NULL : refresh, err, errlen)))
		goto fail;
	sip_loc_set_commit_interval(r->loc, r->cfg.sip.commit_interval_ms);
	/* Other nodes' devices in service before the SIP listeners open. */
	if (shared && r->devstate && !(r->link = sip_devlink_start(r->store, r->devstate, r->loc)))
		goto fail_mem;
	struct sip_reg_options ro = {.cfg = &r->cfg,
	                             .store = r->store,
	                             .loc = r->loc,
	                             .devstate = r->devstate,
	                             .authz = o->authz};
	r->reg = sip_reg_new(&ro);
	r->caps = conncap_new(r->cfg.sip.max_connections, r->cfg.sip.max_connections_per_source);
	r->edges = sip_edges_new();
	if (!r->reg || !r->caps || !r->edges)
		goto fail_mem;
	if (tls_start(r, o, err, errlen) != 0)
		goto fail;
	struct sip_transport_options tpo = {.cfg = &r->cfg,
	                                    .reg = r->reg,
	                                    .loc = r->loc,
	                                    .workers = o->workers,
	                                    .loops = r->lg,
	                                    .edges = r->edges,
	                                    .caps = r->caps,
	                                    .tls = r->tls,
	                                    .edge_tls = r->edge_tls};
	struct setup *su = calloc((size_t)r->nloops, sizeof *su);
	if (!(r->tp = sip_transport_new(&tpo)) || !su) {
		free(su);
		goto fail_mem;
	}
	if (bind_all(r, su, err, errlen) != 0) {
		setup_close(su, r->nloops);
		free(su);
		goto fail;
	}
	loop_run_all(r->lg, setup_on_loop, su);
	free(su);
	r->sweep = event_new(loop_base(loop_group_get(r->lg, 0)), -1, EV_PERSIST, on_sweep, r);
	struct timeval one = {1, 0};
	if (r->sweep)
		event_add(r->sweep, &one);
	struct restore rs = {.r = r};
	sip_loc_list(r->loc, NULL, tg_now_s(), restore_dev, &rs);
	/* SIP OAuth as the store says now; a port that cannot open is logged and retried at
	 * the next change (the other listeners serve on). */
	r->oauth_gen = store_generation(r->store);
	char oerr[256];
	(void)sip_registrar_oauth_apply(r, NULL, oerr, sizeof oerr);
	if (r->cfg.sip.port) {
		ports_name("udp", (unsigned)r->cfg.sip.port, NULL, "sip");
		ports_name("tcp", (unsigned)r->cfg.sip.port, NULL, "sip");
	}
	if (r->cfg.sip.tls_port)
		ports_name("tcp", (unsigned)r->cfg.sip.tls_port, NULL, "sip-tls");
	if (r->cfg.sip.edge_port)
		ports_name("tcp", (unsigned)r->cfg.sip.edge_port, NULL, "sip-edge");
	log_ev(LOG_LVL_NOTICE, NULL, "sip_listening", LOG_S("address", r->cfg.sip.address),
	       LOG_I("udp_tcp", r->cfg.sip.port), LOG_I("tls", r->cfg.sip.tls_port),
	       LOG_I("edge", r->cfg.sip.edge_port),
	       LOG_S("edge_trust_store", r->cfg.sip.edge_port ? r->cfg.sip.edge_ca_file : NULL),
	       LOG_S("realm", r->cfg.sip.realm));
	return r;
fail_mem:
	snprintf(err, errlen, "out of memory");
fail:
	sip_registrar_free(r); /* frees whatever was made; the loops never saw r */
	return NULL;
}

void sip_registrar_stop(struct sip_registrar *r)
{
	if (!r || !r->tp)
		return;
	pthread_mutex_lock(&r->oauth_mu); /* no listener opens after the teardown */
	r->stopped = 1;
	r->oauth_port = 0; /* closed with every listener below */
	pthread_mutex_unlock(&r->oauth_mu);
	loop_run_all(r->lg, teardown_on_loop, r);
}

void sip_registrar_free(struct sip_registrar *r)
{
	if (!r)
		return;
	sip_devlink_stop(r->link); /* before the table it reads */
	sip_transport_free(r->tp);
	sip_reg_free(r->reg);
	sip_loc_free(r->loc); /* writes the bindings still queued */
	tlsctx_free(r->tls);
	tlsctx_free(r->edge_tls);
	tlsctx_free(r->oauth_tls);
	pthread_mutex_destroy(&r->oauth_mu);
	sip_edges_free(r->edges);
	conncap_free(r->caps);
	free(r);
}

long sip_registrar_heartbeat(struct sip_registrar *r, int64_t now, int64_t stale_before)
{
	if (r->link)
		(void)sip_devlink_expire_orphans(r->link, r->cfg.core.node_id, now, stale_before);
	long devices = 0, bindings = 0;
	sip_loc_counts(r->loc, now, &devices, &bindings);
	return bindings;
}
