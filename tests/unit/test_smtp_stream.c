/*
 * smtpd streams DATA/BDAT through env->writer as it arrives (issue 19
 * item 4): the writer sees the message in staged chunks before the end,
 * the header section is kept (bounded) for end-of-data checks, every way
 * a message can die discards its files, and a writer that cannot open or
 * write gives 451, never a 250.  Each case also fed a byte at a time.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "tests/unit/smtp_fixture.h"
#include "smtpd/smtp_private.h"

static uint64_t	 clock_ms = 1795000000000ULL;

static uint64_t
test_clock(void)
{
	return clock_ms;
}

static const char	 txn[] =
    "EHLO client.test\r\nMAIL FROM:<bob@sender.test>\r\nRCPT TO:<alice@example.test>\r\n";

/* The message as the client sends it (CRLF, stuffed) and as stored (LF). */
static void
big_message(struct buf *wire, struct buf *stored, size_t size)
{
	unsigned	 i;

	buf_puts(wire, "Subject: big\r\nFrom: <bob@sender.test>\r\n\r\n");
	buf_puts(stored, "Subject: big\nFrom: <bob@sender.test>\n\n");
	for (i = 0; buf_len(wire) < size; i++) {
		buf_printf(wire, "%s%u abcdefghijklmnopqrstuvwxyz\r\n", i % 5 == 0 ? ".." : "", i);
		buf_printf(stored, "%s%u abcdefghijklmnopqrstuvwxyz\n", i % 5 == 0 ? "." : "", i);
	}
}

static const char *
stored_body(const struct fx *f)
{
	const char	*p = strstr(f->body, "\nSubject: big\n");

	assert_non_null(p);
	return p + 1;
}

/*
 * Lines longer than the DATA machine's scan window (512), bare CRs and
 * bare LFs on both sides of a window's edge, a dot after each kind of
 * line end: converted the same whatever the pieces.
 */
static void
test_long_lines(void **state)
{
	size_t		 chunks[] = { SIZE_MAX, 1, 7, 511, 513, 4096 }, i, k;
	struct buf	 wire, stored;
	char		*expect;

	(void)state;
	buf_init(&wire, 1024 * 1024);
	buf_init(&stored, 1024 * 1024);
	buf_puts(&wire, "Subject: big\r\n\r\n");
	buf_puts(&stored, "Subject: big\n\n");
	for (k = 1; k < 40; k++) {
		size_t	 len = k * 97 % 1500, j;

		for (j = 0; j < len; j++) {
			buf_printf(&wire, "%c", 'a' + (int)(j % 26));
			buf_printf(&stored, "%c", 'a' + (int)(j % 26));
		}
		if (k % 3 == 0) {		/* a bare CR inside the line */
			buf_puts(&wire, "\rx");
			buf_puts(&stored, "\rx");
		}
		if (k % 4 == 0) {		/* a bare LF: stored as a line end */
			buf_puts(&wire, "\n.y");
			buf_puts(&stored, "\n.y");
		}
		buf_puts(&wire, k % 5 == 0 ? "\r\n..z\r\n" : "\r\n");
		buf_puts(&stored, k % 5 == 0 ? "\n.z\n" : "\n");
	}
	expect = buf_strdup(&stored);
	for (i = 0; i < sizeof(chunks) / sizeof(chunks[0]); i++) {
		struct fx	*f = fx_new();

		fx_feed(f, txn);
		fx_feed(f, "DATA\r\n");
		fx_feedn(f, buf_head(&wire), buf_len(&wire), chunks[i]);
		fx_feed(f, ".\r\n");
		assert_int_equal(f->delivered, 1);
		assert_string_equal(stored_body(f), expect);
		fx_free(&f);
	}
	free(expect);
	buf_release(&wire);
	buf_release(&stored);
}

static void
test_streamed_in_chunks(void **state)
{
	size_t		 chunks[] = { SIZE_MAX, 1, 7, 4096 }, i;
	struct buf	 wire, stored;
	char		*expect;

	(void)state;
	buf_init(&wire, 1024 * 1024);
	buf_init(&stored, 1024 * 1024);
	big_message(&wire, &stored, 300 * 1024);
	expect = buf_strdup(&stored);
	for (i = 0; i < sizeof(chunks) / sizeof(chunks[0]); i++) {
		struct fx	*f = fx_new_peer("127.0.0.1", "mx");
		size_t		 half = buf_len(&wire) / 2;

		f->env.max_message_size = 1024 * 1024;
		fx_open(f);
		fx_feed(f, txn);
		fx_feed(f, "DATA\r\n");
		assert_int_equal(f->opens, 1);
		/* Half the message in: most of it is with the writer already. */
		fx_feedn(f, buf_head(&wire), half, chunks[i]);
		assert_true(f->writes >= (half - SMTP_STAGE_SIZE) / SMTP_STAGE_SIZE);
		assert_true(f->writes >= 1);
		fx_feedn(f, buf_head(&wire) + half, buf_len(&wire) - half, chunks[i]);
		fx_feed(f, ".\r\n");
		assert_int_equal(f->delivered, 1);
		assert_string_equal(stored_body(f), expect);
		/* Written in staged chunks, never line by line nor all at once. */
		assert_true(f->max_write <= SMTP_STAGE_SIZE);
		assert_true(f->writes <= buf_len(&stored) / (SMTP_STAGE_SIZE / 2) + 2);
		assert_int_equal(f->open_streams, 0);
		assert_int_equal(f->discards, 0);
		fx_free(&f);
	}
	free(expect);
	buf_release(&wire);
	buf_release(&stored);
}

