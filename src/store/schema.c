/* SPDX-License-Identifier: ISC */
/* Schema migrations. Never edit a released migration: add a new one. Portable SQL
 * (SQLite and PostgreSQL): INTEGER/BIGINT/TEXT, no AUTOINCREMENT, times as epoch seconds;
 * a migration's per-backend lists (store_backend.h) only for what one backend lacks. */
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

/* v5: credential state and policy per credential type (issue 13). Wrong SIP digests used
 * to count against the one row a user had, so anyone reaching port 5060 could lock a
 * user's CTI login. Now each credential type has its own row and policy:
 * - credentialpolicy gains NIST SP 800-63B throttling (throttleafterfailures: 0 = off);
 * - credentialpolicydefault names the policy of each type (Unified CM's "Credential
 *   Policy Default"); the digest default throttles from 10 failures (1 s, 2 s, 4 s ...
 *   capped at 5 min) and locks only at 100, until an administrator unlocks;
 * - credentialdynamic is keyed by (userid, credentialtype). The old rows become the
 *   password rows unchanged; each user's digest row keeps the administrator lock,
 *   inactivity and times, but not the shared failure count or threshold lockout: those
 *   cannot be told apart, and a 3-strike lockout carried into a policy whose lockout
 *   needs an administrator would lock phones out for good. */
static const char *const v5[] = {
    "ALTER TABLE credentialpolicy ADD COLUMN throttleafterfailures INTEGER NOT NULL DEFAULT 0"
    " CHECK (throttleafterfailures >= 0)",
    "ALTER TABLE credentialpolicy ADD COLUMN throttlemaxseconds INTEGER NOT NULL DEFAULT 300"
    " CHECK (throttlemaxseconds >= 1)",
    "INSERT INTO credentialpolicy (name, failedlogonthreshold, resetfailedlogonsafter,"
    " lockoutduration, adminmustunlock, minlength, throttleafterfailures, throttlemaxseconds)"
    " VALUES ('Default Digest Credential Policy', 100, 0, 0, 1, 8, 10, 300)"
    " ON CONFLICT (name) DO NOTHING",
    "CREATE TABLE credentialpolicydefault ("
    " credentialtype TEXT PRIMARY KEY,"
    " credentialpolicy TEXT NOT NULL REFERENCES credentialpolicy (name))",
    "INSERT INTO credentialpolicydefault (credentialtype, credentialpolicy) VALUES"
    " ('password', 'Default Credential Policy'),"
    " ('digest', 'Default Digest Credential Policy')",
    "CREATE TABLE credentialdynamic_v5 ("
    " userid TEXT NOT NULL REFERENCES enduser (userid) ON DELETE CASCADE,"
    " credentialtype TEXT NOT NULL,"
    " credentialpolicy TEXT NOT NULL DEFAULT '',"
    " hackcount INTEGER NOT NULL DEFAULT 0,"
    " timelockedout BIGINT NOT NULL DEFAULT 0,"
    " timehackedlockout BIGINT NOT NULL DEFAULT 0,"
    " lastsuccessfullogin BIGINT NOT NULL DEFAULT 0,"
    " lastfailedlogin BIGINT NOT NULL DEFAULT 0,"
    " timechanged BIGINT NOT NULL DEFAULT 0,"
    " mustchange INTEGER NOT NULL DEFAULT 0,"
    " inactive INTEGER NOT NULL DEFAULT 0,"
    " doesnotexpire INTEGER NOT NULL DEFAULT 0,"
    " PRIMARY KEY (userid, credentialtype))",
    "INSERT INTO credentialdynamic_v5 (userid, credentialtype, hackcount, timelockedout,"
    " timehackedlockout, lastsuccessfullogin, lastfailedlogin, timechanged, mustchange,"
    " inactive, doesnotexpire)"
    " SELECT userid, 'password', hackcount, timelockedout, timehackedlockout,"
    " lastsuccessfullogin, lastfailedlogin, timechanged, mustchange, inactive, doesnotexpire"
    " FROM credentialdynamic",
    "INSERT INTO credentialdynamic_v5 (userid, credentialtype, timelockedout,"
    " lastsuccessfullogin, lastfailedlogin, timechanged, inactive, doesnotexpire)"
    " SELECT userid, 'digest', timelockedout, lastsuccessfullogin, lastfailedlogin,"
    " timechanged, inactive, doesnotexpire FROM credentialdynamic",
    /* Users created without a row (none should be): both rows, clean. */
    "INSERT INTO credentialdynamic_v5 (userid, credentialtype)"
    " SELECT userid, 'password' FROM enduser WHERE userid NOT IN"
    " (SELECT userid FROM credentialdynamic)",
    "INSERT INTO credentialdynamic_v5 (userid, credentialtype)"
    " SELECT userid, 'digest' FROM enduser WHERE userid NOT IN"
    " (SELECT userid FROM credentialdynamic)",
    "DROP TABLE credentialdynamic",
    "ALTER TABLE credentialdynamic_v5 RENAME TO credentialdynamic",
    NULL,
};

