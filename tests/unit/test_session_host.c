/*
 * lib/session_host.c driving a tiny line-echo session_ops over socketpairs:
 * pipelined lines, pause/kick with leftovers re-fed, close, timeouts,
 * delayed callbacks, connection limits, a peer that leaves while the
 * session waits, shutdown, STARTTLS through the host, and what a session
 * may ask of it: a streamed reply, a job on the workq, a watched
 * descriptor and its timer.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include "lib/buf.h"
#include "lib/conntab.h"
#include "lib/ev.h"
#include "lib/session.h"
#include "lib/tls.h"
#include "lib/workq.h"
#include "tests/unit/config_testutil.h"
#include "tests/unit/net_testcert.h"

#include <openssl/err.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

struct echo {
	struct session_host		*host;
	struct buf			*out;
	const struct session_peer	*peer;
	enum session_want		 want;
	unsigned			 inputs;	/* calls to input() */
	bool				 tls_started;
	unsigned			 stream_left;	/* STREAM: lines still to produce */
	bool				 close_after;	/* STREAMCLOSE: the last part says CLOSE */
	unsigned			 more_calls;
	unsigned			 ticks;		/* TIMER callbacks */
	bool				 droppable;	/* WAITING: nothing the peer's going must wait for */
	unsigned			 peer_gone_calls;
	bool				 job_ran;	/* JOB: set on a pool thread */
};

static struct echo	*last;		/* the most recently opened session */
static int		 watch_fd = -1;	/* WATCH: the descriptor to watch */
static unsigned		 nfreed;
static struct testcert	 cert;
static struct tls_server *server;

static void *
echo_open(const struct session_peer *peer, struct buf *out, struct session_host *host, void *arg)
{
	struct echo	*e = calloc(1, sizeof(*e));

	(void)arg;
	e->host = host;
	e->out = out;
	e->peer = peer;
	e->want = SESSION_READ;
	buf_printf(out, "hello %s\r\n", peer->tls ? "tls" : "plain");
	last = e;
	return e;
}

static void
echo_later(void *arg)
{
	struct echo	*e = arg;

	buf_puts(e->out, "later\r\n");
	e->want = SESSION_READ;
}

/* STREAM: 1000-byte lines while the host says there is room. */
static bool
echo_more(void *arg)
{
	struct echo	*e = arg;
	char		 line[1001];

	e->more_calls++;
	memset(line, 's', sizeof(line) - 1);
	line[sizeof(line) - 1] = '\0';
	for (; e->stream_left > 0; e->stream_left--) {
		if (session_host_output_full(e->host))
			return false;
		buf_printf(e->out, "%u%s\r\n", e->stream_left % 10, line + 1);
	}
	buf_puts(e->out, "end\r\n");
	if (e->close_after)
		e->want = SESSION_CLOSE;
	return true;
}

/* WATCH: the descriptor is readable. */
static void
echo_woke(void *arg)
{
	struct echo	*e = arg;
	char		 b[64];
	ssize_t		 n = read(watch_fd, b, sizeof(b));

	buf_printf(e->out, "woke: %.*s\r\n", (int)(n > 0 ? n : 0), b);
	if (n == 0) {
		session_host_watch(e->host, -1, NULL);
		buf_puts(e->out, "unwatched\r\n");
	}
}

/* TIMER: fires once, while the session goes on reading. */
static void
echo_tick(void *arg)
{
	struct echo	*e = arg;

	e->ticks++;
	buf_puts(e->out, "tick\r\n");
}

static void
echo_job_work(void *arg)
{
	((struct echo *)arg)->job_ran = true;	/* a pool thread, the session paused */
}

static void
echo_job_done(void *arg)
{
	struct echo	*e = arg;

	buf_printf(e->out, "job %s\r\n", e->job_ran ? "done" : "not run");
	e->want = SESSION_READ;
	session_host_kick(e->host);
}

/* The commands that ask the host for something. */
static bool
echo_ask_host(struct echo *e, const char *data, size_t n)
{
	if (n > 7 && memcmp(data, "STREAM ", 7) == 0) {
		e->stream_left = (unsigned)atoi(data + 7);
		session_host_stream(e->host, echo_more);
	} else if (n > 12 && memcmp(data, "STREAMCLOSE ", 12) == 0) {
		e->stream_left = (unsigned)atoi(data + 12);
		e->close_after = true;
		session_host_stream(e->host, echo_more);
	} else if (n == 7 && memcmp(data, "WATCH\r\n", 7) == 0)
		assert_int_equal(session_host_watch(e->host, watch_fd, echo_woke), 0);
	else if (n == 7 && memcmp(data, "TIMER\r\n", 7) == 0)
		session_host_after(e->host, 20, echo_tick);
	else if (n == 5 && memcmp(data, "JOB\r\n", 5) == 0) {
		e->want = SESSION_PAUSE;
		session_host_submit(e->host, echo_job_work, echo_job_done, e);
		assert_false(e->job_ran && e->want == SESSION_READ);	/* done never runs inside */
	} else
		return false;
	return true;
}

