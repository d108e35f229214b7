/* SPDX-License-Identifier: ISC */
#include "sip/linepick.h"

#include <stdlib.h>
#include <string.h>

static int add_user(void *ud, const char *userid)
{
	struct sip_devusers *a = ud;
	if (a->n == a->cap) {
		size_t nc = a->cap ? a->cap * 2 : 8;
		char **np = realloc(a->p, nc * sizeof *np);
		if (!np) {
			a->bad = 1;
			return 1;
		}
		a->p = np;
		a->cap = nc;
	}
	if (!(a->p[a->n] = strdup(userid))) {
		a->bad = 1;
		return 1;
	}
	a->n++;
	return 0;
}

int sip_devusers_load(store_t *st, const char *device, struct sip_devusers *u)
{
	memset(u, 0, sizeof *u);
	int rc = store_device_users(st, device, add_user, u);
	return rc == STORE_OK && u->bad ? STORE_ERROR : rc;
}

void sip_devusers_free(struct sip_devusers *u)
{
	for (size_t i = 0; i < u->n; i++)
		free(u->p[i]);
	free(u->p);
	memset(u, 0, sizeof *u);
}

/* The devices of a line, grown as the rows come (a shared line has a handful). */
struct devs {
	struct store_device *d;
	size_t n, cap;
	int bad;
};

static int add_dev(void *ud, const struct store_device *d)
{
	struct devs *v = ud;
	if (v->n == v->cap) {
		size_t nc = v->cap ? v->cap * 2 : 2;
		struct store_device *nd = realloc(v->d, nc * sizeof *nd);
		if (!nd) {
			v->bad = 1;
			return 1;
		}
		v->d = nd;
		v->cap = nc;
	}
	v->d[v->n++] = *d;
	return 0;
}

int sip_linepick(store_t *st, const struct sip_linepick_req *r, struct store_device *out,
                 enum sip_devpick_outcome *o, size_t *ndevs)
{
	memset(out, 0, sizeof *out);
	*ndevs = 0;
	struct devs v = {0};
	int rc = store_line_devices(st, r->line, add_dev, &v);
	if (rc == STORE_OK && v.bad)
		rc = STORE_ERROR;
	struct sip_devpick_dev *pd = rc == STORE_OK ? calloc(v.n ? v.n : 1, sizeof *pd) : NULL;
	if (rc == STORE_OK && !pd)
		rc = STORE_ERROR;
	struct sip_devusers users = {0};
	if (rc == STORE_OK) {
		for (size_t i = 0; i < v.n; i++)
			pd[i] = (struct sip_devpick_dev){v.d[i].name, v.d[i].owneruserid,
			                                 v.d[i].digestuser, NULL, 0};
		/* Only the named device's users are read: devpick consults no other's. */
		int k = sip_devpick_find(pd, v.n, r->devicename);
		if (k >= 0 && (rc = sip_devusers_load(st, pd[k].name, &users)) == STORE_OK) {
			pd[k].users = (const char *const *)users.p;
			pd[k].nusers = users.n;
		}
	}
	if (rc == STORE_OK) {
		struct sip_devpick_in in = {r->devicename, r->devicename_conflict, r->user, pd,
		                            v.n};
		int k;
		*o = sip_devpick(&in, &k);
		*ndevs = v.n;
		if (k >= 0)
			*out = v.d[k];
	}
	sip_devusers_free(&users);
	free(pd);
	free(v.d);
	return rc;
}
