/*
 * imapd/imap_search_eval.c and imap_search_result.c: every search key
 * over a small view of hand-written messages (parsed by the real command
 * parser), cost ordering (cheap keys open nothing), RFC 2047 and
 * transfer-encoding decoding, charsets, and the SEARCH / ESEARCH replies
 * streamed through a small buffer.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include "imapd/imap_parser.h"
#include "imapd/imap_search_eval.h"
#include "imapd/imap_sort.h"
#include "imapd/imap_thread.h"
#include "lib/buf.h"
#include "lib/settings.h"
#include "mail/mime.h"
#include "store/store.h"
#include "tests/unit/store_fixture.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>


/* Day numbers used below: 2024-01-01 is day 19723. */
#define JAN(d)	((time_t)(19723 + (d) - 1) * 86400)

static const char *const messages[] = {
	/* 1: RFC 2047 UTF-8 Chinese subject; sent 1 Jan 2024 in -0800 (2 Jan UTC) */
	"From: Alice <alice@example.com>\n"
	"To: bob@example.org\n"
	"Cc: Carol <carol@example.net>\n"
	"Subject: =?UTF-8?B?5Lit5paH?= test\n"
	"Date: Mon, 1 Jan 2024 23:30:00 -0800\n"
	"\n"
	"Hello World\n",
	/* 2: multipart, base64 UTF-8 text and quoted-printable HTML */
	"From: dave@example.com\n"
	"To: Bob <bob@example.org>\n"
	"Subject: greetings\n"
	"Date: 3 Jan 2024 10:00 +0000\n"
	"MIME-Version: 1.0\n"
	"Content-Type: multipart/alternative; boundary=\"b1\"\n"
	"\n"
	"--b1\n"
	"Content-Type: text/plain; charset=utf-8\n"
	"Content-Transfer-Encoding: base64\n"
	"\n"
	"R3LDvMOfZSBhdXMgTcO8bmNoZW4K\n"
	"--b1\n"
	"Content-Type: text/html; charset=utf-8\n"
	"Content-Transfer-Encoding: quoted-printable\n"
	"\n"
	"<p>caf=C3=A9 soft=\n"
	"break</p>\n"
	"--b1--\n",
	/* 3: ISO-8859-1 everywhere */
	"From: erin@example.com\n"
	"Bcc: frank@example.com\n"
	"Subject: =?ISO-8859-1?Q?Caf=E9_cr=E8me?=\n"
	"X-Custom: Foo Bar\n"
	"Date: Fri, 5 Jan 2024 08:00:00 +0100\n"
	"MIME-Version: 1.0\n"
	"Content-Type: text/plain; charset=ISO-8859-1\n"
	"Content-Transfer-Encoding: quoted-printable\n"
	"\n"
	"Sch=F6ne Gr=FC=DFe, \xc9MILE\n",
	/* 4: no Date:, GB2312 subject, an attached message, a binary attachment */
	"From: grace@example.com\n"
	"To: heidi@example.com\n"
	"Subject: =?GB2312?B?1tDOxA==?=\n"
	"MIME-Version: 1.0\n"
	"Content-Type: multipart/mixed; boundary=\"b2\"\n"
	"\n"
	"--b2\n"
	"Content-Type: message/rfc822\n"
	"\n"
	"Subject: inner subject\n"
	"From: ivan@example.com\n"
	"\n"
	"nested needle\n"
	"--b2\n"
	"Content-Type: application/octet-stream\n"
	"Content-Transfer-Encoding: base64\n"
	"\n"
	"c2VjcmV0d29yZA==\n"
	"--b2--\n",
	/* 5: nearly empty */
	"Subject: \xd0\x9f\xd1\x80\xd0\xb8\xd0\xb2\xd0\xb5\xd1\x82\n"	/* Привет, raw UTF-8 */
	"\n"
	"x\n",
};
#define NMSG	(sizeof(messages) / sizeof(messages[0]))

static const struct msg_info infos[NMSG] = {
	{ 10, MSG_SEEN | MSG_RECENT,		5, 1000, JAN(1) + 3600 },
	{ 20, MSG_ANSWERED | MSG_FLAGGED,	7, 2000, JAN(2) + 86399 },
	{ 30, MSG_DELETED | MSG_SEEN,		9, 3000, JAN(3) },
	{ 40, MSG_DRAFT | MSG_RECENT,		2, 4000, JAN(4) },
	{ 50, 0,				12, 5000, JAN(5) + 1 },
};
static const char *const keywords[NMSG] = { "$Forwarded Work", "", NULL, "work", "$Junk" };

struct fixture {
	struct imap_parser	*parser;
	struct imap_search_view	 view;
	unsigned		 opens[NMSG];
	struct mime_message	*parsed[NMSG];	/* their ENVELOPEs, as the index keeps them */
	bool			 no_envelope[NMSG];	/* "not parsed yet" */
	void			*keyed;		/* what the matched callback fills */
};

