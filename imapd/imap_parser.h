/*
 * IMAP's streaming command parser (RFC 3501 section 9, RFC 9051, LITERAL+
 * RFC 7888), socket-free.  It is driven by what lib/linebuf hands out:
 * one line at a time (CRLF stripped), and, when a line ends in a literal
 * {n} or {n+}, n bytes of literal data (linebuf_take) before the next
 * line.  A command may span several lines joined by literals; the parser
 * collects its tokens (tag, name, atoms, quoted strings, literals, lists)
 * within hard limits and, once its last line arrives, parses the arguments
 * by the command table (imap_command.h) into struct imap_command.
 *
 * The session's loop:
 *	line:    st = imap_parser_line(p, line, len);
 *	literal: while (imap_parser_wants_literal(p, NULL) && buffered)
 *			st = imap_parser_literal(p, data, n, &used);
 *	and on each status:
 *	MORE      feed on (a line, or literal bytes if wants_literal says so)
 *	CONTINUE  send "+ ..." (a synchronising literal was accepted), feed it
 *	STREAM    the APPEND message follows: imap_parser_command() has the
 *	          arguments before it (mailbox, flags, date, size); check the
 *	          state, open the consumer, call imap_parser_stream() (or reply
 *	          NO and call imap_parser_stream_refuse())
 *	COMMAND   dispatch imap_parser_command() (check the state first)
 *	ERROR     reply imap_parser_error(); if it says close, "* BYE" and close
 *
 * Framing never depends on the grammar: every line's end is checked for a
 * literal (RFC 7888 section 3), so after an error the rest of the command
 * (its non-synchronising literals and continuation lines) is skipped and
 * the session stays in sync.  A literal that cannot be accepted is refused
 * before any of it is read: a synchronising one with a tagged reply (the
 * client then sends nothing), a non-synchronising one over the limit with
 * BAD [TOOBIG] and close (RFC 7888 section 4, choice 2): it cannot be
 * skipped at an affordable cost.
 */
#ifndef IMAPD_IMAP_PARSER_H
#define IMAPD_IMAP_PARSER_H

#include "imapd/imap_command.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum imap_parse {
	IMAP_PARSE_MORE,
	IMAP_PARSE_CONTINUE,
	IMAP_PARSE_STREAM,
	IMAP_PARSE_COMMAND,
	IMAP_PARSE_ERROR,
};

struct imap_parse_error {
	const char	*tag;		/* "*" when the line had no valid tag */
	const char	*status;	/* "BAD", or "NO" for a refused APPEND size */
	const char	*text;		/* with its response code where one applies */
	bool		 close;		/* the input cannot be resynchronised: BYE and close */
};

struct imap_parser;
struct imapd_settings;

/* Limits: max_command_size, max_literal_size, max_nesting, max_arguments (copied). */
struct imap_parser *imap_parser_new(const struct imapd_settings *set);
void		 imap_parser_free(struct imap_parser **p);

/* One line, CRLF stripped (NUL bytes already refused by the line reader). */
enum imap_parse	 imap_parser_line(struct imap_parser *p, const char *line, size_t len);
/* The line reader skipped an over-long line: its end, and so the framing, is lost. */
enum imap_parse	 imap_parser_line_too_long(struct imap_parser *p);

/* Whether literal bytes are expected next, and how many are still due. */
bool		 imap_parser_wants_literal(const struct imap_parser *p, uint64_t *left_r);
/* Literal bytes; *used_r of len taken (at most what is due). */
enum imap_parse	 imap_parser_literal(struct imap_parser *p, const char *data, size_t len,
		    size_t *used_r);

/*
 * After IMAP_PARSE_STREAM: the literal's bytes go to write(ctx, ...) as
 * they are fed, never held.  Returns CONTINUE (synchronising: send "+")
 * or MORE.  An ERROR for the command after this (bad arguments after the
 * literal) means the consumer must drop what it received.
 */
enum imap_parse	 imap_parser_stream(struct imap_parser *p,
		    void (*write)(void *ctx, const char *data, size_t len), void *ctx);

/*
 * After IMAP_PARSE_STREAM, instead: the session refused the APPEND (wrong
 * state, no such mailbox) and has replied.  A synchronising literal is
 * then never sent; a non-synchronising one and the rest of the command are
 * skipped as they arrive.
 */
void		 imap_parser_stream_refuse(struct imap_parser *p);

/* Valid after COMMAND (or STREAM: arguments up to the literal) until the next call. */
const struct imap_command	*imap_parser_command(const struct imap_parser *p);
/* Valid after ERROR until the next call. */
const struct imap_parse_error	*imap_parser_error(const struct imap_parser *p);

#endif
