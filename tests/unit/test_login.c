/*
 * lib/login.c: the outcome and the answer time of a check, the time fixed
 * before the check, outcomes recorded, blocked addresses, cancel before and
 * while the check runs.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include "lib/authfail.h"
#include "lib/turnq.h"
#include "lib/directory.h"
#include "lib/login.h"
#include "lib/session.h"
#include "lib/xmalloc.h"
#include "mail/address.h"

#include <sys/stat.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define ADDR	"192.0.2.7"
#define DELAY	1000	/* ms per recent failure */

/* A host whose submit queues the job until the test runs it. */
struct job {
	void	(*work)(void *arg);
	void	(*done)(void *arg);
	void	*arg;
};

static struct job		 queued;
static size_t			 nqueued;
static uint64_t			 clock_ms = 5000;
static struct login_result	 got;
static char			 got_user[64];
static int			 ndone;

static void
fake_submit(struct session_host *h, void (*work)(void *), void (*done)(void *), void *arg)
{
	(void)h;
	assert_int_equal(nqueued, 0);
	queued = (struct job){ work, done, arg };
	nqueued = 1;
}

static const struct session_host_ops	fake_ops = { .submit = fake_submit };
static struct session_host		host = { &fake_ops };

static uint64_t
fake_now(void)
{
	return clock_ms;
}

static void
done(void *arg, const struct login_result *r)
{
	assert_ptr_equal(arg, &host);
	got = *r;
	snprintf(got_user, sizeof(got_user), "%s", r->user);
	ndone++;
}

struct fx {
	char			 root[32];
	struct directory	*dir;
	struct turnq		*q;
	struct authfail		*af;
	struct login_env	 env;
};

static int
setup(void **state)
{
	struct fx			*fx = xcalloc(1, sizeof(*fx));
	struct authfail_settings	 set = { 16, 3, DELAY, 60000, false };
	const char			*error;
	char				*pw, *path;
	FILE				*f;

	strcpy(fx->root, "/tmp/test_login.XXXXXX");
	assert_non_null(mkdtemp(fx->root));
	path = xasprintf("%s/domains", fx->root);
	assert_non_null(f = fopen(path, "w"));
	fputs("example.test\n", f);
	assert_int_equal(fclose(f), 0);
	free(path);
	path = xasprintf("%s/passwd", fx->root);
	assert_non_null(f = fopen(path, "w"));
	pw = password_hash("alice-pw");
	fprintf(f, "alice@example.test:%s::::::\n", pw);
	free(pw);
	assert_int_equal(fclose(f), 0);
	free(path);
	fx->dir = directory_load(fx->root, &address_user_syntax, &error);
	assert_non_null(fx->dir);
	fx->q = turnq_new(1);
	fx->af = authfail_new(&set, -1);
	fx->env = (struct login_env){ fx->q, fx->af, fake_now };
	nqueued = 0;
	ndone = 0;
	*state = fx;
	return 0;
}

static int
teardown(void **state)
{
	struct fx	*fx = *state;
	char		*cmd = xasprintf("rm -rf %s", fx->root);

	assert_int_equal(system(cmd), 0);
	free(cmd);
	directory_free(&fx->dir);
	turnq_free(&fx->q);
	authfail_free(&fx->af);
	free(fx);
	return 0;
}

static void
run_queued(void)
{
	assert_int_equal(nqueued, 1);
	nqueued = 0;
	queued.work(queued.arg);
	queued.done(queued.arg);
}

static void
check(struct fx *fx, const char *user, const char *password)
{
	struct login	*l;

	l = login_start(&fx->env, &host, ADDR, fx->dir, user, password, done, &host);
	assert_non_null(l);
	assert_int_equal(ndone, 0);		/* nothing before the workq ran it */
	run_queued();
	assert_int_equal(ndone, 1);
	ndone = 0;
}

