/* SPDX-License-Identifier: ISC */
/*
 * ca_cluster: the signing keys every node of a cluster shares (issue 21), kept in the store
 * (clusterkey) encrypted under the key-encryption key (ca/ca_kek.h): the CA, the trust-list
 * signer, the recovery signer, the OAuth token keys and the capf key (ca/capf.h: the HMAC
 * key of enrolment strings and OAuth client secrets, which every node must verify alike). Runs
 * instead of ca_bootstrap in the monitor's short-lived PKI child (ca/privsep.h) when [pki] kek_file
 * is set, so the KEK and the keys in clear never enter the network engine; the signer loads the
 * files this leaves in the PKI directory (0600), as on one node.
 *
 * At each start:
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
 * Blocking (store, key generation): the PKI child only.
 */
#ifndef TG_CA_CLUSTER_H
#define TG_CA_CLUSTER_H

#include "ca/ca_bootstrap.h"
#include "store/store.h"

struct ca_cluster_options {
	const char *pki_dir, *node, *names; /* as for ca_bootstrap */
	unsigned server_days;
	const char *kek_file;
	const struct store_options *store;
	const char *cid; /* for the log lines */
};

/* 0 with res filled (as ca_bootstrap fills it), or -1 with err. */
int ca_cluster_keys(const struct ca_cluster_options *o, struct ca_bootstrap_result *res, char *err,
                    size_t errlen);

#endif
