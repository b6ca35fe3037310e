/* lib/conntab.c: limits per key, a full table, sharing across fork, a dead owner's counts. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include "lib/conntab.h"

#include <sys/wait.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static void
test_limit_per_key(void **state)
{
	struct conntab	*t = conntab_new(64, 1);
	unsigned	 a[3], b, u;

	(void)state;
	assert_int_equal(conntab_acquire(t, CONNTAB_ADDR, "192.0.2.1", 2, &a[0]), CONNTAB_OK);
	assert_int_equal(conntab_acquire(t, CONNTAB_ADDR, "192.0.2.1", 2, &a[1]), CONNTAB_OK);
	assert_int_equal(a[0], a[1]);
	assert_int_equal(conntab_acquire(t, CONNTAB_ADDR, "192.0.2.1", 2, &a[2]), CONNTAB_OVER);
	assert_int_equal(conntab_count(t, CONNTAB_ADDR, "192.0.2.1"), 2);
	/* Another key, and the same spelling of another kind, count apart. */
	assert_int_equal(conntab_acquire(t, CONNTAB_ADDR, "192.0.2.2", 2, &b), CONNTAB_OK);
	assert_int_equal(conntab_acquire(t, CONNTAB_USER, "192.0.2.1", 1, &u), CONNTAB_OK);
	assert_int_not_equal(u, a[0]);
	assert_int_equal(conntab_count(t, CONNTAB_USER, "192.0.2.1"), 1);
	/* A release makes room; the last one frees the key. */
	conntab_release(t, a[0]);
	assert_int_equal(conntab_acquire(t, CONNTAB_ADDR, "192.0.2.1", 2, &a[2]), CONNTAB_OK);
	conntab_release(t, a[1]);
	conntab_release(t, a[2]);
	assert_int_equal(conntab_count(t, CONNTAB_ADDR, "192.0.2.1"), 0);
	conntab_release(t, b);
	conntab_release(t, u);
	conntab_free(&t);
	assert_null(t);
	conntab_free(&t);
}

static void
test_long_keys(void **state)
{
	struct conntab	*t = conntab_new(16, 1);
	char		 key[CONNTAB_KEY_MAX + 2];
	unsigned	 s1, s2;

	(void)state;
	memset(key, 'a', sizeof(key) - 1);
	key[CONNTAB_KEY_MAX] = '\0';			/* the longest that fits */
	assert_int_equal(conntab_acquire(t, CONNTAB_USER, key, 1, &s1), CONNTAB_OK);
	key[CONNTAB_KEY_MAX - 1] = 'b';			/* differs in its last byte */
	assert_int_equal(conntab_acquire(t, CONNTAB_USER, key, 1, &s2), CONNTAB_OK);
	assert_int_not_equal(s1, s2);
	key[CONNTAB_KEY_MAX] = 'a';			/* one byte too long: refused */
	key[CONNTAB_KEY_MAX + 1] = '\0';
	assert_int_equal(conntab_acquire(t, CONNTAB_USER, key, 1, &s1), CONNTAB_FULL);
	conntab_free(&t);
}

/* A full table (one bucket) refuses new keys, still counts the keys it holds, and recovers. */
static void
test_full_table(void **state)
{
	struct conntab	*t = conntab_new(16, 1);
	unsigned	 slots[16], extra, i;
	char		 key[32];

	(void)state;
	for (i = 0; i < 16; i++) {
		snprintf(key, sizeof(key), "198.51.100.%u", i);
		assert_int_equal(conntab_acquire(t, CONNTAB_ADDR, key, 5, &slots[i]), CONNTAB_OK);
	}
	assert_int_equal(conntab_acquire(t, CONNTAB_ADDR, "203.0.113.1", 5, &extra),
	    CONNTAB_FULL);
	/* A key already in holds its slot: it is counted, not refused. */
	assert_int_equal(conntab_acquire(t, CONNTAB_ADDR, "198.51.100.3", 5, &extra), CONNTAB_OK);
	assert_int_equal(extra, slots[3]);
	conntab_release(t, extra);
	conntab_release(t, slots[5]);
	assert_int_equal(conntab_acquire(t, CONNTAB_ADDR, "203.0.113.1", 5, &extra), CONNTAB_OK);
	assert_int_equal(extra, slots[5]);
	conntab_release(t, extra);
	for (i = 0; i < 16; i++)
		if (i != 5)
			conntab_release(t, slots[i]);
	conntab_free(&t);
}

