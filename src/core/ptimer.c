/* SPDX-License-Identifier: ISC */
#include "core/ptimer.h"

#include <errno.h>
#include <event2/event.h>
#include <event2/event_struct.h>
#include <stdlib.h>
#include <sys/timerfd.h>
#include <time.h>
#include <unistd.h>

struct ptimer {
	int fd;
	struct event ev;
	void (*fn)(void *arg);
	void *arg;
};

static void on_fire(evutil_socket_t fd, short what, void *arg)
{
	(void)what;
	struct ptimer *t = arg;
	uint64_t n;
	/* EAGAIN: disarmed or re-armed for later after the loop saw it readable */
	if (read(fd, &n, sizeof n) != (ssize_t)sizeof n)
		return;
	t->fn(t->arg);
}

struct ptimer *ptimer_new(struct event_base *base, void (*fn)(void *arg), void *arg)
{
	struct ptimer *t = calloc(1, sizeof *t);
	if (!t)
		return NULL;
	t->fn = fn;
	t->arg = arg;
	/* CLOCK_MONOTONIC: the clock of tg_mono_us() */
	t->fd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
	if (t->fd < 0 || event_assign(&t->ev, base, t->fd, EV_READ | EV_PERSIST, on_fire, t) != 0 ||
	    event_add(&t->ev, NULL) != 0) {
		if (t->fd >= 0)
			close(t->fd);
		free(t);
		return NULL;
	}
	return t;
}

static int settime(struct ptimer *t, int64_t at_us)
{
	struct itimerspec its = {{0, 0}, {0, 0}};
	if (at_us >= 0) {
		/* an all-zero it_value would disarm: the earliest deadline is 1 ns */
		its.it_value.tv_sec = (time_t)(at_us / 1000000);
		its.it_value.tv_nsec = (long)(at_us % 1000000) * 1000;
		if (!its.it_value.tv_sec && !its.it_value.tv_nsec)
			its.it_value.tv_nsec = 1;
	}
	return timerfd_settime(t->fd, TFD_TIMER_ABSTIME, &its, NULL) == 0 ? 0 : -errno;
}

int ptimer_at(struct ptimer *t, int64_t at_us)
{
	return settime(t, at_us < 0 ? 0 : at_us);
}

void ptimer_cancel(struct ptimer *t)
{
	(void)settime(t, -1);
}

void ptimer_free(struct ptimer *t)
{
	if (!t)
		return;
	event_del(&t->ev);
	close(t->fd);
	free(t);
}
