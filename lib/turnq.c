/*
 * The FIFO of jobs taking turns (lib/turnq.h).  Each turn is a small job
 * wrapping the caller's work/done; the job is what the workq carries, so
 * the count of running turns is kept here whatever done does.
 */
#include "lib/turnq.h"

#include "lib/session.h"
#include "lib/xmalloc.h"

#include <stdlib.h>

struct turnq_job {
	struct turnq_job	*next;
	struct turnq		*q;
	struct session_host	*host;
	void			(*work)(void *arg);
	void			(*done)(void *arg);
	void			*arg;
};

struct turnq {
	unsigned		 max;		/* 0: no bound */
	unsigned		 running;	/* submitted, done not yet run */
	size_t			 nwaiting;
	struct turnq_job	*head;
	struct turnq_job	**tail;
	bool			 draining;	/* in run_waiting: no recursion */
	bool			 stopped;
};

struct turnq *
turnq_new(unsigned max)
{
	struct turnq	*q = xcalloc(1, sizeof(*q));

	q->max = max;
	q->tail = &q->head;
	return q;
}

void
turnq_free(struct turnq **qp)
{
	struct turnq	*q = *qp;

	if (q == NULL)
		return;
	if (q->head != NULL || q->running > 0)
		abort();	/* a session freed without turnq_cancel, or a job lost */
	free(q);
	*qp = NULL;
}

static void	job_work(void *arg);
static void	job_done(void *arg);

/* Submit waiting jobs while there is room. */
static void
run_waiting(struct turnq *q)
{
	struct turnq_job	*job;

	if (q->draining || q->stopped)
		return;		/* done ran inside submit (io_threads = 0): the outer loop goes on */
	q->draining = true;
	while ((job = q->head) != NULL && (q->max == 0 || q->running < q->max)) {
		if ((q->head = job->next) == NULL)
			q->tail = &q->head;
		q->nwaiting--;
		q->running++;	/* before: with io_threads = 0 done runs inside */
		session_host_submit(job->host, job_work, job_done, job);
	}
	q->draining = false;
}

static void
job_work(void *arg)
{
	struct turnq_job	*job = arg;

	job->work(job->arg);
}

static void
job_done(void *arg)
{
	struct turnq_job	*job = arg;
	struct turnq		*q = job->q;

	q->running--;
	job->done(job->arg);
	free(job);
	run_waiting(q);
}

void
turnq_submit(struct turnq *q, struct session_host *host, void (*work)(void *arg),
    void (*done)(void *arg), void *arg)
{
	struct turnq_job	*job = xcalloc(1, sizeof(*job));

	job->q = q;
	job->host = host;
	job->work = work;
	job->done = done;
	job->arg = arg;
	*q->tail = job;
	q->tail = &job->next;
	q->nwaiting++;
	run_waiting(q);
}

bool
turnq_cancel(struct turnq *q, void *arg)
{
	struct turnq_job	**jp, *job;

	for (jp = &q->head; (job = *jp) != NULL; jp = &job->next) {
		if (job->arg != arg)
			continue;
		if ((*jp = job->next) == NULL)
			q->tail = jp;
		q->nwaiting--;
		free(job);
		return true;
	}
	return false;
}

void
turnq_stop(struct turnq *q)
{
	q->stopped = true;
}

void
turnq_set_max(struct turnq *q, unsigned max)
{
	q->max = max;
	run_waiting(q);
}

unsigned
turnq_running(const struct turnq *q)
{
	return q->running;
}

size_t
turnq_waiting(const struct turnq *q)
{
	return q->nwaiting;
}