/* v6 (issue 15): TLS settings by level (tls/policy.h): one row per level and setting, a
 * list kept as one comma-separated value in order; a setting set nowhere has no row. */
static const char *const v6[] = {
    "CREATE TABLE tlssetting ("
    " level TEXT NOT NULL,"
    " name TEXT NOT NULL,"
    " value TEXT NOT NULL,"
    " timechanged BIGINT NOT NULL DEFAULT 0,"
    " PRIMARY KEY (level, name))",
    NULL,
};

/* v7 (issue 15): trust anchors by alias and client identities, by level (kind or
 * interface: tls/trust.h). An anchor keeps its PEM (what the handshake loads) and the
 * columns `telgate trust get` shows, computed once at upload. */
static const char *const v7[] = {
    "CREATE TABLE tlstrustanchor ("
    " level TEXT NOT NULL,"
    " alias TEXT NOT NULL,"
    " pem TEXT NOT NULL,"
    " subject TEXT NOT NULL,"
    " issuer TEXT NOT NULL,"
    " notafter BIGINT NOT NULL DEFAULT 0,"
    " sha256 TEXT NOT NULL,"
    " PRIMARY KEY (level, alias))",
    "CREATE TABLE tlsclientidentity ("
    " level TEXT NOT NULL,"
    " name TEXT NOT NULL,"
    " PRIMARY KEY (level, name))",
    NULL,
};

/* v8 (issue 16): the node table and device security profiles, named as in Unified CM.
 * processnode: one row per node, written by the node itself at start (its name, the
 * address phones use, its per-node ports, 0 = that listener is off on the node) and kept
 * fresh by its heartbeat; cnf.xml lists every node with its ports, and the cluster reads
 * lastheartbeat. Seed 002: sipOAuthPort and sipMRAOAuthPort are 1024-49151.
 * securityprofile: Unified CM's Phone Security Profile. Seed 002: with SIP OAuth on,
 * digest authentication is not offered on that profile, so a row with both is refused.
 * device.securityprofile held free text until now: every distinct non-empty value becomes
 * a profile with digest on, OAuth off and transport TCP+UDP (what such a device had), so
 * no device loses its reference; import checks the reference from here on. */
