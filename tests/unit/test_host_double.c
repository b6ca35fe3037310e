/*
 * tests/unit/host_double: the ordering the unit tests and fuzzers rely on.
 * Nothing a session asks for runs inside the asking call; timers follow
 * the manual clock and fire once; jobs run work then done on run(); input
 * waits while the session pauses, streams or has its output at the mark;
 * a watched descriptor's callback runs when the test says it is readable.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "lib/buf.h"
#include "lib/session.h"
#include "tests/unit/host_double.h"

#include <stdlib.h>
#include <string.h>

struct toy {
	struct session_host	*host;
	struct buf		*out;
	enum session_want	 want;
	unsigned		 ticks, jobs_done, wakes, inputs;
	unsigned		 left;		/* STREAM: lines to go */
	bool			 inside;	/* inside a call from the host */
};

static void
toy_tick(void *arg)
{
	struct toy	*t = arg;

	assert_false(t->inside);
	t->ticks++;
	buf_puts(t->out, "tick\r\n");
}

static void
toy_work(void *arg)
{
	assert_false(((struct toy *)arg)->inside);
}

static void
toy_done(void *arg)
{
	struct toy	*t = arg;

	assert_false(t->inside);
	t->jobs_done++;
	t->want = SESSION_READ;
	buf_puts(t->out, "done\r\n");
	session_host_kick(t->host);
}

static void
toy_woke(void *arg)
{
	((struct toy *)arg)->wakes++;
}

static bool
toy_more(void *arg)
{
	struct toy	*t = arg;

	for (; t->left > 0; t->left--) {
		if (session_host_output_full(t->host))
			return false;
		buf_puts(t->out, "0123456789abcdefghijklmnopqrstuvwxyz\r\n");
	}
	buf_puts(t->out, ".\r\n");
	return true;
}

static void *
toy_open(const struct session_peer *peer, struct buf *out, struct session_host *host, void *arg)
{
	struct toy	*t = calloc(1, sizeof(*t));

	t->host = host;
	t->out = out;
	t->want = SESSION_READ;
	return t;
}

/* One line a call: TIMER, JOB, WATCH, STREAM, or anything (echoed). */
static size_t
toy_input(void *arg, const char *data, size_t len)
{
	struct toy	*t = arg;
	const char	*nl = memchr(data, '\n', len);
	size_t		 n;

	if (nl == NULL)
		return 0;
	n = (size_t)(nl - data) + 1;
	t->inputs++;
	t->inside = true;
	if (n == 7 && memcmp(data, "TIMER\r\n", 7) == 0)
		session_host_after(t->host, 100, toy_tick);
	else if (n == 5 && memcmp(data, "JOB\r\n", 5) == 0) {
		t->want = SESSION_PAUSE;
		session_host_submit(t->host, toy_work, toy_done, t);
	} else if (n == 7 && memcmp(data, "WATCH\r\n", 7) == 0)
		session_host_watch(t->host, 0, toy_woke);
	else if (n == 8 && memcmp(data, "STREAM\r\n", 8) == 0) {
		t->left = 100;
		session_host_stream(t->host, toy_more);
	} else
		buf_printf(t->out, "%.*s", (int)n, data);
	t->inside = false;
	return n;
}

static void
toy_timeout(void *arg)
{
	((struct toy *)arg)->want = SESSION_CLOSE;
}

static enum session_want
toy_want(void *arg)
{
	return ((struct toy *)arg)->want;
}

static void
toy_free(void *arg)
{
	free(arg);
}

static const struct session_ops toy_ops = {
	.open		= toy_open,
	.input		= toy_input,
	.timeout	= toy_timeout,
	.want		= toy_want,
	.free		= toy_free,
};

static struct session_peer	 peer = { .id = "0123456789abcdef", .addr = "127.0.0.1" };

static char *
said(struct host_double *d)
{
	struct buf	*got = buf_new(1024 * 1024);
	char		*r;

	host_double_read(d, got);
	r = buf_strdup(got);
	buf_free(&got);
	return r;
}

