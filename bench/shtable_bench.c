/* SPDX-License-Identifier: ISC */
/* The hash tables on the registrar's path, one thread, N keys (default 10,000): location
 * update (new device, then refresh) and lookup (sip_loc_list of one device), account
 * cache put/get, conncap acquire/release of N IPv4 sources. Prints nanoseconds per
 * operation; for instruction counts run it under callgrind with --toggle-collect on the
 * measured functions (bench/run.sh shtable does). Benchmarks only: not installed. */
#include "core/conncap.h"
#include "sip/accounts.h"
#include "sip/location.h"
#include "store/store.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static double now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1e9 + (double)ts.tv_nsec;
}

static void report(const char *what, int n, double t0)
{
	printf("%-28s %8d ops %10.1f ns/op\n", what, n, (now_ns() - t0) / n);
}

static int64_t g_expires;

static int edit_one(void *ud, struct store_registration *b, int *n, int cap)
{
	(void)cap;
	const char *dev = ud;
	memset(&b[0], 0, sizeof b[0]);
	snprintf(b[0].contact, sizeof b[0].contact, "sip:%s@192.0.2.1:5060", dev);
	snprintf(b[0].callid, sizeof b[0].callid, "call-%s", dev);
	snprintf(b[0].transport, sizeof b[0].transport, "UDP");
	b[0].cseq = (uint32_t)g_expires;
	b[0].expires = g_expires;
	b[0].regid = -1;
	*n = 1;
	return 0;
}

static int count_one(void *ud, const struct store_registration *b)
{
	(void)b;
	(*(long *)ud)++;
	return 0;
}

static void bench_location(const char *dir, int n)
{
	char path[256], err[256];
	snprintf(path, sizeof path, "%s/bench.db", dir);
	struct store_options o = {.backend = "sqlite", .path = path, .busy_timeout_ms = 5000};
	store_t *st;
	if (store_open(&o, &st, err, sizeof err) != STORE_OK) {
		fprintf(stderr, "store: %s\n", err);
		exit(1);
	}
	char(*names)[16] = calloc((size_t)n, sizeof *names);
	store_begin(st);
	for (int i = 0; i < n; i++) {
		struct store_device d;
		memset(&d, 0, sizeof d);
		snprintf(names[i], sizeof names[i], "SEP%09d", i);
		snprintf(d.name, sizeof d.name, "%s", names[i]);
		snprintf(d.protocol, sizeof d.protocol, "SIP");
		store_device_put(st, &d);
	}
	store_commit(st);
	struct sip_loc *l = sip_loc_new(st, 1000, err, sizeof err);
	if (!l) {
		fprintf(stderr, "location: %s\n", err);
		exit(1);
	}
	int before, nafter;
	g_expires = 5000;
	double t0 = now_ns();
	for (int i = 0; i < n; i++)
		sip_loc_update(l, names[i], 1000, edit_one, names[i], &before, NULL, &nafter);
	report("location update (new)", n, t0);
	g_expires = 6000;
	t0 = now_ns();
	for (int i = 0; i < n; i++)
		sip_loc_update(l, names[i], 1001, edit_one, names[i], &before, NULL, &nafter);
	report("location update (refresh)", n, t0);
	long found = 0;
	t0 = now_ns();
	for (int i = 0; i < n; i++)
		sip_loc_list(l, names[i], 1002, count_one, &found);
	report("location lookup", n, t0);
	long devs, binds;
	t0 = now_ns();
	sip_loc_counts(l, 1002, &devs, &binds);
	report("location counts (per key)", n, t0);
	if (found != n || devs != n)
		fprintf(stderr, "location: found %ld devices %ld of %d\n", found, devs, n);
	sip_loc_sync(l);
	sip_loc_free(l);
	store_close(st);
	unlink(path);
	free(names);
}

static void bench_accounts(int n)
{
	struct sip_accounts *a = sip_accounts_new();
	struct sip_account acc;
	memset(&acc, 0, sizeof acc);
	double t0 = now_ns();
	for (int i = 0; i < n; i++) {
		snprintf(acc.line, sizeof acc.line, "%d", 100000 + i);
		sip_accounts_put(a, &acc);
	}
	report("accounts put", n, t0);
	char line[16];
	int hit = 0;
	t0 = now_ns();
	for (int i = 0; i < n; i++) {
		snprintf(line, sizeof line, "%d", 100000 + i);
		hit += sip_accounts_get(a, line, "", &acc);
	}
	report("accounts get", n, t0);
	if (hit != n)
		fprintf(stderr, "accounts: %d of %d\n", hit, n);
	sip_accounts_free(a);
}

static void bench_conncap(int n)
{
	struct conncap *c = conncap_new(4 * n, 4);
	struct sockaddr_in *sa = calloc((size_t)n, sizeof *sa);
	for (int i = 0; i < n; i++) {
		sa[i].sin_family = AF_INET;
		sa[i].sin_addr.s_addr = htonl(0x0a000000u + (uint32_t)i);
	}
	double t0 = now_ns();
	for (int r = 0; r < 2; r++)
		for (int i = 0; i < n; i++)
			conncap_acquire(c, (struct sockaddr *)&sa[i]);
	report("conncap acquire", 2 * n, t0);
	t0 = now_ns();
	for (int r = 0; r < 2; r++)
		for (int i = 0; i < n; i++)
			conncap_release(c, (struct sockaddr *)&sa[i]);
	report("conncap release", 2 * n, t0);
	if (conncap_total(c) != 0)
		fprintf(stderr, "conncap: %d left\n", conncap_total(c));
	conncap_free(c);
	free(sa);
}

int main(int argc, char **argv)
{
	int n = argc > 1 ? atoi(argv[1]) : 10000;
	char dir[] = "/tmp/tgshbenchXXXXXX";
	if (n <= 0 || !mkdtemp(dir))
		return 1;
	bench_location(dir, n);
	bench_accounts(n);
	bench_conncap(n);
	rmdir(dir);
	return 0;
}
