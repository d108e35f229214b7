/* SPDX-License-Identifier: ISC */
/*
 * store: the only storage API of telgate. Callers never see SQL or a backend type; the
 * SQLite backend (default, embedded) or the PostgreSQL backend (a cluster's shared store)
 * is selected by store_open(), behind the same functions (store_backend.h). Table names follow
 * Unified CM where one exists (enduser, device, enduserdevicemap, processconfig, credentialpolicy,
 * ...): see docs/store.md.
 *
 * Threads: a store_t may be used from any number of threads at once; each thread gets its
 * own database connection the first time it calls in. A transaction (store_begin ..
 * store_commit/rollback) belongs to the calling thread. Functions are blocking: call them
 * from worker threads or at start-up, not from an event-loop thread on a hot path.
 *
 * Ownership: structs passed in are read, never kept; structs passed out are filled in
 * place (fixed-size fields, no heap). Strings longer than a field are refused by the
 * caller-facing validators (provisioning) before they reach the store.
 */
#ifndef TG_STORE_H
#define TG_STORE_H

#include <stddef.h>
#include <stdint.h>

typedef struct store store_t;

enum store_rc {
	STORE_OK = 0,
	STORE_NOTFOUND = -1,
	STORE_ERROR = -2,      /* backend failure: store_last_error() says what */
	STORE_CONSTRAINT = -3, /* unique/foreign-key/check violation */
	STORE_BUSY = -4,       /* lock not obtained within the busy timeout */
	STORE_REFUSED = -5,    /* a read-only query that is not a single SELECT */
	STORE_TOOBIG = -6,     /* a value does not fit the output field */
	/* The database cannot be reached (PostgreSQL down, a standby, the connection lost):
	 * nothing was done; the backend reconnects by itself, so "try again later". */
	STORE_UNAVAILABLE = -7,
};

struct store_options {
	const char *backend; /* "sqlite" (default) or "postgres" */
	const char *path;    /* database file for sqlite */
	/* postgres: a libpq connection string, or a file holding one that only its owner may
	 * read (read once at open: threads connect later, after the privilege drop). */
	const char *conninfo;
	const char *conninfo_file;
	int busy_timeout_ms; /* lock waits; on postgres the session's lock_timeout */
	/* 1: open for an offline check (telgated --kek-status, --kek-rotate): a store whose
	 * schema is older than this program's is refused, not migrated (in a cluster the
	 * shared database would change under the nodes still running the older telgated). */
	int no_migrate;
};

/* Opens (creating if needed) and migrates the store to the latest schema, logging
 * store_migrated (from, to, ms) when a migration ran. A store whose schema is newer than
 * this program knows is refused; with opt->no_migrate, one whose schema is older too
 * (err says which version it has and how to upgrade it). */
int store_open(const struct store_options *opt, store_t **out, char *err, size_t errlen);
void store_close(store_t *st);
/* Tells the store that its process is stopping (telgated calls it when it starts to
 * drain): a failure to reach PostgreSQL from then on says so and promises no next attempt,
 * since none may come (the DatabaseUnavailable alarm's action says the same). Any thread;
 * a no-op on SQLite. */
void store_stopping(store_t *st);
const char *store_backend_name(const store_t *st);
/* This node's view of the shared store, in words for `telgate cluster status`: whether the
 * calling thread's connection answers ("connected", or "unavailable: <why>") into db, and
 * the state of the channel other nodes' changes arrive on ("listening on telgate_store",
 * "lost, reconnecting", or "none: the store is this node's alone" on SQLite) into listen.
 * Blocking (one round trip). */
void store_cluster_state(store_t *st, char *db, size_t dbcap, char *listen, size_t listencap);
/* The message of this thread's last failure (static per thread, never NULL). */
const char *store_last_error(void);

int store_schema_version(store_t *st, int *version);
int store_schema_latest(void);

/* Transactions on the calling thread's connection. store_begin takes the write lock at
 * once (no upgrade deadlocks). Nested calls are an error. */
int store_begin(store_t *st);
int store_commit(store_t *st);
int store_rollback(store_t *st);
/* A run of reads on the calling thread's connection as one read transaction: SQLite then
 * takes its read lock and checks the log (and drops its page cache when another
 * connection committed) once for the run instead of once per statement. Writes inside it
 * are an error of the caller (on SQLite they may fail with STORE_BUSY). STORE_OK, or an
 * error: the reads then run one by one as before. A backend where it gains nothing
 * (PostgreSQL: two more round trips) does nothing. store_read_end ends it (STORE_OK when
 * none is open); neither counts in store_txn_latency. */
int store_read_begin(store_t *st);
int store_read_end(store_t *st);

/* The latency of transactions (store_begin to its commit or rollback, the wait for the
 * write lock included), for the metrics. Valid while the store is open. */
struct metrics_histogram;
const struct metrics_histogram *store_txn_latency(store_t *st);

/* The health check: takes the write lock and releases it at once, writing nothing,
 * waiting at most timeout_ms (ms) for it on the calling thread's connection. Returns
 * STORE_OK; STORE_BUSY when another connection holds the lock that long (store_last_error
 * says so); STORE_ERROR when the database cannot be opened or read. Blocking. */
int store_probe_write(store_t *st, int timeout_ms);

/* Numbers for caches of stored data (the registrar's account cache). store_generation
 * changes after every write committed through this store handle except those of
 * registrations and credential state; store_user_generation(userid) after every write
 * of that user's credential state (and, rarely, of others': users share 2^18 slots).
 * Read them before loading; what was loaded is current while they are unchanged. Both
 * only grow. Writes by other processes or cluster nodes are not seen: telgated is the
 * only writer of its store. Any thread. */
uint64_t store_generation(store_t *st);
uint64_t store_user_generation(store_t *st, const char *userid);
/* Starts loading the cache line of userid's generation, for a caller that reads it after
 * other work (issue 22: the 2 MB array misses the CPU's caches under load). Any thread. */
void store_user_generation_prefetch(store_t *st, const char *userid);

