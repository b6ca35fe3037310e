/*
 * smtpd/smtp_session: the socket-free SMTP state machine, driven the way
 * the host drives it (feed bytes, read replies), in one feed and byte by
 * byte.  Covers every command and state, the DATA byte machine and every
 * smuggling form, BDAT, AUTH, limits and hostile input.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "tests/unit/smtp_fixture.h"
#include "smtpd/smtp_private.h"

#define EHLO_LOOPBACK \
	"250-mx.example.test\r\n250-PIPELINING\r\n250-SIZE 100000\r\n250-STARTTLS\r\n" \
	"250-AUTH PLAIN LOGIN\r\n250-ENHANCEDSTATUSCODES\r\n250-8BITMIME\r\n250-DSN\r\n" \
	"250-SMTPUTF8\r\n250 CHUNKING\r\n"
#define DATE	"Wed, 18 Nov 2026 11:06:40 +0000"

/* The queue id from the last "250 2.0.0 Ok: queued as X" in replies. */
static void
queueid_of(const char *replies, char id[17])
{
	const char	*p = strstr(replies, "queued as ");

	assert_non_null(p);
	memcpy(id, p + 10, 16);
	id[16] = '\0';
}

static void
test_greeting_and_ehlo(void **state)
{
	struct fx	*f = fx_new();

	(void)state;
	assert_replies(f, "220 mx.example.test ESMTP Postroom\r\n");
	fx_feed(f, "EHLO client.test\r\n");
	assert_replies(f, EHLO_LOOPBACK);
	fx_feed(f, "HELO client.test\r\n");
	assert_replies(f, "250 mx.example.test\r\n");
	fx_feed(f, "EHLO\r\n");
	assert_replies(f, "501 5.5.4 Syntax: EHLO hostname\r\n");
	fx_free(&f);
	assert_null(f);
}

static void
test_ehlo_no_auth_no_tls(void **state)
{
	struct fx	*f = fx_new_peer("192.0.2.7", "mx");

	(void)state;
	f->env.tls_available = false;
	fx_open(f);
	free(fx_take(f));
	fx_feed(f, "EHLO c\r\n");
	assert_replies(f, "250-mx.example.test\r\n250-PIPELINING\r\n250-SIZE 100000\r\n"
	    "250-ENHANCEDSTATUSCODES\r\n250-8BITMIME\r\n250-DSN\r\n250-SMTPUTF8\r\n"
	    "250 CHUNKING\r\n");
	fx_feed(f, "STARTTLS\r\n");
	assert_replies(f, "454 4.7.0 TLS not available\r\n");
	fx_free(&f);
}

static const char	 txn[] =
    "EHLO client.test\r\nMAIL FROM:<bob@sender.test>\r\nRCPT TO:<alice@example.test>\r\n"
    "DATA\r\n";
static const char	 msg1[] = "Subject: hi\r\n\r\nline one\r\n..dot\r\n.\r\n";

static void
test_simple_delivery(void **state)
{
	struct fx	*f = fx_new();
	char		*r, id[17], *expect;

	(void)state;
	free(fx_take(f));
	fx_feed(f, txn);
	fx_feed(f, msg1);
	r = fx_take(f);
	queueid_of(r, id);
	expect = xasprintf(EHLO_LOOPBACK "250 2.1.0 Ok\r\n250 2.1.5 Ok\r\n"
	    "354 End data with <CR><LF>.<CR><LF>\r\n250 2.0.0 Ok: queued as %s\r\n", id);
	assert_string_equal(r, expect);
	free(expect);
	free(r);
	expect = xasprintf("Return-Path: <bob@sender.test>\n"
	    "Received: from client.test ([127.0.0.1])\n"
	    "\tby mx.example.test (Postroom) with ESMTP id %s\n"
	    "\tfor <alice@example.test>; " DATE "\n"
	    "Subject: hi\n\nline one\n.dot\n", id);
	assert_string_equal(f->body, expect);
	free(expect);
	assert_string_equal(f->rcpts, "l:alice@example.test");
	assert_int_equal(f->delivered, 1);
	/* The session is ready for the next transaction. */
	fx_feed(f, "MAIL FROM:<>\r\nRCPT TO:<bob@example.test>\r\nQUIT\r\n");
	assert_replies(f, "250 2.1.0 Ok\r\n250 2.1.5 Ok\r\n221 2.0.0 Bye\r\n");
	assert_int_equal(smtp_session_ops.want(f->s), SESSION_CLOSE);
	fx_free(&f);
}

/* Replies with the queue ids blanked, so two runs compare equal. */
static char *
blank_ids(char *r)
{
	char	*p = r;

	while ((p = strstr(p, "queued as ")) != NULL) {
		memset(p + 10, 'X', 16);
		p += 26;
	}
	return r;
}