static const char *const v8[] = {
    "CREATE TABLE processnode ("
    " name TEXT PRIMARY KEY,"
    " address TEXT NOT NULL DEFAULT '',"
    " description TEXT NOT NULL DEFAULT '',"
    " sipport INTEGER NOT NULL DEFAULT 5060 CHECK (sipport BETWEEN 0 AND 65535),"
    " securedsipport INTEGER NOT NULL DEFAULT 5061 CHECK (securedsipport BETWEEN 0 AND 65535),"
    " sipoauthport INTEGER NOT NULL DEFAULT 5090"
    "  CHECK (sipoauthport = 0 OR sipoauthport BETWEEN 1024 AND 49151),"
    " sipmraoauthport INTEGER NOT NULL DEFAULT 5091"
    "  CHECK (sipmraoauthport = 0 OR sipmraoauthport BETWEEN 1024 AND 49151),"
    " ctiport INTEGER NOT NULL DEFAULT 2748 CHECK (ctiport BETWEEN 0 AND 65535),"
    " ctitlsport INTEGER NOT NULL DEFAULT 2749 CHECK (ctitlsport BETWEEN 0 AND 65535),"
    " httpport INTEGER NOT NULL DEFAULT 6970 CHECK (httpport BETWEEN 0 AND 65535),"
    " tftpport INTEGER NOT NULL DEFAULT 69 CHECK (tftpport BETWEEN 0 AND 65535),"
    " version TEXT NOT NULL DEFAULT '',"
    " timestarted BIGINT NOT NULL DEFAULT 0,"
    " lastheartbeat BIGINT NOT NULL DEFAULT 0)",
    "CREATE TABLE securityprofile ("
    " name TEXT PRIMARY KEY,"
    " description TEXT NOT NULL DEFAULT '',"
    " transport TEXT NOT NULL DEFAULT 'TCP+UDP'"
    "  CHECK (transport IN ('TCP+UDP', 'TCP', 'UDP', 'TLS')),"
    " enableoauthauthentication INTEGER NOT NULL DEFAULT 0"
    "  CHECK (enableoauthauthentication IN (0, 1)),"
    " enabledigestauthentication INTEGER NOT NULL DEFAULT 0"
    "  CHECK (enabledigestauthentication IN (0, 1)),"
    " CHECK (enableoauthauthentication = 0 OR enabledigestauthentication = 0))",
    "INSERT INTO securityprofile (name, description, transport, enableoauthauthentication,"
    " enabledigestauthentication)"
    " SELECT DISTINCT securityprofile, 'named by a device before schema 8', 'TCP+UDP', 0, 1"
    " FROM device WHERE securityprofile <> ''",
    NULL,
};

/* v9 (issue 17, enrolment profiles): capfprofile,
 * Unified CM's CAPF profile. One row per instance id (the name a client enrols with):
 * whose certificate it asks for, how it authenticates (a one-time string, or none), the key
 * it must present and what the enrolment does (install a certificate, or delete: revoke
 * the current one). The string itself is never stored: secrethash holds HMAC-SHA-256 (hex,
 * under the server's key) of a generated string or the argon2id hash of one an
 * administrator chose (secretkind says which; '' with authmode none). used is set once,
 * atomically, by the enrolment that consumes the string; failures counts consecutive wrong
 * strings (locked at 10). status 'expired' is what a pending row past expires reads as
 * (computed on read); it is allowed here so that a later sweep may write it. */
static const char *const v9[] = {
    "CREATE TABLE capfprofile ("
    " instanceid TEXT PRIMARY KEY,"
    " userid TEXT NOT NULL REFERENCES enduser (userid) ON DELETE CASCADE,"
    " authmode TEXT NOT NULL DEFAULT 'string' CHECK (authmode IN ('string', 'none')),"
    " secretkind TEXT NOT NULL DEFAULT '' CHECK (secretkind IN ('', 'hmac', 'argon2id')),"
    " secrethash TEXT NOT NULL DEFAULT '',"
    " keytype TEXT NOT NULL DEFAULT 'ec-p256'"
    "  CHECK (keytype IN ('ec-p256', 'ec-p384', 'rsa-2048', 'rsa-3072')),"
    " operation TEXT NOT NULL DEFAULT 'install' CHECK (operation IN ('install', 'delete')),"
    " status TEXT NOT NULL DEFAULT 'pending'"
    "  CHECK (status IN ('pending', 'success', 'failed', 'locked', 'expired')),"
    " serial TEXT NOT NULL DEFAULT '',"
    " reason TEXT NOT NULL DEFAULT '',"
    " failures INTEGER NOT NULL DEFAULT 0 CHECK (failures >= 0),"
    " used INTEGER NOT NULL DEFAULT 0 CHECK (used IN (0, 1)),"
    " created BIGINT NOT NULL,"
    " expires BIGINT NOT NULL,"
    " CHECK ((authmode = 'none' AND secretkind = '' AND secrethash = '') OR"
    "  (authmode = 'string' AND secretkind <> '' AND secrethash <> '')))",
    "CREATE INDEX capfprofile_user ON capfprofile (userid)",
    NULL,
};

