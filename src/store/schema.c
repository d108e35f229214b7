/* Schema migrations. Never edit a released migration: add a new one. Portable SQL only
 * (SQLite and PostgreSQL): INTEGER/BIGINT/TEXT, no AUTOINCREMENT, times as epoch seconds. */
#include "store/store_backend.h"

static const char *const v1[] = {
    "CREATE TABLE credentialpolicy ("
    " name TEXT PRIMARY KEY,"
    " failedlogonthreshold INTEGER NOT NULL DEFAULT 3 CHECK (failedlogonthreshold >= 0),"
    " resetfailedlogonsafter INTEGER NOT NULL DEFAULT 30 CHECK (resetfailedlogonsafter >= 0),"
    " lockoutduration INTEGER NOT NULL DEFAULT 30 CHECK (lockoutduration >= 0),"
    " adminmustunlock INTEGER NOT NULL DEFAULT 0 CHECK (adminmustunlock IN (0, 1)),"
    " expiresafterdays INTEGER NOT NULL DEFAULT 0 CHECK (expiresafterdays >= 0),"
    " expirywarningdays INTEGER NOT NULL DEFAULT 0 CHECK (expirywarningdays >= 0),"
    " inactivedaysallowed INTEGER NOT NULL DEFAULT 0 CHECK (inactivedaysallowed >= 0),"
    " minlength INTEGER NOT NULL DEFAULT 8 CHECK (minlength >= 0))",

    "INSERT INTO credentialpolicy (name) VALUES ('Default Credential Policy')",

    "CREATE TABLE enduser ("
    " userid TEXT PRIMARY KEY,"
    " firstname TEXT NOT NULL DEFAULT '',"
    " lastname TEXT NOT NULL DEFAULT '',"
    " mail TEXT NOT NULL DEFAULT '',"
    " directory TEXT NOT NULL DEFAULT 'local' CHECK (directory IN ('local', 'ldap')),"
    " passwordhash TEXT NOT NULL DEFAULT '',"
    " status INTEGER NOT NULL DEFAULT 1 CHECK (status IN (1, 2)),"
    " credentialpolicy TEXT NOT NULL DEFAULT 'Default Credential Policy'"
    "  REFERENCES credentialpolicy (name))",

    "CREATE TABLE credentialdynamic ("
    " userid TEXT PRIMARY KEY REFERENCES enduser (userid) ON DELETE CASCADE,"
    " hackcount INTEGER NOT NULL DEFAULT 0,"
    " timelockedout BIGINT NOT NULL DEFAULT 0,"
    " timehackedlockout BIGINT NOT NULL DEFAULT 0,"
    " lastsuccessfullogin BIGINT NOT NULL DEFAULT 0,"
    " lastfailedlogin BIGINT NOT NULL DEFAULT 0,"
    " timechanged BIGINT NOT NULL DEFAULT 0,"
    " mustchange INTEGER NOT NULL DEFAULT 0,"
    " inactive INTEGER NOT NULL DEFAULT 0,"
    " doesnotexpire INTEGER NOT NULL DEFAULT 0)",

    "CREATE TABLE dirgroup ("
    " name TEXT PRIMARY KEY,"
    " description TEXT NOT NULL DEFAULT '')",

    /* The CTI groups Unified CM ships; the directory module gives them their meaning. */
    "INSERT INTO dirgroup (name, description) VALUES"
    " ('Standard CTI Enabled', 'may log in to the CTI server'),"
    " ('Standard CTI Secure Connection', 'must use CTI over TLS'),"
    " ('Standard CTI Allow Control of All Devices', 'super provider'),"
    " ('Standard CTI Allow Call Park Monitoring', ''),"
    " ('Standard CTI Allow Calling Number Modification', ''),"
    " ('Standard CTI Allow Call Monitoring', ''),"
    " ('Standard CTI Allow Call Recording', ''),"
    " ('Standard CTI Allow Reception of SRTP Key Material', '')",

    "CREATE TABLE enduserdirgroupmap ("
    " userid TEXT NOT NULL REFERENCES enduser (userid) ON DELETE CASCADE,"
    " groupname TEXT NOT NULL REFERENCES dirgroup (name) ON DELETE CASCADE,"
    " PRIMARY KEY (userid, groupname))",

    "CREATE TABLE device ("
    " name TEXT PRIMARY KEY,"
    " model TEXT NOT NULL DEFAULT '',"
    " protocol TEXT NOT NULL DEFAULT 'SIP' CHECK (protocol IN ('SIP', 'SCCP', 'CTI')),"
    " owneruserid TEXT REFERENCES enduser (userid) ON DELETE SET NULL,"
    " securityprofile TEXT NOT NULL DEFAULT '',"
    " mac TEXT NOT NULL DEFAULT '',"
    " description TEXT NOT NULL DEFAULT '')",

    "CREATE TABLE enduserdevicemap ("
    " userid TEXT NOT NULL REFERENCES enduser (userid) ON DELETE CASCADE,"
    " devicename TEXT NOT NULL REFERENCES device (name) ON DELETE CASCADE,"
    " PRIMARY KEY (userid, devicename))",
    "CREATE INDEX enduserdevicemap_device ON enduserdevicemap (devicename)",

    "CREATE TABLE processconfig ("
    " paramname TEXT PRIMARY KEY,"
    " paramvalue TEXT NOT NULL,"
    " service TEXT NOT NULL DEFAULT 'Enterprise')",

    "CREATE TABLE registration ("
    " devicename TEXT NOT NULL REFERENCES device (name) ON DELETE CASCADE,"
    " contact TEXT NOT NULL,"
    " aor TEXT NOT NULL,"
    " callid TEXT NOT NULL,"
    " cseq BIGINT NOT NULL,"
    " expires BIGINT NOT NULL,"
    " transport TEXT NOT NULL,"
    " source TEXT NOT NULL,"
    " PRIMARY KEY (devicename, contact))",
    "CREATE INDEX registration_expires ON registration (expires)",
    NULL,
};

