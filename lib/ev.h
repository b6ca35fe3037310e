/*
 * The one event loop: epoll for file descriptors, a heap of timers,
 * signals through signalfd, deferred calls (run after the current
 * dispatch round, before the next epoll_wait).  One loop per process;
 * everything runs on its thread except work handed to workq.
 */
#ifndef LIB_EV_H
#define LIB_EV_H

#include <stdbool.h>
#include <stdint.h>

struct ev_loop;
struct ev_io;
struct ev_timer;

enum {
	EV_READ		= 1 << 0,
	EV_WRITE	= 1 << 1,
	EV_ERROR	= 1 << 2,	/* EPOLLERR/EPOLLHUP: reported with READ */
};

typedef void	(*ev_io_cb)(int fd, unsigned events, void *arg);
typedef void	(*ev_timer_cb)(void *arg);
typedef void	(*ev_signal_cb)(int signo, void *arg);
typedef void	(*ev_defer_cb)(void *arg);

struct ev_loop	*ev_loop_new(void);	/* NULL (errno set) if epoll_create1 fails */
void		 ev_loop_free(struct ev_loop **loop);
/*
 * Runs until ev_loop_break(); returns 0, or -1 if epoll itself failed.
 * A round: epoll_wait, ready fds, expired timers (one re-armed by its own
 * callback waits for the next round), deferred calls.  ev_loop_break stops
 * the loop once the current round is over.
 */
int		 ev_loop_run(struct ev_loop *loop);
void		 ev_loop_break(struct ev_loop *loop);
/* Milliseconds on CLOCK_MONOTONIC, cached once per loop iteration. */
uint64_t	 ev_now(struct ev_loop *loop);
/* The same clock read now, in any thread or process (it is one clock for all). */
uint64_t	 ev_clock_ms(void);

/*
 * Watch fd for `events` (EV_READ|EV_WRITE); 0 events keeps it registered but
 * idle (an idle fd's hang-up is not reported until it is watched again).
 * NULL (errno set) if epoll refuses the fd.  ev_io_del and ev_timer_free
 * are safe from any callback, including the watcher's own.
 */
struct ev_io	*ev_io_add(struct ev_loop *loop, int fd, unsigned events, ev_io_cb cb, void *arg);
void		 ev_io_set(struct ev_io *io, unsigned events);
/* Does not close fd; call it BEFORE close(fd), or a reused fd number may be unwatched. */
void		 ev_io_del(struct ev_io **io);

/* A timer is created stopped; ev_timer_set arms it to fire once after ms. */
struct ev_timer	*ev_timer_new(struct ev_loop *loop, ev_timer_cb cb, void *arg);
void		 ev_timer_set(struct ev_timer *t, uint64_t ms);
void		 ev_timer_stop(struct ev_timer *t);
bool		 ev_timer_pending(const struct ev_timer *t);
void		 ev_timer_free(struct ev_timer **t);

/*
 * Block signo and deliver it through signalfd to cb on the loop.  Call
 * before starting threads (they inherit the mask).  ev_loop_free drops
 * pending ones and unblocks them again.
 */
int		 ev_signal_add(struct ev_loop *loop, int signo, ev_signal_cb cb, void *arg);

/* Run cb(arg) once, after the current round of callbacks. */
void		 ev_defer(struct ev_loop *loop, ev_defer_cb cb, void *arg);

#endif