/* v10 (issue 17): the certificates telgate's CA issued, and the CRL number. issuedcertificate
 * keeps one row per certificate, written in the same statement that makes it known (before
 * it is returned to anyone), so every certificate a client holds is listed here: serial
 * (32 upper-case hex digits, the 128-bit random serial with its top bit clear), subject
 * (RFC 2253), the user (the subject's CN), the instance id (in the SAN), the enrolment
 * profile ("" = none), validity (Unix s), status, and when and why it was revoked (RFC
 * 5280 §5.3.1 CRLReason names). The certificate itself is kept as PEM (the store's values
 * are text and integers), with its SHA-256 fingerprint for look-ups by certificate.
 * crlnumber holds one row: the number of the newest CRL (RFC 5280 §5.2.3), bumped in the
 * transaction that revokes, so that numbers only grow. */
static const char *const v10[] = {
    "CREATE TABLE issuedcertificate ("
    " serial TEXT PRIMARY KEY CHECK (length(serial) = 32),"
    " subject TEXT NOT NULL,"
    " userid TEXT NOT NULL,"
    " instanceid TEXT NOT NULL DEFAULT '',"
    " profile TEXT NOT NULL DEFAULT '',"
    " notbefore BIGINT NOT NULL,"
    " notafter BIGINT NOT NULL,"
    " status TEXT NOT NULL DEFAULT 'valid' CHECK (status IN ('valid', 'revoked')),"
    " revoked_at BIGINT NOT NULL DEFAULT 0,"
    " revocation_reason TEXT NOT NULL DEFAULT '',"
    " sha256 TEXT NOT NULL,"
    " pem TEXT NOT NULL,"
    " CHECK ((status = 'valid') = (revocation_reason = '')))",
    "CREATE INDEX issuedcertificate_userid ON issuedcertificate (userid)",
    "CREATE INDEX issuedcertificate_sha256 ON issuedcertificate (sha256)",
    "CREATE TABLE crlnumber ("
    " id INTEGER PRIMARY KEY CHECK (id = 1),"
    " number BIGINT NOT NULL CHECK (number >= 0))",
    "INSERT INTO crlnumber (id, number) VALUES (1, 0)",
    NULL,
};

/* v11 (issue 17, CTI with certificates): how a user's CTI login is authenticated —
 * 'password' (the directory checks the password; a user in Standard CTI Secure Connection
 * presents a certificate as well) or 'certificate' (the seed's application user with
 * "AuthType certificate": a certificate telgate's CA issued to the user, no password).
 * Existing users keep what they had: 'password'. */
static const char *const v11[] = {
    "ALTER TABLE enduser ADD COLUMN ctiauthtype TEXT NOT NULL DEFAULT 'password'"
    " CHECK (ctiauthtype IN ('password', 'certificate'))",
    NULL,
};

/* v12 (issue 18, the OAuth token core): oauthkey, the public halves of the access-token
 * signing keys (the private ones stay in the signer: pki.dir/tokens) — kid (the RFC 7638
 * thumbprint), alg (one per key: RFC 7518 names), the SubjectPublicKeyInfo as PEM, when it
 * was made, when it starts signing (activates_at: published in the JWKS at once, signing
 * after [oauth] key_grace_s) and when it is retired (retires_at, 0 = not yet: the longest
 * token lifetime after its successor started signing); node: which node's signer holds it.
 * oauthrevokedjti: revoked access tokens by jti until their exp (purged after);
 * oauthnotbefore: per user, tokens issued (iat) before notbefore are refused (lock,
 * password change, `telgate oauth revoke USER`). Unix seconds throughout. */
