/*
 * imapd's streaming command parser and command table.  Input goes through
 * lib/linebuf as the session will feed it, in chunks of every size from 1
 * byte (DC test_imap_parser_crlf), and each event is rendered as text:
 *	"CMD <dump>"           a command, its parsed arguments (tests/unit/imap_dump.h)
 *	"+"                    a continuation request
 *	"STREAM <n>"           the APPEND message follows (then its bytes, "[...]")
 *	"<tag> BAD <text>"     an error; "BYE" after one that closes
 * so one string says what a whole conversation did.
 */
#include "imapd/imap_parser.h"
#include "imapd/imap_command.h"
#include "tests/unit/imap_dump.h"
#include "lib/buf.h"
#include "lib/linebuf.h"
#include "lib/settings.h"
#include "lib/xmalloc.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

static const struct imapd_settings	defaults = { 1024 * 1024, 35 * 1024 * 1024, 64, 10000 };
static bool				refuse_streams;	/* the session says NO to APPEND */

struct drv {
	struct imap_parser	*p;
	struct linebuf		*lb;
	struct buf		 out;
	struct buf		 stream;	/* what the APPEND consumer got */
	bool			 closed;
};

static void __attribute__((format(printf, 2, 3)))
out(struct drv *d, const char *fmt, ...)
{
	va_list	 ap;

	va_start(ap, fmt);
	assert_int_equal(buf_vprintf(&d->out, fmt, ap), 0);
	va_end(ap);
}

static void
consume(void *ctx, const char *data, size_t len)
{
	struct drv	*d = ctx;

	assert_int_equal(buf_append(&d->stream, data, len), 0);
}

static void
event(struct drv *d, enum imap_parse st)
{
	const struct imap_parse_error	*e;

	switch (st) {
	case IMAP_PARSE_MORE:
		break;
	case IMAP_PARSE_CONTINUE:
		out(d, "+|");
		break;
	case IMAP_PARSE_STREAM:
		out(d, "STREAM %llu|",
		    (unsigned long long)imap_parser_command(d->p)->u.append.size);
		if (refuse_streams) {
			out(d, "REFUSED|");
			imap_parser_stream_refuse(d->p);
		} else
			event(d, imap_parser_stream(d->p, consume, d));
		break;
	case IMAP_PARSE_COMMAND:
		imap_dump_command(&d->out, imap_parser_command(d->p));
		break;
	case IMAP_PARSE_ERROR:
		e = imap_parser_error(d->p);
		out(d, "%s %s %s|", e->tag, e->status, e->text);
		if (e->close) {
			out(d, "BYE|");
			d->closed = true;
		}
		break;
	}
}

/* Hand out what linebuf holds: literal bytes while the parser wants them, else lines. */
static void
drain(struct drv *d)
{
	enum line_status	 st;
	const char		*data;
	char			*line;
	size_t			 len, used;
	uint64_t		 left;

	while (!d->closed) {
		if (imap_parser_wants_literal(d->p, &left)) {
			len = linebuf_take(d->lb, left < SIZE_MAX ? (size_t)left : SIZE_MAX, &data);
			if (len == 0)
				return;
			while (len > 0) {
				event(d, imap_parser_literal(d->p, data, len, &used));
				data += used;
				len -= used;
			}
			continue;
		}
		st = linebuf_next(d->lb, &line, &len);
		if (st == LINE_MORE)
			return;
		if (st == LINE_TOO_LONG)
			event(d, imap_parser_line_too_long(d->p));
		else if (st == LINE_OK || st == LINE_BARE_LF)
			event(d, imap_parser_line(d->p, line, len));
		else
			out(d, "NUL|");
	}
}

/* Feed in in chunk-byte pieces; the rendered events, which the caller frees. */
static char *
run(const struct imapd_settings *set, size_t max_line, const char *in, size_t inlen,
    size_t chunk, char **streamed_r)
{
	struct drv	 d = { 0 };
	size_t		 off = 0, n, len;
	char		*s;

	d.p = imap_parser_new(set);
	d.lb = linebuf_new(max_line);
	buf_init(&d.out, 1 << 20);
	buf_init(&d.stream, 1 << 20);
	while (off < inlen && !d.closed) {
		len = inlen - off < chunk ? inlen - off : chunk;
		while (len > 0 && !d.closed) {
			n = linebuf_feed(d.lb, in + off, len);
			off += n;
			len -= n;
			drain(&d);
		}
	}
	s = buf_strdup(&d.out);
	if (streamed_r != NULL)
		*streamed_r = buf_strdup(&d.stream);
	buf_release(&d.out);
	buf_release(&d.stream);
	linebuf_free(&d.lb);
	imap_parser_free(&d.p);
	assert_null(d.p);
	return s;
}

/* Every chunk size from 1 byte to the whole input gives want. */
static void
check_with(const struct imapd_settings *set, const char *in, const char *want)
{
	size_t	 chunk, len = strlen(in);
	char	*got;

	for (chunk = 1; chunk <= len; chunk++) {
		got = run(set, 4096, in, len, chunk, NULL);
		if (strcmp(got, want) != 0)
			fail_msg("chunk %zu\n  input: %s\n  want:  %s\n  got:   %s", chunk, in, want,
			    got);
		free(got);
	}
}

static void
check(const char *in, const char *want)
{
	check_with(&defaults, in, want);
}

/* For input holding a NUL. */
static void
check_n(const char *in, size_t len, const char *want)
{
	size_t	 chunk;
	char	*got;

	for (chunk = 1; chunk <= len; chunk++) {
		got = run(&defaults, 4096, in, len, chunk, NULL);
		assert_string_equal(got, want);
		free(got);
	}
}

