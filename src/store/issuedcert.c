/* SPDX-License-Identifier: ISC */
/* The certificates telgate's CA issued (issuedcertificate) and the CRL number (crlnumber). */
#include "store/store.h"
#include "store/store_backend.h"

#include <string.h>

static const char *const status_names[] = {"valid", "revoked"};

const char *store_cert_status_name(enum store_cert_status s)
{
	return (unsigned)s < 2 ? status_names[s] : "?";
}

/* 32 upper-case hex digits: the one spelling, so a serial has one primary key. */
static int serial_ok(const char *s)
{
	size_t n = strspn(s, "0123456789ABCDEF");
	return n == STORE_SERIAL_HEX && s[n] == '\0';
}

int store_issuedcert_add(store_t *st, const struct store_issuedcert *c, const char *pem)
{
	if (!serial_ok(c->serial) || !c->userid[0] || !pem || !pem[0]) {
		store_set_error("issued certificate: a serial of 32 upper-case hex digits, a user "
		                "and the certificate are required");
		return STORE_CONSTRAINT;
	}
	struct store_val p[] = {SV_S(c->serial),     SV_S(c->subject), SV_S(c->userid),
	                        SV_S(c->instanceid), SV_S(c->profile), SV_I(c->notbefore),
	                        SV_I(c->notafter),   SV_S(c->sha256),  SV_S(pem)};
	return store_exec(st,
	                  "INSERT INTO issuedcertificate (serial, subject, userid, instanceid, "
	                  "profile, notbefore, notafter, sha256, pem) VALUES ($1, $2, $3, $4, $5, "
	                  "$6, $7, $8, $9)",
	                  p, 9, NULL, NULL, NULL);
}

#define CERT_COLUMNS                                                                               \
	"serial, subject, userid, instanceid, profile, notbefore, notafter, status, revoked_at, "  \
	"revocation_reason, sha256"

/* Fills a store_issuedcert from a row of CERT_COLUMNS; nonzero when a column does not fit. */
static int cert_from_row(void *obj, const char *const *v)
{
	struct store_issuedcert *c = obj;
	memset(c, 0, sizeof *c);
	int bad = store_copy_col(c->serial, sizeof c->serial, v[0]) |
	          store_copy_col(c->subject, sizeof c->subject, v[1]) |
	          store_copy_col(c->userid, sizeof c->userid, v[2]) |
	          store_copy_col(c->instanceid, sizeof c->instanceid, v[3]) |
	          store_copy_col(c->profile, sizeof c->profile, v[4]) |
	          store_copy_col(c->revocation_reason, sizeof c->revocation_reason, v[9]) |
	          store_copy_col(c->sha256, sizeof c->sha256, v[10]);
	c->notbefore = store_col_i64(v[5]);
	c->notafter = store_col_i64(v[6]);
	c->status = v[7] && strcmp(v[7], "revoked") == 0 ? STORE_CERT_REVOKED : STORE_CERT_VALID;
	c->revoked_at = store_col_i64(v[8]);
	return bad;
}

int store_issuedcert_get(store_t *st, const char *serial, struct store_issuedcert *out)
{
	struct store_rows r = {.conv = cert_from_row, .obj = out, .size = sizeof *out};
	struct store_val p[] = {SV_S(serial)};
	return store_select(st, "SELECT " CERT_COLUMNS " FROM issuedcertificate WHERE serial = $1",
	                    p, 1, &r);
}

struct pem_out {
	char *buf;
	size_t cap;
};

static int pem_from_row(void *obj, const char *const *v)
{
	struct pem_out *o = obj;
	return store_copy_col(o->buf, o->cap, v[0]);
}

int store_issuedcert_pem(store_t *st, const char *serial, char *out, size_t cap)
{
	struct pem_out o = {out, cap};
	/* store_select zeroes obj (here: the struct, not the buffer) on failure. */
	struct store_rows r = {.conv = pem_from_row, .obj = &o, .size = sizeof o};
	struct store_val p[] = {SV_S(serial)};
	int rc = store_select(st, "SELECT pem FROM issuedcertificate WHERE serial = $1", p, 1, &r);
	if (rc != STORE_OK && cap)
		out[0] = '\0';
	return rc;
}