/* --- users -------------------------------------------------------------------------- */

enum store_directory { STORE_DIR_LOCAL = 0, STORE_DIR_LDAP = 1 };
enum store_user_status { STORE_USER_ACTIVE = 1, STORE_USER_INACTIVE = 2 };
/* How the user's CTI login is authenticated (enduser.ctiauthtype, schema v11; docs/
 * protocol.md): the password (and, in Standard CTI Secure Connection, a certificate too),
 * or a certificate telgate's CA issued to the user alone (the seed's "AuthType
 * certificate" of an application user). */
enum store_ctiauthtype { STORE_CTIAUTH_PASSWORD = 0, STORE_CTIAUTH_CERTIFICATE = 1 };
/* "password", "certificate" (the column's values). */
const char *store_ctiauthtype_name(enum store_ctiauthtype t);
/* The type a name gives; 0, or -1 for a name that is not one. */
int store_ctiauthtype_parse(const char *name, enum store_ctiauthtype *out);

#define STORE_ID_MAX 128   /* user ids, device names, group and policy names */
#define STORE_NAME_MAX 128 /* first/last names, mail, descriptions */
#define STORE_HASH_MAX 255

struct store_user {
	char userid[STORE_ID_MAX + 1];
	char firstname[STORE_NAME_MAX + 1];
	char lastname[STORE_NAME_MAX + 1];
	char mail[STORE_NAME_MAX + 1];
	enum store_directory directory;
	char passwordhash[STORE_HASH_MAX + 1]; /* argon2id string; "" for directory users */
	enum store_user_status status;
	char credentialpolicy[STORE_ID_MAX + 1];
	/* Read by store_user_get; store_user_put leaves the stored value alone (a new user
	 * gets 'password'), so a re-import that does not name it keeps what the administrator
	 * set with store_user_set_ctiauthtype. */
	enum store_ctiauthtype ctiauthtype;
};

int store_user_put(store_t *st, const struct store_user *u); /* insert or replace */
int store_user_get(store_t *st, const char *userid, struct store_user *out);
/* Deletes the user and what references it (ON DELETE CASCADE); STORE_NOTFOUND when there
 * is none. */
int store_user_delete(store_t *st, const char *userid);
/* Sets enduser.ctiauthtype. STORE_NOTFOUND when there is no such user. */
int store_user_set_ctiauthtype(store_t *st, const char *userid, enum store_ctiauthtype t);

/* Replaces the user's group membership with the n groups given (which must exist). */
int store_user_set_groups(store_t *st, const char *userid, const char *const *groups, size_t n);
/* Calls fn for each group of the user, in name order; fn returns nonzero to stop. */
int store_user_groups(store_t *st, const char *userid, int (*fn)(void *ud, const char *group),
                      void *ud);
int store_group_put(store_t *st, const char *name, const char *description);
int store_group_exists(store_t *st, const char *name);

/* Credential types (Unified CM's typecredential, by name). Each credential of a user has
 * its own state row (credentialdynamic) and its own policy, so failures of one never
 * lock another (issue 13): wrong SIP digests cannot deny a user's CTI login. PIN,
 * enrolment strings and client secrets join this list when they exist. */
enum store_credtype {
	STORE_CRED_PASSWORD = 0, /* end-user password: CTI login, web login, OAuth password */
	STORE_CRED_DIGEST = 1,   /* SIP digest credential: covers every line of the user */
};
#define STORE_CRED_TYPES 2
/* "password", "digest" (the credentialtype column's values). */
const char *store_credtype_name(enum store_credtype t);
/* The type a name gives; 0, or -1 for a name that is not a credential type. */
int store_credtype_parse(const char *name, enum store_credtype *out);

/* Credential state: the dynamic part of the credential policy, one row per user and
 * credential type (credentialdynamic). */
struct store_credstate {
	int hackcount;               /* consecutive failures */
	int64_t timelockedout;       /* epoch s of the lockout, 0 = not locked */
	int64_t timehackedlockout;   /* epoch s of the lockout by threshold, 0 = none */
	int64_t lastsuccessfullogin; /* epoch s, 0 = never */
	int64_t lastfailedlogin;     /* epoch s, 0 = never */
	int64_t timechanged;         /* epoch s of the last credential change */
	int mustchange;
	int inactive;
	int doesnotexpire;
	/* This credential's own policy; "" = the default: enduser.credentialpolicy for the
	 * password, the type's row in credentialpolicydefault for the others. */
	char credentialpolicy[STORE_ID_MAX + 1];
};
/* One failed check of the credential, counted in one statement (UPDATE .. RETURNING), so
 * that failures on every node sharing the store add up without a transaction: a lockout
 * that ran out (timehackedlockout <= unlock_before; -1 = never runs out) starts afresh;
 * the count restarts when the last failure is old (lastfailedlogin <= reset_before; -1 =
 * never); the count grows by one, lastfailedlogin = now, and the lockout starts at now
 * when the count reaches threshold (0 = no lockout) and none is on. *out gets the state
 * after. STORE_NOTFOUND when the user has no row for the type (nothing changed). */
int store_credstate_fail(store_t *st, const char *userid, enum store_credtype type, int64_t now,
                         int64_t unlock_before, int64_t reset_before, int threshold,
                         struct store_credstate *out);
/* Inserts or replaces the user's state for one credential type. */
int store_credstate_put(store_t *st, const char *userid, enum store_credtype type,
                        const struct store_credstate *c);
/* STORE_NOTFOUND when the user has no row for that type (*out is then zeroed). */
int store_credstate_get(store_t *st, const char *userid, enum store_credtype type,
                        struct store_credstate *out);