static void
test_simple_commands(void **state)
{
	check("a CAPABILITY\r\n", "CMD a CAPABILITY|");
	check("a1 noop\r\nb2 LOGOUT\r\n", "CMD a1 NOOP|CMD b2 LOGOUT|");
	check("t STARTTLS\r\nt CHECK\r\nt CLOSE\r\nt UNSELECT\r\nt EXPUNGE\r\nt IDLE\r\n"
	    "t NAMESPACE\r\n",
	    "CMD t STARTTLS|CMD t CHECK|CMD t CLOSE|CMD t UNSELECT|CMD t EXPUNGE|CMD t IDLE|"
	    "CMD t NAMESPACE|");
	check("a NOOP x\r\n", "a BAD unexpected extra arguments|");
	/* Empty lines are ignored; tags may hold ']' but not '+'. */
	check("\r\nx] NOOP\r\n", "CMD x] NOOP|");
	check("a+ NOOP\r\n", "* BAD invalid tag|");
	check("a(b NOOP\r\n", "* BAD invalid tag|");
	check(" NOOP\r\n", "* BAD invalid tag|");
	check("a\r\n", "a BAD missing command|");
	check("a FOO\r\n", "a BAD unknown command|");
	check("a UID NOOP\r\n", "a BAD unknown command|");
	check("a NOOP\n", "CMD a NOOP|");	/* bare LF: the session decides, the parser parses */
}

static void
test_login_authenticate(void **state)
{
	check("a LOGIN alice secret\r\n", "CMD a LOGIN user=alice pass=secret|");
	check("a LOGIN \"al ice\" \"p\\\"w\\\\d\"\r\n", "CMD a LOGIN user=al ice pass=p\"w\\d|");
	check("a LOGIN {5}\r\nalice {6}\r\nsecret\r\n",
	    "+|+|CMD a LOGIN user=alice pass=secret|");
	check("a LOGIN {5+}\r\nalice {6+}\r\nsecret\r\n", "CMD a LOGIN user=alice pass=secret|");
	check("a LOGIN alice\r\n", "a BAD expected an astring|");
	check("a LOGIN al%ce x\r\n", "a BAD invalid characters in atom|");
	check("a LOGIN a] b]\r\n", "CMD a LOGIN user=a] pass=b]|");
	check("a AUTHENTICATE PLAIN\r\n", "CMD a AUTHENTICATE mech=PLAIN ir=NONE|");
	check("a AUTHENTICATE PLAIN AGFsaWNlAHNlY3JldA==\r\n",
	    "CMD a AUTHENTICATE mech=PLAIN ir=AGFsaWNlAHNlY3JldA==|");
	check("a AUTHENTICATE PLAIN =\r\n", "CMD a AUTHENTICATE mech=PLAIN ir=|");
	check("a AUTHENTICATE PLAIN abc\r\n", "a BAD invalid base64 in initial response|");
	check("a AUTHENTICATE PLAIN ab=c\r\n", "a BAD invalid base64 in initial response|");
	check("a AUTHENTICATE PLAIN ====\r\n", "a BAD invalid base64 in initial response|");
	check("a AUTHENTICATE PLAIN a===\r\n", "a BAD invalid base64 in initial response|");
	check("a AUTHENTICATE PLAIN \"abcd\"\r\n", "a BAD invalid initial response|");
}

static void
test_quoted_strings(void **state)
{
	check("a CREATE \"\"\r\n", "CMD a CREATE mbox=|");
	check("a CREATE \"a\\b\"\r\n", "a BAD invalid escape in quoted string|");
	check("a CREATE \"abc\r\n", "a BAD unterminated quoted string|");
	check("a CREATE \"a\rb\"\r\n", "a BAD invalid character in quoted string|");
	check("a CREATE \"caf\xc3\xa9\"\r\n", "CMD a CREATE mbox=caf\xc3\xa9|");
	check("a RENAME \"a\"\"b\"\r\n", "a BAD missing space between arguments|");
	check("a RENAME a  b\r\n", "a BAD unexpected space|");
	check("a RENAME a b \r\n", "a BAD trailing space|");
}

static void
test_mailboxes(void **state)
{
	check("a CREATE inbox\r\na DELETE Trash\r\na SUBSCRIBE \"Sent\"\r\na UNSUBSCRIBE x\r\n",
	    "CMD a CREATE mbox=INBOX|CMD a DELETE mbox=Trash|CMD a SUBSCRIBE mbox=Sent|"
	    "CMD a UNSUBSCRIBE mbox=x|");
	check("a RENAME old {3}\r\nnew\r\n", "+|CMD a RENAME from=old to=new|");
	check("a SELECT INBOX\r\na EXAMINE \"Drafts\"\r\n",
	    "CMD a SELECT mbox=INBOX|CMD a EXAMINE mbox=Drafts|");
	check("a SELECT INBOX (CONDSTORE)\r\n", "CMD a SELECT mbox=INBOX condstore|");
	check("a SELECT INBOX (QRESYNC (67890007 20050715194045000 41,43:211,214:541))\r\n",
	    "CMD a SELECT mbox=INBOX qresync=67890007,20050715194045000 known=41,43:211,214:541|");
	check("a SELECT INBOX (QRESYNC (1 5 1:* (1:5 10:14)))\r\n",
	    "CMD a SELECT mbox=INBOX qresync=1,5 known=*[1:1] match=1:5/10:14|");
	check("a SELECT INBOX (QRESYNC (0 5))\r\n", "a BAD invalid QRESYNC parameters|");
	check("a SELECT INBOX (QRESYNC (1 0))\r\n", "a BAD invalid QRESYNC modseq|");
	check("a SELECT INBOX (FOO)\r\n", "a BAD unknown SELECT parameter|");
	check("a SELECT INBOX ()\r\n", "a BAD unknown SELECT parameter|");
	check("a SELECT\r\n", "a BAD expected a mailbox name|");
	check("a SELECT INBOX (QRESYNC (1 1) QRESYNC (1 1))\r\n", "a BAD QRESYNC given twice|");
}

