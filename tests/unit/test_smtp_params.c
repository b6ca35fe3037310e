/*
 * Issue 19 item 13: an AUTH PLAIN authorization identity that is not the
 * login gets a 535 that says so (and one that differs only in case is the
 * login); DSN ENVID and ORCPT whose xtext decodes to control characters are
 * refused with 501 instead of being stored.  Item 11: MAIL says 452 while
 * free space (less MAIL's SIZE=) is under smtpd.min_free_space.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include "tests/unit/smtp_fixture.h"
#include "smtpd/smtp_private.h"
#include "lib/base64.h"

static void
test_xtext_decodes_to_printable(void **state)
{
	(void)state;
	assert_true(xtext_valid("abc+2B1"));
	assert_true(xtext_valid("a+20b+7E"));		/* space and ~ are printable */
	assert_false(xtext_valid("x+0D+0AX-Injected:+20yes"));
	assert_false(xtext_valid("x+0A"));
	assert_false(xtext_valid("x+00"));
	assert_false(xtext_valid("x+09"));
	assert_false(xtext_valid("x+1F"));
	assert_false(xtext_valid("x+7F"));
	assert_false(xtext_valid("x+C3+A9"));		/* US-ASCII only */
	assert_false(xtext_valid("x+0"));
}

static void
test_envid_orcpt_control_characters(void **state)
{
	struct fx	*f = fx_new();

	(void)state;
	fx_feed(f, "EHLO a\r\n");
	free(fx_take(f));
	fx_feed(f, "MAIL FROM:<a@b.test> ENVID=x+0D+0ABcc:+20evil@x.test\r\n"
	    "MAIL FROM:<a@b.test> ENVID=ok+2B1\r\n"
	    "RCPT TO:<alice@example.test> ORCPT=rfc822;a+0D+0Ab@x.test\r\n"
	    "RCPT TO:<alice@example.test> ORCPT=rfc822;alice@example.test\r\n"
	    "DATA\r\nhi\r\n.\r\n");
	{
		char	*r = fx_take(f);

		assert_non_null(strstr(r, "501 5.5.4 Bad ENVID parameter syntax\r\n"
		    "250 2.1.0 Ok\r\n501 5.5.4 Bad ORCPT parameter syntax\r\n250 2.1.5 Ok\r\n"));
		free(r);
	}
	assert_int_equal(f->delivered, 1);
	assert_string_equal(f->dsn, "envid=ok+2B1 ret=0");
	fx_free(&f);
}

static void
auth_plain(struct fx *f, const char *authzid, const char *reply)
{
	char	 raw[256], b64[400], *line, *want;
	size_t	 n;

	n = (size_t)snprintf(raw, sizeof(raw), "%s%calice@example.test%calice-pw", authzid,
	    '\0', '\0');
	b64[base64_encode(raw, n, b64)] = '\0';
	line = xasprintf("AUTH PLAIN %s\r\n", b64);
	want = xasprintf("%s\r\n", reply);
	fx_feed(f, line);
	assert_replies(f, want);
	free(line);
	free(want);
}

static void
test_authzid(void **state)
{
	struct fx	*f = fx_new();

	(void)state;
	fx_feed(f, "EHLO a\r\n");
	free(fx_take(f));
	auth_plain(f, "bob@example.test",
	    "535 5.7.8 Error: authorization identity must match the login");
	auth_plain(f, "ALICE@Example.TEST", "235 2.7.0 Authentication successful");
	fx_feed(f, "MAIL FROM:<alice@example.test>\r\n");
	assert_replies(f, "250 2.1.0 Ok\r\n");
	fx_free(&f);
}

static uint64_t	 fake_free;
static int	 fake_free_result;

static int
fake_free_space(uint64_t *bytes_r)
{
	*bytes_r = fake_free;
	return fake_free_result;
}

static void
test_low_disk_at_mail(void **state)
{
	struct fx	*f = fx_new();

	(void)state;
	f->env.free_space = fake_free_space;
	f->env.min_free_space = 1000;
	fake_free_result = 0;
	fx_feed(f, "EHLO a\r\n");
	free(fx_take(f));
	fake_free = 999;
	fx_feed(f, "MAIL FROM:<a@b.test>\r\n");
	assert_replies(f, "452 4.3.1 Insufficient system storage\r\n");
	fake_free = 1000;
	fx_feed(f, "MAIL FROM:<a@b.test> SIZE=1\r\nMAIL FROM:<a@b.test>\r\nRSET\r\n");
	assert_replies(f, "452 4.3.1 Insufficient system storage\r\n250 2.1.0 Ok\r\n"
	    "250 2.0.0 Ok\r\n");
	fake_free = 1500;
	fx_feed(f, "MAIL FROM:<a@b.test> SIZE=501\r\nMAIL FROM:<a@b.test> SIZE=500\r\n"
	    "RCPT TO:<alice@example.test>\r\nDATA\r\nx\r\n.\r\n");
	{
		char	*r = fx_take(f);

		assert_non_null(strstr(r, "452 4.3.1 Insufficient system storage\r\n"
		    "250 2.1.0 Ok\r\n250 2.1.5 Ok\r\n354 "));
		free(r);
	}
	assert_int_equal(f->delivered, 1);
	/* a huge SIZE cannot wrap around */
	fake_free = 2000;
	f->env.max_message_size = SIZE_MAX;
	fx_feed(f, "MAIL FROM:<a@b.test> SIZE=9999999999999999999\r\n");
	assert_replies(f, "452 4.3.1 Insufficient system storage\r\n");
	/* unknown free space, or the check off: accepted */
	fake_free = 0;
	fake_free_result = -1;
	fx_feed(f, "MAIL FROM:<a@b.test>\r\nRSET\r\n");
	assert_replies(f, "250 2.1.0 Ok\r\n250 2.0.0 Ok\r\n");
	fake_free_result = 0;
	f->env.min_free_space = 0;
	fx_feed(f, "MAIL FROM:<a@b.test>\r\n");
	assert_replies(f, "250 2.1.0 Ok\r\n");
	/* a 452 is not counted toward max_errors */
	assert_int_equal(((struct smtp_session *)f->s)->errors, 0);
	fx_free(&f);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_xtext_decodes_to_printable),
		cmocka_unit_test(test_envid_orcpt_control_characters),
		cmocka_unit_test(test_authzid),
		cmocka_unit_test(test_low_disk_at_mail),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
