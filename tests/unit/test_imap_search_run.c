/*
 * imapd/imap_search_result.c and the search as the session will run it:
 * SEARCH / ESEARCH replies (a 100,000-message result streamed through a
 * small buffer), SORT and THREAD fed from the search's own reads, and the
 * search over the real store (mailbox_open_message, keywords and
 * ENVELOPEs from mailbox_fetch).
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include "tests/unit/search_fixture.h"

#include "imapd/imap_parser.h"
#include "imapd/imap_sort.h"
#include "imapd/imap_thread.h"
#include "lib/buf.h"
#include "mail/mime.h"
#include "store/store.h"
#include "tests/unit/store_fixture.h"

#include <stdlib.h>
#include <string.h>

static void
test_uid_reply(void **state)
{
	struct search_fx	*fx = *state;
	char		*got;

	got = sfx_run(fx, "a UID SEARCH OR SEEN DRAFT", true);
	assert_string_equal(got, "* SEARCH 10 30 40");
	free(got);
	got = sfx_run(fx, "a UID SEARCH MODSEQ 3 UNSEEN", true);
	assert_string_equal(got, "* SEARCH 20 50 (MODSEQ 12)");
	free(got);
}

/* ESEARCH over the fixture: the whole reply, written with room to spare. */
static char *
esearch(struct search_fx *fx, const char *cmdline, bool uid)
{
	const struct imap_command	*c = sfx_parse(fx, cmdline);
	struct imap_search_run		*run;
	const char			*error;
	struct buf			 out;
	size_t				 cursor = 0;
	char				*s;

	assert_true(c->u.search.esearch);
	assert_int_equal(imap_search_begin(&c->u.search, &fx->view, &run, &error), 0);
	assert_true(imap_search_more(run, 100));
	buf_init(&out, 1 << 16);
	assert_true(imap_esearch_write(&out, c->tag, imap_search_result(run), sfx_infos, uid,
	    c->u.search.ret, &cursor));
	imap_search_free(&run);
	s = buf_strdup(&out);
	buf_release(&out);
	return s;
}

static void
test_esearch(void **state)
{
	struct search_fx	*fx = *state;
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

/* 100,000 sfx_messages, every other one seen, then 100 in a row: streamed through a 200-byte buffer. */
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
	struct imap_sort_msg	 msgs[SFX_NMSG];
	size_t			 n;
};

static void
keep_keys(void *ctx, size_t i, const char *header, size_t len)
{
	struct search_fx	*fx = ctx;
	struct keyed	*k = fx->keyed;

	assert_non_null(header);
	imap_sort_msg_init(&k->msgs[k->n++], (uint32_t)i, &sfx_infos[i], header, len);
}

static void
test_sort_and_thread_pipeline(void **state)
{
	struct search_fx			*fx = *state;
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
	c = sfx_parse(fx, "s SORT (REVERSE SUBJECT) UTF-8 OR FROM example BODY x");
	assert_int_equal(imap_search_begin(&c->u.sort.search, &fx->view, &run, &error), 0);
	assert_true(imap_search_more(run, 100));
	for (i = 0; i < SFX_NMSG; i++)
		assert_int_equal(fx->opens[i], 1);	/* the keys came with the search's open */
	imap_sort(k.msgs, k.n, c->u.sort.criteria, c->u.sort.ncriteria);
	imap_sort_result(k.msgs, k.n, imap_search_result(run), &r);
	buf_init(&out, 1024);
	assert_true(imap_search_write(&out, "SORT", &r, sfx_infos, false, &cursor));
	/* all match (5 by its body "x"); base subjects descending, bytewise past ASCII:
	 * "中文 test" > "中文" (GB2312) > "Привет" > "greetings" > "Café crème" */
	assert_int_equal(buf_len(&out), strlen("* SORT 1 4 5 2 3\r\n"));
	assert_memory_equal(buf_head(&out), "* SORT 1 4 5 2 3\r\n", buf_len(&out));
	free(r.idx);
	buf_reset(&out);
	t = imap_thread_build(k.msgs, k.n, false);
	assert_int_equal(imap_thread_write(&out, t, sfx_infos, true), 0);
	/* ORDEREDSUBJECT, five subjects: by sent date (4 and 5 have none: internal date) */
	assert_int_equal(buf_len(&out), strlen("* THREAD (10)(20)(40)(50)(30)\r\n"));
	assert_memory_equal(buf_head(&out), "* THREAD (10)(20)(40)(50)(30)\r\n", buf_len(&out));
	imap_thread_free(&t);
	buf_release(&out);
	for (i = 0; i < k.n; i++)
		imap_sort_msg_free(&k.msgs[i]);
	imap_search_free(&run);
}