/* Takes one line per call, like a session that stops at a state change. */
static size_t
echo_input(void *arg, const char *data, size_t len)
{
	struct echo	*e = arg;
	const char	*nl = memchr(data, '\n', len);
	size_t		 n;

	e->inputs++;
	assert_int_equal(e->want, SESSION_READ);	/* never fed while not reading */
	if (nl == NULL)
		return 0;
	n = (size_t)(nl - data) + 1;
	if (echo_ask_host(e, data, n))
		return n;
	if (n == 7 && memcmp(data, "PAUSE\r\n", 7) == 0) {
		buf_puts(e->out, "paused\r\n");
		e->want = SESSION_PAUSE;
	} else if (n == 9 && memcmp(data, "WAITING\r\n", 9) == 0) {
		buf_puts(e->out, "waiting\r\n");
		e->want = SESSION_PAUSE;
		e->droppable = true;
	} else if (n == 6 && memcmp(data, "QUIT\r\n", 6) == 0) {
		buf_puts(e->out, "bye\r\n");
		e->want = SESSION_CLOSE;
	} else if (n == 6 && memcmp(data, "SLOW\r\n", 6) == 0) {
		e->want = SESSION_PAUSE;
		session_host_after(e->host, 30, echo_later);
	} else if (n == 10 && memcmp(data, "STARTTLS\r\n", 10) == 0) {
		buf_puts(e->out, "go\r\n");
		e->want = SESSION_STARTTLS;	/* the host must throw the rest away */
	} else
		buf_printf(e->out, "echo: %.*s\r\n", (int)(n - 2), data);
	return n;
}

static void
echo_tls_started(void *arg)
{
	struct echo	*e = arg;

	e->tls_started = true;
	assert_true(e->peer->tls);
	assert_non_null(strstr(e->peer->tls_info, "TLSv1."));
	e->want = SESSION_READ;
}

static void
echo_timeout(void *arg)
{
	struct echo	*e = arg;

	buf_puts(e->out, "timeout\r\n");
	e->want = SESSION_CLOSE;
}

static enum session_want
echo_want(void *arg)
{
	return ((struct echo *)arg)->want;
}

static void
echo_free(void *arg)
{
	if (arg == last)
		last = NULL;
	free(arg);
	nfreed++;
}

/* Like a login still waiting its turn: dropped when the peer goes. */
static void
echo_peer_gone(void *arg)
{
	struct echo	*e = arg;

	e->peer_gone_calls++;
	if (e->droppable)
		e->want = SESSION_READ;
}

static const struct session_ops echo_ops = {
	.open		= echo_open,
	.input		= echo_input,
	.tls_started	= echo_tls_started,
	.timeout	= echo_timeout,
	.want		= echo_want,
	.free		= echo_free,
	.peer_gone	= echo_peer_gone,
	.busy_reply	= "421 busy\r\n",
};

/* The same with ops->shutdown: a farewell, then close. */
static void
echo_shutdown(void *arg)
{
	struct echo	*e = arg;

	buf_puts(e->out, "stopping\r\n");
	e->want = SESSION_CLOSE;
}

static const struct session_ops echo_stop_ops = {
	.open		= echo_open,
	.input		= echo_input,
	.timeout	= echo_timeout,
	.want		= echo_want,
	.free		= echo_free,
	.shutdown	= echo_shutdown,
};

static const struct session_ops *setup_ops = &echo_ops;	/* for the next t_setup */

struct t {
	struct ev_loop		*loop;
	struct conntab		*conns;		/* owner 0 of 2: the other is a sibling worker */
	struct workq		*wq;
	struct ev_timer		*tick;
	struct session_pool	*pool;
	int			 peer;
	char			 got[65536];
	size_t			 gotlen;
	bool			 eof;
};

static void
tick_cb(void *arg)
{
	ev_loop_break(((struct t *)arg)->loop);
}

static void
t_setup(struct t *t, const struct session_pool_limits *lim)
{
	static const struct session_pool_limits	def = SESSION_POOL_LIMITS_DEFAULT;

	memset(t, 0, sizeof(*t));
	t->loop = ev_loop_new();
	t->tick = ev_timer_new(t->loop, tick_cb, t);
	t->conns = conntab_new(16, 2);
	t->pool = session_pool_new(t->loop, setup_ops, NULL, lim != NULL ? lim : &def, t->conns);
	setup_ops = &echo_ops;
	session_pool_set_tls(t->pool, tls_server_ctx(server));
	t->wq = workq_new(t->loop, 1);
	session_pool_set_workq(t->pool, t->wq);
	t->peer = -1;
	nfreed = 0;
}

/* A new client; returns its end. */
static int
t_connect(struct t *t, int type, bool implicit_tls)
{
	int	sv[2];

	assert_int_equal(socketpair(AF_UNIX, type | SOCK_CLOEXEC, 0, sv), 0);
	session_pool_accept(t->pool, sv[0], "test", implicit_tls);
	return sv[1];
}

static void
t_run(struct t *t, unsigned ms)
{
	ev_timer_set(t->tick, ms);
	ev_loop_run(t->loop);
}