static const char *
kw_of(void *ctx, size_t i)
{
	(void)ctx;
	return keywords[i];
}

static int
open_msg(void *ctx, size_t i, int *fd_r)
{
	struct fixture	*fx = ctx;
	int		 fd;

	fx->opens[i]++;
	fd = memfd_create("msg", 0);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, messages[i], strlen(messages[i])), (ssize_t)strlen(messages[i]));
	*fd_r = fd;
	return 0;
}

static const struct imapd_settings	settings = { 1024 * 1024, 1024 * 1024, 64, 10000 };

static int
setup(void **state)
{
	struct fixture	*fx = calloc(1, sizeof(*fx));

	fx->parser = imap_parser_new(&settings);
	fx->view.msgs = infos;
	fx->view.n = NMSG;
	fx->view.ctx = fx;
	fx->view.keywords = kw_of;
	fx->view.open = open_msg;
	*state = fx;
	return 0;
}

static const char *
envelope_of(void *ctx, size_t i)
{
	struct fixture	*fx = ctx;

	return fx->no_envelope[i] ? "" : fx->parsed[i]->envelope;
}

/* The same fixture, with the index's ENVELOPEs: header keys open nothing. */
static int
setup_envelope(void **state)
{
	struct fixture	*fx;
	size_t		 i;

	setup(state);
	fx = *state;
	for (i = 0; i < NMSG; i++)
		fx->parsed[i] = mime_parse(messages[i], strlen(messages[i]));
	fx->view.envelope = envelope_of;
	return 0;
}

static int
teardown(void **state)
{
	struct fixture	*fx = *state;
	size_t		 i;

	for (i = 0; i < NMSG; i++)
		mime_message_free(&fx->parsed[i]);
	imap_parser_free(&fx->parser);
	free(fx);
	return 0;
}

/* Parse one command given as its lines ("\r\n"-separated; a line ending in {n} is followed by n literal bytes). */
static const struct imap_command *
parse(struct fixture *fx, const char *text)
{
	const char	*s = text, *eol;
	enum imap_parse	 st;
	uint64_t	 left;
	size_t		 used;

	for (;;) {
		eol = strstr(s, "\r\n");
		if (eol == NULL)
			eol = s + strlen(s);
		st = imap_parser_line(fx->parser, s, (size_t)(eol - s));
		s = *eol != '\0' ? eol + 2 : eol;
		if (imap_parser_wants_literal(fx->parser, &left)) {
			st = imap_parser_literal(fx->parser, s, (size_t)left, &used);
			s += used;
		}
		if (st == IMAP_PARSE_COMMAND)
			return imap_parser_command(fx->parser);
		if (st == IMAP_PARSE_ERROR)
			fail_msg("%s: %s", text, imap_parser_error(fx->parser)->text);
		/* after a final literal, the (empty) rest of its line */
		assert_true(*s != '\0' || eol[-1] == '}' || st == IMAP_PARSE_CONTINUE);
	}
}

static const struct imap_search *
search_of(const struct imap_command *c)
{
	switch (c->def->id) {
	case IMAP_CMD_SORT:	return &c->u.sort.search;
	case IMAP_CMD_THREAD:	return &c->u.thread.search;
	default:		return &c->u.search;
	}
}

/* Run a SEARCH command; the "* SEARCH ..." reply (without CRLF), malloc'd. */
static char *
run_search(struct fixture *fx, const char *cmdline, bool uid)
{
	const struct imap_command	*c = parse(fx, cmdline);
	struct imap_search_run		*run;
	const char			*error;
	struct buf			 out;
	size_t				 cursor = 0;
	char				*s;

	assert_int_equal(imap_search_begin(search_of(c), &fx->view, &run, &error), 0);
	/* one message a call: the continuation gives the same as one call */
	while (!imap_search_more(run, 1))
		;
	buf_init(&out, 1 << 16);
	assert_true(imap_search_write(&out, "SEARCH", imap_search_result(run), infos, uid, &cursor));
	imap_search_free(&run);
	assert_null(run);
	s = buf_strdup(&out);
	buf_release(&out);
	assert_string_equal(s + strlen(s) - 2, "\r\n");
	s[strlen(s) - 2] = '\0';
	return s;
}

static void
expect(struct fixture *fx, const char *keys, const char *want)
{
	char	 line[4096];
	char	*got;

	snprintf(line, sizeof(line), "a SEARCH %s", keys);
	got = run_search(fx, line, false);
	if (strcmp(got, want) != 0)
		fail_msg("SEARCH %s: got \"%s\", want \"%s\"", keys, got, want);
	free(got);
}

