/*
 * relayd/smtp_client.c against scripted servers: the commands it sends
 * (one at a time, or pipelined), the outcome told for every recipient,
 * HELO fallback, STARTTLS per policy, AUTH PLAIN and LOGIN, DSN/SIZE/BODY
 * parameters, messages refused before sending, connections lost and
 * servers that are not SMTP.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include "mail/dsn.h"
#include "relayd/smtp_client.h"

#include <stdio.h>
#include <string.h>

struct trace {
	char			 sent[8192];	/* what the client sent */
	char			 events[2048];	/* "ready", "tls", "body", "rcpt0=250", "closed=421 4.4.2" */
	struct smtp_client	*c;
};

static void
event(struct trace *t, const char *fmt, ...)
{
	size_t	len = strlen(t->events);
	va_list	ap;

	if (len > 0)
		t->events[len++] = ' ';
	va_start(ap, fmt);
	vsnprintf(t->events + len, sizeof(t->events) - len, fmt, ap);
	va_end(ap);
}

static void
op_send(void *ctx, const char *data, size_t len)
{
	struct trace	*t = ctx;

	strncat(t->sent, data, len);
}

static void
op_start_tls(void *ctx)
{
	event(ctx, "tls");
}

static void
op_send_body(void *ctx)
{
	event(ctx, "body");
}

static void
op_rcpt_done(void *ctx, size_t i, const struct smtp_reply *r)
{
	event(ctx, "rcpt%zu=%d", i, r->code);
}

static void
op_ready(void *ctx)
{
	event(ctx, "ready");
}

static void
op_closed(void *ctx, const struct smtp_reply *why)
{
	if (why == NULL)
		event(ctx, "closed");
	else
		event(ctx, "closed=%d %s", why->code, why->status);
}

static const struct smtp_client_ops	ops = {
	op_send, op_start_tls, op_send_body, op_rcpt_done, op_ready, op_closed,
};

static struct smtp_client_config	cfg;

/* The server says lines (CRLF separated); then the trace is read and cleared. */
static void
server(struct trace *t, const char *lines)
{
	while (*lines != '\0') {
		const char	*end = strstr(lines, "\r\n");

		assert_non_null(end);
		smtp_client_line(t->c, lines, (size_t)(end - lines));
		lines = end + 2;
	}
}

static void
expect(struct trace *t, const char *sent, const char *events)
{
	assert_string_equal(t->sent, sent);
	assert_string_equal(t->events, events);
	t->sent[0] = '\0';
	t->events[0] = '\0';
}

static void
start(struct trace *t, const char *greeting_and_ehlo)
{
	memset(t, 0, sizeof(*t));
	t->c = smtp_client_new(&cfg, &ops, t);
	server(t, greeting_and_ehlo);
}

static int
reset_config(void **state)
{
	(void)state;
	cfg = (struct smtp_client_config){ .helo_name = "relay.example.net", .tls = SMTP_TLS_NONE };
	return 0;
}

static const struct smtp_client_rcpt	two[] = {
	{ "alice@example.org", 0, NULL }, { "bob@example.org", 0, NULL },
};
static const struct smtp_client_msg	msg2 = {
	.sender = "carol@example.net", .size = 1234, .rcpts = two, .nrcpts = 2,
};

static void
test_one_command_at_a_time(void **state)
{
	struct trace	t;

	(void)state;
	start(&t, "220 mx.example.org ESMTP\r\n");
	expect(&t, "EHLO relay.example.net\r\n", "");
	server(&t, "250 mx.example.org\r\n");
	expect(&t, "", "ready");
	assert_true(smtp_client_send(t.c, &msg2));
	expect(&t, "MAIL FROM:<carol@example.net>\r\n", "");
	server(&t, "250 2.1.0 Ok\r\n");
	expect(&t, "RCPT TO:<alice@example.org>\r\n", "");
	server(&t, "550 5.1.1 no such user\r\n");
	expect(&t, "RCPT TO:<bob@example.org>\r\n", "rcpt0=550");
	server(&t, "250 2.1.5 Ok\r\n");
	expect(&t, "DATA\r\n", "");
	server(&t, "354 go ahead\r\n");
	expect(&t, "", "body");
	smtp_client_body_sent(t.c);
	assert_int_equal(smtp_client_timeout(t.c), 600);
	server(&t, "250 2.0.0 queued as 1234\r\n");
	expect(&t, "", "rcpt1=250 ready");
	smtp_client_quit(t.c);
	server(&t, "221 2.0.0 Bye\r\n");
	expect(&t, "QUIT\r\n", "closed");
	smtp_client_free(&t.c);
}