struct store_credpolicy {
	char name[STORE_ID_MAX + 1];
	int failedlogonthreshold;   /* 0 = no lockout */
	int resetfailedlogonsafter; /* minutes */
	int lockoutduration;        /* minutes */
	int adminmustunlock;        /* 1: only an admin unlocks */
	int expiresafterdays;       /* 0 = never */
	int expirywarningdays;      /* 0 = no warning */
	int inactivedaysallowed;    /* 0 = unlimited */
	int minlength;              /* minimum credential length */
	/* Throttling (NIST SP 800-63B §5.2.2): from this many consecutive failures on, the
	 * credential is not checked for 2^(failures - throttleafterfailures) seconds after
	 * the last failure, at most throttlemaxseconds. 0 = no throttling. */
	int throttleafterfailures;
	int throttlemaxseconds; /* seconds, >= 1 */
};
int store_credpolicy_put(store_t *st, const struct store_credpolicy *p);
int store_credpolicy_get(store_t *st, const char *name, struct store_credpolicy *out);
/* The policy a credential of that type gets when it names none (credentialpolicydefault,
 * Unified CM's "Credential Policy Default"). */
int store_credpolicy_default(store_t *st, enum store_credtype type, struct store_credpolicy *out);
/* The policy that applies to one credential: cs->credentialpolicy when set, else the
 * user's credentialpolicy for the password, else the type's default. */
int store_credpolicy_effective(store_t *st, const struct store_user *u, enum store_credtype type,
                               const struct store_credstate *cs, struct store_credpolicy *out);

/* --- devices ------------------------------------------------------------------------ */

struct store_device {
	char name[STORE_ID_MAX + 1]; /* e.g. SEP001794625DE5 */
	char model[STORE_NAME_MAX + 1];
	char protocol[16];                  /* SIP, SCCP, CTI */
	char owneruserid[STORE_ID_MAX + 1]; /* "" = no owner */
	char securityprofile[STORE_NAME_MAX + 1];
	char mac[13]; /* 12 upper-case hex digits, "" if none */
	char description[STORE_NAME_MAX + 1];
	char digestuser[STORE_ID_MAX + 1]; /* whose digest credentials register it, "" = owner */
};
int store_device_put(store_t *st, const struct store_device *d);
int store_device_get(store_t *st, const char *name, struct store_device *out);

/* The lines (AOR user parts, e.g. "1001") a device registers for; replaces the device's
 * lines with the n given (STORE_CONSTRAINT when one is given twice). A line may be on
 * several devices (schema v14: Unified CM's shared lines, e.g. a desk phone and the
 * user's softphone); which one a REGISTER binds is sip/devpick.h's decision. */
int store_device_lines_set(store_t *st, const char *device, const char *const *lines, size_t n);
/* Every device the line is on, in name order; fn returns nonzero to stop; the row is
 * valid during the call. STORE_TOOBIG when a stored row did not fit (that row skipped). */
int store_line_devices(store_t *st, const char *line,
                       int (*fn)(void *ud, const struct store_device *d), void *ud);
/* The device of a line that is on exactly one: STORE_NOTFOUND when on none,
 * STORE_CONSTRAINT when on several (a shared line: use store_line_devices). */
int store_device_by_line(store_t *st, const char *line, struct store_device *out);
int store_device_lines(store_t *st, const char *device, int (*fn)(void *ud, const char *line),
                       void *ud);

/* SIP digest credentials: HA1 = H(userid:realm:password) for MD5 and SHA-256, never the
 * password itself. */
struct store_sipcred {
	char realm[STORE_NAME_MAX + 1];
	char ha1_md5[33];
	char ha1_sha256[65];
};
int store_sipcred_put(store_t *st, const char *userid, const struct store_sipcred *c);
int store_sipcred_get(store_t *st, const char *userid, struct store_sipcred *out);

/* End-user to device association (enduserdevicemap). */
int store_assoc_put(store_t *st, const char *userid, const char *device);
int store_assoc_delete(store_t *st, const char *userid, const char *device);
int store_device_users(store_t *st, const char *device, int (*fn)(void *ud, const char *userid),
                       void *ud);
/* 1 when the user is associated with the device, 0 when not, or a store error (< 0). */
int store_assoc_exists(store_t *st, const char *userid, const char *device);

/* Devices the user owns or is associated with (all devices when all is set), in name
 * order, at most max. */
int store_devices_for_user(store_t *st, const char *userid, int all, size_t max,
                           int (*fn)(void *ud, const char *device), void *ud);

/* The users of a directory group (enduserdirgroupmap), in user id order; fn returns nonzero to
 * stop. */
int store_group_users(store_t *st, const char *group, int (*fn)(void *ud, const char *userid),
                      void *ud);

/* --- cloud CTI event interfaces (ctiinterface, ctiinterfacescope; schema v15;
 *     implemented in ctiinterface.c; seed 004, docs/cti-events.md) ------------------- */

struct store_ctiinterface {
	char address[64];                      /* as bound: "0.0.0.0", "127.0.0.1", "::" */
	int port;                              /* 1..65535 (seed: 8012) */
	int secure, servercert, clientauthreq; /* the seed's columns, 0 or 1 */
};
/* Adds one; STORE_CONSTRAINT when that address and port exist already. */
int store_ctiinterface_add(store_t *st, const struct store_ctiinterface *c);
/* STORE_NOTFOUND when there is none. */
int store_ctiinterface_delete(store_t *st, const char *address, int port);
/* Every interface, by address and port. */
int store_ctiinterfaces(store_t *st, int (*fn)(void *ud, const struct store_ctiinterface *c),
                        void *ud);

/* Which subscribers a client identity may subscribe to: scope "all" or a group name. */
int store_ctiscope_add(store_t *st, const char *identity, const char *scope);
/* STORE_NOTFOUND when there is no such row. */
int store_ctiscope_delete(store_t *st, const char *identity, const char *scope);
/* Rows of one identity (NULL: every identity), by identity and scope. */
int store_ctiscopes(store_t *st, const char *identity,
                    int (*fn)(void *ud, const char *identity, const char *scope), void *ud);

/* --- nodes (processnode; implemented in processnode.c) ------------------------------- */

