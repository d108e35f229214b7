/* SPDX-License-Identifier: ISC */
#include "provision/import.h"
#include "core/util.h"
#include "provision/jsonpath.h"
#include "sip/digest.h"
#include "store/params.h"

#include <ctype.h>
#include <jansson.h>
#include <sodium.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct ctx {
	char *err;
	size_t errlen;
	int failed;
};

static int fail(struct ctx *c, const char *path, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static int fail(struct ctx *c, const char *path, const char *fmt, ...)
{
	if (c->failed)
		return -1;
	c->failed = 1;
	int n = snprintf(c->err, c->errlen, "%s: ", path);
	if (n < 0 || (size_t)n >= c->errlen)
		return -1;
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(c->err + n, c->errlen - (size_t)n, fmt, ap);
	va_end(ap);
	return -1;
}

/* Path of a member or an array element, bounded. */
static void sub(char *out, size_t cap, const char *base, const char *key, long idx)
{
	if (key)
		snprintf(out, cap, "%s.%s", base, key);
	else
		snprintf(out, cap, "%s[%ld]", base, idx);
}

static int check_members(struct ctx *c, json_t *obj, const char *path, const char *const *allowed)
{
	const char *key;
	json_t *v;
	json_object_foreach(obj, key, v)
	{
		int ok = 0;
		for (const char *const *a = allowed; *a && !ok; a++)
			ok = strcmp(*a, key) == 0;
		if (!ok) {
			char p[320];
			snprintf(p, sizeof p, "%s.%.64s", path, key);
			return fail(c, p, "unknown member (see docs/provisioning.md)");
		}
	}
	return 0;
}

/* Text fit for an identifier or a name: no control characters, no surrounding space. */
static int clean_text(const char *s)
{
	size_t n = strlen(s);
	if (n && (isspace((unsigned char)s[0]) || isspace((unsigned char)s[n - 1])))
		return 0;
	for (const unsigned char *p = (const unsigned char *)s; *p; p++)
		if (*p < 0x20 || *p == 0x7f)
			return 0;
	return 1;
}

/* Reads an optional (or required) string member into out. */
static int get_str(struct ctx *c, json_t *obj, const char *path, const char *key, int required,
                   char *out, size_t cap)
{
	char p[320];
	sub(p, sizeof p, path, key, 0);
	json_t *v = json_object_get(obj, key);
	if (!v || json_is_null(v)) {
		if (required)
			return fail(c, p, "required");
		out[0] = '\0';
		return 0;
	}
	if (!json_is_string(v))
		return fail(c, p, "must be a string");
	const char *s = json_string_value(v);
	if (strlen(s) != json_string_length(v))
		return fail(c, p, "must not contain NUL");
	if (strlen(s) >= cap)
		return fail(c, p, "longer than %zu bytes", cap - 1);
	if (!clean_text(s))
		return fail(c, p, "must not contain control characters or surrounding spaces");
	if (required && !*s)
		return fail(c, p, "must not be empty");
	tg_strlcpy(out, s, cap);
	return 0;
}

static int get_int(struct ctx *c, json_t *obj, const char *path, const char *key, long min,
                   long max, int *out)
{
	json_t *v = json_object_get(obj, key);
	if (!v)
		return 0; /* keep the default */
	char p[320];
	sub(p, sizeof p, path, key, 0);
	if (!json_is_integer(v))
		return fail(c, p, "must be an integer");
	json_int_t n = json_integer_value(v);
	if (n < min || n > max)
		return fail(c, p, "%lld is out of range %ld..%ld", (long long)n, min, max);
	*out = (int)n;
	return 0;
}

static int get_bool(struct ctx *c, json_t *obj, const char *path, const char *key, int *out)
{
	json_t *v = json_object_get(obj, key);
	if (!v)
		return 0;
	if (!json_is_boolean(v)) {
		char p[320];
		sub(p, sizeof p, path, key, 0);
		return fail(c, p, "must be true or false");
	}
	*out = json_is_true(v);
	return 0;
}

static json_t *get_array(struct ctx *c, json_t *obj, const char *path, const char *key)
{
	json_t *v = json_object_get(obj, key);
	if (!v)
		return NULL;
	if (!json_is_array(v)) {
		char p[320];
		sub(p, sizeof p, path, key, 0);
		fail(c, p, "must be an array");
		return NULL;
	}
	return v;
}

/* --- parsed document ---------------------------------------------------------------- */

struct p_param {
	char name[STORE_ID_MAX + 1], value[STORE_PARAM_VALUE_MAX + 1], service[64];
};

struct p_user {
	struct store_user u;
	struct store_credstate cs;           /* the password's flags */
	char digestpolicy[STORE_ID_MAX + 1]; /* the digest credential's own policy, "" = default */
	const char *password;                /* points into the JSON tree; wiped after hashing */
	size_t password_len;
	const char *digestpw; /* SIP digest password, likewise; only HA1s are stored */
	size_t digestpw_len;
	struct store_sipcred sip;
	json_t *groups;
	int has_ctiauthtype; /* "ctiauthtype" given: set it (else the stored one stays) */
	enum store_ctiauthtype ctiauthtype;
};

struct doc {
	json_t *root;
	json_t *params, *policies, *groups, *profiles, *users, *devices, *assocs;
	struct p_param *pv;
	struct store_credpolicy *polv;
	struct store_securityprofile *spv;
	struct p_user *uv;
	struct store_device *dv;
	json_t **dlines; /* per device: its "lines" array (borrowed from root) or NULL */
};

static int parse_params(struct ctx *c, struct doc *d)
{
	static const char *const allowed[] = {"name", "value", "service", NULL};
	size_t n = json_array_size(d->params);
	d->pv = calloc(n ? n : 1, sizeof *d->pv);
	if (!d->pv)
		return fail(c, "$", "out of memory");
	for (size_t i = 0; i < n; i++) {
		char p[64], vp[80];
		sub(p, sizeof p, "$.parameters", NULL, (long)i);
		json_t *o = json_array_get(d->params, i);
		struct p_param *x = &d->pv[i];
		if (!json_is_object(o))
			return fail(c, p, "must be an object");
		if (check_members(c, o, p, allowed) ||
		    get_str(c, o, p, "name", 1, x->name, sizeof x->name) ||
		    get_str(c, o, p, "service", 0, x->service, sizeof x->service))
			return -1;
		snprintf(vp, sizeof vp, "%s.value", p);
		json_t *v = json_object_get(o, "value");
		if (json_is_integer(v))
			snprintf(x->value, sizeof x->value, "%lld",
			         (long long)json_integer_value(v));
		else if (get_str(c, o, p, "value", 1, x->value, sizeof x->value))
			return -1;
		const struct param_def *def = param_find(x->name);
		if (!def)
			return fail(c, p, "unknown parameter '%s'", x->name);
		if (x->service[0] && strcmp(x->service, def->service) != 0)
			return fail(c, p, "parameter '%s' belongs to service '%s', not '%s'",
			            x->name, def->service, x->service);
		tg_strlcpy(x->service, def->service, sizeof x->service);
		char why[256];
		if (param_validate(def, x->value, why, sizeof why) != 0)
			return fail(c, vp, "%s", why);
		for (size_t j = 0; j < i; j++)
			if (strcmp(d->pv[j].name, x->name) == 0)
				return fail(c, p, "duplicate of $.parameters[%zu]", j);
	}
	return 0;
}

/* The integer members of a credential policy element (adminmustunlock as 0/1). */
static const struct {
	const char *member;
	size_t off;
} policy_ints[] = {
#define PI(m)                                                                                      \
	{                                                                                          \
#m, offsetof(struct store_credpolicy, m)                                           \
	}
    PI(failedlogonthreshold),  PI(resetfailedlogonsafter),
    PI(lockoutduration),       PI(adminmustunlock),
    PI(expiresafterdays),      PI(expirywarningdays),
    PI(inactivedaysallowed),   PI(minlength),
    PI(throttleafterfailures), PI(throttlemaxseconds),
#undef PI
};

/* Members the element o does not give take the stored policy's values. */
static void policy_keep_omitted(json_t *o, struct store_credpolicy *pol,
                                const struct store_credpolicy *cur)
{
	for (size_t k = 0; k < sizeof policy_ints / sizeof policy_ints[0]; k++)
		if (!json_object_get(o, policy_ints[k].member))
			memcpy((char *)pol + policy_ints[k].off,
			       (const char *)cur + policy_ints[k].off, sizeof(int));
}

static int parse_policies(struct ctx *c, struct doc *d)
{
	static const char *const allowed[] = {"name",
	                                      "failedlogonthreshold",
	                                      "resetfailedlogonsafter",
	                                      "lockoutduration",
	                                      "adminmustunlock",
	                                      "expiresafterdays",
	                                      "expirywarningdays",
	                                      "inactivedaysallowed",
	                                      "minlength",
	                                      "throttleafterfailures",
	                                      "throttlemaxseconds",
	                                      NULL};
	size_t n = json_array_size(d->policies);
	d->polv = calloc(n ? n : 1, sizeof *d->polv);
	if (!d->polv)
		return fail(c, "$", "out of memory");
	for (size_t i = 0; i < n; i++) {
		char p[64];
		sub(p, sizeof p, "$.credentialpolicies", NULL, (long)i);
		json_t *o = json_array_get(d->policies, i);
		struct store_credpolicy *x = &d->polv[i];
		if (!json_is_object(o))
			return fail(c, p, "must be an object");
		/* The defaults of Unified CM's "Default Credential Policy". */
		x->failedlogonthreshold = 3;
		x->resetfailedlogonsafter = 30;
		x->lockoutduration = 30;
		x->minlength = 8;
		x->throttlemaxseconds = 300;
		if (check_members(c, o, p, allowed) ||
		    get_str(c, o, p, "name", 1, x->name, sizeof x->name) ||
		    get_int(c, o, p, "failedlogonthreshold", 0, 1000, &x->failedlogonthreshold) ||
		    get_int(c, o, p, "resetfailedlogonsafter", 0, 525600,
		            &x->resetfailedlogonsafter) ||
		    get_int(c, o, p, "lockoutduration", 0, 525600, &x->lockoutduration) ||
		    get_bool(c, o, p, "adminmustunlock", &x->adminmustunlock) ||
		    get_int(c, o, p, "expiresafterdays", 0, 3650, &x->expiresafterdays) ||
		    get_int(c, o, p, "expirywarningdays", 0, 3650, &x->expirywarningdays) ||
		    get_int(c, o, p, "inactivedaysallowed", 0, 3650, &x->inactivedaysallowed) ||
		    get_int(c, o, p, "minlength", 0, 256, &x->minlength) ||
		    get_int(c, o, p, "throttleafterfailures", 0, 1000, &x->throttleafterfailures) ||
		    get_int(c, o, p, "throttlemaxseconds", 1, 86400, &x->throttlemaxseconds))
			return -1;
		for (size_t j = 0; j < i; j++)
			if (strcmp(d->polv[j].name, x->name) == 0)
				return fail(c, p, "duplicate of $.credentialpolicies[%zu]", j);
	}
	return 0;
}

static int parse_groups(struct ctx *c, struct doc *d)
{
	static const char *const allowed[] = {"name", "description", NULL};
	for (size_t i = 0; i < json_array_size(d->groups); i++) {
		char p[64], name[STORE_ID_MAX + 1], desc[STORE_NAME_MAX + 1];
		sub(p, sizeof p, "$.groups", NULL, (long)i);
		json_t *o = json_array_get(d->groups, i);
		if (!json_is_object(o))
			return fail(c, p, "must be an object");
		if (check_members(c, o, p, allowed) ||
		    get_str(c, o, p, "name", 1, name, sizeof name) ||
		    get_str(c, o, p, "description", 0, desc, sizeof desc))
			return -1;
		for (size_t j = 0; j < i; j++)
			if (strcmp(json_string_value(
			               json_object_get(json_array_get(d->groups, j), "name")),
			           name) == 0)
				return fail(c, p, "duplicate of $.groups[%zu]", j);
	}
	return 0;
}

/* Device security profiles (Unified CM's Phone Security Profile). The authentication
 * flags are booleans; seed 002: a profile with both OAuth and digest on is refused. */
static int parse_profiles(struct ctx *c, struct doc *d)
{
	static const char *const allowed[] = {"name",
	                                      "description",
	                                      "transport",
	                                      "enableoauthauthentication",
	                                      "enabledigestauthentication",
	                                      NULL};
	size_t n = json_array_size(d->profiles);
	d->spv = calloc(n ? n : 1, sizeof *d->spv);
	if (!d->spv)
		return fail(c, "$", "out of memory");
	for (size_t i = 0; i < n; i++) {
		char p[64], q[96], why[256];
		sub(p, sizeof p, "$.securityprofiles", NULL, (long)i);
		json_t *o = json_array_get(d->profiles, i);
		struct store_securityprofile *x = &d->spv[i];
		if (!json_is_object(o))
			return fail(c, p, "must be an object");
		if (check_members(c, o, p, allowed) ||
		    get_str(c, o, p, "name", 1, x->name, sizeof x->name) ||
		    get_str(c, o, p, "description", 0, x->description, sizeof x->description) ||
		    get_str(c, o, p, "transport", 0, x->transport, sizeof x->transport) ||
		    get_bool(c, o, p, "enableoauthauthentication", &x->enableoauthauthentication) ||
		    get_bool(c, o, p, "enabledigestauthentication", &x->enabledigestauthentication))
			return -1;
		if (!x->transport[0])
			tg_strlcpy(x->transport, "TCP+UDP", sizeof x->transport);
		if (!store_securityprofile_transport_valid(x->transport))
			return fail(c, (snprintf(q, sizeof q, "%s.transport", p), q),
			            "must be \"TCP+UDP\", \"TCP\", \"UDP\" or \"TLS\"");
		if (store_securityprofile_check(x, why, sizeof why) != 0)
			return fail(c, p, "%s", why);
		for (size_t j = 0; j < i; j++)
			if (strcmp(d->spv[j].name, x->name) == 0)
				return fail(c, p, "duplicate of $.securityprofiles[%zu]", j);
	}
	return 0;
}

static int parse_users(struct ctx *c, struct doc *d)
{
	static const char *const allowed[] = {"userid",           "firstname",
	                                      "lastname",         "mail",
	                                      "directory",        "password",
	                                      "passwordhash",     "status",
	                                      "credentialpolicy", "groups",
	                                      "mustchange",       "doesnotexpire",
	                                      "digestpassword",   "digestcredentialpolicy",
	                                      "ctiauthtype",      NULL};
	size_t n = json_array_size(d->users);
	d->uv = calloc(n ? n : 1, sizeof *d->uv);
	if (!d->uv)
		return fail(c, "$", "out of memory");
	for (size_t i = 0; i < n; i++) {
		char p[64], q[96], dir[8], status[16], authtype[16] = "";
		sub(p, sizeof p, "$.users", NULL, (long)i);
		json_t *o = json_array_get(d->users, i);
		struct p_user *x = &d->uv[i];
		struct store_user *u = &x->u;
		if (!json_is_object(o))
			return fail(c, p, "must be an object");
		if (check_members(c, o, p, allowed) ||
		    get_str(c, o, p, "userid", 1, u->userid, sizeof u->userid) ||
		    get_str(c, o, p, "firstname", 0, u->firstname, sizeof u->firstname) ||
		    get_str(c, o, p, "lastname", 0, u->lastname, sizeof u->lastname) ||
		    get_str(c, o, p, "mail", 0, u->mail, sizeof u->mail) ||
		    get_str(c, o, p, "directory", 0, dir, sizeof dir) ||
		    get_str(c, o, p, "status", 0, status, sizeof status) ||
		    get_str(c, o, p, "credentialpolicy", 0, u->credentialpolicy,
		            sizeof u->credentialpolicy) ||
		    get_str(c, o, p, "digestcredentialpolicy", 0, x->digestpolicy,
		            sizeof x->digestpolicy) ||
		    get_str(c, o, p, "passwordhash", 0, u->passwordhash, sizeof u->passwordhash) ||
		    get_str(c, o, p, "ctiauthtype", 0, authtype, sizeof authtype) ||
		    get_bool(c, o, p, "mustchange", &x->cs.mustchange) ||
		    get_bool(c, o, p, "doesnotexpire", &x->cs.doesnotexpire))
			return -1;
		/* The seed's "AuthType certificate": a CTI login by certificate alone. */
		if (authtype[0]) {
			if (store_ctiauthtype_parse(authtype, &x->ctiauthtype) != 0)
				return fail(c, (snprintf(q, sizeof q, "%s.ctiauthtype", p), q),
				            "must be \"password\" or \"certificate\"");
			x->has_ctiauthtype = 1;
		}
		if (!dir[0] || strcmp(dir, "local") == 0)
			u->directory = STORE_DIR_LOCAL;
		else if (strcmp(dir, "ldap") == 0)
			u->directory = STORE_DIR_LDAP;
		else
			return fail(c, (snprintf(q, sizeof q, "%s.directory", p), q),
			            "must be \"local\" or \"ldap\"");
		if (!status[0] || strcmp(status, "active") == 0)
			u->status = STORE_USER_ACTIVE;
		else if (strcmp(status, "inactive") == 0)
			u->status = STORE_USER_INACTIVE;
		else
			return fail(c, (snprintf(q, sizeof q, "%s.status", p), q),
			            "must be \"active\" or \"inactive\"");
		x->cs.inactive = u->status == STORE_USER_INACTIVE;
		if (!u->credentialpolicy[0])
			tg_strlcpy(u->credentialpolicy, "Default Credential Policy",
			           sizeof u->credentialpolicy);

		json_t *pw = json_object_get(o, "password");
		snprintf(q, sizeof q, "%s.password", p);
		if (pw) {
			/* Checked here without get_str: its messages could quote the value. */
			if (!json_is_string(pw))
				return fail(c, q, "must be a string");
			x->password = json_string_value(pw);
			x->password_len = json_string_length(pw);
			if (x->password_len == 0 || x->password_len > 1024)
				return fail(c, q, "must be 1..1024 bytes long");
			if (u->passwordhash[0])
				return fail(c, q, "give password or passwordhash, not both");
		}
		json_t *dp = json_object_get(o, "digestpassword");
		if (dp) {
			char dq[96];
			snprintf(dq, sizeof dq, "%s.digestpassword", p);
			if (!json_is_string(dp))
				return fail(c, dq, "must be a string");
			x->digestpw = json_string_value(dp);
			x->digestpw_len = json_string_length(dp);
			if (x->digestpw_len == 0 || x->digestpw_len > 1024)
				return fail(c, dq, "must be 1..1024 bytes long");
		}
		if (u->directory == STORE_DIR_LDAP && (pw || u->passwordhash[0]))
			return fail(c, q, "a directory (ldap) user has no local password");
		if (u->passwordhash[0] && !dir_passwd_is_hash(u->passwordhash))
			return fail(c, (snprintf(q, sizeof q, "%s.passwordhash", p), q),
			            "must be an argon2id hash string ($argon2id$v=19$...)");
		x->groups = get_array(c, o, p, "groups");
		if (c->failed)
			return -1;
		for (size_t g = 0; g < json_array_size(x->groups); g++) {
			char gp[96], gn[STORE_ID_MAX + 1];
			snprintf(gp, sizeof gp, "%s.groups[%zu]", p, g);
			json_t *gv = json_array_get(x->groups, g);
			if (!json_is_string(gv) || json_string_length(gv) == 0 ||
			    json_string_length(gv) > STORE_ID_MAX)
				return fail(c, gp, "must be a group name (1..%d bytes)",
				            STORE_ID_MAX);
			tg_strlcpy(gn, json_string_value(gv), sizeof gn);
			if (!clean_text(gn))
				return fail(c, gp, "must not contain control characters");
		}
		for (size_t j = 0; j < i; j++)
			if (strcmp(d->uv[j].u.userid, u->userid) == 0)
				return fail(c, p, "duplicate of $.users[%zu]", j);
	}
	return 0;
}

static int valid_device_name(const char *s)
{
	for (; *s; s++)
		if (!isalnum((unsigned char)*s) && *s != '.' && *s != '_' && *s != '-')
			return 0;
	return 1;
}

static int normalise_mac(char *mac)
{
	if (strlen(mac) != 12)
		return -1;
	for (char *p = mac; *p; p++) {
		if (!isxdigit((unsigned char)*p))
			return -1;
		*p = (char)toupper((unsigned char)*p);
	}
	return 0;
}

/* The user part of an address of record: a dialable string or a name. */
static int valid_line(const char *s)
{
	size_t n = strlen(s);
	if (n == 0 || n > 64)
		return 0;
	for (; *s; s++)
		if (!isalnum((unsigned char)*s) && !strchr("+*#._-", *s))
			return 0;
	return 1;
}

static int parse_devices(struct ctx *c, struct doc *d)
{
	static const char *const allowed[] = {
	    "name", "model",       "protocol", "owner",      "securityprofile",
	    "mac",  "description", "lines",    "digestuser", NULL};
	size_t n = json_array_size(d->devices);
	d->dv = calloc(n ? n : 1, sizeof *d->dv);
	d->dlines = calloc(n ? n : 1, sizeof *d->dlines);
	if (!d->dv || !d->dlines)
		return fail(c, "$", "out of memory");
	for (size_t i = 0; i < n; i++) {
		char p[64], q[96];
		sub(p, sizeof p, "$.devices", NULL, (long)i);
		json_t *o = json_array_get(d->devices, i);
		struct store_device *x = &d->dv[i];
		if (!json_is_object(o))
			return fail(c, p, "must be an object");
		if (check_members(c, o, p, allowed) ||
		    get_str(c, o, p, "name", 1, x->name, sizeof x->name) ||
		    get_str(c, o, p, "model", 0, x->model, sizeof x->model) ||
		    get_str(c, o, p, "protocol", 0, x->protocol, sizeof x->protocol) ||
		    get_str(c, o, p, "owner", 0, x->owneruserid, sizeof x->owneruserid) ||
		    get_str(c, o, p, "securityprofile", 0, x->securityprofile,
		            sizeof x->securityprofile) ||
		    get_str(c, o, p, "mac", 0, x->mac, sizeof x->mac) ||
		    get_str(c, o, p, "description", 0, x->description, sizeof x->description) ||
		    get_str(c, o, p, "digestuser", 0, x->digestuser, sizeof x->digestuser))
			return -1;
		d->dlines[i] = get_array(c, o, p, "lines");
		if (c->failed)
			return -1;
		if (json_array_size(d->dlines[i]) > 64)
			return fail(c, (snprintf(q, sizeof q, "%s.lines", p), q),
			            "more than 64 lines");
		for (size_t l = 0; l < json_array_size(d->dlines[i]); l++) {
			json_t *lv = json_array_get(d->dlines[i], l);
			snprintf(q, sizeof q, "%s.lines[%zu]", p, l);
			const char *ls = json_is_string(lv) ? json_string_value(lv) : NULL;
			if (!ls || !valid_line(ls))
				return fail(
				    c, q,
				    "must be 1..64 characters of letters, digits, '+', '*', '#', "
				    "'.', '_' or '-' (the user part of an address of record)");
			/* A line may be on several devices (shared lines, schema v14), but
			 * only once on each. */
			for (size_t k = 0; k < l; k++)
				if (!strcmp(json_string_value(json_array_get(d->dlines[i], k)), ls))
					return fail(c, q, "line '%s' is also %s.lines[%zu]", ls, p,
					            k);
		}
		if (!valid_device_name(x->name))
			return fail(c, (snprintf(q, sizeof q, "%s.name", p), q),
			            "only letters, digits, '.', '_' and '-' are allowed");
		if (!x->protocol[0])
			tg_strlcpy(x->protocol, "SIP", sizeof x->protocol);
		if (strcmp(x->protocol, "SIP") && strcmp(x->protocol, "SCCP") &&
		    strcmp(x->protocol, "CTI"))
			return fail(c, (snprintf(q, sizeof q, "%s.protocol", p), q),
			            "must be \"SIP\", \"SCCP\" or \"CTI\"");
		/* A Cisco-style name (SEP + MAC) gives the MAC when none is given. */
		if (!x->mac[0] && strncmp(x->name, "SEP", 3) == 0 && strlen(x->name) == 15) {
			char m[13];
			tg_strlcpy(m, x->name + 3, sizeof m);
			if (normalise_mac(m) == 0)
				tg_strlcpy(x->mac, m, sizeof x->mac);
		}
		if (x->mac[0] && normalise_mac(x->mac) != 0)
			return fail(c, (snprintf(q, sizeof q, "%s.mac", p), q),
			            "must be 12 hexadecimal digits");
		for (size_t j = 0; j < i; j++)
			if (strcmp(d->dv[j].name, x->name) == 0)
				return fail(c, p, "duplicate of $.devices[%zu]", j);
	}
	return 0;
}

static int parse_assocs(struct ctx *c, struct doc *d)
{
	static const char *const allowed[] = {"user", "device", NULL};
	for (size_t i = 0; i < json_array_size(d->assocs); i++) {
		char p[64], u[STORE_ID_MAX + 1], dev[STORE_ID_MAX + 1];
		sub(p, sizeof p, "$.associations", NULL, (long)i);
		json_t *o = json_array_get(d->assocs, i);
		if (!json_is_object(o))
			return fail(c, p, "must be an object");
		if (check_members(c, o, p, allowed) || get_str(c, o, p, "user", 1, u, sizeof u) ||
		    get_str(c, o, p, "device", 1, dev, sizeof dev))
			return -1;
	}
	return 0;
}

static int parse(struct ctx *c, const char *text, size_t len, struct doc *d)
{
	static const char *const allowed[] = {"version", "parameters",       "credentialpolicies",
	                                      "groups",  "securityprofiles", "users",
	                                      "devices", "associations",     NULL};
	json_error_t je;
	d->root = json_loadb(text, len, JSON_REJECT_DUPLICATES, &je);
	if (!d->root && json_error_code(&je) == json_error_duplicate_key) {
		/* jansson stays the only JSON parser (it decodes escapes, so "\u0061" and "a"
		 * collide; its tree keeps only the last of two equal keys, so they cannot be
		 * found afterwards). It reports the duplicate by offset, just past the key;
		 * the path is recovered from that offset by a scan of the accepted prefix. */
		char p[320];
		prov_json_path_at(text, len, (size_t)je.position, p, sizeof p);
		return fail(c, p, "duplicate member (line %d column %d)", je.line, je.column);
	}
	if (!d->root)
		return fail(c, "$", "invalid JSON at line %d column %d: %s", je.line, je.column,
		            je.text);
	if (!json_is_object(d->root))
		return fail(c, "$", "must be a JSON object");
	if (check_members(c, d->root, "$", allowed))
		return -1;
	json_t *v = json_object_get(d->root, "version");
	if (!json_is_integer(v) || json_integer_value(v) != 1)
		return fail(c, "$.version", "required, and must be 1");
	d->params = get_array(c, d->root, "$", "parameters");
	d->policies = get_array(c, d->root, "$", "credentialpolicies");
	d->groups = get_array(c, d->root, "$", "groups");
	d->profiles = get_array(c, d->root, "$", "securityprofiles");
	d->users = get_array(c, d->root, "$", "users");
	d->devices = get_array(c, d->root, "$", "devices");
	d->assocs = get_array(c, d->root, "$", "associations");
	if (c->failed)
		return -1;
	return parse_params(c, d) || parse_policies(c, d) || parse_groups(c, d) ||
	               parse_profiles(c, d) || parse_users(c, d) || parse_devices(c, d) ||
	               parse_assocs(c, d)
	           ? -1
	           : 0;
}

/* --- writing ------------------------------------------------------------------------ */

static int store_fail(struct ctx *c, const char *path, int rc)
{
	return fail(c, path, "store %s: %s",
	            rc == STORE_CONSTRAINT ? "constraint violated" : "error", store_last_error());
}

static int tick(struct ctx *c, const struct prov_options *o, const char *path)
{
	if (o->progress && o->progress(o->ud, path))
		return fail(c, path, "import interrupted");
	return 0;
}

/* Sections are written in dependency order (policies, groups and security profiles, then
 * users, then devices, then associations), so inside the transaction the store already holds
 * everything the document defines: one lookup answers for the document and the store alike. */
/* Members the element o does not give take the stored profile's values. */
static void profile_keep_omitted(json_t *o, struct store_securityprofile *sp,
                                 const struct store_securityprofile *cur)
{
	if (!json_object_get(o, "description"))
		tg_strlcpy(sp->description, cur->description, sizeof sp->description);
	if (!json_object_get(o, "transport"))
		tg_strlcpy(sp->transport, cur->transport, sizeof sp->transport);
	if (!json_object_get(o, "enableoauthauthentication"))
		sp->enableoauthauthentication = cur->enableoauthauthentication;
	if (!json_object_get(o, "enabledigestauthentication"))
		sp->enabledigestauthentication = cur->enabledigestauthentication;
}

static int user_exists(store_t *st, const char *userid)
{
	struct store_user u;
	return store_user_get(st, userid, &u) == STORE_OK;
}

static int device_exists(store_t *st, const char *name)
{
	struct store_device dev;
	return store_device_get(st, name, &dev) == STORE_OK;
}

static int write_all(struct ctx *c, store_t *st, struct doc *d, const struct prov_options *o,
                     struct prov_result *r)
{
	char p[96];
	int rc;
	for (size_t i = 0; i < json_array_size(d->params); i++) {
		sub(p, sizeof p, "$.parameters", NULL, (long)i);
		if ((rc = store_param_set(st, d->pv[i].name, d->pv[i].value, d->pv[i].service)))
			return store_fail(c, p, rc);
		r->parameters++;
		if (tick(c, o, p))
			return -1;
	}
	for (size_t i = 0; i < json_array_size(d->policies); i++) {
		sub(p, sizeof p, "$.credentialpolicies", NULL, (long)i);
		/* An existing policy changes only in the members given: importing
		 * {"name": "Default Digest Credential Policy", "throttlemaxseconds": 600}
		 * must not reset its threshold and throttle to a new policy's defaults. */
		struct store_credpolicy pol = d->polv[i], cur;
		if (store_credpolicy_get(st, pol.name, &cur) == STORE_OK)
			policy_keep_omitted(json_array_get(d->policies, i), &pol, &cur);
		if ((rc = store_credpolicy_put(st, &pol)))
			return store_fail(c, p, rc);
		r->policies++;
		if (tick(c, o, p))
			return -1;
	}
	for (size_t i = 0; i < json_array_size(d->groups); i++) {
		json_t *g = json_array_get(d->groups, i);
		const char *desc = json_string_value(json_object_get(g, "description"));
		sub(p, sizeof p, "$.groups", NULL, (long)i);
		if ((rc = store_group_put(st, json_string_value(json_object_get(g, "name")), desc)))
			return store_fail(c, p, rc);
		r->groups++;
		if (tick(c, o, p))
			return -1;
	}
	for (size_t i = 0; i < json_array_size(d->profiles); i++) {
		sub(p, sizeof p, "$.securityprofiles", NULL, (long)i);
		/* As for policies: an existing profile changes only in the members given. */
		json_t *el = json_array_get(d->profiles, i);
		struct store_securityprofile sp = d->spv[i], cur;
		if (store_securityprofile_get(st, sp.name, &cur) == STORE_OK)
			profile_keep_omitted(el, &sp, &cur);
		char why[256];
		if (store_securityprofile_check(&sp, why, sizeof why) != 0)
			return fail(c, p, "%s (with the stored profile's other settings)", why);
		if ((rc = store_securityprofile_put(st, &sp)))
			return store_fail(c, p, rc);
		r->securityprofiles++;
		if (tick(c, o, p))
			return -1;
	}
	for (size_t i = 0; i < json_array_size(d->users); i++) {
		struct p_user *x = &d->uv[i];
		sub(p, sizeof p, "$.users", NULL, (long)i);
		struct store_credpolicy pol;
		if (store_credpolicy_get(st, x->u.credentialpolicy, &pol) != STORE_OK)
			return fail(c, p, "credential policy '%s' does not exist",
			            x->u.credentialpolicy);
		if (x->password && x->password_len < (size_t)pol.minlength)
			return fail(c, p,
			            "password is shorter than the %d characters that policy '%s' "
			            "requires",
			            pol.minlength, pol.name);
		const char *gv[64];
		size_t ng = json_array_size(x->groups);
		if (ng > 64)
			return fail(c, p, "more than 64 groups");
		for (size_t g = 0; g < ng; g++) {
			gv[g] = json_string_value(json_array_get(x->groups, g));
			if (store_group_exists(st, gv[g]) != 1) {
				char gp[128];
				snprintf(gp, sizeof gp, "%s.groups[%zu]", p, g);
				return fail(c, gp, "group '%s' does not exist", gv[g]);
			}
		}
		if (x->digestpolicy[0] &&
		    store_credpolicy_get(st, x->digestpolicy, &pol) != STORE_OK)
			return fail(c, p, "digest credential policy '%s' does not exist",
			            x->digestpolicy);
		/* Keep the dynamic state (counters, last login) of an existing user's
		 * credentials; set what the document says. */
		struct store_credstate cs, ds;
		if (store_credstate_get(st, x->u.userid, STORE_CRED_PASSWORD, &cs) != STORE_OK)
			memset(&cs, 0, sizeof cs);
		if (store_credstate_get(st, x->u.userid, STORE_CRED_DIGEST, &ds) != STORE_OK)
			memset(&ds, 0, sizeof ds);
		cs.mustchange = x->cs.mustchange;
		cs.doesnotexpire = x->cs.doesnotexpire;
		cs.inactive = ds.inactive = x->cs.inactive;
		if (x->password || x->u.passwordhash[0])
			cs.timechanged = tg_now_s();
		/* No password given for an existing local user: the stored one stays (like the
		 * digest password), so importing a few members of a user does not lock them out
		 * of CTI. */
		struct store_user old;
		if (!x->password && !x->u.passwordhash[0] && x->u.directory == STORE_DIR_LOCAL &&
		    store_user_get(st, x->u.userid, &old) == STORE_OK &&
		    old.directory == STORE_DIR_LOCAL)
			tg_strlcpy(x->u.passwordhash, old.passwordhash, sizeof x->u.passwordhash);
		if (x->digestpw)
			ds.timechanged = tg_now_s();
		tg_strlcpy(ds.credentialpolicy, x->digestpolicy, sizeof ds.credentialpolicy);
		if ((rc = store_user_put(st, &x->u)) ||
		    (rc = store_credstate_put(st, x->u.userid, STORE_CRED_PASSWORD, &cs)) ||
		    (rc = store_credstate_put(st, x->u.userid, STORE_CRED_DIGEST, &ds)) ||
		    (rc = store_user_set_groups(st, x->u.userid, gv, ng)) ||
		    (x->has_ctiauthtype &&
		     (rc = store_user_set_ctiauthtype(st, x->u.userid, x->ctiauthtype))) ||
		    (x->digestpw && (rc = store_sipcred_put(st, x->u.userid, &x->sip))))
			return store_fail(c, p, rc);
		r->users++;
		if (tick(c, o, p))
			return -1;
	}
	for (size_t i = 0; i < json_array_size(d->devices); i++) {
		struct store_device *x = &d->dv[i];
		sub(p, sizeof p, "$.devices", NULL, (long)i);
		if (x->owneruserid[0] && !user_exists(st, x->owneruserid))
			return fail(c, p, "owner '%s' is not a user", x->owneruserid);
		if (x->digestuser[0] && !user_exists(st, x->digestuser))
			return fail(c, p, "digestuser '%s' is not a user", x->digestuser);
		struct store_securityprofile sp;
		if (x->securityprofile[0] &&
		    store_securityprofile_get(st, x->securityprofile, &sp) != STORE_OK) {
			char sq[128];
			snprintf(sq, sizeof sq, "%s.securityprofile", p);
			return fail(c, sq,
			            "security profile '%s' does not exist (define it in "
			            "$.securityprofiles)",
			            x->securityprofile);
		}
		const char *lines[64];
		size_t nl = json_array_size(d->dlines[i]);
		for (size_t l = 0; l < nl; l++)
			lines[l] = json_string_value(json_array_get(d->dlines[i], l));
		if ((rc = store_device_put(st, x)))
			return store_fail(c, p, rc);
		if ((rc = store_device_lines_set(st, x->name, lines, nl))) {
			if (rc == STORE_CONSTRAINT) {
				char lp[128];
				snprintf(lp, sizeof lp, "%s.lines", p);
				return fail(c, lp, "a line is given twice");
			}
			return store_fail(c, p, rc);
		}
		r->devices++;
		if (tick(c, o, p))
			return -1;
	}
	for (size_t i = 0; i < json_array_size(d->assocs); i++) {
		json_t *a = json_array_get(d->assocs, i);
		const char *u = json_string_value(json_object_get(a, "user"));
		const char *dev = json_string_value(json_object_get(a, "device"));
		sub(p, sizeof p, "$.associations", NULL, (long)i);
		if (!user_exists(st, u))
			return fail(c, p, "user '%s' does not exist", u);
		if (!device_exists(st, dev))
			return fail(c, p, "device '%s' does not exist", dev);
		if ((rc = store_assoc_put(st, u, dev)))
			return store_fail(c, p, rc);
		r->associations++;
		if (tick(c, o, p))
			return -1;
	}
	return 0;
}

static void wipe_passwords(struct doc *d)
{
	for (size_t i = 0; d->uv && i < json_array_size(d->users); i++) {
		if (d->uv[i].password)
			sodium_memzero((void *)(uintptr_t)d->uv[i].password, d->uv[i].password_len);
		if (d->uv[i].digestpw)
			sodium_memzero((void *)(uintptr_t)d->uv[i].digestpw, d->uv[i].digestpw_len);
		sodium_memzero(&d->uv[i].sip, sizeof d->uv[i].sip);
	}
}

static void doc_free(struct doc *d)
{
	wipe_passwords(d);
	json_decref(d->root);
	free(d->pv);
	free(d->polv);
	free(d->spv);
	free(d->uv);
	free(d->dv);
	free(d->dlines);
}

int prov_import(store_t *st, const char *text, size_t len, const struct prov_options *o,
                struct prov_result *res, char *err, size_t errlen)
{
	struct ctx c = {err, errlen, 0};
	struct doc d;
	memset(&d, 0, sizeof d);
	memset(res, 0, sizeof *res);
	err[0] = '\0';
	if (len > PROV_IMPORT_MAX) {
		fail(&c, "$", "document larger than %u bytes", PROV_IMPORT_MAX);
		return -1;
	}
	if (parse(&c, text, len, &d) != 0)
		goto out;
	/* Hash before taking the write lock: argon2id takes tens of ms per user. */
	const char *realm = o->sip_realm ? o->sip_realm : "telgate";
	for (size_t i = 0; i < json_array_size(d.users); i++) {
		struct p_user *x = &d.uv[i];
		if (x->digestpw) {
			char md5[SIP_DIGEST_HEX_MAX], sha[SIP_DIGEST_HEX_MAX];
			tg_strlcpy(x->sip.realm, realm, sizeof x->sip.realm);
			if (sip_digest_ha1(SIP_DIGEST_MD5, x->u.userid, realm, x->digestpw,
			                   x->digestpw_len, md5) != 0 ||
			    sip_digest_ha1(SIP_DIGEST_SHA256, x->u.userid, realm, x->digestpw,
			                   x->digestpw_len, sha) != 0) {
				fail(&c, "$.users", "digest hashing failed");
				goto out;
			}
			tg_strlcpy(x->sip.ha1_md5, md5, sizeof x->sip.ha1_md5);
			tg_strlcpy(x->sip.ha1_sha256, sha, sizeof x->sip.ha1_sha256);
			sodium_memzero(md5, sizeof md5);
			sodium_memzero(sha, sizeof sha);
		}
		if (!x->password)
			continue;
		char h[DIR_PASSWD_HASH_MAX];
		if (dir_passwd_hash(&o->pw, x->password, x->password_len, h) != 0) {
			char p[64];
			sub(p, sizeof p, "$.users", NULL, (long)i);
			fail(&c, p, "password hashing failed (out of memory?)");
			goto out;
		}
		tg_strlcpy(x->u.passwordhash, h, sizeof x->u.passwordhash);
	}
	int rc = store_begin(st);
	if (rc != STORE_OK) {
		store_fail(&c, "$", rc);
		goto out;
	}
	if (write_all(&c, st, &d, o, res) != 0) {
		store_rollback(st);
		memset(res, 0, sizeof *res);
		goto out;
	}
	rc = store_commit(st);
	if (rc != STORE_OK) {
		store_fail(&c, "$", rc);
		memset(res, 0, sizeof *res);
	}
out:
	doc_free(&d);
	return c.failed ? -1 : 0;
}
