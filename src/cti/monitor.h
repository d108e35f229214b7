/* SPDX-License-Identifier: ISC */
/*
 * monitor: devices seen from CTI — the device checks (does the device exist, may this
 * user open it) run on the worker pool for MonitorStart, SnapshotDevice and
 * GetSwitchingFunctionDevices; the monitors a session opened, indexed by device on each
 * loop; the fan-out of a change from the device-state bus (core/devstate.h, which also
 * says which devices are in service) to every monitor of the device as BackInService /
 * OutOfService events.
 *
 * The permission decision is a pure function (cti_device_decide); so is the monitor
 * limit (cti_monitor_check).
 *
 * Threads: a loop's monitor index is touched only on that loop; the next crossRefID and
 * every connection's monitor list only under the server's mu. The bus calls
 * cti_on_device_state from the publisher's thread: the change reaches each loop by
 * loop_post. The worker thread of a device job reads only the job and the store.
 *
 * Ownership: an index belongs to the loop it serves; a monitor belongs to its connection's list and
 * its loop's index at once and is freed when it leaves both (MonitorStop, or the end of the
 * connection).
 */
#ifndef TG_CTI_MONITOR_H
#define TG_CTI_MONITOR_H

#include "cti/outcome.h"
#include "cti/proto.h"

struct cti_conn;
struct cti_server;
struct cti_mon_index;

/* A loop's monitor index (server.c creates one per loop; NULL when out of memory).
 * Freeing it leaves the monitors to their connections (which release them on close). */
struct cti_mon_index *cti_mon_index_new(void);
void cti_mon_index_free(struct cti_mon_index *ix);

/* The subscriber server.c puts on the device-state bus (core/devstate.h): counts and
 * logs the change and posts it to every loop, where each monitor of the device gets its
 * BackInService / OutOfService. arg is the struct cti_server. */
void cti_on_device_state(void *arg, const char *device, int in_service);

/* What the store said of the user's association with the device. */
enum cti_assoc {
	CTI_ASSOC_NOT_ASKED = 0, /* not looked up (not needed) */
	CTI_ASSOC_YES,
	CTI_ASSOC_NO,
	CTI_ASSOC_FAILED, /* the store failed */
};

/* Whether the association must be looked up before cti_device_decide can say: not for
 * a super provider (DIR_CTI_ALL_DEVICES) nor for the device's owner. */
int cti_device_needs_association(unsigned perms, const char *owner, const char *user);
/* May `user` (with DIR_CTI_* perms) open the device? store_rc: STORE_OK (owner is its
 * owner user id, "" for none), STORE_NOTFOUND, or another store error. CTI_OK with the
 * rule that allowed it in *rule (for the log), CTI_DEV_UNKNOWN, CTI_DEV_FORBIDDEN or
 * CTI_DEV_STORE. */
enum cti_outcome cti_device_decide(int store_rc, const char *owner, const char *user,
                                   unsigned perms, enum cti_assoc assoc, const char **rule);
/* May a session with nmons monitors open one more (cti.max_monitors = max)? CTI_OK or
 * CTI_MON_TOO_MANY. */
enum cti_outcome cti_monitor_check(int nmons, int max);

/* MonitorStart, SnapshotDevice and GetSwitchingFunctionDevices: a device job on the
 * worker pool, answered from the connection's loop. */
void cti_monitor_device_request(struct cti_conn *c, int invoke, const struct cti_msg *m);
/* MonitorStop. */
void cti_monitor_stop(struct cti_conn *c, int invoke, const struct cti_msg *m);
/* Releases every monitor of the connection (on its loop). */
void cti_monitor_release_all(struct cti_conn *c);

#endif