static void
test_flags(void **state)
{
	struct fixture	*fx = *state;

	expect(fx, "ALL", "* SEARCH 1 2 3 4 5");
	expect(fx, "ANSWERED", "* SEARCH 2");
	expect(fx, "DELETED", "* SEARCH 3");
	expect(fx, "DRAFT", "* SEARCH 4");
	expect(fx, "FLAGGED", "* SEARCH 2");
	expect(fx, "NEW", "* SEARCH 4");
	expect(fx, "OLD", "* SEARCH 2 3 5");
	expect(fx, "RECENT", "* SEARCH 1 4");
	expect(fx, "SEEN", "* SEARCH 1 3");
	expect(fx, "UNANSWERED", "* SEARCH 1 3 4 5");
	expect(fx, "UNDELETED", "* SEARCH 1 2 4 5");
	expect(fx, "UNDRAFT", "* SEARCH 1 2 3 5");
	expect(fx, "UNFLAGGED", "* SEARCH 1 3 4 5");
	expect(fx, "UNSEEN", "* SEARCH 2 4 5");
	expect(fx, "KEYWORD work", "* SEARCH 1 4");
	expect(fx, "KEYWORD $Forwarded", "* SEARCH 1");
	expect(fx, "UNKEYWORD work", "* SEARCH 2 3 5");
	expect(fx, "KEYWORD nothing", "* SEARCH");
	for (size_t i = 0; i < NMSG; i++)
		assert_int_equal(fx->opens[i], 0);	/* flags and keywords open nothing */
}

static void
test_numbers_and_sets(void **state)
{
	struct fixture	*fx = *state;

	expect(fx, "LARGER 2000", "* SEARCH 3 4 5");
	expect(fx, "SMALLER 2000", "* SEARCH 1");
	expect(fx, "2:3", "* SEARCH 2 3");
	expect(fx, "4:*", "* SEARCH 4 5");
	expect(fx, "*", "* SEARCH 5");
	expect(fx, "1,3,5:4", "* SEARCH 1 3 4 5");
	expect(fx, "UID 20:40", "* SEARCH 2 3 4");
	expect(fx, "UID 45:*", "* SEARCH 5");
	expect(fx, "UID 60:*", "* SEARCH 5");	/* `*` is the highest UID: 50:60 */
	expect(fx, "UID 1:9", "* SEARCH");
	expect(fx, "MODSEQ 9", "* SEARCH 3 5 (MODSEQ 12)");
	expect(fx, "MODSEQ 13", "* SEARCH");	/* no match: no MODSEQ (RFC 7162 3.1.5) */
	for (size_t i = 0; i < NMSG; i++)
		assert_int_equal(fx->opens[i], 0);
}

static void
test_internal_dates(void **state)
{
	struct fixture	*fx = *state;

	expect(fx, "ON 2-Jan-2024", "* SEARCH 2");	/* 23:59:59 is still that day */
	expect(fx, "BEFORE 3-Jan-2024", "* SEARCH 1 2");
	expect(fx, "SINCE 3-Jan-2024", "* SEARCH 3 4 5");
	expect(fx, "SINCE 6-Jan-2024", "* SEARCH");
	expect(fx, "BEFORE 1-Jan-2024", "* SEARCH");
	for (size_t i = 0; i < NMSG; i++)
		assert_int_equal(fx->opens[i], 0);
}

static void
test_sent_dates(void **state)
{
	struct fixture	*fx = *state;

	/* 1: the day as written (-0800), not the UTC day; 4 and 5: no Date:, internal date */
	expect(fx, "SENTON 1-Jan-2024", "* SEARCH 1");
	expect(fx, "SENTON 3-Jan-2024", "* SEARCH 2");
	expect(fx, "SENTBEFORE 4-Jan-2024", "* SEARCH 1 2");
	expect(fx, "SENTSINCE 4-Jan-2024", "* SEARCH 3 4 5");
	expect(fx, "SENTON 5-Jan-2024", "* SEARCH 3 5");
}

static void
test_header_keys(void **state)
{
	struct fixture	*fx = *state;

	expect(fx, "FROM alice", "* SEARCH 1");
	expect(fx, "FROM \"ALICE@EXAMPLE.COM\"", "* SEARCH 1");
	expect(fx, "FROM example.com", "* SEARCH 1 2 3 4");
	expect(fx, "TO bob", "* SEARCH 1 2");
	expect(fx, "CC carol", "* SEARCH 1");
	expect(fx, "BCC frank", "* SEARCH 3");
	expect(fx, "SUBJECT greet", "* SEARCH 2");
	expect(fx, "SUBJECT inner", "* SEARCH");	/* an attached message's header is not the header */
	expect(fx, "HEADER X-Custom \"foo b\"", "* SEARCH 3");
	expect(fx, "HEADER x-custom \"\"", "* SEARCH 3");	/* "": has the field */
	expect(fx, "HEADER Date \"\"", "* SEARCH 1 2 3");
	expect(fx, "HEADER X-None \"\"", "* SEARCH");
}

