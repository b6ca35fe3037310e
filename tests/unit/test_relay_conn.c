/*
 * relayd/relay_conn.c against SMTP sinks on the same loop (lib/conn on the
 * server side, 127.0.0.1): hops tried in order (refused, greeting 554,
 * silent), the message on the wire (CRLF, dot-stuffed, 1 MB through the
 * back-pressure path), STARTTLS, a connection dropped in the data, and the
 * owner freeing the connection from inside its callbacks.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include "lib/buf.h"
#include "lib/conn.h"
#include "lib/ev.h"
#include "lib/linebuf.h"
#include "lib/tls.h"
#include "lib/xmalloc.h"
#include "relayd/relay_conn.h"
#include "tests/unit/net_testcert.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

enum sink_mode { SINK_OK, SINK_GREET_554, SINK_SILENT, SINK_DROP_IN_DATA };

struct sink {
	enum sink_mode	 mode;
	bool		 starttls;	/* offer it */
	int		 lfd;
	struct ev_io	*lio;
	struct conn	*c;
	struct linebuf	*lb;
	bool		 in_data;
	struct buf	*data;		/* the DATA bytes as received, ".\r\n" excluded */
	char		 log[1024];	/* commands seen, one per line */
	bool		 tls_done;
	uint16_t	 port;
};

static struct ev_loop		*loop;
static struct testcert		 tc;
static struct tls_server	*tls_server;
static SSL_CTX			*client_ctx;

static void
sink_reply(struct sink *s, const char *text)
{
	buf_puts(conn_output(s->c), text);
}

static void
sink_command(struct sink *s, const char *line)
{
	strncat(s->log, line, sizeof(s->log) - strlen(s->log) - 2);
	strcat(s->log, "\n");
	if (strncasecmp(line, "EHLO", 4) == 0)
		sink_reply(s, s->starttls && !s->tls_done ?
		    "250-sink\r\n250-PIPELINING\r\n250-STARTTLS\r\n250 8BITMIME\r\n" :
		    "250-sink\r\n250-PIPELINING\r\n250 8BITMIME\r\n");
	else if (strcmp(line, "STARTTLS") == 0) {
		sink_reply(s, "220 2.0.0 go ahead\r\n");
		conn_start_tls(s->c, tls_server_ctx(tls_server));
	} else if (strncmp(line, "MAIL", 4) == 0 || strcmp(line, "RSET") == 0)
		sink_reply(s, "250 2.1.0 ok\r\n");
	else if (strncmp(line, "RCPT TO:<bad", 12) == 0)
		sink_reply(s, "550 5.1.1 no such user\r\n");
	else if (strncmp(line, "RCPT", 4) == 0)
		sink_reply(s, "250 2.1.5 ok\r\n");
	else if (strcmp(line, "DATA") == 0) {
		sink_reply(s, "354 go\r\n");
		s->in_data = true;
	} else if (strcmp(line, "QUIT") == 0) {
		sink_reply(s, "221 2.0.0 bye\r\n");
		conn_close_after_flush(s->c);
	} else
		sink_reply(s, "500 5.5.2 what?\r\n");
}

static void
sink_data_line(struct sink *s, const char *line, size_t len)
{
	if (len == 1 && line[0] == '.') {
		s->in_data = false;
		sink_reply(s, "250 2.0.0 queued\r\n");
		return;
	}
	buf_append(s->data, line, len);
	buf_puts(s->data, "\r\n");
	if (s->mode == SINK_DROP_IN_DATA && buf_len(s->data) > 100)
		conn_free(&s->c);
}

