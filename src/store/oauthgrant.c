/* SPDX-License-Identifier: ISC */
/* The OAuth 2.0 rows (store_oauth.h): clients, codes, device codes, refresh tokens. */
#include "store/store.h"
#include "store/store_backend.h"

#include <stdio.h>
#include <string.h>

#define CLIENT_COLUMNS                                                                             \
	"clientid, clienttype, secrethash, tlssubject, redirecturis, granttypes, scopes, "         \
	"audiences, accesstokenlifetime, refreshtokenlifetime, created"

static int client_from_row(void *obj, const char *const *v)
{
	struct store_oauthclient *c = obj;
	memset(c, 0, sizeof *c);
	int bad = store_copy_col(c->clientid, sizeof c->clientid, v[0]) |
	          store_copy_col(c->secrethash, sizeof c->secrethash, v[2]) |
	          store_copy_col(c->tlssubject, sizeof c->tlssubject, v[3]) |
	          store_copy_col(c->redirecturis, sizeof c->redirecturis, v[4]) |
	          store_copy_col(c->granttypes, sizeof c->granttypes, v[5]) |
	          store_copy_col(c->scopes, sizeof c->scopes, v[6]);
	c->confidential = v[1] && strcmp(v[1], "confidential") == 0;
	c->audiences = (unsigned)store_col_i64(v[7]);
	c->accesstokenlifetime = store_col_i64(v[8]);
	c->refreshtokenlifetime = store_col_i64(v[9]);
	c->created = store_col_i64(v[10]);
	return bad;
}

int store_oauthclient_add(store_t *st, const struct store_oauthclient *c)
{
	struct store_val v[] = {SV_S(c->clientid),
	                        SV_S(c->confidential ? "confidential" : "public"),
	                        SV_S(c->secrethash),
	                        SV_S(c->tlssubject),
	                        SV_S(c->redirecturis),
	                        SV_S(c->granttypes),
	                        SV_S(c->scopes),
	                        SV_I(c->audiences),
	                        SV_I(c->accesstokenlifetime),
	                        SV_I(c->refreshtokenlifetime),
	                        SV_I(c->created)};
	return store_exec(st,
	                  "INSERT INTO oauthclient (" CLIENT_COLUMNS ") VALUES ($1, $2, $3, $4, "
	                  "$5, $6, $7, $8, $9, $10, $11)",
	                  v, 11, NULL, NULL, NULL);
}

int store_oauthclient_get(store_t *st, const char *clientid, struct store_oauthclient *out)
{
	struct store_rows r = {.conv = client_from_row, .obj = out, .size = sizeof *out};
	struct store_val p[] = {SV_S(clientid)};
	return store_select(st, "SELECT " CLIENT_COLUMNS " FROM oauthclient WHERE clientid = $1", p,
	                    1, &r);
}

/* Calls a typed callback for each row of a store_rows listing. */
struct typed_each {
	int (*fn)(void *ud, const void *row);
	void *ud;
};

static int each_row(void *ud, const void *obj)
{
	struct typed_each *t = ud;
	return t->fn(t->ud, obj);
}

int store_oauthclients(store_t *st, int (*fn)(void *ud, const struct store_oauthclient *c),
                       void *ud)
{
	struct store_oauthclient row;
	struct typed_each t = {(int (*)(void *, const void *))fn, ud};
	struct store_rows r = {client_from_row, &row, sizeof row, each_row, &t, 0, 0, 0};
	return store_select(st, "SELECT " CLIENT_COLUMNS " FROM oauthclient ORDER BY clientid",
	                    NULL, 0, &r);
}

/* A DELETE or UPDATE by one key: STORE_NOTFOUND when it touched no row. */
static int exec_one(store_t *st, const char *sql, const char *key)
{
	struct store_val p[] = {SV_S(key)};
	int n = 0;
	int rc = store_exec(st, sql, p, 1, NULL, NULL, &n);
	return rc == STORE_OK && n == 0 ? STORE_NOTFOUND : rc;
}

int store_oauthclient_delete(store_t *st, const char *clientid)
{
	return exec_one(st, "DELETE FROM oauthclient WHERE clientid = $1", clientid);
}

/* --- authorization codes ------------------------------------------------------------------ */

#define CODE_COLUMNS                                                                               \
	"codehash, clientid, userid, redirecturi, challenge, scope, authtime, expires, used, "     \
	"familyid, jti, jtiexpires"

