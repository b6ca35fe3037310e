/*
 * SEARCH and ESEARCH replies, written in slices so that a result of any
 * size streams through a bounded output buffer.  The cursor is 0 before
 * the head is written, then 1 + the index of the next member to write.
 */
#include "imapd/imap_search_eval.h"

#include "lib/buf.h"
#include "store/store.h"

#include <inttypes.h>
#include <string.h>

/* Room for one more member or range ("4294967295:4294967295,") or the tail. */
#define ROOM		64
/* The ESEARCH head but its tag: " (TAG \"\") UID MIN n MAX n COUNT n MODSEQ n ALL ". */
#define HEAD_ROOM	128

static uint32_t
number(const struct imap_search_result *r, const struct msg_info *msgs, bool uid, size_t i)
{
	return uid ? msgs[r->idx[i]].uid : r->idx[i] + 1;
}

bool
imap_search_write(struct buf *out, const char *name, const struct imap_search_result *r,
    const struct msg_info *msgs, bool uid, size_t *cursor)
{
	size_t	 i;

	if (*cursor == 0) {
		if (buf_room(out) < ROOM + strlen(name))
			return false;
		buf_printf(out, "* %s", name);
		*cursor = 1;
	}
	for (i = *cursor - 1; i < r->n; i++) {
		if (buf_room(out) < ROOM) {
			*cursor = i + 1;
			return false;
		}
		buf_printf(out, " %" PRIu32, number(r, msgs, uid, i));
	}
	*cursor = i + 1;
	if (buf_room(out) < ROOM)
		return false;
	if (r->has_modseq && r->n > 0)
		buf_printf(out, " (MODSEQ %" PRIu64 ")", r->highest_modseq);
	buf_puts(out, "\r\n");
	return true;
}

/* The ESEARCH head: everything before ALL's set. */
static void
esearch_head(struct buf *out, const char *tag, const struct imap_search_result *r,
    const struct msg_info *msgs, bool uid, unsigned ret)
{
	buf_puts(out, "* ESEARCH");
	if (tag != NULL)
		buf_printf(out, " (TAG \"%s\")", tag);
	if (uid)
		buf_puts(out, " UID");
	if ((ret & IMAP_SEARCH_RETURN_MIN) && r->n > 0)
		buf_printf(out, " MIN %" PRIu32, number(r, msgs, uid, 0));
	if ((ret & IMAP_SEARCH_RETURN_MAX) && r->n > 0)
		buf_printf(out, " MAX %" PRIu32, number(r, msgs, uid, r->n - 1));
	if (ret & IMAP_SEARCH_RETURN_COUNT)
		buf_printf(out, " COUNT %zu", r->n);
	if (r->has_modseq && r->n > 0)
		buf_printf(out, " MODSEQ %" PRIu64, r->highest_modseq);
	if ((ret & IMAP_SEARCH_RETURN_ALL) && r->n > 0)
		buf_puts(out, " ALL ");
}

bool
imap_esearch_write(struct buf *out, const char *tag, const struct imap_search_result *r,
    const struct msg_info *msgs, bool uid, unsigned ret, size_t *cursor)
{
	uint32_t	 lo, hi;
	size_t		 i;

	if (*cursor == 0) {
		/* a tag is an atom: bounded by the line limit, not by ROOM */
		if (buf_room(out) < HEAD_ROOM + (tag != NULL ? strlen(tag) : 0))
			return false;
		esearch_head(out, tag, r, msgs, uid, ret);
		*cursor = 1;
	}
	i = *cursor - 1;
	while ((ret & IMAP_SEARCH_RETURN_ALL) && i < r->n) {
		if (buf_room(out) < ROOM) {
			*cursor = i + 1;
			return false;
		}
		if (i > 0)
			buf_puts(out, ",");
		lo = hi = number(r, msgs, uid, i++);
		while (i < r->n && number(r, msgs, uid, i) == hi + 1)
			hi = number(r, msgs, uid, i++);
		if (lo == hi)
			buf_printf(out, "%" PRIu32, lo);
		else
			buf_printf(out, "%" PRIu32 ":%" PRIu32, lo, hi);
	}
	*cursor = i + 1;
	if (buf_room(out) < 2)
		return false;
	buf_puts(out, "\r\n");
	return true;
}
