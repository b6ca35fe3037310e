/*
 * The one growable byte buffer.  Every buffer has a hard maximum chosen by
 * its owner; growing past it fails (returns -1) instead of allocating, so
 * no peer can make us allocate without bound.
 *
 * Data lives in [data + off, data + off + len): consuming from the front is
 * O(1) and the space is reclaimed lazily by buf_compact() / appends.
 */
#ifndef LIB_BUF_H
#define LIB_BUF_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>

struct buf {
	char	*data;
	size_t	 off;	/* first unconsumed byte */
	size_t	 len;	/* unconsumed bytes */
	size_t	 cap;	/* allocated bytes */
	size_t	 max;	/* hard limit on len */
};

struct buf	*buf_new(size_t max);
void		 buf_free(struct buf **b);
/* Initialise an embedded buffer (no allocation until first append). */
void		 buf_init(struct buf *b, size_t max);
void		 buf_release(struct buf *b);	/* frees the storage of an embedded buffer */

/* off == 0 case: no arithmetic on the NULL data of an unused buffer (UBSan). */
static inline const char *
buf_head(const struct buf *b) { return b->off == 0 ? b->data : b->data + b->off; }
static inline size_t	 buf_len(const struct buf *b) { return b->len; }
static inline size_t	 buf_room(const struct buf *b) { return b->max - b->len; }

/* Append; -1 (nothing appended) if the result would exceed max. */
int	 buf_append(struct buf *b, const void *data, size_t len);
int	 buf_puts(struct buf *b, const char *s);
int	 buf_printf(struct buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
int	 buf_vprintf(struct buf *b, const char *fmt, va_list ap) __attribute__((format(printf, 2, 0)));

/*
 * Reserve room for at least n more bytes and return where to write them
 * (NULL if max forbids); then buf_commit() the bytes actually written.
 * Lets a reader read(2) straight into the buffer.
 */
char	*buf_reserve(struct buf *b, size_t n);
void	 buf_commit(struct buf *b, size_t n);

void	 buf_consume(struct buf *b, size_t n);	/* drop n bytes from the front */
void	 buf_reset(struct buf *b);		/* empty, keep storage */
/* Keep the first len bytes (len <= buf_len): take back what a failed reply appended. */
void	 buf_truncate(struct buf *b, size_t len);
void	 buf_compact(struct buf *b);		/* move data to the front */
/* Give back the storage past the data: for a buffer filled once and then kept. */
void	 buf_fit(struct buf *b);
/* NUL-terminated copy of the contents (for tests and small strings). */
char	*buf_strdup(const struct buf *b);

#endif