static void
test_pipelined_bytewise(void **state)
{
	static const char	 in[] =
	    "EHLO a\r\nMAIL FROM:<x@y.test>\r\nRCPT TO:<alice@example.test>\r\n"
	    "RCPT TO:<nobody@example.test>\r\nRCPT TO:<bob@example.test>\r\nDATA\r\n"
	    "a\r\n.\r\nMAIL FROM:<x@y.test>\r\nRCPT TO:<carol@example.test>\r\nBDAT 5\r\n"
	    "ab\r\ncBDAT 0 LAST\r\nRSET\r\nNOOP\r\nVRFY x\r\nHELP\r\nQUIT\r\n";
	struct fx	*f;
	char		*whole, *bytes;
	size_t		 chunk[] = { SIZE_MAX, 1, 2, 7 }, i;

	(void)state;
	f = fx_new();
	fx_feed(f, in);
	whole = blank_ids(fx_take(f));
	assert_string_equal(f->rcpts, "l:carol@example.test");
	assert_int_equal(f->delivered, 2);
	fx_free(&f);
	assert_non_null(strstr(whole, "550 5.1.1 <nobody@example.test>: Recipient address"
	    " rejected: User unknown\r\n"));
	assert_non_null(strstr(whole, "250 2.0.0 Ok: 5 octets received\r\n"));
	assert_non_null(strstr(whole, "252 2.0.0 Cannot VRFY"));
	assert_non_null(strstr(whole, "221 2.0.0 Bye\r\n"));
	for (i = 1; i < sizeof(chunk) / sizeof(chunk[0]); i++) {
		f = fx_new();
		fx_feedn(f, in, sizeof(in) - 1, chunk[i]);
		bytes = blank_ids(fx_take(f));
		assert_string_equal(whole, bytes);
		assert_int_equal(f->delivered, 2);
		assert_non_null(strstr(f->body, "\nab\nc"));
		free(bytes);
		fx_free(&f);
	}
	free(whole);
}

/*
 * Each of these must NOT end the message: the "smuggled" second
 * transaction stays message text, and only one message is accepted.
 */
static void
test_smuggling(void **state)
{
	static const char *const forms[] = {
		"\n.\n", "\n.\r\n", "\r.\r", "\r\n.\n", "\r\n.\r", "\n.", "\r.\r\n",
		"\r\n.\r\r\n", "\r\n\x00.\r\n",
	};
	struct fx	*f;
	struct buf	 in;
	size_t		 i;

	(void)state;
	for (i = 0; i < sizeof(forms) / sizeof(forms[0]); i++) {
		size_t flen = i == 8 ? 6 : strlen(forms[i]);

		f = fx_new();
		buf_init(&in, 4096);
		buf_puts(&in, txn);
		buf_puts(&in, "Subject: first\r\n\r\nbody");
		buf_append(&in, forms[i], flen);
		buf_puts(&in, "MAIL FROM:<evil@x.test>\r\nRCPT TO:<bob@example.test>\r\nDATA\r\n"
		    "Subject: smuggled\r\n\r\n.\r\n");
		fx_feedn(f, buf_head(&in), buf_len(&in), SIZE_MAX);
		/* Only the real end counts: exactly one message, the first. */
		assert_int_equal(f->delivered, 1);
		assert_non_null(strstr(f->body, "Subject: first"));
		assert_non_null(memmem(f->body, f->body_len, "Subject: smuggled", 17));
		assert_string_equal(f->rcpts, "l:alice@example.test");
		fx_feed(f, "NOOP\r\n");
		{
			char *r = fx_take(f), *q = strstr(r, "queued as ");

			assert_non_null(q);
			assert_null(strstr(q + 1, "queued as "));
			assert_non_null(strstr(q, "\r\n250 2.0.0 Ok\r\n"));
			free(r);
		}
		buf_release(&in);
		fx_free(&f);
	}
}

static void
test_bare_lf_normalize_and_reject(void **state)
{
	struct fx	*f = fx_new();

	(void)state;
	fx_feed(f, txn);
	fx_feed(f, "a\nb\r\nc\rd\r\n.\r\n");
	assert_int_equal(f->delivered, 1);
	assert_non_null(strstr(f->body, "\na\nb\nc\rd\n"));
	fx_free(&f);

	f = fx_new();
	f->env.bare_lf_reject = true;
	fx_feed(f, txn);
	free(fx_take(f));
	fx_feed(f, "a\nb\r\n.\r\nNOOP\r\n");
	assert_replies(f, "550 5.5.2 Error: bare <LF> received\r\n250 2.0.0 Ok\r\n");
	assert_int_equal(f->delivered, 0);
	fx_free(&f);
}

static void
test_oversize(void **state)
{
	struct fx	*f = fx_new();
	char		*big;

	(void)state;
	fx_feed(f, txn);
	free(fx_take(f));
	big = xmalloc(200001);
	memset(big, 'x', 200000);
	big[200000] = '\0';
	for (size_t i = 100; i < 200000; i += 100) {
		big[i - 1] = '\r';
		big[i] = '\n';
	}
	fx_feed(f, big);
	assert_replies(f, "");		/* nothing before the terminator */
	fx_feed(f, "\r\n.\r\nNOOP\r\n");
	assert_replies(f, "552 5.3.4 Message size exceeds fixed limit\r\n250 2.0.0 Ok\r\n");
	assert_int_equal(f->delivered, 0);
	fx_feed(f, "MAIL FROM:<a@b.test> SIZE=100001\r\n");
	assert_replies(f, "552 5.3.4 Message size exceeds fixed limit\r\n");
	fx_feed(f, "MAIL FROM:<a@b.test> SIZE=100000 BODY=8BITMIME\r\n");
	assert_replies(f, "250 2.1.0 Ok\r\n");
	free(big);
	fx_free(&f);
}

static void
test_long_line_and_nul(void **state)
{
	struct fx	*f = fx_new();
	char		*big;
	size_t		 n = 1024 * 1024;

	(void)state;
	free(fx_take(f));
	big = xmalloc(n + 3);
	memset(big, 'A', n);
	memcpy(big + n, "\r\n", 3);
	fx_feed(f, big);
	fx_feed(f, "NOOP\r\n");
	assert_replies(f, "500 5.5.2 Error: line too long\r\n250 2.0.0 Ok\r\n");
	/* Byte by byte too. */
	fx_feedn(f, big, n + 2, 1);
	assert_replies(f, "500 5.5.2 Error: line too long\r\n");
	fx_feedn(f, "NO\0OP\r\nNOOP\r\n", 13, 1);
	assert_replies(f, "500 5.5.2 Error: NUL character in command\r\n250 2.0.0 Ok\r\n");
	free(big);
	fx_free(&f);
}

