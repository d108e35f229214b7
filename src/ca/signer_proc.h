/* SPDX-License-Identifier: ISC */
/*
 * signer_proc: the signer process's loop (issue 17; OpenBSD relayd's ca.c is the model). A
 * child of the monitor (ca/privsep.h) that holds the signing keys the monitor loaded, reads
 * requests from its end of the socketpair (ca/signer_proto.h), answers them in order with
 * ca/signer_core.h's policy, and has nothing else: no network socket, not dumpable, nice
 * (issuing must never starve call processing), and a seccomp filter when telgate was built
 * with libseccomp (read/write/send/recv, memory, getrandom, clocks, futex, exit; openat,
 * renameat, unlinkat relative to the token-key directory only, and fsync, so that a new
 * OAuth token key is kept (signer_tokens.c); anything else kills it, and the monitor starts
 * a new one). Not under the sanitizers, which need more system calls for their reports.
 *
 * Startup: token keys another signer made since the monitor loaded its copy are read from
 * pki.dir/tokens; the keys are used once before the filter goes on (OpenSSL loads its
 * providers and configuration lazily, which opens files; jansson seeds its hash from
 * /dev/urandom); after a restart, records left in the socket by the signer that died are
 * discarded; then a hello (response id 0: pid, restarts, flags) tells the
 * engine that a new signer runs and what it had in flight is lost.
 *
 * Threads: one, the process's. Ownership: keys belong to the caller (the monitor's copy).
 */
#ifndef TG_CA_SIGNER_PROC_H
#define TG_CA_SIGNER_PROC_H

#include "ca/signer_core.h"

struct signer_proc_options {
	int fd;                         /* the signer's end of the socketpair */
	const struct signer_keys *keys; /* loaded by the monitor */
	unsigned restarts;              /* how many signers died before this one */
	int nice;                       /* setpriority value, e.g. 10 */
	const char *cid;                /* the monitor's correlation id, for its log lines */
};

/* Runs until the engine's end of the socket closes: returns 0 then, or a negative errno when
 * the socket fails. */
int signer_proc_run(const struct signer_proc_options *o);

#endif
