/* SPDX-License-Identifier: ISC */
/*
 * privsep: telgated's first process, the monitor (issue 17; OpenBSD relayd's proc.c is the
 * model). Called by main() after the configuration and the log, before anything else: the
 * monitor opens no network socket and starts no thread. It
 *   1. makes the PKI (ca/ca_bootstrap.h) in a short-lived child, so that the CA key never
 *      enters the memory of a process that later serves the network;
 *   2. creates the socketpair (SOCK_SEQPACKET) and forks the network engine, which returns
 *      from privsep_start() to start everything telgated runs (and drops privileges as
 *      before; it keeps the TLS server keys: handshakes are its hot path);
 *   3. makes the trust-list and recovery signers if missing, loads every signing key and
 *      forks the signer (ca/signer_proc.h) on its end of the socketpair;
 *   4. waits: SIGTERM, SIGINT and SIGHUP go to the engine; a signer that dies is replaced on
 *      the same socket (at most one start a second; logged as signer_exited, and the engine
 *      raises the SignerRestarted alarm when the new one says hello); when the engine ends,
 *      the signer sees its socket close and ends too, and the monitor exits with the
 *      engine's status (128 + signal when it was killed: systemd restarts the unit; the
 *      monitor never restarts an engine).
 *
 * Children are not dumpable (PR_SET_DUMPABLE 0) and neither is the monitor once it holds the
 * keys. stderr is shared: sanitizer reports from any of the three reach it.
 */
#ifndef TG_CA_PRIVSEP_H
#define TG_CA_PRIVSEP_H

#include "ca/ca_bootstrap.h"
#include "core/config.h"

#include <sys/types.h>

struct privsep_engine {
	int signer_fd;                  /* the engine's end of the socketpair (it owns it) */
	struct ca_bootstrap_result pki; /* what the PKI child made or found */
	pid_t monitor;                  /* the monitor's pid, for privsep_orphan_guard */
};

/* In a child of the monitor: sig (SIGTERM for the engine, which stops as on any SIGTERM;
 * SIGKILL for the signer, which ignores SIGTERM) when the monitor dies, so that a monitor
 * killed alone (kill -9, the OOM killer) leaves neither an engine serving without a signer
 * nor a signer holding the keys. Changing credentials clears the setting (prctl(2)), so the
 * engine calls it again after dropping privileges. A monitor already gone when it is called
 * (the parent is no longer monitor) gets the same signal at once. */
void privsep_orphan_guard(pid_t monitor, int sig);

/* Returns 1 in the network engine (e filled: go on starting), or 0 in any other process
 * (the monitor, the signer, the PKI child) when that process is done and main() should
 * return *status. */
int privsep_start(const struct tg_config *cfg, const char *cid, struct privsep_engine *e,
                  int *status);

#endif
