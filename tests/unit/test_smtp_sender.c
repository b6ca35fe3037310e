/*
 * smtpd's sender policy (smtpd.sender_login_match): the envelope sender at
 * MAIL and the From: header at the end of DATA/BDAT of an authenticated
 * session, and the header reader under it (mime_header_mailboxes).
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include "tests/unit/smtp_fixture.h"
#include "smtpd/smtp_private.h"
#include "mail/address.h"
#include "mail/mime.h"

/* AUTH PLAIN \0alice@example.test\0alice-pw */
#define AUTH_ALICE	"AUTH PLAIN AGFsaWNlQGV4YW1wbGUudGVzdABhbGljZS1wdw==\r\n"

static struct fx *
fx_alice(void)
{
	struct fx	*f = fx_new_peer("127.0.0.1", "submission");

	f->env.sender_login_match = true;
	fx_open(f);
	fx_feed(f, "EHLO a\r\n" AUTH_ALICE);
	free(fx_take(f));
	return f;
}

static void
fx_senders(struct fx *f, const char *text)
{
	const char	*error = NULL;

	fx_write(f->dirpath, "senders", text);
	directory_free(&f->env.dir);
	f->env.dir = directory_load(f->dirpath, &address_user_syntax, &error);
	assert_non_null(f->env.dir);
}

/* MAIL FROM:<addr>, then RSET; the reply to MAIL. */
static void
assert_mail(struct fx *f, const char *addr, const char *reply)
{
	char	*in = xasprintf("MAIL FROM:<%s>\r\nRSET\r\n", addr);
	char	*want = xasprintf("%s\r\n250 2.0.0 Ok\r\n", reply);

	fx_feed(f, in);
	assert_replies(f, want);
	free(in);
	free(want);
}

#define NOT_OWNED(a) "553 5.7.1 <" a ">: Sender address rejected: not owned by user " \
	"alice@example.test"

static void
test_envelope_sender(void **state)
{
	struct fx	*f = fx_alice();

	(void)state;
	assert_mail(f, "bob@example.test", NOT_OWNED("bob@example.test"));
	assert_mail(f, "someone@gmail.com", NOT_OWNED("someone@gmail.com"));
	assert_mail(f, "", NOT_OWNED(""));
	assert_mail(f, "info@catch.test", NOT_OWNED("info@catch.test"));	/* catch-all */
	assert_mail(f, "nobody@example.test", NOT_OWNED("nobody@example.test"));
	assert_mail(f, "bob+alice@example.test", NOT_OWNED("bob+alice@example.test"));
	assert_mail(f, "alice@example.test", "250 2.1.0 Ok");
	assert_mail(f, "ALICE+news@Example.TEST", "250 2.1.0 Ok");
	assert_mail(f, "team@example.test", "250 2.1.0 Ok");		/* group, nested */
	assert_mail(f, "staff@example.test", "250 2.1.0 Ok");
	assert_mail(f, "postmaster@example.test", "250 2.1.0 Ok");	/* alias of alice */
	/* the senders file, reloaded as on SIGHUP */
	fx_senders(f, "alice@example.test: alice@gmail.com, boss@example.test\n");
	assert_mail(f, "alice@gmail.com", "250 2.1.0 Ok");
	assert_mail(f, "someone@gmail.com", NOT_OWNED("someone@gmail.com"));
	/* the null sender only with its key */
	f->env.sender_allow_null = true;
	assert_mail(f, "", "250 2.1.0 Ok");
	/* key off: the old behaviour */
	f->env.sender_login_match = false;
	assert_mail(f, "bob@example.test", "250 2.1.0 Ok");
	fx_free(&f);
}

static void
test_unauthenticated_not_concerned(void **state)
{
	struct fx	*f = fx_new();

	(void)state;
	f->env.sender_login_match = true;
	fx_feed(f, "EHLO a\r\n");
	free(fx_take(f));
	assert_mail(f, "bob@example.test", "250 2.1.0 Ok");
	assert_mail(f, "", "250 2.1.0 Ok");
	fx_feed(f, "MAIL FROM:<x@remote.test>\r\nRCPT TO:<alice@example.test>\r\nDATA\r\n"
	    "From: bob@example.test\r\n\r\nhi\r\n.\r\n");
	assert_int_equal(f->delivered, 1);
	fx_free(&f);
}

