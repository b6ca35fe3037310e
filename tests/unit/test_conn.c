/*
 * lib/conn over socketpairs: plain I/O, corking, back-pressure, timeouts,
 * freeing inside the callback, TLS handshakes against an OpenSSL client
 * thread, STARTTLS input discard, old protocol versions refused.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include "lib/buf.h"
#include "lib/conn.h"
#include "lib/ev.h"
#include "lib/tls.h"
#include "tests/unit/net_testcert.h"

#include <openssl/err.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

struct tc {
	struct ev_loop		*loop;
	struct ev_timer		*guard;
	struct conn		*c;
	int			 peer;
	unsigned		 n[CONN_CLOSED + 1];	/* events seen */
	int			 break_on;		/* event that stops the loop, -1 none */
	bool			 guard_fired;
	char			 got[8192];		/* every input byte seen */
	size_t			 gotlen;
	const char		*reply;			/* appended per INPUT, in 3 pieces */
	bool			 close_after_reply;
	bool			 free_on_input;
	bool			 starttls_on_line;	/* STARTTLS after the first line */
	SSL_CTX			*ctx;
	size_t			 bulk;			/* bytes to append on first INPUT */
	unsigned		 input_after_drain;
	char			 reason[160];
	char			 tls_info[96];
};

static struct testcert	cert;
static struct tls_server *server;

static void
guard_cb(void *arg)
{
	struct tc	*t = arg;

	t->guard_fired = true;
	ev_loop_break(t->loop);
}

static void
append_bulk(struct conn *c, size_t n)
{
	char	chunk[4096];
	size_t	k;

	memset(chunk, 'x', sizeof(chunk));
	while (n > 0) {
		k = n < sizeof(chunk) ? n : sizeof(chunk);
		assert_int_equal(buf_append(conn_output(c), chunk, k), 0);
		n -= k;
	}
}

static void
test_cb(struct conn *c, enum conn_event ev, void *arg)
{
	struct tc	*t = arg;
	struct buf	*in = conn_input(c);
	size_t		 n, len;
	const char	*nl;

	t->n[ev]++;
	switch (ev) {
	case CONN_INPUT:
		if (t->n[CONN_DRAINED] > 0)
			t->input_after_drain++;
		len = buf_len(in);
		n = t->starttls_on_line && (nl = memchr(buf_head(in), '\n', len)) != NULL ?
		    (size_t)(nl - buf_head(in)) + 1 : len;
		assert_true(t->gotlen + n < sizeof(t->got));
		memcpy(t->got + t->gotlen, buf_head(in), n);
		t->gotlen += n;
		buf_consume(in, n);
		if (t->reply != NULL) {
			/* Three appends: corking must make them one write. */
			len = strlen(t->reply);
			buf_append(conn_output(c), t->reply, 1);
			buf_append(conn_output(c), t->reply + 1, len / 2);
			buf_puts(conn_output(c), t->reply + 1 + len / 2);
		}
		if (t->bulk > 0) {
			append_bulk(c, t->bulk);
			t->bulk = 0;
		}
		if (t->starttls_on_line) {
			t->starttls_on_line = false;
			assert_int_equal(conn_start_tls(c, t->ctx), 0);
		}
		if (t->close_after_reply)
			conn_close_after_flush(c);
		if (t->free_on_input) {
			conn_free(&t->c);
			assert_null(t->c);
		}
		break;
	case CONN_TLS_DONE:
		snprintf(t->tls_info, sizeof(t->tls_info), "%s", conn_tls_info(c));
		assert_true(conn_is_tls(c));
		break;
	case CONN_CLOSED:
		snprintf(t->reason, sizeof(t->reason), "%s", conn_close_reason(c));
		conn_free(&t->c);
		break;
	case CONN_DRAINED:
	case CONN_TIMEOUT:
		break;
	}
	if ((int)ev == t->break_on)
		ev_loop_break(t->loop);
}