static void
test_encoded_headers(void **state)
{
	struct fixture	*fx = *state;

	/* 中文: RFC 2047 in UTF-8 (1) and in GB2312 (4), searched in UTF-8 */
	expect(fx, "CHARSET UTF-8 SUBJECT {6}\r\n\xe4\xb8\xad\xe6\x96\x87", "* SEARCH 1 4");
	expect(fx, "SUBJECT {3}\r\n\xe6\x96\x87", "* SEARCH 1 4");
	/* ISO-8859-1 Q-encoded "Café crème", searched with upper case É: folded */
	expect(fx, "CHARSET utf-8 SUBJECT {6}\r\nCAF\xc3\x89 ", "* SEARCH 3");
	expect(fx, "SUBJECT {6}\r\nCR\xc3\x88ME", "* SEARCH 3");
	/* raw UTF-8 Cyrillic, upper case ПРИВЕТ matches Привет */
	expect(fx, "SUBJECT {12}\r\n\xd0\x9f\xd0\xa0\xd0\x98\xd0\x92\xd0\x95\xd0\xa2", "* SEARCH 5");
	expect(fx, "CHARSET US-ASCII SUBJECT test", "* SEARCH 1");
}

static void
test_body_keys(void **state)
{
	struct fixture	*fx = *state;

	expect(fx, "BODY world", "* SEARCH 1");
	/* base64 UTF-8 "Grüße aus München" */
	expect(fx, "BODY {8}\r\nM\xc3\x9cNCHEN", "* SEARCH 2");
	/* quoted-printable with a soft line break and =C3=A9 */
	expect(fx, "BODY {15}\r\ncaf\xc3\xa9 softbreak", "* SEARCH 2");
	/* ISO-8859-1 quoted-printable "Schöne Grüße, ÉMILE" */
	expect(fx, "BODY {7}\r\nsch\xc3\xb6ne", "* SEARCH 3");
	expect(fx, "BODY {6}\r\n\xc3\xa9mile", "* SEARCH 3");
	/* text of an attached message, its header included; never a binary part */
	expect(fx, "BODY \"nested needle\"", "* SEARCH 4");
	expect(fx, "BODY \"inner subject\"", "* SEARCH 4");
	expect(fx, "BODY secretword", "* SEARCH");
	expect(fx, "BODY c2VjcmV0d29yZA", "* SEARCH");
	/* BODY is not the header; TEXT is both */
	expect(fx, "BODY alice", "* SEARCH");
	expect(fx, "TEXT alice", "* SEARCH 1");
	expect(fx, "TEXT world", "* SEARCH 1");
	expect(fx, "TEXT {6}\r\n\xe4\xb8\xad\xe6\x96\x87", "* SEARCH 1 4");
	expect(fx, "TEXT \"\"", "* SEARCH 1 2 3 4 5");
}

static void
test_nested(void **state)
{
	struct fixture	*fx = *state;

	expect(fx, "SEEN UNDELETED", "* SEARCH 1");
	expect(fx, "OR SEEN FLAGGED", "* SEARCH 1 2 3");
	expect(fx, "NOT SEEN", "* SEARCH 2 4 5");
	expect(fx, "NOT NOT SEEN", "* SEARCH 1 3");
	expect(fx, "OR (SEEN FLAGGED) NOT (OR DELETED DRAFT)", "* SEARCH 1 2 5");
	expect(fx, "OR OR DRAFT DELETED (ANSWERED UID 20)", "* SEARCH 2 3 4");
	expect(fx, "NOT (OR FROM alice BODY {8}\r\nm\xc3\xbcnchen)", "* SEARCH 3 4 5");
	expect(fx, "(((SEEN)) (NOT DELETED))", "* SEARCH 1");
	expect(fx, "OR SUBJECT greetings NOT OR TEXT \"hello\" LARGER 2500", "* SEARCH 2");
}

/* Cheap keys go first whatever their place: a message failing them is never opened. */
static void
test_cost_order(void **state)
{
	struct fixture	*fx = *state;
	size_t		 i;

	expect(fx, "BODY world SUBJECT test SEEN", "* SEARCH 1");
	assert_int_equal(fx->opens[0], 1);	/* header and body, one open */
	assert_int_equal(fx->opens[1], 0);
	assert_int_equal(fx->opens[2], 1);	/* seen: opened, fails SUBJECT */
	assert_int_equal(fx->opens[3], 0);
	assert_int_equal(fx->opens[4], 0);
	memset(fx->opens, 0, sizeof(fx->opens));
	/* every kind of content key on every message: still one open each */
	expect(fx, "OR BODY zzz OR TEXT yyy OR SENTON 1-Jan-2024 OR FROM q HEADER x y",
	    "* SEARCH 1");
	for (i = 0; i < NMSG; i++)
		assert_int_equal(fx->opens[i], 1);
	memset(fx->opens, 0, sizeof(fx->opens));
	expect(fx, "OR UID 10 SUBJECT zzz", "* SEARCH 1");	/* OR stops at the first true */
	assert_int_equal(fx->opens[0], 0);
	assert_int_equal(fx->opens[1], 1);
}