static const char *const v12[] = {
    "CREATE TABLE oauthkey ("
    " kid TEXT PRIMARY KEY CHECK (length(kid) = 43),"
    " alg TEXT NOT NULL CHECK (alg IN ('ES256', 'RS256', 'EdDSA')),"
    " publickey TEXT NOT NULL,"
    " node TEXT NOT NULL DEFAULT '',"
    " created BIGINT NOT NULL,"
    " activates_at BIGINT NOT NULL,"
    " retires_at BIGINT NOT NULL DEFAULT 0)",
    "CREATE TABLE oauthrevokedjti ("
    " jti TEXT PRIMARY KEY,"
    " exp BIGINT NOT NULL)",
    "CREATE TABLE oauthnotbefore ("
    " userid TEXT PRIMARY KEY,"
    " notbefore BIGINT NOT NULL)",
    NULL,
};

/* v13 (issue 18): the OAuth 2.0 authorization server's state. oauthclient: the registered
 * clients (RFC 6749 §2): public or confidential; a confidential client's machine-made
 * secret is kept as hex HMAC-SHA-256 under a server key (never the secret), or it
 * authenticates with a telgate-issued certificate whose subject CN is tlssubject (RFC
 * 8705 §2.1.1); redirect URIs, grant types and scopes are space-separated lists (exact
 * matches); audiences a bit set (1 sip, 2 cti); lifetimes in seconds, 0 = [oauth]'s.
 * oauthcode: authorization codes (RFC 6749 §4.1) by hash, single use, with the PKCE S256
 * challenge (RFC 7636), and what its exchange issued (refresh family, access token jti
 * and exp) so that a second use revokes them (RFC 6749 §4.1.2). oauthdevicecode: device
 * authorization (RFC 8628): device code by hash, the user code, its status and the last poll
 * (slow_down). oauthrefresh: refresh tokens by hash, grouped in families (one per grant) for reuse
 * detection (RFC 9700 §4.14): a token is consumed by one UPDATE .. WHERE used = 0 .. RETURNING.
 * Rows of a deleted user or client go with them (ON DELETE CASCADE). Times are Unix seconds. */