/* One node of the cluster (Unified CM's processnode), written by the node itself at start
 * from its configuration (telgated.c) and read by cnf.xml generation (every node with its
 * ports) and by the cluster (lastheartbeat). Ports are TCP/UDP port numbers; 0 means that
 * listener is off on that node. Seed 002: sipoauthport (sipOAuthPort, default 5090) and
 * sipmraoauthport (sipMRAOAuthPort, default 5091) are 1024-49151 unless 0; the others
 * 0-65535. */
#define STORE_NODE_ADDRESS_MAX 255
#define STORE_NODE_VERSION_MAX 63
struct store_processnode {
	char name[STORE_ID_MAX + 1];              /* config core.node_id; the key */
	char address[STORE_NODE_ADDRESS_MAX + 1]; /* host name or IP the phones use */
	char description[STORE_NAME_MAX + 1];
	int sipport;         /* SIP over UDP and TCP (5060) */
	int securedsipport;  /* SIP over TLS (5061) */
	int sipoauthport;    /* SIP over TLS with OAuth bearer tokens (5090) */
	int sipmraoauthport; /* SIP OAuth through the edge (MRA): the edge listener (5091) */
	int ctiport;         /* CTI, CSTA XML over TCP (2748) */
	int ctitlsport;      /* CTI over TLS (2749) */
	int httpport;        /* device files over HTTP (6970) */
	int tftpport;        /* device files over TFTP (69) */
	char version[STORE_NODE_VERSION_MAX + 1]; /* the telgated version running there */
	int64_t timestarted;                      /* epoch s when the node started */
	int64_t lastheartbeat;                    /* epoch s of its last heartbeat */
	/* What the node counted at its last heartbeat (schema v16). */
	int64_t registrations; /* live bindings it owns */
	int64_t ctisessions;   /* CTI sessions open on it */
};
/* Checks a row as store_processnode_put does: 0, or -1 with the reason in err (e.g.
 * "sipoauthport 80 is not 0 or 1024-49151"). For callers that want the reason before
 * writing (the configuration, import). */
int store_processnode_check(const struct store_processnode *n, char *err, size_t errlen);
/* Inserts or replaces the node's row: a new row with n's counts, a row written again with
 * n's ctisessions and its registrations kept. STORE_CONSTRAINT (store_last_error says why) for an
 * empty name or a port out of range. Bumps store_generation (cnf.xml lists the nodes). */
int store_processnode_put(store_t *st, const struct store_processnode *n);
/* STORE_NOTFOUND when there is no such node (*out zeroed). */
int store_processnode_get(store_t *st, const char *name, struct store_processnode *out);
/* Every node in name order; fn returns nonzero to stop; the row is valid during the call.
 * STORE_TOOBIG when a stored value did not fit its field (that row is skipped). */
int store_processnodes(store_t *st, int (*fn)(void *ud, const struct store_processnode *n),
                       void *ud);
/* STORE_NOTFOUND when there is no such node. */
int store_processnode_delete(store_t *st, const char *name);
/* Sets lastheartbeat (epoch s) and the counts of n (registrations, ctisessions) only: one
 * cheap UPDATE per heartbeat. Does not bump store_generation (nothing cached depends on
 * it: the generated files would be rebuilt at each heartbeat for nothing). STORE_NOTFOUND
 * when the node has no row. */
int store_processnode_beat(store_t *st, const struct store_processnode *n);
/* The same, lastheartbeat alone (the counts kept). */
int store_processnode_heartbeat(store_t *st, const char *name, int64_t now);

/* --- device security profiles (securityprofile; implemented in securityprofile.c) ---- */

/* Unified CM's Phone Security Profile, which device.securityprofile names ("" = none).
 * Seed 002: with "Enable OAuth Authentication" on, digest authentication is not offered
 * on that profile, so a profile with both on is refused. */
struct store_securityprofile {
	char name[STORE_NAME_MAX + 1]; /* the key, as device.securityprofile holds it */
	char description[STORE_NAME_MAX + 1];
	char transport[8];              /* "TCP+UDP", "TCP", "UDP" or "TLS" */
	int enableoauthauthentication;  /* 0/1: "Enable OAuth Authentication" */
	int enabledigestauthentication; /* 0/1: "Enable Digest Authentication" */
};
/* 1 when t is one of the four transports above, else 0. */
int store_securityprofile_transport_valid(const char *t);
/* Checks a profile as store_securityprofile_put does: 0, or -1 with the reason in err
 * (e.g. "security profile 'X': OAuth and digest authentication cannot both be enabled
 * (with SIP OAuth on, digest is not offered)"). */
int store_securityprofile_check(const struct store_securityprofile *p, char *err, size_t errlen);
/* Inserts or replaces a profile. STORE_CONSTRAINT (store_last_error says why) for an empty
 * name, an unknown transport, a flag other than 0/1 or both OAuth and digest on. Bumps
 * store_generation (cnf.xml's sipOAuthMode depends on it). */
int store_securityprofile_put(store_t *st, const struct store_securityprofile *p);
/* STORE_NOTFOUND when there is no such profile (*out zeroed). */
int store_securityprofile_get(store_t *st, const char *name, struct store_securityprofile *out);
/* Every profile in name order; fn returns nonzero to stop; the row is valid during the
 * call. STORE_TOOBIG when a stored value did not fit its field (that row is skipped). */
int store_securityprofiles(store_t *st, int (*fn)(void *ud, const struct store_securityprofile *p),
                           void *ud);
/* STORE_NOTFOUND when there is no such profile; STORE_CONSTRAINT (store_last_error names
 * a device) while a device refers to it. */
int store_securityprofile_delete(store_t *st, const char *name);

/* --- enrolment profiles (capfprofile; implemented in capfprofile.c) ------------------ */

/* Unified CM's CAPF profile (issue 17, seed 001): an instance id a client enrols with, the
 * user its certificate is for, and a one-time authentication string. The store keeps
 * only a hash of the string (ca/capf.h makes and checks it) and enforces single use:
 * store_capf_consume is one UPDATE .. WHERE used = 0 .. RETURNING, so two requests (or,
 * later, two cluster nodes) can never both consume a profile. Text values are those of
 * the table's CHECK constraints: authmode string|none; secretkind hmac|argon2id ("" with
 * authmode none); keytype ec-p256|ec-p384|rsa-2048|rsa-3072; operation install|delete;
 * status pending|success|failed|locked (and expired, which the readers below compute: a
 * pending row whose expires has passed reads "expired"). Times are epoch seconds. */