static void
test_from_header(void **state)
{
	static const char	 bad[] = "MAIL FROM:<alice@example.test>\r\n"
	    "RCPT TO:<bob@example.test>\r\nDATA\r\n"
	    "Subject: x\r\nFrom: Bob\r\n <bob@example.test>\r\n\r\nFrom: body@x\r\n.\r\n";
	static const char	 good[] = "MAIL FROM:<alice@example.test>\r\n"
	    "RCPT TO:<bob@example.test>\r\nBDAT 60 LAST\r\n"
	    "From: \"Alice\" <alice@example.test>\r\nTo: bob@example.test\r\n\r\n";
	struct fx		*f = fx_alice();
	char			*r;

	(void)state;
	/* byte at a time: the check sees the whole header however it came */
	fx_feedn(f, bad, sizeof(bad) - 1, 1);
	r = fx_take(f);
	assert_non_null(strstr(r, "354 End data with <CR><LF>.<CR><LF>\r\n"
	    "550 5.7.1 <bob@example.test>: From: header address not owned by user "
	    "alice@example.test\r\n"));
	free(r);
	assert_int_equal(f->delivered, 0);
	fx_feedn(f, good, sizeof(good) - 1, 1);
	r = fx_take(f);
	assert_non_null(strstr(r, "250 2.0.0 Ok: queued as "));
	free(r);
	assert_int_equal(f->delivered, 1);
	/* BDAT too, and an unreadable From: */
	fx_feed(f, "MAIL FROM:<alice@example.test>\r\nRCPT TO:<bob@example.test>\r\n"
	    "BDAT 40 LAST\r\nFrom: alice@example.test <bob@x.test>\r\n\r\n");
	r = fx_take(f);
	assert_non_null(strstr(r, "550 5.7.1 Error: From: header is not an address list\r\n"));
	free(r);
	/* key off: delivered */
	f->env.sender_login_match = false;
	fx_feed(f, "MAIL FROM:<bob@example.test>\r\nRCPT TO:<bob@example.test>\r\nDATA\r\n"
	    "From: bob@example.test\r\n\r\nhi\r\n.\r\n");
	assert_int_equal(f->delivered, 2);
	fx_free(&f);
}

/* A From: hidden past the kept part of a long header is refused, not skipped. */
static void
test_from_header_truncated(void **state)
{
	struct fx	*f = fx_alice();
	char		*msg, *r;
	size_t		 n = 0, i;

	(void)state;
	f->env.max_header_size = 1024;
	msg = malloc(4096);
	n += (size_t)sprintf(msg, "MAIL FROM:<alice@example.test>\r\n"
	    "RCPT TO:<bob@example.test>\r\nDATA\r\n");
	for (i = 0; i < 40; i++)
		n += (size_t)sprintf(msg + n, "X-Pad-%02zu: %s\r\n", i, "padding padding");
	n += (size_t)sprintf(msg + n, "From: bob@example.test\r\n\r\nhi\r\n.\r\n");
	fx_feed(f, msg);
	r = fx_take(f);
	assert_non_null(strstr(r, "552 5.3.4 Error: header section too large\r\n"));
	free(r);
	assert_int_equal(f->delivered, 0);
	/* policy off: nothing to check, the long header is fine */
	f->env.sender_login_match = false;
	fx_feed(f, msg);
	assert_int_equal(f->delivered, 1);
	free(msg);
	fx_free(&f);
}

/* ---- the header reader and the check, byte-level cases ---- */

static int
collect(void *ctx, const char *addr)
{
	struct buf	*b = ctx;

	buf_printf(b, "%s[%s]", buf_len(b) > 0 ? " " : "", addr != NULL ? addr : "NULL");
	return 0;
}

static void
assert_mailboxes(const char *header, size_t len, const char *want)
{
	struct buf	 b;
	char		*got;

	buf_init(&b, 65536);
	assert_int_equal(mime_header_mailboxes(header, len, "From", collect, &b), 0);
	got = buf_strdup(&b);
	if (strcmp(got, want) != 0)
		fail_msg("%s: got \"%s\", want \"%s\"", header, got, want);
	free(got);
	buf_release(&b);
}

#define MB(h, want) assert_mailboxes(h, sizeof(h) - 1, want)