static const char *const v13[] = {
    "CREATE TABLE oauthclient ("
    " clientid TEXT PRIMARY KEY CHECK (length(clientid) BETWEEN 1 AND 128),"
    " clienttype TEXT NOT NULL CHECK (clienttype IN ('public', 'confidential')),"
    " secrethash TEXT NOT NULL DEFAULT '',"
    " tlssubject TEXT NOT NULL DEFAULT '',"
    " redirecturis TEXT NOT NULL DEFAULT '',"
    " granttypes TEXT NOT NULL DEFAULT '',"
    " scopes TEXT NOT NULL DEFAULT '',"
    " audiences INTEGER NOT NULL DEFAULT 1 CHECK (audiences BETWEEN 1 AND 3),"
    " accesstokenlifetime INTEGER NOT NULL DEFAULT 0 CHECK (accesstokenlifetime >= 0),"
    " refreshtokenlifetime INTEGER NOT NULL DEFAULT 0 CHECK (refreshtokenlifetime >= 0),"
    " created BIGINT NOT NULL,"
    " CHECK ((clienttype = 'public') = (secrethash = '' AND tlssubject = '')))",
    "CREATE TABLE oauthcode ("
    " codehash TEXT PRIMARY KEY,"
    " clientid TEXT NOT NULL REFERENCES oauthclient (clientid) ON DELETE CASCADE,"
    " userid TEXT NOT NULL REFERENCES enduser (userid) ON DELETE CASCADE,"
    " redirecturi TEXT NOT NULL,"
    " challenge TEXT NOT NULL,"
    " scope TEXT NOT NULL DEFAULT '',"
    " authtime BIGINT NOT NULL,"
    " expires BIGINT NOT NULL,"
    " used INTEGER NOT NULL DEFAULT 0 CHECK (used IN (0, 1)),"
    " familyid TEXT NOT NULL DEFAULT '',"
    " jti TEXT NOT NULL DEFAULT '',"
    " jtiexpires BIGINT NOT NULL DEFAULT 0)",
    "CREATE INDEX oauthcode_expires ON oauthcode (expires)",
    "CREATE TABLE oauthdevicecode ("
    " devicecodehash TEXT PRIMARY KEY,"
    " usercode TEXT NOT NULL UNIQUE,"
    " clientid TEXT NOT NULL REFERENCES oauthclient (clientid) ON DELETE CASCADE,"
    " scope TEXT NOT NULL DEFAULT '',"
    " status TEXT NOT NULL DEFAULT 'pending'"
    "  CHECK (status IN ('pending', 'approved', 'denied', 'used')),"
    " userid TEXT REFERENCES enduser (userid) ON DELETE CASCADE,"
    " authtime BIGINT NOT NULL DEFAULT 0,"
    " expires BIGINT NOT NULL,"
    " pollinterval INTEGER NOT NULL CHECK (pollinterval >= 1),"
    " lastpoll BIGINT NOT NULL DEFAULT 0)",
    "CREATE INDEX oauthdevicecode_expires ON oauthdevicecode (expires)",
    "CREATE TABLE oauthrefresh ("
    " tokenhash TEXT PRIMARY KEY,"
    " familyid TEXT NOT NULL,"
    " clientid TEXT NOT NULL REFERENCES oauthclient (clientid) ON DELETE CASCADE,"
    " userid TEXT NOT NULL REFERENCES enduser (userid) ON DELETE CASCADE,"
    " scope TEXT NOT NULL DEFAULT '',"
    " audiences INTEGER NOT NULL CHECK (audiences BETWEEN 1 AND 3),"
    " authtime BIGINT NOT NULL,"
    " created BIGINT NOT NULL,"
    " expires BIGINT NOT NULL,"
    " used INTEGER NOT NULL DEFAULT 0 CHECK (used IN (0, 1)),"
    " usedat BIGINT NOT NULL DEFAULT 0,"
    " revoked INTEGER NOT NULL DEFAULT 0 CHECK (revoked IN (0, 1)))",
    "CREATE INDEX oauthrefresh_family ON oauthrefresh (familyid)",
    "CREATE INDEX oauthrefresh_user ON oauthrefresh (userid)",
    NULL,
};

/* v14 (issue 19, shared lines): a line (AOR user part) on several devices, as Unified CM's
 * shared lines: a desk phone and the user's softphone answer to the same number. Until now
 * deviceline.line was the key (one device per line); the key becomes (line, devicename),
 * every row kept as it was. Which device a REGISTER binds is decided by sip/devpick.h. */
static const char *const v14[] = {
    "CREATE TABLE deviceline_v14 ("
    " line TEXT NOT NULL,"
    " devicename TEXT NOT NULL REFERENCES device (name) ON DELETE CASCADE,"
    " PRIMARY KEY (line, devicename))",
    "INSERT INTO deviceline_v14 (line, devicename) SELECT line, devicename FROM deviceline",
    "DROP TABLE deviceline",
    "ALTER TABLE deviceline_v14 RENAME TO deviceline",
    "CREATE INDEX deviceline_device ON deviceline (devicename)",
    NULL,
};

/* v15 (issue 20, seed 004): the cloud CTI event interfaces (Xsi-Events over mutual TLS,
 * src/xsi). ctiinterface: one listener per address and port; the seed's Secure, Server
 * Certificate and Client Auth Req columns are kept as given, and telgate only accepts
 * 1 for secure and clientauthreq (an event interface without mutual TLS has no identity
 * to authorise; docs/cti-events.md). ctiinterfacescope: which subscribers a client
 * identity (certificate CN) may subscribe to: 'all', or the users of one directory
 * group (dirgroup.name; not a foreign key because 'all' is not a group). */
