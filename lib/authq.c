/*
 * The FIFO of password checks (lib/authq.h).  Each check is a small job
 * wrapping the caller's work/done; the job is what the workq carries, so
 * the count of running checks is kept here whatever done does.
 */
#include "lib/authq.h"

#include "lib/session.h"
#include "lib/xmalloc.h"

#include <stdlib.h>

struct authq_job {
	struct authq_job	*next;
	struct authq		*q;
	struct session_host	*host;
	void			(*work)(void *arg);
	void			(*done)(void *arg);
	void			*arg;
};

struct authq {
	unsigned		 max;		/* 0: no bound */
	unsigned		 running;	/* submitted, done not yet run */
	size_t			 nwaiting;
	struct authq_job	*head;
	struct authq_job	**tail;
	bool			 draining;	/* in run_waiting: no recursion */
	bool			 stopped;
};

struct authq *
authq_new(unsigned max)
{
	struct authq	*q = xcalloc(1, sizeof(*q));

	q->max = max;
	q->tail = &q->head;
	return q;
}

void
authq_free(struct authq **qp)
{
	struct authq	*q = *qp;

	if (q == NULL)
		return;
	if (q->head != NULL || q->running > 0)
		abort();	/* a session freed without authq_cancel, or a job lost */
	free(q);
	*qp = NULL;
}

static void	job_work(void *arg);
static void	job_done(void *arg);

/* Submit waiting checks while there is room. */
static void
run_waiting(struct authq *q)
{
	struct authq_job	*job;

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
	struct authq_job	*job = arg;

	job->work(job->arg);
}

static void
job_done(void *arg)
{
	struct authq_job	*job = arg;
	struct authq		*q = job->q;

	q->running--;
	job->done(job->arg);
	free(job);
	run_waiting(q);
}

void
authq_submit(struct authq *q, struct session_host *host, void (*work)(void *arg),
    void (*done)(void *arg), void *arg)
{
	struct authq_job	*job = xcalloc(1, sizeof(*job));

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
authq_cancel(struct authq *q, void *arg)
{
	struct authq_job	**jp, *job;

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
authq_stop(struct authq *q)
{
	q->stopped = true;
}

void
authq_set_max(struct authq *q, unsigned max)
{
	q->max = max;
	run_waiting(q);
}

unsigned
authq_running(const struct authq *q)
{
	return q->running;
}

size_t
authq_waiting(const struct authq *q)
{
	return q->nwaiting;
}
