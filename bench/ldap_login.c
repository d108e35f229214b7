/* SPDX-License-Identifier: ISC */
/*
 * bench/ldap_login: LDAP logins per second and latency through telgate's directory
 * (dir_authenticate: store lookup, credential policy, pooled asynchronous LDAP search and
 * bind, credential-state update) versus a bare libldap client doing the same
 * service-bind / search / user-bind flow, against the same slapd, with the same
 * concurrency, in one run. Prints both and the ratio telgate / bare.
 *
 * usage: ldap_login SRCDIR [seconds=5] [concurrency=8] [users=1000]
 */
#include "bench_util.h"
#include "core/config.h"
#include "core/log.h"
#include "core/loop.h"
#include "dir/dir.h"
#include "dir/passwd.h"

#include <ldap.h>
#include <pthread.h>
#include <stdatomic.h>

static struct bench_slapd S;
static int SECONDS = 5, CONC = 8, USERS = 1000;

struct lat {
	int64_t *v;
	size_t n, cap;
	pthread_mutex_t mu;
};

static void lat_add(struct lat *l, int64_t us)
{
	pthread_mutex_lock(&l->mu);
	if (l->n < l->cap)
		l->v[l->n++] = us;
	pthread_mutex_unlock(&l->mu);
}

/* --- bare libldap ------------------------------------------------------------------- */

struct bare_arg {
	int id;
	int64_t end_us;
	struct lat *lat;
	long ok, fail;
	char svc_pw[256];
};

static void *bare_thread(void *p)
{
	struct bare_arg *a = p;
	LDAP *ld;
	int v3 = LDAP_VERSION3;
	if (ldap_initialize(&ld, S.uri) != LDAP_SUCCESS)
		return NULL;
	ldap_set_option(ld, LDAP_OPT_PROTOCOL_VERSION, &v3);
	ldap_set_option(ld, LDAP_OPT_REFERRALS, LDAP_OPT_OFF);
	struct berval svc = {strlen(a->svc_pw), a->svc_pw};
	unsigned seed = (unsigned)a->id * 7919u + 1;
	while (bench_now_us() < a->end_us) {
		char user[32], filter[128];
		snprintf(user, sizeof user, "user%05d", (int)(rand_r(&seed) % (unsigned)USERS) + 1);
		snprintf(filter, sizeof filter, "(&(objectClass=inetOrgPerson)(uid=%s))", user);
		int64_t t0 = bench_now_us();
		int ok = 0;
		LDAPMessage *res = NULL;
		static char *const attrs[] = {LDAP_NO_ATTRS, NULL};
		if (ldap_sasl_bind_s(ld, S.bind_dn, LDAP_SASL_SIMPLE, &svc, NULL, NULL, NULL) ==
		        LDAP_SUCCESS &&
		    ldap_search_ext_s(ld, S.base, LDAP_SCOPE_SUBTREE, filter, (char **)attrs, 0,
		                      NULL, NULL, NULL, 2, &res) == LDAP_SUCCESS) {
			LDAPMessage *e = ldap_first_entry(ld, res);
			char *dn = e ? ldap_get_dn(ld, e) : NULL;
			struct berval pw = {12, (char *)"Bench-Pass-1"};
			if (dn && ldap_sasl_bind_s(ld, dn, LDAP_SASL_SIMPLE, &pw, NULL, NULL,
			                           NULL) == LDAP_SUCCESS)
				ok = 1;
			ldap_memfree(dn);
		}
		ldap_msgfree(res);
		if (ok) {
			a->ok++;
			lat_add(a->lat, bench_now_us() - t0);
		} else {
			a->fail++;
		}
	}
	ldap_unbind_ext_s(ld, NULL, NULL);
	return NULL;
}

/* --- telgate ------------------------------------------------------------------------ */

struct tg_run {
	struct dir *d;
	int64_t end_us;
	struct lat *lat;
	atomic_long ok, fail, inflight;
	unsigned seed;
};