static void
test_many_recipients(void **state)
{
	struct fx	*f = fx_new();
	struct buf	 in;
	char		*r;
	unsigned	 i, ok = 0, full = 0;
	const char	*p;

	(void)state;
	buf_init(&in, 1024 * 1024);
	buf_puts(&in, "EHLO a\r\nMAIL FROM:<a@b.test>\r\n");
	for (i = 0; i < 10000; i++)
		buf_puts(&in, "RCPT TO:<team@example.test>\r\n");
	buf_puts(&in, "DATA\r\nx\r\n.\r\n");
	fx_feedn(f, buf_head(&in), buf_len(&in), SIZE_MAX);
	r = fx_take(f);
	for (p = r; (p = strstr(p, "250 2.1.5 Ok")) != NULL; p++)
		ok++;
	for (p = r; (p = strstr(p, "452 4.5.3 Error: too many recipients")) != NULL; p++)
		full++;
	assert_int_equal(ok, 100);
	assert_int_equal(full, 9900);
	assert_non_null(strstr(r, "250 2.0.0 Ok: queued as"));
	/* Groups overlap (team -> alice + staff -> bob, alice, carol): once each. */
	assert_string_equal(f->rcpts, "l:alice@example.test,l:bob@example.test,"
	    "l:carol@example.test");
	free(r);
	buf_release(&in);
	fx_free(&f);
}

static void
test_commands_and_states(void **state)
{
	struct fx	*f = fx_new();

	(void)state;
	free(fx_take(f));
	fx_feed(f, "MAIL FROM:<a@b.test>\r\nGET / HTTP/1.0\r\nRCPT TO:<alice@example.test>\r\n"
	    "DATA\r\nSTARTTLS x\r\n");
	assert_replies(f, "503 5.5.1 Error: send HELO/EHLO first\r\n"
	    "500 5.5.2 Error: command not recognized\r\n"
	    "503 5.5.1 Error: send HELO/EHLO first\r\n"
	    "503 5.5.1 Error: send HELO/EHLO first\r\n"
	    "501 5.5.4 Syntax: STARTTLS\r\n");
	fx_feed(f, "ETRN example.test\r\n");
	assert_replies(f, "502 5.5.1 Error: command not implemented\r\n");
	fx_feed(f, "HELO a\r\nRCPT TO:<alice@example.test>\r\nDATA\r\nMAIL FROM:a@b\r\n"
	    "MAIL FROM:<a@b.test>\r\nMAIL FROM:<a@b.test>\r\nDATA\r\nAUTH PLAIN\r\n"
	    "RCPT TO:<alice@example.test> FOO=1\r\nRCPT TO:alice@example.test\r\n"
	    "RCPT TO:<a b@example.test>\r\nRSET\r\nRSET x\r\n");
	assert_replies(f, "250 mx.example.test\r\n"
	    "503 5.5.1 Error: need MAIL command\r\n"
	    "503 5.5.1 Error: need RCPT command\r\n"
	    "501 5.5.4 Syntax: MAIL FROM:<address>\r\n"
	    "250 2.1.0 Ok\r\n"
	    "503 5.5.1 Error: nested MAIL command\r\n"
	    "421 4.7.0 mx.example.test Error: too many errors\r\n");
	/* After 421 nothing more is read or answered. */
	assert_int_equal(smtp_session_ops.want(f->s), SESSION_CLOSE);
	assert_int_equal(fx_feed(f, "NOOP\r\n"), 0);
	assert_int_equal(smtp_session_ops.input(f->s, "NOOP\r\n", 6), 6);
	assert_replies(f, "");
	fx_free(&f);
}

static void
test_relay_policy(void **state)
{
	struct fx	*f = fx_new();

	(void)state;
	free(fx_take(f));
	fx_feed(f, "EHLO a\r\nMAIL FROM:<a@b.test>\r\nRCPT TO:<x@remote.test>\r\n"
	    "RCPT TO:<Postmaster>\r\nRCPT TO:<alice+tag@example.test>\r\n"
	    "RCPT TO:<whoever@catch.test>\r\nRCPT TO:<bad@@example.test>\r\n");
	assert_replies(f, EHLO_LOOPBACK "250 2.1.0 Ok\r\n"
	    "554 5.7.1 <x@remote.test>: Relay access denied\r\n"
	    "250 2.1.5 Ok\r\n250 2.1.5 Ok\r\n250 2.1.5 Ok\r\n"
	    "501 5.1.3 Bad recipient address syntax\r\n");
	fx_feed(f, "RSET\r\nAUTH PLAIN AGFsaWNlQGV4YW1wbGUudGVzdABhbGljZS1wdw==\r\n"
	    "MAIL FROM:<alice@example.test> RET=HDRS ENVID=abc+2B1\r\n"
	    "RCPT TO:<x@remote.test> NOTIFY=SUCCESS,FAILURE ORCPT=rfc822;x@remote.test\r\n"
	    "RCPT TO:<y@remote.test> NOTIFY=NEVER,DELAY\r\n"
	    "RCPT TO:<y@remote.test> ORCPT=bad\r\n"
	    "RCPT TO:<bob@example.test>\r\nDATA\r\nhi\r\n.\r\n");
	{
		char *r = fx_take(f);

		assert_non_null(strstr(r, "250 2.0.0 Ok\r\n235 2.7.0 Authentication successful\r\n"
		    "250 2.1.0 Ok\r\n250 2.1.5 Ok\r\n555 5.5.4 Unsupported option: NOTIFY\r\n"
		    "501 5.5.4 Bad ORCPT parameter syntax\r\n250 2.1.5 Ok\r\n354 "));
		free(r);
	}
	assert_string_equal(f->rcpts, "l:bob@example.test,r:x@remote.test");
	assert_string_equal(f->dsn, "envid=abc+2B1 ret=2 x@remote.test/6/rfc822;x@remote.test");
	assert_non_null(strstr(f->body, "(authenticated user alice@example.test)\n"
	    "\tby mx.example.test (Postroom) with ESMTPA id "));
	assert_null(strstr(f->body, "\tfor <"));	/* two recipients: no "for" */
	fx_free(&f);
}