static void
tc_setup(struct tc *t, int type, const struct conn_limits *lim)
{
	static const struct conn_limits	 def = { 64 * 1024, 64 * 1024, 1024 * 1024 };
	int				 sv[2];

	memset(t, 0, sizeof(*t));
	assert_int_equal(socketpair(AF_UNIX, type | SOCK_CLOEXEC, 0, sv), 0);
	t->loop = ev_loop_new();
	t->guard = ev_timer_new(t->loop, guard_cb, t);
	t->c = conn_new(t->loop, sv[0], lim != NULL ? lim : &def, test_cb, t);
	t->peer = sv[1];
	t->break_on = -1;
	t->ctx = tls_server_ctx(server);
}

/* Run the loop until break_on is seen or ms pass; true if break_on came. */
static bool
tc_run(struct tc *t, int break_on, unsigned ms)
{
	t->break_on = break_on;
	t->guard_fired = false;
	ev_timer_set(t->guard, ms);
	ev_loop_run(t->loop);
	ev_timer_stop(t->guard);
	return !t->guard_fired;
}

static void
tc_teardown(struct tc *t)
{
	conn_free(&t->c);
	ev_timer_free(&t->guard);
	ev_loop_free(&t->loop);
	if (t->peer != -1)
		close(t->peer);
}

static void
peer_write(struct tc *t, const char *s)
{
	assert_int_equal(write(t->peer, s, strlen(s)), (ssize_t)strlen(s));
}

static void
test_plain_echo(void **state)
{
	struct tc	t;
	char		buf[64];
	ssize_t		n;

	(void)state;
	tc_setup(&t, SOCK_STREAM, NULL);
	t.reply = "pong\r\n";
	peer_write(&t, "ping\r\n");
	assert_true(tc_run(&t, CONN_INPUT, 2000));
	/* The reply was flushed when the callback returned, without another loop round. */
	n = recv(t.peer, buf, sizeof(buf), MSG_DONTWAIT);
	assert_int_equal(n, 6);
	assert_memory_equal(buf, "pong\r\n", 6);
	assert_int_equal(t.gotlen, 6);
	assert_memory_equal(t.got, "ping\r\n", 6);
	assert_int_equal(conn_bytes_in(t.c), 6);
	assert_int_equal(conn_bytes_out(t.c), 6);

	/* Peer closes: CLOSED with reason eof. */
	close(t.peer);
	t.peer = -1;
	assert_true(tc_run(&t, CONN_CLOSED, 2000));
	assert_null(t.c);
	assert_string_equal(t.reason, "eof");
	tc_teardown(&t);
}

/* SOCK_SEQPACKET keeps write boundaries: one recv = one write. */
static void
test_cork_one_write(void **state)
{
	struct tc	t;
	char		buf[256];
	ssize_t		n;

	(void)state;
	tc_setup(&t, SOCK_SEQPACKET, NULL);
	t.reply = "250-first\r\n250-second\r\n250 third\r\n";
	peer_write(&t, "EHLO x\r\n");
	assert_true(tc_run(&t, CONN_INPUT, 2000));
	n = recv(t.peer, buf, sizeof(buf), MSG_DONTWAIT);
	assert_int_equal(n, (ssize_t)strlen(t.reply));
	assert_memory_equal(buf, t.reply, strlen(t.reply));
	n = recv(t.peer, buf, sizeof(buf), MSG_DONTWAIT);
	assert_int_equal(n, -1);
	tc_teardown(&t);
}

static size_t
drain_peer(int fd)
{
	char	buf[65536];
	ssize_t	n;
	size_t	total = 0;

	while ((n = recv(fd, buf, sizeof(buf), MSG_DONTWAIT)) > 0)
		total += (size_t)n;
	return total;
}

