/*
 * imapd/imap_search_eval.c: every search key over the fixture's messages
 * (tests/unit/search_fixture.c), parsed by the real command parser; cost
 * ordering (cheap keys open nothing, one open per message), RFC 2047 and
 * transfer-encoding decoding, charsets, folding, the ENVELOPE path, big
 * messages.  Replies, SORT/THREAD wiring and the real store:
 * test_imap_search_run.c.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include "tests/unit/search_fixture.h"

#include "imapd/imap_parser.h"
#include "lib/buf.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

static void
test_flags(void **state)
{
	struct search_fx	*fx = *state;

	sfx_expect(fx, "ALL", "* SEARCH 1 2 3 4 5");
	sfx_expect(fx, "ANSWERED", "* SEARCH 2");
	sfx_expect(fx, "DELETED", "* SEARCH 3");
	sfx_expect(fx, "DRAFT", "* SEARCH 4");
	sfx_expect(fx, "FLAGGED", "* SEARCH 2");
	sfx_expect(fx, "NEW", "* SEARCH 4");
	sfx_expect(fx, "OLD", "* SEARCH 2 3 5");
	sfx_expect(fx, "RECENT", "* SEARCH 1 4");
	sfx_expect(fx, "SEEN", "* SEARCH 1 3");
	sfx_expect(fx, "UNANSWERED", "* SEARCH 1 3 4 5");
	sfx_expect(fx, "UNDELETED", "* SEARCH 1 2 4 5");
	sfx_expect(fx, "UNDRAFT", "* SEARCH 1 2 3 5");
	sfx_expect(fx, "UNFLAGGED", "* SEARCH 1 3 4 5");
	sfx_expect(fx, "UNSEEN", "* SEARCH 2 4 5");
	sfx_expect(fx, "KEYWORD work", "* SEARCH 1 4");
	sfx_expect(fx, "KEYWORD $Forwarded", "* SEARCH 1");
	sfx_expect(fx, "UNKEYWORD work", "* SEARCH 2 3 5");
	sfx_expect(fx, "KEYWORD nothing", "* SEARCH");
	for (size_t i = 0; i < SFX_NMSG; i++)
		assert_int_equal(fx->opens[i], 0);	/* flags and sfx_keywords open nothing */
}

static void
test_numbers_and_sets(void **state)
{
	struct search_fx	*fx = *state;

	sfx_expect(fx, "LARGER 2000", "* SEARCH 3 4 5");
	sfx_expect(fx, "SMALLER 2000", "* SEARCH 1");
	sfx_expect(fx, "2:3", "* SEARCH 2 3");
	sfx_expect(fx, "4:*", "* SEARCH 4 5");
	sfx_expect(fx, "*", "* SEARCH 5");
	sfx_expect(fx, "1,3,5:4", "* SEARCH 1 3 4 5");
	sfx_expect(fx, "UID 20:40", "* SEARCH 2 3 4");
	sfx_expect(fx, "UID 45:*", "* SEARCH 5");
	sfx_expect(fx, "UID 60:*", "* SEARCH 5");	/* `*` is the highest UID: 50:60 */
	sfx_expect(fx, "UID 1:9", "* SEARCH");
	sfx_expect(fx, "MODSEQ 9", "* SEARCH 3 5 (MODSEQ 12)");
	sfx_expect(fx, "MODSEQ 13", "* SEARCH");	/* no match: no MODSEQ (RFC 7162 3.1.5) */
	for (size_t i = 0; i < SFX_NMSG; i++)
		assert_int_equal(fx->opens[i], 0);
}

static void
test_internal_dates(void **state)
{
	struct search_fx	*fx = *state;

	sfx_expect(fx, "ON 2-Jan-2024", "* SEARCH 2");	/* 23:59:59 is still that day */
	sfx_expect(fx, "BEFORE 3-Jan-2024", "* SEARCH 1 2");
	sfx_expect(fx, "SINCE 3-Jan-2024", "* SEARCH 3 4 5");
	sfx_expect(fx, "SINCE 6-Jan-2024", "* SEARCH");
	sfx_expect(fx, "BEFORE 1-Jan-2024", "* SEARCH");
	for (size_t i = 0; i < SFX_NMSG; i++)
		assert_int_equal(fx->opens[i], 0);
}

