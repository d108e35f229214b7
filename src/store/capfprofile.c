/* SPDX-License-Identifier: ISC */
/* Enrolment profiles (capfprofile, Unified CM's CAPF profile): the rows, their one-time
 * consumption and the state an enrolment leaves. */
#include "store/store.h"
#include "store/store_backend.h"

#include <stdio.h>
#include <string.h>

#define CAPF_COLUMNS                                                                               \
	"instanceid, userid, authmode, secretkind, secrethash, keytype, operation, status, "       \
	"serial, reason, failures, used, created, expires"

/* A pending row past its expiry reads "expired" ($2 is now): computed on read, so there
 * is nothing to sweep and a profile expires to the second. */
#define CAPF_COLUMNS_AT_NOW                                                                        \
	"instanceid, userid, authmode, secretkind, secrethash, keytype, operation, "               \
	"CASE WHEN status = 'pending' AND expires <= $2 THEN 'expired' ELSE status END, "          \
	"serial, reason, failures, used, created, expires"

/* Fills a store_capfprofile from a row of CAPF_COLUMNS; nonzero when a text column does
 * not fit. */
static int capf_from_row(void *obj, const char *const *v)
{
	struct store_capfprofile *p = obj;
	memset(p, 0, sizeof *p);
	int bad = store_copy_col(p->instanceid, sizeof p->instanceid, v[0]) |
	          store_copy_col(p->userid, sizeof p->userid, v[1]) |
	          store_copy_col(p->authmode, sizeof p->authmode, v[2]) |
	          store_copy_col(p->secretkind, sizeof p->secretkind, v[3]) |
	          store_copy_col(p->secrethash, sizeof p->secrethash, v[4]) |
	          store_copy_col(p->keytype, sizeof p->keytype, v[5]) |
	          store_copy_col(p->operation, sizeof p->operation, v[6]) |
	          store_copy_col(p->status, sizeof p->status, v[7]) |
	          store_copy_col(p->serial, sizeof p->serial, v[8]) |
	          store_copy_col(p->reason, sizeof p->reason, v[9]);
	p->failures = (int)store_col_i64(v[10]);
	p->used = (int)store_col_i64(v[11]);
	p->created = store_col_i64(v[12]);
	p->expires = store_col_i64(v[13]);
	return bad;
}

int store_capf_add(store_t *st, const struct store_capfprofile *p)
{
	struct store_val v[] = {SV_S(p->instanceid), SV_S(p->userid),     SV_S(p->authmode),
	                        SV_S(p->secretkind), SV_S(p->secrethash), SV_S(p->keytype),
	                        SV_S(p->operation),  SV_I(p->created),    SV_I(p->expires)};
	return store_exec(st,
	                  "INSERT INTO capfprofile (instanceid, userid, authmode, secretkind, "
	                  "secrethash, keytype, operation, created, expires) VALUES ($1, $2, $3, "
	                  "$4, $5, $6, $7, $8, $9)",
	                  v, 9, NULL, NULL, NULL);
}

int store_capf_get(store_t *st, const char *instanceid, int64_t now, struct store_capfprofile *out)
{
	struct store_rows r = {.conv = capf_from_row, .obj = out, .size = sizeof *out};
	struct store_val p[] = {SV_S(instanceid), SV_I(now)};
	return store_select(
	    st, "SELECT " CAPF_COLUMNS_AT_NOW " FROM capfprofile WHERE instanceid = $1", p, 2, &r);
}

struct capf_list {
	int (*fn)(void *ud, const struct store_capfprofile *p);
	void *ud;
};

static int capf_each(void *ud, const void *obj)
{
	struct capf_list *l = ud;
	return l->fn(l->ud, obj);
}

int store_capf_list(store_t *st, const char *userid, int64_t now,
                    int (*fn)(void *ud, const struct store_capfprofile *p), void *ud)
{
	struct store_capfprofile row;
	struct capf_list l = {fn, ud};
	struct store_rows r = {capf_from_row, &row, sizeof row, capf_each, &l, 0, 0, 0};
	/* One statement for both: "" is no user id (the table refuses none, but enduser
	 * keys are never empty). */
	struct store_val p[] = {SV_S(userid ? userid : ""), SV_I(now)};
	return store_select(st,
	                    "SELECT " CAPF_COLUMNS_AT_NOW " FROM capfprofile WHERE $1 = '' OR "
	                    "userid = $1 ORDER BY instanceid",
	                    p, 2, &r);
}

int store_capf_delete(store_t *st, const char *instanceid)
{
	struct store_val p[] = {SV_S(instanceid)};
	int n = 0;
	int rc =
	    store_exec(st, "DELETE FROM capfprofile WHERE instanceid = $1", p, 1, NULL, NULL, &n);
	return rc == STORE_OK && n == 0 ? STORE_NOTFOUND : rc;
}