static void
test_outcome_and_answer_time(void **state)
{
	struct fx	*fx = *state;

	check(fx, "alice@example.test", "alice-pw");
	assert_non_null(got.u);
	assert_string_equal(got.u->address, "alice@example.test");
	assert_int_equal(got.answer_at, clock_ms);	/* no failures yet: at once */

	check(fx, "alice@example.test", "wrong");
	assert_null(got.u);
	assert_string_equal(got_user, "alice@example.test");
	check(fx, "nobody@example.test", "x");
	assert_null(got.u);
	/* Two failures recorded: the next answer, good or bad, waits 2 s, fixed at the start. */
	assert_int_equal(login_delay(&fx->env, clock_ms + 2 * DELAY), 2 * DELAY);
	assert_non_null(login_start(&fx->env, &host, ADDR, fx->dir, "alice@example.test",
	    "alice-pw", done, &host));
	clock_ms += 300;	/* the check takes a while */
	run_queued();
	assert_non_null(got.u);
	assert_int_equal(got.answer_at, clock_ms - 300 + 2 * DELAY);
	assert_int_equal(login_delay(&fx->env, got.answer_at), 2 * DELAY - 300);
	clock_ms += 10 * DELAY;
	assert_int_equal(login_delay(&fx->env, got.answer_at), 0);
}

static void
test_blocked(void **state)
{
	struct fx	*fx = *state;
	uint64_t	 delay;
	int		 i;

	assert_false(login_blocked(&fx->env, ADDR, &delay));
	assert_int_equal(delay, 0);
	for (i = 0; i < 3; i++)
		check(fx, "alice@example.test", "wrong");
	assert_true(login_blocked(&fx->env, ADDR, &delay));
	assert_true(delay > 0);
	assert_true(login_blocked(&fx->env, ADDR, NULL));
	assert_false(login_blocked(&fx->env, "192.0.2.8", NULL));
	/* No table: never blocked, never delayed. */
	fx->env.authfail = NULL;
	assert_false(login_blocked(&fx->env, ADDR, &delay));
	assert_int_equal(delay, 0);
}

/* No directory (not loaded): every check fails, and is recorded. */
static void
test_no_directory(void **state)
{
	struct fx	*fx = *state;

	assert_non_null(login_start(&fx->env, &host, ADDR, NULL, "alice@example.test",
	    "alice-pw", done, &host));
	run_queued();
	assert_int_equal(ndone, 1);
	assert_null(got.u);
	assert_true(authfail_delay(fx->af, ADDR, clock_ms) > 0);
}

static void
test_cancel(void **state)
{
	struct fx	*fx = *state;
	struct login	*a, *b;

	/* authq runs one at a time: b waits; cancelled, it never runs. */
	a = login_start(&fx->env, &host, ADDR, fx->dir, "alice@example.test", "wrong", done,
	    &host);
	b = login_start(&fx->env, &host, ADDR, fx->dir, "alice@example.test", "alice-pw", done,
	    &host);
	assert_int_equal(turnq_waiting(fx->q), 1);
	login_cancel(&b);
	assert_null(b);
	assert_int_equal(turnq_waiting(fx->q), 0);
	/* a is running: cancelled, its done never comes and nothing is recorded. */
	login_cancel(&a);
	assert_null(a);
	run_queued();
	assert_int_equal(ndone, 0);
	assert_int_equal(nqueued, 0);
	assert_int_equal(turnq_running(fx->q), 0);
	assert_int_equal(authfail_delay(fx->af, ADDR, clock_ms), 0);
	login_cancel(&a);	/* twice: nothing */
}

static void
test_drop_waiting(void **state)
{
	struct fx	*fx = *state;
	struct login	*a, *b;

	a = login_start(&fx->env, &host, ADDR, fx->dir, "alice@example.test", "wrong", done,
	    &host);
	b = login_start(&fx->env, &host, ADDR, fx->dir, "alice@example.test", "alice-pw", done,
	    &host);
	/* b waits its turn: dropped unchecked. */
	assert_true(login_drop_waiting(&b));
	assert_null(b);
	assert_int_equal(turnq_waiting(fx->q), 0);
	/* a runs already: kept, its done comes and its failure is recorded. */
	assert_false(login_drop_waiting(&a));
	assert_non_null(a);
	run_queued();
	assert_int_equal(ndone, 1);
	assert_null(got.u);
	assert_int_equal(nqueued, 0);
	assert_true(authfail_delay(fx->af, ADDR, clock_ms) > 0);
	ndone = 0;
	b = NULL;
	assert_false(login_drop_waiting(&b));	/* none: nothing */
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_outcome_and_answer_time, setup, teardown),
		cmocka_unit_test_setup_teardown(test_blocked, setup, teardown),
		cmocka_unit_test_setup_teardown(test_no_directory, setup, teardown),
		cmocka_unit_test_setup_teardown(test_cancel, setup, teardown),
		cmocka_unit_test_setup_teardown(test_drop_waiting, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
