/* SPDX-License-Identifier: ISC */
/* The CTI server: start and stop, the listeners of every loop, the public listings and
 * counters. The connection is in conn.c, sessions in session.c, monitors and devices in
 * monitor.c (server_int.h). */
#include "cti/server.h"
#include "core/conncap.h"
#include "core/devstate.h"
#include "core/log.h"
#include "core/loop.h"
#include "core/ports.h"
#include "tls/level.h"
#include "tls/tlsctx.h"
#include "cti/cert.h"
#include "cti/conn.h"
#include "cti/monitor.h"
#include "cti/server_int.h"

#include <openssl/pem.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* The listeners' write_limit: a peer that lets more than this queue up unread is cut off
 * by the stream layer (stream_slow_consumer), from the loop's next turn. */
#define OUT_MAX (4u * 1024 * 1024)

/* --- start and stop ----------------------------------------------------------------- */

struct setup {
	struct cti_loop *cl;
	int fd[CTI_L_N][STREAM_ADDR_MAX]; /* one per listen address; -1 once a listener owns it */
	int nfd[CTI_L_N];
	int ok;
	char err[160];
};

/* On loop i (loop_run_all): its listeners. */
static void setup_on_loop(struct loop *l, int i, void *arg)
{
	(void)l;
	struct setup *su = (struct setup *)arg + i;
	struct cti_loop *cl = su->cl;
	struct cti_server *s = cl->s;
	for (int k = 0; k < CTI_L_N; k++) {
		if (su->nfd[k] == 0)
			continue;
		struct stream_listener_options o = {
		    .name = k == CTI_L_TLS ? "cti-tls" : "cti",
		    .kind = k == CTI_L_TLS ? STREAM_TLS : STREAM_TCP,
		    .tls = s->tls,
		    .caps = s->caps,
		    .stats = &s->stats[k],
		    .ops = &cti_conn_ops,
		    .ctx = cl,
		    .user_size = sizeof(struct cti_conn),
		    .max_frame = CTI_FRAME_MAX,
		    .write_limit = OUT_MAX,
		};
		cl->lis[k] = stream_listen(cl->loop, su->fd[k][0], &o, su->err, sizeof su->err);
		su->fd[k][0] = -1;
		if (!cl->lis[k])
			su->ok = 0;
		for (int a = 1; a < su->nfd[k]; a++) { /* the other listen addresses */
			if (cl->lis[k] && stream_listener_add(cl->lis[k], su->fd[k][a], su->err,
			                                      sizeof su->err) != 0)
				su->ok = 0;
			else if (!cl->lis[k])
				close(su->fd[k][a]);
			su->fd[k][a] = -1;
		}
	}
}

/* On loop i (loop_run_all): closes every connection ("server stopping"). */
static void teardown_on_loop(struct loop *l, int i, void *arg)
{
	(void)l;
	struct cti_loop *cl = &((struct cti_server *)arg)->loops[i];
	/* Closes every connection ("server stopping"): cti_on_close releases its monitors. */
	for (int k = 0; k < CTI_L_N; k++) {
		stream_listener_free(cl->lis[k]);
		cl->lis[k] = NULL;
	}
}

static void server_free(struct cti_server *s);

/* Telgate's CA (for cti_cert_verify and the logins) and the TLS levels of the listener
 * (for its client identities). The CA is read once: it lives as long as pki.dir. */
static int cti_trust_init(struct cti_server *s, const char *ca_file, char *err, size_t errlen)
{
	FILE *f = fopen(ca_file, "r");
	s->trust.ca = f ? PEM_read_X509(f, NULL, NULL, NULL) : NULL;
	if (f)
		fclose(f);
	struct tls_listener_id id = {"cti-tls", s->cfg.cti.address, s->cfg.cti.tls_port};
	if (!s->trust.ca || tls_levels_of(&id, s->trust.levels) != 0) {
		snprintf(err, errlen, "cti: cannot read the CA certificate %s", ca_file);
		return -1;
	}
	return 0;
}

