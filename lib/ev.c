/*
 * The event loop.  One round: epoll_wait, dispatch the ready fds, run the
 * expired timers, run the deferred calls, free what was deleted.
 *
 * Deleting from inside a callback: the ready list returned by epoll_wait
 * holds pointers to ev_io, so ev_io_del during a dispatch round only marks
 * the watcher dead and parks it on a dead list; the round skips dead
 * watchers and frees the list when it is over.  Timers are popped off the
 * heap before their callback runs and the heap is re-read after each
 * callback, so the loop never holds a timer pointer across a callback and
 * timers can be freed at once.
 */
#include "lib/ev.h"
#include "lib/xmalloc.h"

#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/signalfd.h>
#include <time.h>
#include <unistd.h>

#define EV_MAX_EVENTS	64
#define EV_NOT_ARMED	SIZE_MAX

struct ev_io {
	struct ev_loop	*loop;
	int		 fd;
	unsigned	 events;
	bool		 in_epoll;	/* idle watchers leave epoll: no HUP spin */
	bool		 dead;
	ev_io_cb	 cb;
	void		*arg;
	struct ev_io	*next_dead;
};

struct ev_timer {
	struct ev_loop	*loop;
	uint64_t	 when;
	uint64_t	 seq;		/* arming order: ties and re-arm guard */
	size_t		 idx;		/* heap slot, EV_NOT_ARMED if stopped */
	ev_timer_cb	 cb;
	void		*arg;
};

struct ev_defer {
	ev_defer_cb	 cb;
	void		*arg;
	struct ev_defer	*next;
};

struct ev_sig {
	ev_signal_cb	 cb;
	void		*arg;
};

struct ev_loop {
	int		  epfd;
	bool		  stop;
	bool		  dispatching;	/* inside the epoll ready list */
	uint64_t	  now;
	uint64_t	  timer_seq;
	struct ev_timer	**heap;
	size_t		  nheap, heapcap;
	struct ev_defer	 *defer_head, **defer_tail;
	struct ev_io	 *dead;
	int		  sigfd;
	struct ev_io	 *sigio;
	sigset_t	  sigmask;	/* signals we blocked */
	struct ev_sig	  sigs[_NSIG];
};