/* A larger table: every window fills before a key is refused, and all are found again. */
static void
test_many_keys(void **state)
{
	struct conntab	*t = conntab_new(4096, 2);
	static unsigned	 slots[3000];
	unsigned	 i;
	char		 key[32];

	(void)state;
	for (i = 0; i < 3000; i++) {
		snprintf(key, sizeof(key), "10.%u.%u.1", i / 256, i % 256);
		assert_int_equal(conntab_acquire(t, CONNTAB_ADDR, key, 1, &slots[i]), CONNTAB_OK);
	}
	for (i = 0; i < 3000; i++) {
		snprintf(key, sizeof(key), "10.%u.%u.1", i / 256, i % 256);
		assert_int_equal(conntab_count(t, CONNTAB_ADDR, key), 1);
		conntab_release(t, slots[i]);
		assert_int_equal(conntab_count(t, CONNTAB_ADDR, key), 0);
	}
	conntab_free(&t);
}

/* A child as owner 1 takes n of key and ends as told: released, exited, or killed. */
static pid_t
child_holds(struct conntab *t, const char *key, unsigned n, bool release, bool hang)
{
	unsigned	 slot = 0, i;
	pid_t		 pid;

	if ((pid = fork()) != 0)
		return pid;
	conntab_set_owner(t, 1);
	for (i = 0; i < n; i++)
		if (conntab_acquire(t, CONNTAB_ADDR, key, 100, &slot) != CONNTAB_OK)
			_exit(2);
	for (i = 0; release && i < n; i++)
		conntab_release(t, slot);
	while (hang)
		pause();
	_exit(0);
}

static void
wait_child(pid_t pid, bool killed)
{
	int	status;

	assert_int_equal(waitpid(pid, &status, 0), pid);
	if (killed)
		assert_true(WIFSIGNALED(status));
	else
		assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
}

static void
test_shared_across_fork(void **state)
{
	struct conntab	*t = conntab_new(64, 2);
	unsigned	 slot;

	(void)state;
	assert_int_equal(conntab_acquire(t, CONNTAB_ADDR, "192.0.2.9", 3, &slot), CONNTAB_OK);
	wait_child(child_holds(t, "192.0.2.9", 2, false, false), false);
	/* The child's two and our one: the limit holds across processes. */
	assert_int_equal(conntab_count(t, CONNTAB_ADDR, "192.0.2.9"), 3);
	assert_int_equal(conntab_acquire(t, CONNTAB_ADDR, "192.0.2.9", 3, &slot), CONNTAB_OVER);
	/* A child that releases what it took leaves nothing behind. */
	wait_child(child_holds(t, "192.0.2.10", 4, true, false), false);
	assert_int_equal(conntab_count(t, CONNTAB_ADDR, "192.0.2.10"), 0);
	assert_int_equal(conntab_reclaim(t, 1), 2);
	conntab_release(t, slot);
	conntab_free(&t);
}

/* A worker killed with connections open: the supervisor's reclaim drops exactly its counts. */
static void
test_dead_owner_reclaimed(void **state)
{
	struct conntab	*t = conntab_new(16, 2);
	unsigned	 mine, slot, i;
	pid_t		 pid;
	char		 key[32];

	(void)state;
	assert_int_equal(conntab_acquire(t, CONNTAB_ADDR, "192.0.2.20", 5, &mine), CONNTAB_OK);
	pid = child_holds(t, "192.0.2.20", 3, false, true);
	while (conntab_count(t, CONNTAB_ADDR, "192.0.2.20") < 4)
		usleep(1000);
	kill(pid, SIGKILL);
	wait_child(pid, true);
	assert_int_equal(conntab_count(t, CONNTAB_ADDR, "192.0.2.20"), 4);	/* until reclaimed */
	assert_int_equal(conntab_reclaim(t, 1), 3);
	assert_int_equal(conntab_count(t, CONNTAB_ADDR, "192.0.2.20"), 1);	/* ours stays */
	assert_int_equal(conntab_reclaim(t, 1), 0);
	/* The slots of keys only the dead owner held are free again: fill the table. */
	pid = child_holds(t, "192.0.2.21", 1, false, false);
	wait_child(pid, false);
	assert_int_equal(conntab_reclaim(t, 1), 1);
	for (i = 0; i < 15; i++) {
		snprintf(key, sizeof(key), "198.51.100.%u", i);
		assert_int_equal(conntab_acquire(t, CONNTAB_ADDR, key, 1, &slot), CONNTAB_OK);
	}
	assert_int_equal(conntab_acquire(t, CONNTAB_ADDR, "203.0.113.1", 1, &slot), CONNTAB_FULL);
	conntab_release(t, mine);
	conntab_free(&t);
}

/*
 * Workers killed at random instants while they hammer the table, some
 * while they hold its mutex: nobody wedges (EOWNERDEAD is recovered), and
 * after each reclaim the counts are exact.
 */