static void
test_relay_networks(void **state)
{
	struct fx		*f = fx_new_peer("10.1.2.3", "mx");
	const char		*error = NULL;
	struct relaynets	*r = relaynets_parse("192.0.2.0/24, 10.0.0.0/8 ::1", &error);

	(void)state;
	assert_non_null(r);
	f->env.relaynets = r;
	fx_open(f);
	free(fx_take(f));
	fx_feed(f, "EHLO a\r\nMAIL FROM:<a@b.test>\r\nRCPT TO:<x@remote.test>\r\n");
	assert_non_null(strstr(buf_head(&f->out), "250 2.1.0 Ok\r\n250 2.1.5 Ok\r\n"));
	fx_free(&f);
	relaynets_free(&r);
	assert_null(r);
}

static void
test_auth(void **state)
{
	struct fx	*f = fx_new();

	(void)state;
	free(fx_take(f));
	fx_feed(f, "AUTH PLAIN\r\nEHLO a\r\n");
	free(fx_take(f));
	fx_feed(f, "AUTH PLAIN !!!notbase64\r\n");
	assert_replies(f, "501 5.5.2 Cannot decode response\r\n");
	fx_feed(f, "AUTH CRAM-MD5\r\n");
	assert_replies(f, "504 5.5.4 Unrecognized authentication type\r\n");
	fx_feed(f, "AUTH PLAIN\r\n*\r\n");
	assert_replies(f, "334 \r\n501 5.7.0 Authentication aborted\r\n");
	fx_feed(f, "AUTH LOGIN\r\nYWxpY2VAZXhhbXBsZS50ZXN0\r\nd3Jvbmc=\r\n");
	assert_replies(f, "334 VXNlcm5hbWU6\r\n334 UGFzc3dvcmQ6\r\n"
	    "535 5.7.8 Error: authentication failed\r\n");
	{
		static const char in[] =
		    "AUTH LOGIN YWxpY2VAZXhhbXBsZS50ZXN0\r\nYWxpY2UtcHc=\r\nAUTH PLAIN\r\n";

		fx_feedn(f, in, sizeof(in) - 1, 1);
	}
	assert_replies(f, "334 UGFzc3dvcmQ6\r\n235 2.7.0 Authentication successful\r\n"
	    "503 5.5.1 Error: already authenticated\r\n");
	fx_free(&f);
}

static void
test_auth_refused_without_tls(void **state)
{
	struct fx	*f = fx_new_peer("192.0.2.7", "submission");

	(void)state;
	fx_open(f);
	free(fx_take(f));
	fx_feed(f, "EHLO a\r\nAUTH PLAIN AGFsaWNlQGV4YW1wbGUudGVzdABhbGljZS1wdw==\r\n"
	    "MAIL FROM:<alice@example.test>\r\n");
	{
		char *r = fx_take(f);

		assert_null(strstr(r, "AUTH PLAIN LOGIN"));
		assert_non_null(strstr(r, "250 CHUNKING\r\n538 5.7.11 Encryption required for"
		    " requested authentication mechanism\r\n530 5.7.0 Authentication required\r\n"));
		free(r);
	}
	/* Over TLS (as after STARTTLS) it works. */
	f->peer.tls = true;
	snprintf(f->peer.tls_info, sizeof(f->peer.tls_info), "TLSv1.3 TLS_AES_256_GCM_SHA384");
	fx_feed(f, "EHLO a\r\nAUTH PLAIN AGFsaWNlQGV4YW1wbGUudGVzdABhbGljZS1wdw==\r\n"
	    "MAIL FROM:<alice@example.test>\r\nRCPT TO:<bob@example.test>\r\nDATA\r\nx\r\n.\r\n");
	assert_int_equal(f->delivered, 1);
	assert_non_null(strstr(f->body, "Received: from a ([192.0.2.7])\n"
	    "\t(using TLSv1.3 with cipher TLS_AES_256_GCM_SHA384)\n"
	    "\t(authenticated user alice@example.test)\n"
	    "\tby mx.example.test (Postroom) with ESMTPSA id "));
	fx_free(&f);
}

static void
test_starttls_discards_plaintext(void **state)
{
	static const char	 in[] = "EHLO a\r\nSTARTTLS\r\nMAIL FROM:<evil@x.test>\r\n";
	struct fx		*f = fx_new();
	size_t			 n;

	(void)state;
	free(fx_take(f));
	n = smtp_session_ops.input(f->s, in, sizeof(in) - 1);
	assert_int_equal(n, strlen("EHLO a\r\nSTARTTLS\r\n"));
	assert_int_equal(smtp_session_ops.want(f->s), SESSION_STARTTLS);
	free(fx_take(f));
	/* The host discards the rest and hands over a TLS session. */
	f->peer.tls = true;
	smtp_session_ops.tls_started(f->s);
	assert_int_equal(smtp_session_ops.want(f->s), SESSION_READ);
	fx_feed(f, "MAIL FROM:<a@b.test>\r\nEHLO a\r\nSTARTTLS\r\n");
	{
		char *r = fx_take(f);

		assert_non_null(strstr(r, "503 5.5.1 Error: send HELO/EHLO first\r\n250-mx"));
		assert_null(strstr(r, "STARTTLS\r\n250"));
		assert_non_null(strstr(r, "554 5.5.1 Error: TLS already active\r\n"));
		free(r);
	}
	fx_free(&f);
}