int store_capf_consume(store_t *st, const char *instanceid, const char *secrethash, int64_t now,
                       struct store_capfprofile *out)
{
	/* One statement, so the check and the write cannot be separated: the database's
	 * write lock orders two consumers, and the second finds used = 1. */
	struct store_rows r = {.conv = capf_from_row, .obj = out, .size = sizeof *out};
	struct store_val p[] = {SV_S(instanceid), SV_I(now), SV_S(secrethash)};
	return store_select(st,
	                    "UPDATE capfprofile SET used = 1, failures = 0 WHERE instanceid = $1 "
	                    "AND used = 0 AND status = 'pending' AND expires > $2 AND "
	                    "secrethash = $3 RETURNING " CAPF_COLUMNS,
	                    p, 3, &r);
}

struct capf_count {
	int found, failures;
	char status[10];
};

static int count_row(void *ud, int ncols, const char *const *names, const char *const *vals)
{
	(void)names;
	struct capf_count *c = ud;
	if (ncols == 2) {
		c->found = 1;
		c->failures = (int)store_col_i64(vals[0]);
		store_copy_col(c->status, sizeof c->status, vals[1]);
	}
	return 1;
}

int store_capf_auth_failed(store_t *st, const char *instanceid, int lock_at, int *failures,
                           int *locked_now)
{
	*failures = 0;
	*locked_now = 0;
	/* The row is pending before the update (the WHERE), so 'locked' in RETURNING means
	 * this very update locked it: exactly one caller sees the transition. */
	struct store_val p[] = {SV_S(instanceid), SV_I(lock_at > 0 ? lock_at : INT32_MAX)};
	struct capf_count c = {0, 0, ""};
	int rc = store_exec(st,
	                    "UPDATE capfprofile SET failures = failures + 1, status = CASE WHEN "
	                    "failures + 1 >= $2 THEN 'locked' ELSE status END WHERE instanceid = "
	                    "$1 AND status = 'pending' RETURNING failures, status",
	                    p, 2, count_row, &c, NULL);
	if (rc != STORE_OK)
		return rc;
	if (!c.found)
		return STORE_NOTFOUND;
	*failures = c.failures;
	*locked_now = strcmp(c.status, "locked") == 0;
	return STORE_OK;
}

/* Ends a consumed, pending profile: status and one text column. */
static int capf_end(store_t *st, const char *sql, const char *instanceid, const char *text)
{
	struct store_val p[] = {SV_S(instanceid), SV_S(text ? text : "")};
	int n = 0;
	int rc = store_exec(st, sql, p, 2, NULL, NULL, &n);
	return rc == STORE_OK && n == 0 ? STORE_NOTFOUND : rc;
}

int store_capf_succeeded(store_t *st, const char *instanceid, const char *serial)
{
	return capf_end(st,
	                "UPDATE capfprofile SET status = 'success', serial = $2, reason = '' "
	                "WHERE instanceid = $1 AND used = 1 AND status = 'pending'",
	                instanceid, serial);
}

int store_capf_failed(store_t *st, const char *instanceid, const char *reason)
{
	return capf_end(st,
	                "UPDATE capfprofile SET status = 'failed', reason = $2 WHERE instanceid = "
	                "$1 AND used = 1 AND status = 'pending'",
	                instanceid, reason);
}

struct released {
	void (*fn)(void *ud, const char *instanceid);
	void *ud;
	int n;
};

static int released_row(void *ud, int ncols, const char *const *names, const char *const *vals)
{
	(void)names;
	struct released *r = ud;
	if (ncols == 1 && vals[0]) {
		r->n++;
		if (r->fn)
			r->fn(r->ud, vals[0]);
	}
	return 0;
}

int store_capf_release_interrupted(store_t *st, void (*fn)(void *ud, const char *instanceid),
                                   void *ud, int *released)
{
	struct released r = {.fn = fn, .ud = ud};
	int rc = store_exec(st,
	                    "UPDATE capfprofile SET used = 0 WHERE used = 1 AND status = 'pending' "
	                    "RETURNING instanceid",
	                    NULL, 0, released_row, &r, NULL);
	*released = r.n;
	return rc;
}

int store_capf_rearm(store_t *st, const char *instanceid, const char *secretkind,
                     const char *secrethash, int64_t expires)
{
	struct store_val p[] = {SV_S(instanceid), SV_S(secretkind), SV_S(secrethash),
	                        SV_I(expires)};
	int n = 0;
	int rc = store_exec(st,
	                    "UPDATE capfprofile SET status = 'pending', failures = 0, used = 0, "
	                    "serial = '', reason = '', secretkind = $2, secrethash = $3, expires = "
	                    "$4 WHERE instanceid = $1",
	                    p, 4, NULL, NULL, &n);
	return rc == STORE_OK && n == 0 ? STORE_NOTFOUND : rc;
}
