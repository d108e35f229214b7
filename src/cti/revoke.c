/* SPDX-License-Identifier: ISC */
/* Closing the CTI sessions of a revoked certificate (server.h:
 * cti_server_close_certificate). The serial is noted under the server's mu, then every
 * loop walks the session registry for its own connections: a session that started before
 * the note is in the registry when its loop walks it, one that starts after finds the
 * note (session_start checks it under the same mu). */
#include "core/log.h"
#include "core/loop.h"
#include "core/util.h"
#include "cti/conn.h"
#include "cti/server_int.h"

#include <stdlib.h>
#include <string.h>

struct revoke_msg {
	struct cti_loop *cl;
	char serial[STORE_SERIAL_HEX + 1];
};

int cti_revoked_locked(const struct cti_server *s, const char *serial)
{
	unsigned n = s->nrevoked < CTI_REVOKED_RING ? s->nrevoked : CTI_REVOKED_RING;
	for (unsigned i = 0; i < n; i++)
		if (strcmp(s->revoked[i], serial) == 0)
			return 1;
	return 0;
}

/* The first open session of this loop that used serial, with a reference, or NULL. */
static struct cti_conn *next_session(struct cti_loop *cl, const char *serial)
{
	struct cti_server *s = cl->s;
	struct cti_conn *found = NULL;
	pthread_mutex_lock(&s->mu);
	for (struct cti_conn *c = s->sessions; c && !found; c = c->rnext)
		if (c->cl == cl && !c->closed && strcmp(c->cert_serial, serial) == 0)
			found = c;
	if (found)
		stream_ref(found->strm); /* this loop's stream: the reference is taken here */
	pthread_mutex_unlock(&s->mu);
	return found;
}

/* On each loop. A close leaves the registry (cti_session_end) before the next look, so
 * the walk ends; sessions of one certificate are few. */
static void on_revoked(void *arg)
{
	struct revoke_msg *msg = arg;
	struct cti_conn *c;
	while ((c = next_session(msg->cl, msg->serial))) {
		struct stream *strm = c->strm;
		log_ev(LOG_LVL_NOTICE, c->cid, "cti_session_revoked", LOG_S("user", c->user),
		       LOG_S("session", c->session_id), LOG_S("certificate", msg->serial));
		stream_close(strm, "certificate revoked");
		stream_unref(strm);
	}
	free(msg);
}

int cti_server_close_certificate(struct cti_server *s, const char *serial)
{
	if (!serial || strlen(serial) != STORE_SERIAL_HEX)
		return -1;
	pthread_mutex_lock(&s->mu);
	tg_strlcpy(s->revoked[s->nrevoked % CTI_REVOKED_RING], serial, STORE_SERIAL_HEX + 1);
	s->nrevoked++;
	pthread_mutex_unlock(&s->mu);
	int told = 0;
	for (int i = 0; i < s->nloops; i++) {
		struct revoke_msg *msg = malloc(sizeof *msg);
		if (!msg)
			continue;
		msg->cl = &s->loops[i];
		tg_strlcpy(msg->serial, serial, sizeof msg->serial);
		if (loop_post(s->loops[i].loop, on_revoked, msg) != 0)
			free(msg);
		else
			told++;
	}
	log_ev(LOG_LVL_NOTICE, NULL, "cti_certificate_revoked", LOG_S("certificate", serial),
	       LOG_I("loops", told));
	return told;
}