static void
test_sent_dates(void **state)
{
	struct search_fx	*fx = *state;

	/* 1: the day as written (-0800), not the UTC day; 4 and 5: no Date:, internal date */
	sfx_expect(fx, "SENTON 1-Jan-2024", "* SEARCH 1");
	sfx_expect(fx, "SENTON 3-Jan-2024", "* SEARCH 2");
	sfx_expect(fx, "SENTBEFORE 4-Jan-2024", "* SEARCH 1 2");
	sfx_expect(fx, "SENTSINCE 4-Jan-2024", "* SEARCH 3 4 5");
	sfx_expect(fx, "SENTON 5-Jan-2024", "* SEARCH 3 5");
}

static void
test_header_keys(void **state)
{
	struct search_fx	*fx = *state;

	sfx_expect(fx, "FROM alice", "* SEARCH 1");
	sfx_expect(fx, "FROM \"ALICE@EXAMPLE.COM\"", "* SEARCH 1");
	sfx_expect(fx, "FROM example.com", "* SEARCH 1 2 3 4");
	sfx_expect(fx, "TO bob", "* SEARCH 1 2");
	sfx_expect(fx, "CC carol", "* SEARCH 1");
	sfx_expect(fx, "BCC frank", "* SEARCH 3");
	sfx_expect(fx, "SUBJECT greet", "* SEARCH 2");
	sfx_expect(fx, "SUBJECT inner", "* SEARCH");	/* an attached message's header is not the header */
	sfx_expect(fx, "HEADER X-Custom \"foo b\"", "* SEARCH 3");
	sfx_expect(fx, "HEADER x-custom \"\"", "* SEARCH 3");	/* "": has the field */
	sfx_expect(fx, "HEADER Date \"\"", "* SEARCH 1 2 3");
	sfx_expect(fx, "HEADER X-None \"\"", "* SEARCH");
}

static void
test_encoded_headers(void **state)
{
	struct search_fx	*fx = *state;

	/* 中文: RFC 2047 in UTF-8 (1) and in GB2312 (4), searched in UTF-8 */
	sfx_expect(fx, "CHARSET UTF-8 SUBJECT {6}\r\n\xe4\xb8\xad\xe6\x96\x87", "* SEARCH 1 4");
	sfx_expect(fx, "SUBJECT {3}\r\n\xe6\x96\x87", "* SEARCH 1 4");
	/* ISO-8859-1 Q-encoded "Café crème", searched with upper case É: folded */
	sfx_expect(fx, "CHARSET utf-8 SUBJECT {6}\r\nCAF\xc3\x89 ", "* SEARCH 3");
	sfx_expect(fx, "SUBJECT {6}\r\nCR\xc3\x88ME", "* SEARCH 3");
	/* raw UTF-8 Cyrillic, upper case ПРИВЕТ matches Привет */
	sfx_expect(fx, "SUBJECT {12}\r\n\xd0\x9f\xd0\xa0\xd0\x98\xd0\x92\xd0\x95\xd0\xa2", "* SEARCH 5");
	sfx_expect(fx, "CHARSET US-ASCII SUBJECT test", "* SEARCH 1");
}