static void
test_backpressure(void **state)
{
	static const struct conn_limits	 lim = { 4096, 8192, 4 * 1024 * 1024 };
	struct tc			 t;
	size_t				 total = 0;
	int				 i;

	(void)state;
	tc_setup(&t, SOCK_STREAM, &lim);
	t.bulk = 2 * 1024 * 1024;	/* far more than the socket buffers hold */
	peer_write(&t, "RETR 1\r\n");
	assert_true(tc_run(&t, CONN_INPUT, 2000));
	assert_true(buf_len(conn_output(t.c)) > lim.output_high);
	/* Output above high water: further input is not read. */
	peer_write(&t, "NOOP\r\n");
	assert_false(tc_run(&t, CONN_INPUT, 100));
	assert_int_equal(t.n[CONN_INPUT], 1);
	assert_int_equal(t.n[CONN_DRAINED], 0);
	/* The client reads: output drains, DRAINED comes, reading resumes. */
	for (i = 0; i < 2000 && t.n[CONN_INPUT] < 2; i++) {
		total += drain_peer(t.peer);
		tc_run(&t, CONN_INPUT, 5);
	}
	assert_int_equal(t.n[CONN_INPUT], 2);
	assert_true(t.n[CONN_DRAINED] >= 1);
	assert_int_equal(t.input_after_drain, 1);
	assert_memory_equal(t.got, "RETR 1\r\nNOOP\r\n", 14);
	for (i = 0; i < 200 && buf_len(conn_output(t.c)) > 0; i++) {
		total += drain_peer(t.peer);
		tc_run(&t, -1, 5);
	}
	total += drain_peer(t.peer);
	assert_int_equal(total, 2 * 1024 * 1024);
	tc_teardown(&t);
}

/* An emptied big output buffer is given back, except while a stream keeps it. */
static void
test_keep_output(void **state)
{
	struct tc	t;
	int		i;

	(void)state;
	tc_setup(&t, SOCK_STREAM, NULL);
	conn_keep_output(t.c, true);
	t.bulk = 512 * 1024;
	peer_write(&t, "RETR 1\r\n");
	assert_true(tc_run(&t, CONN_INPUT, 2000));
	for (i = 0; i < 2000 && buf_len(conn_output(t.c)) > 0; i++) {
		drain_peer(t.peer);
		tc_run(&t, -1, 5);
	}
	assert_int_equal(buf_len(conn_output(t.c)), 0);
	assert_true(conn_output(t.c)->cap >= 512 * 1024);	/* kept for the next part */
	conn_keep_output(t.c, false);
	assert_int_equal(conn_output(t.c)->cap, 0);		/* given back */
	/* Without keep, the write that empties it gives it back. */
	t.bulk = 512 * 1024;
	peer_write(&t, "RETR 2\r\n");
	assert_true(tc_run(&t, CONN_INPUT, 2000));
	for (i = 0; i < 2000 && buf_len(conn_output(t.c)) > 0; i++) {
		drain_peer(t.peer);
		tc_run(&t, -1, 5);
	}
	assert_int_equal(buf_len(conn_output(t.c)), 0);
	assert_int_equal(conn_output(t.c)->cap, 0);
	tc_teardown(&t);
}

static void
test_input_limit(void **state)
{
	static const struct conn_limits	 lim = { 16, 1024, 4096 };
	struct tc			 t;

	(void)state;
	tc_setup(&t, SOCK_STREAM, &lim);
	peer_write(&t, "0123456789abcdefXYZ");
	assert_true(tc_run(&t, CONN_INPUT, 2000));
	/* At most input_max bytes are ever buffered; the rest comes next time. */
	assert_int_equal(t.gotlen, 16);
	assert_true(tc_run(&t, CONN_INPUT, 2000));
	assert_int_equal(t.gotlen, 19);
	tc_teardown(&t);
}

