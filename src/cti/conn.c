/* SPDX-License-Identifier: ISC */
#include "cti/conn.h"
#include "core/loop.h"
#include "core/util.h"
#include "cti/monitor.h"
#include "cti/server_int.h"
#include "cti/session.h"

#include <event2/event.h>
#include <stdlib.h>
#include <string.h>

void cti_conn_send(struct cti_conn *c, int invoke, const char *body, int len)
{
	uint8_t hdr[CTI_HDR_LEN];
	if (c->closed || len < 0 || cti_frame_header(invoke, (size_t)len, hdr) != 0)
		return;
	(void)stream_write2(c->strm, hdr, sizeof hdr, body, (size_t)len);
}

void cti_conn_refuse(struct cti_conn *c, int invoke, enum cti_outcome o, const char *detail)
{
	const struct cti_answer *a = cti_outcome_answer(o);
	char xml[512];
	if (!a)
		return;
	if (a->kind == CTI_ANSWER_CSTA_ERROR)
		log_ev(LOG_LVL_NOTICE, c->cid, "cti_error_response", LOG_S("error", a->value),
		       LOG_S("reason", detail      ? detail
		                       : a->reason ? a->reason
		                                   : ""));
	cti_conn_send(c, invoke, xml, cti_outcome_xml(o, xml, sizeof xml));
}

const char *cti_conn_transport(const struct cti_conn *c)
{
	return c->tls ? "tls" : "tcp";
}

void cti_conn_arm_timer(struct cti_conn *c, int seconds)
{
	struct timeval tv = {seconds, 0};
	if (c->timer)
		event_add(c->timer, &tv);
}

/* Called when a job ends and when the output drains (on_drain: a drain reported late,
 * with answers queued since, is ignored). */
int cti_conn_close_if_answered(struct cti_conn *c)
{
	if (c->closed || c->st != CTI_C_CLOSING || c->jobs || stream_pending(c->strm))
		return 0;
	stream_close(c->strm, c->closing_why);
	return 1;
}

/* Frames after this point are read and discarded (cti_frame). A peer that does not read
 * gets cti.login_timeout_s in all, then the close. Not stream_close_after_flush: it does
 * not wait for the jobs, and over TLS a write-drained callback that libevent delivers
 * late can end its flush with answers still queued. */
void cti_conn_close_after_answers(struct cti_conn *c, const char *why)
{
	if (c->closed || c->st == CTI_C_CLOSING)
		return;
	c->st = CTI_C_CLOSING;
	c->closing_why = why;
	if (!cti_conn_close_if_answered(c))
		cti_conn_arm_timer(c, c->cl->s->cfg.cti.login_timeout_s);
}

static void on_timer(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	struct cti_conn *c = arg;
	/* stream_close may free c (no reference held): nothing touches c after it. */
	if (c->st == CTI_C_CLOSING)
		stream_close(c->strm, "peer did not read the last answers in time");
	else if (c->st == CTI_C_SESSION)
		cti_session_expired(c);
	else if (c->st == CTI_C_AUTH)
		cti_conn_arm_timer(c, 1); /* decide when the directory has answered */
	else
		stream_close(c->strm, "no login within the login timeout");
}

/* One decoded request: session requests to session.c, device requests to monitor.c. */
static void dispatch(struct cti_conn *c, int invoke, const char *body, size_t len)
{
	struct cti_msg *m = malloc(sizeof *m);
	char err[256];
	if (!m) {
		stream_close(c->strm, "out of memory");
		return;
	}
	if (cti_msg_parse(body, len, m, err, sizeof err) != 0) {
		cti_conn_refuse(c, invoke, CTI_REQ_MALFORMED, err);
		goto out;
	}
	log_ev(LOG_LVL_DEBUG, c->cid, "cti_request", LOG_S("message", m->name));
	if (m->type == CTI_MSG_START_SESSION) {
		cti_session_login(c, invoke, m);
		goto out;
	}
	if (c->st != CTI_C_SESSION) {
		cti_conn_refuse(c, invoke, CTI_REQ_NO_SESSION, NULL);
		goto out;
	}
	switch (m->type) {
	case CTI_MSG_RESET_TIMER:
		cti_session_reset_timer(c, invoke, m);
		break;
	case CTI_MSG_STOP_SESSION:
		cti_session_stop(c, invoke, m);
		break;
	case CTI_MSG_MONITOR_START:
	case CTI_MSG_SNAPSHOT_DEVICE:
	case CTI_MSG_GET_SF_DEVICES:
		cti_monitor_device_request(c, invoke, m);
		break;
	case CTI_MSG_MONITOR_STOP:
		cti_monitor_stop(c, invoke, m);
		break;
	default:
		cti_conn_refuse(c, invoke, CTI_REQ_UNSUPPORTED, m->name);
	}
out:
	cti_msg_wipe(m);
	free(m);
}

