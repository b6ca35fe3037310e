/*
 * imapd/imap_sort.c: RFC 5256 base subjects (section 2.1, every step),
 * sent dates (2.2), the keys read from a header, and SORT orders with
 * REVERSE and ties; the reply through imap_search_write(... "SORT" ...).
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include "imapd/imap_search_eval.h"
#include "imapd/imap_sort.h"
#include "lib/buf.h"
#include "store/store.h"

#include <stdlib.h>
#include <string.h>

static void
test_base_subject(void **state)
{
	static const struct { const char *raw, *base; bool refwd; } v[] = {
		{ "", "", false },
		{ "Hello", "Hello", false },
		{ "Re: Hello", "Hello", true },
		{ "RE: re: Re:Hello", "Hello", true },
		{ "Fwd: Hello", "Hello", true },
		{ "Fw: Hello", "Hello", true },
		{ "Re [2]: Hello", "Hello", true },		/* subj-refwd with a blob */
		{ "[PATCH] Re: Hello", "Hello", true },		/* blobs before subj-refwd */
		{ "[list] Hello", "Hello", false },		/* (4): a blob leader alone */
		{ "[list] [x] Re: Hello", "Hello", true },	/* (5): (3) and (4) again */
		{ "[only a blob]", "[only a blob]", false },	/* (4): would leave nothing */
		{ "Hello (fwd)", "Hello", true },		/* (2) */
		{ "Hello (FWD) (fwd)  ", "Hello", true },
		{ "[Fwd: Re: Hello]", "Hello", true },		/* (6), then (3) again */
		{ "[fwd: Hello (fwd)]", "Hello", true },	/* (6), then (2) again */
		{ "  Hello \t  World  ", "Hello World", false },	/* (1): white space */
		{ "Hello\r\n World", "Hello World", false },	/* (1): unfolded */
		{ "Reply to this", "Reply to this", false },	/* "re" without ":" */
		{ "Re: =?UTF-8?B?5Lit5paH?=", "\xe4\xb8\xad\xe6\x96\x87", true },	/* (1): RFC 2047 */
		{ "=?UTF-8?Q?Re=3A_caf=C3=A9?=", "caf\xc3\xa9", true },	/* decoded before (3) */
	};
	char	*s;
	bool	 refwd;
	size_t	 i;

	(void)state;
	for (i = 0; i < sizeof(v) / sizeof(v[0]); i++) {
		s = imap_base_subject(v[i].raw, strlen(v[i].raw), &refwd);
		if (strcmp(s, v[i].base) != 0 || refwd != v[i].refwd)
			fail_msg("\"%s\": got \"%s\" %d, want \"%s\" %d", v[i].raw, s, refwd,
			    v[i].base, v[i].refwd);
		free(s);
	}
}

static void
test_keys_from_header(void **state)
{
	static const char	 h[] =
	    "From: \"Zed\" <Zed.Person@example.com>\n"
	    "To: undisclosed-recipients:;, Amy <amy@example.org>, bob@example.org\n"
	    "Subject: Re: [list] Meeting\n"
	    "Date: Tue, 2 Jan 2024 10:00:00 +0100\n"
	    "Message-ID: <m1@example.com>\n"
	    "In-Reply-To: <m0@example.com>\n"
	    "References: <a@x> <m0@example.com>\n"
	    "\n";
	struct msg_info		 mi = { 7, 0, 1, 1234, 1000 };
	struct imap_sort_msg	 m;

	(void)state;
	imap_sort_msg_init(&m, 3, &mi, h, sizeof(h) - 1);
	assert_int_equal(m.idx, 3);
	assert_int_equal(m.size, 1234);
	assert_int_equal(m.arrival, 1000);
	assert_int_equal(m.date, 1704186000);		/* 09:00 UTC */
	assert_string_equal(m.subject, "Meeting");
	assert_true(m.refwd);
	assert_string_equal(m.from, "Zed.Person");	/* addr-mailbox */
	assert_string_equal(m.to, "amy");		/* the group gives no address */
	assert_string_equal(m.cc, "");
	assert_string_equal(m.message_id, "<m1@example.com>");
	assert_string_equal(m.references, "<a@x> <m0@example.com>");
	assert_string_equal(m.in_reply_to, "<m0@example.com>");
	imap_sort_msg_free(&m);

	/* no header, or a Date: that does not parse: the internal date */
	imap_sort_msg_init(&m, 0, &mi, "Date: someday\n\n", 15);
	assert_int_equal(m.date, 1000);
	assert_string_equal(m.subject, "");
	imap_sort_msg_free(&m);
	imap_sort_msg_init(&m, 0, &mi, NULL, 0);
	assert_int_equal(m.date, 1000);
	assert_string_equal(m.from, "");
	imap_sort_msg_free(&m);
	assert_false(imap_sort_needs_header((struct imap_sort_criterion[]){
	    { IMAP_SORT_SIZE, false }, { IMAP_SORT_ARRIVAL, true } }, 2));
	assert_true(imap_sort_needs_header((struct imap_sort_criterion[]){
	    { IMAP_SORT_SIZE, false }, { IMAP_SORT_CC, false } }, 2));
}