static const char *const v15[] = {
    "CREATE TABLE ctiinterface ("
    " address TEXT NOT NULL CHECK (length(address) BETWEEN 1 AND 63),"
    " port INTEGER NOT NULL CHECK (port BETWEEN 1 AND 65535),"
    " secure INTEGER NOT NULL DEFAULT 1 CHECK (secure IN (0, 1)),"
    " servercert INTEGER NOT NULL DEFAULT 1 CHECK (servercert IN (0, 1)),"
    " clientauthreq INTEGER NOT NULL DEFAULT 1 CHECK (clientauthreq IN (0, 1)),"
    " PRIMARY KEY (address, port))",
    "CREATE TABLE ctiinterfacescope ("
    " identity TEXT NOT NULL CHECK (length(identity) BETWEEN 1 AND 255),"
    " scope TEXT NOT NULL CHECK (length(scope) BETWEEN 1 AND 128),"
    " PRIMARY KEY (identity, scope))",
    NULL,
};

/* v16 (issue 21, cluster): the node that owns a binding's connection (processnode.name;
 * '' for rows written before, or by a node without a cluster: every node's), so that a
 * node loads and expires only its own and a phone re-registering through another node
 * moves its binding there; and the counts a node's heartbeat writes for `telgate cluster
 * status` (registrations: live bindings; ctisessions: CTI sessions open). Not a foreign
 * key: a node's row may be deleted by hand while its bindings expire. */
static const char *const v16[] = {
    "ALTER TABLE registration ADD COLUMN processnode TEXT NOT NULL DEFAULT ''",
    "CREATE INDEX registration_node ON registration (processnode, expires)",
    "ALTER TABLE processnode ADD COLUMN registrations BIGINT NOT NULL DEFAULT 0",
    "ALTER TABLE processnode ADD COLUMN ctisessions BIGINT NOT NULL DEFAULT 0",
    NULL,
};

/* v17 (issue 21, the registrar's outage spool): when a binding row was last written
 * (epoch ms), so that a change replayed from a node's spool after a database outage
 * (sip/spool.h) does not overwrite a later one. 0 for rows written before. */
static const char *const v17[] = {
    "ALTER TABLE registration ADD COLUMN changedms BIGINT NOT NULL DEFAULT 0",
    NULL,
};

/* v18 (issue 21, keys across nodes): clusterkey holds the keys every node of a cluster
 * shares — the CA ("ca"), the trust-list signer ("trustlist"), the recovery signer
 * ("recovery"), the OAuth token keys ("token:<kid>") and the capf HMAC key ("capf") — each
 * as an encrypted PKCS#8 PEM under the key-encryption key ([pki] kek_file; ca/ca_kek.h),
 * never in clear, with its certificate (PEM; '' for a token key and the capf key). The
 * first node to start inserts them (ON CONFLICT DO NOTHING) and every node reads back the
 * row that won. nodecertificate: each node's own TLS server certificate (PEM, issued by
 * the cluster CA), for the trust list. */
static const char *const v18[] = {
    "CREATE TABLE clusterkey ("
    " name TEXT PRIMARY KEY CHECK (length(name) BETWEEN 1 AND 64),"
    " privatekey TEXT NOT NULL CHECK (length(privatekey) > 0),"
    " certificate TEXT NOT NULL DEFAULT '',"
    " created BIGINT NOT NULL DEFAULT 0)",
    "CREATE TABLE nodecertificate ("
    " node TEXT PRIMARY KEY CHECK (length(node) BETWEEN 1 AND 64),"
    " certificate TEXT NOT NULL CHECK (length(certificate) > 0),"
    " updated BIGINT NOT NULL DEFAULT 0)",
    NULL,
};

