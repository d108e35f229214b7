/* SPDX-License-Identifier: ISC */
/* cnf_load: a device's cnf.xml input from the store (cnf.h); docs/device-files.md says
 * which column each value comes from. */
#include "provision/cnf.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define COPY(dst, src) snprintf((dst), sizeof(dst), "%s", (src))

struct lines_ud {
	struct cnf_device_input *in;
	const char *shown; /* the owner's name, "" for none */
	int over;
};

static int add_line(void *ud, const char *line)
{
	struct lines_ud *u = ud;
	if (u->in->nlines == CNF_LINES_MAX) {
		u->over = 1;
		return 1;
	}
	struct cnf_line *l = &u->in->lines[u->in->nlines++];
	COPY(l->name, line);
	COPY(l->display_name, u->shown);
	return 0;
}

/* "First Last" of the device's owner, or "" (no owner, or the owner has no name). */
static void owner_name(store_t *st, const char *userid, char *out, size_t cap)
{
	out[0] = '\0';
	if (!userid[0])
		return;
	struct store_user *u = malloc(sizeof *u);
	if (!u)
		return;
	if (store_user_get(st, userid, u) == STORE_OK) {
		const char *sp = u->firstname[0] && u->lastname[0] ? " " : "";
		snprintf(out, cap, "%s%s%s", u->firstname, sp, u->lastname);
	}
	free(u);
}

/* The device's security profile (name "" = none: no OAuth, transport left empty). A
 * profile the device names but the store lacks reads as none: import refuses that, so it
 * is a profile deleted since. */
static int load_profile(store_t *st, const char *name, struct cnf_device_input *in)
{
	COPY(in->security_profile, name);
	if (!name[0])
		return STORE_OK;
	struct store_securityprofile p;
	int rc = store_securityprofile_get(st, name, &p);
	if (rc == STORE_NOTFOUND)
		return STORE_OK;
	if (rc != STORE_OK)
		return rc;
	COPY(in->transport, p.transport);
	in->profile_oauth = p.enableoauthauthentication ? 1 : 0;
	return STORE_OK;
}

struct nodes_ud {
	struct cnf_node *nodes;
	size_t n;
};

static uint16_t port16(int v)
{
	return v > 0 && v <= 65535 ? (uint16_t)v : 0;
}

static int add_node(void *ud, const struct store_processnode *pn)
{
	struct nodes_ud *u = ud;
	if (u->n == CNF_NODES_MAX)
		return 1;
	struct cnf_node *n = &u->nodes[u->n++];
	memset(n, 0, sizeof *n);
	COPY(n->name, pn->name);
	COPY(n->description, pn->description);
	COPY(n->address, pn->address[0] ? pn->address : pn->name);
	n->sip_port = port16(pn->sipport);
	n->secured_sip_port = port16(pn->securedsipport);
	n->sip_oauth_port = port16(pn->sipoauthport);
	n->sip_mra_oauth_port = port16(pn->sipmraoauthport);
	n->cti_port = port16(pn->ctiport);
	n->cti_tls_port = port16(pn->ctitlsport);
	return 0;
}

int cnf_load_nodes(store_t *st, struct cnf_node *nodes, size_t *n)
{
	struct nodes_ud u = {nodes, 0};
	int rc = store_processnodes(st, add_node, &u);
	*n = u.n;
	/* A row that did not fit its field was skipped: list the others. */
	return rc == STORE_TOOBIG ? STORE_OK : rc;
}

/* ClusterSIPOAuthMode: 1 only when the parameter is exactly "1" (unset = 0, default). */
static int cluster_mode(store_t *st, int *mode)
{
	char v[STORE_PARAM_VALUE_MAX + 1];
	int rc = store_param_get(st, "ClusterSIPOAuthMode", v, sizeof v);
	if (rc == STORE_NOTFOUND) {
		*mode = 0;
		return STORE_OK;
	}
	if (rc != STORE_OK)
		return rc;
	*mode = strcmp(v, "1") == 0 ? 1 : 0;
	return STORE_OK;
}

int cnf_device_oauth(store_t *st, const char *device, struct store_device *dev, int *mode)
{
	*mode = 0;
	int rc = store_device_get(st, device, dev);
	if (rc != STORE_OK)
		return rc;
	struct cnf_device_input *in = calloc(1, sizeof *in);
	if (!in)
		return STORE_ERROR;
	if ((rc = load_profile(st, dev->securityprofile, in)) == STORE_OK &&
	    (rc = cluster_mode(st, &in->cluster_sip_oauth_mode)) == STORE_OK)
		*mode = cnf_sip_oauth_mode(in->cluster_sip_oauth_mode, in->profile_oauth);
	free(in);
	return rc;
}

int cnf_load(store_t *st, const char *device, const struct cnf_load_options *o,
             struct cnf_device_input *in)
{
	memset(in, 0, sizeof *in);
	struct store_device d;
	int rc = store_device_get(st, device, &d);
	if (rc != STORE_OK)
		return rc;
	COPY(in->name, d.name);
	COPY(in->model, d.model);
	COPY(in->protocol, d.protocol);
	COPY(in->description, d.description);
	if ((rc = load_profile(st, d.securityprofile, in)) != STORE_OK)
		return rc;
	if ((rc = cluster_mode(st, &in->cluster_sip_oauth_mode)) != STORE_OK)
		return rc;
	char shown[2 * STORE_NAME_MAX + 2];
	owner_name(st, d.owneruserid, shown, sizeof shown);
	struct lines_ud u = {in, shown, 0};
	if ((rc = store_device_lines(st, d.name, add_line, &u)) != STORE_OK)
		return rc;
	if ((rc = cnf_load_nodes(st, in->nodes, &in->nnodes)) != STORE_OK)
		return rc;
	if (o && o->itl_file)
		COPY(in->itl_file, o->itl_file);
	if (o && o->ctl_file)
		COPY(in->ctl_file, o->ctl_file);
	return STORE_OK;
}

int cnf_file(store_t *st, const char *name, const struct cnf_load_options *o, unsigned char **out,
             size_t *len)
{
	int rc;
	if (strcmp(name, "XMLDefault.cnf.xml") == 0) {
		struct cnf_node *nodes = calloc(CNF_NODES_MAX, sizeof *nodes);
		size_t n = 0;
		if (!nodes)
			return -ENOMEM;
		rc = cnf_load_nodes(st, nodes, &n);
		rc = rc == STORE_OK ? cnf_default(nodes, n, o ? o->itl_file : NULL,
		                                  o ? o->ctl_file : NULL, out, len)
		                    : -EIO;
		free(nodes);
		return rc;
	}
	char dev[STORE_ID_MAX + 1];
	if (cnf_device_from_file(name, dev, sizeof dev) != 0)
		return -ENOENT;
	struct cnf_device_input *in = malloc(sizeof *in);
	if (!in)
		return -ENOMEM;
	rc = cnf_load(st, dev, o, in);
	if (rc == STORE_OK)
		rc = cnf_generate(in, out, len);
	else
		rc = rc == STORE_NOTFOUND ? -ENOENT : -EIO;
	free(in);
	return rc;
}