#define assert_said(d, want) do {		\
	char *s_ = said(d);			\
	assert_string_equal(s_, want);		\
	free(s_);				\
} while (0)

static void
test_timer_job_kick_order(void **state)
{
	struct host_double	*d = host_double_new(64 * 1024);
	struct toy		*t = host_double_open(d, &toy_ops, &peer, NULL);

	(void)state;
	host_double_input(d, "TIMER\r\nJOB\r\nafter\r\n", 19);
	/* The job is queued, the session paused, "after" held. */
	assert_int_equal(host_double_jobs(d), 1);
	assert_int_equal(t->jobs_done, 0);
	assert_int_equal(host_double_held(d), 7);
	host_double_run(d);
	assert_int_equal(t->jobs_done, 1);
	assert_said(d, "done\r\nafter\r\n");
	/* The timer follows the manual clock, and fires once. */
	host_double_advance(d, 99);
	assert_int_equal(t->ticks, 0);
	host_double_advance(d, 1);
	assert_int_equal(t->ticks, 1);
	host_double_advance(d, 1000);
	assert_int_equal(t->ticks, 1);
	assert_said(d, "tick\r\n");
	host_double_free(&d);
}

static void
test_back_pressure_and_stream(void **state)
{
	struct host_double	*d = host_double_new(4096);	/* mark: 1 KB */
	struct buf		*in = buf_new(64 * 1024);
	struct toy		*t = host_double_open(d, &toy_ops, &peer, NULL);
	int			 i;

	(void)state;
	for (i = 0; i < 1000; i++)
		buf_puts(in, "line\r\n");
	host_double_input(d, buf_head(in), buf_len(in));
	/* Fed up to the mark only: the rest waits for the client to read. */
	assert_true(buf_len(host_double_output(d)) >= 1024);
	assert_true(buf_len(host_double_output(d)) < 1024 + 6);
	assert_true(host_double_held(d) > 0);
	host_double_pump(d, NULL);
	assert_int_equal(host_double_held(d), 0);
	assert_int_equal(t->inputs, 1000);
	/* A stream: more() up to the mark, again after each read; input waits. */
	host_double_input(d, "STREAM\r\nnext\r\n", 14);
	assert_true(host_double_streaming(d));
	assert_true(t->left > 0);
	assert_int_equal(host_double_held(d), 6);
	host_double_pump(d, in);
	assert_false(host_double_streaming(d));
	assert_int_equal(t->left, 0);
	assert_int_equal(host_double_held(d), 0);
	assert_int_equal(buf_len(in), 1000 * 6 + 100 * 38 + 3 + 6);
	buf_free(&in);
	host_double_free(&d);
}

static void
test_watch_deadline_and_free(void **state)
{
	struct host_double	*d = host_double_new(4096);
	struct toy		*t = host_double_open(d, &toy_ops, &peer, NULL);

	(void)state;
	host_double_readable(d);		/* nothing watched yet */
	host_double_input(d, "WATCH\r\n", 7);
	host_double_readable(d);
	host_double_readable(d);
	assert_int_equal(t->wakes, 2);
	/* No deadline set: the clock never times the session out. */
	host_double_advance(d, 1000000);
	assert_int_equal(host_double_want(d), SESSION_READ);
	session_host_set_timeout(host_double_host(d), 50);
	assert_int_equal(host_double_deadline(d), 50);
	host_double_advance(d, 50);
	assert_int_equal(host_double_want(d), SESSION_CLOSE);
	/* Closed: nothing more is read. */
	assert_int_equal(host_double_input(d, "x\r\n", 3), 0);
	host_double_free(&d);
	/* A timer pending when the session goes is dropped with it (ASan: no use after free). */
	d = host_double_new(4096);
	host_double_open(d, &toy_ops, &peer, NULL);
	host_double_input(d, "TIMER\r\n", 7);
	host_double_free(&d);
	assert_null(d);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_timer_job_kick_order),
		cmocka_unit_test(test_back_pressure_and_stream),
		cmocka_unit_test(test_watch_deadline_and_free),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