uint64_t
ev_clock_ms(void)
{
	struct timespec	 ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

struct ev_loop *
ev_loop_new(void)
{
	struct ev_loop	*loop;

	loop = xcalloc(1, sizeof(*loop));
	if ((loop->epfd = epoll_create1(EPOLL_CLOEXEC)) == -1) {
		free(loop);
		return NULL;
	}
	loop->defer_tail = &loop->defer_head;
	loop->sigfd = -1;
	sigemptyset(&loop->sigmask);
	loop->now = ev_clock_ms();
	return loop;
}

static void
ev_free_dead(struct ev_loop *loop)
{
	struct ev_io	*io;

	while ((io = loop->dead) != NULL) {
		loop->dead = io->next_dead;
		free(io);
	}
}

void
ev_loop_free(struct ev_loop **loopp)
{
	struct ev_loop	*loop = *loopp;
	struct ev_defer			*d;
	struct signalfd_siginfo		 si;
	size_t				 i;

	if (loop == NULL)
		return;
	if (loop->sigio != NULL) {
		ev_io_del(&loop->sigio);
		/* Swallow what is pending, or unblocking would deliver it. */
		while (read(loop->sigfd, &si, sizeof(si)) == (ssize_t)sizeof(si))
			continue;
		close(loop->sigfd);
		sigprocmask(SIG_UNBLOCK, &loop->sigmask, NULL);
	}
	ev_free_dead(loop);
	while ((d = loop->defer_head) != NULL) {
		loop->defer_head = d->next;
		free(d);
	}
	/* Timers still armed belong to their owners; just forget them. */
	for (i = 0; i < loop->nheap; i++)
		loop->heap[i]->idx = EV_NOT_ARMED;
	free(loop->heap);
	close(loop->epfd);
	free(loop);
	*loopp = NULL;
}

uint64_t
ev_now(struct ev_loop *loop)
{
	return loop->now;
}

void
ev_loop_break(struct ev_loop *loop)
{
	loop->stop = true;
}

/* ---- timer heap (min-heap on (when, seq)) ---- */

static bool
timer_before(const struct ev_timer *a, const struct ev_timer *b)
{
	return a->when < b->when || (a->when == b->when && a->seq < b->seq);
}

static void
heap_place(struct ev_loop *loop, size_t i, struct ev_timer *t)
{
	loop->heap[i] = t;
	t->idx = i;
}

static void
heap_up(struct ev_loop *loop, size_t i)
{
	struct ev_timer	*t = loop->heap[i];
	size_t		 parent;

	while (i > 0) {
		parent = (i - 1) / 2;
		if (!timer_before(t, loop->heap[parent]))
			break;
		heap_place(loop, i, loop->heap[parent]);
		i = parent;
	}
	heap_place(loop, i, t);
}

static void
heap_down(struct ev_loop *loop, size_t i)
{
	struct ev_timer	*t = loop->heap[i];
	size_t		 child;

	for (;;) {
		child = 2 * i + 1;
		if (child >= loop->nheap)
			break;
		if (child + 1 < loop->nheap &&
		    timer_before(loop->heap[child + 1], loop->heap[child]))
			child++;
		if (!timer_before(loop->heap[child], t))
			break;
		heap_place(loop, i, loop->heap[child]);
		i = child;
	}
	heap_place(loop, i, t);
}

static void
heap_remove(struct ev_loop *loop, struct ev_timer *t)
{
	size_t		 i = t->idx;
	struct ev_timer	*last;

	t->idx = EV_NOT_ARMED;
	last = loop->heap[--loop->nheap];
	if (last == t)
		return;
	heap_place(loop, i, last);
	heap_up(loop, i);
	heap_down(loop, last->idx);
}

struct ev_timer *
ev_timer_new(struct ev_loop *loop, ev_timer_cb cb, void *arg)
{
	struct ev_timer	*t;

	t = xcalloc(1, sizeof(*t));
	t->loop = loop;
	t->idx = EV_NOT_ARMED;
	t->cb = cb;
	t->arg = arg;
	return t;
}

void
ev_timer_set(struct ev_timer *t, uint64_t ms)
{
	struct ev_loop	*loop = t->loop;

	if (t->idx != EV_NOT_ARMED)
		heap_remove(loop, t);
	t->when = ms > UINT64_MAX - loop->now ? UINT64_MAX : loop->now + ms;
	t->seq = loop->timer_seq++;
	if (loop->nheap == loop->heapcap) {
		loop->heapcap = loop->heapcap == 0 ? 16 : size_mul(loop->heapcap, 2);
		loop->heap = xreallocarray(loop->heap, loop->heapcap,
		    sizeof(*loop->heap));
	}
	loop->heap[loop->nheap] = t;
	t->idx = loop->nheap++;
	heap_up(loop, t->idx);
}

void
ev_timer_stop(struct ev_timer *t)
{
	if (t->idx != EV_NOT_ARMED)
		heap_remove(t->loop, t);
}

bool
ev_timer_pending(const struct ev_timer *t)
{
	return t->idx != EV_NOT_ARMED;
}

void
ev_timer_free(struct ev_timer **t)
{
	if (*t == NULL)
		return;
	ev_timer_stop(*t);
	free(*t);
	*t = NULL;
}

/*
 * Fire what is due.  A timer (re-)armed by a callback of this run waits for
 * the next round even with 0 ms, so a callback cannot starve the loop.
 */
static void
ev_run_timers(struct ev_loop *loop)
{
	uint64_t	 first_new = loop->timer_seq;
	struct ev_timer	*t;

	while (loop->nheap > 0) {
		t = loop->heap[0];
		if (t->when > loop->now || t->seq >= first_new)
			break;
		heap_remove(loop, t);
		t->cb(t->arg);	/* may free t or any other timer */
	}
}

/* ---- fd watchers ---- */

static int
ev_io_apply(struct ev_io *io)
{
	struct epoll_event	 e;
	int			 op;

	memset(&e, 0, sizeof(e));
	e.data.ptr = io;
	if (io->events & EV_READ)
		e.events |= EPOLLIN | EPOLLRDHUP;
	if (io->events & EV_WRITE)
		e.events |= EPOLLOUT;
	if (e.events == 0) {
		if (!io->in_epoll)
			return 0;
		io->in_epoll = false;
		/* EBADF/ENOENT: the owner closed the fd first; it is gone anyway. */
		epoll_ctl(io->loop->epfd, EPOLL_CTL_DEL, io->fd, NULL);
		return 0;
	}
	op = io->in_epoll ? EPOLL_CTL_MOD : EPOLL_CTL_ADD;
	if (epoll_ctl(io->loop->epfd, op, io->fd, &e) == -1)
		return -1;
	io->in_epoll = true;
	return 0;
}

struct ev_io *
ev_io_add(struct ev_loop *loop, int fd, unsigned events, ev_io_cb cb, void *arg)
{
	struct ev_io	*io;

	io = xcalloc(1, sizeof(*io));
	io->loop = loop;
	io->fd = fd;
	io->events = events & (EV_READ | EV_WRITE);
	io->cb = cb;
	io->arg = arg;
	if (ev_io_apply(io) == -1) {
		free(io);
		return NULL;
	}
	return io;
}

void
ev_io_set(struct ev_io *io, unsigned events)
{
	io->events = events & (EV_READ | EV_WRITE);
	/* Only fails for an fd that epoll cannot watch, refused at add. */
	ev_io_apply(io);
}

void
ev_io_del(struct ev_io **iop)
{
	struct ev_io	*io = *iop;

	if (io == NULL)
		return;
	*iop = NULL;
	io->events = 0;
	ev_io_apply(io);
	if (io->loop->dispatching) {
		/* The ready list may still point at it: free after the round. */
		io->dead = true;
		io->next_dead = io->loop->dead;
		io->loop->dead = io;
	} else
		free(io);
}

static void
ev_dispatch(struct ev_loop *loop, struct epoll_event *evs, int n)
{
	struct ev_io	*io;
	unsigned	 events;
	int		 i;

	loop->dispatching = true;
	for (i = 0; i < n; i++) {
		io = evs[i].data.ptr;
		if (io->dead)
			continue;
		events = 0;
		if (evs[i].events & (EPOLLIN | EPOLLRDHUP))
			events |= EV_READ;
		if (evs[i].events & EPOLLOUT)
			events |= EV_WRITE;
		/* An earlier callback may have changed what we want. */
		events &= io->events;
		if (evs[i].events & (EPOLLERR | EPOLLHUP))
			events |= EV_ERROR | EV_READ;
		if (events != 0)
			io->cb(io->fd, events, io->arg);
	}
	loop->dispatching = false;
	ev_free_dead(loop);
}

/* ---- deferred calls ---- */

void
ev_defer(struct ev_loop *loop, ev_defer_cb cb, void *arg)
{
	struct ev_defer	*d;

	d = xmalloc(sizeof(*d));
	d->cb = cb;
	d->arg = arg;
	d->next = NULL;
	*loop->defer_tail = d;
	loop->defer_tail = &d->next;
}

/* Calls deferred by these callbacks run in the next round. */
static void
ev_run_defers(struct ev_loop *loop)
{
	struct ev_defer	*d, *list = loop->defer_head;

	loop->defer_head = NULL;
	loop->defer_tail = &loop->defer_head;
	while ((d = list) != NULL) {
		list = d->next;
		d->cb(d->arg);
		free(d);
	}
}

/* ---- signals ---- */

static void
ev_signal_read(int fd, unsigned events, void *arg)
{
	struct ev_loop			*loop = arg;
	struct signalfd_siginfo		 si;
	struct ev_sig			*s;

	while (read(fd, &si, sizeof(si)) == (ssize_t)sizeof(si)) {
		if (si.ssi_signo >= _NSIG)
			continue;
		s = &loop->sigs[si.ssi_signo];
		if (s->cb != NULL)
			s->cb((int)si.ssi_signo, s->arg);
	}
}

int
ev_signal_add(struct ev_loop *loop, int signo, ev_signal_cb cb, void *arg)
{
	sigset_t	 one;
	int		 fd;

	if (signo <= 0 || signo >= _NSIG) {
		errno = EINVAL;
		return -1;
	}
	sigemptyset(&one);
	sigaddset(&one, signo);
	if (sigprocmask(SIG_BLOCK, &one, NULL) == -1)
		return -1;
	sigaddset(&loop->sigmask, signo);
	fd = signalfd(loop->sigfd, &loop->sigmask, SFD_NONBLOCK | SFD_CLOEXEC);
	if (fd == -1)
		return -1;
	if (loop->sigfd == -1) {
		loop->sigfd = fd;
		loop->sigio = ev_io_add(loop, fd, EV_READ, ev_signal_read, loop);
		if (loop->sigio == NULL) {
			close(fd);
			loop->sigfd = -1;
			return -1;
		}
	}
	loop->sigs[signo].cb = cb;
	loop->sigs[signo].arg = arg;
	return 0;
}

/* ---- the loop ---- */

static int
ev_timeout(struct ev_loop *loop)
{
	uint64_t	 when;

	if (loop->defer_head != NULL)
		return 0;
	if (loop->nheap == 0)
		return -1;
	when = loop->heap[0]->when;
	if (when <= loop->now)
		return 0;
	return when - loop->now > 86400000 ? 86400000 : (int)(when - loop->now);
}

int
ev_loop_run(struct ev_loop *loop)
{
	struct epoll_event	 evs[EV_MAX_EVENTS];
	int			 n;

	loop->stop = false;
	loop->now = ev_clock_ms();
	while (!loop->stop) {
		n = epoll_wait(loop->epfd, evs, EV_MAX_EVENTS, ev_timeout(loop));
		if (n == -1 && errno != EINTR)
			return -1;
		loop->now = ev_clock_ms();
		if (n > 0)
			ev_dispatch(loop, evs, n);
		ev_run_timers(loop);
		ev_run_defers(loop);
	}
	return 0;
}
