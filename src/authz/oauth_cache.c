/* SPDX-License-Identifier: ISC */
/* What the loop's introspection (oauth_fast.c) needs without a store round trip
 * (oauth_int.h): client rows and "this user may hold tokens" verdicts, each valid while the
 * store generations it was read at have not moved. */
#include "authz/oauth_int.h"

#include "core/shtable.h"
#include "core/util.h"

#include <stdlib.h>
#include <string.h>

/* Bounded: a table of clients or users that reaches this stops growing (the others are then
 * always read from the store, which is correct, only slower). */
#define CACHE_MAX 65536
/* Refresh-token rows are ~700 bytes: at most ~11 MB of them. */
#define REFRESH_CACHE_MAX 16384

struct client_entry {
	struct shtable_node node;
	uint64_t gen;
	struct store_oauthclient c;
};

struct user_entry {
	struct shtable_node node;
	uint64_t gen, user_gen;
	int64_t until;
	unsigned aud;     /* the audiences it was checked for */
	int64_t authtime; /* ... and the login time (a later one passes too) */
	char userid[STORE_ID_MAX + 1];
};

static void free_node(struct shtable_node *n)
{
	/* Both entry types start with their node. */
	free(n);
}

int oauth_cache_init(struct oauth *o)
{
	const struct shtable_opts opt = {.shards = 16, .free_entry = free_node};
	o->clients = shtable_new(&opt);
	o->users = shtable_new(&opt);
	o->refresh = shtable_new(&opt);
	return o->clients && o->users && o->refresh ? 0 : -1;
}

void oauth_cache_destroy(struct oauth *o)
{
	shtable_free(o->clients);
	shtable_free(o->users);
	shtable_free(o->refresh);
}

int oauth_cache_client_get(struct oauth *o, const char *clientid, struct store_oauthclient *out)
{
	struct shtable_at at;
	shtable_lock_str(o->clients, clientid, &at);
	struct shtable_node *n = shtable_find(&at);
	struct client_entry *e = n ? SHTABLE_ENTRY(n, struct client_entry, node) : NULL;
	int ok = e && e->gen == store_generation(o->o.store);
	if (ok)
		*out = e->c;
	shtable_unlock(&at);
	return ok;
}

void oauth_cache_client_put(struct oauth *o, uint64_t gen, const struct store_oauthclient *c)
{
	struct shtable_at at;
	shtable_lock_str(o->clients, c->clientid, &at);
	struct shtable_node *n = shtable_find(&at);
	struct client_entry *e = n ? SHTABLE_ENTRY(n, struct client_entry, node) : NULL;
	if (!e && shtable_count(o->clients) < CACHE_MAX && (e = malloc(sizeof *e))) {
		e->c = *c;
		shtable_insert(&at, &e->node, e->c.clientid, strlen(e->c.clientid));
	}
	if (e) {
		e->c = *c; /* the key is clientid, which stays the same */
		e->gen = gen;
	}
	shtable_unlock(&at);
}

int oauth_cache_user_ok(struct oauth *o, const char *userid, unsigned aud, int64_t authtime,
                        int64_t now)
{
	struct shtable_at at;
	shtable_lock_str(o->users, userid, &at);
	struct shtable_node *n = shtable_find(&at);
	struct user_entry *e = n ? SHTABLE_ENTRY(n, struct user_entry, node) : NULL;
	int ok = e && (aud & ~e->aud) == 0 && authtime >= e->authtime && now < e->until &&
	         e->gen == store_generation(o->o.store) &&
	         e->user_gen == store_user_generation(o->o.store, userid);
	shtable_unlock(&at);
	return ok;
}

void oauth_cache_user_put(struct oauth *o, const char *userid, unsigned aud, int64_t authtime,
                          uint64_t gen, uint64_t user_gen, int64_t now)
{
	if (strlen(userid) > STORE_ID_MAX)
		return;
	struct shtable_at at;
	shtable_lock_str(o->users, userid, &at);
	struct shtable_node *n = shtable_find(&at);
	struct user_entry *e = n ? SHTABLE_ENTRY(n, struct user_entry, node) : NULL;
	if (!e && shtable_count(o->users) < CACHE_MAX && (e = calloc(1, sizeof *e))) {
		tg_strlcpy(e->userid, userid, sizeof e->userid);
		shtable_insert(&at, &e->node, e->userid, strlen(e->userid));
	}
	if (e) {
		e->gen = gen;
		e->user_gen = user_gen;
		e->aud = aud;
		e->authtime = authtime;
		e->until = now + OAUTH_USER_CACHE_S;
	}
	shtable_unlock(&at);
}

