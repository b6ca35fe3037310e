/*
 * relayd/smtp_reply.c: codes, continuation lines, enhanced status codes,
 * EHLO extensions, and what an untrusted server cannot do to it.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include "relayd/smtp_reply.h"

#include <stdio.h>
#include <string.h>

/* Feeds lines until the reply ends; returns the last step. */
static enum smtp_reply_step
feed(struct smtp_reply *r, bool ehlo, const char *const *lines)
{
	enum smtp_reply_step	step = SMTP_REPLY_MORE;

	smtp_reply_begin(r, ehlo);
	for (; *lines != NULL && step == SMTP_REPLY_MORE; lines++)
		step = smtp_reply_line(r, *lines, strlen(*lines));
	assert_null(*lines);	/* every line was read */
	return step;
}

static void
test_one_line(void **state)
{
	struct smtp_reply	r;

	(void)state;
	assert_int_equal(feed(&r, false, (const char *[]){ "250 OK", NULL }), SMTP_REPLY_DONE);
	assert_int_equal(r.code, 250);
	assert_int_equal(smtp_reply_class(&r), 2);
	assert_string_equal(r.text, "OK");
	assert_string_equal(r.status, "");
	assert_int_equal(feed(&r, false, (const char *[]){ "354", NULL }), SMTP_REPLY_DONE);
	assert_int_equal(r.code, 354);
	assert_string_equal(r.text, "");
}

static void
test_enhanced_status(void **state)
{
	struct smtp_reply	r;

	(void)state;
	feed(&r, false, (const char *[]){ "550 5.1.1 <bob@example.org>: no such user", NULL });
	assert_string_equal(r.status, "5.1.1");
	assert_string_equal(r.text, "5.1.1 <bob@example.org>: no such user");
	feed(&r, false, (const char *[]){ "452 4.3.1", NULL });
	assert_string_equal(r.status, "4.3.1");
	/* the class must be the reply's; three digits at most; then a space */
	feed(&r, false, (const char *[]){ "550 4.1.1 wrong class", NULL });
	assert_string_equal(r.status, "");
	feed(&r, false, (const char *[]){ "550 5.1000.1 too long", NULL });
	assert_string_equal(r.status, "");
	feed(&r, false, (const char *[]){ "550 5.1.1x", NULL });
	assert_string_equal(r.status, "");
	feed(&r, false, (const char *[]){ "550 5..1 x", NULL });
	assert_string_equal(r.status, "");
}

static void
test_continuation_lines(void **state)
{
	struct smtp_reply	r;

	(void)state;
	assert_int_equal(feed(&r, false, (const char *[]){
	    "451-4.7.1 Greylisted,", "451-please try", "451 again later", NULL }),
	    SMTP_REPLY_DONE);
	assert_int_equal(r.code, 451);
	assert_int_equal(r.lines, 3);
	assert_string_equal(r.status, "4.7.1");
	assert_string_equal(r.text, "4.7.1 Greylisted,; please try; again later");
	/* a continuation must keep the code */
	assert_int_equal(feed(&r, false, (const char *[]){ "250-a", "550 b", NULL }),
	    SMTP_REPLY_BAD);
}

static void
test_not_smtp(void **state)
{
	static const char	*bad[] = {
		"", "25", "2500 x", "250x", "150 x", "650 x", "260 x", "2a0 x",
		"HTTP/1.1 400 Bad Request", "-250 x", " 250 x",
	};
	struct smtp_reply	 r;

	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		smtp_reply_begin(&r, false);
		assert_int_equal(smtp_reply_line(&r, bad[i], strlen(bad[i])), SMTP_REPLY_BAD);
	}
}

static void
test_endless_reply_is_cut(void **state)
{
	struct smtp_reply	r;
	enum smtp_reply_step	step = SMTP_REPLY_MORE;
	unsigned		n = 0;

	(void)state;
	smtp_reply_begin(&r, false);
	while (step == SMTP_REPLY_MORE && n < 1000) {
		step = smtp_reply_line(&r, "250-more and more text to fill the buffer", 41);
		n++;
	}
	assert_int_equal(step, SMTP_REPLY_BAD);
	assert_int_equal(n, SMTP_REPLY_LINES_MAX + 1);
	assert_true(strlen(r.text) < SMTP_REPLY_TEXT_MAX);
}

static void
test_control_bytes_kept_out_of_the_text(void **state)
{
	struct smtp_reply	r;
	const char		line[] = "550 bad\tthing\x1b[31m here\x7f";

	(void)state;
	smtp_reply_begin(&r, false);
	assert_int_equal(smtp_reply_line(&r, line, sizeof(line) - 1), SMTP_REPLY_DONE);
	assert_string_equal(r.text, "bad?thing?[31m here?");
}

static void
test_ehlo_extensions(void **state)
{
	struct smtp_reply	r;

	(void)state;
	assert_int_equal(feed(&r, true, (const char *[]){
	    "250-mx.example.org Hello [127.0.0.1]", "250-PIPELINING",
	    "250-SIZE 10240000", "250-8bitmime", "250-STARTTLS",
	    "250-AUTH LOGIN PLAIN CRAM-MD5", "250-DSN", "250-ENHANCEDSTATUSCODES",
	    "250-X-UNKNOWN with args", "250 SMTPUTF8", NULL }), SMTP_REPLY_DONE);
	assert_true(r.ext.pipelining && r.ext.eightbitmime && r.ext.starttls);
	assert_true(r.ext.dsn && r.ext.enhancedstatuscodes && r.ext.smtputf8);
	assert_true(r.ext.size);
	assert_int_equal(r.ext.size_max, 10240000);
	assert_int_equal(r.ext.auth, SMTP_AUTH_PLAIN | SMTP_AUTH_LOGIN);
	assert_string_equal(r.text, "mx.example.org Hello [127.0.0.1]");
}

static void
test_ehlo_odd_lines(void **state)
{
	struct smtp_reply	r;

	(void)state;
	/* the greeting line is not an extension; SIZE without (or with a bad) number */
	feed(&r, true, (const char *[]){ "250-STARTTLS", "250-SIZE", "250 AUTH=LOGIN", NULL });
	assert_false(r.ext.starttls);
	assert_true(r.ext.size);
	assert_int_equal(r.ext.size_max, 0);
	assert_int_equal(r.ext.auth, 0);
	feed(&r, true, (const char *[]){ "250-x", "250 SIZE -5", NULL });
	assert_true(r.ext.size);
	assert_int_equal(r.ext.size_max, 0);
	/* a server that refuses EHLO: the caller falls back to HELO */
	feed(&r, true, (const char *[]){ "502 5.5.1 EHLO not supported", NULL });
	assert_int_equal(smtp_reply_class(&r), 5);
	assert_false(r.ext.size);
}

int
main(void)
{
	const struct CMUnitTest	tests[] = {
		cmocka_unit_test(test_one_line),
		cmocka_unit_test(test_enhanced_status),
		cmocka_unit_test(test_continuation_lines),
		cmocka_unit_test(test_not_smtp),
		cmocka_unit_test(test_endless_reply_is_cut),
		cmocka_unit_test(test_control_bytes_kept_out_of_the_text),
		cmocka_unit_test(test_ehlo_extensions),
		cmocka_unit_test(test_ehlo_odd_lines),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
