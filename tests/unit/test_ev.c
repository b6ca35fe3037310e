/*
 * lib/ev: fds, timers, signals, deferred calls, and deleting watchers
 * from inside callbacks (run this under valgrind/ASan: a use-after-free
 * there is the bug these tests exist for).
 */
#include "lib/ev.h"
#include "lib/xmalloc.h"

#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <cmocka.h>

struct pipe_w {
	struct ev_loop	*loop;
	int		 fds[2];
	struct ev_io	*io;
	struct pipe_w	*other;
	int		 calls;
	unsigned	 events;
};

static void
pipe_open(struct pipe_w *p, struct ev_loop *loop)
{
	memset(p, 0, sizeof(*p));
	p->loop = loop;
	assert_int_equal(pipe(p->fds), 0);
}

static void
pipe_close(struct pipe_w *p)
{
	ev_io_del(&p->io);
	if (p->fds[0] != -1)
		close(p->fds[0]);
	if (p->fds[1] != -1)
		close(p->fds[1]);
}

/* Safety net: a broken loop fails the test instead of hanging it. */
static void
watchdog(void *arg)
{
	fail_msg("watchdog fired: the loop did not stop");
}

static struct ev_timer *
watchdog_start(struct ev_loop *loop)
{
	struct ev_timer	*t = ev_timer_new(loop, watchdog, NULL);

	ev_timer_set(t, 5000);
	return t;
}

static void
read_and_break(int fd, unsigned events, void *arg)
{
	struct pipe_w	*p = arg;
	char		 c;

	p->calls++;
	p->events = events;
	assert_int_equal(read(fd, &c, 1), 1);
	ev_loop_break(p->loop);
}

static void
test_io_read(void **state)
{
	struct ev_loop	*loop = ev_loop_new();
	struct ev_timer	*wd = watchdog_start(loop);
	struct pipe_w	 p;

	(void)state;
	pipe_open(&p, loop);
	p.io = ev_io_add(loop, p.fds[0], EV_READ, read_and_break, &p);
	assert_non_null(p.io);
	assert_int_equal(write(p.fds[1], "x", 1), 1);
	assert_int_equal(ev_loop_run(loop), 0);
	assert_int_equal(p.calls, 1);
	assert_int_equal(p.events, EV_READ);
	/* level-triggered: a second byte is a second call */
	assert_int_equal(write(p.fds[1], "y", 1), 1);
	assert_int_equal(ev_loop_run(loop), 0);
	assert_int_equal(p.calls, 2);
	pipe_close(&p);
	ev_timer_free(&wd);
	ev_loop_free(&loop);
	assert_null(loop);
}

static void
hup_cb(int fd, unsigned events, void *arg)
{
	struct pipe_w	*p = arg;

	p->calls++;
	p->events = events;
	ev_io_del(&p->io);		/* its own watcher */
	ev_loop_break(p->loop);
}

static void
test_hangup_and_own_delete(void **state)
{
	struct ev_loop	*loop = ev_loop_new();
	struct ev_timer	*wd = watchdog_start(loop);
	struct pipe_w	 p;

	(void)state;
	pipe_open(&p, loop);
	p.io = ev_io_add(loop, p.fds[0], EV_READ, hup_cb, &p);
	close(p.fds[1]);
	p.fds[1] = -1;
	assert_int_equal(ev_loop_run(loop), 0);
	assert_int_equal(p.calls, 1);
	assert_true(p.events & EV_ERROR);
	assert_true(p.events & EV_READ);
	assert_null(p.io);
	pipe_close(&p);
	ev_timer_free(&wd);
	ev_loop_free(&loop);
}

/* Both fds are ready in one round; whichever runs first deletes the other. */
static void
kill_other(int fd, unsigned events, void *arg)
{
	struct pipe_w	*p = arg;

	p->calls++;
	ev_io_del(&p->other->io);
	close(p->other->fds[0]);
	/* likely reuses the fd number just closed: must not get its event */
	assert_int_equal(pipe(p->other->fds), 0);
	p->other->io = ev_io_add(p->loop, p->other->fds[0], EV_READ,
	    kill_other, p->other);
	ev_io_del(&p->io);
	ev_loop_break(p->loop);
}

