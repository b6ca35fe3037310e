/*
 * queue/queue_state.c: recipients' outcomes, hold and flags survive a
 * reload; nothing is on disk before a commit; a torn or malformed tail is
 * dropped and cut before the next append; one fsync per commit (two for a
 * new log); queue_remove takes the message and its log, and queue_open
 * removes a log whose message is gone.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "lib/commit.h"
#include "queue/queue.h"
#include "queue/queue_state.h"

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static char		 root[64];
static struct queue	*q;

static void
path(char *out, size_t size, const char *sub, const char *name)
{
	snprintf(out, size, "%s/q/%s/%s", root, sub, name);
}

static bool
exists(const char *sub, const char *name)
{
	char	p[160];

	path(p, sizeof(p), sub, name);
	return access(p, F_OK) == 0;
}

static void
append_bytes(const char *name, const void *data, size_t len)
{
	char	p[160];
	int	fd;

	path(p, sizeof(p), "state", name);
	fd = open(p, O_WRONLY | O_APPEND);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, data, len), (ssize_t)len);
	close(fd);
}

static int
setup(void **state)
{
	char	p[160];
	int	fd;

	(void)state;
	snprintf(root, sizeof(root), "/tmp/test_qstate.XXXXXX");
	if (mkdtemp(root) == NULL)
		return -1;
	snprintf(p, sizeof(p), "%s/q", root);
	q = queue_open(p, NULL);
	assert_non_null(q);
	path(p, sizeof(p), "active", "m1");	/* a message's file, as publish leaves it */
	fd = open(p, O_WRONLY | O_CREAT, 0600);
	assert_true(fd >= 0);
	close(fd);
	return 0;
}

static int
teardown(void **state)
{
	char	cmd[128];

	(void)state;
	queue_close(&q);
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", root);
	return system(cmd) == 0 ? 0 : -1;
}

static struct queue_state *
load(size_t nrcpts)
{
	const char		*err = NULL;
	struct queue_state	*st = queue_state_load(q, "m1", nrcpts, &err);

	assert_non_null(st);
	return st;
}

static void
test_fresh_message(void **state)
{
	struct queue_state	*st = load(2);

	(void)state;
	for (size_t i = 0; i < 2; i++) {
		assert_int_equal(queue_state_rcpt(st, i)->status, QUEUE_RCPT_PENDING);
		assert_int_equal(queue_state_rcpt(st, i)->attempts, 0);
		assert_null(queue_state_rcpt(st, i)->why);
	}
	assert_false(queue_state_held(st));
	assert_false(queue_state_done(st));
	assert_int_equal(queue_state_commit(st, NULL), 0);	/* nothing to write */
	assert_false(exists("state", "m1"));
	queue_state_free(&st);
}

static void
test_survives_reload(void **state)
{
	struct queue_state	*st = load(3);
	uint64_t		 fsyncs = commit_fsync_count();

	(void)state;
	queue_state_set(st, 0, QUEUE_RCPT_DELIVERED, 1000, 0, "mx.example.org", "250 2.0.0 queued as A1");
	queue_state_set(st, 1, QUEUE_RCPT_DEFERRED, 1000, 1300, NULL, "451 4.7.1 greylisted");
	queue_state_hold(st, true);
	queue_state_flag(st, QUEUE_FLAG_WARNED);
	assert_false(exists("state", "m1"));			/* not before the commit */
	assert_int_equal(queue_state_commit(st, NULL), 0);
	assert_int_equal(commit_fsync_count() - fsyncs, 2);	/* the log and state/ */
	queue_state_free(&st);

	st = load(3);
	assert_int_equal(queue_state_rcpt(st, 0)->status, QUEUE_RCPT_DELIVERED);
	assert_string_equal(queue_state_rcpt(st, 0)->why, "250 2.0.0 queued as A1");
	assert_string_equal(queue_state_rcpt(st, 0)->host, "mx.example.org");
	assert_null(queue_state_rcpt(st, 1)->host);
	assert_int_equal(queue_state_rcpt(st, 1)->status, QUEUE_RCPT_DEFERRED);
	assert_int_equal(queue_state_rcpt(st, 1)->next_attempt, 1300);
	assert_int_equal(queue_state_rcpt(st, 1)->last_attempt, 1000);
	assert_int_equal(queue_state_rcpt(st, 1)->attempts, 1);
	assert_int_equal(queue_state_rcpt(st, 2)->status, QUEUE_RCPT_PENDING);
	assert_true(queue_state_held(st));
	assert_int_equal(queue_state_flags(st), QUEUE_FLAG_WARNED);

	fsyncs = commit_fsync_count();
	queue_state_set(st, 1, QUEUE_RCPT_FAILED, 1300, 0, NULL, "550 5.1.1 no such user");
	queue_state_set(st, 2, QUEUE_RCPT_FAILED, 1300, 0, NULL, NULL);
	queue_state_hold(st, false);
	queue_state_flag(st, QUEUE_FLAG_BOUNCED);
	assert_int_equal(queue_state_commit(st, NULL), 0);
	assert_int_equal(commit_fsync_count() - fsyncs, 1);
	queue_state_free(&st);

	st = load(3);
	assert_true(queue_state_done(st));
	assert_int_equal(queue_state_rcpt(st, 1)->attempts, 2);
	assert_string_equal(queue_state_rcpt(st, 1)->why, "550 5.1.1 no such user");
	assert_null(queue_state_rcpt(st, 2)->why);
	assert_false(queue_state_held(st));
	assert_int_equal(queue_state_flags(st), QUEUE_FLAG_WARNED | QUEUE_FLAG_BOUNCED);
	queue_state_free(&st);
}

