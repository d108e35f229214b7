/* SPDX-License-Identifier: ISC */
/*
 * bench/dir_enum: can a peer tell which user ids exist from how long a failed login
 * takes? Mean and p50/p99 time of a failed login for an unknown user, a known local user
 * with a wrong password and a known LDAP user with a wrong password, through
 * dir_authenticate with the configured argon2id cost, first with the failure floor
 * (dir.failure_delay_ms, default 250) and then without it, to show what the floor hides.
 * A benchmark, not a test: it prints, it does not assert.
 *
 * usage: dir_enum SRCDIR [samples=30]
 */
#include "bench_util.h"
#include "core/config.h"
#include "core/log.h"
#include "core/loop.h"
#include "dir/dir.h"
#include "dir/passwd.h"

static void measure(struct dir *d, const char *label, const char *user, int n)
{
	int64_t *v = calloc((size_t)n, sizeof *v), sum = 0;
	for (int i = 0; i < n; i++) {
		int64_t t0 = bench_now_us();
		dir_authenticate_wait(d, user, "Wrong-Guess-1", 13, NULL, NULL, NULL, 0);
		v[i] = bench_now_us() - t0;
		sum += v[i];
	}
	double mean = (double)sum / n / 1000.0;
	printf("  %-34s mean %8.2f ms  p50 %8.2f ms  p99 %8.2f ms\n", label, mean,
	       (double)bench_pct(v, (size_t)n, 50) / 1000.0,
	       (double)bench_pct(v, (size_t)n, 99) / 1000.0);
	free(v);
}

int main(int argc, char **argv)
{
	if (argc < 2) {
		fprintf(stderr, "usage: %s SRCDIR [samples]\n", argv[0]);
		return 64;
	}
	int n = argc > 2 ? atoi(argv[2]) : 30;
	char tmp[] = "/tmp/tgenumXXXXXX";
	if (!mkdtemp(tmp) || loop_threads_init() || dir_passwd_init())
		return 1;
	char err[512], path[512];
	log_configure(LOG_LVL_CRIT, LOG_FMT_KV, "stderr", err, sizeof err);
	struct bench_slapd s;
	snprintf(path, sizeof path, "%s/slapd", tmp);
	if (bench_slapd_start(argv[1], path, 10, &s) != 0)
		return 1;
	snprintf(path, sizeof path, "%s/telgate.db", tmp);
	struct store_options so = {.backend = "sqlite", .path = path, .busy_timeout_ms = 5000};
	store_t *st;
	if (store_open(&so, &st, err, sizeof err) != STORE_OK)
		return 1;
	struct tg_config cfg;
	config_defaults(&cfg);
	/* No lockout, so every sample takes the full path. */
	struct store_credpolicy pol;
	memset(&pol, 0, sizeof pol);
	tg_strlcpy(pol.name, "NoLockout", sizeof pol.name);
	store_credpolicy_put(st, &pol);
	struct store_user u;
	memset(&u, 0, sizeof u);
	u.status = STORE_USER_ACTIVE;
	tg_strlcpy(u.credentialpolicy, "NoLockout", sizeof u.credentialpolicy);
	tg_strlcpy(u.userid, "local1", sizeof u.userid);
	struct dir_passwd_params pp = {.t = cfg.password.argon2_t,
	                               .m_kib = cfg.password.argon2_m_kib};
	dir_passwd_hash(&pp, "Right-Pass-1", 12, u.passwordhash);
	store_user_put(st, &u);
	tg_strlcpy(u.userid, "user00001", sizeof u.userid);
	u.directory = STORE_DIR_LDAP;
	u.passwordhash[0] = '\0';
	store_user_put(st, &u);

	tg_strlcpy(cfg.ldap.servers, s.uri, sizeof cfg.ldap.servers);
	tg_strlcpy(cfg.ldap.base, s.base, sizeof cfg.ldap.base);
	tg_strlcpy(cfg.ldap.bind_dn, s.bind_dn, sizeof cfg.ldap.bind_dn);
	tg_strlcpy(cfg.ldap.bind_password_file, s.pwfile, sizeof cfg.ldap.bind_password_file);
	printf("dir_enum: %d samples each, argon2id t=%u m=%u KiB, slapd %s\n", n,
	       cfg.password.argon2_t, cfg.password.argon2_m_kib, s.uri);
	int delays[] = {cfg.dir.failure_delay_ms, 0};
	for (int k = 0; k < 2; k++) {
		cfg.dir.failure_delay_ms = delays[k];
		struct dir_options o = {.store = st, .cfg = &cfg};
		struct dir *d = dir_start(&o, err, sizeof err);
		if (!d) {
			fprintf(stderr, "dir_start: %s\n", err);
			return 1;
		}
		dir_authenticate_wait(d, "user00001", "Bench-Pass-1", 12, NULL, NULL, NULL, 0);
		printf("failure_delay_ms = %d%s\n", delays[k],
		       k == 0 ? " (the default: what a peer sees)" : " (the floor off: raw cost)");
		measure(d, "unknown user", "no-such-user", n);
		measure(d, "known local user, wrong password", "local1", n);
		measure(d, "known LDAP user, wrong password", "user00001", n);
		dir_stop(d);
	}
	store_close(st);
	bench_slapd_stop(&s);
	char cmd[600];
	snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmp);
	return system(cmd) != 0;
}