/* Five messages; sequence numbers 1..5. */
static const char *const headers[] = {
	"Subject: beta\nFrom: carol@x\nTo: zoe@x\nDate: 1 Jan 2024 10:00 +0000\n\n",
	"Subject: Re: alpha\nFrom: Bob@x\nTo: amy@x\nCc: k@x\nDate: 3 Jan 2024 10:00 +0000\n\n",
	"Subject: gamma\nFrom: alice@x\nTo: amy@x\nDate: 2 Jan 2024 10:00 +0000\n\n",
	"Subject: [fwd: Beta]\nFrom: bob@x\nCc: a@x\nDate: 2 Jan 2024 09:00 +0000\n\n",
	"Subject: Gamma (fwd)\nFrom: dave@x\nTo: Amy@x\nDate: 1 Jan 2024 23:00 -0500\n\n",
};
static const struct msg_info infos[] = {
	{ 11, 0, 1, 300, 50 }, { 12, 0, 2, 100, 40 }, { 13, 0, 3, 200, 30 },
	{ 14, 0, 4, 100, 20 }, { 15, 0, 9, 500, 10 },
};
#define N	5

/* Sort all five by the criteria; the "* SORT ..." reply without CRLF. */
static char *
sort(const struct imap_sort_criterion *c, unsigned nc, bool uid)
{
	struct imap_sort_msg		 msgs[N];
	struct imap_search_result	 search = { 0 }, r;
	struct buf			 out;
	size_t				 i, cursor = 0;
	char				*s;

	for (i = 0; i < N; i++)
		imap_sort_msg_init(&msgs[i], (uint32_t)i, &infos[i], headers[i], strlen(headers[i]));
	imap_sort(msgs, N, c, nc);
	imap_sort_result(msgs, N, &search, &r);
	buf_init(&out, 4096);
	assert_true(imap_search_write(&out, "SORT", &r, infos, uid, &cursor));
	for (i = 0; i < N; i++)
		imap_sort_msg_free(&msgs[i]);
	free(r.idx);
	s = buf_strdup(&out);
	buf_release(&out);
	s[strlen(s) - 2] = '\0';
	return s;
}

#define C(...)	(const struct imap_sort_criterion[]){ __VA_ARGS__ }, \
	sizeof((const struct imap_sort_criterion[]){ __VA_ARGS__ }) / sizeof(struct imap_sort_criterion)

static void
expect(const struct imap_sort_criterion *c, unsigned nc, bool uid, const char *want)
{
	char	*got = sort(c, nc, uid);

	if (strcmp(got, want) != 0)
		fail_msg("got \"%s\", want \"%s\"", got, want);
	free(got);
}

static void
test_sort_orders(void **state)
{
	(void)state;
	expect(C({ IMAP_SORT_ARRIVAL, false }), false, "* SORT 5 4 3 2 1");
	expect(C({ IMAP_SORT_ARRIVAL, true }), false, "* SORT 1 2 3 4 5");
	/* base subjects: beta, alpha, gamma, Beta, Gamma: case-insensitive, ties by number */
	expect(C({ IMAP_SORT_SUBJECT, false }), false, "* SORT 2 1 4 3 5");
	expect(C({ IMAP_SORT_SUBJECT, true }), false, "* SORT 3 5 1 4 2");
	/* RFC 5256's SORT (SUBJECT REVERSE DATE): within a subject, newest first */
	expect(C({ IMAP_SORT_SUBJECT, false }, { IMAP_SORT_DATE, true }), false,
	    "* SORT 2 4 1 3 5");
	/* sent dates in UTC: 1 (1 Jan 10:00), 4 (2 Jan 09:00), 5 (2 Jan 04:00), 3, 2 */
	expect(C({ IMAP_SORT_DATE, false }), false, "* SORT 1 5 4 3 2");
	expect(C({ IMAP_SORT_SIZE, false }), false, "* SORT 2 4 3 1 5");	/* tie 2, 4 */
	expect(C({ IMAP_SORT_SIZE, true }), false, "* SORT 5 1 3 2 4");	/* tie not reversed */
	expect(C({ IMAP_SORT_FROM, false }), false, "* SORT 3 2 4 1 5");
	/* TO: amy (2, 3, 5), "" (4) first, zoe (1) */
	expect(C({ IMAP_SORT_TO, false }), false, "* SORT 4 2 3 5 1");
	expect(C({ IMAP_SORT_CC, false }), false, "* SORT 1 3 5 4 2");
	expect(C({ IMAP_SORT_TO, false }, { IMAP_SORT_SIZE, true }), true, "* SORT 14 15 13 12 11");
	expect(C({ IMAP_SORT_FROM, true }, { IMAP_SORT_ARRIVAL, false }), false,
	    "* SORT 5 1 4 2 3");
}

int
main(void)
{
	const struct CMUnitTest	 tests[] = {
		cmocka_unit_test(test_base_subject),
		cmocka_unit_test(test_keys_from_header),
		cmocka_unit_test(test_sort_orders),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