struct tg_one {
	struct tg_run *run;
	int64_t t0;
	char user[32];
};

static void tg_submit(struct tg_run *r, struct tg_one *o);

static void tg_cb(void *ud, const struct dir_result *res)
{
	struct tg_one *o = ud;
	struct tg_run *r = o->run;
	if (res->status == DIR_OK) {
		atomic_fetch_add(&r->ok, 1);
		lat_add(r->lat, bench_now_us() - o->t0);
	} else {
		atomic_fetch_add(&r->fail, 1);
	}
	if (bench_now_us() < r->end_us) {
		tg_submit(r, o);
		return;
	}
	free(o);
	atomic_fetch_sub(&r->inflight, 1);
}

static void tg_submit(struct tg_run *r, struct tg_one *o)
{
	snprintf(o->user, sizeof o->user, "user%05d",
	         (int)(rand_r(&r->seed) % (unsigned)USERS) + 1);
	o->t0 = bench_now_us();
	if (dir_authenticate(r->d, o->user, "Bench-Pass-1", 12, NULL, NULL, tg_cb, o) != 0) {
		atomic_fetch_add(&r->fail, 1);
		free(o);
		atomic_fetch_sub(&r->inflight, 1);
	}
}

static void report(const char *name, long ok, long fail, struct lat *l, double secs, double *rate)
{
	*rate = (double)ok / secs;
	int64_t p50 = bench_pct(l->v, l->n, 50), p99 = bench_pct(l->v, l->n, 99);
	printf("%-22s %10.0f %10.2f %10.2f %8ld\n", name, *rate, (double)p50 / 1000.0,
	       (double)p99 / 1000.0, fail);
}

