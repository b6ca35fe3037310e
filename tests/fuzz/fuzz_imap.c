/*
 * imapd's command parser (imapd/imap_parser.h) under random bytes in random
 * read sizes, fed through lib/linebuf exactly as the session will.  Byte 0
 * picks small or default limits, whether APPENDs are refused (as for a
 * missing mailbox) and the read-size seed; the rest is the client's input.
 * Checks: an error always names a tag and a reason, a parsed command's
 * every string and list is readable (ASan sees any stray pointer),
 * sequence sets are sorted and disjoint, the APPEND consumer got exactly
 * the announced size, and nothing is fed after a closing error.
 */
#include "tests/fuzz/fuzzer.h"
#include "imapd/imap_parser.h"
#include "lib/linebuf.h"
#include "lib/settings.h"

#include <stdlib.h>
#include <string.h>

#define CHECK(x)	do { if (!(x)) abort(); } while (0)

struct drv {
	struct imap_parser	*p;
	struct linebuf		*lb;
	uint64_t		 streamed;	/* bytes the APPEND consumer got */
	bool			 refuse;	/* APPENDs are turned down */
	bool			 closed;
};

static void
touch_strings(const struct imap_strings *s)
{
	for (unsigned i = 0; i < s->n; i++)
		CHECK(s->v[i] == NULL || strlen(s->v[i]) < (1 << 20));
}

static void
check_set(const struct imap_seqset *set)
{
	for (unsigned i = 0; i < set->nranges; i++) {
		CHECK(set->ranges[i].lo >= 1 && set->ranges[i].lo <= set->ranges[i].hi);
		CHECK(i == 0 || set->ranges[i].lo > set->ranges[i - 1].hi + 1);
	}
	CHECK(!set->anchored || (set->star && set->star_lo <= set->star_hi));
}

static void
check_key(const struct imap_search_key *k)
{
	for (; k != NULL; k = k->next) {
		if (k->str != NULL)
			CHECK(strlen(k->str) < (1 << 20));
		if (k->str2 != NULL)
			CHECK(strlen(k->str2) < (1 << 20));
		if (k->type == IMAP_SK_UID || k->type == IMAP_SK_SEQSET)
			check_set(&k->set);
		check_key(k->child);
	}
}

static void
check_command(struct drv *d, const struct imap_command *c)
{
	CHECK(c->def != NULL && c->tag != NULL && c->tag[0] != '\0');
	switch (c->def->id) {
	case IMAP_CMD_FETCH:
		check_set(&c->u.fetch.set);
		for (unsigned i = 0; i < c->u.fetch.natts; i++)
			touch_strings(&c->u.fetch.atts[i].section.fields);
		break;
	case IMAP_CMD_STORE:
		check_set(&c->u.store.set);
		touch_strings(&c->u.store.flags);
		break;
	case IMAP_CMD_COPY: case IMAP_CMD_MOVE:
		check_set(&c->u.copy.set);
		CHECK(strlen(c->u.copy.mailbox) < (1 << 20));
		break;
	case IMAP_CMD_SEARCH:
		check_key(c->u.search.key);
		break;
	case IMAP_CMD_SORT:
		check_key(c->u.sort.search.key);
		break;
	case IMAP_CMD_THREAD:
		check_key(c->u.thread.search.key);
		break;
	case IMAP_CMD_APPEND:
		touch_strings(&c->u.append.flags);
		CHECK(d->streamed == c->u.append.size);
		break;
	case IMAP_CMD_LIST: case IMAP_CMD_LSUB:
		touch_strings(&c->u.list.patterns);
		break;
	case IMAP_CMD_ENABLE:
		touch_strings(&c->u.enable);
		break;
	default:
		break;
	}
}

static void
consume(void *ctx, const char *data, size_t len)
{
	struct drv	*d = ctx;

	d->streamed += len;
}

static void
event(struct drv *d, enum imap_parse st)
{
	const struct imap_parse_error	*e;

	switch (st) {
	case IMAP_PARSE_MORE: case IMAP_PARSE_CONTINUE:
		break;
	case IMAP_PARSE_STREAM:
		d->streamed = 0;
		if (d->refuse)
			imap_parser_stream_refuse(d->p);
		else
			event(d, imap_parser_stream(d->p, consume, d));
		break;
	case IMAP_PARSE_COMMAND:
		check_command(d, imap_parser_command(d->p));
		break;
	case IMAP_PARSE_ERROR:
		e = imap_parser_error(d->p);
		CHECK(e->tag != NULL && e->status != NULL && e->text != NULL && e->text[0] != '\0');
		d->closed = e->close;
		break;
	}
}

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
			if ((len = linebuf_take(d->lb, left < SIZE_MAX ? (size_t)left : SIZE_MAX,
			    &data)) == 0)
				return;
			for (; len > 0; data += used, len -= used) {
				event(d, imap_parser_literal(d->p, data, len, &used));
				CHECK(used > 0 && used <= len);
			}
			continue;
		}
		if ((st = linebuf_next(d->lb, &line, &len)) == LINE_MORE)
			return;
		if (st == LINE_TOO_LONG)
			event(d, imap_parser_line_too_long(d->p));
		else if (st != LINE_NUL)
			event(d, imap_parser_line(d->p, line, len));
	}
}

FUZZ_BEGIN(data, size)
{
	static const struct imapd_settings	 big = { 1 << 20, 35 << 20, 64, 10000 };
	static const struct imapd_settings	 small = { 256, 100, 4, 32 };
	struct drv				 d = { 0 };
	size_t					 n;

	if (size < 1)
		return 0;
	d.p = imap_parser_new(data[0] & 1 ? &small : &big);
	d.lb = linebuf_new(data[0] & 2 ? 128 : 8192);
	d.refuse = (data[0] & 4) != 0;
	FUZZ_CHUNK(data + 1, size - 1, data[0] >> 3, chunk, chunk_len) {
		for (size_t off = 0; off < chunk_len && !d.closed; off += n) {
			n = linebuf_feed(d.lb, chunk + off, chunk_len - off);
			drain(&d);
		}
	}
	linebuf_free(&d.lb);
	imap_parser_free(&d.p);
}
FUZZ_END
