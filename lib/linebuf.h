/*
 * The one bounded line reader (SMTP, POP3, IMAP, config files).  Reports,
 * never guesses: a bare LF or a NUL is reported to the protocol, an
 * over-long line is skipped through its LF and then reported, so the
 * session stays in sync instead of being dropped.
 *
 * It also reads counted blocks (IMAP literals, BDAT chunks) from the same
 * buffered bytes, so switching between lines and literals loses nothing.
 */
#ifndef LIB_LINEBUF_H
#define LIB_LINEBUF_H

#include <stdbool.h>
#include <stddef.h>

enum line_status {
	LINE_OK,	/* *line_r is one line, CRLF stripped, NUL-terminated */
	LINE_MORE,	/* no complete line buffered yet: feed more */
	LINE_TOO_LONG,	/* an over-long line has now been skipped through its LF */
	LINE_BARE_LF,	/* line ended in LF without CR; *line_r still set (LF stripped) */
	LINE_NUL,	/* line contained a NUL byte; skipped through its LF */
};

struct linebuf;

/* max: the longest line accepted, CRLF included. */
struct linebuf	*linebuf_new(size_t max);
void		 linebuf_free(struct linebuf **lb);

/*
 * Append input.  Returns the number of bytes taken: fewer than len when
 * max bytes are buffered and unread (complete lines, the first max bytes
 * of an over-long line, or literal data).  The caller keeps the rest, calls
 * linebuf_next()/linebuf_take() until LINE_MORE / 0, and feeds it again.
 * While an over-long line is being skipped its bytes are taken and dropped
 * without being stored, so memory stays bounded by max.
 */
size_t		 linebuf_feed(struct linebuf *lb, const void *data, size_t len);
/*
 * linebuf_feed() of data up to and including its first LF (all of it if it
 * has none): a session feeding one line at a time never leaves bytes past
 * the command it runs inside the reader (a pause, STARTTLS or DATA then
 * knows exactly how much was taken).
 */
size_t		 linebuf_feed_line(struct linebuf *lb, const void *data, size_t len);

/* The next line; valid until the next call on lb. */
enum line_status linebuf_next(struct linebuf *lb, char **line_r, size_t *len_r);

/*
 * Counted read: hand out up to `want` buffered bytes (fewer if fewer are
 * buffered) without looking for line ends.  *data_r is valid until the
 * next call on lb.  Returns the number of bytes handed out (0: feed more).
 */
size_t		 linebuf_take(struct linebuf *lb, size_t want, const char **data_r);
/*
 * Typical loop, for lines and counted blocks alike:
 *	while (len > 0) {
 *		used = linebuf_feed(lb, p, len); p += used; len -= used;
 *		while ((st = linebuf_next(lb, &line, &linelen)) != LINE_MORE)
 *			handle(st, line, linelen);	(linebuf_take() in a literal)
 *	}
 */

size_t		 linebuf_pending(const struct linebuf *lb);	/* bytes buffered */
/* Throw away everything buffered (STARTTLS: plaintext sent before the handshake). */
void		 linebuf_discard(struct linebuf *lb);

#endif