static void
test_pipelined_with_dsn_and_size(void **state)
{
	static const struct smtp_client_rcpt	rcpts[] = {
		{ "a@example.org", DSN_NOTIFY_SUCCESS | DSN_NOTIFY_FAILURE, "rfc822;a+40x" },
		{ "b@example.org", DSN_NOTIFY_NEVER, NULL },
		{ "c@example.org", 0, NULL },
	};
	const struct smtp_client_msg		 m = {
		.sender = "", .envid = "QQ314159", .ret = DSN_RET_HDRS, .size = 99,
		.eightbit = true, .rcpts = rcpts, .nrcpts = 3,
	};
	struct trace				 t;

	(void)state;
	start(&t, "220 mx\r\n250-mx\r\n250-PIPELINING\r\n250-SIZE 100\r\n250-8BITMIME\r\n250 DSN\r\n");
	expect(&t, "EHLO relay.example.net\r\n", "ready");
	assert_true(smtp_client_send(t.c, &m));
	expect(&t, "MAIL FROM:<> SIZE=99 BODY=8BITMIME RET=HDRS ENVID=QQ314159\r\n"
	    "RCPT TO:<a@example.org> NOTIFY=SUCCESS,FAILURE ORCPT=rfc822;a+40x\r\n"
	    "RCPT TO:<b@example.org> NOTIFY=NEVER\r\n"
	    "RCPT TO:<c@example.org>\r\n"
	    "DATA\r\n", "");
	server(&t, "250 ok\r\n250 ok\r\n450 4.2.1 mailbox busy\r\n250 ok\r\n354 go\r\n");
	expect(&t, "", "rcpt1=450 body");
	smtp_client_body_sent(t.c);
	server(&t, "250 ok\r\n");
	expect(&t, "", "rcpt0=250 rcpt2=250 ready");
	smtp_client_free(&t.c);
}

/* Without DSN, SIZE, 8BITMIME offered: none of their parameters. */
static void
test_no_parameters_unless_offered(void **state)
{
	static const struct smtp_client_rcpt	rcpts[] = {
		{ "a@example.org", DSN_NOTIFY_FAILURE, "rfc822;a@example.org" },
	};
	const struct smtp_client_msg		 m = {
		.sender = "s@example.net", .envid = "X", .ret = DSN_RET_FULL, .size = 10,
		.rcpts = rcpts, .nrcpts = 1,
	};
	struct trace				 t;

	(void)state;
	start(&t, "220 mx\r\n250 mx\r\n");
	expect(&t, "EHLO relay.example.net\r\n", "ready");
	assert_true(smtp_client_send(t.c, &m));
	server(&t, "250 ok\r\n");
	expect(&t, "MAIL FROM:<s@example.net>\r\nRCPT TO:<a@example.org>\r\n", "");
	smtp_client_free(&t.c);
}

static void
test_refused_before_sending(void **state)
{
	struct smtp_client_msg	m = msg2;
	struct trace		t;

	(void)state;
	start(&t, "220 mx\r\n250-mx\r\n250 SIZE 1000\r\n");
	expect(&t, "EHLO relay.example.net\r\n", "ready");
	assert_false(smtp_client_send(t.c, &m));		/* 1234 > 1000 */
	expect(&t, "", "rcpt0=552 rcpt1=552");
	m.size = 10;
	m.eightbit = true;
	assert_false(smtp_client_send(t.c, &m));
	expect(&t, "", "rcpt0=554 rcpt1=554");
	m.eightbit = false;
	m.utf8_addresses = true;
	assert_false(smtp_client_send(t.c, &m));
	expect(&t, "", "rcpt0=553 rcpt1=553");
	m.utf8_addresses = false;
	assert_true(smtp_client_send(t.c, &m));			/* still ready */
	expect(&t, "MAIL FROM:<carol@example.net> SIZE=10\r\n", "");
	smtp_client_free(&t.c);
}

