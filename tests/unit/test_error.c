/* lib/error: the per-thread error text, its lifetime rule and its threads. */
#include "lib/error.h"

#include <errno.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <cmocka.h>

static void
test_sets_text_returns_minus_one(void **state)
{
	const char	*err = NULL;

	(void)state;
	errno = EDQUOT;
	assert_int_equal(err_set(&err, "write %s: %s", "tmp/x", strerror(ENOSPC)), -1);
	assert_string_equal(err, "write tmp/x: No space left on device");
	assert_int_equal(errno, EDQUOT);	/* the caller may still test errno */
	assert_int_equal(err_set(NULL, "nobody asked"), -1);
}

/* The next call may wrap the previous text; the one after reuses its storage. */
static void
test_lifetime_wrap_then_reuse(void **state)
{
	const char	*inner, *outer, *third;

	(void)state;
	err_set(&inner, "open %s: %s", "/m/new", "No such file or directory");
	err_set(&outer, "deliver to %s: %s", "alice", inner);
	assert_string_equal(outer, "deliver to alice: open /m/new: No such file or directory");
	assert_ptr_not_equal(inner, outer);
	err_set(&third, "third");
	/* inner's storage is gone now: a caller keeping a text copies it. */
	assert_ptr_equal(third, inner);
	assert_string_equal(inner, "third");
	assert_string_equal(outer, "deliver to alice: open /m/new: No such file or directory");
}

static void
test_long_text_is_cut(void **state)
{
	static char	 big[ERR_MAX * 2];
	const char	*err;

	(void)state;
	memset(big, 'a', sizeof(big) - 1);
	err_set(&err, "%s", big);
	assert_int_equal(strlen(err), ERR_MAX - 1);
}

#define ROUNDS	1000

struct racer {
	pthread_barrier_t	*barrier;
	char			 name;
	int			 clobbered;
};

/* Both threads set an error, meet, and check theirs is still theirs. */
static void *
racer_run(void *arg)
{
	struct racer	*r = arg;
	const char	*err;
	char		 want[32];
	int		 i;

	for (i = 0; i < ROUNDS; i++) {
		snprintf(want, sizeof(want), "thread %c round %d", r->name, i);
		err_set(&err, "thread %c round %d", r->name, i);
		pthread_barrier_wait(r->barrier);	/* the other one has set its own */
		if (strcmp(err, want) != 0)
			r->clobbered++;
		pthread_barrier_wait(r->barrier);
	}
	return NULL;
}

static void
test_threads_do_not_clobber(void **state)
{
	pthread_barrier_t	 barrier;
	struct racer		 a = { &barrier, 'A', 0 }, b = { &barrier, 'B', 0 };
	pthread_t		 ta, tb;

	(void)state;
	pthread_barrier_init(&barrier, NULL, 2);
	assert_int_equal(pthread_create(&ta, NULL, racer_run, &a), 0);
	assert_int_equal(pthread_create(&tb, NULL, racer_run, &b), 0);
	pthread_join(ta, NULL);
	pthread_join(tb, NULL);
	pthread_barrier_destroy(&barrier);
	assert_int_equal(a.clobbered, 0);
	assert_int_equal(b.clobbered, 0);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_sets_text_returns_minus_one),
		cmocka_unit_test(test_lifetime_wrap_then_reuse),
		cmocka_unit_test(test_long_text_is_cut),
		cmocka_unit_test(test_threads_do_not_clobber),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