static void
test_bdat(void **state)
{
	struct fx	*f = fx_new();

	(void)state;
	fx_feed(f, "EHLO a\r\nBDAT 3\r\nabcMAIL FROM:<a@b.test>\r\n");
	free(fx_take(f));
	fx_feed(f, "RCPT TO:<alice@example.test>\r\nBDAT 5\r\nx\r\ny\rBDAT 3\r\n\nz\n"
	    "BDAT 2 LAST\r\n\r\n");
	assert_int_equal(f->delivered, 1);
	assert_non_null(strstr(f->body, "\nx\ny\nz\n\n"));
	fx_feed(f, "BDAT 2 LASTX\r\n");
	assert_int_equal(smtp_session_ops.want(f->s), SESSION_CLOSE);
	fx_free(&f);

	f = fx_new();
	free(fx_take(f));
	fx_feed(f, "EHLO a\r\nBDAT 3\r\nabcNOOP\r\n");
	{
		char *r = fx_take(f);

		assert_non_null(strstr(r, "\r\n503 5.5.1 Error: need MAIL command\r\n250 2.0.0 Ok\r\n"));
		free(r);
	}
	/* Oversize chunks fail the transaction at once. */
	fx_feed(f, "MAIL FROM:<a@b.test>\r\nRCPT TO:<bob@example.test>\r\nBDAT 100001\r\n");
	{
		char *big = xcalloc(1, 100001);

		fx_feedn(f, big, 100001, 4096);
		free(big);
	}
	fx_feed(f, "BDAT 1 LAST\r\nx");
	{
		char *r = fx_take(f);

		assert_non_null(strstr(r, "552 5.3.4 Message size exceeds fixed limit\r\n"
		    "503 5.5.1 Error: need MAIL command\r\n"));
		free(r);
	}
	assert_int_equal(f->delivered, 0);
	fx_free(&f);
}

static void
test_limits_and_failures(void **state)
{
	struct fx	*f = fx_new();
	unsigned	 i;

	(void)state;
	f->env.max_commands_before_mail = 3;
	free(fx_take(f));
	for (i = 0; i < 4; i++)
		fx_feed(f, "NOOP\r\n");
	assert_replies(f, "250 2.0.0 Ok\r\n250 2.0.0 Ok\r\n250 2.0.0 Ok\r\n"
	    "421 4.7.0 mx.example.test Error: too many commands\r\n");
	fx_free(&f);

	/*
	 * A client that pipelines without reading: the host stops feeding at
	 * the output mark (a quarter of 16 KB here), never a lost reply.
	 */
	{
		struct buf	 in, *o;
		const char	*p;
		size_t		 n, replies = 0;

		f = fx_new_peer("127.0.0.1", "mx");
		f->out_max = 16384;
		f->env.max_commands_before_mail = 100000;
		fx_open(f);
		buf_init(&in, 1024 * 1024);
		for (n = 0; n < 5000; n++)
			buf_puts(&in, "NOOP\r\n");
		host_double_input(f->d, buf_head(&in), buf_len(&in));
		o = host_double_output(f->d);
		while (buf_len(o) > 0) {
			assert_true(buf_len(o) < 16384 / 4 + 64);
			assert_true(host_double_held(f->d) > 0 || replies + buf_len(o) / 14 == 5000);
			for (p = buf_head(o); p < buf_head(o) + buf_len(o); p += 14) {
				assert_memory_equal(p, "250 2.0.0 Ok\r\n", 14);
				replies++;
			}
			host_double_read(f->d, NULL);
		}
		assert_int_equal(replies, 5000);
		assert_int_equal(host_double_held(f->d), 0);
		buf_release(&in);
		fx_free(&f);
	}

	/* A group larger than max_expansion: 452, the rest of the session goes on. */
	f = fx_new();
	f->env.max_expansion = 2;
	fx_feed(f, "EHLO a\r\nMAIL FROM:<a@b.test>\r\n");
	free(fx_take(f));
	fx_feed(f, "RCPT TO:<staff@example.test>\r\nRCPT TO:<bob@example.test>\r\n");
	assert_replies(f, "452 4.5.3 Error: too many recipients\r\n250 2.1.5 Ok\r\n");
	fx_free(&f);

	f = fx_new();
	f->result = -1;
	fx_feed(f, txn);
	free(fx_take(f));
	fx_feed(f, "x\r\n.\r\n");
	assert_replies(f, "451 4.3.0 Error: queue file write error\r\n");
	smtp_session_ops.timeout(f->s);
	assert_replies(f, "421 4.4.2 mx.example.test Error: timeout exceeded\r\n");
	assert_int_equal(smtp_session_ops.want(f->s), SESSION_CLOSE);
	fx_free(&f);
}