static void
test_mail_refused(void **state)
{
	struct trace	t;

	(void)state;
	start(&t, "220 mx\r\n250 mx\r\n");
	expect(&t, "EHLO relay.example.net\r\n", "ready");
	smtp_client_send(t.c, &msg2);
	server(&t, "451 4.3.0 try later\r\n");
	expect(&t, "MAIL FROM:<carol@example.net>\r\nRSET\r\n", "rcpt0=451 rcpt1=451");
	server(&t, "250 ok\r\n");
	expect(&t, "", "ready");
	/* pipelined: the RCPT and DATA replies are read, nobody told twice */
	smtp_client_free(&t.c);
	start(&t, "220 mx\r\n250-mx\r\n250 PIPELINING\r\n");
	t.sent[0] = t.events[0] = '\0';
	smtp_client_send(t.c, &msg2);
	t.sent[0] = '\0';
	server(&t, "550 5.7.1 go away\r\n503 5.5.1 no MAIL\r\n503 5.5.1 no MAIL\r\n554 5.5.1 no valid recipients\r\n");
	expect(&t, "RSET\r\n", "rcpt0=550 rcpt1=550");
	server(&t, "250 ok\r\n");
	expect(&t, "", "ready");
	smtp_client_free(&t.c);
}

/* Every RCPT refused: no DATA (or, pipelined and taken anyway, an empty one). */
static void
test_no_recipient_taken(void **state)
{
	struct trace	t;

	(void)state;
	start(&t, "220 mx\r\n250 mx\r\n");
	t.sent[0] = t.events[0] = '\0';
	smtp_client_send(t.c, &msg2);
	server(&t, "250 ok\r\n550 no\r\n");
	t.sent[0] = '\0';
	server(&t, "551 no\r\n");
	expect(&t, "RSET\r\n", "rcpt0=550 rcpt1=551");
	server(&t, "250 ok\r\n");
	expect(&t, "", "ready");
	smtp_client_free(&t.c);
	start(&t, "220 mx\r\n250-mx\r\n250 PIPELINING\r\n");
	smtp_client_send(t.c, &msg2);
	t.sent[0] = t.events[0] = '\0';
	server(&t, "250 ok\r\n550 no\r\n550 no\r\n354 go\r\n");
	expect(&t, ".\r\n", "rcpt0=550 rcpt1=550");
	server(&t, "554 no data\r\n");
	expect(&t, "", "ready");
	smtp_client_free(&t.c);
}

static void
test_data_refused(void **state)
{
	struct trace	t;

	(void)state;
	start(&t, "220 mx\r\n250 mx\r\n");
	smtp_client_send(t.c, &msg2);
	server(&t, "250 ok\r\n250 ok\r\n250 ok\r\n");
	t.sent[0] = t.events[0] = '\0';
	server(&t, "452 4.3.1 out of space\r\n");
	expect(&t, "RSET\r\n", "rcpt0=452 rcpt1=452");
	smtp_client_free(&t.c);
}

static void
test_helo_fallback(void **state)
{
	struct trace	t;

	(void)state;
	start(&t, "220 old.example.org\r\n500 5.5.1 what?\r\n");
	expect(&t, "EHLO relay.example.net\r\nHELO relay.example.net\r\n", "");
	server(&t, "250 old.example.org\r\n");
	expect(&t, "", "ready");
	smtp_client_free(&t.c);
	/* a 4yz or a 421 to EHLO is not a reason to try HELO */
	start(&t, "220 mx\r\n421 4.3.2 shutting down\r\n");
	expect(&t, "EHLO relay.example.net\r\n", "closed=421 4.3.2");
	smtp_client_free(&t.c);
}