static void
sink_event(struct conn *c, enum conn_event ev, void *arg)
{
	struct sink	*s = arg;
	struct buf	*in;

	(void)c;
	switch (ev) {
	case CONN_INPUT:
		in = conn_input(s->c);
		while (s->c != NULL && buf_len(in) > 0) {
			size_t	 used = linebuf_feed(s->lb, buf_head(in), buf_len(in));
			char	*line;
			size_t	 len;

			buf_consume(in, used);
			while (s->c != NULL && linebuf_next(s->lb, &line, &len) == LINE_OK) {
				if (s->in_data)
					sink_data_line(s, line, len);
				else
					sink_command(s, line);
			}
		}
		break;
	case CONN_TLS_DONE:
		s->tls_done = true;
		break;
	case CONN_CLOSED:
	case CONN_TIMEOUT:
		conn_free(&s->c);
		break;
	case CONN_DRAINED:
		break;
	}
}

static void
sink_accept(int fd, unsigned events, void *arg)
{
	static const struct conn_limits	lim = { 1 << 20, 1 << 16, 1 << 20 };
	struct sink			*s = arg;
	int				 cfd = accept4(fd, NULL, NULL, SOCK_CLOEXEC);

	(void)events;
	if (cfd == -1 || s->c != NULL) {
		if (cfd != -1)
			close(cfd);
		return;
	}
	s->c = conn_new(loop, cfd, &lim, sink_event, s);
	if (s->mode == SINK_GREET_554)
		sink_reply(s, "554 5.7.1 no service for you\r\n");
	else if (s->mode != SINK_SILENT)
		sink_reply(s, "220 sink ESMTP\r\n");
	conn_flush(s->c);
}

static void
sink_start(struct sink *s, enum sink_mode mode)
{
	struct sockaddr_in	sin = { .sin_family = AF_INET };
	socklen_t		len = sizeof(sin);

	memset(s, 0, sizeof(*s));
	s->mode = mode;
	s->lb = linebuf_new(1 << 16);
	s->data = buf_new(1 << 22);
	s->lfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	assert_int_equal(bind(s->lfd, (struct sockaddr *)&sin, sizeof(sin)), 0);
	assert_int_equal(listen(s->lfd, 8), 0);
	assert_int_equal(getsockname(s->lfd, (struct sockaddr *)&sin, &len), 0);
	s->port = ntohs(sin.sin_port);
	s->lio = ev_io_add(loop, s->lfd, EV_READ, sink_accept, s);
}

static void
sink_stop(struct sink *s)
{
	conn_free(&s->c);
	ev_io_del(&s->lio);
	close(s->lfd);
	linebuf_free(&s->lb);
	buf_free(&s->data);
}

static struct route_hop
hop(const char *host, uint16_t port)
{
	struct route_hop	h = { 0 };
	struct sockaddr_in	*sin = (struct sockaddr_in *)&h.addr;

	snprintf(h.host, sizeof(h.host), "%s", host);
	sin->sin_family = AF_INET;
	sin->sin_port = htons(port);
	sin->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	return h;
}

/* A port nothing listens on: bound, then closed. */
static uint16_t
closed_port(void)
{
	struct sockaddr_in	sin = { .sin_family = AF_INET };
	socklen_t		len = sizeof(sin);
	int			fd = socket(AF_INET, SOCK_STREAM, 0);

	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	assert_int_equal(bind(fd, (struct sockaddr *)&sin, sizeof(sin)), 0);
	assert_int_equal(getsockname(fd, (struct sockaddr *)&sin, &len), 0);
	close(fd);
	return ntohs(sin.sin_port);
}

/* ---- the owner ---- */

struct owner {
	struct relay_conn		*rc;
	const struct smtp_client_msg	*msg;
	const char			*body;
	size_t				 body_len;
	bool				 sent;
	char				 events[512];
	char				 why[1024];
	char				 host[64];
	bool				 free_in_rcpt_done;
};

static void
note(struct owner *o, const char *fmt, ...)
{
	size_t	len = strlen(o->events);
	va_list	ap;

	if (len > 0)
		o->events[len++] = ' ';
	va_start(ap, fmt);
	vsnprintf(o->events + len, sizeof(o->events) - len, fmt, ap);
	va_end(ap);
}

