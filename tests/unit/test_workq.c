/*
 * lib/workq: work on pool threads, done on the loop thread in submission
 * order, synchronous mode, and workq_free finishing what was queued.
 */
#include "lib/workq.h"
#include "lib/ev.h"
#include "lib/xmalloc.h"

#include <pthread.h>
#include <stdatomic.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>
#include <cmocka.h>

#define NJOBS	200

struct ctx {
	struct ev_loop	*loop;
	pthread_t	 loop_thread;
	int		 done_order[NJOBS];
	int		 ndone;
	int		 expect;
	atomic_int	 nworked;	/* jobs whose work has run */
};

struct job {
	struct ctx	*ctx;
	int		 id;
	pthread_t	 ran_on;
	int		 worked;
};

static void
work(void *arg)
{
	struct job	*j = arg;
	struct timespec	 ts = { 0, (j->id % 5) * 200000L };

	/* uneven durations so threads finish out of order */
	nanosleep(&ts, NULL);
	j->ran_on = pthread_self();
	j->worked++;
	atomic_fetch_add(&j->ctx->nworked, 1);
}

static void
done(void *arg)
{
	struct job	*j = arg;
	struct ctx	*c = j->ctx;

	assert_true(pthread_equal(pthread_self(), c->loop_thread));
	assert_int_equal(j->worked, 1);
	c->done_order[c->ndone++] = j->id;
	if (c->ndone == c->expect)
		ev_loop_break(c->loop);
}

static void
watchdog(void *arg)
{
	fail_msg("watchdog: jobs did not complete");
}

static void
test_pool(void **state)
{
	struct ctx	 c = { 0 };
	struct workq	*wq;
	struct job	*jobs;
	struct ev_timer	*wd;
	bool		 off_loop = false;
	int		 i;

	(void)state;
	c.loop = ev_loop_new();
	c.loop_thread = pthread_self();
	c.expect = NJOBS;
	wd = ev_timer_new(c.loop, watchdog, NULL);
	ev_timer_set(wd, 10000);
	wq = workq_new(c.loop, 4);
	jobs = xcalloc(NJOBS, sizeof(*jobs));
	for (i = 0; i < NJOBS; i++) {
		jobs[i] = (struct job){ .ctx = &c, .id = i };
		workq_submit(wq, work, done, &jobs[i]);
	}
	assert_int_equal(ev_loop_run(c.loop), 0);
	assert_int_equal(c.ndone, NJOBS);
	for (i = 0; i < NJOBS; i++) {
		assert_int_equal(jobs[i].worked, 1);
		if (!pthread_equal(jobs[i].ran_on, c.loop_thread))
			off_loop = true;
	}
	assert_true(off_loop);
	workq_free(&wq);
	assert_null(wq);
	free(jobs);
	ev_timer_free(&wd);
	ev_loop_free(&c.loop);
}

/* Within one wake-up, done callbacks come in submission order. */
static void
test_batch_order(void **state)
{
	struct ctx	 c = { 0 };
	struct workq	*wq;
	struct job	 jobs[50];
	struct ev_timer	*wd;
	int		 i;

	(void)state;
	c.loop = ev_loop_new();
	c.loop_thread = pthread_self();
	c.expect = 50;
	wd = ev_timer_new(c.loop, watchdog, NULL);
	ev_timer_set(wd, 10000);
	wq = workq_new(c.loop, 3);
	for (i = 0; i < 50; i++) {
		jobs[i] = (struct job){ .ctx = &c, .id = i };
		workq_submit(wq, work, done, &jobs[i]);
	}
	/* let every job finish before the loop looks: one batch */
	for (i = 0; i < 10000 && atomic_load(&c.nworked) < 50; i++)
		usleep(1000);
	assert_int_equal(atomic_load(&c.nworked), 50);
	assert_int_equal(ev_loop_run(c.loop), 0);
	for (i = 0; i < 50; i++)
		assert_int_equal(c.done_order[i], i);
	workq_free(&wq);
	ev_timer_free(&wd);
	ev_loop_free(&c.loop);
}

static void
test_synchronous(void **state)
{
	struct ctx	 c = { 0 };
	struct workq	*wq;
	struct job	 j;

	(void)state;
	c.loop = ev_loop_new();
	c.loop_thread = pthread_self();
	c.expect = -1;
	wq = workq_new(c.loop, 0);
	j = (struct job){ .ctx = &c, .id = 7 };
	workq_submit(wq, work, done, &j);
	/* both already ran, on this thread, before submit returned */
	assert_int_equal(j.worked, 1);
	assert_int_equal(c.ndone, 1);
	assert_true(pthread_equal(j.ran_on, c.loop_thread));
	workq_free(&wq);
	workq_free(&wq);
	ev_loop_free(&c.loop);
}

/* workq_free without running the loop: queued work runs, done is delivered. */
static void
test_free_finishes_queue(void **state)
{
	struct ctx	 c = { 0 };
	struct workq	*wq;
	struct job	 jobs[30];
	int		 i;

	(void)state;
	c.loop = ev_loop_new();
	c.loop_thread = pthread_self();
	c.expect = -1;
	wq = workq_new(c.loop, 2);
	for (i = 0; i < 30; i++) {
		jobs[i] = (struct job){ .ctx = &c, .id = i };
		workq_submit(wq, work, i % 2 ? done : NULL, &jobs[i]);
	}
	workq_free(&wq);
	for (i = 0; i < 30; i++)
		assert_int_equal(jobs[i].worked, 1);
	assert_int_equal(c.ndone, 15);
	for (i = 1; i < 15; i++)
		assert_true(c.done_order[i] > c.done_order[i - 1]);
	ev_loop_free(&c.loop);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_pool),
		cmocka_unit_test(test_batch_order),
		cmocka_unit_test(test_synchronous),
		cmocka_unit_test(test_free_finishes_queue),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