static int code_from_row(void *obj, const char *const *v)
{
	struct store_oauthcode *c = obj;
	memset(c, 0, sizeof *c);
	int bad = store_copy_col(c->codehash, sizeof c->codehash, v[0]) |
	          store_copy_col(c->clientid, sizeof c->clientid, v[1]) |
	          store_copy_col(c->userid, sizeof c->userid, v[2]) |
	          store_copy_col(c->redirecturi, sizeof c->redirecturi, v[3]) |
	          store_copy_col(c->challenge, sizeof c->challenge, v[4]) |
	          store_copy_col(c->scope, sizeof c->scope, v[5]) |
	          store_copy_col(c->familyid, sizeof c->familyid, v[9]) |
	          store_copy_col(c->jti, sizeof c->jti, v[10]);
	c->authtime = store_col_i64(v[6]);
	c->expires = store_col_i64(v[7]);
	c->used = (int)store_col_i64(v[8]);
	c->jtiexpires = store_col_i64(v[11]);
	return bad;
}

int store_oauthcode_add(store_t *st, const struct store_oauthcode *c)
{
	struct store_val v[] = {SV_S(c->codehash),    SV_S(c->clientid),  SV_S(c->userid),
	                        SV_S(c->redirecturi), SV_S(c->challenge), SV_S(c->scope),
	                        SV_I(c->authtime),    SV_I(c->expires)};
	return store_exec_nogen(st,
	                        "INSERT INTO oauthcode (codehash, clientid, userid, redirecturi, "
	                        "challenge, scope, authtime, expires) VALUES ($1, $2, $3, $4, $5, "
	                        "$6, $7, $8)",
	                        v, 8, NULL, NULL, NULL);
}

int store_oauthcode_consume(store_t *st, const char *codehash, int64_t now,
                            struct store_oauthcode *out, int *used_before)
{
	if (used_before)
		*used_before = 0;
	struct store_rows r = {.conv = code_from_row, .obj = out, .size = sizeof *out};
	struct store_val p[] = {SV_S(codehash), SV_I(now)};
	int rc = store_select(st,
	                      "UPDATE oauthcode SET used = 1 WHERE codehash = $1 AND used = 0 AND "
	                      "expires > $2 RETURNING " CODE_COLUMNS,
	                      p, 2, &r);
	if (rc == STORE_NOTFOUND && used_before) {
		struct store_rows o = {.conv = code_from_row, .obj = out, .size = sizeof *out};
		if (store_select(st, "SELECT " CODE_COLUMNS " FROM oauthcode WHERE codehash = $1",
		                 p, 1, &o) == STORE_OK)
			*used_before = out->used;
	}
	return rc;
}

int store_oauthcode_issued(store_t *st, const char *codehash, const char *familyid, const char *jti,
                           int64_t jtiexpires)
{
	struct store_val p[] = {SV_S(codehash), SV_S(familyid), SV_S(jti), SV_I(jtiexpires)};
	int n = 0;
	int rc = store_exec_nogen(st,
	                          "UPDATE oauthcode SET familyid = $2, jti = $3, jtiexpires = $4 "
	                          "WHERE codehash = $1",
	                          p, 4, NULL, NULL, &n);
	return rc == STORE_OK && n == 0 ? STORE_NOTFOUND : rc;
}

/* --- device codes ------------------------------------------------------------------------- */

#define DEVICE_COLUMNS                                                                             \
	"devicecodehash, usercode, clientid, scope, status, userid, authtime, expires, "           \
	"pollinterval, lastpoll"

static int device_from_row(void *obj, const char *const *v)
{
	struct store_oauthdevice *d = obj;
	memset(d, 0, sizeof *d);
	int bad = store_copy_col(d->devicecodehash, sizeof d->devicecodehash, v[0]) |
	          store_copy_col(d->usercode, sizeof d->usercode, v[1]) |
	          store_copy_col(d->clientid, sizeof d->clientid, v[2]) |
	          store_copy_col(d->scope, sizeof d->scope, v[3]) |
	          store_copy_col(d->status, sizeof d->status, v[4]) |
	          store_copy_col(d->userid, sizeof d->userid, v[5]);
	d->authtime = store_col_i64(v[6]);
	d->expires = store_col_i64(v[7]);
	d->interval = (int)store_col_i64(v[8]);
	d->lastpoll = store_col_i64(v[9]);
	return bad;
}