static int
open_gone(void *ctx, size_t i, int *fd_r)
{
	(void)ctx; (void)i; (void)fd_r;
	return -1;
}

static void
test_gone_and_charset(void **state)
{
	struct fixture			*fx = *state;
	struct imap_search_run		*run;
	const char			*error;
	const struct imap_command	*c;

	/* expunged meanwhile: no content key matches, NOT of one does */
	fx->view.open = open_gone;
	expect(fx, "SUBJECT test", "* SEARCH");
	expect(fx, "NOT BODY world", "* SEARCH 1 2 3 4 5");
	expect(fx, "SENTON 1-Jan-2024 SEEN", "* SEARCH 1");	/* the internal date */
	fx->view.open = open_msg;

	c = parse(fx, "a SEARCH CHARSET ISO-8859-1 SUBJECT x");
	assert_int_equal(imap_search_begin(&c->u.search, &fx->view, &run, &error), -1);
	assert_string_equal(IMAP_SEARCH_BADCHARSET, "[BADCHARSET (UTF-8 US-ASCII)]");
	assert_true(strncmp(error, IMAP_SEARCH_BADCHARSET " ", strlen(IMAP_SEARCH_BADCHARSET) + 1) == 0);
	assert_true(imap_search_charset_ok(NULL));
	assert_true(imap_search_charset_ok("us-ascii"));
	assert_false(imap_search_charset_ok("UTF-7"));
}

static void
test_uid_reply(void **state)
{
	struct fixture	*fx = *state;
	char		*got;

	got = run_search(fx, "a UID SEARCH OR SEEN DRAFT", true);
	assert_string_equal(got, "* SEARCH 10 30 40");
	free(got);
	got = run_search(fx, "a UID SEARCH MODSEQ 3 UNSEEN", true);
	assert_string_equal(got, "* SEARCH 20 50 (MODSEQ 12)");
	free(got);
}

/* ESEARCH over the fixture: the whole reply, written with room to spare. */
static char *
esearch(struct fixture *fx, const char *cmdline, bool uid)
{
	const struct imap_command	*c = parse(fx, cmdline);
	struct imap_search_run		*run;
	const char			*error;
	struct buf			 out;
	size_t				 cursor = 0;
	char				*s;

	assert_true(c->u.search.esearch);
	assert_int_equal(imap_search_begin(&c->u.search, &fx->view, &run, &error), 0);
	assert_true(imap_search_more(run, 100));
	buf_init(&out, 1 << 16);
	assert_true(imap_esearch_write(&out, c->tag, imap_search_result(run), infos, uid,
	    c->u.search.ret, &cursor));
	imap_search_free(&run);
	s = buf_strdup(&out);
	buf_release(&out);
	return s;
}

static void
test_esearch(void **state)
{
	struct fixture	*fx = *state;
	char		*got;

	got = esearch(fx, "t1 SEARCH RETURN (MIN MAX COUNT ALL) UNSEEN", false);
	assert_string_equal(got, "* ESEARCH (TAG \"t1\") MIN 2 MAX 5 COUNT 3 ALL 2,4:5\r\n");
	free(got);
	got = esearch(fx, "t2 UID SEARCH RETURN (ALL) 1:2,5", true);
	assert_string_equal(got, "* ESEARCH (TAG \"t2\") UID ALL 10,20,50\r\n");
	free(got);
	got = esearch(fx, "t3 SEARCH RETURN () ALL", false);	/* () is ALL */
	assert_string_equal(got, "* ESEARCH (TAG \"t3\") ALL 1:5\r\n");
	free(got);
	got = esearch(fx, "t4 SEARCH RETURN (COUNT MIN ALL) KEYWORD nothing", false);
	assert_string_equal(got, "* ESEARCH (TAG \"t4\") COUNT 0\r\n");	/* RFC 4731 3.1 */
	free(got);
	got = esearch(fx, "t5 UID SEARCH RETURN (MAX) MODSEQ 6", true);
	assert_string_equal(got, "* ESEARCH (TAG \"t5\") UID MAX 50 MODSEQ 12\r\n");
	free(got);
}

static bool
starts_with(const struct buf *b, const char *s)
{
	return buf_len(b) >= strlen(s) && memcmp(buf_head(b), s, strlen(s)) == 0;
}

static bool
ends_with(const struct buf *b, const char *s)
{
	return buf_len(b) >= strlen(s) &&
	    memcmp(buf_head(b) + buf_len(b) - strlen(s), s, strlen(s)) == 0;
}