/* Run the loop, collecting what the client receives, until want shows up or EOF. */
static bool
t_expect(struct t *t, int fd, const char *want)
{
	ssize_t	n;
	int	i;

	for (i = 0; i < 400; i++) {
		t->got[t->gotlen] = '\0';
		if (strstr(t->got, want) != NULL)
			return true;
		if (t->eof)
			break;
		t_run(t, 5);
		while ((n = recv(fd, t->got + t->gotlen, sizeof(t->got) - 1 - t->gotlen,
		    MSG_DONTWAIT)) > 0)
			t->gotlen += (size_t)n;
		if (n == 0)
			t->eof = true;
	}
	t->got[t->gotlen] = '\0';
	return strstr(t->got, want) != NULL;
}

static void
t_teardown(struct t *t)
{
	session_pool_free(&t->pool);
	/* Every session gave its count back. */
	assert_int_equal(conntab_count(t->conns, CONNTAB_ADDR, "unix"), 0);
	conntab_free(&t->conns);
	workq_free(&t->wq);
	ev_timer_free(&t->tick);
	ev_loop_free(&t->loop);
}

static void
test_pipelined_one_write(void **state)
{
	struct t	t;
	char		buf[512];
	ssize_t		n;
	int		fd;

	(void)state;
	t_setup(&t, NULL);
	fd = t_connect(&t, SOCK_SEQPACKET, false);
	assert_int_equal(session_pool_count(t.pool), 1);
	n = recv(fd, buf, sizeof(buf) - 1, MSG_DONTWAIT);	/* greeting flushed at open */
	assert_int_equal(n, 13);
	assert_memory_equal(buf, "hello plain\r\n", 13);
	assert_string_equal(last->peer->listener, "test");
	assert_true(last->peer->loopback);
	assert_int_equal(strlen(last->peer->id), 16);
	assert_int_equal(write(fd, "a\r\nb\r\nc\r\n", 9), 9);
	t_run(&t, 20);
	/* Three pipelined commands, three replies, one write. */
	n = recv(fd, buf, sizeof(buf) - 1, MSG_DONTWAIT);
	assert_true(n > 0);
	buf[n] = '\0';
	assert_string_equal(buf, "echo: a\r\necho: b\r\necho: c\r\n");
	close(fd);
	t_run(&t, 20);
	assert_int_equal(session_pool_count(t.pool), 0);
	assert_int_equal(nfreed, 1);
	t_teardown(&t);
}

static void
test_byte_at_a_time(void **state)
{
	static const char	 in[] = "one\r\ntwo\r\n";
	struct t		 t;
	size_t			 i;
	int			 fd;

	(void)state;
	t_setup(&t, NULL);
	fd = t_connect(&t, SOCK_STREAM, false);
	for (i = 0; i < sizeof(in) - 1; i++) {
		assert_int_equal(write(fd, &in[i], 1), 1);
		t_run(&t, 2);
	}
	assert_true(t_expect(&t, fd, "echo: two\r\n"));
	assert_string_equal(t.got, "hello plain\r\necho: one\r\necho: two\r\n");
	close(fd);
	t_teardown(&t);
}

static void
test_pause_kick_refeeds(void **state)
{
	struct t	t;
	unsigned	inputs;
	int		fd;

	(void)state;
	t_setup(&t, NULL);
	fd = t_connect(&t, SOCK_STREAM, false);
	assert_int_equal(write(fd, "PAUSE\r\nx\r\ny\r\n", 13), 13);
	assert_true(t_expect(&t, fd, "paused\r\n"));
	inputs = last->inputs;
	t_run(&t, 50);
	assert_int_equal(last->inputs, inputs);		/* nothing fed while paused */
	assert_null(strstr(t.got, "echo"));
	/* The async work finished: the leftovers are fed without new input. */
	last->want = SESSION_READ;
	session_host_kick(last->host);
	assert_true(t_expect(&t, fd, "echo: y\r\n"));
	assert_string_equal(t.got, "hello plain\r\npaused\r\necho: x\r\necho: y\r\n");
	close(fd);
	t_teardown(&t);
}

static void
test_quit_closes(void **state)
{
	struct t	t;
	int		fd;

	(void)state;
	t_setup(&t, NULL);
	fd = t_connect(&t, SOCK_STREAM, false);
	assert_int_equal(write(fd, "QUIT\r\nnever\r\n", 13), 13);
	assert_true(t_expect(&t, fd, "bye\r\n"));
	t_expect(&t, fd, "(eof)");
	assert_true(t.eof);
	assert_null(strstr(t.got, "never"));
	assert_int_equal(session_pool_count(t.pool), 0);
	assert_int_equal(nfreed, 1);
	close(fd);
	t_teardown(&t);
}

static void
test_after_and_timeout(void **state)
{
	struct t	t;
	int		fd;

	(void)state;
	t_setup(&t, NULL);
	fd = t_connect(&t, SOCK_STREAM, false);
	assert_int_equal(write(fd, "SLOW\r\nz\r\n", 9), 9);
	t_run(&t, 10);
	assert_null(strstr(t.got, "later"));
	assert_true(t_expect(&t, fd, "echo: z\r\n"));
	assert_string_equal(t.got, "hello plain\r\nlater\r\necho: z\r\n");
	session_host_set_timeout(last->host, 30);
	assert_true(t_expect(&t, fd, "timeout\r\n"));
	t_expect(&t, fd, "(eof)");
	assert_true(t.eof);
	assert_int_equal(session_pool_count(t.pool), 0);
	close(fd);
	t_teardown(&t);
}