static void
owner_ready(void *arg)
{
	struct owner	*o = arg;

	note(o, "ready");
	snprintf(o->host, sizeof(o->host), "%s", relay_conn_host(o->rc));
	if (o->msg != NULL && !o->sent) {
		o->sent = true;
		assert_true(relay_conn_send(o->rc, o->msg, o->body, o->body_len));
	} else {
		relay_conn_quit(o->rc);
	}
}

static void
owner_rcpt_done(void *arg, size_t i, const struct smtp_reply *r)
{
	struct owner	*o = arg;

	note(o, "rcpt%zu=%d", i, r->code);
	if (o->free_in_rcpt_done) {
		relay_conn_free(&o->rc);
		ev_loop_break(loop);
	}
}

static void
owner_closed(void *arg, const struct smtp_reply *why)
{
	struct owner	*o = arg;

	note(o, why == NULL ? "closed" : "closed=%d", why != NULL ? why->code : 0);
	snprintf(o->why, sizeof(o->why), "%s", why != NULL ? why->text : "");
	relay_conn_free(&o->rc);
	ev_loop_break(loop);
}

static const struct relay_conn_ops	owner_ops = { owner_ready, owner_rcpt_done, owner_closed };

static void
too_slow(void *arg)
{
	(void)arg;
	fail_msg("not over within 10 s");
}

static void
run(struct owner *o, const struct route_hop *hops, size_t n, enum smtp_tls_policy tls)
{
	struct relay_conn_config	 cfg = {
		.smtp = { .helo_name = "relay.test", .tls = tls },
		.tls_ctx = client_ctx, .connect_timeout_ms = 2000, .reply_timeout_max_ms = 300,
	};
	struct ev_timer			*guard = ev_timer_new(loop, too_slow, NULL);

	ev_timer_set(guard, 10000);
	o->rc = relay_conn_new(loop, &cfg, hops, n, &owner_ops, o);
	assert_int_equal(ev_loop_run(loop), 0);
	ev_timer_free(&guard);
	assert_null(o->rc);
}

static const struct smtp_client_rcpt	rcpts[] = {
	{ "alice@example.org", 0, NULL }, { "bad@example.org", 0, NULL },
};
static const struct smtp_client_msg	msg = {
	.sender = "carol@example.net", .size = 40, .rcpts = rcpts, .nrcpts = 2,
};
static const char			body[] = "Subject: hi\n\n.leading dot\nlast line";

static void
test_next_hop_then_delivery(void **state)
{
	struct sink		 s;
	struct route_hop	 hops[2];
	struct owner		 o = { .msg = &msg, .body = body, .body_len = sizeof(body) - 1 };

	(void)state;
	sink_start(&s, SINK_OK);
	hops[0] = hop("refused.test", closed_port());
	hops[1] = hop("sink.test", s.port);
	run(&o, hops, 2, SMTP_TLS_NONE);
	assert_string_equal(o.events, "ready rcpt1=550 rcpt0=250 ready closed");
	assert_string_equal(o.host, "sink.test");
	buf_puts(s.data, "");
	assert_int_equal(buf_len(s.data), strlen("Subject: hi\r\n\r\n..leading dot\r\nlast line\r\n"));
	assert_memory_equal(buf_head(s.data), "Subject: hi\r\n\r\n..leading dot\r\nlast line\r\n",
	    buf_len(s.data));
	assert_string_equal(s.log, "EHLO relay.test\nMAIL FROM:<carol@example.net>\n"
	    "RCPT TO:<alice@example.org>\nRCPT TO:<bad@example.org>\nDATA\nQUIT\n");
	sink_stop(&s);
}