#define STORE_CAPF_ID_MAX 64
#define STORE_CAPF_SERIAL_MAX 79
#define STORE_CAPF_REASON_MAX 255
struct store_capfprofile {
	char instanceid[STORE_CAPF_ID_MAX + 1]; /* the key */
	char userid[STORE_ID_MAX + 1];          /* an enduser */
	char authmode[8];
	char secretkind[12];
	char secrethash[STORE_HASH_MAX + 1]; /* hex HMAC or an argon2id string; "" = none */
	char keytype[12];
	char operation[8];
	char status[10];
	char serial[STORE_CAPF_SERIAL_MAX + 1]; /* of the certificate issued, "" until success */
	char reason[STORE_CAPF_REASON_MAX + 1]; /* why it failed, "" otherwise */
	int failures;                           /* consecutive wrong strings */
	int used;                               /* 1 once the string was consumed */
	int64_t created, expires;
};
/* Adds a profile (status pending, failures 0, used 0, no serial: those fields of p are
 * not read). STORE_CONSTRAINT when the instance id exists, the user does not, or a value
 * is not one the table allows (store_last_error says which). */
int store_capf_add(store_t *st, const struct store_capfprofile *p);
/* The profile as of now (status "expired" when pending past expires). STORE_NOTFOUND
 * when there is none (*out zeroed). */
int store_capf_get(store_t *st, const char *instanceid, int64_t now, struct store_capfprofile *out);
/* Every profile (userid NULL) or those of one user, in instance id order, as of now; fn
 * returns nonzero to stop; the row is valid during the call. STORE_TOOBIG when a stored
 * value did not fit its field (that row is skipped). */
int store_capf_list(store_t *st, const char *userid, int64_t now,
                    int (*fn)(void *ud, const struct store_capfprofile *p), void *ud);
/* STORE_NOTFOUND when there is no such profile. */
int store_capf_delete(store_t *st, const char *instanceid);
/* Consumes the one-time string, atomically: sets used (and clears failures) only when the
 * profile is pending, unused, not expired at now and its secret is still secrethash (the
 * one the caller verified: a rearm in between changes it). *out gets the row as consumed.
 * STORE_NOTFOUND when nothing matched: no such profile, already used, not pending,
 * expired, or re-armed since: whoever gets STORE_OK is the only one that ever will. */
int store_capf_consume(store_t *st, const char *instanceid, const char *secrethash, int64_t now,
                       struct store_capfprofile *out);
/* Counts one wrong string for a pending profile; from lock_at consecutive failures on
 * (lock_at > 0) its status becomes locked. *failures gets the new count, *locked_now 1
 * when this call locked it (raise the alarm once). STORE_NOTFOUND when there is no such
 * pending profile (nothing counted). */
int store_capf_auth_failed(store_t *st, const char *instanceid, int lock_at, int *failures,
                           int *locked_now);
/* The enrolment that consumed the profile ended: success with the certificate's serial,
 * or failed with a reason. STORE_NOTFOUND unless the profile is consumed and pending. */
int store_capf_succeeded(store_t *st, const char *instanceid, const char *serial);
int store_capf_failed(store_t *st, const char *instanceid, const char *reason);
/* Puts back every profile consumed and never ended (used 1, status pending): the
 * enrolments under way when the process that consumed them died (kill -9, a crash, the
 * power), whose clients got no certificate. Same string, same expiry, used 0. Only while
 * no enrolment is under way on this store: at start, before the EST listener opens (one
 * engine per SQLite file; a shared store needs a lease per node instead). fn, when not
 * NULL, is called with each instance id put back; *released gets how many. */
int store_capf_release_interrupted(store_t *st, void (*fn)(void *ud, const char *instanceid),
                                   void *ud, int *released);
/* Makes the profile usable again: status pending, failures 0, used 0, no serial or
 * reason, the new secret (secretkind/secrethash as in store_capf_add, "" for authmode
 * none) and expiry. STORE_NOTFOUND when there is no such profile; STORE_CONSTRAINT when
 * the secret does not suit its authmode. */
int store_capf_rearm(store_t *st, const char *instanceid, const char *secretkind,
                     const char *secrethash, int64_t expires);
/* --- keys a cluster shares, each node's certificate (clusterkey.c; issue 21) -------- */

/* One shared key: name "ca", "trustlist", "recovery", "capf" or "token:<kid>"; privatekey
 * an encrypted PKCS#8 PEM (ca/ca_kek.h: the store never holds a key in clear); certificate
 * its PEM ("" for a token key); created in epoch seconds. */
#define STORE_CLUSTERKEY_NAME_MAX 64
#define STORE_CLUSTERKEY_KEY_MAX 8192
#define STORE_CLUSTERKEY_CERT_MAX 8192
struct store_clusterkey {
	char name[STORE_CLUSTERKEY_NAME_MAX + 1];
	char privatekey[STORE_CLUSTERKEY_KEY_MAX];
	char certificate[STORE_CLUSTERKEY_CERT_MAX];
	int64_t created;
};
/* Inserts the key unless one of that name exists (then nothing changes: STORE_OK either
 * way; read it back with store_clusterkey_get to learn which row won). */
int store_clusterkey_add(store_t *st, const struct store_clusterkey *k);
/* STORE_NOTFOUND when there is no such key; STORE_TOOBIG when a column does not fit. */
int store_clusterkey_get(store_t *st, const char *name, struct store_clusterkey *out);
/* Every key, by name; fn returns nonzero to stop. */
int store_clusterkeys(store_t *st, int (*fn)(void *ud, const struct store_clusterkey *k), void *ud);
/* The encrypted key of an existing row replaced (a new key-encryption key); STORE_NOTFOUND. */
int store_clusterkey_replace(store_t *st, const char *name, const char *privatekey);
/* A node's TLS server certificate (PEM, at most STORE_CLUSTERKEY_CERT_MAX - 1 bytes),
 * inserted or replaced; now in epoch seconds. */
