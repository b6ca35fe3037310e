/*
 * A small pool of I/O threads for the one blocking call worth taking off
 * the event loop: fsync.  Jobs run `work` on a pool thread, then `done`
 * back on the loop thread (woken through an eventfd).  Concurrent sessions'
 * commits therefore overlap and the file system's journal coalesces them.
 *
 * `work` must touch nothing but the job's own data.
 */
#ifndef LIB_WORKQ_H
#define LIB_WORKQ_H

struct ev_loop;
struct workq;

typedef void	(*workq_fn)(void *arg);

/* nthreads == 0: run work synchronously inside workq_submit (tests, fuzzing). */
struct workq	*workq_new(struct ev_loop *loop, unsigned nthreads);
/*
 * Waits for queued jobs, joins the threads, then runs the `done` of every
 * job that finished but was not yet reported (on the calling thread).
 * Not from inside a `done` callback.  Pool threads block all signals.
 */
void		 workq_free(struct workq **wq);

/*
 * Call from the loop thread.  `done` (may be NULL) runs on the loop thread;
 * the done callbacks found by one wake-up run in submission order.
 */
void		 workq_submit(struct workq *wq, workq_fn work, workq_fn done, void *arg);

#endif
