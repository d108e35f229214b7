/* SPDX-License-Identifier: ISC */
/*
 * ca_cluster: the signing keys every node of a cluster shares (issue 21), kept in the store
 * (clusterkey) encrypted under the key-encryption key (ca/ca_kek.h): the CA, the trust-list
 * signer, the recovery signer, the OAuth token keys and the capf key (ca/capf.h: the HMAC
 * key of enrolment strings and OAuth client secrets, which every node must verify alike).
 * Runs instead of ca_bootstrap and ca_bootstrap_signers when [pki] kek_file is set, in
 * children of the monitor, so the KEK and the keys in clear never enter the network engine
 * nor the monitor; the signer loads the files they leave in the PKI directory (0600), as on
 * one node.
 *
 * At each start, in two short-lived children of the monitor (ca/privsep.h): ca_cluster_keys
 * before the network engine is forked (steps 1 to 4 for the CA and the capf key), and
 * ca_cluster_signers after it (steps 1 and 3 for the RSA signers and the token keys, which
 * the first node makes: seconds of RSA key generation, which the engine's start does not
 * wait for, as on one node):
 *   1. the store's keys are decrypted and written to the PKI directory where they differ
 *      (the cluster's key wins over a local one, logged as ca_cluster_key_replaced); a key
 *      the KEK does not decrypt, or that does not match its certificate, refuses the start;
 *   2. ca_bootstrap makes the CA when there is none yet (the first node) and this node's
 *      TLS server certificate, issued by the cluster CA;
 *   3. each local key the store lacks is inserted (INSERT .. ON CONFLICT DO NOTHING) and
 *      read back: when two first nodes race, both keep the row that won (a CA that lost
 *      is dropped and the server certificate issued again by the winner); then the same for
 *      the trust-list and recovery signers, every token key and the capf key;
 *   4. this node's server certificate goes into nodecertificate, for the trust list.
 * Blocking (store, key generation): the monitor's children only.
 */
#ifndef TG_CA_CLUSTER_H
#define TG_CA_CLUSTER_H

#include "ca/ca_bootstrap.h"
#include "core/config.h"
#include "store/store.h"

struct ca_cluster_options {
	const char *pki_dir, *node, *names; /* as for ca_bootstrap */
	unsigned server_days;
	const char *kek_file;
	const struct store_options *store;
	const char *cid; /* for the log lines */
};

/* The options of a node's configuration (so is filled and pointed to by co; cfg must
 * outlive both). */
void ca_cluster_options_of(const struct tg_config *cfg, const char *cid, struct store_options *so,
                           struct ca_cluster_options *co);

/* 0 with res filled (as ca_bootstrap fills it), or -1 with err. */
int ca_cluster_keys(const struct ca_cluster_options *o, struct ca_bootstrap_result *res, char *err,
                    size_t errlen);
/* 0 with *created as ca_bootstrap_signers sets it, or -1 with err. */
int ca_cluster_signers(const struct ca_cluster_options *o, int *created, char *err, size_t errlen);

/* The KEK's check and rotation over these keys: ca/ca_rekey.h. */

#endif
