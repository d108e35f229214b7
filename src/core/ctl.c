#define _GNU_SOURCE /* struct ucred */
#include "core/ctl.h"
#include "core/log.h"
#include "core/loop.h"
#include "core/util.h"
#include "core/worker.h"

#include <errno.h>
#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <event2/listener.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#define CTL_IDLE_TIMEOUT_S 600

struct conn;

struct ctl_server {
	struct loop *loop;
	struct workers *workers;
	struct evconnlistener *lev;
	ctl_handler handler;
	void *ctx;
	char path[108];
	struct conn *conns;
	size_t busy;
};

struct conn {
	struct conn *next, **pprev;
	struct ctl_server *srv;
	struct bufferevent *bev;
	int in_flight; /* a job holds this conn: free it when the job comes back */
	int dead;      /* the peer went away while a job was running */
	int closing;   /* a broken frame: the error answer drains, then the close */
	char cid[LOG_CID_SIZE];
	/* The job's data. */
	struct ctl_request req;
	json_t *resp;
	int64_t started_ms;
};

static void conn_free(struct conn *c)
{
	if (c->pprev) {
		*c->pprev = c->next;
		if (c->next)
			c->next->pprev = c->pprev;
	}
	if (c->bev)
		bufferevent_free(c->bev);
	ctl_request_free(&c->req);
	json_decref(c->resp);
	free(c);
}

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
	struct evbuffer *out = bufferevent_get_output(c->bev);
	evbuffer_add(out, hdr, 4);
	evbuffer_add(out, body, len);
	free(body);
}

static void on_event(struct bufferevent *bev, short what, void *arg);

static void flushed(struct bufferevent *bev, void *arg)
{
	(void)bev;
	conn_free(arg);
}

/* The peer broke the framing: answer, stop reading, free once the answer is out (or
 * when the peer goes away first: on_event). Never frees here, so the caller may still
 * touch c; the write callback does it from the loop. */
static void close_after_flush(struct conn *c)
{
	c->closing = 1;
	bufferevent_disable(c->bev, EV_READ);
	bufferevent_setcb(c->bev, NULL, flushed, on_event, c);
	if (evbuffer_get_length(bufferevent_get_output(c->bev)) == 0)
		bufferevent_trigger(c->bev, EV_WRITE, BEV_TRIG_DEFER_CALLBACKS);
}

static void process_input(struct conn *c);

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
	char ms[24];
	snprintf(ms, sizeof ms, "%lld", (long long)(tg_mono_ms() - c->started_ms));
	log_event(ok ? LOG_LVL_INFO : LOG_LVL_NOTICE, c->cid, "ctl_done", "cmd", c->req.argv[0],
	          "result", ok ? "ok" : "error", "error",
	          ok ? NULL : json_string_value(json_object_get(c->resp, "error")), "ms", ms,
	          (const char *)NULL);
	ctl_request_free(&c->req);
	if (c->dead) {
		conn_free(c);
		return;
	}
	send_json(c, c->resp);
	json_decref(c->resp);
	c->resp = NULL;
	bufferevent_enable(c->bev, EV_READ);
	process_input(c);
}

/* Answers one complete frame at the head of the input. Returns 1 when the next frame may
 * be taken now, 0 when the connection waits (more bytes, a job, or the close). */
static int take_frame(struct conn *c)
{
	struct evbuffer *in = bufferevent_get_input(c->bev);
	size_t avail = evbuffer_get_length(in);
	if (c->in_flight || c->closing || avail == 0)
		return 0;
	size_t peek = avail < 4 ? avail : 4;
	const unsigned char *hdr = evbuffer_pullup(in, (ev_ssize_t)peek);
	const unsigned char *body;
	size_t blen, used;
	int r = ctl_frame_peek(hdr, peek, &body, &blen, &used);
	if (r == 0 && peek == 4) {
		/* Header is complete: check whether the whole frame is here. */
		uint32_t n = (uint32_t)hdr[0] << 24 | (uint32_t)hdr[1] << 16 |
		             (uint32_t)hdr[2] << 8 | hdr[3];
		if (avail < 4 + (size_t)n)
			return 0;
		const unsigned char *all = evbuffer_pullup(in, (ev_ssize_t)(4 + n));
		r = ctl_frame_peek(all, 4 + n, &body, &blen, &used);
	}
	if (r == 0)
		return 0;
	if (r < 0) {
		log_event(LOG_LVL_WARNING, c->cid, "ctl_bad_frame", "reason",
		          "length 0 or over limit", (const char *)NULL);
		json_t *e = ctl_error("bad frame: length must be 1..%u bytes", CTL_FRAME_MAX);
		send_json(c, e);
		json_decref(e);
		close_after_flush(c);
		return 0;
	}
	char err[256];
	log_cid_new(c->cid);
	int pr = ctl_request_parse((const char *)body, blen, &c->req, err, sizeof err);
	evbuffer_drain(in, used);
	if (pr != 0) {
		log_event(LOG_LVL_NOTICE, c->cid, "ctl_bad_request", "reason", err,
		          (const char *)NULL);
		json_t *e = ctl_error("%s", err);
		send_json(c, e);
		json_decref(e);
		return 1;
	}
	log_event(LOG_LVL_INFO, c->cid, "ctl_request", "cmd", c->req.argv[0], "sub",
	          c->req.argc > 1 ? c->req.argv[1] : NULL, (const char *)NULL);
	c->started_ms = tg_mono_ms();
	c->in_flight = 1;
	c->srv->busy++;
	bufferevent_disable(c->bev, EV_READ);
	int sr = workers_submit(c->srv->workers, job_run, job_done, c, c->srv->loop);
	if (sr == 0)
		return 0;
	c->in_flight = 0;
	c->srv->busy--;
	ctl_request_free(&c->req);
	json_t *e = ctl_error(sr == -EAGAIN ? "server busy, try again" : "server is shutting down");
	send_json(c, e);
	json_decref(e);
	bufferevent_enable(c->bev, EV_READ);
	return 1;
}

