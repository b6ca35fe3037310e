/*
 * The one growable byte buffer.  Two rules keep it safe against peers:
 * len never exceeds max (checked before any allocation), and every size
 * sum is checked for overflow.  Storage grows geometrically (so a reader
 * appending small chunks costs O(n) copies overall) but is clamped to max,
 * plus one byte that buf_vprintf needs for vsnprintf's NUL.
 */
#include "lib/buf.h"
#include "lib/xmalloc.h"

#include <assert.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define BUF_MIN_CAP	64

struct buf *
buf_new(size_t max)
{
	struct buf	*b;

	b = xmalloc(sizeof(*b));
	buf_init(b, max);
	return b;
}

void
buf_free(struct buf **b)
{
	if (*b == NULL)
		return;
	buf_release(*b);
	free(*b);
	*b = NULL;
}

void
buf_init(struct buf *b, size_t max)
{
	b->data = NULL;
	b->off = b->len = b->cap = 0;
	b->max = max;
}

void
buf_release(struct buf *b)
{
	free(b->data);
	b->data = NULL;
	b->off = b->len = b->cap = 0;
}

/* True if n more bytes would keep len within max (n itself may be huge). */
static bool
buf_fits(const struct buf *b, size_t n)
{
	return n <= b->max - b->len;
}

/*
 * Make room for `need` bytes after the data (need may exceed what max
 * allows by the one NUL byte vsnprintf writes; callers check max first).
 * Compaction is lazy: data is moved to the front only when the tail is too
 * short, and growth happens only when moving would not be enough.
 */
static char *
buf_make_room(struct buf *b, size_t need)
{
	size_t	 total, cap, limit;

	if (b->cap - b->off - b->len >= need)
		return b->data + b->off + b->len;
	total = size_add(b->len, need);
	if (total <= b->cap) {
		buf_compact(b);
		return b->data + b->len;
	}
	buf_compact(b);
	limit = b->max == SIZE_MAX ? SIZE_MAX : b->max + 1;
	cap = b->cap < BUF_MIN_CAP ? BUF_MIN_CAP : b->cap;
	while (cap < total)
		cap = cap > SIZE_MAX / 2 ? SIZE_MAX : cap * 2;
	if (cap > limit)
		cap = limit > total ? limit : total;
	b->data = xreallocarray(b->data, cap, 1);
	b->cap = cap;
	return b->data + b->len;
}

int
buf_append(struct buf *b, const void *data, size_t len)
{
	char	*p;

	if (!buf_fits(b, len))
		return -1;
	if (len == 0)
		return 0;
	p = buf_make_room(b, len);
	memcpy(p, data, len);
	b->len += len;
	return 0;
}

int
buf_puts(struct buf *b, const char *s)
{
	return buf_append(b, s, strlen(s));
}

int
buf_vprintf(struct buf *b, const char *fmt, va_list ap)
{
	va_list	 aq;
	char	*p;
	int	 n;

	va_copy(aq, ap);
	n = vsnprintf(NULL, 0, fmt, aq);
	va_end(aq);
	if (n < 0 || !buf_fits(b, (size_t)n))
		return -1;
	p = buf_make_room(b, size_add((size_t)n, 1));
	vsnprintf(p, (size_t)n + 1, fmt, ap);
	b->len += (size_t)n;
	return 0;
}

int
buf_printf(struct buf *b, const char *fmt, ...)
{
	va_list	 ap;
	int	 r;

	va_start(ap, fmt);
	r = buf_vprintf(b, fmt, ap);
	va_end(ap);
	return r;
}

char *
buf_reserve(struct buf *b, size_t n)
{
	if (!buf_fits(b, n))
		return NULL;
	return buf_make_room(b, n == 0 ? 1 : n);
}

void
buf_commit(struct buf *b, size_t n)
{
	/* Committing more than was reserved is a bug, not a peer's doing. */
	assert(n <= b->cap - b->off - b->len && buf_fits(b, n));
	b->len += n;
}

void
buf_consume(struct buf *b, size_t n)
{
	assert(n <= b->len);
	b->len -= n;
	/* An emptied buffer restarts at the front for free. */
	b->off = b->len == 0 ? 0 : b->off + n;
}

void
buf_reset(struct buf *b)
{
	b->off = b->len = 0;
}

void
buf_truncate(struct buf *b, size_t len)
{
	assert(len <= b->len);
	b->len = len;
	if (len == 0)
		b->off = 0;
}

void
buf_compact(struct buf *b)
{
	if (b->off == 0)
		return;
	if (b->len > 0)
		memmove(b->data, b->data + b->off, b->len);
	b->off = 0;
}

/* A large block shrinks in place (mremap): its tail pages go back to the system. */
void
buf_fit(struct buf *b)
{
	if (b->len == 0) {
		buf_release(b);
		return;
	}
	buf_compact(b);
	b->data = xreallocarray(b->data, b->len, 1);
	b->cap = b->len;
}

char *
buf_strdup(const struct buf *b)
{
	char	*s;

	s = xmalloc(size_add(b->len, 1));
	if (b->len > 0)
		memcpy(s, buf_head(b), b->len);
	s[b->len] = '\0';
	return s;
}