struct store_view {
	struct mailbox			*mb;
	const struct msg_fetch		*fetch;		/* sfx_keywords, by index */
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
	struct search_fx			 fx = { 0 };
	struct store_view		 sv = { 0 };
	const struct msg_info		*msgs;
	const struct imap_command	*c;
	struct imap_search_run		*run;
	const char			*error;
	struct buf			 out;
	size_t				 i, n, nf, cursor = 0;
	uint32_t			 uid;

	for (i = 0; i < SFX_NMSG; i++)
		assert_int_equal(fx_deliver(sfx->st, sfx->maildir, sfx_messages[i]), 0);
	sv.mb = fx_open(sfx, "INBOX", 0);
	assert_int_equal(mailbox_messages(sv.mb, &msgs, &n, &error), 0);
	assert_int_equal(n, SFX_NMSG);
	uid = msgs[3].uid;
	assert_int_equal(mailbox_store_flags(sv.mb, &uid, 1, FLAGS_ADD, MSG_SEEN, "Work", &error), 0);
	assert_int_equal(mailbox_messages(sv.mb, &msgs, &n, &error), 0);
	assert_int_equal(mailbox_fetch(sv.mb, 1, UINT32_MAX, &sv.fetch, &nf, &error), 0);
	assert_int_equal(nf, n);
	fx.parser = imap_parser_new(&sfx_settings);
	fx.view.msgs = msgs;
	fx.view.n = n;
	fx.view.ctx = &sv;
	fx.view.keywords = store_keywords;
	fx.view.open = sv_open;

	c = sfx_parse(&fx, "a UID SEARCH CHARSET UTF-8 OR KEYWORD work SUBJECT {6}\r\n"
	    "\xe4\xb8\xad\xe6\x96\x87");
	assert_int_equal(imap_search_begin(&c->u.search, &fx.view, &run, &error), 0);
	assert_true(imap_search_more(run, 1000));
	assert_int_equal(imap_search_result(run)->n, 2);	/* 1 by subject, 4 by both */
	assert_int_equal(imap_search_result(run)->idx[0], 0);
	assert_int_equal(imap_search_result(run)->idx[1], 3);
	assert_int_equal(sv.opens, SFX_NMSG - 1);	/* 4 matched on its keyword, unopened */
	assert_int_equal(imap_search_opened(run), SFX_NMSG - 1);
	imap_search_free(&run);

	/* the same with the index's ENVELOPEs: no file opened at all */
	sv.opens = 0;
	fx.view.envelope = store_envelope;
	c = sfx_parse(&fx, "a UID SEARCH CHARSET UTF-8 OR KEYWORD work SUBJECT {6}\r\n"
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
	c = sfx_parse(&fx, "b SEARCH SEEN BODY {8}\r\nm\xc3\xbcnchen");	/* only 4 is seen: one open */
	assert_int_equal(imap_search_begin(&c->u.search, &fx.view, &run, &error), 0);
	assert_true(imap_search_more(run, 1000));
	assert_int_equal(imap_search_result(run)->n, 0);
	assert_int_equal(sv.opens, 1);
	imap_search_free(&run);
	imap_parser_free(&fx.parser);
	mailbox_close(&sv.mb);
}



#define T(t)	cmocka_unit_test_setup_teardown(t, sfx_setup, sfx_teardown)
#define TE(t)	cmocka_unit_test_setup_teardown(t, sfx_setup_envelope, sfx_teardown)

int
main(void)
{
	const struct CMUnitTest	 tests[] = {
		T(test_uid_reply),
		T(test_sort_and_thread_pipeline),
		T(test_esearch),
		cmocka_unit_test(test_large_result_streamed),
		STORE_FX_TEST(test_over_the_store),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