static void
test_delete_other_in_same_round(void **state)
{
	struct ev_loop	*loop = ev_loop_new();
	struct ev_timer	*wd = watchdog_start(loop);
	struct pipe_w	 a, b;
	int		 i;

	(void)state;
	for (i = 0; i < 20; i++) {
		pipe_open(&a, loop);
		pipe_open(&b, loop);
		a.other = &b;
		b.other = &a;
		a.io = ev_io_add(loop, a.fds[0], EV_READ, kill_other, &a);
		b.io = ev_io_add(loop, b.fds[0], EV_READ, kill_other, &b);
		assert_int_equal(write(a.fds[1], "x", 1), 1);
		assert_int_equal(write(b.fds[1], "x", 1), 1);
		assert_int_equal(ev_loop_run(loop), 0);
		assert_int_equal(a.calls + b.calls, 1);
		pipe_close(&a);
		pipe_close(&b);
	}
	ev_timer_free(&wd);
	ev_loop_free(&loop);
}

static void
count_io(int fd, unsigned events, void *arg)
{
	struct pipe_w	*p = arg;

	p->calls++;
	p->events = events;
}

static void
break_cb(void *arg)
{
	ev_loop_break(arg);
}

static void
test_idle_and_write(void **state)
{
	struct ev_loop	*loop = ev_loop_new();
	struct ev_timer	*wd = watchdog_start(loop);
	struct ev_timer	*t = ev_timer_new(loop, break_cb, loop);
	struct pipe_w	 p;

	(void)state;
	pipe_open(&p, loop);
	/* idle: readable, but not watched */
	p.io = ev_io_add(loop, p.fds[0], 0, count_io, &p);
	assert_int_equal(write(p.fds[1], "x", 1), 1);
	ev_timer_set(t, 20);
	assert_int_equal(ev_loop_run(loop), 0);
	assert_int_equal(p.calls, 0);
	/* the write end of a pipe is writable */
	ev_io_del(&p.io);
	p.io = ev_io_add(loop, p.fds[1], EV_WRITE, count_io, &p);
	ev_timer_set(t, 0);
	assert_int_equal(ev_loop_run(loop), 0);
	assert_int_equal(p.calls, 1);
	assert_int_equal(p.events, EV_WRITE);
	pipe_close(&p);
	ev_timer_free(&t);
	ev_timer_free(&wd);
	ev_loop_free(&loop);
}

struct tstate {
	struct ev_loop	*loop;
	int		 order[16];
	int		 n;
	struct ev_timer	*victim;
	struct ev_timer	*self;
	int		 rearms;
	int		 rounds;
};

struct tcall {
	struct tstate	*ts;
	int		 id;
};

static void
record(void *arg)
{
	struct tcall	*c = arg;

	c->ts->order[c->ts->n++] = c->id;
}

static void
test_timer_order_and_stop(void **state)
{
	struct ev_loop	*loop = ev_loop_new();
	struct ev_timer	*wd = watchdog_start(loop);
	struct ev_timer	*t[4], *end = ev_timer_new(loop, break_cb, loop);
	struct tstate	 ts = { .loop = loop };
	struct tcall	 c[4];
	int		 ms[4] = { 30, 10, 20, 15 }, i;
	uint64_t	 start = ev_now(loop);

	(void)state;
	for (i = 0; i < 4; i++) {
		c[i] = (struct tcall){ &ts, i };
		t[i] = ev_timer_new(loop, record, &c[i]);
		assert_false(ev_timer_pending(t[i]));
		ev_timer_set(t[i], ms[i]);
		assert_true(ev_timer_pending(t[i]));
	}
	ev_timer_stop(t[3]);
	assert_false(ev_timer_pending(t[3]));
	ev_timer_set(t[2], 5);		/* re-arm moves it earlier */
	ev_timer_set(end, 40);
	assert_int_equal(ev_loop_run(loop), 0);
	assert_int_equal(ts.n, 3);
	assert_int_equal(ts.order[0], 2);
	assert_int_equal(ts.order[1], 1);
	assert_int_equal(ts.order[2], 0);
	assert_true(ev_now(loop) - start >= 40);
	for (i = 0; i < 4; i++) {
		assert_false(ev_timer_pending(t[i]));
		ev_timer_free(&t[i]);
	}
	ev_timer_free(&end);
	ev_timer_free(&wd);
	ev_loop_free(&loop);
}

static void
free_victim_and_self(void *arg)
{
	struct tstate	*ts = arg;

	ts->n++;
	ev_timer_free(&ts->victim);	/* due in the same round */
	ev_timer_free(&ts->self);	/* our own timer */
	ev_loop_break(ts->loop);
}

static void
victim_cb(void *arg)
{
	fail_msg("a freed timer fired");
}