static void
test_connection_limits(void **state)
{
	struct session_pool_limits	 lim = SESSION_POOL_LIMITS_DEFAULT;
	struct t			 t;
	char				 buf[64];
	ssize_t				 n;
	int				 fd[4], i;

	(void)state;
	lim.max_per_ip = 2;
	lim.max_connections = 3;
	t_setup(&t, &lim);
	fd[0] = t_connect(&t, SOCK_STREAM, false);
	fd[1] = t_connect(&t, SOCK_STREAM, false);
	fd[2] = t_connect(&t, SOCK_STREAM, false);	/* third from "unix": refused */
	assert_int_equal(session_pool_count(t.pool), 2);
	n = read(fd[2], buf, sizeof(buf));
	assert_int_equal(n, 10);
	assert_memory_equal(buf, "421 busy\r\n", 10);
	assert_int_equal(read(fd[2], buf, sizeof(buf)), 0);
	lim.max_per_ip = 10;
	lim.max_connections = 2;
	session_pool_set_limits(t.pool, &lim);
	fd[3] = t_connect(&t, SOCK_STREAM, false);	/* now the total limit */
	assert_int_equal(session_pool_count(t.pool), 2);
	assert_int_equal(read(fd[3], buf, sizeof(buf)), 10);
	/* One leaves: there is room again. */
	close(fd[0]);
	t_run(&t, 20);
	assert_int_equal(session_pool_count(t.pool), 1);
	fd[0] = t_connect(&t, SOCK_STREAM, false);
	assert_int_equal(session_pool_count(t.pool), 2);
	for (i = 0; i < 4; i++)
		close(fd[i]);
	t_teardown(&t);
}

/* What a sibling worker (owner 1 of the table) holds counts here too. */
static void
sibling_acquire(struct t *t, const char *addr, unsigned n)
{
	unsigned	slot, i;

	conntab_set_owner(t->conns, 1);
	for (i = 0; i < n; i++)
		assert_int_equal(conntab_acquire(t->conns, CONNTAB_ADDR, addr, 100, &slot),
		    CONNTAB_OK);
	conntab_set_owner(t->conns, 0);
}

static void
test_per_address_limit_across_workers(void **state)
{
	struct session_pool_limits	 lim = SESSION_POOL_LIMITS_DEFAULT;
	struct t			 t;
	char				 buf[64], addr[32], *log;
	int				 fd[3], i;

	(void)state;
	lim.max_per_ip = 2;
	t_setup(&t, &lim);
	sibling_acquire(&t, "unix", 1);
	fd[0] = t_connect(&t, SOCK_STREAM, false);
	fd[1] = t_connect(&t, SOCK_STREAM, false);	/* the sibling has the other one */
	assert_int_equal(session_pool_count(t.pool), 1);
	assert_int_equal(read(fd[1], buf, sizeof(buf)), 10);
	close(fd[1]);
	/* The sibling dies: the supervisor's reclaim makes room. */
	assert_int_equal(conntab_reclaim(t.conns, 1), 1);
	fd[1] = t_connect(&t, SOCK_STREAM, false);
	assert_int_equal(session_pool_count(t.pool), 2);
	close(fd[0]);
	close(fd[1]);
	t_run(&t, 20);
	assert_int_equal(session_pool_count(t.pool), 0);
	/* A table full of the sibling's addresses: refused, and logged why. */
	for (i = 0; i < 16; i++) {
		snprintf(addr, sizeof(addr), "192.0.2.%d", i);
		sibling_acquire(&t, addr, 1);
	}
	tu_capture_start();
	fd[2] = t_connect(&t, SOCK_STREAM, false);
	assert_int_equal(session_pool_count(t.pool), 0);
	assert_int_equal(read(fd[2], buf, sizeof(buf)), 10);
	assert_memory_equal(buf, "421 busy\r\n", 10);
	close(fd[2]);
	log = tu_capture_end();
	assert_non_null(strstr(log, "reason=connection_table_full"));
	free(log);
	assert_int_equal(conntab_reclaim(t.conns, 1), 16);
	t_teardown(&t);
}

/* A client on listener kind `kind`; returns its end. */
static int
t_connect_kind(struct t *t, const char *kind)
{
	int	sv[2];

	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
	session_pool_accept(t->pool, sv[0], kind, false);
	return sv[1];
}

