/* SPDX-License-Identifier: ISC */
#define _GNU_SOURCE /* struct ucred */
#include "core/ctl.h"
#include "core/log.h"
#include "core/loop.h"
#include "core/stream.h"
#include "core/util.h"
#include "core/worker.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#define CTL_IDLE_TIMEOUT_S 600

struct ctl_server {
	struct loop *loop;
	struct workers *workers;
	struct stream_listener *lis;
	struct stream_stats stats;
	ctl_handler handler;
	void *ctx;
	char path[108];
	size_t busy;
};

/* One connection's protocol data (stream_user): one request at a time, in order. */
struct conn {
	struct ctl_server *srv;
	struct stream *s;
	int in_flight; /* a job holds the stream (stream_ref) and reading is paused */
	long uid, pid; /* the peer (SO_PEERCRED) */
	char cid[LOG_CID_SIZE];
	/* The job's data. */
	struct ctl_request req;
	json_t *resp;
	int64_t started_ms;
};

static void send_json(struct conn *c, json_t *obj)
{
	size_t len = 0;
	char *body = ctl_encode(obj, &len);
	if (!body) {
		json_t *e = ctl_error("response too large");
		body = ctl_encode(e, &len);
		json_decref(e);
		if (!body)
			return;
	}
	unsigned char hdr[4];
	ctl_frame_header((uint32_t)len, hdr);
	(void)stream_write2(c->s, hdr, 4, body, len);
	free(body);
}

static void job_run(void *arg)
{
	struct conn *c = arg;
	c->resp = c->srv->handler(c->srv->ctx, &c->req, c->cid);
	if (!c->resp)
		c->resp = ctl_error("internal error");
}

static void job_done(void *arg)
{
	struct conn *c = arg;
	struct ctl_server *s = c->srv;
	c->in_flight = 0;
	s->busy--;
	int ok = json_is_true(json_object_get(c->resp, "ok"));
	log_ev(ok ? LOG_LVL_INFO : LOG_LVL_NOTICE, c->cid, "ctl_done", LOG_S("cmd", c->req.argv[0]),
	       LOG_S("result", ok ? "ok" : "error"),
	       LOG_S("error", ok ? NULL : json_string_value(json_object_get(c->resp, "error"))),
	       LOG_I("ms", tg_mono_ms() - c->started_ms));
	ctl_request_free(&c->req);
	send_json(c, c->resp); /* dropped when the peer went away meanwhile */
	json_decref(c->resp);
	c->resp = NULL;
	stream_resume(c->s);
	stream_unref(c->s); /* may free c: last */
}

/* Frames: a 4-byte big-endian length, then that many bytes of JSON (ctlproto.h). */
static long ctl_frame(struct stream *st, const unsigned char *buf, size_t len)
{
	struct conn *c = stream_user(st);
	const unsigned char *body;
	size_t blen, used;
	int r = ctl_frame_peek(buf, len, &body, &blen, &used);
	if (r == 0) {
		if (used)
			stream_need(st, used); /* the whole frame's length, from the peek */
		return STREAM_FRAME_MORE;
	}
	if (r < 0) {
		log_ev(LOG_LVL_WARNING, c->cid, "ctl_bad_frame",
		       LOG_S("reason", "length 0 or over limit"));
		json_t *e = ctl_error("bad frame: length must be 1..%u bytes", CTL_FRAME_MAX);
		send_json(c, e);
		json_decref(e);
		return STREAM_FRAME_BROKEN; /* the answer drains, then the close */
	}
	return (long)used;
}

static void ctl_on_frame(struct stream *st, const unsigned char *frame, size_t len)
{
	struct conn *c = stream_user(st);
	/* A whole frame, as ctl_frame cut it: the body follows the header. */
	const unsigned char *body = frame + CTL_HDR_LEN;
	size_t blen = len - CTL_HDR_LEN;
	char err[256];
	log_cid_new(c->cid);
	if (ctl_request_parse((const char *)body, blen, &c->req, err, sizeof err) != 0) {
		log_ev(LOG_LVL_NOTICE, c->cid, "ctl_bad_request", LOG_S("reason", err));
		json_t *e = ctl_error("%s", err);
		send_json(c, e);
		json_decref(e);
		return;
	}
	c->req.peer_uid = c->uid;
	c->req.peer_pid = c->pid;
	log_ev(LOG_LVL_INFO, c->cid, "ctl_request", LOG_S("cmd", c->req.argv[0]),
	       LOG_S("sub", c->req.argc > 1 ? c->req.argv[1] : NULL));
	c->started_ms = tg_mono_ms();
	c->in_flight = 1;
	c->srv->busy++;
	stream_pause(st); /* one request at a time: the next waits for this answer */
	stream_ref(st);
	int sr = workers_submit(c->srv->workers, job_run, job_done, c, c->srv->loop);
	if (sr == 0)
		return;
	stream_unref(st); /* still held by the callback that runs us */
	c->in_flight = 0;
	c->srv->busy--;
	ctl_request_free(&c->req);
	json_t *e = ctl_error(sr == -EAGAIN ? "server busy, try again" : "server is shutting down");
	send_json(c, e);
	json_decref(e);
	stream_resume(st);
}

