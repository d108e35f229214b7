/* SPDX-License-Identifier: ISC */
/*
 * ca_rekey: the cluster's keys (ca/ca_cluster.h: clusterkey, encrypted under the KEK)
 * checked against the KEK and re-encrypted under a new one: `telgated --kek-status` and
 * `telgated --kek-rotate NEWFILE`. Offline, as root, on any one node; blocking (the store).
 * Ownership: nothing is kept; both KEKs and every key in clear are wiped before return.
 */
#ifndef TG_CA_REKEY_H
#define TG_CA_REKEY_H

#include "ca/ca_cluster.h"

#include <stddef.h>
#include <stdio.h>

/* The cluster's keys checked against the KEK of o->kek_file and, with new_kek_file, each
 * re-encrypted under that new KEK in one transaction (`telgated --kek-status` and
 * `telgated --kek-rotate NEWFILE`: offline, as root, on any one node; the operator then
 * installs the new file as pki.kek_file on every node before its next start). One line per
 * key to out ("ca: ok", "capf: does not decrypt ..."). 0 when every key opened (and, with
 * new_kek_file, was re-encrypted), or -1 with err; nothing is changed when one key fails. */
int ca_cluster_rekey(const struct ca_cluster_options *o, const char *new_kek_file, FILE *out,
                     char *err, size_t errlen);

#endif