/* A crash mid-append, or a record that makes no sense: the tail is dropped. */
static void
test_torn_and_bad_tails(void **state)
{
	static const char	torn[] = { 'R', 0, 0, 0, 40, '0', ' ', '2' };
	static const char	bad[] = { 'R', 0, 0, 0, 11, '7', ' ', '2', ' ', '1', ' ', '0', ' ', '0', '\0', '\0' };
	struct queue_state	*st = load(2);

	(void)state;
	queue_state_set(st, 0, QUEUE_RCPT_DEFERRED, 10, 20, NULL, "421 later");
	assert_int_equal(queue_state_commit(st, NULL), 0);
	queue_state_free(&st);

	append_bytes("m1", torn, sizeof(torn));
	st = load(2);
	assert_int_equal(queue_state_rcpt(st, 0)->status, QUEUE_RCPT_DEFERRED);
	assert_int_equal(queue_state_rcpt(st, 1)->status, QUEUE_RCPT_PENDING);
	queue_state_set(st, 1, QUEUE_RCPT_DELIVERED, 30, 0, NULL, "250 ok");
	assert_int_equal(queue_state_commit(st, NULL), 0);	/* cuts the torn bytes first */
	queue_state_free(&st);
	st = load(2);
	assert_int_equal(queue_state_rcpt(st, 1)->status, QUEUE_RCPT_DELIVERED);
	queue_state_free(&st);

	append_bytes("m1", bad, sizeof(bad));	/* recipient 7 of 2 */
	st = load(2);
	assert_int_equal(queue_state_rcpt(st, 0)->status, QUEUE_RCPT_DEFERRED);
	assert_int_equal(queue_state_rcpt(st, 1)->status, QUEUE_RCPT_DELIVERED);
	queue_state_set(st, 0, QUEUE_RCPT_DELIVERED, 40, 0, NULL, "250 ok");
	assert_int_equal(queue_state_commit(st, NULL), 0);
	queue_state_free(&st);
	st = load(2);
	assert_true(queue_state_done(st));
	queue_state_free(&st);
}

static void
test_long_reason_is_cut(void **state)
{
	char			 why[3000];
	struct queue_state	*st = load(1);

	(void)state;
	memset(why, 'x', sizeof(why) - 1);
	why[sizeof(why) - 1] = '\0';
	queue_state_set(st, 0, QUEUE_RCPT_FAILED, 1, 0, NULL, why);
	assert_int_equal(queue_state_commit(st, NULL), 0);
	queue_state_free(&st);
	st = load(1);
	assert_int_equal(strlen(queue_state_rcpt(st, 0)->why), 1000);
	queue_state_free(&st);
}

static void
test_remove(void **state)
{
	struct queue_state	*st = load(1);
	const char		*err = NULL;
	char			 p[160];
	int			 fd;

	(void)state;
	queue_state_set(st, 0, QUEUE_RCPT_DELIVERED, 1, 0, NULL, "250 ok");
	assert_int_equal(queue_state_commit(st, NULL), 0);
	queue_state_free(&st);
	assert_int_equal(queue_remove(q, "m1", &err), 0);
	assert_false(exists("active", "m1"));
	assert_false(exists("state", "m1"));
	assert_int_equal(queue_remove(q, "m1", &err), -1);	/* twice: an error */
	assert_non_null(strstr(err, "m1"));

	/* a log left by a crash between the two unlinks goes at the next open */
	path(p, sizeof(p), "state", "m2");
	fd = open(p, O_WRONLY | O_CREAT, 0600);
	assert_true(fd >= 0);
	close(fd);
	queue_close(&q);
	snprintf(p, sizeof(p), "%s/q", root);
	q = queue_open(p, NULL);
	assert_non_null(q);
	assert_false(exists("state", "m2"));
}

int
main(void)
{
	const struct CMUnitTest	tests[] = {
		cmocka_unit_test_setup_teardown(test_fresh_message, setup, teardown),
		cmocka_unit_test_setup_teardown(test_survives_reload, setup, teardown),
		cmocka_unit_test_setup_teardown(test_torn_and_bad_tails, setup, teardown),
		cmocka_unit_test_setup_teardown(test_long_reason_is_cut, setup, teardown),
		cmocka_unit_test_setup_teardown(test_remove, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