static void
test_timer_free_inside_callback(void **state)
{
	struct ev_loop	*loop = ev_loop_new();
	struct ev_timer	*wd = watchdog_start(loop);
	struct tstate	 ts = { .loop = loop };

	(void)state;
	ts.self = ev_timer_new(loop, free_victim_and_self, &ts);
	ts.victim = ev_timer_new(loop, victim_cb, NULL);
	ev_timer_set(ts.self, 1);
	ev_timer_set(ts.victim, 1);	/* same deadline, armed later */
	assert_int_equal(ev_loop_run(loop), 0);
	assert_int_equal(ts.n, 1);
	assert_null(ts.self);
	assert_null(ts.victim);
	ev_timer_free(&wd);
	ev_loop_free(&loop);
}

static void
count_round(void *arg)
{
	struct tstate	*ts = arg;

	ts->rounds++;
}

/* A 0 ms re-arm from its own callback runs once per round, not forever. */
static void
rearm_zero(void *arg)
{
	struct tstate	*ts = arg;

	/* the previous firing's deferred call ran: this is a new round */
	assert_int_equal(ts->rounds, ts->rearms);
	ev_defer(ts->loop, count_round, ts);
	if (++ts->rearms == 5)
		ev_loop_break(ts->loop);
	else
		ev_timer_set(ts->self, 0);
}

static void
test_timer_rearm_zero(void **state)
{
	struct ev_loop	*loop = ev_loop_new();
	struct ev_timer	*wd = watchdog_start(loop);
	struct tstate	 ts = { .loop = loop };

	(void)state;
	ts.self = ev_timer_new(loop, rearm_zero, &ts);
	ev_timer_set(ts.self, 0);
	assert_int_equal(ev_loop_run(loop), 0);
	assert_int_equal(ts.rearms, 5);
	assert_int_equal(ts.rounds, 5);	/* defers ran between the firings */
	ev_timer_free(&ts.self);
	ev_timer_free(&wd);
	ev_loop_free(&loop);
}

/* Many timers, random deadlines, half stopped: heap order and membership. */
struct heapcase {
	struct ev_loop	*loop;
	uint64_t	 last;
	int		 fired, expected;
};

struct heapt {
	struct heapcase	*hc;
	struct ev_timer	*t;
	uint64_t	 due;
};

static void
heap_fire(void *arg)
{
	struct heapt	*h = arg;

	assert_true(ev_now(h->hc->loop) >= h->due);
	assert_true(h->due >= h->hc->last);
	h->hc->last = h->due;
	if (++h->hc->fired == h->hc->expected)
		ev_loop_break(h->hc->loop);
}

static void
test_timer_heap_stress(void **state)
{
	struct ev_loop	*loop = ev_loop_new();
	struct ev_timer	*wd = watchdog_start(loop);
	struct heapcase	 hc = { .loop = loop };
	struct heapt	*h;
	int		 i, n = 2000;

	(void)state;
	srandom(42);
	h = xcalloc(n, sizeof(*h));
	for (i = 0; i < n; i++) {
		h[i].hc = &hc;
		h[i].t = ev_timer_new(loop, heap_fire, &h[i]);
		h[i].due = ev_now(loop) + (uint64_t)(random() % 60);
		ev_timer_set(h[i].t, h[i].due - ev_now(loop));
	}
	for (i = 0; i < n; i += 2)
		ev_timer_stop(h[(i * 7) % n].t);
	for (i = 0; i < n; i++)
		if (ev_timer_pending(h[i].t))
			hc.expected++;
	assert_true(hc.expected > 0 && hc.expected < n);
	assert_int_equal(ev_loop_run(loop), 0);
	assert_int_equal(hc.fired, hc.expected);
	for (i = 0; i < n; i++)
		ev_timer_free(&h[i].t);
	free(h);
	ev_timer_free(&wd);
	ev_loop_free(&loop);
}

static void
signal_cb(int signo, void *arg)
{
	struct tstate	*ts = arg;

	ts->order[ts->n++] = signo;
	if (ts->n == 2)
		ev_loop_break(ts->loop);
}

static void
raise_both(void *arg)
{
	raise(SIGUSR1);
	raise(SIGUSR2);
}

