/* SPDX-License-Identifier: ISC */
/*
 * Helpers of the signer benchmarks (signer_bench.c, est_ca_bench.c): a PKI made in a
 * temporary directory with a local signer over it, and the signer process forked over a
 * socketpair with those keys, as telgated's monitor runs it. Benchmarks only: failures
 * are said on stderr. Ownership: the caller frees the handles (signer_free) and reaps the
 * process (waitpid: it ends when the remote handle is freed).
 */
#ifndef TG_BENCH_SIGNER_H
#define TG_BENCH_SIGNER_H

#include "ca/ca_bootstrap.h"
#include "ca/signer.h"
#include "ca/signer_core.h"
#include "ca/signer_proc.h"

#include <stdio.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <unistd.h>

/* mkdtemp(dir), telgate's CA and RSA signers in it, and a local signer over them. */
static inline struct signer *bench_pki(char *dir)
{
	char err[512] = "cannot make a temporary directory";
	struct ca_bootstrap_result r;
	int created;
	struct signer *s = NULL;
	if (!mkdtemp(dir) || ca_bootstrap(dir, "bench", "", 90, &r, err, sizeof err) != 0 ||
	    ca_bootstrap_signers(dir, "bench", &created, err, sizeof err) != 0 ||
	    !(s = signer_local_new(dir, err, sizeof err)))
		fprintf(stderr, "%s\n", err);
	return s;
}

/* The signer process with local's keys at nice, and the engine's handle to it. */
static inline struct signer *bench_signer_proc(struct signer *local, int nice, pid_t *pid)
{
	int sv[2];
	char err[256] = "cannot start the signer process";
	struct signer *r = NULL;
	if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) != 0)
		return NULL;
	*pid = fork();
	if (*pid == 0) {
		close(sv[0]);
		const struct signer_proc_options o = {.fd = sv[1],
		                                      .keys = signer_local_keys(local),
		                                      .restarts = 0,
		                                      .nice = nice,
		                                      .cid = "bench"};
		_exit(signer_proc_run(&o) == 0 ? 0 : 2);
	}
	close(sv[1]);
	if (*pid < 0 || !(r = signer_remote_new(sv[0], err, sizeof err)))
		fprintf(stderr, "%s\n", err);
	return r;
}

#endif