/* --- the stream callbacks ----------------------------------------------------------- */

/* Cuts the next frame: its length is in the header (header included, at most
 * CTI_FRAME_MAX, the listeners' max_frame). A framing error cannot be resynchronised: the
 * answers queued or still computed go out, then the close (close_after_answers, not
 * STREAM_FRAME_BROKEN: see there). */
static long cti_frame(struct stream *strm, const unsigned char *buf, size_t len)
{
	struct cti_conn *c = stream_user(strm);
	if (c->st == CTI_C_CLOSING)
		return (long)len; /* read and discarded (cti_on_frame) */
	size_t flen;
	int invoke;
	char err[128];
	int r = cti_frame_peek(buf, len, &flen, &invoke, err, sizeof err);
	if (r > 0) {
		/* The layer hands this frame to cti_on_frame next (stream.h): no second
		 * decoding of the header there. */
		c->frame_invoke = invoke;
		return (long)flen;
	}
	if (r == 0) {
		if (flen)
			stream_need(strm, flen); /* no new look before the whole frame is in */
		return STREAM_FRAME_MORE;
	}
	log_ev(LOG_LVL_WARNING, c->cid, "cti_framing_error", LOG_S("peer", c->peer),
	       LOG_S("error", err));
	cti_conn_close_after_answers(c, "framing error");
	return (long)len;
}

static void cti_on_frame(struct stream *strm, const unsigned char *frame, size_t len)
{
	struct cti_conn *c = stream_user(strm);
	/* CTI_C_CLOSING: the bytes cti_frame took whole, to discard them. */
	if (c->st == CTI_C_CLOSING || len < CTI_HDR_LEN)
		return;
	dispatch(c, c->frame_invoke, (const char *)frame + CTI_HDR_LEN, len - CTI_HDR_LEN);
}

/* A new connection (the cap is checked; the TLS handshake may still be running). CTI has
 * no first-message or idle timeout in the layer: its own timer covers the login and the
 * session's heartbeat. */
static int cti_on_open(struct stream *strm)
{
	struct cti_conn *c = stream_user(strm);
	c->strm = strm;
	c->cl = stream_ctx(strm);
	c->tls = stream_kind(strm) == STREAM_TLS;
	c->timer = evtimer_new(loop_base(c->cl->loop), on_timer, c);
	if (!c->timer)
		return -1;
	log_cid_new(c->cid);
	tg_strlcpy(c->peer, stream_peer(strm), sizeof c->peer);
	cti_conn_arm_timer(c, c->cl->s->cfg.cti.login_timeout_s);
	log_ev(LOG_LVL_INFO, c->cid, "cti_connect", LOG_S("peer", c->peer),
	       LOG_S("transport", cti_conn_transport(c)));
	return 0;
}

/* The connection is over: the session ends and its monitors go. The memory stays while a
 * login or a device job holds the stream; they see `closed` and only drop their
 * reference, so nothing arms the timer again: it is freed here. */
static void cti_on_close(struct stream *strm, const char *why)
{
	struct cti_conn *c = stream_user(strm);
	c->closed = 1;
	cti_session_end(c, why);
	log_ev(LOG_LVL_INFO, c->cid, "cti_disconnect", LOG_S("peer", c->peer),
	       LOG_S("reason", why));
	event_free(c->timer);
	c->timer = NULL;
}

static void cti_on_drain(struct stream *strm)
{
	cti_conn_close_if_answered(stream_user(strm));
}

const struct stream_ops cti_conn_ops = {
    .frame = cti_frame,
    .on_frame = cti_on_frame,
    .on_open = cti_on_open,
    .on_close = cti_on_close,
    .on_drain = cti_on_drain,
};