static void
test_unusable_hops(void **state)
{
	struct sink		 greet554, silent, ok;
	struct route_hop	 hops[3];
	struct owner		 o = { 0 }, none = { 0 };

	(void)state;
	sink_start(&greet554, SINK_GREET_554);
	sink_start(&silent, SINK_SILENT);
	sink_start(&ok, SINK_OK);
	hops[0] = hop("greet554.test", greet554.port);
	hops[1] = hop("silent.test", silent.port);
	hops[2] = hop("ok.test", ok.port);
	run(&o, hops, 3, SMTP_TLS_NONE);
	assert_string_equal(o.events, "ready closed");
	assert_string_equal(o.host, "ok.test");

	/* all of them fail: the last one's reason is told */
	hops[2] = hop("refused.test", closed_port());
	run(&none, hops, 3, SMTP_TLS_NONE);
	assert_string_equal(none.events, "closed=421");
	assert_non_null(strstr(none.why, "4.4.1 connect to refused.test[127.0.0.1]: Connection refused"));
	sink_stop(&greet554);
	sink_stop(&silent);
	sink_stop(&ok);
}

static void
test_starttls_and_a_big_message(void **state)
{
	struct sink		 s;
	struct route_hop	 h;
	size_t			 len = 1 << 20;
	char			*big = xmalloc(len);
	struct owner		 o = { .msg = &msg, .body = big, .body_len = len };

	(void)state;
	for (size_t i = 0; i < len; i++)
		big[i] = i % 64 == 63 ? '\n' : 'a' + (char)(i % 26);
	sink_start(&s, SINK_OK);
	s.starttls = true;
	h = hop("sink.test", s.port);
	run(&o, &h, 1, SMTP_TLS_MAY);
	assert_true(s.tls_done);
	assert_string_equal(o.events, "ready rcpt1=550 rcpt0=250 ready closed");
	assert_int_equal(buf_len(s.data), len + len / 64);	/* every LF became CRLF */
	assert_non_null(strstr(s.log, "STARTTLS\nEHLO relay.test\nMAIL"));
	free(big);
	sink_stop(&s);
}

static void
test_dropped_in_the_data(void **state)
{
	struct sink		 s;
	struct route_hop	 h;
	static const char	 long_body[] =
		"Subject: x\n\n0123456789012345678901234567890123456789\n"
		"0123456789012345678901234567890123456789\n0123456789012345678901234567890123456789\n";
	struct owner		 o = { .msg = &msg, .body = long_body, .body_len = sizeof(long_body) - 1 };

	(void)state;
	sink_start(&s, SINK_DROP_IN_DATA);
	h = hop("sink.test", s.port);
	run(&o, &h, 1, SMTP_TLS_NONE);
	/* the recipient the server took is tried again later, not lost */
	assert_string_equal(o.events, "ready rcpt1=550 rcpt0=421 closed=421");
	sink_stop(&s);
}

static void
test_owner_frees_inside_a_callback(void **state)
{
	struct sink		 s;
	struct route_hop	 h;
	struct owner		 o = { .msg = &msg, .body = body, .body_len = sizeof(body) - 1,
				       .free_in_rcpt_done = true };

	(void)state;
	sink_start(&s, SINK_OK);
	h = hop("sink.test", s.port);
	run(&o, &h, 1, SMTP_TLS_NONE);
	assert_string_equal(o.events, "ready rcpt1=550");
	sink_stop(&s);
}

static int
group_setup(void **state)
{
	const char	*err;

	(void)state;
	signal(SIGPIPE, SIG_IGN);
	loop = ev_loop_new();
	if (testcert_server_new(&tc, &tls_server) == -1)
		return -1;
	client_ctx = tls_client_ctx_new(&err);
	return client_ctx != NULL ? 0 : -1;
}

static int
group_teardown(void **state)
{
	(void)state;
	SSL_CTX_free(client_ctx);
	testcert_server_free(&tc, &tls_server);
	ev_loop_free(&loop);
	return 0;
}

int
main(void)
{
	const struct CMUnitTest	tests[] = {
		cmocka_unit_test(test_next_hop_then_delivery),
		cmocka_unit_test(test_unusable_hops),
		cmocka_unit_test(test_starttls_and_a_big_message),
		cmocka_unit_test(test_dropped_in_the_data),
		cmocka_unit_test(test_owner_frees_inside_a_callback),
	};

	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
