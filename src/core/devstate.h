/* SPDX-License-Identifier: ISC */
/*
 * devstate: the device-state bus (issue 14). A device is in service while it has at least
 * one registration binding; CTI applications see "in service" / "out of service" events
 * for the devices they monitor (seed 000). The registrar (and an administrator's `telgate
 * device state`) publishes; the CTI server subscribes, and so will the cloud CTI
 * interface and, in a cluster, the link to the other nodes. No subsystem calls another's
 * server for this: both sides know only this header.
 *
 * The bus keeps the current state of every device in service (a retained value, as an
 * MQTT broker keeps a topic's last message), so a monitor opened later reads it with
 * devstate_get instead of each subscriber keeping its own copy. Only changes are
 * delivered: publishing the state a device already has does nothing.
 *
 * Threads: any thread may publish or read. A subscriber's callback runs on the
 * publisher's thread, right after the change, with the device's shard of the table held:
 * so two changes of one device reach every subscriber in the order they were made, and
 * the callback must be short and must not call back into the bus (it typically copies
 * the event and loop_post()s it to its own loops). devstate_unsubscribe waits for
 * callbacks in flight, so after it returns the subscriber may free its argument.
 *
 * Ownership: the bus copies device names; the caller owns the subscriber's arg.
 */
#ifndef TG_DEVSTATE_H
#define TG_DEVSTATE_H

#include <stddef.h>
#include <stdint.h>

#define DEVSTATE_NAME_MAX 128  /* bytes of a device name (Unified CM: at most 128) */
#define DEVSTATE_SUBSCRIBERS 8 /* CTI, the cloud interface, the cluster link: room to spare */

struct devstate;

/* A change: device (NUL-terminated, valid during the call) is now in service (1) or out
 * of service (0). */
typedef void (*devstate_fn)(void *arg, const char *device, int in_service);

/* Returns NULL when out of memory. */
struct devstate *devstate_new(void);
/* After every subscriber left and no publisher runs. NULL is a no-op. */
void devstate_free(struct devstate *b);

/* The same with the registration contact that made the change ("" when the publisher
 * gave none: an administrator's `device state`, an expiry), for the cloud CTI
 * interface's Registration package (src/xsi). */
typedef void (*devstate_contact_fn)(void *arg, const char *device, int in_service,
                                    const char *contact);

/* Adds a subscriber. Returns 0, or -1 when DEVSTATE_SUBSCRIBERS are there already. */
int devstate_subscribe(struct devstate *b, devstate_fn fn, void *arg);
int devstate_subscribe_contact(struct devstate *b, devstate_contact_fn fn, void *arg);
/* Removes the subscriber added with this fn and arg, once no callback of it runs. */
void devstate_unsubscribe(struct devstate *b, devstate_fn fn, void *arg);
void devstate_unsubscribe_contact(struct devstate *b, devstate_contact_fn fn, void *arg);

/* Sets the device's state and, when it changed, tells every subscriber. Returns 1 when it
 * changed, 0 when the device already was in that state, -1 for an empty name or one
 * longer than DEVSTATE_NAME_MAX, or when out of memory (nothing changed). */
int devstate_publish(struct devstate *b, const char *device, int in_service);
/* The same, naming the contact (a SIP Contact URI, valid during the call) whose binding
 * made the change; NULL is "". */
int devstate_publish_contact(struct devstate *b, const char *device, int in_service,
                             const char *contact);
/* 1 when the device is in service, else 0 (unknown devices are out of service). */
int devstate_get(struct devstate *b, const char *device);
/* Calls fn for each device in service at the time of the call (the names are copied
 * first: fn runs with no lock held and may publish). Returns 0, or -1 when out of memory
 * (no call made). */
int devstate_each(struct devstate *b, void (*fn)(void *ud, const char *device), void *ud);
/* Devices in service now, and changes published since the start (the metrics). */
size_t devstate_in_service(const struct devstate *b);
uint64_t devstate_changes(const struct devstate *b);

#endif