static void
test_list(void **state)
{
	check("a LIST \"\" *\r\n", "CMD a LIST sel=0 ref= pat=* ret=0 status=0|");
	check("a LIST \"\" %/a*]\r\n", "CMD a LIST sel=0 ref= pat=%/a*] ret=0 status=0|");
	check("a LIST ~/Mail \"%\"\r\n", "CMD a LIST sel=0 ref=~/Mail pat=% ret=0 status=0|");
	check("a LSUB \"\" INBOX*\r\n", "CMD a LSUB sel=0 ref= pat=INBOX* ret=0 status=0|");
	/* LIST-EXTENDED, LIST-STATUS, SPECIAL-USE */
	check("a LIST (SUBSCRIBED RECURSIVEMATCH) \"\" (INBOX Sent*) RETURN (CHILDREN)\r\n",
	    "CMD a LIST sel=5 ref= pat=INBOX,Sent* ret=2 status=0|");
	check("a LIST (SPECIAL-USE REMOTE) \"\" * RETURN (SPECIAL-USE SUBSCRIBED)\r\n",
	    "CMD a LIST sel=10 ref= pat=* ret=5 status=0|");
	check("a LIST \"\" % RETURN (STATUS (MESSAGES UNSEEN SIZE))\r\n",
	    "CMD a LIST sel=0 ref= pat=% ret=8 status=81|");
	check("a LIST () \"\" % RETURN ()\r\n", "CMD a LIST sel=0 ref= pat=% ret=0 status=0|");
	check("a LIST (RECURSIVEMATCH) \"\" %\r\n",
	    "a BAD RECURSIVEMATCH without a selection option|");
	check("a LIST (FOO) \"\" %\r\n", "a BAD unknown LIST selection option|");
	check("a LIST \"\" % RETURN (FOO)\r\n", "a BAD unknown LIST return option|");
	check("a LIST \"\" ()\r\n", "a BAD expected a mailbox pattern|");
	check("a LIST \"\"\r\n", "a BAD expected a mailbox pattern|");
	check("a LSUB \"\" a b\r\n", "a BAD unexpected extra arguments|");
	check("a LIST\r\n", "a BAD expected a reference name|");
	check("a LSUB\r\n", "a BAD expected a reference name|");
	check("a LIST \"\" a\"b\r\n", "a BAD invalid characters in mailbox pattern|");
}

static void
test_status_enable_id(void **state)
{
	check("a STATUS INBOX (MESSAGES RECENT UIDNEXT UIDVALIDITY UNSEEN HIGHESTMODSEQ SIZE)\r\n",
	    "CMD a STATUS mbox=INBOX items=127|");
	check("a STATUS INBOX (messages)\r\n", "CMD a STATUS mbox=INBOX items=1|");
	check("a STATUS INBOX ()\r\n", "a BAD unknown STATUS item|");
	check("a STATUS INBOX (FOO)\r\n", "a BAD unknown STATUS item|");
	check("a STATUS INBOX MESSAGES\r\n", "a BAD expected a list of STATUS items|");
	check("a ENABLE CONDSTORE QRESYNC\r\n", "CMD a ENABLE caps=CONDSTORE,QRESYNC|");
	check("a ENABLE\r\n", "a BAD expected capability names|");
	check("a ID NIL\r\n", "CMD a ID id=|");
	check("a ID (\"name\" \"mutt\" \"version\" NIL)\r\n", "CMD a ID id=name:mutt,version:NIL|");
	check("a ID ()\r\n", "CMD a ID id=|");
	check("a ID foo\r\n", "a BAD expected a list of name/value pairs or NIL|");
	check("a ID (\"name\")\r\n", "a BAD expected name/value string pairs|");
	check("a ID (name \"x\")\r\n", "a BAD expected name/value string pairs|");
}

/* RFC 2971: at most 30 field/value pairs. */
static void
test_id_limit(void **state)
{
	char	 in[512] = "a ID (", want[256] = "CMD a ID id=";
	int	 i;

	for (i = 0; i < 30; i++) {
		strcat(in, i > 0 ? " \"f\" \"v\"" : "\"f\" \"v\"");
		strcat(want, i > 0 ? ",f:v" : "f:v");
	}
	strcat(in, ")\r\n");
	strcat(want, "|");
	check(in, want);
	strcpy(in + strlen(in) - 3, " \"f\" \"v\")\r\n");
	check(in, "a BAD too many ID fields|");
}

static void
test_append(void **state)
{
	char	*streamed, *got;
	const char	*in = "a APPEND INBOX (\\Seen $Junk) \" 7-Feb-1994 21:52:25 -0800\" {5}\r\n"
	    "hello\r\nb NOOP\r\n";

	/* The message goes to the consumer, never into the command. */
	got = run(&defaults, 4096, in, strlen(in), 3, &streamed);
	assert_string_equal(got, "STREAM 5|+|CMD a APPEND mbox=INBOX flags=\\Seen,$Junk"
	    " date=760686745 size=5|CMD b NOOP|");
	assert_string_equal(streamed, "hello");
	free(got);
	free(streamed);
	check(in, "STREAM 5|+|CMD a APPEND mbox=INBOX flags=\\Seen,$Junk date=760686745 size=5|"
	    "CMD b NOOP|");
	check("a APPEND Drafts {3+}\r\nabc\r\n", "STREAM 3|CMD a APPEND mbox=Drafts flags= size=3|");
	check("a APPEND {5}\r\nDraft {0+}\r\n\r\n",
	    "+|STREAM 0|CMD a APPEND mbox=Draft flags= size=0|");
	check("a APPEND x \"01-Jan-2000 00:00:00 +0000\" {1+}\r\nz\r\n",
	    "STREAM 1|CMD a APPEND mbox=x flags= date=946684800 size=1|");
	check("a APPEND x \"1-Jan-2000 00:00:00 +0100\" {1+}\r\nz\r\n",
	    "STREAM 1|CMD a APPEND mbox=x flags= date=946681200 size=1|");
	check("a APPEND x \"01-Jan-2000 24:00:00 +0000\" {1}\r\n",
	    "a BAD invalid date-time|");
	check("a APPEND x \"01-Foo-2000 00:00:00 +0000\" {1}\r\n", "a BAD invalid date-time|");
	check("a APPEND x \"01-Jan-2000 00:00:00 0000\" {1}\r\n", "a BAD invalid date-time|");
	check("a APPEND x (\\Seen {1}\r\nz)\r\n", "+|a BAD expected a flag|");
	check("a APPEND x (\\Seen){1}\r\n", "a BAD literal without a space before it|");
	check("a APPEND x hello\r\n", "a BAD expected the message as a literal|");
	check("a APPEND x {3+}\r\nabc extra\r\nb NOOP\r\n",
	    "STREAM 3|a BAD unexpected extra arguments|CMD b NOOP|");
	/* A bad APPEND before its literal: a synchronising one is never sent. */
	check("a APPEND x (\\Se(en) {3}\r\nb NOOP\r\n",
	    "a BAD missing space between arguments|CMD b NOOP|");
	/* ... a non-synchronising one is skipped, with the rest of the command. */
	check("a APPEND x \"bad\" {3+}\r\nabc\r\nb NOOP\r\n",
	    "a BAD invalid date-time|CMD b NOOP|");
}