struct cti_server *cti_server_start(const struct cti_server_options *o, char *err, size_t errlen)
{
	if (!o->devstate) {
		snprintf(err, errlen, "no device-state bus given");
		return NULL;
	}
	struct cti_server *s = calloc(1, sizeof *s);
	if (!s) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	s->cfg = *o->cfg;
	s->store = o->store;
	s->dir = o->dir;
	s->authz = o->authz;
	s->workers = o->workers;
	s->lg = o->loops;
	s->devstate = o->devstate;
	s->nloops = loop_group_size(o->loops);
	pthread_mutex_init(&s->mu, NULL);
	int has_ca = o->client_ca && o->client_ca[0];
	if (has_ca && cti_trust_init(s, o->client_ca, err, errlen) != 0) {
		server_free(s);
		return NULL;
	}
	struct tlsctx_options to = {.name = "cti-tls",
	                            .cert = o->tls_cert,
	                            .key = o->tls_key,
	                            .client_ca = has_ca ? o->client_ca : NULL,
	                            .client_ca_optional = 1,
	                            .verify = has_ca ? cti_cert_verify : NULL,
	                            .app = &s->trust,
	                            .kind = "cti-tls",
	                            .address = s->cfg.cti.address,
	                            .port = s->cfg.cti.tls_port};
	if (s->cfg.cti.tls_port && !(s->tls = tlsctx_new(&to, err, errlen))) {
		server_free(s);
		return NULL;
	}
	/* One count for both ports; no per-source cap ([cti] has no key for one). */
	s->caps = conncap_new(s->cfg.cti.max_connections, s->cfg.cti.max_connections);
	s->loops = calloc((size_t)s->nloops, sizeof *s->loops);
	if (!s->loops || !s->caps) {
		server_free(s);
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	int ports[CTI_L_N] = {s->cfg.cti.port, s->cfg.cti.tls_port};
	int ok = 1;
	struct setup *su = calloc((size_t)s->nloops, sizeof *su);
	for (int i = 0; su && i < s->nloops; i++) {
		s->loops[i].s = s;
		s->loops[i].loop = loop_group_get(s->lg, i);
		if (!(s->loops[i].mons = cti_mon_index_new())) {
			snprintf(err, errlen, "out of memory");
			ok = 0;
		}
		su[i] = (struct setup){.cl = &s->loops[i], .ok = 1};
		for (int k = 0; k < CTI_L_N; k++) {
			if (!ports[k])
				continue;
			char e[160];
			int n = stream_bind_list(s->cfg.cti.address, (uint16_t)ports[k],
			                         SOCK_STREAM, su[i].fd[k], e, sizeof e);
			if (n < 0) {
				snprintf(err, errlen, "cti %s port %s", k ? "tls" : "tcp", e);
				ok = 0;
			}
			su[i].nfd[k] = n > 0 ? n : 0;
		}
	}
	if (!su)
		ok = 0;
	if (ok && loop_run_all(s->lg, setup_on_loop, su) != s->nloops)
		ok = 0;
	for (int i = 0; su && i < s->nloops; i++) {
		if (!su[i].ok && !err[0])
			snprintf(err, errlen, "%s", su[i].err);
		ok = ok && su[i].ok;
		for (int k = 0; k < CTI_L_N; k++) /* sockets of loops never set up */
			for (int a = 0; a < su[i].nfd[k]; a++)
				if (su[i].fd[k][a] >= 0)
					close(su[i].fd[k][a]);
	}
	free(su);
	if (!ok) {
		if (!err[0])
			snprintf(err, errlen, "cannot start the CTI listeners");
		cti_server_stop(s);
		server_free(s);
		return NULL;
	}
	if (devstate_subscribe(s->devstate, cti_on_device_state, s) != 0) {
		snprintf(err, errlen, "the device-state bus has no room for another subscriber");
		cti_server_stop(s);
		server_free(s);
		return NULL;
	}
	s->subscribed = 1;
	for (int k = 0; k < CTI_L_N; k++)
		if (ports[k])
			ports_name("tcp", (unsigned)ports[k], NULL, k ? "cti-tls" : "cti");
	log_ev(LOG_LVL_NOTICE, NULL, "cti_listening", LOG_S("address", s->cfg.cti.address),
	       LOG_I("tcp", ports[0]), LOG_I("tls", ports[1]),
	       LOG_S("plain_login", s->cfg.cti.allow_plain_login ? "allowed" : "refused"));
	return s;
}

void cti_server_stop(struct cti_server *s)
{
	if (!s)
		return;
	if (s->subscribed) /* no more changes posted to loops that are closing */
		devstate_unsubscribe(s->devstate, cti_on_device_state, s);
	s->subscribed = 0;
	if (s->loops)
		loop_run_all(s->lg, teardown_on_loop, s);
}

static void server_free(struct cti_server *s)
{
	for (int i = 0; s->loops && i < s->nloops; i++)
		cti_mon_index_free(s->loops[i].mons);
	tlsctx_free(s->tls);
	X509_free(s->trust.ca);
	conncap_free(s->caps);
	free(s->loops);
	pthread_mutex_destroy(&s->mu);
	free(s);
}

void cti_server_free(struct cti_server *s)
{
	if (s)
		server_free(s);
}

void cti_server_sessions(struct cti_server *s,
                         void (*fn)(void *ud, const struct cti_session_info *i), void *ud)
{
	pthread_mutex_lock(&s->mu);
	for (struct cti_conn *c = s->sessions; c; c = c->rnext) {
		struct cti_session_info i = {
		    c->session_id,         c->user, c->app,       c->peer,
		    cti_conn_transport(c), c->cid,  c->started_s, c->nmons};
		fn(ud, &i);
	}
	pthread_mutex_unlock(&s->mu);
}

void cti_server_stats(struct cti_server *s, struct cti_server_stats *out)
{
	const struct cti_counters *k = &s->cnt;
	*out = (struct cti_server_stats){
	    .logins_ok_local = atomic_load_explicit(&k->logins_ok_local, memory_order_relaxed),
	    .logins_ok_ldap = atomic_load_explicit(&k->logins_ok_ldap, memory_order_relaxed),
	    .logins_refused_local =
	        atomic_load_explicit(&k->logins_refused_local, memory_order_relaxed),
	    .logins_refused_ldap =
	        atomic_load_explicit(&k->logins_refused_ldap, memory_order_relaxed),
	    .logins_refused_other =
	        atomic_load_explicit(&k->logins_refused_other, memory_order_relaxed),
	    .sessions_open = atomic_load_explicit(&k->sessions_open, memory_order_relaxed),
	    .monitors_open = atomic_load_explicit(&k->monitors_open, memory_order_relaxed),
	    .device_events_in = atomic_load_explicit(&k->device_events_in, memory_order_relaxed),
	    .device_events_sent =
	        atomic_load_explicit(&k->device_events_sent, memory_order_relaxed),
	};
	for (int l = 0; l < CTI_L_N; l++)
		out->slow_consumers +=
		    atomic_load_explicit(&s->stats[l].slow_consumers, memory_order_relaxed);
}