static void
test_listener_limit(void **state)
{
	struct session_pool_limits	 lim = SESSION_POOL_LIMITS_DEFAULT;
	struct t			 t;
	char				 buf[64];
	int				 fd[5], i;

	(void)state;
	lim.max_per_ip = 100;
	lim.max_connections = 4;
	lim.listeners[0].kind = "mx";
	lim.listeners[0].max_connections = 2;
	t_setup(&t, &lim);
	fd[0] = t_connect_kind(&t, "mx");
	fd[1] = t_connect_kind(&t, "mx");
	fd[2] = t_connect_kind(&t, "mx");		/* over the MX limit */
	assert_int_equal(session_pool_count(t.pool), 2);
	assert_int_equal(read(fd[2], buf, sizeof(buf)), 10);
	assert_memory_equal(buf, "421 busy\r\n", 10);
	/* The rest of max_connections is the other listener's. */
	fd[3] = t_connect_kind(&t, "submission");
	fd[4] = t_connect_kind(&t, "submission");
	assert_int_equal(session_pool_count(t.pool), 4);
	/* One MX client leaves: MX has room again. */
	close(fd[0]);
	t_run(&t, 20);
	fd[0] = t_connect_kind(&t, "mx");
	assert_int_equal(session_pool_count(t.pool), 4);
	for (i = 0; i < 5; i++)
		close(fd[i]);
	t_teardown(&t);
}

static void
test_stress_timeout(void **state)
{
	struct session_pool_limits	 lim = SESSION_POOL_LIMITS_DEFAULT;
	struct t			 t;
	struct echo			*first;
	int				 fd[3], i;

	(void)state;
	lim.max_per_ip = 100;
	lim.listeners[0].kind = "mx";
	lim.listeners[0].max_connections = 4;
	lim.stress_percent = 75;
	lim.stress_timeout_ms = 30;
	t_setup(&t, &lim);
	fd[0] = t_connect_kind(&t, "mx");
	first = last;
	session_host_set_timeout(first->host, 60 * 1000);
	fd[1] = t_connect_kind(&t, "mx");		/* 2 of 4: calm */
	session_host_set_timeout(last->host, 60 * 1000);
	t_run(&t, 60);
	assert_int_equal(session_pool_count(t.pool), 2);
	fd[2] = t_connect_kind(&t, "mx");		/* 3 of 4: stress */
	/* The running deadlines are cut, and a new one is cut when set. */
	session_host_set_timeout(last->host, 60 * 1000);
	assert_true(t_expect(&t, fd[0], "timeout\r\n"));
	for (i = 0; i < 100 && session_pool_count(t.pool) > 0; i++)
		t_run(&t, 10);
	assert_int_equal(session_pool_count(t.pool), 0);
	for (i = 0; i < 3; i++)
		close(fd[i]);
	t_teardown(&t);
}

static void
test_pipeline_output_bounded(void **state)
{
	struct session_pool_limits	 lim = SESSION_POOL_LIMITS_DEFAULT;
	struct t			 t;
	char				 in[400], want[64];
	int				 fd, i;

	(void)state;
	lim.output_high = 64;	/* about seven replies */
	t_setup(&t, &lim);
	fd = t_connect(&t, SOCK_STREAM, false);
	for (i = 0; i < 100; i++)
		memcpy(in + 3 * i, i == 99 ? "Z\r\n" : "a\r\n", 3);
	/* 100 commands in one write: fed in slices as the replies drain. */
	assert_int_equal(write(fd, in, 300), 300);
	snprintf(want, sizeof(want), "echo: Z\r\n");
	assert_true(t_expect(&t, fd, want));
	assert_int_equal(t.gotlen, 13 + 99 * 9 + 9);
	close(fd);
	t_teardown(&t);
}

/*
 * A streamed reply: the host calls more() while the output is below the
 * mark, again after each drain, and feeds nothing until it has finished.
 */
static void
test_stream_continuation(void **state)
{
	struct session_pool_limits	 lim = SESSION_POOL_LIMITS_DEFAULT;
	struct t			 t;
	char				 b[65536], tail[32] = "";
	size_t				 total = 0, keep, len = 0;
	ssize_t				 n;
	int				 fd, i;

	(void)state;
	lim.output_high = 4096;
	t_setup(&t, &lim);
	fd = t_connect(&t, SOCK_STREAM, false);
	/* 1 MB through a 4 KB mark; the pipelined line waits for "end". */
	assert_int_equal(write(fd, "STREAM 1000\r\nafter\r\n", 21), 21);
	t_run(&t, 20);
	assert_true(last->stream_left > 0);		/* the client has not read yet */
	assert_int_equal(last->inputs, 1);
	for (i = 0; i < 5000 && strstr(tail, "echo: after\r\n") == NULL; i++) {
		t_run(&t, 1);
		/* Count it all; keep the last 31 bytes. */
		while ((n = recv(fd, b, sizeof(b), MSG_DONTWAIT)) > 0) {
			total += (size_t)n;
			if ((size_t)n >= sizeof(tail) - 1) {
				memcpy(tail, b + n - (sizeof(tail) - 1), sizeof(tail) - 1);
				len = sizeof(tail) - 1;
			} else {
				keep = len < sizeof(tail) - 1 - (size_t)n ? len :
				    sizeof(tail) - 1 - (size_t)n;
				memmove(tail, tail + len - keep, keep);
				memcpy(tail + keep, b, (size_t)n);
				len = keep + (size_t)n;
			}
			tail[len] = '\0';
		}
	}
	assert_int_equal(total, 13 + 1000 * 1002 + 5 + 13);
	assert_int_equal(len, sizeof(tail) - 1);
	assert_string_equal(tail + len - 18, "end\r\necho: after\r\n");
	assert_true(last->more_calls > 10);		/* once per drain, not once in all */
	close(fd);
	t_teardown(&t);
}