/* The session may refuse an APPEND once it knows the mailbox: the rest is skipped. */
static void
test_append_refused(void **state)
{
	refuse_streams = true;
	check("a APPEND x {3}\r\nb NOOP\r\n", "STREAM 3|REFUSED|CMD b NOOP|");
	check("a APPEND x {3+}\r\nabc\r\nb NOOP\r\n", "STREAM 3|REFUSED|CMD b NOOP|");
	check("a APPEND x {3+}\r\nabc {2+}\r\nde\r\nb NOOP\r\n", "STREAM 3|REFUSED|CMD b NOOP|");
	check("a APPEND x {0+}\r\n\r\nb NOOP\r\n", "STREAM 0|REFUSED|CMD b NOOP|");
	refuse_streams = false;
}

static void
test_literal_limits(void **state)
{
	struct imapd_settings	 small = defaults;

	small.max_literal_size = 10;
	small.max_command_size = 64;
	/* APPENDLIMIT: refused before the client sends it. */
	check_with(&small, "a APPEND x {11}\r\nb NOOP\r\n", "a NO [TOOBIG] message too big|CMD b NOOP|");
	check_with(&small, "a APPEND x {10}\r\n0123456789\r\n",
	    "STREAM 10|+|CMD a APPEND mbox=x flags= size=10|");
	/* Non-synchronising and too big: refused, then closed (it cannot be skipped). */
	check_with(&small, "a APPEND x {11+}\r\n01234567890\r\nb NOOP\r\n",
	    "a BAD [TOOBIG] message too big|BYE|");
	check("a APPEND x {9223372036854775807+}\r\n", "a BAD [TOOBIG] message too big|BYE|");
	check("a APPEND x {18446744073709551616+}\r\n", "a BAD invalid literal size|BYE|");
	check("a APPEND x {18446744073709551616}\r\nb NOOP\r\n",
	    "a BAD invalid literal size|CMD b NOOP|");
	/* Other literals count against the command size. */
	check_with(&small, "a LOGIN {70}\r\nb NOOP\r\n", "a BAD [TOOBIG] literal too big|CMD b NOOP|");
	check_with(&small, "a LOGIN {9+}\r\n012345678 {70+}\r\n", "a BAD [TOOBIG] literal too big|"
	    "BYE|");
	check_with(&small, "a LOGIN {8+}\r\n01234567 {20+}\r\n01234567890123456789\r\nb NOOP\r\n",
	    "CMD a LOGIN user=01234567 pass=01234567890123456789|CMD b NOOP|");
	/* Over the command size but not the literal size: skipped, the session goes on. */
	small.max_literal_size = 100;
	check_with(&small, "a LOGIN {8+}\r\n01234567 {60+}\r\n"
	    "012345678901234567890123456789012345678901234567890123456789\r\nb NOOP\r\n",
	    "a BAD [TOOBIG] literal too big|CMD b NOOP|");
	check_with(&small,
	    "a LOGIN aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb\r\n",
	    "a BAD [TOOBIG] command too long|");
	check_n("a LOGIN {3}\r\na\0b {1+}\r\nc\r\nb NOOP\r\n", 34,
	    "+|a BAD NUL in literal|CMD b NOOP|");
	check("a LOGIN {0}\r\n {0}\r\n\r\n", "+|+|CMD a LOGIN user= pass=|");
	check("a LOGIN x{3}\r\nb NOOP\r\n", "a BAD literal without a space before it|CMD b NOOP|");
	check("a LOGIN {3}\r\nabc{3}\r\nb NOOP\r\n",
	    "+|a BAD literal without a space before it|CMD b NOOP|");
	check("a LOGIN {3}x\r\n", "a BAD a literal may only end a line|");
	check("a LOGIN {x}\r\n", "a BAD a literal may only end a line|");
	/* A skipped command's continuation lines and literals are skipped too. */
	check("a FOO {3+}\r\nabc {2+}\r\nde\r\nb NOOP\r\n", "a BAD unknown command|CMD b NOOP|");
	check("a FOO {3+}\r\nabc {2}\r\nb NOOP\r\n", "a BAD unknown command|CMD b NOOP|");
	check("a FOO {3+}\r\nabc {99999999999+}\r\n",
	    "a BAD unknown command|a BAD [TOOBIG] literal too big|BYE|");
}

static void
test_line_too_long(void **state)
{
	char	*in = xmalloc(9000), *got;

	memset(in, 'a', 8998);
	memcpy(in + 8998, "\r\n", 2);
	got = run(&defaults, 4096, in, 9000, 100, NULL);
	assert_string_equal(got, "* BAD [TOOBIG] line too long|BYE|");
	free(got);
	free(in);
}

static void
test_nesting_and_arguments(void **state)
{
	struct imapd_settings	 small = defaults;
	char			 in[400];

	small.max_nesting = 3;
	small.max_arguments = 100;
	check_with(&small, "a SEARCH ((ALL))\r\n", "CMD a SEARCH AND(AND(AND(ALL)))|");
	check_with(&small, "a SEARCH (((ALL)))\r\n", "a BAD search keys too deeply nested|");
	check_with(&small, "a SEARCH ((((ALL))))\r\n", "a BAD too deeply nested|");
	check_with(&small, "a SEARCH NOT NOT NOT ALL\r\n", "a BAD search keys too deeply nested|");
	check("a SEARCH ALL)\r\n", "a BAD unexpected ')'|");
	check("a SEARCH (ALL\r\n", "a BAD unclosed '('|");
	check("a SEARCH ( ALL)\r\n", "a BAD unexpected space|");
	check("a SEARCH (ALL )\r\n", "a BAD unexpected ')'|");
	memset(in, 0, sizeof(in));
	strcpy(in, "a SEARCH");
	while (strlen(in) < 8 + 2 * 101)
		strcat(in, " 1");
	strcat(in, "\r\n");
	check_with(&small, in, "a BAD too many arguments|");
	check_with(&small, "a FETCH 1,2,3,4,5 FLAGS\r\n", "CMD a FETCH set=1:5 atts=FLAGS|");
}