int store_nodecert_put(store_t *st, const char *node, const char *pem, int64_t now);
/* Every node's certificate, by node name; fn returns nonzero to stop. */
int store_nodecerts(store_t *st, int (*fn)(void *ud, const char *node, const char *pem), void *ud);

/* --- issued certificates and the CRL number (issuedcert.c; issue 17) ---------------- */

/* A certificate telgate's CA issued (issuedcertificate; ca/ca_issue.h writes it, ca/ca_crl.h
 * revokes it). Serials are 32 upper-case hex digits (ca_serial_hex); times Unix seconds. */
#define STORE_SERIAL_HEX 32
#define STORE_SUBJECT_MAX 255
#define STORE_FINGERPRINT_MAX 95 /* SHA-256, colon-separated upper-case hex */
#define STORE_REASON_MAX 31      /* the longest CRLReason name is 20 */
enum store_cert_status { STORE_CERT_VALID = 0, STORE_CERT_REVOKED = 1 };
struct store_issuedcert {
	char serial[STORE_SERIAL_HEX + 1];
	char subject[STORE_SUBJECT_MAX + 1]; /* RFC 2253, e.g. "CN=wwhite" */
	char userid[STORE_ID_MAX + 1];       /* the subject's CN */
	char instanceid[STORE_ID_MAX + 1];   /* the SAN's instance id, "" = none */
	char profile[STORE_ID_MAX + 1];      /* the enrolment (CAPF) profile, "" = none */
	int64_t notbefore, notafter;
	enum store_cert_status status;
	int64_t revoked_at;                           /* 0 while valid */
	char revocation_reason[STORE_REASON_MAX + 1]; /* RFC 5280 name; "" while valid */
	char sha256[STORE_FINGERPRINT_MAX + 1];       /* of the DER */
};
/* "valid", "revoked" (the status column's values). */
const char *store_cert_status_name(enum store_cert_status s);
/* Records a new certificate (c->status and the revocation fields are ignored: a new row is
 * valid) with its PEM. STORE_CONSTRAINT (store_last_error says why) when the serial is
 * already there or a field is malformed (a serial other than 32 hex digits). */
int store_issuedcert_add(store_t *st, const struct store_issuedcert *c, const char *pem);
/* STORE_NOTFOUND when there is no such serial (*out zeroed). */
int store_issuedcert_get(store_t *st, const char *serial, struct store_issuedcert *out);
/* The certificate's PEM into out (cap bytes); STORE_TOOBIG when it does not fit. */
int store_issuedcert_pem(store_t *st, const char *serial, char *out, size_t cap);
/* Every certificate (userid NULL) or one user's, oldest first (notbefore, then serial); fn
 * returns nonzero to stop; the row is valid during the call. */
int store_issuedcerts(store_t *st, const char *userid,
                      int (*fn)(void *ud, const struct store_issuedcert *c), void *ud);
/* The revoked certificates whose notafter is at or after since (a CRL lists a certificate
 * until it has expired: RFC 5280 §3.3), by serial. */
int store_issuedcerts_revoked(store_t *st, int64_t since,
                              int (*fn)(void *ud, const struct store_issuedcert *c), void *ud);
/* Marks a valid certificate revoked at `at` (Unix s) for reason (an RFC 5280 name; the
 * caller checks it). STORE_NOTFOUND when there is no such serial; STORE_CONSTRAINT when it
 * is already revoked (the first revocation stands). Run it in the caller's transaction
 * with store_crlnumber_next so that the revocation and the CRL number go together. */
int store_issuedcert_revoke(store_t *st, const char *serial, const char *reason, int64_t at);
/* The CRL number (crlnumber): _get reads the newest, _next adds one and returns the new
 * number. Both only grow. */
int store_crlnumber_get(store_t *st, int64_t *out);
int store_crlnumber_next(store_t *st, int64_t *out);
/* Raises the CRL number to at least floor (never lowers it); *out gets the number now
 * stored. A restore calls it with the time in seconds, so that the next CRL outnumbers every
 * CRL the old node may have published after its backup (RFC 5280 §5.2.3: the number only
 * grows; the counting CRLs made ~1 a revocation, far below any epoch time). */
int store_crlnumber_floor(store_t *st, int64_t floor, int64_t *out);

/* --- OAuth token keys and revocations (oauth.c; issue 18) ---------------------------- */

/* A public access-token key (oauthkey). Times Unix seconds; retires_at 0 = not retiring. */
struct store_oauthkey {
	char kid[44];         /* RFC 7638 thumbprint, 43 characters */
	char alg[8];          /* "ES256", "RS256", "EdDSA" */
	char publickey[1024]; /* SubjectPublicKeyInfo, PEM (RSA 4096 fits) */
	char node[64];        /* the node whose signer holds the private key */
	int64_t created, activates_at, retires_at;
};
/* STORE_CONSTRAINT when the kid is there already or a field is malformed. */
int store_oauthkey_add(store_t *st, const struct store_oauthkey *k);
/* Every key, oldest activation first; fn returns nonzero to stop. */
int store_oauthkeys(store_t *st, int (*fn)(void *ud, const struct store_oauthkey *k), void *ud);
/* Sets retires_at = at on every key of node but kid that is not retiring yet (a rotation). */
int store_oauthkey_retire_others(store_t *st, const char *node, const char *kid, int64_t at);
/* Records a revoked jti until exp (again: the later exp stays). */
int store_oauth_revoke_jti(store_t *st, const char *jti, int64_t exp);
/* Tokens of userid issued before t are refused (again: the later t stays). */
int store_oauth_notbefore_set(store_t *st, const char *userid, int64_t t);
/* The revoked jtis with their exp, and the users' not-before times. */
int store_oauth_revoked_jtis(store_t *st, int (*fn)(void *ud, const char *jti, int64_t exp),
                             void *ud);
