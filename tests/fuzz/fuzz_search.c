/*
 * SEARCH, SORT and THREAD over hostile messages (imapd/imap_search_eval.h,
 * imap_sort.h, imap_thread.h).  The input is up to 8 messages separated by
 * "\n\x01\n"; the first line of the first one is also the search string.
 * Every message is searched (header, body, text, sent date keys: RFC 2047,
 * base64, QP, charsets, folding, date parsing all run on fuzz bytes; every
 * other message has its ENVELOPE as the index would, so both the envelope
 * reader and the header path run), the
 * matches' keys go to SORT and to both THREAD algorithms.  Checks: a
 * thread reply names every match exactly once, a SORT reply is a
 * permutation of the matches, base subjects are no longer than their
 * input allows.  Messages are served from memfds, as files would be.
 */
#include "tests/fuzz/fuzzer.h"
#include "imapd/imap_search_eval.h"
#include "imapd/imap_sort.h"
#include "imapd/imap_thread.h"
#include "lib/buf.h"
#include "mail/mime.h"
#include "store/store.h"

#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#define CHECK(x)	do { if (!(x)) abort(); } while (0)
#define MAXMSG		8

struct ctx {
	const uint8_t		*msg[MAXMSG];
	size_t			 len[MAXMSG];
	struct msg_info		 info[MAXMSG];
	struct imap_sort_msg	 keys[MAXMSG];
	size_t			 nkeys;
	struct mime_message	*parsed[MAXMSG];	/* ENVELOPEs for every other message */
};

static const char *
envelope(void *c, size_t i)
{
	struct ctx	*ctx = c;

	return ctx->parsed[i] != NULL ? ctx->parsed[i]->envelope : "";
}

static int
open_msg(void *c, size_t i, int *fd_r)
{
	struct ctx	*ctx = c;
	int		 fd = memfd_create("fuzz", 0);

	if (fd == -1)
		return -1;
	if (ctx->len[i] > 0 && write(fd, ctx->msg[i], ctx->len[i]) != (ssize_t)ctx->len[i]) {
		close(fd);
		return -1;
	}
	*fd_r = fd;
	return 0;
}

static void
matched(void *c, size_t i, const char *header, size_t len)
{
	struct ctx	*ctx = c;

	imap_sort_msg_init(&ctx->keys[ctx->nkeys++], (uint32_t)i, &ctx->info[i], header, len);
}

/* How many times each sequence number appears in a "* THREAD" or "* SORT" reply. */
static void
count_numbers(const struct buf *b, unsigned *seen)
{
	const char	*p = buf_head(b), *end = p + buf_len(b);
	unsigned long	 n;

	while (p < end) {
		if (*p < '0' || *p > '9') {
			p++;
			continue;
		}
		for (n = 0; p < end && *p >= '0' && *p <= '9'; p++)
			n = n * 10 + (unsigned long)(*p - '0');
		CHECK(n >= 1 && n <= MAXMSG);
		seen[n - 1]++;
	}
}

static void
check_reply(const struct buf *b, const struct imap_search_result *r)
{
	unsigned	 seen[MAXMSG] = { 0 };
	size_t		 i;

	count_numbers(b, seen);
	for (i = 0; i < r->n; i++) {
		CHECK(seen[r->idx[i]] == 1);
		seen[r->idx[i]] = 0;
	}
	for (i = 0; i < MAXMSG; i++)
		CHECK(seen[i] == 0);
}