/* The hostile inputs of issue 15 at the default limits: refused, the session goes on. */
static void
test_hostile_defaults(void **state)
{
	struct buf	 in;
	char		*got;
	int		 i;

	buf_init(&in, 1 << 20);
	buf_puts(&in, "a SEARCH ");
	for (i = 0; i < 10000; i++)
		buf_puts(&in, "(");
	buf_puts(&in, "ALL");
	for (i = 0; i < 10000; i++)
		buf_puts(&in, ")");
	buf_puts(&in, "\r\nb NOOP\r\n");
	got = run(&defaults, 64 * 1024, buf_head(&in), buf_len(&in), 4096, NULL);
	assert_string_equal(got, "a BAD too deeply nested|CMD b NOOP|");
	free(got);
	buf_reset(&in);
	buf_puts(&in, "a FETCH 1");
	for (i = 2; i <= 100000; i++)
		buf_printf(&in, ",%d", i);
	buf_puts(&in, " FLAGS\r\nb NOOP\r\n");
	got = run(&defaults, 1024 * 1024, buf_head(&in), buf_len(&in), 65536, NULL);
	assert_string_equal(got, "a BAD sequence set has too many elements|CMD b NOOP|");
	free(got);
	buf_release(&in);
}

static void
test_fetch(void **state)
{
	check("a FETCH 1 FAST\r\n", "CMD a FETCH set=1 atts=FLAGS,INTERNALDATE,RFC822.SIZE|");
	check("a FETCH 1 all\r\n",
	    "CMD a FETCH set=1 atts=FLAGS,INTERNALDATE,RFC822.SIZE,ENVELOPE|");
	check("a FETCH 1 FULL\r\n",
	    "CMD a FETCH set=1 atts=FLAGS,INTERNALDATE,RFC822.SIZE,ENVELOPE,BODY|");
	check("a FETCH 1:* (FLAGS INTERNALDATE RFC822.SIZE ENVELOPE BODY BODYSTRUCTURE UID MODSEQ"
	    " RFC822 RFC822.HEADER RFC822.TEXT)\r\n",
	    "CMD a FETCH set=*[1:1] atts=FLAGS,INTERNALDATE,RFC822.SIZE,ENVELOPE,BODY,"
	    "BODYSTRUCTURE,UID,MODSEQ,RFC822,RFC822.HEADER,RFC822.TEXT|");
	check("a FETCH 2 BODY[]\r\n", "CMD a FETCH set=2 atts=BODY[]|");
	check("a FETCH 2 (BODY.PEEK[HEADER] BODY[TEXT]<0.1024> BODY[1.2.MIME] BODY[3]"
	    " body.peek[1.HEADER.FIELDS (From \"To\" x-a)]<10.20>)\r\n",
	    "CMD a FETCH set=2 atts=BODY.PEEK[HEADER],BODY[TEXT]<0.1024>,BODY[1.2.MIME],BODY[3],"
	    "BODY.PEEK[1.HEADER.FIELDS (From,To,x-a)]<10.20>|");
	check("a FETCH 2 BODY[HEADER.FIELDS (\"X-\\\\\\\"A\" \"B\")]\r\n",
	    "CMD a FETCH set=2 atts=BODY[HEADER.FIELDS (X-\\\"A,B)]|");
	check("a FETCH 2 BODY[HEADER.FIELDS (\"A\"\"B\")]\r\n", "a BAD invalid header field list|");
	/* A header-fld-name is an astring: literals too, inside the section. */
	check("a FETCH 2 BODY[HEADER.FIELDS ({7}\r\nSubject {4+}\r\nX\"\\y)]<0.5>\r\n",
	    "+|CMD a FETCH set=2 atts=BODY[HEADER.FIELDS (Subject,X\"\\y)]<0.5>|");
	check("a FETCH 2 (UID BODY.PEEK[HEADER.FIELDS (From {0}\r\n)] FLAGS)\r\n",
	    "+|CMD a FETCH set=2 atts=UID,BODY.PEEK[HEADER.FIELDS (From,)],FLAGS|");
	check("a FETCH 2 BODY[HEADER.FIELDS ({2}\r\nTo\r\n", "+|a BAD invalid header field list|");
	check("a FETCH 2 BODY[HEADER.FIELDS (A\"B)]\r\n", "a BAD invalid header field name|");
	check("a FETCH 2 BODY[HEADER.FIELDS.NOT (Received)]\r\n",
	    "CMD a FETCH set=2 atts=BODY[HEADER.FIELDS.NOT (Received)]|");
	check("a UID FETCH 1:* (FLAGS) (CHANGEDSINCE 12345 VANISHED)\r\n",
	    "CMD a UID FETCH set=*[1:1] atts=FLAGS changedsince=12345 vanished|");
	check("a FETCH 1 (FLAGS) (CHANGEDSINCE 1)\r\n",
	    "CMD a FETCH set=1 atts=FLAGS changedsince=1|");
	check("a FETCH 1 FLAGS (VANISHED)\r\n", "a BAD VANISHED needs UID FETCH and CHANGEDSINCE|");
	check("a FETCH 1 FLAGS (CHANGEDSINCE 0)\r\n", "a BAD invalid CHANGEDSINCE modseq|");
	check("a FETCH 1 FLAGS (FOO)\r\n", "a BAD unknown FETCH modifier|");
	check("a FETCH 1 (ALL)\r\n", "a BAD unknown FETCH item|");
	check("a FETCH 1 BODY.PEEK\r\n", "a BAD unknown FETCH item|");
	check("a FETCH 1 BODY[MIME]\r\n", "a BAD invalid section|");
	check("a FETCH 1 BODY[0]\r\n", "a BAD invalid section part number|");
	check("a FETCH 1 BODY[1.]\r\n", "a BAD invalid section|");
	check("a FETCH 1 BODY[1x]\r\n", "a BAD invalid section|");
	check("a FETCH 1 BODY[HEADER.FIELDS]\r\n", "a BAD expected a list of header field names|");
	check("a FETCH 1 BODY[HEADER.FIELDS ()]\r\n", "a BAD invalid header field name|");
	check("a FETCH 1 BODY[HEADER.FIELDS (\"a\\x\")]\r\n", "a BAD invalid header field name|");
	check("a FETCH 1 BODY[TEXT]<1>\r\n", "a BAD invalid partial range|");
	check("a FETCH 1 BODY[TEXT]<1.0>\r\n", "a BAD invalid partial range|");
	check("a FETCH 1 BODY[TEXT]<1.2>x\r\n", "a BAD invalid partial range|");
	check("a FETCH 1 BODY[TEXT\r\n", "a BAD invalid section|");
	check("a FETCH 1 ()\r\n", "a BAD expected a FETCH item|");
	check("a FETCH FLAGS\r\n", "a BAD invalid sequence set|");
	check("a FETCH 1\r\n", "a BAD expected a FETCH item|");
}