static void
test_greeting_refused(void **state)
{
	struct trace	t;

	(void)state;
	start(&t, "554 5.7.1 no service for you\r\n");
	expect(&t, "", "closed=554 5.7.1");
	smtp_client_free(&t.c);
}

static void
test_starttls(void **state)
{
	struct trace	t;

	(void)state;
	cfg.tls = SMTP_TLS_MAY;
	start(&t, "220 mx\r\n250-mx\r\n250-PIPELINING\r\n250 STARTTLS\r\n");
	expect(&t, "EHLO relay.example.net\r\nSTARTTLS\r\n", "");
	server(&t, "220 2.0.0 ready\r\n");
	expect(&t, "", "tls");
	smtp_client_tls_started(t.c, true);
	expect(&t, "EHLO relay.example.net\r\n", "");
	server(&t, "250-mx\r\n250 SIZE 5\r\n");	/* no PIPELINING after TLS: believed */
	expect(&t, "", "ready");
	assert_false(smtp_client_send(t.c, &msg2));
	smtp_client_free(&t.c);

	/* refused: on in plaintext when TLS is only wanted */
	start(&t, "220 mx\r\n250-mx\r\n250 STARTTLS\r\n454 4.7.0 TLS not available\r\n");
	expect(&t, "EHLO relay.example.net\r\nSTARTTLS\r\n", "ready");
	smtp_client_free(&t.c);

	/* required: refused, not offered, or a failed handshake end it */
	cfg.tls = SMTP_TLS_VERIFY;
	start(&t, "220 mx\r\n250-mx\r\n250 STARTTLS\r\n454 4.7.0 TLS not available\r\n");
	expect(&t, "EHLO relay.example.net\r\nSTARTTLS\r\n", "closed=454 4.7.0");
	smtp_client_free(&t.c);
	start(&t, "220 mx\r\n250 mx\r\n");
	expect(&t, "EHLO relay.example.net\r\n", "closed=454 4.7.4");
	smtp_client_free(&t.c);
	start(&t, "220 mx\r\n250-mx\r\n250 STARTTLS\r\n220 go\r\n");
	smtp_client_tls_started(t.c, false);
	expect(&t, "EHLO relay.example.net\r\nSTARTTLS\r\n", "tls closed=454 4.7.5");
	smtp_client_free(&t.c);

	/* never: not even asked */
	cfg.tls = SMTP_TLS_NONE;
	start(&t, "220 mx\r\n250-mx\r\n250 STARTTLS\r\n");
	expect(&t, "EHLO relay.example.net\r\n", "ready");
	smtp_client_free(&t.c);
}