int store_oauthdevice_add(store_t *st, const struct store_oauthdevice *d)
{
	struct store_val v[] = {SV_S(d->devicecodehash), SV_S(d->usercode), SV_S(d->clientid),
	                        SV_S(d->scope),          SV_I(d->expires),  SV_I(d->interval)};
	return store_exec_nogen(st,
	                        "INSERT INTO oauthdevicecode (devicecodehash, usercode, clientid, "
	                        "scope, expires, pollinterval) VALUES ($1, $2, $3, $4, $5, $6)",
	                        v, 6, NULL, NULL, NULL);
}

int store_oauthdevice_by_usercode(store_t *st, const char *usercode, int64_t now,
                                  struct store_oauthdevice *out)
{
	struct store_rows r = {.conv = device_from_row, .obj = out, .size = sizeof *out};
	struct store_val p[] = {SV_S(usercode), SV_I(now)};
	return store_select(st,
	                    "SELECT " DEVICE_COLUMNS " FROM oauthdevicecode WHERE usercode = $1 "
	                    "AND status = 'pending' AND expires > $2",
	                    p, 2, &r);
}

int store_oauthdevice_decide(store_t *st, const char *usercode, const char *userid, int approve,
                             int64_t authtime, int64_t now)
{
	struct store_val p[] = {SV_S(usercode), SV_I(now), approve ? SV_S(userid) : SV_NULLV,
	                        SV_I(approve ? authtime : 0),
	                        SV_S(approve ? "approved" : "denied")};
	int n = 0;
	int rc = store_exec_nogen(st,
	                          "UPDATE oauthdevicecode SET status = $5, userid = $3, authtime = "
	                          "$4 WHERE usercode = $1 AND status = 'pending' AND expires > $2",
	                          p, 5, NULL, NULL, &n);
	return rc == STORE_OK && n == 0 ? STORE_NOTFOUND : rc;
}

int store_oauthdevice_poll(store_t *st, const char *devicecodehash, int64_t now,
                           struct store_oauthdevice *out, int *too_fast)
{
	*too_fast = 0;
	int rc = store_begin(st);
	if (rc != STORE_OK)
		return rc;
	struct store_rows r = {.conv = device_from_row, .obj = out, .size = sizeof *out};
	struct store_val p[] = {SV_S(devicecodehash), SV_I(now)};
	rc = store_select(st,
	                  "SELECT " DEVICE_COLUMNS " FROM oauthdevicecode WHERE "
	                  "devicecodehash = $1",
	                  p, 1, &r);
	if (rc == STORE_OK) {
		/* RFC 8628 §3.5: a poll sooner than the interval is slow_down, and the interval
		 * grows by 5 s for this and later polls. */
		*too_fast = out->lastpoll && now - out->lastpoll < out->interval &&
		            strcmp(out->status, "pending") == 0;
		const char *sql =
		    *too_fast ? "UPDATE oauthdevicecode SET lastpoll = $2, pollinterval = "
		                "pollinterval + 5 WHERE devicecodehash = $1"
		    : strcmp(out->status, "approved") == 0 && out->expires > now
		        ? "UPDATE oauthdevicecode SET lastpoll = $2, status = 'used' WHERE "
		          "devicecodehash = $1"
		        : "UPDATE oauthdevicecode SET lastpoll = $2 WHERE devicecodehash = $1";
		rc = store_exec_nogen(st, sql, p, 2, NULL, NULL, NULL);
	}
	if (rc == STORE_OK)
		rc = store_commit(st);
	if (rc != STORE_OK)
		store_rollback(st);
	return rc;
}

/* --- refresh tokens ----------------------------------------------------------------------- */

#define REFRESH_COLUMNS                                                                            \
	"tokenhash, familyid, clientid, userid, scope, audiences, authtime, created, expires, "    \
	"used, usedat, revoked"