static void
test_store_copy_expunge(void **state)
{
	check("a STORE 1:3 +FLAGS (\\Deleted)\r\n", "CMD a STORE set=1:3 +FLAGS \\Deleted|");
	check("a STORE 1 -FLAGS.SILENT \\Seen $Label1\r\n",
	    "CMD a STORE set=1 -FLAGS.SILENT \\Seen,$Label1|");
	check("a STORE 1 FLAGS ()\r\n", "CMD a STORE set=1 =FLAGS |");
	check("a UID STORE 5 (UNCHANGEDSINCE 0) flags.silent (\\Answered)\r\n",
	    "CMD a UID STORE set=5 unchangedsince=0 =FLAGS.SILENT \\Answered|");
	check("a STORE 1 +FLAGS.LOUD (\\Seen)\r\n", "a BAD expected FLAGS, +FLAGS or -FLAGS|");
	check("a STORE 1 LABELS (\\Seen)\r\n", "a BAD expected FLAGS, +FLAGS or -FLAGS|");
	check("a STORE 1 (FOO 1) FLAGS (\\Seen)\r\n", "a BAD invalid STORE modifier|");
	check("a STORE 1 FLAGS (\\Se\"en)\r\n", "a BAD invalid flag|");
	check("a STORE 1 FLAGS (\"x\")\r\n", "a BAD expected a flag|");
	check("a STORE 1 FLAGS\r\n", "a BAD expected a flag|");
	check("a COPY 1:2 Trash\r\na MOVE 3 \"Junk\"\r\na UID COPY 4 x\r\na UID MOVE 5 y\r\n",
	    "CMD a COPY set=1:2 mbox=Trash|CMD a MOVE set=3 mbox=Junk|CMD a UID COPY set=4 mbox=x|"
	    "CMD a UID MOVE set=5 mbox=y|");
	check("a COPY 1\r\n", "a BAD expected a mailbox name|");
	check("a UID EXPUNGE 3:5,1\r\n", "CMD a UID EXPUNGE set=1,3:5|");
	check("a UID EXPUNGE\r\n", "a BAD expected a sequence set|");
}

static void
test_search(void **state)
{
	check("a SEARCH ALL\r\n", "CMD a SEARCH AND(ALL)|");
	check("a SEARCH UNSEEN\r\n", "CMD a SEARCH AND(UNSEEN)|");
	check("a SEARCH CHARSET UTF-8 SUBJECT {6}\r\n\xe4\xb8\xad\xe6\x96\x87\r\n",
	    "+|CMD a SEARCH charset=UTF-8 AND(SUBJECT:\xe4\xb8\xad\xe6\x96\x87)|");
	check("a SEARCH ANSWERED DELETED DRAFT FLAGGED NEW OLD RECENT SEEN UNANSWERED UNDELETED"
	    " UNDRAFT UNFLAGGED UNSEEN KEYWORD $Junk UNKEYWORD x\r\n",
	    "CMD a SEARCH AND(ANSWERED,DELETED,DRAFT,FLAGGED,NEW,OLD,RECENT,SEEN,UNANSWERED,"
	    "UNDELETED,UNDRAFT,UNFLAGGED,UNSEEN,KEYWORD:$Junk,UNKEYWORD:x)|");
	check("a SEARCH BCC a CC b FROM \"c d\" SUBJECT e TEXT f TO g BODY h HEADER X-Spam yes\r\n",
	    "CMD a SEARCH AND(BCC:a,CC:b,FROM:c d,SUBJECT:e,TEXT:f,TO:g,BODY:h,HEADER:X-Spam:yes)|");
	check("a SEARCH BEFORE 1-Feb-1994 ON \"01-Jan-2000\" SINCE 1-jan-2000 SENTBEFORE 1-Jan-2000"
	    " SENTON 1-Jan-2000 SENTSINCE 1-Jan-2000\r\n",
	    "CMD a SEARCH AND(BEFORE:760060800,ON:946684800,SINCE:946684800,SENTBEFORE:946684800,"
	    "SENTON:946684800,SENTSINCE:946684800)|");
	check("a SEARCH LARGER 1000 SMALLER 4294967295 UID 1:* 2,4:3 MODSEQ 5\r\n",
	    "CMD a SEARCH AND(LARGER:1000,SMALLER:4294967295,UID:*[1:1],SEQ:2:4,MODSEQ:5)|");
	check("a SEARCH MODSEQ \"/flags/\\\\draft\" all 620162338\r\n",
	    "CMD a SEARCH AND(MODSEQ:620162338)|");
	check("a SEARCH OR SEEN NOT (FROM x TO y) *\r\n",
	    "CMD a SEARCH AND(OR(SEEN,NOT(AND(FROM:x,TO:y))),SEQ:*)|");
	check("a SEARCH RETURN (MIN MAX COUNT ALL) UNSEEN\r\n",
	    "CMD a SEARCH return=15 AND(UNSEEN)|");
	check("a SEARCH RETURN () ALL\r\n", "CMD a SEARCH return=4 AND(ALL)|");
	check("a UID SEARCH CHARSET \"US-ASCII\" RETURN\r\n",
	    "a BAD unknown search key|");
	check("a SEARCH RETURN (SAVE) ALL\r\n", "a BAD unknown SEARCH return option|");
	check("a SEARCH\r\n", "a BAD expected a search key|");
	check("a SEARCH FOO\r\n", "a BAD unknown search key|");
	check("a SEARCH OR SEEN\r\n", "a BAD expected a search key|");
	check("a SEARCH BEFORE 32-Jan-2000\r\n", "a BAD expected a date (d-Mon-yyyy)|");
	check("a SEARCH BEFORE 1-Jan-00\r\n", "a BAD expected a date (d-Mon-yyyy)|");
	check("a SEARCH LARGER 4294967296\r\n", "a BAD expected a number|");
	check("a SEARCH LARGER -1\r\n", "a BAD expected a number|");
	check("a SEARCH MODSEQ 9223372036854775808\r\n", "a BAD expected a number|");
	check("a SEARCH MODSEQ \"/x\" all 1\r\n", "a BAD invalid MODSEQ entry name|");
	check("a SEARCH MODSEQ \"/flags/x\" some 1\r\n", "a BAD invalid MODSEQ entry type|");
	check("a SEARCH KEYWORD \\Seen\r\n", "a BAD expected an atom|");
	check("a SEARCH HEADER\r\n", "a BAD expected a header field name|");
	check("a SEARCH 0\r\n", "a BAD invalid sequence set|");
	check("a SEARCH CHARSET\r\n", "a BAD expected a charset|");
}