/* Only the daemon's own uid and root are served (SO_PEERCRED). */
static int ctl_on_open(struct stream *st)
{
	struct conn *c = stream_user(st);
	c->srv = stream_ctx(st);
	c->s = st;
	tg_strlcpy(c->cid, "-", sizeof c->cid);
	struct ucred cred;
	socklen_t cl = sizeof cred;
	if (getsockopt(stream_fd(st), SOL_SOCKET, SO_PEERCRED, &cred, &cl) != 0 ||
	    (cred.uid != 0 && cred.uid != geteuid())) {
		log_ev(LOG_LVL_WARNING, NULL, "ctl_peer_refused",
		       LOG_I("uid", cl == sizeof cred ? (long)cred.uid : -1L));
		return -1;
	}
	c->uid = (long)cred.uid;
	c->pid = (long)cred.pid;
	return 0;
}

static void ctl_on_close(struct stream *st, const char *why)
{
	struct conn *c = stream_user(st);
	if (strcmp(why, "idle") == 0 || strcmp(why, "no request in time") == 0)
		log_event(LOG_LVL_INFO, c->cid, "ctl_idle_close", (const char *)NULL);
	/* A job in flight keeps the stream and frees its request in job_done. */
}

static const struct stream_ops ctl_ops = {
    .frame = ctl_frame,
    .on_frame = ctl_on_frame,
    .on_open = ctl_on_open,
    .on_close = ctl_on_close,
};

/* Refuses to steal the socket of a live daemon; removes a stale one. */
static int prepare_path(const char *path, char *err, size_t errlen)
{
	struct stat st;
	if (lstat(path, &st) != 0)
		return errno == ENOENT ? 0 : -1;
	if (!S_ISSOCK(st.st_mode)) {
		snprintf(err, errlen, "%s exists and is not a socket", path);
		return -1;
	}
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	struct sockaddr_un sun = {.sun_family = AF_UNIX};
	tg_strlcpy(sun.sun_path, path, sizeof sun.sun_path);
	int live = fd >= 0 && connect(fd, (struct sockaddr *)&sun, sizeof sun) == 0;
	if (fd >= 0)
		close(fd);
	if (live) {
		snprintf(err, errlen, "another telgated is serving %s", path);
		return -1;
	}
	unlink(path);
	return 0;
}

struct ctl_server *ctl_server_start(struct loop *loop, struct workers *w, const char *path,
                                    ctl_handler h, void *ctx, char *err, size_t errlen)
{
	struct sockaddr_un sun = {.sun_family = AF_UNIX};
	if (tg_strlcpy(sun.sun_path, path, sizeof sun.sun_path) != 0) {
		snprintf(err, errlen, "control socket path too long: %s", path);
		return NULL;
	}
	if (prepare_path(path, err, errlen) != 0) {
		if (!err[0])
			snprintf(err, errlen, "%s: %s", path, strerror(errno));
		return NULL;
	}
	struct ctl_server *s = calloc(1, sizeof *s);
	if (!s) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	s->loop = loop;
	s->workers = w;
	s->handler = h;
	s->ctx = ctx;
	tg_strlcpy(s->path, path, sizeof s->path);
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	/* Create the socket file with no group/other bits at all, then make sure of 0600. */
	mode_t old = umask(0177);
	int ok =
	    fd >= 0 && bind(fd, (struct sockaddr *)&sun, sizeof sun) == 0 && listen(fd, 16) == 0;
	umask(old);
	if (!ok || chmod(path, 0600) != 0) {
		snprintf(err, errlen, "cannot listen on %s: %s", path, strerror(errno));
		if (fd >= 0)
			close(fd);
		free(s);
		return NULL;
	}
	struct stream_listener_options o = {
	    .name = "control",
	    .kind = STREAM_UNIX,
	    .stats = &s->stats,
	    .ops = &ctl_ops,
	    .ctx = s,
	    .user_size = sizeof(struct conn),
	    .max_frame = CTL_FRAME_MAX + 4,
	    .first_message_timeout_s = CTL_IDLE_TIMEOUT_S,
	    .idle_timeout_s = CTL_IDLE_TIMEOUT_S,
	};
	s->lis = stream_listen(loop, fd, &o, err, errlen); /* owns fd from here */
	if (!s->lis) {
		unlink(path);
		free(s);
		return NULL;
	}
	return s;
}

void ctl_server_stop_accepting(struct ctl_server *s)
{
	if (s && s->path[0]) {
		stream_listener_stop_accepting(s->lis);
		unlink(s->path);
		s->path[0] = '\0';
	}
}

size_t ctl_server_busy(const struct ctl_server *s)
{
	return s->busy;
}

void ctl_server_free(struct ctl_server *s)
{
	if (!s)
		return;
	ctl_server_stop_accepting(s);
	stream_listener_free(s->lis);
	free(s);
}