static void
test_body_keys(void **state)
{
	struct search_fx	*fx = *state;

	sfx_expect(fx, "BODY world", "* SEARCH 1");
	/* base64 UTF-8 "Grüße aus München" */
	sfx_expect(fx, "BODY {8}\r\nM\xc3\x9cNCHEN", "* SEARCH 2");
	/* quoted-printable with a soft line break and =C3=A9 */
	sfx_expect(fx, "BODY {15}\r\ncaf\xc3\xa9 softbreak", "* SEARCH 2");
	/* ISO-8859-1 quoted-printable "Schöne Grüße, ÉMILE" */
	sfx_expect(fx, "BODY {7}\r\nsch\xc3\xb6ne", "* SEARCH 3");
	sfx_expect(fx, "BODY {6}\r\n\xc3\xa9mile", "* SEARCH 3");
	/* text of an attached message, its header included; never a binary part */
	sfx_expect(fx, "BODY \"nested needle\"", "* SEARCH 4");
	sfx_expect(fx, "BODY \"inner subject\"", "* SEARCH 4");
	sfx_expect(fx, "BODY secretword", "* SEARCH");
	sfx_expect(fx, "BODY c2VjcmV0d29yZA", "* SEARCH");
	/* BODY is not the header; TEXT is both */
	sfx_expect(fx, "BODY alice", "* SEARCH");
	sfx_expect(fx, "TEXT alice", "* SEARCH 1");
	sfx_expect(fx, "TEXT world", "* SEARCH 1");
	sfx_expect(fx, "TEXT {6}\r\n\xe4\xb8\xad\xe6\x96\x87", "* SEARCH 1 4");
	sfx_expect(fx, "TEXT \"\"", "* SEARCH 1 2 3 4 5");
}

static void
test_nested(void **state)
{
	struct search_fx	*fx = *state;

	sfx_expect(fx, "SEEN UNDELETED", "* SEARCH 1");
	sfx_expect(fx, "OR SEEN FLAGGED", "* SEARCH 1 2 3");
	sfx_expect(fx, "NOT SEEN", "* SEARCH 2 4 5");
	sfx_expect(fx, "NOT NOT SEEN", "* SEARCH 1 3");
	sfx_expect(fx, "OR (SEEN FLAGGED) NOT (OR DELETED DRAFT)", "* SEARCH 1 2 5");
	sfx_expect(fx, "OR OR DRAFT DELETED (ANSWERED UID 20)", "* SEARCH 2 3 4");
	sfx_expect(fx, "NOT (OR FROM alice BODY {8}\r\nm\xc3\xbcnchen)", "* SEARCH 3 4 5");
	sfx_expect(fx, "(((SEEN)) (NOT DELETED))", "* SEARCH 1");
	sfx_expect(fx, "OR SUBJECT greetings NOT OR TEXT \"hello\" LARGER 2500", "* SEARCH 2");
}

/* Cheap keys go first whatever their place: a message failing them is never opened. */
static void
test_cost_order(void **state)
{
	struct search_fx	*fx = *state;
	size_t		 i;

	sfx_expect(fx, "BODY world SUBJECT test SEEN", "* SEARCH 1");
	assert_int_equal(fx->opens[0], 1);	/* header and body, one open */
	assert_int_equal(fx->opens[1], 0);
	assert_int_equal(fx->opens[2], 1);	/* seen: opened, fails SUBJECT */
	assert_int_equal(fx->opens[3], 0);
	assert_int_equal(fx->opens[4], 0);
	memset(fx->opens, 0, sizeof(fx->opens));
	/* every kind of content key on every message: still one open each */
	sfx_expect(fx, "OR BODY zzz OR TEXT yyy OR SENTON 1-Jan-2024 OR FROM q HEADER x y",
	    "* SEARCH 1");
	for (i = 0; i < SFX_NMSG; i++)
		assert_int_equal(fx->opens[i], 1);
	memset(fx->opens, 0, sizeof(fx->opens));
	sfx_expect(fx, "OR UID 10 SUBJECT zzz", "* SEARCH 1");	/* OR stops at the first true */
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
	struct search_fx			*fx = *state;
	struct imap_search_run		*run;
	const char			*error;
	const struct imap_command	*c;

	/* expunged meanwhile: no content key matches, NOT of one does */
	fx->view.open = open_gone;
	sfx_expect(fx, "SUBJECT test", "* SEARCH");
	sfx_expect(fx, "NOT BODY world", "* SEARCH 1 2 3 4 5");
	sfx_expect(fx, "SENTON 1-Jan-2024 SEEN", "* SEARCH 1");	/* the internal date */
	fx->view.open = sfx_open;

	c = sfx_parse(fx, "a SEARCH CHARSET ISO-8859-1 SUBJECT x");
	assert_int_equal(imap_search_begin(&c->u.search, &fx->view, &run, &error), -1);
	assert_string_equal(IMAP_SEARCH_BADCHARSET, "[BADCHARSET (UTF-8 US-ASCII)]");
	assert_true(strncmp(error, IMAP_SEARCH_BADCHARSET " ", strlen(IMAP_SEARCH_BADCHARSET) + 1) == 0);
	assert_true(imap_search_charset_ok(NULL));
	assert_true(imap_search_charset_ok("us-ascii"));
	assert_false(imap_search_charset_ok("UTF-7"));
}