static void
test_sort_thread(void **state)
{
	check("a SORT (REVERSE DATE SUBJECT) UTF-8 ALL\r\n",
	    "CMD a SORT sort=-2,5 charset=UTF-8 AND(ALL)|");
	check("a UID SORT (ARRIVAL CC FROM SIZE TO) US-ASCII SEEN\r\n",
	    "CMD a UID SORT sort=0,1,3,4,6 charset=US-ASCII AND(SEEN)|");
	check("a SORT (FOO) UTF-8 ALL\r\n", "a BAD unknown sort criterion|");
	check("a SORT DATE UTF-8 ALL\r\n", "a BAD expected a list of sort criteria|");
	check("a SORT () UTF-8 ALL\r\n", "a BAD unknown sort criterion|");
	check("a SORT (DATE) ALL\r\n", "a BAD expected a search key|");
	check("a THREAD REFERENCES UTF-8 ALL\r\n",
	    "CMD a THREAD alg=REFERENCES charset=UTF-8 AND(ALL)|");
	check("a UID THREAD orderedsubject UTF-8 1:5\r\n",
	    "CMD a UID THREAD alg=ORDEREDSUBJECT charset=UTF-8 AND(SEQ:1:5)|");
	check("a THREAD FOO UTF-8 ALL\r\n", "a BAD unknown threading algorithm|");
}

static void *
test_alloc(void *ctx, size_t size)
{
	struct buf	*keep = ctx;
	void		*p = xcalloc(1, size);

	assert_int_equal(buf_append(keep, &p, sizeof(p)), 0);
	return p;
}

static char *
seqset_text(const char *text, uint32_t max, bool uid)
{
	struct buf		 keep, out;
	struct imap_seqset	 set;
	const char		*error;
	uint32_t		 n = 0, prev = 0;
	char			*s;
	size_t			 i;

	buf_init(&keep, 1 << 20);
	buf_init(&out, 1 << 20);
	if (imap_seqset_parse(text, &set, 100, test_alloc, &keep, &error) == -1)
		buf_printf(&out, "error: %s", error);
	else {
		while (imap_seqset_next(&set, max, uid, &n)) {
			buf_printf(&out, "%u ", n);
			/* contains() agrees with the iteration, members and gaps alike. */
			for (uint32_t m = prev + 1; m < n; m++)
				assert_false(imap_seqset_contains(&set, m, max));
			assert_true(imap_seqset_contains(&set, n, max));
			prev = n;
		}
		if (prev < 1000 && !uid)
			for (uint32_t m = prev + 1; m < 1000; m++)
				assert_false(imap_seqset_contains(&set, m, max));
		buf_printf(&out, "top %u", imap_seqset_highest(&set, max));
	}
	s = buf_strdup(&out);
	for (i = 0; i < buf_len(&keep); i += sizeof(void *)) {
		void	*p;

		memcpy(&p, buf_head(&keep) + i, sizeof(p));
		free(p);
	}
	buf_release(&keep);
	buf_release(&out);
	return s;
}

static void
expect_seqset(const char *text, uint32_t max, bool uid, const char *want)
{
	char	*got = seqset_text(text, max, uid);

	if (strcmp(got, want) != 0)
		fail_msg("%s (max %u): want \"%s\", got \"%s\"", text, max, want, got);
	free(got);
}