/* 100,000 messages, every other one seen, then 100 in a row: streamed through a 200-byte buffer. */
static void
test_large_result_streamed(void **state)
{
	enum { N = 100000 };
	struct msg_info		*msgs = calloc(N, sizeof(*msgs));
	struct imap_search_view	 view = { 0 };
	struct imap_search	 search = { 0 };
	struct imap_search_key	 key = { 0 }, seen = { 0 };
	struct imap_search_run	*run;
	const char		*error;
	struct buf		 small, whole;
	size_t			 i, cursor, rounds;
	int			 esearch;

	(void)state;
	for (i = 0; i < N; i++) {
		msgs[i].uid = (uint32_t)(i + 1 + (i >= N / 2 ? 1000 : 0));
		msgs[i].flags = i % 2 == 0 || i > N - 100 ? MSG_SEEN : 0;
	}
	view.msgs = msgs;
	view.n = N;
	key.type = IMAP_SK_AND;
	key.child = &seen;
	seen.type = IMAP_SK_SEEN;
	search.key = &key;
	assert_int_equal(imap_search_begin(&search, &view, &run, &error), 0);
	for (rounds = 1; !imap_search_more(run, 4096); rounds++)
		;
	assert_int_equal(rounds, (N + 4095) / 4096);
	assert_int_equal(imap_search_result(run)->n, N / 2 + 50);
	for (esearch = 0; esearch < 2; esearch++) {
		buf_init(&whole, 4 << 20);
		buf_init(&small, 200);
		cursor = 0;
		for (rounds = 0;; rounds++) {
			bool done = esearch ?
			    imap_esearch_write(&small, "x", imap_search_result(run), msgs, true,
			    IMAP_SEARCH_RETURN_ALL | IMAP_SEARCH_RETURN_COUNT, &cursor) :
			    imap_search_write(&small, "SEARCH", imap_search_result(run), msgs, false, &cursor);

			assert_int_equal(buf_append(&whole, buf_head(&small), buf_len(&small)), 0);
			buf_reset(&small);
			if (done)
				break;
		}
		assert_true(rounds > 100);
		if (esearch) {
			/* UIDs 1, 3, 5, ... (1000 more from the middle), the last 100 one range */
			assert_true(starts_with(&whole, "* ESEARCH (TAG \"x\") UID COUNT 50050 ALL 1,3,5,"));
			assert_non_null(memmem(buf_head(&whole), buf_len(&whole), ",49999,51001,", 13));
			assert_true(ends_with(&whole, ",100899,100901:101000\r\n"));
		} else {
			assert_true(starts_with(&whole, "* SEARCH 1 3 5 7 "));
			assert_non_null(memmem(buf_head(&whole), buf_len(&whole), " 99899 99901 99902 99903 ", 24));
			assert_true(ends_with(&whole, " 99999 100000\r\n"));
			assert_int_equal(memchr(buf_head(&whole), '\r', buf_len(&whole)),
			    buf_head(&whole) + buf_len(&whole) - 2);
		}
		buf_release(&small);
		buf_release(&whole);
	}
	imap_search_free(&run);
	free(msgs);
}

/* SORT and THREAD the way the session runs them: keys read within the search's one open. */
struct keyed {
	struct imap_sort_msg	 msgs[NMSG];
	size_t			 n;
};

static void
keep_keys(void *ctx, size_t i, const char *header, size_t len)
{
	struct fixture	*fx = ctx;
	struct keyed	*k = fx->keyed;

	assert_non_null(header);
	imap_sort_msg_init(&k->msgs[k->n++], (uint32_t)i, &infos[i], header, len);
}

static void
test_sort_and_thread_pipeline(void **state)
{
	struct fixture			*fx = *state;
	struct keyed			 k = { .n = 0 };
	const struct imap_command	*c;
	struct imap_search_run		*run;
	struct imap_search_result	 r;
	struct imap_thread		*t;
	const char			*error;
	struct buf			 out;
	size_t				 i, cursor = 0;

	fx->keyed = &k;
	fx->view.matched = keep_keys;
	fx->view.header_for_matches = true;
	c = parse(fx, "s SORT (REVERSE SUBJECT) UTF-8 OR FROM example BODY x");
	assert_int_equal(imap_search_begin(&c->u.sort.search, &fx->view, &run, &error), 0);
	assert_true(imap_search_more(run, 100));
	for (i = 0; i < NMSG; i++)
		assert_int_equal(fx->opens[i], 1);	/* the keys came with the search's open */
	imap_sort(k.msgs, k.n, c->u.sort.criteria, c->u.sort.ncriteria);
	imap_sort_result(k.msgs, k.n, imap_search_result(run), &r);
	buf_init(&out, 1024);
	assert_true(imap_search_write(&out, "SORT", &r, infos, false, &cursor));
	/* all match (5 by its body "x"); base subjects descending, bytewise past ASCII:
	 * "中文 test" > "中文" (GB2312) > "Привет" > "greetings" > "Café crème" */
	assert_int_equal(buf_len(&out), strlen("* SORT 1 4 5 2 3\r\n"));
	assert_memory_equal(buf_head(&out), "* SORT 1 4 5 2 3\r\n", buf_len(&out));
	free(r.idx);
	buf_reset(&out);
	t = imap_thread_build(k.msgs, k.n, false);
	assert_int_equal(imap_thread_write(&out, t, infos, true), 0);
	/* ORDEREDSUBJECT, five subjects: by sent date (4 and 5 have none: internal date) */
	assert_int_equal(buf_len(&out), strlen("* THREAD (10)(20)(40)(50)(30)\r\n"));
	assert_memory_equal(buf_head(&out), "* THREAD (10)(20)(40)(50)(30)\r\n", buf_len(&out));
	imap_thread_free(&t);
	buf_release(&out);
	for (i = 0; i < k.n; i++)
		imap_sort_msg_free(&k.msgs[i]);
	imap_search_free(&run);
}

