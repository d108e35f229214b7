/* SPDX-License-Identifier: ISC */
#include "core/http_int.h"

#include <stdlib.h>
#include <string.h>

/* A connection without a socket: the input the stream layer would keep, handed to the
 * same frame() and on_frame() code, by the same rules (stream.h): frames in order, one
 * at a time, none while paused; at most max_frame bytes looked at; stream_need; a close
 * after flush drops what comes later. The answers go straight to the caller's out. */
struct http_feed {
	struct http_conn c;
	void (*out)(void *arg, const void *p, size_t n);
	void *arg;
	unsigned char *in;
	size_t inlen, incap;
	size_t max_frame;
	int paused, flushing, closed, freed, running;
	int refs; /* holds of a request (conn_ref) */
};

int feed_write(struct http_feed *f, const void *a, size_t alen, const void *b, size_t blen)
{
	if (f->closed || f->flushing)
		return -1;
	if (alen)
		f->out(f->arg, a, alen);
	if (blen)
		f->out(f->arg, b, blen);
	return 0;
}

void feed_close_after_flush(struct http_feed *f)
{
	f->flushing = 1;
}

int feed_closing(const struct http_feed *f)
{
	return f->closed || f->flushing;
}

void feed_pause(struct http_feed *f)
{
	f->paused = 1;
}

void feed_resume(struct http_feed *f)
{
	f->paused = 0;
}

void feed_ref(struct http_feed *f)
{
	f->refs++;
}

static void feed_destroy(struct http_feed *f)
{
	free(f->in);
	free(f);
}

void feed_unref(struct http_feed *f)
{
	if (--f->refs == 0 && f->freed && !f->running)
		feed_destroy(f);
}

struct http_feed *http_feed_new(struct http_server *srv,
                                void (*out)(void *arg, const void *p, size_t n), void *arg)
{
	struct http_feed *f = calloc(1, sizeof *f);
	if (!f)
		return NULL;
	http_conn_init(&f->c, srv);
	f->c.feed = f;
	f->out = out;
	f->arg = arg;
	f->max_frame = srv->max_header + srv->max_body + HTTP_FRAME_SLACK;
	return f;
}

static void feed_close(struct http_feed *f, const char *why)
{
	if (f->closed)
		return;
	f->closed = 1;
	http_conn_closed(&f->c, why);
}

int http_feed(struct http_feed *f, const void *data, size_t len)
{
	if (f->closed || f->flushing)
		return 1;
	if (len) {
		if (f->inlen + len > f->incap) {
			size_t cap = f->incap ? f->incap : 4096;
			while (cap < f->inlen + len)
				cap *= 2;
			unsigned char *p = realloc(f->in, cap);
			if (!p) {
				feed_close(f, "out of memory");
				return 1;
			}
			f->in = p;
			f->incap = cap;
		}
		memcpy(f->in + f->inlen, data, len);
		f->inlen += len;
	}
	f->running++;
	while (!f->paused && !f->flushing && !f->closed && f->inlen) {
		size_t take = f->inlen < f->max_frame ? f->inlen : f->max_frame;
		long r = http_parse_frame(&f->c, f->in, take);
		if (r == STREAM_FRAME_MORE) {
			/* conn_need is a no-op without a stream: look again at the next bytes */
			if (take >= f->max_frame)
				feed_close(f, "frame too large");
			break;
		}
		if (r < 0 || (size_t)r > take) {
			f->flushing = 1;
			break;
		}
		http_conn_dispatch(&f->c);
		memmove(f->in, f->in + r, f->inlen - (size_t)r);
		f->inlen -= (size_t)r;
	}
	f->running--;
	return f->closed || f->flushing;
}

void http_feed_free(struct http_feed *f)
{
	if (!f)
		return;
	f->refs++; /* the close may end a hold (on_abort): not freed under our feet */
	feed_close(f, "feed freed");
	f->freed = 1;
	feed_unref(f);
}