static void
test_timeout_and_pause(void **state)
{
	struct tc	t;

	(void)state;
	tc_setup(&t, SOCK_STREAM, NULL);
	conn_pause(t.c, true);
	peer_write(&t, "data\r\n");
	conn_set_timeout(t.c, 30);
	assert_true(tc_run(&t, CONN_TIMEOUT, 2000));
	assert_int_equal(t.n[CONN_INPUT], 0);	/* paused: nothing read */
	conn_pause(t.c, false);
	assert_true(tc_run(&t, CONN_INPUT, 2000));
	assert_int_equal(t.gotlen, 6);
	/* Disarmed: no second timeout. */
	conn_set_timeout(t.c, 0);
	assert_false(tc_run(&t, CONN_TIMEOUT, 60));
	tc_teardown(&t);
}

static double
thread_cpu_ms(void)
{
	struct rusage	 ru;

	assert_int_equal(getrusage(RUSAGE_THREAD, &ru), 0);
	return (ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) * 1e3 +
	    (ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e3;
}

/* A pause leaves the socket watched; input arriving then must not wake the loop again and again. */
static void
test_paused_input_does_not_spin(void **state)
{
	struct tc	t;
	double		 cpu;

	(void)state;
	tc_setup(&t, SOCK_STREAM, NULL);
	assert_false(tc_run(&t, CONN_INPUT, 10));	/* registered, as a session's socket is */
	conn_pause(t.c, true);
	peer_write(&t, "data\r\n");
	cpu = thread_cpu_ms();
	assert_false(tc_run(&t, CONN_INPUT, 200));
	/* Spinning costs a core (a third of one beside 4 busy loops); sleeping, next to nothing. */
	assert_true(thread_cpu_ms() - cpu < 20);
	conn_pause(t.c, false);
	assert_true(tc_run(&t, CONN_INPUT, 2000));
	assert_int_equal(t.gotlen, 6);
	tc_teardown(&t);
}

/* The reply that ends a pause is on the socket when conn_pause() returns. */
static void
test_resume_sends_the_reply_at_once(void **state)
{
	struct tc	t;
	char		buf[64];

	(void)state;
	tc_setup(&t, SOCK_STREAM, NULL);
	conn_pause(t.c, true);
	buf_puts(conn_output(t.c), "250 ok\r\n");
	conn_pause(t.c, false);
	assert_int_equal(recv(t.peer, buf, sizeof(buf), MSG_DONTWAIT), 8);
	assert_memory_equal(buf, "250 ok\r\n", 8);
	peer_write(&t, "next\r\n");
	assert_true(tc_run(&t, CONN_INPUT, 2000));
	assert_int_equal(t.gotlen, 6);
	tc_teardown(&t);
}

static void
test_free_inside_callback(void **state)
{
	struct tc	t;

	(void)state;
	tc_setup(&t, SOCK_STREAM, NULL);
	t.reply = "bye\r\n";
	t.free_on_input = true;
	peer_write(&t, "QUIT\r\n");
	assert_true(tc_run(&t, CONN_INPUT, 2000));
	assert_null(t.c);
	assert_int_equal(t.n[CONN_CLOSED], 0);	/* freed, not closed: no more events */
	tc_teardown(&t);
}

static void
test_close_after_flush(void **state)
{
	struct tc	t;
	char		buf[64];
	ssize_t		n;

	(void)state;
	tc_setup(&t, SOCK_STREAM, NULL);
	t.reply = "221 bye\r\n";
	t.close_after_reply = true;
	peer_write(&t, "QUIT\r\n");
	assert_true(tc_run(&t, CONN_CLOSED, 2000));
	assert_null(t.c);
	n = read(t.peer, buf, sizeof(buf));
	assert_int_equal(n, 9);
	assert_int_equal(read(t.peer, buf, sizeof(buf)), 0);	/* fd closed */
	tc_teardown(&t);
}

/* ---- TLS ---- */

struct client {
	int		 fd;
	int		 min, max;
	const char	*plain;		/* sent before the handshake */
	const char	*secret;	/* sent over TLS */
	char		 plain_reply[128];
	char		 tls_reply[128];
	char		 version[32];
	bool		 handshake_ok;
};

static void
read_line(int fd, SSL *ssl, char *out, size_t size)
{
	size_t	n = 0;
	int	r;

	while (n + 1 < size) {
		r = ssl != NULL ? SSL_read(ssl, out + n, 1) : (int)read(fd, out + n, 1);
		if (r <= 0)
			break;
		if (out[n++] == '\n')
			break;
	}
	out[n] = '\0';
}

static void *
client_main(void *arg)
{
	struct client	*cl = arg;
	SSL_CTX		*ctx;
	SSL		*ssl;

	if (cl->plain != NULL) {
		if (write(cl->fd, cl->plain, strlen(cl->plain)) < 0)
			return NULL;
		read_line(cl->fd, NULL, cl->plain_reply, sizeof(cl->plain_reply));
	}
	ctx = SSL_CTX_new(TLS_client_method());
	SSL_CTX_set_min_proto_version(ctx, cl->min);
	SSL_CTX_set_max_proto_version(ctx, cl->max);
	if (cl->max < TLS1_2_VERSION)
		SSL_CTX_set_security_level(ctx, 0);	/* let the old client try */
	ssl = SSL_new(ctx);
	SSL_set_fd(ssl, cl->fd);
	if (SSL_connect(ssl) == 1) {
		cl->handshake_ok = true;
		snprintf(cl->version, sizeof(cl->version), "%s", SSL_get_version(ssl));
		SSL_write(ssl, cl->secret, (int)strlen(cl->secret));
		read_line(cl->fd, ssl, cl->tls_reply, sizeof(cl->tls_reply));
		SSL_shutdown(ssl);
	}
	SSL_free(ssl);
	SSL_CTX_free(ctx);
	ERR_clear_error();
	shutdown(cl->fd, SHUT_WR);
	return NULL;
}

static void
run_tls(struct tc *t, struct client *cl)
{
	pthread_t	th;
	int		fl;

	cl->fd = t->peer;
	fl = fcntl(t->peer, F_GETFL);
	fcntl(t->peer, F_SETFL, fl & ~O_NONBLOCK);
	assert_int_equal(pthread_create(&th, NULL, client_main, cl), 0);
	tc_run(t, CONN_CLOSED, 5000);
	pthread_join(th, NULL);
}

static void
test_tls_implicit(void **state)
{
	static const int	 versions[] = { TLS1_3_VERSION, TLS1_2_VERSION };
	struct tc		 t;
	struct client		 cl;
	size_t			 i;

	(void)state;
	for (i = 0; i < 2; i++) {
		tc_setup(&t, SOCK_STREAM, NULL);
		assert_int_equal(conn_start_tls(t.c, t.ctx), 0);
		t.reply = "pong\r\n";
		t.close_after_reply = true;
		memset(&cl, 0, sizeof(cl));
		cl.min = cl.max = versions[i];
		cl.secret = "ping\r\n";
		run_tls(&t, &cl);
		assert_true(cl.handshake_ok);
		assert_string_equal(cl.tls_reply, "pong\r\n");
		assert_int_equal(t.n[CONN_TLS_DONE], 1);
		assert_string_equal(t.got, "ping\r\n");
		assert_non_null(strstr(t.tls_info, i == 0 ? "TLSv1.3 " : "TLSv1.2 "));
		assert_string_equal(cl.version, i == 0 ? "TLSv1.3" : "TLSv1.2");
		tc_teardown(&t);
	}
}

/* Megabytes each way over TLS: partial SSL_writes, WANT_WRITE, back-pressure. */
struct bulk_client {
	int		 fd;
	size_t		 sent, received;
	bool		 ok;
};

static void *
bulk_client_main(void *arg)
{
	struct bulk_client	*cl = arg;
	SSL_CTX			*ctx = SSL_CTX_new(TLS_client_method());
	SSL			*ssl = SSL_new(ctx);
	char			 buf[16384];
	int			 r;

	memset(buf, 'c', sizeof(buf));
	SSL_set_fd(ssl, cl->fd);
	if (SSL_connect(ssl) != 1)
		goto out;
	for (cl->sent = 0; cl->sent < 1024 * 1024; cl->sent += sizeof(buf))
		if (SSL_write(ssl, buf, sizeof(buf)) != (int)sizeof(buf))
			goto out;
	SSL_write(ssl, "\n", 1);
	cl->sent++;
	while ((r = SSL_read(ssl, buf, sizeof(buf))) > 0)
		cl->received += (size_t)r;
	cl->ok = true;
out:
	SSL_free(ssl);
	SSL_CTX_free(ctx);
	ERR_clear_error();
	return NULL;
}

static void
bulk_cb(struct conn *c, enum conn_event ev, void *arg)
{
	struct tc	*t = arg;
	struct buf	*in = conn_input(c);

	t->n[ev]++;
	if (ev == CONN_INPUT) {
		t->gotlen += buf_len(in);
		if (buf_len(in) > 0 && buf_head(in)[buf_len(in) - 1] == '\n') {
			/* All of it arrived: answer with 3 MB, then close. */
			append_bulk(c, 3 * 1024 * 1024);
			conn_close_after_flush(c);
		}
		buf_consume(in, buf_len(in));
	} else if (ev == CONN_CLOSED) {
		snprintf(t->reason, sizeof(t->reason), "%s", conn_close_reason(c));
		conn_free(&t->c);
		ev_loop_break(t->loop);
	}
}

static void
test_tls_bulk(void **state)
{
	static const struct conn_limits	 lim = { 8192, 64 * 1024, 8 * 1024 * 1024 };
	struct bulk_client		 cl;
	struct tc			 t;
	pthread_t			 th;
	int				 sv[2];

	(void)state;
	memset(&t, 0, sizeof(t));
	memset(&cl, 0, sizeof(cl));
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
	t.loop = ev_loop_new();
	t.guard = ev_timer_new(t.loop, guard_cb, &t);
	t.c = conn_new(t.loop, sv[0], &lim, bulk_cb, &t);
	t.peer = sv[1];
	assert_int_equal(conn_start_tls(t.c, tls_server_ctx(server)), 0);
	cl.fd = sv[1];
	assert_int_equal(pthread_create(&th, NULL, bulk_client_main, &cl), 0);
	ev_timer_set(t.guard, 10000);
	ev_loop_run(t.loop);
	pthread_join(th, NULL);
	assert_false(t.guard_fired);
	assert_true(cl.ok);
	assert_int_equal(t.gotlen, 1024 * 1024 + 1);
	assert_int_equal(cl.received, 3 * 1024 * 1024);
	assert_true(t.n[CONN_INPUT] > 1024 * 1024 / lim.input_max / 2);
	tc_teardown(&t);
}

/* Our own client side: two conns on one loop, STARTTLS as the relay will do it. */
static void
client_cb(struct conn *c, enum conn_event ev, void *arg)
{
	struct tc	*t = arg;
	struct buf	*in = conn_input(c);

	t->n[ev]++;
	switch (ev) {
	case CONN_INPUT:
		memcpy(t->got + t->gotlen, buf_head(in), buf_len(in));
		t->gotlen += buf_len(in);
		t->got[t->gotlen] = '\0';
		buf_consume(in, buf_len(in));
		if (strcmp(t->got, "220 go\r\n") == 0)
			assert_int_equal(conn_start_tls_client(c, t->ctx, "localhost"), 0);
		else if (strcmp(t->got, "220 go\r\n220 go\r\n") == 0)
			ev_loop_break(t->loop);		/* the answer to ping, over TLS */
		break;
	case CONN_TLS_DONE:
		snprintf(t->tls_info, sizeof(t->tls_info), "%s", conn_tls_info(c));
		buf_puts(conn_output(c), "ping\r\n");
		break;
	case CONN_CLOSED:
		snprintf(t->reason, sizeof(t->reason), "%s", conn_close_reason(c));
		conn_free(&t->c);
		ev_loop_break(t->loop);
		break;
	default:
		break;
	}
}

static void
test_tls_client_side(void **state)
{
	static const struct conn_limits	 lim = { 4096, 4096, 65536 };
	const char			*err;
	struct tc			 srv, cli;

	(void)state;
	tc_setup(&srv, SOCK_STREAM, NULL);
	memset(&cli, 0, sizeof(cli));
	cli.loop = srv.loop;
	assert_non_null(cli.ctx = tls_client_ctx_new(&err));
	cli.c = conn_new(srv.loop, srv.peer, &lim, client_cb, &cli);
	srv.peer = -1;			/* owned by the client conn now */
	srv.starttls_on_line = true;
	srv.reply = "220 go\r\n";
	buf_puts(conn_output(cli.c), "STARTTLS\r\n");
	conn_flush(cli.c);
	tc_run(&srv, -1, 3000);
	assert_false(srv.guard_fired);
	assert_string_equal(cli.got, "220 go\r\n220 go\r\n");	/* reply, then over TLS */
	assert_int_equal(srv.n[CONN_TLS_DONE], 1);
	assert_int_equal(cli.n[CONN_TLS_DONE], 1);
	assert_non_null(strstr(cli.tls_info, "TLSv1.3"));
	srv.got[srv.gotlen] = '\0';
	assert_string_equal(srv.got, "STARTTLS\r\nping\r\n");
	conn_free(&cli.c);
	SSL_CTX_free(cli.ctx);
	tc_teardown(&srv);
}

static void
test_tls_old_versions_refused(void **state)
{
	static const int	 versions[] = { TLS1_1_VERSION, TLS1_VERSION };
	struct tc		 t;
	struct client		 cl;
	size_t			 i;

	(void)state;
	for (i = 0; i < 2; i++) {
		tc_setup(&t, SOCK_STREAM, NULL);
		assert_int_equal(conn_start_tls(t.c, t.ctx), 0);
		memset(&cl, 0, sizeof(cl));
		cl.min = cl.max = versions[i];
		cl.secret = "ping\r\n";
		run_tls(&t, &cl);
		assert_false(cl.handshake_ok);
		assert_int_equal(t.n[CONN_TLS_DONE], 0);
		assert_int_equal(t.n[CONN_INPUT], 0);
		assert_int_equal(t.n[CONN_CLOSED], 1);
		assert_non_null(strstr(t.reason, "TLS handshake"));
		tc_teardown(&t);
	}
}

static void
test_starttls_discards_plaintext(void **state)
{
	struct tc	t;
	struct client	cl;

	(void)state;
	tc_setup(&t, SOCK_STREAM, NULL);
	/* The injection: a command pipelined after STARTTLS in the same packet. */
	memset(&cl, 0, sizeof(cl));
	cl.plain = "STARTTLS\r\nRCPT TO:<evil@example.com>\r\n";
	cl.secret = "AFTER\r\n";
	cl.min = TLS1_2_VERSION;
	cl.max = TLS1_3_VERSION;
	t.starttls_on_line = true;
	t.reply = "220 go\r\n";
	run_tls(&t, &cl);
	assert_string_equal(cl.plain_reply, "220 go\r\n");
	assert_true(cl.handshake_ok);
	assert_int_equal(t.n[CONN_TLS_DONE], 1);
	/* The session saw STARTTLS, then only what came over TLS. */
	t.got[t.gotlen] = '\0';
	assert_string_equal(t.got, "STARTTLS\r\nAFTER\r\n");
	assert_null(strstr(t.got, "evil"));
	assert_string_equal(cl.tls_reply, "220 go\r\n");
	tc_teardown(&t);
}

static void
test_tls_garbage_handshake(void **state)
{
	struct tc	t;

	(void)state;
	tc_setup(&t, SOCK_STREAM, NULL);
	assert_int_equal(conn_start_tls(t.c, t.ctx), 0);
	peer_write(&t, "EHLO plaintext\r\n");
	assert_true(tc_run(&t, CONN_CLOSED, 2000));
	assert_int_equal(t.n[CONN_INPUT], 0);
	assert_non_null(strstr(t.reason, "TLS handshake"));
	tc_teardown(&t);
}

static void
test_tls_contexts(void **state)
{
	struct testcert	 other;
	const char	*err = NULL;
	SSL_CTX		*ctx = tls_server_ctx(server), *client;

	(void)state;
	assert_int_equal(SSL_CTX_get_min_proto_version(ctx), TLS1_2_VERSION);
	assert_int_equal(SSL_CTX_get_max_proto_version(ctx), TLS1_3_VERSION);
	assert_int_equal(SSL_CTX_get_options(ctx) & SSL_OP_CIPHER_SERVER_PREFERENCE, 0);
	assert_true(SSL_CTX_get_options(ctx) & SSL_OP_NO_COMPRESSION);
	assert_true(SSL_CTX_get_options(ctx) & SSL_OP_NO_RENEGOTIATION);
	assert_null(tls_server_new("/nonexistent/cert.pem", cert.key, &err));
	assert_non_null(strstr(err, "/nonexistent/cert.pem"));

	/* A failed reload keeps the running certificate. */
	assert_int_equal(tls_server_reload(server, cert.cert, "/nonexistent/key.pem", &err), -1);
	assert_non_null(strstr(err, "/nonexistent/key.pem"));
	assert_ptr_equal(tls_server_ctx(server), ctx);
	assert_int_equal(testcert_make(&other), 0);
	assert_int_equal(tls_server_reload(server, other.cert, cert.key, &err), -1);
	assert_non_null(strstr(err, "key values mismatch"));
	assert_non_null(strstr(err, cert.key));
	assert_ptr_equal(tls_server_ctx(server), ctx);
	/* A good one swaps it (later tests handshake with the new one). */
	assert_int_equal(tls_server_reload(server, other.cert, other.key, &err), 0);
	assert_ptr_not_equal(tls_server_ctx(server), ctx);
	testcert_remove(&other);

	assert_non_null(client = tls_client_ctx_new(&err));
	assert_int_equal(SSL_CTX_get_min_proto_version(client), TLS1_2_VERSION);
	assert_int_equal(SSL_CTX_get_verify_mode(client), SSL_VERIFY_NONE);
	SSL_CTX_free(client);
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
		cmocka_unit_test(test_plain_echo),
		cmocka_unit_test(test_cork_one_write),
		cmocka_unit_test(test_backpressure),
		cmocka_unit_test(test_keep_output),
		cmocka_unit_test(test_input_limit),
		cmocka_unit_test(test_timeout_and_pause),
		cmocka_unit_test(test_paused_input_does_not_spin),
		cmocka_unit_test(test_resume_sends_the_reply_at_once),
		cmocka_unit_test(test_free_inside_callback),
		cmocka_unit_test(test_close_after_flush),
		cmocka_unit_test(test_tls_contexts),
		cmocka_unit_test(test_tls_implicit),
		cmocka_unit_test(test_tls_bulk),
		cmocka_unit_test(test_tls_client_side),
		cmocka_unit_test(test_tls_old_versions_refused),
		cmocka_unit_test(test_starttls_discards_plaintext),
		cmocka_unit_test(test_tls_garbage_handshake),
	};

	return cmocka_run_group_tests(tests, setup_all, teardown_all);
}