static void
test_smtputf8_and_syntax(void **state)
{
	struct fx	*f = fx_new();

	(void)state;
	fx_feed(f, "EHLO a\r\n");
	free(fx_take(f));
	fx_feed(f, "MAIL FROM:<j\xc3\xb6rg@b.test>\r\nMAIL FROM:<j\xc3\xb6rg@b.test> SMTPUTF8\r\n"
	    "RCPT TO:<\"quoted x\"@example.test>\r\nRSET\r\nMAIL FROM:<@a,@b:x@y.test> BODY=BINARY\r\n"
	    "MAIL FROM: <x@y.test>\r\n");
	assert_replies(f, "553 5.6.7 Must declare SMTPUTF8 to send from a non-ASCII address\r\n"
	    "250 2.1.0 Ok\r\n"
	    "550 5.1.1 <\"quoted x\"@example.test>: Recipient address rejected: User unknown\r\n"
	    "250 2.0.0 Ok\r\n555 5.5.4 Unsupported option: BODY\r\n250 2.1.0 Ok\r\n");
	fx_feed(f, "RSET\r\nMAIL FROM:<j\xc3\xb6rg@b.test> SMTPUTF8\r\n"
	    "RCPT TO:<alice@example.test>\r\nDATA\r\nx\r\n.\r\n");
	assert_int_equal(f->delivered, 1);
	assert_non_null(strstr(f->body, "Return-Path: <j\xc3\xb6rg@b.test>\n"));
	assert_non_null(strstr(f->body, ") with UTF8SMTP id "));
	fx_free(&f);
}

/*
 * Password checks take turns across sessions (the fixture's authq: 2 at
 * once): the third waits paused, one gone before its turn is never
 * checked, and every other gets its answer.
 */
static void
test_auth_checks_bounded(void **state)
{
	static const char	 in[] = "EHLO a\r\n"
	    "AUTH PLAIN AGFsaWNlQGV4YW1wbGUudGVzdABhbGljZS1wdw==\r\n";
	struct fx		*f = fx_new();
	struct host_double	*d[4];
	struct buf		 got;
	size_t			 i;

	(void)state;
	buf_init(&got, 1024 * 1024);
	for (i = 0; i < 4; i++) {
		d[i] = host_double_new(f->out_max);
		host_double_open(d[i], &smtp_session_ops, &f->peer, &f->env);
		host_double_input(d[i], in, sizeof(in) - 1);
		assert_int_equal(host_double_want(d[i]), SESSION_PAUSE);
	}
	assert_int_equal(host_double_jobs(d[0]) + host_double_jobs(d[1]), 2);
	assert_int_equal(host_double_jobs(d[2]) + host_double_jobs(d[3]), 0);
	assert_int_equal(turnq_waiting(f->env.authq), 2);
	host_double_free(&d[2]);		/* gone before its turn */
	assert_int_equal(turnq_waiting(f->env.authq), 1);
	host_double_run(d[0]);			/* its answer, and d[3]'s turn */
	assert_int_equal(host_double_jobs(d[3]), 1);
	assert_int_equal(turnq_running(f->env.authq), 2);
	for (i = 0; i < 4; i++) {
		if (d[i] == NULL)
			continue;
		host_double_pump(d[i], &got);
		assert_int_equal(host_double_want(d[i]), SESSION_READ);
		host_double_free(&d[i]);
	}
	assert_int_equal(turnq_running(f->env.authq), 0);
	assert_int_equal(turnq_waiting(f->env.authq), 0);
	{
		char	*r = buf_strdup(&got), *p = r;

		for (i = 0; (p = strstr(p, "235 2.7.0 Authentication successful")) != NULL; i++)
			p++;
		assert_int_equal(i, 3);
		free(r);
	}
	buf_release(&got);
	fx_free(&f);
}