static int refresh_from_row(void *obj, const char *const *v)
{
	struct store_oauthrefresh *t = obj;
	memset(t, 0, sizeof *t);
	int bad = store_copy_col(t->tokenhash, sizeof t->tokenhash, v[0]) |
	          store_copy_col(t->familyid, sizeof t->familyid, v[1]) |
	          store_copy_col(t->clientid, sizeof t->clientid, v[2]) |
	          store_copy_col(t->userid, sizeof t->userid, v[3]) |
	          store_copy_col(t->scope, sizeof t->scope, v[4]);
	t->audiences = (unsigned)store_col_i64(v[5]);
	t->authtime = store_col_i64(v[6]);
	t->created = store_col_i64(v[7]);
	t->expires = store_col_i64(v[8]);
	t->used = (int)store_col_i64(v[9]);
	t->usedat = store_col_i64(v[10]);
	t->revoked = (int)store_col_i64(v[11]);
	return bad;
}

int store_oauthrefresh_add(store_t *st, const struct store_oauthrefresh *t)
{
	struct store_val v[] = {SV_S(t->tokenhash), SV_S(t->familyid), SV_S(t->clientid),
	                        SV_S(t->userid),    SV_S(t->scope),    SV_I(t->audiences),
	                        SV_I(t->authtime),  SV_I(t->created),  SV_I(t->expires)};
	return store_exec_nogen(st,
	                        "INSERT INTO oauthrefresh (tokenhash, familyid, clientid, userid, "
	                        "scope, audiences, authtime, created, expires) VALUES ($1, $2, $3, "
	                        "$4, $5, $6, $7, $8, $9) ON CONFLICT (tokenhash) DO NOTHING",
	                        v, 9, NULL, NULL, NULL);
}

int store_oauthrefresh_get(store_t *st, const char *tokenhash, struct store_oauthrefresh *out)
{
	struct store_rows r = {.conv = refresh_from_row, .obj = out, .size = sizeof *out};
	struct store_val p[] = {SV_S(tokenhash)};
	return store_select(st, "SELECT " REFRESH_COLUMNS " FROM oauthrefresh WHERE tokenhash = $1",
	                    p, 1, &r);
}

int store_oauthrefresh_consume(store_t *st, const char *tokenhash, int64_t now,
                               struct store_oauthrefresh *out)
{
	/* No generation: nothing cached by generation reads oauthrefresh (the refresh-token
	 * rows kept by authz/oauth_cache.c are hints that this very write checks), and a bump
	 * per grant would drop the OAuth client cache the grant's next request needs. */
	struct store_rows r = {
	    .conv = refresh_from_row, .obj = out, .size = sizeof *out, .nogen = 1};
	struct store_val p[] = {SV_S(tokenhash), SV_I(now)};
	return store_select(
	    st,
	    "UPDATE oauthrefresh SET used = 1, usedat = $2 WHERE tokenhash = $1 "
	    "AND used = 0 AND revoked = 0 AND expires > $2 RETURNING " REFRESH_COLUMNS,
	    p, 2, &r);
}

void store_oauthrefresh_successor(const struct store_oauthrefresh *r, const char *nexthash,
                                  int64_t now, int64_t expires, struct store_oauthrefresh *out)
{
	*out = *r;
	snprintf(out->tokenhash, sizeof out->tokenhash, "%s", nexthash);
	out->used = 0;
	out->usedat = 0;
	out->revoked = 0;
	out->created = now;
	out->expires = expires;
}

/* Consume, then the successor. */
int store_oauthrefresh_rotate_in(store_t *st, const char *tokenhash, const char *nexthash,
                                 int64_t now, int64_t expires, struct store_oauthrefresh *out)
{
	int rc = store_oauthrefresh_consume(st, tokenhash, now, out);
	if (rc == STORE_OK) {
		struct store_oauthrefresh n;
		store_oauthrefresh_successor(out, nexthash, now, expires, &n);
		rc = store_oauthrefresh_add(st, &n);
	}
	return rc;
}

int store_oauthrefresh_rotate(store_t *st, const char *tokenhash, const char *nexthash, int64_t now,
                              int64_t expires, struct store_oauthrefresh *out)
{
	int rc = store_begin(st);
	if (rc != STORE_OK)
		return rc;
	rc = store_oauthrefresh_rotate_in(st, tokenhash, nexthash, now, expires, out);
	if (rc != STORE_OK) {
		store_rollback(st);
		return rc;
	}
	return store_commit(st);
}

