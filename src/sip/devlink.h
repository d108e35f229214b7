/* SPDX-License-Identifier: ISC */
/*
 * devlink: device state between the nodes of a cluster (issue 21, docs/cluster.md). The
 * location writer tells the other nodes when a device of this node goes in or out of
 * service, in the transaction that makes the binding change durable (location.h,
 * store_devstate_announce); devlink is the other half: it feeds what other nodes announce
 * into this node's device-state bus (core/devstate.h), so CTI monitors and cloud CTI
 * subscriptions here see devices registered elsewhere. It never announces: a change it
 * feeds in is not sent back out.
 *
 * A device's state is the union over the nodes: in service while any node holds a live
 * binding for it. So "in service" from another node is published at once; "out of
 * service" only when neither this node's table nor the store (whose rows every node
 * writes before it announces) holds a live binding of the device. When changes may have
 * been missed (the listening session was lost, a sequence gap), every device is read
 * again from the store: devices live there are published in service, devices in service
 * on the bus that are live nowhere go out of service (cluster_devstate_resync in the log).
 *
 * It also expires the bindings of dead nodes (sip_devlink_expire_orphans).
 *
 * Threads: the callbacks run on the store's listening thread (blocking store reads there
 * are fine: it serves nothing else); sip_devlink_expire_orphans on the caller's (blocking).
 * Ownership: the store, the bus and the table must outlive the link.
 */
#ifndef TG_SIP_DEVLINK_H
#define TG_SIP_DEVLINK_H

#include "core/devstate.h"
#include "sip/location.h"
#include "store/store.h"

#include <stdint.h>

struct sip_devlink;

/* Publishes in service every device with a live binding in the store (any node: the
 * others registered before this node started), then listens. NULL when out of memory. On
 * SQLite it only does the first part. */
struct sip_devlink *sip_devlink_start(store_t *st, struct devstate *bus, struct sip_loc *loc);
/* Stops the calls (waits for one in flight) and frees. NULL is a no-op. */
void sip_devlink_stop(struct sip_devlink *k);

/* Deletes the expired bindings of dead nodes: those other than node whose heartbeat is
 * older than stale_before (epoch s), or whose row is gone
 * (store_registrations_expire_orphans: one node deletes each row), tells the other nodes,
 * and publishes out of service here each device left without a live binding. Returns
 * the bindings deleted, or a negative store_rc. Blocking. */
int sip_devlink_expire_orphans(struct sip_devlink *k, const char *node, int64_t now,
                               int64_t stale_before);

#endif