static void
test_auth(void **state)
{
	struct trace	t;

	(void)state;
	cfg.tls = SMTP_TLS_VERIFY;
	cfg.auth_user = "home@example.net";
	cfg.auth_password = "s3cret";
	start(&t, "220 smart\r\n250-smart\r\n250 STARTTLS\r\n220 go\r\n");
	smtp_client_tls_started(t.c, true);
	t.sent[0] = t.events[0] = '\0';
	server(&t, "250-smart\r\n250 AUTH LOGIN PLAIN\r\n");
	/* base64("\0home@example.net\0s3cret") */
	expect(&t, "AUTH PLAIN AGhvbWVAZXhhbXBsZS5uZXQAczNjcmV0\r\n", "");
	server(&t, "235 2.7.0 ok\r\n");
	expect(&t, "", "ready");
	smtp_client_free(&t.c);

	start(&t, "220 smart\r\n250-smart\r\n250 STARTTLS\r\n220 go\r\n");
	smtp_client_tls_started(t.c, true);
	t.sent[0] = t.events[0] = '\0';
	server(&t, "250-smart\r\n250 AUTH LOGIN\r\n334 VXNlcm5hbWU6\r\n334 UGFzc3dvcmQ6\r\n");
	expect(&t, "AUTH LOGIN\r\naG9tZUBleGFtcGxlLm5ldA==\r\nczNjcmV0\r\n", "");
	/* a wrong password is fixed by the admin: a 4yz, the server's reply in it */
	server(&t, "535 5.7.8 bad credentials\r\n");
	expect(&t, "", "closed=454 4.7.0");
	smtp_client_free(&t.c);

	/* never in plaintext, unless TLS is said to be none */
	cfg.tls = SMTP_TLS_MAY;
	start(&t, "220 smart\r\n250-smart\r\n250 AUTH PLAIN\r\n");
	expect(&t, "EHLO relay.example.net\r\n", "closed=454 4.7.0");
	smtp_client_free(&t.c);
	cfg.tls = SMTP_TLS_ENCRYPT;
	start(&t, "220 smart\r\n250-smart\r\n250 AUTH PLAIN\r\n");
	expect(&t, "EHLO relay.example.net\r\n", "closed=454 4.7.4");
	smtp_client_free(&t.c);
	cfg.tls = SMTP_TLS_NONE;
	start(&t, "220 smart\r\n250-smart\r\n250-STARTTLS\r\n250 AUTH PLAIN\r\n235 ok\r\n");
	expect(&t, "EHLO relay.example.net\r\nAUTH PLAIN AGhvbWVAZXhhbXBsZS5uZXQAczNjcmV0\r\n",
	    "ready");
	smtp_client_free(&t.c);
}

static void
test_connection_lost(void **state)
{
	struct trace	t;

	(void)state;
	start(&t, "220 mx\r\n250 mx\r\n");
	smtp_client_send(t.c, &msg2);
	server(&t, "250 ok\r\n250 ok\r\n550 no\r\n354 go\r\n");
	smtp_client_body_sent(t.c);
	t.sent[0] = t.events[0] = '\0';
	smtp_client_abort(t.c, "connection reset");
	expect(&t, "", "rcpt0=421 closed=421 4.4.2");
	smtp_client_abort(t.c, "again");			/* once only */
	server(&t, "250 late\r\n");				/* ignored */
	expect(&t, "", "");
	smtp_client_free(&t.c);
}

static void
test_not_smtp(void **state)
{
	struct trace	t;

	(void)state;
	start(&t, "HTTP/1.1 400 Bad Request\r\n");
	expect(&t, "", "closed=421 4.5.0");
	smtp_client_free(&t.c);
	/* an early reply during the data ends it; the message is tried later */
	start(&t, "220 mx\r\n250 mx\r\n");
	smtp_client_send(t.c, &msg2);
	server(&t, "250 ok\r\n250 ok\r\n250 ok\r\n354 go\r\n");
	t.sent[0] = t.events[0] = '\0';
	server(&t, "552 5.3.4 too big\r\n");
	expect(&t, "", "rcpt0=421 rcpt1=421 closed=552 5.3.4");
	smtp_client_free(&t.c);
}

int
main(void)
{
	const struct CMUnitTest	tests[] = {
		cmocka_unit_test_setup(test_one_command_at_a_time, reset_config),
		cmocka_unit_test_setup(test_pipelined_with_dsn_and_size, reset_config),
		cmocka_unit_test_setup(test_no_parameters_unless_offered, reset_config),
		cmocka_unit_test_setup(test_refused_before_sending, reset_config),
		cmocka_unit_test_setup(test_mail_refused, reset_config),
		cmocka_unit_test_setup(test_no_recipient_taken, reset_config),
		cmocka_unit_test_setup(test_data_refused, reset_config),
		cmocka_unit_test_setup(test_helo_fallback, reset_config),
		cmocka_unit_test_setup(test_greeting_refused, reset_config),
		cmocka_unit_test_setup(test_starttls, reset_config),
		cmocka_unit_test_setup(test_auth, reset_config),
		cmocka_unit_test_setup(test_connection_lost, reset_config),
		cmocka_unit_test_setup(test_not_smtp, reset_config),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