static void
test_signals(void **state)
{
	struct ev_loop	*loop = ev_loop_new();
	struct ev_timer	*wd = watchdog_start(loop);
	struct tstate	 ts = { .loop = loop };

	(void)state;
	assert_int_equal(ev_signal_add(loop, SIGUSR1, signal_cb, &ts), 0);
	assert_int_equal(ev_signal_add(loop, SIGUSR2, signal_cb, &ts), 0);
	assert_int_equal(ev_signal_add(loop, 0, signal_cb, &ts), -1);
	ev_defer(loop, raise_both, NULL);
	assert_int_equal(ev_loop_run(loop), 0);
	assert_int_equal(ts.n, 2);
	assert_true(ts.order[0] + ts.order[1] == SIGUSR1 + SIGUSR2);
	/* pending at free time: swallowed, not delivered (would kill us) */
	raise(SIGUSR1);
	ev_timer_free(&wd);
	ev_loop_free(&loop);
}

static void
defer_second(void *arg)
{
	struct tcall	*c = arg;

	record(c);
	ev_loop_break(c->ts->loop);
}

static void
defer_first(void *arg)
{
	struct tcall	*c = arg;

	record(c);
	/* deferred from a deferred call: next round, after the timer below */
	ev_defer(c->ts->loop, defer_second, c + 1);
}

static void
io_defers(int fd, unsigned events, void *arg)
{
	struct tcall	*c = arg;
	char		 ch;

	assert_int_equal(read(fd, &ch, 1), 1);
	record(c);
	ev_defer(c->ts->loop, defer_first, c + 1);
}

static void
test_defer_order(void **state)
{
	struct ev_loop	*loop = ev_loop_new();
	struct ev_timer	*wd = watchdog_start(loop);
	struct tstate	 ts = { .loop = loop };
	struct tcall	 c[3] = { { &ts, 1 }, { &ts, 2 }, { &ts, 3 } };
	struct pipe_w	 p;

	(void)state;
	pipe_open(&p, loop);
	p.io = ev_io_add(loop, p.fds[0], EV_READ, io_defers, &c[0]);
	assert_int_equal(write(p.fds[1], "x", 1), 1);
	assert_int_equal(ev_loop_run(loop), 0);
	assert_int_equal(ts.n, 3);
	assert_int_equal(ts.order[0], 1);
	assert_int_equal(ts.order[1], 2);
	assert_int_equal(ts.order[2], 3);
	pipe_close(&p);
	/* a pending defer at free time is dropped without leaking */
	ev_defer(loop, defer_first, &c[1]);
	ev_timer_free(&wd);
	ev_loop_free(&loop);
}

/* Break in the first callback of a round: the rest of the round still runs. */
struct breakround {
	struct ev_loop	*loop;
	int		 io_calls, defers;
};

static void
break_io(int fd, unsigned events, void *arg)
{
	struct breakround	*br = arg;
	char			 ch;

	assert_int_equal(read(fd, &ch, 1), 1);
	br->io_calls++;
	ev_loop_break(br->loop);
}

static void
count_defer(void *arg)
{
	struct breakround	*br = arg;

	br->defers++;
}

static void
test_break_finishes_round(void **state)
{
	struct ev_loop		*loop = ev_loop_new();
	struct ev_timer		*wd = watchdog_start(loop);
	struct breakround	 br = { .loop = loop };
	struct pipe_w		 a, b;

	(void)state;
	pipe_open(&a, loop);
	pipe_open(&b, loop);
	a.io = ev_io_add(loop, a.fds[0], EV_READ, break_io, &br);
	b.io = ev_io_add(loop, b.fds[0], EV_READ, break_io, &br);
	assert_int_equal(write(a.fds[1], "x", 1), 1);
	assert_int_equal(write(b.fds[1], "x", 1), 1);
	ev_defer(loop, count_defer, &br);
	assert_int_equal(ev_loop_run(loop), 0);
	assert_int_equal(br.io_calls, 2);
	assert_int_equal(br.defers, 1);
	pipe_close(&a);
	pipe_close(&b);
	ev_timer_free(&wd);
	ev_loop_free(&loop);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_io_read),
		cmocka_unit_test(test_hangup_and_own_delete),
		cmocka_unit_test(test_delete_other_in_same_round),
		cmocka_unit_test(test_idle_and_write),
		cmocka_unit_test(test_timer_order_and_stop),
		cmocka_unit_test(test_timer_free_inside_callback),
		cmocka_unit_test(test_timer_rearm_zero),
		cmocka_unit_test(test_timer_heap_stress),
		cmocka_unit_test(test_signals),
		cmocka_unit_test(test_defer_order),
		cmocka_unit_test(test_break_finishes_round),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
