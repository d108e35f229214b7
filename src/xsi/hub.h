/* SPDX-License-Identifier: ISC */
/*
 * xsi/hub: the state of the cloud CTI event interface (Xsi-Events v2.0 model; issue 20):
 * channel sets, their streaming channels, the subscriptions and the delivery queue.
 *
 * - A channel set (channelSetId, per client identity) has 0..n channels (redundancy) and
 *   0..n subscriptions. A channel is one held HTTP answer (http_stream_begin): its first
 *   chunk is <Channel>, then one XML document per chunk: events, <ChannelHeartBeat/>
 *   every heartbeat_s, and a ChannelTerminatedEvent when the hub ends it.
 * - A subscription (per user, or per directory group) targets (user, device) pairs the
 *   server resolved from the store; a device-state change of a target device becomes an
 *   event of its package ("Device State" or "Registration").
 * - Delivery: each event gets an eventID and the subscription's next sequenceNumber and
 *   waits in its set's queue (oldest first) until acknowledged (eventresponse). It is
 *   sent on one live channel of the set (lowest priority value), sent again after
 *   redeliver_s on another channel when there is one, and sent again at once to a channel
 *   that opens on the set: at least once, in order per subscription. The queue is bounded
 *   (queue_max per set): an event that would pass it terminates the set's channels
 *   ("event queue full") and the queue is emptied (the events are counted as dropped):
 *   a consumer that falls behind costs bounded memory. A channel's output in flight is
 *   bounded too (XSI_OUT_MAX bytes), and the HTTP layer's write_limit cuts a peer that
 *   stops reading (on_abort closes the channel).
 *
 * Threads: every function may be called from any thread; one mutex guards the state
 * (held for table lookups and copying, never across I/O). A channel's HTTP request is
 * touched only on its loop: output is queued under the mutex and flushed by a
 * loop_post to that loop. xsi_hub_device_state runs on a publisher's thread (the
 * device-state bus) and only renders and queues.
 *
 * Ownership: the hub copies every string it keeps; the caller owns its arguments.
 * Errors are negative errno values: -ENOENT (no such channel, subscription or event of
 * that identity), -ENOSPC (a limit), -ENOMEM, -EPIPE (the connection is gone).
 */
#ifndef TG_XSI_HUB_H
#define TG_XSI_HUB_H

#include <stddef.h>
#include <stdint.h>

struct http_request;
struct xsi_hub;
struct xsi_body;

#define XSI_HEX_ID 32         /* characters of the hub's ids (128 random bits, hex) */
#define XSI_OUT_MAX (1 << 20) /* bytes of a channel's output waiting for its loop */

enum xsi_package {
	XSI_PKG_DEVICE_STATE = 0, /* "Device State" */
	XSI_PKG_REGISTRATION,     /* "Registration" */
	XSI_PKGS
};
/* The package a Subscription's <event> names (exact, as documented), or -1. */
int xsi_package_parse(const char *name);
const char *xsi_package_name(enum xsi_package p);

struct xsi_hub_options {
	int heartbeat_s;      /* ChannelHeartBeat period, seconds (Xsi: 15) */
	int client_timeout_s; /* a channel without a client heartbeat, refresh or ack this
	                         long is terminated; 0: never */
	int redeliver_s;      /* an unacknowledged event is sent again after this long */
	int queue_max;        /* unacknowledged events per channel set */
	int channels_max;     /* channels of the node */
	int subscriptions_max;
	int expires_default_s; /* a Channel or Subscription without <expires> */
};

struct xsi_target {
	char user[129];   /* user id */
	char device[129]; /* device name */
};

struct xsi_hub *xsi_hub_new(const struct xsi_hub_options *o);
/* After every loop stopped (channels still open are freed without an answer). */
void xsi_hub_free(struct xsi_hub *h);

/* Opens a channel for identity on the request's loop (call from its route handler):
 * starts the streaming answer, sends <Channel>, and sends the set's unacknowledged
 * events. id gets the channel id (XSI_HEX_ID + 1 bytes). -ENOSPC at channels_max. */
int xsi_hub_channel_open(struct xsi_hub *h, const char *identity, const struct xsi_body *b,
                         struct http_request *req, char *id);
/* PUT channel/{id} (refresh: expires_s, -1 = the default), PUT channel/{id}/heartbeat,
 * DELETE channel/{id} (ends it with ChannelTerminated "deleted"). */
int xsi_hub_channel_refresh(struct xsi_hub *h, const char *identity, const char *id, int expires_s);
int xsi_hub_channel_heartbeat(struct xsi_hub *h, const char *identity, const char *id);
int xsi_hub_channel_delete(struct xsi_hub *h, const char *identity, const char *id);

/* POST eventresponse: the event leaves the queue. */
int xsi_hub_ack(struct xsi_hub *h, const char *identity, const char *event_id);

/* A subscription of identity's set set_id to package for target (a user id, or a group
 * name with is_group), resolved to n (user, device) targets. id gets its id. */
struct xsi_sub_request {
	const char *identity, *set_id, *application_id, *target;
	int is_group;
	enum xsi_package package;
	int expires_s; /* -1: the default */
};
int xsi_hub_sub_add(struct xsi_hub *h, const struct xsi_sub_request *r, const struct xsi_target *t,
                    size_t n, char *id);
int xsi_hub_sub_refresh(struct xsi_hub *h, const char *identity, const char *id, int expires_s);
int xsi_hub_sub_delete(struct xsi_hub *h, const char *identity, const char *id);
/* The lifecycle sweep (the server's, on a worker): every subscription's id and target. */
int xsi_hub_sub_list(struct xsi_hub *h,
                     void (*fn)(void *ud, const char *id, const char *target, int is_group),
                     void *ud);
/* Replaces a subscription's (user, device) targets. */
int xsi_hub_sub_retarget(struct xsi_hub *h, const char *id, const struct xsi_target *t, size_t n);
/* Ends a subscription with a SubscriptionTerminatedEvent saying reason. */
int xsi_hub_sub_terminate(struct xsi_hub *h, const char *id, const char *reason);

/* A device-state change from the bus (any thread). */
void xsi_hub_device_state(struct xsi_hub *h, const char *device, int in_service,
                          const char *contact);

/* Once a second (the server's timer): heartbeats, expiries, client timeouts,
 * redelivery. now_ms: a monotonic clock (tg_mono_ms). */
void xsi_hub_tick(struct xsi_hub *h, int64_t now_ms);
/* Terminates every channel (reason), e.g. when the interface is deleted or the daemon
 * stops; the loops must still run to send it. */
void xsi_hub_close_all(struct xsi_hub *h, const char *reason);

#define XSI_DELAY_BUCKETS 5 /* < 1 ms, < 5 ms, < 20 ms, < 100 ms, more */
struct xsi_hub_stats {
	uint64_t channels, sets, subscriptions, queued;         /* now */
	uint64_t events, sent, redelivered, acked, dropped;     /* since the start */
	uint64_t terminated_channels, terminated_subscriptions; /* since the start */
	/* Where latency comes from: the oldest document of each flush, from being queued
	 * (under the hub's mutex) to written to the channel's stream on its loop; and the
	 * longest xsi_hub_tick (its walk holds the mutex), microseconds. */
	uint64_t write_delay[XSI_DELAY_BUCKETS];
	uint64_t tick_max_us;
	/* The tick's CPU time (its thread's): the longest tick and all ticks, microseconds. */
	uint64_t tick_cpu_max_us, tick_cpu_us;
};
void xsi_hub_stats(struct xsi_hub *h, struct xsi_hub_stats *out);

#endif