struct cert_list {
	int (*fn)(void *ud, const struct store_issuedcert *c);
	void *ud;
};

static int cert_each(void *ud, const void *obj)
{
	struct cert_list *l = ud;
	return l->fn(l->ud, obj);
}

static int cert_rows(store_t *st, const char *sql, const struct store_val *p, int n,
                     int (*fn)(void *ud, const struct store_issuedcert *c), void *ud)
{
	struct store_issuedcert c;
	struct cert_list l = {fn, ud};
	struct store_rows r = {cert_from_row, &c, sizeof c, cert_each, &l, 0, 0, 0};
	return store_select(st, sql, p, n, &r);
}

int store_issuedcerts(store_t *st, const char *userid,
                      int (*fn)(void *ud, const struct store_issuedcert *c), void *ud)
{
	if (!userid)
		return cert_rows(
		    st, "SELECT " CERT_COLUMNS " FROM issuedcertificate ORDER BY notbefore, serial",
		    NULL, 0, fn, ud);
	struct store_val p[] = {SV_S(userid)};
	return cert_rows(st,
	                 "SELECT " CERT_COLUMNS " FROM issuedcertificate WHERE userid = $1 ORDER "
	                 "BY notbefore, serial",
	                 p, 1, fn, ud);
}

int store_issuedcerts_revoked(store_t *st, int64_t since,
                              int (*fn)(void *ud, const struct store_issuedcert *c), void *ud)
{
	struct store_val p[] = {SV_I(since)};
	return cert_rows(st,
	                 "SELECT " CERT_COLUMNS " FROM issuedcertificate WHERE status = 'revoked' "
	                 "AND notafter >= $1 ORDER BY serial",
	                 p, 1, fn, ud);
}

int store_issuedcert_revoke(store_t *st, const char *serial, const char *reason, int64_t at)
{
	if (!reason || !reason[0]) {
		store_set_error("a revocation needs a reason");
		return STORE_CONSTRAINT;
	}
	struct store_val p[] = {SV_I(at), SV_S(reason), SV_S(serial)};
	int n = 0;
	int rc = store_exec(st,
	                    "UPDATE issuedcertificate SET status = 'revoked', revoked_at = $1, "
	                    "revocation_reason = $2 WHERE serial = $3 AND status = 'valid'",
	                    p, 3, NULL, NULL, &n);
	if (rc != STORE_OK || n > 0)
		return rc;
	struct store_issuedcert c;
	rc = store_issuedcert_get(st, serial, &c);
	if (rc != STORE_OK)
		return rc;
	store_set_error("certificate %s is already revoked (%s)", serial, c.revocation_reason);
	return STORE_CONSTRAINT;
}

static int number_from_row(void *obj, const char *const *v)
{
	*(int64_t *)obj = store_col_i64(v[0]);
	return 0;
}

int store_crlnumber_get(store_t *st, int64_t *out)
{
	struct store_rows r = {
	    .conv = number_from_row, .obj = out, .size = sizeof *out, .nogen = 1};
	return store_select(st, "SELECT number FROM crlnumber WHERE id = 1", NULL, 0, &r);
}

int store_crlnumber_next(store_t *st, int64_t *out)
{
	/* One statement: two writers can never get the same number. */
	struct store_rows r = {
	    .conv = number_from_row, .obj = out, .size = sizeof *out, .nogen = 1};
	return store_select(
	    st, "UPDATE crlnumber SET number = number + 1 WHERE id = 1 RETURNING number", NULL, 0,
	    &r);
}

int store_crlnumber_floor(store_t *st, int64_t floor, int64_t *out)
{
	struct store_val p[] = {SV_I(floor)};
	struct store_rows r = {
	    .conv = number_from_row, .obj = out, .size = sizeof *out, .nogen = 1};
	return store_select(st,
	                    "UPDATE crlnumber SET number = CASE WHEN number < $1 THEN $1 "
	                    "ELSE number END WHERE id = 1 RETURNING number",
	                    p, 1, &r);
}