static void
test_header_mailboxes(void **state)
{
	(void)state;
	MB("From: a@x.test\r\n\r\n", "[a@x.test]");
	MB("from:a@x.test\n", "[a@x.test]");				/* LF, no space, case */
	MB("FROM :  a@x.test  \n", "[a@x.test]");
	MB("Subject: s\nTo: b@x.test\n", "");				/* no From */
	MB("", "");
	MB("From:\n", "");						/* empty */
	/* folding: the address on a continuation line, CRLF and LF */
	MB("From: Alice\r\n\t<a@x.test>\r\nTo: y\r\n", "[a@x.test]");
	MB("From: \"A\"\n  <a@x.test>,\n b@x.test\n", "[a@x.test] [b@x.test]");
	/* several From fields, all of them */
	MB("From: a@x.test\nTo: c@x\nFrom: b@x.test\n", "[a@x.test] [b@x.test]");
	/* only the header: a From in the body is not one */
	MB("To: c@x\n\nFrom: b@x.test\n", "");
	MB("To: c@x\r\n\r\nFrom: b@x.test\r\n", "");
	/* display names, comments, quoted names holding addresses, routes */
	MB("From: \"a@x.test\" <b@x.test>\n", "[b@x.test]");
	MB("From: b@x.test (a@x.test)\n", "[b@x.test]");
	MB("From: (c) A (d) <a@x.test> (e)\n", "[a@x.test]");
	MB("From: <@r.test:a@x.test>\n", "[a@x.test]");
	MB("From: \"a\"@x.test\n", "[a@x.test]");
	/* groups: the name gives nothing, members count */
	MB("From: Team: a@x.test, B <b@x.test>;\n", "[a@x.test] [b@x.test]");
	MB("From: undisclosed-recipients:;\n", "");
	/* encoded words stay encoded and are not addresses */
	MB("From: =?utf-8?q?a=40x=2Etest?= <b@x.test>\n", "[b@x.test]");
	MB("From: =?utf-8?q?a@x.test?= <b@x.test>\n", "[=?utf-8?q?a@x.test?=] [NULL]");
	MB("From: =?utf-8?b?YUB4LnRlc3Q=?=\n", "[=?utf-8?b?YUB4LnRlc3Q=?=]");
	/* what cannot be read whole is not an address */
	MB("From: bob\n", "[bob]");
	MB("From: Bob Smith\n", "[]");
	MB("From: <a@x.test\n", "[a]");
	MB("From: a@x.test <b@x.test>\n", "[a@x.test] [NULL]");
	MB("From: a@x.test; b@x.test\n", "[a@x.test] [NULL]");
	/* a NUL inside does not end the address early */
	MB("From: \"a\0b\"@x.test\n", "[a\xef\xbf\xbd" "b@x.test]");
	/* not From: other fields with a From prefix, an mbox line */
	MB("From-X: b@x.test\nResent-From: b@x.test\nFrom b@x.test Mon\n", "");
}

static void
test_check_from(void **state)
{
	struct fx		*f = fx_alice();
	struct smtp_session	*s = f->s;
	const char		*bad = NULL;

#define CHECK(h) smtp_policy_check_from(s, h, sizeof(h) - 1, &bad)
	(void)state;
	assert_int_equal(CHECK("From: Alice <alice@example.test>\r\n\r\n"), 0);
	assert_int_equal(CHECK("From: ALICE+x@EXAMPLE.test, team@example.test\n"), 0);
	assert_int_equal(CHECK("Subject: no from\n\nFrom: bob@example.test\n"), 0);
	assert_int_equal(CHECK("From: alice@example.test\nFrom: bob@example.test\n"), -1);
	assert_string_equal(bad, "bob@example.test");
	assert_int_equal(CHECK("From: G: alice@example.test, bob@example.test;\n"), -1);
	assert_string_equal(bad, "bob@example.test");
	assert_int_equal(CHECK("From: \"alice@example.test\"\n <bob@example.test>\n"), -1);
	assert_string_equal(bad, "bob@example.test");
	assert_int_equal(CHECK("From: \"alice@example.test\"@evil.test\n"), -1);
	assert_string_equal(bad, "alice@example.test@evil.test");
	assert_int_equal(CHECK("From: \"alice\"@example.test\n"), 0);
	assert_int_equal(CHECK("From: alice\n"), -1);
	assert_string_equal(bad, "alice");
	assert_int_equal(CHECK("From: <>\n"), -1);
	assert_string_equal(bad, "");
	assert_int_equal(CHECK("From: alice@example.test bob@example.test\n"), -1);
	assert_null(bad);
	/* a bad address is made printable for the reply */
	assert_int_equal(CHECK("From: \"a\x01\"@example.test\n"), -1);
	assert_string_equal(bad, "a?@example.test");
	/* the null sender allowance is for the envelope only */
	f->env.sender_allow_null = true;
	assert_int_equal(CHECK("From: <>\n"), -1);
	f->env.sender_login_match = false;
	assert_int_equal(CHECK("From: bob@example.test\n"), 0);
#undef CHECK
	fx_free(&f);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_envelope_sender),
		cmocka_unit_test(test_unauthenticated_not_concerned),
		cmocka_unit_test(test_from_header),
		cmocka_unit_test(test_from_header_truncated),
		cmocka_unit_test(test_header_mailboxes),
		cmocka_unit_test(test_check_from),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