/* Feed `in` whole and a byte at a time; the header the deliverer saw must be `header`. */
static void
check_header(const char *in, const char *header, bool truncated, size_t max)
{
	size_t	 chunks[] = { SIZE_MAX, 1 }, i;

	for (i = 0; i < 2; i++) {
		struct fx	*f = fx_new_peer("127.0.0.1", "mx");

		f->env.max_header_size = max;
		fx_open(f);
		fx_feed(f, txn);
		fx_feedn(f, in, strlen(in), chunks[i]);
		assert_int_equal(f->delivered, 1);
		assert_int_equal(f->header_len, strlen(header));
		assert_string_equal(f->header, header);
		assert_int_equal(f->header_truncated, truncated);
		fx_free(&f);
	}
}

static void
test_header_section(void **state)
{
	struct buf	 in, hdr;
	char		*h;
	int		 i;

	(void)state;
	check_header("DATA\r\nSubject: a\r\nFrom: <b@c.test>\r\n\r\nbody\r\n\r\nmore\r\n.\r\n",
	    "Subject: a\nFrom: <b@c.test>\n", false, 1024);
	/* No body: all of it.  Starts with the empty line: none. */
	check_header("DATA\r\nSubject: a\r\n.\r\n", "Subject: a\n", false, 1024);
	check_header("DATA\r\n\r\nbody only\r\n.\r\n", "", false, 1024);
	/* Folded lines and a stuffed dot stay header. */
	check_header("DATA\r\nSubject: a\r\n\tb\r\n..X: y\r\n\r\n.\r\n",
	    "Subject: a\n\tb\n.X: y\n", false, 1024);
	/* BDAT: CRLF split across chunks, the empty line in the second. */
	check_header("BDAT 11\r\nSubject: a\rBDAT 9 LAST\r\n\n\r\nX: 1\r\n",
	    "Subject: a\n", false, 1024);
	/* Longer than max_header_size: the first bytes, flagged; the message whole. */
	buf_init(&in, 1024 * 1024);
	buf_init(&hdr, 1024 * 1024);
	buf_puts(&in, "DATA\r\n");
	for (i = 0; i < 100; i++) {
		buf_printf(&in, "X-Line-%03d: some header text to make it long\r\n", i);
		buf_printf(&hdr, "X-Line-%03d: some header text to make it long\n", i);
	}
	buf_puts(&in, "\r\nbody\r\n.\r\n");
	h = buf_strdup(&hdr);
	h[1000] = '\0';
	buf_append(&in, "", 1);		/* NUL-terminated for check_header */
	check_header(buf_head(&in), h, true, 1000);
	{
		struct fx	*f = fx_new();

		f->env.max_header_size = 1000;
		fx_feed(f, txn);
		fx_feed(f, buf_head(&in));
		assert_int_equal(f->delivered, 1);
		assert_non_null(strstr(f->body, "X-Line-099: some header text to make it long\n"
		    "\nbody\n"));
		fx_free(&f);
	}
	free(h);
	buf_release(&in);
	buf_release(&hdr);
}