int store_oauth_notbefores(store_t *st, int (*fn)(void *ud, const char *userid, int64_t t),
                           void *ud);
/* Deletes revoked jtis whose exp is before `before` (they are refused as expired anyway). */
int store_oauth_purge(store_t *st, int64_t before);

/* --- OAuth 2.0: clients, codes, refresh tokens (store_oauth.h; oauthgrant.c; issue 18) ---- */
#include "store/store_oauth.h"

/* --- TLS settings by level (tls/policy.h; table tlssetting) -------------------------- */

/* Sets one setting at one level (level: tls_level_format's canonical text; name: a
 * tls_setting_name; value: the whole value, a list comma-separated in order). now: epoch
 * seconds. */
int store_tls_setting_put(store_t *st, const char *level, const char *name, const char *value,
                          int64_t now);
/* Removes it (the level inherits again); STORE_NOTFOUND when it was not set. */
int store_tls_setting_delete(store_t *st, const char *level, const char *name);
/* Every row, ordered by level and name; fn returns non-zero to stop. The strings are
 * valid during the call. */
int store_tls_settings(store_t *st,
                       int (*fn)(void *ud, const char *level, const char *name, const char *value),
                       void *ud);

/* --- trust anchors and client identities by level (tls/trust.h) --------------------- */

/* One trust anchor (table tlstrustanchor): a CA certificate uploaded under an alias at a
 * level (tls_level_format's text: kind=... or interface=...). */
struct store_anchor {
	const char *level, *alias;
	const char *pem;              /* one PEM CERTIFICATE block */
	const char *subject, *issuer; /* RFC 2253, as tls_anchor_describe shows them */
	int64_t notafter;             /* epoch seconds */
	const char *sha256;           /* colon-separated upper-case hex */
};
/* Adds the alias at its level or replaces its certificate. */
int store_anchor_put(store_t *st, const struct store_anchor *a);
/* STORE_NOTFOUND when the alias is not at that level. */
int store_anchor_delete(store_t *st, const char *level, const char *alias);
/* Every anchor (level NULL) or those of one level, ordered by level and alias; fn returns
 * non-zero to stop. The strings are valid during the call. */
int store_anchors(store_t *st, const char *level, int (*fn)(void *ud, const struct store_anchor *a),
                  void *ud);

/* Client identities (table tlsclientidentity): STORE_CONSTRAINT when already there. */
int store_identity_add(store_t *st, const char *level, const char *name);
/* STORE_NOTFOUND when the name is not at that level. */
int store_identity_delete(store_t *st, const char *level, const char *name);
/* Every identity (level NULL) or those of one level, ordered by level and name. */
int store_identities(store_t *st, const char *level,
                     int (*fn)(void *ud, const char *level, const char *name), void *ud);

/* --- edge allow-list (expresswaycconfiguration) --------------------------------------- */

struct store_edge {
	char identity[256]; /* certificate CN or DNS SAN, lower case */
	char addedby[STORE_NAME_MAX + 1];
	int64_t timeadded;
};
/* Adds an edge identity (STORE_CONSTRAINT if present). */
int store_edge_add(store_t *st, const struct store_edge *e);
/* STORE_NOTFOUND if the identity is not listed. */
int store_edge_remove(store_t *st, const char *identity);
int store_edges(store_t *st, int (*fn)(void *ud, const struct store_edge *e), void *ud);

/* --- parameters (processconfig) ----------------------------------------------------- */

#define STORE_PARAM_VALUE_MAX 1024
int store_param_set(store_t *st, const char *name, const char *value, const char *service);
/* out gets the value; STORE_NOTFOUND when the parameter is not set. */
int store_param_get(store_t *st, const char *name, char *out, size_t cap);

/* --- registrations (location service) ----------------------------------------------- */

struct store_registration {
	char device[STORE_ID_MAX + 1];
	char aor[256];
	char contact[512];
	char callid[512];
	uint32_t cseq;
	int64_t expires; /* epoch s */
	char transport[8];
	char source[64];       /* address:port the REGISTER came from */
	char sipinstance[160]; /* the contact's +sip.instance (RFC 5626 §4.1), "" = none */
	int64_t regid;         /* its reg-id (RFC 5626 §4.2), -1 = none */
	/* The node that owns the connection (processnode.name; "" = any: a single node). A
	 * put by another node takes the binding over (the phone registered through it). */
	char node[STORE_ID_MAX + 1];
};
int store_registration_put(store_t *st, const struct store_registration *r);
/* The same with the row's changedms given: made_ms (epoch ms), when the change was made
 * (the registrar queues changes and writes them a few ms later; a refresh recorded in its
 * refresh file meanwhile must compare as newer: sip/refreshfile.h). _put and _rewrite
 * stamp the time of the call. */
int store_registration_put_made(store_t *st, const struct store_registration *r, int64_t made_ms);
int store_registration_delete(store_t *st, const char *device, const char *contact);
/* The same, for a change replayed from the registrar's outage spool (sip/spool.h): applied
 * only over a row no newer than at_ms (epoch ms; every write stamps the row's changedms
 * with the time it was made), so a later row wins and a replay repeated does nothing.
 * A put for a device that no longer exists is skipped (STORE_OK); so is a delete of a row
 * that is gone or newer. */
int store_registration_put_at(store_t *st, const struct store_registration *r, int64_t at_ms);
int store_registration_delete_at(store_t *st, const char *device, const char *contact,
                                 int64_t at_ms);
/* A refresh of a stored binding: its Call-ID, CSeq and expiry only (the other columns
 * are r's already), on a row r->node owns. STORE_NOTFOUND when there is no such row (it
 * is missing, or another node's, or '' of before schema 16): store_registration_put then,
 * which takes it over. No indexed column changes (schema v19): the write-behind path. */
int store_registration_refresh(store_t *st, const struct store_registration *r);
int store_registration_refresh_made(store_t *st, const struct store_registration *r,
                                    int64_t made_ms);