/* With the ENVELOPE, address, subject and sent-date keys open no file; HEADER still does. */
static void
test_envelope_opens_nothing(void **state)
{
	struct search_fx	*fx = *state;
	size_t		 i;

	sfx_expect(fx, "OR SUBJECT greet OR FROM alice OR TO heidi OR CC carol OR BCC frank "
	    "SENTON 5-Jan-2024", "* SEARCH 1 2 3 4 5");
	sfx_expect(fx, "FROM \"alice <alice@example.com>\"", "* SEARCH 1");	/* as Dovecot shows it */
	sfx_expect(fx, "TO \"bob <bob@\"", "* SEARCH 2");
	for (i = 0; i < SFX_NMSG; i++)
		assert_int_equal(fx->opens[i], 0);
	sfx_expect(fx, "HEADER X-Custom foo", "* SEARCH 3");
	for (i = 0; i < SFX_NMSG; i++)
		assert_int_equal(fx->opens[i], 1);
	/* a message the index has not parsed yet: its header is read */
	memset(fx->opens, 0, sizeof(fx->opens));
	fx->no_envelope[1] = true;
	sfx_expect(fx, "SUBJECT greet", "* SEARCH 2");
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
	struct search_fx	*fx = *state;
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
	sfx_expect(fx, "SUBJECT \"last field\"", "* SEARCH 1");
	sfx_expect(fx, "HEADER X-Filler-999 xyz", "* SEARCH 1");
	sfx_expect(fx, "BODY \"short body\"", "* SEARCH 1");
	sfx_expect(fx, "SUBJECT big BODY \"NEEDLE AT\"", "* SEARCH 2");
	sfx_expect(fx, "TEXT \"filler-500: abc\"", "* SEARCH 1");
	free(big[0]);
	free(big[1]);
}

/* ---- Over the real store: the wiring the session will use ---- */

/* Nothing to search: an empty file, a header alone, a binary body (fuzz_search found the last). */
static const char *const tiny[] = {
	"", "Subject: only a header\n\n", "Content-Type: application/octet-stream\n\nzz\n",
};

static int
open_tiny(void *ctx, size_t i, int *fd_r)
{
	int	 fd = memfd_create("tiny", 0);

	(void)ctx;
	assert_int_equal(write(fd, tiny[i], strlen(tiny[i])), (ssize_t)strlen(tiny[i]));
	*fd_r = fd;
	return 0;
}

static void
test_empty_messages(void **state)
{
	struct search_fx	*fx = *state;
	struct msg_info		 three[3] = { { 1, 0, 1, 0, 0 }, { 2, 0, 1, 1, 0 }, { 3, 0, 1, 1, 0 } };

	fx->view.msgs = three;
	fx->view.n = 3;
	fx->view.open = open_tiny;
	sfx_expect(fx, "BODY z", "* SEARCH");
	sfx_expect(fx, "TEXT zz", "* SEARCH");
	sfx_expect(fx, "TEXT header", "* SEARCH 2");
	sfx_expect(fx, "SUBJECT only", "* SEARCH 2");
	sfx_expect(fx, "BODY \"\"", "* SEARCH 1 2 3");
	sfx_expect(fx, "SENTON 1-Jan-1970", "* SEARCH 1 2 3");	/* no Date: the internal date, 0 */
}

#define T(t)	cmocka_unit_test_setup_teardown(t, sfx_setup, sfx_teardown)
#define TE(t)	cmocka_unit_test_setup_teardown(t, sfx_setup_envelope, sfx_teardown)

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
		T(test_big_messages),
		T(test_empty_messages),
		TE(test_sent_dates),
		TE(test_header_keys),
		TE(test_encoded_headers),
		TE(test_nested),
		TE(test_envelope_opens_nothing),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