const char *oauth_user_refused_since(struct oauth *o, const char *userid, unsigned aud,
                                     int64_t authtime, int64_t now, uint64_t gen, uint64_t user_gen,
                                     int *unavailable)
{
	*unavailable = 0;
	/* A password change is a credential-state write: it moves the user's generation. */
	if (oauth_cache_user_ok(o, userid, aud, authtime, now))
		return NULL;
	const char *why = oauth_user_refused(o, userid, aud, authtime, now, unavailable);
	if (!why)
		oauth_cache_user_put(o, userid, aud, authtime, gen, user_gen, now);
	return why;
}

const char *oauth_user_refused_cached(struct oauth *o, const char *userid, unsigned aud,
                                      int64_t authtime, int64_t now, int *unavailable)
{
	/* The generations before the read: a write during it makes the entry stale at once. */
	return oauth_user_refused_since(o, userid, aud, authtime, now, store_generation(o->o.store),
	                                store_user_generation(o->o.store, userid), unavailable);
}

/* --- refresh-token rows ------------------------------------------------------------------- */

struct refresh_entry {
	struct shtable_node node;
	struct store_oauthrefresh r;
};

/* Clears a shard (when the table is full: a cold row is read from the store again). */
static int drop_all(void *ud, struct shtable_node *n)
{
	(void)ud;
	(void)n;
	return SHTABLE_REMOVE;
}

int oauth_cache_refresh_get(struct oauth *o, const char *tokenhash, int64_t now,
                            struct store_oauthrefresh *out)
{
	struct shtable_at at;
	shtable_lock_str(o->refresh, tokenhash, &at);
	struct shtable_node *n = shtable_find(&at);
	struct refresh_entry *e = n ? SHTABLE_ENTRY(n, struct refresh_entry, node) : NULL;
	int ok = e && e->r.expires > now;
	if (ok)
		*out = e->r;
	shtable_unlock(&at);
	return ok;
}

/* Unlinks tokenhash's entry; it is the caller's (NULL: none). */
static struct refresh_entry *refresh_unlink(struct oauth *o, const char *tokenhash)
{
	struct shtable_at at;
	shtable_lock_str(o->refresh, tokenhash, &at);
	struct shtable_node *n = shtable_find(&at);
	if (n)
		shtable_remove(&at, n);
	shtable_unlock(&at);
	return n ? SHTABLE_ENTRY(n, struct refresh_entry, node) : NULL;
}

/* Keeps r in e (NULL: a new entry). */
static void refresh_link(struct oauth *o, struct refresh_entry *e,
                         const struct store_oauthrefresh *r)
{
	if (shtable_count(o->refresh) >= REFRESH_CACHE_MAX)
		shtable_sweep_shard(
		    o->refresh, atomic_fetch_add(&o->refresh_evict, 1) % shtable_shards(o->refresh),
		    drop_all, NULL);
	if (!e && !(e = malloc(sizeof *e)))
		return;
	e->r = *r;
	struct shtable_at at;
	shtable_lock_str(o->refresh, e->r.tokenhash, &at);
	struct shtable_node *n = shtable_find(&at);
	if (n)
		SHTABLE_ENTRY(n, struct refresh_entry, node)->r = *r;
	else
		shtable_insert(&at, &e->node, e->r.tokenhash, strlen(e->r.tokenhash));
	shtable_unlock(&at);
	if (n)
		free(e);
}

void oauth_cache_refresh_put(struct oauth *o, const struct store_oauthrefresh *r)
{
	refresh_link(o, NULL, r);
}

void oauth_cache_refresh_replace(struct oauth *o, const char *tokenhash,
                                 const struct store_oauthrefresh *r)
{
	refresh_link(o, refresh_unlink(o, tokenhash), r);
}

void oauth_cache_refresh_drop(struct oauth *o, const char *tokenhash)
{
	free(refresh_unlink(o, tokenhash));
}
