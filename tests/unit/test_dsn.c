/*
 * mail/dsn.c: xtext, and the reports a sender gets back: their MIME shape
 * (read back with mail/mime's parser), the delivery-status fields RFC 3461
 * 6.3 requires, and what of the original is returned when.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include "lib/buf.h"
#include "mail/dsn.h"
#include "mail/mime.h"

#include <stdlib.h>
#include <string.h>

static const char	original[] =
	"From: Carol <carol@example.net>\n"
	"To: bob@example.org\n"
	"Subject: lunch\n"
	"\n"
	"See you at noon.\n";

static const struct dsn_rcpt	failed[] = {
	{ "bob@example.org", "rfc822;Bob+2BX@example.org", "5.1.1", "mx.example.org",
	  "550 5.1.1 <bob@example.org>: no such user", 1796000000 },
	{ "eve@example.org", NULL, "5.4.4", NULL, "domain example.org does not exist", 0 },
};

static struct dsn_report
report(enum dsn_action action)
{
	return (struct dsn_report){
		.action = action, .id = "1a2b3c", .reporting_mta = "mail.example.net",
		.from = "MAILER-DAEMON@mail.example.net", .to = "carol@example.net",
		.envid = "QQ+2B314159", .arrival = 1795990000, .now = 1796000100,
		.retry_until = 1796400000, .rcpts = failed, .nrcpts = 2,
		.message = original, .message_len = sizeof(original) - 1,
		.return_max = 50000,
	};
}

static char *
write_report(const struct dsn_report *r)
{
	struct buf	*b = buf_new(1 << 20);
	char		*s;

	dsn_report_write(r, b);
	s = buf_strdup(b);
	buf_free(&b);
	return s;
}

static void
has(const char *text, const char *needle)
{
	if (strstr(text, needle) == NULL)
		fail_msg("missing \"%s\" in:\n%s", needle, text);
}

static void
test_xtext(void **state)
{
	char	out[32];

	(void)state;
	assert_int_equal(xtext_decode("QQ+2B314159", out, sizeof(out)), 0);
	assert_string_equal(out, "QQ+314159");
	assert_int_equal(xtext_decode("a+3Db", out, sizeof(out)), 0);
	assert_string_equal(out, "a=b");
	assert_int_equal(xtext_decode("a=b", out, sizeof(out)), -1);
	assert_int_equal(xtext_decode("a+0Db", out, sizeof(out)), -1);	/* no CR in a field */
	assert_int_equal(xtext_decode("a+2b", out, sizeof(out)), -1);	/* upper case hex */
	assert_int_equal(xtext_decode("abcdef", out, 4), 0);		/* cut to fit */
	assert_string_equal(out, "abc");
}

static void
test_failure_returns_the_message(void **state)
{
	struct dsn_report	 r = report(DSN_ACTION_FAILED);
	char			*s = write_report(&r);
	struct mime_message	*m = mime_parse(s, strlen(s));

	(void)state;
	has(s, "From: Mail Delivery System <MAILER-DAEMON@mail.example.net>\n");
	has(s, "To: <carol@example.net>\n");
	has(s, "Subject: Undelivered Mail Returned to Sender\n");
	has(s, "Auto-Submitted: auto-replied\n");
	has(s, "Content-Type: multipart/report; report-type=delivery-status;");
	has(s, "<bob@example.org>: host mx.example.org said:\n"
	    "    550 5.1.1 <bob@example.org>: no such user\n");
	has(s, "<eve@example.org>:\n    domain example.org does not exist\n");
	has(s, "Reporting-MTA: dns; mail.example.net\n");
	has(s, "Original-Envelope-Id: QQ+314159\n");
	has(s, "Arrival-Date: Sun, 29 Nov 2026 22:06:40 +0000\n");
	has(s, "\nFinal-Recipient: rfc822; bob@example.org\n"
	    "Original-Recipient: rfc822; Bob+X@example.org\n"
	    "Action: failed\nStatus: 5.1.1\nRemote-MTA: dns; mx.example.org\n"
	    "Diagnostic-Code: smtp; 550 5.1.1 <bob@example.org>: no such user\n"
	    "Last-Attempt-Date: ");
	has(s, "\nFinal-Recipient: rfc822; eve@example.org\nAction: failed\nStatus: 5.4.4\n"
	    "Diagnostic-Code: x-postroom; domain example.org does not exist\n");
	has(s, "Content-Type: message/rfc822\n\nFrom: Carol <carol@example.net>\n");
	has(s, "See you at noon.\n");
	assert_null(strstr(s, "Will-Retry-Until"));
	/* multipart/report of text/plain, message/delivery-status, message/rfc822 */
	assert_true(m->root.flags & MIME_PART_MULTIPART);
	assert_int_equal(m->root.nchildren, 3);
	assert_true(m->root.children[2].flags & MIME_PART_RFC822);
	has(m->bodystructure, "\"delivery-status\"");
	mime_message_free(&m);
	free(s);
}

static void
test_headers_only(void **state)
{
	struct dsn_report	 r = report(DSN_ACTION_FAILED);
	char			*s;

	(void)state;
	r.ret = DSN_RET_HDRS;
	s = write_report(&r);
	has(s, "Content-Type: text/rfc822-headers\n\nFrom: Carol <carol@example.net>\n"
	    "To: bob@example.org\nSubject: lunch\n\n--");
	assert_null(strstr(s, "noon"));
	free(s);
	r.ret = DSN_RET_FULL;
	r.return_max = 10;		/* too big to return whole */
	s = write_report(&r);
	has(s, "text/rfc822-headers");
	assert_null(strstr(s, "noon"));
	free(s);
}

static void
test_delay_warning(void **state)
{
	struct dsn_report	 r = report(DSN_ACTION_DELAYED);
	char			*s;

	(void)state;
	r.nrcpts = 1;
	s = write_report(&r);
	has(s, "Subject: Delayed Mail (still being retried)\n");
	has(s, "It will be tried again until Fri, 04 Dec 2026 16:00:00 +0000;\n");
	has(s, "Action: delayed\nStatus: 5.1.1\n");
	has(s, "Will-Retry-Until: Fri, 04 Dec 2026 16:00:00 +0000\n");
	has(s, "text/rfc822-headers");		/* RFC 3461 6.2: no failure, headers only */
	assert_null(strstr(s, "noon"));
	assert_null(strstr(s, "eve@"));
	free(s);
}

/* The boundary is chosen so that the returned message cannot end a part. */
static void
test_boundary_not_in_the_message(void **state)
{
	static const char	tricky[] =
		"Subject: x\n\n--=_1a2b3c/0/mail.example.net--\n--=_1a2b3c/1/mail.example.net\n";
	struct dsn_report	r = report(DSN_ACTION_FAILED);
	char			*s;

	(void)state;
	r.message = tricky;
	r.message_len = sizeof(tricky) - 1;
	s = write_report(&r);
	has(s, "boundary=\"=_1a2b3c/2/mail.example.net\"");
	free(s);
}

int
main(void)
{
	const struct CMUnitTest	tests[] = {
		cmocka_unit_test(test_xtext),
		cmocka_unit_test(test_failure_returns_the_message),
		cmocka_unit_test(test_headers_only),
		cmocka_unit_test(test_delay_warning),
		cmocka_unit_test(test_boundary_not_in_the_message),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