static void
test_killed_while_locked(void **state)
{
	struct conntab	*t = conntab_new(64, 2);
	struct timespec	 ts = { 0, 0 };
	unsigned	 slot, round;
	pid_t		 pid;

	(void)state;
	alarm(60);	/* a wedged mutex fails the test instead of hanging it */
	for (round = 0; round < 50; round++) {
		if ((pid = fork()) == 0) {
			conntab_set_owner(t, 1);
			for (;;) {
				if (conntab_acquire(t, CONNTAB_ADDR, "192.0.2.30", 1000, &slot) ==
				    CONNTAB_OK)
					conntab_release(t, slot);
			}
		}
		ts.tv_nsec = (long)(round % 10) * 100000;
		nanosleep(&ts, NULL);
		kill(pid, SIGKILL);
		wait_child(pid, true);
		assert_int_equal(conntab_acquire(t, CONNTAB_ADDR, "192.0.2.31", 1, &slot),
		    CONNTAB_OK);
		conntab_release(t, slot);
		conntab_reclaim(t, 1);
		assert_int_equal(conntab_count(t, CONNTAB_ADDR, "192.0.2.30"), 0);
	}
	alarm(0);
	conntab_free(&t);
}

/*
 * Spreading: a worker leaves a connection to another only when that one
 * listens and holds more than slack fewer; one that stopped listening, is
 * full (its own limits), or died (the supervisor's reclaim), is never left
 * any.
 */
static void
test_fewer_elsewhere(void **state)
{
	struct conntab	*t = conntab_new(64, 3);

	(void)state;
	conntab_set_owner(t, 1);
	conntab_set_listening(t, true);
	conntab_set_load(t, 2);
	conntab_set_owner(t, 2);
	conntab_set_listening(t, true);
	conntab_set_load(t, 5);
	conntab_set_owner(t, 0);
	conntab_set_listening(t, true);
	conntab_set_load(t, 3);
	assert_false(conntab_fewer_elsewhere(t, 1));	/* 2 is within the slack */
	assert_true(conntab_fewer_elsewhere(t, 0));
	conntab_set_load(t, 4);
	assert_true(conntab_fewer_elsewhere(t, 1));
	conntab_set_owner(t, 1);
	conntab_set_listening(t, false);		/* out of descriptors, stopping */
	conntab_set_owner(t, 0);
	assert_false(conntab_fewer_elsewhere(t, 1));
	conntab_set_owner(t, 1);
	conntab_set_listening(t, true);
	conntab_set_owner(t, 0);
	assert_true(conntab_fewer_elsewhere(t, 1));
	conntab_set_owner(t, 1);
	conntab_set_load(t, CONNTAB_LOAD_FULL);		/* its own limits refuse the next */
	assert_true(conntab_fewer_elsewhere(t, 1));
	conntab_set_owner(t, 0);
	assert_false(conntab_fewer_elsewhere(t, 1));
	conntab_set_owner(t, 1);
	conntab_set_load(t, 2);
	conntab_set_owner(t, 0);
	conntab_reclaim(t, 1);				/* died listening */
	assert_false(conntab_fewer_elsewhere(t, 1));
	conntab_set_owner(t, 2);			/* 5: owner 0 holds 4 */
	assert_false(conntab_fewer_elsewhere(t, 1));
	assert_true(conntab_fewer_elsewhere(t, 0));
	conntab_free(&t);
}

/* The others' loads summed: it moves when another accepts, closes, or dies. */
static void
test_load_elsewhere(void **state)
{
	struct conntab	*t = conntab_new(64, 3);

	(void)state;
	conntab_set_owner(t, 1);
	conntab_set_load(t, 2);
	conntab_set_owner(t, 2);
	conntab_set_load(t, 5);
	conntab_set_owner(t, 0);
	conntab_set_load(t, 3);
	assert_int_equal(conntab_load_elsewhere(t), 7);	/* its own 3 not counted */
	conntab_set_load(t, 9);
	assert_int_equal(conntab_load_elsewhere(t), 7);
	conntab_set_owner(t, 1);
	assert_int_equal(conntab_load_elsewhere(t), 14);
	conntab_set_load(t, 3);				/* accepted one */
	conntab_set_owner(t, 0);
	assert_int_equal(conntab_load_elsewhere(t), 8);
	conntab_reclaim(t, 2);
	assert_int_equal(conntab_load_elsewhere(t), 3);
	conntab_free(&t);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_limit_per_key),
		cmocka_unit_test(test_long_keys),
		cmocka_unit_test(test_full_table),
		cmocka_unit_test(test_many_keys),
		cmocka_unit_test(test_shared_across_fork),
		cmocka_unit_test(test_dead_owner_reclaimed),
		cmocka_unit_test(test_killed_while_locked),
		cmocka_unit_test(test_fewer_elsewhere),
		cmocka_unit_test(test_load_elsewhere),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