/* With the ENVELOPE, address, subject and sent-date keys open no file; HEADER still does. */
static void
test_envelope_opens_nothing(void **state)
{
	struct fixture	*fx = *state;
	size_t		 i;

	expect(fx, "OR SUBJECT greet OR FROM alice OR TO heidi OR CC carol OR BCC frank "
	    "SENTON 5-Jan-2024", "* SEARCH 1 2 3 4 5");
	expect(fx, "FROM \"alice <alice@example.com>\"", "* SEARCH 1");	/* as Dovecot shows it */
	expect(fx, "TO \"bob <bob@\"", "* SEARCH 2");
	for (i = 0; i < NMSG; i++)
		assert_int_equal(fx->opens[i], 0);
	expect(fx, "HEADER X-Custom foo", "* SEARCH 3");
	for (i = 0; i < NMSG; i++)
		assert_int_equal(fx->opens[i], 1);
	/* a message the index has not parsed yet: its header is read */
	memset(fx->opens, 0, sizeof(fx->opens));
	fx->no_envelope[1] = true;
	expect(fx, "SUBJECT greet", "* SEARCH 2");
	assert_int_equal(fx->opens[0], 0);
	assert_int_equal(fx->opens[1], 1);
}

/* Two big ones: a 40 KB header (read past the first 16 KB), a 300 KB body (mapped). */
static char	*big[2];

static int
open_big(void *ctx, size_t i, int *fd_r)
{
	int	 fd = memfd_create("big", 0);

	(void)ctx;
	assert_int_equal(write(fd, big[i], strlen(big[i])), (ssize_t)strlen(big[i]));
	*fd_r = fd;
	return 0;
}

static void
test_big_messages(void **state)
{
	struct fixture	*fx = *state;
	struct msg_info	 two[2] = { { 1, 0, 1, 1, 0 }, { 2, 0, 1, 1, 0 } };
	size_t		 i, len;
	char		*p;

	big[0] = p = malloc(64 * 1024);
	for (i = 0; i < 1000; i++)
		p += sprintf(p, "X-Filler-%zu: %s\n", i, "abcdefghijklmnopqrstuvwxyz");
	sprintf(p, "Subject: the last field\n\nshort body\n");
	len = 400 * 1024;
	big[1] = p = malloc(len);
	p += sprintf(p, "Subject: big\n\n");
	while ((size_t)(p - big[1]) < 300 * 1024)
		p += sprintf(p, "%s\n", "lorem ipsum dolor sit amet");
	sprintf(p, "needle at the end\n");
	fx->view.msgs = two;
	fx->view.n = 2;
	fx->view.open = open_big;
	expect(fx, "SUBJECT \"last field\"", "* SEARCH 1");
	expect(fx, "HEADER X-Filler-999 xyz", "* SEARCH 1");
	expect(fx, "BODY \"short body\"", "* SEARCH 1");
	expect(fx, "SUBJECT big BODY \"NEEDLE AT\"", "* SEARCH 2");
	expect(fx, "TEXT \"filler-500: abc\"", "* SEARCH 1");
	free(big[0]);
	free(big[1]);
}

/* ---- Over the real store: the wiring the session will use ---- */

struct store_view {
	struct mailbox			*mb;
	const struct msg_fetch		*fetch;		/* keywords, by index */
	unsigned			 opens;
};

static const char *
store_keywords(void *ctx, size_t i)
{
	struct store_view	*sv = ctx;

	return sv->fetch[i].keywords;
}

static const char *
store_envelope(void *ctx, size_t i)
{
	struct store_view	*sv = ctx;

	return sv->fetch[i].envelope;
}