int store_oauthrefresh_rotate_many(store_t *st, struct store_oauthrotation *v, size_t n)
{
	int rc = store_begin(st);
	if (rc == STORE_OK) {
		for (size_t i = 0; rc == STORE_OK && i < n; i++) {
			v[i].rc = store_oauthrefresh_rotate_in(st, v[i].tokenhash, v[i].nexthash,
			                                       v[i].now, v[i].expires, &v[i].row);
			/* Not found writes nothing: the others go on. */
			if (v[i].rc != STORE_NOTFOUND)
				rc = v[i].rc;
		}
		if (rc == STORE_OK)
			rc = store_commit(st);
		else
			store_rollback(st);
	}
	for (size_t i = 0; rc != STORE_OK && i < n; i++)
		v[i].rc = rc;
	return rc;
}

static int revoke_where(store_t *st, const char *sql, const char *key, int *n)
{
	struct store_val p[] = {SV_S(key)};
	int k = 0;
	int rc = store_exec_nogen(st, sql, p, 1, NULL, NULL, &k);
	if (n)
		*n = k;
	return rc;
}

int store_oauthrefresh_revoke_family(store_t *st, const char *familyid, int *n)
{
	return revoke_where(
	    st, "UPDATE oauthrefresh SET revoked = 1 WHERE familyid = $1 AND revoked = 0", familyid,
	    n);
}

int store_oauthrefresh_revoke_user(store_t *st, const char *userid, int *n)
{
	return revoke_where(
	    st, "UPDATE oauthrefresh SET revoked = 1 WHERE userid = $1 AND revoked = 0", userid, n);
}

int store_oauthrefresh_family_since(store_t *st, const char *familyid, int64_t since,
                                    int (*fn)(void *ud, const struct store_oauthrefresh *r),
                                    void *ud)
{
	struct store_oauthrefresh row;
	struct typed_each t = {(int (*)(void *, const void *))fn, ud};
	struct store_rows r = {refresh_from_row, &row, sizeof row, each_row, &t, 0, 0, 0};
	struct store_val p[] = {SV_S(familyid), SV_I(since)};
	return store_select(st,
	                    "SELECT " REFRESH_COLUMNS " FROM oauthrefresh WHERE familyid = $1 AND "
	                    "created >= $2 ORDER BY created",
	                    p, 2, &r);
}

static int family_from_row(void *obj, const char *const *v)
{
	struct store_oauthfamily *f = obj;
	memset(f, 0, sizeof *f);
	int bad = store_copy_col(f->familyid, sizeof f->familyid, v[0]) |
	          store_copy_col(f->clientid, sizeof f->clientid, v[1]) |
	          store_copy_col(f->scope, sizeof f->scope, v[2]);
	f->audiences = (unsigned)store_col_i64(v[3]);
	f->authtime = store_col_i64(v[4]);
	f->lastrefresh = store_col_i64(v[5]);
	f->expires = store_col_i64(v[6]);
	f->rotations = (int)store_col_i64(v[7]);
	return bad;
}

int store_oauthfamilies(store_t *st, const char *userid, int64_t now,
                        int (*fn)(void *ud, const struct store_oauthfamily *f), void *ud)
{
	struct store_oauthfamily row;
	struct typed_each t = {(int (*)(void *, const void *))fn, ud};
	struct store_rows r = {family_from_row, &row, sizeof row, each_row, &t, 0, 0, 0};
	struct store_val p[] = {SV_S(userid), SV_I(now)};
	return store_select(
	    st,
	    "SELECT familyid, MIN(clientid), MIN(scope), MIN(audiences), MIN(authtime), "
	    "MAX(created), MAX(expires), SUM(used) FROM oauthrefresh WHERE userid = $1 GROUP BY "
	    "familyid HAVING SUM(revoked) = 0 AND SUM(CASE WHEN used = 0 AND expires > $2 THEN 1 "
	    "ELSE 0 END) > 0 ORDER BY MIN(authtime), familyid",
	    p, 2, &r);
}

int store_oauth_expire(store_t *st, int64_t before, int *n)
{
	static const char *const sql[] = {
	    "DELETE FROM oauthcode WHERE expires < $1",
	    "DELETE FROM oauthdevicecode WHERE expires < $1",
	    "DELETE FROM oauthrefresh WHERE expires < $1",
	};
	struct store_val p[] = {SV_I(before)};
	int total = 0, rc = STORE_OK;
	for (size_t i = 0; rc == STORE_OK && i < sizeof sql / sizeof sql[0]; i++) {
		int k = 0;
		rc = store_exec_nogen(st, sql[i], p, 1, NULL, NULL, &k);
		total += k;
	}
	if (n)
		*n = total;
	return rc;
}