/* A loop, not recursion: a write full of bad requests must not grow the stack. */
static void process_input(struct conn *c)
{
	while (take_frame(c))
		;
}

static void on_read(struct bufferevent *bev, void *arg)
{
	(void)bev;
	process_input(arg);
}

/* The peer went away, an error, or the idle timeout: the only place (with job_done and
 * flushed, all called straight from the loop) that frees a connection. */
static void on_event(struct bufferevent *bev, short what, void *arg)
{
	(void)bev;
	struct conn *c = arg;
	if (what & BEV_EVENT_TIMEOUT)
		log_event(LOG_LVL_INFO, c->cid, "ctl_idle_close", (const char *)NULL);
	if (c->in_flight) {
		/* The worker still uses c: let job_done free it. */
		c->dead = 1;
		bufferevent_free(c->bev);
		c->bev = NULL;
		return;
	}
	conn_free(c);
}

static void on_accept(struct evconnlistener *lev, evutil_socket_t fd, struct sockaddr *sa,
                      int salen, void *arg)
{
	(void)lev;
	(void)sa;
	(void)salen;
	struct ctl_server *s = arg;
	struct ucred cred;
	socklen_t cl = sizeof cred;
	if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &cl) != 0 ||
	    (cred.uid != 0 && cred.uid != geteuid())) {
		char uid[16];
		snprintf(uid, sizeof uid, "%ld", cl == sizeof cred ? (long)cred.uid : -1L);
		log_event(LOG_LVL_WARNING, NULL, "ctl_peer_refused", "uid", uid,
		          (const char *)NULL);
		close(fd);
		return;
	}
	struct conn *c = calloc(1, sizeof *c);
	if (!c) {
		close(fd);
		return;
	}
	c->srv = s;
	tg_strlcpy(c->cid, "-", sizeof c->cid);
	c->bev = bufferevent_socket_new(loop_base(s->loop), fd, BEV_OPT_CLOSE_ON_FREE);
	if (!c->bev) {
		close(fd);
		free(c);
		return;
	}
	c->next = s->conns;
	if (s->conns)
		s->conns->pprev = &c->next;
	s->conns = c;
	c->pprev = &s->conns;
	struct timeval tv = {CTL_IDLE_TIMEOUT_S, 0};
	bufferevent_set_timeouts(c->bev, &tv, NULL);
	/* Stop reading past one maximal frame; the peer's excess waits in the kernel. */
	bufferevent_setwatermark(c->bev, EV_READ, 0, CTL_FRAME_MAX + 4);
	bufferevent_setcb(c->bev, on_read, NULL, on_event, c);
	bufferevent_enable(c->bev, EV_READ | EV_WRITE);
}

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
	/* Create the socket file with no group/other bits at all, then make sure of 0600. */
	mode_t old = umask(0177);
	s->lev = evconnlistener_new_bind(loop_base(loop), on_accept, s,
	                                 LEV_OPT_CLOSE_ON_FREE | LEV_OPT_CLOSE_ON_EXEC, 16,
	                                 (struct sockaddr *)&sun, sizeof sun);
	umask(old);
	if (!s->lev || chmod(path, 0600) != 0) {
		snprintf(err, errlen, "cannot listen on %s: %s", path, strerror(errno));
		if (s->lev)
			evconnlistener_free(s->lev);
		free(s);
		return NULL;
	}
	return s;
}

void ctl_server_stop_accepting(struct ctl_server *s)
{
	if (s->lev) {
		evconnlistener_free(s->lev);
		s->lev = NULL;
		unlink(s->path);
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
	while (s->conns)
		conn_free(s->conns);
	free(s);
}