/* A job: work on a pool thread, done on the loop; the session paused between. */
static void
test_submit_job(void **state)
{
	struct t	t;
	int		fd;

	(void)state;
	t_setup(&t, NULL);
	fd = t_connect(&t, SOCK_STREAM, false);
	assert_int_equal(write(fd, "JOB\r\nnext\r\n", 11), 11);
	assert_true(t_expect(&t, fd, "echo: next\r\n"));
	assert_string_equal(t.got, "hello plain\r\njob done\r\necho: next\r\n");
	close(fd);
	t_teardown(&t);
}

/*
 * imapd's IDLE: a descriptor that becomes readable wakes the session (also
 * while it waits for the client), and its timer fires once.
 */
static void
test_watch_and_timer(void **state)
{
	struct t	t;
	int		fd, p[2];

	(void)state;
	assert_int_equal(pipe(p), 0);
	watch_fd = p[0];
	t_setup(&t, NULL);
	fd = t_connect(&t, SOCK_STREAM, false);
	assert_int_equal(write(fd, "WATCH\r\nTIMER\r\n", 14), 14);
	t_run(&t, 5);
	assert_null(strstr(t.got, "woke"));
	assert_int_equal(write(p[1], "new", 3), 3);
	assert_true(t_expect(&t, fd, "woke: new\r\n"));
	assert_true(t_expect(&t, fd, "tick\r\n"));
	t_run(&t, 100);
	assert_int_equal(last->ticks, 1);
	assert_int_equal(write(p[1], "more", 4), 4);
	assert_true(t_expect(&t, fd, "woke: more\r\n"));
	/* The writer goes: EOF is readable too; the session stops watching. */
	close(p[1]);
	assert_true(t_expect(&t, fd, "unwatched\r\n"));
	assert_int_equal(write(fd, "x\r\n", 3), 3);
	assert_true(t_expect(&t, fd, "echo: x\r\n"));
	assert_string_equal(t.got, "hello plain\r\nwoke: new\r\ntick\r\nwoke: more\r\n"
	    "woke: \r\nunwatched\r\necho: x\r\n");
	close(fd);
	t_teardown(&t);
	close(p[0]);
	watch_fd = -1;
}

static void
test_close_linger(void **state)
{
	struct session_pool_limits	 lim = SESSION_POOL_LIMITS_DEFAULT;
	struct t			 t;
	int				 fd, i, sz = 4096;

	(void)state;
	lim.close_linger_ms = 50;
	t_setup(&t, &lim);
	fd = t_connect(&t, SOCK_STREAM, false);
	setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &sz, sizeof(sz));
	/* A long farewell the client never reads. */
	for (i = 0; i < 20000; i++)
		buf_puts(last->out, "0123456789012345678901234567890123456789\r\n");
	last->want = SESSION_CLOSE;
	session_host_kick(last->host);
	t_run(&t, 20);
	assert_int_equal(session_pool_count(t.pool), 1);	/* still draining */
	for (i = 0; i < 50 && session_pool_count(t.pool) > 0; i++)
		t_run(&t, 10);
	assert_int_equal(session_pool_count(t.pool), 0);	/* gave up on it */
	assert_int_equal(nfreed, 1);
	close(fd);
	t_teardown(&t);
}

/* A session that drops its work when told the peer is gone is freed at once. */
static void
test_peer_gone_drops_waiting_work(void **state)
{
	struct t	 t;
	int		 fd;

	(void)state;
	t_setup(&t, NULL);
	fd = t_connect(&t, SOCK_STREAM, false);
	/* Gone before the reply: writing it fails, as for an abandoned login. */
	assert_int_equal(write(fd, "WAITING\r\n", 9), 9);
	close(fd);
	t_run(&t, 30);
	assert_int_equal(nfreed, 1);
	assert_int_equal(session_pool_count(t.pool), 0);
	t_teardown(&t);
}

static void
test_peer_gone_while_paused(void **state)
{
	struct t	 t;
	struct echo	*e;
	int		 fd;

	(void)state;
	t_setup(&t, NULL);
	fd = t_connect(&t, SOCK_STREAM, false);
	assert_int_equal(write(fd, "PAUSE\r\n", 7), 7);
	assert_true(t_expect(&t, fd, "paused\r\n"));
	e = last;
	close(fd);
	t_run(&t, 30);
	/* The session waits for its commit: it must not be freed under it. */
	assert_int_equal(nfreed, 0);
	assert_int_equal(session_pool_count(t.pool), 1);
	/* Its commit finishes and answers into the output it was given (ASan: no use after free). */
	assert_int_equal(buf_puts(e->out, "250 2.0.0 Ok: queued\r\n"), 0);
	e->want = SESSION_READ;
	session_host_kick(e->host);
	t_run(&t, 20);
	assert_int_equal(nfreed, 1);
	assert_int_equal(session_pool_count(t.pool), 0);
	t_teardown(&t);
}