static void
test_seqset(void **state)
{
	expect_seqset("1", 5, false, "1 top 1");
	expect_seqset("3:1,7,2", 10, false, "1 2 3 7 top 7");
	expect_seqset("5:6,1:2,3:4", 10, false, "1 2 3 4 5 6 top 6");
	expect_seqset("*", 5, false, "5 top 5");
	/* In an empty mailbox `*` is a number above max: BAD (RFC 3501 9). */
	expect_seqset("*", 0, false, "top 1");
	expect_seqset("3:*", 0, false, "top 3");
	expect_seqset("2,*", 0, true, "top 2");
	expect_seqset("*:3", 5, false, "3 4 5 top 5");
	/* x:* with x above the highest number: max..x (RFC 9051 6.4.8). */
	expect_seqset("10:*", 5, false, "5 6 7 8 9 10 top 10");
	expect_seqset("10:*", 5, true, "5 top 10");
	expect_seqset("2,8:*,4:*", 6, false, "2 4 5 6 7 8 top 8");
	expect_seqset("4294967295,4294967294:4294967295", 3, false,
	    "4294967294 4294967295 top 4294967295");
	expect_seqset("0", 5, false, "error: invalid sequence set");
	expect_seqset("01", 5, false, "error: invalid sequence set");
	expect_seqset("4294967296", 5, false, "error: invalid sequence set");
	expect_seqset("1:", 5, false, "error: invalid sequence set");
	expect_seqset("1,", 5, false, "error: invalid sequence set");
	expect_seqset(",1", 5, false, "error: invalid sequence set");
	expect_seqset("1::2", 5, false, "error: invalid sequence set");
	expect_seqset("**", 5, false, "error: invalid sequence set");
	expect_seqset("", 5, false, "error: invalid sequence set");
	expect_seqset("$", 5, false, "error: invalid sequence set");
}

static void
test_seqset_limit(void **state)
{
	char	 text[400] = "1";
	int	 i;

	for (i = 2; i <= 100; i++)
		sprintf(text + strlen(text), ",%d", 2 * i);
	expect_seqset(text, 5, true, "1 4 top 200");
	strcat(text, ",1000");
	expect_seqset(text, 5, true, "error: sequence set has too many elements");
}

/* Every command is in the table once, with the states RFC 3501 gives it. */
static void
test_command_table(void **state)
{
	static const struct {
		const char	*name;
		unsigned	 states;
	} want[] = {
		{ "CAPABILITY", 7 }, { "noop", 7 }, { "LOGOUT", 7 }, { "ID", 7 },
		{ "STARTTLS", 1 }, { "AUTHENTICATE", 1 }, { "LOGIN", 1 },
		{ "ENABLE", 6 }, { "SELECT", 6 }, { "EXAMINE", 6 }, { "CREATE", 6 }, { "DELETE", 6 },
		{ "RENAME", 6 }, { "SUBSCRIBE", 6 }, { "UNSUBSCRIBE", 6 }, { "LIST", 6 },
		{ "LSUB", 6 }, { "NAMESPACE", 6 }, { "STATUS", 6 }, { "APPEND", 6 }, { "IDLE", 6 },
		{ "CHECK", 4 }, { "CLOSE", 4 }, { "UNSELECT", 4 }, { "EXPUNGE", 4 }, { "SEARCH", 4 },
		{ "FETCH", 4 }, { "STORE", 4 }, { "COPY", 4 }, { "MOVE", 4 }, { "SORT", 4 },
		{ "THREAD", 4 }, { "UID SEARCH", 4 }, { "uid fetch", 4 }, { "UID STORE", 4 },
		{ "UID COPY", 4 }, { "UID MOVE", 4 }, { "UID EXPUNGE", 4 }, { "UID SORT", 4 },
		{ "UID THREAD", 4 },
	};
	const struct imap_command_def	*def;
	size_t				 i;

	assert_int_equal(imap_ncommands, sizeof(want) / sizeof(want[0]));
	for (i = 0; i < sizeof(want) / sizeof(want[0]); i++) {
		def = imap_command_find(want[i].name, strlen(want[i].name));
		assert_non_null(def);
		assert_int_equal(def->states, want[i].states);
		assert_true(imap_command_allowed(def, IMAP_STATE_SELECTED) == ((want[i].states & 4) != 0));
		assert_false(imap_command_allowed(def, IMAP_STATE_LOGOUT));
	}
	assert_null(imap_command_find("UID", 3));
	assert_null(imap_command_find("FETCHX", 6));
	/* RFC 3501 7.4.1: no EXPUNGE during FETCH, STORE, SEARCH; the UID forms may. */
	assert_true(imap_command_find("FETCH", 5)->flags & IMAP_CMDF_NO_EXPUNGE);
	assert_false(imap_command_find("UID FETCH", 9)->flags & IMAP_CMDF_NO_EXPUNGE);
	assert_true(imap_command_find("UID FETCH", 9)->flags & IMAP_CMDF_UID);
	assert_true(imap_command_find("APPEND", 6)->flags & IMAP_CMDF_STREAM);
}

/* A pipelined conversation split at every byte: the same events. */
static void
test_pipelined_conversation(void **state)
{
	check("1 LOGIN {5+}\r\nalice secret\r\n2 SELECT INBOX\r\n3 FETCH 1:* (FLAGS UID)\r\n"
	    "4 STORE 2 +FLAGS (\\Deleted)\r\n5 BAD(\r\n6 APPEND Trash {2+}\r\nhi\r\n7 LOGOUT\r\n",
	    "CMD 1 LOGIN user=alice pass=secret|CMD 2 SELECT mbox=INBOX|"
	    "CMD 3 FETCH set=*[1:1] atts=FLAGS,UID|CMD 4 STORE set=2 +FLAGS \\Deleted|"
	    "5 BAD unknown command|STREAM 2|CMD 6 APPEND mbox=Trash flags= size=2|CMD 7 LOGOUT|");
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_simple_commands),
		cmocka_unit_test(test_login_authenticate),
		cmocka_unit_test(test_quoted_strings),
		cmocka_unit_test(test_mailboxes),
		cmocka_unit_test(test_list),
		cmocka_unit_test(test_status_enable_id),
		cmocka_unit_test(test_id_limit),
		cmocka_unit_test(test_append),
		cmocka_unit_test(test_append_refused),
		cmocka_unit_test(test_literal_limits),
		cmocka_unit_test(test_line_too_long),
		cmocka_unit_test(test_nesting_and_arguments),
		cmocka_unit_test(test_hostile_defaults),
		cmocka_unit_test(test_fetch),
		cmocka_unit_test(test_store_copy_expunge),
		cmocka_unit_test(test_search),
		cmocka_unit_test(test_sort_thread),
		cmocka_unit_test(test_seqset),
		cmocka_unit_test(test_seqset_limit),
		cmocka_unit_test(test_command_table),
		cmocka_unit_test(test_pipelined_conversation),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