FUZZ_BEGIN(data, size)
{
	struct ctx			 ctx = { 0 };
	struct imap_search_view		 view = { 0 };
	struct imap_search_key		 top = { 0 }, or1 = { 0 }, or2 = { 0 }, or3 = { 0 };
	struct imap_search_key		 text = { 0 }, from = { 0 }, k[4];
	struct imap_search		 search = { 0 };
	struct imap_search_run		*run;
	const struct imap_search_result	*r;
	struct imap_search_result	 sorted;
	struct imap_sort_criterion	 crit[3] = {
		{ IMAP_SORT_SUBJECT, false }, { IMAP_SORT_DATE, true }, { IMAP_SORT_FROM, false },
	};
	struct imap_thread		*t;
	struct buf			 out;
	const uint8_t			*p = data, *end = data + size, *sep;
	const char			*error;
	char				*needle, *base;
	size_t				 n = 0, i, cursor = 0;
	bool				 refwd;
	int				 algo;

	while (n < MAXMSG && p <= end) {
		sep = memmem(p, (size_t)(end - p), "\n\x01\n", 3);
		ctx.msg[n] = p;
		ctx.len[n] = sep != NULL ? (size_t)(sep - p) : (size_t)(end - p);
		ctx.info[n].uid = (uint32_t)n + 1;
		ctx.info[n].internal_date = (time_t)n * 86400;
		if (n % 2 == 0)		/* the index has it; odd ones read the header */
			ctx.parsed[n] = mime_parse((const char *)ctx.msg[n], ctx.len[n]);
		n++;
		if (sep == NULL)
			break;
		p = sep + 3;
	}
	sep = memchr(data, '\n', size);
	needle = strndup((const char *)data, sep != NULL ? (size_t)(sep - data) : size > 16 ? 16 : size);
	base = imap_base_subject((const char *)data, size, &refwd);
	CHECK(strlen(base) <= 4 * size + 16);
	free(base);

	/* NOT SENTBEFORE 1-Jan-1990 OR BODY s OR SUBJECT s OR TEXT s FROM s */
	memset(k, 0, sizeof(k));
	top.type = IMAP_SK_AND;
	top.child = &k[0];
	k[0].type = IMAP_SK_NOT;
	k[0].child = &k[1];
	k[1].type = IMAP_SK_SENTBEFORE;
	k[1].date = 631152000;
	k[0].next = &or1;
	or1.type = IMAP_SK_OR;
	or1.child = &k[2];
	k[2].type = IMAP_SK_BODY;
	k[2].str = needle;
	k[2].next = &or2;
	or2.type = IMAP_SK_OR;
	or2.child = &k[3];
	k[3].type = IMAP_SK_SUBJECT;
	k[3].str = needle;
	k[3].next = &or3;
	or3.type = IMAP_SK_OR;
	or3.child = &text;
	text.type = IMAP_SK_TEXT;
	text.str = needle;
	text.next = &from;
	from.type = IMAP_SK_FROM;
	from.str = needle;
	search.key = &top;
	view.msgs = ctx.info;
	view.n = n;
	view.ctx = &ctx;
	view.open = open_msg;
	view.envelope = envelope;
	view.matched = matched;
	view.header_for_matches = true;
	CHECK(imap_search_begin(&search, &view, &run, &error) == 0);
	while (!imap_search_more(run, 3))
		;
	r = imap_search_result(run);
	CHECK(r->n == ctx.nkeys && r->n <= n);

	imap_sort(ctx.keys, ctx.nkeys, crit, 3);
	imap_sort_result(ctx.keys, ctx.nkeys, r, &sorted);
	buf_init(&out, 1 << 16);
	CHECK(imap_search_write(&out, "SORT", &sorted, ctx.info, false, &cursor));
	check_reply(&out, r);
	free(sorted.idx);
	for (algo = 0; algo < 2; algo++) {
		buf_reset(&out);
		t = imap_thread_build(ctx.keys, ctx.nkeys, algo == 0);
		CHECK(imap_thread_write(&out, t, ctx.info, false) == 0);
		check_reply(&out, r);
		imap_thread_free(&t);
	}
	buf_release(&out);
	for (i = 0; i < ctx.nkeys; i++)
		imap_sort_msg_free(&ctx.keys[i]);
	imap_search_free(&run);
	for (i = 0; i < n; i++)
		mime_message_free(&ctx.parsed[i]);
	free(needle);
}
FUZZ_END