static void
test_half_close_while_paused(void **state)
{
	static char	big[16384];
	struct t	t;
	int		fd, sz = 65536;

	(void)state;
	t_setup(&t, NULL);
	fd = t_connect(&t, SOCK_STREAM, false);
	setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &sz, sizeof(sz));
	/*
	 * A scripted client: everything, then its write side closed.  16 KB
	 * exactly, so that the same read pass also sees the end of file.
	 */
	memset(big, 'x', sizeof(big));
	memcpy(big + sizeof(big) - 15, "\r\nPAUSE\r\nQUIT\r\n", 15);
	assert_int_equal(write(fd, big, sizeof(big)), (ssize_t)sizeof(big));
	shutdown(fd, SHUT_WR);
	assert_true(t_expect(&t, fd, "paused\r\n"));
	t_run(&t, 30);
	assert_int_equal(session_pool_count(t.pool), 1);
	/* The commit finishes: the answers still reach the client. */
	last->want = SESSION_READ;
	session_host_kick(last->host);
	assert_true(t_expect(&t, fd, "bye\r\n"));
	t_expect(&t, fd, "(eof)");
	assert_true(t.eof);
	assert_int_equal(session_pool_count(t.pool), 0);
	close(fd);
	t_teardown(&t);
}

static void
test_shutdown_closes_idle(void **state)
{
	struct t	t;
	int		idle, active, busy;

	(void)state;
	t_setup(&t, NULL);
	idle = t_connect(&t, SOCK_STREAM, false);
	t_run(&t, 1050);
	active = t_connect(&t, SOCK_STREAM, false);
	assert_int_equal(write(active, "x\r\n", 3), 3);
	busy = t_connect(&t, SOCK_STREAM, false);
	assert_int_equal(write(busy, "PAUSE\r\n", 7), 7);
	t_run(&t, 20);
	session_pool_shutdown(t.pool);
	t_run(&t, 20);
	/* Only the quiet one goes; the one that just spoke may be mid-command. */
	assert_int_equal(session_pool_count(t.pool), 2);
	t_run(&t, 1000);
	session_pool_shutdown(t.pool);		/* the daemon repeats it while it waits */
	t_run(&t, 20);
	assert_int_equal(session_pool_count(t.pool), 1);	/* the paused one stays */
	session_pool_free(&t.pool);				/* the hard stop */
	assert_int_equal(nfreed, 3);
	close(idle);
	close(active);
	close(busy);
	t_teardown(&t);
}

/*
 * A stream whose last part says CLOSE (relayd's control LIST) is closed
 * at once, not left open until a timeout or the next input.
 */
static void
test_stream_ending_in_close(void **state)
{
	struct session_pool_limits	 lim = SESSION_POOL_LIMITS_DEFAULT;
	struct t			 t;
	char				 b[8192];
	size_t				 total = 0;
	ssize_t				 n = -1;
	int				 fd, i;

	(void)state;
	t_setup(&t, &lim);
	fd = t_connect(&t, SOCK_STREAM, false);
	assert_int_equal(write(fd, "STREAMCLOSE 3\r\n", 15), 15);
	for (i = 0; i < 200 && n != 0; i++) {
		t_run(&t, 1);
		while ((n = recv(fd, b, sizeof(b), MSG_DONTWAIT)) > 0)
			total += (size_t)n;
	}
	assert_int_equal(n, 0);				/* EOF: closed */
	assert_int_equal(total, 13 + 3 * 1002 + 5);	/* hello, the lines, end */
	close(fd);
	t_teardown(&t);
}

/* ops->shutdown waits while a session pauses or streams, and comes before held input. */
static void
test_shutdown_waits_for_command(void **state)
{
	struct session_pool_limits	 lim = SESSION_POOL_LIMITS_DEFAULT;
	struct t			 t;
	struct echo			*paused, *streaming;
	char				 b[65536];
	ssize_t				 n;
	size_t				 total = 0;
	int				 idle, pfd, sfd, i;

	(void)state;
	lim.output_high = 4096;
	setup_ops = &echo_stop_ops;
	t_setup(&t, &lim);
	pfd = t_connect(&t, SOCK_STREAM, false);
	assert_int_equal(write(pfd, "PAUSE\r\nx\r\n", 10), 10);
	t_run(&t, 10);
	paused = last;
	sfd = t_connect(&t, SOCK_STREAM, false);
	assert_int_equal(write(sfd, "STREAM 1000\r\ny\r\n", 17), 17);
	t_run(&t, 10);
	streaming = last;
	idle = t_connect(&t, SOCK_STREAM, false);
	t_run(&t, 10);
	session_pool_shutdown(t.pool);
	assert_true(t_expect(&t, idle, "stopping\r\n"));
	t_run(&t, 20);
	assert_int_equal(session_pool_count(t.pool), 2);
	assert_int_equal(paused->want, SESSION_PAUSE);
	assert_true(streaming->stream_left > 0);
	/* The pause ends: its farewell, not the held "x". */
	paused->want = SESSION_READ;
	session_host_kick(paused->host);
	t.gotlen = 0;
	t.eof = false;
	assert_true(t_expect(&t, pfd, "stopping\r\n"));
	assert_string_equal(t.got, "hello plain\r\npaused\r\nstopping\r\n");
	/* The stream finishes first, then the farewell; "y" is never run. */
	for (i = 0; i < 5000 && session_pool_count(t.pool) > 0; i++) {
		t_run(&t, 1);
		while ((n = recv(sfd, b, sizeof(b), MSG_DONTWAIT)) > 0)
			total += (size_t)n;
	}
	assert_int_equal(session_pool_count(t.pool), 0);
	assert_int_equal(total, 13 + 1000 * 1002 + 5 + 10);
	close(idle);
	close(pfd);
	close(sfd);
	t_teardown(&t);
}