/* Async work: the session pauses, takes no more input, resumes after. */
static void
test_async_completion(void **state)
{
	static const char	 in[] = "EHLO a\r\n"
	    "AUTH PLAIN AGFsaWNlQGV4YW1wbGUudGVzdABhbGljZS1wdw==\r\nNOOP\r\n";
	static const char	 txn2[] = "MAIL FROM:<a@b.test>\r\nRCPT TO:<bob@example.test>\r\n"
	    "DATA\r\n";
	static const char	 txn3[] = "MAIL FROM:<a@b.test>\r\nRCPT TO:<x@remote.test>\r\n"
	    "DATA\r\n";
	static const char	 body[] = "x\r\n.\r\nQUIT\r\n";
	struct fx		*f = fx_new();
	struct relaynets	*nets;
	const char		*error = NULL;

	(void)state;
	free(fx_take(f));
	host_double_input(f->d, in, sizeof(in) - 1);
	assert_int_equal(host_double_want(f->d), SESSION_PAUSE);
	assert_int_equal(host_double_jobs(f->d), 1);
	assert_int_equal(host_double_held(f->d), strlen("NOOP\r\n"));
	assert_null(memmem(buf_head(host_double_output(f->d)), buf_len(host_double_output(f->d)),
	    "235", 3));			/* no answer before the check is back */
	host_double_run(f->d);
	assert_int_equal(host_double_want(f->d), SESSION_READ);
	assert_int_equal(host_double_held(f->d), 0);
	{
		char *r = fx_take(f);

		assert_non_null(strstr(r, "\r\n235 2.7.0 Authentication successful\r\n"
		    "250 2.0.0 Ok\r\n"));
		free(r);
	}
	/*
	 * Pipelined MAIL/RCPT/DATA: the file is begun by a job at RCPT, DATA
	 * waits for it, the 354 comes after it.
	 */
	host_double_input(f->d, txn2, sizeof(txn2) - 1);
	host_double_input(f->d, body, 2);
	assert_int_equal(host_double_want(f->d), SESSION_PAUSE);
	assert_int_equal(host_double_jobs(f->d), 1);
	assert_int_equal(f->prepares, 0);
	assert_int_equal(f->opens, 0);
	assert_int_equal(host_double_held(f->d), 2);	/* the early body bytes */
	assert_null(memmem(buf_head(host_double_output(f->d)), buf_len(host_double_output(f->d)),
	    "354", 3));
	host_double_run(f->d);
	assert_int_equal(f->prepares, 1);
	assert_int_equal(f->opens, 1);
	assert_int_equal(host_double_held(f->d), 0);
	{
		char *r = fx_take(f);

		assert_non_null(strstr(r, "354 End data"));
		free(r);
	}
	/* A commit in flight when the session goes away: it completes alone. */
	host_double_input(f->d, body + 2, sizeof(body) - 3);
	assert_int_equal(host_double_want(f->d), SESSION_PAUSE);
	assert_int_equal(host_double_jobs(f->d), 1);
	assert_int_equal(host_double_held(f->d), strlen("QUIT\r\n"));
	host_double_free(&f->d);	/* frees the session, then the job ends alone */
	f->s = NULL;
	assert_int_equal(f->delivered, 1);
	/* And a password check in flight. */
	fx_open(f);
	host_double_input(f->d, in, sizeof(in) - 1);
	assert_int_equal(host_double_jobs(f->d), 1);
	host_double_free(&f->d);
	f->s = NULL;
	/* And a prepare in flight: the file it made is removed, nothing delivered. */
	fx_open(f);
	host_double_input(f->d, "EHLO a\r\n", 8);
	host_double_input(f->d, txn2, sizeof(txn2) - 1);
	assert_int_equal(host_double_jobs(f->d), 1);
	host_double_free(&f->d);
	f->s = NULL;
	assert_int_equal(f->prepares, 2);
	assert_int_equal(f->unprepares, 1);
	assert_int_equal(f->opens, 1);
	assert_int_equal(f->open_streams, 0);
	/* And a timeout while DATA waits for it: 421, then the file goes too. */
	fx_open(f);
	host_double_input(f->d, "EHLO a\r\n", 8);
	host_double_input(f->d, txn2, sizeof(txn2) - 1);
	assert_int_equal(host_double_jobs(f->d), 1);
	host_double_advance(f->d, f->env.idle_timeout + 1);
	assert_int_equal(host_double_want(f->d), SESSION_CLOSE);
	assert_int_equal(host_double_jobs(f->d), 0);
	assert_int_equal(f->prepares, 3);
	assert_int_equal(f->unprepares, 2);
	assert_int_equal(f->opens, 1);
	assert_int_equal(f->open_streams, 0);
	assert_int_equal(f->delivered, 1);
	{
		char *r = fx_take(f);

		assert_non_null(strstr(r, "421 4.4.2"));
		assert_null(strstr(r, "354"));
		free(r);
	}
	/* And an open at DATA in flight (remote recipient: the queue file). */
	host_double_free(&f->d);	/* the closed session */
	fx_open(f);
	nets = relaynets_parse("127.0.0.0/8", &error);
	f->env.relaynets = nets;
	host_double_input(f->d, "EHLO a\r\n", 8);
	host_double_input(f->d, txn3, sizeof(txn3) - 1);
	assert_int_equal(host_double_jobs(f->d), 1);
	assert_int_equal(host_double_want(f->d), SESSION_PAUSE);
	host_double_free(&f->d);
	f->s = NULL;
	f->env.relaynets = NULL;
	relaynets_free(&nets);
	assert_int_equal(f->opens, 2);
	assert_int_equal(f->open_streams, 0);
	fx_free(&f);
}

/* The client sends text; nothing runs (jobs stay queued). */
static void
fx_input(struct fx *f, const char *text)
{
	host_double_input(f->d, text, strlen(text));
}