/* v19 (issue 22): a write-behind refresh (Call-ID, CSeq, expiry) moves no index entry.
 * Until now expires was in two indexes (registration_expires; registration_node with
 * processnode), so each refresh rewrote its row and moved two index entries, and on
 * SQLite the row (a rowid table) was found through the primary key's own index first:
 * one b-tree read and three b-tree writes besides the row's. Now registration_node holds
 * processnode only and nothing else indexes expires: a binding the in-memory sweep
 * expires is deleted by its key, and the store's own scan of the node's expired rows
 * (every row of the node, ~5.5M instructions at 10,000) runs at start and every 300 s
 * (SCAN_EVERY_S, sip/location.c) on the location writer's thread. SQLite: the table becomes
 * WITHOUT ROWID (the row lives in its primary key's b-tree: one b-tree write a refresh),
 * rebuilt with every row kept. PostgreSQL keeps its heap: with no indexed column changed,
 * a refresh is a HOT update (no index entry written). */
static const char *const v19[] = {
    "DROP INDEX IF EXISTS registration_expires",
    "DROP INDEX IF EXISTS registration_node",
    NULL,
};
static const char *const v19_sqlite[] = {
    "CREATE TABLE registration_v19 ("
    " devicename TEXT NOT NULL REFERENCES device (name) ON DELETE CASCADE,"
    " contact TEXT NOT NULL,"
    " aor TEXT NOT NULL,"
    " callid TEXT NOT NULL,"
    " cseq BIGINT NOT NULL,"
    " expires BIGINT NOT NULL,"
    " transport TEXT NOT NULL,"
    " source TEXT NOT NULL,"
    " sipinstance TEXT NOT NULL DEFAULT '',"
    " regid BIGINT NOT NULL DEFAULT -1,"
    " processnode TEXT NOT NULL DEFAULT '',"
    " changedms BIGINT NOT NULL DEFAULT 0,"
    " PRIMARY KEY (devicename, contact)) WITHOUT ROWID",
    "INSERT INTO registration_v19 (devicename, contact, aor, callid, cseq, expires, transport,"
    " source, sipinstance, regid, processnode, changedms)"
    " SELECT devicename, contact, aor, callid, cseq, expires, transport, source, sipinstance,"
    " regid, processnode, changedms FROM registration",
    "DROP TABLE registration",
    "ALTER TABLE registration_v19 RENAME TO registration",
    "CREATE INDEX registration_node ON registration (processnode)",
    NULL,
};
/* fillfactor 80: room on each page for the new versions of its rows, which a HOT
 * update must find on the same page (new pages only; a page pruned later makes room). */
static const char *const v19_postgres[] = {
    "CREATE INDEX registration_node ON registration (processnode)",
    "ALTER TABLE registration SET (fillfactor = 80)",
    NULL,
};

const struct store_migration store_migrations[] = {
    {1, v1, NULL, NULL},
    {2, v2, NULL, NULL},
    {3, v3, NULL, NULL},
    {4, v4, NULL, NULL},
    {5, v5, NULL, NULL},
    {6, v6, NULL, NULL},
    {7, v7, NULL, NULL},
    {8, v8, NULL, NULL},
    {9, v9, NULL, NULL},
    {10, v10, NULL, NULL},
    {11, v11, NULL, NULL},
    {12, v12, NULL, NULL},
    {13, v13, NULL, NULL},
    {14, v14, NULL, NULL},
    {15, v15, NULL, NULL},
    {16, v16, NULL, NULL},
    {17, v17, NULL, NULL},
    {18, v18, NULL, NULL},
    {19, v19, v19_sqlite, v19_postgres},
};
const int store_nmigrations = sizeof store_migrations / sizeof store_migrations[0];

/* Columns that hold secrets (or hashes of them): ad-hoc queries read them as NULL. */
const struct store_secret_column store_secret_columns[] = {
    {"enduser", "passwordhash"},           {"sipcredential", "ha1md5"},
    {"sipcredential", "ha1sha256"},        {"capfprofile", "secrethash"},
    {"oauthclient", "secrethash"},         {"oauthcode", "codehash"},
    {"oauthdevicecode", "devicecodehash"}, {"oauthrefresh", "tokenhash"},
    {"clusterkey", "privatekey"},          {NULL, NULL},
};