/* v2: what the SIP registrar needs: the lines (user parts of AORs) a device answers to,
 * the user whose digest credentials register it, and digest HA1s per realm. */
static const char *const v2[] = {
    "ALTER TABLE device ADD COLUMN digestuser TEXT NOT NULL DEFAULT ''",
    "CREATE TABLE deviceline ("
    " line TEXT PRIMARY KEY,"
    " devicename TEXT NOT NULL REFERENCES device (name) ON DELETE CASCADE)",
    "CREATE INDEX deviceline_device ON deviceline (devicename)",
    "CREATE TABLE sipcredential ("
    " userid TEXT PRIMARY KEY REFERENCES enduser (userid) ON DELETE CASCADE,"
    " realm TEXT NOT NULL,"
    " ha1md5 TEXT NOT NULL,"
    " ha1sha256 TEXT NOT NULL)",
    NULL,
};

/* v3: the edge proxies allowed to assert user ids (Unified CM's expresswaycconfiguration):
 * the certificate identity (CN or DNS SAN) an edge presents, who added it and when. */
static const char *const v3[] = {
    "CREATE TABLE expresswaycconfiguration ("
    " identity TEXT PRIMARY KEY,"
    " addedby TEXT NOT NULL,"
    " timeadded BIGINT NOT NULL)",
    NULL,
};

/* v4: a binding's +sip.instance and reg-id (RFC 5626 §6, RFC 5627): a phone that
 * registers again with the same instance (and reg-id) from a new address replaces its
 * binding instead of adding one. */
static const char *const v4[] = {
    "ALTER TABLE registration ADD COLUMN sipinstance TEXT NOT NULL DEFAULT ''",
    "ALTER TABLE registration ADD COLUMN regid BIGINT NOT NULL DEFAULT -1",
    NULL,
};

const struct store_migration store_migrations[] = {
    {1, v1},
    {2, v2},
    {3, v3},
    {4, v4},
};
const int store_nmigrations = sizeof store_migrations / sizeof store_migrations[0];

/* Columns that hold secrets (or hashes of them): ad-hoc queries read them as NULL. */
const struct store_secret_column store_secret_columns[] = {
    {"enduser", "passwordhash"},
    {"sipcredential", "ha1md5"},
    {"sipcredential", "ha1sha256"},
    {NULL, NULL},
};
