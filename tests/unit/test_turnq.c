/* lib/turnq.c: the bound, FIFO order, cancel (waiting or running), a new bound, stop, inline runs. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include "lib/turnq.h"
#include "lib/session.h"

#include <stdbool.h>
#include <string.h>

/* A host whose submit queues the job until the test runs it (or runs it at once: inline). */
struct job {
	void	(*work)(void *arg);
	void	(*done)(void *arg);
	void	*arg;
};

static struct job	submitted[16];
static size_t		nsubmitted;
static bool		inline_run;	/* like a workq with io_threads = 0 */
static int		order[16];	/* ids in the order their done ran */
static size_t		norder;

static void
fake_submit(struct session_host *h, void (*work)(void *), void (*done)(void *), void *arg)
{
	(void)h;
	if (inline_run) {
		work(arg);
		done(arg);
		return;
	}
	assert_true(nsubmitted < 16);
	submitted[nsubmitted++] = (struct job){ work, done, arg };
}

static const struct session_host_ops	fake_ops = { .submit = fake_submit };
static struct session_host		host = { &fake_ops };

struct check {
	int	id;
	bool	worked;
};

static void
check_work(void *arg)
{
	((struct check *)arg)->worked = true;
}

static void
check_done(void *arg)
{
	order[norder++] = ((struct check *)arg)->id;
}

/* Run the oldest submitted job (work, then done). */
static void
run_first(void)
{
	struct job	j;

	assert_true(nsubmitted > 0);
	j = submitted[0];
	memmove(submitted, submitted + 1, --nsubmitted * sizeof(submitted[0]));
	j.work(j.arg);
	j.done(j.arg);
}

static void
reset(void)
{
	nsubmitted = norder = 0;
	inline_run = false;
}

static void
test_bound_and_order(void **state)
{
	struct turnq	*q = turnq_new(2);
	struct check	 c[5] = { { 0 }, { 1 }, { 2 }, { 3 }, { 4 } };
	int		 i;

	(void)state;
	reset();
	for (i = 0; i < 5; i++)
		turnq_submit(q, &host, check_work, check_done, &c[i]);
	assert_int_equal(nsubmitted, 2);
	assert_int_equal(turnq_running(q), 2);
	assert_int_equal(turnq_waiting(q), 3);
	/* A session gone before its turn: dropped, never run. */
	assert_true(turnq_cancel(q, &c[2]));
	/* A session gone while its check runs: done still comes. */
	assert_false(turnq_cancel(q, &c[0]));
	while (nsubmitted > 0) {
		run_first();
		assert_true(turnq_running(q) <= 2);
	}
	assert_int_equal(norder, 4);
	assert_int_equal(order[0], 0);
	assert_int_equal(order[1], 1);
	assert_int_equal(order[2], 3);		/* first come, first served */
	assert_int_equal(order[3], 4);
	assert_false(c[2].worked);
	assert_int_equal(turnq_running(q), 0);
	assert_int_equal(turnq_waiting(q), 0);
	turnq_free(&q);
	assert_null(q);
	turnq_free(&q);
}

static void
test_set_max_and_unbounded(void **state)
{
	struct turnq	*q = turnq_new(1);
	struct check	 c[4] = { { 0 }, { 1 }, { 2 }, { 3 } };
	int		 i;

	(void)state;
	reset();
	for (i = 0; i < 4; i++)
		turnq_submit(q, &host, check_work, check_done, &c[i]);
	assert_int_equal(nsubmitted, 1);
	turnq_set_max(q, 3);		/* a reload: the waiting start at once */
	assert_int_equal(nsubmitted, 3);
	turnq_set_max(q, 0);		/* no bound */
	assert_int_equal(nsubmitted, 4);
	while (nsubmitted > 0)
		run_first();
	turnq_free(&q);
}

/* With io_threads = 0 done runs inside submit: the count stays right, nothing recurses. */
static void
test_inline_done(void **state)
{
	struct turnq	*q = turnq_new(1);
	struct check	 c[3] = { { 0 }, { 1 }, { 2 } };
	int		 i;

	(void)state;
	reset();
	inline_run = true;
	for (i = 0; i < 3; i++) {
		turnq_submit(q, &host, check_work, check_done, &c[i]);
		assert_int_equal(turnq_running(q), 0);
	}
	assert_int_equal(norder, 3);
	turnq_free(&q);
}

/* Stopping: nothing more starts; the waiting ones are cancelled by their sessions. */
static void
test_stop(void **state)
{
	struct turnq	*q = turnq_new(1);
	struct check	 c[2] = { { 0 }, { 1 } };

	(void)state;
	reset();
	turnq_submit(q, &host, check_work, check_done, &c[0]);
	turnq_submit(q, &host, check_work, check_done, &c[1]);
	turnq_stop(q);
	run_first();
	assert_int_equal(nsubmitted, 0);	/* c[1] was not started */
	assert_true(turnq_cancel(q, &c[1]));
	assert_false(turnq_cancel(q, &c[1]));
	turnq_free(&q);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_bound_and_order),
		cmocka_unit_test(test_set_max_and_unbounded),
		cmocka_unit_test(test_inline_done),
		cmocka_unit_test(test_stop),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