/* A refresh made at changedms (epoch ms) and recorded elsewhere until now (the registrar's
 * refresh file on SQLite, sip/refreshfile.h), folded into its row: the row's Call-ID, CSeq,
 * expiry and changedms, applied only over a row no newer than changedms (a later put,
 * change or refresh wins; the caller keeps no refresh older than its row's last write)
 * and node's (node "": any). STORE_OK whether or not it applied. */
int store_registration_refresh_at(store_t *st, const char *node, const char *device,
                                  const char *contact, const char *callid, uint32_t cseq,
                                  int64_t expires, int64_t changedms);
/* The same for a stored binding whose other columns changed too (a phone that
 * reconnected: a new source): every column but the key and the node, on a row r->node
 * owns; STORE_NOTFOUND as above. */
int store_registration_rewrite(store_t *st, const struct store_registration *r);
int store_registration_rewrite_made(store_t *st, const struct store_registration *r,
                                    int64_t made_ms);
int store_registrations(store_t *st, const char *device /* NULL = all */,
                        int (*fn)(void *ud, const struct store_registration *r), void *ud);
/* Deletes node's bindings (node "" : every binding) that expired at or before now; *n
 * gets how many. Rows of other nodes are theirs to expire (or, once they are dead,
 * store_registrations_expire_orphans'). */
int store_registrations_expire(store_t *st, const char *node, int64_t now, int *n);
/* The keys of node's bindings (node "": every binding) whose recorded expiry is at or
 * before now, in no order, to fn (valid for the call only) until it returns nonzero: the
 * scan of store_registrations_expire for a caller that decides row by row (a binding
 * refreshed in the registrar's refresh file lives on). */
int store_registrations_expired(store_t *st, const char *node, int64_t now,
                                int (*fn)(void *ud, const char *device, const char *contact),
                                void *ud);
/* The same for one binding (device, contact) the caller knows expired: found by its key,
 * no scan (schema v19 has no index on expires). Deleted only if it expired at or before
 * now and is node's (or '', or any with node ""): a binding another node took over stays.
 * STORE_OK whether or not there was such a row. */
int store_registration_expire_one(store_t *st, const char *node, const char *device,
                                  const char *contact, int64_t now);
/* The bindings of dead nodes (another node's, whose processnode row is gone or whose
 * lastheartbeat is older than stale_before, epoch s) that expired at or before now: in
 * one transaction, deleted by one conditional DELETE .. RETURNING (so when two nodes do
 * this at once, each row is deleted, and reported, by one of them), then, while the
 * transaction is still open, announce(ud, devices, n) (may be NULL; nonzero fails the
 * transaction) with the devices left without a live binding on any node, so that a
 * notification sent there is delivered with the commit. *n gets the rows deleted. */
int store_registrations_expire_orphans(store_t *st, const char *node, int64_t now,
                                       int64_t stale_before,
                                       int (*announce)(void *ud, const char *const *devices, int n),
                                       void *ud, int *n);
/* 1 when the device has a live binding (expires > now) on any node, 0 when not, or a
 * negative store_rc. */
int store_registration_live(store_t *st, const char *device, int64_t now);

/* --- device state between nodes (cluster) ------------------------------------------- */

/* One device-state change: the device is in service (1) or out of service (0). */
struct store_devstate {
	const char *device; /* NUL-terminated, at most STORE_ID_MAX bytes, no newline */
	int in_service;
};
/* Tells the other processes on the store (cluster nodes) these changes, as part of the
 * calling thread's transaction (between store_begin and store_commit; outside one, at
 * once): PostgreSQL delivers a NOTIFY on the channel telgate_devstate only when the
 * transaction commits, so another node hears of a change once it is durable and never of
 * one rolled back. Payload: "<process token> <sequence>" then "\n<0|1><device>" per
 * change, at most ~7,900 bytes a NOTIFY (more changes: several, each numbered). Returns
 * STORE_OK (at once on SQLite: no other node) or the store's failure. */
int store_devstate_announce(store_t *st, const struct store_devstate *v, int n);
/* What the other processes announce, delivered on the store's listening thread:
 * fn(arg, device, in_service) for each change (never this process's own), and
 * resync(arg, why) when changes may have been missed: the listening session was made
 * again after it was lost, or an origin's sequence skipped a number. fn NULL stops the
 * calls; when this returns, none runs. Does nothing on SQLite. */
void store_devstate_listen(store_t *st, void (*fn)(void *arg, const char *device, int in_service),
                           void (*resync)(void *arg, const char *why), void *arg);

/* --- administration ----------------------------------------------------------------- */

struct store_counts {
	long users, devices, groups, associations, registrations, parameters;
};
int store_counts(store_t *st, struct store_counts *out);

/* A read-only ad-hoc query for `telgate run sql`. Only one SELECT statement is run; any
 * other statement, several statements, or a query that writes, attaches, or changes
 * settings is refused with STORE_REFUSED and a reason in err. Secret columns (password
 * hashes) read as NULL. At most max_rows rows are returned (*truncated set when there
 * were more); a query running longer than timeout_ms is stopped. fn gets the column
 * names and values (NULL for SQL NULL) of each row. */
int store_query_readonly(store_t *st, const char *sql, size_t max_rows, int timeout_ms,
                         int (*fn)(void *ud, int ncols, const char *const *names,
                                   const char *const *vals),
                         void *ud, int *truncated, char *err, size_t errlen);

/* Runs the backend's integrity check; 0 when the store is sound, otherwise the first
 * problem in err. */
int store_integrity_check(store_t *st, char *err, size_t errlen);

/* A consistent copy of the whole store in the file at path (for telgate backup): SQLite's
 * online backup API, one read transaction, so writers on other connections go on and the
 * copy is one committed state. The copy is a standalone database (no -wal file beside it)
 * with the file's mode 0600. Blocking for as long as the copy takes: a worker thread.
 * Returns STORE_OK, or STORE_ERROR with err (STORE_REFUSED when the backend cannot). */
int store_backup_to(store_t *st, const char *path, char *err, size_t errlen);

#endif