/* Every way a message dies removes its files: RSET, oversize, bare LF, drop, STARTTLS. */
static void
test_discards(void **state)
{
	struct fx	*f;
	char		*big;

	(void)state;
	f = fx_new();
	fx_feed(f, txn);
	fx_feed(f, "BDAT 5\r\nhelloRSET\r\n");
	assert_int_equal(f->opens, 1);
	assert_int_equal(f->discards, 1);
	assert_int_equal(f->open_streams, 0);

	/* Oversize: discarded as soon as the limit is passed, not at the end. */
	fx_feed(f, "MAIL FROM:<a@b.test>\r\nRCPT TO:<alice@example.test>\r\nDATA\r\n");
	big = xmalloc(150001);
	memset(big, 'x', 150000);
	big[150000] = '\0';
	fx_feed(f, big);
	assert_int_equal(f->discards, 2);
	assert_int_equal(f->open_streams, 0);
	fx_feed(f, big);	/* still read, not written */
	free(big);
	free(fx_take(f));
	fx_feed(f, "\r\n.\r\n");
	assert_replies(f, "552 5.3.4 Message size exceeds fixed limit\r\n");
	assert_int_equal(f->delivered, 0);

	/* Bare LF rejected at the end. */
	f->env.bare_lf_reject = true;
	fx_feed(f, "MAIL FROM:<a@b.test>\r\nRCPT TO:<alice@example.test>\r\nDATA\r\na\nb\r\n.\r\n");
	assert_int_equal(f->discards, 3);
	assert_int_equal(f->open_streams, 0);

	/* The connection goes away mid-DATA. */
	fx_feed(f, "MAIL FROM:<a@b.test>\r\nRCPT TO:<alice@example.test>\r\nDATA\r\nhalf");
	assert_int_equal(f->open_streams, 1);
	host_double_free(&f->d);	/* frees the session */
	f->s = NULL;
	assert_int_equal(f->discards, 4);
	assert_int_equal(f->open_streams, 0);
	assert_int_equal(f->delivered, 0);

	/* A timeout mid-DATA: gone before the 421 is even sent. */
	fx_open(f);
	fx_feed(f, txn);
	fx_feed(f, "DATA\r\nhalf");
	assert_int_equal(f->open_streams, 1);
	free(fx_take(f));
	smtp_session_ops.timeout(f->s);
	assert_int_equal(f->open_streams, 0);
	assert_replies(f, "421 4.4.2 mx.example.test Error: timeout exceeded\r\n");
	fx_free(&f);
}

/* Postfix's rule: elapsed <= data_timeout + bytes / rate, reads <= data_timeout apart. */
static void
test_min_data_rate_deadline(void **state)
{
	struct fx		*f = fx_new_peer("127.0.0.1", "mx");
	struct smtp_session	*s;
	bool			 rate;

	(void)state;
	f->env.now_ms = test_clock;
	f->env.data_timeout = 2000;
	f->env.min_data_rate = 100;
	fx_open(f);
	s = f->s;
	fx_feed(f, txn);
	fx_feed(f, "DATA\r\n");
	assert_int_equal(smtp_data_deadline(s, &rate), 2000);
	assert_false(rate);
	clock_ms += 1500;
	fx_feed(f, "01234567890123456789012345678901234567890123456789");	/* 50 bytes */
	/* allowed 2000 + 500 ms, 1500 gone: 1000 left, less than data_timeout. */
	assert_int_equal(smtp_data_deadline(s, &rate), 1000);
	assert_true(rate);
	clock_ms += 1000;
	assert_int_equal(smtp_data_deadline(s, &rate), 1);	/* due now */
	assert_true(rate);
	/* A fast client: only data_timeout between reads. */
	{
		char	*big = xmalloc(10001);

		memset(big, 'x', 10000);
		big[10000] = '\0';
		fx_feed(f, big);
		free(big);
	}
	assert_int_equal(smtp_data_deadline(s, &rate), 2000);
	assert_false(rate);
	f->env.min_data_rate = 0;
	clock_ms += 1000000;
	assert_int_equal(smtp_data_deadline(s, &rate), 2000);
	assert_false(rate);
	fx_free(&f);
}

/* A writer that cannot open or write: 451, nothing delivered, the session goes on. */
static void
test_writer_failures(void **state)
{
	struct fx	*f;
	char		*r;

	(void)state;
	f = fx_new();
	f->fail_open = 1;
	fx_feed(f, txn);
	free(fx_take(f));
	fx_feed(f, "DATA\r\n");
	assert_replies(f, "451 4.3.0 Error: queue file write error\r\n");
	/* BDAT: the chunk is still read (the stream stays in sync), then 451. */
	fx_feed(f, "BDAT 5\r\nhelloBDAT 3 LAST\r\nabcNOOP\r\n");
	assert_replies(f, "250 2.0.0 Ok: 5 octets received\r\n"
	    "451 4.3.0 Error: queue file write error\r\n250 2.0.0 Ok\r\n");
	assert_int_equal(f->delivered, 0);
	f->fail_open = 0;
	f->fail_write = 1;
	fx_feed(f, "MAIL FROM:<a@b.test>\r\nRCPT TO:<alice@example.test>\r\nDATA\r\n"
	    "Subject: x\r\n\r\nbody\r\n.\r\nNOOP\r\n");
	r = fx_take(f);
	assert_non_null(strstr(r, "354 End data with <CR><LF>.<CR><LF>\r\n"
	    "451 4.3.0 Error: queue file write error\r\n250 2.0.0 Ok\r\n"));
	free(r);
	assert_int_equal(f->delivered, 0);
	assert_int_equal(f->open_streams, 0);
	fx_free(&f);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_streamed_in_chunks),
		cmocka_unit_test(test_long_lines),
		cmocka_unit_test(test_header_section),
		cmocka_unit_test(test_discards),
		cmocka_unit_test(test_writer_failures),
		cmocka_unit_test(test_min_data_rate_deadline),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
