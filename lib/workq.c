/*
 * A pool of threads for blocking calls (fsync).  Jobs go to the threads
 * through one mutex-protected FIFO; finished jobs come back on a second
 * list and an eventfd wakes the loop, which runs their `done` callbacks.
 * Jobs finish out of order across threads; each wake-up runs the batch it
 * finds in submission order, so a session's commits are acknowledged in
 * the order it made them.
 */
#include "lib/workq.h"
#include "lib/ev.h"
#include "lib/xmalloc.h"

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

struct workq_job {
	workq_fn		 work, done;
	void			*arg;
	uint64_t		 seq;
	struct workq_job	*next;
};

struct workq {
	struct ev_loop		*loop;
	unsigned		 nthreads;
	pthread_t		*threads;
	pthread_mutex_t		 lock;
	pthread_cond_t		 cond;
	struct workq_job	*queue, **queue_tail;	/* to run, FIFO */
	struct workq_job	*finished;		/* done, sorted by seq */
	bool			 stopping;
	uint64_t		 seq;
	int			 efd;
	struct ev_io		*io;
};

static void __attribute__((noreturn))
workq_die(const char *what, int err)
{
	/* A pool that cannot lock or start is a broken environment. */
	fprintf(stderr, "postroom: workq: %s: %s\n", what, strerror(err));
	abort();
}

static void
workq_lock(struct workq *wq)
{
	int	 e;

	if ((e = pthread_mutex_lock(&wq->lock)) != 0)
		workq_die("mutex lock", e);
}

static void
workq_unlock(struct workq *wq)
{
	int	 e;

	if ((e = pthread_mutex_unlock(&wq->lock)) != 0)
		workq_die("mutex unlock", e);
}

/*
 * Insert keeping seq order; completions arrive nearly in order, so scan.
 * True when the list was empty: one wake-up per batch, the loop takes the
 * whole list.
 */
static bool
workq_finish(struct workq *wq, struct workq_job *job)
{
	struct workq_job	**pp = &wq->finished;
	bool			  was_empty = wq->finished == NULL;

	while (*pp != NULL && (*pp)->seq < job->seq)
		pp = &(*pp)->next;
	job->next = *pp;
	*pp = job;
	return was_empty;
}

/*
 * Wake the loop, lock released: it locks to take the list at once and
 * would otherwise sleep on our mutex.  A wake-up for a list the loop has
 * taken meanwhile is only a spurious one; none is lost.
 */
static void
workq_wake_loop(struct workq *wq)
{
	uint64_t	 one = 1;

	if (write(wq->efd, &one, sizeof(one)) != sizeof(one) && errno != EAGAIN)
		workq_die("eventfd write", errno);
}

static void *
workq_thread(void *arg)
{
	struct workq		*wq = arg;
	struct workq_job	*job;
	int			 e;

	workq_lock(wq);
	for (;;) {
		while (wq->queue == NULL && !wq->stopping)
			if ((e = pthread_cond_wait(&wq->cond, &wq->lock)) != 0)
				workq_die("cond wait", e);
		if ((job = wq->queue) == NULL)
			break;		/* stopping and drained */
		if ((wq->queue = job->next) == NULL)
			wq->queue_tail = &wq->queue;
		workq_unlock(wq);
		job->work(job->arg);
		workq_lock(wq);
		if (workq_finish(wq, job)) {
			workq_unlock(wq);
			workq_wake_loop(wq);
			workq_lock(wq);
		}
	}
	workq_unlock(wq);
	return NULL;
}

/* Loop thread: run the finished batch's done callbacks in order. */
static void
workq_run_done(struct workq *wq)
{
	struct workq_job	*list, *job;

	workq_lock(wq);
	list = wq->finished;
	wq->finished = NULL;
	workq_unlock(wq);
	while ((job = list) != NULL) {
		list = job->next;
		if (job->done != NULL)
			job->done(job->arg);
		free(job);
	}
}

static void
workq_wakeup(int fd, unsigned events, void *arg)
{
	uint64_t	 n;

	/* Read first: a completion after this read re-arms the eventfd. */
	if (read(fd, &n, sizeof(n)) == -1 && errno != EAGAIN)
		workq_die("eventfd read", errno);
	workq_run_done(arg);
}

struct workq *
workq_new(struct ev_loop *loop, unsigned nthreads)
{
	struct workq	*wq;
	sigset_t	 all, old;
	unsigned	 i;
	int		 e;

	wq = xcalloc(1, sizeof(*wq));
	wq->loop = loop;
	wq->queue_tail = &wq->queue;
	wq->efd = -1;
	if (nthreads == 0)
		return wq;
	if ((e = pthread_mutex_init(&wq->lock, NULL)) != 0)
		workq_die("mutex init", e);
	if ((e = pthread_cond_init(&wq->cond, NULL)) != 0)
		workq_die("cond init", e);
	if ((wq->efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC)) == -1)
		workq_die("eventfd", errno);
	if ((wq->io = ev_io_add(loop, wq->efd, EV_READ, workq_wakeup, wq)) == NULL)
		workq_die("ev_io_add", errno);
	wq->threads = xcalloc(nthreads, sizeof(*wq->threads));
	/* Signals belong to the loop's signalfd, never to a pool thread. */
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	for (i = 0; i < nthreads; i++) {
		if ((e = pthread_create(&wq->threads[i], NULL, workq_thread, wq)) != 0)
			workq_die("pthread_create", e);
		wq->nthreads++;
	}
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	return wq;
}

void
workq_submit(struct workq *wq, workq_fn work, workq_fn done, void *arg)
{
	struct workq_job	*job;
	int			 e;

	if (wq->nthreads == 0) {
		work(arg);
		if (done != NULL)
			done(arg);
		return;
	}
	job = xmalloc(sizeof(*job));
	job->work = work;
	job->done = done;
	job->arg = arg;
	job->next = NULL;
	workq_lock(wq);
	job->seq = wq->seq++;
	*wq->queue_tail = job;
	wq->queue_tail = &job->next;
	workq_unlock(wq);
	/* Unlocked: the thread woken takes the lock at once, it must not find ours. */
	if ((e = pthread_cond_signal(&wq->cond)) != 0)
		workq_die("cond signal", e);
}

void
workq_free(struct workq **wqp)
{
	struct workq	*wq = *wqp;
	unsigned	 i;
	int		 e;

	if (wq == NULL)
		return;
	*wqp = NULL;
	if (wq->nthreads == 0) {
		free(wq);
		return;
	}
	workq_lock(wq);
	wq->stopping = true;
	if ((e = pthread_cond_broadcast(&wq->cond)) != 0)
		workq_die("cond broadcast", e);
	workq_unlock(wq);
	for (i = 0; i < wq->nthreads; i++)
		if ((e = pthread_join(wq->threads[i], NULL)) != 0)
			workq_die("pthread_join", e);
	/* Queued jobs have run; their owners still expect `done`. */
	workq_run_done(wq);
	ev_io_del(&wq->io);
	close(wq->efd);
	pthread_cond_destroy(&wq->cond);
	pthread_mutex_destroy(&wq->lock);
	free(wq->threads);
	free(wq);
}
