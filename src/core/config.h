/* SPDX-License-Identifier: ISC */
/*
 * config: the node configuration, an INI file parsed with inih. Every key is declared in
 * one table (config.c) with its type and limits; unknown sections or keys, duplicates,
 * out-of-range values and relative paths are errors reported as file:line: message.
 * Provisioning data (users, devices, parameters) is not here: it lives in the store.
 *
 * A struct tg_config is a plain value: copy it freely; it owns no heap memory.
 */
#ifndef TG_CONFIG_H
#define TG_CONFIG_H

#include "core/log.h"

#include <stddef.h>

#define CFG_PATH_MAX 256
#define CFG_FILE_MAX (1024 * 1024)
#define CFG_LINE_MAX 1024

struct tg_config {
	char path[CFG_PATH_MAX]; /* the file it came from, "" for built-in defaults */
	struct {
		int threads; /* event-loop threads, 0 = one per core */
		int workers; /* worker-pool threads for CPU-heavy jobs, 0 = one per core */
		char state_dir[CFG_PATH_MAX];
		char control_socket[CFG_PATH_MAX]; /* default: <state_dir>/telgated.sock */
		char user[64];                     /* drop privileges to this user, "" = stay */
		int drain_timeout_s;
		char node_id[64]; /* default: the host name */
		/* the host name or address phones and peers use to reach this node (the
		 * processnode row, cnf.xml's callManager blocks); default: node_id */
		char node_address[256];
		/* Seconds between this node's heartbeats (its processnode row); a node silent for
		 * 3 of them is dead to the others (docs/cluster.md). Default 30. */
		int heartbeat_s;
	} core;
	struct {
		enum log_level level;
		enum log_format format;
		char target[CFG_PATH_MAX + 8];
		int buffer_ms; /* 0: every line written at once (log.h: log_set_buffering) */
	} log;
	struct {
		char backend[16];        /* "sqlite" or "postgres" */
		char path[CFG_PATH_MAX]; /* sqlite: default <state_dir>/telgate.db */
		/* postgres: a libpq connection string, given here or (with a password) in
		 * conninfo_file, a file only its owner may read; exactly one of the two. */
		char conninfo[1024];
		char conninfo_file[CFG_PATH_MAX];
		int busy_timeout_ms;
	} store;
	struct {
		unsigned argon2_t;     /* argon2id passes */
		unsigned argon2_m_kib; /* argon2id memory in KiB */
	} password;
	struct {
		int workers;          /* directory worker threads (argon2id), 0 = one per core */
		int failure_delay_ms; /* every failed login answers no sooner than this */
	} dir;
	struct {
		char servers[CFG_LINE_MAX]; /* ldap:// or ldaps:// URIs, tried in order; "" = off */
		char base[512];
		char filter[512]; /* template with %u (the escaped user id), or "ad" / "openldap" */
		char bind_dn[512];
		char bind_password_file[CFG_PATH_MAX];
		char ca_file[CFG_PATH_MAX]; /* trust anchors for ldaps:// and StartTLS */
		int starttls;               /* 1: StartTLS on ldap:// URIs (required) */
		int timeout_ms;             /* per operation */
		int connect_timeout_ms;     /* TCP + TLS connect, per server */
		int retry_s;                /* how often a failed server is tried again */
		int pool_size;              /* connections per server and role */
	} ldap;
	struct {
		char address[64];      /* listen address, default 0.0.0.0 */
		int port;              /* plain CSTA XML over TCP, 0 = off (default 2748) */
		int tls_port;          /* CSTA XML over TLS, 0 = off (default 2749) */
		int allow_plain_login; /* 1: logins over plain TCP are accepted */
		int session_duration;  /* default heartbeat window, s */
		int max_session_duration;
		int max_monitors;    /* per session */
		int max_connections; /* per node */
		int login_timeout_s; /* a connection must log in within this */
	} cti;
	struct {
		char realm[128]; /* digest realm; HA1s are provisioned for it */
		char address[64];
		int port;     /* UDP and TCP, 0 = off (default 5060) */
		int tls_port; /* 0 = off (default 5061) */
		int min_expires, max_expires, default_expires;
		int nonce_lifetime_s;
		int challenge_sha256, challenge_md5; /* which digest challenges are offered */
		/* SIP OAuth's challenge to a REGISTER without a token on 5090: 0 Jabber's 407
		 * Proxy-Authenticate (default, seed 002), 1 RFC 8898's 401 WWW-Authenticate */
		int oauth_challenge_www;
		int source_failures_max; /* failed digests per source address per minute, 0 = off */
		/* a 403 decided on the worker path is sent no sooner than this many ms after
		 * the request arrived, so timing tells no one which digest users exist; 0 = off */
		int failure_delay_ms;
		/* a 200 that adds or removes a binding waits until the change is committed:
		 * the writer lets such a batch gather this long (ms, 0 = commit as soon as it
		 * is idle), and an answer that waits longer than commit_timeout_ms gets 500
		 * with Retry-After (docs/sip.md, Location) */
		int commit_interval_ms, commit_timeout_ms;
		/* the outage spool (<core.state_dir>/sip-location.spool, sip/spool.h): binding
		 * changes the store cannot take while it is unavailable, at most this many MiB
		 * (then 503); 0 = no spool */
		int spool_max_mib;
		int edge_port; /* mutual TLS for edge proxies, 0 = off (default 5091) */
		char edge_ca_file[CFG_PATH_MAX]; /* edge trust store; default <pki.dir>/ca.crt */
		int max_connections;             /* TCP + TLS + edge, per node */
		int max_connections_per_source;  /* per source IP address */
		int first_message_timeout_s;     /* a new connection must send a request within */
		int idle_timeout_s;              /* then may stay silent this long */
		int force_rport; /* UDP answers go to the source port even without rport */
		/* sipOAuthPort (seed 002): bearer-token registration over TLS, 1024-49151,
		 * advertised in the node table and cnf.xml (default 5090); 0 = off (no listener
		 * even with ClusterSIPOAuthMode on, none advertised), as edge_port */
		int oauth_port;
	} sip;
	struct {
		/* the device-file service (provision/files.h): cnf.xml, trust lists, static files
		 */
		char address[64];        /* HTTP and TFTP bind here, default 0.0.0.0 */
		int http_port;           /* 0 = off (default 6970) */
		int https_port;          /* the same over TLS, 0 = off (default 6971) */
		int tftp_port;           /* 0 = off (default 69) */
		char dir[CFG_PATH_MAX];  /* static files, "" = none */
		int max_file_bytes;      /* a static file above this is not served */
		int tftp_mtu;            /* path MTU: blksize is clamped to fit one datagram */
		int tftp_max_windowsize; /* RFC 7440 cap (default 64) */
		int tftp_timeout_ms;     /* first retransmission; doubles per retry */
		int tftp_retries;        /* retransmissions before a transfer is abandoned */
		int tftp_deadline_s;     /* a transfer ends by then, whatever happens */
		int tftp_max_transfers;  /* concurrent transfers per node */
		int tftp_max_per_source; /* concurrent transfers per source address */
		int tftp_loops;          /* event loops that take requests (1); 0 = all */
	} files;
	struct {
		/* the admin HTTP listener: /metrics and /healthz (admin/admin_http.h) */
		char http_address[64]; /* default 127.0.0.1 */
		int http_port;         /* 0 = off (default 9464) */
	} admin;
	struct {
		char dir[CFG_PATH_MAX]; /* default: <state_dir>/pki */
		unsigned server_days;
		char server_names[CFG_PATH_MAX]; /* extra SAN DNS names, comma-separated */
		/* enrolment profiles (ca/capf.h): the shortest authentication string an
		 * administrator may choose (4-128, default 12; below 12 is warned about), and
		 * wrong strings a minute from one source before it is refused unheard (0 =
		 * no limit, default 20) */
		int capf_min_length;
		int capf_source_failures_max;
		unsigned client_days; /* lifetime of an issued client certificate (ca/ca_issue.h) */
		unsigned crl_days;    /* the CRL's nextUpdate - thisUpdate (ca/ca_crl.h) */
		int signer_queue; /* signing requests in flight at most (then -EBUSY), default 256
		                   */
		int signer_nice;  /* the signer process's nice value, default 10 */
		/* the cluster's key-encryption key (ca/ca_kek.h); required with store
		 * backend postgres, refused otherwise */
		char kek_file[CFG_PATH_MAX];
	} pki;
	struct {
		/* the EST server (RFC 7030; ca/est_server.h): HTTPS, server-authenticated, a
		 * client certificate asked for (optional) */
		char address[64];    /* default 0.0.0.0 */
		int port;            /* 0 = off (default 8443) */
		int max_connections; /* connections at once (default 10000) */
		int queue;           /* enrolments signing at once; beyond: 202 + Retry-After */
		int rate; /* enrolments started per second, a token bucket; 0 = no limit */
		int reenroll_grace_s; /* a superseded certificate is revoked this long after its
		                         successor was issued (0 = at once; default 3600) */
		int threads; /* EST's own event loops and workers (TLS handshakes, enrolment
		                jobs), apart from call processing's; 0 = one per core (default) */
		int nice;    /* their nice value (default 10, as the signer's) */
	} est;
	struct {
		/* [cti_interface]: the cloud CTI event interfaces (src/xsi, docs/cti-events.md);
		 * the interfaces themselves are in the store (`telgate cti-interface add`) */
		int heartbeat_s;       /* ChannelHeartBeat period (default 15) */
		int client_timeout_s;  /* a channel the client has not heard from this long
		                          (heartbeat, refresh, ack) is terminated; 0 = never
		                          (default 60) */
		int redeliver_s;       /* an unacknowledged event is sent again (default 10) */
		int queue_max;         /* unacknowledged events per channel set (default 1000) */
		int channels_max;      /* channels of the node (default 20000) */
		int subscriptions_max; /* default 100000 */
		int expires_default_s; /* a channel or subscription without <expires> (3600) */
		int sweep_s;           /* subscribers re-read from the store (deprovisioning;
		                          default 5) */
		int write_limit;       /* bytes a channel's connection may have unsent before it
		                          is cut off as a slow reader (default 256 KiB) */
	} xsi;
	struct {
		/* the OAuth token service (authz/token.h, issue 18; docs/oauth.md) */
		char issuer[256];   /* "iss": default https://<core.node_address>:<est.port> */
		int issuer_derived; /* 1: issuer not configured, derived from this node's address */
		/* Unified CM's "OAuth Access Token Expiry Timer" (default 60 min) and "OAuth
		 * Refresh Token Expiry Timer" (default 60 days), in seconds */
		int access_token_expiry_s;
		int refresh_token_expiry_s;
		int leeway_s;      /* clock skew allowed on exp, nbf and iat (default 60) */
		char alg[8];       /* the algorithm of new keys: ES256 (default), RS256, EdDSA */
		int key_grace_s;   /* a rotated-in key is published this long before it signs */
		int cache_entries; /* verified tokens remembered (default 65536, 0 = no cache) */
		/* a retried refresh (the same used refresh token) gets the same successor within
		 * this long; after it, reuse revokes the family (RFC 9700 §4.14; default 30) */
		int refresh_grace_s;
	} oauth;
};

struct config_error {
	char file[CFG_PATH_MAX];
	int line; /* 0 when the error is not tied to a line */
	char msg[256];
};

/* Fills built-in defaults (derived paths resolved against the default state dir). */
void config_defaults(struct tg_config *cfg);

/* Parses text (len bytes, need not be NUL-terminated) named `name` in errors. On success
 * fills *cfg (defaults, then the file, then derived paths) and returns 0; on failure
 * returns -1 with *err filled and *cfg unspecified. Not thread-safe (inih globals): call
 * from one thread at a time. */
int config_parse(const char *name, const char *text, size_t len, struct tg_config *cfg,
                 struct config_error *err);

/* Reads and parses a file (at most CFG_FILE_MAX bytes). */
int config_load(const char *path, struct tg_config *cfg, struct config_error *err);

/* Formats an error as "file:line: msg" (or "file: msg"). */
void config_error_format(const struct config_error *err, char *out, size_t cap);

/* Which settings differ in a way that a reload cannot apply (threads, paths, ...):
 * writes a comma-separated list of "section.key" into out and returns their count. */
int config_restart_needed(const struct tg_config *a, const struct tg_config *b, char *out,
                          size_t cap);

#endif
