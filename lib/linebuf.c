/*
 * The bounded line reader (STYLE.md sketch A).  Input is kept in one
 * struct buf whose hard maximum is the line limit, so a peer can never
 * make us hold more than `max` bytes.  What the previous call handed out
 * is dropped only at the start of the next call, which is what keeps the
 * returned pointer valid until then.
 */
#include "lib/linebuf.h"
#include "lib/buf.h"
#include "lib/xmalloc.h"

#include <stdlib.h>
#include <string.h>

struct linebuf {
	struct buf	 in;		/* max == the line limit */
	size_t		 consumed;	/* handed out by the previous call */
	size_t		 scanned;	/* leading bytes known to hold no LF */
	bool		 skipping;	/* discarding the rest of an over-long line */
};

struct linebuf *
linebuf_new(size_t max)
{
	struct linebuf	*lb;

	lb = xcalloc(1, sizeof(*lb));
	/* A line needs at least its LF; max 0 would never make progress. */
	buf_init(&lb->in, max == 0 ? 1 : max);
	return lb;
}

void
linebuf_free(struct linebuf **lb)
{
	if (*lb == NULL)
		return;
	buf_release(&(*lb)->in);
	free(*lb);
	*lb = NULL;
}

/* Drop what the previous call handed out. */
static void
linebuf_settle(struct linebuf *lb)
{
	if (lb->consumed == 0)
		return;
	buf_consume(&lb->in, lb->consumed);
	lb->consumed = 0;
	lb->scanned = 0;
}

size_t
linebuf_feed(struct linebuf *lb, const void *data, size_t len)
{
	const char	*p = data, *lf;
	size_t		 skipped = 0, n;

	linebuf_settle(lb);
	if (lb->skipping && buf_len(&lb->in) == 0) {
		/*
		 * The rest of an over-long line is never stored; keep its LF
		 * so that linebuf_next() reports LINE_TOO_LONG in order.
		 */
		lf = memchr(p, '\n', len);
		skipped = lf == NULL ? len : (size_t)(lf - p);
		p += skipped;
		len -= skipped;
	}
	n = len < buf_room(&lb->in) ? len : buf_room(&lb->in);
	if (n > 0 && buf_append(&lb->in, p, n) == -1)
		abort();	/* n <= room: cannot happen */
	return skipped + n;
}

size_t
linebuf_feed_line(struct linebuf *lb, const void *data, size_t len)
{
	const char	*lf = memchr(data, '\n', len);

	return linebuf_feed(lb, data, lf != NULL ? (size_t)(lf - (const char *)data) + 1 : len);
}

static void
linebuf_no_line(char **line_r, size_t *len_r)
{
	*line_r = NULL;
	*len_r = 0;
}

enum line_status
linebuf_next(struct linebuf *lb, char **line_r, size_t *len_r)
{
	char	*data, *lf;
	size_t	 len, n;

	linebuf_settle(lb);
	linebuf_no_line(line_r, len_r);
	data = (char *)buf_head(&lb->in);	/* our own storage */
	len = buf_len(&lb->in);
	lf = len > lb->scanned ?
	    memchr(data + lb->scanned, '\n', len - lb->scanned) : NULL;
	if (lf == NULL) {
		lb->scanned = len;
		if (len >= lb->in.max) {
			/* Keep no part of it; answer when its LF arrives. */
			lb->skipping = true;
			buf_reset(&lb->in);
			lb->scanned = 0;
		}
		return LINE_MORE;
	}
	n = (size_t)(lf - data);
	lb->consumed = n + 1;
	if (lb->skipping) {
		lb->skipping = false;
		return LINE_TOO_LONG;
	}
	if (memchr(data, '\0', n) != NULL)
		return LINE_NUL;
	*line_r = data;
	if (n == 0 || data[n - 1] != '\r') {
		data[n] = '\0';
		*len_r = n;
		return LINE_BARE_LF;	/* the protocol decides: reject or log */
	}
	data[n - 1] = '\0';
	*len_r = n - 1;
	return LINE_OK;
}

size_t
linebuf_take(struct linebuf *lb, size_t want, const char **data_r)
{
	size_t	 n;

	linebuf_settle(lb);
	n = buf_len(&lb->in);
	if (want < n)
		n = want;
	*data_r = buf_head(&lb->in);
	lb->consumed = n;
	return n;
}

size_t
linebuf_pending(const struct linebuf *lb)
{
	return buf_len(&lb->in) - lb->consumed;
}

void
linebuf_discard(struct linebuf *lb)
{
	buf_reset(&lb->in);
	lb->consumed = 0;
	lb->scanned = 0;
	lb->skipping = false;
}