static int
sv_open(void *ctx, size_t i, int *fd_r)
{
	struct store_view	*sv = ctx;
	const struct msg_info	*msgs;
	const char		*error;
	size_t			 n;

	sv->opens++;
	assert_int_equal(mailbox_messages(sv->mb, &msgs, &n, &error), 0);
	return mailbox_open_message(sv->mb, msgs[i].uid, fd_r, &error);
}

static void
test_over_the_store(void **state)
{
	struct store_fx			*sfx = *state;
	struct fixture			 fx = { 0 };
	struct store_view		 sv = { 0 };
	const struct msg_info		*msgs;
	const struct imap_command	*c;
	struct imap_search_run		*run;
	const char			*error;
	struct buf			 out;
	size_t				 i, n, nf, cursor = 0;
	uint32_t			 uid;

	for (i = 0; i < NMSG; i++)
		assert_int_equal(fx_deliver(sfx->st, sfx->maildir, messages[i]), 0);
	sv.mb = fx_open(sfx, "INBOX", 0);
	assert_int_equal(mailbox_messages(sv.mb, &msgs, &n, &error), 0);
	assert_int_equal(n, NMSG);
	uid = msgs[3].uid;
	assert_int_equal(mailbox_store_flags(sv.mb, &uid, 1, FLAGS_ADD, MSG_SEEN, "Work", &error), 0);
	assert_int_equal(mailbox_messages(sv.mb, &msgs, &n, &error), 0);
	assert_int_equal(mailbox_fetch(sv.mb, 1, UINT32_MAX, &sv.fetch, &nf, &error), 0);
	assert_int_equal(nf, n);
	fx.parser = imap_parser_new(&settings);
	fx.view.msgs = msgs;
	fx.view.n = n;
	fx.view.ctx = &sv;
	fx.view.keywords = store_keywords;
	fx.view.open = sv_open;

	c = parse(&fx, "a UID SEARCH CHARSET UTF-8 OR KEYWORD work SUBJECT {6}\r\n"
	    "\xe4\xb8\xad\xe6\x96\x87");
	assert_int_equal(imap_search_begin(&c->u.search, &fx.view, &run, &error), 0);
	assert_true(imap_search_more(run, 1000));
	assert_int_equal(imap_search_result(run)->n, 2);	/* 1 by subject, 4 by both */
	assert_int_equal(imap_search_result(run)->idx[0], 0);
	assert_int_equal(imap_search_result(run)->idx[1], 3);
	assert_int_equal(sv.opens, NMSG - 1);	/* 4 matched on its keyword, unopened */
	assert_int_equal(imap_search_opened(run), NMSG - 1);
	imap_search_free(&run);

	/* the same with the index's ENVELOPEs: no file opened at all */
	sv.opens = 0;
	fx.view.envelope = store_envelope;
	c = parse(&fx, "a UID SEARCH CHARSET UTF-8 OR KEYWORD work SUBJECT {6}\r\n"
	    "\xe4\xb8\xad\xe6\x96\x87");
	assert_int_equal(imap_search_begin(&c->u.search, &fx.view, &run, &error), 0);
	assert_true(imap_search_more(run, 1000));
	assert_int_equal(imap_search_result(run)->n, 2);
	assert_int_equal(sv.opens, 0);
	buf_init(&out, 1024);
	assert_true(imap_search_write(&out, "SEARCH", imap_search_result(run), msgs, true, &cursor));
	assert_true(buf_len(&out) > 9);
	imap_search_free(&run);
	buf_release(&out);

	sv.opens = 0;
	c = parse(&fx, "b SEARCH SEEN BODY {8}\r\nm\xc3\xbcnchen");	/* only 4 is seen: one open */
	assert_int_equal(imap_search_begin(&c->u.search, &fx.view, &run, &error), 0);
	assert_true(imap_search_more(run, 1000));
	assert_int_equal(imap_search_result(run)->n, 0);
	assert_int_equal(sv.opens, 1);
	imap_search_free(&run);
	imap_parser_free(&fx.parser);
	mailbox_close(&sv.mb);
}

#define T(t)	cmocka_unit_test_setup_teardown(t, setup, teardown)
#define TE(t)	cmocka_unit_test_setup_teardown(t, setup_envelope, teardown)

int
main(void)
{
	const struct CMUnitTest	 tests[] = {
		T(test_flags),
		T(test_numbers_and_sets),
		T(test_internal_dates),
		T(test_sent_dates),
		T(test_header_keys),
		T(test_encoded_headers),
		T(test_body_keys),
		T(test_nested),
		T(test_cost_order),
		T(test_gone_and_charset),
		T(test_uid_reply),
		T(test_big_messages),
		T(test_sort_and_thread_pipeline),
		TE(test_sent_dates),
		TE(test_header_keys),
		TE(test_encoded_headers),
		TE(test_nested),
		TE(test_envelope_opens_nothing),
		T(test_esearch),
		cmocka_unit_test(test_large_result_streamed),
		STORE_FX_TEST(test_over_the_store),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