/* ---- TLS through the host ---- */

struct client {
	int	 fd;
	bool	 implicit;
	char	 got[512];
	bool	 ok;
};

static void
client_read(int fd, SSL *ssl, char *got, const char *until)
{
	size_t	n = strlen(got);
	int	r;

	while (strstr(got, until) == NULL && n + 1 < 512) {
		r = ssl != NULL ? SSL_read(ssl, got + n, 1) : (int)read(fd, got + n, 1);
		if (r <= 0)
			break;
		got[++n] = '\0';
	}
}

static void *
client_main(void *arg)
{
	static const char	 plain[] = "STARTTLS\r\nINJECTED\r\n";
	struct client		*cl = arg;
	SSL_CTX			*ctx = SSL_CTX_new(TLS_client_method());
	SSL			*ssl = SSL_new(ctx);

	if (!cl->implicit) {
		if (write(cl->fd, plain, sizeof(plain) - 1) < 0)
			goto out;
		client_read(cl->fd, NULL, cl->got, "go\r\n");
	}
	SSL_set_fd(ssl, cl->fd);
	if (SSL_connect(ssl) != 1)
		goto out;
	if (cl->implicit)
		client_read(cl->fd, ssl, cl->got, "hello tls\r\n");
	SSL_write(ssl, "secret\r\nQUIT\r\n", 14);
	client_read(cl->fd, ssl, cl->got, "bye\r\n");
	cl->ok = true;
out:
	SSL_free(ssl);
	SSL_CTX_free(ctx);
	ERR_clear_error();
	return NULL;
}

static void
run_tls_client(bool implicit, struct client *cl)
{
	struct t	t;
	pthread_t	th;
	int		i;

	t_setup(&t, NULL);
	memset(cl, 0, sizeof(*cl));
	cl->implicit = implicit;
	cl->fd = t_connect(&t, SOCK_STREAM, implicit);
	assert_int_equal(pthread_create(&th, NULL, client_main, cl), 0);
	for (i = 0; i < 400 && session_pool_count(t.pool) > 0; i++)
		t_run(&t, 10);
	pthread_join(th, NULL);
	assert_int_equal(session_pool_count(t.pool), 0);
	close(cl->fd);
	t_teardown(&t);
}

static void
test_starttls_via_host(void **state)
{
	struct client	cl;

	(void)state;
	run_tls_client(false, &cl);
	assert_true(cl.ok);
	assert_string_equal(cl.got, "hello plain\r\ngo\r\necho: secret\r\nbye\r\n");
	assert_null(strstr(cl.got, "INJECTED"));
}

static void
test_implicit_tls_via_host(void **state)
{
	struct client	cl;

	(void)state;
	run_tls_client(true, &cl);
	assert_true(cl.ok);
	assert_string_equal(cl.got, "hello tls\r\necho: secret\r\nbye\r\n");
}

static void
test_session_id(void **state)
{
	char	a[17], b[17];
	size_t	i;

	(void)state;
	session_id_new(a);
	session_id_new(b);
	assert_int_equal(strlen(a), 16);
	for (i = 0; i < 16; i++)
		assert_non_null(strchr("0123456789abcdef", a[i]));
	assert_string_not_equal(a, b);
}

static int
setup_all(void **state)
{
	(void)state;
	return testcert_server_new(&cert, &server);
}

static int
teardown_all(void **state)
{
	(void)state;
	testcert_server_free(&cert, &server);
	return 0;
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_pipelined_one_write),
		cmocka_unit_test(test_byte_at_a_time),
		cmocka_unit_test(test_pause_kick_refeeds),
		cmocka_unit_test(test_quit_closes),
		cmocka_unit_test(test_after_and_timeout),
		cmocka_unit_test(test_connection_limits),
		cmocka_unit_test(test_per_address_limit_across_workers),
		cmocka_unit_test(test_listener_limit),
		cmocka_unit_test(test_stress_timeout),
		cmocka_unit_test(test_pipeline_output_bounded),
		cmocka_unit_test(test_stream_continuation),
		cmocka_unit_test(test_stream_ending_in_close),
		cmocka_unit_test(test_submit_job),
		cmocka_unit_test(test_watch_and_timer),
		cmocka_unit_test(test_close_linger),
		cmocka_unit_test(test_peer_gone_while_paused),
		cmocka_unit_test(test_peer_gone_drops_waiting_work),
		cmocka_unit_test(test_half_close_while_paused),
		cmocka_unit_test(test_shutdown_closes_idle),
		cmocka_unit_test(test_shutdown_waits_for_command),
		cmocka_unit_test(test_starttls_via_host),
		cmocka_unit_test(test_implicit_tls_via_host),
		cmocka_unit_test(test_session_id),
	};

	return cmocka_run_group_tests(tests, setup_all, teardown_all);
}