/* The local file is begun at the first local RCPT, while the client goes on. */
static void
test_open_at_rcpt(void **state)
{
	struct fx	*f = fx_new();

	(void)state;
	fx_feed(f, "EHLO a\r\n");
	free(fx_take(f));
	/* RCPT: 250 at once, the session reads on, the prepare runs meanwhile. */
	fx_input(f, "MAIL FROM:<a@b.test>\r\nRCPT TO:<bob@example.test>\r\n");
	assert_int_equal(host_double_jobs(f->d), 1);
	assert_int_equal(host_double_want(f->d), SESSION_READ);
	assert_replies(f, "250 2.1.0 Ok\r\n250 2.1.5 Ok\r\n");
	assert_int_equal(f->prepares, 1);
	assert_int_equal(f->open_streams, 1);
	/* Recipients after the first join it; DATA answers 354 with no job. */
	fx_input(f, "RCPT TO:<alice@example.test>\r\nDATA\r\n");
	assert_int_equal(host_double_jobs(f->d), 0);
	assert_replies(f, "250 2.1.5 Ok\r\n354 End data with <CR><LF>.<CR><LF>\r\n");
	fx_feed(f, "x\r\n.\r\n");
	assert_int_equal(f->delivered, 1);
	assert_int_equal(f->prepares, 1);
	assert_int_equal(f->opens, 1);
	assert_string_equal(f->rcpts, "l:bob@example.test,l:alice@example.test");
	assert_non_null(strstr(f->body, "Return-Path: <a@b.test>\nReceived: from a "));
	assert_null(strstr(f->body, "\tfor <"));	/* two recipients: no "for" */
	assert_non_null(strstr(f->body, "\nx\n"));
	free(fx_take(f));

	/* RSET, a refused DATA's RSET, QUIT: no file stays, done or in flight. */
	fx_feed(f, "MAIL FROM:<a@b.test>\r\nRCPT TO:<bob@example.test>\r\nRSET\r\n");
	assert_int_equal(f->prepares, 2);
	assert_int_equal(f->unprepares, 1);
	assert_int_equal(f->open_streams, 0);
	fx_input(f, "MAIL FROM:<a@b.test>\r\nRCPT TO:<bob@example.test>\r\nRSET\r\n");
	assert_int_equal(host_double_jobs(f->d), 1);	/* reset before it ran */
	host_double_run(f->d);
	assert_int_equal(f->prepares, 3);
	assert_int_equal(f->unprepares, 2);
	assert_int_equal(f->open_streams, 0);
	free(fx_take(f));
	/* The prepare fails: DATA creates the file itself, as a job. */
	f->fail_prepare = 1;
	fx_feed(f, "MAIL FROM:<a@b.test>\r\nRCPT TO:<bob@example.test>\r\n");
	fx_input(f, "DATA\r\n");
	assert_int_equal(host_double_jobs(f->d), 1);
	assert_int_equal(host_double_want(f->d), SESSION_PAUSE);
	fx_feed(f, "y\r\n.\r\n");
	assert_int_equal(f->delivered, 2);
	assert_non_null(strstr(f->body, "\tfor <bob@example.test>"));
	f->fail_prepare = 0;
	free(fx_take(f));
	/* Both fail: 451 at DATA and no 354; the transaction is kept. */
	f->fail_open = 1;
	fx_feed(f, "MAIL FROM:<a@b.test>\r\nRCPT TO:<bob@example.test>\r\nDATA\r\n");
	assert_replies(f, "250 2.1.0 Ok\r\n250 2.1.5 Ok\r\n"
	    "451 4.3.0 Error: queue file write error\r\n");
	f->fail_open = 0;
	fx_feed(f, "DATA\r\nz\r\n.\r\n");
	assert_int_equal(f->delivered, 3);
	free(fx_take(f));
	/* BDAT: a first chunk of 0 bytes is answered once, the file is the prepared one. */
	fx_feed(f, "MAIL FROM:<a@b.test>\r\nRCPT TO:<bob@example.test>\r\nBDAT 0\r\n"
	    "BDAT 3 LAST\r\nabc");
	assert_int_equal(f->delivered, 4);
	assert_int_equal(f->prepares, 4);
	{
		char *r = fx_take(f);

		assert_non_null(strstr(r, "\r\n250 2.0.0 Ok: 0 octets received\r\n250 2.0.0 Ok: queued"));
		free(r);
	}
	assert_non_null(strstr(f->body, "\nabc"));
	/* QUIT after RCPT, and a connection lost after it. */
	fx_feed(f, "MAIL FROM:<a@b.test>\r\nRCPT TO:<bob@example.test>\r\nQUIT\r\n");
	assert_int_equal(host_double_want(f->d), SESSION_CLOSE);
	host_double_free(&f->d);
	f->s = NULL;
	assert_int_equal(f->open_streams, 0);
	fx_open(f);
	fx_feed(f, "EHLO a\r\nMAIL FROM:<a@b.test>\r\nRCPT TO:<bob@example.test>\r\n");
	assert_int_equal(f->open_streams, 1);
	host_double_free(&f->d);
	f->s = NULL;
	assert_int_equal(f->open_streams, 0);
	assert_int_equal(f->delivered, 4);
	fx_free(&f);
}

static void
test_validators(void **state)
{
	const char	*error = NULL;
	struct relaynets *r;

	(void)state;
	assert_true(xtext_valid("abc+2B"));
	assert_false(xtext_valid("abc+2b"));
	assert_false(xtext_valid("a=b"));
	assert_false(xtext_valid("a b"));
	r = relaynets_parse("", &error);
	assert_false(relaynets_match(r, "127.0.0.1"));
	relaynets_free(&r);
	assert_null(relaynets_parse("10.0.0.0/33", &error));
	assert_null(relaynets_parse("nonsense", &error));
	r = relaynets_parse("10.128.0.0/9,2001:db8::/32", &error);
	assert_true(relaynets_match(r, "10.200.0.1"));
	assert_false(relaynets_match(r, "10.1.0.1"));
	assert_true(relaynets_match(r, "::ffff:10.200.0.1"));
	assert_true(relaynets_match(r, "2001:db8::5"));
	assert_false(relaynets_match(r, "2001:db9::5"));
	relaynets_free(&r);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_greeting_and_ehlo),
		cmocka_unit_test(test_ehlo_no_auth_no_tls),
		cmocka_unit_test(test_simple_delivery),
		cmocka_unit_test(test_pipelined_bytewise),
		cmocka_unit_test(test_smuggling),
		cmocka_unit_test(test_bare_lf_normalize_and_reject),
		cmocka_unit_test(test_oversize),
		cmocka_unit_test(test_long_line_and_nul),
		cmocka_unit_test(test_many_recipients),
		cmocka_unit_test(test_commands_and_states),
		cmocka_unit_test(test_relay_policy),
		cmocka_unit_test(test_relay_networks),
		cmocka_unit_test(test_auth),
		cmocka_unit_test(test_auth_refused_without_tls),
		cmocka_unit_test(test_starttls_discards_plaintext),
		cmocka_unit_test(test_bdat),
		cmocka_unit_test(test_limits_and_failures),
		cmocka_unit_test(test_smtputf8_and_syntax),
		cmocka_unit_test(test_auth_checks_bounded),
		cmocka_unit_test(test_async_completion),
		cmocka_unit_test(test_open_at_rcpt),
		cmocka_unit_test(test_validators),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