int main(int argc, char **argv)
{
	if (argc < 2) {
		fprintf(stderr, "usage: %s SRCDIR [seconds] [concurrency] [users]\n", argv[0]);
		return 64;
	}
	if (argc > 2)
		SECONDS = atoi(argv[2]);
	if (argc > 3)
		CONC = atoi(argv[3]);
	if (argc > 4)
		USERS = atoi(argv[4]);
	char tmp[] = "/tmp/tgbenchXXXXXX";
	if (!mkdtemp(tmp) || loop_threads_init() || dir_passwd_init())
		return 1;
	char err[512], path[512];
	log_configure(LOG_LVL_WARNING, LOG_FMT_KV, "stderr", err, sizeof err);
	snprintf(path, sizeof path, "%s/slapd", tmp);
	if (bench_slapd_start(argv[1], path, USERS, &S) != 0)
		return 1;
	char svc_pw[256] = "";
	FILE *pf = fopen(S.pwfile, "r");
	if (!pf || !fgets(svc_pw, sizeof svc_pw, pf))
		return 1;
	fclose(pf);
	svc_pw[strcspn(svc_pw, "\n")] = '\0';

	/* The store telgate authenticates from: the same users, as LDAP users. */
	snprintf(path, sizeof path, "%s/telgate.db", tmp);
	struct store_options so = {.backend = "sqlite", .path = path, .busy_timeout_ms = 5000};
	store_t *st;
	if (store_open(&so, &st, err, sizeof err) != STORE_OK)
		return 1;
	store_begin(st);
	for (int i = 1; i <= USERS; i++) {
		struct store_user u;
		memset(&u, 0, sizeof u);
		snprintf(u.userid, sizeof u.userid, "user%05d", i);
		u.directory = STORE_DIR_LDAP;
		u.status = STORE_USER_ACTIVE;
		store_user_put(st, &u);
	}
	store_commit(st);

	size_t cap = 4000000;
	struct lat lb = {calloc(cap, 8), 0, cap, PTHREAD_MUTEX_INITIALIZER};
	struct lat lt = {calloc(cap, 8), 0, cap, PTHREAD_MUTEX_INITIALIZER};
	printf("ldap_login: %d s per side, concurrency %d, %d users, slapd %s, 2 cores shared\n",
	       SECONDS, CONC, USERS, S.uri);
	printf("%-22s %10s %10s %10s %8s\n", "client", "logins/s", "p50 ms", "p99 ms", "failed");

	/* Bare libldap: one thread and connection per concurrent login. */
	pthread_t th[256];
	struct bare_arg ba[256];
	int64_t end = bench_now_us() + (int64_t)SECONDS * 1000000;
	int64_t t0 = bench_now_us();
	for (int i = 0; i < CONC; i++) {
		memset(&ba[i], 0, sizeof ba[i]);
		ba[i].id = i;
		ba[i].end_us = end;
		ba[i].lat = &lb;
		tg_strlcpy(ba[i].svc_pw, svc_pw, sizeof ba[i].svc_pw);
		pthread_create(&th[i], NULL, bare_thread, &ba[i]);
	}
	long bok = 0, bfail = 0;
	for (int i = 0; i < CONC; i++) {
		pthread_join(th[i], NULL);
		bok += ba[i].ok;
		bfail += ba[i].fail;
	}
	double bsecs = (double)(bench_now_us() - t0) / 1e6, brate;
	report("bare libldap", bok, bfail, &lb, bsecs, &brate);

	/* telgate's directory: the same number of logins in flight. */
	struct tg_config cfg;
	config_defaults(&cfg);
	tg_strlcpy(cfg.ldap.servers, S.uri, sizeof cfg.ldap.servers);
	tg_strlcpy(cfg.ldap.base, S.base, sizeof cfg.ldap.base);
	tg_strlcpy(cfg.ldap.bind_dn, S.bind_dn, sizeof cfg.ldap.bind_dn);
	tg_strlcpy(cfg.ldap.bind_password_file, S.pwfile, sizeof cfg.ldap.bind_password_file);
	cfg.ldap.pool_size = CONC < 64 ? CONC : 64;
	cfg.dir.workers = 2;
	struct dir_options o = {.store = st, .cfg = &cfg};
	struct dir *d = dir_start(&o, err, sizeof err);
	if (!d) {
		fprintf(stderr, "dir_start: %s\n", err);
		return 1;
	}
	/* Warm the pool (connections open on first use) outside the measurement. */
	for (int i = 0; i < CONC; i++)
		dir_authenticate_wait(d, "user00001", "Bench-Pass-1", 12, NULL, NULL, NULL, 0);
	struct tg_run run = {.d = d, .lat = &lt, .seed = 12345};
	atomic_init(&run.ok, 0);
	atomic_init(&run.fail, 0);
	atomic_init(&run.inflight, CONC);
	t0 = bench_now_us();
	run.end_us = t0 + (int64_t)SECONDS * 1000000;
	for (int i = 0; i < CONC; i++) {
		struct tg_one *one = calloc(1, sizeof *one);
		one->run = &run;
		tg_submit(&run, one);
	}
	while (atomic_load(&run.inflight) > 0)
		usleep(10000);
	double tsecs = (double)(bench_now_us() - t0) / 1e6, trate;
	report("telgate dir", atomic_load(&run.ok), atomic_load(&run.fail), &lt, tsecs, &trate);
	printf("ratio telgate/bare: %.2f (goal >= 0.9)\n", brate > 0 ? trate / brate : 0.0);
	struct dir_stats ds;
	dir_stats(d, &ds);
	printf("telgate: %llu searches, %llu user binds, %llu connections opened\n",
	       (unsigned long long)ds.ldap_searches, (unsigned long long)ds.ldap_user_binds,
	       (unsigned long long)ds.ldap_connects);
	dir_stop(d);
	store_close(st);
	bench_slapd_stop(&S);
	char cmd[600];
	snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmp);
	if (system(cmd) != 0)
		return 1;
	free(lb.v);
	free(lt.v);
	return 0;
}
